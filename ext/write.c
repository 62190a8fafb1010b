/*
** The write functions.  Each is thin sugar over one documented DML
** statement (the schema's triggers enforce every rule), run inside a
** SAVEPOINT of its own within the caller's transaction:
**
**   rpc_register(M, METHOD, HI [, LO])  INSERT INTO rpc_registrations (*)
**   rpc_unregister(M [, METHOD])        DELETE FROM rpc_registrations
**   rpc_pin(METHOD, V)                  INSERT INTO rpc_pins
**   rpc_pin(METHOD, NULL)               DELETE FROM rpc_pins
**   rpc_forget(METHOD)                  DELETE FROM rpc_methods
**   rpc_heartbeat(M)                    UPDATE rpc_managers SET last_seen
**                                       (never backwards)
**   rpc_expire(SECONDS [, SHARE])       DELETE FROM rpc_expiry
**
** (*) It runs the INSERT or UPDATE on rpc_ranges that the view's triggers
** would run (write_range() says why).
**
** Because they open a savepoint they cannot run inside another INSERT,
** UPDATE or DELETE; SQLite refuses, and so do they, with a message that
** names the DML to use instead.  They are SQLITE_DIRECTONLY: a database
** file's own triggers or views cannot call them.
*/
#include "rpcver_int.h"
#include <string.h>

/*
** Replicated hosts: rpcver on a database whose pages a replication engine
** (dqlite) ships to other nodes.
**
** dqlite replicates a transaction when the statement that ends it is a
** write: plain DML in autocommit, or COMMIT.  A write made by a function
** inside a bare autocommit SELECT ends with a read-only statement, so dqlite
** reports success and ships nothing; the leader's next write then fails
** (dqlite 1.11 crashes).  The same call inside BEGIN...COMMIT is shipped
** with the COMMIT.  So a host that replicates registers rpcver through
** sqlite3_rpcver_init_replicated(), and the write functions then refuse to
** run outside an explicit transaction, naming the two forms that are safe.
** The views' DML needs no such rule: it is a write statement of its own.
*/
char *rv_write_problem(RpcConn *p, const char *zFunc){
  if( !p->replicated || !sqlite3_get_autocommit(p->db) ) return 0;
  return sqlite3_mprintf("rpcver: %s needs an explicit transaction on this "
      "replicated database: a write made by a function in an autocommit "
      "statement would not be replicated; call it between BEGIN and COMMIT, "
      "or write the rpc_registrations / rpc_pins views with INSERT, UPDATE "
      "or DELETE", zFunc);
}

/* Set the function's error from an SQLite failure, keeping its code. */
static void report(sqlite3_context *ctx, const char *zFunc, int rc,
                   const char *zMsg){
  if( zMsg==0 ) zMsg = sqlite3_errstr(rc);
  if( strncmp(zMsg, "rpcver:", 7)!=0 && strstr(zMsg, "statements in progress") ){
    rv_errorf(ctx, "rpcver: %s cannot run inside another INSERT, UPDATE or "
               "DELETE (%s); call it in a SELECT of its own, or write the "
               "rpc_registrations / rpc_pins views directly", zFunc, zMsg);
    sqlite3_result_error_code(ctx, rc);
  }else if( strncmp(zMsg, "rpcver:", 7)!=0 && (rc & 0xff)==SQLITE_READONLY ){
    rv_errorf(ctx, "rpcver: %s: %s; write functions need a writable "
               "database (the read functions work without one)", zFunc, zMsg);
    sqlite3_result_error_code(ctx, rc);
  }else{
    rv_error(ctx, zFunc, zMsg, rc);
  }
}

