#include "ws.h"

#include <limits.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/sha.h>

#include "sio.h"
#include "utf8.h"

/* ---------------------------------------------------------------------------------------------- */
/* Masking                                                                                         */

/* dst and src are either the same buffer or disjoint ones. Every byte of a client's payload passes
 * through here, so the bulk goes 8 bytes at a time; memcpy keeps the loads and stores free of
 * alignment and aliasing trouble and compiles to plain (often vector) moves. */
static void xor_mask(uint8_t *dst, const uint8_t *src, size_t len, const uint8_t mask[4],
                     size_t offset) {
  uint8_t key[8];
  for (size_t i = 0; i < 8; i++) key[i] = mask[(offset + i) & 3];
  uint64_t k;
  memcpy(&k, key, 8);
  size_t i = 0;
  for (; i + 32 <= len; i += 32) {
    uint64_t a, b, c, d;
    memcpy(&a, src + i, 8);
    memcpy(&b, src + i + 8, 8);
    memcpy(&c, src + i + 16, 8);
    memcpy(&d, src + i + 24, 8);
    a ^= k;
    b ^= k;
    c ^= k;
    d ^= k;
    memcpy(dst + i, &a, 8);
    memcpy(dst + i + 8, &b, 8);
    memcpy(dst + i + 16, &c, 8);
    memcpy(dst + i + 24, &d, 8);
  }
  for (; i + 8 <= len; i += 8) {
    uint64_t a;
    memcpy(&a, src + i, 8);
    a ^= k;
    memcpy(dst + i, &a, 8);
  }
  /* i is a multiple of 8 here, so the key keeps its phase. */
  for (; i < len; i++) dst[i] = src[i] ^ key[i & 7];
}

void sio_ws_mask(uint8_t *data, size_t len, const uint8_t mask[4], size_t offset) {
  xor_mask(data, data, len, mask, offset);
}

/* ---------------------------------------------------------------------------------------------- */
/* Frame headers                                                                                   */

size_t sio_ws_frame_header(uint8_t out[14], int opcode, int fin, uint64_t payload_len,
                           const uint8_t *mask) {
  size_t n = 0;
  out[n++] = (uint8_t)((fin ? 0x80 : 0) | (opcode & 0x0f));
  uint8_t mbit = mask ? 0x80 : 0;
  if (payload_len < 126) {
    out[n++] = (uint8_t)(mbit | payload_len);
  } else if (payload_len <= 0xffff) {
    out[n++] = (uint8_t)(mbit | 126);
    out[n++] = (uint8_t)(payload_len >> 8);
    out[n++] = (uint8_t)payload_len;
  } else {
    out[n++] = (uint8_t)(mbit | 127);
    for (int shift = 56; shift >= 0; shift -= 8) out[n++] = (uint8_t)(payload_len >> shift);
  }
  if (mask) {
    memcpy(out + n, mask, 4);
    n += 4;
  }
  return n;
}

/* ---------------------------------------------------------------------------------------------- */
/* Handshake                                                                                       */

static int is_b64(unsigned char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' ||
         c == '/';
}

int sio_ws_accept_key(const char *key, size_t key_len, char out[29]) {
  static const char guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
  /* 16 bytes of base64 are always 22 symbols and "==": checking the shape is checking the length
   * of what it decodes to. */
  if (!key || key_len != 24 || key[22] != '=' || key[23] != '=') return SIO_EINVAL;
  for (size_t i = 0; i < 22; i++)
    if (!is_b64((unsigned char)key[i])) return SIO_EINVAL;

  unsigned char buf[24 + sizeof guid - 1];
  memcpy(buf, key, 24);
  memcpy(buf + 24, guid, sizeof guid - 1);
  unsigned char digest[SHA_DIGEST_LENGTH];
  if (!SHA1(buf, sizeof buf, digest)) return SIO_ENOMEM;
  /* EVP_EncodeBlock writes the 28 characters and the NUL: no heap on this path. */
  if (EVP_EncodeBlock((unsigned char *)out, digest, SHA_DIGEST_LENGTH) != 28) return SIO_EINVAL;
  return 0;
}

