/* The HTTP server: listener, connections, request dispatch, batched writes, timeouts. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "opts.h"
#include "transport.h"
#include "transport/log.h"
#include "transport/tls.h"
#include "fail.h"
#include "worker/workers.h"

/* Big enough that a 64 KiB WebSocket message (a common binary size) usually arrives whole and is
 * used in place, without being stashed. One buffer per server, not per connection. */
#define SIO_READ_BUF_SIZE (256 * 1024)
#define SIO_MAX_ROUTES 16
#define SIO_IOV_BATCH 256
#define SIO_SWEEP_MS 1000
#define SIO_LINGER_MS 5000     /* a graceful close waits this long for the peer to take our bytes */
#define SIO_DRAIN_MS 2000      /* then this long for the peer to close after our FIN */
#define SIO_SHUTDOWN_MS 2000
#define SIO_HANDSHAKE_GAP_MS 2 /* see sio_conn_hold */   /* server close: connections still open after this are cut */
/* Plaintext decrypted from one read is handed up in pieces of this size (a few TLS records). */
#define SIO_TLS_PLAIN_SIZE (64 * 1024)
/* Plaintext encrypted per pass before its ciphertext is handed to the socket. */
#define SIO_TLS_WRITE_BATCH (64 * 1024)

/* A listening socket; TLS when ctx is set (a reference the listener holds; connections hold
 * their own through their SSL, so that a reload can swap it under them). */
typedef struct sio_listener {
  uv_tcp_t tcp; /* first: the handle's address is the listener's */
  sio_server_t *server;
  struct sio_listener *next;
  sio_ssl_ctx_t *ctx;
  sio_tls_options_t tls; /* the files, owned copies (for sio_server_tls_reload) */
} sio_listener_t;

#define SIO_PARSER_CACHE 256
#define SIO_PARSER_CACHE_BYTES 4096 /* a parser with more buffer storage than this is freed */

struct sio_server_s {
  sio__log_head_t log; /* first: SIO_DEBUG reads it inline (log.h) */
  int instr_ios;       /* instrumented ios (SIO__WATCH_INSTR while non-zero) */
  uv_loop_t *loop;
  sio_server_options_t opts;
  sio_listener_t *listeners; /* the one added last first */
  /* Parsers of finished handshakes (a connection's parser goes once it is a WebSocket), kept for
   * the next connections instead of freed: a freed parser's chunk, split later by a smaller
   * long-lived struct (a session), left a hole per connection that nothing reused (~80 bytes of
   * RSS per idle connection). Bounded in count and in the buffer storage each keeps. */
  sio_http_parser_t *parsers[SIO_PARSER_CACHE];
  unsigned nparsers;
  uv_check_t check;  /* flushes writes after the loop's I/O callbacks */
  uv_idle_t idle;    /* keeps the loop from blocking in poll while writes wait for the check */
  uv_timer_t sweep;  /* idle/slow-request timeouts */
  uv_timer_t force;  /* cuts connections that outlive a shutdown */
  sio_route_t *routes[SIO_MAX_ROUTES];
  size_t nroutes;
  sio_route_t *handlers[SIO_MAX_ROUTES]; /* sio_server_handler's, the longest prefix first */
  size_t nhandlers;
  int root_engine; /* an engine is at "/": it serves every path, so static mounts are never tried */
  size_t max_body;
  sio_conn_t *conns; /* doubly linked list of every connection */
  size_t nconns;
  sio_conn_t *dirty; /* singly linked: connections with writes or pipelined input pending */
  int listening;
  int closing;
  int handles_open;
  int woken;
  sio_server_close_cb close_cb;
  void *data;
  int log_level; /* sio_server_set_log's */
  sio_log_cb log_cb;
  void *log_arg;
  /* One read buffer for every connection: reads are consumed before the next one starts (input is
   * parsed at once and only unparsed tails are copied), so an idle connection holds no buffer. */
  char readbuf[SIO_READ_BUF_SIZE];
  /* permessage-deflate's zlib streams, shared by every connection (created on first use). */
  sio_ws_zlib_t *zlib;
  /* TLS only (allocated by the first TLS listener): decrypted input, and the ciphertext that one
   * operation produced, on its way to the socket. Shared like readbuf. */
  char *tls_plain;
  sio_sbuf_t tls_out;
  /* Metrics (sio_io_stats): plain counters, the loop being the only thread. */
  uint64_t tls_ok, tls_failed, deflate;
  /* sio_server_set_workers: the group (NULL: alone), this worker's index, the server's position
   * among the worker's servers (a hand-off goes to the owner's server in the same position). */
  sio_workers_t *workers;
  const atomic_int *congestion; /* the group's (sio__workers_congestion); NULL without workers */
  uint8_t worker_index, worker_slot;
};

static void conn_close_now(sio_conn_t *c, int err);
static void conn_process_input(sio_conn_t *c, char *data, size_t len);
static void conn_read_start(sio_conn_t *c);
static void maybe_finish_close(sio_server_t *s);
static void server_handle_done(sio_server_t *s);

/* ---------------------------------------------------------------------------------------------- */

void sio_server_options_init(sio_server_options_t *o) {
  memset(o, 0, sizeof *o);
  o->size = sizeof *o;
  o->max_header_size = 16384;
  o->headers_timeout_ms = 10000;
  o->request_timeout_ms = 30000;
  o->keep_alive_timeout_ms = 5000;
}

uint64_t sio_server_now_ms(const sio_server_t *s) { return uv_now(s->loop); }
void *sio_server_get_data(const sio_server_t *s) { return s->data; }
void sio_server_set_data(sio_server_t *s, void *data) { s->data = data; }
uv_loop_t *sio_server_loop(const sio_server_t *s) { return s->loop; }

void sio_server_set_log(sio_server_t *s, int level, sio_log_cb cb, void *arg) {
  s->log_level = cb ? level : -1;
  s->log_cb = cb;
  s->log_arg = arg;
}

void sio_server_set_debug(sio_server_t *s, unsigned mask) {
  s->log.debug = (s->log.debug & ~(unsigned)SIO_DEBUG_ALL) | (mask & SIO_DEBUG_ALL);
}
unsigned sio_server_debug(const sio_server_t *s) { return s->log.debug & SIO_DEBUG_ALL; }

void sio__server_watch_instr(sio_server_t *s, int delta) {
  s->instr_ios += delta;
  if (s->instr_ios) s->log.debug |= SIO__WATCH_INSTR;
  else s->log.debug &= ~SIO__WATCH_INSTR;
}

int sio__log_enabled(const sio_server_t *s, int level) { return s && level <= s->log_level; }

void sio__server_log_sink(const sio_server_t *s, sio_log_cb *cb, void **arg) {
  *cb = s->log_cb;
  *arg = s->log_arg;
}

static void on_check(uv_check_t *h);
static void on_idle(uv_idle_t *h) { (void)h; }
static void on_sweep(uv_timer_t *t);

int sio_server_new(uv_loop_t *loop, const sio_server_options_t *opts, sio_server_t **out) {
  sio__error_clear();
  if (!loop || !out) return SIO_EINVAL;
  sio_server_t *s = calloc(1, sizeof *s);
  if (!s) return SIO_ENOMEM;
  s->loop = loop;
  sio_server_set_log(s, SIO_LOG_WARN, sio_log_stderr, NULL);
  /* Read once per server: a bad list is ignored as a whole (with a line saying so), never fatal. */
  const char *env = getenv("SIO_DEBUG");
  unsigned dbg = 0;
  if (env && *env && sio_debug_parse(env, &dbg))
    sio__log(s, SIO_LOG_WARN, "debug",
             "SIO_DEBUG=%s: unknown category (engine, socket, nsp, adapter, redis, http or *)", env);
  s->log.debug = dbg;
  sio_server_options_init(&s->opts);
  if (opts && SIO_TAKE_OPTIONS(&s->opts, opts, "sio_server_options")) {
    free(s);
    return SIO_EINVAL;
  }
  if (!s->opts.max_header_size) s->opts.max_header_size = 16384;
  uv_check_init(loop, &s->check);
  s->check.data = s;
  uv_check_start(&s->check, on_check);
  uv_unref((uv_handle_t *)&s->check);
  uv_idle_init(loop, &s->idle);
  s->idle.data = s;
  uv_timer_init(loop, &s->sweep);
  s->sweep.data = s;
  uv_timer_start(&s->sweep, on_sweep, SIO_SWEEP_MS, SIO_SWEEP_MS);
  uv_unref((uv_handle_t *)&s->sweep);
  uv_timer_init(loop, &s->force);
  s->force.data = s;
  s->handles_open = 4;
  *out = s;
  return 0;
}

