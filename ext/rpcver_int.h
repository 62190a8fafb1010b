/*
** Internal interfaces shared by the files of the rpcver extension.
**
** Every SQL function gets the connection's RpcConn as its user data.  It
** holds the prepared statements the extension keeps (see conn.c for why
** they can never make sqlite3_close() fail) and the rpc_max_send() cache.
*/
#ifndef RPCVER_INT_H
#define RPCVER_INT_H

#include "sqlite3ext.h"
SQLITE_EXTENSION_INIT3

#include <stdarg.h>

/*
** Versions.  A version MAJOR.MINOR.PATCH is stored as the integer key
** MAJOR<<40 | MINOR<<20 | PATCH, so integer order is version order and every
** key fits in 60 bits.  The schema's views render keys back to text in plain
** SQL with the same layout; the two must agree.
*/
typedef sqlite3_int64 RpcKey;
#define RPC_COMPONENT_MAX 1048575          /* 2^20 - 1 */
#define RPC_KEY(maj, min, pat) \
  (((RpcKey)(maj) << 40) | ((RpcKey)(min) << 20) | (RpcKey)(pat))
#define RPC_KEY_MAJOR(k)  ((k) >> 40)
#define RPC_KEY_MAJOR_BASE(k) (RPC_KEY_MAJOR(k) << 40)   /* MAJOR.0 */
#define RPC_KEY_TEXT_MAX 24                /* "1048575.1048575.1048575" + NUL */
#define RPC_NAME_MAX 256                   /* bytes in a manager or method */
#define RPC_KEY_LIMIT ((RpcKey)1 << 60)    /* every key is below it */

/* Drain windows: a whole number of seconds from 0 to RPC_DRAIN_MAX (365
** days; longer is no promise about a message, and the bound keeps
** now + window far from overflow).  rv_seconds_problem() returns 0 for
** such a value; else 1, with *pzMsg a sqlite3_malloc'd error naming zWhat
** (NULL when out of memory). */
#define RPC_DRAIN_MAX 31536000
int rv_seconds_problem(const char *zWhat, sqlite3_value *pVal, char **pzMsg);

int rv_version_from_value(sqlite3_value *pVal, RpcKey *pKey);
int rv_version_format(RpcKey key, char *zBuf);
void rv_result_version(sqlite3_context *ctx, RpcKey key);
void rv_result_bad_version(sqlite3_context *ctx, const char *zWhere,
                            sqlite3_value *pVal);
int rv_version_collate(void *pArg, int nA, const void *zA,
                       int nB, const void *zB);    /* COLLATE RPCVER */

/* Names (managers and methods): non-empty UTF-8 text without control
** characters, at most RPC_NAME_MAX bytes.  Returns NULL when pVal is a valid
** name, else a sqlite3_malloc'd reason. */
char *rv_name_problem(sqlite3_value *pVal);
/* Printable, quoted, length-capped rendering of any value for messages. */
char *rv_describe(sqlite3_value *pVal);
char *rv_quote(const char *z, int n);
/* z[0..n) with unsafe characters replaced, unquoted, cut after nMax. */
char *rv_printable(const char *z, int n, int nMax);
/* Like SQL's quote(), with rv_quote()'s text (rpcver_quote() in SQL). */
char *rv_quote_value(sqlite3_value *pVal);
void rv_errorf(sqlite3_context *ctx, const char *zFormat, ...);
/* An error for function zFunc from zMsg (NULL: rc's text), with the
** "rpcver: zFunc: " prefix unless zMsg has "rpcver:" already. */
void rv_error(sqlite3_context *ctx, const char *zFunc, const char *zMsg,
               int rc);

