"""rpcver: RPC version negotiation for rolling upgrades, from Python.

A thin, stdlib-only layer over the rpcver SQLite extension (see the
repository's README.md for the model, docs/reference.md for the SQL).  Managers
register, per RPC API ("method"), the versions they can receive; senders
ask which version they may send; a manager whose range does not contain the
method's floor is refused at start-up.

    import rpcver

    conn = rpcver.connect("cluster.db")            # WAL, busy timeout, extension
    rpcver.register(conn, "host-a", {"volume": "3.17", "backup": "1.5"})
    client = rpcver.Client(conn, "volume", sender_hi="3.17")
    if client.can_send_version("3.17"):
        ...                                        # the new call shape
    else:
        ...                                        # the 3.16 shape

Transactions.  Every write function runs in ``BEGIN IMMEDIATE ... COMMIT``
(docs/concurrency.md's write pattern: the write lock is taken up front, where the
busy timeout applies), or, when the connection is already inside a
transaction, in a SAVEPOINT of that transaction (the caller commits).  A
refused write changes nothing.  Read functions run as single statements;
outside a transaction each one sees every commit made so far, by any
connection or process (rpc_max_send's per-connection cache is never stale),
so call them before every use instead of caching their answers.

Senders and drain windows (docs/in-flight.md).  A sender that registers
what it can send (:func:`register_sender`) is inside rpcver's promise about
messages in flight: after a change that narrows what senders may send (a
pin, a receiver dropping old versions, a sender leaving), a receiver is
admitted only if it accepts every version that may still be in flight, for
the method's drain window (:func:`drain`, :func:`set_drain`;
:func:`in_flight` shows what is in flight).  Senders are rows of
``rpc_managers`` like receivers: :func:`heartbeat` and :func:`expire` cover
them.

Errors.  Every error rpcver raises in SQL (message starting ``rpcver:``) is
re-raised as :class:`RpcverError` with the message unchanged, chained to the
original ``sqlite3`` exception, and with its ``sqlite_errorcode`` and
``sqlite_errorname``.  Refusals by the rules ("cannot register", "cannot
pin", "would leave registered sender ...") are :class:`RefusedError`;
invalid versions are :class:`VersionError`.
Other SQLite errors (``database is locked`` after the busy timeout, I/O
errors, ...) are left as the ``sqlite3`` exceptions they are.
"""

import contextlib
import os
import re
import sqlite3
import threading

__all__ = [
    "RpcverError", "RefusedError", "VersionError",
    "connect", "load", "transaction",
    "register", "unregister", "heartbeat", "expire", "pin", "forget", "init",
    "register_sender", "unregister_sender", "drain", "set_drain",
    "max_send", "can_send", "check", "status", "laggards", "in_flight",
    "explain",
    "verify", "extension_version",
    "version_key", "normalize", "compare", "default_lo",
    "Client",
]

ENV_EXTENSION = "RPCVER_EXTENSION"

_HERE = os.path.dirname(os.path.abspath(__file__))

#: Where :func:`load` looks for the extension when neither its ``extension``
#: argument nor ``$RPCVER_EXTENSION`` is given.  SQLite tries each name as
#: given and then with the platform's suffix (``.so``) appended.
DEFAULT_LOCATIONS = (
    os.path.normpath(os.path.join(_HERE, "..", "..", "rpcver")),  # repo build
    "/usr/local/lib/rpcver/rpcver",
    "/usr/lib/rpcver/rpcver",
)


# --------------------------------------------------------------------------
# Errors

class RpcverError(Exception):
    """An ``rpcver:`` error from the extension (or from this module).

    ``str(err)`` is the extension's message, unchanged: it names the function
    and the offending value and says what to do.  ``sqlite_errorcode`` and
    ``sqlite_errorname`` are SQLite's result code when the error came from
    SQL (None otherwise).
    """

    def __init__(self, message, sqlite_errorcode=None, sqlite_errorname=None):
        super().__init__(message)
        self.message = message
        self.sqlite_errorcode = sqlite_errorcode
        self.sqlite_errorname = sqlite_errorname


