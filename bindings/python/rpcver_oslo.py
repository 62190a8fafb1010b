"""rpcver for OpenStack services: oslo.messaging and oslo.versionedobjects
capped by rpcver at call time.

Cinder's rolling-upgrade design, with rpcver's database as the place where
every service writes what it can receive:

- :func:`register_service` at a manager's start-up registers, per RPC API,
  the versions its endpoints accept (read from their oslo
  ``Target(version=...)``) and, per object class, the object versions it
  understands (method ``obj:ClassName``).  When rpcver refuses (the cluster
  may already send something it cannot receive), it logs rpcver's message
  and raises :class:`rpcver.RefusedError`, so the service exits like
  Cinder's "requirements cannot be met" rule.
- :class:`RPCAPI` is shaped like ``cinder.rpc.RPCAPI`` (``RPC_API_VERSION``,
  ``RPC_DEFAULT_VERSION``, ``TOPIC``, ``BINARY``, ``_compat_ver``,
  ``_get_cctxt``).  Its ``client`` is an oslo.messaging ``RPCClient`` capped
  by rpcver: every ``prepare()`` and ``can_send_version()`` asks rpcver at
  call time, with the class's ``RPC_API_VERSION`` as ``sender_hi``, so the
  cap is never stale (no restart or SIGHUP after an upgrade, unlike
  Cinder's cached caps).  When nothing may be sent it raises
  :class:`CannotSendError` instead of sending.
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
    rpcver_oslo.register_service("rpcver.db", "host-a",
                                 messaging.Target(topic="cinder-volume",
                                                  server="host-a"),
                                 [manager], objects=[Volume])

The database.  Every ``db`` argument is either a file path or a connection.
A path opens one connection (WAL, a 10 s busy timeout, the extension loaded
as :func:`rpcver.load` finds it) that the object's threads share under a
lock: oslo servers serialize replies in worker threads (up to 64), and
eventlet's green threads share one OS thread.  An :class:`RPCAPI` and the
:class:`ObjectSerializer` it makes share theirs.  A connection given (from
:func:`rpcver.connect`, say) is used as it is, and the caller sees to its
threads.

Method names.  An RPC API is the rpcver method ``TOPIC`` (``TOPIC/NAMESPACE``
when its oslo Target has a namespace, :func:`rpc_method`); an object class is
``obj:ClassName`` (:func:`object_method`).  Senders and receivers derive the
same names from the same oslo Targets and object classes.

Sender registration (rpcver's ``rpc_register_sender``, in flight) is not
used: this module works with the extension as it is.  When it lands,
:meth:`RPCAPI.__init__` is where a sender would register itself, so that
drain windows apply.
"""

import contextlib
import logging
import os
import sqlite3
import threading

import oslo_messaging as messaging
from oslo_versionedobjects import base as ovo_base
from oslo_versionedobjects import fields as ovo_fields

import rpcver

