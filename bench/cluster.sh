#!/bin/sh
# bench/cluster.sh: rpcver's latency through a 3-node dqlite cluster of
# rpcverd on 127.0.0.1 next to a local WAL file, and through a second
# cluster run with TLS (certificates made by cluster/certs.sh in a temporary
# directory), side by side (bench/cluster_latency.c).  `make bench-cluster`
# runs it; BENCH_CLUSTER_PORT (default 29101) is the first of the six ports
# (three for each cluster).
set -eu
cd "$(dirname "$0")/.."
port=${BENCH_CLUSTER_PORT:-29101}
dir=$(mktemp -d)
pids=""
cleanup() { for p in $pids; do kill -9 "$p" 2>/dev/null || true; done; rm -rf "$dir"; }
trap cleanup EXIT INT TERM
sh cluster/certs.sh -d "$dir/certs" ca >/dev/null
sh cluster/certs.sh -d "$dir/certs" client bench >/dev/null
# start_cluster NAME FIRST-PORT [TLS]: three nodes; prints their addresses
start_cluster() {
  name=$1 first=$2 tls=${3:-}
  list=""
  for i in 1 2 3; do
    addr=127.0.0.1:$((first + i - 1))
    set --
    [ "$i" -gt 1 ] && set -- --join "127.0.0.1:$first"
    if [ -n "$tls" ]; then
      sh cluster/certs.sh -d "$dir/certs" node "$name-n$i" 127.0.0.1 >/dev/null
      set -- "$@" --tls-cert "$dir/certs/$name-n$i.crt" --tls-key "$dir/certs/$name-n$i.key" \
          --tls-ca "$dir/certs/ca.crt"
    fi
    build/rpcverd --id "$i" --address "$addr" --dir "$dir/$name-n$i" "$@" >"$dir/$name-n$i.log" 2>&1 &
    pids="$pids $!"
    list="$list${list:+,}$addr"
    [ "$i" -eq 1 ] && sleep 0.5
  done
  # wait for both followers to have joined
  for i in 2 3; do
    n=0
    until grep -q "joined the cluster" "$dir/$name-n$i.log"; do
      n=$((n + 1)); [ $n -gt 300 ] && { cat "$dir/$name-n$i.log" >&2; exit 1; }
      sleep 0.1
    done
  done
  nodes=$list
}
start_cluster plain "$port"
plain=$nodes
start_cluster tls $((port + 3)) tls
tls=$nodes
echo "date $(date -u '+%Y-%m-%d %H:%M:%S UTC'), $(nproc) CPUs, nodes $plain; with TLS $tls"
build/bench/cluster_latency "$plain" "$dir/local.db" "$tls" "$dir/certs/bench.crt" \
    "$dir/certs/bench.key" "$dir/certs/ca.crt"
