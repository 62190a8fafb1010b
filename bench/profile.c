/*
** A profiling driver for rpcver's write and read paths: one path, run N
** times and nothing else, for instruction counts under callgrind
** (bench/README.md, "Profiling").
**
** Timings on a shared machine move by 10-20 % from one run to the next;
** instruction counts repeat exactly.  A run of zero operations counts what
** is not the path (start-up, the schema, the mode's set-up), so subtract
** it and divide by N:
**
**   make build/bench/profile          (make bench builds it too)
**   for n in 0 20000; do valgrind --tool=callgrind \
**     --callgrind-out-file=build/bench/cg.$n build/bench/profile bulk $n; done
**   # instructions per operation: (total(20000) - total(0)) / 20000
**
** Under `strace -f -c` the same runs show a path's I/O.
**
**   build/bench/profile MODE N
**
** MODE is one of
**   bulk        N rpc_register() calls (N/100 managers x 100 methods) in one
**               BEGIN IMMEDIATE ... COMMIT on a WAL file (case 5b)
**   dml         the same through INSERT INTO rpc_registrations
**   ranges      the same through INSERT INTO rpc_ranges (keys given)
**   plain       the same rows into a plain table without triggers
**   floor       the same registrations as five statements run from C in a
**               savepoint each, with every rpcver trigger dropped: the floor
**               of a design that keeps the aggregates exact on every write
**   single      N transactions of one new registration each (case 5a)
**   dmlsingle   the same through INSERT INTO rpc_registrations
**   plainsingle the same into the plain table
**   hot         N cached SELECT rpc_max_send(?1) on :memory: (case 1a)
**   sel         N SELECT ?1 on :memory:, the baseline of hot
**   hotwal      N rpc_max_send() inside one read transaction, WAL (1b)
**   fresh       N autocommit rpc_max_send() on a WAL file (case 2)
**   plainfresh  N autocommit SELECT negotiated FROM rpc_methods
**
** Run it from the top of the project: the database is
** build/bench/profile.db, deleted first.  PROFILE_PRAGMA=SQL runs SQL
** before anything else (for instance PRAGMA temp_store=MEMORY).  It prints
** nothing when it succeeds; a failure prints what failed and exits with 1.
*/
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sqlite3.h>
#include "rpcver.h"

#define DB_PATH "build/bench/profile.db"

/* The versions every registration uses, 1.0 to 1.5, as rpcver's keys
** (major << 40 | minor << 20) for the modes that write keys directly. */
#define KEY_LO ((sqlite3_int64)1 << 40)
#define KEY_HI (((sqlite3_int64)1 << 40) | ((sqlite3_int64)5 << 20))

#define METHODS_PER_MANAGER 100    /* the one-transaction modes */
#define HOT_METHODS 8              /* the read modes cycle over these */

/* The statement each operation of a write mode runs. */
#define REGISTER_SQL "SELECT rpc_register(?1, ?2, '1.5')"
#define DML_SQL \
  "INSERT INTO rpc_registrations(manager, method, hi) VALUES (?1, ?2, '1.5')"
#define RANGES_SQL "INSERT INTO rpc_ranges VALUES (?1, ?2, ?3, ?4)"
#define PLAIN_SQL  "INSERT INTO plain VALUES (?1, ?2, ?3, ?4)"

/* rpc_ranges' shape without its triggers: what a plain INSERT costs. */
#define PLAIN_SCHEMA \
  "CREATE TABLE plain(manager TEXT NOT NULL, method TEXT NOT NULL," \
  " lo NOT NULL, hi NOT NULL, PRIMARY KEY(manager, method)) WITHOUT ROWID;" \
  "CREATE INDEX plain_by_hi ON plain(method, hi);" \
  "CREATE INDEX plain_by_lo ON plain(method, lo);"

/* ------------------------------------------------------------ failures */

/* Every failure ends the run: a count from a run that went wrong would be
** a count of something else. */
static void fail(const char *zWhat, const char *zWhy){
  fprintf(stderr, "profile: %s: %s\n", zWhat, zWhy);
  exit(1);
}

static void fail_db(sqlite3 *db, const char *zWhat){
  fail(zWhat, sqlite3_errmsg(db));
}

