/*
** dqlite wire protocol client (dqlite_client.h; the protocol is described
** in cluster/PROTOCOL.md).
**
** Every message is an 8-byte header (body size in 8-byte words, type,
** schema version, two unused bytes) and a body of little-endian fields,
** each padded to 8 bytes.  Requests are built in a growing buffer, sent
** whole, and each response is read whole before it is decoded with a
** bounds-checked cursor, so a short or hostile response is an error, never
** an overread.
**
** The socket is non-blocking: every wait is a poll() for what is left of
** the call's deadline (and on the cancel descriptor), so no peer can hold
** a call past it, however slowly it sends.  A response's declared size is
** checked against the byte cap before anything is allocated for it.
**
** With TLS (DqLimits.tls) the same holds: the handshake is part of
** connecting, and it and every read and write are OpenSSL calls on the
** non-blocking socket, retried after a poll() for what OpenSSL waits for,
** within the same deadline: a node that trickles or stalls its handshake
** is dropped when the deadline passes.  OpenSSL writes to the socket
** without MSG_NOSIGNAL, so SIGPIPE is blocked in the calling thread for the
** duration of each OpenSSL call (and one it raised is taken back), as
** libpq does: a node that goes away cannot kill the program.
*/
#define _DEFAULT_SOURCE
#define _POSIX_C_SOURCE 200809L
#include "dqlite_client.h"
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define DQ_PROTOCOL_VERSION 1

/* Request types. */
#define REQ_LEADER     0
#define REQ_OPEN       3
#define REQ_EXEC_SQL   8
#define REQ_QUERY_SQL  9
#define REQ_ADD       12
#define REQ_ASSIGN    13
#define REQ_CLUSTER   16
#define REQ_TRANSFER  17

/* Response types. */
#define RES_FAILURE  0
#define RES_SERVER   1
#define RES_SERVERS  3
#define RES_DB       4
#define RES_RESULT   6
#define RES_ROWS     7
#define RES_EMPTY    8

/* Value types in tuples: SQLite's, and dqlite's own. */
#define T_INTEGER   1
#define T_FLOAT     2
#define T_TEXT      3
#define T_BLOB      4
#define T_NULL      5
#define T_UNIXTIME  9
#define T_ISO8601  10
#define T_BOOLEAN  11

#define ROWS_PART 0xeeeeeeeeeeeeeeeeULL
#define ROWS_DONE 0xffffffffffffffffULL

#define DQ_TRY_MS 2000           /* one try of the search for the leader */

struct DqClient {
  int fd;                     /* -1 once closed after an I/O error */
  SSL *ssl;                   /* the TLS session on fd, or NULL */
  char *zAddress;
  int errcode;
  char *zErr;
  uint32_t dbId;
  DqLimits lim;
  long long callStart;        /* dq_clock_ms() when the call began */
  long long callEnd;          /* ... and its deadline */
  long long nCallBytes;       /* bytes of responses read in this call */
  unsigned char *aOut; size_t nOut, nOutAlloc;   /* request being built */
  unsigned char *aIn;  size_t nIn, nInAlloc;     /* last response body */
  int inType;
  long long nResponse;        /* responses read on this connection */
};

typedef struct Cursor { const unsigned char *p; size_t n; } Cursor;

/* ------------------------------------------------------------- errors */

/* Record the failure.  After an I/O error the connection is closed: the
** stream may stop in the middle of a response, so nothing more can be read
** from it in step, and the peer learns at once that we are gone. */
static int set_error(DqClient *p, int rc, int code, const char *zFmt, ...){
  va_list ap;
  char buf[512];
  va_start(ap, zFmt);
  vsnprintf(buf, sizeof(buf), zFmt, ap);
  va_end(ap);
  free(p->zErr);
  p->zErr = strdup(buf);
  p->errcode = code;
  if( rc==DQ_IOERR && p->fd>=0 ){
    SSL_free(p->ssl);
    p->ssl = 0;
    close(p->fd);
    p->fd = -1;
  }
  return rc;
}

static int io_error(DqClient *p, const char *zWhat){
  const char *zWhy = errno==EAGAIN || errno==EWOULDBLOCK ? "timed out"
                   : errno ? strerror(errno) : "connection closed";
  return set_error(p, DQ_IOERR, 0, "%s %s: %s", zWhat, p->zAddress, zWhy);
}

long long dq_clock_ms(void){
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec*1000 + ts.tv_nsec/1000000;
}

void dq_limits_init(DqLimits *l){
  memset(l, 0, sizeof(*l));
  l->timeoutMs = DQ_DEFAULT_TIMEOUT_MS;
  l->deadlineMs = 0;
  l->maxRows = DQ_DEFAULT_MAX_ROWS;
  l->maxBytes = DQ_DEFAULT_MAX_BYTES;
  l->cancelFd = -1;
}

void dq_set_limits(DqClient *p, const DqLimits *pLimits){
  if( p ) p->lim = *pLimits;
}

/* A call begins: its deadline is timeoutMs from now, or the limits' own
** deadline when that comes sooner. */
static void start_clock(DqClient *p){
  p->callStart = dq_clock_ms();
  p->callEnd = p->callStart + (p->lim.timeoutMs>0 ? p->lim.timeoutMs : 0);
  if( p->lim.deadlineMs>0 && p->lim.deadlineMs<p->callEnd ){
    p->callEnd = p->lim.deadlineMs;
  }
  p->nCallBytes = 0;
}

/* A request begins.  A connection closed after an error fails every later
** call at once, keeping the message of the first. */
static int begin_call(DqClient *p){
  start_clock(p);
  if( p->fd<0 ){
    if( p->zErr==0 ){
      return set_error(p, DQ_IOERR, 0, "not connected to %s", p->zAddress);
    }
    return DQ_IOERR;
  }
  return DQ_OK;
}

/* Is the cancel descriptor readable? */
static int cancelled(int fd){
  struct pollfd a;
  if( fd<0 ) return 0;
  a.fd = fd;
  a.events = POLLIN;
  a.revents = 0;
  return poll(&a, 1, 0)>0 && (a.revents & (POLLIN|POLLHUP|POLLERR));
}

