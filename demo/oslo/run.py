"""make demo-oslo: a Cinder-like service in several processes over a real
RabbitMQ broker, through a rolling upgrade, a refusal and a rollback by pin,
with rpcver capping every call (bindings/python/rpcver_oslo.py).

    /usr/bin/python3 demo/oslo/run.py [--keep] [--uncapped]
                                      [--start-timeout SECONDS] [--crash-broker]

0. A private RabbitMQ on 127.0.0.1 (demo/oslo/broker.py): free ports, its own
   data directory, epmd and node name; stopped at the end, also on failure.
1. The old release everywhere: managers m1 and m2 (volume 3.16, Volume 1.0)
   and an API process that casts and calls.
2. m1 restarts at the new release (3.17, Volume 1.1).
3. The API restarts at the new release: m2 is old, so it sends 3.16 and
   Volume 1.0.
4. m2 upgrades: the running API sends 3.17 and Volume 1.1 from its next
   call on, without a restart.
5. An old manager, m3, tries to start: rpcver refuses it; its log says why.
6. Rollback by pin: the operator pins volume 3.16 and obj:Volume 1.0; the
   running API follows at its next call.  m3 (old), started at once, is
   refused: the API is a registered sender, and what it could send before
   the pin (3.17) may still be in flight for the drain window (DRAIN s,
   set at step 1 with rpc_drain; the API's calls time out after as long,
   and oslo.messaging publishes a call with its timeout as the message's
   TTL).  Once rpcver's window has passed, and once the queues of topic
   volume hold no message (rabbitmqctl list_queues: a cast has no TTL, so
   no window covers it), m3 (old) is admitted, and, after the same queue
   check, m2 rolls back to the old release.
7. Every process's log: zero UnsupportedVersion, zero
   IncompatibleObjectVersion, zero tracebacks, every call answered, every
   cast handled; the API heartbeat its sender registration every round and
   unregistered it at each stop.

After each round the logs are checked, so a failure stops the demo there.
The last line is "demo-oslo: ok"; otherwise "demo-oslo: FAILED: ..." and
exit status 1, with the logs kept.  Every wait is bounded (a start-up by
--start-timeout, 30 s).  Every process is recorded as it is spawned (in
memory and in demo/tmp/oslo-PID/pids); at the end, also on failure, each one
still running gets SIGTERM, then, after GRACE seconds, SIGKILL to its process
group; the pids file is removed only when none is left, else the next run
stops them (as it does after a run killed with SIGKILL).  The services write
to their logs, never to this process's output.  Files: demo/tmp/oslo-PID
(removed on success unless --keep, else at the next run).  --uncapped runs
the API without rpcver (a plain oslo.messaging client sending its newest
versions): the control, which must fail at step 3.  --crash-broker, for
tests/oslo.test: the broker is killed (SIGKILL to its process group) just
before step 2 restarts m1, which then never serves.
"""

import argparse
import glob
import json
import os
import re
import select
import shutil
import signal
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(ROOT, "bindings", "python"))

import broker as brokers                                     # noqa: E402
import rpcver                                                # noqa: E402

PY = "/usr/bin/python3"
# eventlet (imported by oslo.messaging) skips its DNS module: a faster start
CHILD_ENV = dict(os.environ, EVENTLET_NO_GREENDNS="yes")
VOLUME = os.path.join(HERE, "volume.py")
BAD = ("UnsupportedVersion", "IncompatibleObjectVersion", "Traceback")
#: How long a process may take to stop after SIGTERM before it is killed
#: (SIGKILL to its process group).
GRACE = 10
#: The drain window, rpc_drain(NULL, DRAIN) for every method, and the API's
#: call timeout: oslo.messaging's rabbit driver publishes a call with its
#: timeout as the message's TTL (expiration), so no call outlives the
#: window.  Casts have no TTL: the queue check stays for them.
DRAIN = 8


class DemoFailed(Exception):
    pass


def say(text=""):
    print(text, flush=True)


