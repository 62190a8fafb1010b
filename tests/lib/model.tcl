# model.tcl: the negotiation rules, written again in Tcl, independently of
# the extension, from docs/reference.md and docs/in-flight.md, for tests
# that check rpcver against it (random.test, concurrency.test, crash.test).
# Versions are keys (MAJOR<<40|MINOR<<20|PATCH); times are unix seconds,
# an explicit argument NOW of every operation that writes.
#
#   model::reset
#   model::register MANAGER METHOD LO HI NOW  -> 1 admitted / 0 refused
#   model::unregister MANAGER METHOD NOW       (METHOD * : all) -> removed
#   model::register_sender SENDER METHOD LO HI NOW  -> 1 / 0
#   model::unregister_sender SENDER METHOD NOW (METHOD * : all) -> removed
#   model::pin METHOD VERSION NOW             -> 1 / 0
#   model::unpin METHOD NOW
#   model::drain METHOD SECONDS NOW           -> the window in force after it
#                    (METHOD "": the default; SECONDS "": back to the default;
#                    a window creates a method not yet known, "" does not)
#   model::forget METHOD NOW                  -> 1 / 0
#   model::expire MANAGERS SHARE NOW          -> 1 removed / 0 refused (more
#                    than SHARE of some method's receivers, or of its senders)
#   model::heartbeat MANAGER                  -> 1 registered / 0 not
# After a refusal model::why holds its reasons, each one of floor (the
# floor), sending (what senders may send now), drain (the in-flight
# envelope), sender (it would leave a sender nothing to send), pin (below a
# receiver's lo), nothing (a sender that could send nothing), receivers,
# senders (forget with either left; expire taking too many of either).
#
#   model::state METHOD      -> {} unknown, else {receivers max_lo min_hi
#                  newest negotiated pin floor senders min_slo max_slo
#                  min_shi max_shi drain inflight_lo inflight_hi
#                  inflight_until send_lo send_hi}, rpc_methods' columns
#   model::piece SENDER METHOD -> {lo hi}: what the sender may send now, {}
#                               when nothing (or it is not registered)
#   model::sending METHOD    -> {lo hi}: the hull of the senders' pieces, or {}
#   model::in_flight METHOD NOW -> {lo hi} of the envelope while it runs, or {}
#   model::window METHOD     -> the drain window in force
#   model::methods, model::ranges, model::senders (sorted lists)
#   model::compare DB        -> "" when DB holds exactly the model's state
#   model::compare_views DB NOW -> "" when rpc_status, rpc_in_flight,
#                  rpc_drains, rpc_senders and rpc_drain(m) show at NOW what
#                  the model says (status_rows, in_flight_rows, ... NOW)
#   model::key MAJOR MINOR, model::text KEY
#
# The rules, as the documents state them:
#   - A receiver is admitted when its range holds the floor; while the
#     method's window is not 0, everything the registered senders may send
#     now; and while an envelope runs (NOW <= inflight_until), the envelope.
#   - A registered sender may send [max(its lo, every receiver's lo),
#     min(its hi, negotiated)].  No write may leave one with nothing to send
#     while the method has receivers; a sender whose own range reaches
#     nothing every receiver accepts is refused.
#   - An admitted write after which the senders' hull no longer holds what
#     it held before starts (or, while one runs, widens) the envelope: what
#     they could send before, until max(until, NOW + window).  A window of 0
#     records nothing.  A window written while a drain runs extends it to
#     at least NOW + the window; a lowered one never shortens it.
#   - Forget is refused while receivers or senders remain or a drain runs.
namespace eval model {
  variable reg        ;# reg(manager,method) = {lo hi}: receivers
  variable sreg       ;# sreg(sender,method) = {lo hi}: senders
  variable floor
  variable pin
  variable known
  variable own        ;# own(method): the method's own drain window
  variable default    ;# the default window
  variable env        ;# env(method) = {lo hi until}: the last envelope
  variable why {}

  proc reset {} {
    variable reg; variable sreg; variable floor; variable pin; variable known
    variable own; variable env; variable default; variable why
    foreach a {reg sreg floor pin known own env} { array unset $a; array set $a {} }
    changed
    set default 60
    set why {}
  }

