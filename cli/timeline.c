/*
** rpcver timeline: where an upgrade stands, and how it got there, as a
** picture an operator reads at a glance.
**
**   rpcver timeline [--method M] [--since T] --svg FILE [--html FILE]
**
** One panel per method (or only M), time running left to right: negotiated
** (what senders send), newest, the floor and a pin as step lines over the
** versions; below them the receivers, stacked by the highest version each
** accepts; marks for pins and unpins, expiries, and the drain windows of
** in-flight envelopes.  Plain SVG, written here (no script, no font or
** style sheet fetched from anywhere), so a browser shows it and a README
** embeds it; --html wraps it in a page with the log's rows below it.
**
** Where the picture comes from: the state now (rpc_methods, rpc_ranges)
** and the event log (rpc_log, schema revision 7), read backwards.  Each
** row has the old value of what it changed, so walking from now to the
** start undoes one change after another: the picture is exact from the
** oldest row the log still keeps (or --since) on.  Refused writes are not
** in it: a refused write changes nothing, its log row included, so the
** picture says so in its footer instead of drawing what did not happen.
**
** --since takes unix seconds, a UTC time 'YYYY-MM-DD HH:MM[:SS]', or a
** duration back from now: 90m, 6h, 2d.  The right edge is now (or the last
** row, if the clock is behind it).  It reads in one transaction, through
** cli_load(), so it works on a dqlite cluster as on a file.
*/
#define _DEFAULT_SOURCE          /* timegm(), gmtime_r() */
#include "cli.h"
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* The step lines, in drawing order (negotiated last: on top). */
enum { S_PIN, S_FLOOR, S_NEWEST, S_NEGOTIATED, N_SERIES };
static const struct SeriesStyle {
  const char *zName;          /* class and legend */
  const char *zColor;         /* the negotiated colour is used nowhere else:
                              ** tests/timeline.test finds its line by it */
  const char *zDash;          /* stroke-dasharray, or "" */
  double width, dy;           /* stroke width; offset, so equal lines show */
} aSeries[N_SERIES] = {
  { "pin",        "#8e44ad", "2 3", 2.0, -6.0 },
  { "floor",      "#e67e22", "",    2.0,  4.0 },
  { "newest",     "#27ae60", "6 3", 2.0, -3.0 },
  { "negotiated", "#1f5fbf", "",    3.0,  0.0 },
};

/* Colours of the receiver bands, by version (cycled). */
static const char *const azBand[] = {
  "#c6dbef", "#9ecae1", "#fdd0a2", "#a1d99b", "#dadaeb", "#fcbba1",
  "#c7e9c0", "#bcbddc",
};
#define N_BAND ((int)(sizeof(azBand)/sizeof(azBand[0])))

/* Bands a panel draws at most: the newest versions one each, every older
** one in a single band below them.  A rolling upgrade has a few versions
** at a time; a log that names hundreds (a test, or a hostile file) would
** otherwise draw a band per version across every snapshot (1,000 versions
** took 141 MB), in colours nobody could tell apart. */
#define MAX_BANDS 12

typedef struct Point { double t; long long v; } Point;   /* v -1: none */
typedef struct Mark {
  double t, t2;             /* t2: end of a drain window */
  int kind;                 /* MARK_* */
  const char *zText;        /* borrowed from the tables */
} Mark;
enum { MARK_PIN, MARK_UNPIN, MARK_EXPIRED, MARK_DRAIN };

typedef struct Method {
  const char *zName;
  Point *aPt[N_SERIES];     /* change points, oldest first */
  int nPt[N_SERIES];
  long long *aKey;          /* the versions receivers accept as their hi */
  int nKey;
  int nOlder;               /* aKey[0..nOlder) share band 0 (MAX_BANDS) */
  int nBand;                /* the bands: nKey, or MAX_BANDS */
  double *aSnapT;           /* band snapshots: from aSnapT[i] on, counts */
  int *aCount;              /* nSnap x nBand */
  int nSnap;
  Mark *aMark;
  int nMark;
} Method;

typedef struct Timeline {
  Table state, ranges, log, texts;
  double t0, t1;            /* the time axis, unix seconds */
  Method *aMethod;
  int nMethod;
} Timeline;

/* ------------------------------------------------------------ reading */

static long long cell_ll(const Table *t, int r, int c, long long dflt){
  const char *z = cli_cell(t, r, c);
  return z ? strtoll(z, 0, 10) : dflt;
}

/* A time: unix seconds, to the millisecond in rpc_log. */
static double cell_d(const Table *t, int r, int c){
  const char *z = cli_cell(t, r, c);
  return z ? strtod(z, 0) : 0.0;
}

/* The text of a version key, from the table of every key the data holds
** (rpcver_text(), the extension's rendering, read with the data). */
static const char *key_text(const Timeline *p, long long k){
  int i;
  for(i=0; i<p->texts.nRow; i++){
    if( cell_ll(&p->texts, i, 0, -2)==k ) return cli_cell(&p->texts, i, 1);
  }
  return "?";
}

