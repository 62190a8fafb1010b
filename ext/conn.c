/*
** Per-connection state: the prepared statements rpcver keeps, and how they
** are released in time for sqlite3_close().
**
** Preparing the hot-path statement on every call would cost more than the
** call itself, so statements are prepared once and kept.  But a connection
** that still holds prepared statements cannot be closed: sqlite3_close()
** returns SQLITE_BUSY, and function destructors run only after that check.
** Virtual tables are disconnected *before* it.  So rpcver owns an eponymous
** virtual table, rpcver_cache, and connects it (by preparing a statement
** that names it) before it keeps any statement; its xDisconnect finalizes
** them all.  The table is also useful on its own: it lists the entries of
** rpc_max_send()'s per-connection cache.
**
**   SELECT * FROM rpcver_cache;   -- method, negotiated, max_lo, data_version
*/
#include "rpcver_int.h"
#include <string.h>

RpcConn *rv_conn_new(sqlite3 *db){
  RpcConn *p = sqlite3_malloc(sizeof(*p));
  if( p ){
    memset(p, 0, sizeof(*p));
    p->db = db;
    p->lastKey = -1;
  }
  return p;
}

void rv_conn_ref(RpcConn *p){ p->nRef++; }

static void finalize_all(RpcConn *p){
  int i;
  for(i=0; i<RPC_STMT_COUNT; i++){
    sqlite3_finalize(p->aStmt[i]);
    p->aStmt[i] = 0;
  }
}

void rv_conn_unref(void *pArg){
  RpcConn *p = (RpcConn*)pArg;
  if( --p->nRef==0 ){
    finalize_all(p);
    sqlite3_free(p->zStmtErr);
    rv_audit_free(p->pExpected);
    sqlite3_free(p);
  }
}

/* Connect rpcver_cache, so that closing the connection disconnects it.
** The name is qualified with main: a table or view of that name in temp or
** in an attached (perhaps hostile) database cannot shadow it.  One in main
** itself can, and then rpcver refuses to keep statements, with a message. */
static int connect_hook(RpcConn *p){
  sqlite3_stmt *pStmt = 0;
  int rc;
  if( p->hookConnected ) return SQLITE_OK;
  rc = sqlite3_prepare_v2(p->db, "SELECT 1 FROM main.rpcver_cache", -1,
                          &pStmt, 0);
  sqlite3_finalize(pStmt);
  p->hookShadowed = rc==SQLITE_OK && !p->hookConnected;
  if( p->hookShadowed ) rc = SQLITE_ERROR;
  return rc;
}

const char *rv_conn_errmsg(RpcConn *p){
  if( p->zFault ) return p->zFault;
  if( p->zStmtErr ) return p->zStmtErr;
  if( p->hookShadowed ){
    return "rpcver: a table or view named rpcver_cache in the main database "
           "hides rpcver's own rpcver_cache; rename it";
  }
  return sqlite3_errmsg(p->db);
}

/*
** A kept statement that is running must never be bound, stepped or reset:
** re-stepping it recurses without end, and resetting it pulls the program
** out from under the caller that is stepping it (both crashed SQLite).  It
** can only be running when an rpcver function is called again from inside
** that statement, which rpcver's own schema never does: the database's
** rpc_methods (say) is then a view of someone else's that calls rpcver.
** The nested call fails instead, and so does the outer one with it.
*/
static const char zReentered[] =
  "rpcver: called again from inside its own query: this database's rpcver "
  "tables are not rpcver's (a view or trigger in the file calls rpcver's "
  "functions); do not trust this file, and see SELECT rpc_verify()";

int rv_conn_reentered(RpcConn *p, sqlite3_stmt *pStmt){
  if( pStmt==0 || !sqlite3_stmt_busy(pStmt) ) return 0;
  p->zFault = zReentered;
  return 1;
}

void rv_conn_fault(RpcConn *p){
  p->zFault = zReentered;
}