/* Whether route a is tried before route b: the longest path first, so that "/" only gets what no
 * other route claims, and an engine before a static mount at the same path. */
static int route_before(const sio_route_t *a, const sio_route_t *b) {
  if (a->path_len != b->path_len) return a->path_len > b->path_len;
  return !a->is_static && b->is_static;
}

static int add_handler(sio_server_t *s, sio_route_t *r) {
  if (s->nhandlers == SIO_MAX_ROUTES) return SIO_ENOMEM;
  for (size_t i = 0; i < s->nhandlers; i++)
    if (strcmp(s->handlers[i]->path, r->path) == 0) return SIO_EEXIST;
  size_t i = s->nhandlers++;
  while (i > 0 && r->path_len > s->handlers[i - 1]->path_len) {
    s->handlers[i] = s->handlers[i - 1];
    i--;
  }
  s->handlers[i] = r;
  return 0;
}

int sio_server_add_route(sio_server_t *s, sio_route_t *r) {
  if (r->is_handler) return add_handler(s, r);
  if (s->nroutes == SIO_MAX_ROUTES) return SIO_ENOMEM;
  for (size_t i = 0; i < s->nroutes; i++)
    if (s->routes[i]->is_static == r->is_static && strcmp(s->routes[i]->path, r->path) == 0)
      return SIO_EEXIST;
  size_t i = s->nroutes++;
  while (i > 0 && route_before(r, s->routes[i - 1])) {
    s->routes[i] = s->routes[i - 1];
    i--;
  }
  s->routes[i] = r;
  if (!r->is_static && r->path_len == 1) s->root_engine = 1;
  return 0;
}

void sio_server_set_max_body(sio_server_t *s, size_t max_body) {
  if (max_body > s->max_body) s->max_body = max_body;
}

/* ---------------------------------------------------------------------------------------------- */
/* Writes                                                                                          */

typedef struct wreq {
  uv_write_t req;
  sio_conn_t *conn;
  size_t bytes;
  uint32_t n;
  sio_rbuf_t *bufs[];
} wreq_t;

void sio_server_wake(sio_server_t *s) {
  if (s->woken) return;
  s->woken = 1;
  uv_idle_start(&s->idle, on_idle);
}

static void mark_dirty(sio_conn_t *c) {
  if (c->dirty) return;
  c->dirty = 1;
  sio_server_t *s = sio_conn_server(c);
  if (!s->dirty) uv_idle_start(&s->idle, on_idle);
  c->dirty_next = s->dirty;
  s->dirty = c;
}

int sio_conn_write_rb(sio_conn_t *c, sio_rbuf_t *rb, const char *p, size_t len) {
  if (c->closing) return SIO_ECLOSED;
  if (len == 0) return 0;
  if (c->wq_len == c->wq_cap) {
    uint32_t cap = c->wq_cap ? c->wq_cap * 2 : 4;
    sio_wentry_t *wq = realloc(c->wq, cap * sizeof *wq);
    if (!wq) return SIO_ENOMEM;
    c->wq = wq;
    c->wq_cap = cap;
  }
  c->wq[c->wq_len++] = (sio_wentry_t){sio_rbuf_ref(rb), p, len};
  c->wq_bytes += len;
  mark_dirty(c);
  return 0;
}

int sio_conn_write_copy(sio_conn_t *c, const void *p, size_t len) {
  sio_rbuf_t *rb = sio_rbuf_copy(p, len);
  if (!rb) return SIO_ENOMEM;
  int r = sio_conn_write_rb(c, rb, rb->data, len);
  sio_rbuf_unref(rb);
  return r;
}

static void on_shutdown(uv_shutdown_t *req, int status) {
  (void)status; /* a failure or a cancel (the connection closing) leaves nothing to do */
  free(req);
}

/* Everything is written: FIN, then read until the peer closes too (or the sweep's deadline). */
static int tls_send(sio_conn_t *c);

static void maybe_close_after_write(sio_conn_t *c) {
  if (!c->close_after_write || c->closing || c->draining || c->wq_len || c->inflight_bytes) return;
  if (c->tls) {
    /* close_notify before the FIN, so that the peer knows nothing was cut off. */
    sio__tls_close_notify(c->tls);
    if (tls_send(c) || c->inflight_bytes) return; /* back here once it is written */
  }
  uv_shutdown_t *req = malloc(sizeof *req);
  if (!req || !c->reading || uv_shutdown(req, (uv_stream_t *)&c->tcp, on_shutdown) != 0) {
    free(req);
    conn_close_now(c, 0);
    return;
  }
  c->draining = 1;
  c->active_ms = uv_now(sio_conn_server(c)->loop);
}

static void after_write(uv_write_t *req, int status) {
  wreq_t *w = (wreq_t *)req;
  sio_conn_t *c = w->conn;
  for (uint32_t i = 0; i < w->n; i++) sio_rbuf_unref(w->bufs[i]);
  c->inflight_bytes -= w->bytes;
  c->inflight_pieces -= w->n;
  free(w);
  if (status < 0) {
    conn_close_now(c, status);
    return;
  }
  if (c->paused) mark_dirty(c); /* the check resumes it once the queue is low */
  maybe_close_after_write(c);
}

/* Drops the first `n` written bytes from the queue. */
static void wq_advance(sio_conn_t *c, size_t n) {
  uint32_t i = 0;
  c->wq_bytes -= n;
  while (n > 0 && i < c->wq_len) {
    sio_wentry_t *e = &c->wq[i];
    if (n >= e->len) {
      n -= e->len;
      sio_rbuf_unref(e->rb);
      i++;
    } else {
      e->p += n;
      e->len -= n;
      n = 0;
    }
  }
  if (i) {
    memmove(c->wq, c->wq + i, (c->wq_len - i) * sizeof *c->wq);
    c->wq_len -= i;
  }
}

static void tls_flush(sio_conn_t *c);

static void conn_flush(sio_conn_t *c) {
  if (c->held) return;
  if (c->tls) {
    tls_flush(c);
    return;
  }
  while (c->wq_len && !c->closing) {
    uv_buf_t iov[SIO_IOV_BATCH];
    uint32_t n = c->wq_len < SIO_IOV_BATCH ? c->wq_len : SIO_IOV_BATCH;
    size_t bytes = 0;
    for (uint32_t i = 0; i < n; i++) {
      iov[i] = uv_buf_init((char *)c->wq[i].p, (unsigned)c->wq[i].len);
      bytes += c->wq[i].len;
    }
    uv_stream_t *st = (uv_stream_t *)&c->tcp;
    if (c->inflight_bytes == 0) {
      int r = uv_try_write(st, iov, n);
      if (r < 0 && r != UV_EAGAIN) {
        conn_close_now(c, r);
        return;
      }
      if (r > 0) {
        wq_advance(c, (size_t)r);
        if ((size_t)r == bytes) continue;
        /* The kernel buffer is full: queue the rest behind one write request. */
        n = c->wq_len < SIO_IOV_BATCH ? c->wq_len : SIO_IOV_BATCH;
        bytes = 0;
        for (uint32_t i = 0; i < n; i++) {
          iov[i] = uv_buf_init((char *)c->wq[i].p, (unsigned)c->wq[i].len);
          bytes += c->wq[i].len;
        }
      }
    }
    wreq_t *w = malloc(sizeof *w + n * sizeof(sio_rbuf_t *));
    if (!w) {
      conn_close_now(c, SIO_ENOMEM);
      return;
    }
    w->conn = c;
    w->n = n;
    w->bytes = bytes;
    for (uint32_t i = 0; i < n; i++) w->bufs[i] = c->wq[i].rb; /* the queue's references move */
    int r = uv_write(&w->req, st, iov, n, after_write);
    if (r < 0) {
      for (uint32_t i = 0; i < n; i++) sio_rbuf_ref(w->bufs[i]);
      free(w);
      conn_close_now(c, r);
      return;
    }
    memmove(c->wq, c->wq + n, (c->wq_len - n) * sizeof *c->wq);
    c->wq_len -= n;
    c->wq_bytes -= bytes;
    c->inflight_bytes += bytes;
    c->inflight_pieces += n;
  }
  /* An idle connection keeps no queue array (most of them are idle most of the time). */
  if (c->wq_len == 0 && c->wq) {
    free(c->wq);
    c->wq = NULL;
    c->wq_cap = 0;
  }
  maybe_close_after_write(c);
}

/* ---------------------------------------------------------------------------------------------- */
/* TLS: the queue's plaintext is encrypted on its way out, the input decrypted on its way in.      */

/* Hands the ciphertext gathered in s->tls_out to the socket: what the kernel takes now is done,
 * the rest is copied into one write request. 0, or -1 when the connection was closed. */
static void release_hold(sio_conn_t *c);

