"""Tests of rpcver_oslo over oslo.messaging's in-process fake:// driver and
real oslo.versionedobjects (no mocks): servers and clients in one process,
the rpcver database a WAL file in a temporary directory.

    cd bindings/python && /usr/bin/python3 -m unittest test_oslo -v

The same process holds both versions of each object class (1.0 and 1.1):
oslo.versionedobjects picks the class by the version that arrives, so what
a server receives shows the version it was sent at.  Which RPC version a
call went at shows in its shape (3.17 adds an argument) and in the prepared
context's target.
"""

import logging
import os
import re
import sqlite3
import sys
import tempfile
import threading
import time
import unittest

from oslo_config import cfg
import oslo_messaging as messaging
from oslo_versionedobjects import base as ovo_base
from oslo_versionedobjects import fields

import rpcver
import rpcver_oslo
from test_rpcver import load_testclock

# oslo.messaging starts a metrics thread at the first call that lingers 10 s
# (a non-daemon thread: the process would wait for it at exit).
cfg.CONF.set_override("metrics_thread_stop_timeout", 0,
                      group="oslo_messaging_metrics")


# --------------------------------------------------------------------------
# Objects: Attachment and Volume, each at 1.0 and 1.1

@ovo_base.VersionedObjectRegistry.register
class Attachment(ovo_base.VersionedObject):
    VERSION = "1.0"
    fields = {"id": fields.StringField(), "mode": fields.StringField()}


@ovo_base.VersionedObjectRegistry.register
class Attachment(ovo_base.VersionedObject):      # noqa: F811 -- 1.1
    VERSION = "1.1"
    fields = {"id": fields.StringField(), "mode": fields.StringField(),
              "connector": fields.StringField()}

    def obj_make_compatible(self, primitive, target_version):
        super().obj_make_compatible(primitive, target_version)
        if target_version == "1.0":
            primitive.pop("connector", None)


@ovo_base.VersionedObjectRegistry.register
class Volume(ovo_base.VersionedObject):
    VERSION = "1.0"
    fields = {"id": fields.StringField(), "size": fields.IntegerField(),
              "attachment": fields.ObjectField("Attachment", nullable=True)}


@ovo_base.VersionedObjectRegistry.register
class Volume(ovo_base.VersionedObject):          # noqa: F811 -- 1.1
    VERSION = "1.1"
    fields = {"id": fields.StringField(), "size": fields.IntegerField(),
              "attachment": fields.ObjectField("Attachment", nullable=True),
              "shared_targets": fields.BooleanField()}

    def obj_make_compatible(self, primitive, target_version):
        super().obj_make_compatible(primitive, target_version)
        if target_version == "1.0":
            primitive.pop("shared_targets", None)


def new_volume(size=1, attachment=True):
    vol = Volume(id="vol-1", size=size, shared_targets=True, attachment=None)
    if attachment:
        vol.attachment = Attachment(id="att-1", mode="rw", connector="iqn")
    return vol


def register_for_test(test, *classes):
    """Register CLASSES with oslo.versionedobjects for TEST only (the
    registry is the process's: test_02 registers all of it)."""
    registry = ovo_base.VersionedObjectRegistry.obj_classes()
    saved = {cls.obj_name(): list(registry.get(cls.obj_name(), []))
             for cls in classes}

    def restore():
        for name, old in saved.items():
            if old:
                registry[name] = old
            else:
                registry.pop(name, None)
    test.addCleanup(restore)
    for cls in classes:
        ovo_base.VersionedObjectRegistry.register(cls)
    return classes


def received_at(cls, version, obj, manifest):
    """OBJ as a process with only CLASS (its newest version) makes it of a
    primitive sent at VERSION: oslo's _obj_from_primitive, which keeps the
    version received on the instance."""
    prim = obj.obj_to_primitive(target_version=version,
                                version_manifest=manifest)
    return cls._obj_from_primitive(None, version, prim)


def data(prim):
    return prim["versioned_object.data"]


# --------------------------------------------------------------------------
# Managers (receivers) and the API (sender)

class OldManager:
    """The 3.16 manager: extend_volume has no reservations yet."""
    target = messaging.Target(version="3.16")

    def __init__(self):
        self.received = []

    def extend_volume(self, ctxt, volume, new_size):
        self.received.append(("extend_volume", volume.VERSION, None))
        volume.size = new_size
        return volume

    def get_volume(self, ctxt, volume_id):
        return new_volume(size=7)

    def notify(self, ctxt, event):
        self.received.append(("notify", event, None))


class NewManager(OldManager):
    """The 3.17 manager: extend_volume takes reservations."""
    target = messaging.Target(version="3.17")

    def extend_volume(self, ctxt, volume, new_size, reservations=None):
        self.received.append(("extend_volume", volume.VERSION, reservations))
        volume.size = new_size
        return volume


class VolumeAPI(rpcver_oslo.RPCAPI):
    RPC_API_VERSION = "3.17"
    RPC_DEFAULT_VERSION = "3.0"
    TOPIC = "volume"
    BINARY = "cinder-volume"

    def extend_volume(self, ctxt, volume, new_size, host):
        version = self._compat_ver("3.17", "3.16")
        kwargs = {"reservations": ["r1"]} if version == "3.17" else {}
        cctxt = self._get_cctxt(version=version, server=host, timeout=10)
        return version, cctxt.call(ctxt, "extend_volume", volume=volume,
                                   new_size=new_size, **kwargs)

    def get_volume(self, ctxt, host):
        return self._get_cctxt(server=host, timeout=10).call(
            ctxt, "get_volume", volume_id="vol-1")


class OsloBase(unittest.TestCase):
    def setUp(self):
        # the process's shared connections (one per database file) are
        # closed when the test is over, before its directory goes
        tmp = tempfile.TemporaryDirectory(prefix="rpcver-oslo-")
        self.addCleanup(tmp.cleanup)
        self.addCleanup(rpcver_oslo.close_databases)
        self.db = os.path.join(tmp.name, "rpcver.db")
        self.conn = rpcver.connect(self.db)
        self.addCleanup(self.conn.close)
        # the RPCAPIs' sender registrations (one per process and method)
        # are released first, while the database is there
        self.addCleanup(rpcver_oslo.unregister_senders)
        rpcver.init(self.conn)
        self.transport = messaging.get_rpc_transport(cfg.CONF, url="fake:///")
        self.addCleanup(self.transport.cleanup)
        self.servers = {}

    def start(self, host, manager, objects=(Volume,)):
        """A manager's start-up: register with rpcver, then serve."""
        target = messaging.Target(topic="volume", server=host)
        rpcver_oslo.register_service(self.db, host, target, [manager],
                                     objects=objects)
        return self.serve(host, manager)

    def serve(self, host, manager):
        target = messaging.Target(topic="volume", server=host)
        server = messaging.get_rpc_server(
            self.transport, target, [manager], executor="threading",
            serializer=rpcver_oslo.ObjectSerializer(self.db))
        server.start()
        self.servers[host] = server

        def stop():
            server.stop()
            server.wait()
        self.addCleanup(stop)
        return manager

    def api(self, objects=(Volume,)):
        """The API process: receives objects in replies, so registers them."""
        rpcver_oslo.register_service(self.db, "api", objects=objects)
        return VolumeAPI(self.db, self.transport)

    def registrations(self, manager=None):
        rows = self.conn.execute(
            "SELECT manager, method, lo, hi FROM rpc_registrations "
            "ORDER BY manager, method").fetchall()
        return [r for r in rows if manager is None or r[0] == manager]