class RefusedError(RpcverError):
    """A registration or pin refused by the rules.

    Raised when a manager's range does not contain the method's floor, or
    not every version registered senders may still have in flight (``...
    cannot register method ...``; a drain under way says ``the drain
    window`` and the seconds left); when a pin would leave some receiver
    with nothing it can receive (``cannot pin method ...``); when a sender's
    range reaches nothing every receiver accepts (``sender ... cannot
    register method ...``); and when a registration or a pin would leave a
    registered sender with nothing it may send (``... would leave registered
    sender ...``).  The message says what to do (upgrade, pin first, wait
    out the drain, remove stale managers, ...).
    """


class VersionError(RpcverError, ValueError):
    """A value that is not a version (``MAJOR[.MINOR[.PATCH]]``)."""


_REFUSAL = re.compile(
    r"rpcver: (?:(?:manager|sender) '.*' cannot register method '"
    r"|cannot pin method '"
    r"|(?:the range \[.*\] of manager '.*'|the pin of method '.*' to ).*"
    r" would leave registered sender ')",
    re.S)


def _classify(message):
    if _REFUSAL.match(message):
        return RefusedError
    if " is not a version" in message or "but a version is required" in message:
        return VersionError
    return RpcverError


def _translate(exc):
    """The RpcverError for an sqlite3 error, or None when it is not rpcver's."""
    message = str(exc)
    if not message.startswith("rpcver:"):
        return None
    cls = _classify(message)
    return cls(message,
               getattr(exc, "sqlite_errorcode", None),
               getattr(exc, "sqlite_errorname", None))


def _one(conn, sql, params=()):
    """Run a one-row SELECT and return its first column."""
    return _one_row(conn, sql, params)[0]


def _one_row(conn, sql, params=()):
    try:
        return conn.execute(sql, params).fetchone()
    except sqlite3.Error as exc:
        err = _translate(exc)
        if err is None:
            raise
        raise err from exc


def _rows(conn, sql):
    try:
        cur = conn.execute(sql)
        names = [d[0] for d in cur.description]
        return [dict(zip(names, row)) for row in cur.fetchall()]
    except sqlite3.Error as exc:
        err = _translate(exc)
        if err is None:
            raise
        raise err from exc


# --------------------------------------------------------------------------
# Connecting and loading

def load(conn, extension=None):
    """Load the rpcver extension into an existing ``sqlite3.Connection``.

    Where it looks: ``extension`` when given; else ``$RPCVER_EXTENSION`` when
    set; else :data:`DEFAULT_LOCATIONS` in order (this repository's
    ``./rpcver`` next to ``bindings/``, then ``/usr/local/lib/rpcver/rpcver``
    and ``/usr/lib/rpcver/rpcver``).  An explicit choice (the argument or the
    variable) is the only place tried: a build you named is never silently
    replaced by another one.  Raises :class:`RpcverError` listing every place
    tried, with SQLite's reason for each, when none loads.  Returns the path
    that loaded.  Loading only registers SQL functions; it never writes.
    """
    if not hasattr(conn, "enable_load_extension"):
        raise RpcverError(
            "rpcver: this Python's sqlite3 module was built without extension "
            "loading (sqlite3.Connection has no enable_load_extension); use a "
            "Python built with it, e.g. Debian's /usr/bin/python3")
    if extension is not None:
        candidates = [os.fspath(extension)]
    elif os.environ.get(ENV_EXTENSION):
        candidates = [os.environ[ENV_EXTENSION]]
    else:
        candidates = list(DEFAULT_LOCATIONS)
    failures = []
    conn.enable_load_extension(True)
    try:
        for path in candidates:
            try:
                conn.load_extension(path)
            except sqlite3.Error as exc:
                failures.append("  %s: %s" % (path, exc))
                continue
            return path
    finally:
        conn.enable_load_extension(False)
    source = ("the extension argument" if extension is not None else
              "$%s" % ENV_EXTENSION if len(candidates) == 1 else
              "the default locations")
    raise RpcverError(
        "rpcver: could not load the rpcver extension from %s; tried:\n%s\n"
        "Build it with `make` in the rpcver repository, or pass extension= "
        "or set %s to its path (without the .so suffix is fine)"
        % (source, "\n".join(failures), ENV_EXTENSION))


