/* The I/O layer: TCP connections on libuv, HTTP/1.1 request dispatch, batched writes, WebSocket
 * mode. Everything that touches a socket is here; the protocol layers above stay pure.
 *
 * Writes are queued per connection as references to shared bytes (sio_rbuf_t) and flushed once per
 * loop iteration (uv_check), with uv_try_write first and one uv_write of all the remaining iovecs. */
#ifndef SIO_TRANSPORT_H
#define SIO_TRANSPORT_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "http/http_parser.h"
#include "rbuf.h"
#include "sbuf.h"
#include "sio.h"
#include "websocket/ws.h"

typedef struct sio_conn_s sio_conn_t;

/* How the engine layer sees a connection. */
typedef struct sio_wentry {
  sio_rbuf_t *rb; /* one reference held by the queue */
  const char *p;  /* bytes to write, inside rb->data */
  size_t len;
} sio_wentry_t;

enum { SIO_CONN_HTTP = 0, SIO_CONN_WS = 1 };

/* An endpoint attached to the server: an Engine.IO engine, or a static file mount. */
typedef struct sio_route {
  const char *path; /* ends with '/', "/" matches everything */
  size_t path_len;
  /* A static mount yields: to an engine at the same path, and to an engine at "/" (which serves
   * every path) whatever its own length. It never takes upgrades (on_upgrade is NULL). */
  int is_static;
  /* A file mount: only its exact path (not a prefix). */
  int exact;
  /* An application's handler (sio_server_handler): tried only when no engine or static mount
   * claims the request, or when a static mount declines it (returns SIO_ROUTE_DECLINE). */
  int is_handler;
  /* A complete request. The handler answers with sio_conn_respond() now (return 0), or later
   * (return 1: a long-poll; the connection is parked until it responds). */
  int (*on_request)(struct sio_route *r, sio_conn_t *c, const sio_http_request_t *req);
  /* (A static mount may also return SIO_ROUTE_DECLINE, answering nothing, when a handler covers
   * the request: sio_server_find_handler().) */
  /* An upgrade request; the handler calls sio_conn_accept_ws() or responds with an error. */
  void (*on_upgrade)(struct sio_route *r, sio_conn_t *c, const sio_http_request_t *req);
  /* Shutdown: the route must close its sessions (their connections close afterwards). */
  void (*on_server_close)(struct sio_route *r);
  /* Once per loop iteration in which sio_server_wake() was called, before writes are flushed. */
  void (*on_check)(struct sio_route *r);
  void (*on_free)(struct sio_route *r);
} sio_route_t;

enum { SIO_ROUTE_DECLINE = 2 };

/* Callbacks of a connection in WebSocket mode, or parked on a long-poll. */
typedef struct sio_conn_owner_vt {
  /* A WebSocket message (text or binary); data borrowed for the call. */
  void (*on_ws_message)(void *owner, sio_conn_t *c, int opcode, char *data, size_t len);
  /* The connection is going away (peer closed, error, or sio_conn_close). Called once; the owner
   * must forget `c`. `err` is 0 for a clean close, else a negative code (SIO_ETOOBIG ...). */
  void (*on_close)(void *owner, sio_conn_t *c, int err);
} sio_conn_owner_vt_t;

/* Every connection holds one for life; with uv_tcp_t's 248 bytes it is kept to 424 bytes (a
 * 432-byte malloc chunk; tests/c/test_memory.c bounds it): the flags are bitfields, packed with
 * the 32-bit counters. */
