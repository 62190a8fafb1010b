/*
** Reports for operators: what holds a method back, and whether the
** materialized table agrees with the registrations.
**
**   rpc_explain(METHOD)  -> readable text: receivers and their ranges,
**                           negotiated, pin, floor, and who holds it back
**   rpc_verify()         -> 'ok', or one line per difference (like
**                           PRAGMA integrity_check)
**
** Both are read-only (SQLITE_INNOCUOUS).  rpc_explain prepares its
** statements on each call (an operator's tool); rpc_verify keeps its one
** statement, since invariant checkers call it after every operation.
*/
#include "rpcver_int.h"
#include <string.h>

#define EXPLAIN_RECEIVERS_MAX 50
#define VERIFY_LINES_MAX 100

static void append_key(sqlite3_str *pStr, sqlite3_stmt *pStmt, int iCol){
  if( sqlite3_column_type(pStmt, iCol)==SQLITE_INTEGER ){
    char zBuf[RPC_KEY_TEXT_MAX];
    rpc_version_format(sqlite3_column_int64(pStmt, iCol), zBuf);
    sqlite3_str_appendall(pStr, zBuf);
  }else{
    sqlite3_str_appendall(pStr, "none");
  }
}

static void append_name(sqlite3_str *pStr, sqlite3_stmt *pStmt, int iCol){
  char *z = rpc_quote((const char*)sqlite3_column_text(pStmt, iCol),
                      sqlite3_column_bytes(pStmt, iCol));
  sqlite3_str_appendall(pStr, z);
  sqlite3_free(z);
}

/* The method's row: state, counts and versions.  Returns SQLITE_ROW,
** SQLITE_DONE (unknown method) or an error code. */
static int explain_summary(sqlite3 *db, sqlite3_value *pMethod,
                           sqlite3_str *pStr, sqlite3_int64 *pNewest){
  sqlite3_stmt *pStmt = 0;
  int rc = sqlite3_prepare_v2(db,
      "SELECT s.receivers, m.negotiated, m.newest, m.pin, m.floor, s.state,"
      "       m.min_hi"
      "  FROM main.rpc_methods AS m JOIN main.rpc_status AS s USING (method)"
      " WHERE m.method = ?1", -1, &pStmt, 0);
  if( rc!=SQLITE_OK ) return rc;
  sqlite3_bind_value(pStmt, 1, pMethod);
  rc = sqlite3_step(pStmt);
  if( rc==SQLITE_ROW ){
    char *zMethod = rpc_describe(pMethod);
    sqlite3_str_appendf(pStr, "method %s: %s, %lld receiver(s)\n", zMethod,
                        sqlite3_column_text(pStmt, 5),
                        sqlite3_column_int64(pStmt, 0));
    sqlite3_free(zMethod);
    sqlite3_str_appendall(pStr, "  negotiated ");
    append_key(pStr, pStmt, 1);
    sqlite3_str_appendall(pStr, "  newest ");
    append_key(pStr, pStmt, 2);
    sqlite3_str_appendall(pStr, "  pin ");
    append_key(pStr, pStmt, 3);
    sqlite3_str_appendall(pStr, "  floor ");
    append_key(pStr, pStmt, 4);
    sqlite3_str_appendall(pStr, "\n");
    if( sqlite3_column_type(pStmt, 3)==SQLITE_INTEGER
     && sqlite3_column_type(pStmt, 6)==SQLITE_INTEGER
     && sqlite3_column_int64(pStmt, 3)<sqlite3_column_int64(pStmt, 6) ){
      sqlite3_str_appendall(pStr, "  the pin holds negotiated below what "
                            "every receiver accepts; clear it with "
                            "rpc_pin(method, NULL) to move on\n");
    }
    *pNewest = sqlite3_column_type(pStmt, 2)==SQLITE_INTEGER
             ? sqlite3_column_int64(pStmt, 2) : -1;
  }
  sqlite3_finalize(pStmt);
  return rc;
}