/* ---------------------------------------------------------------------------------------------- */
/* CLOSE payloads                                                                                  */

static int close_code_allowed(int code) {
  /* 1004-1006 and 1015 only ever describe a closure locally and must not be sent; RFC 6455
   * defines nothing else below 3000, and 3000-4999 belong to libraries and applications. */
  return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1011) ||
         (code >= 3000 && code <= 4999);
}

int sio_ws_parse_close(const char *data, size_t len, int *code, const char **reason,
                       size_t *reason_len) {
  int c = 1005;
  const char *r = data;
  size_t rl = 0;
  if (len == 1) return SIO_EPROTO;
  if (len >= 2) {
    c = ((unsigned char)data[0] << 8) | (unsigned char)data[1];
    if (!close_code_allowed(c)) return SIO_EPROTO;
    r = data + 2;
    rl = len - 2;
    if (!sio_utf8_valid(r, rl)) return SIO_EUTF8;
  }
  if (code) *code = c;
  if (reason) *reason = rl ? r : "";
  if (reason_len) *reason_len = rl;
  return 0;
}

size_t sio_ws_close_frame(uint8_t out[127], int code, const char *reason) {
  size_t n = 0;
  if (code) {
    size_t rl = reason ? strlen(reason) : 0;
    if (rl > 123) {
      rl = 123;
      /* Cut before a character, not inside one, so the peer still sees valid UTF-8. */
      while (rl > 0 && ((unsigned char)reason[rl] & 0xc0) == 0x80) rl--;
    }
    out[2] = (uint8_t)(code >> 8);
    out[3] = (uint8_t)code;
    if (rl) memcpy(out + 4, reason, rl);
    n = 2 + rl;
  }
  out[0] = 0x80 | SIO_WS_OP_CLOSE;
  out[1] = (uint8_t)n;
  return 2 + n;
}

/* ---------------------------------------------------------------------------------------------- */
/* The parser                                                                                      */

typedef struct {
  int fin;
  int opcode;
  int masked;
  uint8_t mask[4];
  size_t hlen;     /* header bytes, mask key included */
  size_t plen;     /* payload bytes */
} ws_header_t;

enum {
  HDR_COMPLETE = 0,  /* the whole frame is available */
  HDR_PARTIAL = 1,   /* the header itself is incomplete */
  HDR_NEED_BODY = 2  /* header known and valid, payload incomplete */
};

static void part_free(sio_ws_parser_t *p) {
  if (!p->part) return;
  sio_sbuf_free(&p->part->frame);
  sio_sbuf_free(&p->part->message);
  free(p->part);
  p->part = NULL;
}

static sio_ws_partial_t *part_get(sio_ws_parser_t *p) {
  if (!p->part) p->part = calloc(1, sizeof *p->part);
  return p->part;
}

static size_t frame_len(const sio_ws_parser_t *p) { return p->part ? p->part->frame.len : 0; }
static size_t message_len(const sio_ws_parser_t *p) { return p->part ? p->part->message.len : 0; }

static int fail(sio_ws_parser_t *p, int err) {
  switch (err) {
    case SIO_ETOOBIG: p->close_code = 1009; break;
    case SIO_EUTF8: p->close_code = 1007; break;
    case SIO_ENOMEM: p->close_code = 1011; break;
    default:
      err = SIO_EPROTO;
      p->close_code = 1002;
      break;
  }
  /* The connection is going away: hold nothing while the close handshake runs. */
  part_free(p);
  p->msg_opcode = 0;
  return err;
}

static int sticky_error(const sio_ws_parser_t *p) {
  switch (p->close_code) {
    case 1009: return SIO_ETOOBIG;
    case 1007: return SIO_EUTF8;
    case 1011: return SIO_ENOMEM;
    default: return SIO_EPROTO;
  }
}

/* Validates as much of the header as `avail` bytes show, so that a bad frame is refused on its
 * first bytes and an oversized one before any of its payload is buffered. Idempotent: a partial
 * frame's header is parsed again on each call until the frame is whole, so it reads but never
 * changes the parser's state. Returns HDR_* (*need: total bytes wanted) or a negative error. */
