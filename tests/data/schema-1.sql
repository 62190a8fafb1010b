-- A database as schema 1 (the first development snapshot) left it: no
-- heartbeats (rpc_managers had no last_seen).  tests/schema.test migrates it.
CREATE TABLE rpc_meta(key TEXT PRIMARY KEY, value) WITHOUT ROWID;
CREATE TABLE rpc_managers(manager TEXT PRIMARY KEY) WITHOUT ROWID;
CREATE TABLE rpc_ranges(
  manager TEXT NOT NULL, method TEXT NOT NULL, lo NOT NULL, hi NOT NULL,
  PRIMARY KEY(manager, method)
) WITHOUT ROWID;
CREATE INDEX rpc_ranges_by_hi ON rpc_ranges(method, hi);
CREATE INDEX rpc_ranges_by_lo ON rpc_ranges(method, lo);
CREATE TABLE rpc_methods(
  method TEXT PRIMARY KEY, receivers INTEGER NOT NULL DEFAULT 0,
  max_lo INTEGER, min_hi INTEGER, newest INTEGER, pin INTEGER, floor INTEGER,
  seq INTEGER NOT NULL DEFAULT 0,
  negotiated INTEGER GENERATED ALWAYS AS (
    CASE WHEN receivers > 0 AND min(min_hi, coalesce(pin, min_hi)) >= max_lo
         THEN min(min_hi, coalesce(pin, min_hi)) END) VIRTUAL
) WITHOUT ROWID;
INSERT INTO rpc_meta VALUES ('schema_version', 1);
-- a: volume [3.0, 3.17]; b: volume [3.0, 3.16]; negotiated 3.16
INSERT INTO rpc_managers VALUES ('a'), ('b');
INSERT INTO rpc_ranges VALUES ('a', 'volume', 3298534883328, 3298552709120);
INSERT INTO rpc_ranges VALUES ('b', 'volume', 3298534883328, 3298551660544);
INSERT INTO rpc_methods(method, receivers, max_lo, min_hi, newest, floor, seq)
  VALUES ('volume', 2, 3298534883328, 3298551660544, 3298552709120,
          3298551660544, 2);