void rv_conn_clear(RpcConn *p){
  p->zFault = 0;
  sqlite3_free(p->zStmtErr);
  p->zStmtErr = 0;
}

/*
** Return in *ppStmt the kept statement for id, preparing zSql the first time.
** The statement is reset and its bindings cleared.  SQLITE_MISUSE when it
** is running (rv_conn_reentered()).
*/
int rv_conn_stmt(RpcConn *p, RpcStmtId id, const char *zSql,
                  sqlite3_stmt **ppStmt){
  int rc = SQLITE_OK;
  if( p->zFault || p->zStmtErr ) rv_conn_clear(p);
  if( rv_conn_reentered(p, p->aStmt[id]) ){
    *ppStmt = 0;
    return SQLITE_MISUSE;
  }
  if( p->aStmt[id]==0 ){
    rc = connect_hook(p);
    if( rc==SQLITE_OK ){
      rc = sqlite3_prepare_v3(p->db, zSql, -1, SQLITE_PREPARE_PERSISTENT,
                              &p->aStmt[id], 0);
      /* kept for rv_conn_errmsg(): the caller may run other SQL (is there
      ** a schema at all?) before it reports the failure */
      if( rc!=SQLITE_OK && p->zStmtErr==0 && !p->hookShadowed ){
        p->zStmtErr = sqlite3_mprintf("%s", sqlite3_errmsg(p->db));
      }
    }
  }else{
    sqlite3_reset(p->aStmt[id]);
    sqlite3_clear_bindings(p->aStmt[id]);
  }
  *ppStmt = p->aStmt[id];
  return rc;
}

/* Forget a kept statement after it failed at step: a statement SQLite can
** no longer re-prepare (the schema was dropped under it) would fail for
** good; the next rv_conn_stmt() prepares it afresh.  Its error message is
** kept for rv_conn_errmsg() first: finalizing, and whatever SQL runs next,
** would replace it. */
void rv_conn_stmt_drop(RpcConn *p, RpcStmtId id){
  if( p->zStmtErr==0 ){
    p->zStmtErr = sqlite3_mprintf("%s", sqlite3_errmsg(p->db));
  }
  sqlite3_finalize(p->aStmt[id]);
  p->aStmt[id] = 0;
}

/*************************************************** the rpcver_cache vtab */

typedef struct HookVtab {
  sqlite3_vtab base;
  RpcConn *pConn;
} HookVtab;

typedef struct HookCursor {
  sqlite3_vtab_cursor base;
  int iSlot;
} HookCursor;

static int hook_connect(sqlite3 *db, void *pAux, int argc,
                        const char *const *argv, sqlite3_vtab **ppVtab,
                        char **pzErr){
  RpcConn *p = (RpcConn*)pAux;
  HookVtab *pTab;
  int rc;
  (void)argc; (void)argv; (void)pzErr;
  rc = sqlite3_declare_vtab(db, "CREATE TABLE x(method TEXT, negotiated TEXT,"
                                " max_lo TEXT, data_version INTEGER)");
  if( rc!=SQLITE_OK ) return rc;
  pTab = sqlite3_malloc(sizeof(*pTab));
  if( pTab==0 ) return SQLITE_NOMEM;
  memset(pTab, 0, sizeof(*pTab));
  pTab->pConn = p;
  /* The table holds its own reference: when a second load of rpcver
  ** replaces the module, SQLite drops the module's reference before it
  ** disconnects this table. */
  rv_conn_ref(p);
  p->hookConnected = 1;
  sqlite3_vtab_config(db, SQLITE_VTAB_INNOCUOUS);
  *ppVtab = &pTab->base;
  return SQLITE_OK;
}