static int tls_send(sio_conn_t *c) {
  sio_sbuf_t *out = &sio_conn_server(c)->tls_out;
  const char *p = out->data;
  size_t len = out->len;
  out->len = 0;
  if (!len) return 0;
  uv_stream_t *st = (uv_stream_t *)&c->tcp;
  if (c->inflight_bytes == 0) {
    uv_buf_t b = uv_buf_init((char *)p, (unsigned)len);
    int r = uv_try_write(st, &b, 1);
    if (r < 0 && r != UV_EAGAIN) {
      conn_close_now(c, r);
      return -1;
    }
    if (r > 0) {
      p += r;
      len -= (size_t)r;
      if (!len) return 0;
    }
  }
  sio_rbuf_t *rb = sio_rbuf_copy(p, len);
  wreq_t *w = rb ? malloc(sizeof *w + sizeof(sio_rbuf_t *)) : NULL;
  if (!w) {
    if (rb) sio_rbuf_unref(rb);
    conn_close_now(c, SIO_ENOMEM);
    return -1;
  }
  w->conn = c;
  w->n = 1;
  w->bytes = len;
  w->bufs[0] = rb;
  uv_buf_t b = uv_buf_init(rb->data, (unsigned)len);
  int r = uv_write(&w->req, st, &b, 1, after_write);
  if (r < 0) {
    sio_rbuf_unref(rb);
    free(w);
    conn_close_now(c, r);
    return -1;
  }
  c->inflight_bytes += len;
  c->inflight_pieces++;
  return 0;
}

/* conn_flush for TLS: the queue is encrypted in batches (its bytes become in-flight ciphertext,
 * so the backpressure cost stays about the same); nothing goes out before the handshake ends. */
static void tls_flush(sio_conn_t *c) {
  sio_server_t *s = sio_conn_server(c);
  if (!sio__tls_ready(c->tls)) return;
  while (c->wq_len && !c->closing) {
    size_t done = 0;
    while (c->wq_len && done < SIO_TLS_WRITE_BATCH) {
      size_t n = c->wq[0].len;
      if (sio__tls_write(c->tls, c->wq[0].p, n)) {
        s->tls_out.len = 0;
        conn_close_now(c, SIO_ETLS);
        return;
      }
      wq_advance(c, n);
      done += n;
    }
    if (tls_send(c)) return;
  }
  if (c->wq_len == 0 && c->wq) {
    free(c->wq);
    c->wq = NULL;
    c->wq_cap = 0;
  }
  maybe_close_after_write(c);
}

/* Ciphertext from the socket: the handshake first (during which the connection counts as silent,
 * so that the headers timeout runs from accept), then plaintext to conn_process_input. */
static void tls_on_read(sio_conn_t *c, const char *data, size_t len) {
  sio_server_t *s = sio_conn_server(c);
  sio__tls_begin(c->tls, data, len);
  if (!sio__tls_ready(c->tls)) {
    int r = sio__tls_handshake(c->tls);
    if (tls_send(c)) return;
    if (r < 0) {
      s->tls_failed++;
      conn_close_now(c, SIO_ETLS); /* not TLS, or a failed handshake: its alert went out */
      return;
    }
    if (r == 0) return;
    s->tls_ok++;
    mark_dirty(c); /* a response queued during the handshake can go now */
  }
  c->active_ms = uv_now(s->loop);
  if (c->held) release_hold(c);
  for (;;) {
    size_t got;
    int r = sio__tls_read(c->tls, s->tls_plain, SIO_TLS_PLAIN_SIZE, &got);
    if (tls_send(c)) return; /* post-handshake messages (tickets, key updates) */
    if (got) {
      conn_process_input(c, s->tls_plain, got);
      if (c->closing) return;
      /* The rest of the input still gets decrypted, and is dropped or kept as a plain read's
       * would be (at most one read's worth). */
      continue;
    }
    if (r) conn_close_now(c, r == 1 ? 0 : SIO_ETLS); /* close_notify is the peer's EOF */
    return;
  }
}

static void hold_timer_free(uv_handle_t *h) { free(h); }

static void on_hold_done(uv_timer_t *t) {
  sio_conn_t *c = t->data;
  c->held = 0;
  uv_close((uv_handle_t *)t, hold_timer_free);
  c->hold_timer = NULL;
  mark_dirty(c);
}

/* The peer has spoken, so it has read what came before: no need to wait any longer. */
static void release_hold(sio_conn_t *c) {
  if (c->hold_timer) on_hold_done(c->hold_timer);
}

void sio_conn_hold(sio_conn_t *c, uint32_t ms) {
  if (c->closing || c->held || ms == 0) return;
  conn_flush(c);
  if (c->closing) return;
  c->hold_timer = malloc(sizeof *c->hold_timer);
  if (!c->hold_timer) return;
  uv_timer_init(sio_conn_server(c)->loop, c->hold_timer);
  c->hold_timer->data = c;
  uv_timer_start(c->hold_timer, on_hold_done, ms, 0);
  c->held = 1;
}

static void conn_handoff_now(sio_conn_t *c);

static void on_check(uv_check_t *h) {
  sio_server_t *s = h->data;
  /* Route hooks and flushing can run handlers (pipelined requests) that dirty more connections or
   * wake the routes again: loop until everything is settled. */
  while (s->woken || s->dirty) {
    if (s->woken) {
      s->woken = 0;
      for (size_t i = 0; i < s->nroutes; i++)
        if (s->routes[i]->on_check) s->routes[i]->on_check(s->routes[i]);
    }
    sio_conn_t *list = s->dirty;
    s->dirty = NULL;
    while (list) {
      sio_conn_t *c = list;
      list = c->dirty_next;
      c->dirty = 0;
      c->dirty_next = NULL;
      if (c->closing) continue;
      if (c->handoff && !c->close_after_write) {
        conn_handoff_now(c);
        continue;
      }
      conn_flush(c);
      if (c->paused && !c->throttled && sio_conn_cost(c) <= SIO_CONN_LOW_WATER && !c->closing) c->paused = 0;
      /* Input kept behind a long-poll now answered, or behind a queue now written. */
      if (!c->closing && !c->paused && !c->close_after_write && c->in &&
          (c->mode == SIO_CONN_WS || !c->parked)) {
        sio_sbuf_t *in = c->in;
        c->in = NULL;
        conn_process_input(c, in->data, in->len);
        sio_sbuf_free(in);
        free(in);
      }
      if (!c->closing && !c->paused && !c->reading && !c->close_after_write) conn_read_start(c);
    }
  }
  uv_idle_stop(&s->idle);
}

/* ---------------------------------------------------------------------------------------------- */
/* Connections                                                                                     */

static int on_http_request(sio_http_parser_t *p, const sio_http_request_t *req);

/* A parser for c: one from the cache, or a new one. NULL on ENOMEM. */
static sio_http_parser_t *parser_get(sio_server_t *s, sio_conn_t *c) {
  size_t max_body = s->max_body ? s->max_body : 1000000;
  if (!s->nparsers) return sio_http_parser_new(s->opts.max_header_size, max_body, on_http_request, c);
  sio_http_parser_t *p = s->parsers[--s->nparsers];
  sio_http_parser_reset(p, s->opts.max_header_size, max_body, on_http_request, c);
  return p;
}

/* c's parser is done with (c is a WebSocket now, or closed): into the cache, or freed. */
static void parser_put(sio_conn_t *c) {
  sio_server_t *s = sio_conn_server(c);
  sio_http_parser_t *p = c->http;
  c->http = NULL;
  if (!p) return;
  if (s->nparsers < SIO_PARSER_CACHE && sio_http_parser_footprint(p) <= SIO_PARSER_CACHE_BYTES)
    s->parsers[s->nparsers++] = p;
  else
    sio_http_parser_free(p);
}

static void on_conn_closed(uv_handle_t *h) {
  sio_conn_t *c = (sio_conn_t *)h;
  sio_server_t *s = sio_conn_server(c);
  if (c->prev) c->prev->next = c->next;
  else s->conns = c->next;
  if (c->next) c->next->prev = c->prev;
  s->nconns--;
  /* A dirty connection is skipped by the check once closing; unlink it so the list stays valid. */
  if (c->dirty) {
    sio_conn_t **pp = &s->dirty;
    while (*pp && *pp != c) pp = &(*pp)->dirty_next;
    if (*pp) *pp = c->dirty_next;
  }
  for (uint32_t i = 0; i < c->wq_len; i++) sio_rbuf_unref(c->wq[i].rb);
  free(c->wq);
  parser_put(c);
  if (c->mode == SIO_CONN_WS) sio_ws_parser_free(&c->ws);
  else free(c->debug_req); /* the union's other side (transport.h) */
  if (c->in) sio_sbuf_free(c->in);
  free(c->in);
  sio__tls_free(c->tls);
  free(c);
  maybe_finish_close(s);
}