  proc key {major minor {patch 0}} { expr {($major << 40) | ($minor << 20) | $patch} }
  proc text {k} {
    if {$k eq ""} { return "" }
    set t "[expr {$k >> 40}].[expr {($k >> 20) & 1048575}]"
    if {$k & 1048575} { append t ".[expr {$k & 1048575}]" }
    return $t
  }
  proc min2 {a b} { expr {$a eq "" ? $b : ($b eq "" ? $a : min($a, $b))} }
  proc max2 {a b} { expr {$a eq "" ? $b : ($b eq "" ? $a : max($a, $b))} }

  # The registrations of METHOD in array ARR, as {name {lo hi}} pairs.  (A
  # name may itself contain a comma: the method is matched exactly.)
  proc rows {arr method} {
    variable $arr
    set out {}
    foreach {k v} [array get $arr "*,$method"] {
      if {[string range $k end-[string length $method] end] eq ",$method"} {
        lappend out [string range $k 0 end-[expr {[string length $method] + 1}]] $v
      }
    }
    return $out
  }
  # rows is called many times for each operation: its answers are kept
  # until a registration changes (changed, after every write of reg or sreg).
  variable rowcache
  proc changed {} { variable rowcache; array unset rowcache }
  rename rows rows_scan
  proc rows {arr method} {
    variable rowcache
    if {![info exists rowcache($arr,$method)]} {
      set rowcache($arr,$method) [rows_scan $arr $method]
    }
    return $rowcache($arr,$method)
  }
  proc receivers {method} { set o {}; foreach {- r} [rows reg $method] { lappend o $r }; return $o }
  proc sender_ranges {method} { set o {}; foreach {- r} [rows sreg $method] { lappend o $r }; return $o }

  # {receivers max_lo min_hi newest negotiated}
  proc aggregate {method} {
    variable pin
    set rs [receivers $method]
    set maxlo ""; set minhi ""; set newest ""
    foreach r $rs {
      lassign $r lo hi
      set maxlo [max2 $maxlo $lo]; set minhi [min2 $minhi $hi]; set newest [max2 $newest $hi]
    }
    set neg ""
    if {[llength $rs]} {
      set c $minhi
      if {[info exists pin($method)] && $pin($method) < $c} { set c $pin($method) }
      if {$c >= $maxlo} { set neg $c }
    }
    list [llength $rs] $maxlo $minhi $newest $neg
  }

  # What a sender of METHOD with range [LO, HI] may send now: {a b} or {}.
  # (AGG: the method's aggregate, when the caller has it already.)
  proc piece_of {method lo hi {agg ""}} {
    if {$agg eq ""} { set agg [aggregate $method] }
    lassign $agg n maxlo - - neg
    if {$n == 0 || $neg eq ""} { return {} }
    set a [max2 $lo $maxlo]; set b [min2 $hi $neg]
    expr {$a <= $b ? [list $a $b] : {}}
  }
  proc piece {sender method} {
    variable sreg
    if {![info exists sreg($sender,$method)]} { return {} }
    piece_of $method {*}$sreg($sender,$method)
  }
  # The hull of what the registered senders may send now.
  proc sending {method} {
    set lo ""; set hi ""
    set agg [aggregate $method]
    foreach r [sender_ranges $method] {
      set p [piece_of $method {*}$r $agg]
      if {$p eq ""} continue
      set lo [min2 $lo [lindex $p 0]]; set hi [max2 $hi [lindex $p 1]]
    }
    expr {$lo eq "" ? {} : [list $lo $hi]}
  }
  # The senders left with nothing to send while the method has receivers.
  proc starved {method} {
    set out {}
    set agg [aggregate $method]
    if {[lindex $agg 0] == 0} { return {} }
    foreach {s r} [rows sreg $method] {
      if {[piece_of $method {*}$r $agg] eq ""} { lappend out $s }
    }
    return $out
  }

  proc window {method} {
    variable own; variable default
    expr {[info exists own($method)] ? $own($method) : $default}
  }
  proc in_flight {method now} {
    variable env
    if {![info exists env($method)]} { return {} }
    lassign $env($method) lo hi until
    expr {$until >= $now ? [list $lo $hi] : {}}
  }

  # The floor rises with negotiated.
  proc rise {method} {
    variable floor
    set neg [lindex [aggregate $method] 4]
    if {$neg ne "" && (![info exists floor($method)] || $neg > $floor($method))} {
      set floor($method) $neg
    }
  }

