/*
** upgrade-check: is the upgrade finished, and is nothing blocking it?  For a
** deploy pipeline, like `nova-status upgrade check`: one result per check,
** exit 0 when all succeed, 1 with warnings only, 2 with any failure.
**
**   consistency      Failure  rpc_verify() is not 'ok'
**   blocked methods  Failure  methods in state 'blocked'
**   laggards         Failure  receivers below the newest version
**   sender laggards  Failure  registered senders below the newest version
**   stale managers   Warning  receivers not seen for more than --stale s
**   stale senders    Warning  senders not seen for more than --stale s
**   pins             Warning  pins left in place
**   drains           Warning  drains under way: a rollback must wait
**
** Every query runs in one read transaction: one consistent snapshot.  A
** database whose schema predates senders and drain windows has neither:
** the checks of them find nothing there.
*/
#include "cli.h"
#include <stdlib.h>
#include <string.h>

/*
** One check: a query whose rows are the problems it finds, and how its
** result is worded.  The wordings are templates: {n} is the number of
** rows, {stale} the --stale seconds, {max:COLUMN} the largest value of
** that column of the rows, and {one|many} picks the singular or the plural
** by {n}.
*/
typedef struct Check Check;
struct Check {
  const char *zName;
  const char *zSql;        /* one row per problem */
  int bindStale;           /* ?1 is the --stale seconds */
  int inFlight;            /* reads senders or drains (cli_in_flight_schema) */
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

/* Registered senders below the newest version of their method: the
** receivers cannot drop the versions below it until they are upgraded. */
static const char zSenderLaggardsSql[] =
  "SELECT s.sender, s.method, s.hi, m.newest, s.last_seen,"
  "       unixepoch() - s.last_seen AS age_seconds"
  "  FROM rpc_senders AS s JOIN rpc_status AS m USING (method)"
  " WHERE rpc_version_key(s.hi) < rpc_version_key(m.newest)"
  " ORDER BY s.method, rpc_version_key(s.hi), s.sender";
static const char *const azSenderLaggardsHead[] = {
  0, 0, 0, 0, 0, "last_seen"
};

/* Receivers not seen for ?1 seconds (a process that also sends is listed
** with its senders too, each list with the methods of that role). */
static const char zStaleSql[] =
  "SELECT m.manager,"
  "       (SELECT group_concat(method, ', ') FROM"
  "          (SELECT method FROM rpc_ranges WHERE manager = m.manager"
  "            ORDER BY method)) AS methods,"
  "       m.last_seen, unixepoch() - m.last_seen AS age_seconds"
  "  FROM rpc_managers AS m WHERE m.last_seen < unixepoch() - ?1"
  "   AND EXISTS (SELECT 1 FROM rpc_ranges WHERE manager = m.manager)"
  " ORDER BY m.last_seen, m.manager";
static const int aStaleFlag[] = { 0, 0, COL_JSON_ONLY, COL_AGE };
static const char *const azStaleHead[] = { 0, 0, 0, "last_seen" };

static const char zStaleSendersSql[] =
  "SELECT m.manager AS sender,"
  "       (SELECT group_concat(method, ', ') FROM"
  "          (SELECT method FROM rpc_senders WHERE sender = m.manager"
  "            ORDER BY method)) AS methods,"
  "       m.last_seen, unixepoch() - m.last_seen AS age_seconds"
  "  FROM rpc_managers AS m WHERE m.last_seen < unixepoch() - ?1"
  "   AND EXISTS (SELECT 1 FROM rpc_senders WHERE sender = m.manager)"
  " ORDER BY m.last_seen, m.manager";

/* Drains under way: until each ends, a receiver that does not accept
** every version in flight (an old one, rolled back) is refused. */
static const char zDrainsSql[] =
  "SELECT method, in_flight_lo, in_flight_hi, seconds_left, drain"
  "  FROM rpc_in_flight WHERE seconds_left > 0 ORDER BY method";

static const char zPinsSql[] =
  "SELECT p.method, p.version AS pin, s.negotiated, s.newest"
  "  FROM rpc_pins AS p JOIN rpc_status AS s USING (method)"
  " ORDER BY p.method";

/* The checks, in the order they are printed (upgrade-check --help). */
static const Check aCheck[] = {
  { "consistency", zVerifySql, 0, 0, 0, 0, RC_FAILURE,
    "rpc_verify() is ok",
    "rpc_verify() reports {n} {difference|differences} between the "
    "per-method state and the registrations",
    "the database was edited by hand or damaged; keep a copy and report it "
    "before upgrading further" },
  { "blocked methods", zBlockedSql, 0, 0, 0, 0, RC_FAILURE,
    "no method is blocked",
    "{n} {method has|methods have} no version every receiver accepts: "
    "senders cannot send",
    "rpcver explain METHOD names the receivers; upgrade them or unregister "
    "the ones that are gone" },
  { "laggards", cli_laggards_sql, 0, 0, cli_laggards_flag, cli_laggards_head,
    RC_FAILURE,
    "every receiver accepts the newest version of its method",
    "{n} {receiver|receivers} below the newest version: the upgrade is "
    "unfinished",
    "upgrade them; remove managers that are gone with rpcver unregister "
    "MANAGER" },
  { "sender laggards", zSenderLaggardsSql, 0, 1, cli_laggards_flag,
    azSenderLaggardsHead, RC_FAILURE,
    "every registered sender sends the newest version of its method",
    "{n} {sender sends|senders send} only below the newest version: the "
    "receivers cannot drop the older versions until {it is|they are} "
    "upgraded",
    "upgrade them (they register again with their new range); senders that "
    "are gone: rpcver expire SECONDS, or rpcver unregister-sender SENDER" },
  { "stale managers", zStaleSql, 1, 0, aStaleFlag, azStaleHead, RC_WARNING,
    "every manager was seen in the last {stale} seconds",
    "{n} {manager|managers} not seen for more than {stale} seconds",
    "if they are gone: rpcver expire {stale} (or rpcver unregister MANAGER);"
    " running services should call rpc_heartbeat()" },
  { "stale senders", zStaleSendersSql, 1, 1, aStaleFlag, azStaleHead,
    RC_WARNING,
    "every registered sender was seen in the last {stale} seconds",
    "{n} {sender|senders} not seen for more than {stale} seconds: "
    "receivers are still held to what {it|they} may send",
    "if they are gone: rpcver expire {stale} (or rpcver unregister-sender "
    "SENDER); running senders should call rpc_heartbeat()" },
  { "pins", zPinsSql, 0, 0, 0, 0, RC_WARNING,
    "no pins",
    "{n} {pin|pins} in place: senders stay at the pinned version",
    "when the upgrade is done, clear each with rpcver pin METHOD none" },
  { "drains", zDrainsSql, 0, 1, 0, 0, RC_WARNING,
    "no drain under way",
    "{n} {method is|methods are} draining: a rollback now must wait "
    "{max:seconds_left} s",
    "messages of these versions may still be in flight; until the drain "
    "ends, a receiver that does not accept them all (an old manager rolled "
    "back) is refused. Wait the seconds shown (rpcver status counts them "
    "down), then roll back" },
};
#define N_CHECK ((int)(sizeof(aCheck)/sizeof(aCheck[0])))

/* The largest integer in column zCol of t (0 without rows). */
static sqlite3_int64 column_max(const Table *t, const char *zCol, int nCol){
  sqlite3_int64 mx = 0;
  int i, j;
  for(j=0; j<t->nCol; j++){
    if( (int)strlen(t->azName[j])!=nCol
     || strncmp(t->azName[j], zCol, (size_t)nCol)!=0 ){
      continue;
    }
    for(i=0; i<t->nRow; i++){
      const char *z = cli_cell(t, i, j);
      sqlite3_int64 v = z ? strtoll(z, 0, 10) : 0;
      if( v>mx ) mx = v;
    }
  }
  return mx;
}

/* zTemplate with {n}, {stale}, {max:COLUMN} and {one|many} filled in from
** the rows of t; NULL when out of memory (no template is empty). */
static char *wording(const char *zTemplate, const Table *t,
                     const char *zStale){
  sqlite3_int64 n = t->nRow;
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
    }else if( strncmp(z, "max:", 4)==0 ){
      sqlite3_str_appendf(pStr, "%lld", column_max(t, z+4, nName-4));
    }else{
      sqlite3_str_append(pStr, z-1, nName+2);   /* not a placeholder */
    }
    z = zEnd + 1;
  }
  return sqlite3_str_finish(pStr);
}

/* Run every check into a[], in the caller's read transaction. */
static int run_checks(Cli *cli, Finding *a, const char *zStale){
  int i, has;
  if( cli_in_flight_schema(cli, &has) ) return RC_ERROR;
  for(i=0; i<N_CHECK; i++){
    const Check *p = &aCheck[i];
    int rc;
    if( p->inFlight && !has ){
      /* no senders, no drains: nothing to find (no rows) */
      memset(&a[i].t, 0, sizeof(a[i].t));
      rc = RC_OK;
    }else{
      rc = cli_load(cli, &a[i].t, p->zSql, p->bindStale ? 1 : 0, &zStale,
                    p->aFlag, p->azHead);
    }
    if( rc ) return rc;
    if( a[i].t.nRow==0 ){
      a[i].zSummary = wording(p->zSuccess, &a[i].t, zStale);
    }else{
      a[i].result = p->problem;
      a[i].zSummary = wording(p->zProblem, &a[i].t, zStale);
      a[i].zHint = wording(p->zHint, &a[i].t, zStale);
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