/* Open the function's savepoint and make the schema current. */
int rv_begin_write(sqlite3_context *ctx, RpcConn *p, const char *zFunc){
  char *zErr = rv_write_problem(p, zFunc);
  int rc;
  if( zErr ){
    report(ctx, zFunc, SQLITE_MISUSE, zErr);
    sqlite3_free(zErr);
    return SQLITE_MISUSE;
  }
  rc = rv_savepoint_begin(p);
  if( rc!=SQLITE_OK ){
    report(ctx, zFunc, rc, rv_conn_errmsg(p));
    return rc;
  }
  rc = rv_schema_ensure(p, &zErr);
  if( rc!=SQLITE_OK ){
    rv_savepoint_end(p, rc);
    report(ctx, zFunc, rc, zErr);
    sqlite3_free(zErr);
  }
  return rc;
}

/* Release the savepoint, or roll back to it and report why. */
int rv_end_write(sqlite3_context *ctx, RpcConn *p, const char *zFunc,
                     int rc){
  char *zErr = 0;
  if( rc==SQLITE_OK ) rc = rv_log_bounds(p);
  if( rc!=SQLITE_OK ) zErr = sqlite3_mprintf("%s", rv_conn_errmsg(p));
  rc = rv_savepoint_end(p, rc);
  if( rc!=SQLITE_OK ){
    report(ctx, zFunc, rc, zErr ? zErr : rv_conn_errmsg(p));
  }
  sqlite3_free(zErr);
  return rc;
}

/* Step a kept statement to its end; returns the statement's result code. */
int rv_run(sqlite3_stmt *pStmt){
  while( sqlite3_step(pStmt)==SQLITE_ROW ){}
  return sqlite3_reset(pStmt);
}

static int bind_version(sqlite3_stmt *pStmt, int i, RpcKey key){
  char zBuf[RPC_KEY_TEXT_MAX];
  int n = rv_version_format(key, zBuf);
  return sqlite3_bind_text(pStmt, i, zBuf, n, SQLITE_TRANSIENT);
}

/* The method's negotiated version as the function's result (NULL if none). */
static int result_negotiated(sqlite3_context *ctx, RpcConn *p,
                             sqlite3_value *pMethod){
  RpcLookup look;
  int rc = rv_lookup(p, (const char*)sqlite3_value_text(pMethod),
                      sqlite3_value_bytes(pMethod), &look);
  if( rc==SQLITE_OK && look.hasRow && look.negotiated>=0 ){
    rv_result_version(ctx, look.negotiated);
  }
  return rc;
}

/*
** Insert or replace a range in rpc_ranges (a receiver) or rpc_sender_ranges
** (a sender): the DML rpc_registrations / rpc_senders run, without their two
** view layers (an INSTEAD OF trigger that converts text versions, and the
** *_missing view's), which cost a fifth of a registration's instructions.
** The function has the keys already, and learns with one seek whether the
** registration exists.  The table's triggers still check and maintain
** everything.
*/
static const struct RangeTable {
  RpcStmtId idExists, idInsert, idUpdate;
  const char *zExists, *zInsert, *zUpdate;
} aRangeTable[2] = {
  { RPC_STMT_RANGE_EXISTS, RPC_STMT_RANGE_INSERT, RPC_STMT_RANGE_UPDATE,
    "SELECT 1 FROM main.rpc_ranges WHERE manager = ?1 AND method = ?2",
    "INSERT INTO main.rpc_ranges(manager, method, lo, hi)"
    " VALUES (?1, ?2, ?3, ?4)",
    "UPDATE main.rpc_ranges SET lo = ?3, hi = ?4"
    " WHERE manager = ?1 AND method = ?2" },
  { RPC_STMT_SENDER_EXISTS, RPC_STMT_SENDER_INSERT, RPC_STMT_SENDER_UPDATE,
    "SELECT 1 FROM main.rpc_sender_ranges WHERE sender = ?1 AND method = ?2",
    "INSERT INTO main.rpc_sender_ranges(sender, method, lo, hi)"
    " VALUES (?1, ?2, ?3, ?4)",
    "UPDATE main.rpc_sender_ranges SET lo = ?3, hi = ?4"
    " WHERE sender = ?1 AND method = ?2" },
};

