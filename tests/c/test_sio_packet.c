/* Socket.IO packet codec: exact wire strings both ways, the attachment decoder, malformed input,
 * nesting limits, UTF-8 pass-through and the placeholder helpers. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sio.h"
#include "socketio/packet.h"
#include "test.h"

/* Prints a tree compactly into a static buffer for comparisons ("" for NULL). */
static const char *json_of(const cJSON *j) {
  static char buf[4096];
  if (!j) return "";
  char *s = cJSON_PrintUnformatted(j);
  if (!s) return "<print failed>";
  snprintf(buf, sizeof buf, "%s", s);
  cJSON_free(s);
  return buf;
}

static int decode_str(const char *s, sio_packet_t *p) { return sio_packet_decode(s, strlen(s), p); }

/* Decodes `wire`, checks the fields, re-encodes and checks the bytes come back identical. */
#define CHECK_DECODE(wire, t, ns, i, json, count)                  \
  do {                                                             \
    sio_packet_t p_;                                               \
    CHECK_EQ_INT(decode_str((wire), &p_), 0);                      \
    int ok_ = p_.type == (t) && strcmp(p_.nsp, (ns)) == 0 && p_.id == (i) && \
              strcmp(json_of(p_.data), (json)) == 0 && p_.attachment_count == (count); \
    if (!ok_)                                                      \
      fprintf(stderr, "decoded %s: type %d nsp %s id %lld json %s count %zu\n", (wire), \
              p_.type, p_.nsp, (long long)p_.id, json_of(p_.data), p_.attachment_count); \
    sio_packet_clear(&p_);                                         \
    CHECK(ok_);                                                    \
  } while (0)

#define CHECK_ROUNDTRIP(wire)                                      \
  do {                                                             \
    sio_packet_t p_;                                               \
    sio_sbuf_t b_ = SIO_SBUF_INIT;                                 \
    CHECK_EQ_INT(decode_str((wire), &p_), 0);                      \
    int r_ = sio_packet_encode(&p_, &b_);                          \
    sio_packet_clear(&p_);                                         \
    CHECK_EQ_INT(r_, 0);                                           \
    int same_ = b_.len == strlen(wire) && memcmp(b_.data, (wire), b_.len) == 0; \
    if (!same_) fprintf(stderr, "re-encoded \"%.*s\"\n", (int)b_.len, b_.data); \
    sio_sbuf_free(&b_);                                            \
    CHECK(same_);                                                  \
  } while (0)

#define CHECK_BAD(wire)                                            \
  do {                                                             \
    sio_packet_t p_;                                               \
    int r_ = decode_str((wire), &p_);                              \
    if (r_ != SIO_EPARSE) fprintf(stderr, "accepted: %s\n", (wire)); \
    CHECK_EQ_INT(r_, SIO_EPARSE);                                  \
    CHECK(p_.nsp == NULL && p_.data == NULL && p_.attachments == NULL); \
  } while (0)

TEST(decode_examples) {
  CHECK_DECODE("0", SIO_PACKET_CONNECT, "/", -1, "", 0);
  CHECK_DECODE("0/admin,", SIO_PACKET_CONNECT, "/admin", -1, "", 0);
  CHECK_DECODE("0/admin", SIO_PACKET_CONNECT, "/admin", -1, "", 0);
  CHECK_DECODE("0/admin,{\"token\":\"secret\"}", SIO_PACKET_CONNECT, "/admin", -1,
               "{\"token\":\"secret\"}", 0);
  CHECK_DECODE("0{\"token\":\"x\"}", SIO_PACKET_CONNECT, "/", -1, "{\"token\":\"x\"}", 0);
  CHECK_DECODE("0/admin?token=abc,", SIO_PACKET_CONNECT, "/admin?token=abc", -1, "", 0);
  CHECK_DECODE("1", SIO_PACKET_DISCONNECT, "/", -1, "", 0);
  CHECK_DECODE("1/admin,", SIO_PACKET_DISCONNECT, "/admin", -1, "", 0);
  CHECK_DECODE("2[\"hello\",1]", SIO_PACKET_EVENT, "/", -1, "[\"hello\",1]", 0);
  CHECK_DECODE("2/admin,12[\"ev\"]", SIO_PACKET_EVENT, "/admin", 12, "[\"ev\"]", 0);
  CHECK_DECODE("312[\"ok\"]", SIO_PACKET_ACK, "/", 12, "[\"ok\"]", 0);
  CHECK_DECODE("3/admin,7[]", SIO_PACKET_ACK, "/admin", 7, "[]", 0);
  CHECK_DECODE("30[]", SIO_PACKET_ACK, "/", 0, "[]", 0);
  CHECK_DECODE("4{\"message\":\"unauthorized\"}", SIO_PACKET_CONNECT_ERROR, "/", -1,
               "{\"message\":\"unauthorized\"}", 0);
  CHECK_DECODE("4\"unauthorized\"", SIO_PACKET_CONNECT_ERROR, "/", -1, "\"unauthorized\"", 0);
  CHECK_DECODE("51-[\"img\",{\"_placeholder\":true,\"num\":0}]", SIO_PACKET_BINARY_EVENT, "/", -1,
               "[\"img\",{\"_placeholder\":true,\"num\":0}]", 1);
  CHECK_DECODE("61-/admin,3[{\"_placeholder\":true,\"num\":0}]", SIO_PACKET_BINARY_ACK, "/admin",
               3, "[{\"_placeholder\":true,\"num\":0}]", 1);
  CHECK_DECODE("42{}", SIO_PACKET_CONNECT_ERROR, "/", 2, "{}", 0);
  /* A number names an event too (socket.io-parser accepts it). */
  CHECK_DECODE("2[1,\"a\"]", SIO_PACKET_EVENT, "/", -1, "[1,\"a\"]", 0);
  CHECK_DECODE("2 [\"a\"] \n", SIO_PACKET_EVENT, "/", -1, "[\"a\"]", 0);
  CHECK_DECODE("29223372036854775807[\"a\"]", SIO_PACKET_EVENT, "/", INT64_MAX, "[\"a\"]", 0);
}

