# Run every tests/*.test in its own tclsh process and print the totals.
# The last line is "N passed, N failed"; the exit status is 1 on any failure.
set testdir [file dirname [file normalize [info script]]]
set pass 0
set fail 0
set broken {}

# RPCVER_JOBS files run at once (the Makefile passes the number of cores),
# each in its own tclsh; a file's output is printed whole when it ends, so
# files never interleave.  Files whose checks race a clock or a kill (servers
# with timeouts, writers killed at random moments, busy timeouts, a browser)
# run alone, after the others, so that another file's load cannot change
# what they see.  Every file works in its own names under tests/tmp and on
# ports it picks free, so the rest may share the machine.
set alone {cluster concurrency crash demo metrics oslo timeline tls wire}
set jobs 1
if {[info exists env(RPCVER_JOBS)] && [string is integer -strict $env(RPCVER_JOBS)]
    && $env(RPCVER_JOBS) > 0} {
  set jobs $env(RPCVER_JOBS)
}

proc file_cmd {f} {
  global env
  # make test-asan / test-valgrind: the test process itself loads rpcver
  set cmd [list tclsh $f]
  if {[info exists env(RPCVER_VALGRIND)] && $env(RPCVER_VALGRIND) ne ""} {
    set cmd [list {*}$env(RPCVER_VALGRIND) {*}$cmd]
  }
  if {[info exists env(RPCVER_PRELOAD)] && $env(RPCVER_PRELOAD) ne ""} {
    set cmd [list env LD_PRELOAD=$env(RPCVER_PRELOAD) {*}$cmd]
  }
  return $cmd
}
# Start a file; its output gathers in out($ch) until end_file counts it.
proc start_file {f} {
  global out name t0 running fail broken
  if {[catch {open |[list {*}[file_cmd $f] 2>@1] r} ch]} {
    puts "! [file tail $f] did not start: $ch"
    lappend broken [file tail $f]
    incr fail
    return
  }
  fconfigure $ch -blocking 0
  set out($ch) ""
  set name($ch) [file tail $f]
  set t0($ch) [clock milliseconds]
  fileevent $ch readable [list read_file $ch]
  incr running
}
proc read_file {ch} {
  global out
  append out($ch) [read $ch]
  if {[eof $ch]} { end_file $ch }
}
proc end_file {ch} {
  global out name t0 running pass fail broken
  fconfigure $ch -blocking 1
  set rc [catch {close $ch}]
  set text [string trimright $out($ch) \n]
  set f $name($ch)
  puts $text
  puts [format "(%s: %.1f s)" $f [expr {([clock milliseconds] - $t0($ch)) / 1000.0}]]
  if {[regexp {(\d+) passed, (\d+) failed\s*$} $text -> p n]} {
    incr pass $p
    incr fail $n
    if {$rc && $n == 0} { lappend broken $f; incr fail }
  } else {
    # A file that died before its summary counts as one failure.
    puts "! $f ended without a summary"
    lappend broken $f
    incr fail
  }
  flush stdout
  unset out($ch) name($ch) t0($ch)
  incr running -1
}
# Run the files, at most $n at a time, and wait for the last.
proc run_files {files n} {
  global running
  foreach f $files {
    while {$running >= $n} { vwait running }
    start_file $f
  }
  while {$running > 0} { vwait running }
}

set running 0
set shared {}
set serial {}
foreach f [lsort [glob [file join $testdir *.test]]] {
  if {[file rootname [file tail $f]] in $alone} {
    lappend serial $f
  } else {
    lappend shared $f
  }
}
# the longest first, so that the pool ends together: cli.test takes a
# third of the valgrind run
set first [lsearch -all -inline $shared */cli.test]
set shared [list {*}$first {*}[lsearch -all -inline -not $shared */cli.test]]
run_files $shared $jobs
run_files $serial 1

# The bindings' own suites, run by their own runners: Python's unittest
# (Debian's python3, which can load extensions) and Node's test runner.
# Their counts join the total.  Sanitizer and valgrind runs skip them (the
# runtimes of Python and Node are not what those runs examine) and say so.
proc run_suite {name dir cmd} {
  global pass fail broken env
  if {([info exists env(RPCVER_PRELOAD)] && $env(RPCVER_PRELOAD) ne "")
      || ([info exists env(RPCVER_VALGRIND)] && $env(RPCVER_VALGRIND) ne "")} {
    puts "$name: not run here (make test runs it)"
    return
  }
  set rc [catch {exec sh -c "cd '$dir' && $cmd" 2>@1} out]
  set p 0; set n 0
  if {$name eq "python"} {
    # unittest: "Ran N tests", then OK or FAILED (failures=F, errors=E)
    regexp {Ran (\d+) tests?} $out -> p
    foreach {- x} [regexp -all -inline {(?:failures|errors)=(\d+)} $out] { incr n $x }
    set p [expr {$p - $n}]
  } else {
    # node --test: "# pass N", "# fail N"
    regexp {# pass (\d+)} $out -> p
    regexp {# fail (\d+)} $out -> n
  }
  if {$rc && $n == 0} { set n 1 }
  if {$n} { puts $out; lappend broken $name }
  puts "$name: $p passed, $n failed"
  incr pass $p
  incr fail $n
}
set root [file dirname $testdir]
run_suite python [file join $root bindings python] {/usr/bin/python3 -m unittest}
run_suite node [file join $root bindings node] {node --test}

if {[llength $broken]} { puts "files that did not finish: $broken" }
puts "$pass passed, $fail failed"
exit [expr {$fail ? 1 : 0}]
