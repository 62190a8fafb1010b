/*
** The schema: creation on first write or rpc_init(), migration of older
** schemas, refusal of newer ones, and the savepoint every write runs in.
**
**   rpc_init()  -> the schema version, after creating or migrating it
**
** The SQL lives in schema/rpcver.sql (and schema/upgrade-from-*.sql for
** older layouts); the build turns those files into build/schema_sql.h, so
** the schema has one source.  rpcver's own version lives in rpc_meta, never
** in PRAGMA user_version, which belongs to the application; so does the
** revision of its triggers and views (RPC_SCHEMA_REVISION below), and a
** database whose code is older is brought up to date like a migration.
*/
#include "rpcver_int.h"
#include "schema_sql.h"
#include <string.h>

#define RPC_SCHEMA_VERSION 2

/* The revision of the triggers and views within schema version 2, kept in
** rpc_meta as schema_revision (a database without one has revision 1).
** The tables did not change, so neither did the version: a new revision
** only replaces code, which the idempotent schema script does.  Revision 2
** rewrote the triggers so that a registration builds no temporary table.
** A database at a higher revision (written by a newer rpcver) keeps its
** code: every revision enforces the same rules. */
#define RPC_SCHEMA_REVISION 2

static int table_exists(sqlite3 *db, const char *zTable){
  sqlite3_stmt *pStmt = 0;
  int found = 0;
  if( sqlite3_prepare_v2(db, "SELECT 1 FROM main.sqlite_schema"
                             " WHERE type='table' AND name=?1", -1,
                             &pStmt, 0)==SQLITE_OK ){
    sqlite3_bind_text(pStmt, 1, zTable, -1, SQLITE_STATIC);
    found = sqlite3_step(pStmt)==SQLITE_ROW;
  }
  sqlite3_finalize(pStmt);
  return found;
}

int rpc_schema_present(sqlite3 *db){
  return table_exists(db, "rpc_methods");
}

/* Run one of the savepoint's statements.  They are kept prepared: through
** sqlite3_exec() they were parsed again on every write call, which cost
** about a tenth of a whole rpc_register().  Where rpcver cannot keep
** statements (rpc_conn_errmsg() says why) they still run, through
** sqlite3_exec(), and the write's own statements report the problem. */
static int savepoint_exec(RpcConn *p, RpcStmtId id, const char *zSql){
  sqlite3_stmt *pStmt;
  if( rpc_conn_stmt(p, id, zSql, &pStmt)!=SQLITE_OK ){
    return sqlite3_exec(p->db, zSql, 0, 0, 0);
  }
  sqlite3_step(pStmt);
  return sqlite3_reset(pStmt);
}

int rpc_savepoint_begin(RpcConn *p){
  return savepoint_exec(p, RPC_STMT_SAVEPOINT, "SAVEPOINT rpcver");
}

/* Release the savepoint when rc is SQLITE_OK, else undo everything the
** function did and release it, leaving the caller's transaction as it was. */
int rpc_savepoint_end(RpcConn *p, int rc){
  if( rc==SQLITE_OK ){
    rc = savepoint_exec(p, RPC_STMT_RELEASE, "RELEASE rpcver");
    if( rc==SQLITE_OK ) return SQLITE_OK;
  }
  if( savepoint_exec(p, RPC_STMT_ROLLBACK_TO, "ROLLBACK TO rpcver")
      ==SQLITE_OK ){
    savepoint_exec(p, RPC_STMT_RELEASE, "RELEASE rpcver");
  }
  return rc;
}

