/* sio's Socket.IO client, on libuv: socket.io-client 4.x's Manager and Socket in C.
 *
 * The same conventions as sio.h (opaque handles with a `void *data` slot, callbacks take the handle
 * first, negative error codes with sio_strerror(), options structs starting with `size`,
 * single-threaded: every call on the thread running the loop) and the same values: event
 * arguments are sio_args_t (a cJSON array; binary as placeholder objects for `bufs`, at any
 * depth; strings in the core's form, see sio.h).
 *
 * A manager (sio_manager_t, socket.io-client's Manager) is one Engine.IO connection to one server:
 * Engine.IO v4 (or v3 for socket.io 2.x servers, which speak Socket.IO protocol v4), polling,
 * WebSocket and the upgrade between them, or WebSocket only; http(s):// and ws(s):// URLs (TLS by
 * OpenSSL). Its sockets (sio_csocket_t, one per namespace) are multiplexed over it. When the
 * connection is lost the manager reconnects with exponential backoff and jitter (socket.io-client's
 * reconnectionDelay, reconnectionDelayMax, randomizationFactor, reconnectionAttempts, with its
 * defaults), and every socket that was connected connects again (with its auth; with connection
 * state recovery when the server offered it: the socket's pid and the offset of the last event
 * received travel in the CONNECT, and sio_csocket_recovered() says whether the server restored
 * the session).
 *
 * Emits made while a socket is not connected are kept in its send buffer and sent, in order, once
 * it connects (again): bounded by send_buffer_max packets and send_buffer_bytes bytes; past either
 * bound an emit fails with SIO_EBUSY and is not kept (the caller decides: nothing is dropped
 * silently). Volatile emits are never buffered: dropped (return 0) while not connected.
 *
 * Acknowledgements: an emit with an ack waits for the server's answer (sio_csocket_ack_cb), its
 * timeout, or the disconnection of its socket (SIO_ECLOSED: once an event was sent, its answer
 * cannot come on a new connection); an emit still in the send buffer keeps waiting until sent.
 *
 * Lifetime: sio_manager_close() disconnects every socket (DISCONNECT packets are sent, then the
 * Engine.IO close), stops reconnecting, and frees the manager and its sockets after its close
 * callback. Nothing is freed before: a socket handle stays valid (disconnected) until then.
 *
 * Signals: a write to a connection the server has closed raises SIGPIPE, which kills a process
 * that keeps its default disposition. Like Node (and Python, siod, the Lua module), a program
 * using the client should ignore it: signal(SIGPIPE, SIG_IGN). The library does not change a
 * process's signal dispositions itself. */
#ifndef SIO_CLIENT_H
#define SIO_CLIENT_H

#include "sio.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct sio_manager_s sio_manager_t; /* one Engine.IO connection (socket.io-client's Manager) */
typedef struct sio_csocket_s sio_csocket_t; /* one namespace over a manager (socket.io-client's Socket) */

/* Transports, for sio_manager_options_t.transports and sio_manager_transport(). */
enum { SIO_CLIENT_POLLING = 1, SIO_CLIENT_WEBSOCKET = 2 };

typedef struct sio_manager_options_s {
  size_t size;      /* sizeof this struct, set by the _init function (see sio.h "Options") */
  const char *path; /* the server's Engine.IO path; default "/socket.io/"; copied */
  int eio;          /* Engine.IO protocol: 4 (default), or 3 for socket.io 2.x servers */
  /* SIO_CLIENT_POLLING | SIO_CLIENT_WEBSOCKET (default both): with both, polling first, then the
   * upgrade to WebSocket when the server offers it (and `upgrade` is 1); WebSocket alone
   * connects over WebSocket directly (weapp.socket.io's way). */
  unsigned transports;
  int upgrade;               /* default 1 */
  const char *query;         /* extra query "k=v&k2=v2", appended to every request; copied */
  const char *const *headers; /* extra request headers, each "Name: value", NULL-terminated; copied */
  size_t max_payload;        /* the longest message or polling body accepted from the server:
                              * longer closes the connection ("transport error"); default 16 MiB */
  uint32_t timeout_ms;       /* a connection attempt (TCP, TLS, handshake) must open within this;
                              * default 20000 (socket.io-client's `timeout`) */
  int reconnection;          /* default 1 */
  uint32_t reconnection_attempts;     /* default 0: unlimited (socket.io-client's Infinity) */
  uint32_t reconnection_delay_ms;     /* default 1000 */
  uint32_t reconnection_delay_max_ms; /* default 5000 */
  double randomization_factor;        /* default 0.5 (0..1) */
  int parser;               /* SIO_PARSER_JSON (default) or SIO_PARSER_MSGPACK, as sio_io_options_t */
  size_t send_buffer_max;   /* per socket, packets kept while not connected; default 1000 */
  size_t send_buffer_bytes; /* per socket, their bytes (encoded); default 16 MiB */
  const char *tls_ca_file;  /* PEM bundle to verify the server with; NULL: the system's */
  int tls_verify;           /* default 1; 0 accepts any certificate (rejectUnauthorized: false) */
} sio_manager_options_t;