def connect(path, extension=None, timeout=10.0, *, wal=True, uri=False):
    """Open ``path`` ready for rpcver and return the ``sqlite3.Connection``.

    - ``isolation_level=None``: autocommit; this module (or you, with
      :func:`transaction` or plain ``BEGIN``) controls transactions.
    - busy timeout ``timeout`` seconds (``sqlite3.connect(timeout=...)``,
      i.e. ``sqlite3_busy_timeout``), so writers wait for each other.
    - the extension, found as :func:`load` describes.
    - ``PRAGMA journal_mode=WAL`` when the main database is a file (not
      ``:memory:`` or a temporary database) and ``wal`` is true: readers and
      the writer do not block each other, which is what several managers and
      senders on one database need.  WAL is persistent: it is a property of
      the database file, set once.  Pass ``wal=False`` to leave the journal
      mode alone (e.g. on a read-only database that is not in WAL already).
    - ``uri=True`` passes ``path`` as an SQLite URI (``file:x.db?mode=ro``).
    """
    conn = sqlite3.connect(path, timeout=timeout, isolation_level=None,
                           uri=uri)
    try:
        load(conn, extension)
        if wal:
            for row in conn.execute("PRAGMA database_list"):
                if row[1] == "main" and row[2]:
                    conn.execute("PRAGMA journal_mode=WAL").fetchall()
                    break
    except BaseException:
        conn.close()
        raise
    return conn


@contextlib.contextmanager
def transaction(conn):
    """``with transaction(conn):`` -- docs/concurrency.md's write pattern.

    Outside a transaction: ``BEGIN IMMEDIATE`` (takes the write lock now,
    waiting up to the busy timeout), then ``COMMIT`` on success or
    ``ROLLBACK`` on any exception.  Inside one: a SAVEPOINT, released on
    success and rolled back on an exception, so the caller's transaction
    stays usable and the caller commits.  The writes of this module all run
    this way; use it to group several of them, all or nothing.
    """
    if conn.in_transaction:
        conn.execute("SAVEPOINT rpcver_py")
        try:
            yield conn
        except BaseException:
            if conn.in_transaction:   # SQLite may have rolled back already
                conn.execute("ROLLBACK TO rpcver_py")
                conn.execute("RELEASE rpcver_py")
            raise
        conn.execute("RELEASE rpcver_py")
        return
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise


# --------------------------------------------------------------------------
# Writes

def _range(method, spec):
    """(hi, lo) from {method: hi} or {method: (hi, lo)}; lo may be None."""
    if isinstance(spec, (tuple, list)):
        if len(spec) == 1:
            return spec[0], None
        if len(spec) == 2:
            return spec[0], spec[1]
        raise ValueError("rpcver: register: %r: expected hi or (hi, lo), got %r"
                         % (method, spec))
    return spec, None


def register(conn, manager, apis):
    """Register ``manager`` for every API in ``apis``, all or nothing.

    ``apis`` maps a method to ``hi`` (receives ``[MAJOR(hi).0, hi]``, the
    oslo.messaging rule) or to ``(hi, lo)`` (a bridge such as
    ``("3.4", "2.0")``, or ``lo = 0`` for every older version).  A manager
    already registered for a method has its range replaced.  All the
    registrations run in one transaction: when any is refused, none is
    made, and :class:`RefusedError` carries rpcver's message (a service
    prints it and exits).  Returns ``{method: negotiated}``, each method's
    negotiated version after the registration.
    """
    if not hasattr(apis, "items"):
        raise TypeError("rpcver: register: apis must be a mapping "
                        "{method: hi} or {method: (hi, lo)}, not %s"
                        % type(apis).__name__)
    items = [(method,) + _range(method, spec) for method, spec in apis.items()]
    if not items:
        raise ValueError("rpcver: register: apis is empty; "
                         "give at least one {method: hi}")
    result = {}
    with transaction(conn):
        for method, hi, lo in items:
            if lo is None:
                result[method] = _one(conn, "SELECT rpc_register(?, ?, ?)",
                                      (manager, method, hi))
            else:
                result[method] = _one(conn, "SELECT rpc_register(?, ?, ?, ?)",
                                      (manager, method, hi, lo))
    return result


