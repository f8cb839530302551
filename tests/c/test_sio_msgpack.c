/* The msgpack parser (socket.io-msgpack-parser's wire format): exact bytes both ways, what
 * notepack 2 (socket.io-client's) writes for undefined, Date and ArrayBuffer, malformed input, and
 * the option's checks in sio_io_new. */
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "sio.h"
#include "json_parse.h"
#include "sbuf.h"
#include "socketio/packet.h"
#include "test.h"

#ifdef SIO_HAVE_MSGPACK

static const char *json_of(const cJSON *j) {
  static char buf[4096];
  if (!j) return "";
  char *s = cJSON_PrintUnformatted(j);
  snprintf(buf, sizeof buf, "%s", s ? s : "<print failed>");
  cJSON_free(s);
  return buf;
}

#define DECODE(bytes, p) sio_packet_decode_msgpack((const char *)(bytes), sizeof(bytes), (p))

/* {type: 2, data: ["a", 1, -1, 1.5, bin(2)], nsp: "/", id: 7} as notepack writes it. */
static const unsigned char EVENT_BYTES[] = {
    0x84, 0xa4, 't', 'y', 'p', 'e', 0x02, 0xa4, 'd', 'a', 't', 'a', 0x95, 0xa1, 'a', 0x01, 0xff,
    0xcb, 0x3f, 0xf8, 0, 0, 0, 0, 0, 0, 0xc4, 0x02, 0xab, 0xcd, 0xa3, 'n', 's', 'p', 0xa1, '/',
    0xa2, 'i', 'd', 0x07};

TEST(decode_event_with_binary) {
  sio_packet_t p;
  CHECK_EQ_INT(DECODE(EVENT_BYTES, &p), 0);
  CHECK_EQ_INT(p.type, SIO_PACKET_EVENT);
  CHECK_EQ_INT(p.id, 7);
  CHECK(strcmp(p.nsp, "/") == 0);
  CHECK(strcmp(json_of(p.data), "[\"a\",1,-1,1.5,{\"_placeholder\":true,\"num\":0}]") == 0);
  CHECK_EQ_INT(p.attachment_count, 1);
  CHECK_EQ_INT(p.attachments[0].len, 2);
  /* borrowed from the message, not copied */
  CHECK(p.attachments[0].data == (const char *)EVENT_BYTES + 28);
  sio_packet_clear(&p);
}

TEST(encode_exact_bytes) {
  sio_packet_t p = {SIO_PACKET_BINARY_EVENT, "/", 7, NULL, 1, NULL, 0};
  p.data = cJSON_Parse("[\"a\",1,-1,1.5,{\"_placeholder\":true,\"num\":0}]");
  CHECK(p.data);
  sio_buf_t buf = {"\xab\xcd", 2};
  sio_sbuf_t e = SIO_SBUF_INIT;
  CHECK_EQ_INT(sio_packet_encode_msgpack(&p, &buf, &e), 0);
  cJSON_Delete(p.data);
  /* Node's key order for an event: type, data, id, nsp */
  static const unsigned char want[] = {
      0x84, 0xa4, 't', 'y', 'p', 'e', 0x02, 0xa4, 'd', 'a', 't', 'a', 0x95, 0xa1, 'a', 0x01, 0xff,
      0xcb, 0x3f, 0xf8, 0, 0, 0, 0, 0, 0, 0xc4, 0x02, 0xab, 0xcd, 0xa2, 'i', 'd', 0x07, 0xa3, 'n',
      's', 'p', 0xa1, '/'};
  CHECK_MEM(e.data, e.len, want, sizeof want);
  e.len = 0;

  /* An ack: id first, as Node's {id, type, data}; and an empty CONNECT_ERROR-free DISCONNECT. */
  sio_packet_t a = {SIO_PACKET_ACK, "/x", 3, NULL, 0, NULL, 0};
  a.data = cJSON_Parse("[-0.0,4294967296,-2147483649]");
  CHECK_EQ_INT(sio_packet_encode_msgpack(&a, NULL, &e), 0);
  cJSON_Delete(a.data);
  static const unsigned char want_ack[] = {
      0x84, 0xa2, 'i', 'd', 0x03, 0xa4, 't', 'y', 'p', 'e', 0x03, 0xa4, 'd', 'a', 't', 'a', 0x93,
      0x00, /* -0 as 0, as notepack */
      0xcf, 0, 0, 0, 1, 0, 0, 0, 0, 0xd3, 0xff, 0xff, 0xff, 0xff, 0x7f, 0xff, 0xff, 0xff, 0xa3, 'n', 's',
      'p', 0xa2, '/', 'x'};
  CHECK_MEM(e.data, e.len, want_ack, sizeof want_ack);
  sio_sbuf_free(&e);
}