int rv_write_range(RpcConn *p, int sender, sqlite3_value *pWho,
                   sqlite3_value *pMethod, RpcKey lo, RpcKey hi){
  const struct RangeTable *t = &aRangeTable[sender ? 1 : 0];
  sqlite3_stmt *pStmt;
  int exists;
  int rc = rv_conn_stmt(p, t->idExists, t->zExists, &pStmt);
  if( rc!=SQLITE_OK ) return rc;
  sqlite3_bind_value(pStmt, 1, pWho);
  sqlite3_bind_value(pStmt, 2, pMethod);
  exists = sqlite3_step(pStmt)==SQLITE_ROW;
  rc = sqlite3_reset(pStmt);
  if( rc!=SQLITE_OK ) return rc;
  if( exists ){
    rc = rv_conn_stmt(p, t->idUpdate, t->zUpdate, &pStmt);
  }else{
    rc = rv_conn_stmt(p, t->idInsert, t->zInsert, &pStmt);
  }
  if( rc!=SQLITE_OK ) return rc;
  sqlite3_bind_value(pStmt, 1, pWho);
  sqlite3_bind_value(pStmt, 2, pMethod);
  sqlite3_bind_int64(pStmt, 3, lo);
  sqlite3_bind_int64(pStmt, 4, hi);
  return rv_run(pStmt);
}

/* The [LO, HI] arguments of a registration: LO defaults to MAJOR(HI).0
** (oslo.messaging's rule).  0 when good, else 1 with the error set, whose
** end says what the range is (zWhat: "a manager accepts", "a sender
** sends"). */
int rv_arg_range(sqlite3_context *ctx, const char *zFunc, const char *zWhat,
                 int argc, sqlite3_value **argv, int iHi, RpcKey *pLo,
                 RpcKey *pHi){
  if( rv_arg_version(ctx, zFunc, "hi", argv[iHi], pHi) ) return 1;
  if( argc<=iHi+1 || sqlite3_value_type(argv[iHi+1])==SQLITE_NULL ){
    *pLo = RPC_KEY_MAJOR_BASE(*pHi);
  }else if( rv_arg_version(ctx, zFunc, "lo", argv[iHi+1], pLo) ){
    return 1;
  }
  if( *pLo>*pHi ){
    char zLo[RPC_KEY_TEXT_MAX], zHi[RPC_KEY_TEXT_MAX];
    rv_version_format(*pLo, zLo);
    rv_version_format(*pHi, zHi);
    rv_errorf(ctx, "rpcver: %s: lo %s is above hi %s; %s the versions "
              "from lo up to hi", zFunc, zLo, zHi, zWhat);
    return 1;
  }
  return 0;
}

void rv_rpc_register(sqlite3_context *ctx, int argc,
                          sqlite3_value **argv){
  static const char zFunc[] = "rpc_register";
  RpcConn *p = (RpcConn*)sqlite3_user_data(ctx);
  RpcKey hi, lo;
  int rc;
  if( rv_arg_name(ctx, zFunc, "manager", argv[0]) ) return;
  if( rv_arg_name(ctx, zFunc, "method", argv[1]) ) return;
  if( rv_arg_range(ctx, zFunc, "a manager accepts", argc, argv, 2, &lo, &hi) ){
    return;
  }
  if( rv_begin_write(ctx, p, zFunc) ) return;
  rc = rv_write_range(p, 0, argv[0], argv[1], lo, hi);
  if( rc==SQLITE_OK ) rc = result_negotiated(ctx, p, argv[1]);
  rv_end_write(ctx, p, zFunc, rc);
}

