/*
** Messages: rpcver's errors quote the offending value.  Values can be
** hostile (a megabyte of text, invalid UTF-8, NUL bytes, control characters),
** so they are rendered printable, quoted SQL-style, and capped in length
** before they reach an error message.  Names are validated here too, and
** the small SQL functions the schema's triggers call to check values and to
** word their refusals live at the end.
*/
#include "rpcver_int.h"
#include <string.h>

#define QUOTE_MAX 64      /* bytes of a value shown in a message */

/*
** Text from a database is shown only after it is made safe: valid UTF-8
** without the characters that act on a terminal, break a line or change
** what a reader sees.  Names may not contain them at all.  The list (the
** CLI's unsafe_cp() in cli/output.c escapes the same characters; its
** tests/cli.test 13.x holds the two lists equal over the BMP):
**   - C0 controls U+0000-U+001F, DEL U+007F, and C1 controls U+0080-U+009F
**     (U+009B is a terminal's CSI, U+0085 a line break);
**   - Unicode's bidirectional controls (Bidi_Control): U+061C, U+200E,
**     U+200F, U+202A-U+202E, U+2066-U+2069, which reorder what a reader
**     sees;
**   - the zero-width and invisible characters U+200B-U+200D, U+2060-U+2064
**     and U+FEFF, which make two names that look the same differ;
**   - the line and paragraph separators U+2028 and U+2029 (a line break to
**     Python's splitlines()).
*/
static int unsafe_codepoint(unsigned int cp){
  return cp<0x20 || cp==0x7f || (cp>=0x80 && cp<=0x9f)
      || cp==0x061c || cp==0x200e || cp==0x200f
      || (cp>=0x202a && cp<=0x202e) || (cp>=0x2066 && cp<=0x2069)
      || (cp>=0x200b && cp<=0x200d) || (cp>=0x2060 && cp<=0x2064)
      || cp==0xfeff
      || cp==0x2028 || cp==0x2029;
}

/* Length of the valid UTF-8 sequence at z[0..n), or 0 when invalid (its
** code point in *pCp).  Overlong forms, surrogates and values above
** U+10FFFF are invalid. */
static int utf8_sequence(const unsigned char *z, int n, unsigned int *pCp){
  unsigned int c = z[0];
  int len, i;
  unsigned int cp;
  if( c<0x80 ){ *pCp = c; return 1; }
  if( c>=0xC2 && c<=0xDF ){ len = 2; cp = c & 0x1F; }
  else if( c>=0xE0 && c<=0xEF ){ len = 3; cp = c & 0x0F; }
  else if( c>=0xF0 && c<=0xF4 ){ len = 4; cp = c & 0x07; }
  else return 0;
  if( n<len ) return 0;
  for(i=1; i<len; i++){
    if( (z[i] & 0xC0)!=0x80 ) return 0;
    cp = (cp<<6) | (z[i] & 0x3F);
  }
  if( (len==3 && cp<0x800) || (len==4 && (cp<0x10000 || cp>0x10FFFF)) ){
    return 0;
  }
  if( cp>=0xD800 && cp<=0xDFFF ) return 0;
  *pCp = cp;
  return len;
}

/* The length of the safe character at z[0..n), or 0 when it is invalid
** UTF-8 or unsafe (it is then shown as one '?' for its first byte). */
static int safe_char(const unsigned char *z, int n){
  unsigned int cp = 0;
  int len = utf8_sequence(z, n, &cp);
  return len && !unsafe_codepoint(cp) ? len : 0;
}

/* Make the NUL-terminated z safe in place: each invalid byte and each
** unsafe character becomes '?' (never longer than before). */
static void make_safe(char *z){
  unsigned char *zIn = (unsigned char*)z, *zOut = (unsigned char*)z;
  int n = (int)strlen(z);
  while( n>0 ){
    int len = safe_char(zIn, n);
    if( len==0 ){
      unsigned int cp = 0;
      int skip = utf8_sequence(zIn, n, &cp);
      *zOut++ = '?';
      if( skip==0 ) skip = 1;
      zIn += skip; n -= skip;
    }else{
      memmove(zOut, zIn, len);
      zOut += len; zIn += len; n -= len;
    }
  }
  *zOut = 0;
}

