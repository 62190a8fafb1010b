"""rpcver for OpenStack services: oslo.messaging and oslo.versionedobjects
capped by rpcver at call time.

Cinder's rolling-upgrade design, with rpcver's database as the place where
every service writes what it can receive:

- :func:`register_service` at a manager's start-up registers, per RPC API,
  the versions its endpoints accept (read from their oslo
  ``Target(version=...)``) and, per object class, the object versions it
  understands (method ``obj:ClassName``), under a manager name that
  identifies the service (:func:`service_name`: ``binary@host``).  When
  rpcver refuses (the cluster may already send something it cannot
  receive, or the name is another service's), it logs rpcver's message and
  raises :class:`rpcver.RefusedError`, so the service exits like Cinder's
  "requirements cannot be met" rule.
- :class:`RPCAPI` is shaped like ``cinder.rpc.RPCAPI`` (``RPC_API_VERSION``,
  ``RPC_DEFAULT_VERSION``, ``TOPIC``, ``BINARY``, ``_compat_ver``,
  ``_get_cctxt``).  Its ``client`` is an oslo.messaging ``RPCClient`` capped
  by rpcver: every ``prepare()`` and ``can_send_version()`` asks rpcver at
  call time, with the class's ``RPC_API_VERSION`` as ``sender_hi``, so the
  cap is never stale (no restart or SIGHUP after an upgrade, unlike
  Cinder's cached caps).  One call asks once: the version ``_compat_ver()``
  chooses carries the answer it was chosen by, and ``prepare()`` uses it.
  When nothing may be sent it raises :class:`CannotSendError` instead of
  sending.  It registers as a sender of its API (rpcver's
  ``rpc_register_sender``, ``[MAJOR.0, RPC_API_VERSION]``) when it is made,
  so that rpcver holds receivers to what it may have in flight; a refusal
  (no version of its range is accepted by every receiver) logs rpcver's
  message and raises :class:`rpcver.RefusedError`.
- :class:`ObjectSerializer` is a ``VersionedObjectSerializer`` that
  backports every object it sends, per class, to the version every receiver
  of ``obj:ClassName`` accepts (``obj_to_primitive(target_version=...,
  version_manifest=...)``): what Cinder's ``_determine_obj_version_cap``
  intends, per class instead of one global objects version.

    import rpcver_oslo
    from oslo_config import cfg
    import oslo_messaging as messaging

    transport = messaging.get_rpc_transport(cfg.CONF, url="rabbit://...")

    class VolumeAPI(rpcver_oslo.RPCAPI):        # the sender
        RPC_API_VERSION = "3.17"
        TOPIC = "cinder-volume"

        def extend_volume(self, ctxt, volume, new_size, reservations):
            version = self._compat_ver("3.17", "3.16")
            kw = {"reservations": reservations} if version == "3.17" else {}
            cctxt = self._get_cctxt(version=version, server=volume.host)
            cctxt.cast(ctxt, "extend_volume", volume=volume,
                       new_size=new_size, **kw)

    api = VolumeAPI("rpcver.db", transport)

    # a manager's start-up: the same database, its endpoints and objects
    rpcver_oslo.register_service(
        "rpcver.db", rpcver_oslo.service_name("cinder-volume", "host-a"),
        messaging.Target(topic="cinder-volume", server="host-a"),
        [manager], objects=[Volume])

The database.  Every ``db`` argument is either a file path or a connection.
A path is opened once per process: one connection per database file (and
extension), shared by every :class:`RPCAPI`, :class:`ObjectSerializer` and
:func:`register_service` of the process and by their threads, under a lock
(oslo servers serialize replies in worker threads, up to 64; eventlet's
green threads share one OS thread; Cinder makes an ``RPCAPI`` per request
in places).  It is opened at first use (WAL, a 10 s busy timeout, the
extension loaded as :func:`rpcver.load` finds it), opened again in a forked
child (a connection is never used across ``fork()``), and closed by
:func:`close_databases` (the next use opens it again).  A connection given
(from :func:`rpcver.connect`, say) is used as it is, and the caller sees to
its threads.

Method names.  An RPC API is the rpcver method ``TOPIC`` (``TOPIC/NAMESPACE``
when its oslo Target has a namespace, :func:`rpc_method`); an object class is
``obj:ClassName`` (:func:`object_method`).  Senders and receivers derive the
same names from the same oslo Targets and object classes.

Senders and messages in flight (docs/in-flight.md).  Every :class:`RPCAPI`
registers its process as a sender of its API, under :func:`sender_name`
(``binary@host/pid``: one registration per process, so that forked workers
and restarts never take each other's away), one registration per method
and database shared by the process's RPCAPI objects (the hull of their
ranges).  rpcver then refuses a receiver that would leave it nothing to
send, and, after a change that narrows what it may send (a rollback's
pin), a receiver that does not accept what may still be in flight, until
the method's drain window has passed: an old manager started right after a
pin is refused with rpcver's ``drain`` message.  The window must cover a
message's life in the queue: a call's is its timeout (oslo.messaging's
rabbit driver publishes a call with its timeout as the message's TTL); a
cast has none, so a cast can outlive any window -- check the queues before
an old manager starts, or give the topic's queues a message TTL at the
broker (docs/oslo.md, "Rolling back").  A forked child registers under its
own name at its first use; :meth:`RPCAPI.close` releases an object's share
(the last one unregisters); :func:`heartbeat_senders` is for the service's
periodic task (an expired registration is registered again);
:func:`unregister_senders` for its stop (it also runs at a normal exit).
Object classes (``obj:`` methods) get no sender registration: a rollback
pins the RPC API with them, and the API's drain covers the messages that
carry the objects.
"""

import atexit
import contextlib
import copy
import logging
import os
import re
import socket
import sqlite3
import sys
import threading

import oslo_messaging as messaging
from oslo_utils import versionutils
from oslo_versionedobjects import base as ovo_base
from oslo_versionedobjects import exception as ovo_exception
from oslo_versionedobjects import fields as ovo_fields

import rpcver

__all__ = [
    "CannotSendError", "RPCAPI", "CappedClient", "CappedContext",
    "ObjectSerializer", "register_service", "service_apis", "service_name",
    "sender_name", "heartbeat_senders", "unregister_senders",
    "object_tree", "rpc_method", "object_method", "close_databases",
    "OBJECT_PREFIX",
]

LOG = logging.getLogger(__name__)

#: The prefix of the rpcver method of an object class: ``obj:Volume``.
OBJECT_PREFIX = "obj:"


def rpc_method(topic, namespace=None):
    """The rpcver method of an RPC API: its topic, plus ``/namespace`` when
    its oslo Target has one."""
    if not topic:
        raise ValueError("rpcver: an RPC API needs a topic to be named in "
                         "rpcver (Target(topic=...) or RPCAPI.TOPIC)")
    return topic if namespace is None else "%s/%s" % (topic, namespace)


def object_method(objname):
    """The rpcver method of a versioned object class: ``obj:ClassName``."""
    return OBJECT_PREFIX + objname


