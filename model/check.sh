#!/bin/sh
# model/check.sh: verify model/rpcver.pml with spin (make model).
#
# Three runs, each of which must give the result recorded here:
#   pin-rollback  the rules before sender registrations, no bridges: spin
#                 must find hole 1 (a rollback by pin admits a receiver a
#                 queued message cannot reach); its trail, as the steps it
#                 prints, must equal model/trails/pin-rollback.txt
#   bridge        the same rules, no pins: hole 2 (a bridge admitted while an
#                 older message is queued), model/trails/bridge.txt
#   new-rules     rpcver's rules (NEW_RULES): exhaustive search, no assertion
#                 violated, and the search must be complete
# The counterexamples are searched breadth first, so they are the shortest.
# Work files go to build/model.  The last line is "N passed, N failed".
set -u
cd "$(dirname "$0")/.."
out=build/model
mkdir -p "$out"
cp model/rpcver.pml "$out/"
passed=0
failed=0

# steps NAME DEFINES: the steps of the trail spin left, one per line
steps() {
  (cd "$out" && spin -t $2 rpcver.pml) 2>&1 \
    | sed -n 's/^ *\(R\|RL\|S\|SL\|SEND\|DELIVER\|DROP\|PIN\|UNPIN\|TICK\) /\1 /p; s/^ *\(UNPIN\|TICK\)$/\1/p'
}

counterexample() {  # counterexample NAME DEFINES
  name=$1; defs=$2
  rm -f "$out/rpcver.pml.trail"
  if ! (cd "$out" && spin -a $defs rpcver.pml >/dev/null \
        && cc -O2 -DBFS -DSAFETY -o "pan-$name" pan.c \
        && "./pan-$name" > "$name.out" 2>&1); then
    :   # pan exits 0 either way; errors: is read below
  fi
  errors=$(sed -n 's/.*errors: \([0-9]*\).*/\1/p' "$out/$name.out")
  if [ "$errors" != 1 ] || ! grep -q 'assertion violated' "$out/$name.out"; then
    echo "model: $name: expected one assertion violated, got errors: ${errors:-?}"
    failed=$((failed + 1)); return
  fi
  steps "$name" "$defs" > "$out/$name.txt"
  if ! diff -u "model/trails/$name.txt" "$out/$name.txt"; then
    echo "model: $name: the counterexample differs from model/trails/$name.txt"
    failed=$((failed + 1)); return
  fi
  echo "model: $name: spin found the counterexample ($(wc -l < "$out/$name.txt") steps," \
       "$(sed -n 's/^ *\([0-9]*\) states, stored.*/\1/p' "$out/$name.out") states)"
  passed=$((passed + 1))
}

exhaustive() {  # exhaustive NAME DEFINES
  name=$1; defs=$2
  rm -f "$out/rpcver.pml.trail"
  # Depth-first with a disk-backed stack (-DSC): the search goes 6.7 million
  # steps deep (the clock ticks); -m8000000 leaves room and allocates 430 MB
  (cd "$out" && spin -a $defs rpcver.pml >/dev/null \
   && cc -O2 -DSAFETY -DCOLLAPSE -DSC -o "pan-$name" pan.c \
   && "./pan-$name" -m8000000 -w24 > "$name.out" 2>&1)
  errors=$(sed -n 's/.*errors: \([0-9]*\).*/\1/p' "$out/$name.out")
  if [ "$errors" != 0 ] || grep -q 'max search depth too small' "$out/$name.out" \
     || [ -e "$out/rpcver.pml.trail" ]; then
    echo "model: $name: expected a complete search without violations:"
    grep -E 'assert|errors:|depth' "$out/$name.out"
    failed=$((failed + 1)); return
  fi
  echo "model: $name: no violation in $(sed -n 's/^ *\([0-9]*\) states, stored.*/\1/p' "$out/$name.out") states (exhaustive)"
  passed=$((passed + 1))
}

counterexample pin-rollback "-DNO_BRIDGE"
counterexample bridge "-DNO_PIN"
exhaustive new-rules "-DNEW_RULES"
rm -f "$out"/*.stack 2>/dev/null
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
