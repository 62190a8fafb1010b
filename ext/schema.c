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
#define RPC_SCHEMA_TEXT
#include "schema_sql.h"
#include <string.h>

/* RPC_SCHEMA_VERSION and RPC_SCHEMA_REVISION come from schema_sql.h: the
** schema script's own INSERT INTO rpc_meta defines them.  The revision
** counts rewrites of the triggers and views within a schema version (a
** database without one has revision 1).  The tables did not change, so
** neither did the version: a new revision only replaces code, which the
** idempotent schema script does.  Revision 2 rewrote the triggers so that a
** registration builds no temporary table; revision 3 qualified the script's
** names with main, keeps last_seen from moving backwards, and quotes names
** in messages with rpcver_quote(); revision 4 writes each rule once
** (rpcver_refusal() holds admission, rpcver_lo() the default lo, and the
** build expands the views' one rendering of a key as text).  A database at
** a higher revision
** (written by a newer rpcver) keeps its code: every revision enforces the
** same rules. */

/* Whether main has an object of that name, of any type: a view where
** rpcver's table belongs is there too, and errors reading it are errors,
** not "no schema". */
static int object_exists(sqlite3 *db, const char *zName){
  sqlite3_stmt *pStmt = 0;
  int found = 0;
  if( sqlite3_prepare_v2(db, "SELECT 1 FROM main.sqlite_schema"
                             " WHERE name = ?1 COLLATE NOCASE", -1,
                             &pStmt, 0)==SQLITE_OK ){
    sqlite3_bind_text(pStmt, 1, zName, -1, SQLITE_STATIC);
    found = sqlite3_step(pStmt)==SQLITE_ROW;
  }
  sqlite3_finalize(pStmt);
  return found;
}

int rv_schema_present(sqlite3 *db){
  return object_exists(db, "rpc_methods");
}

/* Run one of the savepoint's statements.  They are kept prepared: through
** sqlite3_exec() they were parsed again on every write call, which cost
** about a tenth of a whole rpc_register().  Where rpcver cannot keep
** statements (rv_conn_errmsg() says why) they still run, through
** sqlite3_exec(), and the write's own statements report the problem. */
static int savepoint_exec(RpcConn *p, RpcStmtId id, const char *zSql){
  sqlite3_stmt *pStmt;
  if( rv_conn_stmt(p, id, zSql, &pStmt)!=SQLITE_OK ){
    return sqlite3_exec(p->db, zSql, 0, 0, 0);
  }
  sqlite3_step(pStmt);
  return sqlite3_reset(pStmt);
}

int rv_savepoint_begin(RpcConn *p){
  return savepoint_exec(p, RPC_STMT_SAVEPOINT, "SAVEPOINT rpcver");
}

