/*
** The audit of rpcver's schema objects, for rpc_verify() and rpc_init():
** every table, index, trigger and view of rpcver's schema is in the main
** database, as rpcver made it, and no other trigger runs on its tables.
**
** The rules live in the triggers, so a database whose triggers were dropped
** (by a tool, by hand, or by an old rpcver whose schema script resolved an
** unqualified name in an attached database) admits anything, yet its data
** can look consistent.  What rpcver's own objects should be is known
** exactly: the embedded schema script, run once per connection into a
** private in-memory database.  Every object is compared by its SQL as
** SQLite stores it, token by token (sql_tokens(): comments, spacing, case
** and identifier quotes do not count, everything else does: a generated
** column's formula, a type, a collation, a CHECK).  A database whose code
** is at an older revision is compared by its tables only, until its next
** write brings the code up to date; one at a newer revision (a newer rpcver
** wrote it) by what this rpcver knows must be there.
*/
#include "rpcver_int.h"
#include "schema_sql.h"         /* RPC_SCHEMA_VERSION, RPC_SCHEMA_REVISION */
#include <string.h>

/* One object of rpcver's schema, as the script creates it. */
typedef struct RpcObject {
  char *zType;
  char *zName;
  char *zTable;                 /* tbl_name */
  char *zSql;                   /* its SQL as sql_tokens() renders it */
} RpcObject;

struct RpcSchemaObjects {       /* rpcver_int.h: RpcConn.pExpected */
  int n;
  RpcObject a[1];               /* n of them */
};

void rv_audit_free(RpcSchemaObjects *pObjs){
  int i;
  if( pObjs==0 ) return;
  for(i=0; i<pObjs->n; i++){
    sqlite3_free(pObjs->a[i].zType);
    sqlite3_free(pObjs->a[i].zName);
    sqlite3_free(pObjs->a[i].zTable);
    sqlite3_free(pObjs->a[i].zSql);
  }
  sqlite3_free(pObjs);
}

/*
** SQL text as a canonical line of tokens, one space apart: comments and
** whitespace dropped, keywords and identifiers lowercased and stripped of
** their quotes ("x", [x], `x`), string literals kept as written.  Two
** statements SQLite would read the same way get the same line, whatever
** their layout and however a migration or a rename rewrote the text.
*/
static char lower_ascii(unsigned char c){
  return (char)(c>='A' && c<='Z' ? c + ('a' - 'A') : c);
}

static int ident_char(unsigned char c){
  return (c>='a' && c<='z') || (c>='A' && c<='Z') || (c>='0' && c<='9')
      || c=='_' || c=='$' || c=='.' || c>=0x80;
}

static char *sql_tokens(const char *zSql){
  const unsigned char *z = (const unsigned char*)(zSql ? zSql : "");
  sqlite3_str *pOut = sqlite3_str_new(0);
  while( *z ){
    const unsigned char *zStart;
    unsigned char c = *z;
    if( c==' ' || c=='\t' || c=='\n' || c=='\r' || c=='\f' ){ z++; continue; }
    if( c=='-' && z[1]=='-' ){
      while( *z && *z!='\n' ) z++;
      continue;
    }
    if( c=='/' && z[1]=='*' ){
      z += 2;
      while( *z && !(z[0]=='*' && z[1]=='/') ) z++;
      if( *z ) z += 2;
      continue;
    }
    if( sqlite3_str_length(pOut) ) sqlite3_str_appendchar(pOut, 1, ' ');
    zStart = z;
    if( c=='\'' ){                               /* a string literal */
      for(z++; *z; z++){
        if( *z=='\'' ){ if( z[1]=='\'' ){ z++; continue; } z++; break; }
      }
      sqlite3_str_append(pOut, (const char*)zStart, (int)(z - zStart));
    }else if( c=='"' || c=='`' || c=='[' ){      /* a quoted identifier */
      unsigned char cEnd = c=='[' ? ']' : c;
      for(z++; *z; z++){
        if( *z==cEnd ){ if( cEnd!=']' && z[1]==cEnd ){ z++; } else { z++; break; } }
        sqlite3_str_appendchar(pOut, 1, lower_ascii(*z));
      }
    }else if( ident_char(c) ){
      while( ident_char(*z) ){
        sqlite3_str_appendchar(pOut, 1, lower_ascii(*z));
        z++;
      }
    }else{
      sqlite3_str_appendchar(pOut, 1, (char)c);
      z++;
    }
  }
  return sqlite3_str_finish(pOut);
}