/*
** Per-connection state.
*/
typedef enum RpcStmtId {
  RPC_STMT_LOOKUP,          /* hot path: negotiated, max_lo of a method */
  RPC_STMT_SCHEMA_VERSION,
  RPC_STMT_RANGE_EXISTS,    /* rpc_register */
  RPC_STMT_RANGE_INSERT,
  RPC_STMT_RANGE_UPDATE,
  RPC_STMT_SENDER_EXISTS,   /* rpc_register_sender */
  RPC_STMT_SENDER_INSERT,
  RPC_STMT_SENDER_UPDATE,
  RPC_STMT_SENDER_UNREGISTER_COUNT,
  RPC_STMT_SENDER_UNREGISTER,
  RPC_STMT_DRAIN_READ,      /* rpc_drain */
  RPC_STMT_DRAIN_SET,
  RPC_STMT_DRAIN_CLEAR,
  RPC_STMT_DRAIN_DEFAULT,
  RPC_STMT_LOG_BOUNDS,      /* the event log (events.c, write.c) */
  RPC_STMT_LOG_KEEP,
  RPC_STMT_LOG_COUNT,
  RPC_STMT_VERIFY_LOG,
  RPC_STMT_UNREGISTER_COUNT,
  RPC_STMT_UNREGISTER,
  RPC_STMT_PIN,
  RPC_STMT_UNPIN,
  RPC_STMT_FORGET,
  RPC_STMT_HEARTBEAT,
  RPC_STMT_EXPIRE_COUNT,
  RPC_STMT_EXPIRE_MARK,
  RPC_STMT_EXPIRE_SENDERS,
  RPC_STMT_EXPIRE,
  RPC_STMT_EXPIRE_SHARE,
  RPC_STMT_CHECK,
  RPC_STMT_CHECK_V2,        /* rpc_check on a schema-2 database */
  RPC_STMT_READ_UNCOMMITTED,   /* whether a lookup may fill the cache */
  RPC_STMT_PROBE,           /* begins a read transaction (read.c, probe()) */
  RPC_STMT_JOURNAL_MODE,    /* read.c, private_rollback_kept() */
  RPC_STMT_VERIFY,
  RPC_STMT_SAVEPOINT,       /* the savepoint around each write (schema.c) */
  RPC_STMT_RELEASE,
  RPC_STMT_ROLLBACK_TO,
  RPC_STMT_COUNT
} RpcStmtId;

#define RPC_CACHE_SLOTS 64       /* the bound on rpc_max_send's cache */
#define RPC_TEXT_SLOTS 256       /* the bound on the interned version texts */

/* A version's canonical text, written once and never changed or freed
** before the RpcConn is (read.c, rv_text()): rpc_max_send() hands it to
** SQLite with SQLITE_STATIC instead of having SQLite copy it. */
typedef struct RpcText {
  RpcKey key;
  char z[RPC_KEY_TEXT_MAX];
} RpcText;

typedef struct RpcCacheEntry {
  unsigned int dataVersion;      /* SQLITE_FCNTL_DATA_VERSION when filled */
  int valid;
  int nMethod;
  char zMethod[RPC_NAME_MAX + 1];
  int hasRow;                    /* 0: method unknown when filled */
  RpcKey negotiated;             /* -1 when NULL */
  RpcKey maxLo;                  /* -1 when NULL */
  const char *zText;             /* negotiated's interned text, or 0 */
} RpcCacheEntry;

typedef struct RpcSchemaObjects RpcSchemaObjects;   /* audit.c */

typedef struct RpcConn {
  sqlite3 *db;
  int nRef;                      /* functions, the module, a connected vtab */
  int hookConnected;             /* rpcver_cache vtab connected (conn.c) */
  int hookShadowed;              /* a table in main hides rpcver_cache */
  int inExplain;                 /* rpc_explain() is running (report.c) */
  int inVerify;                  /* rpc_verify() is running (report.c) */
  RpcSchemaObjects *pExpected;   /* rpcver's schema objects, read once from
                                 ** the embedded script (audit.c) */
  const char *zFault;            /* why the last kept statement failed, when
                                 ** rpcver refused it (conn.c), else 0 */
  char *zStmtErr;                /* the message of the last kept statement
                                 ** that failed and was dropped (conn.c) */
  int replicated;                /* writes only inside BEGIN...COMMIT (write.c) */
  unsigned int nWrite;           /* write functions that succeeded here: every
                                 ** 64th keeps the event log's bounds */
  sqlite3_stmt *aStmt[RPC_STMT_COUNT];
  /* What the cache entries were filled against (read.c): the main
  ** database's file handle and the highest data version seen on it. */
  sqlite3_file *pCacheFile;
  const sqlite3_io_methods *pCacheMethods;
  int cacheRefused;              /* the file is on a VFS the cache cannot
                                 ** trust (read.c, file_cacheable()) */
  int cacheShared;               /* main is a file other connections can
                                 ** change (read.c, cache_state()) */
  const char *zCacheName;        /* then the address of its name, else 0 */
  int probeRefused;              /* PRAGMA data_version cannot be prepared
                                 ** here (read.c, probe()) */
  unsigned int cacheDataVersion;
  sqlite3_int64 cacheChanges;    /* sqlite3_total_changes64() when the
                                 ** private path last looked (read.c,
                                 ** private_rollback_kept()) */
  RpcCacheEntry aCache[RPC_CACHE_SLOTS];
  /* The interned version texts (read.c, rv_text()): aText[0..nText) in
  ** the order interned, and an open-addressing index into it (i+1, 0 for
  ** an empty slot). */
  int nText;
  RpcText aText[RPC_TEXT_SLOTS];
  unsigned short aTextIndex[2*RPC_TEXT_SLOTS];
} RpcConn;

