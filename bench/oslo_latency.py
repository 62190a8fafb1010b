"""make bench-oslo: what rpcver adds to one oslo.messaging call over RabbitMQ
on loopback.

    /usr/bin/python3 bench/oslo_latency.py [ROUNDS [BATCH]]

A private RabbitMQ (demo/oslo/broker.py) and a server process (this file
with --serve) serving two topics in one process: 'plain', with
oslo.versionedobjects' own VersionedObjectSerializer, and 'rpcver', with
rpcver_oslo.ObjectSerializer and registered with rpcver
(rpcver_oslo.register_service).  The client, in this process, calls each
topic with a blocking call():

  rows "no object"   ping(n=i) -> i + 1
  rows "object"      echo(volume=Volume(size=i)) -> the Volume, size i + 1

  plain    oslo_messaging.get_rpc_client(..., version_cap='3.17'): a static
           cap, as Cinder has after its start-up (cached caps)
  rpcver   rpcver_oslo.RPCAPI: every call prepares with rpcver's cap asked
           at call time, and (object rows) every Volume goes through
           ObjectSerializer's per-class backport, on the way there and back

Each round times BATCH calls of every variant in turn, in an order rotated
each round (A B C D, B C D A, ...), so drift and other load hit all alike;
5 warm-up rounds first (see measure()).  The table gives, per variant, the median over the
rounds of the per-call latency of a batch, and the ratio rpcver / plain;
below it, what rpcver's prepare() and the backport cost alone (no broker:
the same work without sending).  Every reply is checked.  Timings are never
pass/fail.  Default ROUNDS 100, BATCH 20 (2,000 calls per variant; about
30 s with the broker's start).
"""

import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, ".."))
sys.path.insert(0, os.path.join(ROOT, "demo", "oslo"))
sys.path.insert(0, os.path.join(ROOT, "bindings", "python"))

from oslo_config import cfg                                     # noqa: E402
import oslo_messaging as messaging                               # noqa: E402
from oslo_versionedobjects import base as ovo_base               # noqa: E402
from oslo_versionedobjects import fields                         # noqa: E402

import rpcver                                                    # noqa: E402
import rpcver_oslo                                               # noqa: E402

cfg.CONF.set_override("metrics_thread_stop_timeout", 0,
                      group="oslo_messaging_metrics")


@ovo_base.VersionedObjectRegistry.register
class Volume(ovo_base.VersionedObject):
    VERSION = "1.1"
    fields = {"id": fields.StringField(), "size": fields.IntegerField(),
              "status": fields.StringField(),
              "shared_targets": fields.BooleanField()}


class Endpoint:
    target = messaging.Target(version="3.17")

    def ping(self, ctxt, n):
        return n + 1

    def echo(self, ctxt, volume):
        volume.size += 1
        return volume


class BenchAPI(rpcver_oslo.RPCAPI):
    RPC_API_VERSION = "3.17"
    TOPIC = "rpcver"


def serve(db, url):
    transport = messaging.get_rpc_transport(cfg.CONF, url=url)
    rpcver_oslo.register_service(
        db, "bench-server", messaging.Target(topic="rpcver", server="s"),
        [Endpoint()], objects=[Volume])
    servers = [
        messaging.get_rpc_server(
            transport, messaging.Target(topic="plain", server="s"), [Endpoint()],
            executor="threading",
            serializer=ovo_base.VersionedObjectSerializer()),
        messaging.get_rpc_server(
            transport, messaging.Target(topic="rpcver", server="s"),
            [Endpoint()], executor="threading",
            serializer=rpcver_oslo.ObjectSerializer(db)),
    ]
    for s in servers:
        s.start()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    print("serving", flush=True)
    stop.wait()
    for s in servers:
        s.stop()
        s.wait()
    transport.cleanup()


def check(got, want, what):
    if got != want:
        sys.exit("bench-oslo: CHECK FAILED: %s returned %r, expected %r"
                 % (what, got, want))


def variants(transport, db):
    plain = messaging.get_rpc_client(
        transport, messaging.Target(topic="plain", version="3.17"),
        version_cap="3.17", serializer=ovo_base.VersionedObjectSerializer())
    api = BenchAPI(db, transport)

    def plain_ping(i):
        check(plain.prepare(server="s").call({}, "ping", n=i), i + 1,
              "plain ping")

    def rpcver_ping(i):
        check(api.prepare(server="s").call({}, "ping", n=i), i + 1,
              "rpcver ping")

    def volume(i):
        return Volume(id="vol-1", size=i, status="available",
                      shared_targets=True)

    def plain_echo(i):
        v = plain.prepare(server="s").call({}, "echo", volume=volume(i))
        check((v.VERSION, v.size), ("1.1", i + 1), "plain echo")

    def rpcver_echo(i):
        v = api.prepare(server="s").call({}, "echo", volume=volume(i))
        check((v.VERSION, v.size), ("1.1", i + 1), "rpcver echo")

    return [("no object", "plain", plain_ping),
            ("no object", "rpcver", rpcver_ping),
            ("object", "plain", plain_echo),
            ("object", "rpcver", rpcver_echo)], api


WARMUP = 5


