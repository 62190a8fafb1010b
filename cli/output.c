/*
** Output: query results collected into a Table, printed as an aligned text
** table (columns sized to their content, NULL as "-") or as JSON (arrays of
** objects, strings escaped, invalid UTF-8 replaced by U+FFFD).
**
** Text from a database or a node (names, messages, values) is never sent to
** the terminal as it is: a name or an error message can hold terminal
** escapes.  cli_put_safe() is the one place that decides what is shown
** escaped, for text output; json_string() does the same for JSON.  Both
** read the text with utf8_decode(), the CLI's one UTF-8 check.
**
** Why the CLI has its own UTF-8 check and does not use the extension's
** (ext/message.c): that one is internal, hidden from librpcver.a, not an
** interface.  Its SQL face, rpcver_quote(), needs a connection, and the
** CLI shows text where it has none (a node's answer while the leader is
** sought) or where a round trip per value would be absurd (on a cluster).
** And the jobs differ: the extension turns each unsafe character of its
** own messages into '?' and cuts long values; the CLI shows every byte of
** a hostile name, escaped so that it can be read, and writes JSON exactly.
** So UTF-8 is decoded in two places, one for each job, each private to
** its side.
*/
#include "cli.h"
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

/* Length of the valid UTF-8 sequence at z[0..n), its code point in *pCp;
** or 0 when invalid (overlong forms, surrogates, values above U+10FFFF). */
static int utf8_decode(const unsigned char *z, size_t n, unsigned int *pCp){
  unsigned int c = z[0], cp;
  int len, i;
  if( c<0x80 ){ *pCp = c; return 1; }
  if( c>=0xC2 && c<=0xDF ){ len = 2; cp = c & 0x1F; }
  else if( c>=0xE0 && c<=0xEF ){ len = 3; cp = c & 0x0F; }
  else if( c>=0xF0 && c<=0xF4 ){ len = 4; cp = c & 0x07; }
  else return 0;
  if( n<(size_t)len ) return 0;
  for(i=1; i<len; i++){
    if( (z[i] & 0xC0)!=0x80 ) return 0;
    cp = (cp<<6) | (z[i] & 0x3F);
  }
  if( (len==3 && cp<0x800) || (len==4 && (cp<0x10000 || cp>0x10FFFF)) ){
    return 0;
  }
  if( cp>=0xD800 && cp<=0xDFFF ) return 0;
  *pCp = cp;
  return len;
}

/* Code points above ASCII that a terminal acts on or that change what a
** reader sees, the same list as the extension's unsafe_codepoint()
** (ext/message.c; tests/cli.test 13.x holds the two equal over the BMP),
** less C0 and DEL, which safe_unit() shows as \xHH:
**   - C1 controls U+0080-U+009F (U+009B is a CSI, like ESC [);
**   - Unicode's bidirectional controls (Bidi_Control): U+061C, U+200E,
**     U+200F, U+202A-U+202E, U+2066-U+2069, which reorder what follows;
**   - the zero-width and invisible characters U+200B-U+200D, U+2060-U+2064
**     and U+FEFF, which make two names that look the same differ;
**   - the line and paragraph separators U+2028 and U+2029. */
static int unsafe_cp(unsigned int cp){
  return (cp>=0x80 && cp<=0x9f)
      || cp==0x061c || cp==0x200e || cp==0x200f
      || (cp>=0x202a && cp<=0x202e) || (cp>=0x2066 && cp<=0x2069)
      || (cp>=0x200b && cp<=0x200d) || (cp>=0x2060 && cp<=0x2064)
      || cp==0xfeff
      || cp==0x2028 || cp==0x2029;
}

