"""A Cinder-like volume service over oslo.messaging, for make demo-oslo.

Two releases of the same code base:

    release  RPC API (topic 'volume')                    object Volume
    old      3.16: extend_volume(volume, new_size)        1.0: id, size, status
    new      3.17: extend_volume(..., reservations=None)  1.1: + shared_targets

and two kinds of process:

    volume.py manager --name m1 --release old|new --db DB --url URL --log FILE
    volume.py api     --name api --release old|new --db DB --url URL --log FILE
                      [--call-timeout SECONDS]

A manager registers with rpcver at start-up (rpcver_oslo.register_service;
refused: its log has rpcver's message, and it exits with status 3), then
serves the topic 'volume' as server NAME until SIGTERM (a SIGTERM while
it is still starting -- server.start() retries an absent broker for
ever -- makes it exit at once, status 1).  The API process
registers the objects it receives in replies, and its RPCAPI registers as a
sender of 'volume' (rpcver_oslo.RPCAPI: [3.0, RPC_API_VERSION], under
sender_name(NAME), NAME@host/pid; refused: exit 3), then reads rounds from
its standard input, one JSON line each ({"hosts": [...], "round": N}), and
for each round heartbeats its sender registration (as a service's periodic
task would), calls extend_volume and get_volume on each host (timeout
--call-timeout, 30 s) and casts notify, plus one cast to the topic; it
answers each round with one JSON line: the versions it sent, the calls
answered, the ids of its casts, the heartbeat's answer.  At the end of its
input it closes the RPCAPI, which unregisters the sender.  Every process
logs to its --log file; errors are logged with their traceback.

--uncapped (the demo's control): the API sends with a plain oslo.messaging
client and serializer, at its own newest versions, as a service without
rpcver would.
"""

import argparse
import json
import logging
import os
import signal
import sys
import threading

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "bindings", "python"))

from oslo_config import cfg                                     # noqa: E402
import oslo_messaging as messaging                               # noqa: E402
from oslo_versionedobjects import base as ovo_base               # noqa: E402
from oslo_versionedobjects import fields                         # noqa: E402

import rpcver                                                    # noqa: E402
import rpcver_oslo                                               # noqa: E402

RELEASES = {"old": ("3.16", "1.0"), "new": ("3.17", "1.1")}
TOPIC = "volume"
LOG = logging.getLogger("volume")

# oslo.messaging's metrics thread would keep each process alive 10 s after
# its last call.
cfg.CONF.set_override("metrics_thread_stop_timeout", 0,
                      group="oslo_messaging_metrics")


def define_volume(release):
    """Register this release's Volume class (one version per process, as in
    a real deployment) and return it."""
    version = RELEASES[release][1]
    volume_fields = {"id": fields.StringField(), "size": fields.IntegerField(),
                     "status": fields.StringField()}
    if version == "1.1":
        volume_fields["shared_targets"] = fields.BooleanField()

    class Volume(ovo_base.VersionedObject):
        VERSION = version
        fields = volume_fields

        def obj_make_compatible(self, primitive, target_version):
            super().obj_make_compatible(primitive, target_version)
            if target_version == "1.0":
                primitive.pop("shared_targets", None)

    return ovo_base.VersionedObjectRegistry.register(Volume)


def setup_logging(path, name):
    logging.basicConfig(
        filename=path, level=logging.INFO,
        format="%(asctime)s " + name + "[%(process)d] %(levelname)s "
               "%(name)s: %(message)s")


# --------------------------------------------------------------------------
# The manager

class OldManager:
    target = messaging.Target(version="3.16")

    def __init__(self, name, Volume):
        self.name = name
        self.Volume = Volume

    def _volume(self, size):
        vol = self.Volume(id="vol-1", size=size, status="available")
        if "shared_targets" in vol.fields:
            vol.shared_targets = True
        return vol

    def extend_volume(self, ctxt, volume, new_size):
        LOG.info("handled call %s extend_volume: 3.16 shape, Volume %s",
                 ctxt.get("call_id"), volume.VERSION)
        volume.size = new_size
        return volume

    def get_volume(self, ctxt, volume_id):
        LOG.info("handled call %s get_volume", ctxt.get("call_id"))
        return self._volume(10)

    def notify(self, ctxt, volume, cast_id):
        LOG.info("handled cast %s notify: Volume %s", cast_id, volume.VERSION)


