/*
** A small client of dqlite's wire protocol (cluster/PROTOCOL.md), enough
** for rpcver: find the leader, open a database, run SQL with text
** parameters and read its rows, and change the cluster's membership.
**
** One DqClient is one connection to one node: TCP, TLS 1.3 over TCP when
** its limits name a DqTls (a node run with --tls-*; below), or an abstract
** Unix socket ("@NAME", rpcverd's own node).  Every call is a request
** and its response; each returns DQ_OK, DQ_FAILED (the node answered with
** a failure: dq_errcode() is its SQLite code, dq_errmsg() its message) or
** DQ_IOERR (the connection broke, a deadline passed, a cap was exceeded or
** the node spoke nonsense: the connection is closed then, and every later
** call on it fails at once; close it and connect anew).
**
** Every call is bounded (DqLimits): it ends within its deadline however the
** node behaves (an overall deadline from the call's start, not a timeout
** per read that a peer sending a byte at a time could stretch forever);
** an answer larger than the byte cap, or a result of more rows than the row
** cap, is refused as soon as it is announced or counted, before it is read
** or held in full; and a call can be stopped at once from outside (a file
** descriptor that becomes readable, such as a signalfd).
*/
#ifndef RPCVER_DQLITE_CLIENT_H
#define RPCVER_DQLITE_CLIENT_H

#include <stdint.h>

#define DQ_OK      0
#define DQ_FAILED  1
#define DQ_IOERR   2

#define DQ_VOTER   0           /* roles, for dq_assign() and DqServer */
#define DQ_STANDBY 1
#define DQ_SPARE   2

/* SQLite's SQLITE_IOERR_NOT_LEADER and SQLITE_IOERR_LEADERSHIP_LOST, which
** <sqlite3.h> 3.40 does not define: the node is not (or no longer) the
** leader, so ask another. */
#define DQ_NOT_LEADER      (10 | (40<<8))
#define DQ_LEADERSHIP_LOST (10 | (41<<8))

typedef struct DqClient DqClient;

/* TLS: a client's certificate and key and the cluster's CA, loaded once and
** shared by any number of connections (and threads).  It is OpenSSL's
** SSL_CTX, so a program may tune it further before use. */
typedef struct ssl_ctx_st DqTls;
struct ssl_st;                 /* OpenSSL's SSL, for dq_dial() */

typedef struct DqServer {
  uint64_t id;
  char *zAddress;
  int role;
} DqServer;

/* The rows of a query, every value as text (NULL for SQL NULL); aType has
** SQLite's type of each value. */
typedef struct DqRows {
  int nCol;
  char **azCol;
  int nRow, nAlloc;
  int *aType;
  char **azVal;                /* nRow * nCol */
} DqRows;

/* The bounds of every call on a connection.  dq_limits_init() sets the
** defaults below; change fields after it. */
#define DQ_DEFAULT_TIMEOUT_MS  10000          /* 10 s */
#define DQ_DEFAULT_MAX_ROWS    1000000        /* rows of one result */
#define DQ_DEFAULT_MAX_BYTES   (64LL << 20)   /* 64 MiB of one answer */
typedef struct DqLimits {
  /* Each call's deadline, from its start: connecting and the handshake, or
  ** a request and its whole answer (every batch of a query's rows). */
  int timeoutMs;
  /* A moment (dq_clock_ms()) that no call passes, whatever timeoutMs
  ** says: a deadline for a series of calls.  0: none. */
  long long deadlineMs;
  /* Caps on one answer: the rows of a query's result, and the bytes of the
  ** response messages (headers included, every batch together). */
  long long maxRows;
  long long maxBytes;
  /* A call stops, failing with DQ_IOERR, as soon as this descriptor is
  ** readable (a signalfd for SIGTERM, say); -1: none.  Never read here. */
  int cancelFd;
  /* Connections made with these limits speak TLS with this configuration
  ** (dq_tls_new); NULL, the default: plain TCP.  It must stay valid while
  ** connections are being made with it; they keep their own reference. */
  DqTls *tls;
} DqLimits;

void dq_limits_init(DqLimits *pLimits);