def unregister(conn, manager, method=None):
    """Remove ``manager``'s registration for ``method``, or all of them.

    Returns the number removed (0 for an unknown manager or method).
    """
    with transaction(conn):
        if method is None:
            return _one(conn, "SELECT rpc_unregister(?)", (manager,))
        return _one(conn, "SELECT rpc_unregister(?, ?)", (manager, method))


def heartbeat(conn, manager):
    """Record ``manager`` as seen now: a receiver or a sender (senders are
    managers too, one name for both when a process is both).

    Returns False when it is not registered (it was expired or unregistered:
    register again, which admission may refuse).
    """
    with transaction(conn):
        return bool(_one(conn, "SELECT rpc_heartbeat(?)", (manager,)))


def expire(conn, seconds, max_share=None):
    """Unregister every manager not seen for more than ``seconds``, with
    its receiver and sender registrations.

    Returns the number of managers removed.  Raises RpcverError, removing
    nothing, when that would take more than ``max_share`` (0 to 1; None is
    rpc_expire's default, 0.5) of some method's receivers: a clock that
    jumped forward makes every manager look stale at once.  ``max_share=1``
    removes all that are stale.
    """
    with transaction(conn):
        return _one(conn, "SELECT rpc_expire(?, ?)", (seconds, max_share))


def pin(conn, method, version):
    """Pin ``method`` to ``version`` (an operator's cap), or clear it (None).

    Pinning before an upgrade keeps the way back open; pinning after one
    lowers the floor so old managers may rejoin.  Raises
    :class:`RefusedError` when some receiver does not accept ``version``.
    Returns the negotiated version after it.
    """
    with transaction(conn):
        return _one(conn, "SELECT rpc_pin(?, ?)", (method, version))


def forget(conn, method):
    """Drop a method that has no receivers (its floor and pin).

    Returns True when it existed.  Raises :class:`RpcverError` while
    receivers remain.
    """
    with transaction(conn):
        return bool(_one(conn, "SELECT rpc_forget(?)", (method,)))


def init(conn):
    """Create or migrate the rpcver schema now; returns its version."""
    with transaction(conn):
        return _one(conn, "SELECT rpc_init()")


def register_sender(conn, sender, method, hi, lo=None):
    """Register ``sender`` as sending ``method`` at versions ``[lo, hi]``.

    ``lo`` defaults to ``MAJOR(hi).0`` (oslo.messaging's rule, as for
    receivers); a sender already registered for the method has its range
    replaced.  Returns what it may send now, ``rpc_max_send(method, hi,
    lo)`` after the registration (None while the method has no receivers).
    Raises :class:`RefusedError`, registering nothing, when no version in
    ``[lo, hi]`` is accepted by every receiver (``rpcver: sender 'x' cannot
    register method ...``).  Registered, the sender is held to rpcver's
    promise about messages in flight; :func:`heartbeat` and :func:`expire`
    cover it as they cover managers.
    """
    with transaction(conn):
        if lo is None:
            return _one(conn, "SELECT rpc_register_sender(?, ?, ?)",
                        (sender, method, hi))
        return _one(conn, "SELECT rpc_register_sender(?, ?, ?, ?)",
                    (sender, method, hi, lo))