TEST(roundtrip_examples) {
  static const char *const wires[] = {
      "0", "0/admin,", "0/admin,{\"token\":\"secret\"}", "0{\"token\":\"x\"}", "1/admin,",
      "2[\"hello\",1]", "2/admin,12[\"ev\"]", "312[\"ok\"]", "3/admin,7[]",
      "4{\"message\":\"unauthorized\"}", "4\"unauthorized\"",
      "51-[\"img\",{\"_placeholder\":true,\"num\":0}]",
      "61-/admin,3[{\"_placeholder\":true,\"num\":0}]", "0/admin?token=abc,",
      "2[\"a\",{\"b\":[1,2.5,-3,true,false,null],\"c\":\"d\\\"e\\\\\\n\"}]"};
  for (size_t i = 0; i < sizeof wires / sizeof wires[0]; i++) CHECK_ROUNDTRIP(wires[i]);
}

static int encode_to(const sio_packet_t *p, sio_sbuf_t *b) {
  b->len = 0;
  return sio_packet_encode(p, b);
}

TEST(encode_examples) {
  sio_sbuf_t b = SIO_SBUF_INIT;
  sio_packet_t p = {0};

  p.type = SIO_PACKET_EVENT;
  p.nsp = "/";
  p.id = -1;
  p.data = cJSON_Parse("[\"hello\",1]");
  CHECK_EQ_INT(encode_to(&p, &b), 0);
  cJSON_Delete(p.data);
  CHECK_STR(b.data, b.len, "2[\"hello\",1]");

  p.type = SIO_PACKET_ACK;
  p.nsp = "/admin";
  p.id = 7;
  p.data = cJSON_CreateArray();
  CHECK_EQ_INT(encode_to(&p, &b), 0);
  cJSON_Delete(p.data);
  CHECK_STR(b.data, b.len, "3/admin,7[]");

  p.type = SIO_PACKET_BINARY_EVENT;
  p.nsp = "/";
  p.id = -1;
  p.data = cJSON_CreateArray();
  cJSON_AddItemToArray(p.data, cJSON_CreateString("img"));
  cJSON_AddItemToArray(p.data, sio_packet_placeholder(0));
  p.attachment_count = 1;
  CHECK_EQ_INT(encode_to(&p, &b), 0);
  cJSON_Delete(p.data);
  CHECK_STR(b.data, b.len, "51-[\"img\",{\"_placeholder\":true,\"num\":0}]");

  p.type = SIO_PACKET_CONNECT;
  p.nsp = NULL; /* means "/" */
  p.attachment_count = 0;
  p.data = cJSON_CreateObject();
  cJSON_AddStringToObject(p.data, "sid", "abc");
  CHECK_EQ_INT(encode_to(&p, &b), 0);
  cJSON_Delete(p.data);
  CHECK_STR(b.data, b.len, "0{\"sid\":\"abc\"}");

  p.type = SIO_PACKET_CONNECT_ERROR;
  p.nsp = "/admin";
  p.data = cJSON_CreateObject();
  cJSON_AddStringToObject(p.data, "message", "unauthorized");
  CHECK_EQ_INT(encode_to(&p, &b), 0);
  cJSON_Delete(p.data);
  CHECK_STR(b.data, b.len, "4/admin,{\"message\":\"unauthorized\"}");

  p.type = SIO_PACKET_DISCONNECT;
  p.nsp = "/admin";
  p.data = NULL;
  CHECK_EQ_INT(encode_to(&p, &b), 0);
  CHECK_STR(b.data, b.len, "1/admin,");

  p.type = SIO_PACKET_CONNECT;
  p.nsp = "/";
  CHECK_EQ_INT(encode_to(&p, &b), 0);
  CHECK_STR(b.data, b.len, "0");

  /* Appends after what is there. */
  CHECK_EQ_INT(sio_packet_encode(&p, &b), 0);
  CHECK_STR(b.data, b.len, "00");
  sio_sbuf_free(&b);
}

