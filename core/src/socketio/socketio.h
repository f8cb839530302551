/* The Socket.IO server's internals: io (server), client (one per Engine.IO session), namespace,
 * socket. Shared by io.c, nsp.c, socket.c and the adapters. */
#ifndef SIO_SOCKETIO_H
#define SIO_SOCKETIO_H

#include <regex.h>
#include <stdint.h>

#include "adapter/adapter.h"
#include "map.h"
#include "sio.h"
#include "socketio/packet.h"

typedef struct sio_client sio_client_t;

enum { SOCK_PENDING = 0, SOCK_CONNECTED = 1, SOCK_CLOSING = 2, SOCK_CLOSED = 3 };

typedef struct sio_bcast_ack sio_bcast_ack_t;

/* An acknowledgement the server waits for. */
typedef struct sio_pending_ack {
  struct sio_pending_ack *next, *prev;
  sio_socket_t *socket;
  int64_t id;
  sio_ack_cb cb;
  void *arg;
  uv_timer_t *timer;       /* when a timeout was asked */
  sio_bcast_ack_t *bcast;  /* part of a broadcast with acks */
  size_t bcast_slot;
} sio_pending_ack_t;

/* Answers of a broadcast with acks, one at a time, instead of collecting them (how a node serves
 * another node's broadcast with acks: each answer is relayed as it comes). */
typedef void (*sio_bcast_answer_cb)(sio_bcast_ack_t *b, const cJSON *answer, const sio_buf_t *bufs,
                                    size_t nbufs);

struct sio_bcast_ack {
  sio_nsp_t *nsp;
  sio_bcast_ack_t *next, *prev; /* the io's pending broadcasts with acks */
  sio_broadcast_ack_cb cb;
  sio_bcast_answer_cb on_answer; /* NULL: answers are collected into responses */
  void *arg;
  uv_timer_t *timer;
  sio_pending_ack_t **waiting; /* per recipient; NULL once answered or gone */
  size_t nwaiting, expected, received;
  cJSON *responses;
  sio_buf_t *bufs; /* owned copies */
  size_t nbufs;
  /* Across a cluster: the other nodes report how many of their sockets were asked (adding to
   * expected), then relay answers. Done when every node reported and every answer came. */
  char request_id[8];
  uint8_t nodes_known;    /* how many nodes answer is known (PUBSUB NUMSUB came back) */
  size_t nodes_expected, nodes_reported;
};

/* What a cluster request gathers. */
enum { SIO_REQ_COUNT = 0, SIO_REQ_ROOMS = 1, SIO_REQ_SERVER_EMIT = 2, SIO_REQ_SOCKETS = 3 };

/* A cluster request in progress (sio_nsp_fetch_count, sio_nsp_fetch_rooms,
 * sio_nsp_server_emit_ack): on the io's list until finished; freed when no Redis reply still points
 * at it either. */
struct sio_count_req {
  sio_nsp_t *nsp;
  sio_count_req_t *next, *prev;
  uint8_t kind;              /* SIO_REQ_* */
  union {
    sio_count_cb count;
    sio_rooms_cb rooms;
    sio_server_ack_cb server;
    sio_sockets_cb sockets;
  } cb;
  void *arg;
  uv_timer_t *timer;
  size_t count;              /* sockets counted so far (local + answers) */
  cJSON *items;              /* ROOMS: an object whose keys are the rooms; SERVER_EMIT: answers;
                              * SOCKETS: the sockets described */
  size_t expected, received; /* answers from other nodes */
  char request_id[8];
  int status;                /* what the timer ends it with when no other node is asked */
  uint8_t remote;            /* other nodes are asked: the timer is the timeout */
  uint8_t waiting;           /* the request is published: answers count */
  uint8_t done;              /* the callback ran */
  uint32_t refs;             /* the io's list + outstanding Redis replies */
};

struct sio_socket_s {
  char *id;
  char idbuf[24];
  sio_nsp_t *nsp;
  sio_client_t *client;          /* NULL once the client is gone (a socket still in middleware) */
  sio_socket_t *cnext;           /* the client's sockets */
  sio_socket_t *nnext, *nprev;   /* the namespace's connected sockets */
  sio_socket_t *znext;           /* the io's sockets to free */
  cJSON *auth;
  void *data;
  uint8_t state;
  uint8_t in_middleware;
  uint16_t mw_index;
  sio_socket_room_t *rooms;      /* the in-memory adapter's (own-id room not included) */
  uint32_t nrooms, caprooms;
  uint64_t mark;                 /* the in-memory adapter's dedupe stamp */
  sio_pending_ack_t *acks;
  struct sio_ack_s *ack_handles; /* live sio_ack_t of this socket, cut loose when it closes */
};

/* sio_socket_ack_handle(): an answer owed to the client, once. */
struct sio_ack_s {
  sio_socket_t *socket; /* NULL once the socket has disconnected */
  int64_t id;
  int done;
  struct sio_ack_s *next, *prev;
};

typedef struct sio_mw {
  sio_middleware_cb cb;
  void *arg;
} sio_mw_t;

struct sio_nsp_s {
  sio_io_t *io;
  char *name;
  sio_nsp_t *parent;      /* a dynamic child's parent */
  sio_nsp_t *next;        /* io's list of namespaces (static and children) */
  sio_nsp_t *children;    /* a parent's children */
  sio_nsp_t *sibling;     /* next child of the same parent */
  sio_nsp_t *pnext;       /* io's list of parents */
  int is_parent;
  int has_regex;
  regex_t regex;
  sio_nsp_match_cb match;
  sio_nsp_callbacks_t cbs;
  sio_mw_t *mw;
  size_t nmw;
  void *data;
  sio_socket_t *head;     /* connected sockets */
  size_t count;
  sio_map_t by_id;        /* connected sockets by id */
  sio_adapter_t *adapter;
  uint64_t ack_ids;       /* ack ids are per namespace, so a broadcast with acks encodes once */
};