# --------------------------------------------------------------------------

class TestRegisterService(OsloBase):
    def test_01_endpoint_targets_and_object_trees_are_registered(self):
        class Bridge:
            target = messaging.Target(version="3.4")

        class Admin:
            target = messaging.Target(version="1.2", namespace="admin")

        got = rpcver_oslo.register_service(
            self.db, "m1", messaging.Target(topic="volume", server="m1"),
            [NewManager(), Bridge(), Admin()], objects=[Volume])
        self.assertEqual(got, {"volume": "3.17", "volume/admin": "1.2",
                               "obj:Volume": "1.1", "obj:Attachment": "1.1"})
        # the highest endpoint per namespace, [MAJOR.0, hi] (oslo's rule);
        # Attachment comes with Volume (an object field)
        self.assertEqual(self.registrations(), [
            ("m1", "obj:Attachment", "1.0", "1.1"),
            ("m1", "obj:Volume", "1.0", "1.1"),
            ("m1", "volume", "3.0", "3.17"),
            ("m1", "volume/admin", "1.0", "1.2")])

    def test_02_objects_by_name_registry_and_apis_override(self):
        rpcver_oslo.register_service(self.db, "api", objects=["Attachment"])
        self.assertEqual(self.registrations(),
                         [("api", "obj:Attachment", "1.0", "1.1")])
        rpcver_oslo.register_service(
            self.db, "all", objects=ovo_base.VersionedObjectRegistry,
            apis={"obj:Volume": "1.0", "volume": ("3.4", "2.0")})
        self.assertEqual(self.registrations("all"), [
            ("all", "obj:Attachment", "1.0", "1.1"),
            ("all", "obj:Volume", "1.0", "1.0"),
            ("all", "volume", "2.0", "3.4")])

    def test_03_what_cannot_be_registered_is_named(self):
        class NoTarget:
            pass

        target = messaging.Target(topic="volume", server="m1")
        with self.assertRaisesRegex(ValueError, r"^rpcver: register_service: "
                                    r"endpoint 'NoTarget' has no Target"):
            rpcver_oslo.register_service(self.db, "m1", target, [NoTarget()])
        with self.assertRaisesRegex(ValueError, r"needs? .*topic"):
            rpcver_oslo.register_service(self.db, "m1", None, [OldManager()])
        with self.assertRaisesRegex(ValueError, r"object 'Nope' is not "
                                    r"registered with oslo.versionedobjects"):
            rpcver_oslo.register_service(self.db, "m1", objects=["Nope"])
        with self.assertRaisesRegex(ValueError, r"'m1' receives nothing"):
            rpcver_oslo.register_service(self.db, "m1")
        with self.assertRaisesRegex(ValueError, r"':memory:' is a private "
                                    r"database of one connection"):
            rpcver_oslo.register_service(":memory:", "m1", objects=["Volume"])
        self.assertEqual(self.registrations(), [])

    def test_04_refused_at_start_up_logs_rpcver_message_and_raises(self):
        self.start("m1", NewManager())
        self.start("m2", NewManager())          # floor: volume 3.17, Volume 1.1
        target = messaging.Target(topic="volume", server="m3")
        with self.assertLogs("rpcver_oslo", level="ERROR") as logs:
            with self.assertRaises(rpcver.RefusedError) as cm:
                rpcver_oslo.register_service(self.db, "m3", target,
                                             [OldManager()], objects=[Volume])
        message = str(cm.exception)
        self.assertRegex(message, r"^rpcver: manager 'm3' cannot register "
                         r"method 'volume' with range \[3.0, 3.16\]: senders "
                         r"may already be using 3.17")
        self.assertEqual(logs.output, ["ERROR:rpcver_oslo:" + message])
        self.assertEqual(self.registrations("m3"), [])   # nothing registered
        # a custom logger gets it instead
        log = logging.getLogger("test_oslo.service")
        with self.assertLogs(log, level="ERROR") as logs:
            with self.assertRaises(rpcver.RefusedError):
                rpcver_oslo.register_service(self.db, "m3", target,
                                             [OldManager()], logger=log)
        self.assertEqual(len(logs.output), 1)