TEST(encode_invalid) {
  sio_sbuf_t b = SIO_SBUF_INIT;
  CHECK_EQ_INT(sio_sbuf_append_str(&b, "keep"), 0);
  sio_packet_t p = {0};
  p.nsp = "/";
  p.id = -1;

  p.type = 7;
  CHECK_EQ_INT(sio_packet_encode(&p, &b), SIO_EINVAL);
  p.type = -1;
  CHECK_EQ_INT(sio_packet_encode(&p, &b), SIO_EINVAL);

  p.type = SIO_PACKET_EVENT; /* no payload */
  CHECK_EQ_INT(sio_packet_encode(&p, &b), SIO_EINVAL);
  p.data = cJSON_Parse("[\"x\"]");
  p.attachment_count = 1; /* attachments on a non-binary type */
  CHECK_EQ_INT(sio_packet_encode(&p, &b), SIO_EINVAL);
  p.attachment_count = 0;
  p.nsp = "admin"; /* no leading '/' */
  CHECK_EQ_INT(sio_packet_encode(&p, &b), SIO_EINVAL);
  p.nsp = "/a,b"; /* ',' would end it early */
  CHECK_EQ_INT(sio_packet_encode(&p, &b), SIO_EINVAL);
  p.nsp = "/";
  p.type = SIO_PACKET_DISCONNECT; /* payload on DISCONNECT */
  CHECK_EQ_INT(sio_packet_encode(&p, &b), SIO_EINVAL);
  p.type = SIO_PACKET_CONNECT; /* array on CONNECT */
  CHECK_EQ_INT(sio_packet_encode(&p, &b), SIO_EINVAL);
  cJSON_Delete(p.data);
  p.type = SIO_PACKET_EVENT; /* a name JSON cannot write: it would go out as null */
  p.data = cJSON_CreateArray();
  cJSON_AddItemToArray(p.data, cJSON_CreateNumber(NAN));
  CHECK_EQ_INT(sio_packet_encode(&p, &b), SIO_EINVAL);
  cJSON_Delete(p.data);
  p.type = SIO_PACKET_ACK; /* a number after an id would be read back as more id digits */
  p.id = 1;
  p.data = cJSON_CreateNumber(5);
  CHECK_EQ_INT(sio_packet_encode(&p, &b), SIO_EINVAL);
  cJSON_Delete(p.data);

  CHECK_STR(b.data, b.len, "keep");

  /* A binary type without attachments would not decode ("50-" is refused): not encoded either. */
  p.type = SIO_PACKET_BINARY_EVENT;
  p.id = -1;
  p.data = cJSON_Parse("[\"x\"]");
  b.len = 0;
  CHECK_EQ_INT(sio_packet_encode(&p, &b), SIO_EINVAL);
  CHECK_EQ_INT(b.len, 0);
  cJSON_Delete(p.data);
  sio_sbuf_free(&b);
}

