-- rpcver schema, version 3, revision 8.
--
-- The version counts changes to the tables; the revision, changes to the
-- triggers and views only (ext/schema.c re-runs this script on a database
-- whose schema_revision is older, or missing: revision 1).  Revision 7
-- also adds a table, rpc_log, that only its own triggers write: the script
-- creates it when missing, so an rpcver of revision 6 still writes such a
-- database (through revision 7's triggers, which then log for it too) and
-- the schema version stays 3.  Revision 8 bounds the log's prune by one
-- limit (rpc_log_bounds_insert), so that it reads 128 rows at most.
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

-- One row per manager: a process with at least one registration, to receive
-- (rpc_ranges) or to send (rpc_sender_ranges).  last_seen is its heartbeat.
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

-- The senders (schema version 3): sender sends method at versions in
-- [lo, hi], as its code can (any version from lo up to the cap: an oslo
-- call carries the version of that call).  Written through the rpc_senders
-- view, checked and maintained like rpc_ranges.  A sender that registers
-- is inside the in-flight promise (the drain windows below); one that only
-- calls rpc_max_send is not.
CREATE TABLE IF NOT EXISTS main.rpc_sender_ranges(
  sender TEXT NOT NULL,
  method TEXT NOT NULL,
  lo NOT NULL,
  hi NOT NULL,
  PRIMARY KEY(sender, method)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS main.rpc_sender_ranges_by_hi
  ON rpc_sender_ranges(method, hi);
CREATE INDEX IF NOT EXISTS main.rpc_sender_ranges_by_lo
  ON rpc_sender_ranges(method, lo);

-- The materialized per-method state, written only by the triggers below.
-- seq counts the changes of a row; a write that does not bump it by one did
-- not come from these triggers and is refused (rpc_methods_guard_update,
-- which also holds every write to the rules the triggers follow).
--
-- The columns after negotiated came with schema version 3 (a migrated
-- database gets them by ALTER TABLE ... ADD COLUMN, in this order, with
-- this text).  send_lo..send_hi is what registered senders may send now:
-- each sender's piece is [max(its lo, max_lo), min(its hi, negotiated)],
-- none empty while the method has receivers (rpcver refuses a write that
-- would empty one), so their hull is [max(min_slo, max_lo),
-- min(max_shi, negotiated)].  inflight_lo..inflight_hi is what they could
-- send before a change narrowed that, so messages of it may still be in
-- flight until inflight_until (unix seconds): the drain window, drain
-- seconds, or rpc_meta's drain_default when drain is NULL.
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
         THEN min(min_hi, coalesce(pin, min_hi)) END) VIRTUAL,
  senders INTEGER NOT NULL DEFAULT 0,
  min_slo INTEGER,
  max_slo INTEGER,
  min_shi INTEGER,
  max_shi INTEGER,
  drain INTEGER,
  inflight_lo INTEGER,
  inflight_hi INTEGER,
  inflight_until INTEGER,
  send_lo INTEGER GENERATED ALWAYS AS (
    CASE WHEN senders > 0 AND negotiated IS NOT NULL
         THEN max(min_slo, max_lo) END) VIRTUAL,
  send_hi INTEGER GENERATED ALWAYS AS (
    CASE WHEN senders > 0 AND negotiated IS NOT NULL
         THEN min(max_shi, negotiated) END) VIRTUAL
) WITHOUT ROWID;

-- The drain window of methods without their own, in seconds.  60: oslo.
-- messaging's rpc_response_timeout, how long a call waits for its answer.
-- (OR IGNORE: re-running the script keeps an operator's setting.)
INSERT OR IGNORE INTO main.rpc_meta(key, value) VALUES ('drain_default', 60);

-- The event log (revision 7): one row per change, written by the triggers
-- of the "event log" section below in the transaction of the change, so a
-- refused write leaves no row either.  id orders the changes; time is
-- when it happened, unix seconds with their fraction (its DEFAULT: the
-- statement's time, the one unixepoch() reads, to the millisecond; the
-- view rounds it, and the timeline draws changes a second apart in the
-- order they came); who is the manager or sender whose
-- registration changed (NULL for a method's own state: pins, negotiated,
-- the floor).  old_* and new_* are version keys (a single version in *_hi,
-- a range in *_lo and *_hi), or seconds for a drain window; at is a second
-- moment the event names: where a drain window ends (in_flight), when the
-- manager was last seen (expired).  Read it through the rpc_events view.
-- Rows are removed only from the old end, when they fall outside the
-- bounds in rpc_meta (log_rows, log_days): see rpc_log_bounds.
CREATE TABLE IF NOT EXISTS main.rpc_log(
  id INTEGER PRIMARY KEY,
  time REAL NOT NULL
    DEFAULT ((julianday() - 2440587.5) * 86400),
  method TEXT,
  event TEXT NOT NULL,
  who TEXT,
  old_lo INTEGER,
  old_hi INTEGER,
  new_lo INTEGER,
  new_hi INTEGER,
  at INTEGER
);

-- The log keeps the newest log_rows rows, and none older than log_days
-- days; 0 rows keeps none (the log is off).  100,000 rows is about 6 MB
-- (docs/operators.md has the measurement) and holds a few whole upgrades
-- of a fleet of hundreds of services with tens of APIs each; 365 days keeps
-- the last two upgrades of a twice-yearly release cycle for comparison and
-- incident review.  (OR IGNORE: re-running the script keeps an operator's
-- setting.)
INSERT OR IGNORE INTO main.rpc_meta(key, value) VALUES ('log_rows', 100000);
INSERT OR IGNORE INTO main.rpc_meta(key, value) VALUES ('log_days', 365);

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
  -- Admission (rpcver_refusal() holds the rules, for rpc_check() too): the
  -- range must contain the floor, the highest version senders may already
  -- be using, and, while a drain window lasts, every version registered
  -- senders may have in flight.
  SELECT rpcver_raise(rpcver_refusal(NEW.manager, NEW.method, NEW.lo, NEW.hi,
           m.floor, m.send_lo, m.send_hi, m.inflight_lo, m.inflight_hi,
           m.inflight_until, w.seconds, unixepoch()))
    FROM rpc_methods AS m JOIN rpc_drains AS w USING (method)
   WHERE m.method = NEW.method;
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
           m.floor, m.send_lo, m.send_hi, m.inflight_lo, m.inflight_hi,
           m.inflight_until, w.seconds, unixepoch()))
    FROM rpc_methods AS m JOIN rpc_drains AS w USING (method)
   WHERE m.method = NEW.method;
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
  -- the event log (the section at the end says why here)
  INSERT INTO rpc_log(method, event, who, new_lo, new_hi)
    VALUES (NEW.method, 'registered', NEW.manager, NEW.lo,
            NEW.hi);
  UPDATE rpc_managers SET last_seen = unixepoch()
   WHERE manager = NEW.manager AND last_seen < unixepoch();
  UPDATE rpc_methods
     SET receivers = receivers + 1,
         max_lo = max(coalesce(max_lo, NEW.lo), NEW.lo),
         min_hi = min(coalesce(min_hi, NEW.hi), NEW.hi),
         newest = max(coalesce(newest, NEW.hi), NEW.hi),
         seq = seq + 1
   WHERE method = NEW.method;
  -- The change must leave every registered sender something it may send.
  SELECT rpcver_raise(rpcver_sender_refusal(
           printf('the range [%s, %s] of manager %s', rpcver_text(NEW.lo),
                  rpcver_text(NEW.hi), rpcver_quote(NEW.manager)),
           m.method, s.sender, s.lo, s.hi, m.max_lo, m.negotiated))
    FROM rpc_methods AS m JOIN rpc_sender_ranges AS s ON s.method = m.method
   WHERE m.method = NEW.method AND m.senders > 0
     AND (m.negotiated IS NULL OR m.min_shi < m.max_lo
          OR m.max_slo > m.negotiated)
     AND (m.negotiated IS NULL OR s.hi < m.max_lo OR s.lo > m.negotiated)
   LIMIT 1;
