/* permessage-deflate (RFC 7692): offer negotiation, compressed frames, and the parser's inflate
 * with its bound (a decompression bomb is refused at max_message). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zlib.h>

#include "sio.h"
#include "test.h"
#include "websocket/ws.h"

/* ---------------------------------------------------------------------------------------------- */
/* Negotiation                                                                                     */

static int nego(const char *offer, sio_ws_pmd_t *out) {
  memset(out, 0x55, sizeof *out);
  return sio_ws_pmd_negotiate(offer, strlen(offer), out);
}

TEST(negotiate_plain_offers) {
  sio_ws_pmd_t p;
  CHECK_EQ_INT(nego("permessage-deflate", &p), 1);
  CHECK_EQ_INT(p.on, 1);
  CHECK_EQ_INT(p.server_bits, 15);
  CHECK_EQ_INT(p.client_bits, 0);
  /* What browsers and ws send by default. */
  CHECK_EQ_INT(nego("permessage-deflate; client_max_window_bits", &p), 1);
  CHECK_EQ_INT(p.client_bits, 0);
  CHECK_EQ_INT(nego("permessage-deflate; client_max_window_bits=10", &p), 1);
  CHECK_EQ_INT(p.client_bits, 10);
  CHECK_EQ_INT(nego("permessage-deflate;server_max_window_bits=10", &p), 1);
  CHECK_EQ_INT(p.server_bits, 10);
  CHECK_EQ_INT(nego("permessage-deflate; server_no_context_takeover; client_no_context_takeover",
                    &p), 1);
  CHECK_EQ_INT(p.server_bits, 15);
  /* Quoted values are tokens once unquoted (RFC 6455 9.1). */
  CHECK_EQ_INT(nego("permessage-deflate; server_max_window_bits=\"12\"", &p), 1);
  CHECK_EQ_INT(p.server_bits, 12);
  CHECK_EQ_INT(nego("  permessage-deflate \t;\t client_max_window_bits = 9  ", &p), 1);
  CHECK_EQ_INT(p.client_bits, 9);
}

TEST(negotiate_declines_and_falls_back) {
  sio_ws_pmd_t p;
  static const char *const declined[] = {
      "",
      "x-webkit-deflate-frame",
      "permessage-deflate; server_max_window_bits",       /* a value is required */
      "permessage-deflate; server_max_window_bits=8",     /* zlib cannot: declined */
      "permessage-deflate; server_max_window_bits=16",
      "permessage-deflate; server_max_window_bits=010",   /* no leading zeros */
      "permessage-deflate; client_max_window_bits=7",
      "permessage-deflate; server_no_context_takeover=1", /* takes no value */
      "permessage-deflate; client_no_context_takeover; client_no_context_takeover",
      "permessage-deflate; unknown_param",
      "permessage-deflate; server_max_window_bits=\"10",  /* unterminated quote */
      "permessage-deflate;;",
      "permessage-deflate; =10",
      "permessage-deflate x",
      ";permessage-deflate",
  };
  for (size_t i = 0; i < sizeof declined / sizeof *declined; i++) {
    if (nego(declined[i], &p) != 0) {
      fprintf(stderr, "accepted: %s\n", declined[i]);
      CHECK(0);
    }
  }
  /* A bad offer is skipped and the next one taken. */
  CHECK_EQ_INT(nego("permessage-deflate; server_max_window_bits=8, permessage-deflate; "
                    "client_max_window_bits", &p), 1);
  CHECK_EQ_INT(p.server_bits, 15);
  CHECK_EQ_INT(nego("foo; a=\"x,y\", permessage-deflate; server_max_window_bits=11", &p), 1);
  CHECK_EQ_INT(p.server_bits, 11);
  CHECK_EQ_INT(nego("permessage-deflate; x=\"a, b\", permessage-deflate", &p), 1);
  CHECK_EQ_INT(p.server_bits, 15);
  CHECK_EQ_INT(nego(", ,permessage-deflate", &p), 1);
  CHECK_EQ_INT(sio_ws_pmd_negotiate(NULL, 0, &p), 0);
}

TEST(negotiate_response) {
  char out[160];
  sio_ws_pmd_t p = {1, 15, 0};
  size_t n = sio_ws_pmd_response(&p, out);
  CHECK_EQ_INT(n, strlen(out));
  CHECK(strcmp(out, "Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover; "
                    "client_no_context_takeover\r\n") == 0);
  sio_ws_pmd_t q = {1, 10, 12};
  sio_ws_pmd_response(&q, out);
  CHECK(strcmp(out, "Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover; "
                    "client_no_context_takeover; server_max_window_bits=10; "
                    "client_max_window_bits=12\r\n") == 0);
}

