#!/usr/bin/python3
"""A volume service and its caller, negotiating RPC versions with rpcver.

Three commands:

  service.py receiver --db DB --name NAME --version HI --socket PATH
      A "volume manager".  At start-up it registers the versions of API
      'volume' it can receive, [MAJOR(HI).0, HI], with rpcver.register; when
      rpcver refuses (the cluster may already send a version it cannot
      handle) it prints rpcver's message and exits 3.  Then it serves calls,
      one JSON line per connection on a Unix socket:
          {"method": "extend", "version": "3.17", "args": {...}}
      and answers one JSON line {"ok": true, "result": ...} or
      {"ok": false, "error": "..."}.  A call at a version outside its range
      is rejected: that would be a sender's bug, since senders ask rpcver.
      It heartbeats every --heartbeat seconds, stops on SIGTERM or SIGINT
      (exit 0; it does not unregister: the next version of the manager
      re-registers under the same name, which replaces its range), and
      stops by itself after --lifetime seconds (exit 4).  Exit 5: its
      registration is gone (expired by an operator); 6: unexpected error.

  service.py sender --db DB --receiver NAME=PATH [--receiver ...]
      The caller.  Its code can produce two shapes of the 'extend' call:
          3.16  {"volume_id": ..., "new_size": ...}
          3.17  the same plus "online": true|false (extend an attached volume)
      It keeps one rpcver.Client(conn, 'volume', sender_hi='3.17') and, before
      every call, picks client.choose('3.17', '3.16'): the new shape once
      every receiver accepts 3.17, the old one until then.  It reads
      commands from stdin: "send" makes one call to each receiver and prints
      a summary line "sender: round N: cap V, sent ..."; "quit" or EOF stops
      it.  It stops by itself after --lifetime seconds (exit 4).

  service.py demo   (or: service.py --demo)
      A rolling upgrade, start to finish, in a temporary directory: receivers
      host-a and host-b at 3.16 and the sender (calls go out at 3.16); host-a
      upgraded to 3.17 (still 3.16: host-b is old); host-b upgraded (the
      sender switches to 3.17 on its next call); an old receiver host-c at
      3.16 tries to start and is refused.  Every step is checked; the last
      line is "demo: ok" (exit 0) or "demo: FAILED: ..." (exit 1).
      Everything stops by itself within 20 seconds.

Run it with a Python whose sqlite3 can load extensions (Debian's
/usr/bin/python3).  The extension is found as rpcver.load describes
(--extension, $RPCVER_EXTENSION, the repository's ./rpcver, ...).
"""

import argparse
import json
import os
import queue
import re
import select
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time

_HERE = os.path.dirname(os.path.abspath(__file__))
_BINDINGS = os.path.normpath(os.path.join(_HERE, "..", "..", "bindings", "python"))
if os.path.isdir(_BINDINGS):
    sys.path.insert(0, _BINDINGS)
import rpcver  # noqa: E402

API = "volume"
T0 = float(os.environ.get("DEMO_T0", time.time()))

DEMO_SECONDS = 18   # the demo and every process it starts stop by then

# Exit codes (the same as the Tcl demo's managers).
EXIT_OK, EXIT_REFUSED, EXIT_LIFETIME, EXIT_GONE, EXIT_ERROR = 0, 3, 4, 5, 6


def say(who, msg):
    print("[%6.3fs] %s: %s" % (time.time() - T0, who, msg), flush=True)


# ---------------------------------------------------------------------------
# The call shapes

def extend_args(version, volume_id, new_size):
    """The args of 'extend' in the shape of `version` (what the sender builds)."""
    args = {"volume_id": volume_id, "new_size": new_size}
    if rpcver.compare(version, "3.17") >= 0:
        args["online"] = True
    return args


SENDER_SHAPES = ("3.17", "3.16")   # the versions this sender's code can build