static void fail_stmt(sqlite3 *db, sqlite3_stmt *pStmt){
  fail_db(db, sqlite3_sql(pStmt));
}

/* --------------------------------------------------------- SQL helpers */

static void exec_sql(sqlite3 *db, const char *zSql){
  char *zErr = 0;
  if( sqlite3_exec(db, zSql, 0, 0, &zErr)!=SQLITE_OK ){
    fail(zSql, zErr ? zErr : sqlite3_errmsg(db));
  }
}

static sqlite3_stmt *prepare(sqlite3 *db, const char *zSql){
  sqlite3_stmt *pStmt = 0;
  if( sqlite3_prepare_v2(db, zSql, -1, &pStmt, 0)!=SQLITE_OK ){
    fail_db(db, zSql);
  }
  return pStmt;
}

static void finalize(sqlite3 *db, sqlite3_stmt *pStmt){
  if( sqlite3_finalize(pStmt)!=SQLITE_OK ) fail_db(db, "sqlite3_finalize");
}

/* Text bound without a copy: the caller's buffer outlives the step. */
static void bind_text(sqlite3 *db, sqlite3_stmt *pStmt, int i,
                      const char *z, int n){
  if( sqlite3_bind_text(pStmt, i, z, n, SQLITE_STATIC)!=SQLITE_OK ){
    fail_stmt(db, pStmt);
  }
}

static void bind_int64(sqlite3 *db, sqlite3_stmt *pStmt, int i,
                       sqlite3_int64 v){
  if( sqlite3_bind_int64(pStmt, i, v)!=SQLITE_OK ) fail_stmt(db, pStmt);
}

/* One step: SQLITE_ROW or SQLITE_DONE; anything else ends the run. */
static int step(sqlite3 *db, sqlite3_stmt *pStmt){
  int rc = sqlite3_step(pStmt);
  if( rc!=SQLITE_ROW && rc!=SQLITE_DONE ) fail_stmt(db, pStmt);
  return rc;
}

static void reset(sqlite3 *db, sqlite3_stmt *pStmt){
  if( sqlite3_reset(pStmt)!=SQLITE_OK ) fail_stmt(db, pStmt);
}

/* A statement whose result is not needed: step, then reset for reuse. */
static void run_once(sqlite3 *db, sqlite3_stmt *pStmt){
  step(db, pStmt);
  reset(db, pStmt);
}

/* ---------------------------------------------------------------- modes */

#define MODE_MEMORY   0x01   /* a private :memory: database, not the file */
#define MODE_KEYS     0x02   /* binds lo and hi as keys (?3, ?4) */
#define MODE_PLAIN    0x04   /* needs the plain table */
#define MODE_READ_TXN 0x08   /* the reads share one read transaction */

typedef struct Mode Mode;
struct Mode {
  const char *zName;
  void (*xRun)(sqlite3 *db, const Mode *pMode, long n);
  const char *zSql;          /* the statement each operation runs */
  int flags;                 /* MODE_* */
};

/* The names of registration i: nPerManager methods per manager, so 1 makes
** every registration a new manager's. */
static void registration_names(long i, long nPerManager, char *zManager,
                               char *zMethod, size_t nBuf){
  snprintf(zManager, nBuf, "mgr-%07ld", i / nPerManager);
  snprintf(zMethod, nBuf, "method-%02ld", i % METHODS_PER_MANAGER);
}

static void bind_registration(sqlite3 *db, sqlite3_stmt *pStmt,
                              const Mode *pMode, const char *zManager,
                              const char *zMethod){
  bind_text(db, pStmt, 1, zManager, -1);
  bind_text(db, pStmt, 2, zMethod, -1);
  if( pMode->flags & MODE_KEYS ){
    bind_int64(db, pStmt, 3, KEY_LO);
    bind_int64(db, pStmt, 4, KEY_HI);
  }
}

/* bulk, dml, ranges, plain: N registrations in one transaction. */
static void run_one_transaction(sqlite3 *db, const Mode *pMode, long n){
  char zManager[32], zMethod[32];
  sqlite3_stmt *pStmt = prepare(db, pMode->zSql);
  long i;
  exec_sql(db, "BEGIN IMMEDIATE");
  for(i=0; i<n; i++){
    registration_names(i, METHODS_PER_MANAGER, zManager, zMethod,
                       sizeof(zManager));
    bind_registration(db, pStmt, pMode, zManager, zMethod);
    run_once(db, pStmt);
  }
  exec_sql(db, "COMMIT");
  finalize(db, pStmt);
}