TEST(malformed) {
  static const char *const bad[] = {
      "", "7", "9", "x", "abc", "-1", "2{}", "2[]", "2[null]", "2[true]", "2[[]]",
      "2[\"connect\"]", "2[\"connect_error\"]", "2[\"disconnect\"]", "2[\"disconnecting\"]",
      "2[\"newListener\"]", "2[\"removeListener\"]", "50-[\"none\"]", "60-[]", "2", "3", "3{}", "4",
      "41", "1{}", "1[]", "1\"x\"", "0[]", "0\"x\"", "0null", "2null", "4[]", "45",
      "5[\"a\"]", "5x-[\"a\"]", "5-[\"a\"]", "51[\"a\"]", "51001-[\"a\"]",
      "599999999999999999999999-[\"a\"]", "5", "51-", "2[\"a\"]junk", "2[\"a\"] x", "3[\"a\"",
      "2/nsp", "2/nsp,", "2/nsp,1", "29999999999999999999[\"a\"]", "29223372036854775808[\"a\"]",
      "2,[\"a\"]", "2[\"a\",]", "2[\"a\"][\"b\"]", "2 ", "2\t", "2\x01[\"a\"]",
      "2\xEF\xBB\xBF[\"a\"]", "2[\"a\"]\x01", "2[\"a\"\x0b]x",
      "4abc", "42", /* "42{}" is CONNECT_ERROR id 2 here: valid at this layer */
      "2[1e400]", "2[-1e400,\"a\"]", /* an infinite name would be re-encoded as null */
      /* placeholders in binary packets */
      "51-[\"a\",{\"_placeholder\":true,\"num\":1}]", "50-[\"a\",{\"_placeholder\":true,\"num\":0}]",
      "51-[\"a\",{\"_placeholder\":true,\"num\":-1}]", "51-[\"a\",{\"_placeholder\":true,\"num\":0.5}]",
      "51-[\"a\",{\"_placeholder\":true,\"num\":\"0\"}]", "51-[\"a\",{\"_placeholder\":true}]",
      "61-[{\"x\":[{\"_placeholder\":true,\"num\":3}]}]"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) CHECK_BAD(bad[i]);
  /* A NUL byte anywhere. */
  sio_packet_t p;
  CHECK_EQ_INT(sio_packet_decode("2[\"a\0\"]", 7, &p), SIO_EPARSE);
  CHECK_EQ_INT(sio_packet_decode("0\0", 2, &p), SIO_EPARSE);
  CHECK_EQ_INT(sio_packet_decode(NULL, 0, &p), SIO_EPARSE);
  /* A placeholder in a non-binary packet is plain data; "_placeholder": false is too. */
  CHECK_DECODE("2[\"a\",{\"_placeholder\":true,\"num\":9}]", SIO_PACKET_EVENT, "/", -1,
               "[\"a\",{\"_placeholder\":true,\"num\":9}]", 0);
  CHECK_DECODE("51-[\"a\",{\"_placeholder\":false}]", SIO_PACKET_BINARY_EVENT, "/", -1,
               "[\"a\",{\"_placeholder\":false}]", 1);
  CHECK_DECODE("51000-[\"a\"]", SIO_PACKET_BINARY_EVENT, "/", -1, "[\"a\"]", 1000);
  CHECK_DECODE("5001-[\"a\"]", SIO_PACKET_BINARY_EVENT, "/", -1, "[\"a\"]", 1);
}

static char *nested(const char *prefix, size_t levels, const char *suffix) {
  size_t pl = strlen(prefix), sl = strlen(suffix);
  char *s = malloc(pl + 2 * levels + sl + 1);
  if (!s) return NULL;
  memcpy(s, prefix, pl);
  memset(s + pl, '[', levels);
  memset(s + pl + levels, ']', levels);
  memcpy(s + pl + 2 * levels, suffix, sl + 1);
  return s;
}

TEST(nesting) {
  sio_packet_t p;
  /* ACK payload: exactly the limit is fine, one more is not. */
  char *s = nested("3", SIO_PACKET_MAX_DEPTH, "");
  CHECK(s);
  int r = decode_str(s, &p);
  free(s);
  CHECK_EQ_INT(r, 0);
  sio_packet_clear(&p);
  s = nested("3", SIO_PACKET_MAX_DEPTH + 1, "");
  r = decode_str(s, &p);
  free(s);
  CHECK_EQ_INT(r, SIO_EPARSE);
  /* Inside an event's arguments, and inside objects. */
  s = nested("2[\"e\",", 200, "]");
  r = decode_str(s, &p);
  free(s);
  CHECK_EQ_INT(r, SIO_EPARSE);
  s = nested("3", 200, "");
  r = decode_str(s, &p);
  free(s);
  CHECK_EQ_INT(r, SIO_EPARSE);
  {
    size_t n = 100;
    char *o = malloc(8 * n + 16), *w = o;
    w += sprintf(w, "2[\"e\",");
    for (size_t i = 0; i < n; i++) w += sprintf(w, "{\"a\":");
    w += sprintf(w, "1");
    for (size_t i = 0; i < n; i++) *w++ = '}';
    strcpy(w, "]");
    r = decode_str(o, &p);
    free(o);
    CHECK_EQ_INT(r, SIO_EPARSE);
  }
  /* 100k levels: cJSON's own limit refuses it quickly, without deep recursion. */
  clock_t t0 = clock();
  s = nested("3", 100000, "");
  r = decode_str(s, &p);
  free(s);
  CHECK_EQ_INT(r, SIO_EPARSE);
  s = nested("3", 100000, "");
  s[1 + 99999] = '\0'; /* unterminated too */
  r = decode_str(s, &p);
  free(s);
  CHECK_EQ_INT(r, SIO_EPARSE);
  CHECK((double)(clock() - t0) / CLOCKS_PER_SEC < 2.0);
}

