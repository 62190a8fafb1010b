"""Tests of the Python binding, against the real extension (no mocks).

    cd bindings/python && /usr/bin/python3 -m unittest -v
    /usr/bin/python3 -m unittest discover -s bindings/python -v    # repo root

The extension is found as rpcver.load describes: $RPCVER_EXTENSION when set,
else the repository's ./rpcver (build it with `make`).
"""

import os
import random
import re
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import unittest

import rpcver

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.normpath(os.path.join(HERE, "..", ".."))
EXAMPLE = os.path.join(REPO, "examples", "python", "service.py")


def setUpModule():
    if not hasattr(sqlite3.Connection, "enable_load_extension"):
        raise RuntimeError(
            "this Python (%s) has a sqlite3 module without extension loading; "
            "run the tests with Debian's /usr/bin/python3" % sys.executable)
    try:
        rpcver.connect(":memory:").close()
    except rpcver.RpcverError as err:
        raise RuntimeError("%s\n(build the extension with `make` at the "
                           "repository root)" % err)


def registrations(conn, manager=None):
    sql = "SELECT manager, method, lo, hi FROM rpc_registrations"
    if manager is None:
        return sorted(conn.execute(sql).fetchall())
    return sorted(conn.execute(sql + " WHERE manager = ?", (manager,)))


class Base(unittest.TestCase):
    def setUp(self):
        self.conn = rpcver.connect(":memory:")
        self.addCleanup(self.conn.close)


class FileBase(unittest.TestCase):
    def setUp(self):
        tmp = tempfile.TemporaryDirectory(prefix="rpcver-py-")
        self.addCleanup(tmp.cleanup)
        self.dir = tmp.name
        self.db = os.path.join(self.dir, "cluster.db")

    def open(self, **kw):
        conn = rpcver.connect(self.db, **kw)
        self.addCleanup(conn.close)
        return conn


# ---------------------------------------------------------------------------

class TestConnectAndLoad(FileBase):
    def test_connect_memory(self):
        conn = rpcver.connect(":memory:")
        self.addCleanup(conn.close)
        self.assertIsNone(conn.isolation_level)
        self.assertFalse(conn.in_transaction)
        self.assertEqual(conn.execute("PRAGMA journal_mode").fetchone()[0],
                         "memory")
        with open(os.path.join(REPO, "VERSION")) as f:
            self.assertEqual(rpcver.extension_version(conn), f.read().strip())

    def test_connect_file_sets_wal_and_busy_timeout(self):
        conn = self.open(timeout=2.5)
        self.assertEqual(conn.execute("PRAGMA journal_mode").fetchone()[0],
                         "wal")
        self.assertEqual(conn.execute("PRAGMA busy_timeout").fetchone()[0],
                         2500)
        self.assertEqual(rpcver.register(conn, "a", {"volume": "3.16"}),
                         {"volume": "3.16"})

    def test_connect_wal_false_leaves_journal_mode(self):
        conn = self.open(wal=False)
        self.assertEqual(conn.execute("PRAGMA journal_mode").fetchone()[0],
                         "delete")

    def test_connect_uri_read_only(self):
        sqlite3.connect(self.db).close()       # a plain, empty database
        conn = rpcver.connect("file:%s?mode=ro" % self.db, uri=True, wal=False)
        self.addCleanup(conn.close)
        # read functions work without the schema and without writing
        self.assertIsNone(rpcver.max_send(conn, "volume"))
        with self.assertRaises(rpcver.RpcverError) as cm:
            rpcver.register(conn, "a", {"volume": "3.16"})
        self.assertIn("readonly", str(cm.exception))
        self.assertEqual(cm.exception.sqlite_errorname, "SQLITE_READONLY")

    def test_load_into_existing_connection(self):
        conn = sqlite3.connect(":memory:")
        self.addCleanup(conn.close)
        path = rpcver.load(conn)
        self.assertTrue(path)
        self.assertEqual(conn.execute("SELECT rpc_version_norm('3')")
                         .fetchone()[0], "3.0")
        # extension loading is switched off again afterwards
        with self.assertRaises(sqlite3.OperationalError):
            conn.execute("SELECT load_extension(?)", (path,))

    def test_load_into_default_isolation_connection(self):
        """Writes commit on a connection in sqlite3's default (legacy)
        transaction mode too."""
        legacy = sqlite3.connect(self.db, timeout=5)
        self.addCleanup(legacy.close)
        rpcver.load(legacy)
        self.assertEqual(rpcver.register(legacy, "a", {"volume": "3.16"}),
                         {"volume": "3.16"})
        self.assertFalse(legacy.in_transaction)
        self.assertEqual(rpcver.max_send(self.open(), "volume"), "3.16")

    def test_load_explicit_path(self):
        real = rpcver.load(self.plain())
        conn = rpcver.connect(":memory:", extension=real)
        self.addCleanup(conn.close)
        self.assertEqual(rpcver.max_send(conn, "x"), None)

    def test_load_bad_explicit_path(self):
        bogus = os.path.join(self.dir, "no-such-rpcver")
        with self.assertRaises(rpcver.RpcverError) as cm:
            rpcver.connect(":memory:", extension=bogus)
        msg = str(cm.exception)
        self.assertTrue(msg.startswith("rpcver: could not load"), msg)
        self.assertIn("the extension argument", msg)
        self.assertIn(bogus, msg)
        self.assertNotIn("/usr/lib/rpcver/rpcver", msg)   # no silent fallback

    def test_load_environment_variable(self):
        real = rpcver.load(self.plain())
        bogus = os.path.join(self.dir, "env-rpcver")
        saved = os.environ.get(rpcver.ENV_EXTENSION)
        self.addCleanup(self._restore_env, saved)
        os.environ[rpcver.ENV_EXTENSION] = bogus
        with self.assertRaises(rpcver.RpcverError) as cm:
            rpcver.connect(":memory:")
        self.assertIn("$RPCVER_EXTENSION", str(cm.exception))
        self.assertIn(bogus, str(cm.exception))
        os.environ[rpcver.ENV_EXTENSION] = real
        conn = rpcver.connect(":memory:")
        conn.close()

    def test_load_default_locations_listed(self):
        saved_env = os.environ.pop(rpcver.ENV_EXTENSION, None)
        self.addCleanup(self._restore_env, saved_env)
        saved = rpcver.DEFAULT_LOCATIONS
        self.addCleanup(setattr, rpcver, "DEFAULT_LOCATIONS", saved)
        # the real defaults: the repository's build loads, when built
        if os.path.exists(os.path.join(REPO, "rpcver.so")):
            self.assertEqual(rpcver.load(self.plain()),
                             os.path.join(REPO, "rpcver"))
        places = (os.path.join(self.dir, "x1", "rpcver"),
                  os.path.join(self.dir, "x2", "rpcver"))
        rpcver.DEFAULT_LOCATIONS = places
        with self.assertRaises(rpcver.RpcverError) as cm:
            rpcver.load(self.plain())
        msg = str(cm.exception)
        self.assertIn("the default locations", msg)
        for p in places:
            self.assertIn(p, msg)

    def plain(self):
        conn = sqlite3.connect(":memory:")
        self.addCleanup(conn.close)
        return conn

    @staticmethod
    def _restore_env(value):
        if value is None:
            os.environ.pop(rpcver.ENV_EXTENSION, None)
        else:
            os.environ[rpcver.ENV_EXTENSION] = value