/* Release the savepoint when rc is SQLITE_OK, else undo everything the
** function did and release it, leaving the caller's transaction as it was. */
int rv_savepoint_end(RpcConn *p, int rc){
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

/*
** Read the stored schema version and revision into *pVersion (0 when there
** is no schema) and *pRevision (1 when there is none: the first revision
** wrote none).  Returns SQLITE_OK, or an error code with *pzErr set to a
** message without the "rpcver:" prefix.
*/
int rv_schema_stored(RpcConn *p, sqlite3_int64 *pVersion,
                      sqlite3_int64 *pRevision, char **pzErr){
  sqlite3_stmt *pStmt;
  int rc = rv_conn_stmt(p, RPC_STMT_SCHEMA_VERSION,
      "SELECT value, (SELECT value FROM main.rpc_meta"
      "                WHERE key='schema_revision')"
      "  FROM main.rpc_meta WHERE key='schema_version'", &pStmt);
  *pVersion = 0;
  *pRevision = 1;
  if( rc!=SQLITE_OK ){
    if( p->zFault==0 && !object_exists(p->db, "rpc_meta") ) return SQLITE_OK;
    *pzErr = sqlite3_mprintf("%s", rv_conn_errmsg(p));
    return rc;
  }
  rc = sqlite3_step(pStmt);
  if( rc==SQLITE_ROW ){
    sqlite3_value *pV = sqlite3_column_value(pStmt, 0);
    sqlite3_value *pR = sqlite3_column_value(pStmt, 1);
    if( sqlite3_value_type(pV)!=SQLITE_INTEGER
     || sqlite3_value_int64(pV)<1
     || (sqlite3_value_type(pR)!=SQLITE_NULL
         && (sqlite3_value_type(pR)!=SQLITE_INTEGER
             || sqlite3_value_int64(pR)<1)) ){
      /* Only a hand edit writes these: rpcver cannot tell what this
      ** database holds, so it neither migrates nor writes it. */
      char *zV = rv_quote_value(pV);
      char *zR = rv_quote_value(pR);
      *pzErr = sqlite3_mprintf("rpc_meta says schema_version %s, "
          "schema_revision %s, which rpcver never writes (versions and "
          "revisions are integers from 1); the rpcver tables of this "
          "database were edited by hand: restore it from a backup, or "
          "check it with SELECT rpc_verify()", zV, zR);
      sqlite3_free(zV);
      sqlite3_free(zR);
      rc = SQLITE_CORRUPT;
    }else{
      *pVersion = sqlite3_value_int64(pV);
      if( sqlite3_value_type(pR)==SQLITE_INTEGER ){
        *pRevision = sqlite3_value_int64(pR);
      }
      rc = SQLITE_OK;
    }
    sqlite3_reset(pStmt);
    return rc;
  }
  if( rc==SQLITE_DONE ) return sqlite3_reset(pStmt);
  /* A kept statement whose table was dropped under it: start afresh. */
  *pzErr = sqlite3_mprintf("%s", rv_conn_errmsg(p));
  rc = sqlite3_reset(pStmt);
  rv_conn_stmt_drop(p, RPC_STMT_SCHEMA_VERSION);
  if( p->zFault==0 && !object_exists(p->db, "rpc_meta") ){
    sqlite3_free(*pzErr);
    *pzErr = 0;
    return SQLITE_OK;
  }
  return rc ? rc : SQLITE_ERROR;
}

const char *rv_schema_script(void){ return rpc_schema_sql; }

/* Run the schema script, after the migrations a database at version v
** needs (1 -> 2 -> 3; a database without a schema, v 0, needs none). */
static int run_script(RpcConn *p, sqlite3_int64 v, char **pzErr){
  char *zErr = 0;
  int rc = SQLITE_OK;
  if( v==1 ) rc = sqlite3_exec(p->db, rpc_upgrade_from_1_sql, 0, 0, &zErr);
  if( rc==SQLITE_OK && (v==1 || v==2) ){
    rc = sqlite3_exec(p->db, rpc_upgrade_from_2_sql, 0, 0, &zErr);
  }
  if( rc==SQLITE_OK ) rc = sqlite3_exec(p->db, rpc_schema_sql, 0, 0, &zErr);
  if( rc==SQLITE_OK && v==1 ){
    rc = sqlite3_exec(p->db, rpc_upgrade_from_1_finish_sql, 0, 0, &zErr);
  }
  if( rc!=SQLITE_OK ){
    *pzErr = sqlite3_mprintf("cannot create the schema: %s",
                             zErr ? zErr : sqlite3_errstr(rc));
  }
  sqlite3_free(zErr);
  return rc;
}

/*
** Whether the tables of a stored schema are all there before the script
** runs: it creates a missing table (CREATE TABLE IF NOT EXISTS), which on
** a database that has its schema would start that table's state afresh,
** silently (registrations lost, settings back to their defaults).  v is
** the stored version; 0 (no schema_version in rpc_meta) is a new database
** only while none of rpcver's tables is there.  The event log is not among
** them: it holds history and no state (audit.c).  SQLITE_OK, or
** SQLITE_CORRUPT with *pzErr set.
*/
static int tables_present(RpcConn *p, sqlite3_int64 v, char **pzErr){
  static const struct { const char *zName; int iVersion; } aTable[] = {
    { "rpc_meta", 1 }, { "rpc_managers", 1 }, { "rpc_ranges", 1 },
    { "rpc_methods", 1 }, { "rpc_sender_ranges", 3 },
  };
  size_t i;
  for(i=0; i<sizeof(aTable)/sizeof(aTable[0]); i++){
    int there = object_exists(p->db, aTable[i].zName);
    if( v==0 && there ){
      *pzErr = sqlite3_mprintf("this database has rpcver's %s but no "
          "schema_version in rpc_meta: part of its rpcver schema is gone, "
          "and rpcver will not start its state afresh over what is left; "
          "restore it from a backup, or check it with SELECT rpc_verify()",
          aTable[i].zName);
      return SQLITE_CORRUPT;
    }
    if( v>0 && aTable[i].iVersion<=v && !there ){
      *pzErr = sqlite3_mprintf("table %s is missing from this database's "
          "rpcver schema (version %lld): rpcver cannot make up the state it "
          "held; restore the database from a backup, or check it with "
          "SELECT rpc_verify()", aTable[i].zName, v);
      return SQLITE_CORRUPT;
    }
  }
  return SQLITE_OK;
}

/*
** Make the schema current.  Runs inside the caller's savepoint.  On error
** returns an SQLite code and sets *pzErr to a message without the
** "rpcver:" prefix.
*/
int rv_schema_ensure(RpcConn *p, char **pzErr){
  sqlite3_int64 v, rev;
  int rc = rv_schema_stored(p, &v, &rev, pzErr);
  if( rc!=SQLITE_OK ) return rc;
  if( v==RPC_SCHEMA_VERSION && rev>=RPC_SCHEMA_REVISION ) return SQLITE_OK;
  if( v>RPC_SCHEMA_VERSION ){
    *pzErr = sqlite3_mprintf("this database has rpcver schema version %lld, "
        "newer than the %d this extension (rpcver %s) knows; load a newer "
        "rpcver", v, RPC_SCHEMA_VERSION, RPCVER_VERSION);
    return SQLITE_ERROR;
  }
  rc = tables_present(p, v, pzErr);
  return rc==SQLITE_OK ? run_script(p, v, pzErr) : rc;
}

/* The line of the audit's report that contains zNeedle, or its first. */
static char *report_line(const char *zLines, const char *zNeedle){
  const char *z = zLines ? strstr(zLines, zNeedle) : 0;
  const char *zEnd;
  if( zLines==0 ) return sqlite3_mprintf("out of memory");
  if( z==0 ) z = zLines;
  while( z>zLines && z[-1]!='\n' ) z--;
  zEnd = strchr(z, '\n');
  return sqlite3_mprintf("%.*s", zEnd ? (int)(zEnd - z) : (int)strlen(z), z);
}

/* Drop rpcver's own indexes, which the schema script creates only when
** missing: one that was changed would stay.  The names are the embedded
** script's, not the database's. */
static int drop_indexes(RpcConn *p, char **pzErr){
  int i, rc = SQLITE_OK;
  for(i=0; rc==SQLITE_OK && i<rv_schema_object_count(p); i++){
    const char *zType, *zName;
    rv_schema_object(p, i, &zType, &zName);
    if( strcmp(zType, "index")==0 ){
      char *zSql = sqlite3_mprintf("DROP INDEX IF EXISTS main.\"%w\"", zName);
      rc = zSql ? sqlite3_exec(p->db, zSql, 0, 0, pzErr) : SQLITE_NOMEM;
      sqlite3_free(zSql);
    }
  }
  return rc;
}

/*
** rpc_init() also repairs: a database whose triggers, views or indexes are
** missing or not rpcver's (the audit, audit.c) gets this revision's again.
** What it cannot repair it refuses, saying why: tables that are not
** rpcver's, a trigger of someone else's on rpcver's tables (it could switch
** the rules off: the operator decides whether to drop it), and missing code
** of a newer revision (that rpcver's rpc_init() repairs it).
*/
static int schema_repair(RpcConn *p, char **pzErr){
  sqlite3_str *pStr = sqlite3_str_new(p->db);
  RpcAudit audit;
  int rc = rv_schema_audit(p, pStr, &audit);
  char *zLines = sqlite3_str_finish(pStr);
  char *zLine = 0;
  if( rc!=SQLITE_OK ){
    *pzErr = sqlite3_mprintf("%s", rv_conn_errmsg(p));
  }else if( audit.present && !audit.tablesOk && !audit.otherVersion ){
    zLine = report_line(zLines, "");
    *pzErr = sqlite3_mprintf("this database's rpcver tables are not as "
        "rpcver made them (%s); rpcver cannot repair tables: check the file "
        "with SELECT rpc_verify(), or restore it from a backup", zLine);
    rc = SQLITE_ERROR;
  }else if( audit.foreign ){
    zLine = report_line(zLines, " is not part of rpcver's schema");
    *pzErr = sqlite3_mprintf("%s; then call rpc_init() again", zLine);
    rc = SQLITE_ERROR;
  }else if( audit.codeBad && audit.newer ){
    zLine = report_line(zLines, " is missing");
    *pzErr = sqlite3_mprintf("%s; this database was written by a newer "
        "rpcver, whose rpc_init() can repair it", zLine);
    rc = SQLITE_ERROR;
  }else if( audit.codeBad ){
    rc = drop_indexes(p, pzErr);
    if( rc==SQLITE_OK ) rc = run_script(p, RPC_SCHEMA_VERSION, pzErr);
  }
  sqlite3_free(zLine);
  sqlite3_free(zLines);
  return rc;
}

void rv_rpc_init(sqlite3_context *ctx, int argc, sqlite3_value **argv){
  RpcConn *p = (RpcConn*)sqlite3_user_data(ctx);
  char *zErr = 0;
  int rc;
  (void)argc; (void)argv;
  zErr = rv_write_problem(p, "rpc_init");
  if( zErr ){
    sqlite3_result_error(ctx, zErr, -1);
    sqlite3_result_error_code(ctx, SQLITE_MISUSE);
    sqlite3_free(zErr);
    return;
  }
  rc = rv_savepoint_begin(p);
  if( rc!=SQLITE_OK ){
    zErr = sqlite3_mprintf("%s", rv_conn_errmsg(p));
  }else{
    rc = rv_schema_ensure(p, &zErr);
    if( rc==SQLITE_OK ) rc = schema_repair(p, &zErr);
    rc = rv_savepoint_end(p, rc);
    if( rc!=SQLITE_OK && zErr==0 ){
      zErr = sqlite3_mprintf("%s", rv_conn_errmsg(p));
    }
  }
  if( rc!=SQLITE_OK ){
    rv_error(ctx, "rpc_init", zErr, rc);
  }else{
    sqlite3_result_int(ctx, RPC_SCHEMA_VERSION);
  }
  sqlite3_free(zErr);
}