/* single, dmlsingle, plainsingle: N transactions of one new manager's
** registration each. */
static void run_transaction_each(sqlite3 *db, const Mode *pMode, long n){
  char zManager[32], zMethod[32];
  sqlite3_stmt *pStmt = prepare(db, pMode->zSql);
  long i;
  for(i=0; i<n; i++){
    registration_names(i, 1, zManager, zMethod, sizeof(zManager));
    exec_sql(db, "BEGIN IMMEDIATE");
    bind_registration(db, pStmt, pMode, zManager, zMethod);
    run_once(db, pStmt);
    exec_sql(db, "COMMIT");
  }
  finalize(db, pStmt);
}

/* hot, sel, hotwal, fresh, plainfresh: N reads cycling over the methods
** one manager registered, each answer checked to be there.  The method is
** bound with its length, as most language bindings do (bench/README.md
** says why that matters to SELECT ?1). */
static void run_reads(sqlite3 *db, const Mode *pMode, long n){
  char zMethod[32];
  sqlite3_stmt *pStmt = prepare(db, REGISTER_SQL);
  long i;
  for(i=0; i<HOT_METHODS; i++){
    snprintf(zMethod, sizeof(zMethod), "method-%02ld", i);
    bind_text(db, pStmt, 1, "m1", -1);
    bind_text(db, pStmt, 2, zMethod, -1);
    run_once(db, pStmt);
  }
  finalize(db, pStmt);

  pStmt = prepare(db, pMode->zSql);
  if( pMode->flags & MODE_READ_TXN ){
    exec_sql(db, "BEGIN; SELECT count(*) FROM rpc_methods");
  }
  for(i=0; i<n; i++){
    int nMethod = snprintf(zMethod, sizeof(zMethod), "method-%02ld",
                           i % HOT_METHODS);
    bind_text(db, pStmt, 1, zMethod, nMethod);
    if( step(db, pStmt)!=SQLITE_ROW ) fail(pMode->zSql, "no row");
    if( sqlite3_column_text(pStmt, 0)==0 ) fail(pMode->zSql, "NULL");
    reset(db, pStmt);
  }
  if( pMode->flags & MODE_READ_TXN ) exec_sql(db, "COMMIT");
  finalize(db, pStmt);
}

/*
** floor: the statements a new registration needs, run straight from C in
** one savepoint each, with every trigger of the three tables dropped: what
** any design that keeps the aggregates exact on every write must do.
*/
enum {
  FLOOR_SAVEPOINT, FLOOR_RELEASE,
  FLOOR_FIND_RANGE,        /* is the registration there already? */
  FLOOR_FIND_METHOD,       /* the method's row */
  FLOOR_INSERT_RANGE,
  FLOOR_INSERT_METHOD,     /* the method's first receiver */
  FLOOR_UPDATE_METHOD,     /* one receiver more */
  FLOOR_TOUCH_MANAGER,     /* the manager's row and last_seen */
  FLOOR_COUNT
};
static const char *const azFloorSql[FLOOR_COUNT] = {
  [FLOOR_SAVEPOINT] = "SAVEPOINT p",
  [FLOOR_RELEASE] = "RELEASE p",
  [FLOOR_FIND_RANGE] =
    "SELECT lo, hi FROM rpc_ranges WHERE manager=?1 AND method=?2",
  [FLOOR_FIND_METHOD] =
    "SELECT receivers, max_lo, min_hi, newest, pin, floor FROM rpc_methods"
    " WHERE method=?1",
  [FLOOR_INSERT_RANGE] =
    "INSERT INTO rpc_ranges(manager, method, lo, hi) VALUES (?1, ?2, ?3, ?4)",
  [FLOOR_INSERT_METHOD] =
    "INSERT INTO rpc_methods(method, receivers, max_lo, min_hi, newest,"
    " floor, seq) VALUES (?1, 1, ?2, ?3, ?3, ?3, 1)",
  [FLOOR_UPDATE_METHOD] =
    "UPDATE rpc_methods SET receivers=?2, max_lo=?3, min_hi=?4, newest=?5,"
    " floor=?6, seq=seq+1 WHERE method=?1",
  [FLOOR_TOUCH_MANAGER] =
    "INSERT INTO rpc_managers(manager, last_seen) VALUES (?1, unixepoch())"
    " ON CONFLICT(manager) DO UPDATE SET last_seen=excluded.last_seen"
    " WHERE last_seen IS NOT excluded.last_seen",
};

