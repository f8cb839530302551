/* Slow references for the string fast paths (issue 22), kept out of the library: byte-at-a-time
 * scans, utf8.c and the JSON string writer as they were before their wide steps, and the JSON
 * reader as it was (a pre-pass for the escapes cJSON gets wrong, then cJSON itself). Shared by
 * tests/c/test_strings.c and tests/fuzz/fuzz_strings.c. */
#ifndef SIO_STRINGS_REF_H
#define SIO_STRINGS_REF_H

#include <cjson/cJSON.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sio.h"

/* ---- slow references ---- */

static inline size_t ref_span(const char *s, size_t len, int kind) {
  size_t i = 0;
  for (; i < len; i++) {
    unsigned char c = (unsigned char)s[i];
    if (kind == 0 && c >= 0x80) break;
    if (kind == 1 && (c == '"' || c == '\\' || c == 0)) break;
    if (kind == 2 && (c < 0x20 || c == '"' || c == '\\' || c == 0xC0 || c == 0xED)) break;
  }
  return i;
}

/* utf8.c before the wide skip. */
static inline int ref_valid(const char *s, size_t len, int surrogates) {
  const unsigned char *p = (const unsigned char *)s, *end = p + len;
  while (p < end) {
    unsigned c = *p;
    if (c < 0x80) {
      p++;
      continue;
    }
    size_t n;
    uint32_t cp, min;
    if ((c & 0xe0) == 0xc0) { n = 1; cp = c & 0x1f; min = 0x80; }
    else if ((c & 0xf0) == 0xe0) { n = 2; cp = c & 0x0f; min = 0x800; }
    else if ((c & 0xf8) == 0xf0) { n = 3; cp = c & 0x07; min = 0x10000; }
    else return 0;
    if ((size_t)(end - p) <= n) return 0;
    for (size_t i = 1; i <= n; i++) {
      if ((p[i] & 0xc0) != 0x80) return 0;
      cp = (cp << 6) | (p[i] & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (!surrogates && cp >= 0xd800 && cp <= 0xdfff)) return 0;
    p += n + 1;
  }
  return 1;
}

static inline size_t ref_seq_len(unsigned char c) {
  return c < 0x80 ? 1 : (c & 0xe0) == 0xc0 ? 2 : (c & 0xf0) == 0xe0 ? 3 : (c & 0xf8) == 0xf0 ? 4 : 1;
}

static inline size_t ref_utf16_len(const char *s, size_t len) {
  size_t i = 0, units = 0;
  while (i < len) {
    size_t n = ref_seq_len((unsigned char)s[i]);
    units += n == 4 ? 2 : 1;
    i += n;
  }
  return units;
}

static inline size_t ref_skip_utf16(const char *s, size_t len, size_t units) {
  size_t i = 0;
  while (units > 0) {
    if (i >= len) return (size_t)-1;
    size_t n = ref_seq_len((unsigned char)s[i]);
    size_t u = n == 4 ? 2 : 1;
    if (u > units || i + n > len) return (size_t)-1;
    units -= u;
    i += n;
  }
  return i;
}

/* json_parse.c before its own reader: escapes cJSON gets wrong rewritten first, then cJSON. */
/* Reads the four hex digits after "\u" at p (end bounds the text); -1 when they are not there. */
static inline long escape_value(const char *p, const char *end) {
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
static inline int hide_escapes(const char *json, size_t len, char **out, size_t *out_len) {
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

static inline int ref_is_ws(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

static inline int ref_parse(const char *text, size_t len, cJSON **out) {
  *out = NULL;
  if (memchr(text, '\0', len)) return SIO_EPARSE;
  size_t k = 0;
  while (k < len && ref_is_ws(text[k])) k++;
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
  while (!bad && end < text + len && ref_is_ws(*end)) end++;
  bad = bad || end != text + len;
  free(hidden);
  if (bad) {
    cJSON_Delete(j);
    return SIO_EPARSE;
  }
  *out = j;
  return 0;
}

/* json_write.c's string writer before the wide scan, into a plain buffer (6 bytes a byte at most). */
static inline size_t ref_write_string(const char *str, char *o0) {
  static const char esc[256] = {
      'Z', 'u', 'u', 'u', 'u', 'u', 'u', 'u', 'b', 't', 'n', 'u', 'f', 'r', 'u', 'u',
      'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u',
      ['"'] = '"', ['\\'] = '\\', [0xC0] = 'C', [0xED] = 'S'};
  static const char hex[] = "0123456789abcdef";
  const unsigned char *s = (const unsigned char *)str;
  char *o = o0;
  *o++ = '"';
  for (;;) {
    char e = esc[*s];
    if (!e || (e == 'C' && s[1] != 0x80) ||
        (e == 'S' && (s[1] < 0xA0 || s[1] > 0xBF || (s[2] & 0xC0) != 0x80))) {
      *o++ = (char)*s++;
      continue;
    }
    if (e == 'Z') break;
    if (e == 'C') {
      memcpy(o, "\\u0000", 6);
      o += 6;
      s += 2;
    } else if (e == 'S') {
      unsigned cp = 0xD000u | (unsigned)(s[1] & 0x3F) << 6 | (unsigned)(s[2] & 0x3F);
      if (cp < 0xDC00 && s[3] == 0xED && s[4] >= 0xB0 && s[4] <= 0xBF && (s[5] & 0xC0) == 0x80) {
        unsigned lo = 0xD000u | (unsigned)(s[4] & 0x3F) << 6 | (unsigned)(s[5] & 0x3F);
        unsigned c = 0x10000u + ((cp - 0xD800u) << 10) + (lo - 0xDC00u);
        *o++ = (char)(0xF0 | c >> 18);
        *o++ = (char)(0x80 | ((c >> 12) & 0x3F));
        *o++ = (char)(0x80 | ((c >> 6) & 0x3F));
        *o++ = (char)(0x80 | (c & 0x3F));
        s += 6;
        continue;
      }
      o += sprintf(o, "\\ud%c%c%c", hex[(cp >> 8) & 15], hex[(cp >> 4) & 15], hex[cp & 15]);
      s += 3;
    } else if (e == 'u') {
      o += sprintf(o, "\\u00%c%c", hex[*s >> 4], hex[*s & 15]);
      s++;
    } else {
      *o++ = '\\';
      *o++ = e;
      s++;
    }
  }
  *o++ = '"';
  return (size_t)(o - o0);
}

/* ---- helpers ---- */

static inline int same_tree(const cJSON *a, const cJSON *b) {
  for (; a || b; a = a->next, b = b->next) {
    if (!a || !b || a->type != b->type) return 0;
    if ((a->string == NULL) != (b->string == NULL) || (a->string && strcmp(a->string, b->string))) return 0;
    if (cJSON_IsString(a) && strcmp(a->valuestring, b->valuestring)) return 0;
    if (cJSON_IsNumber(a) && (memcmp(&a->valuedouble, &b->valuedouble, sizeof(double)) ||
                              a->valueint != b->valueint))
      return 0;
    if ((a->child || b->child) && (!a->child || !b->child || a->child->prev == NULL ||
                                   !same_tree(a->child, b->child)))
      return 0;
  }
  return 1;
}

#endif
