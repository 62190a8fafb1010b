/*
** rpcverd: a dqlite node with rpcver on every connection.
**
**   rpcverd --id N --address HOST:PORT --dir DIR [--join HOST:PORT,...]
**           [--join-timeout SECONDS]
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
*/
#define _DEFAULT_SOURCE
#define _POSIX_C_SOURCE 200809L
#include <dqlite.h>
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <poll.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include "rpcver.h"
#include "dqlite_client.h"

#define DQLITE_PAGE_SIZE "4096"      /* what dqlite 1.11 sets on open */

#define JOIN_TRY_MS 2000             /* each request while joining */

typedef struct Options {
  unsigned long long id;
  const char *zAddress;
  const char *zDir;
  const char *zJoin;
  long joinTimeoutS;                 /* --join-timeout, default 60 */
  int stopFd;                        /* signalfd for SIGTERM and SIGINT */
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

/* Wait up to ms for SIGTERM or SIGINT on the signalfd: the signal taken,
** or 0. */
static int wait_stop(int fd, int ms){
  struct pollfd a;
  struct signalfd_siginfo si;
  a.fd = fd;
  a.events = POLLIN;
  a.revents = 0;
  if( poll(&a, 1, ms)<=0 ) return 0;
  if( read(fd, &si, sizeof(si))!=(ssize_t)sizeof(si) ) return 0;
  return (int)si.ssi_signo;
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
    int rc = dq_connect_leader_with(o->zJoin, &lim, &p, &zErr);
    long long left;
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
    if( wait_stop(o->stopFd, left<=0 ? 0 : left<200 ? (int)left : 200) ){
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
  if( dq_connect_with(o->zAddress, &lim, &p)==DQ_OK
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
        "  Runs one dqlite node with rpcver on every connection.  Node 1\n"
        "  bootstraps a new cluster; other nodes start with --join, naming\n"
        "  nodes already in it, and give up after --join-timeout seconds\n"
        "  (default 60).  A node restarts from DIR alone.\n", out);
}

static int parse_options(int argc, char **argv, Options *o){
  int i;
  memset(o, 0, sizeof(*o));
  o->joinTimeoutS = 60;
  o->stopFd = -1;
  for(i=1; i<argc; i++){
    const char *zOpt = argv[i];
    const char *zVal = i+1<argc ? argv[i+1] : 0;
    if( strcmp(zOpt, "--help")==0 || strcmp(zOpt, "-h")==0 ){
      usage(stdout);
      exit(0);
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

int main(int argc, char **argv){
  Options o;
  dqlite_node *pNode = 0;
  sigset_t stop;
  char zLeader[300] = "";
  int rc, joined;

  if( parse_options(argc, argv, &o) ) return 2;
  g_logId = o.id;
  signal(SIGPIPE, SIG_IGN);
  /* Block the stop signals in every thread; main waits for them below. */
  sigemptyset(&stop);
  sigaddset(&stop, SIGTERM);
  sigaddset(&stop, SIGINT);
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
  joined = is_member_already(o.zDir);
  rc = sqlite3_auto_extension((void(*)(void))connection_init);
  if( rc==SQLITE_OK ) rc = dqlite_node_create(o.id, o.zAddress, o.zDir, &pNode);
  if( rc==0 ) rc = dqlite_node_set_bind_address(pNode, o.zAddress);
  if( rc==0 ) rc = dqlite_node_start(pNode);
  if( rc!=0 ){
    fprintf(stderr, "rpcverd: node %llu cannot start at %s: %s\n", o.id,
            o.zAddress, pNode ? dqlite_node_errmsg(pNode) : "out of memory");
    if( pNode ) dqlite_node_destroy(pNode);
    close(o.stopFd);
    return 1;
  }
  log_line("started at %s, data in %s%s (dqlite %d, SQLite %s, rpcver %s)",
        o.zAddress, o.zDir, joined ? ", restarting as a member" : "",
        dqlite_version_number(), sqlite3_libversion(), RPCVER_VERSION);
  if( !joined && o.zJoin && (rc = join_cluster(&o))!=0 ){
    if( rc==1 ){
      log_line("could not join through %s within %ld s; stopping", o.zJoin,
               o.joinTimeoutS);
    }
    dqlite_node_stop(pNode);
    dqlite_node_destroy(pNode);
    close(o.stopFd);
    log_line("stopped");
    return rc==2 ? 0 : 1;                 /* 2: asked to stop */
  }

  for(;;){
    int sig = wait_stop(o.stopFd, 250);
    if( sig==SIGTERM || sig==SIGINT ){
      log_line("stopping on %s", sig==SIGTERM ? "SIGTERM" : "SIGINT");
      break;
    }
    watch_leader(&o, zLeader, sizeof(zLeader));
  }
  rc = dqlite_node_stop(pNode);
  dqlite_node_destroy(pNode);
  close(o.stopFd);
  log_line("stopped");
  return rc==0 ? 0 : 1;
}
