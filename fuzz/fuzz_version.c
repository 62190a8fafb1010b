/*
** libFuzzer target: version parsing, canonical form, keys, comparison and
** COLLATE RPCVER, through the SQL functions.  Input: byte 0 holds the types
** of A (low 4 bits) and B (high 4 bits: text, integer, blob, real), byte 1
** the length of A; then A's bytes, then B's.  Properties:
**   - rpc_version_key(A) fails exactly when rpc_version_norm(A) fails, and
**     every failure is an "rpcver:" error;
**   - norm is idempotent and keeps the key: key(norm(A)) = key(A);
**   - cmp(A, B) = sign(key(A) - key(B)) = -cmp(B, A);
**   - COLLATE RPCVER agrees with cmp on versions.
** Any violation aborts.  Built by `make fuzz` (clang -fsanitize=fuzzer,...).
*/
#include <sqlite3.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "rpcver.h"

static sqlite3 *db;   /* one connection for the whole fuzzing run */

static void fail(const char *zWhy){
  fprintf(stderr, "fuzz_version: %s\n", zWhy);
  abort();
}

/* Bind bytes z[0..n) to parameter i of pStmt, as the type chosen by t. */
static void bind_as(sqlite3_stmt *pStmt, int i, int t, const uint8_t *z,
                    size_t n){
  switch( t % 4 ){
    case 0: sqlite3_bind_text(pStmt, i, (const char*)z, (int)n, SQLITE_TRANSIENT); break;
    case 1: {
      int64_t v = 0;
      memcpy(&v, z, n<8 ? n : 8);
      if( t & 4 ) v %= 2000000;            /* mostly near the valid range */
      sqlite3_bind_int64(pStmt, i, v);
      break;
    }
    case 2: sqlite3_bind_blob(pStmt, i, z, (int)n, SQLITE_TRANSIENT); break;
    default: {
      double d = 0;
      memcpy(&d, z, n<8 ? n : 8);
      sqlite3_bind_double(pStmt, i, d);
      break;
    }
  }
}

/* Run a one-column query on the values; returns 1 and the column as an
** integer or text (in zOut), or 0 on error (checking the error's prefix). */
static int query(const char *zSql, int tA, const uint8_t *a, size_t nA,
                 int tB, const uint8_t *b, size_t nB,
                 sqlite3_int64 *pInt, char *zOut, size_t nOut){
  sqlite3_stmt *pStmt = 0;
  int ok = 0;
  if( sqlite3_prepare_v2(db, zSql, -1, &pStmt, 0)!=SQLITE_OK ) fail(zSql);
  bind_as(pStmt, 1, tA, a, nA);
  if( sqlite3_bind_parameter_count(pStmt)>1 ) bind_as(pStmt, 2, tB, b, nB);
  if( sqlite3_step(pStmt)==SQLITE_ROW ){
    ok = 1;
    if( pInt ) *pInt = sqlite3_column_int64(pStmt, 0);
    if( zOut ){
      const char *z = (const char*)sqlite3_column_text(pStmt, 0);
      snprintf(zOut, nOut, "%s", z ? z : "");
    }
  }else if( strncmp(sqlite3_errmsg(db), "rpcver:", 7)!=0 ){
    fprintf(stderr, "error without the rpcver: prefix: %s\n", sqlite3_errmsg(db));
    fail(zSql);
  }
  sqlite3_finalize(pStmt);
  return ok;
}

int LLVMFuzzerInitialize(int *argc, char ***argv){
  (void)argc; (void)argv;
  sqlite3_auto_extension((void(*)(void))sqlite3_rpcver_init);
  if( sqlite3_open(":memory:", &db)!=SQLITE_OK ) fail("open");
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size){
  int tA, tB;
  const uint8_t *a, *b;
  size_t nA, nB;
  sqlite3_int64 kA, kB, k2, c1, c2, lt;
  char zNorm[64], zNorm2[64];
  int okA, okB;
  if( size<2 ) return 0;
  tA = data[0] & 0x0f;
  tB = data[0] >> 4;
  nA = data[1];
  if( nA>size-2 ) nA = size-2;
  a = data+2;
  b = a+nA;
  nB = size-2-nA;

  okA = query("SELECT rpc_version_key(?1)", tA, a, nA, 0, 0, 0, &kA, 0, 0);
  if( okA!=query("SELECT rpc_version_norm(?1)", tA, a, nA, 0, 0, 0, 0,
                 zNorm, sizeof(zNorm)) ){
    fail("key and norm disagree on validity");
  }
  if( okA ){
    if( !query("SELECT rpc_version_key(?1)", 0, (const uint8_t*)zNorm,
               strlen(zNorm), 0, 0, 0, &k2, 0, 0) || k2!=kA ){
      fail("key(norm(A)) != key(A)");
    }
    if( !query("SELECT rpc_version_norm(?1)", 0, (const uint8_t*)zNorm,
               strlen(zNorm), 0, 0, 0, 0, zNorm2, sizeof(zNorm2))
     || strcmp(zNorm, zNorm2)!=0 ){
      fail("norm is not idempotent");
    }
  }
  okB = query("SELECT rpc_version_key(?1)", tB, b, nB, 0, 0, 0, &kB, 0, 0);
  if( query("SELECT rpc_version_cmp(?1, ?2)", tA, a, nA, tB, b, nB,
            &c1, 0, 0)!=(okA && okB) ){
    fail("cmp validity differs from key validity");
  }
  if( okA && okB ){
    if( !query("SELECT rpc_version_cmp(?1, ?2)", tB, b, nB, tA, a, nA,
               &c2, 0, 0) ) fail("cmp(B, A) failed");
    if( c1!=(kA<kB ? -1 : kA>kB) || c2!=-c1 ) fail("cmp is not key order");
    if( tA%4==0 && tB%4==0 ){
      if( !query("SELECT ?1 < ?2 COLLATE RPCVER", tA, a, nA, tB, b, nB,
                 &lt, 0, 0) || lt!=(c1<0) ){
        fail("COLLATE RPCVER disagrees with cmp");
      }
    }
  }
  return 0;
}