static void conn_close_now(sio_conn_t *c, int err) {
  if (c->closing) return;
  c->closing = 1;
  const sio_conn_owner_vt_t *vt = c->owner_vt;
  void *owner = c->owner;
  c->owner_vt = NULL;
  c->owner = NULL;
  if (c->hold_timer) {
    uv_close((uv_handle_t *)c->hold_timer, hold_timer_free);
    c->hold_timer = NULL;
    c->held = 0;
  }
  if (vt && vt->on_close) vt->on_close(owner, c, err);
  uv_close((uv_handle_t *)&c->tcp, on_conn_closed);
}

void sio_conn_detach(sio_conn_t *c) {
  c->owner_vt = NULL;
  c->owner = NULL;
}

void sio_conn_close(sio_conn_t *c, int graceful) {
  if (c->closing) return;
  if (!graceful) {
    conn_close_now(c, 0);
    return;
  }
  if (c->close_after_write) return;
  /* Input is no longer processed (conn_process_input stops), but still read: see transport.h. */
  c->close_after_write = 1;
  c->active_ms = uv_now(sio_conn_server(c)->loop);
  c->paused = 0;
  if (c->in) {
    sio_sbuf_free(c->in);
    free(c->in);
    c->in = NULL;
  }
  if (!c->reading) conn_read_start(c);
  if (!c->closing) mark_dirty(c);
}

void sio_conn_peer(const sio_conn_t *c, char *out, size_t outsz) {
  struct sockaddr_storage ss;
  int len = sizeof ss;
  out[0] = '\0';
  if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&ss, &len) != 0) return;
  if (ss.ss_family == AF_INET) uv_ip4_name((struct sockaddr_in *)&ss, out, outsz);
  else if (ss.ss_family == AF_INET6) uv_ip6_name((struct sockaddr_in6 *)&ss, out, outsz);
}

void sio_conn_park(sio_conn_t *c, const sio_conn_owner_vt_t *vt, void *owner) {
  c->parked = 1;
  c->owner_vt = vt;
  c->owner = owner;
}

/* Debug category http: one line per request, when its answer goes out. */
static void debug_request(sio_conn_t *c, const sio_http_request_t *req) {
  free(c->debug_req);
  size_t n = req->path_len > 200 ? 200 : req->path_len; /* the path only: a query may hold a token */
  size_t m = strlen(req->method);
  c->debug_req = malloc(m + 1 + n + 1);
  if (!c->debug_req) return;
  memcpy(c->debug_req, req->method, m);
  c->debug_req[m] = ' ';
  memcpy(c->debug_req + m + 1, req->path, n);
  c->debug_req[m + 1 + n] = '\0';
}

static void debug_response(sio_conn_t *c, int status, long clen) {
  char peer[64];
  sio_conn_peer(c, peer, sizeof peer);
  if (clen >= 0)
    sio__debug(sio_conn_server(c), SIO_DEBUG_HTTP, "%s -> %d (%ld bytes, peer %s%s)", c->debug_req,
               status, clen, peer, c->tls ? ", tls" : "");
  else
    sio__debug(sio_conn_server(c), SIO_DEBUG_HTTP, "%s -> %d (peer %s%s)", c->debug_req, status,
               peer, c->tls ? ", tls" : "");
  free(c->debug_req);
  c->debug_req = NULL;
}

/* The head with Content-Length `clen` (-1: none), then `body` when not NULL (consumed). */
static int respond(sio_conn_t *c, int status, const char *content_type, const char *extra_headers,
                   long clen, sio_rbuf_t *body) {
  if (c->closing) {
    sio_rbuf_unref(body);
    return SIO_ECLOSED;
  }
  int keep = c->keep_alive && !sio_conn_server(c)->closing && status != 413 && status != 431;
  if (c->mode == SIO_CONN_HTTP && c->debug_req) debug_response(c, status, clen);
  sio_sbuf_t head = SIO_SBUF_INIT;
  int r = sio_http_write_head(&head, status, content_type, clen, keep, extra_headers);
  if (r == 0) r = sio_conn_write_copy(c, head.data, head.len);
  sio_sbuf_free(&head);
  if (r == 0 && body && body->len) r = sio_conn_write_rb(c, body, body->data, body->len);
  sio_rbuf_unref(body);
  if (c->parked) {
    c->parked = 0;
    sio_conn_detach(c);
    if (c->http) sio_http_parser_resume(c->http);
  }
  c->active_ms = uv_now(sio_conn_server(c)->loop);
  if (r != 0 || !keep) sio_conn_close(c, 1);
  else mark_dirty(c); /* also resumes pipelined input in the check */
  return r;
}

int sio_conn_respond_rb(sio_conn_t *c, int status, const char *content_type,
                        const char *extra_headers, sio_rbuf_t *body) {
  long clen = status == 204 || status == 304 ? -1 : body ? (long)body->len : 0;
  return respond(c, status, content_type, extra_headers, clen, body);
}

int sio_conn_respond_head(sio_conn_t *c, int status, const char *content_type,
                          const char *extra_headers, uint64_t content_length) {
  long clen = status == 204 || status == 304 ? -1 : (long)content_length;
  return respond(c, status, content_type, extra_headers, clen, NULL);
}

int sio_conn_respond(sio_conn_t *c, int status, const char *content_type, const char *extra_headers,
                     const void *body, size_t body_len) {
  sio_rbuf_t *rb = NULL;
  if (body_len) {
    rb = sio_rbuf_copy(body, body_len);
    if (!rb) {
      sio_conn_close(c, 0);
      return SIO_ENOMEM;
    }
  }
  return sio_conn_respond_rb(c, status, content_type, extra_headers, rb);
}

static void respond_error_and_close(sio_conn_t *c, int status) {
  c->keep_alive = 0;
  sio_conn_respond(c, status, NULL, NULL, NULL, 0);
}

/* A request an application's handler holds will not be answered by it (timeout, shutdown): the
 * client gets 503 and the connection closes; the handler is told through its owner's on_close. */
static void conn_abort_app(sio_conn_t *c, int err) {
  const sio_conn_owner_vt_t *vt = c->owner_vt;
  void *owner = c->owner;
  sio_conn_detach(c);
  c->app_req = 0;
  respond_error_and_close(c, 503);
  if (vt && vt->on_close) vt->on_close(owner, c, err);
}

/* ---------------------------------------------------------------------------------------------- */
/* WebSocket mode                                                                                  */

/* Stops reading: see the backpressure note in transport.h. */
static void conn_pause(sio_conn_t *c) {
  c->paused = 1;
  if (c->reading) {
    uv_read_stop((uv_stream_t *)&c->tcp);
    c->reading = 0;
  }
}

int sio__server_congested(const sio_server_t *s) {
  return s->congestion && atomic_load_explicit(s->congestion, memory_order_relaxed);
}

/* Whether a worker's inbox is over its bound: then what a connection sent is the last read from
 * it until sio__server_unthrottle (workers.h), so that a client flooding broadcasts to workers
 * that are behind is held back by TCP instead of growing their inboxes. */
static int conn_throttle(sio_conn_t *c) {
  if (!sio__server_congested(sio_conn_server(c))) return 0;
  c->throttled = 1;
  conn_pause(c);
  return 1;
}

void sio__server_unthrottle(sio_server_t *s) {
  for (sio_conn_t *c = s->conns; c; c = c->next) {
    if (!c->throttled) continue;
    c->throttled = 0;
    mark_dirty(c); /* the check resumes it (its own queue permitting) */
  }
}

/* Whether parsing must stop after a message: closing, or too much unwritten or a worker behind
 * (then paused). */
static int ws_stop(sio_conn_t *c) {
  if (c->closing || c->close_after_write) return 1;
  if (sio_conn_cost(c) <= SIO_CONN_HIGH_WATER) return conn_throttle(c);
  conn_pause(c);
  return 1;
}

static int ws_on_message(void *user, int opcode, char *data, size_t len) {
  sio_conn_t *c = user;
  if (c->owner_vt) c->owner_vt->on_ws_message(c->owner, c, opcode, data, len);
  return ws_stop(c);
}

static void ws_send_close(sio_conn_t *c, int code) {
  uint8_t frame[127];
  size_t n = sio_ws_close_frame(frame, code, NULL);
  sio_conn_write_copy(c, frame, n);
}

