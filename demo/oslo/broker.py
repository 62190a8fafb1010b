"""A private RabbitMQ broker on loopback, for the oslo demo and benchmark.

Debian's rabbitmq-server, started as the current user straight from
/usr/lib/rabbitmq/bin (the /usr/sbin wrapper would switch to the rabbitmq
user and its system-wide directories), with everything of its own under one
directory: Mnesia data, logs, the enabled-plugins and feature-flags files,
HOME (the Erlang cookie), and an epmd of its own on a port of its own.  Free
ports are picked for AMQP, Erlang distribution and epmd, and the node name
carries this process's id, so two runs at once do not meet, and neither
meets the system's broker or a leftover.  Everything binds to 127.0.0.1.

    with Broker(directory) as broker:
        url = broker.url                 # rabbit://guest:guest@127.0.0.1:PORT/

stop() sends SIGTERM to the broker (its graceful shutdown), waits for it,
SIGKILLs its process group after 20 s, then stops the epmd it started.
queues() asks the broker (rabbitmqctl list_queues) how many messages each
queue holds, ready or unacknowledged.

Pids(path) records what a run starts: its own pid, then each process group
(the broker's, each service's: they are started in sessions of their own)
and the epmd.  reap(parent) stops what a run killed with SIGKILL left
behind: for each PARENT/*/pids whose run is gone, the members of its
process groups that are still a broker or a service, and its epmd.
"""

import glob
import os
import shutil
import signal
import socket
import subprocess
import time

RABBITMQ_BIN = os.environ.get("RABBITMQ_BIN", "/usr/lib/rabbitmq/bin")
EPMD = shutil.which("epmd") or "/usr/bin/epmd"


def free_port():
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _port_open(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # a zombie still answers kill(0): look at its state
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _epmd_pid(port):
    """The pid of the epmd listening on PORT (from /proc), or None."""
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open("/proc/%s/cmdline" % pid, "rb") as f:
                argv = f.read().split(b"\0")
            with open("/proc/%s/environ" % pid, "rb") as f:
                env = f.read().split(b"\0")
        except OSError:
            continue
        if argv and os.path.basename(argv[0]) == b"epmd" and \
                ("ERL_EPMD_PORT=%d" % port).encode() in env:
            return int(pid)
    return None


def _cmdline(pid):
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            return f.read().replace(b"\0", b" ")
    except OSError:
        return b""


def _group(pgid):
    """Pids of the live processes in process group PGID."""
    members = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % pid) as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[0] != "Z" and int(fields[2]) == pgid:
            members.append(int(pid))
    return members


#: What the processes a run starts look like (so a reused pid is left alone).
MARKERS = (b"beam.smp", b"rabbitmq-server", b"epmd", b"volume.py",
           b"oslo_latency.py")


class Pids:
    """PATH: the pid of this run, then "group PGID" or "process PID" lines."""

    def __init__(self, path):
        self.path = path
        with open(path, "w") as f:
            f.write("%d\n" % os.getpid())

    def add(self, kind, pid):
        with open(self.path, "a") as f:
            f.write("%s %d\n" % (kind, pid))


def reap(parent):
    """Stop what runs killed before their cleanup left under PARENT; returns
    the pids signalled."""
    reaped = []
    for path in sorted(glob.glob(os.path.join(parent, "*", "pids"))):
        try:
            with open(path) as f:
                lines = f.read().split("\n")
            owner = int(lines[0])
        except (OSError, ValueError, IndexError):
            continue
        if _alive(owner):
            continue              # another run, still going
        for line in lines[1:]:
            if not line:
                continue
            kind, pid = line.split()
            pids = _group(int(pid)) if kind == "group" else [int(pid)]
            for p in pids:
                if _alive(p) and any(m in _cmdline(p) for m in MARKERS):
                    os.kill(p, signal.SIGKILL)
                    reaped.append(p)
        os.remove(path)
    return reaped


class BrokerError(Exception):
    pass


