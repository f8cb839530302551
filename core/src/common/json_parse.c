#include "json_parse.h"

#include <locale.h>
#include <stdlib.h>
#include <string.h>

#include "sio.h"
#include "span.h"

/* A recursive-descent reader that builds the cJSON tree itself, so that the bytes of a string are
 * looked at once, in wide steps (span.h), and copied in runs with memcpy: cJSON's own parser went
 * over a string byte by byte twice (its end, then its copy), after a pass of ours for the escapes
 * it gets wrong. It accepts exactly the texts the former pre-pass + cJSON_ParseWithLengthOpts
 * pair accepted, and builds the same trees: tests/c/test_strings.c keeps that pair as its
 * reference and compares the two on random texts. */

typedef struct {
  const char *p, *end;
  int depth; /* containers open around p, bounded as cJSON bounds them */
  int err;   /* SIO_EPARSE or SIO_ENOMEM once failed */
} reader_t;

static int fail(reader_t *r, int err) {
  if (!r->err) r->err = err;
  return err;
}

/* Between tokens cJSON skips every byte from 0x01 to ' '; NUL is refused everywhere. */
static void skip_inner_ws(reader_t *r) {
  while (r->p < r->end && (unsigned char)(*r->p - 1) < ' ') r->p++;
}

static int is_ws(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

/* The four hex digits after "\u" at p; -1 when they are not there. */
static long escape_value(const char *p, const char *end) {
  if (end - p < 6 || p[1] != 'u') return -1;
  long v = 0;
  for (int k = 2; k < 6; k++) {
    char c = p[k];
    int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
          : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
    if (d < 0) return -1;
    v = v << 4 | d;
  }
  return v;
}

/* Writes the escape at p (p[0] == '\\', inside the string) to o; returns its length in the text
 * (0: refused) and advances *o. NUL becomes C0 80 and a surrogate without its partner its WTF-8
 * form ED A0..BF xx (json_parse.h); a pair is one character, in UTF-8. Never longer than the
 * escape it replaces, so the string's text length bounds its decoded length. */
static size_t unescape(const char *p, const char *end, char **o) {
  static const char simple[][2] = {{'b', '\b'}, {'f', '\f'}, {'n', '\n'}, {'r', '\r'},
                                   {'t', '\t'}, {'"', '"'},  {'\\', '\\'}, {'/', '/'}};
  unsigned char *u = (unsigned char *)*o;
  for (size_t k = 0; k < sizeof simple / sizeof *simple; k++)
    if (p[1] == simple[k][0]) {
      *(*o)++ = simple[k][1];
      return 2;
    }
  long v = escape_value(p, end);
  if (v < 0) return 0;
  size_t used = 6;
  if (v >= 0xD800 && v <= 0xDBFF && p[6] == '\\') {
    long low = escape_value(p + 6, end);
    if (low >= 0xDC00 && low <= 0xDFFF) {
      v = 0x10000 + ((v - 0xD800) << 10) + (low - 0xDC00);
      used = 12;
    }
  }
  if (v == 0) { /* NUL: two bytes, so that the C string goes on */
    u[0] = 0xC0;
    u[1] = 0x80;
    *o += 2;
  } else if (v < 0x80) {
    u[0] = (unsigned char)v;
    *o += 1;
  } else if (v < 0x800) {
    u[0] = (unsigned char)(0xC0 | v >> 6);
    u[1] = (unsigned char)(0x80 | (v & 0x3F));
    *o += 2;
  } else if (v < 0x10000) { /* a lone surrogate too: its three bytes are its WTF-8 */
    u[0] = (unsigned char)(0xE0 | v >> 12);
    u[1] = (unsigned char)(0x80 | ((v >> 6) & 0x3F));
    u[2] = (unsigned char)(0x80 | (v & 0x3F));
    *o += 3;
  } else {
    u[0] = (unsigned char)(0xF0 | v >> 18);
    u[1] = (unsigned char)(0x80 | ((v >> 12) & 0x3F));
    u[2] = (unsigned char)(0x80 | ((v >> 6) & 0x3F));
    u[3] = (unsigned char)(0x80 | (v & 0x3F));
    *o += 4;
  }
  return used;
}

/* r->p at '"': the decoded string, NUL-terminated, allocated with cJSON_malloc (cJSON_Delete
 * frees it); r->p after the closing quote. NULL on error (r->err). */
static char *read_string(reader_t *r) {
  const char *start = ++r->p, *end = r->end, *p = start, *first_escape = NULL;
  /* Pass 1, wide: the closing quote (an escape's second byte is never it). */
  for (;;) {
    p += sio_span_json_plain(p, (size_t)(end - p));
    if (p == end || *p == '\0') return fail(r, SIO_EPARSE), NULL;
    if (*p == '"') break;
    if (end - p < 2) return fail(r, SIO_EPARSE), NULL;
    if (!first_escape) first_escape = p;
    p += 2;
  }
  const char *close = p;
  char *out = cJSON_malloc((size_t)(close - start) + 1), *o = out;
  if (!out) return fail(r, SIO_ENOMEM), NULL;
  /* Pass 2: the text before the first escape (all of it, mostly) by one memcpy, then plain runs by
   * memcpy and escapes one by one, each read within the string found above (so "\u12" then the
   * closing quote is refused: four hex digits are wanted). */
  p = first_escape ? first_escape : close;
  memcpy(o, start, (size_t)(p - start));
  o += p - start;
  while (p < close) {
    size_t run = sio_span_json_plain(p, (size_t)(close - p));
    memcpy(o, p, run);
    o += run;
    p += run;
    if (p == close) break;
    size_t used = unescape(p, close, &o); /* *p == '\\' */
    if (!used) {
      cJSON_free(out);
      return fail(r, SIO_EPARSE), NULL;
    }
    p += used;
  }
  *o = '\0';
  r->p = close + 1;
  return out;
}

/* As cJSON (1.7.18, and Debian's 1.7.15 since CVE-2023-26819) reads a number: the whole run of the
 * characters of numbers, '.' as the locale's decimal point, read by strtod, which may stop before
 * the run's end ("1e" is 1, then 'e' is the next token's, refused). */
static cJSON *read_number(reader_t *r) {
  char small[64], *buf = small;
  size_t n = 0;
  while (r->p + n < r->end && strchr("0123456789+-eE.", r->p[n]) && r->p[n]) n++;
  if (n >= sizeof small && !(buf = malloc(n + 1))) return fail(r, SIO_ENOMEM), NULL;
  for (size_t i = 0; i < n; i++) buf[i] = r->p[i] == '.' ? localeconv()->decimal_point[0] : r->p[i];
  buf[n] = '\0';
  char *after;
  double d = strtod(buf, &after);
  size_t used = (size_t)(after - buf);
  if (buf != small) free(buf);
  if (!used) return fail(r, SIO_EPARSE), NULL;
  r->p += used;
  cJSON *item = cJSON_CreateNumber(d);
  if (!item) fail(r, SIO_ENOMEM);
  return item;
}

static cJSON *read_value(reader_t *r);

/* r->p after '[' or '{': the items up to the closing bracket, linked as cJSON links them (the
 * first one's prev is the last). */
static cJSON *read_container(reader_t *r, int obj) {
  if (r->depth >= CJSON_NESTING_LIMIT) return fail(r, SIO_EPARSE), NULL;
  cJSON *c = obj ? cJSON_CreateObject() : cJSON_CreateArray(), *last = NULL;
  if (!c) return fail(r, SIO_ENOMEM), NULL;
  r->depth++;
  char close = obj ? '}' : ']';
  skip_inner_ws(r);
  if (r->p < r->end && *r->p == close) {
    r->p++;
    r->depth--;
    return c;
  }
  for (;;) {
    char *key = NULL;
    skip_inner_ws(r);
    if (obj) {
      if (r->p == r->end || *r->p != '"') break;
      if (!(key = read_string(r))) break;
      skip_inner_ws(r);
      if (r->p == r->end || *r->p != ':') {
        cJSON_free(key);
        break;
      }
      r->p++;
      skip_inner_ws(r);
    }
    cJSON *item = read_value(r);
    if (!item) {
      cJSON_free(key);
      break;
    }
    item->string = key;
    if (last) {
      last->next = item;
      item->prev = last;
    } else {
      c->child = item;
    }
    last = item;
    skip_inner_ws(r);
    if (r->p < r->end && *r->p == ',') {
      r->p++;
      continue;
    }
    if (r->p < r->end && *r->p == close) {
      r->p++;
      c->child->prev = last;
      r->depth--;
      return c;
    }
    break;
  }
  if (c->child) c->child->prev = last;
  cJSON_Delete(c);
  return fail(r, SIO_EPARSE), NULL;
}

static cJSON *literal(reader_t *r, const char *word, size_t n, cJSON *(*make)(void)) {
  if ((size_t)(r->end - r->p) < n || memcmp(r->p, word, n) != 0) return fail(r, SIO_EPARSE), NULL;
  r->p += n;
  cJSON *item = make();
  if (!item) fail(r, SIO_ENOMEM);
  return item;
}

static cJSON *read_value(reader_t *r) {
  if (r->p == r->end) return fail(r, SIO_EPARSE), NULL;
  char c = *r->p;
  if (c == '"') {
    char *s = read_string(r);
    cJSON *item = s ? cJSON_CreateNull() : NULL;
    if (!item) {
      cJSON_free(s);
      if (s) fail(r, SIO_ENOMEM);
      return NULL;
    }
    item->type = cJSON_String; /* s is moved in: no second copy as cJSON_CreateString makes */
    item->valuestring = s;
    return item;
  }
  if (c == '-' || (c >= '0' && c <= '9')) return read_number(r);
  if (c == '[' || c == '{') {
    r->p++;
    return read_container(r, c == '{');
  }
  if (c == 'n') return literal(r, "null", 4, cJSON_CreateNull);
  if (c == 't') return literal(r, "true", 4, cJSON_CreateTrue);
  if (c == 'f') return literal(r, "false", 5, cJSON_CreateFalse);
  return fail(r, SIO_EPARSE), NULL;
}

int sio_json_parse(const char *text, size_t len, cJSON **out) {
  reader_t r = {text, text + len, 0, 0};
  /* Around the value, only JSON.parse's whitespace (cJSON would also skip a BOM and any byte up to
   * ' ': the value's first byte is then not one it may start with, and is refused). */
  while (r.p < r.end && is_ws(*r.p)) r.p++;
  cJSON *j = read_value(&r);
  while (j && r.p < r.end && is_ws(*r.p)) r.p++;
  if (j && r.p == r.end) {
    *out = j;
    return 0;
  }
  cJSON_Delete(j);
  *out = NULL;
  return r.err == SIO_ENOMEM ? SIO_ENOMEM : SIO_EPARSE;
}
