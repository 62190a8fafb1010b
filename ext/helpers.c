/*
** The schema's helpers: small INNOCUOUS functions that rpcver's own triggers
** call, because a trigger's RAISE() accepts only a string literal and
** rpcver's errors must name the manager, the method and the versions.  They
** have no side effects, so they run under PRAGMA trusted_schema=OFF.  They
** are not part of the public interface.
**
**   rpcver_key(WHAT, V)          -> version key of V, or an error naming WHAT
**   rpcver_name(WHAT, V)         -> V when it is a valid name, else an error
**   rpcver_check_range(MANAGER, METHOD, LO, HI) -> NULL, or an error
**   rpcver_refusal(MANAGER, METHOD, LO, HI, FLOOR) -> admission refusal text
**   rpcver_pin_refusal(METHOD, PIN, MANAGER, LO, HI) -> pin refusal text
**   rpcver_raise(MESSAGE)        -> raises MESSAGE as an SQL error
**   rpcver_text(KEY)             -> version text of a key, for reports
**   rpcver_quote(V)              -> V for a message: like quote(), but text
**                                   is printable and cut (message.c)
*/
#include "rpcver_int.h"

#define KEY_LIMIT ((RpcKey)1 << 60)

static void key_func(sqlite3_context *ctx, int argc, sqlite3_value **argv){
  RpcKey k;
  (void)argc;
  if( rpc_version_from_value(argv[1], &k) ){
    rpc_result_bad_version(ctx, (const char*)sqlite3_value_text(argv[0]),
                           argv[1]);
    return;
  }
  sqlite3_result_int64(ctx, k);
}

static void name_func(sqlite3_context *ctx, int argc, sqlite3_value **argv){
  char *zProblem = rpc_name_problem(argv[1]);
  (void)argc;
  if( zProblem ){
    rpc_errorf(ctx, "rpcver: %s %s", sqlite3_value_text(argv[0]), zProblem);
    sqlite3_free(zProblem);
    return;
  }
  sqlite3_result_value(ctx, argv[1]);
}

static int is_key(sqlite3_value *pVal){
  return sqlite3_value_type(pVal)==SQLITE_INTEGER
      && sqlite3_value_int64(pVal)>=0
      && sqlite3_value_int64(pVal)<KEY_LIMIT;
}

/* Validate a row of rpc_ranges (the view's triggers and direct writes). */
static void check_range_func(sqlite3_context *ctx, int argc,
                             sqlite3_value **argv){
  static const char *azCol[] = { "manager", "method" };
  char zLo[RPC_KEY_TEXT_MAX], zHi[RPC_KEY_TEXT_MAX];
  char *zManager = 0, *zMethod = 0;
  int i;
  (void)argc;
  for(i=0; i<2; i++){
    char *zProblem = rpc_name_problem(argv[i]);
    if( zProblem ){
      rpc_errorf(ctx, "rpcver: registration: %s %s", azCol[i], zProblem);
      sqlite3_free(zProblem);
      return;
    }
  }
  /* Every registration passes here: render the names only for a message. */
  if( is_key(argv[2]) && is_key(argv[3])
   && sqlite3_value_int64(argv[2])<=sqlite3_value_int64(argv[3]) ){
    return;
  }
  zManager = rpc_describe(argv[0]);
  zMethod = rpc_describe(argv[1]);
  if( !is_key(argv[2]) || !is_key(argv[3]) ){
    int iBad = is_key(argv[2]) ? 3 : 2;
    char *zVal = rpc_describe(argv[iBad]);
    rpc_errorf(ctx, "rpcver: registration of manager %s for method %s: %s "
               "%s is not a version key (write rpc_registrations, which "
               "takes versions as text)", zManager, zMethod,
               iBad==2 ? "lo" : "hi", zVal);
    sqlite3_free(zVal);
  }else if( sqlite3_value_int64(argv[2])>sqlite3_value_int64(argv[3]) ){
    rpc_version_format(sqlite3_value_int64(argv[2]), zLo);
    rpc_version_format(sqlite3_value_int64(argv[3]), zHi);
    rpc_errorf(ctx, "rpcver: registration of manager %s for method %s: lo "
               "%s is above hi %s; a range needs lo <= hi", zManager, zMethod,
               zLo, zHi);
  }
  sqlite3_free(zManager);
  sqlite3_free(zMethod);
}

