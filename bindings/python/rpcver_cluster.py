"""rpcver_cluster: rpcver on a dqlite cluster, from Python (stdlib only).

A small client of dqlite's wire protocol (``cluster/PROTOCOL.md``) for
services and operators on other hosts than the cluster's ``rpcverd`` nodes.
:func:`connect` finds the leader among the nodes you name and returns a
connection that looks enough like ``sqlite3.Connection`` for every function
of the ``rpcver`` module to take it unchanged::

    import rpcver, rpcver_cluster

    conn = rpcver_cluster.connect(["10.0.0.1:9001", "10.0.0.2:9001",
                                   "10.0.0.3:9001"])       # any of the nodes
    print(rpcver.register(conn, "host-b", {"volume": "3.17"}))
    client = rpcver.Client(conn, "volume", sender_hi="3.17")
    print(client.version_cap, client.can_send_version("3.17"))
    try:
        rpcver.register(conn, "host-old", {"volume": "3.16"})
    except rpcver.RefusedError as e:
        print("refused:", str(e).split(" with range")[0])
    print([row["state"] for row in rpcver.status(conn)])
    conn.close()

prints, on a fresh cluster (``test_cluster.py`` runs exactly this)::

    {'volume': '3.17'}
    3.17 True
    refused: rpcver: manager 'host-old' cannot register method 'volume'
    ['steady']

What it does
  ``execute(sql, params)`` sends a statement that returns rows (SELECT,
  VALUES, WITH, EXPLAIN, PRAGMA without ``=``) as QUERY_SQL and reads every
  batch of rows before it returns; any other statement goes as EXEC_SQL
  (``rowcount``, ``lastrowid``).  ``executescript(sql)`` runs several
  statements.  Parameters are positional (``?``): int, float, str, bytes,
  None, and bool (as 0/1).  Rows come back as tuples of int, float, str,
  bytes or None.  A node's FAILURE answer is raised as an exception that is
  also the ``sqlite3`` exception Python's own module would raise
  (:class:`OperationalError` is an ``sqlite3.OperationalError``, ...), with
  ``sqlite_errorcode`` and ``sqlite_errorname`` set the same way: so
  ``rpcver`` turns ``rpcver:`` messages into ``RpcverError`` /
  ``RefusedError`` with the message unchanged, as on a local file.

Transactions
  As with ``sqlite3.connect(..., isolation_level=None)``: autocommit unless
  you (or ``rpcver.transaction``) send BEGIN; ``in_transaction`` follows
  BEGIN / COMMIT / END / ROLLBACK / SAVEPOINT / RELEASE, and is re-checked
  with the node after the errors on which SQLite rolls back by itself.  On
  rpcverd the rpcver write functions refuse to run in autocommit (dqlite
  1.11 would not replicate their writes); the ``rpcver`` module's writes run
  in ``BEGIN IMMEDIATE ... COMMIT``, which is the safe form.  Plain DML on
  the rpcver tables (``INSERT INTO rpc_registrations ...``) is safe in
  autocommit too.  ``BEGIN`` that finds the write lock taken
  (``SQLITE_BUSY``) is retried for up to ``busy_timeout`` seconds, like
  SQLite's busy timeout: nothing has happened yet, so that is safe.

Failover
  dqlite runs all SQL on the leader.  When the node answers
  ``SQLITE_IOERR_NOT_LEADER`` or ``SQLITE_IOERR_LEADERSHIP_LOST``, or the
  connection breaks or times out, the connection finds the new leader
  (asking each node, confirming with the leader itself, for up to
  ``leader_timeout`` seconds) and reopens the database there.  Only what is
  safe is retried by itself:

  - a read outside a transaction, BEGIN, and an autocommit statement the
    node refused with NOT_LEADER (checked before anything runs): retried
    on the new leader, within ``leader_timeout``;
  - ROLLBACK: done (the node rolls back when the connection goes);
  - any statement inside a transaction, and a COMMIT refused with
    NOT_LEADER: :class:`TransactionLostError` (nothing of the transaction
    was committed; run it all again, from BEGIN);
  - a COMMIT, or a write in autocommit, whose answer was lost (leadership
    lost, connection broken, timeout): :class:`OutcomeUnknownError` (it
    may or may not have been applied).

  Both are :class:`FailoverError`, an ``sqlite3.OperationalError``; the
  connection is dropped and the next call finds the leader.  rpcver's
  writes are idempotent, so after either, simply call ``rpcver.register``
  (or ``heartbeat``, ``pin``, ``unregister``) again: registering the same
  range twice leaves the same state as once.

Deadlines and caps
  No call waits for ever, however a node behaves.  ``timeout`` (10 s) is
  the deadline of each request: the request and its whole answer, every
  batch of rows, must arrive within it from the moment it is sent (not a
  timeout per read, which a node sending a byte a second would stretch
  without end).  A call that fails over retries only within
  ``leader_timeout`` (15 s) and a BEGIN that finds the lock taken only
  within ``busy_timeout`` (10 s), both counted from the call's start, and
  no wait passes the longest of the three: every call returns or raises
  within ``max(timeout, leader_timeout, busy_timeout)`` seconds (15 s with
  the defaults).  A passed deadline counts as a broken connection (above).
  Each answer is capped: ``max_rows`` rows (1,000,000) and ``max_bytes``
  bytes on the wire (64 MiB, headers and every batch together).  A
  response is refused as soon as its declared size would pass the cap,
  before it is read; beyond a cap the call raises :class:`LimitError` at
  once (retrying cannot help), the connection is dropped, and a
  transaction in progress is lost.  A batch of no rows that says more
  follow is refused too: the result would never end.

TLS
  A cluster of nodes run with ``--tls-cert``, ``--tls-key`` and
  ``--tls-ca`` speaks TLS 1.3 only, and wants a client certificate signed
  by the cluster's CA (``cluster/certs.sh client NAME`` makes one)::

      conn = rpcver_cluster.connect(nodes, tls_cert="svc.crt",
                                    tls_key="svc.key", tls_ca="ca.crt")

  or ``tls=`` an ``ssl.SSLContext`` of your own (:func:`tls_context` makes
  the one those three files give).  The node's certificate must chain to
  the CA and be a node's (good for a TLS server); the names in it are not
  checked, since the cluster's CA signs its members only.  The handshake is
  part of connecting and keeps to the same deadline: a node that stalls or
  trickles it is dropped when ``timeout`` (or what is left of
  ``leader_timeout``) has passed.  A node that refuses this client's
  certificate says so with an alert, which TLS 1.3 delivers with the first
  answer; it is raised as a broken connection naming the alert, and
  retrying finds the same refusal, so connecting fails with
  :class:`NoLeaderError` saying why.

Caching
  None: each call asks the leader (one round trip; docs/concurrency.md's "call it
  before every RPC").  A cached answer is not safe for any fixed time: the
  negotiated version can rise past it and a manager registering [LO, HI]
  with LO above the cached value is then admitted (its range holds the
  method's floor), while a sender with the cached value would still send
  it a version it cannot receive; and an operator's pin can lower it.

Limits (dqlite 1.11)
  One database per connection; statements run on the leader only (no
  follower reads); no named parameters; text cannot contain NUL (send
  bytes); a DML statement with RETURNING is refused here (in autocommit
  dqlite 1.11 would not replicate it, and rpcverd refuses it; in a
  transaction EXEC_SQL stops at its first row); a column declared DATETIME, DATE or
  TIMESTAMP comes back as dqlite encodes it (text, and '' for NULL).
"""