/* ---------------------------------------------------------------------------------------------- */
/* Compressed frames                                                                               */

/* Raw-deflates in[0..len) as a client does (sync flush, 00 00 ff ff removed) into a malloc'd
 * buffer. */
static unsigned char *client_deflate(const void *in, size_t len, size_t *out_len) {
  z_stream z;
  memset(&z, 0, sizeof z);
  if (deflateInit2(&z, 9, Z_DEFLATED, -15, 9, Z_DEFAULT_STRATEGY) != Z_OK) return NULL;
  size_t cap = deflateBound(&z, len) + 64;
  unsigned char *out = malloc(cap);
  z.next_in = (Bytef *)in;
  z.avail_in = (uInt)len;
  z.next_out = out;
  z.avail_out = (uInt)cap;
  deflate(&z, Z_SYNC_FLUSH);
  *out_len = cap - z.avail_out - 4;
  deflateEnd(&z);
  return out;
}

static size_t inflate_all(const unsigned char *in, size_t len, unsigned char *out, size_t cap) {
  z_stream z;
  memset(&z, 0, sizeof z);
  inflateInit2(&z, -15);
  unsigned char buf[1 << 16];
  memcpy(buf, in, len);
  memcpy(buf + len, "\x00\x00\xff\xff", 4);
  z.next_in = buf;
  z.avail_in = (uInt)len + 4;
  z.next_out = out;
  z.avail_out = (uInt)cap;
  inflate(&z, Z_SYNC_FLUSH);
  size_t n = cap - z.avail_out;
  inflateEnd(&z);
  return n;
}

TEST(deflate_frame_shape) {
  sio_ws_zlib_t *z = sio_ws_zlib_new();
  char msg[3000];
  for (size_t i = 0; i < sizeof msg; i++) msg[i] = (char)('a' + i % 7);
  int bits = 0;
  sio_rbuf_t *rb = sio_ws_deflate_frame(z, 15, SIO_WS_OP_TEXT, msg, sizeof msg, &bits);
  CHECK(rb != NULL);
  CHECK_EQ_INT((unsigned char)rb->data[0], 0x80 | 0x40 | SIO_WS_OP_TEXT); /* FIN, RSV1 */
  CHECK_EQ_INT(bits, 12); /* 3000 bytes and the lookahead fit 4 KiB */
  size_t plen = (unsigned char)rb->data[1] & 0x7f;
  CHECK(plen < 126);
  CHECK_EQ_INT(rb->len, 2 + plen);
  unsigned char back[4096];
  CHECK_EQ_INT(inflate_all((unsigned char *)rb->data + 2, plen, back, sizeof back), sizeof msg);
  CHECK(memcmp(back, msg, sizeof msg) == 0);
  sio_rbuf_unref(rb);
  /* A client's smaller window is honoured; the stream is reset between messages. */
  rb = sio_ws_deflate_frame(z, 9, SIO_WS_OP_BINARY, msg, sizeof msg, &bits);
  CHECK(rb != NULL);
  CHECK_EQ_INT(bits, 9);
  CHECK_EQ_INT((unsigned char)rb->data[0], 0x80 | 0x40 | SIO_WS_OP_BINARY);
  plen = (unsigned char)rb->data[1] & 0x7f;
  CHECK_EQ_INT(inflate_all((unsigned char *)rb->data + 2, plen, back, sizeof back), sizeof msg);
  CHECK(memcmp(back, msg, sizeof msg) == 0);
  sio_rbuf_unref(rb);
  sio_ws_zlib_free(z);
}

/* ---------------------------------------------------------------------------------------------- */
/* Inflating received messages                                                                     */

typedef struct {
  int n;
  int opcode;
  size_t len;
  char data[70000];
} got_t;

static int on_message(void *user, int opcode, char *data, size_t len) {
  got_t *g = user;
  g->n++;
  g->opcode = opcode;
  g->len = len;
  if (len <= sizeof g->data) memcpy(g->data, data, len);
  return 0;
}

static int on_control(void *user, int opcode, char *data, size_t len) { return 0; }

/* The streams of the parser deflate_parser set up last (the callbacks give them per message). */
static sio_ws_zlib_t *cur_z;
static sio_ws_zlib_t *cur_zlib(void *user) { return cur_z; }

static const sio_ws_callbacks_t cbs = {on_message, on_control, cur_zlib};
static const uint8_t mask[4] = {0x11, 0x22, 0x33, 0x44};

/* A masked client frame with the given first byte (FIN, RSV, opcode) into a malloc'd buffer. */
static unsigned char *frame(uint8_t b0, const void *payload, size_t len, size_t *out_len) {
  unsigned char *out = malloc(len + 14);
  size_t h = sio_ws_frame_header(out, b0 & 0x0f, b0 >> 7, len, mask);
  out[0] = b0;
  memcpy(out + h, payload, len);
  sio_ws_mask(out + h, len, mask, 0);
  *out_len = h + len;
  return out;
}