def unregister_sender(conn, sender, method=None):
    """Remove ``sender``'s registration for ``method``, or all of them.

    Returns the number removed (0 for an unknown sender or method).  What it
    could send may still be in flight: the method's drain window starts.
    """
    with transaction(conn):
        if method is None:
            return _one(conn, "SELECT rpc_unregister_sender(?)", (sender,))
        return _one(conn, "SELECT rpc_unregister_sender(?, ?)",
                    (sender, method))


def set_drain(conn, method, seconds):
    """Set how long a message of ``method`` may stay in flight, in seconds
    (the longest call timeout, or a cast's message TTL): its drain window.

    ``method`` None sets the default window (60 s until set), which every
    method without one of its own uses; ``seconds`` None gives ``method``
    the default again (it cannot be None for the default itself).  0 turns
    the drain off.  Returns the window in force for ``method`` after it.
    """
    if isinstance(seconds, bool):
        # Python's sqlite3 would bind True as 1 second
        raise TypeError("rpcver: set_drain: seconds must be a whole number "
                        ">= 0 or None, not %r" % (seconds,))
    with transaction(conn):
        return _one(conn, "SELECT rpc_drain(?, ?)", (method, seconds))


# --------------------------------------------------------------------------
# Reads

def max_send(conn, method, sender_hi=None, sender_lo=None):
    """The highest version of ``method`` this sender may send, or None.

    ``negotiated``, capped by the sender's own range ``[sender_lo,
    sender_hi]`` (``sender_lo`` defaults to ``MAJOR(sender_hi).0``; a None
    ``sender_hi`` means no cap).  None when nothing fits: no receivers, an
    unknown method, or the cap below what some receiver or the sender
    accepts.  Cheap and never stale: call it before every RPC.
    """
    if sender_lo is not None:
        return _one(conn, "SELECT rpc_max_send(?, ?, ?)",
                    (method, sender_hi, sender_lo))
    if sender_hi is not None:
        return _one(conn, "SELECT rpc_max_send(?, ?)", (method, sender_hi))
    return _one(conn, "SELECT rpc_max_send(?)", (method,))


def can_send(conn, method, version):
    """True when every receiver accepts ``version`` and it is not above
    the negotiated version (oslo.messaging's ``can_send_version``)."""
    return bool(_one(conn, "SELECT rpc_can_send(?, ?)", (method, version)))


def check(conn, method, hi, lo=None):
    """Pre-flight: None when a manager registering ``method`` with this range
    would be admitted now, else the refusal message it would get."""
    if lo is None:
        return _one(conn, "SELECT rpc_check(?, ?)", (method, hi))
    return _one(conn, "SELECT rpc_check(?, ?, ?)", (method, hi, lo))


def drain(conn, method=None):
    """The drain window in force for ``method`` (None: the default), in
    seconds: its own, else the default.  None on a database without the
    rpcver schema yet."""
    return _one(conn, "SELECT rpc_drain(?)", (method,))


def status(conn):
    """The ``rpc_status`` view: one dict per method with keys ``method``,
    ``receivers``, ``negotiated``, ``newest``, ``pin``, ``floor``, ``state``
    (``empty``, ``blocked``, ``pinned``, ``upgrading`` or ``steady``),
    ``senders`` (registered senders) and ``drain_left`` (seconds that
    messages sent before a narrowing change may still be in flight; 0:
    none, :func:`in_flight` has their versions)."""
    return _rows(conn, "SELECT * FROM rpc_status ORDER BY method")


def in_flight(conn):
    """The ``rpc_in_flight`` view: one dict per method with registered
    senders or a drain under way, keys ``method``, ``senders``,
    ``sending_lo`` and ``sending_hi`` (what the senders may send now),
    ``in_flight_lo`` and ``in_flight_hi`` (what they could send before a
    change narrowed it, None when nothing more is in flight),
    ``seconds_left`` (of that drain; 0: none) and ``drain`` (the window in
    force).  A receiver registering now must accept all of it."""
    return _rows(conn, "SELECT * FROM rpc_in_flight ORDER BY method")