import collections
import collections.abc
import functools
import re
import socket
import sqlite3
import ssl
import struct
import time

import rpcver

__all__ = [
    "connect", "tls_context", "Connection", "Cursor", "Server",
    "Error", "NodeError", "OperationalError", "IntegrityError", "DataError",
    "InternalError", "InterfaceError", "ProgrammingError", "DatabaseError",
    "FailoverError", "NoLeaderError", "TransactionLostError",
    "OutcomeUnknownError", "LimitError",
    "DEFAULT_MAX_ROWS", "DEFAULT_MAX_BYTES",
    "SQLITE_IOERR_NOT_LEADER", "SQLITE_IOERR_LEADERSHIP_LOST",
]

# --------------------------------------------------------------------------
# The protocol's numbers (dqlite 1.11 src/protocol.h)

PROTOCOL_VERSION = 1

REQ_LEADER, REQ_OPEN, REQ_EXEC_SQL, REQ_QUERY_SQL = 0, 3, 8, 9
REQ_CLUSTER, REQ_TRANSFER = 16, 17

RES_FAILURE, RES_SERVER, RES_SERVERS, RES_DB = 0, 1, 3, 4
RES_RESULT, RES_ROWS, RES_EMPTY = 6, 7, 8

T_INTEGER, T_FLOAT, T_TEXT, T_BLOB, T_NULL = 1, 2, 3, 4, 5
T_UNIXTIME, T_ISO8601, T_BOOLEAN = 9, 10, 11

ROWS_PART = 0xEEEEEEEEEEEEEEEE     # a batch of rows ends; more follow
ROWS_DONE = 0xFFFFFFFFFFFFFFFF     # the result set ends

SQLITE_IOERR_NOT_LEADER = 10 | (40 << 8)        # 10250
SQLITE_IOERR_LEADERSHIP_LOST = 10 | (41 << 8)   # 10506

ROLES = {0: "voter", 1: "standby", 2: "spare"}

# The caps on one answer (as the C client's defaults; connect() takes others).
DEFAULT_MAX_ROWS = 1000000
DEFAULT_MAX_BYTES = 64 << 20
MAX_RESPONSE = DEFAULT_MAX_BYTES   # the old name

# --------------------------------------------------------------------------
# Errors

_PRIMARY = {
    0: "OK", 1: "ERROR", 2: "INTERNAL", 3: "PERM", 4: "ABORT", 5: "BUSY",
    6: "LOCKED", 7: "NOMEM", 8: "READONLY", 9: "INTERRUPT", 10: "IOERR",
    11: "CORRUPT", 12: "NOTFOUND", 13: "FULL", 14: "CANTOPEN",
    15: "PROTOCOL", 16: "EMPTY", 17: "SCHEMA", 18: "TOOBIG",
    19: "CONSTRAINT", 20: "MISMATCH", 21: "MISUSE", 22: "NOLFS", 23: "AUTH",
    24: "FORMAT", 25: "RANGE", 26: "NOTADB", 27: "NOTICE", 28: "WARNING",
    100: "ROW", 101: "DONE",
}


def _error_names():
    names = {code: "SQLITE_" + name for code, name in _PRIMARY.items()}
    for attr in dir(sqlite3):          # the extended codes Python knows
        value = getattr(sqlite3, attr)
        if (attr.startswith("SQLITE_") and isinstance(value, int)
                and value > 255 and _PRIMARY.get(value & 0xFF)
                and attr.startswith("SQLITE_" + _PRIMARY[value & 0xFF] + "_")):
            names[value] = attr
    names[SQLITE_IOERR_NOT_LEADER] = "SQLITE_IOERR_NOT_LEADER"
    names[SQLITE_IOERR_LEADERSHIP_LOST] = "SQLITE_IOERR_LEADERSHIP_LOST"
    return names


_ERROR_NAMES = _error_names()


def error_name(code):
    """SQLite's name of a result code (``SQLITE_BUSY``, ...), or None."""
    if code is None:
        return None
    return _ERROR_NAMES.get(code) or _ERROR_NAMES.get(code & 0xFF)


class Error(sqlite3.Error):
    """Base of this module's errors: an ``sqlite3.Error`` with
    ``sqlite_errorcode`` and ``sqlite_errorname`` (None when no SQLite code
    applies, e.g. a broken connection) and ``address``, the node."""

    def __init__(self, message, code=None, address=None):
        super().__init__(message)
        self.sqlite_errorcode = code
        self.sqlite_errorname = error_name(code)
        self.address = address


class NodeError(Error):
    """A FAILURE response: the node ran the request and SQLite (or dqlite)
    refused it.  ``str(err)`` is the node's message, unchanged.  The
    concrete class is the ``sqlite3`` class Python's ``sqlite3`` module
    uses for that code (below)."""


