#!/bin/sh
# deps.sh: make sure this machine has what rpcver's build, tests and demo
# need (Debian/Ubuntu).  As root it installs what is missing with apt-get;
# otherwise it prints the exact command to run and fails.
missing=""
need() {  # need PACKAGE CHECK-COMMAND...
  pkg=$1; shift
  "$@" >/dev/null 2>&1 || missing="$missing $pkg"
}
need make          command -v make
need gcc           command -v cc
need libsqlite3-dev test -f /usr/include/sqlite3.h
need sqlite3       command -v sqlite3
need tcl           command -v tclsh
need python3       test -x /usr/bin/python3
if command -v tclsh >/dev/null 2>&1; then
  need libsqlite3-tcl sh -c 'echo "package require sqlite3" | tclsh'
else
  missing="$missing libsqlite3-tcl"
fi
[ -z "$missing" ] && exit 0

cmd="apt-get update && apt-get install -y$missing"
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "deps: installing$missing"
  DEBIAN_FRONTEND=noninteractive sh -c "apt-get update -qq && apt-get install -y -qq$missing" >/dev/null \
    || { echo "deps: apt-get failed; run: $cmd" >&2; exit 1; }
else
  echo "deps: missing$missing; run as root: $cmd" >&2
  exit 1
fi
