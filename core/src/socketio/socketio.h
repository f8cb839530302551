/* The Socket.IO server's internals: io (server), client (one per Engine.IO session), namespace,
 * socket. Shared by the files of core/src/socketio and the in-memory adapter (adapter/memory.c),
 * which keeps the rooms a socket is in inside the socket; other adapters see none of it. */
#ifndef SIO_SOCKETIO_H
#define SIO_SOCKETIO_H

#include <regex.h>
#include <stdint.h>

#include "adapter/adapter.h"
#include "map.h"
#include "sio.h"
#include "socketio/packet.h"
#include "transport/log.h"

typedef struct sio_client sio_client_t;
typedef struct sio_instr sio_instr_t; /* instrument.c: the Admin UI's server side */

enum { SOCK_PENDING = 0, SOCK_CONNECTED = 1, SOCK_CLOSING = 2, SOCK_CLOSED = 3 };

/* An acknowledgement the server waits for. */
typedef struct sio_pending_ack {
  struct sio_pending_ack *next, *prev;   /* the socket's */
  sio_socket_t *socket;
  int64_t id;
  sio_ack_cb cb;
  void *arg;
  uv_timer_t *timer;                     /* when a timeout was asked */
  sio_bcast_ack_t *bcast;                /* part of a broadcast with acks (cb unused) */
  struct sio_pending_ack *bnext, *bprev; /* the broadcast's recipients yet to answer */
} sio_pending_ack_t;

/* Every connected client holds one of these per namespace for as long as it stays, so it is kept
 * to 168 bytes (a 176-byte malloc chunk; tests/c/test_memory.c bounds it): flags are bitfields,
 * and the recovery pid, which most servers never use, is not stored inline (see pid). */
#define SIO_PID_SIZE 21 /* a pid and its NUL */
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
  sio_socket_room_t *rooms;      /* the in-memory adapter's (own-id room not included) */
  uint32_t nrooms, caprooms;
  uint64_t mark;                 /* the in-memory adapter's dedupe stamp */
  sio_pending_ack_t *acks;
  struct sio_ack_s *ack_handles; /* live sio_ack_t of this socket, cut loose when it closes */
  struct sio_socket_ext *ext;    /* catch-alls and packet middleware (listen.c); NULL: none */
  uint32_t chains;               /* packet middleware chains in flight (they hold the socket) */
  uint16_t mw_index;
  uint8_t state;                 /* SOCK_*: a whole byte, tested per delivery (sio__socket_write) */
  unsigned auth_sent : 1;        /* the CONNECT carried a payload (sio_socket_auth_sent) */
  unsigned in_middleware : 1;
  unsigned recovered : 1;
  unsigned restoring : 1;        /* waiting for the adapter's restore_session (holds the socket) */
  unsigned released : 1;         /* sio__socket_release came while chains were in flight */
  unsigned has_tail : 1;         /* a sio_socket_tail_t follows (its namespace recovers) */
};
/* Connection state recovery, behind the socket in its allocation when its namespace recovers,
 * absent otherwise (issue 22: 16 bytes of every socket): the pid sent in the CONNECT reply ("" when
 * none), and for a restored socket what was kept (its rooms and missed packets are used up at
 * connect). socket.c reaches both through sock_pid() and sock_restored(). */
typedef struct sio_socket_tail {
  struct sio_recovered *restored;
  char pid[SIO_PID_SIZE];
} sio_socket_tail_t;

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
  struct sio_recovery *recovery; /* connection state recovery's store; NULL when off, or a parent */
  size_t out_watched;     /* sockets with outgoing catch-alls (a broadcast then visits them) */
};

/* A client's close_reason: why the server closed its session itself (0: it did not). */
enum { SIO_CLOSE_NONE = 0, SIO_CLOSE_FORCED = 1, SIO_CLOSE_TRANSPORT = 2, SIO_CLOSE_PARSE = 3 };
extern const char *const sio__close_reasons[4]; /* io.c: NULL, "forced close", ... */

