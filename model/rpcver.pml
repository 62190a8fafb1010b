/*
** rpcver's negotiation protocol, with messages in flight: a model for spin.
**
** One method.  Receivers register, re-register (upgrade, downgrade, a
** bridge) and leave; senders register the range their code can send,
** change it and leave, and send messages at any version the cap allows; a
** message stays in flight for at most D ticks and is then delivered to
** some receiver registered at that moment (a shared topic), or dropped; an
** operator pins and unpins; the clock ticks.  Expiry is a leave.
**
** The property (assert in deliver): every delivered message's version lies
** inside the range of the receiver that takes it.  With NEW_RULES, also:
** after every admitted write, every registered sender still has a version
** it may send while the method has receivers (assert in check_senders).
**
** Compile-time choices (model/Makefile, `make model`):
**   NEW_RULES   rpcver's rules with sender registrations and drain windows;
**               without it, the rules before them (the floor alone).
**   NO_PIN      no pins (the second counterexample needs none).
**   NO_BRIDGE   every range is [MAJOR.0, hi] (the first needs no bridge).
**
** Versions are 0..NV-1, two majors: 0 = 3.0, 1 = 3.1, 2 = 4.0, 3 = 4.1
** (MAJOR(v).0 = v - v % 2).  Ranges are [lo, hi] with lo <= hi.  Receivers
** and senders are kept sorted by their range (a canonical order: they are
** interchangeable), and so are the messages, which shrinks the state space
** without losing a behaviour.
**
** Every step prints one line that tests/model.test replays through the
** real extension (a simulation's trace):
**   R i lo hi ok|refused   receiver i (re)registers
**   RL i                   receiver i leaves
**   S j lo hi ok|refused   sender j (re)registers
**   SL j                   sender j leaves
**   SEND j v               sender j sends v
**   DELIVER v i            a message of v reaches receiver i
**   DROP v                 a message of v is dropped
**   PIN p ok|refused, UNPIN, TICK
**   CAP j v                after each step: sender j's rpc_max_send (v, or
**                          255 for NULL)
*/

#define NV    4
#define NR    3
#define NS    2
#define NM    2
#ifndef D
#define D     1                    /* the drain window, in ticks */
#endif
#define NONE  255

#define MAJOR_BASE(v) ((v) - (v) % 2)

byte rlo[NR], rhi[NR];             /* rhi == NONE: not registered */
byte slo[NS], shi[NS];
byte pin = NONE, floor = NONE;
byte elo = NONE, ehi = NONE, eleft = 0;   /* in-flight envelope, active while eleft > 0 */
byte mv[NM], mage[NM];             /* mv == NONE: free slot */

/* scratch, recomputed by aggregate() */
byte nrec, maxlo, minhi, neg;      /* neg NONE: nothing fits */
byte sendlo, sendhi;               /* what registered senders may send: NONE if none */
byte i, j, k, lo, hi, v, p, ok, t1, t2, oldlo, oldhi;
byte savlo, savhi;                 /* what a refused step puts back */

inline aggregate() {
  nrec = 0; maxlo = 0; minhi = NV - 1;
  k = 0;
  do
  :: k < NR ->
       if
       :: rhi[k] != NONE ->
            nrec++;
            if :: rlo[k] > maxlo -> maxlo = rlo[k] :: else -> skip fi;
            if :: rhi[k] < minhi -> minhi = rhi[k] :: else -> skip fi
       :: else -> skip
       fi;
       k++
  :: else -> break
  od;
  neg = NONE;
  if
  :: nrec > 0 ->
       t1 = minhi;
       if :: pin != NONE && pin < t1 -> t1 = pin :: else -> skip fi;
       if :: t1 >= maxlo -> neg = t1 :: else -> skip fi
  :: else -> skip
  fi;
  /* the hull of what registered senders may send: each sender's piece is
  ** [max(slo, maxlo), min(shi, neg)] */
  sendlo = NONE; sendhi = NONE;
  if
  :: neg != NONE ->
       k = 0;
       do
       :: k < NS ->
            if
            :: shi[k] != NONE ->
                 t1 = (slo[k] > maxlo -> slo[k] : maxlo);
                 t2 = (shi[k] < neg -> shi[k] : neg);
                 if
                 :: t1 <= t2 ->
                      if :: sendlo == NONE || t1 < sendlo -> sendlo = t1 :: else -> skip fi;
                      if :: sendhi == NONE || t2 > sendhi -> sendhi = t2 :: else -> skip fi
                 :: else -> skip
                 fi
            :: else -> skip
            fi;
            k++
       :: else -> break
       od
  :: else -> skip
  fi
}

