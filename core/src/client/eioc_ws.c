/* The WebSocket transport (RFC 6455, client role): the handshake, masked frames written in
 * batches (one write for everything one loop turn queued), the probe of an upgrade, the close. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>


#include "base64.h"
#include "client/eioc_internal.h"
#include "sio.h"
#include "sio_client.h"

static const sio_eioc_conn_cbs_t ws_cbs;

/* Mask bytes, refilled from the CSPRNG: one pool per thread, not per connection. */
static _Thread_local uint8_t rnd[256];
static _Thread_local size_t rnd_pos;

static void drop_resp(sio_eioc_t *e) {
  if (e->ws.resp) sio_eioc_resp_free(e->ws.resp);
  free(e->ws.resp);
  e->ws.resp = NULL;
}

static int ws_probing(const sio_eioc_t *e) { return e->transport == SIO_CLIENT_POLLING; }

void sio__eioc_ws_free(sio_eioc_t *e) {
  sio_eioc_conn_close(e->ws.conn);
  e->ws.conn = NULL;
  sio_ws_parser_free(&e->ws.parser);
  drop_resp(e);
  sio_sbuf_free(&e->ws.out);
}

/* A failed probe leaves the connection on polling; a failed WebSocket transport ends it. */
static void ws_failed(sio_eioc_t *e, int err, const char *detail) {
  if (e->state == ST_CLOSED) return;
  if (ws_probing(e)) {
    sio_eioc_conn_close(e->ws.conn);
    e->ws.conn = NULL;
    e->ws.state = WS_NONE;
    if (e->paused) {
      e->paused = 0;
      int r = sio__eioc_poll_start(e);
      if (r) sio__eioc_fail(e, r, "transport error", sio_strerror(r));
      else sio__eioc_schedule_flush(e);
    }
    return;
  }
  const char *reason = e->state != ST_OPENING && err == UV_EOF ? "transport close" : "transport error";
  if (!detail) detail = err == UV_EOF ? "the server closed the connection" : sio_strerror(err);
  sio__eioc_fail(e, err, reason, detail);
}

/* ---------------------------------------------------------------------------------------------- */
/* Frames                                                                                           */

static const uint8_t *next_mask(void) {
  if (rnd_pos == 0 || rnd_pos + 4 > sizeof rnd) {
    if (uv_random(NULL, NULL, rnd, sizeof rnd, 0, NULL) != 0) abort(); /* no CSPRNG: no masks */
    rnd_pos = 0;
  }
  const uint8_t *m = rnd + rnd_pos;
  rnd_pos += 4;
  return m;
}

/* Appends one masked frame: `prefix` (a type byte, or -1 for none) then data. */
static int add_frame(eioc_ws_t *w, int opcode, int prefix, const char *data, size_t len) {
  size_t plen = len + (prefix >= 0 ? 1 : 0);
  int r = sio_sbuf_reserve(&w->out, 14 + plen);
  if (r) return r;
  uint8_t mask[4];
  memcpy(mask, next_mask(), 4);
  uint8_t *o = (uint8_t *)w->out.data + w->out.len;
  size_t h = sio_ws_frame_header(o, opcode, 1, plen, mask);
  uint8_t *p = o + h;
  if (prefix >= 0) *p++ = (uint8_t)prefix;
  if (len) memcpy(p, data, len);
  sio_ws_mask(o + h, plen, mask, 0);
  w->out.len += h + plen;
  return 0;
}

static int add_packet(sio_eioc_t *e, const sio_eio_packet_t *pkt, void *arg) {
  eioc_ws_t *w = &e->ws;
  int r;
  if (pkt->binary)
    r = add_frame(w, SIO_WS_OP_BINARY, e->eio == 3 ? SIO_EIO_MESSAGE : -1, pkt->data, pkt->len);
  else
    r = add_frame(w, SIO_WS_OP_TEXT, '0' + pkt->type, pkt->data, pkt->len);
  if (r) return r;
  if (pkt->type == SIO_EIO_CLOSE) {
    /* The Engine.IO CLOSE, then the WebSocket close (1000). */
    static const char normal[2] = {0x03, (char)0xe8};
    r = add_frame(w, SIO_WS_OP_CLOSE, -1, normal, 2);
    if (r) return r;
    *(int *)arg = 1;
  }
  return 0;
}

