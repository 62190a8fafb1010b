/*
** The subcommands.  Reads run in one read transaction (a consistent
** snapshot); writes call rpcver's write function in BEGIN IMMEDIATE ...
** COMMIT, where the connection's 5 s busy timeout applies.
*/
#include "cli.h"
#include <stdlib.h>
#include <string.h>

const char *cli_plural(sqlite3_int64 n, const char *zOne,
                       const char *zMany){
  return n==1 ? zOne : zMany;
}

int cli_writes(const Cli *cli, int nArg){
  (void)cli; (void)nArg;
  return 1;
}

/* Print a whole table: JSON, or text with zEmpty for no rows. */
static void print_table(Cli *cli, const Table *t, const char *zEmpty){
  if( cli->json ){
    table_print_json(t, 1, stdout);
  }else if( t->nRow==0 ){
    printf("%s\n", zEmpty);           /* the CLI's own sentence */
  }else{
    table_print_text(t, "", stdout);
  }
}

/* ------------------------------------------------------------- status */

/* rpc_status as it is, with the versions a drain under way is about
** (rpc_in_flight).  JSON has the views' columns in the view's order, so
** that what read the first seven reads them still; text shows senders next
** to receivers, the seconds left as "draining" and, under the table, a
** line for each method with a drain under way saying what may be in
** flight. */
static const char zStatusSql[] =
  "SELECT s.method, s.receivers, s.senders, s.negotiated, s.newest, s.pin,"
  "       s.floor, s.state, s.senders, s.drain_left, f.in_flight_lo,"
  "       f.in_flight_hi, nullif(s.drain_left, 0) AS draining"
  "  FROM rpc_status AS s LEFT JOIN rpc_in_flight AS f USING (method)"
  " ORDER BY s.method";
/* a database whose schema predates senders and drain windows: none */
static const char zStatusOldSql[] =
  "SELECT method, receivers, NULL AS senders, negotiated, newest, pin, floor,"
  "       state, NULL AS senders, NULL AS drain_left, NULL AS in_flight_lo,"
  "       NULL AS in_flight_hi, NULL AS draining"
  "  FROM rpc_status ORDER BY method";
static const int aStatusFlag[] = {
  0, 0, COL_TEXT_ONLY, 0, 0, 0, 0, 0, COL_JSON_ONLY, COL_JSON_ONLY,
  COL_JSON_ONLY, COL_JSON_ONLY, COL_TEXT_ONLY|COL_DURATION
};
#define STATUS_DRAIN_LEFT 9
#define STATUS_IN_FLIGHT_LO 10

/* "volume: 3.0 to 3.16 may be in flight for 41s more; ..." */
static void print_in_flight(const char *zMethod, const char *zLo,
                            const char *zHi, const char *zLeft){
  char zAge[40];
  format_age(zLeft ? strtoll(zLeft, 0, 10) : 0, zAge, sizeof(zAge));
  cli_printf(stdout, "%s: %s to %s may be in flight for %s more; new "
             "receivers must accept it\n", zMethod, zLo, zHi, zAge);
}

/* The in-flight lines of the rows of t with a drain under way, after a
** blank line under a table. */
static void print_drains(const Table *t, int iLo, int iLeft, int blank){
  int i, nShown = 0;
  for(i=0; i<t->nRow; i++){
    if( cli_cell(t, i, iLo)==0 ) continue;
    if( blank && nShown++==0 ) fputc('\n', stdout);
    print_in_flight(cli_cell(t, i, 0), cli_cell(t, i, iLo),
                    cli_cell(t, i, iLo+1), cli_cell(t, i, iLeft));
  }
}

int cmd_status(Cli *cli, int nArg, char **azArg){
  Table t;
  int has;
  (void)nArg; (void)azArg;
  if( cli_in_flight_schema(cli, &has) ) return RC_ERROR;
  if( cli_load(cli, &t, has ? zStatusSql : zStatusOldSql, 0, 0, aStatusFlag,
               0) ){
    return RC_ERROR;
  }
  print_table(cli, &t, "no methods: nothing is registered or pinned");
  if( !cli->json ){
    print_drains(&t, STATUS_IN_FLIGHT_LO, STATUS_DRAIN_LEFT, 1);
  }
  table_free(&t);
  return RC_OK;
}

