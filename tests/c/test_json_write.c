/* The compact JSON writer (core/src/common/json_write.c): exact output for numbers (exact
 * round-trips, JSON.stringify's layout), string escapes, the C0 80 NUL convention, containers, key
 * order and the depth limit. */
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "json_write.h"
#include "sio.h"
#include "test.h"

/* The writer's text of `item` (which it deletes) in a static buffer; "<error N>" on failure. */
static const char *write_of(cJSON *item, int max_depth) {
  static char text[8192];
  sio_sbuf_t b = SIO_SBUF_INIT;
  int r = sio_json_write(&b, item, max_depth);
  if (r) snprintf(text, sizeof text, "<error %d>", r);
  else snprintf(text, sizeof text, "%.*s", (int)b.len, b.data ? b.data : "");
  sio_sbuf_free(&b);
  cJSON_Delete(item);
  return text;
}

static const char *num(double d) { return write_of(cJSON_CreateNumber(d), 64); }

#define CHECK_TEXT(got, want)                                                           \
  do {                                                                                  \
    const char *g_ = (got), *w_ = (want);                                               \
    if (strcmp(g_, w_) != 0) fprintf(stderr, "got %s, want %s\n", g_, w_);              \
    CHECK(strcmp(g_, w_) == 0);                                                         \
  } while (0)

/* The number's text, which must also read back (strtod, as JSON.parse would) as the same double. */
#define CHECK_NUM(d, want)                                                              \
  do {                                                                                  \
    double d_ = (d);                                                                    \
    CHECK_TEXT(num(d_), (want));                                                        \
    char buf_[SIO_JSON_NUMBER_MAX];                                                     \
    size_t n_ = sio_json_number(d_, buf_);                                              \
    CHECK_EQ_INT(n_, strlen(want));                                                     \
    if (isfinite(d_)) CHECK(strtod(buf_, NULL) == d_);                                  \
  } while (0)

TEST(integers) {
  CHECK_NUM(0, "0");
  CHECK_NUM(-0.0, "0");
  CHECK_NUM(1, "1");
  CHECK_NUM(-7, "-7");
  CHECK_NUM(42, "42");
  CHECK_NUM(9007199254740991.0, "9007199254740991");   /* 2^53 - 1: cJSON wrote 9.00719925474099e+15 */
  CHECK_NUM(-9007199254740991.0, "-9007199254740991");
  CHECK_NUM(9007199254740992.0, "9007199254740992");
  CHECK_NUM(1e15, "1000000000000000");
  CHECK_NUM(1e16, "10000000000000000");
  CHECK_NUM(123456789012345678.0, "123456789012345680"); /* the double's exact value */
  CHECK_NUM(1152921504606846976.0, "1152921504606846976"); /* 2^60, every digit */
  CHECK_NUM(-1152921504606846976.0, "-1152921504606846976");
  CHECK_NUM(9223372036854775808.0, "9223372036854775808"); /* 2^63: past int64_t */
  CHECK_NUM(1e20, "100000000000000000000");
  CHECK_NUM(999999999999999868928.0, "999999999999999868928"); /* the largest double below 1e21 */
  CHECK_NUM(1e21, "1e+21");
  CHECK_NUM(-1e21, "-1e+21");
  CHECK_NUM(1e22, "1e+22");
  CHECK_NUM(1180591620717411303424.0, "1.1805916207174113e+21"); /* 2^70 */
}

TEST(fractions) {
  CHECK_NUM(0.1, "0.1");
  CHECK_NUM(0.1 + 0.2, "0.30000000000000004"); /* cJSON wrote 0.3 */
  CHECK_NUM(0.3, "0.3");
  CHECK_NUM(1.5, "1.5");
  CHECK_NUM(-0.25, "-0.25");
  CHECK_NUM(2.5, "2.5");
  CHECK_NUM(1.0 / 3, "0.3333333333333333");
  CHECK_NUM(2.0 / 3, "0.6666666666666666");
  CHECK_NUM(3.141592653589793, "3.141592653589793");
  CHECK_NUM(123.456, "123.456");
  CHECK_NUM(4503599627370495.5, "4503599627370495.5"); /* 2^52 - 0.5: 17 digits */
  CHECK_NUM(999999999999999.9, "999999999999999.9");
  CHECK_NUM(0.000001, "0.000001");                      /* JSON.stringify's last plain form */
  CHECK_NUM(nextafter(0.000001, 0), "9.999999999999997e-7");
  CHECK_NUM(0.0000015, "0.0000015");
  CHECK_NUM(1e-7, "1e-7");
  CHECK_NUM(-1.5e-7, "-1.5e-7");
  CHECK_NUM(1.7976931348623157e308, "1.7976931348623157e+308"); /* DBL_MAX */
  CHECK_NUM(-DBL_MAX, "-1.7976931348623157e+308");
  CHECK_NUM(2.2250738585072014e-308, "2.2250738585072014e-308"); /* DBL_MIN */
  CHECK_NUM(5e-324, "5e-324");                                   /* the least subnormal */
  CHECK_NUM(-5e-324, "-5e-324");
  CHECK_NUM(1e-323, "1e-323");
  CHECK_NUM(2.225073858507201e-308, "2.225073858507201e-308"); /* the largest subnormal */
}

