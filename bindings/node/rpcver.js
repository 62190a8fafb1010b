'use strict';
/*
 * rpcver for Node.js: RPC version negotiation for rolling upgrades, over
 * better-sqlite3 and the rpcver SQLite extension.
 *
 *   const rpcver = require('rpcver');
 *   const db = rpcver.open('cluster.db');
 *   rpcver.register(db, 'host-a', { volume: '3.17', backup: ['1.5', '1.0'] });
 *   const client = new rpcver.Client(db, 'volume', { senderHi: '3.17' });
 *   client.versionCap;                // '3.16' while an old manager remains
 *   client.choose('3.17', '3.16');    // '3.16'
 *
 * Every function is a thin wrapper over one SQL function of the extension
 * (docs/reference.md, "SQL reference"): the rules live in the extension, not here.
 * Senders that register what they can send (registerSender) are held to
 * rpcver's promise about messages in flight: after a change that narrows
 * what senders may send, a receiver is admitted only if it accepts what may
 * still be in flight, for the method's drain window (drain, setDrain,
 * inFlight; docs/in-flight.md).  Senders are managers too: heartbeat and
 * expire cover them.
 * Writes run in BEGIN IMMEDIATE ... COMMIT (a SAVEPOINT when the caller
 * already has a transaction open), so the busy timeout applies under
 * contention.  Statements are prepared once per Database and reused.
 */

const fs = require('fs');
const path = require('path');
const Database = require('better-sqlite3');

// ---------------------------------------------------------------- errors

/** Any error of the extension: the SQL error's message starts with "rpcver:". */
class RpcverError extends Error {
  constructor(message, options) {
    super(message, options && options.cause !== undefined ? { cause: options.cause } : undefined);
    this.name = 'RpcverError';
    /** SQLite's result code ('SQLITE_ERROR', 'SQLITE_READONLY', 'SQLITE_BUSY', ...) when known. */
    this.code = options && options.code !== undefined ? options.code : undefined;
  }
}

/**
 * A refusal: a registration outside the method's floor or not accepting
 * what may still be in flight (a drain under way says "the drain window"
 * and the seconds left), a pin nothing could be sent at, a sender whose
 * range reaches nothing every receiver accepts, or a registration or pin
 * that would leave a registered sender nothing to send.
 */
class RefusedError extends RpcverError {
  constructor(message, options) {
    super(message, options);
    this.name = 'RefusedError';
  }
}

function isRefusal(message) {
  return message.includes('cannot register') || message.includes('cannot pin') ||
    message.includes('would leave registered sender');
}

// An SQL error of the extension becomes an RpcverError (or RefusedError),
// message and code kept; anything else is returned unchanged.
function translate(err) {
  if (err instanceof RpcverError) return err;
  if (err instanceof Database.SqliteError && typeof err.message === 'string' &&
      err.message.includes('rpcver:')) {
    const Cls = isRefusal(err.message) ? RefusedError : RpcverError;
    return new Cls(err.message, { code: err.code, cause: err });
  }
  return err;
}

// ------------------------------------------------------------- extension

const SUFFIX = process.platform === 'darwin' ? '.dylib'
  : process.platform === 'win32' ? '.dll' : '.so';

/**
 * The places open() looks for the extension when neither the `extension`
 * option nor $RPCVER_EXTENSION is given, in order, as [path, where] pairs.
 * A path is given without its suffix, as SQLite's load_extension takes it.
 */
function extensionCandidates() {
  return [
    [path.resolve(__dirname, '..', '..', 'rpcver'), 'the repository, next to this module'],
    ['/usr/local/lib/rpcver/rpcver', 'installed under /usr/local'],
    ['/usr/lib/rpcver/rpcver', 'installed under /usr'],
  ];
}

function exists(p) {
  try {
    return fs.statSync(p).isFile();
  } catch (_) {
    return false;
  }
}

/**
 * The extension to load: the `extension` option, else $RPCVER_EXTENSION
 * (either is used as given, with no search), else the first of the
 * repository's ./rpcver, /usr/local/lib/rpcver/rpcver and
 * /usr/lib/rpcver/rpcver that exists (with or without its suffix).
 * Throws an RpcverError listing the places tried.
 */
