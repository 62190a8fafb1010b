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
**   rangessingle the same through INSERT INTO rpc_ranges (keys given): the
**               triggers without the function
**   floorsingle floor's statements, one transaction per registration
**   plainreg    the same as INSERT OR REPLACE into a rowid table with
**               PRIMARY KEY(manager, method): the baseline of single
**   hot         N cached SELECT rpc_max_send(?1) on :memory: (case 1a)
**   sel         N SELECT ?1 on :memory:, the baseline of hot
**   hotlen, sellen  the same two with the method bound with its length
**   hotwal      N rpc_max_send() inside one read transaction, WAL (1b)
**   selwal      N SELECT ?1 in the same conditions, the baseline of hotwal
**   fresh       N autocommit rpc_max_send() on a WAL file (case 2)
**   plainone    N autocommit reads of a one-row WITHOUT ROWID table by its
**               primary key on the same file: the baseline of fresh
**   plainfresh  N autocommit SELECT negotiated FROM rpc_methods
**
** The read modes bind the method with length -1, as the benchmark does
** (the cheapest way: SQLite then knows the text is terminated), except
** hotlen and sellen.
** Run it from the top of the project: the database is
** build/bench/profile.db, deleted first.  PROFILE_PRAGMA=SQL runs SQL
** before anything else (for instance PRAGMA temp_store=MEMORY), and
** PROFILE_SETUP=SQL after the schema is made (an experiment on the schema:
** DROP INDEX rpc_ranges_by_lo, say).  PROFILE_NOMUTEX=1 opens the
** connection with SQLITE_OPEN_NOMUTEX: what the connection's mutex costs.  It prints
** nothing when it succeeds; a failure prints what failed and exits with 1.
**
** PROFILE_PAGES=1 (a file mode) turns the WAL's auto-checkpoint off and,
** after the run, prints what the run wrote and ran: the WAL's frames and
** commits, the statements stepped (top-level, and trigger programs: what
** sqlite3_trace_v2() reports), then one line per b-tree with the frames
** of its pages (dbstat).  bench/pages.sh subtracts a run of 0 and divides
** by N.
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
#define PLAINREG_SQL "INSERT OR REPLACE INTO plainreg VALUES (?1, ?2, ?3, ?4)"

/* rpc_ranges' shape without its triggers: what a plain INSERT costs. */
#define PLAIN_SCHEMA \
  "CREATE TABLE plain(manager TEXT NOT NULL, method TEXT NOT NULL," \
  " lo NOT NULL, hi NOT NULL, PRIMARY KEY(manager, method)) WITHOUT ROWID;" \
  "CREATE INDEX plain_by_hi ON plain(method, hi);" \
  "CREATE INDEX plain_by_lo ON plain(method, lo);"

/* The leanest table that stores one registration (case 5a's baseline). */
#define PLAINREG_SCHEMA \
  "CREATE TABLE plainreg(manager TEXT NOT NULL, method TEXT NOT NULL," \
  " lo INTEGER NOT NULL, hi INTEGER NOT NULL, PRIMARY KEY(manager, method))"

/* The leanest indexed read of one row (case 2's baseline). */
#define ONE_SCHEMA \
  "CREATE TABLE one(method TEXT PRIMARY KEY, negotiated INTEGER)" \
  " WITHOUT ROWID;" \
  "INSERT INTO one VALUES ('method-00', 1099516870656)"

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
#define MODE_LENGTH   0x10   /* the reads bind the method with its length */
#define MODE_PLAINREG 0x20   /* needs the plainreg table */
#define MODE_ONE      0x40   /* needs the one-row table; reads its one key */
#define MODE_TXN_EACH 0x80   /* floor: one transaction per registration */

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

/* single, dmlsingle, plainsingle, plainreg: N transactions of one new
** manager's registration each. */
static void run_transaction_each(sqlite3 *db, const Mode *pMode, long n){
  char zManager[32], zMethod[32];
  sqlite3_stmt *pStmt = prepare(db, pMode->zSql);
  sqlite3_stmt *pBegin = prepare(db, "BEGIN IMMEDIATE");
  sqlite3_stmt *pCommit = prepare(db, "COMMIT");
  long i;
  for(i=0; i<n; i++){
    registration_names(i, 1, zManager, zMethod, sizeof(zManager));
    run_once(db, pBegin);
    bind_registration(db, pStmt, pMode, zManager, zMethod);
    run_once(db, pStmt);
    run_once(db, pCommit);
  }
  finalize(db, pCommit);
  finalize(db, pBegin);
  finalize(db, pStmt);
}

