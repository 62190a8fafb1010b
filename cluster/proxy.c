/*
** rpcverd's TLS proxy (proxy.h): one thread, poll(), non-blocking sockets
** and OpenSSL calls, every connection relayed in both directions through
** two 16 KiB buffers.
**
** Incoming connections (from clients and from peers' Raft) get HANDSHAKE_MS
** from their accept to finish the TLS handshake, however they send its
** bytes; a peer that stalls or trickles is dropped then.  Only then is the
** node's own socket connected: an unauthenticated peer never reaches
** dqlite.  At most MAX_CONNS connections are open, MAX_HANDSHAKES of them
** in their handshake and MAX_CLIENTS of them clients' (so that clients
** cannot lock the other nodes' Raft out); a new one closes the oldest
** unfinished handshake (or refused connection) to make room, and is closed
** at once only when every other connection is authenticated.
**
** Certificates say what a peer is.  One good for a TLS server
** (extendedKeyUsage serverAuth, or none) is a node's; one good for a TLS
** client only is a client's.  A client may send any request of the SQL
** protocol, but not CONNECT, which turns a connection into a Raft stream
** (Raft is for nodes), nor a membership request (ADD, ASSIGN, REMOVE,
** TRANSFER, WEIGHT: a client that could send them could add a node of its
** own, demote or remove the others, and so take the cluster's log; an
** operator sends them with a node's certificate).  The proxy follows the
** framing of what a client sends (the 8-byte protocol word, then each
** message's header and body) and closes the connection at such a header,
** or at one announcing a body over MAX_REQUEST or no body at all (dqlite
** 1.11 aborts on either), before any of it reaches the node.
**
** Refusals are logged, at most LOG_PER_WINDOW per LOG_WINDOW_MS (then a
** count of those not logged), so a scanner cannot flood the log.
*/
#define _GNU_SOURCE
#define _POSIX_C_SOURCE 200809L
#include "proxy.h"
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define HANDSHAKE_MS    10000        /* an incoming TLS handshake's deadline */
#define DRAIN_MS         2000        /* a refused peer's time to read why */
#define MAX_CONNS         256
#define MAX_HANDSHAKES     64
#define MAX_CLIENTS       160        /* clients' connections: the rest of
                                     ** MAX_CONNS stays for handshakes and
                                     ** for peers' Raft */
#define BUF_SIZE        16384
#define ROUNDS              8        /* relay rounds per connection per wake */
#define LOG_WINDOW_MS   10000
#define LOG_PER_WINDOW     20
#define REQ_CONNECT        11        /* dqlite's CONNECT: a Raft stream */
#define REQ_ADD            12        /* dqlite's membership requests */
#define REQ_ASSIGN         13
#define REQ_REMOVE         14
#define REQ_TRANSFER       17
#define REQ_WEIGHT         19        /* (in dqlite after 1.11) */
#define MAX_REQUEST  (64 << 20)      /* a client request's body, bytes */

typedef struct Buf {
  unsigned char a[BUF_SIZE];
  size_t off, n;                     /* bytes a[off .. off+n) to send on */
} Buf;

typedef struct Conn Conn;
struct Conn {
  Conn *next;
  int fd;                            /* TCP, with TLS */
  int plain;                         /* the node's side; -1 until connected */
  SSL *ssl;
  int incoming;                      /* accepted here (else a Raft dial) */
  int relaying;                      /* the handshake is done */
  int draining;                      /* refused: reading until it hangs up */
  int node;                          /* the peer's certificate is a node's */
  long long deadline;                /* of the handshake */
  char zPeer[96];
  char zCert[240];                   /* the peer's certificate, in words */
  Buf up;                            /* TLS peer -> node */
  Buf down;                          /* node -> TLS peer */
  int upEof, upShut, downEof;
  short tlsWant;                     /* POLLIN/POLLOUT OpenSSL waits for */
  int again;                         /* more to do without waiting */
  int iFd, iPlain;                   /* slots in the poll array, or -1 */
  /* a client's requests, followed: the protocol word, then messages */
  unsigned char head[8];
  int nHead, helloSeen;
  unsigned long long skip;           /* body bytes of the current message */
};

