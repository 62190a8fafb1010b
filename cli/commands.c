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

int cmd_status(Cli *cli, int nArg, char **azArg){
  Table t;
  (void)nArg; (void)azArg;
  if( cli_load(cli, &t,
                "SELECT method, receivers, negotiated, newest, pin, floor,"
                "       state FROM rpc_status", 0, 0, 0, 0) ){
    return RC_ERROR;
  }
  print_table(cli, &t, "no methods: nothing is registered or pinned");
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

int cmd_unregister(Cli *cli, int nArg, char **azArg){
  Table t;
  const char *zMethod = nArg>1 ? azArg[1] : 0;
  sqlite3_int64 n;
  int rc;
  if( cli_exec(cli, "BEGIN IMMEDIATE") ) return RC_ERROR;
  rc = cli_load(cli, &t, nArg>1 ? "SELECT rpc_unregister(?1, ?2)"
                                : "SELECT rpc_unregister(?1)",
                nArg, (const char *const*)azArg, 0, 0);
  rc = cli_end_transaction(cli, rc);
  if( rc ){
    table_free(&t);
    return rc;
  }
  n = cli_cell(&t, 0, 0) ? strtoll(cli_cell(&t, 0, 0), 0, 10) : 0;
  if( cli->json ){
    fputs("{\"manager\": ", stdout);
    json_string(azArg[0], stdout);
    fputs(", \"method\": ", stdout);
    json_string(zMethod, stdout);
    printf(", \"removed\": %lld}\n", (long long)n);
  }else if( n==0 && zMethod ){
    cli_printf(stdout, "removed 0 registrations: manager %s has none for "
               "method %s\n", azArg[0], zMethod);
  }else if( n==0 ){
    cli_printf(stdout, "removed 0 registrations: manager %s has none\n",
               azArg[0]);
  }else{
    cli_printf(stdout, "removed %lld %s of manager %s", (long long)n,
               cli_plural(n, "registration", "registrations"), azArg[0]);
    if( zMethod ) cli_printf(stdout, " for method %s", zMethod);
    fputc('\n', stdout);
  }
  table_free(&t);
  return RC_OK;
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
    const char *z = cli_cell(&before, i, 0);
    int c = 1;
    while( j<after.nRow && (c = strcmp(cli_cell(&after, j, 0), z))<0 ) j++;
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
