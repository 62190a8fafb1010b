'use strict';
// Tests of the Node binding against the real extension (no mocks):
//   cd bindings/node && node --test
// The extension is the repository's ./rpcver.so (`make`), or
// $RPCVER_EXTENSION.  Every test uses its own database.

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const rpcver = require('..');
const { RpcverError, RefusedError, Client } = rpcver;
const Database = require('better-sqlite3');

const REPO = path.resolve(__dirname, '..', '..', '..');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'rpcver-node-'));
test.after(() => fs.rmSync(tmp, { recursive: true, force: true }));

let n = 0;
function dbFile() {
  n += 1;
  return path.join(tmp, `t${n}.db`);
}

// A fresh database, closed after the test.
function fresh(t, file = ':memory:', options = {}) {
  const db = rpcver.open(file, options);
  t.after(() => { if (db.open) db.close(); });
  return db;
}

// The registrations, as [manager, method, lo, hi] sorted.
function regs(db) {
  return db.prepare('SELECT manager, method, lo, hi FROM rpc_registrations ORDER BY manager, method')
    .raw().all();
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

// ------------------------------------------------------------------ open

test('open: memory database with the extension loaded, SQLite bundled by better-sqlite3', (t) => {
  const db = fresh(t);
  assert.ok(db instanceof Database);
  const row = db.prepare('SELECT rpcver_version() AS v, sqlite_version() AS s').get();
  if (!process.env.RPCVER_EXTENSION) {
    assert.equal(row.v, fs.readFileSync(path.join(REPO, 'VERSION'), 'utf8').trim());
  }
  // better-sqlite3 brings its own SQLite, not Debian's 3.40.
  assert.match(row.s, /^3\.\d+\.\d+$/);
  assert.equal(db.pragma('journal_mode', { simple: true }), 'memory');
  assert.equal(db.pragma('busy_timeout', { simple: true }), 5000);
});

test('open: a file database is in WAL mode with the given busy timeout', (t) => {
  const file = dbFile();
  const db = fresh(t, file, { timeout: 1234 });
  assert.equal(db.pragma('journal_mode', { simple: true }), 'wal');
  assert.equal(db.pragma('busy_timeout', { simple: true }), 1234);
  assert.throws(() => rpcver.open(file, { timeout: -1 }), TypeError);
});

test('open: the extension option and RPCVER_EXTENSION are used as given', (t) => {
  const bogus = path.join(tmp, 'no-such-rpcver');
  throwsRpcver(() => rpcver.open(':memory:', { extension: bogus }), RpcverError,
    /cannot load the rpcver extension from .*no-such-rpcver/);
  const saved = process.env.RPCVER_EXTENSION;
  t.after(() => {
    if (saved === undefined) delete process.env.RPCVER_EXTENSION;
    else process.env.RPCVER_EXTENSION = saved;
  });
  process.env.RPCVER_EXTENSION = bogus;
  assert.equal(rpcver.findExtension(), bogus);
  throwsRpcver(() => rpcver.open(':memory:'), RpcverError, /no-such-rpcver/);
  // The option wins over the environment.
  const ext = saved || path.join(REPO, 'rpcver');
  const db = fresh(t, ':memory:', { extension: ext });
  assert.equal(typeof db.prepare('SELECT rpcver_version()').pluck().get(), 'string');
});

test('open: without the extension anywhere, the error lists the places tried', (t) => {
  // A copy of the module two levels under an empty directory: its
  // repository candidate does not exist.
  const dir = path.join(tmp, 'elsewhere', 'bindings', 'node');
  fs.mkdirSync(dir, { recursive: true });
  fs.copyFileSync(path.join(__dirname, '..', 'rpcver.js'), path.join(dir, 'rpcver.js'));
  fs.symlinkSync(path.join(__dirname, '..', 'node_modules'), path.join(dir, 'node_modules'));
  const copy = require(path.join(dir, 'rpcver.js'));
  const saved = process.env.RPCVER_EXTENSION;
  t.after(() => { if (saved !== undefined) process.env.RPCVER_EXTENSION = saved; });
  delete process.env.RPCVER_EXTENSION;
  const installed = ['/usr/local/lib/rpcver/rpcver.so', '/usr/lib/rpcver/rpcver.so'].some(fs.existsSync);
  if (installed) {
    t.diagnostic('an installed rpcver exists: the search finds it');
    assert.match(copy.findExtension(), /^\/usr\//);
    return;
  }
  assert.throws(() => copy.open(':memory:'), (err) => {
    assert.ok(err instanceof copy.RpcverError);
    assert.match(err.message, /^rpcver: cannot find the rpcver extension; tried /);
    assert.ok(err.message.includes(path.join(tmp, 'elsewhere', 'rpcver.so')), err.message);
    assert.ok(err.message.includes('/usr/local/lib/rpcver/rpcver.so'), err.message);
    assert.ok(err.message.includes('/usr/lib/rpcver/rpcver.so'), err.message);
    assert.match(err.message, /RPCVER_EXTENSION/);
    return true;
  });
});

// -------------------------------------------------------------- register

test('register: several APIs, bridges and integer versions; returns negotiated per method', (t) => {
  const db = fresh(t);
  assert.deepEqual(rpcver.register(db, 'a', { volume: '3.16', backup: ['1.4', '1.0'], scheduler: 42 }),
    { volume: '3.16', backup: '1.4', scheduler: '42.0' });
  assert.deepEqual(rpcver.register(db, 'b', new Map([['volume', ['3.17', '2.0']]])), { volume: '3.16' });
  assert.deepEqual(regs(db), [
    ['a', 'backup', '1.0', '1.4'], ['a', 'scheduler', '42.0', '42.0'], ['a', 'volume', '3.0', '3.16'],
    ['b', 'volume', '2.0', '3.17'],
  ]);
  // Re-registering replaces the range.
  assert.deepEqual(rpcver.register(db, 'a', { volume: '3.17' }), { volume: '3.17' });
  assert.deepEqual(rpcver.register(db, 'a', {}), {});
  assert.equal(rpcver.verify(db), 'ok');
});

test('register: all or nothing; a refusal is a RefusedError and changes nothing', (t) => {
  const db = fresh(t);
  rpcver.register(db, 'a', { volume: '3.17', backup: '1.5' });
  const before = regs(db);
  throwsRpcver(() => rpcver.register(db, 'old', { backup: '1.5', volume: '3.16' }), RefusedError,
    /manager 'old' cannot register method 'volume' with range \[3\.0, 3\.16\].*floor/);
  assert.deepEqual(regs(db), before, 'the backup registration was rolled back too');
  assert.equal(db.inTransaction, false);
  // A bad version is an RpcverError, not a refusal, and also leaves nothing.
  throwsRpcver(() => rpcver.register(db, 'c', { backup: '1.5', volume: '3.01' }), RpcverError,
    /leading zeros/);
  throwsRpcver(() => rpcver.register(db, 'c', { backup: '1.5', volume: 3.5 }), RpcverError, /REAL/);
  throwsRpcver(() => rpcver.register(db, '', { volume: '3.17' }), RpcverError, /manager must not be empty/);
  throwsRpcver(() => rpcver.register(db, 'c', { volume: ['3.0', '3.17'] }), RpcverError);
  assert.deepEqual(regs(db), before);
  assert.throws(() => rpcver.register(db, 'c', null), TypeError);
  assert.throws(() => rpcver.register(db, 'c', [['volume', '3.17']]), TypeError);
  assert.throws(() => rpcver.register(db, 'c', { volume: ['3.17'] }), TypeError);
});

test('register inside a caller\'s transaction: a savepoint; a refusal leaves the transaction usable', (t) => {
  const db = fresh(t, dbFile());
  rpcver.register(db, 'a', { volume: '3.17' });
  db.exec('BEGIN IMMEDIATE');
  rpcver.register(db, 'b', { volume: '3.17' });
  throwsRpcver(() => rpcver.register(db, 'old', { volume: '3.16' }), RefusedError);
  assert.equal(db.inTransaction, true);
  db.exec('COMMIT');
  assert.deepEqual(regs(db).map((r) => r[0]), ['a', 'b']);
});

// ------------------------------------------------ unregister, heartbeat, expire

test('unregister: all of a manager, one method, unknown, null method', (t) => {
  const db = fresh(t);
  rpcver.register(db, 'a', { volume: '3.16', backup: '1.4' });
  rpcver.register(db, 'b', { volume: '3.17', backup: '1.5' });
  assert.equal(rpcver.maxSend(db, 'volume'), '3.16');
  assert.equal(rpcver.unregister(db, 'a', 'backup'), 1);
  assert.equal(rpcver.unregister(db, 'a', 'backup'), 0);
  assert.equal(rpcver.maxSend(db, 'backup'), '1.5');
  assert.equal(rpcver.unregister(db, 'a'), 1);
  assert.equal(rpcver.maxSend(db, 'volume'), '3.17');
  assert.equal(rpcver.unregister(db, 'nobody'), 0);
  throwsRpcver(() => rpcver.unregister(db, 'b', null), RpcverError, /method is NULL/);
  assert.equal(rpcver.unregister(db, 'b'), 2);
  assert.equal(rpcver.maxSend(db, 'volume'), null);
});

test('heartbeat and expire', (t) => {
  const db = fresh(t);
  assert.equal(rpcver.heartbeat(db, 'a'), false);
  assert.equal(rpcver.expire(db, 0), 0);
  rpcver.register(db, 'a', { volume: '3.16' });
  rpcver.register(db, 'b', { volume: '3.17' });
  assert.equal(rpcver.heartbeat(db, 'a'), true);
  // 'a' was last seen 1000 s ago (a direct write, allowed on last_seen).
  db.exec("UPDATE rpc_managers SET last_seen = last_seen - 1000 WHERE manager = 'a'");
  assert.equal(rpcver.expire(db, 500), 1);
  assert.equal(rpcver.heartbeat(db, 'a'), false, 'expired: must register again');
  assert.equal(rpcver.heartbeat(db, 'b'), true);
  assert.equal(rpcver.maxSend(db, 'volume'), '3.17', 'the stale old manager no longer holds it back');
  throwsRpcver(() => rpcver.expire(db, -1), RpcverError, /seconds must be a number >= 0/);
  // every manager looks stale at once: refused, unless maxShare allows it
  db.exec('UPDATE rpc_managers SET last_seen = last_seen - 1000');
  throwsRpcver(() => rpcver.expire(db, 500), RpcverError, /refused to remove 1 of the 1 receiver/);
  assert.equal(rpcver.heartbeat(db, 'b'), true, 'a refused expire removes nothing');
  db.exec('UPDATE rpc_managers SET last_seen = last_seen - 1000');
  assert.equal(rpcver.expire(db, 500, 1), 1);
  throwsRpcver(() => rpcver.heartbeat(db, ''), RpcverError);
});

// ------------------------------------------------------------------ pin

test('pin: caps senders, admits old managers, clears; a pin nothing fits is refused', (t) => {
  const db = fresh(t);
  rpcver.register(db, 'a', { volume: '3.17' });
  throwsRpcver(() => rpcver.register(db, 'old', { volume: '3.16' }), RefusedError);
  assert.equal(rpcver.pin(db, 'volume', '3.16'), '3.16');
  assert.equal(rpcver.maxSend(db, 'volume'), '3.16');
  assert.deepEqual(rpcver.register(db, 'old', { volume: '3.16' }), { volume: '3.16' });
  assert.deepEqual(rpcver.status(db).map((r) => [r.method, r.pin, r.state]), [['volume', '3.16', 'pinned']]);
  throwsRpcver(() => rpcver.pin(db, 'volume', '2.9'), RefusedError, /cannot pin method 'volume' to 2\.9/);
  throwsRpcver(() => rpcver.pin(db, 'volume', 'x'), RpcverError, /not a version/);
  assert.throws(() => rpcver.pin(db, 'volume'), TypeError);
  assert.equal(rpcver.pin(db, 'volume', null), '3.16', 'old still registered');
  assert.equal(rpcver.unregister(db, 'old'), 1);
  assert.equal(rpcver.maxSend(db, 'volume'), '3.17');
  assert.equal(rpcver.pin(db, 'volume', null), '3.17');
});

test('forget: a method with no receivers', (t) => {
  const db = fresh(t);
  rpcver.register(db, 'a', { volume: '3.17' });
  throwsRpcver(() => rpcver.forget(db, 'volume'), RpcverError);
  rpcver.unregister(db, 'a');
  assert.equal(rpcver.forget(db, 'volume'), true);
  assert.equal(rpcver.forget(db, 'volume'), false);
  assert.deepEqual(rpcver.register(db, 'a', { volume: '4.0' }), { volume: '4.0' });
});

// ----------------------------------------------------------------- reads

test('maxSend: negotiated, capped by the sender\'s range; null when nothing fits', (t) => {
  const db = fresh(t);
  assert.equal(rpcver.maxSend(db, 'volume'), null, 'no schema yet');
  assert.equal(rpcver.status(db).length, 0);
  assert.equal(db.prepare("SELECT count(*) FROM sqlite_schema WHERE name LIKE 'rpc%'").pluck().get(), 0,
    'reads create nothing');
  rpcver.register(db, 'a', { volume: ['3.16', '2.4'], nova: 60 });
  rpcver.register(db, 'b', { volume: '3.17', nova: [61, 0] });
  assert.equal(rpcver.maxSend(db, 'volume'), '3.16');
  assert.equal(rpcver.maxSend(db, 'volume', '3.17'), '3.16');
  assert.equal(rpcver.maxSend(db, 'volume', '3.10'), '3.10');
  assert.equal(rpcver.maxSend(db, 'volume', '2.9'), null, 'below receiver b\'s lo 3.0');
  assert.equal(rpcver.maxSend(db, 'volume', '4.1'), null, 'sender lo 4.0 above negotiated');
  assert.equal(rpcver.maxSend(db, 'volume', '4.1', '3.0'), '3.16', 'a bridging sender');
  assert.equal(rpcver.maxSend(db, 'volume', null, '3.16'), '3.16');
  assert.equal(rpcver.maxSend(db, 'volume', null, '3.17'), null);
  assert.equal(rpcver.maxSend(db, 'volume', null), '3.16');
  assert.equal(rpcver.maxSend(db, 'nova'), '60.0');
  assert.equal(rpcver.maxSend(db, 'nova', 59, 0), null, 'below receiver a\'s lo 60');
  assert.equal(rpcver.maxSend(db, 'unknown'), null);
  assert.equal(rpcver.maxSend(db, null), null);
  throwsRpcver(() => rpcver.maxSend(db, 5), RpcverError, /method must be text/);
  throwsRpcver(() => rpcver.maxSend(db, 'volume', '3.x'), RpcverError, /not a version/);
});

test('canSend and check', (t) => {
  const db = fresh(t);
  rpcver.register(db, 'a', { volume: '3.16' });
  rpcver.register(db, 'b', { volume: '3.17' });
  assert.equal(rpcver.canSend(db, 'volume', '3.16'), true);
  assert.equal(rpcver.canSend(db, 'volume', '3.0'), true);
  assert.equal(rpcver.canSend(db, 'volume', '3.17'), false);
  assert.equal(rpcver.canSend(db, 'volume', '2.9'), false);
  assert.equal(rpcver.canSend(db, 'nothing', '1.0'), false);
  throwsRpcver(() => rpcver.canSend(db, 'volume', 'bad'), RpcverError, /'bad' is not a version/);
  assert.equal(rpcver.check(db, 'volume', '3.16'), null);
  assert.equal(rpcver.check(db, 'volume', '3.17'), null);
  assert.equal(rpcver.check(db, 'volume', '4.0', '3.0'), null);
  rpcver.register(db, 'a', { volume: '3.17' });
  const msg = rpcver.check(db, 'volume', '3.16');
  assert.match(msg, /^rpcver: .*cannot register method 'volume' with range \[3\.0, 3\.16\].*3\.17/);
  assert.match(rpcver.check(db, 'volume', '4.1'), /^rpcver: .*cannot register/);
  assert.equal(rpcver.check(db, 'volume', '4.1', '3.5'), null);
  throwsRpcver(() => rpcver.check(db, 'volume', '3.1.2.3'), RpcverError);
});

test('status, laggards, explain, verify', (t) => {
  const db = fresh(t);
  assert.deepEqual(rpcver.status(db), []);
  assert.deepEqual(rpcver.laggards(db), []);
  rpcver.register(db, 'a', { volume: '3.16', backup: '1.4' });
  rpcver.register(db, 'b', { volume: '3.17', backup: '1.4' });
  assert.deepEqual(rpcver.status(db), [
    { method: 'backup', receivers: 2, negotiated: '1.4', newest: '1.4', pin: null, floor: '1.4', state: 'steady', senders: 0, drain_left: 0 },
    { method: 'volume', receivers: 2, negotiated: '3.16', newest: '3.17', pin: null, floor: '3.16', state: 'upgrading', senders: 0, drain_left: 0 },
  ]);
  assert.deepEqual(rpcver.laggards(db), [{ manager: 'a', method: 'volume', hi: '3.16', newest: '3.17' }]);
  const text = rpcver.explain(db, 'volume');
  assert.match(text, /method 'volume'/);
  assert.match(text, /'a' \[3\.0, 3\.16\]/);
  assert.equal(rpcver.verify(db), 'ok');
});

test('errors keep SQLite\'s result code: a read-only database', (t) => {
  const file = dbFile();
  const w = rpcver.open(file);
  rpcver.register(w, 'a', { volume: '3.16' });
  w.close();
  const ro = fresh(t, file, { readonly: true });
  assert.equal(rpcver.maxSend(ro, 'volume'), '3.16', 'reads work read-only');
  assert.throws(() => rpcver.register(ro, 'b', { volume: '3.16' }), (err) => {
    assert.ok(err instanceof RpcverError && !(err instanceof RefusedError));
    assert.equal(err.code, 'SQLITE_READONLY');
    assert.match(err.message, /^rpcver: rpc_register: attempt to write a readonly database/);
    assert.ok(err.cause instanceof Database.SqliteError);
    return true;
  });
});

test('the busy timeout applies to writes (BEGIN IMMEDIATE waits, then SQLITE_BUSY)', (t) => {
  const file = dbFile();
  const a = fresh(t, file);
  const b = fresh(t, file, { timeout: 100 });
  rpcver.register(a, 'a', { volume: '3.16' });
  a.exec('BEGIN IMMEDIATE');
  const start = process.hrtime.bigint();
  assert.throws(() => rpcver.register(b, 'b', { volume: '3.16' }),
    (err) => err instanceof Database.SqliteError && err.code === 'SQLITE_BUSY');
  const ms = Number(process.hrtime.bigint() - start) / 1e6;
  assert.ok(ms >= 80, `waited ${ms} ms`);
  assert.equal(rpcver.maxSend(b, 'volume'), '3.16', 'reads are not blocked (WAL)');
  a.exec('COMMIT');
  assert.deepEqual(rpcver.register(b, 'b', { volume: '3.16' }), { volume: '3.16' });
});

// ----------------------------------------------------------------- Client

test('Client: downgrade in a mixed cluster, switch when the last old manager upgrades, refusal of a too-old one', (t) => {
  const db = fresh(t, dbFile());
  const old = ['m1', 'm2', 'm3'];
  for (const m of old) rpcver.register(db, m, { volume: '3.16' });
  const client = new Client(db, 'volume', { senderHi: '3.17' });
  assert.equal(client.versionCap, '3.16');
  assert.equal(client.choose('3.17', '3.16'), '3.16');

  rpcver.register(db, 'm1', { volume: '3.17' });
  rpcver.register(db, 'm2', { volume: '3.17' });
  assert.equal(client.versionCap, '3.16', 'm3 is still old: stay downgraded');
  assert.equal(client.canSendVersion('3.17'), false);
  assert.equal(client.canSendVersion('3.16'), true);
  assert.equal(client.choose(['3.16', '3.17']), '3.16');
  assert.deepEqual(rpcver.laggards(db).map((r) => r.manager), ['m3']);

  assert.deepEqual(rpcver.register(db, 'm3', { volume: '3.17' }), { volume: '3.17' });
  assert.equal(client.versionCap, '3.17', 'the last old manager upgraded');
  assert.equal(client.canSendVersion('3.17'), true);
  assert.equal(client.canSendVersion('3.18'), false);
  assert.equal(client.choose('3.16', '3.17', '3.18'), '3.17');

  throwsRpcver(() => rpcver.register(db, 'm4', { volume: '3.16' }), RefusedError,
    /manager 'm4' cannot register method 'volume'.*3\.17 \(the method's floor\)/);
  assert.equal(client.versionCap, '3.17', 'the refusal changed nothing');
  assert.deepEqual(rpcver.status(db)[0].state, 'steady');
});

test('Client: an explicit versionCap, and the sender\'s own range', (t) => {
  const db = fresh(t);
  rpcver.register(db, 'a', { volume: '3.17' });
  rpcver.register(db, 'b', { volume: '3.17' });
  const capped = new Client(db, 'volume', { versionCap: '3.10' });
  assert.equal(capped.versionCap, '3.10');
  assert.equal(capped.canSendVersion('3.10'), true);
  assert.equal(capped.canSendVersion('3.11'), false);
  assert.equal(capped.canSendVersion('3.9'), true);
  assert.equal(capped.choose('3.17', '3.11', '3.9', '3.10'), '3.10');

  const above = new Client(db, 'volume', { versionCap: '4.0' });
  assert.equal(above.versionCap, '3.17', 'a cap above negotiated does not bind');

  const both = new Client(db, 'volume', { versionCap: '3.12', senderHi: '3.11' });
  assert.equal(both.versionCap, '3.11');
  const free = new Client(db, 'volume');
  assert.equal(free.versionCap, '3.17');

  // A sender of major 4 only cannot talk to 3.x receivers; with a bridge it can.
  assert.equal(new Client(db, 'volume', { senderHi: '4.2' }).versionCap, null);
  assert.equal(new Client(db, 'volume', { senderHi: '4.2', senderLo: '3.0' }).versionCap, '3.17');
  assert.equal(new Client(db, 'volume', { senderHi: '4.2', senderLo: '3.0', versionCap: '3.4' }).versionCap, '3.4');
  const none = new Client(db, 'volume', { senderHi: '4.2' });
  assert.equal(none.canSendVersion('3.17'), false);
  throwsRpcver(() => none.choose('4.2', '4.0'), RpcverError, /no version can be sent/);
  throwsRpcver(() => capped.choose('3.17', '3.11'), RpcverError,
    /cannot be sent at any of 3\.17, 3\.11 now: the highest version this client may send is 3\.10/);

  throwsRpcver(() => new Client(db, 'volume', { versionCap: 'x' }), RpcverError, /not a version/);
  throwsRpcver(() => capped.canSendVersion('3.x'), RpcverError, /not a version/);
  throwsRpcver(() => capped.choose('3.10', '3.x'), RpcverError, /not a version/);
  assert.throws(() => capped.choose(), TypeError);
  assert.throws(() => new Client({}, 'volume'), TypeError);
  // An unknown method: nothing to send.
  assert.equal(new Client(db, 'nothing').versionCap, null);
});

test('Client: integer (Nova-style) versions', (t) => {
  const db = fresh(t);
  rpcver.register(db, 'a', { compute: [60, 0] });
  rpcver.register(db, 'b', { compute: [61, 0] });
  const c = new Client(db, 'compute', { senderHi: 61, senderLo: 0 });
  assert.equal(c.versionCap, '60.0');
  assert.equal(c.choose(61, 60, 59), 60);
  assert.equal(c.canSendVersion(61), false);
});

// ------------------------------------------------------ two connections

test('freshness: a write on one Database is seen by maxSend on another at once', (t) => {
  const file = dbFile();
  const writer = fresh(t, file);
  const reader = fresh(t, file);
  const client = new Client(reader, 'volume', { senderHi: '3.17' });
  assert.equal(rpcver.maxSend(reader, 'volume'), null);
  assert.equal(client.versionCap, null);
  rpcver.register(writer, 'a', { volume: '3.16' });
  assert.equal(rpcver.maxSend(reader, 'volume'), '3.16');
  rpcver.register(writer, 'b', { volume: '3.17' });
  for (let i = 0; i < 3; i += 1) assert.equal(rpcver.maxSend(reader, 'volume'), '3.16');
  rpcver.register(writer, 'a', { volume: '3.17' });
  assert.equal(rpcver.maxSend(reader, 'volume'), '3.17');
  assert.equal(client.versionCap, '3.17');
  assert.equal(rpcver.pin(writer, 'volume', '3.16'), '3.16');
  assert.equal(rpcver.maxSend(reader, 'volume'), '3.16');
  assert.equal(client.choose('3.17', '3.16'), '3.16');
  rpcver.pin(writer, 'volume', null);
  assert.equal(client.versionCap, '3.17');
  // Inside the reader's own transaction, its snapshot holds until it ends.
  reader.exec('BEGIN');
  assert.equal(rpcver.maxSend(reader, 'volume'), '3.17');
  rpcver.pin(writer, 'volume', '3.16');
  assert.equal(rpcver.maxSend(reader, 'volume'), '3.17');
  reader.exec('COMMIT');
  assert.equal(rpcver.maxSend(reader, 'volume'), '3.16');
  rpcver.unregister(writer, 'a');
  rpcver.unregister(writer, 'b');
  assert.equal(rpcver.maxSend(reader, 'volume'), null);
  assert.equal(client.versionCap, null);
});

// ------------------------------------------------------------------ close

test('closing a Database after use works; the state is kept', (t) => {
  const file = dbFile();
  const db = rpcver.open(file);
  rpcver.register(db, 'a', { volume: '3.16', backup: '1.4' });
  const client = new Client(db, 'volume', { senderHi: '3.17' });
  assert.equal(client.choose('3.17', '3.16'), '3.16');
  for (let i = 0; i < 100; i += 1) rpcver.maxSend(db, 'volume');
  rpcver.status(db);
  rpcver.explain(db, 'volume');
  assert.ok(db.prepare('SELECT count(*) FROM rpcver_cache').pluck().get() >= 1);
  db.close();
  assert.equal(db.open, false);
  assert.throws(() => rpcver.maxSend(db, 'volume'), TypeError, 'a closed Database refuses use');
  assert.throws(() => client.versionCap, TypeError);

  const again = fresh(t, file);
  assert.equal(rpcver.maxSend(again, 'volume'), '3.16');
  assert.deepEqual(regs(again), [['a', 'backup', '1.0', '1.4'], ['a', 'volume', '3.0', '3.16']]);
  again.close();
  // Closing a Database on which nothing was done also works.
  rpcver.open(':memory:').close();
});