struct sio_conn_s {
  uv_tcp_t tcp; /* first: the uv handle's address is the connection's; its data is the server
                   (sio_conn_server: libuv leaves data to us, 8 bytes less per connection) */
  struct sio_conn_s *next, *prev; /* the server's list of connections */
  struct sio_conn_s *dirty_next;  /* the server's list of connections with writes to flush */
  unsigned mode : 1;              /* SIO_CONN_HTTP or SIO_CONN_WS */
  unsigned dirty : 1;
  unsigned closing : 1;           /* uv_close called or to be called */
  unsigned close_after_write : 1; /* graceful close: once the queue is written */
  unsigned parked : 1;            /* a request is waiting for its response (long-poll) */
  unsigned keep_alive : 1;        /* of the request being answered */
  unsigned reading : 1;
  unsigned draining : 1;          /* graceful close: written and shut down, input read and dropped */
  unsigned paused : 1;            /* backpressure: not read until the queue is low again */
  unsigned held : 1;              /* writes wait for hold_timer (see sio_conn_hold) */
  unsigned app_req : 1;           /* parked on an application's handler (sio_server_handler) */
  unsigned handoff : 7;           /* workers: 1 + the worker this connection is being handed to */
  uint32_t inflight_pieces;       /* queue entries handed to uv_write, not yet completed */
  uv_timer_t *hold_timer;    /* allocated only while held */
  sio_http_parser_t *http;   /* HTTP mode only */
  sio_sbuf_t *in;            /* input not yet parsed (behind a parked request); NULL when none */
  sio_wentry_t *wq;          /* queued writes */
  uint32_t wq_len, wq_cap;
  size_t wq_bytes;           /* bytes in wq */
  size_t inflight_bytes;     /* bytes handed to uv_write, not yet completed */
  uint64_t active_ms;        /* last activity (for the idle timeouts); when a graceful close began */
  /* One mode's state, never both (issue 22: 24 bytes less, a 416-byte malloc chunk instead of
   * 448): an HTTP connection's request clocks and debug line, or a WebSocket's parser.
   * sio_conn_accept_ws ends the HTTP part (debug line logged and freed, clocks and app_req
   * cleared) before the parser is set up; the parser is freed only in WebSocket mode. */
  union {
    struct {
      uint64_t app_since_ms; /* when that handler got the request (request_timeout_ms bounds it) */
      uint64_t req_start_ms; /* when the request in progress began, 0 when none */
      char *debug_req;       /* "METHOD /path" of the request being answered: debug category
                                http only (NULL when off), logged with the response's status */
    };
    sio_ws_parser_t ws; /* WebSocket mode only */
  };
  const sio_conn_owner_vt_t *owner_vt;
  void *owner;
  struct sio_tls_s *tls;     /* NULL on a plain listener's connection (tls.h) */
};

/* Whether the connection arrived over TLS. */
static inline int sio_conn_secure(const sio_conn_t *c) { return c->tls != NULL; }
static inline sio_server_t *sio_conn_server(const sio_conn_t *c) { return c->tcp.data; }

/* Registers a route (borrowed: it must live until on_free). SIO_EEXIST for a path another route
 * of the same kind (engine or static) has; an engine and a static mount may share one. */
int sio_server_add_route(sio_server_t *s, sio_route_t *r);
uint64_t sio_server_now_ms(const sio_server_t *s);
/* The server's log callback (NULL: none) and its argument (log.c). */
void sio__server_log_sink(const sio_server_t *s, sio_log_cb *cb, void **arg);
/* The handler route covering the request's path (longest prefix first), or NULL. */
sio_route_t *sio_server_find_handler(sio_server_t *s, const sio_http_request_t *req);
/* Raises the largest request body the server's parsers accept (routes check their own limit). */
void sio_server_set_max_body(sio_server_t *s, size_t max_body);
/* Asks for the routes' on_check in this loop iteration (without blocking in poll first). */
void sio_server_wake(sio_server_t *s);
/* Metrics (sio_io_stats): adds the server's TLS and permessage-deflate counters to *out. */
void sio__server_stats(const sio_server_t *s, sio_stats_t *out);

/* Queues a complete HTTP response (head built here, body copied). Returns 0 or SIO_ENOMEM.
 * `extra_headers`: preformatted lines each ending in \r\n, or NULL. Unparks the connection and
 * resumes parsing pipelined requests, or closes it when the request was not keep-alive. */
int sio_conn_respond(sio_conn_t *c, int status, const char *content_type, const char *extra_headers,
                     const void *body, size_t body_len);
/* The same, where the body is already a shared buffer (consumed: one reference passes in). */
int sio_conn_respond_rb(sio_conn_t *c, int status, const char *content_type,
                        const char *extra_headers, sio_rbuf_t *body);
/* The answer to a HEAD request: the head alone, announcing `content_length` body bytes that are
 * not sent (what the same GET would carry). Otherwise as sio_conn_respond(). */
int sio_conn_respond_head(sio_conn_t *c, int status, const char *content_type,
                          const char *extra_headers, uint64_t content_length);
/* Parks the connection on its current request (a long-poll) with an owner notified if it closes. */
void sio_conn_park(sio_conn_t *c, const sio_conn_owner_vt_t *vt, void *owner);
/* Answers the upgrade request with 101 Switching Protocols and turns the connection into a
 * WebSocket owned by (vt, owner); input after the request head is parsed as frames. */
int sio_conn_accept_ws(sio_conn_t *c, const sio_http_request_t *req, size_t max_message,
                       const sio_conn_owner_vt_t *vt, void *owner);
