/*
** rpcverd: a dqlite node with rpcver on every connection.
**
**   rpcverd --id N --address HOST:PORT --dir DIR [--join HOST:PORT,...]
**           [--join-timeout SECONDS]
**           [--tls-cert FILE --tls-key FILE --tls-ca FILE | --insecure]
**
** dqlite (Raft-replicated SQLite) runs the SQL that clients send over its
** wire protocol on the leader's connections, and ships the written pages to
** the other nodes.  This host makes rpcver part of that engine:
**
**  - sqlite3_auto_extension() registers rpcver on every connection dqlite
**    opens, in its replicated mode (ext/write.c): the write functions refuse
**    to run outside BEGIN...COMMIT, where dqlite 1.11 would not replicate
**    their writes.  Registration never writes, so the connections followers
**    open to apply and checkpoint are safe.  Every node must run rpcverd:
**    after a leader change, the triggers call rpcver's helpers on whichever
**    node leads.
**  - An authorizer on each connection refuses the PRAGMAs that crash a
**    dqlite 1.11 leader when a client sends them (journal_mode and
**    page_size other than the values dqlite sets itself).
**  - SIGPIPE is ignored: dqlite 1.11 writes to peers' sockets without
**    MSG_NOSIGNAL, and a leader's death would kill its followers.
**  - Node 1 bootstraps a cluster of one.  A fresh node given --join asks
**    the leader to ADD it and ASSIGN it the voter role (this libdqlite has
**    no join call of its own); a node restarting from its data directory
**    is already a member and just starts.  Joining ends within
**    --join-timeout (60 s by default) however slowly the nodes answer:
**    every request of it has a deadline of 2 s, cut short by that one.
**  - It logs every leader change it sees (asking its own node every
**    250 ms) and stops cleanly on SIGTERM or SIGINT, at once, even in the
**    middle of a request: the signals are blocked in every thread and read
**    from a signalfd, which every wait of the client polls too.
**  - With --tls-cert, --tls-key and --tls-ca (or RPCVER_TLS_CERT, _KEY and
**    _CA), every connection, from clients and between nodes, is TLS 1.3
**    with certificates verified against the cluster's CA both ways.
**    dqlite 1.11 speaks plain TCP, so, as go-dqlite does, the node is bound
**    to an abstract Unix socket, which dqlite serves to this process only,
**    and cluster/proxy.c terminates TLS on HOST:PORT in front of it; the
**    node's own Raft connections to its peers are dialled here with TLS
**    (dqlite_node_set_connect_func) and relayed through a socket pair.
**    SIGHUP loads the three files again: new connections use them, and a
**    set that does not load is refused with the old one kept.
**  - Without TLS it listens on loopback addresses only, unless --insecure
**    says the network is trusted: anyone who reaches a plain node can join
**    the cluster, run any SQL or take the leadership.
*/
#define _DEFAULT_SOURCE
#define _POSIX_C_SOURCE 200809L
#include <dqlite.h>
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include "rpcver.h"
#include "dqlite_client.h"
#include "proxy.h"

#define DQLITE_PAGE_SIZE "4096"      /* what dqlite 1.11 sets on open */

#define JOIN_TRY_MS 2000             /* each request while joining */
#define RAFT_DIAL_MS 5000            /* a Raft connection's TCP and TLS */

typedef struct Options {
  unsigned long long id;
  const char *zAddress;
  const char *zDir;
  const char *zJoin;
  long joinTimeoutS;                 /* --join-timeout, default 60 */
  const char *zTlsCert, *zTlsKey, *zTlsCa;   /* all three, or none */
  int insecure;                      /* --insecure */
  int stopFd;                        /* signalfd: SIGTERM, SIGINT, SIGHUP */
  /* with TLS */
  Proxy *pProxy;                     /* TLS on zAddress, dqlite behind it */
  const char *zBind;                 /* the node's abstract socket */
  int stoppingFd;                    /* eventfd, readable once stopping */
} Options;

static unsigned long long g_logId;   /* written once, before any thread */

static void log_line(const char *zFmt, ...){
  va_list ap;
  struct timespec ts;
  struct tm tm;
  char zTime[32];
  char zLine[1024];
  int n;
  clock_gettime(CLOCK_REALTIME, &ts);
  gmtime_r(&ts.tv_sec, &tm);
  strftime(zTime, sizeof(zTime), "%H:%M:%S", &tm);
  n = snprintf(zLine, sizeof(zLine), "%s.%03ld rpcverd %llu: ", zTime,
               ts.tv_nsec/1000000, g_logId);
  va_start(ap, zFmt);
  vsnprintf(zLine + n, sizeof(zLine) - (size_t)n - 1, zFmt, ap);
  va_end(ap);
  n = (int)strlen(zLine);
  zLine[n++] = '\n';
  /* One write per line: dqlite's threads log too (the authorizer). */
  if( write(2, zLine, (size_t)n)<0 ){ /* nowhere left to say so */ }
}