static int parse_header(const sio_ws_parser_t *p, const uint8_t *b, size_t avail, ws_header_t *h,
                        size_t *need) {
  if (avail < 1) {
    *need = 2;
    return HDR_PARTIAL;
  }
  if (b[0] & 0x70) return SIO_EPROTO; /* RSV bits: no extension was negotiated */
  h->fin = b[0] >> 7;
  h->opcode = b[0] & 0x0f;
  int control = h->opcode & 0x8;
  switch (h->opcode) {
    case SIO_WS_OP_CONT:
      if (!p->msg_opcode) return SIO_EPROTO;
      break;
    case SIO_WS_OP_TEXT:
    case SIO_WS_OP_BINARY:
      if (p->msg_opcode) return SIO_EPROTO;
      break;
    case SIO_WS_OP_CLOSE:
    case SIO_WS_OP_PING:
    case SIO_WS_OP_PONG:
      if (!h->fin) return SIO_EPROTO;
      break;
    default:
      return SIO_EPROTO;
  }
  if (avail < 2) {
    *need = 2;
    return HDR_PARTIAL;
  }
  h->masked = b[1] >> 7;
  if (h->masked != (p->role == SIO_WS_ROLE_SERVER)) return SIO_EPROTO;
  unsigned len7 = b[1] & 0x7f;
  if (control && len7 > 125) return SIO_EPROTO;
  size_t ext = len7 == 126 ? 2 : len7 == 127 ? 8 : 0;
  h->hlen = 2 + ext + (h->masked ? 4 : 0);
  if (avail < h->hlen) {
    *need = h->hlen;
    return HDR_PARTIAL;
  }
  uint64_t len = len7;
  if (len7 == 126) {
    len = (uint64_t)b[2] << 8 | b[3];
  } else if (len7 == 127) {
    if (b[2] & 0x80) return SIO_EPROTO;
    len = 0;
    for (size_t i = 2; i < 10; i++) len = len << 8 | b[i];
  }
  if (!control) {
    /* 0 means no limit; the cap keeps hlen + plen from overflowing size_t. */
    size_t max = p->max_message ? p->max_message : SIZE_MAX;
    if (max > SIZE_MAX - 64) max = SIZE_MAX - 64;
    size_t have = message_len(p);
    if (have > max || len > (uint64_t)(max - have)) return SIO_ETOOBIG;
  }
  h->plen = (size_t)len;
  if (h->masked) memcpy(h->mask, b + h->hlen - 4, 4);
  *need = h->hlen + h->plen;
  return avail >= *need ? HDR_COMPLETE : HDR_NEED_BODY;
}

static int deliver(sio_ws_parser_t *p, const sio_ws_callbacks_t *cb, void *user, int opcode,
                   char *data, size_t len) {
  if (opcode == SIO_WS_OP_TEXT && !sio_utf8_valid(data, len)) return fail(p, SIO_EUTF8);
  return cb && cb->on_message ? cb->on_message(user, opcode, data, len) : 0;
}

/* Handles one whole frame whose payload (already unmasked) is data[0..len). */
static int on_frame(sio_ws_parser_t *p, const sio_ws_callbacks_t *cb, void *user,
                    const ws_header_t *h, char *data, size_t len) {
  if (h->opcode & 0x8) {
    if (h->opcode == SIO_WS_OP_CLOSE) {
      int r = sio_ws_parse_close(data, len, NULL, NULL, NULL);
      if (r) return fail(p, r);
    }
    return cb && cb->on_control ? cb->on_control(user, h->opcode, data, len) : 0;
  }

  if (h->opcode != SIO_WS_OP_CONT) p->msg_opcode = (uint8_t)h->opcode;
  if (!h->fin) {
    /* The payload lives in the caller's buffer (or the frame buffer), which will not outlast this
     * call. */
    if (!part_get(p) || sio_sbuf_append(&p->part->message, data, len)) return fail(p, SIO_ENOMEM);
    return 0;
  }
  int opcode = p->msg_opcode;
  p->msg_opcode = 0;
  /* Unfragmented, or every earlier fragment empty: the payload is the whole message, no copy. */
  if (message_len(p) == 0) return deliver(p, cb, user, opcode, data, len);
  sio_sbuf_t *m = &p->part->message;
  if (sio_sbuf_append(m, data, len)) return fail(p, SIO_ENOMEM);
  int rv = deliver(p, cb, user, opcode, m->data, m->len);
  if (p->part) sio_sbuf_free(&p->part->message);
  return rv;
}