function findExtension(option) {
  if (option !== undefined && option !== null) return String(option);
  if (process.env.RPCVER_EXTENSION) return process.env.RPCVER_EXTENSION;
  const candidates = extensionCandidates();
  for (const [p] of candidates) {
    if (exists(p) || exists(p + SUFFIX)) return p;
  }
  const tried = candidates.map(([p, where]) => `${p}${SUFFIX} (${where})`).join(', ');
  throw new RpcverError(
    `rpcver: cannot find the rpcver extension; tried ${tried}. ` +
    'Build it with `make` at the top of the repository, or pass rpcver.open(path, {extension}), ' +
    'or set RPCVER_EXTENSION to its path');
}

/**
 * Opens (or creates) a database with the extension loaded: a better-sqlite3
 * Database.  `timeout` is the busy timeout in milliseconds, as in
 * better-sqlite3 (default 5000).  A file database is put in WAL mode
 * unless opened readonly.  Other options (readonly, fileMustExist,
 * verbose, ...) go to better-sqlite3.
 */
function open(file, options = {}) {
  const { extension, timeout = 5000, ...rest } = options;
  if (typeof timeout !== 'number' || !(timeout >= 0)) {
    throw new TypeError(`rpcver.open: timeout must be a number of milliseconds >= 0, not ${timeout}`);
  }
  const ext = findExtension(extension);
  const db = new Database(file, { ...rest, timeout });
  try {
    try {
      db.loadExtension(ext);
    } catch (err) {
      throw new RpcverError(
        `rpcver: cannot load the rpcver extension from ${ext}: ${err.message}`,
        { code: err.code, cause: err });
    }
    if (!db.memory && !db.readonly) db.pragma('journal_mode = WAL');
  } catch (err) {
    db.close();
    throw err;
  }
  return db;
}

// ------------------------------------------------------ prepared statements

// Per Database: SQL text -> Statement, and the reusable transaction function.
const caches = new WeakMap();

function cacheOf(db) {
  let c = caches.get(db);
  if (c === undefined) {
    c = { stmts: new Map(), tx: null, rtx: null };
    caches.set(db, c);
  }
  return c;
}

// A statement prepared once per Database.  Mode 'value' returns the first
// column of the first row (pluck), 'row' the first row as an array (raw,
// INTEGERs as BigInt), 'rows' all rows as objects.
function stmt(db, sql, mode = 'value') {
  const c = cacheOf(db);
  const key = mode + '\0' + sql;
  let s = c.stmts.get(key);
  if (s === undefined) {
    try {
      s = db.prepare(sql);
    } catch (err) {
      throw translate(err);
    }
    if (mode === 'value') s.pluck();
    else if (mode === 'row') s.raw().safeIntegers(true); // keys reach 2^60
    c.stmts.set(key, s);
  }
  return s;
}

// better-sqlite3 binds every JS number as a REAL, which rpcver refuses as a
// version (3.10 and 3.1 are the same REAL).  An integer number is bound as
// an SQL INTEGER instead, which rpcver reads as the version n.0, as Nova's
// integer service versions are.  Other values go as they are.
function v(x) {
  return typeof x === 'number' && Number.isSafeInteger(x) ? BigInt(x) : x;
}

function read(db, sql, args, mode) {
  try {
    return stmt(db, sql, mode).get(...args);
  } catch (err) {
    throw translate(err);
  }
}

// Runs fn() in BEGIN IMMEDIATE ... COMMIT (a savepoint inside a caller's
// transaction); rolled back, and the error translated, if fn throws.
function immediate(db, fn) {
  const c = cacheOf(db);
  if (c.tx === null) c.tx = db.transaction((f) => f());
  try {
    return c.tx.immediate(fn);
  } catch (err) {
    throw translate(err);
  }
}

function write(db, sql, args) {
  return immediate(db, () => stmt(db, sql).get(...args));
}

// ------------------------------------------------------------------ writes

function entriesOf(apis) {
  if (apis instanceof Map) return [...apis.entries()];
  if (apis !== null && typeof apis === 'object' && !Array.isArray(apis)) return Object.entries(apis);
  throw new TypeError('rpcver.register: apis must be an object {method: hi} or {method: [hi, lo]}');
}

