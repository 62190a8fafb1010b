/*
** The audit of rpcver's schema objects, for rpc_verify() and rpc_init():
** every table, index, trigger and view of rpcver's schema is in the main
** database, as rpcver made it, and no other trigger runs on its tables.
**
** The rules live in the triggers, so a database whose triggers were dropped
** (by a tool, by hand, or by an old rpcver whose schema script resolved an
** unqualified name in an attached database) admits anything, yet its data
** can look consistent.  What rpcver's own objects should be is known
** exactly: the embedded schema script, run once per connection into a
** private in-memory database.  Triggers, views and indexes are compared by
** their SQL text; tables by their columns (a table's text also records how
** it was migrated, which is not a difference), and the values the columns
** compute are rpc_verify()'s data checks.  A database at another revision
** of the code cannot be compared, and the audit says so.
*/
#include "rpcver_int.h"
#include "schema_sql.h"         /* RPC_SCHEMA_VERSION, RPC_SCHEMA_REVISION */
#include <string.h>

/* One object of rpcver's schema, as the script creates it. */
typedef struct RpcObject {
  char *zType;
  char *zName;
  char *zTable;                 /* tbl_name */
  char *zSql;                   /* for a table: its columns (table_columns) */
} RpcObject;

struct RpcSchemaObjects {       /* rpcver_int.h: RpcConn.pExpected */
  int n;
  RpcObject a[1];               /* n of them */
};

void rpc_audit_free(RpcSchemaObjects *pObjs){
  int i;
  if( pObjs==0 ) return;
  for(i=0; i<pObjs->n; i++){
    sqlite3_free(pObjs->a[i].zType);
    sqlite3_free(pObjs->a[i].zName);
    sqlite3_free(pObjs->a[i].zTable);
    sqlite3_free(pObjs->a[i].zSql);
  }
  sqlite3_free(pObjs);
}

/* A table's columns as one line: name, hidden (generated), pk, notnull. */
static char *table_columns(sqlite3 *db, const char *zTable){
  sqlite3_stmt *pStmt = 0;
  char *z = 0;
  if( sqlite3_prepare_v2(db,
        "SELECT group_concat(name || iif(hidden, ' generated', '')"
        "                    || iif(pk, ' key', '')"
        "                    || iif(\"notnull\", ' not null', ''), ', ')"
        "  FROM (SELECT * FROM pragma_table_xinfo(?1, 'main') ORDER BY cid)",
        -1, &pStmt, 0)==SQLITE_OK ){
    sqlite3_bind_text(pStmt, 1, zTable, -1, SQLITE_STATIC);
    if( sqlite3_step(pStmt)==SQLITE_ROW ){
      z = sqlite3_mprintf("%s", sqlite3_column_text(pStmt, 0));
    }
  }
  sqlite3_finalize(pStmt);
  return z;
}

static char *dup_column(sqlite3_stmt *pStmt, int i){
  return sqlite3_mprintf("%s", sqlite3_column_text(pStmt, i));
}

/* Run the embedded schema script into a private in-memory database and
** read back what it created. */
static int load_expected(RpcConn *p){
  sqlite3 *db = 0;
  sqlite3_stmt *pStmt = 0;
  RpcSchemaObjects *pObjs = 0;
  int rc, n = 0;
  rc = sqlite3_open_v2(":memory:", &db,
                       SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, 0);
  if( rc==SQLITE_OK ) rc = sqlite3_exec(db, rpc_schema_script(), 0, 0, 0);
  if( rc==SQLITE_OK ){
    rc = sqlite3_prepare_v2(db,
        "SELECT count(*) OVER (), type, name, tbl_name, sql"
        "  FROM main.sqlite_schema ORDER BY rowid", -1, &pStmt, 0);
  }
  while( rc==SQLITE_OK && sqlite3_step(pStmt)==SQLITE_ROW ){
    RpcObject *pObj;
    if( pObjs==0 ){
      int nAll = sqlite3_column_int(pStmt, 0);
      pObjs = sqlite3_malloc64(sizeof(*pObjs) + nAll*sizeof(RpcObject));
      if( pObjs==0 ){ rc = SQLITE_NOMEM; break; }
      memset(pObjs, 0, sizeof(*pObjs) + nAll*sizeof(RpcObject));
    }
    pObj = &pObjs->a[n++];
    pObjs->n = n;
    pObj->zType = dup_column(pStmt, 1);
    pObj->zName = dup_column(pStmt, 2);
    pObj->zTable = dup_column(pStmt, 3);
    pObj->zSql = strcmp(pObj->zType ? pObj->zType : "", "table")==0
               ? table_columns(db, pObj->zName) : dup_column(pStmt, 4);
    if( !pObj->zType || !pObj->zName || !pObj->zTable || !pObj->zSql ){
      rc = SQLITE_NOMEM;
    }
  }
  sqlite3_finalize(pStmt);
  sqlite3_close(db);
  if( rc==SQLITE_OK && pObjs==0 ) rc = SQLITE_ERROR;
  if( rc!=SQLITE_OK ){
    rpc_audit_free(pObjs);
    return rc;
  }
  p->pExpected = pObjs;
  return SQLITE_OK;
}