/* ----------------------------------------------------------- laggards */

const char cli_laggards_sql[] =
  "SELECT l.manager, l.method, l.hi, l.newest, g.last_seen,"
  "       unixepoch() - g.last_seen AS age_seconds"
  "  FROM rpc_laggards AS l LEFT JOIN rpc_managers AS g USING (manager)"
  " ORDER BY l.method, rpc_version_key(l.hi), l.manager";
const int cli_laggards_flag[] = { 0, 0, 0, 0, COL_JSON_ONLY, COL_AGE };
const char *const cli_laggards_head[] = {
  0, 0, 0, 0, 0, "last_seen"
};

int cmd_laggards(Cli *cli, int nArg, char **azArg){
  Table t;
  (void)nArg; (void)azArg;
  if( cli_load(cli, &t, cli_laggards_sql, 0, 0, cli_laggards_flag,
               cli_laggards_head) ){
    return RC_ERROR;
  }
  print_table(cli, &t, "no laggards: every receiver accepts the newest "
              "version of its method");
  table_free(&t);
  return RC_OK;
}

/* ------------------------------------------------------------ explain */

int cmd_explain(Cli *cli, int nArg, char **azArg){
  Table t;
  (void)nArg;
  if( cli_load(cli, &t, "SELECT rpc_explain(?1) AS explain", 1,
                (const char *const*)azArg, 0, 0) ){
    return RC_ERROR;
  }
  if( cli->json ){
    fputs("{\"method\": ", stdout);
    json_string(azArg[0], stdout);
    fputs(", \"explain\": ", stdout);
    json_string(cli_cell(&t, 0, 0), stdout);
    fputs("}\n", stdout);
  }else{
    /* rpc_explain's lines: newlines kept, nothing else passes raw */
    cli_put_safe(cli_cell(&t, 0, 0) ? cli_cell(&t, 0, 0) : "", 1, stdout);
    fputc('\n', stdout);
  }
  table_free(&t);
  return RC_OK;
}

/* ---------------------------------------------------------------- pin */

int cmd_pin(Cli *cli, int nArg, char **azArg){
  const char *zMethod = azArg[0];
  int unpin = sqlite3_stricmp(azArg[1], "none")==0;
  Table before, result, after;
  const char *zPinSql = unpin ? "SELECT rpc_pin(?1, NULL) AS negotiated"
                              : "SELECT rpc_pin(?1, ?2) AS negotiated";
  const char *zNeg, *zPin;
  int rc;
  (void)nArg;
  memset(&after, 0, sizeof(after));
  if( cli_exec(cli, "BEGIN IMMEDIATE") ) return RC_ERROR;
  rc = cli_load(cli, &before,
                "SELECT version FROM rpc_pins WHERE method = ?1",
                1, (const char *const*)azArg, 0, 0);
  if( rc ) return cli_end_transaction(cli, rc);
  rc = cli_load(cli, &result, zPinSql, unpin ? 1 : 2,
                (const char *const*)azArg, 0, 0);
  table_free(&result);
  if( rc==RC_OK ){
    rc = cli_load(cli, &after,
                  "SELECT p.version, s.negotiated"
                  "  FROM (SELECT ?1 AS method) AS x"
                  "  LEFT JOIN rpc_pins AS p USING (method)"
                  "  LEFT JOIN rpc_status AS s USING (method)",
                  1, (const char *const*)azArg, 0, 0);
  }
  rc = cli_end_transaction(cli, rc);
  if( rc ){
    table_free(&after);
    table_free(&before);
    return rc;
  }
  zPin = cli_cell(&after, 0, 0);
  zNeg = cli_cell(&after, 0, 1);
  if( cli->json ){
    fputs("{\"method\": ", stdout);
    json_string(zMethod, stdout);
    fputs(", \"pin\": ", stdout);
    json_string(zPin, stdout);
    fputs(", \"previous_pin\": ", stdout);
    json_string(before.nRow ? cli_cell(&before, 0, 0) : 0, stdout);
    fputs(", \"negotiated\": ", stdout);
    json_string(zNeg, stdout);
    fputs("}\n", stdout);
  }else if( !unpin ){
    cli_printf(stdout, "pinned %s to %s; negotiated is now %s\n", zMethod,
               zPin, zNeg ? zNeg : "none");
  }else if( before.nRow ){
    cli_printf(stdout, "unpinned %s (was %s); negotiated is now %s\n",
               zMethod, cli_cell(&before, 0, 0), zNeg ? zNeg : "none");
  }else{
    cli_printf(stdout, "%s had no pin; negotiated is %s\n", zMethod,
               zNeg ? zNeg : "none");
  }
  table_free(&after);
  table_free(&before);
  return RC_OK;
}

