/* libFuzzer harness for what the cluster adapter receives from other nodes: broadcasts (msgpack
 * [uid, packet, opts]), requests and responses (JSON text, or msgpack maps for broadcasts with
 * acks), handed to sio__cluster_on_message as the Redis transport hands over what it hears.
 *
 * One server lives for the whole run, its io clustered over a transport that goes nowhere:
 * publishing succeeds (so that every answer is made) and the node count never comes. The first
 * input byte picks the channel (broadcast, a room's, request, response), the rest is the message,
 * copied into an exact-size buffer so that any over-read is caught. The loop runs once after each
 * input, so that what a message started (a broadcast with acks, a reply) finishes and is freed.
 * Seeds (tests/fuzz/seeds/fuzz_redis_msg, passed by scripts/test.sh): one of each message Node's
 * adapter sends, written with notepack.io as it does. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "adapter/cluster.h"
#include "sio.h"

#ifdef SIO_HAVE_REDIS

static uv_loop_t loop;
static sio_cluster_t *root_cluster;

static int nowhere_publish(void *t, int chan, const char *room, const char *data, size_t len) {
  (void)t, (void)chan, (void)room, (void)data, (void)len;
  return 0;
}

static int nowhere_publish_response(void *t, const char *uid, const char *data, size_t len) {
  (void)t, (void)uid, (void)data, (void)len;
  return 0;
}

static int nowhere_server_count(void *t, const char *request_id) {
  (void)t, (void)request_id;
  return SIO_EUNAVAIL;
}

static void nowhere_free(void *t) { (void)t; }

static const sio_cluster_transport_t nowhere = {nowhere_publish, nowhere_publish_response,
                                                nowhere_server_count, nowhere_free};

static sio_adapter_t *create(void *arg, sio_nsp_t *nsp, sio_adapter_t *local) {
  (void)arg;
  sio_cluster_t *c = sio__cluster_new(nsp, local, &nowhere, NULL, 0);
  if (c && strcmp(sio_nsp_name(nsp), "/") == 0) root_cluster = c;
  return c ? sio__cluster_adapter(c) : NULL;
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc, (void)argv;
  sio_server_t *server;
  sio_io_t *io;
  sio_nsp_t *root;
  uv_loop_init(&loop);
  if (sio_server_new(&loop, NULL, &server) || sio_io_new(server, NULL, &io) || sio_io_of(io, "/", &root))
    abort();
  sio_adapter_factory_t f = {create, NULL, NULL, NULL};
  if (sio__io_use_adapters(io, &f) || !root_cluster) abort();
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1) return 0;
  int chan = data[0] % 4;
  char *msg = malloc(size - 1 ? size - 1 : 1);
  if (!msg) return 0;
  memcpy(msg, data + 1, size - 1);
  sio__cluster_on_message(root_cluster, chan, chan == SIO_CHAN_ROOM ? "room" : NULL, msg, size - 1);
  free(msg);
  uv_run(&loop, UV_RUN_NOWAIT);
  return 0;
}

#else /* built without msgpack-c: no cluster adapter to feed */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  (void)data, (void)size;
  return 0;
}

#endif