/* ------------------------------------------------ every connection */

/* Refuse the PRAGMAs that crash a dqlite 1.11 leader; allow reading them,
** and the values dqlite itself sets when it opens a connection. */
static int refuse_crashing_pragmas(void *pArg, int action, const char *zName,
                                   const char *zValue, const char *zDb,
                                   const char *zTrigger){
  (void)pArg; (void)zDb; (void)zTrigger;
  if( action!=SQLITE_PRAGMA || zName==0 || zValue==0 ) return SQLITE_OK;
  if( sqlite3_stricmp(zName, "journal_mode")==0
   && sqlite3_stricmp(zValue, "wal")!=0 ){
    log_line("refused PRAGMA journal_mode=%s: dqlite keeps every database in "
          "WAL mode, and this dqlite version crashes on a change", zValue);
    return SQLITE_DENY;
  }
  if( sqlite3_stricmp(zName, "page_size")==0
   && strcmp(zValue, DQLITE_PAGE_SIZE)!=0 ){
    log_line("refused PRAGMA page_size=%s: dqlite replicates %s-byte pages, "
          "and this dqlite version crashes on a change", zValue,
          DQLITE_PAGE_SIZE);
    return SQLITE_DENY;
  }
  return SQLITE_OK;
}

/* Is pStmt a PRAGMA?  The first token of its SQL, after blanks and
** comments (SQLite's own: "--" to the end of the line, and C-style comments,
** an unterminated one running to the end), is the keyword PRAGMA.  Any other
** first keyword makes another kind of statement: a comment can hide what
** follows it from a reader of the text, never from this. */
static int is_pragma(sqlite3_stmt *pStmt){
  const char *z = sqlite3_sql(pStmt);
  if( z==0 ) return 0;
  for(;;){
    while( *z==' ' || *z=='\t' || *z=='\n' || *z=='\r' || *z=='\f' ) z++;
    if( z[0]=='-' && z[1]=='-' ){
      while( *z && *z!='\n' ) z++;
    }else if( z[0]=='/' && z[1]=='*' ){
      const char *e = strstr(z+2, "*/");
      if( e==0 ) return 0;
      z = e + 2;
    }else{
      break;
    }
  }
  if( sqlite3_strnicmp(z, "pragma", 6)!=0 ) return 0;
  /* the whole keyword: "pragma_x" would be another word */
  return !((z[6]>='a' && z[6]<='z') || (z[6]>='A' && z[6]<='Z')
           || (z[6]>='0' && z[6]<='9') || z[6]=='_' || z[6]=='$'
           || (unsigned char)z[6]>=0x80);
}

/*
** Stop a write statement that returns rows (INSERT, UPDATE, DELETE or
** REPLACE with RETURNING, a CTE before it or not) in autocommit before it
** runs.  dqlite 1.11 does not replicate such a statement's write, sent
** either way (EXEC_SQL fails it with "another row available" after the
** write), and the leader's next write then crashes it.  No authorizer
** action shows RETURNING, so this runs where every statement starts:
** SQLITE_TRACE_STMT comes from the program's first instruction, before it
** touches a table, and sqlite3_interrupt() makes the statement end with
** SQLITE_INTERRUPT at its first jump, before its body.
**
** The decision is on the statement, never on the text the callback gets
** (a comment that starts the statement's text looks like the "-- TRIGGER"
** text of a trigger's callback): a statement that may write
** (!sqlite3_stmt_readonly) and has result columns, run in autocommit, is
** refused unless it is an EXPLAIN (which runs nothing) or a PRAGMA (dqlite
** sets its own in autocommit; `PRAGMA journal_mode` returns a row and counts
** as a write).  A trigger's callback carries the top-level statement, so it
** gets the same answer as that statement got at its start: no trigger body
** runs under a refused statement, and an allowed one stays allowed.  Each
** statement of a multi-statement request starts with its own callback.  In
** a transaction these statements are fine: COMMIT replicates their writes.
*/
static int refuse_returning(unsigned type, void *pArg, void *pStmt,
                            void *pText){
  sqlite3 *db = (sqlite3*)pArg;
  sqlite3_stmt *p = (sqlite3_stmt*)pStmt;
  (void)type; (void)pText;
  if( p==0 || !sqlite3_get_autocommit(db) ) return 0;
  if( sqlite3_stmt_readonly(p) || sqlite3_column_count(p)==0 ) return 0;
  if( sqlite3_stmt_isexplain(p) || is_pragma(p) ) return 0;
  log_line("refused a write statement that returns rows, outside a "
           "transaction (RETURNING): dqlite would not replicate it; run it "
           "between BEGIN and COMMIT");
  sqlite3_interrupt(db);
  return 0;
}

