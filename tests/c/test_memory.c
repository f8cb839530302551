/* Issue 22's per-connection memory: the code that replaced libcrypto on the plain path (SHA-1 for
 * the WebSocket accept key, checked against OpenSSL), and bounds on the size of every struct an
 * idle WebSocket Socket.IO connection holds (so that a field added carelessly shows here, not
 * only in bench/'s RSS figure). */
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sha1.h"
#include "sio.h"
#include "socketio/socketio.h"
#include "test.h"
#include "transport/transport.h"
#include "websocket/ws.h"

/* Every length from 0 to 300 (block boundaries at 55/56/64 and their multiples) and every byte
 * value, against OpenSSL's SHA1. */
TEST(sha1_matches_openssl) {
  uint8_t buf[300], a[20], b[20];
  for (size_t i = 0; i < sizeof buf; i++) buf[i] = (uint8_t)(i * 131 + 7);
  for (size_t len = 0; len <= sizeof buf; len++) {
    sio_sha1(buf, len, a);
    SHA1(buf, len, b);
    CHECK(memcmp(a, b, 20) == 0);
  }
  uint8_t all[256];
  for (int i = 0; i < 256; i++) all[i] = (uint8_t)i;
  sio_sha1(all, sizeof all, a);
  SHA1(all, sizeof all, b);
  CHECK(memcmp(a, b, 20) == 0);
  /* FIPS 180 examples */
  sio_sha1("abc", 3, a);
  CHECK(memcmp(a, "\xa9\x99\x3e\x36\x47\x06\x81\x6a\xba\x3e\x25\x71\x78\x50\xc2\x6c\x9c\xd0\xd8\x9d", 20) == 0);
}

/* The accept key for many random keys equals base64(SHA1(key + GUID)) made with OpenSSL. */
TEST(accept_key_matches_openssl) {
  static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  srand(22);
  for (int n = 0; n < 2000; n++) {
    char key[25];
    for (int i = 0; i < 22; i++) key[i] = b64[rand() & 63];
    key[22] = key[23] = '=';
    key[24] = 0;
    char got[29], want[29];
    CHECK_EQ_INT(sio_ws_accept_key(key, 24, got), 0);
    unsigned char in[60], d[20];
    memcpy(in, key, 24);
    memcpy(in + 24, "258EAFA5-E914-47DA-95CA-C5AB0DC85B11", 36);
    SHA1(in, 60, d);
    CHECK_EQ_INT(EVP_EncodeBlock((unsigned char *)want, d, 20), 28);
    CHECK(strcmp(got, want) == 0);
  }
}

/* glibc's chunk for a request of n bytes: n + 8 rounded up to 16, at least 32. */
static size_t chunk(size_t n) {
  size_t c = (n + 8 + 15) & ~(size_t)15;
  return c < 32 ? 32 : c;
}

/* What an idle WebSocket Socket.IO connection holds, struct by struct (the session, private to
 * engine.c, is bounded there by a _Static_assert). A field added without care shows here first:
 * the budget is bench/'s RSS per connection (issue 22: <= 1 KiB). */
TEST(per_connection_struct_sizes) {
  /* uv_tcp_t is libuv's (248 bytes in 1.44 on x86-64); the rest is sio's. */
  /* 144: the HTTP-only clocks and debug line share the WebSocket parser's bytes (a union), the
   * parser asks its callbacks for the zlib streams, the server is the uv handle's data. */
  CHECK(sizeof(sio_conn_t) - sizeof(uv_tcp_t) <= 144);
  CHECK(chunk(sizeof(sio_conn_t)) <= chunk(sizeof(uv_tcp_t) + 144));
  CHECK(sizeof(sio_ws_parser_t) <= 24);
  /* 152: the recovery pid and restored data behind the socket, only where recovery is on. */
  CHECK(sizeof(struct sio_socket_s) <= 152);
  CHECK(chunk(sizeof(struct sio_socket_s)) <= 160);
  /* 72: a 32-bit connect deadline, the close reason as a 2-bit code. */
  CHECK(sizeof(struct sio_client) <= 72);
  CHECK(chunk(sizeof(struct sio_client)) <= 80);
}

TEST_MAIN(RUN(sha1_matches_openssl), RUN(accept_key_matches_openssl), RUN(per_connection_struct_sizes))