/*
** The next unit of text at z[0..n) for a terminal: how many bytes it takes,
** and, when it must not be shown as it is, its escaped form in zEsc (else
** zEsc is ""):
**   - control characters as \n, \r, \t or \xHH (ESC is \x1b); a newline
**     stays a newline when keepNewlines;
**   - a byte that does not start valid UTF-8 as \xHH, so the bytes of a
**     corrupt name can be told apart;
**   - unsafe_cp() code points as \uHHHH.
** A backslash in the text stays a backslash: the text is for reading, the
** JSON output is exact.
*/
static int safe_unit(const unsigned char *z, size_t n, int keepNewlines,
                     char *zEsc){
  unsigned int cp;
  int len;
  zEsc[0] = 0;
  if( z[0]<0x20 || z[0]==0x7f ){
    switch( z[0] ){
      case '\n': if( !keepNewlines ) strcpy(zEsc, "\\n"); break;
      case '\r': strcpy(zEsc, "\\r"); break;
      case '\t': strcpy(zEsc, "\\t"); break;
      default: snprintf(zEsc, 8, "\\x%02x", z[0]); break;
    }
    return 1;
  }
  len = utf8_decode(z, n, &cp);
  if( len==0 ){
    snprintf(zEsc, 8, "\\x%02x", z[0]);
    return 1;
  }
  if( unsafe_cp(cp) ) snprintf(zEsc, 8, "\\u%04x", cp);
  return len;
}

void cli_put_safe(const char *zIn, int keepNewlines, FILE *out){
  const unsigned char *z = (const unsigned char*)zIn;
  size_t n, i = 0;
  char zEsc[8];
  if( z==0 ) return;
  n = strlen(zIn);
  while( i<n ){
    int len = safe_unit(z+i, n-i, keepNewlines, zEsc);
    if( zEsc[0] ) fputs(zEsc, out);
    else fwrite(z+i, 1, (size_t)len, out);
    i += (size_t)len;
  }
}

/* Characters on screen of z as cli_put_safe() shows it (one line): code
** points of valid UTF-8, the length of each escape. */
static int safe_width(const char *zIn){
  const unsigned char *z = (const unsigned char*)zIn;
  size_t n = strlen(zIn), i = 0;
  int w = 0;
  char zEsc[8];
  while( i<n ){
    int len = safe_unit(z+i, n-i, 0, zEsc);
    w += zEsc[0] ? (int)strlen(zEsc) : 1;
    i += (size_t)len;
  }
  return w;
}

void cli_printf(FILE *out, const char *zFmt, ...){
  va_list ap;
  const char *z;
  va_start(ap, zFmt);
  for(z=zFmt; *z; z++){
    if( z[0]!='%' ){
      fputc(*z, out);
    }else if( z[1]=='s' ){
      const char *zArg = va_arg(ap, const char*);
      cli_put_safe(zArg ? zArg : "", 0, out);
      z++;
    }else if( z[1]=='d' ){
      fprintf(out, "%d", va_arg(ap, int));
      z++;
    }else if( z[1]=='l' && z[2]=='l' && z[3]=='d' ){
      fprintf(out, "%lld", va_arg(ap, long long));
      z += 3;
    }else if( z[1]=='%' ){
      fputc('%', out);
      z++;
    }else{
      fputc(*z, out);
    }
  }
  va_end(ap);
}

/* Does z follow JSON's grammar of a number?  (SQLite writes an infinite
** REAL as "Inf", which is not one.) */
static int json_is_number(const char *z){
  if( *z=='-' ) z++;
  if( *z=='0' ) z++;
  else if( *z>='1' && *z<='9' ) while( *z>='0' && *z<='9' ) z++;
  else return 0;
  if( *z=='.' ){
    z++;
    if( !(*z>='0' && *z<='9') ) return 0;
    while( *z>='0' && *z<='9' ) z++;
  }
  if( *z=='e' || *z=='E' ){
    z++;
    if( *z=='+' || *z=='-' ) z++;
    if( !(*z>='0' && *z<='9') ) return 0;
    while( *z>='0' && *z<='9' ) z++;
  }
  return *z==0;
}

void json_number(const char *z, FILE *out){
  if( z && json_is_number(z) ) fputs(z, out);
  else json_string(z, out);
}