/* Wait until the socket is ready for `events`, the call's deadline has
** passed (an error naming zWhat, the peer and the deadline) or the cancel
** descriptor is readable.  What is ready at the deadline still counts. */
static int wait_ready(DqClient *p, short events, const char *zWhat){
  for(;;){
    struct pollfd a[2];
    long long left = p->callEnd - dq_clock_ms();
    int n = 1, rc;
    if( left<0 ) left = 0;
    a[0].fd = p->fd;
    a[0].events = events;
    a[0].revents = 0;
    if( p->lim.cancelFd>=0 ){
      a[1].fd = p->lim.cancelFd;
      a[1].events = POLLIN;
      a[1].revents = 0;
      n = 2;
    }
    rc = poll(a, (nfds_t)n, left>INT_MAX ? INT_MAX : (int)left);
    if( rc<0 && errno==EINTR ) continue;
    if( rc<0 ) return set_error(p, DQ_IOERR, 0, "%s %s: %s", zWhat,
                                p->zAddress, strerror(errno));
    if( n==2 && a[1].revents ){
      return set_error(p, DQ_IOERR, 0, "stopped while waiting for %s",
                       p->zAddress);
    }
    if( rc>0 && a[0].revents ) return DQ_OK;
    if( left==0 ){
      long long budget = p->callEnd - p->callStart;
      return set_error(p, DQ_IOERR, 0, "%s %s within the deadline (%lld ms)",
                       zWhat, p->zAddress, budget>0 ? budget : 0);
    }
  }
}

/* ------------------------------------------------------------- TLS */

/* SIGPIPE blocked in this thread around one OpenSSL call, and one that the
** call raised taken back before it is unblocked (libpq's way): OpenSSL
** writes with write(), not send(MSG_NOSIGNAL). */
typedef struct PipeGuard { sigset_t old; int wasPending; int ok; } PipeGuard;

static void pipe_block(PipeGuard *g){
  sigset_t set, pending;
  sigemptyset(&set);
  sigaddset(&set, SIGPIPE);
  g->ok = pthread_sigmask(SIG_BLOCK, &set, &g->old)==0;
  g->wasPending = g->ok && sigpending(&pending)==0
                  && sigismember(&pending, SIGPIPE)==1;
}

static void pipe_restore(PipeGuard *g){
  int e = errno;
  sigset_t set, pending;
  if( !g->ok ) return;
  sigemptyset(&set);
  sigaddset(&set, SIGPIPE);
  if( !g->wasPending && sigpending(&pending)==0
   && sigismember(&pending, SIGPIPE)==1 ){
    struct timespec zero = { 0, 0 };
    while( sigtimedwait(&set, 0, &zero)<0 && errno==EINTR ){}
  }
  pthread_sigmask(SIG_SETMASK, &g->old, 0);
  errno = e;
}

/* Why OpenSSL's last call on ssl failed (e: its SSL_get_error()), in
** words, into z.  Takes the thread's OpenSSL error queue. */
static void tls_reason(SSL *ssl, int e, int handshake, char *z, size_t n){
  unsigned long err = ERR_get_error();
  const char *zReason = err ? ERR_reason_error_string(err) : 0;
  long v = ssl ? SSL_get_verify_result(ssl) : X509_V_OK;
  ERR_clear_error();
  if( e==SSL_ERROR_ZERO_RETURN ){
    snprintf(z, n, "the node ended the TLS session");
  }else if( e==SSL_ERROR_SYSCALL && err==0 ){
    snprintf(z, n, "%s%s", errno ? strerror(errno) : "connection closed",
             handshake && errno==0 ? " during the TLS handshake (a node that "
             "is not running with TLS does that)" : "");
  }else if( v!=X509_V_OK ){
    snprintf(z, n, "the node's certificate is refused: %s",
             X509_verify_cert_error_string(v));
  }else if( zReason && strstr(zReason, "alert") ){
    /* the node said no; in TLS 1.3 it judges our certificate after the
    ** handshake has ended on our side, so this may come with the first
    ** answer */
    snprintf(z, n, "the node refused the TLS session (%s)%s", zReason,
             strstr(zReason, "certificate") || strstr(zReason, "unknown ca")
             ? ": it does not accept this client's certificate" : "");
  }else if( zReason && strcmp(zReason, "unexpected eof while reading")==0 ){
    snprintf(z, n, "connection closed%s", handshake ? " during the TLS "
             "handshake (a node that is not running with TLS does that)"
             : " without a TLS close");
  }else if( zReason && strcmp(zReason, "wrong version number")==0 ){
    snprintf(z, n, "the node does not speak TLS 1.3 (%s)", zReason);
  }else{
    snprintf(z, n, "%s", zReason ? zReason : "TLS error");
  }
}

static int tls_error(DqClient *p, const char *zWhat, int e, int handshake){
  char z[300];
  tls_reason(p->ssl, e, handshake, z, sizeof(z));
  return set_error(p, DQ_IOERR, 0, "%s %s: %s", zWhat, p->zAddress, z);
}

/* The TLS handshake on the connected socket, within the call's deadline. */
static int tls_handshake(DqClient *p){
  p->ssl = SSL_new(p->lim.tls);
  if( p->ssl==0 || SSL_set_fd(p->ssl, p->fd)!=1 ){
    ERR_clear_error();
    return set_error(p, DQ_IOERR, 0, "out of memory starting TLS with %s",
                     p->zAddress);
  }
  SSL_set_connect_state(p->ssl);
  for(;;){
    PipeGuard g;
    int r, e;
    ERR_clear_error();
    pipe_block(&g);
    r = SSL_do_handshake(p->ssl);
    e = r==1 ? SSL_ERROR_NONE : SSL_get_error(p->ssl, r);
    pipe_restore(&g);
    if( r==1 ) return DQ_OK;
    if( e==SSL_ERROR_WANT_READ || e==SSL_ERROR_WANT_WRITE ){
      if( wait_ready(p, e==SSL_ERROR_WANT_READ ? POLLIN : POLLOUT,
                     "no complete TLS handshake with") ){
        return DQ_IOERR;
      }
      continue;
    }
    return tls_error(p, "TLS handshake with", e, 1);
  }
}

