#include "http_compress.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <zlib.h>

/* ---------------------------------------------------------------------------------------------- */
/* Accept-Encoding                                                                                 */

#define Q_ONE 1000000L /* q-values in millionths */

/* parseFloat's reading of a q-value: the longest "digits[.digits]" prefix; anything else (NaN to
 * the reference, which then never accepts the coding) is 0. */
static long parse_q(const char *s, const char *end) {
  long q = 0, scale = Q_ONE;
  int digits = 0;
  while (s < end && *s >= '0' && *s <= '9') {
    if (q <= 10 * Q_ONE) q = q * 10 + (*s - '0') * Q_ONE;
    s++;
    digits++;
  }
  if (s < end && *s == '.') {
    for (s++; s < end && *s >= '0' && *s <= '9'; s++, digits++) {
      scale /= 10;
      q += (*s - '0') * scale;
    }
  }
  return digits ? q : 0;
}

static int is_space(char c) { return c == ' ' || c == '\t'; }

/* One element "coding[;params]" of the list: its name s[0..*name_len) after leading space, and
 * its q (1 unless a q parameter says otherwise). 0 when it is not one (the reference skips it). */
static int parse_element(const char *s, const char *end, const char **name, size_t *name_len,
                         long *q) {
  while (s < end && is_space(*s)) s++;
  const char *n = s;
  while (s < end && !is_space(*s) && *s != ';') s++;
  if (s == n) return 0;
  *name = n;
  *name_len = (size_t)(s - n);
  while (s < end && is_space(*s)) s++;
  *q = Q_ONE;
  if (s == end) return 1;
  if (*s != ';') return 0; /* "gzip deflate" */
  /* The first parameter named q, as the reference (later ones are ignored). */
  while (s < end) {
    s++; /* the ';' */
    while (s < end && is_space(*s)) s++;
    const char *p = s;
    while (s < end && *s != ';') s++;
    if (s - p >= 1 && p[0] == 'q' && (s - p == 1 || p[1] == '=')) {
      *q = s - p >= 2 ? parse_q(p + 2, s) : 0;
      return 1;
    }
  }
  return 1;
}

/* How a coding is accepted: the best element naming it (an exact name beats "*", then the higher
 * q, then the later element, as negotiator's getEncodingPriority). */
typedef struct {
  long q;
  int exact;
  long order; /* the element's index, -1: none */
} enc_priority_t;

static void consider(enc_priority_t *pr, const char *want, const char *name, size_t nl, long q,
                     long order) {
  int exact = nl == strlen(want) && strncasecmp(name, want, nl) == 0;
  if (!exact && !(nl == 1 && name[0] == '*')) return;
  int better = exact != pr->exact ? exact > pr->exact : q != pr->q ? q > pr->q : order > pr->order;
  if (better) *pr = (enc_priority_t){q, exact, order};
}

int sio_http_accept_encoding(const char *v, size_t n) {
  enc_priority_t pr[2] = {{0, 0, -1}, {0, 0, -1}}; /* gzip, deflate */
  const char *s = v, *end = v + n;
  for (long order = 0; s <= end; order++) {
    const char *comma = memchr(s, ',', (size_t)(end - s));
    const char *e = comma ? comma : end;
    const char *name;
    size_t nl;
    long q;
    if (parse_element(s, e, &name, &nl, &q)) {
      consider(&pr[0], "gzip", name, nl, q, order);
      consider(&pr[1], "deflate", name, nl, q, order);
    }
    if (!comma) break;
    s = comma + 1;
  }
  int g = pr[0].q > 0, d = pr[1].q > 0;
  if (!g && !d) return SIO_HTTP_ENC_NONE;
  if (g != d) return g ? SIO_HTTP_ENC_GZIP : SIO_HTTP_ENC_DEFLATE;
  /* Both: negotiator's order (q, then exact over "*", then the header's order, then gzip). */
  const enc_priority_t *a = &pr[0], *b = &pr[1];
  int deflate_first = b->q != a->q ? b->q > a->q : b->exact != a->exact ? b->exact > a->exact
                                                                          : b->order < a->order;
  return deflate_first ? SIO_HTTP_ENC_DEFLATE : SIO_HTTP_ENC_GZIP;
}

const char *sio_http_encoding_name(int enc) {
  return enc == SIO_HTTP_ENC_GZIP ? "gzip" : "deflate";
}

/* ---------------------------------------------------------------------------------------------- */
/* The compressor                                                                                  */

/* One raw deflate stream serves both formats: their headers and trailers are written here, so a
 * single zlib state (not one per format) is ever held. */
struct sio_http_compressor {
  z_stream z;
  int ready; /* deflateInit2 done */
};

#define GZIP_HEAD 10
#define GZIP_TAIL 8
#define ZLIB_HEAD 2
#define ZLIB_TAIL 4
#define MAX_BODY (1u << 30)

sio_http_compressor_t *sio_http_compressor_new(void) {
  return calloc(1, sizeof(sio_http_compressor_t));
}

void sio_http_compressor_free(sio_http_compressor_t *c) {
  if (!c) return;
  if (c->ready) deflateEnd(&c->z);
  free(c);
}

static void put_le32(unsigned char *o, uint32_t v) {
  for (int i = 0; i < 4; i++) o[i] = (unsigned char)(v >> (8 * i));
}

static void put_be32(unsigned char *o, uint32_t v) {
  for (int i = 0; i < 4; i++) o[i] = (unsigned char)(v >> (24 - 8 * i));
}

sio_rbuf_t *sio_http_compress(sio_http_compressor_t *c, int enc, const char *p, size_t n) {
  if (n > MAX_BODY) return NULL;
  if (!c->ready) {
    /* Node's zlib defaults: level 6, a 32 KiB window, memLevel 8. */
    if (deflateInit2(&c->z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY) != Z_OK)
      return NULL;
    c->ready = 1;
  } else if (deflateReset(&c->z) != Z_OK) {
    return NULL;
  }
  int gz = enc == SIO_HTTP_ENC_GZIP;
  size_t head = gz ? GZIP_HEAD : ZLIB_HEAD, tail = gz ? GZIP_TAIL : ZLIB_TAIL;
  size_t bound = deflateBound(&c->z, (uLong)n);
  sio_rbuf_t *rb = sio_rbuf_new(head + bound + tail);
  if (!rb) return NULL;
  unsigned char *o = (unsigned char *)rb->data;
  if (gz) {
    /* No name, no mtime, no extra flags; OS 3 (Unix), as Node's gzip on Linux writes. */
    static const unsigned char gzip_head[GZIP_HEAD] = {0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3};
    memcpy(o, gzip_head, GZIP_HEAD);
  } else {
    o[0] = 0x78; /* deflate, 32 KiB window */
    o[1] = 0x9c; /* default level; the check bits make 0x789c a multiple of 31 */
  }
  c->z.next_in = (Bytef *)(uintptr_t)p;
  c->z.avail_in = (uInt)n;
  c->z.next_out = o + head;
  c->z.avail_out = (uInt)bound;
  if (deflate(&c->z, Z_FINISH) != Z_STREAM_END) {
    sio_rbuf_unref(rb);
    return NULL;
  }
  size_t body = bound - c->z.avail_out;
  unsigned char *t = o + head + body;
  if (gz) {
    put_le32(t, (uint32_t)crc32(0L, (const Bytef *)p, (uInt)n));
    put_le32(t + 4, (uint32_t)n);
  } else {
    put_be32(t, (uint32_t)adler32(1L, (const Bytef *)p, (uInt)n));
  }
  return sio_rbuf_shrink(rb, head + body + tail);
}