RpcConn *rv_conn_new(sqlite3 *db);
/* NULL when a write function may run now, else a sqlite3_malloc'd reason
** (write.c): on a replicated host, writes need an explicit transaction. */
char *rv_write_problem(RpcConn *p, const char *zFunc);
void rv_conn_ref(RpcConn *p);
void rv_conn_unref(void *p);
int rv_conn_stmt(RpcConn *p, RpcStmtId id, const char *zSql,
                  sqlite3_stmt **ppStmt);
void rv_conn_stmt_drop(RpcConn *p, RpcStmtId id);
/* The message for the last failure: sqlite3_errmsg(), or why rpcver could
** not keep statements at all. */
const char *rv_conn_errmsg(RpcConn *p);
/* 1 (and the reason kept for rv_conn_errmsg()) when pStmt is running: an
** rpcver function was called again from inside its own query. */
int rv_conn_reentered(RpcConn *p, sqlite3_stmt *pStmt);
/* The same reason, for a function that was re-entered without a kept
** statement (rpc_explain). */
void rv_conn_fault(RpcConn *p);
/* Forget the reasons above, before a function's new attempt. */
void rv_conn_clear(RpcConn *p);
int rv_conn_register_hook(sqlite3 *db, RpcConn *p);

/* A savepoint around one write function (schema.c). */
int rv_savepoint_begin(RpcConn *p);
int rv_savepoint_end(RpcConn *p, int rc);
/* Create or migrate the schema inside the current savepoint. */
int rv_schema_ensure(RpcConn *p, char **pzErr);
/* The stored schema version (0: no schema) and revision (audit.c). */
int rv_schema_stored(RpcConn *p, sqlite3_int64 *pVersion,
                      sqlite3_int64 *pRevision, char **pzErr);
/* The embedded schema script (schema/rpcver.sql). */
const char *rv_schema_script(void);

/* The audit of the schema objects (audit.c): appends one line, ending in a
** newline, per difference from rpcver's own schema to pOut. */
typedef struct RpcAudit {
  int nLine;                     /* lines appended */
  int present;                   /* some object of rpcver's schema exists */
  int tablesOk;                  /* rpcver's tables are there, as it made them */
  int codeBad;                   /* a trigger, view or index is missing or
                                 ** differs from this revision's */
  int foreign;                   /* a trigger not rpcver's on its tables */
  int newer;                     /* the code is a newer rpcver's revision */
  int otherVersion;              /* the tables are another schema version's
                                 ** (reported as such; no data checks) */
  int logMissing;                /* the event log's table is missing (the
                                 ** other tables may still be checked) */
} RpcAudit;
#define RPC_VERIFY_LINES_MAX 100 /* lines of rpc_verify()'s report */
int rv_schema_audit(RpcConn *p, sqlite3_str *pOut, RpcAudit *pAudit);
/* The event log's checks for rpc_verify() (events.c): lines appended to
** pStr, *pnLine counting them against RPC_VERIFY_LINES_MAX. */
int rv_verify_log(RpcConn *p, sqlite3_str *pStr, int *pnLine);
/* Keep the event log within its bounds, every 64th write (events.c). */
int rv_log_bounds(RpcConn *p);
void rv_audit_free(RpcSchemaObjects *pObjs);
/* The objects of rpcver's schema, once rv_schema_audit() has read them. */
int rv_schema_object_count(RpcConn *p);
void rv_schema_object(RpcConn *p, int i, const char **pzType,
                       const char **pzName);

/* 1 when the rpcver tables exist (read functions return "unknown" otherwise). */
int rv_schema_present(sqlite3 *db);

/*
** The SQL functions, each implemented in the file its section names and
** registered from the one table in rpcver.c.  The C name is rv_ and the
** SQL name.
*/
#define RPC_SQL_FUNCTION(x) \
  void x(sqlite3_context *ctx, int argc, sqlite3_value **argv)
