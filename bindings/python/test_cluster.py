"""Tests of rpcver_cluster against a real 3-node cluster of build/rpcverd.

    cd bindings/python && /usr/bin/python3 -m unittest test_cluster -v

The class starts its own cluster on free 127.0.0.1 ports, in a temporary
directory, and kills every node it started when it ends.  build/rpcverd
must exist (`make cluster`): without it these tests fail, they never skip.
The tests run in the order of their numbers and share the cluster (and its
database "rpcver"); test 01 needs it fresh.
"""

import contextlib
import io
import os
import re
import signal
import socket
import ssl
import struct
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
import unittest

import rpcver
import rpcver_cluster as rc

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.normpath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(REPO, "tests", "lib"))
import fake_dqlite  # noqa: E402  (tests/lib: a node that misbehaves)
# RPCVER_DAEMON selects another build (make test-asan: the sanitizer one).
RPCVERD = os.environ.get("RPCVER_DAEMON") or os.path.join(REPO, "build", "rpcverd")

AUTOCOMMIT_REFUSAL = (
    "rpcver: %s needs an explicit transaction on this replicated database: "
    "a write made by a function in an autocommit statement would not be "
    "replicated; call it between BEGIN and COMMIT, or write the "
    "rpc_registrations / rpc_pins views with INSERT, UPDATE or DELETE")


def free_ports(n):
    """n distinct free TCP ports on 127.0.0.1 from the kernel's ephemeral
    range, outside 20000-28999 (where tests/cluster.test picks its own)."""
    socks, ports = [], []
    try:
        while len(ports) < n:
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            socks.append(s)
            port = s.getsockname()[1]
            if not 20000 <= port <= 28999:
                ports.append(port)
    finally:
        for s in socks:
            s.close()
    return ports


def _die_with_parent():
    """In the child: SIGKILL me when the test process dies, however it dies
    (Linux's PR_SET_PDEATHSIG), so no node outlives a killed test run."""
    try:
        import ctypes
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)
    except (OSError, AttributeError):
        pass


def wait_for(what, fn, timeout, interval=0.1):
    """Call fn until it returns a true value; fail after timeout seconds."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            value = fn()
            if value:
                return value
        except (rc.Error, OSError) as exc:
            last = exc
        time.sleep(interval)
    raise AssertionError("timed out after %s s waiting for %s (last error: %s)"
                         % (timeout, what, last))


CERTS = os.path.join(REPO, "cluster", "certs.sh")


def make_certs(directory, *specs):
    """cluster/certs.sh -d directory SPEC... for each spec (a tuple)."""
    for spec in specs:
        subprocess.run(["sh", CERTS, "-d", directory] + list(spec),
                       check=True, stdout=subprocess.DEVNULL)


class Cluster:
    """Three rpcverd processes; node i at addresses[i-1], data in dirs[i-1].
    With tls, certificates are made in the temporary directory (the CA in
    certs/, nodes n1..n3, a client "svc") and every node runs with TLS;
    self.tls is then the clients' ssl.SSLContext."""

    def __init__(self, n=3, tls=False):
        self.tmp = tempfile.TemporaryDirectory(prefix="rpcver-cluster-py-")
        self.addresses = ["127.0.0.1:%d" % p for p in free_ports(n)]
        self.dirs = [os.path.join(self.tmp.name, "n%d" % (i + 1))
                     for i in range(n)]
        self.procs = {}
        self.logs = {}
        self.tls = None
        self.certs = os.path.join(self.tmp.name, "certs")
        if tls:
            make_certs(self.certs, ("ca",), ("client", "svc"),
                       *[("node", "n%d" % (i + 1)) for i in range(n)])
            self.tls = rc.tls_context(*self.cert("svc"),
                                      os.path.join(self.certs, "ca.crt"))

    def cert(self, name):
        """(certificate, key) files of name."""
        return (os.path.join(self.certs, name + ".crt"),
                os.path.join(self.certs, name + ".key"))

    def connect(self, nodes=None, **kw):
        return rc.connect(nodes or self.addresses, tls=self.tls, **kw)

    def start_node(self, node_id, join=True):
        log = open(os.path.join(self.tmp.name, "n%d.log" % node_id), "ab")
        args = [RPCVERD, "--id", str(node_id),
                "--address", self.addresses[node_id - 1],
                "--dir", self.dirs[node_id - 1]]
        if self.tls is not None:
            cert, key = self.cert("n%d" % node_id)
            args += ["--tls-cert", cert, "--tls-key", key,
                     "--tls-ca", os.path.join(self.certs, "ca.crt")]
        if join and node_id != 1:
            args += ["--join", self.addresses[0]]
        self.procs[node_id] = subprocess.Popen(
            args, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
            start_new_session=True, preexec_fn=_die_with_parent)
        log.close()
        return self.procs[node_id]

    def node_leader(self, node_id):
        """What node node_id says about the leader: (id, address)."""
        node = None
        try:
            node = rc._Node(self.addresses[node_id - 1], 2.0, tls=self.tls)
            return node.leader()
        except rc._Broken as exc:
            raise OSError(str(exc))
        finally:
            if node is not None:
                node.close()

    def start(self):
        self.start_node(1)
        wait_for("node 1 to lead", lambda: self.node_leader(1)[0] == 1, 15)
        self.start_node(2)
        self.start_node(3)
        self.wait_formed()

    def wait_formed(self, timeout=30):
        def formed():
            with contextlib.closing(self.connect(leader_timeout=2)) as conn:
                voters = [s for s in conn.cluster() if s.role == "voter"]
            return (len(voters) == len(self.addresses) and
                    all(self.node_leader(i)[0]
                        for i in range(1, len(self.addresses) + 1)
                        if self.alive(i)))
        wait_for("a cluster of %d voters" % len(self.addresses), formed,
                 timeout)

    def alive(self, node_id):
        p = self.procs.get(node_id)
        return p is not None and p.poll() is None

    def kill(self, node_id, sig=signal.SIGKILL):
        p = self.procs[node_id]
        os.kill(p.pid, sig)
        p.wait(10)

    def stop_all(self):
        """SIGTERM every node still running, then SIGKILL what remains."""
        for p in self.procs.values():
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in self.procs.values():
            try:
                p.wait(5)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(5)

    def log_tail(self, lines=15):
        out = []
        for name in sorted(os.listdir(self.tmp.name)):
            if name.endswith(".log"):
                with open(os.path.join(self.tmp.name, name), errors="replace") as f:
                    out.append("--- %s\n%s" % (name, "".join(f.readlines()[-lines:])))
        return "\n".join(out)

    def cleanup(self):
        self.stop_all()
        self.tmp.cleanup()