static int ws_on_control(void *user, int opcode, char *data, size_t len) {
  sio_conn_t *c = user;
  if (opcode == SIO_WS_OP_PING) {
    uint8_t hdr[14];
    size_t h = sio_ws_frame_header(hdr, SIO_WS_OP_PONG, 1, len, NULL);
    sio_rbuf_t *rb = sio_rbuf_new(h + len);
    if (!rb) return SIO_ENOMEM;
    memcpy(rb->data, hdr, h);
    if (len) memcpy(rb->data + h, data, len);
    sio_conn_write_rb(c, rb, rb->data, rb->len);
    sio_rbuf_unref(rb);
    return ws_stop(c);
  }
  if (opcode == SIO_WS_OP_CLOSE) {
    int code = 1005;
    const char *reason;
    size_t rlen;
    sio_ws_parse_close(data, len, &code, &reason, &rlen);
    const sio_conn_owner_vt_t *vt = c->owner_vt;
    void *owner = c->owner;
    sio_conn_detach(c);
    ws_send_close(c, code == 1005 ? 0 : code);
    sio_conn_close(c, 1);
    if (vt && vt->on_close) vt->on_close(owner, c, 0);
    return 1;
  }
  return 0; /* PONG: nothing to do, Engine.IO has its own heartbeat */
}

/* The server's shared streams, for a deflated message (the parser keeps no pointer to them). */
static sio_ws_zlib_t *ws_zlib(void *user) { return sio_conn_server(user)->zlib; }

static const sio_ws_callbacks_t ws_callbacks = {ws_on_message, ws_on_control, ws_zlib};

static int conn_keep_input(sio_conn_t *c, const char *data, size_t len);

static void feed_ws(sio_conn_t *c, char *data, size_t len) {
  size_t used;
  int r = sio_ws_parser_execute(&c->ws, &ws_callbacks, c, data, len, &used);
  if (r > 0 && c->paused && !c->closing && !c->close_after_write)
    conn_keep_input(c, data + used, len - used); /* parsed once the queue is low again */
  if (r >= 0 || c->closing) return;
  const sio_conn_owner_vt_t *vt = c->owner_vt;
  void *owner = c->owner;
  sio_conn_detach(c);
  ws_send_close(c, c->ws.close_code ? c->ws.close_code : 1002);
  sio_conn_close(c, 1);
  if (vt && vt->on_close) vt->on_close(owner, c, r);
}

sio_ws_zlib_t *sio_server_zlib(sio_server_t *s) {
  if (!s->zlib) s->zlib = sio_ws_zlib_new();
  return s->zlib;
}

/* The first permessage-deflate offer we can honour, across every Sec-WebSocket-Extensions header
 * in order; 0 when none (or no memory for the streams: the connection goes on uncompressed). */
static int negotiate_deflate(sio_conn_t *c, const sio_http_request_t *req, sio_ws_pmd_t *pmd) {
  for (size_t i = 0; i < req->header_count; i++) {
    const sio_http_header_t *h = &req->headers[i];
    if (h->name_len != 24 || strncasecmp(h->name, "sec-websocket-extensions", 24) != 0) continue;
    if (sio_ws_pmd_negotiate(h->value, h->value_len, pmd))
      return sio_server_zlib(sio_conn_server(c)) != NULL;
  }
  return 0;
}

int sio_conn_accept_ws(sio_conn_t *c, const sio_http_request_t *req, size_t max_message,
                       const sio_conn_owner_vt_t *vt, void *owner) {
  return sio_conn_accept_ws_deflate(c, req, max_message, 0, vt, owner, NULL);
}

int sio_conn_accept_ws_with(sio_conn_t *c, const sio_http_request_t *req, size_t max_message,
                            const sio_conn_owner_vt_t *vt, void *owner, const char *extra_headers) {
  return sio_conn_accept_ws_deflate(c, req, max_message, 0, vt, owner, extra_headers);
}

int sio_conn_accept_ws_deflate(sio_conn_t *c, const sio_http_request_t *req, size_t max_message,
                               int deflate, const sio_conn_owner_vt_t *vt, void *owner,
                               const char *extra_headers) {
  const sio_http_header_t *up = sio_http_find_header(req, "upgrade");
  const sio_http_header_t *conn = sio_http_find_header(req, "connection");
  const sio_http_header_t *ver = sio_http_find_header(req, "sec-websocket-version");
  const sio_http_header_t *key = sio_http_find_header(req, "sec-websocket-key");
  if (strcmp(req->method, "GET") != 0 || !up ||
      !sio_http_header_has_token(up->value, up->value_len, "websocket") || !conn ||
      !sio_http_header_has_token(conn->value, conn->value_len, "upgrade") || !ver ||
      strcmp(ver->value, "13") != 0 || !key)
    return SIO_EPROTO;
  char accept[29];
  if (sio_ws_accept_key(key->value, key->value_len, accept) != 0) return SIO_EPROTO;
  sio_ws_pmd_t pmd = {0, 0, 0};
  char ext[160] = "";
  if (deflate && negotiate_deflate(c, req, &pmd)) sio_ws_pmd_response(&pmd, ext);
  char head[320];
  int n = snprintf(head, sizeof head,
                   "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                   "Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n%s\r\n",
                   accept, ext);
  if (extra_headers) n -= 2; /* the blank line goes after them */
  int r = sio_conn_write_copy(c, head, (size_t)n);
  if (r == 0 && extra_headers) {
    r = sio_conn_write_copy(c, extra_headers, strlen(extra_headers));
    if (r == 0) r = sio_conn_write_copy(c, "\r\n", 2);
  }
  if (r) return r;
  if (c->debug_req) debug_response(c, 101, -1);
  /* A handshake the application answered later (allow_request): the request is no longer
   * parked, and what arrived behind it is WebSocket input, parsed in the next check. */
  if (c->parked) {
    c->parked = 0;
    c->app_req = 0;
    parser_put(c); /* not inside the parser: it returned when the request was parked */
    mark_dirty(c);
  }
  sio_conn_hold(c, SIO_HANDSHAKE_GAP_MS);
  /* The HTTP side of the union is over (transport.h): its debug line was logged above. */
  free(c->debug_req);
  c->debug_req = NULL;
  c->app_req = 0;
  c->req_start_ms = 0;
  c->mode = SIO_CONN_WS;
  sio_ws_parser_init(&c->ws, SIO_WS_ROLE_SERVER, max_message);
  if (pmd.on) {
    sio_ws_parser_set_deflate(&c->ws, &pmd, sio_conn_server(c)->zlib);
    sio_conn_server(c)->deflate++;
  }
  c->owner_vt = vt;
  c->owner = owner;
  return 0;
}

/* ---------------------------------------------------------------------------------------------- */
/* HTTP dispatch                                                                                   */

/* Whether the prefix route r covers the path: "/api/" covers "/api/x" and "/api" itself. */
static int covers(const sio_route_t *r, const sio_http_request_t *req) {
  if (req->path_len >= r->path_len && memcmp(req->path, r->path, r->path_len) == 0) return 1;
  return req->path_len + 1 == r->path_len && memcmp(req->path, r->path, req->path_len) == 0;
}

sio_route_t *sio_server_find_handler(sio_server_t *s, const sio_http_request_t *req) {
  if (s->root_engine || req->upgrade) return NULL;
  for (size_t i = 0; i < s->nhandlers; i++)
    if (covers(s->handlers[i], req)) return s->handlers[i];
  return NULL;
}

static sio_route_t *find_route(sio_server_t *s, const sio_http_request_t *req) {
  for (size_t i = 0; i < s->nroutes; i++) {
    sio_route_t *r = s->routes[i];
    if (r->is_static && (s->root_engine || req->upgrade)) continue;
    if (r->exact) {
      if (req->path_len == r->path_len && memcmp(req->path, r->path, r->path_len) == 0) return r;
      continue;
    }
    if (req->path_len >= r->path_len && memcmp(req->path, r->path, r->path_len) == 0) return r;
    /* "/engine.io" without the slash is the same endpoint. */
    if (req->path_len + 1 == r->path_len && memcmp(req->path, r->path, req->path_len) == 0)
      return r;
  }
  return NULL;
}

/* "Expect: 100-continue": the body is welcome (Node's http server answers so by default). */
static void on_http_continue(sio_http_parser_t *p) {
  static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
  sio_conn_t *c = sio_http_parser_user(p);
  if (!sio_conn_server(c)->closing) sio_conn_write_copy(c, cont, sizeof cont - 1);
}