def service_name(binary, host):
    """The rpcver manager name of the service ``binary`` on ``host``:
    ``binary@host`` (``cinder-scheduler@ctl``).

    A manager name must identify one service process: Cinder runs
    cinder-scheduler, cinder-backup and cinder-volume with the same
    ``CONF.host``, and every one of them registers the ``obj:`` methods, so
    under the host alone each would replace the others' object ranges."""
    if not binary or not host:
        raise ValueError("rpcver: service_name: both the binary (%r) and the "
                         "host (%r) are needed" % (binary, host))
    return "%s@%s" % (binary, host)


def sender_name(binary=None, host=None, pid=None):
    """The rpcver sender name of this process: ``binary@host/pid``
    (``cinder-api@ctl/4242``).

    Defaults: ``binary`` the program's name (``sys.argv[0]``'s base name,
    which is the binary for Cinder's ``cinder-api``, ``cinder-volume``,
    ...), ``host`` the machine's host name, ``pid`` this process's id.
    A sender registration is one process's: each worker that oslo.service
    forks sends on its own and leaves on its own, and a process that
    unregisters at its close must not take another's registration with it,
    so the pid is part of the name.  A process that is gone without
    unregistering (killed) leaves a registration that only an expiry or an
    operator removes: rpc_expire(seconds), or rpc_unregister_sender(name).
    """
    if binary is None:
        # (the first word: `python3 -m unittest` sets argv[0] to that
        # phrase; `python3 -c` and `python3 -` set "-c" and "-")
        words = os.path.basename(sys.argv[0] if sys.argv else "").split()
        binary = words[0] if words and words[0] not in ("-", "-c") \
            else "python"
    if host is None:
        host = socket.gethostname()
    if pid is None:
        pid = os.getpid()
    if not binary or not host:
        raise ValueError("rpcver: sender_name: both the binary (%r) and the "
                         "host (%r) are needed" % (binary, host))
    return "%s@%s/%d" % (binary, host, pid)


def _major_floor(version):
    return "%d.0" % (rpcver.version_key(version) >> 40)


class CannotSendError(rpcver.RpcverError):
    """Nothing of an RPC API or an object class may be sent now, or not the
    version asked for.

    The message starts ``rpcver:``, names the sender, the method and the
    versions, and ends with ``rpc_explain(method)``: who receives what, and
    who holds the method back.  Attributes: ``method``, ``version`` (asked
    for, or None), ``cap`` (rpcver's answer now, or None), ``sender_range``
    ``(lo, hi)``.
    """

    def __init__(self, message, method, version=None, cap=None,
                 sender_range=None):
        super().__init__(message)
        self.method = method
        self.version = version
        self.cap = cap
        self.sender_range = sender_range


# --------------------------------------------------------------------------
# The database

class _Database:
    """A database file's connection for this process, or a connection used
    as it is.

    A path gives the process-wide object of that file (:meth:`of`): one
    connection, opened at first use and shared by the process's threads
    under a lock (``check_same_thread=False``; SQLite itself is built
    thread-safe).  ``use()`` is a context manager that yields the
    connection.
    """

    def __init__(self, db, extension=None):
        self.extension = extension
        self._lock = threading.Lock()
        self._conn = None
        if isinstance(db, (str, bytes, os.PathLike)):
            self.path, self.shared = _check_path(db), None
        else:
            self.path, self.shared = None, db

    def _open(self):
        if self._conn is None:
            conn = sqlite3.connect(self.path, timeout=10.0,
                                   isolation_level=None,
                                   check_same_thread=False)
            try:
                rpcver.load(conn, self.extension)
                conn.execute("PRAGMA journal_mode=WAL").fetchall()
            except BaseException:
                conn.close()
                raise
            self._conn = conn
        return self._conn

    @classmethod
    def of(cls, db, extension=None):
        """DB itself when it is a _Database already; for a path, the
        process's object of that file and extension; else (a connection) a
        new one that uses it as it is."""
        if isinstance(db, cls):
            return db
        if not isinstance(db, (str, bytes, os.PathLike)):
            return cls(db, extension)
        path = _check_path(db)
        key = (os.path.realpath(path),
               None if extension is None else os.fsdecode(extension))
        with _DATABASES_LOCK:
            database = _DATABASES.get(key)
            if database is None:             # opened by its absolute path
                database = _DATABASES[key] = cls(os.path.abspath(path),
                                                 extension)
        return database

    def close(self):
        """Close the connection this object opened (not one given to it);
        the next use opens it again."""
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def _after_fork(self):
        # the parent's connection must not be used, nor closed, here
        # (closing could checkpoint its WAL under the parent's feet)
        if self._conn is not None:
            _INHERITED.append(self._conn)
        self._conn = None
        self._lock = threading.Lock()

    @contextlib.contextmanager
    def use(self):
        if self.shared is not None:
            yield self.shared
            return
        with self._lock:
            yield self._open()


def _check_path(db):
    path = os.fsdecode(db)
    if path in (":memory:", ""):
        raise ValueError(
            "rpcver: %r is a private database of one connection; "
            "rpcver_oslo's services share the database with other processes: "
            "give a file path, or pass a connection" % path)
    return path


_DATABASES = {}            # (realpath, extension) -> _Database
_DATABASES_LOCK = threading.Lock()
_INHERITED = []            # connections a forked child must leave alone


def close_databases():
    """Close every database connection this module opened in this process
    (each :class:`RPCAPI`, :class:`ObjectSerializer` and
    :func:`register_service` given a path shares them).  They are opened
    again at their next use: call it at a service's shutdown, or between
    tests.  Connections given to this module are the caller's."""
    with _DATABASES_LOCK:
        databases = list(_DATABASES.values())
    for database in databases:
        database.close()


def _after_fork_in_child():
    global _DATABASES_LOCK, _SERIALIZING, _SENDERS_LOCK, _SENDERS, _SENDER_GEN
    _DATABASES_LOCK = threading.Lock()
    _SERIALIZING = threading.RLock()
    for database in _DATABASES.values():
        database._after_fork()
    # the parent's sender registrations are the parent's: this process
    # registers its own (under its own pid) at its first send
    _SENDERS_LOCK = threading.Lock()
    _SENDERS = {}
    _SENDER_GEN += 1


def _explain(conn, method):
    try:
        return rpcver.explain(conn, method)
    except rpcver.RpcverError as err:        # never hide the first problem
        return "(rpc_explain failed: %s)" % err


# --------------------------------------------------------------------------
# Object classes: the tree a class can hold

def _object_type(field):
    """The ``fields.Object`` type of an object field (or a list of them),
    else None."""
    if isinstance(field, ovo_fields.ObjectField):
        return field._type
    if isinstance(field, ovo_fields.ListOfObjectsField):
        return field._type._element_type._type
    return None


