#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sio.h"
#include "test.h"
#include "websocket/ws.h"

/* ---------------------------------------------------------------------------------------------- */
/* A recorder: every callback becomes one event, copied, so runs over differently split input can
 * be compared afterwards. */

typedef struct {
  int opcode;
  int control;
  size_t len;
  char *data;
  int zero_copy; /* the pointer was inside the fed buffer */
} event_t;

typedef struct {
  event_t ev[64];
  size_t n;
  const char *in_lo, *in_hi; /* the buffer being fed, to tell zero-copy deliveries */
  int stop_after;            /* non-zero: callbacks return 42 once this many events are seen */
} rec_t;

static int record(rec_t *r, int control, int opcode, char *data, size_t len) {
  if (r->n < sizeof r->ev / sizeof r->ev[0]) {
    event_t *e = &r->ev[r->n];
    e->opcode = opcode;
    e->control = control;
    e->len = len;
    e->data = malloc(len ? len : 1);
    if (len) memcpy(e->data, data, len);
    e->zero_copy = r->in_lo && data >= r->in_lo && data < r->in_hi;
  }
  r->n++;
  if (r->stop_after && r->n >= (size_t)r->stop_after) return 42;
  return 0;
}

static int on_message(void *user, int opcode, char *data, size_t len) {
  return record(user, 0, opcode, data, len);
}

static int on_control(void *user, int opcode, char *data, size_t len) {
  return record(user, 1, opcode, data, len);
}

static const sio_ws_callbacks_t cbs = {on_message, on_control, NULL};

static void rec_reset(rec_t *r) {
  size_t n = r->n < 64 ? r->n : 64;
  for (size_t i = 0; i < n; i++) free(r->ev[i].data);
  memset(r, 0, sizeof *r);
}

/* Feeds a copy of in[0..len) in chunks of `chunk` bytes (0: all at once); the copy is what the
 * parser may modify, and it stays alive until the next feed so zero-copy pointers can be told. */
static int feed(sio_ws_parser_t *p, rec_t *r, const void *in, size_t len, size_t chunk) {
  char *buf = malloc(len ? len : 1);
  memcpy(buf, in, len);
  if (chunk == 0) chunk = len ? len : 1;
  int rv = 0;
  for (size_t off = 0; off < len && rv == 0; off += chunk) {
    size_t n = len - off < chunk ? len - off : chunk;
    r->in_lo = buf + off;
    r->in_hi = buf + off + n;
    rv = sio_ws_parser_execute(p, &cbs, r, buf + off, n, NULL);
  }
  r->in_lo = r->in_hi = NULL;
  free(buf);
  return rv;
}

/* Builds one frame into out (returns its length); masked when mask != NULL, as a client sends. */
static size_t build(uint8_t *out, int opcode, int fin, const void *payload, size_t len,
                    const uint8_t *mask) {
  size_t h = sio_ws_frame_header(out, opcode, fin, len, mask);
  if (len) memcpy(out + h, payload, len);
  if (mask) sio_ws_mask(out + h, len, mask, 0);
  return h + len;
}

static const uint8_t mask_a[4] = {0x37, 0xfa, 0x21, 0x3d};
static const uint8_t mask_b[4] = {0x01, 0x80, 0xfe, 0x55};

/* ---------------------------------------------------------------------------------------------- */
/* RFC 6455 section 5.7                                                                            */

TEST(rfc_masked_hello) {
  static const uint8_t in[] = {0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58};
  sio_ws_parser_t p;
  rec_t r = {0};
  sio_ws_parser_init(&p, SIO_WS_ROLE_SERVER, 1 << 20);
  CHECK_EQ_INT(feed(&p, &r, in, sizeof in, 0), 0);
  CHECK_EQ_INT(r.n, 1);
  CHECK_EQ_INT(r.ev[0].opcode, SIO_WS_OP_TEXT);
  CHECK_EQ_INT(r.ev[0].control, 0);
  CHECK_STR(r.ev[0].data, r.ev[0].len, "Hello");
  CHECK(r.ev[0].zero_copy);
  CHECK(p.part == NULL);
  rec_reset(&r);
  sio_ws_parser_free(&p);
}

TEST(rfc_unmasked_hello_client_role) {
  static const uint8_t in[] = {0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f};
  sio_ws_parser_t p;
  rec_t r = {0};
  sio_ws_parser_init(&p, SIO_WS_ROLE_CLIENT, 1 << 20);
  CHECK_EQ_INT(feed(&p, &r, in, sizeof in, 0), 0);
  CHECK_EQ_INT(r.n, 1);
  CHECK_STR(r.ev[0].data, r.ev[0].len, "Hello");
  CHECK(r.ev[0].zero_copy);
  rec_reset(&r);
  sio_ws_parser_free(&p);
}

TEST(rfc_fragmented) {
  static const uint8_t in[] = {0x01, 0x03, 0x48, 0x65, 0x6c, 0x80, 0x02, 0x6c, 0x6f};
  sio_ws_parser_t p;
  rec_t r = {0};
  sio_ws_parser_init(&p, SIO_WS_ROLE_CLIENT, 1 << 20);
  CHECK_EQ_INT(feed(&p, &r, in, 5, 0), 0);
  CHECK_EQ_INT(r.n, 0);
  CHECK_EQ_INT(p.msg_opcode, SIO_WS_OP_TEXT);
  CHECK_EQ_INT(p.part ? p.part->message.len : 0, 3);
  CHECK_EQ_INT(feed(&p, &r, in + 5, 4, 0), 0);
  CHECK_EQ_INT(r.n, 1);
  CHECK_EQ_INT(r.ev[0].opcode, SIO_WS_OP_TEXT);
  CHECK_STR(r.ev[0].data, r.ev[0].len, "Hello");
  CHECK_EQ_INT(p.msg_opcode, 0);
  CHECK(p.part == NULL);
  rec_reset(&r);
  sio_ws_parser_free(&p);

  /* The same, masked, to a server. */
  uint8_t buf[64];
  size_t n = build(buf, SIO_WS_OP_TEXT, 0, "Hel", 3, mask_a);
  n += build(buf + n, SIO_WS_OP_CONT, 1, "lo", 2, mask_b);
  sio_ws_parser_init(&p, SIO_WS_ROLE_SERVER, 1 << 20);
  CHECK_EQ_INT(feed(&p, &r, buf, n, 0), 0);
  CHECK_EQ_INT(r.n, 1);
  CHECK_STR(r.ev[0].data, r.ev[0].len, "Hello");
  CHECK(p.part == NULL);
  rec_reset(&r);
  sio_ws_parser_free(&p);
}