class Demo:
    def __init__(self, tmp, uncapped=False, start_timeout=30,
                 crash_broker=False):
        self.tmp = tmp
        self.uncapped = uncapped
        self.start_timeout = start_timeout
        self.crash_broker = crash_broker
        self.db = os.path.join(tmp, "rpcver.db")
        self.pids = brokers.Pids(os.path.join(tmp, "pids"))
        self.broker = brokers.Broker(os.path.join(tmp, "broker"),
                                     pids=self.pids)
        self.managers = {}          # name -> (Popen, release, log), serving
        self.children = []          # every process started: (name, Popen)
        self.api_proc = None
        self._api_buffer = b""
        self.api_release = None
        self.api_sender = None
        self.api_unregistered = 0   # API stops that left no registration
        self.heartbeats = []        # the API's heartbeat answer, per round
        self.runs = {}              # name -> count of processes started
        self.logs = []              # every process log, in start order
        self.calls = 0
        self.answered = 0
        self.casts = []
        self.round = 0

    # -- processes --------------------------------------------------------

    def _log(self, name, release):
        self.runs[name] = self.runs.get(name, 0) + 1
        path = os.path.join(self.tmp, "%s.%d-%s.log" % (name, self.runs[name],
                                                        release))
        self.logs.append(path)
        return path

    def _argv(self, role, name, release, log):
        argv = [PY, VOLUME, role, "--name", name, "--release", release,
                "--db", self.db, "--url", self.broker.url, "--log", log]
        if role == "api":
            argv += ["--call-timeout", str(DRAIN)]
            if self.uncapped:
                argv.append("--uncapped")
        return argv

    def _spawn(self, name, argv, log, **kwargs):
        """Start a child in a session (process group) of its own, recorded
        at once, in memory and in the pids file, so that whatever happens
        next it is stopped (stop_all) or reaped by the next run.  Its
        stderr (and its stdout unless piped) goes to its log: a child left
        behind never holds the demo's own output open."""
        with open(log, "ab") as out:
            kwargs.setdefault("stdout", out)
            proc = subprocess.Popen(argv, env=CHILD_ENV, stderr=out,
                                    start_new_session=True, **kwargs)
        self.children.append((name, proc))
        self.pids.add("group", proc.pid)
        return proc

    def start_manager(self, name, release):
        """Start a manager; True when it serves, False when refused (exit 3)."""
        log = self._log(name, release)
        proc = self._spawn(name, self._argv("manager", name, release, log),
                           log, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + self.start_timeout
        while True:
            text = _read(log)
            if "%s serving" % name in text:
                self.managers[name] = (proc, release, log)
                return True
            rc = proc.poll()
            if rc == 3:
                return False
            if rc is not None:
                raise DemoFailed("%s exited with status %s at start-up; see %s"
                                 % (name, rc, log))
            if time.monotonic() > deadline:
                raise DemoFailed("%s did not start within %d s; see %s"
                                 % (name, self.start_timeout, log))
            time.sleep(0.05)

    def stop_manager(self, name):
        proc, _, log = self.managers.pop(name)
        proc.send_signal(signal.SIGTERM)
        try:
            rc = proc.wait(30)
        except subprocess.TimeoutExpired:
            _kill_group(proc)
            raise DemoFailed("%s did not stop within 30 s of SIGTERM; killed"
                             % name)
        if rc != 0:
            raise DemoFailed("%s exited with status %s; see %s" % (name, rc, log))

    def start_api(self, release):
        log = self._log("api", release)
        self.api_proc = self._spawn("api", self._argv("api", "api", release,
                                                      log), log,
                                    stdin=subprocess.PIPE,
                                    stdout=subprocess.PIPE)
        self._api_buffer = b""
        self.api_release = release
        line = self._api_line(self.start_timeout, "start")
        if not line or not json.loads(line).get("ready"):
            raise DemoFailed("the API did not start (exit %s); see %s"
                             % (self.api_proc.poll(), log))
        self.api_sender = json.loads(line)["sender"]
        if self.api_sender is not None:
            rows = self.senders()
            if rows.get(self.api_sender) is None:
                raise DemoFailed("the API is not a registered sender")
            say("  the API registers as sender %s of volume [%s, %s]"
                % ((self.api_sender,) + rows[self.api_sender]))

    def _api_line(self, timeout, what):
        """The API's next line of output, waiting at most TIMEOUT seconds;
        "" when it closed its output (it exited)."""
        fd = self.api_proc.stdout.fileno()
        deadline = time.monotonic() + timeout
        while b"\n" not in self._api_buffer:
            left = deadline - time.monotonic()
            if left <= 0:
                raise DemoFailed("the API did not answer (%s) within %d s"
                                 % (what, timeout))
            ready, _, _ = select.select([fd], [], [], left)
            if ready:
                chunk = os.read(fd, 65536)
                if not chunk:
                    return ""
                self._api_buffer += chunk
        line, self._api_buffer = self._api_buffer.split(b"\n", 1)
        return line.decode()

    def stop_api(self):
        proc, self.api_proc = self.api_proc, None
        proc.stdin.close()
        try:
            rc = proc.wait(30)
        except subprocess.TimeoutExpired:
            _kill_group(proc)
            raise DemoFailed("the API did not stop within 30 s of the end of "
                             "its input; killed")
        if rc != 0:
            raise DemoFailed("the API exited with status %s" % rc)
        if self.api_sender is not None:
            if self.api_sender in self.senders():
                raise DemoFailed("the API stopped, but its sender "
                                 "registration %s is still there"
                                 % self.api_sender)
            self.api_unregistered += 1
            say("  the API stopped: its sender registration is gone "
                "(unregistered at close); what it sent drains for %d s" % DRAIN)

    def senders(self):
        """{sender: (lo, hi)} of method volume, as rpcver has them."""
        conn = rpcver.connect(self.db)
        try:
            return {row[0]: (row[1], row[2]) for row in conn.execute(
                "SELECT sender, lo, hi FROM rpc_senders "
                "WHERE method = 'volume'")}
        finally:
            conn.close()

    def stop_all(self):
        """Stop every child still running, serving or not: SIGTERM (the
        API: the end of its input first), GRACE seconds for all of them,
        then SIGKILL to the process group of each one left.  Returns the
        names of those that had to be killed."""
        self.managers.clear()
        self.api_proc = None
        running = [(name, proc) for name, proc in self.children
                   if proc.poll() is None]
        for name, proc in running:
            if proc.stdin is not None:
                try:
                    proc.stdin.close()           # the API's end of input
                except OSError:
                    pass
            else:
                proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + GRACE
        api_termed = False
        while any(proc.poll() is None for _, proc in running):
            now = time.monotonic()
            if now > deadline:
                break
            if not api_termed and now > deadline - GRACE / 2:
                api_termed = True                # still reading: SIGTERM
                for name, proc in running:
                    if proc.stdin is not None and proc.poll() is None:
                        proc.send_signal(signal.SIGTERM)
            time.sleep(0.05)
        killed = []
        for name, proc in running:
            if proc.poll() is None:
                killed.append("%s (pid %d)" % (name, proc.pid))
            _kill_group(proc)                    # and whatever it started
        for _, proc in self.children:
            if proc.stdout is not None:
                proc.stdout.close()
        return killed

    def left(self):
        """Pids still alive in the process groups of the children."""
        return [pid for _, proc in self.children
                for pid in brokers._group(proc.pid)]

    # -- rounds and checks ------------------------------------------------

    def api_round(self, expect_volume, expect_object):
        """One round of calls and casts to every running manager; prints
        what the API sent and checks it against the expectation."""
        self.round += 1
        hosts = sorted(self.managers)
        self.api_proc.stdin.write((json.dumps({"round": self.round,
                                               "hosts": hosts}) + "\n").encode())
        self.api_proc.stdin.flush()
        # each call has a DRAIN s timeout: the answer comes within them
        line = self._api_line(DRAIN * 2 * len(hosts) + 30,
                              "round %d" % self.round)
        if not line:
            raise DemoFailed("the API process died (exit %s)"
                             % self.api_proc.poll())
        r = json.loads(line)
        self.calls += r["calls"]
        self.answered += r["answered"]
        if r["heartbeat"] is not None:
            self.heartbeats.append(r["heartbeat"])
        self.casts += r["casts"]
        sent = sorted(set(r["sent"]))
        objects = sorted(set(r["objects"]))
        say("  round %d: api -> %s: %d calls, %d answered, sent volume %s "
            "and Volume %s, got Volume %s back; %d casts"
            % (self.round, ", ".join(hosts), r["calls"], r["answered"],
               "/".join(sent) or "-", "/".join(objects),
               "/".join(sorted(set(r["received"]))) or "-", len(r["casts"])))
        for err in r["errors"]:
            say("    error: %s" % err)
        self.wait_for_casts()
        self.check_logs()
        if r["answered"] != r["calls"] or r["errors"]:
            raise DemoFailed("round %d: %d of %d calls answered"
                             % (self.round, r["answered"], r["calls"]))
        if sent != [expect_volume] or objects != [expect_object]:
            raise DemoFailed("round %d: the API sent volume %s and Volume %s; "
                             "expected %s and %s" % (self.round, sent, objects,
                                                     expect_volume,
                                                     expect_object))

    def handled_casts(self):
        found = set()
        for log in self.logs:
            found.update(re.findall(r"handled cast (\S+) notify", _read(log)))
        return found

    def wait_for_casts(self, timeout=15):
        deadline = time.monotonic() + timeout
        while True:
            missing = set(self.casts) - self.handled_casts()
            if not missing:
                return
            self.check_logs()         # a cast refused there fails now
            if time.monotonic() > deadline:
                raise DemoFailed("casts not handled within %d s: %s"
                                 % (timeout, ", ".join(sorted(missing))))
            time.sleep(0.05)

    def bad_lines(self):
        """{log: {word: count}} for every log with a forbidden word."""
        found = {}
        for log in self.logs:
            text = _read(log)
            counts = {w: text.count(w) for w in BAD if w in text}
            if counts:
                found[log] = counts
        return found

    def check_logs(self):
        bad = self.bad_lines()
        if bad:
            # what is in flight (a cast being refused) lands first: wait
            # until the logs stop growing (at most 10 s)
            size, deadline = -1, time.monotonic() + 10
            while time.monotonic() < deadline:
                time.sleep(0.5)
                now = sum(len(_read(log)) for log in self.logs)
                if now == size:
                    break
                size = now
            bad = self.bad_lines()
            raise DemoFailed("; ".join(
                "%s: %s" % (os.path.basename(log), ", ".join(
                    "%d %s" % (n, w) for w, n in sorted(counts.items())))
                for log, counts in sorted(bad.items())))

    def status(self):
        conn = rpcver.connect(self.db)
        try:
            for row in rpcver.status(conn):
                say("    %-11s negotiated %-5s newest %-5s pin %-5s floor %-5s "
                    "%-9s senders %d%s"
                    % (row["method"], row["negotiated"], row["newest"],
                       row["pin"] or "-", row["floor"], row["state"],
                       row["senders"], "  in flight %d s more"
                       % row["drain_left"] if row["drain_left"] else ""))
        finally:
            conn.close()

    def set_drain(self, seconds):
        conn = rpcver.connect(self.db)
        try:
            rpcver.set_drain(conn, None, seconds)
        finally:
            conn.close()

    def wait_for_window(self, method, version, timeout):
        """Wait until rpcver would admit a receiver of METHOD at [MAJOR.0,
        VERSION] (rpc_check): its drain window has passed."""
        conn = rpcver.connect(self.db)
        try:
            deadline = time.monotonic() + timeout
            while True:
                refusal = rpcver.check(conn, method, version)
                if refusal is None:
                    break
                if "(the drain window)" not in refusal:
                    raise DemoFailed(refusal)
                if time.monotonic() > deadline:
                    raise DemoFailed("rpcver's drain window for %s did not "
                                     "pass within %d s: %s"
                                     % (method, timeout, refusal))
                time.sleep(0.25)
            flight = {r["method"]: r for r in rpcver.in_flight(conn)}
        finally:
            conn.close()
        row = flight.get(method)
        say("  rpcver's drain window for %s has passed: in flight only what "
            "the senders may send now, %s to %s (rpc_in_flight)"
            % (method, row["sending_lo"], row["sending_hi"]))

    def pin(self, method, version):
        conn = rpcver.connect(self.db)
        try:
            rpcver.pin(conn, method, version)
        finally:
            conn.close()

    def wait_for_drain(self, topic, timeout=30):
        """Wait until no queue of TOPIC (its topic queue, its per-server
        queues TOPIC.SERVER, its fanout queues) holds a message, as
        rabbitmqctl list_queues counts them, ready or unacknowledged: what
        was sent before the pin has been consumed, by the managers that
        accept it.  Only then may an old manager start (docs/oslo.md,
        "Rolling back")."""
        deadline = time.monotonic() + timeout
        while True:
            queues = {name: n for name, n in self.broker.queues().items()
                      if name == topic or name.startswith(topic + ".")
                      or name.startswith(topic + "_fanout")}
            if not any(queues.values()):
                say("  the queues of topic %s are drained (rabbitmqctl "
                    "list_queues: %d queues, 0 messages; a cast has no TTL, "
                    "so no drain window covers it): an old manager may start"
                    % (topic, len(queues)))
                return
            if time.monotonic() > deadline:
                raise DemoFailed("the queues of topic %s did not drain within "
                                 "%d s: %s" % (topic, timeout, ", ".join(
                                     "%s %d" % item for item in
                                     sorted(queues.items()) if item[1])))
            time.sleep(0.5)

    # -- the story ----------------------------------------------------------

    def run(self):
        t0 = time.monotonic()
        self.broker.start()
        say("== 0. a private RabbitMQ on 127.0.0.1:%d (node %s), started in "
            "%.1f s" % (self.broker.port, self.broker.node,
                        time.monotonic() - t0))

        say("== 1. the old release everywhere: managers m1, m2 and the API "
            "at volume 3.16, Volume 1.0")
        self.set_drain(DRAIN)
        say("  the operator sets the drain window, rpc_drain(NULL, %d): every "
            "method's messages are in flight %d s at most (the API's calls "
            "time out after %d s, and their messages expire then)"
            % (DRAIN, DRAIN, DRAIN))
        for name in ("m1", "m2"):
            self.start_manager(name, "old") or self.refused(name)
        self.start_api("old")
        self.status()
        self.api_round("3.16", "1.0")

        say("== 2. rolling upgrade: m1 restarts at the new release "
            "(volume 3.17, Volume 1.1)")
        self.stop_manager("m1")
        if self.crash_broker:                # tests/oslo.test's fault
            os.killpg(self.broker.proc.pid, signal.SIGKILL)
            say("  (--crash-broker: the broker's process group is killed)")
        self.start_manager("m1", "new") or self.refused("m1")
        self.status()
        self.api_round("3.16", "1.0")

        say("== 3. the API restarts at the new release; m2 is still old")
        self.stop_api()
        self.start_api("new")
        self.api_round("3.16", "1.0")

        say("== 4. m2 upgrades; the running API sends 3.17 and Volume 1.1 "
            "from its next call on, no restart")
        self.stop_manager("m2")
        self.start_manager("m2", "new") or self.refused("m2")
        self.status()
        self.api_round("3.17", "1.1")

        say("== 5. an old manager, m3, tries to start")
        if self.start_manager("m3", "old"):
            raise DemoFailed("m3 (old) was admitted after the upgrade")
        line = _grep(self.logs[-1], "rpcver: manager 'm3' cannot register")
        if not line:
            raise DemoFailed("m3's log has no refusal line: %s" % self.logs[-1])
        say("  m3 REFUSED at start-up (exit 3); its log line:")
        say("    %s" % line)

        say("== 6. rollback by pin: the operator pins volume 3.16 and "
            "obj:Volume 1.0")
        self.pin("volume", "3.16")
        self.pin("obj:Volume", "1.0")
        # at once: the API could send 3.17 until the pin, and such a call
        # may still be in flight for the drain window
        if self.start_manager("m3", "old"):
            raise DemoFailed("m3 (old) was admitted within the drain window")
        line = _grep(self.logs[-1], "rpcver: manager 'm3' cannot register")
        if not line or "(the drain window)" not in line:
            raise DemoFailed("m3's log has no drain refusal line: %s"
                             % self.logs[-1])
        say("  m3 (old) starts at once, within the drain window: REFUSED "
            "(exit 3); its log line:")
        say("    %s" % line)
        self.status()
        self.api_round("3.16", "1.0")
        # rpcver holds old managers to the drain window (the API is a
        # registered sender); casts have no TTL, so the queues are checked
        # too: a cast sent at 3.17 before the pin could still wait there
        self.wait_for_window("volume", "3.16", DRAIN + 30)
        self.wait_for_drain("volume")
        say("  m3 (old) starts again: admitted")
        if not self.start_manager("m3", "old"):
            raise DemoFailed("m3 (old) was refused after the pin")
        self.stop_manager("m2")
        self.wait_for_drain("volume")
        say("  m2 rolls back to the old release: admitted")
        self.start_manager("m2", "old") or self.refused("m2")
        self.status()
        self.api_round("3.16", "1.0")

        say("== 7. every process's log")
        self.stop_api()
        self.stop_all()
        self.check_logs()
        handled = self.handled_casts()
        for log in self.logs:
            text = _read(log)
            calls = len(re.findall(r"handled call ", text))
            casts = len(re.findall(r"handled cast ", text))
            what = ("refused at start-up" if "cannot start" in text else
                    "%d calls and %d casts handled" % (calls, casts)
                    if "api" not in os.path.basename(log) else
                    "%d calls answered" % len(re.findall(r"call \S+ to \S+ "
                                                         r"(?:at \S+ )?answered",
                                                         text)))
            say("  %-14s %s; %s" % (os.path.basename(log), what, ", ".join(
                "0 %s" % w for w in BAD)))
        beats = [b for b in self.heartbeats if b]
        if len(beats) != len(self.heartbeats) or \
                not all(all(b.values()) for b in beats):
            raise DemoFailed("the API's sender registration went missing: %s"
                             % self.heartbeats)
        say("  api: each of its %d rounds began with a heartbeat that found "
            "its sender registration in place; each of its %d stops "
            "unregistered it" % (len(beats), self.api_unregistered))
        handled_calls = sum(len(re.findall(r"handled call ", _read(log)))
                            for log in self.logs)
        say("  calls: %d made, %d answered, %d handled by managers; casts: "
            "%d sent, %d handled" % (self.calls, self.answered, handled_calls,
                                     len(self.casts),
                                     len(handled & set(self.casts))))
        if not (self.calls == self.answered == handled_calls) or \
                set(self.casts) - handled:
            raise DemoFailed("calls or casts went missing")

    def refused(self, name):
        raise DemoFailed("%s was refused at start-up; see %s"
                         % (name, self.logs[-1]))


def _kill_group(proc):
    """SIGKILL the process group of PROC (the leader of a session of its
    own) and reap PROC; nothing when the group is gone already."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        pass


def _read(path):
    try:
        with open(path, errors="replace") as f:
            return f.read()
    except FileNotFoundError:
        return ""


def _grep(path, needle):
    for line in _read(path).splitlines():
        if needle in line:
            return line
    return None


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", action="store_true",
                        help="keep demo/tmp/oslo-PID after a success too")
    parser.add_argument("--uncapped", action="store_true",
                        help="the control: the API without rpcver")
    parser.add_argument("--start-timeout", type=int, default=30,
                        metavar="SECONDS",
                        help="how long a service may take to start (30)")
    parser.add_argument("--crash-broker", action="store_true",
                        help="tests/oslo.test's fault: kill the broker before "
                        "step 2 restarts m1")
    args = parser.parse_args()
    name = "demo-oslo" + (" --uncapped" if args.uncapped else "")
    parent = os.path.join(ROOT, "demo", "tmp")
    for pid in brokers.reap(parent):
        say("(stopped process %d, left by an earlier run that was killed)"
            % pid)
    # earlier runs' files (a run still going has its pids file)
    for old in glob.glob(os.path.join(parent, "oslo-*")):
        if not os.path.exists(os.path.join(old, "pids")):
            shutil.rmtree(old, ignore_errors=True)
    tmp = os.path.join(parent, "oslo-%d" % os.getpid())
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)
    demo = Demo(tmp, uncapped=args.uncapped, start_timeout=args.start_timeout,
                crash_broker=args.crash_broker)

    def on_signal(signum, frame):
        raise DemoFailed("stopped by signal %d" % signum)
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    ok = False
    left = None
    try:
        demo.run()
        ok = True
    except (DemoFailed, brokers.BrokerError) as err:
        say("%s: FAILED: %s" % (name, err))
    finally:
        # the cleanup runs to its end (every wait in it is bounded)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        killed = demo.stop_all()
        if killed:
            say("%s: FAILED: killed (SIGKILL) after %d s of SIGTERM: %s"
                % (name, GRACE, ", ".join(killed)))
            ok = False
        demo.broker.stop()
        left = demo.broker.running() + demo.left()
        if left:
            say("%s: FAILED: processes still running: %s (the next run stops "
                "them: %s keeps their process groups)"
                % (name, " ".join(map(str, left)),
                   os.path.relpath(os.path.join(tmp, "pids"))))
            ok = False
        else:
            # every process of the run is gone: nothing for a next run to reap
            os.remove(os.path.join(tmp, "pids"))
    if not ok:
        say("%s: logs kept in %s" % (name, os.path.relpath(tmp)))
        return 1
    say("  broker stopped; no demo process left")
    if args.keep:
        say("  logs in %s" % os.path.relpath(tmp))
    else:
        shutil.rmtree(tmp, ignore_errors=True)
    say("demo-oslo: ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
