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

static void append_key(sqlite3_str *pStr, sqlite3_stmt *pStmt, int iCol){
  if( sqlite3_column_type(pStmt, iCol)==SQLITE_INTEGER ){
    char zBuf[RPC_KEY_TEXT_MAX];
    rv_version_format(sqlite3_column_int64(pStmt, iCol), zBuf);
    sqlite3_str_appendall(pStr, zBuf);
  }else{
    sqlite3_str_appendall(pStr, "none");
  }
}

static void append_name(sqlite3_str *pStr, sqlite3_stmt *pStmt, int iCol){
  char *z = rv_quote((const char*)sqlite3_column_text(pStmt, iCol),
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
    char *zMethod = rv_describe(pMethod);
    /* (the state comes from a view of the file: made safe like a name) */
    char *zState = rv_printable((const char*)sqlite3_column_text(pStmt, 5),
                                 sqlite3_column_bytes(pStmt, 5), 64);
    sqlite3_str_appendf(pStr, "method %s: %s, %lld receiver(s)\n", zMethod,
                        zState, sqlite3_column_int64(pStmt, 0));
    sqlite3_free(zMethod);
    sqlite3_free(zState);
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

/* Registered senders, and what may be in flight with the drain window: a
** section only where there is something to say, and only on a database at
** schema version 3 (an older one has no senders until its next write
** migrates it). */
static int explain_senders(RpcConn *p, sqlite3_value *pMethod,
                           sqlite3_str *pStr){
  sqlite3_stmt *pStmt = 0;
  sqlite3_int64 v = 0, rev = 0;
  char *zErr = 0;
  int nShown = 0, rc;
  sqlite3_int64 nTotal = 0;
  rc = rv_schema_stored(p, &v, &rev, &zErr);
  sqlite3_free(zErr);
  if( rc!=SQLITE_OK || v<3 ) return rc;
  rc = sqlite3_prepare_v2(p->db,
      "SELECT s.sender, s.lo, s.hi, unixepoch() - g.last_seen,"
      "       count(*) OVER ()"
      "  FROM main.rpc_sender_ranges AS s"
      "  JOIN main.rpc_managers AS g ON g.manager = s.sender"
      " WHERE s.method = ?1 ORDER BY s.hi, s.sender", -1, &pStmt, 0);
  if( rc!=SQLITE_OK ) return rc;
  sqlite3_bind_value(pStmt, 1, pMethod);
  while( (rc = sqlite3_step(pStmt))==SQLITE_ROW ){
    nTotal = sqlite3_column_int64(pStmt, 4);
    if( nShown>=EXPLAIN_RECEIVERS_MAX ) continue;
    if( nShown==0 ) sqlite3_str_appendall(pStr, "registered senders:\n");
    sqlite3_str_appendall(pStr, "  ");
    append_name(pStr, pStmt, 0);
    sqlite3_str_appendall(pStr, " sends [");
    append_key(pStr, pStmt, 1);
    sqlite3_str_appendall(pStr, ", ");
    append_key(pStr, pStmt, 2);
    sqlite3_str_appendf(pStr, "] seen %lld s ago\n",
                        sqlite3_column_int64(pStmt, 3));
    nShown++;
  }
  sqlite3_finalize(pStmt);
  if( rc!=SQLITE_DONE ) return rc;
  if( nTotal>nShown ){
    sqlite3_str_appendf(pStr, "  ... and %lld more\n", nTotal - nShown);
  }
  rc = sqlite3_prepare_v2(p->db,
      "SELECT coalesce(m.drain, (SELECT value FROM main.rpc_meta"
      "                           WHERE key = 'drain_default')),"
      "       m.drain IS NOT NULL, m.send_lo, m.send_hi, m.inflight_lo,"
      "       m.inflight_hi, m.inflight_until - unixepoch() + 1"
      "  FROM main.rpc_methods AS m"
      " WHERE m.method = ?1"
      "   AND (m.senders > 0 OR m.inflight_until >= unixepoch())",
      -1, &pStmt, 0);
  if( rc!=SQLITE_OK ) return rc;
  sqlite3_bind_value(pStmt, 1, pMethod);
  if( (rc = sqlite3_step(pStmt))==SQLITE_ROW ){
    sqlite3_str_appendf(pStr, "drain window %lld s (%s)",
                        sqlite3_column_int64(pStmt, 0),
                        sqlite3_column_int(pStmt, 1) ? "its own"
                                                     : "the default");
    if( sqlite3_column_type(pStmt, 2)==SQLITE_INTEGER ){
      sqlite3_str_appendall(pStr, "; the senders may send ");
      append_key(pStr, pStmt, 2);
      sqlite3_str_appendall(pStr, " to ");
      append_key(pStr, pStmt, 3);
      sqlite3_str_appendall(pStr, " now");
    }
    if( sqlite3_column_type(pStmt, 6)==SQLITE_INTEGER
     && sqlite3_column_int64(pStmt, 6)>0 ){
      sqlite3_str_appendall(pStr, "; ");
      append_key(pStr, pStmt, 4);
      sqlite3_str_appendall(pStr, " to ");
      append_key(pStr, pStmt, 5);
      sqlite3_str_appendf(pStr, " may still be in flight for %lld s",
                          sqlite3_column_int64(pStmt, 6));
    }
    sqlite3_str_appendall(pStr, ": a new receiver must accept all of it\n");
    rc = SQLITE_DONE;
  }
  sqlite3_finalize(pStmt);
  return rc==SQLITE_DONE ? SQLITE_OK : rc;
}

void rv_rpc_explain(sqlite3_context *ctx, int argc, sqlite3_value **argv){
  RpcConn *p = (RpcConn*)sqlite3_user_data(ctx);
  sqlite3_str *pStr;
  sqlite3_int64 newest = -1;
  char *zMethod;
  int rc = SQLITE_DONE;
  (void)argc;
  if( sqlite3_value_type(argv[0])==SQLITE_NULL ) return;
  if( sqlite3_value_type(argv[0])!=SQLITE_TEXT ){
    char *zVal = rv_describe(argv[0]);
    rv_errorf(ctx, "rpcver: rpc_explain: method must be text, not %s", zVal);
    sqlite3_free(zVal);
    return;
  }
  /* Its statements are prepared afresh, so a view that calls rpc_explain()
  ** again would recurse without end (rv_conn_reentered() says more). */
  if( p->inExplain ){
    rv_conn_fault(p);
    rv_error(ctx, "rpc_explain", rv_conn_errmsg(p), SQLITE_MISUSE);
    return;
  }
  rv_conn_clear(p);
  pStr = sqlite3_str_new(p->db);
  if( rv_schema_present(p->db) ){
    p->inExplain = 1;
    rc = explain_summary(p->db, argv[0], pStr, &newest);
    if( rc==SQLITE_ROW ) rc = explain_receivers(p->db, argv[0], newest, pStr);
    if( rc==SQLITE_OK ) rc = explain_senders(p, argv[0], pStr);
    p->inExplain = 0;
  }
  if( rc==SQLITE_DONE ){
    zMethod = rv_describe(argv[0]);
    sqlite3_str_appendf(pStr, "method %s is unknown: no receivers, no pin, "
                        "no floor\n", zMethod);
    sqlite3_free(zMethod);
    rc = SQLITE_OK;
  }
  if( rc!=SQLITE_OK ){
    sqlite3_free(sqlite3_str_finish(pStr));
    rv_error(ctx, "rpc_explain", rv_conn_errmsg(p), rc);
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
** The data checks of rpc_verify(), once the audit (audit.c) has found
** rpcver's tables as rpcver made them: recompute every aggregate from
** rpc_ranges and compare; recompute negotiated from its stored inputs (the
** generated column computes it, unless its definition was rewritten); check
** the floor's invariants (inside every receiver's range, at or above
** negotiated, at or below a pin) and the managers table.  This scans
** everything: it is the audit, not the hot path.  Values from the database
** are quoted with rpcver_quote(), which keeps control characters and
** invalid UTF-8 out of the report.
*/
static const char zVerifySql[] =
  "WITH agg AS (SELECT method, count(*) AS n, max(lo) AS max_lo,"
  "                    min(hi) AS min_hi, max(hi) AS newest"
  "               FROM main.rpc_ranges GROUP BY method)"
  "SELECT printf('method %s: receivers is %s, registrations say %d',"
  "              rpcver_quote(m.method), rpcver_quote(m.receivers),"
  "              coalesce(a.n, 0))"
  "  FROM main.rpc_methods AS m LEFT JOIN agg AS a USING (method)"
  " WHERE m.receivers IS NOT coalesce(a.n, 0)"
  "UNION ALL "
  "SELECT printf('method %s: max_lo is %s, registrations say %s',"
  "              rpcver_quote(m.method),"
  "              rpcver_text(m.max_lo), rpcver_text(a.max_lo))"
  "  FROM main.rpc_methods AS m LEFT JOIN agg AS a USING (method)"
  " WHERE m.max_lo IS NOT a.max_lo "
  "UNION ALL "
  "SELECT printf('method %s: min_hi is %s, registrations say %s',"
  "              rpcver_quote(m.method),"
  "              rpcver_text(m.min_hi), rpcver_text(a.min_hi))"
  "  FROM main.rpc_methods AS m LEFT JOIN agg AS a USING (method)"
  " WHERE m.min_hi IS NOT a.min_hi "
  "UNION ALL "
  "SELECT printf('method %s: newest is %s, registrations say %s',"
  "              rpcver_quote(m.method),"
  "              rpcver_text(m.newest), rpcver_text(a.newest))"
  "  FROM main.rpc_methods AS m LEFT JOIN agg AS a USING (method)"
  " WHERE m.newest IS NOT a.newest "
  "UNION ALL "
  "SELECT printf('method %s has %d registration(s) but no row in "
  "rpc_methods', rpcver_quote(a.method), a.n)"
  "  FROM agg AS a WHERE a.method NOT IN (SELECT method FROM main.rpc_methods)"
  "UNION ALL "
  "SELECT printf('method %s: negotiated is %s, but min_hi %s, pin %s and "
  "max_lo %s give %s', rpcver_quote(method), rpcver_text(negotiated),"
  "              rpcver_text(min_hi), rpcver_text(pin), rpcver_text(max_lo),"
  "              rpcver_text(expected))"
  "  FROM (SELECT *, CASE WHEN receivers > 0"
  "                        AND min(min_hi, coalesce(pin, min_hi)) >= max_lo"
  "                       THEN min(min_hi, coalesce(pin, min_hi)) END"
  "                  AS expected FROM main.rpc_methods)"
  " WHERE negotiated IS NOT expected "
  "UNION ALL "
  "SELECT printf('method %s: floor is NULL although it has receivers',"
  "              rpcver_quote(method))"
  "  FROM main.rpc_methods WHERE receivers > 0 AND floor IS NULL "
  "UNION ALL "
  "SELECT printf('method %s: floor %s is outside [%s, %s], the versions "
  "every receiver accepts', rpcver_quote(method), rpcver_text(floor),"
  "              rpcver_text(max_lo), rpcver_text(min_hi))"
  "  FROM main.rpc_methods"
  " WHERE receivers > 0 AND NOT (floor BETWEEN max_lo AND min_hi) "
  "UNION ALL "
  "SELECT printf('method %s: floor %s is below negotiated %s',"
  "              rpcver_quote(method), rpcver_text(floor),"
  "              rpcver_text(negotiated))"
  "  FROM main.rpc_methods WHERE negotiated > floor "
  "UNION ALL "
  "SELECT printf('method %s: floor %s is above pin %s: senders may be "
  "using versions the pin forbids', rpcver_quote(method), rpcver_text(floor),"
  "              rpcver_text(pin))"
  "  FROM main.rpc_methods WHERE floor > pin "
  "UNION ALL "
  "SELECT printf('method %s: pin %s is below max_lo %s', rpcver_quote(method),"
  "              rpcver_text(pin), rpcver_text(max_lo))"
  "  FROM main.rpc_methods WHERE receivers > 0 AND pin < max_lo "
  "UNION ALL "
  "SELECT printf('registration (%s, %s): lo %s, hi %s is not a range',"
  "              rpcver_quote(manager), rpcver_quote(method),"
  "              rpcver_text(lo), rpcver_text(hi))"
  "  FROM main.rpc_ranges"
  " WHERE typeof(lo) <> 'integer' OR typeof(hi) <> 'integer'"
  "    OR lo < 0 OR lo > hi OR hi >= (1 << 60) "
  "UNION ALL "
  "SELECT printf('manager %s has registrations but no row in rpc_managers',"
  "              rpcver_quote(manager))"
  "  FROM (SELECT manager FROM main.rpc_ranges"
  "        UNION SELECT sender FROM main.rpc_sender_ranges)"
  " WHERE manager NOT IN (SELECT manager FROM main.rpc_managers)"
  "UNION ALL "
  "SELECT printf('manager %s has no registrations', rpcver_quote(manager))"
  "  FROM main.rpc_managers AS g"
  " WHERE NOT EXISTS (SELECT 1 FROM main.rpc_ranges WHERE manager = g.manager)"
  "   AND NOT EXISTS (SELECT 1 FROM main.rpc_sender_ranges"
  "                    WHERE sender = g.manager)"
  /* senders: the aggregates, each range, and that every sender has
  ** something it may send while the method has receivers */
  "UNION ALL "
  "SELECT printf('method %s: senders %s, min_slo %s, max_slo %s, min_shi %s, "
  "max_shi %s; sender registrations say %d, %s, %s, %s, %s',"
  "              rpcver_quote(m.method), rpcver_quote(m.senders),"
  "              rpcver_text(m.min_slo), rpcver_text(m.max_slo),"
  "              rpcver_text(m.min_shi), rpcver_text(m.max_shi),"
  "              coalesce(s.n, 0), rpcver_text(s.min_slo),"
  "              rpcver_text(s.max_slo), rpcver_text(s.min_shi),"
  "              rpcver_text(s.max_shi))"
  "  FROM main.rpc_methods AS m LEFT JOIN"
  "       (SELECT method, count(*) AS n, min(lo) AS min_slo,"
  "               max(lo) AS max_slo, min(hi) AS min_shi, max(hi) AS max_shi"
  "          FROM main.rpc_sender_ranges GROUP BY method) AS s"
  "       USING (method)"
  " WHERE m.senders IS NOT coalesce(s.n, 0) OR m.min_slo IS NOT s.min_slo"
  "    OR m.max_slo IS NOT s.max_slo OR m.min_shi IS NOT s.min_shi"
  "    OR m.max_shi IS NOT s.max_shi "
  "UNION ALL "
  "SELECT printf('sender registration (%s, %s): lo %s, hi %s is not a "
  "range', rpcver_quote(sender), rpcver_quote(method), rpcver_text(lo),"
  "              rpcver_text(hi))"
  "  FROM main.rpc_sender_ranges"
  " WHERE typeof(lo) <> 'integer' OR typeof(hi) <> 'integer'"
  "    OR lo < 0 OR lo > hi OR hi >= (1 << 60) "
  "UNION ALL "
  "SELECT printf('method %s: registered sender %s, which sends [%s, %s], "
  "has nothing it may send: the receivers accept %s', rpcver_quote(m.method),"
  "              rpcver_quote(s.sender), rpcver_text(s.lo), rpcver_text(s.hi),"
  "              iif(m.negotiated IS NULL, 'no version',"
  "                  printf('[%s, %s]', rpcver_text(m.max_lo),"
  "                         rpcver_text(m.negotiated))))"
  "  FROM main.rpc_methods AS m"
  "  JOIN main.rpc_sender_ranges AS s ON s.method = m.method"
  " WHERE m.receivers > 0"
  "   AND (m.negotiated IS NULL OR s.hi < m.max_lo OR s.lo > m.negotiated) "
  /* the in-flight envelope and the drain windows */
  "UNION ALL "
  /* an envelope is three integers, keys lo <= hi, ending no later than
  ** the longest window from now (?1, RPC_DRAIN_MAX); the windows are
  ** seconds from 0 to ?1.  (The tables, not the rpc_drains view: a file's
  ** view of that name is not necessarily rpcver's.) */
  "SELECT printf('method %s: in-flight record [%s, %s] until %s is not one "
  "rpcver writes', rpcver_quote(method), rpcver_quote(inflight_lo),"
  "              rpcver_quote(inflight_hi), rpcver_quote(inflight_until))"
  "  FROM main.rpc_methods"
  " WHERE (inflight_until IS NOT NULL OR inflight_lo IS NOT NULL"
  "        OR inflight_hi IS NOT NULL)"
  "   AND NOT coalesce(typeof(inflight_until) = 'integer'"
  "                    AND typeof(inflight_lo) = 'integer'"
  "                    AND typeof(inflight_hi) = 'integer'"
  "                    AND inflight_lo >= 0 AND inflight_lo <= inflight_hi"
  "                    AND inflight_hi < (1 << 60)"
  "                    AND inflight_until <= unixepoch() + ?1, 0) "
  "UNION ALL "
  "SELECT printf('method %s: drain window %s is not a number of seconds "
  "from 0 to %d', rpcver_quote(method), rpcver_quote(drain), ?1)"
  "  FROM main.rpc_methods"
  " WHERE drain IS NOT NULL"
  "   AND NOT coalesce(typeof(drain) = 'integer' AND drain >= 0"
  "                    AND drain <= ?1, 0) "
  "UNION ALL "
  "SELECT printf('rpc_meta: drain_default %s is not a number of seconds "
  "from 0 to %d (set it with rpc_drain(NULL, seconds))', rpcver_quote(value),"
  "              ?1)"
  "  FROM (SELECT (SELECT value FROM main.rpc_meta"
  "                 WHERE key = 'drain_default') AS value)"
  " WHERE NOT coalesce(typeof(value) = 'integer' AND value >= 0"
  "                    AND value <= ?1, 0)";

/* Append the data checks' lines to pStr, up to RPC_VERIFY_LINES_MAX in all. */
static int verify_data(RpcConn *p, sqlite3_str *pStr, int *pnLine){
  sqlite3_stmt *pStmt;
  int rc = rv_conn_stmt(p, RPC_STMT_VERIFY, zVerifySql, &pStmt);
  if( rc!=SQLITE_OK ) return rc;
  sqlite3_bind_int(pStmt, 1, RPC_DRAIN_MAX);
  while( (rc = sqlite3_step(pStmt))==SQLITE_ROW ){
    if( *pnLine>=RPC_VERIFY_LINES_MAX ){
      sqlite3_str_appendall(pStr, "... more differences not shown\n");
      break;
    }
    /* (safe already, and once more: a line of the report is text from
    ** the file however it was built) */
    char *zLine = rv_printable((const char*)sqlite3_column_text(pStmt, 0),
                                sqlite3_column_bytes(pStmt, 0), 1000);
    sqlite3_str_appendf(pStr, "%s\n", zLine);
    sqlite3_free(zLine);
    (*pnLine)++;
  }
  rc = sqlite3_reset(pStmt);
  if( rc!=SQLITE_OK ) rv_conn_stmt_drop(p, RPC_STMT_VERIFY);
  return rc;
}

/*
** rpc_verify(): 'ok', or one line per difference, like PRAGMA
** integrity_check: first the schema objects (audit.c), then, when rpcver's
** tables are rpcver's own, the data.
*/
void rv_rpc_verify(sqlite3_context *ctx, int argc, sqlite3_value **argv){
  RpcConn *p = (RpcConn*)sqlite3_user_data(ctx);
  sqlite3_str *pStr;
  RpcAudit audit;
  char *z;
  int rc, n;
  (void)argc; (void)argv;
  /* The audit prepares its statements afresh: a view of the file that
  ** calls rpc_verify() again would recurse without end. */
  if( p->inVerify ){
    rv_conn_fault(p);
    rv_error(ctx, "rpc_verify", rv_conn_errmsg(p), SQLITE_MISUSE);
    return;
  }
  rv_conn_clear(p);
  p->inVerify = 1;
  pStr = sqlite3_str_new(p->db);
  rc = rv_schema_audit(p, pStr, &audit);
  if( rc==SQLITE_OK && audit.tablesOk ){
    rc = verify_data(p, pStr, &audit.nLine);
    if( rc==SQLITE_OK && audit.nLine<RPC_VERIFY_LINES_MAX
        && !audit.logMissing ){
      rc = rv_verify_log(p, pStr, &audit.nLine);
    }
  }else if( rc==SQLITE_OK && audit.present && !audit.otherVersion ){
    sqlite3_str_appendall(pStr, "the registrations were not checked: "
                          "rpcver's tables are not as rpcver made them\n");
    audit.nLine++;
  }
  p->inVerify = 0;
  if( rc!=SQLITE_OK ){
    sqlite3_free(sqlite3_str_finish(pStr));
    rv_error(ctx, "rpc_verify", rv_conn_errmsg(p), rc);
    return;
  }
  if( audit.nLine==0 ){
    sqlite3_free(sqlite3_str_finish(pStr));
    sqlite3_result_text(ctx, "ok", 2, SQLITE_STATIC);
    return;
  }
  z = sqlite3_str_finish(pStr);
  if( z==0 ){ sqlite3_result_error_nomem(ctx); return; }
  n = (int)strlen(z);
  if( n>0 && z[n-1]=='\n' ) z[--n] = 0;   /* no newline after the last */
  sqlite3_result_text(ctx, z, n, sqlite3_free);
}
