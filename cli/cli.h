/*
** rpcver CLI: declarations shared by main.c (options, help, opening the
** database, helpers), commands.c and upgrade.c (the subcommands) and
** output.c (tables, JSON).
*/
#ifndef RPCVER_CLI_H
#define RPCVER_CLI_H

#include <sqlite3.h>
#include <stdio.h>

/* Exit codes (cli/README.md, rpcver --help). */
#define RC_OK       0   /* success; check: admitted */
#define RC_WARNING  1   /* check: refused; upgrade-check: warnings only */
#define RC_FAILURE  2   /* upgrade-check: at least one failure */
#define RC_USAGE    3   /* unknown subcommand or option, wrong arguments */
#define RC_ERROR    4   /* no database, no schema, an SQL or rpcver error */

typedef struct Cli Cli;
struct Cli {
  const char *zDb;        /* database path */
  int json;               /* --json */
  const char *zStale;     /* upgrade-check --stale, or NULL */
  char zStaleBuf[24];     /* its canonical decimal form */
  const char *zMethod;    /* senders or timeline --method, or NULL */
  const char *zDefault;   /* drain --default SECONDS, or NULL */
  int inFlight;           /* the schema has senders and drain windows: 1, 0,
                          ** or -1 until cli_in_flight_schema() asks */
  const char *zCmd;       /* the subcommand's name */
  sqlite3 *db;
  const char *zCluster;   /* --cluster: dqlite node addresses, or NULL */
  struct DqClient *pDq;   /* the connection to the cluster's leader */
  /* --timeout, --max-rows, --max-bytes (cluster only); 0: the default */
  long long timeoutMs, maxRows, maxBytes;
  /* --tls-cert, --tls-key, --tls-ca (cluster only), or NULL: then
  ** $RPCVER_TLS_CERT, $RPCVER_TLS_KEY, $RPCVER_TLS_CA (cluster.c) */
  const char *zTlsCert, *zTlsKey, *zTlsCa;
  /* timeline (timeline.c): --since, --svg, --html (and zMethod) */
  const char *zSince, *zSvg, *zHtml;
  /* metrics (metrics.c): --listen, --allow-remote; and while the server
  ** reads: a lock is not reported (quietBusy) but noted (sawBusy) */
  const char *zListen;
  int allowRemote;
  int quietBusy, sawBusy;
};

/* Report an SQLite failure on cli->db (or zMsg when not NULL) on stderr:
** rpcver's own messages as they are, others prefixed with the path.
** Returns RC_ERROR. */
int cli_sql_error(Cli *cli, const char *zMsg);

/* Helpers (main.c).  Each reports its failure and returns RC_ERROR. */
int cli_prepare(Cli *cli, const char *zSql, sqlite3_stmt **ppStmt);
int cli_exec(Cli *cli, const char *zSql);
/* COMMIT when rc is RC_OK, else ROLLBACK if a transaction is open. */
int cli_end_transaction(Cli *cli, int rc);
/* Load the rows of zSql, parameters bound from azBind as text, into t
** (always initialized, so table_free(t) is always safe). */
typedef struct Table Table;
int cli_load(Cli *cli, Table *t, const char *zSql, int nBind,
             const char *const *azBind, const int *aFlag,
             const char *const *azHead);
/* Cell (iRow, iCol) of t, NULL for SQL NULL or outside t. */
const char *cli_cell(const Table *t, int iRow, int iCol);
/* Does the database's rpcver schema have senders and drain windows
** (rpc_senders, rpc_drains, rpc_in_flight, rpc_status.drain_left)?  One
** written before them has none until rpcver's next write migrates it; the
** CLI only reads, so it shows such a database as it is.  Sets *pHas;
** returns RC_OK or RC_ERROR (reported). */
int cli_in_flight_schema(Cli *cli, int *pHas);

/* "receiver" or "receivers" by n (commands.c). */
const char *cli_plural(sqlite3_int64 n, const char *zOne, const char *zMany);

/* The laggards with their managers' last_seen and age (commands.c). */
extern const char cli_laggards_sql[];
extern const int cli_laggards_flag[];
extern const char *const cli_laggards_head[];

/* Subcommands (commands.c, upgrade.c); azArg holds the nArg positional
** arguments. */
int cmd_status(Cli *cli, int nArg, char **azArg);
int cmd_laggards(Cli *cli, int nArg, char **azArg);
int cmd_explain(Cli *cli, int nArg, char **azArg);
int cmd_pin(Cli *cli, int nArg, char **azArg);
int cmd_unregister(Cli *cli, int nArg, char **azArg);
int cmd_unregister_sender(Cli *cli, int nArg, char **azArg);
int cmd_expire(Cli *cli, int nArg, char **azArg);
int cmd_check(Cli *cli, int nArg, char **azArg);
int cmd_senders(Cli *cli, int nArg, char **azArg);
int cmd_drain(Cli *cli, int nArg, char **azArg);
int cmd_upgrade_check(Cli *cli, int nArg, char **azArg);
int cmd_timeline(Cli *cli, int nArg, char **azArg);      /* timeline.c */
int cmd_metrics(Cli *cli, int nArg, char **azArg);       /* metrics.c */

