#include "url.h"

#include "utf8.h"

static int hexval(unsigned char c) {
  if (c >= '0' && c <= '9') return c - '0';
  c |= 0x20;
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

int sio_url_next(const char *s, size_t n, size_t *i) {
  unsigned char c = (unsigned char)s[*i];
  if (c == '+') {
    (*i)++;
    return ' ';
  }
  if (c == '%' && n - *i >= 3) {
    int h = hexval((unsigned char)s[*i + 1]), l = hexval((unsigned char)s[*i + 2]);
    if (h >= 0 && l >= 0) {
      *i += 3;
      return h << 4 | l;
    }
  }
  (*i)++;
  return c;
}

size_t sio_url_decode(const char *s, size_t n, char *out) {
  size_t i = 0, o = 0;
  while (i < n) out[o++] = (char)sio_url_next(s, n, &i);
  return o;
}

/* ASCII without escapes is text as it stands (a URL's raw bytes hold no NUL: the HTTP parser
 * refuses control characters, and one here would be refused too): most requests decode nothing. */
static int plain_ascii(const char *s, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (s[i] == '%' || (unsigned char)s[i] >= 0x80 || s[i] == '\0') return 0;
  return 1;
}

/* Decodes and checks one UTF-8 sequence at a time: no buffer, whatever the length. */
int sio_url_is_text(const char *s, size_t n) {
  if (plain_ascii(s, n)) return 1;
  char seq[4];
  size_t i = 0, have = 0, need = 0;
  while (i < n) {
    unsigned char c = (unsigned char)sio_url_next(s, n, &i);
    if (c == 0) return 0;
    if (have == 0) {
      need = c < 0x80 ? 1 : (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : (c & 0xF8) == 0xF0 ? 4 : 0;
      if (need == 0) return 0; /* a continuation byte, or no UTF-8 lead byte */
    }
    seq[have++] = (char)c;
    if (have == need) {
      if (!sio_utf8_valid(seq, have)) return 0;
      have = 0;
    }
  }
  return have == 0;
}

int sio_url_query_is_text(const char *q, size_t n) {
  if (plain_ascii(q, n)) return 1;
  size_t i = 0;
  while (i < n) {
    size_t e = i;
    while (e < n && q[e] != '&') e++;
    size_t eq = i;
    while (eq < e && q[eq] != '=') eq++;
    if (!sio_url_is_text(q + i, eq - i)) return 0;
    if (eq < e && !sio_url_is_text(q + eq + 1, e - eq - 1)) return 0;
    i = e + 1;
  }
  return 1;
}