/* undefined (fixext 1 type 0) is an absent field or value; ext 0 is binary; fixext 8 type 0 and a
 * msgpack timestamp are Dates, read as their ISO text. */
TEST(notepack2_extensions) {
  static const unsigned char connect[] = {0x83, 0xa4, 't', 'y', 'p', 'e', 0x00, 0xa4, 'd', 'a', 't', 'a',
                                          0xd4, 0x00, 0x00, 0xa3, 'n', 's', 'p', 0xa1, '/'};
  sio_packet_t p;
  CHECK_EQ_INT(DECODE(connect, &p), 0);
  CHECK(p.data == NULL);
  sio_packet_clear(&p);
  /* python-socketio's CONNECT without auth: data nil, taken as absent */
  static const unsigned char connect_nil[] = {0x83, 0xa4, 't', 'y', 'p', 'e', 0x00, 0xa4, 'd', 'a', 't', 'a',
                                              0xc0, 0xa3, 'n', 's', 'p', 0xa1, '/'};
  CHECK_EQ_INT(DECODE(connect_nil, &p), 0);
  CHECK(p.data == NULL && p.type == SIO_PACKET_CONNECT);
  sio_packet_clear(&p);

  static const unsigned char ev[] = {
      0x83, 0xa4, 't', 'y', 'p', 'e', 0x02, 0xa3, 'n', 's', 'p', 0xa1, '/', 0xa4, 'd', 'a', 't', 'a', 0x96,
      0xa1, 'e',
      0xc7, 0x01, 0x00, 0x42,                   /* ArrayBuffer of 1 byte (ext 8, not fixext) */
      0xd4, 0x00, 0x00,                         /* undefined in an array: null */
      0x82, 0xa1, 'u', 0xd4, 0x00, 0x00, 0xa1, 'k', 0x01, /* {u: undefined, k: 1} */
      0xd7, 0x00, 0, 0, 0x01, 0x8d, 0xf4, 0xdc, 0x54, 0x95, /* Date 1709210096789 ms */
      0xd6, 0xff, 0, 0, 0, 0};                  /* timestamp 32: the epoch */
  CHECK_EQ_INT(DECODE(ev, &p), 0);
  CHECK_EQ_INT(p.attachment_count, 1);
  CHECK_EQ_INT(p.attachments[0].len, 1);
  CHECK_EQ_INT(p.attachments[0].data[0], 0x42);
  CHECK(strcmp(json_of(p.data), "[\"e\",{\"_placeholder\":true,\"num\":0},null,{\"k\":1},"
                                "\"2024-02-29T12:34:56.789Z\",\"1970-01-01T00:00:00.000Z\"]") == 0);
  sio_packet_clear(&p);
}

