#include "engine/eio_codec.h"

#include "sio.h"
#include "test.h"

/* Decoded packets point into the body, so the body lives with the collected packets. */
typedef struct {
  char body[4096];
  size_t body_len;
  sio_eio_packet_t pkts[32];
  size_t n;
  int stop_at; /* 1-based packet index whose callback returns stop_value; 0: never */
  int stop_value;
} collect_t;

static int collect_cb(void *user, const sio_eio_packet_t *pkt) {
  collect_t *c = user;
  if (c->n >= sizeof c->pkts / sizeof c->pkts[0]) return -1;
  c->pkts[c->n++] = *pkt;
  if (c->stop_at && (int)c->n == c->stop_at) return c->stop_value;
  return 0;
}

static int decode(collect_t *c, int version, int binary_body, const void *src, size_t len) {
  c->n = 0;
  c->body_len = len;
  memcpy(c->body, src, len);
  return sio_eio_decode_payload(version, binary_body, c->body, len, collect_cb, c);
}

static int decode_str(collect_t *c, int version, const char *s) {
  return decode(c, version, 0, s, strlen(s));
}

static int in_body(const collect_t *c, const sio_eio_packet_t *p) {
  return p->data >= c->body && p->data + p->len <= c->body + c->body_len;
}

static sio_eio_packet_t text_pkt(int type, const char *s) {
  sio_eio_packet_t p = {type, 0, s, strlen(s)};
  return p;
}

static sio_eio_packet_t bin_pkt(const void *d, size_t n) {
  sio_eio_packet_t p = {SIO_EIO_MESSAGE, 1, d, n};
  return p;
}

/* Encodes n packets into out (freed by the caller). */
static int encode(sio_sbuf_t *out, int version, int supports_binary, const sio_eio_packet_t *pkts,
                  size_t n, sio_eio_payload_enc_t *e) {
  int any_binary = 0;
  for (size_t i = 0; i < n; i++) any_binary |= pkts[i].binary;
  sio_eio_payload_begin(e, out, version, supports_binary, any_binary);
  for (size_t i = 0; i < n; i++) {
    int r = sio_eio_payload_add(e, &pkts[i]);
    if (r) return r;
  }
  return 0;
}

/* NUL-terminated only so that CHECK_MEM may print it. */
static const unsigned char bytes1234[] = {1, 2, 3, 4, 0};

/* ---------------------------------------------------------------------------------------------- */
/* v4 */

TEST(v4_decode_official) {
  static collect_t c;
  CHECK_EQ_INT(decode_str(&c, 4, "4hello\x1e" "bAQIDBA=="), 0);
  CHECK_EQ_INT(c.n, 2);
  CHECK_EQ_INT(c.pkts[0].type, SIO_EIO_MESSAGE);
  CHECK_EQ_INT(c.pkts[0].binary, 0);
  CHECK_STR(c.pkts[0].data, c.pkts[0].len, "hello");
  CHECK_EQ_INT(c.pkts[1].type, SIO_EIO_MESSAGE);
  CHECK_EQ_INT(c.pkts[1].binary, 1);
  CHECK_MEM(c.pkts[1].data, c.pkts[1].len, bytes1234, 4);
  CHECK(in_body(&c, &c.pkts[1])); /* decoded in place */
}

TEST(v4_encode_official) {
  sio_eio_packet_t p[2] = {text_pkt(SIO_EIO_MESSAGE, "hello"), bin_pkt(bytes1234, 4)};
  sio_sbuf_t out = SIO_SBUF_INIT;
  sio_eio_payload_enc_t e;
  /* v4 polling is always text, whatever the client says about binary. */
  for (int sb = 0; sb <= 1; sb++) {
    out.len = 0;
    CHECK_EQ_INT(encode(&out, 4, sb, p, 2, &e), 0);
    CHECK_STR(out.data, out.len, "4hello\x1e" "bAQIDBA==");
    CHECK_EQ_INT(e.count, 2);
    CHECK(strcmp(sio_eio_payload_content_type(&e), "text/plain; charset=UTF-8") == 0);
  }
  sio_sbuf_free(&out);
}