def _subclass_names(objname):
    """Names of the registered classes that derive from a registered class
    named ``objname`` (what ``ObjectField(objname, subclasses=True)``
    accepts), found through Python's subclass links: no scan of the
    registry."""
    registry = ovo_base.VersionedObjectRegistry.obj_classes()
    names, seen = set(), set()
    todo = list(registry.get(objname, ()))
    while todo:
        for sub in todo.pop().__subclasses__():
            if sub in seen:
                continue
            seen.add(sub)
            todo.append(sub)
            name = sub.obj_name() if hasattr(sub, "obj_name") else None
            if name and name != objname and sub in registry.get(name, ()):
                names.add(name)
    return sorted(names)


def object_tree(*objnames):
    """``{ClassName: VERSION}``: the classes named and every class their
    objects can hold, each with the newest version registered in this
    process.

    oslo's ``obj_tree_get_versions`` follows object fields to their declared
    class; this follows, too, every registered subclass of it when the field
    accepts subclasses (``ObjectField('MigrateData', subclasses=True)`` may
    hold a ``LibvirtMigrateData``, whose versions are its own)."""
    registry = ovo_base.VersionedObjectRegistry.obj_classes()
    tree = {}

    def walk(name, parent):                  # oslo's order: depth first
        if name in tree:
            return
        classes = registry.get(name)
        if not classes:
            if parent is None:
                raise ValueError("rpcver: object %r is not registered with "
                                 "oslo.versionedobjects "
                                 "(@VersionedObjectRegistry.register)" % name)
            raise ovo_exception.UnregisteredSubobject(
                child_objname=name, parent_objname=parent)
        tree[name] = classes[0].VERSION          # newest first
        for field in classes[0].fields.values():
            objtype = _object_type(field)
            if objtype is None:
                continue
            walk(objtype._obj_name, name)
            if objtype._subclasses:
                for sub in _subclass_names(objtype._obj_name):
                    walk(sub, name)
    for objname in objnames:
        walk(objname, None)
    return tree


# --------------------------------------------------------------------------
# Receivers: registration at start-up

def service_apis(target=None, endpoints=(), objects=()):
    """``{method: hi}``: what a service with these endpoints and objects
    receives, as :func:`register_service` registers it.

    - Each endpoint's oslo ``Target(version=...)``: the API
      ``rpc_method(target.topic, endpoint_namespace)`` with hi = the highest
      endpoint version in that namespace.  rpcver registers ``[MAJOR(hi).0,
      hi]``, which is oslo's dispatch rule (same major, minor <= hi).  An
      endpoint of an older major in the same namespace (a bridge) is not
      part of that range: rpcver ranges are contiguous, so pass
      ``apis={method: (hi, lo)}`` to register a bridge.  An endpoint
      without a Target version is refused: oslo.messaging dispatches to it
      version 1.0 only (its rule is ``target.version or '1.0'``), which is
      seldom what its author meant; give it ``Target(version='1.0')`` if it
      is.
    - ``objects``: object classes, object names, or a
      ``VersionedObjectRegistry`` (subclass) for every registered class.
      Each class and every class its objects can hold (:func:`object_tree`:
      object fields, and the subclasses of a field that accepts them) is
      ``obj:ClassName`` with hi = the newest version registered in this
      process.
    """
    apis = {}
    topic = getattr(target, "topic", None)
    for endpoint in endpoints:
        etarget = getattr(endpoint, "target", None)
        version = getattr(etarget, "version", None)
        if version is None:
            raise ValueError(
                "rpcver: register_service: endpoint %r has no "
                "Target(version=...); oslo.messaging dispatches only version "
                "1.0 to such an endpoint (its rule: target.version or "
                "'1.0'), so rpcver_oslo does not guess: give it "
                "target = oslo_messaging.Target(version='X.Y'), "
                "version='1.0' if 1.0 is what it receives"
                % type(endpoint).__name__)
        if not topic:
            raise ValueError(
                "rpcver: register_service: endpoints need the server's "
                "oslo_messaging.Target(topic=..., server=...) to be named "
                "in rpcver")
        method = rpc_method(topic, etarget.namespace)
        if method not in apis or rpcver.compare(version, apis[method]) > 0:
            apis[method] = version
    for name, version in _object_versions(objects).items():
        apis[object_method(name)] = version
    return apis


def _object_versions(objects):
    registry = ovo_base.VersionedObjectRegistry
    if isinstance(objects, type) and issubclass(objects, registry) or \
            isinstance(objects, registry):
        names = list(registry.obj_classes())
    else:
        names = []
        for obj in objects:
            if isinstance(obj, str):
                names.append(obj)
            elif isinstance(obj, type) and issubclass(obj, ovo_base.VersionedObject):
                names.append(obj.obj_name())
            else:
                raise TypeError("rpcver: register_service: objects holds %r, "
                                "which is neither a VersionedObject class nor "
                                "an object name" % (obj,))
    for name in names:
        if name not in registry.obj_classes():
            raise ValueError("rpcver: register_service: object %r is not "
                             "registered with oslo.versionedobjects "
                             "(@VersionedObjectRegistry.register)" % name)
    return object_tree(*names) if names else {}


def _topics(methods):
    """The topics of the RPC APIs among METHODS (not the obj: methods)."""
    return {m.split("/", 1)[0] for m in methods
            if not m.startswith(OBJECT_PREFIX)}


def _other_service(conn, manager, wanted):
    """The refusal message when MANAGER's registrations are another
    service's than the one registering WANTED now, else None.

    A service is known by the topics it receives: the name holds RPC APIs
    of other topics only, or holds RPC APIs while this service receives
    objects alone (an API process), or the other way round."""
    if conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'view' AND "
                    "name = 'rpc_registrations'").fetchone() is None:
        return None                          # no schema yet: nothing held
    held = {row[0] for row in conn.execute(
        "SELECT method FROM rpc_registrations WHERE manager = ?", (manager,))}
    if not held:
        return None
    held_topics, topics = _topics(held), _topics(wanted)
    if held_topics == topics or held_topics & topics:
        return None
    if held_topics:
        other = "one that receives %s" % ", ".join(
            "'%s'" % t for t in sorted(held_topics))
    else:
        other = "one that receives objects only (an API process)"
    this = ("receives %s" % ", ".join("'%s'" % t for t in sorted(topics))
            if topics else "receives objects only")
    return ("rpcver: manager '%s' cannot register: the name is registered by "
            "another service, %s, and this one %s. Two services under one "
            "name replace each other's obj: ranges, so a cap could rise while "
            "the other still runs an old release. Name each service by its "
            "binary and host, binary@host: rpcver_oslo.service_name(binary, "
            "host); or, if that other service is gone for good, unregister it "
            "first: SELECT rpc_unregister('%s')"
            % (manager, other, this, manager))


