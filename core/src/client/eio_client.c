/* The Engine.IO client: the connection's state, the send queue, the packets from the server, the
 * heartbeat and the close. The transports are eioc_polling.c and eioc_ws.c; the protocol's pure
 * parts eioc_proto.c and the server's codecs. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/eioc_internal.h"
#include "sio.h"
#include "sio_client.h"

/* A graceful close waits this long at most for the CLOSE packet to be written and answered. */
#define CLOSE_WAIT_MS 2000

static char *dup_or_null(const char *s) { return s ? strdup(s) : NULL; }

/* ---------------------------------------------------------------------------------------------- */
/* The end                                                                                          */

static void destroy(sio_eioc_t *e) {
  if (e->poll) {
    sio__eioc_http_free(e->poll);
    sio__eioc_http_free(e->post);
    free(e->poll); /* (post is in the same allocation) */
  }
  sio__eioc_ws_free(e);
  sio_sbuf_free(&e->q);
  sio_sbuf_free(&e->scratch);
  if (e->ssl_ctx) SSL_CTX_free(e->ssl_ctx);
  free(e->host);
  free(e->path);
  free(e->query);
  free(e->tls_ca_file);
  free(e->host_hdr);
  free(e->close_detail);
  free(e->info.sid);
  if (e->headers)
    for (char **h = e->headers; *h; h++) free(*h);
  free(e->headers);
  free(e);
}

static void on_handle_closed(uv_handle_t *h) {
  sio_eioc_t *e = h->data;
  if (h == (uv_handle_t *)e->v3_ping_timer) {
    free(e->v3_ping_timer);
    e->v3_ping_timer = NULL;
  }
  if (--e->handles_open > 0) return;
  if (e->cb.on_close)
    e->cb.on_close(e, e->close_err, e->close_reason, e->close_detail);
  destroy(e);
}

/* Ends the connection now: every transport closed, on_close once every handle has closed (so
 * that it runs on a plain stack and the handle is freed right after it). */
void sio__eioc_fail(sio_eioc_t *e, int err, const char *reason, const char *detail) {
  if (e->state == ST_CLOSED) return;
  if (e->state == ST_CLOSING) {
    /* Once the user closed, however the transport ends (the server's CLOSE or hang-up answering
     * ours, or the wait running out) it is the close asked for. */
    err = 0;
    reason = "forced close";
    detail = NULL;
  }
  e->state = ST_CLOSED;
  e->close_err = err;
  e->close_reason = reason;
  e->close_detail = detail && *detail ? strdup(detail) : NULL;
  if (e->poll) {
    sio_eioc_conn_close(e->poll->conn);
    e->poll->conn = NULL;
    sio_eioc_conn_close(e->post->conn);
    e->post->conn = NULL;
  }
  sio_eioc_conn_close(e->ws.conn);
  e->ws.conn = NULL;
  uv_close((uv_handle_t *)&e->timer, on_handle_closed);
  if (e->v3_ping_timer) uv_close((uv_handle_t *)e->v3_ping_timer, on_handle_closed);
  uv_close((uv_handle_t *)&e->flush_idle, on_handle_closed);
}

static void on_open_timeout(uv_timer_t *t) {
  sio_eioc_t *e = t->data;
  if (e->state == ST_CLOSING) {
    sio__eioc_fail(e, 0, "forced close", NULL);
    return;
  }
  sio__eioc_fail(e, SIO_ETIMEDOUT, "transport error", "timeout");
}

void sio_eioc_close(sio_eioc_t *e) {
  if (!e || e->state >= ST_CLOSING) return;
  if (e->state == ST_OPENING) {
    sio__eioc_fail(e, 0, "forced close", NULL);
    return;
  }
  e->state = ST_CLOSING;
  /* An upgrade under way is dropped: the CLOSE goes on the transport in use. */
  if (e->ws.state != WS_NONE && e->ws.state != WS_OPEN) {
    sio_eioc_conn_close(e->ws.conn);
    e->ws.conn = NULL;
    e->ws.state = WS_NONE;
    e->paused = 0;
  }
  if (e->v3_ping_timer) uv_timer_stop(e->v3_ping_timer);
  if (sio__eioc_queue(e, SIO_EIO_CLOSE, NULL, 0, 0)) {
    sio__eioc_fail(e, 0, "forced close", NULL);
    return;
  }
  uv_timer_start(&e->timer, on_open_timeout, CLOSE_WAIT_MS, 0); /* replaces the heartbeat's */
  sio__eioc_schedule_flush(e);
}

