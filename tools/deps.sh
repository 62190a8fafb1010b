#!/bin/sh
# deps.sh [--check] [GROUP...]: make sure this machine has what rpcver needs
# (Debian/Ubuntu).  With no GROUP: what `make`, `make test` and `make demo`
# need.  GROUP valgrind: valgrind for make test-valgrind.  GROUP fuzz: clang
# and its libFuzzer runtime for make fuzz.  make test asks for both groups
# as well: tests/deps.test checks every group's checks against the real tools.
#
# As root it installs what is missing with apt-get, then checks again; as
# another user it prints the exact command to run and fails.  --check only
# reports: "deps: missing PKG..." and exit 1, or nothing and exit 0.
#
# Every check below asks the thing itself (does the command run, does the
# package load, does pkg-config know the library), and each can fail:
# tests/deps.test runs each one against a machine state where its package is
# missing and sees it reported.  A check that cannot fail would let a fresh
# machine through with something missing, as the Tcl check once did: tclsh
# reading a script from standard input exits 0 even when the script fails,
# so each Tcl check ends with an explicit exit 1.
#
# The cluster's TLS (rpcverd, the C wire client, the CLI) is OpenSSL's:
# libssl-dev to build, and the openssl command for cluster/certs.sh and the
# tests, which make their certificates as they run.
#
# spin checks model/rpcver.pml (make model) and replays its runs through
# the extension (tests/model.test).  tmux gives tests/cli.test a real
# terminal to draw the CLI's tables in.
#
# The operators' tools (docs/operators.md): chromium renders rpcver
# timeline's SVG for tests/timeline.test; python3-prometheus-client parses
# rpcver metrics' text in tests/metrics.test; prometheus brings promtool,
# which checks docs/alerts.yml.
#
# The oslo adapter (bindings/python/rpcver_oslo.py, make demo-oslo) needs
# oslo.messaging and oslo.versionedobjects in that interpreter and Debian's
# rabbitmq-server (in /usr/sbin: the check looks on PATH, which has /usr/sbin
# for root; another user may need PATH=$PATH:/usr/sbin).
#
# PYTHON names the interpreter the bindings run with (default Debian's
# /usr/bin/python3: a pyenv Python may be built without loadable-extension
# support).
PYTHON=${PYTHON:-/usr/bin/python3}
here=$(dirname "$0")
only_check=0
[ "${1:-}" = --check ] && { only_check=1; shift; }

has() { command -v "$1" >/dev/null 2>&1; }
tcl_has_sqlite3() {
  echo 'if {[catch {package require sqlite3}]} {exit 1}' | tclsh >/dev/null 2>&1
}
# python_imports MODULE: the bindings' Python imports MODULE.  One Python
# run imports every module of PY_MODULES and says which failed; the checks
# read that answer (importing oslo.messaging takes about half a second, and
# tests/deps.test runs these checks some thirty times).  EVENTLET_NO_GREENDNS
# spares eventlet's DNS module, a third of that time, which nothing here uses.
PY_MODULES="oslo_messaging oslo_versionedobjects.base prometheus_client.parser"
py_failed=unknown
python_imports() {
  if [ "$py_failed" = unknown ]; then
    py_failed=$(EVENTLET_NO_GREENDNS=yes "$PYTHON" -c '
import importlib, sys
failed = []
for name in sys.argv[1:]:
    try:
        importlib.import_module(name)
    except Exception:
        failed.append(name)
print(" ".join(failed))' $PY_MODULES 2>/dev/null) || py_failed=$PY_MODULES
  fi
  case " $py_failed " in *" $1 "*) return 1 ;; esac
  return 0
}
python_loads_extensions() {
  "$PYTHON" -c 'import sqlite3; sqlite3.connect(":memory:").enable_load_extension(True)' \
    >/dev/null 2>&1
}
# Debian's chromium is a shell script around the browser: the script alone
# on PATH is not enough, so ask it for its version (the browser answers).
chromium_runs() {
  chromium --version 2>/dev/null | grep -q '^Chromium '
}
clang_links_fuzzer() {
  echo 'int LLVMFuzzerTestOneInput(const char *d, unsigned long n){ (void)d; (void)n; return 0; }' \
    | clang -x c -fsanitize=fuzzer -o /dev/null - >/dev/null 2>&1
}

