/*
** A clock the tests set: a VFS named "testclock" that is the default VFS in
** everything but the time it reports, and an SQL function to set that time.
**
**   .load tests/tmp/testclock            (loads once, for the process)
**   sqlite3 db "file:x.db?vfs=testclock" -uri 1
**   SELECT testclock_set(1764115200);    -- unix seconds; 0: the real clock
**
** SQLite's unixepoch() (what rpcver's triggers and functions use) asks the
** connection's VFS for the time, so drain windows, heartbeats and expiry
** can be tested second by second without sleeping.  A test helper: its one
** setting is process-wide, which is what a test wants and rpcver must not.
**
** Built with -DTESTCLOCK_PRELOAD -DSQLITE_CORE (linked with -lsqlite3), it
** sets the clock of a program that loads nothing, such as the CLI, from
** outside: the program itself is unchanged.
**
**   RPCVER_TESTCLOCK=1764115200 LD_PRELOAD=./testclock-preload.so rpcver ...
**
** Before main() runs, the clock VFS becomes the default VFS, at that time.
*/
#include <stdlib.h>
#include <string.h>
#include "sqlite3ext.h"
SQLITE_EXTENSION_INIT1

static sqlite3_vfs clock_vfs;            /* a copy of the default VFS */
static sqlite3_vfs *real_vfs;            /* the default VFS itself */
static sqlite3_int64 fixed_ms;           /* 0: the real clock */

/* (The copy keeps the default VFS's pAppData: unix's methods use it.) */
static int clock_time_int64(sqlite3_vfs *pVfs, sqlite3_int64 *pTime){
  (void)pVfs;
  if( fixed_ms==0 ) return real_vfs->xCurrentTimeInt64(real_vfs, pTime);
  /* Julian day number in milliseconds */
  *pTime = fixed_ms + (sqlite3_int64)24405875 * 8640000;
  return SQLITE_OK;
}

static int clock_time(sqlite3_vfs *pVfs, double *pTime){
  sqlite3_int64 t;
  int rc = clock_time_int64(pVfs, &t);
  *pTime = t / 86400000.0;
  return rc;
}

static void set_func(sqlite3_context *ctx, int argc, sqlite3_value **argv){
  (void)argc;
  fixed_ms = sqlite3_value_int64(argv[0]) * 1000;
  sqlite3_result_int64(ctx, fixed_ms / 1000);
}

/* Register the clock VFS (once), the default when makeDefault. */
static int register_clock(int makeDefault){
  if( sqlite3_vfs_find("testclock") ) return SQLITE_OK;
  real_vfs = sqlite3_vfs_find(0);
  if( real_vfs==0 ) return SQLITE_ERROR;
  memcpy(&clock_vfs, real_vfs, sizeof(clock_vfs));
  clock_vfs.zName = "testclock";
  clock_vfs.pNext = 0;
  clock_vfs.xCurrentTime = clock_time;
  if( clock_vfs.iVersion>=2 ) clock_vfs.xCurrentTimeInt64 = clock_time_int64;
  return sqlite3_vfs_register(&clock_vfs, makeDefault);
}

#ifdef TESTCLOCK_PRELOAD
__attribute__((constructor)) static void testclock_preload(void){
  const char *z = getenv("RPCVER_TESTCLOCK");
  if( z && z[0] ) fixed_ms = strtoll(z, 0, 10) * 1000;
  if( register_clock(1)!=SQLITE_OK ) abort();   /* a test must not go on */
}
#endif

#ifdef _WIN32
__declspec(dllexport)
#endif
int sqlite3_testclock_init(sqlite3 *db, char **pzErrMsg,
                           const sqlite3_api_routines *pApi){
  int rc;
  (void)pzErrMsg;
  SQLITE_EXTENSION_INIT2(pApi);
  rc = register_clock(0);
  if( rc!=SQLITE_OK ) return rc;
  rc = sqlite3_create_function(db, "testclock_set", 1, SQLITE_UTF8, 0,
                               set_func, 0, 0);
  /* the VFS stays registered: the library must stay loaded */
  return rc==SQLITE_OK ? SQLITE_OK_LOAD_PERMANENTLY : rc;
}
