/*
** Replicated hosts: rpcver on a database whose pages a replication engine
** (dqlite) ships to other nodes.
**
** dqlite replicates a transaction when the statement that ends it is a
** write: plain DML in autocommit, or COMMIT.  A write made by a function
** inside a bare autocommit SELECT ends with a read-only statement, so dqlite
** reports success and ships nothing; the leader's next write then fails
** (dqlite 1.11 crashes).  The same call inside BEGIN...COMMIT is shipped
** with the COMMIT.  So a host that replicates registers rpcver through
** sqlite3_rpcver_init_replicated(), and the write functions then refuse to
** run outside an explicit transaction, naming the two forms that are safe.
** The views' DML needs no such rule: it is a write statement of its own.
*/
#include "rpcver_int.h"

char *rpc_write_problem(RpcConn *p, const char *zFunc){
  if( !p->replicated || !sqlite3_get_autocommit(p->db) ) return 0;
  return sqlite3_mprintf("rpcver: %s needs an explicit transaction on this "
      "replicated database: a write made by a function in an autocommit "
      "statement would not be replicated; call it between BEGIN and COMMIT, "
      "or write the rpc_registrations / rpc_pins views with INSERT, UPDATE "
      "or DELETE", zFunc);
}
