#include "utf8.h"

#include <stdint.h>

#include "span.h"

static int valid(const char *s, size_t len, int surrogates) {
  const unsigned char *p = (const unsigned char *)s, *end = p + len;
  while (p < end) {
    unsigned c = *p;
    if (c < 0x80) {
      /* ASCII is valid whatever it is: skip the whole run in wide steps. */
      p += sio_span_ascii((const char *)p, (size_t)(end - p));
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

int sio_utf8_valid(const char *s, size_t len) { return valid(s, len, 0); }
int sio_wtf8_valid(const char *s, size_t len) { return valid(s, len, 1); }

static size_t seq_len(unsigned char c) {
  if (c < 0x80) return 1;
  if ((c & 0xe0) == 0xc0) return 2;
  if ((c & 0xf0) == 0xe0) return 3;
  if ((c & 0xf8) == 0xf0) return 4;
  return 1; /* stray continuation byte: counted as one unit, as a decoder's U+FFFD would be */
}

size_t sio_utf8_utf16_len(const char *s, size_t len) {
  const unsigned char *p = (const unsigned char *)s;
  size_t i = 0, units = 0;
  while (i < len) {
    if (p[i] < 0x80) { /* an ASCII run: one unit a byte, counted in wide steps */
      size_t run = sio_span_ascii(s + i, len - i);
      units += run;
      i += run;
      continue;
    }
    size_t n = seq_len(p[i]);
    units += n == 4 ? 2 : 1;
    i += n;
  }
  return units;
}

size_t sio_utf8_skip_utf16(const char *s, size_t len, size_t units) {
  const unsigned char *p = (const unsigned char *)s;
  size_t i = 0;
  while (units > 0) {
    if (i >= len) return (size_t)-1;
    if (p[i] < 0x80) { /* an ASCII run, up to the units still wanted */
      size_t run = sio_span_ascii(s + i, len - i < units ? len - i : units);
      units -= run;
      i += run;
      continue;
    }
    size_t n = seq_len(p[i]);
    size_t u = n == 4 ? 2 : 1;
    if (u > units) return (size_t)-1;
    if (i + n > len) return (size_t)-1;
    units -= u;
    i += n;
  }
  return i;
}