static void result_safe_error(sqlite3_context *ctx, char *zMsg){
  if( zMsg==0 ){
    sqlite3_result_error_nomem(ctx);
  }else{
    make_safe(zMsg);
    sqlite3_result_error(ctx, zMsg, -1);
    sqlite3_free(zMsg);
  }
}

/* The one place that decides a message's prefix: one that already starts
** with "rpcver:" (rpcver's own, raised by its triggers or a nested call) is
** used as it is; any other (SQLite's) gets "rpcver: FUNC: " in front.
** SQLite's result code is kept.  Either is made safe: a message may carry
** a name from the database. */
void rv_error(sqlite3_context *ctx, const char *zFunc, const char *zMsg,
               int rc){
  /* A dropped event log fails every write that would be logged, in
  ** SQLite's words alone: say what repairs it (audit.c) */
  static const char zNoLog[] = "no such table: main.rpc_log";
  const size_t nNoLog = sizeof(zNoLog) - 1;
  const char *zHint = "";
  size_t n;
  if( zMsg==0 ) zMsg = sqlite3_errstr(rc);
  n = strlen(zMsg);
  if( n>=nNoLog && strcmp(zMsg + n - nNoLog, zNoLog)==0 ){
    zHint = " (the event log was dropped: SELECT rpc_init() creates it "
            "again)";
  }
  if( strncmp(zMsg, "rpcver:", 7)==0 ){
    result_safe_error(ctx, sqlite3_mprintf("%s%s", zMsg, zHint));
  }else{
    result_safe_error(ctx, sqlite3_mprintf("rpcver: %s: %s%s", zFunc, zMsg,
                                           zHint));
  }
  if( rc!=SQLITE_OK ) sqlite3_result_error_code(ctx, rc);
}

void rv_errorf(sqlite3_context *ctx, const char *zFormat, ...){
  va_list ap;
  char *zMsg;
  va_start(ap, zFormat);
  zMsg = sqlite3_vmprintf(zFormat, ap);
  va_end(ap);
  result_safe_error(ctx, zMsg);
}

/* z[0..n) made safe, without quotes, cut after nMax bytes with "...". */
char *rv_printable(const char *zIn, int n, int nMax){
  char *z = sqlite3_mprintf("%.*s%s", n<nMax ? n : nMax, zIn,
                            n>nMax ? "..." : "");
  if( z ) make_safe(z);
  return z;
}

/* A quoted, printable rendering of z[0..n): valid UTF-8 is kept, unsafe
** characters and invalid bytes become '?', and long values are cut. */
char *rv_quote(const char *zIn, int n){
  const unsigned char *z = (const unsigned char*)zIn;
  sqlite3_str *pStr = sqlite3_str_new(0);
  int i = 0;
  sqlite3_str_appendchar(pStr, 1, '\'');
  while( i<n && i<QUOTE_MAX ){
    int len = safe_char(z+i, n-i);
    if( len==0 ){
      /* one '?' for an unsafe character, one for each invalid byte */
      unsigned int cp;
      int skip = utf8_sequence(z+i, n-i, &cp);
      sqlite3_str_appendchar(pStr, 1, '?');
      i += skip ? skip : 1;
    }else if( z[i]=='\'' ){
      sqlite3_str_appendall(pStr, "''");
      i++;
    }else{
      sqlite3_str_append(pStr, (const char*)z+i, len);
      i += len;
    }
  }
  sqlite3_str_appendchar(pStr, 1, '\'');
  if( i<n ) sqlite3_str_appendf(pStr, "... (%d bytes)", n);
  return sqlite3_str_finish(pStr);
}

/* Any value, for a message: text is quoted, other types say what they are. */
char *rv_describe(sqlite3_value *pVal){
  switch( sqlite3_value_type(pVal) ){
    case SQLITE_NULL:    return sqlite3_mprintf("NULL");
    case SQLITE_INTEGER: return sqlite3_mprintf("the INTEGER %lld",
                                                sqlite3_value_int64(pVal));
    case SQLITE_FLOAT:   return sqlite3_mprintf("the REAL %!.15g",
                                                sqlite3_value_double(pVal));
    case SQLITE_BLOB:    return sqlite3_mprintf("a BLOB of %d bytes",
                                                sqlite3_value_bytes(pVal));
    default: {
      const char *z = (const char*)sqlite3_value_text(pVal);
      if( z==0 ) return 0;
      return rv_quote(z, sqlite3_value_bytes(pVal));
    }
  }
}

