/*
** rpcver metrics: rpcver's state as Prometheus metrics, so monitoring can
** graph an upgrade and alert on one that is stuck.
**
**   rpcver metrics                                  print them once
**   rpcver metrics --listen HOST:PORT [--allow-remote]
**                                                   serve them at /metrics
**
** The text exposition format, version 0.0.4: a # HELP and a # TYPE line per
** family, then one sample per line.  All are gauges, read afresh each time
** in one read transaction (so on a dqlite cluster as on a file):
**
**   rpcver_method_info{method,state,negotiated,newest,floor,pin} 1
**   rpcver_receivers{method}, rpcver_senders{method}
**   rpcver_negotiated_key{method}, rpcver_newest_key{method},
**   rpcver_floor_key{method}      versions as rpcver's keys, MAJOR * 2^40 +
**                                 MINOR * 2^20 + PATCH: they compare as the
**                                 versions do (exact in a float64 up to
**                                 major 8191); none while there is none
**   rpcver_pinned{method}         1 while pinned
**   rpcver_laggards{method}       receivers below the method's newest
**   rpcver_drain_remaining_seconds{method}
**   rpcver_manager_last_seen_age_seconds{manager}
**   rpcver_event_log_rows         rows the event log holds
**
** --listen serves them over HTTP/1.x (cli/http.c says how: one request a
** connection, every connection polled together, so that no client holds
** another up): GET (or HEAD) /metrics answers 200 with Content-Type
** "text/plain; version=0.0.4; charset=utf-8", read afresh for each scrape;
** a database that cannot be read 503, with rpcver's message on stderr (a
** server started while the file is locked serves all the same).  Only a
** loopback address is served unless --allow-remote: the metrics name every
** manager, and this server has no authentication (put a proxy that has
** one in front of it).  The server
** runs until it is killed.
*/
#define _DEFAULT_SOURCE          /* getaddrinfo() */
#include "cli.h"
#include "http.h"
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* ------------------------------------------------------------ the text */

/* A label value: backslash, quote and newline escaped, as the format
** asks; bytes that are not UTF-8 become U+FFFD (the format is UTF-8). */
static void label_value(sqlite3_str *out, const char *zIn){
  const unsigned char *z = (const unsigned char*)(zIn ? zIn : "");
  while( *z ){
    unsigned char c = *z;
    int len = c<0x80 ? 1 : (c>=0xC2 && c<=0xDF) ? 2 : (c>=0xE0 && c<=0xEF) ? 3
            : (c>=0xF0 && c<=0xF4) ? 4 : 0;
    int i;
    for(i=1; i<len; i++) if( (z[i] & 0xC0)!=0x80 ){ len = 0; break; }
    if( len==0 ){
      sqlite3_str_appendall(out, "\xef\xbf\xbd");
      z++;
      continue;
    }
    if( c=='\\' ) sqlite3_str_appendall(out, "\\\\");
    else if( c=='"' ) sqlite3_str_appendall(out, "\\\"");
    else if( c=='\n' ) sqlite3_str_appendall(out, "\\n");
    else sqlite3_str_append(out, (const char*)z, len);
    z += len;
  }
}

/* One family: a query whose rows are (label value..., sample value), the
** labels named by azLabel (nLabel of them). */
typedef struct Family {
  const char *zName;
  const char *zHelp;
  const char *zSql;
  int nLabel;
  const char *azLabel[6];
  const char *zTable;       /* left out when this table is missing (rpc_log
                            ** before revision 7), or 0 */
} Family;

