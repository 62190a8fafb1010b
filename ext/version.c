/*
** Versions: parsing, canonical text, integer keys, and the pure SQL functions
** over them.
**
**   rpc_version_cmp(A, B)   -> -1, 0 or 1
**   rpc_version_key(V)      -> INTEGER; keys order exactly like versions
**   rpc_version_norm(V)     -> canonical text 'MAJOR.MINOR[.PATCH]'
**   ... COLLATE RPCVER      -> orders text versions ('3.10' after '3.9')
**
** A version is text MAJOR[.MINOR[.PATCH]]: one to three decimal components,
** each 0..1048575, written without leading zeros ('0' itself is fine).  '3',
** '3.0' and '3.0.0' are the same version.  Leading zeros are refused rather
** than read as decimal because '3.01' looks like a decimal fraction, and a
** version that two people read differently has no place in a rolling
** upgrade; SemVer makes the same choice.  A SQL INTEGER n means version 'n'.
** Anything else is an error naming the function and the bad value.
*/
#include "rpcver_int.h"
#include <string.h>

/* Parse text into a key.  Returns 0 on success, else nonzero. */
static int parse_text(const unsigned char *z, int n, RpcKey *pKey){
  sqlite3_int64 aPart[3] = {0, 0, 0};
  int nPart = 0;
  int i = 0;
  while( 1 ){
    int nDigit = 0;
    sqlite3_int64 v = 0;
    if( nPart==3 ) return 1;                     /* a fourth component */
    while( i<n && z[i]>='0' && z[i]<='9' ){
      if( nDigit>0 && v==0 ) return 1;           /* leading zero */
      v = v*10 + (z[i]-'0');
      if( v>RPC_COMPONENT_MAX ) return 1;        /* overflow */
      nDigit++;
      i++;
    }
    if( nDigit==0 ) return 1;                    /* '', '1.', '.1', 'x' */
    aPart[nPart++] = v;
    if( i==n ) break;
    if( z[i]!='.' ) return 1;
    i++;
  }
  *pKey = RPC_KEY(aPart[0], aPart[1], aPart[2]);
  return 0;
}

/* Returns 0 and sets *pKey when pVal is a version, else nonzero. */
int rv_version_from_value(sqlite3_value *pVal, RpcKey *pKey){
  switch( sqlite3_value_type(pVal) ){
    case SQLITE_INTEGER: {
      sqlite3_int64 v = sqlite3_value_int64(pVal);
      if( v<0 || v>RPC_COMPONENT_MAX ) return 1;
      *pKey = RPC_KEY(v, 0, 0);
      return 0;
    }
    case SQLITE_TEXT: {
      const unsigned char *z = sqlite3_value_text(pVal);
      int n = sqlite3_value_bytes(pVal);
      if( z==0 ) return 1;
      return parse_text(z, n, pKey);
    }
    default:
      return 1;
  }
}

/* Write the canonical text of key into zBuf (RPC_KEY_TEXT_MAX bytes). */
int rv_version_format(RpcKey key, char *zBuf){
  int major = (int)(key >> 40);
  int minor = (int)((key >> 20) & RPC_COMPONENT_MAX);
  int patch = (int)(key & RPC_COMPONENT_MAX);
  if( patch ){
    sqlite3_snprintf(RPC_KEY_TEXT_MAX, zBuf, "%d.%d.%d", major, minor, patch);
  }else{
    sqlite3_snprintf(RPC_KEY_TEXT_MAX, zBuf, "%d.%d", major, minor);
  }
  return (int)strlen(zBuf);
}

void rv_result_version(sqlite3_context *ctx, RpcKey key){
  char zBuf[RPC_KEY_TEXT_MAX];
  int n = rv_version_format(key, zBuf);
  sqlite3_result_text(ctx, zBuf, n, SQLITE_TRANSIENT);
}

/* Set an error that says which argument of which function is not a version,
** and why, quoting the value. */
void rv_result_bad_version(sqlite3_context *ctx, const char *zWhere,
                            sqlite3_value *pVal){
  char *zVal;
  switch( sqlite3_value_type(pVal) ){
    case SQLITE_NULL:
      rv_errorf(ctx, "rpcver: %s is NULL, but a version is required "
                 "(text such as '3.4')", zWhere);
      return;
    case SQLITE_INTEGER:
      rv_errorf(ctx, "rpcver: %s: %lld is not a version (an INTEGER version "
                 "must be 0..%d)", zWhere, sqlite3_value_int64(pVal),
                 RPC_COMPONENT_MAX);
      return;
    case SQLITE_FLOAT:
      rv_errorf(ctx, "rpcver: %s: the REAL %!.15g is not a version; pass "
                 "versions as text ('3.4'), since 3.10 and 3.1 are the same "
                 "REAL", zWhere, sqlite3_value_double(pVal));
      return;
    default:
      zVal = rv_describe(pVal);
      if( zVal==0 ){ sqlite3_result_error_nomem(ctx); return; }
      rv_errorf(ctx, "rpcver: %s: %s is not a version; expected text "
                 "MAJOR[.MINOR[.PATCH]] with decimal components 0..%d and "
                 "no leading zeros, e.g. '3.4'", zWhere, zVal,
                 RPC_COMPONENT_MAX);
      sqlite3_free(zVal);
      return;
  }
}

void rv_rpc_version_cmp(sqlite3_context *ctx, int argc,
                             sqlite3_value **argv){
  RpcKey a, b;
  (void)argc;
  if( rv_version_from_value(argv[0], &a) ){
    rv_result_bad_version(ctx, "rpc_version_cmp(A, B): A", argv[0]);
    return;
  }
  if( rv_version_from_value(argv[1], &b) ){
    rv_result_bad_version(ctx, "rpc_version_cmp(A, B): B", argv[1]);
    return;
  }
  sqlite3_result_int(ctx, a<b ? -1 : a>b);
}

void rv_rpc_version_key(sqlite3_context *ctx, int argc,
                             sqlite3_value **argv){
  RpcKey k;
  (void)argc;
  if( rv_version_from_value(argv[0], &k) ){
    rv_result_bad_version(ctx, "rpc_version_key(V): V", argv[0]);
    return;
  }
  sqlite3_result_int64(ctx, k);
}

void rv_rpc_version_norm(sqlite3_context *ctx, int argc,
                              sqlite3_value **argv){
  RpcKey k;
  (void)argc;
  if( rv_version_from_value(argv[0], &k) ){
    rv_result_bad_version(ctx, "rpc_version_norm(V): V", argv[0]);
    return;
  }
  rv_result_version(ctx, k);
}

/*
** COLLATE RPCVER.  A collation cannot raise an error, so text that is not a
** version sorts after every version, in byte order among itself: a column
** holding a stray bad value still sorts deterministically.
*/
int rv_version_collate(void *pArg, int nA, const void *zA,
                           int nB, const void *zB){
  RpcKey a, b;
  int badA = parse_text((const unsigned char*)zA, nA, &a);
  int badB = parse_text((const unsigned char*)zB, nB, &b);
  (void)pArg;
  if( !badA && !badB ) return a<b ? -1 : a>b;
  if( badA!=badB ) return badA ? 1 : -1;
  {
    int c = memcmp(zA, zB, nA<nB ? nA : nB);
    return c ? c : nA - nB;
  }
}
