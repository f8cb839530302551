/* libFuzzer harness for what the Redis cluster adapter receives from other nodes: broadcasts
 * (msgpack [uid, packet, opts]), requests and responses (JSON text, or msgpack maps for broadcasts
 * with acks), handled by the same code as real traffic (sio__cluster_inject).
 *
 * One server with a clustered io lives for the whole run (its Redis is unreachable, so nothing is
 * published); the first input byte picks the channel (broadcast, a room's, request, response), the
 * rest is the message, copied into an exact-size buffer so that any over-read is caught. The loop
 * runs once after each input, so that what a message started (a broadcast with acks, a reply)
 * finishes and is freed. Seeds (tests/fuzz/seeds/fuzz_redis_msg, passed by scripts/test.sh): one of each
 * message Node's adapter sends, written with notepack.io as it does. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "adapter/adapter.h"
#include "sio.h"

static uv_loop_t loop;
static sio_nsp_t *root;

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc, (void)argv;
  sio_server_t *server;
  sio_io_t *io;
  sio_redis_options_t ro;
  uv_loop_init(&loop);
  if (sio_server_new(&loop, NULL, &server) || sio_io_new(server, NULL, &io) || sio_io_of(io, "/", &root))
    abort();
  sio_redis_options_init(&ro);
  ro.url = "redis://127.0.0.1:1"; /* refused: the adapter parses, publishes nothing */
  int r = sio_io_use_redis(io, &ro);
  if (r && r != UV_ENOSYS) abort();
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1) return 0;
  int chan = data[0] % 4;
  char *msg = malloc(size - 1 ? size - 1 : 1);
  if (!msg) return 0;
  memcpy(msg, data + 1, size - 1);
  sio__cluster_inject(root, chan, "room", msg, size - 1);
  free(msg);
  uv_run(&loop, UV_RUN_NOWAIT);
  return 0;
}