static int on_http_request(sio_http_parser_t *p, const sio_http_request_t *req) {
  sio_conn_t *c = sio_http_parser_user(p);
  sio_server_t *s = sio_conn_server(c);
  c->keep_alive = (uint8_t)req->keep_alive;
  c->req_start_ms = 0;
  if (SIO_DEBUG_ON(s, SIO_DEBUG_HTTP)) debug_request(c, req);
  if (s->closing) {
    respond_error_and_close(c, 503);
    return SIO_HTTP_PAUSE;
  }
  /* A path must be absolute and start with a single slash ("//x" once crashed the reference). */
  if (req->path_len == 0 || req->path[0] != '/' || (req->path_len > 1 && req->path[1] == '/')) {
    respond_error_and_close(c, 400);
    return SIO_HTTP_PAUSE;
  }
  sio_route_t *r = find_route(s, req);
  if (req->upgrade) {
    if (!r || !r->on_upgrade) {
      respond_error_and_close(c, r ? 400 : 404);
      return SIO_HTTP_PAUSE;
    }
    r->on_upgrade(r, c, req);
    /* Parked: the engine answers later (allow_request). */
    if (c->mode != SIO_CONN_WS && !c->parked && !c->closing && !c->close_after_write)
      respond_error_and_close(c, 400);
    return SIO_HTTP_PAUSE;
  }
  if (!r || (r->on_request(r, c, req) == SIO_ROUTE_DECLINE)) {
    sio_route_t *h = sio_server_find_handler(s, req);
    if (h) h->on_request(h, c, req);
    else sio_conn_respond(c, 404, "text/plain", NULL, "Not Found", 9);
  }
  if (!c->parked && !c->closing && !c->close_after_write && sio_conn_cost(c) > SIO_CONN_HIGH_WATER)
    conn_pause(c); /* pipelined requests wait until the responses are written */
  else if (!c->parked && !c->closing && !c->close_after_write)
    conn_throttle(c); /* a polling client's POSTs, as a WebSocket's messages */
  return c->parked || c->paused || c->closing || c->close_after_write ? SIO_HTTP_PAUSE
                                                                       : SIO_HTTP_CONTINUE;
}

/* Keeps input that cannot be parsed now (behind a long-poll, or paused), within bounds: 0, or
 * -1 when the connection was closed instead. */
static int conn_keep_input(sio_conn_t *c, const char *data, size_t len) {
  if (!len) return 0;
  if (!c->in && !(c->in = calloc(1, sizeof *c->in))) {
    conn_close_now(c, SIO_ENOMEM);
    return -1;
  }
  if (c->in->len + len > sio_conn_server(c)->opts.max_header_size + sio_conn_server(c)->max_body) {
    conn_close_now(c, SIO_ETOOBIG);
    return -1;
  }
  if (sio_sbuf_append(c->in, data, len)) {
    conn_close_now(c, SIO_ENOMEM);
    return -1;
  }
  return 0;
}

static void conn_process_input(sio_conn_t *c, char *data, size_t len) {
  while (len > 0 && !c->closing && !c->close_after_write) {
    if (c->parked || c->paused) {
      conn_keep_input(c, data, len);
      return;
    }
    if (c->mode == SIO_CONN_WS) {
      feed_ws(c, data, len);
      return;
    }
    size_t used = 0;
    int r = sio_http_parser_execute(c->http, data, len, &used);
    if (c->closing) return;
    if (r == SIO_HTTP_OK) {
      if (c->mode != SIO_CONN_HTTP) return; /* upgraded: the clocks below are the parser's now */
      if (sio_http_parser_in_request(c->http)) {
        if (!c->req_start_ms) c->req_start_ms = uv_now(sio_conn_server(c)->loop);
      } else {
        c->req_start_ms = 0;
      }
      return;
    }
    if (r == SIO_HTTP_PAUSED) {
      data += used;
      len -= used;
      if (!c->parked) sio_http_parser_resume(c->http);
      continue;
    }
    if (r == SIO_HTTP_UPGRADE) {
      data += used;
      len -= used;
      if (c->mode == SIO_CONN_WS) {
        parser_put(c);
        continue; /* the rest is WebSocket frames */
      }
      if (c->parked) conn_keep_input(c, data, len); /* frames, once the upgrade is answered */
      return;
    }
    /* Parse errors answer with their status and close. */
    int status = r == SIO_HTTP_E_HEADERS_TOO_LARGE ? 431 : r == SIO_HTTP_E_BODY_TOO_LARGE ? 413 : 400;
    if (status == 400) {
      /* Garbage gets a bare 400 without a body, as the reference answers. */
      static const char bad[] = "HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n";
      sio_conn_write_copy(c, bad, sizeof bad - 1);
      sio_conn_close(c, 1);
    } else {
      respond_error_and_close(c, status);
    }
    return;
  }
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  sio_conn_t *c = (sio_conn_t *)h;
  buf->base = sio_conn_server(c)->readbuf;
  buf->len = sizeof sio_conn_server(c)->readbuf;
}

static void on_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf) {
  sio_conn_t *c = (sio_conn_t *)st;
  if (nread < 0) {
    conn_close_now(c, nread == UV_EOF ? 0 : (int)nread);
    return;
  }
  if (nread == 0 || c->close_after_write) return; /* closing: dropped */
  if (c->tls) {
    tls_on_read(c, buf->base, (size_t)nread);
    return;
  }
  c->active_ms = uv_now(sio_conn_server(c)->loop);
  if (c->held) release_hold(c);
  conn_process_input(c, buf->base, (size_t)nread);
}

/* A connection just accepted (or adopted from another worker) joins the server: 0, or -1 when it
 * was closed instead. */
static int conn_setup(sio_server_t *s, sio_conn_t *c, sio_ssl_ctx_t *ctx) {
  c->next = s->conns;
  if (s->conns) s->conns->prev = c;
  s->conns = c;
  s->nconns++;
  c->http = parser_get(s, c);
  if (!c->http) {
    conn_close_now(c, SIO_ENOMEM);
    return -1;
  }
  sio_http_parser_on_continue(c->http, on_http_continue);
  if (ctx && !(c->tls = sio__tls_new(ctx, &s->tls_out))) {
    conn_close_now(c, SIO_ENOMEM);
    return -1;
  }
  uv_tcp_nodelay(&c->tcp, 1);
  c->active_ms = uv_now(s->loop);
  conn_read_start(c);
  return c->closing ? -1 : 0;
}

static void on_connection(uv_stream_t *ls, int status) {
  sio_listener_t *l = (sio_listener_t *)ls;
  sio_server_t *s = l->server;
  if (status < 0 || s->closing) return;
  sio_conn_t *c = calloc(1, sizeof *c);
  if (!c) return;
  uv_tcp_init(s->loop, &c->tcp);
  c->tcp.data = s; /* the server (sio_conn_server) */
  if (uv_accept(ls, (uv_stream_t *)&c->tcp) != 0) {
    uv_close((uv_handle_t *)&c->tcp, (uv_close_cb)free);
    return;
  }
  conn_setup(s, c, l->ctx);
}

static void conn_read_start(sio_conn_t *c) {
  if (uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) != 0) {
    conn_close_now(c, SIO_ECLOSED);
    return;
  }
  c->reading = 1;
}

void sio_tls_options_init(sio_tls_options_t *o) {
  memset(o, 0, sizeof *o);
  o->size = sizeof *o;
}

static void tls_files_free(sio_tls_options_t *o) {
  free((char *)o->cert_file);
  free((char *)o->key_file);
  free((char *)o->ca_file);
  sio_tls_options_init(o);
}

static char *dup_or_null(const char *p) { return p ? strdup(p) : NULL; }

/* Owned copies of the file names of `src` into dst (SIO_ENOMEM). */
static int tls_files_copy(sio_tls_options_t *dst, const sio_tls_options_t *src) {
  sio_tls_options_init(dst);
  dst->cert_file = dup_or_null(src->cert_file);
  dst->key_file = dup_or_null(src->key_file);
  dst->ca_file = dup_or_null(src->ca_file);
  if ((src->cert_file && !dst->cert_file) || (src->key_file && !dst->key_file) ||
      (src->ca_file && !dst->ca_file)) {
    tls_files_free(dst);
    return SIO_ENOMEM;
  }
  return 0;
}

static void on_listener_closed(uv_handle_t *h) {
  sio_listener_t *l = (sio_listener_t *)h;
  sio_server_t *s = l->server;
  if (l->ctx) sio__tls_ctx_free(l->ctx);
  tls_files_free(&l->tls);
  free(l);
  server_handle_done(s);
}

static int listener_socket(sio_server_t *s, sio_listener_t *l, const struct sockaddr *addr);