static void deflate_parser(sio_ws_parser_t *p, sio_ws_zlib_t *z, size_t max) {
  sio_ws_parser_init(p, SIO_WS_ROLE_SERVER, max);
  sio_ws_pmd_t pmd = {1, 15, 0};
  sio_ws_parser_set_deflate(p, &pmd, z);
  cur_z = z;
}

static got_t got;

TEST(inflate_whole_and_fragmented) {
  sio_ws_zlib_t *z = sio_ws_zlib_new();
  sio_ws_parser_t p;
  deflate_parser(&p, z, 1 << 20);
  char text[5000];
  for (size_t i = 0; i < sizeof text; i++) text[i] = (char)('0' + i % 10);
  size_t clen, flen;
  unsigned char *c = client_deflate(text, sizeof text, &clen);
  unsigned char *f = frame(0x80 | 0x40 | SIO_WS_OP_TEXT, c, clen, &flen);
  memset(&got, 0, sizeof got);
  CHECK_EQ_INT(sio_ws_parser_execute(&p, &cbs, &got, (char *)f, flen, NULL), 0);
  CHECK_EQ_INT(got.n, 1);
  CHECK_EQ_INT(got.opcode, SIO_WS_OP_TEXT);
  CHECK_EQ_INT(got.len, sizeof text);
  CHECK(memcmp(got.data, text, sizeof text) == 0);
  free(f);
  /* The same in two fragments: RSV1 on the first only; then a plain message after it. */
  size_t half = clen / 2, f1len, f2len, f3len;
  unsigned char *f1 = frame(0x40 | SIO_WS_OP_BINARY, c, half, &f1len);
  unsigned char *f2 = frame(0x80 | SIO_WS_OP_CONT, c + half, clen - half, &f2len);
  unsigned char *f3 = frame(0x80 | SIO_WS_OP_TEXT, "plain", 5, &f3len);
  memset(&got, 0, sizeof got);
  CHECK_EQ_INT(sio_ws_parser_execute(&p, &cbs, &got, (char *)f1, f1len, NULL), 0);
  CHECK_EQ_INT(got.n, 0);
  CHECK_EQ_INT(sio_ws_parser_execute(&p, &cbs, &got, (char *)f2, f2len, NULL), 0);
  CHECK_EQ_INT(got.n, 1);
  CHECK_EQ_INT(got.opcode, SIO_WS_OP_BINARY);
  CHECK_EQ_INT(got.len, sizeof text);
  CHECK(memcmp(got.data, text, sizeof text) == 0);
  CHECK_EQ_INT(sio_ws_parser_execute(&p, &cbs, &got, (char *)f3, f3len, NULL), 0);
  CHECK_EQ_INT(got.n, 2);
  CHECK_EQ_INT(got.len, 5);
  CHECK(p.part == NULL);
  free(f1);
  free(f2);
  free(f3);
  free(c);
  sio_ws_parser_free(&p);
  sio_ws_zlib_free(z);
}

static int run_one(sio_ws_parser_t *p, uint8_t b0, const void *payload, size_t len) {
  size_t flen;
  unsigned char *f = frame(b0, payload, len, &flen);
  memset(&got, 0, sizeof got);
  int r = sio_ws_parser_execute(p, &cbs, &got, (char *)f, flen, NULL);
  free(f);
  return r;
}

TEST(rsv1_misplaced_is_1002) {
  sio_ws_zlib_t *z = sio_ws_zlib_new();
  sio_ws_parser_t p;
  size_t clen;
  unsigned char *c = client_deflate("hello", 5, &clen);
  /* Not negotiated. */
  sio_ws_parser_init(&p, SIO_WS_ROLE_SERVER, 1000);
  CHECK_EQ_INT(run_one(&p, 0x80 | 0x40 | SIO_WS_OP_TEXT, c, clen), SIO_EPROTO);
  CHECK_EQ_INT(p.close_code, 1002);
  sio_ws_parser_free(&p);
  /* On a control frame. */
  deflate_parser(&p, z, 1000);
  CHECK_EQ_INT(run_one(&p, 0x80 | 0x40 | SIO_WS_OP_PING, "", 0), SIO_EPROTO);
  CHECK_EQ_INT(p.close_code, 1002);
  sio_ws_parser_free(&p);
  /* On a continuation frame. */
  deflate_parser(&p, z, 1000);
  CHECK_EQ_INT(run_one(&p, 0x40 | SIO_WS_OP_TEXT, c, clen), 0);
  CHECK_EQ_INT(run_one(&p, 0x80 | 0x40 | SIO_WS_OP_CONT, "", 0), SIO_EPROTO);
  CHECK_EQ_INT(p.close_code, 1002);
  sio_ws_parser_free(&p);
  /* RSV2 and RSV3 stay errors with the extension. */
  deflate_parser(&p, z, 1000);
  CHECK_EQ_INT(run_one(&p, 0x80 | 0x20 | SIO_WS_OP_TEXT, "a", 1), SIO_EPROTO);
  sio_ws_parser_free(&p);
  /* And a good one delivers "hello". */
  deflate_parser(&p, z, 1000);
  CHECK_EQ_INT(run_one(&p, 0x80 | 0x40 | SIO_WS_OP_TEXT, c, clen), 0);
  CHECK_EQ_INT(got.n, 1);
  CHECK_EQ_INT(got.len, 5);
  CHECK(memcmp(got.data, "hello", 5) == 0);
  sio_ws_parser_free(&p);
  free(c);
  sio_ws_zlib_free(z);
}

