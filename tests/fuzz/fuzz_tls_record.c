/* libFuzzer harness for the TLS 1.3 record layer that takes over after the handshake
 * (core/src/transport/tls_record.c).
 *
 * A second record layer with the roles swapped plays the client: it encrypts the fuzzer's
 * plaintext into records, which reach the server's side cut into the fuzzer's chunk sizes, with
 * (optionally) one byte flipped. Byte 0 picks the suite, byte 1 the chunk size, byte 2 where a flip
 * goes (0: none); the rest is the plaintext, sent as up to 4 writes split at its bytes of value
 * 0xff. Untouched, the server must read back exactly what was written, then close_notify; with a
 * flip, it must refuse the record (never deliver altered bytes) and keep no buffer beyond one
 * record. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sio.h"
#include "transport/tls_record.h"

static const uint8_t client_secret[48] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
static const uint8_t server_secret[48] = {16, 15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1};

static char plain[4 * 65536 + 64];
static char buf[64 * 1024];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 3 || size > 4 * 65536) return 0;
  int suite = 1 + data[0] % 3;
  size_t slen = suite == SIO_TLS13_AES256 ? 48 : 32;
  size_t chunk = 1 + data[1] * 67u;
  size_t flip = data[2];
  data += 3;
  size -= 3;

  sio_tls13_t server, client;
  /* The client reads with the server's secret and writes with its own. */
  if (sio__tls13_init(&server, suite, client_secret, server_secret, slen) ||
      sio__tls13_init(&client, suite, server_secret, client_secret, slen))
    __builtin_trap();
  sio_sbuf_t wire = SIO_SBUF_INIT, answers = SIO_SBUF_INIT, sent = SIO_SBUF_INIT;
  const uint8_t *p = data, *end = data + size;
  for (int w = 0; w < 4 && p <= end; w++) {
    const uint8_t *stop = w == 3 ? end : memchr(p, 0xff, (size_t)(end - p));
    if (!stop) stop = end;
    if (sio__tls13_write(&client, p, (size_t)(stop - p), &wire) || sio_sbuf_append(&sent, p, (size_t)(stop - p)))
      __builtin_trap();
    p = stop + 1;
  }
  if (sio__tls13_close_notify(&client, &wire)) __builtin_trap();
  int flipped = flip && wire.len;
  if (flipped) wire.data[(flip * 131u) % wire.len] ^= (char)(1 + flip % 255);

  size_t got_total = 0;
  int result = 0;
  for (size_t off = 0; off < wire.len && result == 0;) {
    size_t n = wire.len - off < chunk ? wire.len - off : chunk;
    const char *in = wire.data + off;
    size_t in_len = n;
    while (result == 0) {
      size_t got;
      result = sio__tls13_read(&server, &in, &in_len, buf, sizeof buf, &got, &answers);
      if (result != 0) break;
      if (!got) {
        if (in_len) __builtin_trap(); /* "needs more input" only once the input is used up */
        break;
      }
      if (got_total + got > sizeof plain) __builtin_trap();
      memcpy(plain + got_total, buf, got);
      got_total += got;
    }
    off += n;
    if (server.part_len > 5 + 16384 + 256) __builtin_trap();
  }
  /* What came out is what went in: all of it and close_notify when untouched; a prefix of it
   * (the records before the altered one) otherwise. */
  if (got_total > sent.len || (got_total && memcmp(plain, sent.data, got_total) != 0)) __builtin_trap();
  if (!flipped && (result != 1 || got_total != sent.len)) __builtin_trap();
  if (answers.len) __builtin_trap(); /* the client sent no KeyUpdate: nothing to answer */
  sio_sbuf_free(&sent);
  sio_sbuf_free(&wire);
  sio_sbuf_free(&answers);
  sio__tls13_free(&server);
  sio__tls13_free(&client);
  return 0;
}