struct Proxy {
  int listenFd;
  int wakeFd;                        /* eventfd: adopted connections, stop */
  char *zAddress;
  char *zBackend;
  ProxyLog xLog;
  pthread_t thread;
  int started;
  pthread_mutex_t mutex;
  DqTls *tls;                        /* mutex */
  Conn *adopted;                     /* mutex: from proxy_adopt() */
  int stop;                          /* mutex */
  /* the thread's own */
  Conn *conns;
  int nConn, nHandshake, nClient;
  long long logWindow;
  int nLogged, nSuppressed;
  struct pollfd aPoll[2 + 2*MAX_CONNS + 64];
};

static long long now_ms(void){
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec*1000 + ts.tv_nsec/1000000;
}

/* ------------------------------------------------------------ logging */

/* Log a refusal, within the window's allowance. */
static void log_refusal(Proxy *P, const char *zFmt, ...){
  char z[1024];
  long long now = now_ms();
  va_list ap;
  if( now - P->logWindow >= LOG_WINDOW_MS ){
    if( P->nSuppressed ){
      P->xLog("%d more refused connections in %d s were not logged",
              P->nSuppressed, LOG_WINDOW_MS/1000);
    }
    P->logWindow = now;
    P->nLogged = 0;
    P->nSuppressed = 0;
  }
  if( P->nLogged >= LOG_PER_WINDOW ){
    P->nSuppressed++;
    return;
  }
  P->nLogged++;
  va_start(ap, zFmt);
  vsnprintf(z, sizeof(z), zFmt, ap);
  va_end(ap);
  P->xLog("%s", z);
}

/* Text from a certificate, made safe for the log. */
static void safe_copy(char *zOut, size_t nOut, const char *zIn){
  size_t i;
  for(i=0; zIn[i] && i+1<nOut; i++){
    unsigned char ch = (unsigned char)zIn[i];
    zOut[i] = ch>=0x20 && ch<0x7f ? (char)ch : '?';
  }
  zOut[i] = 0;
}

/* "CN=name, issuer CN=ca" of a certificate. */
static void describe_cert(X509 *pCert, char *z, size_t n){
  char zCn[100] = "", zIssuer[100] = "", zA[100], zB[100];
  X509_NAME_get_text_by_NID(X509_get_subject_name(pCert), NID_commonName,
                            zCn, sizeof(zCn));
  X509_NAME_get_text_by_NID(X509_get_issuer_name(pCert), NID_commonName,
                            zIssuer, sizeof(zIssuer));
  ERR_clear_error();
  safe_copy(zA, sizeof(zA), zCn);
  safe_copy(zB, sizeof(zB), zIssuer);
  snprintf(z, n, "CN=%s, issuer CN=%s", zA[0] ? zA : "?", zB[0] ? zB : "?");
}

/* Remember the certificate OpenSSL refused, for the log. */
static int verify_cb(int ok, X509_STORE_CTX *pStore){
  if( !ok ){
    SSL *ssl = X509_STORE_CTX_get_ex_data(pStore,
                                          SSL_get_ex_data_X509_STORE_CTX_idx());
    Conn *c = ssl ? SSL_get_app_data(ssl) : 0;
    X509 *pCert = X509_STORE_CTX_get0_cert(pStore);   /* the peer's own */
    if( c && pCert && c->zCert[0]==0 ){
      describe_cert(pCert, c->zCert, sizeof(c->zCert));
    }
  }
  return ok;
}

/* Why an incoming handshake failed (e: SSL_get_error()), in words. */
static void handshake_reason(Conn *c, int e, char *z, size_t n){
  unsigned long err = ERR_get_error();
  const char *r = err ? ERR_reason_error_string(err) : 0;
  long v = SSL_get_verify_result(c->ssl);
  ERR_clear_error();
  if( r==0 ) r = "";
  if( v!=X509_V_OK ){
    snprintf(z, n, "its certificate is refused: %s",
             X509_verify_cert_error_string(v));
  }else if( (e==SSL_ERROR_SYSCALL && err==0) || strstr(r, "unexpected eof") ){
    snprintf(z, n, "it closed the connection during the TLS handshake");
  }else if( strstr(r, "did not return a certificate")
         || strstr(r, "certificate required") ){
    snprintf(z, n, "it sent no certificate: every client and node of this "
             "cluster needs one signed by its CA (%s)", r);
  }else if( strstr(r, "alert") ){
    snprintf(z, n, "it ended the TLS handshake (%s): it may not accept this "
             "node's certificate", r);
  }else if( strstr(r, "wrong version number") || strstr(r, "http request")
         || strstr(r, "packet length too long") || strstr(r, "unknown protocol")
         || strstr(r, "record layer failure") || strstr(r, "https proxy") ){
    snprintf(z, n, "not a TLS client (%s): this node speaks TLS 1.3 only", r);
  }else if( strstr(r, "unsupported protocol") || strstr(r, "version too low") ){
    snprintf(z, n, "it does not speak TLS 1.3 (%s)", r);
  }else{
    snprintf(z, n, "TLS handshake failed: %s", r[0] ? r : "unknown error");
  }
}