/* A readable file, or an error naming it and what it should be. */
static int check_readable(const char *zFile, const char *zWhat,
                          char **pzErr){
  char buf[600];
  if( zFile && zFile[0] && access(zFile, R_OK)==0 ) return 0;
  snprintf(buf, sizeof(buf), "rpcver: cannot read the %s %s: %s", zWhat,
           zFile && zFile[0] ? zFile : "(none given)",
           zFile && zFile[0] ? strerror(errno) : "a file is needed");
  *pzErr = strdup(buf);
  return 1;
}

static int tls_fail(SSL_CTX *ctx, char **pzErr, const char *zFmt, ...){
  char buf[800], zWhy[300];
  unsigned long err = ERR_get_error();
  va_list ap;
  va_start(ap, zFmt);
  vsnprintf(buf, sizeof(buf), zFmt, ap);
  va_end(ap);
  snprintf(zWhy, sizeof(zWhy), "%s", err ? ERR_reason_error_string(err) : "");
  ERR_clear_error();
  if( zWhy[0] && strlen(buf) + strlen(zWhy) + 3 < sizeof(buf) ){
    strcat(buf, ": ");
    strcat(buf, zWhy);
  }
  *pzErr = strdup(buf);
  SSL_CTX_free(ctx);
  return DQ_FAILED;
}

int dq_tls_new(const char *zCert, const char *zKey, const char *zCa,
               DqTls **ppTls, char **pzErr){
  SSL_CTX *ctx;
  X509 *pLeaf;
  STACK_OF(X509) *pChain = 0;
  X509_STORE_CTX *pCheck;
  int ok, err;
  *ppTls = 0;
  *pzErr = 0;
  if( check_readable(zCert, "certificate", pzErr)
   || check_readable(zKey, "key", pzErr)
   || check_readable(zCa, "CA certificate", pzErr) ){
    return DQ_FAILED;
  }
  ERR_clear_error();
  ctx = SSL_CTX_new(TLS_method());
  if( ctx==0 ) return tls_fail(0, pzErr, "rpcver: cannot set up TLS");
  /* TLS 1.3 only; the peer's certificate, always, against zCa only */
  SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION);
  SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT,
                     0);
  SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE
                        | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  /* every connection is a full handshake: no tickets to keep or steal */
  SSL_CTX_set_num_tickets(ctx, 0);
  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
  if( SSL_CTX_load_verify_file(ctx, zCa)!=1 ){
    return tls_fail(ctx, pzErr, "rpcver: cannot load the CA certificate %s",
                    zCa);
  }
  if( SSL_CTX_use_certificate_chain_file(ctx, zCert)!=1 ){
    return tls_fail(ctx, pzErr, "rpcver: cannot load the certificate %s",
                    zCert);
  }
  if( SSL_CTX_use_PrivateKey_file(ctx, zKey, SSL_FILETYPE_PEM)!=1 ){
    if( ERR_GET_REASON(ERR_peek_last_error())==X509_R_KEY_VALUES_MISMATCH ){
      ERR_clear_error();
      return tls_fail(ctx, pzErr, "rpcver: the key %s does not match the "
                      "certificate %s", zKey, zCert);
    }
    return tls_fail(ctx, pzErr, "rpcver: cannot load the key %s (a PEM "
                    "private key)", zKey);
  }
  if( SSL_CTX_check_private_key(ctx)!=1 ){
    ERR_clear_error();
    return tls_fail(ctx, pzErr, "rpcver: the key %s does not match the "
                    "certificate %s", zKey, zCert);
  }
  /* Our own certificate, as the peer will judge it: chained to zCa,
  ** current, good for a TLS client. */
  pLeaf = SSL_CTX_get0_certificate(ctx);
  SSL_CTX_get0_chain_certs(ctx, &pChain);
  pCheck = X509_STORE_CTX_new();
  if( pCheck==0 || pLeaf==0
   || X509_STORE_CTX_init(pCheck, SSL_CTX_get_cert_store(ctx), pLeaf,
                          pChain)!=1 ){
    X509_STORE_CTX_free(pCheck);
    return tls_fail(ctx, pzErr, "rpcver: cannot check the certificate %s",
                    zCert);
  }
  X509_STORE_CTX_set_purpose(pCheck, X509_PURPOSE_SSL_CLIENT);
  ok = X509_verify_cert(pCheck)==1;
  err = X509_STORE_CTX_get_error(pCheck);
  X509_STORE_CTX_free(pCheck);
  if( !ok ){
    ERR_clear_error();
    return tls_fail(ctx, pzErr, "rpcver: the certificate %s does not verify "
                    "against the CA %s: %s", zCert, zCa,
                    X509_verify_cert_error_string(err));
  }
  ERR_clear_error();
  *ppTls = ctx;
  return DQ_OK;
}

DqTls *dq_tls_ref(DqTls *p){
  if( p ) SSL_CTX_up_ref(p);
  return p;
}

void dq_tls_free(DqTls *p){
  SSL_CTX_free(p);
}

int dq_errcode(DqClient *p){ return p ? p->errcode : 0; }
const char *dq_errmsg(DqClient *p){
  if( p==0 ) return "out of memory";
  return p->zErr ? p->zErr : "no error";
}
const char *dq_address(DqClient *p){ return p ? p->zAddress : ""; }

/* ------------------------------------------------------ encoding */

static int out_reserve(DqClient *p, size_t n){
  if( p->nOut + n > p->nOutAlloc ){
    size_t nNew = (p->nOutAlloc ? p->nOutAlloc*2 : 256) + n;
    unsigned char *a = realloc(p->aOut, nNew);
    if( a==0 ) return 1;
    p->aOut = a;
    p->nOutAlloc = nNew;
  }
  return 0;
}

static void put_u64(DqClient *p, uint64_t v){
  int i;
  if( out_reserve(p, 8) ) return;
  for(i=0; i<8; i++) p->aOut[p->nOut++] = (unsigned char)(v >> (8*i));
}

/* Text: the bytes, a NUL, zeros up to the next 8-byte boundary. */
static void put_text(DqClient *p, const char *z){
  size_t n = strlen(z) + 1, nPad = (n + 7) & ~(size_t)7;
  if( out_reserve(p, nPad) ) return;
  memcpy(p->aOut + p->nOut, z, n);
  memset(p->aOut + p->nOut + n, 0, nPad - n);
  p->nOut += nPad;
}

