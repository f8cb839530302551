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
typedef struct sio_cluster sio_cluster_t;     /* redis.c */

/* One packet, encoded: the text message and its binary attachments (references held). */
typedef struct sio_encoded {
  sio_msg_t *text;
  sio_msg_t **atts;
  size_t natts;
} sio_encoded_t;

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
  /* Asks the other nodes how many sockets `to` targets there; req->count already holds the local
   * number. The adapter finishes req (sio__count_finish) later, never inside this call; an error
   * returned here means no callback. NULL (memory): the local count is the answer. */
  int (*fetch_count)(sio_adapter_t *a, const sio_target_t *to, sio_count_req_t *req);
} sio_adapter_vt_t;

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

/* redis.c: the cluster adapter. wrap takes `inner` (the namespace's memory adapter, which keeps
 * the local rooms) and returns the cluster adapter owning it; NULL on ENOMEM (inner untouched).
 * close ends the Redis connections (the server is shutting down); free after every adapter. */
sio_adapter_t *sio__redis_adapter_wrap(sio_cluster_t *cl, sio_adapter_t *inner);
void sio__cluster_close(sio_cluster_t *cl);
void sio__cluster_free(sio_cluster_t *cl);
/* requests_timeout_ms (0 for NULL). */
uint32_t sio__cluster_timeout(const sio_cluster_t *cl);

/* Shared by adapters: writes an encoded packet to one socket, honouring SIO_EMIT_VOLATILE. */
int sio_socket_write_encoded(sio_socket_t *s, const sio_encoded_t *enc, int flags);

#endif