def register_service(db, manager, target=None, endpoints=(), objects=(), *,
                     apis=None, extension=None, logger=None):
    """Register what the service ``manager`` receives, at its start-up.

    ``manager`` is the rpcver manager name: one per service process,
    :func:`service_name` ``(binary, host)`` (``cinder-volume@host-a``).
    ``target`` is the server's ``oslo_messaging.Target(topic, server)``;
    ``endpoints`` and ``objects`` are read as :func:`service_apis` says;
    ``apis`` adds or overrides ``{method: hi}`` / ``{method: (hi, lo)}``.
    A process that only sends (an API service) still receives objects in
    replies: register it with ``objects`` alone, so that managers backport
    what they return to it.

    Everything is registered in one transaction (:func:`rpcver.register`).
    On refusal, rpcver's message (``rpcver: manager 'm3' cannot register
    method 'volume' ... Upgrade it ...; or, to roll back, first pin ...``) is
    logged at ERROR on ``logger`` (default this module's logger) and
    :class:`rpcver.RefusedError` is raised with it: the service should exit.
    The same happens when ``manager`` is registered by another service (it
    receives other topics, or it is an objects-only API process and this one
    is not, or the other way round): two services under one name would
    replace each other's ``obj:`` ranges.  Returns ``{method: negotiated}``.
    """
    logger = logger or LOG
    wanted = service_apis(target, endpoints, objects)
    wanted.update(apis or {})
    if not wanted:
        raise ValueError("rpcver: register_service: %r receives nothing: give "
                         "endpoints with a Target, objects, or apis" % manager)
    database = _Database.of(db, extension)
    try:
        with database.use() as conn, rpcver.transaction(conn):
            refusal = _other_service(conn, manager, wanted)
            if refusal is not None:
                raise rpcver.RefusedError(refusal)
            result = rpcver.register(conn, manager, wanted)
    except rpcver.RefusedError as err:
        logger.error("%s", err)
        raise
    logger.info("rpcver: %s registered %s", manager, ", ".join(
        "%s %s (senders send %s)" % (m, _shown(wanted[m]), result[m])
        for m in sorted(wanted)))
    return result


def _shown(spec):
    if isinstance(spec, (tuple, list)):
        return "[%s, %s]" % (spec[1], spec[0]) if len(spec) == 2 else spec[0]
    return "[%s, %s]" % (_major_floor(spec), spec)


# --------------------------------------------------------------------------
# Senders: registration (rpc_register_sender), one per process and method

# (database key, sender name, method) -> _Registration.  The database key is
# the _Database of a path (one per file in the process) or the connection
# given, so that every RPCAPI of the process on one database shares one
# registration per method.
_SENDERS = {}
_SENDERS_LOCK = threading.Lock()
#: Bumped in a forked child and by unregister_senders(): a sender handle
#: whose generation is older registers again at its next use.
_SENDER_GEN = 0


class _Registration:
    """One sender registration of this process: the ranges of the live
    RPCAPI objects of one method (a count per range), and the range
    registered in rpcver, their hull."""

    def __init__(self, database):
        self.database = database
        self.ranges = {}                 # (lo, hi) -> count
        self.registered = None           # (lo, hi) in rpcver, or None

    def hull(self, ranges=None):
        ranges = self.ranges if ranges is None else ranges
        if not ranges:
            return None
        lo = min((r[0] for r in ranges), key=rpcver.version_key)
        hi = max((r[1] for r in ranges), key=rpcver.version_key)
        return (lo, hi)


def _db_key(database):
    return database if database.shared is None else database.shared


def _register_sender(database, name, method, lo, hi, logger):
    """rpc_register_sender, with a refusal logged at ERROR and raised."""
    try:
        with database.use() as conn:
            return rpcver.register_sender(conn, name, method, hi, lo)
    except rpcver.RefusedError as err:
        logger.error("%s", err)
        raise


def _acquire(database, name, method, lo, hi, logger, owner):
    """Count one more live sender of METHOD at [LO, HI] under NAME; the
    registration in rpcver grows to the hull of the live ranges.  Called
    with _SENDERS_LOCK held.  Raises rpcver.RefusedError, counting nothing,
    when rpcver refuses."""
    key = (_db_key(database), name, method)
    reg = _SENDERS.get(key) or _Registration(database)
    ranges = dict(reg.ranges)
    ranges[(lo, hi)] = ranges.get((lo, hi), 0) + 1
    hull = reg.hull(ranges)
    if hull != reg.registered:
        cap = _register_sender(database, name, method, hull[0], hull[1],
                               logger)
        logger.info("rpcver: %s registered as sender %s of %s [%s, %s] "
                    "(may send %s now)", owner, name, method, hull[0],
                    hull[1], cap)
        reg.registered = hull
    reg.ranges = ranges
    _SENDERS[key] = reg


def _release(database, name, method, lo, hi, logger):
    """Count one live sender less; the last one unregisters, a narrower
    hull registers again.  Called with _SENDERS_LOCK held."""
    key = (_db_key(database), name, method)
    reg = _SENDERS.get(key)
    if reg is None or (lo, hi) not in reg.ranges:
        return
    reg.ranges[(lo, hi)] -= 1
    if not reg.ranges[(lo, hi)]:
        del reg.ranges[(lo, hi)]
    if not reg.ranges:
        del _SENDERS[key]
        with database.use() as conn:
            rpcver.unregister_sender(conn, name, method)
        logger.info("rpcver: sender %s of %s unregistered", name, method)
        return
    hull = reg.hull()
    if hull != reg.registered:
        try:
            with database.use() as conn:
                rpcver.register_sender(conn, name, method, hull[1], hull[0])
            reg.registered = hull
        except rpcver.RefusedError as err:
            # the wider registration stays: it covers what is still sent
            logger.warning("%s (the registration stays at [%s, %s])", err,
                           reg.registered[0], reg.registered[1])


class _Sender:
    """An RPCAPI's share of its process's sender registration.

    Registered at construction; at each use (``check()``, on the client's
    hot path: one comparison) it registers again when the process forked
    since (the child's own name) or :func:`unregister_senders` ran; closed,
    it releases its share and refuses further use."""

    def __init__(self, database, name, method, lo, hi, owner, logger):
        self.database = database
        self.fixed_name = name
        self.method = method
        self.lo, self.hi = lo, hi
        self.owner = owner
        self.logger = logger
        self.name = None
        self.gen = None
        self.closed = False
        self.check()

    def check(self):
        if self.gen == _SENDER_GEN:
            return
        if self.closed:
            raise rpcver.RpcverError(
                "rpcver: %s is closed: its sender registration for method "
                "'%s' is released; make a new %s to send"
                % (self.owner, self.method, self.owner))
        with _SENDERS_LOCK:
            if self.gen == _SENDER_GEN:
                return
            name = self.fixed_name or sender_name()
            _acquire(self.database, name, self.method, self.lo, self.hi,
                     self.logger, self.owner)
            self.name, self.gen = name, _SENDER_GEN

    def close(self):
        with _SENDERS_LOCK:
            if self.closed:
                return
            self.closed = True
            current, self.gen = self.gen == _SENDER_GEN, None
            if current:
                _release(self.database, self.name, self.method, self.lo,
                         self.hi, self.logger)