TEST(malformed) {
  static const unsigned char trailing[] = {0x82, 0xa4, 't', 'y', 'p', 'e', 0x01, 0xa3, 'n', 's', 'p', 0xa1, '/', 0x00};
  static const unsigned char not_map[] = {0x92, 0x01, 0xa1, '/'};
  static const unsigned char type5[] = {0x83, 0xa4, 't', 'y', 'p', 'e', 0x05, 0xa3, 'n', 's', 'p', 0xa1, '/',
                                        0xa4, 'd', 'a', 't', 'a', 0x91, 0xa1, 'e'};
  static const unsigned char no_nsp[] = {0x81, 0xa4, 't', 'y', 'p', 'e', 0x01};
  static const unsigned char nsp_nul[] = {0x82, 0xa4, 't', 'y', 'p', 'e', 0x01, 0xa3, 'n', 's', 'p', 0xa2, '/', 0};
  static const unsigned char nsp_c080[] = {0x82, 0xa4, 't', 'y', 'p', 'e', 0x01, 0xa3, 'n', 's', 'p', 0xa3, '/',
                                           0xc0, 0x80};
  static const unsigned char data_nil[] = {0x83, 0xa4, 't', 'y', 'p', 'e', 0x02, 0xa3, 'n', 's', 'p', 0xa1, '/',
                                           0xa4, 'd', 'a', 't', 'a', 0xc0};
  static const unsigned char neg_id[] = {0x84, 0xa4, 't', 'y', 'p', 'e', 0x02, 0xa3, 'n', 's', 'p', 0xa1, '/',
                                         0xa4, 'd', 'a', 't', 'a', 0x91, 0xa1, 'e', 0xa2, 'i', 'd', 0xff};
  static const unsigned char reserved[] = {0x83, 0xa4, 't', 'y', 'p', 'e', 0x02, 0xa3, 'n', 's', 'p', 0xa1, '/',
                                           0xa4, 'd', 'a', 't', 'a', 0x91, 0xa7, 'c', 'o', 'n', 'n', 'e', 'c', 't'};
  static const unsigned char bad_utf8[] = {0x83, 0xa4, 't', 'y', 'p', 'e', 0x02, 0xa3, 'n', 's', 'p', 0xa1, '/',
                                           0xa4, 'd', 'a', 't', 'a', 0x91, 0xa1, 0xff};
  static const unsigned char bin_in_connect[] = {0x83, 0xa4, 't', 'y', 'p', 'e', 0x00, 0xa3, 'n', 's', 'p', 0xa1, '/',
                                                 0xa4, 'd', 'a', 't', 'a', 0x81, 0xa1, 'b', 0xc4, 0x00};
  static const unsigned char huge[] = {0x83, 0xa4, 't', 'y', 'p', 'e', 0x02, 0xa3, 'n', 's', 'p', 0xa1, '/',
                                       0xa4, 'd', 'a', 't', 'a', 0xdd, 0xff, 0xff, 0xff, 0xff};
  static const unsigned char fake_placeholder[] = {
      0x83, 0xa4, 't', 'y', 'p', 'e', 0x02, 0xa3, 'n', 's', 'p', 0xa1, '/', 0xa4, 'd', 'a', 't', 'a', 0x92,
      0xa1, 'e', 0x82, 0xac, '_', 'p', 'l', 'a', 'c', 'e', 'h', 'o', 'l', 'd', 'e', 'r', 0xc3, 0xa3, 'n', 'u',
      'm', 0x00};
  const struct { const unsigned char *b; size_t n; } bad[] = {
      {trailing, sizeof trailing}, {not_map, sizeof not_map}, {type5, sizeof type5},
      {no_nsp, sizeof no_nsp}, {nsp_nul, sizeof nsp_nul}, {nsp_c080, sizeof nsp_c080}, {data_nil, sizeof data_nil},
      {neg_id, sizeof neg_id}, {reserved, sizeof reserved}, {bad_utf8, sizeof bad_utf8},
      {bin_in_connect, sizeof bin_in_connect}, {huge, sizeof huge},
      {fake_placeholder, sizeof fake_placeholder}, {trailing, 5}, {trailing, 0}};
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    sio_packet_t p;
    int r = sio_packet_decode_msgpack((const char *)bad[i].b, bad[i].n, &p);
    if (r != SIO_EPARSE) fprintf(stderr, "case %zu: %d\n", i, r);
    CHECK_EQ_INT(r, SIO_EPARSE);
    CHECK(p.data == NULL && p.nsp == NULL && p.attachments == NULL);
  }
  /* Deep nesting: msgpack-c's unpacker stops at 32 levels; never a crash. */
  size_t n = 100000;
  unsigned char *deep = malloc(n + 32);
  CHECK(deep);
  static const unsigned char head[] = {0x83, 0xa4, 't', 'y', 'p', 'e', 0x02, 0xa3, 'n', 's', 'p', 0xa1, '/',
                                       0xa4, 'd', 'a', 't', 'a', 0x92, 0xa1, 'e'};
  memcpy(deep, head, sizeof head);
  memset(deep + sizeof head, 0x91, n);
  deep[sizeof head + n] = 0xc0;
  sio_packet_t p;
  int r = sio_packet_decode_msgpack((const char *)deep, sizeof head + n + 1, &p);
  free(deep);
  CHECK_EQ_INT(r, SIO_EPARSE);
}