struct sio_client {
  sio_io_t *io;
  sio_session_t *session;
  sio_packet_decoder_t *dec;        /* only while a binary packet awaits its attachments */
  sio_socket_t *sockets;            /* connected and pending, this connection's */
  sio_client_t *next, *prev;        /* io's clients */
  sio_client_t *tnext, *tprev;      /* the connect-timeout queue */
  sio_client_t *znext;              /* io's clients to free */
  uint64_t deadline;
  const char *close_reason;         /* set before the server closes the session itself */
  uint8_t in_timeout_queue;
  uint8_t closed;
  uint8_t protocol;                 /* Engine.IO 3 or 4 */
};

struct sio_io_s {
  sio_engine_t *engine;
  sio_server_t *server;
  sio_io_options_t opts;
  char *path;
  sio_map_t nsps;                   /* every namespace by name */
  sio_nsp_t *nsp_list, *parents, *parents_tail;
  sio_client_t *clients;
  sio_client_t *tq_head, *tq_tail;  /* connect-timeout queue: a FIFO, as the timeout is fixed */
  uv_timer_t *connect_timer;
  sio_socket_t *zombie_sockets;
  sio_client_t *zombie_clients;
  unsigned depth;                   /* > 0 while inside the io: frees are deferred */
  uint8_t shutting_down;
  uint8_t engine_gone;              /* the engine was freed; the io waits for mw_count to drop */
  size_t mw_count;                  /* sockets in a middleware (their handles must stay valid) */
  sio_bcast_ack_t *bcasts;          /* broadcasts with acks awaiting answers */
  sio_count_req_t *counts;          /* fetch_count requests awaiting answers */
  sio_cluster_t *cluster;           /* sio_io_use_redis; NULL: every namespace in memory only */
  void *data;
};

/* io.c */
/* Frees the io once its engine is gone and no middleware holds a socket handle. */
void sio__io_maybe_free(sio_io_t *io);
void sio__io_enter(sio_io_t *io);
void sio__io_leave(sio_io_t *io);
int sio__client_send_packet(sio_client_t *c, sio_packet_t *p, int flags);
void sio__client_connected(sio_client_t *c);
void sio__client_close(sio_client_t *c, const char *reason);

/* nsp.c */
int sio__nsp_new(sio_io_t *io, const char *name, sio_nsp_t *parent, sio_nsp_t **out);
void sio__nsp_free(sio_nsp_t *nsp);
/* The namespace `name` for a connecting client: an existing one, a new dynamic child, or NULL. */
sio_nsp_t *sio__nsp_lookup(sio_io_t *io, const char *name, const cJSON *auth);
/* Builds the packet data ["event", ...args] with references to args (not copies): delete with
 * cJSON_Delete, which leaves the referenced items alone. */
cJSON *sio__event_array(const char *event, const cJSON *args);

/* Ends a fetch_count now (status to its callback, once; later calls do nothing). */
void sio__count_finish(sio_count_req_t *r, int status);
void sio__count_unref(sio_count_req_t *r);

/* Ends a broadcast with acks now (status to its callback). */
void sio__bcast_finish(sio_bcast_ack_t *b, int status);
/* A recipient of a broadcast with acks answered (args borrowed). */
void sio__bcast_ack_answer(sio_bcast_ack_t *b, size_t slot, const sio_args_t *args);
/* An answer that came from another node (its first argument; placeholders index bufs). */
void sio__bcast_add_answer(sio_bcast_ack_t *b, const cJSON *answer, const sio_buf_t *bufs,
                           size_t nbufs);
/* Finishes b if every node reported and every answer came. */
void sio__bcast_check(sio_bcast_ack_t *b);
/* A broadcast with acks to this node's sockets only (SIO_EMIT_LOCAL implied), each answer handed
 * to on_answer as it comes; *count: the sockets asked. Finished (finish called, may be NULL) at
 * timeout_ms or when all answered. */
int sio__bcast_local(sio_nsp_t *nsp, const sio_target_t *to, const char *event,
                     const sio_args_t *args, uint32_t timeout_ms, sio_bcast_answer_cb on_answer,
                     sio_broadcast_ack_cb finish, void *arg, size_t *count);

/* socket.c */
sio_socket_t *sio__socket_new(sio_nsp_t *nsp, sio_client_t *c, cJSON *auth);
void sio__socket_start(sio_socket_t *s); /* runs the middleware, then connects */
void sio__socket_onpacket(sio_socket_t *s, sio_packet_t *p);
void sio__socket_close(sio_socket_t *s, const char *reason, int send_disconnect);
/* The client went away while the socket was in middleware. */
void sio__socket_abandon(sio_socket_t *s);
/* Frees now, or once the io is left when inside it (handles stay valid during a call chain). */
void sio__socket_release(sio_socket_t *s);
void sio__socket_free(sio_socket_t *s);
/* Validates an emit's event name and args: 0 or SIO_EINVAL. */
int sio__check_emit(const char *event, const sio_args_t *args);
/* The socket as Node's fetchSockets() carries it between nodes: {"id", "handshake": {"headers",
 * "time", "address", "xdomain", "secure", "issued", "url", "query", "auth"}, "rooms", "data"}. */
cJSON *sio__socket_describe(sio_socket_t *s);

/* The namespace whose callbacks and middleware apply (a dynamic child's parent). */
static inline sio_nsp_t *sio__nsp_effective(sio_nsp_t *nsp) {
  return nsp->parent ? nsp->parent : nsp;
}

#endif