/* A parameter tuple of texts and NULLs: a count byte and one type byte per
** value, padded to a word, then the values. */
static void put_params(DqClient *p, int nParam, const char *const *azParam){
  size_t nHead = ((size_t)nParam + 1 + 7) & ~(size_t)7;
  int i;
  if( nParam==0 || out_reserve(p, nHead) ) return;
  memset(p->aOut + p->nOut, 0, nHead);
  p->aOut[p->nOut] = (unsigned char)nParam;
  for(i=0; i<nParam; i++){
    p->aOut[p->nOut + 1 + (size_t)i] = azParam[i] ? T_TEXT : T_NULL;
  }
  p->nOut += nHead;
  for(i=0; i<nParam; i++){
    if( azParam[i] ) put_text(p, azParam[i]); else put_u64(p, 0);
  }
}

/* Start a request: room for the header, filled in by send_request(). */
static void begin_request(DqClient *p){
  p->nOut = 0;
  put_u64(p, 0);
}

/* ------------------------------------------------------ I/O */

/* One OpenSSL read or write (reading when a is writable memory, k its
** length): 1 and *pk bytes moved, 0 to retry after a wait (done here,
** within the call's deadline), or an error set. */
static int tls_io(DqClient *p, int reading, void *a, size_t n, size_t *pk,
                  const char *zWhat, const char *zWait){
  PipeGuard g;
  int r, e;
  *pk = 0;
  ERR_clear_error();
  pipe_block(&g);
  r = reading ? SSL_read_ex(p->ssl, a, n, pk) : SSL_write_ex(p->ssl, a, n, pk);
  e = r==1 ? SSL_ERROR_NONE : SSL_get_error(p->ssl, r);
  pipe_restore(&g);
  if( r==1 ) return 1;
  if( e==SSL_ERROR_WANT_READ || e==SSL_ERROR_WANT_WRITE ){
    return wait_ready(p, e==SSL_ERROR_WANT_READ ? POLLIN : POLLOUT, zWait)
           ? -1 : 0;
  }
  if( e==SSL_ERROR_ZERO_RETURN
   || (e==SSL_ERROR_SYSCALL && ERR_peek_error()==0) ){
    if( e==SSL_ERROR_ZERO_RETURN ) errno = 0;
    ERR_clear_error();
    io_error(p, zWhat);
    return -1;
  }
  tls_error(p, zWhat, e, 0);
  return -1;
}

static int write_all(DqClient *p, const unsigned char *a, size_t n){
  while( p->ssl && n>0 ){
    size_t k;
    int r = tls_io(p, 0, (void*)a, n, &k, "cannot send to", "cannot send to");
    if( r<0 ) return DQ_IOERR;
    a += k;
    n -= k;
  }
  while( n>0 ){
    ssize_t k = send(p->fd, a, n, MSG_NOSIGNAL | MSG_DONTWAIT);
    if( k<0 && errno==EINTR ) continue;
    if( k<0 && (errno==EAGAIN || errno==EWOULDBLOCK) ){
      if( wait_ready(p, POLLOUT, "cannot send to") ) return DQ_IOERR;
      continue;
    }
    if( k<=0 ) return io_error(p, "cannot send to");
    a += k;
    n -= (size_t)k;
  }
  return DQ_OK;
}

static int read_all(DqClient *p, unsigned char *a, size_t n){
  while( p->ssl && n>0 ){
    size_t k;
    int r = tls_io(p, 1, a, n, &k, "cannot read from",
                   "no complete answer from");
    if( r<0 ) return DQ_IOERR;
    a += k;
    n -= k;
  }
  while( n>0 ){
    ssize_t k = recv(p->fd, a, n, MSG_DONTWAIT);
    if( k<0 && errno==EINTR ) continue;
    if( k<0 && (errno==EAGAIN || errno==EWOULDBLOCK) ){
      if( wait_ready(p, POLLIN, "no complete answer from") ) return DQ_IOERR;
      continue;
    }
    if( k==0 ) errno = 0;
    if( k<=0 ) return io_error(p, "cannot read from");
    a += k;
    n -= (size_t)k;
  }
  return DQ_OK;
}

static int send_request(DqClient *p, int type){
  size_t nWords;
  if( p->aOut==0 || p->nOut<8 || (p->nOut % 8)!=0 ){
    return set_error(p, DQ_IOERR, 0, "out of memory building a request");
  }
  nWords = (p->nOut - 8) / 8;
  p->aOut[0] = (unsigned char)nWords;
  p->aOut[1] = (unsigned char)(nWords >> 8);
  p->aOut[2] = (unsigned char)(nWords >> 16);
  p->aOut[3] = (unsigned char)(nWords >> 24);
  p->aOut[4] = (unsigned char)type;
  p->aOut[5] = 0;
  p->aOut[6] = p->aOut[7] = 0;
  return write_all(p, p->aOut, p->nOut);
}

static uint64_t get_le(const unsigned char *a, int n){
  uint64_t v = 0;
  int i;
  for(i=n-1; i>=0; i--) v = (v << 8) | a[i];
  return v;
}

/* Read one response into p->aIn / p->nIn / p->inType.  Its declared size
** counts against the call's byte cap before anything is allocated. */
static int read_response(DqClient *p){
  unsigned char h[8];
  uint64_t nBody;
  size_t n;
  if( read_all(p, h, 8) ){
    if( p->nResponse==0 && p->lim.tls==0 && p->zErr
     && strstr(p->zErr, ": connection closed") ){
      /* the node's first answer is to hang up */
      char *z = p->zErr;
      p->zErr = 0;
      set_error(p, DQ_IOERR, 0, "%s (a node run with TLS closes connections "
                "that do not speak it)", z);
      free(z);
    }
    return DQ_IOERR;
  }
  p->nResponse++;
  nBody = get_le(h, 4) * 8;
  if( (long long)nBody + 8 > p->lim.maxBytes - p->nCallBytes ){
    if( p->nCallBytes==0 ){
      return set_error(p, DQ_IOERR, 0, "a response of %llu bytes from %s "
                       "exceeds the cap of %lld bytes",
                       (unsigned long long)nBody + 8, p->zAddress,
                       p->lim.maxBytes);
    }
    return set_error(p, DQ_IOERR, 0, "the answer from %s exceeds the cap of "
                     "%lld bytes (%lld bytes read, the next response "
                     "declares %llu)", p->zAddress, p->lim.maxBytes,
                     p->nCallBytes, (unsigned long long)nBody + 8);
  }
  p->nCallBytes += (long long)nBody + 8;
  n = (size_t)nBody;
  if( n > p->nInAlloc ){
    unsigned char *a = realloc(p->aIn, n);
    if( a==0 ) return set_error(p, DQ_IOERR, 0, "out of memory");
    p->aIn = a;
    p->nInAlloc = n;
  }
  p->nIn = n;
  p->inType = h[4];
  return n ? read_all(p, p->aIn, n) : DQ_OK;
}

