/*
** rpcver: the operator's command-line tool for rpcver databases.
**
**   rpcver [--json] [--db PATH | -d PATH] SUBCOMMAND [ARGS]
**
** It links the rpcver extension statically (build/librpcver.a, registered
** with sqlite3_auto_extension), so it needs no extension path.  This file:
** options, help texts, opening the database, dispatch.  commands.c has the
** subcommands, output.c the tables and JSON.
*/
#include "cli.h"
#include "rpcver.h"
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define USAGE_HEAD "usage: rpcver [--json] [--db PATH | -d PATH] "

typedef struct Command Command;
struct Command {
  const char *zName;
  int nMin, nMax;          /* positional arguments */
  /* does it write, given its arguments?  (0: it only reads) */
  int (*xWrites)(const Cli*, int);
  int (*xRun)(Cli*, int, char**);
  const char *zArgs;       /* usage after the name */
  const char *zHelp;       /* description and example */
};

static const Command aCommand[] = {
  { "status", 0, 0, 0, cmd_status, "",
    "Shows every method's row of the rpc_status view: how many receivers and\n"
    "registered senders it has, the negotiated version (what senders send),\n"
    "the newest version any receiver accepts, the operator's pin, the floor\n"
    "(the highest version senders may already be using; a new receiver must\n"
    "accept it), the state: steady, upgrading (some receivers below newest),\n"
    "pinned, blocked (no version every receiver accepts) or empty (no\n"
    "receivers), and, while a drain is under way, how long it has left\n"
    "(draining).  NULL is shown as \"-\".\n"
    "\n"
    "A drain is under way after a change narrowed what registered senders\n"
    "may send (a pin, a receiver that dropped old versions, a sender that\n"
    "left): messages of the old range may still be in flight for the drain\n"
    "window.  Under the table, a line for each such method says which\n"
    "versions, and for how long; until then a new receiver (a rollback\n"
    "too) must accept all of them (rpc_in_flight).\n"
    "\n"
    "Example:\n"
    "  $ rpcver --db /var/lib/cinder/rpc.db status\n"
    "  method  receivers  senders  negotiated  newest  pin   floor  state"
    "      draining\n"
    "  ------  ---------  -------  ----------  ------  ----  -----  ---------"
    "  --------\n"
    "  backup          2        1  1.4         1.5     -     1.4    upgrading"
    "  -\n"
    "  volume          2        2  3.10        3.17    3.10  3.10   pinned   "
    "  41s\n"
    "\n"
    "  volume: 3.0 to 3.16 may be in flight for 41s more; new receivers must"
    " accept it\n" },
  { "laggards", 0, 0, 0, cmd_laggards, "",
    "Lists the receivers that hold an upgrade back: those whose highest\n"
    "version (hi) is below the newest version registered for their method\n"
    "(the rpc_laggards view), with how long ago each manager was last seen.\n"
    "Upgrade them; remove the ones that are gone with `rpcver unregister` or\n"
    "`rpcver expire`.\n"
    "\n"
    "Example:\n"
    "  $ rpcver laggards\n"
    "  manager  method  hi    newest  last_seen\n"
    "  -------  ------  ----  ------  ---------\n"
    "  host-b   volume  3.16  3.17    12s ago\n" },
  { "explain", 1, 1, 0, cmd_explain, "METHOD",
    "Prints rpc_explain(METHOD): the method's state, negotiated, newest, pin\n"
    "and floor, each receiver with its range and when it was last seen, who\n"
    "holds the method back and what to do.\n"
    "\n"
    "Example:\n"
    "  $ rpcver explain volume\n"
    "  method 'volume': upgrading, 2 receiver(s)\n"
    "    negotiated 3.16  newest 3.17  pin none  floor 3.16\n"
    "  receivers:\n"
    "    'host-b' [3.0, 3.16] seen 12 s ago  <- below newest: holds the "
    "upgrade back\n"
    "    'host-a' [3.0, 3.17] seen 3 s ago\n"
    "  held back by 1 receiver(s) below the newest version; upgrade them, "
    "or remove stale ones with rpc_unregister / rpc_expire\n" },
  { "pin", 2, 2, cli_writes, cmd_pin, "METHOD VERSION|none",
    "Pins METHOD to VERSION with rpc_pin(), in BEGIN IMMEDIATE ... COMMIT:\n"
    "senders send at most VERSION however far the managers upgrade, and the\n"
    "floor drops to VERSION, so managers that receive VERSION may (re)join.\n"
    "Pin before an upgrade to keep the way back open, or after finalizing\n"
    "to roll back.  `none` clears the pin: negotiated and the floor may\n"
    "rise, and from then on older managers are refused.  A pin below some\n"
    "receiver's lowest version is refused (exit 4); the message names the\n"
    "receiver.  Prints the negotiated version after the change.\n"
    "\n"
    "Examples:\n"
    "  $ rpcver pin volume 3.16\n"
    "  pinned volume to 3.16; negotiated is now 3.16\n"
    "  $ rpcver pin volume none\n"
    "  unpinned volume (was 3.16); negotiated is now 3.17\n" },
  { "unregister", 1, 2, cli_writes, cmd_unregister, "MANAGER [METHOD]",
    "Removes all of MANAGER's registrations, or only the one for METHOD,\n"
    "with rpc_unregister() in BEGIN IMMEDIATE ... COMMIT, and prints how many\n"
    "were removed (0 for an unknown manager: not an error).  For a manager\n"
    "that is gone without unregistering; a running manager registers again\n"
    "when it restarts.\n"
    "\n"
    "Example:\n"
    "  $ rpcver unregister host-x\n"
    "  removed 2 registrations of manager host-x\n" },
  { "unregister-sender", 1, 2, cli_writes, cmd_unregister_sender,
    "SENDER [METHOD]",
    "Removes all of SENDER's registrations, or only the one for METHOD,\n"
    "with rpc_unregister_sender() in BEGIN IMMEDIATE ... COMMIT, and prints\n"
    "how many were removed (0 for an unknown sender: not an error).  For a\n"
    "sender that is gone without unregistering and holds an upgrade back\n"
    "(a receiver refused because it would leave the sender nothing to send,\n"
    "upgrade-check's stale senders).  What it sent may still be in flight:\n"
    "the method's drain window starts.\n"
    "\n"
    "Example:\n"
    "  $ rpcver unregister-sender old-api\n"
    "  removed 1 registration of sender old-api\n" },
  { "expire", 1, 2, cli_writes, cmd_expire, "SECONDS [MAX_SHARE]",
    "Unregisters every manager not seen for more than SECONDS (a number\n"
    ">= 0), with rpc_expire() in BEGIN IMMEDIATE ... COMMIT, and prints how\n"
    "many managers were removed, and which.  Services record themselves as\n"
    "seen when they register and with rpc_heartbeat().\n"
    "\n"
    "It removes nothing, and says why, when that would take more than\n"
    "MAX_SHARE (0 to 1, default 0.5) of some method's receivers: a clock\n"
    "that jumped forward makes every manager look stale at once.  After\n"
    "checking them, MAX_SHARE 1 removes all that are stale.\n"
    "\n"
    "Example:\n"
    "  $ rpcver expire 600\n"
    "  removed 1 manager not seen for more than 600 seconds: host-x\n" },
  { "check", 2, 3, 0, cmd_check, "METHOD HI [LO]",
    "Pre-flight check before deploying a version: would a manager that\n"
    "receives METHOD at versions LO..HI be admitted now?  LO defaults to\n"
    "MAJOR(HI).0.  Prints \"admitted\" (exit 0) or the refusal message the\n"
    "manager would get (exit 1), from rpc_check().\n"
    "\n"
    "Examples:\n"
    "  $ rpcver check volume 3.17\n"
    "  admitted\n"
    "  $ rpcver check volume 3.15; echo $?\n"
    "  rpcver: a manager cannot register method 'volume' with range "
    "[3.0, 3.15]: senders may already be using 3.17 (the method's floor), "
    "which it cannot receive. ...\n"
    "  1\n" },
  { "senders", 0, 0, 0, cmd_senders, "[--method METHOD]",
    "Lists the registered senders (the rpc_senders view), or only those of\n"
    "METHOD: the range each can send (lo, hi), how long ago it was last\n"
    "seen, and what it may send now (may_send): its range cut to what every\n"
    "receiver accepts, up to rpc_max_send(method, hi, lo).  \"-\" there: the\n"
    "method has no receivers.  Senders register with rpc_register_sender();\n"
    "while one is registered, no receiver that would leave it nothing to\n"
    "send is admitted.\n"
    "\n"
    "Example:\n"
    "  $ rpcver senders\n"
    "  sender   method  lo   hi    last_seen  may_send\n"
    "  -------  ------  ---  ----  ---------  -----------\n"
    "  api      backup  1.0  1.5   30s ago    [1.0, 1.5]\n"
    "  old-api  volume  3.0  3.16  30s ago    [3.0, 3.10]\n"
    "  api      volume  3.0  3.17  30s ago    [3.0, 3.10]\n" },
  { "drain", 0, 2, cli_drain_writes, cmd_drain,
    "[METHOD [SECONDS|default] | --default SECONDS]",
    "Shows or sets the drain windows: how long a message of a method may be\n"
    "in flight (a call's timeout, a cast's message TTL).  After a change that\n"
    "narrows what registered senders may send, new receivers must accept\n"
    "the old range too until the window has passed.\n"
    "\n"
    "  drain                      the default window and every method's, and\n"
    "                             the drains under way\n"
    "  drain METHOD               the window in force for METHOD\n"
    "  drain METHOD SECONDS       sets METHOD's own window (0: no drain)\n"
    "  drain METHOD default       METHOD back to the default window\n"
    "  drain --default SECONDS    sets the default window (60 to start with)\n"
    "\n"
    "Setting calls rpc_drain() in BEGIN IMMEDIATE ... COMMIT and prints the\n"
    "window before and after.  A window applies to the next change that\n"
    "narrows what senders may send; a drain under way is never shortened by\n"
    "a lower window, and a raised one extends it to the new window from now\n"
    "(the output says which, and how long the drain has left).  SECONDS is 0\n"
    "to 31536000 (365 days); a bad number or name is refused by rpc_drain()\n"
    "(exit 4) and nothing changes.\n"
    "\n"
    "Examples:\n"
    "  $ rpcver drain\n"
    "  default drain window: 60 s\n"
    "  method  seconds  window   draining\n"
    "  ------  -------  -------  --------\n"
    "  backup       60  default  -\n"
    "  volume      300  own      4m01s\n"
    "\n"
    "  volume: 3.0 to 3.16 may be in flight for 4m01s more; new receivers "
    "must accept it\n"
    "  $ rpcver drain backup 120\n"
    "  drain window of backup set to 120 s (was 60 s, the default)\n"
    "  $ rpcver drain backup default\n"
    "  drain window of backup back to the default, 60 s (was 120 s, its "
    "own)\n" },
  { "upgrade-check", 0, 0, 0, cmd_upgrade_check, "[--stale SECONDS]",
    "Is the upgrade finished, and is nothing blocking it?  For a deploy\n"
    "pipeline, like `nova-status upgrade check`.  Prints one result line per\n"
    "check, with the details of each problem and what to do:\n"
    "\n"
    "  consistency     Failure when rpc_verify() is not 'ok'\n"
    "  blocked methods Failure for methods in state 'blocked' (no version\n"
    "                  every receiver accepts)\n"
    "  laggards        Failure for receivers below the newest version of\n"
    "                  their method (the upgrade is unfinished)\n"
    "  sender laggards Failure for registered senders below the newest\n"
    "                  version of their method (the receivers cannot drop\n"
    "                  the older versions until they are upgraded)\n"
    "  stale managers  Warning for receivers not seen for more than --stale\n"
    "                  SECONDS (default 600), with their age\n"
    "  stale senders   Warning for registered senders not seen for more\n"
    "                  than --stale SECONDS\n"
    "  pins            Warning for pins left in place\n"
    "  drains          Warning for drains under way: a rollback now must\n"
    "                  wait the seconds shown\n"
    "\n"
    "Exit status: 0 every check succeeded, 1 warnings only, 2 at least one\n"
    "failure (3 and 4 as for every subcommand: usage and other errors).\n"
    "\n"
    "Example:\n"
    "  $ rpcver upgrade-check --stale 300\n"
    "  Success  consistency: rpc_verify() is ok\n"
    "  Success  blocked methods: no method is blocked\n"
    "  Failure  laggards: 1 receiver below the newest version: the upgrade "
    "is unfinished\n"
    "           manager  method  hi    newest  last_seen\n"
    "           -------  ------  ----  ------  ---------\n"
    "           host-b   volume  3.16  3.17    12s ago\n"
    "           -> upgrade them; remove managers that are gone with rpcver "
    "unregister MANAGER\n"
    "  Success  sender laggards: every registered sender sends the newest "
    "version of its method\n"
    "  Success  stale managers: every manager was seen in the last 300 "
    "seconds\n"
    "  Success  stale senders: every registered sender was seen in the last "
    "300 seconds\n"
    "  Success  pins: no pins\n"
    "  Success  drains: no drain under way\n"
    "  Result: Failure (1 failure, 0 warnings)\n"
    "  $ echo $?\n"
    "  2\n" },
  { "timeline", 0, 0, 0, cmd_timeline,
    "[--method M] [--since T] --svg FILE [--html FILE]",
    "Draws the upgrade over time from rpcver's event log, as an SVG picture\n"
    "(and with --html, a page with the log's rows below it): per method,\n"
    "negotiated, newest, the floor and a pin as step lines, the receivers\n"
    "stacked by version below them, and marks for pins, expiries and drain\n"
    "windows.  --method draws one method; --since starts at unix seconds, a\n"
    "UTC time 'YYYY-MM-DD HH:MM[:SS]', or a duration back from now (90m, 6h,\n"
    "2d); the default starts at the oldest row the log keeps.  Plain SVG: no\n"
    "script, nothing fetched; open it in a browser or embed it.\n"
    "\n"
    "Example:\n"
    "  $ rpcver timeline --since 6h --svg upgrade.svg\n"
    "  upgrade.svg: 2 method(s), 57 row(s) of the event log\n" },
  { "metrics", 0, 0, 0, cmd_metrics, "[--listen HOST:PORT [--allow-remote]]",
    "Prints rpcver's state as Prometheus metrics (text format 0.0.4): per\n"
    "method receivers, senders, negotiated and newest (labels of\n"
    "rpcver_method_info, and version keys), pinned, laggards and the drain\n"
    "window's seconds left; per manager the seconds since it was last seen.\n"
    "--listen serves them over HTTP at /metrics for a scraper, reading the\n"
    "database afresh for each scrape; only a loopback address unless\n"
    "--allow-remote (the metrics name every manager, and the server has no\n"
    "authentication).  docs/operators.md has the metrics and alert rules.\n"
    "\n"
    "Example:\n"
    "  $ rpcver metrics | grep negotiated_key\n"
    "  rpcver_negotiated_key{method=\"volume\"} 3298551660544\n"
    "  $ rpcver metrics --listen 127.0.0.1:9464\n"
    "  rpcver: serving metrics on http://127.0.0.1:9464/metrics\n" },
};
#define N_COMMAND ((int)(sizeof(aCommand)/sizeof(aCommand[0])))