/* The floor rises with negotiated (a pin lowers it, in do_pin). */
inline rise() {
  if
  :: neg != NONE && (floor == NONE || neg > floor) -> floor = neg
  :: else -> skip
  fi
}

/* After an admitted write: what senders may send shrank from [oldlo,
** oldhi] (taken before the write)?  Then messages of the old range may be
** in flight for D more ticks. */
inline shrink_check() {
#ifdef NEW_RULES
  if
  :: oldlo != NONE && (sendlo == NONE || sendlo > oldlo || sendhi < oldhi) ->
       if
       :: eleft > 0 ->
            if :: oldlo < elo -> elo = oldlo :: else -> skip fi;
            if :: oldhi > ehi -> ehi = oldhi :: else -> skip fi
       :: else -> elo = oldlo; ehi = oldhi
       fi;
       eleft = D + 1
  :: else -> skip
  fi
#else
  skip
#endif
}

/* ok = 0 when some registered sender would have nothing it may send. */
inline senders_live() {
  ok = 1;
  if
  :: nrec > 0 ->
       k = 0;
       do
       :: k < NS ->
            if
            :: shi[k] != NONE ->
                 t1 = (slo[k] > maxlo -> slo[k] : maxlo);
                 t2 = (shi[k] < neg -> shi[k] : neg);
                 if :: neg == NONE || t1 > t2 -> ok = 0 :: else -> skip fi
            :: else -> skip
            fi;
            k++
       :: else -> break
       od
  :: else -> skip
  fi
}

inline check_senders() {
#ifdef NEW_RULES
  aggregate();
  senders_live();
  assert(ok);
#else
  skip
#endif
}

/* Canonical order: receivers, senders and messages sorted (bubble sort of
** three and two elements). */
inline swap_r(a, b) { t1 = rlo[a]; rlo[a] = rlo[b]; rlo[b] = t1; t1 = rhi[a]; rhi[a] = rhi[b]; rhi[b] = t1 }
inline canon() {
  if :: rhi[0] > rhi[1] || (rhi[0] == rhi[1] && rlo[0] > rlo[1]) -> swap_r(0, 1) :: else -> skip fi;
  if :: rhi[1] > rhi[2] || (rhi[1] == rhi[2] && rlo[1] > rlo[2]) -> swap_r(1, 2) :: else -> skip fi;
  if :: rhi[0] > rhi[1] || (rhi[0] == rhi[1] && rlo[0] > rlo[1]) -> swap_r(0, 1) :: else -> skip fi;
  if
  :: shi[0] > shi[1] || (shi[0] == shi[1] && slo[0] > slo[1]) ->
       t1 = slo[0]; slo[0] = slo[1]; slo[1] = t1; t1 = shi[0]; shi[0] = shi[1]; shi[1] = t1
  :: else -> skip
  fi;
  if
  :: mv[0] > mv[1] || (mv[0] == mv[1] && mage[0] > mage[1]) ->
       t1 = mv[0]; mv[0] = mv[1]; mv[1] = t1; t1 = mage[0]; mage[0] = mage[1]; mage[1] = t1
  :: else -> skip
  fi;
  if :: eleft == 0 -> elo = NONE; ehi = NONE :: else -> skip fi;
  if :: rhi[0] == NONE -> rlo[0] = 0 :: else -> skip fi;
  if :: rhi[1] == NONE -> rlo[1] = 0 :: else -> skip fi;
  if :: rhi[2] == NONE -> rlo[2] = 0 :: else -> skip fi;
  if :: shi[0] == NONE -> slo[0] = 0 :: else -> skip fi;
  if :: shi[1] == NONE -> slo[1] = 0 :: else -> skip fi;
  i = 0; j = 0; k = 0; lo = 0; hi = 0; v = 0; p = 0; ok = 0; t1 = 0; t2 = 0;
  oldlo = 0; oldhi = 0; savlo = 0; savhi = 0; nrec = 0; maxlo = 0; minhi = 0; neg = 0; sendlo = 0; sendhi = 0
}