class DatabaseError(NodeError, sqlite3.DatabaseError):
    pass


class OperationalError(NodeError, sqlite3.OperationalError):
    pass


class IntegrityError(NodeError, sqlite3.IntegrityError):
    pass


class DataError(NodeError, sqlite3.DataError):
    pass


class InternalError(NodeError, sqlite3.InternalError):
    pass


class InterfaceError(NodeError, sqlite3.InterfaceError):
    pass


class ProgrammingError(Error, sqlite3.ProgrammingError):
    """Refused here, before anything was sent (a parameter of an
    unsupported type, RETURNING, a closed connection, ...)."""


# As CPython's Modules/_sqlite/util.c maps primary result codes.
_CLASS_BY_PRIMARY = {
    2: InternalError, 12: InternalError,
    1: OperationalError, 3: OperationalError, 4: OperationalError,
    5: OperationalError, 6: OperationalError, 8: OperationalError,
    9: OperationalError, 10: OperationalError, 13: OperationalError,
    14: OperationalError, 15: OperationalError, 16: OperationalError,
    17: OperationalError, 7: OperationalError,
    18: DataError, 19: IntegrityError, 20: IntegrityError,
    21: InterfaceError, 25: InterfaceError,
}


def _node_error(code, message, address):
    cls = _CLASS_BY_PRIMARY.get(code & 0xFF, DatabaseError)
    return cls(message, code, address)


class FailoverError(Error, sqlite3.OperationalError):
    """The leader changed or the connection broke while a statement that is
    not safe to repeat was in flight.  The connection has been dropped; the
    next call finds the leader again.  ``cause`` says what happened."""


class NoLeaderError(FailoverError):
    """No node answered as leader within ``leader_timeout`` seconds."""


class TransactionLostError(FailoverError):
    """The transaction was rolled back (nothing of it was committed): run
    the whole transaction again."""


class OutcomeUnknownError(FailoverError):
    """A COMMIT, or a write in autocommit, was sent but its answer was lost:
    it may or may not have been applied.  Check, or repeat it when it is
    idempotent (every rpcver write is)."""


class LimitError(Error, sqlite3.OperationalError):
    """An answer passed a cap (``max_rows``, ``max_bytes``).  The
    connection was dropped, since the node was still sending; nothing is
    retried (the same request would pass the cap again), and a transaction
    in progress was rolled back with it.  Raise the cap, or ask for less."""


class _Broken(Exception):
    """The connection to a node broke, timed out, or spoke nonsense."""


# --------------------------------------------------------------------------
# Encoding and decoding

def _pad(n):
    return (n + 7) & ~7


def _u64(v):
    return struct.pack("<Q", v)


def _text(s):
    b = s.encode("utf-8") + b"\0"
    return b + b"\0" * (_pad(len(b)) - len(b))


def _encode_params(params):
    """A parameter tuple: a count byte and one type byte per value, zero
    padded to a word, then each value in 8-byte-aligned form."""
    if isinstance(params, collections.abc.Mapping):
        raise ProgrammingError("rpcver_cluster: named parameters are not "
                               "supported by dqlite's wire protocol; use ? "
                               "and a sequence")
    params = tuple(params)
    if not params:
        return b""
    if len(params) > 255:
        raise ProgrammingError("rpcver_cluster: at most 255 parameters, not "
                               "%d" % len(params))
    types = bytearray([len(params)])
    body = []
    for i, v in enumerate(params, 1):
        if v is None:
            types.append(T_NULL)
            body.append(_u64(0))
        elif isinstance(v, int):                 # bool too: 0 or 1
            if not -(1 << 63) <= v < (1 << 63):
                raise ProgrammingError("rpcver_cluster: parameter %d: %d "
                                       "does not fit in 64 bits" % (i, v))
            types.append(T_INTEGER)
            body.append(struct.pack("<q", int(v)))
        elif isinstance(v, float):
            types.append(T_FLOAT)
            body.append(struct.pack("<d", v))
        elif isinstance(v, str):
            if "\0" in v:
                raise ProgrammingError("rpcver_cluster: parameter %d: text "
                                       "with a NUL character cannot be sent "
                                       "(dqlite text is NUL-terminated); "
                                       "send bytes" % i)
            types.append(T_TEXT)
            body.append(_text(v))
        elif isinstance(v, (bytes, bytearray, memoryview)):
            b = bytes(v)
            types.append(T_BLOB)
            body.append(_u64(len(b)) + b + b"\0" * (_pad(len(b)) - len(b)))
        else:
            raise ProgrammingError("rpcver_cluster: parameter %d: type %s is "
                                   "not supported (int, float, str, bytes, "
                                   "None, bool)" % (i, type(v).__name__))
    types += b"\0" * (_pad(len(types)) - len(types))
    return bytes(types) + b"".join(body)


class _Reader:
    """A bounds-checked cursor over a response body."""

    def __init__(self, body):
        self.b = body
        self.i = 0

    def _take(self, n):
        if self.i + n > len(self.b):
            raise _Broken("truncated response")
        v = self.b[self.i:self.i + n]
        self.i += n
        return v

    def u64(self):
        return struct.unpack("<Q", self._take(8))[0]

    def peek_u64(self):
        if self.i + 8 > len(self.b):
            raise _Broken("truncated response")
        return struct.unpack_from("<Q", self.b, self.i)[0]

    def i64(self):
        return struct.unpack("<q", self._take(8))[0]

    def f64(self):
        return struct.unpack("<d", self._take(8))[0]

    def text(self):
        end = self.b.find(b"\0", self.i)
        if end < 0:
            raise _Broken("unterminated text in response")
        s = self.b[self.i:end].decode("utf-8", "replace")
        self._take(_pad(end + 1 - self.i))
        return s

    def blob(self):
        n = self.u64()
        v = self._take(n)
        self._take(_pad(n) - n)
        return bytes(v)


def _decode_value(r, t):
    if t in (T_INTEGER, T_UNIXTIME, T_BOOLEAN):
        return r.i64()
    if t == T_FLOAT:
        return r.f64()
    if t in (T_TEXT, T_ISO8601):
        return r.text()
    if t == T_BLOB:
        return r.blob()
    if t == T_NULL:
        r.u64()
        return None
    raise _Broken("unknown value type %d in a row" % t)


