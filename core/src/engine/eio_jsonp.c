#include "eio_jsonp.h"

#include <string.h>

#include "sio.h"
#include "url.h"

#define JSONP_MAX_DIGITS 9 /* fits a uint32_t */

int sio_eio_jsonp_index(const char *v, size_t len, uint32_t *out) {
  if (len == 0 || len > JSONP_MAX_DIGITS) return SIO_EINVAL;
  uint32_t n = 0;
  for (size_t i = 0; i < len; i++) {
    if (v[i] < '0' || v[i] > '9') return SIO_EINVAL;
    n = n * 10 + (uint32_t)(v[i] - '0');
  }
  *out = n;
  return 0;
}

/* Bytes that go out as they are: everything but the quote, the backslash, C0 controls and the
 * lead byte 0xE2 (U+2028/U+2029) or 0xED (surrogates in WTF-8), which need a closer look. */
static int plain_byte(unsigned char c) {
  return c >= 0x20 && c != '"' && c != '\\' && c != 0xE2 && c != 0xED;
}

static int append_u_escape(sio_sbuf_t *b, unsigned v) {
  static const char hex[] = "0123456789abcdef";
  char e[6] = {'\\', 'u', hex[(v >> 12) & 15], hex[(v >> 8) & 15], hex[(v >> 4) & 15], hex[v & 15]};
  return sio_sbuf_append(b, e, sizeof e);
}

/* One byte (or sequence) at p[*i] that is not plain; advances *i. */
static int escape_at(sio_sbuf_t *b, const unsigned char *p, size_t n, size_t *i) {
  unsigned char c = p[*i];
  size_t left = n - *i;
  if (c == 0xE2 && left >= 3 && p[*i + 1] == 0x80 && (p[*i + 2] == 0xA8 || p[*i + 2] == 0xA9)) {
    unsigned v = p[*i + 2] == 0xA8 ? 0x2028 : 0x2029;
    *i += 3;
    return append_u_escape(b, v);
  }
  if (c == 0xED && left >= 3 && p[*i + 1] >= 0xA0) {
    /* A surrogate code unit on its own (WTF-8): JSON.stringify writes it as an escape. */
    unsigned v = (unsigned)(c & 0x0F) << 12 | (unsigned)(p[*i + 1] & 0x3F) << 6 | (p[*i + 2] & 0x3F);
    *i += 3;
    return append_u_escape(b, v);
  }
  *i += 1;
  if (c >= 0x20 && c != '"' && c != '\\') return sio_sbuf_append_char(b, (char)c);
  char two[2] = {'\\', 0};
  switch (c) {
  case '"': two[1] = '"'; break;
  case '\\': two[1] = '\\'; break;
  case '\b': two[1] = 'b'; break;
  case '\f': two[1] = 'f'; break;
  case '\n': two[1] = 'n'; break;
  case '\r': two[1] = 'r'; break;
  case '\t': two[1] = 't'; break;
  default: return append_u_escape(b, c);
  }
  return sio_sbuf_append(b, two, 2);
}

int sio_eio_jsonp_wrap(sio_sbuf_t *out, uint32_t index, const char *payload, size_t len) {
  const unsigned char *p = (const unsigned char *)payload;
  /* Most payloads need few escapes: one reservation for the plain case. */
  if (sio_sbuf_reserve(out, len + 24) || sio_sbuf_append_str(out, "___eio[") ||
      sio_sbuf_append_u64(out, index) || sio_sbuf_append(out, "](\"", 3))
    return SIO_ENOMEM;
  size_t i = 0;
  while (i < len) {
    size_t run = i;
    while (run < len && plain_byte(p[run])) run++;
    if (run > i && sio_sbuf_append(out, payload + i, run - i)) return SIO_ENOMEM;
    i = run;
    if (i < len && escape_at(out, p, len, &i)) return SIO_ENOMEM;
  }
  return sio_sbuf_append(out, "\");", 3) ? SIO_ENOMEM : 0;
}

/* Undoes the client's newline escaping in place, in the reference's two passes: first a
 * backslash-n not preceded by a backslash becomes a newline (a double backslash-n is left as it
 * is), then every double backslash-n becomes backslash-n. Returns the new length. */
static size_t unescape_newlines(char *s, size_t n) {
  size_t i = 0, o = 0;
  while (i < n) {
    if (s[i] == '\\' && i + 2 < n && s[i + 1] == '\\' && s[i + 2] == 'n') {
      memmove(s + o, s + i, 3);
      o += 3;
      i += 3;
    } else if (s[i] == '\\' && i + 1 < n && s[i + 1] == 'n') {
      s[o++] = '\n';
      i += 2;
    } else {
      s[o++] = s[i++];
    }
  }
  n = o;
  i = o = 0;
  while (i < n) {
    if (s[i] == '\\' && i + 2 < n && s[i + 1] == '\\' && s[i + 2] == 'n') {
      s[o++] = '\\';
      s[o++] = 'n';
      i += 3;
    } else {
      s[o++] = s[i++];
    }
  }
  return o;
}

/* 1 when the form field name s[0..n) decodes to "d". */
static int name_is_d(const char *s, size_t n) {
  size_t i = 0;
  return n > 0 && sio_url_next(s, n, &i) == 'd' && i == n;
}

long sio_eio_jsonp_form(char *body, size_t len) {
  const char *val = NULL;
  size_t vlen = 0;
  int found = 0;
  size_t i = 0;
  while (i < len) {
    size_t e = i;
    while (e < len && body[e] != '&') e++;
    size_t eq = i;
    while (eq < e && body[eq] != '=') eq++;
    if (name_is_d(body + i, eq - i)) {
      if (found++) return -1; /* "d=a&d=b": an array to the reference, no string */
      val = eq < e ? body + eq + 1 : body + e;
      vlen = eq < e ? e - eq - 1 : 0;
    }
    i = e + 1;
  }
  if (!found) return -1;
  /* Decoding only shrinks, and the value lies at or after body[0]: moved down in place. */
  size_t n = sio_url_decode(val, vlen, body);
  return (long)unescape_newlines(body, n);
}
