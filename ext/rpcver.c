/*
** rpcver: RPC version negotiation for rolling upgrades, as a SQLite
** extension.
**
** During a rolling upgrade old and new managers run side by side.  Every
** manager writes, per RPC method, the range of versions it can receive; a
** sender sends at most the version every receiver accepts; and a manager
** whose range no longer contains what senders may already be using is
** refused when it registers, so it exits with a clear message instead of
** receiving calls it cannot handle.  (OpenStack Cinder's "Rolling Upgrades"
** design, Kilo summit.)  The state lives in the shared database, so any
** process with a SQLite handle negotiates through plain SQL.
**
**   .load ./rpcver
**   SELECT rpc_register('host-a', 'volume', '3.16');    -- '3.16'
**   SELECT rpc_register('host-b', 'volume', '3.17');    -- '3.16'
**   SELECT rpc_max_send('volume');                      -- '3.16'
**
** Versions (version.c): text MAJOR[.MINOR[.PATCH]], or an INTEGER n.
**   rpc_version_cmp(A, B), rpc_version_key(V), rpc_version_norm(V),
**   COLLATE RPCVER
**
** Registrations and pins (write.c; SQLITE_DIRECTONLY, each in a SAVEPOINT):
**   rpc_register(MANAGER, METHOD, HI [, LO])  -> negotiated after it
**       LO defaults to MAJOR(HI).0.  Refused unless [LO, HI] contains the
**       method's floor.
**   rpc_unregister(MANAGER [, METHOD])         -> registrations removed
**   rpc_pin(METHOD, VERSION | NULL)            -> negotiated after it
**   rpc_forget(METHOD)                         -> 1 when forgotten, else 0
**   rpc_heartbeat(MANAGER)                     -> 1, or 0 if not registered
**   rpc_expire(SECONDS [, MAX_SHARE])          -> managers removed (none, and
**       an error, when that is more than MAX_SHARE, default 0.5, of some
**       method's receivers: a clock that jumped forward looks like that)
**   rpc_init()                                 -> schema version (creates,
**       migrates, or repairs the schema's triggers, views and indexes)
**
** The event log (events.c): every change is a row of rpc_log, written by
** the schema's triggers in the same transaction; the rpc_events view reads
** it.  rpc_log_keep(ROWS, DAYS) -> rows kept (sets its bounds)
**
** Reads (read.c, report.c; SQLITE_INNOCUOUS):
**   rpc_max_send(METHOD [, SENDER_HI [, SENDER_LO]]) -> version or NULL
**   rpc_can_send(METHOD, VERSION)                    -> 1 or 0
**   rpc_check(METHOD, HI [, LO])                     -> NULL or why refused
**   rpc_explain(METHOD), rpc_verify(), rpcver_version()
**
** Per method the schema (schema/rpcver.sql) keeps, maintained by triggers:
**   negotiated = min(min_hi, pin) if that is >= max_lo, else NULL
**   floor      = rises with negotiated, never falls except through a pin
** Every write above is also plain DML on the rpc_registrations and rpc_pins
** views, enforced by the same triggers.
**
** Replicated hosts (write.c): sqlite3_rpcver_init_replicated() is the entry
** point for a host whose engine replicates the database (dqlite); there the
** write functions refuse to run outside an explicit transaction.
**
** Errors are SQL errors whose message starts with "rpcver:", names the
** function and the offending value, and says what to do.
**
** Every SQL function is in aFunc[] below, with its flags; tests/api.test
** holds the list against pragma_function_list.  rpcver needs SQLite 3.38
** or later (its triggers use unixepoch()) and refuses to load on an older
** library.  Only the two entry points are exported; every other C symbol
** is internal (rv_ prefix), hidden in both the loadable module and the
** static library (Makefile).
*/
#if !defined(SQLITE_CORE) && !defined(_WIN32)
# define _GNU_SOURCE            /* dladdr() */
# include <dlfcn.h>
#endif
#include "sqlite3ext.h"
SQLITE_EXTENSION_INIT1
#include "rpcver_int.h"
#define RPCVER_BUILDING
#include "rpcver.h"

#define RPC_SQLITE_MIN 3038000          /* 3.38.0: unixepoch() */