static int write_out(sio_eioc_t *e) {
  if (e->ws.out.len == 0) return 0;
  int r = sio_eioc_conn_write(e->ws.conn, &e->ws.out);
  /* Over TLS the storage stays here (its bytes were encrypted): a big one is not kept. */
  if (e->ws.out.cap > 65536) sio_sbuf_free(&e->ws.out);
  return r;
}

void sio__eioc_ws_flush(sio_eioc_t *e) {
  if (e->ws.state != WS_OPEN || !e->ws.conn) return;
  int has_close = 0;
  /* One allocation for the whole batch: a frame adds at most 9 bytes to its queue record (a
   * 14-byte header and a type byte for the record's 6). */
  if (sio_sbuf_reserve(&e->ws.out, e->q.len + 9 * e->q_count)) {
    ws_failed(e, SIO_ENOMEM, NULL);
    return;
  }
  sio__eioc_drain_queue(e, add_packet, &has_close);
  int r = write_out(e);
  if (r) {
    ws_failed(e, r, NULL);
    return;
  }
  if (has_close) e->ws.state = WS_DONE; /* the end: nothing more is written */
}

void sio__eioc_ws_send_upgrade(sio_eioc_t *e) {
  int r = add_frame(&e->ws, SIO_WS_OP_TEXT, '0' + SIO_EIO_UPGRADE, NULL, 0);
  if (r) {
    sio__eioc_fail(e, r, "transport error", sio_strerror(r));
    return;
  }
  sio__eioc_ws_flush(e);
}

void sio__eioc_ws_probe_answered(sio_eioc_t *e) {
  /* Polling pauses: the pending poll comes back (the server answers it with a NOOP) and a POST in
   * flight finishes; then "5" goes out on the WebSocket, followed by everything queued. */
  e->paused = 1;
  sio__eioc_check_paused(e);
}

/* ---------------------------------------------------------------------------------------------- */
/* Frames from the server                                                                           */

static int on_ws_message(void *user, int opcode, char *data, size_t len) {
  sio_eioc_t *e = user;
  sio_eio_packet_t pkt;
  if (sio_eio_decode_ws(e->eio, opcode == SIO_WS_OP_BINARY, data, len, &pkt)) {
    if (ws_probing(e)) {
      ws_failed(e, SIO_EPARSE, NULL);
      return 1;
    }
    sio__eioc_fail(e, SIO_EPARSE, "parse error", "bad packet on the WebSocket");
    return 1;
  }
  return sio__eioc_packet(e, &pkt, 1);
}

static int on_ws_control(void *user, int opcode, char *data, size_t len) {
  sio_eioc_t *e = user;
  if (opcode == SIO_WS_OP_CLOSE) {
    ws_failed(e, UV_EOF, "the server closed the WebSocket");
    return 1;
  }
  if (opcode == SIO_WS_OP_PING && e->ws.state <= WS_OPEN) {
    /* Answered at once, ahead of any packet queued for the next flush. */
    if (add_frame(&e->ws, SIO_WS_OP_PONG, -1, data, len) == 0 && write_out(e)) {
      ws_failed(e, SIO_ECLOSED, NULL);
      return 1;
    }
  }
  return 0;
}

static const sio_ws_callbacks_t frame_cbs = {on_ws_message, on_ws_control, NULL};

static void feed_frames(sio_eioc_t *e, char *data, size_t len) {
  int r = sio_ws_parser_execute(&e->ws.parser, &frame_cbs, e, data, len, NULL);
  if (r < 0 && e->state != ST_CLOSED) {
    char detail[120];
    snprintf(detail, sizeof detail, "WebSocket: %s", sio_strerror(r));
    ws_failed(e, r, detail);
  }
}

/* ---------------------------------------------------------------------------------------------- */
/* The handshake                                                                                    */

static int handshake_ok(sio_eioc_t *e, char *detail, size_t cap) {
  sio_eioc_resp_t *rs = e->ws.resp;
  if (rs->status != 101) {
    size_t n = rs->body.len < 200 ? rs->body.len : 200;
    snprintf(detail, cap, "HTTP %d %.*s", rs->status, (int)n, rs->body.data ? rs->body.data : "");
    return 0;
  }
  if (strcasecmp(rs->upgrade_hdr, "websocket") != 0 || !sio_eioc_ws_accept_ok(e->ws.key, rs->ws_accept)) {
    snprintf(detail, cap, "WebSocket: bad handshake answer");
    return 0;
  }
  return 1;
}