/* ---------------------------------------------------------------------------------------------- */
/* The send queue                                                                                   */

static void on_flush(uv_idle_t *h) {
  sio_eioc_t *e = h->data;
  uv_idle_stop(h);
  e->flush_scheduled = 0;
  if (e->state == ST_OPENING || e->state == ST_CLOSED || e->q.len == 0) return;
  if (e->transport == SIO_CLIENT_WEBSOCKET)
    sio__eioc_ws_flush(e);
  else if (!e->paused)
    sio__eioc_poll_flush(e);
}

void sio__eioc_schedule_flush(sio_eioc_t *e) {
  if (e->flush_scheduled || e->state == ST_CLOSED) return;
  e->flush_scheduled = 1;
  uv_idle_start(&e->flush_idle, on_flush);
}

int sio__eioc_queue(sio_eioc_t *e, int type, const char *data, size_t len, int binary) {
  int r = sio_sbuf_reserve(&e->q, EIOC_QREC + len);
  if (r) return r;
  uint32_t l32 = (uint32_t)len;
  char *o = e->q.data + e->q.len;
  memcpy(o, &l32, 4);
  o[4] = (char)type;
  o[5] = (char)(binary ? 1 : 0);
  if (len) memcpy(o + EIOC_QREC, data, len);
  e->q.len += EIOC_QREC + len;
  e->q_count++;
  return 0;
}

void sio__eioc_drain_queue(sio_eioc_t *e, sio__eioc_rec_fn fn, void *arg) {
  size_t off = 0, n = 0;
  while (off < e->q.len) {
    uint32_t l32;
    memcpy(&l32, e->q.data + off, 4);
    sio_eio_packet_t pkt = {(unsigned char)e->q.data[off + 4], e->q.data[off + 5],
                            e->q.data + off + EIOC_QREC, l32};
    if (fn(e, &pkt, arg)) break;
    off += EIOC_QREC + l32;
    n++;
  }
  sio_sbuf_consume(&e->q, off);
  e->q_count -= n;
  if (e->q.len == 0 && e->q.cap > 65536) sio_sbuf_free(&e->q);
}

static size_t in_flight(const sio_eioc_t *e) {
  size_t n = e->q.len;
  if (e->ws.conn) n += sio_eioc_conn_pending(e->ws.conn);
  if (e->post && e->post->busy) n += e->scratch.len;
  return n;
}

int sio_eioc_sendv(sio_eioc_t *e, const sio_eioc_part_t *parts, size_t count) {
  if (!e || e->state >= ST_CLOSING) return SIO_ECLOSED;
  size_t total = 0;
  for (size_t i = 0; i < count; i++) {
    if (parts[i].len > e->max_payload || parts[i].len > UINT32_MAX) return SIO_ETOOBIG;
    total += parts[i].len + EIOC_QREC;
  }
  if (in_flight(e) + total > e->queue_max) return SIO_ETOOBIG;
  size_t mark = e->q.len, mark_count = e->q_count;
  for (size_t i = 0; i < count; i++) {
    int r = sio__eioc_queue(e, SIO_EIO_MESSAGE, parts[i].data, parts[i].len, parts[i].binary);
    if (r) {
      e->q.len = mark; /* all the parts or none */
      e->q_count = mark_count;
      return r;
    }
  }
  sio__eioc_schedule_flush(e);
  return 0;
}

int sio_eioc_send(sio_eioc_t *e, const char *data, size_t len, int binary) {
  sio_eioc_part_t p = {data, len, binary};
  return sio_eioc_sendv(e, &p, 1);
}