void rv_rpcver_version(sqlite3_context *ctx, int argc, sqlite3_value **argv){
  (void)argc; (void)argv;
  sqlite3_result_text(ctx, RPCVER_VERSION, -1, SQLITE_STATIC);
}

/*
** Every SQL function rpcver defines.  PURE: deterministic, no side effects
** (usable in indexes, CHECKs, generated columns).  READ: reads the database,
** never writes; INNOCUOUS, so views and triggers may call it, under
** trusted_schema=OFF too.  WRITE: DIRECTONLY, so a database file's own
** views and triggers cannot.  The rpcver_* helpers are what the schema's
** triggers call; they are not an interface.
*/
static const struct RpcFunction {
  const char *zName;
  int nArg;
  int flags;
  void (*xFunc)(sqlite3_context*, int, sqlite3_value**);
} aFunc[] = {
  /* versions (version.c) */
  { "rpc_version_cmp",       2, RPC_PURE,  rv_rpc_version_cmp },
  { "rpc_version_key",       1, RPC_PURE,  rv_rpc_version_key },
  { "rpc_version_norm",      1, RPC_PURE,  rv_rpc_version_norm },
  { "rpcver_version",        0, RPC_PURE,  rv_rpcver_version },
  /* writes (write.c, schema.c) */
  { "rpc_register",          3, RPC_WRITE, rv_rpc_register },
  { "rpc_register",          4, RPC_WRITE, rv_rpc_register },
  { "rpc_unregister",        1, RPC_WRITE, rv_rpc_unregister },
  { "rpc_unregister",        2, RPC_WRITE, rv_rpc_unregister },
  { "rpc_pin",               2, RPC_WRITE, rv_rpc_pin },
  { "rpc_forget",            1, RPC_WRITE, rv_rpc_forget },
  { "rpc_heartbeat",         1, RPC_WRITE, rv_rpc_heartbeat },
  { "rpc_expire",            1, RPC_WRITE, rv_rpc_expire },
  { "rpc_expire",            2, RPC_WRITE, rv_rpc_expire },
  { "rpc_init",              0, RPC_WRITE, rv_rpc_init },
  /* the event log (events.c) */
  { "rpc_log_keep",          2, RPC_WRITE, rv_rpc_log_keep },
  /* senders and drain windows (senders.c) */
  { "rpc_register_sender",   3, RPC_WRITE, rv_rpc_register_sender },
  { "rpc_register_sender",   4, RPC_WRITE, rv_rpc_register_sender },
  { "rpc_unregister_sender", 1, RPC_WRITE, rv_rpc_unregister_sender },
  { "rpc_unregister_sender", 2, RPC_WRITE, rv_rpc_unregister_sender },
  { "rpc_drain",             1, RPC_READ,  rv_rpc_drain },
  { "rpc_drain",             2, RPC_WRITE, rv_rpc_drain },
  /* reads (read.c, report.c) */
  { "rpc_max_send",          1, RPC_READ,  rv_rpc_max_send },
  { "rpc_max_send",          2, RPC_READ,  rv_rpc_max_send },
  { "rpc_max_send",          3, RPC_READ,  rv_rpc_max_send },
  { "rpc_can_send",          2, RPC_READ,  rv_rpc_can_send },
  { "rpc_check",             2, RPC_READ,  rv_rpc_check },
  { "rpc_check",             3, RPC_READ,  rv_rpc_check },
  { "rpc_explain",           1, RPC_READ,  rv_rpc_explain },
  { "rpc_verify",            0, RPC_READ,  rv_rpc_verify },
  /* the schema's helpers (message.c) */
  { "rpcver_key",            2, RPC_PURE,  rv_rpcver_key },
  { "rpcver_name",           2, RPC_PURE,  rv_rpcver_name },
  { "rpcver_check_range",    4, RPC_PURE,  rv_rpcver_check_range },
  { "rpcver_check_range",    5, RPC_PURE,  rv_rpcver_check_range },
  { "rpcver_seconds",        2, RPC_PURE,  rv_rpcver_seconds },
  /* admission (admission.c) */
  { "rpcver_refusal",       12, RPC_PURE,  rv_rpcver_refusal },
  /* (the triggers of schema version 2, revisions 1 to 4, call it with 5:
  ** a helper's older forms stay, for databases an older rpcver wrote) */
  { "rpcver_refusal",        5, RPC_PURE,  rv_rpcver_refusal },
  { "rpcver_sender_refusal", 7, RPC_PURE,  rv_rpcver_sender_refusal },
  { "rpcver_pin_refusal",    5, RPC_PURE,  rv_rpcver_pin_refusal },
  { "rpcver_text",           1, RPC_PURE,  rv_rpcver_text },
  { "rpcver_quote",          1, RPC_PURE,  rv_rpcver_quote },
  { "rpcver_lo",             2, RPC_PURE,  rv_rpcver_lo },
  /* not deterministic: it must run each time, never be factored out */
  { "rpcver_raise",          1, RPC_READ,  rv_rpcver_raise },
};