/*
** rpc_unregister(MANAGER [, METHOD]) and rpc_unregister_sender(SENDER
** [, METHOD]): remove a receiver's or a sender's registrations, all or one
** method's, through the DML view (whose triggers maintain everything), and
** return how many there were.
*/
static const struct UnregisterTable {
  const char *zFunc, *zWho;
  RpcStmtId idCount, idDelete;
  const char *zCount, *zDelete;
} aUnregisterTable[2] = {
  { "rpc_unregister", "manager",
    RPC_STMT_UNREGISTER_COUNT, RPC_STMT_UNREGISTER,
    "SELECT count(*) FROM main.rpc_ranges"
    " WHERE manager = ?1 AND (?2 IS NULL OR method = ?2)",
    "DELETE FROM main.rpc_registrations"
    " WHERE manager = ?1 AND (?2 IS NULL OR method = ?2)" },
  { "rpc_unregister_sender", "sender",
    RPC_STMT_SENDER_UNREGISTER_COUNT, RPC_STMT_SENDER_UNREGISTER,
    "SELECT count(*) FROM main.rpc_sender_ranges"
    " WHERE sender = ?1 AND (?2 IS NULL OR method = ?2)",
    "DELETE FROM main.rpc_senders"
    " WHERE sender = ?1 AND (?2 IS NULL OR method = ?2)" },
};

void rv_unregister(sqlite3_context *ctx, int argc, sqlite3_value **argv,
                   int sender){
  const struct UnregisterTable *t = &aUnregisterTable[sender ? 1 : 0];
  RpcConn *p = (RpcConn*)sqlite3_user_data(ctx);
  sqlite3_stmt *pStmt;
  sqlite3_int64 n = 0;
  int rc;
  if( rv_arg_name(ctx, t->zFunc, t->zWho, argv[0]) ) return;
  if( argc==2 && sqlite3_value_type(argv[1])==SQLITE_NULL ){
    rv_errorf(ctx, "rpcver: %s: method is NULL; to remove all of a %s's "
              "registrations call %s(%s)", t->zFunc, t->zWho, t->zFunc,
              t->zWho);
    return;
  }
  if( argc==2 && rv_arg_name(ctx, t->zFunc, "method", argv[1]) ) return;
  if( rv_begin_write(ctx, p, t->zFunc) ) return;
  rc = rv_conn_stmt(p, t->idCount, t->zCount, &pStmt);
  if( rc==SQLITE_OK ){
    sqlite3_bind_value(pStmt, 1, argv[0]);
    if( argc==2 ) sqlite3_bind_value(pStmt, 2, argv[1]);
    if( sqlite3_step(pStmt)==SQLITE_ROW ) n = sqlite3_column_int64(pStmt, 0);
    rc = sqlite3_reset(pStmt);
  }
  if( rc==SQLITE_OK && n>0 ){
    rc = rv_conn_stmt(p, t->idDelete, t->zDelete, &pStmt);
    if( rc==SQLITE_OK ){
      sqlite3_bind_value(pStmt, 1, argv[0]);
      if( argc==2 ) sqlite3_bind_value(pStmt, 2, argv[1]);
      rc = rv_run(pStmt);
    }
  }
  if( rv_end_write(ctx, p, t->zFunc, rc)==SQLITE_OK ){
    sqlite3_result_int64(ctx, n);
  }
}

void rv_rpc_unregister(sqlite3_context *ctx, int argc, sqlite3_value **argv){
  rv_unregister(ctx, argc, argv, 0);
}

