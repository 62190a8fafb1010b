# tester.tcl: a small look-alike of SQLite's test/tester.tcl for Debian's
# tclsh + libsqlite3-tcl (the real one needs SQLite's testfixture binary).
#
#   do_test NAME SCRIPT EXPECTED          result of SCRIPT eq EXPECTED
#   do_execsql_test NAME SQL EXPECTED     rows of SQL (as a flat list)
#   do_catchsql_test NAME SQL EXPECTED    {0 rows} or {1 message}
#   finish_test                           "N passed, N failed"; exit 1 on failure
#
# Case names are "$testprefix-NAME", so a failure names one case.

package require sqlite3

set ::testdir [file dirname [file normalize [info script]]]
set ::rootdir [file dirname $::testdir]
# RPCVER_EXTENSION selects another build (the sanitizer build, say).
set ::extension [file join $::rootdir rpcver]
if {[info exists ::env(RPCVER_EXTENSION)]} { set ::extension $::env(RPCVER_EXTENSION) }
set ::tmpdir [file join $::testdir tmp]

# Sanitizer and valgrind runs (make test-asan, make test-valgrind).  Only
# processes that load rpcver get the ASan runtime (RPCVER_PRELOAD) or run
# under valgrind (RPCVER_VALGRIND); other tools the tests run (cc, ...) do
# not, so their own leaks cannot make noise.  ext_cmd prefixes a command
# that loads the extension accordingly.
set ::preload [expr {[info exists ::env(RPCVER_PRELOAD)] ? $::env(RPCVER_PRELOAD) : ""}]
set ::valgrind [expr {[info exists ::env(RPCVER_VALGRIND)] ? $::env(RPCVER_VALGRIND) : ""}]
catch {unset ::env(LD_PRELOAD)}
proc ext_cmd {args} {
  set novalgrind [expr {[lindex $args 0] eq "-novalgrind"}]
  if {$novalgrind} { set args [lrange $args 1 end] }
  if {$::valgrind ne "" && !$novalgrind} { set args [list {*}$::valgrind {*}$args] }
  if {$::preload ne ""} { set args [list env LD_PRELOAD=$::preload {*}$args] }
  return $args
}
file mkdir $::tmpdir
set ::nPass 0
set ::nFail 0
set ::failed {}
if {![info exists ::testprefix]} { set ::testprefix [file rootname [file tail [info script]]] }

# The first of N consecutive free TCP ports on 127.0.0.1, picked at random in
# 20000-28999 (so that two checkouts can run the suite at once).
proc port_free {port} {
  if {[catch {socket -server {apply {{args} {}}} -myaddr 127.0.0.1 $port} s]} { return 0 }
  close $s
  return 1
}
proc free_ports {n} {
  for {set try 0} {$try < 100} {incr try} {
    set base [expr {20000 + $n * int(rand() * (9000 / $n))}]
    set ok 1
    for {set i 0} {$i < $n} {incr i} {
      if {![port_free [expr {$base + $i}]]} { set ok 0; break }
    }
    if {$ok} { return $base }
  }
  error "no $n free consecutive ports in 20000-28999"
}

# Open connection CMD on FILE with rpcver loaded.
proc open_db {cmd file args} {
  sqlite3 $cmd $file {*}$args
  $cmd enable_load_extension 1
  $cmd eval {SELECT load_extension($::extension)}
  $cmd enable_load_extension 0
  $cmd timeout 10000
  return $cmd
}

# A test database path in tests/tmp, removed first with its WAL files.
proc testfile {name} {
  set path [file join $::tmpdir "$::testprefix-$name"]
  foreach suffix {"" -wal -shm -journal} { file delete -force $path$suffix }
  return $path
}

# The test clock (tests/c/testclock.c): built for this file under its own
# name (files run side by side: tests/all.tcl; a library rebuilt under a
# name another file is loading can be missing or half written), and loaded
# into this process by `clockboot`, which stays open so that the VFS
# "testclock" stays registered.  Returns the library's path (writer.tcl's
# CLOCK argument).
proc testclock_build {} {
  # (a directory of its own: SQLite names the entry point after the file)
  set dir [file join $::tmpdir "$::testprefix-clock"]
  set so [file join $dir testclock.so]
  if {[info commands clockboot] eq ""} {
    file mkdir $dir
    exec cc -std=c11 -Wall -Wextra -Werror -fPIC -shared -o $so \
        [file join $::testdir c testclock.c]
    sqlite3 clockboot :memory:
    clockboot enable_load_extension 1
    clockboot eval {SELECT load_extension($so)}
  }
  return $so
}

# Close `db` if open and open a fresh, empty database as `db`.
proc reset_db {{name test.db}} {
  catch {db close}
  open_db db [testfile $name]
}

proc execsql {sql {cmd db}} { uplevel [list $cmd eval $sql] }

proc catchsql {sql {cmd db}} {
  set rc [catch {uplevel [list $cmd eval $sql]} msg]
  list $rc $msg
}

proc do_test {name script expected} {
  set full "$::testprefix-$name"
  set rc [catch {uplevel 1 $script} result]
  if {$rc == 1} { set result "TCL ERROR: $result" }
  # Compare as lists, like SQLite's harness; a result that is not a list
  # (an error message with stray quotes) is compared as a string.
  if {[catch {list {*}$result} r]} { set r $result }
  if {[catch {list {*}$expected} e]} { set e $expected }
  if {$r eq $e} {
    incr ::nPass
  } else {
    incr ::nFail
    lappend ::failed $full
    puts "! $full failed"
    puts "!   expected: \[$e\]"
    puts "!   got:      \[$r\]"
  }
}

proc do_execsql_test {name sql expected} {
  uplevel 1 [list do_test $name [list execsql $sql] $expected]
}

proc do_catchsql_test {name sql expected} {
  uplevel 1 [list do_test $name [list catchsql $sql] $expected]
}

# Run SCRIPT as a separate tclsh process (for tests across processes).
proc run_tclsh {script} {
  set f [file join $::tmpdir "$::testprefix-child.tcl"]
  set fd [open $f w]
  puts $fd "package require sqlite3"
  puts $fd "set ::extension [list $::extension]"
  puts $fd $script
  close $fd
  exec {*}[ext_cmd tclsh $f]
}

proc finish_test {} {
  catch {db close}
  if {$::nFail} { puts "failed: $::failed" }
  puts "$::testprefix: $::nPass passed, $::nFail failed"
  exit [expr {$::nFail ? 1 : 0}]
}
