/* Helpers shared by the two cluster adapters, cluster.c (the classic @socket.io/redis-adapter
 * protocol) and sac.c (socket.io-adapter's ClusterAdapter): building the parts of a message
 * whole or not at all, reading target lists from another node, and this node's sockets as
 * answers. Pure: no I/O. Built with msgpack-c (SIO_HAVE_REDIS) like both adapters. */
#ifndef SIO_CLUSTER_COMMON_H
#define SIO_CLUSTER_COMMON_H

#include <cjson/cJSON.h>
#include <msgpack.h>
#include <stddef.h>
#include <stdint.h>

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

/* ---- requests to the other nodes and broadcasts with acks, kept until answered ----
 * Both adapters ask the node count first (as Node does), then publish the request, then count
 * the answers until every other node gave one or the timeout came. */

/* The longest id either adapter makes (cluster.c 6, sac.c 16 characters). */
#define SIO_CC_ID_MAX 16

typedef struct sio_cc_request sio_cc_request_t;

typedef struct sio_cc_requests {
  sio_cc_request_t *head;
  struct sio_cc_ack *acks;
  uv_loop_t *loop;
  sio_server_t *server; /* whose log gets the debug lines */
  sio_nsp_t *nsp;
  uint32_t timeout_ms;
  /* Publishes q's message (once the count says others answer): 0 or the transport's error. */
  int (*publish)(void *owner, int type, void *message);
  void (*free_message)(void *message);
  void *owner;
} sio_cc_requests_t;

struct sio_cc_request {
  sio_cc_request_t *next, *prev;
  sio_cc_requests_t *list;
  sio_request_t *r; /* the Socket.IO layer's, ended exactly once */
  char id[SIO_CC_ID_MAX + 1];
  uint8_t type;
  uint8_t asked;     /* the server count was asked: the timer is the timeout */
  uint8_t published; /* answers count */
  void *message;     /* published once the server count says how many answer */
  size_t expected, received;
  int status;        /* what the timer ends it with when the other nodes were not asked */
  uv_timer_t *timer; /* heap: its close completes after the request is gone */
};

/* Keeps request id (copied) with its message (taken: freed on error too; NULL: could not be
 * made, SIO_ENOMEM) for r; count_status: what the transport's server_count call for id returned
 * (asked before: its answer never comes inside the call), or SIO_ECLOSED. The request waits for
 * the count and then for the answers until l->timeout_ms, or ends with count_status from the
 * loop. 0 or SIO_ENOMEM (r untouched). */
int sio__cc_request_add(sio_cc_requests_t *l, const char *id, int type, void *message,
                        sio_request_t *r, int count_status);
sio_cc_request_t *sio__cc_request_find(sio_cc_requests_t *l, const char *id);
void sio__cc_request_end(sio_cc_request_t *q, int status);
/* One node's answer to q (borrowed): the end of q once every node answered. */
void sio__cc_request_answered(sio_cc_request_t *q, const cJSON *answer);
/* The transport's server count for id (a request or a broadcast with acks) came: n nodes, or
 * n < 0, the reason none did (a broadcast with acks then ends at its timeout). */
void sio__cc_server_count(sio_cc_requests_t *l, const char *id, long long n);
/* Another node's clientCount n (any JSON value, clamped to what a node can have) for the
 * broadcast with acks id. */
void sio__cc_client_count(sio_cc_requests_t *l, const char *id, const cJSON *n);
/* The transport lost the other nodes: requests waiting for them end now with status. */
void sio__cc_requests_down(sio_cc_requests_t *l, int status);
/* Ends every request with SIO_ECLOSED (a callback may start others: they end too). */
void sio__cc_requests_close(sio_cc_requests_t *l);
/* Frees every request and ack without a word (the adapter is freed). */
void sio__cc_requests_free(sio_cc_requests_t *l);

/* Broadcasts with acks of ours: the other nodes report to b under id. */
typedef struct sio_cc_ack {
  struct sio_cc_ack *next;
  sio_bcast_ack_t *b;
  char id[SIO_CC_ID_MAX + 1];
} sio_cc_ack_t;

/* A new ack for b (not yet listed); NULL on ENOMEM. */
sio_cc_ack_t *sio__cc_ack_new(sio_bcast_ack_t *b, const char *id);
/* k published (e == 0: kept, 1 returned, the other nodes will report to it) or not (freed, 0:
 * this node's sockets only), as broadcast_with_ack returns. */
int sio__cc_ack_started(sio_cc_requests_t *l, sio_cc_ack_t *k, int e);
sio_cc_ack_t *sio__cc_ack_find(sio_cc_requests_t *l, const char *id);
/* broadcast_ack_end: forgets b's ack. */
void sio__cc_ack_end(sio_cc_requests_t *l, sio_bcast_ack_t *b);

/* ---- the part of the vtable both adapters share ----
 * Each adapter's struct begins with this one: rooms and delivery stay with the in-memory adapter
 * it wraps, and a selection (socketsJoin / socketsLeave / disconnectSockets) is done here first,
 * then published in the adapter's own words unless SIO_EMIT_LOCAL. */
enum { SIO_CC_JOIN, SIO_CC_LEAVE, SIO_CC_DISCONNECT };

typedef struct sio_cc_adapter sio_cc_adapter_t;
struct sio_cc_adapter {
  sio_adapter_t base;
  sio_adapter_t *local; /* the in-memory adapter: this node's rooms and delivery */
  sio_cc_requests_t reqs; /* our requests and broadcasts with acks (its server, timeout_ms) */
  const struct sio_cc_class *cls;
};

/* What differs between the two adapters in the shared part (static). */
typedef struct sio_cc_class {
  /* Publishes a selection of the adapter's message type `type` (selection_types[op]; room for
   * JOIN / LEAVE, close for DISCONNECT): 0, or the transport's error, or SIO_ENOMEM (the only
   * one reported: the other nodes being unreachable is no error of the call). */
  int (*publish_selection)(sio_cc_adapter_t *a, const sio_target_t *to, int type, const char *room,
                           int close);
  int selection_types[3]; /* by SIO_CC_JOIN, SIO_CC_LEAVE, SIO_CC_DISCONNECT */
  /* sio_cc_requests_t's publish and free_message (owner: the adapter) */
  int (*publish_request)(void *owner, int type, void *message);
  void (*free_message)(void *message);
} sio_cc_class_t;

/* Sets up cc, the start of an adapter for nsp wrapping local, its requests waiting timeout_ms. */
void sio__cc_init(sio_cc_adapter_t *cc, const sio_adapter_vt_t *vt, const sio_cc_class_t *cls,
                  sio_nsp_t *nsp, sio_adapter_t *local, uint32_t timeout_ms);

int sio__cc_add(sio_adapter_t *a, sio_socket_t *s, const char *room);
int sio__cc_del(sio_adapter_t *a, sio_socket_t *s, const char *room);
void sio__cc_del_all(sio_adapter_t *a, sio_socket_t *s);
int sio__cc_apply(sio_adapter_t *a, const sio_target_t *to, sio_socket_iter_cb fn, void *arg);
void sio__cc_rooms(sio_adapter_t *a, void (*cb)(const char *room, void *arg), void *arg);
int sio__cc_add_sockets(sio_adapter_t *a, const sio_target_t *to, const char *room);
int sio__cc_del_sockets(sio_adapter_t *a, const sio_target_t *to, const char *room);
int sio__cc_disconnect_sockets(sio_adapter_t *a, const sio_target_t *to, int close);
void sio__cc_broadcast_ack_end(sio_adapter_t *a, sio_bcast_ack_t *b);

#endif