void rv_rpc_pin(sqlite3_context *ctx, int argc, sqlite3_value **argv){
  static const char zFunc[] = "rpc_pin";
  RpcConn *p = (RpcConn*)sqlite3_user_data(ctx);
  sqlite3_stmt *pStmt;
  int unpin = sqlite3_value_type(argv[1])==SQLITE_NULL;
  RpcKey pin = 0;
  int rc;
  (void)argc;
  if( rv_arg_name(ctx, zFunc, "method", argv[0]) ) return;
  if( !unpin && rv_arg_version(ctx, zFunc, "version", argv[1], &pin) ) return;
  if( rv_begin_write(ctx, p, zFunc) ) return;
  if( unpin ){
    rc = rv_conn_stmt(p, RPC_STMT_UNPIN,
        "DELETE FROM main.rpc_pins WHERE method = ?1", &pStmt);
  }else{
    rc = rv_conn_stmt(p, RPC_STMT_PIN,
        "INSERT INTO main.rpc_pins(method, version) VALUES (?1, ?2)", &pStmt);
    if( rc==SQLITE_OK ) bind_version(pStmt, 2, pin);
  }
  if( rc==SQLITE_OK ){
    sqlite3_bind_value(pStmt, 1, argv[0]);
    rc = rv_run(pStmt);
  }
  if( rc==SQLITE_OK ) rc = result_negotiated(ctx, p, argv[0]);
  rv_end_write(ctx, p, zFunc, rc);
}

/* Run a one-parameter statement on a name; the result is its change count. */
static void name_write(sqlite3_context *ctx, sqlite3_value *pName,
                       const char *zFunc, const char *zArg, RpcStmtId id,
                       const char *zSql){
  RpcConn *p = (RpcConn*)sqlite3_user_data(ctx);
  sqlite3_stmt *pStmt;
  int n = 0;
  int rc;
  if( rv_arg_name(ctx, zFunc, zArg, pName) ) return;
  if( rv_begin_write(ctx, p, zFunc) ) return;
  rc = rv_conn_stmt(p, id, zSql, &pStmt);
  if( rc==SQLITE_OK ){
    sqlite3_bind_value(pStmt, 1, pName);
    rc = rv_run(pStmt);
    n = sqlite3_changes(p->db);
  }
  if( rv_end_write(ctx, p, zFunc, rc)==SQLITE_OK ) sqlite3_result_int(ctx, n);
}

void rv_rpc_forget(sqlite3_context *ctx, int argc, sqlite3_value **argv){
  (void)argc;
  name_write(ctx, argv[0], "rpc_forget", "method", RPC_STMT_FORGET,
             "DELETE FROM main.rpc_methods WHERE method = ?1");
}

void rv_rpc_heartbeat(sqlite3_context *ctx, int argc,
                           sqlite3_value **argv){
  (void)argc;
  name_write(ctx, argv[0], "rpc_heartbeat", "manager", RPC_STMT_HEARTBEAT,
             "UPDATE main.rpc_managers"
             "   SET last_seen = max(last_seen, unixepoch())"
             " WHERE manager = ?1");
}

/*
** rpc_expire(SECONDS [, MAX_SHARE]) removes the managers not seen for more
** than SECONDS, but not more than MAX_SHARE (default 0.5) of any method's
** receivers in one call: then it removes nothing and says why.  A clock that
** jumps forward, or a failover to a leader whose clock runs ahead, makes
** every manager look stale at once, and a routine rpc_expire(600) would
** empty the fleet; Kubernetes' node lifecycle controller stops evicting in
** a zone where too many nodes look unhealthy at once, for the same reason.
** MAX_SHARE 1 removes whatever is stale.
*/
#define EXPIRE_MAX_SHARE_DEFAULT 0.5

static int arg_share(sqlite3_context *ctx, sqlite3_value *pVal,
                     double *pShare){
  int type = sqlite3_value_numeric_type(pVal);
  if( sqlite3_value_type(pVal)==SQLITE_NULL ){
    *pShare = EXPIRE_MAX_SHARE_DEFAULT;
    return 0;
  }
  *pShare = sqlite3_value_double(pVal);
  if( (type!=SQLITE_INTEGER && type!=SQLITE_FLOAT)
   || sqlite3_value_type(pVal)==SQLITE_BLOB
   || !(*pShare>=0.0 && *pShare<=1.0) ){
    char *zVal = rv_describe(pVal);
    rv_errorf(ctx, "rpcver: rpc_expire: max_share must be a number from 0 "
               "to 1 (the share of a method's receivers one call may "
               "remove; 1 removes all that are stale), not %s", zVal);
    sqlite3_free(zVal);
    return 1;
  }
  return 0;
}

