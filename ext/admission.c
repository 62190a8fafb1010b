/*
** Admission: the rules a registration, a sender or a pin must pass, and the
** words of each refusal.  The schema's triggers call these helpers (and
** raise what they return); rpc_check() calls rpcver_refusal() too, so the
** rules are written once.
**
**   rpcver_refusal(MANAGER, METHOD, LO, HI, FLOOR, SEND_LO, SEND_HI,
**                  IN_LO, IN_HI, IN_UNTIL, WINDOW, NOW)
**       -> NULL when a receiver may hold [LO, HI] now, else why not
**   rpcver_sender_refusal(CAUSE, METHOD, SENDER, SLO, SHI, ACC_LO, ACC_HI)
**       -> why CAUSE (or, when NULL, the sender's own registration) would
**          leave SENDER, which sends [SLO, SHI], nothing it may send: the
**          receivers would accept only [ACC_LO, ACC_HI] (NULL: nothing)
**   rpcver_pin_refusal(METHOD, PIN, MANAGER, LO, HI) -> why a pin below a
**          receiver's lo is refused
**
** A receiver is admitted when its range contains
**   - the floor: the highest version senders may already be using (it
**     rises with negotiated and falls only through a pin); and
**   - while the drain window is not 0, every version registered senders
**     may have in flight: what they may send now, SEND_LO..SEND_HI, and,
**     until IN_UNTIL, what they could send before a change narrowed that,
**     IN_LO..IN_HI (the schema's rpc_methods_inflight records it).  A
**     message is in flight for at most the drain window: the operator's
**     promise (a call's timeout, a cast's message TTL).
** And no admitted write may leave a registered sender with nothing it may
** send while the method has receivers.  model/rpcver.pml is these rules,
** checked by spin; tests/model.test replays its runs through this code.
**
** Versions are keys (rpcver_int.h); NOW and IN_UNTIL are unix seconds.
*/
#include "rpcver_int.h"

static RpcKey key_arg(sqlite3_value *pVal){
  return sqlite3_value_type(pVal)==SQLITE_INTEGER ? sqlite3_value_int64(pVal)
                                                   : -1;
}

/* "manager 'x'", or "a manager" when rpc_check() asks without one. */
static char *who(sqlite3_value *pManager){
  char *zManager, *z;
  if( sqlite3_value_type(pManager)==SQLITE_NULL ){
    return sqlite3_mprintf("a manager");
  }
  zManager = rv_describe(pManager);
  z = sqlite3_mprintf("manager %s", zManager);
  sqlite3_free(zManager);
  return z;
}

static char *floor_refusal(const char *zWho, const char *zMethod, RpcKey lo,
                           RpcKey hi, RpcKey floor){
  char zLo[RPC_KEY_TEXT_MAX], zHi[RPC_KEY_TEXT_MAX], zFloor[RPC_KEY_TEXT_MAX];
  rv_version_format(lo, zLo);
  rv_version_format(hi, zHi);
  rv_version_format(floor, zFloor);
  if( hi<floor ){
    return sqlite3_mprintf("rpcver: %s cannot register method %s with range "
      "[%s, %s]: senders may already be using %s (the method's floor), "
      "which it cannot receive. Upgrade it to a version that accepts %s; "
      "or, to roll back, first pin the method: SELECT rpc_pin(%s, '%s'); "
      "or remove stale managers (rpc_unregister, rpc_expire)",
      zWho, zMethod, zLo, zHi, zFloor, zFloor, zMethod, zHi);
  }
  return sqlite3_mprintf("rpcver: %s cannot register method %s with range "
    "[%s, %s]: senders may still be using %s (the method's floor), below "
    "its lo. Register a range that reaches down to %s (a bridge: give lo "
    "explicitly, e.g. rpc_register(manager, method, '%s', '%s')), or "
    "upgrade the other receivers first",
    zWho, zMethod, zLo, zHi, zFloor, zFloor, zHi, zFloor);
}

/* [lo, hi] does not hold the in-flight range [a, b]. */
static char *inflight_refusal(const char *zWho, const char *zMethod,
                              RpcKey lo, RpcKey hi, RpcKey a, RpcKey b,
                              int sendingNow, sqlite3_int64 nLeft,
                              sqlite3_int64 window){
  char zLo[RPC_KEY_TEXT_MAX], zHi[RPC_KEY_TEXT_MAX];
  char zA[RPC_KEY_TEXT_MAX], zB[RPC_KEY_TEXT_MAX];
  rv_version_format(lo, zLo);
  rv_version_format(hi, zHi);
  rv_version_format(a, zA);
  rv_version_format(b, zB);
  if( sendingNow ){
    return sqlite3_mprintf("rpcver: %s cannot register method %s with range "
      "[%s, %s]: registered senders may be sending versions %s to %s right "
      "now, and a message sent a moment ago can still arrive for the drain "
      "window (%lld s), which it could not receive. Register a range that "
      "accepts %s to %s; to drop those versions, first re-register the "
      "senders so that they no longer send them (rpc_register_sender), then "
      "wait out the drain", zWho, zMethod, zLo, zHi, zA, zB,
      (long long)window, zA, zB);
  }
  return sqlite3_mprintf("rpcver: %s cannot register method %s with range "
    "[%s, %s]: registered senders could send versions %s to %s until a "
    "recent change, and messages of them may still be in flight for %lld s "
    "more (the drain window), which it could not receive. Start it after "
    "the drain, in %lld s, or register a range that accepts %s to %s",
    zWho, zMethod, zLo, zHi, zA, zB, (long long)nLeft, (long long)nLeft,
    zA, zB);
}

