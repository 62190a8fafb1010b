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

/*
** One check: a query whose rows are the problems it finds, and how its
** result is worded.  The wordings are templates: {n} is the number of
** rows, {stale} the --stale seconds, and {one|many} picks the singular or
** the plural by {n}.
*/
typedef struct Check Check;
struct Check {
  const char *zName;
  const char *zSql;        /* one row per problem */
  int bindStale;           /* ?1 is the --stale seconds */
  const int *aFlag;        /* the details' column flags (table_load) */
  const char *const *azHead;
  int problem;             /* with rows: RC_FAILURE or RC_WARNING */
  const char *zSuccess;    /* the summary without rows */
  const char *zProblem;    /* the summary with rows */
  const char *zHint;       /* what to do, with rows */
};

/* What one check found. */
typedef struct Finding Finding;
struct Finding {
  int result;              /* RC_OK, RC_WARNING or RC_FAILURE */
  char *zSummary;
  char *zHint;             /* NULL on success */
  Table t;                 /* the details, one row per problem */
};

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

/* The checks, in the order they are printed (upgrade-check --help). */
static const Check aCheck[] = {
  { "consistency", zVerifySql, 0, 0, 0, RC_FAILURE,
    "rpc_verify() is ok",
    "rpc_verify() reports {n} {difference|differences} between the "
    "per-method state and the registrations",
    "the database was edited by hand or damaged; keep a copy and report it "
    "before upgrading further" },
  { "blocked methods", zBlockedSql, 0, 0, 0, RC_FAILURE,
    "no method is blocked",
    "{n} {method has|methods have} no version every receiver accepts: "
    "senders cannot send",
    "rpcver explain METHOD names the receivers; upgrade them or unregister "
    "the ones that are gone" },
  { "laggards", cli_laggards_sql, 0, cli_laggards_flag, cli_laggards_head,
    RC_FAILURE,
    "every receiver accepts the newest version of its method",
    "{n} {receiver|receivers} below the newest version: the upgrade is "
    "unfinished",
    "upgrade them; remove managers that are gone with rpcver unregister "
    "MANAGER" },
  { "stale managers", zStaleSql, 1, aStaleFlag, azStaleHead, RC_WARNING,
    "every manager was seen in the last {stale} seconds",
    "{n} {manager|managers} not seen for more than {stale} seconds",
    "if they are gone: rpcver expire {stale} (or rpcver unregister MANAGER);"
    " running services should call rpc_heartbeat()" },
  { "pins", zPinsSql, 0, 0, 0, RC_WARNING,
    "no pins",
    "{n} {pin|pins} in place: senders stay at the pinned version",
    "when the upgrade is done, clear each with rpcver pin METHOD none" },
};
#define N_CHECK ((int)(sizeof(aCheck)/sizeof(aCheck[0])))

/* zTemplate with {n}, {stale} and {one|many} filled in; NULL when out of
** memory (no template is empty). */
static char *wording(const char *zTemplate, sqlite3_int64 n,
                     const char *zStale){
  sqlite3_str *pStr = sqlite3_str_new(0);
  const char *z = zTemplate;
  while( *z ){
    const char *zEnd = z[0]=='{' ? strchr(z, '}') : 0;
    const char *zBar;
    int nName;
    if( zEnd==0 ){
      sqlite3_str_appendchar(pStr, 1, *z++);
      continue;
    }
    z++;
    nName = (int)(zEnd - z);
    zBar = memchr(z, '|', (size_t)nName);
    if( zBar ){
      if( n==1 ) sqlite3_str_append(pStr, z, (int)(zBar - z));
      else sqlite3_str_append(pStr, zBar+1, (int)(zEnd - zBar - 1));
    }else if( strncmp(z, "n}", 2)==0 ){
      sqlite3_str_appendf(pStr, "%lld", n);
    }else if( strncmp(z, "stale}", 6)==0 ){
      sqlite3_str_appendall(pStr, zStale);
    }else{
      sqlite3_str_append(pStr, z-1, nName+2);   /* not a placeholder */
    }
    z = zEnd + 1;
  }
  return sqlite3_str_finish(pStr);
}

/* Run every check into a[], in the caller's read transaction. */
static int run_checks(Cli *cli, Finding *a, const char *zStale){
  int i;
  for(i=0; i<N_CHECK; i++){
    const Check *p = &aCheck[i];
    sqlite3_int64 n;
    int rc = cli_load(cli, &a[i].t, p->zSql, p->bindStale ? 1 : 0, &zStale,
                      p->aFlag, p->azHead);
    if( rc ) return rc;
    n = a[i].t.nRow;
    if( n==0 ){
      a[i].zSummary = wording(p->zSuccess, n, zStale);
    }else{
      a[i].result = p->problem;
      a[i].zSummary = wording(p->zProblem, n, zStale);
      a[i].zHint = wording(p->zHint, n, zStale);
    }
  }
  return RC_OK;
}

static void print_text(const Finding *a, int result, int nFail, int nWarn){
  int i;
  for(i=0; i<N_CHECK; i++){
    cli_printf(stdout, "%s  %s: %s\n", result_word(a[i].result, 0),
               aCheck[i].zName, a[i].zSummary);
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

static void print_json(const Finding *a, int result, const char *zStale){
  int i;
  printf("{\"result\": \"%s\", \"exit_code\": %d, \"stale_seconds\": %s,"
         " \"checks\": [\n", result_word(result, 1), result, zStale);
  for(i=0; i<N_CHECK; i++){
    fputs("  {\"check\": ", stdout);
    json_string(aCheck[i].zName, stdout);
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
  Finding a[N_CHECK];
  const char *zStale = cli->zStale ? cli->zStale : "600";
  int rc, i, nFail = 0, nWarn = 0, result = RC_OK;
  (void)nArg; (void)azArg;
  memset(a, 0, sizeof(a));
  rc = cli_exec(cli, "BEGIN");
  if( rc==RC_OK ) rc = run_checks(cli, a, zStale);
  rc = cli_end_transaction(cli, rc);
  for(i=0; rc==RC_OK && i<N_CHECK; i++){
    if( a[i].zSummary==0 || (a[i].result!=RC_OK && a[i].zHint==0) ){
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