int sio_eioc_writable(const sio_eioc_t *e) {
  if (!e || e->state != ST_OPEN || e->q.len || e->paused) return 0;
  if (e->transport == SIO_CLIENT_WEBSOCKET) return sio_eioc_conn_pending(e->ws.conn) == 0;
  return !e->post->busy; /* (polling in use: it exists) */
}

/* ---------------------------------------------------------------------------------------------- */
/* Heartbeat                                                                                        */

static void on_ping_timeout(uv_timer_t *t) {
  sio__eioc_fail(t->data, SIO_ETIMEDOUT, "ping timeout", NULL);
}

static void reset_ping_timeout(sio_eioc_t *e) {
  if (e->state != ST_OPEN) return; /* closing: the timer bounds the close now */
  uint64_t ms = (uint64_t)e->info.ping_interval + e->info.ping_timeout;
  uv_timer_start(&e->timer, on_ping_timeout, ms, 0);
}

/* v3 (engine.io-client 3's heartbeat): the client pings pingInterval after the open and after each
 * PONG; the server must answer within pingTimeout; any packet meanwhile shows it alive for
 * pingInterval + pingTimeout. */
static void on_v3_ping(uv_timer_t *t) {
  sio_eioc_t *e = t->data;
  if (e->state != ST_OPEN) return;
  if (sio__eioc_queue(e, SIO_EIO_PING, NULL, 0, 0) == 0) sio__eioc_schedule_flush(e);
  uv_timer_start(&e->timer, on_ping_timeout, e->info.ping_timeout, 0);
}

void sio__eioc_opened(sio_eioc_t *e) {
  e->state = ST_OPEN;
  reset_ping_timeout(e); /* replaces the attempt's bound */
  if (e->eio == 3)
    uv_timer_start(e->v3_ping_timer, on_v3_ping, e->info.ping_interval, 0);
  if (e->cb.on_open) e->cb.on_open(e);
  if (e->state != ST_OPEN && e->state != ST_CLOSING) return;
  if (e->q.len) sio__eioc_schedule_flush(e);
  if (e->transport == SIO_CLIENT_POLLING) {
    int r = sio__eioc_poll_start(e);
    if (r) {
      sio__eioc_fail(e, r, "transport error", sio_strerror(r));
      return;
    }
    if (e->state == ST_OPEN && e->upgrade && (e->transports & SIO_CLIENT_WEBSOCKET) &&
        e->info.upgrade_ws) {
      r = sio__eioc_ws_start(e, 1);
      if (r) e->ws.state = WS_NONE; /* stays on polling */
    }
  }
}

/* ---------------------------------------------------------------------------------------------- */
/* Packets from the server                                                                          */

static int on_open_packet(sio_eioc_t *e, const sio_eio_packet_t *pkt) {
  sio_eioc_open_t o;
  if (pkt->type != SIO_EIO_OPEN || sio_eioc_parse_open(pkt->data, pkt->len, &o)) {
    char detail[200];
    snprintf(detail, sizeof detail, "handshake: not an OPEN packet: %.*s",
             (int)(pkt->len < 120 ? pkt->len : 120), pkt->data);
    sio__eioc_fail(e, SIO_EPARSE, "parse error", detail);
    return 1;
  }
  free(e->info.sid); /* (one OPEN per connection; kept safe if a server sent two) */
  if (!(e->info.sid = strdup(o.sid))) {
    sio__eioc_fail(e, SIO_ENOMEM, "transport error", NULL);
    return 1;
  }
  e->info.upgrade_ws = o.upgrade_ws;
  e->info.ping_interval = o.ping_interval;
  e->info.ping_timeout = o.ping_timeout;
  e->info.max_payload = o.max_payload;
  sio__eioc_opened(e);
  return e->state == ST_OPEN ? 0 : 1;
}