static int connection_init(sqlite3 *db, char **pzErrMsg,
                           const sqlite3_api_routines *pApi){
  int rc = sqlite3_rpcver_init_replicated(db, pzErrMsg, pApi);
  if( rc==SQLITE_OK ){
    rc = sqlite3_set_authorizer(db, refuse_crashing_pragmas, 0);
  }
  if( rc==SQLITE_OK ){
    rc = sqlite3_trace_v2(db, SQLITE_TRACE_STMT, refuse_returning, db);
  }
  return rc;
}

/* ------------------------------------------------ TLS */

/* Is fd readable (a stop pending)? */
static int cancelled_fd(int fd){
  struct pollfd a;
  a.fd = fd;
  a.events = POLLIN;
  a.revents = 0;
  return fd>=0 && poll(&a, 1, 0)>0;
}

/* "certificate CN=node1, expires 2027-11-26 (in 365 days)" of the
** configuration's own certificate, with a reminder when it has 30 days or
** less. */
static void cert_summary(DqTls *pTls, char *z, size_t n){
  X509 *pCert = SSL_CTX_get0_certificate(pTls);
  char zCn[128] = "?";
  struct tm tm;
  int days = 0, secs = 0;
  size_t i;
  if( pCert==0 ){
    snprintf(z, n, "no certificate");
    return;
  }
  X509_NAME_get_text_by_NID(X509_get_subject_name(pCert), NID_commonName,
                            zCn, sizeof(zCn));
  for(i=0; zCn[i]; i++){
    if( (unsigned char)zCn[i]<0x20 || (unsigned char)zCn[i]>=0x7f ) zCn[i] = '?';
  }
  memset(&tm, 0, sizeof(tm));
  ASN1_TIME_to_tm(X509_get0_notAfter(pCert), &tm);
  ASN1_TIME_diff(&days, &secs, 0, X509_get0_notAfter(pCert));
  ERR_clear_error();
  snprintf(z, n, "certificate CN=%s, expires %04d-%02d-%02d (in %d days%s)",
           zCn, tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, days,
           days<=30 ? "; renew it, then send SIGHUP" : "");
}

/* Load the TLS files: a node's certificate is good for a TLS server too
** (its peers and clients check that).  0, or 1 with *pzErr set. */
static int load_tls(const Options *o, DqTls **pp, char **pzErr){
  X509 *pCert;
  if( dq_tls_new(o->zTlsCert, o->zTlsKey, o->zTlsCa, pp, pzErr) ) return 1;
  pCert = SSL_CTX_get0_certificate(*pp);
  if( pCert==0 || X509_check_purpose(pCert, X509_PURPOSE_SSL_SERVER, 0)!=1 ){
    char z[600];
    ERR_clear_error();
    snprintf(z, sizeof(z), "rpcver: the certificate %s is a client's, not a "
             "node's: a node's is good for a TLS server too (extendedKeyUsage "
             "serverAuth and clientAuth; cluster/certs.sh node NAME makes "
             "one)", o->zTlsCert);
    dq_tls_free(*pp);
    *pp = 0;
    *pzErr = strdup(z);
    return 1;
  }
  return 0;
}

/* A key that other users can read is logged (not refused: the operator may
** mean it, as with a group of a key-reading service), at start and reload. */
static void warn_key_mode(const char *zKey){
  struct stat st;
  if( stat(zKey, &st)==0 && (st.st_mode & 077)!=0 ){
    log_line("warning: the key %s can be read by %s (mode %03o): anyone "
             "who reads it can pose as this node; chmod 600 %s", zKey,
             (st.st_mode & 007) ? "every user" : "its group",
             (unsigned)(st.st_mode & 0777), zKey);
  }
}

/* SIGHUP: the three files again, for new connections. */
static void reload_tls(const Options *o){
  DqTls *pTls = 0;
  char *zErr = 0;
  char z[300];
  if( o->pProxy==0 ){
    log_line("SIGHUP: nothing to reload (no TLS)");
    return;
  }
  if( load_tls(o, &pTls, &zErr) ){
    log_line("SIGHUP: kept the certificates in use: %s",
             zErr ? zErr : "out of memory");
    free(zErr);
    return;
  }
  proxy_set_tls(o->pProxy, pTls);
  cert_summary(pTls, z, sizeof(z));
  dq_tls_free(pTls);
  log_line("SIGHUP: reloaded the TLS files: %s", z);
  warn_key_mode(o->zTlsKey);
}

/* The last failure logged for each peer Raft dials (a peer that is down
** is dialled again every second or so: say it once, and when it is back). */
static struct {
  pthread_mutex_t mutex;
  struct { char zAddr[128]; char zErr[256]; } a[16];
} g_dial = { PTHREAD_MUTEX_INITIALIZER, {{"", ""}} };