TEST(utf8_passthrough) {
  const char *wire = "2[\"h\xC3\xA9llo \xF0\x9F\x98\x80\",\"\xE4\xB8\xAD\xE6\x96\x87\","
                     "{\"\xE9\x94\xAE\":\"\xF0\x9F\x98\x80\"}]";
  CHECK_ROUNDTRIP(wire);
  sio_packet_t p;
  CHECK_EQ_INT(decode_str(wire, &p), 0);
  const cJSON *name = cJSON_GetArrayItem(p.data, 0);
  int ok = cJSON_IsString(name) && strcmp(name->valuestring, "h\xC3\xA9llo \xF0\x9F\x98\x80") == 0;
  sio_packet_clear(&p);
  CHECK(ok);
  /* Built in C, the bytes go out unescaped. */
  sio_packet_t q = {0};
  q.type = SIO_PACKET_EVENT;
  q.nsp = "/\xE4\xB8\xAD";
  q.id = 3;
  q.data = cJSON_CreateArray();
  cJSON_AddItemToArray(q.data, cJSON_CreateString("h\xC3\xA9llo \xF0\x9F\x98\x80"));
  sio_sbuf_t b = SIO_SBUF_INIT;
  CHECK_EQ_INT(sio_packet_encode(&q, &b), 0);
  cJSON_Delete(q.data);
  CHECK_STR(b.data, b.len, "2/\xE4\xB8\xAD,3[\"h\xC3\xA9llo \xF0\x9F\x98\x80\"]");
  sio_sbuf_free(&b);
  /* Escapes decode to UTF-8 and are re-encoded raw. */
  CHECK_EQ_INT(decode_str("2[\"\\u00e9\\ud83d\\ude00\"]", &p), 0);
  ok = strcmp(p.data->child->valuestring, "\xC3\xA9\xF0\x9F\x98\x80") == 0;
  sio_packet_clear(&p);
  CHECK(ok);
}

