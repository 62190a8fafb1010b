/*
** The event log: what changed, when, and who.
**
** Every change of rpcver's state appends rows to the table rpc_log, from
** the schema's own triggers, in the transaction of the change
** (schema/rpcver.sql, "event log", says where and why there).  A refused
** write rolls its rows back with everything else: the log holds what
** happened, never what was refused.  Read it through the rpc_events view,
** versions as text:
**
**   SELECT utc, event, who, old, new FROM rpc_events WHERE method = 'volume';
**   2026-12-06 02:14:07|pinned||3.16
**
** The log is bounded: it keeps the newest log_rows rows (100,000) and none
** older than log_days days (365), both in rpc_meta.
**
**   rpc_log_keep(ROWS, DAYS)  -> the rows the log holds after the change.
**       Sets the bounds (NULL leaves one as it is); whole numbers >= 0, and
**       0 rows keeps none.  A lowered bound applies at once.  The same as
**       UPDATE rpc_meta SET value = ... WHERE key = 'log_rows' / 'log_days'.
**
** SQLITE_DIRECTONLY, in a savepoint, like write.c's functions.  This file
** also keeps the bounds for the write functions (rv_log_bounds) and holds
** rpc_verify()'s checks of the log (rv_verify_log).
*/
#include "rpcver_int.h"

/* Every this many writes a connection keeps the log within its bounds;
** the schema's prune removes up to twice as many rows (rpc_log_bounds). */
#define LOG_BOUNDS_EVERY 64

/* The schema revision that brought the log (audit.c knows it too). */
#define LOG_REVISION 7

int rv_log_bounds(RpcConn *p){
  sqlite3_stmt *pStmt;
  int rc;
  if( (++p->nWrite % LOG_BOUNDS_EVERY)!=0 ) return SQLITE_OK;
  rc = rv_conn_stmt(p, RPC_STMT_LOG_BOUNDS,
                    "INSERT INTO main.rpc_log_bounds VALUES (1)", &pStmt);
  return rc==SQLITE_OK ? rv_run(pStmt) : rc;
}

/* A bound argument: NULL (leave it), or a whole number >= 0 (numeric text
** counts, as a binding may bind text).  0 when good, else 1 with the
** error set. */
static int arg_bound(sqlite3_context *ctx, const char *zArg,
                     const char *zMeaning, sqlite3_value *pVal){
  if( sqlite3_value_type(pVal)==SQLITE_NULL ) return 0;
  if( sqlite3_value_type(pVal)==SQLITE_BLOB
   || sqlite3_value_numeric_type(pVal)!=SQLITE_INTEGER
   || sqlite3_value_int64(pVal)<0 ){
    char *zVal = rv_describe(pVal);
    rv_errorf(ctx, "rpcver: rpc_log_keep: %s must be a whole number >= 0 "
              "(%s; NULL leaves it as it is), not %s", zArg, zMeaning, zVal);
    sqlite3_free(zVal);
    return 1;
  }
  return 0;
}

void rv_rpc_log_keep(sqlite3_context *ctx, int argc, sqlite3_value **argv){
  static const char zFunc[] = "rpc_log_keep";
  RpcConn *p = (RpcConn*)sqlite3_user_data(ctx);
  sqlite3_stmt *pStmt;
  sqlite3_int64 n = 0;
  int rc;
  (void)argc;
  if( arg_bound(ctx, "rows", "the newest rows the event log keeps; 0 keeps "
                "none", argv[0]) ) return;
  if( arg_bound(ctx, "days", "how many days the event log keeps a row",
                argv[1]) ) return;
  if( rv_begin_write(ctx, p, zFunc) ) return;
  /* One statement: the schema's trigger on rpc_meta logs each change and
  ** applies a lowered bound at once. */
  rc = rv_conn_stmt(p, RPC_STMT_LOG_KEEP,
      "UPDATE main.rpc_meta"
      "   SET value = iif(key = 'log_rows', coalesce(?1, value),"
      "                   coalesce(?2, value))"
      " WHERE key IN ('log_rows', 'log_days')", &pStmt);
  if( rc==SQLITE_OK ){
    if( sqlite3_value_type(argv[0])!=SQLITE_NULL ){
      sqlite3_bind_int64(pStmt, 1, sqlite3_value_int64(argv[0]));
    }
    if( sqlite3_value_type(argv[1])!=SQLITE_NULL ){
      sqlite3_bind_int64(pStmt, 2, sqlite3_value_int64(argv[1]));
    }
    rc = rv_run(pStmt);
  }
  if( rc==SQLITE_OK ){
    rc = rv_conn_stmt(p, RPC_STMT_LOG_COUNT,
                      "SELECT count(*) FROM main.rpc_log", &pStmt);
    if( rc==SQLITE_OK ){
      if( sqlite3_step(pStmt)==SQLITE_ROW ) n = sqlite3_column_int64(pStmt, 0);
      rc = sqlite3_reset(pStmt);
    }
  }
  if( rv_end_write(ctx, p, zFunc, rc)==SQLITE_OK ){
    sqlite3_result_int64(ctx, n);
  }
}

