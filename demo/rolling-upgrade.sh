#!/bin/sh
# rolling-upgrade.sh: a rolling upgrade of four manager processes, watched by
# a sender process, all sharing one SQLite database file in WAL mode through
# the rpcver extension.  `make demo` runs it; it also works as a test: it
# exits non-zero if any expectation fails and prints "demo: ok" last if all
# held.
#
#   1. Managers m1..m4 start at the old release (volume 3.16, backup 1.4).
#   2. They are upgraded one at a time (volume 3.17, backup 1.5) by a
#      restart: stop the old process, start the new one, which re-registers.
#      The sender keeps sending 3.16 until the last old manager is gone.
#   3. After that, an old m4 (a rollback) is refused at start-up ...
#   4. ... until an operator pins the APIs to the old versions, and even then
#      only after the drain window: messages the sender chose at 3.17 just
#      before the pin may still be in flight for DRAIN seconds, and the old
#      m4 could not receive them.  m4 is then upgraded again and the pins
#      are cleared: the sender is back on 3.17.
#
# The sender registers what it can send (rpc_register_sender), so rpcver
# knows what may be in flight; the drain window is DRAIN seconds here (a
# real deployment's is its longest call timeout or message TTL; rpcver's
# default is 60 s).
#
# Managers (demo/manager.tcl) and the sender (demo/sender.tcl) are separate
# tclsh processes; the operator's reads and writes below use the sqlite3
# shell.  Every write is BEGIN IMMEDIATE; ...; COMMIT with a busy timeout.
# The database and one log per process are left in demo/tmp/ (removed at the
# next run).  Needs sqlite3, tclsh with the sqlite3 package, and a sleep(1)
# that takes fractions of a second (GNU, busybox, BSD).

set -u

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(dirname "$HERE")
EXT=$ROOT/rpcver.so
TMP=$HERE/tmp
DB=$TMP/rolling.db
SQLITE=${SQLITE:-sqlite3}
TCLSH=${TCLSH:-tclsh}
MANAGER_MAX_SECONDS=40          # every process ends by itself, whatever
SENDER_MAX_SECONDS=30           # happens to this script
DRAIN=8                         # seconds a message may be in flight (long
                                # enough for the steps between the pin and
                                # the old m4's start on a loaded machine)

OLD_VOLUME=3.16 OLD_BACKUP=1.4
NEW_VOLUME=3.17 NEW_BACKUP=1.5
MANAGERS="m1 m2 m3 m4"

# ------------------------------------------------------------------ helpers

fail() {
  echo "demo: FAILED: $*" >&2
  echo "demo: database and process logs kept in $TMP" >&2
  exit 1
}

