/*
** cluster_driver: drives a dqlite cluster of rpcverd nodes for
** tests/cluster.test, through cluster/dqlite_client.c.
**
**   cluster_driver HOST:PORT[,HOST:PORT...] [DATABASE]
**
** With RPCVER_TLS_CERT, RPCVER_TLS_KEY and RPCVER_TLS_CA set (tests/tls.test)
** it speaks TLS with that certificate, key and CA; a failure to load them
** is "error 0 MESSAGE" on the first line.  DRIVER_TIMEOUT_MS (default
** 30000) bounds each search for the leader.
**
** Reads one command per line on stdin, fields separated by tabs ("\N" is
** SQL NULL), and answers on stdout, ending every answer with a line that
** starts "ok" or "error CODE MESSAGE" ("\n" in a field, a backslash and an
** n, stands for a newline):
**
**   query SQL [PARAM...]    the rows, one line each: "| " then the values,
**                           tab-separated
**   exec SQL [PARAM...]     "ok CHANGES"
**   leader                  "ok ID ADDRESS" of the connected leader
**   servers                 "ID ADDRESS ROLE" lines
**   transfer ID             hand leadership to node ID (TRANSFER request)
**   reconnect               find the leader again
**   stream FIRST COUNT      register managers s<FIRST>..s<FIRST+COUNT-1>
**                           for method 'stream', one transaction each,
**                           printing "ack N" when a commit is acknowledged;
**                           even N through rpc_register() in BEGIN
**                           IMMEDIATE...COMMIT, odd N through the
**                           rpc_registrations view in autocommit.  On a
**                           lost connection or leader it reconnects and
**                           repeats N: registration is idempotent.
*/
#define _DEFAULT_SOURCE
#define _POSIX_C_SOURCE 200809L
#include "dqlite_client.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *g_zNodes;
static const char *g_zDb = "rpcver";
static DqClient *g_p;
static DqTls *g_pTls;

static int reconnect(void){
  char *zErr = 0;
  DqLimits lim;
  dq_close(g_p);
  g_p = 0;
  dq_limits_init(&lim);
  lim.timeoutMs = getenv("DRIVER_TIMEOUT_MS") ? atoi(getenv("DRIVER_TIMEOUT_MS"))
                                              : 30000;
  lim.tls = g_pTls;
  if( dq_connect_leader_with(g_zNodes, &lim, &g_p, &zErr)!=DQ_OK ){
    printf("error 0 %s\n", zErr ? zErr : "out of memory");
    free(zErr);
    return 1;
  }
  if( dq_open(g_p, g_zDb)!=DQ_OK ){
    printf("error %d %s\n", dq_errcode(g_p), dq_errmsg(g_p));
    return 1;
  }
  return 0;
}

static void report_error(void){
  printf("error %d %s\n", dq_errcode(g_p), dq_errmsg(g_p));
}

static int split(char *z, char **az, int nMax){
  int n = 0;
  char *zSave = 0, *zTok;
  for(zTok=strtok_r(z, "\t", &zSave); zTok && n<nMax;
      zTok=strtok_r(0, "\t", &zSave)){
    char *zIn, *zOut;
    if( strcmp(zTok, "\\N")==0 ){
      az[n++] = 0;
      continue;
    }
    for(zIn=zOut=zTok; *zIn; zIn++){
      if( zIn[0]=='\\' && zIn[1]=='n' ){
        *zOut++ = '\n';
        zIn++;
      }else{
        *zOut++ = *zIn;
      }
    }
    *zOut = 0;
    az[n++] = zTok;
  }
  return n;
}

/* Is this failure one after which another leader must be found? */
static int lost_leader(int rc){
  return rc==DQ_IOERR || dq_errcode(g_p)==DQ_NOT_LEADER
      || dq_errcode(g_p)==DQ_LEADERSHIP_LOST;
}

static int register_one(long n){
  char zManager[32];
  const char *az[2];
  int rc;
  DqRows r;
  snprintf(zManager, sizeof(zManager), "s%ld", n);
  az[0] = zManager;
  az[1] = "1.0";
  if( n%2==0 ){
    rc = dq_exec(g_p, "BEGIN IMMEDIATE", 0, 0, 0);
    if( rc==DQ_OK ){
      rc = dq_query(g_p, "SELECT rpc_register(?1, 'stream', ?2)", 2, az, &r);
      dq_rows_free(&r);
    }
    if( rc==DQ_OK ) rc = dq_exec(g_p, "COMMIT", 0, 0, 0);
    if( rc!=DQ_OK && rc!=DQ_IOERR ){
      /* keep the failure's code and message for the caller */
      int code = dq_errcode(g_p);
      char *zMsg = strdup(dq_errmsg(g_p));
      dq_exec(g_p, "ROLLBACK", 0, 0, 0);
      if( !lost_leader(rc) || code ){
        printf("note rollback after %d %s\n", code, zMsg ? zMsg : "");
      }
      free(zMsg);
    }
  }else{
    rc = dq_exec(g_p, "INSERT INTO rpc_registrations(manager, method, hi)"
                      " VALUES (?1, 'stream', ?2)", 2, az, 0);
  }
  return rc;
}

