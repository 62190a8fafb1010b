/*
** A small HTTP/1.x server for one resource (http.h): what `rpcver metrics
** --listen` serves a scraper with.
**
** One request a connection, then the answer, then the connection closes.
** GET (or HEAD) of the resource's path, with any query string, answers 200
** with the body read afresh; another path is 404, another method 405; a
** request outside RFC 9112's grammar 400; a version other than HTTP/1.x
** 505; a head over HEAD_MAX bytes 431; one not complete within READ_MS 408;
** a body that cannot be read 503.
**
** What is read (RFC 9112): empty lines before the request line are
** skipped (2.2); a line ends with LF, with or without CR before it (2.2);
** the request line is METHOD SP TARGET SP HTTP/D.D, single spaces (3);
** the target is origin-form (/path?query), absolute-form
** (http://host/path?query, which a server must accept), authority-form
** with CONNECT or "*" with OPTIONS (both then 405), its characters those
** RFC 3986 allows, a % followed by two hex digits, no userinfo (3.2; RFC
** 9110 4.2.4); each header line is NAME:VALUE, the name a token right
** before the colon, the value without control characters, and a line that
** begins with white space (obsolete line folding) is refused (5); an
** HTTP/1.1 request must have exactly one Host, and no request may have two
** (3.2); Content-Length lines must agree, and not come with
** Transfer-Encoding (6.3); a CR not before an LF is refused at once (2.2);
** an authority is host[:port], the host not empty in a URI and without
** userinfo (RFC 9110 4.2).  Nothing else of the headers matters to a GET
** of one resource.  No answer to HEAD has content (RFC 9110 9.3.2).
**
** No client can hold another up, or cut another's answer short.  Every
** socket is non-blocking and all are polled together: a client that sends
** its head slowly, or never, or reads its answer slowly, or never, only
** holds its own connection, for READ_MS to send the head, and to take the
** answer SEND_IDLE_MS without taking a byte, SEND_MS in all (a deadline is
** checked only after what has come is read and what the socket takes is
** sent: the server's own work counts against no client).  The requests
** for the resource that come in one round are answered from one read of
** it, and their answers share that body: the read is the work of an
** answer.  A body that cannot be read yet (a lock), or while answers under
** way hold MAX_BODY_BYTES of bodies (so memory stays bounded when bodies
** are large: 16 of 8 MB, a fleet of 3,000 methods), is tried again RETRY_MS later, every other
** connection served meanwhile; a request that has waited HTTP_BUSY_MS gets
** 503.  MAX_CONN connections are held at once; when all are taken, a new
** one takes the slot of the one that has waited longest of those that
** lose least: lingering (answered already), then reading (answered 408
** first); when every one is taking an answer or waiting for one, none is
** cut off, and the new one is answered 503.  Out of descriptors, the
** server stops accepting for ACCEPT_PAUSE_MS (the listening socket stays
** readable, and polling it would spin).  After its answer a connection is
** read for up to LINGER_MS before it closes: closing a socket that still
** holds unread bytes resets it, and the client might lose the answer.
*/
#define _DEFAULT_SOURCE          /* accept4(), MSG_NOSIGNAL */
#define _GNU_SOURCE
#include "cli.h"
#include "http.h"
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_CONN          64     /* connections held at once */
#define HEAD_MAX        8192     /* bytes of a request's head */
#define READ_MS         5000     /* to receive the head, whole */
#define SEND_IDLE_MS   10000     /* an answer's client taking nothing */
#define SEND_MS        60000     /* to take the whole answer */
#define LINGER_MS       1000     /* reading what is left, after */
#define ACCEPT_PER_ROUND  16     /* accept()s per wake */

/* ------------------------------------------------------------- parsing */

/* A request, as far as the server needs it: pointers into the head. */
typedef struct Request {
  const char *zMethod, *zPath;   /* the path: origin-form, query included */
  int nMethod, nPath;
  int minor;                     /* HTTP/1.minor */
  int nHost;                     /* Host header lines */
  long long contentLength;       /* -1: no Content-Length */
  int bChunked;                  /* a Transfer-Encoding line */
} Request;