/* The same, with `extra_headers` (lines each ending in \r\n, or NULL) in the 101. An upgrade
 * request may also be answered later: the route parks the connection in on_upgrade (c->parked,
 * with an owner told if it closes), then calls this or sio_conn_respond() (an error, then close). */
int sio_conn_accept_ws_with(sio_conn_t *c, const sio_http_request_t *req, size_t max_message,
                            const sio_conn_owner_vt_t *vt, void *owner, const char *extra_headers);
/* The same, also accepting the client's permessage-deflate offer (when it makes one we can
 * honour) if `deflate` is non-zero: the 101 then carries the agreed parameters and c->ws.pmd says
 * what they are (see websocket/ws.h). */
int sio_conn_accept_ws_deflate(sio_conn_t *c, const sio_http_request_t *req, size_t max_message,
                               int deflate, const sio_conn_owner_vt_t *vt, void *owner,
                               const char *extra_headers);
/* The server's shared zlib streams for permessage-deflate (created on first use; NULL: ENOMEM). */
sio_ws_zlib_t *sio_server_zlib(sio_server_t *s);
/* Queues bytes inside rb (a reference is taken; the caller keeps its own). */
int sio_conn_write_rb(sio_conn_t *c, sio_rbuf_t *rb, const char *p, size_t len);
int sio_conn_write_copy(sio_conn_t *c, const void *p, size_t len);
/* Writes what is queued now, then holds later writes back for `ms` milliseconds. Some clients
 * (Node's ws before 8.17, which the official test suites use) lose a frame that arrives in the same
 * read as the 101 response or as a frame they answer by adding a listener; a short gap after a
 * handshake keeps the next frame in a read of its own. */
void sio_conn_hold(sio_conn_t *c, uint32_t ms);
/* Bytes queued or in flight. */
static inline size_t sio_conn_buffered(const sio_conn_t *c) {
  return c->wq_bytes + c->inflight_bytes;
}

/* Backpressure. A peer that sends without reading (50,000 WebSocket pings, messages whose answers
 * queue, pipelined requests) would make the server hold every reply in memory. So input is parsed
 * only while what is unwritten for the connection costs less than SIO_CONN_HIGH_WATER: past it,
 * parsing stops where it is (the rest of that read is kept, at most one read's worth) and the
 * connection is no longer read, so that TCP flow control pushes back on the sender; reading and
 * parsing resume once the cost is down to SIO_CONN_LOW_WATER. The cost counts each queued piece
 * at SIO_CONN_PIECE_COST besides its bytes, since a flood of two-byte pongs costs memory too.
 * Output that is not a reply (broadcasts to a stalled reader) is bounded by the engine's
 * max_buffered instead. Other connections are never slowed. */
#define SIO_CONN_HIGH_WATER (256 * 1024)
#define SIO_CONN_LOW_WATER (64 * 1024)
#define SIO_CONN_PIECE_COST 64
static inline size_t sio_conn_cost(const sio_conn_t *c) {
  return c->wq_bytes + c->inflight_bytes + SIO_CONN_PIECE_COST * ((size_t)c->wq_len + c->inflight_pieces);
}
/* Closes: graceful (after queued writes, e.g. a close frame or an error response) or at once. An
 * owner still attached is told through its on_close when the connection really closes; an owner
 * that closes its own connection detaches first (sio_conn_detach), since it already knows.
 * A graceful close stops processing input at once but goes on reading it, and drops it, while the
 * queue is written (SIO_LINGER_MS at most), then shuts the write side down and drains input until
 * the peer closes (SIO_DRAIN_MS at most): closing a socket with unread input sends a reset, which
 * makes the peer drop what it had not read yet — the very close frame or response it needs, when it
 * is still sending (a message over max payload, a flood). */
void sio_conn_close(sio_conn_t *c, int graceful);
void sio_conn_detach(sio_conn_t *c);
static inline void sio_conn_set_owner(sio_conn_t *c, const sio_conn_owner_vt_t *vt, void *owner) {
  c->owner_vt = vt;
  c->owner = owner;
}
/* Workers (sio_server_set_workers): when `sid` (20 characters) names another worker of the
 * server's group, hands the connection with the request (and whatever follows it) to that worker,
 * which answers it: returns 1, and the route answers nothing (the connection is parked until it
 * leaves, from the loop's check phase). 0: the request is this worker's to answer (its own sid, or
 * one naming no worker of the group: "Session ID unknown"). */
int sio__conn_handoff(sio_conn_t *c, const sio_http_request_t *req, const char *sid);
/* "127.0.0.1" of the peer into out. */
void sio_conn_peer(const sio_conn_t *c, char *out, size_t outsz);

#endif