void json_string(const char *zIn, FILE *out){
  const unsigned char *z = (const unsigned char*)zIn;
  size_t n, i = 0;
  if( z==0 ){
    fputs("null", out);
    return;
  }
  n = strlen(zIn);
  fputc('"', out);
  while( i<n ){
    unsigned char c = z[i];
    unsigned int cp;
    int len;
    switch( c ){
      case '"':  fputs("\\\"", out); i++; continue;
      case '\\': fputs("\\\\", out); i++; continue;
      case '\n': fputs("\\n", out); i++; continue;
      case '\r': fputs("\\r", out); i++; continue;
      case '\t': fputs("\\t", out); i++; continue;
      case '\b': fputs("\\b", out); i++; continue;
      case '\f': fputs("\\f", out); i++; continue;
      default: break;
    }
    if( c<0x20 || c==0x7f ){
      fprintf(out, "\\u%04x", c);
      i++;
      continue;
    }
    len = utf8_decode(z+i, n-i, &cp);
    if( len==0 ){
      fputs("\\ufffd", out);
      i++;
    }else if( unsafe_cp(cp) ){
      /* valid JSON either way; escaped, it is safe on a terminal too */
      fprintf(out, "\\u%04x", cp);
      i += (size_t)len;
    }else{
      fwrite(z+i, 1, (size_t)len, out);
      i += (size_t)len;
    }
  }
  fputc('"', out);
}

void format_age(sqlite3_int64 n, char *zBuf, int nBuf){
  if( n<0 ) n = 0;                  /* a clock that went back */
  if( n<60 ){
    snprintf(zBuf, (size_t)nBuf, "%llds", (long long)n);
  }else if( n<3600 ){
    snprintf(zBuf, (size_t)nBuf, "%lldm%02llds", (long long)(n/60),
             (long long)(n%60));
  }else if( n<86400 ){
    snprintf(zBuf, (size_t)nBuf, "%lldh%02lldm", (long long)(n/3600),
             (long long)(n%3600/60));
  }else{
    snprintf(zBuf, (size_t)nBuf, "%lldd%02lldh", (long long)(n/86400),
             (long long)(n%86400/3600));
  }
}

static char *dup_text(const char *z){
  return z ? sqlite3_mprintf("%s", z) : 0;
}

int table_begin(Table *t, int nCol, const char *const *azName,
                const int *aFlag, const char *const *azHead){
  int i;
  memset(t, 0, sizeof(*t));
  t->nCol = nCol;
  t->azName = sqlite3_malloc64(sizeof(char*) * (unsigned)nCol * 2);
  t->aFlag = sqlite3_malloc64(sizeof(int) * (unsigned)nCol);
  if( t->azName==0 || t->aFlag==0 ){
    sqlite3_free(t->azName);
    sqlite3_free(t->aFlag);
    memset(t, 0, sizeof(*t));
    return SQLITE_NOMEM;
  }
  t->azHead = t->azName + nCol;
  for(i=0; i<nCol; i++){
    t->azName[i] = dup_text(azName[i]);
    t->azHead[i] = (azHead && azHead[i]) ? dup_text(azHead[i]) : 0;
    t->aFlag[i] = aFlag ? aFlag[i] : 0;
  }
  return SQLITE_OK;
}

int table_append(Table *t, const int *aType, const char *const *azVal){
  int i;
  if( t->nRow==t->nAlloc ){
    int nNew = t->nAlloc ? t->nAlloc*2 : 16;
    size_t nCell = (size_t)nNew * (size_t)t->nCol;
    char **az = sqlite3_realloc64(t->azVal, sizeof(char*)*nCell);
    int *at;
    if( az==0 ) return SQLITE_NOMEM;
    t->azVal = az;
    at = sqlite3_realloc64(t->aType, sizeof(int)*nCell);
    if( at==0 ) return SQLITE_NOMEM;
    t->aType = at;
    t->nAlloc = nNew;
  }
  for(i=0; i<t->nCol; i++){
    size_t k = (size_t)t->nRow * (size_t)t->nCol + (size_t)i;
    t->aType[k] = aType[i];
    t->azVal[k] = aType[i]==SQLITE_NULL ? 0 : dup_text(azVal[i]);
  }
  t->nRow++;
  return SQLITE_OK;
}