TEST(decoder_attachments) {
  sio_packet_decoder_t d;
  sio_packet_decoder_init(&d);
  sio_packet_t out;
  size_t big_len = 64 * 1024;
  char *big = malloc(big_len);
  CHECK(big);
  for (size_t i = 0; i < big_len; i++) big[i] = (char)(i * 131 + 7);

  /* Plain packets complete at once. */
  CHECK_EQ_INT(sio_packet_decoder_feed(&d, "2[\"a\"]", 6, 0, &out), 1);
  CHECK_EQ_INT(out.type, SIO_PACKET_EVENT);
  sio_packet_clear(&out);

  const char *t = "62-/admin,5[{\"_placeholder\":true,\"num\":1},{\"_placeholder\":true,\"num\":0}]";
  CHECK_EQ_INT(sio_packet_decoder_feed(&d, t, strlen(t), 0, &out), 0);
  CHECK(d.waiting);
  CHECK_EQ_INT(sio_packet_decoder_feed(&d, big, big_len, 1, &out), 0);
  static const char last[] = "\x00\x01\xff";
  CHECK_EQ_INT(sio_packet_decoder_feed(&d, last, 3, 1, &out), 1);
  CHECK(!d.waiting);
  /* The first attachment was copied; the last one, which completed the packet, is lent. */
  CHECK(out.attachments[0].data != big && out.attachments[1].data == last);
  CHECK_EQ_INT(out.last_borrowed, 1);
  CHECK_EQ_INT(out.type, SIO_PACKET_BINARY_ACK);
  CHECK_EQ_INT(out.id, 5);
  CHECK(strcmp(out.nsp, "/admin") == 0);
  CHECK_EQ_INT(out.attachment_count, 2);
  CHECK_EQ_INT(sio_packet_count_placeholders(out.data), 2);
  CHECK_MEM(out.attachments[0].data, out.attachments[0].len, big, big_len);
  CHECK_MEM(out.attachments[1].data, out.attachments[1].len, "\x00\x01\xff", 3);
  sio_packet_clear(&out);
  free(big);

  /* Zero-length attachment. */
  t = "51-[\"e\",{\"_placeholder\":true,\"num\":0}]";
  CHECK_EQ_INT(sio_packet_decoder_feed(&d, t, strlen(t), 0, &out), 0);
  CHECK_EQ_INT(sio_packet_decoder_feed(&d, "", 0, 1, &out), 1);
  CHECK_EQ_INT(out.attachments[0].len, 0);
  CHECK(out.attachments[0].data != NULL);
  sio_packet_clear(&out);

  /* Zero attachments announced: refused, as socket.io-parser does. */
  CHECK_EQ_INT(sio_packet_decoder_feed(&d, "50-[\"e\"]", 8, 0, &out), SIO_EPARSE);
  /* More than the decoder's limit (the server's maxAttachments). */
  d.max_attachments = 2;
  t = "53-[\"e\",{\"_placeholder\":true,\"num\":0}]";
  CHECK_EQ_INT(sio_packet_decoder_feed(&d, t, strlen(t), 0, &out), SIO_EPARSE);
  t = "52-[\"e\",{\"_placeholder\":true,\"num\":1}]";
  CHECK_EQ_INT(sio_packet_decoder_feed(&d, t, strlen(t), 0, &out), 0);
  CHECK_EQ_INT(sio_packet_decoder_feed(&d, "a", 1, 1, &out), 0);
  CHECK_EQ_INT(sio_packet_decoder_feed(&d, "b", 1, 1, &out), 1);
  sio_packet_clear(&out);
  d.max_attachments = SIO_PACKET_MAX_ATTACHMENTS;

  /* Binary with nothing awaited. */
  CHECK_EQ_INT(sio_packet_decoder_feed(&d, "x", 1, 1, &out), SIO_EPARSE);
  /* Text while attachments are awaited: error, and the decoder is reset. */
  t = "52-[\"e\",{\"_placeholder\":true,\"num\":0},{\"_placeholder\":true,\"num\":1}]";
  CHECK_EQ_INT(sio_packet_decoder_feed(&d, t, strlen(t), 0, &out), 0);
  CHECK_EQ_INT(sio_packet_decoder_feed(&d, "abc", 3, 1, &out), 0);
  CHECK_EQ_INT(sio_packet_decoder_feed(&d, "2[\"a\"]", 6, 0, &out), SIO_EPARSE);
  CHECK(!d.waiting);
  CHECK_EQ_INT(sio_packet_decoder_feed(&d, "2[\"a\"]", 6, 0, &out), 1);
  sio_packet_clear(&out);
  /* Bad text. */
  CHECK_EQ_INT(sio_packet_decoder_feed(&d, "2{}", 3, 0, &out), SIO_EPARSE);

  /* Freed while waiting: no leak (ASan checks). */
  CHECK_EQ_INT(sio_packet_decoder_feed(&d, t, strlen(t), 0, &out), 0);
  CHECK_EQ_INT(sio_packet_decoder_feed(&d, "abc", 3, 1, &out), 0);
  sio_packet_decoder_free(&d);
  CHECK(!d.waiting);
  CHECK_EQ_INT(sio_packet_decoder_feed(&d, "1", 1, 0, &out), 1);
  sio_packet_clear(&out);
  sio_packet_decoder_free(&d);
}

TEST(placeholders) {
  cJSON *ph = sio_packet_placeholder(42);
  CHECK(ph);
  size_t n = 0;
  CHECK(sio_packet_is_placeholder(ph, &n));
  CHECK_EQ_INT(n, 42);
  CHECK(strcmp(json_of(ph), "{\"_placeholder\":true,\"num\":42}") == 0);
  cJSON_Delete(ph);

  static const char *const not_ph[] = {
      "{\"_placeholder\":false,\"num\":0}", "{\"_placeholder\":1,\"num\":0}",
      "{\"_placeholder\":true}", "{\"_placeholder\":true,\"num\":-1}",
      "{\"_placeholder\":true,\"num\":1.5}", "{\"_placeholder\":true,\"num\":\"1\"}",
      "[true,0]", "null", "{\"num\":0}"};
  for (size_t i = 0; i < sizeof not_ph / sizeof not_ph[0]; i++) {
    cJSON *j = cJSON_Parse(not_ph[i]);
    CHECK(j);
    int is = sio_packet_is_placeholder(j, &n);
    cJSON_Delete(j);
    CHECK(!is);
  }
  CHECK(!sio_packet_is_placeholder(NULL, &n));
  {
    cJSON *j = cJSON_Parse("[{\"num\":3,\"_placeholder\":true,\"x\":1}]");
    CHECK(sio_packet_is_placeholder(cJSON_GetArrayItem(j, 0), &n));
    cJSON_Delete(j);
    CHECK_EQ_INT(n, 3);
  }

  cJSON *j = cJSON_Parse("[\"e\",{\"_placeholder\":true,\"num\":0},{\"a\":[{\"_placeholder\":true,"
                         "\"num\":1},{\"_placeholder\":false,\"num\":2}]},[[{\"_placeholder\":true,"
                         "\"num\":2}]]]");
  CHECK(j);
  size_t c = sio_packet_count_placeholders(j);
  cJSON_Delete(j);
  CHECK_EQ_INT(c, 3);
  CHECK_EQ_INT(sio_packet_count_placeholders(NULL), 0);
  j = cJSON_CreateString("x");
  c = sio_packet_count_placeholders(j);
  cJSON_Delete(j);
  CHECK_EQ_INT(c, 0);
}