__all__ = [
    "CannotSendError", "RPCAPI", "CappedClient", "ObjectSerializer",
    "register_service", "service_apis", "rpc_method", "object_method",
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
    """A path, or a connection used as it is.

    A path opens one connection for the whole process, shared by its threads
    under a lock (``check_same_thread=False``; SQLite itself is built
    thread-safe): oslo servers serialize replies in a pool of up to 64
    worker threads, and one warm connection answers faster than one per
    thread.  A connection given is used as it is (the caller sees to its
    threads).  ``use()`` is a context manager that yields the connection.
    """

    def __init__(self, db, extension=None):
        self.extension = extension
        self._lock = threading.Lock()
        self._conn = None
        if isinstance(db, (str, bytes, os.PathLike)):
            path = os.fsdecode(db)
            if path in (":memory:", ""):
                raise ValueError(
                    "rpcver: %r is a private database of one connection; "
                    "rpcver_oslo's services share the database with other "
                    "processes: give a file path, or pass a connection"
                    % path)
            self.path, self.shared = path, None
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
        """DB itself when it is a _Database already (shared), else a new one."""
        return db if isinstance(db, cls) else cls(db, extension)

    def close(self):
        """Close the connection this object opened (not one given to it)."""
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    @contextlib.contextmanager
    def use(self):
        if self.shared is not None:
            yield self.shared
            return
        with self._lock:
            yield self._open()


def _explain(conn, method):
    try:
        return rpcver.explain(conn, method)
    except rpcver.RpcverError as err:        # never hide the first problem
        return "(rpc_explain failed: %s)" % err


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
      ``apis={method: (hi, lo)}`` to register a bridge.
    - ``objects``: object classes, object names, or a
      ``VersionedObjectRegistry`` (subclass) for every registered class.
      Each class and every class reachable through its object fields
      (``obj_tree_get_versions``) is ``obj:ClassName`` with hi = the newest
      version registered in this process.
    """
    apis = {}
    topic = getattr(target, "topic", None)
    for endpoint in endpoints:
        etarget = getattr(endpoint, "target", None)
        version = getattr(etarget, "version", None)
        if version is None:
            raise ValueError(
                "rpcver: register_service: endpoint %r has no "
                "Target(version=...); oslo would dispatch every version to it, "
                "which rpcver cannot register: give it "
                "target = oslo_messaging.Target(version='X.Y')"
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
    versions = {}
    for name in names:
        if name not in registry.obj_classes():
            raise ValueError("rpcver: register_service: object %r is not "
                             "registered with oslo.versionedobjects "
                             "(@VersionedObjectRegistry.register)" % name)
        ovo_base.obj_tree_get_versions(name, tree=versions)
    return versions


def register_service(db, manager, target=None, endpoints=(), objects=(), *,
                     apis=None, extension=None, logger=None):
    """Register what the service ``manager`` receives, at its start-up.

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
    Returns ``{method: negotiated}``.
    """
    logger = logger or LOG
    wanted = service_apis(target, endpoints, objects)
    wanted.update(apis or {})
    if not wanted:
        raise ValueError("rpcver: register_service: %r receives nothing: give "
                         "endpoints with a Target, objects, or apis" % manager)
    database = _Database.of(db, extension)
    try:
        with database.use() as conn:
            result = rpcver.register(conn, manager, wanted)
    except rpcver.RefusedError as err:
        logger.error("%s", err)
        raise
    finally:
        if database is not db:
            database.close()
    logger.info("rpcver: %s registered %s", manager, ", ".join(
        "%s %s (senders send %s)" % (m, _shown(wanted[m]), result[m])
        for m in sorted(wanted)))
    return result


def _shown(spec):
    if isinstance(spec, (tuple, list)):
        return "[%s, %s]" % (spec[1], spec[0]) if len(spec) == 2 else spec[0]
    return "[%s, %s]" % (_major_floor(spec), spec)


# --------------------------------------------------------------------------
# Senders: the capped client

class CappedClient:
    """An oslo.messaging ``RPCClient`` whose cap is rpcver's answer now.

    ``prepare()`` and ``can_send_version()`` ask rpcver on every use
    (``rpc_max_send(method, sender_hi, sender_lo)`` and ``rpc_can_send``
    in one query) and pass the answer to oslo as the prepared context's
    ``version_cap``, so oslo's own check applies too.  ``call`` and
    ``cast`` prepare first.  Anything else is the oslo client's.
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

    def __getattr__(self, name):
        if name == "_client":             # not set yet: no recursion
            raise AttributeError(name)
        return getattr(self._client, name)

    @property
    def target(self):
        return self._client.target

    # One statement: the cap, and whether VERSION is within the sender's
    # range, at or below the cap and accepted by every receiver (the
    # comparisons in SQL cost less than parsing versions in Python).
    _ASK = ("SELECT cap, CASE WHEN rpc_version_cmp(?4, ?3) < 0 THEN 0 "
            "WHEN cap IS NULL THEN 0 "
            "ELSE rpc_version_cmp(?4, cap) <= 0 AND rpc_can_send(?1, ?4) END "
            "FROM (SELECT rpc_max_send(?1, ?2, ?3) AS cap)")

    def _ask(self, version=None):
        """(cap, ok): rpcver's cap now, and whether VERSION may be sent."""
        with self._db.use() as conn:
            if version is None:
                return rpcver.max_send(conn, self.method, self.sender_hi,
                                       self.sender_lo), False
            cap, ok = rpcver._one_row(conn, self._ASK, (
                self.method, self.sender_hi, self.sender_lo, version))
        return cap, bool(ok)

    @property
    def version_cap(self):
        """rpcver's cap now: the highest version of the method that every
        receiver accepts, within this sender's ``[sender_lo, sender_hi]``;
        None when there is none."""
        return self._ask()[0]

    def can_send_version(self, version=_marker):
        """True when ``version`` (default: the target's, i.e. the sender's
        ``RPC_API_VERSION``) may be sent now: within the sender's range, at
        or below rpcver's cap, and accepted by every receiver."""
        if version is self._marker:
            version = self._client.target.version or self.sender_hi
        return self._ask(version)[1]

    def prepare(self, version=_marker, **kwargs):
        """The oslo prepared context for ``version`` (default: the target's),
        with rpcver's cap now as its ``version_cap``.

        Raises :class:`CannotSendError` when nothing may be sent now, or not
        ``version``: nothing is sent then.
        """
        if version is self._marker or version is None:
            version = self._client.target.version or self.sender_hi
        if "version_cap" in kwargs:
            raise TypeError("rpcver: %s: the version cap is rpcver's; do not "
                            "pass version_cap to prepare()" % self.sender_name)
        cap, ok = self._ask(version)
        if not ok:
            raise self._cannot(version, cap)
        return self._client.prepare(version=version, version_cap=cap, **kwargs)

    def call(self, ctxt, method, **kwargs):
        return self.prepare().call(ctxt, method, **kwargs)

    def cast(self, ctxt, method, **kwargs):
        return self.prepare().cast(ctxt, method, **kwargs)

    def _cannot(self, version, cap):
        lo, hi = self.sender_lo, self.sender_hi
        if cap is None:
            what = ("no version in [%s, %s] (what it can send) is accepted by "
                    "every receiver" % (lo, hi))
        elif rpcver.compare(version, hi) > 0 or rpcver.compare(version, lo) < 0:
            what = ("%s is outside [%s, %s], what it can send"
                    % (version, lo, hi))
        else:
            what = ("%s is above %s, the highest version every receiver "
                    "accepts now; send %s or below (choose with "
                    "can_send_version() or _compat_ver())" % (version, cap, cap))
        with self._db.use() as conn:
            explained = _explain(conn, self.method)
        message = ("rpcver: %s cannot send method '%s'%s now: %s. "
                   "rpc_explain('%s'):\n%s"
                   % (self.sender_name, self.method,
                      "" if cap is None else " at %s" % version, what,
                      self.method, explained))
        return CannotSendError(message, self.method, version, cap, (lo, hi))


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
    - ``BINARY``: kept for Cinder code that reads it; rpcver does not use it.

    ``RPCAPI(db, transport, serializer=None, **client_kwargs)``: ``db`` as
    the module says; ``transport`` an oslo RPC transport; the serializer
    defaults to :class:`ObjectSerializer` on the same database;
    ``client_kwargs`` (``timeout``, ``retry``, ...) go to
    ``oslo_messaging.get_rpc_client``.

    ``self.client`` is a :class:`CappedClient`: Cinder code that calls
    ``self.client.prepare(...)`` or ``self.client.can_send_version(...)``
    keeps working and is capped by rpcver at every call.
    """

    RPC_API_VERSION = None
    RPC_DEFAULT_VERSION = None
    TOPIC = None
    NAMESPACE = None
    BINARY = None
    RPCVER_METHOD = None

    def __init__(self, db, transport, serializer=None, extension=None,
                 **client_kwargs):
        cls = type(self)
        if not cls.RPC_API_VERSION:
            raise TypeError("rpcver: %s: set RPC_API_VERSION, the newest "
                            "version this sender speaks" % cls.__name__)
        try:
            sender_hi = rpcver.normalize(cls.RPC_API_VERSION)
        except rpcver.VersionError as err:
            raise rpcver.VersionError("rpcver: %s.RPC_API_VERSION: %s"
                                      % (cls.__name__, str(err)[8:]))
        self.method = cls.RPCVER_METHOD or rpc_method(cls.TOPIC, cls.NAMESPACE)
        self._db = _Database(db, extension)
        if serializer is None:
            serializer = ObjectSerializer(self._db)
        self.serializer = serializer
        target = messaging.Target(topic=cls.TOPIC, namespace=cls.NAMESPACE,
                                  version=cls.RPC_API_VERSION)
        oslo_client = messaging.get_rpc_client(
            transport, target, serializer=serializer, **client_kwargs)
        self.client = CappedClient(oslo_client, self._db, self.method,
                                   sender_hi, sender_name=cls.__name__)
        # Sender registration (rpc_register_sender) would go here once rpcver
        # has it; until then receivers' registrations alone set the cap.

    @property
    def version_cap(self):
        """rpcver's cap for this API now (None: nothing may be sent)."""
        return self.client.version_cap

    def can_send_version(self, version):
        return self.client.can_send_version(version)

    def prepare(self, version=None, **kwargs):
        """``self.client.prepare``: capped by rpcver now."""
        return self.client.prepare(
            version=self.client.target.version if version is None else version,
            **kwargs)

    def _compat_ver(self, current, *legacy):
        """Cinder's: the first of ``current, *legacy`` that may be sent now,
        else the last (which ``prepare`` then refuses if it may not be)."""
        versions = (current,) + legacy
        for version in versions[:-1]:
            if self.client.can_send_version(version):
                return version
        return versions[-1]

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

class ObjectSerializer(ovo_base.VersionedObjectSerializer):
    """A ``VersionedObjectSerializer`` that backports what it sends.

    Every versioned object it serializes (an argument, in a list or dict, or
    a server's reply) goes out as ``obj_to_primitive(target_version=cap,
    version_manifest=caps)``: ``caps`` holds, for the object's class and
    every class reachable through its fields, ``rpc_max_send('obj:Name',
    VERSION)`` (``VERSION`` the newest registered in this process), lowered
    to the version of an instance in the object that is older (an object
    received from an older peer keeps that older version).  Asked at every
    serialization, so never stale.  Raises :class:`CannotSendError` when no
    version of a class may be sent (no receiver registered it, or none
    accepts what this process can produce).

    Deserializing is oslo's.  Set ``OBJ_BASE_CLASS`` in a subclass for a
    project's object base (Cinder's ``CinderObject``).
    """

    def __init__(self, db, extension=None):
        super().__init__()
        self._db = _Database.of(db, extension)

    def caps(self, objname):
        """``{ClassName: version}`` for ``objname``'s tree, rpcver's caps now."""
        tree = ovo_base.obj_tree_get_versions(objname)
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
        """The primitive of ``obj`` at the versions every receiver accepts.

        Each class goes at ``min(rpcver's cap, the lowest VERSION of its
        instances in this object)``: an object received from an older peer
        keeps that older version (oslo.versionedobjects would otherwise label
        its older data with the cap)."""
        caps = self.caps(obj.obj_name())
        for name, version in _instance_versions(obj, {}).items():
            if name in caps and rpcver.compare(version, caps[name]) < 0:
                caps[name] = version
        return obj.obj_to_primitive(target_version=caps[obj.obj_name()],
                                    version_manifest=caps)

    def serialize_entity(self, context, entity):
        if isinstance(entity, (tuple, list, set, dict)):
            return self._process_iterable(context, self.serialize_entity,
                                          entity)
        if isinstance(entity, ovo_base.VersionedObject):
            return self.backport(entity)
        return super().serialize_entity(context, entity)


def _instance_versions(obj, found):
    """{ClassName: lowest VERSION} over OBJ and the objects it holds."""
    name = obj.obj_name()
    if name not in found or rpcver.compare(obj.VERSION, found[name]) < 0:
        found[name] = obj.VERSION
    for field_name, field in obj.fields.items():
        if not isinstance(field, (ovo_fields.ObjectField,
                                  ovo_fields.ListOfObjectsField)) or \
                not obj.obj_attr_is_set(field_name):
            continue
        value = getattr(obj, field_name)
        for child in value if isinstance(value, list) else [value]:
            if isinstance(child, ovo_base.VersionedObject):
                _instance_versions(child, found)
    return found