/* Refuse (SQLITE_CONSTRAINT, with the message on ctx) when removing the
** managers last seen before pCutoff would take more than share of some
** method's receivers, or of its registered senders (expiring the senders
** that still send old versions would let a bridge in while they run).
** Reads only the stale managers' registrations. */
static int expire_share_check(sqlite3_context *ctx, RpcConn *p,
                              sqlite3_value *pCutoff, double share,
                              sqlite3_value *pSeconds){
  sqlite3_stmt *pStmt;
  int rc = rv_conn_stmt(p, RPC_STMT_EXPIRE_SHARE,
      "SELECT method, n, total, sender FROM ("
      "  SELECT r.method AS method, count(*) AS n, m.receivers AS total,"
      "         0 AS sender"
      "    FROM main.rpc_managers AS g"
      "    JOIN main.rpc_ranges AS r ON r.manager = g.manager"
      "    JOIN main.rpc_methods AS m ON m.method = r.method"
      "   WHERE g.last_seen < ?1 GROUP BY r.method"
      "  UNION ALL"
      "  SELECT s.method, count(*), m.senders, 1"
      "    FROM main.rpc_managers AS g"
      "    JOIN main.rpc_sender_ranges AS s ON s.sender = g.manager"
      "    JOIN main.rpc_methods AS m ON m.method = s.method"
      "   WHERE g.last_seen < ?1 GROUP BY s.method)"
      " WHERE n > ?2 * total"
      " ORDER BY n * 1.0 / total DESC, method, sender LIMIT 1",
      &pStmt);
  if( rc!=SQLITE_OK ) return rc;
  sqlite3_bind_value(pStmt, 1, pCutoff);
  sqlite3_bind_double(pStmt, 2, share);
  if( sqlite3_step(pStmt)==SQLITE_ROW ){
    char *zMethod = rv_describe(sqlite3_column_value(pStmt, 0));
    char *zSeconds = rv_quote_value(pSeconds);
    sqlite3_int64 n = sqlite3_column_int64(pStmt, 1);
    sqlite3_int64 nAll = sqlite3_column_int64(pStmt, 2);
    int sender = sqlite3_column_int(pStmt, 3);
    rv_errorf(ctx, "rpcver: rpc_expire: refused to remove %lld of the %lld "
        "%s of method %s, more than %g%% of them in one call; a "
        "clock that jumped forward, or a leader whose clock runs ahead, looks "
        "like this.  Check them (SELECT rpc_explain(%s)), then remove them "
        "with %s, or with rpc_expire(%s, 1) if they are all gone",
        n, nAll, sender ? "registered sender(s)" : "receiver(s)", zMethod,
        share*100.0, zMethod,
        sender ? "rpc_unregister_sender(sender)" : "rpc_unregister(manager)",
        zSeconds);
    sqlite3_free(zMethod);
    sqlite3_free(zSeconds);
    rc = SQLITE_CONSTRAINT;
  }
  if( sqlite3_reset(pStmt)!=SQLITE_OK && rc==SQLITE_OK ) rc = SQLITE_ERROR;
  return rc;
}

/* One statement of rpc_expire's removal, bound to the cutoff if it has
** a parameter. */
static int expire_step(RpcConn *p, RpcStmtId id, const char *zSql,
                       sqlite3_value *pCutoff){
  sqlite3_stmt *pStmt;
  int rc = rv_conn_stmt(p, id, zSql, &pStmt);
  if( rc!=SQLITE_OK ) return rc;
  if( pCutoff ) sqlite3_bind_value(pStmt, 1, pCutoff);
  return rv_run(pStmt);
}