TEST(v4_control_packets) {
  static collect_t c;
  CHECK_EQ_INT(decode_str(&c, 4, "2probe\x1e" "3\x1e" "6\x1e" "1\x1e" "5\x1e" "0{}\x1e" "4"), 0);
  CHECK_EQ_INT(c.n, 7);
  CHECK_EQ_INT(c.pkts[0].type, SIO_EIO_PING);
  CHECK_STR(c.pkts[0].data, c.pkts[0].len, "probe");
  CHECK_EQ_INT(c.pkts[1].type, SIO_EIO_PONG);
  CHECK_EQ_INT(c.pkts[1].len, 0);
  CHECK_EQ_INT(c.pkts[2].type, SIO_EIO_NOOP);
  CHECK_EQ_INT(c.pkts[3].type, SIO_EIO_CLOSE);
  CHECK_EQ_INT(c.pkts[4].type, SIO_EIO_UPGRADE);
  CHECK_EQ_INT(c.pkts[5].type, SIO_EIO_OPEN);
  CHECK_STR(c.pkts[5].data, c.pkts[5].len, "{}");
  CHECK_EQ_INT(c.pkts[6].type, SIO_EIO_MESSAGE);
  CHECK_EQ_INT(c.pkts[6].len, 0);

  sio_eio_packet_t p[3] = {text_pkt(SIO_EIO_PONG, "probe"), text_pkt(SIO_EIO_NOOP, ""),
                           text_pkt(SIO_EIO_OPEN, "{\"sid\":\"x\"}")};
  sio_sbuf_t out = SIO_SBUF_INIT;
  sio_eio_payload_enc_t e;
  CHECK_EQ_INT(encode(&out, 4, 0, p, 3, &e), 0);
  CHECK_STR(out.data, out.len, "3probe\x1e" "6\x1e" "0{\"sid\":\"x\"}");
  sio_sbuf_free(&out);
}

TEST(v4_binary_edge) {
  static collect_t c;
  /* An empty binary message is a bare 'b'; padding is optional on the way in. */
  CHECK_EQ_INT(decode_str(&c, 4, "b\x1e" "bAQID\x1e" "bAQIDBA"), 0);
  CHECK_EQ_INT(c.n, 3);
  CHECK_EQ_INT(c.pkts[0].binary, 1);
  CHECK_EQ_INT(c.pkts[0].len, 0);
  CHECK_MEM(c.pkts[1].data, c.pkts[1].len, bytes1234, 3);
  CHECK_MEM(c.pkts[2].data, c.pkts[2].len, bytes1234, 4);

  sio_eio_packet_t p[2] = {bin_pkt(NULL, 0), bin_pkt("\xff\x00\xfe", 3)};
  sio_sbuf_t out = SIO_SBUF_INIT;
  sio_eio_payload_enc_t e;
  CHECK_EQ_INT(encode(&out, 4, 0, p, 2, &e), 0);
  CHECK_STR(out.data, out.len, "b\x1e" "b/wD+");
  sio_sbuf_free(&out);
}

/* ---------------------------------------------------------------------------------------------- */
/* v3 text */

