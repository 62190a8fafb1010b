/*
** rpcverd's TLS proxy (cluster/proxy.c).
**
** dqlite 1.11 speaks plain TCP.  With TLS, rpcverd binds its dqlite node
** to an abstract Unix socket, which dqlite serves to its own process only,
** and the proxy stands in front of it, as go-dqlite does:
**
**  - incoming: it listens on the node's HOST:PORT, completes each TLS 1.3
**    handshake (the peer's certificate verified against the cluster's CA)
**    within a deadline, then relays the connection to the node's socket;
**  - outgoing: rpcverd's connect function (dqlite_node_set_connect_func)
**    dials a peer with TLS and hands the proxy that session and one end of
**    a socket pair, whose other end dqlite gets as its Raft connection.
**
** One thread relays every connection, non-blocking, in both directions.
*/
#ifndef RPCVER_PROXY_H
#define RPCVER_PROXY_H

#include "dqlite_client.h"

typedef struct Proxy Proxy;

/* How the proxy says what it did: rpcverd's log. */
typedef void (*ProxyLog)(const char *zFmt, ...);

/* Bind and listen on zAddress (HOST:PORT), to relay to zBackend ("@NAME",
** an abstract Unix socket) with pTls (a reference is taken).  Nothing is
** accepted before proxy_start().  On failure *pzErr says why. */
int proxy_new(const char *zAddress, const char *zBackend, DqTls *pTls,
              ProxyLog xLog, Proxy **pp, char **pzErr);
/* Start the thread that accepts and relays. */
int proxy_start(Proxy *p, char **pzErr);
/* The TLS configuration new connections use, with a reference for the
** caller (dq_tls_free() it). */
DqTls *proxy_tls(Proxy *p);
/* Use pTls for new connections from now on (a reference is taken); those
** under way keep theirs. */
void proxy_set_tls(Proxy *p, DqTls *pTls);
/* Relay an outgoing connection: the TLS session ssl on socket fd, to and
** from plainFd (the proxy's end of a socket pair).  The proxy owns all
** three from the call on, even when it fails (non-zero). */
int proxy_adopt(Proxy *p, int fd, struct ssl_st *ssl, int plainFd,
                const char *zPeer);
/* Stop the thread, close every connection and free p. */
void proxy_free(Proxy *p);

#endif /* RPCVER_PROXY_H */
