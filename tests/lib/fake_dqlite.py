#!/usr/bin/python3
"""A fake dqlite node that answers like one and then misbehaves.

It speaks enough of dqlite's wire protocol (cluster/PROTOCOL.md) to be
taken for a node: the handshake, LEADER (it names itself), OPEN, CLUSTER,
ADD and ASSIGN; then it answers QUERY_SQL (and, in some modes, EXEC_SQL or
every request) the way MODE says:

  endless   ROWS batches without end: one text column, 100-byte values,
            about 4 KiB per batch, each saying more follow
  empty     ROWS batches of no rows, each saying more follow, without end
  trickle   a well-formed answer to QUERY_SQL and EXEC_SQL, one byte a second
  slow      every answer, LEADER's too, one byte a second
  huge      a ROWS header that declares a 48 MiB body, then one byte a second
  garbage   a ROWS header that declares a 40 MiB body, then random bytes as
            fast as the client reads them
  hostile   a FAILURE whose message holds terminal escapes, C1 controls and
            invalid UTF-8 (HOSTILE_MESSAGE), to QUERY_SQL and EXEC_SQL
  rows      QUERY_SQL: one row, one column named "rpc_methods": a count of 1
            for the CLI's schema probe, then HOSTILE_ROW for every later
            query; EXEC_SQL: success
  tls-stall   for a TLS client: takes its ClientHello and never answers
  tls-trickle for a TLS client: takes its ClientHello, then answers with a
            handshake record that declares 16 KiB, one byte a second

As a program (tests/cluster.test):

    fake_dqlite.py MODE [--report FILE] [--seconds N] [--bytes N]

listens on a free port of 127.0.0.1, prints the port on a line of its own,
and serves until killed.  It appends a line to FILE when a connection
opens, "connection N: open", and when it ends, "connection N: sent BYTES
bytes, REASON".  Each connection stops by
itself after N seconds (default 60) or N bytes sent (default 128 MiB), so a
client that never gives up cannot keep it busy for ever.

As a module (bindings/python/test_cluster.py): FakeNode(mode).start(),
.address, .connections (one dict per connection: "sent", "reason", "done"),
.stop().
"""

import os
import socket
import struct
import sys
import threading
import time

REQ_LEADER, REQ_OPEN, REQ_EXEC_SQL, REQ_QUERY_SQL = 0, 3, 8, 9
REQ_ADD, REQ_ASSIGN, REQ_CLUSTER = 12, 13, 16
RES_FAILURE, RES_SERVER, RES_SERVERS, RES_DB = 0, 1, 3, 4
RES_RESULT, RES_ROWS, RES_EMPTY = 6, 7, 8
ROWS_PART = 0xEEEEEEEEEEEEEEEE
ROWS_DONE = 0xFFFFFFFFFFFFFFFF

MODES = ("endless", "empty", "trickle", "slow", "huge", "garbage", "hostile",
         "rows", "tls-stall", "tls-trickle")

# ESC [2J (clear the screen), ESC ]0; (set the window title) ... BEL, a C1
# CSI (U+009B, as UTF-8), a bidi override (U+202E), bytes that are not UTF-8.
HOSTILE_MESSAGE = (b"rpcver: refused \x1b[2J\x1b[H\x1b]0;owned\x07 "
                   b"\xc2\x9b31m \xe2\x80\xae evil \xff\xfe done")
HOSTILE_ROW = b"m\x1b[31mred\x1b[0m\xc2\x85\xff"


def _u64(v):
    return struct.pack("<Q", v)


def _text(b):
    if isinstance(b, str):
        b = b.encode()
    b += b"\0"
    return b + b"\0" * ((-len(b)) % 8)