static char *dup_column(sqlite3_stmt *pStmt, int i){
  return sqlite3_mprintf("%s", sqlite3_column_text(pStmt, i));
}

/* Run the embedded schema script into a private in-memory database and
** read back what it created. */
static int load_expected(RpcConn *p){
  sqlite3 *db = 0;
  sqlite3_stmt *pStmt = 0;
  RpcSchemaObjects *pObjs = 0;
  int rc, n = 0;
  rc = sqlite3_open_v2(":memory:", &db,
                       SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, 0);
  if( rc==SQLITE_OK ) rc = sqlite3_exec(db, rv_schema_script(), 0, 0, 0);
  if( rc==SQLITE_OK ){
    rc = sqlite3_prepare_v2(db,
        "SELECT count(*) OVER (), type, name, tbl_name, sql"
        "  FROM main.sqlite_schema ORDER BY rowid", -1, &pStmt, 0);
  }
  while( rc==SQLITE_OK && sqlite3_step(pStmt)==SQLITE_ROW ){
    RpcObject *pObj;
    if( pObjs==0 ){
      int nAll = sqlite3_column_int(pStmt, 0);
      pObjs = sqlite3_malloc64(sizeof(*pObjs) + nAll*sizeof(RpcObject));
      if( pObjs==0 ){ rc = SQLITE_NOMEM; break; }
      memset(pObjs, 0, sizeof(*pObjs) + nAll*sizeof(RpcObject));
    }
    pObj = &pObjs->a[n++];
    pObjs->n = n;
    pObj->zType = dup_column(pStmt, 1);
    pObj->zName = dup_column(pStmt, 2);
    pObj->zTable = dup_column(pStmt, 3);
    pObj->zSql = sql_tokens((const char*)sqlite3_column_text(pStmt, 4));
    if( !pObj->zType || !pObj->zName || !pObj->zTable || !pObj->zSql ){
      rc = SQLITE_NOMEM;
    }
  }
  sqlite3_finalize(pStmt);
  sqlite3_close(db);
  if( rc==SQLITE_OK && pObjs==0 ) rc = SQLITE_ERROR;
  if( rc!=SQLITE_OK ){
    rv_audit_free(pObjs);
    return rc;
  }
  p->pExpected = pObjs;
  return SQLITE_OK;
}

int rv_schema_object_count(RpcConn *p){
  return p->pExpected ? p->pExpected->n : 0;
}

void rv_schema_object(RpcConn *p, int i, const char **pzType,
                       const char **pzName){
  *pzType = p->pExpected->a[i].zType;
  *pzName = p->pExpected->a[i].zName;
}

static const RpcObject *find_expected(RpcSchemaObjects *pObjs,
                                      const char *zName){
  int i;
  for(i=0; i<pObjs->n; i++){
    if( sqlite3_stricmp(pObjs->a[i].zName, zName)==0 ) return &pObjs->a[i];
  }
  return 0;
}

/* One line of the report, up to VERIFY_LINES_MAX; then one that says more
** were left out. */
static void add_line(sqlite3_str *pOut, RpcAudit *pAudit, const char *zFormat,
                     ...){
  va_list ap;
  if( pAudit->nLine>RPC_VERIFY_LINES_MAX ) return;
  if( pAudit->nLine==RPC_VERIFY_LINES_MAX ){
    sqlite3_str_appendall(pOut, "... more differences not shown\n");
    pAudit->nLine++;
    return;
  }
  va_start(ap, zFormat);
  sqlite3_str_vappendf(pOut, zFormat, ap);
  va_end(ap);
  sqlite3_str_appendchar(pOut, 1, '\n');
  pAudit->nLine++;
}

