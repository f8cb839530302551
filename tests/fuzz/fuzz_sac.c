/* libFuzzer harness for what the socket.io-adapter cluster adapter (sac.c) receives: whole
 * messages (JSON text or msgpack) through sio__sac_on_raw, stream entry fields through
 * sio__sac_on_fields, and a stream entry's data through sio__sac_decode_broadcast.
 *
 * One server lives for the whole run, its io (connection state recovery on, so that offsets are
 * appended) on a sac adapter over a transport that goes nowhere: publishing succeeds, so every
 * answer is made, and the node count never comes. The first input byte picks the entry point
 * (and, for fields, the type: byte / 4 % 16), the rest is the message, copied into an exact-size
 * buffer so that any over-read is caught. The loop runs once after each input, so that what a
 * message started (a broadcast with acks, a reply) finishes and is freed. Seeds
 * (tests/fuzz/seeds/fuzz_sac): messages Node's adapters sent (tests/js/redis-wire-vectors.json). */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "adapter/sac.h"
#include "sio.h"

#ifdef SIO_HAVE_REDIS

static uv_loop_t loop;
static sio_sac_t *root_sac;

static int nowhere_publish(void *t, const sio_sac_msg_t *m, sio_sac_published_cb cb, void *arg) {
  (void)t, (void)cb, (void)arg;
  /* Every form made, as a transport would make one of them. */
  static const int forms[] = {SIO_SAC_WHOLE_JSON, SIO_SAC_WHOLE_MSGPACK, SIO_SAC_DATA_JSON,
                              SIO_SAC_DATA_MSGPACK_B64};
  for (size_t i = 0; i < sizeof forms / sizeof *forms; i++) {
    char *out;
    size_t len;
    if (sio__sac_msg_encode(m, forms[i], &out, &len) == 0) free(out);
  }
  return 0;
}

static int nowhere_publish_response(void *t, const char *requester, const sio_sac_msg_t *m) {
  (void)requester;
  return nowhere_publish(t, m, NULL, NULL);
}

static int nowhere_server_count(void *t, const char *request_id) {
  (void)t, (void)request_id;
  return SIO_EUNAVAIL;
}

static void nowhere_free(void *t) { (void)t; }

static const sio_sac_transport_t nowhere = {nowhere_publish, nowhere_publish_response,
                                            nowhere_server_count, NULL, NULL, NULL, nowhere_free, 0};

static sio_adapter_t *create(void *arg, sio_nsp_t *nsp, sio_adapter_t *local) {
  (void)arg;
  sio_sac_t *c = sio__sac_new(nsp, local, &nowhere, NULL, 0);
  if (c && strcmp(sio_nsp_name(nsp), "/") == 0) root_sac = c;
  return c ? sio__sac_adapter(c) : NULL;
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc, (void)argv;
  sio_server_t *server;
  sio_io_t *io;
  sio_nsp_t *root;
  sio_io_options_t o;
  sio_io_options_init(&o);
  o.connection_state_recovery.enabled = 1;
  uv_loop_init(&loop);
  if (sio_server_new(&loop, NULL, &server) || sio_io_new(server, &o, &io) || sio_io_of(io, "/", &root))
    abort();
  sio_adapter_factory_t f = {create, NULL, NULL, NULL};
  if (sio__io_use_adapters(io, &f) || !root_sac) abort();
  return 0;
}

static void decode(const char *msg, size_t len) {
  cJSON *event;
  sio_buf_t *bufs;
  size_t nbufs;
  char **rooms, **except;
  if (sio__sac_decode_broadcast(msg, len, &event, &bufs, &nbufs, &rooms, &except)) return;
  cJSON_Delete(event);
  for (size_t i = 0; i < nbufs; i++) free((char *)bufs[i].data);
  free(bufs);
  free(rooms);
  free(except);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1) return 0;
  char *msg = malloc(size - 1 ? size - 1 : 1);
  if (!msg) return 0;
  memcpy(msg, data + 1, size - 1);
  char type[4];
  snprintf(type, sizeof type, "%d", data[0] / 4 % 16);
  switch (data[0] % 4) {
  case 0:
  case 1:
    sio__sac_on_raw(root_sac, msg, size - 1, data[0] % 4);
    break;
  case 2:
    sio__sac_on_fields(root_sac, "peer", type, msg, size - 1, "1-0");
    break;
  default:
    decode(msg, size - 1);
  }
  free(msg);
  uv_run(&loop, UV_RUN_NOWAIT);
  return 0;
}

#else /* built without msgpack-c (SIO_REDIS off): nothing to feed, every input accepted */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) { return (void)data, (void)size, 0; }
#endif