/* --------------------------------------------------------- unregister */

/* unregister and unregister-sender: zWho is "manager" or "sender", zCall
** the SQL of its function with one and with two arguments. */
static int unregister_common(Cli *cli, int nArg, char **azArg,
                             const char *zWho, const char *zCall1,
                             const char *zCall2){
  Table t;
  const char *zMethod = nArg>1 ? azArg[1] : 0;
  sqlite3_int64 n;
  int rc;
  if( cli_exec(cli, "BEGIN IMMEDIATE") ) return RC_ERROR;
  rc = cli_load(cli, &t, nArg>1 ? zCall2 : zCall1,
                nArg, (const char *const*)azArg, 0, 0);
  rc = cli_end_transaction(cli, rc);
  if( rc ){
    table_free(&t);
    return rc;
  }
  n = cli_cell(&t, 0, 0) ? strtoll(cli_cell(&t, 0, 0), 0, 10) : 0;
  if( cli->json ){
    printf("{\"%s\": ", zWho);
    json_string(azArg[0], stdout);
    fputs(", \"method\": ", stdout);
    json_string(zMethod, stdout);
    printf(", \"removed\": %lld}\n", (long long)n);
  }else if( n==0 && zMethod ){
    cli_printf(stdout, "removed 0 registrations: %s %s has none for "
               "method %s\n", zWho, azArg[0], zMethod);
  }else if( n==0 ){
    cli_printf(stdout, "removed 0 registrations: %s %s has none\n", zWho,
               azArg[0]);
  }else{
    cli_printf(stdout, "removed %lld %s of %s %s", (long long)n,
               cli_plural(n, "registration", "registrations"), zWho,
               azArg[0]);
    if( zMethod ) cli_printf(stdout, " for method %s", zMethod);
    fputc('\n', stdout);
  }
  table_free(&t);
  return RC_OK;
}

int cmd_unregister(Cli *cli, int nArg, char **azArg){
  return unregister_common(cli, nArg, azArg, "manager",
                           "SELECT rpc_unregister(?1)",
                           "SELECT rpc_unregister(?1, ?2)");
}

int cmd_unregister_sender(Cli *cli, int nArg, char **azArg){
  return unregister_common(cli, nArg, azArg, "sender",
                           "SELECT rpc_unregister_sender(?1)",
                           "SELECT rpc_unregister_sender(?1, ?2)");
}

/* ------------------------------------------------------------- expire */