/* --since as unix seconds, or -1 (reported) when it is none of the forms. */
static long long parse_since(const char *z, long long now){
  size_t n = strlen(z);
  char *zEnd;
  long long v;
  struct tm tm;
  if( n==0 ) return -1;
  if( strspn(z, "0123456789")==n && n<=12 ) return atoll(z);
  v = strtoll(z, &zEnd, 10);
  if( zEnd!=z && v>=0 && zEnd[0] && zEnd[1]==0 && strspn(z, "0123456789")<=9 ){
    switch( zEnd[0] ){
      case 's': return now - v;
      case 'm': return now - v*60;
      case 'h': return now - v*3600;
      case 'd': return now - v*86400;
      default: break;
    }
  }
  memset(&tm, 0, sizeof(tm));
  if( sscanf(z, "%4d-%2d-%2d %2d:%2d:%2d", &tm.tm_year, &tm.tm_mon,
             &tm.tm_mday, &tm.tm_hour, &tm.tm_min, &tm.tm_sec)>=5
   || sscanf(z, "%4d-%2d-%2dT%2d:%2d:%2d", &tm.tm_year, &tm.tm_mon,
             &tm.tm_mday, &tm.tm_hour, &tm.tm_min, &tm.tm_sec)>=5 ){
    if( tm.tm_mon<1 || tm.tm_mon>12 || tm.tm_mday<1 || tm.tm_mday>31
     || tm.tm_hour>23 || tm.tm_min>59 || tm.tm_sec>60 ) return -1;
    int mday = tm.tm_mday;
    time_t t;
    struct tm back;
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    t = timegm(&tm);
    /* a day the month does not have (02-31) is no date, not March 3rd */
    if( gmtime_r(&t, &back)==0 || back.tm_mday!=mday ) return -1;
    return (long long)t;
  }
  return -1;
}

/* Read everything in one transaction: the state now, the receivers by
** version, the log from --since on, and the text of every version key. */
static int read_data(Cli *cli, Timeline *p){
  static const char zHasLog[] =
    "SELECT count(*), (julianday('now') - 2440587.5) * 86400"
    "  FROM main.sqlite_schema"
    " WHERE type = 'table' AND name = 'rpc_log'";
  const char *azBind[2];
  Table has;
  long long since = -1;
  int rc;
  if( cli_exec(cli, "BEGIN") ) return RC_ERROR;
  rc = cli_load(cli, &has, zHasLog, 0, 0, 0, 0);
  if( rc==RC_OK && cell_ll(&has, 0, 0, 0)==0 ){
    cli_printf(stderr, "rpcver: %s has no event log (rpc_log came with "
               "schema revision 7, and it may have been dropped since): "
               "SELECT rpc_init() creates it; the timeline starts then\n", cli->zDb);
    rc = RC_ERROR;
  }
  if( rc==RC_OK ){
    p->t1 = cell_d(&has, 0, 1);
    if( cli->zSince ){
      since = parse_since(cli->zSince, (long long)p->t1);
      if( since<0 ){
        cli_printf(stderr, "rpcver: --since needs unix seconds, a UTC time "
                   "'YYYY-MM-DD HH:MM[:SS]' or a duration such as 90m, 6h, "
                   "2d, not '%s'\n", cli->zSince);
        rc = RC_USAGE;
      }
    }
  }
  table_free(&has);
  if( rc==RC_OK ){
    char zSince[24];
    snprintf(zSince, sizeof(zSince), "%lld", since);
    azBind[0] = cli->zMethod;
    azBind[1] = since>=0 ? zSince : 0;
    rc = cli_load(cli, &p->state,
        "SELECT method, negotiated, newest, floor, pin FROM main.rpc_methods"
        " WHERE ?1 IS NULL OR method = ?1"
        " UNION SELECT DISTINCT method, NULL, NULL, NULL, NULL"
        "   FROM main.rpc_log WHERE method IS NOT NULL"
        "    AND (?1 IS NULL OR method = ?1)"
        "    AND method NOT IN (SELECT method FROM main.rpc_methods)"
        " ORDER BY method", 1, azBind, 0, 0);
    if( rc==RC_OK ) rc = cli_load(cli, &p->ranges,
        "SELECT method, hi, count(*) FROM main.rpc_ranges"
        " WHERE ?1 IS NULL OR method = ?1 GROUP BY method, hi", 1, azBind,
        0, 0);
    if( rc==RC_OK ) rc = cli_load(cli, &p->log,
        "SELECT id, t, method, event, who, old_lo, old_hi, new_lo, new_hi,"
        "       at, utc, old, new, detail FROM ("
        "  SELECT l.*, e.utc, e.old, e.new, e.detail,"
        /* the time within what the axis can draw: years 1970 to 9999 (a
        ** row written by hand may hold anything, even a text or Inf, and
        ** an axis a billion years long has a billion ticks) */
        "         CASE WHEN typeof(l.time) IN ('integer', 'real')"
        "              THEN min(max(l.time, 0), 253402300799) ELSE 0 END AS t"
        "    FROM main.rpc_log AS l JOIN main.rpc_events AS e USING (id)"
        "   WHERE ?1 IS NULL OR l.method = ?1)"
        " WHERE ?2 IS NULL OR t >= CAST(?2 AS INTEGER) ORDER BY id",
        2, azBind, 0, 0);
    if( rc==RC_OK ) rc = cli_load(cli, &p->texts,
        "SELECT k, rpcver_text(k) FROM ("
        "  SELECT negotiated AS k FROM main.rpc_methods"
        "  UNION SELECT newest FROM main.rpc_methods"
        "  UNION SELECT floor FROM main.rpc_methods"
        "  UNION SELECT pin FROM main.rpc_methods"
        "  UNION SELECT hi FROM main.rpc_ranges"
        "  UNION SELECT old_hi FROM main.rpc_log UNION SELECT new_hi"
        "   FROM main.rpc_log UNION SELECT old_lo FROM main.rpc_log"
        "  UNION SELECT new_lo FROM main.rpc_log) WHERE k IS NOT NULL",
        0, 0, 0, 0);
  }
  rc = cli_end_transaction(cli, rc);
  if( rc==RC_OK ){
    /* the log's first and last times (by time: rows written under a
    ** clock that was set back are out of order) */
    double tFirst = p->log.nRow ? cell_d(&p->log, 0, 1) : p->t1, tLast = 0;
    int i;
    for(i=0; i<p->log.nRow; i++){
      double t = cell_d(&p->log, i, 1);
      if( t<tFirst ) tFirst = t;
      if( t>tLast ) tLast = t;
    }
    if( tLast>p->t1 ) p->t1 = tLast;        /* a clock behind the log */
    if( since>p->t1 ){
      /* a window that starts after now (and after the log's last row)
      ** holds nothing: said, not drawn as a blank second */
      char zNow[32];
      time_t tNow = (time_t)p->t1;
      struct tm tm;
      gmtime_r(&tNow, &tm);
      strftime(zNow, sizeof(zNow), "%Y-%m-%d %H:%M:%S", &tm);
      cli_printf(stderr, "rpcver: --since %s is in the future (now is %s "
                 "UTC): give a time before now\n", cli->zSince, zNow);
      return RC_USAGE;
    }
    if( since>=0 ){
      p->t0 = (double)since;
    }else{
      /* from the first row, with a margin of 2 % so that it does not sit
      ** on the axis */
      p->t0 = tFirst - (p->t1 - tFirst) * 0.02;
      if( p->t0<0 && tFirst>=0 ) p->t0 = 0;        /* not before 1970 */
    }
    if( p->t1 - p->t0 < 1 ) p->t0 = p->t1 - 1;
  }
  return rc;
}