static const Family aFamily[] = {
  { "rpcver_method_info",
    "A method's state and versions as labels (empty: none); always 1.",
    "SELECT method, state, coalesce(negotiated, ''), coalesce(newest, ''),"
    "       coalesce(floor, ''), coalesce(pin, ''), 1 FROM main.rpc_status",
    6, { "method", "state", "negotiated", "newest", "floor", "pin" }, 0 },
  { "rpcver_receivers", "Receivers registered for the method.",
    "SELECT method, receivers FROM main.rpc_methods ORDER BY method",
    1, { "method" }, 0 },
  { "rpcver_senders", "Senders registered for the method.",
    "SELECT method, senders FROM main.rpc_methods ORDER BY method",
    1, { "method" }, 0 },
  { "rpcver_negotiated_key",
    "The version senders send, as rpcver's key (MAJOR*2^40 + MINOR*2^20 + "
    "PATCH); absent when there is none.",
    "SELECT method, negotiated FROM main.rpc_methods"
    " WHERE negotiated IS NOT NULL ORDER BY method", 1, { "method" }, 0 },
  { "rpcver_newest_key",
    "The newest version a receiver accepts, as rpcver's key.",
    "SELECT method, newest FROM main.rpc_methods"
    " WHERE newest IS NOT NULL ORDER BY method", 1, { "method" }, 0 },
  { "rpcver_floor_key",
    "The highest version senders may already be using, as rpcver's key.",
    "SELECT method, floor FROM main.rpc_methods"
    " WHERE floor IS NOT NULL ORDER BY method", 1, { "method" }, 0 },
  { "rpcver_pinned", "1 while an operator's pin caps the method.",
    "SELECT method, pin IS NOT NULL FROM main.rpc_methods ORDER BY method",
    1, { "method" }, 0 },
  { "rpcver_laggards",
    "Receivers below the newest version of the method: who holds it back.",
    "SELECT m.method, count(r.manager) FROM main.rpc_methods AS m"
    "  LEFT JOIN main.rpc_ranges AS r ON r.method = m.method"
    "   AND r.hi < m.newest GROUP BY m.method ORDER BY m.method",
    1, { "method" }, 0 },
  { "rpcver_drain_remaining_seconds",
    "Seconds messages sent before a narrowing change may still be in "
    "flight (0: none).",
    "SELECT method, drain_left FROM main.rpc_status", 1, { "method" }, 0 },
  { "rpcver_manager_last_seen_age_seconds",
    "Seconds since the manager (a receiver or a sender) was last seen.",
    "SELECT manager, unixepoch() - last_seen FROM main.rpc_managers"
    " ORDER BY manager", 1, { "manager" }, 0 },
  { "rpcver_event_log_rows", "Rows the event log (rpc_log) holds.",
    "SELECT count(*) FROM main.rpc_log", 0, { 0 }, "rpc_log" },
};
#define N_FAMILY ((int)(sizeof(aFamily)/sizeof(aFamily[0])))

/* A sample's value as the format reads it: a number SQLite printed, or
** NaN for anything else (NULL, or a text or blob a hand-written row holds
** where rpcver writes numbers: printed as it is, a newline in it would
** start a line of the writer's choosing). */
static const char *sample_value(const char *z){
  char *zEnd;
  if( z==0 || z[0]==0 || strspn(z, "0123456789+-.eE")!=strlen(z) ){
    return z && (strcmp(z, "Inf")==0 || strcmp(z, "-Inf")==0) ? z : "NaN";
  }
  (void)strtod(z, &zEnd);
  return *zEnd==0 ? z : "NaN";
}

static void family_text(sqlite3_str *out, const Family *f, const Table *t){
  int i, j;
  sqlite3_str_appendf(out, "# HELP %s %s\n# TYPE %s gauge\n", f->zName,
                      f->zHelp, f->zName);
  for(i=0; i<t->nRow; i++){
    const char *zVal = cli_cell(t, i, f->nLabel);
    sqlite3_str_appendall(out, f->zName);
    for(j=0; j<f->nLabel; j++){
      sqlite3_str_appendf(out, "%s%s=\"", j ? "," : "{", f->azLabel[j]);
      label_value(out, cli_cell(t, i, j));
      sqlite3_str_appendall(out, "\"");
    }
    sqlite3_str_appendf(out, "%s %s\n", f->nLabel ? "}" : "",
                        sample_value(zVal));
  }
}