static const char zOverallHelp[] =
  USAGE_HEAD "SUBCOMMAND [ARGS]\n"
  "\n"
  "The operator's tool for rpcver: RPC version negotiation for rolling\n"
  "upgrades, kept in a shared SQLite database.\n"
  "\n"
  "Subcommands:\n"
  "  status                       every method: receivers, senders, "
  "negotiated,\n"
  "                               newest, pin, floor, state, drains under "
  "way\n"
  "  laggards                     receivers below the newest version of "
  "their\n"
  "                               method, and when they were last seen\n"
  "  explain METHOD               what holds METHOD back, receiver by "
  "receiver\n"
  "  pin METHOD VERSION|none      cap what senders send (keeps the way back\n"
  "                               open); none clears the pin\n"
  "  unregister MANAGER [METHOD]  remove a manager's registrations\n"
  "  unregister-sender SENDER [METHOD]\n"
  "                               remove a sender's registrations\n"
  "  expire SECONDS [MAX_SHARE]   remove managers not seen for more than "
  "SECONDS\n"
  "                               (at most MAX_SHARE, default 0.5, of a "
  "method's)\n"
  "  check METHOD HI [LO]         would a manager receiving LO..HI be "
  "admitted?\n"
  "  senders [--method METHOD]    registered senders: their ranges, when "
  "they\n"
  "                               were last seen, what each may send now\n"
  "  drain [METHOD [SECONDS|default] | --default SECONDS]\n"
  "                               show or set the drain windows (how long a\n"
  "                               message may be in flight)\n"
  "  upgrade-check [--stale SECONDS]\n"
  "                               is the upgrade finished? (for deploy "
  "pipelines)\n"
  "  timeline [--method M] [--since T] --svg FILE [--html FILE]\n"
  "                               the upgrade over time, from the event log\n"
  "  metrics [--listen HOST:PORT] Prometheus metrics, printed or served\n"
  "  help [SUBCOMMAND]            this text, or a subcommand's\n"
  "\n"
  "Options (before or after the subcommand; -- ends them):\n"
  "  -d, --db PATH   the database; default $RPCVER_DB.  Never created.\n"
  "  --cluster HOST:PORT[,HOST:PORT...]\n"
  "                  work on a dqlite cluster of rpcverd nodes instead (default\n"
  "                  $RPCVER_CLUSTER); --db then names its database (default\n"
  "                  rpcver).  The leader is found by asking the nodes.\n"
  "  --timeout SECONDS  on a cluster, the whole command's deadline, finding\n"
  "                  the leader included (default 10)\n"
  "  --max-rows N, --max-bytes N\n"
  "                  on a cluster, caps on each answer: rows of a result\n"
  "                  (default 1000000) and bytes on the wire (default\n"
  "                  67108864, 64 MiB)\n"
  "  --tls-cert FILE, --tls-key FILE, --tls-ca FILE\n"
  "                  on a cluster whose nodes run with TLS: this client's\n"
  "                  certificate and key and the cluster's CA (default\n"
  "                  $RPCVER_TLS_CERT, $RPCVER_TLS_KEY, $RPCVER_TLS_CA; all\n"
  "                  three or none)\n"
  "  --method M, --since T, --svg FILE, --html FILE\n"
  "                  timeline's: one method, where it starts, the files\n"
  "                  (--method also senders': one method's senders)\n"
  "  --listen HOST:PORT, --allow-remote\n"
  "                  metrics': serve over HTTP (loopback only, unless\n"
  "                  --allow-remote)\n"
  "  --json          machine-readable JSON on stdout: arrays of objects for\n"
  "                  tables, objects for single results\n"
  "  -h, --help      this help; after a subcommand, that subcommand's help\n"
  "  --version       rpcver's version\n"
  "\n"
  "Exit status:\n"
  "  0  success (check: admitted; upgrade-check: every check succeeded)\n"
  "  1  check: refused; upgrade-check: warnings only\n"
  "  2  upgrade-check: at least one failure\n"
  "  3  usage error: unknown subcommand or option, wrong arguments, no "
  "database\n"
  "     given\n"
  "  4  error: no database at PATH, no rpcver schema in it, or an SQL or\n"
  "     rpcver error (printed as it is, e.g. a refused pin)\n"
  "\n"
  "status, laggards, explain, check, senders, drain (showing),\n"
  "upgrade-check, timeline and metrics only read (PRAGMA query_only) and\n"
  "work on a read-only database file.  pin, unregister, unregister-sender,\n"
  "expire and drain (setting) write in BEGIN IMMEDIATE ... COMMIT with a\n"
  "5 s busy timeout.\n"
  "`rpcver SUBCOMMAND --help` shows an example.\n";