/* Registers functions only: it never writes, so it is safe on read-only
** databases and on connections a replication engine opens for itself.
** Every function shares the connection's RpcConn, which counts its
** references; on failure sqlite3_create_function_v2() releases the one it
** was given. */
static int rpcver_register(sqlite3 *db, int replicated){
  RpcConn *p = rv_conn_new(db);
  int rc;
  unsigned int i;
  if( p==0 ) return SQLITE_NOMEM;
  p->replicated = replicated;
  rv_conn_ref(p);                   /* held until registration is done */
  for(i=0, rc=SQLITE_OK; rc==SQLITE_OK && i<sizeof(aFunc)/sizeof(aFunc[0]);
      i++){
    rv_conn_ref(p);
    rc = sqlite3_create_function_v2(db, aFunc[i].zName, aFunc[i].nArg,
                                    aFunc[i].flags, p, aFunc[i].xFunc, 0, 0,
                                    rv_conn_unref);
  }
  if( rc==SQLITE_OK ){
    rc = sqlite3_create_collation(db, "RPCVER", SQLITE_UTF8, 0,
                                  rv_version_collate);
  }
  if( rc==SQLITE_OK ) rc = rv_conn_register_hook(db, p);
  rv_conn_unref(p);
  return rc;
}

/*
** When the init fails, SQLite unloads the library, but the functions
** registered before the failure stay registered (removing them can fail
** too, with the same active statements that made a registration fail), and
** would point into unmapped code.  So a failed load keeps the library
** mapped: one more reference to it, never released.
*/
static void keep_library_loaded(void){
#if !defined(SQLITE_CORE) && !defined(_WIN32)
  Dl_info info;
  if( dladdr((void*)keep_library_loaded, &info) && info.dli_fname ){
    dlopen(info.dli_fname, RTLD_NOW | RTLD_NODELETE);
  }
#endif
}

static int rpcver_init(sqlite3 *db, char **pzErrMsg, int replicated){
  int rc;
  if( sqlite3_libversion_number()<RPC_SQLITE_MIN ){
    if( pzErrMsg ){
      *pzErrMsg = sqlite3_mprintf("rpcver: needs SQLite 3.38.0 or later "
          "(its triggers use unixepoch()); this library is %s",
          sqlite3_libversion());
    }
    return SQLITE_ERROR;
  }
  rc = rpcver_register(db, replicated);
  if( rc!=SQLITE_OK ){
    keep_library_loaded();
    if( pzErrMsg ){
      *pzErrMsg = sqlite3_mprintf("rpcver: cannot register its functions: "
                                  "%s", sqlite3_errmsg(db));
    }
  }
  return rc;
}

RPCVER_API int sqlite3_rpcver_init(sqlite3 *db, char **pzErrMsg,
                                   const sqlite3_api_routines *pApi){
  SQLITE_EXTENSION_INIT2(pApi);
  return rpcver_init(db, pzErrMsg, 0);
}

/* For hosts that replicate the database (dqlite): see write.c. */
RPCVER_API int sqlite3_rpcver_init_replicated(sqlite3 *db, char **pzErrMsg,
                                   const sqlite3_api_routines *pApi){
  SQLITE_EXTENSION_INIT2(pApi);
  return rpcver_init(db, pzErrMsg, 1);
}