static void note_dial(const char *zAddress, const char *zErr){
  int i, iFree = -1, logIt = 0;
  pthread_mutex_lock(&g_dial.mutex);
  for(i=0; i<16; i++){
    if( strcmp(g_dial.a[i].zAddr, zAddress)==0 ) break;
    if( iFree<0 && g_dial.a[i].zAddr[0]==0 ) iFree = i;
  }
  if( i==16 && zErr ){
    i = iFree>=0 ? iFree : 0;
    snprintf(g_dial.a[i].zAddr, sizeof(g_dial.a[i].zAddr), "%s", zAddress);
    g_dial.a[i].zErr[0] = 0;
  }
  if( i<16 ){
    if( zErr && strncmp(g_dial.a[i].zErr, zErr, sizeof(g_dial.a[i].zErr)-1) ){
      snprintf(g_dial.a[i].zErr, sizeof(g_dial.a[i].zErr), "%s", zErr);
      logIt = 1;
    }else if( zErr==0 ){
      g_dial.a[i].zAddr[0] = 0;
      logIt = 2;
    }
  }
  pthread_mutex_unlock(&g_dial.mutex);
  if( logIt==1 ) log_line("cannot open a Raft connection to %s: %s", zAddress, zErr);
  if( logIt==2 ) log_line("Raft connections to %s work again", zAddress);
}

/* dqlite's connect function: the peer dialled with TLS, relayed by the
** proxy to one end of a socket pair, whose other end dqlite gets.  Called
** on libuv's thread pool; it ends within RAFT_DIAL_MS, at once when the
** node stops. */
static int connect_peer(void *pArg, const char *zAddress, int *pFd){
  const Options *o = pArg;
  DqLimits lim;
  SSL *ssl = 0;
  char *zErr = 0;
  int fd, sv[2], rc;
  dq_limits_init(&lim);
  lim.timeoutMs = RAFT_DIAL_MS;
  lim.cancelFd = o->stoppingFd;
  lim.tls = proxy_tls(o->pProxy);
  rc = dq_dial(zAddress, &lim, &fd, &ssl, &zErr);
  dq_tls_free(lim.tls);
  if( rc ){
    if( !cancelled_fd(o->stoppingFd) ){
      note_dial(zAddress, zErr ? zErr : "out of memory");
    }
    free(zErr);
    return 1;
  }
  note_dial(zAddress, 0);
  if( socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv)!=0 ){
    SSL_free(ssl);
    close(fd);
    return 1;
  }
  if( proxy_adopt(o->pProxy, fd, ssl, sv[0], zAddress) ){
    close(sv[1]);
    return 1;
  }
  *pFd = sv[1];
  return 0;
}

/* ------------------------------------------------ joining */

/* A data directory in which raft has written its metadata belongs to a
** node that is already a member of its cluster. */
static int is_member_already(const char *zDir){
  static const char *azFile[] = { "metadata1", "metadata2" };
  size_t i;
  for(i=0; i<sizeof(azFile)/sizeof(azFile[0]); i++){
    char zPath[4096];
    struct stat st;
    snprintf(zPath, sizeof(zPath), "%s/%s", zDir, azFile[i]);
    if( stat(zPath, &st)==0 && st.st_size>0 ) return 1;
  }
  return 0;
}

/* Ask the cluster's leader to add this node and make it a voter.  Both
** requests are repeated after a leader change, so "already there" answers
** count as done. */
/* Is node id a voter at zAddress in the leader's configuration? */
static int is_voter(DqClient *p, const Options *o){
  DqServer *a;
  int n, i, found = 0;
  if( dq_servers(p, &a, &n)!=DQ_OK ) return 0;
  for(i=0; i<n; i++){
    if( a[i].id==o->id && strcmp(a[i].zAddress, o->zAddress)==0
     && a[i].role==DQ_VOTER ){
      found = 1;
    }
  }
  dq_servers_free(a, n);
  return found;
}

/* Wait up to ms for a signal on the signalfd: SIGHUP reloads the TLS files
** and the wait goes on; SIGTERM or SIGINT is returned; else 0. */
static int wait_stop(const Options *o, int ms){
  long long end = dq_clock_ms() + ms;
  for(;;){
    struct pollfd a;
    struct signalfd_siginfo si;
    long long left = end - dq_clock_ms();
    a.fd = o->stopFd;
    a.events = POLLIN;
    a.revents = 0;
    if( poll(&a, 1, left>0 ? (int)left : 0)<=0 ) return 0;
    if( read(o->stopFd, &si, sizeof(si))!=(ssize_t)sizeof(si) ) return 0;
    if( si.ssi_signo!=SIGHUP ) return (int)si.ssi_signo;
    reload_tls(o);
  }
}

