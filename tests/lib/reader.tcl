# reader.tcl: one reader process of concurrency.test.
#
#   tclsh reader.tcl EXTENSION DBFILE STOPFILE MAXSECONDS
#
# Until STOPFILE appears (or MAXSECONDS pass), calls rpc_max_send() in
# autocommit mode and checks the safety invariant (tests/lib/invariant.tcl)
# in read transactions.  Prints "reader: N checks, M calls, K violations"
# and each violation; exits 1 on any.
package require sqlite3
lassign $argv extension dbfile stopfile maxseconds
source [file join [file dirname [info script]] invariant.tcl]
sqlite3 db $dbfile
db enable_load_extension 1
db eval {SELECT load_extension($extension)}
db timeout 60000
set deadline [expr {[clock milliseconds] + 1000 * $maxseconds}]
array set seen {}
set checks 0
set calls 0
set violations {}
while {![file exists $stopfile] && [clock milliseconds] < $deadline} {
  foreach m {volume backup obj:Volume} {
    db eval {SELECT rpc_max_send($m)}
    incr calls
  }
  foreach p [check_invariant db seen test_pins] { lappend violations $p }
  incr checks
}
db close
puts "reader: $checks checks, $calls calls, [llength $violations] violations"
foreach v [lrange $violations 0 9] { puts "  $v" }
exit [expr {[llength $violations] > 0}]