/* ---------------------------------------------------- the walk backwards */

static void *grow(void *a, int n, size_t sz){
  void *pNew = realloc(a, (size_t)(n + 1) * sz);
  if( pNew==0 ){
    fputs("rpcver: out of memory\n", stderr);
    exit(RC_ERROR);
  }
  return pNew;
}

static void add_point(Method *m, int s, double t, long long v){
  m->aPt[s] = grow(m->aPt[s], m->nPt[s], sizeof(Point));
  m->aPt[s][m->nPt[s]].t = t;
  m->aPt[s][m->nPt[s]].v = v;
  m->nPt[s]++;
}

static void add_mark(Method *m, int kind, double t, double t2,
                     const char *zText){
  m->aMark = grow(m->aMark, m->nMark, sizeof(Mark));
  m->aMark[m->nMark].kind = kind;
  m->aMark[m->nMark].t = t;
  m->aMark[m->nMark].t2 = t2;
  m->aMark[m->nMark].zText = zText;
  m->nMark++;
}

static int key_index(Method *m, long long k){
  int i;
  for(i=0; i<m->nKey; i++) if( m->aKey[i]==k ) return i;
  return -1;
}

static void add_key(Method *m, long long k){
  int i;
  if( k<0 || key_index(m, k)>=0 ) return;
  m->aKey = grow(m->aKey, m->nKey, sizeof(long long));
  for(i=m->nKey; i>0 && m->aKey[i-1]>k; i--) m->aKey[i] = m->aKey[i-1];
  m->aKey[i] = k;
  m->nKey++;
}

/* The band of version k, or -1 for none. */
static int band_of(Method *m, long long k){
  int i = key_index(m, k);
  if( i<0 ) return -1;
  return i<m->nOlder ? 0 : i - m->nOlder + (m->nOlder>0);
}

/* Once every version is known: how many bands, and which share one. */
static void choose_bands(Method *m){
  if( m->nKey>MAX_BANDS ){
    m->nOlder = m->nKey - (MAX_BANDS - 1);
    m->nBand = MAX_BANDS;
  }else{
    m->nOlder = 0;
    m->nBand = m->nKey;
  }
}

static double x_of(const Timeline *p, double t);

/* A band snapshot: from time t on, the receivers by version are aCur.
** Snapshots come newest first; one that would start where the one after
** it starts, to the tenth of a pixel the SVG is written in, would be drawn
** zero wide and is left out.  So the bands' size follows the picture's
** width, not the log's length (100,000 registrations were a 31 MB SVG). */
static void add_snapshot(const Timeline *p, Method *m, double t,
                         const int *aCur){
  if( m->nSnap>0 && (long long)(x_of(p, t) * 10 + 0.5)
                    ==(long long)(x_of(p, m->aSnapT[m->nSnap-1]) * 10 + 0.5) ){
    return;
  }
  m->aSnapT = grow(m->aSnapT, m->nSnap, sizeof(double));
  m->aCount = realloc(m->aCount, (size_t)(m->nSnap + 1) * (size_t)m->nBand
                                 * sizeof(int) + 1);
  if( m->aCount==0 ){ fputs("rpcver: out of memory\n", stderr); exit(RC_ERROR); }
  m->aSnapT[m->nSnap] = t;
  memcpy(m->aCount + (size_t)m->nSnap * (size_t)m->nBand, aCur,
         (size_t)m->nBand * sizeof(int));
  m->nSnap++;
}

static int series_of(const char *zEvent){
  if( strcmp(zEvent, "negotiated")==0 ) return S_NEGOTIATED;
  if( strcmp(zEvent, "newest")==0 ) return S_NEWEST;
  if( strcmp(zEvent, "floor")==0 ) return S_FLOOR;
  if( strcmp(zEvent, "pinned")==0 || strcmp(zEvent, "unpinned")==0 ) return S_PIN;
  return -1;
}

/* Reverse a series' points, collected newest first. */
static void reverse_points(Point *a, int n){
  int i;
  for(i=0; i<n/2; i++){ Point x = a[i]; a[i] = a[n-1-i]; a[n-1-i] = x; }
}

