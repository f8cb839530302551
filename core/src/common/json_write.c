#include "json_write.h"

#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sio.h"
#include "span.h"

/* ---- numbers ---- */

/* 2^53: below it every integer is a double, and an integral double fits an int64_t. */
#define EXACT_INT_LIMIT 9007199254740992.0

static size_t put_digits(char *o, uint64_t v) {
  char tmp[20];
  size_t n = 0;
  do {
    tmp[sizeof tmp - 1 - n++] = (char)('0' + v % 10);
    v /= 10;
  } while (v);
  memcpy(o, tmp + sizeof tmp - n, n);
  return n;
}

/* d finite, not an integer below 1e21: the fewest significant digits that read back as d, laid
 * out as JavaScript's Number::toString does. */
static size_t shortest(double d, char *buf) {
  char tmp[48];
  /* DBL_DIG (15) digits always suffice to tell normal doubles apart when a shorter text does: a
   * 15-digit rounding that reads back is the shortest text padded with zeros. Subnormals hold fewer
   * digits (5e-324), so they search from 1. */
  for (int prec = fabs(d) < DBL_MIN ? 1 : 15;; prec++) {
    snprintf(tmp, sizeof tmp, "%.*e", prec - 1, d);
    /* strtod reads what snprintf wrote in the same locale, whatever its decimal point. */
    if (prec >= 17 || strtod(tmp, NULL) == d) break;
  }
  /* tmp is [-]D[<point>DDD]e(+|-)XX: keep the digits, whatever the point is, and the exponent. */
  const char *q = tmp;
  char *o = buf;
  if (*q == '-') {
    *o++ = '-';
    q++;
  }
  char dig[20];
  int k = 0;
  for (; *q && *q != 'e'; q++)
    if (*q >= '0' && *q <= '9' && k < (int)sizeof dig) dig[k++] = *q;
  int e = 0, eneg = 0;
  if (*q == 'e') {
    q++;
    if (*q == '-' || *q == '+') eneg = *q++ == '-';
    for (; *q >= '0' && *q <= '9'; q++) e = e * 10 + (*q - '0');
  }
  if (eneg) e = -e;
  while (k > 1 && dig[k - 1] == '0') k--;
  /* The value is 0.dig[0..k) x 10^n. */
  int n = e + 1;
  if (k <= n && n <= 21) {
    memcpy(o, dig, (size_t)k);
    o += k;
    memset(o, '0', (size_t)(n - k));
    o += n - k;
  } else if (0 < n && n <= 21) {
    memcpy(o, dig, (size_t)n);
    o += n;
    *o++ = '.';
    memcpy(o, dig + n, (size_t)(k - n));
    o += k - n;
  } else if (-6 < n && n <= 0) {
    *o++ = '0';
    *o++ = '.';
    memset(o, '0', (size_t)-n);
    o += -n;
    memcpy(o, dig, (size_t)k);
    o += k;
  } else {
    *o++ = dig[0];
    if (k > 1) {
      *o++ = '.';
      memcpy(o, dig + 1, (size_t)(k - 1));
      o += k - 1;
    }
    *o++ = 'e';
    *o++ = n - 1 < 0 ? '-' : '+';
    o += put_digits(o, (uint64_t)(n - 1 < 0 ? 1 - n : n - 1));
  }
  *o = '\0';
  return (size_t)(o - buf);
}

#if FLT_EVAL_METHOD == 0
/* The fast path for short decimals (0.5, 12.34, 0.000123: what applications mostly send), without
 * printf or strtod. m / 10^k, both exact doubles (m < 10^15 < 2^53, k <= 15), is the correctly
 * rounded quotient, so it equals d exactly when strtod would read the decimal m x 10^-k back as d;
 * the first k that does gives the fewest digits, and with at most 15 significant digits (DBL_DIG)
 * no other decimal as short reads back as d: the very text shortest() would write. d is finite and
 * not an integer; 0 when the fast path does not apply. */
