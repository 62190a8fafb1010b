# invariant.tcl: the safety invariant, checked against what one read
# transaction sees.  For every method m:
#   - rpc_max_send(m), when not NULL, lies inside the range of every
#     registered receiver of m, and equals the stored negotiated version;
#   - the floor never decreases, except through a pin: a lower floor than
#     last observed needs a pin recorded since then (in PINLOG, a table of
#     (seq, method, version) written in the pin's own transaction), at or
#     below the new floor;
#   - every registered sender of a method with receivers has something to
#     send: rpc_max_send(m, its hi, its lo) is not NULL, lies in its own
#     range and inside the range of every receiver (docs/in-flight.md: no
#     write leaves a sender with nothing to send);
#   - rpc_verify() is 'ok'.
#
#   check_invariant DB STATEVAR ?PINLOG?  -> list of violations ({} when all hold)
#   check_invariant_here DB STATEVAR ?PINLOG? ?VERIFY?  the same, in the
#                   transaction DB has open (a writer's, before its COMMIT);
#                   VERIFY 0 leaves out rpc_verify(), a full audit too slow
#                   to run while holding the write lock at every commit
# STATEVAR names an array the caller keeps between calls (the floors seen).
proc check_invariant {db stateVar {pinlog ""}} {
  upvar $stateVar seen
  $db transaction { set problems [check_invariant_here $db seen $pinlog] }
  return $problems
}
proc check_invariant_here {db stateVar {pinlog ""} {verify 1}} {
  upvar $stateVar seen
  set problems {}
  $db eval {SELECT method, floor, rpc_max_send(method) AS v, negotiated
              FROM rpc_methods} row {
    set m $row(method)
    if {$row(v) ne ""} {
      set row(k) [$db onecolumn {SELECT rpc_version_key($row(v))}]
      set outside [$db onecolumn {
        SELECT group_concat(manager) FROM rpc_ranges
         WHERE method = $m AND NOT (lo <= $row(k) AND $row(k) <= hi)}]
      if {$outside ne ""} {
        lappend problems "method $m: rpc_max_send = $row(v) is outside the range of $outside"
      }
      if {$row(k) != $row(negotiated)} {
        lappend problems "method $m: rpc_max_send = $row(v) but negotiated is $row(negotiated)"
      }
    }
    if {[info exists seen(floor,$m)] && $row(floor) ne "" && $seen(floor,$m) ne ""
        && $row(floor) < $seen(floor,$m)} {
      set pinned 0
      if {$pinlog ne ""} {
        set since [expr {[info exists seen(pinseq)] ? $seen(pinseq) : 0}]
        set pinned [$db onecolumn "SELECT count(*) FROM $pinlog
            WHERE seq > \$since AND method = \$m AND version <= \$row(floor)"]
      }
      if {!$pinned} {
        lappend problems "method $m: floor fell from $seen(floor,$m) to $row(floor) without a pin"
      }
    }
    set seen(floor,$m) $row(floor)
  }
  $db eval {SELECT s.sender, s.method AS sm, s.lo AS slo, s.hi AS shi,
                   rpc_max_send(s.method, rpcver_text(s.hi), rpcver_text(s.lo)) AS cap
              FROM rpc_sender_ranges AS s
             WHERE EXISTS (SELECT 1 FROM rpc_ranges AS r WHERE r.method = s.method)} {
    if {$cap eq ""} {
      lappend problems "method $sm: registered sender $sender has nothing to send"
      continue
    }
    set k [$db onecolumn {SELECT rpc_version_key($cap)}]
    set outside [$db onecolumn {
      SELECT group_concat(manager) FROM rpc_ranges
       WHERE method = $sm AND NOT (lo <= $k AND $k <= hi)}]
    if {$outside ne "" || $k < $slo || $k > $shi} {
      lappend problems "method $sm: sender $sender's cap $cap is outside its range or that of {$outside}"
    }
  }
  if {$pinlog ne ""} {
    set seen(pinseq) [$db onecolumn "SELECT coalesce(max(seq), 0) FROM $pinlog"]
  }
  if {$verify} {
    set v [$db onecolumn {SELECT rpc_verify()}]
    if {$v ne "ok"} { lappend problems "rpc_verify: $v" }
  }
  return $problems
}