# ---------------------------------------------------------------------------

VALID = ["0", "0.0", "0.0.0", "3", "3.0", "3.0.0", "3.4", "3.10", "3.9",
         "3.16", "3.17", "3.1.2", "10.20.30", "1048575", "1048575.1048575",
         "1048575.1048575.1048575", "1.0.1", 0, 3, 17, 1048575]
INVALID = ["", " 3", "3 ", "03", "3.01", "3.0.01", "00", "+3", "-3", "3.",
           ".3", "3..1", "1.2.3.4", "1048576", "3.1048576", "3.x", "v3",
           "\uff13", "\u0663", "3\n", "3\x00", "10485750", -1, 1048576,
           2 ** 40, 3.5, 3.0, b"3", None]


class TestVersions(Base):
    def sql(self, fn, *args):
        return rpcver._one(self.conn, "SELECT %s(%s)"
                           % (fn, ", ".join("?" * len(args))), args)

    def test_valid_versions_agree_with_extension(self):
        for v in VALID:
            with self.subTest(v=v):
                self.assertEqual(rpcver.version_key(v),
                                 self.sql("rpc_version_key", v))
                self.assertEqual(rpcver.normalize(v),
                                 self.sql("rpc_version_norm", v))

    def test_invalid_versions_refused_by_both(self):
        for v in INVALID:
            with self.subTest(v=v):
                with self.assertRaises(rpcver.VersionError):
                    rpcver.version_key(v)
                with self.assertRaises(rpcver.VersionError) as cm:
                    self.sql("rpc_version_key", v)
                self.assertTrue(str(cm.exception).startswith("rpcver: "))

    def test_random_strings_agree(self):
        rng = random.Random(20261126)
        alphabet = "0123456789..x "
        for _ in range(3000):
            s = "".join(rng.choice(alphabet)
                        for _ in range(rng.randint(0, 9)))
            try:
                mine = rpcver.version_key(s)
            except rpcver.VersionError:
                mine = "invalid"
            try:
                theirs = self.sql("rpc_version_key", s)
            except rpcver.VersionError:
                theirs = "invalid"
            self.assertEqual(mine, theirs, repr(s))

    def test_compare_agrees_with_extension(self):
        vs = [v for v in VALID if isinstance(v, str)]
        for a in vs:
            for b in vs:
                self.assertEqual(rpcver.compare(a, b),
                                 self.sql("rpc_version_cmp", a, b), (a, b))
        self.assertEqual(rpcver.compare("3.9", "3.10"), -1)
        self.assertEqual(rpcver.compare("3", "3.0.0"), 0)
        self.assertEqual(rpcver.compare(4, "3.99"), 1)

    def test_bool_is_not_a_version(self):
        with self.assertRaises(rpcver.VersionError):
            rpcver.version_key(True)

    def test_version_error_is_value_error(self):
        with self.assertRaises(ValueError):
            rpcver.normalize("3.01")


# ---------------------------------------------------------------------------

