-- Schema 1 -> 2, first half: schema 1 (the first development snapshot) had
-- no heartbeats; rpc_managers was (manager TEXT PRIMARY KEY).  The old
-- table is set aside, rpcver.sql then creates rpc_managers exactly as a new
-- database has it (so that rpc_verify() finds rpcver's own definition, not
-- one an ALTER TABLE ADD COLUMN rewrote), and upgrade-from-1-finish.sql
-- moves the rows over.  rpcver.sql also re-creates the triggers and views.
ALTER TABLE main.rpc_managers RENAME TO rpc_managers_schema_1;