static const RpcObject *find_expected(RpcSchemaObjects *pObjs,
                                      const char *zName){
  int i;
  for(i=0; i<pObjs->n; i++){
    if( sqlite3_stricmp(pObjs->a[i].zName, zName)==0 ) return &pObjs->a[i];
  }
  return 0;
}

static void add_line(sqlite3_str *pOut, RpcAudit *pAudit, const char *zFormat,
                     ...){
  va_list ap;
  va_start(ap, zFormat);
  sqlite3_str_vappendf(pOut, zFormat, ap);
  va_end(ap);
  sqlite3_str_appendchar(pOut, 1, '\n');
  pAudit->nLine++;
}

/* The revision line, if the stored revision is not this rpcver's.
** Returns 1 when the code (triggers, views, indexes) can be compared. */
static int audit_revision(RpcConn *p, sqlite3_str *pOut, RpcAudit *pAudit){
  sqlite3_int64 v, rev;
  char *zErr = 0;
  int rc = rpc_schema_stored(p, &v, &rev, &zErr);
  if( rc!=SQLITE_OK ){
    add_line(pOut, pAudit, "%s", zErr ? zErr : sqlite3_errstr(rc));
    sqlite3_free(zErr);
    return 0;
  }
  if( v==0 ){
    add_line(pOut, pAudit, "rpc_meta has no schema_version: rpcver always "
             "writes one");
    return 0;
  }
  if( v!=RPC_SCHEMA_VERSION ){
    add_line(pOut, pAudit, "rpc_meta: schema_version is %lld; this rpcver "
             "checks version %d (%s)", v, RPC_SCHEMA_VERSION,
             v<RPC_SCHEMA_VERSION ? "the next write or SELECT rpc_init() "
             "migrates it" : "load a newer rpcver");
    return 0;
  }
  if( rev<RPC_SCHEMA_REVISION ){
    add_line(pOut, pAudit, "rpc_meta: schema_revision %lld is older than "
             "this rpcver's %d: the next write or SELECT rpc_init() brings "
             "its triggers and views up to date (they are not checked until "
             "then)", rev, RPC_SCHEMA_REVISION);
    return 0;
  }
  if( rev>RPC_SCHEMA_REVISION ){
    add_line(pOut, pAudit, "rpc_meta: schema_revision %lld was written by a "
             "newer rpcver; this one (revision %d) cannot check its "
             "triggers and views", rev, RPC_SCHEMA_REVISION);
    return 0;
  }
  return 1;
}

