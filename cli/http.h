/*
** A small HTTP/1.x server for one resource (cli/http.c), for `rpcver
** metrics --listen` (cli/metrics.c).
*/
#ifndef RPCVER_HTTP_H
#define RPCVER_HTTP_H

typedef struct HttpResource HttpResource;
struct HttpResource {
  const char *zPath;      /* "/metrics": served with any query string */
  const char *zType;      /* its Content-Type */
  /* The body, read afresh for each GET or HEAD: 0 with *pzBody set (from
  ** sqlite3_malloc(), freed by the server), or non-zero: answered 503 with
  ** zUnavailable (xBody has said why on stderr). */
  int (*xBody)(void *pArg, char **pzBody);
  void *pArg;
  const char *zUnavailable;
};

/* Serve pRes on the listening socket lfd (made non-blocking here) until a
** fatal error, which is reported on stderr.  Returns only then. */
void http_serve(int lfd, const HttpResource *pRes);

#endif