RPC_SQL_FUNCTION(rv_rpc_version_cmp);       /* version.c */
RPC_SQL_FUNCTION(rv_rpc_version_key);
RPC_SQL_FUNCTION(rv_rpc_version_norm);
RPC_SQL_FUNCTION(rv_rpcver_version);        /* rpcver.c */
RPC_SQL_FUNCTION(rv_rpc_register);          /* write.c */
RPC_SQL_FUNCTION(rv_rpc_unregister);
RPC_SQL_FUNCTION(rv_rpc_pin);
RPC_SQL_FUNCTION(rv_rpc_forget);
RPC_SQL_FUNCTION(rv_rpc_heartbeat);
RPC_SQL_FUNCTION(rv_rpc_expire);
RPC_SQL_FUNCTION(rv_rpc_init);              /* schema.c */
RPC_SQL_FUNCTION(rv_rpc_register_sender);   /* senders.c */
RPC_SQL_FUNCTION(rv_rpc_unregister_sender);
RPC_SQL_FUNCTION(rv_rpc_drain);
RPC_SQL_FUNCTION(rv_rpc_max_send);          /* read.c */
RPC_SQL_FUNCTION(rv_rpc_can_send);
RPC_SQL_FUNCTION(rv_rpc_check);
RPC_SQL_FUNCTION(rv_rpc_explain);           /* report.c */
RPC_SQL_FUNCTION(rv_rpc_verify);
RPC_SQL_FUNCTION(rv_rpc_log_keep);
RPC_SQL_FUNCTION(rv_rpcver_key);            /* message.c */
RPC_SQL_FUNCTION(rv_rpcver_name);
RPC_SQL_FUNCTION(rv_rpcver_check_range);
RPC_SQL_FUNCTION(rv_rpcver_seconds);
RPC_SQL_FUNCTION(rv_rpcver_refusal);        /* admission.c */
RPC_SQL_FUNCTION(rv_rpcver_sender_refusal);
RPC_SQL_FUNCTION(rv_rpcver_pin_refusal);
RPC_SQL_FUNCTION(rv_rpcver_text);
RPC_SQL_FUNCTION(rv_rpcver_quote);
RPC_SQL_FUNCTION(rv_rpcver_raise);
RPC_SQL_FUNCTION(rv_rpcver_lo);

#define RPC_PURE      (SQLITE_UTF8|SQLITE_DETERMINISTIC|SQLITE_INNOCUOUS)
#define RPC_READ      (SQLITE_UTF8|SQLITE_INNOCUOUS)
#define RPC_WRITE     (SQLITE_UTF8|SQLITE_DIRECTONLY)



/* Argument checks shared by the SQL functions: each returns 0 when the
** argument is good, else sets an "rpcver: FUNC: ARG ..." error on ctx. */
int rv_arg_name(sqlite3_context *ctx, const char *zFunc, const char *zArg,
                 sqlite3_value *pVal);
int rv_arg_version(sqlite3_context *ctx, const char *zFunc,
                    const char *zArg, sqlite3_value *pVal, RpcKey *pKey);

/* One method's negotiated version and max_lo (-1 for NULL), through the
** per-connection cache when it is safe (read.c). */
typedef struct RpcLookup {
  int hasRow;
  RpcKey negotiated;
  RpcKey maxLo;
  const char *zText;             /* negotiated's interned text (rv_text()),
                                 ** or 0: none, or the table is full */
} RpcLookup;
int rv_lookup(RpcConn *p, const char *zMethod, int nMethod, RpcLookup *pOut);
/* What a sender of [senderLo, cap] may send per pLook (read.c), -1: none. */
RpcKey rv_sendable(const RpcLookup *pLook, RpcKey cap, RpcKey senderLo);

/* The write functions' scaffolding (write.c): a savepoint and a current
** schema around the work, its statements run to the end, and the ranges of
** registrations (sender: 0 a receiver's, 1 a sender's). */
int rv_begin_write(sqlite3_context *ctx, RpcConn *p, const char *zFunc);
int rv_end_write(sqlite3_context *ctx, RpcConn *p, const char *zFunc, int rc);
int rv_run(sqlite3_stmt *pStmt);
int rv_arg_range(sqlite3_context *ctx, const char *zFunc, const char *zWhat,
                 int argc, sqlite3_value **argv, int iHi, RpcKey *pLo,
                 RpcKey *pHi);
int rv_write_range(RpcConn *p, int sender, sqlite3_value *pWho,
                   sqlite3_value *pMethod, RpcKey lo, RpcKey hi);
/* rpc_unregister and rpc_unregister_sender, as SQL functions */
void rv_unregister(sqlite3_context *ctx, int argc, sqlite3_value **argv,
                   int sender);
#endif /* RPCVER_INT_H */