/* Binds a new listener; it owns ctx (NULL: plain) and the names in `files` from then on. */
static int add_listener(sio_server_t *s, const char *host, int port, sio_ssl_ctx_t *ctx,
                        sio_tls_options_t *files) {
  struct sockaddr_storage addr;
  int r;
  if (!host) r = SIO_EINVAL;
  else if (strchr(host, ':')) r = uv_ip6_addr(host, port, (struct sockaddr_in6 *)&addr);
  else r = uv_ip4_addr(host, port, (struct sockaddr_in *)&addr);
  sio_listener_t *l = r ? NULL : calloc(1, sizeof *l);
  if (!l) {
    if (ctx) sio__tls_ctx_free(ctx);
    if (files) tls_files_free(files);
    return r ? r : SIO_ENOMEM;
  }
  l->server = s;
  l->ctx = ctx;
  if (files) l->tls = *files;
  else sio_tls_options_init(&l->tls);
  r = listener_socket(s, l, (struct sockaddr *)&addr);
  l->tcp.data = s;
  s->handles_open++;
  if (!r) r = uv_tcp_bind(&l->tcp, (struct sockaddr *)&addr, 0);
  if (!r) r = uv_listen((uv_stream_t *)&l->tcp, 1024, on_connection);
  if (r) {
    uv_close((uv_handle_t *)&l->tcp, on_listener_closed);
    return r;
  }
  l->next = s->listeners;
  s->listeners = l;
  s->listening = 1;
  return 0;
}

int sio_server_listen(sio_server_t *s, const char *host, int port) {
  sio__error_clear();
  if (s->closing) return SIO_EINVAL;
  return add_listener(s, host, port, NULL, NULL);
}

int sio_server_listen_tls(sio_server_t *s, const char *host, int port, const sio_tls_options_t *opts) {
  sio__error_clear();
  if (s->closing || !opts) return SIO_EINVAL;
  sio_tls_options_t o;
  sio_tls_options_init(&o);
  if (SIO_TAKE_OPTIONS(&o, opts, "sio_tls_options")) return SIO_EINVAL;
  if (!s->tls_plain && !(s->tls_plain = malloc(SIO_TLS_PLAIN_SIZE))) return SIO_ENOMEM;
  sio_ssl_ctx_t *ctx;
  int r = sio__tls_ctx_new(&o, &ctx);
  if (r) return r;
  sio_tls_options_t files;
  if (tls_files_copy(&files, &o)) {
    sio__tls_ctx_free(ctx);
    return SIO_ENOMEM;
  }
  return add_listener(s, host, port, ctx, &files);
}

int sio_server_tls_reload(sio_server_t *s, const sio_tls_options_t *opts) {
  sio__error_clear();
  sio_tls_options_t o;
  if (opts) {
    sio_tls_options_init(&o);
    if (SIO_TAKE_OPTIONS(&o, opts, "sio_tls_options")) return SIO_EINVAL;
  }
  /* Every context is built before any is swapped in, so that a failure changes nothing. */
  size_t n = 0;
  for (sio_listener_t *l = s->listeners; l; l = l->next) n += l->ctx != NULL;
  if (!n) return sio__fail(SIO_ENOTFOUND, "the server has no TLS listener");
  sio_ssl_ctx_t **fresh = calloc(n, sizeof *fresh);
  sio_tls_options_t *files = calloc(n, sizeof *files);
  int r = fresh && files ? 0 : SIO_ENOMEM;
  size_t i = 0;
  for (sio_listener_t *l = s->listeners; l && !r; l = l->next) {
    if (!l->ctx) continue;
    const sio_tls_options_t *use = opts ? &o : &l->tls;
    r = sio__tls_ctx_new(use, &fresh[i]);
    if (!r && (r = tls_files_copy(&files[i], use))) sio__tls_ctx_free(fresh[i]);
    if (!r) i++;
  }
  if (r) {
    while (i--) {
      sio__tls_ctx_free(fresh[i]);
      tls_files_free(&files[i]);
    }
  } else {
    i = 0;
    for (sio_listener_t *l = s->listeners; l; l = l->next) {
      if (!l->ctx) continue;
      sio__tls_ctx_free(l->ctx); /* connections keep their own reference */
      tls_files_free(&l->tls);
      l->ctx = fresh[i];
      l->tls = files[i++];
    }
  }
  free(fresh);
  free(files);
  return r;
}

int sio_server_port(const sio_server_t *s) {
  sio__error_clear();
  if (!s->listening || !s->listeners) return SIO_EINVAL;
  struct sockaddr_storage ss;
  int len = sizeof ss;
  int r = uv_tcp_getsockname(&s->listeners->tcp, (struct sockaddr *)&ss, &len);
  if (r) return r;
  if (ss.ss_family == AF_INET) return ntohs(((struct sockaddr_in *)&ss)->sin_port);
  return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
}

/* ---------------------------------------------------------------------------------------------- */
/* Timeouts and shutdown                                                                           */

static void on_sweep(uv_timer_t *t) {
  sio_server_t *s = t->data;
  uint64_t now = uv_now(s->loop);
  sio_conn_t *c = s->conns;
  while (c) {
    sio_conn_t *next = c->next;
    if (!c->closing) {
      if (c->close_after_write) {
        if (now - c->active_ms > (c->draining ? SIO_DRAIN_MS : SIO_LINGER_MS))
          conn_close_now(c, SIO_ETIMEDOUT);
      } else if (c->app_req) {
        if (now - c->app_since_ms > s->opts.request_timeout_ms) conn_abort_app(c, SIO_ETIMEDOUT);
      } else if (c->tls && !sio__tls_ready(c->tls)) {
        /* Mid-handshake: silent since accept as far as the timeout goes (see tls_on_read). */
        if (now - c->active_ms > s->opts.headers_timeout_ms) conn_close_now(c, SIO_ETIMEDOUT);
      } else if (c->mode == SIO_CONN_HTTP && !c->parked) {
        if (c->req_start_ms) {
          uint64_t limit = s->opts.request_timeout_ms;
          if (now - c->req_start_ms > limit) respond_error_and_close(c, 408);
        } else if (c->wq_len == 0 && c->inflight_bytes == 0) {
          uint64_t limit = c->http && c->keep_alive ? s->opts.keep_alive_timeout_ms
                                                     : s->opts.headers_timeout_ms;
          if (now - c->active_ms > limit) conn_close_now(c, SIO_ETIMEDOUT);
        }
      }
    }
    c = next;
  }
}

static void on_handle_closed(uv_handle_t *h) { server_handle_done(h->data); }

/* One of the server's handles has closed; the last one frees the server. */
static void server_handle_done(sio_server_t *s) {
  if (--s->handles_open == 0) {
    for (size_t i = 0; i < s->nroutes; i++)
      if (s->routes[i]->on_free) s->routes[i]->on_free(s->routes[i]);
    for (size_t i = 0; i < s->nhandlers; i++)
      if (s->handlers[i]->on_free) s->handlers[i]->on_free(s->handlers[i]);
    sio_server_close_cb cb = s->close_cb;
    if (cb) cb(s);
    if (s->workers) sio__workers_server_gone(s->workers, s->worker_index, s);
    sio_ws_zlib_free(s->zlib);
    while (s->nparsers) sio_http_parser_free(s->parsers[--s->nparsers]);
    free(s->tls_plain);
    sio_sbuf_free(&s->tls_out);
    free(s);
  }
}

static void maybe_finish_close(sio_server_t *s) {
  if (!s->closing || s->nconns > 0 || s->closing == 2) return;
  s->closing = 2;
  uv_close((uv_handle_t *)&s->check, on_handle_closed);
  uv_close((uv_handle_t *)&s->idle, on_handle_closed);
  uv_close((uv_handle_t *)&s->sweep, on_handle_closed);
  uv_close((uv_handle_t *)&s->force, on_handle_closed);
}

static void on_force(uv_timer_t *t) {
  sio_server_t *s = t->data;
  sio_conn_t *c = s->conns;
  while (c) {
    sio_conn_t *next = c->next;
    conn_close_now(c, SIO_ECLOSED);
    c = next;
  }
}

void sio_server_close(sio_server_t *s, sio_server_close_cb cb) {
  if (s->closing) return;
  s->closing = 1;
  s->close_cb = cb;
  for (sio_listener_t *l = s->listeners; l; l = l->next)
    uv_close((uv_handle_t *)&l->tcp, on_listener_closed);
  s->listeners = NULL;
  for (size_t i = 0; i < s->nroutes; i++)
    if (s->routes[i]->on_server_close) s->routes[i]->on_server_close(s->routes[i]);
  for (sio_conn_t *c = s->conns; c; c = c->next) {
    if (c->closing) continue;
    if (c->app_req) {
      conn_abort_app(c, SIO_ECLOSED);
    } else if (c->parked) {
      /* A long-poll whose session did not answer it on close: end it plainly. */
      respond_error_and_close(c, 503);
    } else {
      sio_conn_close(c, 1);
    }
  }
  uv_ref((uv_handle_t *)&s->force);
  uv_timer_start(&s->force, on_force, SIO_SHUTDOWN_MS, 0);
  maybe_finish_close(s);
}

