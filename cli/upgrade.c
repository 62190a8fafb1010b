/*
** upgrade-check: is the upgrade finished, and is nothing blocking it?  For a
** deploy pipeline, like `nova-status upgrade check`: one result per check,
** exit 0 when all succeed, 1 with warnings only, 2 with any failure.
**
**   consistency      Failure  rpc_verify() is not 'ok'
**   blocked methods  Failure  methods in state 'blocked'
**   laggards         Failure  receivers below the newest version
**   stale managers   Warning  managers not seen for more than --stale s
**   pins             Warning  pins left in place
**
** Every query runs in one read transaction: one consistent snapshot.
*/
#include "cli.h"
#include <string.h>

typedef struct Check Check;
struct Check {
  const char *zName;
  int result;              /* RC_OK, RC_WARNING or RC_FAILURE */
  char *zSummary;
  char *zHint;             /* what to do; NULL on success */
  Table t;                 /* the details, one row per problem */
};

#define N_CHECK 5
#define INDENT "         "  /* under the 7-letter result and 2 spaces */

static const char *result_word(int result, int lower){
  static const char *const az[] = {
    "Success", "Warning", "Failure", "success", "warning", "failure"
  };
  return az[result + (lower ? 3 : 0)];
}

/* Splits rpc_verify()'s lines into rows; none when it says 'ok'. */
static const char zVerifySql[] =
  "WITH RECURSIVE split(line, rest) AS ("
  "  SELECT NULL, rpc_verify() || char(10)"
  "  UNION ALL"
  "  SELECT substr(rest, 1, instr(rest, char(10)) - 1),"
  "         substr(rest, instr(rest, char(10)) + 1)"
  "    FROM split WHERE rest <> '')"
  "SELECT line AS problem FROM split WHERE line IS NOT NULL AND line <> 'ok'";

static const char zBlockedSql[] =
  "SELECT method, receivers, floor, pin FROM rpc_status"
  " WHERE state = 'blocked' ORDER BY method";

static const char zStaleSql[] =
  "SELECT m.manager,"
  "       (SELECT group_concat(method, ', ') FROM"
  "          (SELECT method FROM rpc_ranges WHERE manager = m.manager"
  "            ORDER BY method)) AS methods,"
  "       m.last_seen, unixepoch() - m.last_seen AS age_seconds"
  "  FROM rpc_managers AS m WHERE m.last_seen < unixepoch() - ?1"
  " ORDER BY m.last_seen, m.manager";
static const int aStaleFlag[] = { 0, 0, COL_JSON_ONLY, COL_AGE };
static const char *const azStaleHead[] = { 0, 0, 0, "last_seen" };

static const char zPinsSql[] =
  "SELECT p.method, p.version AS pin, s.negotiated, s.newest"
  "  FROM rpc_pins AS p JOIN rpc_status AS s USING (method)"
  " ORDER BY p.method";

static int run_checks(Cli *cli, Check *a, const char *zStale){
  const char *azBind[1];
  sqlite3_int64 n;
  int rc;
  azBind[0] = zStale;

  a[0].zName = "consistency";
  rc = cli_load(cli, &a[0].t, zVerifySql, 0, 0, 0, 0);
  if( rc ) return rc;
  n = a[0].t.nRow;
  if( n==0 ){
    a[0].zSummary = sqlite3_mprintf("rpc_verify() is ok");
  }else{
    a[0].result = RC_FAILURE;
    a[0].zSummary = sqlite3_mprintf("rpc_verify() reports %lld %s between "
        "the per-method state and the registrations", n,
        cli_plural(n, "difference", "differences"));
    a[0].zHint = sqlite3_mprintf("the database was edited by hand or "
        "damaged; keep a copy and report it before upgrading further");
  }

  a[1].zName = "blocked methods";
  rc = cli_load(cli, &a[1].t, zBlockedSql, 0, 0, 0, 0);
  if( rc ) return rc;
  n = a[1].t.nRow;
  if( n==0 ){
    a[1].zSummary = sqlite3_mprintf("no method is blocked");
  }else{
    a[1].result = RC_FAILURE;
    a[1].zSummary = sqlite3_mprintf("%lld %s no version every receiver "
        "accepts: senders cannot send", n,
        cli_plural(n, "method has", "methods have"));
    a[1].zHint = sqlite3_mprintf("rpcver explain METHOD names the receivers;"
        " upgrade them or unregister the ones that are gone");
  }

  a[2].zName = "laggards";
  rc = cli_load(cli, &a[2].t, cli_laggards_sql, 0, 0, cli_laggards_flag,
                cli_laggards_head);
  if( rc ) return rc;
  n = a[2].t.nRow;
  if( n==0 ){
    a[2].zSummary = sqlite3_mprintf("every receiver accepts the newest "
        "version of its method");
  }else{
    a[2].result = RC_FAILURE;
    a[2].zSummary = sqlite3_mprintf("%lld %s below the newest version: the "
        "upgrade is unfinished", n, cli_plural(n, "receiver", "receivers"));
    a[2].zHint = sqlite3_mprintf("upgrade them; remove managers that are "
        "gone with rpcver unregister MANAGER");
  }

  a[3].zName = "stale managers";
  rc = cli_load(cli, &a[3].t, zStaleSql, 1, azBind, aStaleFlag, azStaleHead);
  if( rc ) return rc;
  n = a[3].t.nRow;
  if( n==0 ){
    a[3].zSummary = sqlite3_mprintf("every manager was seen in the last %s "
        "seconds", zStale);
  }else{
    a[3].result = RC_WARNING;
    a[3].zSummary = sqlite3_mprintf("%lld %s not seen for more than %s "
        "seconds", n, cli_plural(n, "manager", "managers"), zStale);
    a[3].zHint = sqlite3_mprintf("if they are gone: rpcver expire %s (or "
        "rpcver unregister MANAGER); running services should call "
        "rpc_heartbeat()", zStale);
  }

  a[4].zName = "pins";
  rc = cli_load(cli, &a[4].t, zPinsSql, 0, 0, 0, 0);
  if( rc ) return rc;
  n = a[4].t.nRow;
  if( n==0 ){
    a[4].zSummary = sqlite3_mprintf("no pins");
  }else{
    a[4].result = RC_WARNING;
    a[4].zSummary = sqlite3_mprintf("%lld %s in place: senders stay at the "
        "pinned version", n, cli_plural(n, "pin", "pins"));
    a[4].zHint = sqlite3_mprintf("when the upgrade is done, clear each with "
        "rpcver pin METHOD none");
  }
  return RC_OK;
}