/* Undo the log's rows of method iState, newest first, from the state now:
** each step line's change points and the receiver bands, oldest first. */
static void build_method(Timeline *p, int iState, Method *m){
  const Table *L = &p->log;
  long long cur[N_SERIES];
  int *aCur, i, s;
  m->zName = cli_cell(&p->state, iState, 0);
  cur[S_NEGOTIATED] = cell_ll(&p->state, iState, 1, -1);
  cur[S_NEWEST] = cell_ll(&p->state, iState, 2, -1);
  cur[S_FLOOR] = cell_ll(&p->state, iState, 3, -1);
  cur[S_PIN] = cell_ll(&p->state, iState, 4, -1);
  /* every version a receiver accepts as its hi, now or in the window */
  for(i=0; i<p->ranges.nRow; i++){
    if( strcmp(cli_cell(&p->ranges, i, 0), m->zName)==0 ){
      add_key(m, cell_ll(&p->ranges, i, 1, -1));
    }
  }
  for(i=0; i<L->nRow; i++){
    const char *zEv = cli_cell(L, i, 3);
    if( cli_cell(L, i, 2)==0 || strcmp(cli_cell(L, i, 2), m->zName)!=0 ) continue;
    if( strcmp(zEv, "registered")==0 || strcmp(zEv, "replaced")==0
     || strcmp(zEv, "unregistered")==0 || strcmp(zEv, "expired")==0 ){
      add_key(m, cell_ll(L, i, 6, -1));
      add_key(m, cell_ll(L, i, 8, -1));
    }
  }
  choose_bands(m);
  aCur = calloc((size_t)m->nBand + 1, sizeof(int));
  if( aCur==0 ){ fputs("rpcver: out of memory\n", stderr); exit(RC_ERROR); }
  for(i=0; i<p->ranges.nRow; i++){
    if( strcmp(cli_cell(&p->ranges, i, 0), m->zName)==0 ){
      int b = band_of(m, cell_ll(&p->ranges, i, 1, -1));
      if( b>=0 ) aCur[b] += (int)cell_ll(&p->ranges, i, 2, 0);
    }
  }
  for(i=L->nRow-1; i>=0; i--){
    const char *zEv = cli_cell(L, i, 3);
    double t = cell_d(L, i, 1);
    long long oldHi = cell_ll(L, i, 6, -1), newHi = cell_ll(L, i, 8, -1);
    int k;
    if( cli_cell(L, i, 2)==0 || strcmp(cli_cell(L, i, 2), m->zName)!=0 ) continue;
    s = series_of(zEv);
    if( s>=0 ){
      add_point(m, s, t, cur[s]);     /* from t on, the value now known */
      cur[s] = oldHi;
      if( s==S_PIN ){
        add_mark(m, newHi>=0 ? MARK_PIN : MARK_UNPIN, t, t,
                 newHi>=0 ? cli_cell(L, i, 12) : cli_cell(L, i, 11));
      }
    }else if( strcmp(zEv, "forgotten")==0 ){
      add_point(m, S_FLOOR, t, cur[S_FLOOR]);
      add_point(m, S_PIN, t, cur[S_PIN]);
      cur[S_FLOOR] = oldHi;
      cur[S_PIN] = cell_ll(L, i, 5, -1);
    }else if( strcmp(zEv, "in_flight")==0 ){
      add_mark(m, MARK_DRAIN, t, cell_ll(L, i, 9, t), cli_cell(L, i, 12));
    }else if( strcmp(zEv, "registered")==0 || strcmp(zEv, "replaced")==0
           || strcmp(zEv, "unregistered")==0 || strcmp(zEv, "expired")==0 ){
      add_snapshot(p, m, t, aCur);
      if( (k = band_of(m, newHi))>=0 && aCur[k]>0 ) aCur[k]--;
      if( (k = band_of(m, oldHi))>=0 ) aCur[k]++;
      if( strcmp(zEv, "expired")==0 ) add_mark(m, MARK_EXPIRED, t, t, cli_cell(L, i, 4));
    }
  }
  /* what held at the left edge: the first point of each line, the first
  ** snapshot of the bands */
  for(s=0; s<N_SERIES; s++){
    add_point(m, s, p->t0, cur[s]);
    reverse_points(m->aPt[s], m->nPt[s]);
  }
  add_snapshot(p, m, p->t0, aCur);
  for(i=0; i<m->nSnap/2; i++){
    double t = m->aSnapT[i];
    int j;
    m->aSnapT[i] = m->aSnapT[m->nSnap-1-i];
    m->aSnapT[m->nSnap-1-i] = t;
    for(j=0; j<m->nBand; j++){
      int *a = m->aCount + (size_t)i * (size_t)m->nBand + j;
      int *b = m->aCount + (size_t)(m->nSnap-1-i) * (size_t)m->nBand + j;
      int x = *a; *a = *b; *b = x;
    }
  }
  free(aCur);
}

static void free_timeline(Timeline *p){
  int i, s;
  for(i=0; i<p->nMethod; i++){
    Method *m = &p->aMethod[i];
    for(s=0; s<N_SERIES; s++) free(m->aPt[s]);
    free(m->aKey);
    free(m->aSnapT);
    free(m->aCount);
    free(m->aMark);
  }
  free(p->aMethod);
  table_free(&p->state);
  table_free(&p->ranges);
  table_free(&p->log);
  table_free(&p->texts);
}

/* ------------------------------------------------------------- drawing */

#define W         960        /* the picture's width */
#define LEFT       70        /* version labels */
#define RIGHT     150        /* the labels at the right edge */
#define LINES_H   170        /* the step lines' plot */
#define BANDS_H    70        /* the receivers' plot */
#define PANEL_H   (34 + LINES_H + 14 + BANDS_H + 34)
#define TOP        58        /* title and legend */
#define FOOT       40