END;

-- A changed or removed range may have been an extreme: re-seek the method's
-- extremes through the (method, lo) and (method, hi) indexes.
DROP TRIGGER IF EXISTS main.rpc_ranges_updated;
CREATE TRIGGER main.rpc_ranges_updated AFTER UPDATE OF lo, hi ON rpc_ranges BEGIN
  INSERT INTO rpc_log(method, event, who, old_lo, old_hi, new_lo,
                      new_hi)
    SELECT NEW.method, 'replaced', NEW.manager, OLD.lo, OLD.hi,
           NEW.lo, NEW.hi
     WHERE NEW.lo IS NOT OLD.lo OR NEW.hi IS NOT OLD.hi;
  UPDATE rpc_managers SET last_seen = unixepoch()
   WHERE manager = NEW.manager AND last_seen < unixepoch();
  UPDATE rpc_methods
     SET max_lo = (SELECT max(lo) FROM rpc_ranges WHERE method = NEW.method),
         min_hi = (SELECT min(hi) FROM rpc_ranges WHERE method = NEW.method),
         newest = (SELECT max(hi) FROM rpc_ranges WHERE method = NEW.method),
         seq = seq + 1
   WHERE method = NEW.method;
  -- The change must leave every registered sender something it may send.
  SELECT rpcver_raise(rpcver_sender_refusal(
           printf('the range [%s, %s] of manager %s', rpcver_text(NEW.lo),
                  rpcver_text(NEW.hi), rpcver_quote(NEW.manager)),
           m.method, s.sender, s.lo, s.hi, m.max_lo, m.negotiated))
    FROM rpc_methods AS m JOIN rpc_sender_ranges AS s ON s.method = m.method
   WHERE m.method = NEW.method AND m.senders > 0
     AND (m.negotiated IS NULL OR m.min_shi < m.max_lo
          OR m.max_slo > m.negotiated)
     AND (m.negotiated IS NULL OR s.hi < m.max_lo OR s.lo > m.negotiated)
   LIMIT 1;
END;

DROP TRIGGER IF EXISTS main.rpc_ranges_deleted;
CREATE TRIGGER main.rpc_ranges_deleted AFTER DELETE ON rpc_ranges BEGIN
  -- (a manager being expired has a negative last_seen: rpc_expiry)
  INSERT INTO rpc_log(method, event, who, old_lo, old_hi, at)
    VALUES (OLD.method,
            coalesce((SELECT 'expired' FROM rpc_managers
                       WHERE manager = OLD.manager AND last_seen < 0),
                     'unregistered'),
            OLD.manager, OLD.lo, OLD.hi,
            (SELECT -1 - last_seen FROM rpc_managers
              WHERE manager = OLD.manager AND last_seen < 0));
  UPDATE rpc_methods
     SET receivers = receivers - 1,
         max_lo = (SELECT max(lo) FROM rpc_ranges WHERE method = OLD.method),
         min_hi = (SELECT min(hi) FROM rpc_ranges WHERE method = OLD.method),
         newest = (SELECT max(hi) FROM rpc_ranges WHERE method = OLD.method),
         seq = seq + 1
   WHERE method = OLD.method;
  DELETE FROM rpc_managers
   WHERE manager = OLD.manager
     AND NOT EXISTS (SELECT 1 FROM rpc_ranges WHERE manager = OLD.manager)
     AND NOT EXISTS (SELECT 1 FROM rpc_sender_ranges
                      WHERE sender = OLD.manager);
END;

--------------------------------------------------------- rpc_sender_ranges

-- The senders' ranges, checked and maintained like the receivers' above
-- (the same rules on conflict clauses and INSERT ... SELECT).
DROP TRIGGER IF EXISTS main.rpc_sender_ranges_check_insert;
CREATE TRIGGER main.rpc_sender_ranges_check_insert
  BEFORE INSERT ON rpc_sender_ranges
BEGIN
  SELECT rpcver_raise(printf('rpcver: sender %s already has a registration '
           || 'for method %s; replace it through rpc_senders or '
           || 'rpc_register_sender()', rpcver_quote(NEW.sender),
           rpcver_quote(NEW.method)))
    FROM rpc_sender_ranges WHERE sender = NEW.sender AND method = NEW.method;
  SELECT rpcver_check_range(NEW.sender, NEW.method, NEW.lo, NEW.hi,
                            'sender');
  -- A sender whose range reaches nothing every receiver accepts.
  SELECT rpcver_raise(rpcver_sender_refusal(NULL, m.method, NEW.sender,
           NEW.lo, NEW.hi, m.max_lo, m.negotiated))
    FROM rpc_methods AS m
   WHERE m.method = NEW.method AND m.receivers > 0
     AND (m.negotiated IS NULL OR NEW.hi < m.max_lo
          OR NEW.lo > m.negotiated);
END;

DROP TRIGGER IF EXISTS main.rpc_sender_ranges_check_update;
CREATE TRIGGER main.rpc_sender_ranges_check_update
  BEFORE UPDATE ON rpc_sender_ranges
