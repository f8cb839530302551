/* libFuzzer harness for the Engine.IO client's input path, without sockets: every byte a server
 * sends goes through the same pure functions as in the client (eioc_proto.h, eio_codec.h, ws.h).
 *
 * Byte 0: bit 0 the protocol (EIO 3 or 4), bits 1-3 max_payload, bits 4-7 the chunk size. The rest
 * is an HTTP/1.1 response, fed whole and then in chunks (each in its own exact-size allocation):
 * both runs must agree. A complete response's body is decoded as a polling payload (binary when
 * its Content-Type says so), each packet checked and OPEN packets parsed as the handshake; the
 * bytes after a 101 are WebSocket frames (client role), each message decoded as a packet. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "client/eioc_proto.h"
#include "engine/eio_codec.h"
#include "sio.h"
#include "websocket/ws.h"

typedef struct {
  int eio;
  size_t max_payload;
  uint64_t hash;
  int result;
} run_t;

static void mix(run_t *r, const void *p, size_t n) {
  const unsigned char *b = p;
  for (size_t i = 0; i < n; i++) r->hash = (r->hash ^ b[i]) * 0x100000001b3ull;
}

static void packet(run_t *r, const sio_eio_packet_t *pkt) {
  if (pkt->type < SIO_EIO_OPEN || pkt->type > SIO_EIO_NOOP) abort();
  if (pkt->binary && pkt->type != SIO_EIO_MESSAGE) abort();
  if (pkt->len && !pkt->data) abort();
  mix(r, &pkt->type, sizeof pkt->type);
  mix(r, pkt->data, pkt->len);
  if (pkt->type == SIO_EIO_OPEN) {
    sio_eioc_open_t o;
    if (sio_eioc_parse_open(pkt->data, pkt->len, &o) == 0) {
      if (!o.sid[0] || o.ping_interval == 0 || o.ping_timeout == 0) abort();
      mix(r, o.sid, strlen(o.sid));
    }
  }
}

static int on_payload_packet(void *user, const sio_eio_packet_t *pkt) {
  packet(user, pkt);
  return 0;
}

static int on_ws_message(void *user, int opcode, char *data, size_t len) {
  run_t *r = user;
  if (len > r->max_payload) abort();
  sio_eio_packet_t pkt;
  if (sio_eio_decode_ws(r->eio, opcode == SIO_WS_OP_BINARY, data, len, &pkt) == 0) packet(r, &pkt);
  return 0;
}

static int on_ws_control(void *user, int opcode, char *data, size_t len) {
  mix(user, data, len);
  return 0;
}

static const sio_ws_callbacks_t ws_cbs = {on_ws_message, on_ws_control, NULL};

/* What follows a complete response. */
static void after_response(run_t *r, sio_eioc_resp_t *resp, sio_ws_parser_t *ws, char *rest,
                           size_t rest_len) {
  if (resp->body.len > r->max_payload) abort();
  if (resp->upgrade) {
    int rv = sio_ws_parser_execute(ws, &ws_cbs, r, rest, rest_len, NULL);
    if (rv < 0) r->result = rv;
    return;
  }
  mix(r, &resp->status, sizeof resp->status);
  if (resp->body.len == 0) return;
  int binary = strncasecmp(resp->content_type, "application/octet-stream", 24) == 0;
  int rv = sio_eio_decode_payload(r->eio, binary, resp->body.data, resp->body.len,
                                  on_payload_packet, r);
  mix(r, &rv, sizeof rv);
}

static void run(run_t *r, const uint8_t *data, size_t len, size_t chunk) {
  sio_eioc_resp_t resp;
  sio_ws_parser_t ws;
  sio_eioc_resp_init(&resp, r->max_payload);
  sio_ws_parser_init(&ws, SIO_WS_ROLE_CLIENT, r->max_payload);
  int done = 0;
  for (size_t off = 0; off < len;) {
    size_t n = chunk && len - off > chunk ? chunk : len - off;
    char *buf = malloc(n);
    memcpy(buf, data + off, n);
    off += n;
    if (done) {
      /* After a 101, everything is frames. */
      if (resp.upgrade) {
        int rv = sio_ws_parser_execute(&ws, &ws_cbs, r, buf, n, NULL);
        if (rv < 0) {
          r->result = rv;
          done = 2;
        }
      }
      free(buf);
      if (done == 2) break;
      continue;
    }
    size_t used;
    int rv = sio_eioc_resp_feed(&resp, buf, n, &used);
    if (used > n) abort();
    if (rv < 0) {
      r->result = rv;
      free(buf);
      break;
    }
    if (rv == 1) {
      done = 1;
      after_response(r, &resp, &ws, buf + used, n - used);
    }
    free(buf);
    if (rv == 1 && (!resp.upgrade || r->result < 0)) break;
  }
  if (!done && r->result == 0) r->result = sio_eioc_resp_eof(&resp);
  sio_ws_parser_free(&ws);
  sio_eioc_resp_free(&resp);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len) {
  if (len < 1) return 0;
  static const size_t maxes[8] = {16, 64, 256, 1024, 4096, 65536, 1 << 20, 16 << 20};
  static const size_t chunks[16] = {1, 2, 3, 5, 7, 11, 16, 31, 64, 100, 128, 257, 512, 1000, 4096, 9999};
  run_t whole = {data[0] & 1 ? 3 : 4, maxes[(data[0] >> 1) & 7], 0, 0};
  run_t cut = whole;
  run(&whole, data + 1, len - 1, 0);
  run(&cut, data + 1, len - 1, chunks[data[0] >> 4]);
  /* The split may only change where a failure is noticed, never what was delivered before it. */
  if (whole.result >= 0 && cut.result >= 0 && whole.hash != cut.hash) abort();
  return 0;
}
