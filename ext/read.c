/*
** The read functions, and the cache that makes rpc_max_send() cheap enough
** to call before every RPC.
**
**   rpc_max_send(METHOD [, SENDER_HI [, SENDER_LO]]) -> version text or NULL
**   rpc_can_send(METHOD, VERSION)                     -> 1 or 0
**   rpc_check(METHOD, HI [, LO])                      -> NULL or refusal text
**
** All are SQLITE_INNOCUOUS: they read and never write.
**
** The cache.  A cached answer is only as good as the proof that the data
** under it has not changed.  SQLITE_FCNTL_DATA_VERSION changes with every
** commit, but it shows another connection's commit only once this
** connection has started a new read transaction, and a table-less
** "SELECT rpc_max_send(?)" in autocommit mode starts none.  So the cache is
** used only where the counter is current:
**   - inside a read transaction (the snapshot is fixed: the counter tells
**     whether the snapshot moved since the entry was filled);
**   - on a private database (":memory:", temporary), which no other
**     connection can change.
** Outside a transaction on a file the lookup statement runs, which opens a
** read transaction and so sees every commit, from any process.  Inside a
** write transaction the cache is bypassed: this connection's own uncommitted
** writes do not move the counter.  Nor is it used on the memdb VFS
** (file_cacheable()), nor filled under PRAGMA read_uncommitted
** (fill_allowed()): there the counter proves nothing.
*/
#include "rpcver_int.h"
#include <string.h>

static unsigned int hash_name(const char *z, int n){
  unsigned int h = 2166136261u;             /* FNV-1a */
  int i;
  for(i=0; i<n; i++){ h ^= (unsigned char)z[i]; h *= 16777619u; }
  return h;
}

/*
** Whether the cache may serve the main database's file at all.  Not on the
** memdb VFS (sqlite3_deserialize(), "file:...?vfs=memdb"): there the proof
** fails.  Each deserialize opens a new in-memory file object whose data
** version starts again at 1, and the object is allocated where the last one
** was freed, so neither the handle nor the counter tells one image from the
** next.  Such a database gets the lookup statement on every call.
*/
static int file_cacheable(RpcConn *p){
  sqlite3_vfs *pVfs = 0;
  if( sqlite3_file_control(p->db, 0, SQLITE_FCNTL_VFS_POINTER, &pVfs)
      !=SQLITE_OK ){
    return 0;
  }
  return pVfs==0 || pVfs->zName==0 || strcmp(pVfs->zName, "memdb")!=0;
}

/*
** When the cache may be used now, set *pDataVersion and return 1.
**
** The counter belongs to the main database's pager.  When the file handle,
** its methods, or the counter going backwards show that the database was
** replaced under the connection, the cache is emptied and the new file is
** examined (file_cacheable()).
*/
static int cache_usable(RpcConn *p, unsigned int *pDataVersion){
  int state = sqlite3_txn_state(p->db, "main");
  sqlite3_file *pFile = 0;
  if( state==SQLITE_TXN_WRITE ) return 0;
  if( state==SQLITE_TXN_NONE ){
    const char *zFile = sqlite3_db_filename(p->db, "main");
    if( zFile && zFile[0] ) return 0;
  }
  /* (a NULL schema name is main, without looking the name up) */
  if( sqlite3_file_control(p->db, 0, SQLITE_FCNTL_DATA_VERSION,
                           pDataVersion)!=SQLITE_OK
   || sqlite3_file_control(p->db, 0, SQLITE_FCNTL_FILE_POINTER,
                           &pFile)!=SQLITE_OK
   || pFile==0 ){
    return 0;
  }
  if( pFile!=p->pCacheFile || pFile->pMethods!=p->pCacheMethods
   || *pDataVersion<p->cacheDataVersion ){
    int i;
    for(i=0; i<RPC_CACHE_SLOTS; i++) p->aCache[i].valid = 0;
    p->pCacheFile = pFile;
    p->pCacheMethods = pFile->pMethods;
    p->cacheRefused = !file_cacheable(p);
  }
  p->cacheDataVersion = *pDataVersion;
  return !p->cacheRefused;
}

/*
** 1 when a value read now may be cached.  Not under PRAGMA
** read_uncommitted (it matters only in shared-cache mode): a read then sees
** another connection's uncommitted write, which does not move the data
** version, and if that write is rolled back the cached answer would outlive
** it.  Checked when an entry is filled, never on a hit: an entry filled
** before the pragma was set holds a committed value.
*/
static int fill_allowed(RpcConn *p){
  sqlite3_stmt *pStmt;
  int dirty = 1;
  if( rv_conn_stmt(p, RPC_STMT_READ_UNCOMMITTED, "PRAGMA read_uncommitted",
                    &pStmt)==SQLITE_OK ){
    if( sqlite3_step(pStmt)==SQLITE_ROW ) dirty = sqlite3_column_int(pStmt, 0);
    sqlite3_reset(pStmt);
  }
  return !dirty;
}