BEGIN
  SELECT rpcver_raise(printf('rpcver: cannot move the registration of '
           || 'sender %s for method %s to sender %s, method %s; delete it '
           || 'and register the new one', rpcver_quote(OLD.sender),
           rpcver_quote(OLD.method), rpcver_quote(NEW.sender),
           rpcver_quote(NEW.method)))
   WHERE NEW.sender IS NOT OLD.sender OR NEW.method IS NOT OLD.method;
  SELECT rpcver_check_range(NEW.sender, NEW.method, NEW.lo, NEW.hi,
                            'sender');
  SELECT rpcver_raise(rpcver_sender_refusal(NULL, m.method, NEW.sender,
           NEW.lo, NEW.hi, m.max_lo, m.negotiated))
    FROM rpc_methods AS m
   WHERE m.method = NEW.method AND m.receivers > 0
     AND (m.negotiated IS NULL OR NEW.hi < m.max_lo
          OR NEW.lo > m.negotiated);
END;

DROP TRIGGER IF EXISTS main.rpc_sender_ranges_new_method;
CREATE TRIGGER main.rpc_sender_ranges_new_method
  BEFORE INSERT ON rpc_sender_ranges
  WHEN NOT EXISTS (SELECT 1 FROM rpc_methods WHERE method = NEW.method)
BEGIN
  INSERT INTO rpc_methods(method) VALUES (NEW.method);
END;

DROP TRIGGER IF EXISTS main.rpc_sender_ranges_new_manager;
CREATE TRIGGER main.rpc_sender_ranges_new_manager
  AFTER INSERT ON rpc_sender_ranges
  WHEN NOT EXISTS (SELECT 1 FROM rpc_managers WHERE manager = NEW.sender)
BEGIN
  INSERT INTO rpc_managers(manager, last_seen)
    VALUES (NEW.sender, unixepoch());
END;

DROP TRIGGER IF EXISTS main.rpc_sender_ranges_inserted;
CREATE TRIGGER main.rpc_sender_ranges_inserted
  AFTER INSERT ON rpc_sender_ranges
BEGIN
  -- the event log (the section at the end says why here)
  INSERT INTO rpc_log(method, event, who, new_lo, new_hi)
    VALUES (NEW.method, 'sender_registered', NEW.sender,
            NEW.lo, NEW.hi);
  UPDATE rpc_managers SET last_seen = unixepoch()
   WHERE manager = NEW.sender AND last_seen < unixepoch();
  UPDATE rpc_methods
     SET senders = senders + 1,
         min_slo = min(coalesce(min_slo, NEW.lo), NEW.lo),
         max_slo = max(coalesce(max_slo, NEW.lo), NEW.lo),
         min_shi = min(coalesce(min_shi, NEW.hi), NEW.hi),
         max_shi = max(coalesce(max_shi, NEW.hi), NEW.hi),
         seq = seq + 1
   WHERE method = NEW.method;
END;

DROP TRIGGER IF EXISTS main.rpc_sender_ranges_updated;
CREATE TRIGGER main.rpc_sender_ranges_updated
  AFTER UPDATE OF lo, hi ON rpc_sender_ranges
BEGIN
  INSERT INTO rpc_log(method, event, who, old_lo, old_hi, new_lo,
                      new_hi)
    SELECT NEW.method, 'sender_replaced', NEW.sender, OLD.lo,
           OLD.hi, NEW.lo, NEW.hi
     WHERE NEW.lo IS NOT OLD.lo OR NEW.hi IS NOT OLD.hi;
  UPDATE rpc_managers SET last_seen = unixepoch()
   WHERE manager = NEW.sender AND last_seen < unixepoch();
  UPDATE rpc_methods
     SET min_slo = (SELECT min(lo) FROM rpc_sender_ranges
                     WHERE method = NEW.method),
         max_slo = (SELECT max(lo) FROM rpc_sender_ranges
                     WHERE method = NEW.method),
         min_shi = (SELECT min(hi) FROM rpc_sender_ranges
                     WHERE method = NEW.method),
         max_shi = (SELECT max(hi) FROM rpc_sender_ranges
                     WHERE method = NEW.method),
         seq = seq + 1
   WHERE method = NEW.method;
END;

DROP TRIGGER IF EXISTS main.rpc_sender_ranges_deleted;
CREATE TRIGGER main.rpc_sender_ranges_deleted
  AFTER DELETE ON rpc_sender_ranges
BEGIN
  -- (a manager being expired has a negative last_seen: rpc_expiry)
  INSERT INTO rpc_log(method, event, who, old_lo, old_hi, at)
    VALUES (OLD.method,
            coalesce((SELECT 'sender_expired' FROM rpc_managers
                       WHERE manager = OLD.sender AND last_seen < 0),
                     'sender_unregistered'),
            OLD.sender, OLD.lo, OLD.hi,
            (SELECT -1 - last_seen FROM rpc_managers
              WHERE manager = OLD.sender AND last_seen < 0));
  UPDATE rpc_methods
     SET senders = senders - 1,
         min_slo = (SELECT min(lo) FROM rpc_sender_ranges
                     WHERE method = OLD.method),
         max_slo = (SELECT max(lo) FROM rpc_sender_ranges
                     WHERE method = OLD.method),
         min_shi = (SELECT min(hi) FROM rpc_sender_ranges
                     WHERE method = OLD.method),
         max_shi = (SELECT max(hi) FROM rpc_sender_ranges
                     WHERE method = OLD.method),
         seq = seq + 1
   WHERE method = OLD.method;
  DELETE FROM rpc_managers
   WHERE manager = OLD.sender
     AND NOT EXISTS (SELECT 1 FROM rpc_ranges WHERE manager = OLD.sender)
     AND NOT EXISTS (SELECT 1 FROM rpc_sender_ranges
                      WHERE sender = OLD.sender);
END;

--------------------------------------------------------------- rpc_methods

-- The floor rises with negotiated and never falls here; only a pin lowers
-- it (rpc_pins_insert).  Written once, for every change of the inputs.
-- The same trigger logs changes of negotiated and newest: it runs for a
-- registration anyway, and a trigger of the log's own would cost every
-- registration a frame (the event log section, at the end, says more).
DROP TRIGGER IF EXISTS main.rpc_methods_floor;
CREATE TRIGGER main.rpc_methods_floor
  AFTER UPDATE OF receivers, max_lo, min_hi, newest, pin ON rpc_methods
  WHEN NEW.negotiated > coalesce(NEW.floor, -1)
    OR NEW.negotiated IS NOT OLD.negotiated OR NEW.newest IS NOT OLD.newest
