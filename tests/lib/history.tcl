# history.tcl: helpers shared by concurrency.test and crash.test.
source [file join [file dirname [info script]] model.tcl]
source [file join [file dirname [info script]] invariant.tcl]

# The tables in which writers record their committed history.
proc create_history_tables {db} {
  $db eval {
    CREATE TABLE IF NOT EXISTS test_seq(n INTEGER NOT NULL);
    INSERT INTO test_seq SELECT 0 WHERE NOT EXISTS (SELECT 1 FROM test_seq);
    CREATE TABLE IF NOT EXISTS test_ops(seq INTEGER PRIMARY KEY, writer, op, outcome, at);
    CREATE TABLE IF NOT EXISTS test_pins(seq INTEGER PRIMARY KEY, method, version);
  }
}

# Apply one recorded operation to the model, at time NOW; returns ok or refused.
proc model_apply {op now} {
  lassign $op kind a b c d
  switch $kind {
    register   { return [expr {[model::register $a $b $d $c $now] ? "ok" : "refused"}] }
    unregister { model::unregister $a $b $now; return ok }
    heartbeat  { return ok }
    register_sender {
      return [expr {[model::register_sender $a $b $d $c $now] ? "ok" : "refused"}]
    }
    unregister_sender { model::unregister_sender $a $b $now; return ok }
    drain { model::drain $a $b $now; return ok }
    pin {
      if {$b eq ""} { model::unpin $a $now; return ok }
      return [expr {[model::pin $a $b $now] ? "ok" : "refused"}]
    }
    expire {
      set f [lindex [model::state $b] 6]
      if {$f ne ""} { model::register $a $b [expr {($f >> 40) << 40}] $f $now }
      model::expire [list $a] 1 $now
      return ok
    }
  }
  error "unknown operation $op"
}

# Replay the committed history (test_ops, in commit order) through the model:
# every outcome must match, and the final state must equal the database's
# (its tables, and the views at the time of the last operation).  Each
# operation is applied at the time it ran (test_ops.at); the default drain
# window is the database's (set before the history starts, never by it).
# Returns the list of problems; counts the model's reasons for refusals in
# the global array replay_why(KIND/REASONS).
# With FROM > 0 the model is assumed to hold the state after seq FROM - 1
# (the committed history only grows), and only what follows is replayed.
proc replay_history {db {from 1}} {
  if {$from == 1} {
    model::reset
    model::drain "" [$db onecolumn {SELECT value FROM rpc_meta WHERE key = 'drain_default'}] 0
  }
  set now 0
  set problems {}
  set expect $from
  $db eval {SELECT seq, writer, op, outcome, at FROM test_ops WHERE seq >= $from ORDER BY seq} {
    if {$seq != $expect} { lappend problems "history: seq $expect missing" ; set expect $seq }
    incr expect
    set now $at
    set want [model_apply $op $now]
    if {$want eq "refused"} { incr ::replay_why([lindex $op 0]/[join $model::why ,]) }
    if {$want ne $outcome} {
      lappend problems "seq $seq (writer $writer): $op was $outcome, the model says $want"
    }
  }
  set n [$db onecolumn {SELECT n FROM test_seq}]
  if {$n != $expect - 1} { lappend problems "history: test_seq is $n, test_ops ends at [expr {$expect - 1}]" }
  lappend problems {*}[model::compare $db]
  if {$now == [$db onecolumn {SELECT unixepoch()}]} {
    lappend problems {*}[model::compare_views $db $now]
  }
  return $problems
}

# Every operation a writer saw acknowledged is in the committed history,
# with the outcome it was told.  Returns {count problems}.
proc check_acks {db ackfile writer} {
  set problems {}
  set n 0
  if {![file exists $ackfile]} { return [list 0 {}] }
  set fd [open $ackfile]
  foreach line [split [read $fd] \n] {
    if {$line eq ""} continue
    lassign $line seq outcome
    if {$seq eq "in"} continue        ;# progress inside a transaction
    incr n
    set got [$db eval {SELECT writer, outcome FROM test_ops WHERE seq = $seq}]
    if {$got ne [list $writer $outcome]} {
      lappend problems "writer $writer: acknowledged seq $seq ($outcome) but the database has {$got}"
    }
  }
  close $fd
  list $n $problems
}

# Run the commands (each a list for open |...) as processes; wait until all
# end or SECONDS pass (then kill them).  Returns {pid status output}...
proc run_processes {cmds seconds} {
  global proc_out proc_done
  array unset proc_out; array unset proc_done
  set chans {}
  foreach cmd $cmds {
    set ch [open |[list {*}$cmd 2>@1] r]
    fconfigure $ch -blocking 0
    set proc_out($ch) ""
    set pidof($ch) [pid $ch]
    fileevent $ch readable [list proc_read $ch]
    lappend chans $ch
  }
  set timer [after [expr {$seconds * 1000}] {set ::proc_timeout 1}]
  set ::proc_timeout 0
  while {[array size proc_done] < [llength $chans] && !$::proc_timeout} { vwait proc_event }
  after cancel $timer
  set result {}
  foreach ch $chans {
    set pids $pidof($ch)
    if {![info exists proc_done($ch)]} { catch {exec kill -9 {*}$pids}; set proc_done($ch) timeout }
    lappend result $pids $proc_done($ch) $proc_out($ch)
  }
  return $result
}
proc proc_read {ch} {
  global proc_out proc_done
  append proc_out($ch) [read $ch]
  if {[eof $ch]} {
    fconfigure $ch -blocking 1
    set proc_done($ch) [expr {[catch {close $ch}] ? "failed" : "ok"}]
    set ::proc_event 1
  }
}

# Open FILE as CMD on the test clock, set to the time of the last operation
# in its history (T0 if none), where replay_history compares the views.
proc open_clock_db {cmd file} {
  open_db $cmd "file:$file?vfs=testclock" -uri 1
  set t [$cmd onecolumn {SELECT max(at) FROM test_ops}]
  clockboot eval {SELECT testclock_set(coalesce($t, 1800000000))}
  return $cmd
}