static int is_tchar(int c){
  return (c>='a' && c<='z') || (c>='A' && c<='Z') || (c>='0' && c<='9')
      || (c!=0 && strchr("!#$%&'*+-.^_`|~", c)!=0);
}
static int is_hex(int c){
  return (c>='0' && c<='9') || (c>='a' && c<='f') || (c>='A' && c<='F');
}
static int is_digit(int c){ return c>='0' && c<='9'; }

/* Whether the n bytes at z are URI characters (RFC 3986: unreserved,
** sub-delims, ':' and '@', a % and two hex digits) and those of zMore. */
static int uri_chars(const char *z, int n, const char *zMore){
  int i;
  for(i=0; i<n; i++){
    int c = (unsigned char)z[i];
    if( c=='%' ){
      if( i+2>=n || !is_hex(z[i+1]) || !is_hex(z[i+2]) ) return 0;
      i += 2;
    }else if( !((c>='a' && c<='z') || (c>='A' && c<='Z') || is_digit(c)
                || strchr("-._~!$&'()*+,;=:@", c)!=0
                || strchr(zMore, c)!=0) || c==0 ){
      return 0;
    }
  }
  return 1;
}

/* Whether the n bytes at z are an authority without userinfo (RFC 9110
** 4.2.4 says to treat that as an error): host [":" port] (RFC 3986
** 3.2.2-3.2.3), the host an IP literal in brackets or a name (URI
** characters but ':' and '@'), the port digits; empty only when bEmpty
** (a Host may be; an http URI's host may not, RFC 9110 4.2.1). */
static int valid_authority(const char *z, int n, int bEmpty){
  int i = 0;
  if( n==0 ) return bEmpty;
  if( z[0]=='[' ){
    for(i=1; i<n && z[i]!=']'; i++){
      if( !is_hex(z[i]) && z[i]!=':' && z[i]!='.' && z[i]!='v' ) return 0;
    }
    if( i>=n || i==1 ) return 0;
    i++;
  }else{
    while( i<n && z[i]!=':' ) i++;
    if( i==0 || !uri_chars(z, i, "") || memchr(z, '@', (size_t)i) ) return 0;
  }
  if( i<n && z[i++]!=':' ) return 0;
  for(; i<n; i++){
    if( !is_digit(z[i]) ) return 0;
  }
  return 1;
}

/* Whether the n bytes at z are the string zLit (bIgnoreCase: ASCII). */
static int is_literal(const char *z, int n, const char *zLit, int bNoCase){
  size_t nLit = strlen(zLit);
  if( (size_t)n!=nLit ) return 0;
  return bNoCase ? sqlite3_strnicmp(z, zLit, n)==0 : memcmp(z, zLit, nLit)==0;
}

/* The length of the line at z (n bytes left), without its LF or CRLF, and
** in *pNext the offset of the next line. */
static int line_length(const char *z, int n, int *pNext){
  int i;
  for(i=0; i<n && z[i]!='\n'; i++){}
  *pNext = i<n ? i+1 : n;
  return i>0 && z[i-1]=='\r' ? i-1 : i;
}