static int is_key(sqlite3_value *pVal){
  return sqlite3_value_type(pVal)==SQLITE_INTEGER
      && sqlite3_value_int64(pVal)>=0
      && sqlite3_value_int64(pVal)<RPC_KEY_LIMIT;
}

/* What is wrong with the in-flight record IN_LO, IN_HI, IN_UNTIL and the
** WINDOW (argv[7..10]) at NOW, as rpcver never writes it; NULL when
** nothing.  rpcver's writes and guards keep them well formed; a damaged or
** hostile file is refused admission (it fails closed), since what may
** still be in flight cannot be told. */
static char *envelope_damage(sqlite3_value **argv, sqlite3_int64 now){
  sqlite3_value *pUntil = argv[9], *pWindow = argv[10];
  int active;
  if( sqlite3_value_type(pWindow)!=SQLITE_INTEGER
   || sqlite3_value_int64(pWindow)<0
   || sqlite3_value_int64(pWindow)>RPC_DRAIN_MAX ){
    char *zW = rv_describe(pWindow);
    char *z = sqlite3_mprintf("its drain window %s is not a number of "
                              "seconds from 0 to %d", zW, RPC_DRAIN_MAX);
    sqlite3_free(zW);
    return z;
  }
  if( sqlite3_value_type(pUntil)==SQLITE_NULL ) return 0;
  active = sqlite3_value_type(pUntil)!=SQLITE_INTEGER
        || sqlite3_value_int64(pUntil)>=now;
  if( active && (sqlite3_value_type(pUntil)!=SQLITE_INTEGER
                 || !is_key(argv[7]) || !is_key(argv[8])
                 || sqlite3_value_int64(argv[7])>sqlite3_value_int64(argv[8])) ){
    char *zLo = rv_describe(argv[7]), *zHi = rv_describe(argv[8]);
    char *zU = rv_describe(pUntil);
    char *z = sqlite3_mprintf("its in-flight record (inflight_lo %s, "
                              "inflight_hi %s, inflight_until %s) is not "
                              "one rpcver writes", zLo, zHi, zU);
    sqlite3_free(zLo);
    sqlite3_free(zHi);
    sqlite3_free(zU);
    return z;
  }
  return 0;
}

/* until - now + 1: the whole seconds a drain has left, without overflow. */
static sqlite3_int64 seconds_left(sqlite3_int64 until, sqlite3_int64 now){
  const sqlite3_uint64 most = 0x7fffffffffffffffULL;     /* INT64_MAX */
  sqlite3_uint64 d = (sqlite3_uint64)until - (sqlite3_uint64)now;
  return d>=most ? (sqlite3_int64)most : (sqlite3_int64)(d + 1);
}