  # A write changed METHOD: BEFORE is the senders' hull before it.  When
  # they may now send less, what they could send before may be in flight.
  proc narrowed {method before now} {
    variable env
    rise $method
    if {$before eq ""} return
    set after [sending $method]
    if {$after ne "" && [lindex $after 0] <= [lindex $before 0]
        && [lindex $after 1] >= [lindex $before 1]} return
    set w [window $method]
    if {$w == 0} return
    lassign $before lo hi
    set until [expr {$now + $w}]
    if {[set run [in_flight $method $now]] ne ""} {
      set lo [min2 $lo [lindex $run 0]]; set hi [max2 $hi [lindex $run 1]]
      set until [max2 $until [lindex $env($method) 2]]
    }
    set env($method) [list $lo $hi $until]
  }

  # Every registration, pin, window and envelope, to undo a refused write.
  proc save {} {
    set s {}
    foreach a {reg sreg floor pin known own env} { variable $a; lappend s [array get $a] }
    return $s
  }
  proc restore {s} {
    foreach a {reg sreg floor pin known own env} v $s {
      variable $a; array unset $a; array set $a $v
      changed
    }
  }

  proc register {manager method lo hi now} {
    variable reg; variable floor; variable known; variable why
    set why {}
    if {[info exists floor($method)] && !($lo <= $floor($method) && $floor($method) <= $hi)} {
      lappend why floor
    }
    set send [sending $method]
    if {$send ne "" && [window $method] > 0
        && !($lo <= [lindex $send 0] && [lindex $send 1] <= $hi)} {
      lappend why sending
    }
    set run [in_flight $method $now]
    if {$run ne "" && !($lo <= [lindex $run 0] && [lindex $run 1] <= $hi)} {
      lappend why drain
    }
    set saved [save]
    set reg($manager,$method) [list $lo $hi]
    changed
    set known($method) 1
    if {[llength [starved $method]]} { lappend why sender }
    if {[llength $why]} { restore $saved; return 0 }
    narrowed $method $send $now
    return 1
  }

  # Removes NAME's registrations in array ARR (reg: receiving, sreg:
  # sending) for METHOD, or every method for *; each removal is a write of
  # its own for the envelope.  Returns how many went.
  proc remove {arr name method now} {
    variable $arr
    set n 0
    foreach m [methods] {
      if {$method ne "*" && $m ne $method} continue
      if {![info exists ${arr}($name,$m)]} continue
      set send [sending $m]
      unset ${arr}($name,$m)
      changed
      incr n
      narrowed $m $send $now
    }
    return $n
  }
  proc unregister {manager method now} { remove reg $manager $method $now }

  proc register_sender {sender method lo hi now} {
    variable sreg; variable known; variable why
    set why {}
    if {[lindex [aggregate $method] 0] > 0 && [piece_of $method $lo $hi] eq ""} {
      set why nothing
      return 0
    }
    set send [sending $method]
    set sreg($sender,$method) [list $lo $hi]
    changed
    set known($method) 1
    narrowed $method $send $now
    return 1
  }

  proc unregister_sender {sender method now} { remove sreg $sender $method $now }

  proc pin {method v now} {
    variable pin; variable floor; variable known; variable why
    set why {}
    lassign [aggregate $method] n maxlo
    if {$maxlo ne "" && $v < $maxlo} { set why pin; return 0 }
    set saved [save]
    set send [sending $method]
    set pin($method) $v
    if {[llength [starved $method]]} { restore $saved; set why sender; return 0 }
    set known($method) 1
    if {![info exists floor($method)] || $v < $floor($method)} { set floor($method) $v }
    narrowed $method $send $now
    return 1
  }

  proc unpin {method now} {
    variable pin
    set send [sending $method]
    array unset pin $method
    narrowed $method $send $now
  }

  # A window written while a drain runs extends it to at least now + the
  # window in force after the write: messages sent before the change that
  # started it may live that long (the documents say it of a raised window;
  # rpcver also does it when a window is written again or lowered, which
  # never shortens a drain and so keeps their other rule).
  proc extend {method now} {
    variable env
    set w [window $method]
    if {[in_flight $method $now] eq ""} return
    lassign $env($method) lo hi until
    if {$until < $now + $w} { set env($method) [list $lo $hi [expr {$now + $w}]] }
  }
  proc drain {method seconds now} {
    variable own; variable default; variable known
    if {$method eq ""} {
      set default $seconds
      foreach m [methods] { if {![info exists own($m)]} { extend $m $now } }
      return $default
    }
    if {$seconds ne ""} {
      set known($method) 1
      set own($method) $seconds
      extend $method $now
    } elseif {[info exists own($method)]} {
      unset own($method)
      extend $method $now
    }
    return [window $method]
  }