class TestWrites(Base):
    def upgraded(self):
        """a and b registered for volume and backup, upgrade finalized."""
        rpcver.register(self.conn, "a", {"volume": "3.17", "backup": "1.5"})
        rpcver.register(self.conn, "b", {"volume": "3.17", "backup": "1.5"})

    def test_register_returns_negotiated(self):
        self.assertEqual(
            rpcver.register(self.conn, "a", {"volume": "3.16", "backup": "1.4"}),
            {"volume": "3.16", "backup": "1.4"})
        self.assertEqual(
            rpcver.register(self.conn, "b", {"volume": "3.17", "backup": "1.5"}),
            {"volume": "3.16", "backup": "1.4"})
        self.assertEqual(rpcver.register(self.conn, "a", {"volume": "3.17"}),
                         {"volume": "3.17"})
        self.assertEqual(registrations(self.conn, "a"),
                         [("a", "backup", "1.0", "1.4"),
                          ("a", "volume", "3.0", "3.17")])
        self.assertFalse(self.conn.in_transaction)

    def test_register_bridge_and_lo_zero(self):
        self.assertEqual(
            rpcver.register(self.conn, "a", {"volume": ("3.4", "2.0"),
                                             "svc": ("42", 0),
                                             "obj:Volume": ["1.3"]}),
            {"volume": "3.4", "svc": "42.0", "obj:Volume": "1.3"})
        self.assertEqual(registrations(self.conn),
                         [("a", "obj:Volume", "1.0", "1.3"),
                          ("a", "svc", "0.0", "42.0"),
                          ("a", "volume", "2.0", "3.4")])

    def test_register_refused(self):
        self.upgraded()
        with self.assertRaises(rpcver.RefusedError) as cm:
            rpcver.register(self.conn, "c", {"volume": "3.16"})
        err = cm.exception
        self.assertIsInstance(err, rpcver.RpcverError)
        self.assertEqual(
            str(err),
            "rpcver: manager 'c' cannot register method 'volume' with range "
            "[3.0, 3.16]: senders may already be using 3.17 (the method's "
            "floor), which it cannot receive. Upgrade it to a version that "
            "accepts 3.17; or, to roll back, first pin the method: SELECT "
            "rpc_pin('volume', '3.16'); or remove stale managers "
            "(rpc_unregister, rpc_expire)")
        self.assertEqual(err.sqlite_errorname, "SQLITE_ERROR")
        self.assertIsInstance(err.__cause__, sqlite3.Error)
        self.assertFalse(self.conn.in_transaction)

    def test_register_all_or_nothing(self):
        self.upgraded()
        before = rpcver.status(self.conn)
        # backup 1.5 alone would be admitted; volume 3.16 is refused
        with self.assertRaises(rpcver.RefusedError):
            rpcver.register(self.conn, "c", {"backup": "1.5", "volume": "3.16"})
        self.assertEqual(registrations(self.conn, "c"), [])
        self.assertEqual(rpcver.status(self.conn), before)
        self.assertFalse(self.conn.in_transaction)
        # an invalid version in the last entry: nothing either
        with self.assertRaises(rpcver.VersionError):
            rpcver.register(self.conn, "c", {"backup": "1.5", "volume": "3.017"})
        self.assertEqual(registrations(self.conn, "c"), [])
        # and an existing manager keeps its old ranges when its upgrade fails
        with self.assertRaises(rpcver.RpcverError):
            rpcver.register(self.conn, "a", {"backup": "1.6",
                                             "volume": ("3.17", "3.18")})
        self.assertEqual(registrations(self.conn, "a"),
                         [("a", "backup", "1.0", "1.5"),
                          ("a", "volume", "3.0", "3.17")])
        self.assertEqual(rpcver.verify(self.conn), "ok")

    def test_register_inside_callers_transaction(self):
        self.upgraded()
        self.conn.execute("BEGIN")
        rpcver.register(self.conn, "d", {"volume": "3.17"})
        with self.assertRaises(rpcver.RefusedError):
            rpcver.register(self.conn, "c", {"backup": "1.5", "volume": "3.16"})
        self.assertTrue(self.conn.in_transaction)     # still the caller's
        self.assertEqual(registrations(self.conn, "c"), [])
        self.conn.execute("ROLLBACK")
        self.assertEqual(registrations(self.conn, "d"), [])  # caller decided

    def test_register_bad_arguments(self):
        rpcver.init(self.conn)
        with self.assertRaises(ValueError):
            rpcver.register(self.conn, "a", {})
        with self.assertRaises(TypeError):
            rpcver.register(self.conn, "a", [("volume", "3.16")])
        with self.assertRaises(ValueError):
            rpcver.register(self.conn, "a", {"volume": ("3.16", "3.0", "x")})
        with self.assertRaises(rpcver.RpcverError) as cm:
            rpcver.register(self.conn, "a", {"volume": ("3.16", "3.17")})
        self.assertNotIsInstance(cm.exception, rpcver.RefusedError)
        self.assertIn("lo 3.17 is above hi 3.16", str(cm.exception))
        with self.assertRaises(rpcver.RpcverError) as cm:
            rpcver.register(self.conn, "", {"volume": "3.16"})
        self.assertIn("manager must not be empty", str(cm.exception))
        with self.assertRaises(rpcver.VersionError) as cm:
            rpcver.register(self.conn, "a", {"volume": 3.16})
        self.assertIn("REAL", str(cm.exception))
        self.assertEqual(registrations(self.conn), [])

    def test_unregister(self):
        self.upgraded()
        self.assertEqual(rpcver.unregister(self.conn, "a", "backup"), 1)
        self.assertEqual(rpcver.unregister(self.conn, "a", "backup"), 0)
        self.assertEqual(rpcver.unregister(self.conn, "b"), 2)
        self.assertEqual(rpcver.unregister(self.conn, "nobody"), 0)
        self.assertEqual(registrations(self.conn),
                         [("a", "volume", "3.0", "3.17")])

    def test_heartbeat(self):
        self.upgraded()
        self.assertIs(rpcver.heartbeat(self.conn, "a"), True)
        self.assertIs(rpcver.heartbeat(self.conn, "nobody"), False)

    def test_expire(self):
        self.upgraded()
        self.conn.execute("UPDATE rpc_managers SET last_seen = unixepoch() - 100"
                          " WHERE manager = 'a'")
        self.assertEqual(rpcver.expire(self.conn, 3600), 0)
        self.assertEqual(rpcver.expire(self.conn, 50), 1)
        self.assertIs(rpcver.heartbeat(self.conn, "a"), False)
        self.assertEqual(registrations(self.conn, "a"), [])
        with self.assertRaises(rpcver.RpcverError) as cm:
            rpcver.expire(self.conn, -1)
        self.assertIn("seconds must be a number >= 0", str(cm.exception))

    def test_expire_max_share(self):
        self.upgraded()
        # every manager looks stale at once (a clock that jumped forward)
        self.conn.execute("UPDATE rpc_managers SET last_seen = unixepoch() - 100")
        with self.assertRaises(rpcver.RpcverError) as cm:
            rpcver.expire(self.conn, 50)
        self.assertIn("refused to remove", str(cm.exception))
        self.assertIs(rpcver.heartbeat(self.conn, "a"), True)  # still there
        self.conn.execute("UPDATE rpc_managers SET last_seen = unixepoch() - 100")
        self.assertEqual(rpcver.expire(self.conn, 50, max_share=1), 2)

    def test_pin(self):
        self.upgraded()
        self.assertEqual(rpcver.pin(self.conn, "volume", "3.16"), "3.16")
        self.assertEqual(rpcver.max_send(self.conn, "volume"), "3.16")
        # after the pin, an old manager is admitted (rollback)
        self.assertEqual(rpcver.register(self.conn, "c", {"volume": "3.16"}),
                         {"volume": "3.16"})
        self.assertEqual(rpcver.status(self.conn)[1]["state"], "pinned")
        rpcver.unregister(self.conn, "c")
        self.assertEqual(rpcver.pin(self.conn, "volume", None), "3.17")
        self.assertIsNone(rpcver.status(self.conn)[1]["pin"])

    def test_pin_refused(self):
        self.upgraded()
        with self.assertRaises(rpcver.RefusedError) as cm:
            rpcver.pin(self.conn, "volume", "2.9")
        self.assertTrue(str(cm.exception).startswith(
            "rpcver: cannot pin method 'volume' to 2.9: receiver 'a' accepts "
            "only [3.0, 3.17], so nothing could be sent."), str(cm.exception))
        self.assertIsNone(rpcver.status(self.conn)[1]["pin"])
        with self.assertRaises(rpcver.VersionError):
            rpcver.pin(self.conn, "volume", "3.1x")

    def test_forget_and_init(self):
        self.assertEqual(rpcver.init(self.conn), 3)
        self.upgraded()
        with self.assertRaises(rpcver.RpcverError) as cm:
            rpcver.forget(self.conn, "volume")
        self.assertNotIsInstance(cm.exception, rpcver.RefusedError)
        self.assertIn("still has 2 receiver(s)", str(cm.exception))
        rpcver.unregister(self.conn, "a")
        rpcver.unregister(self.conn, "b")
        self.assertIs(rpcver.forget(self.conn, "volume"), True)
        self.assertIs(rpcver.forget(self.conn, "volume"), False)
        # forgotten: an old manager may start the method again
        self.assertEqual(rpcver.register(self.conn, "c", {"volume": "3.16"}),
                         {"volume": "3.16"})

    def test_non_rpcver_errors_pass_through(self):
        with self.assertRaises(sqlite3.OperationalError) as cm:
            rpcver._one(self.conn, "SELECT no_such_function()")
        self.assertNotIsInstance(cm.exception, rpcver.RpcverError)


class TestWriteLocking(FileBase):
    """Writes take the write lock up front (BEGIN IMMEDIATE) and wait for it
    for the busy timeout."""

    def test_busy_then_nothing_changed(self):
        writer = self.open()
        rpcver.register(writer, "a", {"volume": "3.16"})
        other = sqlite3.connect(self.db, isolation_level=None)
        self.addCleanup(other.close)
        other.execute("BEGIN IMMEDIATE")
        impatient = self.open(timeout=0.2)
        with self.assertRaises(sqlite3.OperationalError) as cm:
            rpcver.register(impatient, "b", {"volume": "3.17"})
        self.assertIn("locked", str(cm.exception))
        self.assertFalse(impatient.in_transaction)
        other.execute("ROLLBACK")
        self.assertEqual(registrations(impatient, "b"), [])

    def test_write_waits_for_the_lock(self):
        rpcver.register(self.open(), "a", {"volume": "3.16"})
        other = sqlite3.connect(self.db, isolation_level=None,
                                check_same_thread=False)
        self.addCleanup(other.close)
        other.execute("BEGIN IMMEDIATE")
        release = threading.Timer(0.3, other.execute, ("COMMIT",))
        release.start()
        self.addCleanup(release.join)
        patient = self.open(timeout=10)
        t = time.monotonic()
        self.assertEqual(rpcver.register(patient, "b", {"volume": "3.17"}),
                         {"volume": "3.16"})
        self.assertGreater(time.monotonic() - t, 0.2)


