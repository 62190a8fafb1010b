#!/bin/sh
# Instructions per operation of bench/profile.c's modes, by callgrind: a run
# of N operations minus a run of 0, divided by N (bench/README.md,
# "Profiling").  Run from the top of the project after `make bench` (or
# `make build/bench/profile`):
#
#   sh bench/instructions.sh 20000 hot sel hotwal selwal
#
# PROFILE=path runs another build of the driver (for a before/after).
# Prints one line per mode: MODE  INSTRUCTIONS/OP.
set -e
n=$1; shift
[ -n "$n" ] && [ $# -gt 0 ] || { echo "usage: sh bench/instructions.sh N MODE..." >&2; exit 1; }
prof=${PROFILE:-build/bench/profile}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
total() {   # the "Collected" count of one callgrind run of MODE and N
  valgrind --tool=callgrind --callgrind-out-file="$out/cg" "$prof" "$1" "$2" \
    2>"$out/log" || { cat "$out/log" >&2; exit 1; }
  sed -n 's/^==[0-9]*== Collected : \([0-9]*\)$/\1/p' "$out/log"
}
for mode in "$@"; do
  a=$(total "$mode" 0)
  b=$(total "$mode" "$n")
  echo "$mode $(( (b - a) / n ))"
done
