/*
** rpcver benchmark harness: `make bench` (see bench/README.md).
**
** One process (plus one forked child per bulk-load run, so that each run's
** peak RSS is its own), fixed data, a warm-up, and the median of several
** repetitions per case.  Every measured call's answer is checked; a wrong
** answer aborts the run with a message.  Timings are never pass/fail: each
** measured ratio is printed next to its target with "met" or "missed".
**
** BENCH_QUICK=1 shrinks every size about 100x (a smoke run of the harness).
*/
#define _GNU_SOURCE
#include <sqlite3.h>
#include "rpcver.h"

#include <errno.h>
#include <malloc.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* The bound on rpc_max_send's per-connection cache, case 7's target: the
** Makefile reads it from RPC_CACHE_SLOTS in ext/rpcver_int.h. */
#ifndef RPC_CACHE_SLOTS_EXPECTED
#define RPC_CACHE_SLOTS_EXPECTED 64
#endif

#define DIR "build/bench"
#define KEY(maj, min) (((sqlite3_int64)(maj) << 40) | ((sqlite3_int64)(min) << 20))
#define HIGH_MINOR 900000          /* hi of the managers that are not laggards */
#define N_METHODS 100              /* methods in a fleet */
#define N_HOT 8                    /* methods a sender calls in the loops */
#define MAX_METHODS 300
#define REPS_FAST 7                /* repetitions of per-call cases */
#define REPS_HEAVY 5               /* repetitions of bulk and upgrade cases */
#define FRESH_BLOCK 1000           /* case 2: the writer commits every 1000 calls */
#define ONE_MINOR 5                /* case 2's one-row table holds version 1.5 */

/* The targets of issue 14: the cached hot path and the fresh one at
** SQLite's floor, and a registration's transaction. */
#define TARGET_CACHED 1.7          /* 1a, 1b: x SELECT ?1 */
#define TARGET_FRESH 1.15          /* 2: x the leanest indexed read of a row */
#define TARGET_REGISTER 2.0        /* 5a: x the leanest one-row transaction */

/* The four rows of issue 14, each the worst ratio over the fleets (0: not
** run) with its two times (ns), printed after the table. */
enum { FLOOR_MEM, FLOOR_TXN, FLOOR_FRESH, FLOOR_REGISTER, FLOOR_N };
static double gFloor[FLOOR_N], gFloorA[FLOOR_N], gFloorB[FLOOR_N];

static void floor_note(int i, double a, double b){
  if( a/b>gFloor[i] ){ gFloor[i] = a/b; gFloorA[i] = a; gFloorB[i] = b; }
}

/* BENCH_ONLY=floor: only what the four rows need (5a, then 1a, 1b and 2 on
** the first fleet unless BENCH_FLEETS says otherwise), and only the four
** rows printed. */
static int gFloorOnly = 0;

static int gQuick = 0;
static double gStart;

/* ------------------------------------------------------------ utilities */

/* snprintf that may cut (table cells, file names). */
static void setf(char *zOut, int nOut, const char *zFormat, ...)
  __attribute__((format(printf, 3, 4)));
static void setf(char *zOut, int nOut, const char *zFormat, ...){
  va_list ap;
  va_start(ap, zFormat);
  vsnprintf(zOut, nOut, zFormat, ap);
  va_end(ap);
}


