# sender.tcl: the sender process of the rolling-upgrade demo.
#
#   tclsh sender.tcl DB EXTENSION STATEFILE STOPFILE MAXSECONDS VOLUME_HI BACKUP_HI
#
# It registers as a sender of both APIs, up to the versions its code can
# send (rpc_register_sender: from then on no receiver is admitted that would
# leave it nothing to send, and what it sent stays deliverable for the drain
# window), heartbeats every 0.5 s, and unregisters when it stops.
#
# Every 50 ms it asks, as a sender would before each RPC, which version of
# each API it may send: rpc_max_send('volume', VOLUME_HI) and
# rpc_max_send('backup', BACKUP_HI).  It prints a line per API at start and
# a line each time an answer changes, with the seconds since DEMO_T0_MS
# (unix milliseconds, from the environment, as the managers do):
#
#   [ 1.234s] volume: sends 3.17 (was 3.16)
#
# After every poll it replaces STATEFILE with "POLLS VOLUME BACKUP" ("-" for
# no version), so the demo can read what it sends right now.  It stops when
# STOPFILE appears (exit 0, last line "sender: stopped ..."), or by itself
# after MAXSECONDS (exit 4).  A refused registration exits 3.

package require sqlite3

lassign $argv dbfile extension statefile stopfile maxseconds volume_hi backup_hi
set started [clock milliseconds]
set deadline [expr {$started + int($maxseconds * 1000)}]
set t0 [expr {[info exists env(DEMO_T0_MS)] ? $env(DEMO_T0_MS) : $started}]

sqlite3 db $dbfile
db timeout 5000
db enable_load_extension 1
db eval {SELECT load_extension($extension)}
db enable_load_extension 0

proc show {v} { expr {$v eq "" ? "-" : $v} }
proc stamp {} {
  format {[%6.3fs]} [expr {([clock milliseconds] - $::t0) / 1000.0}]
}

if {[catch {
  db transaction immediate {
    set v [db onecolumn {SELECT rpc_register_sender('sender', 'volume', $volume_hi)}]
    set b [db onecolumn {SELECT rpc_register_sender('sender', 'backup', $backup_hi)}]
  }
} err]} {
  puts "[stamp] sender: REFUSED at start-up: $err"
  exit 3
}
puts "[stamp] sender: registered to send volume up to $volume_hi, backup up to $backup_hi"

array set last {volume {} backup {}}
set polls 0
while {![file exists $stopfile]} {
  set now [clock milliseconds]
  if {$now > $deadline} {
    puts "sender: lifetime of $maxseconds s exceeded, exiting"
    exit 4
  }
  if {[catch {
    # A write, so BEGIN IMMEDIATE: a write inside an autocommit SELECT
    # takes its read snapshot first, and if another process commits before
    # it asks for the write lock, SQLite answers "database is locked" at
    # once, busy timeout or not (docs/concurrency.md).
    if {$polls % 10 == 9} {
      db transaction immediate { db eval {SELECT rpc_heartbeat('sender')} }
    }
    db eval {SELECT rpc_max_send('volume', $volume_hi) AS v,
                    rpc_max_send('backup', $backup_hi) AS b} {
      set cur(volume) $v
      set cur(backup) $b
    }
  } err]} {
    puts "sender: unexpected error: $err"
    exit 6
  }
  incr polls
  set t [stamp]
  foreach api {volume backup} {
    if {$polls == 1} {
      puts "$t $api: sends [show $cur($api)]"
    } elseif {$cur($api) ne $last($api)} {
      puts "$t $api: sends [show $cur($api)] (was [show $last($api)])"
    }
    set last($api) $cur($api)
  }
  flush stdout
  set f [open $statefile.tmp w]
  puts $f "$polls [show $cur(volume)] [show $cur(backup)]"
  close $f
  file rename -force $statefile.tmp $statefile
  after 50
}
db transaction immediate { db eval {SELECT rpc_unregister_sender('sender')} }
db close
puts [format {[%6.3fs] sender: stopped after %d polls} \
        [expr {([clock milliseconds] - $t0) / 1000.0}] $polls]
exit 0
