'use strict';
// Senders and drain windows through the Node binding (docs/in-flight.md),
// against the real extension:  cd bindings/node && node --test
// Numbered: a failure names one case.
//
// The drain window is tested on the real clock: better-sqlite3 opens
// databases without URI filenames (its SQLite is built with SQLITE_USE_URI=0
// and it passes no SQLITE_OPEN_URI), so tests/c/testclock.c's VFS cannot be
// named here.  The window is 2 s; the test shows the refusal right after
// the pin (the window has 2 s to run) and then polls, with a deadline, until
// rpcver admits the receiver.  No assertion is about how long anything took.

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const rpcver = require('..');
const { RpcverError, RefusedError } = rpcver;

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'rpcver-node-senders-'));
test.after(() => fs.rmSync(tmp, { recursive: true, force: true }));

function fresh(t, file = ':memory:') {
  const db = rpcver.open(file);
  t.after(() => { if (db.open) db.close(); });
  return db;
}

function senders(db) {
  return db.prepare('SELECT sender, method, lo, hi FROM rpc_senders ORDER BY sender, method').raw().all();
}

// Everything rpcver stores, to show that a refused write changed nothing.
function stored(db) {
  return ['rpc_ranges', 'rpc_sender_ranges', 'rpc_methods', 'rpc_managers']
    .map((table) => db.prepare(`SELECT * FROM ${table} ORDER BY 1, 2`).raw().all());
}

function throwsRpcver(fn, cls, pattern) {
  assert.throws(fn, (err) => {
    assert.ok(err instanceof cls, `expected ${cls.name}, got ${err && err.constructor.name}: ${err && err.message}`);
    if (cls === RpcverError) assert.ok(!(err instanceof RefusedError), `not a refusal: ${err.message}`);
    assert.match(err.message, /^rpcver: /);
    if (pattern) assert.match(err.message, pattern);
    return true;
  });
}

// Receivers a at 3.16 and b at 3.17: negotiated 3.16.
function mixed(t) {
  const db = fresh(t);
  rpcver.register(db, 'a', { volume: '3.16' });
  rpcver.register(db, 'b', { volume: '3.17' });
  return db;
}

test('1.1 registerSender returns what the sender may send now; re-registering replaces', (t) => {
  const db = mixed(t);
  assert.equal(rpcver.registerSender(db, 'api', 'volume', '3.17'), '3.16');
  assert.equal(rpcver.registerSender(db, 'old-api', 'volume', '3.10'), '3.10');
  assert.equal(rpcver.registerSender(db, 'bridge', 'volume', '4.1', '3.2'), '3.16');
  assert.equal(rpcver.registerSender(db, 'early', 'backup', '1.4'), null, 'no receivers yet');
  assert.equal(rpcver.registerSender(db, 'int', 'volume', 3), '3.0', 'an integer is the version n.0');
  assert.equal(db.inTransaction, false);
  assert.deepEqual(senders(db), [
    ['api', 'volume', '3.0', '3.17'], ['bridge', 'volume', '3.2', '4.1'],
    ['early', 'backup', '1.0', '1.4'], ['int', 'volume', '3.0', '3.0'],
    ['old-api', 'volume', '3.0', '3.10']]);
  assert.equal(rpcver.registerSender(db, 'old-api', 'volume', '3.12'), '3.12');
  assert.deepEqual(senders(db)[4], ['old-api', 'volume', '3.0', '3.12']);
  assert.equal(rpcver.verify(db), 'ok');
});

test('1.2 a sender that could send nothing is refused: RefusedError, nothing changed', (t) => {
  const db = mixed(t);
  const before = stored(db);
  throwsRpcver(() => rpcver.registerSender(db, 'future', 'volume', '4.1'), RefusedError,
    /^rpcver: sender 'future' cannot register method 'volume' with range \[4\.0, 4\.1\]: every receiver accepts only \[3\.0, 3\.16\], so it could send nothing\. /);
  assert.deepEqual(stored(db), before);
  assert.equal(db.inTransaction, false);
});