TEST(non_finite) {
  CHECK_TEXT(num(NAN), "null");
  CHECK_TEXT(num(-NAN), "null");
  CHECK_TEXT(num(INFINITY), "null");
  CHECK_TEXT(num(-INFINITY), "null");
  char buf[SIO_JSON_NUMBER_MAX];
  CHECK_EQ_INT(sio_json_number(INFINITY, buf), 4);
  CHECK(strcmp(buf, "null") == 0);
}

/* Many doubles: each text reads back as the very same double, and is no longer than 17 digits. */
TEST(round_trips) {
  unsigned long long x = 88172645463325252ULL;
  for (int i = 0; i < 200000; i++) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    double d;
    if (i % 2) {
      memcpy(&d, &x, sizeof d); /* any bit pattern */
      if (!isfinite(d)) continue;
    } else {
      d = (double)(x >> 11) / (double)(1ULL << (x % 64)); /* a value of ordinary size */
    }
    char buf[SIO_JSON_NUMBER_MAX];
    size_t n = sio_json_number(d, buf);
    CHECK(n > 0 && n < SIO_JSON_NUMBER_MAX && strlen(buf) == n);
    if (strtod(buf, NULL) != d && !(d == 0 && strcmp(buf, "0") == 0))
      fprintf(stderr, "%.17g written %s\n", d, buf);
    CHECK(strtod(buf, NULL) == d || (d == 0 && strcmp(buf, "0") == 0));
    CHECK(!strchr(buf, ','));
  }
}

/* Short decimals (the writer's fast path): the text reads back as the same double and has no more
 * significant digits than the decimal the double was read from. */
TEST(short_decimals) {
  unsigned long long x = 0x2545F4914F6CDD1DULL;
  for (int i = 0; i < 100000; i++) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    int digits = 1 + (int)(x % 15), k = (int)((x >> 8) % 22);
    unsigned long long p = 1;
    for (int j = 0; j < digits; j++) p *= 10;
    unsigned long long m = (x >> 16) % p;
    char in[48];
    snprintf(in, sizeof in, "%s%llue-%d", (x >> 60) & 1 ? "-" : "", m, k);
    double d = strtod(in, NULL);
    char buf[SIO_JSON_NUMBER_MAX];
    sio_json_number(d, buf);
    CHECK(strtod(buf, NULL) == d);
    int sig = 0, started = 0, trailing = 0;
    for (const char *c = buf; *c && *c != 'e'; c++) {
      if (*c < '0' || *c > '9') continue;
      if (*c != '0') started = 1;
      if (!started) continue;
      sig++;
      trailing = *c == '0' ? trailing + 1 : 0;
    }
    if (strchr(buf, '.') || strchr(buf, 'e')) CHECK(trailing == 0);
    if (sig > digits) fprintf(stderr, "%s written %s\n", in, buf);
    CHECK(sig <= digits || m == 0 || (strchr(buf, '.') == NULL && strchr(buf, 'e') == NULL));
  }
}

TEST(literals) {
  CHECK_TEXT(write_of(cJSON_CreateTrue(), 64), "true");
  CHECK_TEXT(write_of(cJSON_CreateFalse(), 64), "false");
  CHECK_TEXT(write_of(cJSON_CreateNull(), 64), "null");
  CHECK_TEXT(write_of(cJSON_CreateRaw("{\"pre\":1}"), 64), "{\"pre\":1}");
}

TEST(strings) {
  CHECK_TEXT(write_of(cJSON_CreateString(""), 64), "\"\"");
  CHECK_TEXT(write_of(cJSON_CreateString("plain text"), 64), "\"plain text\"");
  CHECK_TEXT(write_of(cJSON_CreateString("q\" b\\ /"), 64), "\"q\\\" b\\\\ /\"");
  CHECK_TEXT(write_of(cJSON_CreateString("\b\f\n\r\t"), 64), "\"\\b\\f\\n\\r\\t\"");
  /* Every other control character as \u00xx in lower-case hex; DEL as it is. */
  char ctl[33];
  for (int i = 1; i < 32; i++) ctl[i - 1] = (char)i;
  ctl[31] = 0x7f;
  ctl[32] = '\0';
  CHECK_TEXT(write_of(cJSON_CreateString(ctl), 64),
             "\"\\u0001\\u0002\\u0003\\u0004\\u0005\\u0006\\u0007\\b\\t\\n\\u000b\\f\\r\\u000e"
             "\\u000f\\u0010\\u0011\\u0012\\u0013\\u0014\\u0015\\u0016\\u0017\\u0018\\u0019\\u001a"
             "\\u001b\\u001c\\u001d\\u001e\\u001f\x7f\"");
  /* Escapes at the start, the end and next to each other. */
  CHECK_TEXT(write_of(cJSON_CreateString("\nab\"\"c\\"), 64), "\"\\nab\\\"\\\"c\\\\\"");
}

