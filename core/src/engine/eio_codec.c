#include "eio_codec.h"

#include <stdint.h>
#include <string.h>

#include "base64.h"
#include "sio.h"
#include "utf8.h"

#define EIO_RECORD_SEP '\x1e'
/* v3 binary framing: the byte that ends a packet's length digits. */
#define EIO_LEN_END 0xff

static int type_from_char(char c) {
  if (c < '0' || c > '0' + SIO_EIO_NOOP) return -1;
  return c - '0';
}

/* A text packet without base64: "<type digit><data>". Shared by WebSocket text frames (whose
 * buffer is const, so base64 cannot be decoded there) and the base64-free path of payloads. */
static int parse_plain(const char *p, size_t n, sio_eio_packet_t *out) {
  if (n == 0) return SIO_EPARSE;
  int type = type_from_char(p[0]);
  if (type < 0) return SIO_EPARSE;
  out->type = type;
  out->binary = 0;
  out->data = p + 1;
  out->len = n - 1;
  return 0;
}

static int parse_base64_message(char *b64, size_t n, sio_eio_packet_t *out) {
  long dec = sio_base64_decode_inplace(b64, n);
  if (dec < 0) return SIO_EPARSE;
  out->type = SIO_EIO_MESSAGE;
  out->binary = 1;
  out->data = b64;
  out->len = (size_t)dec;
  return 0;
}

/* One packet of a polling payload in its text form. v4 marks base64 with a bare 'b'; v3 with 'b'
 * and the type digit. Only MESSAGE may carry bytes: nothing else in the protocol does, and
 * accepting it would hand the session a binary ping it has no use for. */
static int parse_text_packet(int version, char *p, size_t n, sio_eio_packet_t *out) {
  if (n == 0) return SIO_EPARSE;
  if (p[0] != 'b') return parse_plain(p, n, out);
  if (version >= 4) return parse_base64_message(p + 1, n - 1, out);
  if (n < 2 || type_from_char(p[1]) != SIO_EIO_MESSAGE) return SIO_EPARSE;
  return parse_base64_message(p + 2, n - 2, out);
}

int sio_eio_decode_ws(int version, int binary_frame, const char *data, size_t len,
                      sio_eio_packet_t *out) {
  if (!binary_frame) return parse_plain(data, len, out);
  if (version >= 4) {
    /* v4 frames carry no type byte: a binary frame can only be a message. */
    out->type = SIO_EIO_MESSAGE;
    out->binary = 1;
    out->data = data;
    out->len = len;
    return 0;
  }
  if (len == 0 || (unsigned char)data[0] != SIO_EIO_MESSAGE) return SIO_EPARSE;
  out->type = SIO_EIO_MESSAGE;
  out->binary = 1;
  out->data = data + 1;
  out->len = len - 1;
  return 0;
}

static int decode_v4(char *data, size_t len, sio_eio_packet_cb cb, void *user) {
  if (len == 0) return SIO_EPARSE;
  char *p = data, *end = data + len;
  for (;;) {
    char *sep = memchr(p, EIO_RECORD_SEP, (size_t)(end - p));
    char *stop = sep ? sep : end;
    sio_eio_packet_t pkt;
    int r = parse_text_packet(4, p, (size_t)(stop - p), &pkt);
    if (r) return r;
    r = cb(user, &pkt);
    if (r) return r;
    if (!sep) return 0;
    p = sep + 1;
  }
}

/* Parses decimal digits of p[*i..len) up to the terminator `term`. The length can never exceed
 * what remains of the body (a UTF-16 unit or a byte takes at least one byte), so anything larger
 * fails early and the accumulator cannot overflow. `digit_base` is '0' for ASCII digits and 0 for
 * the raw digit bytes of the v3 binary framing. */
static int parse_length(const unsigned char *p, size_t len, size_t *i, int term, int digit_base,
                        size_t *out) {
  size_t n = 0, start = *i, j = *i;
  for (; j < len && p[j] != term; j++) {
    int d = (int)p[j] - digit_base;
    if (d < 0 || d > 9 || n > (SIZE_MAX - 9) / 10) return SIO_EPARSE;
    n = n * 10 + (size_t)d;
    if (n > len) return SIO_EPARSE;
  }
  if (j == start || j == len) return SIO_EPARSE; /* no digits, or no terminator */
  *i = j + 1;
  *out = n;
  return 0;
}

static int decode_v3_text(char *data, size_t len, sio_eio_packet_cb cb, void *user) {
  if (len == 0) return SIO_EPARSE;
  const unsigned char *u = (const unsigned char *)data;
  size_t i = 0;
  while (i < len) {
    size_t units;
    int r = parse_length(u, len, &i, ':', '0', &units);
    if (r) return r;
    /* The prefix counts JavaScript string units, so the packet's byte extent is found by walking
     * its UTF-8. */
    size_t n = sio_utf8_skip_utf16(data + i, len - i, units);
    if (n == (size_t)-1 || n == 0) return SIO_EPARSE;
    sio_eio_packet_t pkt;
    r = parse_text_packet(3, data + i, n, &pkt);
    if (r) return r;
    r = cb(user, &pkt);
    if (r) return r;
    i += n;
  }
  return 0;
}

