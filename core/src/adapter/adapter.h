/* The adapter: where a namespace keeps its rooms and sends its broadcasts. The namespace code
 * speaks only to this vtable; the in-memory adapter (memory.c) is the default, and a cluster adapter
 * (Redis) wraps it: local rooms stay in memory, broadcasts are also published to the other nodes.
 *
 * A broadcast arrives encoded once (sio_encoded_t): every local recipient gets references to the
 * same messages, so the packet and its WebSocket frames are built once per protocol version. */
#ifndef SIO_ADAPTER_H
#define SIO_ADAPTER_H

#include <stddef.h>
#include <stdint.h>

#include "map.h"
#include "sio.h"
#include "socketio/packet.h"

typedef struct sio_adapter_s sio_adapter_t;
typedef struct sio_count_req sio_count_req_t; /* socketio.h */
typedef struct sio_bcast_ack sio_bcast_ack_t; /* socketio.h */
typedef struct sio_cluster sio_cluster_t;     /* redis.c */

typedef struct sio_adapter_vt {
  int (*add)(sio_adapter_t *a, sio_socket_t *s, const char *room);
  int (*del)(sio_adapter_t *a, sio_socket_t *s, const char *room);
  void (*del_all)(sio_adapter_t *a, sio_socket_t *s);
  /* Collects the local targeted sockets (deduplicated, connected) into *out (a malloc'd array the
   * caller frees); returns the count or SIO_ENOMEM. */
  int (*select)(sio_adapter_t *a, const sio_target_t *to, sio_socket_t ***out);
  /* Writes the encoded packet to every targeted socket (and, for a cluster adapter, to the other
   * nodes unless SIO_EMIT_LOCAL). `pkt` is the packet decoded, for adapters that forward it. */
  int (*broadcast)(sio_adapter_t *a, const sio_target_t *to, const sio_packet_t *pkt,
                   const sio_encoded_t *enc);
  /* Number of nodes (1 for memory). */
  int (*server_count)(sio_adapter_t *a);
  void (*free)(sio_adapter_t *a);
  /* The members below are NULL for the memory adapter (one node: the local part is the answer).
   *
   * Asks the other nodes for their part of req (req->kind: how many sockets `to` targets, their
   * rooms, or their answers to the server-side event `data`, ["event", ...args]); req already
   * holds this node's part. The adapter finishes req (sio__count_finish) later, never inside this
   * call, and sets req->remote; an error returned here means no callback. */
  int (*request)(sio_adapter_t *a, const sio_target_t *to, sio_count_req_t *req, const cJSON *data);
  /* A server-side event without acknowledgement to the other nodes. */
  int (*server_emit)(sio_adapter_t *a, const cJSON *data);
  int (*server_reply)(sio_adapter_t *a, const char *reply_id, const cJSON *value);
  /* The broadcast with acks b, already sent to the local sockets, to the other nodes: they
   * report to b (nodes_*, expected) and relay answers (sio__bcast_add_answer). */
  int (*broadcast_ack)(sio_adapter_t *a, const sio_target_t *to, const sio_packet_t *pkt,
                       const sio_encoded_t *enc, sio_bcast_ack_t *b, uint32_t timeout_ms);
  /* sio_nsp_join / leave / disconnect for the other nodes' sockets (op: SIO_OP_*). */
  int (*apply)(sio_adapter_t *a, const sio_target_t *to, int op, const char *room, int close);
} sio_adapter_vt_t;

enum { SIO_OP_JOIN = 2, SIO_OP_LEAVE = 3, SIO_OP_DISCONNECT = 4 }; /* Node's request types */

struct sio_adapter_s {
  const sio_adapter_vt_t *vt;
  sio_nsp_t *nsp;
};

/* A room of the in-memory adapter: its members in a dense array, each member knowing its slot so
 * that leaving is O(1) (swap with the last). */
typedef struct sio_room {
  struct sio_room_member *members;
  uint32_t len, cap;
  char name[];
} sio_room_t;

typedef struct sio_room_member {
  sio_socket_t *socket;
  uint32_t slot; /* index in the socket's rooms array */
} sio_room_member_t;

/* What a socket holds per room it is in (besides its own-id room, which is implicit). */
typedef struct sio_socket_room {
  sio_room_t *room;
  uint32_t slot; /* index in room->members */
} sio_socket_room_t;

sio_adapter_t *sio_memory_adapter_new(sio_nsp_t *nsp);
/* 1 when `room` has a member here (a socket id counts: it is the socket's own room). */
int sio_memory_adapter_has_room(sio_adapter_t *a, const char *room);
/* Calls cb with every room that has a member here, sockets' own ids included. */
void sio_memory_adapter_rooms(sio_adapter_t *a, void (*cb)(const char *room, void *arg), void *arg);

/* redis.c: the cluster adapter. wrap takes `inner` (the namespace's memory adapter, which keeps
 * the local rooms) and returns the cluster adapter owning it; NULL on ENOMEM (inner untouched).
 * close ends the Redis connections (the server is shutting down); free after every adapter. */
sio_adapter_t *sio__redis_adapter_wrap(sio_cluster_t *cl, sio_adapter_t *inner);
void sio__cluster_close(sio_cluster_t *cl);
void sio__cluster_free(sio_cluster_t *cl);
/* For the fuzzer: handles `data` as if Redis had delivered it to namespace `nsp`'s adapter on one of
 * its channels (SIO_CHAN_*), through the same code as real traffic. No-op without Redis support. */
enum { SIO_CHAN_BROADCAST, SIO_CHAN_ROOM, SIO_CHAN_REQUEST, SIO_CHAN_RESPONSE };
void sio__cluster_inject(sio_nsp_t *nsp, int chan, const char *room, const char *data, size_t len);

/* requests_timeout_ms (0 for NULL). */
uint32_t sio__cluster_timeout(const sio_cluster_t *cl);
/* The memory adapter keeping a namespace's local rooms: `a` itself, or the one a cluster adapter
 * wraps. */
sio_adapter_t *sio__cluster_inner(sio_adapter_t *a);

/* Shared by adapters: writes an encoded packet to one socket, honouring SIO_EMIT_VOLATILE. */
int sio_socket_write_encoded(sio_socket_t *s, const sio_encoded_t *enc, int flags);

#endif
