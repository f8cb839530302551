/* The adapter: where a namespace keeps its rooms and sends its broadcasts, shaped like Node's
 * socket.io-adapter. The Socket.IO layer (core/src/socketio) speaks to a namespace's adapter only
 * through the vtable below and includes no other adapter header; adapters speak to the Socket.IO
 * layer only through sio.h's public API and the short list of functions at the end of this file
 * (the in-memory adapter, the layer's own room store, also reads its structs: see below).
 *
 *   memory.c        the in-memory adapter (Node's Adapter): this node's rooms; every namespace
 *                   has one
 *   cluster.c       the cluster adapter (Node's ClusterAdapter): wraps a namespace's in-memory
 *                   adapter and adds what crosses nodes, over a transport of three calls (cluster.h)
 *   redis.c         the classic Redis transport; sio_io_use_redis installs its adapter factory
 *   redis_sharded.c the sharded transport (Redis 7 sharded pub/sub, Redis Cluster)
 *   redis_streams.c the streams transport (sio_io_use_redis_streams; sessions kept in Redis)
 *   redis_conn.c    Redis connections on libuv (RESP, sharded pub/sub), with backoff and logs
 *   redis_link.c    a Redis URL's parts
 *   sac.c           socket.io-adapter 2.5's ClusterAdapter ({uid, nsp, type, data} messages,
 *                   MessageType 1..13) over a transport of a few calls (sac.h): the base of the
 *                   sharded (redis.c) and streams (redis_streams.c) engines; no remote allRooms
 *                   (Node's has none: all_rooms is NULL, this node's rooms answer)
 *   cluster_common.c  helpers cluster.c and sac.c share (target lists, local sockets)
 *   msgpack_json.c  msgpack <-> cJSON, as notepack.io (the cluster's messages)
 *
 * A broadcast arrives encoded once (sio_encoded_t): every local recipient gets references to the
 * same messages, so the packet and its WebSocket frames are built once per protocol version. */
#ifndef SIO_ADAPTER_H
#define SIO_ADAPTER_H

#include <stddef.h>
#include <stdint.h>

#include "sio.h"
#include "socketio/packet.h"
#include "socketio/recovery.h"

typedef struct sio_adapter_s sio_adapter_t;
/* Opaque to adapters: the Socket.IO layer's records of a broadcast with acks and of a request to
 * the other nodes, handed to an adapter to report on (see the functions at the end). */
typedef struct sio_bcast_ack sio_bcast_ack_t;
typedef struct sio_request sio_request_t;

/* A restored session (restore_session below). */
typedef void (*sio_restore_cb)(void *arg, int status, sio_recovered_t *r);

/* What nodes ask each other: Node's RequestType (@socket.io/redis-adapter 8.3), the numbers on the
 * wire. The Socket.IO layer names its requests with the same words. */
enum {
  SIO_REQ_SOCKETS = 0,
  SIO_REQ_ALL_ROOMS = 1,
  SIO_REQ_REMOTE_JOIN = 2,
  SIO_REQ_REMOTE_LEAVE = 3,
  SIO_REQ_REMOTE_DISCONNECT = 4,
  SIO_REQ_REMOTE_FETCH = 5,
  SIO_REQ_SERVER_SIDE_EMIT = 6,
  SIO_REQ_BROADCAST = 7,
  SIO_REQ_BROADCAST_CLIENT_COUNT = 8,
  SIO_REQ_BROADCAST_ACK = 9
};

/* A packet on its way to sockets: decoded (what a cluster adapter forwards: pkt->data is
 * ["event", ...args], its placeholders index bufs) and encoded once (what this node's sockets get;
 * pkt->id >= 0 for a broadcast with acks). Borrowed for the call. */
typedef struct sio_bcast_packet {
  const sio_packet_t *pkt;
  const sio_buf_t *bufs; /* pkt->attachment_count buffers */
  const sio_encoded_t *enc;
} sio_bcast_packet_t;

/* The Socket.IO layer calls inside the io (a socket closed meanwhile stays readable until it is
 * left); `to` is borrowed, NULL is the whole namespace, and SIO_EMIT_LOCAL in to->flags keeps an
 * operation on this node. A NULL member is an adapter of one node that has no such thing to do;
 * the in-memory adapter fills in the rooms and broadcasting part. */