TEST(rfc_ping_pong) {
  static const uint8_t ping[] = {0x89, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f};
  static const uint8_t pong[] = {0x8a, 0x85, 0x37, 0xfa, 0x21, 0x3d,
                                 0x7f, 0x9f, 0x4d, 0x51, 0x58};
  sio_ws_parser_t p;
  rec_t r = {0};
  sio_ws_parser_init(&p, SIO_WS_ROLE_CLIENT, 1 << 20);
  CHECK_EQ_INT(feed(&p, &r, ping, sizeof ping, 0), 0);
  CHECK_EQ_INT(r.n, 1);
  CHECK_EQ_INT(r.ev[0].control, 1);
  CHECK_EQ_INT(r.ev[0].opcode, SIO_WS_OP_PING);
  CHECK_STR(r.ev[0].data, r.ev[0].len, "Hello");
  rec_reset(&r);
  sio_ws_parser_free(&p);

  sio_ws_parser_init(&p, SIO_WS_ROLE_SERVER, 1 << 20);
  CHECK_EQ_INT(feed(&p, &r, pong, sizeof pong, 0), 0);
  CHECK_EQ_INT(r.n, 1);
  CHECK_EQ_INT(r.ev[0].opcode, SIO_WS_OP_PONG);
  CHECK_STR(r.ev[0].data, r.ev[0].len, "Hello");
  rec_reset(&r);
  sio_ws_parser_free(&p);
}

static void fill_pattern(uint8_t *b, size_t n) {
  for (size_t i = 0; i < n; i++) b[i] = (uint8_t)(i * 7 + (i >> 8));
}

TEST(rfc_binary_256_and_64k) {
  static uint8_t payload[65536], frame[65536 + 14];
  fill_pattern(payload, sizeof payload);
  sio_ws_parser_t p;
  rec_t r = {0};

  /* 256 bytes, unmasked: 82 7E 01 00 */
  size_t n = build(frame, SIO_WS_OP_BINARY, 1, payload, 256, NULL);
  CHECK_EQ_INT(n, 4 + 256);
  CHECK(frame[0] == 0x82 && frame[1] == 0x7e && frame[2] == 0x01 && frame[3] == 0x00);
  sio_ws_parser_init(&p, SIO_WS_ROLE_CLIENT, 1 << 20);
  CHECK_EQ_INT(feed(&p, &r, frame, n, 0), 0);
  CHECK_EQ_INT(r.n, 1);
  CHECK_EQ_INT(r.ev[0].opcode, SIO_WS_OP_BINARY);
  CHECK_MEM(r.ev[0].data, r.ev[0].len, payload, 256);
  rec_reset(&r);
  sio_ws_parser_free(&p);

  /* 64 KiB, unmasked: 82 7F 00 00 00 00 00 01 00 00 */
  n = build(frame, SIO_WS_OP_BINARY, 1, payload, 65536, NULL);
  static const uint8_t hdr64[] = {0x82, 0x7f, 0, 0, 0, 0, 0, 1, 0, 0};
  CHECK_EQ_INT(n, 10 + 65536);
  CHECK(memcmp(frame, hdr64, sizeof hdr64) == 0);
  sio_ws_parser_init(&p, SIO_WS_ROLE_CLIENT, 1 << 20);
  CHECK_EQ_INT(feed(&p, &r, frame, n, 0), 0);
  CHECK_EQ_INT(r.n, 1);
  CHECK_MEM(r.ev[0].data, r.ev[0].len, payload, 65536);
  CHECK(r.ev[0].zero_copy);
  rec_reset(&r);
  sio_ws_parser_free(&p);

  /* The same two masked, to a server, whole and in odd-sized chunks. */
  for (size_t chunk = 0; chunk < 2000; chunk += 997) {
    size_t sizes[2] = {256, 65536};
    for (int i = 0; i < 2; i++) {
      n = build(frame, SIO_WS_OP_BINARY, 1, payload, sizes[i], mask_a);
      sio_ws_parser_init(&p, SIO_WS_ROLE_SERVER, 1 << 20);
      CHECK_EQ_INT(feed(&p, &r, frame, n, chunk), 0);
      CHECK_EQ_INT(r.n, 1);
      CHECK_MEM(r.ev[0].data, r.ev[0].len, payload, sizes[i]);
      CHECK(p.part == NULL);
      rec_reset(&r);
      sio_ws_parser_free(&p);
    }
  }
}

/* ---------------------------------------------------------------------------------------------- */
/* Splitting                                                                                       */

/* A stream of every kind of frame, as a client sends it. */
static size_t mixed_stream(uint8_t *out) {
  static uint8_t big[70000];
  fill_pattern(big, sizeof big);
  size_t n = 0;
  n += build(out + n, SIO_WS_OP_TEXT, 1, "Hello", 5, mask_a);
  n += build(out + n, SIO_WS_OP_TEXT, 0, "fr\xc3", 3, mask_b); /* "é" split across fragments */
  n += build(out + n, SIO_WS_OP_PING, 1, "p1", 2, mask_a);
  n += build(out + n, SIO_WS_OP_CONT, 0, "", 0, mask_b);
  n += build(out + n, SIO_WS_OP_PONG, 1, "", 0, mask_a);
  n += build(out + n, SIO_WS_OP_CONT, 1, "\xa9!", 2, mask_a);
  n += build(out + n, SIO_WS_OP_BINARY, 1, big, 300, mask_b);
  n += build(out + n, SIO_WS_OP_BINARY, 0, big, 70000, mask_a);
  n += build(out + n, SIO_WS_OP_CONT, 1, big, 1, mask_b);
  n += build(out + n, SIO_WS_OP_TEXT, 1, "", 0, mask_b);
  n += build(out + n, SIO_WS_OP_CLOSE, 1, "\x03\xe8" "bye", 5, mask_a);
  return n;
}

static int same_events(const rec_t *a, const rec_t *b) {
  if (a->n != b->n) return 0;
  for (size_t i = 0; i < a->n && i < 64; i++) {
    const event_t *x = &a->ev[i], *y = &b->ev[i];
    if (x->opcode != y->opcode || x->control != y->control || x->len != y->len ||
        memcmp(x->data, y->data, x->len) != 0)
      return 0;
  }
  return 1;
}