/* ------------------------------------------------------------ connections */

static void conn_close(Proxy *P, Conn *c){
  Conn **pp;
  for(pp=&P->conns; *pp; pp=&(*pp)->next){
    if( *pp==c ){ *pp = c->next; break; }
  }
  P->nConn--;
  if( c->incoming && !c->relaying && !c->draining ) P->nHandshake--;
  if( c->incoming && c->relaying && !c->node ) P->nClient--;
  SSL_free(c->ssl);
  ERR_clear_error();
  if( c->fd>=0 ) close(c->fd);
  if( c->plain>=0 ) close(c->plain);
  free(c);
}

/* An incoming connection refused, with the reason logged. */
static void refuse(Proxy *P, Conn *c, const char *zWhat, const char *zWhy){
  log_refusal(P, "refused %s from %s: %s%s%s%s", zWhat, c->zPeer, zWhy,
              c->zCert[0] ? " (certificate " : "", c->zCert,
              c->zCert[0] ? ")" : "");
  conn_close(P, c);
}

/* Connect to the node's abstract socket. */
static int open_backend(Proxy *P, Conn *c){
  struct sockaddr_un a;
  size_t n = strlen(P->zBackend + 1);
  memset(&a, 0, sizeof(a));
  a.sun_family = AF_UNIX;
  memcpy(a.sun_path + 1, P->zBackend + 1, n);
  c->plain = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if( c->plain<0 ) return 1;
  return connect(c->plain, (struct sockaddr*)&a,
                 (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + n))!=0;
}

/* The name of a membership request type, or 0 for any other type. */
static const char *membership_request(unsigned char type){
  switch( type ){
    case REQ_ADD:      return "ADD";
    case REQ_ASSIGN:   return "ASSIGN";
    case REQ_REMOVE:   return "REMOVE";
    case REQ_TRANSFER: return "TRANSFER";
    case REQ_WEIGHT:   return "WEIGHT";
  }
  return 0;
}

/* Follow a client's bytes: FOLLOW_CONNECT when a CONNECT request begins in
** them, FOLLOW_MEMBERSHIP when a membership request does (its type stays in
** c->head[4]), FOLLOW_TOO_BIG when a request's header announces more than
** MAX_REQUEST body bytes (dqlite 1.11 crashes on one of 4 GiB: a segfault or
** an abort, before the body has come), FOLLOW_EMPTY when one announces no
** body (dqlite 1.11 fails an assertion, and the node is gone: every request
** has a word at least), else FOLLOW_OK. */
#define FOLLOW_OK          0
#define FOLLOW_CONNECT     1
#define FOLLOW_TOO_BIG     2
#define FOLLOW_MEMBERSHIP  3
#define FOLLOW_EMPTY       4
static int follow(Conn *c, const unsigned char *a, size_t n){
  while( n>0 ){
    if( c->skip>0 ){
      size_t k = c->skip < n ? (size_t)c->skip : n;
      a += k;
      n -= k;
      c->skip -= k;
      continue;
    }
    c->head[c->nHead++] = *a++;
    n--;
    if( c->nHead<8 ) continue;
    c->nHead = 0;
    if( !c->helloSeen ){              /* the protocol word */
      c->helloSeen = 1;
      continue;
    }
    if( c->head[4]==REQ_CONNECT ) return FOLLOW_CONNECT;
    if( membership_request(c->head[4]) ) return FOLLOW_MEMBERSHIP;
    c->skip = 8ULL * ((unsigned long long)c->head[0]
                      | (unsigned long long)c->head[1] << 8
                      | (unsigned long long)c->head[2] << 16
                      | (unsigned long long)c->head[3] << 24);
    if( c->skip>MAX_REQUEST ) return FOLLOW_TOO_BIG;
    if( c->skip==0 ) return FOLLOW_EMPTY;
  }
  return FOLLOW_OK;
}