# The checks of a group, one line each: PACKAGE CHECK...
checks() {
  case $1 in
    base) cat <<'EOF'
make            has make
gcc             has cc
pkg-config      has pkg-config
libsqlite3-dev  pkg-config --exists sqlite3
sqlite3         has sqlite3
tcl             has tclsh
libsqlite3-tcl  tcl_has_sqlite3
python3         python_loads_extensions
nodejs          has node
npm             has npm
libdqlite-dev   pkg-config --exists dqlite
libssl-dev      pkg-config --exists openssl
go-dqlite       has dqlite
openssl         has openssl
rabbitmq-server has rabbitmq-server
spin            has spin
tmux            has tmux
python3-oslo.messaging python_imports oslo_messaging
python3-oslo.versionedobjects python_imports oslo_versionedobjects.base
chromium        chromium_runs
python3-prometheus-client python_imports prometheus_client.parser
prometheus      has promtool
EOF
      ;;
    valgrind) echo "valgrind valgrind --version" ;;
    fuzz) cat <<'EOF'
clang           has clang
libclang-rt-dev clang_links_fuzzer
EOF
      ;;
    *) echo "deps: unknown group '$1' (known: valgrind, fuzz)" >&2; return 2 ;;
  esac
}

# Print the packages of the groups whose check fails.
missing_packages() {
  out=""
  for group in base "$@"; do
    list=$(checks "$group") || exit 2
    while read -r pkg check; do
      [ -n "$pkg" ] || continue
      # shellcheck disable=SC2086 # the check is a command line
      eval "$check" >/dev/null 2>&1 </dev/null || out="$out $pkg"
    done <<EOF
$list
EOF
  done
  echo "$out"
}

# The Node binding's dependency, better-sqlite3 12, from the npm registry.
# Its prebuilt binaries come from GitHub, which may be out of reach; npm then
# compiles it, with the Node headers from Debian's nodejs package.
node_modules() {
  dir=$here/../bindings/node
  (cd "$dir" && node -e "require('better-sqlite3')") >/dev/null 2>&1 && return 0
  [ $only_check = 1 ] && { echo "deps: missing bindings/node/node_modules (run: cd bindings/node && npm ci)" >&2; return 1; }
  echo "deps: npm ci in bindings/node (compiles better-sqlite3; a few minutes)"
  nodedir=""
  [ -f /usr/include/node/node.h ] && nodedir="--nodedir=/usr"
  (cd "$dir" && npm ci --no-audit --no-fund $nodedir >/dev/null 2>&1) \
    || { echo "deps: npm ci failed in bindings/node; run: (cd bindings/node && npm ci $nodedir)" >&2; return 1; }
}

missing=$(missing_packages "$@") || exit 2
if [ -n "$missing" ]; then
  cmd="apt-get update && apt-get install -y$missing"
  if [ $only_check = 1 ]; then
    echo "deps: missing$missing" >&2
    exit 1
  fi
  if [ "$(id -u)" != 0 ] || ! has apt-get; then
    echo "deps: missing$missing; run as root: $cmd" >&2
    exit 1
  fi
  echo "deps: installing$missing"
  DEBIAN_FRONTEND=noninteractive sh -c "apt-get update -qq && apt-get install -y -qq$missing" >/dev/null \
    || { echo "deps: apt-get failed; run: $cmd" >&2; exit 1; }
  still=$(missing_packages "$@")
  if [ -n "$still" ]; then
    echo "deps: apt-get installed$missing, but these checks still fail:$still" >&2
    exit 1
  fi
fi
node_modules
