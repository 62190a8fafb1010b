-- A database as schema version 2, revision 1 (rpcver before its triggers
-- were rewritten to build no temporary tables) left it: the .dump of
--   SELECT rpc_register('b', 'volume', '3.16'), rpc_register('a', 'volume', '3.17'),
--          rpc_register('a', 'backup', '1.5'), rpc_pin('backup', '1.4');
-- with last_seen set to fixed times.  tests/schema.test upgrades it.
PRAGMA foreign_keys=OFF;
BEGIN TRANSACTION;
CREATE TABLE rpc_meta(
  key TEXT PRIMARY KEY,
  value
) WITHOUT ROWID;
INSERT INTO rpc_meta VALUES('schema_version',2);
CREATE TABLE rpc_managers(
  manager TEXT PRIMARY KEY,
  last_seen INTEGER NOT NULL            -- unix time, seconds
) WITHOUT ROWID;
INSERT INTO rpc_managers VALUES('a',1764115200);
INSERT INTO rpc_managers VALUES('b',1764115260);
CREATE TABLE rpc_ranges(
  manager TEXT NOT NULL,
  method TEXT NOT NULL,
  lo NOT NULL,
  hi NOT NULL,
  PRIMARY KEY(manager, method)
) WITHOUT ROWID;
INSERT INTO rpc_ranges VALUES('a','backup',1099511627776,1099516870656);
INSERT INTO rpc_ranges VALUES('a','volume',3298534883328,3298552709120);
INSERT INTO rpc_ranges VALUES('b','volume',3298534883328,3298551660544);
CREATE TABLE rpc_methods(
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
INSERT INTO rpc_methods VALUES('backup',1,1099511627776,1099516870656,1099516870656,1099515822080,1099515822080,3);
INSERT INTO rpc_methods VALUES('volume',2,3298534883328,3298551660544,3298552709120,NULL,3298551660544,3);
CREATE INDEX rpc_managers_by_last_seen
  ON rpc_managers(last_seen);
CREATE INDEX rpc_ranges_by_hi ON rpc_ranges(method, hi);
CREATE INDEX rpc_ranges_by_lo ON rpc_ranges(method, lo);
CREATE TRIGGER rpc_ranges_check_insert BEFORE INSERT ON rpc_ranges BEGIN
  SELECT rpcver_raise(printf('rpcver: manager %Q already has a registration '
           || 'for method %Q; replace it through rpc_registrations or '
           || 'rpc_register()', NEW.manager, NEW.method))
    FROM rpc_ranges WHERE manager = NEW.manager AND method = NEW.method;
  SELECT rpcver_check_range(NEW.manager, NEW.method, NEW.lo, NEW.hi);
  -- Admission: the range must contain the floor, the highest version
  -- senders may already be using.
  SELECT rpcver_raise(rpcver_refusal(NEW.manager, NEW.method, NEW.lo, NEW.hi,
                                     floor))
    FROM rpc_methods
   WHERE method = NEW.method AND NOT (NEW.lo <= floor AND floor <= NEW.hi);
END
;
CREATE TRIGGER rpc_ranges_check_update BEFORE UPDATE ON rpc_ranges BEGIN
  SELECT rpcver_raise(printf('rpcver: cannot move the registration of '
           || 'manager %Q for method %Q to manager %Q, method %Q; delete it '
           || 'and register the new one', OLD.manager, OLD.method,
           NEW.manager, NEW.method))
   WHERE NEW.manager IS NOT OLD.manager OR NEW.method IS NOT OLD.method;
  SELECT rpcver_check_range(NEW.manager, NEW.method, NEW.lo, NEW.hi);
  SELECT rpcver_raise(rpcver_refusal(NEW.manager, NEW.method, NEW.lo, NEW.hi,
                                     floor))
    FROM rpc_methods
   WHERE method = NEW.method AND NOT (NEW.lo <= floor AND floor <= NEW.hi);
END;
CREATE TRIGGER rpc_ranges_inserted AFTER INSERT ON rpc_ranges BEGIN
  UPDATE rpc_managers SET last_seen = unixepoch() WHERE manager = NEW.manager;
  INSERT INTO rpc_managers(manager, last_seen)
    SELECT NEW.manager, unixepoch()
     WHERE NOT EXISTS (SELECT 1 FROM rpc_managers WHERE manager = NEW.manager);
  INSERT INTO rpc_methods(method)
    SELECT NEW.method
     WHERE NOT EXISTS (SELECT 1 FROM rpc_methods WHERE method = NEW.method);
  UPDATE rpc_methods
     SET receivers = receivers + 1,
         max_lo = max(coalesce(max_lo, NEW.lo), NEW.lo),
         min_hi = min(coalesce(min_hi, NEW.hi), NEW.hi),
         newest = max(coalesce(newest, NEW.hi), NEW.hi),
         seq = seq + 1
   WHERE method = NEW.method;
END;
CREATE TRIGGER rpc_ranges_updated AFTER UPDATE OF lo, hi ON rpc_ranges BEGIN
  UPDATE rpc_managers SET last_seen = unixepoch() WHERE manager = NEW.manager;
  UPDATE rpc_methods
     SET max_lo = (SELECT max(lo) FROM rpc_ranges WHERE method = NEW.method),
         min_hi = (SELECT min(hi) FROM rpc_ranges WHERE method = NEW.method),
         newest = (SELECT max(hi) FROM rpc_ranges WHERE method = NEW.method),
         seq = seq + 1
   WHERE method = NEW.method;
END;
CREATE TRIGGER rpc_ranges_deleted AFTER DELETE ON rpc_ranges BEGIN
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
CREATE TRIGGER rpc_methods_floor
  AFTER UPDATE OF receivers, max_lo, min_hi, pin ON rpc_methods
  WHEN NEW.negotiated > coalesce(NEW.floor, -1)
BEGIN
  UPDATE rpc_methods SET floor = NEW.negotiated, seq = seq + 1
   WHERE method = NEW.method;
END;
CREATE TRIGGER rpc_methods_guard_insert BEFORE INSERT ON rpc_methods
  WHEN NEW.receivers IS NOT 0 OR NEW.max_lo IS NOT NULL
    OR NEW.min_hi IS NOT NULL OR NEW.newest IS NOT NULL
    OR NEW.pin IS NOT NULL OR NEW.floor IS NOT NULL OR NEW.seq IS NOT 0
    OR EXISTS (SELECT 1 FROM rpc_methods WHERE method = NEW.method)
BEGIN
  SELECT rpcver_raise(printf('rpcver: rpc_methods is maintained by rpcver''s '
           || 'triggers (refused a direct insert for method %Q); write '
           || 'rpc_registrations or rpc_pins instead', NEW.method));
END;
CREATE TRIGGER rpc_methods_guard_update BEFORE UPDATE ON rpc_methods
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
           || 'triggers (refused a direct update of method %Q); write '
           || 'rpc_registrations or rpc_pins instead', OLD.method));