int cmd_expire(Cli *cli, int nArg, char **azArg){
  static const char zManagers[] =
    "SELECT manager FROM rpc_managers ORDER BY manager";
  Table before, after, res;
  int rc, i, j, nShown;
  sqlite3_int64 n;
  memset(&after, 0, sizeof(after));
  memset(&res, 0, sizeof(res));
  if( cli_exec(cli, "BEGIN IMMEDIATE") ) return RC_ERROR;
  rc = cli_load(cli, &before, zManagers, 0, 0, 0, 0);
  if( rc ) return cli_end_transaction(cli, rc);
  /* The seconds as rpc_expire() read them: text with numeric affinity.
  ** MAX_SHARE, when not given, is NULL: rpc_expire()'s default. */
  rc = cli_load(cli, &res, "SELECT rpc_expire(?1, ?2), CAST(?1 AS NUMERIC)",
                nArg, (const char *const*)azArg, 0, 0);
  if( rc==RC_OK ) rc = cli_load(cli, &after, zManagers, 0, 0, 0, 0);
  rc = cli_end_transaction(cli, rc);
  if( rc ){
    table_free(&before);
    table_free(&res);
    table_free(&after);
    return rc;
  }
  n = cli_cell(&res, 0, 0) ? strtoll(cli_cell(&res, 0, 0), 0, 10) : 0;
  if( cli->json ){
    fputs("{\"seconds\": ", stdout);
    json_number(cli_cell(&res, 0, 1), stdout);
    printf(", \"removed\": %lld, \"managers\": [", (long long)n);
  }else{
    cli_printf(stdout, "removed %lld %s not seen for more than %s seconds",
               (long long)n, cli_plural(n, "manager", "managers"),
               cli_cell(&res, 0, 1));
  }
  /* Both lists are sorted: the removed managers are those only before. */
  for(i=j=0, nShown=0; i<before.nRow; i++){
    /* (a name is never NULL; a node that says otherwise gets "") */
    const char *z = cli_cell(&before, i, 0) ? cli_cell(&before, i, 0) : "";
    int c = 1;
    while( j<after.nRow
        && (c = strcmp(cli_cell(&after, j, 0) ? cli_cell(&after, j, 0) : "",
                       z))<0 ){
      j++;
    }
    if( j<after.nRow && c==0 ) continue;
    if( cli->json ){
      if( nShown ) fputs(", ", stdout);
      json_string(z, stdout);
    }else{
      cli_printf(stdout, "%s%s", nShown ? ", " : ": ", z);
    }
    nShown++;
  }
  fputs(cli->json ? "]}\n" : "\n", stdout);
  table_free(&before);
  table_free(&after);
  table_free(&res);
  return RC_OK;
}

/* -------------------------------------------------------------- check */

int cmd_check(Cli *cli, int nArg, char **azArg){
  Table t;
  const char *zRefusal;
  /* rpc_check comes first: its message is the one for a bad version */
  if( cli_load(cli, &t, nArg>2
                ? "SELECT rpc_check(?1, ?2, ?3), rpc_version_norm(?2),"
                  "       rpc_version_norm(?3)"
                : "SELECT rpc_check(?1, ?2), rpc_version_norm(?2),"
                  "       rpcver_text(rpcver_lo(?2, NULL))",
                nArg, (const char *const*)azArg, 0, 0) ){
    return RC_ERROR;
  }
  zRefusal = cli_cell(&t, 0, 0);
  if( cli->json ){
    fputs("{\"method\": ", stdout);
    json_string(azArg[0], stdout);
    fputs(", \"hi\": ", stdout);
    json_string(cli_cell(&t, 0, 1), stdout);
    fputs(", \"lo\": ", stdout);
    json_string(cli_cell(&t, 0, 2), stdout);
    printf(", \"admitted\": %s, \"refusal\": ", zRefusal ? "false" : "true");
    json_string(zRefusal, stdout);
    fputs("}\n", stdout);
  }else{
    cli_printf(stdout, "%s\n", zRefusal ? zRefusal : "admitted");
  }
  table_free(&t);
  return zRefusal ? RC_WARNING : RC_OK;
}

/* ------------------------------------------------------------ senders */

/* The registered senders, each with what it may send now: its range cut to
** what every receiver accepts, [max(lo, the receivers' highest lo),
** rpc_max_send(method, hi, lo)] (NULL when it may send nothing: the method
** has no receivers). */
static const char zSendersSql[] =
  "SELECT sender, method, lo, hi, last_seen, age_seconds,"
  "       iif(send_hi IS NULL, NULL, send_lo) AS send_lo, send_hi,"
  "       '[' || send_lo || ', ' || send_hi || ']' AS may_send"
  "  FROM (SELECT s.sender, s.method, s.lo, s.hi, s.last_seen,"
  "               unixepoch() - s.last_seen AS age_seconds,"
  "               rpcver_text(max(rpc_version_key(s.lo), m.max_lo))"
  "                 AS send_lo,"
  "               rpc_max_send(s.method, s.hi, s.lo) AS send_hi"
  "          FROM rpc_senders AS s LEFT JOIN rpc_methods AS m USING (method)"
  "         WHERE ?1 IS NULL OR s.method = ?1)"
  " ORDER BY method, rpc_version_key(hi), sender";
