/* The msgpack parser: Socket.IO packets as npm socket.io-msgpack-parser writes and reads them (one
 * msgpack map per binary message, binary inline). Pure: bytes in, packets out. The value
 * conversion is the Redis adapter's (adapter/msgpack_json.c), which already speaks notepack.io. */
#ifdef SIO_HAVE_MSGPACK

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "adapter/msgpack_json.h"
#include "fail.h"
#include "socketio/packet.h"
#include "utf8.h"

/* ---- decoding ---- */

/* An integer field (type, id) as Number.isInteger takes it: an int form, or a float holding an
 * integral value exact in a double. 1 and *v set, or 0. */
static int int_field(const msgpack_object *o, int64_t *v) {
  switch (o->type) {
  case MSGPACK_OBJECT_POSITIVE_INTEGER:
    if (o->via.u64 > INT64_MAX) return 0;
    *v = (int64_t)o->via.u64;
    return 1;
  case MSGPACK_OBJECT_NEGATIVE_INTEGER:
    *v = o->via.i64;
    return 1;
  case MSGPACK_OBJECT_FLOAT32:
  case MSGPACK_OBJECT_FLOAT64: {
    double d = o->via.f64;
    if (!(d >= -9007199254740992.0 && d <= 9007199254740992.0) || floor(d) != d) return 0;
    *v = (int64_t)d;
    return 1;
  }
  default:
    return 0;
  }
}

/* A field of the packet map; notepack 2 (socket.io-client's) writes an absent one as undefined. */
static const msgpack_object *field(const msgpack_object *m, const char *key) {
  const msgpack_object *o = sio__mp_get(m, key);
  return sio__mp_is_undefined(o) ? NULL : o;
}

/* The fields of the packet map m into out; bins collects the bin values met in data. */
static int read_packet(const msgpack_object *m, sio_mp_bins_t *bins, sio_packet_t *out) {
  if (m->type != MSGPACK_OBJECT_MAP) return SIO_EPARSE;
  const msgpack_object *type = field(m, "type"), *nsp = field(m, "nsp");
  const msgpack_object *data = field(m, "data"), *id = field(m, "id");
  int64_t t;
  if (!type || !int_field(type, &t) || t < SIO_PACKET_CONNECT || t > SIO_PACKET_CONNECT_ERROR)
    return SIO_EPARSE;
  out->type = (int)t;
  if (id && (!int_field(id, &out->id) || out->id < 0)) return SIO_EPARSE;
  if (!nsp || nsp->type != MSGPACK_OBJECT_STR) return SIO_EPARSE;
  size_t n = nsp->via.str.size;
  /* A namespace is a C string in the core, and text as every string is. */
  if (memchr(nsp->via.str.ptr, '\0', n) || !sio_wtf8_valid(nsp->via.str.ptr, n)) return SIO_EPARSE;
  if (!(out->nsp = malloc(n + 1))) return SIO_ENOMEM;
  memcpy(out->nsp, nsp->via.str.ptr, n);
  out->nsp[n] = '\0';
  /* python-socketio's MsgPackPacket writes a CONNECT without auth, and a DISCONNECT, with data
   * nil: taken as absent (Node's parser refuses it; nothing else could be meant). */
  if (data && data->type == MSGPACK_OBJECT_NIL &&
      (out->type == SIO_PACKET_CONNECT || out->type == SIO_PACKET_DISCONNECT))
    data = NULL;
  if (data && !(out->data = sio__mp_to_json(data, bins))) return SIO_EPARSE;
  /* Binary belongs to events and acks: a CONNECT's auth is kept as a tree without its buffers. */
  if (bins->n && (out->type == SIO_PACKET_CONNECT || out->type == SIO_PACKET_CONNECT_ERROR))
    return SIO_EPARSE;
  if (out->data && sio__packet_check_tree(out->data, 1, 1, bins->n)) return SIO_EPARSE;
  if (!sio__packet_payload_valid(out->type, out->data)) return SIO_EPARSE;
  if (bins->n) {
    if (!(out->attachments = calloc(bins->n, sizeof *out->attachments))) return SIO_ENOMEM;
    for (size_t i = 0; i < bins->n; i++) {
      out->attachments[i].data = (char *)bins->v[i].data;
      out->attachments[i].len = bins->v[i].len;
    }
    out->attachment_count = bins->n;
    out->last_borrowed = (int)bins->n;
  }
  return 0;
}