/*
** The admission refusal, shared by the triggers (raised) and rpc_check()
** (returned).  MANAGER may be NULL: rpc_check() has no manager.
*/
static void refusal_func(sqlite3_context *ctx, int argc,
                         sqlite3_value **argv){
  char zLo[RPC_KEY_TEXT_MAX], zHi[RPC_KEY_TEXT_MAX], zFloor[RPC_KEY_TEXT_MAX];
  RpcKey lo = sqlite3_value_int64(argv[2]);
  RpcKey hi = sqlite3_value_int64(argv[3]);
  RpcKey floor = sqlite3_value_int64(argv[4]);
  char *zMethod = rpc_describe(argv[1]);
  char *zWho;
  char *zMsg;
  (void)argc;
  rpc_version_format(lo, zLo);
  rpc_version_format(hi, zHi);
  rpc_version_format(floor, zFloor);
  if( sqlite3_value_type(argv[0])==SQLITE_NULL ){
    zWho = sqlite3_mprintf("a manager");
  }else{
    char *zManager = rpc_describe(argv[0]);
    zWho = sqlite3_mprintf("manager %s", zManager);
    sqlite3_free(zManager);
  }
  if( hi<floor ){
    zMsg = sqlite3_mprintf("rpcver: %s cannot register method %s with range "
      "[%s, %s]: senders may already be using %s (the method's floor), "
      "which it cannot receive. Upgrade it to a version that accepts %s; "
      "or, to roll back, first pin the method: SELECT rpc_pin(%s, '%s'); "
      "or remove stale managers (rpc_unregister, rpc_expire)",
      zWho, zMethod, zLo, zHi, zFloor, zFloor, zMethod, zHi);
  }else{
    zMsg = sqlite3_mprintf("rpcver: %s cannot register method %s with range "
      "[%s, %s]: senders may still be using %s (the method's floor), below "
      "its lo. Register a range that reaches down to %s (a bridge: give lo "
      "explicitly, e.g. rpc_register(manager, method, '%s', '%s')), or "
      "upgrade the other receivers first",
      zWho, zMethod, zLo, zHi, zFloor, zFloor, zHi, zFloor);
  }
  sqlite3_free(zWho);
  sqlite3_free(zMethod);
  if( zMsg==0 ){ sqlite3_result_error_nomem(ctx); return; }
  sqlite3_result_text(ctx, zMsg, -1, sqlite3_free);
}

static void pin_refusal_func(sqlite3_context *ctx, int argc,
                             sqlite3_value **argv){
  char zPin[RPC_KEY_TEXT_MAX], zLo[RPC_KEY_TEXT_MAX], zHi[RPC_KEY_TEXT_MAX];
  char *zMethod = rpc_describe(argv[0]);
  char *zManager = rpc_describe(argv[2]);
  char *zMsg;
  (void)argc;
  rpc_version_format(sqlite3_value_int64(argv[1]), zPin);
  rpc_version_format(sqlite3_value_int64(argv[3]), zLo);
  rpc_version_format(sqlite3_value_int64(argv[4]), zHi);
  zMsg = sqlite3_mprintf("rpcver: cannot pin method %s to %s: receiver %s "
    "accepts only [%s, %s], so nothing could be sent. Pin at or above %s, "
    "or unregister the receivers that do not accept %s",
    zMethod, zPin, zManager, zLo, zHi, zLo, zPin);
  sqlite3_free(zMethod);
  sqlite3_free(zManager);
  if( zMsg==0 ){ sqlite3_result_error_nomem(ctx); return; }
  sqlite3_result_text(ctx, zMsg, -1, sqlite3_free);
}

/* Reports (rpc_verify, rpc_explain) render keys they may find corrupted. */
static void text_func(sqlite3_context *ctx, int argc, sqlite3_value **argv){
  (void)argc;
  if( sqlite3_value_type(argv[0])==SQLITE_NULL ){
    sqlite3_result_text(ctx, "NULL", 4, SQLITE_STATIC);
  }else if( is_key(argv[0]) ){
    rpc_result_version(ctx, sqlite3_value_int64(argv[0]));
  }else{
    char *zVal = rpc_describe(argv[0]);
    char *zMsg = sqlite3_mprintf("<not a version key: %s>", zVal);
    sqlite3_free(zVal);
    if( zMsg==0 ){ sqlite3_result_error_nomem(ctx); return; }
    sqlite3_result_text(ctx, zMsg, -1, sqlite3_free);
  }
}

/* Messages quote names from the database, which may hold any bytes: SQL's
** quote() and printf('%Q') would pass control characters and invalid UTF-8
** through to a terminal or a UTF-8 decoder. */
static void quote_func(sqlite3_context *ctx, int argc, sqlite3_value **argv){
  char *z = rpc_quote_value(argv[0]);
  (void)argc;
  if( z==0 ){ sqlite3_result_error_nomem(ctx); return; }
  sqlite3_result_text(ctx, z, -1, sqlite3_free);
}

/* The message is made safe like any other (rpc_error): a file's own view
** or trigger may call this with any text. */
static void raise_func(sqlite3_context *ctx, int argc, sqlite3_value **argv){
  const char *zMsg = (const char*)sqlite3_value_text(argv[0]);
  (void)argc;
  rpc_error(ctx, "rpcver_raise", zMsg ? zMsg : "rpcver: refused",
            SQLITE_ERROR);
}

int rpc_register_helper_functions(sqlite3 *db, RpcConn *p){
  static const struct {
    const char *zName;
    int nArg;
    int flags;
    void (*xFunc)(sqlite3_context*, int, sqlite3_value**);
  } aFunc[] = {
    { "rpcver_key",         2, RPC_PURE, key_func },
    { "rpcver_name",        2, RPC_PURE, name_func },
    { "rpcver_check_range", 4, RPC_PURE, check_range_func },
    { "rpcver_refusal",     5, RPC_PURE, refusal_func },
    { "rpcver_pin_refusal", 5, RPC_PURE, pin_refusal_func },
    { "rpcver_text",        1, RPC_PURE, text_func },
    { "rpcver_quote",       1, RPC_PURE, quote_func },
    /* not deterministic: it must run each time, never be factored out */
    { "rpcver_raise",       1, RPC_READ, raise_func },
  };
  int rc = SQLITE_OK;
  unsigned int i;
  for(i=0; rc==SQLITE_OK && i<sizeof(aFunc)/sizeof(aFunc[0]); i++){
    rc = rpc_create_function(db, p, aFunc[i].zName, aFunc[i].nArg,
                             aFunc[i].flags, aFunc[i].xFunc);
  }
  return rc;
}