TEST(bad_data_is_1007) {
  sio_ws_zlib_t *z = sio_ws_zlib_new();
  sio_ws_parser_t p;
  deflate_parser(&p, z, 1000);
  /* BTYPE 11 is reserved: invalid deflate data. */
  static const unsigned char bad[] = {0xff, 0xff, 0xff, 0xff, 0x00};
  CHECK_EQ_INT(run_one(&p, 0x80 | 0x40 | SIO_WS_OP_BINARY, bad, sizeof bad), SIO_EUTF8);
  CHECK_EQ_INT(p.close_code, 1007);
  CHECK(p.part == NULL);
  sio_ws_parser_free(&p);
  /* Text that inflates to invalid UTF-8 is 1007 too. */
  size_t clen;
  unsigned char *c = client_deflate("\xff\xfe", 2, &clen);
  deflate_parser(&p, z, 1000);
  CHECK_EQ_INT(run_one(&p, 0x80 | 0x40 | SIO_WS_OP_TEXT, c, clen), SIO_EUTF8);
  CHECK_EQ_INT(p.close_code, 1007);
  sio_ws_parser_free(&p);
  free(c);
  /* The shared stream still works for the next connection. */
  c = client_deflate("again", 5, &clen);
  deflate_parser(&p, z, 1000);
  CHECK_EQ_INT(run_one(&p, 0x80 | 0x40 | SIO_WS_OP_TEXT, c, clen), 0);
  CHECK_EQ_INT(got.len, 5);
  sio_ws_parser_free(&p);
  free(c);
  sio_ws_zlib_free(z);
}

TEST(bomb_refused_at_max_message) {
  sio_ws_zlib_t *z = sio_ws_zlib_new();
  /* 16 MiB of zeros deflate to about 16 KiB. */
  size_t big = 16u << 20;
  char *zeros = calloc(1, big);
  size_t clen;
  unsigned char *c = client_deflate(zeros, big, &clen);
  free(zeros);
  CHECK(clen < 64 * 1024);
  sio_ws_parser_t p;
  deflate_parser(&p, z, 65536);
  CHECK_EQ_INT(run_one(&p, 0x80 | 0x40 | SIO_WS_OP_BINARY, c, clen), SIO_ETOOBIG);
  CHECK_EQ_INT(p.close_code, 1009);
  CHECK_EQ_INT(got.n, 0);
  CHECK(p.part == NULL);
  sio_ws_parser_free(&p);
  /* Exactly max_message inflated is fine; one byte more is not. */
  char *exact = calloc(1, 65537);
  free(c);
  c = client_deflate(exact, 65536, &clen);
  deflate_parser(&p, z, 65536);
  CHECK_EQ_INT(run_one(&p, 0x80 | 0x40 | SIO_WS_OP_BINARY, c, clen), 0);
  CHECK_EQ_INT(got.len, 65536);
  sio_ws_parser_free(&p);
  free(c);
  c = client_deflate(exact, 65537, &clen);
  deflate_parser(&p, z, 65536);
  CHECK_EQ_INT(run_one(&p, 0x80 | 0x40 | SIO_WS_OP_BINARY, c, clen), SIO_ETOOBIG);
  sio_ws_parser_free(&p);
  free(c);
  free(exact);
  sio_ws_zlib_free(z);
}

TEST_MAIN(RUN(negotiate_plain_offers), RUN(negotiate_declines_and_falls_back),
          RUN(negotiate_response), RUN(deflate_frame_shape), RUN(inflate_whole_and_fragmented),
          RUN(rsv1_misplaced_is_1002), RUN(bad_data_is_1007), RUN(bomb_refused_at_max_message))