int sio_packet_decode_msgpack(const char *data, size_t len, sio_packet_t *out) {
  memset(out, 0, sizeof *out);
  out->id = -1;
  /* Counts checked against the bytes first: msgpack-c allocates from them before reading. */
  if (!data || !len || !sio__mp_plausible((const unsigned char *)data, len)) return SIO_EPARSE;
  msgpack_unpacked u;
  msgpack_unpacked_init(&u);
  size_t off = 0;
  sio_mp_bins_t bins = {NULL, 0, 0};
  int r = SIO_EPARSE;
  /* One whole value and nothing after it (notepack throws on trailing bytes). msgpack-c's str and
   * bin objects point into `data`, so the buffers need no copy. */
  if (msgpack_unpack_next(&u, data, len, &off) == MSGPACK_UNPACK_SUCCESS && off == len)
    r = read_packet(&u.data, &bins, out);
  msgpack_unpacked_destroy(&u);
  free(bins.v);
  if (r) sio_packet_clear(out);
  return r;
}

/* ---- encoding ---- */

/* 1 when the tree nests no deeper than max (containers; the top one is 1). */
static int depth_ok(const cJSON *j, int max) {
  if (!cJSON_IsArray(j) && !cJSON_IsObject(j)) return 1;
  if (max <= 0) return 0;
  for (const cJSON *c = j->child; c; c = c->next)
    if (!depth_ok(c, max - 1)) return 0;
  return 1;
}

/* Validates p and packs it into b (set up by the caller): 0, SIO_EINVAL or SIO_ENOMEM. */
static int pack_packet(const sio_packet_t *p, const sio_buf_t *bufs, sio_mpbuf_t *b,
                       msgpack_packer *pk) {
  int type = p->type == SIO_PACKET_BINARY_EVENT ? SIO_PACKET_EVENT
             : p->type == SIO_PACKET_BINARY_ACK ? SIO_PACKET_ACK
                                                : p->type;
  const char *nsp = p->nsp ? p->nsp : "/";
  if (type < SIO_PACKET_CONNECT || type > SIO_PACKET_CONNECT_ERROR ||
      p->attachment_count > SIO_PACKET_MAX_ATTACHMENTS || (p->attachment_count && !bufs) ||
      !sio__packet_payload_valid(type, p->data))
    return sio__fail(SIO_EINVAL, "a packet the msgpack parser cannot write");
  /* As sio_packet_encode: one level deeper than the decoder's args (the EVENT/ACK array). */
  if (p->data && !depth_ok(p->data, SIO_PACKET_MAX_DEPTH + 1))
    return sio__fail(SIO_EINVAL, "a value nested deeper than %d levels", SIO_MAX_DEPTH);
  size_t n = 2 + (p->data != NULL) + (p->id >= 0);
  msgpack_pack_map(pk, n);
  if (type == SIO_PACKET_ACK && p->id >= 0) { /* Node writes {id, type, data} for an ack */
    sio__mp_pack_key(pk, "id");
    msgpack_pack_int64(pk, p->id);
  }
  sio__mp_pack_key(pk, "type");
  msgpack_pack_int(pk, type);
  if (p->data) {
    sio__mp_pack_key(pk, "data");
    sio__mp_pack_json(pk, p->data, bufs, p->attachment_count);
  }
  if (type != SIO_PACKET_ACK && p->id >= 0) {
    sio__mp_pack_key(pk, "id");
    msgpack_pack_int64(pk, p->id);
  }
  sio__mp_pack_key(pk, "nsp");
  sio__mp_pack_str(pk, nsp);
  return b->failed ? SIO_ENOMEM : 0;
}

int sio_packet_encode_msgpack(const sio_packet_t *p, const sio_buf_t *bufs, sio_sbuf_t *out) {
  sio_mpbuf_t b;
  msgpack_packer pk;
  sio__mpbuf_init(&b, &pk);
  int r = pack_packet(p, bufs, &b, &pk);
  if (!r) r = sio_sbuf_append(out, b.sb.data, b.sb.size);
  msgpack_sbuffer_destroy(&b.sb);
  return r;
}

int sio__encode_msgpack(const sio_packet_t *p, const sio_buf_t *bufs, sio_encoded_t *out) {
  memset(out, 0, sizeof *out);
  sio_mpbuf_t b;
  msgpack_packer pk;
  sio__mpbuf_init(&b, &pk);
  int r = pack_packet(p, bufs, &b, &pk);
  if (!r && !(out->text = sio_msg_new(b.sb.data, b.sb.size, 1))) r = SIO_ENOMEM;
  msgpack_sbuffer_destroy(&b.sb);
  return r;
}

#else /* built without msgpack-c: sio_io_new() refuses the parser, so these are never reached */

#include <string.h>

#include "socketio/packet.h"

int sio_packet_decode_msgpack(const char *data, size_t len, sio_packet_t *out) {
  (void)data, (void)len;
  memset(out, 0, sizeof *out);
  out->id = -1;
  return SIO_EPARSE;
}

int sio_packet_encode_msgpack(const sio_packet_t *p, const sio_buf_t *bufs, sio_sbuf_t *out) {
  (void)p, (void)bufs, (void)out;
  return UV_ENOSYS;
}

#endif /* SIO_HAVE_MSGPACK */
