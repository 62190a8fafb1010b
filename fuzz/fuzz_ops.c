/*
** libFuzzer target: the input is decoded into a sequence of operations on an
** in-memory database, restored to its state after rpc_init() before each
** input (one connection serves the whole run, as in a long-lived service) — the write functions, the DML
** interface, pins, forget, expiry, raw hostile values, savepoints rolled
** back, senders (rpc_register_sender, rpc_unregister_sender, the
** rpc_senders view) and drain windows (rpc_drain, the rpc_drains view) —
** and after each one the safety invariant is checked:
**   - negotiated (and so rpc_max_send) lies inside every receiver's range;
**   - rpc_max_send(m) is negotiated's text;
**   - every registered sender of a method with receivers has something to
**     send: rpc_max_send(m, its hi, its lo) is not NULL and lies inside its
**     range and every receiver's;
**   - the floor never decreases, except by a pin that succeeded;
**   - rpc_verify() is 'ok';
**   - every error is an "rpcver:" error.
** Any violation aborts.  Built by `make fuzz`.
*/
#include <sqlite3.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "rpcver.h"

#define N_METHOD 3
static const char *azManager[] = { "a", "b", "c", "d", "e", "f" };
static const char *azMethod[N_METHOD] = { "volume", "backup", "obj:Volume" };

typedef struct Input { const uint8_t *z; size_t n, i; } Input;

static int next(Input *p){ return p->i<p->n ? p->z[p->i++] : 0; }

static void fail(const char *zWhy, const char *zSql){
  fprintf(stderr, "fuzz_ops: %s\n  after: %s\n", zWhy, zSql);
  abort();
}

/* A version near the interesting range: MAJOR 0..3, MINOR 0..7. */
static void version(Input *p, char *z){
  snprintf(z, 16, "%d.%d", next(p)%4, next(p)%8);
}

/* The fuzzer's connection and its statements, prepared once for the run
** (compiling the views' triggers on every call would make the fuzzer a
** hundred times slower). */
#define N_CACHED 40
typedef struct Cache { const char *azSql[N_CACHED]; sqlite3_stmt *apStmt[N_CACHED]; } Cache;
static Cache cache;
static Cache *pCache = &cache;
static sqlite3 *db;
static sqlite3_stmt *pCheck, *pVerify, *pSenders;

static sqlite3_stmt *prepared(sqlite3 *db, const char *zSql){
  int i;
  for(i=0; i<N_CACHED && pCache->azSql[i]; i++){
    if( pCache->azSql[i]==zSql ){
      sqlite3_reset(pCache->apStmt[i]);
      sqlite3_clear_bindings(pCache->apStmt[i]);
      return pCache->apStmt[i];
    }
  }
  if( i==N_CACHED ) fail("statement cache full", zSql);
  if( sqlite3_prepare_v2(db, zSql, -1, &pCache->apStmt[i], 0)!=SQLITE_OK ){
    fail(sqlite3_errmsg(db), zSql);
  }
  pCache->azSql[i] = zSql;
  return pCache->apStmt[i];
}

/* Run zSql with up to 3 text parameters (NULL pointer: SQL NULL); returns
** 1 on success, 0 on a refusal, which must be an rpcver: error. */
static int run(sqlite3 *db, const char *zSql, const char *a, int nA,
               const char *b, const char *c){
  sqlite3_stmt *pStmt = prepared(db, zSql);
  int rc;
  if( a ) sqlite3_bind_text(pStmt, 1, a, nA, SQLITE_TRANSIENT);
  if( b && sqlite3_bind_parameter_count(pStmt)>=2 ) sqlite3_bind_text(pStmt, 2, b, -1, SQLITE_TRANSIENT);
  if( c && sqlite3_bind_parameter_count(pStmt)>=3 ) sqlite3_bind_text(pStmt, 3, c, -1, SQLITE_TRANSIENT);
  while( (rc = sqlite3_step(pStmt))==SQLITE_ROW ){}
  sqlite3_reset(pStmt);
  if( rc==SQLITE_DONE ) return 1;
  if( strncmp(sqlite3_errmsg(db), "rpcver:", 7)!=0 ){
    fprintf(stderr, "error without the rpcver: prefix: %s\n", sqlite3_errmsg(db));
    fail("bad error", zSql);
  }
  return 0;
}

