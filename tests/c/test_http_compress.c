/* httpCompression's negotiation and compressor, and the JSONP codec (pure parts). */
#include <zlib.h>

#include "engine/eio_jsonp.h"
#include "http/http_compress.h"
#include "sio.h"
#include "test.h"

static int pick(const char *v) { return sio_http_accept_encoding(v, strlen(v)); }

/* Node's accepts(req).encodings(["gzip", "deflate"]) on the same headers. */
TEST(accept_encoding_as_negotiator) {
  CHECK_EQ_INT(pick(""), SIO_HTTP_ENC_NONE);
  CHECK_EQ_INT(pick("gzip"), SIO_HTTP_ENC_GZIP);
  CHECK_EQ_INT(pick("deflate"), SIO_HTTP_ENC_DEFLATE);
  CHECK_EQ_INT(pick("gzip, deflate, br"), SIO_HTTP_ENC_GZIP);
  CHECK_EQ_INT(pick("deflate, gzip"), SIO_HTTP_ENC_DEFLATE); /* the header's order */
  CHECK_EQ_INT(pick("GZip"), SIO_HTTP_ENC_GZIP);
  CHECK_EQ_INT(pick("gzip;q=0, deflate"), SIO_HTTP_ENC_DEFLATE);
  CHECK_EQ_INT(pick("gzip;q=0"), SIO_HTTP_ENC_NONE);
  CHECK_EQ_INT(pick("gzip;q=0.000"), SIO_HTTP_ENC_NONE);
  CHECK_EQ_INT(pick("gzip;q=0.5, deflate"), SIO_HTTP_ENC_DEFLATE);
  CHECK_EQ_INT(pick("gzip;q=0.8, deflate;q=0.5"), SIO_HTTP_ENC_GZIP);
  CHECK_EQ_INT(pick("br"), SIO_HTTP_ENC_NONE);
  CHECK_EQ_INT(pick("identity"), SIO_HTTP_ENC_NONE);
  CHECK_EQ_INT(pick("*"), SIO_HTTP_ENC_GZIP);
  CHECK_EQ_INT(pick("*, gzip;q=0"), SIO_HTTP_ENC_DEFLATE); /* a named coding overrides "*" */
  CHECK_EQ_INT(pick("*;q=0"), SIO_HTTP_ENC_NONE);
  CHECK_EQ_INT(pick("br;q=1, *;q=0.1"), SIO_HTTP_ENC_GZIP);
  CHECK_EQ_INT(pick("gzip;q=abc, deflate"), SIO_HTTP_ENC_DEFLATE); /* NaN: never accepted */
  CHECK_EQ_INT(pick("gzip ; q=0"), SIO_HTTP_ENC_NONE);
  CHECK_EQ_INT(pick("gzip;level=1;q=0.1"), SIO_HTTP_ENC_GZIP);
  CHECK_EQ_INT(pick("gzip deflate"), SIO_HTTP_ENC_NONE); /* not a coding */
  CHECK_EQ_INT(pick(" , ,gzip,"), SIO_HTTP_ENC_GZIP);
}

static void inflate_all(int window, const sio_rbuf_t *z, char *out, size_t cap, size_t *n, int *ok) {
  z_stream s;
  memset(&s, 0, sizeof s);
  *ok = inflateInit2(&s, window) == Z_OK;
  if (!*ok) return;
  s.next_in = (Bytef *)z->data;
  s.avail_in = (uInt)z->len;
  s.next_out = (Bytef *)out;
  s.avail_out = (uInt)cap;
  *ok = inflate(&s, Z_FINISH) == Z_STREAM_END && s.avail_in == 0;
  *n = cap - s.avail_out;
  inflateEnd(&s);
}

TEST(compress_round_trip) {
  static char body[20000], back[20000];
  for (size_t i = 0; i < sizeof body; i++) body[i] = "abcdefgh{}\":,0123"[i * 7 % 17];
  sio_http_compressor_t *c = sio_http_compressor_new();
  CHECK(c);
  /* One stream for both formats, reset between bodies, many times over. */
  for (int round = 0; round < 6; round++) {
    int enc = round % 2 ? SIO_HTTP_ENC_DEFLATE : SIO_HTTP_ENC_GZIP;
    size_t n = round < 2 ? sizeof body : 1024 + (size_t)round;
    sio_rbuf_t *z = sio_http_compress(c, enc, body, n);
    CHECK(z);
    CHECK(z->len < n);
    if (enc == SIO_HTTP_ENC_GZIP) CHECK(z->data[0] == '\x1f' && z->data[1] == '\x8b');
    size_t got = 0;
    int ok = 0;
    /* 16+15: gzip only; 15: zlib only — each format as a strict decoder reads it */
    inflate_all(enc == SIO_HTTP_ENC_GZIP ? 31 : 15, z, back, sizeof back, &got, &ok);
    sio_rbuf_unref(z);
    CHECK(ok);
    CHECK_MEM(back, got, body, n);
  }
  /* Incompressible bytes: the output (bounded by deflateBound) is a little larger, still whole. */
  uint32_t x = 2463534242u;
  for (size_t i = 0; i < sizeof body; i++) {
    x ^= x << 13, x ^= x >> 17, x ^= x << 5;
    body[i] = (char)x;
  }
  for (int enc = SIO_HTTP_ENC_GZIP; enc <= SIO_HTTP_ENC_DEFLATE; enc++) {
    sio_rbuf_t *r = sio_http_compress(c, enc, body, sizeof body);
    CHECK(r);
    size_t got = 0;
    int ok = 0;
    inflate_all(enc == SIO_HTTP_ENC_GZIP ? 31 : 15, r, back, sizeof back, &got, &ok);
    sio_rbuf_unref(r);
    CHECK(ok);
    CHECK_MEM(back, got, body, sizeof body);
  }
  sio_rbuf_t *z = sio_http_compress(c, SIO_HTTP_ENC_GZIP, "", 0);
  CHECK(z);
  size_t got = 1;
  int ok = 0;
  inflate_all(31, z, back, sizeof back, &got, &ok);
  sio_rbuf_unref(z);
  CHECK(ok && got == 0);
  sio_http_compressor_free(c);
}