/* The metrics as text, in *pzOut (sqlite3_malloc'd), read in one read
** transaction.  RC_OK, or RC_ERROR with the failure reported on stderr. */
static int metrics_text(Cli *cli, char **pzOut){
  sqlite3_str *out = sqlite3_str_new(0);
  int rc, i;
  *pzOut = 0;
  rc = cli_exec(cli, "BEGIN");
  for(i=0; rc==RC_OK && i<N_FAMILY; i++){
    Table t;
    if( aFamily[i].zTable ){
      rc = cli_load(cli, &t, "SELECT 1 FROM main.sqlite_schema"
                    " WHERE type = 'table' AND name = ?1", 1,
                    &aFamily[i].zTable, 0, 0);
      if( rc==RC_OK && t.nRow==0 ){ table_free(&t); continue; }
      table_free(&t);
    }
    if( rc==RC_OK ) rc = cli_load(cli, &t, aFamily[i].zSql, 0, 0, 0, 0);
    if( rc==RC_OK ) family_text(out, &aFamily[i], &t);
    if( rc==RC_OK ) table_free(&t);
  }
  rc = cli_end_transaction(cli, rc);
  *pzOut = sqlite3_str_finish(out);
  if( rc==RC_OK && *pzOut==0 ){
    fputs("rpcver: out of memory\n", stderr);
    rc = RC_ERROR;
  }
  if( rc!=RC_OK ){
    sqlite3_free(*pzOut);
    *pzOut = 0;
  }
  return rc;
}

/* ------------------------------------------------------------ the server */

/* Split "HOST:PORT", "[V6]:PORT", ":PORT" or "PORT" (host 127.0.0.1). */
static int split_listen(const char *z, char *zHost, size_t nHost,
                        char *zPort, size_t nPort){
  const char *zColon;
  size_t n;
  if( z[0]=='[' ){
    const char *zEnd = strchr(z, ']');
    if( zEnd==0 || zEnd[1]!=':' ) return 1;
    n = (size_t)(zEnd - z - 1);
    zColon = zEnd + 1;
    if( n>=nHost ) return 1;
    memcpy(zHost, z + 1, n);
    zHost[n] = 0;
  }else{
    zColon = strrchr(z, ':');
    n = zColon ? (size_t)(zColon - z) : 0;
    if( n>=nHost ) return 1;
    memcpy(zHost, z, n);
    zHost[n] = 0;
    if( zColon==0 ) zColon = z - 1;         /* "PORT" alone */
  }
  if( zHost[0]==0 ) snprintf(zHost, nHost, "127.0.0.1");
  n = strlen(zColon + 1);
  if( n==0 || n>=nPort || strspn(zColon + 1, "0123456789")!=n ) return 1;
  memcpy(zPort, zColon + 1, n + 1);
  return atoi(zPort)>65535;
}

static int is_loopback(const struct sockaddr *sa){
  if( sa->sa_family==AF_INET ){
    const struct sockaddr_in *s4 = (const struct sockaddr_in*)sa;
    return (ntohl(s4->sin_addr.s_addr) >> 24)==127;
  }
  if( sa->sa_family==AF_INET6 ){
    const struct sockaddr_in6 *s6 = (const struct sockaddr_in6*)sa;
    static const unsigned char aMapped[12] = {0,0,0,0,0,0,0,0,0,0,0xff,0xff};
    return IN6_IS_ADDR_LOOPBACK(&s6->sin6_addr)
        || (memcmp(s6->sin6_addr.s6_addr, aMapped, 12)==0
            && s6->sin6_addr.s6_addr[12]==127);
  }
  return 0;
}

/* A listening socket on --listen, or -1 (reported; *pRc says how). */
static int open_listener(Cli *cli, int *pRc){
  char zHost[256], zPort[8];
  struct addrinfo hints, *pAi = 0;
  int fd = -1, one = 1, err;
  *pRc = RC_USAGE;
  if( split_listen(cli->zListen, zHost, sizeof(zHost), zPort, sizeof(zPort)) ){
    cli_printf(stderr, "rpcver: --listen needs HOST:PORT (or [IPV6]:PORT, "
               ":PORT, PORT; port 0 to 65535), not '%s'\n", cli->zListen);
    return -1;
  }
  memset(&hints, 0, sizeof(hints));
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE;
  if( (err = getaddrinfo(zHost, zPort, &hints, &pAi))!=0 ){
    cli_printf(stderr, "rpcver: --listen %s: %s\n", cli->zListen,
               gai_strerror(err));
    return -1;
  }
  if( !is_loopback(pAi->ai_addr) && !cli->allowRemote ){
    cli_printf(stderr, "rpcver: --listen %s is not a loopback address: the "
               "metrics name every manager and this server has no "
               "authentication; to serve on it anyway (behind a firewall, or "
               "a proxy that authenticates), add --allow-remote\n",
               cli->zListen);
    freeaddrinfo(pAi);
    return -1;
  }
  *pRc = RC_ERROR;
  fd = socket(pAi->ai_family, SOCK_STREAM, 0);
  if( fd<0
   || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one))!=0
   || bind(fd, pAi->ai_addr, pAi->ai_addrlen)!=0
   || listen(fd, SOMAXCONN)!=0 ){
    cli_printf(stderr, "rpcver: --listen %s: %s\n", cli->zListen,
               strerror(errno));
    if( fd>=0 ) close(fd);
    fd = -1;
  }
  freeaddrinfo(pAi);
  return fd;
}

