/* libFuzzer harness for the string fast paths (issue 22), differential: the input as JSON text
 * through sio_json_parse and through the former reader (tests/c/strings_ref.h) must give the same
 * answer and the same tree; every string of that tree written by sio_json_write as the former
 * writer wrote it, and read back and written again to the same text; the input as bytes through
 * the wide scans, the UTF-8 / WTF-8 checks and the UTF-16 counts as through their byte-at-a-time
 * references. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../c/strings_ref.h"
#include "json_parse.h"
#include "json_write.h"
#include "sio.h"
#include "span.h"
#include "utf8.h"

static void check_strings(const cJSON *item) {
  for (; item; item = item->next) {
    if (cJSON_IsString(item)) {
      const char *s = item->valuestring;
      size_t n = strlen(s);
      char *want = malloc(6 * n + 3);
      cJSON *one = cJSON_CreateString(s);
      sio_sbuf_t out = SIO_SBUF_INIT;
      if (want && one && sio_json_write(&out, one, 4) == 0) {
        size_t wn = ref_write_string(s, want);
        if (out.len != wn || memcmp(out.data, want, wn) != 0) __builtin_trap();
        /* Read back and written again, the same text (not always the same string: a lone high
         * then a lone low surrogate are written as their pair's character). */
        cJSON *back = NULL;
        sio_sbuf_t again = SIO_SBUF_INIT;
        if (sio_json_parse(out.data, out.len, &back) != 0 || sio_json_write(&again, back, 4) != 0 ||
            again.len != out.len || memcmp(again.data, out.data, out.len) != 0)
          __builtin_trap();
        sio_sbuf_free(&again);
        cJSON_Delete(back);
      }
      sio_sbuf_free(&out);
      cJSON_Delete(one);
      free(want);
    }
    check_strings(item->child);
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const char *t = (const char *)data;
  cJSON *a = NULL, *b = NULL;
  int ra = sio_json_parse(t, size, &a), rb = ref_parse(t, size, &b);
  if (ra != SIO_ENOMEM && rb != SIO_ENOMEM) {
    if (ra != rb || (ra == 0 && !same_tree(a, b))) __builtin_trap();
    if (ra == 0) check_strings(a);
  }
  cJSON_Delete(a);
  cJSON_Delete(b);

  if (sio_span_ascii(t, size) != ref_span(t, size, 0) || sio_span_json_plain(t, size) != ref_span(t, size, 1) ||
      sio_span_json_safe(t, size) != ref_span(t, size, 2))
    __builtin_trap();
  if (sio_utf8_valid(t, size) != ref_valid(t, size, 0) || sio_wtf8_valid(t, size) != ref_valid(t, size, 1) ||
      sio_utf8_utf16_len(t, size) != ref_utf16_len(t, size))
    __builtin_trap();
  size_t units = ref_utf16_len(t, size);
  for (size_t u = units > 3 ? units - 3 : 0; u <= units + 1; u++)
    if (sio_utf8_skip_utf16(t, size, u) != ref_skip_utf16(t, size, u)) __builtin_trap();
  if (size > 4 && sio_utf8_skip_utf16(t, size, size / 3) != ref_skip_utf16(t, size, size / 3)) __builtin_trap();
  return 0;
}
