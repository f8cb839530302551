/* HTTP long polling: a GET always waiting for the server's packets and POSTs carrying the
 * client's, each on its own keep-alive connection (as engine.io-client's two XHRs), so that a
 * pending poll never holds a send back. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "client/eioc_internal.h"
#include "sio.h"
#include "sio_client.h"

static const sio_eioc_conn_cbs_t http_cbs;

#define IDLE_REUSE_MS 3000

void sio__eioc_http_init(sio_eioc_t *e, eioc_http_t *h, int is_post) {
  h->e = e;
  h->is_post = is_post;
}

void sio__eioc_http_free(eioc_http_t *h) {
  sio_eioc_conn_close(h->conn);
  h->conn = NULL;
  if (h->resp) sio_eioc_resp_free(h->resp);
  free(h->resp);
  h->resp = NULL;
  sio_sbuf_free(&h->req);
}

/* A failure of either connection ends the Engine.IO connection (engine.io-client's "xhr poll
 * error" / "xhr post error"); a server that hung up is "transport close". */
static void http_failed(eioc_http_t *h, int err, const char *detail) {
  sio_eioc_t *e = h->e;
  const char *reason = e->state != ST_OPENING && err == UV_EOF ? "transport close" : "transport error";
  if (!detail) {
    detail = err == UV_EOF ? "the server closed the connection" : sio_strerror(err);
    if (err == SIO_ETOOBIG) detail = "response larger than max_payload";
    if (err == SIO_EPROTO) detail = "malformed HTTP response";
  }
  sio__eioc_fail(e, err, reason, detail);
}

static int http_send(eioc_http_t *h) {
  if (!h->resp) {
    h->resp = malloc(sizeof *h->resp);
    if (!h->resp) return SIO_ENOMEM;
    sio_eioc_resp_init(h->resp, h->e->max_payload);
  }
  h->busy = 1;
  sio_eioc_resp_reset(h->resp);
  /* Servers close idle keep-alive connections after about 5 s (Node's keepAliveTimeout, sio's
   * keep_alive_timeout_ms): a request written just as that happens would be lost, so a
   * connection idle that long is not reused. */
  if (h->conn && uv_now(h->e->loop) - h->idle_since >= IDLE_REUSE_MS) {
    sio_eioc_conn_close(h->conn);
    h->conn = NULL;
  }
  if (h->conn) return sio_eioc_conn_write(h->conn, &h->req);
  sio_eioc_t *e = h->e;
  return sio_eioc_conn_open(e->loop, e->host, e->port, e->ssl_ctx, &http_cbs, h, &h->conn);
}

static int build_head(sio_eioc_t *e, sio_sbuf_t *out, const char *method) {
  int r = sio_sbuf_append_str(out, method);
  r = r ? r : sio_sbuf_append_char(out, ' ');
  r = r ? r : sio_eioc_target(out, e->path, e->eio, "polling", e->state == ST_OPENING ? NULL : e->info.sid,
                              e->query);
  r = r ? r : sio_sbuf_append_str(out, " HTTP/1.1\r\n");
  r = r ? r : sio__eioc_common_headers(e, out);
  r = r ? r : sio_sbuf_append_str(out, "Accept: */*\r\n");
  return r;
}

int sio__eioc_poll_start(sio_eioc_t *e) {
  eioc_http_t *h = e->poll;
  if (h->busy || e->paused || e->state == ST_CLOSED) return 0;
  h->req.len = 0;
  int r = build_head(e, &h->req, "GET");
  r = r ? r : sio_sbuf_append_str(&h->req, "\r\n");
  return r ? r : http_send(h);
}

/* ---------------------------------------------------------------------------------------------- */
/* POST                                                                                             */

typedef struct {
  sio_eio_payload_enc_t enc;
  size_t limit;
  int has_close;
} post_build_t;

static int add_to_post(sio_eioc_t *e, const sio_eio_packet_t *pkt, void *arg) {
  post_build_t *b = arg;
  /* The server's maxPayload bounds one POST: what does not fit waits for the next. */
  if (b->enc.count && e->scratch.len + pkt->len + 16 > b->limit) return 1;
  if (sio_eio_payload_add(&b->enc, pkt)) return 1;
  if (pkt->type == SIO_EIO_CLOSE) b->has_close = 1;
  return 0;
}

void sio__eioc_poll_flush(sio_eioc_t *e) {
  eioc_http_t *h = e->post;
  if (h->busy || e->paused || e->q.len == 0 || e->state == ST_OPENING || e->state == ST_CLOSED)
    return;
  post_build_t b;
  e->scratch.len = 0;
  sio_eio_payload_begin(&b.enc, &e->scratch, e->eio, 0, 0);
  b.limit = e->info.max_payload ? (size_t)e->info.max_payload : e->max_payload;
  b.has_close = 0;
  sio__eioc_drain_queue(e, add_to_post, &b);
  h->req.len = 0;
  int r = sio_sbuf_reserve(&h->req, 512 + e->scratch.len); /* head and body: one allocation */
  r = r ? r : build_head(e, &h->req, "POST");
  r = r ? r : sio_sbuf_append_str(&h->req, "Content-Type: text/plain;charset=UTF-8\r\nContent-Length: ");
  r = r ? r : sio_sbuf_append_u64(&h->req, e->scratch.len);
  r = r ? r : sio_sbuf_append_str(&h->req, "\r\n\r\n");
  r = r ? r : sio_sbuf_append(&h->req, e->scratch.data, e->scratch.len);
  r = r ? r : http_send(h);
  h->is_post = b.has_close ? 2 : 1; /* 2: the CLOSE went with it */
  if (r) http_failed(h, r, NULL);
}