int table_load(Table *t, sqlite3_stmt *pStmt, const int *aFlag,
               const char *const *azHead){
  int nCol = sqlite3_column_count(pStmt), i, rc;
  const char **az = sqlite3_malloc64(sizeof(char*) * (unsigned)(nCol + 1));
  int *aType = sqlite3_malloc64(sizeof(int) * (unsigned)(nCol + 1));
  memset(t, 0, sizeof(*t));
  rc = az && aType ? SQLITE_OK : SQLITE_NOMEM;
  for(i=0; rc==SQLITE_OK && i<nCol; i++) az[i] = sqlite3_column_name(pStmt, i);
  if( rc==SQLITE_OK ) rc = table_begin(t, nCol, az, aFlag, azHead);
  while( rc==SQLITE_OK && (rc = sqlite3_step(pStmt))==SQLITE_ROW ){
    for(i=0; i<nCol; i++){
      aType[i] = sqlite3_column_type(pStmt, i);
      az[i] = (const char*)sqlite3_column_text(pStmt, i);
    }
    rc = table_append(t, aType, az);
  }
  sqlite3_free(az);
  sqlite3_free(aType);
  if( rc==SQLITE_DONE ) rc = SQLITE_OK;
  if( sqlite3_reset(pStmt)!=SQLITE_OK && rc==SQLITE_OK ) rc = SQLITE_ERROR;
  return rc;
}

void table_free(Table *t){
  int i;
  for(i=0; i<t->nCol; i++){
    sqlite3_free(t->azName[i]);
    sqlite3_free(t->azHead[i]);
  }
  for(i=0; i<t->nRow*t->nCol; i++) sqlite3_free(t->azVal[i]);
  sqlite3_free(t->azName);
  sqlite3_free(t->aFlag);
  sqlite3_free(t->aType);
  sqlite3_free(t->azVal);
  memset(t, 0, sizeof(*t));
}

/* The text of one cell for a text table, in zBuf or as a pointer into t. */
static const char *cell_text(const Table *t, int iRow, int iCol,
                             char *zBuf, int nBuf){
  size_t k = (size_t)iRow * (size_t)t->nCol + (size_t)iCol;
  const char *z = t->azVal[k];
  if( z==0 ) return "-";
  if( (t->aFlag[iCol] & (COL_AGE|COL_DURATION))
   && t->aType[k]==SQLITE_INTEGER ){
    char zAge[40];
    format_age((sqlite3_int64)strtoll(z, 0, 10), zAge, sizeof(zAge));
    snprintf(zBuf, (size_t)nBuf, "%s%s", zAge,
             (t->aFlag[iCol] & COL_AGE) ? " ago" : "");
    return zBuf;
  }
  return z;
}

static const char *head_of(const Table *t, int i){
  return t->azHead[i] ? t->azHead[i] : t->azName[i];
}

