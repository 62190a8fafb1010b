-- rpcver schema, version 2, revision 4.
--
-- The version counts changes to the tables; the revision, changes to the
-- triggers and views only (ext/schema.c re-runs this script on a database
-- whose schema_revision is older, or missing: revision 1).
--
-- Every name this script creates, drops or writes at its top level is
-- qualified with main.  SQLite looks an unqualified name up in temp, then
-- main, then the attached databases: unqualified, DROP TRIGGER IF EXISTS
-- would drop the trigger of an attached database when main has none, and a
-- temp table named rpc_ranges would receive the triggers.  Inside a trigger
-- or view no qualifier is needed (nor allowed on a trigger's DML): SQLite
-- binds the names there to the trigger's or view's own database.
--
-- The one source of the schema: the build embeds this file into the
-- extension, which runs it inside the caller's transaction on the first
-- write or on SELECT rpc_init().  It is idempotent: tables and indexes are
-- created if missing, triggers and views are dropped and re-created, so the
-- same script also refreshes the code of a migrated database.
--
-- Versions are stored as integer keys MAJOR<<40 | MINOR<<20 | PATCH (see
-- ext/version.c); views render them back to text in plain SQL, so rpc_status
-- and rpc_laggards work from a stock sqlite3 shell without the extension.
-- That rendering is written once, here; VERSION_TEXT(k) below is not SQL:
-- the build (tools/embed.sh) replaces each VERSION_TEXT(k) with this line,
-- k replaced by its argument, in the script it embeds and installs
-- (tests/version.test checks every view's rendering against
-- rpc_version_norm() at the edge keys):
-- VERSION_TEXT(k) = (k >> 40) || '.' || ((k >> 20) & 1048575) || iif(k & 1048575, '.' || (k & 1048575), '')
-- Writes need the extension: the triggers call its rpcver_* helpers, and a
-- connection without it gets "no such function" instead of a silent
-- inconsistency.

CREATE TABLE IF NOT EXISTS main.rpc_meta(
  key TEXT PRIMARY KEY,
  value
) WITHOUT ROWID;

-- One row per manager that has at least one registration.
CREATE TABLE IF NOT EXISTS main.rpc_managers(
  manager TEXT PRIMARY KEY,
  last_seen INTEGER NOT NULL            -- unix time, seconds
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS main.rpc_managers_by_last_seen
  ON rpc_managers(last_seen);

-- The registrations: manager accepts method at every version in [lo, hi].
-- Write them through the rpc_registrations view; direct writes here are
-- checked and maintained by the same triggers.
-- lo and hi are version keys.  They have no declared type on purpose: with
-- INTEGER affinity a text version written here by mistake ('3.0') would be
-- silently coerced to the key 3 (version 0.0.3); without it, the triggers
-- see the text and refuse it.
CREATE TABLE IF NOT EXISTS main.rpc_ranges(
  manager TEXT NOT NULL,
  method TEXT NOT NULL,
  lo NOT NULL,
  hi NOT NULL,
  PRIMARY KEY(manager, method)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS main.rpc_ranges_by_hi ON rpc_ranges(method, hi);
CREATE INDEX IF NOT EXISTS main.rpc_ranges_by_lo ON rpc_ranges(method, lo);

-- The materialized per-method state, written only by the triggers below.
-- seq counts the changes of a row; a write that does not bump it by one did
-- not come from these triggers and is refused (rpc_methods_guard_update,
-- which also holds every write to the rules the triggers follow).
CREATE TABLE IF NOT EXISTS main.rpc_methods(
  method TEXT PRIMARY KEY,
  receivers INTEGER NOT NULL DEFAULT 0,
  max_lo INTEGER,
  min_hi INTEGER,
  newest INTEGER,
  pin INTEGER,
  floor INTEGER,
  seq INTEGER NOT NULL DEFAULT 0,
  negotiated INTEGER GENERATED ALWAYS AS (
    CASE WHEN receivers > 0 AND min(min_hi, coalesce(pin, min_hi)) >= max_lo
         THEN min(min_hi, coalesce(pin, min_hi)) END) VIRTUAL
) WITHOUT ROWID;

---------------------------------------------------------------- rpc_ranges

-- No statement in these triggers carries a conflict clause (OR IGNORE,
-- ON CONFLICT): the conflict clause of the statement that fires a trigger
-- overrides those inside it, and REPLACE deletes rows without firing delete
-- triggers.  For the same reason an INSERT that would replace an existing
-- registration is refused here; rpc_registrations replaces by UPDATE.
--
-- No trigger body has an INSERT ... SELECT or an UPDATE ... FROM either:
-- SQLite runs both through a temporary table (an INSERT ... SELECT into any
-- table that has triggers, an UPDATE ... FROM always), which costs more than
-- the rest of a registration.  A row that is inserted only when missing is
-- inserted with VALUES by a trigger of its own whose WHEN clause tests that;
-- each such trigger gives the same result whichever trigger on the same
-- event SQLite runs first.
DROP TRIGGER IF EXISTS main.rpc_ranges_check_insert;
CREATE TRIGGER main.rpc_ranges_check_insert BEFORE INSERT ON rpc_ranges BEGIN
  SELECT rpcver_raise(printf('rpcver: manager %s already has a registration '
           || 'for method %s; replace it through rpc_registrations or '
           || 'rpc_register()', rpcver_quote(NEW.manager),
           rpcver_quote(NEW.method)))
    FROM rpc_ranges WHERE manager = NEW.manager AND method = NEW.method;
  SELECT rpcver_check_range(NEW.manager, NEW.method, NEW.lo, NEW.hi);
  -- Admission (rpcver_refusal() holds the rule, for rpc_check() too): the
  -- range must contain the floor, the highest version senders may already
  -- be using.
  SELECT rpcver_raise(rpcver_refusal(NEW.manager, NEW.method, NEW.lo, NEW.hi,
                                     floor))
    FROM rpc_methods WHERE method = NEW.method;
END;

DROP TRIGGER IF EXISTS main.rpc_ranges_check_update;
CREATE TRIGGER main.rpc_ranges_check_update BEFORE UPDATE ON rpc_ranges BEGIN
  SELECT rpcver_raise(printf('rpcver: cannot move the registration of '
           || 'manager %s for method %s to manager %s, method %s; delete it '
           || 'and register the new one', rpcver_quote(OLD.manager),
           rpcver_quote(OLD.method), rpcver_quote(NEW.manager),
           rpcver_quote(NEW.method)))
   WHERE NEW.manager IS NOT OLD.manager OR NEW.method IS NOT OLD.method;
  SELECT rpcver_check_range(NEW.manager, NEW.method, NEW.lo, NEW.hi);
  SELECT rpcver_raise(rpcver_refusal(NEW.manager, NEW.method, NEW.lo, NEW.hi,
                                     floor))
    FROM rpc_methods WHERE method = NEW.method;
END;

-- The first range of a method creates the method's row, empty, before the
-- range is inserted, so that every AFTER INSERT trigger finds it.  (When
-- the insert is then refused, the statement's rollback removes the row.)
DROP TRIGGER IF EXISTS main.rpc_ranges_new_method;
CREATE TRIGGER main.rpc_ranges_new_method BEFORE INSERT ON rpc_ranges
  WHEN NOT EXISTS (SELECT 1 FROM rpc_methods WHERE method = NEW.method)
BEGIN
  INSERT INTO rpc_methods(method) VALUES (NEW.method);
END;

-- The first range of a manager creates the manager's row.  Whether this
-- runs before or after rpc_ranges_inserted, last_seen ends up now.
DROP TRIGGER IF EXISTS main.rpc_ranges_new_manager;
CREATE TRIGGER main.rpc_ranges_new_manager AFTER INSERT ON rpc_ranges
  WHEN NOT EXISTS (SELECT 1 FROM rpc_managers WHERE manager = NEW.manager)
BEGIN
  INSERT INTO rpc_managers(manager, last_seen)
    VALUES (NEW.manager, unixepoch());
END;

-- An insert folds the new range into the aggregates: no seek needed.
-- last_seen only moves forward: after the clock steps back, a manager seen
-- "in the future" keeps that time rather than looking older than it is.
-- (It is also left alone when it already says now: a manager registers its
-- methods one after the other, and rewriting the row and its index entry
-- for each cost more than the check.)
DROP TRIGGER IF EXISTS main.rpc_ranges_inserted;
CREATE TRIGGER main.rpc_ranges_inserted AFTER INSERT ON rpc_ranges BEGIN
  UPDATE rpc_managers SET last_seen = unixepoch()
   WHERE manager = NEW.manager AND last_seen < unixepoch();
  UPDATE rpc_methods
     SET receivers = receivers + 1,
         max_lo = max(coalesce(max_lo, NEW.lo), NEW.lo),
         min_hi = min(coalesce(min_hi, NEW.hi), NEW.hi),
         newest = max(coalesce(newest, NEW.hi), NEW.hi),
         seq = seq + 1
   WHERE method = NEW.method;
END;

-- A changed or removed range may have been an extreme: re-seek the method's
-- extremes through the (method, lo) and (method, hi) indexes.
DROP TRIGGER IF EXISTS main.rpc_ranges_updated;
CREATE TRIGGER main.rpc_ranges_updated AFTER UPDATE OF lo, hi ON rpc_ranges BEGIN
  UPDATE rpc_managers SET last_seen = unixepoch()
   WHERE manager = NEW.manager AND last_seen < unixepoch();
  UPDATE rpc_methods
     SET max_lo = (SELECT max(lo) FROM rpc_ranges WHERE method = NEW.method),
         min_hi = (SELECT min(hi) FROM rpc_ranges WHERE method = NEW.method),
         newest = (SELECT max(hi) FROM rpc_ranges WHERE method = NEW.method),
         seq = seq + 1
   WHERE method = NEW.method;
END;

DROP TRIGGER IF EXISTS main.rpc_ranges_deleted;
CREATE TRIGGER main.rpc_ranges_deleted AFTER DELETE ON rpc_ranges BEGIN
  UPDATE rpc_methods
     SET receivers = receivers - 1,
         max_lo = (SELECT max(lo) FROM rpc_ranges WHERE method = OLD.method),
         min_hi = (SELECT min(hi) FROM rpc_ranges WHERE method = OLD.method),
         newest = (SELECT max(hi) FROM rpc_ranges WHERE method = OLD.method),
         seq = seq + 1
   WHERE method = OLD.method;
  DELETE FROM rpc_managers
   WHERE manager = OLD.manager
     AND NOT EXISTS (SELECT 1 FROM rpc_ranges WHERE manager = OLD.manager);
END;

--------------------------------------------------------------- rpc_methods

-- The floor rises with negotiated and never falls here; only a pin lowers
-- it (rpc_pins_insert).  Written once, for every change of the inputs.
DROP TRIGGER IF EXISTS main.rpc_methods_floor;
CREATE TRIGGER main.rpc_methods_floor
  AFTER UPDATE OF receivers, max_lo, min_hi, pin ON rpc_methods
  WHEN NEW.negotiated > coalesce(NEW.floor, -1)
BEGIN
  UPDATE rpc_methods SET floor = NEW.negotiated, seq = seq + 1
   WHERE method = NEW.method;
END;

DROP TRIGGER IF EXISTS main.rpc_methods_guard_insert;
CREATE TRIGGER main.rpc_methods_guard_insert BEFORE INSERT ON rpc_methods
  WHEN NEW.receivers IS NOT 0 OR NEW.max_lo IS NOT NULL
    OR NEW.min_hi IS NOT NULL OR NEW.newest IS NOT NULL
    OR NEW.pin IS NOT NULL OR NEW.floor IS NOT NULL OR NEW.seq IS NOT 0
    OR EXISTS (SELECT 1 FROM rpc_methods WHERE method = NEW.method)
BEGIN
  SELECT rpcver_raise(printf('rpcver: rpc_methods is maintained by rpcver''s '
           || 'triggers (refused a direct insert for method %s); write '
           || 'rpc_registrations or rpc_pins instead', rpcver_quote(NEW.method)));
END;

-- A write that bumps seq (by mistake or on purpose) must still follow the
-- triggers' rules, each checked in O(1): receivers move by at most one and
-- are 0 exactly when there are no ranges; the floor only rises to
-- negotiated, or falls to a new pin; a new pin is not below max_lo.  (The
-- aggregates themselves are rpc_verify()'s to audit.)
DROP TRIGGER IF EXISTS main.rpc_methods_guard_update;
CREATE TRIGGER main.rpc_methods_guard_update BEFORE UPDATE ON rpc_methods
  WHEN NEW.seq IS NOT OLD.seq + 1 OR NEW.method IS NOT OLD.method
    OR NEW.receivers IS NULL OR NEW.receivers < 0
    OR abs(NEW.receivers - OLD.receivers) > 1
    OR (NEW.receivers = 0) IS NOT (NEW.min_hi IS NULL)
    OR (NEW.floor IS NOT OLD.floor
        AND NOT coalesce(NEW.floor = NEW.negotiated
                         AND (OLD.floor IS NULL OR NEW.floor > OLD.floor), 0)
        AND NOT coalesce(NEW.pin IS NOT OLD.pin AND NEW.floor = NEW.pin
                         AND (OLD.floor IS NULL OR NEW.floor < OLD.floor), 0))
    OR (NEW.pin IS NOT OLD.pin AND NEW.pin < NEW.max_lo)
BEGIN
  SELECT rpcver_raise(printf('rpcver: rpc_methods is maintained by rpcver''s '
           || 'triggers (refused a direct update of method %s); write '
           || 'rpc_registrations or rpc_pins instead', rpcver_quote(OLD.method)));
END;

-- Deleting a row is rpc_forget(): allowed once the method has no receivers.
DROP TRIGGER IF EXISTS main.rpc_methods_guard_delete;
CREATE TRIGGER main.rpc_methods_guard_delete BEFORE DELETE ON rpc_methods
  WHEN OLD.receivers > 0
BEGIN
  SELECT rpcver_raise(printf('rpcver: cannot forget method %s: it still has '
           || '%d receiver(s); unregister them first (rpc_unregister or '
           || 'rpc_expire)', rpcver_quote(OLD.method), OLD.receivers));
END;

-------------------------------------------------------------- rpc_managers

-- A manager row exists exactly while the manager has registrations.  Direct
-- writes may change last_seen (that is what rpc_heartbeat() does), nothing
-- else.
DROP TRIGGER IF EXISTS main.rpc_managers_guard_insert;
CREATE TRIGGER main.rpc_managers_guard_insert BEFORE INSERT ON rpc_managers
  WHEN NOT EXISTS (SELECT 1 FROM rpc_ranges WHERE manager = NEW.manager)
    OR EXISTS (SELECT 1 FROM rpc_managers WHERE manager = NEW.manager)
BEGIN
  SELECT rpcver_raise(printf('rpcver: rpc_managers is maintained by rpcver''s '
           || 'triggers (refused a direct insert for manager %s); register '
           || 'through rpc_registrations or rpc_register()',
           rpcver_quote(NEW.manager)));
END;

DROP TRIGGER IF EXISTS main.rpc_managers_guard_update;
CREATE TRIGGER main.rpc_managers_guard_update BEFORE UPDATE ON rpc_managers
  WHEN NEW.manager IS NOT OLD.manager
BEGIN
  SELECT rpcver_raise(printf('rpcver: cannot rename manager %s to %s; '
           || 'unregister it and register the new name',
           rpcver_quote(OLD.manager), rpcver_quote(NEW.manager)));
END;

DROP TRIGGER IF EXISTS main.rpc_managers_guard_last_seen;
CREATE TRIGGER main.rpc_managers_guard_last_seen BEFORE UPDATE OF last_seen
  ON rpc_managers WHEN typeof(NEW.last_seen) IS NOT 'integer'
BEGIN
  SELECT rpcver_raise(printf('rpcver: rpc_managers.last_seen of manager %s '
           || 'must be an INTEGER unix time, not %s', rpcver_quote(OLD.manager),
           rpcver_quote(NEW.last_seen)));
END;

DROP TRIGGER IF EXISTS main.rpc_managers_guard_delete;
CREATE TRIGGER main.rpc_managers_guard_delete BEFORE DELETE ON rpc_managers
  WHEN EXISTS (SELECT 1 FROM rpc_ranges WHERE manager = OLD.manager)
BEGIN
  SELECT rpcver_raise(printf('rpcver: manager %s still has registrations; '
           || 'remove them with rpc_unregister() or DELETE FROM '
           || 'rpc_registrations', rpcver_quote(OLD.manager)));
END;

---------------------------------------------------------- rpc_registrations

-- The write interface for registrations, with versions as text:
--   INSERT INTO rpc_registrations(manager, method, hi [, lo]) registers or
--   replaces; lo defaults to MAJOR(hi).0.
DROP VIEW IF EXISTS main.rpc_registrations;
CREATE VIEW main.rpc_registrations(manager, method, lo, hi, last_seen) AS
  SELECT r.manager, r.method,
         VERSION_TEXT(r.lo),
         VERSION_TEXT(r.hi),
         m.last_seen
    FROM rpc_ranges AS r JOIN rpc_managers AS m USING (manager);

-- rpc_registrations_insert's way to insert a registration only when the
-- manager has none for the method (see the top of the rpc_ranges section).
-- Internal: inserting here is inserting into rpc_ranges, or nothing.
DROP VIEW IF EXISTS main.rpc_ranges_missing;
CREATE VIEW main.rpc_ranges_missing(manager, method, hi, lo) AS
  SELECT manager, method, hi, lo FROM rpc_ranges WHERE 0;

CREATE TRIGGER main.rpc_ranges_missing_insert INSTEAD OF INSERT ON rpc_ranges_missing
  WHEN NOT EXISTS (SELECT 1 FROM rpc_ranges
                    WHERE manager = NEW.manager AND method = NEW.method)
BEGIN
  INSERT INTO rpc_ranges(manager, method, lo, hi)
    VALUES (NEW.manager, NEW.method, NEW.lo, NEW.hi);
END;

CREATE TRIGGER main.rpc_registrations_insert INSTEAD OF INSERT ON rpc_registrations
BEGIN
  -- Names first: the UPDATE below would otherwise match an INTEGER 7 to
  -- an existing manager '7', and rpc_ranges' TEXT affinity would turn a
  -- new INTEGER method 7 into '7'.  Then the versions, hi before lo, so a
  -- bad one is reported whether or not the registration exists.
  SELECT rpcver_name('rpc_registrations.manager', NEW.manager),
         rpcver_name('rpc_registrations.method', NEW.method),
         rpcver_key('rpc_registrations.hi', NEW.hi),
         iif(NEW.lo IS NULL, NULL, rpcver_key('rpc_registrations.lo', NEW.lo));
  -- A re-registration updates the existing row, a new one inserts.
  UPDATE rpc_ranges
     SET lo = rpcver_lo(NEW.hi, NEW.lo),
         hi = rpcver_key('rpc_registrations.hi', NEW.hi)
   WHERE manager = NEW.manager AND method = NEW.method;
  INSERT INTO rpc_ranges_missing(manager, method, hi, lo)
    VALUES (NEW.manager, NEW.method,
            rpcver_key('rpc_registrations.hi', NEW.hi),
            rpcver_lo(NEW.hi, NEW.lo));
END;

CREATE TRIGGER main.rpc_registrations_update INSTEAD OF UPDATE ON rpc_registrations
BEGIN
  UPDATE rpc_ranges
     SET manager = NEW.manager, method = NEW.method,
         lo = rpcver_key('rpc_registrations.lo', NEW.lo),
         hi = rpcver_key('rpc_registrations.hi', NEW.hi)
   WHERE manager = OLD.manager AND method = OLD.method;
END;

CREATE TRIGGER main.rpc_registrations_delete INSTEAD OF DELETE ON rpc_registrations
BEGIN
  DELETE FROM rpc_ranges WHERE manager = OLD.manager AND method = OLD.method;
END;

------------------------------------------------------------------- rpc_pins

-- The write interface for pins: INSERT [OR REPLACE] pins, DELETE unpins.
DROP VIEW IF EXISTS main.rpc_pins;
CREATE VIEW main.rpc_pins(method, version) AS
  SELECT method,
         VERSION_TEXT(pin)
    FROM rpc_methods WHERE pin IS NOT NULL;

CREATE TRIGGER main.rpc_pins_insert INSTEAD OF INSERT ON rpc_pins BEGIN
  SELECT rpcver_name('rpc_pins.method', NEW.method);
  -- Nothing could be sent below a receiver's lo: name the receiver.
  SELECT rpcver_raise(rpcver_pin_refusal(r.method, p.pin, r.manager, r.lo,
                                         r.hi))
    FROM (SELECT rpcver_key('rpc_pins.version', NEW.version) AS pin) AS p
    JOIN rpc_ranges AS r ON r.method = NEW.method AND r.lo > p.pin
   ORDER BY r.lo DESC LIMIT 1;
  INSERT INTO rpc_methods(method)
    SELECT rpcver_name('rpc_pins.method', NEW.method)
     WHERE NOT EXISTS (SELECT 1 FROM rpc_methods WHERE method = NEW.method);
  UPDATE rpc_methods
     SET pin = p.pin, floor = min(coalesce(floor, p.pin), p.pin), seq = seq + 1
    FROM (SELECT rpcver_key('rpc_pins.version', NEW.version) AS pin) AS p
   WHERE method = NEW.method;
END;

CREATE TRIGGER main.rpc_pins_update INSTEAD OF UPDATE ON rpc_pins BEGIN
  SELECT rpcver_raise(printf('rpcver: cannot move the pin of method %s to '
           || 'method %s; delete it and pin the other method',
           rpcver_quote(OLD.method), rpcver_quote(NEW.method)))
   WHERE NEW.method IS NOT OLD.method;
  INSERT INTO rpc_pins(method, version) VALUES (NEW.method, NEW.version);
END;

CREATE TRIGGER main.rpc_pins_delete INSTEAD OF DELETE ON rpc_pins BEGIN
  UPDATE rpc_methods SET pin = NULL, seq = seq + 1 WHERE method = OLD.method;
END;

-------------------------------------------------------------- status views

-- One row per method; state is empty / blocked / pinned / upgrading / steady.
DROP VIEW IF EXISTS main.rpc_status;
CREATE VIEW main.rpc_status(method, receivers, negotiated, newest, pin, floor,
                       state) AS
  SELECT method, receivers,
         VERSION_TEXT(negotiated),
         VERSION_TEXT(newest),
         VERSION_TEXT(pin),
         VERSION_TEXT(floor),
         CASE WHEN receivers = 0 THEN 'empty'
              WHEN negotiated IS NULL THEN 'blocked'
              WHEN pin IS NOT NULL THEN 'pinned'
              WHEN min_hi < newest THEN 'upgrading'
              ELSE 'steady' END
    FROM rpc_methods ORDER BY method;

-- Who holds an upgrade back: receivers below the newest version registered
-- for their method.  One index range per method, not a scan: CROSS JOIN
-- makes SQLite keep that join order (it would otherwise scan rpc_ranges).
DROP VIEW IF EXISTS main.rpc_laggards;
CREATE VIEW main.rpc_laggards(manager, method, hi, newest) AS
  SELECT r.manager, r.method,
         VERSION_TEXT(r.hi),
         VERSION_TEXT(m.newest)
    FROM rpc_methods AS m
    CROSS JOIN rpc_ranges AS r ON r.method = m.method AND r.hi < m.newest
   ORDER BY r.method, r.hi, r.manager;

INSERT OR REPLACE INTO main.rpc_meta(key, value) VALUES ('schema_version', 2);
INSERT OR REPLACE INTO main.rpc_meta(key, value) VALUES ('schema_revision', 4);
