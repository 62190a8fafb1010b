/*
** Loads rpcver from C, both ways, uses the functions that keep prepared
** statements, and checks that sqlite3_close() (not _v2) then succeeds.
**
**   static:    cc -DSQLITE_STATIC_RPCVER ... build/librpcver.a -lsqlite3
**   loadable:  cc ... -lsqlite3, run with the path of rpcver.so
*/
#include <sqlite3.h>
#include <stdio.h>
#include <string.h>
#ifdef SQLITE_STATIC_RPCVER
#include "rpcver.h"
#endif

static int fail(sqlite3 *db, const char *zWhat){
  fprintf(stderr, "%s: %s\n", zWhat, db ? sqlite3_errmsg(db) : "");
  return 1;
}

static int one_text(sqlite3 *db, const char *zSql, char *zOut, int nOut){
  sqlite3_stmt *pStmt;
  int rc = sqlite3_prepare_v2(db, zSql, -1, &pStmt, 0);
  if( rc!=SQLITE_OK ) return rc;
  zOut[0] = 0;
  if( sqlite3_step(pStmt)==SQLITE_ROW && sqlite3_column_text(pStmt, 0) ){
    snprintf(zOut, nOut, "%s", (const char*)sqlite3_column_text(pStmt, 0));
  }
  return sqlite3_finalize(pStmt);
}

int main(int argc, char **argv){
  sqlite3 *db = 0;
  char zOut[200];
  int rc;
#ifdef SQLITE_STATIC_RPCVER
  sqlite3_auto_extension((void(*)(void))sqlite3_rpcver_init);
  (void)argc; (void)argv;
#else
  if( argc<2 ){ fprintf(stderr, "usage: %s PATH-OF-RPCVER\n", argv[0]); return 2; }
#endif
  if( sqlite3_open(":memory:", &db)!=SQLITE_OK ) return fail(db, "open");
#ifndef SQLITE_STATIC_RPCVER
  sqlite3_enable_load_extension(db, 1);
  if( sqlite3_load_extension(db, argv[1], 0, 0)!=SQLITE_OK ){
    return fail(db, "load");
  }
#endif
  if( one_text(db, "SELECT rpc_register('a', 'volume', '3.4')", zOut,
               sizeof(zOut)) ) return fail(db, "register");
  if( one_text(db, "SELECT rpc_max_send('volume', '3.9')", zOut,
               sizeof(zOut)) ) return fail(db, "max_send");
  printf("max_send %s\n", zOut);
  if( one_text(db, "SELECT rpc_check('volume', '3.3')", zOut, sizeof(zOut)) ){
    return fail(db, "check");
  }
  printf("check %s\n", zOut[0] ? "refused" : "admitted");
  rc = sqlite3_close(db);
  printf("close %s\n", rc==SQLITE_OK ? "ok" : sqlite3_errstr(rc));
  return rc!=SQLITE_OK;
}