void table_print_text(const Table *t, const char *zIndent, FILE *out){
  int *aWidth, *aRight;
  int i, j, last = -1;
  char zBuf[64];
  aWidth = sqlite3_malloc64(sizeof(int) * (unsigned)t->nCol * 2 + 1);
  if( aWidth==0 ) return;
  aRight = aWidth + t->nCol;
  for(j=0; j<t->nCol; j++){
    if( t->aFlag[j] & COL_JSON_ONLY ) continue;
    last = j;
    aWidth[j] = safe_width(head_of(t, j));
    aRight[j] = -1;                 /* unknown until a non-NULL cell */
    for(i=0; i<t->nRow; i++){
      size_t k = (size_t)i * (size_t)t->nCol + (size_t)j;
      int w = safe_width(cell_text(t, i, j, zBuf, sizeof(zBuf)));
      if( w>aWidth[j] ) aWidth[j] = w;
      if( t->aType[k]==SQLITE_INTEGER ){
        if( aRight[j]<0 ) aRight[j] = 1;
      }else if( t->aType[k]!=SQLITE_NULL ){
        aRight[j] = 0;
      }
    }
    /* numbers right-aligned; text, ages, durations and all-NULL columns
    ** left */
    if( aRight[j]<0 || (t->aFlag[j] & (COL_AGE|COL_DURATION)) ) aRight[j] = 0;
  }
  for(i=-2; i<t->nRow; i++){
    fputs(zIndent, out);
    for(j=0; j<t->nCol; j++){
      const char *z;
      int pad;
      if( t->aFlag[j] & COL_JSON_ONLY ) continue;
      if( i==-2 ) z = head_of(t, j);
      else if( i==-1 ) z = 0;
      else z = cell_text(t, i, j, zBuf, sizeof(zBuf));
      if( z==0 ){
        int k;
        for(k=0; k<aWidth[j]; k++) fputc('-', out);
      }else{
        pad = aWidth[j] - safe_width(z);
        if( aRight[j] && i>=0 ) fprintf(out, "%*s", pad, "");
        cli_put_safe(z, 0, out);
        if( (!aRight[j] || i<0) && j!=last ) fprintf(out, "%*s", pad, "");
      }
      if( j!=last ) fputs("  ", out);
    }
    fputc('\n', out);
  }
  sqlite3_free(aWidth);
}

void table_print_json_row(const Table *t, int iRow, FILE *out){
  int j, nShown = 0;
  fputc('{', out);
  for(j=0; j<t->nCol; j++){
    size_t k = (size_t)iRow * (size_t)t->nCol + (size_t)j;
    if( t->aFlag[j] & COL_TEXT_ONLY ) continue;
    if( nShown++ ) fputs(", ", out);
    json_string(t->azName[j], out);
    fputs(": ", out);
    if( t->azVal[k] && (t->aType[k]==SQLITE_INTEGER
                        || t->aType[k]==SQLITE_FLOAT) ){
      json_number(t->azVal[k], out);
    }else{
      json_string(t->azVal[k], out);
    }
  }
  fputc('}', out);
}

void table_print_json(const Table *t, int multiline, FILE *out){
  int i;
  if( t->nRow==0 ){
    fputs("[]", out);
  }else{
    fputs(multiline ? "[\n" : "[", out);
    for(i=0; i<t->nRow; i++){
      if( multiline ) fputs("  ", out);
      table_print_json_row(t, i, out);
      if( i<t->nRow-1 ) fputs(multiline ? ",\n" : ", ", out);
    }
    fputs(multiline ? "\n]" : "]", out);
  }
  if( multiline ) fputc('\n', out);
}

/*
** Text for XML and HTML (the timeline's SVG and HTML): the five characters
** that markup reads escaped, and whatever is not text for a person -- a
** control character (XML 1.0 forbids most of them), a byte that is not
** UTF-8, the unsafe_cp() code points (a bidi override would make a
** manager's name read as another) -- as U+FFFD.  A hostile name is then
** shown as a name, never as markup.
*/
void xml_text(const char *zIn, FILE *out){
  const unsigned char *z = (const unsigned char*)zIn;
  size_t n, i = 0;
  if( z==0 ) return;
  n = strlen(zIn);
  while( i<n ){
    unsigned int cp;
    int len;
    switch( z[i] ){
      case '&':  fputs("&amp;", out); i++; continue;
      case '<':  fputs("&lt;", out); i++; continue;
      case '>':  fputs("&gt;", out); i++; continue;
      case '"':  fputs("&quot;", out); i++; continue;
      case '\'': fputs("&#39;", out); i++; continue;
      default: break;
    }
    if( z[i]<0x20 || z[i]==0x7f ){
      fputs("\xef\xbf\xbd", out);
      i++;
      continue;
    }
    len = utf8_decode(z+i, n-i, &cp);
    if( len==0 || unsafe_cp(cp) ){
      fputs("\xef\xbf\xbd", out);
      i += len ? (size_t)len : 1;
      continue;
    }
    fwrite(z+i, 1, (size_t)len, out);
    i += (size_t)len;
  }
}