/* The target (n bytes at z) into pReq->zPath: 0, or 400. */
static int parse_target(const char *z, int n, Request *pReq){
  const int bConnect = is_literal(pReq->zMethod, pReq->nMethod, "CONNECT", 0);
  if( n==1 && z[0]=='*' ){                          /* asterisk-form */
    if( !is_literal(pReq->zMethod, pReq->nMethod, "OPTIONS", 0) ) return 400;
    pReq->zPath = z;
    pReq->nPath = 1;
    return 0;
  }
  if( bConnect ){                                   /* authority-form */
    if( !valid_authority(z, n, 0) ) return 400;
    pReq->zPath = z;
    pReq->nPath = n;
    return 0;
  }
  if( n>0 && z[0]!='/' ){                           /* absolute-form */
    int i = 0, a;
    while( i<n && (is_tchar(z[i]) && z[i]!=':') ) i++;
    if( !(is_literal(z, i, "http", 1) || is_literal(z, i, "https", 1))
     || n-i<3 || memcmp(&z[i], "://", 3)!=0 ){
      return 400;
    }
    a = i += 3;
    while( i<n && z[i]!='/' && z[i]!='?' ) i++;
    if( !valid_authority(&z[a], i-a, 0) ) return 400;
    z += i;
    n -= i;
    if( n==0 ){ z = "/"; n = 1; }                   /* an empty path is / */
    /* (an empty path before a query: not the resource, so 404) */
    if( z[0]=='?' && !uri_chars(z, n, "/?") ) return 400;
    if( z[0]=='?' ){ pReq->zPath = z; pReq->nPath = n; return 0; }
  }
  if( n==0 || z[0]!='/' || !uri_chars(z, n, "/?") ) return 400;
  pReq->zPath = z;
  pReq->nPath = n;
  return 0;
}

/* The request line (n bytes at z, without its end): 0, 400 or 505. */
static int parse_request_line(const char *z, int n, Request *pReq){
  int i = 0, iTarget, rc;
  while( i<n && is_tchar((unsigned char)z[i]) ) i++;
  pReq->zMethod = z;
  pReq->nMethod = i;
  if( i==0 || i>=n || z[i]!=' ' ) return 400;
  iTarget = ++i;
  while( i<n && z[i]!=' ' ) i++;
  if( i>=n ) return 400;
  rc = parse_target(&z[iTarget], i - iTarget, pReq);
  if( rc ) return rc;
  z += i+1;
  n -= i+1;
  /* HTTP-version = "HTTP/" DIGIT "." DIGIT, and nothing after it */
  if( n!=8 || memcmp(z, "HTTP/", 5)!=0 || !is_digit(z[5]) || z[6]!='.'
   || !is_digit(z[7]) ){
    return 400;
  }
  if( z[5]!='1' ) return 505;
  pReq->minor = z[7] - '0';
  return 0;
}

/* One header line (n bytes at z, without its end): 0 or 400. */
static int parse_field(const char *z, int n, Request *pReq){
  int i = 0, j;
  if( z[0]==' ' || z[0]=='\t' ) return 400;         /* obsolete folding */
  while( i<n && is_tchar((unsigned char)z[i]) ) i++;
  if( i==0 || i>=n || z[i]!=':' ) return 400;
  for(j=i+1; j<n; j++){
    int c = (unsigned char)z[j];
    if( c!='\t' && (c<0x20 || c==0x7f) ) return 400;
  }
  {
    int a = i+1, b = n;                 /* the value, without white space */
    while( a<b && (z[a]==' ' || z[a]=='\t') ) a++;
    while( b>a && (z[b-1]==' ' || z[b-1]=='\t') ) b--;
    if( is_literal(z, i, "host", 1) ){
      if( !valid_authority(&z[a], b-a, 1) ) return 400;
      pReq->nHost++;
    }else if( is_literal(z, i, "content-length", 1) ){
      /* digits, and the same in every such line (RFC 9112 6.3) */
      long long v = 0;
      if( a==b || b-a>15 ) return 400;
      for(j=a; j<b; j++){
        if( !is_digit(z[j]) ) return 400;
        v = v*10 + (z[j] - '0');
      }
      if( pReq->contentLength>=0 && pReq->contentLength!=v ) return 400;
      pReq->contentLength = v;
    }else if( is_literal(z, i, "transfer-encoding", 1) ){
      pReq->bChunked = 1;
    }
  }
  return 0;
}

/* Where the head in the n bytes at z begins, past empty lines. */
static int head_start(const char *z, int n){
  int i = 0;
  for(;;){
    if( i<n && z[i]=='\n' ) i++;
    else if( i+1<n && z[i]=='\r' && z[i+1]=='\n' ) i += 2;
    else return i;
  }
}