def heartbeat_senders(logger=None):
    """Record every sender name of this process as seen now (rpcver's
    ``rpc_heartbeat``), and register again what is missing: a name that was
    expired (``rpc_expire``) or a registration an operator removed while
    this process still sends.

    Returns ``{sender name: True}`` for a name that was registered and
    ``False`` for one that had to be registered again (logged at WARNING).
    A registration refused now (the receivers moved on) is logged at ERROR
    and raises :class:`rpcver.RefusedError`.  Call it from the service's
    periodic task, as often as its report_state (Cinder: ``report_interval``,
    10 s); ``rpc_expire(seconds)`` run by the operator must use seconds well
    above that.  It writes (one transaction per name): it is not for the
    path of each call.
    """
    logger = logger or LOG
    result = {}
    with _SENDERS_LOCK:
        names = {}
        for (_, name, method), reg in _SENDERS.items():
            if reg.registered is not None:
                names.setdefault((reg.database, name), []).append(
                    (method, reg.registered))
        for (database, name), methods in sorted(
                names.items(), key=lambda item: item[0][1]):
            with database.use() as conn, rpcver.transaction(conn):
                alive = rpcver.heartbeat(conn, name)
                held = {row[0]: (row[1], row[2]) for row in conn.execute(
                    "SELECT method, lo, hi FROM rpc_senders WHERE sender = ?",
                    (name,))}
                missing = [(m, r) for m, r in methods
                           if held.get(m) != (rpcver.normalize(r[0]),
                                              rpcver.normalize(r[1]))]
                for method, (lo, hi) in missing:
                    try:
                        rpcver.register_sender(conn, name, method, hi, lo)
                    except rpcver.RefusedError as err:
                        logger.error("%s", err)
                        raise
                    logger.warning(
                        "rpcver: sender %s of %s [%s, %s] was not registered "
                        "(expired, or unregistered by an operator) while "
                        "this process still sends: registered again",
                        name, method, lo, hi)
            result[name] = alive and not missing
    return result


def unregister_senders():
    """Unregister every sender registration of this process (a service's
    stop).  Its :class:`RPCAPI` objects register again at their next use.
    Returns the number of registrations removed.  Also run at the exit of
    the interpreter (``atexit``: a normal exit, not ``os._exit`` nor a
    kill), for those a process did not unregister itself."""
    global _SENDER_GEN
    removed = 0
    with _SENDERS_LOCK:
        entries = list(_SENDERS.items())
        _SENDERS.clear()
        _SENDER_GEN += 1
        for (_, name, method), reg in entries:
            if reg.registered is None:
                continue
            with reg.database.use() as conn:
                removed += rpcver.unregister_sender(conn, name, method)
    return removed


def _unregister_at_exit():
    """unregister_senders() at the interpreter's exit, for the databases
    still there: a database file that is gone (a test's) is not created
    again, and a failure is logged, never raised."""
    with _SENDERS_LOCK:
        for key in [k for k, reg in _SENDERS.items()
                    if reg.database.path is not None
                    and not os.path.exists(reg.database.path)]:
            del _SENDERS[key]
    try:
        unregister_senders()
    except Exception as err:              # at exit: say it, do not raise
        LOG.warning("rpcver: could not unregister this process's senders "
                    "at exit: %s", err)


atexit.register(_unregister_at_exit)


# --------------------------------------------------------------------------
# Senders: the capped client

#: What oslo.messaging accepts as a version: MAJOR.MINOR[.REVISION].
_OSLO_VERSION = re.compile(r"\A[0-9]+\.[0-9]+(\.[0-9]+)?\Z")


class _Chosen(str):
    """A version chosen by :meth:`RPCAPI._compat_ver`, carrying the answer
    it was chosen by, so that the ``prepare()`` of the same call uses that
    answer instead of asking again (once: a second prepare asks)."""