int rpc_schema_audit(RpcConn *p, sqlite3_str *pOut, RpcAudit *pAudit){
  sqlite3_stmt *pStmt = 0;
  RpcSchemaObjects *pObjs;
  unsigned char aSeen[256];
  int i, rc, compareCode;

  memset(pAudit, 0, sizeof(*pAudit));
  if( p->pExpected==0 && (rc = load_expected(p))!=SQLITE_OK ) return rc;
  pObjs = p->pExpected;
  if( pObjs->n>(int)sizeof(aSeen) ) return SQLITE_INTERNAL;
  memset(aSeen, 0, sizeof(aSeen));

  /* Every object of main: rpcver's by name, or a trigger on its tables. */
  rc = sqlite3_prepare_v2(p->db,
      "SELECT type, name, tbl_name, sql FROM main.sqlite_schema"
      " WHERE type IN ('table', 'view', 'index', 'trigger')", -1, &pStmt, 0);
  if( rc!=SQLITE_OK ) return rc;
  pAudit->tablesOk = 1;
  while( sqlite3_step(pStmt)==SQLITE_ROW ){
    const char *zType = (const char*)sqlite3_column_text(pStmt, 0);
    const char *zName = (const char*)sqlite3_column_text(pStmt, 1);
    const char *zTable = (const char*)sqlite3_column_text(pStmt, 2);
    const RpcObject *pObj;
    if( zType==0 || zName==0 || zTable==0 ) continue;
    pObj = find_expected(pObjs, zName);
    if( pObj==0 ){
      const RpcObject *pOn = find_expected(pObjs, zTable);
      if( strcmp(zType, "trigger")==0 && pOn ){
        char *zQuoted = rpc_quote(zName, sqlite3_column_bytes(pStmt, 1));
        add_line(pOut, pAudit, "trigger %s on %s is not part of rpcver's "
                 "schema: it runs on writes of rpcver's %s; drop it unless "
                 "you made it", zQuoted, pOn->zName, pOn->zType);
        sqlite3_free(zQuoted);
      }
      continue;
    }
    aSeen[pObj - pObjs->a] = 1;
    pAudit->present = 1;
    if( strcmp(zType, pObj->zType)!=0 ){
      add_line(pOut, pAudit, "%s is a %s; rpcver's %s is a %s: this "
               "database's rpcver schema is not rpcver's", pObj->zName,
               zType, pObj->zName, pObj->zType);
      if( strcmp(pObj->zType, "table")==0 ) pAudit->tablesOk = 0;
    }else if( strcmp(zType, "table")==0 ){
      char *zCols = table_columns(p->db, pObj->zName);
      if( zCols==0 ){
        rc = SQLITE_NOMEM;
        break;
      }
      if( strcmp(zCols, pObj->zSql)!=0 ){
        char *zQuoted = rpc_quote(zCols, (int)strlen(zCols));
        add_line(pOut, pAudit, "table %s has the columns %s; rpcver's has "
                 "(%s)", pObj->zName, zQuoted, pObj->zSql);
        sqlite3_free(zQuoted);
        pAudit->tablesOk = 0;
      }
      sqlite3_free(zCols);
    }
  }
  if( rc==SQLITE_OK ) rc = sqlite3_reset(pStmt);
  if( rc!=SQLITE_OK || !pAudit->present ){
    sqlite3_finalize(pStmt);
    if( !pAudit->present ) pAudit->tablesOk = 0;
    return rc;
  }
  for(i=0; i<pObjs->n; i++){
    if( !aSeen[i] && strcmp(pObjs->a[i].zType, "table")==0 ){
      add_line(pOut, pAudit, "table %s is missing", pObjs->a[i].zName);
      pAudit->tablesOk = 0;
    }
  }
  if( !pAudit->tablesOk ){
    sqlite3_finalize(pStmt);
    return SQLITE_OK;
  }

  /* The code: only against this rpcver's revision of it. */
  compareCode = audit_revision(p, pOut, pAudit);
  while( compareCode && sqlite3_step(pStmt)==SQLITE_ROW ){
    const char *zName = (const char*)sqlite3_column_text(pStmt, 1);
    const char *zSql = (const char*)sqlite3_column_text(pStmt, 3);
    const RpcObject *pObj = zName ? find_expected(pObjs, zName) : 0;
    if( pObj==0 || strcmp(pObj->zType, "table")==0 ) continue;
    if( strcmp((const char*)sqlite3_column_text(pStmt, 0), pObj->zType)!=0 ){
      continue;                          /* reported above */
    }
    if( strcmp(zSql ? zSql : "", pObj->zSql)!=0 ){
      add_line(pOut, pAudit, "%s %s is not rpcver's: its SQL differs from "
               "revision %d's (SELECT rpc_init() restores it)",
               pObj->zType, pObj->zName, RPC_SCHEMA_REVISION);
      pAudit->codeBad = 1;
    }
  }
  for(i=0; compareCode && i<pObjs->n; i++){
    if( !aSeen[i] ){
      add_line(pOut, pAudit, "%s %s is missing (SELECT rpc_init() restores "
               "it)", pObjs->a[i].zType, pObjs->a[i].zName);
      pAudit->codeBad = 1;
    }
  }
  rc = sqlite3_finalize(pStmt);
  return rc;
}