/* Any value as SQL's quote() renders it, but with rv_quote()'s text: for
** reports that show a stored value as it is. */
char *rv_quote_value(sqlite3_value *pVal){
  switch( sqlite3_value_type(pVal) ){
    case SQLITE_INTEGER: return sqlite3_mprintf("%lld",
                                                sqlite3_value_int64(pVal));
    case SQLITE_FLOAT:   return sqlite3_mprintf("%!.15g",
                                                sqlite3_value_double(pVal));
    default:             return rv_describe(pVal);
  }
}

char *rv_name_problem(sqlite3_value *pVal){
  const unsigned char *z;
  int n, i;
  if( sqlite3_value_type(pVal)!=SQLITE_TEXT ){
    char *zVal = rv_describe(pVal);
    char *zMsg = sqlite3_mprintf("must be text, not %s", zVal);
    sqlite3_free(zVal);
    return zMsg;
  }
  z = sqlite3_value_text(pVal);
  n = sqlite3_value_bytes(pVal);
  if( z==0 ) return 0;
  if( n==0 ) return sqlite3_mprintf("must not be empty");
  if( n>RPC_NAME_MAX ){
    char *zVal = rv_quote((const char*)z, n);
    char *zMsg = sqlite3_mprintf("%s is %d bytes long; the limit is %d",
                                 zVal, n, RPC_NAME_MAX);
    sqlite3_free(zVal);
    return zMsg;
  }
  for(i=0; i<n; ){
    unsigned int cp = 0;
    int len = utf8_sequence(z+i, n-i, &cp);
    if( len==0 || unsafe_codepoint(cp) ){
      char *zVal = rv_quote((const char*)z, n);
      char *zWhat = len==0 ? sqlite3_mprintf("invalid UTF-8")
                  : cp<0xa0 ? sqlite3_mprintf("a control character")
                  : sqlite3_mprintf("the format character U+%04X", cp);
      char *zMsg = sqlite3_mprintf("%s contains %s at byte %d; names are "
               "UTF-8 text without control characters", zVal, zWhat, i);
      sqlite3_free(zWhat);
      sqlite3_free(zVal);
      return zMsg;
    }
    i += len;
  }
  return 0;
}

int rv_arg_name(sqlite3_context *ctx, const char *zFunc, const char *zArg,
                 sqlite3_value *pVal){
  char *zProblem = rv_name_problem(pVal);
  if( zProblem==0 ) return 0;
  rv_errorf(ctx, "rpcver: %s: %s %s", zFunc, zArg, zProblem);
  sqlite3_free(zProblem);
  return 1;
}

int rv_arg_version(sqlite3_context *ctx, const char *zFunc,
                    const char *zArg, sqlite3_value *pVal, RpcKey *pKey){
  char *zWhere;
  if( rv_version_from_value(pVal, pKey)==0 ) return 0;
  zWhere = sqlite3_mprintf("%s: %s", zFunc, zArg);
  if( zWhere==0 ){
    sqlite3_result_error_nomem(ctx);
  }else{
    rv_result_bad_version(ctx, zWhere, pVal);
    sqlite3_free(zWhere);
  }
  return 1;
}