/**
 * Registers (or re-registers) `manager` for every method of `apis`,
 * {method: hi} (lo = MAJOR(hi).0) or {method: [hi, lo]}, in one
 * transaction: all or nothing.  Returns {method: negotiated after it}.
 * Throws RefusedError when a range does not contain the method's floor
 * (nothing is registered then).
 */
function register(db, manager, apis) {
  const entries = entriesOf(apis).map(([method, range]) => {
    if (Array.isArray(range)) {
      if (range.length !== 2) {
        throw new TypeError(`rpcver.register: method '${method}': a range is [hi, lo], got ${range.length} values`);
      }
      return [method, range[0], range[1]];
    }
    return [method, range, undefined];
  });
  return immediate(db, () => {
    const out = {};
    for (const [method, hi, lo] of entries) {
      out[method] = lo === undefined
        ? stmt(db, 'SELECT rpc_register(?, ?, ?)').get(manager, method, v(hi))
        : stmt(db, 'SELECT rpc_register(?, ?, ?, ?)').get(manager, method, v(hi), v(lo));
    }
    return out;
  });
}

/**
 * Removes all of the manager's registrations, or with `method` that one
 * (a null method is an error, as in SQL).  Returns the number removed.
 */
function unregister(db, manager, method) {
  return method === undefined
    ? write(db, 'SELECT rpc_unregister(?)', [manager])
    : write(db, 'SELECT rpc_unregister(?, ?)', [manager, method]);
}

/**
 * Records the manager (a receiver or a sender) as seen now; false when it
 * is not registered (expired: register again).
 */
function heartbeat(db, manager) {
  return write(db, 'SELECT rpc_heartbeat(?)', [manager]) === 1;
}

/**
 * Unregisters every manager (receivers and senders) not seen for more than
 * `seconds`, with all its registrations; returns how many.
 * Throws, removing nothing, when that would take more than `maxShare` (0 to 1;
 * default 0.5) of some method's receivers; `maxShare` 1 removes all that are stale.
 */
function expire(db, seconds, maxShare = null) {
  return write(db, 'SELECT rpc_expire(?, ?)', [seconds, maxShare]);
}

/** Pins the method to `version` (null clears the pin); returns negotiated after it. */
function pin(db, method, version) {
  if (version === undefined) throw new TypeError('rpcver.pin: pass a version, or null to clear the pin');
  return write(db, 'SELECT rpc_pin(?, ?)', [method, v(version)]);
}

/** Drops a method with no receivers (its floor and pin); returns whether it was known. */
function forget(db, method) {
  return write(db, 'SELECT rpc_forget(?)', [method]) === 1;
}

/**
 * Registers (or re-registers) `sender` as sending `method` at [lo, hi]
 * (lo defaults to MAJOR(hi).0).  Returns what it may send now,
 * rpc_max_send(method, hi, lo) after it (null while the method has no
 * receivers).  Throws RefusedError, registering nothing, when no version in
 * [lo, hi] is accepted by every receiver.
 */
function registerSender(db, sender, method, hi, lo) {
  return lo === undefined
    ? write(db, 'SELECT rpc_register_sender(?, ?, ?)', [sender, method, v(hi)])
    : write(db, 'SELECT rpc_register_sender(?, ?, ?, ?)', [sender, method, v(hi), v(lo)]);
}

/**
 * Removes all of the sender's registrations, or with `method` that one (a
 * null method is an error, as in SQL).  Returns the number removed.  What
 * it could send may still be in flight: the method's drain window starts.
 */
function unregisterSender(db, sender, method) {
  return method === undefined
    ? write(db, 'SELECT rpc_unregister_sender(?)', [sender])
    : write(db, 'SELECT rpc_unregister_sender(?, ?)', [sender, method]);
}

/**
 * Sets how long a message of `method` may stay in flight, in whole seconds
 * (the longest call timeout, or a cast's message TTL): its drain window.
 * A null method sets the default (60 until set) that methods without their
 * own use; null seconds gives the method the default again.  0 turns the
 * drain off.  Returns the window in force for the method after it.
 */
function setDrain(db, method, seconds) {
  if (seconds === undefined) {
    throw new TypeError('rpcver.setDrain: pass seconds, or null to give the method the default window');
  }
  return write(db, 'SELECT rpc_drain(?, ?)', [method === undefined ? null : method, v(seconds)]);
}