/* Each sender's cap after a step, for the replay. */
inline print_caps() {
  aggregate();
  k = 0;
  do
  :: k < NS ->
       if
       :: shi[k] != NONE ->
            t1 = (slo[k] > maxlo -> slo[k] : maxlo);
            t2 = (shi[k] < neg -> shi[k] : neg);
            if
            :: neg != NONE && t1 <= t2 -> printf("CAP %d %d\n", k, t2)
            :: else -> printf("CAP %d 255\n", k)
            fi
       :: else -> skip
       fi;
       k++
  :: else -> break
  od
}

/* Nondeterministic choices, one transition each; a choice that makes no
** sense (lo above hi) is a step that changes nothing. */
inline pick_i()  { if :: i = 0 :: i = 1 :: i = 2 fi }
inline pick_j()  { if :: j = 0 :: j = 1 fi }
inline pick_k()  { if :: k = 0 :: k = 1 fi }
inline pick_v()  { if :: v = 0 :: v = 1 :: v = 2 :: v = 3 fi }
inline pick_range() {
  if :: hi = 0 :: hi = 1 :: hi = 2 :: hi = 3 fi;
#ifdef NO_BRIDGE
  lo = MAJOR_BASE(hi)
#else
  if :: lo = 0 :: lo = 1 :: lo = 2 :: lo = 3 fi
#endif
}

/* Receiver i asks to hold [lo, hi]. */
inline receiver_register() {
  aggregate();
  oldlo = sendlo; oldhi = sendhi;
  ok = (floor == NONE || (lo <= floor && floor <= hi));
#ifdef NEW_RULES
  /* every version that may be in flight: what senders may send now, and
  ** the envelope of what they could send before a recent shrink */
  if
  :: ok && sendlo != NONE && (lo > sendlo || hi < sendhi) -> ok = 0
  :: else -> skip
  fi;
  if
  :: ok && eleft > 0 && (lo > elo || hi < ehi) -> ok = 0
  :: else -> skip
  fi;
  if
  :: ok ->
       savlo = rlo[i]; savhi = rhi[i];
       rlo[i] = lo; rhi[i] = hi;
       aggregate();
       senders_live();
       if :: !ok -> rlo[i] = savlo; rhi[i] = savhi :: else -> skip fi
  :: else -> skip
  fi;
#else
  if :: ok -> rlo[i] = lo; rhi[i] = hi :: else -> skip fi;
#endif
  printf("R %d %d %d %d\n", i, lo, hi, ok);
  if
  :: ok -> aggregate(); rise(); shrink_check(); check_senders()
  :: else -> skip
  fi
}

inline receiver_leave() {
  aggregate();
  oldlo = sendlo; oldhi = sendhi;
  rhi[i] = NONE;
  printf("RL %d\n", i);
  aggregate(); rise(); shrink_check(); check_senders()
}

inline sender_register() {
  aggregate();
  oldlo = sendlo; oldhi = sendhi;
  ok = 1;
#ifdef NEW_RULES
  /* a sender whose range reaches nothing every receiver accepts */
  if
  :: nrec > 0 ->
       t1 = (lo > maxlo -> lo : maxlo);
       t2 = (neg != NONE && hi > neg -> neg : hi);
       if :: neg == NONE || t1 > t2 -> ok = 0 :: else -> skip fi
  :: else -> skip
  fi;
#endif
  if :: ok -> slo[j] = lo; shi[j] = hi :: else -> skip fi;
  printf("S %d %d %d %d\n", j, lo, hi, ok);
  if
  :: ok -> aggregate(); shrink_check(); check_senders()
  :: else -> skip
  fi
}

inline sender_leave() {
  aggregate();
  oldlo = sendlo; oldhi = sendhi;
  shi[j] = NONE;
  printf("SL %d\n", j);
  aggregate(); shrink_check(); check_senders()
}

