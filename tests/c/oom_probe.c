/*
** A transient out-of-memory must not cost a connection its cached calls
** for good.  Outside a transaction on a file, a cached rpc_max_send() first
** runs its probe (read.c, probe()); a probe that cannot be prepared because
** an authorizer refuses it is not tried again, and every later call runs
** the lookup statement.  This program makes every allocation fail while
** the probe is first prepared, then lets them succeed, and counts how often
** rpcver's kept lookup statement ran (sqlite3_next_stmt() finds it) over
** ten later calls: 0 when the cache serves them, as it should.
**
**   oom_probe PATH-OF-RPCVER DATABASE-FILE   prints "lookups N answer V"
*/
#include <sqlite3.h>
#include <stdio.h>
#include <string.h>

static sqlite3_mem_methods sysMem;
static int failing;                    /* 1: every allocation fails */

static void *fail_malloc(int n){ return failing ? 0 : sysMem.xMalloc(n); }
static void *fail_realloc(void *p, int n){
  return failing ? 0 : sysMem.xRealloc(p, n);
}

static const char zLookup[] =
  "SELECT negotiated, max_lo FROM main.rpc_methods WHERE method = ?1";

/* How often rpcver's kept lookup statement has run, -1 if not prepared. */
static int lookup_runs(sqlite3 *db){
  sqlite3_stmt *p;
  for(p=sqlite3_next_stmt(db, 0); p; p=sqlite3_next_stmt(db, p)){
    if( strcmp(sqlite3_sql(p), zLookup)==0 ){
      return sqlite3_stmt_status(p, SQLITE_STMTSTATUS_RUN, 0);
    }
  }
  return -1;
}

/* rpc_max_send('m') into zOut ("ERROR" on failure) */
static void max_send(sqlite3 *db, char *zOut, int nOut){
  sqlite3_stmt *p = 0;
  snprintf(zOut, nOut, "ERROR");
  if( sqlite3_prepare_v2(db, "SELECT rpc_max_send('m')", -1, &p, 0)
      ==SQLITE_OK
   && sqlite3_step(p)==SQLITE_ROW ){
    const unsigned char *z = sqlite3_column_text(p, 0);
    snprintf(zOut, nOut, "%s", z ? (const char*)z : "NULL");
  }
  sqlite3_finalize(p);
}

int main(int argc, char **argv){
  sqlite3 *db = 0;
  sqlite3_mem_methods mem;
  char zOut[64];
  int i, before;
  if( argc<3 ){
    fprintf(stderr, "usage: %s PATH-OF-RPCVER DATABASE-FILE\n", argv[0]);
    return 2;
  }
  sqlite3_config(SQLITE_CONFIG_GETMALLOC, &sysMem);
  mem = sysMem;
  mem.xMalloc = fail_malloc;
  mem.xRealloc = fail_realloc;
  sqlite3_config(SQLITE_CONFIG_MALLOC, &mem);
  if( sqlite3_open(argv[2], &db)!=SQLITE_OK ) return 1;
  sqlite3_enable_load_extension(db, 1);
  if( sqlite3_load_extension(db, argv[1], 0, 0)!=SQLITE_OK ){
    fprintf(stderr, "load: %s\n", sqlite3_errmsg(db));
    return 1;
  }
  if( sqlite3_exec(db, "SELECT rpc_register('a', 'm', '1.0')", 0, 0, 0) ){
    return 1;
  }
  max_send(db, zOut, sizeof(zOut));      /* fills the entry */
  /* The next call prepares the probe: it fails for want of memory.  The
  ** statement is prepared first, so that only rpcver meets the failure. */
  {
    sqlite3_stmt *p = 0;
    sqlite3_prepare_v2(db, "SELECT rpc_max_send('m')", -1, &p, 0);
    failing = 1;
    sqlite3_step(p);
    failing = 0;
    sqlite3_finalize(p);
  }
  before = lookup_runs(db);
  for(i=0; i<10; i++) max_send(db, zOut, sizeof(zOut));
  printf("lookups %d answer %s\n", lookup_runs(db) - before, zOut);
  return sqlite3_close(db)!=SQLITE_OK;
}