void sio__server_stats(const sio_server_t *s, sio_stats_t *out) {
  out->tls_handshakes += s->tls_ok;
  out->tls_failures += s->tls_failed;
  out->deflate_negotiated += s->deflate;
}

/* ---------------------------------------------------------------------------------------------- */
/* Workers (sio_server_set_workers)                                                               */

sio_workers_t *sio__server_workers(const sio_server_t *s, unsigned *index, unsigned *slot) {
  if (index) *index = s->worker_index;
  if (slot) *slot = s->worker_slot;
  return s->workers;
}

int sio__server_join(sio_server_t *s, sio_workers_t *g, unsigned index, unsigned slot) {
  if (g && (s->listening || s->closing)) {
    return sio__fail(SIO_EINVAL, "sio_server_set_workers: the server listens already");
  }
  s->workers = g;
  s->congestion = g ? sio__workers_congestion(g) : NULL;
  s->worker_index = (uint8_t)index;
  s->worker_slot = (uint8_t)slot;
  return 0;
}

/* SO_REUSEPORT would let this group share a port another process (same user) listens on, the
 * kernel then splitting connections between the two: worker 0 first binds the address without it
 * (SO_REUSEADDR only, as libuv's own bind), so that a port in use is EADDRINUSE as without
 * workers. Port 0 needs no probe: the kernel picks a free one. */
static int port_free(const struct sockaddr *addr) {
  const struct sockaddr_in *in = (const struct sockaddr_in *)addr;
  if (in->sin_port == 0) return 0; /* (sin_port and sin6_port lie at the same offset) */
  int fd = socket(addr->sa_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return uv_translate_sys_error(errno);
  int on = 1, r = 0;
  socklen_t len = addr->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
  if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on) != 0 || bind(fd, addr, len) != 0)
    r = uv_translate_sys_error(errno);
  close(fd);
  return r;
}

/* The listener's socket: with workers, made here so that SO_REUSEPORT is set before the bind
 * (every worker binds the same address; the kernel spreads new connections over them). */
static int listener_socket(sio_server_t *s, sio_listener_t *l, const struct sockaddr *addr) {
  if (!s->workers || sio_workers_count(s->workers) < 2) return uv_tcp_init(s->loop, &l->tcp);
  int r = s->worker_index == 0 ? port_free(addr) : 0;
  if (r) {
    uv_tcp_init(s->loop, &l->tcp); /* a handle to close all the same */
    return r;
  }
  r = uv_tcp_init_ex(s->loop, &l->tcp, addr->sa_family);
  if (r) {
    uv_tcp_init(s->loop, &l->tcp); /* a handle to close all the same */
    return r;
  }
  uv_os_fd_t fd;
  int on = 1;
  r = uv_fileno((uv_handle_t *)&l->tcp, &fd);
  if (!r && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on, sizeof on) != 0) r = uv_translate_sys_error(errno);
  return r;
}

/* A connection on its way to another worker: the socket (a duplicate), the bytes read so far. */
typedef struct handoff_msg {
  sio_wmsg_t m;
  sio_workers_t *g;
  unsigned to, slot;
  uv_os_sock_t fd;
  sio_tls_t *tls; /* a TLS connection's state (after its handshake), moved with the socket */
  size_t len;
  char bytes[];
} handoff_msg_t;

static void on_handoff_msg(sio_wmsg_t *m, int dropped) {
  handoff_msg_t *h = (handoff_msg_t *)m;
  sio_server_t *s = dropped ? NULL : sio__workers_server(h->g, h->to, h->slot);
  if (s && !s->closing) {
    sio__server_adopt(s, h->fd, h->tls, h->bytes, h->len);
  } else {
    close(h->fd);
    sio__tls_free(h->tls);
  }
  free(h);
}

/* The request again as bytes, for the owner's parser: its head as parsed (names lower-cased, the
 * body de-chunked, so framed by Content-Length; Expect answered here already). */
static int serialize_request(sio_sbuf_t *out, const sio_http_request_t *req) {
  char line[64];
  int r = sio_sbuf_append(out, req->method, strlen(req->method));
  r = r ? r : sio_sbuf_append(out, " ", 1);
  r = r ? r : sio_sbuf_append(out, req->url, req->url_len);
  snprintf(line, sizeof line, " HTTP/%d.%d\r\n", req->http_major, req->http_minor);
  r = r ? r : sio_sbuf_append(out, line, strlen(line));
  for (size_t i = 0; i < req->header_count && !r; i++) {
    const sio_http_header_t *hd = &req->headers[i];
    if (!strcmp(hd->name, "content-length") || !strcmp(hd->name, "transfer-encoding") ||
        !strcmp(hd->name, "expect"))
      continue;
    r = sio_sbuf_append(out, hd->name, hd->name_len);
    r = r ? r : sio_sbuf_append(out, ": ", 2);
    r = r ? r : sio_sbuf_append(out, hd->value, hd->value_len);
    r = r ? r : sio_sbuf_append(out, "\r\n", 2);
  }
  if (req->body_len || strcmp(req->method, "POST") == 0) {
    snprintf(line, sizeof line, "content-length: %zu\r\n", req->body_len);
    r = r ? r : sio_sbuf_append(out, line, strlen(line));
  }
  r = r ? r : sio_sbuf_append(out, "\r\n", 2);
  if (req->body_len) r = r ? r : sio_sbuf_append(out, req->body, req->body_len);
  return r;
}

int sio__conn_handoff(sio_conn_t *c, const sio_http_request_t *req, const char *sid) {
  sio_server_t *s = sio_conn_server(c);
  if (!s->workers || c->handoff) return 0;
  unsigned n = sio_workers_count(s->workers);
  int owner = sio__sid_worker(sid);
  if (n < 2 || owner < 0 || (unsigned)owner >= n || owner == s->worker_index) return 0;
  /* The request goes first in the kept input; what follows it in this read is appended there
   * (the connection is parked), and the whole leaves from the check phase. */
  if (c->in || !(c->in = calloc(1, sizeof *c->in))) return 0;
  if (serialize_request(c->in, req)) {
    sio_sbuf_free(c->in);
    free(c->in);
    c->in = NULL;
    return 0;
  }
  c->handoff = (uint8_t)(owner + 1);
  c->parked = 1;
  if (c->reading) {
    uv_read_stop((uv_stream_t *)&c->tcp);
    c->reading = 0;
  }
  mark_dirty(c);
  return 1;
}

static void conn_handoff_now(sio_conn_t *c) {
  sio_server_t *s = sio_conn_server(c);
  size_t len = c->in ? c->in->len : 0;
  handoff_msg_t *h = malloc(sizeof *h + len + 1);
  uv_os_fd_t fd = -1;
  int r = h ? uv_fileno((uv_handle_t *)&c->tcp, &fd) : SIO_ENOMEM;
  /* TLS: ciphertext already handed to the kernel is the peer's; one still in a write request
   * would be cancelled with our handle, and the records after it would not decrypt. */
  int dupfd = r || (c->tls && c->inflight_bytes) ? -1 : dup(fd);
  if (dupfd >= 0) {
    h->m.run = on_handoff_msg;
    h->g = s->workers;
    h->to = (unsigned)c->handoff - 1;
    h->slot = s->worker_slot;
    h->fd = dupfd;
    h->tls = c->tls;
    h->len = len;
    if (len) memcpy(h->bytes, c->in->data, len);
    if (sio__workers_post(s->workers, h->to, &h->m, sizeof *h + len) == 0) {
      h = NULL;
      c->tls = NULL; /* the owner's now (plaintext queued for it here is dropped: a 100 Continue) */
    } else {
      close(dupfd);
    }
  }
  free(h);
  /* Ours is closed either way (without a word: the owner answers, or the client sees a reset). */
  conn_close_now(c, 0);
}

void sio__server_adopt(sio_server_t *s, uv_os_sock_t fd, sio_tls_t *tls, char *bytes, size_t len) {
  sio_conn_t *c = calloc(1, sizeof *c);
  if (!c || (tls && !s->tls_plain && !(s->tls_plain = malloc(SIO_TLS_PLAIN_SIZE)))) {
    free(c);
    close(fd);
    sio__tls_free(tls);
    return;
  }
  uv_tcp_init(s->loop, &c->tcp);
  c->tcp.data = s; /* the server (sio_conn_server) */
  if (uv_tcp_open(&c->tcp, fd) != 0) {
    close(fd);
    sio__tls_free(tls);
    uv_close((uv_handle_t *)&c->tcp, (uv_close_cb)free);
    return;
  }
  if (tls) {
    sio__tls_set_out(tls, &s->tls_out);
    c->tls = tls;
  }
  if (conn_setup(s, c, NULL)) return;
  if (len) conn_process_input(c, bytes, len);
}