/* Join within o->joinTimeoutS: 0 joined, 1 out of time, 2 asked to stop,
** 3 refused. */
static int join_cluster(const Options *o){
  DqLimits lim;
  long long deadline = dq_clock_ms() + o->joinTimeoutS*1000LL;
  int addSent = 0, assignSent = 0;
  dq_limits_init(&lim);
  lim.timeoutMs = JOIN_TRY_MS;
  lim.deadlineMs = deadline;          /* no request passes the join's end */
  lim.cancelFd = o->stopFd;           /* a stop signal ends any wait */
  for(;;){
    DqClient *p = 0;
    char *zErr = 0;
    int rc;
    long long left;
    /* with TLS, this node's certificate (as SIGHUP last loaded it) */
    lim.tls = o->pProxy ? proxy_tls(o->pProxy) : 0;
    rc = dq_connect_leader_with(o->zJoin, &lim, &p, &zErr);
    dq_tls_free(lim.tls);
    lim.tls = 0;
    if( rc==DQ_OK ){
      /* A request whose answer was lost may have been applied, and raft's
      ** answers to a repeated ADD or ASSIGN are generic ("server ID
      ** already in use", "server role is not valid"): after a request of
      ** ours, the leader's configuration says whether this node is in it.
      ** Before any, the id is an earlier node's: a voter that lost its log
      ** must not vote again, so that is refused.  "A configuration change
      ** is already in progress" (another node joining) is retried. */
      rc = dq_add(p, o->id, o->zAddress);
      if( rc==DQ_FAILED && strcmp(dq_errmsg(p), "server ID already in use")==0 ){
        if( !addSent ){
          log_line("node id %llu is already a member of the cluster, but %s "
                   "has no cluster state: a member that lost its data must "
                   "not rejoin under its old id; remove it from the cluster "
                   "and join this node under a new id", o->id, o->zDir);
          dq_close(p);
          return 3;
        }
        rc = DQ_OK;
      }
      addSent = 1;
      if( rc==DQ_OK ){
        rc = dq_assign(p, o->id, DQ_VOTER);
        if( rc==DQ_FAILED && assignSent && is_voter(p, o) ) rc = DQ_OK;
        assignSent = 1;
      }
      if( rc==DQ_OK ){
        log_line("joined the cluster through leader %s as a voter",
              dq_address(p));
        dq_close(p);
        return 0;
      }
      log_line("join through %s failed: %s", dq_address(p), dq_errmsg(p));
    }else{
      log_line("join: %s", zErr ? zErr : "out of memory");
    }
    free(zErr);
    dq_close(p);
    left = deadline - dq_clock_ms();
    /* the pause before the next attempt, which a stop signal ends; a
    ** signal that ended a request is still pending here */
    if( wait_stop(o, left<=0 ? 0 : left<200 ? (int)left : 200) ){
      log_line("stopping while joining");
      return 2;
    }
    if( deadline - dq_clock_ms() <= 0 ) return 1;
  }
}

/* ------------------------------------------------ leader changes */

/* Ask our own node who leads; log when the answer changes. */
static void watch_leader(const Options *o, char *zLast, size_t nLast){
  DqClient *p = 0;
  DqLimits lim;
  uint64_t id = 0;
  char *zLeader = 0;
  char zNow[300];
  dq_limits_init(&lim);
  lim.timeoutMs = 1000;
  lim.cancelFd = o->stopFd;
  /* with TLS, the node's own socket: no handshake every 250 ms */
  if( dq_connect_with(o->zBind ? o->zBind : o->zAddress, &lim, &p)==DQ_OK
   && dq_leader(p, &id, &zLeader)==DQ_OK ){
    if( id ){
      snprintf(zNow, sizeof(zNow), "%llu at %s%s", (unsigned long long)id,
               zLeader, id==o->id ? " (this node)" : "");
    }else{
      snprintf(zNow, sizeof(zNow), "none known");
    }
    if( strcmp(zNow, zLast)!=0 ){
      log_line("leader: %s", zNow);
      snprintf(zLast, nLast, "%s", zNow);
    }
  }
  free(zLeader);
  dq_close(p);
}

/* ------------------------------------------------ main */

static void usage(FILE *out){
  fputs("usage: rpcverd --id N --address HOST:PORT --dir DIR "
        "[--join HOST:PORT,...]\n"
        "               [--join-timeout SECONDS]\n"
        "               [--tls-cert FILE --tls-key FILE --tls-ca FILE | "
        "--insecure]\n"
        "  Runs one dqlite node with rpcver on every connection.  Node 1\n"
        "  bootstraps a new cluster; other nodes start with --join, naming\n"
        "  nodes already in it, and give up after --join-timeout seconds\n"
        "  (default 60).  A node restarts from DIR alone.\n"
        "  --tls-cert, --tls-key, --tls-ca (or RPCVER_TLS_CERT, RPCVER_TLS_KEY,\n"
        "  RPCVER_TLS_CA): this node's certificate and key and the cluster's\n"
        "  CA (cluster/certs.sh makes them); every connection, from clients\n"
        "  and between nodes, is then TLS 1.3 with certificates checked both\n"
        "  ways.  SIGHUP loads the three files again.  Without them the node\n"
        "  listens on loopback addresses only, unless --insecure is given.\n",
        out);
}

