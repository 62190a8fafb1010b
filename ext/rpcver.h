/*
** rpcver: RPC version negotiation for rolling upgrades, as a SQLite extension.
**
** Loadable use:   .load ./rpcver        (entry point sqlite3_rpcver_init)
** Static use:     compile the ext/ sources with -DSQLITE_CORE, link librpcver.a, then
**                 sqlite3_auto_extension((void(*)(void))sqlite3_rpcver_init);
**                 before opening connections.
*/
#ifndef RPCVER_H
#define RPCVER_H

#include <sqlite3.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The two exported symbols; the build hides every other one. */
#ifndef RPCVER_API
# if defined(_WIN32) && defined(RPCVER_BUILDING)
#  define RPCVER_API __declspec(dllexport)
# elif defined(_WIN32)
#  define RPCVER_API
# else
#  define RPCVER_API __attribute__((visibility("default")))
# endif
#endif

RPCVER_API int sqlite3_rpcver_init(sqlite3 *db, char **pzErrMsg,
                                   const sqlite3_api_routines *pApi);

/* The same, for a host whose engine replicates the database (dqlite):
** write functions then refuse to run outside BEGIN...COMMIT, because a
** write made by a function in an autocommit SELECT is not replicated.
** Loadable: .load ./rpcver sqlite3_rpcver_init_replicated */
RPCVER_API int sqlite3_rpcver_init_replicated(sqlite3 *db, char **pzErrMsg,
                                   const sqlite3_api_routines *pApi);

#ifdef __cplusplus
}
#endif

#endif /* RPCVER_H */