class TestCaps(OsloBase):
    def test_05_caps_follow_registrations_call_by_call(self):
        m1 = self.start("m1", OldManager())
        m2 = self.start("m2", NewManager())
        api = self.api()
        ctxt = {}
        self.assertEqual(api.version_cap, "3.16")
        self.assertFalse(api.can_send_version("3.17"))
        self.assertTrue(api.client.can_send_version("3.16"))
        for host in ("m1", "m2"):
            version, vol = api.extend_volume(ctxt, new_volume(), 2, host)
            self.assertEqual((version, vol.size), ("3.16", 2))
        self.assertEqual(m1.received[-1][2], None)
        self.assertEqual(m2.received[-1][2], None)     # 3.16 shape
        # m1 upgrades (a new process registers); the same API object, no
        # restart: its next call goes at 3.17
        self.servers["m1"].stop()
        self.servers["m1"].wait()
        m1 = self.start("m1", NewManager())
        self.assertEqual(api.version_cap, "3.17")
        for host, manager in (("m1", m1), ("m2", m2)):
            version, vol = api.extend_volume(ctxt, new_volume(), 3, host)
            self.assertEqual((version, vol.size), ("3.17", 3))
            self.assertEqual(manager.received[-1][2], ["r1"])  # 3.17 shape
        cctxt = api.prepare(server="m1")
        self.assertEqual((cctxt.target.version, cctxt.version_cap),
                         ("3.17", "3.17"))

    def test_06_a_pin_takes_effect_on_the_next_call(self):
        self.start("m1", NewManager())
        self.start("m2", NewManager())
        api = self.api()
        self.assertEqual(api.extend_volume({}, new_volume(), 2, "m1")[0], "3.17")
        rpcver.pin(self.conn, "volume", "3.16")          # the operator's pin
        self.assertEqual(api.extend_volume({}, new_volume(), 2, "m1")[0], "3.16")
        with self.assertRaisesRegex(rpcver_oslo.CannotSendError,
                                    r"^rpcver: VolumeAPI cannot send method "
                                    r"'volume' at 3.17 now: 3.17 is above "
                                    r"3.16, the highest version every "
                                    r"receiver accepts now"):
            api.prepare(version="3.17", server="m1")
        rpcver.pin(self.conn, "volume", None)
        self.assertEqual(api.extend_volume({}, new_volume(), 2, "m2")[0], "3.17")

    def test_07_nothing_to_send_raises_instead_of_sending(self):
        api = VolumeAPI(self.db, self.transport)
        self.assertIsNone(api.version_cap)
        with self.assertRaises(rpcver_oslo.CannotSendError) as cm:
            api.prepare(server="m1")
        err = cm.exception
        # (rpc_explain shows the API itself, registered as a sender)
        self.assertRegex(str(err), r"^rpcver: VolumeAPI cannot send method "
                         r"'volume' now: no version in \[3.0, 3.17\] \(what "
                         r"it can send\) is accepted by every receiver\. "
                         r"rpc_explain\('volume'\):\nmethod 'volume': empty, "
                         r"0 receiver\(s\)\n(?s:.*)registered senders:\n  "
                         + re.escape("'%s' sends [3.0, 3.17]" % api.sender_name))
        self.assertIsInstance(err, rpcver.RpcverError)
        self.assertEqual((err.method, err.cap, err.sender_range),
                         ("volume", None, ("3.0", "3.17")))
        with self.assertRaises(rpcver_oslo.CannotSendError):
            api.client.cast({}, "notify", event="e")
        # (receivers only at another major cannot come now: rpcver refuses
        # them while the API is registered, test_24)
        self.start("m1", NewManager())
        self.assertEqual(api.version_cap, "3.17")
        # outside the sender's own range
        with self.assertRaisesRegex(rpcver_oslo.CannotSendError,
                                    r"3.18 is outside \[3.0, 3.17\]"):
            api.prepare(version="3.18")
        self.assertFalse(api.can_send_version("3.18"))
        self.assertFalse(api.can_send_version("2.9"))

    def test_08_cinder_style_subclass_moves_over(self):
        m1 = self.start("m1", OldManager())
        api = self.api()
        # _get_cctxt with no version: RPC_DEFAULT_VERSION
        cctxt = api._get_cctxt(server="m1")
        self.assertEqual((cctxt.target.version, cctxt.version_cap),
                         ("3.0", "3.16"))
        # a tuple picks the first that may be sent; the last is the fallback
        self.assertEqual(api._get_cctxt(version=("3.17", "3.16")).target.version,
                         "3.16")
        self.assertEqual(api._compat_ver("3.17", "3.15"), "3.15")
        # Cinder code that uses self.client directly is capped too
        self.assertFalse(api.client.can_send_version())    # RPC_API_VERSION
        self.assertFalse(api.client.can_send_version("3.17"))
        with self.assertRaises(rpcver_oslo.CannotSendError):
            api.client.prepare()
        with self.assertRaisesRegex(TypeError, "the version cap is rpcver's"):
            api.client.prepare(version="3.16", version_cap="3.17")
        api.client.prepare(version="3.16", server="m1").cast({}, "notify",
                                                             event="e1")
        deadline = time.monotonic() + 10
        while ("notify", "e1", None) not in m1.received:
            self.assertLess(time.monotonic(), deadline, "cast not delivered")
            time.sleep(0.02)
        self.assertEqual(api.client.target.topic, "volume")   # oslo's own

    def test_09_without_the_cap_oslo_sends_what_an_old_manager_refuses(self):
        # the control: the same call through a plain oslo client
        self.start("m1", OldManager())
        plain = messaging.get_rpc_client(
            self.transport, messaging.Target(topic="volume", version="3.17"),
            serializer=rpcver_oslo.ObjectSerializer(self.db))
        logging.getLogger("oslo_messaging.rpc.server").disabled = True
        self.addCleanup(setattr, logging.getLogger("oslo_messaging.rpc.server"),
                        "disabled", False)
        # (fake:// raises the server's exception itself; over a broker it
        # arrives as RemoteError)
        with self.assertRaisesRegex((messaging.RemoteError,
                                     messaging.UnsupportedVersion),
                                    "does not support RPC version 3.17"):
            plain.prepare(server="m1", timeout=10).call(
                {}, "extend_volume", volume=new_volume(), new_size=2,
                reservations=["r1"])
        # the capped API does not send it
        api = self.api()
        self.assertEqual(api.extend_volume({}, new_volume(), 2, "m1")[0], "3.16")