/* The stored schema version: 0 when there is no schema, -1 on error.
** *pCurrent is set to 1 when the schema's code is at RPC_SCHEMA_REVISION or
** later. */
static sqlite3_int64 stored_version(RpcConn *p, int *pCurrent, char **pzErr){
  sqlite3_stmt *pStmt;
  sqlite3_int64 v = 0;
  int rc = rpc_conn_stmt(p, RPC_STMT_SCHEMA_VERSION,
      "SELECT value, (SELECT value FROM main.rpc_meta"
      "                WHERE key='schema_revision')"
      "  FROM main.rpc_meta WHERE key='schema_version'", &pStmt);
  *pCurrent = 0;
  if( rc!=SQLITE_OK ){
    if( !table_exists(p->db, "rpc_meta") ) return 0;
    *pzErr = sqlite3_mprintf("%s", rpc_conn_errmsg(p));
    return -1;
  }
  rc = sqlite3_step(pStmt);
  if( rc==SQLITE_ROW ){
    if( sqlite3_column_type(pStmt, 0)==SQLITE_INTEGER ){
      v = sqlite3_column_int64(pStmt, 0);
      *pCurrent = sqlite3_column_type(pStmt, 1)==SQLITE_INTEGER
               && sqlite3_column_int64(pStmt, 1)>=RPC_SCHEMA_REVISION;
    }else{
      *pzErr = sqlite3_mprintf("rpc_meta.schema_version is not an integer");
      v = -1;
    }
  }else if( rc!=SQLITE_DONE ){
    /* A kept statement whose table was dropped under it: start afresh. */
    char *zErr = sqlite3_mprintf("%s", rpc_conn_errmsg(p));
    sqlite3_reset(pStmt);
    rpc_conn_stmt_drop(p, RPC_STMT_SCHEMA_VERSION);
    if( !table_exists(p->db, "rpc_meta") ){
      sqlite3_free(zErr);
      return 0;
    }
    *pzErr = zErr;
    return -1;
  }
  sqlite3_reset(pStmt);
  return v;
}

/*
** Make the schema current.  Runs inside the caller's savepoint.  On error
** returns an SQLite code and sets *pzErr to a message without the
** "rpcver:" prefix.
*/
int rpc_schema_ensure(RpcConn *p, char **pzErr){
  char *zErr = 0;
  int current;
  sqlite3_int64 v = stored_version(p, &current, pzErr);
  int rc;
  if( v==RPC_SCHEMA_VERSION && current ) return SQLITE_OK;
  if( v<0 ) return SQLITE_ERROR;
  if( v>RPC_SCHEMA_VERSION ){
    *pzErr = sqlite3_mprintf("this database has rpcver schema version %lld, "
        "newer than the %d this extension (rpcver %s) knows; load a newer "
        "rpcver", v, RPC_SCHEMA_VERSION, RPCVER_VERSION);
    return SQLITE_ERROR;
  }
  if( v==1 ){
    rc = sqlite3_exec(p->db, rpc_upgrade_from_1_sql, 0, 0, &zErr);
    if( rc!=SQLITE_OK ) goto failed;
  }
  rc = sqlite3_exec(p->db, rpc_schema_sql, 0, 0, &zErr);
  if( rc==SQLITE_OK ) return SQLITE_OK;
failed:
  *pzErr = sqlite3_mprintf("cannot create the schema: %s",
                           zErr ? zErr : sqlite3_errstr(rc));
  sqlite3_free(zErr);
  return rc;
}

static void init_func(sqlite3_context *ctx, int argc, sqlite3_value **argv){
  RpcConn *p = (RpcConn*)sqlite3_user_data(ctx);
  char *zErr = 0;
  int rc;
  (void)argc; (void)argv;
  zErr = rpc_write_problem(p, "rpc_init");
  if( zErr ){
    sqlite3_result_error(ctx, zErr, -1);
    sqlite3_result_error_code(ctx, SQLITE_MISUSE);
    sqlite3_free(zErr);
    return;
  }
  rc = rpc_savepoint_begin(p);
  if( rc!=SQLITE_OK ){
    zErr = sqlite3_mprintf("%s", rpc_conn_errmsg(p));
  }else{
    rc = rpc_schema_ensure(p, &zErr);
    rc = rpc_savepoint_end(p, rc);
    if( rc!=SQLITE_OK && zErr==0 ){
      zErr = sqlite3_mprintf("%s", rpc_conn_errmsg(p));
    }
  }
  if( rc!=SQLITE_OK ){
    rpc_errorf(ctx, "rpcver: rpc_init: %s", zErr);
    sqlite3_result_error_code(ctx, rc);
  }else{
    sqlite3_result_int(ctx, RPC_SCHEMA_VERSION);
  }
  sqlite3_free(zErr);
}

int rpc_register_schema_functions(sqlite3 *db, RpcConn *p){
  return rpc_create_function(db, p, "rpc_init", 0, RPC_WRITE, init_func);
}