static const Command *find_command(const char *zName){
  int i;
  for(i=0; i<N_COMMAND; i++){
    if( strcmp(aCommand[i].zName, zName)==0 ) return &aCommand[i];
  }
  return 0;
}

static void print_usage_line(const Command *p, FILE *out){
  fprintf(out, USAGE_HEAD "%s%s%s\n", p->zName, p->zArgs[0] ? " " : "",
          p->zArgs);
}

static void print_command_help(const Command *p){
  print_usage_line(p, stdout);
  fputc('\n', stdout);
  fputs(p->zHelp, stdout);
}

static int usage_error(const Command *p, const char *zFormat, ...){
  va_list ap;
  fputs("rpcver: ", stderr);
  va_start(ap, zFormat);
  vfprintf(stderr, zFormat, ap);
  va_end(ap);
  fputc('\n', stderr);
  if( p ){
    print_usage_line(p, stderr);
    fprintf(stderr, "(rpcver %s --help for more)\n", p->zName);
  }else{
    fputs("(rpcver --help for the list of subcommands)\n", stderr);
  }
  return RC_USAGE;
}

/* The message comes from the database (a trigger's RAISE, a name in
** SQLite's own message): cli_printf shows it safely. */
int cli_sql_error(Cli *cli, const char *zMsg){
  if( zMsg==0 && cli->db && cli->quietBusy
   && (sqlite3_errcode(cli->db) & 0xff)==SQLITE_BUSY ){
    cli->sawBusy = 1;                /* the metrics server tries again */
    return RC_ERROR;
  }
  if( zMsg==0 ) zMsg = cli->db ? sqlite3_errmsg(cli->db) : "out of memory";
  if( strncmp(zMsg, "rpcver:", 7)==0 ){
    cli_printf(stderr, "%s\n", zMsg);
  }else{
    cli_printf(stderr, "rpcver: %s: %s\n", cli->zDb, zMsg);
  }
  return RC_ERROR;
}

