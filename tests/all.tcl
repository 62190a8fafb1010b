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
  set rc [catch {exec {*}$cmd 2>@1} out]
  puts $out
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
if {[llength $broken]} { puts "files that did not finish: $broken" }
puts "$pass passed, $fail failed"
exit [expr {$fail ? 1 : 0}]