class CappedClient:
    """An oslo.messaging ``RPCClient`` whose cap is rpcver's answer now.

    ``prepare()`` and ``can_send_version()`` ask rpcver on every use
    (``rpc_max_send(method, sender_hi, sender_lo)`` and ``rpc_can_send`` in
    one statement) and pass the answer to oslo as the prepared context's
    ``version_cap``, so oslo's own check applies too.  ``call`` and ``cast``
    prepare first.  Anything else is the oslo client's.

    One client is one RPC API, one rpcver method: ``prepare()`` may address
    another server, fanout, or a per-server queue of the API (topic
    ``TOPIC.<anything>``, as Cinder's ``cinder-volume.host@backend``), but
    not another topic or namespace, which is another API with versions of
    its own: that raises ValueError (use that API's own RPCAPI class).

    Versions are oslo.messaging's: text ``MAJOR.MINOR[.REVISION]``; anything
    else raises :class:`rpcver.VersionError`, in ``can_send_version()`` as in
    ``prepare()`` (oslo raises for them both too).  None, or no version,
    means the client target's version (``RPC_API_VERSION``) in both.
    """

    _marker = object()

    def __init__(self, client, db, method, sender_hi, sender_lo=None,
                 sender_name=None):
        self._client = client
        self._db = _Database.of(db)
        self.method = method
        self.sender_hi = rpcver.normalize(sender_hi)
        self.sender_lo = rpcver.normalize(sender_lo or _major_floor(sender_hi))
        self.sender_name = sender_name or "sender"
        if getattr(client, "version_cap", None) is not None:
            raise TypeError(_static_cap(self.sender_name, client.version_cap,
                                        method))
        # The RPCAPI's sender registration (None for a client made alone):
        # checked before every answer, so a forked child registers its own.
        self._sender = None

    def __getattr__(self, name):
        if name == "_client":             # not set yet: no recursion
            raise AttributeError(name)
        return getattr(self._client, name)

    @property
    def target(self):
        return self._client.target

    _ASKS = {}

    def _sql(self, n):
        """One statement: the cap, and for each of N versions whether it
        may be sent: within the sender's range, at or below the cap and
        accepted by every receiver.  One statement reads one snapshot of
        the database, so the answers agree with each other."""
        sql = self._ASKS.get(n)
        if sql is None:
            checks = "".join(
                ", CASE WHEN rpc_version_cmp(?{v}, ?3) < 0 THEN 0 "
                "WHEN cap IS NULL THEN 0 "
                "ELSE rpc_version_cmp(?{v}, cap) <= 0 AND rpc_can_send(?1, ?{v}) "
                "END".format(v=i + 4) for i in range(n))
            sql = self._ASKS[n] = (
                "SELECT cap%s FROM (SELECT rpc_max_send(?1, ?2, ?3) AS cap)"
                % checks)
        return sql

    def _version(self, version):
        """VERSION as oslo.messaging will send it (the target's when None or
        not given); VersionError when oslo could not."""
        if version is self._marker or version is None:
            version = self._client.target.version or self.sender_hi
        if not isinstance(version, str) or not _OSLO_VERSION.match(version):
            raise rpcver.VersionError(
                "rpcver: %s: %r is not an oslo.messaging version: oslo needs "
                "text MAJOR.MINOR (such as '3.0'), which it sends in the "
                "message and compares with each endpoint's Target version"
                % (self.sender_name, version))
        return version

    def _ask(self, versions=()):
        """(cap, [ok, ...]): rpcver's cap now, and whether each of VERSIONS
        may be sent, in one answer."""
        if self._sender is not None:
            self._sender.check()
        with self._db.use() as conn:
            row = rpcver._one_row(conn, self._sql(len(versions)), (
                self.method, self.sender_hi, self.sender_lo) + tuple(versions))
        return row[0], [bool(ok) for ok in row[1:]]

    def _chosen(self, version, cap, ok):
        chosen = _Chosen(version)
        chosen._rpcver_answer = (self, cap, ok)
        return chosen

    def _answer(self, version):
        """(version, cap, ok) for the version given: the answer it carries
        when _compat_ver chose it (used once), else rpcver's now."""
        answer = getattr(version, "_rpcver_answer", None)
        if answer is not None and answer[0] is self:
            version._rpcver_answer = None
            return str(version), answer[1], answer[2]
        version = str(self._version(version))
        cap, (ok,) = self._ask([version])
        return version, cap, ok

    @property
    def version_cap(self):
        """rpcver's cap now: the highest version of the method that every
        receiver accepts, within this sender's ``[sender_lo, sender_hi]``;
        None when there is none."""
        return self._ask()[0]

    def can_send_version(self, version=_marker):
        """True when ``version`` (default or None: the target's, i.e. the
        sender's ``RPC_API_VERSION``) may be sent now: within the sender's
        range, at or below rpcver's cap, and accepted by every receiver.
        Exactly when ``prepare(version)`` would not raise
        :class:`CannotSendError`."""
        return self._ask([self._version(version)])[1][0]

    def _check_target(self, kwargs):
        """ValueError when KWARGS would retarget the call to another RPC
        API (topic or namespace) than this client's method."""
        base = self._client.target
        namespace = kwargs.get("namespace", self._marker)
        if namespace is not self._marker and namespace != base.namespace:
            raise ValueError(
                "rpcver: %s: prepare(namespace=%r) addresses RPC API '%s', "
                "another API than '%s', which this client is capped for: its "
                "versions are that API's own, which this sender's "
                "RPC_API_VERSION does not give; send it through an RPCAPI "
                "class of its own (TOPIC = %r, NAMESPACE = %r)"
                % (self.sender_name, namespace,
                   rpc_method(base.topic or "?", namespace), self.method,
                   base.topic, namespace))
        topic = kwargs.get("topic", self._marker)
        if topic is not self._marker and topic != base.topic and not (
                base.topic and isinstance(topic, str)
                and topic.startswith(base.topic + ".")):
            raise ValueError(
                "rpcver: %s: prepare(topic=%r) addresses another RPC API than "
                "'%s', which this client is capped for: its versions are that "
                "API's own, which this sender's RPC_API_VERSION does not give; "
                "send it through that API's RPCAPI class (TOPIC = %r). A "
                "per-server queue of this API is fine: topic '%s.<server>'"
                % (self.sender_name, topic, self.method, topic, base.topic))

    def prepare(self, version=_marker, **kwargs):
        """The oslo prepared context for ``version`` (default or None: the
        target's), with rpcver's cap now as its ``version_cap``, wrapped in
        a :class:`CappedContext` (its own ``prepare()`` asks rpcver again).

        Raises :class:`CannotSendError` when nothing may be sent now, or not
        ``version``: nothing is sent then.  ValueError when ``topic`` or
        ``namespace`` name another RPC API; TypeError for ``version_cap``
        (the cap is rpcver's).
        """
        if "version_cap" in kwargs:
            raise TypeError("rpcver: %s: the version cap is rpcver's; do not "
                            "pass version_cap to prepare()" % self.sender_name)
        self._check_target(kwargs)
        version, cap, ok = self._answer(version)
        if not ok:
            raise self._cannot(version, cap)
        return CappedContext(self, self._client.prepare(
            version=version, version_cap=cap, **kwargs))

    def call(self, ctxt, method, **kwargs):
        return self.prepare().call(ctxt, method, **kwargs)

    def cast(self, ctxt, method, **kwargs):
        return self.prepare().cast(ctxt, method, **kwargs)

    def _cannot(self, version, cap):
        lo, hi = self.sender_lo, self.sender_hi
        with self._db.use() as conn:
            if cap is None:
                what = ("no version in [%s, %s] (what it can send) is "
                        "accepted by every receiver" % (lo, hi))
            elif rpcver.compare(version, hi) > 0 or \
                    rpcver.compare(version, lo) < 0:
                what = ("%s is outside [%s, %s], what it can send"
                        % (version, lo, hi))
            elif rpcver.compare(version, cap) > 0:
                what = ("%s is above %s, the highest version every receiver "
                        "accepts now; send %s or below (choose with "
                        "can_send_version() or _compat_ver())"
                        % (version, cap, cap))
            else:
                what = _below_receivers(conn, self.method, version, cap)
            explained = _explain(conn, self.method)
        message = ("rpcver: %s cannot send method '%s'%s now: %s. "
                   "rpc_explain('%s'):\n%s"
                   % (self.sender_name, self.method,
                      "" if cap is None else " at %s" % version, what,
                      self.method, explained))
        return CannotSendError(message, self.method, version, cap, (lo, hi))


def _below_receivers(conn, method, version, cap):
    """Why VERSION, at or below the cap, is not accepted by every receiver:
    some receiver's range starts above it."""
    rows = conn.execute(
        "SELECT manager, lo FROM rpc_registrations WHERE method = ? AND "
        "rpc_version_cmp(lo, ?) > 0 ORDER BY rpc_version_key(lo) DESC, "
        "manager", (method, version)).fetchall()
    if not rows:
        return ("%s is not accepted by every receiver now; %s is"
                % (version, cap))
    manager, lo = rows[0]
    return ("%s is below %s, the lowest version receiver '%s' accepts%s; "
            "send a version in [%s, %s]"
            % (version, lo, manager,
               "" if len(rows) == 1 else " (and %d more receivers start above "
               "%s)" % (len(rows) - 1, version), lo, cap))


def _static_cap(sender, cap, method):
    return ("rpcver: %s: version_cap=%r is not taken: the cap is rpcver's, "
            "asked at every call (a static cap would be silently replaced by "
            "it); to hold senders at %s, pin the method: "
            "SELECT rpc_pin('%s', '%s')" % (sender, cap, cap, method, cap))


class CappedContext:
    """oslo's prepared context (``_CallContext``), capped by rpcver.

    ``call``, ``cast``, ``target``, ``version_cap`` ... are oslo's.  Its own
    ``prepare()`` goes through the client again: it asks rpcver anew and
    refuses another RPC API, as :meth:`CappedClient.prepare` does; its
    ``can_send_version()`` asks rpcver (default: this context's version).
    """

    _marker = CappedClient._marker

    def __init__(self, client, context):
        self._capped = client
        self._context = context

    def __getattr__(self, name):
        if name in ("_context", "_capped"):      # not set yet: no recursion
            raise AttributeError(name)
        return getattr(self._context, name)

    def __repr__(self):
        return "<CappedContext %s, version_cap %s>" % (
            self._context.target, self._context.version_cap)

    def can_send_version(self, version=_marker):
        if version is self._marker or version is None:
            version = self._context.target.version
        return self._capped.can_send_version(version)

    def prepare(self, version=_marker, **kwargs):
        capped = self._capped
        if "version_cap" in kwargs:
            raise TypeError("rpcver: %s: the version cap is rpcver's; do not "
                            "pass version_cap to prepare()"
                            % capped.sender_name)
        capped._check_target(kwargs)
        if version is self._marker or version is None:
            version = self._context.target.version
        version, cap, ok = capped._answer(version)
        if not ok:
            raise capped._cannot(version, cap)
        return CappedContext(capped, self._context.prepare(
            version=version, version_cap=cap, **kwargs))