# ---------------------------------------------------------------------------

class TestReads(Base):
    def setUp(self):
        super().setUp()
        rpcver.register(self.conn, "a", {"volume": "3.16"})
        rpcver.register(self.conn, "b", {"volume": "3.17"})

    def test_max_send(self):
        c = self.conn
        self.assertEqual(rpcver.max_send(c, "volume"), "3.16")
        self.assertEqual(rpcver.max_send(c, "volume", "3.17"), "3.16")
        self.assertEqual(rpcver.max_send(c, "volume", "3.10"), "3.10")
        self.assertIsNone(rpcver.max_send(c, "volume", "2.9"))
        self.assertIsNone(rpcver.max_send(c, "volume", None, "3.17"))
        self.assertEqual(rpcver.max_send(c, "volume", None, "3.5"), "3.16")
        self.assertEqual(rpcver.max_send(c, "volume", "4.1", "3.1"), "3.16")
        self.assertIsNone(rpcver.max_send(c, "unknown"))
        with self.assertRaises(rpcver.VersionError) as cm:
            rpcver.max_send(c, "volume", "3.x")
        self.assertIn("rpc_max_send: sender_hi: '3.x' is not a version",
                      str(cm.exception))

    def test_can_send(self):
        c = self.conn
        self.assertIs(rpcver.can_send(c, "volume", "3.16"), True)
        self.assertIs(rpcver.can_send(c, "volume", "3.0"), True)
        self.assertIs(rpcver.can_send(c, "volume", "3.17"), False)
        self.assertIs(rpcver.can_send(c, "volume", "2.9"), False)
        self.assertIs(rpcver.can_send(c, "unknown", "1.0"), False)
        with self.assertRaises(rpcver.VersionError):
            rpcver.can_send(c, "volume", "03.1")

    def test_check(self):
        c = self.conn
        self.assertIsNone(rpcver.check(c, "volume", "3.16"))
        self.assertIsNone(rpcver.check(c, "volume", "3.17", "3.16"))
        msg = rpcver.check(c, "volume", "3.20", "3.18")
        self.assertTrue(msg.startswith("rpcver: a manager cannot register "
                                       "method 'volume' with range "
                                       "[3.18, 3.20]"), msg)
        rpcver.register(c, "a", {"volume": "3.17"})
        self.assertIn("senders may already be using 3.17",
                      rpcver.check(c, "volume", "3.16"))
        with self.assertRaises(rpcver.VersionError):
            rpcver.check(c, "volume", "")

    def test_status_and_laggards(self):
        c = self.conn
        rpcver.register(c, "a", {"backup": "1.4"})
        self.assertEqual(rpcver.status(c), [
            {"method": "backup", "receivers": 1, "negotiated": "1.4",
             "newest": "1.4", "pin": None, "floor": "1.4", "state": "steady",
             "senders": 0, "drain_left": 0},
            {"method": "volume", "receivers": 2, "negotiated": "3.16",
             "newest": "3.17", "pin": None, "floor": "3.16",
             "state": "upgrading", "senders": 0, "drain_left": 0}])
        self.assertEqual(rpcver.laggards(c), [
            {"manager": "a", "method": "volume", "hi": "3.16",
             "newest": "3.17"}])
        rpcver.register(c, "a", {"volume": "3.17"})
        self.assertEqual(rpcver.laggards(c), [])
        self.assertEqual(rpcver.status(c)[1]["state"], "steady")

    def test_explain_and_verify(self):
        text = rpcver.explain(self.conn, "volume")
        self.assertIn("method 'volume': upgrading", text)
        self.assertIn("'a' [3.0, 3.16]", text)
        self.assertEqual(rpcver.verify(self.conn), "ok")

    def test_reads_on_database_without_schema(self):
        conn = rpcver.connect(":memory:")
        self.addCleanup(conn.close)
        self.assertIsNone(rpcver.max_send(conn, "volume"))
        self.assertIs(rpcver.can_send(conn, "volume", "1.0"), False)
        self.assertEqual(rpcver.verify(conn), "ok")


# ---------------------------------------------------------------------------

