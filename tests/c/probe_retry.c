/*
** A transient failure must not cost a connection its cached calls for
** good.  Outside a transaction on a file, a cached rpc_max_send() first
** runs its probe (read.c, probe()); a probe that cannot be prepared because
** an authorizer refuses it is not tried again, and every later call runs
** the lookup statement.  This program makes the probe's first preparation
** fail for a passing reason, then counts how often rpcver's kept lookup
** statement ran (sqlite3_next_stmt() finds it) over ten later calls: 0
** when the cache serves them, as it should.  The reasons (MODE):
**   oom          every allocation fails while the probe is prepared
**   schema-lock  in shared-cache mode, another connection has changed the
**                schema and not committed: preparing any statement fails
**                with SQLITE_LOCKED (database schema is locked)
**
**   probe_retry MODE PATH-OF-RPCVER DATABASE-FILE
**     prints "lookups N answer V" (the answer of the call that met the
**     failure, then of the last call)
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

static sqlite3 *open_rpcver(const char *zExt, const char *zFile){
  sqlite3 *db = 0;
  if( sqlite3_open_v2(zFile, &db, SQLITE_OPEN_READWRITE|SQLITE_OPEN_CREATE
                      |SQLITE_OPEN_URI, 0)!=SQLITE_OK ){
    return 0;
  }
  sqlite3_enable_load_extension(db, 1);
  if( sqlite3_load_extension(db, zExt, 0, 0)!=SQLITE_OK ){
    fprintf(stderr, "load: %s\n", sqlite3_errmsg(db));
    return 0;
  }
  return db;
}

int main(int argc, char **argv){
  sqlite3 *db, *db2 = 0;
  sqlite3_mem_methods mem;
  sqlite3_stmt *p = 0;
  char zOut[64], zFirst[64];
  int i, before, oom;
  if( argc<4 ){
    fprintf(stderr, "usage: %s oom|schema-lock PATH-OF-RPCVER DATABASE-FILE\n",
            argv[0]);
    return 2;
  }
  oom = strcmp(argv[1], "oom")==0;
  if( oom ){
    sqlite3_config(SQLITE_CONFIG_GETMALLOC, &sysMem);
    mem = sysMem;
    mem.xMalloc = fail_malloc;
    mem.xRealloc = fail_realloc;
    sqlite3_config(SQLITE_CONFIG_MALLOC, &mem);
  }else{
    sqlite3_enable_shared_cache(1);
  }
  db = open_rpcver(argv[2], argv[3]);
  if( db==0 ) return 1;
  if( sqlite3_exec(db, "SELECT rpc_register('a', 'm', '1.0')", 0, 0, 0) ){
    return 1;
  }
  max_send(db, zOut, sizeof(zOut));      /* fills the entry */
  /* The next call prepares the probe, and that fails.  The statement is
  ** prepared first, so that only rpcver meets the failure. */
  sqlite3_prepare_v2(db, "SELECT rpc_max_send('m')", -1, &p, 0);
  if( oom ){
    failing = 1;
  }else{
    db2 = open_rpcver(argv[2], argv[3]);
    if( db2==0
     || sqlite3_exec(db2, "BEGIN; CREATE TABLE t(x)", 0, 0, 0)!=SQLITE_OK ){
      return 1;
    }
  }
  snprintf(zFirst, sizeof(zFirst), "%s",
           sqlite3_step(p)==SQLITE_ROW ? "1.0" : "ERROR");
  failing = 0;
  sqlite3_finalize(p);
  if( db2 ){
    sqlite3_exec(db2, "COMMIT", 0, 0, 0);
    sqlite3_close(db2);
    max_send(db, zOut, sizeof(zOut));    /* the commit: a miss */
  }
  before = lookup_runs(db);
  for(i=0; i<10; i++) max_send(db, zOut, sizeof(zOut));
  printf("lookups %d answer %s %s\n", lookup_runs(db) - before, zFirst, zOut);
  return sqlite3_close(db)!=SQLITE_OK;
}
