#!/bin/sh
# What one operation of bench/profile.c's write modes writes and runs:
# PROFILE_PAGES=1 runs of N operations and of 0, the difference divided by
# N (bench/README.md, "Profiling").  Run from the top of the project after
# `make bench` (or `make build/bench/profile`):
#
#   sh bench/pages.sh 1000 single plainreg
#
# Prints, per mode, the WAL frames (pages written) and commits per
# operation, the frames per b-tree, and each statement, trigger program and
# nested statement (run by a function while another runs: "-- ...") with
# how many times it ran per operation.  PROFILE=path runs another build of
# the driver; PROFILE_SETUP and PROFILE_PRAGMA pass through.
set -e
n=$1; shift
[ -n "$n" ] && [ "$n" -gt 0 ] && [ $# -gt 0 ] || { echo "usage: sh bench/pages.sh N MODE..." >&2; exit 1; }
prof=${PROFILE:-build/bench/profile}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
for mode in "$@"; do
  PROFILE_PAGES=1 "$prof" "$mode" 0 > "$out/zero"
  PROFILE_PAGES=1 "$prof" "$mode" "$n" > "$out/n"
  echo "== $mode, per operation (N=$n)"
  # key: the line without its count; value: the count (N run minus 0 run)
  awk -v n="$n" '
    function key(   k, i) { k = $1; for(i=3; i<=NF; i++) k = k " " $i; return k }
    FNR==NR { if( $1=="frames" || $1=="commits" ) z[$1] = $2; else z[key()] += $2; next }
    { if( $1=="frames" || $1=="commits" ){ k = $1; c = $2 } else { k = key(); c = $2 }
      d = c - z[k]; if( d<=0 ) next
      order[++m] = k; v[k] += d }
    END { for(i=1; i<=m; i++){ k = order[i]; if( k in done ) continue; done[k] = 1
            printf "%8.2f  %s\n", v[k]/n, k } }
  ' "$out/zero" "$out/n"
done