# Every process started here has a $TMP/NAME.pid file while it runs.
cleanup() {
  for _f in "$TMP"/*.pid; do
    [ -f "$_f" ] || continue
    kill "$(cat "$_f")" 2>/dev/null
    rm -f "$_f"
  done
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

STEP=0
step() {
  STEP=$((STEP + 1))
  echo
  echo "== $STEP. $* =="
}

# wait_until SECONDS WHAT COMMAND...: poll COMMAND every 50 ms until it
# succeeds; fail if it has not after SECONDS.
wait_until() {
  _wsecs=$1 _wwhat=$2
  shift 2
  _wend=$(( $(date +%s) + _wsecs ))
  until "$@"; do
    [ "$(date +%s)" -le "$_wend" ] || fail "timed out after ${_wsecs}s waiting for $_wwhat"
    sleep 0.05
  done
}

# val SQL: one value from the database into $VAL (plain shell, no extension:
# the views need none).
val() {
  VAL=$("$SQLITE" -bail -cmd '.timeout 5000' "$DB" "$1") ||
    fail "query failed: $1"
}

# table SQL: print a query's result as an indented box.
table() {
  _out=$("$SQLITE" -bail -cmd '.timeout 5000' -cmd '.headers on' \
           -cmd '.mode box' "$DB" "$1") || fail "query failed: $1"
  printf '%s\n' "$_out" | sed 's/^/    /'
}

# operator SQL: a write by the operator, with the extension loaded.
operator() {
  echo "  operator> $1"
  _out=$("$SQLITE" -bail -cmd '.timeout 5000' -cmd ".load '$EXT'" \
           "$DB" "$1" 2>&1) || fail "operator statement failed: $_out"
  echo "            = $(printf '%s' "$_out" | tr '\n' ' ')"
}

show_state() {
  echo "  SELECT * FROM rpc_status;"
  table 'SELECT * FROM rpc_status'
  val 'SELECT count(*) FROM rpc_laggards'
  if [ "$VAL" = 0 ]; then
    echo "  SELECT * FROM rpc_laggards;   -- no rows: nobody holds the upgrade back"
  else
    echo "  SELECT * FROM rpc_laggards;"
    table 'SELECT * FROM rpc_laggards'
  fi
}

# expect_status METHOD "NEGOTIATED FLOOR STATE"
expect_status() {
  val "SELECT negotiated || ' ' || floor || ' ' || state FROM rpc_status
        WHERE method = '$1'"
  [ "$VAL" = "$2" ] || fail "rpc_status for $1 is '$VAL', expected '$2'"
}

# expect_registered MANAGER VOLUME BACKUP: what the database holds for it.
expect_registered() {
  val "SELECT group_concat(method || '=' || hi, ' ') FROM
         (SELECT method, hi FROM rpc_registrations WHERE manager = '$1'
           ORDER BY method)"
  [ "$VAL" = "backup=$3 volume=$2" ] ||
    fail "$1 is registered as '$VAL', expected backup=$3 volume=$2"
}

# ----------------------------------------------------------------- managers

SEQ=0
# start_manager NAME VOLUME BACKUP: start a manager process in the background.
start_manager() {
  SEQ=$((SEQ + 1))
  _log=$TMP/$(printf %02d "$SEQ")-$1-$2.log
  rm -f "$TMP/$1.stop"
  "$TCLSH" "$HERE/manager.tcl" "$DB" "$EXT" "$1" "$TMP/$1.stop" "$2" "$3" \
    "$MANAGER_MAX_SECONDS" >"$_log" 2>&1 &
  echo $! >"$TMP/$1.pid"
  echo "$_log" >"$TMP/$1.logname"
  echo "  started $1 at volume $2, backup $3 (pid $!)"
}

has_output() { [ -s "$1" ] || ! kill -0 "$2" 2>/dev/null; }
has_lines() { [ "$(wc -l <"$1")" -ge "$2" ] || ! kill -0 "$3" 2>/dev/null; }

# await_up NAME NEGOTIATED_VOLUME: wait for the manager's start-up line; it
# must have registered and been told NEGOTIATED_VOLUME.
await_up() {
  _pid=$(cat "$TMP/$1.pid") _log=$(cat "$TMP/$1.logname")
  wait_until 10 "$1 to register" has_output "$_log" "$_pid"
  grep -q "] $1: up " "$_log" ||
    { sed 's/^/    /' "$_log" >&2; fail "$1 did not start"; }
  sed 's/^/    /' "$_log"
  grep -q "] $1: up .*volume [0-9.]* -> negotiated $2," "$_log" ||
    fail "$1 was told another negotiated volume version than $2"
}

# drained: no method has a drain under way.
drained() {
  val 'SELECT count(*) FROM rpc_status WHERE drain_left > 0'
  [ "$VAL" = 0 ]
}

# await_refused NAME [WORD]: the manager must exit 3 with an rpcver: message
# (that contains WORD).
await_refused() {
  _pid=$(cat "$TMP/$1.pid") _log=$(cat "$TMP/$1.logname")
  wait_until 10 "$1 to register or be refused" has_output "$_log" "$_pid"
  if grep -q "] $1: up " "$_log"; then
    sed 's/^/    /' "$_log" >&2
    fail "$1 was admitted; it should have been refused"
  fi
  wait "$_pid"
  _st=$?
  rm -f "$TMP/$1.pid"
  sed 's/^/    /' "$_log"
  if [ "$_st" != 3 ] ||
     ! grep -q "] $1: REFUSED at start-up: rpcver: .*${2:-}" "$_log"; then
    fail "$1 should have been refused (exit 3, rpcver: message ${2:-}), but exited $_st"
  fi
}

# stop_manager NAME: ask the process to stop and check it stopped cleanly.
stop_manager() {
  _pid=$(cat "$TMP/$1.pid") _log=$(cat "$TMP/$1.logname")
  : >"$TMP/$1.stop"
  wait_until 10 "$1 to stop" has_lines "$_log" 2 "$_pid"
  wait "$_pid"
  _st=$?
  rm -f "$TMP/$1.pid" "$TMP/$1.stop"
  tail -n 1 "$_log" | sed 's/^/    /'
  [ "$_st" = 0 ] || fail "$1 exited $_st instead of stopping cleanly"
}

# upgrade NAME VOLUME BACKUP NEGOTIATED_VOLUME: restart it at a new release.
upgrade() {
  stop_manager "$1"
  start_manager "$1" "$2" "$3"
  await_up "$1" "$4"
  expect_registered "$1" "$2" "$3"
}

# ------------------------------------------------------------------- sender

start_sender() {
  rm -f "$TMP/sender.stop" "$TMP/sender.state"
  "$TCLSH" "$HERE/sender.tcl" "$DB" "$EXT" "$TMP/sender.state" \
    "$TMP/sender.stop" "$SENDER_MAX_SECONDS" "$NEW_VOLUME" "$NEW_BACKUP" \
    >"$TMP/sender.log" 2>&1 &
  echo $! >"$TMP/sender.pid"
  echo "  started the sender (pid $!), new code: it registers to send volume up to"
  echo "  $NEW_VOLUME and backup up to $NEW_BACKUP, and polls rpc_max_send() every 50 ms"
}

sender_polled() {
  [ -f "$TMP/sender.state" ] || return 1
  read -r _p _v _b <"$TMP/sender.state"
  [ "$_p" -ge "$1" ]
}

# expect_send VOLUME BACKUP: what the sender sends now, read from a poll that
# started after this call, so after every change made before it.
expect_send() {
  _n=0
  [ -f "$TMP/sender.state" ] && read -r _n _v _b <"$TMP/sender.state"
  wait_until 5 "a fresh poll of the sender" sender_polled $((_n + 2))
  read -r _p _v _b <"$TMP/sender.state"
  echo "  the sender now sends: volume $_v, backup $_b   (poll #$_p)"
  [ "$_v $_b" = "$1 $2" ] ||
    fail "the sender sends volume $_v, backup $_b; expected $1, $2"
}

# expect_switches N: the sender has logged N versions of 'volume' so far.
expect_switches() {
  _c=$(grep -c ' volume: sends ' "$TMP/sender.log")
  [ "$_c" = "$1" ] || {
    cat "$TMP/sender.log" >&2
    fail "the sender logged $_c volume versions so far, expected $1"
  }
}

# --------------------------------------------------------------------- demo

if [ ! -f "$EXT" ]; then
  echo "demo: FAILED: $EXT is missing: run 'make loadable' first" >&2
  exit 1
fi
rm -rf "$TMP"
mkdir -p "$TMP" || fail "cannot create $TMP"
# The processes' log lines show the seconds since now.
DEMO_T0_MS=$(echo 'puts [clock milliseconds]' | "$TCLSH") ||
  fail "cannot run $TCLSH"
export DEMO_T0_MS

step "A fresh database in WAL mode: $DB, drain window $DRAIN s"
operator "PRAGMA journal_mode = WAL; SELECT rpc_init(), rpc_drain(NULL, $DRAIN);"

step "Four managers start at the old release: volume $OLD_VOLUME, backup $OLD_BACKUP"
for m in $MANAGERS; do start_manager "$m" "$OLD_VOLUME" "$OLD_BACKUP"; done
for m in $MANAGERS; do
  await_up "$m" "$OLD_VOLUME"
  expect_registered "$m" "$OLD_VOLUME" "$OLD_BACKUP"
done
show_state
expect_status volume "$OLD_VOLUME $OLD_VOLUME steady"

step "The sender starts"
start_sender
expect_send "$OLD_VOLUME" "$OLD_BACKUP"

left=$(echo "$MANAGERS" | wc -w)
for m in $MANAGERS; do
  left=$((left - 1))
  step "Upgrade $m to volume $NEW_VOLUME, backup $NEW_BACKUP ($left old manager(s) left)"
  if [ "$left" -gt 0 ]; then
    upgrade "$m" "$NEW_VOLUME" "$NEW_BACKUP" "$OLD_VOLUME"
    show_state
    expect_status volume "$OLD_VOLUME $OLD_VOLUME upgrading"
    val "SELECT count(*) FROM rpc_laggards WHERE method = 'volume'"
    [ "$VAL" = "$left" ] || fail "$VAL volume laggards, expected $left"
    expect_send "$OLD_VOLUME" "$OLD_BACKUP"
    expect_switches 1
  else
    upgrade "$m" "$NEW_VOLUME" "$NEW_BACKUP" "$NEW_VOLUME"
    show_state
    expect_status volume "$NEW_VOLUME $NEW_VOLUME steady"
    expect_send "$NEW_VOLUME" "$NEW_BACKUP"
    expect_switches 2
    echo "  -> the sender switched to $NEW_VOLUME with the last old manager's upgrade:"
    tail -n 2 "$TMP/sender.log" | sed 's/^/    sender /'
  fi
done

step "Finalized (floor $NEW_VOLUME): m4 is rolled back to the old release and refused"
stop_manager m4
start_manager m4 "$OLD_VOLUME" "$OLD_BACKUP"
await_refused m4
expect_registered m4 "$NEW_VOLUME" "$NEW_BACKUP"   # its registration is intact
echo "  m4's registration still says volume $NEW_VOLUME: nothing was admitted"
expect_send "$NEW_VOLUME" "$NEW_BACKUP"

step "Rollback path: the operator pins both APIs to the old release"
echo "  (the old m4 also receives backup only up to $OLD_BACKUP: pin that too)"
operator "BEGIN IMMEDIATE; SELECT rpc_pin('volume', '$OLD_VOLUME'), rpc_pin('backup', '$OLD_BACKUP'); COMMIT;"
expect_send "$OLD_VOLUME" "$OLD_BACKUP"
expect_switches 3
echo "  The sender now sends $OLD_VOLUME, but what it sent at $NEW_VOLUME a moment ago may"
echo "  still be in flight for the drain window:"
echo "  SELECT * FROM rpc_in_flight;"
table 'SELECT * FROM rpc_in_flight'

step "The old m4 starts at once: refused while $NEW_VOLUME may still be in flight"
start_manager m4 "$OLD_VOLUME" "$OLD_BACKUP"
await_refused m4 "drain"
expect_registered m4 "$NEW_VOLUME" "$NEW_BACKUP"

step "The operator waits out the drain window ($DRAIN s), and starts the old m4 again"
_w0=$(date +%s)
wait_until $((DRAIN + 5)) "the drain window to pass" drained
echo "  waited $(( $(date +%s) - _w0 )) s: rpc_status shows drain_left 0 for every method"
start_manager m4 "$OLD_VOLUME" "$OLD_BACKUP"
await_up m4 "$OLD_VOLUME"
expect_registered m4 "$OLD_VOLUME" "$OLD_BACKUP"
show_state
expect_status volume "$OLD_VOLUME $OLD_VOLUME pinned"
expect_send "$OLD_VOLUME" "$OLD_BACKUP"

step "m4 is fixed and upgraded again: the pin still holds the sender at $OLD_VOLUME"
upgrade m4 "$NEW_VOLUME" "$NEW_BACKUP" "$OLD_VOLUME"
expect_send "$OLD_VOLUME" "$OLD_BACKUP"
expect_switches 3

step "The operator clears the pins: the sender goes to $NEW_VOLUME"
operator "BEGIN IMMEDIATE; SELECT rpc_pin('volume', NULL), rpc_pin('backup', NULL); COMMIT;"
show_state
expect_status volume "$NEW_VOLUME $NEW_VOLUME steady"
expect_send "$NEW_VOLUME" "$NEW_BACKUP"
expect_switches 4

step "Shutdown: stop the managers and the sender"
for m in $MANAGERS; do stop_manager "$m"; done
: >"$TMP/sender.stop"
_pid=$(cat "$TMP/sender.pid")
wait_until 5 "the sender to stop" grep -q '] sender: stopped' "$TMP/sender.log"
wait "$_pid"
_st=$?
rm -f "$TMP/sender.pid"
[ "$_st" = 0 ] || { cat "$TMP/sender.log" >&2; fail "the sender exited $_st"; }
echo "  the sender's log: a line per change of what it sends:"
sed 's/^/    /' "$TMP/sender.log"
_seq=$(sed -n 's/.* volume: sends \([^ ]*\).*/\1/p' "$TMP/sender.log" | tr '\n' ' ')
_want="$OLD_VOLUME $NEW_VOLUME $OLD_VOLUME $NEW_VOLUME "
[ "$_seq" = "$_want" ] ||
  fail "the sender sent volume $_seq; expected $_want"

# The upgrade as a picture, from the event log (docs/operators.md).
mkdir -p "$ROOT/build/demo"
(cd "$TMP" && "$ROOT/build/rpcver" --db "$(basename "$DB")" timeline \
   --svg "$ROOT/build/demo/timeline.svg" >/dev/null) || fail "rpcver timeline failed"
echo "  the upgrade's timeline: build/demo/timeline.svg (rpcver timeline)"

echo
echo "demo: ok"