/* The handshake of an incoming connection, as far as it goes now. */
static void handshake(Proxy *P, Conn *c){
  int r, e;
  char zWhy[400];
  ERR_clear_error();
  r = SSL_do_handshake(c->ssl);
  if( r==1 ){
    X509 *pCert = SSL_get0_peer_certificate(c->ssl);
    c->node = pCert && X509_check_purpose(pCert, X509_PURPOSE_SSL_SERVER, 0)==1;
    if( pCert ) describe_cert(pCert, c->zCert, sizeof(c->zCert));
    ERR_clear_error();
    if( !c->node && P->nClient>=MAX_CLIENTS ){
      /* without this, clients' connections could fill MAX_CONNS and lock
      ** the other nodes' Raft out */
      snprintf(zWhy, sizeof(zWhy), "too many client connections (%d): the "
               "other connections are kept for nodes", MAX_CLIENTS);
      refuse(P, c, "a connection", zWhy);
      return;
    }
    if( open_backend(P, c) ){
      snprintf(zWhy, sizeof(zWhy), "cannot reach this node's dqlite: %s",
               strerror(errno));
      refuse(P, c, "a connection", zWhy);
      return;
    }
    c->relaying = 1;
    c->again = 1;                     /* bytes may have come with it */
    P->nHandshake--;
    if( !c->node ) P->nClient++;
    return;
  }
  e = SSL_get_error(c->ssl, r);
  if( e==SSL_ERROR_WANT_READ || e==SSL_ERROR_WANT_WRITE ){
    c->tlsWant = e==SSL_ERROR_WANT_READ ? POLLIN : POLLOUT;
    ERR_clear_error();
    return;
  }
  handshake_reason(c, e, zWhy, sizeof(zWhy));
  log_refusal(P, "refused a connection from %s: %s%s%s%s", c->zPeer, zWhy,
              c->zCert[0] ? " (certificate " : "", c->zCert,
              c->zCert[0] ? ")" : "");
  /* Our alert is on its way.  In TLS 1.3 a client learns that its
  ** certificate was refused only when it reads, after it has sent its first
  ** request: closing now, with that request unread, would reset the
  ** connection and lose the alert.  So the connection stays half-open for
  ** DRAIN_MS, its input read and dropped, until the peer hangs up. */
  SSL_free(c->ssl);
  c->ssl = 0;
  ERR_clear_error();
  shutdown(c->fd, SHUT_WR);
  c->draining = 1;
  c->tlsWant = POLLIN;
  c->deadline = now_ms() + DRAIN_MS;
  P->nHandshake--;
}

/* A refused connection: drop what it sends; close when it hangs up. */
static void drain(Proxy *P, Conn *c){
  char buf[4096];
  int i;
  for(i=0; i<16; i++){
    ssize_t m = recv(c->fd, buf, sizeof(buf), MSG_DONTWAIT);
    if( m>0 ) continue;
    if( m<0 && (errno==EAGAIN || errno==EWOULDBLOCK || errno==EINTR) ) return;
    break;
  }
  if( i<16 ) conn_close(P, c);
}

/* A TLS error while relaying: the peer went away (quietly) or broke the
** session (logged). */
static void relay_tls_error(Proxy *P, Conn *c, int e){
  unsigned long err = ERR_get_error();
  const char *r = err ? ERR_reason_error_string(err) : 0;
  ERR_clear_error();
  if( e==SSL_ERROR_ZERO_RETURN || (e==SSL_ERROR_SYSCALL && err==0)
   || (r && strstr(r, "unexpected eof")) ){
    conn_close(P, c);
    return;
  }
  if( c->incoming ){
    log_refusal(P, "dropped the connection from %s: %s (certificate %s)",
                c->zPeer, r ? r : "TLS error", c->zCert);
  }else{
    log_refusal(P, "Raft connection to %s ended: %s%s", c->zPeer,
                r ? r : "TLS error",
                r && strstr(r, "alert") ? " (the peer may not accept this "
                "node's certificate)" : "");
  }
  conn_close(P, c);
}

/* An SSL_get_error() code that asks the relay to wait for its socket
** (TLS may need to read in order to write, and the other way round):
** noted in c->tlsWant for poll(), and 1.  0 for any other. */
static int tls_wait(Conn *c, int e){
  if( e==SSL_ERROR_WANT_READ ) c->tlsWant |= POLLIN;
  else if( e==SSL_ERROR_WANT_WRITE ) c->tlsWant |= POLLOUT;
  else return 0;
  return 1;
}