BEGIN
  INSERT INTO rpc_log(method, event, old_hi, new_hi)
    SELECT NEW.method, 'newest', OLD.newest, NEW.newest
     WHERE NEW.newest IS NOT OLD.newest;
  INSERT INTO rpc_log(method, event, old_hi, new_hi)
    SELECT NEW.method, 'negotiated', OLD.negotiated,
           NEW.negotiated
     WHERE NEW.negotiated IS NOT OLD.negotiated;
  UPDATE rpc_methods SET floor = NEW.negotiated, seq = seq + 1
   WHERE method = NEW.method AND NEW.negotiated > coalesce(NEW.floor, -1);
END;

-- What registered senders may send narrowed (a pin, a receiver that no
-- longer takes old versions, a sender that left or narrowed its range, the
-- last receiver gone): messages of the old range may still be in flight
-- for the drain window.  Record it, merged with an envelope still running;
-- admission holds every new receiver to it until it has passed.
DROP TRIGGER IF EXISTS main.rpc_methods_inflight;
CREATE TRIGGER main.rpc_methods_inflight
  AFTER UPDATE OF receivers, max_lo, min_hi, pin, senders, min_slo, max_shi
  ON rpc_methods
  WHEN OLD.send_lo IS NOT NULL
   AND (NEW.send_lo IS NULL OR NEW.send_lo > OLD.send_lo
        OR NEW.send_hi < OLD.send_hi)
   AND (SELECT seconds FROM rpc_drains WHERE method = NEW.method) > 0
BEGIN
  UPDATE rpc_methods
     SET inflight_lo = iif(inflight_until >= unixepoch(),
                           min(inflight_lo, OLD.send_lo), OLD.send_lo),
         inflight_hi = iif(inflight_until >= unixepoch(),
                           max(inflight_hi, OLD.send_hi), OLD.send_hi),
         inflight_until = max(coalesce(inflight_until, 0), unixepoch()
                  + (SELECT seconds FROM rpc_drains WHERE method = NEW.method)),
         seq = seq + 1
   WHERE method = NEW.method;
END;

-- A drain window is a number of seconds (rpcver_seconds: at most 365
-- days).  Raised while a drain runs, it extends that drain to the new
-- window counted from now: messages sent before the change that started
-- it may live that long.  Lowered, it never shortens one.
DROP TRIGGER IF EXISTS main.rpc_methods_drain_check;
CREATE TRIGGER main.rpc_methods_drain_check BEFORE UPDATE OF drain ON rpc_methods
  WHEN NEW.drain IS NOT OLD.drain AND NEW.drain IS NOT NULL
BEGIN
  SELECT rpcver_seconds(printf('the drain window of method %s',
                               rpcver_quote(NEW.method)), NEW.drain);
END;
DROP TRIGGER IF EXISTS main.rpc_methods_drain;
CREATE TRIGGER main.rpc_methods_drain AFTER UPDATE OF drain ON rpc_methods
  WHEN NEW.inflight_until >= unixepoch()
   AND NEW.inflight_until < unixepoch() + coalesce(NEW.drain,
         (SELECT value FROM rpc_meta WHERE key = 'drain_default'))
BEGIN
  UPDATE rpc_methods
     SET inflight_until = unixepoch() + coalesce(NEW.drain,
           (SELECT value FROM rpc_meta WHERE key = 'drain_default')),
         seq = seq + 1
   WHERE method = NEW.method;
END;

DROP TRIGGER IF EXISTS main.rpc_methods_guard_insert;
CREATE TRIGGER main.rpc_methods_guard_insert BEFORE INSERT ON rpc_methods
  WHEN NEW.receivers IS NOT 0 OR NEW.max_lo IS NOT NULL
    OR NEW.min_hi IS NOT NULL OR NEW.newest IS NOT NULL
    OR NEW.pin IS NOT NULL OR NEW.floor IS NOT NULL OR NEW.seq IS NOT 0
    OR NEW.senders IS NOT 0 OR NEW.min_slo IS NOT NULL
    OR NEW.max_slo IS NOT NULL OR NEW.min_shi IS NOT NULL
    OR NEW.max_shi IS NOT NULL OR NEW.drain IS NOT NULL
    OR NEW.inflight_lo IS NOT NULL OR NEW.inflight_hi IS NOT NULL
    OR NEW.inflight_until IS NOT NULL
    OR EXISTS (SELECT 1 FROM rpc_methods WHERE method = NEW.method)
BEGIN
  SELECT rpcver_raise(printf('rpcver: rpc_methods is maintained by rpcver''s '
           || 'triggers (refused a direct insert for method %s); write '
           || 'rpc_registrations or rpc_pins instead', rpcver_quote(NEW.method)));
END;