int cli_prepare(Cli *cli, const char *zSql, sqlite3_stmt **ppStmt){
  if( sqlite3_prepare_v2(cli->db, zSql, -1, ppStmt, 0)!=SQLITE_OK ){
    *ppStmt = 0;
    return cli_sql_error(cli, 0);
  }
  return RC_OK;
}

/* Run one statement without results; report a failure. */
int cli_exec(Cli *cli, const char *zSql){
  if( cli->pDq ) return cli_cluster_exec(cli, zSql);
  if( sqlite3_exec(cli->db, zSql, 0, 0, 0)!=SQLITE_OK ){
    return cli_sql_error(cli, 0);
  }
  return RC_OK;
}

/* End a transaction: COMMIT when rc is RC_OK, else ROLLBACK if one is
** still open (an error inside it may have ended it already). */
int cli_end_transaction(Cli *cli, int rc){
  if( rc==RC_OK ) return cli_exec(cli, "COMMIT");
  if( cli->pDq ){
    /* The failure may have ended the transaction: ROLLBACK may fail. */
    cli_cluster_rollback(cli);
    return rc;
  }
  if( !sqlite3_get_autocommit(cli->db) ){
    sqlite3_exec(cli->db, "ROLLBACK", 0, 0, 0);
  }
  return rc;
}

/* Load the rows of zSql (parameters bound from azBind, as text) into t. */
int cli_load(Cli *cli, Table *t, const char *zSql, int nBind,
             const char *const *azBind, const int *aFlag,
             const char *const *azHead){
  sqlite3_stmt *pStmt;
  int rc, i;
  if( cli->pDq ){
    return cli_cluster_load(cli, t, zSql, nBind, azBind, aFlag, azHead);
  }
  memset(t, 0, sizeof(*t));
  if( cli_prepare(cli, zSql, &pStmt) ) return RC_ERROR;
  for(i=0; i<nBind; i++){
    sqlite3_bind_text(pStmt, i+1, azBind[i], -1, SQLITE_STATIC);
  }
  rc = table_load(t, pStmt, aFlag, azHead);
  if( rc!=SQLITE_OK ){
    /* the statement's own message: table_load's reset keeps it */
    rc = cli_sql_error(cli, rc==SQLITE_NOMEM ? "out of memory" : 0);
    table_free(t);
  }
  sqlite3_finalize(pStmt);
  return rc;
}