/* ---------------------------------------------------------------------------------------------- */
/* Responses                                                                                        */

static void status_failed(eioc_http_t *h) {
  char detail[300];
  sio_sbuf_t *b = &h->resp->body;
  size_t n = b->len < 200 ? b->len : 200;
  snprintf(detail, sizeof detail, "HTTP %d %.*s", h->resp->status, (int)n, b->data ? b->data : "");
  sio__eioc_fail(h->e, SIO_EPROTO, "transport error", detail);
}

static int deliver_cb(void *user, const sio_eio_packet_t *pkt) {
  return sio__eioc_packet(user, pkt, 0);
}

static void on_poll_response(eioc_http_t *h) {
  sio_eioc_t *e = h->e;
  /* The body leaves the parser, so the next poll (which opening may start) can reuse it. */
  sio_eioc_resp_t *resp = h->resp;
  sio_sbuf_t body = resp->body;
  int binary = strncasecmp(resp->content_type, "application/octet-stream", 24) == 0;
  memset(&resp->body, 0, sizeof resp->body);
  h->busy = 0;
  int r = sio_eio_decode_payload(e->eio, binary, body.data, body.len, deliver_cb, e);
  if (r < 0 && e->state != ST_CLOSED) {
    char detail[200];
    snprintf(detail, sizeof detail, "bad polling payload: %s", sio_strerror(r));
    sio__eioc_fail(e, SIO_EPARSE, "parse error", detail);
  }
  /* The parser may be gone (the upgrade finished inside the decode): then the body goes too. */
  if (h->resp == resp && resp->body.cap == 0 && body.cap <= 65536) {
    body.len = 0;
    resp->body = body;
  } else {
    sio_sbuf_free(&body);
  }
  if (e->state == ST_CLOSED) return;
  if (e->state == ST_OPENING) {
    sio__eioc_fail(e, SIO_EPARSE, "parse error", "handshake: no OPEN packet");
    return;
  }
  if (e->paused) {
    sio__eioc_check_paused(e);
    return;
  }
  r = sio__eioc_poll_start(e);
  if (r) http_failed(h, r, NULL);
}

static void on_post_response(eioc_http_t *h) {
  sio_eioc_t *e = h->e;
  h->busy = 0;
  e->scratch.len = 0;
  if (h->is_post == 2) {
    sio__eioc_fail(e, 0, "forced close", NULL);
    return;
  }
  if (e->paused) {
    sio__eioc_check_paused(e);
    return;
  }
  sio__eioc_poll_flush(e);
}

static void on_response(eioc_http_t *h) {
  h->idle_since = uv_now(h->e->loop);
  if (!h->resp->keep_alive) {
    sio_eioc_conn_close(h->conn);
    h->conn = NULL;
  }
  if (h->resp->status != 200) {
    status_failed(h);
    return;
  }
  if (h->is_post)
    on_post_response(h);
  else
    on_poll_response(h);
}

/* ---------------------------------------------------------------------------------------------- */
/* Connection events                                                                                */

static void on_http_connect(sio_eioc_conn_t *c, int err, const char *detail) {
  eioc_http_t *h = sio_eioc_conn_user(c);
  if (err) {
    sio_eioc_conn_close(c);
    h->conn = NULL;
    http_failed(h, err, detail);
    return;
  }
  int r = sio_eioc_conn_write(c, &h->req);
  if (r) http_failed(h, r, NULL);
}

static void on_http_read(sio_eioc_conn_t *c, char *data, size_t len) {
  eioc_http_t *h = sio_eioc_conn_user(c);
  if (!h->busy) {
    http_failed(h, SIO_EPROTO, "unexpected bytes from the server");
    return;
  }
  size_t used;
  int r = sio_eioc_resp_feed(h->resp, data, len, &used);
  if (r < 0) {
    http_failed(h, r, NULL);
    return;
  }
  if (r == 1) {
    if (used != len) {
      http_failed(h, SIO_EPROTO, "unexpected bytes after a response");
      return;
    }
    on_response(h);
  }
}

static void on_http_end(sio_eioc_conn_t *c, int err) {
  eioc_http_t *h = sio_eioc_conn_user(c);
  sio_eioc_conn_close(c);
  h->conn = NULL;
  if (!h->busy) return; /* an idle keep-alive connection closed: the next request opens another */
  if (err == UV_EOF && sio_eioc_resp_eof(h->resp) == 1) {
    on_response(h);
    return;
  }
  /* Cut off inside a response (a truncated body or chunk) is a broken response. */
  int partial = h->resp->head_bytes || h->resp->headers_done;
  http_failed(h, err == UV_EOF && partial ? SIO_EPROTO : err, NULL);
}

static const sio_eioc_conn_cbs_t http_cbs = {on_http_connect, on_http_read, on_http_end, NULL};
