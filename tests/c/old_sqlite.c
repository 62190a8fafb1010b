/*
** A loadable extension that loads rpcver as if SQLite were older than 3.38:
** it hands rpcver's entry point a copy of the API routines whose version
** functions say 3.37.2.  rpcver must refuse to load, with its message.
** api.test builds it; the path of the rpcver module to try is in
** $RPCVER_SO.
*/
#include <dlfcn.h>
#include <stdlib.h>
#include "sqlite3ext.h"
SQLITE_EXTENSION_INIT1

static int old_version_number(void){ return 3037002; }
static const char *old_version(void){ return "3.37.2"; }

typedef int (*InitFunc)(sqlite3*, char**, const sqlite3_api_routines*);

#ifdef _WIN32
__declspec(dllexport)
#endif
int sqlite3_oldsqlite_init(sqlite3 *db, char **pzErrMsg,
                           const sqlite3_api_routines *pApi){
  static sqlite3_api_routines old;      /* lives as long as the process */
  const char *zPath = getenv("RPCVER_SO");
  void *h;
  InitFunc xInit;
  SQLITE_EXTENSION_INIT2(pApi);
  old = *pApi;
  old.libversion_number = old_version_number;
  old.libversion = old_version;
  h = zPath ? dlopen(zPath, RTLD_NOW) : 0;
  xInit = h ? (InitFunc)dlsym(h, "sqlite3_rpcver_init") : 0;
  if( xInit==0 ){
    *pzErrMsg = sqlite3_mprintf("oldsqlite: cannot load %s",
                                zPath ? zPath : "(RPCVER_SO not set)");
    return SQLITE_ERROR;
  }
  return xInit(db, pzErrMsg, &old);
}