/* Buffers n bytes of an incomplete frame. Payload bytes are unmasked on the way in, which saves
 * a second pass over them once the frame is whole. The header is always buffered whole before
 * any payload byte, so hlen is known whenever payload bytes arrive. */
static int stash(sio_ws_parser_t *p, const ws_header_t *h, int header_known, const uint8_t *src,
                 size_t n) {
  if (!part_get(p) || sio_sbuf_reserve(&p->part->frame, n)) return SIO_ENOMEM;
  sio_sbuf_t *f = &p->part->frame;
  uint8_t *dst = (uint8_t *)f->data + f->len;
  size_t raw = n;
  if (header_known) raw = f->len >= h->hlen ? 0 : h->hlen - f->len;
  if (raw > n) raw = n;
  memcpy(dst, src, raw);
  if (n > raw) {
    size_t offset = f->len + raw - h->hlen;
    if (h->masked)
      xor_mask(dst + raw, src + raw, n - raw, h->mask, offset);
    else
      memcpy(dst + raw, src + raw, n - raw);
  }
  f->len += n;
  return 0;
}

int sio_ws_parser_execute(sio_ws_parser_t *p, const sio_ws_callbacks_t *cb, void *user,
                          char *data, size_t len, size_t *used) {
  if (used) *used = 0;
  if (p->close_code) return sticky_error(p);
  uint8_t *in = (uint8_t *)data;
  ws_header_t h;
  size_t need;
  int r, rv = 0;

  /* First finish a frame left incomplete by an earlier call, taking only its own bytes. */
  if (frame_len(p) > 0) {
    for (;;) {
      r = parse_header(p, (const uint8_t *)p->part->frame.data, p->part->frame.len, &h, &need);
      if (r < 0) return fail(p, r);
      if (r == HDR_COMPLETE) break;
      if (len == 0) goto done; /* all of it taken, the frame still incomplete */
      size_t n = need - p->part->frame.len;
      if (n > len) n = len;
      if (stash(p, &h, r == HDR_NEED_BODY, in, n)) return fail(p, SIO_ENOMEM);
      in += n;
      len -= n;
    }
    rv = on_frame(p, cb, user, &h, p->part->frame.data + h.hlen, h.plen);
    /* Keep the storage for now: the input's tail may need it again before this call returns. */
    if (p->part) p->part->frame.len = 0;
    if (rv) goto done;
  }

  while (len > 0) {
    r = parse_header(p, in, len, &h, &need);
    if (r < 0) return fail(p, r);
    if (r != HDR_COMPLETE) {
      /* Everything left belongs to this one frame. */
      if (stash(p, &h, r == HDR_NEED_BODY, in, len)) return fail(p, SIO_ENOMEM);
      in += len;
      break;
    }
    char *payload = (char *)in + h.hlen;
    if (h.masked) xor_mask((uint8_t *)payload, (uint8_t *)payload, h.plen, h.mask, 0);
    in += need;
    len -= need;
    rv = on_frame(p, cb, user, &h, payload, h.plen);
    if (rv) break;
  }

done:
  if (used) *used = (size_t)((char *)in - data);
  if (frame_len(p) == 0 && message_len(p) == 0) part_free(p);
  return rv;
}

void sio_ws_parser_init(sio_ws_parser_t *p, int role, size_t max_message) {
  memset(p, 0, sizeof *p);
  p->role = (uint8_t)role;
  p->max_message = max_message;
}

void sio_ws_parser_free(sio_ws_parser_t *p) {
  part_free(p);
  p->msg_opcode = 0;
}
