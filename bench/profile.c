/*
** A profiling driver for rpcver's write and read paths, for instruction
** counts under callgrind (bench/README.md, "Profiling").  make bench (or
** make build/bench/profile) builds it; subtract a run of zero operations,
** so that set-up and schema creation cancel out:
**
**   for n in 0 20000; do valgrind --tool=callgrind \
**     --callgrind-out-file=build/bench/cg.$n build/bench/profile bulk $n; done
**   # instructions per operation: (total(20000) - total(0)) / 20000
**
** MODE is one of
**   bulk        N rpc_register() calls (N/100 managers x 100 methods) in one
**               BEGIN IMMEDIATE ... COMMIT on a WAL file (case 5b)
**   dml         the same through INSERT INTO rpc_registrations
**   ranges      the same through INSERT INTO rpc_ranges (keys given)
**   plain       the same rows into a plain table without triggers
**   floor       the same registrations as five statements run from C in a
**               savepoint each, with every rpcver trigger dropped: the floor
**               of a design that keeps the aggregates exact on every write
**   single      N transactions of one new registration each (case 5a)
**   dmlsingle   the same through INSERT INTO rpc_registrations
**   plainsingle the same into the plain table
**   hot         N cached SELECT rpc_max_send(?1) on :memory: (case 1a)
**   sel         N SELECT ?1 on :memory:, the baseline of hot
**   hotwal      N rpc_max_send() inside one read transaction, WAL (1b)
**   fresh       N autocommit rpc_max_send() on a WAL file (case 2)
**   plainfresh  N autocommit SELECT negotiated FROM rpc_methods
** The database is build/bench/profile.db.  PROFILE_PRAGMA=SQL runs SQL
** first (for instance PRAGMA temp_store=MEMORY).
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sqlite3.h>
#include "rpcver.h"
static void ex(sqlite3 *db, const char *z){ char *e=0; if(sqlite3_exec(db,z,0,0,&e)){fprintf(stderr,"%s: %s\n",z,e);exit(1);} }
int main(int argc, char **argv){
  const char *mode; long n;
  sqlite3 *db; sqlite3_stmt *s; long i; char zM[32], zMeth[32];
  if( argc!=3 ){ fprintf(stderr, "usage: profile MODE N\n"); return 1; }
  mode = argv[1]; n = atol(argv[2]);
  sqlite3_auto_extension((void(*)(void))sqlite3_rpcver_init);
  unlink("build/bench/profile.db"); unlink("build/bench/profile.db-wal"); unlink("build/bench/profile.db-shm");
  if( !strcmp(mode,"hot") || !strcmp(mode,"sel") ){
    sqlite3_open(":memory:", &db);
  }else{
    sqlite3_open("build/bench/profile.db", &db);
    ex(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL");
  }
  if( getenv("PROFILE_PRAGMA") ) ex(db, getenv("PROFILE_PRAGMA"));  /* e.g. PRAGMA temp_store=MEMORY */
  ex(db, "SELECT rpc_init()");
  if( !strcmp(mode,"floor") ){
    /* The statements a new registration needs, run straight from C in one
    ** savepoint each, with every trigger of the three tables dropped: what
    ** any design that keeps the aggregates exact on every write must do. */
    sqlite3_stmt *q, *sp, *rel, *rng, *met, *ins, *mins, *mupd, *mgr;
    char *aDrop[64]; int k = 0;
    long long lo = 1LL<<40, hi = (1LL<<40)|(5<<20);
    sqlite3_prepare_v2(db, "SELECT 'DROP TRIGGER ' || name FROM sqlite_schema WHERE type='trigger' AND tbl_name IN ('rpc_ranges','rpc_methods','rpc_managers')", -1, &q, 0);
    while( sqlite3_step(q)==SQLITE_ROW && k<64 ) aDrop[k++] = sqlite3_mprintf("%s", sqlite3_column_text(q, 0));
    sqlite3_finalize(q);
    while( k>0 ){ ex(db, aDrop[--k]); sqlite3_free(aDrop[k]); }
    sqlite3_prepare_v2(db, "SAVEPOINT p", -1, &sp, 0);
    sqlite3_prepare_v2(db, "RELEASE p", -1, &rel, 0);
    sqlite3_prepare_v2(db, "SELECT lo, hi FROM rpc_ranges WHERE manager=?1 AND method=?2", -1, &rng, 0);
    sqlite3_prepare_v2(db, "SELECT receivers, max_lo, min_hi, newest, pin, floor FROM rpc_methods WHERE method=?1", -1, &met, 0);
    sqlite3_prepare_v2(db, "INSERT INTO rpc_ranges(manager, method, lo, hi) VALUES (?1, ?2, ?3, ?4)", -1, &ins, 0);
    sqlite3_prepare_v2(db, "INSERT INTO rpc_methods(method, receivers, max_lo, min_hi, newest, floor, seq) VALUES (?1, 1, ?2, ?3, ?3, ?3, 1)", -1, &mins, 0);
    sqlite3_prepare_v2(db, "UPDATE rpc_methods SET receivers=?2, max_lo=?3, min_hi=?4, newest=?5, floor=?6, seq=seq+1 WHERE method=?1", -1, &mupd, 0);
    sqlite3_prepare_v2(db, "INSERT INTO rpc_managers(manager, last_seen) VALUES (?1, unixepoch()) ON CONFLICT(manager) DO UPDATE SET last_seen=excluded.last_seen WHERE last_seen IS NOT excluded.last_seen", -1, &mgr, 0);
    ex(db, "BEGIN IMMEDIATE");
    for(i=0;i<n;i++){
      int have; long long rec = 0;
      snprintf(zM,sizeof zM,"mgr-%07ld", i/100); snprintf(zMeth,sizeof zMeth,"method-%02ld", i%100);
      sqlite3_step(sp); sqlite3_reset(sp);
      sqlite3_bind_text(rng,1,zM,-1,SQLITE_STATIC); sqlite3_bind_text(rng,2,zMeth,-1,SQLITE_STATIC);
      if( sqlite3_step(rng)==SQLITE_ROW ){ fprintf(stderr,"exists\n"); exit(1); } sqlite3_reset(rng);
      sqlite3_bind_text(met,1,zMeth,-1,SQLITE_STATIC);
      have = sqlite3_step(met)==SQLITE_ROW; if( have ) rec = sqlite3_column_int64(met,0); sqlite3_reset(met);
      sqlite3_bind_text(ins,1,zM,-1,SQLITE_STATIC); sqlite3_bind_text(ins,2,zMeth,-1,SQLITE_STATIC);
      sqlite3_bind_int64(ins,3,lo); sqlite3_bind_int64(ins,4,hi);
      if( sqlite3_step(ins)!=SQLITE_DONE ){ fprintf(stderr,"%s\n",sqlite3_errmsg(db)); exit(1); } sqlite3_reset(ins);
      if( !have ){
        sqlite3_bind_text(mins,1,zMeth,-1,SQLITE_STATIC); sqlite3_bind_int64(mins,2,lo); sqlite3_bind_int64(mins,3,hi);
        sqlite3_step(mins); sqlite3_reset(mins);
      }else{
        sqlite3_bind_text(mupd,1,zMeth,-1,SQLITE_STATIC); sqlite3_bind_int64(mupd,2,rec+1); sqlite3_bind_int64(mupd,3,lo);
        sqlite3_bind_int64(mupd,4,hi); sqlite3_bind_int64(mupd,5,hi); sqlite3_bind_int64(mupd,6,hi);
        sqlite3_step(mupd); sqlite3_reset(mupd);
      }
      sqlite3_bind_text(mgr,1,zM,-1,SQLITE_STATIC); sqlite3_step(mgr); sqlite3_reset(mgr);
      sqlite3_step(rel); sqlite3_reset(rel);
    }
    ex(db, "COMMIT");
  }else
  if( !strcmp(mode,"ranges") ){
    sqlite3_prepare_v2(db, "INSERT INTO rpc_ranges VALUES(?1,?2,?3,?4)", -1, &s, 0);
    ex(db, "BEGIN IMMEDIATE");
    for(i=0;i<n;i++){
      snprintf(zM,sizeof zM,"mgr-%07ld", i/100); snprintf(zMeth,sizeof zMeth,"method-%02ld", i%100);
      sqlite3_bind_text(s,1,zM,-1,SQLITE_STATIC); sqlite3_bind_text(s,2,zMeth,-1,SQLITE_STATIC);
      sqlite3_bind_int64(s,3,1LL<<40); sqlite3_bind_int64(s,4,(1LL<<40)|(5<<20));
      if( sqlite3_step(s)!=SQLITE_DONE ){ fprintf(stderr,"%s\n",sqlite3_errmsg(db)); exit(1);} sqlite3_reset(s);
    }
    ex(db, "COMMIT");
  }else
  if( !strcmp(mode,"plain") ){
    ex(db, "CREATE TABLE plain(manager TEXT NOT NULL, method TEXT NOT NULL, lo NOT NULL, hi NOT NULL, PRIMARY KEY(manager, method)) WITHOUT ROWID;"
  "CREATE INDEX plain_by_hi ON plain(method, hi);CREATE INDEX plain_by_lo ON plain(method, lo);");
    sqlite3_prepare_v2(db, "INSERT INTO plain VALUES(?1,?2,?3,?4)", -1, &s, 0);
    ex(db, "BEGIN IMMEDIATE");
    for(i=0;i<n;i++){
      snprintf(zM,sizeof zM,"mgr-%07ld", i/100); snprintf(zMeth,sizeof zMeth,"method-%02ld", i%100);
      sqlite3_bind_text(s,1,zM,-1,SQLITE_STATIC); sqlite3_bind_text(s,2,zMeth,-1,SQLITE_STATIC);
      sqlite3_bind_int64(s,3,1LL<<40); sqlite3_bind_int64(s,4,(1LL<<40)|(5<<20));
      sqlite3_step(s); sqlite3_reset(s);
    }
    ex(db, "COMMIT");
  }else
  if( !strcmp(mode,"bulk") || !strcmp(mode,"dml") ){
    int dml = !strcmp(mode,"dml");
    sqlite3_prepare_v2(db, dml ? "INSERT INTO rpc_registrations(manager,method,hi) VALUES(?1,?2,'1.5')" : "SELECT rpc_register(?1, ?2, '1.5')", -1, &s, 0);
    ex(db, "BEGIN IMMEDIATE");
    for(i=0;i<n;i++){
      snprintf(zM,sizeof zM,"mgr-%07ld", i/100); snprintf(zMeth,sizeof zMeth,"method-%02ld", i%100);
      sqlite3_bind_text(s,1,zM,-1,SQLITE_STATIC); sqlite3_bind_text(s,2,zMeth,-1,SQLITE_STATIC);
      int rc = sqlite3_step(s); if( rc!=SQLITE_ROW && rc!=SQLITE_DONE ){ fprintf(stderr,"%s\n",sqlite3_errmsg(db)); exit(1);} sqlite3_reset(s);
    }
    ex(db, "COMMIT");
  }else if( !strcmp(mode,"plainsingle") ){
    ex(db, "CREATE TABLE plain(manager TEXT NOT NULL, method TEXT NOT NULL, lo NOT NULL, hi NOT NULL, PRIMARY KEY(manager, method)) WITHOUT ROWID;"
  "CREATE INDEX plain_by_hi ON plain(method, hi);CREATE INDEX plain_by_lo ON plain(method, lo);");
    sqlite3_prepare_v2(db, "INSERT INTO plain VALUES(?1,?2,?3,?4)", -1, &s, 0);
    for(i=0;i<n;i++){
      snprintf(zM,sizeof zM,"mgr-%07ld", i); snprintf(zMeth,sizeof zMeth,"method-%02ld", i%100);
      ex(db, "BEGIN IMMEDIATE");
      sqlite3_bind_text(s,1,zM,-1,SQLITE_STATIC); sqlite3_bind_text(s,2,zMeth,-1,SQLITE_STATIC);
      sqlite3_bind_int64(s,3,1LL<<40); sqlite3_bind_int64(s,4,(1LL<<40)|(5<<20));
      sqlite3_step(s); sqlite3_reset(s);
      ex(db, "COMMIT");
    }
  }else if( !strcmp(mode,"single") || !strcmp(mode,"dmlsingle") ){
    int dml = !strcmp(mode,"dmlsingle");
    sqlite3_prepare_v2(db, dml ? "INSERT INTO rpc_registrations(manager,method,hi) VALUES(?1,?2,'1.5')" : "SELECT rpc_register(?1, ?2, '1.5')", -1, &s, 0);
    for(i=0;i<n;i++){
      snprintf(zM,sizeof zM,"mgr-%07ld", i); snprintf(zMeth,sizeof zMeth,"method-%02ld", i%100);
      ex(db, "BEGIN IMMEDIATE");
      sqlite3_bind_text(s,1,zM,-1,SQLITE_STATIC); sqlite3_bind_text(s,2,zMeth,-1,SQLITE_STATIC);
      { int rc = sqlite3_step(s); if( rc!=SQLITE_ROW && rc!=SQLITE_DONE ){ fprintf(stderr,"%s\n",sqlite3_errmsg(db)); exit(1);} } sqlite3_reset(s);
      ex(db, "COMMIT");
    }
  }else{
    int k;
    sqlite3_prepare_v2(db, "SELECT rpc_register(?1, ?2, '1.5')", -1, &s, 0);
    for(k=0;k<8;k++){ snprintf(zMeth,sizeof zMeth,"method-%02d", k);
      sqlite3_bind_text(s,1,"m1",-1,SQLITE_STATIC); sqlite3_bind_text(s,2,zMeth,-1,SQLITE_TRANSIENT);
      sqlite3_step(s); sqlite3_reset(s);}
    sqlite3_finalize(s);
    if( !strcmp(mode,"sel") ) sqlite3_prepare_v2(db,"SELECT ?1",-1,&s,0);
    else if( !strcmp(mode,"plainfresh") ) sqlite3_prepare_v2(db,"SELECT negotiated FROM rpc_methods WHERE method=?1",-1,&s,0);
    else sqlite3_prepare_v2(db,"SELECT rpc_max_send(?1)",-1,&s,0);
    if( !strcmp(mode,"hotwal") ) ex(db,"BEGIN; SELECT count(*) FROM rpc_methods");
    for(i=0;i<n;i++){
      snprintf(zMeth,sizeof zMeth,"method-%02ld", i%8);
      sqlite3_bind_text(s,1,zMeth,9,SQLITE_STATIC);
      if( sqlite3_step(s)!=SQLITE_ROW ) exit(2);
      const char *z = (const char*)sqlite3_column_text(s,0);
      if( !z ) exit(3);
      sqlite3_reset(s);
    }
    if( !strcmp(mode,"hotwal") ) ex(db,"COMMIT");
  }
  sqlite3_finalize(s);
  sqlite3_close(db);
  return 0;
}