/* Move what can be moved now, both ways.  Returns 1 when c was closed. */
static int relay(Proxy *P, Conn *c){
  int progress = 1, round;
  c->again = 0;
  for(round=0; progress && round<ROUNDS; round++){
    size_t k;
    ssize_t m;
    int r, e;
    progress = 0;
    c->tlsWant = 0;
    /* the TLS peer -> up */
    if( !c->upEof && c->up.n==0 ){
      ERR_clear_error();
      r = SSL_read_ex(c->ssl, c->up.a, BUF_SIZE, &k);
      if( r==1 ){
        c->up.off = 0;
        c->up.n = k;
        progress = 1;
        if( !c->node ){
          int f = follow(c, c->up.a, k);
          if( f==FOLLOW_CONNECT ){
            refuse(P, c, "a Raft connection", "Raft is for nodes, and its "
                   "certificate is a client's (no extendedKeyUsage "
                   "serverAuth)");
            return 1;
          }
          if( f==FOLLOW_MEMBERSHIP ){
            char zWhat[64];
            snprintf(zWhat, sizeof(zWhat), "a membership request (%s)",
                     membership_request(c->head[4]));
            refuse(P, c, zWhat, "membership changes are for nodes' "
                   "certificates, and this one is a client's (no "
                   "extendedKeyUsage serverAuth); send it with a node's");
            return 1;
          }
          if( f==FOLLOW_EMPTY ){
            refuse(P, c, "a request", "it announced a request with no "
                   "body, which dqlite 1.11 aborts on");
            return 1;
          }
          if( f==FOLLOW_TOO_BIG ){
            char zWhy[160];
            snprintf(zWhy, sizeof(zWhy), "it announced a request of %llu "
                     "bytes, over the limit of %d MiB", c->skip,
                     MAX_REQUEST >> 20);
            refuse(P, c, "a request", zWhy);
            return 1;
          }
        }
      }else{
        e = SSL_get_error(c->ssl, r);
        if( e==SSL_ERROR_ZERO_RETURN ){
          c->upEof = 1;               /* the peer is done sending */
          progress = 1;
        }else if( !tls_wait(c, e) ){
          relay_tls_error(P, c, e);
          return 1;
        }
        ERR_clear_error();
      }
    }
    /* up -> the node */
    if( c->up.n ){
      m = send(c->plain, c->up.a + c->up.off, c->up.n,
               MSG_NOSIGNAL | MSG_DONTWAIT);
      if( m>0 ){
        c->up.off += (size_t)m;
        c->up.n -= (size_t)m;
        progress = 1;
      }else if( !(m<0 && (errno==EAGAIN || errno==EWOULDBLOCK
                          || errno==EINTR)) ){
        conn_close(P, c);
        return 1;
      }
    }
    if( c->upEof && c->up.n==0 && !c->upShut ){
      shutdown(c->plain, SHUT_WR);    /* the node sees the end */
      c->upShut = 1;
    }
    /* the node -> down */
    if( !c->downEof && c->down.n==0 ){
      m = recv(c->plain, c->down.a, BUF_SIZE, MSG_DONTWAIT);
      if( m>0 ){
        c->down.off = 0;
        c->down.n = (size_t)m;
        progress = 1;
      }else if( m==0 ){
        c->downEof = 1;
        progress = 1;
      }else if( errno!=EAGAIN && errno!=EWOULDBLOCK && errno!=EINTR ){
        conn_close(P, c);
        return 1;
      }
    }
    /* down -> the TLS peer */
    if( c->down.n ){
      ERR_clear_error();
      r = SSL_write_ex(c->ssl, c->down.a + c->down.off, c->down.n, &k);
      if( r==1 ){
        c->down.off += k;
        c->down.n -= k;
        progress = 1;
      }else{
        e = SSL_get_error(c->ssl, r);
        if( !tls_wait(c, e) ){
          relay_tls_error(P, c, e);
          return 1;
        }
        ERR_clear_error();
      }
    }
    if( c->downEof && c->down.n==0 ){
      /* the node closed and all it said was sent: say goodbye, once */
      ERR_clear_error();
      SSL_shutdown(c->ssl);
      conn_close(P, c);
      return 1;
    }
  }
  c->again = progress;
  return 0;
}

static void step(Proxy *P, Conn *c){
  if( c->relaying ) relay(P, c);
  else if( c->draining ) drain(P, c);
  else handshake(P, c);
}