static const int aSendersFlag[] = {
  0, 0, 0, 0, COL_JSON_ONLY, COL_AGE, COL_JSON_ONLY, COL_JSON_ONLY,
  COL_TEXT_ONLY
};
static const char *const azSendersHead[] = {
  0, 0, 0, 0, 0, "last_seen", 0, 0, 0
};

int cmd_senders(Cli *cli, int nArg, char **azArg){
  Table t;
  int has;
  (void)nArg; (void)azArg;
  if( cli_in_flight_schema(cli, &has) ) return RC_ERROR;
  if( !has ){
    fputs(cli->json ? "[]\n" : "no senders: this database's rpcver schema "
          "predates sender registrations; rpcver's next write brings them\n",
          stdout);
    return RC_OK;
  }
  if( cli_load(cli, &t, zSendersSql, 1, &cli->zMethod, aSendersFlag,
               azSendersHead) ){
    return RC_ERROR;
  }
  if( t.nRow==0 && !cli->json && cli->zMethod ){
    cli_printf(stdout, "no senders registered for method %s\n",
               cli->zMethod);
  }else{
    print_table(cli, &t, "no senders registered (a service registers with "
                "rpc_register_sender())");
  }
  table_free(&t);
  return RC_OK;
}

/* -------------------------------------------------------------- drain */

int cli_drain_writes(const Cli *cli, int nArg){
  return nArg==2 || cli->zDefault!=0;
}

/* Every method's window in force, its own or the default, and the drain
** under way, if any (rpc_drains, rpc_in_flight). */
static const char zDrainListSql[] =
  "SELECT d.method, d.seconds, d.own, coalesce(f.seconds_left, 0)"
  "       AS drain_left, f.in_flight_lo, f.in_flight_hi,"
  "       iif(d.own, 'own', 'default') AS window,"
  "       nullif(f.seconds_left, 0) AS draining"
  "  FROM rpc_drains AS d LEFT JOIN rpc_in_flight AS f USING (method)"
  " ORDER BY d.method";
static const int aDrainListFlag[] = {
  0, 0, COL_JSON_ONLY, COL_JSON_ONLY, COL_JSON_ONLY, COL_JSON_ONLY,
  COL_TEXT_ONLY, COL_TEXT_ONLY|COL_DURATION
};
/* The same for one method, known or not (rpc_drain() is the window a
** method gets; it checks the name). */
static const char zDrainOneSql[] =
  "SELECT ?1 AS method, rpc_drain(?1) AS seconds, coalesce(d.own, 0) AS own,"
  "       coalesce(f.seconds_left, 0) AS drain_left, f.in_flight_lo,"
  "       f.in_flight_hi"
  "  FROM (SELECT 1) LEFT JOIN rpc_drains AS d ON d.method = ?1"
  "  LEFT JOIN rpc_in_flight AS f ON f.method = ?1";
#define DRAIN_SECONDS 1
#define DRAIN_OWN 2
#define DRAIN_LEFT 3
#define DRAIN_IN_FLIGHT_LO 4

static const char zNoDrains[] =
  "no drain windows: this database's rpcver schema predates them; rpcver's "
  "next write brings them (with the default window, 60 s)\n";

static int own(const Table *t, int iRow){
  const char *z = cli_cell(t, iRow, DRAIN_OWN);
  return z && strcmp(z, "0")!=0;
}