-- A write that bumps seq (by mistake or on purpose) must still follow the
-- triggers' rules, each checked in O(1): receivers and senders move by at
-- most one and are 0 exactly when there are no ranges; the floor only rises
-- to negotiated, or falls to a new pin; a new pin is not below max_lo; an
-- in-flight envelope's end never comes sooner, and while it runs it only
-- widens (rpc_methods_drain_check checks a drain window).  (The aggregates
-- themselves are rpc_verify()'s to audit.)
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
    OR NEW.senders IS NULL OR NEW.senders < 0
    OR abs(NEW.senders - OLD.senders) > 1
    OR (NEW.senders = 0) IS NOT (NEW.max_shi IS NULL)
    OR NEW.inflight_until < OLD.inflight_until
    OR (NEW.inflight_until IS NULL AND OLD.inflight_until IS NOT NULL)
    -- an envelope is three integers, lo <= hi keys, or nothing
    OR ((NEW.inflight_until IS NOT OLD.inflight_until
         OR NEW.inflight_lo IS NOT OLD.inflight_lo
         OR NEW.inflight_hi IS NOT OLD.inflight_hi)
        AND NOT coalesce(typeof(NEW.inflight_until) = 'integer'
                         AND typeof(NEW.inflight_lo) = 'integer'
                         AND typeof(NEW.inflight_hi) = 'integer'
                         AND NEW.inflight_lo >= 0
                         AND NEW.inflight_lo <= NEW.inflight_hi
                         AND NEW.inflight_hi < (1 << 60), 0))
    -- and one that runs only widens
    OR (OLD.inflight_until >= unixepoch()
        AND NOT coalesce(NEW.inflight_lo <= OLD.inflight_lo
                         AND NEW.inflight_hi >= OLD.inflight_hi, 0))
BEGIN
  SELECT rpcver_raise(printf('rpcver: rpc_methods is maintained by rpcver''s '
           || 'triggers (refused a direct update of method %s); write '
           || 'rpc_registrations or rpc_pins instead', rpcver_quote(OLD.method)));
END;

-- Deleting a row is rpc_forget(): allowed once the method has no receivers
-- and no senders, and no message of it may be in flight (forgetting drops
-- the floor and the envelope that hold new receivers to them).
DROP TRIGGER IF EXISTS main.rpc_methods_guard_delete;
CREATE TRIGGER main.rpc_methods_guard_delete BEFORE DELETE ON rpc_methods
  WHEN OLD.receivers > 0 OR OLD.senders > 0
    OR OLD.inflight_until >= unixepoch()
BEGIN
  SELECT rpcver_raise(printf('rpcver: cannot forget method %s: %s',
           rpcver_quote(OLD.method),
           CASE WHEN OLD.receivers > 0
                THEN printf('it still has %d receiver(s); unregister them '
                     || 'first (rpc_unregister or rpc_expire)', OLD.receivers)
                WHEN OLD.senders > 0
                THEN printf('it still has %d registered sender(s); '
                     || 'unregister them first (rpc_unregister_sender or '
                     || 'rpc_expire)', OLD.senders)
                ELSE printf('messages of it may still be in flight for %d '
                     || 's (its drain window); try again then',
                     OLD.inflight_until - unixepoch() + 1) END));
END;

-------------------------------------------------------------- rpc_managers

-- A manager row exists exactly while the manager has registrations, to
-- receive or to send.  Direct writes may change last_seen (that is what
-- rpc_heartbeat() does), nothing else.
DROP TRIGGER IF EXISTS main.rpc_managers_guard_insert;
CREATE TRIGGER main.rpc_managers_guard_insert BEFORE INSERT ON rpc_managers
  WHEN (NOT EXISTS (SELECT 1 FROM rpc_ranges WHERE manager = NEW.manager)
        AND NOT EXISTS (SELECT 1 FROM rpc_sender_ranges
                         WHERE sender = NEW.manager))
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
    OR EXISTS (SELECT 1 FROM rpc_sender_ranges WHERE sender = OLD.manager)
BEGIN
  SELECT rpcver_raise(printf('rpcver: manager %s still has registrations; '
           || 'remove them with %s', rpcver_quote(OLD.manager),
           CASE WHEN EXISTS (SELECT 1 FROM rpc_ranges
                              WHERE manager = OLD.manager)
                 AND EXISTS (SELECT 1 FROM rpc_sender_ranges
                              WHERE sender = OLD.manager)
                THEN 'rpc_unregister() and rpc_unregister_sender(), or '
                  || 'DELETE FROM rpc_registrations and rpc_senders'
                WHEN EXISTS (SELECT 1 FROM rpc_ranges
                              WHERE manager = OLD.manager)
                THEN 'rpc_unregister() or DELETE FROM rpc_registrations'
                ELSE 'rpc_unregister_sender() or DELETE FROM rpc_senders'
           END));
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
  -- the event log's bounds (the event log section says why here)
  INSERT INTO rpc_log_bounds VALUES (1);
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
  -- Nor may it leave a registered sender with nothing it may send.
  SELECT rpcver_raise(rpcver_sender_refusal(
           printf('the pin of method %s to %s', rpcver_quote(NEW.method),
                  rpcver_text(p.pin)),
           m.method, s.sender, s.lo, s.hi, m.max_lo, min(m.min_hi, p.pin)))
    FROM (SELECT rpcver_key('rpc_pins.version', NEW.version) AS pin) AS p
    JOIN rpc_methods AS m ON m.method = NEW.method AND m.receivers > 0
    JOIN rpc_sender_ranges AS s
      ON s.method = m.method AND s.lo > min(m.min_hi, p.pin)
   LIMIT 1;
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

---------------------------------------------------------------- rpc_senders

-- The write interface for senders, as rpc_registrations is for receivers:
--   INSERT INTO rpc_senders(sender, method, hi [, lo]) registers or
--   replaces; lo defaults to MAJOR(hi).0.
DROP VIEW IF EXISTS main.rpc_senders;
CREATE VIEW main.rpc_senders(sender, method, lo, hi, last_seen) AS
  SELECT s.sender, s.method,
         VERSION_TEXT(s.lo),
         VERSION_TEXT(s.hi),
         m.last_seen
    FROM rpc_sender_ranges AS s JOIN rpc_managers AS m ON m.manager = s.sender;

DROP VIEW IF EXISTS main.rpc_sender_ranges_missing;
CREATE VIEW main.rpc_sender_ranges_missing(sender, method, hi, lo) AS
  SELECT sender, method, hi, lo FROM rpc_sender_ranges WHERE 0;

CREATE TRIGGER main.rpc_sender_ranges_missing_insert
  INSTEAD OF INSERT ON rpc_sender_ranges_missing
  WHEN NOT EXISTS (SELECT 1 FROM rpc_sender_ranges
                    WHERE sender = NEW.sender AND method = NEW.method)
BEGIN
  INSERT INTO rpc_sender_ranges(sender, method, lo, hi)
    VALUES (NEW.sender, NEW.method, NEW.lo, NEW.hi);
END;

CREATE TRIGGER main.rpc_senders_insert INSTEAD OF INSERT ON rpc_senders
BEGIN
  SELECT rpcver_name('rpc_senders.sender', NEW.sender),
         rpcver_name('rpc_senders.method', NEW.method),
         rpcver_key('rpc_senders.hi', NEW.hi),
         iif(NEW.lo IS NULL, NULL, rpcver_key('rpc_senders.lo', NEW.lo));
  UPDATE rpc_sender_ranges
     SET lo = rpcver_lo(NEW.hi, NEW.lo),
         hi = rpcver_key('rpc_senders.hi', NEW.hi)
   WHERE sender = NEW.sender AND method = NEW.method;
  INSERT INTO rpc_sender_ranges_missing(sender, method, hi, lo)
    VALUES (NEW.sender, NEW.method,
            rpcver_key('rpc_senders.hi', NEW.hi),
            rpcver_lo(NEW.hi, NEW.lo));
  -- the event log's bounds (the event log section says why here)
  INSERT INTO rpc_log_bounds VALUES (1);
END;

CREATE TRIGGER main.rpc_senders_update INSTEAD OF UPDATE ON rpc_senders
BEGIN
  UPDATE rpc_sender_ranges
     SET sender = NEW.sender, method = NEW.method,
         lo = rpcver_key('rpc_senders.lo', NEW.lo),
         hi = rpcver_key('rpc_senders.hi', NEW.hi)
   WHERE sender = OLD.sender AND method = OLD.method;
END;

CREATE TRIGGER main.rpc_senders_delete INSTEAD OF DELETE ON rpc_senders
BEGIN
  DELETE FROM rpc_sender_ranges
   WHERE sender = OLD.sender AND method = OLD.method;
END;

----------------------------------------------------------------- rpc_drains

-- The drain window in force for each method, in seconds: its own, or
-- rpc_meta's drain_default (own is 1 for a method's own window).  The write
-- interface too: INSERT [OR REPLACE] sets a method's own window (a method
-- not yet known is created, as a pin does), DELETE clears it back to the
-- default; the default itself is rpc_meta's row drain_default.
DROP VIEW IF EXISTS main.rpc_drains;
CREATE VIEW main.rpc_drains(method, seconds, own) AS
  SELECT method,
         coalesce(drain, (SELECT value FROM rpc_meta
                           WHERE key = 'drain_default')),
         drain IS NOT NULL
    FROM rpc_methods;

