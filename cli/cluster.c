/*
** The CLI on a dqlite cluster: `rpcver --cluster HOST:PORT,... SUBCOMMAND`.
**
** The subcommands run the same SQL as on a file, sent to the cluster's
** leader over dqlite's wire protocol (cluster/dqlite_client.c): reads in
** BEGIN ... COMMIT where they need one snapshot, writes in BEGIN IMMEDIATE
** ... COMMIT, the form in which dqlite replicates a write made by a
** function.  The leader's rpcver does the work, so the answers are the
** same as on a file.  A leader change in the middle of a command fails it
** with exit 4; running it again finds the new leader.
**
** The whole command keeps to one deadline (--timeout, 10 s by default),
** finding the leader included, however slowly the nodes answer; each answer
** is capped in rows and bytes (--max-rows, --max-bytes; the client's
** defaults otherwise).  Whatever a node says is shown safely (cli_printf).
**
** With --tls-cert, --tls-key and --tls-ca (each, when not given, from
** $RPCVER_TLS_CERT, $RPCVER_TLS_KEY, $RPCVER_TLS_CA) every connection is
** TLS 1.3 with that certificate, trusting that CA only; the handshake is
** part of the same deadline.
*/
#include "cli.h"
#include "dqlite_client.h"
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

/* zMsg is a node's (or holds a node's words): cli_printf shows it safely. */
static int cluster_error(Cli *cli, const char *zMsg){
  if( strncmp(zMsg, "rpcver:", 7)==0 ){
    cli_printf(stderr, "%s\n", zMsg);
  }else{
    cli_printf(stderr, "rpcver: cluster %s, database %s: %s\n", cli->zCluster,
               cli->zDb, zMsg);
  }
  return RC_ERROR;
}

/* Each TLS file from its option, else from its variable.  RC_OK with
** none or all three; else a usage error, naming what is missing. */
static int tls_files(Cli *cli){
  static const struct { size_t iField; const char *zOpt, *zEnv; } a[] = {
    { offsetof(Cli, zTlsCert), "--tls-cert", "RPCVER_TLS_CERT" },
    { offsetof(Cli, zTlsKey),  "--tls-key",  "RPCVER_TLS_KEY" },
    { offsetof(Cli, zTlsCa),   "--tls-ca",   "RPCVER_TLS_CA" },
  };
  char zMissing[64] = "";
  int i, n = 0;
  for(i=0; i<3; i++){
    const char **pz = (const char**)((char*)cli + a[i].iField);
    if( *pz==0 || (*pz)[0]==0 ){
      const char *zEnv = getenv(a[i].zEnv);
      *pz = zEnv && zEnv[0] ? zEnv : 0;
    }
    if( *pz ){
      n++;
    }else{
      strcat(zMissing, " ");
      strcat(zMissing, a[i].zOpt);
    }
  }
  if( n==0 || n==3 ) return RC_OK;
  fprintf(stderr, "rpcver: TLS needs all three of --tls-cert, --tls-key and "
          "--tls-ca (or RPCVER_TLS_CERT, RPCVER_TLS_KEY and RPCVER_TLS_CA); "
          "missing:%s\n", zMissing);
  return RC_USAGE;
}

int cli_cluster_open(Cli *cli, int write){
  char *zErr = 0;
  DqRows r;
  DqLimits lim;
  DqTls *pTls = 0;
  long long t0 = dq_clock_ms();
  int rc;
  (void)write;
  if( (rc = tls_files(cli))!=RC_OK ) return rc;
  if( cli->zTlsCert
   && dq_tls_new(cli->zTlsCert, cli->zTlsKey, cli->zTlsCa, &pTls, &zErr) ){
    /* the message starts "rpcver:" and names the file */
    cluster_error(cli, zErr ? zErr : "out of memory");
    free(zErr);
    return RC_ERROR;
  }
  dq_limits_init(&lim);
  if( cli->timeoutMs ) lim.timeoutMs = (int)cli->timeoutMs;
  if( cli->maxRows ) lim.maxRows = cli->maxRows;
  if( cli->maxBytes ) lim.maxBytes = cli->maxBytes;
  lim.tls = pTls;
  /* the search for the leader has the whole timeout; every later call
  ** keeps to what is left of it: one deadline for the command */
  rc = dq_connect_leader_with(cli->zCluster, &lim, &cli->pDq, &zErr);
  dq_tls_free(pTls);                   /* the connection keeps its own */
  lim.tls = 0;
  if( rc==DQ_OK ){
    lim.deadlineMs = t0 + lim.timeoutMs;
    dq_set_limits(cli->pDq, &lim);
  }
  if( rc!=DQ_OK ){
    cluster_error(cli, zErr ? zErr : "out of memory");
    free(zErr);
    return RC_ERROR;
  }
  if( dq_open(cli->pDq, cli->zDb)!=DQ_OK ){
    return cluster_error(cli, dq_errmsg(cli->pDq));
  }
  rc = dq_query(cli->pDq, "SELECT count(*) FROM main.sqlite_schema"
                " WHERE type = 'table' AND name = 'rpc_methods'", 0, 0, &r);
  if( rc!=DQ_OK ){
    dq_rows_free(&r);
    return cluster_error(cli, dq_errmsg(cli->pDq));
  }
  rc = r.nRow==1 && r.azVal[0] && strcmp(r.azVal[0], "1")==0;
  dq_rows_free(&r);
  if( !rc ){
    fprintf(stderr, "rpcver: cluster %s, database %s has no rpcver schema "
            "(no rpc_methods table); nothing has registered yet\n",
            cli->zCluster, cli->zDb);
    return RC_ERROR;
  }
  return RC_OK;
}

int cli_cluster_exec(Cli *cli, const char *zSql){
  if( dq_exec(cli->pDq, zSql, 0, 0, 0)!=DQ_OK ){
    return cluster_error(cli, dq_errmsg(cli->pDq));
  }
  return RC_OK;
}

int cli_cluster_load(Cli *cli, Table *t, const char *zSql, int nBind,
                     const char *const *azBind, const int *aFlag,
                     const char *const *azHead){
  DqRows r;
  int i, rc = dq_query(cli->pDq, zSql, nBind, azBind, &r);
  memset(t, 0, sizeof(*t));
  if( rc!=DQ_OK ){
    dq_rows_free(&r);
    return cluster_error(cli, dq_errmsg(cli->pDq));
  }
  rc = table_begin(t, r.nCol, (const char *const*)r.azCol, aFlag, azHead);
  for(i=0; rc==SQLITE_OK && i<r.nRow; i++){
    rc = table_append(t, r.aType + i*r.nCol,
                      (const char *const*)r.azVal + i*r.nCol);
  }
  dq_rows_free(&r);
  if( rc ){
    table_free(t);
    return cluster_error(cli, "out of memory");
  }
  return RC_OK;
}

void cli_cluster_rollback(Cli *cli){
  dq_exec(cli->pDq, "ROLLBACK", 0, 0, 0);
}

void cli_cluster_close(Cli *cli){
  dq_close(cli->pDq);
  cli->pDq = 0;
}