class TestClient(Base):
    def test_mixed_cluster_downgrades_then_upgrades(self):
        c = self.conn
        rpcver.register(c, "a", {"volume": "3.16"})
        rpcver.register(c, "b", {"volume": "3.17"})
        client = rpcver.Client(c, "volume", sender_hi="3.17")
        self.assertEqual(client.version_cap, "3.16")
        self.assertFalse(client.can_send_version("3.17"))
        self.assertTrue(client.can_send_version("3.16"))
        self.assertEqual(client.choose("3.16", "3.17"), "3.16")
        rpcver.register(c, "a", {"volume": "3.17"})     # last old one
        self.assertEqual(client.version_cap, "3.17")     # same object
        self.assertTrue(client.can_send_version("3.17"))
        self.assertEqual(client.choose("3.16", "3.17"), "3.17")
        rpcver.pin(c, "volume", "3.16")                  # operator rolls back
        self.assertEqual(client.choose("3.16", "3.17"), "3.16")

    def test_old_sender_caps_itself(self):
        rpcver.register(self.conn, "a", {"volume": "3.17"})
        client = rpcver.Client(self.conn, "volume", sender_hi="3.16")
        self.assertEqual(client.version_cap, "3.16")
        self.assertFalse(client.can_send_version("3.17"))
        self.assertEqual(client.choose("3.17", "3.16", "3.2"), "3.16")

    def test_explicit_version_cap(self):
        rpcver.register(self.conn, "a", {"volume": "3.17"})
        client = rpcver.Client(self.conn, "volume", version_cap="3.16",
                               sender_hi="3.17")
        self.assertEqual(client.explicit_cap, "3.16")
        self.assertEqual(client.version_cap, "3.16")
        self.assertFalse(client.can_send_version("3.17"))
        self.assertEqual(client.choose("3.17", "3.16"), "3.16")
        # an explicit cap above negotiated does not raise it
        high = rpcver.Client(self.conn, "volume", version_cap="3.20")
        self.assertEqual(high.version_cap, "3.17")
        self.assertFalse(high.can_send_version("3.18"))
        # a cap alone has no lower bound of its own
        self.assertTrue(rpcver.Client(self.conn, "volume", version_cap="3.5")
                        .can_send_version("3.0"))

    def test_none_when_nothing_fits(self):
        c = self.conn
        nobody = rpcver.Client(c, "volume", sender_hi="3.17")
        self.assertIsNone(nobody.version_cap)
        self.assertFalse(nobody.can_send_version("3.16"))
        with self.assertRaises(rpcver.RpcverError) as cm:
            nobody.choose("3.16", "3.17")
        self.assertEqual(
            str(cm.exception),
            "rpcver: none of the versions 3.17, 3.16 of method 'volume' can be "
            "sent now (version cap: none): none is at or below the cap and "
            "accepted by every receiver; see rpc_explain('volume')")
        rpcver.register(c, "a", {"volume": "3.17"})
        self.assertIsNone(rpcver.Client(c, "volume", version_cap="2.9")
                          .version_cap)
        self.assertIsNone(rpcver.Client(c, "volume", sender_hi="2.5")
                          .version_cap)
        with self.assertRaises(rpcver.RpcverError):
            rpcver.Client(c, "volume", sender_hi="2.5").choose("2.5", "2.0")

    def test_sender_range_and_bridges(self):
        c = self.conn
        rpcver.register(c, "a", {"volume": ("3.17", "0")})
        self.assertTrue(rpcver.can_send(c, "volume", "2.9"))
        client = rpcver.Client(c, "volume", sender_hi="3.17")
        self.assertEqual(client.version_cap, "3.17")
        self.assertTrue(client.can_send_version("2.9"))   # below the cap
        # a cap below this sender's lo: nothing can be sent
        rpcver.pin(c, "volume", "2.9")
        self.assertIsNone(client.version_cap)
        self.assertFalse(client.can_send_version("2.9"))
        self.assertFalse(client.can_send_version("2.5"))
        rpcver.pin(c, "volume", None)
        bridge = rpcver.Client(c, "volume", sender_hi="3.4", sender_lo="2.0")
        self.assertEqual(bridge.version_cap, "3.4")
        self.assertTrue(bridge.can_send_version("2.9"))
        # the sender's lo bounds the cap, not the versions it asks about
        self.assertTrue(bridge.can_send_version("1.9"))
        rpcver.pin(c, "volume", "1.9")
        self.assertIsNone(bridge.version_cap)
        self.assertFalse(bridge.can_send_version("1.9"))
        self.assertEqual(rpcver.Client(c, "volume", sender_hi="3.4",
                                       sender_lo="0").version_cap, "1.9")

    def test_agrees_with_its_definition(self):
        """can_send_version(v) == v <= version_cap and rpc_can_send(v)."""
        c = self.conn
        clients = [rpcver.Client(c, "volume"),
                   rpcver.Client(c, "volume", sender_hi="3.17"),
                   rpcver.Client(c, "volume", sender_hi="3.16"),
                   rpcver.Client(c, "volume", version_cap="3.16"),
                   rpcver.Client(c, "volume", "3.10", "3.17"),
                   rpcver.Client(c, "volume", sender_hi="3.17", sender_lo="2.5"),
                   rpcver.Client(c, "volume", sender_hi="2.9")]
        versions = ["2.0", "2.5", "2.9", "3.0", "3.10", "3.16", "3.17",
                    "3.18", "4.0"]
        states = [lambda: None,
                  lambda: rpcver.register(c, "a", {"volume": "3.16"}),
                  lambda: rpcver.register(c, "b", {"volume": ("3.17", "2.5")}),
                  lambda: rpcver.register(c, "a", {"volume": "3.17"}),
                  lambda: rpcver.pin(c, "volume", "3.10"),
                  lambda: rpcver.unregister(c, "a")]
        for n, change in enumerate(states):
            change()
            for i, client in enumerate(clients):
                cap = client.version_cap
                for v in versions:
                    expected = (cap is not None
                                and rpcver.compare(v, cap) <= 0
                                and rpcver.can_send(c, "volume", v))
                    self.assertEqual(client.can_send_version(v), expected,
                                     (n, client, v, cap))

    def test_bad_versions(self):
        with self.assertRaises(rpcver.VersionError) as cm:
            rpcver.Client(self.conn, "volume", sender_hi="3.017")
        self.assertTrue(str(cm.exception).startswith(
            "rpcver: Client: sender_hi: '3.017' is not a version"),
            str(cm.exception))
        with self.assertRaises(rpcver.VersionError):
            rpcver.Client(self.conn, "volume", version_cap=3.16)
        client = rpcver.Client(self.conn, "volume")
        with self.assertRaises(rpcver.VersionError):
            client.can_send_version("three")
        with self.assertRaises(rpcver.VersionError):
            client.choose("3.16", "")
        with self.assertRaises(ValueError):
            client.choose()


# ---------------------------------------------------------------------------
# Senders and drain windows (docs/in-flight.md).  Numbered: a failure names
# one case.

def senders(conn):
    return conn.execute("SELECT sender, method, lo, hi FROM rpc_senders "
                        "ORDER BY sender, method").fetchall()


def stored(conn):
    """Everything rpcver stores, to show that a refused write changed
    nothing."""
    return [conn.execute(sql).fetchall() for sql in (
        "SELECT * FROM rpc_ranges ORDER BY 1, 2",
        "SELECT * FROM rpc_sender_ranges ORDER BY 1, 2",
        "SELECT * FROM rpc_methods ORDER BY method",
        "SELECT * FROM rpc_managers ORDER BY 1")]