/* The invariant, as one query: one row per method with the number of
** receivers whose range excludes negotiated, whether rpc_max_send agrees
** with negotiated, and the floor; then rpc_verify(). */
static const char zCheckSql[] =
  "SELECT m.method,"
  "       (SELECT count(*) FROM rpc_ranges r WHERE r.method = m.method"
  "           AND NOT (r.lo <= m.negotiated AND m.negotiated <= r.hi)),"
  "       rpc_max_send(m.method) IS rpcver_text(m.negotiated)"
  "         OR (m.negotiated IS NULL AND rpc_max_send(m.method) IS NULL),"
  "       m.floor"
  "  FROM rpc_methods m";

/* The registered senders of methods with receivers left with nothing to
** send, or with a cap outside their range or a receiver's (0 when none). */
static const char zSendersSql[] =
  "WITH c AS ("
  "  SELECT s.method, s.lo, s.hi,"
  "         rpc_max_send(s.method, rpcver_text(s.hi), rpcver_text(s.lo)) AS cap"
  "    FROM rpc_sender_ranges s"
  "   WHERE EXISTS (SELECT 1 FROM rpc_ranges r WHERE r.method = s.method))"
  "SELECT count(*) FROM c"
  " WHERE CASE WHEN cap IS NULL THEN 1"
  "            ELSE rpc_version_key(cap) NOT BETWEEN c.lo AND c.hi"
  "              OR EXISTS (SELECT 1 FROM rpc_ranges r WHERE r.method = c.method"
  "                   AND NOT (r.lo <= rpc_version_key(cap)"
  "                            AND rpc_version_key(cap) <= r.hi)) END";

/* The invariant after an operation.  aFloor/aHas carry the floors seen. */
static void check(sqlite3 *db, sqlite3_stmt *pCheck, sqlite3_stmt *pVerify,
                  const char *zOp, int pinned, sqlite3_int64 *aFloor,
                  int *aHas){
  int m;
  int aNow[N_METHOD] = {0};
  while( sqlite3_step(pCheck)==SQLITE_ROW ){
    const char *zMethod = (const char*)sqlite3_column_text(pCheck, 0);
    if( sqlite3_column_int(pCheck, 1) ) fail("negotiated outside a receiver's range", zOp);
    if( !sqlite3_column_int(pCheck, 2) ) fail("rpc_max_send differs from negotiated", zOp);
    for(m=0; m<N_METHOD; m++){
      if( strcmp(zMethod, azMethod[m])==0 && sqlite3_column_type(pCheck, 3)!=SQLITE_NULL ){
        sqlite3_int64 f = sqlite3_column_int64(pCheck, 3);
        if( aHas[m] && f<aFloor[m] && !pinned ) fail("the floor fell without a pin", zOp);
        aFloor[m] = f;
        aNow[m] = 1;
      }
    }
  }
  sqlite3_reset(pCheck);
  memcpy(aHas, aNow, sizeof(aNow));
  if( sqlite3_step(pSenders)!=SQLITE_ROW ) fail(sqlite3_errmsg(db), zOp);
  if( sqlite3_column_int(pSenders, 0) ) fail("a registered sender has nothing to send", zOp);
  sqlite3_reset(pSenders);
  if( sqlite3_step(pVerify)!=SQLITE_ROW
   || strcmp((const char*)sqlite3_column_text(pVerify, 0), "ok")!=0 ){
    fprintf(stderr, "rpc_verify: %s\n", sqlite3_column_text(pVerify, 0));
    fail("rpc_verify is not ok", zOp);
  }
  sqlite3_reset(pVerify);
  (void)db;
}

