#!/usr/bin/python3
"""Peers that a node with TLS must refuse, for tests/tls.test.

    tls_peer.py stall HOST:PORT
        the first 7 bytes of a TLS ClientHello, then nothing: a half-finished
        handshake
    tls_peer.py trickle HOST:PORT
        a ClientHello's record header declaring 512 bytes, then one byte
        every 0.5 s: a handshake that never ends by itself
    tls_peer.py garbage HOST:PORT
        64 bytes of noise
    tls_peer.py plain HOST:PORT
        dqlite's protocol word and a LEADER request, without TLS
    tls_peer.py raft CERT KEY CA HOST:PORT
        TLS with that certificate, then dqlite's protocol word and a CONNECT
        request (a Raft stream, as a peer node opens one)
    tls_peer.py huge CERT KEY CA HOST:PORT
        TLS with that certificate, then dqlite's protocol word, a QUERY_SQL
        request's header announcing 0x1fffffff words (4 GiB; dqlite 1.11
        crashes on it) and up to 8 MiB of its body
    tls_peer.py add CERT KEY CA HOST:PORT
        TLS with that certificate, then dqlite's protocol word and an ADD
        request (node 99 at 127.0.0.1:1: a membership change)
    tls_peer.py empty CERT KEY CA HOST:PORT
        TLS with that certificate, then dqlite's protocol word and a LEADER
        request's header announcing no body (dqlite 1.11 aborts on it)
    tls_peer.py fill CERT KEY NODECERT NODEKEY CA HOST:PORT
        260 TLS connections with the client's CERT, each sending dqlite's
        protocol word, all held; then one with the node's NODECERT sending
        a LEADER request.  Prints "clients held N, node answered" (or
        "node refused")
    tls_peer.py client CERT KEY CA HOST:PORT
        rpcver_cluster.connect() with that certificate (timeout 2 s,
        leader_timeout 0.5 s: a few tries, so that the node's log, which
        holds 20 refusals per 10 s, keeps room for the next case)

Each prints one line: how the node answered.  For stall, trickle, garbage,
plain, raft, add, empty and huge: "closed after S s" when the node closed the connection
within 30 s (S rounded to the second), else "open after 30 s"; raft and
plain (and add) print "answered" when the node sent anything back instead.  For
client: "connected to LEADER" or the error's class and message.
"""

import os
import socket
import ssl
import struct
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "bindings", "python"))

WAIT = 30.0


def address(text):
    host, _, port = text.rpartition(":")
    return host, int(port)


def wait_closed(sock, t0, trickle=b""):
    """Until the node closes sock (or WAIT passes), sending trickle a byte
    every 0.5 s; what to print."""
    answered = False
    sock.settimeout(0.5)
    i = 0
    while time.monotonic() - t0 < WAIT:
        if i < len(trickle):
            try:
                sock.send(trickle[i:i + 1])
            except OSError:
                return "closed after %d s" % round(time.monotonic() - t0)
            i += 1
        try:
            data = sock.recv(4096)
        except socket.timeout:
            continue
        except ssl.SSLError:
            raise                      # the caller says which alert
        except OSError:
            return "closed after %d s" % round(time.monotonic() - t0)
        if not data:
            return ("answered" if answered else
                    "closed after %d s" % round(time.monotonic() - t0))
        answered = True
    return "open after %d s" % WAIT


def main(argv):
    mode = argv[1]
    t0 = time.monotonic()
    if mode == "client":
        import rpcver_cluster as rc
        cert, key, ca, node = argv[2:6]
        try:
            conn = rc.connect([node], tls_cert=cert, tls_key=key, tls_ca=ca,
                              timeout=2, leader_timeout=0.5)
        except Exception as exc:          # the line says which
            print("%s: %s" % (type(exc).__name__, exc))
            return 0
        print("connected to %s" % conn.leader)
        conn.close()
        return 0
    if mode == "fill":
        cert, key, ncert, nkey, ca, node = argv[2:8]
        held = []
        for _ in range(260):
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            context.check_hostname = False
            context.load_verify_locations(cafile=ca)
            context.load_cert_chain(cert, key)
            try:
                sock = context.wrap_socket(
                    socket.create_connection(address(node), 5))
                sock.sendall(struct.pack("<Q", 1))
                held.append(sock)
            except OSError:
                pass
        time.sleep(0.5)
        alive = 0
        for sock in held:                 # refused ones have been closed
            sock.setblocking(False)
            try:
                alive += sock.recv(1) != b""
            except ssl.SSLWantReadError:
                alive += 1
            except OSError:
                pass
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.load_verify_locations(cafile=ca)
        context.load_cert_chain(ncert, nkey)
        try:
            sock = context.wrap_socket(socket.create_connection(address(node), 5))
            sock.settimeout(5)
            sock.sendall(struct.pack("<Q", 1) + struct.pack("<IBBH", 1, 0, 0, 0)
                         + b"\0" * 8)
            answer = "node answered" if sock.recv(8) else "node refused"
        except OSError:
            answer = "node refused"
        print("clients held %d, %s" % (alive, answer))
        return 0
    if mode in ("raft", "add", "empty", "huge"):
        cert, key, ca, node = argv[2:6]
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.minimum_version = ssl.TLSVersion.TLSv1_3
        context.check_hostname = False
        context.load_verify_locations(cafile=ca)
        context.load_cert_chain(cert, key)
        sock = context.wrap_socket(socket.create_connection(address(node), 5))
        if mode in ("raft", "add"):
            body = struct.pack("<Q", 99) + b"127.0.0.1:1\0".ljust(16, b"\0")
            head = struct.pack("<IBBH", len(body) // 8,
                               11 if mode == "raft" else 12, 0, 0)
        elif mode == "empty":
            body = b""
            head = struct.pack("<IBBH", 0, 0, 0, 0)
        else:
            body = b"\0" * (8 << 20)
            head = struct.pack("<IBBH", 0x1fffffff, 9, 0, 0)
        try:
            sock.sendall(struct.pack("<Q", 1) + head + body)
        except OSError:
            print("closed after 0 s")
            return 0
        try:
            print(wait_closed(sock, t0))
        except ssl.SSLError as exc:
            print("closed after %d s (%s)" % (round(time.monotonic() - t0),
                                              exc.reason))
        return 0
    sock = socket.create_connection(address(argv[2]), 5)
    if mode == "stall":
        sock.sendall(b"\x16\x03\x01\x02\x00\x01\x00")
        print(wait_closed(sock, t0))
    elif mode == "trickle":
        print(wait_closed(sock, t0, b"\x16\x03\x01\x02\x00" + b"\x01" * 200))
    elif mode == "garbage":
        sock.sendall(bytes(range(64)))
        print(wait_closed(sock, t0))
    elif mode == "plain":
        sock.sendall(struct.pack("<Q", 1) + struct.pack("<IBBH", 1, 0, 0, 0)
                     + b"\0" * 8)
        print(wait_closed(sock, t0))
    else:
        sys.stderr.write(__doc__)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