def handle_extend(version, args):
    """The receiver's side: check the shape of `version`, do the work."""
    if not isinstance(args, dict):
        raise ValueError("args must be an object")
    for field in ("volume_id", "new_size"):
        if field not in args:
            raise ValueError("extend@%s needs %r" % (version, field))
    if rpcver.compare(version, "3.17") >= 0:
        if not isinstance(args.get("online"), bool):
            raise ValueError("extend@%s needs 'online' (true or false)" % version)
        online = args["online"]
    else:
        if "online" in args:
            raise ValueError("extend@%s has no 'online' field" % version)
        online = False
    return {"volume_id": args["volume_id"], "size": args["new_size"],
            "online": online}


# ---------------------------------------------------------------------------
# Receiver

def run_receiver(opts):
    name, hi = opts.name, opts.version
    lo = rpcver.default_lo(hi)                          # MAJOR(hi).0
    conn = rpcver.connect(opts.db, opts.extension)
    try:
        negotiated = rpcver.register(conn, name, {API: hi})[API]
    except rpcver.RefusedError as err:
        say(name, "REFUSED at start-up: %s" % err)
        return EXIT_REFUSED

    stop = []
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.append(True))

    if os.path.exists(opts.socket):
        os.unlink(opts.socket)        # a previous version's socket
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(opts.socket)
    server.listen(16)
    say(name, "up (pid %d): %s [%s, %s], negotiated %s"
        % (os.getpid(), API, lo, hi, negotiated))

    deadline = time.monotonic() + opts.lifetime
    next_beat = time.monotonic() + opts.heartbeat
    status = EXIT_OK
    try:
        while not stop:
            now = time.monotonic()
            if now > deadline:
                say(name, "lifetime of %g s exceeded, exiting" % opts.lifetime)
                status = EXIT_LIFETIME
                break
            if now >= next_beat:
                if not rpcver.heartbeat(conn, name):
                    say(name, "no longer registered (expired or unregistered), "
                        "exiting")
                    status = EXIT_GONE
                    break
                next_beat = now + opts.heartbeat
            ready, _, _ = select.select([server], [], [], 0.05)
            if ready:
                client, _ = server.accept()
                with client:
                    serve_one(client, name, lo, hi)
    finally:
        server.close()
        if os.path.exists(opts.socket):
            os.unlink(opts.socket)
        conn.close()
    if status == EXIT_OK:
        say(name, "stopped")
    return status


def serve_one(client, name, lo, hi):
    client.settimeout(2.0)
    try:
        with client.makefile("rwb") as f:
            line = f.readline(65536)
            reply = answer(line, name, lo, hi)
            f.write(json.dumps(reply).encode() + b"\n")
            f.flush()
    except OSError as err:
        say(name, "connection error: %s" % err)


def answer(line, name, lo, hi):
    try:
        req = json.loads(line)
        method, version = req["method"], req["version"]
    except (ValueError, KeyError, TypeError) as err:
        return {"ok": False, "error": "bad request: %s" % err}
    try:
        inside = (rpcver.compare(lo, version) <= 0 and
                  rpcver.compare(version, hi) <= 0)
    except rpcver.VersionError as err:
        return {"ok": False, "error": str(err)}
    if not inside:
        # A sender that asks rpcver never gets here: rpc_max_send is never
        # above what every registered receiver accepts.
        msg = ("version %s of %r not supported: %s accepts [%s, %s]"
               % (version, API, name, lo, hi))
        say(name, "REJECTED %s@%s: %s" % (method, version, msg))
        return {"ok": False, "error": msg}
    if method != "extend":
        return {"ok": False, "error": "unknown method %r" % method}
    try:
        result = handle_extend(version, req.get("args"))
    except ValueError as err:
        say(name, "REJECTED %s@%s: %s" % (method, version, err))
        return {"ok": False, "error": str(err)}
    say(name, "handled extend@%s %s -> %s GiB%s"
        % (version, result["volume_id"], result["size"],
           " (online)" if result["online"] else ""))
    result["handled_by"] = name
    result["version"] = version
    return {"ok": True, "result": result}