int sio__eioc_packet(sio_eioc_t *e, const sio_eio_packet_t *pkt, int from_ws) {
  if (e->state == ST_CLOSED) return 1;
  if (e->state == ST_OPENING) return on_open_packet(e, pkt);
  if (e->eio == 3) reset_ping_timeout(e); /* any packet shows the server alive */
  switch (pkt->type) {
  case SIO_EIO_CLOSE:
    sio__eioc_fail(e, UV_EOF, "transport close", NULL);
    return 1;
  case SIO_EIO_PING:
    if (e->eio == 3) return 0;
    reset_ping_timeout(e);
    if (sio__eioc_queue(e, SIO_EIO_PONG, pkt->data, pkt->len, 0)) return 0;
    sio__eioc_schedule_flush(e);
    return 0;
  case SIO_EIO_PONG:
    if (from_ws && e->ws.state == WS_PROBING && pkt->len == 5 && memcmp(pkt->data, "probe", 5) == 0)
      sio__eioc_ws_probe_answered(e);
    else if (e->eio == 3 && e->state == ST_OPEN)
      uv_timer_start(e->v3_ping_timer, on_v3_ping, e->info.ping_interval, 0);
    return 0;
  case SIO_EIO_MESSAGE:
    if (e->state != ST_OPEN) return 0; /* closing: nothing more for the user */
    if (e->cb.on_message) e->cb.on_message(e, (char *)pkt->data, pkt->len, pkt->binary);
    return e->state == ST_CLOSED ? 1 : 0;
  default:
    return 0; /* OPEN again, UPGRADE, NOOP: nothing to do */
  }
}

/* ---------------------------------------------------------------------------------------------- */
/* The upgrade                                                                                      */

void sio__eioc_check_paused(sio_eioc_t *e) {
  if (!e->paused || e->poll->busy || e->post->busy || e->state == ST_CLOSED) return;
  sio__eioc_upgrade_done(e);
}

void sio__eioc_upgrade_done(sio_eioc_t *e) {
  e->paused = 0;
  e->transport = SIO_CLIENT_WEBSOCKET;
  e->ws.state = WS_OPEN;
  /* Polling is over: its connections and parsers go. */
  sio__eioc_http_free(e->poll);
  sio__eioc_http_free(e->post);
  sio__eioc_ws_send_upgrade(e);
  if (e->state == ST_CLOSED) return;
  if (e->cb.on_upgrade && e->state == ST_OPEN) e->cb.on_upgrade(e);
}

/* ---------------------------------------------------------------------------------------------- */
/* Creation                                                                                         */

int sio__eioc_common_headers(sio_eioc_t *e, sio_sbuf_t *out) {
  int r = sio_sbuf_append_str(out, "Host: ");
  r = r ? r : sio_sbuf_append_str(out, e->host_hdr);
  r = r ? r : sio_sbuf_append_str(out, "\r\n");
  if (e->headers)
    for (char **h = e->headers; *h && !r; h++) {
      r = sio_sbuf_append_str(out, *h);
      r = r ? r : sio_sbuf_append_str(out, "\r\n");
    }
  return r;
}

static int header_ok(const char *h) {
  const char *colon = strchr(h, ':');
  if (!colon || colon == h) return 0;
  for (const char *p = h; *p; p++)
    if (*p == '\r' || *p == '\n') return 0; /* no smuggled header lines */
  return 1;
}

static int copy_config(sio_eioc_t *e, const sio_eioc_config_t *cfg) {
  e->secure = cfg->secure;
  e->port = cfg->port;
  e->eio = cfg->eio == 3 ? 3 : 4;
  e->transports = cfg->transports ? cfg->transports : (SIO_CLIENT_POLLING | SIO_CLIENT_WEBSOCKET);
  e->upgrade = cfg->upgrade;
  e->tls_verify = cfg->tls_verify;
  e->max_payload = cfg->max_payload ? cfg->max_payload : (16u << 20);
  e->queue_max = 4 * e->max_payload + (1u << 20);
  e->timeout_ms = cfg->timeout_ms;
  e->host = strdup(cfg->host);
  e->path = strdup(cfg->path && *cfg->path ? cfg->path : "/socket.io/");
  e->query = dup_or_null(cfg->query);
  e->tls_ca_file = dup_or_null(cfg->tls_ca_file);
  size_t hl = strlen(cfg->host) + 16;
  e->host_hdr = malloc(hl);
  if (!e->host || !e->path || (cfg->query && !e->query) || (cfg->tls_ca_file && !e->tls_ca_file) ||
      !e->host_hdr)
    return SIO_ENOMEM;
  snprintf(e->host_hdr, hl, strchr(cfg->host, ':') ? "[%s]:%d" : "%s:%d", cfg->host, cfg->port);
  size_t n = 0;
  while (cfg->headers && cfg->headers[n]) {
    if (!header_ok(cfg->headers[n])) return SIO_EINVAL;
    n++;
  }
  if (n) {
    e->headers = calloc(n + 1, sizeof *e->headers);
    if (!e->headers) return SIO_ENOMEM;
    for (size_t i = 0; i < n; i++)
      if (!(e->headers[i] = strdup(cfg->headers[i]))) return SIO_ENOMEM;
  }
  return 0;
}