def laggards(conn):
    """The ``rpc_laggards`` view: one dict per receiver below the newest
    version registered for its method (keys ``manager``, ``method``, ``hi``,
    ``newest``): who holds the upgrade back."""
    return _rows(conn, "SELECT * FROM rpc_laggards ORDER BY method, manager")


def explain(conn, method):
    """``rpc_explain``: text for operators about ``method``."""
    return _one(conn, "SELECT rpc_explain(?)", (method,))


def verify(conn):
    """``rpc_verify``: ``'ok'``, or one line per inconsistency found."""
    return _one(conn, "SELECT rpc_verify()")


def extension_version(conn):
    """The loaded extension's version (``rpcver_version()``)."""
    return _one(conn, "SELECT rpcver_version()")


# --------------------------------------------------------------------------
# Versions, by the extension: the rules (what a version is, its key, its
# canonical text, the default lo) are written once, in C, and asked here
# through a private in-memory connection, opened on first use and shared
# under a lock by the threads of this process.

_versions_conn = None
_versions_lock = threading.Lock()


def _version_sql(sql, v):
    global _versions_conn
    if isinstance(v, bool):
        # Python's sqlite3 would bind True as 1, a valid version
        raise VersionError("rpcver: %r is not a version; a bool is not "
                           "accepted here (pass text such as '3.4')" % (v,))
    if isinstance(v, int) and not -2 ** 63 <= v < 2 ** 63:
        raise VersionError("rpcver: %d is not a version (an INTEGER version "
                           "must be 0..1048575)" % v)
    if v is None:
        raise VersionError("rpcver: None is not a version (text such as "
                           "'3.4' is required)")
    if not isinstance(v, (str, int, float, bytes)):
        raise VersionError("rpcver: a %s is not a version; expected text "
                           "MAJOR[.MINOR[.PATCH]]" % type(v).__name__)
    with _versions_lock:
        if _versions_conn is None:
            conn = sqlite3.connect(":memory:", check_same_thread=False,
                                   isolation_level=None)
            load(conn)
            _versions_conn = conn
        try:
            return _one(_versions_conn, sql, (v,))
        except VersionError as err:
            # the value is this module's argument, not a SQL function's
            raise VersionError(_SQL_ARGUMENT.sub("rpcver: ", str(err)),
                               err.sqlite_errorcode, err.sqlite_errorname)


_SQL_ARGUMENT = re.compile(r"^rpcver: (?:rpc_version_\w+\(V\): V|rpcver_lo: hi): ")


def version_key(v):
    """The integer ``MAJOR<<40 | MINOR<<20 | PATCH``, ordered like versions
    (the extension's ``rpc_version_key``).  ``v`` is text
    ``MAJOR[.MINOR[.PATCH]]`` without leading zeros, or an int ``n`` (the
    version ``n.0``).  Raises :class:`VersionError` otherwise."""
    return _version_sql("SELECT rpc_version_key(?)", v)


def normalize(v):
    """Canonical text: ``MAJOR.MINOR``, plus ``.PATCH`` when it is not 0."""
    return _version_sql("SELECT rpc_version_norm(?)", v)


def compare(a, b):
    """-1, 0 or 1 as version ``a`` is below, equal to or above ``b``."""
    ka, kb = version_key(a), version_key(b)
    return (ka > kb) - (ka < kb)


def default_lo(hi):
    """The lo a receiver (or sender) at ``hi`` has when it gives none:
    ``MAJOR(hi).0``, oslo.messaging's rule, as the extension applies it."""
    return _version_sql("SELECT rpcver_text(rpcver_lo(?, NULL))", hi)


# --------------------------------------------------------------------------
# The client-side cap