class RPCAPI:
    """A base class shaped like ``cinder.rpc.RPCAPI``, capped by rpcver.

    Class attributes, as in Cinder:

    - ``RPC_API_VERSION``: the newest version this sender's code speaks;
      rpcver's ``sender_hi`` (the sender sends ``[MAJOR.0, RPC_API_VERSION]``).
    - ``RPC_DEFAULT_VERSION``: the version ``_get_cctxt()`` uses when given
      none (default ``MAJOR.0``).
    - ``TOPIC``, ``NAMESPACE`` (optional): the oslo Target; the rpcver
      method is ``rpc_method(TOPIC, NAMESPACE)`` unless ``RPCVER_METHOD``
      names another.
    - ``BINARY``: kept for Cinder code that reads it (a service's rpcver
      name is ``service_name(BINARY, host)``).

    ``RPCAPI(db, transport, serializer=None, **client_kwargs)``: ``db`` as
    the module says; ``transport`` an oslo RPC transport; the serializer
    defaults to :class:`ObjectSerializer` on the same database (Cinder wraps
    its own in ``RequestContextSerializer``: pass that); ``client_kwargs``
    (``timeout``, ``retry``, ...) go to ``oslo_messaging.get_rpc_client``,
    except ``version_cap``, which is refused (TypeError): the cap is
    rpcver's, and a pin holds senders back.

    ``self.client`` is a :class:`CappedClient`: Cinder code that calls
    ``self.client.prepare(...)`` or ``self.client.can_send_version(...)``
    keeps working and is capped by rpcver at every call.

    The sender registration.  Made, it registers its process as a sender
    of its API, ``[MAJOR.0, RPC_API_VERSION]``, under ``sender`` (default
    :func:`sender_name`: ``binary@host/pid``); the process's objects of one
    API on one database share one registration, the hull of their ranges
    (registered when it widens, again when it narrows at a close).  A
    refusal is logged at ERROR on ``logger`` (default this module's) and
    raised as :class:`rpcver.RefusedError`, rpcver's message unchanged:
    ``rpcver: sender 'x' cannot register method 'volume' with range [3.0,
    3.17]: every receiver accepts only [4.0, 4.2], so it could send
    nothing. ...``.  In a forked child the first use registers the child
    under its own name (a ``sender`` given is used again as it is: give one
    per process).  :meth:`close` (or ``with``) releases this object's
    share; the last share of the process unregisters, and rpcver's drain
    window starts for what it sent.  Used after :meth:`close` it raises
    :class:`rpcver.RpcverError`.  Liveness: :func:`heartbeat_senders` from
    the service's periodic task.
    """

    RPC_API_VERSION = None
    RPC_DEFAULT_VERSION = None
    TOPIC = None
    NAMESPACE = None
    BINARY = None
    RPCVER_METHOD = None

    def __init__(self, db, transport, serializer=None, extension=None, *,
                 sender=None, logger=None, **client_kwargs):
        cls = type(self)
        if not cls.RPC_API_VERSION:
            raise TypeError("rpcver: %s: set RPC_API_VERSION, the newest "
                            "version this sender speaks" % cls.__name__)
        try:
            sender_hi = rpcver.normalize(cls.RPC_API_VERSION)
        except rpcver.VersionError as err:
            raise rpcver.VersionError("rpcver: %s.RPC_API_VERSION: %s"
                                      % (cls.__name__, str(err)[8:]))
        if not isinstance(cls.RPC_API_VERSION, str) or \
                not _OSLO_VERSION.match(cls.RPC_API_VERSION):
            raise rpcver.VersionError(
                "rpcver: %s.RPC_API_VERSION: %r is not an oslo.messaging "
                "version: oslo needs text MAJOR.MINOR (such as '%s')"
                % (cls.__name__, cls.RPC_API_VERSION, sender_hi))
        self.method = cls.RPCVER_METHOD or rpc_method(cls.TOPIC, cls.NAMESPACE)
        if client_kwargs.get("version_cap") is not None:
            raise TypeError(_static_cap(cls.__name__,
                                        client_kwargs["version_cap"],
                                        self.method))
        client_kwargs.pop("version_cap", None)
        self._db = _Database.of(db, extension)
        if serializer is None:
            serializer = ObjectSerializer(self._db)
        self.serializer = serializer
        target = messaging.Target(topic=cls.TOPIC, namespace=cls.NAMESPACE,
                                  version=cls.RPC_API_VERSION)
        oslo_client = messaging.get_rpc_client(
            transport, target, serializer=serializer, **client_kwargs)
        self.client = CappedClient(oslo_client, self._db, self.method,
                                   sender_hi, sender_name=cls.__name__)
        # Register as a sender of the API last: a refusal (logged, raised)
        # leaves nothing registered.
        self._sender = _Sender(self._db, sender, self.method,
                               self.client.sender_lo, self.client.sender_hi,
                               cls.__name__, logger or LOG)
        self.client._sender = self._sender

    @property
    def sender_name(self):
        """The rpcver sender name this object is registered under now."""
        return self._sender.name

    def close(self):
        """Release this object's share of the process's sender registration
        of its API: the last one of the process (on this database and name)
        unregisters it, and rpcver's drain window for what it sent starts.
        Further use raises :class:`rpcver.RpcverError`.  Closing twice is
        fine."""
        self._sender.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    @property
    def version_cap(self):
        """rpcver's cap for this API now (None: nothing may be sent)."""
        return self.client.version_cap

    def can_send_version(self, version=CappedClient._marker):
        return self.client.can_send_version(version)

    def prepare(self, version=None, **kwargs):
        """``self.client.prepare``: capped by rpcver now."""
        return self.client.prepare(version=version, **kwargs)

    def _compat_ver(self, current, *legacy):
        """Cinder's: the first of ``current, *legacy`` that may be sent now,
        else the last (which ``prepare`` then refuses).

        All of them are checked in one answer of rpcver's, and the version
        returned carries that answer: the ``prepare()`` / ``_get_cctxt()``
        it is given to next uses it (once) instead of asking again, so a pin
        committed in between cannot turn the call's choice into a refusal.
        """
        versions = (current,) + legacy
        cap, oks = self.client._ask([self.client._version(v)
                                     for v in versions])
        for version, ok in zip(versions, oks):
            if ok:
                return self.client._chosen(version, cap, True)
        return self.client._chosen(versions[-1], cap, False)

    def _get_cctxt(self, version=None, **kwargs):
        """Cinder's: prepare for ``version`` (default ``RPC_DEFAULT_VERSION``,
        else ``MAJOR.0``); a tuple of versions picks with ``_compat_ver``."""
        if version is None:
            version = self.RPC_DEFAULT_VERSION or self.client.sender_lo
        if isinstance(version, tuple):
            version = self._compat_ver(*version)
        return self.client.prepare(version=version, **kwargs)