int rv_lookup(RpcConn *p, const char *zMethod, int nMethod, RpcLookup *pOut){
  unsigned int dataVersion = 0;
  int useCache = nMethod<=RPC_NAME_MAX && cache_usable(p, &dataVersion);
  RpcCacheEntry *pEntry = 0;
  sqlite3_stmt *pStmt;
  int rc;

  if( useCache ){
    pEntry = &p->aCache[hash_name(zMethod, nMethod) % RPC_CACHE_SLOTS];
  }
  if( pEntry && pEntry->valid && pEntry->dataVersion==dataVersion
   && pEntry->nMethod==nMethod && memcmp(pEntry->zMethod, zMethod, nMethod)==0
  ){
    pOut->hasRow = pEntry->hasRow;
    pOut->negotiated = pEntry->negotiated;
    pOut->maxLo = pEntry->maxLo;
    pOut->nText = pEntry->nText;
    memcpy(pOut->zText, pEntry->zText, pEntry->nText + 1);
    return SQLITE_OK;
  }

  memset(pOut, 0, sizeof(*pOut));
  pOut->negotiated = pOut->maxLo = -1;
  /* The kept statement is left reset and without bindings after each use
  ** (below), so it is used as it is; rv_conn_stmt() prepares it. */
  pStmt = p->aStmt[RPC_STMT_LOOKUP];
  if( pStmt==0 ){
    rc = rv_conn_stmt(p, RPC_STMT_LOOKUP,
        "SELECT negotiated, max_lo FROM main.rpc_methods WHERE method = ?1",
        &pStmt);
    if( rc!=SQLITE_OK ){
      /* No schema yet: every method is unknown. */
      return rv_schema_present(p->db) ? rc : SQLITE_OK;
    }
  }else if( rv_conn_reentered(p, pStmt) ){
    return SQLITE_MISUSE;
  }else if( p->zFault || p->zStmtErr ){
    rv_conn_clear(p);
  }
  /* STATIC: zMethod outlives the step; the binding is cleared below */
  sqlite3_bind_text(pStmt, 1, zMethod, nMethod, SQLITE_STATIC);
  if( sqlite3_step(pStmt)==SQLITE_ROW ){
    pOut->hasRow = 1;
    if( sqlite3_column_type(pStmt, 0)==SQLITE_INTEGER ){
      pOut->negotiated = sqlite3_column_int64(pStmt, 0);
      if( pOut->negotiated!=p->lastKey ){
        p->nLastText = rv_version_format(pOut->negotiated, p->zLastText);
        p->lastKey = pOut->negotiated;
      }
      pOut->nText = p->nLastText;
      memcpy(pOut->zText, p->zLastText, p->nLastText + 1);
    }
    if( sqlite3_column_type(pStmt, 1)==SQLITE_INTEGER ){
      pOut->maxLo = sqlite3_column_int64(pStmt, 1);
    }
  }
  rc = sqlite3_reset(pStmt);
  sqlite3_clear_bindings(pStmt);
  if( rc!=SQLITE_OK ){
    rv_conn_stmt_drop(p, RPC_STMT_LOOKUP);
    /* The schema was dropped under a kept statement: unknown, as before
    ** it was created.  (Not when the query failed because it called
    ** rpcver again: that is an error however the schema looks.) */
    if( p->zFault==0 && !rv_schema_present(p->db) ){
      memset(pOut, 0, sizeof(*pOut));
      pOut->negotiated = pOut->maxLo = -1;
      return SQLITE_OK;
    }
    return rc;
  }
  if( pEntry && fill_allowed(p) ){
    pEntry->valid = 1;
    pEntry->dataVersion = dataVersion;
    pEntry->nMethod = nMethod;
    memcpy(pEntry->zMethod, zMethod, nMethod);
    pEntry->zMethod[nMethod] = 0;
    pEntry->hasRow = pOut->hasRow;
    pEntry->negotiated = pOut->negotiated;
    pEntry->maxLo = pOut->maxLo;
    pEntry->nText = pOut->nText;
    memcpy(pEntry->zText, pOut->zText, pOut->nText + 1);
  }
  return rc;
}

