/* The string fast paths (issue 22) at their edges and against slow references kept here, not in
 * the library: the wide scans (span.c, both its SSE2 and its portable 8-byte path), UTF-8 / WTF-8
 * validation and the UTF-16 counts (utf8.c), the JSON reader (json_parse.c, against the former
 * pre-pass + cJSON_ParseWithLengthOpts pair) and the string writer (json_write.c, against the
 * former byte-at-a-time loop). Every byte class at every position 0..40 of texts of 0..70 bytes,
 * at every alignment of a 16-byte step, then many random texts. */
#include <cjson/cJSON.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/engine.h"
#include "json_parse.h"
#include "json_write.h"
#include "sio.h"
#include "socketio/packet.h"
#include "span.h"
#include "strings_ref.h"
#include "test.h"
#include "utf8.h"

/* The portable (SWAR) scans, built here under other names whatever the target. */
#define SIO_SPAN_PORTABLE 1
#define SIO_SPAN_NAME(x) portable_span_##x
#include "common/span.c"

/* The new reader against the reference on text[0..len) (copied to an exact-size buffer so that
 * ASan sees any read past it); 0 when they disagree. */
static int parse_agrees(const char *text, size_t len) {
  char *t = malloc(len ? len : 1);
  memcpy(t, text, len);
  cJSON *a = NULL, *b = NULL;
  int ra = sio_json_parse(t, len, &a), rb = ref_parse(t, len, &b);
  int ok = ra == rb && (ra != 0 || same_tree(a, b)) && (ra == 0 || a == NULL);
  if (!ok) fprintf(stderr, "parse differs (%d vs %d) on %zu bytes: %.*s\n", ra, rb, len, (int)len, t);
  cJSON_Delete(a);
  cJSON_Delete(b);
  free(t);
  return ok;
}

/* The writer against the reference on the C string s. */
static int write_agrees(const char *s) {
  cJSON *item = cJSON_CreateString(s);
  sio_sbuf_t out = SIO_SBUF_INIT;
  size_t n = strlen(s);
  char *want = malloc(6 * n + 3);
  size_t wn = ref_write_string(s, want);
  int ok = item && sio_json_write(&out, item, 4) == 0 && out.len == wn && memcmp(out.data, want, wn) == 0;
  if (!ok) fprintf(stderr, "write differs on %zu bytes: %s\n", n, s);
  sio_sbuf_free(&out);
  cJSON_Delete(item);
  free(want);
  return ok;
}

static int utf8_agrees(const char *s, size_t len) {
  char *t = malloc(len ? len : 1);
  memcpy(t, s, len);
  int ok = sio_utf8_valid(t, len) == ref_valid(t, len, 0) && sio_wtf8_valid(t, len) == ref_valid(t, len, 1) &&
           sio_utf8_utf16_len(t, len) == ref_utf16_len(t, len);
  size_t units = ref_utf16_len(t, len);
  for (size_t u = 0; ok && u <= units + 2; u++) ok = sio_utf8_skip_utf16(t, len, u) == ref_skip_utf16(t, len, u);
  if (!ok) fprintf(stderr, "utf8 differs on %zu bytes\n", len);
  free(t);
  return ok;
}

static uint64_t rng = 0x9E3779B97F4A7C15ULL;
static uint32_t rnd(uint32_t n) {
  rng ^= rng << 13;
  rng ^= rng >> 7;
  rng ^= rng << 17;
  return (uint32_t)(rng >> 11) % n;
}

/* ---- the scans ---- */

