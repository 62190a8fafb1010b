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
** "SELECT rpc_max_send(?)" in autocommit mode starts none.  So an entry is
** used only where the counter is current:
**   - inside a read transaction (the snapshot is fixed: the counter tells
**     whether the snapshot moved since the entry was filled);
**   - on a private database (":memory:", temporary), which no other
**     connection can change;
**   - on a file outside a transaction, after the call has begun a read
**     transaction of its own with the leanest statement there is (probe()):
**     it sees every commit, from any process, as the lookup statement's own
**     read transaction would, without the lookup.
** Inside a write transaction the cache is bypassed: this connection's own
** uncommitted writes do not move the counter.  Nor is it used on the memdb
** VFS (file_cacheable()), nor filled under PRAGMA read_uncommitted
** (fill_allowed()): there the counter proves nothing.
**
** A cached call is what rpc_max_send() costs on top of "SELECT ?1", so it
** makes as few calls into SQLite as the proof allows: which file main is
** (sqlite3_deserialize() can replace it; on a shared file the address of
** its name tells, without the connection's mutex), its transaction state,
** and the counter (each of these two takes the mutex).  The answer is an
** interned text that SQLite neither copies nor frees (rv_text()).
** docs/benchmarks.md has the measurements.
*/
#include "rpcver_int.h"
#include <string.h>

/* The cache slot of a method name: eight bytes per multiplication.  A
** byte at a time (FNV-1a) is a chain of dependent
** multiplications as long as the name, on every cached call.  The order of
** the bytes in a word does not matter: the slots are this process's own. */
static unsigned int hash_name(const char *z, int n){
  const sqlite3_uint64 k = 0x9E3779B97F4A7C15ull;  /* 2^64 / golden ratio */
  sqlite3_uint64 h = (sqlite3_uint64)n * k, w;
  for(; n>=8; n-=8, z+=8){
    memcpy(&w, z, 8);
    h = (h ^ w) * k;
  }
  if( n>0 ){
    w = 0;
    memcpy(&w, z, n);
    h = (h ^ w) * k;
  }
  return (unsigned int)(h >> 32);
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
** A main database file not seen before (the first call, or main was
** replaced): forget every entry and learn what the file is.  Both answers
** belong to the file for its life, so they are learned once per file, not
** on every call.
*/
static void examine_file(RpcConn *p, sqlite3_file *pFile){
  const char *zFile = sqlite3_db_filename(p->db, "main");
  int i;
  for(i=0; i<RPC_CACHE_SLOTS; i++) p->aCache[i].valid = 0;
  p->pCacheFile = pFile;
  p->pCacheMethods = pFile->pMethods;
  p->cacheRefused = !file_cacheable(p);
  /* ":memory:" and temporary databases have no name: private */
  p->cacheShared = zFile!=0 && zFile[0]!=0;
  p->zCacheName = p->cacheShared && !p->cacheRefused ? zFile : 0;
}

/*
** Rows of a private database changed on this connection since the cache
** last looked (sqlite3_total_changes64() moved), and either a commit moved
** the counter, which fails the entries anyway, or a rollback undid them,
** which leaves the entries right; unless the database has no rollback
** journal.  Under PRAGMA journal_mode=OFF (where SQLite leaves ROLLBACK
** undefined) a ROLLBACK on an in-memory or temporary database keeps the
** transaction's changes and moves no counter (on a file the pager is
** reset, which moves it).  1 when the entries must go: the journal mode is
** off, or cannot be read.  This runs only after rows changed, never on a
** call that follows only reads.
*/
static int private_rollback_kept(RpcConn *p){
  sqlite3_stmt *pStmt;
  int kept = 1;
  if( rv_conn_stmt(p, RPC_STMT_JOURNAL_MODE, "PRAGMA main.journal_mode",
                   &pStmt)==SQLITE_OK ){
    if( sqlite3_step(pStmt)==SQLITE_ROW ){
      const char *zMode = (const char*)sqlite3_column_text(pStmt, 0);
      kept = zMode==0 || sqlite3_stricmp(zMode, "off")==0;
    }
    sqlite3_reset(pStmt);
  }
  rv_conn_clear(p);
  return kept;
}

/* How the cache may serve a call (cache_state()). */
enum {
  CACHE_NO,        /* not at all: the lookup runs and nothing is kept */
  CACHE_NOW,       /* the counter is current now */
  CACHE_PROBE      /* a shared file outside a read transaction: the counter
                   ** is current once a read transaction has begun */
};

/*
** How the cache may serve this call (CACHE_*).
**
** The counter belongs to the main database's pager.  When the file handle
** or its methods show that the database was replaced under the connection
** (sqlite3_deserialize()), the cache is emptied and the new file is
** examined (examine_file()); so is it when the counter goes backwards
** (data_version()).  NULL as the schema name of sqlite3_file_control() is
** main without a lookup by name; sqlite3_txn_state() has no such form
** (NULL there means every schema: a read transaction on another schema
** would pass for one on main).
*/
static int cache_state(RpcConn *p){
  sqlite3_file *pFile = 0;
  int state;
  /* A shared file's pager, and the name allocated with it, live as long as
  ** the connection unless sqlite3_deserialize() replaces them, with a
  ** memdb, whose name is one of SQLite's static strings (and which cannot
  ** be replaced by a file again).  So on a shared file the name's address
  ** (NULL as the schema: main without a lookup) proves the file the one
  ** examined, and sqlite3_db_filename() takes no mutex. */
  if( p->zCacheName==0 || sqlite3_db_filename(p->db, 0)!=p->zCacheName ){
    if( sqlite3_file_control(p->db, 0, SQLITE_FCNTL_FILE_POINTER, &pFile)
        !=SQLITE_OK || pFile==0 ){
      return CACHE_NO;
    }
    if( pFile!=p->pCacheFile || pFile->pMethods!=p->pCacheMethods ){
      examine_file(p, pFile);
    }
  }
  if( p->cacheRefused ) return CACHE_NO;
  if( !p->cacheShared ){
    /* A private database needs only "not writing", and NULL (the highest
    ** state of every schema, without a lookup by name) proves it: a write
    ** on another schema only makes the call take the lookup.  And that no
    ** row changed since the entries were filled but in a commit, which
    ** moves the counter (private_rollback_kept()). */
    sqlite3_int64 nChange = sqlite3_total_changes64(p->db);
    if( nChange!=p->cacheChanges ){
      p->cacheChanges = nChange;
      if( private_rollback_kept(p) ){
        int i;
        for(i=0; i<RPC_CACHE_SLOTS; i++) p->aCache[i].valid = 0;
      }
    }
    return sqlite3_txn_state(p->db, 0)==SQLITE_TXN_WRITE ? CACHE_NO : CACHE_NOW;
  }
  state = sqlite3_txn_state(p->db, "main");
  if( state==SQLITE_TXN_WRITE ) return CACHE_NO;
  if( state==SQLITE_TXN_NONE ) return p->probeRefused ? CACHE_NO : CACHE_PROBE;
  return CACHE_NOW;
}

/* Read the counter into *pDataVersion; 0 on success, 1 when the cache may
** not be used.  A counter that went backwards means a replaced file. */
static int data_version(RpcConn *p, unsigned int *pDataVersion){
  if( sqlite3_file_control(p->db, 0, SQLITE_FCNTL_DATA_VERSION,
                           pDataVersion)!=SQLITE_OK ){
    return 1;
  }
  if( *pDataVersion<p->cacheDataVersion ){
    examine_file(p, p->pCacheFile);
    if( p->cacheRefused ) return 1;
  }
  p->cacheDataVersion = *pDataVersion;
  return 0;
}

/*
** A shared file outside a read transaction: begin one (and, outside
** BEGIN, end it) with the leanest statement there is, PRAGMA data_version,
** so that the counter shows every commit made before now, from any
** connection or process: exactly what the lookup statement's own read
** transaction would show.  (PRAGMA data_version is documented to change
** after another connection's commit; SQLITE_FCNTL_DATA_VERSION is the same
** pager counter, which this connection's own commits move too.)  Without
** the lookup's seek and the decoding of rpc_methods' wide row this costs
** about half as much, and most of what remains is the read transaction,
** which any read of the file pays.
**
** SQLITE_OK, or the error of the step (the lookup would meet the same
** lock or fault; it is not run to wait out a busy timeout twice), or -1
** when the pragma cannot run here: then this call takes the lookup, and
** when an authorizer refused it, so as not to try it on every call, so
** does every later one outside a transaction.
** An authorizer decides that, and it can be installed or changed at any
** time (which re-prepares the kept statement at its next step): one that
** denies pragmas makes the preparation or the re-preparation fail
** (SQLITE_AUTH, which the lookup, a SELECT, would not meet), and one that
** answers SQLITE_IGNORE makes the pragma a program that does nothing, so
** that it returns no row and begins no read transaction: the counter would
** then prove nothing, and a stale entry would pass for current.  So only
** a row is proof.
*/
static int probe(RpcConn *p){
  sqlite3_stmt *pStmt = p->aStmt[RPC_STMT_PROBE];
  int rc;
  if( pStmt==0 ){
    rc = rv_conn_stmt(p, RPC_STMT_PROBE, "PRAGMA main.data_version", &pStmt);
    if( rc!=SQLITE_OK ){
      /* For good only when refused: a want of memory, or the schema lock
      ** of a shared cache (SQLITE_LOCKED), passes, and this call alone
      ** takes the lookup */
      rv_conn_clear(p);
      if( (rc & 0xff)==SQLITE_AUTH ) p->probeRefused = 1;
      return -1;
    }
  }
  /* (never running here: a PRAGMA calls no function) */
  if( sqlite3_step(pStmt)==SQLITE_ROW ) return sqlite3_reset(pStmt);
  rc = sqlite3_reset(pStmt);
  if( rc!=SQLITE_OK && (rc & 0xff)!=SQLITE_AUTH ) return rc;
  rv_conn_stmt_drop(p, RPC_STMT_PROBE);
  rv_conn_clear(p);
  p->probeRefused = 1;
  return -1;
}

/*
** The canonical text of version key, interned: written once into the
** connection's table of texts and never changed or freed before the
** RpcConn is, so rpc_max_send() can hand it to SQLite with SQLITE_STATIC
** (its comment says why that is safe).  0 once RPC_TEXT_SLOTS texts are
** interned: the caller formats the version itself and SQLite copies it.
** A connection meets few versions (one per method and upgrade step), so
** the bound is seldom reached, and it keeps the table's memory fixed.
*/
static const char *rv_text(RpcConn *p, RpcKey key){
  const unsigned int nIndex = 2*RPC_TEXT_SLOTS;     /* half full at most */
  unsigned int i = (unsigned int)
      (((sqlite3_uint64)key * 0x9E3779B97F4A7C15ull) >> 40) % nIndex;
  RpcText *pText;
  while( p->aTextIndex[i] ){
    pText = &p->aText[p->aTextIndex[i] - 1];
    if( pText->key==key ) return pText->z;
    i = (i + 1) % nIndex;
  }
  if( p->nText==RPC_TEXT_SLOTS ) return 0;
  pText = &p->aText[p->nText++];
  pText->key = key;
  rv_version_format(key, pText->z);
  p->aTextIndex[i] = (unsigned short)p->nText;
  return pText->z;
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

/*
** Whether a read statement's failure (rc) means that there is no schema, so
** that the method is unknown: the statement could not be prepared or
** re-prepared for want of rpc_methods (SQLITE_ERROR), and the file has
** none.  Not when rpcver refused the statement (zFault), and never for a
** lock, an interrupt, an I/O error or corruption: rv_schema_present()
** cannot read the file then either, and once took that for "no schema",
** so that a locked file answered NULL (unknown, or admitted) instead of
** failing.
*/
static int no_schema(RpcConn *p, int rc){
  return p->zFault==0 && (rc & 0xff)==SQLITE_ERROR
      && !rv_schema_present(p->db);
}

int rv_lookup(RpcConn *p, const char *zMethod, int nMethod, RpcLookup *pOut){
  int how = nMethod<=RPC_NAME_MAX ? cache_state(p) : CACHE_NO;
  unsigned int dataVersion = 0;
  RpcCacheEntry *pEntry = 0;
  sqlite3_stmt *pStmt;
  int rc;

  if( how!=CACHE_NO ){
    pEntry = &p->aCache[hash_name(zMethod, nMethod) % RPC_CACHE_SLOTS];
    if( pEntry->valid && pEntry->nMethod==nMethod
     && memcmp(pEntry->zMethod, zMethod, nMethod)==0
    ){
      if( how==CACHE_PROBE ){
        if( p->zFault || p->zStmtErr ) rv_conn_clear(p);
        rc = probe(p);
        if( rc>0 ) return rc;
        if( rc<0 ) pEntry = 0;
      }
      if( pEntry && data_version(p, &dataVersion)==0
       && pEntry->valid && pEntry->dataVersion==dataVersion
      ){
        pOut->hasRow = pEntry->hasRow;
        pOut->negotiated = pEntry->negotiated;
        pOut->maxLo = pEntry->maxLo;
        pOut->zText = pEntry->zText;
        return SQLITE_OK;
      }
    }
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
      return no_schema(p, rc) ? SQLITE_OK : rc;
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
      pOut->zText = rv_text(p, pOut->negotiated);
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
    if( no_schema(p, rc) ){
      memset(pOut, 0, sizeof(*pOut));
      pOut->negotiated = pOut->maxLo = -1;
      return SQLITE_OK;
    }
    return rc;
  }
  /* The counter is read after the lookup: in a read transaction, or on a
  ** private database, it did not move during the lookup; on a shared file
  ** outside one it is now what the lookup's read transaction saw. */
  if( pEntry && fill_allowed(p) && data_version(p, &dataVersion)==0 ){
    pEntry->valid = 1;
    pEntry->dataVersion = dataVersion;
    pEntry->nMethod = nMethod;
    memcpy(pEntry->zMethod, zMethod, nMethod);
    pEntry->zMethod[nMethod] = 0;
    pEntry->hasRow = pOut->hasRow;
    pEntry->negotiated = pOut->negotiated;
    pEntry->maxLo = pOut->maxLo;
    pEntry->zText = pOut->zText;
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
  int eType = sqlite3_value_type(pVal);
  if( eType==SQLITE_NULL ) return 1;
  if( eType!=SQLITE_TEXT ){
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
  const char *zText;

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
  zText = v==look.negotiated && look.zText ? look.zText : rv_text(p, v);
  if( zText ){
    /* Neither copied nor freed by SQLite (SQLITE_STATIC), and -1 marks it
    ** NUL-terminated, so a caller's sqlite3_column_text() returns it as it
    ** is.  Safe because SQLite may point at the text for as long as the
    ** value lives (registers, the result row until the next step or reset,
    ** an aggregate's accumulator: sqlite3VdbeMemCopy() keeps a static
    ** value static), and an interned text (rv_text()) lives longer than any
    ** value of this connection: it is never changed, and freed only with
    ** the RpcConn, after its last reference.  Those are the functions'
    ** destructors, which SQLite runs only when no statement of the
    ** connection is running (sqlite3_close() refuses while one exists and
    ** sqlite3_close_v2() defers them; replacing a function with a statement
    ** running fails with SQLITE_BUSY), the module's and the rpcver_cache
    ** table's.  SQLite never writes into a static text: a conversion
    ** (another encoding, a terminator) makes a copy first.  Nor does the
    ** text leave the connection: sqlite3_column_value() turns a static
    ** value ephemeral, so a function of another connection that returns it
    ** with sqlite3_result_value() returns a copy, which outlives this
    ** connection's close (cache.test 10.2, under ASan too), and
    ** sqlite3_value_dup() and sqlite3_bind_value() copy too. */
    sqlite3_result_text(ctx, zText, -1, SQLITE_STATIC);
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
    if( !no_schema(p, rc) ) lookup_failed(ctx, p, zFunc, rc);
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
    if( !no_schema(p, rc) ) lookup_failed(ctx, p, zFunc, rc);
  }
}