SIO_EXTERN void sio_manager_options_init(sio_manager_options_t *opts);

/* What a manager reports (every member may be NULL). `attempt` counts from 1. */
typedef struct sio_manager_callbacks_s {
  void (*on_open)(sio_manager_t *m);                  /* the Engine.IO handshake succeeded */
  /* The Engine.IO connection ended: "transport close", "transport error", "ping timeout",
   * "parse error", "forced close" (sio_manager_close, or the last socket disconnecting). */
  void (*on_close)(sio_manager_t *m, const char *reason);
  /* A connection attempt failed (err and a one-line description: refused, timeout, TLS, an HTTP
   * status, a handshake error). */
  void (*on_error)(sio_manager_t *m, int err, const char *detail);
  void (*on_reconnect_attempt)(sio_manager_t *m, unsigned attempt);
  void (*on_reconnect)(sio_manager_t *m, unsigned attempt);         /* reconnected after attempt */
  void (*on_reconnect_error)(sio_manager_t *m, int err, const char *detail);
  void (*on_reconnect_failed)(sio_manager_t *m); /* reconnection_attempts exhausted: no more */
} sio_manager_callbacks_t;

typedef void (*sio_manager_close_cb)(sio_manager_t *m);

/* A new manager for `url` (copied): "http://", "https://", "ws://" or "wss://", a host (name,
 * IPv4, or [IPv6]), an optional port (default 80/443); a path in the URL is ignored (for
 * socket.io-client's io("http://h/chat") the namespace is the binding's business: pass it to
 * sio_csocket_new); a query in the URL is appended to every request, as opts->query. It connects
 * when its first socket does (socket.io-client's autoConnect: sio_csocket_connect), or at
 * sio_manager_open(). Callbacks copied (NULL: none). SIO_EINVAL for a bad URL or options
 * (sio_last_error() says which), SIO_ENOMEM. */
SIO_EXTERN int sio_manager_new(uv_loop_t *loop, const char *url, const sio_manager_options_t *opts,
                               const sio_manager_callbacks_t *cbs, sio_manager_t **out);
/* Opens the Engine.IO connection now (nothing when open or opening); after a reconnection gave up,
 * starts again. SIO_ECLOSED once closing. */
SIO_EXTERN int sio_manager_open(sio_manager_t *m);
/* Closes: see "Lifetime" above. cb (may be NULL) runs once, from the loop, after which the manager
 * and its sockets are freed. A second call does nothing. */
SIO_EXTERN void sio_manager_close(sio_manager_t *m, sio_manager_close_cb cb);
SIO_EXTERN uv_loop_t *sio_manager_loop(const sio_manager_t *m);
SIO_EXTERN void *sio_manager_get_data(const sio_manager_t *m);
SIO_EXTERN void sio_manager_set_data(sio_manager_t *m, void *data);
/* The Engine.IO session id while open, else NULL (borrowed). */
SIO_EXTERN const char *sio_manager_sid(const sio_manager_t *m);
/* SIO_CLIENT_POLLING or SIO_CLIENT_WEBSOCKET while open, 0 otherwise. */
SIO_EXTERN int sio_manager_transport(const sio_manager_t *m);

/* ---- sockets ---- */

/* What a socket reports (every member may be NULL). */
typedef struct sio_csocket_callbacks_s {
  /* Connected (sio_csocket_id() set; sio_csocket_recovered() says whether the server restored
   * the session). Called again after each reconnection. */
  void (*on_connect)(sio_csocket_t *s);
  /* The server refused the namespace (its message and data, data NULL when none: Node's
   * err.message and err.data), or, with `data` NULL, the connection failed while this socket was
   * connecting: socket.io-client's messages ("xhr poll error", "websocket error", "timeout", ...),
   * or the manager's close reason ("transport close", ...) when the connection was lost after it
   * opened and before the server answered this socket's CONNECT.
   * A refused socket is not retried: call sio_csocket_connect() again. */
  void (*on_connect_error)(sio_csocket_t *s, const char *message, const cJSON *data);
  /* Disconnected: "io server disconnect" (the server disconnected it: no automatic reconnection),
   * "io client disconnect" (sio_csocket_disconnect), or the manager's reason ("transport close",
   * "transport error", "ping timeout", "parse error": reconnection follows when enabled). */
  void (*on_disconnect)(sio_csocket_t *s, const char *reason);
  /* An event from the server (event and args borrowed for the call). ack_id >= 0 when the server
   * asked for an acknowledgement: answer with sio_csocket_ack(). When the server has connection
   * state recovery on, the event's last argument is its offset (a string), as socket.io-client
   * hands it to listeners. */
  void (*on_event)(sio_csocket_t *s, const char *event, const sio_args_t *args, int64_t ack_id);
} sio_csocket_callbacks_t;