TEST(spans_every_byte_everywhere) {
  static char buf[128];
  size_t (*const fast[3])(const char *, size_t) = {sio_span_ascii, sio_span_json_plain, sio_span_json_safe};
  size_t (*const port[3])(const char *, size_t) = {portable_span_ascii, portable_span_json_plain,
                                                   portable_span_json_safe};
  for (int byte = 0; byte < 256; byte++)
    for (size_t len = 0; len <= 70; len++)
      for (size_t pos = 0; pos <= 40 && pos <= len; pos++)
        for (size_t align = 0; align < 16; align += len > 20 ? 5 : 1) {
          char *s = buf + align;
          memset(buf, 'a', sizeof buf);
          if (pos < len) s[pos] = (char)byte;
          if (pos + 9 < len) s[pos + 9] = '"'; /* a second hit further on */
          for (int k = 0; k < 3; k++) {
            size_t want = ref_span(s, len, k);
            CHECK_EQ_INT(fast[k](s, len), want);
            CHECK_EQ_INT(port[k](s, len), want);
          }
          /* The copying scan: the same span, copied, and not a byte more written. */
          char dst[2][128];
          memset(dst, 0x55, sizeof dst);
          size_t want = ref_span(s, len, 2);
          CHECK_EQ_INT(sio_span_json_safe_copy(dst[0] + 1, s, len), want);
          CHECK_EQ_INT(portable_span_json_safe_copy(dst[1] + 1, s, len), want);
          for (int k = 0; k < 2; k++) {
            CHECK(memcmp(dst[k] + 1, s, want) == 0 && dst[k][0] == 0x55);
            for (size_t i = want + 1; i < sizeof dst[k]; i++) CHECK(dst[k][i] == 0x55);
          }
        }
}

/* ---- UTF-8 ---- */

static const char *const utf8_classes[] = {
    "a", "\x7f", "\xC3\xA9", "\xE4\xB8\xAD", "\xF0\x9F\x98\x80", "\xED\xA0\xBD", "\xED\xBF\xBF",
    "\xED\x9F\xBF", "\xC0\x80", "\xC1\xBF", "\xE0\x80\x80", "\xF0\x80\x80\x80", "\xF4\x90\x80\x80",
    "\xF4\x8F\xBF\xBF", "\x80", "\xBF", "\xFF", "\xFE", "\xF8\x88\x80\x80\x80", "\xE4\xB8", "\xF0\x9F\x98",
    "\xC3", "\xEF\xBB\xBF", "\xC3\x28"};

TEST(utf8_every_class_everywhere) {
  char s[80];
  for (size_t c = 0; c < sizeof utf8_classes / sizeof *utf8_classes; c++) {
    size_t cl = strlen(utf8_classes[c]);
    for (size_t len = 0; len <= 70; len++)
      for (size_t pos = 0; pos <= 40 && pos + cl <= len; pos++) {
        for (size_t i = 0; i < len; i++) s[i] = (char)('a' + i % 26);
        memcpy(s + pos, utf8_classes[c], cl);
        CHECK(utf8_agrees(s, len));
        if (len) { /* and the class cut by the end of the text */
          CHECK(utf8_agrees(s, pos + cl - 1 < len ? pos + cl - 1 : len));
        }
      }
  }
  /* A few whole-text facts, whatever the reference says. */
  CHECK(sio_utf8_valid("", 0) && sio_wtf8_valid("\xED\xA0\xBD", 3) && !sio_utf8_valid("\xED\xA0\xBD", 3));
  CHECK_EQ_INT(sio_utf8_utf16_len("0123456789abcdef\xF0\x9F\x98\x80" "0123456789abcdef", 36), 34);
  CHECK_EQ_INT(sio_utf8_skip_utf16("0123456789abcdef\xF0\x9F\x98\x80" "0", 21, 17), (size_t)-1);
  CHECK_EQ_INT(sio_utf8_skip_utf16("0123456789abcdef\xF0\x9F\x98\x80" "0", 21, 18), 20);
}

TEST(utf8_random) {
  static const unsigned char rare[] = {0x80, 0xBF, 0xC0, 0xC2, 0xC3, 0xDF, 0xE0, 0xE4, 0xED, 0xEF,
                                       0xF0, 0xF4, 0xF5, 0xFF, 0x9F, 0xA0, 0xB8};
  char s[200];
  for (int n = 0; n < 100000; n++) {
    size_t len = rnd(sizeof s);
    for (size_t i = 0; i < len; i++) s[i] = (char)(rnd(8) ? 'a' + rnd(26) : rare[rnd(sizeof rare)]);
    /* and whole valid sequences now and then */
    const char *seq = utf8_classes[rnd(sizeof utf8_classes / sizeof *utf8_classes)];
    if (strlen(seq) <= len && rnd(2)) memcpy(s + rnd((uint32_t)(len - strlen(seq) + 1)), seq, strlen(seq));
    CHECK(utf8_agrees(s, len));
  }
}