/* One line per receiver (up to a limit), marking those below newest. */
static int explain_receivers(sqlite3 *db, sqlite3_value *pMethod,
                             sqlite3_int64 newest, sqlite3_str *pStr){
  sqlite3_stmt *pStmt = 0;
  int nShown = 0, nBehind = 0, rc;
  sqlite3_int64 nTotal = 0;
  rc = sqlite3_prepare_v2(db,
      "SELECT r.manager, r.lo, r.hi, unixepoch() - m.last_seen,"
      "       count(*) OVER ()"
      "  FROM main.rpc_ranges AS r JOIN main.rpc_managers AS m USING (manager)"
      " WHERE r.method = ?1 ORDER BY r.hi, r.manager", -1, &pStmt, 0);
  if( rc!=SQLITE_OK ) return rc;
  sqlite3_bind_value(pStmt, 1, pMethod);
  while( (rc = sqlite3_step(pStmt))==SQLITE_ROW ){
    int behind = sqlite3_column_int64(pStmt, 2)<newest;
    nTotal = sqlite3_column_int64(pStmt, 4);
    nBehind += behind;
    if( nShown>=EXPLAIN_RECEIVERS_MAX ) continue;
    if( nShown==0 ) sqlite3_str_appendall(pStr, "receivers:\n");
    sqlite3_str_appendall(pStr, "  ");
    append_name(pStr, pStmt, 0);
    sqlite3_str_appendall(pStr, " [");
    append_key(pStr, pStmt, 1);
    sqlite3_str_appendall(pStr, ", ");
    append_key(pStr, pStmt, 2);
    sqlite3_str_appendf(pStr, "] seen %lld s ago%s\n",
                        sqlite3_column_int64(pStmt, 3),
                        behind ? "  <- below newest: holds the upgrade back"
                               : "");
    nShown++;
  }
  sqlite3_finalize(pStmt);
  if( rc!=SQLITE_DONE ) return rc;
  if( nTotal>nShown ){
    sqlite3_str_appendf(pStr, "  ... and %lld more\n", nTotal - nShown);
  }
  if( nTotal==0 ){
    sqlite3_str_appendall(pStr, "no receivers; a new receiver must accept the "
                          "floor, or rpc_forget(method) restarts the method\n");
  }else if( nBehind ){
    sqlite3_str_appendf(pStr, "held back by %d receiver(s) below the newest "
                        "version; upgrade them, or remove stale ones with "
                        "rpc_unregister / rpc_expire\n", nBehind);
  }else{
    sqlite3_str_appendall(pStr, "no receiver holds it back\n");
  }
  return SQLITE_OK;
}

static void explain_func(sqlite3_context *ctx, int argc, sqlite3_value **argv){
  RpcConn *p = (RpcConn*)sqlite3_user_data(ctx);
  sqlite3_str *pStr;
  sqlite3_int64 newest = -1;
  char *zMethod;
  int rc = SQLITE_DONE;
  (void)argc;
  if( sqlite3_value_type(argv[0])==SQLITE_NULL ) return;
  if( sqlite3_value_type(argv[0])!=SQLITE_TEXT ){
    char *zVal = rpc_describe(argv[0]);
    rpc_errorf(ctx, "rpcver: rpc_explain: method must be text, not %s", zVal);
    sqlite3_free(zVal);
    return;
  }
  pStr = sqlite3_str_new(p->db);
  if( rpc_schema_present(p->db) ){
    rc = explain_summary(p->db, argv[0], pStr, &newest);
    if( rc==SQLITE_ROW ) rc = explain_receivers(p->db, argv[0], newest, pStr);
  }
  if( rc==SQLITE_DONE ){
    zMethod = rpc_describe(argv[0]);
    sqlite3_str_appendf(pStr, "method %s is unknown: no receivers, no pin, "
                        "no floor\n", zMethod);
    sqlite3_free(zMethod);
    rc = SQLITE_OK;
  }
  if( rc!=SQLITE_OK ){
    sqlite3_free(sqlite3_str_finish(pStr));
    rpc_errorf(ctx, "rpcver: rpc_explain: %s", rpc_conn_errmsg(p));
    sqlite3_result_error_code(ctx, rc);
    return;
  }
  if( sqlite3_str_length(pStr)>0 ){
    /* drop the final newline */
    char *z = sqlite3_str_finish(pStr);
    int n = (int)strlen(z);
    if( n>0 && z[n-1]=='\n' ) z[n-1] = 0;
    sqlite3_result_text(ctx, z, -1, sqlite3_free);
  }else{
    sqlite3_free(sqlite3_str_finish(pStr));
  }
}