/* What the encoder writes, the decoder reads back the same. */
TEST(roundtrip) {
  const char *cases[] = {"[\"ev\",{\"a\":[1,2.5,null,true,false,\"x\\u0000y\"]},-9007199254740991]",
                         "[42,\"\\ud83d\"]", "[\"e\",{}]"};
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    sio_packet_t p = {SIO_PACKET_EVENT, "/n", 12, NULL, 0, NULL, 0};
    CHECK_EQ_INT(sio_json_parse(cases[i], strlen(cases[i]), &p.data), 0);
    sio_sbuf_t e = SIO_SBUF_INIT;
    CHECK_EQ_INT(sio_packet_encode_msgpack(&p, NULL, &e), 0);
    sio_packet_t q;
    CHECK_EQ_INT(sio_packet_decode_msgpack(e.data, e.len, &q), 0);
    char *a = cJSON_PrintUnformatted(p.data), *b = cJSON_PrintUnformatted(q.data);
    int same = a && b && strcmp(a, b) == 0;
    cJSON_free(a);
    cJSON_free(b);
    CHECK(same);
    CHECK(strcmp(q.nsp, "/n") == 0);
    CHECK_EQ_INT(q.id, 12);
    sio_packet_clear(&q);
    sio_sbuf_free(&e);
    cJSON_Delete(p.data);
  }
}

#endif /* SIO_HAVE_MSGPACK */

/* The option: a value other than JSON or msgpack is refused; a caller compiled before `parser`
 * existed (a struct ending at client_dir) is accepted and gets JSON. */
TEST(option_checks) {
  uv_loop_t loop;
  uv_loop_init(&loop);
  sio_server_t *server;
  CHECK_EQ_INT(sio_server_new(&loop, NULL, &server), 0);
  sio_io_options_t o;
  sio_io_options_init(&o);
  CHECK_EQ_INT(o.parser, SIO_PARSER_JSON);
  sio_io_t *io;
  o.parser = 7;
  CHECK_EQ_INT(sio_io_new(server, &o, &io), SIO_EINVAL);
  o.parser = SIO_PARSER_MSGPACK;
#ifdef SIO_HAVE_MSGPACK
  o.size = offsetof(sio_io_options_t, parser);
  o.parser = 7; /* beyond the old caller's struct: never read */
  CHECK_EQ_INT(sio_io_new(server, &o, &io), 0);
  o.size = sizeof o;
  o.parser = SIO_PARSER_MSGPACK;
  o.engine.path = "/mp/";
  CHECK_EQ_INT(sio_io_new(server, &o, &io), 0);
#else
  CHECK_EQ_INT(sio_io_new(server, &o, &io), UV_ENOSYS);
#endif
  sio_server_close(server, NULL);
  uv_run(&loop, UV_RUN_DEFAULT);
  CHECK_EQ_INT(uv_loop_close(&loop), 0);
}

#ifdef SIO_HAVE_MSGPACK
TEST_MAIN(RUN(decode_event_with_binary), RUN(encode_exact_bytes), RUN(notepack2_extensions),
          RUN(malformed), RUN(roundtrip), RUN(option_checks))
#else
TEST_MAIN(RUN(option_checks))
#endif