static double x_of(const Timeline *p, double t){
  double span = p->t1 - p->t0;
  if( t<p->t0 ) t = p->t0;
  if( t>p->t1 ) t = p->t1;
  return LEFT + (W - LEFT - RIGHT) * (t - p->t0) / span;
}

/* The versions of the lines' plot, on rows: every value a line takes. */
static int line_versions(const Method *m, long long *aOut, int nMax){
  int n = 0, s, i, j;
  for(s=0; s<N_SERIES; s++){
    for(i=0; i<m->nPt[s]; i++){
      long long v = m->aPt[s][i].v;
      if( v<0 ) continue;
      for(j=0; j<n && aOut[j]!=v; j++){}
      if( j==n && n<nMax ) aOut[n++] = v;
    }
  }
  for(i=1; i<n; i++){                         /* ascending */
    long long v = aOut[i];
    for(j=i; j>0 && aOut[j-1]>v; j--) aOut[j] = aOut[j-1];
    aOut[j] = v;
  }
  return n;
}

static double y_of(const long long *aV, int nV, long long v, double top){
  int i;
  for(i=0; i<nV && aV[i]!=v; i++){}
  return top + LINES_H - (i + 0.5) * LINES_H / (nV ? nV : 1);
}

/* A tick interval that puts at most 8 ticks on the axis. */
static long long tick_step(long long span){
  static const long long a[] = { 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900,
    1800, 3600, 7200, 10800, 21600, 43200, 86400, 172800, 604800,
    2592000, 31536000 };
  int i;
  long long step;
  for(i=0; i<(int)(sizeof(a)/sizeof(a[0])) - 1 && span / a[i] > 8; i++){}
  /* beyond a year a tick, whole years: 2, 5, 10, 20, 50 ... */
  for(step=a[i], i=0; span / step > 8; i++) step *= (i%3==1) ? 5 : 2;
  return step;
}

static void fmt_time(long long t, long long step, long long span, char *z,
                     size_t n){
  time_t tt = (time_t)t;
  struct tm tm;
  gmtime_r(&tt, &tm);
  if( span>2*86400 ) strftime(z, n, "%Y-%m-%d", &tm);
  else if( step<60 ) strftime(z, n, "%H:%M:%S", &tm);
  else strftime(z, n, "%H:%M", &tm);
}

static void draw_axis(const Timeline *p, double yTop, double yBottom,
                      FILE *out){
  long long span = (long long)(p->t1 - p->t0), step = tick_step(span), t;
  char z[32];
  fprintf(out, "<g class=\"axis\">\n");
  for(t=((long long)p->t0 / step + 1) * step; t<p->t1; t+=step){
    double x = x_of(p, t);
    fmt_time(t, step, span, z, sizeof(z));
    fprintf(out, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" "
            "stroke=\"#e4e4e4\"/>\n", x, yTop, x, yBottom);
    fprintf(out, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\" "
            "font-size=\"10\" fill=\"#555\">%s</text>\n", x, yBottom + 12, z);
  }
  fprintf(out, "</g>\n");
}

/* One step line: M at its first value, H to each change, V to the new
** value; a gap where it has none (no receivers, no pin). */
static void draw_series(const Timeline *p, const Method *m, int s,
                        const long long *aV, int nV, double top, FILE *out){
  const struct SeriesStyle *st = &aSeries[s];
  int i, open = 0, nSteps = 0;
  fprintf(out, "<path class=\"series %s\" fill=\"none\" stroke=\"%s\" "
          "stroke-width=\"%.1f\"", st->zName, st->zColor, st->width);
  if( st->zDash[0] ) fprintf(out, " stroke-dasharray=\"%s\"", st->zDash);
  fprintf(out, " data-values=\"");
  for(i=0; i<m->nPt[s]; i++){
    long long v = m->aPt[s][i].v;
    if( i>0 && v==m->aPt[s][i-1].v ) continue;
    fprintf(out, "%s", i ? " " : "");
    xml_text(v<0 ? "-" : key_text(p, v), out);
  }
  fprintf(out, "\" d=\"");
  for(i=0; i<m->nPt[s]; i++){
    long long v = m->aPt[s][i].v;
    double x = x_of(p, m->aPt[s][i].t);
    if( i>0 && v==m->aPt[s][i-1].v ) continue;
    if( open ) fprintf(out, "H%.1f", x);
    if( v<0 ){ open = 0; continue; }
    if( open ){ fprintf(out, "V%.1f", y_of(aV, nV, v, top) + st->dy); nSteps++; }
    else fprintf(out, "M%.1f %.1f", x, y_of(aV, nV, v, top) + st->dy);
    open = 1;
  }
  if( open ) fprintf(out, "H%.1f", x_of(p, p->t1));
  fprintf(out, "\" data-steps=\"%d\"/>\n", nSteps);
}

/* The receivers, stacked by version, as step areas. */
/* Band k's version, or for the band of the older versions "<= V (N)". */
static void band_label(const Timeline *p, const Method *m, int k, FILE *out){
  if( k==0 && m->nOlder>0 ){
    fputs("&lt;= ", out);
    xml_text(key_text(p, m->aKey[m->nOlder-1]), out);
    fprintf(out, " (%d)", m->nOlder);
  }else{
    xml_text(key_text(p, m->aKey[k - (m->nOlder>0) + m->nOlder]), out);
  }
}

