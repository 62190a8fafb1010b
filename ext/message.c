/*
** Messages: rpcver's errors quote the offending value.  Values can be
** hostile (a megabyte of text, invalid UTF-8, NUL bytes, control characters),
** so they are rendered printable, quoted SQL-style, and capped in length
** before they reach an error message.  Names are validated here too.
*/
#include "rpcver_int.h"
#include <string.h>

#define QUOTE_MAX 64      /* bytes of a value shown in a message */

/*
** Text from a database is shown only after it is made safe: valid UTF-8
** without control or format characters.  Besides C0 controls and DEL that
** means the C1 controls U+0080-U+009F (U+009B is a terminal's CSI), the
** line and paragraph separators U+2028/U+2029 (a line break to Python's
** splitlines()), and the bidirectional overrides and isolates, which
** reorder what a reader sees.  Names may not contain them at all.
*/
static int unsafe_codepoint(unsigned int cp){
  return cp<0x20 || cp==0x7f || (cp>=0x80 && cp<=0x9f)
      || cp==0x061c || cp==0x200e || cp==0x200f
      || cp==0x2028 || cp==0x2029
      || (cp>=0x202a && cp<=0x202e) || (cp>=0x2066 && cp<=0x2069);
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
void rpc_error(sqlite3_context *ctx, const char *zFunc, const char *zMsg,
               int rc){
  if( zMsg==0 ) zMsg = sqlite3_errstr(rc);
  if( strncmp(zMsg, "rpcver:", 7)==0 ){
    result_safe_error(ctx, sqlite3_mprintf("%s", zMsg));
  }else{
    result_safe_error(ctx, sqlite3_mprintf("rpcver: %s: %s", zFunc, zMsg));
  }
  if( rc!=SQLITE_OK ) sqlite3_result_error_code(ctx, rc);
}

void rpc_errorf(sqlite3_context *ctx, const char *zFormat, ...){
  va_list ap;
  char *zMsg;
  va_start(ap, zFormat);
  zMsg = sqlite3_vmprintf(zFormat, ap);
  va_end(ap);
  result_safe_error(ctx, zMsg);
}

/* z[0..n) made safe, without quotes, cut after nMax bytes with "...". */
char *rpc_printable(const char *zIn, int n, int nMax){
  char *z = sqlite3_mprintf("%.*s%s", n<nMax ? n : nMax, zIn,
                            n>nMax ? "..." : "");
  if( z ) make_safe(z);
  return z;
}

/* A quoted, printable rendering of z[0..n): valid UTF-8 is kept, unsafe
** characters and invalid bytes become '?', and long values are cut. */
char *rpc_quote(const char *zIn, int n){
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
char *rpc_describe(sqlite3_value *pVal){
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
      return rpc_quote(z, sqlite3_value_bytes(pVal));
    }
  }
}

/* Any value as SQL's quote() renders it, but with rpc_quote()'s text: for
** reports that show a stored value as it is. */
char *rpc_quote_value(sqlite3_value *pVal){
  switch( sqlite3_value_type(pVal) ){
    case SQLITE_INTEGER: return sqlite3_mprintf("%lld",
                                                sqlite3_value_int64(pVal));
    case SQLITE_FLOAT:   return sqlite3_mprintf("%!.15g",
                                                sqlite3_value_double(pVal));
    default:             return rpc_describe(pVal);
  }
}

char *rpc_name_problem(sqlite3_value *pVal){
  const unsigned char *z;
  int n, i;
  if( sqlite3_value_type(pVal)!=SQLITE_TEXT ){
    char *zVal = rpc_describe(pVal);
    char *zMsg = sqlite3_mprintf("must be text, not %s", zVal);
    sqlite3_free(zVal);
    return zMsg;
  }
  z = sqlite3_value_text(pVal);
  n = sqlite3_value_bytes(pVal);
  if( z==0 ) return 0;
  if( n==0 ) return sqlite3_mprintf("must not be empty");
  if( n>RPC_NAME_MAX ){
    char *zVal = rpc_quote((const char*)z, n);
    char *zMsg = sqlite3_mprintf("%s is %d bytes long; the limit is %d",
                                 zVal, n, RPC_NAME_MAX);
    sqlite3_free(zVal);
    return zMsg;
  }
  for(i=0; i<n; ){
    unsigned int cp = 0;
    int len = utf8_sequence(z+i, n-i, &cp);
    if( len==0 || unsafe_codepoint(cp) ){
      char *zVal = rpc_quote((const char*)z, n);
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

int rpc_arg_name(sqlite3_context *ctx, const char *zFunc, const char *zArg,
                 sqlite3_value *pVal){
  char *zProblem = rpc_name_problem(pVal);
  if( zProblem==0 ) return 0;
  rpc_errorf(ctx, "rpcver: %s: %s %s", zFunc, zArg, zProblem);
  sqlite3_free(zProblem);
  return 1;
}

int rpc_arg_version(sqlite3_context *ctx, const char *zFunc,
                    const char *zArg, sqlite3_value *pVal, RpcKey *pKey){
  char *zWhere;
  if( rpc_version_from_value(pVal, pKey)==0 ) return 0;
  zWhere = sqlite3_mprintf("%s: %s", zFunc, zArg);
  if( zWhere==0 ){
    sqlite3_result_error_nomem(ctx);
  }else{
    rpc_result_bad_version(ctx, zWhere, pVal);
    sqlite3_free(zWhere);
  }
  return 1;
}
