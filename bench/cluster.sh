#!/bin/sh
# bench/cluster.sh: rpcver's latency through a 3-node dqlite cluster of
# rpcverd on 127.0.0.1 next to a local WAL file (bench/cluster_latency.c).
# `make bench-cluster` runs it; BENCH_CLUSTER_PORT (default 29101) is the
# first of the three ports.
set -eu
cd "$(dirname "$0")/.."
port=${BENCH_CLUSTER_PORT:-29101}
dir=$(mktemp -d)
pids=""
cleanup() { for p in $pids; do kill -9 "$p" 2>/dev/null || true; done; rm -rf "$dir"; }
trap cleanup EXIT INT TERM
nodes=""
for i in 1 2 3; do
  addr=127.0.0.1:$((port + i - 1))
  join=""
  [ "$i" -gt 1 ] && join="--join 127.0.0.1:$port"
  build/rpcverd --id "$i" --address "$addr" --dir "$dir/n$i" $join >"$dir/n$i.log" 2>&1 &
  pids="$pids $!"
  nodes="$nodes${nodes:+,}$addr"
  [ "$i" -eq 1 ] && sleep 0.5
done
# wait for both followers to have joined
for i in 2 3; do
  n=0
  until grep -q "joined the cluster" "$dir/n$i.log"; do
    n=$((n + 1)); [ $n -gt 300 ] && { cat "$dir/n$i.log"; exit 1; }
    sleep 0.1
  done
done
echo "date $(date -u '+%Y-%m-%d %H:%M:%S UTC'), $(nproc) CPUs, nodes $nodes"
build/bench/cluster_latency "$nodes" "$dir/local.db"