// ------------------------------------------------------------------- reads

/**
 * The highest version the caller may send for `method`, capped by the
 * sender's own range [senderLo, senderHi] (senderLo defaults to
 * MAJOR(senderHi).0; a null senderHi means no cap); null when none fits.
 * One indexed lookup, or the extension's cached answer.
 */
function maxSend(db, method, senderHi, senderLo) {
  if (senderLo !== undefined) {
    return read(db, 'SELECT rpc_max_send(?, ?, ?)',
      [method, senderHi === undefined ? null : v(senderHi), v(senderLo)]);
  }
  if (senderHi !== undefined) return read(db, 'SELECT rpc_max_send(?, ?)', [method, v(senderHi)]);
  return read(db, 'SELECT rpc_max_send(?)', [method]);
}

/** True when every receiver accepts `version` and it is not above negotiated. */
function canSend(db, method, version) {
  return read(db, 'SELECT rpc_can_send(?, ?)', [method, v(version)]) === 1;
}

/** Null when a registration [lo, hi] would be admitted now, else the refusal message. */
function check(db, method, hi, lo) {
  return lo === undefined
    ? read(db, 'SELECT rpc_check(?, ?)', [method, v(hi)])
    : read(db, 'SELECT rpc_check(?, ?, ?)', [method, v(hi), v(lo)]);
}

/** Text for operators: who holds the method back and what to do. */
function explain(db, method) {
  return read(db, 'SELECT rpc_explain(?)', [method]);
}

/**
 * The drain window in force for `method` (null or none: the default), in
 * seconds; null on a database without the rpcver schema yet.
 */
function drain(db, method = null) {
  return read(db, 'SELECT rpc_drain(?)', [method]);
}

/** 'ok', or the differences found by the extension's audit. */
function verify(db) {
  return read(db, 'SELECT rpc_verify()', []);
}

// Rows of a view; [] on a database without the rpcver schema yet.
function view(db, name) {
  const sql = `SELECT * FROM ${name}`;
  let s = cacheOf(db).stmts.get('rows\0' + sql);
  if (s === undefined) {
    if (!read(db, "SELECT 1 FROM sqlite_schema WHERE type = 'view' AND name = ?", [name])) return [];
    s = stmt(db, sql, 'rows');
  }
  try {
    return s.all();
  } catch (err) {
    throw translate(err);
  }
}

/**
 * rpc_status: one row per method {method, receivers, negotiated, newest,
 * pin, floor, state, senders, drain_left}: senders counts the registered
 * senders, drain_left the seconds messages sent before a narrowing change
 * may still be in flight (0: none; inFlight has their versions).
 */
function status(db) {
  return view(db, 'rpc_status');
}

/**
 * rpc_in_flight: one row per method with registered senders or a drain under
 * way {method, senders, sending_lo, sending_hi, in_flight_lo, in_flight_hi,
 * seconds_left, drain}: what the senders may send now, what they could send
 * before a change narrowed it (null when nothing more is in flight) and for
 * how many seconds more, and the window in force.  A receiver registering
 * now must accept all of it.
 */
function inFlight(db) {
  return view(db, 'rpc_in_flight');
}

/** rpc_laggards: receivers below the newest version of their method {manager, method, hi, newest}. */
function laggards(db) {
  return view(db, 'rpc_laggards');
}

// ------------------------------------------------------------------ Client

const CLIENT_RANGE_SQL = `
  SELECT CASE WHEN hi IS NULL THEN cap
              WHEN cap IS NULL THEN hi
              WHEN rpc_version_cmp(cap, hi) < 0 THEN cap
              ELSE hi END,
         CASE WHEN lo IS NOT NULL THEN lo
              WHEN hi IS NOT NULL THEN rpcver_text(rpcver_lo(hi, NULL))
              ELSE 0 END
  FROM (SELECT CASE WHEN @cap IS NOT NULL THEN rpc_version_norm(@cap) END AS cap,
               CASE WHEN @hi IS NOT NULL THEN rpc_version_norm(@hi) END AS hi,
               CASE WHEN @lo IS NOT NULL THEN rpc_version_norm(@lo) END AS lo)`;

