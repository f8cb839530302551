/* The cluster adapter of socket.io-adapter 2.5 (sac.c): Node's `ClusterAdapter`, the base of
 * @socket.io/redis-adapter 8.3's sharded adapter (createShardedAdapter) and of
 * @socket.io/redis-streams-adapter 0.3. Not the protocol of cluster.c (the classic
 * @socket.io/redis-adapter's own RedisAdapter, request types 0..9): here every message is
 * {uid, nsp, type, data} with socket.io-adapter's MessageType below, uids are 16 hex characters
 * (randomBytes(8)), request ids too, and a request waits for serverCount() - 1 answers.
 *
 * One per namespace, wrapping its in-memory adapter (rooms and delivery stay there) as cluster.c
 * does, over a transport of a few calls (sharded pub/sub in redis.c, streams in redis_streams.c).
 * A transport picks the form each message travels in (sio__sac_msg_encode) and where it goes;
 * it feeds what it receives back through sio__sac_on_*. */
#ifndef SIO_SAC_H
#define SIO_SAC_H

#include <stddef.h>
#include <stdint.h>

#include "adapter/adapter.h"

typedef struct sio_sac sio_sac_t;
/* An outgoing message, borrowed for the transport call that is given it. */
typedef struct sio_sac_msg sio_sac_msg_t;

/* socket.io-adapter's MessageType: the numbers on the wire. */
enum {
  SIO_SAC_INITIAL_HEARTBEAT = 1, /* ClusterAdapterWithHeartbeat's: ignored here */
  SIO_SAC_HEARTBEAT = 2,         /* ignored here */
  SIO_SAC_BROADCAST = 3,
  SIO_SAC_SOCKETS_JOIN = 4,
  SIO_SAC_SOCKETS_LEAVE = 5,
  SIO_SAC_DISCONNECT_SOCKETS = 6,
  SIO_SAC_FETCH_SOCKETS = 7,
  SIO_SAC_FETCH_SOCKETS_RESPONSE = 8,
  SIO_SAC_SERVER_SIDE_EMIT = 9,
  SIO_SAC_SERVER_SIDE_EMIT_RESPONSE = 10,
  SIO_SAC_BROADCAST_CLIENT_COUNT = 11,
  SIO_SAC_BROADCAST_ACK = 12,
  SIO_SAC_ADAPTER_CLOSE = 13, /* ignored here */
  /* sio's own, not Node's: asked only where every node is sio (the workers' bus) */
  SIO_SAC_ALL_ROOMS = 100,
  SIO_SAC_ALL_ROOMS_RESPONSE = 101
};

/* 16 hex characters, as Node's randomBytes(8).toString("hex"): adapter uids and request ids. */
#define SIO_SAC_ID_LEN 16

/* The forms a message travels in (sio__sac_msg_encode). */
enum {
  SIO_SAC_WHOLE_JSON,       /* JSON text of {uid, nsp, type, data}: sharded, without binary */
  SIO_SAC_WHOLE_MSGPACK,    /* msgpack of the same map: sharded with binary (notepack.io), and
                               the streams adapter's pub/sub messages (@msgpack/msgpack) */
  SIO_SAC_DATA_JSON,        /* JSON text of data alone: a stream entry's "data" field without
                               binary (absent: see sio__sac_msg_has_data) */
  SIO_SAC_DATA_MSGPACK_B64  /* base64 of the msgpack of data alone: a stream entry's "data" with
                               binary */
};

int sio__sac_msg_type(const sio_sac_msg_t *m);
/* 1 when data holds binary (a Buffer on Node's side): the JSON forms cannot carry it. */
int sio__sac_msg_binary(const sio_sac_msg_t *m);
/* 1 when the message has data (heartbeats have none: a stream entry then has no "data" field). */
int sio__sac_msg_has_data(const sio_sac_msg_t *m);
/* The streams adapter's isEphemeral: a broadcast with acks, SERVER_SIDE_EMIT or FETCH_SOCKETS,
 * which it sends over pub/sub instead of the stream. */
int sio__sac_msg_ephemeral(const sio_sac_msg_t *m);
/* For a BROADCAST without acks to exactly one room (opts.rooms of length 1): that room, for the
 * sharded adapter's dynamic channels; NULL otherwise. */
const char *sio__sac_msg_room(const sio_sac_msg_t *m);
/* The message in `form`: *out malloc'd (the caller frees it), *len its length (the JSON forms are
 * also NUL-terminated). 0, SIO_EINVAL (a JSON form of a message with binary), SIO_ENOMEM. */
int sio__sac_msg_encode(const sio_sac_msg_t *m, int form, char **out, size_t *len);

/* Called exactly once, later from the loop, for a publish given it: with the offset the message
 * got (a stream entry id, copied by the callee if kept) or NULL (sent without one, or lost). */