/* The highest version a sender whose code sends [senderLo, cap] may send
** now (cap -1: no cap): negotiated, capped, or -1 (NULL) when that is below
** some receiver's lo or the sender's own.  rpc_max_send()'s rule. */
RpcKey rv_sendable(const RpcLookup *pLook, RpcKey cap, RpcKey senderLo){
  RpcKey v;
  if( !pLook->hasRow || pLook->negotiated<0 ) return -1;
  v = pLook->negotiated;
  if( cap>=0 && cap<v ) v = cap;
  if( v<pLook->maxLo || v<senderLo ) return -1;
  return v;
}

/* Read the METHOD argument of a read function.  Returns 0 with *pz set, or
** 1 when the function's result is already decided (NULL, or an error). */
static int arg_method(sqlite3_context *ctx, const char *zFunc,
                      sqlite3_value *pVal, const char **pz, int *pn){
  if( sqlite3_value_type(pVal)==SQLITE_NULL ) return 1;
  if( sqlite3_value_type(pVal)!=SQLITE_TEXT ){
    char *zVal = rv_describe(pVal);
    rv_errorf(ctx, "rpcver: %s: method must be text, not %s", zFunc, zVal);
    sqlite3_free(zVal);
    return 1;
  }
  /* The bytes as they are: sqlite3_value_text() copies a value bound with
  ** an explicit length (as most bindings bind) only to NUL-terminate it,
  ** and nothing here needs the terminator.  sqlite3_value_bytes() first
  ** converts a UTF-16 value (a UTF-16 database) to UTF-8 in place, and
  ** sqlite3_value_blob() then returns those bytes unchanged.  An empty
  ** string has no blob pointer; sqlite3_value_text() tells it from OOM. */
  *pn = sqlite3_value_bytes(pVal);
  *pz = *pn>0 ? (const char*)sqlite3_value_blob(pVal)
              : (const char*)sqlite3_value_text(pVal);
  if( *pz==0 ){ sqlite3_result_error_nomem(ctx); return 1; }
  return 0;
}

static void lookup_failed(sqlite3_context *ctx, RpcConn *p, const char *zFunc,
                          int rc){
  rv_error(ctx, zFunc, rv_conn_errmsg(p), rc);
}

void rv_rpc_max_send(sqlite3_context *ctx, int argc,
                          sqlite3_value **argv){
  static const char zFunc[] = "rpc_max_send";
  RpcConn *p = (RpcConn*)sqlite3_user_data(ctx);
  const char *zMethod;
  int nMethod, rc;
  RpcKey cap = -1, senderLo = 0, v;
  RpcLookup look;

  if( arg_method(ctx, zFunc, argv[0], &zMethod, &nMethod) ) return;
  if( argc>1 && sqlite3_value_type(argv[1])!=SQLITE_NULL ){
    if( rv_arg_version(ctx, zFunc, "sender_hi", argv[1], &cap) ) return;
    senderLo = RPC_KEY_MAJOR_BASE(cap);
  }
  if( argc>2 && sqlite3_value_type(argv[2])!=SQLITE_NULL ){
    if( rv_arg_version(ctx, zFunc, "sender_lo", argv[2], &senderLo) ) return;
    if( cap>=0 && senderLo>cap ){
      char zLo[RPC_KEY_TEXT_MAX], zHi[RPC_KEY_TEXT_MAX];
      rv_version_format(senderLo, zLo);
      rv_version_format(cap, zHi);
      rv_errorf(ctx, "rpcver: rpc_max_send: sender_lo %s is above "
                 "sender_hi %s", zLo, zHi);
      return;
    }
  }
  rc = rv_lookup(p, zMethod, nMethod, &look);
  if( rc!=SQLITE_OK ){ lookup_failed(ctx, p, zFunc, rc); return; }
  v = rv_sendable(&look, cap, senderLo);
  if( v<0 ) return;                          /* no version fits both sides */
  if( v==look.negotiated ){
    /* -1: the copy keeps the terminator, so a caller's
    ** sqlite3_column_text() need not copy the result again to add one. */
    sqlite3_result_text(ctx, look.zText, -1, SQLITE_TRANSIENT);
  }else{
    rv_result_version(ctx, v);
  }
}

void rv_rpc_can_send(sqlite3_context *ctx, int argc,
                          sqlite3_value **argv){
  static const char zFunc[] = "rpc_can_send";
  RpcConn *p = (RpcConn*)sqlite3_user_data(ctx);
  const char *zMethod;
  int nMethod, rc;
  RpcKey v;
  RpcLookup look;
  (void)argc;
  if( arg_method(ctx, zFunc, argv[0], &zMethod, &nMethod) ) return;
  if( rv_arg_version(ctx, zFunc, "version", argv[1], &v) ) return;
  rc = rv_lookup(p, zMethod, nMethod, &look);
  if( rc!=SQLITE_OK ){ lookup_failed(ctx, p, zFunc, rc); return; }
  sqlite3_result_int(ctx, look.hasRow && look.negotiated>=0
                          && look.maxLo<=v && v<=look.negotiated);
}