TEST(v3_text_official) {
  static collect_t c;
  CHECK_EQ_INT(decode_str(&c, 3, "6:4hello10:b4AQIDBA=="), 0);
  CHECK_EQ_INT(c.n, 2);
  CHECK_EQ_INT(c.pkts[0].type, SIO_EIO_MESSAGE);
  CHECK_EQ_INT(c.pkts[0].binary, 0);
  CHECK_STR(c.pkts[0].data, c.pkts[0].len, "hello");
  CHECK_EQ_INT(c.pkts[1].type, SIO_EIO_MESSAGE);
  CHECK_EQ_INT(c.pkts[1].binary, 1);
  CHECK_MEM(c.pkts[1].data, c.pkts[1].len, bytes1234, 4);
  CHECK(in_body(&c, &c.pkts[1]));

  sio_eio_packet_t p[2] = {text_pkt(SIO_EIO_MESSAGE, "hello"), bin_pkt(bytes1234, 4)};
  sio_sbuf_t out = SIO_SBUF_INIT;
  sio_eio_payload_enc_t e;
  /* A client without binary support gets base64 inside the text payload. */
  CHECK_EQ_INT(encode(&out, 3, 0, p, 2, &e), 0);
  CHECK_EQ_INT(e.binary_framing, 0);
  CHECK_STR(out.data, out.len, "6:4hello10:b4AQIDBA==");
  CHECK(strcmp(sio_eio_payload_content_type(&e), "text/plain; charset=UTF-8") == 0);
  sio_sbuf_free(&out);
}

TEST(v3_text_controls) {
  static collect_t c;
  CHECK_EQ_INT(decode_str(&c, 3, "6:2probe1:61:3"), 0);
  CHECK_EQ_INT(c.n, 3);
  CHECK_EQ_INT(c.pkts[0].type, SIO_EIO_PING);
  CHECK_STR(c.pkts[0].data, c.pkts[0].len, "probe");
  CHECK_EQ_INT(c.pkts[1].type, SIO_EIO_NOOP);
  CHECK_EQ_INT(c.pkts[2].type, SIO_EIO_PONG);
  /* Leading zeros in a length are tolerated, as Number("06") is 6. */
  CHECK_EQ_INT(decode_str(&c, 3, "06:4hello"), 0);
  CHECK_STR(c.pkts[0].data, c.pkts[0].len, "hello");

  /* Text only: supports_binary alone does not switch framing. */
  sio_eio_packet_t p[2] = {text_pkt(SIO_EIO_PONG, "probe"), text_pkt(SIO_EIO_MESSAGE, "")};
  sio_sbuf_t out = SIO_SBUF_INIT;
  sio_eio_payload_enc_t e;
  CHECK_EQ_INT(encode(&out, 3, 1, p, 2, &e), 0);
  CHECK_EQ_INT(e.binary_framing, 0);
  CHECK_STR(out.data, out.len, "6:3probe1:4");
  sio_sbuf_free(&out);
}

TEST(v3_text_utf16_lengths) {
  /* "€" is 3 UTF-8 bytes and 1 unit, "😀" 4 bytes and 2 units (a surrogate pair), "中" 3 and 1. */
  const char *msg = "€😀中";
  const char *wire = "5:4€😀中9:4😀😀😀😀2:4中";
  sio_eio_packet_t p[3] = {text_pkt(SIO_EIO_MESSAGE, msg), text_pkt(SIO_EIO_MESSAGE, "😀😀😀😀"),
                           text_pkt(SIO_EIO_MESSAGE, "中")};
  sio_sbuf_t out = SIO_SBUF_INIT;
  sio_eio_payload_enc_t e;
  CHECK_EQ_INT(encode(&out, 3, 0, p, 3, &e), 0);
  CHECK_STR(out.data, out.len, wire);

  static collect_t c;
  CHECK_EQ_INT(decode(&c, 3, 0, out.data, out.len), 0);
  CHECK_EQ_INT(c.n, 3);
  CHECK_STR(c.pkts[0].data, c.pkts[0].len, msg);
  CHECK_STR(c.pkts[1].data, c.pkts[1].len, "😀😀😀😀");
  CHECK_STR(c.pkts[2].data, c.pkts[2].len, "中");
  sio_sbuf_free(&out);

  /* A length that would end inside the surrogate pair of an emoji. */
  CHECK_EQ_INT(decode_str(&c, 3, "2:4😀"), SIO_EPARSE);
  CHECK_EQ_INT(decode_str(&c, 3, "4:4😀1:6"), SIO_EPARSE);
  /* Counting bytes instead of units would be wrong in both directions. */
  CHECK_EQ_INT(decode_str(&c, 3, "8:4€😀"), SIO_EPARSE);
  CHECK_EQ_INT(decode_str(&c, 3, "4:4€😀"), 0);
}

