-- Schema 1 -> 2: schema 1 (the first development snapshot) had no
-- heartbeats; rpc_managers was (manager TEXT PRIMARY KEY).  Every manager
-- counts as seen at the moment of the migration.  rpcver.sql runs after
-- this and re-creates the triggers and views.
ALTER TABLE main.rpc_managers ADD COLUMN last_seen INTEGER NOT NULL DEFAULT 0;
UPDATE main.rpc_managers SET last_seen = unixepoch();