/* The peer's address, as text. */
static void peer_name(int fd, char *z, size_t n){
  struct sockaddr_storage a;
  socklen_t na = sizeof(a);
  char zHost[64], zPort[16];
  if( getpeername(fd, (struct sockaddr*)&a, &na)!=0
   || getnameinfo((struct sockaddr*)&a, na, zHost, sizeof(zHost), zPort,
                  sizeof(zPort), NI_NUMERICHOST | NI_NUMERICSERV)!=0 ){
    snprintf(z, n, "an unknown address");
  }else if( a.ss_family==AF_INET6 ){
    snprintf(z, n, "[%s]:%s", zHost, zPort);
  }else{
    snprintf(z, n, "%s:%s", zHost, zPort);
  }
}

/* The connection to close to make room for a new one: one not yet
** authenticated, a refused one being drained first, else the handshake
** accepted first (handshakesOnly: a handshake only); 0 if every connection
** is authenticated.  Refusing the new one instead let 64 idle TCP
** connections, no certificate needed, lock every client and peer out. */
static Conn *oldest_unauthenticated(Proxy *P, int handshakesOnly){
  Conn *c, *pBest = 0;
  for(c=P->conns; c; c=c->next){
    if( !c->incoming || c->relaying ) continue;
    if( handshakesOnly && c->draining ) continue;
    if( pBest==0
     || (c->draining && !pBest->draining)
     || (c->draining==pBest->draining && c->deadline<pBest->deadline) ){
      pBest = c;
    }
  }
  return pBest;
}