struct sio_client {
  sio_io_t *io;
  sio_session_t *session;
  sio_packet_decoder_t *dec;        /* only while a binary packet awaits its attachments */
  sio_socket_t *sockets;            /* connected and pending, this connection's */
  sio_client_t *next, *prev;        /* io's clients */
  sio_client_t *tprev;              /* the connect-timeout queue */
  /* One word for two lists a client is never in at once: the
   * connect-timeout queue (left by the first CONNECT or at close) and, once closed, the io's
   * clients to free (sio__client_close leaves the queue first). */
  union {
    sio_client_t *tnext;            /* the connect-timeout queue */
    sio_client_t *znext;            /* io's clients to free */
  };
  /* The connect timeout's deadline, uv_now()'s low 32 bits (compared by their difference:
   * timeouts stay below 2^31 ms), and small fields: 72 bytes, an 80-byte malloc chunk. */
  uint32_t deadline;
  uint8_t protocol;                 /* Engine.IO 3 or 4 */
  uint8_t instr_transport;          /* instrument.c: the transport the admin UI was last told */
  unsigned in_timeout_queue : 1;
  unsigned closed : 1;
  unsigned close_reason : 2; /* SIO_CLOSE_*: set before the server closes the session itself */
};

/* Debug lines of category socket (io.c): a packet in (decoded, with the length of the message
 * that completed it) and out (summarised from its encoded text: type, namespace, ack id, event
 * name). Call them only when the category is on (SIO_DEBUG_ON). */
void sio__debug_packet_in(sio_client_t *c, const sio_packet_t *p, size_t len);
void sio__debug_packet_out(sio_server_t *server, const char *who, const sio_encoded_t *enc);

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
  uv_timer_t *recovery_timer;       /* connection state recovery's expiry; NULL when off */
  sio_socket_t *zombie_sockets;
  sio_client_t *zombie_clients;
  unsigned depth;                   /* > 0 while inside the io: frees are deferred */
  uint8_t shutting_down;
  uint8_t engine_gone;              /* the engine was freed; the io waits for mw_count to drop */
  size_t mw_count;                  /* sockets in a middleware (their handles must stay valid) */
  sio_bcast_ack_t *bcasts;          /* broadcasts with acks awaiting answers (emit_ack.c) */
  sio_request_t *requests;          /* requests to every node awaiting answers (request.c) */
  sio_adapter_factory_t adapters;   /* sio__io_use_adapters; create NULL: namespaces in memory only */
  uint8_t adapters_workers;         /* adapters is the workers' in-process bus (wadapter.c) */
  sio_socket_data_cb socket_data;   /* sio_io_on_socket_data: a socket's "data" in fetch_sockets */
  void *socket_data_arg;
  sio_instr_t *instr;               /* sio_io_instrument; NULL: not instrumented (hooks skipped) */
  sio_io_counters_t st;             /* metrics (sio_io_stats) */
  char *metrics_path;               /* sio_io_serve_metrics's, without a trailing '/' */
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
/* Builds an EVENT (BINARY_EVENT with attachments) packet of nsp from event and args, its data
 * referencing args (see sio__event_array): 0 or SIO_ENOMEM. */
int sio__event_packet(sio_nsp_t *nsp, const char *event, const sio_args_t *args, sio_packet_t *p);
/* Connection state recovery: appends the offset the namespace's store gives next to p->data (an
 * event's array, whose items are references: the string added is owned). 0 or SIO_ENOMEM. */
int sio__add_offset(sio_nsp_t *nsp, sio_packet_t *p);
/* Calls the namespace's outgoing listener, if any, for every socket `to` targets here. */
void sio__nsp_notify_outgoing(sio_nsp_t *nsp, const sio_target_t *to, const char *event,
                              const sio_args_t *args);

/* emit_ack.c: broadcasts with acks */
/* A recipient of a broadcast with acks answered: a (unlinked from its socket already) is freed,
 * args borrowed. */
void sio__bcast_ack_answer(sio_pending_ack_t *a, const sio_args_t *args);
/* A recipient of a broadcast with acks went away unanswered: a (unlinked from its socket
 * already) is freed; the broadcast goes on without it. */
void sio__bcast_ack_drop(sio_pending_ack_t *a);
/* Ends b now (status to its callback). */
void sio__bcast_finish(sio_bcast_ack_t *b, int status);