static int decode_v3_binary(char *data, size_t len, sio_eio_packet_cb cb, void *user) {
  if (len == 0) return SIO_EPARSE;
  const unsigned char *u = (const unsigned char *)data;
  size_t i = 0;
  while (i < len) {
    unsigned kind = u[i++];
    if (kind > 1) return SIO_EPARSE;
    size_t n;
    int r = parse_length(u, len, &i, EIO_LEN_END, 0, &n);
    if (r) return r;
    if (n == 0 || n > len - i) return SIO_EPARSE;
    sio_eio_packet_t pkt;
    if (kind == 0) {
      if (!sio_wtf8_valid(data + i, n)) return SIO_EUTF8;
      r = parse_text_packet(3, data + i, n, &pkt);
      if (r) return r;
    } else {
      if (u[i] != SIO_EIO_MESSAGE) return SIO_EPARSE;
      pkt.type = SIO_EIO_MESSAGE;
      pkt.binary = 1;
      pkt.data = data + i + 1;
      pkt.len = n - 1;
    }
    r = cb(user, &pkt);
    if (r) return r;
    i += n;
  }
  return 0;
}

int sio_eio_decode_payload(int version, int binary_body, char *data, size_t len,
                           sio_eio_packet_cb cb, void *user) {
  if (version >= 4 || !binary_body) {
    /* Text in a polling body reaches the same places as a WebSocket text frame's, and a WebSocket
     * peer it is relayed to would close on anything that is not UTF-8. */
    if (!sio_utf8_valid(data, len)) return SIO_EUTF8;
    return version >= 4 ? decode_v4(data, len, cb, user) : decode_v3_text(data, len, cb, user);
  }
  return decode_v3_binary(data, len, cb, user);
}

void sio_eio_payload_begin(sio_eio_payload_enc_t *e, sio_sbuf_t *out, int version,
                           int supports_binary, int any_binary) {
  e->out = out;
  e->version = version;
  e->binary_framing = version == 3 && supports_binary && any_binary;
  e->count = 0;
}

static size_t decimal_digits(size_t v) {
  size_t n = 1;
  while (v >= 10) {
    v /= 10;
    n++;
  }
  return n;
}

/* Writes v's digits as raw byte values 0-9 (the v3 binary framing) at o. */
static char *put_raw_digits(char *o, size_t v) {
  size_t nd = decimal_digits(v);
  for (size_t k = nd; k > 0; k--) {
    o[k - 1] = (char)(v % 10);
    v /= 10;
  }
  return o + nd;
}

static int add_binary_framed(sio_sbuf_t *b, const sio_eio_packet_t *pkt) {
  size_t body = 1 + pkt->len;
  int r = sio_sbuf_reserve(b, 2 + decimal_digits(body) + body);
  if (r) return r;
  char *o = b->data + b->len;
  *o++ = (char)(pkt->binary ? 1 : 0);
  o = put_raw_digits(o, body);
  *o++ = (char)EIO_LEN_END;
  *o++ = pkt->binary ? (char)pkt->type : (char)('0' + pkt->type);
  if (pkt->len) memcpy(o, pkt->data, pkt->len);
  b->len = (size_t)(o - b->data) + pkt->len;
  return 0;
}

static int add_text(sio_eio_payload_enc_t *e, const sio_eio_packet_t *pkt) {
  sio_sbuf_t *b = e->out;
  int v3 = e->version < 4;
  size_t body, units;
  if (pkt->binary) {
    body = (v3 ? 2 : 1) + sio_base64_encoded_len(pkt->len);
    units = body; /* base64 is ASCII */
  } else {
    body = 1 + pkt->len;
    units = v3 ? 1 + sio_utf8_utf16_len(pkt->data, pkt->len) : 0;
  }
  /* One reservation for the whole packet: the base64 encoder's own then never reallocates. */
  size_t head = v3 ? decimal_digits(units) + 1 : (e->count ? 1 : 0);
  int r = sio_sbuf_reserve(b, head + body);
  if (r) return r;
  if (v3) {
    sio_sbuf_append_u64(b, units);
    sio_sbuf_append_char(b, ':');
  } else if (e->count) {
    sio_sbuf_append_char(b, EIO_RECORD_SEP);
  }
  if (pkt->binary) {
    if (v3) sio_sbuf_append(b, "b4", 2);
    else sio_sbuf_append_char(b, 'b');
    return sio_base64_encode(b, pkt->data, pkt->len);
  }
  sio_sbuf_append_char(b, (char)('0' + pkt->type));
  return sio_sbuf_append(b, pkt->data, pkt->len);
}

int sio_eio_payload_add(sio_eio_payload_enc_t *e, const sio_eio_packet_t *pkt) {
  if (pkt->type < SIO_EIO_OPEN || pkt->type > SIO_EIO_NOOP) return SIO_EINVAL;
  if (pkt->binary && pkt->type != SIO_EIO_MESSAGE) return SIO_EINVAL;
  if (pkt->len && !pkt->data) return SIO_EINVAL;
  size_t mark = e->out->len;
  int r = e->binary_framing ? add_binary_framed(e->out, pkt) : add_text(e, pkt);
  if (r) {
    e->out->len = mark; /* a failed add leaves no half packet behind */
    return r;
  }
  e->count++;
  return 0;
}

const char *sio_eio_payload_content_type(const sio_eio_payload_enc_t *e) {
  return e->binary_framing ? "application/octet-stream" : "text/plain; charset=UTF-8";
}