/* Called by sqlite3_close() before it checks for unfinalized statements. */
static int hook_disconnect(sqlite3_vtab *pVtab){
  HookVtab *pTab = (HookVtab*)pVtab;
  finalize_all(pTab->pConn);
  pTab->pConn->hookConnected = 0;
  rv_conn_unref(pTab->pConn);
  sqlite3_free(pTab);
  return SQLITE_OK;
}

static int hook_best_index(sqlite3_vtab *pVtab, sqlite3_index_info *pInfo){
  (void)pVtab;
  pInfo->estimatedCost = RPC_CACHE_SLOTS;
  pInfo->estimatedRows = RPC_CACHE_SLOTS;
  return SQLITE_OK;
}

static int hook_open(sqlite3_vtab *pVtab, sqlite3_vtab_cursor **ppCursor){
  HookCursor *pCur = sqlite3_malloc(sizeof(*pCur));
  (void)pVtab;
  if( pCur==0 ) return SQLITE_NOMEM;
  memset(pCur, 0, sizeof(*pCur));
  *ppCursor = &pCur->base;
  return SQLITE_OK;
}

static int hook_close(sqlite3_vtab_cursor *pCursor){
  sqlite3_free(pCursor);
  return SQLITE_OK;
}

static void skip_empty(HookCursor *pCur){
  RpcConn *p = ((HookVtab*)pCur->base.pVtab)->pConn;
  while( pCur->iSlot<RPC_CACHE_SLOTS && !p->aCache[pCur->iSlot].valid ){
    pCur->iSlot++;
  }
}

static int hook_filter(sqlite3_vtab_cursor *pCursor, int idxNum,
                       const char *idxStr, int argc, sqlite3_value **argv){
  HookCursor *pCur = (HookCursor*)pCursor;
  (void)idxNum; (void)idxStr; (void)argc; (void)argv;
  pCur->iSlot = 0;
  skip_empty(pCur);
  return SQLITE_OK;
}

static int hook_next(sqlite3_vtab_cursor *pCursor){
  HookCursor *pCur = (HookCursor*)pCursor;
  pCur->iSlot++;
  skip_empty(pCur);
  return SQLITE_OK;
}

static int hook_eof(sqlite3_vtab_cursor *pCursor){
  return ((HookCursor*)pCursor)->iSlot>=RPC_CACHE_SLOTS;
}

static int hook_column(sqlite3_vtab_cursor *pCursor, sqlite3_context *ctx,
                       int i){
  HookCursor *pCur = (HookCursor*)pCursor;
  RpcConn *p = ((HookVtab*)pCur->base.pVtab)->pConn;
  RpcCacheEntry *pEntry = &p->aCache[pCur->iSlot];
  switch( i ){
    case 0:
      sqlite3_result_text(ctx, pEntry->zMethod, pEntry->nMethod,
                          SQLITE_TRANSIENT);
      break;
    case 1:
      if( pEntry->negotiated>=0 ) rv_result_version(ctx, pEntry->negotiated);
      break;
    case 2:
      if( pEntry->maxLo>=0 ) rv_result_version(ctx, pEntry->maxLo);
      break;
    default:
      sqlite3_result_int64(ctx, pEntry->dataVersion);
      break;
  }
  return SQLITE_OK;
}

static int hook_rowid(sqlite3_vtab_cursor *pCursor, sqlite3_int64 *pRowid){
  *pRowid = ((HookCursor*)pCursor)->iSlot;
  return SQLITE_OK;
}

static const sqlite3_module hook_module = {
  0,                 /* iVersion */
  0,                 /* xCreate: 0 makes the table eponymous-only */
  hook_connect, hook_best_index, hook_disconnect, 0,
  hook_open, hook_close, hook_filter, hook_next, hook_eof, hook_column,
  hook_rowid,
  0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0
};

int rv_conn_register_hook(sqlite3 *db, RpcConn *p){
  int rc;
  rv_conn_ref(p);
  rc = sqlite3_create_module_v2(db, "rpcver_cache", &hook_module, p,
                                rv_conn_unref);
  return rc;
}