test('1.3 a registration or a pin that would leave a registered sender nothing is refused', (t) => {
  const db = fresh(t);
  rpcver.setDrain(db, 'volume', 0); // the rule alone, no drain
  rpcver.register(db, 'a', { volume: '3.17' });
  rpcver.register(db, 'b', { volume: '3.17' });
  rpcver.registerSender(db, 'old-api', 'volume', '3.16');
  let before = stored(db);
  throwsRpcver(() => rpcver.register(db, 'c', { volume: ['4.0', '3.17'] }), RefusedError,
    /^rpcver: the range \[3\.17, 4\.0\] of manager 'c' would leave registered sender 'old-api', which sends \[3\.0, 3\.16\], with nothing it may send for method 'volume'/);
  assert.deepEqual(stored(db), before);
  rpcver.registerSender(db, 'new-api', 'volume', '3.17', '3.17');
  before = stored(db);
  throwsRpcver(() => rpcver.pin(db, 'volume', '3.16'), RefusedError,
    /^rpcver: the pin of method 'volume' to 3\.16 would leave registered sender 'new-api'/);
  assert.deepEqual(stored(db), before);
  assert.equal(rpcver.unregisterSender(db, 'old-api'), 1);
  assert.deepEqual(rpcver.register(db, 'c', { volume: ['4.0', '3.17'] }), { volume: '3.17' });
});