class TestSenders(Base):
    def setUp(self):
        super().setUp()
        rpcver.register(self.conn, "a", {"volume": "3.16"})
        rpcver.register(self.conn, "b", {"volume": "3.17"})

    def test_01_register_sender_returns_what_it_may_send(self):
        c = self.conn
        self.assertEqual(rpcver.register_sender(c, "api", "volume", "3.17"),
                         "3.16")
        self.assertEqual(rpcver.register_sender(c, "old-api", "volume",
                                                "3.10"), "3.10")
        self.assertEqual(rpcver.register_sender(c, "bridge", "volume", "4.1",
                                                "3.2"), "3.16")
        # no receivers yet: nothing to send to, nothing to contradict
        self.assertIsNone(rpcver.register_sender(c, "early", "backup", "1.4"))
        self.assertFalse(c.in_transaction)
        self.assertEqual(senders(c), [("api", "volume", "3.0", "3.17"),
                                      ("bridge", "volume", "3.2", "4.1"),
                                      ("early", "backup", "1.0", "1.4"),
                                      ("old-api", "volume", "3.0", "3.10")])
        # registering again replaces the range
        self.assertEqual(rpcver.register_sender(c, "old-api", "volume",
                                                "3.12"), "3.12")
        self.assertIn(("old-api", "volume", "3.0", "3.12"), senders(c))
        self.assertEqual(rpcver.verify(c), "ok")

    def test_02_a_sender_that_could_send_nothing_is_refused(self):
        c = self.conn
        before = stored(c)
        with self.assertRaises(rpcver.RefusedError) as cm:
            rpcver.register_sender(c, "future", "volume", "4.1")
        self.assertEqual(
            str(cm.exception),
            "rpcver: sender 'future' cannot register method 'volume' with "
            "range [4.0, 4.1]: every receiver accepts only [3.0, 3.16], so it "
            "could send nothing. Upgrade it to a range that reaches those "
            "versions, or register the receivers that accept its versions "
            "first")
        self.assertEqual(stored(c), before)
        self.assertFalse(c.in_transaction)
        # inside the caller's transaction: a savepoint, still usable after
        c.execute("BEGIN")
        rpcver.register_sender(c, "api", "volume", "3.17")
        with self.assertRaises(rpcver.RefusedError):
            rpcver.register_sender(c, "future", "volume", "4.1")
        self.assertTrue(c.in_transaction)
        c.execute("COMMIT")
        self.assertEqual(senders(c), [("api", "volume", "3.0", "3.17")])

    def test_03_a_write_that_would_leave_a_sender_nothing_is_refused(self):
        c = self.conn
        rpcver.set_drain(c, "volume", 0)          # the rule alone, no drain
        rpcver.register(c, "a", {"volume": "3.17"})
        rpcver.register_sender(c, "old-api", "volume", "3.16")
        before = stored(c)
        # a receiver that no longer takes 3.x below 3.17
        with self.assertRaises(rpcver.RefusedError) as cm:
            rpcver.register(c, "c", {"volume": ("4.0", "3.17")})
        self.assertEqual(
            str(cm.exception),
            "rpcver: the range [3.17, 4.0] of manager 'c' would leave registered "
            "sender 'old-api', which sends [3.0, 3.16], with nothing it may "
            "send for method 'volume': every receiver would accept only "
            "[3.17, 3.17]. Upgrade that sender, or unregister it first "
            "(SELECT rpc_unregister_sender('old-api', 'volume'))")
        # a pin below every version a sender sends
        rpcver.register_sender(c, "new-api", "volume", "3.17", "3.17")
        before = stored(c)
        with self.assertRaises(rpcver.RefusedError) as cm:
            rpcver.pin(c, "volume", "3.16")
        self.assertTrue(str(cm.exception).startswith(
            "rpcver: the pin of method 'volume' to 3.16 would leave "
            "registered sender 'new-api', which sends [3.17, 3.17]"),
            str(cm.exception))
        self.assertEqual(stored(c), before)
        # once the old sender is gone, the bridge is admitted
        self.assertEqual(rpcver.unregister_sender(c, "old-api"), 1)
        self.assertEqual(rpcver.register(c, "c", {"volume": ("4.0", "3.17")}),
                         {"volume": "3.17"})

    def test_04_unregister_sender(self):
        c = self.conn
        rpcver.register_sender(c, "api", "volume", "3.17")
        rpcver.register_sender(c, "api", "backup", "1.4")
        rpcver.register_sender(c, "other", "volume", "3.17")
        self.assertEqual(rpcver.unregister_sender(c, "api", "backup"), 1)
        self.assertEqual(rpcver.unregister_sender(c, "api", "backup"), 0)
        self.assertEqual(rpcver.unregister_sender(c, "nobody"), 0)
        rpcver.register_sender(c, "api", "backup", "1.4")
        self.assertEqual(rpcver.unregister_sender(c, "api"), 2)
        self.assertEqual(senders(c), [("other", "volume", "3.0", "3.17")])
        self.assertFalse(c.in_transaction)

    def test_05_bad_sender_arguments(self):
        c = self.conn
        before = stored(c)
        with self.assertRaises(rpcver.VersionError) as cm:
            rpcver.register_sender(c, "x", "volume", "3.01")
        self.assertTrue(str(cm.exception).startswith(
            "rpcver: rpc_register_sender: hi: '3.01' is not a version"),
            str(cm.exception))
        with self.assertRaises(rpcver.RpcverError) as cm:
            rpcver.register_sender(c, "x", "volume", "3.1", "3.5")
        self.assertNotIsInstance(cm.exception, rpcver.RefusedError)
        self.assertEqual(str(cm.exception),
                         "rpcver: rpc_register_sender: lo 3.5 is above hi "
                         "3.1; a sender sends the versions from lo up to hi")
        with self.assertRaisesRegex(rpcver.RpcverError, "^rpcver: "
                                    "rpc_register_sender: sender must not "
                                    "be empty"):
            rpcver.register_sender(c, "", "volume", "3.1")
        with self.assertRaisesRegex(rpcver.RpcverError, "^rpcver: "
                                    "rpc_unregister_sender: sender must not "
                                    "be empty"):
            rpcver.unregister_sender(c, "")
        self.assertEqual(stored(c), before)

    def test_06_drain_and_set_drain(self):
        bare = rpcver.connect(":memory:")
        self.addCleanup(bare.close)
        self.assertIsNone(rpcver.drain(bare))          # no schema: no window
        self.assertIsNone(rpcver.drain(bare, "volume"))
        c = self.conn
        self.assertEqual((rpcver.drain(c), rpcver.drain(c, "volume")),
                         (60, 60))                    # the default default
        self.assertEqual(rpcver.set_drain(c, None, 30), 30)
        self.assertEqual(rpcver.drain(c, "volume"), 30)
        self.assertEqual(rpcver.set_drain(c, "volume", 120), 120)
        self.assertEqual((rpcver.drain(c), rpcver.drain(c, "volume"),
                          rpcver.drain(c, "backup")), (30, 120, 30))
        self.assertEqual(rpcver.set_drain(c, "volume", None), 30)
        self.assertEqual(rpcver.drain(c, "volume"), 30)
        self.assertEqual(rpcver.set_drain(c, "volume", 0), 0)
        self.assertFalse(c.in_transaction)

    def test_07_bad_drain_arguments(self):
        c = self.conn
        rpcver.set_drain(c, "volume", 5)
        for seconds, shown in ((-1, "the INTEGER -1"), (1.5, "the REAL 1.5"),
                               ("soon", "'soon'")):
            with self.assertRaises(rpcver.RpcverError) as cm:
                rpcver.set_drain(c, "volume", seconds)
            self.assertEqual(
                str(cm.exception),
                "rpcver: rpc_drain: the window must be a whole number of "
                "seconds from 0 to 31536000 (365 days): how long a message "
                "may stay in flight, the longest call timeout or a cast's "
                "message TTL; not %s" % shown)
        with self.assertRaises(rpcver.RpcverError) as cm:
            rpcver.set_drain(c, None, None)
        self.assertTrue(str(cm.exception).startswith(
            "rpcver: rpc_drain: seconds is NULL for the default window"))
        with self.assertRaisesRegex(TypeError, "^rpcver: set_drain: seconds "
                                    "must be a whole number"):
            rpcver.set_drain(c, "volume", True)
        with self.assertRaisesRegex(rpcver.RpcverError, "^rpcver: rpc_drain: "
                                    "method must not be empty"):
            rpcver.drain(c, "")
        self.assertEqual(rpcver.drain(c, "volume"), 5)      # unchanged

    def test_08_heartbeat_and_expire_cover_senders(self):
        c = self.conn
        rpcver.register_sender(c, "api", "volume", "3.17")
        self.assertIs(rpcver.heartbeat(c, "api"), True)
        c.execute("UPDATE rpc_managers SET last_seen = unixepoch() - 100 "
                  "WHERE manager = 'api'")
        # (the only sender of its method: expire's clock-jump guard, which
        # counts senders as it counts receivers, asks for max_share 1)
        with self.assertRaises(rpcver.RpcverError) as cm:
            rpcver.expire(c, 50)
        self.assertIn("refused to remove 1 of the 1 registered sender(s) of "
                      "method 'volume'", str(cm.exception))
        self.assertEqual(rpcver.expire(c, 50, max_share=1), 1)
        self.assertEqual(senders(c), [])
        self.assertIs(rpcver.heartbeat(c, "api"), False)

    def test_09_status_and_in_flight_show_senders(self):
        c = self.conn
        self.assertEqual(rpcver.in_flight(c), [])
        rpcver.set_drain(c, "volume", 30)
        rpcver.register_sender(c, "api", "volume", "3.17")
        row = rpcver.status(c)[0]
        self.assertEqual((row["senders"], row["drain_left"]), (1, 0))
        self.assertEqual(rpcver.in_flight(c), [
            {"method": "volume", "senders": 1, "sending_lo": "3.0",
             "sending_hi": "3.16", "in_flight_lo": None,
             "in_flight_hi": None, "seconds_left": 0, "drain": 30}])
        # the sender leaves: what it could send may still be in flight
        rpcver.unregister_sender(c, "api")
        row = rpcver.status(c)[0]
        self.assertEqual(row["senders"], 0)
        self.assertGreater(row["drain_left"], 0)   # (exact: TestDrainWindow)
        (flight,) = rpcver.in_flight(c)
        self.assertEqual((flight["sending_lo"], flight["in_flight_lo"],
                          flight["in_flight_hi"], flight["drain"]),
                         (None, "3.0", "3.16", 30))