TEST(mixed_stream_whole) {
  static uint8_t in[80000];
  size_t n = mixed_stream(in);
  sio_ws_parser_t p;
  rec_t r = {0};
  sio_ws_parser_init(&p, SIO_WS_ROLE_SERVER, 1 << 20);
  CHECK_EQ_INT(feed(&p, &r, in, n, 0), 0);
  CHECK_EQ_INT(r.n, 8);
  CHECK(r.ev[0].opcode == SIO_WS_OP_TEXT && !r.ev[0].control);
  CHECK_STR(r.ev[0].data, r.ev[0].len, "Hello");
  CHECK(r.ev[1].opcode == SIO_WS_OP_PING && r.ev[1].control);
  CHECK_STR(r.ev[1].data, r.ev[1].len, "p1");
  CHECK(r.ev[2].opcode == SIO_WS_OP_PONG && r.ev[2].len == 0);
  CHECK(r.ev[3].opcode == SIO_WS_OP_TEXT);
  CHECK_STR(r.ev[3].data, r.ev[3].len, "fr\xc3\xa9!");
  CHECK(r.ev[4].opcode == SIO_WS_OP_BINARY && r.ev[4].len == 300);
  CHECK(r.ev[5].opcode == SIO_WS_OP_BINARY && r.ev[5].len == 70001);
  CHECK(r.ev[6].opcode == SIO_WS_OP_TEXT && r.ev[6].len == 0);
  CHECK(r.ev[7].opcode == SIO_WS_OP_CLOSE && r.ev[7].control);
  CHECK_MEM(r.ev[7].data, r.ev[7].len, "\x03\xe8" "bye", 5);
  CHECK(p.part == NULL);
  rec_reset(&r);
  sio_ws_parser_free(&p);
}

TEST(byte_by_byte) {
  static uint8_t in[80000];
  size_t n = mixed_stream(in);
  sio_ws_parser_t p;
  rec_t whole = {0}, r = {0};
  sio_ws_parser_init(&p, SIO_WS_ROLE_SERVER, 1 << 20);
  CHECK_EQ_INT(feed(&p, &whole, in, n, 0), 0);
  sio_ws_parser_free(&p);

  size_t chunks[] = {1, 2, 3, 5, 7, 13, 64, 127, 1000, 4096};
  for (size_t c = 0; c < sizeof chunks / sizeof chunks[0]; c++) {
    sio_ws_parser_init(&p, SIO_WS_ROLE_SERVER, 1 << 20);
    CHECK_EQ_INT(feed(&p, &r, in, n, chunks[c]), 0);
    CHECK(same_events(&whole, &r));
    CHECK(p.part == NULL);
    rec_reset(&r);
    sio_ws_parser_free(&p);
  }
  rec_reset(&whole);
}

TEST(every_two_way_split) {
  uint8_t in[256];
  size_t n = 0;
  n += build(in + n, SIO_WS_OP_TEXT, 0, "ab", 2, mask_a);
  n += build(in + n, SIO_WS_OP_PING, 1, "x", 1, mask_b);
  n += build(in + n, SIO_WS_OP_CONT, 1, "cd", 2, mask_b);
  static uint8_t mid[200];
  fill_pattern(mid, sizeof mid);
  n += build(in + n, SIO_WS_OP_BINARY, 1, mid, sizeof mid, mask_a);
  for (size_t cut = 0; cut <= n; cut++) {
    sio_ws_parser_t p;
    rec_t r = {0};
    sio_ws_parser_init(&p, SIO_WS_ROLE_SERVER, 1 << 20);
    CHECK_EQ_INT(feed(&p, &r, in, cut, 0), 0);
    CHECK_EQ_INT(feed(&p, &r, in + cut, n - cut, 0), 0);
    CHECK_EQ_INT(r.n, 3);
    CHECK_EQ_INT(r.ev[0].opcode, SIO_WS_OP_PING);
    CHECK_STR(r.ev[1].data, r.ev[1].len, "abcd");
    CHECK_MEM(r.ev[2].data, r.ev[2].len, mid, sizeof mid);
    CHECK(p.part == NULL);
    rec_reset(&r);
    sio_ws_parser_free(&p);
  }
}

TEST(interleaved_ping_between_fragments) {
  uint8_t in[128];
  size_t n = 0;
  n += build(in + n, SIO_WS_OP_TEXT, 0, "Hel", 3, mask_a);
  n += build(in + n, SIO_WS_OP_PING, 1, "x", 1, mask_b);
  n += build(in + n, SIO_WS_OP_CONT, 0, "l", 1, mask_a);
  n += build(in + n, SIO_WS_OP_CLOSE, 1, "\x03\xe8", 2, mask_a);
  n += build(in + n, SIO_WS_OP_CONT, 1, "o", 1, mask_b);
  sio_ws_parser_t p;
  rec_t r = {0};
  sio_ws_parser_init(&p, SIO_WS_ROLE_SERVER, 1 << 20);
  CHECK_EQ_INT(feed(&p, &r, in, n, 0), 0);
  CHECK_EQ_INT(r.n, 3);
  CHECK(r.ev[0].control && r.ev[0].opcode == SIO_WS_OP_PING);
  CHECK_STR(r.ev[0].data, r.ev[0].len, "x");
  CHECK(r.ev[1].control && r.ev[1].opcode == SIO_WS_OP_CLOSE);
  CHECK(!r.ev[2].control && r.ev[2].opcode == SIO_WS_OP_TEXT);
  CHECK_STR(r.ev[2].data, r.ev[2].len, "Hello");
  rec_reset(&r);
  sio_ws_parser_free(&p);
}