/* ---------------------------------------------------------------------------------------------- */
/* v3 binary framing */

static const unsigned char v3_bin_official[] = {0, 6, 255, '4', 'h', 'e', 'l', 'l', 'o',
                                                1, 5, 255, 4,   1,   2,   3,   4};

TEST(v3_binary_encode_official) {
  sio_eio_packet_t p[2] = {text_pkt(SIO_EIO_MESSAGE, "hello"), bin_pkt(bytes1234, 4)};
  sio_sbuf_t out = SIO_SBUF_INIT;
  sio_eio_payload_enc_t e;
  CHECK_EQ_INT(encode(&out, 3, 1, p, 2, &e), 0);
  CHECK_EQ_INT(e.binary_framing, 1);
  CHECK_MEM(out.data, out.len, v3_bin_official, sizeof v3_bin_official);
  CHECK(strcmp(sio_eio_payload_content_type(&e), "application/octet-stream") == 0);
  sio_sbuf_free(&out);
}

TEST(v3_binary_decode_official) {
  static collect_t c;
  CHECK_EQ_INT(decode(&c, 3, 1, v3_bin_official, sizeof v3_bin_official), 0);
  CHECK_EQ_INT(c.n, 2);
  CHECK_EQ_INT(c.pkts[0].type, SIO_EIO_MESSAGE);
  CHECK_EQ_INT(c.pkts[0].binary, 0);
  CHECK_STR(c.pkts[0].data, c.pkts[0].len, "hello");
  CHECK_EQ_INT(c.pkts[1].type, SIO_EIO_MESSAGE);
  CHECK_EQ_INT(c.pkts[1].binary, 1);
  CHECK_MEM(c.pkts[1].data, c.pkts[1].len, bytes1234, 4);
  /* binary_body only matters for v3: the same bytes are no v4 payload. */
  CHECK_EQ_INT(decode(&c, 4, 1, v3_bin_official, sizeof v3_bin_official), SIO_EUTF8);
}

TEST(v3_binary_lengths) {
  /* String lengths count UTF-8 bytes here, not UTF-16 units: "4€😀中" is 11 bytes. */
  unsigned char big[200];
  for (size_t i = 0; i < sizeof big; i++) big[i] = (unsigned char)i;
  sio_eio_packet_t p[3] = {text_pkt(SIO_EIO_MESSAGE, "€😀中"), bin_pkt(big, 122),
                           text_pkt(SIO_EIO_PING, "")};
  sio_sbuf_t out = SIO_SBUF_INIT;
  sio_eio_payload_enc_t e;
  CHECK_EQ_INT(encode(&out, 3, 1, p, 3, &e), 0);
  const unsigned char head0[] = {0, 1, 1, 255, '4'};
  CHECK_MEM(out.data, 5, head0, 5);
  CHECK_STR(out.data + 5, 10, "€😀中");
  const unsigned char head1[] = {1, 1, 2, 3, 255, 4};
  CHECK_MEM(out.data + 15, 6, head1, 6);
  CHECK_MEM(out.data + 21, 122, big, 122);
  const unsigned char tail[] = {0, 1, 255, '2'};
  CHECK_MEM(out.data + 143, out.len - 143, tail, 4);

  static collect_t c;
  CHECK_EQ_INT(decode(&c, 3, 1, out.data, out.len), 0);
  CHECK_EQ_INT(c.n, 3);
  CHECK_STR(c.pkts[0].data, c.pkts[0].len, "€😀中");
  CHECK_EQ_INT(c.pkts[1].binary, 1);
  CHECK_MEM(c.pkts[1].data, c.pkts[1].len, big, 122);
  CHECK_EQ_INT(c.pkts[2].type, SIO_EIO_PING);
  CHECK_EQ_INT(c.pkts[2].len, 0);
  sio_sbuf_free(&out);

  /* An empty binary message is the type byte alone; a base64 string packet is accepted too. */
  const unsigned char odd[] = {1, 1, 255, 4, 0, 6, 255, 'b', '4', 'A', 'Q', '=', '='};
  CHECK_EQ_INT(decode(&c, 3, 1, odd, sizeof odd), 0);
  CHECK_EQ_INT(c.n, 2);
  CHECK_EQ_INT(c.pkts[0].binary, 1);
  CHECK_EQ_INT(c.pkts[0].len, 0);
  CHECK_EQ_INT(c.pkts[1].binary, 1);
  CHECK_MEM(c.pkts[1].data, c.pkts[1].len, bytes1234, 1);
}

