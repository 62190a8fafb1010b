-- Schema 1 -> 2, second half (after rpcver.sql; see upgrade-from-1.sql):
-- every manager counts as seen at the moment of the migration.
INSERT INTO main.rpc_managers(manager, last_seen)
  SELECT manager, unixepoch() FROM main.rpc_managers_schema_1;
DROP TABLE main.rpc_managers_schema_1;