/************************************************ the triggers' helpers */
/*
** The schema's helpers: small INNOCUOUS functions that rpcver's own triggers
** call, because a trigger's RAISE() accepts only a string literal and
** rpcver's errors must name the manager, the method and the versions.  They
** have no side effects, so they run under PRAGMA trusted_schema=OFF.  They
** are not part of the public interface.
**
**   rpcver_key(WHAT, V)          -> version key of V, or an error naming WHAT
**   rpcver_name(WHAT, V)         -> V when it is a valid name, else an error
**   rpcver_check_range(WHO, METHOD, LO, HI [, 'sender']) -> NULL, or an error
**   rpcver_seconds(WHAT, V)      -> V as an INTEGER when it is a whole
**                                   number of seconds 0..RPC_DRAIN_MAX,
**                                   else an error naming WHAT
** (the admission helpers are in admission.c)
**   rpcver_lo(HI, LO)            -> key of LO, or of MAJOR(HI).0 when NULL
**   rpcver_raise(MESSAGE)        -> raises MESSAGE as an SQL error
**   rpcver_text(KEY)             -> version text of a key, for reports
**   rpcver_quote(V)              -> V for a message: like quote(), but text
**                                   is printable and cut (message.c)
*/
#define KEY_LIMIT ((RpcKey)1 << 60)

void rv_rpcver_key(sqlite3_context *ctx, int argc, sqlite3_value **argv){
  RpcKey k;
  (void)argc;
  if( rv_version_from_value(argv[1], &k) ){
    rv_result_bad_version(ctx, (const char*)sqlite3_value_text(argv[0]),
                           argv[1]);
    return;
  }
  sqlite3_result_int64(ctx, k);
}

void rv_rpcver_name(sqlite3_context *ctx, int argc, sqlite3_value **argv){
  char *zProblem = rv_name_problem(argv[1]);
  (void)argc;
  if( zProblem ){
    rv_errorf(ctx, "rpcver: %s %s", sqlite3_value_text(argv[0]), zProblem);
    sqlite3_free(zProblem);
    return;
  }
  sqlite3_result_value(ctx, argv[1]);
}

static int is_key(sqlite3_value *pVal){
  return sqlite3_value_type(pVal)==SQLITE_INTEGER
      && sqlite3_value_int64(pVal)>=0
      && sqlite3_value_int64(pVal)<KEY_LIMIT;
}

/* Validate a row of rpc_ranges (the view's triggers and direct writes). */
void rv_rpcver_check_range(sqlite3_context *ctx, int argc,
                             sqlite3_value **argv){
  /* WHO is a manager (rpc_ranges), or a sender (KIND 'sender') */
  int sender = argc>4;
  const char *azCol[2];
  const char *zView = sender ? "rpc_senders" : "rpc_registrations";
  char zLo[RPC_KEY_TEXT_MAX], zHi[RPC_KEY_TEXT_MAX];
  char *zManager = 0, *zMethod = 0;
  int i;
  azCol[0] = sender ? "sender" : "manager";
  azCol[1] = "method";
  for(i=0; i<2; i++){
    char *zProblem = rv_name_problem(argv[i]);
    if( zProblem ){
      rv_errorf(ctx, "rpcver: registration: %s %s", azCol[i], zProblem);
      sqlite3_free(zProblem);
      return;
    }
  }
  /* Every registration passes here: render the names only for a message. */
  if( is_key(argv[2]) && is_key(argv[3])
   && sqlite3_value_int64(argv[2])<=sqlite3_value_int64(argv[3]) ){
    return;
  }
  zManager = rv_describe(argv[0]);
  zMethod = rv_describe(argv[1]);
  if( !is_key(argv[2]) || !is_key(argv[3]) ){
    int iBad = is_key(argv[2]) ? 3 : 2;
    char *zVal = rv_describe(argv[iBad]);
    rv_errorf(ctx, "rpcver: registration of %s %s for method %s: %s "
               "%s is not a version key (write %s, which takes versions as "
               "text)", azCol[0], zManager, zMethod,
               iBad==2 ? "lo" : "hi", zVal, zView);
    sqlite3_free(zVal);
  }else if( sqlite3_value_int64(argv[2])>sqlite3_value_int64(argv[3]) ){
    rv_version_format(sqlite3_value_int64(argv[2]), zLo);
    rv_version_format(sqlite3_value_int64(argv[3]), zHi);
    rv_errorf(ctx, "rpcver: registration of %s %s for method %s: lo "
               "%s is above hi %s; a range needs lo <= hi", azCol[0], zManager,
               zMethod, zLo, zHi);
  }
  sqlite3_free(zManager);
  sqlite3_free(zMethod);
}