TEST(callback_stops_parsing) {
  uint8_t in[64];
  size_t n = 0;
  n += build(in + n, SIO_WS_OP_TEXT, 1, "one", 3, mask_a);
  n += build(in + n, SIO_WS_OP_TEXT, 1, "two", 3, mask_a);
  sio_ws_parser_t p;
  rec_t r = {0};
  r.stop_after = 1;
  sio_ws_parser_init(&p, SIO_WS_ROLE_SERVER, 1 << 20);
  CHECK_EQ_INT(feed(&p, &r, in, n, 0), 42);
  CHECK_EQ_INT(r.n, 1);
  CHECK_STR(r.ev[0].data, r.ev[0].len, "one");
  CHECK_EQ_INT(p.close_code, 0);
  CHECK(p.part == NULL);
  rec_reset(&r);
  sio_ws_parser_free(&p);

  /* What was left unparsed (`used` tells where it begins) is parsed when fed again: the server
   * stops reading a connection that way while its replies are unwritten (backpressure). */
  uint8_t again[64];
  memcpy(again, in, n);
  size_t used = 99;
  r.stop_after = 1;
  sio_ws_parser_init(&p, SIO_WS_ROLE_SERVER, 1 << 20);
  CHECK_EQ_INT(sio_ws_parser_execute(&p, &cbs, &r, (char *)again, n, &used), 42);
  CHECK_EQ_INT(used, n / 2);
  r.stop_after = 0;
  CHECK_EQ_INT(sio_ws_parser_execute(&p, &cbs, &r, (char *)again + used, n - used, &used), 0);
  CHECK_EQ_INT(used, n / 2);
  CHECK_EQ_INT(r.n, 2);
  CHECK_STR(r.ev[1].data, r.ev[1].len, "two");
  rec_reset(&r);
  sio_ws_parser_free(&p);
  /* Stopped on a frame finished from the parser's buffer: `used` counts the bytes it took. */
  memcpy(again, in, n);
  r.stop_after = 1;
  sio_ws_parser_init(&p, SIO_WS_ROLE_SERVER, 1 << 20);
  CHECK_EQ_INT(sio_ws_parser_execute(&p, &cbs, &r, (char *)again, 4, &used), 0);
  CHECK_EQ_INT(used, 4);
  CHECK_EQ_INT(sio_ws_parser_execute(&p, &cbs, &r, (char *)again + 4, n - 4, &used), 42);
  CHECK_EQ_INT(used, n / 2 - 4);
  rec_reset(&r);
  sio_ws_parser_free(&p);

  /* Stopping on a fragmented message's last piece, delivered from the parser's own buffer. */
  n = build(in, SIO_WS_OP_BINARY, 0, "ab", 2, mask_a);
  n += build(in + n, SIO_WS_OP_CONT, 1, "cd", 2, mask_a);
  r.stop_after = 1;
  sio_ws_parser_init(&p, SIO_WS_ROLE_SERVER, 1 << 20);
  CHECK_EQ_INT(feed(&p, &r, in, n, 1), 42);
  CHECK_STR(r.ev[0].data, r.ev[0].len, "abcd");
  CHECK(p.part == NULL);
  rec_reset(&r);
  sio_ws_parser_free(&p);
}

TEST(idle_parser_holds_no_heap) {
  uint8_t in[64];
  size_t n = build(in, SIO_WS_OP_TEXT, 1, "Hello", 5, mask_a);
  sio_ws_parser_t p;
  rec_t r = {0};
  sio_ws_parser_init(&p, SIO_WS_ROLE_SERVER, 1 << 20);
  CHECK_EQ_INT(feed(&p, &r, in, 4, 0), 0);
  CHECK(p.part && p.part->frame.data != NULL); /* a partial frame is buffered... */
  CHECK_EQ_INT(feed(&p, &r, in + 4, n - 4, 0), 0);
  CHECK(p.part == NULL); /* ...and released once whole */
  CHECK_EQ_INT(r.n, 1);
  rec_reset(&r);
  sio_ws_parser_free(&p);
}

/* ---------------------------------------------------------------------------------------------- */
/* Errors                                                                                          */

/* Feeds `in` whole and byte by byte to fresh parsers; both must fail with err/close_code, deliver
 * `events` events first, and hold no heap afterwards. */
static int expect_error(int role, size_t max, const uint8_t *in, size_t n, int err, int code,
                        size_t events) {
  for (size_t chunk = 0; chunk <= 1; chunk++) {
    sio_ws_parser_t p;
    rec_t r = {0};
    sio_ws_parser_init(&p, role, max);
    int rv = feed(&p, &r, in, n, chunk);
    size_t got = r.n;
    rec_reset(&r);
    int ok = rv == err && p.close_code == code && got == events && p.part == NULL;
    /* Errors are sticky. */
    char more[2] = {(char)0x81, 0};
    ok = ok && sio_ws_parser_execute(&p, &cbs, &r, more, 2, NULL) == err && r.n == 0;
    sio_ws_parser_free(&p);
    if (!ok) {
      fprintf(stderr, "  chunk %zu: rv %d (want %d), close_code %d (want %d), events %zu (want %zu)\n",
              chunk, rv, err, p.close_code, code, got, events);
      return 0;
    }
  }
  return 1;
}

TEST(error_unmasked_to_server) {
  static const uint8_t in[] = {0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f};
  CHECK(expect_error(SIO_WS_ROLE_SERVER, 1000, in, sizeof in, SIO_EPROTO, 1002, 0));
}

TEST(error_masked_to_client) {
  static const uint8_t in[] = {0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58};
  CHECK(expect_error(SIO_WS_ROLE_CLIENT, 1000, in, sizeof in, SIO_EPROTO, 1002, 0));
}

TEST(error_rsv_bits) {
  for (int bit = 0x10; bit <= 0x40; bit <<= 1) {
    uint8_t in[16];
    size_t n = build(in, SIO_WS_OP_TEXT, 1, "hi", 2, mask_a);
    in[0] |= (uint8_t)bit;
    CHECK(expect_error(SIO_WS_ROLE_SERVER, 1000, in, n, SIO_EPROTO, 1002, 0));
  }
}

TEST(error_unknown_opcodes) {
  static const int ops[] = {3, 4, 5, 6, 7, 0xb, 0xc, 0xd, 0xe, 0xf};
  for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++) {
    uint8_t in[16];
    size_t n = build(in, ops[i], 1, "hi", 2, mask_a);
    CHECK(expect_error(SIO_WS_ROLE_SERVER, 1000, in, n, SIO_EPROTO, 1002, 0));
  }
}

TEST(error_fragmented_control) {
  static const int ops[] = {SIO_WS_OP_PING, SIO_WS_OP_PONG, SIO_WS_OP_CLOSE};
  for (size_t i = 0; i < 3; i++) {
    uint8_t in[16];
    size_t n = build(in, ops[i], 0, "", 0, mask_a);
    CHECK(expect_error(SIO_WS_ROLE_SERVER, 1000, in, n, SIO_EPROTO, 1002, 0));
  }
}