TEST(nul_as_c0_80) {
  CHECK_TEXT(write_of(cJSON_CreateString("a\xC0\x80" "b"), 64), "\"a\\u0000b\"");
  CHECK_TEXT(write_of(cJSON_CreateString("\xC0\x80\xC0\x80"), 64), "\"\\u0000\\u0000\"");
  CHECK_TEXT(write_of(cJSON_CreateString("\xC0\x80"), 64), "\"\\u0000\"");
  /* A stray C0 not followed by 80 is no NUL: written as it is. */
  CHECK_TEXT(write_of(cJSON_CreateString("\xC0x\xC0"), 64), "\"\xC0x\xC0\"");
  /* In keys too. */
  cJSON *o = cJSON_CreateObject();
  cJSON_AddStringToObject(o, "k\xC0\x80", "\xC0\x80");
  CHECK_TEXT(write_of(o, 64), "{\"k\\u0000\":\"\\u0000\"}");
}

/* A lone surrogate held as WTF-8 (ED A0..BF xx) is written as JSON.stringify writes it; ED below
 * A0 is an ordinary character (U+D000..U+D7FF), and a truncated sequence is written as it is. */
TEST(lone_surrogate_as_wtf8) {
  CHECK_TEXT(write_of(cJSON_CreateString("\xED\xA0\xBD"), 64), "\"\\ud83d\"");
  CHECK_TEXT(write_of(cJSON_CreateString("a\xED\xB8\x80" "b\xED\xBF\xBF"), 64), "\"a\\ude00b\\udfff\"");
  /* A high then a low surrogate held apart (CESU-8, as Python's surrogatepass writes "\ud83d\ude00")
   * are one character, written as its UTF-8 as JSON.stringify writes the same JavaScript string;
   * a low then a high stay two escapes. */
  CHECK_TEXT(write_of(cJSON_CreateString("\xED\xA0\xBD\xED\xB8\x80"), 64), "\"\xF0\x9F\x98\x80\"");
  CHECK_TEXT(write_of(cJSON_CreateString("\xED\xA0\x80\xED\xB0\x80!"), 64), "\"\xF0\x90\x80\x80!\"");
  CHECK_TEXT(write_of(cJSON_CreateString("\xED\xB0\x80\xED\xA0\x80"), 64), "\"\\udc00\\ud800\"");
  CHECK_TEXT(write_of(cJSON_CreateString("\xED\xA0\x80\xED\xA0\x80\xED\xB0\x80"), 64), "\"\\ud800\xF0\x90\x80\x80\"");
  CHECK_TEXT(write_of(cJSON_CreateString("\xED\x9F\xBF\xED\x80\x80"), 64), "\"\xED\x9F\xBF\xED\x80\x80\"");
  CHECK_TEXT(write_of(cJSON_CreateString("x\xED\xA0"), 64), "\"x\xED\xA0\"");
  CHECK_TEXT(write_of(cJSON_CreateString("\xED"), 64), "\"\xED\"");
  cJSON *o = cJSON_CreateObject();
  cJSON_AddStringToObject(o, "\xED\xA0\xBD", "\xC0\x80\xED\xA0\xBD");
  CHECK_TEXT(write_of(o, 64), "{\"\\ud83d\":\"\\u0000\\ud83d\"}");
}

TEST(utf8_passthrough) {
  /* é, 中文, 😀, U+2028, U+2029: all raw, as JSON.stringify writes them. */
  const char *s = "h\xC3\xA9 \xE4\xB8\xAD\xE6\x96\x87 \xF0\x9F\x98\x80 \xE2\x80\xA8\xE2\x80\xA9";
  char want[128];
  snprintf(want, sizeof want, "\"%s\"", s);
  CHECK_TEXT(write_of(cJSON_CreateString(s), 64), want);
  cJSON *o = cJSON_CreateObject();
  cJSON_AddNumberToObject(o, "\xE9\x94\xAE", 1);
  CHECK_TEXT(write_of(o, 64), "{\"\xE9\x94\xAE\":1}");
}