def measure(fns, names, rounds, batch):
    """{index: [per-call seconds of each batch]}: ROUNDS rounds, each timing
    BATCH calls of every variant in turn, the order rotated every round;
    WARMUP rounds first (the server's thread pool grows to its 64 workers,
    and each worker of the rpcver server opens its connection to the
    database at its first reply: a steady-state service has all that done)."""
    samples = {i: [] for i in range(len(fns))}
    for rnd in range(-WARMUP, rounds):
        k = rnd % len(fns) if rnd >= 0 else 0
        order = list(range(len(fns)))
        for i in order[k:] + order[:k]:
            fn = fns[i]
            t0 = time.perf_counter()
            for n in range(batch):
                fn(n)
            dt = (time.perf_counter() - t0) / batch
            if rnd >= 0:
                samples[i].append(dt)
        if rnd >= 0 and rnd % 10 == 9:
            print("  round %d: %s" % (rnd + 1, ", ".join(
                "%s/%s %.0f us" % (names[i] + (samples[i][-1] * 1e6,))
                for i in range(len(fns)))), file=sys.stderr, flush=True)
    return samples


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "--serve":
        return serve(sys.argv[2], sys.argv[3])
    signal.signal(signal.SIGTERM, lambda *_: sys.exit("bench-oslo: terminated"))
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 100
    batch = int(sys.argv[2]) if len(sys.argv) > 2 else 20
    import broker as brokers
    # files in build/bench/oslo-PID, removed at the end; what a run killed
    # with SIGKILL left running is stopped here (demo/oslo/broker.py)
    parent = os.path.join(ROOT, "build", "bench")
    for pid in brokers.reap(parent):
        print("(stopped process %d, left by an earlier run that was killed)"
              % pid, file=sys.stderr)
    tmp = os.path.join(parent, "oslo-%d" % os.getpid())
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)
    pids = brokers.Pids(os.path.join(tmp, "pids"))
    db = os.path.join(tmp, "rpcver.db")
    broker = brokers.Broker(os.path.join(tmp, "broker"), name="rpcverbench",
                            pids=pids)
    server = None
    started = time.time()
    try:
        broker.start()
        server = subprocess.Popen([sys.executable, __file__, "--serve", db,
                                   broker.url], stdout=subprocess.PIPE,
                                  text=True, start_new_session=True)
        pids.add("group", server.pid)
        if server.stdout.readline().strip() != "serving":
            sys.exit("bench-oslo: the server did not start")
        transport = messaging.get_rpc_transport(cfg.CONF, url=broker.url)
        fns, api = variants(transport, db)
        names = [(row, v) for row, v, _ in fns]
        samples = measure([f for _, _, f in fns], names, rounds, batch)

        # rpcver's share without the broker: prepare() alone, and the
        # serializer's backport of one Volume (both directions: the server
        # backports the reply too, so the object row pays it twice)
        n = 5000
        t0 = time.perf_counter()
        for _ in range(n):
            api.prepare(server="s")
        prepare_us = (time.perf_counter() - t0) / n * 1e6
        vol = Volume(id="vol-1", size=1, status="available",
                     shared_targets=True)
        ser = rpcver_oslo.ObjectSerializer(db)
        plain_ser = ovo_base.VersionedObjectSerializer()
        t0 = time.perf_counter()
        for _ in range(n):
            ser.serialize_entity({}, vol)
        backport_us = (time.perf_counter() - t0) / n * 1e6
        t0 = time.perf_counter()
        for _ in range(n):
            plain_ser.serialize_entity({}, vol)
        plain_ser_us = (time.perf_counter() - t0) / n * 1e6
        check(api.version_cap, "3.17", "version_cap")
        transport.cleanup()
    finally:
        if server is not None and server.poll() is None:
            server.send_signal(signal.SIGTERM)
            try:
                server.wait(30)
            except subprocess.TimeoutExpired:
                server.kill()
        broker.stop()
        left = broker.running()
        shutil.rmtree(tmp, ignore_errors=True)
        if left:
            print("bench-oslo: broker processes still running: %s" % left)

    conn = rpcver.connect(":memory:")
    print("bench-oslo: %s UTC, %d CPUs, %s; RabbitMQ on 127.0.0.1, "
          "oslo.messaging %s, rpcver %s; per call, the median of %d "
          "batches of %d calls per variant, interleaved" % (
              time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime()),
              os.cpu_count(), cpu_model(), _version("oslo.messaging"),
              rpcver.extension_version(conn), rounds, batch))
    print("%-10s %-30s %-30s %s" % ("call", "rpcver (RPCAPI, capped)",
                                    "plain oslo (static cap)", "ratio"))
    med = {names[i]: statistics.median(s) for i, s in samples.items()}
    for row in ("no object", "object"):
        r, p = med[(row, "rpcver")], med[(row, "plain")]
        print("%-10s %-30s %-30s %.3f" % (row, "%.1f us" % (r * 1e6),
                                          "%.1f us" % (p * 1e6), r / p))
    print("rpcver alone, no broker: prepare() %.1f us; Volume serialized %.1f "
          "us with the backport, %.1f us without" % (prepare_us, backport_us,
                                                     plain_ser_us))
    print("runtime %.0f s" % (time.time() - started))
    return 0


def _version(dist):
    try:
        from importlib.metadata import version
        return version(dist)
    except Exception:
        return "?"


if __name__ == "__main__":
    sys.exit(main())