static int wrap(sio_sbuf_t *b, uint32_t idx, const char *s, size_t n) {
  b->len = 0;
  return sio_eio_jsonp_wrap(b, idx, s, n);
}

/* What engine.io's JSON.stringify(payload) with U+2028/U+2029 escaped writes. */
TEST(jsonp_wrap_escapes) {
  sio_sbuf_t b = SIO_SBUF_INIT;
  CHECK_EQ_INT(wrap(&b, 0, "1:6", 3), 0);
  CHECK_STR(b.data, b.len, "___eio[0](\"1:6\");");
  static const char in[] = "q\"b\\n\n\r\t\b\f\x01\x1f\x7f \xe2\x80\xa8\xe2\x80\xa9\xe2\x82\xac"
                           "\xf0\x9f\x98\x80\xed\xa0\xbd/";
  CHECK_EQ_INT(wrap(&b, 1234567, in, sizeof in - 1), 0);
  CHECK_STR(b.data, b.len,
            "___eio[1234567](\"q\\\"b\\\\n\\n\\r\\t\\b\\f\\u0001\\u001f\x7f \\u2028\\u2029"
            "\xe2\x82\xac\xf0\x9f\x98\x80\\ud83d/\");");
  sio_sbuf_free(&b);
}

TEST(jsonp_index) {
  uint32_t v = 7;
  CHECK_EQ_INT(sio_eio_jsonp_index("0", 1, &v), 0);
  CHECK_EQ_INT(v, 0);
  CHECK_EQ_INT(sio_eio_jsonp_index("999999999", 9, &v), 0);
  CHECK_EQ_INT(v, 999999999);
  CHECK(sio_eio_jsonp_index("", 0, &v) != 0);
  CHECK(sio_eio_jsonp_index("1234567890", 10, &v) != 0);
  CHECK(sio_eio_jsonp_index("1a", 2, &v) != 0);
  CHECK(sio_eio_jsonp_index("-1", 2, &v) != 0);
  CHECK(sio_eio_jsonp_index("1]", 2, &v) != 0);
}

static long form(char *buf, const char *s) {
  strcpy(buf, s);
  return sio_eio_jsonp_form(buf, strlen(s));
}

TEST(jsonp_form) {
  char b[256];
  long n = form(b, "d=5%3A4hello");
  CHECK_STR(b, (size_t)n, "5:4hello");
  n = form(b, "x=1&d=a+b%20c&y=2");
  CHECK_STR(b, (size_t)n, "a b c");
  n = form(b, "d=");
  CHECK_EQ_INT(n, 0);
  n = form(b, "d");
  CHECK_EQ_INT(n, 0);
  n = form(b, "%64=ok");
  CHECK_STR(b, (size_t)n, "ok");
  CHECK_EQ_INT(form(b, ""), -1);
  CHECK_EQ_INT(form(b, "dd=1&e=2"), -1);
  CHECK_EQ_INT(form(b, "d=1&d=2"), -1);
  /* The client's newline escaping: backslash-n is a newline, double-backslash-n a backslash-n. */
  n = form(b, "d=a%5Cnb");
  CHECK_STR(b, (size_t)n, "a\nb");
  n = form(b, "d=a%5C%5Cnb");
  CHECK_STR(b, (size_t)n, "a\\nb");
  n = form(b, "d=%5C%5C%5Cn");
  CHECK_STR(b, (size_t)n, "\\\\n");
  n = form(b, "d=%5C%5Cx%5C");
  CHECK_STR(b, (size_t)n, "\\\\x\\");
  n = form(b, "d=%zz%4");
  CHECK_STR(b, (size_t)n, "%zz%4");
}

TEST_MAIN(RUN(accept_encoding_as_negotiator), RUN(compress_round_trip), RUN(jsonp_wrap_escapes),
          RUN(jsonp_index), RUN(jsonp_form))