typedef struct sio_adapter_vt {
  /* ---- this node's rooms (a socket's own id is a room it never joins or leaves) ---- */
  int (*add)(sio_adapter_t *a, sio_socket_t *s, const char *room);
  int (*del)(sio_adapter_t *a, sio_socket_t *s, const char *room);
  void (*del_all)(sio_adapter_t *a, sio_socket_t *s);
  /* Calls fn for every connected local socket `to` targets (each once, flags ignored) until fn
   * returns non-zero; fn may join, leave or disconnect the socket it is given (the targets are
   * collected first, and the io is held meanwhile, whoever calls). Returns how many were visited,
   * or SIO_ENOMEM before any was. */
  int (*apply)(sio_adapter_t *a, const sio_target_t *to, sio_socket_iter_cb fn, void *arg);
  /* Calls cb with every room that has a member here, sockets' own ids included. */
  void (*rooms)(sio_adapter_t *a, void (*cb)(const char *room, void *arg), void *arg);

  /* ---- to sockets: here, and on the other nodes unless SIO_EMIT_LOCAL ---- */
  /* Writes bp to every targeted socket (sio__socket_write). 0, or SIO_ENOMEM when the targets
   * could not be collected, or when the message to the other nodes could not be made (delivered
   * here all the same, nothing published). Other nodes being unreachable is no error. */
  int (*broadcast)(sio_adapter_t *a, const sio_target_t *to, const sio_bcast_packet_t *bp);
  /* Node's broadcastWithAck: writes bp to every targeted socket through b (sio__bcast_write, which
   * counts them), and asks the other nodes to do the same; their reports come back to b
   * (sio__bcast_nodes, sio__bcast_client_count, sio__bcast_answer) until broadcast_ack_end.
   * 1 when other nodes were asked, 0 when only this node's sockets were, or SIO_ENOMEM when the
   * targets could not be collected (nothing sent). timeout_ms: how long the other nodes wait. */
  int (*broadcast_with_ack)(sio_adapter_t *a, const sio_target_t *to, const sio_bcast_packet_t *bp,
                            uint32_t timeout_ms, sio_bcast_ack_t *b);
  /* b is over (every answer came, it timed out, or the server is closing): nothing more is
   * reported to it. Called only after broadcast_with_ack returned 1. */
  void (*broadcast_ack_end)(sio_adapter_t *a, sio_bcast_ack_t *b);
  /* Node's addSockets / delSockets / disconnectSockets: the targeted sockets join or leave room,
   * or are disconnected (close: their whole connection). Done here first; 0, or SIO_ENOMEM when
   * the request to the other nodes could not be made. */
  int (*add_sockets)(sio_adapter_t *a, const sio_target_t *to, const char *room);
  int (*del_sockets)(sio_adapter_t *a, const sio_target_t *to, const char *room);
  int (*disconnect_sockets)(sio_adapter_t *a, const sio_target_t *to, int close);

  /* ---- requests to the other nodes (NULL: no other node; the local part is the answer) ----
   * The Socket.IO layer has this node's part already. The adapter reports each other node's
   * answer to r (sio__request_answer) and ends r exactly once (sio__request_done), always later
   * from the loop, never inside the call; an error returned (SIO_ENOMEM: the request could not be
   * made) means r is never reported to. */
  /* Node's fetchSockets: each answer is an array of sockets as sio__socket_describe makes them. */
  int (*fetch_sockets)(sio_adapter_t *a, const sio_target_t *to, sio_request_t *r);
  /* Node's allRooms: each answer is an array of room names. */
  int (*all_rooms)(sio_adapter_t *a, sio_request_t *r);
  /* Node's serverSideEmit: data is ["event", ...args] (JSON); r NULL: no answers wanted (then
   * SIO_EUNAVAIL / SIO_ECLOSED too when the other nodes cannot be reached now). With r, each
   * answer is one node's value (NULL for none). */
  int (*server_side_emit)(sio_adapter_t *a, const cJSON *data, sio_request_t *r);
  /* Answers another node's server-side event reply_id with value (NULL: none): 0, SIO_EUNAVAIL /
   * SIO_ECLOSED when the other nodes cannot be reached now, SIO_ENOMEM (nothing published). */
  int (*server_side_reply)(sio_adapter_t *a, const char *reply_id, const cJSON *value);
  /* How many nodes there are, this one included, as last known (Node's serverCount). */
  int (*server_count)(sio_adapter_t *a);

  /* ---- connection state recovery kept by the adapter (Node's persistSession / restoreSession) ----
   * NULL (the in-memory and classic Redis adapters): the Socket.IO layer keeps sessions and
   * packets per namespace on this node (socketio/recovery.c, which holds the encoded packets a
   * broadcast already made, as Node's SessionAwareAdapter keeps them in memory) and numbers the
   * offsets itself. Non-NULL (the streams adapter, which shares sessions between nodes): the
   * layer keeps nothing and adds no offset; it hands every recoverable event to broadcast() —
   * a single socket's emit too, as a broadcast to the socket's own room, as Node does — and the
   * adapter gives this node's recipients its own offset (sio__encode_with_offset).
   * persist_session keeps `session` (Node's Session {"sid", "pid", "rooms", "data"}; borrowed) of
   * a socket that went away for a recoverable reason. restore_session looks up the session kept
   * under pid and the events after offset its rooms would have received; cb is called exactly
   * once, later from the loop: status 0 with *r filled (the callback takes it: it clears it with
   * sio__recovered_clear; the struct itself is borrowed), or SIO_ENOTFOUND (unknown pid or
   * offset), SIO_EUNAVAIL, SIO_ECLOSED or SIO_ENOMEM with r NULL. Both return 0 or an error (cb
   * then never called). */
  int (*persist_session)(sio_adapter_t *a, const cJSON *session);
  int (*restore_session)(sio_adapter_t *a, const char *pid, const char *offset, sio_restore_cb cb,
                         void *arg);

  /* ---- optional: NULL when not wanted ----
   * A socket joined the namespace: its own-id room exists from now on (del_all is its end).
   * Called once the socket is registered, before the application's connection callback: Node's
   * "create-room" of a socket's id, which the sharded adapter's dynamic-private mode subscribes. */
  void (*socket_added)(sio_adapter_t *a, sio_socket_t *s);

  /* The server is shutting down: every request still held ends with SIO_ECLOSED. */
  void (*close)(sio_adapter_t *a);
  void (*free)(sio_adapter_t *a);
} sio_adapter_vt_t;