static size_t short_decimal(double d, char *buf) {
  static const double p10[] = {1e0, 1e1, 1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                               1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15};
  static const uint64_t u10[] = {1ULL, 10ULL, 100ULL, 1000ULL, 10000ULL, 100000ULL, 1000000ULL,
                                 10000000ULL, 100000000ULL, 1000000000ULL, 10000000000ULL,
                                 100000000000ULL, 1000000000000ULL, 10000000000000ULL,
                                 100000000000000ULL, 1000000000000000ULL};
  double a = fabs(d);
  /* Below 1e-6 JSON.stringify writes an exponent: left to shortest(). */
  if (!(a >= 1e-6 && a < 1e15)) return 0;
  for (int k = 1; k <= 15; k++) {
    double s = a * p10[k];
    if (s >= 1e15) return 0; /* more than 15 significant digits */
    double m = floor(s + 0.5);
    if (m / p10[k] != a) continue;
    uint64_t um = (uint64_t)m, ip = um / u10[k], fp = um % u10[k];
    char *o = buf;
    if (d < 0) *o++ = '-';
    o += put_digits(o, ip);
    *o++ = '.';
    int digits = k;
    while (digits > 1 && fp % 10 == 0) { /* k is the least, so none is expected: a safeguard */
      fp /= 10;
      digits--;
    }
    for (int i = digits - 1; i >= 0; i--) {
      o[i] = (char)('0' + fp % 10);
      fp /= 10;
    }
    o += digits;
    *o = '\0';
    return (size_t)(o - buf);
  }
  return 0;
}
#endif

size_t sio_json_number(double d, char buf[SIO_JSON_NUMBER_MAX]) {
  size_t n;
  if (!isfinite(d)) {
    memcpy(buf, "null", 5);
    return 4;
  }
  double a = fabs(d);
  if (a < EXACT_INT_LIMIT && (double)(int64_t)d == d) {
    /* The common case: integers, 0 and -0 (written 0) among them. */
    int64_t i = (int64_t)d;
    n = 0;
    if (i < 0) buf[n++] = '-';
    n += put_digits(buf + n, i < 0 ? (uint64_t)0 - (uint64_t)i : (uint64_t)i);
    buf[n] = '\0';
    return n;
  }
  if (a < 1e21 && floor(d) == d) {
    /* Every digit of the double's exact value; no decimal point, so no locale either. */
    int w = snprintf(buf, SIO_JSON_NUMBER_MAX, "%.0f", d);
    return w > 0 ? (size_t)w : 0;
  }
#if FLT_EVAL_METHOD == 0
  if ((n = short_decimal(d, buf)) != 0) return n;
#endif
  return shortest(d, buf);
}

/* ---- strings ---- */

/* For each byte: 0 when written as it is; else what follows the backslash ('u': \u00xx), with
 * three markers: 'Z' for the terminating NUL, 'C' for 0xC0 (\u0000 when 0x80 follows) and 'S' for
 * 0xED (a lone surrogate \udxxx when A0..BF follows; ED 80..9F is U+D000..U+D7FF, written as it
 * is). */
static const char esc[256] = {
    'Z', 'u', 'u', 'u', 'u', 'u', 'u', 'u', 'b', 't', 'n', 'u', 'f', 'r', 'u', 'u',
    'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u',
    ['"'] = '"', ['\\'] = '\\', [0xC0] = 'C', [0xED] = 'S'};

static inline int put1(sio_sbuf_t *b, char c) {
  if (b->len < b->cap) {
    b->data[b->len++] = c;
    return 0;
  }
  return sio_sbuf_append_char(b, c);
}