static void draw_bands(const Timeline *p, const Method *m, double top,
                       FILE *out){
  int maxTotal = 1, i, k;
  size_t nRow = (size_t)m->nBand + 1;
  /* aCum[i*nRow + k]: snapshot i's receivers below version k, so that each
  ** edge is a lookup (with many versions a sum per edge was quadratic) */
  int *aCum = malloc((size_t)m->nSnap * nRow * sizeof(int) + 1);
  if( aCum==0 ){ fputs("rpcver: out of memory\n", stderr); exit(RC_ERROR); }
  for(i=0; i<m->nSnap; i++){
    int *a = aCum + (size_t)i * nRow;
    a[0] = 0;
    for(k=0; k<m->nBand; k++) a[k+1] = a[k] + m->aCount[(size_t)i*(size_t)m->nBand + k];
    if( a[m->nBand]>maxTotal ) maxTotal = a[m->nBand];
  }
  fprintf(out, "<g class=\"bands\" data-max=\"%d\">\n", maxTotal);
  for(k=0; k<m->nBand; k++){
    fprintf(out, "<path class=\"band\" data-version=\"");
    band_label(p, m, k, out);
    fprintf(out, "\" fill=\"%s\" stroke=\"#fff\" stroke-width=\"0.5\" d=\"",
            azBand[k % N_BAND]);
    /* the upper edge left to right, the lower edge back */
    for(i=0; i<m->nSnap; i++){
      int below = aCum[(size_t)i * nRow + (size_t)k + 1];
      double x = x_of(p, m->aSnapT[i]);
      double x2 = i+1<m->nSnap ? x_of(p, m->aSnapT[i+1]) : x_of(p, p->t1);
      fprintf(out, "%s%.1f %.1f L%.1f %.1f ", i ? "L" : "M", x,
              top + BANDS_H - BANDS_H * (double)below / maxTotal, x2,
              top + BANDS_H - BANDS_H * (double)below / maxTotal);
    }
    for(i=m->nSnap-1; i>=0; i--){
      int below = aCum[(size_t)i * nRow + (size_t)k];
      double x = x_of(p, m->aSnapT[i]);
      double x2 = i+1<m->nSnap ? x_of(p, m->aSnapT[i+1]) : x_of(p, p->t1);
      fprintf(out, "L%.1f %.1f L%.1f %.1f ", x2,
              top + BANDS_H - BANDS_H * (double)below / maxTotal, x,
              top + BANDS_H - BANDS_H * (double)below / maxTotal);
    }
    fprintf(out, "Z\"/>\n");
  }
  free(aCum);
  fprintf(out, "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\" font-size=\"10\" "
          "fill=\"#555\">%d</text>\n", LEFT - 6, top + 9, maxTotal);
  fprintf(out, "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\" font-size=\"10\" "
          "fill=\"#555\">0</text>\n", LEFT - 6, top + BANDS_H);
  fprintf(out, "<text x=\"%d\" y=\"%.1f\" font-size=\"10\" fill=\"#555\">"
          "receivers by version:</text>\n", W - RIGHT + 8, top + 10);
  for(k=0; k<m->nBand && k<5; k++){
    fprintf(out, "<rect x=\"%d\" y=\"%.1f\" width=\"10\" height=\"9\" "
            "fill=\"%s\"/><text x=\"%d\" y=\"%.1f\" font-size=\"10\" "
            "fill=\"#333\">", W - RIGHT + 8, top + 17 + 11*k,
            azBand[k % N_BAND], W - RIGHT + 22, top + 25 + 11*k);
    band_label(p, m, k, out);
    fprintf(out, "</text>\n");
  }
  fprintf(out, "</g>\n");
}

static void draw_marks(const Timeline *p, const Method *m, double top,
                       double bandTop, FILE *out){
  double lastLabel = -1000.0;       /* x of the last pin's label */
  int i, row = 0;
  for(i=0; i<m->nMark; i++){
    const Mark *k = &m->aMark[i];
    double x = x_of(p, k->t);
    switch( k->kind ){
      case MARK_DRAIN:
        fprintf(out, "<rect class=\"mark drain\" x=\"%.1f\" y=\"%.1f\" "
                "width=\"%.1f\" height=\"%d\" fill=\"#f1c40f\" "
                "fill-opacity=\"0.18\"><title>in flight: ", x, top,
                x_of(p, k->t2) - x + 0.5, LINES_H);
        xml_text(k->zText, out);
        fprintf(out, "</title></rect>\n");
        break;
      case MARK_PIN:
      case MARK_UNPIN:
        /* labels closer than one label's width go on the row above */
        row = (x - lastLabel < 75 && lastLabel - x < 75) ? !row : 0;
        lastLabel = x;
        fprintf(out, "<g class=\"mark %s\"><path d=\"M%.1f %.1f l-5 -8 h10 z\" "
                "fill=\"%s\" stroke=\"#8e44ad\"/><text x=\"%.1f\" y=\"%.1f\" "
                "font-size=\"10\" fill=\"#8e44ad\">%s ",
                k->kind==MARK_PIN ? "pin" : "unpin", x, top - 2,
                k->kind==MARK_PIN ? "#8e44ad" : "#fff", x + 6, top - 4 - 11*row,
                k->kind==MARK_PIN ? "pin" : "unpin");
        xml_text(k->zText, out);
        fprintf(out, "</text></g>\n");
        break;
      case MARK_EXPIRED: {
        /* the expiries of one rpc_expire() share a time: one mark naming
        ** up to three of them */
        int j, q, right = x > W - RIGHT - 120;
        for(j=i+1; j<m->nMark && m->aMark[j].kind==MARK_EXPIRED
                   && m->aMark[j].t==k->t; j++){}
        fprintf(out, "<g class=\"mark expired\" data-count=\"%d\"><path "
                "d=\"M%.1f %.1f l6 6 m0 -6 l-6 6\" stroke=\"#c0392b\" "
                "stroke-width=\"2\"/><text x=\"%.1f\" y=\"%.1f\" "
                "font-size=\"9\" fill=\"#c0392b\"%s>expired ", j - i, x - 3,
                bandTop - 9, right ? x - 6 : x + 5, bandTop - 3,
                right ? " text-anchor=\"end\"" : "");
        for(q=0; q<j-i && q<3; q++){
          if( q ) fputs(", ", out);
          xml_text(m->aMark[i+q].zText, out);
        }
        if( j-i>3 ) fprintf(out, " +%d", j-i-3);
        fprintf(out, "</text></g>\n");
        i = j - 1;
        break;
      }
    }
  }
}