/* cJSON strings end at a NUL: "\u0000" is held as C0 80 and printed back as "\u0000". */
TEST(nul_escapes) {
  sio_packet_t p;
  const char *t = "2[\"ev\",\"a\\u0000b\",\"\\\\u0000\",{\"k\\u0000\":\"\\u0000\"}]";
  CHECK_EQ_INT(sio_packet_decode(t, strlen(t), &p), 0);
  cJSON *a = cJSON_GetArrayItem(p.data, 1);
  CHECK(cJSON_IsString(a) && strcmp(a->valuestring, "a\xC0\x80" "b") == 0);
  cJSON *lit = cJSON_GetArrayItem(p.data, 2); /* an escaped backslash, then text */
  CHECK(cJSON_IsString(lit) && strcmp(lit->valuestring, "\\u0000") == 0);
  sio_sbuf_t b = SIO_SBUF_INIT;
  CHECK_EQ_INT(sio_packet_encode(&p, &b), 0);
  CHECK_STR(b.data, b.len, t);
  sio_packet_clear(&p);
  sio_sbuf_free(&b);
}

/* A UTF-16 surrogate without its partner (JSON.stringify's "\ud83d" for "🎨".slice(0, 1)) is kept
 * as WTF-8 (ED A0..BF xx) and written back as the same escape; a pair stays one character. Every
 * position: alone, start, middle, end, high, low, reversed pair, two highs, in keys, nested, next
 * to a NUL, upper-case hex. */
TEST(lone_surrogates) {
  static const struct {
    const char *json; /* the argument as JSON */
    const char *held; /* the bytes the core holds */
    const char *out;  /* the argument written back */
  } cases[] = {
      {"\"\\ud83d\"", "\xED\xA0\xBD", "\"\\ud83d\""},
      {"\"\\ude00\"", "\xED\xB8\x80", "\"\\ude00\""},
      {"\"\\ud83dabc\"", "\xED\xA0\xBD" "abc", "\"\\ud83dabc\""},
      {"\"ab\\ud83dc\"", "ab\xED\xA0\xBD" "c", "\"ab\\ud83dc\""},
      {"\"abc\\udfff\"", "abc\xED\xBF\xBF", "\"abc\\udfff\""},
      {"\"\\ude00\\ud83d\"", "\xED\xB8\x80\xED\xA0\xBD", "\"\\ude00\\ud83d\""},
      {"\"\\ud83d\\ud83d\\ude00\"", "\xED\xA0\xBD\xF0\x9F\x98\x80", "\"\\ud83d\xF0\x9F\x98\x80\""},
      {"\"\\ud83d\\ude00\"", "\xF0\x9F\x98\x80", "\"\xF0\x9F\x98\x80\""},
      {"\"\\uD83D\\u0000\\uDC00\"", "\xED\xA0\xBD\xC0\x80\xED\xB0\x80", "\"\\ud83d\\u0000\\udc00\""},
      {"\"\\ud800x\\udbff\"", "\xED\xA0\x80x\xED\xAF\xBF", "\"\\ud800x\\udbff\""},
      {"\"\\\\ud83d\"", "\\ud83d", "\"\\\\ud83d\""}, /* an escaped backslash, then text */
      {"\"\xED\x9F\xBF\\ud7ff\"", "\xED\x9F\xBF\xED\x9F\xBF", "\"\xED\x9F\xBF\xED\x9F\xBF\""},
  };
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    char text[128], want[128];
    snprintf(text, sizeof text, "2[\"ev\",%s,{\"k%s:[%s]}]", cases[i].json,
             cases[i].json + 1, cases[i].json);
    /* the object's key is the same string with a "k" in front */
    snprintf(want, sizeof want, "2[\"ev\",%s,{\"k%s:[%s]}]", cases[i].out, cases[i].out + 1,
             cases[i].out);
    sio_packet_t p;
    int r = sio_packet_decode(text, strlen(text), &p);
    CHECK_EQ_INT(r, 0);
    if (!p.data) continue;
    cJSON *a = cJSON_GetArrayItem(p.data, 1);
    CHECK(cJSON_IsString(a) && strcmp(a->valuestring, cases[i].held) == 0);
    cJSON *o = cJSON_GetArrayItem(p.data, 2);
    CHECK(o && o->child && o->child->string && o->child->string[0] == 'k' &&
          strcmp(o->child->string + 1, cases[i].held) == 0);
    CHECK(o && o->child && strcmp(cJSON_GetArrayItem(o->child, 0)->valuestring, cases[i].held) == 0);
    sio_sbuf_t b = SIO_SBUF_INIT;
    CHECK_EQ_INT(sio_packet_encode(&p, &b), 0);
    CHECK_STR(b.data, b.len, want);
    sio_packet_clear(&p);
    sio_sbuf_free(&b);
  }
  /* Still refused: a short or bad escape (cJSON alone reads "\\u00zz" as a NUL and cuts the string
   * there), and a backslash ending the text. */
  static const char *const bad[] = {"2[\"ev\",\"\\ud83\"]", "2[\"ev\",\"\\ud83g\"]",
                                    "2[\"ev\",\"ab\\u00zzcd\"]", "2[\"ev\",\"\\ud83d\\u\"]",
                                    "2[\"ev\",\"\\"};
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    sio_packet_t p;
    CHECK_EQ_INT(sio_packet_decode(bad[i], strlen(bad[i]), &p), SIO_EPARSE);
  }
}