typedef void (*sio_sac_published_cb)(void *arg, const char *offset);

typedef struct sio_sac_transport {
  /* Sends m to every other node of the namespace. cb may be NULL. 0, or SIO_EUNAVAIL /
   * SIO_ECLOSED when the other nodes cannot be reached now, or SIO_ENOMEM: not sent, and then cb
   * is never called. */
  int (*publish)(void *t, const sio_sac_msg_t *m, sio_sac_published_cb cb, void *arg);
  /* Sends m, an answer, to the node whose adapter uid is `requester` (16 characters); as publish. */
  int (*publish_response)(void *t, const char *requester, const sio_sac_msg_t *m);
  /* As cluster.h's: how many nodes listen (PUBSUB NUMSUB / SHARDNUMSUB of the namespace's
   * channel), answered later through sio__sac_on_server_count with request_id (copied). 0,
   * SIO_EUNAVAIL or SIO_ECLOSED (no answer will come). */
  int (*server_count)(void *t, const char *request_id);
  /* A room got its first member on this node (created 1) or lost its last (0): the sharded
   * adapter's dynamic subscriptions follow them. Socket ids' own rooms are not reported. NULL:
   * not wanted. */
  void (*room)(void *t, const char *room, int created);
  /* Sessions shared between nodes (adapter.h's persist_session / restore_session, which the
   * adapter forwards here unchanged); both NULL: the Socket.IO layer keeps them on this node. */
  int (*persist_session)(void *t, const cJSON *session);
  int (*restore_session)(void *t, const char *pid, const char *offset, sio_restore_cb cb,
                         void *arg);
  /* Frees t, with the adapter: nothing more is delivered to it. */
  void (*free)(void *t);
  /* 1 when publish gives offsets (the streams adapter): with connection state recovery on, this
   * node's part of a broadcast then waits for the offset, which every recipient gets as the
   * event's last argument, as Node's ClusterAdapter.broadcast does. */
  int offsets;
} sio_sac_transport_t;

/* A cluster adapter for nsp, taking `local` (its in-memory adapter) and t (tp kept: static);
 * requests wait timeout_ms. NULL on ENOMEM, local and t untouched. */
sio_sac_t *sio__sac_new(sio_nsp_t *nsp, sio_adapter_t *local, const sio_sac_transport_t *tp,
                        void *t, uint32_t timeout_ms);
sio_adapter_t *sio__sac_adapter(sio_sac_t *c);
/* allRooms across nodes, sio's own request: a vtable's all_rooms only where every node is sio. */
int sio__sac_all_rooms(sio_adapter_t *a, sio_request_t *r);
/* Frees the adapter (and its transport) but not `local`, which is returned: a namespace goes back
 * to memory (workers: when Redis replaces the in-process bus). */
sio_adapter_t *sio__sac_release(sio_sac_t *c);
/* The adapter's uid (SIO_SAC_ID_LEN characters): its private response channel is named by it. */
const char *sio__sac_uid(const sio_sac_t *c);
sio_nsp_t *sio__sac_nsp(const sio_sac_t *c);

/* What the transport delivers; data borrowed for the call. Messages of this adapter's own uid,
 * or of another namespace, are ignored, as Node's. */
/* A whole message as JSON text (data[0] == '{') or msgpack; is_response: it came on this
 * adapter's private channel (Node's onResponse, otherwise onMessage). */
void sio__sac_on_raw(sio_sac_t *c, const char *data, size_t len, int is_response);
/* A stream entry's fields (the streams adapter's RawClusterMessage): type as decimal text, data
 * JSON text when it starts with '{', else base64 of msgpack (NULL: none); offset, the entry id,
 * appended to a broadcast's arguments when recovery is on. */
void sio__sac_on_fields(sio_sac_t *c, const char *uid, const char *type, const char *data,
                        size_t data_len, const char *offset);
/* The answer to server_count, as cluster.h's. */
void sio__sac_on_server_count(sio_sac_t *c, const char *request_id, long long n);
/* The transport lost the other nodes: requests waiting for them end now with status. */
void sio__sac_on_down(sio_sac_t *c, int status);

/* Decodes a stream entry's data field (JSON text, or base64 of msgpack) of a BROADCAST into the
 * packet's event array ["event", ...args] (binary as placeholders indexing *bufs, the caller's:
 * free each .data then the array) and its opts' rooms / except (NULL-terminated arrays, one
 * allocation each, the caller's). Used to restore missed packets from the stream. 0, SIO_EINVAL,
 * SIO_ENOMEM. */
int sio__sac_decode_broadcast(const char *data, size_t len, cJSON **event, sio_buf_t **bufs,
                              size_t *nbufs, char ***rooms, char ***except);

#endif