/* Drop the triggers of rpcver's three tables, all in one script: a
** trigger cannot be dropped while a statement still reads the schema. */
static void drop_triggers(sqlite3 *db){
  sqlite3_stmt *pStmt = prepare(db,
      "SELECT group_concat('DROP TRIGGER \"' || name || '\"', ';')"
      "  FROM sqlite_schema WHERE type='trigger'"
      "   AND tbl_name IN ('rpc_ranges','rpc_methods','rpc_managers')");
  char *zScript = 0;
  if( step(db, pStmt)==SQLITE_ROW && sqlite3_column_text(pStmt, 0) ){
    zScript = sqlite3_mprintf("%s", sqlite3_column_text(pStmt, 0));
    if( zScript==0 ) fail("drop_triggers", "out of memory");
  }
  finalize(db, pStmt);
  if( zScript ) exec_sql(db, zScript);
  sqlite3_free(zScript);
}

static void register_floor(sqlite3 *db, sqlite3_stmt **aStmt,
                           const char *zManager, const char *zMethod){
  sqlite3_stmt *pStmt;
  sqlite3_int64 nReceivers = 0;
  int known;

  run_once(db, aStmt[FLOOR_SAVEPOINT]);

  pStmt = aStmt[FLOOR_FIND_RANGE];
  bind_text(db, pStmt, 1, zManager, -1);
  bind_text(db, pStmt, 2, zMethod, -1);
  if( step(db, pStmt)==SQLITE_ROW ) fail(zManager, "registered already");
  reset(db, pStmt);

  pStmt = aStmt[FLOOR_FIND_METHOD];
  bind_text(db, pStmt, 1, zMethod, -1);
  known = step(db, pStmt)==SQLITE_ROW;
  if( known ) nReceivers = sqlite3_column_int64(pStmt, 0);
  reset(db, pStmt);

  pStmt = aStmt[FLOOR_INSERT_RANGE];
  bind_text(db, pStmt, 1, zManager, -1);
  bind_text(db, pStmt, 2, zMethod, -1);
  bind_int64(db, pStmt, 3, KEY_LO);
  bind_int64(db, pStmt, 4, KEY_HI);
  run_once(db, pStmt);

  if( !known ){
    pStmt = aStmt[FLOOR_INSERT_METHOD];
    bind_text(db, pStmt, 1, zMethod, -1);
    bind_int64(db, pStmt, 2, KEY_LO);
    bind_int64(db, pStmt, 3, KEY_HI);
  }else{
    pStmt = aStmt[FLOOR_UPDATE_METHOD];
    bind_text(db, pStmt, 1, zMethod, -1);
    bind_int64(db, pStmt, 2, nReceivers + 1);
    bind_int64(db, pStmt, 3, KEY_LO);
    bind_int64(db, pStmt, 4, KEY_HI);
    bind_int64(db, pStmt, 5, KEY_HI);
    bind_int64(db, pStmt, 6, KEY_HI);
  }
  run_once(db, pStmt);

  pStmt = aStmt[FLOOR_TOUCH_MANAGER];
  bind_text(db, pStmt, 1, zManager, -1);
  run_once(db, pStmt);

  run_once(db, aStmt[FLOOR_RELEASE]);
}

static void run_floor(sqlite3 *db, const Mode *pMode, long n){
  sqlite3_stmt *aStmt[FLOOR_COUNT];
  char zManager[32], zMethod[32];
  long i;
  int k;
  (void)pMode;
  drop_triggers(db);
  for(k=0; k<FLOOR_COUNT; k++) aStmt[k] = prepare(db, azFloorSql[k]);
  exec_sql(db, "BEGIN IMMEDIATE");
  for(i=0; i<n; i++){
    registration_names(i, METHODS_PER_MANAGER, zManager, zMethod,
                       sizeof(zManager));
    register_floor(db, aStmt, zManager, zMethod);
  }
  exec_sql(db, "COMMIT");
  for(k=0; k<FLOOR_COUNT; k++) finalize(db, aStmt[k]);
}