/* Numbers go on the wire as exactly the same double (cJSON's own print wrote 9007199254740991 as
 * 9.00719925474099e+15 and 0.1 + 0.2 as 0.3). */
TEST(exact_numbers) {
  sio_packet_t p = {0};
  p.type = SIO_PACKET_EVENT;
  p.nsp = "/";
  p.id = -1;
  p.data = cJSON_CreateArray();
  cJSON_AddItemToArray(p.data, cJSON_CreateString("n"));
  cJSON_AddItemToArray(p.data, cJSON_CreateNumber(9007199254740991.0));
  cJSON_AddItemToArray(p.data, cJSON_CreateNumber(0.1 + 0.2));
  cJSON_AddItemToArray(p.data, cJSON_CreateNumber(-0.0));
  cJSON_AddItemToArray(p.data, cJSON_CreateNumber(1e21));
  sio_sbuf_t b = SIO_SBUF_INIT;
  CHECK_EQ_INT(sio_packet_encode(&p, &b), 0);
  cJSON_Delete(p.data);
  CHECK_STR(b.data, b.len, "2[\"n\",9007199254740991,0.30000000000000004,0,1e+21]");
  sio_sbuf_free(&b);
  /* And they come back as the same doubles, and the same text. */
  const char *t = "2[\"n\",9007199254740991,-9007199254740991,0.30000000000000004,5e-324,"
                  "1.7976931348623157e+308,1e-7]";
  CHECK_ROUNDTRIP(t);
  sio_packet_t q;
  CHECK_EQ_INT(decode_str(t, &q), 0);
  int same = cJSON_GetArrayItem(q.data, 1)->valuedouble == 9007199254740991.0 &&
             cJSON_GetArrayItem(q.data, 3)->valuedouble == 0.1 + 0.2;
  sio_packet_clear(&q);
  CHECK(same);
}

/* An argument value may nest SIO_PACKET_MAX_DEPTH deep (as the bindings allow) inside the event's
 * array; one more level is refused, and nothing is appended. */
TEST(encode_depth) {
  sio_packet_t p = {0};
  p.type = SIO_PACKET_EVENT;
  p.nsp = "/";
  p.id = -1;
  char *s = nested("[\"e\",", SIO_PACKET_MAX_DEPTH, "]");
  CHECK(s);
  p.data = cJSON_Parse(s);
  CHECK(p.data);
  sio_sbuf_t b = SIO_SBUF_INIT;
  CHECK_EQ_INT(sio_packet_encode(&p, &b), 0);
  CHECK_EQ_INT(b.len, 1 + strlen(s));
  CHECK(memcmp(b.data + 1, s, strlen(s)) == 0);
  free(s);
  cJSON *inner = cJSON_GetArrayItem(p.data, 1);
  while (inner->child) inner = inner->child;
  cJSON_AddItemToArray(inner, cJSON_CreateArray());
  b.len = 0;
  CHECK_EQ_INT(sio_packet_encode(&p, &b), SIO_EINVAL);
  CHECK_EQ_INT(b.len, 0);
  cJSON_Delete(p.data);
  sio_sbuf_free(&b);
}

TEST_MAIN(RUN(decode_examples), RUN(roundtrip_examples), RUN(encode_examples),
          RUN(encode_invalid), RUN(malformed), RUN(nesting), RUN(utf8_passthrough),
          RUN(decoder_attachments), RUN(placeholders), RUN(nul_escapes), RUN(lone_surrogates), RUN(exact_numbers),
          RUN(encode_depth))