/* Whether the n bytes at z hold a whole head: an empty line ends it.  By
** length, not as a string: a NUL in garbage does not hide the end. */
static int head_complete(const char *z, int n){
  int i = head_start(z, n);
  for(i=i+1; i<n; i++){
    if( z[i]=='\n' && (z[i-1]=='\n' || (z[i-1]=='\r' && i>=2
                                        && z[i-2]=='\n')) ){
      return 1;
    }
  }
  return 0;
}

/* Whether the n bytes at z, a head not yet complete, hold a CR that is
** not before an LF: no line may (RFC 9112 2.2), so the head is refused at
** once rather than waited for. */
static int bare_cr(const char *z, int n){
  int i;
  for(i=0; i+1<n; i++){
    if( z[i]=='\r' && z[i+1]!='\n' ) return 1;
  }
  return 0;
}

/* The whole head (n bytes at z, complete): 0, 400 or 505. */
static int parse_request(const char *z, int n, Request *pReq){
  int i = head_start(z, n), next, len, rc;
  memset(pReq, 0, sizeof(*pReq));
  pReq->contentLength = -1;
  len = line_length(&z[i], n-i, &next);
  rc = parse_request_line(&z[i], len, pReq);
  if( rc ) return rc;
  for(i+=next; i<n; i+=next){
    len = line_length(&z[i], n-i, &next);
    if( len==0 ) break;                             /* the end of the head */
    if( (rc = parse_field(&z[i], len, pReq))!=0 ) return rc;
  }
  if( pReq->nHost>1 || (pReq->minor>=1 && pReq->nHost!=1) ) return 400;
  /* both framings at once: a request smuggled past a proxy, maybe (RFC
  ** 9112 6.3 lets a server refuse it) */
  if( pReq->bChunked && pReq->contentLength>=0 ) return 400;
  return 0;
}

/* ---------------------------------------------------------- connections */

/* A connection's states.  CONN_WAITING: its request is for the resource,
** which is read once for every such request of a round (serve_waiting()). */
enum { CONN_FREE, CONN_READING, CONN_WAITING, CONN_SENDING, CONN_LINGERING };

/* An answer's body, shared by the answers of one round: counted, so that a
** round's many answers hold one copy. */
typedef struct Body {
  int nRef;
  int bResource;            /* the resource's (counted in nBodyBytes) */
  size_t n;
  char z[];
} Body;

typedef struct Conn {
  int fd;
  int state;                /* CONN_* */
  int bHead;                /* CONN_WAITING: a HEAD request */
  int n;                    /* bytes of the head read; reads while lingering */
  long long since;          /* when it entered its state */
  long long deadline;       /* ms: READ_MS, SEND_IDLE_MS or LINGER_MS on */
  char *zHead;              /* the answer's status line and headers */
  size_t nHead;
  Body *pBody;              /* and its body, when it has one */
  size_t off;               /* bytes of the two sent */
  char zBuf[HEAD_MAX + 1];
} Conn;

typedef struct Server {
  const HttpResource *pRes;
  Conn *aConn;
  int nWaiting;             /* connections in CONN_WAITING */
  size_t nBodyBytes;        /* bytes of the resource's bodies held */
  long long retryAt;        /* the body was busy: read it again then (ms) */
} Server;

#define RETRY_MS    50      /* a busy body is read again after */
#define MAX_BODY_BYTES (128u << 20)  /* the resource's bodies held at once */