/* rpcver drain: the default and every method's window. */
static int drain_list(Cli *cli){
  Table def, t;
  if( cli_load(cli, &def, "SELECT rpc_drain(NULL)", 0, 0, 0, 0) ){
    return RC_ERROR;
  }
  if( cli_load(cli, &t, zDrainListSql, 0, 0, aDrainListFlag, 0) ){
    table_free(&def);
    return RC_ERROR;
  }
  if( cli->json ){
    fputs("{\"default\": ", stdout);
    json_number(cli_cell(&def, 0, 0), stdout);
    fputs(", \"methods\": ", stdout);
    table_print_json(&t, 0, stdout);
    fputs("}\n", stdout);
  }else{
    cli_printf(stdout, "default drain window: %s s\n", cli_cell(&def, 0, 0));
    if( t.nRow==0 ){
      printf("no methods yet\n");
    }else{
      table_print_text(&t, "", stdout);
      print_drains(&t, DRAIN_IN_FLIGHT_LO, DRAIN_LEFT, 1);
    }
  }
  table_free(&t);
  table_free(&def);
  return RC_OK;
}

/* rpcver drain METHOD: the window in force for it. */
static int drain_show(Cli *cli, char **azArg){
  Table t;
  if( cli_load(cli, &t, zDrainOneSql, 1, (const char *const*)azArg, 0, 0) ){
    return RC_ERROR;
  }
  if( cli->json ){
    table_print_json_row(&t, 0, stdout);
    fputc('\n', stdout);
  }else{
    cli_printf(stdout, "%s: drain window %s s (%s)\n", azArg[0],
               cli_cell(&t, 0, DRAIN_SECONDS),
               own(&t, 0) ? "its own" : "the default");
    print_drains(&t, DRAIN_IN_FLIGHT_LO, DRAIN_LEFT, 0);
  }
  table_free(&t);
  return RC_OK;
}

/* What a new window did to the drain under way (rows of zDrainOneSql
** before and after): a raised window extends it to the new window from
** now, a lowered one never shortens it (the extension's rule). */
static void print_drain_change(const Table *pBefore, const Table *pAfter){
  const char *zLeft = cli_cell(pAfter, 0, DRAIN_LEFT);
  const char *zWasLeft = cli_cell(pBefore, 0, DRAIN_LEFT);
  char zAge[40];
  if( cli_cell(pAfter, 0, DRAIN_IN_FLIGHT_LO)==0 || zLeft==0 ) return;
  format_age(strtoll(zLeft, 0, 10), zAge, sizeof(zAge));
  cli_printf(stdout, "the drain under way %s: %s to %s may be in flight for "
             "%s more\n",
             zWasLeft && strtoll(zLeft, 0, 10)>strtoll(zWasLeft, 0, 10)
               ? "is extended to the new window" : "keeps its end (a lower window "
                 "never shortens it)",
             cli_cell(pAfter, 0, DRAIN_IN_FLIGHT_LO),
             cli_cell(pAfter, 0, DRAIN_IN_FLIGHT_LO+1), zAge);
}

/* rpcver drain METHOD SECONDS|default, in BEGIN IMMEDIATE ... COMMIT. */
static int drain_set(Cli *cli, int has, char **azArg){
  int clear = sqlite3_stricmp(azArg[1], "default")==0;
  Table before, result, after;
  int rc;
  memset(&before, 0, sizeof(before));
  memset(&after, 0, sizeof(after));
  if( cli_exec(cli, "BEGIN IMMEDIATE") ) return RC_ERROR;
  /* (a schema that predates drain windows had none: nothing before) */
  rc = has ? cli_load(cli, &before, zDrainOneSql, 1,
                      (const char *const*)azArg, 0, 0) : RC_OK;
  if( rc==RC_OK ){
    rc = cli_load(cli, &result, clear ? "SELECT rpc_drain(?1, NULL)"
                                      : "SELECT rpc_drain(?1, ?2)",
                  clear ? 1 : 2, (const char *const*)azArg, 0, 0);
    table_free(&result);
  }
  if( rc==RC_OK ){
    rc = cli_load(cli, &after, zDrainOneSql, 1, (const char *const*)azArg,
                  0, 0);
  }
  rc = cli_end_transaction(cli, rc);
  if( rc==RC_OK ){
    const char *zWas = before.nRow ? cli_cell(&before, 0, DRAIN_SECONDS) : 0;
    const char *zWasOwn = before.nRow ? (own(&before, 0) ? "its own"
                                                         : "the default") : 0;
    if( cli->json ){
      fputs("{\"method\": ", stdout);
      json_string(azArg[0], stdout);
      fputs(", \"seconds\": ", stdout);
      json_number(cli_cell(&after, 0, DRAIN_SECONDS), stdout);
      printf(", \"own\": %d, \"previous_seconds\": ", own(&after, 0));
      json_number(zWas, stdout);
      fputs(", \"previous_own\": ", stdout);
      if( zWas ) printf("%d", own(&before, 0)); else fputs("null", stdout);
      fputs(", \"drain_left\": ", stdout);
      json_number(cli_cell(&after, 0, DRAIN_LEFT), stdout);
      fputs("}\n", stdout);
    }else{
      if( !clear ){
        cli_printf(stdout, "drain window of %s set to %s s", azArg[0],
                   cli_cell(&after, 0, DRAIN_SECONDS));
      }else if( zWas==0 || own(&before, 0) ){
        cli_printf(stdout, "drain window of %s back to the default, %s s",
                   azArg[0], cli_cell(&after, 0, DRAIN_SECONDS));
      }else{
        cli_printf(stdout, "%s had no drain window of its own; it has the "
                   "default, %s s", azArg[0],
                   cli_cell(&after, 0, DRAIN_SECONDS));
        zWas = 0;
      }
      if( zWas ) cli_printf(stdout, " (was %s s, %s)", zWas, zWasOwn);
      fputc('\n', stdout);
      print_drain_change(&before, &after);
    }
  }
  table_free(&before);
  table_free(&after);
  return rc;
}

