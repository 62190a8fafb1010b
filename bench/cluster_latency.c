/*
** cluster_latency: what rpcver costs through a dqlite cluster next to a
** local database file, and what TLS adds.  bench/cluster.sh starts the
** clusters and runs it.
**
**   cluster_latency NODES LOCAL_DB [TLS_NODES CERT KEY CA]
**
** Per call, the median of repeated batches:
**   rpc_max_send   autocommit SELECT rpc_max_send(?): a local WAL file
**                  (own process, rpcver linked in) against the cluster's
**                  leader over the wire protocol (cluster/dqlite_client.c).
**   register       BEGIN IMMEDIATE; SELECT rpc_register(...); COMMIT, the
**                  safe write form on both; on the cluster the COMMIT
**                  waits for a majority of the nodes to have the pages.
** With TLS_NODES, the same calls through a second cluster whose nodes run
** with TLS (the client's connection and the nodes' Raft connections), with
** the client certificate CERT and KEY and the CA: the last columns, and
** the ratio of each call with TLS to the same without.  No pass or fail:
** the numbers are for reading.  Every call's answer is checked.
*/
#define _DEFAULT_SOURCE
#define _POSIX_C_SOURCE 200809L
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "rpcver.h"
#include "dqlite_client.h"

#define READ_BATCH     200
#define READ_BATCHES    25
#define WRITE_BATCH     20
#define WRITE_BATCHES    7

static double now_ns(void){
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec*1e9 + (double)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b){
  double x = *(const double*)a, y = *(const double*)b;
  return x<y ? -1 : x>y;
}

static double median(double *a, int n){
  qsort(a, (size_t)n, sizeof(double), cmp_double);
  return n%2 ? a[n/2] : (a[n/2-1] + a[n/2]) / 2;
}

static void die(const char *zWhat, const char *zMsg){
  fprintf(stderr, "cluster_latency: %s: %s\n", zWhat, zMsg);
  exit(1);
}

/* ------------------------------------------------------------ local */

static void local_exec(sqlite3 *db, const char *zSql){
  char *zErr = 0;
  if( sqlite3_exec(db, zSql, 0, 0, &zErr)!=SQLITE_OK ) die(zSql, zErr);
}

static const char *local_one(sqlite3_stmt *p){
  if( sqlite3_step(p)!=SQLITE_ROW ){
    die(sqlite3_sql(p), sqlite3_errmsg(sqlite3_db_handle(p)));
  }
  return (const char*)sqlite3_column_text(p, 0);
}

static double local_max_send(sqlite3 *db){
  sqlite3_stmt *p;
  double a[READ_BATCHES];
  int b, i;
  sqlite3_prepare_v2(db, "SELECT rpc_max_send(?1)", -1, &p, 0);
  sqlite3_bind_text(p, 1, "volume", -1, SQLITE_STATIC);
  for(b=-1; b<READ_BATCHES; b++){                 /* b = -1: warm-up */
    double t0 = now_ns();
    for(i=0; i<READ_BATCH; i++){
      if( strcmp(local_one(p), "3.16")!=0 ) die("local max_send", "wrong");
      sqlite3_reset(p);
    }
    if( b>=0 ) a[b] = (now_ns() - t0) / READ_BATCH;
  }
  sqlite3_finalize(p);
  return median(a, READ_BATCHES);
}

static double local_register(sqlite3 *db){
  sqlite3_stmt *p;
  double a[WRITE_BATCHES];
  int b, i;
  sqlite3_prepare_v2(db, "SELECT rpc_register('bench-' || ?1, 'volume',"
                         " '3.16')", -1, &p, 0);
  for(b=-1; b<WRITE_BATCHES; b++){
    double t0 = now_ns();
    for(i=0; i<WRITE_BATCH; i++){
      sqlite3_bind_int(p, 1, i);
      local_exec(db, "BEGIN IMMEDIATE");
      if( strcmp(local_one(p), "3.16")!=0 ) die("local register", "wrong");
      sqlite3_reset(p);
      local_exec(db, "COMMIT");
    }
    if( b>=0 ) a[b] = (now_ns() - t0) / WRITE_BATCH;
  }
  sqlite3_finalize(p);
  return median(a, WRITE_BATCHES);
}

/* ---------------------------------------------------------- cluster */

static const char *cluster_one(DqClient *p, const char *zSql, int n,
                               const char *const *az, DqRows *r){
  if( dq_query(p, zSql, n, az, r)!=DQ_OK ) die(zSql, dq_errmsg(p));
  if( r->nRow!=1 || r->nCol!=1 || r->azVal[0]==0 ) die(zSql, "not one value");
  return r->azVal[0];
}

static void cluster_exec(DqClient *p, const char *zSql){
  if( dq_exec(p, zSql, 0, 0, 0)!=DQ_OK ) die(zSql, dq_errmsg(p));
}

static double cluster_max_send(DqClient *p){
  const char *az[1] = { "volume" };
  double a[READ_BATCHES];
  int b, i;
  for(b=-1; b<READ_BATCHES; b++){
    double t0 = now_ns();
    for(i=0; i<READ_BATCH; i++){
      DqRows r;
      if( strcmp(cluster_one(p, "SELECT rpc_max_send(?1)", 1, az, &r),
                 "3.16")!=0 ){
        die("cluster max_send", "wrong");
      }
      dq_rows_free(&r);
    }
    if( b>=0 ) a[b] = (now_ns() - t0) / READ_BATCH;
  }
  return median(a, READ_BATCHES);
}