static void print_text(const Check *a, int result, int nFail, int nWarn){
  int i;
  for(i=0; i<N_CHECK; i++){
    cli_printf(stdout, "%s  %s: %s\n", result_word(a[i].result, 0),
               a[i].zName, a[i].zSummary);
    if( a[i].t.nRow ) table_print_text(&a[i].t, INDENT, stdout);
    if( a[i].zHint ) cli_printf(stdout, INDENT "-> %s\n", a[i].zHint);
  }
  printf("Result: %s", result_word(result, 0));
  if( result==RC_OK ){
    printf(": the upgrade is finished\n");
  }else{
    printf(" (%d %s, %d %s)\n", nFail, cli_plural(nFail, "failure",
           "failures"), nWarn, cli_plural(nWarn, "warning", "warnings"));
  }
}

static void print_json(const Check *a, int result, const char *zStale){
  int i;
  printf("{\"result\": \"%s\", \"exit_code\": %d, \"stale_seconds\": %s,"
         " \"checks\": [\n", result_word(result, 1), result, zStale);
  for(i=0; i<N_CHECK; i++){
    fputs("  {\"check\": ", stdout);
    json_string(a[i].zName, stdout);
    printf(", \"result\": \"%s\", \"summary\": ",
           result_word(a[i].result, 1));
    json_string(a[i].zSummary, stdout);
    fputs(", \"hint\": ", stdout);
    json_string(a[i].zHint, stdout);
    fputs(", \"details\": ", stdout);
    table_print_json(&a[i].t, 0, stdout);
    fputs(i<N_CHECK-1 ? "},\n" : "}\n", stdout);
  }
  fputs("]}\n", stdout);
}

int cmd_upgrade_check(Cli *cli, int nArg, char **azArg){
  Check a[N_CHECK];
  const char *zStale = cli->zStale ? cli->zStale : "600";
  int rc, i, nFail = 0, nWarn = 0, result = RC_OK;
  (void)nArg; (void)azArg;
  memset(a, 0, sizeof(a));
  rc = cli_exec(cli, "BEGIN");
  if( rc==RC_OK ) rc = run_checks(cli, a, zStale);
  rc = cli_end_transaction(cli, rc);
  for(i=0; rc==RC_OK && i<N_CHECK; i++){
    if( a[i].zSummary==0 ){
      fputs("rpcver: out of memory\n", stderr);
      rc = RC_ERROR;
    }
    if( a[i].result==RC_FAILURE ) nFail++;
    if( a[i].result==RC_WARNING ) nWarn++;
    if( a[i].result>result ) result = a[i].result;
  }
  if( rc==RC_OK ){
    if( cli->json ) print_json(a, result, zStale);
    else print_text(a, result, nFail, nWarn);
    rc = result;
  }
  for(i=0; i<N_CHECK; i++){
    sqlite3_free(a[i].zSummary);
    sqlite3_free(a[i].zHint);
    table_free(&a[i].t);
  }
  return rc;
}
