/*
** A small HTTP/1.x server for one resource (cli/http.c), for `rpcver
** metrics --listen` (cli/metrics.c).
*/
#ifndef RPCVER_HTTP_H
#define RPCVER_HTTP_H

#define HTTP_BUSY     2
#define HTTP_BUSY_MS  5000      /* a request's wait for a busy body */

typedef struct HttpResource HttpResource;
struct HttpResource {
  const char *zPath;      /* "/metrics": served with any query string */
  const char *zType;      /* its Content-Type */
  /* The body, read afresh for the GETs and HEADs of a round: 0 with *pzBody
  ** set (from sqlite3_malloc(), freed by the server); HTTP_BUSY when it
  ** cannot be read yet (a lock): the server tries again in a moment,
  ** without blocking, and when bLast (a request has waited HTTP_BUSY_MS)
  ** xBody says why on stderr and the requests that have waited that long
  ** get 503; else non-zero: 503 with zUnavailable (xBody has said why). */
  int (*xBody)(void *pArg, char **pzBody, int bLast);
  void *pArg;
  const char *zUnavailable;
};

/* Serve pRes on the listening socket lfd (made non-blocking here) until a
** fatal error, which is reported on stderr.  Returns only then. */
void http_serve(int lfd, const HttpResource *pRes);

#endif