/* The value of cell (iRow, iCol), NULL for SQL NULL, and for a cell the
** result does not have: a node may answer with fewer rows or columns than
** the CLI's SQL asks for (tests/wire.test), and is not believed. */
const char *cli_cell(const Table *t, int iRow, int iCol){
  if( iRow<0 || iRow>=t->nRow || iCol<0 || iCol>=t->nCol ) return 0;
  return t->azVal[(size_t)iRow * (size_t)t->nCol + (size_t)iCol];
}

int cli_in_flight_schema(Cli *cli, int *pHas){
  Table t;
  if( cli->inFlight<0 ){
    /* rpc_status gained drain_left with the views of senders and drains
    ** (schema version 3, revision 6) */
    if( cli_load(cli, &t, "SELECT count(*) FROM pragma_table_info('rpc_status')"
                 " WHERE name = 'drain_left'", 0, 0, 0, 0) ){
      return RC_ERROR;
    }
    cli->inFlight = cli_cell(&t, 0, 0) && strcmp(cli_cell(&t, 0, 0), "1")==0;
    table_free(&t);
  }
  *pHas = cli->inFlight;
  return RC_OK;
}

/* Open zName with flags and look for the rpcver schema: SQLITE_ROW (it is
** there), SQLITE_DONE (it is not) or an error code, the message left on
** cli->db. */
static int open_and_probe(Cli *cli, const char *zName, int flags){
  sqlite3_stmt *pStmt = 0;
  int rc;
  if( cli->db ){
    sqlite3_close(cli->db);
    cli->db = 0;
  }
  rc = sqlite3_open_v2(zName, &cli->db, flags, 0);
  if( rc!=SQLITE_OK ) return rc;
  sqlite3_extended_result_codes(cli->db, 1);
  sqlite3_busy_timeout(cli->db, 5000);
  rc = sqlite3_prepare_v2(cli->db,
      "SELECT 1 FROM main.sqlite_schema"
      " WHERE type = 'table' AND name = 'rpc_methods'", -1, &pStmt, 0);
  if( rc!=SQLITE_OK ) return rc;
  rc = sqlite3_step(pStmt);
  sqlite3_finalize(pStmt);
  return rc;
}

/* "file:PATH?immutable=1", PATH percent-encoded. */
static char *immutable_uri(const char *zPath){
  sqlite3_str *pStr = sqlite3_str_new(0);
  const unsigned char *z = (const unsigned char*)zPath;
  sqlite3_str_appendall(pStr, "file:");
  for(; *z; z++){
    if( (*z>='a' && *z<='z') || (*z>='A' && *z<='Z') || (*z>='0' && *z<='9')
     || *z=='/' || *z=='.' || *z=='-' || *z=='_' || *z=='~' ){
      sqlite3_str_appendchar(pStr, 1, (char)*z);
    }else{
      sqlite3_str_appendf(pStr, "%%%02X", *z);
    }
  }
  sqlite3_str_appendall(pStr, "?immutable=1");
  return sqlite3_str_finish(pStr);
}

/* Open the database without creating it (SQLITE_OPEN_READWRITE, no
** CREATE) and check that it has the rpcver schema.  Returns RC_OK or
** RC_ERROR (reported).
**
** Reads set PRAGMA query_only.  SQLite opens a file this user cannot write
** read-only by itself.  A WAL database in a directory this user cannot
** write, which no process has open (no -wal file), cannot be read even so:
** SQLite would have to create its -shm file.  Then, and only then, a read
** opens it as immutable: with no -wal file, the database file alone holds
** every committed transaction. */
static int open_database(Cli *cli, int write){
  struct stat st;
  int rc;
  if( stat(cli->zDb, &st)!=0 ){
    if( errno==ENOENT || errno==ENOTDIR ){
      fprintf(stderr, "rpcver: no database at %s\n", cli->zDb);
    }else{
      fprintf(stderr, "rpcver: cannot open %s: %s\n", cli->zDb,
              strerror(errno));
    }
    return RC_ERROR;
  }
  if( S_ISDIR(st.st_mode) ){
    fprintf(stderr, "rpcver: %s is a directory, not a database\n", cli->zDb);
    return RC_ERROR;
  }
  /* This SQLite may take any name starting "file:" as a URI (USE_URI):
  ** "./" keeps it a file name. */
  if( strncmp(cli->zDb, "file:", 5)==0 ){
    char *zName = sqlite3_mprintf("./%s", cli->zDb);
    rc = zName ? open_and_probe(cli, zName, SQLITE_OPEN_READWRITE)
               : SQLITE_NOMEM;
    sqlite3_free(zName);
  }else{
    rc = open_and_probe(cli, cli->zDb, SQLITE_OPEN_READWRITE);
  }
  if( !write && ((rc & 0xff)==SQLITE_READONLY
                 || (rc & 0xff)==SQLITE_CANTOPEN) ){
    char *zWal = sqlite3_mprintf("%s-wal", cli->zDb);
    char *zUri = immutable_uri(cli->zDb);
    if( zWal && zUri && stat(zWal, &st)!=0 && errno==ENOENT ){
      rc = open_and_probe(cli, zUri, SQLITE_OPEN_READONLY | SQLITE_OPEN_URI);
    }
    sqlite3_free(zWal);
    sqlite3_free(zUri);
  }
  if( cli->zListen
   && ((rc & 0xff)==SQLITE_BUSY || (rc & 0xff)==SQLITE_LOCKED) ){
    /* A server outlives a lock (a writer in rollback-journal mode, a
    ** recovery): it starts, and its scrapes answer 503 until the file can
    ** be read.  What cannot pass (no file, no schema) still ends it. */
    cli_printf(stderr, "rpcver: %s: %s; serving anyway: scrapes answer 503 "
               "until it can be read\n", cli->zDb, sqlite3_errmsg(cli->db));
    return cli_exec(cli, "PRAGMA query_only = 1");
  }
  if( rc==SQLITE_DONE ){
    fprintf(stderr, "rpcver: %s has no rpcver schema (no rpc_methods table);"
            " nothing has registered yet\n", cli->zDb);
    return RC_ERROR;
  }
  if( write && (rc==SQLITE_ROW ? sqlite3_db_readonly(cli->db, "main")==1
                                : (rc & 0xff)==SQLITE_READONLY) ){
    fprintf(stderr, "rpcver: %s is read-only for this user; %s needs a "
            "writable database%s\n", cli->zDb, cli->zCmd,
            rc==SQLITE_ROW ? "" : " (in WAL mode, also a writable directory)");
    return RC_ERROR;
  }
  if( rc!=SQLITE_ROW ) return cli_sql_error(cli, 0);
  if( !write ) return cli_exec(cli, "PRAGMA query_only = 1");
  return RC_OK;
}

