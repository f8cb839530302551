/* libFuzzer harness for JSONP polling: the `d=` form decoding of POST bodies (then the v3 payload
 * decoder the engine hands it to), the `j` index, and the script wrapping of payloads; and
 * httpCompression's Accept-Encoding parser, the other request text of the polling work.
 * Byte 0 picks: 0 the form, 1 the index, 3 Accept-Encoding, else the wrapper. Traps when the decoded form is longer
 * than the body (it is decoded in place), or when a wrapped script holds a raw quote, backslash,
 * control byte or U+2028/U+2029 inside its string literal. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "engine/eio_codec.h"
#include "engine/eio_jsonp.h"
#include "http/http_compress.h"
#include "sio.h"

static int count_cb(void *user, const sio_eio_packet_t *p) {
  (void)p;
  (*(size_t *)user)++;
  return 0;
}

static void check_script(const sio_sbuf_t *b) {
  static const char head[] = "___eio[";
  if (b->len < sizeof head - 1 || memcmp(b->data, head, sizeof head - 1) != 0) __builtin_trap();
  const char *q = memchr(b->data, '"', b->len);
  if (!q || b->len < 3 || memcmp(b->data + b->len - 3, "\");", 3) != 0) __builtin_trap();
  const unsigned char *p = (const unsigned char *)q + 1, *end = (const unsigned char *)b->data + b->len - 3;
  for (; p < end; p++) {
    if (*p == '\\') {
      if (++p == end) __builtin_trap(); /* an escape cut off */
      continue;
    }
    if (*p == '"' || *p < 0x20) __builtin_trap();
    if (*p == 0xE2 && end - p >= 3 && p[1] == 0x80 && (p[2] == 0xA8 || p[2] == 0xA9)) __builtin_trap();
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1) return 0;
  int mode = data[0];
  size_t len = size - 1;
  char *buf = malloc(len + 1);
  if (!buf) return 0;
  if (len) memcpy(buf, data + 1, len);
  if (mode == 0) {
    long n = sio_eio_jsonp_form(buf, len);
    if (n > (long)len) __builtin_trap();
    if (n >= 0) {
      size_t count = 0;
      sio_eio_decode_payload(3, 0, buf, (size_t)n, count_cb, &count);
    }
  } else if (mode == 1) {
    uint32_t v;
    if (sio_eio_jsonp_index(buf, len, &v) == 0 && (len == 0 || len > 9)) __builtin_trap();
  } else if (mode == 3) {
    int enc = sio_http_accept_encoding(buf, len);
    if (enc < SIO_HTTP_ENC_NONE || enc > SIO_HTTP_ENC_DEFLATE) __builtin_trap();
  } else {
    sio_sbuf_t b = SIO_SBUF_INIT;
    if (sio_eio_jsonp_wrap(&b, (uint32_t)len, buf, len) == 0) check_script(&b);
    sio_sbuf_free(&b);
  }
  free(buf);
  return 0;
}