/* A socket for namespace `nsp` ("/" when NULL; copied), not connected: one per namespace and
 * manager (SIO_EEXIST for a second). `auth` (copied; NULL: none) is sent with every CONNECT (an
 * object; SIO_EINVAL otherwise). Callbacks copied. Owned by the manager. */
SIO_EXTERN int sio_csocket_new(sio_manager_t *m, const char *nsp, const cJSON *auth,
                               const sio_csocket_callbacks_t *cbs, sio_csocket_t **out);
/* Replaces the auth payload for the next CONNECTs (copied). */
SIO_EXTERN int sio_csocket_set_auth(sio_csocket_t *s, const cJSON *auth);
/* Connects (opening the manager when needed). Nothing when connected or connecting. */
SIO_EXTERN int sio_csocket_connect(sio_csocket_t *s);
/* Disconnects (DISCONNECT sent when connected; reason "io client disconnect"); no reconnection
 * for this socket until sio_csocket_connect(). When no socket of the manager stays connected or
 * connecting, the manager closes its Engine.IO connection (socket.io-client's way). Pending acks
 * end with SIO_ECLOSED; the send buffer is kept. */
SIO_EXTERN void sio_csocket_disconnect(sio_csocket_t *s);

/* Called once: status 0 with the server's answer (args borrowed for the call), SIO_ETIMEDOUT
 * (args NULL) after timeout_ms, or SIO_ECLOSED (args NULL) when the socket disconnected (or the
 * manager closed) after the event was sent. */
typedef void (*sio_csocket_ack_cb)(sio_csocket_t *s, int status, const sio_args_t *args, void *arg);

/* Emits `event` with args (borrowed; encoded at once). flags: SIO_EMIT_VOLATILE (sio.h: not sent,
 * and 0 returned, unless connected and writable now); SIO_EMIT_NO_COMPRESS is accepted and
 * ignored. Not connected: buffered (see above; SIO_EBUSY past the bound). SIO_ERESERVED for a
 * reserved name, SIO_EINVAL for args nested deeper than SIO_MAX_DEPTH or more than 1000
 * attachments, SIO_ECLOSED once the manager is closing, SIO_ETOOBIG for a message longer than
 * max_payload (connected or not). */
SIO_EXTERN int sio_csocket_emit(sio_csocket_t *s, const char *event, const sio_args_t *args, int flags);
/* The same, asking for an acknowledgement; cb runs once, always from the loop (never inside this
 * call); timeout_ms 0: none (counted from the call, buffered time included). Errors as
 * sio_csocket_emit (cb not called then). */
SIO_EXTERN int sio_csocket_emit_ack(sio_csocket_t *s, const char *event, const sio_args_t *args,
                                    int flags, uint32_t timeout_ms, sio_csocket_ack_cb cb, void *arg);
/* Answers the server's ack_id (from on_event). SIO_ECLOSED when not connected (the answer
 * belongs to the connection that asked); SIO_EINVAL as emit. */
SIO_EXTERN int sio_csocket_ack(sio_csocket_t *s, int64_t ack_id, const sio_args_t *args);

SIO_EXTERN sio_manager_t *sio_csocket_manager(const sio_csocket_t *s);
SIO_EXTERN const char *sio_csocket_nsp(const sio_csocket_t *s);
/* The socket's id while connected, else NULL (borrowed). */
SIO_EXTERN const char *sio_csocket_id(const sio_csocket_t *s);
SIO_EXTERN int sio_csocket_connected(const sio_csocket_t *s);
/* 1 when the last connect restored the previous session (connection state recovery). */
SIO_EXTERN int sio_csocket_recovered(const sio_csocket_t *s);
/* Packets waiting in the send buffer. */
SIO_EXTERN size_t sio_csocket_buffered(const sio_csocket_t *s);
SIO_EXTERN void *sio_csocket_get_data(const sio_csocket_t *s);
SIO_EXTERN void sio_csocket_set_data(sio_csocket_t *s, void *data);

#ifdef __cplusplus
}
#endif
#endif /* SIO_CLIENT_H */