static const Mode aMode[] = {
  { "bulk",        run_one_transaction,  REGISTER_SQL, 0 },
  { "dml",         run_one_transaction,  DML_SQL,      0 },
  { "ranges",      run_one_transaction,  RANGES_SQL,   MODE_KEYS },
  { "plain",       run_one_transaction,  PLAIN_SQL,    MODE_KEYS|MODE_PLAIN },
  { "floor",       run_floor,            0,            0 },
  { "single",      run_transaction_each, REGISTER_SQL, 0 },
  { "dmlsingle",   run_transaction_each, DML_SQL,      0 },
  { "plainsingle", run_transaction_each, PLAIN_SQL,    MODE_KEYS|MODE_PLAIN },
  { "hot",         run_reads, "SELECT rpc_max_send(?1)", MODE_MEMORY },
  { "sel",         run_reads, "SELECT ?1",               MODE_MEMORY },
  { "hotwal",      run_reads, "SELECT rpc_max_send(?1)", MODE_READ_TXN },
  { "fresh",       run_reads, "SELECT rpc_max_send(?1)", 0 },
  { "plainfresh",  run_reads,
    "SELECT negotiated FROM rpc_methods WHERE method=?1", 0 },
};
#define N_MODE ((int)(sizeof(aMode)/sizeof(aMode[0])))

/* --------------------------------------------------------------- set-up */

static void usage(void){
  int i;
  fprintf(stderr, "usage: profile MODE N\n");
  fprintf(stderr, "MODE:");
  for(i=0; i<N_MODE; i++) fprintf(stderr, " %s", aMode[i].zName);
  fprintf(stderr, "; N: operations, 0 or more\n");
  exit(1);
}

static const Mode *find_mode(const char *zName){
  int i;
  for(i=0; i<N_MODE; i++){
    if( strcmp(aMode[i].zName, zName)==0 ) return &aMode[i];
  }
  return 0;
}

/* N: a whole number >= 0, or -1. */
static long parse_count(const char *z){
  char *zEnd = 0;
  long n;
  errno = 0;
  n = strtol(z, &zEnd, 10);
  if( z[0]<'0' || z[0]>'9' || *zEnd!=0 || errno!=0 ) return -1;
  return n;
}

/* Start from nothing: the last run's database and its WAL are removed. */
static void remove_file(const char *zPath){
  if( unlink(zPath)!=0 && errno!=ENOENT ) fail(zPath, strerror(errno));
}

static sqlite3 *open_database(const Mode *pMode){
  sqlite3 *db = 0;
  const char *zPragma = getenv("PROFILE_PRAGMA");
  remove_file(DB_PATH);
  remove_file(DB_PATH "-wal");
  remove_file(DB_PATH "-shm");
  if( pMode->flags & MODE_MEMORY ){
    if( sqlite3_open(":memory:", &db)!=SQLITE_OK ) fail_db(db, ":memory:");
  }else{
    if( sqlite3_open(DB_PATH, &db)!=SQLITE_OK ) fail_db(db, DB_PATH);
    exec_sql(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL");
  }
  if( zPragma ) exec_sql(db, zPragma);
  exec_sql(db, "SELECT rpc_init()");
  if( pMode->flags & MODE_PLAIN ) exec_sql(db, PLAIN_SCHEMA);
  return db;
}

int main(int argc, char **argv){
  const Mode *pMode;
  sqlite3 *db;
  long n;
  if( argc!=3 ) usage();
  pMode = find_mode(argv[1]);
  n = parse_count(argv[2]);
  if( pMode==0 || n<0 ) usage();
  if( sqlite3_auto_extension((void(*)(void))sqlite3_rpcver_init)!=SQLITE_OK ){
    fail("sqlite3_auto_extension", "cannot register rpcver");
  }
  db = open_database(pMode);
  pMode->xRun(db, pMode, n);
  if( sqlite3_close(db)!=SQLITE_OK ) fail_db(db, "sqlite3_close");
  sqlite3_reset_auto_extension();
  sqlite3_shutdown();
  return 0;
}