static void stream(long first, long count){
  long n;
  for(n=first; n<first+count; n++){
    int attempts = 0;
    for(;;){
      int rc = register_one(n);
      if( rc==DQ_OK ){
        printf("ack %ld\n", n);
        fflush(stdout);
        break;
      }
      if( !lost_leader(rc) && dq_errcode(g_p)!=5 /* SQLITE_BUSY */ ){
        report_error();
        return;
      }
      printf("note %ld: %s; finding the leader again\n", n, dq_errmsg(g_p));
      fflush(stdout);
      if( ++attempts > 20 || reconnect() ){
        printf("error 0 gave up on s%ld after %d attempts\n", n, attempts);
        return;
      }
    }
  }
  printf("ok %ld\n", count);
}

static void print_rows(DqRows *r){
  int i, j;
  for(i=0; i<r->nRow; i++){
    printf("| ");
    for(j=0; j<r->nCol; j++){
      const char *z = r->azVal[i*r->nCol + j];
      printf("%s%s", j ? "\t" : "", z ? z : "\\N");
    }
    printf("\n");
  }
}

int main(int argc, char **argv){
  char zLine[65536];
  if( argc<2 ){
    fprintf(stderr, "usage: cluster_driver HOST:PORT[,...] [DATABASE]\n");
    return 2;
  }
  g_zNodes = argv[1];
  if( argc>2 ) g_zDb = argv[2];
  setvbuf(stdout, 0, _IOLBF, 0);
  if( getenv("RPCVER_TLS_CERT") ){
    char *zErr = 0;
    if( dq_tls_new(getenv("RPCVER_TLS_CERT"), getenv("RPCVER_TLS_KEY"),
                   getenv("RPCVER_TLS_CA"), &g_pTls, &zErr) ){
      printf("error 0 %s\n", zErr ? zErr : "out of memory");
      free(zErr);
      return 1;
    }
  }
  if( reconnect() ){
    dq_close(g_p);
    dq_tls_free(g_pTls);
    return 1;
  }
  printf("ok connected to %s\n", dq_address(g_p));
  while( fgets(zLine, sizeof(zLine), stdin) ){
    char *az[64];
    int n;
    zLine[strcspn(zLine, "\n")] = 0;
    n = split(zLine, az, 64);
    if( n==0 || az[0]==0 ) continue;
    if( g_p==0 && strcmp(az[0], "reconnect")!=0 ){
      /* a reconnect failed: nothing to send this on */
      printf("error 0 not connected\n");
    }else if( strcmp(az[0], "query")==0 && n>=2 ){
      DqRows r;
      if( dq_query(g_p, az[1], n-2, (const char *const*)az+2, &r)==DQ_OK ){
        print_rows(&r);
        printf("ok %d\n", r.nRow);
      }else{
        report_error();
      }
      dq_rows_free(&r);
    }else if( strcmp(az[0], "exec")==0 && n>=2 ){
      uint64_t nChanged = 0;
      if( dq_exec(g_p, az[1], n-2, (const char *const*)az+2,
                  &nChanged)==DQ_OK ){
        printf("ok %llu\n", (unsigned long long)nChanged);
      }else{
        report_error();
      }
    }else if( strcmp(az[0], "leader")==0 ){
      uint64_t id;
      char *zAddr = 0;
      if( dq_leader(g_p, &id, &zAddr)==DQ_OK ){
        printf("ok %llu %s\n", (unsigned long long)id, zAddr);
      }else{
        report_error();
      }
      free(zAddr);
    }else if( strcmp(az[0], "servers")==0 ){
      DqServer *a;
      int nServer, i;
      if( dq_servers(g_p, &a, &nServer)==DQ_OK ){
        for(i=0; i<nServer; i++){
          printf("%llu %s %s\n", (unsigned long long)a[i].id, a[i].zAddress,
                 a[i].role==DQ_VOTER ? "voter" :
                 a[i].role==DQ_STANDBY ? "standby" : "spare");
        }
        dq_servers_free(a, nServer);
        printf("ok %d\n", nServer);
      }else{
        report_error();
      }
    }else if( strcmp(az[0], "transfer")==0 && n==2 ){
      if( dq_transfer(g_p, strtoull(az[1], 0, 10))==DQ_OK ){
        printf("ok\n");
      }else{
        report_error();
      }
    }else if( strcmp(az[0], "reconnect")==0 ){
      if( reconnect()==0 ) printf("ok %s\n", dq_address(g_p));
    }else if( strcmp(az[0], "stream")==0 && n==3 ){
      stream(atol(az[1]), atol(az[2]));
    }else{
      printf("error 0 unknown command %s\n", az[0]);
    }
  }
  dq_close(g_p);
  dq_tls_free(g_pTls);
  return 0;
}