/* A NULL string is written "" (as cJSON prints it). */
static int write_string(sio_sbuf_t *out, const char *str) {
  static const char hex[] = "0123456789abcdef";
  const unsigned char *s = (const unsigned char *)(str ? str : "");
  if (put1(out, '"')) return SIO_ENOMEM;
  const unsigned char *end = s + strlen((const char *)s);
  for (;;) {
    /* Room for the rest written as it is (escapes make more room when they need it), then wide
     * steps copying the bytes written as they are (esc[] is 0 for exactly those) straight to the
     * output. The scan stops at end, where the terminating NUL reads as 'Z'. */
    size_t rest = (size_t)(end - s);
    if (sio_sbuf_reserve(out, rest + 1)) return SIO_ENOMEM;
    size_t run = sio_span_json_safe_copy(out->data + out->len, (const char *)s, rest);
    out->len += run;
    s += run;
    char e = esc[*s];
    if ((e == 'C' && s[1] != 0x80) || (e == 'S' && (s[1] < 0xA0 || s[1] > 0xBF || (s[2] & 0xC0) != 0x80))) {
      /* A stray 0xC0 (not ours to fix) or a character below U+D800: written as it is, in the room
       * reserved above. */
      out->data[out->len++] = (char)*s++;
      continue;
    }
    if (e == 'Z') break;
    char seq[6] = {'\\', e, '0', '0', '0', '0'};
    size_t n = 2;
    if (e == 'C') {
      seq[1] = 'u';
      n = 6;
      s += 2;
    } else if (e == 'S') { /* U+D800..U+DFFF from ED 101xxxxx 10yyyyyy: "\\ud" then 3 hex digits */
      unsigned cp = 0xD000u | (unsigned)(s[1] & 0x3F) << 6 | (unsigned)(s[2] & 0x3F);
      if (cp < 0xDC00 && s[3] == 0xED && s[4] >= 0xB0 && s[4] <= 0xBF && (s[5] & 0xC0) == 0x80) {
        /* A high then a low surrogate are one character (as in a JavaScript string): its UTF-8. */
        unsigned lo = 0xD000u | (unsigned)(s[4] & 0x3F) << 6 | (unsigned)(s[5] & 0x3F);
        unsigned c = 0x10000u + ((cp - 0xD800u) << 10) + (lo - 0xDC00u);
        char u[4] = {(char)(0xF0 | c >> 18), (char)(0x80 | ((c >> 12) & 0x3F)),
                     (char)(0x80 | ((c >> 6) & 0x3F)), (char)(0x80 | (c & 0x3F))};
        if (sio_sbuf_append(out, u, 4)) return SIO_ENOMEM;
        s += 6;
        continue;
      }
      seq[1] = 'u';
      seq[2] = 'd';
      seq[3] = hex[(cp >> 8) & 15];
      seq[4] = hex[(cp >> 4) & 15];
      seq[5] = hex[cp & 15];
      n = 6;
      s += 3;
    } else {
      if (e == 'u') {
        seq[4] = hex[*s >> 4];
        seq[5] = hex[*s & 15];
        n = 6;
      }
      s++;
    }
    if (sio_sbuf_append(out, seq, n)) return SIO_ENOMEM;
  }
  return put1(out, '"') ? SIO_ENOMEM : 0;
}

/* ---- trees ---- */

/* `depth` counts the containers around item. */
static int write_item(sio_sbuf_t *out, const cJSON *item, int depth, int max_depth) {
  switch (item->type & 0xFF) {
    case cJSON_NULL:
      return sio_sbuf_append(out, "null", 4);
    case cJSON_False:
      return sio_sbuf_append(out, "false", 5);
    case cJSON_True:
      return sio_sbuf_append(out, "true", 4);
    case cJSON_Number: {
      char buf[SIO_JSON_NUMBER_MAX];
      size_t n = sio_json_number(item->valuedouble, buf);
      return sio_sbuf_append(out, buf, n);
    }
    case cJSON_String:
      return write_string(out, item->valuestring);
    case cJSON_Raw:
      return item->valuestring ? sio_sbuf_append_str(out, item->valuestring) : SIO_EINVAL;
    case cJSON_Array:
    case cJSON_Object: {
      if (depth >= max_depth) return SIO_EINVAL;
      int obj = (item->type & 0xFF) == cJSON_Object;
      if (put1(out, obj ? '{' : '[')) return SIO_ENOMEM;
      for (const cJSON *c = item->child; c; c = c->next) {
        if (c != item->child && put1(out, ',')) return SIO_ENOMEM;
        if (obj) {
          if (write_string(out, c->string) || put1(out, ':')) return SIO_ENOMEM;
        }
        int r = write_item(out, c, depth + 1, max_depth);
        if (r) return r;
      }
      return put1(out, obj ? '}' : ']') ? SIO_ENOMEM : 0;
    }
    default:
      return SIO_EINVAL;
  }
}

int sio_json_write(sio_sbuf_t *out, const cJSON *item, int max_depth) {
  if (!out || !item) return SIO_EINVAL;
  size_t mark = out->len;
  int r = write_item(out, item, 0, max_depth);
  if (r) out->len = mark;
  return r;
}