/* Is every address HOST of "HOST:PORT" names a loopback one?  1 yes, 0 no,
** -1 it does not resolve (*pzWhy says why). */
static int is_loopback(const char *zAddress, const char **pzWhy){
  char zHost[256];
  const char *zColon = strrchr(zAddress, ':');
  struct addrinfo hints, *pRes = 0, *q;
  int rc, all = 1;
  *pzWhy = "want HOST:PORT";
  if( zColon==0 || zColon==zAddress
   || (size_t)(zColon - zAddress) >= sizeof(zHost) ){
    return -1;
  }
  memcpy(zHost, zAddress, (size_t)(zColon - zAddress));
  zHost[zColon - zAddress] = 0;
  memset(&hints, 0, sizeof(hints));
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  rc = getaddrinfo(zHost, 0, &hints, &pRes);
  if( rc ){
    *pzWhy = gai_strerror(rc);
    return -1;
  }
  for(q=pRes; q; q=q->ai_next){
    if( q->ai_family==AF_INET ){
      const struct sockaddr_in *a = (const struct sockaddr_in*)q->ai_addr;
      if( (ntohl(a->sin_addr.s_addr) >> 24)!=127 ) all = 0;
    }else if( q->ai_family==AF_INET6 ){
      const struct sockaddr_in6 *a = (const struct sockaddr_in6*)q->ai_addr;
      if( !IN6_IS_ADDR_LOOPBACK(&a->sin6_addr)
       && !(IN6_IS_ADDR_V4MAPPED(&a->sin6_addr)
            && a->sin6_addr.s6_addr[12]==127) ){
        all = 0;
      }
    }else{
      all = 0;
    }
  }
  freeaddrinfo(pRes);
  return all;
}

