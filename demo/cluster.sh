#!/bin/sh
# cluster.sh: rpcver across hosts, on one machine.  A 3-node dqlite cluster
# of rpcverd (ports DEMO_CLUSTER_PORT, +1, +2 on 127.0.0.1; default 29301),
# managers registering from Python through different nodes, an operator
# watching with the CLI, and the leader killed in the middle of the rolling
# upgrade.  `make demo-cluster` runs it; it exits non-zero if any
# expectation fails and prints "demo-cluster: ok" last if all held.
#
#   1. The cluster forms: node 1 bootstraps, nodes 2 and 3 join.
#   2. Managers m1..m3 register volume 3.16 through different nodes.
#   3. m1 and m2 upgrade to 3.17: senders stay on 3.16 (m3 is old).
#   4. The leader is killed with SIGKILL; a new one is elected.
#   5. m3 upgrades through the new leader: senders move to 3.17, and an
#      old manager is refused.
#   6. The killed node restarts from its data directory and rejoins.
#
# Data and logs are left in demo/tmp/cluster (removed at the next run).

set -u
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(dirname "$HERE")
TMP=$HERE/tmp/cluster
PORT=${DEMO_CLUSTER_PORT:-29301}
RPCVERD=$ROOT/build/rpcverd
CLI=$ROOT/build/rpcver
PY=/usr/bin/python3
NODES=127.0.0.1:$PORT,127.0.0.1:$((PORT + 1)),127.0.0.1:$((PORT + 2))

fail() {
  echo "demo-cluster: FAILED: $*" >&2
  echo "demo-cluster: node logs kept in $TMP" >&2
  exit 1
}
cleanup() {
  for f in "$TMP"/n*.pid; do
    [ -f "$f" ] && kill -9 "$(cat "$f")" 2>/dev/null
  done
  return 0
}
trap cleanup EXIT INT TERM

addr() { echo "127.0.0.1:$((PORT + $1 - 1))"; }
start_node() {  # start_node ID [--join ADDR]
  id=$1; shift
  "$RPCVERD" --id "$id" --address "$(addr "$id")" --dir "$TMP/n$id" "$@" \
      >>"$TMP/n$id.log" 2>&1 &
  echo $! > "$TMP/n$id.pid"
}
wait_for() {  # wait_for FILE PATTERN
  n=0
  until grep -q "$2" "$1" 2>/dev/null; do
    n=$((n + 1)); [ $n -gt 300 ] && fail "no '$2' in $1 after 30 s"
    sleep 0.1
  done
}
# Python runs in $TMP: from the repository root, `import rpcver` would find
# the extension rpcver.so before bindings/python/rpcver.py.
py() { (cd "$TMP" && PYTHONPATH=$ROOT/bindings/python "$PY" "$@"); }
# register MANAGER VERSION NODE: a manager's start-up, from Python, through
# NODE's address (the client finds the leader from there).
register() {
  py - "$1" "$2" "$(addr "$3")" <<'EOF'
import sys, rpcver, rpcver_cluster
manager, version, node = sys.argv[1:]
conn = rpcver_cluster.connect([node])
try:
    got = rpcver.register(conn, manager, {"volume": version})
    print("  %s registered volume %s via %s: senders send %s"
          % (manager, version, node, got["volume"]))
except rpcver.RefusedError as e:
    print("  %s REFUSED at start-up: %s" % (manager, e))
    sys.exit(3)
EOF
}
leader() {
  py -c '
import sys, rpcver_cluster
conn = rpcver_cluster.connect(sys.argv[1])
print(conn.leader_id)' "$NODES"
}
max_send() { "$CLI" --cluster "$NODES" --json status | sed -n 's/.*"negotiated": "\([0-9.]*\)".*/\1/p'; }

[ -x "$RPCVERD" ] || fail "$RPCVERD is missing: run make cluster"
rm -rf "$TMP"
mkdir -p "$TMP"

echo "== 1. a 3-node cluster on $NODES"
start_node 1
wait_for "$TMP/n1.log" "(this node)"
start_node 2 --join "$(addr 1)"
start_node 3 --join "$(addr 1)"
wait_for "$TMP/n2.log" "joined the cluster"
wait_for "$TMP/n3.log" "joined the cluster"
grep -h "started\|joined" "$TMP"/n*.log | sed 's/^/  /'

echo "== 2. managers m1..m3 start at volume 3.16, each through another node"
register m1 3.16 1 || fail "m1 not registered"
register m2 3.16 2 || fail "m2 not registered"
register m3 3.16 3 || fail "m3 not registered"

echo "== 3. m1 and m2 upgrade to 3.17; m3 is still old"
register m1 3.17 2 || fail "m1 not upgraded"
register m2 3.17 3 || fail "m2 not upgraded"
"$CLI" --cluster "$NODES" status | sed 's/^/  /'
[ "$(max_send)" = 3.16 ] || fail "senders should still send 3.16"

echo "== 4. the leader is killed (SIGKILL)"
old=$(leader)
[ -n "$old" ] || fail "no leader"
kill -9 "$(cat "$TMP/n$old.pid")"
rm -f "$TMP/n$old.pid"
echo "  killed node $old"
new=$(leader)
[ -n "$new" ] && [ "$new" != "$old" ] || fail "no new leader (was $old, now '$new')"
echo "  node $new leads now"

echo "== 5. m3 upgrades through the new leader"
survivor=1; [ "$old" = 1 ] && survivor=2
register m3 3.17 "$survivor" || fail "m3 not upgraded"
"$CLI" --cluster "$NODES" status | sed 's/^/  /'
[ "$(max_send)" = 3.17 ] || fail "senders should send 3.17 now"
echo "  an old manager (a rollback) tries to start:"
register m4 3.16 "$survivor"
rc=$?
[ $rc -eq 3 ] || fail "m4 should have been refused by rpcver (exit 3), got exit $rc"

echo "== 6. node $old restarts from its data directory"
start_node "$old"
wait_for "$TMP/n$old.log" "restarting as a member"
wait_for "$TMP/n$old.log" "leader: $new at"
tail -n 2 "$TMP/n$old.log" | sed 's/^/  /'
"$CLI" --cluster "$(addr "$old")" upgrade-check | sed 's/^/  /'
echo "demo-cluster: ok"