static double cluster_register(DqClient *p){
  double a[WRITE_BATCHES];
  int b, i;
  for(b=-1; b<WRITE_BATCHES; b++){
    double t0 = now_ns();
    for(i=0; i<WRITE_BATCH; i++){
      char zManager[32];
      const char *az[1] = { zManager };
      DqRows r;
      snprintf(zManager, sizeof(zManager), "bench-%d", i);
      cluster_exec(p, "BEGIN IMMEDIATE");
      if( strcmp(cluster_one(p, "SELECT rpc_register(?1, 'volume', '3.16')",
                             1, az, &r), "3.16")!=0 ){
        die("cluster register", "wrong");
      }
      dq_rows_free(&r);
      cluster_exec(p, "COMMIT");
    }
    if( b>=0 ) a[b] = (now_ns() - t0) / WRITE_BATCH;
  }
  return median(a, WRITE_BATCHES);
}

/* Connect to the leader of zNodes (with TLS when pTls) and set up the
** schema and two receivers of 'volume'. */
static DqClient *cluster_open(const char *zNodes, DqTls *pTls){
  DqClient *p = 0;
  DqLimits lim;
  char *zErr = 0;
  DqRows r;
  dq_limits_init(&lim);
  lim.timeoutMs = 30000;
  lim.tls = pTls;
  if( dq_connect_leader_with(zNodes, &lim, &p, &zErr)!=DQ_OK ) die("leader", zErr);
  if( dq_open(p, "rpcver")!=DQ_OK ) die("open", dq_errmsg(p));
  cluster_exec(p, "BEGIN IMMEDIATE");
  cluster_one(p, "SELECT rpc_init()", 0, 0, &r);   /* rows: a query */
  dq_rows_free(&r);
  cluster_exec(p, "COMMIT");
  cluster_exec(p, "INSERT INTO rpc_registrations(manager, method, hi)"
                  " VALUES ('host-a', 'volume', '3.16'),"
                  "        ('host-b', 'volume', '3.17')");
  return p;
}

int main(int argc, char **argv){
  sqlite3 *db;
  DqClient *p, *pT = 0;
  DqTls *pTls = 0;
  double lr, lw, cr, cw, tr = 0, tw = 0;
  if( argc!=3 && argc!=7 ){
    fprintf(stderr, "usage: cluster_latency NODES LOCAL_DB "
            "[TLS_NODES CERT KEY CA]\n");
    return 2;
  }
  sqlite3_auto_extension((void(*)(void))sqlite3_rpcver_init);
  if( sqlite3_open(argv[2], &db)!=SQLITE_OK ) die(argv[2], "cannot open");
  local_exec(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"
                 "SELECT rpc_register('host-a', 'volume', '3.16');"
                 "SELECT rpc_register('host-b', 'volume', '3.17');");
  p = cluster_open(argv[1], 0);
  if( argc==7 ){
    char *zErr = 0;
    if( dq_tls_new(argv[4], argv[5], argv[6], &pTls, &zErr) ) die("TLS", zErr);
    pT = cluster_open(argv[3], pTls);
  }

  lr = local_max_send(db);
  cr = cluster_max_send(p);
  if( pT ) tr = cluster_max_send(pT);
  lw = local_register(db);
  cw = cluster_register(p);
  if( pT ) tw = cluster_register(pT);
  printf("SQLite %s; cluster leader %s%s%s; median per call of %d batches\n",
         sqlite3_libversion(), dq_address(p), pT ? ", with TLS " : "",
         pT ? dq_address(pT) : "", READ_BATCHES);
  if( pT ){
    printf("%-44s %12s %14s %14s %8s %10s\n", "call", "local WAL",
           "3-node dqlite", "with TLS", "ratio", "TLS/plain");
    printf("%-44s %9.1f us %11.1f us %11.1f us %7.0fx %9.2fx\n",
           "SELECT rpc_max_send(?) (autocommit)", lr/1e3, cr/1e3, tr/1e3,
           cr/lr, tr/cr);
    printf("%-44s %9.1f us %11.1f us %11.1f us %7.1fx %9.2fx\n",
           "BEGIN IMMEDIATE; rpc_register(...); COMMIT", lw/1e3, cw/1e3,
           tw/1e3, cw/lw, tw/cw);
  }else{
    printf("%-44s %12s %14s %8s\n", "call", "local WAL", "3-node dqlite",
           "ratio");
    printf("%-44s %9.1f us %11.1f us %7.0fx\n",
           "SELECT rpc_max_send(?) (autocommit)", lr/1e3, cr/1e3, cr/lr);
    printf("%-44s %9.1f us %11.1f us %7.1fx\n",
           "BEGIN IMMEDIATE; rpc_register(...); COMMIT", lw/1e3, cw/1e3,
           cw/lw);
  }
  dq_close(p);
  dq_close(pT);
  dq_tls_free(pTls);
  sqlite3_close(db);
  return 0;
}