struct sio_adapter_s {
  const sio_adapter_vt_t *vt;
  sio_nsp_t *nsp;
};

/* ---- the in-memory adapter (memory.c) ---- */

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

/* The in-memory adapter is the Socket.IO layer's own room store: the one adapter that reads the
 * socket and namespace structs (the rooms a socket is in live in the socket), so that a broadcast
 * visits each recipient without a call. NULL on ENOMEM. */
sio_adapter_t *sio__memory_adapter_new(sio_nsp_t *nsp);
/* 1 when `room` has a member here (a socket id counts: it is the socket's own room). */
int sio__memory_adapter_has_room(sio_adapter_t *a, const char *room);

/* ---- adapter factories (sio_io_use_redis) ---- */

typedef struct sio_adapter_factory {
  /* The adapter of namespace nsp, taking `local` (its in-memory adapter, which keeps its rooms
   * and may have members already); NULL on ENOMEM, local untouched. */
  sio_adapter_t *(*create)(void *arg, sio_nsp_t *nsp, sio_adapter_t *local);
  /* The server is shutting down, every adapter closed: end what would keep the loop alive. */
  void (*close)(void *arg);
  /* After every adapter was freed. */
  void (*free)(void *arg);
  void *arg;
} sio_adapter_factory_t;

/* Installs f (copied) in io: the namespaces that exist get their adapter from it now (each keeps
 * its rooms; one that cannot stays in memory), and those created later too. 0, SIO_EEXIST when io
 * has a factory already, SIO_ECLOSED once it is shutting down (f untouched then). f NULL: only
 * says whether one could be installed. */
int sio__io_use_adapters(sio_io_t *io, const sio_adapter_factory_t *f);

/* Metrics (sio_io_stats) the io keeps: plain counters, the loop being the only thread. The
 * socketio files count sockets, broadcasts and acks; a Redis transport its link and messages. */
typedef struct sio_io_counters {
  uint64_t connections, broadcasts, acks_sent, acks_answered, acks_timed_out, acks_replied;
  uint64_t redis_published, redis_received;
  int redis_up; /* -1 no Redis; 0 down; 1 both connections up */
} sio_io_counters_t;
sio_io_counters_t *sio__io_counters(sio_io_t *io);