TEST(error_oversized_control) {
  static uint8_t payload[126], in[200];
  size_t n = build(in, SIO_WS_OP_PING, 1, payload, 126, mask_a);
  CHECK(expect_error(SIO_WS_ROLE_SERVER, 1000, in, n, SIO_EPROTO, 1002, 0));
  /* 125 is fine. */
  n = build(in, SIO_WS_OP_PING, 1, payload, 125, mask_a);
  sio_ws_parser_t p;
  rec_t r = {0};
  sio_ws_parser_init(&p, SIO_WS_ROLE_SERVER, 10); /* control frames ignore max_message */
  CHECK_EQ_INT(feed(&p, &r, in, n, 0), 0);
  CHECK_EQ_INT(r.n, 1);
  CHECK_EQ_INT(r.ev[0].len, 125);
  rec_reset(&r);
  sio_ws_parser_free(&p);
}

TEST(error_continuation_without_start) {
  uint8_t in[16];
  size_t n = build(in, SIO_WS_OP_CONT, 1, "hi", 2, mask_a);
  CHECK(expect_error(SIO_WS_ROLE_SERVER, 1000, in, n, SIO_EPROTO, 1002, 0));
  n = build(in, SIO_WS_OP_CONT, 0, "hi", 2, mask_a);
  CHECK(expect_error(SIO_WS_ROLE_SERVER, 1000, in, n, SIO_EPROTO, 1002, 0));
  /* A finished message does not leave one open. */
  n = build(in, SIO_WS_OP_TEXT, 1, "a", 1, mask_a);
  n += build(in + n, SIO_WS_OP_CONT, 1, "b", 1, mask_a);
  CHECK(expect_error(SIO_WS_ROLE_SERVER, 1000, in, n, SIO_EPROTO, 1002, 1));
}

TEST(error_new_message_inside_fragmented) {
  uint8_t in[32];
  size_t n = build(in, SIO_WS_OP_TEXT, 0, "a", 1, mask_a);
  n += build(in + n, SIO_WS_OP_BINARY, 1, "b", 1, mask_a);
  CHECK(expect_error(SIO_WS_ROLE_SERVER, 1000, in, n, SIO_EPROTO, 1002, 0));
  n = build(in, SIO_WS_OP_BINARY, 0, "a", 1, mask_a);
  n += build(in + n, SIO_WS_OP_PING, 1, "", 0, mask_a);
  n += build(in + n, SIO_WS_OP_TEXT, 0, "b", 1, mask_a);
  CHECK(expect_error(SIO_WS_ROLE_SERVER, 1000, in, n, SIO_EPROTO, 1002, 1));
}

TEST(error_64bit_length_top_bit) {
  static const uint8_t in[] = {0x82, 0xff, 0x80, 0, 0, 0, 0, 0, 0, 1, 1, 2, 3, 4};
  CHECK(expect_error(SIO_WS_ROLE_SERVER, 0, in, sizeof in, SIO_EPROTO, 1002, 0));
}

TEST(non_minimal_lengths_accepted) {
  /* "hi" with a 16-bit and with a 64-bit length field. */
  static const uint8_t in[] = {0x81, 0x7e, 0, 2, 'h', 'i', 0x81, 0x7f, 0, 0, 0, 0, 0, 0, 0, 2,
                               'h', 'i'};
  sio_ws_parser_t p;
  rec_t r = {0};
  sio_ws_parser_init(&p, SIO_WS_ROLE_CLIENT, 100);
  CHECK_EQ_INT(feed(&p, &r, in, sizeof in, 0), 0);
  CHECK_EQ_INT(r.n, 2);
  CHECK_STR(r.ev[1].data, r.ev[1].len, "hi");
  rec_reset(&r);
  sio_ws_parser_free(&p);
}

TEST(error_too_big_refused_on_header) {
  /* Declares 2^40 bytes and sends only the header: refused at once, nothing allocated. */
  static const uint8_t in[] = {0x82, 0xff, 0, 0, 0x01, 0, 0, 0, 0, 0, 1, 2, 3, 4};
  CHECK(expect_error(SIO_WS_ROLE_SERVER, 1 << 20, in, sizeof in, SIO_ETOOBIG, 1009, 0));
  /* Unlimited (0) parsers still refuse what cannot fit in memory. */
  static const uint8_t huge[] = {0x82, 0xff, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                                 1, 2, 3, 4};
  if (sizeof(size_t) < 8) {
    CHECK(expect_error(SIO_WS_ROLE_SERVER, 0, huge, sizeof huge, SIO_ETOOBIG, 1009, 0));
  }
  /* One byte over, and exactly at the limit. */
  static uint8_t payload[101], frame[128];
  size_t n = build(frame, SIO_WS_OP_BINARY, 1, payload, 101, mask_a);
  CHECK(expect_error(SIO_WS_ROLE_SERVER, 100, frame, n, SIO_ETOOBIG, 1009, 0));
  n = build(frame, SIO_WS_OP_BINARY, 1, payload, 100, mask_a);
  sio_ws_parser_t p;
  rec_t r = {0};
  sio_ws_parser_init(&p, SIO_WS_ROLE_SERVER, 100);
  CHECK_EQ_INT(feed(&p, &r, frame, n, 0), 0);
  CHECK_EQ_INT(r.n, 1);
  rec_reset(&r);
  sio_ws_parser_free(&p);
}

TEST(error_too_big_fragments) {
  static uint8_t payload[60], in[256];
  size_t n = build(in, SIO_WS_OP_TEXT, 0, payload, 60, mask_a);
  n += build(in + n, SIO_WS_OP_PING, 1, "", 0, mask_a);
  n += build(in + n, SIO_WS_OP_CONT, 0, payload, 40, mask_a);
  n += build(in + n, SIO_WS_OP_CONT, 1, payload, 1, mask_a);
  CHECK(expect_error(SIO_WS_ROLE_SERVER, 100, in, n, SIO_ETOOBIG, 1009, 1));
  /* 60 + 40 + 0 fits. */
  n = build(in, SIO_WS_OP_BINARY, 0, payload, 60, mask_a);
  n += build(in + n, SIO_WS_OP_CONT, 0, payload, 40, mask_a);
  n += build(in + n, SIO_WS_OP_CONT, 1, payload, 0, mask_a);
  sio_ws_parser_t p;
  rec_t r = {0};
  sio_ws_parser_init(&p, SIO_WS_ROLE_SERVER, 100);
  CHECK_EQ_INT(feed(&p, &r, in, n, 0), 0);
  CHECK_EQ_INT(r.n, 1);
  CHECK_EQ_INT(r.ev[0].len, 100);
  rec_reset(&r);
  sio_ws_parser_free(&p);
}