/*
** The command line, as parsed: the subcommand's context (the options it
** reads are in cli), its positional arguments, and what is not the
** subcommand's (--help, --version).
*/
typedef struct Invocation Invocation;
struct Invocation {
  Cli cli;                 /* zCmd, and the options the subcommands read */
  char **azArg;            /* the positional arguments after the subcommand */
  int nArg;
  int help;                /* --help, -h */
  int version;             /* --version */
  const char *zClusterOnly;  /* the first cluster-only option given */
};

/* What an option takes. */
#define OPT_FLAG   0       /* no value: sets an int to 1 */
#define OPT_TEXT   1       /* a value, kept as given; checked once the
                           ** subcommand is known */
#define OPT_NUMBER 2       /* a whole number within its Bounds, checked as
                           ** it is read, into a long long */

/* An OPT_NUMBER's range, and the factor it is kept with. */
typedef struct Bounds Bounds;
struct Bounds {
  const char *zWant;       /* what it needs, for the message */
  long long nMax;          /* the largest value; the smallest is 1 */
  long long nScale;        /* kept as value * nScale */
};

static const Bounds timeoutBounds = {   /* seconds, kept in milliseconds */
  "a whole number of seconds from 1 to 86400", 86400, 1000
};
static const Bounds rowBounds = {
  "a whole number of rows >= 1", 1000000000000LL, 1
};
static const Bounds byteBounds = {
  "a whole number of bytes >= 1", 1000000000000LL, 1
};

typedef struct Option Option;
struct Option {
  const char *zName;       /* the long form: "--db", also "--db=VALUE" */
  const char *zShort;      /* the short form: "-d", also "-dVALUE"; or 0 */
  int type;                /* OPT_FLAG, OPT_TEXT or OPT_NUMBER */
  size_t iField;           /* where the value goes: OPT_FIELD(member) */
  const char *zCommand;    /* the subcommands that take it (names and a
                           ** space between two), or 0: every one */
  int clusterOnly;         /* refused without --cluster */
  const Bounds *pBounds;   /* OPT_NUMBER: its range; else 0 */
};
#define OPT_FIELD(member) offsetof(Invocation, member)

/*
** Every option.  A new one is a row here, a member of Cli (or Invocation)
** for its value, its lines in zOverallHelp and its row in cli/README.md:
** parsing, "needs a value", the "=VALUE" form, and the checks of scope and
** of --cluster come from the row.
*/
static const Option aOption[] = {
  /* long, short, type, where it goes, the subcommand that takes it,
  ** cluster-only, the bounds of a number */
  { "--db",        "-d", OPT_TEXT,   OPT_FIELD(cli.zDb),       0, 0, 0 },
  { "--cluster",   0,    OPT_TEXT,   OPT_FIELD(cli.zCluster),  0, 0, 0 },
  { "--timeout",   0,    OPT_NUMBER, OPT_FIELD(cli.timeoutMs), 0, 1,
    &timeoutBounds },
  { "--max-rows",  0,    OPT_NUMBER, OPT_FIELD(cli.maxRows),   0, 1,
    &rowBounds },
  { "--max-bytes", 0,    OPT_NUMBER, OPT_FIELD(cli.maxBytes),  0, 1,
    &byteBounds },
  { "--tls-cert",  0,    OPT_TEXT,   OPT_FIELD(cli.zTlsCert),  0, 1, 0 },
  { "--tls-key",   0,    OPT_TEXT,   OPT_FIELD(cli.zTlsKey),   0, 1, 0 },
  { "--tls-ca",    0,    OPT_TEXT,   OPT_FIELD(cli.zTlsCa),    0, 1, 0 },
  { "--stale",     0,    OPT_TEXT,   OPT_FIELD(cli.zStale),
    "upgrade-check", 0, 0 },
  { "--method",    0,    OPT_TEXT,   OPT_FIELD(cli.zMethod),
    "senders timeline", 0, 0 },
  { "--default",   0,    OPT_TEXT,   OPT_FIELD(cli.zDefault),  "drain",
    0, 0 },
  { "--since",     0,    OPT_TEXT,   OPT_FIELD(cli.zSince),
    "timeline", 0, 0 },
  { "--svg",       0,    OPT_TEXT,   OPT_FIELD(cli.zSvg),
    "timeline", 0, 0 },
  { "--html",      0,    OPT_TEXT,   OPT_FIELD(cli.zHtml),
    "timeline", 0, 0 },
  { "--listen",    0,    OPT_TEXT,   OPT_FIELD(cli.zListen),
    "metrics", 0, 0 },
  { "--allow-remote", 0, OPT_FLAG,   OPT_FIELD(cli.allowRemote),
    "metrics", 0, 0 },
  { "--json",      0,    OPT_FLAG,   OPT_FIELD(cli.json),      0, 0, 0 },
  { "--help",      "-h", OPT_FLAG,   OPT_FIELD(help),          0, 0, 0 },
  { "--version",   0,    OPT_FLAG,   OPT_FIELD(version),       0, 0, 0 },
};
#define N_OPTION ((int)(sizeof(aOption)/sizeof(aOption[0])))

/* Options start with "-"; "-" alone and negative numbers are arguments
** (the subcommand judges the number and says what is wrong with it). */
static int is_option(const char *a){
  return a[0]=='-' && a[1]!=0 && !(a[1]>='0' && a[1]<='9');
}

/* The option a names, or 0.  A value written into the same argument
** ("--db=PATH", "-dPATH") is left in *pzAttached; a flag takes none. */
static const Option *find_option(const char *a, const char **pzAttached){
  int i;
  *pzAttached = 0;
  for(i=0; i<N_OPTION; i++){
    const Option *o = &aOption[i];
    size_t n = strlen(o->zName);
    if( strncmp(a, o->zName, n)==0 ){
      if( a[n]==0 ) return o;
      if( a[n]=='=' && o->type!=OPT_FLAG ){
        *pzAttached = a + n + 1;
        return o;
      }
    }
    n = o->zShort ? strlen(o->zShort) : 0;
    if( n && strncmp(a, o->zShort, n)==0 ){
      if( a[n]==0 ) return o;
      if( o->type!=OPT_FLAG ){
        *pzAttached = a + n;
        return o;
      }
    }
  }
  return 0;
}