class NewManager(OldManager):
    target = messaging.Target(version="3.17")

    def extend_volume(self, ctxt, volume, new_size, reservations=None):
        LOG.info("handled call %s extend_volume: %s shape, Volume %s",
                 ctxt.get("call_id"),
                 "3.16" if reservations is None else "3.17", volume.VERSION)
        volume.size = new_size
        return volume


def manager(args):
    Volume = define_volume(args.release)
    cls = NewManager if args.release == "new" else OldManager
    endpoint = cls(args.name, Volume)
    target = messaging.Target(topic=TOPIC, server=args.name)
    try:
        rpcver_oslo.register_service(args.db, args.name, target, [endpoint],
                                     objects=[Volume], logger=LOG)
    except rpcver.RefusedError:
        LOG.error("%s cannot start: exiting", args.name)
        return 3
    transport = messaging.get_rpc_transport(cfg.CONF, url=args.url)
    server = messaging.get_rpc_server(
        transport, target, [endpoint], executor="threading",
        serializer=rpcver_oslo.ObjectSerializer(args.db))
    stop = threading.Event()

    def on_sigterm(signum, frame):
        if serving.is_set():
            stop.set()                   # a graceful stop, below
            return
        # still in server.start() (it retries a broker that does not answer
        # for ever): nothing to stop gracefully, and stop.wait() is not
        # reached; leave now, without waiting for oslo's threads
        LOG.error("%s stopped by SIGTERM before serving", args.name)
        logging.shutdown()
        os._exit(1)
    serving = threading.Event()
    signal.signal(signal.SIGTERM, on_sigterm)
    server.start()
    serving.set()
    LOG.info("%s serving %s %s, Volume %s", args.name, TOPIC,
             endpoint.target.version, Volume.VERSION)
    stop.wait()
    server.stop()
    server.wait()
    transport.cleanup()
    LOG.info("%s stopped", args.name)
    return 0


# --------------------------------------------------------------------------
# The API

def api_class(release, timeout):
    class VolumeAPI(rpcver_oslo.RPCAPI):
        RPC_API_VERSION = RELEASES[release][0]
        RPC_DEFAULT_VERSION = "3.0"
        TOPIC = TOPIC
        BINARY = "volume"

        def extend_volume(self, ctxt, volume, new_size, host):
            if self.RPC_API_VERSION == "3.17":
                version = self._compat_ver("3.17", "3.16")
            else:
                version = "3.16"
            kwargs = {"reservations": ["r1"]} if version == "3.17" else {}
            cctxt = self._get_cctxt(version=version, server=host,
                                    timeout=timeout)
            return version, cctxt.call(ctxt, "extend_volume", volume=volume,
                                       new_size=new_size, **kwargs)

        def get_volume(self, ctxt, host):
            return self._get_cctxt(server=host, timeout=timeout).call(
                ctxt, "get_volume", volume_id="vol-1")

        def notify(self, ctxt, volume, cast_id, host=None):
            kwargs = {"server": host} if host else {}
            self._get_cctxt(**kwargs).cast(ctxt, "notify", volume=volume,
                                           cast_id=cast_id)

        def object_version(self, Volume):
            return self.serializer.caps(Volume.obj_name())[Volume.obj_name()]

    return VolumeAPI


class UncappedAPI:
    """The control: the same calls without rpcver, at this release's newest
    versions, with oslo.versionedobjects' own serializer."""

    sender_name = None                   # not registered with rpcver

    def __init__(self, release, transport, timeout):
        self.timeout = timeout
        self.RPC_API_VERSION = RELEASES[release][0]
        self.client = messaging.get_rpc_client(
            transport, messaging.Target(topic=TOPIC,
                                        version=self.RPC_API_VERSION),
            serializer=ovo_base.VersionedObjectSerializer())

    def extend_volume(self, ctxt, volume, new_size, host):
        version = self.RPC_API_VERSION
        kwargs = {"reservations": ["r1"]} if version == "3.17" else {}
        cctxt = self.client.prepare(version=version, server=host,
                                    timeout=self.timeout)
        return version, cctxt.call(ctxt, "extend_volume", volume=volume,
                                   new_size=new_size, **kwargs)

    def get_volume(self, ctxt, host):
        return self.client.prepare(version="3.0", server=host,
                                   timeout=self.timeout).call(
            ctxt, "get_volume", volume_id="vol-1")

    def notify(self, ctxt, volume, cast_id, host=None):
        kwargs = {"server": host} if host else {}
        self.client.prepare(version="3.0", **kwargs).cast(
            ctxt, "notify", volume=volume, cast_id=cast_id)

    def object_version(self, Volume):
        return Volume.VERSION

    def close(self):
        pass