/* ---------------------------------------------------------------------------------------------- */
/* What adapters may call of the Socket.IO layer, besides sio.h's public API (sio_nsp_emit,       */
/* sio_nsp_join / leave / disconnect and sio_socket_* with SIO_EMIT_LOCAL to act on this node).    */

/* Writes an encoded packet to s, honouring SIO_EMIT_VOLATILE in flags (dropped while the
 * transport is not writable). SIO_ECLOSED, without writing, for a socket no longer connected (a
 * write earlier in the same broadcast may have closed it: it stays readable until the io is left). */
int sio__socket_write(sio_socket_t *s, const sio_encoded_t *enc, int flags);

/* s as Node's fetchSockets carries it between nodes: {"id", "handshake": {"headers", "time",
 * "address", "xdomain", "secure", "issued", "url", "query", "auth"}, "rooms", "data"}; NULL when a
 * part could not be made. */
cJSON *sio__socket_describe(sio_socket_t *s);

/* Another node's server-side event to the namespace's on_server_event (args borrowed; reply_id
 * NULL when no answer is expected). 0 when nobody listens: the caller answers for it. */
int sio__nsp_server_event(sio_nsp_t *nsp, const char *event, const sio_args_t *args,
                          const char *reply_id);

/* A broadcast with acks to this node's targeted sockets only, for another node: each answer is
 * handed to on_answer as it comes (its first argument; placeholders index bufs, borrowed), and
 * on_end(arg) comes once, at timeout_ms or when all answered, always from the loop. *count: the
 * sockets asked. 0, or an error of sio_nsp_emit_ack (then neither callback comes). */
int sio__nsp_emit_ack_relay(sio_nsp_t *nsp, const sio_target_t *to, const char *event,
                            const sio_args_t *args, uint32_t timeout_ms,
                            void (*on_answer)(void *arg, const cJSON *answer,
                                              const sio_buf_t *bufs, size_t nbufs),
                            void (*on_end)(void *arg), void *arg, size_t *count);

/* Connection state recovery (see restore_session): 1 when nsp has it on. */
int sio__nsp_recovery_enabled(const sio_nsp_t *nsp);
/* Its max_disconnection_duration_ms: how long an adapter keeps a session. */
uint32_t sio__nsp_recovery_max_age(const sio_nsp_t *nsp);
/* pkt (an event: pkt->data is ["event", ...args]) with `offset` appended as its last argument,
 * encoded with the io's parser into *out (the caller's: sio__encoded_clear): what a recipient of
 * a recoverable event gets. pkt is not changed. 0 or SIO_ENOMEM. */
int sio__encode_with_offset(sio_nsp_t *nsp, const sio_packet_t *pkt, const sio_buf_t *bufs,
                            const char *offset, sio_encoded_t *out);

/* Reports on broadcast with acks b (see broadcast_with_ack). The last three may end b, then
 * broadcast_ack_end comes inside the call. */
/* Writes enc (b's packet) to s as sio__socket_write does; s's answer then counts for b. 0,
 * SIO_ECLOSED (s is not connected: skipped) or SIO_ENOMEM (skipped). */
int sio__bcast_write(sio_bcast_ack_t *b, sio_socket_t *s, const sio_encoded_t *enc, int flags);
/* How many other nodes will report (each with sio__bcast_client_count). */
void sio__bcast_nodes(sio_bcast_ack_t *b, size_t n);
/* One other node asked n of its sockets. */
void sio__bcast_client_count(sio_bcast_ack_t *b, size_t n);
/* One answer from another node's socket: its first argument (NULL: none), placeholders indexing
 * bufs (borrowed). */
void sio__bcast_answer(sio_bcast_ack_t *b, const cJSON *answer, const sio_buf_t *bufs, size_t nbufs);

/* Reports on request r (see fetch_sockets): one other node's answer (borrowed); 0, or SIO_ENOMEM
 * when it could not be kept (end r with it then: a part must not pass for the whole). */
int sio__request_answer(sio_request_t *r, const cJSON *answer);
/* Ends r: its callback gets status with what was gathered; r is gone after this. */
void sio__request_done(sio_request_t *r, int status);

#endif