inline do_pin() {
  aggregate();
  oldlo = sendlo; oldhi = sendhi;
  ok = (nrec == 0 || p >= maxlo);
#ifdef NEW_RULES
  if
  :: ok ->
       savhi = pin; pin = p;
       aggregate();
       senders_live();
       pin = savhi
  :: else -> skip
  fi;
#endif
  if
  :: ok ->
       pin = p;
       if :: floor == NONE || p < floor -> floor = p :: else -> skip fi
  :: else -> skip
  fi;
  printf("PIN %d %d\n", p, ok);
  if
  :: ok -> aggregate(); rise(); shrink_check(); check_senders()
  :: else -> skip
  fi
}

/*
** Each step makes its choices (pick_*), then runs as one indivisible,
** deterministic transition (d_step): a step whose guard fails changes
** nothing.
*/
active proctype world() {
  d_step {
    rhi[0] = NONE; rhi[1] = NONE; rhi[2] = NONE;
    shi[0] = NONE; shi[1] = NONE;
    mv[0] = NONE; mv[1] = NONE
  }
  do
  :: atomic {
       pick_i(); pick_range();
       d_step {
         if :: lo <= hi -> receiver_register(); print_caps() :: else -> skip fi;
         canon()
       }
     }
  :: atomic {
       pick_i();
       d_step {
         if :: rhi[i] != NONE -> receiver_leave(); print_caps() :: else -> skip fi;
         canon()
       }
     }
  :: atomic {
       pick_j(); pick_range();
       d_step {
         if :: lo <= hi -> sender_register(); print_caps() :: else -> skip fi;
         canon()
       }
     }
  :: atomic {
       pick_j();
       d_step {
         if :: shi[j] != NONE -> sender_leave(); print_caps() :: else -> skip fi;
         canon()
       }
     }
  :: atomic {
       /* a registered sender sends a version its code and the cap allow:
       ** from max(its lo, every receiver's lo) up to min(its hi,
       ** negotiated) -- what rpc_max_send and rpc_can_send allow */
       pick_j(); pick_v();
       d_step {
         aggregate();
         if
         :: (shi[j] != NONE && neg != NONE && (mv[0] == NONE || mv[1] == NONE) &&
             v >= slo[j] && v >= maxlo && v <= shi[j] && v <= neg) ->
              if
              :: mv[0] == NONE -> mv[0] = v; mage[0] = 0
              :: else -> mv[1] = v; mage[1] = 0
              fi;
              printf("SEND %d %d\n", j, v);
              print_caps()
         :: else -> skip
         fi;
         canon()
       }
     }
  :: atomic {
       pick_k(); pick_i();
       d_step {
         if
         :: mv[k] != NONE && rhi[i] != NONE ->
              printf("DELIVER %d %d\n", mv[k], i);
              assert(rlo[i] <= mv[k] && mv[k] <= rhi[i]);
              mv[k] = NONE;
              print_caps()
         :: else -> skip
         fi;
         canon()
       }
     }
  :: atomic {
       pick_k();
       d_step {
         if
         :: mv[k] != NONE -> printf("DROP %d\n", mv[k]); mv[k] = NONE; print_caps()
         :: else -> skip
         fi;
         canon()
       }
     }
#ifndef NO_PIN
  :: atomic { pick_v(); d_step { p = v; do_pin(); print_caps(); canon() } }
  :: d_step {
       pin != NONE;
       aggregate(); oldlo = sendlo; oldhi = sendhi;
       pin = NONE;
       printf("UNPIN\n");
       aggregate(); rise(); shrink_check(); check_senders();
       print_caps(); canon()
     }
#endif
  :: d_step {
       /* time passes: only while no message would outlive D ticks */
       (mv[0] == NONE || mage[0] < D) && (mv[1] == NONE || mage[1] < D);
       if :: mv[0] != NONE -> mage[0]++ :: else -> skip fi;
       if :: mv[1] != NONE -> mage[1]++ :: else -> skip fi;
       if :: eleft > 0 -> eleft-- :: else -> skip fi;
       printf("TICK\n");
       print_caps(); canon()
     }
  od
}
