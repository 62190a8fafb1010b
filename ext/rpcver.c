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
** Replicated hosts (host.c): sqlite3_rpcver_init_replicated() is the entry
** point for a host whose engine replicates the database (dqlite); there the
** write functions refuse to run outside an explicit transaction.
**
** Errors are SQL errors whose message starts with "rpcver:", names the
** function and the offending value, and says what to do.
*/
#if !defined(SQLITE_CORE) && !defined(_WIN32)
# define _GNU_SOURCE            /* dladdr() */
# include <dlfcn.h>
#endif
#include "sqlite3ext.h"
SQLITE_EXTENSION_INIT1
#include "rpcver_int.h"
#include "rpcver.h"

/* Register a function that shares the connection's RpcConn. */
int rpc_create_function(sqlite3 *db, RpcConn *p, const char *zName, int nArg,
                        int flags,
                        void (*xFunc)(sqlite3_context*, int, sqlite3_value**)){
  rpc_conn_ref(p);
  /* On failure sqlite3_create_function_v2() calls the destructor itself. */
  return sqlite3_create_function_v2(db, zName, nArg, flags, p, xFunc, 0, 0,
                                    rpc_conn_unref);
}

static void version_func(sqlite3_context *ctx, int argc, sqlite3_value **argv){
  (void)argc; (void)argv;
  sqlite3_result_text(ctx, RPCVER_VERSION, -1, SQLITE_STATIC);
}

/* Registers functions only: it never writes, so it is safe on read-only
** databases and on connections a replication engine opens for itself. */
static int rpcver_register(sqlite3 *db, int replicated){
  RpcConn *p = rpc_conn_new(db);
  int rc;
  if( p==0 ) return SQLITE_NOMEM;
  p->replicated = replicated;
  rpc_conn_ref(p);                 /* held until registration is done */
  rc = rpc_version_register(db);
  if( rc==SQLITE_OK ){
    rc = sqlite3_create_function(db, "rpcver_version", 0, RPC_PURE, 0,
                                 version_func, 0, 0);
  }
  if( rc==SQLITE_OK ) rc = rpc_conn_register_hook(db, p);
  if( rc==SQLITE_OK ) rc = rpc_register_helper_functions(db, p);
  if( rc==SQLITE_OK ) rc = rpc_register_schema_functions(db, p);
  if( rc==SQLITE_OK ) rc = rpc_register_write_functions(db, p);
  if( rc==SQLITE_OK ) rc = rpc_register_read_functions(db, p);
  if( rc==SQLITE_OK ) rc = rpc_register_report_functions(db, p);
  rpc_conn_unref(p);
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
  int rc = rpcver_register(db, replicated);
  if( rc!=SQLITE_OK ){
    keep_library_loaded();
    if( pzErrMsg ){
      *pzErrMsg = sqlite3_mprintf("rpcver: cannot register its functions: "
                                  "%s", sqlite3_errmsg(db));
    }
  }
  return rc;
}

#ifdef _WIN32
__declspec(dllexport)
#endif
int sqlite3_rpcver_init(sqlite3 *db, char **pzErrMsg,
                        const sqlite3_api_routines *pApi){
  SQLITE_EXTENSION_INIT2(pApi);
  return rpcver_init(db, pzErrMsg, 0);
}

/* For hosts that replicate the database (dqlite): see host.c. */
#ifdef _WIN32
__declspec(dllexport)
#endif
int sqlite3_rpcver_init_replicated(sqlite3 *db, char **pzErrMsg,
                                   const sqlite3_api_routines *pApi){
  SQLITE_EXTENSION_INIT2(pApi);
  return rpcver_init(db, pzErrMsg, 1);
}