def _decode_failure(body):
    """(code, message) of a FAILURE body: uint64 code, text message.

    dqlite 1.11 has a bug here: when a query's step fails, the failure is
    appended to the ROWS batch already begun, so the body starts with the
    column count, the column names (and any rows of that batch) and ends
    with the code and message.  A well-formed body has nothing after the
    message; otherwise the message is the last text, which starts at the
    word after the last NUL before it (the code's high bytes are zero)."""
    r = _Reader(body)
    code, message = r.u64(), r.text()
    if r.i == len(body):
        return code, message
    end = len(body.rstrip(b"\0"))
    start = body.rfind(b"\0", 0, end) + 1
    if start >= 8 and start % 8 == 0:
        code = struct.unpack_from("<Q", body, start - 8)[0]
        return code, body[start:end].decode("utf-8", "replace")
    return struct.unpack_from("<Q", body, len(body) - 16)[0], ""


# --------------------------------------------------------------------------
# TLS

def tls_context(cert, key, ca):
    """The ``ssl.SSLContext`` of a client of a cluster with TLS: ``cert``
    (PEM: the client's certificate, then the CA's, as ``cluster/certs.sh``
    writes it), ``key`` (its PEM key), ``ca`` (PEM: the cluster's CA, the
    only one trusted).  TLS 1.3 only; the node's certificate must chain to
    ``ca`` and be good for a TLS server; names are not checked.  Raises
    ``ValueError`` naming the file that does not load."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.minimum_version = ssl.TLSVersion.TLSv1_3
    context.check_hostname = False
    context.verify_mode = ssl.CERT_REQUIRED
    for what, path in (("CA certificate", ca), ("certificate", cert),
                       ("key", key)):
        if not path:
            raise ValueError("rpcver_cluster: TLS needs the %s file too "
                             "(tls_cert, tls_key and tls_ca)" % what)
    try:
        context.load_verify_locations(cafile=ca)
    except (OSError, ssl.SSLError) as exc:
        raise ValueError("rpcver_cluster: cannot load the CA certificate "
                         "%s: %s" % (ca, exc)) from None
    try:
        context.load_cert_chain(cert, key)
    except (OSError, ssl.SSLError) as exc:
        raise ValueError("rpcver_cluster: cannot load the certificate %s "
                         "with the key %s: %s" % (cert, key, exc)) from None
    return context


def _tls_reason(exc, handshake=False):
    """A TLS failure in words."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        return "the node's certificate is refused: %s" % (
            exc.verify_message or exc.reason)
    reason = getattr(exc, "reason", None) or str(exc)
    text = str(reason).lower().replace("_", " ")
    if "alert" in text:
        return ("the node refused the TLS session (%s)%s" % (
            reason, ": it does not accept this client's certificate"
            if "certificate" in text or "unknown ca" in text else ""))
    if handshake and ("eof" in text or isinstance(exc, ssl.SSLEOFError)
                      or not isinstance(exc, ssl.SSLError)):
        return ("connection closed during the TLS handshake (a node that "
                "is not running with TLS does that)")
    if "wrong version number" in text:
        return "the node does not speak TLS 1.3 (%s)" % reason
    return str(exc)


# --------------------------------------------------------------------------
# One TCP connection to one node

def _split_address(address):
    host, sep, port = address.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise ValueError("rpcver_cluster: bad node address %r: want HOST:PORT"
                         % (address,))
    return host.strip("[]"), int(port)