def manager_set(conn, pattern):
    return {r[0] for r in conn.execute(
        "SELECT DISTINCT manager FROM rpc_registrations WHERE manager LIKE ?",
        (pattern,))}


def state(conn):
    """Everything rpcver keeps, to compare before and after."""
    return [conn.execute("SELECT * FROM %s ORDER BY 1, 2" % t).fetchall()
            for t in ("rpc_registrations", "rpc_managers")] + [
        conn.execute("SELECT * FROM rpc_methods ORDER BY 1").fetchall()]


class ClusterTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        if not os.access(RPCVERD, os.X_OK):
            raise RuntimeError("%s is missing: run make cluster (at the "
                               "repository root) first" % RPCVERD)
        cls.cluster = Cluster()
        cls.addClassCleanup(cls.cluster.cleanup)
        try:
            cls.cluster.start()
        except AssertionError as exc:
            raise RuntimeError("%s\n%s" % (exc, cls.cluster.log_tail()))
        cls.nodes = list(cls.cluster.addresses)

    def connect(self, nodes=None, **kw):
        conn = rc.connect(nodes or self.nodes, **kw)
        self.addCleanup(conn.close)
        return conn

    def fail_with_logs(self, msg):
        self.fail("%s\n%s" % (msg, self.cluster.log_tail()))

    # -- the module docstring's example, as written

    def test_01_docstring_example_runs_as_written(self):
        doc = rc.__doc__
        blocks = re.findall(r"::\n\n((?:    .*\n|\n)+)", doc)
        code, expected = textwrap.dedent(blocks[0]), textwrap.dedent(blocks[1])
        code, n = re.subn(r"rpcver_cluster\.connect\(\[[^\]]*\]\)",
                          "rpcver_cluster.connect(NODES)", code)
        self.assertEqual(n, 1)
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            exec(compile(code, "rpcver_cluster docstring", "exec"),
                 {"NODES": self.nodes})
        self.assertEqual(out.getvalue().strip(), expected.strip())

    # -- the protocol

    def test_02_leader_found_through_a_follower_and_cluster_listed(self):
        conn = self.connect()
        leader = conn.leader
        followers = [a for a in self.nodes if a != leader]
        via = self.connect([followers[0]])
        self.assertEqual(via.leader, leader)
        self.assertEqual(via.leader_id, conn.leader_id)
        servers = via.cluster()
        self.assertEqual(sorted(s.id for s in servers), [1, 2, 3])
        self.assertEqual({s.address for s in servers}, set(self.nodes))
        self.assertEqual({s.role for s in servers}, {"voter"})
        with self.assertRaises(rc.NoLeaderError) as cm:
            rc.connect(["127.0.0.1:%d" % free_ports(1)[0]], leader_timeout=0.3)
        self.assertIn("no leader found", str(cm.exception))
        self.assertIsInstance(cm.exception, __import__("sqlite3").OperationalError)

    def test_03_types_round_trip(self):
        conn = self.connect()
        values = [0, 1, -1, 2**63 - 1, -2**63, 0.0, -1.5, 1e300,
                  float("inf"), "", "ascii", "a" * 7, "b" * 8,
                  "\u00fcn\u00efc\u00f8d\u00e9 \u2713 \U0001F600",
                  b"", b"\0", b"\0" * 8, bytes(range(256)), b"x" * 17, None]
        for v in values:
            with self.subTest(value=v):
                row = conn.execute("SELECT ?, typeof(?)", (v, v)).fetchone()
                self.assertEqual(row[0], v)
                self.assertIs(type(row[0]), type(v))
                self.assertEqual(row[1], {int: "integer", float: "real",
                                          str: "text", bytes: "blob",
                                          type(None): "null"}[type(v)])
        # bool is sent as an integer, like sqlite3 does
        self.assertEqual(conn.execute("SELECT ?, ?, typeof(?)",
                                      (True, False, True)).fetchone(),
                         (1, 0, "integer"))
        # through a table, all in one row, several parameters
        conn.execute("CREATE TABLE IF NOT EXISTS t_types(i, r, t, b, n)")
        conn.execute("DELETE FROM t_types")
        row = (-42, 3.25, "text\twith tab", b"\x00\xffblob", None)
        cur = conn.execute("INSERT INTO t_types VALUES (?, ?, ?, ?, ?)", row)
        self.assertEqual(cur.rowcount, 1)
        self.assertIsNone(cur.description)
        cur = conn.execute("SELECT i, r, t, b, n FROM t_types")
        self.assertEqual([d[0] for d in cur.description], ["i", "r", "t", "b", "n"])
        self.assertEqual(cur.fetchall(), [row])
        # values produced by SQL: NULLs, blobs, floats
        self.assertEqual(conn.execute(
            "SELECT NULL, x'', zeroblob(3), 1.0, 2e-3, NULL").fetchone(),
            (None, b"", b"\0\0\0", 1.0, 0.002, None))
        # what cannot be sent is refused before anything is sent
        for bad in [(object(),), (2**64,), ("nul\0inside",), {"a": 1}]:
            with self.subTest(bad=bad), self.assertRaises(rc.ProgrammingError):
                conn.execute("SELECT ?", bad)

    def test_04_many_rows_arrive_in_several_batches(self):
        conn = self.connect()
        conn.execute("DROP TABLE IF EXISTS t_many")
        conn.execute("CREATE TABLE t_many(i INTEGER PRIMARY KEY, s TEXT)")
        conn.execute("WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 "
                     "FROM n WHERE i < 5000) INSERT INTO t_many "
                     "SELECT i, printf('row %05d', i) FROM n")
        batches = []
        node = conn._node
        recv = node.recv
        node.recv = lambda want: (batches.append(want), recv(want))[1]
        rows = conn.execute("SELECT i, s FROM t_many ORDER BY i").fetchall()
        del node.recv
        self.assertEqual(len(rows), 5000)
        self.assertEqual(rows[0], (1, "row 00001"))
        self.assertEqual(rows[-1], (5000, "row 05000"))
        self.assertEqual(rows, [(i, "row %05d" % i) for i in range(1, 5001)])
        self.assertGreater(len(batches), 5, "5000 rows should need several "
                           "ROWS batches (one per ~4 KiB page)")
        # an empty result still has its columns
        cur = conn.execute("SELECT i, s FROM t_many WHERE i < 0")
        self.assertEqual(cur.fetchall(), [])
        self.assertEqual([d[0] for d in cur.description], ["i", "s"])

    def test_05_multi_statement_exec(self):
        conn = self.connect()
        conn.executescript("""
            DROP TABLE IF EXISTS t_multi;
            CREATE TABLE t_multi(x);  -- a comment; with a semicolon
            INSERT INTO t_multi VALUES (1);
            INSERT INTO t_multi VALUES ('two; three');
        """)
        self.assertEqual(conn.execute("SELECT x FROM t_multi ORDER BY rowid")
                         .fetchall(), [(1,), ("two; three",)])
        self.assertFalse(conn.in_transaction)
        # a script that opens a transaction leaves it open, and says so
        conn.executescript("BEGIN; INSERT INTO t_multi VALUES (4);")
        self.assertTrue(conn.in_transaction)
        conn.rollback()
        self.assertFalse(conn.in_transaction)
        # a failing script: the statements before the failure ran
        with self.assertRaises(rc.OperationalError) as cm:
            conn.executescript("INSERT INTO t_multi VALUES (5); "
                               "INSERT INTO no_such_table VALUES (6);")
        self.assertEqual(str(cm.exception), "no such table: no_such_table")
        self.assertEqual(conn.execute("SELECT count(*) FROM t_multi")
                         .fetchone(), (3,))

    def test_06_errors_carry_code_and_message(self):
        import sqlite3
        conn = self.connect()
        cases = [
            ("SELEC 1", (), rc.OperationalError, 1, 'near "SELEC": syntax error'),
            ("SELECT * FROM no_such_table", (), rc.OperationalError, 1,
             "no such table: no_such_table"),
            # fails at a step in the middle of a result set (dqlite 1.11
            # sends such a failure after the column names: decoded here)
            ("SELECT abs(-9223372036854775807 - 1) FROM (SELECT 1 UNION "
             "SELECT 2)", (), rc.OperationalError, 1, "integer overflow"),
            # ... after rows of the same batch (they precede the failure)
            ("SELECT CASE WHEN column1 = 3 THEN abs(-9223372036854775807 - 1)"
             " ELSE column1 END AS v FROM (VALUES (1), (2), (3))", (),
             rc.OperationalError, 1, "integer overflow"),
            # ... in a later batch, after ROWS_PART ones
            ("SELECT i, CASE WHEN i = 4000 THEN abs(-9223372036854775807 - 1)"
             " END FROM t_many ORDER BY i", (), rc.OperationalError, 1,
             "integer overflow"),
        ]
        conn.execute("CREATE TABLE IF NOT EXISTS t_uniq(x UNIQUE)")
        conn.execute("DELETE FROM t_uniq")
        conn.execute("INSERT INTO t_uniq VALUES (1)")
        cases.append(("INSERT INTO t_uniq VALUES (?)", (1,), rc.IntegrityError,
                      19, "UNIQUE constraint failed: t_uniq.x"))
        for sql, params, cls, primary, message in cases:
            with self.subTest(sql=sql):
                with self.assertRaises(cls) as cm:
                    conn.execute(sql, params)
                err = cm.exception
                self.assertIsInstance(err, sqlite3.DatabaseError)
                self.assertEqual(str(err), message)
                self.assertEqual(err.sqlite_errorcode & 0xFF, primary)
                self.assertTrue(err.sqlite_errorname.startswith(
                    "SQLITE_" + {1: "ERROR", 19: "CONSTRAINT"}[primary]))
                self.assertEqual(err.address, conn.leader)
        # the connection is still good after every one
        self.assertEqual(conn.execute("SELECT 7").fetchone(), (7,))

    def test_07_unknown_database_name_is_created(self):
        name = "fresh_%d_%d" % (os.getpid(), time.monotonic_ns())
        conn = self.connect(database=name)
        conn.execute("CREATE TABLE t(x)")
        conn.execute("INSERT INTO t VALUES ('in %s')" % name)
        other = self.connect(database=name)
        self.assertEqual(other.execute("SELECT x FROM t").fetchall(),
                         [("in %s" % name,)])
        # and it is a different database from "rpcver"
        main = self.connect()
        with self.assertRaises(rc.OperationalError):
            main.execute("SELECT x FROM t")
        # rpcver works in it too
        self.assertEqual(rpcver.register(conn, "h", {"m": "1.2"}), {"m": "1.2"})

    # -- rpcver through the cluster

    def test_08_register_through_a_follower(self):
        probe = self.connect()
        follower = [a for a in self.nodes if a != probe.leader][0]
        conn = self.connect([follower])
        self.assertNotEqual(follower, conn.leader)
        self.assertEqual(rpcver.register(conn, "via-follower",
                                         {"volume": "3.17"}),
                         {"volume": "3.17"})
        self.assertIn("via-follower", manager_set(probe, "via-follower"))

    def test_09_every_rpcver_function(self):
        conn = self.connect()
        with open(os.path.join(REPO, "VERSION")) as f:
            self.assertEqual(rpcver.extension_version(conn), f.read().strip())
        self.assertIsInstance(rpcver.init(conn), int)
        self.assertEqual(rpcver.register(conn, "fn-a", {"fn-vol": "2.5",
                                                        "fn-obj": ("2.4", "1.0")}),
                         {"fn-vol": "2.5", "fn-obj": "2.4"})
        self.assertEqual(rpcver.register(conn, "fn-b", {"fn-vol": "2.6"}),
                         {"fn-vol": "2.5"})
        self.assertEqual(rpcver.max_send(conn, "fn-vol"), "2.5")
        self.assertEqual(rpcver.max_send(conn, "fn-vol", "2.4"), "2.4")
        self.assertEqual(rpcver.max_send(conn, "fn-vol", "2.6", "2.0"), "2.5")
        self.assertIsNone(rpcver.max_send(conn, "fn-vol", "1.9"))
        self.assertIsNone(rpcver.max_send(conn, "no-such-method"))
        self.assertTrue(rpcver.can_send(conn, "fn-vol", "2.5"))
        self.assertFalse(rpcver.can_send(conn, "fn-vol", "2.6"))
        self.assertIsNone(rpcver.check(conn, "fn-vol", "2.7"))
        self.assertIn("cannot register method 'fn-vol'",
                      rpcver.check(conn, "fn-vol", "2.4"))
        status = {r["method"]: r for r in rpcver.status(conn)}
        self.assertEqual(status["fn-vol"], {
            "method": "fn-vol", "receivers": 2, "negotiated": "2.5",
            "newest": "2.6", "pin": None, "floor": "2.5",
            "state": "upgrading", "senders": 0, "drain_left": 0})
        self.assertIn({"manager": "fn-a", "method": "fn-vol", "hi": "2.5",
                       "newest": "2.6"}, rpcver.laggards(conn))
        self.assertIn("method 'fn-vol': upgrading", rpcver.explain(conn, "fn-vol"))
        self.assertTrue(rpcver.heartbeat(conn, "fn-a"))
        self.assertFalse(rpcver.heartbeat(conn, "fn-nobody"))
        self.assertEqual(rpcver.pin(conn, "fn-vol", "2.4"), "2.4")
        self.assertEqual({r["method"]: r["state"] for r in
                          rpcver.status(conn)}["fn-vol"], "pinned")
        with self.assertRaises(rpcver.RefusedError) as cm:
            rpcver.pin(conn, "fn-vol", "1.0")
        self.assertTrue(str(cm.exception).startswith(
            "rpcver: cannot pin method 'fn-vol'"), str(cm.exception))
        self.assertEqual(rpcver.pin(conn, "fn-vol", None), "2.5")
        with self.assertRaises(rpcver.VersionError) as cm:
            rpcver.max_send(conn, "fn-vol", "x.y")
        self.assertIn("'x.y' is not a version", str(cm.exception))
        self.assertEqual(cm.exception.sqlite_errorname, "SQLITE_ERROR")
        client = rpcver.Client(conn, "fn-vol", sender_hi="2.6")
        self.assertEqual(client.version_cap, "2.5")
        self.assertTrue(client.can_send_version("2.5"))
        self.assertFalse(client.can_send_version("2.6"))
        self.assertEqual(client.choose("2.6", "2.5", "2.0"), "2.5")
        self.assertEqual(rpcver.Client(conn, "fn-vol", version_cap="2.4")
                         .version_cap, "2.4")
        # senders and drain windows
        self.assertEqual(rpcver.set_drain(conn, "fn-vol", 30), 30)
        self.assertEqual(rpcver.drain(conn, "fn-vol"), 30)
        self.assertEqual(rpcver.register_sender(conn, "fn-api", "fn-vol",
                                                "2.6"), "2.5")
        with self.assertRaises(rpcver.RefusedError) as cm:
            rpcver.register_sender(conn, "fn-future", "fn-vol", "3.1")
        self.assertTrue(str(cm.exception).startswith(
            "rpcver: sender 'fn-future' cannot register method 'fn-vol'"),
            str(cm.exception))
        self.assertEqual({r["method"]: r["sending_hi"] for r in
                          rpcver.in_flight(conn)}["fn-vol"], "2.5")
        self.assertTrue(rpcver.heartbeat(conn, "fn-api"))
        self.assertEqual(rpcver.unregister_sender(conn, "fn-api"), 1)
        self.assertGreater({r["method"]: r for r in rpcver.status(conn)}
                           ["fn-vol"]["drain_left"], 0)
        # transaction(): all or nothing, through the cluster
        with self.assertRaises(ZeroDivisionError):
            with rpcver.transaction(conn):
                rpcver.register(conn, "fn-c", {"fn-vol": "2.6"})
                self.assertTrue(conn.in_transaction)
                1 / 0
        self.assertFalse(conn.in_transaction)
        self.assertEqual(manager_set(conn, "fn-c"), set())
        # expire: one manager made old with plain DML
        rpcver.register(conn, "fn-old", {"fn-vol": "2.5"})
        conn.execute("UPDATE rpc_managers SET last_seen = unixepoch() - 1000 "
                     "WHERE manager = 'fn-old'")
        self.assertEqual(rpcver.expire(conn, 500), 1)
        self.assertEqual(manager_set(conn, "fn-old"), set())
        self.assertEqual(rpcver.unregister(conn, "fn-b", "fn-vol"), 1)
        with self.assertRaises(rpcver.RpcverError):
            rpcver.forget(conn, "fn-vol")      # fn-a still receives it
        self.assertEqual(rpcver.unregister(conn, "fn-a"), 2)
        self.assertTrue(rpcver.forget(conn, "fn-obj"))
        self.assertFalse(rpcver.forget(conn, "fn-obj"))
        self.assertEqual(rpcver.verify(conn), "ok")

    def test_10_autocommit_function_write_refused_transaction_and_dml_work(self):
        import sqlite3
        conn = self.connect()
        before = state(conn)
        for func, args in [("rpc_register", "('ac-1', 'ac-m', '1.0')"),
                           ("rpc_heartbeat", "('ac-1')"),
                           ("rpc_unregister", "('ac-1')"),
                           ("rpc_pin", "('ac-m', '1.0')")]:
            with self.subTest(func=func):
                with self.assertRaises(sqlite3.Error) as cm:
                    conn.execute("SELECT %s%s" % (func, args))
                self.assertEqual(str(cm.exception),
                                 AUTOCOMMIT_REFUSAL % func)
        # through the rpcver module's error translation
        with self.assertRaises(rpcver.RpcverError) as cm:
            rpcver._one(conn, "SELECT rpc_register(?, ?, ?)",
                        ("ac-1", "ac-m", "1.0"))
        self.assertEqual(str(cm.exception),
                         AUTOCOMMIT_REFUSAL % "rpc_register")
        self.assertEqual(cm.exception.sqlite_errorname, "SQLITE_MISUSE")
        self.assertEqual(state(conn), before)
        self.assertFalse(conn.in_transaction)
        # the safe forms
        conn.execute("BEGIN")
        self.assertEqual(conn.execute("SELECT rpc_register('ac-1', 'ac-m', "
                                      "'1.0')").fetchone(), ("1.0",))
        conn.execute("COMMIT")
        cur = conn.execute("INSERT INTO rpc_registrations(manager, method, hi, "
                           "lo) VALUES (?, ?, ?, ?)", ("ac-2", "ac-m", "1.1", "1.0"))
        self.assertEqual(cur.rowcount, 0)   # a view's INSTEAD OF rows: as sqlite3
        self.assertEqual(manager_set(conn, "ac-%"), {"ac-1", "ac-2"})
        self.assertEqual(rpcver.max_send(conn, "ac-m"), "1.0")

    def test_11_crashing_pragmas_refused_leader_survives(self):
        import sqlite3
        conn = self.connect()
        leader_id = conn.leader_id
        proc = self.cluster.procs[leader_id]
        for sql in ["PRAGMA journal_mode=delete", "PRAGMA journal_mode = OFF",
                    "PRAGMA page_size=8192", "PRAGMA main.page_size = 1024"]:
            with self.subTest(sql=sql):
                with self.assertRaises(sqlite3.DatabaseError) as cm:
                    conn.execute(sql)
                self.assertEqual(str(cm.exception), "not authorized")
                self.assertEqual(cm.exception.sqlite_errorcode, 23)
                self.assertEqual(cm.exception.sqlite_errorname, "SQLITE_AUTH")
        time.sleep(0.3)                 # a crash would come at once
        self.assertIsNone(proc.poll(), "the leader died")
        os.kill(proc.pid, 0)
        self.assertEqual(conn.execute("PRAGMA journal_mode").fetchone(), ("wal",))
        self.assertEqual(conn.execute("PRAGMA page_size").fetchone(), (4096,))
        self.assertEqual(rpcver.max_send(conn, "volume"), "3.17")
        again = self.connect()
        self.assertEqual(again.leader_id, leader_id)
        self.assertEqual(conn.reconnects, 0)

    def test_12_refused_registration_changes_nothing(self):
        conn = self.connect()
        before = state(conn)
        with self.assertRaises(rpcver.RefusedError) as cm:
            rpcver.register(conn, "rf-new", {"rf-ok": "1.0", "volume": "3.16"})
        self.assertTrue(str(cm.exception).startswith(
            "rpcver: manager 'rf-new' cannot register method 'volume' with "
            "range [3.0, 3.16]"), str(cm.exception))
        self.assertFalse(conn.in_transaction)
        self.assertEqual(state(conn), before)
        # the same through the DML view, in autocommit
        with self.assertRaises(rc.NodeError) as cm:
            conn.execute("INSERT INTO rpc_registrations(manager, method, hi, "
                         "lo) VALUES ('rf-new', 'volume', '3.16', '3.0')")
        self.assertIn("cannot register method 'volume'", str(cm.exception))
        self.assertEqual(state(conn), before)

    def test_13_transaction_state_follows_the_node_after_errors(self):
        """A failure inside a transaction may end it (here a constraint
        with OR ROLLBACK): in_transaction asks the node, so a later
        ROLLBACK is not mistaken for undoing autocommit writes."""
        conn = self.connect()
        conn.execute("CREATE TABLE IF NOT EXISTS txn_t(a PRIMARY KEY)")
        conn.execute("DELETE FROM txn_t")
        conn.execute("BEGIN")
        conn.execute("INSERT INTO txn_t VALUES (1)")
        with self.assertRaises(rc.IntegrityError):
            conn.execute("INSERT OR ROLLBACK INTO txn_t VALUES (1)")
        self.assertFalse(conn.in_transaction)
        # an ordinary constraint failure keeps the transaction open
        conn.execute("BEGIN")
        conn.execute("INSERT INTO txn_t VALUES (2)")
        with self.assertRaises(rc.IntegrityError):
            conn.execute("INSERT INTO txn_t VALUES (2)")
        self.assertTrue(conn.in_transaction)
        conn.execute("ROLLBACK")
        self.assertEqual(conn.execute("SELECT count(*) FROM txn_t")
                         .fetchall(), [(0,)])
        conn.execute("DROP TABLE txn_t")

    def test_13b_hostile_rows_and_leader_timeout(self):
        """A node that sends a ROWS response of no columns is a broken
        node, not an endless result; and the search for a leader keeps to
        leader_timeout even when each request may wait longer."""
        def u64(v):
            return struct.pack("<Q", v)

        def text(t):
            b = t.encode() + b"\0"
            return b + b"\0" * ((-len(b)) % 8)

        def msg(t, body):
            return struct.pack("<IBBH", len(body) // 8, t, 0, 0) + body

        server = socket.socket()
        server.bind(("127.0.0.1", 0))
        server.listen(4)
        self.addCleanup(server.close)
        address = "127.0.0.1:%d" % server.getsockname()[1]

        def serve():
            try:
                c, _ = server.accept()
            except OSError:
                return
            with c:
                c.recv(8)                             # the handshake
                while True:
                    head = c.recv(8)
                    if len(head) < 8:
                        return
                    words, t = struct.unpack("<IB", head[:5])
                    need = words * 8
                    while need > 0:
                        need -= len(c.recv(need))
                    if t == 0:                        # LEADER: itself
                        c.sendall(msg(1, u64(1) + text(address)))
                    elif t == 3:                      # OPEN
                        c.sendall(msg(4, u64(0)))
                    else:                             # ROWS of 0 columns
                        c.sendall(msg(7, u64(0) + u64(0x0101010101010101)
                                      + u64(0xFFFFFFFFFFFFFFFF)))
        threading.Thread(target=serve, daemon=True).start()
        conn = rc.connect([address], timeout=2, leader_timeout=2)
        t0 = time.monotonic()
        with self.assertRaises(rc.FailoverError):
            conn.execute("SELECT 1")
        self.assertLess(time.monotonic() - t0, 10)
        conn.close()
        # a silent node: the search ends with leader_timeout, not timeout
        silent = socket.socket()
        silent.bind(("127.0.0.1", 0))
        silent.listen(4)
        self.addCleanup(silent.close)
        quiet = "127.0.0.1:%d" % silent.getsockname()[1]
        t0 = time.monotonic()
        with self.assertRaises(rc.NoLeaderError):
            rc.connect([quiet], timeout=10, leader_timeout=1)
        self.assertLess(time.monotonic() - t0, 3)

    def test_14_what_is_retried_and_what_is_raised_on_a_lost_connection(self):
        """Deterministic failovers without killing a node: the connection
        is cut under the client, or pointed at a follower (which answers
        SQLITE_IOERR_NOT_LEADER)."""
        import sqlite3
        conn = self.connect()
        rpcver.register(conn, "cut-1", {"cut-m": "1.0"})

        def cut():
            conn._leader_node().sock.shutdown(socket.SHUT_RDWR)

        def follower():
            conn._leader_node()
            address = [a for a in self.nodes if a != conn.leader][0]
            conn._drop()
            conn._node = rc._Node(address, conn.timeout)
            conn._node.open(conn.database)

        for break_it in (cut, follower):
            with self.subTest(break_it=break_it.__name__):
                # a read outside a transaction: retried on the leader
                before = conn.reconnects
                break_it()
                self.assertEqual(rpcver.max_send(conn, "cut-m"), "1.0")
                self.assertEqual(conn.reconnects, before + 1)
                # inside a transaction: lost, and said so
                conn.execute("BEGIN IMMEDIATE")
                conn.execute("SELECT rpc_register('cut-2', 'cut-m', '1.0')")
                break_it()
                with self.assertRaises(rc.TransactionLostError) as cm:
                    conn.execute("SELECT rpc_register('cut-3', 'cut-m', '1.0')")
                self.assertIsInstance(cm.exception, sqlite3.OperationalError)
                self.assertIn("run the whole transaction again",
                              str(cm.exception))
                self.assertFalse(conn.in_transaction)
                self.assertEqual(manager_set(conn, "cut-%"), {"cut-1"})
                # COMMIT whose answer is lost: outcome unknown (NOT_LEADER
                # is answered before anything runs: the transaction is lost)
                conn.execute("BEGIN IMMEDIATE")
                conn.execute("SELECT rpc_register('cut-2', 'cut-m', '1.0')")
                break_it()
                expected = (rc.OutcomeUnknownError if break_it is cut
                            else rc.TransactionLostError)
                with self.assertRaises(expected):
                    conn.execute("COMMIT")
                self.assertFalse(conn.in_transaction)
                # ROLLBACK after a cut: done by the node
                conn.execute("BEGIN")
                break_it()
                conn.execute("ROLLBACK")
                self.assertFalse(conn.in_transaction)
                # an autocommit write: unknown after a cut; refused before
                # it ran by a follower, so retried on the leader
                break_it()
                dml = ("INSERT INTO rpc_registrations(manager, method, hi, lo)"
                       " VALUES ('cut-4', 'cut-m', '1.0', '1.0')")
                if break_it is cut:
                    with self.assertRaises(rc.OutcomeUnknownError) as cm:
                        conn.execute(dml)
                    self.assertIn("may or may not have been applied",
                                  str(cm.exception))
                else:
                    conn.execute(dml)
                # rpcver.register can simply be called again
                self.assertEqual(rpcver.register(conn, "cut-2", {"cut-m": "1.0"}),
                                 {"cut-m": "1.0"})
                self.assertTrue({"cut-1", "cut-2"} <= manager_set(conn, "cut-%"))
                rpcver.unregister(conn, "cut-2")
                rpcver.unregister(conn, "cut-4")

    def test_15_timeouts(self):
        # a node that accepts but never answers
        silent = socket.socket()
        silent.bind(("127.0.0.1", 0))
        silent.listen(4)
        self.addCleanup(silent.close)
        address = "127.0.0.1:%d" % silent.getsockname()[1]
        t0 = time.monotonic()
        with self.assertRaises(rc.NoLeaderError) as cm:
            rc.connect([address], timeout=0.2, leader_timeout=0.5)
        self.assertLess(time.monotonic() - t0, 3)
        self.assertIn("no complete answer from %s within the deadline "
                      "(0.2 s)" % address, str(cm.exception))
        # a silent node in the list does not stop the others being used
        conn = self.connect([address] + self.nodes, timeout=0.2)
        self.assertIn(conn.leader, self.nodes)

    # -- failover

    def test_16_failover_sigkill_leader_during_registrations(self):
        conn = self.connect(leader_timeout=30)
        old_id = conn.leader_id
        old_proc = self.cluster.procs[old_id]
        acked, failovers, reads = [], [], 0
        killed = threading.Event()

        def kill_leader():
            os.kill(old_proc.pid, signal.SIGKILL)
            killed.set()

        timer = threading.Timer(0.4, kill_leader)
        timer.start()
        self.addCleanup(timer.cancel)
        deadline = time.monotonic() + 25
        after_kill = 0
        i = 0
        while after_kill < 20:
            if time.monotonic() > deadline:
                self.fail_with_logs("the stream did not resume on a new "
                                    "leader: %d acked, failovers %s"
                                    % (len(acked), failovers))
            name = "fo-%04d" % i
            try:
                got = rpcver.register(conn, name, {"volume": "3.17",
                                                   "fo-api": ("2.1", "1.0")})
            except rc.FailoverError as exc:
                # COMMIT's answer lost, or the transaction lost: the
                # registration is idempotent, so retry the same one.
                failovers.append(exc)
                continue
            self.assertEqual(got, {"volume": "3.17", "fo-api": "2.1"})
            acked.append(name)
            if killed.is_set():
                after_kill += 1
            i += 1
            # a read between writes: retried by itself across the failover
            self.assertEqual(rpcver.max_send(conn, "volume"), "3.17")
            reads += 1
        old_proc.wait(5)
        self.assertTrue(killed.is_set())
        self.assertNotEqual(conn.leader_id, old_id)
        self.assertGreaterEqual(conn.reconnects, 1)
        for exc in failovers:
            self.assertIsInstance(exc, (rc.OutcomeUnknownError,
                                        rc.TransactionLostError))
        # every acknowledged registration is there, on the new leader
        fresh = self.connect()
        self.assertNotEqual(fresh.leader_id, old_id)
        present = manager_set(fresh, "fo-%")
        self.assertEqual(set(acked) - present, set())
        self.assertEqual(rpcver.verify(fresh), "ok")
        self.assertEqual(rpcver.register(fresh, "fo-after", {"volume": "3.17"}),
                         {"volume": "3.17"})
        expected = state(fresh)

        # the killed node restarts from its directory and catches up: raft
        # hands leadership only to a voter whose log is complete, and
        # dqlite's read barrier makes a new leader apply it before it
        # answers, so reading everything through it as leader proves it
        self.cluster.start_node(old_id, join=False)
        ops = self.connect(leader_timeout=30)

        def transfer():
            if ops.leader_id != old_id:
                ops.transfer(old_id)
            return self.connect().leader_id == old_id

        wait_for("leadership to move to the restarted node %d" % old_id,
                 transfer, 20, interval=0.3)
        through = self.connect()
        self.assertEqual(through.leader_id, old_id)
        self.assertEqual(state(through), expected)
        self.assertEqual(set(acked) - manager_set(through, "fo-%"), set())
        self.assertEqual({s.role for s in through.cluster()}, {"voter"})
        type(self).snapshot = expected

    def test_17_whole_cluster_restarts_with_nothing_lost(self):
        expected = getattr(type(self), "snapshot", None)
        if expected is None:
            with contextlib.closing(rc.connect(self.nodes)) as conn:
                expected = state(conn)
        self.cluster.stop_all()
        for node_id in (1, 2, 3):
            self.cluster.start_node(node_id, join=False)
        try:
            self.cluster.wait_formed()
        except AssertionError as exc:
            self.fail_with_logs(str(exc))
        conn = self.connect(leader_timeout=30)
        self.assertEqual(state(conn), expected)
        self.assertEqual(rpcver.verify(conn), "ok")
        self.assertEqual(rpcver.max_send(conn, "volume"), "3.17")


class TlsClusterTest(unittest.TestCase):
    """The client over TLS, against a 3-node cluster of rpcverd run with
    --tls-cert, --tls-key and --tls-ca (certificates made by
    cluster/certs.sh in the temporary directory)."""

    @classmethod
    def setUpClass(cls):
        if not os.access(RPCVERD, os.X_OK):
            raise RuntimeError("%s is missing: run make cluster (at the "
                               "repository root) first" % RPCVERD)
        cls.cluster = Cluster(tls=True)
        cls.addClassCleanup(cls.cluster.cleanup)
        try:
            cls.cluster.start()
        except AssertionError as exc:
            raise RuntimeError("%s\n%s" % (exc, cls.cluster.log_tail()))
        cls.nodes = list(cls.cluster.addresses)

    def connect(self, nodes=None, **kw):
        conn = self.cluster.connect(nodes, **kw)
        self.addCleanup(conn.close)
        return conn

    def test_30_register_through_a_follower_over_tls(self):
        ca = os.path.join(self.cluster.certs, "ca.crt")
        cert, key = self.cluster.cert("svc")
        conn = self.connect()
        follower = [a for a in self.nodes if a != conn.leader][0]
        # the three files, as connect() takes them
        via = rc.connect([follower], tls_cert=cert, tls_key=key, tls_ca=ca)
        self.addCleanup(via.close)
        self.assertEqual(via.leader, conn.leader)
        self.assertEqual(rpcver.register(via, "tls-a", {"volume": "3.17"}),
                         {"volume": "3.17"})
        self.assertEqual(rpcver.max_send(conn, "volume"), "3.17")
        self.assertEqual({s.role for s in via.cluster()}, {"voter"})
        self.assertIsInstance(via._node.sock, ssl.SSLSocket)
        self.assertEqual(via._node.sock.version(), "TLSv1.3")

    def test_31_refused_without_tls_or_with_another_ca(self):
        # no TLS: the node hangs up, and the client says what that may mean
        with self.assertRaises(rc.NoLeaderError) as cm:
            rc.connect(self.nodes[:1], leader_timeout=0.5)
        self.assertIn("%s closed the connection (a node run with TLS closes "
                      "connections that do not speak it)" % self.nodes[0],
                      str(cm.exception))
        # a certificate of another CA: the node refuses it with an alert
        other = os.path.join(self.cluster.tmp.name, "other")
        make_certs(other, ("ca",), ("client", "stranger"))
        with self.assertRaises(rc.NoLeaderError) as cm:
            rc.connect(self.nodes[:1], leader_timeout=0.5,
                       tls_cert=os.path.join(other, "stranger.crt"),
                       tls_key=os.path.join(other, "stranger.key"),
                       tls_ca=os.path.join(self.cluster.certs, "ca.crt"))
        self.assertIn("the node refused the TLS session "
                      "(TLSV1_ALERT_UNKNOWN_CA): it does not accept this "
                      "client's certificate", str(cm.exception))
        # trusting another CA only: the node's certificate is refused here
        with self.assertRaises(rc.NoLeaderError) as cm:
            rc.connect(self.nodes[:1], leader_timeout=0.5,
                       tls_cert=os.path.join(other, "stranger.crt"),
                       tls_key=os.path.join(other, "stranger.key"),
                       tls_ca=os.path.join(other, "ca.crt"))
        self.assertIn("TLS handshake with %s: the node's certificate is "
                      "refused: self-signed certificate in certificate chain"
                      % self.nodes[0], str(cm.exception))
        # the node serves on
        self.assertEqual(rpcver.verify(self.connect(self.nodes[:1])), "ok")
        # what the files must be
        with self.assertRaises(ValueError) as cm:
            rc.connect(self.nodes, tls_cert="/nonexistent.crt",
                       tls_key="/nonexistent.key",
                       tls_ca=os.path.join(self.cluster.certs, "ca.crt"))
        self.assertIn("cannot load the certificate /nonexistent.crt",
                      str(cm.exception))
        with self.assertRaises(ValueError) as cm:
            rc.connect(self.nodes, tls=self.cluster.tls,
                       tls_ca=os.path.join(self.cluster.certs, "ca.crt"))
        with self.assertRaises(ValueError) as cm:
            rc.connect(self.nodes, tls_cert=self.cluster.cert("svc")[0])
        self.assertIn("TLS needs the CA certificate file too",
                      str(cm.exception))

    def test_32_failover_sigkill_leader_over_tls(self):
        conn = self.connect(leader_timeout=30)
        old_id = conn.leader_id
        old_proc = self.cluster.procs[old_id]
        acked, failovers, i = [], [], 0
        deadline = time.monotonic() + 40
        while len(acked) < 60:
            if time.monotonic() > deadline:
                self.fail("the stream did not resume on a new leader: %d "
                          "acked\n%s" % (len(acked), self.cluster.log_tail()))
            if len(acked) == 20 and old_proc.poll() is None:
                os.kill(old_proc.pid, signal.SIGKILL)
                old_proc.wait(5)
            name = "tls-fo-%03d" % i
            try:
                rpcver.register(conn, name, {"volume": "3.17"})
            except rc.FailoverError as exc:
                failovers.append(exc)      # idempotent: register it again
                continue
            acked.append(name)
            i += 1
        self.assertNotEqual(conn.leader_id, old_id)
        fresh = self.connect()
        self.assertEqual(set(acked) - manager_set(fresh, "tls-fo-%"), set())
        self.assertEqual(rpcver.verify(fresh), "ok")
        # the killed node restarts from its directory and serves again
        self.cluster.start_node(old_id, join=False)
        wait_for("the restarted node %d to know a leader" % old_id,
                 lambda: self.cluster.node_leader(old_id)[0], 30)
        via = self.connect([self.nodes[old_id - 1]])
        self.assertEqual(set(acked) - manager_set(via, "tls-fo-%"), set())


class FakeNodeTest(unittest.TestCase):
    """The client against tests/lib/fake_dqlite.py, a node that answers
    LEADER and OPEN and then misbehaves: every call must end within its
    deadline, stop reading at its caps, and say which deadline or cap and
    which node.  No cluster is needed."""

    def fake(self, mode):
        node = fake_dqlite.FakeNode(mode, seconds=40).start()
        self.addCleanup(node.stop)
        return node

    def sent(self, node, timeout=10):
        """Bytes the fake sent once every connection it opened has ended."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if node.connections and all(c["done"] for c in node.connections):
                return sum(c["sent"] for c in node.connections)
            time.sleep(0.05)
        self.fail("the fake's connections are still open: %s"
                  % node.connections)

    def assertWithin(self, t0, seconds):
        elapsed = time.monotonic() - t0
        self.assertLessEqual(elapsed, seconds + 5,
                             "took %.1f s, the deadline is %s s"
                             % (elapsed, seconds))

    def connect(self, node, **kw):
        conn = rc.connect([node.address], **kw)
        self.addCleanup(conn.close)
        return conn

    def test_18_endless_rows_stop_at_the_row_cap(self):
        node = self.fake("endless")
        conn = self.connect(node, timeout=5, max_rows=1000)
        t0 = time.monotonic()
        with self.assertRaises(rc.LimitError) as cm:
            conn.execute("SELECT x FROM t")
        self.assertWithin(t0, 5)
        self.assertEqual(str(cm.exception), "rpcver_cluster: the result from "
                         "%s exceeds the cap of 1000 rows (max_rows)"
                         % node.address)
        self.assertEqual(cm.exception.address, node.address)
        self.assertIsInstance(cm.exception, __import__("sqlite3").OperationalError)
        self.assertIsNone(conn.leader)       # dropped: it was still sending
        self.assertLess(self.sent(node), 32 << 20)

    def test_19_endless_rows_stop_at_the_byte_cap(self):
        node = self.fake("endless")
        conn = self.connect(node, timeout=5, max_bytes=1000000)
        t0 = time.monotonic()
        with self.assertRaises(rc.LimitError) as cm:
            conn.execute("SELECT x FROM t")
        self.assertWithin(t0, 5)
        self.assertRegex(str(cm.exception), r"^rpcver_cluster: the answer from "
                         + re.escape(node.address) + r" exceeds the cap of "
                         r"1000000 bytes \(max_bytes; \d+ bytes read")
        self.assertLess(self.sent(node), 32 << 20)

    def test_20_empty_batches_do_not_loop(self):
        # the default caps; a failover retry finds the same node, within
        # leader_timeout
        node = self.fake("empty")
        conn = self.connect(node, timeout=3, leader_timeout=1, busy_timeout=1)
        t0 = time.monotonic()
        with self.assertRaises(rc.FailoverError) as cm:
            conn.execute("SELECT x FROM t")
        self.assertWithin(t0, 3)
        self.assertIn("malformed rows response from %s: a batch of no rows "
                      "says more follow" % node.address, str(cm.exception))

    def test_21_a_trickling_answer_keeps_to_the_deadline(self):
        node = self.fake("trickle")
        conn = self.connect(node, timeout=2, leader_timeout=2, busy_timeout=2)
        t0 = time.monotonic()
        with self.assertRaises(rc.FailoverError) as cm:
            conn.execute("SELECT x FROM t")
        self.assertWithin(t0, 2)
        self.assertRegex(str(cm.exception), r"no complete answer from "
                         + re.escape(node.address) + r" within the deadline "
                         r"\([0-9.]+ s\)")

    def test_22_a_slow_leader_answer_keeps_to_leader_timeout(self):
        node = self.fake("slow")
        t0 = time.monotonic()
        with self.assertRaises(rc.NoLeaderError) as cm:
            rc.connect([node.address], timeout=5, leader_timeout=2)
        self.assertWithin(t0, 2)
        self.assertIn("no leader found among %s within 2.0 s; last: no "
                      "complete answer from %s within the deadline"
                      % (node.address, node.address), str(cm.exception))

    def test_23_a_huge_declared_length_is_refused_at_its_header(self):
        node = self.fake("huge")
        conn = self.connect(node, timeout=5, max_bytes=1000000)
        t0 = time.monotonic()
        with self.assertRaises(rc.LimitError) as cm:
            conn.execute("SELECT x FROM t")
        self.assertWithin(t0, 5)
        self.assertEqual(str(cm.exception), "rpcver_cluster: a response of "
                         "50331656 bytes from %s exceeds the cap of 1000000 "
                         "bytes (max_bytes)" % node.address)
        self.assertLess(self.sent(node), 32 << 20)

    def test_24_garbage_is_not_read(self):
        node = self.fake("garbage")
        conn = self.connect(node, timeout=5, max_bytes=1000000)
        t0 = time.monotonic()
        with self.assertRaises(rc.LimitError):
            conn.execute("SELECT x FROM t")
        self.assertWithin(t0, 5)
        self.assertLess(self.sent(node), 32 << 20)

    def test_26_a_stalled_or_trickled_tls_handshake_keeps_to_the_deadline(self):
        certs = tempfile.TemporaryDirectory(prefix="rpcver-fake-tls-")
        self.addCleanup(certs.cleanup)
        make_certs(certs.name, ("ca",), ("client", "c"))
        context = rc.tls_context(os.path.join(certs.name, "c.crt"),
                                 os.path.join(certs.name, "c.key"),
                                 os.path.join(certs.name, "ca.crt"))
        for mode in ("tls-stall", "tls-trickle"):
            node = self.fake(mode)
            t0 = time.monotonic()
            with self.assertRaises(rc.NoLeaderError) as cm:
                rc.connect([node.address], tls=context, timeout=2,
                           leader_timeout=2)
            self.assertWithin(t0, 2)
            self.assertRegex(str(cm.exception), r"no complete TLS handshake "
                             r"with " + re.escape(node.address) +
                             r" within the deadline \([0-9.]+ s\)")

    def test_25_a_cap_inside_a_transaction_loses_it_and_says_so(self):
        node = self.fake("endless")
        conn = self.connect(node, timeout=5, max_rows=100)
        conn.execute("BEGIN")
        self.assertTrue(conn.in_transaction)
        with self.assertRaises(rc.LimitError) as cm:
            conn.execute("SELECT x FROM t")
        self.assertFalse(conn.in_transaction)
        self.assertTrue(str(cm.exception).endswith(
            "; the transaction was rolled back (the connection was "
            "dropped)"), str(cm.exception))
        with self.assertRaises(ValueError):
            rc.connect([node.address], max_rows=0)


if __name__ == "__main__":
    unittest.main()