/* Which revision the code is at, with a line when it is not this rpcver's:
** 0 this one's, -1 older (or the version is not this one's), 1 newer. */
static int audit_revision(RpcConn *p, sqlite3_str *pOut, RpcAudit *pAudit){
  sqlite3_int64 v, rev;
  char *zErr = 0;
  int rc = rv_schema_stored(p, &v, &rev, &zErr);
  if( rc!=SQLITE_OK ){
    add_line(pOut, pAudit, "%s", zErr ? zErr : sqlite3_errstr(rc));
    sqlite3_free(zErr);
    return -1;
  }
  if( v==0 ){
    add_line(pOut, pAudit, "rpc_meta has no schema_version: rpcver always "
             "writes one");
    return -1;
  }
  if( v!=RPC_SCHEMA_VERSION ){
    add_line(pOut, pAudit, "rpc_meta: schema_version is %lld; this rpcver "
             "checks version %d (%s)", v, RPC_SCHEMA_VERSION,
             v<RPC_SCHEMA_VERSION ? "the next write or SELECT rpc_init() "
             "migrates it" : "load a newer rpcver");
    return v<RPC_SCHEMA_VERSION ? -1 : 1;
  }
  if( rev<RPC_SCHEMA_REVISION ){
    add_line(pOut, pAudit, "rpc_meta: schema_revision %lld is older than "
             "this rpcver's %d: the next write or SELECT rpc_init() brings "
             "its triggers and views up to date (they are not checked until "
             "then)", rev, RPC_SCHEMA_REVISION);
    return -1;
  }
  if( rev>RPC_SCHEMA_REVISION ){
    add_line(pOut, pAudit, "rpc_meta: schema_revision %lld was written by a "
             "newer rpcver; this one (revision %d) checks only that its own "
             "triggers, views and indexes are there", rev,
             RPC_SCHEMA_REVISION);
    return 1;
  }
  return 0;
}

/* The revision that added a table within this schema version (1 for the
** version's own tables): a database at an older revision has no such table
** until its next write or rpc_init() runs the script, and is not missing
** one.  rpc_log came with revision 7, and only its own triggers write it,
** which is why it needed no new schema version. */
static sqlite3_int64 table_revision(const char *zName){
  static const struct { const char *zName; int iRevision; } aLater[] = {
    { "rpc_log", 7 },
  };
  size_t i;
  for(i=0; i<sizeof(aLater)/sizeof(aLater[0]); i++){
    if( sqlite3_stricmp(aLater[i].zName, zName)==0 ) return aLater[i].iRevision;
  }
  return 1;
}

/* A table that holds history and no state: the event log.  No rule reads
** it, so one that is missing (dropped to reclaim its space, say) is not a
** damaged database: rpc_init() creates it again, empty, as it restores a
** trigger.  Every other table holds state, which rpcver cannot make up. */
static int table_is_history(const char *zName){
  return sqlite3_stricmp(zName, "rpc_log")==0;
}