TEST(error_invalid_utf8) {
  uint8_t in[64];
  size_t n = build(in, SIO_WS_OP_TEXT, 1, "a\xff" "b", 3, mask_a);
  CHECK(expect_error(SIO_WS_ROLE_SERVER, 1000, in, n, SIO_EUTF8, 1007, 0));
  n = build(in, SIO_WS_OP_TEXT, 1, "\xed\xa0\x80", 3, mask_a); /* a surrogate */
  CHECK(expect_error(SIO_WS_ROLE_SERVER, 1000, in, n, SIO_EUTF8, 1007, 0));
  /* Fragmented, invalid once joined. */
  n = build(in, SIO_WS_OP_TEXT, 0, "ok\xc3", 3, mask_a);
  n += build(in + n, SIO_WS_OP_CONT, 1, "x", 1, mask_a);
  CHECK(expect_error(SIO_WS_ROLE_SERVER, 1000, in, n, SIO_EUTF8, 1007, 0));
  /* Binary is not checked. */
  n = build(in, SIO_WS_OP_BINARY, 1, "a\xff", 2, mask_a);
  sio_ws_parser_t p;
  rec_t r = {0};
  sio_ws_parser_init(&p, SIO_WS_ROLE_SERVER, 1000);
  CHECK_EQ_INT(feed(&p, &r, in, n, 0), 0);
  CHECK_EQ_INT(r.n, 1);
  rec_reset(&r);
  sio_ws_parser_free(&p);
}

/* The UTF-8 check is skipped for text the unmasking pass saw to be ASCII: a non-ASCII byte, valid
 * or not, at every position 0..40 of texts of 0..70 bytes, fed whole (in-place unmasking), byte by
 * byte and in two pieces (unmasked on the way into the frame buffer), each frame after an ASCII
 * one on the same parser (whose flags must not carry over). */
TEST(utf8_check_after_ascii_unmasking) {
  static const char *const seqs[] = {"\xC3\xA9", "\xFF", "\x80", "\xED\xA0\x80", "\xC3"};
  static const int valid[] = {1, 0, 0, 0, 0};
  uint8_t in[200], text[80];
  for (size_t k = 0; k < sizeof seqs / sizeof *seqs; k++)
    for (size_t len = 0; len <= 70; len++)
      for (size_t pos = 0; pos <= 40 && pos + strlen(seqs[k]) <= len; pos++)
        for (size_t chunk = 0; chunk <= 2; chunk++) {
          memset(text, 'a', sizeof text);
          memcpy(text + pos, seqs[k], strlen(seqs[k]));
          size_t n = build(in, SIO_WS_OP_TEXT, 1, "plain", 5, mask_a);
          size_t second = n;
          n += build(in + n, SIO_WS_OP_TEXT, 1, text, len, mask_b);
          sio_ws_parser_t p;
          rec_t r = {0};
          sio_ws_parser_init(&p, SIO_WS_ROLE_SERVER, 1000);
          int rv = 0;
          if (chunk == 2) { /* the ASCII frame whole, then the other split inside its payload */
            rv = feed(&p, &r, in, second + 4, 0);
            if (!rv) rv = feed(&p, &r, in + second + 4, n - second - 4, 0);
          } else {
            rv = feed(&p, &r, in, n, chunk);
          }
          CHECK_EQ_INT(rv, valid[k] ? 0 : SIO_EUTF8);
          CHECK_EQ_INT(r.n, valid[k] ? 2 : 1);
          rec_reset(&r);
          sio_ws_parser_free(&p);
        }
}

TEST(error_close_payloads) {
  uint8_t in[64];
  size_t n = build(in, SIO_WS_OP_CLOSE, 1, "\x03", 1, mask_a);
  CHECK(expect_error(SIO_WS_ROLE_SERVER, 1000, in, n, SIO_EPROTO, 1002, 0));

  static const int bad[] = {0, 999, 1004, 1005, 1006, 1012, 1015, 1016, 2000, 2999, 5000, 65535};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    char pl[2] = {(char)(bad[i] >> 8), (char)bad[i]};
    n = build(in, SIO_WS_OP_CLOSE, 1, pl, 2, mask_a);
    CHECK(expect_error(SIO_WS_ROLE_SERVER, 1000, in, n, SIO_EPROTO, 1002, 0));
  }
  n = build(in, SIO_WS_OP_CLOSE, 1, "\x03\xe8\xc0\xaf", 4, mask_a); /* overlong '/' */
  CHECK(expect_error(SIO_WS_ROLE_SERVER, 1000, in, n, SIO_EUTF8, 1007, 0));

  static const int good[] = {1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 3000, 3999,
                             4000, 4999};
  for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
    char pl[6] = {(char)(good[i] >> 8), (char)good[i], 'r', '\xc3', '\xa9', 's'};
    n = build(in, SIO_WS_OP_CLOSE, 1, pl, 6, mask_a);
    sio_ws_parser_t p;
    rec_t r = {0};
    sio_ws_parser_init(&p, SIO_WS_ROLE_SERVER, 1000);
    CHECK_EQ_INT(feed(&p, &r, in, n, 0), 0);
    CHECK_EQ_INT(r.n, 1);
    CHECK_EQ_INT(r.ev[0].opcode, SIO_WS_OP_CLOSE);
    CHECK_MEM(r.ev[0].data, r.ev[0].len, pl, 6);
    rec_reset(&r);
    sio_ws_parser_free(&p);
  }
  /* An empty CLOSE is fine. */
  n = build(in, SIO_WS_OP_CLOSE, 1, "", 0, mask_a);
  sio_ws_parser_t p;
  rec_t r = {0};
  sio_ws_parser_init(&p, SIO_WS_ROLE_SERVER, 1000);
  CHECK_EQ_INT(feed(&p, &r, in, n, 0), 0);
  CHECK_EQ_INT(r.n, 1);
  CHECK_EQ_INT(r.ev[0].len, 0);
  rec_reset(&r);
  sio_ws_parser_free(&p);
}