/*
** Recompute every aggregate from rpc_ranges and compare; check the floor's
** invariants (it lies inside every receiver's range and at or above
** negotiated) and the managers table.  This scans everything: it is the
** audit, not the hot path.
*/
static const char zVerifySql[] =
  "WITH agg AS (SELECT method, count(*) AS n, max(lo) AS max_lo,"
  "                    min(hi) AS min_hi, max(hi) AS newest"
  "               FROM main.rpc_ranges GROUP BY method)"
  "SELECT printf('method %Q: receivers is %s, registrations say %d',"
  "              m.method, quote(m.receivers), coalesce(a.n, 0))"
  "  FROM main.rpc_methods AS m LEFT JOIN agg AS a USING (method)"
  " WHERE m.receivers IS NOT coalesce(a.n, 0)"
  "UNION ALL "
  "SELECT printf('method %Q: max_lo is %s, registrations say %s', m.method,"
  "              rpcver_text(m.max_lo), rpcver_text(a.max_lo))"
  "  FROM main.rpc_methods AS m LEFT JOIN agg AS a USING (method)"
  " WHERE m.max_lo IS NOT a.max_lo "
  "UNION ALL "
  "SELECT printf('method %Q: min_hi is %s, registrations say %s', m.method,"
  "              rpcver_text(m.min_hi), rpcver_text(a.min_hi))"
  "  FROM main.rpc_methods AS m LEFT JOIN agg AS a USING (method)"
  " WHERE m.min_hi IS NOT a.min_hi "
  "UNION ALL "
  "SELECT printf('method %Q: newest is %s, registrations say %s', m.method,"
  "              rpcver_text(m.newest), rpcver_text(a.newest))"
  "  FROM main.rpc_methods AS m LEFT JOIN agg AS a USING (method)"
  " WHERE m.newest IS NOT a.newest "
  "UNION ALL "
  "SELECT printf('method %Q has %d registration(s) but no row in "
  "rpc_methods', a.method, a.n)"
  "  FROM agg AS a WHERE a.method NOT IN (SELECT method FROM main.rpc_methods)"
  "UNION ALL "
  "SELECT printf('method %Q: floor is NULL although it has receivers',"
  "              method)"
  "  FROM main.rpc_methods WHERE receivers > 0 AND floor IS NULL "
  "UNION ALL "
  "SELECT printf('method %Q: floor %s is outside [%s, %s], the versions "
  "every receiver accepts', method, rpcver_text(floor),"
  "              rpcver_text(max_lo), rpcver_text(min_hi))"
  "  FROM main.rpc_methods"
  " WHERE receivers > 0 AND NOT (floor BETWEEN max_lo AND min_hi) "
  "UNION ALL "
  "SELECT printf('method %Q: floor %s is below negotiated %s', method,"
  "              rpcver_text(floor), rpcver_text(negotiated))"
  "  FROM main.rpc_methods WHERE negotiated > floor "
  "UNION ALL "
  "SELECT printf('method %Q: pin %s is below max_lo %s', method,"
  "              rpcver_text(pin), rpcver_text(max_lo))"
  "  FROM main.rpc_methods WHERE receivers > 0 AND pin < max_lo "
  "UNION ALL "
  "SELECT printf('registration (%Q, %Q): lo %s, hi %s is not a range',"
  "              manager, method, rpcver_text(lo), rpcver_text(hi))"
  "  FROM main.rpc_ranges"
  " WHERE typeof(lo) <> 'integer' OR typeof(hi) <> 'integer'"
  "    OR lo < 0 OR lo > hi OR hi >= (1 << 60) "
  "UNION ALL "
  "SELECT printf('manager %Q has registrations but no row in rpc_managers',"
  "              manager)"
  "  FROM (SELECT DISTINCT manager FROM main.rpc_ranges)"
  " WHERE manager NOT IN (SELECT manager FROM main.rpc_managers)"
  "UNION ALL "
  "SELECT printf('manager %Q has no registrations', manager)"
  "  FROM main.rpc_managers AS g"
  " WHERE NOT EXISTS (SELECT 1 FROM main.rpc_ranges WHERE manager = g.manager)"
  "UNION ALL "
  "SELECT printf('rpc_meta: schema_version is %s, expected 2',"
  "              quote((SELECT value FROM main.rpc_meta"
  "                      WHERE key = 'schema_version')))"
  " WHERE (SELECT value FROM main.rpc_meta WHERE key = 'schema_version')"
  "       IS NOT 2";

static void verify_func(sqlite3_context *ctx, int argc, sqlite3_value **argv){
  RpcConn *p = (RpcConn*)sqlite3_user_data(ctx);
  sqlite3_stmt *pStmt;
  sqlite3_str *pStr;
  int nLine = 0, rc;
  (void)argc; (void)argv;
  if( !rpc_schema_present(p->db) ){
    sqlite3_result_text(ctx, "ok", 2, SQLITE_STATIC);
    return;
  }
  rc = rpc_conn_stmt(p, RPC_STMT_VERIFY, zVerifySql, &pStmt);
  if( rc!=SQLITE_OK ){
    rpc_errorf(ctx, "rpcver: rpc_verify: %s", rpc_conn_errmsg(p));
    return;
  }
  pStr = sqlite3_str_new(p->db);
  while( (rc = sqlite3_step(pStmt))==SQLITE_ROW ){
    if( nLine==VERIFY_LINES_MAX ){
      sqlite3_str_appendall(pStr, "\n... more differences not shown");
      rc = SQLITE_DONE;
      break;
    }
    if( nLine++ ) sqlite3_str_appendchar(pStr, 1, '\n');
    sqlite3_str_appendall(pStr, (const char*)sqlite3_column_text(pStmt, 0));
  }
  if( rc==SQLITE_DONE ){
    rc = sqlite3_reset(pStmt)==SQLITE_OK ? SQLITE_DONE : SQLITE_ERROR;
  }else{
    sqlite3_reset(pStmt);
  }
  if( rc!=SQLITE_DONE ){
    sqlite3_free(sqlite3_str_finish(pStr));
    rpc_errorf(ctx, "rpcver: rpc_verify: %s", rpc_conn_errmsg(p));
    return;
  }
  if( nLine==0 ){
    sqlite3_free(sqlite3_str_finish(pStr));
    sqlite3_result_text(ctx, "ok", 2, SQLITE_STATIC);
  }else{
    sqlite3_result_text(ctx, sqlite3_str_finish(pStr), -1, sqlite3_free);
  }
}

int rpc_register_report_functions(sqlite3 *db, RpcConn *p){
  int rc = rpc_create_function(db, p, "rpc_explain", 1, RPC_READ,
                               explain_func);
  if( rc==SQLITE_OK ){
    rc = rpc_create_function(db, p, "rpc_verify", 0, RPC_READ, verify_func);
  }
  return rc;
}