/* rpcver drain --default SECONDS, in BEGIN IMMEDIATE ... COMMIT. */
static int drain_set_default(Cli *cli, int has){
  Table before, after, drains;
  int rc;
  memset(&before, 0, sizeof(before));
  memset(&after, 0, sizeof(after));
  memset(&drains, 0, sizeof(drains));
  if( cli_exec(cli, "BEGIN IMMEDIATE") ) return RC_ERROR;
  rc = has ? cli_load(cli, &before, "SELECT rpc_drain(NULL)", 0, 0, 0, 0)
           : RC_OK;
  if( rc==RC_OK ){
    rc = cli_load(cli, &after, "SELECT rpc_drain(NULL, ?1)", 1,
                  &cli->zDefault, 0, 0);
  }
  /* a raised default extends the drains under way of the methods that use
  ** it: the drains as they are now */
  if( rc==RC_OK ) rc = cli_load(cli, &drains, zDrainListSql, 0, 0, 0, 0);
  rc = cli_end_transaction(cli, rc);
  if( rc==RC_OK ){
    const char *zWas = before.nRow ? cli_cell(&before, 0, 0) : 0;
    if( cli->json ){
      fputs("{\"default\": ", stdout);
      json_number(cli_cell(&after, 0, 0), stdout);
      fputs(", \"previous_default\": ", stdout);
      json_number(zWas, stdout);
      fputs("}\n", stdout);
    }else{
      cli_printf(stdout, "default drain window set to %s s",
                 cli_cell(&after, 0, 0));
      if( zWas ) cli_printf(stdout, " (was %s s)", zWas);
      fputc('\n', stdout);
      print_drains(&drains, DRAIN_IN_FLIGHT_LO, DRAIN_LEFT, 0);
    }
  }
  table_free(&before);
  table_free(&after);
  table_free(&drains);
  return rc;
}

int cmd_drain(Cli *cli, int nArg, char **azArg){
  int has;
  if( cli_in_flight_schema(cli, &has) ) return RC_ERROR;
  if( cli->zDefault ) return drain_set_default(cli, has);
  if( nArg==2 ) return drain_set(cli, has, azArg);
  if( has ) return nArg ? drain_show(cli, azArg) : drain_list(cli);
  if( !cli->json ){
    fputs(zNoDrains, stdout);
  }else if( nArg ){
    fputs("{\"method\": ", stdout);
    json_string(azArg[0], stdout);
    fputs(", \"seconds\": null, \"own\": null, \"drain_left\": null, "
          "\"in_flight_lo\": null, \"in_flight_hi\": null}\n", stdout);
  }else{
    fputs("{\"default\": null, \"methods\": []}\n", stdout);
  }
  return RC_OK;
}