/*
** rpc_check()'s statement: the admission rules with what may be in flight,
** or, on a database still at schema version 2 (a read does not migrate it;
** the next write will), the rules that database's triggers enforce: the
** floor alone.
*/
static int check_stmt(RpcConn *p, sqlite3_stmt **ppStmt){
  sqlite3_int64 v = 0, rev = 0;
  char *zErr = 0;
  rv_schema_stored(p, &v, &rev, &zErr);
  sqlite3_free(zErr);
  if( v==2 ){
    return rv_conn_stmt(p, RPC_STMT_CHECK_V2,
        "SELECT rpcver_refusal(NULL, method, ?2, ?3, floor, NULL, NULL,"
        "                      NULL, NULL, NULL, 0, 0)"
        "  FROM main.rpc_methods WHERE method = ?1", ppStmt);
  }
  /* the admission rules, then whether the range would leave a registered
  ** sender nothing (the versions every receiver would accept:
  ** [max(max_lo, lo), min(min_hi, hi, pin)]) */
  return rv_conn_stmt(p, RPC_STMT_CHECK,
      "SELECT coalesce("
      "  rpcver_refusal(NULL, m.method, ?2, ?3, m.floor, m.send_lo,"
      "                 m.send_hi, m.inflight_lo, m.inflight_hi,"
      "                 m.inflight_until,"
      "                 coalesce(m.drain, (SELECT value FROM main.rpc_meta"
      "                                     WHERE key = 'drain_default')),"
      "                 unixepoch()),"
      "  (SELECT rpcver_sender_refusal("
      "            printf('the range [%s, %s] of a manager', rpcver_text(?2),"
      "                   rpcver_text(?3)),"
      "            m.method, s.sender, s.lo, s.hi,"
      "            max(coalesce(m.max_lo, ?2), ?2),"
      "            min(coalesce(m.min_hi, ?3), ?3, coalesce(m.pin, ?3)))"
      "     FROM main.rpc_sender_ranges AS s"
      "    WHERE s.method = m.method"
      "      AND (s.hi < max(coalesce(m.max_lo, ?2), ?2)"
      "           OR s.lo > min(coalesce(m.min_hi, ?3), ?3,"
      "                         coalesce(m.pin, ?3)))"
      "    LIMIT 1))"
      "  FROM main.rpc_methods AS m"
      " WHERE m.method = ?1", ppStmt);
}

void rv_rpc_check(sqlite3_context *ctx, int argc, sqlite3_value **argv){
  static const char zFunc[] = "rpc_check";
  RpcConn *p = (RpcConn*)sqlite3_user_data(ctx);
  sqlite3_stmt *pStmt;
  RpcKey hi, lo;
  int rc;
  if( rv_arg_name(ctx, zFunc, "method", argv[0]) ) return;
  if( rv_arg_version(ctx, zFunc, "hi", argv[1], &hi) ) return;
  if( argc<3 || sqlite3_value_type(argv[2])==SQLITE_NULL ){
    lo = RPC_KEY_MAJOR_BASE(hi);
  }else if( rv_arg_version(ctx, zFunc, "lo", argv[2], &lo) ){
    return;
  }
  if( lo>hi ){
    char zLo[RPC_KEY_TEXT_MAX], zHi[RPC_KEY_TEXT_MAX];
    rv_version_format(lo, zLo);
    rv_version_format(hi, zHi);
    rv_errorf(ctx, "rpcver: rpc_check: lo %s is above hi %s", zLo, zHi);
    return;
  }
  rc = check_stmt(p, &pStmt);
  if( rc!=SQLITE_OK ){
    if( p->zFault || rv_schema_present(p->db) ){
      lookup_failed(ctx, p, zFunc, rc);
    }
    return;                                  /* no schema: admitted */
  }
  sqlite3_bind_value(pStmt, 1, argv[0]);
  sqlite3_bind_int64(pStmt, 2, lo);
  sqlite3_bind_int64(pStmt, 3, hi);
  if( sqlite3_step(pStmt)==SQLITE_ROW ){
    sqlite3_result_value(ctx, sqlite3_column_value(pStmt, 0));
  }
  rc = sqlite3_reset(pStmt);
  if( rc!=SQLITE_OK ){
    rv_conn_stmt_drop(p, RPC_STMT_CHECK);
    rv_conn_stmt_drop(p, RPC_STMT_CHECK_V2);
    if( p->zFault || rv_schema_present(p->db) ){
      lookup_failed(ctx, p, zFunc, rc);
    }
  }
}
