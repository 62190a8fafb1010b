# Run every tests/*.test in its own tclsh process and print the totals.
# The last line is "N passed, N failed"; the exit status is 1 on any failure.
set testdir [file dirname [file normalize [info script]]]
set pass 0
set fail 0
set broken {}
foreach f [lsort [glob [file join $testdir *.test]]] {
  # make test-asan / test-valgrind: the test process itself loads rpcver
  set cmd [list tclsh $f]
  if {[info exists env(RPCVER_VALGRIND)] && $env(RPCVER_VALGRIND) ne ""} {
    set cmd [list {*}$env(RPCVER_VALGRIND) {*}$cmd]
  }
  if {[info exists env(RPCVER_PRELOAD)] && $env(RPCVER_PRELOAD) ne ""} {
    set cmd [list env LD_PRELOAD=$env(RPCVER_PRELOAD) {*}$cmd]
  }
  set t0 [clock milliseconds]
  set rc [catch {exec {*}$cmd 2>@1} out]
  puts $out
  puts [format "(%s: %.1f s)" [file tail $f] [expr {([clock milliseconds] - $t0) / 1000.0}]]
  if {[regexp {(\d+) passed, (\d+) failed\s*$} $out -> p n]} {
    incr pass $p
    incr fail $n
    if {$rc && $n == 0} { lappend broken [file tail $f]; incr fail }
  } else {
    # A file that died before its summary counts as one failure.
    puts "! [file tail $f] ended without a summary"
    lappend broken [file tail $f]
    incr fail
  }
}
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