def api(args):
    Volume = define_volume(args.release)
    try:
        rpcver_oslo.register_service(args.db, args.name, objects=[Volume],
                                     logger=LOG)
    except rpcver.RefusedError:
        LOG.error("%s cannot start: exiting", args.name)
        return 3
    transport = messaging.get_rpc_transport(cfg.CONF, url=args.url)
    if args.uncapped:
        client = UncappedAPI(args.release, transport, args.call_timeout)
    else:
        try:
            # registers as a sender of 'volume' (refused: logged, raised)
            client = api_class(args.release, args.call_timeout)(
                args.db, transport, sender=rpcver_oslo.sender_name(args.name),
                logger=LOG)
        except rpcver.RefusedError:
            LOG.error("%s cannot start: exiting", args.name)
            return 3
    LOG.info("%s ready: RPC_API_VERSION %s, Volume %s%s", args.name,
             client.RPC_API_VERSION, Volume.VERSION,
             " (uncapped: no rpcver)" if args.uncapped else "")
    print(json.dumps({"ready": True, "sender": client.sender_name}),
          flush=True)
    for line in sys.stdin:
        order = json.loads(line)
        # what a service's periodic task does (Cinder: report_state)
        beat = None if args.uncapped else rpcver_oslo.heartbeat_senders()
        result = run_round(client, Volume, order)
        result["heartbeat"] = beat
        print(json.dumps(result), flush=True)
    client.close()                       # unregisters the sender
    transport.cleanup()
    LOG.info("%s stopped", args.name)
    return 0


def run_round(client, Volume, order):
    """One round: for each host, extend_volume and get_volume (calls) and a
    notify cast to it; then one notify cast to the topic (any manager)."""
    result = {"sent": [], "objects": [], "received": [], "calls": 0,
              "answered": 0, "casts": [], "errors": []}
    n = order["round"]

    def volume():
        vol = Volume(id="vol-1", size=1, status="available")
        if "shared_targets" in vol.fields:
            vol.shared_targets = True
        return vol

    def attempt(what, fn):
        result["calls"] += 1
        try:
            value = fn()
        except Exception as err:           # logged, counted, reported
            LOG.exception("call %s failed", what)
            result["errors"].append("%s: %s: %s" % (what, type(err).__name__,
                                                    str(err).splitlines()[0]))
            return None
        result["answered"] += 1
        return value

    for host in order["hosts"]:
        call_id = "r%d-%s" % (n, host)
        ctxt = {"call_id": call_id + "-extend"}
        result["objects"].append(client.object_version(Volume))
        got = attempt(ctxt["call_id"],
                      lambda: client.extend_volume(ctxt, volume(), 2, host))
        if got is not None:
            version, vol = got
            result["sent"].append(version)
            result["received"].append(vol.VERSION)
            LOG.info("call %s to %s at %s answered: Volume %s size %d",
                     ctxt["call_id"], host, version, vol.VERSION, vol.size)
        ctxt2 = {"call_id": call_id + "-get"}
        vol = attempt(ctxt2["call_id"], lambda: client.get_volume(ctxt2, host))
        if vol is not None:
            result["received"].append(vol.VERSION)
            LOG.info("call %s to %s answered: Volume %s", ctxt2["call_id"],
                     host, vol.VERSION)
        cast(client, result, "r%d-%s" % (n, host), volume(), host)
    cast(client, result, "r%d-topic" % n, volume(), None)
    return result


def cast(client, result, cast_id, volume, host):
    try:
        client.notify({}, volume, cast_id, host=host)
        result["casts"].append(cast_id)
    except Exception as err:               # logged, reported
        LOG.exception("cast %s failed", cast_id)
        result["errors"].append("cast %s: %s: %s" % (
            cast_id, type(err).__name__, str(err).splitlines()[0]))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("role", choices=("manager", "api"))
    parser.add_argument("--name", required=True)
    parser.add_argument("--release", choices=sorted(RELEASES), required=True)
    parser.add_argument("--db", required=True)
    parser.add_argument("--url", required=True)
    parser.add_argument("--log", required=True)
    parser.add_argument("--uncapped", action="store_true")
    parser.add_argument("--call-timeout", type=int, default=30)
    args = parser.parse_args(argv)
    setup_logging(args.log, args.name)
    return manager(args) if args.role == "manager" else api(args)


if __name__ == "__main__":
    sys.exit(main())
