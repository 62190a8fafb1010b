# writer.tcl: one writer process of concurrency.test and crash.test.
#
#   tclsh writer.tcl EXTENSION DBFILE ID NOPS SEED ACKFILE ?CLOCK?
#
# Performs NOPS random operations, each in its own transaction, with the
# write pattern docs/concurrency.md documents: WAL, a busy timeout, BEGIN
# IMMEDIATE; before each COMMIT it checks the invariant (invariant.tcl, but
# for rpc_verify) on what it is about to commit, and exits 1 if it fails.
# Each transaction also records itself in test_ops(seq, writer, op, outcome,
# at), at the time unixepoch() gave inside it (and a successful pin in
# test_pins), so the database holds its committed history.  With CLOCK (the
# path of tests/c/testclock.c built), the writer opens the database on the
# test clock and sets it, inside each transaction, to T0 + seq / 4: time
# moves with the commits, the same for every writer, so drain windows start
# and end within a run and a replay knows each operation's time.  After COMMIT returns, the writer appends "seq outcome" to
# ACKFILE: what it saw acknowledged (before it, "in KIND": the transaction's
# work is done and the commit has not returned yet).  It owns the managers w<ID>-*, so no
# other writer changes them; methods and pins are shared by all.  With
# CLOCK it registers senders too: w<ID>-s1, w<ID>-s2 and its receiver
# w<ID>-a (one process may both receive and send), and sets drain windows.
package require sqlite3
lassign $argv extension dbfile id nOps seed ackfile clockso
source [file join [file dirname [info script]] model.tcl]
source [file join [file dirname [info script]] invariant.tcl]
array set seen {}
expr {srand($seed)}

if {$clockso ne ""} {
  sqlite3 boot :memory:
  boot enable_load_extension 1
  boot eval {SELECT load_extension($clockso)}
  sqlite3 db "file:$dbfile?vfs=testclock" -uri 1
} else {
  sqlite3 db $dbfile
}
db enable_load_extension 1
db eval {SELECT load_extension($extension)}
db timeout 60000
set ack [open $ackfile a]
fconfigure $ack -buffering line

set methods {volume backup obj:Volume}
set managers [list w$id-a w$id-b w$id-c]
set senders [list w$id-s1 w$id-s2 w$id-a]
proc pick {l} { lindex $l [expr {int(rand() * [llength $l])}] }

# A random operation, as {kind args}: versions mostly near the floor, so
# that upgrades, downgrades within the rules and refusals all happen.
# After a pin, the next operation is often the rollback it is for: a
# receiver of the old code, [MAJOR.0, the pin], comes back (issue 11's first
# hole), which a drain under way refuses.
set queued {}
proc next_op {} {
  global methods managers senders id clockso queued
  if {[llength $queued]} {
    set op $queued
    set queued {}
    return $op
  }
  set m [pick $methods]
  set g [pick $managers]
  set s [pick $senders]
  set f [db onecolumn {SELECT floor FROM rpc_methods WHERE method = $m}]
  if {$f eq ""} { set f [model::key 3 0] }
  set hi [expr {max(0, $f + ((int(rand() * 5) - 1) << 20))}]
  set r [expr {rand()}]
  if {$clockso ne "" && $r < 0.25} {
    # senders and drain windows (only on the test clock, where the replay
    # knows each operation's time)
    set shi [expr {max(0, $f + ((int(rand() * 3) - 1) << 20))}]
    set u [expr {rand()}]
    if {$u < 0.45} { return [list register_sender $s $m $shi [expr {($shi >> 40) << 40}]] }
    if {$u < 0.6} { return [list register_sender $s $m $shi $shi] }
    if {$u < 0.8} { return [list unregister_sender $s $m] }
    if {$u < 0.85} { return [list unregister_sender $s *] }
    return [list drain $m [pick {0 1 2 3 {}}]]
  }
  if {$clockso ne ""} { set r [expr {rand()}] }
  if {$r < 0.45} { return [list register $g $m $hi [expr {($hi >> 40) << 40}]] }
  if {$r < 0.55} { return [list register $g $m [expr {$hi + (1 << 40)}] [expr {($hi >> 40) << 40}]] }
  if {$r < 0.65} { return [list unregister $g $m] }
  if {$r < 0.70} { return [list unregister $g *] }
  if {$r < 0.80} { return [list heartbeat $g] }
  if {$r < 0.84} { return [list pin $m [expr {max(0, $f - (int(rand() * 2) << 20))}]] }
  # below every receiver's lo: refused while the method has receivers
  if {$r < 0.86} { return [list pin $m [expr {max(0, (($f >> 40) - 1) << 40)}]] }
  if {$r < 0.92} { return [list pin $m ""] }
  return [list expire w$id-stale $m]
}