/* Reports (rpc_verify, rpc_explain) render keys they may find corrupted. */
void rv_rpcver_text(sqlite3_context *ctx, int argc, sqlite3_value **argv){
  (void)argc;
  if( sqlite3_value_type(argv[0])==SQLITE_NULL ){
    sqlite3_result_text(ctx, "NULL", 4, SQLITE_STATIC);
  }else if( is_key(argv[0]) ){
    rv_result_version(ctx, sqlite3_value_int64(argv[0]));
  }else{
    char *zVal = rv_describe(argv[0]);
    char *zMsg = sqlite3_mprintf("<not a version key: %s>", zVal);
    sqlite3_free(zVal);
    if( zMsg==0 ){ sqlite3_result_error_nomem(ctx); return; }
    sqlite3_result_text(ctx, zMsg, -1, sqlite3_free);
  }
}

/* Messages quote names from the database, which may hold any bytes: SQL's
** quote() and printf('%Q') would pass control characters and invalid UTF-8
** through to a terminal or a UTF-8 decoder. */
void rv_rpcver_quote(sqlite3_context *ctx, int argc, sqlite3_value **argv){
  char *z = rv_quote_value(argv[0]);
  (void)argc;
  if( z==0 ){ sqlite3_result_error_nomem(ctx); return; }
  sqlite3_result_text(ctx, z, -1, sqlite3_free);
}

/* Raises MESSAGE; NULL raises nothing (an admitted registration's
** rpcver_refusal()).  The message is made safe like any other (rv_error):
** a file's own view or trigger may call this with any text. */
void rv_rpcver_raise(sqlite3_context *ctx, int argc, sqlite3_value **argv){
  const char *zMsg = (const char*)sqlite3_value_text(argv[0]);
  (void)argc;
  if( zMsg==0 ) return;
  rv_error(ctx, "rpcver_raise", zMsg, SQLITE_ERROR);
}

/* (numeric text counts: "5" from a binding that binds text) */
int rv_seconds_problem(const char *zWhat, sqlite3_value *pVal, char **pzMsg){
  char *zVal;
  if( sqlite3_value_type(pVal)!=SQLITE_BLOB
   && sqlite3_value_numeric_type(pVal)==SQLITE_INTEGER
   && sqlite3_value_int64(pVal)>=0
   && sqlite3_value_int64(pVal)<=RPC_DRAIN_MAX ){
    return 0;
  }
  zVal = rv_describe(pVal);
  *pzMsg = sqlite3_mprintf("rpcver: %s must be a whole number of seconds from "
      "0 to %d (365 days): how long a message may stay in flight, the "
      "longest call timeout or a cast's message TTL; not %s",
      zWhat, RPC_DRAIN_MAX, zVal ? zVal : "(out of memory)");
  sqlite3_free(zVal);
  return 1;
}

void rv_rpcver_seconds(sqlite3_context *ctx, int argc, sqlite3_value **argv){
  const char *zWhat = (const char*)sqlite3_value_text(argv[0]);
  char *zMsg = 0;
  (void)argc;
  if( rv_seconds_problem(zWhat ? zWhat : "seconds", argv[1], &zMsg) ){
    if( zMsg==0 ){ sqlite3_result_error_nomem(ctx); return; }
    rv_error(ctx, "rpcver_seconds", zMsg, SQLITE_ERROR);
    sqlite3_free(zMsg);
    return;
  }
  sqlite3_result_int64(ctx, sqlite3_value_int64(argv[1]));
}

/* oslo.messaging's rule, written once for the triggers, the bindings and
** the CLI as for the C functions (RPC_KEY_MAJOR_BASE): a receiver that
** gives no lo accepts its hi's major from .0. */
void rv_rpcver_lo(sqlite3_context *ctx, int argc, sqlite3_value **argv){
  RpcKey hi, lo;
  (void)argc;
  if( rv_arg_version(ctx, "rpcver_lo", "hi", argv[0], &hi) ) return;
  if( sqlite3_value_type(argv[1])==SQLITE_NULL ){
    lo = RPC_KEY_MAJOR_BASE(hi);
  }else if( rv_arg_version(ctx, "rpcver_lo", "lo", argv[1], &lo) ){
    return;
  }
  sqlite3_result_int64(ctx, lo);
}