/* hot, sel, hotlen, sellen, hotwal, selwal, fresh, plainone, plainfresh:
** N reads cycling over the methods one manager registered (plainone: its
** table's one key), each answer checked to be there.  The names are made
** before the loop, so that the loop is the reads alone. */
static void run_reads(sqlite3 *db, const Mode *pMode, long n){
  char azMethod[HOT_METHODS][16];
  int anMethod[HOT_METHODS];
  sqlite3_stmt *pStmt = prepare(db, REGISTER_SQL);
  long i;
  for(i=0; i<HOT_METHODS; i++){
    anMethod[i] = snprintf(azMethod[i], sizeof(azMethod[i]), "method-%02ld",
                           (pMode->flags & MODE_ONE) ? 0 : i);
    bind_text(db, pStmt, 1, "m1", -1);
    bind_text(db, pStmt, 2, azMethod[i], -1);
    run_once(db, pStmt);
  }
  finalize(db, pStmt);

  pStmt = prepare(db, pMode->zSql);
  if( pMode->flags & MODE_READ_TXN ){
    exec_sql(db, "BEGIN; SELECT count(*) FROM rpc_methods");
  }
  for(i=0; i<n; i++){
    int k = (int)(i % HOT_METHODS);
    bind_text(db, pStmt, 1, azMethod[k],
              (pMode->flags & MODE_LENGTH) ? anMethod[k] : -1);
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

/* floor: in one transaction; floorsingle: one transaction each, every
** registration a new manager's (as single). */
static void run_floor(sqlite3 *db, const Mode *pMode, long n){
  sqlite3_stmt *aStmt[FLOOR_COUNT];
  sqlite3_stmt *pBegin, *pCommit;
  int each = (pMode->flags & MODE_TXN_EACH)!=0;
  char zManager[32], zMethod[32];
  long i;
  int k;
  drop_triggers(db);
  for(k=0; k<FLOOR_COUNT; k++) aStmt[k] = prepare(db, azFloorSql[k]);
  pBegin = prepare(db, "BEGIN IMMEDIATE");
  pCommit = prepare(db, "COMMIT");
  if( !each ) run_once(db, pBegin);
  for(i=0; i<n; i++){
    registration_names(i, each ? 1 : METHODS_PER_MANAGER, zManager, zMethod,
                       sizeof(zManager));
    if( each ) run_once(db, pBegin);
    register_floor(db, aStmt, zManager, zMethod);
    if( each ) run_once(db, pCommit);
  }
  if( !each ) run_once(db, pCommit);
  finalize(db, pCommit);
  finalize(db, pBegin);
  for(k=0; k<FLOOR_COUNT; k++) finalize(db, aStmt[k]);
}

static const Mode aMode[] = {
  { "bulk",        run_one_transaction,  REGISTER_SQL, 0 },
  { "dml",         run_one_transaction,  DML_SQL,      0 },
  { "ranges",      run_one_transaction,  RANGES_SQL,   MODE_KEYS },
  { "plain",       run_one_transaction,  PLAIN_SQL,    MODE_KEYS|MODE_PLAIN },
  { "floor",       run_floor,            0,            0 },
  { "single",      run_transaction_each, REGISTER_SQL, 0 },
  { "rangessingle", run_transaction_each, RANGES_SQL,  MODE_KEYS },
  { "floorsingle", run_floor,            0,            MODE_TXN_EACH },
  { "dmlsingle",   run_transaction_each, DML_SQL,      0 },
  { "plainsingle", run_transaction_each, PLAIN_SQL,    MODE_KEYS|MODE_PLAIN },
  { "plainreg",    run_transaction_each, PLAINREG_SQL, MODE_KEYS|MODE_PLAINREG },
  { "hot",         run_reads, "SELECT rpc_max_send(?1)", MODE_MEMORY },
  { "sel",         run_reads, "SELECT ?1",               MODE_MEMORY },
  { "hotlen",      run_reads, "SELECT rpc_max_send(?1)", MODE_MEMORY|MODE_LENGTH },
  { "sellen",      run_reads, "SELECT ?1",               MODE_MEMORY|MODE_LENGTH },
  { "hotwal",      run_reads, "SELECT rpc_max_send(?1)", MODE_READ_TXN },
  { "selwal",      run_reads, "SELECT ?1",               MODE_READ_TXN },
  { "fresh",       run_reads, "SELECT rpc_max_send(?1)", 0 },
  { "plainone",    run_reads, "SELECT negotiated FROM one WHERE method=?1",
    MODE_ONE },
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

/* ------------------------------------------------- PROFILE_PAGES=1 */

/* What sqlite3_trace_v2() reports: a statement that begins to run, or, as
** an SQL comment, a trigger program ("-- TRIGGER name") or a statement run
** while another runs (from a function: "-- SQL").  Counted by text. */
#define TRACED_MAX 200
typedef struct Traced {
  int n;
  struct { char *z; long count; } a[TRACED_MAX];
} Traced;

static void count_text(Traced *t, const char *z){
  int i;
  for(i=0; i<t->n; i++){
    if( strcmp(t->a[i].z, z)==0 ){ t->a[i].count++; return; }
  }
  if( t->n==TRACED_MAX ) fail("PROFILE_PAGES", "too many statements");
  t->a[t->n].z = sqlite3_mprintf("%s", z);
  if( t->a[t->n].z==0 ) fail("sqlite3_mprintf", "out of memory");
  t->a[t->n++].count = 1;
}

static int trace_stmt(unsigned mask, void *pArg, void *pP, void *pX){
  const char *zX = (const char*)pX;
  char zLine[120];
  size_t i;
  (void)mask; (void)pP;
  /* one line: the text's first 100 characters, white space folded */
  snprintf(zLine, sizeof(zLine), "%.100s", zX ? zX : "?");
  for(i=0; zLine[i]; i++) if( zLine[i]=='\n' || zLine[i]=='\t' ) zLine[i] = ' ';
  count_text((Traced*)pArg, zLine);
  return 0;
}

static unsigned int get_be32(const unsigned char *a){
  return ((unsigned)a[0]<<24) | ((unsigned)a[1]<<16) | ((unsigned)a[2]<<8) | a[3];
}

/* The WAL's frames by page, then by b-tree (dbstat), to stdout.  The
** auto-checkpoint was off, so the WAL holds every frame the run wrote. */
static void print_pages(sqlite3 *db, const Traced *t){
  FILE *f = fopen(DB_PATH "-wal", "rb");
  unsigned char aHdr[32], aFrame[24];
  unsigned int szPage, pgno, nMax = 0;
  long nFrame = 0, nCommit = 0, *aCount = 0;
  struct { char *z; long count; } aTree[TRACED_MAX];
  int i, nTree = 0;
  sqlite3_stmt *pStmt;
  if( f==0 || fread(aHdr, 1, 32, f)!=32 ) fail(DB_PATH "-wal", "cannot read");
  szPage = get_be32(&aHdr[8]);
  if( szPage==1 ) szPage = 65536;
  while( fread(aFrame, 1, 24, f)==24 && fseek(f, szPage, SEEK_CUR)==0 ){
    pgno = get_be32(aFrame);
    if( pgno>=nMax ){
      unsigned int nNew = pgno*2 + 16;
      long *aNew = realloc(aCount, nNew*sizeof(long));
      if( aNew==0 ) fail("realloc", "out of memory");
      memset(&aNew[nMax], 0, (nNew-nMax)*sizeof(long));
      aCount = aNew; nMax = nNew;
    }
    aCount[pgno]++;
    nFrame++;
    if( get_be32(&aFrame[4])!=0 ) nCommit++;
  }
  fclose(f);
  printf("frames %ld\ncommits %ld\n", nFrame, nCommit);
  for(i=0; i<t->n; i++){
    printf("ran %ld %s\n", t->a[i].count, t->a[i].z);
    sqlite3_free(t->a[i].z);
  }
  if( sqlite3_prepare_v2(db, "SELECT name FROM dbstat WHERE pageno=?1", -1,
                         &pStmt, 0)!=SQLITE_OK ){
    fail_db(db, "dbstat");
  }
  /* per b-tree; page 1 (the header) and pages that no b-tree holds now
  ** (the freelist) as "other" */
  for(pgno=1; pgno<nMax; pgno++){
    const char *zName = "other";
    if( aCount[pgno]==0 ) continue;
    sqlite3_bind_int64(pStmt, 1, pgno);
    if( sqlite3_step(pStmt)==SQLITE_ROW && pgno!=1 ){
      zName = (const char*)sqlite3_column_text(pStmt, 0);
    }
    for(i=0; i<nTree && strcmp(aTree[i].z, zName)!=0; i++){}
    if( i==nTree ){
      if( nTree==TRACED_MAX ) fail("dbstat", "too many b-trees");
      aTree[nTree].z = sqlite3_mprintf("%s", zName);
      if( aTree[nTree].z==0 ) fail("sqlite3_mprintf", "out of memory");
      aTree[nTree++].count = 0;
    }
    aTree[i].count += aCount[pgno];
    sqlite3_reset(pStmt);
  }
  sqlite3_finalize(pStmt);
  for(i=0; i<nTree; i++){
    printf("btree %ld %s\n", aTree[i].count, aTree[i].z);
    sqlite3_free(aTree[i].z);
  }
  free(aCount);
}

static int want_pages(void){
  const char *z = getenv("PROFILE_PAGES");
  return z && z[0] && strcmp(z, "0")!=0;
}

static sqlite3 *open_database(const Mode *pMode){
  sqlite3 *db = 0;
  const char *zPragma = getenv("PROFILE_PRAGMA");
  const char *zSetup = getenv("PROFILE_SETUP");
  const char *zNoMutex = getenv("PROFILE_NOMUTEX");
  int flags = SQLITE_OPEN_READWRITE|SQLITE_OPEN_CREATE;
  if( zNoMutex && zNoMutex[0] && strcmp(zNoMutex, "0")!=0 ){
    flags |= SQLITE_OPEN_NOMUTEX;
  }
  remove_file(DB_PATH);
  remove_file(DB_PATH "-wal");
  remove_file(DB_PATH "-shm");
  if( pMode->flags & MODE_MEMORY ){
    if( sqlite3_open_v2(":memory:", &db, flags, 0)!=SQLITE_OK ){
      fail_db(db, ":memory:");
    }
  }else{
    if( sqlite3_open_v2(DB_PATH, &db, flags, 0)!=SQLITE_OK ){
      fail_db(db, DB_PATH);
    }
    exec_sql(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL");
    if( want_pages() ) exec_sql(db, "PRAGMA wal_autocheckpoint=0");
  }
  if( zPragma ) exec_sql(db, zPragma);
  exec_sql(db, "SELECT rpc_init()");
  if( pMode->flags & MODE_PLAIN ) exec_sql(db, PLAIN_SCHEMA);
  if( pMode->flags & MODE_PLAINREG ) exec_sql(db, PLAINREG_SCHEMA);
  if( pMode->flags & MODE_ONE ) exec_sql(db, ONE_SCHEMA);
  if( zSetup ) exec_sql(db, zSetup);
  return db;
}

int main(int argc, char **argv){
  const Mode *pMode;
  sqlite3 *db;
  static Traced traced;
  long n;
  if( argc!=3 ) usage();
  pMode = find_mode(argv[1]);
  n = parse_count(argv[2]);
  if( pMode==0 || n<0 ) usage();
  if( sqlite3_auto_extension((void(*)(void))sqlite3_rpcver_init)!=SQLITE_OK ){
    fail("sqlite3_auto_extension", "cannot register rpcver");
  }
  db = open_database(pMode);
  if( want_pages() ){
    if( pMode->flags & MODE_MEMORY ) fail("PROFILE_PAGES", "not a file mode");
    sqlite3_trace_v2(db, SQLITE_TRACE_STMT, trace_stmt, &traced);
  }
  pMode->xRun(db, pMode, n);
  if( want_pages() ){
    sqlite3_trace_v2(db, 0, 0, 0);
    print_pages(db, &traced);
  }
  if( sqlite3_close(db)!=SQLITE_OK ) fail_db(db, "sqlite3_close");
  sqlite3_reset_auto_extension();
  sqlite3_shutdown();
  return 0;
}
