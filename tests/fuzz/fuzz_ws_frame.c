/* libFuzzer harness for the WebSocket frame parser.
 *
 * Byte 0 picks the role (bit 0), max_message (bits 1-3) and how the rest is cut into chunks
 * (bits 4-7); byte 1 picks after how many events a callback asks to stop (0: never) and, with bit
 * 6, permessage-deflate (RSV1 messages inflated, bounded by max_message). The input is
 * fed twice, whole and in chunks, each chunk in its own exact-size allocation so that ASan sees any
 * read past it. Both runs must give the same events and the same result: how input is split must
 * never change what comes out. Callbacks check what the parser promises (UTF-8 text, sizes, valid
 * CLOSE payloads); any breach aborts. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sio.h"
#include "utf8.h"
#include "websocket/ws.h"

typedef struct {
  uint64_t hash;
  size_t events;
  size_t stop_after;
  size_t max_message;
} run_t;

static void mix(run_t *r, const void *p, size_t n) {
  const unsigned char *b = p;
  for (size_t i = 0; i < n; i++) r->hash = (r->hash ^ b[i]) * 0x100000001b3ull;
}

static int event(run_t *r, int control, int opcode, const char *data, size_t len) {
  mix(r, &control, sizeof control);
  mix(r, &opcode, sizeof opcode);
  mix(r, &len, sizeof len);
  mix(r, data, len);
  r->events++;
  return r->stop_after && r->events >= r->stop_after ? 7 : 0;
}

static int on_message(void *user, int opcode, char *data, size_t len) {
  run_t *r = user;
  if (opcode != SIO_WS_OP_TEXT && opcode != SIO_WS_OP_BINARY) abort();
  if (opcode == SIO_WS_OP_TEXT && !sio_utf8_valid(data, len)) abort();
  if (r->max_message && len > r->max_message) abort();
  if (len && !data) abort();
  return event(r, 0, opcode, data, len);
}

static int on_control(void *user, int opcode, char *data, size_t len) {
  run_t *r = user;
  if (opcode != SIO_WS_OP_PING && opcode != SIO_WS_OP_PONG && opcode != SIO_WS_OP_CLOSE) abort();
  if (len > 125) abort();
  if (opcode == SIO_WS_OP_CLOSE && sio_ws_parse_close(data, len, NULL, NULL, NULL) != 0) abort();
  return event(r, 1, opcode, data, len);
}

static sio_ws_zlib_t *zlib; /* shared across runs, as by a server's connections */
static sio_ws_zlib_t *get_zlib(void *user) { return zlib; }

static const sio_ws_callbacks_t cbs = {on_message, on_control, get_zlib};

static void check_after(const sio_ws_parser_t *p, int rv) {
  if (rv < 0) {
    /* An error leaves a close code and no heap behind. */
    if (p->close_code == 0 || p->part) abort();
  } else if (p->close_code != 0) {
    abort();
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static const size_t maxes[8] = {0, 1, 2, 16, 125, 126, 1000, 70000};
  if (size < 2) return 0;
  int role = data[0] & 1 ? SIO_WS_ROLE_CLIENT : SIO_WS_ROLE_SERVER;
  size_t max = maxes[(data[0] >> 1) & 7];
  unsigned split = data[0] >> 4;
  size_t stop_after = data[1] & 0x80 ? 0 : data[1] & 7;
  int deflate = (data[1] & 0x40) != 0;
  if (!zlib) zlib = sio_ws_zlib_new();
  const sio_ws_pmd_t pmd = {1, 15, 0};
  data += 2;
  size -= 2;

  /* Whole. */
  sio_ws_parser_t p;
  run_t whole = {0xcbf29ce484222325ull, 0, stop_after, max};
  sio_ws_parser_init(&p, role, max);
  if (deflate) sio_ws_parser_set_deflate(&p, &pmd, zlib);
  char *buf = malloc(size ? size : 1);
  if (size) memcpy(buf, data, size);
  int rv_whole = sio_ws_parser_execute(&p, &cbs, &whole, buf, size, NULL);
  check_after(&p, rv_whole);
  free(buf);
  sio_ws_parser_free(&p);

  /* In chunks: split 0 is byte by byte, others draw chunk sizes up to 2^split. */
  run_t chunked = {0xcbf29ce484222325ull, 0, stop_after, max};
  sio_ws_parser_init(&p, role, max);
  if (deflate) sio_ws_parser_set_deflate(&p, &pmd, zlib);
  uint32_t rng = 0x9e3779b9u ^ (uint32_t)size ^ split;
  int rv = 0;
  for (size_t off = 0; off < size && rv == 0;) {
    size_t n = 1;
    if (split) {
      rng ^= rng << 13;
      rng ^= rng >> 17;
      rng ^= rng << 5;
      n = 1 + rng % ((size_t)1 << split);
    }
    if (n > size - off) n = size - off;
    char *chunk = malloc(n);
    memcpy(chunk, data + off, n);
    rv = sio_ws_parser_execute(&p, &cbs, &chunked, chunk, n, NULL);
    free(chunk);
    check_after(&p, rv);
    off += n;
  }
  /* Once failed, the parser keeps failing. */
  if (rv < 0) {
    char more[2] = {(char)0x81, 0};
    if (sio_ws_parser_execute(&p, &cbs, &chunked, more, 2, NULL) != rv) abort();
  }
  sio_ws_parser_free(&p);
  if (p.part) abort();

  if (rv != rv_whole || chunked.events != whole.events || chunked.hash != whole.hash) abort();
  return 0;
}