class _Node:
    """Requests and responses on one connection (the 8-byte header is the
    body size in words, uint32 LE; the type; a schema byte; 2 unused).

    Each call (connecting; a request and its whole answer) must end within
    ``timeout`` seconds of its start, and never after ``limit`` (a
    ``time.monotonic()`` moment, or None); its answer is capped at
    ``max_rows`` rows and ``max_bytes`` bytes."""

    def __init__(self, address, timeout, limit=None,
                 max_rows=DEFAULT_MAX_ROWS, max_bytes=DEFAULT_MAX_BYTES,
                 tls=None):
        self.address = address
        self.timeout, self.limit = timeout, limit
        self.max_rows, self.max_bytes = max_rows, max_bytes
        self.sock = None
        self.tls = tls
        self._responses = 0            # read on this connection
        self._begin()
        try:
            # A node that is down refuses at once; one that is unreachable
            # should not hold up the search for the leader for long.
            self.sock = socket.create_connection(
                _split_address(address), max(0.001, min(self._left(), 2.0)))
            self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except socket.timeout:
            raise self._late("cannot connect to")
        except OSError as exc:
            raise _Broken("cannot connect to %s: %s" % (address, exc))
        if tls is not None:
            self._tls_handshake(tls)
        self._send(_u64(PROTOCOL_VERSION))                # the handshake

    def _tls_handshake(self, context):
        """TLS over the connected socket, within the call's deadline: one
        do_handshake() whose waits all count against what is left."""
        try:
            self.sock = context.wrap_socket(self.sock,
                                            do_handshake_on_connect=False)
        except (ssl.SSLError, OSError) as exc:
            self.close()
            raise _Broken("cannot start TLS with %s: %s" % (self.address, exc))
        left = self._left()
        if left <= 0:
            raise self._late("no complete TLS handshake with")
        try:
            self.sock.settimeout(left)
            self.sock.do_handshake()
        except socket.timeout:
            raise self._late("no complete TLS handshake with")
        except (ssl.SSLError, OSError) as exc:
            self.close()
            raise _Broken("TLS handshake with %s: %s"
                          % (self.address, _tls_reason(exc, True)))

    def _begin(self):
        """A call starts: its deadline, and its count of bytes read."""
        self._start = time.monotonic()
        self._end = self._start + self.timeout
        if self.limit is not None and self.limit < self._end:
            self._end = self.limit
        self._nbytes = 0

    def _left(self):
        return self._end - time.monotonic()

    def _late(self, what):
        self.close()
        return _Broken("%s %s within the deadline (%g s)"
                       % (what, self.address,
                          round(max(0.0, self._end - self._start), 2)))

    def close(self):
        try:
            if self.sock is not None:
                self.sock.close()
        except OSError:
            pass

    def _send(self, data):
        view = memoryview(data)
        while view:
            # each send waits at most what is left of the call (a TLS
            # socket's sendall would give every piece the whole timeout)
            left = self._left()
            if left <= 0:
                raise self._late("cannot send to")
            try:
                self.sock.settimeout(left)
                view = view[self.sock.send(view):]
            except socket.timeout:
                raise self._late("cannot send to")
            except ssl.SSLError as exc:
                self.close()
                raise _Broken("cannot send to %s: %s"
                              % (self.address, _tls_reason(exc)))
            except OSError as exc:
                self.close()
                raise _Broken("cannot send to %s: %s" % (self.address, exc))

    def send(self, rtype, body):
        """Send a request: a new call, with its own deadline."""
        self._begin()
        header = struct.pack("<IBBH", len(body) // 8, rtype, 0, 0)
        self._send(header + body)

    def _read(self, n):
        buf = bytearray()
        while len(buf) < n:
            left = self._left()
            if left <= 0:
                raise self._late("no complete answer from")
            try:
                self.sock.settimeout(left)
                # at most 1 MiB a time: memory follows what arrives
                chunk = self.sock.recv(min(n - len(buf), 1 << 20))
            except socket.timeout:
                raise self._late("no complete answer from")
            except ssl.SSLError as exc:
                self.close()
                raise _Broken("cannot read from %s: %s"
                              % (self.address, _tls_reason(exc)))
            except OSError as exc:
                self.close()
                raise _Broken("cannot read from %s: %s" % (self.address, exc))
            if not chunk:
                self.close()
                raise _Broken("%s closed the connection" % self.address)
            buf += chunk
        return bytes(buf)

    def _over(self, message):
        self.close()
        return LimitError("rpcver_cluster: " + message, None, self.address)

    def recv(self, want):
        """The next response, as a _Reader; a FAILURE raises NodeError.
        Its declared size counts against max_bytes before it is read."""
        try:
            header = self._read(8)
        except _Broken as exc:
            if self._responses == 0 and not self.tls and \
                    str(exc).endswith(" closed the connection"):
                # the node's first answer is to hang up
                raise _Broken("%s (a node run with TLS closes connections "
                              "that do not speak it)" % exc) from None
            raise
        self._responses += 1
        words, rtype, _, _ = struct.unpack("<IBBH", header)
        size = words * 8 + 8
        if self._nbytes + size > self.max_bytes:
            if self._nbytes == 0:
                raise self._over("a response of %d bytes from %s exceeds the "
                                 "cap of %d bytes (max_bytes)"
                                 % (size, self.address, self.max_bytes))
            raise self._over("the answer from %s exceeds the cap of %d bytes "
                             "(max_bytes; %d bytes read, the next response "
                             "declares %d)" % (self.address, self.max_bytes,
                                               self._nbytes, size))
        self._nbytes += size
        body = self._read(words * 8)
        if rtype == RES_FAILURE:
            code, message = _decode_failure(body)
            raise _node_error(code, message, self.address)
        r = _Reader(body)
        if rtype != want:
            raise _Broken("unexpected response type %d from %s (wanted %d)"
                          % (rtype, self.address, want))
        return r

    def roundtrip(self, rtype, body, want):
        self.send(rtype, body)
        return self.recv(want)

    # -- requests

    def leader(self):
        r = self.roundtrip(REQ_LEADER, _u64(0), RES_SERVER)
        return r.u64(), r.text()

    def open(self, name):
        self.roundtrip(REQ_OPEN, _text(name) + _u64(0) + _text(""), RES_DB)

    def exec_sql(self, sql, params):
        r = self.roundtrip(REQ_EXEC_SQL, _u64(0) + _text(sql) + params,
                           RES_RESULT)
        last_id, changed = r.i64(), r.u64()
        return last_id, changed

    def query_sql(self, sql, params):
        """(column names, rows): every batch, until ROWS_DONE."""
        self.send(REQ_QUERY_SQL, _u64(0) + _text(sql) + params)
        names, rows = None, []
        while True:
            r = self.recv(RES_ROWS)
            n = r.u64()
            if n == 0 or n > 255:
                # dqlite sends ROWS only for statements with columns; a
                # row of no values would never advance the reading
                raise _Broken("malformed rows response from %s: %d columns"
                              % (self.address, n))
            batch_names = [r.text() for _ in range(n)]
            if names is None:
                names = batch_names
            head = _pad((n + 1) // 2)
            batch = 0
            while True:
                # A row header holds 4-bit type codes (1..11), so it never
                # equals a marker word.
                marker = r.peek_u64()
                if marker in (ROWS_DONE, ROWS_PART):
                    r.u64()
                    break
                if len(rows) >= self.max_rows:
                    raise self._over("the result from %s exceeds the cap of "
                                     "%d rows (max_rows)"
                                     % (self.address, self.max_rows))
                batch += 1
                types = r._take(head)
                rows.append(tuple(
                    _decode_value(r, (types[k // 2] >> (4 * (k % 2))) & 0xF)
                    for k in range(n)))
            if marker == ROWS_DONE:
                return names, rows
            if batch == 0:
                # dqlite 1.11 sends such batches without end when the
                # column names alone fill its 4 KiB batch
                self.close()
                raise _Broken("malformed rows response from %s: a batch of "
                              "no rows says more follow, so the result would "
                              "never end" % self.address)
            # ROWS_PART: the node sends the next batch by itself, within
            # the same call's deadline and caps.

    def cluster(self):
        r = self.roundtrip(REQ_CLUSTER, _u64(1), RES_SERVERS)
        return [Server(r.u64(), r.text(), ROLES.get(r.u64(), "unknown"))
                for _ in range(r.u64())]

    def transfer(self, node_id):
        self.roundtrip(REQ_TRANSFER, _u64(node_id), RES_EMPTY)


Server = collections.namedtuple("Server", "id address role")
Server.__doc__ = "A member of the cluster: raft id, address, role name."


# --------------------------------------------------------------------------
# What a statement is

_TOKEN = re.compile(r"""
    (?P<skip>\s+|--[^\n]*|/\*.*?(?:\*/|\Z))
  | (?P<quoted>'(?:[^']|'')*'?|"(?:[^"]|"")*"?|`[^`]*`?|\[[^\]]*\]?)
  | (?P<word>[A-Za-z_][A-Za-z0-9_$]*)
  | (?P<other>.)""", re.S | re.X)


def _tokens(sql):
    """Upper-cased words, string literals as '', other characters as is."""
    for m in _TOKEN.finditer(sql):
        kind = m.lastgroup
        if kind == "word":
            yield m.group().upper()
        elif kind == "quoted":
            yield "''" if m.group().startswith("'") else m.group().upper()
        elif kind == "other":
            yield m.group()


_ROWS_FIRST = {"SELECT", "VALUES", "WITH", "EXPLAIN", "PRAGMA"}
_DML = {"INSERT", "UPDATE", "DELETE", "REPLACE"}


@functools.lru_cache(maxsize=512)
def _classify(sql):
    """(returns_rows, control, name): how to send ``sql``, and how it moves
    the transaction state (control: begin, commit, rollback, savepoint,
    release or None; name: the savepoint's)."""
    toks = list(_tokens(sql))
    first = toks[0] if toks else ""
    second = toks[1] if len(toks) > 1 else ""
    dml = any(t in _DML and not (t == "REPLACE" and nxt == "(")
              for t, nxt in zip(toks, toks[1:] + [""]))
    if dml and "RETURNING" in toks:
        raise ProgrammingError(
            "rpcver_cluster: RETURNING is not supported: in autocommit "
            "dqlite 1.11 does not replicate such a statement's write and "
            "then crashes (rpcverd refuses it), and this client sends DML "
            "as EXEC_SQL, which stops at the first row; write, then SELECT "
            "in the same transaction")
    rows = first in _ROWS_FIRST and not dml
    if first == "PRAGMA" and "=" in toks:
        rows = False                   # a setting; sent as EXEC_SQL
    control = name = None
    if first == "BEGIN":
        control = "begin"
    elif first in ("COMMIT", "END"):
        control = "commit"
    elif first == "ROLLBACK" and "TO" not in toks[1:3]:
        control = "rollback"
    elif first == "SAVEPOINT":
        control, name = "savepoint", second
    elif first == "RELEASE":
        control = "release"
        name = toks[2] if second == "SAVEPOINT" and len(toks) > 2 else second
    return rows, control, name


_CONTROL_WORDS = re.compile(r"\b(BEGIN|COMMIT|END|ROLLBACK|SAVEPOINT|RELEASE)"
                            r"\b", re.I)

# --------------------------------------------------------------------------
# The connection

def connect(nodes, database="rpcver", *, timeout=10.0, leader_timeout=15.0,
            busy_timeout=10.0, max_rows=DEFAULT_MAX_ROWS,
            max_bytes=DEFAULT_MAX_BYTES, tls=None, tls_cert=None,
            tls_key=None, tls_ca=None):
    """Connect to the leader of the cluster that ``nodes`` belong to.

    ``nodes`` is a list of ``"HOST:PORT"`` (or one comma-separated string);
    any of the cluster's nodes will do, one is enough while it is up.
    ``database`` is opened on the leader (dqlite creates it on first use).
    ``timeout``: the deadline, in seconds, of each request and its whole
    answer.  ``leader_timeout``: seconds to keep looking for a leader, at
    connect and after a failover (elections take a few seconds).
    ``busy_timeout``: seconds to retry a BEGIN that finds the write lock
    taken.  No call takes longer than the longest of the three.
    ``max_rows``, ``max_bytes``: caps on each answer (rows of a result;
    bytes on the wire), beyond which a call raises :class:`LimitError`.
    ``tls_cert``, ``tls_key``, ``tls_ca``: TLS with this client's
    certificate and key, trusting that CA only (a cluster with TLS); or
    ``tls``, an ``ssl.SSLContext`` (:func:`tls_context`).
    Raises :class:`NoLeaderError`.
    """
    return Connection(nodes, database, timeout=timeout,
                      leader_timeout=leader_timeout,
                      busy_timeout=busy_timeout, max_rows=max_rows,
                      max_bytes=max_bytes, tls=tls, tls_cert=tls_cert,
                      tls_key=tls_key, tls_ca=tls_ca)


class Connection:
    """A DB-API-like connection to the database ``database`` on the leader.

    Attributes: ``leader`` (the leader's address, None while disconnected),
    ``leader_id``, ``in_transaction``, ``nodes``, ``database``,
    ``reconnects`` (leader connections made after the first).  Not
    thread-safe: use one per thread.  ``with connect(...) as conn:`` closes
    it at the end (``sqlite3``'s commits instead).
    """

    def __init__(self, nodes, database="rpcver", *, timeout=10.0,
                 leader_timeout=15.0, busy_timeout=10.0,
                 max_rows=DEFAULT_MAX_ROWS, max_bytes=DEFAULT_MAX_BYTES,
                 tls=None, tls_cert=None, tls_key=None, tls_ca=None):
        if isinstance(nodes, str):
            nodes = nodes.split(",")
        self.nodes = [n.strip() for n in nodes if n.strip()]
        if not self.nodes:
            raise ValueError("rpcver_cluster: no node addresses given")
        for n in self.nodes:
            _split_address(n)
        self.database = database
        self.timeout = timeout
        self.leader_timeout = leader_timeout
        self.busy_timeout = busy_timeout
        if max_rows < 1 or max_bytes < 1:
            raise ValueError("rpcver_cluster: max_rows and max_bytes must be "
                             "at least 1")
        self.max_rows, self.max_bytes = max_rows, max_bytes
        if tls is not None and (tls_cert or tls_key or tls_ca):
            raise ValueError("rpcver_cluster: give tls or the tls_cert, "
                             "tls_key and tls_ca files, not both")
        if tls is None and (tls_cert or tls_key or tls_ca):
            tls = tls_context(tls_cert, tls_key, tls_ca)
        self.tls = tls
        self.leader = None
        self.leader_id = None
        self.in_transaction = False
        self.reconnects = 0
        self._node = None
        self._hint = None              # the last leader's address
        self._savepoint_txn = None     # the savepoint that began the transaction
        self._closed = False
        self._leader_node()

    def __repr__(self):
        return "<rpcver_cluster.Connection %s leader=%s>" % (self.database,
                                                             self.leader)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # -- finding the leader

    def _drop(self):
        if self._node is not None:
            self._node.close()
        self._node = None
        self.leader = None

    def _leader_node(self, deadline=None, cause=None):
        """The open connection to the leader, making one if needed.
        ``cause``: the failure that made the last one go, for the message
        if no leader is found."""
        if self._closed:
            raise ProgrammingError("rpcver_cluster: the connection is closed")
        if self._node is not None:
            return self._node
        if deadline is None:
            deadline = time.monotonic() + self.leader_timeout
        if cause is not None and time.monotonic() >= deadline:
            raise NoLeaderError("rpcver_cluster: gave up after %.1f s: %s"
                                % (self.leader_timeout, cause),
                                getattr(cause, "sqlite_errorcode", None))
        last = "no node answered"
        tried = False
        while not tried or time.monotonic() < deadline:
            order = list(self.nodes)
            if self._hint in order:    # the leader we lost: ask it last
                order.remove(self._hint)
                order.append(self._hint)
            for address in order:
                if tried and time.monotonic() >= deadline:
                    break              # no try starts after the deadline
                tried = True
                node = None
                # each try waits at most what is left of leader_timeout
                wait = max(0.05, min(self.timeout,
                                     deadline - time.monotonic()))
                try:
                    node = self._new_node(address, wait, deadline)
                    lid, laddr = node.leader()
                    if lid == 0 or not laddr:
                        last = "%s knows no leader" % address
                        node.close()
                        continue
                    if laddr != address:
                        node.close()
                        node = self._new_node(laddr, wait, deadline)
                        # The leader must know itself as leader: a node cut
                        # off from the others may still name an old one.
                        if node.leader() != (lid, laddr):
                            last = "%s, named by %s, does not lead" % (
                                laddr, address)
                            node.close()
                            continue
                    node.open(self.database)
                except (_Broken, NodeError, LimitError) as exc:
                    last = str(exc)
                    if node is not None:
                        node.close()
                    continue
                # from now on each call sets the node's limit (_call_limit)
                node.timeout, node.limit = self.timeout, None
                if self.leader_id is not None:
                    self.reconnects += 1
                self._node, self.leader, self.leader_id = node, laddr, lid
                self._hint = laddr
                return node
            time.sleep(max(0.0, min(0.1, deadline - time.monotonic())))
        raise NoLeaderError(
            "rpcver_cluster: no leader found among %s within %.1f s%s; "
            "last: %s" % (", ".join(self.nodes), self.leader_timeout,
                          " (after: %s)" % cause if cause is not None else "",
                          last))

    def _new_node(self, address, wait, deadline):
        return _Node(address, wait, limit=deadline, max_rows=self.max_rows,
                     max_bytes=self.max_bytes, tls=self.tls)

    def _call_limit(self, start):
        """The moment a call that began at ``start`` must have ended by."""
        return start + max(self.timeout, self.leader_timeout,
                           self.busy_timeout)

    def _limit_hit(self, exc):
        """A cap was passed: the node was still sending, so the connection
        is dropped, and a transaction in progress with it."""
        was_in_txn = self.in_transaction
        self._drop()
        self._set_txn(False)
        if was_in_txn:
            raise LimitError("%s; the transaction was rolled back (the "
                             "connection was dropped)" % exc, None,
                             exc.address) from None
        raise exc

    # -- statements

    def cursor(self):
        return Cursor(self)

    def execute(self, sql, params=()):
        """Run one statement; returns a :class:`Cursor` holding its rows."""
        cur = Cursor(self)
        cur.execute(sql, params)
        return cur

    def executescript(self, sql):
        """Run several statements (one EXEC_SQL; no parameters)."""
        cur = Cursor(self)
        cur.executescript(sql)
        return cur

    def commit(self):
        if self.in_transaction:
            self.execute("COMMIT")

    def rollback(self):
        if self.in_transaction:
            self.execute("ROLLBACK")

    def close(self):
        """Close the connection (an open transaction is rolled back by the
        node).  Closing twice is harmless."""
        self._drop()
        self._closed = True
        self.in_transaction = False

    def cluster(self):
        """The cluster's members as :class:`Server` (id, address, role),
        as the leader knows them.  Safe to retry: it is."""
        return self._retrying(lambda node: node.cluster())

    def transfer(self, node_id):
        """Ask the leader to hand leadership to voter ``node_id`` (raft
        transfers it once that node's log is complete); then reconnect."""
        if self.in_transaction:
            raise ProgrammingError("rpcver_cluster: transfer() inside a "
                                   "transaction would lose it; commit first")
        node = self._leader_node()
        node.limit = time.monotonic() + self.timeout
        try:
            node.transfer(node_id)
        except LimitError as exc:
            self._limit_hit(exc)
        self._drop()

    def _retrying(self, fn):
        start = time.monotonic()
        deadline = start + self.leader_timeout
        cause = None
        while True:
            node = self._leader_node(deadline, cause)
            node.limit = self._call_limit(start)
            try:
                return fn(node)
            except LimitError as exc:
                self._limit_hit(exc)
            except (_Broken, NodeError) as exc:
                if isinstance(exc, NodeError) and not _is_failover(exc):
                    raise
                self._drop()
                if time.monotonic() >= deadline:
                    raise NoLeaderError("rpcver_cluster: %s" % exc,
                                        getattr(exc, "sqlite_errorcode", None))
                cause = exc
                time.sleep(0.05)

    def _run(self, sql, params, script=False):
        """Send ``sql``; returns (names or None, rows, lastrowid, changes).

        The failover and transaction rules of the module docstring are all
        here."""
        if script:
            rows, control, name = False, None, None
        else:
            rows, control, name = _classify(sql)
        body = _encode_params(params)
        start = time.monotonic()
        deadline = start + self.leader_timeout
        busy_deadline = start + self.busy_timeout
        limit = self._call_limit(start)
        cause = None                   # what made the last try fail over
        while True:
            # Safe to send again on a new leader: nothing was or will be
            # written.
            safe = not self.in_transaction and (rows or control == "begin")
            node = self._leader_node(deadline, cause)
            node.limit = limit
            try:
                if rows:
                    names, data = node.query_sql(sql, body)
                    result = names, data, None, -1
                else:
                    last_id, changes = node.exec_sql(sql, body)
                    result = None, [], last_id, changes
                break
            except LimitError as exc:
                self._limit_hit(exc)
            except _Broken as exc:
                if self._failed_over(exc, sql, control, safe, False, deadline):
                    return None, [], None, 0
                cause = exc
            except NodeError as exc:
                code = exc.sqlite_errorcode
                if _is_failover(exc):
                    not_run = code == SQLITE_IOERR_NOT_LEADER
                    if self._failed_over(exc, sql, control, safe, not_run,
                                         deadline):
                        return None, [], None, 0
                    cause = exc
                elif rows and code == 1 and str(exc) == "not an error":
                    # QUERY_SQL refuses a statement without result columns
                    # before its first step (src/query.c): nothing ran, so
                    # send it as EXEC_SQL.
                    rows = False
                elif (code & 0xFF) == 5 and safe and \
                        time.monotonic() < busy_deadline:
                    time.sleep(0.01)   # BUSY before anything ran: wait
                elif control == "rollback" and \
                        "no transaction is active" in str(exc):
                    self._set_txn(False)
                    return None, [], None, 0
                else:
                    # Any failure inside a transaction may have ended it
                    # (SQLITE_FULL, BUSY, ..., but also a constraint with
                    # OR ROLLBACK or RAISE(ROLLBACK)): ask the node.
                    if script and _CONTROL_WORDS.search(sql) or \
                            self.in_transaction:
                        self._check_transaction()
                    raise
        if script:
            if _CONTROL_WORDS.search(sql):
                self._check_transaction()
        elif control == "begin":
            self._set_txn(True)
        elif control in ("commit", "rollback"):
            self._set_txn(False)
        elif control == "savepoint" and not self.in_transaction:
            self._set_txn(True, savepoint=name)
        elif control == "release" and name == self._savepoint_txn:
            self._set_txn(False)
        return result

    def _set_txn(self, value, savepoint=None):
        self.in_transaction = value
        self._savepoint_txn = savepoint if value else None

    def _check_transaction(self):
        """Ask the node whether a transaction is open: BEGIN fails inside
        one; when it succeeds there was none (ROLLBACK it again)."""
        try:
            self._node.exec_sql("BEGIN", b"")
            self._node.exec_sql("ROLLBACK", b"")
            self._set_txn(False)
        except NodeError as exc:
            if "within a transaction" not in str(exc):
                raise
            self.in_transaction = True
        except (_Broken, LimitError):
            self._drop()
            self._set_txn(False)

    def _failed_over(self, exc, sql, control, safe, not_run, deadline):
        """The connection is lost or the node no longer leads: drop it.
        Returns False to retry, True when the statement (a ROLLBACK) is
        done; else raises what the caller must know."""
        self._drop()
        code = getattr(exc, "sqlite_errorcode", None)
        was_in_txn = self.in_transaction
        if control == "rollback" and was_in_txn:
            self._set_txn(False)       # the node rolls back when we leave
            return True
        if safe or (not_run and not was_in_txn):
            if time.monotonic() >= deadline:
                raise NoLeaderError("rpcver_cluster: gave up after %.1f s: %s"
                                    % (self.leader_timeout, exc), code)
            time.sleep(0.05)
            return False
        self._set_txn(False)
        what = sql.strip().split(None, 1)[0].upper() if sql.strip() else "?"
        if was_in_txn and (control != "commit" or not_run):
            raise TransactionLostError(
                "rpcver_cluster: the transaction was lost (%s, at %s): it "
                "was rolled back, nothing of it was committed; run the whole "
                "transaction again" % (exc, what), code)
        raise OutcomeUnknownError(
            "rpcver_cluster: the outcome of %s is unknown (%s): it may or may "
            "not have been applied; check, or repeat it if it is idempotent "
            "(rpcver's writes are)" % (what, exc), code)


def _is_failover(exc):
    return getattr(exc, "sqlite_errorcode", None) in (
        SQLITE_IOERR_NOT_LEADER, SQLITE_IOERR_LEADERSHIP_LOST)


class Cursor:
    """The result of one statement: all its rows, read at execute time.

    ``description`` is a sequence of 7-tuples (only the name is set) for a
    statement that returns rows, else None; ``rowcount`` is the number of
    rows changed by EXEC_SQL (-1 for a query); ``lastrowid``.
    """

    arraysize = 1

    def __init__(self, connection):
        self.connection = connection
        self.description = None
        self.rowcount = -1
        self.lastrowid = None
        self._rows = []
        self._pos = 0

    def _load(self, result):
        names, rows, lastrowid, changes = result
        self.description = (None if names is None else
                            tuple((n, None, None, None, None, None, None)
                                  for n in names))
        self._rows, self._pos = rows, 0
        self.rowcount = changes
        self.lastrowid = lastrowid

    def execute(self, sql, params=()):
        self._load(self.connection._run(sql, params))
        return self

    def executescript(self, sql):
        self._load(self.connection._run(sql, (), script=True))
        return self

    def fetchone(self):
        if self._pos >= len(self._rows):
            return None
        self._pos += 1
        return self._rows[self._pos - 1]

    def fetchmany(self, size=None):
        size = self.arraysize if size is None else size
        rows = self._rows[self._pos:self._pos + size]
        self._pos += len(rows)
        return rows

    def fetchall(self):
        rows = self._rows[self._pos:]
        self._pos = len(self._rows)
        return rows

    def __iter__(self):
        while True:
            row = self.fetchone()
            if row is None:
                return
            yield row

    def close(self):
        self._rows = []