_TESTCLOCK = []          # [TemporaryDirectory, path of testclock.so]


def load_testclock():
    """tests/c/testclock.c compiled into a temporary directory and loaded, as
    tests/senders.test does: a connection whose testclock_set(unix seconds)
    sets the time of every connection opened with ``vfs=testclock`` (0: the
    real clock).  test_oslo.py uses it too.

    Compiled once per process and always loaded from that one file: the
    first library loaded registers the VFS, and a copy loaded from another
    path would set a clock of its own that the VFS never reads."""
    if not _TESTCLOCK:
        tmp = tempfile.TemporaryDirectory(prefix="rpcver-py-clock-")
        so = os.path.join(tmp.name, "testclock.so")
        subprocess.run(["cc", "-std=c11", "-Wall", "-Wextra", "-Werror",
                        "-fPIC", "-shared", "-o", so,
                        os.path.join(REPO, "tests", "c", "testclock.c")],
                       check=True, capture_output=True, timeout=60)
        _TESTCLOCK[:] = [tmp, so]
    clock = sqlite3.connect(":memory:", check_same_thread=False)
    clock.enable_load_extension(True)
    clock.load_extension(_TESTCLOCK[1])   # registers the VFS "testclock"
    clock.enable_load_extension(False)
    return clock


class TestDrainWindow(unittest.TestCase):
    """The drain window on tests/c/testclock.c's clock: a VFS whose time the
    test sets (testclock_set), compiled into the test's directory and loaded
    before rpcver, as tests/senders.test does.  No sleeping, no timing."""

    T0 = 1800000000

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory(prefix="rpcver-py-drain-")
        cls.clock = load_testclock()

    @classmethod
    def tearDownClass(cls):
        cls.clock.execute("SELECT testclock_set(0)")      # the real clock
        cls.clock.close()
        cls.tmp.cleanup()

    def at(self, seconds):
        self.clock.execute("SELECT testclock_set(?)", (self.T0 + seconds,))

    def setUp(self):
        self.at(0)
        path = os.path.join(self.tmp.name, "%s.db" % self._testMethodName)
        self.conn = rpcver.connect("file:%s?vfs=testclock" % path, uri=True)
        self.addCleanup(self.conn.close)

    def test_10_rollback_waits_out_the_drain(self):
        c = self.conn
        self.assertEqual(rpcver.set_drain(c, "volume", 5), 5)
        rpcver.register(c, "host-a", {"volume": "3.17"})
        rpcver.register(c, "host-b", {"volume": "3.17"})
        self.assertEqual(rpcver.register_sender(c, "api", "volume", "3.17"),
                         "3.17")
        self.at(10)
        self.assertEqual(rpcver.pin(c, "volume", "3.16"), "3.16")
        self.at(11)
        before = stored(c)
        with self.assertRaises(rpcver.RefusedError) as cm:
            rpcver.register(c, "host-b", {"volume": "3.16"})
        message = (
            "rpcver: manager 'host-b' cannot register method 'volume' with "
            "range [3.0, 3.16]: registered senders could send versions 3.0 to "
            "3.17 until a recent change, and messages of them may still be in "
            "flight for 5 s more (the drain window), which it could not "
            "receive. Start it after the drain, in 5 s, or register a range "
            "that accepts 3.0 to 3.17")
        self.assertEqual(str(cm.exception), message)
        self.assertEqual(stored(c), before)
        self.assertEqual(rpcver.status(c)[0]["drain_left"], 5)
        self.assertEqual(rpcver.in_flight(c), [
            {"method": "volume", "senders": 1, "sending_lo": "3.0",
             "sending_hi": "3.16", "in_flight_lo": "3.0",
             "in_flight_hi": "3.17", "seconds_left": 5, "drain": 5}])
        self.assertEqual(rpcver.check(c, "volume", "3.16"),
                         message.replace("manager 'host-b'", "a manager"))
        self.at(15)                                 # the last second
        with self.assertRaisesRegex(rpcver.RefusedError, r"for 1 s more"):
            rpcver.register(c, "host-b", {"volume": "3.16"})
        self.at(16)                                 # the window has passed
        self.assertIsNone(rpcver.check(c, "volume", "3.16"))
        self.assertEqual(rpcver.register(c, "host-b", {"volume": "3.16"}),
                         {"volume": "3.16"})
        self.assertEqual(rpcver.status(c)[0]["drain_left"], 0)
        self.assertEqual(rpcver.verify(c), "ok")

    def test_11_drain_zero_admits_at_once(self):
        c = self.conn
        rpcver.set_drain(c, None, 0)                # the default, for all
        rpcver.register(c, "host-a", {"volume": "3.17"})
        rpcver.register(c, "host-b", {"volume": "3.17"})
        rpcver.register_sender(c, "api", "volume", "3.17")
        self.at(10)
        rpcver.pin(c, "volume", "3.16")
        self.assertEqual(rpcver.register(c, "host-b", {"volume": "3.16"}),
                         {"volume": "3.16"})

    def test_12_a_sender_that_leaves_starts_the_drain(self):
        c = self.conn
        rpcver.set_drain(c, "volume", 5)
        rpcver.register(c, "a", {"volume": "3.17"})
        rpcver.register(c, "b", {"volume": "3.17"})
        rpcver.register_sender(c, "api", "volume", "4.0", "3.0")
        # the sender may be sending 3.0..3.17 right now
        with self.assertRaisesRegex(
                rpcver.RefusedError,
                r"^rpcver: manager 'c' cannot register method 'volume' with "
                r"range \[3.17, 4.0\]: registered senders may be sending "
                r"versions 3.0 to 3.17 right now"):
            rpcver.register(c, "c", {"volume": ("4.0", "3.17")})
        self.at(1)
        self.assertEqual(rpcver.unregister_sender(c, "api"), 1)
        self.at(3)
        with self.assertRaisesRegex(rpcver.RefusedError,
                                    r"may still be in flight for 4 s more"):
            rpcver.register(c, "c", {"volume": ("4.0", "3.17")})
        self.at(7)
        self.assertEqual(rpcver.register(c, "c", {"volume": ("4.0", "3.17")}),
                         {"volume": "3.17"})

    def test_13_expire_removes_a_silent_sender(self):
        c = self.conn
        rpcver.register(c, "a", {"volume": "3.17"})
        rpcver.register_sender(c, "api", "volume", "3.17")
        rpcver.register_sender(c, "quiet", "volume", "3.17")
        self.at(100)
        self.assertIs(rpcver.heartbeat(c, "api"), True)
        self.assertIs(rpcver.heartbeat(c, "a"), True)
        self.assertEqual(
            c.execute("SELECT manager, last_seen - ? FROM rpc_managers "
                      "ORDER BY 1", (self.T0,)).fetchall(),
            [("a", 100), ("api", 100), ("quiet", 0)])
        self.assertEqual(rpcver.expire(c, 60), 1)
        self.assertEqual(senders(c), [("api", "volume", "3.0", "3.17")])
        self.assertIs(rpcver.heartbeat(c, "quiet"), False)