/* socket.c */
sio_socket_t *sio__socket_new(sio_nsp_t *nsp, sio_client_t *c, cJSON *auth, int sent);
void sio__socket_start(sio_socket_t *s); /* runs the middleware, then connects */
void sio__socket_connect(sio_socket_t *s); /* connects now, without the middleware */
/* Connection state recovery: takes the session the CONNECT's auth {"pid", "offset"} names out
 * of the namespace's store, so that s connects as that socket; 0, or SIO_ENOTFOUND (a fresh
 * socket then: its own id and a new pid) or SIO_ENOMEM. */
int sio__socket_restore(sio_socket_t *s);
/* The same, through the adapter's restore_session (sio__nsp_adapter_sessions): 0 when the answer
 * will come (the socket then waits, held as in a middleware, and connects or runs the middleware
 * once it comes: restored, or fresh when the session is not found), or SIO_ENOTFOUND (no pid and
 * offset in the auth) or another error: start s now as a fresh socket. */
int sio__socket_restore_async(sio_socket_t *s);
void sio__socket_onpacket(sio_socket_t *s, sio_packet_t *p);
void sio__socket_close(sio_socket_t *s, const char *reason, int send_disconnect);
/* The client went away while the socket was in middleware. */
void sio__socket_abandon(sio_socket_t *s);
/* Frees now, or once the io is left when inside it (handles stay valid during a call chain). */
void sio__socket_release(sio_socket_t *s);
void sio__socket_free(sio_socket_t *s);
/* Validates an emit's event name and args: 0, SIO_EINVAL or SIO_ERESERVED. */
int sio__check_emit(const char *event, const sio_args_t *args);

/* listen.c: per-socket catch-alls and packet middleware (socket->ext) */
/* An EVENT for a socket with ext: incoming catch-alls, packet middleware, then on_event. Takes
 * p's data (the name already detached; `event` its text). */
void sio__socket_dispatch_ext(sio_socket_t *s, const char *event, sio_packet_t *p);
/* The socket's outgoing catch-alls, when it has ext. */
void sio__socket_notify_out(sio_socket_t *s, const char *event, const sio_args_t *args);
/* Drops the lists at close (chains in flight keep their own copies). */
void sio__socket_ext_free(sio_socket_t *s);

/* instrument.c: hooks called only when io->instr is set. */
void sio__instr_connected(sio_socket_t *s);                     /* before the connection callback */
void sio__instr_disconnected(sio_socket_t *s, const char *reason);
void sio__instr_room(sio_socket_t *s, const char *room, int joined); /* a membership changed */
void sio__instr_client(sio_client_t *c, const char *close_reason); /* NULL: opened */
void sio__instr_in(sio_client_t *c, size_t len);                /* an Engine.IO message in */
/* The counters every message touches, the first member of sio_instr_t: inline on the way out
 * (a broadcast writes to every recipient). Moved into the aggregates each second. */
typedef struct {
  uint64_t packets_in, bytes_in, packets_out;
} sio_instr_counters_t;
static inline void sio__instr_out(sio_io_t *io, size_t npackets) {
  ((sio_instr_counters_t *)(void *)io->instr)->packets_out += npackets;
}
void sio__instr_free(sio_io_t *io);
/* Adds {"_admin": {clientId, transport}} to a fetched socket's data object. */
void sio__instr_describe(sio_socket_t *s, cJSON *data);

/* Connection state recovery kept by the namespace's adapter (adapter.h's restore_session): the
 * layer then keeps no store and numbers no offset. */
static inline int sio__nsp_adapter_sessions(const sio_nsp_t *nsp) {
  return nsp->io->opts.connection_state_recovery.enabled && nsp->adapter &&
         nsp->adapter->vt->restore_session != NULL;
}
/* Recovery is on in nsp, whoever keeps the sessions. */
static inline int sio__nsp_recovers(const sio_nsp_t *nsp) {
  return nsp->recovery != NULL || sio__nsp_adapter_sessions(nsp);
}

/* The namespace whose callbacks and middleware apply (a dynamic child's parent). */
static inline sio_nsp_t *sio__nsp_effective(sio_nsp_t *nsp) {
  return nsp->parent ? nsp->parent : nsp;
}

#endif