static long long now_ms(void){
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A body of n bytes from z, with one reference (the caller's), or 0. */
static Body *body_new(Server *S, const char *z, size_t n, int bResource){
  Body *b = malloc(sizeof(Body) + n);
  if( b==0 ) return 0;
  b->nRef = 1;
  b->bResource = bResource;
  b->n = n;
  memcpy(b->z, z, n);
  if( bResource ) S->nBodyBytes += n;
  return b;
}

static void body_unref(Server *S, Body *b){
  if( b && --b->nRef==0 ){
    if( b->bResource ) S->nBodyBytes -= b->n;
    free(b);
  }
}

static void conn_enter(Server *S, Conn *c, int state, int ms){
  S->nWaiting += (state==CONN_WAITING) - (c->state==CONN_WAITING);
  c->state = state;
  c->since = now_ms();
  c->deadline = c->since + ms;
}

static void conn_drop_answer(Server *S, Conn *c){
  free(c->zHead);
  c->zHead = 0;
  body_unref(S, c->pBody);
  c->pBody = 0;
}

static void conn_close(Server *S, Conn *c){
  close(c->fd);
  conn_drop_answer(S, c);
  c->fd = -1;
  conn_enter(S, c, CONN_FREE, 0);
}

/* Done sending: read what is left for a while, then close. */
static void conn_linger(Server *S, Conn *c){
  conn_drop_answer(S, c);
  shutdown(c->fd, SHUT_WR);
  c->n = 0;
  conn_enter(S, c, CONN_LINGERING, LINGER_MS);
}

/* Send what the socket takes now; on to lingering when all is sent. */
static void conn_send(Server *S, Conn *c){
  size_t nBody = c->pBody ? c->pBody->n : 0;
  while( c->off<c->nHead + nBody ){
    const char *z;
    size_t n;
    ssize_t k;
    if( c->off<c->nHead ){
      z = c->zHead + c->off;
      n = c->nHead - c->off;
    }else{
      z = c->pBody->z + (c->off - c->nHead);
      n = nBody - (c->off - c->nHead);
    }
    k = send(c->fd, z, n, MSG_NOSIGNAL);
    if( k<0 && errno==EINTR ) continue;
    if( k<0 && (errno==EAGAIN || errno==EWOULDBLOCK) ) return;
    if( k<=0 ){ conn_close(S, c); return; }       /* the client went away */
    c->off += (size_t)k;
    c->deadline = now_ms() + SEND_IDLE_MS;
    if( c->deadline>c->since + SEND_MS ) c->deadline = c->since + SEND_MS;
  }
  conn_linger(S, c);
}

/* The connection in state that has waited longest, or -1. */
static int conn_oldest(Server *S, int state){
  int i, iOld = -1;
  for(i=0; i<MAX_CONN; i++){
    Conn *c = &S->aConn[i];
    if( c->state==state && (iOld<0 || c->since<S->aConn[iOld].since) ){
      iOld = i;
    }
  }
  return iOld;
}

/* Start c's answer: the status line and headers, zExtra more header lines
** (each ending CRLF), and pBody (its length in Content-Length; sent when
** withBody, and then held by c).  What the socket does not take at once is
** sent as the client reads. */
static void conn_answer(Server *S, Conn *c, int status, const char *zReason,
                        const char *zType, const char *zExtra, Body *pBody,
                        int withBody){
  char zHead[512];
  snprintf(zHead, sizeof(zHead), "HTTP/1.1 %d %s\r\nContent-Type: %s\r\n"
           "Content-Length: %zu\r\n%sConnection: close\r\n\r\n", status,
           zReason, zType, pBody ? pBody->n : 0, zExtra);
  c->nHead = strlen(zHead);
  c->zHead = malloc(c->nHead);
  if( c->zHead==0 ){ conn_close(S, c); return; }
  memcpy(c->zHead, zHead, c->nHead);
  if( withBody && pBody ){
    c->pBody = pBody;
    pBody->nRef++;
  }
  c->off = 0;
  conn_enter(S, c, CONN_SENDING, SEND_IDLE_MS);
  conn_send(S, c);
}

/* conn_answer() with a body of text. */
static void conn_answer_text(Server *S, Conn *c, int status,
                             const char *zReason, const char *zExtra,
                             const char *zText, int withBody){
  Body *b = body_new(S, zText, strlen(zText), 0);
  if( b==0 ){ conn_close(S, c); return; }
  conn_answer(S, c, status, zReason, "text/plain; charset=utf-8", zExtra, b,
              withBody);
  body_unref(S, b);
}

/* Answer c's request: n is its head's length in c->zBuf, or -408 (not
** complete in time) or -431 (too long).  A GET or HEAD of the resource
** waits for serve_waiting(). */
static void conn_request(Server *S, Conn *c, int n){
  const HttpResource *pRes = S->pRes;
  Request req;
  int rc, head;
  size_t nPath = strlen(pRes->zPath);
  if( n==-408 ){
    conn_answer_text(S, c, 408, "Request Timeout", "", "no complete "
                     "request within 5 s\n", 1);
    return;
  }
  if( n==-431 ){
    conn_answer_text(S, c, 431, "Request Header Fields Too Large", "",
                     "the request's head is over 8192 bytes\n", 1);
    return;
  }
  rc = parse_request(c->zBuf, n, &req);
  /* no content in an answer to HEAD (RFC 9110 9.3.2), whatever it is */
  head = is_literal(req.zMethod, req.nMethod, "HEAD", 0);
  if( rc==505 ){
    conn_answer_text(S, c, 505, "HTTP Version Not Supported", "",
                     "only HTTP/1.0 and HTTP/1.1\n", !head);
    return;
  }
  if( rc ){
    conn_answer_text(S, c, 400, "Bad Request", "",
                     "not an HTTP/1.x request (RFC 9112)\n", !head);
    return;
  }
  if( !head && !is_literal(req.zMethod, req.nMethod, "GET", 0) ){
    conn_answer_text(S, c, 405, "Method Not Allowed", "Allow: GET, HEAD\r\n",
                     "only GET and HEAD\n", 1);
    return;
  }
  if( (size_t)req.nPath<nPath || memcmp(req.zPath, pRes->zPath, nPath)!=0
   || ((size_t)req.nPath>nPath && req.zPath[nPath]!='?') ){
    char zWhere[200];
    snprintf(zWhere, sizeof(zWhere), "the resource is at %s\n", pRes->zPath);
    conn_answer_text(S, c, 404, "Not Found", "", zWhere, !head);
    return;
  }
  c->bHead = head;
  conn_enter(S, c, CONN_WAITING, 0);
}

/* Answer every request waiting for the resource from one read of it: the
** read is the work of an answer, and requests that come together need not
** each wait for the others' reads; their answers share the body.  A body
** that cannot be read yet (HTTP_BUSY: the database is locked), or while
** answers under way hold MAX_BODY_BYTES (memory stays bounded when bodies
** are large), is tried again RETRY_MS later, every other connection
** served meanwhile; a request that has waited HTTP_BUSY_MS gets 503. */
static void serve_waiting(Server *S){
  const HttpResource *pRes = S->pRes;
  char *zBody = 0;
  Body *b = 0;
  long long now = now_ms();
  int i, rc = HTTP_BUSY, bLast = 0;
  const char *zWhy = pRes->zUnavailable;
  if( S->nWaiting==0 || now<S->retryAt ) return;
  for(i=0; i<MAX_CONN; i++){
    Conn *c = &S->aConn[i];
    if( c->state==CONN_WAITING && now - c->since>=HTTP_BUSY_MS ) bLast = 1;
  }
  if( S->nBodyBytes<MAX_BODY_BYTES ){
    rc = pRes->xBody(pRes->pArg, &zBody, bLast);
  }else{
    zWhy = "too many answers under way: try again\n";
  }
  if( rc==0 ){
    b = body_new(S, zBody, strlen(zBody), 1);
    if( b==0 ) rc = 1;
  }
  sqlite3_free(zBody);
  S->retryAt = rc==HTTP_BUSY ? now + RETRY_MS : 0;
  for(i=0; i<MAX_CONN; i++){
    Conn *c = &S->aConn[i];
    if( c->state!=CONN_WAITING ) continue;
    if( rc==HTTP_BUSY && now - c->since<HTTP_BUSY_MS ) continue;
    if( rc==0 ){
      conn_answer(S, c, 200, "OK", pRes->zType, "", b, !c->bHead);
    }else{
      conn_answer_text(S, c, 503, "Service Unavailable", "", zWhy,
                       !c->bHead);
    }
  }
  body_unref(S, b);
}

/* Read what c has to give. */
static void conn_read(Server *S, Conn *c){
  if( c->state==CONN_LINGERING ){
    char aBuf[4096];
    ssize_t k = recv(c->fd, aBuf, sizeof(aBuf), 0);
    if( k<0 && (errno==EAGAIN || errno==EWOULDBLOCK || errno==EINTR) ) return;
    if( k<=0 || ++c->n>=16 ) conn_close(S, c);
  }else if( c->state==CONN_READING ){
    ssize_t k = recv(c->fd, c->zBuf + c->n, (size_t)(HEAD_MAX - c->n), 0);
    if( k<0 && (errno==EAGAIN || errno==EWOULDBLOCK || errno==EINTR) ) return;
    if( k<=0 ){ conn_close(S, c); return; }       /* the client went away */
    c->n += (int)k;
    c->zBuf[c->n] = 0;
    if( head_complete(c->zBuf, c->n) || bare_cr(c->zBuf, c->n) ){
      conn_request(S, c, c->n);               /* (a bare CR: 400) */
    }else if( c->n>=HEAD_MAX ){
      conn_request(S, c, -431);
    }
  }
}

/* A new connection: into a free slot, or the slot of the connection that
** has waited longest of those that lose least: one answered already
** (lingering), then one still sending its request (answered 408 first, as
** far as its socket takes it).  When every connection is taking an answer
** or waiting for one, none of them is cut off: the new one is answered 503
** and closed. */
static void conn_accept(Server *S, int fd){
  static const char z503[] = "HTTP/1.1 503 Service Unavailable\r\n"
      "Content-Length: 0\r\nConnection: close\r\n\r\n";
  static const char z408[] = "HTTP/1.1 408 Request Timeout\r\n"
      "Content-Length: 0\r\nConnection: close\r\n\r\n";
  int i = conn_oldest(S, CONN_FREE);
  Conn *c;
  if( i<0 ) i = conn_oldest(S, CONN_LINGERING);
  if( i<0 ) i = conn_oldest(S, CONN_READING);
  if( i<0 ){
    if( send(fd, z503, sizeof(z503)-1, MSG_NOSIGNAL)<0 ){ /* gone */ }
    close(fd);
    return;
  }
  c = &S->aConn[i];
  if( c->state==CONN_READING ){
    if( send(c->fd, z408, sizeof(z408)-1, MSG_NOSIGNAL)<0 ){ /* gone */ }
  }
  if( c->state!=CONN_FREE ) conn_close(S, c);
  c->fd = fd;
  c->n = 0;
  c->zBuf[0] = 0;
  conn_enter(S, c, CONN_READING, READ_MS);
}

/* Accept what waits on lfd.  0, or 1 when the process has no descriptor
** (or memory) left for one: then the caller stops polling lfd a while,
** which otherwise stays readable and would spin the loop.  -1 on an error
** of the listening socket itself. */
static int accept_waiting(Server *S, int lfd){
  int k;
  for(k=0; k<ACCEPT_PER_ROUND; k++){
    int fd = accept4(lfd, 0, 0, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if( fd>=0 ){ conn_accept(S, fd); continue; }
    switch( errno ){
      case EAGAIN:
#if EWOULDBLOCK!=EAGAIN
      case EWOULDBLOCK:
#endif
        return 0;
      case EMFILE: case ENFILE: case ENOBUFS: case ENOMEM:
        return 1;
      /* the connection's own errors, passed on by accept(2): try the next */
      case EINTR: case ECONNABORTED: case ENETDOWN: case EPROTO:
      case ENOPROTOOPT: case EHOSTDOWN: case ENONET: case EHOSTUNREACH:
      case EOPNOTSUPP: case ENETUNREACH:
        continue;
    }
    cli_printf(stderr, "rpcver: accept: %s\n", strerror(errno));
    return -1;
  }
  return 0;
}

#define ACCEPT_PAUSE_MS  100     /* out of descriptors: accept again after */

void http_serve(int lfd, const HttpResource *pRes){
  Server S;
  long long acceptAfter = 0;
  int i;
  memset(&S, 0, sizeof(S));
  S.pRes = pRes;
  /* accept() only when poll() says a connection waits, and never blocks
  ** on one the client reset in between */
  fcntl(lfd, F_SETFL, fcntl(lfd, F_GETFL) | O_NONBLOCK);
  S.aConn = calloc(MAX_CONN, sizeof(Conn));
  if( S.aConn==0 ){
    fputs("rpcver: out of memory\n", stderr);
    return;
  }
  for(i=0; i<MAX_CONN; i++) S.aConn[i].fd = -1;
  for(;;){
    struct pollfd aPfd[MAX_CONN + 1];
    int aIdx[MAX_CONN + 1], nPfd = 0, wait = -1;
    long long now = now_ms();
    /* deadlines passed: a head not sent in time is answered 408, an
    ** answer not taken in time or a lingering close ends; but first what
    ** has come is read and what the socket takes is sent (the server's own
    ** work in a busy round counts against no client) */
    for(i=0; i<MAX_CONN; i++){
      Conn *c = &S.aConn[i];
      if( c->state==CONN_FREE || c->state==CONN_WAITING || c->deadline>now ){
        continue;
      }
      if( c->state==CONN_READING ){
        conn_read(&S, c);
        if( c->state==CONN_READING ) conn_request(&S, c, -408);
      }else if( c->state==CONN_SENDING ){
        conn_send(&S, c);
        if( c->state==CONN_SENDING && c->deadline<=now ) conn_close(&S, c);
      }else{
        conn_close(&S, c);
      }
    }
    serve_waiting(&S);
    now = now_ms();
    for(i=0; i<MAX_CONN; i++){
      Conn *c = &S.aConn[i];
      int left;
      /* (a request waiting for a busy body is not polled: nothing it
      ** sends matters now, and a hang-up shows when it is answered) */
      if( c->state==CONN_FREE || c->state==CONN_WAITING ) continue;
      aPfd[nPfd].fd = c->fd;
      aPfd[nPfd].events = c->state==CONN_SENDING ? POLLOUT : POLLIN;
      aIdx[nPfd++] = i;
      left = c->deadline>now ? (int)(c->deadline - now) : 0;
      if( wait<0 || left<wait ) wait = left;
    }
    if( S.nWaiting>0 ){
      int left = S.retryAt>now ? (int)(S.retryAt - now) : 0;
      if( wait<0 || left<wait ) wait = left;
    }
    if( acceptAfter<=now ){
      aPfd[nPfd].fd = lfd;
      aPfd[nPfd].events = POLLIN;
      aIdx[nPfd++] = -1;
    }else if( wait<0 || acceptAfter - now<wait ){
      wait = (int)(acceptAfter - now);
    }
    if( poll(aPfd, (nfds_t)nPfd, wait)<0 ){
      if( errno==EINTR ) continue;
      cli_printf(stderr, "rpcver: poll: %s\n", strerror(errno));
      break;
    }
    for(i=0; i<nPfd; i++){
      Conn *c;
      if( aPfd[i].revents==0 ) continue;
      if( aIdx[i]<0 ){
        int rc = accept_waiting(&S, lfd);
        if( rc<0 ) goto done;
        if( rc>0 ) acceptAfter = now_ms() + ACCEPT_PAUSE_MS;
        continue;
      }
      c = &S.aConn[aIdx[i]];
      if( c->state==CONN_SENDING ) conn_send(&S, c);
      else conn_read(&S, c);
    }
    serve_waiting(&S);
  }
done:
  for(i=0; i<MAX_CONN; i++){
    if( S.aConn[i].state!=CONN_FREE ) conn_close(&S, &S.aConn[i]);
  }
  free(S.aConn);
}
