# manager.tcl: one manager process of the rolling-upgrade demo.
#
#   tclsh manager.tcl DB EXTENSION NAME STOPFILE VOLUME_HI BACKUP_HI MAXSECONDS
#
# At start-up it registers the two APIs it can receive, 'volume' up to
# VOLUME_HI and 'backup' up to BACKUP_HI, in one write transaction
# (BEGIN IMMEDIATE ... COMMIT).  If rpcver refuses, it prints the rpcver:
# message and exits 3 without having registered anything.  Otherwise it
# prints one line starting with "up" and heartbeats (rpc_heartbeat) every
# 0.5 s until STOPFILE appears, then exits 0.  It does not unregister on
# shutdown: the next version of the manager re-registers under the same
# name, which replaces the range.  It gives up by itself after MAXSECONDS.
#
# Its lines start with the time in seconds since DEMO_T0_MS (unix time in
# milliseconds, from the environment) so they line up with the sender's log.
#
# Exit codes: 0 stopped, 3 refused, 4 lifetime exceeded, 5 registration
# gone (heartbeat returned 0), 6 unexpected SQL error.

package require sqlite3

lassign $argv dbfile extension name stopfile volume backup maxseconds
set started [clock milliseconds]
set deadline [expr {$started + int($maxseconds * 1000)}]

set t0 [expr {[info exists env(DEMO_T0_MS)] ? $env(DEMO_T0_MS) : $started}]

proc say {msg} {
  puts [format {[%6.3fs] %s: %s} \
          [expr {([clock milliseconds] - $::t0) / 1000.0}] $::name $msg]
  flush stdout
}

proc sqlfail {what err} {
  say "unexpected error while $what: $err"
  exit 6
}

sqlite3 db $dbfile
db timeout 5000
db enable_load_extension 1
db eval {SELECT load_extension($extension)}
db enable_load_extension 0

# Registration: both APIs or neither.  `db transaction immediate` runs
# BEGIN IMMEDIATE, the script, then COMMIT (ROLLBACK if the script fails).
if {[catch {
  db transaction immediate {
    set nv [db onecolumn {SELECT rpc_register($name, 'volume', $volume)}]
    set nb [db onecolumn {SELECT rpc_register($name, 'backup', $backup)}]
  }
} err]} {
  if {[string match rpcver:* $err]} {
    say "REFUSED at start-up: $err"
    exit 3
  }
  sqlfail "registering" $err
}
say "up (pid [pid]): volume $volume -> negotiated $nv, backup $backup -> negotiated $nb"

set beats 0
set next_beat [expr {[clock milliseconds] + 500}]
while {![file exists $stopfile]} {
  set now [clock milliseconds]
  if {$now > $deadline} {
    say "lifetime of $maxseconds s exceeded, exiting"
    exit 4
  }
  if {$now >= $next_beat} {
    if {[catch {
      db transaction immediate {
        set ok [db onecolumn {SELECT rpc_heartbeat($name)}]
      }
    } err]} {
      sqlfail "heartbeating" $err
    }
    if {!$ok} {
      say "no longer registered (unregistered or expired), exiting"
      exit 5
    }
    incr beats
    set next_beat [expr {$now + 500}]
  }
  after 50
}
db close
say "stopped after $beats heartbeat(s)"
exit 0