void rv_rpc_expire(sqlite3_context *ctx, int argc, sqlite3_value **argv){
  static const char zFunc[] = "rpc_expire";
  RpcConn *p = (RpcConn*)sqlite3_user_data(ctx);
  sqlite3_stmt *pStmt;
  int type = sqlite3_value_numeric_type(argv[0]);
  sqlite3_int64 n = 0;
  double share = EXPIRE_MAX_SHARE_DEFAULT;
  int rc;
  if( (type!=SQLITE_INTEGER && type!=SQLITE_FLOAT)
   || sqlite3_value_type(argv[0])==SQLITE_BLOB
   || sqlite3_value_double(argv[0])<0.0 ){
    char *zVal = rv_describe(argv[0]);
    rv_errorf(ctx, "rpcver: rpc_expire: seconds must be a number >= 0, "
               "not %s", zVal);
    sqlite3_free(zVal);
    return;
  }
  if( argc>1 && arg_share(ctx, argv[1], &share) ) return;
  if( rv_begin_write(ctx, p, zFunc) ) return;
  /* One statement fixes the cutoff and counts, so both see the same now. */
  rc = rv_conn_stmt(p, RPC_STMT_EXPIRE_COUNT,
      "SELECT unixepoch() - ?1, count(*) FROM main.rpc_managers"
      " WHERE last_seen < unixepoch() - ?1", &pStmt);
  if( rc==SQLITE_OK ){
    sqlite3_value *pCutoff = 0;
    sqlite3_bind_value(pStmt, 1, argv[0]);
    if( sqlite3_step(pStmt)==SQLITE_ROW ){
      pCutoff = sqlite3_value_dup(sqlite3_column_value(pStmt, 0));
      n = sqlite3_column_int64(pStmt, 1);
    }
    rc = sqlite3_reset(pStmt);
    if( rc==SQLITE_OK && n>0 && share<1.0 ){
      rc = expire_share_check(ctx, p, pCutoff, share, argv[0]);
      if( rc==SQLITE_CONSTRAINT ){
        sqlite3_value_free(pCutoff);
        rv_savepoint_end(p, rc);             /* the message is set */
        sqlite3_result_error_code(ctx, rc);
        return;
      }
    }
    /* Three steps, so that every stale sender's registrations go before
    ** any stale receiver's.  Each deleted row is a write of its own for
    ** the in-flight envelope (the triggers record what the senders could
    ** send just before it): removing a sender only narrows what the
    ** senders may send, so every moment of the expiry lies inside what
    ** they could send before it.  Receivers first would let a stale
    ** sender, uncapped for a moment by its stale receiver's leaving, look
    ** as if it could have sent versions it never could (senders.test 6.7).
    ** The stale managers are marked first (a negative last_seen, as the
    ** view rpc_expiry does), so the log calls every removal an expiry;
    ** rpc_expiry then removes what is left of them, the receivers. */
    if( rc==SQLITE_OK && n>0 ){
      rc = expire_step(p, RPC_STMT_EXPIRE_MARK,
          "UPDATE main.rpc_managers SET last_seen = -1 - last_seen"
          " WHERE last_seen >= 0 AND last_seen < ?1", pCutoff);
    }
    if( rc==SQLITE_OK && n>0 ){
      rc = expire_step(p, RPC_STMT_EXPIRE_SENDERS,
          "DELETE FROM main.rpc_sender_ranges WHERE sender IN"
          " (SELECT manager FROM main.rpc_managers WHERE last_seen < 0)", 0);
    }
    if( rc==SQLITE_OK && n>0 ){
      rc = expire_step(p, RPC_STMT_EXPIRE,
          "DELETE FROM main.rpc_expiry WHERE last_seen < 0", 0);
    }
    sqlite3_value_free(pCutoff);
  }
  if( rv_end_write(ctx, p, zFunc, rc)==SQLITE_OK ) sqlite3_result_int64(ctx, n);
}