class Broker:
    def __init__(self, directory, name="rpcverdemo", pids=None):
        self.dir = os.path.abspath(directory)
        self.pids = pids
        self.node = "%s%d@localhost" % (name, os.getpid())
        self.port = self.dist_port = self.epmd_port = None
        self.proc = None
        self.epmd_pid = None

    @property
    def url(self):
        return "rabbit://guest:guest@127.0.0.1:%d/" % self.port

    def env(self):
        d = self.dir
        env = dict(os.environ)
        env.update({
            "RABBITMQ_NODENAME": self.node,
            "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
            "RABBITMQ_NODE_PORT": str(self.port),
            "RABBITMQ_DIST_PORT": str(self.dist_port),
            "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS":
                "-kernel inet_dist_use_interface {127,0,0,1}",
            "RABBITMQ_MNESIA_BASE": os.path.join(d, "mnesia"),
            "RABBITMQ_LOG_BASE": os.path.join(d, "log"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": os.path.join(d, "enabled_plugins"),
            "RABBITMQ_FEATURE_FLAGS_FILE": os.path.join(d, "feature_flags"),
            "RABBITMQ_PID_FILE": os.path.join(d, "broker.pid"),
            # none of the system's configuration
            "RABBITMQ_CONF_ENV_FILE": os.path.join(d, "rabbitmq-env.conf"),
            "RABBITMQ_CONFIG_FILE": os.path.join(d, "rabbitmq"),
            "RABBITMQ_ADVANCED_CONFIG_FILE": os.path.join(d, "advanced.config"),
            "HOME": os.path.join(d, "home"),
            "ERL_EPMD_PORT": str(self.epmd_port),
            "ERL_EPMD_ADDRESS": "127.0.0.1",
        })
        return env

    def start(self, timeout=60):
        server = os.path.join(RABBITMQ_BIN, "rabbitmq-server")
        if not os.access(server, os.X_OK):
            raise BrokerError("%s is missing: install rabbitmq-server "
                              "(sh tools/deps.sh)" % server)
        for sub in ("mnesia", "log", "home"):
            os.makedirs(os.path.join(self.dir, sub), exist_ok=True)
        with open(os.path.join(self.dir, "enabled_plugins"), "w") as f:
            f.write("[].\n")
        open(os.path.join(self.dir, "rabbitmq-env.conf"), "w").close()
        ports = set()
        while len(ports) < 3:
            ports.add(free_port())
        self.port, self.dist_port, self.epmd_port = sorted(ports)
        self.log = open(os.path.join(self.dir, "broker.out"), "ab")
        # its own session: a ^C to the demo reaches the broker only through
        # stop(), in order
        self.proc = subprocess.Popen([server], env=self.env(), cwd=self.dir,
                                     stdin=subprocess.DEVNULL, stdout=self.log,
                                     stderr=subprocess.STDOUT,
                                     start_new_session=True)
        if self.pids:
            self.pids.add("group", self.proc.pid)
        deadline = time.monotonic() + timeout
        while not _port_open(self.port):
            if self.proc.poll() is not None:
                raise BrokerError("rabbitmq-server exited with status %s "
                                  "before it listened; see %s/broker.out and "
                                  "%s/log" % (self.proc.returncode, self.dir,
                                              self.dir))
            if time.monotonic() > deadline:
                raise BrokerError("rabbitmq-server did not listen on %d "
                                  "within %d s" % (self.port, timeout))
            time.sleep(0.1)
        self.epmd_pid = _epmd_pid(self.epmd_port)
        if self.pids and self.epmd_pid:
            self.pids.add("process", self.epmd_pid)
        return self

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
            # the Erlang VM, in the same process group, may outlive the
            # script by a moment
            for _ in range(200):
                if not _group(self.proc.pid):
                    break
                time.sleep(0.1)
            else:
                os.killpg(self.proc.pid, signal.SIGKILL)
        if self.epmd_pid is None and self.epmd_port is not None:
            self.epmd_pid = _epmd_pid(self.epmd_port)
        if self.epmd_pid and _alive(self.epmd_pid):
            os.kill(self.epmd_pid, signal.SIGTERM)
            for _ in range(50):
                if not _alive(self.epmd_pid):
                    break
                time.sleep(0.05)

    def queues(self, timeout=30):
        """``{queue: messages}`` for every queue of the broker: the messages
        ready plus those delivered and not yet acknowledged, asked with
        ``rabbitmqctl list_queues``.  BrokerError when it does not answer."""
        ctl = os.path.join(RABBITMQ_BIN, "rabbitmqctl")
        try:
            out = subprocess.run(
                [ctl, "-n", self.node, "-q", "list_queues",
                 "--no-table-headers", "name", "messages_ready",
                 "messages_unacknowledged"], env=self.env(), cwd=self.dir,
                stdin=subprocess.DEVNULL, capture_output=True, text=True,
                timeout=timeout)
        except subprocess.TimeoutExpired:
            raise BrokerError("rabbitmqctl list_queues did not answer within "
                              "%d s" % timeout)
        if out.returncode != 0:
            raise BrokerError("rabbitmqctl list_queues failed (status %d): %s"
                              % (out.returncode, out.stderr.strip()))
        queues = {}
        for line in out.stdout.splitlines():
            fields = line.split()
            if len(fields) == 3 and fields[1].isdigit() and fields[2].isdigit():
                queues[fields[0]] = int(fields[1]) + int(fields[2])
        return queues

    def running(self):
        """Process ids of the broker (its process group) and its epmd that
        are still alive."""
        pids = _group(self.proc.pid) if self.proc else []
        if self.epmd_pid and _alive(self.epmd_pid):
            pids.append(self.epmd_pid)
        return pids

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