/* ------------------------------------------------------ decoding */

static int get_u64(Cursor *c, uint64_t *pV){
  if( c->n < 8 ) return 1;
  *pV = get_le(c->p, 8);
  c->p += 8;
  c->n -= 8;
  return 0;
}

/* A NUL-terminated, padded text; *pz points into the response. */
static int get_text(Cursor *c, const char **pz){
  const unsigned char *e = memchr(c->p, 0, c->n);
  size_t n;
  if( e==0 ) return 1;
  n = (((size_t)(e - c->p) + 1) + 7) & ~(size_t)7;
  if( n > c->n ) return 1;
  *pz = (const char*)c->p;
  c->p += n;
  c->n -= n;
  return 0;
}

static int bad_response(DqClient *p, const char *zWhat){
  return set_error(p, DQ_IOERR, 0, "malformed %s response from %s", zWhat,
                   p->zAddress);
}

/*
** A FAILURE response: its code and message.  dqlite 1.11 encodes a query
** that fails while stepping into the buffer where its batch of rows had
** begun (column count, names, rows so far), so such a response ends with
** the failure rather than being it.  The plain reading then leaves bytes
** over; the failure is the body's last two fields: the message, the last
** text, and the code word before it.
*/
static int decode_failure(DqClient *p){
  Cursor c = { p->aIn, p->nIn };
  uint64_t code;
  const char *zMsg;
  if( get_u64(&c, &code) || get_text(&c, &zMsg) ){
    return bad_response(p, "failure");
  }
  if( c.n>0 ){
    size_t end = p->nIn, start;
    while( end>0 && p->aIn[end-1]==0 ) end--;      /* padding, the NUL */
    start = end;
    while( start>0 && p->aIn[start-1]!=0 ) start--; /* the text's bytes */
    start = (start + 7) & ~(size_t)7;               /* texts start a word */
    if( end>start && start>=16 ){
      c.p = p->aIn + start - 8;
      c.n = p->nIn - start + 8;
      if( get_u64(&c, &code)==0 && get_text(&c, &zMsg)==0 && c.n==0 ){
        return set_error(p, DQ_FAILED, (int)code, "%s", zMsg);
      }
    }
    return bad_response(p, "failure");
  }
  return set_error(p, DQ_FAILED, (int)code, "%s", zMsg);
}

/* Send the request and read its response, expecting type `want`.  A
** FAILURE response becomes DQ_FAILED with the node's code and message. */
static int roundtrip(DqClient *p, int reqType, int want, Cursor *c){
  int rc = begin_call(p);
  if( rc==DQ_OK ) rc = send_request(p, reqType);
  if( rc==DQ_OK ) rc = read_response(p);
  if( rc ) return rc;
  c->p = p->aIn;
  c->n = p->nIn;
  if( p->inType==RES_FAILURE ) return decode_failure(p);
  if( p->inType!=want ){
    return set_error(p, DQ_IOERR, 0, "unexpected response type %d from %s "
                     "(wanted %d)", p->inType, p->zAddress, want);
  }
  return DQ_OK;
}

/* ------------------------------------------------------ connecting */

/* "@NAME": the abstract Unix socket NAME (a node of this process). */
static int open_abstract(DqClient *p){
  struct sockaddr_un a;
  size_t n = strlen(p->zAddress + 1);
  if( n==0 || n >= sizeof(a.sun_path) ){
    return set_error(p, DQ_IOERR, 0, "bad address %s", p->zAddress);
  }
  memset(&a, 0, sizeof(a));
  a.sun_family = AF_UNIX;
  memcpy(a.sun_path + 1, p->zAddress + 1, n);
  p->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if( p->fd<0 ) return io_error(p, "cannot connect to");
  if( connect(p->fd, (struct sockaddr*)&a,
              (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + n))!=0 ){
    int e = errno;
    close(p->fd);
    p->fd = -1;
    errno = e;
    return io_error(p, "cannot connect to");
  }
  return DQ_OK;
}