static void on_handshake_read(sio_eioc_t *e, char *data, size_t len) {
  size_t used;
  int r = sio_eioc_resp_feed(e->ws.resp, data, len, &used);
  if (r < 0) {
    ws_failed(e, r, r == SIO_ETOOBIG ? "WebSocket: handshake answer too large"
                                     : "WebSocket: malformed handshake answer");
    return;
  }
  if (r == 0) return;
  char detail[300];
  if (!handshake_ok(e, detail, sizeof detail)) {
    ws_failed(e, SIO_EPROTO, detail);
    return;
  }
  drop_resp(e);
  if (ws_probing(e)) {
    e->ws.state = WS_PROBING;
    if (add_frame(&e->ws, SIO_WS_OP_TEXT, '0' + SIO_EIO_PING, "probe", 5) || write_out(e)) {
      ws_failed(e, SIO_ENOMEM, NULL);
      return;
    }
  } else {
    e->ws.state = WS_OPEN;
  }
  if (used < len) feed_frames(e, data + used, len - used);
}

static void on_ws_connect(sio_eioc_conn_t *c, int err, const char *detail) {
  sio_eioc_t *e = sio_eioc_conn_user(c);
  if (err) {
    ws_failed(e, err, detail);
    return;
  }
  sio_sbuf_t *b = &e->ws.out;
  b->len = 0;
  int r = sio_sbuf_append_str(b, "GET ");
  r = r ? r : sio_eioc_target(b, e->path, e->eio, "websocket", ws_probing(e) ? e->info.sid : NULL,
                              e->query);
  r = r ? r : sio_sbuf_append_str(b, " HTTP/1.1\r\n");
  r = r ? r : sio__eioc_common_headers(e, b);
  r = r ? r : sio_sbuf_append_str(b, "Connection: Upgrade\r\nUpgrade: websocket\r\n"
                                     "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: ");
  r = r ? r : sio_sbuf_append_str(b, e->ws.key);
  r = r ? r : sio_sbuf_append_str(b, "\r\n\r\n");
  r = r ? r : write_out(e);
  if (r) ws_failed(e, r, NULL);
}

static void on_ws_read(sio_eioc_conn_t *c, char *data, size_t len) {
  sio_eioc_t *e = sio_eioc_conn_user(c);
  if (e->ws.state == WS_HANDSHAKE)
    on_handshake_read(e, data, len);
  else
    feed_frames(e, data, len);
}

static void on_ws_end(sio_eioc_conn_t *c, int err) {
  sio_eioc_t *e = sio_eioc_conn_user(c);
  ws_failed(e, err, NULL);
}

/* After our close frame the server's answer (its close frame, or its hang-up) ends the connection,
 * as RFC 6455 5.5.1 has it; the graceful close's timer bounds the wait. */
static const sio_eioc_conn_cbs_t ws_cbs = {on_ws_connect, on_ws_read, on_ws_end, NULL};

int sio__eioc_ws_start(sio_eioc_t *e, int probe) {
  (void)probe; /* the transport in use tells: a probe runs while polling */
  uint8_t nonce[16];
  if (uv_random(NULL, NULL, nonce, sizeof nonce, 0, NULL) != 0) return SIO_ENOMEM;
  sio_sbuf_t k = SIO_SBUF_INIT;
  int r = sio_base64_encode(&k, nonce, sizeof nonce);
  if (r) return r;
  memcpy(e->ws.key, k.data, 24);
  e->ws.key[24] = '\0';
  sio_sbuf_free(&k);
  e->ws.resp = malloc(sizeof *e->ws.resp);
  if (!e->ws.resp) return SIO_ENOMEM;
  sio_eioc_resp_init(e->ws.resp, 4096); /* room for an error's body */
  e->ws.state = WS_HANDSHAKE;
  return sio_eioc_conn_open(e->loop, e->host, e->port, e->ssl_ctx, &ws_cbs, e, &e->ws.conn);
}