test('1.4 unregisterSender: all of a sender, one method, unknown, null method', (t) => {
  const db = mixed(t);
  rpcver.registerSender(db, 'api', 'volume', '3.17');
  rpcver.registerSender(db, 'api', 'backup', '1.4');
  rpcver.registerSender(db, 'other', 'volume', '3.17');
  assert.equal(rpcver.unregisterSender(db, 'api', 'backup'), 1);
  assert.equal(rpcver.unregisterSender(db, 'api', 'backup'), 0);
  assert.equal(rpcver.unregisterSender(db, 'nobody'), 0);
  throwsRpcver(() => rpcver.unregisterSender(db, 'api', null), RpcverError,
    /^rpcver: rpc_unregister_sender: method is NULL; to remove all of a sender's registrations call rpc_unregister_sender\(sender\)/);
  rpcver.registerSender(db, 'api', 'backup', '1.4');
  assert.equal(rpcver.unregisterSender(db, 'api'), 2);
  assert.deepEqual(senders(db), [['other', 'volume', '3.0', '3.17']]);
});

test('1.5 bad sender arguments are RpcverErrors, not refusals, and change nothing', (t) => {
  const db = mixed(t);
  const before = stored(db);
  throwsRpcver(() => rpcver.registerSender(db, 'x', 'volume', '3.01'), RpcverError,
    /^rpcver: rpc_register_sender: hi: '3\.01' is not a version/);
  throwsRpcver(() => rpcver.registerSender(db, 'x', 'volume', '3.1', '3.5'), RpcverError,
    /^rpcver: rpc_register_sender: lo 3\.5 is above hi 3\.1; a sender sends the versions from lo up to hi$/);
  throwsRpcver(() => rpcver.registerSender(db, '', 'volume', '3.1'), RpcverError,
    /^rpcver: rpc_register_sender: sender must not be empty/);
  throwsRpcver(() => rpcver.registerSender(db, 'x', 'volume', 3.1), RpcverError,
    /^rpcver: rpc_register_sender: hi: .*REAL/);
  assert.deepEqual(stored(db), before);
});

test('1.6 drain and setDrain: the default, a method\'s own, back to the default', (t) => {
  const bare = fresh(t);
  assert.equal(rpcver.drain(bare), null, 'no schema: no window');
  assert.equal(rpcver.drain(bare, 'volume'), null);
  const db = mixed(t);
  assert.deepEqual([rpcver.drain(db), rpcver.drain(db, 'volume')], [60, 60]);
  assert.equal(rpcver.setDrain(db, null, 30), 30);
  assert.equal(rpcver.drain(db, 'volume'), 30);
  assert.equal(rpcver.setDrain(db, 'volume', 120), 120);
  assert.deepEqual([rpcver.drain(db), rpcver.drain(db, 'volume'), rpcver.drain(db, 'backup')], [30, 120, 30]);
  assert.equal(rpcver.setDrain(db, 'volume', null), 30);
  assert.equal(rpcver.setDrain(db, 'volume', 0), 0);
  assert.equal(db.inTransaction, false);
});

test('1.7 bad drain arguments: RpcverError (TypeError without seconds), nothing changed', (t) => {
  const db = mixed(t);
  rpcver.setDrain(db, 'volume', 5);
  for (const [seconds, shown] of [[-1, 'the INTEGER -1'], [1.5, 'the REAL 1.5'], ['soon', "'soon'"]]) {
    throwsRpcver(() => rpcver.setDrain(db, 'volume', seconds), RpcverError,
      new RegExp(`^rpcver: rpc_drain: the window must be a whole number of seconds from 0 to 31536000 \\(365 days\\): .*; not ${shown}$`));
  }
  throwsRpcver(() => rpcver.setDrain(db, null, null), RpcverError,
    /^rpcver: rpc_drain: seconds is NULL for the default window/);
  assert.throws(() => rpcver.setDrain(db, 'volume'), TypeError);
  throwsRpcver(() => rpcver.drain(db, ''), RpcverError, /^rpcver: rpc_drain: method must not be empty/);
  assert.equal(rpcver.drain(db, 'volume'), 5);
});

test('1.8 heartbeat and expire cover senders', (t) => {
  const db = mixed(t);
  rpcver.registerSender(db, 'api', 'volume', '3.17');
  assert.equal(rpcver.heartbeat(db, 'api'), true);
  db.exec("UPDATE rpc_managers SET last_seen = unixepoch() - 100 WHERE manager = 'api'");
  // the only sender of its method: expire's clock-jump guard counts senders
  assert.throws(() => rpcver.expire(db, 50), /refused to remove 1 of the 1 registered sender\(s\) of method 'volume'/);
  assert.equal(rpcver.expire(db, 50, 1), 1);
  assert.deepEqual(senders(db), []);
  assert.equal(rpcver.heartbeat(db, 'api'), false);
});

test('1.9 status rows carry senders and drain_left; inFlight shows what is sent and what is in flight', (t) => {
  const db = mixed(t);
  assert.deepEqual(rpcver.inFlight(fresh(t)), [], 'no schema: no rows');
  assert.deepEqual(rpcver.inFlight(db), []);
  rpcver.setDrain(db, 'volume', 30);
  rpcver.registerSender(db, 'api', 'volume', '3.17');
  const row = rpcver.status(db)[0];
  assert.deepEqual([row.senders, row.drain_left], [1, 0]);
  assert.deepEqual(rpcver.inFlight(db), [{
    method: 'volume', senders: 1, sending_lo: '3.0', sending_hi: '3.16',
    in_flight_lo: null, in_flight_hi: null, seconds_left: 0, drain: 30,
  }]);
  rpcver.unregisterSender(db, 'api'); // what it could send may still be in flight
  const after = rpcver.status(db)[0];
  assert.equal(after.senders, 0);
  assert.ok(after.drain_left > 0, `drain_left ${after.drain_left}`);
  const [flight] = rpcver.inFlight(db);
  assert.deepEqual([flight.sending_lo, flight.in_flight_lo, flight.in_flight_hi, flight.drain],
    [null, '3.0', '3.16', 30]);
});

test('1.10 rollback by pin: the old receiver is refused during the drain window, admitted after it', async (t) => {
  const db = fresh(t, path.join(tmp, 'drain.db'));
  assert.equal(rpcver.setDrain(db, 'volume', 2), 2);
  rpcver.register(db, 'host-a', { volume: '3.17' });
  rpcver.register(db, 'host-b', { volume: '3.17' });
  assert.equal(rpcver.registerSender(db, 'api', 'volume', '3.17'), '3.17');
  assert.equal(rpcver.pin(db, 'volume', '3.16'), '3.16');
  const before = stored(db);
  throwsRpcver(() => rpcver.register(db, 'host-b', { volume: '3.16' }), RefusedError,
    /^rpcver: manager 'host-b' cannot register method 'volume' with range \[3\.0, 3\.16\]: registered senders could send versions 3\.0 to 3\.17 until a recent change, and messages of them may still be in flight for \d+ s more \(the drain window\), which it could not receive\. Start it after the drain, in \d+ s, or register a range that accepts 3\.0 to 3\.17$/);
  assert.deepEqual(stored(db), before);
  const [flight] = rpcver.inFlight(db);
  assert.deepEqual([flight.in_flight_lo, flight.in_flight_hi, flight.drain], ['3.0', '3.17', 2]);
  assert.ok(flight.seconds_left > 0);
  assert.match(rpcver.check(db, 'volume', '3.16'), /^rpcver: a manager cannot register .*\(the drain window\)/);
  // poll until the window has passed (a deadline, not a timing assertion)
  const deadline = Date.now() + 15000;
  while (rpcver.check(db, 'volume', '3.16') !== null) {
    assert.ok(Date.now() < deadline, 'the drain window did not pass within 15 s');
    await new Promise((resolve) => { setTimeout(resolve, 100); });
  }
  assert.deepEqual(rpcver.register(db, 'host-b', { volume: '3.16' }), { volume: '3.16' });
  assert.equal(rpcver.status(db)[0].drain_left, 0);
  assert.equal(rpcver.verify(db), 'ok');
});