CREATE TRIGGER main.rpc_drains_insert INSTEAD OF INSERT ON rpc_drains BEGIN
  SELECT rpcver_name('rpc_drains.method', NEW.method),
         rpcver_seconds('rpc_drains.seconds', NEW.seconds);
  INSERT INTO rpc_methods(method)
    SELECT NEW.method
     WHERE NOT EXISTS (SELECT 1 FROM rpc_methods WHERE method = NEW.method);
  UPDATE rpc_methods
     SET drain = rpcver_seconds('rpc_drains.seconds', NEW.seconds),
         seq = seq + 1
   WHERE method = NEW.method;
END;

CREATE TRIGGER main.rpc_drains_update INSTEAD OF UPDATE ON rpc_drains BEGIN
  SELECT rpcver_raise(printf('rpcver: cannot move the drain window of method '
           || '%s to method %s; delete it and set the other method''s',
           rpcver_quote(OLD.method), rpcver_quote(NEW.method)))
   WHERE NEW.method IS NOT OLD.method;
  INSERT INTO rpc_drains(method, seconds) VALUES (NEW.method, NEW.seconds);
END;

CREATE TRIGGER main.rpc_drains_delete INSTEAD OF DELETE ON rpc_drains BEGIN
  UPDATE rpc_methods SET drain = NULL, seq = seq + 1
   WHERE method = OLD.method AND drain IS NOT NULL;
END;

------------------------------------------------------------------ event log

-- Every change of rpcver's state appends rows to rpc_log in the statement
-- that makes it: a refused write rolls its rows back with everything else,
-- so the log holds what happened and nothing that was refused.
--
-- Where the rows are written: a registration's by its table's own triggers
-- (first in their bodies, so it comes before the rows of what it moved);
-- negotiated and newest by rpc_methods_floor; the rest of a method's state
-- by rpc_methods_log_state below, whatever wrote it (a pin, a drain window,
-- or a hand-written update that rpc_methods_guard_update let through).
-- Not by triggers of the log's own, because of what a trigger costs: SQLite
-- allocates and clears a trigger's whole frame each time it fires, WHEN
-- clause or not, in proportion to its body, and a registration must cost
-- at most a tenth more with the log (docs/operators.md has the
-- measurements).  So nothing is added to what a registration fires but the
-- statements that write its rows, and rpc_log has no INSERT or DELETE
-- trigger (the conditional inserts are INSERT ... SELECT, which SQLite
-- runs through a temporary table when the target has INSERT triggers).
--
-- The bounds are kept (rpc_log_bounds) by the write functions, every 64th
-- write on a connection (ext/write.c), by the DML on rpc_registrations and
-- rpc_senders, by any change of a pin, the floor, a drain window or an
-- in-flight envelope, and at once when a bound is changed.  A log between
-- two of these holds a few dozen rows more than log_rows at most, unless
-- rows are written straight into rpc_ranges without any of them.

-- What a pin, the floor, a drain window or an in-flight envelope changed.
DROP TRIGGER IF EXISTS main.rpc_methods_log_state;
CREATE TRIGGER main.rpc_methods_log_state
  AFTER UPDATE OF pin, floor, drain, inflight_lo, inflight_hi, inflight_until
  ON rpc_methods
BEGIN
  INSERT INTO rpc_log(method, event, old_hi, new_hi)
    SELECT NEW.method, iif(NEW.pin IS NULL, 'unpinned', 'pinned'),
           OLD.pin, NEW.pin
     WHERE NEW.pin IS NOT OLD.pin;
  INSERT INTO rpc_log(method, event, old_hi, new_hi)
    SELECT NEW.method, 'floor', OLD.floor, NEW.floor
     WHERE NEW.floor IS NOT OLD.floor;
  -- a method's own drain window, seconds (NULL: the default)
  INSERT INTO rpc_log(method, event, old_hi, new_hi)
    SELECT NEW.method, 'drain', OLD.drain, NEW.drain
     WHERE NEW.drain IS NOT OLD.drain;
  -- an in-flight envelope started, or widened or lengthened while it ran:
  -- what may be in flight, until when
  INSERT INTO rpc_log(method, event, old_lo, old_hi, new_lo, new_hi, at)
    SELECT NEW.method, 'in_flight', OLD.inflight_lo,
           OLD.inflight_hi, NEW.inflight_lo, NEW.inflight_hi,
           NEW.inflight_until
     WHERE NEW.inflight_until IS NOT OLD.inflight_until
        OR NEW.inflight_lo IS NOT OLD.inflight_lo
        OR NEW.inflight_hi IS NOT OLD.inflight_hi;
  INSERT INTO rpc_log_bounds VALUES (1);
END;

