#include "ws.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <zlib.h>

#include "sha1.h"
#include "sio.h"
#include "utf8.h"

/* ---------------------------------------------------------------------------------------------- */
/* Masking                                                                                         */

/* dst and src are either the same buffer or disjoint ones. Every byte of a client's payload passes
 * through here, so the bulk goes 8 bytes at a time; memcpy keeps the loads and stores free of
 * alignment and aliasing trouble and compiles to plain (often vector) moves. */
/* Returns 1 when every byte it wrote is ASCII: the unmasking pass also tells whether a text
 * payload needs the UTF-8 check (ASCII is valid UTF-8 whatever it is), for a few ORs. */
static int xor_mask(uint8_t *dst, const uint8_t *src, size_t len, const uint8_t mask[4],
                    size_t offset) {
  uint8_t key[8];
  for (size_t i = 0; i < 8; i++) key[i] = mask[(offset + i) & 3];
  uint64_t k;
  memcpy(&k, key, 8);
  size_t i = 0;
  uint64_t seen = 0; /* the OR of every byte written */
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
    seen |= a | b | c | d;
  }
  for (; i + 8 <= len; i += 8) {
    uint64_t a;
    memcpy(&a, src + i, 8);
    a ^= k;
    memcpy(dst + i, &a, 8);
    seen |= a;
  }
  /* i is a multiple of 8 here, so the key keeps its phase. */
  for (; i < len; i++) seen |= dst[i] = src[i] ^ key[i & 7];
  return (seen & 0x8080808080808080ULL) == 0;
}