# --------------------------------------------------------------------------
# Objects: backported per class

#: oslo.versionedobjects stashes the version manifest on the object being
#: serialized (obj_make_compatible_from_manifest sets _obj_version_manifest,
#: then deletes it): two threads serializing one instance (a cached object
#: returned by concurrent calls) would race on it.  Every serialization of
#: this module runs under this lock (pure Python work: under the GIL it costs
#: no parallelism).
_SERIALIZING = threading.RLock()

os.register_at_fork(after_in_child=_after_fork_in_child)


def _vt(version):
    return versionutils.convert_version_to_tuple(version)


class ObjectSerializer(ovo_base.VersionedObjectSerializer):
    """A ``VersionedObjectSerializer`` that backports what it sends.

    Every versioned object it serializes (an argument, in a list or dict, or
    a server's reply) goes out at the versions every receiver accepts:
    ``caps`` holds, for the object's class and every class its objects can
    hold (:func:`object_tree`, subclasses included), ``rpc_max_send(
    'obj:Name', VERSION)`` (``VERSION`` the newest registered in this
    process), asked at every serialization, so never stale.  Each object in
    the tree -- the object, a child, each element of a list -- goes at the
    cap of its own class (a subclass's own, not its field's declared
    class's), except an instance received from an older peer (its
    ``VERSION`` below the cap): it keeps that version unless it holds data
    that version cannot carry (a field set since), then it goes at the cap.
    Raises :class:`CannotSendError` when no version of a class may be sent
    (no receiver registered it, or none accepts what this process can
    produce).

    Deserializing is oslo's.  Set ``OBJ_BASE_CLASS`` in a subclass for a
    project's object base (Cinder's ``CinderObject``).
    """

    def __init__(self, db, extension=None):
        super().__init__()
        self._db = _Database.of(db, extension)

    def caps(self, objname):
        """``{ClassName: version}`` for ``objname``'s tree, rpcver's caps now."""
        tree = object_tree(objname)
        with self._db.use() as conn:
            caps = {name: rpcver.max_send(conn, object_method(name), version)
                    for name, version in tree.items()}
            missing = [name for name, cap in caps.items() if cap is None]
            if not missing:
                return caps
            name = objname if objname in missing else missing[0]
            method = object_method(name)
            explained = _explain(conn, method)
        version = tree[name]
        raise CannotSendError(
            "rpcver: cannot send object %s: no version of '%s' in [%s, %s] "
            "(what this process has) is accepted by every receiver%s. "
            "rpc_explain('%s'):\n%s"
            % (objname, method, _major_floor(version), rpcver.normalize(version),
               "" if name == objname else " (%s holds a %s)" % (objname, name),
               method, explained),
            method, None, None, (_major_floor(version), version))

    def backport(self, obj):
        """The primitive of ``obj`` at the versions every receiver accepts
        (see the class)."""
        caps = self.caps(obj.obj_name())
        with _SERIALIZING:
            return _primitive(obj, caps, _send_version(obj, caps))

    def serialize_entity(self, context, entity):
        if isinstance(entity, (tuple, list, set, dict)):
            return self._process_iterable(context, self.serialize_entity,
                                          entity)
        if isinstance(entity, ovo_base.VersionedObject):
            return self.backport(entity)
        return super().serialize_entity(context, entity)


def _send_version(obj, caps):
    """The version OBJ goes at: its class's cap; an instance received at an
    older version keeps it, unless it holds data that version cannot carry.
    None for a class without a cap (not in the tree: left as oslo does)."""
    cap = caps.get(obj.obj_name())
    if cap is None:
        return None
    have = _vt(obj.VERSION)
    if have >= _vt(cap):
        return cap
    newest = type(obj).VERSION                 # the class's, not the instance's
    top = cap if _vt(cap) <= _vt(newest) else newest
    if _vt(top) <= have or not _holds_newer_data(obj, caps):
        return obj.VERSION
    return top


def _object_fields(obj):
    return {name for name, field in obj.fields.items()
            if isinstance(field, (ovo_fields.ObjectField,
                                  ovo_fields.ListOfObjectsField))}


def _holds_newer_data(obj, caps):
    """True when OBJ, an instance whose VERSION is older than its class's,
    has data at its own level that its VERSION cannot carry: a field set
    that its class's obj_make_compatible drops or changes at that version
    (a field set after it was received)."""
    objects = _object_fields(obj)
    primitive = {name: field.to_primitive(obj, name, getattr(obj, name))
                 for name, field in obj.fields.items()
                 if obj.obj_attr_is_set(name)}
    before = {name: None if name in objects else copy.deepcopy(value)
              for name, value in primitive.items()}
    obj.obj_make_compatible_from_manifest(primitive, obj.VERSION, caps)
    return any(name not in primitive or
               (name not in objects and primitive[name] != value)
               for name, value in before.items())


def _primitive(obj, caps, target):
    """OBJ's primitive at TARGET, each object it holds at its own version.

    oslo backports what an object holds through the manifest by the field's
    declared class, all the elements of a list alike: the children whose
    own version differs (a subclass, an instance received at an older
    version, a list of mixed versions) are made again at theirs."""
    source = obj
    if _vt(target) > _vt(obj.VERSION):
        # the instance holds data its received VERSION cannot carry: label
        # it with the class's version (oslo refuses a target above VERSION)
        source = copy.copy(obj)
        source.VERSION = target
    primitive = source.obj_to_primitive(target_version=target,
                                        version_manifest=caps)
    _fix_children(obj, obj._obj_primitive_field(primitive, "data"), caps)
    return primitive


def _fix_children(obj, data, caps):
    for name in _object_fields(obj):
        if not obj.obj_attr_is_set(name) or name not in data:
            continue                        # unset, or dropped by the parent
        value = getattr(obj, name)
        if isinstance(value, list):
            if not isinstance(data[name], list) or \
                    len(data[name]) != len(value):
                continue                    # rewritten by the parent's code
            slots = list(enumerate(value))
            holder = data[name]
        else:
            slots = [(name, value)]
            holder = data
        for key, child in slots:
            if not isinstance(child, ovo_base.VersionedObject):
                continue
            prim = holder[key]
            if not isinstance(prim, dict) or prim.get(
                    child._obj_primitive_key("name")) != child.obj_name():
                continue
            target = _send_version(child, caps)
            if target is None:
                continue
            if _vt(prim[child._obj_primitive_key("version")]) != _vt(target):
                holder[key] = _primitive(child, caps, target)
            else:
                _fix_children(child, child._obj_primitive_field(prim, "data"),
                              caps)