-- Internal, always empty: inserting a row here keeps the log within its
-- bounds (rpc_meta's log_rows and log_days): the oldest 128 rows at most
-- go, when they are outside them.  The delete seeks to the start of the
-- log and reads nothing when nothing is due: never a scan, so its cost does
-- not depend on the log's size.  Who runs it, and why not on every
-- registration: the section's head.
DROP VIEW IF EXISTS main.rpc_log_bounds;
CREATE VIEW main.rpc_log_bounds(n) AS SELECT 1 WHERE 0;

CREATE TRIGGER main.rpc_log_bounds_insert INSTEAD OF INSERT ON rpc_log_bounds
BEGIN
  -- One upper limit on id, the lower of the two: SQLite seeks with one
  -- bound on a rowid and only filters by another, so with two the delete
  -- read every row below the looser one (up to the whole log after a bulk
  -- write or a lowered bound: 13 ms a write at 200,000 rows, revision 7).
  DELETE FROM rpc_log
   WHERE id <= min((SELECT min(id) FROM rpc_log) + 127,
                   max((SELECT max(id) FROM rpc_log)
                       - (SELECT value FROM rpc_meta WHERE key = 'log_rows'),
                       iif((SELECT time FROM rpc_log
                             WHERE id = (SELECT min(id) FROM rpc_log))
                           < unixepoch() - 86400
                             * (SELECT value FROM rpc_meta WHERE key = 'log_days'),
                           (SELECT min(id) FROM rpc_log) + 127, 0)))
     AND (id <= (SELECT max(id) FROM rpc_log)
                - (SELECT value FROM rpc_meta WHERE key = 'log_rows')
          OR time < unixepoch() - 86400
                    * (SELECT value FROM rpc_meta WHERE key = 'log_days'));
END;

-- rpc_forget(): the floor and the pin it drops.
DROP TRIGGER IF EXISTS main.rpc_methods_log_forget;
CREATE TRIGGER main.rpc_methods_log_forget AFTER DELETE ON rpc_methods BEGIN
  INSERT INTO rpc_log(method, event, old_lo, old_hi)
    VALUES (OLD.method, 'forgotten', OLD.pin, OLD.floor);
END;

-- The settings: the default drain window and the log's own bounds, which
-- stay whole numbers >= 0.  A lowered bound applies at once (a settings
-- change is not the hot path: this delete may read the whole log).
DROP TRIGGER IF EXISTS main.rpc_meta_guard_log;
CREATE TRIGGER main.rpc_meta_guard_log BEFORE UPDATE ON rpc_meta
  WHEN OLD.key IN ('log_rows', 'log_days')
   AND (NEW.key IS NOT OLD.key
        OR NOT (typeof(NEW.value) = 'integer' AND NEW.value >= 0))
BEGIN
  SELECT rpcver_raise(printf('rpcver: rpc_meta''s %s must be a whole number '
           || '>= 0 (%s), not %s; set it with rpc_log_keep(rows, days)',
           OLD.key, iif(OLD.key = 'log_rows', 'the rows the event log keeps',
                        'the days the event log keeps a row'),
           rpcver_quote(iif(NEW.key IS NOT OLD.key, NEW.key, NEW.value))));
END;

DROP TRIGGER IF EXISTS main.rpc_meta_guard_log_delete;
CREATE TRIGGER main.rpc_meta_guard_log_delete BEFORE DELETE ON rpc_meta
  WHEN OLD.key IN ('log_rows', 'log_days')
BEGIN
  SELECT rpcver_raise(printf('rpcver: rpc_meta''s %s is a bound of the event '
           || 'log and cannot be deleted; set it with rpc_log_keep(rows, days) '
           || '(0 rows keeps none)', OLD.key));
END;

DROP TRIGGER IF EXISTS main.rpc_meta_log;
CREATE TRIGGER main.rpc_meta_log AFTER UPDATE OF value ON rpc_meta
  WHEN NEW.key IN ('drain_default', 'log_rows', 'log_days')
   AND NEW.value IS NOT OLD.value
BEGIN
  INSERT INTO rpc_log(event, old_hi, new_hi)
    VALUES (NEW.key, OLD.value, NEW.value);
  DELETE FROM rpc_log
   WHERE id <= (SELECT max(id) FROM rpc_log)
               - (SELECT value FROM rpc_meta WHERE key = 'log_rows')
      OR time < unixepoch()
                - 86400 * (SELECT value FROM rpc_meta WHERE key = 'log_days');
END;

-- Who may write the log: rpcver's triggers append, and remove the oldest
-- rows the bounds no longer keep.  An update is refused.  A delete is not
-- (a trigger on deletes would cost every pruned row a frame, above), nor
-- can a direct insert be told apart from a trigger's: rpc_verify() reports
-- a gap in the ids (rows leave only from the old end), and a row that does
-- not follow from the one before it of its kind, or disagrees with the
-- state.
DROP TRIGGER IF EXISTS main.rpc_log_guard_update;
CREATE TRIGGER main.rpc_log_guard_update BEFORE UPDATE ON rpc_log BEGIN
  SELECT rpcver_raise(printf('rpcver: rpc_log is append-only: row %d cannot '
           || 'be changed (the event log records what happened; rpc_verify() '
           || 'checks it)', OLD.id));
END;

-- Expiry: deleting a manager's row here removes all its registrations, to
-- receive and to send, as expired (rpc_expire() does this, after its
-- check of how many it may remove).  While this trigger runs the manager's
-- last_seen is -1 - last_seen: negative, so the log's rows say expired, and
-- still when it was last seen.  The manager's row goes with its last
-- registration.
DROP VIEW IF EXISTS main.rpc_expiry;
CREATE VIEW main.rpc_expiry(manager, last_seen) AS
  SELECT manager, last_seen FROM rpc_managers;

CREATE TRIGGER main.rpc_expiry_delete INSTEAD OF DELETE ON rpc_expiry BEGIN
  UPDATE rpc_managers SET last_seen = -1 - last_seen
   WHERE manager = OLD.manager AND last_seen >= 0;
  -- its sending first: see rpc_expire in ext/write.c
  DELETE FROM rpc_sender_ranges WHERE sender = OLD.manager;
  DELETE FROM rpc_ranges WHERE manager = OLD.manager;
END;

-- The log for reading, versions as text: old and new are a range
-- '[lo, hi]', a version, or a number (seconds of a drain window, a bound);
-- detail says until when an in-flight envelope runs, or when an expired
-- manager was last seen.  utc is time as text, UTC.
DROP VIEW IF EXISTS main.rpc_events;
CREATE VIEW main.rpc_events(id, time, utc, method, event, who, old, new,
                            detail) AS
  SELECT id, round(time, 3), strftime('%Y-%m-%d %H:%M:%f', time, 'unixepoch'),
         method,
         event, who,
         CASE WHEN event IN ('drain', 'drain_default', 'log_rows', 'log_days')
                THEN old_hi
              WHEN event = 'forgotten'
                THEN 'floor ' || VERSION_TEXT(old_hi)
                     || coalesce(', pin ' || VERSION_TEXT(old_lo), '')
              WHEN old_lo IS NOT NULL
                THEN '[' || VERSION_TEXT(old_lo) || ', '
                     || VERSION_TEXT(old_hi) || ']'
              ELSE VERSION_TEXT(old_hi) END,
         CASE WHEN event IN ('drain', 'drain_default', 'log_rows', 'log_days')
                THEN new_hi
              WHEN new_lo IS NOT NULL
                THEN '[' || VERSION_TEXT(new_lo) || ', '
                     || VERSION_TEXT(new_hi) || ']'
              ELSE VERSION_TEXT(new_hi) END,
         CASE WHEN event = 'in_flight'
                THEN 'until ' || strftime('%Y-%m-%d %H:%M:%S', at, 'unixepoch')
              WHEN at IS NOT NULL
                THEN 'last seen ' || strftime('%Y-%m-%d %H:%M:%S', at,
                                               'unixepoch') END
    FROM rpc_log ORDER BY id;

-------------------------------------------------------------- status views

-- One row per method; state is empty / blocked / pinned / upgrading / steady.
-- senders counts the registered senders; drain_left is how many seconds
-- messages sent before a narrowing change may still be in flight (0: none;
-- rpc_in_flight has the versions).
DROP VIEW IF EXISTS main.rpc_status;
CREATE VIEW main.rpc_status(method, receivers, negotiated, newest, pin, floor,
                       state, senders, drain_left) AS
  SELECT method, receivers,
         VERSION_TEXT(negotiated),
         VERSION_TEXT(newest),
         VERSION_TEXT(pin),
         VERSION_TEXT(floor),
         CASE WHEN receivers = 0 THEN 'empty'
              WHEN negotiated IS NULL THEN 'blocked'
              WHEN pin IS NOT NULL THEN 'pinned'
              WHEN min_hi < newest THEN 'upgrading'
              ELSE 'steady' END,
         senders,
         iif(inflight_until >= unixepoch(), inflight_until - unixepoch() + 1, 0)
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

-- Messages in flight, per method with registered senders or a drain
-- under way: what the senders may send now (sending_lo..sending_hi), what
-- they could send before a change narrowed it and may still be in flight
-- (in_flight_lo..in_flight_hi, for seconds_left more seconds), and the
-- drain window in force.  A new receiver must accept all of it.
DROP VIEW IF EXISTS main.rpc_in_flight;
CREATE VIEW main.rpc_in_flight(method, senders, sending_lo, sending_hi,
                               in_flight_lo, in_flight_hi, seconds_left,
                               drain) AS
  SELECT m.method, m.senders,
         VERSION_TEXT(m.send_lo),
         VERSION_TEXT(m.send_hi),
         iif(m.inflight_until >= unixepoch(), VERSION_TEXT(m.inflight_lo), NULL),
         iif(m.inflight_until >= unixepoch(), VERSION_TEXT(m.inflight_hi), NULL),
         iif(m.inflight_until >= unixepoch(),
             m.inflight_until - unixepoch() + 1, 0),
         w.seconds
    FROM rpc_methods AS m JOIN rpc_drains AS w USING (method)
   WHERE m.senders > 0 OR m.inflight_until >= unixepoch()
   ORDER BY m.method;

INSERT OR REPLACE INTO main.rpc_meta(key, value) VALUES ('schema_version', 3);
INSERT OR REPLACE INTO main.rpc_meta(key, value) VALUES ('schema_revision', 8);

-- The default window is the operator's to change (rpc_drain(NULL, seconds),
-- or plain DML on this row), but only to a whole number of seconds, and it
-- cannot be removed: every method without its own window uses it.  (Last in
-- the script, after its own writes of rpc_meta: rpcver's audit runs the
-- script in a private database without rpcver's functions.)
DROP TRIGGER IF EXISTS main.rpc_meta_drain_insert;
CREATE TRIGGER main.rpc_meta_drain_insert
BEFORE INSERT ON rpc_meta WHEN NEW.key = 'drain_default' BEGIN
  SELECT rpcver_seconds('rpc_meta.drain_default', NEW.value);
  SELECT rpcver_raise(printf('rpcver: rpc_meta.drain_default must be an '
           || 'INTEGER, not the text %s (rpc_meta''s values have no type '
           || 'affinity); write it as a number', rpcver_quote(NEW.value)))
   WHERE typeof(NEW.value) <> 'integer';
END;
DROP TRIGGER IF EXISTS main.rpc_meta_drain_update;
CREATE TRIGGER main.rpc_meta_drain_update
BEFORE UPDATE ON rpc_meta WHEN NEW.key = 'drain_default' OR OLD.key = 'drain_default' BEGIN
  SELECT rpcver_raise('rpcver: rpc_meta: a row cannot be renamed to or from '
           || 'drain_default (the default drain window); set the window with '
           || 'rpc_drain(NULL, seconds)')
   WHERE NEW.key IS NOT OLD.key;
  SELECT rpcver_seconds('rpc_meta.drain_default', NEW.value);
  SELECT rpcver_raise(printf('rpcver: rpc_meta.drain_default must be an '
           || 'INTEGER, not the text %s (rpc_meta''s values have no type '
           || 'affinity); write it as a number', rpcver_quote(NEW.value)))
   WHERE typeof(NEW.value) <> 'integer';
  -- a longer default extends the drains under way of methods that use it
  -- (rpc_methods_drain does the same for a method's own window)
  UPDATE rpc_methods
     SET inflight_until = unixepoch() + NEW.value, seq = seq + 1
   WHERE drain IS NULL AND inflight_until >= unixepoch()
     AND inflight_until < unixepoch() + NEW.value;
END;
DROP TRIGGER IF EXISTS main.rpc_meta_drain_delete;
CREATE TRIGGER main.rpc_meta_drain_delete
BEFORE DELETE ON rpc_meta WHEN OLD.key = 'drain_default' BEGIN
  SELECT rpcver_raise('rpcver: rpc_meta''s drain_default row is the drain window '
           || 'of every method without its own and cannot be deleted; set it '
           || 'with rpc_drain(NULL, seconds)');
END;

-- The log's bounds written by an INSERT (an INSERT OR REPLACE replaces the
-- row without firing rpc_meta_guard_log) are held to the same rule: a
-- bound of -5 or 'abc' would prune the whole log at its next write.  (Last
-- in the script, like rpc_meta_drain_insert, for the same reason.)
DROP TRIGGER IF EXISTS main.rpc_meta_log_insert;
CREATE TRIGGER main.rpc_meta_log_insert
BEFORE INSERT ON rpc_meta WHEN NEW.key IN ('log_rows', 'log_days')
 AND NOT (typeof(NEW.value) = 'integer' AND NEW.value >= 0) BEGIN
  SELECT rpcver_raise(printf('rpcver: rpc_meta''s %s must be a whole number '
           || '>= 0 (%s), not %s; set it with rpc_log_keep(rows, days)',
           NEW.key, iif(NEW.key = 'log_rows', 'the rows the event log keeps',
                        'the days the event log keeps a row'),
           rpcver_quote(NEW.value)));
END;