proc run_op {op} {
  lassign $op kind a b c d
  switch $kind {
    register {
      db eval {SELECT rpc_register($a, $b, rpcver_text($c), rpcver_text($d))}
    }
    unregister {
      if {$b eq "*"} { db eval {SELECT rpc_unregister($a)} } else { db eval {SELECT rpc_unregister($a, $b)} }
    }
    heartbeat { db eval {SELECT rpc_heartbeat($a)} }
    register_sender {
      db eval {SELECT rpc_register_sender($a, $b, rpcver_text($c), rpcver_text($d))}
    }
    unregister_sender {
      if {$b eq "*"} { db eval {SELECT rpc_unregister_sender($a)} } else { db eval {SELECT rpc_unregister_sender($a, $b)} }
    }
    drain {
      if {$b eq ""} { db eval {SELECT rpc_drain($a, NULL)} } else { db eval {SELECT rpc_drain($a, $b)} }
    }
    pin {
      if {$b eq ""} { db eval {SELECT rpc_pin($a, NULL)} } else { db eval {SELECT rpc_pin($a, rpcver_text($b))} }
    }
    expire {
      # Register the writer's stale manager, age it, expire it: all inside
      # this transaction, so no other writer ever sees it aged.
      catch {db eval {SELECT rpc_register($a, $b, rpcver_text((SELECT floor FROM rpc_methods WHERE method = $b)))}}
      db eval {UPDATE rpc_managers SET last_seen = 0 WHERE manager = $a}
      # (MAX_SHARE 1: it may be its method's only receiver; the share
      # limit is random.test's and negotiate.test's to check)
      db eval {SELECT rpc_expire(1000000, 1)}
    }
  }
}

set busy 0
for {set i 0} {$i < $nOps} {incr i} {
  set op [next_op]
  if {[catch {db eval {BEGIN IMMEDIATE}} err]} {
    puts "writer $id: BEGIN IMMEDIATE failed: $err"
    incr busy
    continue
  }
  db eval {UPDATE test_seq SET n = n + 1}
  set seq [db onecolumn {SELECT n FROM test_seq}]
  if {$clockso ne ""} { boot eval {SELECT testclock_set(1800000000 + $seq / 4)} }
  set at [db onecolumn {SELECT unixepoch()}]
  set before [db eval {SELECT * FROM rpc_ranges; SELECT * FROM rpc_sender_ranges; SELECT * FROM rpc_methods}]
  if {[catch {run_op $op} err]} {
    if {![string match rpcver:* $err]} {
      puts "writer $id: $op: unexpected error: $err"
      db eval ROLLBACK
      exit 1
    }
    set outcome refused
    if {[db eval {SELECT * FROM rpc_ranges; SELECT * FROM rpc_sender_ranges; SELECT * FROM rpc_methods}] ne $before} {
      puts "writer $id: $op: refused but changed the database"
      exit 1
    }
  } else {
    set outcome ok
    lassign $op kind pm pv
    if {$kind eq "pin" && $pv ne ""} {
      db eval {INSERT INTO test_pins VALUES ($seq, $pm, $pv)}
      if {$clockso ne "" && rand() < 0.7} {
        set queued [list register [pick $managers] $pm $pv [expr {($pv >> 40) << 40}]]
      }
    }
  }
  db eval {INSERT INTO test_ops VALUES ($seq, $id, $op, $outcome, $at)}
  # The invariant at every commit, on what this transaction is about to
  # commit, but for rpc_verify() (the readers run it, between commits).
  set violations [check_invariant_here db seen test_pins 0]
  if {[llength $violations]} {
    puts "writer $id: $op: the invariant fails before COMMIT: [join $violations {; }]"
    db eval ROLLBACK
    exit 1
  }
  # Progress: "in" marks a transaction that has done its work and is not
  # committed yet, so a crash test can tell where a kill landed.
  puts $ack "in [lindex $op 0]"

  # Crash tests kill writers at random moments; hold some transactions open
  # for a moment after the write so that kills land inside them too.
  # (a sender's write, rarer, more often: crash.test wants kills there)
  if {rand() < 0.2 || ([lindex $op 0] in {register_sender unregister_sender} && rand() < 0.6)} {
    after 2
  }
  if {[catch {db eval COMMIT} err]} {
    puts "writer $id: COMMIT failed: $err"
    incr busy
    catch {db eval ROLLBACK}
    continue
  }
  puts $ack "$seq $outcome"
}
close $ack
db close
puts "writer $id: $nOps operations, $busy busy"
exit [expr {$busy ? 2 : 0}]
