# model.tcl: the negotiation rules, written again in Tcl, independently of
# the extension, for tests that check rpcver against it (random.test,
# concurrency.test, crash.test).  Versions are keys (MAJOR<<40|MINOR<<20|PATCH).
#
#   model::reset
#   model::register MANAGER METHOD LO HI -> 1 admitted / 0 refused
#   model::unregister MANAGER ?METHOD?
#   model::pin METHOD VERSION            -> 1 / 0 (below some receiver's lo)
#   model::unpin METHOD
#   model::forget METHOD                 -> 1 / 0 (receivers remain)
#   model::expire MANAGERS SHARE         -> 1 removed / 0 refused (more than
#                                           SHARE of some method's receivers)
#   model::heartbeat MANAGER             -> 1 registered / 0 not
#   model::state METHOD                  -> {} unknown, else
#                  {receivers max_lo min_hi newest negotiated pin floor}
#   model::methods                       -> the known methods
#   model::ranges                        -> sorted {manager method lo hi ...}
#   model::key MAJOR MINOR, model::text KEY
namespace eval model {
  variable reg        ;# reg(manager,method) = {lo hi}
  variable floor
  variable pin
  variable known

  proc reset {} {
    variable reg; variable floor; variable pin; variable known
    array unset reg; array unset floor; array unset pin; array unset known
    array set reg {}; array set floor {}; array set pin {}; array set known {}
  }

  proc key {major minor {patch 0}} { expr {($major << 40) | ($minor << 20) | $patch} }
  proc text {k} {
    if {$k eq ""} { return "" }
    set t "[expr {$k >> 40}].[expr {($k >> 20) & 1048575}]"
    if {$k & 1048575} { append t ".[expr {$k & 1048575}]" }
    return $t
  }

  proc receivers {method} {
    variable reg
    set out {}
    foreach {k v} [array get reg "*,$method"] {
      # (a manager name may itself contain a comma: match the method exactly)
      if {[string range $k end-[string length $method] end] eq ",$method"} { lappend out $v }
    }
    return $out
  }

  # {receivers max_lo min_hi newest negotiated}
  proc aggregate {method} {
    variable pin
    set rs [receivers $method]
    set maxlo ""; set minhi ""; set newest ""
    foreach r $rs {
      lassign $r lo hi
      if {$maxlo eq "" || $lo > $maxlo} { set maxlo $lo }
      if {$minhi eq "" || $hi < $minhi} { set minhi $hi }
      if {$newest eq "" || $hi > $newest} { set newest $hi }
    }
    set neg ""
    if {[llength $rs]} {
      set c $minhi
      if {[info exists pin($method)] && $pin($method) < $c} { set c $pin($method) }
      if {$c >= $maxlo} { set neg $c }
    }
    list [llength $rs] $maxlo $minhi $newest $neg
  }

  # The floor rises with negotiated.
  proc rise {method} {
    variable floor
    set neg [lindex [aggregate $method] 4]
    if {$neg ne "" && (![info exists floor($method)] || $neg > $floor($method))} {
      set floor($method) $neg
    }
  }
  proc rise_all {} { foreach m [methods] { rise $m } }

  proc register {manager method lo hi} {
    variable reg; variable floor; variable known
    if {[info exists floor($method)] && !($lo <= $floor($method) && $floor($method) <= $hi)} {
      return 0
    }
    set reg($manager,$method) [list $lo $hi]
    set known($method) 1
    rise $method
    return 1
  }

  proc unregister {manager {method *}} {
    variable reg
    set n [llength [array names reg "$manager,$method"]]
    array unset reg "$manager,$method"
    rise_all
    return $n
  }

  proc pin {method v} {
    variable pin; variable floor; variable known
    set maxlo [lindex [aggregate $method] 1]
    if {$maxlo ne "" && $v < $maxlo} { return 0 }
    set pin($method) $v
    set known($method) 1
    if {![info exists floor($method)] || $v < $floor($method)} { set floor($method) $v }
    rise $method
    return 1
  }

  proc unpin {method} {
    variable pin
    array unset pin $method
    rise $method
  }

  proc forget {method} {
    variable floor; variable pin; variable known
    if {[llength [receivers $method]]} { return 0 }
    array unset floor $method; array unset pin $method; array unset known $method
    return 1
  }

  # Unregister MANAGERS (the stale ones), unless that takes more than SHARE
  # (0..1) of some method's receivers: then nothing changes.
  proc expire {managers share} {
    variable reg
    array set taken {}
    foreach g $managers {
      foreach k [array names reg "$g,*"] {
        set m [string range $k [string length "$g,"] end]
        incr taken($m)
      }
    }
    foreach m [array names taken] {
      if {$taken($m) > $share * [llength [receivers $m]]} { return 0 }
    }
    foreach g $managers { unregister $g }
    return 1
  }

  proc heartbeat {manager} {
    variable reg
    expr {[llength [array names reg "$manager,*"]] > 0}
  }

  proc state {method} {
    variable known; variable pin; variable floor
    if {![info exists known($method)]} { return {} }
    set p ""; set f ""
    if {[info exists pin($method)]} { set p $pin($method) }
    if {[info exists floor($method)]} { set f $floor($method) }
    list {*}[aggregate $method] $p $f
  }

  proc methods {} { variable known; lsort [array names known] }

  proc ranges {} {
    variable reg
    set out {}
    foreach k [lsort [array names reg]] {
      lassign [split $k ,] g m
      lappend out [list $g $m {*}$reg($k)]
    }
    return $out
  }

  # The same views of the database, for comparison.
  proc db_state {db method} {
    $db eval {SELECT receivers, max_lo, min_hi, newest, negotiated, pin, floor
                FROM rpc_methods WHERE method = $method}
  }
  proc db_ranges {db} {
    set out {}
    $db eval {SELECT manager, method, lo, hi FROM rpc_ranges ORDER BY manager || ',' || method} {
      lappend out [list $manager $method $lo $hi]
    }
    return $out
  }
  # "" when the database and the model agree, else what differs.
  proc compare {db} {
    set problems {}
    set dbMethods [$db eval {SELECT method FROM rpc_methods ORDER BY method}]
    if {$dbMethods ne [methods]} { lappend problems "methods: db {$dbMethods} model {[methods]}" }
    foreach m [methods] {
      set got [db_state $db $m]
      set want [state $m]
      if {[list {*}$got] ne [list {*}$want]} { lappend problems "method $m: db {$got} model {$want}" }
    }
    set got [db_ranges $db]
    set want [ranges]
    if {$got ne $want} { lappend problems "ranges: db {$got} model {$want}" }
    return $problems
  }
}
model::reset