/* Does the subcommand write, given its arguments (and cli's options)?  A
** write opens the database read-write; a read sets PRAGMA query_only. */
int cli_writes(const Cli *cli, int nArg);        /* always */
int cli_drain_writes(const Cli *cli, int nArg);  /* drain: when it sets */

/* ----------------------------------------------------------- cluster.c */

/* The same helpers' work on a dqlite cluster (rpcverd), over its wire
** protocol: cli->zDb names the database there.  cli_cluster_open() returns
** RC_USAGE when only some of the TLS files are given. */
int cli_cluster_open(Cli *cli, int write);
int cli_cluster_exec(Cli *cli, const char *zSql);
int cli_cluster_load(Cli *cli, Table *t, const char *zSql, int nBind,
                     const char *const *azBind, const int *aFlag,
                     const char *const *azHead);
void cli_cluster_rollback(Cli *cli);   /* ROLLBACK, errors ignored */
void cli_cluster_close(Cli *cli);

/* ------------------------------------------------------------ output.c */

/* Column flags. */
#define COL_AGE       1   /* integer seconds: text shows "3m05s ago" */
#define COL_JSON_ONLY 2   /* left out of text tables */
#define COL_TEXT_ONLY 4   /* left out of JSON (a cell composed for reading) */
#define COL_DURATION  8   /* integer seconds: text shows "3m05s" */

struct Table {
  int nCol;
  char **azName;          /* column names (JSON keys) */
  char **azHead;          /* text headers (NULL entries: the name) */
  int *aFlag;             /* COL_* per column */
  int nRow, nAlloc;
  int *aType;             /* nRow*nCol SQLite types */
  char **azVal;           /* nRow*nCol texts, NULL for SQL NULL */
};

/* Run pStmt to its end into t (initialized here).  aFlag and azHead may be
** NULL or have one entry per column.  Returns SQLITE_OK or an error code;
** pStmt is reset, not finalized. */
int table_load(Table *t, sqlite3_stmt *pStmt, const int *aFlag,
               const char *const *azHead);
void table_free(Table *t);
/* Build a table by hand: columns first (names copied), then rows (values
** copied; NULL where aType says SQLITE_NULL).  SQLITE_OK or SQLITE_NOMEM;
** table_free() is safe after either. */
int table_begin(Table *t, int nCol, const char *const *azName,
                const int *aFlag, const char *const *azHead);
int table_append(Table *t, const int *aType, const char *const *azVal);

/* An aligned text table, every line prefixed with zIndent; NULL is "-". */
void table_print_text(const Table *t, const char *zIndent, FILE *out);
/* A JSON array of objects; one object per line when multiline. */
void table_print_json(const Table *t, int multiline, FILE *out);
void table_print_json_row(const Table *t, int iRow, FILE *out);

/* A JSON string (with quotes), or null for NULL.  Control characters and
** the other unsafe characters of cli_put_safe() are escaped (\u001b,
** \u009b, \u202e, \ufeff), invalid UTF-8 becomes \ufffd. */
void json_string(const char *z, FILE *out);
/* z as a JSON number when it is one, else as json_string(). */
void json_number(const char *z, FILE *out);

/* Text from a database or a node, made safe for a terminal: control
** characters shown as \n, \t, \r or \xHH (a newline kept when
** keepNewlines), bytes that are not UTF-8 as \xHH, C1 controls,
** bidirectional controls, zero-width characters and the line and paragraph
** separators as \uHHHH (output.c has the list).  The CLI prints no such
** text any other way. */
void cli_put_safe(const char *z, int keepNewlines, FILE *out);
/* printf whose %s arguments are written with cli_put_safe() (newlines
** escaped too); the format itself is the CLI's own.  Conversions: %s
** (NULL prints nothing), %d, %lld, %%. */
void cli_printf(FILE *out, const char *zFmt, ...);

/* Text for XML and HTML: &, <, >, " and ' escaped; control characters,
** bytes that are not UTF-8 and the code points cli_put_safe() escapes
** shown as U+FFFD. */
void xml_text(const char *z, FILE *out);

/* "42s", "3m05s", "2h04m", "3d07h". */
void format_age(sqlite3_int64 nSec, char *zBuf, int nBuf);

#endif /* RPCVER_CLI_H */