/* ---- JSON strings ---- */

/* What may stand in a JSON string's text: escapes good and bad, raw bytes of every kind. */
static const struct {
  const char *t;
  size_t n;
} json_classes[] = {
#define C(s) {s, sizeof s - 1}
    C("a"), C("\\\""), C("\\\\"), C("\\/"), C("\\n"), C("\\b"), C("\\f"), C("\\r"), C("\\t"),
    C("\\u0000"), C("\\u0041"), C("\\u00e9"), C("\\u4E2D"), C("\\u007f"), C("\\ud83d"), C("\\ude00"),
    C("\\ud83d\\ude00"), C("\\uD83D\\uDE00"), C("\\ud83d\\u0000"), C("\\ud83d\\ud83d\\ude00"),
    C("\\ude00\\ud83d"), C("\\u0000\\u0000"), C("\x01"), C("\x1f"), C("\x7f"), C("\xC3\xA9"),
    C("\xE4\xB8\xAD"), C("\xF0\x9F\x98\x80"), C("\xED\xA0\xBD"), C("\xC0\x80"), C("\xFF"), C("\\x"),
    C("\\u12"), C("\\u00zz"), C("\\"), C("\0"), C("\""), C("\\u"), C("\\ud83d\\u")
#undef C
};

static size_t json_wrap(char *o, const char *pre, const char *frag, size_t fn, size_t pos, size_t len,
                        const char *post) {
  size_t n = strlen(pre);
  memcpy(o, pre, n);
  for (size_t i = 0; i < pos; i++) o[n++] = (char)('a' + i % 26);
  memcpy(o + n, frag, fn);
  n += fn;
  for (size_t i = pos; i < len; i++) o[n++] = (char)('a' + i % 26);
  memcpy(o + n, post, strlen(post));
  return n + strlen(post);
}

TEST(json_strings_every_class_everywhere) {
  char t[160];
  for (size_t c = 0; c < sizeof json_classes / sizeof *json_classes; c++)
    for (size_t len = 0; len <= 70; len++)
      for (size_t pos = 0; pos <= 40 && pos <= len; pos++) {
        const char *f = json_classes[c].t;
        size_t fn = json_classes[c].n;
        CHECK(parse_agrees(t, json_wrap(t, "[\"", f, fn, pos, len, "\"]")));
        CHECK(parse_agrees(t, json_wrap(t, "{\"", f, fn, pos, len, "\":\"x\"}")));
        size_t n = json_wrap(t, "\"", f, fn, pos, len, "\"");
        CHECK(parse_agrees(t, n));
        cJSON *j = NULL;
        if (sio_json_parse(t, n, &j) == 0) CHECK(write_agrees(j->valuestring)); /* and back */
        cJSON_Delete(j);
      }
  /* What the core's forms decode to, exactly. */
  cJSON *j = NULL;
  const char *in = "\"0123456789abcd\\u0000\\ud83d\\ud83d\\ude00\\udc00z\"";
  CHECK_EQ_INT(sio_json_parse(in, strlen(in), &j), 0);
  CHECK(strcmp(j->valuestring, "0123456789abcd\xC0\x80\xED\xA0\xBD\xF0\x9F\x98\x80\xED\xB0\x80z") == 0);
  cJSON_Delete(j);
}