def call(path, request, timeout=2.0):
    """One call: connect, send a JSON line, read the JSON reply line."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(timeout)
        s.connect(path)
        with s.makefile("rwb") as f:
            f.write(json.dumps(request).encode() + b"\n")
            f.flush()
            line = f.readline(65536)
    if not line:
        raise OSError("no reply")
    return json.loads(line)


# ---------------------------------------------------------------------------
# Sender

def run_sender(opts):
    receivers = []
    for spec in opts.receiver:
        name, sep, path = spec.partition("=")
        if not sep:
            raise SystemExit("--receiver wants NAME=PATH, not %r" % spec)
        receivers.append((name, path))
    shapes = [v for v in SENDER_SHAPES
              if rpcver.compare(v, opts.sender_hi) <= 0]
    conn = rpcver.connect(opts.db, opts.extension)
    client = rpcver.Client(conn, API, sender_hi=opts.sender_hi)
    say("sender", "ready: %r, shapes %s" % (client, ", ".join(shapes)))

    deadline = time.monotonic() + opts.lifetime
    rounds = calls = 0
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            say("sender", "lifetime of %g s exceeded, exiting" % opts.lifetime)
            return EXIT_LIFETIME
        ready, _, _ = select.select([sys.stdin], [], [], min(left, 0.5))
        if not ready:
            continue
        command = sys.stdin.readline()
        if command.strip() in ("", "quit"):
            break
        if command.strip() != "send":
            say("sender", "unknown command %r" % command.strip())
            continue
        rounds += 1
        sent = []
        for name, path in receivers:
            calls += 1
            # Ask before every call: the answer changes the moment the last
            # old receiver re-registers (or an operator pins).
            try:
                version = client.choose(*shapes)
            except rpcver.RpcverError as err:
                sent.append("nothing to %s (%s)" % (name, err))
                continue
            request = {"method": "extend", "version": version,
                       "args": extend_args(version, "vol-%d" % calls,
                                           10 + calls)}
            try:
                reply = call(path, request)
                outcome = "ok" if reply.get("ok") else \
                    "error: %s" % reply.get("error")
            except OSError as err:
                outcome = "unreachable: %s" % err
            sent.append("%s to %s (%s)" % (version, name, outcome))
        say("sender", "round %d: cap %s, sent %s"
            % (rounds, client.version_cap, ", ".join(sent)))
    conn.close()
    say("sender", "stopped after %d rounds" % rounds)
    return EXIT_OK


# ---------------------------------------------------------------------------
# Demo driver

class DemoFailed(Exception):
    pass


class Proc:
    """A child process whose stdout lines are echoed and queued."""

    def __init__(self, name, argv, stdin=False):
        self.name = name
        self.popen = subprocess.Popen(
            argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
            text=True, bufsize=1)
        self.lines = queue.Queue()
        self.output = []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        for line in self.popen.stdout:
            line = line.rstrip("\n")
            print(line, flush=True)
            self.output.append(line)
            self.lines.put(line)
        self.lines.put(None)

    deadline = float("inf")     # the demo's overall deadline (monotonic)

    def expect(self, pattern, timeout):
        """Wait for a line matching `pattern`; returns the match."""
        end = min(time.monotonic() + timeout, Proc.deadline)
        while True:
            left = end - time.monotonic()
            try:
                line = self.lines.get(timeout=max(left, 0.001))
            except queue.Empty:
                raise DemoFailed("%s: no line matching %r in time"
                                 % (self.name, pattern))
            if line is None:
                raise DemoFailed("%s: exited (status %s) before a line "
                                 "matching %r" % (self.name, self.popen.wait(),
                                                  pattern))
            m = re.search(pattern, line)
            if m:
                return m

    def send(self, text):
        self.popen.stdin.write(text + "\n")
        self.popen.stdin.flush()

    def stop(self, timeout=5.0):
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
        try:
            status = self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            status = self.popen.wait()
        self.reader.join(2.0)
        return status

    def close(self):
        self.stop()
        for stream in (self.popen.stdin, self.popen.stdout):
            if stream is not None:
                stream.close()


def run_demo(opts):
    workdir = tempfile.mkdtemp(prefix="rpcver-demo-")
    os.environ["DEMO_T0"] = repr(T0)
    procs = []
    Proc.deadline = time.monotonic() + DEMO_SECONDS
    try:
        demo(opts, workdir, procs)
    except (DemoFailed, rpcver.RpcverError, OSError, sqlite3.Error) as err:
        print("demo: FAILED: %s" % err, flush=True)
        return 1
    finally:
        for p in procs:
            p.close()       # stops it if it still runs
        if opts.keep:
            say("demo", "files kept in %s" % workdir)
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    print("demo: ok", flush=True)
    return 0


def demo(opts, workdir, procs):
    db = os.path.join(workdir, "cluster.db")
    script = os.path.abspath(__file__)
    ext = ["--extension", opts.extension] if opts.extension else []
    lifetime = ["--lifetime", str(DEMO_SECONDS)]
    sockets = {n: os.path.join(workdir, n + ".sock")
               for n in ("host-a", "host-b", "host-c")}
    running = {}
    steps = []
    conn = rpcver.connect(db, opts.extension)   # the operator's view

    def step(text):
        if steps:
            print("", flush=True)
        steps.append(text)
        say("demo", "== step %d: %s" % (len(steps), text))

    def preflight():
        msg = rpcver.check(conn, API, "3.16")
        say("demo", "pre-flight for an old receiver: rpc_check('volume', "
            "'3.16') = %s" % ("NULL (it would be admitted)" if msg is None
                              else msg))

    def start(name, version):
        p = Proc(name, [sys.executable, script, "receiver", "--db", db,
                        "--name", name, "--version", version,
                        "--socket", sockets[name], "--heartbeat", "0.5"]
                 + lifetime + ext)
        procs.append(p)
        return p

    def start_ok(name, version):
        p = start(name, version)
        p.expect(r"%s: up " % re.escape(name), 10)
        running[name] = p

    def upgrade(name, version):
        status = running.pop(name).stop()
        if status != 0:
            raise DemoFailed("%s: old process exited %s, expected 0"
                             % (name, status))
        start_ok(name, version)

    def show():
        for row in rpcver.status(conn):
            say("demo", "rpc_status: %(method)s receivers=%(receivers)s "
                "negotiated=%(negotiated)s newest=%(newest)s floor=%(floor)s "
                "state=%(state)s" % row)
        lag = ["%(manager)s (%(hi)s)" % r for r in rpcver.laggards(conn)]
        say("demo", "rpc_laggards: %s" % (", ".join(lag) or "none"))

    def round_(expected):
        sender.send("send")
        m = sender.expect(r"sender: round \d+: cap (\S+), sent (.*)", 10)
        got = re.findall(r"(\S+) to (\S+) \(([^)]*)\)", m.group(2))
        want = [(expected, n, "ok") for n in sorted(running)]
        if sorted(got) != want:
            raise DemoFailed("sender sent %s, expected %s" % (got, want))
        if m.group(1) != expected:
            raise DemoFailed("sender's cap is %s, expected %s"
                             % (m.group(1), expected))
        for n in sorted(running):   # and each receiver handled that shape
            running[n].expect(r"handled extend@%s " % re.escape(expected), 5)

    step("host-a and host-b start at volume 3.16; the sender can build 3.16 "
         "and 3.17")
    start_ok("host-a", "3.16")
    start_ok("host-b", "3.16")
    sender = Proc("sender", [sys.executable, script, "sender", "--db", db,
                             "--sender-hi", "3.17"] + lifetime + ext +
                  ["--receiver=%s=%s" % (n, sockets[n])
                   for n in ("host-a", "host-b")], stdin=True)
    procs.append(sender)
    sender.expect(r"sender: ready", 10)
    round_("3.16")
    show()

    step("upgrade host-a to 3.17 (stop it; start the new code under the "
         "same name)")
    upgrade("host-a", "3.17")
    round_("3.16")
    show()
    say("demo", "bug check: a sender that ignores rpcver sends extend@3.17 "
        "to host-b")
    reply = call(sockets["host-b"],
                 {"method": "extend", "version": "3.17",
                  "args": extend_args("3.17", "vol-bug", 99)})
    if reply.get("ok") or "not supported" not in reply.get("error", ""):
        raise DemoFailed("host-b accepted a 3.17 call: %s" % reply)
    running["host-b"].expect(r"REJECTED extend@3\.17", 5)
    say("demo", "host-b rejected it: %s" % reply["error"])

    preflight()
    step("upgrade host-b to 3.17 (the last old receiver)")
    upgrade("host-b", "3.17")
    round_("3.17")
    show()

    preflight()
    step("an old receiver, host-c at 3.16, tries to start")
    old = start("host-c", "3.16")
    try:
        status = old.popen.wait(max(0.1, Proc.deadline - time.monotonic()))
    except subprocess.TimeoutExpired:
        raise DemoFailed("host-c did not exit")
    old.reader.join(2.0)
    text = "\n".join(old.output)
    if status != EXIT_REFUSED or "REFUSED at start-up: rpcver:" not in text \
            or "cannot register" not in text:
        raise DemoFailed("host-c: expected a refusal and exit 3, got exit %s"
                         % status)
    say("demo", "host-c exited with status %d (refused)" % status)
    round_("3.17")
    show()

    step("stop")
    sender.send("quit")
    if sender.popen.wait(5) != 0:
        raise DemoFailed("sender exited %s" % sender.popen.returncode)
    for name in sorted(running):
        if running[name].stop() != 0:
            raise DemoFailed("%s did not stop cleanly" % name)
    verdict = rpcver.verify(conn)
    say("demo", "rpc_verify() = %s" % verdict)
    conn.close()
    if verdict != "ok":
        raise DemoFailed("rpc_verify: %s" % verdict)


# ---------------------------------------------------------------------------

def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--demo"]:
        argv = ["demo"] + argv[1:]
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--extension", default=None,
                    help="path of the rpcver extension (see rpcver.load)")
    sub = ap.add_subparsers(dest="command", required=True)

    r = sub.add_parser("receiver", help="a volume manager")
    r.add_argument("--db", required=True)
    r.add_argument("--name", required=True)
    r.add_argument("--version", required=True,
                   help="highest version of 'volume' it receives, e.g. 3.17")
    r.add_argument("--socket", required=True)
    r.add_argument("--heartbeat", type=float, default=0.5)
    r.add_argument("--lifetime", type=float, default=20.0)
    r.add_argument("--extension", default=argparse.SUPPRESS)

    s = sub.add_parser("sender", help="the caller (commands on stdin)")
    s.add_argument("--db", required=True)
    s.add_argument("--receiver", action="append", default=[],
                   metavar="NAME=PATH")
    s.add_argument("--sender-hi", default="3.17")
    s.add_argument("--lifetime", type=float, default=20.0)
    s.add_argument("--extension", default=argparse.SUPPRESS)

    d = sub.add_parser("demo", help="the rolling upgrade, checked")
    d.add_argument("--keep", action="store_true",
                   help="keep the temporary directory")
    d.add_argument("--extension", default=argparse.SUPPRESS)

    opts = ap.parse_args(argv)
    try:
        rpcver.version_key(getattr(opts, "version", "0"))
    except rpcver.VersionError as err:
        ap.error(str(err))
    try:
        if opts.command == "receiver":
            return run_receiver(opts)
        if opts.command == "sender":
            return run_sender(opts)
        return run_demo(opts)
    except rpcver.RpcverError as err:
        print("%s: %s" % (opts.command, err), file=sys.stderr, flush=True)
        return EXIT_ERROR


if __name__ == "__main__":
    sys.exit(main())