static void draw_method(const Timeline *p, const Method *m, double y,
                        FILE *out){
  long long aV[64];
  int nV = line_versions(m, aV, 64), i, s;
  double top = y + 34, bandTop = top + LINES_H + 14;
  fprintf(out, "<g class=\"method\" data-method=\"");
  xml_text(m->zName, out);
  fprintf(out, "\">\n<text x=\"%d\" y=\"%.1f\" font-size=\"14\" "
          "font-weight=\"bold\" fill=\"#222\">", LEFT, y + 20);
  xml_text(m->zName, out);
  fprintf(out, "</text>\n");
  fprintf(out, "<rect class=\"plot\" x=\"%d\" y=\"%.1f\" width=\"%d\" "
          "height=\"%d\" fill=\"#fcfcfc\" stroke=\"#ccc\"/>\n", LEFT, top,
          W - LEFT - RIGHT, LINES_H);
  fprintf(out, "<rect class=\"bandplot\" x=\"%d\" y=\"%.1f\" width=\"%d\" "
          "height=\"%d\" fill=\"#fcfcfc\" stroke=\"#ccc\"/>\n", LEFT, bandTop,
          W - LEFT - RIGHT, BANDS_H);
  draw_axis(p, top, bandTop + BANDS_H, out);
  for(i=0; i<nV; i++){
    double yv = y_of(aV, nV, aV[i], top);
    fprintf(out, "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" "
            "stroke=\"#eee\"/><text class=\"version\" x=\"%d\" y=\"%.1f\" "
            "text-anchor=\"end\" font-size=\"11\" fill=\"#333\">", LEFT, yv,
            W - RIGHT, yv, LEFT - 6, yv + 4);
    xml_text(key_text(p, aV[i]), out);
    fprintf(out, "</text>\n");
  }
  draw_bands(p, m, bandTop, out);
  draw_marks(p, m, top, bandTop, out);
  for(s=0; s<N_SERIES; s++) draw_series(p, m, s, aV, nV, top, out);
  /* each line's value now, at the right edge */
  for(s=N_SERIES-1, i=0; s>=0; s--){
    long long v = m->nPt[s] ? m->aPt[s][m->nPt[s]-1].v : -1;
    if( v<0 ) continue;
    fprintf(out, "<text x=\"%d\" y=\"%.1f\" font-size=\"11\" fill=\"%s\">"
            "%s ", W - RIGHT + 8, top + 12 + 14*i, aSeries[s].zColor,
            aSeries[s].zName);
    xml_text(key_text(p, v), out);
    fprintf(out, "</text>\n");
    i++;
  }
  fprintf(out, "</g>\n");
}

static void draw_legend(FILE *out){
  int s, x = LEFT;
  for(s=N_SERIES-1; s>=0; s--){
    fprintf(out, "<line x1=\"%d\" y1=\"44\" x2=\"%d\" y2=\"44\" stroke=\"%s\" "
            "stroke-width=\"%.1f\"%s%s%s/><text x=\"%d\" y=\"48\" "
            "font-size=\"11\" fill=\"#333\">%s</text>\n", x, x + 22,
            aSeries[s].zColor, aSeries[s].width,
            aSeries[s].zDash[0] ? " stroke-dasharray=\"" : "",
            aSeries[s].zDash, aSeries[s].zDash[0] ? "\"" : "", x + 26,
            aSeries[s].zName);
    x += 110;
  }
  fprintf(out, "<rect x=\"%d\" y=\"38\" width=\"14\" height=\"10\" "
          "fill=\"#f1c40f\" fill-opacity=\"0.3\"/><text x=\"%d\" y=\"48\" "
          "font-size=\"11\" fill=\"#333\">drain window</text>\n", x, x + 18);
}

static void write_svg(const Cli *cli, const Timeline *p, FILE *out){
  int i, h = TOP + p->nMethod * PANEL_H + FOOT;
  char z0[32], z1[32];
  fmt_time(p->t0, 1, 0, z0, sizeof(z0));
  fmt_time(p->t1, 1, 0, z1, sizeof(z1));
  {
    time_t a = (time_t)p->t0, b = (time_t)p->t1;
    struct tm ta, tb;
    gmtime_r(&a, &ta);
    gmtime_r(&b, &tb);
    strftime(z0, sizeof(z0), "%Y-%m-%d %H:%M:%S", &ta);
    strftime(z1, sizeof(z1), "%Y-%m-%d %H:%M:%S", &tb);
  }
  fprintf(out, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" "
          "height=\"%d\" viewBox=\"0 0 %d %d\" font-family=\"DejaVu Sans, "
          "Helvetica, Arial, sans-serif\" data-t0=\"%.3f\" data-t1=\"%.3f\">\n",
          W, h, W, h, p->t0, p->t1);
  fprintf(out, "<title>rpcver timeline</title>\n");
  fprintf(out, "<rect width=\"%d\" height=\"%d\" fill=\"#fff\"/>\n", W, h);
  fprintf(out, "<text x=\"%d\" y=\"22\" font-size=\"15\" fill=\"#111\">"
          "rpcver timeline: ", LEFT);
  xml_text(cli->zDb, out);
  fprintf(out, "</text>\n<text x=\"%d\" y=\"22\" text-anchor=\"end\" "
          "font-size=\"11\" fill=\"#555\">%s to %s UTC</text>\n",
          W - 10, z0, z1);
  draw_legend(out);
  for(i=0; i<p->nMethod; i++){
    draw_method(p, &p->aMethod[i], TOP + i * PANEL_H, out);
  }
  if( p->nMethod==0 ){
    fprintf(out, "<text x=\"%d\" y=\"%d\" font-size=\"12\" fill=\"#555\">"
            "no method has a row in the log in this window</text>\n", LEFT,
            TOP + 20);
  }
  fprintf(out, "<text x=\"%d\" y=\"%d\" font-size=\"10\" fill=\"#777\">"
          "From rpcver's event log (rpc_log), %d rows; times UTC.  Refused "
          "writes change nothing, so they are not in it:</text>\n"
          "<text x=\"%d\" y=\"%d\" font-size=\"10\" fill=\"#777\">a refusal "
          "is the refused process's error.  A new receiver must accept the "
          "floor (and, in a drain window, what may be in flight).</text>\n",
          LEFT, h - 24, p->log.nRow, LEFT, h - 11);
  fprintf(out, "</svg>\n");
}