/*
** rpc_verify()'s checks of the log.  Nothing refuses a direct insert or
** delete (a trigger that could would cost every registration, the schema
** says), so the log is checked against itself and against the state:
**
**   - the bounds are whole numbers >= 0, and each row's event and time
**     are ones rpcver writes;
**   - the ids have no gap: rows leave only from the old end;
**   - each row follows the one before it of its kind (a registration of a
**     manager for a method, a sender's, a method's negotiated, newest,
**     floor, pin, drain window and in-flight envelope, a setting): its old
**     value is that row's new one.  rpc_forget() starts a method afresh;
**   - the last row of each kind says what the state says now.
**
** A row forged to restate the state, with an old value that follows, is
** not found: the log is evidence, not a lock, like the rest of rpcver
** against a writer who could as well drop its triggers.
*/
static const char zVerifyLogSql[] =
  "WITH l AS ("
  "  SELECT id, time, method, event, who, old_lo, old_hi, new_lo, new_hi, at,"
  "         CASE WHEN event IN ('registered', 'replaced', 'unregistered',"
  "                             'expired') THEN 'receiver'"
  "              WHEN event IN ('sender_registered', 'sender_replaced',"
  "                             'sender_unregistered', 'sender_expired')"
  "                THEN 'sender'"
  "              WHEN event IN ('pinned', 'unpinned') THEN 'pin'"
  "              WHEN event IN ('negotiated', 'newest', 'floor', 'drain',"
  "                             'in_flight', 'drain_default', 'log_rows',"
  "                             'log_days') THEN event END AS kind,"
  /* a registration's chain is its manager's or sender's; the others are
  ** the method's, whoever a row says wrote them */
  "         iif(event IN ('registered', 'replaced', 'unregistered', 'expired',"
  "                       'sender_registered', 'sender_replaced',"
  "                       'sender_unregistered', 'sender_expired'),"
  "             who, NULL) AS owner,"
  "         coalesce(sum(event = 'forgotten') OVER (PARTITION BY method"
  "                  ORDER BY id ROWS UNBOUNDED PRECEDING), 0) AS gen,"
  "         coalesce(sum(event = 'forgotten') OVER (PARTITION BY method),"
  "                  0) AS gens"
  "    FROM main.rpc_log),"
  " c AS ("
  "  SELECT *, lag(id) OVER w AS pid, lag(new_lo) OVER w AS plo,"
  "         lag(new_hi) OVER w AS phi,"
  "         lead(id) OVER w IS NULL AS last_of_kind"
  "    FROM l WHERE kind IS NOT NULL"
  "  WINDOW w AS (PARTITION BY method, kind, owner, gen ORDER BY id)),"
  /* a value as the view shows it: a range, a version, or a number */
  " v AS ("
  "  SELECT *, CASE WHEN old_lo IS NULL AND old_hi IS NULL THEN 'none'"
  "                 WHEN kind IN ('drain', 'drain_default', 'log_rows',"
  "                               'log_days') THEN rpcver_quote(old_hi)"
  "                 WHEN old_lo IS NULL THEN rpcver_text(old_hi)"
  "                 ELSE printf('[%s, %s]', rpcver_text(old_lo),"
  "                             rpcver_text(old_hi)) END AS oldv,"
  "            CASE WHEN plo IS NULL AND phi IS NULL THEN 'none'"
  "                 WHEN kind IN ('drain', 'drain_default', 'log_rows',"
  "                               'log_days') THEN rpcver_quote(phi)"
  "                 WHEN plo IS NULL THEN rpcver_text(phi)"
  "                 ELSE printf('[%s, %s]', rpcver_text(plo),"
  "                             rpcver_text(phi)) END AS prevv"
  "    FROM c),"
  /* the last row of each kind, in the method's current generation */
  " last AS ("
  "  SELECT c.* FROM c WHERE last_of_kind AND gen = gens)"
  "SELECT printf('rpc_meta: the event log''s %s is %s; it must be a whole "
  "number >= 0 (SELECT rpc_log_keep(rows, days) sets it)', k,"
  "              rpcver_quote(v))"
  "  FROM (SELECT k, (SELECT value FROM main.rpc_meta WHERE key = k) AS v"
  "          FROM (SELECT 'log_rows' AS k UNION ALL SELECT 'log_days'))"
  " WHERE NOT (typeof(v) = 'integer' AND v >= 0) "
  "UNION ALL "
  "SELECT printf('rpc_log row %d: event %s is not one rpcver writes',"
  "              id, rpcver_quote(event))"
  "  FROM l WHERE kind IS NULL AND event IS NOT 'forgotten' "
  "UNION ALL "
  /* a time the timeline cannot place (a text, Inf, before 1970 or after
  ** 9999) was not written by unixepoch()'s clock */
  "SELECT printf('rpc_log row %d: its time %s is not one rpcver writes "
  "(unix seconds, from 1970 to 9999)', id, rpcver_quote(time))"
  "  FROM l WHERE NOT (typeof(time) IN ('integer', 'real') AND time >= 0"
  "                    AND time < 253402300800) "
  "UNION ALL "
  "SELECT printf('rpc_log: %d row(s) between rows %d and %d are missing; "
  "rows leave the log only from its old end (rpc_log_keep), so they were "
  "deleted', max(id) - min(id) + 1 - count(*), min(id), max(id))"
  "  FROM main.rpc_log HAVING max(id) - min(id) + 1 <> count(*) "
  "UNION ALL "
  "SELECT printf('rpc_log row %d (%s%s%s): its old value %s does not "
  "follow row %d''s new value %s', id, event,"
  "              iif(method IS NULL, '', ' of method ' || rpcver_quote(method)),"
  "              iif(who IS NULL, '', ' by ' || rpcver_quote(who)),"
  "              oldv, pid, prevv)"
  "  FROM v WHERE pid IS NOT NULL"
  "   AND (old_lo IS NOT plo OR old_hi IS NOT phi) "
  /* the last rows against the state */
  "UNION ALL "
  "SELECT printf('rpc_log row %d: its registration of %s for method %s, %s, "
  "is not what rpc_%s says: %s', x.id, rpcver_quote(x.who),"
  "              rpcver_quote(x.method),"
  "              iif(x.new_hi IS NULL, 'none',"
  "                  printf('[%s, %s]', rpcver_text(x.new_lo),"
  "                         rpcver_text(x.new_hi))),"
  "              iif(x.kind = 'receiver', 'ranges', 'sender_ranges'),"
  "              iif(x.hi IS NULL, 'none', printf('[%s, %s]',"
  "                  rpcver_text(x.lo), rpcver_text(x.hi))))"
  "  FROM (SELECT last.*, coalesce(r.lo, s.lo) AS lo, coalesce(r.hi, s.hi) AS hi"
  "          FROM last"
  "          LEFT JOIN main.rpc_ranges AS r ON last.kind = 'receiver'"
  "               AND r.manager = last.who AND r.method = last.method"
  "          LEFT JOIN main.rpc_sender_ranges AS s ON last.kind = 'sender'"
  "               AND s.sender = last.who AND s.method = last.method"
  "         WHERE last.kind IN ('receiver', 'sender')) AS x"
  " WHERE x.new_lo IS NOT x.lo OR x.new_hi IS NOT x.hi "
  "UNION ALL "
  "SELECT printf('rpc_log row %d: method %s''s %s is %s by the log, %s in "
  "rpc_methods', x.id, rpcver_quote(x.method), x.kind,"
  "              CASE WHEN x.logged IS NULL THEN 'none'"
  "                   WHEN x.kind = 'drain' THEN x.logged"
  "                   ELSE rpcver_text(x.logged) END,"
  "              CASE WHEN x.state IS NULL THEN 'none'"
  "                   WHEN x.kind = 'drain' THEN x.state"
  "                   ELSE rpcver_text(x.state) END)"
  "  FROM (SELECT last.id, last.method, last.kind, last.new_hi AS logged,"
  "               CASE last.kind"
  "                 WHEN 'negotiated' THEN m.negotiated"
  "                 WHEN 'newest' THEN m.newest"
  "                 WHEN 'floor' THEN m.floor"
  "                 WHEN 'pin' THEN m.pin"
  "                 WHEN 'drain' THEN m.drain END AS state"
  "          FROM last JOIN main.rpc_methods AS m USING (method)"
  "         WHERE last.kind IN ('negotiated', 'newest', 'floor', 'pin',"
  "                             'drain')) AS x"
  " WHERE x.logged IS NOT x.state "
  "UNION ALL "
  "SELECT printf('rpc_log row %d: method %s''s in-flight envelope is "
  "[%s, %s] until %s by the log, [%s, %s] until %s in rpc_methods', last.id,"
  "              rpcver_quote(last.method), rpcver_text(last.new_lo),"
  "              rpcver_text(last.new_hi), rpcver_quote(last.at),"
  "              rpcver_text(m.inflight_lo), rpcver_text(m.inflight_hi),"
  "              rpcver_quote(m.inflight_until))"
  "  FROM last JOIN main.rpc_methods AS m USING (method)"
  " WHERE last.kind = 'in_flight'"
  "   AND (last.new_lo IS NOT m.inflight_lo OR last.new_hi IS NOT m.inflight_hi"
  "        OR last.at IS NOT m.inflight_until) "
  "UNION ALL "
  "SELECT printf('rpc_log row %d: the setting %s is %s by the log, %s in "
  "rpc_meta', last.id, last.kind, rpcver_quote(last.new_hi),"
  "              rpcver_quote(t.value))"
  "  FROM last JOIN main.rpc_meta AS t ON t.key = last.kind"
  " WHERE last.kind IN ('drain_default', 'log_rows', 'log_days')"
  "   AND last.new_hi IS NOT t.value";