TEST(containers) {
  CHECK_TEXT(write_of(cJSON_CreateArray(), 64), "[]");
  CHECK_TEXT(write_of(cJSON_CreateObject(), 64), "{}");
  const char *in = "[1, \"a\" , [true,null, [] ,{}], {\"k\" : {\"z\":1,\"a\":[false],\"m\":\"\"}}, 2.5]";
  CHECK_TEXT(write_of(cJSON_Parse(in), 64),
             "[1,\"a\",[true,null,[],{}],{\"k\":{\"z\":1,\"a\":[false],\"m\":\"\"}},2.5]");
  /* Keys in insertion order, never sorted. */
  cJSON *o = cJSON_CreateObject();
  cJSON_AddNumberToObject(o, "zeta", 1);
  cJSON_AddNumberToObject(o, "alpha", 2);
  cJSON_AddNumberToObject(o, "mid", 3);
  CHECK_TEXT(write_of(o, 64), "{\"zeta\":1,\"alpha\":2,\"mid\":3}");
  /* Only the item itself, not its siblings. */
  cJSON *a = cJSON_Parse("[[1],[2]]");
  sio_sbuf_t b = SIO_SBUF_INIT;
  CHECK_EQ_INT(sio_json_write(&b, a->child, 64), 0);
  CHECK_STR(b.data, b.len, "[1]");
  /* Appends after what is there. */
  CHECK_EQ_INT(sio_json_write(&b, a->child->next, 64), 0);
  CHECK_STR(b.data, b.len, "[1][2]");
  sio_sbuf_free(&b);
  cJSON_Delete(a);
  /* Referenced items (as a broadcast's event array holds its arguments) print as themselves. */
  cJSON *args = cJSON_Parse("[{\"x\":[1,2]},\"s\"]");
  cJSON *ev = cJSON_CreateArray();
  cJSON_AddItemToArray(ev, cJSON_CreateString("ev"));
  for (cJSON *c = args->child; c; c = c->next) cJSON_AddItemReferenceToArray(ev, c);
  CHECK_TEXT(write_of(ev, 64), "[\"ev\",{\"x\":[1,2]},\"s\"]");
  cJSON_Delete(args);
}

static cJSON *nested(int levels) {
  cJSON *t = cJSON_CreateArray();
  for (int i = 1; i < levels; i++) {
    cJSON *u = cJSON_CreateArray();
    cJSON_AddItemToArray(u, t);
    t = u;
  }
  return t;
}

TEST(depth_limit) {
  char want[2 * 64 + 1];
  memset(want, '[', 64);
  memset(want + 64, ']', 64);
  want[128] = '\0';
  CHECK_TEXT(write_of(nested(64), 64), want);
  CHECK_TEXT(write_of(nested(65), 64), "<error -30001>");
  CHECK_EQ_INT(SIO_EINVAL, -30001);
  /* Scalars inside the deepest container do not count; objects count as arrays do. */
  cJSON *t = nested(3);
  cJSON_AddItemToArray(t->child->child, cJSON_CreateNumber(1));
  CHECK_TEXT(write_of(t, 3), "[[[1]]]");
  t = cJSON_CreateObject();
  cJSON_AddItemToObject(t, "a", cJSON_CreateObject());
  CHECK_TEXT(write_of(t, 1), "<error -30001>");
  CHECK_TEXT(write_of(cJSON_CreateNumber(1), 0), "1");
  /* On failure nothing is left of the partial text. */
  sio_sbuf_t b = SIO_SBUF_INIT;
  CHECK_EQ_INT(sio_sbuf_append_str(&b, "keep"), 0);
  cJSON *deep = nested(10000);
  CHECK_EQ_INT(sio_json_write(&b, deep, 64), SIO_EINVAL);
  cJSON_Delete(deep);
  CHECK_STR(b.data, b.len, "keep");
  CHECK_EQ_INT(sio_json_write(&b, NULL, 64), SIO_EINVAL);
  CHECK_STR(b.data, b.len, "keep");
  sio_sbuf_free(&b);
}

TEST(invalid_items) {
  cJSON bad;
  memset(&bad, 0, sizeof bad); /* cJSON_Invalid */
  sio_sbuf_t b = SIO_SBUF_INIT;
  CHECK_EQ_INT(sio_json_write(&b, &bad, 64), SIO_EINVAL);
  bad.type = cJSON_Raw; /* without text */
  CHECK_EQ_INT(sio_json_write(&b, &bad, 64), SIO_EINVAL);
  /* A string without text is "", as cJSON prints it. */
  bad.type = cJSON_String;
  CHECK_EQ_INT(sio_json_write(&b, &bad, 64), 0);
  CHECK_STR(b.data, b.len, "\"\"");
  sio_sbuf_free(&b);
}

TEST_MAIN(RUN(integers), RUN(fractions), RUN(non_finite), RUN(round_trips), RUN(short_decimals),
          RUN(literals),
          RUN(strings), RUN(nul_as_c0_80), RUN(lone_surrogate_as_wtf8), RUN(utf8_passthrough), RUN(containers),
          RUN(depth_limit), RUN(invalid_items))