/* The subcommand named so far, for a usage message; 0 if none is. */
static const Command *command_so_far(const Invocation *p){
  return p->cli.zCmd ? find_command(p->cli.zCmd) : 0;
}

/* A whole number from 1 to nMax, or -1. */
static long long parse_number(const char *z, long long nMax){
  size_t n = strlen(z);
  long long v;
  if( n==0 || n>13 || strspn(z, "0123456789")!=n ) return -1;
  v = atoll(z);
  return v>=1 && v<=nMax ? v : -1;
}

static void *option_field(Invocation *p, const Option *o){
  return (char*)p + o->iField;
}

/* Was o given?  Every option's field is 0 until it is. */
static int option_given(Invocation *p, const Option *o){
  void *pField = option_field(p, o);
  switch( o->type ){
    case OPT_FLAG: return *(int*)pField!=0;
    case OPT_TEXT: return *(const char**)pField!=0;
    default:       return *(long long*)pField!=0;
  }
}

/* Store o's value (zVal; 0 for a flag) where the option table says. */
static int store_option(Invocation *p, const Option *o, const char *zVal){
  void *pField = option_field(p, o);
  long long v;
  switch( o->type ){
    case OPT_FLAG:
      *(int*)pField = 1;
      break;
    case OPT_TEXT:
      *(const char**)pField = zVal;
      break;
    default:
      v = parse_number(zVal, o->pBounds->nMax);
      if( v<0 ){
        return usage_error(command_so_far(p), "%s needs %s, not '%s'",
                           o->zName, o->pBounds->zWant, zVal);
      }
      *(long long*)pField = v * o->pBounds->nScale;
      break;
  }
  if( o->clusterOnly && p->zClusterOnly==0 ) p->zClusterOnly = o->zName;
  return RC_OK;
}

/* The option at argv[*pi], with its value from the next argument when it
** has none attached; *pi is left on the last argument used. */
static int take_option(Invocation *p, int argc, char **argv, int *pi){
  const char *a = argv[*pi];
  const char *zVal;
  const Option *o = find_option(a, &zVal);
  if( o==0 ){
    return usage_error(command_so_far(p), "unknown option '%s'", a);
  }
  if( o->type!=OPT_FLAG && zVal==0 ){
    if( *pi+1>=argc ) return usage_error(0, "%s needs a value", a);
    zVal = argv[++*pi];
  }
  return store_option(p, o, zVal);
}

/* Options may come before or after the subcommand; "--" ends them.  The
** first argument that is not an option names the subcommand. */
static int parse_command_line(Invocation *p, int argc, char **argv){
  int i, endOfOptions = 0;
  for(i=1; i<argc; i++){
    if( endOfOptions || !is_option(argv[i]) ){
      if( p->cli.zCmd==0 ) p->cli.zCmd = argv[i];
      else p->azArg[p->nArg++] = argv[i];
    }else if( strcmp(argv[i], "--")==0 ){
      endOfOptions = 1;
    }else{
      int rc = take_option(p, argc, argv, &i);
      if( rc ) return rc;
    }
  }
  return RC_OK;
}

static int print_version(void){
  sqlite3 *db = 0;
  sqlite3_stmt *pStmt = 0;
  int rc = RC_ERROR;
  if( sqlite3_open(":memory:", &db)==SQLITE_OK
   && sqlite3_prepare_v2(db, "SELECT rpcver_version(), sqlite_version()",
                         -1, &pStmt, 0)==SQLITE_OK
   && sqlite3_step(pStmt)==SQLITE_ROW ){
    printf("rpcver %s (SQLite %s)\n", sqlite3_column_text(pStmt, 0),
           sqlite3_column_text(pStmt, 1));
    rc = RC_OK;
  }
  sqlite3_finalize(pStmt);
  sqlite3_close(db);
  return rc;
}

/* rpcver help [SUBCOMMAND] */
static int run_help(const Invocation *p){
  const Command *pCmd;
  if( p->nArg>1 ) return usage_error(0, "help takes at most one subcommand");
  if( p->nArg==0 ){
    fputs(zOverallHelp, stdout);
    return RC_OK;
  }
  pCmd = find_command(p->azArg[0]);
  if( pCmd==0 ) return usage_error(0, "unknown subcommand '%s'", p->azArg[0]);
  print_command_help(pCmd);
  return RC_OK;
}

static int check_argument_count(const Command *pCmd, int nArg){
  char zWant[64];
  if( nArg>=pCmd->nMin && nArg<=pCmd->nMax ) return RC_OK;
  if( pCmd->nMin==pCmd->nMax ){
    snprintf(zWant, sizeof(zWant), "%d argument%s", pCmd->nMin,
             pCmd->nMin==1 ? "" : "s");
  }else{
    snprintf(zWant, sizeof(zWant), "%d %s %d arguments", pCmd->nMin,
             pCmd->nMax==pCmd->nMin+1 ? "or" : "to", pCmd->nMax);
  }
  fprintf(stderr, "rpcver: %s takes %s, got %d\n", pCmd->zName, zWant, nArg);
  print_usage_line(pCmd, stderr);
  fprintf(stderr, "(rpcver %s --help for more)\n", pCmd->zName);
  return RC_USAGE;
}

/* Is zCmd one of the subcommands in zList (names separated by spaces)? */
static int in_command_list(const char *zList, const char *zCmd){
  size_t n = strlen(zCmd);
  const char *z = zList;
  while( (z = strstr(z, zCmd))!=0 ){
    if( (z==zList || z[-1]==' ') && (z[n]==0 || z[n]==' ') ) return 1;
    z += n;
  }
  return 0;
}