static void accept_all(Proxy *P){
  int i;
  for(i=0; i<64; i++){
    int one = 1;
    Conn *c;
    int fd = accept4(P->listenFd, 0, 0, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if( fd<0 ) return;               /* EAGAIN, or nothing we can do now */
    if( P->nConn>=MAX_CONNS || P->nHandshake>=MAX_HANDSHAKES ){
      Conn *pOld = oldest_unauthenticated(P, P->nHandshake>=MAX_HANDSHAKES);
      if( pOld ){
        log_refusal(P, "dropped %s from %s to make room for a new one: "
                    "%s", pOld->draining ? "a refused connection"
                    : "an unfinished TLS handshake", pOld->zPeer,
                    P->nHandshake>=MAX_HANDSHAKES
                    ? "too many TLS handshakes under way (64)"
                    : "too many connections (256)");
        conn_close(P, pOld);
      }
    }
    if( P->nConn>=MAX_CONNS || P->nHandshake>=MAX_HANDSHAKES ){
      char zPeer[96];
      peer_name(fd, zPeer, sizeof(zPeer));
      log_refusal(P, "refused a connection from %s: too many %s (%d)", zPeer,
                  P->nConn>=MAX_CONNS ? "connections" : "TLS handshakes "
                  "under way", P->nConn>=MAX_CONNS ? MAX_CONNS
                  : MAX_HANDSHAKES);
      close(fd);
      continue;
    }
    c = calloc(1, sizeof(*c));
    if( c ){
      pthread_mutex_lock(&P->mutex);
      c->ssl = SSL_new(P->tls);
      pthread_mutex_unlock(&P->mutex);
    }
    if( c==0 || c->ssl==0 || SSL_set_fd(c->ssl, fd)!=1 ){
      if( c ) SSL_free(c->ssl);
      ERR_clear_error();
      free(c);
      close(fd);
      P->xLog("refused a connection: out of memory");
      continue;
    }
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    c->fd = fd;
    c->plain = -1;
    c->incoming = 1;
    c->deadline = now_ms() + HANDSHAKE_MS;
    peer_name(fd, c->zPeer, sizeof(c->zPeer));
    SSL_set_app_data(c->ssl, c);
    SSL_set_verify(c->ssl, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT,
                   verify_cb);
    SSL_set_accept_state(c->ssl);
    c->next = P->conns;
    P->conns = c;
    P->nConn++;
    P->nHandshake++;
    handshake(P, c);                 /* its ClientHello may be here already */
  }
}

/* ------------------------------------------------------------ the thread */

static void *proxy_main(void *pArg){
  Proxy *P = pArg;
  for(;;){
    struct pollfd *a = P->aPoll;
    int n = 0, timeout = -1, stop;
    long long now = now_ms();
    Conn *c, *pNext;
    a[n].fd = P->wakeFd; a[n].events = POLLIN; a[n].revents = 0; n++;
    a[n].fd = P->listenFd; a[n].events = POLLIN; a[n].revents = 0; n++;
    for(c=P->conns; c; c=c->next){
      short ev = c->tlsWant;
      c->iFd = c->iPlain = -1;
      if( c->again ) timeout = 0;
      if( !c->relaying ){                /* a handshake's or a drain's end */
        long long left = c->deadline - now;
        if( left<0 ) left = 0;
        if( timeout<0 || left<timeout ) timeout = (int)left;
      }
      if( ev && n<(int)(sizeof(P->aPoll)/sizeof(P->aPoll[0])) ){
        c->iFd = n;
        a[n].fd = c->fd; a[n].events = ev; a[n].revents = 0; n++;
      }
      if( c->relaying ){
        ev = (short)((!c->downEof && c->down.n==0 ? POLLIN : 0)
                     | (c->up.n ? POLLOUT : 0));
        if( ev && n<(int)(sizeof(P->aPoll)/sizeof(P->aPoll[0])) ){
          c->iPlain = n;
          a[n].fd = c->plain; a[n].events = ev; a[n].revents = 0; n++;
        }
      }
    }
    if( P->nSuppressed ){
      long long left = P->logWindow + LOG_WINDOW_MS - now;
      if( left<0 ) left = 0;
      if( timeout<0 || left<timeout ) timeout = (int)left;
    }
    if( poll(a, (nfds_t)n, timeout)<0 && errno!=EINTR ) break;
    if( a[0].revents ){
      uint64_t v;
      Conn *pNew;
      if( read(P->wakeFd, &v, sizeof(v))<0 ){ /* nothing to take */ }
      pthread_mutex_lock(&P->mutex);
      stop = P->stop;
      pNew = P->adopted;
      P->adopted = 0;
      pthread_mutex_unlock(&P->mutex);
      while( pNew ){
        c = pNew;
        pNew = c->next;
        c->next = P->conns;
        P->conns = c;
        P->nConn++;
        c->again = 1;
      }
      if( stop ) break;
    }
    if( a[1].revents ) accept_all(P);
    now = now_ms();
    for(c=P->conns; c; c=pNext){
      int ready = (c->iFd>=0 && a[c->iFd].revents)
               || (c->iPlain>=0 && a[c->iPlain].revents);
      pNext = c->next;
      if( c->draining && now>=c->deadline ){
        conn_close(P, c);
      }else if( !c->relaying && !c->draining && now>=c->deadline ){
        char zWhy[100];
        snprintf(zWhy, sizeof(zWhy), "it did not finish its TLS handshake "
                 "within %d s", HANDSHAKE_MS/1000);
        refuse(P, c, "a connection", zWhy);
      }else if( ready || c->again ){
        step(P, c);
      }
    }
    if( P->nSuppressed && now - P->logWindow >= LOG_WINDOW_MS ){
      P->xLog("%d more refused connections in %d s were not logged",
              P->nSuppressed, LOG_WINDOW_MS/1000);
      P->nSuppressed = 0;
      P->nLogged = 0;
      P->logWindow = now;
    }
  }
  while( P->conns ) conn_close(P, P->conns);
  return 0;
}

/* ------------------------------------------------------------ the API */

static int fail(char **pzErr, const char *zFmt, ...){
  char z[600];
  va_list ap;
  va_start(ap, zFmt);
  vsnprintf(z, sizeof(z), zFmt, ap);
  va_end(ap);
  *pzErr = strdup(z);
  return 1;
}

int proxy_new(const char *zAddress, const char *zBackend, DqTls *pTls,
              ProxyLog xLog, Proxy **pp, char **pzErr){
  Proxy *P;
  char zHost[256];
  const char *zColon = strrchr(zAddress, ':');
  struct addrinfo hints, *pRes = 0, *q;
  int rc, one = 1, e = 0;
  *pp = 0;
  *pzErr = 0;
  if( zColon==0 || zColon==zAddress
   || (size_t)(zColon - zAddress) >= sizeof(zHost) ){
    return fail(pzErr, "bad address %s: want HOST:PORT", zAddress);
  }
  memcpy(zHost, zAddress, (size_t)(zColon - zAddress));
  zHost[zColon - zAddress] = 0;
  if( zHost[0]=='[' && zHost[strlen(zHost)-1]==']' ){
    memmove(zHost, zHost+1, strlen(zHost));
    zHost[strlen(zHost)-1] = 0;
  }
  P = calloc(1, sizeof(*P));
  if( P==0 ) return fail(pzErr, "out of memory");
  P->listenFd = -1;
  P->wakeFd = -1;
  P->xLog = xLog;
  pthread_mutex_init(&P->mutex, 0);
  P->zAddress = strdup(zAddress);
  P->zBackend = strdup(zBackend);
  P->tls = dq_tls_ref(pTls);
  P->logWindow = now_ms();
  if( P->zAddress==0 || P->zBackend==0 ){
    proxy_free(P);
    return fail(pzErr, "out of memory");
  }
  memset(&hints, 0, sizeof(hints));
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE;
  rc = getaddrinfo(zHost, zColon+1, &hints, &pRes);
  if( rc ){
    proxy_free(P);
    return fail(pzErr, "cannot resolve %s: %s", zAddress, gai_strerror(rc));
  }
  for(q=pRes; q; q=q->ai_next){
    int fd = socket(q->ai_family, q->ai_socktype | SOCK_NONBLOCK
                    | SOCK_CLOEXEC, q->ai_protocol);
    if( fd<0 ){ e = errno; continue; }
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if( bind(fd, q->ai_addr, q->ai_addrlen)==0 && listen(fd, 128)==0 ){
      P->listenFd = fd;
      break;
    }
    e = errno;
    close(fd);
  }
  freeaddrinfo(pRes);
  if( P->listenFd<0 ){
    proxy_free(P);
    return fail(pzErr, "cannot listen on %s: %s", zAddress, strerror(e));
  }
  P->wakeFd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if( P->wakeFd<0 ){
    e = errno;
    proxy_free(P);
    return fail(pzErr, "eventfd: %s", strerror(e));
  }
  *pp = P;
  return 0;
}

int proxy_start(Proxy *P, char **pzErr){
  int rc = pthread_create(&P->thread, 0, proxy_main, P);
  *pzErr = 0;
  if( rc ) return fail(pzErr, "cannot start the TLS proxy: %s", strerror(rc));
  P->started = 1;
  return 0;
}

DqTls *proxy_tls(Proxy *P){
  DqTls *t;
  pthread_mutex_lock(&P->mutex);
  t = dq_tls_ref(P->tls);
  pthread_mutex_unlock(&P->mutex);
  return t;
}

void proxy_set_tls(Proxy *P, DqTls *pTls){
  DqTls *pOld;
  dq_tls_ref(pTls);
  pthread_mutex_lock(&P->mutex);
  pOld = P->tls;
  P->tls = pTls;
  pthread_mutex_unlock(&P->mutex);
  dq_tls_free(pOld);
}

static void wake(Proxy *P){
  uint64_t one = 1;
  if( write(P->wakeFd, &one, sizeof(one))<0 ){ /* already awake */ }
}

int proxy_adopt(Proxy *P, int fd, struct ssl_st *ssl, int plainFd,
                const char *zPeer){
  Conn *c = calloc(1, sizeof(*c));
  int stopping = 1;
  if( c && fcntl(plainFd, F_SETFL, fcntl(plainFd, F_GETFL) | O_NONBLOCK)==0 ){
    pthread_mutex_lock(&P->mutex);
    stopping = P->stop;
    if( !stopping ){
      c->fd = fd;
      c->plain = plainFd;
      c->ssl = ssl;
      c->relaying = 1;
      c->node = 1;
      c->iFd = c->iPlain = -1;
      snprintf(c->zPeer, sizeof(c->zPeer), "%s", zPeer);
      SSL_set_app_data(ssl, c);
      c->next = P->adopted;
      P->adopted = c;
    }
    pthread_mutex_unlock(&P->mutex);
    if( !stopping ){
      wake(P);
      return 0;
    }
  }
  free(c);
  SSL_free(ssl);
  close(fd);
  close(plainFd);
  return 1;
}

void proxy_free(Proxy *P){
  if( P==0 ) return;
  if( P->started ){
    pthread_mutex_lock(&P->mutex);
    P->stop = 1;
    pthread_mutex_unlock(&P->mutex);
    wake(P);
    pthread_join(P->thread, 0);
  }
  while( P->adopted ){
    Conn *c = P->adopted;
    P->adopted = c->next;
    SSL_free(c->ssl);
    close(c->fd);
    close(c->plain);
    free(c);
  }
  ERR_clear_error();
  if( P->listenFd>=0 ) close(P->listenFd);
  if( P->wakeFd>=0 ) close(P->wakeFd);
  dq_tls_free(P->tls);
  pthread_mutex_destroy(&P->mutex);
  free(P->zAddress);
  free(P->zBackend);
  free(P);
}