void rv_rpcver_refusal(sqlite3_context *ctx, int argc, sqlite3_value **argv){
  RpcKey lo = key_arg(argv[2]), hi = key_arg(argv[3]);
  RpcKey floor = key_arg(argv[4]);
  RpcKey sendLo = argc>6 ? key_arg(argv[5]) : -1;
  RpcKey sendHi = argc>6 ? key_arg(argv[6]) : -1;
  RpcKey inLo = argc>9 ? key_arg(argv[7]) : -1;
  RpcKey inHi = argc>9 ? key_arg(argv[8]) : -1;
  sqlite3_int64 until = argc>9 ? key_arg(argv[9]) : -1;
  sqlite3_int64 window = argc>11 ? sqlite3_value_int64(argv[10]) : 0;
  sqlite3_int64 now = argc>11 ? sqlite3_value_int64(argv[11]) : 0;
  char *zDamage = argc>11 ? envelope_damage(argv, now) : 0;
  int sendingNow = window>0 && sendLo>=0 && sendHi>=0
                && (lo>sendLo || hi<sendHi);
  int draining = until>=now && inLo>=0 && inHi>=0
              && (lo>inLo || hi<inHi);
  char *zWho, *zMethod, *zMsg;
  if( (floor<0 || (lo<=floor && floor<=hi)) && !sendingNow && !draining
   && zDamage==0 ){
    return;                                    /* admitted: NULL */
  }
  zWho = who(argv[0]);
  zMethod = rv_describe(argv[1]);
  if( zDamage ){
    zMsg = sqlite3_mprintf("rpcver: %s cannot register method %s: %s, so "
      "rpcver cannot tell what may still be in flight. SELECT rpc_verify() "
      "shows what is damaged; restore the database from a backup",
      zWho, zMethod, zDamage);
    sqlite3_free(zDamage);
  }else if( floor>=0 && !(lo<=floor && floor<=hi) ){
    zMsg = floor_refusal(zWho, zMethod, lo, hi, floor);
  }else if( sendingNow ){
    /* what may be in flight: what is sent now, with a draining envelope */
    RpcKey a = sendLo, b = sendHi;
    if( until>=now && inLo>=0 && inLo<a ) a = inLo;
    if( until>=now && inHi>b ) b = inHi;
    zMsg = inflight_refusal(zWho, zMethod, lo, hi, a, b, 1, 0, window);
  }else{
    zMsg = inflight_refusal(zWho, zMethod, lo, hi, inLo, inHi, 0,
                            seconds_left(until, now), window);
  }
  sqlite3_free(zWho);
  sqlite3_free(zMethod);
  if( zMsg==0 ){ sqlite3_result_error_nomem(ctx); return; }
  sqlite3_result_text(ctx, zMsg, -1, sqlite3_free);
}

void rv_rpcver_sender_refusal(sqlite3_context *ctx, int argc,
                              sqlite3_value **argv){
  char zSlo[RPC_KEY_TEXT_MAX], zShi[RPC_KEY_TEXT_MAX];
  char zAcc[2*RPC_KEY_TEXT_MAX + 16];
  RpcKey accLo = key_arg(argv[5]), accHi = key_arg(argv[6]);
  char *zMethod = rv_describe(argv[1]);
  char *zSender = rv_describe(argv[2]);
  char *zMsg;
  (void)argc;
  rv_version_format(key_arg(argv[3]), zSlo);
  rv_version_format(key_arg(argv[4]), zShi);
  if( accLo>=0 && accHi>=accLo ){
    char zA[RPC_KEY_TEXT_MAX], zB[RPC_KEY_TEXT_MAX];
    rv_version_format(accLo, zA);
    rv_version_format(accHi, zB);
    sqlite3_snprintf(sizeof(zAcc), zAcc, "only [%s, %s]", zA, zB);
  }else{
    sqlite3_snprintf(sizeof(zAcc), zAcc, "no version at all");
  }
  if( sqlite3_value_type(argv[0])==SQLITE_NULL ){
    zMsg = sqlite3_mprintf("rpcver: sender %s cannot register method %s "
      "with range [%s, %s]: every receiver accepts %s, so it could send "
      "nothing. Upgrade it to a range that reaches those versions, or "
      "register the receivers that accept its versions first",
      zSender, zMethod, zSlo, zShi, zAcc);
  }else{
    zMsg = sqlite3_mprintf("rpcver: %s would leave registered sender %s, "
      "which sends [%s, %s], with nothing it may send for method %s: every "
      "receiver would accept %s. Upgrade that sender, or unregister it "
      "first (SELECT rpc_unregister_sender(%s, %s))",
      sqlite3_value_text(argv[0]), zSender, zSlo, zShi, zMethod, zAcc,
      zSender, zMethod);
  }
  sqlite3_free(zMethod);
  sqlite3_free(zSender);
  if( zMsg==0 ){ sqlite3_result_error_nomem(ctx); return; }
  sqlite3_result_text(ctx, zMsg, -1, sqlite3_free);
}

void rv_rpcver_pin_refusal(sqlite3_context *ctx, int argc,
                             sqlite3_value **argv){
  char zPin[RPC_KEY_TEXT_MAX], zLo[RPC_KEY_TEXT_MAX], zHi[RPC_KEY_TEXT_MAX];
  char *zMethod = rv_describe(argv[0]);
  char *zManager = rv_describe(argv[2]);
  char *zMsg;
  (void)argc;
  rv_version_format(sqlite3_value_int64(argv[1]), zPin);
  rv_version_format(sqlite3_value_int64(argv[3]), zLo);
  rv_version_format(sqlite3_value_int64(argv[4]), zHi);
  zMsg = sqlite3_mprintf("rpcver: cannot pin method %s to %s: receiver %s "
    "accepts only [%s, %s], so nothing could be sent. Pin at or above %s, "
    "or unregister the receivers that do not accept %s",
    zMethod, zPin, zManager, zLo, zHi, zLo, zPin);
  sqlite3_free(zMethod);
  sqlite3_free(zManager);
  if( zMsg==0 ){ sqlite3_result_error_nomem(ctx); return; }
  sqlite3_result_text(ctx, zMsg, -1, sqlite3_free);
}