/* An option that belongs to some subcommands is refused with any other
** ("--method is an option of senders or timeline, not status"). */
static int check_option_scope(Invocation *p, const Command *pCmd){
  int i;
  for(i=0; i<N_OPTION; i++){
    const Option *o = &aOption[i];
    if( o->zCommand && !in_command_list(o->zCommand, pCmd->zName)
     && option_given(p, o) ){
      const char *zSpace = strchr(o->zCommand, ' ');
      if( zSpace ){
        /* two subcommands at most: the table has no option of three */
        return usage_error(pCmd, "%s is an option of %.*s or %s, not %s",
                           o->zName, (int)(zSpace - o->zCommand),
                           o->zCommand, zSpace + 1, pCmd->zName);
      }
      return usage_error(pCmd, "%s is an option of %s, not %s", o->zName,
                         o->zCommand, pCmd->zName);
    }
  }
  return RC_OK;
}

/* --stale in the canonical decimal form upgrade-check shows and binds
** ("007" is 7). */
static int check_stale(Cli *cli, const Command *pCmd){
  const char *z = cli->zStale;
  size_t n = strlen(z);
  if( n==0 || n>12 || strspn(z, "0123456789")!=n ){
    return usage_error(pCmd, "--stale needs a whole number of seconds >= 0, "
                       "not '%s'", z);
  }
  snprintf(cli->zStaleBuf, sizeof(cli->zStaleBuf), "%lld", atoll(z));
  cli->zStale = cli->zStaleBuf;
  return RC_OK;
}

/* drain --default SECONDS sets the default window: no METHOD with it. */
static int check_default(const Invocation *p, const Command *pCmd){
  if( p->nArg==0 ) return RC_OK;
  return usage_error(pCmd, "--default SECONDS sets the default drain window;"
                     " give it without METHOD (rpcver drain METHOD SECONDS "
                     "sets a method's)");
}

/* Where the subcommand works: a cluster (--cluster, else $RPCVER_CLUSTER)
** or a file (--db, else $RPCVER_DB); on a cluster --db names a database
** there, "rpcver" by default. */
static int choose_target(Invocation *p, const Command *pCmd){
  Cli *cli = &p->cli;
  if( cli->zCluster==0 ){
    const char *zEnv = getenv("RPCVER_CLUSTER");
    if( zEnv && zEnv[0] ) cli->zCluster = zEnv;
  }
  if( cli->zDb==0 && cli->zCluster==0 ){
    /* a file path: it does not name a database on a cluster */
    const char *zEnv = getenv("RPCVER_DB");
    if( zEnv && zEnv[0] ) cli->zDb = zEnv;
  }
  if( cli->zCluster && cli->zCluster[0]==0 ){
    return usage_error(pCmd, "--cluster needs HOST:PORT[,HOST:PORT...]");
  }
  if( p->zClusterOnly && cli->zCluster==0 ){
    return usage_error(pCmd, "%s applies to a cluster (--cluster) only",
                       p->zClusterOnly);
  }
  if( cli->zCluster && cli->zDb==0 ) cli->zDb = "rpcver";
  if( cli->zDb==0 || cli->zDb[0]==0 ){
    return usage_error(pCmd, "no database given: pass --db PATH or set "
                       "RPCVER_DB (or --cluster HOST:PORT,...)");
  }
  return RC_OK;
}

/* What the command line asks for: the version, help, or a subcommand.  The
** checks run in this order, so each mistake gets one message, always the
** same. */
static int dispatch(Invocation *p){
  Cli *cli = &p->cli;
  const Command *pCmd;
  int rc;
  if( p->version ) return print_version();
  if( cli->zCmd==0 ){
    if( !p->help ) return usage_error(0, "no subcommand given");
    fputs(zOverallHelp, stdout);
    return RC_OK;
  }
  if( strcmp(cli->zCmd, "help")==0 ) return run_help(p);
  pCmd = find_command(cli->zCmd);
  if( pCmd==0 ) return usage_error(0, "unknown subcommand '%s'", cli->zCmd);
  if( p->help ){
    print_command_help(pCmd);
    return RC_OK;
  }
  rc = check_argument_count(pCmd, p->nArg);
  if( rc==RC_OK ) rc = check_option_scope(p, pCmd);
  if( rc==RC_OK && cli->zStale ) rc = check_stale(cli, pCmd);
  if( rc==RC_OK && cli->zDefault ) rc = check_default(p, pCmd);
  if( rc==RC_OK ) rc = choose_target(p, pCmd);
  if( rc==RC_OK ){
    int write = pCmd->xWrites && pCmd->xWrites(cli, p->nArg);
    rc = cli->zCluster ? cli_cluster_open(cli, write)
                       : open_database(cli, write);
  }
  if( rc==RC_OK ) rc = pCmd->xRun(cli, p->nArg, p->azArg);
  return rc;
}

/* Close the connection and flush the output: a failure of either turns
** success into RC_ERROR. */
static int finish(Cli *cli, int rc){
  cli_cluster_close(cli);
  if( cli->db && sqlite3_close(cli->db)!=SQLITE_OK ){
    cli_printf(stderr, "rpcver: %s: %s\n", cli->zDb, sqlite3_errmsg(cli->db));
    if( rc==RC_OK ) rc = RC_ERROR;
  }
  if( fflush(stdout)!=0 || ferror(stdout) ){
    fputs("rpcver: cannot write to standard output\n", stderr);
    if( rc==RC_OK ) rc = RC_ERROR;
  }
  return rc;
}

static int run(int argc, char **argv){
  Invocation inv;
  int rc;
  memset(&inv, 0, sizeof(inv));
  inv.cli.inFlight = -1;
  inv.azArg = calloc((size_t)argc + 1, sizeof(char*));
  if( inv.azArg==0 ){
    fputs("rpcver: out of memory\n", stderr);
    return RC_ERROR;
  }
  rc = parse_command_line(&inv, argc, argv);
  if( rc==RC_OK ) rc = dispatch(&inv);
  rc = finish(&inv.cli, rc);
  free(inv.azArg);
  return rc;
}

int main(int argc, char **argv){
  int rc;
  sqlite3_auto_extension((void(*)(void))sqlite3_rpcver_init);
  rc = run(argc, argv);
  sqlite3_reset_auto_extension();
  sqlite3_shutdown();
  return rc;
}