static void write_html(const Cli *cli, const Timeline *p, FILE *out){
  int i, j;
  fprintf(out, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
          "<title>rpcver timeline: ");
  xml_text(cli->zDb, out);
  fprintf(out, "</title>\n<style>body{font-family:DejaVu Sans,Helvetica,Arial,"
          "sans-serif;margin:16px;color:#222}table{border-collapse:collapse;"
          "font-size:12px}td,th{border-bottom:1px solid #ddd;padding:2px 8px;"
          "text-align:left}</style></head>\n<body>\n");
  write_svg(cli, p, out);
  fprintf(out, "<h2>The event log</h2>\n<table>\n<tr><th>id</th><th>time "
          "(UTC)</th><th>method</th><th>event</th><th>who</th><th>old</th>"
          "<th>new</th><th>detail</th></tr>\n");
  for(i=0; i<p->log.nRow; i++){
    static const int aCol[] = { 0, 10, 2, 3, 4, 11, 12, 13 };
    fprintf(out, "<tr>");
    for(j=0; j<(int)(sizeof(aCol)/sizeof(aCol[0])); j++){
      fprintf(out, "<td>");
      xml_text(cli_cell(&p->log, i, aCol[j]), out);
      fprintf(out, "</td>");
    }
    fprintf(out, "</tr>\n");
  }
  fprintf(out, "</table>\n</body></html>\n");
}

/* Write one file with xWrite; a failure to write it is an error. */
static int write_file(const Cli *cli, const Timeline *p, const char *zPath,
                      void (*xWrite)(const Cli*, const Timeline*, FILE*)){
  FILE *out = fopen(zPath, "w");
  int bad;
  if( out==0 ){
    cli_printf(stderr, "rpcver: cannot write %s: ", zPath);
    perror(0);
    return RC_ERROR;
  }
  xWrite(cli, p, out);
  bad = ferror(out);
  if( fclose(out)!=0 ) bad = 1;
  if( bad ){
    cli_printf(stderr, "rpcver: writing %s failed\n", zPath);
    return RC_ERROR;
  }
  return RC_OK;
}

int cmd_timeline(Cli *cli, int nArg, char **azArg){
  Timeline tl;
  int rc, i;
  (void)nArg; (void)azArg;
  memset(&tl, 0, sizeof(tl));
  if( cli->zSvg==0 && cli->zHtml==0 ){
    fputs("rpcver: timeline needs --svg FILE or --html FILE (or both): "
          "where to write the picture\n", stderr);
    return RC_USAGE;
  }
  rc = read_data(cli, &tl);
  if( rc==RC_OK ){
    tl.aMethod = calloc((size_t)tl.state.nRow + 1, sizeof(Method));
    if( tl.aMethod==0 ){ fputs("rpcver: out of memory\n", stderr); rc = RC_ERROR; }
  }
  if( rc==RC_OK && cli->zMethod && tl.state.nRow==0 ){
    cli_printf(stderr, "rpcver: method %s is unknown: no state and no row in "
               "the event log\n", cli->zMethod);
    rc = RC_ERROR;
  }
  for(i=0; rc==RC_OK && i<tl.state.nRow; i++){
    build_method(&tl, i, &tl.aMethod[i]);
    tl.nMethod++;
  }
  if( rc==RC_OK && cli->zSvg ) rc = write_file(cli, &tl, cli->zSvg, write_svg);
  if( rc==RC_OK && cli->zHtml ) rc = write_file(cli, &tl, cli->zHtml, write_html);
  if( rc==RC_OK && cli->json ){
    printf("{\"methods\": %d, \"events\": %d, \"from\": %.3f, \"to\": %.3f, "
           "\"svg\": ", tl.nMethod, tl.log.nRow, tl.t0, tl.t1);
    json_string(cli->zSvg, stdout);
    fputs(", \"html\": ", stdout);
    json_string(cli->zHtml, stdout);
    fputs("}\n", stdout);
  }else if( rc==RC_OK ){
    cli_printf(stdout, "%s%s%s: %lld method(s), %lld row(s) of the event log\n",
               cli->zSvg ? cli->zSvg : "", cli->zSvg && cli->zHtml ? ", " : "",
               cli->zHtml ? cli->zHtml : "", (long long)tl.nMethod,
               (long long)tl.log.nRow);
  }
  free_timeline(&tl);
  return rc;
}