def _message(rtype, body):
    return struct.pack("<IBBH", len(body) // 8, rtype, 0, 0) + body


def _rows(names, values, more):
    """A ROWS body: text columns, `values` a list of rows of bytes."""
    n = len(names)
    body = _u64(n) + b"".join(_text(x) for x in names)
    head = bytearray(((n + 1) // 2 + 7) // 8 * 8)
    for k in range(n):
        head[k // 2] |= 3 << (4 * (k % 2))          # TEXT
    for row in values:
        body += bytes(head) + b"".join(_text(v) for v in row)
    return body + _u64(ROWS_PART if more else ROWS_DONE)


class _Stop(Exception):
    pass


class _Conn:
    def __init__(self, node, sock, number):
        self.node, self.sock, self.number = node, sock, number
        self.info = {"sent": 0, "reason": "", "done": False}
        self.start = time.monotonic()
        self.queries = 0

    def _budget(self):
        if time.monotonic() - self.start > self.node.seconds:
            raise _Stop("its %s s were up" % self.node.seconds)
        if self.info["sent"] > self.node.max_bytes:
            raise _Stop("its %d bytes were sent" % self.node.max_bytes)

    def send(self, data):
        self._budget()
        self.sock.sendall(data)
        self.info["sent"] += len(data)

    def trickle(self, data):
        for i in range(len(data)):
            self.send(data[i:i + 1])
            time.sleep(1.0)

    def recv_exact(self, n):
        buf = b""
        while len(buf) < n:
            chunk = self.sock.recv(n - len(buf))
            if not chunk:
                raise _Stop("the client closed the connection")
            buf += chunk
        return buf

    def answer(self, data):
        if self.node.mode == "slow":
            self.trickle(data)
        else:
            self.send(data)

    def serve(self):
        mode = self.node.mode
        if mode.startswith("tls-"):
            self.recv_exact(5)                 # a TLS record's header...
            if mode == "tls-trickle":          # ... and a reply never done
                self.trickle(b"\x16\x03\x03\x40\x00" + b"\x02" * 64)
            while True:
                self.recv_exact(1)
        self.recv_exact(8)                               # the handshake
        while True:
            words, rtype = struct.unpack("<IB", self.recv_exact(5))
            self.recv_exact(3)
            self.recv_exact(words * 8)
            if rtype == REQ_LEADER:
                self.answer(_message(RES_SERVER,
                                     _u64(1) + _text(self.node.address)))
            elif rtype == REQ_OPEN:
                self.answer(_message(RES_DB, _u64(0)))
            elif rtype == REQ_CLUSTER:
                self.answer(_message(RES_SERVERS, _u64(1) + _u64(1)
                                     + _text(self.node.address) + _u64(0)))
            elif rtype in (REQ_ADD, REQ_ASSIGN):
                self.answer(_message(RES_EMPTY, _u64(0)))
            elif rtype == REQ_QUERY_SQL:
                self.query()
            elif rtype == REQ_EXEC_SQL:
                if mode in ("trickle", "slow"):
                    self.trickle(_message(RES_RESULT, _u64(0) + _u64(0)))
                elif mode == "hostile":
                    self.send(_message(RES_FAILURE,
                                       _u64(1) + _text(HOSTILE_MESSAGE)))
                else:
                    self.send(_message(RES_RESULT, _u64(0) + _u64(0)))
            else:
                self.send(_message(RES_FAILURE, _u64(1) + _text("unknown")))

    def query(self):
        mode = self.node.mode
        self.queries += 1
        if mode == "endless":
            value = b"v" * 100
            batch = _message(RES_ROWS, _rows(["x"], [[value]] * 36, True))
            while True:
                self.send(batch)
        elif mode == "empty":
            batch = _message(RES_ROWS, _rows(["x"], [], True))
            while True:
                self.send(batch)
                time.sleep(0.001)
        elif mode in ("trickle", "slow"):
            self.trickle(_message(RES_ROWS, _rows(["n"], [[b"1"]], False)))
        elif mode == "huge":
            self.send(struct.pack("<IBBH", (48 << 20) // 8, RES_ROWS, 0, 0))
            self.trickle(b"\0" * 64)
        elif mode == "garbage":
            self.send(struct.pack("<IBBH", (40 << 20) // 8, RES_ROWS, 0, 0))
            while True:
                self.send(os.urandom(65536))
        elif mode == "hostile":
            self.send(_message(RES_FAILURE, _u64(1) + _text(HOSTILE_MESSAGE)))
        elif mode == "rows":
            if self.queries == 1:
                body = _rows(["rpc_methods"], [[b"1"]], False)
            else:
                body = _rows(["method"], [[HOSTILE_ROW]], False)
            self.send(_message(RES_ROWS, body))

    def run(self):
        try:
            self.serve()
        except _Stop as exc:
            self.info["reason"] = str(exc)
        except OSError as exc:
            self.info["reason"] = "the client went away (%s)" % (
                exc.strerror or exc)
        finally:
            try:
                self.sock.close()
            except OSError:
                pass
            self.info["done"] = True
            self.node._ended(self)


class FakeNode:
    """A fake node on 127.0.0.1 (a free port), one thread per connection."""

    def __init__(self, mode, report=None, seconds=60, max_bytes=128 << 20):
        if mode not in MODES:
            raise ValueError("fake_dqlite: unknown mode %r (one of %s)"
                             % (mode, ", ".join(MODES)))
        self.mode, self.report = mode, report
        self.seconds, self.max_bytes = seconds, max_bytes
        self.server = socket.socket()
        self.server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.server.bind(("127.0.0.1", 0))
        self.server.listen(16)
        self.address = "127.0.0.1:%d" % self.server.getsockname()[1]
        self.connections = []
        self._lock = threading.Lock()

    def start(self):
        threading.Thread(target=self._accept, daemon=True).start()
        return self

    def stop(self):
        try:
            self.server.close()
        except OSError:
            pass

    def _accept(self):
        while True:
            try:
                sock, _ = self.server.accept()
            except OSError:
                return
            with self._lock:
                conn = _Conn(self, sock, len(self.connections) + 1)
                self.connections.append(conn.info)
                if self.report:
                    with open(self.report, "a") as f:
                        f.write("connection %d: open\n" % conn.number)
            threading.Thread(target=conn.run, daemon=True).start()

    def _ended(self, conn):
        if self.report:
            with self._lock, open(self.report, "a") as f:
                f.write("connection %d: sent %d bytes, %s\n"
                        % (conn.number, conn.info["sent"], conn.info["reason"]))


def main(argv):
    args = list(argv[1:])
    if not args or args[0] not in MODES:
        sys.stderr.write("usage: fake_dqlite.py MODE [--report FILE] "
                         "[--seconds N] [--bytes N]\n  MODE: %s\n"
                         % " ".join(MODES))
        return 2
    mode, opts = args[0], dict(zip(args[1::2], args[2::2]))
    node = FakeNode(mode, report=opts.get("--report"),
                    seconds=float(opts.get("--seconds", 60)),
                    max_bytes=int(opts.get("--bytes", 128 << 20))).start()
    sys.stdout.write("%s\n" % node.address.rsplit(":", 1)[1])
    sys.stdout.flush()
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
