#include "json_parse.h"

#include <stdlib.h>
#include <string.h>

#include "sio.h"

/* Reads the four hex digits after "\u" at p (end bounds the text); -1 when they are not there. */
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

/* Rewrites the NUL and lone-surrogate escapes of the JSON text into the core's bytes (never longer
 * than the escape), leaving paired surrogates to cJSON, and refuses a "\u" without four hex
 * digits. Returns 0 with *out the rewritten copy (NULL when there was nothing to rewrite),
 * SIO_EPARSE or SIO_ENOMEM. */
static int hide_escapes(const char *json, size_t len, char **out, size_t *out_len) {
  char *copy = NULL, *o = NULL;
  const char *p = json, *end = json + len, *run = json;
  *out = NULL;
  while ((p = memchr(p, '\\', (size_t)(end - p))) != NULL) {
    long v = escape_value(p, end);
    if (v < 0 && p + 1 < end && p[1] == 'u') {
      free(copy);
      return SIO_EPARSE;
    }
    size_t skip = v < 0 ? 2 : 6;
    int lone = v >= 0xD800 && v <= 0xDFFF;
    if (v >= 0xD800 && v <= 0xDBFF) {
      long low = escape_value(p + 6, end);
      if (p + 6 < end && p[6] == '\\' && low >= 0xDC00 && low <= 0xDFFF) {
        lone = 0; /* a pair: cJSON's to decode */
        skip = 12;
      }
    }
    if (v != 0 && !lone) {
      /* "\\u0000" is a backslash then text: escapes are skipped whole. */
      if ((size_t)(end - p) < skip) break;
      p += skip;
      continue;
    }
    if (!copy && !(o = copy = malloc(len))) return SIO_ENOMEM;
    memcpy(o, run, (size_t)(p - run));
    o += p - run;
    if (v == 0) {
      *o++ = (char)0xC0;
      *o++ = (char)0x80;
    } else {
      *o++ = (char)0xED;
      *o++ = (char)(0x80 | ((v >> 6) & 0x3F));
      *o++ = (char)(0x80 | (v & 0x3F));
    }
    p += 6;
    run = p;
  }
  if (!copy) return 0;
  memcpy(o, run, (size_t)(end - run));
  o += end - run;
  *out = copy;
  *out_len = (size_t)(o - copy);
  return 0;
}

static int is_ws(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

int sio_json_parse(const char *text, size_t len, cJSON **out) {
  *out = NULL;
  if (memchr(text, '\0', len)) return SIO_EPARSE;
  size_t k = 0;
  while (k < len && is_ws(text[k])) k++;
  /* What cJSON would skip but JSON.parse does not: a BOM, other bytes up to ' '. */
  if (k == len || (unsigned char)text[k] <= ' ' || (unsigned char)text[k] == 0xEF) return SIO_EPARSE;
  char *hidden;
  size_t hlen = 0;
  int r = hide_escapes(text, len, &hidden, &hlen);
  if (r) return r;
  if (hidden) {
    text = hidden;
    len = hlen;
  }
  const char *end = NULL;
  cJSON *j = cJSON_ParseWithLengthOpts(text, len, &end, 0);
  int bad = !j || !end || end < text || end > text + len;
  while (!bad && end < text + len && is_ws(*end)) end++;
  bad = bad || end != text + len;
  free(hidden);
  if (bad) {
    cJSON_Delete(j);
    return SIO_EPARSE;
  }
  *out = j;
  return 0;
}