static int parse_options(int argc, char **argv, Options *o){
  int i, nTls;
  const char *zEnv;
  memset(o, 0, sizeof(*o));
  o->joinTimeoutS = 60;
  o->stopFd = -1;
  o->stoppingFd = -1;
  for(i=1; i<argc; i++){
    const char *zOpt = argv[i];
    const char *zVal = i+1<argc ? argv[i+1] : 0;
    if( strcmp(zOpt, "--help")==0 || strcmp(zOpt, "-h")==0 ){
      usage(stdout);
      exit(0);
    }
    if( strcmp(zOpt, "--insecure")==0 ){
      o->insecure = 1;
      continue;
    }
    if( zVal==0 ){
      fprintf(stderr, "rpcverd: %s needs a value\n", zOpt);
      return 1;
    }
    if( strcmp(zOpt, "--id")==0 ){
      char *zEnd;
      errno = 0;
      o->id = strtoull(zVal, &zEnd, 10);
      if( errno || *zEnd || o->id==0 || zVal[0]=='-' ){
        fprintf(stderr, "rpcverd: --id %s: want a positive integer\n", zVal);
        return 1;
      }
    }else if( strcmp(zOpt, "--address")==0 ){
      o->zAddress = zVal;
    }else if( strcmp(zOpt, "--dir")==0 ){
      o->zDir = zVal;
    }else if( strcmp(zOpt, "--join")==0 ){
      o->zJoin = zVal;
    }else if( strcmp(zOpt, "--join-timeout")==0 ){
      char *zEnd;
      errno = 0;
      o->joinTimeoutS = strtol(zVal, &zEnd, 10);
      if( errno || *zEnd || zVal[0]<'0' || zVal[0]>'9'
       || o->joinTimeoutS<1 || o->joinTimeoutS>86400 ){
        fprintf(stderr, "rpcverd: --join-timeout %s: want a whole number of "
                "seconds from 1 to 86400\n", zVal);
        return 1;
      }
    }else if( strcmp(zOpt, "--tls-cert")==0 ){
      o->zTlsCert = zVal;
    }else if( strcmp(zOpt, "--tls-key")==0 ){
      o->zTlsKey = zVal;
    }else if( strcmp(zOpt, "--tls-ca")==0 ){
      o->zTlsCa = zVal;
    }else{
      fprintf(stderr, "rpcverd: unknown option %s\n", zOpt);
      return 1;
    }
    i++;
  }
  if( o->id==0 || o->zAddress==0 || o->zDir==0 ){
    usage(stderr);
    return 1;
  }
  /* each TLS file from its option, else from the environment */
  if( o->zTlsCert==0 && (zEnv = getenv("RPCVER_TLS_CERT"))!=0 && zEnv[0] ){
    o->zTlsCert = zEnv;
  }
  if( o->zTlsKey==0 && (zEnv = getenv("RPCVER_TLS_KEY"))!=0 && zEnv[0] ){
    o->zTlsKey = zEnv;
  }
  if( o->zTlsCa==0 && (zEnv = getenv("RPCVER_TLS_CA"))!=0 && zEnv[0] ){
    o->zTlsCa = zEnv;
  }
  nTls = (o->zTlsCert!=0) + (o->zTlsKey!=0) + (o->zTlsCa!=0);
  if( nTls>0 && nTls<3 ){
    fprintf(stderr, "rpcverd: TLS needs all three of --tls-cert, --tls-key "
            "and --tls-ca (or RPCVER_TLS_CERT, RPCVER_TLS_KEY and "
            "RPCVER_TLS_CA); missing:%s%s%s\n",
            o->zTlsCert ? "" : " --tls-cert", o->zTlsKey ? "" : " --tls-key",
            o->zTlsCa ? "" : " --tls-ca");
    return 1;
  }
  if( nTls==3 && o->insecure ){
    fprintf(stderr, "rpcverd: --insecure is for running without TLS, but "
            "TLS files are given (--tls-* or RPCVER_TLS_*): drop one or the "
            "other\n");
    return 1;
  }
  if( nTls==0 ){
    /* dqlite 1.11 binds an IPv4 address in numbers only, and says nothing
    ** when it cannot: a name or an IPv6 address gave an empty reason */
    const char *zColon = strrchr(o->zAddress, ':');
    char zHost[64];
    struct in_addr ip4;
    size_t n = zColon ? (size_t)(zColon - o->zAddress) : 0;
    if( zColon && n<sizeof(zHost) ){
      memcpy(zHost, o->zAddress, n);
      zHost[n] = 0;
    }
    if( zColon==0 || n>=sizeof(zHost) || inet_pton(AF_INET, zHost, &ip4)!=1 ){
      fprintf(stderr, "rpcverd: cannot listen on %s without TLS: dqlite "
              "binds only an IPv4 address written in numbers (such as "
              "127.0.0.1:%s); give one, or --tls-cert, --tls-key and "
              "--tls-ca (with TLS a name or an IPv6 address is fine)\n",
              o->zAddress, zColon ? zColon + 1 : "9001");
      return 1;
    }
  }
  if( nTls==0 && !o->insecure ){
    const char *zWhy;
    int rc = is_loopback(o->zAddress, &zWhy);
    if( rc<0 ){
      fprintf(stderr, "rpcverd: --address %s: %s\n", o->zAddress, zWhy);
      return 1;
    }
    if( rc==0 ){
      fprintf(stderr, "rpcverd: refusing to listen on %s without TLS: "
              "anyone who can reach it could join the cluster as a voter, run "
              "any SQL or take the leadership.  Give --tls-cert, --tls-key and "
              "--tls-ca (cluster/certs.sh makes them; docs/cluster.md), or "
              "--insecure if every host that can reach this address is "
              "trusted\n", o->zAddress);
      return 1;
    }
  }
  if( o->id==1 && o->zJoin && !is_member_already(o->zDir) ){
    fprintf(stderr, "rpcverd: node 1 with no cluster state in %s bootstraps "
            "a new cluster of its own, so it cannot --join one; give the "
            "joining node another id (a node that lost its data joins "
            "again under a new id)\n", o->zDir);
    return 1;
  }
  if( o->id!=1 && o->zJoin==0 && !is_member_already(o->zDir) ){
    fprintf(stderr, "rpcverd: node %llu has no cluster state in %s and no "
            "--join: only node 1 bootstraps a cluster; give --join with the "
            "address of a node already in it\n", o->id, o->zDir);
    return 1;
  }
  return 0;
}

/* Stop the node, then the proxy in front of it, and free what is left. */
static int stop_node(Options *o, dqlite_node *pNode){
  int rc = 0;
  if( o->stoppingFd>=0 ){
    /* Raft dials under way end at once */
    uint64_t one = 1;
    if( write(o->stoppingFd, &one, sizeof(one))<0 ){ /* already readable */ }
  }
  if( pNode ){
    rc = dqlite_node_stop(pNode);
    dqlite_node_destroy(pNode);
  }
  proxy_free(o->pProxy);
  o->pProxy = 0;
  if( o->stoppingFd>=0 ) close(o->stoppingFd);
  close(o->stopFd);
  return rc;
}