  proc forget {method now} {
    variable floor; variable pin; variable known; variable own; variable env; variable why
    set why {}
    if {![info exists known($method)]} { return 1 }
    if {[llength [receivers $method]]} { lappend why receivers }
    if {[llength [sender_ranges $method]]} { lappend why senders }
    if {[in_flight $method $now] ne ""} { lappend why drain }
    if {[llength $why]} { return 0 }
    foreach a {floor pin known own env} { array unset $a $method }
    return 1
  }

  # Unregister MANAGERS (the stale ones), as receivers and as senders,
  # unless that takes more than SHARE (0..1) of some method's receivers or
  # of its registered senders: then nothing changes.  Each removal is a
  # write of its own for the envelope: the senders' registrations go first,
  # then the receivers', each in the order of the names (rpcver's two DELETE
  # statements; SQLite visits the stale names in that order).  Removing a
  # sender only narrows what the senders may send, and removing a receiver
  # only widens it unless it is the method's last: so with SHARE below 1
  # (which never takes a method's last receiver) the envelope is what the
  # senders could send before the expiry, as the documents say.  With SHARE
  # 1, a method losing all its receivers records what they could send just
  # before the last one left, the others gone: wider than before the expiry
  # (refusing more, never less); rpcver does the same, and the model
  # follows it there (senders.test 6.7 has the case SHARE below 1 fixed).
  proc expire {managers share now} {
    variable reg; variable sreg; variable why
    set why {}
    array set taken {}
    array set staken {}
    foreach g $managers {
      foreach m [methods] {
        if {[info exists reg($g,$m)]} { incr taken($m) }
        if {[info exists sreg($g,$m)]} { incr staken($m) }
      }
    }
    foreach m [array names taken] {
      if {$taken($m) > $share * [llength [receivers $m]]} { lappend why receivers }
    }
    foreach m [array names staken] {
      if {$staken($m) > $share * [llength [sender_ranges $m]]} { lappend why senders }
    }
    if {[llength $why]} { return 0 }
    foreach arr {sreg reg} {
      foreach g [lsort -unique $managers] {
        foreach m [methods] {
          if {![info exists ${arr}($g,$m)]} continue
          set send [sending $m]
          unset ${arr}($g,$m)
          changed
          narrowed $m $send $now
        }
      }
    }
    return 1
  }

  proc heartbeat {manager} {
    variable reg; variable sreg
    foreach m [methods] {
      if {[info exists reg($manager,$m)] || [info exists sreg($manager,$m)]} { return 1 }
    }
    return 0
  }

  proc state {method} {
    variable known; variable pin; variable floor; variable own; variable env
    if {![info exists known($method)]} { return {} }
    set p ""; set f ""; set d ""
    if {[info exists pin($method)]} { set p $pin($method) }
    if {[info exists floor($method)]} { set f $floor($method) }
    if {[info exists own($method)]} { set d $own($method) }
    set ss [sender_ranges $method]
    set minslo ""; set maxslo ""; set minshi ""; set maxshi ""
    foreach r $ss {
      lassign $r lo hi
      set minslo [min2 $minslo $lo]; set maxslo [max2 $maxslo $lo]
      set minshi [min2 $minshi $hi]; set maxshi [max2 $maxshi $hi]
    }
    set e {{} {} {}}
    if {[info exists env($method)]} { set e $env($method) }
    set send [sending $method]
    if {$send eq ""} { set send {{} {}} }
    list {*}[aggregate $method] $p $f [llength $ss] $minslo $maxslo $minshi $maxshi \
        $d {*}$e {*}$send
  }

  proc methods {} { variable known; lsort [array names known] }

  proc listing {arr} {
    set out {}
    foreach m [methods] {
      foreach {g r} [rows $arr $m] { lappend out [list $g $m {*}$r] }
    }
    lsort $out
  }
  proc ranges {} { listing reg }
  proc senders {} { listing sreg }