/* Connect to one of zHost's addresses within the call's deadline: the
** socket is non-blocking from here on. */
static int open_socket(DqClient *p){
  char zHost[256];
  const char *zColon = strrchr(p->zAddress, ':');
  struct addrinfo hints, *pRes = 0, *q;
  int rc, one = 1;
  if( p->zAddress[0]=='@' ) return open_abstract(p);
  if( zColon==0 || zColon==p->zAddress
   || (size_t)(zColon - p->zAddress) >= sizeof(zHost) ){
    return set_error(p, DQ_IOERR, 0, "bad address %s: want HOST:PORT",
                     p->zAddress);
  }
  memcpy(zHost, p->zAddress, (size_t)(zColon - p->zAddress));
  zHost[zColon - p->zAddress] = 0;
  memset(&hints, 0, sizeof(hints));
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  rc = getaddrinfo(zHost, zColon+1, &hints, &pRes);
  if( rc ){
    return set_error(p, DQ_IOERR, 0, "cannot resolve %s: %s", p->zAddress,
                     gai_strerror(rc));
  }
  rc = DQ_IOERR;
  errno = ECONNREFUSED;
  for(q=pRes; q; q=q->ai_next){
    int err = 0;
    socklen_t nErr = sizeof(err);
    p->fd = socket(q->ai_family, q->ai_socktype, q->ai_protocol);
    if( p->fd<0 ) continue;
    if( fcntl(p->fd, F_SETFL, fcntl(p->fd, F_GETFL) | O_NONBLOCK)<0 ){
      close(p->fd);
      p->fd = -1;
      continue;
    }
    setsockopt(p->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if( connect(p->fd, q->ai_addr, q->ai_addrlen)==0 ){
      rc = DQ_OK;
      break;
    }
    if( errno==EINPROGRESS ){
      /* a deadline or a stop ends the whole connect; a refusal tries the
      ** next address */
      if( wait_ready(p, POLLOUT, "cannot connect to") ){
        freeaddrinfo(pRes);
        return DQ_IOERR;
      }
      if( getsockopt(p->fd, SOL_SOCKET, SO_ERROR, &err, &nErr)==0 && err==0 ){
        rc = DQ_OK;
        break;
      }
      errno = err ? err : ECONNREFUSED;
    }
    {
      int e = errno;
      close(p->fd);
      p->fd = -1;
      errno = e;
    }
  }
  freeaddrinfo(pRes);
  if( rc!=DQ_OK ) return io_error(p, "cannot connect to");
  return DQ_OK;
}

/* A new client, connected to zAddress (TLS included) within the limits'
** deadline; *pp is set even on DQ_IOERR (for the message). */
static int dial(const char *zAddress, const DqLimits *pLimits, DqClient **pp){
  DqClient *p = calloc(1, sizeof(*p));
  *pp = p;
  if( p==0 ) return DQ_IOERR;
  p->fd = -1;
  p->lim = *pLimits;
  p->zAddress = strdup(zAddress);
  if( p->zAddress==0 ) return set_error(p, DQ_IOERR, 0, "out of memory");
  start_clock(p);
  if( cancelled(p->lim.cancelFd) ){
    return set_error(p, DQ_IOERR, 0, "stopped before connecting to %s",
                     p->zAddress);
  }
  if( open_socket(p) ) return DQ_IOERR;
  if( p->lim.tls && zAddress[0]!='@' && tls_handshake(p) ) return DQ_IOERR;
  return DQ_OK;
}

int dq_connect_with(const char *zAddress, const DqLimits *pLimits,
                    DqClient **pp){
  unsigned char hello[8];
  int i;
  if( dial(zAddress, pLimits, pp) ) return DQ_IOERR;
  /* The first word on a connection is the protocol version. */
  for(i=0; i<8; i++) hello[i] = (unsigned char)((uint64_t)DQ_PROTOCOL_VERSION >> (8*i));
  return write_all(*pp, hello, 8);
}

int dq_dial(const char *zAddress, const DqLimits *pLimits, int *pFd,
            struct ssl_st **ppSsl, char **pzErr){
  DqClient *p = 0;
  int rc = dial(zAddress, pLimits, &p);
  *pFd = -1;
  *ppSsl = 0;
  *pzErr = 0;
  if( rc==DQ_OK ){
    *pFd = p->fd;
    *ppSsl = p->ssl;
    p->fd = -1;
    p->ssl = 0;
  }else{
    *pzErr = strdup(dq_errmsg(p));
  }
  dq_close(p);
  return rc;
}

int dq_connect(const char *zAddress, int timeoutMs, DqClient **pp){
  DqLimits l;
  dq_limits_init(&l);
  l.timeoutMs = timeoutMs;
  return dq_connect_with(zAddress, &l, pp);
}

void dq_close(DqClient *p){
  if( p==0 ) return;
  if( p->ssl ){
    /* say goodbye if the socket takes it now; never wait for it */
    PipeGuard g;
    pipe_block(&g);
    SSL_shutdown(p->ssl);
    pipe_restore(&g);
    ERR_clear_error();
    SSL_free(p->ssl);
  }
  if( p->fd>=0 ) close(p->fd);
  free(p->zAddress);
  free(p->zErr);
  free(p->aOut);
  free(p->aIn);
  free(p);
}

/* Ask each node in zList who leads; connect there and check that it agrees
** it leads.  Elections take a moment, so retry until the deadline.  Each
** try has DQ_TRY_MS at most, and nothing passes the deadline. */
int dq_connect_leader_with(const char *zList, const DqLimits *pLimits,
                           DqClient **pp, char **pzErr){
  long long t0 = dq_clock_ms();
  long long deadline = t0 + pLimits->timeoutMs;
  long long budget;
  char *zLast = 0;
  int stopped = 0;
  DqLimits tryLim = *pLimits;
  *pp = 0;
  *pzErr = 0;
  if( pLimits->deadlineMs>0 && pLimits->deadlineMs<deadline ){
    deadline = pLimits->deadlineMs;
  }
  budget = deadline - t0;
  tryLim.timeoutMs = DQ_TRY_MS;
  tryLim.deadlineMs = deadline;
  for(;;){
    char *zCopy = strdup(zList), *zSave = 0, *zNode;
    if( zCopy==0 ) break;
    for(zNode=strtok_r(zCopy, ", ", &zSave); zNode && !stopped;
        zNode=strtok_r(0, ", ", &zSave)){
      DqClient *p = 0, *pLeader = 0;
      uint64_t id = 0;
      char *zLeader = 0;
      int rc = dq_connect_with(zNode, &tryLim, &p);
      if( rc==DQ_OK ) rc = dq_leader(p, &id, &zLeader);
      if( rc==DQ_OK && id!=0 && zLeader[0] ){
        if( strcmp(zLeader, zNode)==0 ){
          pLeader = p;
          p = 0;
        }else{
          rc = dq_connect_with(zLeader, &tryLim, &pLeader);
        }
        /* The leader must know itself as leader: a stale answer from a
        ** partitioned node would name a node that no longer leads. */
        if( rc==DQ_OK ){
          uint64_t id2 = 0;
          char *z2 = 0;
          rc = dq_leader(pLeader, &id2, &z2);
          if( rc==DQ_OK && id2==id ){
            free(z2);
            free(zLeader);
            dq_close(p);
            free(zCopy);
            free(zLast);
            /* Ask-and-connect used short tries; the connection keeps to
            ** the caller's limits (a COMMIT may wait out an election). */
            dq_set_limits(pLeader, pLimits);
            *pp = pLeader;
            return DQ_OK;
          }
          free(z2);
        }
        if( pLeader ){
          free(zLast);
          zLast = strdup(dq_errmsg(pLeader));
        }
        dq_close(pLeader);
      }else if( p ){
        free(zLast);
        zLast = rc==DQ_OK ? 0 : strdup(dq_errmsg(p));
        if( rc==DQ_OK && zLast==0 ){
          char buf[300];
          snprintf(buf, sizeof(buf), "%s knows no leader", zNode);
          zLast = strdup(buf);
        }
      }
      free(zLeader);
      dq_close(p);
      stopped = cancelled(pLimits->cancelFd);
    }
    free(zCopy);
    if( stopped || dq_clock_ms() >= deadline ) break;
    {
      /* a pause before the next round, which a stop cuts short */
      struct pollfd a;
      long long left = deadline - dq_clock_ms();
      a.fd = pLimits->cancelFd;
      a.events = POLLIN;
      a.revents = 0;
      if( poll(&a, a.fd>=0 ? 1 : 0, left<100 ? (int)(left>0 ? left : 0) : 100)>0 ){
        stopped = 1;
        break;
      }
    }
    /* no try starts without time left for it */
    if( dq_clock_ms() >= deadline ) break;
  }
  {
    size_t n = strlen(zList) + (zLast ? strlen(zLast) : 0) + 128;
    *pzErr = malloc(n);
    if( *pzErr && stopped ){
      snprintf(*pzErr, n, "stopped while looking for the leader among %s",
               zList);
    }else if( *pzErr ){
      snprintf(*pzErr, n, "no leader found among %s within %lld ms%s%s",
               zList, budget>0 ? budget : 0, zLast ? "; last: " : "",
               zLast ? zLast : "");
    }
  }
  free(zLast);
  return DQ_IOERR;
}

int dq_connect_leader(const char *zList, int timeoutMs, DqClient **pp,
                      char **pzErr){
  DqLimits l;
  dq_limits_init(&l);
  l.timeoutMs = timeoutMs;
  return dq_connect_leader_with(zList, &l, pp, pzErr);
}

/* ------------------------------------------------------ requests */

int dq_leader(DqClient *p, uint64_t *pId, char **pzAddress){
  Cursor c;
  const char *z;
  int rc;
  begin_request(p);
  put_u64(p, 0);
  rc = roundtrip(p, REQ_LEADER, RES_SERVER, &c);
  if( rc ) return rc;
  if( get_u64(&c, pId) || get_text(&c, &z) ) return bad_response(p, "leader");
  *pzAddress = strdup(z);
  return *pzAddress ? DQ_OK : set_error(p, DQ_IOERR, 0, "out of memory");
}

void dq_servers_free(DqServer *a, int n){
  int i;
  for(i=0; i<n; i++) free(a[i].zAddress);
  free(a);
}

int dq_servers(DqClient *p, DqServer **paServer, int *pnServer){
  Cursor c;
  uint64_t n, i;
  DqServer *a;
  int rc;
  *paServer = 0;
  *pnServer = 0;
  begin_request(p);
  put_u64(p, 1);                       /* format 1: with roles */
  rc = roundtrip(p, REQ_CLUSTER, RES_SERVERS, &c);
  if( rc ) return rc;
  if( get_u64(&c, &n) || n > 1000 ) return bad_response(p, "cluster");
  a = calloc((size_t)n + 1, sizeof(*a));
  if( a==0 ) return set_error(p, DQ_IOERR, 0, "out of memory");
  for(i=0; i<n; i++){
    const char *z;
    uint64_t role;
    if( get_u64(&c, &a[i].id) || get_text(&c, &z) || get_u64(&c, &role) ){
      dq_servers_free(a, (int)i);
      return bad_response(p, "cluster");
    }
    a[i].zAddress = strdup(z);
    a[i].role = (int)role;
  }
  *paServer = a;
  *pnServer = (int)n;
  return DQ_OK;
}

int dq_add(DqClient *p, uint64_t id, const char *zAddress){
  Cursor c;
  begin_request(p);
  put_u64(p, id);
  put_text(p, zAddress);
  return roundtrip(p, REQ_ADD, RES_EMPTY, &c);
}

int dq_assign(DqClient *p, uint64_t id, int role){
  Cursor c;
  begin_request(p);
  put_u64(p, id);
  put_u64(p, (uint64_t)role);
  return roundtrip(p, REQ_ASSIGN, RES_EMPTY, &c);
}

int dq_transfer(DqClient *p, uint64_t id){
  Cursor c;
  begin_request(p);
  put_u64(p, id);
  return roundtrip(p, REQ_TRANSFER, RES_EMPTY, &c);
}

int dq_open(DqClient *p, const char *zName){
  Cursor c;
  uint64_t w;
  int rc;
  begin_request(p);
  put_text(p, zName);
  put_u64(p, 0);                       /* flags: the node's defaults */
  put_text(p, "");                     /* vfs: the node's */
  rc = roundtrip(p, REQ_OPEN, RES_DB, &c);
  if( rc ) return rc;
  if( get_u64(&c, &w) ) return bad_response(p, "open");
  p->dbId = (uint32_t)w;
  return DQ_OK;
}

/* The tuple's count is one byte. */
static int check_params(DqClient *p, int nParam){
  if( nParam>=0 && nParam<=255 ) return DQ_OK;
  return set_error(p, DQ_FAILED, 25 /* SQLITE_RANGE */, "%d parameters: the "
                   "wire protocol carries at most 255", nParam);
}

/* EXEC_SQL or QUERY_SQL: db id, SQL, parameters; then the first response. */
static int sql_request(DqClient *p, int type, int want, const char *zSql,
                       int nParam, const char *const *azParam, Cursor *c){
  int rc = check_params(p, nParam);
  if( rc ) return rc;
  begin_request(p);
  put_u64(p, p->dbId);
  put_text(p, zSql);
  put_params(p, nParam, azParam);
  return roundtrip(p, type, want, c);
}

int dq_exec(DqClient *p, const char *zSql, int nParam,
            const char *const *azParam, uint64_t *pnChanged){
  Cursor c;
  uint64_t lastId, nChanged;
  int rc = sql_request(p, REQ_EXEC_SQL, RES_RESULT, zSql, nParam, azParam,
                       &c);
  if( rc ) return rc;
  if( get_u64(&c, &lastId) || get_u64(&c, &nChanged) ){
    return bad_response(p, "exec");
  }
  if( pnChanged ) *pnChanged = nChanged;
  return DQ_OK;
}

/* ------------------------------------------------------ rows */

void dq_rows_free(DqRows *r){
  int i;
  for(i=0; i<r->nCol; i++) free(r->azCol[i]);
  for(i=0; i<r->nRow*r->nCol; i++) free(r->azVal[i]);
  free(r->azCol);
  free(r->azVal);
  free(r->aType);
  memset(r, 0, sizeof(*r));
}

/* One value of a row as text, the way sqlite3_column_text() renders it. */
static int get_value(Cursor *c, int type, int *pType, char **pz){
  uint64_t u;
  const char *z;
  char buf[64];
  *pz = 0;
  switch( type ){
    case T_INTEGER: case T_UNIXTIME: case T_BOOLEAN:
      if( get_u64(c, &u) ) return 1;
      snprintf(buf, sizeof(buf), "%lld", (long long)(int64_t)u);
      *pType = T_INTEGER;
      break;
    case T_FLOAT: {
      double d;
      if( get_u64(c, &u) ) return 1;
      memcpy(&d, &u, sizeof(d));
      snprintf(buf, sizeof(buf), "%.15g", d);
      if( strspn(buf, "-0123456789")==strlen(buf) ) strcat(buf, ".0");
      *pType = T_FLOAT;
      break;
    }
    case T_NULL:
      *pType = T_NULL;
      return get_u64(c, &u);
    case T_TEXT: case T_ISO8601:
      if( get_text(c, &z) ) return 1;
      *pType = T_TEXT;
      *pz = strdup(z);
      return *pz==0;
    case T_BLOB: {
      size_t nPad;
      if( get_u64(c, &u) || u > c->n ) return 1;
      nPad = ((size_t)u + 7) & ~(size_t)7;
      if( nPad > c->n ) return 1;
      *pz = malloc((size_t)u + 1);
      if( *pz==0 ) return 1;
      memcpy(*pz, c->p, (size_t)u);
      (*pz)[u] = 0;
      c->p += nPad;
      c->n -= nPad;
      *pType = T_BLOB;
      return 0;
    }
    default:
      return 1;
  }
  *pz = strdup(buf);
  return *pz==0;
}

/* Decode one ROWS response into r; *pMore is set when more follow.  The
** rows count against the row cap.  A batch of no rows that says more
** follow is refused: the next would be the same (dqlite 1.11 sends such
** batches without end when the column names alone fill its 4 KiB batch),
** so the result could never end. */
static int load_rows(DqClient *p, DqRows *r, int *pMore){
  Cursor c = { p->aIn, p->nIn };
  uint64_t nCol, i;
  int nBatch = 0;
  *pMore = 0;
  if( get_u64(&c, &nCol) || nCol==0 || nCol > 255 ){
    return bad_response(p, "rows");
  }
  if( r->azCol==0 ){
    r->nCol = (int)nCol;
    r->azCol = calloc((size_t)nCol, sizeof(char*));
    if( r->azCol==0 ) return set_error(p, DQ_IOERR, 0, "out of memory");
  }else if( (int)nCol!=r->nCol ){
    return bad_response(p, "rows");
  }
  for(i=0; i<nCol; i++){
    const char *z;
    if( get_text(&c, &z) ) return bad_response(p, "rows");
    if( r->azCol[i]==0 && (r->azCol[i] = strdup(z))==0 ){
      return set_error(p, DQ_IOERR, 0, "out of memory");
    }
  }
  for(;;){
    size_t nHead = ((((size_t)nCol + 1) / 2) + 7) & ~(size_t)7;
    const unsigned char *aHead;
    uint64_t marker;
    if( c.n < 8 ) return bad_response(p, "rows");
    marker = get_le(c.p, 8);
    if( marker==ROWS_DONE || marker==ROWS_PART ){
      *pMore = marker==ROWS_PART;
      if( *pMore && nBatch==0 ){
        return set_error(p, DQ_IOERR, 0, "malformed rows response from %s: "
                         "a batch of no rows says more follow, so the result "
                         "would never end", p->zAddress);
      }
      return DQ_OK;
    }
    if( (long long)r->nRow >= p->lim.maxRows ){
      return set_error(p, DQ_IOERR, 0, "the result from %s exceeds the cap "
                       "of %lld rows", p->zAddress, p->lim.maxRows);
    }
    if( c.n < nHead ) return bad_response(p, "rows");
    aHead = c.p;
    c.p += nHead;
    c.n -= nHead;
    if( r->nRow==r->nAlloc ){
      int nNew = r->nAlloc ? r->nAlloc*2 : 16;
      size_t nCell = (size_t)nNew * nCol;
      char **az = realloc(r->azVal, nCell * sizeof(char*));
      int *at;
      if( az==0 ) return set_error(p, DQ_IOERR, 0, "out of memory");
      r->azVal = az;
      at = realloc(r->aType, nCell * sizeof(int));
      if( at==0 ) return set_error(p, DQ_IOERR, 0, "out of memory");
      r->aType = at;
      r->nAlloc = nNew;
    }
    for(i=0; i<nCol; i++){
      int type = (aHead[i/2] >> (4*(i%2))) & 0x0f;
      size_t k = (size_t)r->nRow * nCol + i;
      r->azVal[k] = 0;
      r->aType[k] = T_NULL;
      if( get_value(&c, type, &r->aType[k], &r->azVal[k]) ){
        /* keep the row's earlier cells freeable */
        for(; i+1<nCol; i++) r->azVal[(size_t)r->nRow*nCol + i + 1] = 0;
        r->nRow++;
        return bad_response(p, "rows");
      }
    }
    r->nRow++;
    nBatch++;
  }
}

int dq_query(DqClient *p, const char *zSql, int nParam,
             const char *const *azParam, DqRows *r){
  Cursor c;
  int rc, more = 1;
  memset(r, 0, sizeof(*r));
  rc = sql_request(p, REQ_QUERY_SQL, RES_ROWS, zSql, nParam, azParam, &c);
  while( rc==DQ_OK ){
    rc = load_rows(p, r, &more);
    if( rc || !more ) break;
    /* The node sends the next batch by itself, within the same call's
    ** deadline and caps. */
    rc = read_response(p);
    if( rc==DQ_OK && p->inType==RES_FAILURE ){
      rc = decode_failure(p);
    }else if( rc==DQ_OK && p->inType!=RES_ROWS ){
      rc = set_error(p, DQ_IOERR, 0, "unexpected response type %d from %s "
                     "in a result set", p->inType, p->zAddress);
    }
  }
  return rc;
}