TEST(json_write_every_class_everywhere) {
  static const char *const seqs[] = {"\xC0\x80", "\xC0", "\xC0\x41", "\xED\xA0\xBD", "\xED\x9F\xBF",
                                     "\xED\xA0\xBD\xED\xB8\x80", "\xED\xB8\x80\xED\xA0\xBD", "\xED\xA0",
                                     "\xED", "\xED\xA0\x41", "\xED\xA0\xBD\xED\xB8", "\xF0\x9F\x98\x80"};
  char s[100];
  for (size_t len = 0; len <= 70; len++)
    for (size_t pos = 0; pos <= 40 && pos <= len; pos++) {
      for (int b = 1; b < 256 + (int)(sizeof seqs / sizeof *seqs); b++) {
        const char *f = b < 256 ? (char[]){(char)b, 0} : seqs[b - 256];
        size_t fn = strlen(f), n = 0;
        for (size_t i = 0; i < pos; i++) s[n++] = (char)('a' + i % 26);
        memcpy(s + n, f, fn);
        n += fn;
        for (size_t i = pos; i < len; i++) s[n++] = (char)('a' + i % 26);
        s[n] = '\0';
        CHECK(write_agrees(s));
      }
    }
}

/* Random texts from JSON's pieces, good and bad, and random mutations of them. */
TEST(json_random) {
  static const char *const pieces[] = {
      "[", "]", "{", "}", ",", ":", "\"", "\"", "\"", "\\", "\\\"", "\\\\", "\\n", "\\u", "\\u0000",
      "\\ud83d", "\\ude00", "\\uD83D\\uDE00", "00", "d8", "e9", "zz", "null", "true", "false", "nul",
      "0", "1", "-", "12.5", "1e5", "e", "E", "+", ".", "01", "-0", " ", "\t", "\n", "\r", "\x01", "\x0b",
      "\x1f", "\xEF\xBB\xBF", "\xC3\xA9", "\xED\xA0\xBD", "\xC0\x80", "\xFF", "abc", "/",
      "\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"", "[\"x\",1]", "{\"k\":[]}", "\"\\u00e9\""};
  static const char *const values[] = {"\"\"", "\"abcdefghijklmnopqrstuvwxyz0123456789\"",
                                       "\"a\\\"b\\\\c\\u0000d\\ud83de\\ud83d\\ude00f\\n\"",
                                       "\"\xC3\xA9\xE4\xB8\xAD\xF0\x9F\x98\x80\"", "1", "-2.5e-3", "true",
                                       "null", "[]", "{}", "\"\\u00zz\"", "\"x\\u12\""};
  char t[600];
  for (int n = 0; n < 60000; n++) {
    size_t len = 0;
    if (n % 2) { /* soup */
      for (int k = (int)rnd(24); k >= 0; k--) {
        const char *p = pieces[rnd(sizeof pieces / sizeof *pieces)];
        if (len + strlen(p) > sizeof t) break;
        memcpy(t + len, p, strlen(p));
        len += strlen(p);
      }
    } else { /* an array or object of values, with whitespace, then maybe a mutation */
      int obj = (int)rnd(2);
      t[len++] = obj ? '{' : '[';
      for (int k = (int)rnd(6); k >= 0; k--) {
        if (t[len - 1] != '{' && t[len - 1] != '[') t[len++] = ',';
        if (rnd(4) == 0) t[len++] = " \t\n\r\x01"[rnd(5)];
        if (obj) len += (size_t)sprintf(t + len, "\"k%u\":", rnd(100));
        const char *v = values[rnd(sizeof values / sizeof *values)];
        memcpy(t + len, v, strlen(v));
        len += strlen(v);
      }
      t[len++] = obj ? '}' : ']';
      if (rnd(3) == 0) t[rnd((uint32_t)len)] = (char)rnd(256);
    }
    CHECK(parse_agrees(t, len));
  }
  /* Long strings: every chunk boundary of a 16-byte step, escapes straddling them. */
  for (int n = 0; n < 3000; n++) {
    size_t len = 0;
    t[len++] = '"';
    while (len < 500) {
      if (rnd(10) == 0) {
        const char *p = json_classes[rnd(24)].t; /* the good ones */
        memcpy(t + len, p, strlen(p));
        len += strlen(p);
      } else {
        t[len++] = (char)('a' + rnd(26));
      }
    }
    t[len++] = '"';
    CHECK(parse_agrees(t, len));
    cJSON *j = NULL;
    if (sio_json_parse(t, len, &j) == 0) CHECK(write_agrees(j->valuestring));
    cJSON_Delete(j);
  }
}

/* Containers as cJSON builds them: nesting bounded at CJSON_NESTING_LIMIT, the first child's prev
 * the last one. */
TEST(json_structure) {
  static char deep[2 * CJSON_NESTING_LIMIT + 10];
  for (int extra = 0; extra <= 1; extra++) {
    size_t n = (size_t)CJSON_NESTING_LIMIT + (size_t)extra;
    memset(deep, '[', n);
    memset(deep + n, ']', n);
    CHECK(parse_agrees(deep, 2 * n));
  }
  const char *t = " [1, \"b\" ,{\"k\":null,\"k\":true}, [] ] \r\n";
  cJSON *j = NULL;
  CHECK_EQ_INT(sio_json_parse(t, strlen(t), &j), 0);
  CHECK(cJSON_GetArraySize(j) == 4 && j->child->prev == cJSON_GetArrayItem(j, 3));
  cJSON_Delete(j);
  static const char *const more[] = {"1", " -0 ", "1.5e300", "1e400", "01", "1.", "-", "--1", "1e",
                                     "\xEF\xBB\xBF[]", "\x01[]", "[]\x01", "[\x01]", "[1\x0b,2]", "",
                                     "  ", "[1,]", "{\"a\"}", "{\"a\":}", "{1:2}", "nulll", "[null",
                                     "\"abc", "\"abc\\\"", "12345678901234567890123456789012345678901234567890"
                                     "12345678901234567890"};
  for (size_t i = 0; i < sizeof more / sizeof *more; i++) CHECK(parse_agrees(more[i], strlen(more[i])));
}

/* ---- the packet around them ---- */

/* A NUL is still refused anywhere in a packet, now without a pass of its own. */
TEST(packet_nul_anywhere) {
  char t[64];
  const char base[] = "2/chat,12[\"ev\",\"abcdefghijklmnopqrstuvwxyz\"]";
  for (size_t i = 0; i < sizeof base - 1; i++) {
    memcpy(t, base, sizeof base - 1);
    t[i] = '\0';
    sio_packet_t p;
    CHECK_EQ_INT(sio_packet_decode(t, sizeof base - 1, &p), SIO_EPARSE);
  }
  sio_packet_t p;
  CHECK_EQ_INT(sio_packet_decode(base, sizeof base - 1, &p), 0);
  sio_packet_clear(&p);
}

/* An encoded message holds the packet's text, written in place (sio__msg_adopt), whatever the
 * escapes make of its length against the size guessed up front. */
TEST(encode_in_place) {
  static char big[20001];
  for (int kind = 0; kind < 3; kind++) {
    for (size_t i = 0; i < sizeof big - 1; i++) big[i] = kind == 0 ? 'a' : kind == 1 ? '\x01' : "a\"\\\xC0\x80"[i % 5];
    sio_packet_t p = {0};
    p.type = SIO_PACKET_EVENT;
    p.nsp = "/";
    p.id = 7;
    p.data = cJSON_CreateArray();
    cJSON_AddItemToArray(p.data, cJSON_CreateString("ev"));
    cJSON_AddItemToArray(p.data, cJSON_CreateString(big));
    sio_sbuf_t want = SIO_SBUF_INIT;
    CHECK_EQ_INT(sio_packet_encode(&p, &want), 0);
    sio_encoded_t enc;
    CHECK_EQ_INT(sio__encode(&p, NULL, SIO_PARSER_JSON, &enc), 0);
    CHECK_MEM(sio__msg_data(enc.text), sio__msg_len(enc.text), want.data, want.len);
    CHECK(sio__msg_data(enc.text)[want.len] == '\0');
    sio__encoded_clear(&enc);
    sio_sbuf_free(&want);
    cJSON_Delete(p.data);
  }
}

TEST_MAIN(RUN(spans_every_byte_everywhere), RUN(utf8_every_class_everywhere), RUN(utf8_random),
          RUN(json_strings_every_class_everywhere), RUN(json_write_every_class_everywhere),
          RUN(json_random), RUN(json_structure), RUN(packet_nul_anywhere), RUN(encode_in_place))