/* The metrics, read afresh for a scrape (http.h's xBody).  On a cluster
** each scrape finds the leader again, within its own deadline: the one
** connection of a command would outlive a leader change and its
** --timeout.  On a file, a lock is HTTP_BUSY, said on stderr only when
** bLast: the server does not wait in SQLite's busy handler (serve() turns
** it off), which would hold every other client up, but tries again. */
static int scrape(void *pArg, char **pzText, int bLast){
  Cli *cli = (Cli*)pArg;
  int rc = RC_OK;
  if( cli->zCluster ){
    cli_cluster_close(cli);
    rc = cli_cluster_open(cli, 0);
    return (rc==RC_OK ? metrics_text(cli, pzText) : rc)!=RC_OK;
  }
  cli->quietBusy = 1;
  cli->sawBusy = 0;
  rc = metrics_text(cli, pzText);
  cli->quietBusy = 0;
  if( rc==RC_OK ) return 0;
  if( !cli->sawBusy ) return 1;
  if( bLast ){
    cli_printf(stderr, "rpcver: %s: database is locked\n", cli->zDb);
  }
  return HTTP_BUSY;
}

static int serve(Cli *cli){
  int rc, lfd = open_listener(cli, &rc);
  struct sockaddr_storage ss;
  socklen_t len = sizeof(ss);
  char zAddr[INET6_ADDRSTRLEN + 8];
  if( lfd<0 ) return rc;
  /* the address as bound: port 0 picks one */
  if( getsockname(lfd, (struct sockaddr*)&ss, &len)==0 ){
    char zIp[INET6_ADDRSTRLEN];
    int port;
    if( ss.ss_family==AF_INET6 ){
      struct sockaddr_in6 *s6 = (struct sockaddr_in6*)&ss;
      inet_ntop(AF_INET6, &s6->sin6_addr, zIp, sizeof(zIp));
      port = ntohs(s6->sin6_port);
      snprintf(zAddr, sizeof(zAddr), "[%s]:%d", zIp, port);
    }else{
      struct sockaddr_in *s4 = (struct sockaddr_in*)&ss;
      inet_ntop(AF_INET, &s4->sin_addr, zIp, sizeof(zIp));
      port = ntohs(s4->sin_port);
      snprintf(zAddr, sizeof(zAddr), "%s:%d", zIp, port);
    }
    printf("rpcver: serving metrics on http://%s/metrics\n", zAddr);
    fflush(stdout);
  }
  if( cli->db ) sqlite3_busy_timeout(cli->db, 0);   /* scrape() retries */
  {
    HttpResource res;
    res.zPath = "/metrics";
    res.zType = "text/plain; version=0.0.4; charset=utf-8";
    res.xBody = scrape;
    res.pArg = cli;
    res.zUnavailable = "rpcver could not read the database: its message is "
                       "on the server's stderr\n";
    http_serve(lfd, &res);
  }
  close(lfd);
  return RC_ERROR;
}

int cmd_metrics(Cli *cli, int nArg, char **azArg){
  char *zText = 0;
  int rc;
  (void)nArg; (void)azArg;
  if( cli->allowRemote && cli->zListen==0 ){
    fputs("rpcver: --allow-remote applies to --listen only\n", stderr);
    return RC_USAGE;
  }
  if( cli->zListen ) return serve(cli);
  rc = metrics_text(cli, &zText);
  if( rc==RC_OK ) fputs(zText, stdout);
  sqlite3_free(zText);
  return rc;
}