/* ---------------------------------------------------------------------------------------------- */
/* Malformed input */

TEST(malformed_v4) {
  static collect_t c;
  const char *bad[] = {
      "",        /* empty body */
      "7",       /* unknown type */
      "x4",      /* not a type */
      "4a\x1e",  /* empty trailing packet */
      "\x1e" "4a", /* empty leading packet */
      "4a\x1e\x1e" "4b",
      "b!!!!",   /* not base64 */
      "bA",      /* impossible base64 length */
      "bAQ=\x1e" "b*",
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    CHECK_EQ_INT(decode_str(&c, 4, bad[i]), SIO_EPARSE);
  }
  /* Packets before the bad part have been delivered. */
  CHECK_EQ_INT(decode_str(&c, 4, "4a\x1e" "2\x1e" "9"), SIO_EPARSE);
  CHECK_EQ_INT(c.n, 2);
}

TEST(malformed_v3_text) {
  static collect_t c;
  const char *bad[] = {
      "",              /* empty body */
      "6:4hell",       /* length does not fit */
      "64hello",       /* missing ':' */
      "6",             /* only digits */
      "a:4hello",      /* non-digit length */
      "6x:4hello",
      "-1:4",
      ":4hello",       /* no length */
      "0:",            /* empty packet */
      "1:7",           /* unknown type */
      "1:x",
      "6:4hello2",     /* trailing garbage */
      "1:b",           /* base64 without a type */
      "3:b2A",         /* binary that is not a message */
      "2:bx",
      "6:b4!!!!",      /* not base64 */
      "3:b4A",         /* impossible base64 length */
      "99999999999999999999999999:4",
      "18446744073709551617:4",
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    CHECK_EQ_INT(decode_str(&c, 3, bad[i]), SIO_EPARSE);
  }
  CHECK_EQ_INT(decode_str(&c, 3, "1:21:3x"), SIO_EPARSE);
  CHECK_EQ_INT(c.n, 2);
}

TEST(malformed_v3_binary) {
  static collect_t c;
  static const struct {
    unsigned char b[12];
    size_t n;
  } bad[] = {
      {{0}, 0},                        /* empty body */
      {{2, 1, 255, '4'}, 4},           /* neither string nor binary */
      {{0, 1}, 2},                     /* no 0xFF */
      {{0, 1, 255}, 3},                /* nothing after the length */
      {{0, 255, '4'}, 3},              /* no digits */
      {{0, 10, 255, '4'}, 4},          /* a digit byte above 9 */
      {{0, '1', 255, '4'}, 4},         /* ASCII digits are not the framing */
      {{0, 5, 255, '4', 'a'}, 5},      /* length too long */
      {{0, 0, 255}, 3},                /* empty packet */
      {{1, 0, 255}, 3},                /* empty binary packet, no type byte */
      {{1, 1, 255, 2}, 4},             /* binary that is not a message */
      {{0, 1, 255, '9'}, 4},           /* unknown type */
      {{0, 2, 255, '4', 'a', 0}, 6},   /* trailing partial packet */
      {{1, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 255}, 12},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    CHECK_EQ_INT(decode(&c, 3, 1, bad[i].b, bad[i].n), SIO_EPARSE);
  }
  const unsigned char partial[] = {0, 1, 255, '6', 1, 2, 255, 2, 0};
  CHECK_EQ_INT(decode(&c, 3, 1, partial, sizeof partial), SIO_EPARSE);
  CHECK_EQ_INT(c.n, 1);
  CHECK_EQ_INT(c.pkts[0].type, SIO_EIO_NOOP);
}