class Client:
    """A sender's view of one method, like oslo.messaging's ``RPCClient``
    with ``version_cap`` and ``can_send_version``.

    ``sender_hi`` / ``sender_lo`` are the versions this sender's code can
    produce, passed to ``rpc_max_send`` (``sender_lo`` defaults to
    ``MAJOR(sender_hi).0``; when the cap would fall below it, nothing can
    be sent).  ``version_cap`` is an extra, explicit cap (configuration,
    like oslo's ``[upgrade_levels]``); with it alone there is no lower bound.

    Nothing is cached here: every property read and call asks the database,
    which is cheap (one indexed lookup, or rpcver's per-connection cache when
    that is provably current) and always sees the latest commit.
    """

    def __init__(self, conn, method, version_cap=None, sender_hi=None,
                 sender_lo=None):
        self.conn = conn
        self.method = method
        # Validate the static bounds now, so a typo fails at construction.
        for name, v in (("version_cap", version_cap), ("sender_hi", sender_hi),
                        ("sender_lo", sender_lo)):
            if v is not None:
                try:
                    version_key(v)
                except VersionError as err:
                    raise VersionError("rpcver: Client: %s: %s"
                                       % (name, str(err)[len("rpcver: "):]))
        self._explicit_cap = version_cap
        self.sender_hi = sender_hi
        self.sender_lo = sender_lo
        # The effective static range [lo, hi] passed to rpc_max_send.
        hi = sender_hi
        if version_cap is not None and (hi is None or
                                        compare(version_cap, hi) < 0):
            hi = version_cap
        if sender_lo is not None:
            lo = sender_lo
        elif sender_hi is not None:
            lo = default_lo(sender_hi)
        else:
            lo = None   # only an explicit cap (or nothing): no lower bound
        self._hi, self._lo = hi, lo

    def __repr__(self):
        return ("Client(method=%r, version_cap=%r, sender_hi=%r, sender_lo=%r)"
                % (self.method, self._explicit_cap, self.sender_hi,
                   self.sender_lo))

    @property
    def explicit_cap(self):
        """The ``version_cap`` given at construction (or None)."""
        return self._explicit_cap

    def _cap_args(self):
        """The SQL expression and parameters of the effective cap."""
        if self._hi is None and self._lo is None:
            return "rpc_max_send(?)", (self.method,)
        return ("rpc_max_send(?, ?, ?)",
                (self.method, self._hi, 0 if self._lo is None else self._lo))

    @property
    def version_cap(self):
        """The effective cap now: ``rpc_max_send(method, sender_hi,
        sender_lo)``, further capped by the explicit ``version_cap``; None
        when nothing can be sent."""
        expr, params = self._cap_args()
        return _one(self.conn, "SELECT " + expr, params)

    def can_send_version(self, version):
        """True when ``version`` <= the effective cap (which is not None) and
        ``rpc_can_send(method, version)``: every receiver accepts it.

        One query (both functions in one SELECT); a version above
        ``sender_hi`` or the explicit cap is answered without one.
        """
        if self._hi is not None and compare(version, self._hi) > 0:
            return False
        version_key(version)           # a bad version fails here, in Python
        expr, params = self._cap_args()
        cap, ok = _one_row(self.conn,
                           "SELECT %s, rpc_can_send(?, ?)" % expr,
                           params + (self.method, version))
        return cap is not None and compare(version, cap) <= 0 and bool(ok)

    def choose(self, *versions):
        """The highest of ``versions`` that can be sent now, as given.

        Typical use: ``v = client.choose("3.17", "3.16")`` and then build the
        call shape of ``v``.  Raises :class:`RpcverError` naming the versions
        and the current cap when none of them can be sent.
        """
        if not versions:
            raise ValueError("rpcver: Client.choose: give at least one version")
        ordered = sorted(versions, key=version_key, reverse=True)
        for v in ordered:
            if self.can_send_version(v):
                return v
        cap = self.version_cap
        raise RpcverError(
            "rpcver: none of the versions %s of method %r can be sent now "
            "(version cap: %s): none is at or below the cap and accepted by "
            "every receiver; see rpc_explain(%r)"
            % (", ".join(str(v) for v in ordered), self.method,
               "none" if cap is None else cap, self.method))
