/* libFuzzer harness for the Engine.IO codec.
 *
 * Byte 0 picks the decoder: bit 0 the version (1: v4, 0: v3), bit 1 binary_body (v3 polling
 * bodies sent as application/octet-stream), bit 2 the WebSocket frame kind. The rest is the body.
 * Every payload that decodes is re-encoded in each framing and decoded again; where the framing
 * can represent the packets exactly, the second decode must give them back (a trap otherwise).
 * Text that is not UTF-8 is refused (SIO_EUTF8) before any packet is delivered, but for v3's
 * binary framing, whose text packets are checked one by one and may hold lone surrogates. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "engine/eio_codec.h"
#include "sio.h"
#include "utf8.h"

#define MAX_PKTS 1024
/* The collector's stop value: proves it is passed back untouched. */
#define STOP_FULL 77

typedef struct {
  sio_eio_packet_t pkts[MAX_PKTS];
  size_t n;
} pkt_list_t;

static pkt_list_t first, second;

static int collect(void *user, const sio_eio_packet_t *pkt) {
  pkt_list_t *l = user;
  if (l->n == MAX_PKTS) return STOP_FULL;
  l->pkts[l->n++] = *pkt;
  return 0;
}

static void check_inside(const sio_eio_packet_t *p, const char *buf, size_t len) {
  if (p->len == 0) return;
  if (p->data < buf || p->data > buf + len || p->len > (size_t)(buf + len - p->data))
    __builtin_trap();
}

static void check_packet(const sio_eio_packet_t *p) {
  if (p->type < SIO_EIO_OPEN || p->type > SIO_EIO_NOOP) __builtin_trap();
  if (p->binary && p->type != SIO_EIO_MESSAGE) __builtin_trap();
}

/* v3 text lengths count UTF-16 units found by walking lead bytes, so text whose walk runs past
 * its end (a truncated sequence) cannot be delimited the same way twice. */
static int v3_text_exact(const sio_eio_packet_t *p) {
  if (p->binary) return 1;
  return sio_utf8_skip_utf16(p->data, p->len, sio_utf8_utf16_len(p->data, p->len)) == p->len;
}

static int v4_exact(const sio_eio_packet_t *p) {
  return p->binary || memchr(p->data, '\x1e', p->len) == NULL;
}

static void round_trip(const pkt_list_t *in, int version, int supports_binary) {
  int any_binary = 0, exact = in->n > 0;
  for (size_t i = 0; i < in->n; i++) {
    any_binary |= in->pkts[i].binary;
    if (version == 4 && !v4_exact(&in->pkts[i])) exact = 0;
  }

  sio_sbuf_t out = SIO_SBUF_INIT;
  sio_eio_payload_enc_t e;
  sio_eio_payload_begin(&e, &out, version, supports_binary, any_binary);
  for (size_t i = 0; i < in->n; i++) {
    if (sio_eio_payload_add(&e, &in->pkts[i]) != 0) __builtin_trap();
    if (version == 3 && !e.binary_framing && !v3_text_exact(&in->pkts[i])) exact = 0;
    /* Text must read back as text: UTF-8 in a text body, WTF-8 in v3's binary framing. */
    const sio_eio_packet_t *p = &in->pkts[i];
    if (!p->binary && !(e.binary_framing ? sio_wtf8_valid : sio_utf8_valid)(p->data, p->len))
      exact = 0;
  }
  if (e.count != in->n) __builtin_trap();
  (void)sio_eio_payload_content_type(&e);

  if (exact) {
    second.n = 0;
    int r = sio_eio_decode_payload(version, e.binary_framing, out.data, out.len, collect, &second);
    if (r != 0 || second.n != in->n) __builtin_trap();
    for (size_t i = 0; i < in->n; i++) {
      const sio_eio_packet_t *a = &in->pkts[i], *b = &second.pkts[i];
      if (a->type != b->type || a->binary != b->binary || a->len != b->len) __builtin_trap();
      if (a->len && memcmp(a->data, b->data, a->len) != 0) __builtin_trap();
    }
  }
  sio_sbuf_free(&out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1) return 0;
  int sel = data[0];
  int version = (sel & 1) ? 4 : 3;
  int binary_body = (sel >> 1) & 1;
  int binary_frame = (sel >> 2) & 1;
  size_t len = size - 1;
  /* Exactly len bytes, so that ASan sees any read past the body. */
  char *buf = malloc(len ? len : 1);
  if (!buf) return 0;
  if (len) memcpy(buf, data + 1, len);

  sio_eio_packet_t ws;
  int r = sio_eio_decode_ws(version, binary_frame, buf, len, &ws);
  if (r == 0) {
    check_packet(&ws);
    check_inside(&ws, buf, len);
    first.n = 1;
    first.pkts[0] = ws;
    round_trip(&first, 4, 0);
    round_trip(&first, 3, 0);
    round_trip(&first, 3, 1);
  } else if (r != SIO_EPARSE) {
    __builtin_trap();
  }

  first.n = 0;
  r = sio_eio_decode_payload(version, binary_body, buf, len, collect, &first);
  if (r != 0 && r != SIO_EPARSE && r != SIO_EUTF8 && r != STOP_FULL) __builtin_trap();
  if (r == STOP_FULL && first.n != MAX_PKTS) __builtin_trap();
  for (size_t i = 0; i < first.n; i++) {
    check_packet(&first.pkts[i]);
    check_inside(&first.pkts[i], buf, len);
  }
  /* Packets delivered before a parse error are re-encoded too: a session has acted on them. */
  round_trip(&first, 4, 0);
  round_trip(&first, 4, 1);
  round_trip(&first, 3, 0);
  round_trip(&first, 3, 1);

  free(buf);
  return 0;
}