/* The database right after rpc_init(), copied back before each input: a
** drain that runs cannot be emptied away (nothing but time ends it), and
** running rpc_init() for each input would make the fuzzer far slower. */
static unsigned char *aPristine;
static sqlite3_int64 nPristine;

static void restore_db(void){
  unsigned char *a = sqlite3_malloc64(nPristine);
  if( a==0 ) fail("out of memory", "restoring the database");
  memcpy(a, aPristine, nPristine);
  if( sqlite3_deserialize(db, "main", a, nPristine, nPristine,
                          SQLITE_DESERIALIZE_FREEONCLOSE
                          | SQLITE_DESERIALIZE_RESIZEABLE)!=SQLITE_OK ){
    fail(sqlite3_errmsg(db), "restoring the database");
  }
}

int LLVMFuzzerInitialize(int *argc, char ***argv){
  (void)argc; (void)argv;
  sqlite3_auto_extension((void(*)(void))sqlite3_rpcver_init);
  if( sqlite3_open(":memory:", &db)!=SQLITE_OK ) fail("open", "");
  if( sqlite3_exec(db, "SELECT rpc_init()", 0, 0, 0)!=SQLITE_OK ){
    fail(sqlite3_errmsg(db), "rpc_init");
  }
  aPristine = sqlite3_serialize(db, "main", &nPristine, 0);
  if( aPristine==0 ) fail("cannot serialize", "the database after rpc_init");
  if( sqlite3_prepare_v2(db, zCheckSql, -1, &pCheck, 0)!=SQLITE_OK
   || sqlite3_prepare_v2(db, "SELECT rpc_verify()", -1, &pVerify, 0)!=SQLITE_OK
   || sqlite3_prepare_v2(db, zSendersSql, -1, &pSenders, 0)!=SQLITE_OK ){
    fail(sqlite3_errmsg(db), "prepare the checks");
  }
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size){
  Input in = { data, size, 0 };
  sqlite3_int64 aFloor[N_METHOD] = {0};
  int aHas[N_METHOD] = {0};
  int nOp = 0;
  restore_db();
  while( in.i<in.n && nOp++<100 ){
    int op = next(&in) % 20;
    const char *g = azManager[next(&in) % 6];
    const char *m = azMethod[next(&in) % N_METHOD];
    char v1[16], v2[16];
    const char *zSql = "";
    int pinned = 0;
    version(&in, v1);
    version(&in, v2);
    switch( op ){
      case 0: run(db, zSql = "SELECT rpc_register(?1, ?2, ?3)", g, -1, m, v1); break;
      case 1: {
        /* a bridge: hi one major above */
        char hi[16];
        snprintf(hi, sizeof(hi), "%d.%d", (v1[0]-'0')+1, next(&in)%8);
        sqlite3_stmt *p;
        zSql = "SELECT rpc_register(?1, ?2, ?3, ?4)";
        p = prepared(db, zSql);
        sqlite3_bind_text(p, 1, g, -1, SQLITE_STATIC);
        sqlite3_bind_text(p, 2, m, -1, SQLITE_STATIC);
        sqlite3_bind_text(p, 3, hi, -1, SQLITE_STATIC);
        sqlite3_bind_text(p, 4, v1, -1, SQLITE_STATIC);
        if( sqlite3_step(p)!=SQLITE_ROW
         && strncmp(sqlite3_errmsg(db), "rpcver:", 7)!=0 ) fail(sqlite3_errmsg(db), zSql);
        sqlite3_reset(p);
        break;
      }
      case 2: run(db, zSql = "SELECT rpc_unregister(?1)", g, -1, 0, 0); break;
      case 3: run(db, zSql = "SELECT rpc_unregister(?1, ?2)", g, -1, m, 0); break;
      case 4: pinned = run(db, zSql = "SELECT rpc_pin(?1, ?2)", m, -1, v1, 0); break;
      case 5: run(db, zSql = "SELECT rpc_pin(?1, NULL)", m, -1, 0, 0); break;
      case 6: run(db, zSql = "SELECT rpc_forget(?1)", m, -1, 0, 0); break;
      case 7:
        run(db, zSql = "UPDATE rpc_managers SET last_seen = 0 WHERE manager = ?1", g, -1, 0, 0);
        run(db, "SELECT rpc_expire(1000)", 0, 0, 0, 0);
        break;
      case 8: run(db, zSql = "INSERT INTO rpc_registrations(manager, method, hi, lo)"
                             " VALUES (?1, ?2, ?3, NULL)", g, -1, m, v1); break;
      case 9: run(db, zSql = "UPDATE rpc_registrations SET hi = ?3, lo = ?2"
                             " WHERE manager = ?1", g, -1, v2, v1); break;
      case 10: pinned = run(db, zSql = "INSERT OR REPLACE INTO rpc_pins(method, version)"
                                       " VALUES (?1, ?2)", m, -1, v1, 0); break;
      case 11: run(db, zSql = "DELETE FROM rpc_registrations WHERE method = ?1 AND hi < ?2",
                   m, -1, v1, 0); break;
      case 12: {
        /* raw, hostile bytes as the manager, the method and a version */
        int n = next(&in) % 40;
        const char *z = (const char*)in.z + in.i;
        if( (size_t)n>in.n-in.i ) n = (int)(in.n-in.i);
        in.i += n;
        run(db, zSql = "SELECT rpc_register(?1, ?1, ?1)", z, n, 0, 0);
        run(db, "SELECT rpc_max_send(?1, ?1), rpc_can_send(?1, ?1),"
                " rpc_check(?1, ?1), rpc_explain(?1)", z, n, 0, 0);
        run(db, "SELECT rpc_register(?2, ?3, ?1)", z, n, g, m);
        run(db, "SELECT rpc_pin(?2, ?1)", z, n, m, 0);
        break;
      }
      case 14: run(db, zSql = "SELECT rpc_register_sender(?1, ?2, ?3)", g, -1, m, v1); break;
      /* a sender of one version only: lo = hi */
      case 15: run(db, zSql = "SELECT rpc_register_sender(?1, ?2, ?3, ?3)", g, -1, m, v1); break;
      case 16: run(db, zSql = "SELECT rpc_unregister_sender(?1)", g, -1, 0, 0); break;
      case 17: run(db, zSql = "SELECT rpc_unregister_sender(?1, ?2)", g, -1, m, 0); break;
      case 18: {
        /* a window of 0 to 3 s, or back to the default; or the default */
        static const char *azWindow[] = { "0", "1", "3", 0 };
        const char *w = azWindow[next(&in) % 4];
        if( next(&in) % 4 ){
          run(db, zSql = "SELECT rpc_drain(?1, ?2)", m, -1, w, 0);
        }else{
          run(db, zSql = "SELECT rpc_drain(NULL, ?1)", w ? w : "0", -1, 0, 0);
        }
        break;
      }
      case 19:
        if( next(&in) % 2 ){
          run(db, zSql = "INSERT OR REPLACE INTO rpc_senders(sender, method, hi, lo)"
                         " VALUES (?1, ?2, ?3, NULL)", g, -1, m, v1);
        }else{
          run(db, zSql = "DELETE FROM rpc_senders WHERE method = ?1 AND hi < ?2",
              m, -1, v1, 0);
        }
        break;
      default: {
        /* work inside a savepoint that is rolled back: nothing may remain */
        sqlite3_exec(db, "SAVEPOINT f", 0, 0, 0);
        run(db, "SELECT rpc_register(?1, ?2, ?3)", g, -1, m, v1);
        run(db, "SELECT rpc_pin(?1, ?2)", m, -1, v2, 0);
        sqlite3_exec(db, "ROLLBACK TO f; RELEASE f", 0, 0, 0);
        zSql = "SAVEPOINT ... ROLLBACK TO";
        pinned = 1;            /* the rollback may lower a floor it raised */
        break;
      }
    }
    check(db, pCheck, pVerify, zSql, pinned, aFloor, aHas);
  }
  return 0;
}