/* ---------------------------------------------------------------------------------------------- */
/* WebSocket frames */

TEST(ws_frames) {
  sio_eio_packet_t p;
  CHECK_EQ_INT(sio_eio_decode_ws(4, 0, "2probe", 6, &p), 0);
  CHECK_EQ_INT(p.type, SIO_EIO_PING);
  CHECK_EQ_INT(p.binary, 0);
  CHECK_STR(p.data, p.len, "probe");
  CHECK_EQ_INT(sio_eio_decode_ws(3, 0, "5", 1, &p), 0);
  CHECK_EQ_INT(p.type, SIO_EIO_UPGRADE);
  CHECK_EQ_INT(p.len, 0);
  CHECK_EQ_INT(sio_eio_decode_ws(4, 0, "4€😀中", strlen("4€😀中"), &p), 0);
  CHECK_STR(p.data, p.len, "€😀中");

  /* v4: a binary frame is a binary message of all its bytes, even none. */
  CHECK_EQ_INT(sio_eio_decode_ws(4, 1, "\x04\x01\x02", 3, &p), 0);
  CHECK_EQ_INT(p.type, SIO_EIO_MESSAGE);
  CHECK_EQ_INT(p.binary, 1);
  CHECK_MEM(p.data, p.len, "\x04\x01\x02", 3);
  CHECK_EQ_INT(sio_eio_decode_ws(4, 1, "", 0, &p), 0);
  CHECK_EQ_INT(p.binary, 1);
  CHECK_EQ_INT(p.len, 0);

  /* v3: the first byte of a binary frame is the packet type. */
  CHECK_EQ_INT(sio_eio_decode_ws(3, 1, "\x04\x01\x02", 3, &p), 0);
  CHECK_EQ_INT(p.type, SIO_EIO_MESSAGE);
  CHECK_EQ_INT(p.binary, 1);
  CHECK_MEM(p.data, p.len, "\x01\x02", 2);
  CHECK_EQ_INT(sio_eio_decode_ws(3, 1, "\x04", 1, &p), 0);
  CHECK_EQ_INT(p.len, 0);

  CHECK_EQ_INT(sio_eio_decode_ws(3, 1, "", 0, &p), SIO_EPARSE);
  CHECK_EQ_INT(sio_eio_decode_ws(3, 1, "\x02probe", 6, &p), SIO_EPARSE);
  CHECK_EQ_INT(sio_eio_decode_ws(3, 1, "4hello", 6, &p), SIO_EPARSE);
  CHECK_EQ_INT(sio_eio_decode_ws(4, 0, "", 0, &p), SIO_EPARSE);
  CHECK_EQ_INT(sio_eio_decode_ws(3, 0, "", 0, &p), SIO_EPARSE);
  CHECK_EQ_INT(sio_eio_decode_ws(4, 0, "7", 1, &p), SIO_EPARSE);
  CHECK_EQ_INT(sio_eio_decode_ws(4, 0, "hello", 5, &p), SIO_EPARSE);
  CHECK_EQ_INT(sio_eio_decode_ws(4, 0, "bAQID", 5, &p), SIO_EPARSE);
}

/* ---------------------------------------------------------------------------------------------- */
/* Callback stop value, encoder errors */