END;
CREATE TRIGGER rpc_methods_guard_delete BEFORE DELETE ON rpc_methods
  WHEN OLD.receivers > 0
BEGIN
  SELECT rpcver_raise(printf('rpcver: cannot forget method %Q: it still has '
           || '%d receiver(s); unregister them first (rpc_unregister or '
           || 'rpc_expire)', OLD.method, OLD.receivers));
END;
CREATE TRIGGER rpc_managers_guard_insert BEFORE INSERT ON rpc_managers
  WHEN NOT EXISTS (SELECT 1 FROM rpc_ranges WHERE manager = NEW.manager)
    OR EXISTS (SELECT 1 FROM rpc_managers WHERE manager = NEW.manager)
BEGIN
  SELECT rpcver_raise(printf('rpcver: rpc_managers is maintained by rpcver''s '
           || 'triggers (refused a direct insert for manager %Q); register '
           || 'through rpc_registrations or rpc_register()', NEW.manager));
END;
CREATE TRIGGER rpc_managers_guard_update BEFORE UPDATE ON rpc_managers
  WHEN NEW.manager IS NOT OLD.manager
BEGIN
  SELECT rpcver_raise(printf('rpcver: cannot rename manager %Q to %Q; '
           || 'unregister it and register the new name', OLD.manager,
           NEW.manager));
END;
CREATE TRIGGER rpc_managers_guard_last_seen BEFORE UPDATE OF last_seen
  ON rpc_managers WHEN typeof(NEW.last_seen) IS NOT 'integer'
BEGIN
  SELECT rpcver_raise(printf('rpcver: rpc_managers.last_seen of manager %Q '
           || 'must be an INTEGER unix time, not %s', OLD.manager,
           quote(NEW.last_seen)));
END;
CREATE TRIGGER rpc_managers_guard_delete BEFORE DELETE ON rpc_managers
  WHEN EXISTS (SELECT 1 FROM rpc_ranges WHERE manager = OLD.manager)
BEGIN
  SELECT rpcver_raise(printf('rpcver: manager %Q still has registrations; '
           || 'remove them with rpc_unregister() or DELETE FROM '
           || 'rpc_registrations', OLD.manager));
END;
CREATE VIEW rpc_registrations(manager, method, lo, hi, last_seen) AS
  SELECT r.manager, r.method,
         (r.lo >> 40) || '.' || ((r.lo >> 20) & 1048575)
           || iif(r.lo & 1048575, '.' || (r.lo & 1048575), ''),
         (r.hi >> 40) || '.' || ((r.hi >> 20) & 1048575)
           || iif(r.hi & 1048575, '.' || (r.hi & 1048575), ''),
         m.last_seen
    FROM rpc_ranges AS r JOIN rpc_managers AS m USING (manager);
