/* Helpers shared by the two cluster adapters, cluster.c (the classic @socket.io/redis-adapter
 * protocol) and sac.c (socket.io-adapter's ClusterAdapter): building the parts of a message
 * whole or not at all, reading target lists from another node, and this node's sockets as
 * answers. Pure: no I/O. Built with msgpack-c (SIO_HAVE_REDIS) like both adapters. */
#ifndef SIO_CLUSTER_COMMON_H
#define SIO_CLUSTER_COMMON_H

#include <cjson/cJSON.h>
#include <msgpack.h>
#include <stddef.h>

#include "adapter/adapter.h"

/* Adds item to obj as key, taking it: 0, or -1 (item freed) when item is NULL or the key could
 * not be copied. */
int sio__cc_add_item(cJSON *obj, const char *key, cJSON *item);
/* The array of v[0..n), or NULL: a shorter room list would name other sockets, and an empty one
 * names them all. */
cJSON *sio__cc_string_array(const char *const *v, size_t n);

/* A target list from the wire as a C array of malloc'd strings (non-strings skipped). */
typedef struct sio_strs {
  char **v;
  size_t n;
} sio_strs_t;

void sio__strs_free(sio_strs_t *s);
/* From a msgpack / cJSON array (anything else: empty). 0 or SIO_ENOMEM. */
int sio__strs_from_msgpack(const msgpack_object *o, sio_strs_t *out);
int sio__strs_from_json(const cJSON *a, sio_strs_t *out);
/* The target {rooms, except} of another node's message, for this node only (SIO_EMIT_LOCAL
 * added to flags). */
sio_target_t sio__cc_local_target(const sio_strs_t *rooms, const sio_strs_t *except, int flags);

/* The sockets of `local` (an in-memory adapter) that `to` targets, each as `one` makes it; NULL
 * unless every one could be made. */
cJSON *sio__cc_local_sockets(sio_adapter_t *local, const sio_target_t *to,
                             cJSON *(*one)(sio_socket_t *));
/* The arguments after the event name of data (["event", ...args], data->child a string) as an
 * array of references, or NULL: never fewer of them. */
cJSON *sio__cc_args_after_event(const cJSON *data);

/* uv_close callback of a malloc'd handle. */
void sio__cc_free_handle(uv_handle_t *h);

#endif
