#!/bin/sh
# deps.sh [valgrind] [fuzz]: make sure this machine has what rpcver's build,
# tests and demo need (Debian/Ubuntu), plus valgrind for make test-valgrind
# and clang with its libFuzzer runtime for make fuzz.  As root it installs
# what is missing with apt-get; otherwise it prints the exact command to run
# and fails.
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
need nodejs        command -v node
need npm           command -v npm
need pkg-config    command -v pkg-config
need libdqlite-dev test -f /usr/include/dqlite.h     # rpcverd (cluster/)
need go-dqlite     command -v dqlite                 # the operators' shell
if command -v tclsh >/dev/null 2>&1; then
  need libsqlite3-tcl sh -c 'echo "package require sqlite3" | tclsh'
else
  missing="$missing libsqlite3-tcl"
fi
for extra in "$@"; do
  case $extra in
    valgrind) need valgrind command -v valgrind ;;
    fuzz)
      need clang command -v clang
      # the libFuzzer runtime: can clang link a fuzzer?
      if command -v clang >/dev/null 2>&1; then
        need libclang-rt-dev sh -c 'echo "int LLVMFuzzerTestOneInput(const char *d, unsigned long n){ (void)d; (void)n; return 0; }" | clang -x c -fsanitize=fuzzer -o /dev/null - '
      fi ;;
    *) echo "deps: unknown extra '$extra'" >&2; exit 2 ;;
  esac
done
node_modules() {
  # The Node binding's dependency, better-sqlite3 12, from the npm registry.
  # Its prebuilt binaries come from GitHub, which may be out of reach; npm
  # then compiles it, with the Node headers from Debian's nodejs package.
  dir=$(dirname "$0")/../bindings/node
  [ -d "$dir/node_modules/better-sqlite3" ] && return 0
  echo "deps: npm ci in bindings/node (compiles better-sqlite3; a few minutes)"
  nodedir=""
  [ -f /usr/include/node/node.h ] && nodedir="--nodedir=/usr"
  (cd "$dir" && npm ci --no-audit --no-fund $nodedir >/dev/null 2>&1) \
    || { echo "deps: npm ci failed in bindings/node; run: (cd bindings/node && npm ci $nodedir)" >&2; return 1; }
}

if [ -z "$missing" ]; then
  node_modules
  exit $?
fi

cmd="apt-get update && apt-get install -y$missing"
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "deps: installing$missing"
  DEBIAN_FRONTEND=noninteractive sh -c "apt-get update -qq && apt-get install -y -qq$missing" >/dev/null \
    || { echo "deps: apt-get failed; run: $cmd" >&2; exit 1; }
  node_modules || exit 1
else
  echo "deps: missing$missing; run as root: $cmd" >&2
  exit 1
fi