class TestObjects(OsloBase):
    def test_10_objects_are_backported_to_what_every_receiver_accepts(self):
        m1 = self.start("m1", NewManager(), objects=[])
        rpcver.register(self.conn, "m1", {"obj:Volume": "1.0",
                                          "obj:Attachment": "1.0"})
        m2 = self.start("m2", NewManager())              # Volume 1.1
        api = self.api()
        api.extend_volume({}, new_volume(), 2, "m2")
        self.assertEqual(m2.received[-1][1], "1.0")       # m1 is old
        # the reply, from m2's serializer, is backported too
        vol = api.get_volume({}, "m2")
        self.assertEqual(vol.VERSION, "1.0")
        self.assertNotIn("shared_targets", vol.fields)     # the 1.0 class
        self.assertEqual(vol.attachment.VERSION, "1.0")
        self.assertNotIn("connector", vol.attachment.fields)
        # m1 upgrades its objects: the next call carries 1.1
        rpcver.register(self.conn, "m1", {"obj:Volume": "1.1",
                                          "obj:Attachment": "1.1"})
        api.extend_volume({}, new_volume(), 3, "m1")
        self.assertEqual(m1.received[-1][1], "1.1")
        vol = api.get_volume({}, "m1")
        self.assertEqual((vol.VERSION, vol.shared_targets,
                          vol.attachment.connector), ("1.1", True, "iqn"))

    def test_11_each_class_is_capped_on_its_own(self):
        self.start("m1", NewManager(), objects=[])
        rpcver.register(self.conn, "m1", {"obj:Volume": "1.1",
                                          "obj:Attachment": "1.0"})
        api = self.api()
        serializer = rpcver_oslo.ObjectSerializer(self.db)
        self.assertEqual(serializer.caps("Volume"),
                         {"Volume": "1.1", "Attachment": "1.0"})
        prim = serializer.serialize_entity({}, [new_volume()])[0]
        self.assertEqual(prim["versioned_object.version"], "1.1")
        self.assertIn("shared_targets", prim["versioned_object.data"])
        att = prim["versioned_object.data"]["attachment"]
        self.assertEqual(att["versioned_object.version"], "1.0")
        self.assertNotIn("connector", att["versioned_object.data"])
        # through RPC, and back
        vol = api.get_volume({}, "m1")
        self.assertEqual((vol.VERSION, vol.attachment.VERSION), ("1.1", "1.0"))
        # an object received at an older version goes on at that version
        old = Volume.obj_from_primitive(
            new_volume(attachment=False).obj_to_primitive(
                target_version="1.0",
                version_manifest={"Volume": "1.0", "Attachment": "1.0"}))
        self.assertEqual(old.VERSION, "1.0")
        self.assertEqual(serializer.backport(old)["versioned_object.version"],
                         "1.0")
        # and so does one held by a newer object: an Attachment received at
        # 1.0 inside a Volume 1.1 is not labelled 1.1 (obj:Attachment is at
        # 1.1 now)
        rpcver.register(self.conn, "m1", {"obj:Attachment": "1.1"})
        att = Attachment.obj_from_primitive(
            Attachment(id="a", mode="ro", connector="c").obj_to_primitive(
                target_version="1.0"))
        vol = new_volume(attachment=False)
        vol.attachment = att
        prim = serializer.backport(vol)
        child = prim["versioned_object.data"]["attachment"]
        self.assertEqual((prim["versioned_object.version"],
                          child["versioned_object.version"]), ("1.1", "1.0"))
        self.assertEqual(Volume.obj_from_primitive(prim).attachment.VERSION,
                         "1.0")

    def test_12_an_object_no_receiver_accepts_is_not_sent(self):
        m1 = self.start("m1", NewManager(), objects=[])    # registers no objects
        api = VolumeAPI(self.db, self.transport)
        with self.assertRaises(rpcver_oslo.CannotSendError) as cm:
            api.extend_volume({}, new_volume(), 2, "m1")
        self.assertRegex(str(cm.exception),
                         r"^rpcver: cannot send object Volume: no version of "
                         r"'obj:Volume' in \[1.0, 1.1\] \(what this process "
                         r"has\) is accepted by every receiver")
        self.assertEqual(m1.received, [])
        # a receiver of Volume but not of its Attachment: named as such
        rpcver.register(self.conn, "m1", {"obj:Volume": "1.1"})
        with self.assertRaisesRegex(rpcver_oslo.CannotSendError,
                                    r"'obj:Attachment' .* \(Volume holds a "
                                    r"Attachment\)"):
            api.extend_volume({}, new_volume(), 2, "m1")
        self.assertEqual(m1.received, [])

    def test_13_one_connection_serves_every_thread(self):
        # the server serializes replies in its worker threads, the API is
        # called from several threads at once: one connection each, shared
        # under a lock
        server_serializer = rpcver_oslo.ObjectSerializer(self.db)
        m1 = NewManager()
        rpcver_oslo.register_service(
            self.db, "m1", messaging.Target(topic="volume", server="m1"), [m1],
            objects=[Volume])
        server = messaging.get_rpc_server(
            self.transport, messaging.Target(topic="volume", server="m1"),
            [m1], executor="threading", serializer=server_serializer)
        server.start()
        self.addCleanup(server.wait)
        self.addCleanup(server.stop)
        api = self.api()
        results, errors = [], []

        def worker():
            try:
                for _ in range(4):
                    results.append(api.get_volume({}, "m1").size)
                    results.append(api.extend_volume({}, new_volume(), 5,
                                                     "m1")[1].size)
            except Exception as err:          # reported below
                errors.append(err)
        threads = [threading.Thread(target=worker) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertEqual((errors, sorted(results)), ([], [5] * 16 + [7] * 16))
        self.assertIsInstance(api._db._conn, sqlite3.Connection)
        self.assertIs(api.serializer._db._conn, api._db._conn)  # shared
        self.assertIsInstance(server_serializer._db._conn, sqlite3.Connection)
        # a connection given is used as it is
        shared = rpcver_oslo.ObjectSerializer(self.conn)
        self.assertEqual(shared.caps("Volume")["Volume"], "1.1")
        with shared._db.use() as conn:
            self.assertIs(conn, self.conn)


# --------------------------------------------------------------------------
# Regressions: the review of the adapter (R1 ... R11)

class TestRegressions(OsloBase):
    def test_14_two_services_on_one_host_keep_their_own_object_ranges(self):
        # R1: cinder-backup and cinder-scheduler both run on host 'ctl'
        # (both Service.start() with self.host); the scheduler upgrades while
        # the backup service stays old
        class Backup:
            target = messaging.Target(version="2.0")

        class OldScheduler:
            target = messaging.Target(version="3.0")

        class NewScheduler:
            target = messaging.Target(version="3.1")

        def target(topic):
            return messaging.Target(topic=topic, server="ctl")
        backup = rpcver_oslo.service_name("cinder-backup", "ctl")
        sched = rpcver_oslo.service_name("cinder-scheduler", "ctl")
        self.assertEqual((backup, sched),
                         ("cinder-backup@ctl", "cinder-scheduler@ctl"))
        rpcver.register(self.conn, "cinder-volume@vol",
                        {"obj:Volume": "1.0", "obj:Attachment": "1.0"})
        old_objects = {"obj:Volume": "1.0", "obj:Attachment": "1.0"}
        rpcver_oslo.register_service(self.db, backup, target("backup"),
                                     [Backup()], apis=old_objects)
        rpcver_oslo.register_service(self.db, sched, target("scheduler"),
                                     [OldScheduler()], apis=old_objects)
        # the scheduler restarts at the new release (same name, same topic)
        rpcver_oslo.register_service(self.db, sched, target("scheduler"),
                                     [NewScheduler()], objects=[Volume])
        rpcver.register(self.conn, "cinder-volume@vol",
                        {"obj:Volume": "1.1", "obj:Attachment": "1.1"})
        # cinder-backup is still old: a Volume still goes at 1.0
        self.assertEqual(rpcver.max_send(self.conn, "obj:Volume", "1.1"), "1.0")
        prim = rpcver_oslo.ObjectSerializer(self.db).serialize_entity(
            {}, new_volume())
        self.assertEqual(prim["versioned_object.version"], "1.0")
        self.assertEqual(self.registrations(backup), [
            (backup, "backup", "2.0", "2.0"),
            (backup, "obj:Attachment", "1.0", "1.0"),
            (backup, "obj:Volume", "1.0", "1.0")])

        # under the host alone (what docs/oslo.md said), the second service
        # would replace the first one's obj: ranges: refused, logged, and
        # nothing changes
        rpcver_oslo.register_service(self.db, "ctl", target("backup"),
                                     [Backup()], apis=old_objects)
        before = self.registrations()
        with self.assertLogs("rpcver_oslo", level="ERROR") as logs:
            with self.assertRaises(rpcver.RefusedError) as cm:
                rpcver_oslo.register_service(self.db, "ctl",
                                             target("scheduler"),
                                             [NewScheduler()],
                                             objects=[Volume])
        message = str(cm.exception)
        self.assertRegex(message, r"^rpcver: manager 'ctl' cannot register: "
                         r"the name is registered by another service, one "
                         r"that receives 'backup', and this one receives "
                         r"'scheduler'\. .* rpcver_oslo\.service_name\(binary, "
                         r"host\)")
        self.assertEqual(logs.output, ["ERROR:rpcver_oslo:" + message])
        self.assertEqual(self.registrations(), before)
        # an API process (objects only) under a manager's name, and the
        # other way round
        quiet = logging.getLogger("test_oslo.quiet")
        quiet.disabled = True
        with self.assertRaisesRegex(rpcver.RefusedError, r"one that receives "
                                    r"'backup', and this one receives "
                                    r"objects only"):
            rpcver_oslo.register_service(self.db, "ctl", objects=[Volume],
                                         logger=quiet)
        rpcver_oslo.register_service(self.db, "cinder-api@ctl",
                                     objects=[Volume])
        with self.assertRaisesRegex(rpcver.RefusedError, r"one that receives "
                                    r"objects only \(an API process\)"):
            rpcver_oslo.register_service(self.db, "cinder-api@ctl",
                                         target("volume"), [NewManager()],
                                         logger=quiet)
        self.assertEqual(self.registrations("ctl"), [
            ("ctl", "backup", "2.0", "2.0"),
            ("ctl", "obj:Attachment", "1.0", "1.0"),
            ("ctl", "obj:Volume", "1.0", "1.0")])

    def test_15_prepare_stays_within_its_rpc_api(self):
        # R3: another topic or namespace is another RPC API, whose versions
        # RPC_API_VERSION does not give: refused, with rpcver's text
        self.start("m1", NewManager())
        api = self.api()
        for kwargs, what in (({"namespace": "admin"}, r"namespace='admin'\) "
                              r"addresses RPC API 'volume/admin', another"),
                             ({"topic": "backup"}, r"topic='backup'\) "
                              r"addresses another RPC API than 'volume'"),
                             ({"topic": "volumes"}, r"topic='volumes'\)")):
            with self.assertRaisesRegex(ValueError, r"^rpcver: VolumeAPI: "
                                        r"prepare\(" + what):
                api.client.prepare(version="3.10", **kwargs)
            with self.assertRaises(ValueError):
                api._get_cctxt(version="3.10", **kwargs)
        # a per-server queue of the API is the same API (Cinder's
        # 'cinder-volume.host@backend')
        cctxt = api._get_cctxt(version="3.16", topic="volume.m1", server="m1")
        self.assertEqual((cctxt.target.topic, cctxt.version_cap),
                         ("volume.m1", "3.17"))
        # the prepared context's own prepare: the same rule, and a new
        # answer from rpcver
        cctxt = api.prepare(server="m1", timeout=10)
        self.assertIsInstance(cctxt, rpcver_oslo.CappedContext)
        with self.assertRaisesRegex(ValueError, r"^rpcver: VolumeAPI: "
                                    r"prepare\(namespace='admin'\)"):
            cctxt.prepare(namespace="admin")
        with self.assertRaisesRegex(ValueError, r"prepare\(topic='backup'\)"):
            cctxt.prepare(topic="backup")
        self.assertEqual(cctxt.version_cap, "3.17")
        rpcver.pin(self.conn, "volume", "3.16")
        self.assertFalse(cctxt.can_send_version())         # its 3.17: asks
        self.assertTrue(cctxt.can_send_version("3.16"))
        with self.assertRaisesRegex(rpcver_oslo.CannotSendError,
                                    r"at 3.17 now: 3.17 is above 3.16"):
            cctxt.prepare()
        again = cctxt.prepare(version="3.16")
        self.assertEqual((again.target.version, again.version_cap,
                          again.target.server, again.timeout),
                         ("3.16", "3.16", "m1", 10))
        self.assertEqual(again.call({}, "get_volume", volume_id="vol-1").size,
                         7)

    def test_16_one_answer_per_call(self):
        # R4: Cinder's pattern asks twice -- _compat_ver(), then prepare();
        # a pin committed in between turned a sendable call into a refusal
        m1 = self.start("m1", NewManager())
        api = self.api()
        version = api._compat_ver("3.17", "3.16")
        self.assertEqual(version, "3.17")
        rpcver.pin(self.conn, "volume", "3.16")     # the operator, meanwhile
        cctxt = api._get_cctxt(version=version, server="m1", timeout=10)
        self.assertEqual((cctxt.target.version, cctxt.version_cap),
                         ("3.17", "3.17"))          # the call's one answer
        vol = cctxt.call({}, "extend_volume", volume=new_volume(), new_size=4,
                         reservations=["r1"])
        self.assertEqual((vol.size, m1.received[-1][2]), (4, ["r1"]))
        # that answer served its call; the next prepare asks again
        with self.assertRaisesRegex(rpcver_oslo.CannotSendError,
                                    r"3.17 is above 3.16"):
            api.client.prepare(version=version)
        # and the next call chooses again, in one answer
        self.assertEqual(api.extend_volume({}, new_volume(), 2, "m1")[0],
                         "3.16")
        self.assertEqual(api._get_cctxt(version=("3.17", "3.16")).target.version,
                         "3.16")
        # a version chosen by another API object is not its answer
        other = VolumeAPI(self.db, self.transport)
        rpcver.pin(self.conn, "volume", None)
        chosen = api._compat_ver("3.17")
        rpcver.pin(self.conn, "volume", "3.16")
        with self.assertRaises(rpcver_oslo.CannotSendError):
            other.client.prepare(version=chosen)
        # nothing may be sent: the last version, which prepare refuses with
        # the same answer
        chosen = api._compat_ver("3.17")
        rpcver.pin(self.conn, "volume", None)
        with self.assertRaisesRegex(rpcver_oslo.CannotSendError,
                                    r"3.17 is above 3.16"):
            api._get_cctxt(version=chosen)

    def test_17_an_endpoint_without_a_target_version_is_named_right(self):
        # R5: oslo.messaging dispatches version 1.0 only to such an endpoint
        class Legacy:
            def ping(self, ctxt):
                return "pong"

        target = messaging.Target(topic="legacy", server="m1")
        with self.assertRaises(ValueError) as cm:
            rpcver_oslo.register_service(self.db, "m1", target, [Legacy()])
        message = str(cm.exception)
        self.assertRegex(message, r"^rpcver: register_service: endpoint "
                         r"'Legacy' has no Target\(version=\.\.\.\); "
                         r"oslo\.messaging dispatches only version 1\.0 to "
                         r"such an endpoint \(its rule: target\.version or "
                         r"'1\.0'\)")
        self.assertNotIn("every version", message)
        # oslo's rule, shown with oslo itself
        server = messaging.get_rpc_server(self.transport, target, [Legacy()],
                                          executor="threading")
        server.start()
        self.addCleanup(server.wait)
        self.addCleanup(server.stop)
        log = logging.getLogger("oslo_messaging.rpc.server")
        log.disabled = True
        self.addCleanup(setattr, log, "disabled", False)
        client = messaging.get_rpc_client(self.transport, target)
        self.assertEqual(client.prepare(version="1.0", timeout=10).call(
            {}, "ping"), "pong")
        for version in ("1.1", "2.0"):
            with self.assertRaises((messaging.RemoteError,
                                    messaging.UnsupportedVersion)):
                client.prepare(version=version, timeout=10).call({}, "ping")

    def test_18_objects_keep_the_data_they_hold(self):
        # R6: a class was lowered to the oldest version of its instances in
        # the object, dropping what newer instances hold
        @ovo_base.VersionedObjectRegistry.register_if(False)
        class VolumeList(ovo_base.ObjectListBase, ovo_base.VersionedObject):
            VERSION = "1.0"
            fields = {"objects": fields.ListOfObjectsField("Volume")}
        register_for_test(self, VolumeList)
        rpcver.register(self.conn, "m1", {"obj:VolumeList": "1.0",
                                          "obj:Volume": "1.1",
                                          "obj:Attachment": "1.1"})
        serializer = rpcver_oslo.ObjectSerializer(self.db)
        manifest = {"Volume": "1.0", "Attachment": "1.0"}

        def old(vid):
            return received_at(Volume, "1.0", Volume(
                id=vid, size=1, attachment=None), manifest)
        # a list of a Volume received at 1.0 and one made here at 1.1: each
        # at its own version
        fresh = new_volume(attachment=False)
        prim = serializer.serialize_entity({}, VolumeList(
            objects=[old("old"), fresh]))
        sent = [(p["versioned_object.version"], sorted(data(p)))
                for p in data(prim)["objects"]]
        self.assertEqual(sent, [
            ("1.0", ["attachment", "id", "size"]),
            ("1.1", ["attachment", "id", "shared_targets", "size"])])
        got = VolumeList.obj_from_primitive(prim)
        self.assertIs(got.objects[1].shared_targets, True)
        # a Volume received at 1.0, then given the new field here: sent at 1.1
        vol = old("v")
        self.assertEqual(vol.VERSION, "1.0")
        vol.shared_targets = True
        prim = serializer.serialize_entity({}, vol)
        self.assertEqual((prim["versioned_object.version"],
                          data(prim)["shared_targets"]), ("1.1", True))
        self.assertEqual(vol.VERSION, "1.0")          # the instance is as it was
        self.assertIs(Volume.obj_from_primitive(prim).shared_targets, True)
        # untouched, it keeps its version (test_11); under a pin (or to an
        # old receiver) everything is backported still
        self.assertEqual(serializer.backport(old("u"))[
            "versioned_object.version"], "1.0")
        rpcver.pin(self.conn, "obj:Volume", "1.0")
        prim = serializer.serialize_entity({}, vol)
        self.assertEqual((prim["versioned_object.version"], sorted(data(prim))),
                         ("1.0", ["attachment", "id", "size"]))

    def test_19_a_subclass_in_a_field_goes_at_its_own_cap(self):
        # R10: ObjectField(..., subclasses=True) holding a subclass (Nova's
        # migrate_data)
        @ovo_base.VersionedObjectRegistry.register_if(False)
        class MigrateData(ovo_base.VersionedObject):
            VERSION = "1.1"
            fields = {"id": fields.StringField()}

        @ovo_base.VersionedObjectRegistry.register_if(False)
        class LibvirtMigrateData(MigrateData):
            VERSION = "1.1"                          # 1.1 adds 'wait'
            fields = dict(MigrateData.fields, wait=fields.BooleanField())

            def obj_make_compatible(self, primitive, target_version):
                super().obj_make_compatible(primitive, target_version)
                if target_version == "1.0":
                    primitive.pop("wait", None)

        @ovo_base.VersionedObjectRegistry.register_if(False)
        class Migration(ovo_base.VersionedObject):
            VERSION = "1.0"
            fields = {"data": fields.ObjectField("MigrateData",
                                                 subclasses=True),
                      "more": fields.ListOfObjectsField("MigrateData",
                                                        subclasses=True)}
        register_for_test(self, MigrateData, LibvirtMigrateData, Migration)
        # an old receiver: LibvirtMigrateData 1.0, MigrateData 1.1
        rpcver.register(self.conn, "old", {"obj:Migration": "1.0",
                                           "obj:MigrateData": "1.1",
                                           "obj:LibvirtMigrateData": "1.0"})
        # what a receiver registers: the subclass too
        self.assertEqual(rpcver_oslo.service_apis(objects=[Migration]), {
            "obj:Migration": "1.0", "obj:MigrateData": "1.1",
            "obj:LibvirtMigrateData": "1.1"})
        rpcver_oslo.register_service(self.db, "new", objects=[Migration])
        self.assertEqual(self.registrations("new")[0],
                         ("new", "obj:LibvirtMigrateData", "1.0", "1.1"))
        serializer = rpcver_oslo.ObjectSerializer(self.db)
        self.assertEqual(serializer.caps("Migration"), {
            "Migration": "1.0", "MigrateData": "1.1",
            "LibvirtMigrateData": "1.0"})
        migration = Migration(
            data=LibvirtMigrateData(id="x", wait=True),
            more=[MigrateData(id="y"), LibvirtMigrateData(id="z", wait=True)])
        prim = serializer.serialize_entity({}, migration)

        def shown(p):
            return (p["versioned_object.name"], p["versioned_object.version"],
                    sorted(data(p)))
        self.assertEqual(shown(data(prim)["data"]),
                         ("LibvirtMigrateData", "1.0", ["id"]))
        self.assertEqual([shown(p) for p in data(prim)["more"]], [
            ("MigrateData", "1.1", ["id"]),
            ("LibvirtMigrateData", "1.0", ["id"])])
        # the old receiver leaves: the subclass goes at 1.1, with its data
        rpcver.unregister(self.conn, "old")
        prim = serializer.serialize_entity({}, migration)
        self.assertEqual(shown(data(prim)["data"]),
                         ("LibvirtMigrateData", "1.1", ["id", "wait"]))

    def test_20_one_instance_serialized_by_many_threads_at_once(self):
        # R11: oslo stashes the manifest on the instance while serializing
        # it; concurrent serializations of one instance raced on it
        # (AttributeError '_obj_version_manifest')
        rpcver.register(self.conn, "m1", {"obj:Volume": "1.1",
                                          "obj:Attachment": "1.0"})
        # two serializers (a server's and a client's), on two databases: the
        # instance is what they share
        other_db = os.path.join(os.path.dirname(self.db), "other.db")
        conn = rpcver.connect(other_db)
        self.addCleanup(conn.close)
        rpcver.register(conn, "m1", {"obj:Volume": "1.1",
                                     "obj:Attachment": "1.0"})
        serializer = rpcver_oslo.ObjectSerializer(self.db)
        other = rpcver_oslo.ObjectSerializer(other_db)
        shared = new_volume()                        # e.g. a cached object
        interval = sys.getswitchinterval()
        sys.setswitchinterval(1e-6)
        self.addCleanup(sys.setswitchinterval, interval)
        errors, wrong = [], []

        def worker(ser):
            for _ in range(400):
                try:
                    att = data(ser.serialize_entity({}, shared))["attachment"]
                    if att["versioned_object.version"] != "1.0" or \
                            "connector" in data(att):
                        wrong.append(att)
                except Exception as err:     # counted below
                    errors.append("%s: %s" % (type(err).__name__, err))
        threads = [threading.Thread(target=worker, args=(ser,))
                   for ser in (serializer, other) * 4]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertEqual((errors[:3], len(errors), wrong[:1]), ([], 0, []))
        self.assertFalse(hasattr(shared, "_obj_version_manifest"))

    def test_21_one_connection_per_database_file_in_a_process(self):
        # R7: each RPCAPI and ObjectSerializer opened a connection of its
        # own, with no close()
        rpcver.register(self.conn, "m1", {"volume": "3.17", "obj:Volume": "1.1",
                                          "obj:Attachment": "1.1"})
        # (SQLite keeps a closed connection's descriptor while another
        # connection of the process holds a lock on the file: the test's own
        # is closed first)
        self.conn.close()

        def db_fds():
            n = 0
            for fd in os.listdir("/proc/self/fd"):
                try:
                    target = os.readlink("/proc/self/fd/" + fd)
                except OSError:
                    continue
                n += target.startswith(self.db)
            return n
        baseline = db_fds()
        self.assertEqual(baseline, 0)
        apis = [VolumeAPI(self.db, self.transport) for _ in range(20)]
        serializers = [rpcver_oslo.ObjectSerializer(self.db) for _ in range(5)]
        for api in apis:
            self.assertEqual(api.version_cap, "3.17")
        for serializer in serializers:
            self.assertEqual(serializer.caps("Volume")["Volume"], "1.1")
        rpcver_oslo.register_service(self.db, "api", objects=[Volume])
        # the same file under another spelling is the same database
        relative = os.path.relpath(self.db)
        databases = {id(api._db) for api in apis} | \
            {id(s._db) for s in serializers} | \
            {id(rpcver_oslo._Database.of(relative))}
        self.assertEqual(len(databases), 1)
        self.assertLessEqual(db_fds() - baseline, 3)   # db, -wal, -shm
        rpcver_oslo.close_databases()
        self.assertEqual(db_fds(), baseline)
        self.assertEqual(apis[0].version_cap, "3.17")   # opened again
        self.assertLessEqual(db_fds() - baseline, 3)

    def test_22_can_send_version_and_prepare_agree(self):
        # R9: the small disagreements.  (No drain window: with one, rpcver
        # would refuse m2 below, [3.10, 3.17], while the registered API may
        # be sending 3.0-3.9, and after the pin what it sent before; test_30
        # has the drain.)
        rpcver.set_drain(self.conn, "volume", 0)
        self.start("m1", NewManager())
        api = self.api()
        # a version oslo cannot send: refused by both, as oslo does
        for bad in ("3", "3.x", "", 3.1):
            for ask in (api.can_send_version, api.client.can_send_version,
                        lambda v: api.client.prepare(version=v)):
                with self.assertRaisesRegex(rpcver.VersionError,
                                            r"^rpcver: VolumeAPI: .* is not "
                                            r"an oslo\.messaging version"):
                    ask(bad)
        # None: the target's version, in both
        self.assertTrue(api.client.can_send_version(None))
        self.assertEqual(api.client.prepare(version=None).target.version,
                         "3.17")
        rpcver.pin(self.conn, "volume", "3.16")
        self.assertFalse(api.client.can_send_version(None))
        with self.assertRaises(rpcver_oslo.CannotSendError):
            api.client.prepare(version=None)
        rpcver.pin(self.conn, "volume", None)
        # a version below what some receiver accepts is named as such
        rpcver.register(self.conn, "m2", {"volume": ("3.17", "3.10")})
        self.assertFalse(api.can_send_version("3.0"))
        with self.assertRaises(rpcver_oslo.CannotSendError) as cm:
            api._get_cctxt()                        # RPC_DEFAULT_VERSION 3.0
        self.assertRegex(str(cm.exception),
                         r"^rpcver: VolumeAPI cannot send method 'volume' at "
                         r"3.0 now: 3.0 is below 3.10, the lowest version "
                         r"receiver 'm2' accepts; send a version in "
                         r"\[3.10, 3.17\]\. rpc_explain\('volume'\):\n")
        rpcver.unregister(self.conn, "m2")
        # a static version_cap is refused, not silently replaced
        with self.assertRaisesRegex(TypeError, r"^rpcver: VolumeAPI: "
                                    r"version_cap='3.10' is not taken: the "
                                    r"cap is rpcver's.* SELECT "
                                    r"rpc_pin\('volume', '3.10'\)"):
            VolumeAPI(self.db, self.transport, version_cap="3.10")
        plain = messaging.get_rpc_client(
            self.transport, messaging.Target(topic="volume", version="3.17"),
            version_cap="3.10")
        with self.assertRaisesRegex(TypeError, "is not taken"):
            rpcver_oslo.CappedClient(plain, self.db, "volume", "3.17")


# --------------------------------------------------------------------------
# Senders: an RPCAPI registers as a sender of its API (rpc_register_sender),
# one registration per process, method and database

class LowVolumeAPI(VolumeAPI):
    RPC_API_VERSION = "3.10"


class TestSenders(OsloBase):
    def senders(self):
        return self.conn.execute("SELECT sender, method, lo, hi FROM "
                                 "rpc_senders ORDER BY sender, method"
                                 ).fetchall()

    def test_23_an_rpcapi_registers_as_a_sender_of_its_api(self):
        self.start("m1", OldManager())
        api = VolumeAPI(self.db, self.transport)
        name = rpcver_oslo.sender_name()
        self.assertEqual(api.sender_name, name)
        self.assertRegex(name, r"^python3@%s/%d$" % (
            re.escape(__import__("socket").gethostname()), os.getpid()))
        self.assertEqual(self.senders(), [(name, "volume", "3.0", "3.17")])
        # a second object of the process shares the registration
        api2 = VolumeAPI(self.db, self.transport)
        self.assertEqual(api2.sender_name, name)
        self.assertEqual(self.senders(), [(name, "volume", "3.0", "3.17")])
        # a name given is used as it is
        named = VolumeAPI(self.db, self.transport,
                          sender=rpcver_oslo.sender_name("cinder-api", "ctl"))
        self.assertEqual(named.sender_name, "cinder-api@ctl/%d" % os.getpid())
        self.assertEqual(len(self.senders()), 2)
        self.assertEqual(rpcver_oslo.sender_name("b", "h", 7), "b@h/7")
        with self.assertRaisesRegex(ValueError, r"^rpcver: sender_name: both"):
            rpcver_oslo.sender_name("", "h")
        # it is in rpcver's promise: status counts it, rpc_in_flight shows it
        self.assertEqual(rpcver.status(self.conn)[-1]["senders"], 2)
        self.assertEqual(api.version_cap, "3.16")
        self.assertEqual(rpcver.in_flight(self.conn)[0]["sending_hi"], "3.16")

    def test_24_a_refused_sender_registration_logs_and_raises(self):
        # the receivers are at 4.x only: a 3.x API could send nothing
        rpcver.register(self.conn, "m9", {"volume": "4.2"})
        with self.assertLogs("rpcver_oslo", level="ERROR") as logs:
            with self.assertRaises(rpcver.RefusedError) as cm:
                VolumeAPI(self.db, self.transport)
        message = (
            "rpcver: sender '%s' cannot register method 'volume' with range "
            "[3.0, 3.17]: every receiver accepts only [4.0, 4.2], so it could "
            "send nothing. Upgrade it to a range that reaches those versions, "
            "or register the receivers that accept its versions first"
            % rpcver_oslo.sender_name())
        self.assertEqual(str(cm.exception), message)
        self.assertEqual(logs.output, ["ERROR:rpcver_oslo:" + message])
        self.assertEqual(self.senders(), [])
        # a custom logger gets it instead
        log = logging.getLogger("test_oslo.api")
        with self.assertLogs(log, level="ERROR"):
            with self.assertRaises(rpcver.RefusedError):
                VolumeAPI(self.db, self.transport, logger=log)
        # and, the other way round, a registered API keeps such a receiver
        # out, naming the sender
        rpcver.unregister(self.conn, "m9")
        rpcver.forget(self.conn, "volume")
        api = VolumeAPI(self.db, self.transport)
        with self.assertRaisesRegex(rpcver.RefusedError, re.escape(
                "rpcver: the range [4.0, 4.2] of manager 'm9' would leave "
                "registered sender '%s'" % api.sender_name)):
            rpcver.register(self.conn, "m9", {"volume": "4.2"})

    def test_25_close_releases_and_the_last_close_unregisters(self):
        self.start("m1", NewManager())
        rpcver.set_drain(self.conn, "volume", 30)
        api, api2 = (VolumeAPI(self.db, self.transport) for _ in range(2))
        name = api.sender_name
        api.close()
        api.close()                                  # twice is fine
        self.assertEqual(self.senders(), [(name, "volume", "3.0", "3.17")])
        with self.assertRaisesRegex(rpcver.RpcverError, r"^rpcver: VolumeAPI "
                                    r"is closed: its sender registration for "
                                    r"method 'volume' is released"):
            api.version_cap
        with self.assertRaises(rpcver.RpcverError):
            api.prepare(server="m1")
        self.assertEqual(api2.version_cap, "3.17")  # the other one still sends
        with api2:
            pass                                     # the last share: gone
        self.assertEqual(self.senders(), [])
        # what it could send may still be in flight: the drain has started
        (flight,) = rpcver.in_flight(self.conn)
        self.assertEqual((flight["senders"], flight["in_flight_lo"],
                          flight["in_flight_hi"], flight["drain"]),
                         (0, "3.0", "3.17", 30))
        self.assertGreater(flight["seconds_left"], 0)

    def test_26_several_classes_of_one_api_register_their_hull(self):
        self.start("m1", NewManager())
        low = LowVolumeAPI(self.db, self.transport)
        name = low.sender_name
        self.assertEqual(self.senders(), [(name, "volume", "3.0", "3.10")])
        api = VolumeAPI(self.db, self.transport)
        self.assertEqual(self.senders(), [(name, "volume", "3.0", "3.17")])
        self.assertEqual((low.version_cap, api.version_cap), ("3.10", "3.17"))
        api.close()                                  # narrower again
        self.assertEqual(self.senders(), [(name, "volume", "3.0", "3.10")])
        low.close()
        self.assertEqual(self.senders(), [])

    def test_27_heartbeat_senders_and_registering_again(self):
        rpcver.set_drain(self.conn, "volume", 0)      # (to forget it below)
        self.start("m1", NewManager())
        api = VolumeAPI(self.db, self.transport)
        name = api.sender_name
        self.conn.execute("UPDATE rpc_managers SET last_seen = unixepoch() - "
                          "100 WHERE manager = ?", (name,))
        self.assertEqual(rpcver_oslo.heartbeat_senders(), {name: True})
        self.assertEqual(self.conn.execute(
            "SELECT unixepoch() - last_seen < 5 FROM rpc_managers WHERE "
            "manager = ?", (name,)).fetchone(), (1,))
        # expired (it looked dead): the next heartbeat registers it again
        self.conn.execute("UPDATE rpc_managers SET last_seen = unixepoch() - "
                          "100 WHERE manager = ?", (name,))
        self.assertEqual(rpcver.expire(self.conn, 50, max_share=1), 1)
        self.assertEqual(self.senders(), [])
        with self.assertLogs("rpcver_oslo", level="WARNING") as logs:
            self.assertEqual(rpcver_oslo.heartbeat_senders(), {name: False})
        self.assertIn("was not registered (expired, or unregistered by an "
                      "operator) while this process still sends: registered "
                      "again", logs.output[0])
        self.assertEqual(self.senders(), [(name, "volume", "3.0", "3.17")])
        # an operator's rpc_unregister_sender too
        rpcver.unregister_sender(self.conn, name, "volume")
        with self.assertLogs("rpcver_oslo", level="WARNING"):
            self.assertEqual(rpcver_oslo.heartbeat_senders(), {name: False})
        self.assertEqual(len(self.senders()), 1)
        # registering again may be refused: logged, raised
        rpcver.unregister_sender(self.conn, name, "volume")
        self.servers["m1"].stop()
        self.servers["m1"].wait()
        rpcver.unregister(self.conn, "m1")
        rpcver.forget(self.conn, "volume")
        rpcver.register(self.conn, "m9", {"volume": "4.2"})
        with self.assertLogs("rpcver_oslo", level="ERROR"):
            with self.assertRaisesRegex(rpcver.RefusedError, "^rpcver: sender "
                                        ".* could send nothing"):
                rpcver_oslo.heartbeat_senders()
        rpcver.unregister(self.conn, "m9")

    def test_28_unregister_senders_at_a_services_stop(self):
        self.start("m1", NewManager())
        api = VolumeAPI(self.db, self.transport)
        VolumeAPI(self.db, self.transport, sender="other@h/1")
        self.assertEqual(rpcver_oslo.unregister_senders(), 2)
        self.assertEqual(self.senders(), [])
        self.assertEqual(rpcver_oslo.heartbeat_senders(), {})
        # an object still in use registers again at its next use
        self.assertEqual(api.version_cap, "3.17")
        self.assertEqual(self.senders(),
                         [(api.sender_name, "volume", "3.0", "3.17")])

    def test_29_a_forked_child_registers_under_its_own_name(self):
        self.start("m1", NewManager())
        api = VolumeAPI(self.db, self.transport)
        parent = api.sender_name
        read_end, write_end = os.pipe()
        pid = os.fork()
        if pid == 0:                                  # the child
            code = 1
            try:
                os.close(read_end)
                cap = api.version_cap                 # registers the child
                conn = rpcver.connect(self.db)
                names = [r[0] for r in conn.execute(
                    "SELECT sender FROM rpc_senders ORDER BY sender")]
                child = api.sender_name
                api.close()                           # the child's share only
                after = [r[0] for r in conn.execute(
                    "SELECT sender FROM rpc_senders ORDER BY sender")]
                conn.close()
                os.write(write_end, repr((cap, child, names, after)).encode())
                code = 0
            finally:
                os._exit(code)
        os.close(write_end)
        with os.fdopen(read_end) as f:
            got = f.read()
        deadline = time.monotonic() + 30
        while True:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                break
            if time.monotonic() > deadline:
                os.kill(pid, 9)
                os.waitpid(pid, 0)
                self.fail("the child did not exit")
            time.sleep(0.02)
        self.assertEqual(os.waitstatus_to_exitcode(status), 0, got)
        cap, child, names, after = eval(got)
        self.assertEqual(child, rpcver_oslo.sender_name(pid=pid))
        self.assertNotEqual(child, parent)
        self.assertEqual((cap, names, after),
                         ("3.17", sorted([parent, child]), [parent]))
        self.assertEqual(api.sender_name, parent)      # the parent's is its own
        self.assertEqual(self.senders(), [(parent, "volume", "3.0", "3.17")])


class TestDrain(OsloBase):
    """Rolling back by pin waits out the drain window: on
    tests/c/testclock.c's clock (the database is a connection opened on its
    VFS, passed to rpcver_oslo as a connection), no sleeping."""

    T0 = 1800000000

    def setUp(self):
        super().setUp()
        self.clock = load_testclock()
        self.addCleanup(self.clock.close)
        self.addCleanup(self.clock.execute, "SELECT testclock_set(0)")
        self.at(0)
        self.cdb = rpcver.connect("file:%s?vfs=testclock"
                                  % os.path.join(os.path.dirname(self.db),
                                                 "clock.db"), uri=True)
        self.addCleanup(self.cdb.close)
        self.addCleanup(rpcver_oslo.unregister_senders)   # before the close

    def at(self, seconds):
        self.clock.execute("SELECT testclock_set(?)", (self.T0 + seconds,))

    def register(self, name, manager):
        return rpcver_oslo.register_service(
            self.cdb, name, messaging.Target(topic="volume", server=name),
            [manager], objects=[Volume])

    def test_30_an_old_manager_is_refused_until_the_drain_has_passed(self):
        rpcver.set_drain(self.cdb, "volume", 5)
        self.register("m1", NewManager())
        self.register("m2", NewManager())
        api = VolumeAPI(self.cdb, self.transport)
        self.assertEqual(api.version_cap, "3.17")
        self.at(10)
        rpcver.pin(self.cdb, "volume", "3.16")          # the rollback
        self.assertEqual(api.version_cap, "3.16")
        self.at(11)
        with self.assertLogs("rpcver_oslo", level="ERROR") as logs:
            with self.assertRaises(rpcver.RefusedError) as cm:
                self.register("m3", OldManager())
        message = (
            "rpcver: manager 'm3' cannot register method 'volume' with range "
            "[3.0, 3.16]: registered senders could send versions 3.0 to 3.17 "
            "until a recent change, and messages of them may still be in "
            "flight for 5 s more (the drain window), which it could not "
            "receive. Start it after the drain, in 5 s, or register a range "
            "that accepts 3.0 to 3.17")
        self.assertEqual(str(cm.exception), message)
        self.assertEqual(logs.output, ["ERROR:rpcver_oslo:" + message])
        self.at(16)
        self.assertEqual(self.register("m3", OldManager())["volume"], "3.16")
        # without the API registered there would have been no drain: its
        # sender registration is what rpcver holds the old manager to
        self.assertEqual(rpcver.in_flight(self.cdb)[0]["senders"], 1)


if __name__ == "__main__":
    unittest.main()