  # The rows the documented views show at time NOW, from the model alone
  # (docs/reference.md): rpc_status, rpc_in_flight, rpc_drains, rpc_senders.
  proc drain_left {method now} {
    variable env
    if {[in_flight $method $now] eq ""} { return 0 }
    expr {[lindex $env($method) 2] - $now + 1}
  }
  proc status_rows {now} {
    variable pin; variable floor
    set out {}
    foreach m [methods] {
      lassign [aggregate $m] n - minhi newest neg
      set p [expr {[info exists pin($m)] ? $pin($m) : ""}]
      set f [expr {[info exists floor($m)] ? $floor($m) : ""}]
      if {$n == 0} { set st empty } elseif {$neg eq ""} { set st blocked } \
        elseif {$p ne ""} { set st pinned } elseif {$minhi < $newest} { set st upgrading } \
        else { set st steady }
      lappend out [list $m $n [text $neg] [text $newest] [text $p] [text $f] $st \
          [llength [sender_ranges $m]] [drain_left $m $now]]
    }
    return $out
  }
  proc in_flight_rows {now} {
    set out {}
    foreach m [methods] {
      set ns [llength [sender_ranges $m]]
      set run [in_flight $m $now]
      if {$ns == 0 && $run eq ""} continue
      lassign [sending $m] slo shi
      lassign $run ilo ihi
      lappend out [list $m $ns [text $slo] [text $shi] [text $ilo] [text $ihi] \
          [drain_left $m $now] [window $m]]
    }
    return $out
  }
  proc drains_rows {} {
    variable own
    set out {}
    foreach m [methods] { lappend out [list $m [window $m] [info exists own($m)]] }
    return $out
  }
  proc senders_rows {} {
    set out {}
    foreach row [senders] {
      lassign $row s m lo hi
      lappend out [list $s $m [text $lo] [text $hi]]
    }
    return $out
  }
  proc db_rows {db sql} {
    set out {}
    $db eval $sql r {
      set row {}
      foreach c $r(*) { lappend row $r($c) }
      lappend out $row
    }
    return $out
  }
  # "" when the views of DB show at time NOW what the model says they show.
  proc compare_views {db now} {
    set problems {}
    foreach {name got want} [list \
        rpc_status [db_rows $db {SELECT * FROM rpc_status ORDER BY method}] [status_rows $now] \
        rpc_in_flight [db_rows $db {SELECT * FROM rpc_in_flight ORDER BY method}] [in_flight_rows $now] \
        rpc_drains [db_rows $db {SELECT * FROM rpc_drains ORDER BY method}] [drains_rows] \
        rpc_senders [lsort [db_rows $db {SELECT sender, method, lo, hi FROM rpc_senders}]] [senders_rows]] {
      if {$got ne $want} { lappend problems "$name: db {$got} model {$want}" }
    }
    foreach m [methods] {
      set got [$db onecolumn {SELECT rpc_drain($m)}]
      if {$got ne [window $m]} { lappend problems "rpc_drain('$m') = $got, model [window $m]" }
    }
    return $problems
  }

  # The same views of the database, for comparison.
  proc db_state {db method} {
    $db eval {SELECT receivers, max_lo, min_hi, newest, negotiated, pin, floor,
                     senders, min_slo, max_slo, min_shi, max_shi, drain,
                     inflight_lo, inflight_hi, inflight_until, send_lo, send_hi
                FROM rpc_methods WHERE method = $method}
  }
  proc db_listing {db table who} {
    set out {}
    $db eval "SELECT $who AS g, method, lo, hi FROM $table" {
      lappend out [list $g $method $lo $hi]
    }
    lsort $out
  }
  # "" when the database and the model agree, else what differs.
  proc compare {db} {
    variable default
    set problems {}
    set dbMethods [$db eval {SELECT method FROM rpc_methods ORDER BY method}]
    if {$dbMethods ne [methods]} { lappend problems "methods: db {$dbMethods} model {[methods]}" }
    foreach m [methods] {
      set got [db_state $db $m]
      set want [state $m]
      if {[list {*}$got] ne [list {*}$want]} { lappend problems "method $m: db {$got} model {$want}" }
    }
    set got [db_listing $db rpc_ranges manager]
    if {$got ne [ranges]} { lappend problems "ranges: db {$got} model {[ranges]}" }
    set got [db_listing $db rpc_sender_ranges sender]
    if {$got ne [senders]} { lappend problems "senders: db {$got} model {[senders]}" }
    set got [$db onecolumn {SELECT rpc_drain(NULL)}]
    if {$got ne $default} { lappend problems "default window: db $got model $default" }
    return $problems
  }
}
model::reset