# ---------------------------------------------------------------------------

class TestFreshness(FileBase):
    """A commit is seen by max_send on every other connection immediately,
    without any caching in Python."""

    def test_two_connections(self):
        writer, reader = self.open(), self.open()
        rpcver.register(writer, "a", {"volume": "3.16"})
        rpcver.register(writer, "b", {"volume": "3.17"})
        client = rpcver.Client(reader, "volume", sender_hi="3.17")
        for _ in range(50):                       # warm rpcver's cache
            self.assertEqual(rpcver.max_send(reader, "volume"), "3.16")
            self.assertEqual(client.version_cap, "3.16")
        rpcver.register(writer, "a", {"volume": "3.17"})
        self.assertEqual(rpcver.max_send(reader, "volume"), "3.17")
        self.assertEqual(client.choose("3.17", "3.16"), "3.17")
        rpcver.pin(writer, "volume", "3.16")
        self.assertEqual(client.choose("3.17", "3.16"), "3.16")
        self.assertFalse(client.can_send_version("3.17"))
        rpcver.pin(writer, "volume", None)
        rpcver.unregister(writer, "a")
        rpcver.unregister(writer, "b")
        self.assertIsNone(client.version_cap)

    def test_another_process(self):
        reader = self.open()
        rpcver.register(reader, "a", {"volume": "3.16"})
        self.assertEqual(rpcver.max_send(reader, "volume"), "3.16")
        code = ("import sys, rpcver; c = rpcver.connect(sys.argv[1]); "
                "print(rpcver.register(c, 'a', {'volume': '3.17'}))")
        out = subprocess.run([sys.executable, "-c", code, self.db],
                             cwd=self.dir, env=dict(os.environ,
                                                    PYTHONPATH=HERE),
                             capture_output=True, text=True, timeout=20)
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertEqual(out.stdout.strip(), "{'volume': '3.17'}")
        self.assertEqual(rpcver.max_send(reader, "volume"), "3.17")


# ---------------------------------------------------------------------------

class TestExample(unittest.TestCase):
    def run_example(self, *args, timeout=40):
        with tempfile.TemporaryDirectory(prefix="rpcver-py-") as cwd:
            return subprocess.run([sys.executable, EXAMPLE] + list(args),
                                  cwd=cwd, capture_output=True, text=True,
                                  timeout=timeout)

    def test_rolling_upgrade_demo(self):
        t = time.monotonic()
        out = self.run_example("--demo")
        self.assertLess(time.monotonic() - t, 25)
        log = out.stdout
        self.assertEqual(out.returncode, 0, log + out.stderr)
        self.assertEqual(log.splitlines()[-1], "demo: ok")

        # which version the sender used in each step, in order
        step, rounds, laggards = None, [], {}
        for line in log.splitlines():
            m = re.search(r"demo: == step (\d+): (.*)", line)
            if m:
                step = (int(m.group(1)), m.group(2))
                continue
            m = re.search(r"demo: rpc_laggards: (.*)", line)
            if m:
                laggards[step[0]] = m.group(1)
            m = re.search(r"sender: round \d+: cap (\S+), sent (.*)", line)
            if m:
                sent = re.findall(r"(\S+) to (host-\w) \(ok\)", m.group(2))
                self.assertEqual(len(sent), 2, line)
                self.assertEqual({v for v, _ in sent}, {m.group(1)}, line)
                rounds.append((step, m.group(1)))
        self.assertEqual([(s[0], v) for s, v in rounds],
                         [(1, "3.16"), (2, "3.16"), (3, "3.17"), (4, "3.17")])
        # step 2 left exactly one old receiver, host-b; step 3 upgraded it,
        # and that is when the sender switched
        self.assertEqual(laggards[2], "host-b (3.16)")
        self.assertIn("upgrade host-b to 3.17", rounds[2][0][1])
        self.assertEqual(laggards[3], "none")
        self.assertNotIn("handled extend@3.17",
                         log.split("== step 3:")[0])

        # the receivers never got a version they cannot handle from the
        # sender; the only rejection is the deliberate bug check
        self.assertEqual(re.findall(r"(host-\w): REJECTED extend@(\S+):", log),
                         [("host-b", "3.17")])
        # the too-old receiver was refused, with rpcver's message
        self.assertRegex(log, r"host-c: REFUSED at start-up: rpcver: manager "
                              r"'host-c' cannot register method 'volume' "
                              r"with range \[3\.0, 3\.16\]: senders may "
                              r"already be using 3\.17")
        self.assertIn("host-c exited with status 3 (refused)", log)
        self.assertIn("rpc_verify() = ok", log)

    def test_receiver_refused_exits_nonzero(self):
        with tempfile.TemporaryDirectory(prefix="rpcver-py-") as d:
            db = os.path.join(d, "cluster.db")
            conn = rpcver.connect(db)
            rpcver.register(conn, "a", {"volume": "3.17"})
            conn.close()
            out = subprocess.run(
                [sys.executable, EXAMPLE, "receiver", "--db", db,
                 "--name", "old", "--version", "3.16",
                 "--socket", os.path.join(d, "old.sock")],
                capture_output=True, text=True, timeout=20)
            self.assertEqual(out.returncode, 3, out.stdout + out.stderr)
            self.assertIn("old: REFUSED at start-up: rpcver: manager 'old' "
                          "cannot register method 'volume'", out.stdout)
            self.assertFalse(os.path.exists(os.path.join(d, "old.sock")))


if __name__ == "__main__":
    unittest.main()
