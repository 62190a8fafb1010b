/*
** Senders and drain windows: rpcver's promise with messages in flight.
**
** A call or cast is not delivered when its version is chosen: it waits in a
** queue for up to a call's timeout or a message's TTL.  Receivers admitted
** in that time must accept it.  So senders register the range their code
** can send, and the operator states how long a message may be in flight, a
** drain window; after a change that narrows what senders may send (a pin,
** a receiver that drops old versions, a sender that leaves), a new receiver
** must accept what was sendable before, until the window has passed
** (admission.c has the rules, the schema's triggers enforce them).
**
**   rpc_register_sender(SENDER, METHOD, HI [, LO])
**       -> rpc_max_send(METHOD, HI, LO) after it: what it may send now.
**          LO defaults to MAJOR(HI).0.  Refused when every receiver's
**          versions lie outside [LO, HI].
**   rpc_unregister_sender(SENDER [, METHOD])  -> registrations removed
**   rpc_drain(METHOD)            -> the window in force, seconds (NULL for
**                                   NULL: the default; NULL without schema)
**   rpc_drain(METHOD, SECONDS)   -> sets METHOD's window (SECONDS NULL: back
**                                   to the default) or, for METHOD NULL, the
**                                   default; returns the window in force
**
** The writes are SQLITE_DIRECTONLY and run in a savepoint, as write.c's;
** each is also DML on the rpc_senders and rpc_drains views.  rpc_heartbeat
** and rpc_expire cover senders as they do managers.
*/
#include "rpcver_int.h"

void rv_rpc_register_sender(sqlite3_context *ctx, int argc,
                            sqlite3_value **argv){
  static const char zFunc[] = "rpc_register_sender";
  RpcConn *p = (RpcConn*)sqlite3_user_data(ctx);
  RpcLookup look;
  RpcKey hi, lo, v;
  int rc;
  if( rv_arg_name(ctx, zFunc, "sender", argv[0]) ) return;
  if( rv_arg_name(ctx, zFunc, "method", argv[1]) ) return;
  if( rv_arg_range(ctx, zFunc, "a sender sends", argc, argv, 2, &lo, &hi) ){
    return;
  }
  if( rv_begin_write(ctx, p, zFunc) ) return;
  rc = rv_write_range(p, 1, argv[0], argv[1], lo, hi);
  if( rc==SQLITE_OK ){
    rc = rv_lookup(p, (const char*)sqlite3_value_text(argv[1]),
                   sqlite3_value_bytes(argv[1]), &look);
  }
  if( rc==SQLITE_OK && (v = rv_sendable(&look, hi, lo))>=0 ){
    rv_result_version(ctx, v);
  }
  rv_end_write(ctx, p, zFunc, rc);
}

void rv_rpc_unregister_sender(sqlite3_context *ctx, int argc,
                              sqlite3_value **argv){
  rv_unregister(ctx, argc, argv, 1);                     /* write.c */
}

/* The window in force for pMethod (NULL: the default) as the result. */
static int result_window(sqlite3_context *ctx, RpcConn *p,
                         sqlite3_value *pMethod){
  sqlite3_stmt *pStmt;
  /* (the tables, not the rpc_drains view: a file's view of that name is
  ** not necessarily rpcver's) */
  int rc = rv_conn_stmt(p, RPC_STMT_DRAIN_READ,
      "SELECT coalesce((SELECT drain FROM main.rpc_methods"
      "                  WHERE method = ?1),"
      "                (SELECT value FROM main.rpc_meta"
      "                  WHERE key = 'drain_default'))", &pStmt);
  if( rc!=SQLITE_OK ) return rc;
  sqlite3_bind_value(pStmt, 1, pMethod);
  if( sqlite3_step(pStmt)==SQLITE_ROW ){
    sqlite3_result_value(ctx, sqlite3_column_value(pStmt, 0));
  }
  return sqlite3_reset(pStmt);
}

static void drain_read(sqlite3_context *ctx, RpcConn *p, sqlite3_value *pMethod){
  int rc;
  if( sqlite3_value_type(pMethod)!=SQLITE_NULL
   && rv_arg_name(ctx, "rpc_drain", "method", pMethod) ){
    return;
  }
  rc = result_window(ctx, p, pMethod);
  if( rc!=SQLITE_OK ){
    if( p->zFault || rv_schema_present(p->db) ){
      rv_error(ctx, "rpc_drain", rv_conn_errmsg(p), rc);
    }else{
      sqlite3_result_null(ctx);            /* no schema: no window yet */
    }
  }
}

void rv_rpc_drain(sqlite3_context *ctx, int argc, sqlite3_value **argv){
  static const char zFunc[] = "rpc_drain";
  RpcConn *p = (RpcConn*)sqlite3_user_data(ctx);
  sqlite3_stmt *pStmt;
  int isDefault = sqlite3_value_type(argv[0])==SQLITE_NULL;
  int clear = argc>1 && sqlite3_value_type(argv[1])==SQLITE_NULL;
  int rc;
  if( argc==1 ){ drain_read(ctx, p, argv[0]); return; }
  if( !isDefault && rv_arg_name(ctx, zFunc, "method", argv[0]) ) return;
  if( isDefault && clear ){
    rv_errorf(ctx, "rpcver: rpc_drain: seconds is NULL for the default "
              "window; give a number of seconds >= 0 (60, oslo.messaging's "
              "rpc_response_timeout, is where it starts)");
    return;
  }
  if( !clear ){
    char *zMsg = 0;
    if( rv_seconds_problem("rpc_drain: the window", argv[1], &zMsg) ){
      if( zMsg==0 ){ sqlite3_result_error_nomem(ctx); return; }
      rv_error(ctx, zFunc, zMsg, SQLITE_ERROR);
      sqlite3_free(zMsg);
      return;
    }
  }
  if( rv_begin_write(ctx, p, zFunc) ) return;
  if( isDefault ){
    /* (an upsert: a damaged file may have lost the row) */
    rc = rv_conn_stmt(p, RPC_STMT_DRAIN_DEFAULT,
        "INSERT INTO main.rpc_meta(key, value) VALUES ('drain_default', ?2)"
        " ON CONFLICT(key) DO UPDATE SET value = excluded.value", &pStmt);
  }else if( clear ){
    rc = rv_conn_stmt(p, RPC_STMT_DRAIN_CLEAR,
        "DELETE FROM main.rpc_drains WHERE method = ?1", &pStmt);
  }else{
    rc = rv_conn_stmt(p, RPC_STMT_DRAIN_SET,
        "INSERT INTO main.rpc_drains(method, seconds) VALUES (?1, ?2)",
        &pStmt);
  }
  if( rc==SQLITE_OK ){
    if( !isDefault ) sqlite3_bind_value(pStmt, 1, argv[0]);
    if( !clear ) sqlite3_bind_int64(pStmt, 2, sqlite3_value_int64(argv[1]));
    rc = rv_run(pStmt);
  }
  if( rc==SQLITE_OK ) rc = result_window(ctx, p, argv[0]);
  rv_end_write(ctx, p, zFunc, rc);
}