TEST(error_after_partial_buffers_released) {
  /* A fragment and a partial frame both buffered when the error comes: both are released. */
  uint8_t in[64];
  size_t n = build(in, SIO_WS_OP_TEXT, 0, "abc", 3, mask_a);
  sio_ws_parser_t p;
  rec_t r = {0};
  sio_ws_parser_init(&p, SIO_WS_ROLE_SERVER, 1000);
  CHECK_EQ_INT(feed(&p, &r, in, n, 0), 0);
  CHECK(p.part && p.part->message.data != NULL);
  n = build(in, SIO_WS_OP_CONT, 1, "d\xff", 2, mask_a);
  CHECK_EQ_INT(feed(&p, &r, in, 3, 0), 0);
  CHECK(p.part && p.part->frame.data != NULL);
  CHECK_EQ_INT(feed(&p, &r, in + 3, n - 3, 0), SIO_EUTF8);
  CHECK_EQ_INT(p.close_code, 1007);
  CHECK(p.part == NULL);
  CHECK_EQ_INT(r.n, 0);
  rec_reset(&r);
  sio_ws_parser_free(&p);
}

/* ---------------------------------------------------------------------------------------------- */
/* Building                                                                                        */

TEST(accept_key) {
  char out[29];
  CHECK_EQ_INT(sio_ws_accept_key("dGhlIHNhbXBsZSBub25jZQ==", 24, out), 0);
  /* RFC 6455 section 1.3's example (and `openssl sha1 -binary | base64`). */
  CHECK(strcmp(out, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=") == 0);
  CHECK_EQ_INT(sio_ws_accept_key("dGhlIHNhbXBsZSBub25jZQ=", 23, out), SIO_EINVAL);
  CHECK_EQ_INT(sio_ws_accept_key("dGhlIHNhbXBsZSBub25jZQ===", 25, out), SIO_EINVAL);
  CHECK_EQ_INT(sio_ws_accept_key("dGhlIHNhbXBsZSBub25jZQAA", 24, out), SIO_EINVAL);
  CHECK_EQ_INT(sio_ws_accept_key("dGhlIHNhbXBsZSBub25j!Q==", 24, out), SIO_EINVAL);
  CHECK_EQ_INT(sio_ws_accept_key("dGhlIHNhbXBsZSBub25jZ===", 24, out), SIO_EINVAL);
  CHECK_EQ_INT(sio_ws_accept_key("", 0, out), SIO_EINVAL);
}

TEST(frame_header_lengths) {
  uint8_t h[14];
  CHECK_EQ_INT(sio_ws_frame_header(h, SIO_WS_OP_TEXT, 1, 0, NULL), 2);
  CHECK(h[0] == 0x81 && h[1] == 0x00);
  CHECK_EQ_INT(sio_ws_frame_header(h, SIO_WS_OP_BINARY, 1, 125, NULL), 2);
  CHECK(h[0] == 0x82 && h[1] == 125);
  CHECK_EQ_INT(sio_ws_frame_header(h, SIO_WS_OP_BINARY, 0, 126, NULL), 4);
  CHECK(h[0] == 0x02 && h[1] == 126 && h[2] == 0 && h[3] == 126);
  CHECK_EQ_INT(sio_ws_frame_header(h, SIO_WS_OP_CONT, 1, 65535, NULL), 4);
  CHECK(h[0] == 0x80 && h[1] == 126 && h[2] == 0xff && h[3] == 0xff);
  CHECK_EQ_INT(sio_ws_frame_header(h, SIO_WS_OP_TEXT, 1, 65536, NULL), 10);
  static const uint8_t e64[] = {0x81, 127, 0, 0, 0, 0, 0, 1, 0, 0};
  CHECK(memcmp(h, e64, 10) == 0);
  CHECK_EQ_INT(sio_ws_frame_header(h, SIO_WS_OP_TEXT, 1, 0x0102030405060708ull, NULL), 10);
  static const uint8_t e64b[] = {0x81, 127, 1, 2, 3, 4, 5, 6, 7, 8};
  CHECK(memcmp(h, e64b, 10) == 0);
  /* Masked, as a client writes them. */
  CHECK_EQ_INT(sio_ws_frame_header(h, SIO_WS_OP_TEXT, 1, 5, mask_a), 6);
  CHECK(h[0] == 0x81 && h[1] == 0x85 && memcmp(h + 2, mask_a, 4) == 0);
  CHECK_EQ_INT(sio_ws_frame_header(h, SIO_WS_OP_TEXT, 1, 126, mask_a), 8);
  CHECK(h[1] == (0x80 | 126) && memcmp(h + 4, mask_a, 4) == 0);
  CHECK_EQ_INT(sio_ws_frame_header(h, SIO_WS_OP_TEXT, 1, 65536, mask_a), 14);
  CHECK(h[1] == 0xff && memcmp(h + 10, mask_a, 4) == 0);
}

TEST(mask_matches_bytewise) {
  uint8_t a[300], b[300];
  for (size_t off = 0; off < 8; off++) {
    for (size_t len = 0; len < 80; len++) {
      for (size_t start = 0; start < 3; start++) {
        fill_pattern(a, sizeof a);
        memcpy(b, a, sizeof a);
        sio_ws_mask(a + start, len, mask_b, off);
        for (size_t i = 0; i < len; i++) b[start + i] ^= mask_b[(off + i) & 3];
        CHECK(memcmp(a, b, sizeof a) == 0);
      }
    }
  }
  /* Masking in two pieces equals masking at once. */
  fill_pattern(a, sizeof a);
  memcpy(b, a, sizeof a);
  sio_ws_mask(a, 300, mask_a, 0);
  sio_ws_mask(b, 101, mask_a, 0);
  sio_ws_mask(b + 101, 199, mask_a, 101);
  CHECK(memcmp(a, b, sizeof a) == 0);
}

TEST(close_frame_round_trip) {
  uint8_t out[127];
  size_t n = sio_ws_close_frame(out, 1000, "bye");
  CHECK_EQ_INT(n, 7);
  CHECK_MEM(out, n, "\x88\x05\x03\xe8" "bye", 7);

  sio_ws_parser_t p;
  rec_t r = {0};
  sio_ws_parser_init(&p, SIO_WS_ROLE_CLIENT, 1000);
  CHECK_EQ_INT(feed(&p, &r, out, n, 0), 0);
  CHECK_EQ_INT(r.n, 1);
  CHECK_EQ_INT(r.ev[0].opcode, SIO_WS_OP_CLOSE);
  int code = 0;
  const char *reason = NULL;
  size_t rlen = 99;
  CHECK_EQ_INT(sio_ws_parse_close(r.ev[0].data, r.ev[0].len, &code, &reason, &rlen), 0);
  CHECK_EQ_INT(code, 1000);
  CHECK_STR(reason, rlen, "bye");
  rec_reset(&r);
  sio_ws_parser_free(&p);

  /* No code: an empty payload, read back as 1005. */
  n = sio_ws_close_frame(out, 0, "ignored");
  CHECK_EQ_INT(n, 2);
  CHECK(out[0] == 0x88 && out[1] == 0);
  CHECK_EQ_INT(sio_ws_parse_close((const char *)out + 2, 0, &code, &reason, &rlen), 0);
  CHECK_EQ_INT(code, 1005);
  CHECK_EQ_INT(rlen, 0);
  CHECK(reason != NULL);

  n = sio_ws_close_frame(out, 4000, NULL);
  CHECK_MEM(out, n, "\x88\x02\x0f\xa0", 4);

  /* A long reason is cut to fit in 127 bytes, on a character boundary. */
  char longr[300];
  memset(longr, 'x', sizeof longr);
  longr[sizeof longr - 1] = 0;
  n = sio_ws_close_frame(out, 1001, longr);
  CHECK_EQ_INT(n, 127);
  CHECK_EQ_INT(out[1], 125);
  for (size_t i = 0; i < 122; i++) memcpy(longr + i * 2, "\xc3\xa9", 2); /* 122 x "é" */
  longr[244] = 0;
  n = sio_ws_close_frame(out, 1001, longr);
  CHECK_EQ_INT(n, 126); /* 122 bytes of reason: the 123rd would split a character */
  CHECK_EQ_INT(sio_ws_parse_close((const char *)out + 2, n - 2, &code, &reason, &rlen), 0);
  CHECK_EQ_INT(rlen, 122);
  /* And the parser takes it. */
  sio_ws_parser_init(&p, SIO_WS_ROLE_CLIENT, 1000);
  CHECK_EQ_INT(feed(&p, &r, out, n, 1), 0);
  CHECK_EQ_INT(r.n, 1);
  rec_reset(&r);
  sio_ws_parser_free(&p);
}

TEST(parse_close_direct) {
  int code;
  const char *reason;
  size_t rlen;
  CHECK_EQ_INT(sio_ws_parse_close("\x03", 1, &code, &reason, &rlen), SIO_EPROTO);
  CHECK_EQ_INT(sio_ws_parse_close("\x03\xed", 2, &code, &reason, &rlen), SIO_EPROTO); /* 1005 */
  CHECK_EQ_INT(sio_ws_parse_close("\x0b\xb8\xff", 3, &code, &reason, &rlen), SIO_EUTF8);
  CHECK_EQ_INT(sio_ws_parse_close("\x0b\xb8ok", 4, &code, &reason, &rlen), 0);
  CHECK_EQ_INT(code, 3000);
  CHECK_STR(reason, rlen, "ok");
}

TEST(client_role_stream) {
  /* What a server sends, read by a client: unmasked frames of every kind, split oddly. */
  static uint8_t big[1000], in[2000];
  fill_pattern(big, sizeof big);
  size_t n = 0;
  n += build(in + n, SIO_WS_OP_TEXT, 1, "4hello", 6, NULL);
  n += build(in + n, SIO_WS_OP_BINARY, 0, big, 500, NULL);
  n += build(in + n, SIO_WS_OP_PING, 1, "", 0, NULL);
  n += build(in + n, SIO_WS_OP_CONT, 1, big + 500, 500, NULL);
  n += sio_ws_close_frame(in + n, 1000, "");
  for (size_t chunk = 0; chunk < 9; chunk += 4) {
    sio_ws_parser_t p;
    rec_t r = {0};
    sio_ws_parser_init(&p, SIO_WS_ROLE_CLIENT, 1000);
    CHECK_EQ_INT(feed(&p, &r, in, n, chunk), 0);
    CHECK_EQ_INT(r.n, 4);
    CHECK_STR(r.ev[0].data, r.ev[0].len, "4hello");
    CHECK_EQ_INT(r.ev[1].opcode, SIO_WS_OP_PING);
    CHECK_EQ_INT(r.ev[2].opcode, SIO_WS_OP_BINARY);
    CHECK_MEM(r.ev[2].data, r.ev[2].len, big, 1000);
    CHECK_EQ_INT(r.ev[3].opcode, SIO_WS_OP_CLOSE);
    CHECK(p.part == NULL);
    rec_reset(&r);
    sio_ws_parser_free(&p);
  }
}

TEST(empty_input) {
  sio_ws_parser_t p;
  rec_t r = {0};
  sio_ws_parser_init(&p, SIO_WS_ROLE_SERVER, 1000);
  CHECK_EQ_INT(sio_ws_parser_execute(&p, &cbs, &r, NULL, 0, NULL), 0);
  CHECK_EQ_INT(r.n, 0);
  CHECK(p.part == NULL || p.part->frame.data == NULL);
  sio_ws_parser_free(&p);
}

TEST_MAIN(RUN(rfc_masked_hello), RUN(rfc_unmasked_hello_client_role), RUN(rfc_fragmented),
          RUN(rfc_ping_pong), RUN(rfc_binary_256_and_64k), RUN(mixed_stream_whole),
          RUN(byte_by_byte), RUN(every_two_way_split), RUN(interleaved_ping_between_fragments),
          RUN(callback_stops_parsing), RUN(idle_parser_holds_no_heap),
          RUN(error_unmasked_to_server), RUN(error_masked_to_client), RUN(error_rsv_bits),
          RUN(error_unknown_opcodes), RUN(error_fragmented_control), RUN(error_oversized_control),
          RUN(error_continuation_without_start), RUN(error_new_message_inside_fragmented),
          RUN(error_64bit_length_top_bit), RUN(non_minimal_lengths_accepted),
          RUN(error_too_big_refused_on_header), RUN(error_too_big_fragments), RUN(utf8_check_after_ascii_unmasking),
          RUN(error_invalid_utf8), RUN(error_close_payloads),
          RUN(error_after_partial_buffers_released), RUN(accept_key), RUN(frame_header_lengths),
          RUN(mask_matches_bytewise), RUN(close_frame_round_trip), RUN(parse_close_direct),
          RUN(client_role_stream), RUN(empty_input))