static int init_polling(sio_eioc_t *e) {
  if (!(e->transports & SIO_CLIENT_POLLING)) return 0;
  if (!(e->poll = calloc(2, sizeof *e->poll))) return SIO_ENOMEM;
  e->post = e->poll + 1;
  sio__eioc_http_init(e, e->poll, 0);
  sio__eioc_http_init(e, e->post, 1);
  return 0;
}

static int init_handles(sio_eioc_t *e) {
  if (e->eio == 3 && !(e->v3_ping_timer = malloc(sizeof *e->v3_ping_timer))) return SIO_ENOMEM;
  uv_timer_init(e->loop, &e->timer);
  uv_idle_init(e->loop, &e->flush_idle);
  e->timer.data = e->flush_idle.data = e;
  e->handles_open = 2;
  if (e->v3_ping_timer) {
    uv_timer_init(e->loop, e->v3_ping_timer);
    e->v3_ping_timer->data = e;
    e->handles_open++;
  }
  return 0;
}

/* The first failure is reported through on_close like any later one (the caller has its handle
 * and callbacks in place), unless nothing could be set up at all. */
static void start(sio_eioc_t *e) {
  if (e->timeout_ms) uv_timer_start(&e->timer, on_open_timeout, e->timeout_ms, 0);
  if (e->secure) {
    const char *detail = NULL;
    e->ssl_ctx = sio_eioc_tls_ctx(e->tls_ca_file, e->tls_verify, &detail);
    if (!e->ssl_ctx) {
      sio__eioc_fail(e, SIO_ETLS, "transport error", detail);
      return;
    }
  }
  int ws_only = !(e->transports & SIO_CLIENT_POLLING);
  e->transport = ws_only ? SIO_CLIENT_WEBSOCKET : SIO_CLIENT_POLLING;
  int r = ws_only ? sio__eioc_ws_start(e, 0) : sio__eioc_poll_start(e);
  if (r) sio__eioc_fail(e, r, "transport error", sio_strerror(r));
}

int sio_eioc_new(uv_loop_t *loop, const sio_eioc_config_t *cfg, const sio_eioc_callbacks_t *cb,
                 void *user, sio_eioc_t **out) {
  if (!loop || !cfg || !cfg->host || !*cfg->host || cfg->port <= 0 || cfg->port > 65535 || !out)
    return SIO_EINVAL;
  if (cfg->transports & ~(unsigned)(SIO_CLIENT_POLLING | SIO_CLIENT_WEBSOCKET)) return SIO_EINVAL;
  sio_eioc_t *e = calloc(1, sizeof *e);
  if (!e) return SIO_ENOMEM;
  e->loop = loop;
  if (cb) e->cb = *cb;
  e->user = user;
  int r = copy_config(e, cfg);
  if (!r) r = init_polling(e);
  if (!r) r = init_handles(e);
  if (r) {
    destroy(e);
    return r;
  }
  sio_ws_parser_init(&e->ws.parser, SIO_WS_ROLE_CLIENT, e->max_payload);
  e->state = ST_OPENING;
  *out = e;
  start(e);
  return 0;
}

void *sio_eioc_user(const sio_eioc_t *e) { return e->user; }

const char *sio_eioc_sid(const sio_eioc_t *e) {
  return e && (e->state == ST_OPEN || e->state == ST_CLOSING) ? e->info.sid : NULL;
}

int sio_eioc_transport(const sio_eioc_t *e) { return e ? e->transport : 0; }