void sio_ws_mask(uint8_t *data, size_t len, const uint8_t mask[4], size_t offset) {
  (void)xor_mask(data, data, len, mask, offset);
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
  uint8_t d[20];
  sio_sha1(buf, sizeof buf, d);
  /* 20 bytes are six 3-byte groups and two bytes: 27 symbols and one '='. */
  static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  char *o = out;
  for (size_t i = 0; i < 18; i += 3, o += 4) {
    uint32_t v = (uint32_t)d[i] << 16 | (uint32_t)d[i + 1] << 8 | d[i + 2];
    o[0] = b64[v >> 18];
    o[1] = b64[(v >> 12) & 63];
    o[2] = b64[(v >> 6) & 63];
    o[3] = b64[v & 63];
  }
  uint32_t v = (uint32_t)d[18] << 16 | (uint32_t)d[19] << 8;
  o[0] = b64[v >> 18];
  o[1] = b64[(v >> 12) & 63];
  o[2] = b64[(v >> 6) & 63];
  o[3] = '=';
  out[28] = '\0';
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
  int deflated; /* RSV1 */
  int masked;
  uint8_t mask[4];
  size_t hlen;     /* header bytes, mask key included */
  size_t plen;     /* payload bytes */
  int ascii;       /* set by the caller of on_frame: the payload is known to be all ASCII */
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
  p->msg_deflated = 0;
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
  h->fin = b[0] >> 7;
  h->opcode = b[0] & 0x0f;
  int control = h->opcode & 0x8;
  /* RSV2 and RSV3 belong to no extension we speak; RSV1 only marks a deflated message, on its
   * first frame (RFC 7692 6.1), never on a continuation or control frame. */
  h->deflated = 0;
  if (b[0] & 0x70) {
    if ((b[0] & 0x30) || !p->pmd.on || (h->opcode != SIO_WS_OP_TEXT && h->opcode != SIO_WS_OP_BINARY))
      return SIO_EPROTO;
    h->deflated = 1;
  }
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

/* ascii: the bytes are known to be ASCII (seen while unmasking), so valid UTF-8 already. */
static int deliver_plain(sio_ws_parser_t *p, const sio_ws_callbacks_t *cb, void *user,
                         int opcode, char *data, size_t len, int ascii) {
  if (opcode == SIO_WS_OP_TEXT && !ascii && !sio_utf8_valid(data, len)) return fail(p, SIO_EUTF8);
  return cb && cb->on_message ? cb->on_message(user, opcode, data, len) : 0;
}

static int inflate_message(sio_ws_parser_t *p, sio_ws_zlib_t *zl, const char *in, size_t len,
                           sio_sbuf_t *out);

/* A whole message: inflated first when its first frame had RSV1. */
static int deliver(sio_ws_parser_t *p, const sio_ws_callbacks_t *cb, void *user, int opcode,
                   char *data, size_t len, int ascii) {
  if (!p->msg_deflated) return deliver_plain(p, cb, user, opcode, data, len, ascii);
  p->msg_deflated = 0;
  sio_sbuf_t out = SIO_SBUF_INIT;
  sio_ws_zlib_t *zl = cb && cb->zlib ? cb->zlib(user) : NULL;
  int r = inflate_message(p, zl, data, len, &out);
  if (r == 0) r = deliver_plain(p, cb, user, opcode, out.data, out.len, 0);
  else r = fail(p, r);
  sio_sbuf_free(&out);
  return r;
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

  if (h->opcode != SIO_WS_OP_CONT) {
    p->msg_opcode = (uint8_t)h->opcode;
    p->msg_deflated = (uint8_t)h->deflated;
  }
  if (!h->fin) {
    /* The payload lives in the caller's buffer (or the frame buffer), which will not outlast this
     * call. */
    if (!part_get(p) || sio_sbuf_append(&p->part->message, data, len)) return fail(p, SIO_ENOMEM);
    return 0;
  }
  int opcode = p->msg_opcode;
  p->msg_opcode = 0;
  /* Unfragmented, or every earlier fragment empty: the payload is the whole message, no copy. */
  if (message_len(p) == 0) return deliver(p, cb, user, opcode, data, len, h->ascii);
  sio_sbuf_t *m = &p->part->message;
  if (sio_sbuf_append(m, data, len)) return fail(p, SIO_ENOMEM);
  int rv = deliver(p, cb, user, opcode, m->data, m->len, 0);
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
  if (f->len == 0) p->part->frame_nonascii = 0; /* a new frame */
  if (n > raw) {
    size_t offset = f->len + raw - h->hlen;
    if (!h->masked) {
      memcpy(dst + raw, src + raw, n - raw);
      p->part->frame_nonascii = 1; /* not looked at: checked when whole */
    } else if (!xor_mask(dst + raw, src + raw, n - raw, h->mask, offset)) {
      p->part->frame_nonascii = 1;
    }
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
    h.ascii = h.masked && !p->part->frame_nonascii; /* every payload byte went through stash */
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
    h.ascii = h.masked && xor_mask((uint8_t *)payload, (uint8_t *)payload, h.plen, h.mask, 0);
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

void sio_ws_parser_set_deflate(sio_ws_parser_t *p, const sio_ws_pmd_t *pmd, sio_ws_zlib_t *zlib) {
  p->pmd = *pmd;
  if (!zlib) p->pmd.on = 0;
}

void sio_ws_parser_free(sio_ws_parser_t *p) {
  part_free(p);
  p->msg_opcode = 0;
  p->msg_deflated = 0;
}

/* ---------------------------------------------------------------------------------------------- */
/* permessage-deflate: negotiation (RFC 7692 section 7, RFC 6455 section 9.1)                      */

typedef struct scan {
  const char *p, *end;
} scan_t;

static int is_tchar(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
         (c && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

static void skip_ows(scan_t *s) {
  while (s->p < s->end && (*s->p == ' ' || *s->p == '\t')) s->p++;
}

static size_t scan_token(scan_t *s, const char **tok) {
  *tok = s->p;
  while (s->p < s->end && is_tchar((unsigned char)*s->p)) s->p++;
  return (size_t)(s->p - *tok);
}

/* A token or a quoted-string, unquoted into buf (NUL-terminated); its length, or -1 when it is
 * malformed or longer than buf. A quoted value must still be a token once unquoted (RFC 6455
 * 9.1), which is checked where the value is read. */
static int scan_value(scan_t *s, char *buf, size_t cap) {
  size_t n = 0;
  if (s->p < s->end && *s->p == '"') {
    for (s->p++; s->p < s->end && *s->p != '"'; s->p++) {
      if (*s->p == '\\' && ++s->p == s->end) return -1;
      if (n + 1 >= cap) return -1;
      buf[n++] = *s->p;
    }
    if (s->p == s->end) return -1;
    s->p++;
  } else {
    const char *tok;
    n = scan_token(s, &tok);
    if (n == 0 || n + 1 > cap) return -1;
    memcpy(buf, tok, n);
  }
  buf[n] = '\0';
  return (int)n;
}

/* After a malformed offer: to the comma that ends it (outside quotes), or the end. */
static void skip_offer(scan_t *s) {
  int quoted = 0;
  for (; s->p < s->end; s->p++) {
    if (quoted && *s->p == '\\' && s->p + 1 < s->end) s->p++;
    else if (*s->p == '"') quoted = !quoted;
    else if (!quoted && *s->p == ',') return;
  }
}

/* "8" to "15" without leading zeros (RFC 7692 7.1.2.1), else 0. */
static int window_bits(const char *v, int n) {
  if (n == 1 && (v[0] == '8' || v[0] == '9')) return v[0] - '0';
  if (n == 2 && v[0] == '1' && v[1] >= '0' && v[1] <= '5') return 10 + v[1] - '0';
  return 0;
}

#define TOK_IS(t, n, lit) ((n) == sizeof(lit) - 1 && memcmp((t), (lit), (n)) == 0)

/* One offer, from its extension name to the comma that ends it (not consumed). 1: accepted into
 * *out; 0: declined (another extension, or parameters we cannot honour); -1: malformed. */
static int parse_offer(scan_t *s, sio_ws_pmd_t *out) {
  const char *name;
  size_t nlen = scan_token(s, &name);
  if (nlen == 0) return -1;
  int ours = TOK_IS(name, nlen, "permessage-deflate"), ok = 1;
  unsigned seen = 0;
  sio_ws_pmd_t pmd = {1, 15, 0};
  for (;;) {
    skip_ows(s);
    if (s->p == s->end || *s->p == ',') break;
    if (*s->p != ';') return -1;
    s->p++;
    skip_ows(s);
    const char *param;
    size_t plen = scan_token(s, &param);
    if (plen == 0) return -1;
    skip_ows(s);
    char v[16];
    int vlen = -1; /* -1: no value */
    if (s->p < s->end && *s->p == '=') {
      s->p++;
      skip_ows(s);
      vlen = scan_value(s, v, sizeof v);
      if (vlen < 0) return -1;
    }
    unsigned bit;
    if (TOK_IS(param, plen, "server_no_context_takeover")) {
      bit = 1;
      if (vlen >= 0) ok = 0;
    } else if (TOK_IS(param, plen, "client_no_context_takeover")) {
      bit = 2;
      if (vlen >= 0) ok = 0;
    } else if (TOK_IS(param, plen, "server_max_window_bits")) {
      bit = 4;
      int b = vlen > 0 ? window_bits(v, vlen) : 0;
      /* zlib cannot make a raw deflate stream with a 256-byte window: 8 is declined. */
      if (b < 9) ok = 0;
      else pmd.server_bits = (uint8_t)b;
    } else if (TOK_IS(param, plen, "client_max_window_bits")) {
      bit = 8;
      if (vlen >= 0) {
        int b = window_bits(v, vlen);
        if (!b) ok = 0;
        else pmd.client_bits = (uint8_t)b;
      }
    } else {
      bit = 16;
      ok = 0; /* unknown parameter: RFC 7692 5 says decline */
    }
    if (seen & bit & 15) ok = 0; /* a repeated parameter */
    seen |= bit;
  }
  if (!ours || !ok) return 0;
  *out = pmd;
  return 1;
}

int sio_ws_pmd_negotiate(const char *value, size_t len, sio_ws_pmd_t *out) {
  scan_t s = {value, value + len};
  if (!value) return 0;
  while (s.p < s.end) {
    skip_ows(&s);
    if (s.p < s.end && *s.p == ',') { /* empty list elements are allowed (RFC 7230 7) */
      s.p++;
      continue;
    }
    if (s.p == s.end) break;
    sio_ws_pmd_t pmd;
    int r = parse_offer(&s, &pmd);
    if (r == 1) {
      *out = pmd;
      return 1;
    }
    if (r < 0) skip_offer(&s);
    if (s.p < s.end) s.p++; /* the comma */
  }
  return 0;
}

size_t sio_ws_pmd_response(const sio_ws_pmd_t *pmd, char out[160]) {
  int n = snprintf(out, 160,
                   "Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover; "
                   "client_no_context_takeover");
  if (pmd->server_bits && pmd->server_bits < 15)
    n += snprintf(out + n, 160 - (size_t)n, "; server_max_window_bits=%u", pmd->server_bits);
  if (pmd->client_bits)
    n += snprintf(out + n, 160 - (size_t)n, "; client_max_window_bits=%u", pmd->client_bits);
  n += snprintf(out + n, 160 - (size_t)n, "\r\n");
  return (size_t)n;
}

/* ---------------------------------------------------------------------------------------------- */
/* permessage-deflate: the shared streams                                                          */

/* Messages are (de)compressed whole and on their own, so streams are only ever borrowed between
 * a reset and the end of one message. Deflate streams come per window size (9..15 bits, memLevel
 * scaled down with it): a message of a few KiB gains nothing from a 32 KiB window, and the
 * smaller stream's reset clears a hash table 16 times smaller. */
struct sio_ws_zlib {
  z_stream inf;
  uint8_t inf_ready;
  uint8_t def_ready[16];
  z_stream def[16];
};

sio_ws_zlib_t *sio_ws_zlib_new(void) { return calloc(1, sizeof(sio_ws_zlib_t)); }

void sio_ws_zlib_free(sio_ws_zlib_t *z) {
  if (!z) return;
  if (z->inf_ready) inflateEnd(&z->inf);
  for (int i = 0; i < 16; i++)
    if (z->def_ready[i]) deflateEnd(&z->def[i]);
  free(z);
}

static z_stream *deflater(sio_ws_zlib_t *z, int bits) {
  z_stream *d = &z->def[bits];
  if (z->def_ready[bits]) return deflateReset(d) == Z_OK ? d : NULL;
  memset(d, 0, sizeof *d);
  if (deflateInit2(d, Z_DEFAULT_COMPRESSION, Z_DEFLATED, -bits, bits - 7, Z_DEFAULT_STRATEGY) !=
      Z_OK)
    return NULL;
  z->def_ready[bits] = 1;
  return d;
}

static z_stream *inflater(sio_ws_zlib_t *z) {
  if (z->inf_ready) return inflateReset(&z->inf) == Z_OK ? &z->inf : NULL;
  memset(&z->inf, 0, sizeof z->inf);
  /* A 15-bit window reads whatever window the client used. */
  if (inflateInit2(&z->inf, -15) != Z_OK) return NULL;
  z->inf_ready = 1;
  return &z->inf;
}

/* The smallest window (9..max bits) that holds the whole message and zlib's lookahead: a larger
 * one would find no more matches. */
static int bits_for(size_t len, int max) {
  int b = 9;
  while (b < max && ((size_t)1 << b) < len + 262) b++;
  return b;
}

sio_rbuf_t *sio_ws_deflate_frame(sio_ws_zlib_t *z, int max_bits, int opcode, const char *data,
                                 size_t len, int *bits) {
  /* One deflate() call takes uInt sizes; bigger messages go uncompressed (the caller's choice). */
  if (!z || len > (size_t)1 << 30) return NULL;
  if (max_bits < 9 || max_bits > 15) max_bits = 15;
  *bits = bits_for(len, max_bits);
  z_stream *d = deflater(z, *bits);
  if (!d) return NULL;
  /* deflateBound plus the sync flush's empty stored block (5 bytes) and some slack. */
  size_t bound = deflateBound(d, (uLong)len) + 16;
  sio_rbuf_t *rb = sio_rbuf_new(14 + bound);
  if (!rb) return NULL;
  d->next_in = (Bytef *)(uintptr_t)data;
  d->avail_in = (uInt)len;
  d->next_out = (Bytef *)rb->data + 14;
  d->avail_out = (uInt)bound;
  int r = deflate(d, Z_SYNC_FLUSH);
  size_t n = bound - d->avail_out;
  const unsigned char *tail = (const unsigned char *)rb->data + 14 + n - 4;
  if (r != Z_OK || d->avail_in != 0 || d->avail_out == 0 || n < 4 || tail[0] || tail[1] ||
      tail[2] != 0xff || tail[3] != 0xff) {
    sio_rbuf_unref(rb);
    return NULL;
  }
  n -= 4; /* RFC 7692 7.2.1: the sender removes the flush's 00 00 ff ff */
  uint8_t hdr[14];
  size_t h = sio_ws_frame_header(hdr, opcode, 1, n, NULL);
  hdr[0] |= 0x40; /* RSV1: a compressed message */
  memcpy(rb->data + 14 - h, hdr, h);
  memmove(rb->data, rb->data + 14 - h, h + n);
  rb->len = h + n;
  return rb;
}

/* ---------------------------------------------------------------------------------------------- */
/* permessage-deflate: inflating a received message                                                */

/* Inflates in[0..len) and the 00 00 ff ff the sender removed into out, which grows as output
 * comes and never past max_message + 1 bytes: a message that would inflate larger is refused the
 * moment it passes the limit. 0, SIO_ETOOBIG, SIO_EUTF8 (bad data: 1007) or SIO_ENOMEM. */
static int inflate_message(sio_ws_parser_t *p, sio_ws_zlib_t *zl, const char *in, size_t len,
                           sio_sbuf_t *out) {
  static const unsigned char trailer[4] = {0x00, 0x00, 0xff, 0xff};
  z_stream *z = zl ? inflater(zl) : NULL;
  if (!z) return SIO_ENOMEM;
  z->avail_in = 0; /* a message refused earlier may have left input behind */
  size_t max = p->max_message ? p->max_message : SIZE_MAX - 64;
  if (max > SIZE_MAX - 64) max = SIZE_MAX - 64;
  int fed_trailer = 0;
  for (;;) {
    if (z->avail_in == 0 && len > 0) {
      size_t n = len > UINT_MAX ? UINT_MAX : len;
      z->next_in = (Bytef *)(uintptr_t)in;
      z->avail_in = (uInt)n;
      in += n;
      len -= n;
    } else if (z->avail_in == 0 && !fed_trailer) {
      z->next_in = (Bytef *)(uintptr_t)trailer;
      z->avail_in = 4;
      fed_trailer = 1;
    }
    if (out->len == out->cap) {
      /* Double, but never past max + 1: one byte more than allowed proves the message too big. */
      if (out->len > max) return SIO_ETOOBIG;
      size_t cap = out->cap ? out->cap * 2 : 4096;
      if (cap > max + 1) cap = max + 1;
      char *d = realloc(out->data, cap);
      if (!d) return SIO_ENOMEM;
      out->data = d;
      out->cap = cap;
    }
    size_t room = out->cap - out->len;
    if (room > UINT_MAX) room = UINT_MAX;
    z->next_out = (Bytef *)out->data + out->len;
    z->avail_out = (uInt)room;
    int r = inflate(z, Z_SYNC_FLUSH);
    out->len += room - z->avail_out;
    if (out->len > max) return SIO_ETOOBIG;
    if (r == Z_STREAM_END) break; /* a final block: what follows it is ignored, as Node's ws */
    if (r == Z_MEM_ERROR) return SIO_ENOMEM;
    if (r != Z_OK && r != Z_BUF_ERROR) return SIO_EUTF8;
    if (fed_trailer && len == 0 && z->avail_in == 0 && z->avail_out > 0) break;
    /* No progress with input and room both left cannot happen with valid data. */
    if (r == Z_BUF_ERROR && z->avail_in > 0 && z->avail_out > 0) return SIO_EUTF8;
  }
  z->next_in = NULL;
  z->avail_in = 0;
  return 0;
}