int rv_verify_log(RpcConn *p, sqlite3_str *pStr, int *pnLine){
  sqlite3_stmt *pStmt;
  sqlite3_int64 v, rev;
  char *zErr = 0;
  int rc = rv_schema_stored(p, &v, &rev, &zErr);
  sqlite3_free(zErr);
  /* a database at an older revision has no log until its next write; a
  ** damaged rpc_meta (rc SQLITE_CORRUPT) leaves the revision unknown, and
  ** the audit has reported it already */
  if( rc==SQLITE_CORRUPT ) return SQLITE_OK;
  if( rc!=SQLITE_OK || rev<LOG_REVISION ) return rc;
  rc = rv_conn_stmt(p, RPC_STMT_VERIFY_LOG, zVerifyLogSql, &pStmt);
  if( rc!=SQLITE_OK ) return rc;
  while( (rc = sqlite3_step(pStmt))==SQLITE_ROW ){
    char *zLine;
    if( *pnLine>=RPC_VERIFY_LINES_MAX ){
      sqlite3_str_appendall(pStr, "... more differences not shown\n");
      break;
    }
    zLine = rv_printable((const char*)sqlite3_column_text(pStmt, 0),
                         sqlite3_column_bytes(pStmt, 0), 1000);
    sqlite3_str_appendf(pStr, "%s\n", zLine);
    sqlite3_free(zLine);
    (*pnLine)++;
  }
  rc = sqlite3_reset(pStmt);
  if( rc!=SQLITE_OK ) rv_conn_stmt_drop(p, RPC_STMT_VERIFY_LOG);
  return rc;
}