// One statement, one snapshot: the version's key, and whether it is <= the
// client's cap and sendable (rpc_can_send).
const CLIENT_CAN_SQL = `
  SELECT rpc_version_key(@v) AS key,
         CASE WHEN cap IS NULL THEN 0
              WHEN rpc_version_cmp(@v, cap) > 0 THEN 0
              ELSE rpc_can_send(@m, @v) END AS ok
  FROM (SELECT rpc_max_send(@m, @hi, @lo) AS cap)`;

/**
 * A sender of one method, in the style of oslo.messaging's
 * RPCClient(version_cap=...) and can_send_version():
 *
 *   const c = new Client(db, 'volume', { senderHi: '3.17' });
 *   if (c.canSendVersion('3.17')) ... else ...;
 *   const version = c.choose('3.17', '3.16');
 *
 * The cap is read from the database on every use, so it follows the
 * cluster as managers upgrade.  versionCap (an operator's explicit cap)
 * and senderHi/senderLo (what this sender can produce; senderLo defaults
 * to MAJOR(senderHi).0) only lower it.
 */
class Client {
  constructor(db, method, { versionCap, senderHi, senderLo } = {}) {
    if (!(db instanceof Database)) throw new TypeError('rpcver.Client: db must be a better-sqlite3 Database');
    this.db = db;
    this.method = method;
    this.explicitCap = versionCap === undefined ? null : versionCap;
    const none = (x) => (x === undefined ? null : v(x));
    const row = read(db, CLIENT_RANGE_SQL,
      [{ cap: none(versionCap), hi: none(senderHi), lo: none(senderLo) }], 'row');
    // The range passed to rpc_max_send: [lo, hi], hi null for no cap.
    this._hi = row[0];
    this._lo = row[1];
  }

  /** The highest version this client may send now, or null when none. */
  get versionCap() {
    return maxSend(this.db, this.method, this._hi, this._lo);
  }

  /** True when `version` <= versionCap and every receiver accepts it. */
  canSendVersion(version) {
    return this._judge(version)[1] === 1n;
  }

  // [key of version, 1n when version <= the cap and rpc_can_send], one snapshot.
  _judge(version) {
    return read(this.db, CLIENT_CAN_SQL,
      [{ m: this.method, v: v(version), hi: this._hi, lo: this._lo }], 'row');
  }

  /**
   * The highest of `versions` this client can send now (as given), read
   * in one snapshot.  Throws an RpcverError when none can be sent.
   */
  choose(...versions) {
    if (versions.length === 1 && Array.isArray(versions[0])) versions = versions[0];
    if (versions.length === 0) throw new TypeError('rpcver.Client.choose: no versions given');
    const judged = readSnapshot(this.db, () => versions.map((ver, i) => {
      const r = this._judge(ver);
      return { ver, i, key: r[0], ok: r[1] === 1n };
    }));
    judged.sort((a, b) => (a.key === b.key ? a.i - b.i : b.key > a.key ? 1 : -1));
    const best = judged.find((j) => j.ok);
    if (best !== undefined) return best.ver;
    const cap = this.versionCap;
    throw new RpcverError(
      `rpcver: Client.choose: method '${this.method}' cannot be sent at any of ` +
      `${versions.map(String).join(', ')} now: ` +
      (cap === null
        ? 'no version can be sent (no receivers, or no version fits every receiver and this client\'s range)'
        : `the highest version this client may send is ${cap}`));
  }
}

// Runs fn() in one read transaction (a savepoint inside a caller's
// transaction), so that its reads see one snapshot.
function readSnapshot(db, fn) {
  const c = cacheOf(db);
  if (c.rtx === null) c.rtx = db.transaction((f) => f());
  try {
    return c.rtx.deferred(fn);
  } catch (err) {
    throw translate(err);
  }
}

module.exports = {
  open,
  findExtension,
  register,
  unregister,
  heartbeat,
  expire,
  pin,
  forget,
  registerSender,
  unregisterSender,
  setDrain,
  drain,
  maxSend,
  canSend,
  check,
  explain,
  verify,
  status,
  laggards,
  inFlight,
  Client,
  RpcverError,
  RefusedError,
  Database,
};