CREATE TRIGGER rpc_registrations_insert INSTEAD OF INSERT ON rpc_registrations
BEGIN
  -- Names first: the UPDATE below would otherwise match an INTEGER 7 to
  -- an existing manager '7'.
  SELECT rpcver_name('rpc_registrations.manager', NEW.manager),
         rpcver_name('rpc_registrations.method', NEW.method);
  -- Names are checked here, before rpc_ranges' TEXT affinity would turn
  -- an INTEGER method 7 into '7'.
  -- A re-registration updates the existing row, a new one inserts.
  UPDATE rpc_ranges SET lo = r.lo, hi = r.hi
    FROM (SELECT CASE WHEN NEW.lo IS NULL THEN (hi >> 40) << 40
                      ELSE rpcver_key('rpc_registrations.lo', NEW.lo) END AS lo,
                 hi
            FROM (SELECT rpcver_key('rpc_registrations.hi', NEW.hi) AS hi)) AS r
   WHERE manager = NEW.manager AND method = NEW.method;
  INSERT INTO rpc_ranges(manager, method, lo, hi)
  SELECT rpcver_name('rpc_registrations.manager', NEW.manager),
         rpcver_name('rpc_registrations.method', NEW.method),
         CASE WHEN NEW.lo IS NULL THEN (hi >> 40) << 40
              ELSE rpcver_key('rpc_registrations.lo', NEW.lo) END,
         hi
    FROM (SELECT rpcver_key('rpc_registrations.hi', NEW.hi) AS hi)
   WHERE NOT EXISTS (SELECT 1 FROM rpc_ranges
                      WHERE manager = NEW.manager AND method = NEW.method);
END
;
CREATE TRIGGER rpc_registrations_update INSTEAD OF UPDATE ON rpc_registrations
BEGIN
  UPDATE rpc_ranges
     SET manager = NEW.manager, method = NEW.method,
         lo = rpcver_key('rpc_registrations.lo', NEW.lo),
         hi = rpcver_key('rpc_registrations.hi', NEW.hi)
   WHERE manager = OLD.manager AND method = OLD.method;
END;
CREATE TRIGGER rpc_registrations_delete INSTEAD OF DELETE ON rpc_registrations
BEGIN
  DELETE FROM rpc_ranges WHERE manager = OLD.manager AND method = OLD.method;
END;
CREATE VIEW rpc_pins(method, version) AS
  SELECT method,
         (pin >> 40) || '.' || ((pin >> 20) & 1048575)
           || iif(pin & 1048575, '.' || (pin & 1048575), '')
    FROM rpc_methods WHERE pin IS NOT NULL;
CREATE TRIGGER rpc_pins_insert INSTEAD OF INSERT ON rpc_pins BEGIN
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
END
;
CREATE TRIGGER rpc_pins_update INSTEAD OF UPDATE ON rpc_pins BEGIN
  SELECT rpcver_raise(printf('rpcver: cannot move the pin of method %Q to '
           || 'method %Q; delete it and pin the other method', OLD.method,
           NEW.method))
   WHERE NEW.method IS NOT OLD.method;
  INSERT INTO rpc_pins(method, version) VALUES (NEW.method, NEW.version);
END;
CREATE TRIGGER rpc_pins_delete INSTEAD OF DELETE ON rpc_pins BEGIN
  UPDATE rpc_methods SET pin = NULL, seq = seq + 1 WHERE method = OLD.method;
END;
CREATE VIEW rpc_status(method, receivers, negotiated, newest, pin, floor,
                       state) AS
  SELECT method, receivers,
         (negotiated >> 40) || '.' || ((negotiated >> 20) & 1048575)
           || iif(negotiated & 1048575, '.' || (negotiated & 1048575), ''),
         (newest >> 40) || '.' || ((newest >> 20) & 1048575)
           || iif(newest & 1048575, '.' || (newest & 1048575), ''),
         (pin >> 40) || '.' || ((pin >> 20) & 1048575)
           || iif(pin & 1048575, '.' || (pin & 1048575), ''),
         (floor >> 40) || '.' || ((floor >> 20) & 1048575)
           || iif(floor & 1048575, '.' || (floor & 1048575), ''),
         CASE WHEN receivers = 0 THEN 'empty'
              WHEN negotiated IS NULL THEN 'blocked'
              WHEN pin IS NOT NULL THEN 'pinned'
              WHEN min_hi < newest THEN 'upgrading'
              ELSE 'steady' END
    FROM rpc_methods ORDER BY method;
CREATE VIEW rpc_laggards(manager, method, hi, newest) AS
  SELECT r.manager, r.method,
         (r.hi >> 40) || '.' || ((r.hi >> 20) & 1048575)
           || iif(r.hi & 1048575, '.' || (r.hi & 1048575), ''),
         (m.newest >> 40) || '.' || ((m.newest >> 20) & 1048575)
           || iif(m.newest & 1048575, '.' || (m.newest & 1048575), '')
    FROM rpc_methods AS m
    CROSS JOIN rpc_ranges AS r ON r.method = m.method AND r.hi < m.newest
   ORDER BY r.method, r.hi, r.manager;
COMMIT;