/* Load a client's TLS configuration: zCert (PEM: the certificate, then any
** intermediates and the CA, as cluster/certs.sh writes it), zKey (its PEM
** private key) and zCa (PEM: the cluster's CA certificate, the only one
** trusted).  TLS 1.3 only; the node's certificate must chain to zCa and be
** a node's (good for a TLS server: extendedKeyUsage serverAuth); the names
** in it are not checked (the CA signs the cluster's members only).  The
** certificate is checked here against zCa: one that has expired, is not
** yet valid, is not signed by zCa or is not good for a TLS client is
** refused, and so is a key that does not match it.  DQ_OK, or DQ_FAILED
** with *pzErr saying why (free with free()). */
int dq_tls_new(const char *zCert, const char *zKey, const char *zCa,
               DqTls **ppTls, char **pzErr);
/* Another reference to p (returned); dq_tls_free() drops one. */
DqTls *dq_tls_ref(DqTls *p);
void dq_tls_free(DqTls *p);
/* Milliseconds on CLOCK_MONOTONIC, the clock of DqLimits.deadlineMs. */
long long dq_clock_ms(void);

/* Connect to zAddress ("HOST:PORT") and say hello, within the limits'
** deadline; later calls keep to the same limits.  On DQ_IOERR *pp is still
** set (for the message) and must be closed. */
int dq_connect_with(const char *zAddress, const DqLimits *pLimits,
                    DqClient **pp);
/* Connect to the leader of the cluster that the node addresses in zList
** (separated by commas or blanks) belong to, asking each in turn (each
** try within 2 s) until the limits' deadline (timeoutMs from now, or
** deadlineMs when sooner) has passed; the connection then keeps to the
** limits.  On failure *pzErr says why (free with free()). */
int dq_connect_leader_with(const char *zList, const DqLimits *pLimits,
                           DqClient **pp, char **pzErr);
/* Connect to zAddress, then do the TLS handshake when pLimits->tls, within
** the limits' deadline, but say nothing: for a program that relays the
** connection (rpcverd's Raft connections to its peers).  On DQ_OK *pFd is
** the connected socket (non-blocking) and *ppSsl its TLS session (NULL
** without TLS; free it with SSL_free() before closing the socket);
** otherwise *pzErr says why (free with free()). */
int dq_dial(const char *zAddress, const DqLimits *pLimits, int *pFd,
            struct ssl_st **ppSsl, char **pzErr);
/* The same with the default limits and timeoutMs as the deadline. */
int dq_connect(const char *zAddress, int timeoutMs, DqClient **pp);
int dq_connect_leader(const char *zList, int timeoutMs, DqClient **pp,
                      char **pzErr);
/* Change the limits of the calls to come. */
void dq_set_limits(DqClient *p, const DqLimits *pLimits);
void dq_close(DqClient *p);

int dq_errcode(DqClient *p);
const char *dq_errmsg(DqClient *p);
const char *dq_address(DqClient *p);

/* The leader this node knows of: id 0 and "" when it knows none. */
int dq_leader(DqClient *p, uint64_t *pId, char **pzAddress);
/* The cluster's servers; free with dq_servers_free(). */
int dq_servers(DqClient *p, DqServer **paServer, int *pnServer);
void dq_servers_free(DqServer *a, int n);
/* Membership changes, sent to the leader. */
int dq_add(DqClient *p, uint64_t id, const char *zAddress);
int dq_assign(DqClient *p, uint64_t id, int role);
/* Hand leadership to node id (sent to the leader). */
int dq_transfer(DqClient *p, uint64_t id);

/* Open the database zName (created on first use) on this connection. */
int dq_open(DqClient *p, const char *zName);
/* Run zSql, which may hold several statements; azParam (NULL entries are
** SQL NULL; at most 255) binds to the first. */
int dq_exec(DqClient *p, const char *zSql, int nParam,
            const char *const *azParam, uint64_t *pnChanged);
/* Run one statement and load its rows into *pRows (always initialized,
** so dq_rows_free() is always safe). */
int dq_query(DqClient *p, const char *zSql, int nParam,
             const char *const *azParam, DqRows *pRows);
void dq_rows_free(DqRows *pRows);

#endif /* RPCVER_DQLITE_CLIENT_H */