int rv_schema_audit(RpcConn *p, sqlite3_str *pOut, RpcAudit *pAudit){
  sqlite3_stmt *pStmt = 0;
  RpcSchemaObjects *pObjs;
  unsigned char aSeen[256];
  int i, rc, revision = 0, pass, compareTables = 0;
  sqlite3_int64 storedRev = 1;

  memset(pAudit, 0, sizeof(*pAudit));
  if( p->pExpected==0 && (rc = load_expected(p))!=SQLITE_OK ) return rc;
  pObjs = p->pExpected;
  if( pObjs->n>(int)sizeof(aSeen) ) return SQLITE_INTERNAL;
  memset(aSeen, 0, sizeof(aSeen));

  /* The tables are compared only at this rpcver's schema version: an older
  ** one's are migrated by the next write, a newer one's are a newer
  ** rpcver's.  (A damaged rpc_meta is reported by audit_revision().) */
  {
    sqlite3_int64 ver = 0;
    char *zErr = 0;
    if( rv_schema_stored(p, &ver, &storedRev, &zErr)==SQLITE_OK ){
      compareTables = ver==RPC_SCHEMA_VERSION;
    }
    sqlite3_free(zErr);
  }
  rc = sqlite3_prepare_v2(p->db,
      "SELECT type, name, tbl_name, sql FROM main.sqlite_schema"
      " WHERE type IN ('table', 'view', 'index', 'trigger')", -1, &pStmt, 0);
  if( rc!=SQLITE_OK ) return rc;
  pAudit->tablesOk = 1;

  /* Pass 0: the tables, and what is not rpcver's.  Pass 1: the code, once
  ** the tables are known to be rpcver's and the revision to compare with. */
  for(pass=0; pass<2 && rc==SQLITE_OK; pass++){
    if( pass==1 ){
      if( !pAudit->present ) break;
      for(i=0; i<pObjs->n; i++){
        if( !aSeen[i] && strcmp(pObjs->a[i].zType, "table")==0 ){
          if( compareTables && storedRev<table_revision(pObjs->a[i].zName) ){
            continue;     /* the next write or rpc_init() creates it */
          }
          if( compareTables && table_is_history(pObjs->a[i].zName) ){
            add_line(pOut, pAudit, "table %s is missing (%s creates it "
                     "again, empty; until then every change that would be "
                     "logged fails)", pObjs->a[i].zName,
                     storedRev>RPC_SCHEMA_REVISION
                     ? "the newer rpcver's SELECT rpc_init()"
                     : "SELECT rpc_init()");
            pAudit->codeBad = 1;
            pAudit->logMissing = 1;
            continue;
          }
          if( compareTables ){
            add_line(pOut, pAudit, "table %s is missing", pObjs->a[i].zName);
          }else{
            pAudit->otherVersion = 1;
          }
          pAudit->tablesOk = 0;
        }
      }
      if( !pAudit->tablesOk ){
        if( pAudit->otherVersion ) audit_revision(p, pOut, pAudit);
        break;
      }
      revision = audit_revision(p, pOut, pAudit);
      if( revision<0 ) break;
    }
    while( sqlite3_step(pStmt)==SQLITE_ROW ){
      const char *zType = (const char*)sqlite3_column_text(pStmt, 0);
      const char *zName = (const char*)sqlite3_column_text(pStmt, 1);
      const char *zTable = (const char*)sqlite3_column_text(pStmt, 2);
      const RpcObject *pObj;
      char *zTokens;
      if( zType==0 || zName==0 || zTable==0 ) continue;
      pObj = find_expected(pObjs, zName);
      if( pObj==0 ){
        const RpcObject *pOn = find_expected(pObjs, zTable);
        if( pass==0 && strcmp(zType, "trigger")==0 && pOn ){
          char *zQuoted = rv_quote(zName, sqlite3_column_bytes(pStmt, 1));
          add_line(pOut, pAudit, "trigger %s on %s is not part of rpcver's "
                   "schema: it runs on writes of rpcver's %s, and can switch "
                   "its rules off; drop it", zQuoted, pOn->zName, pOn->zType);
          sqlite3_free(zQuoted);
          pAudit->foreign = 1;
        }
        continue;
      }
      if( pass==0 ){
        aSeen[pObj - pObjs->a] = 1;
        pAudit->present = 1;
      }
      if( strcmp(zType, pObj->zType)!=0 ){
        if( pass==0 ){
          add_line(pOut, pAudit, "%s is a %s; rpcver's %s is a %s: this "
                   "database's rpcver schema is not rpcver's", pObj->zName,
                   zType, pObj->zName, pObj->zType);
          if( strcmp(pObj->zType, "table")==0 ) pAudit->tablesOk = 0;
          else pAudit->codeBad = 1;
        }
        continue;
      }
      if( (strcmp(zType, "table")==0)!=(pass==0) ) continue;
      if( revision>0 ) continue;        /* a newer revision's code: its own */
      zTokens = sql_tokens((const char*)sqlite3_column_text(pStmt, 3));
      if( zTokens==0 ){ rc = SQLITE_NOMEM; break; }
      if( strcmp(zTokens, pObj->zSql)!=0 ){
        if( pass==0 ){
          /* at another schema version a difference is expected: the data
          ** checks, written for this version's tables, are left out */
          if( compareTables ){
            add_line(pOut, pAudit, "table %s is not rpcver's: its "
                     "definition differs from rpcver's (a column's type, "
                     "collation, constraint or formula)", pObj->zName);
          }else{
            pAudit->otherVersion = 1;
          }
          pAudit->tablesOk = 0;
        }else{
          add_line(pOut, pAudit, "%s %s is not rpcver's: its SQL differs "
                   "from revision %d's (SELECT rpc_init() restores it)",
                   pObj->zType, pObj->zName, RPC_SCHEMA_REVISION);
          pAudit->codeBad = 1;
        }
      }
      sqlite3_free(zTokens);
    }
    if( rc==SQLITE_OK ) rc = sqlite3_reset(pStmt);
  }
  if( rc==SQLITE_OK && pAudit->present && pAudit->tablesOk && revision>=0 ){
    for(i=0; i<pObjs->n; i++){
      if( !aSeen[i] && strcmp(pObjs->a[i].zType, "table")!=0 ){
        add_line(pOut, pAudit, "%s %s is missing (%s)",
                 pObjs->a[i].zType, pObjs->a[i].zName, revision>0
                 ? "or a newer revision removed it: check with that rpcver"
                 : "SELECT rpc_init() restores it");
        pAudit->codeBad = 1;
      }
    }
  }
  sqlite3_finalize(pStmt);
  if( !pAudit->present ) pAudit->tablesOk = 0;
  pAudit->newer = revision>0;
  return rc;
}