int main(int argc, char **argv){
  Options o;
  dqlite_node *pNode = 0;
  DqTls *pTls = 0;
  sigset_t stop;
  char zLeader[300] = "";
  char zTls[400] = "";
  char *zErr = 0;
  int rc, joined;

  if( parse_options(argc, argv, &o) ) return 2;
  g_logId = o.id;
  signal(SIGPIPE, SIG_IGN);
  /* Block the stop signals, and SIGHUP, in every thread; main waits for
  ** them below. */
  sigemptyset(&stop);
  sigaddset(&stop, SIGTERM);
  sigaddset(&stop, SIGINT);
  sigaddset(&stop, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &stop, 0);
  o.stopFd = signalfd(-1, &stop, SFD_CLOEXEC);
  if( o.stopFd<0 ){
    fprintf(stderr, "rpcverd: signalfd: %s\n", strerror(errno));
    return 1;
  }

  if( mkdir(o.zDir, 0755)!=0 && errno!=EEXIST ){
    fprintf(stderr, "rpcverd: cannot create %s: %s\n", o.zDir,
            strerror(errno));
    close(o.stopFd);
    return 1;
  }
  if( o.zTlsCert ){
    /* TLS: a node's certificate that loads, before anything starts */
    if( load_tls(&o, &pTls, &zErr) ){
      fprintf(stderr, "rpcverd: node %llu cannot start at %s: %s\n", o.id,
              o.zAddress, zErr ? zErr : "out of memory");
      free(zErr);
      close(o.stopFd);
      return 1;
    }
    cert_summary(pTls, zTls, sizeof(zTls));
    o.stoppingFd = eventfd(0, EFD_CLOEXEC);
  }
  joined = is_member_already(o.zDir);
  rc = sqlite3_auto_extension((void(*)(void))connection_init);
  if( rc==SQLITE_OK ) rc = dqlite_node_create(o.id, o.zAddress, o.zDir, &pNode);
  if( rc==0 && pTls ){
    /* dqlite on an abstract socket with a name of the kernel's choosing,
    ** which only this process can reach; the proxy listens on the address
    ** and relays to it */
    rc = dqlite_node_set_bind_address(pNode, "@");
    if( rc==0 ){
      o.zBind = dqlite_node_get_bind_address(pNode);
      if( proxy_new(o.zAddress, o.zBind, pTls, log_line, &o.pProxy, &zErr) ){
        fprintf(stderr, "rpcverd: node %llu cannot start at %s: %s\n", o.id,
                o.zAddress, zErr ? zErr : "out of memory");
        free(zErr);
        dq_tls_free(pTls);
        dqlite_node_destroy(pNode);
        stop_node(&o, 0);
        return 1;
      }
      rc = dqlite_node_set_connect_func(pNode, connect_peer, &o);
    }
  }else if( rc==0 ){
    rc = dqlite_node_set_bind_address(pNode, o.zAddress);
  }
  dq_tls_free(pTls);                   /* the proxy holds it */
  if( rc==0 ) rc = dqlite_node_start(pNode);
  if( rc==0 && o.pProxy && proxy_start(o.pProxy, &zErr) ){
    log_line("%s", zErr ? zErr : "cannot start the TLS proxy");
    free(zErr);
    stop_node(&o, pNode);
    return 1;
  }
  if( rc!=0 ){
    fprintf(stderr, "rpcverd: node %llu cannot start at %s: %s\n", o.id,
            o.zAddress, pNode ? dqlite_node_errmsg(pNode) : "out of memory");
    if( pNode ) dqlite_node_destroy(pNode);
    stop_node(&o, 0);
    return 1;
  }
  log_line("started at %s, data in %s%s (dqlite %d, SQLite %s, rpcver %s)",
        o.zAddress, o.zDir, joined ? ", restarting as a member" : "",
        dqlite_version_number(), sqlite3_libversion(), RPCVER_VERSION);
  if( o.pProxy ){
    log_line("TLS 1.3 on %s, both ways, CA %s; %s; dqlite on %s (this "
             "process only)", o.zAddress, o.zTlsCa, zTls, o.zBind);
    warn_key_mode(o.zTlsKey);
  }else if( o.insecure ){
    log_line("no TLS (--insecure): anyone who can reach %s can join the "
             "cluster, run any SQL or take the leadership", o.zAddress);
  }
  if( !joined && o.zJoin && (rc = join_cluster(&o))!=0 ){
    if( rc==1 ){
      log_line("could not join through %s within %ld s; stopping", o.zJoin,
               o.joinTimeoutS);
    }
    stop_node(&o, pNode);
    log_line("stopped");
    return rc==2 ? 0 : 1;                 /* 2: asked to stop */
  }

  for(;;){
    int sig = wait_stop(&o, 250);
    if( sig==SIGTERM || sig==SIGINT ){
      log_line("stopping on %s", sig==SIGTERM ? "SIGTERM" : "SIGINT");
      break;
    }
    watch_leader(&o, zLeader, sizeof(zLeader));
  }
  rc = stop_node(&o, pNode);
  log_line("stopped");
  return rc==0 ? 0 : 1;
}