static double now_s(void){
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* CPU time of this process (user + system), seconds. */
static double cpu_s(void){
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec*1e-6
       + (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec*1e-6;
}

/* Temporary database files, removed at exit (with -wal, -shm, -journal). */
static char gFiles[16][128];
static int gNFiles = 0;

static void remove_db(const char *zPath){
  static const char *azSuffix[] = { "", "-wal", "-shm", "-journal" };
  char zBuf[160];
  unsigned i;
  for(i=0; i<sizeof(azSuffix)/sizeof(azSuffix[0]); i++){
    setf(zBuf, sizeof(zBuf), "%s%s", zPath, azSuffix[i]);
    unlink(zBuf);
  }
}

static void cleanup(void){
  int i;
  for(i=0; i<gNFiles; i++) remove_db(gFiles[i]);
}

/* Path of a temporary database under build/bench/, registered for cleanup. */
static const char *tmp_db(const char *zName){
  int i;
  char zPath[128];
  snprintf(zPath, sizeof(zPath), DIR "/%s.db", zName);
  for(i=0; i<gNFiles; i++) if( strcmp(gFiles[i], zPath)==0 ) break;
  if( i==gNFiles ){
    if( gNFiles==(int)(sizeof(gFiles)/sizeof(gFiles[0])) ){
      fprintf(stderr, "bench: too many temporary files\n");
      exit(1);
    }
    snprintf(gFiles[gNFiles++], sizeof(gFiles[0]), "%s", zPath);
  }
  remove_db(gFiles[i]);
  return gFiles[i];
}

static void die(const char *zFormat, ...){
  va_list ap;
  fprintf(stderr, "bench: CHECK FAILED: ");
  va_start(ap, zFormat);
  vfprintf(stderr, zFormat, ap);
  va_end(ap);
  fprintf(stderr, "\n");
  cleanup();
  exit(1);
}

static void progress(const char *zFormat, ...){
  va_list ap;
  fprintf(stderr, "[%6.1fs] ", now_s() - gStart);
  va_start(ap, zFormat);
  vfprintf(stderr, zFormat, ap);
  va_end(ap);
  fprintf(stderr, "\n");
}

static sqlite3 *db_open(const char *zPath){
  sqlite3 *db = 0;
  if( sqlite3_open_v2(zPath, &db, SQLITE_OPEN_READWRITE|SQLITE_OPEN_CREATE, 0)
      !=SQLITE_OK ){
    die("open %s: %s", zPath, db ? sqlite3_errmsg(db) : "out of memory");
  }
  sqlite3_busy_timeout(db, 10000);
  return db;
}

static void db_close(sqlite3 *db){
  int rc = sqlite3_close(db);
  if( rc!=SQLITE_OK ) die("sqlite3_close: %s", sqlite3_errstr(rc));
}

static void exec(sqlite3 *db, const char *zSql){
  char *zErr = 0;
  if( sqlite3_exec(db, zSql, 0, 0, &zErr)!=SQLITE_OK ){
    die("%s: %s", zSql, zErr ? zErr : sqlite3_errmsg(db));
  }
}

static sqlite3_stmt *prep(sqlite3 *db, const char *zSql){
  sqlite3_stmt *pStmt = 0;
  if( sqlite3_prepare_v3(db, zSql, -1, SQLITE_PREPARE_PERSISTENT, &pStmt, 0)
      !=SQLITE_OK ){
    die("prepare %s: %s", zSql, sqlite3_errmsg(db));
  }
  return pStmt;
}

/* Step a statement that returns no row; reset it. */
static void step_done(sqlite3_stmt *pStmt){
  if( sqlite3_step(pStmt)!=SQLITE_DONE ){
    die("%s: %s", sqlite3_sql(pStmt), sqlite3_errmsg(sqlite3_db_handle(pStmt)));
  }
  sqlite3_reset(pStmt);
}

static sqlite3_int64 one_int(sqlite3 *db, const char *zSql){
  sqlite3_stmt *pStmt = prep(db, zSql);
  sqlite3_int64 v;
  if( sqlite3_step(pStmt)!=SQLITE_ROW ) die("%s: %s", zSql, sqlite3_errmsg(db));
  v = sqlite3_column_int64(pStmt, 0);
  sqlite3_finalize(pStmt);
  return v;
}

static void one_text(sqlite3 *db, const char *zSql, char *zOut, int nOut){
  sqlite3_stmt *pStmt = prep(db, zSql);
  const char *z;
  if( sqlite3_step(pStmt)!=SQLITE_ROW ) die("%s: %s", zSql, sqlite3_errmsg(db));
  z = (const char*)sqlite3_column_text(pStmt, 0);
  snprintf(zOut, nOut, "%s", z ? z : "NULL");
  sqlite3_finalize(pStmt);
}

static int cmp_double(const void *a, const void *b){
  double x = *(const double*)a, y = *(const double*)b;
  return (x>y) - (x<y);
}

static double median(double *a, int n){
  double s[32];
  memcpy(s, a, n*sizeof(double));
  qsort(s, n, sizeof(double), cmp_double);
  return n%2 ? s[n/2] : (s[n/2-1] + s[n/2]) / 2;
}

/* A duration in ns, as text with a readable unit. */
static const char *fmt_ns(double ns, char *zBuf, int nBuf){
  if( ns<10e3 )      snprintf(zBuf, nBuf, "%.0f ns", ns);
  else if( ns<10e6 ) snprintf(zBuf, nBuf, "%.1f us", ns/1e3);
  else if( ns<10e9 ) snprintf(zBuf, nBuf, "%.1f ms", ns/1e6);
  else               snprintf(zBuf, nBuf, "%.1f s", ns/1e9);
  return zBuf;
}

static const char *fmt_count(long n, char *zBuf, int nBuf){
  if( n>=1000000 && n%1000000==0 )  setf(zBuf, nBuf, "%ldM", n/1000000);
  else if( n>=1000 && n%1000==0 )   setf(zBuf, nBuf, "%ldk", n/1000);
  else                              setf(zBuf, nBuf, "%ld", n);
  return zBuf;
}

/* ------------------------------------------------------------ the table */

typedef struct Row {
  char zId[8], zWhat[52], zA[32], zB[32], zRatio[24], zTarget[20], zVerdict[8];
} Row;
static Row gRows[80];
static int gNRows = 0;
static int gNMet = 0, gNMissed = 0;

static Row *add_row(const char *zId, const char *zWhat){
  Row *r;
  if( gNRows==(int)(sizeof(gRows)/sizeof(gRows[0])) ){
    fprintf(stderr, "bench: too many rows\n");
    exit(1);
  }
  r = &gRows[gNRows++];
  memset(r, 0, sizeof(*r));
  setf(r->zId, sizeof(r->zId), "%s", zId);
  setf(r->zWhat, sizeof(r->zWhat), "%s", zWhat);
  return r;
}

/* A measured ratio next to its target (at most zTarget). */
static void set_ratio(Row *r, const char *zName, double ratio, double target){
  setf(r->zRatio, sizeof(r->zRatio), "%s %.2f", zName, ratio);
  if( target>0 ){
    setf(r->zTarget, sizeof(r->zTarget), "target <= %g", target);
    setf(r->zVerdict, sizeof(r->zVerdict), "%s",
             ratio<=target ? "met" : "missed");
    if( ratio<=target ) gNMet++; else gNMissed++;
  }
}

/* ------------------------------------------------------------ the data */

/* Methods "method-NN" (and up to MAX_METHODS for the cache case), managers
** "mgr-NNNNNNN". */
static char gMethod[MAX_METHODS][16];
static int gMethodLen[MAX_METHODS];
static int gHot[N_HOT];             /* the methods the loops call */

/*
** A fleet (cases 1-4): N_METHODS methods x R receivers, on a WAL file, plus
** a copy in a private in-memory database.  Per method, the negotiated
** version the harness expects (1.expMinor): every check compares with it,
** and the harness updates it with every commit it makes.
*/
typedef struct Fleet {
  long R;
  const char *zPath;
  sqlite3 *dbMem;                  /* 1a */
  sqlite3 *db;                     /* 1b, 4, and the reader of 2 */
  sqlite3 *dbW;                    /* the writer of 2 */
  long block;                      /* 2: commits so far */
  int expMinor[N_METHODS];
  char expText[N_METHODS][24];
  double mem, memEcho, txn, txnEcho;         /* case 1, ns per call */
  double memLen, memEchoLen, txnLen, txnEchoLen;  /* the same, bound with a
                                             ** length (first fleet only) */
  double fresh, freshOne, freshPlain;        /* case 2 */
  double demand, demandNoIdx, demandIdx;     /* case 4 */
  double buildSecs, copySecs;
} Fleet;

static void set_expected(Fleet *f, int m, int minor){
  f->expMinor[m] = minor;
  snprintf(f->expText[m], sizeof(f->expText[m]), "1.%d", minor);
}

/* Whether method m takes a cache slot of its own beside the n methods in
** aHot, on db (a private database where every method has a receiver): m is
** asked first, then each of aHot, so that an entry m shares with one of
** them is theirs again, and the cache holds n + 1 entries only if m's slot
** is its own. */
static int own_cache_slot(sqlite3 *db, sqlite3_stmt *pAsk, const int *aHot,
                          int n, int m){
  int i;
  for(i=-1; i<n; i++){
    int k = i<0 ? m : aHot[i];
    sqlite3_bind_text(pAsk, 1, gMethod[k], gMethodLen[k], SQLITE_STATIC);
    if( sqlite3_step(pAsk)!=SQLITE_ROW ) die("rpc_max_send: %s", sqlite3_errmsg(db));
    sqlite3_reset(pAsk);
  }
  return one_int(db, "SELECT count(*) FROM rpcver_cache")==n + 1;
}

/* The names, and N_HOT methods that land in distinct cache slots (so
** "cached" means cached): spread over the 100 methods, every 7th, skipping
** one whose slot is taken.  The cache itself says which are, so the bench
** never assumes how it hashes; cache_holds_hot() checks again in each
** case. */
static void init_names(void){
  int m, n = 0, used = 0;
  sqlite3 *db;
  sqlite3_stmt *pAsk;
  for(m=0; m<MAX_METHODS; m++){
    gMethodLen[m] = snprintf(gMethod[m], sizeof(gMethod[m]), "method-%02d", m);
  }
  if( sqlite3_open(":memory:", &db)!=SQLITE_OK ) die("cannot open :memory:");
  pAsk = prep(db, "SELECT rpc_register('pick', ?1, '1.5')");
  for(m=0; m<N_METHODS; m++){
    sqlite3_bind_text(pAsk, 1, gMethod[m], gMethodLen[m], SQLITE_STATIC);
    if( sqlite3_step(pAsk)!=SQLITE_ROW ) die("rpc_register: %s", sqlite3_errmsg(db));
    sqlite3_reset(pAsk);
  }
  sqlite3_finalize(pAsk);
  pAsk = prep(db, "SELECT rpc_max_send(?1)");
  for(m=3; n<N_HOT && used<N_METHODS; m=(m+7)%N_METHODS, used++){
    if( own_cache_slot(db, pAsk, gHot, n, m) ) gHot[n++] = m;
  }
  sqlite3_finalize(pAsk);
  sqlite3_close(db);
  if( n<N_HOT ) die("could not pick %d methods in distinct cache slots", N_HOT);
}

static void manager_name(char *zBuf, int nBuf, const char *zPrefix, long i){
  snprintf(zBuf, nBuf, "%s-%07ld", zPrefix, i);
}

/* ------------------------------------------------------ per-call loops */

/*
** One variant of a per-call case: a prepared statement stepped, checked and
** reset n times, cycling through the hot methods.  Returns seconds spent.
*/
typedef enum {
  CHK_VERSION,     /* column 0 is the expected version text (rpc_max_send) */
  CHK_ECHO,        /* column 0 is the bound method name (SELECT ?1) */
  CHK_KEY,         /* column 0 is the expected version key (plain SQL) */
  CHK_ONE          /* the one-row table's key is bound; its value returned */
} CheckKind;

typedef struct Loop {
  const char *zName;
  Fleet *f;                    /* whose expectations to check */
  sqlite3_stmt *pStmt;
  CheckKind check;
  long n;                      /* calls per repetition */
  int bindLen;                 /* bind the method with its length, not -1 */
  /* case 2: a second connection commits every FRESH_BLOCK calls */
  sqlite3_stmt *pWBegin, *pWReg, *pWCommit;
  long nCommit;                /* commits this loop made (all reps) */
  /* case 1b: each repetition runs inside one read transaction */
  sqlite3 *dbTxn;
} Loop;

static void check_row(Loop *p, int m){
  sqlite3_stmt *pStmt = p->pStmt;
  Fleet *f = p->f;
  if( sqlite3_step(pStmt)!=SQLITE_ROW ){
    die("%s(%s): %s", p->zName, gMethod[m],
        sqlite3_errmsg(sqlite3_db_handle(pStmt)));
  }
  if( p->check==CHK_KEY || p->check==CHK_ONE ){
    int minor = p->check==CHK_ONE ? ONE_MINOR : f->expMinor[m];
    if( sqlite3_column_type(pStmt, 0)!=SQLITE_INTEGER
     || sqlite3_column_int64(pStmt, 0)!=KEY(1, minor) ){
      die("%s(%s) returned %s, expected the key of 1.%d", p->zName, gMethod[m],
          sqlite3_column_text(pStmt, 0) ? (const char*)sqlite3_column_text(pStmt, 0)
                                        : "NULL", minor);
    }
  }else{
    const char *z = (const char*)sqlite3_column_text(pStmt, 0);
    const char *zExp = p->check==CHK_ECHO ? gMethod[m] : f->expText[m];
    if( z==0 || strcmp(z, zExp)!=0 ){
      die("%s(%s) returned %s, expected %s", p->zName, gMethod[m],
          z ? z : "NULL", zExp);
    }
  }
  sqlite3_reset(pStmt);
}

/* The writer connection of case 2: the laggard manager of method m
** re-registers one minor version higher, which moves negotiated up. */
static void writer_commit(Loop *p, int m){
  Fleet *f = p->f;
  const char *z;
  char zHi[24];
  set_expected(f, m, f->expMinor[m] + 1);
  snprintf(zHi, sizeof(zHi), "1.%d", f->expMinor[m]);
  step_done(p->pWBegin);
  sqlite3_bind_text(p->pWReg, 1, "mgr-0000000", -1, SQLITE_STATIC);
  sqlite3_bind_text(p->pWReg, 2, gMethod[m], gMethodLen[m], SQLITE_STATIC);
  sqlite3_bind_text(p->pWReg, 3, zHi, -1, SQLITE_TRANSIENT);
  if( sqlite3_step(p->pWReg)!=SQLITE_ROW ){
    die("writer rpc_register: %s", sqlite3_errmsg(sqlite3_db_handle(p->pWReg)));
  }
  z = (const char*)sqlite3_column_text(p->pWReg, 0);
  if( z==0 || strcmp(z, f->expText[m])!=0 ){
    die("writer rpc_register(%s) returned %s, expected %s", gMethod[m],
        z ? z : "NULL", f->expText[m]);
  }
  sqlite3_reset(p->pWReg);
  step_done(p->pWCommit);
  p->nCommit++;
}

/* Bind call i's method: the one-row table's key for CHK_ONE (its one
** row), else method m.  With length -1 unless the loop says otherwise:
** the cheapest way, since SQLite then knows the text is NUL-terminated
** and sqlite3_column_text() need not copy it (bench/README.md). */
static int bind_method(Loop *p, int m){
  if( p->check==CHK_ONE ) m = gHot[0];
  sqlite3_bind_text(p->pStmt, 1, gMethod[m], p->bindLen ? gMethodLen[m] : -1,
                    SQLITE_STATIC);
  return m;
}

static double run_loop(Loop *p){
  double t = 0, t0;
  long i = 0;
  if( p->dbTxn ){
    exec(p->dbTxn, "BEGIN");
    /* start the read transaction (rpc_max_send alone would too) */
    (void)one_int(p->dbTxn, "SELECT count(*) FROM rpc_methods");
  }
  if( p->pWReg==0 ){
    t0 = now_s();
    for(i=0; i<p->n; i++){
      check_row(p, bind_method(p, gHot[i % N_HOT]));
    }
    t = now_s() - t0;
  }else{
    /* Blocks of FRESH_BLOCK reader calls (timed) between writer commits
    ** (not timed).  A block starts with the method the last commit changed:
    ** the very next call after a commit must return the new value. */
    while( i<p->n ){
      long j, nBlk = p->n - i < FRESH_BLOCK ? p->n - i : FRESH_BLOCK;
      long b = p->f->block;
      t0 = now_s();
      for(j=0; j<nBlk; j++){
        check_row(p, bind_method(p, gHot[(b + j) % N_HOT]));
      }
      t += now_s() - t0;
      i += nBlk;
      p->f->block = b + 1;
      writer_commit(p, gHot[(b + 1) % N_HOT]);
    }
  }
  if( p->dbTxn ) exec(p->dbTxn, "COMMIT");
  return t;
}

/*
** Measure nv variants side by side: one warm-up repetition each, then reps
** repetitions, interleaved (the order rotates each repetition).  Sets
** aNsPerOp[v] to the median ns per call.
*/
static void measure(Loop *aLoop, int nv, int reps, double *aNsPerOp){
  double aSample[12][32];
  int r, i;
  for(i=0; i<nv; i++) (void)run_loop(&aLoop[i]);
  for(r=0; r<reps; r++){
    for(i=0; i<nv; i++){
      int v = (i + r) % nv;
      aSample[v][r] = run_loop(&aLoop[v]) * 1e9 / (double)aLoop[v].n;
    }
  }
  for(i=0; i<nv; i++){
    char zLine[400], zR[16];
    int n = 0;
    aNsPerOp[i] = median(aSample[i], reps);
    for(r=0; r<reps && n<(int)sizeof(zLine)-20; r++){
      n += snprintf(zLine+n, sizeof(zLine)-n, " %.0f", aSample[i][r]);
    }
    progress("    %-18s %6s rcv ns/op:%s  median %.0f", aLoop[i].zName,
             aLoop[i].f ? fmt_count(aLoop[i].f->R, zR, sizeof(zR)) : "", zLine,
             aNsPerOp[i]);
  }
}

/* --------------------------------------------------- case 5: bulk (fork) */

typedef enum { BULK_REGISTER, BULK_PLAIN } BulkKind;

typedef struct BulkResult {
  double secs, cpuSecs;
  long baseKb, peakKb;          /* ru_maxrss at the start and after COMMIT */
  char zErr[400];
} BulkResult;

static const char zPlainSchema[] =
  "CREATE TABLE plain(manager TEXT NOT NULL, method TEXT NOT NULL,"
  " lo NOT NULL, hi NOT NULL, PRIMARY KEY(manager, method)) WITHOUT ROWID;"
  "CREATE INDEX plain_by_hi ON plain(method, hi);"
  "CREATE INDEX plain_by_lo ON plain(method, lo);";

/* In the child: one bulk load of nMgr x nMeth registrations in one
** transaction, on a fresh WAL file with synchronous=NORMAL. */
static void bulk_child(BulkKind kind, int tempMem, long nMgr, int nMeth,
                       const char *zPath, BulkResult *pRes){
  struct rusage ru;
  sqlite3 *db;
  sqlite3_stmt *pStmt;
  char zMgr[32];
  double t0, c0;
  long i;
  int k;

  getrusage(RUSAGE_SELF, &ru);
  pRes->baseKb = ru.ru_maxrss;
  db = db_open(zPath);
  exec(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL");
  if( tempMem ) exec(db, "PRAGMA temp_store=MEMORY");
  if( kind==BULK_REGISTER ){
    (void)one_int(db, "SELECT rpc_init()");
    pStmt = prep(db, "SELECT rpc_register(?1, ?2, '1.5')");
  }else{
    exec(db, zPlainSchema);
    pStmt = prep(db, "INSERT INTO plain(manager, method, lo, hi)"
                     " VALUES (?1, ?2, ?3, ?4)");
  }
  t0 = now_s();
  c0 = cpu_s();
  exec(db, "BEGIN IMMEDIATE");
  for(i=0; i<nMgr; i++){
    manager_name(zMgr, sizeof(zMgr), "mgr", i);
    for(k=0; k<nMeth; k++){
      sqlite3_bind_text(pStmt, 1, zMgr, -1, SQLITE_STATIC);
      sqlite3_bind_text(pStmt, 2, gMethod[k], gMethodLen[k], SQLITE_STATIC);
      if( kind==BULK_REGISTER ){
        const char *z;
        if( sqlite3_step(pStmt)!=SQLITE_ROW ){
          die("bulk rpc_register: %s", sqlite3_errmsg(db));
        }
        z = (const char*)sqlite3_column_text(pStmt, 0);
        if( z==0 || strcmp(z, "1.5")!=0 ){
          die("bulk rpc_register(%s, %s) returned %s, expected 1.5", zMgr,
              gMethod[k], z ? z : "NULL");
        }
        sqlite3_reset(pStmt);
      }else{
        sqlite3_bind_int64(pStmt, 3, KEY(1, 0));
        sqlite3_bind_int64(pStmt, 4, KEY(1, 5));
        step_done(pStmt);
      }
    }
  }
  exec(db, "COMMIT");
  pRes->secs = now_s() - t0;
  pRes->cpuSecs = cpu_s() - c0;
  getrusage(RUSAGE_SELF, &ru);
  pRes->peakKb = ru.ru_maxrss;
  sqlite3_finalize(pStmt);

  if( kind==BULK_REGISTER ){
    if( one_int(db, "SELECT count(*) FROM rpc_ranges")!=nMgr*nMeth
     || one_int(db, "SELECT count(*) FROM rpc_managers")!=nMgr ){
      die("bulk rpc_register: wrong row counts");
    }
    {
      char zSql[200];
      snprintf(zSql, sizeof(zSql), "SELECT count(*) FROM rpc_methods"
               " WHERE receivers=%ld AND negotiated=%lld AND floor=%lld",
               nMgr, (long long)KEY(1, 5), (long long)KEY(1, 5));
      if( one_int(db, zSql)!=nMeth ) die("bulk rpc_register: wrong rpc_methods");
    }
  }else{
    if( one_int(db, "SELECT count(*) FROM plain")!=nMgr*nMeth ){
      die("bulk plain insert: wrong row count");
    }
  }
  db_close(db);
  remove_db(zPath);
}

/* Fork a child for one bulk run; returns its result. */
static BulkResult bulk_run(BulkKind kind, int tempMem, long nMgr, int nMeth){
  BulkResult res;
  int fd[2], status;
  pid_t pid;
  ssize_t n;
  char zName[32];
  const char *zPath;

  snprintf(zName, sizeof(zName), "bulk-%s", kind==BULK_REGISTER ? "rpc" : "plain");
  zPath = tmp_db(zName);
  fflush(stdout); fflush(stderr);
  if( pipe(fd)!=0 ) die("pipe: %s", strerror(errno));
  pid = fork();
  if( pid<0 ) die("fork: %s", strerror(errno));
  if( pid==0 ){
    close(fd[0]);
    memset(&res, 0, sizeof(res));
    bulk_child(kind, tempMem, nMgr, nMeth, zPath, &res);  /* dies if wrong */
    if( write(fd[1], &res, sizeof(res))!=(ssize_t)sizeof(res) ) _exit(3);
    _exit(0);
  }
  close(fd[1]);
  memset(&res, 0, sizeof(res));
  n = read(fd[0], &res, sizeof(res));
  close(fd[0]);
  if( waitpid(pid, &status, 0)<0 ) die("waitpid: %s", strerror(errno));
  if( n!=(ssize_t)sizeof(res) || !WIFEXITED(status) || WEXITSTATUS(status)!=0 ){
    die("bulk %s child failed (see its message above)", zName);
  }
  return res;
}

/* Two rows of case 5b: rows/s and the ratio, then the wall time per load.
** Returns the first. */
static Row *bulk_rows(const char *zWhat, double rows, double secsReg,
                      double secsPlain, double target){
  char zA[32], zB[32];
  Row *r = add_row("5b", zWhat), *r2;
  snprintf(zA, sizeof(zA), "%.0f/s", rows/secsReg);
  snprintf(zB, sizeof(zB), "%.0f/s", rows/secsPlain);
  setf(r->zA, sizeof(r->zA), "rpc_register %10s", zA);
  setf(r->zB, sizeof(r->zB), "INSERT plain %10s", zB);
  set_ratio(r, "ratio", secsReg/secsPlain, target);
  r2 = add_row("5b", "  same, wall time per load");
  setf(r2->zA, sizeof(r2->zA), "rpc_register %8.2f s", secsReg);
  setf(r2->zB, sizeof(r2->zB), "INSERT plain %8.2f s", secsPlain);
  return r;
}

/* Each load runs twice: with the defaults, and with PRAGMA
** temp_store=MEMORY.  Once a transaction outgrows the page cache, SQLite
** spills dirty pages to the WAL, and a page spilled while a statement
** journal is open must first be copied into that journal; the journal
** soon passes the 64 KiB SQLite keeps in memory and becomes a temporary
** file, so that every later statement of the transaction writes each page
** it changes to disk.  rpc_register's statements have journals (they fire
** triggers); the plain INSERT has none.  temp_store=MEMORY keeps the
** journal in memory (docs/benchmarks.md, case 5b). */
static void case_bulk(void){
  enum { REG, PLAIN, REG_MEM, PLAIN_MEM, NVAR };
  static const struct { BulkKind kind; int tempMem; const char *zName; }
  aVar[NVAR] = {
    { BULK_REGISTER, 0, "rpc_register" }, { BULK_PLAIN, 0, "plain" },
    { BULK_REGISTER, 1, "rpc_register, temp_store=MEMORY" },
    { BULK_PLAIN, 1, "plain, temp_store=MEMORY" },
  };
  long nMgr = gQuick ? 100 : 10000;
  int nMeth = 100;
  double aSecs[NVAR][REPS_HEAVY], aCpu[NVAR][REPS_HEAVY], m[NVAR], c[NVAR];
  long peak[NVAR] = {0, 0, 0, 0}, base = 0;
  double rows = (double)nMgr * nMeth;
  char zN[16];
  Row *r;
  int i, j, v;

  progress("5 bulk: warm-up (1/100 size), then %d x 4 loads (rpc_register,"
           " plain INSERT; default and temp_store=MEMORY) of %s rows, each in"
           " a forked child", REPS_HEAVY,
           fmt_count((long)rows, zN, sizeof(zN)));
  for(v=0; v<NVAR; v++){
    (void)bulk_run(aVar[v].kind, aVar[v].tempMem, nMgr/100 ? nMgr/100 : 1,
                   nMeth);
  }
  for(i=0; i<REPS_HEAVY; i++){
    for(j=0; j<NVAR; j++){
      BulkResult res;
      v = (i + j) % NVAR;                  /* order rotated each repetition */
      res = bulk_run(aVar[v].kind, aVar[v].tempMem, nMgr, nMeth);
      aSecs[v][i] = res.secs;
      aCpu[v][i] = res.cpuSecs;
      if( res.peakKb>peak[v] ) peak[v] = res.peakKb;
      if( res.baseKb>base ) base = res.baseKb;
      progress("  rep %d: %-32s %6.2f s (cpu %.2f s)", i+1, aVar[v].zName,
               res.secs, res.cpuSecs);
    }
  }
  for(v=0; v<NVAR; v++){
    m[v] = median(aSecs[v], REPS_HEAVY);
    c[v] = median(aCpu[v], REPS_HEAVY);
  }
  r = bulk_rows("", rows, m[REG], m[PLAIN], 2.5);
  setf(r->zWhat, sizeof(r->zWhat), "bulk %s regs, one txn (rows/s)",
           fmt_count((long)rows, zN, sizeof(zN)));
  r = add_row("5b", "  same, CPU time (user+sys) per load");
  setf(r->zA, sizeof(r->zA), "rpc_register %8.2f s", c[REG]);
  setf(r->zB, sizeof(r->zB), "INSERT plain %8.2f s", c[PLAIN]);
  set_ratio(r, "ratio", c[REG]/c[PLAIN], 0);
  (void)bulk_rows("  same, both with temp_store=MEMORY", rows, m[REG_MEM],
                  m[PLAIN_MEM], 0);

  r = add_row("7", "");
  setf(r->zWhat, sizeof(r->zWhat), "peak RSS, bulk %s (child, max of %d)",
           fmt_count((long)rows, zN, sizeof(zN)), REPS_HEAVY);
  setf(r->zA, sizeof(r->zA), "rpc_register %6.1f MB", peak[REG]/1024.0);
  setf(r->zB, sizeof(r->zB), "INSERT plain %6.1f MB", peak[PLAIN]/1024.0);
  setf(r->zRatio, sizeof(r->zRatio), "at fork %.1f MB", base/1024.0);
  r = add_row("7", "  same, temp_store=MEMORY");
  setf(r->zA, sizeof(r->zA), "rpc_register %6.1f MB", peak[REG_MEM]/1024.0);
  setf(r->zB, sizeof(r->zB), "INSERT plain %6.1f MB", peak[PLAIN_MEM]/1024.0);
}

/* ------------------------------------------------- case 7: cache bound */

static void case_cache_bound(void){
  sqlite3 *db = db_open(":memory:");
  sqlite3_stmt *pReg, *pSend;
  sqlite3_int64 n;
  int m;
  Row *r;

  progress("7 cache bound: rpc_max_send on %d methods", MAX_METHODS);
  exec(db, "BEGIN");
  pReg = prep(db, "SELECT rpc_register('mgr-0000000', ?1, ?2)");
  for(m=0; m<MAX_METHODS; m++){
    char zHi[24];
    snprintf(zHi, sizeof(zHi), "1.%d", m+1);
    sqlite3_bind_text(pReg, 1, gMethod[m], gMethodLen[m], SQLITE_STATIC);
    sqlite3_bind_text(pReg, 2, zHi, -1, SQLITE_TRANSIENT);
    if( sqlite3_step(pReg)!=SQLITE_ROW ) die("rpc_register: %s", sqlite3_errmsg(db));
    sqlite3_reset(pReg);
  }
  sqlite3_finalize(pReg);
  exec(db, "COMMIT");
  pSend = prep(db, "SELECT rpc_max_send(?1)");
  for(m=0; m<MAX_METHODS; m++){
    const char *z;
    char zExp[24];
    snprintf(zExp, sizeof(zExp), "1.%d", m+1);
    sqlite3_bind_text(pSend, 1, gMethod[m], gMethodLen[m], SQLITE_STATIC);
    if( sqlite3_step(pSend)!=SQLITE_ROW ) die("rpc_max_send: %s", sqlite3_errmsg(db));
    z = (const char*)sqlite3_column_text(pSend, 0);
    if( z==0 || strcmp(z, zExp)!=0 ){
      die("rpc_max_send(%s) returned %s, expected %s", gMethod[m], z ? z : "NULL",
          zExp);
    }
    sqlite3_reset(pSend);
  }
  sqlite3_finalize(pSend);
  n = one_int(db, "SELECT count(*) FROM rpcver_cache");
  if( n<1 || n>RPC_CACHE_SLOTS_EXPECTED ){
    die("rpcver_cache holds %lld entries after %d methods; bound is %d",
        (long long)n, MAX_METHODS, RPC_CACHE_SLOTS_EXPECTED);
  }
  db_close(db);
  r = add_row("7", "cache entries after 300 methods");
  setf(r->zA, sizeof(r->zA), "rpcver_cache %lld", (long long)n);
  setf(r->zB, sizeof(r->zB), "bound %d", RPC_CACHE_SLOTS_EXPECTED);
  setf(r->zRatio, sizeof(r->zRatio), "per connection");
  setf(r->zVerdict, sizeof(r->zVerdict), "ok");
}

/* ---------------------------------------- case 5: one registration/txn */

/* Per op: BEGIN IMMEDIATE; <one registration>; COMMIT. */
typedef struct TxnLoop {
  const char *zName;
  sqlite3 *db;
  sqlite3_stmt *pBegin, *pOp, *pCommit;
  int isRegister, isPlain;
  long n, next;              /* calls per repetition, next manager number */
} TxnLoop;

static double run_txn(TxnLoop *p){
  double t0 = now_s();
  long i;
  char zMgr[32];
  for(i=0; i<p->n; i++, p->next++){
    int m = (int)(p->next % N_METHODS);
    manager_name(zMgr, sizeof(zMgr), "new", p->next);
    step_done(p->pBegin);
    sqlite3_bind_text(p->pOp, 1, zMgr, -1, SQLITE_STATIC);
    sqlite3_bind_text(p->pOp, 2, gMethod[m], -1, SQLITE_STATIC);
    if( p->isPlain ){
      sqlite3_bind_int64(p->pOp, 3, KEY(1, 0));
      sqlite3_bind_int64(p->pOp, 4, KEY(1, 5));
      step_done(p->pOp);
    }else if( p->isRegister ){
      const char *z;
      if( sqlite3_step(p->pOp)!=SQLITE_ROW ) die("%s: %s", p->zName, sqlite3_errmsg(p->db));
      z = (const char*)sqlite3_column_text(p->pOp, 0);
      if( z==0 || strcmp(z, "1.5")!=0 ){
        die("%s(%s, %s) returned %s, expected 1.5", p->zName, zMgr, gMethod[m],
            z ? z : "NULL");
      }
      sqlite3_reset(p->pOp);
    }else{
      step_done(p->pOp);
    }
    step_done(p->pCommit);
  }
  return now_s() - t0;
}

/* The leanest table that stores one registration's worth of data: case
** 5a's baseline. */
static const char zPlainRegSchema[] =
  "CREATE TABLE plainreg(manager TEXT NOT NULL, method TEXT NOT NULL,"
  " lo INTEGER NOT NULL, hi INTEGER NOT NULL, PRIMARY KEY(manager, method))";

typedef enum { SMALL_RPCVER, SMALL_PLAIN, SMALL_PLAINREG } SmallKind;

/* A fresh WAL file, synchronous=NORMAL, with 100 methods x 10 managers. */
static sqlite3 *open_small(const char *zName, SmallKind kind){
  sqlite3 *db = db_open(tmp_db(zName));
  sqlite3_stmt *pIns;
  char zMgr[32];
  int i, k;
  exec(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL");
  if( kind==SMALL_RPCVER ){
    (void)one_int(db, "SELECT rpc_init()");
    pIns = prep(db, "INSERT INTO rpc_ranges(manager, method, lo, hi)"
                    " VALUES (?1, ?2, ?3, ?4)");
  }else if( kind==SMALL_PLAIN ){
    exec(db, zPlainSchema);
    pIns = prep(db, "INSERT INTO plain(manager, method, lo, hi)"
                    " VALUES (?1, ?2, ?3, ?4)");
  }else{
    exec(db, zPlainRegSchema);
    pIns = prep(db, "INSERT INTO plainreg(manager, method, lo, hi)"
                    " VALUES (?1, ?2, ?3, ?4)");
  }
  exec(db, "BEGIN");
  for(i=0; i<10; i++){
    manager_name(zMgr, sizeof(zMgr), "mgr", i);
    for(k=0; k<N_METHODS; k++){
      sqlite3_bind_text(pIns, 1, zMgr, -1, SQLITE_STATIC);
      sqlite3_bind_text(pIns, 2, gMethod[k], gMethodLen[k], SQLITE_STATIC);
      sqlite3_bind_int64(pIns, 3, KEY(1, 0));
      sqlite3_bind_int64(pIns, 4, KEY(1, 5));
      step_done(pIns);
    }
  }
  exec(db, "COMMIT");
  sqlite3_finalize(pIns);
  return db;
}

/*
** One registration per transaction.  The baseline is the leanest
** transaction that stores one registration's worth of data: INSERT OR
** REPLACE into a rowid table with PRIMARY KEY(manager, method), in its own
** file with the same settings.  An INSERT into a table of rpc_ranges'
** shape (WITHOUT ROWID, its two indexes) is an extra row.
*/
static void case_single_txn(void){
  enum { REG, PLAINREG, DML, PLAIN, NVAR };
  long n = gQuick ? 50 : 2000;
  sqlite3 *dbR = open_small("single-rpc", SMALL_RPCVER);
  sqlite3 *dbP = open_small("single-plain", SMALL_PLAIN);
  sqlite3 *dbQ = open_small("single-plainreg", SMALL_PLAINREG);
  TxnLoop a[NVAR];
  double s[NVAR][32], med[NVAR];
  char zA[32], zB[32], zC[32], zCheck[64];
  int r, i;
  Row *row;

  progress("5 one registration per transaction: %d x %ld txns each, %d variants",
           REPS_HEAVY, n, NVAR);
  memset(a, 0, sizeof(a));
  a[REG].zName = "rpc_register"; a[REG].db = dbR; a[REG].isRegister = 1;
  a[REG].pOp = prep(dbR, "SELECT rpc_register(?1, ?2, '1.5')");
  a[PLAINREG].zName = "INSERT OR REPLACE plainreg"; a[PLAINREG].db = dbQ;
  a[PLAINREG].isPlain = 1;
  a[PLAINREG].pOp = prep(dbQ, "INSERT OR REPLACE INTO plainreg(manager, method,"
                              " lo, hi) VALUES (?1, ?2, ?3, ?4)");
  a[DML].zName = "INSERT INTO rpc_registrations"; a[DML].db = dbR;
  a[DML].pOp = prep(dbR, "INSERT INTO rpc_registrations(manager, method, hi)"
                         " VALUES (?1, ?2, '1.5')");
  a[DML].next = 50000000;      /* other manager names than a[REG] */
  a[PLAIN].zName = "INSERT plain"; a[PLAIN].db = dbP; a[PLAIN].isPlain = 1;
  a[PLAIN].pOp = prep(dbP, "INSERT INTO plain(manager, method, lo, hi)"
                           " VALUES (?1, ?2, ?3, ?4)");
  for(i=0; i<NVAR; i++){
    a[i].n = n;
    a[i].pBegin = prep(a[i].db, "BEGIN IMMEDIATE");
    a[i].pCommit = prep(a[i].db, "COMMIT");
  }
  for(i=0; i<NVAR; i++) (void)run_txn(&a[i]);           /* warm-up */
  for(r=0; r<REPS_HEAVY; r++){
    for(i=0; i<NVAR; i++){
      int v = (i + r) % NVAR;
      s[v][r] = run_txn(&a[v]) * 1e9 / (double)n;
    }
  }
  for(i=0; i<NVAR; i++){
    med[i] = median(s[i], REPS_HEAVY);
    progress("    %-30s us/txn: %.0f %.0f %.0f %.0f %.0f  median %.0f", a[i].zName,
             s[i][0]/1e3, s[i][1]/1e3, s[i][2]/1e3, s[i][3]/1e3, s[i][4]/1e3,
             med[i]/1e3);
  }

  /* checks: every registration is there and the state is consistent */
  if( one_int(dbR, "SELECT count(*) FROM rpc_ranges")
      != 1000 + 2*(REPS_HEAVY+1)*n
   || one_int(dbP, "SELECT count(*) FROM plain") != 1000 + (REPS_HEAVY+1)*n
   || one_int(dbQ, "SELECT count(*) FROM plainreg") != 1000 + (REPS_HEAVY+1)*n ){
    die("one-registration transactions: wrong row counts");
  }
  one_text(dbR, "SELECT rpc_verify()", zCheck, sizeof(zCheck));
  if( strcmp(zCheck, "ok")!=0 ) die("rpc_verify() after case 5: %s", zCheck);
  for(i=0; i<NVAR; i++){
    sqlite3_finalize(a[i].pOp);
    sqlite3_finalize(a[i].pBegin);
    sqlite3_finalize(a[i].pCommit);
  }
  db_close(dbR);
  db_close(dbP);
  db_close(dbQ);

  row = add_row("5a", "1 registration/txn, WAL, sync=NORMAL");
  setf(row->zA, sizeof(row->zA), "rpc_register %9s", fmt_ns(med[REG], zA, sizeof(zA)));
  setf(row->zB, sizeof(row->zB), "plain txn %9s", fmt_ns(med[PLAINREG], zB, sizeof(zB)));
  set_ratio(row, "ratio", med[REG]/med[PLAINREG], TARGET_REGISTER);
  floor_note(FLOOR_REGISTER, med[REG], med[PLAINREG]);
  row = add_row("5a", "  same via INSERT INTO rpc_registrations");
  setf(row->zA, sizeof(row->zA), "DML view     %9s", fmt_ns(med[DML], zC, sizeof(zC)));
  setf(row->zB, sizeof(row->zB), "plain txn %9s", zB);
  set_ratio(row, "ratio", med[DML]/med[PLAINREG], 0);
  row = add_row("5a", "  rpc_register vs rpc_ranges' shape, no trig");
  setf(row->zA, sizeof(row->zA), "rpc_register %9s", zA);
  setf(row->zB, sizeof(row->zB), "INSERT plain %9s", fmt_ns(med[PLAIN], zC, sizeof(zC)));
  set_ratio(row, "ratio", med[REG]/med[PLAIN], 0);
}

/* ------------------------------------------------ case 8: the event log */

/*
** The same database without the event log, the baseline of case 8: every
** trigger that writes rpc_log is created again without the statements that
** write it (one that only logs is dropped; rpc_log_bounds keeps a trigger
** that does nothing, since the write functions still insert into it every
** 64th write), and rpc_methods_floor gets back the WHEN and UPDATE OF it
** had before the log (revision 6).  What is left is what a registration
** did before the log; the case checks that the log stays empty.
*/
static int writes_log(const char *zStmt, int n){
  char *z = sqlite3_mprintf("%.*s", n, zStmt);
  int yes = strstr(z, "INSERT INTO rpc_log(")!=0
         || strstr(z, "DELETE FROM rpc_log")!=0
         || strstr(z, "INSERT INTO rpc_log_bounds")!=0;
  sqlite3_free(z);
  return yes;
}

/* zSql with zFrom replaced by zTo, which must be there (a schema that no
** longer has it would make the baseline something else). */
static char *replace_once(const char *zSql, const char *zFrom, const char *zTo){
  const char *z = strstr(zSql, zFrom);
  if( z==0 ) die("case 8: rpc_methods_floor no longer has \"%s\"", zFrom);
  return sqlite3_mprintf("%.*s%s%s", (int)(z - zSql), zSql, zTo,
                         z + strlen(zFrom));
}

static void remove_log(sqlite3 *db){
  sqlite3_stmt *pList = prep(db,
      "SELECT name, sql FROM sqlite_schema WHERE type = 'trigger'"
      "   AND (sql LIKE '%INSERT INTO rpc_log%' OR sql LIKE '%DELETE FROM rpc_log%')");
  char *azName[64], *azSql[64];
  int n = 0, i;
  while( sqlite3_step(pList)==SQLITE_ROW && n<64 ){
    azName[n] = sqlite3_mprintf("%s", sqlite3_column_text(pList, 0));
    azSql[n] = sqlite3_mprintf("%s", sqlite3_column_text(pList, 1));
    n++;
  }
  sqlite3_finalize(pList);
  if( n<8 ) die("case 8: only %d triggers write the log", n);
  exec(db, "BEGIN");
  for(i=0; i<n; i++){
    const char *zBody = strstr(azSql[i], "BEGIN\n");
    sqlite3_str *pNew = sqlite3_str_new(0);
    const char *z;
    int kept = 0;
    char *zNew, *zDrop;
    if( zBody==0 ) die("case 8: trigger %s has no BEGIN", azName[i]);
    zBody += 6;
    sqlite3_str_append(pNew, azSql[i], (int)(zBody - azSql[i]));
    /* the body's statements end with ";" at the end of a line */
    for(z=zBody; *z; ){
      const char *zEnd = strstr(z, ";\n");
      if( zEnd==0 ) break;
      if( !writes_log(z, (int)(zEnd - z)) ){
        sqlite3_str_append(pNew, z, (int)(zEnd + 2 - z));
        kept++;
      }
      z = zEnd + 2;
    }
    if( kept==0 && strcmp(azName[i], "rpc_log_bounds_insert")==0 ){
      sqlite3_str_appendall(pNew, "  SELECT 1;\n");
      kept++;
    }
    sqlite3_str_appendall(pNew, "END");
    zNew = sqlite3_str_finish(pNew);
    zDrop = sqlite3_mprintf("DROP TRIGGER \"%w\"", azName[i]);
    exec(db, zDrop);
    if( kept ){
      if( strcmp(azName[i], "rpc_methods_floor")==0 ){
        char *z1 = replace_once(zNew, "receivers, max_lo, min_hi, newest, pin",
                                "receivers, max_lo, min_hi, pin");
        char *z2 = replace_once(z1, "\n    OR NEW.negotiated IS NOT OLD.negotiated"
                                " OR NEW.newest IS NOT OLD.newest", "");
        sqlite3_free(zNew);
        sqlite3_free(z1);
        zNew = z2;
      }
      exec(db, zNew);
    }
    sqlite3_free(zNew);
    sqlite3_free(zDrop);
    sqlite3_free(azName[i]);
    sqlite3_free(azSql[i]);
  }
  exec(db, "COMMIT");
  {
    char zLeft[256];
    one_text(db, "SELECT coalesce(group_concat(name, ' '), '') FROM sqlite_schema"
                 " WHERE type = 'trigger' AND (sql LIKE '%INSERT INTO rpc_log%'"
                 "    OR sql LIKE '%DELETE FROM rpc_log%')", zLeft, sizeof(zLeft));
    if( zLeft[0] ) die("case 8: these triggers still write the log: %s", zLeft);
  }
  exec(db, "DELETE FROM rpc_log");          /* what the set-up logged */
}

/* Per repetition: n new registrations in one BEGIN IMMEDIATE ... COMMIT. */
static double run_bulk_txn(TxnLoop *p){
  double t0 = now_s();
  long i;
  char zMgr[32];
  step_done(p->pBegin);
  for(i=0; i<p->n; i++, p->next++){
    int m = (int)(p->next % N_METHODS);
    const char *z;
    manager_name(zMgr, sizeof(zMgr), "bulk", p->next / N_METHODS);
    sqlite3_bind_text(p->pOp, 1, zMgr, -1, SQLITE_STATIC);
    sqlite3_bind_text(p->pOp, 2, gMethod[m], gMethodLen[m], SQLITE_STATIC);
    if( sqlite3_step(p->pOp)!=SQLITE_ROW ) die("%s: %s", p->zName, sqlite3_errmsg(p->db));
    z = (const char*)sqlite3_column_text(p->pOp, 0);
    if( z==0 || strcmp(z, "1.5")!=0 ) die("%s returned %s, expected 1.5", p->zName, z ? z : "NULL");
    sqlite3_reset(p->pOp);
  }
  step_done(p->pCommit);
  return now_s() - t0;
}

/* Cached rpc_max_send, n calls over the 8 hot methods, in one read
** transaction (as case 1b). */
static double run_hot(sqlite3 *db, sqlite3_stmt *pStmt, long n){
  double t0, t;
  long i;
  exec(db, "BEGIN");
  (void)one_int(db, "SELECT count(*) FROM rpc_methods");   /* the snapshot */
  t0 = now_s();
  for(i=0; i<n; i++){
    int m = gHot[i % N_HOT];
    const char *z;
    sqlite3_bind_text(pStmt, 1, gMethod[m], gMethodLen[m], SQLITE_STATIC);
    if( sqlite3_step(pStmt)!=SQLITE_ROW ) die("rpc_max_send: %s", sqlite3_errmsg(db));
    z = (const char*)sqlite3_column_text(pStmt, 0);
    if( z==0 || strcmp(z, "1.5")!=0 ) die("rpc_max_send returned %s, expected 1.5", z ? z : "NULL");
    sqlite3_reset(pStmt);
  }
  t = now_s() - t0;
  exec(db, "COMMIT");
  return t;
}

static void case_log(void){
  long nTxn = gQuick ? 50 : 2000, nBulk = gQuick ? 500 : 20000;
  long nHot = gQuick ? 2000 : 200000;
  sqlite3 *aDb[2];
  TxnLoop one[2], bulk[2];
  sqlite3_stmt *apHot[2];
  double s[3][2][32], med[3][2];
  char zA[32], zB[32], zCheck[64];
  static const char *azWhat[3] = {
    "1 registration/txn, WAL, with the log",
    "  same, 20,000 registrations in one txn",
    "hot path cached, WAL read txn, with the log"
  };
  int r, i, k;
  Row *row;

  progress("8 the event log: registrations and rpc_max_send, with and without it");
  aDb[0] = open_small("log-on", SMALL_RPCVER);
  aDb[1] = open_small("log-off", SMALL_RPCVER);
  /* a full log, so that every measured write also keeps its bounds */
  (void)one_int(aDb[0], "SELECT rpc_log_keep(1000, NULL)");
  remove_log(aDb[1]);
  memset(one, 0, sizeof(one));
  memset(bulk, 0, sizeof(bulk));
  for(i=0; i<2; i++){
    TxnLoop *t[2] = { &one[i], &bulk[i] };
    for(k=0; k<2; k++){
      t[k]->zName = "rpc_register";
      t[k]->db = aDb[i];
      t[k]->isRegister = 1;
      t[k]->pOp = prep(aDb[i], "SELECT rpc_register(?1, ?2, '1.5')");
      t[k]->pBegin = prep(aDb[i], "BEGIN IMMEDIATE");
      t[k]->pCommit = prep(aDb[i], "COMMIT");
    }
    one[i].n = nTxn;
    bulk[i].n = nBulk;
    bulk[i].next = 70000000;
    apHot[i] = prep(aDb[i], "SELECT rpc_max_send(?1)");
    (void)run_txn(&one[i]);                            /* warm-up */
    (void)run_bulk_txn(&bulk[i]);
    (void)run_hot(aDb[i], apHot[i], nHot);
  }
  for(r=0; r<REPS_HEAVY; r++){
    for(k=0; k<2; k++){
      i = (k + r) % 2;
      s[0][i][r] = run_txn(&one[i]) * 1e9 / (double)nTxn;
      s[1][i][r] = run_bulk_txn(&bulk[i]) * 1e9 / (double)nBulk;
      s[2][i][r] = run_hot(aDb[i], apHot[i], nHot) * 1e9 / (double)nHot;
    }
  }
  for(k=0; k<3; k++){
    for(i=0; i<2; i++){
      med[k][i] = median(s[k][i], REPS_HEAVY);
      progress("    %s, log %s: ns %.0f %.0f %.0f %.0f %.0f  median %.0f",
               azWhat[k], i ? "off" : "on", s[k][i][0], s[k][i][1],
               s[k][i][2], s[k][i][3], s[k][i][4], med[k][i]);
    }
  }

  /* checks: the log is full and consistent on one, empty on the other */
  one_text(aDb[0], "SELECT rpc_verify()", zCheck, sizeof(zCheck));
  if( strcmp(zCheck, "ok")!=0 ) die("rpc_verify() after case 8: %s", zCheck);
  if( one_int(aDb[0], "SELECT count(*) BETWEEN 1000 AND 1000 + 130 FROM rpc_log")!=1 ){
    die("case 8: the log is not within its bounds");
  }
  if( one_int(aDb[1], "SELECT count(*) FROM rpc_log")!=0 ){
    die("case 8: the baseline wrote the log");
  }
  for(i=0; i<2; i++){
    if( one_int(aDb[i], "SELECT count(*) FROM rpc_ranges")
        != 1000 + (REPS_HEAVY+1)*(nTxn + nBulk) ){
      die("case 8: wrong registration count");
    }
    sqlite3_finalize(apHot[i]);
    sqlite3_finalize(one[i].pOp); sqlite3_finalize(one[i].pBegin);
    sqlite3_finalize(one[i].pCommit);
    sqlite3_finalize(bulk[i].pOp); sqlite3_finalize(bulk[i].pBegin);
    sqlite3_finalize(bulk[i].pCommit);
    db_close(aDb[i]);
  }

  for(k=0; k<3; k++){
    row = add_row("8", azWhat[k]);
    setf(row->zA, sizeof(row->zA), "log on  %9s", fmt_ns(med[k][0], zA, sizeof(zA)));
    setf(row->zB, sizeof(row->zB), "log off %9s", fmt_ns(med[k][1], zB, sizeof(zB)));
    /* the hot path runs no statement on the log: its ratio is reported,
    ** with no target of its own */
    set_ratio(row, "ratio", med[k][0]/med[k][1], k<2 ? 1.1 : 0);
  }
}

/* ------------------------------------------- case 6: rolling upgrade */

typedef struct Upgrade {
  sqlite3 *db;
  sqlite3_stmt *pBegin, *pReg, *pCommit;
  long nMgr;
  int nMeth;
  int minor;                 /* the highest version registered */
  int negMinor;              /* the negotiated version (1.negMinor) */
  double lastCpu;            /* CPU seconds of the last upgrade_run() */
} Upgrade;

static void upgrade_open(Upgrade *u, const char *zName, long nMgr, int nMeth){
  sqlite3_stmt *pIns;
  char zMgr[32];
  long i;
  int k;
  memset(u, 0, sizeof(*u));
  u->nMgr = nMgr; u->nMeth = nMeth;
  u->db = db_open(tmp_db(zName));
  exec(u->db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL");
  (void)one_int(u->db, "SELECT rpc_init()");
  /* Everyone at 1.0, through the base table (set-up, not timed). */
  pIns = prep(u->db, "INSERT INTO rpc_ranges(manager, method, lo, hi)"
                     " VALUES (?1, ?2, ?3, ?3)");
  exec(u->db, "BEGIN");
  for(i=0; i<nMgr; i++){
    manager_name(zMgr, sizeof(zMgr), "mgr", i);
    for(k=0; k<nMeth; k++){
      sqlite3_bind_text(pIns, 1, zMgr, -1, SQLITE_STATIC);
      sqlite3_bind_text(pIns, 2, gMethod[k], gMethodLen[k], SQLITE_STATIC);
      sqlite3_bind_int64(pIns, 3, KEY(1, 0));
      step_done(pIns);
    }
  }
  exec(u->db, "COMMIT");
  sqlite3_finalize(pIns);
  u->pBegin = prep(u->db, "BEGIN IMMEDIATE");
  u->pReg = prep(u->db, "SELECT rpc_register(?1, ?2, ?3)");
  u->pCommit = prep(u->db, "COMMIT");
}

/* A rolling upgrade to 1.(minor+1) of the first nMgr managers: each
** re-registers all its methods in one transaction.  rpc_register returns
** the negotiated version: the old one until the fleet's last manager, then
** the new one.  nMgr < u->nMgr is a partial upgrade (the warm-up). */
static double upgrade_run(Upgrade *u, long nMgr){
  char zMgr[32], zNew[24], zOld[24];
  double t0, c0 = cpu_s();
  long i;
  int k;
  snprintf(zOld, sizeof(zOld), "1.%d", u->negMinor);
  snprintf(zNew, sizeof(zNew), "1.%d", u->minor + 1);
  t0 = now_s();
  for(i=0; i<nMgr; i++){
    const char *zExp = i==u->nMgr-1 ? zNew : zOld;
    manager_name(zMgr, sizeof(zMgr), "mgr", i);
    step_done(u->pBegin);
    for(k=0; k<u->nMeth; k++){
      const char *z;
      sqlite3_bind_text(u->pReg, 1, zMgr, -1, SQLITE_STATIC);
      sqlite3_bind_text(u->pReg, 2, gMethod[k], gMethodLen[k], SQLITE_STATIC);
      sqlite3_bind_text(u->pReg, 3, zNew, -1, SQLITE_STATIC);
      if( sqlite3_step(u->pReg)!=SQLITE_ROW ){
        die("upgrade rpc_register: %s", sqlite3_errmsg(u->db));
      }
      z = (const char*)sqlite3_column_text(u->pReg, 0);
      if( z==0 || strcmp(z, zExp)!=0 ){
        die("upgrade: rpc_register(%s, %s, %s) returned %s, expected %s", zMgr,
            gMethod[k], zNew, z ? z : "NULL", zExp);
      }
      sqlite3_reset(u->pReg);
    }
    step_done(u->pCommit);
  }
  t0 = now_s() - t0;
  u->lastCpu = cpu_s() - c0;
  u->minor++;
  if( nMgr==u->nMgr ) u->negMinor = u->minor;
  return t0;
}

static void upgrade_close(Upgrade *u){
  char zSql[200];
  snprintf(zSql, sizeof(zSql), "SELECT count(*) FROM rpc_methods WHERE"
           " receivers=%ld AND negotiated=%lld AND floor=%lld AND min_hi=newest",
           u->nMgr, (long long)KEY(1, u->minor), (long long)KEY(1, u->minor));
  if( one_int(u->db, zSql)!=u->nMeth ) die("rolling upgrade: wrong final state");
  sqlite3_finalize(u->pBegin);
  sqlite3_finalize(u->pReg);
  sqlite3_finalize(u->pCommit);
  db_close(u->db);
}

static void case_rolling(void){
  long nSmall = gQuick ? 10 : 1000, nBig = gQuick ? 100 : 10000;
  int nMeth = 20;
  Upgrade small, big;
  double sS[32], sB[32], cS[32], cB[32], mS, mB, tB, cpuS, cpuB;
  char zA[32], zB[32], zN1[16], zN2[16];
  int r;
  Row *row;

  progress("6 rolling upgrade: %ld and %ld managers x %d methods, warm-up (a"
           " tenth) + %d upgrades each", nSmall, nBig, nMeth, REPS_HEAVY);
  upgrade_open(&small, "upgrade-small", nSmall, nMeth);
  upgrade_open(&big, "upgrade-big", nBig, nMeth);
  /* warm-up: a tenth of each fleet upgrades (to a version the measured
  ** upgrades then pass) */
  (void)upgrade_run(&small, nSmall/10);
  (void)upgrade_run(&big, nBig/10);
  for(r=0; r<REPS_HEAVY; r++){
    if( r%2==0 ){ sS[r] = upgrade_run(&small, nSmall); sB[r] = upgrade_run(&big, nBig); }
    else{         sB[r] = upgrade_run(&big, nBig); sS[r] = upgrade_run(&small, nSmall); }
    cS[r] = small.lastCpu; cB[r] = big.lastCpu;
    progress("  rep %d: %ld managers %.2f s (cpu %.2f s), %ld managers %.2f s"
             " (cpu %.2f s)", r+1, nSmall, sS[r], cS[r], nBig, sB[r], cB[r]);
  }
  upgrade_close(&small);
  upgrade_close(&big);
  tB = median(sB, REPS_HEAVY);
  mS = median(sS, REPS_HEAVY) * 1e9 / (double)nSmall;
  mB = tB * 1e9 / (double)nBig;
  row = add_row("6", "");
  setf(row->zWhat, sizeof(row->zWhat), "rolling upgrade, per manager (%d regs)",
           nMeth);
  setf(row->zA, sizeof(row->zA), "%s mgrs %9s", fmt_count(nBig, zN1, sizeof(zN1)),
           fmt_ns(mB, zA, sizeof(zA)));
  setf(row->zB, sizeof(row->zB), "%s mgrs %9s", fmt_count(nSmall, zN2, sizeof(zN2)),
           fmt_ns(mS, zB, sizeof(zB)));
  set_ratio(row, "ratio", mB/mS, 1.2);
  cpuS = median(cS, REPS_HEAVY) * 1e9 / (double)nSmall;
  cpuB = median(cB, REPS_HEAVY) * 1e9 / (double)nBig;
  row = add_row("6", "  same, CPU time (user+sys) per manager");
  setf(row->zA, sizeof(row->zA), "%s mgrs %9s", zN1, fmt_ns(cpuB, zA, sizeof(zA)));
  setf(row->zB, sizeof(row->zB), "%s mgrs %9s", zN2, fmt_ns(cpuS, zB, sizeof(zB)));
  set_ratio(row, "ratio", cpuB/cpuS, 0);
  row = add_row("6", "  total, whole fleet upgraded");
  setf(row->zA, sizeof(row->zA), "%s mgrs %8.2f s", zN1, tB);
  setf(row->zB, sizeof(row->zB), "%s mgrs %8.2f s", zN2, median(sS, REPS_HEAVY));
}

/* ------------------------------------- cases 1-4: fleets of each size */

/* Build the fleet: N_METHODS methods x R receivers, through the base table
** (the triggers run), in one transaction.  Manager 0 is each method's
** laggard at 1.(2+k) for method k; everyone else is at 1.HIGH_MINOR. */
static void fleet_build(sqlite3 *db, Fleet *f){
  sqlite3_stmt *pIns;
  char zMgr[32], zSql[200];
  long R = f->R, i;
  double t0;
  int k;

  exec(db, "PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF;"
           " PRAGMA cache_size=-2000000");
  (void)one_int(db, "SELECT rpc_init()");
  pIns = prep(db, "INSERT INTO rpc_ranges(manager, method, lo, hi)"
                  " VALUES (?1, ?2, ?3, ?4)");
  t0 = now_s();
  exec(db, "BEGIN");
  for(i=0; i<R; i++){
    manager_name(zMgr, sizeof(zMgr), "mgr", i);
    for(k=0; k<N_METHODS; k++){
      sqlite3_bind_text(pIns, 1, zMgr, -1, SQLITE_STATIC);
      sqlite3_bind_text(pIns, 2, gMethod[k], gMethodLen[k], SQLITE_STATIC);
      sqlite3_bind_int64(pIns, 3, KEY(1, 0));
      sqlite3_bind_int64(pIns, 4, i==0 ? KEY(1, 2+k) : KEY(1, HIGH_MINOR));
      step_done(pIns);
    }
    if( R>=10000 && i>0 && i%(R/10)==0 ){
      progress("    %ld of %ld managers (%.0f s)", i, R, now_s()-t0);
    }
  }
  exec(db, "COMMIT");
  f->buildSecs = now_s() - t0;
  sqlite3_finalize(pIns);
  for(k=0; k<N_METHODS; k++) set_expected(f, k, 2+k);
  snprintf(zSql, sizeof(zSql), "SELECT count(*) FROM rpc_methods WHERE"
           " receivers=%ld AND max_lo=%lld AND newest=%lld",
           R, (long long)KEY(1, 0), (long long)KEY(1, R>1 ? HIGH_MINOR : 2));
  if( one_int(db, "SELECT count(*) FROM rpc_ranges")!=R*N_METHODS
   || one_int(db, zSql)!=N_METHODS ){
    die("fleet build: wrong state");
  }
}

/* The copies the on-demand approach reads (case 4), and case 2's
** baseline: the leanest indexed read of one row, a one-row WITHOUT ROWID
** table read by its primary key (the first hot method, version 1.5). */
static void fleet_copies(sqlite3 *db, Fleet *f){
  double t0 = now_s();
  sqlite3_stmt *pIns;
  exec(db, "BEGIN;"
    "CREATE TABLE plain(manager, method, lo, hi);"
    "INSERT INTO plain SELECT manager, method, lo, hi FROM rpc_ranges;"
    "CREATE TABLE plain_idx(manager, method, lo, hi);"
    "INSERT INTO plain_idx SELECT manager, method, lo, hi FROM rpc_ranges;"
    "CREATE INDEX plain_idx_by_method_hi ON plain_idx(method, hi);"
    "CREATE TABLE plain_one(method TEXT PRIMARY KEY, negotiated INTEGER)"
    " WITHOUT ROWID;");
  pIns = prep(db, "INSERT INTO plain_one VALUES (?1, ?2)");
  sqlite3_bind_text(pIns, 1, gMethod[gHot[0]], -1, SQLITE_STATIC);
  sqlite3_bind_int64(pIns, 2, KEY(1, ONE_MINOR));
  step_done(pIns);
  sqlite3_finalize(pIns);
  exec(db, "COMMIT");
  f->copySecs = now_s() - t0;
}

static void cache_holds_hot(sqlite3 *db, const char *zWhere){
  sqlite3_int64 n = one_int(db, "SELECT count(*) FROM rpcver_cache");
  if( n!=N_HOT ){
    die("%s: rpcver_cache holds %lld entries, expected the %d hot methods",
        zWhere, (long long)n, N_HOT);
  }
}

/* Create the fleet's file and its in-memory copy; open its connections. */
static void fleet_setup(Fleet *f, long R){
  char zName[32], zN[16], zM[16];
  sqlite3 *db;
  sqlite3_backup *pBk;

  f->R = R;
  snprintf(zName, sizeof(zName), "fleet-%ld", R);
  f->zPath = tmp_db(zName);
  progress("fleet %s receivers x %d methods (%s registrations): building",
           fmt_count(R, zN, sizeof(zN)), N_METHODS,
           fmt_count(R*N_METHODS, zM, sizeof(zM)));
  db = db_open(f->zPath);
  fleet_build(db, f);
  progress("  built in %.1f s; copying it into :memory: (case 1a)", f->buildSecs);
  f->dbMem = db_open(":memory:");
  pBk = sqlite3_backup_init(f->dbMem, "main", db, "main");
  if( pBk==0 || sqlite3_backup_step(pBk, -1)!=SQLITE_DONE ){
    die("backup to :memory: %s", sqlite3_errmsg(f->dbMem));
  }
  sqlite3_backup_finish(pBk);
  progress("  copies for case 4 (plain, plain_idx)");
  fleet_copies(db, f);
  exec(db, "PRAGMA journal_mode=WAL");
  db_close(db);
  f->db = db_open(f->zPath);
  f->dbW = db_open(f->zPath);
  exec(f->db, "PRAGMA synchronous=NORMAL");
  exec(f->dbW, "PRAGMA synchronous=NORMAL");
}

static void fleet_teardown(Fleet *f){
  int k;
  /* Every method's state is what the harness expects. */
  for(k=0; k<N_METHODS; k++){
    char zSql[160];
    snprintf(zSql, sizeof(zSql), "SELECT count(*) FROM rpc_methods WHERE"
             " method='%s' AND negotiated=%lld AND floor=%lld", gMethod[k],
             (long long)KEY(1, f->expMinor[k]), (long long)KEY(1, f->expMinor[k]));
    if( one_int(f->db, zSql)!=1 ){
      die("fleet %ld: %s is not at %s", f->R, gMethod[k], f->expText[k]);
    }
  }
  if( f->R*N_METHODS<=1000000 ){
    char zCheck[64];
    one_text(f->db, "SELECT rpc_verify()", zCheck, sizeof(zCheck));
    if( strcmp(zCheck, "ok")!=0 ) die("rpc_verify() on fleet %ld: %s", f->R, zCheck);
  }
  db_close(f->dbMem);
  db_close(f->dbW);
  db_close(f->db);
  remove_db(f->zPath);
}

static void finalize_loops(Loop *a, int n){
  int i;
  for(i=0; i<n; i++){
    sqlite3_finalize(a[i].pStmt);
    sqlite3_finalize(a[i].pWBegin);
    sqlite3_finalize(a[i].pWReg);
    sqlite3_finalize(a[i].pWCommit);
  }
}

/*
** All fleets exist at once, so that cases 1 and 2 measure every fleet size
** side by side, interleaved: case 3's ratios come from the same
** measurements as cases 1 and 2.
*/
static void fleets_run(Fleet *af, int n){
  Loop a[12];
  double med[12];
  long nHot = gQuick ? 2000 : 200000;
  long nFresh = gQuick ? 2000 : 50000;
  long nIdx = gQuick ? 500 : 50000;
  int i, k;

  for(i=0; i<n; i++) fleet_setup(&af[i], af[i].R);

  /* 1a: the private in-memory copy.  Both sides bind with -1; on the
  ** first fleet, both again with the method's length (extra rows). */
  progress("1a cached, :memory:, all fleets interleaved");
  memset(a, 0, sizeof(a));
  for(i=0; i<n; i++){
    Loop *x = &a[2*i], *y = &a[2*i+1];
    x->zName = "rpc_max_send"; x->check = CHK_VERSION; x->n = nHot; x->f = &af[i];
    x->pStmt = prep(af[i].dbMem, "SELECT rpc_max_send(?1)");
    y->zName = "SELECT ?1"; y->check = CHK_ECHO; y->n = nHot; y->f = &af[i];
    y->pStmt = prep(af[i].dbMem, "SELECT ?1");
  }
  for(k=0; k<2; k++){
    a[2*n+k] = a[k];
    a[2*n+k].zName = k ? "SELECT ?1 (len)" : "rpc_max_send (len)";
    a[2*n+k].bindLen = 1;
    a[2*n+k].pStmt = prep(af[0].dbMem, k ? "SELECT ?1" : "SELECT rpc_max_send(?1)");
  }
  measure(a, 2*n+2, REPS_FAST, med);
  for(i=0; i<n; i++){
    af[i].mem = med[2*i]; af[i].memEcho = med[2*i+1];
    cache_holds_hot(af[i].dbMem, "1a");
  }
  af[0].memLen = med[2*n]; af[0].memEchoLen = med[2*n+1];
  finalize_loops(a, 2*n+2);

  /* 1b: the WAL file, inside a read transaction. */
  progress("1b cached, WAL file in a read transaction, all fleets interleaved");
  memset(a, 0, sizeof(a));
  for(i=0; i<n; i++){
    Loop *x = &a[2*i], *y = &a[2*i+1];
    x->zName = "rpc_max_send"; x->check = CHK_VERSION; x->n = nHot; x->f = &af[i];
    x->pStmt = prep(af[i].db, "SELECT rpc_max_send(?1)"); x->dbTxn = af[i].db;
    y->zName = "SELECT ?1"; y->check = CHK_ECHO; y->n = nHot; y->f = &af[i];
    y->pStmt = prep(af[i].db, "SELECT ?1"); y->dbTxn = af[i].db;
  }
  for(k=0; k<2; k++){
    a[2*n+k] = a[k];
    a[2*n+k].zName = k ? "SELECT ?1 (len)" : "rpc_max_send (len)";
    a[2*n+k].bindLen = 1;
    a[2*n+k].pStmt = prep(af[0].db, k ? "SELECT ?1" : "SELECT rpc_max_send(?1)");
  }
  measure(a, 2*n+2, REPS_FAST, med);
  for(i=0; i<n; i++){
    af[i].txn = med[2*i]; af[i].txnEcho = med[2*i+1];
    /* inside a read transaction the hot methods come from the cache */
    exec(af[i].db, "BEGIN");
    (void)one_int(af[i].db, "SELECT count(*) FROM rpc_methods");
    a[2*i].dbTxn = 0; a[2*i].n = N_HOT;
    (void)run_loop(&a[2*i]);
    cache_holds_hot(af[i].db, "1b");
    exec(af[i].db, "COMMIT");
  }
  af[0].txnLen = med[2*n]; af[0].txnEchoLen = med[2*n+1];
  finalize_loops(a, 2*n+2);

  /* 4: autocommit rpc_max_send vs min(hi) computed on demand, per fleet. */
  for(i=0; i<n && !gFloorOnly; i++){
    long nScan = (long)(4e6 / ((double)af[i].R * N_METHODS));
    char zN[16];
    if( nScan<1 ) nScan = 1;
    if( nScan>50000 ) nScan = 50000;
    if( gQuick && nScan>500 ) nScan = 500;
    progress("4 on demand, %s rcv: rpc_max_send vs min(hi) without / with an"
             " index (%ld scans per rep)", fmt_count(af[i].R, zN, sizeof(zN)), nScan);
    memset(a, 0, sizeof(a));
    a[0].zName = "rpc_max_send"; a[0].check = CHK_VERSION; a[0].n = nIdx;
    a[0].pStmt = prep(af[i].db, "SELECT rpc_max_send(?1)");
    a[1].zName = "min(hi) no index"; a[1].check = CHK_KEY; a[1].n = nScan;
    a[1].pStmt = prep(af[i].db, "SELECT min(hi) FROM plain WHERE method=?1");
    a[2].zName = "min(hi) index"; a[2].check = CHK_KEY; a[2].n = nIdx;
    a[2].pStmt = prep(af[i].db, "SELECT min(hi) FROM plain_idx WHERE method=?1");
    for(k=0; k<3; k++) a[k].f = &af[i];
    measure(a, 3, REPS_HEAVY, med);
    af[i].demand = med[0]; af[i].demandNoIdx = med[1]; af[i].demandIdx = med[2];
    finalize_loops(a, 3);
  }

  /* 2: autocommit reads while a second connection commits.  The baseline
  ** is the leanest indexed read of one row in the same file (plain_one);
  ** the same read of rpc_methods is an extra row. */
  progress("2 fresh: autocommit reads, a second connection commits every %d;"
           " all fleets interleaved", FRESH_BLOCK);
  memset(a, 0, sizeof(a));
  for(i=0; i<n; i++){
    for(k=0; k<3; k++){
      Loop *x = &a[3*i+k];
      x->n = nFresh; x->f = &af[i];
      x->pWBegin = prep(af[i].dbW, "BEGIN IMMEDIATE");
      x->pWReg = prep(af[i].dbW, "SELECT rpc_register(?1, ?2, ?3)");
      x->pWCommit = prep(af[i].dbW, "COMMIT");
    }
    a[3*i].zName = "rpc_max_send"; a[3*i].check = CHK_VERSION;
    a[3*i].pStmt = prep(af[i].db, "SELECT rpc_max_send(?1)");
    a[3*i+1].zName = "plain one-row read"; a[3*i+1].check = CHK_ONE;
    a[3*i+1].pStmt = prep(af[i].db, "SELECT negotiated FROM plain_one WHERE method=?1");
    a[3*i+2].zName = "SELECT negotiated"; a[3*i+2].check = CHK_KEY;
    a[3*i+2].pStmt = prep(af[i].db, "SELECT negotiated FROM rpc_methods WHERE method=?1");
  }
  measure(a, 3*n, REPS_FAST, med);
  for(i=0; i<n; i++){
    af[i].fresh = med[3*i]; af[i].freshOne = med[3*i+1];
    af[i].freshPlain = med[3*i+2];
    for(k=0; k<3; k++){
      if( a[3*i+k].nCommit<REPS_FAST ) die("case 2: the writer committed too rarely");
    }
  }
  finalize_loops(a, 3*n);

  for(i=0; i<n; i++) fleet_teardown(&af[i]);
}

/* Case 1's extra rows, first fleet: both sides bound with the method's
** length instead of -1, and what the length costs SELECT ?1. */
static void len_rows(const char *zId, double rpcLen, double echoLen,
                     double echo){
  char zA[32], zB[32];
  Row *r = add_row(zId, "  same, both bound with a length");
  setf(r->zA, sizeof(r->zA), "rpc_max_send %7s", fmt_ns(rpcLen, zA, sizeof(zA)));
  setf(r->zB, sizeof(r->zB), "SELECT ?1 %7s", fmt_ns(echoLen, zB, sizeof(zB)));
  set_ratio(r, "ratio", rpcLen/echoLen, 0);
  r = add_row(zId, "  SELECT ?1 bound with a length, with -1");
  setf(r->zA, sizeof(r->zA), "length %7s", zB);
  setf(r->zB, sizeof(r->zB), "-1 %7s", fmt_ns(echo, zA, sizeof(zA)));
  set_ratio(r, "ratio", echoLen/echo, 0);
}

static void report_fleets(Fleet *f, int n){
  char zA[32], zB[32], zN[16], zM[16];
  Row *r;
  int i;
  for(i=0; i<n; i++){
    fmt_count(f[i].R, zN, sizeof(zN));
    r = add_row("1a", "");
    setf(r->zWhat, sizeof(r->zWhat), "hot path cached, memory, %s rcv", zN);
    setf(r->zA, sizeof(r->zA), "rpc_max_send %7s", fmt_ns(f[i].mem, zA, sizeof(zA)));
    setf(r->zB, sizeof(r->zB), "SELECT ?1 %7s", fmt_ns(f[i].memEcho, zB, sizeof(zB)));
    set_ratio(r, "ratio", f[i].mem/f[i].memEcho, TARGET_CACHED);
    floor_note(FLOOR_MEM, f[i].mem, f[i].memEcho);
  }
  len_rows("1a", f[0].memLen, f[0].memEchoLen, f[0].memEcho);
  for(i=0; i<n; i++){
    fmt_count(f[i].R, zN, sizeof(zN));
    r = add_row("1b", "");
    setf(r->zWhat, sizeof(r->zWhat), "hot path cached, WAL read txn, %s rcv", zN);
    setf(r->zA, sizeof(r->zA), "rpc_max_send %7s", fmt_ns(f[i].txn, zA, sizeof(zA)));
    setf(r->zB, sizeof(r->zB), "SELECT ?1 %7s", fmt_ns(f[i].txnEcho, zB, sizeof(zB)));
    set_ratio(r, "ratio", f[i].txn/f[i].txnEcho, TARGET_CACHED);
    floor_note(FLOOR_TXN, f[i].txn, f[i].txnEcho);
  }
  len_rows("1b", f[0].txnLen, f[0].txnEchoLen, f[0].txnEcho);
  for(i=0; i<n; i++){
    fmt_count(f[i].R, zN, sizeof(zN));
    r = add_row("2", "");
    setf(r->zWhat, sizeof(r->zWhat), "hot path fresh, WAL + writer, %s rcv", zN);
    setf(r->zA, sizeof(r->zA), "rpc_max_send %7s", fmt_ns(f[i].fresh, zA, sizeof(zA)));
    setf(r->zB, sizeof(r->zB), "one-row read %7s",
             fmt_ns(f[i].freshOne, zB, sizeof(zB)));
    set_ratio(r, "ratio", f[i].fresh/f[i].freshOne, TARGET_FRESH);
    floor_note(FLOOR_FRESH, f[i].fresh, f[i].freshOne);
    r = add_row("2", "  same vs the read of rpc_methods");
    setf(r->zA, sizeof(r->zA), "rpc_max_send %7s", zA);
    setf(r->zB, sizeof(r->zB), "SELECT negotiated %7s",
             fmt_ns(f[i].freshPlain, zB, sizeof(zB)));
    set_ratio(r, "ratio", f[i].fresh/f[i].freshPlain, 0);
  }
  /* 3: the last fleet (the largest) over the first (the smallest) */
  if( n>1 ){
    static const char *azWhat[] = { "1a cached, memory", "1b cached, WAL read txn",
                                    "2 fresh, WAL + a writer" };
    int c;
    fmt_count(f[n-1].R, zN, sizeof(zN));
    fmt_count(f[0].R, zM, sizeof(zM));
    for(c=0; c<3; c++){
      double big = c==0 ? f[n-1].mem : c==1 ? f[n-1].txn : f[n-1].fresh;
      double small = c==0 ? f[0].mem : c==1 ? f[0].txn : f[0].fresh;
      r = add_row("3", "");
      setf(r->zWhat, sizeof(r->zWhat), "flat in fleet size, %s", azWhat[c]);
      setf(r->zA, sizeof(r->zA), "%s rcv %7s", zN, fmt_ns(big, zA, sizeof(zA)));
      setf(r->zB, sizeof(r->zB), "%s rcv %7s", zM, fmt_ns(small, zB, sizeof(zB)));
      set_ratio(r, "ratio", big/small, 1.1);
    }
  }
  for(i=0; i<n; i++){
    fmt_count(f[i].R*N_METHODS, zM, sizeof(zM));
    r = add_row("3", "");
    setf(r->zWhat, sizeof(r->zWhat), "  build %s regs (INSERT rpc_ranges)", zM);
    setf(r->zA, sizeof(r->zA), "%.1f s  %.0f/s", f[i].buildSecs,
         (double)f[i].R*N_METHODS/f[i].buildSecs);
    setf(r->zB, sizeof(r->zB), "copies %.1f s", f[i].copySecs);
  }
  for(i=0; i<n; i++){
    fmt_count(f[i].R, zN, sizeof(zN));
    r = add_row("4", "");
    setf(r->zWhat, sizeof(r->zWhat), "on demand, no index, %s rcv", zN);
    setf(r->zA, sizeof(r->zA), "rpc_max_send %7s", fmt_ns(f[i].demand, zA, sizeof(zA)));
    setf(r->zB, sizeof(r->zB), "min(hi) scan %7s",
         fmt_ns(f[i].demandNoIdx, zB, sizeof(zB)));
    setf(r->zRatio, sizeof(r->zRatio), "speed-up %.0fx",
         f[i].demandNoIdx/f[i].demand);
    r = add_row("4", "");
    setf(r->zWhat, sizeof(r->zWhat), "on demand, index (method,hi), %s rcv", zN);
    setf(r->zA, sizeof(r->zA), "rpc_max_send %7s", zA);
    setf(r->zB, sizeof(r->zB), "min(hi) index %7s",
         fmt_ns(f[i].demandIdx, zB, sizeof(zB)));
    setf(r->zRatio, sizeof(r->zRatio), "speed-up %.2fx",
         f[i].demandIdx/f[i].demand);
  }
}

/* The four rows of issue 14 (the hot path and a registration at SQLite's
** floor), from the table above: the worst fleet of each. */
static void print_floor(void){
  static const struct { const char *zWhat, *zA, *zBase; double target; } a[] = {
    { "cached, private :memory: (1a)", "rpc_max_send", "SELECT ?1",
      TARGET_CACHED },
    { "cached, in a read transaction on WAL (1b)", "rpc_max_send", "SELECT ?1",
      TARGET_CACHED },
    { "fresh, autocommit on WAL (2)", "rpc_max_send", "one-row read",
      TARGET_FRESH },
    { "registration, one per BEGIN IMMEDIATE (5a)", "rpc_register",
      "plain txn", TARGET_REGISTER },
  };
  char zA[32], zB[32];
  int i;
  printf("\nissue 14, at SQLite's floor (the worst fleet of each):\n");
  for(i=0; i<FLOOR_N; i++){
    if( gFloor[i]==0 ) continue;
    printf("  %-44s %s %9s  %-12s %9s  %5.2fx  target <= %.2f  %s\n",
           a[i].zWhat, a[i].zA, fmt_ns(gFloorA[i], zA, sizeof(zA)), a[i].zBase,
           fmt_ns(gFloorB[i], zB, sizeof(zB)), gFloor[i], a[i].target,
           gFloor[i]<=a[i].target ? "met" : "missed");
  }
}

/* ----------------------------------------------------------------- main */

/* BENCH_ONLY=part,part... runs only those parts (bulk, cache, single, log,
** rolling, fleet; floor: gFloorOnly): for profiling one case.  Unset:
** everything. */
static int want(const char *zPart){
  const char *zOnly = getenv("BENCH_ONLY");
  size_t n = strlen(zPart);
  const char *z;
  if( zOnly==0 || zOnly[0]==0 ) return 1;
  for(z=zOnly; (z = strstr(z, zPart))!=0; z += n){
    if( (z==zOnly || z[-1]==',') && (z[n]==0 || z[n]==',') ) return 1;
  }
  return 0;
}

static void on_signal(int sig){
  cleanup();
  signal(sig, SIG_DFL);
  raise(sig);
}

static void cpu_model(char *zOut, int nOut){
  FILE *f = fopen("/proc/cpuinfo", "r");
  char zLine[512];
  snprintf(zOut, nOut, "unknown");
  if( f==0 ) return;
  while( fgets(zLine, sizeof(zLine), f) ){
    if( strncmp(zLine, "model name", 10)==0 ){
      char *z = strchr(zLine, ':');
      if( z ){
        z++;
        while( *z==' ' || *z=='\t' ) z++;
        z[strcspn(z, "\n")] = 0;
        snprintf(zOut, nOut, "%s", z);
      }
      break;
    }
  }
  fclose(f);
}

int main(void){
  const char *zQuick = getenv("BENCH_QUICK");
  const char *zMalloc;
  long aFleet[3];
  int nFleet;
  Fleet aRes[3];
  char zCpu[200], zDate[64], zVer[64];
  time_t t = time(0);
  sqlite3 *db;
  double total;
  int i;

  gStart = now_s();
  gQuick = zQuick && zQuick[0] && strcmp(zQuick, "0")!=0;
  aFleet[0] = 10;
  aFleet[1] = gQuick ? 100 : 1000;
  aFleet[2] = gQuick ? 1000 : 100000;
  nFleet = 3;
  gFloorOnly = want("floor") && getenv("BENCH_ONLY")!=0;
  if( gFloorOnly ) nFleet = 1;
  if( getenv("BENCH_FLEETS") && getenv("BENCH_FLEETS")[0] ){
    /* BENCH_FLEETS=R1,R2,...: other fleet sizes (receivers per method), in
    ** this order; for profiling.  Case 3 compares the last with the first. */
    char *z = getenv("BENCH_FLEETS");
    for(nFleet=0; nFleet<3 && *z; ){
      char *zEnd;
      long v = strtol(z, &zEnd, 10);
      if( zEnd==z || v<1 ) die("BENCH_FLEETS: bad size at \"%s\"", z);
      aFleet[nFleet++] = v;
      z = *zEnd==',' ? zEnd+1 : zEnd;
      if( *zEnd!=',' && *zEnd!=0 ) die("BENCH_FLEETS: bad list");
    }
  }
  /* glibc returns freed memory at the top of the heap to the kernel once it
  ** exceeds 128 KiB; a small process whose statements allocate and free
  ** ~100 KiB each (SQLite's ephemeral tables, which rpcver's triggers built
  ** before schema revision 2) then pays brk() and page
  ** faults on every call, and how much depends on what ran before.  Pin the
  ** heap so that cases do not depend on their order (bench/README.md: "malloc"). */
  zMalloc = getenv("BENCH_MALLOC");
  if( zMalloc==0 || strcmp(zMalloc, "default")!=0 ){
    mallopt(M_TRIM_THRESHOLD, 256<<20);
    mallopt(M_TOP_PAD, 16<<20);
    zMalloc = "glibc, trim threshold 256 MiB, top pad 16 MiB (BENCH_MALLOC=default: off)";
  }else{
    zMalloc = "glibc defaults (BENCH_MALLOC=default)";
  }
  if( mkdir(DIR, 0755)!=0 && errno!=EEXIST ) die("mkdir " DIR ": %s", strerror(errno));
  atexit(cleanup);
  signal(SIGINT, on_signal);
  signal(SIGTERM, on_signal);
  if( sqlite3_auto_extension((void(*)(void))sqlite3_rpcver_init)!=SQLITE_OK ){
    die("sqlite3_auto_extension failed");
  }
  init_names();
  cpu_model(zCpu, sizeof(zCpu));
  strftime(zDate, sizeof(zDate), "%Y-%m-%d %H:%M:%S %Z", localtime(&t));
  db = db_open(":memory:");
  one_text(db, "SELECT rpcver_version()", zVer, sizeof(zVer));
  db_close(db);
  progress("rpcver bench%s: results at the end (stdout)",
           gQuick ? " (BENCH_QUICK=1: sizes shrunk ~100x)" : "");

  /* The bulk loads first, in forked children, while this process is small:
  ** a child's ru_maxrss starts at its parent's resident size. */
  if( want("bulk") && !gFloorOnly ) case_bulk();
  if( want("cache") && !gFloorOnly ) case_cache_bound();
  if( want("single") || gFloorOnly ) case_single_txn();
  if( want("rolling") && !gFloorOnly ) case_rolling();
  if( want("log") && !gFloorOnly ) case_log();
  if( want("fleet") || gFloorOnly ){
    memset(aRes, 0, sizeof(aRes));
    for(i=0; i<nFleet; i++) aRes[i].R = aFleet[i];
    fleets_run(aRes, nFleet);
    report_fleets(aRes, nFleet);
  }
  total = now_s() - gStart;
  if( gFloorOnly ){
    printf("rpcver %s%s, %s, CPU %s (%ld online), SQLite %s, %ld receivers"
           " per method%s\n", zVer, gQuick ? " (BENCH_QUICK=1: NOT the benchmark)"
           : "", zDate, zCpu, sysconf(_SC_NPROCESSORS_ONLN),
           sqlite3_libversion(), aFleet[0], nFleet>1 ? " (first fleet)" : "");
    print_floor();
    printf("runtime %.0f s\n", total);
    return 0;
  }

  printf("\nrpcver %s benchmark%s\n", zVer,
         gQuick ? "  --  BENCH_QUICK=1: sizes shrunk ~100x, NOT the benchmark" : "");
  printf("date %s   CPU %s (%ld online)   SQLite %s\n", zDate, zCpu,
         sysconf(_SC_NPROCESSORS_ONLN), sqlite3_libversion());
  printf("malloc: %s\n", zMalloc);
  printf("median of %d reps (per-call cases) or %d (bulk, upgrade, per-txn), after"
         " a warm-up; every call's answer checked\n", REPS_FAST, REPS_HEAVY);
  /* rows in case order (stable) */
  for(i=1; i<gNRows; i++){
    Row tmp = gRows[i];
    int j = i;
    while( j>0 && strcmp(gRows[j-1].zId, tmp.zId)>0 ){ gRows[j] = gRows[j-1]; j--; }
    gRows[j] = tmp;
  }
  printf("%-4s %-44s %-24s %-26s %-17s %-14s %s\n", "case", "what", "rpcver",
         "compared with", "measured", "target", "");
  for(i=0; i<160; i++) putchar('-');
  putchar('\n');
  for(i=0; i<gNRows; i++){
    Row *r = &gRows[i];
    printf("%-4s %-44s %-24s %-26s %-17s %-14s %s\n", r->zId, r->zWhat, r->zA,
           r->zB, r->zRatio, r->zTarget, r->zVerdict);
  }
  printf("targets: %d met, %d missed   total runtime %.0f s\n", gNMet, gNMissed,
         total);
  print_floor();
  return 0;
}
