/*
** rpc_max_send() hands SQLite its answer without a copy (SQLITE_STATIC):
** the text lives as long as the connection.  Can it outlive it?  A
** function of connection B returns, with sqlite3_result_value(), the
** answer it read from connection A; B's row is read after A is closed.
** Safe only if SQLite copied the text on its way out of A
** (sqlite3_column_value() turns a static value ephemeral); this prints
** whether B's text is A's own bytes and what it says after A's close.
**
**   cross_value PATH-OF-RPCVER   prints "copied 1.0" (or "shared ...")
*/
#include <sqlite3.h>
#include <stdint.h>
#include <stdio.h>

static sqlite3 *dbA;
static uintptr_t textA;                /* where A's row held the text */

static void from_a(sqlite3_context *ctx, int argc, sqlite3_value **argv){
  sqlite3_stmt *p = 0;
  (void)argc; (void)argv;
  if( sqlite3_prepare_v2(dbA, "SELECT rpc_max_send('m')", -1, &p, 0)
      ==SQLITE_OK
   && sqlite3_step(p)==SQLITE_ROW ){
    textA = (uintptr_t)sqlite3_column_text(p, 0);
    sqlite3_result_value(ctx, sqlite3_column_value(p, 0));
  }
  sqlite3_finalize(p);
}

int main(int argc, char **argv){
  sqlite3 *dbB = 0;
  sqlite3_stmt *p = 0;
  const unsigned char *z;
  if( argc<2 ){
    fprintf(stderr, "usage: %s PATH-OF-RPCVER\n", argv[0]);
    return 2;
  }
  if( sqlite3_open(":memory:", &dbA)!=SQLITE_OK ) return 1;
  sqlite3_enable_load_extension(dbA, 1);
  if( sqlite3_load_extension(dbA, argv[1], 0, 0)!=SQLITE_OK
   || sqlite3_exec(dbA, "SELECT rpc_register('a', 'm', '1.0'),"
                        " rpc_max_send('m')", 0, 0, 0)!=SQLITE_OK ){
    fprintf(stderr, "setup: %s\n", sqlite3_errmsg(dbA));
    return 1;
  }
  if( sqlite3_open(":memory:", &dbB)!=SQLITE_OK
   || sqlite3_create_function(dbB, "from_a", 0, SQLITE_UTF8, 0, from_a, 0, 0)
   || sqlite3_prepare_v2(dbB, "SELECT from_a()", -1, &p, 0)!=SQLITE_OK
   || sqlite3_step(p)!=SQLITE_ROW ){
    return 1;
  }
  if( sqlite3_close(dbA)!=SQLITE_OK ) return 1;   /* frees A's RpcConn */
  z = sqlite3_column_text(p, 0);
  printf("%s %s\n", (uintptr_t)z==textA ? "shared" : "copied",
         z ? (const char*)z : "NULL");
  sqlite3_finalize(p);
  return sqlite3_close(dbB)!=SQLITE_OK;
}