TEST(callback_stop) {
  static collect_t c;
  c.stop_at = 2;
  c.stop_value = 42;
  CHECK_EQ_INT(decode_str(&c, 4, "4a\x1e" "4b\x1e" "4c"), 42);
  CHECK_EQ_INT(c.n, 2);
  /* The stop wins over a malformed part that follows. */
  CHECK_EQ_INT(decode_str(&c, 3, "2:4a2:4b1:9"), 42);
  CHECK_EQ_INT(c.n, 2);
  const unsigned char bin[] = {0, 2, 255, '4', 'a', 1, 1, 255, 4, 7};
  c.stop_value = -7;
  CHECK_EQ_INT(decode(&c, 3, 1, bin, sizeof bin), -7);
  CHECK_EQ_INT(c.n, 2);
  c.stop_at = 0;
}

TEST(encoder_rejects) {
  sio_sbuf_t out = SIO_SBUF_INIT;
  sio_eio_payload_enc_t e;
  for (int v = 3; v <= 4; v++) {
    for (int sb = 0; sb <= 1; sb++) {
      sio_eio_payload_begin(&e, &out, v, sb, 1);
      sio_eio_packet_t ok = text_pkt(SIO_EIO_MESSAGE, "x");
      CHECK_EQ_INT(sio_eio_payload_add(&e, &ok), 0);
      size_t len = out.len;
      sio_eio_packet_t p = text_pkt(7, "x");
      CHECK_EQ_INT(sio_eio_payload_add(&e, &p), SIO_EINVAL);
      p = text_pkt(-1, "x");
      CHECK_EQ_INT(sio_eio_payload_add(&e, &p), SIO_EINVAL);
      p = bin_pkt("x", 1);
      p.type = SIO_EIO_PING;
      CHECK_EQ_INT(sio_eio_payload_add(&e, &p), SIO_EINVAL);
      CHECK_EQ_INT(out.len, len);
      CHECK_EQ_INT(e.count, 1);
      out.len = 0;
    }
  }
  sio_sbuf_free(&out);
}

TEST(round_trip_all_framings) {
  unsigned char bytes[256];
  for (size_t i = 0; i < sizeof bytes; i++) bytes[i] = (unsigned char)(255 - i);
  sio_eio_packet_t p[6] = {
      text_pkt(SIO_EIO_PING, "probe"), bin_pkt(bytes, sizeof bytes), text_pkt(SIO_EIO_MESSAGE, "4€😀中"),
      bin_pkt(NULL, 0),                text_pkt(SIO_EIO_MESSAGE, ""), text_pkt(SIO_EIO_CLOSE, ""),
  };
  static const int modes[3][2] = {{4, 0}, {3, 0}, {3, 1}};
  for (size_t m = 0; m < 3; m++) {
    sio_sbuf_t out = SIO_SBUF_INIT;
    sio_eio_payload_enc_t e;
    CHECK_EQ_INT(encode(&out, modes[m][0], modes[m][1], p, 6, &e), 0);
    static collect_t c;
    CHECK_EQ_INT(decode(&c, modes[m][0], e.binary_framing, out.data, out.len), 0);
    sio_sbuf_free(&out);
    CHECK_EQ_INT(c.n, 6);
    for (size_t i = 0; i < 6; i++) {
      CHECK_EQ_INT(c.pkts[i].type, p[i].type);
      CHECK_EQ_INT(c.pkts[i].binary, p[i].binary);
      CHECK_MEM(c.pkts[i].data, c.pkts[i].len, p[i].data ? p[i].data : "", p[i].len);
    }
  }
}

TEST_MAIN(RUN(v4_decode_official), RUN(v4_encode_official), RUN(v4_control_packets),
          RUN(v4_binary_edge), RUN(v3_text_official), RUN(v3_text_controls),
          RUN(v3_text_utf16_lengths), RUN(v3_binary_encode_official),
          RUN(v3_binary_decode_official), RUN(v3_binary_lengths), RUN(malformed_v4),
          RUN(malformed_v3_text), RUN(malformed_v3_binary), RUN(ws_frames), RUN(callback_stop),
          RUN(encoder_rejects), RUN(round_trip_all_framings))
