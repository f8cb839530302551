/* socket.io-adapter 2.5's ClusterAdapter (see sac.h): every message is {type, data, uid, nsp}
 * (the key order Node's object gets them in), this node's rooms and deliveries stay with the
 * in-memory adapter it wraps, and what another node asks is done here through the public API
 * with SIO_EMIT_LOCAL, as cluster.c does for the classic protocol.
 *
 * Messages are built as cJSON trees whose binary stays as placeholders indexing a list of
 * buffers (what the Socket.IO layer hands over), and put in the transport's form only when it
 * asks (sio__sac_msg_encode). What arrives, in any form, becomes the same tree (binary as
 * placeholders indexing the bin values of the message) before it is dispatched as Node's
 * onMessage / onResponse do.
 *
 * Not done, as in Node's ClusterAdapter: allRooms across nodes (the class has no such request;
 * the vtable's all_rooms is NULL, so the Socket.IO layer answers with this node's rooms) except
 * where every node is sio (the workers' bus sets sio__sac_all_rooms, our own type 100), the
 * heartbeats of ClusterAdapterWithHeartbeat (types 1, 2 and 13 are ignored). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "adapter/sac.h"
#include "json_parse.h"
#include "transport/log.h"

#ifdef SIO_HAVE_REDIS

#include <openssl/rand.h>

#include "adapter/cluster_common.h"
#include "adapter/msgpack_json.h"
#include "base64.h"
#include "json_write.h"

/* The longest uid or request id taken from another node (Node's are SIO_SAC_ID_LEN; the
 * emitter's uid is "emitter"): longer ones are ignored, so that nothing a node keeps or sends
 * back grows with a hostile message. */
#define PEER_ID_MAX 64
/* How deep a message nests around its packet's data: {data: {packet: {data: [...]}}}. */
#define MSG_DEPTH (SIO_PACKET_MAX_DEPTH + 4)

struct sio_sac_msg {
  int type;
  const char *uid, *nsp;
  const cJSON *data; /* NULL: none */
  const sio_buf_t *bufs;
  size_t nbufs;
  int binary, ephemeral;
  const char *room;
};

/* A broadcast whose delivery here waits for its offset, or for those emitted before it: this
 * node's recipients get broadcasts in the order they were emitted. Owns copies of all it needs. */
typedef struct pending {
  struct pending *next;
  sio_sac_t *c;
  sio_packet_t pkt; /* data duplicated, nsp copied, no attachments (bufs instead) */
  sio_buf_t *bufs;
  sio_encoded_t enc; /* the layer's encoding (references): used without an offset */
  sio_strs_t rooms, except;
  int flags;
  uint8_t done;   /* the offset came (or none will) */
  uint8_t orphan; /* the adapter is gone: the transport's callback only frees it */
  char *offset;
} pending_t;

struct sio_sac {
  sio_cc_adapter_t cc; /* the vtable's base and the in-memory adapter it wraps */
  sio_adapter_vt_t vt; /* sac_vt, without the session calls when the transport has none */
  const sio_sac_transport_t *tp;
  void *t;
  char uid[SIO_SAC_ID_LEN + 1];
  pending_t *head, *tail;
  int server_count;
  uint8_t closed;
  uint8_t flushing;
};

static int is_local(const sio_target_t *to) { return to && (to->flags & SIO_EMIT_LOCAL); }

/* 16 hex characters of 8 random bytes, as Node's randomBytes(8).toString("hex"). */
static void random_id(char out[SIO_SAC_ID_LEN + 1]) {
  static const char hex[] = "0123456789abcdef";
  unsigned char r[SIO_SAC_ID_LEN / 2];
  if (RAND_bytes(r, sizeof r) != 1) abort(); /* no CSPRNG: no ids */
  for (size_t i = 0; i < sizeof r; i++) {
    out[2 * i] = hex[r[i] >> 4];
    out[2 * i + 1] = hex[r[i] & 15];
  }
  out[SIO_SAC_ID_LEN] = '\0';
}

/* ---------------------------------------------------------------------------------------------- */
/* Outgoing messages                                                                               */

/* 1 when j holds a placeholder naming one of nbufs buffers (Node's hasBinary). */
static int has_binary(const cJSON *j, size_t nbufs, int depth) {
  size_t num;
  if (!j || depth > MSG_DEPTH || nbufs == 0) return 0;
  if (sio_packet_is_placeholder(j, &num)) return num < nbufs;
  for (const cJSON *c = j->child; c; c = c->next)
    if (has_binary(c, nbufs, depth + 1)) return 1;
  return 0;
}

int sio__sac_msg_type(const sio_sac_msg_t *m) { return m->type; }
int sio__sac_msg_binary(const sio_sac_msg_t *m) { return m->binary; }
int sio__sac_msg_has_data(const sio_sac_msg_t *m) { return m->data != NULL; }
int sio__sac_msg_ephemeral(const sio_sac_msg_t *m) { return m->ephemeral; }
const char *sio__sac_msg_room(const sio_sac_msg_t *m) { return m->room; }

static int encode_json(const sio_sac_msg_t *m, int whole, char **out, size_t *len) {
  sio_sbuf_t b = {0};
  int r = 0;
  if (whole) {
    /* {"type", "data", "uid", "nsp"}: data borrowed as a reference, never copied. */
    cJSON *j = cJSON_CreateObject();
    if (!j || !cJSON_AddNumberToObject(j, "type", m->type) ||
        (m->data && !cJSON_AddItemReferenceToObject(j, "data", (cJSON *)m->data)) ||
        !cJSON_AddStringToObject(j, "uid", m->uid) || !cJSON_AddStringToObject(j, "nsp", m->nsp))
      r = SIO_ENOMEM;
    if (!r) r = sio_json_write(&b, j, MSG_DEPTH + 1);
    cJSON_Delete(j);
  } else {
    r = m->data ? sio_json_write(&b, m->data, MSG_DEPTH) : SIO_EINVAL;
  }
  if (!r && sio_sbuf_append_char(&b, '\0')) r = SIO_ENOMEM;
  if (r) {
    sio_sbuf_free(&b);
    return r == SIO_EINVAL ? SIO_EINVAL : SIO_ENOMEM;
  }
  *out = sio_sbuf_steal(&b, len);
  (*len)--; /* the NUL is not part of the text */
  return 0;
}

static void pack_data(msgpack_packer *pk, const sio_sac_msg_t *m) {
  if (m->data) sio__mp_pack_json(pk, m->data, m->bufs, m->nbufs);
  else msgpack_pack_nil(pk);
}

static int encode_msgpack(const sio_sac_msg_t *m, int whole, int b64, char **out, size_t *len) {
  sio_mpbuf_t b;
  msgpack_packer pk;
  sio__mpbuf_init(&b, &pk);
  if (whole) {
    msgpack_pack_map(&pk, m->data ? 4 : 3);
    sio__mp_pack_key(&pk, "type");
    msgpack_pack_int64(&pk, m->type);
    if (m->data) {
      sio__mp_pack_key(&pk, "data");
      pack_data(&pk, m);
    }
    sio__mp_pack_key(&pk, "uid");
    sio__mp_pack_key(&pk, m->uid);
    sio__mp_pack_key(&pk, "nsp");
    sio__mp_pack_str(&pk, m->nsp);
  } else {
    pack_data(&pk, m);
  }
  int r = b.failed ? SIO_ENOMEM : 0;
  if (!r && b64) {
    sio_sbuf_t s = {0};
    if (sio_base64_encode(&s, b.sb.data, b.sb.size) || sio_sbuf_append_char(&s, '\0')) {
      sio_sbuf_free(&s);
      r = SIO_ENOMEM;
    } else {
      *out = sio_sbuf_steal(&s, len);
      (*len)--;
    }
  } else if (!r) {
    *out = malloc(b.sb.size ? b.sb.size : 1);
    if (!*out) r = SIO_ENOMEM;
    else {
      memcpy(*out, b.sb.data, b.sb.size);
      *len = b.sb.size;
    }
  }
  msgpack_sbuffer_destroy(&b.sb);
  return r;
}

int sio__sac_msg_encode(const sio_sac_msg_t *m, int form, char **out, size_t *len) {
  switch (form) {
  case SIO_SAC_WHOLE_JSON:
    return m->binary ? SIO_EINVAL : encode_json(m, 1, out, len);
  case SIO_SAC_DATA_JSON:
    return m->binary ? SIO_EINVAL : encode_json(m, 0, out, len);
  case SIO_SAC_WHOLE_MSGPACK:
    return encode_msgpack(m, 1, 0, out, len);
  case SIO_SAC_DATA_MSGPACK_B64:
    return encode_msgpack(m, 0, 1, out, len);
  default:
    return SIO_EINVAL;
  }
}

static sio_sac_msg_t make_msg(sio_sac_t *c, int type, const cJSON *data, const sio_buf_t *bufs,
                              size_t nbufs) {
  sio_sac_msg_t m = {type, c->uid, sio_nsp_name(c->cc.base.nsp), data, bufs, nbufs, 0, 0, NULL};
  m.binary = has_binary(data, nbufs, 0);
  return m;
}

/* Publishes data (NULL: a part of it could not be made) as a message of type. */
static int publish(sio_sac_t *c, int type, const cJSON *data, const sio_buf_t *bufs, size_t nbufs,
                   int ephemeral, const char *room, sio_sac_published_cb cb, void *arg) {
  if (!data) return SIO_ENOMEM;
  sio_sac_msg_t m = make_msg(c, type, data, bufs, nbufs);
  m.ephemeral = ephemeral;
  m.room = room;
  return c->tp->publish(c->t, &m, cb, arg);
}

/* Answers the node `to` with data (taken; NULL: could not be made, nothing sent: the requester's
 * timeout tells it). */
static void respond(sio_sac_t *c, const char *to, int type, cJSON *data, const sio_buf_t *bufs,
                    size_t nbufs) {
  if (data) {
    sio_sac_msg_t m = make_msg(c, type, data, bufs, nbufs);
    c->tp->publish_response(c->t, to, &m);
  }
  cJSON_Delete(data);
}

/* {"rooms", "except", "flags"} as Node's encodeOptions writes a BroadcastOperator's: flags {} or
 * with volatile, compress, timeout (a broadcast with acks) as they were set. */
static cJSON *opts_json(const sio_target_t *to, uint32_t timeout_ms) {
  int flags = to ? to->flags : 0;
  cJSON *o = cJSON_CreateObject(), *f = cJSON_CreateObject();
  int ok = o && f;
  ok = ok && !sio__cc_add_item(o, "rooms", sio__cc_string_array(to ? to->rooms : NULL, to ? to->nrooms : 0));
  ok = ok && !sio__cc_add_item(o, "except", sio__cc_string_array(to ? to->except : NULL, to ? to->nexcept : 0));
  ok = ok && (!(flags & SIO_EMIT_VOLATILE) || cJSON_AddTrueToObject(f, "volatile"));
  if (ok && (flags & (SIO_EMIT_COMPRESS | SIO_EMIT_NO_COMPRESS)))
    ok = cJSON_AddBoolToObject(f, "compress", !(flags & SIO_EMIT_NO_COMPRESS)) != NULL;
  ok = ok && (!timeout_ms || cJSON_AddNumberToObject(f, "timeout", timeout_ms));
  if (ok) {
    ok = !sio__cc_add_item(o, "flags", f);
    f = NULL;
  }
  cJSON_Delete(f);
  if (!ok) {
    cJSON_Delete(o);
    o = NULL;
  }
  return o;
}

/* {"packet": {"type": 2, "data": [...]}, ["requestId",] "opts"}: what Node's broadcast and
 * broadcastWithAck publish (the packet has no nsp nor id yet when it is published). The packet's
 * data is a reference to pkt's. */
static cJSON *broadcast_data(const sio_bcast_packet_t *bp, const char *request_id,
                             const sio_target_t *to, uint32_t timeout_ms) {
  cJSON *d = cJSON_CreateObject(), *p = cJSON_CreateObject();
  int ok = d && p && cJSON_AddNumberToObject(p, "type", SIO_PACKET_EVENT) &&
           cJSON_AddItemReferenceToObject(p, "data", bp->pkt->data);
  if (ok) {
    ok = !sio__cc_add_item(d, "packet", p);
    p = NULL;
  }
  cJSON_Delete(p);
  ok = ok && (!request_id || cJSON_AddStringToObject(d, "requestId", request_id));
  ok = ok && !sio__cc_add_item(d, "opts", opts_json(to, timeout_ms));
  if (!ok) {
    cJSON_Delete(d);
    d = NULL;
  }
  return d;
}

/* ---------------------------------------------------------------------------------------------- */
/* Broadcasts here in emit order, each with its offset when the transport gives them               */

static void pending_free(pending_t *p) {
  cJSON_Delete(p->pkt.data);
  free(p->pkt.nsp);
  for (size_t i = 0; p->bufs && i < p->pkt.attachment_count; i++) free((char *)p->bufs[i].data);
  free(p->bufs);
  sio__encoded_clear(&p->enc);
  sio__strs_free(&p->rooms);
  sio__strs_free(&p->except);
  free(p->offset);
  free(p);
}

static int strs_copy(sio_strs_t *out, const char *const *v, size_t n) {
  out->n = 0;
  out->v = calloc(n ? n : 1, sizeof *out->v);
  if (!out->v) return -1;
  for (; out->n < n; out->n++)
    if (!(out->v[out->n] = strdup(v[out->n]))) return -1;
  return 0;
}

static int enc_copy(sio_encoded_t *out, const sio_encoded_t *in) {
  memset(out, 0, sizeof *out);
  if (in->natts && !(out->atts = calloc(in->natts, sizeof *out->atts))) return -1;
  out->text = in->text ? sio_msg_ref(in->text) : NULL;
  for (; out->natts < in->natts; out->natts++) out->atts[out->natts] = sio_msg_ref(in->atts[out->natts]);
  return 0;
}

/* A copy of what delivering bp to `to` here takes; NULL on ENOMEM. */
static pending_t *pending_new(sio_sac_t *c, const sio_target_t *to, const sio_bcast_packet_t *bp) {
  pending_t *p = calloc(1, sizeof *p);
  if (!p) return NULL;
  p->c = c;
  p->pkt = *bp->pkt;
  p->pkt.attachments = NULL;
  p->pkt.last_borrowed = 0;
  p->pkt.data = cJSON_Duplicate(bp->pkt->data, 1);
  p->pkt.nsp = strdup(bp->pkt->nsp ? bp->pkt->nsp : "/");
  size_t n = bp->bufs ? bp->pkt->attachment_count : 0;
  p->pkt.attachment_count = n;
  int ok = p->pkt.data && p->pkt.nsp && (p->bufs = calloc(n ? n : 1, sizeof *p->bufs));
  for (size_t i = 0; ok && i < n; i++) {
    char *d = malloc(bp->bufs[i].len ? bp->bufs[i].len : 1);
    if (!d) {
      p->pkt.attachment_count = i;
      ok = 0;
      break;
    }
    memcpy(d, bp->bufs[i].data, bp->bufs[i].len);
    p->bufs[i] = (sio_buf_t){d, bp->bufs[i].len};
  }
  ok = ok && !enc_copy(&p->enc, bp->enc) && !strs_copy(&p->rooms, to ? to->rooms : NULL, to ? to->nrooms : 0) &&
       !strs_copy(&p->except, to ? to->except : NULL, to ? to->nexcept : 0);
  if (!ok) {
    pending_free(p);
    return NULL;
  }
  p->flags = (to ? to->flags : 0) | SIO_EMIT_LOCAL;
  return p;
}

/* p to this node's recipients, with its offset as the last argument when it has one. */
static void pending_deliver(sio_sac_t *c, pending_t *p) {
  sio_encoded_t enc = {0};
  const sio_encoded_t *use = &p->enc;
  if (p->offset && sio__encode_with_offset(c->cc.base.nsp, &p->pkt, p->bufs, p->offset, &enc) == 0) {
    if (p->flags & SIO_EMIT_NO_COMPRESS) sio__encoded_no_compress(&enc);
    use = &enc;
  }
  sio_target_t to = sio__cc_local_target(&p->rooms, &p->except, p->flags);
  sio_bcast_packet_t bp = {&p->pkt, p->bufs, use};
  c->cc.local->vt->broadcast(c->cc.local, &to, &bp);
  if (use == &enc) sio__encoded_clear(&enc);
}

/* Delivers the broadcasts at the head of the queue that are ready. A delivery may emit again
 * (a socket's handler): the outer call goes on with what it queued. */
static void flush(sio_sac_t *c) {
  if (c->flushing) return;
  c->flushing = 1;
  while (c->head && c->head->done) {
    pending_t *p = c->head;
    c->head = p->next;
    if (!c->head) c->tail = NULL;
    pending_deliver(c, p);
    pending_free(p);
  }
  c->flushing = 0;
}

static void on_published(void *arg, const char *offset) {
  pending_t *p = arg;
  if (p->orphan) { /* the adapter was freed before: nothing to deliver to */
    pending_free(p);
    return;
  }
  p->done = 1;
  if (offset && !(p->offset = strdup(offset)))
    SIO_LOG(p->c->cc.reqs.server, SIO_LOG_WARN, "sac", "broadcast delivered without its offset (no memory)");
  flush(p->c);
}

static void enqueue(sio_sac_t *c, pending_t *p) {
  if (c->tail) c->tail->next = p;
  else c->head = p;
  c->tail = p;
}

/* ---------------------------------------------------------------------------------------------- */
/* Our requests: published once the server count says how many nodes answer                       */

/* Keeps request id (its data taken) once the node count is asked: Node asks serverCount() first. */
static int request_start(sio_sac_t *c, int type, const char *id, cJSON *data, sio_request_t *r) {
  int count = !data ? 0 : c->closed ? SIO_ECLOSED : c->tp->server_count(c->t, id);
  return sio__cc_request_add(&c->cc.reqs, id, type, data, r, count);
}

static int publish_request(void *owner, int type, void *data) {
  return publish(owner, type, data, NULL, 0, 1, NULL, NULL, NULL);
}

static void free_json(void *j) { cJSON_Delete(j); }

/* ---------------------------------------------------------------------------------------------- */
/* The adapter                                                                                     */

/* Reports room creation or deletion by s's join / leave to the transport. */
static int sac_add(sio_adapter_t *a, sio_socket_t *s, const char *room) {
  sio_sac_t *c = (sio_sac_t *)a;
  int had = c->tp->room ? sio__memory_adapter_has_room(c->cc.local, room) : 1;
  int r = c->cc.local->vt->add(c->cc.local, s, room);
  if (!r && !had && sio__memory_adapter_has_room(c->cc.local, room)) c->tp->room(c->t, room, 1);
  return r;
}

static int sac_del(sio_adapter_t *a, sio_socket_t *s, const char *room) {
  sio_sac_t *c = (sio_sac_t *)a;
  int had = c->tp->room ? sio__memory_adapter_has_room(c->cc.local, room) : 0;
  int r = c->cc.local->vt->del(c->cc.local, s, room);
  if (had && !sio__memory_adapter_has_room(c->cc.local, room)) c->tp->room(c->t, room, 0);
  return r;
}

static void sac_del_all(sio_adapter_t *a, sio_socket_t *s) {
  sio_sac_t *c = (sio_sac_t *)a;
  if (!c->tp->room) {
    c->cc.local->vt->del_all(c->cc.local, s);
    return;
  }
  /* One room at a time, so that each one emptied is seen; room 0, the socket's own id, is no
   * room it joined. Last joined first, as del_all does. */
  size_t n = sio_socket_room_count(s);
  while (n-- > 1) {
    const char *room = sio_socket_room(s, n);
    char *name = room ? strdup(room) : NULL;
    if (!name) break;
    sac_del(a, s, name);
    free(name);
  }
  c->cc.local->vt->del_all(c->cc.local, s);
}


static int sac_broadcast(sio_adapter_t *a, const sio_target_t *to, const sio_bcast_packet_t *bp) {
  sio_sac_t *c = (sio_sac_t *)a;
  if (is_local(to)) return c->cc.local->vt->broadcast(c->cc.local, to, bp);
  int with_offset = c->tp->offsets && sio__nsp_recovery_enabled(a->nsp) &&
                    !(to && (to->flags & SIO_EMIT_VOLATILE));
  cJSON *data = broadcast_data(bp, NULL, to, 0);
  const char *room = to && to->nrooms == 1 ? to->rooms[0] : NULL;
  pending_t *p = NULL;
  if (data && (with_offset || c->head)) p = pending_new(c, to, bp);
  if (!p) {
    /* Delivered now: nothing waits (or, out of memory, this one cannot wait its turn). */
    int r = c->cc.local->vt->broadcast(c->cc.local, to, bp);
    int e = publish(c, SIO_SAC_BROADCAST, data, bp->bufs, bp->bufs ? bp->pkt->attachment_count : 0,
                    0, room, NULL, NULL);
    cJSON_Delete(data);
    return r ? r : e == SIO_ENOMEM ? e : 0;
  }
  enqueue(c, p);
  int e = publish(c, SIO_SAC_BROADCAST, data, bp->bufs, bp->bufs ? bp->pkt->attachment_count : 0, 0,
                  room, with_offset ? on_published : NULL, p);
  cJSON_Delete(data);
  /* Without a callback (no offset wanted, or not sent) it waits only for those before it. */
  if (!with_offset || e) p->done = 1;
  flush(c);
  return e == SIO_ENOMEM ? e : 0;
}

static int sac_broadcast_with_ack(sio_adapter_t *a, const sio_target_t *to,
                                  const sio_bcast_packet_t *bp, uint32_t timeout_ms,
                                  sio_bcast_ack_t *b) {
  sio_sac_t *c = (sio_sac_t *)a;
  int r = c->cc.local->vt->broadcast_with_ack(c->cc.local, to, bp, timeout_ms, b);
  if (r < 0 || is_local(to) || c->closed) return r;
  char id[SIO_SAC_ID_LEN + 1];
  random_id(id);
  sio_cc_ack_t *k = sio__cc_ack_new(b, id);
  if (!k) return 0; /* this node's sockets only */
  cJSON *data = broadcast_data(bp, k->id, to, timeout_ms);
  /* The node count first: it fails when the answers could not be heard, and nothing is
   * published then. Node's BroadcastOperator asks serverCount() the same way. */
  int e = data ? c->tp->server_count(c->t, k->id) : SIO_ENOMEM;
  if (!e)
    e = publish(c, SIO_SAC_BROADCAST, data, bp->bufs, bp->bufs ? bp->pkt->attachment_count : 0, 1,
                NULL, NULL, NULL);
  cJSON_Delete(data);
  return sio__cc_ack_started(&c->cc.reqs, k, e);
}

/* {"opts", "rooms": [room]} or {"opts", "close"}: Node's SOCKETS_JOIN / LEAVE and
 * DISCONNECT_SOCKETS. */
static int publish_selection(sio_cc_adapter_t *a, const sio_target_t *to, int type, const char *room,
                             int close) {
  sio_sac_t *c = (sio_sac_t *)a;
  cJSON *d = cJSON_CreateObject();
  if (d && (sio__cc_add_item(d, "opts", opts_json(to, 0)) ||
            (type == SIO_SAC_DISCONNECT_SOCKETS ? !cJSON_AddBoolToObject(d, "close", close)
                                     : sio__cc_add_item(d, "rooms", sio__cc_string_array(&room, 1))))) {
    cJSON_Delete(d);
    d = NULL;
  }
  int r = publish(c, type, d, NULL, 0, 0, NULL, NULL, NULL);
  cJSON_Delete(d);
  return r;
}

/* {"opts", "requestId"}, as Node's fetchSockets. */
static int sac_fetch_sockets(sio_adapter_t *a, const sio_target_t *to, sio_request_t *r) {
  char id[SIO_SAC_ID_LEN + 1];
  random_id(id);
  cJSON *d = cJSON_CreateObject();
  if (d && (sio__cc_add_item(d, "opts", opts_json(to, 0)) || !cJSON_AddStringToObject(d, "requestId", id))) {
    cJSON_Delete(d);
    d = NULL;
  }
  return request_start((sio_sac_t *)a, SIO_SAC_FETCH_SOCKETS, id, d, r);
}

/* {["requestId",] "packet": data}, or NULL. */
static cJSON *packet_data(const char *id, const cJSON *data) {
  cJSON *d = cJSON_CreateObject();
  if (d && ((id && !cJSON_AddStringToObject(d, "requestId", id)) ||
            sio__cc_add_item(d, "packet", cJSON_Duplicate(data, 1)))) {
    cJSON_Delete(d);
    d = NULL;
  }
  return d;
}

static int sac_server_side_emit(sio_adapter_t *a, const cJSON *data, sio_request_t *r) {
  sio_sac_t *c = (sio_sac_t *)a;
  char id[SIO_SAC_ID_LEN + 1];
  if (r) {
    random_id(id);
    return request_start(c, SIO_SAC_SERVER_SIDE_EMIT, id, packet_data(id, data), r);
  }
  cJSON *d = packet_data(NULL, data);
  int e = publish(c, SIO_SAC_SERVER_SIDE_EMIT, d, NULL, 0, 1, NULL, NULL, NULL);
  cJSON_Delete(d);
  return e;
}

/* sio's own request {"requestId"} (see the top of this file). */
int sio__sac_all_rooms(sio_adapter_t *a, sio_request_t *r) {
  char id[SIO_SAC_ID_LEN + 1];
  random_id(id);
  cJSON *d = cJSON_CreateObject();
  if (d && !cJSON_AddStringToObject(d, "requestId", id)) {
    cJSON_Delete(d);
    d = NULL;
  }
  return request_start((sio_sac_t *)a, SIO_SAC_ALL_ROOMS, id, d, r);
}

/* The reply ids given to the Socket.IO layer name both the request and its requester: "UID ID"
 * (neither holds a space: see valid_id). */
static int sac_server_side_reply(sio_adapter_t *a, const char *reply_id, const cJSON *value) {
  sio_sac_t *c = (sio_sac_t *)a;
  const char *sp = strchr(reply_id, ' ');
  if (!sp || (size_t)(sp - reply_id) > PEER_ID_MAX) return SIO_EINVAL;
  char uid[PEER_ID_MAX + 1];
  memcpy(uid, reply_id, (size_t)(sp - reply_id));
  uid[sp - reply_id] = '\0';
  /* {"requestId", "packet"}; no value: no "packet" (Node's undefined). */
  cJSON *d = cJSON_CreateObject();
  if (d && (!cJSON_AddStringToObject(d, "requestId", sp + 1) ||
            (value && sio__cc_add_item(d, "packet", cJSON_Duplicate(value, 1))))) {
    cJSON_Delete(d);
    d = NULL;
  }
  if (!d) return SIO_ENOMEM;
  sio_sac_msg_t m = make_msg(c, SIO_SAC_SERVER_SIDE_EMIT_RESPONSE, d, NULL, 0);
  int r = c->tp->publish_response(c->t, uid, &m);
  cJSON_Delete(d);
  return r;
}

static int sac_server_count(sio_adapter_t *a) {
  int n = ((sio_sac_t *)a)->server_count;
  return n > 0 ? n : 1;
}

static int sac_persist_session(sio_adapter_t *a, const cJSON *session) {
  sio_sac_t *c = (sio_sac_t *)a;
  return c->tp->persist_session(c->t, session);
}

static int sac_restore_session(sio_adapter_t *a, const char *pid, const char *offset,
                               sio_restore_cb cb, void *arg) {
  sio_sac_t *c = (sio_sac_t *)a;
  return c->tp->restore_session(c->t, pid, offset, cb, arg);
}

static void sac_close(sio_adapter_t *a) {
  sio_sac_t *c = (sio_sac_t *)a;
  c->closed = 1;
  sio__cc_requests_close(&c->cc.reqs);
}

static void sac_free(sio_adapter_t *a) {
  sio_sac_t *c = (sio_sac_t *)a;
  sio__cc_requests_free(&c->cc.reqs);
  /* Broadcasts still waiting for their offset: a callback that comes while the transport is
   * freed only marks its broadcast (c->flushing: nothing is delivered), one that comes later
   * frees its orphan. */
  c->flushing = 1;
  c->tp->free(c->t);
  while (c->head) {
    pending_t *p = c->head;
    c->head = p->next;
    if (p->done) pending_free(p);
    else p->orphan = 1;
  }
  if (c->cc.local) c->cc.local->vt->free(c->cc.local);
  free(c);
}

sio_adapter_t *sio__sac_release(sio_sac_t *c) {
  sio_adapter_t *local = c->cc.local;
  c->cc.local = NULL;
  sac_free(&c->cc.base);
  return local;
}

static const sio_adapter_vt_t sac_vt = {.add = sac_add,
                                        .del = sac_del,
                                        .del_all = sac_del_all,
                                        .apply = sio__cc_apply,
                                        .rooms = sio__cc_rooms,
                                        .broadcast = sac_broadcast,
                                        .broadcast_with_ack = sac_broadcast_with_ack,
                                        .broadcast_ack_end = sio__cc_broadcast_ack_end,
                                        .add_sockets = sio__cc_add_sockets,
                                        .del_sockets = sio__cc_del_sockets,
                                        .disconnect_sockets = sio__cc_disconnect_sockets,
                                        .fetch_sockets = sac_fetch_sockets,
                                        .all_rooms = NULL, /* see the top of this file */
                                        .server_side_emit = sac_server_side_emit,
                                        .server_side_reply = sac_server_side_reply,
                                        .server_count = sac_server_count,
                                        .persist_session = sac_persist_session,
                                        .restore_session = sac_restore_session,
                                        .close = sac_close,
                                        .free = sac_free};

sio_sac_t *sio__sac_new(sio_nsp_t *nsp, sio_adapter_t *local, const sio_sac_transport_t *tp,
                        void *t, uint32_t timeout_ms) {
  sio_sac_t *c = calloc(1, sizeof *c);
  if (!c) return NULL;
  c->vt = sac_vt;
  if (!tp->persist_session || !tp->restore_session) {
    c->vt.persist_session = NULL;
    c->vt.restore_session = NULL;
  }
  static const sio_cc_class_t cls = {publish_selection,
                                     {SIO_SAC_SOCKETS_JOIN, SIO_SAC_SOCKETS_LEAVE, SIO_SAC_DISCONNECT_SOCKETS},
                                     publish_request, free_json};
  sio__cc_init(&c->cc, &c->vt, &cls, nsp, local, timeout_ms ? timeout_ms : 5000);
  c->tp = tp;
  c->t = t;
  c->server_count = 1;
  random_id(c->uid);
  return c;
}

sio_adapter_t *sio__sac_adapter(sio_sac_t *c) { return &c->cc.base; }
const char *sio__sac_uid(const sio_sac_t *c) { return c->uid; }
sio_nsp_t *sio__sac_nsp(const sio_sac_t *c) { return c->cc.base.nsp; }

/* ---------------------------------------------------------------------------------------------- */
/* What other nodes send                                                                           */

static const cJSON *get(const cJSON *o, const char *key) {
  return cJSON_IsObject(o) ? cJSON_GetObjectItemCaseSensitive(o, key) : NULL;
}

/* A uid or request id of another node that is kept or sent back: a string of 1..PEER_ID_MAX
 * printable characters, no space (the reply ids join two with one). */
static int valid_id(const cJSON *j) {
  if (!cJSON_IsString(j)) return 0;
  size_t n = strlen(j->valuestring);
  if (n == 0 || n > PEER_ID_MAX) return 0;
  for (size_t i = 0; i < n; i++)
    if ((unsigned char)j->valuestring[i] <= ' ' || (unsigned char)j->valuestring[i] >= 0x7f) return 0;
  return 1;
}

/* The target of opts {rooms, except, flags} for this node. */
static int read_target(const cJSON *opts, sio_strs_t *rooms, sio_strs_t *except) {
  memset(except, 0, sizeof *except);
  if (sio__strs_from_json(get(opts, "rooms"), rooms)) return -1;
  if (sio__strs_from_json(get(opts, "except"), except)) {
    sio__strs_free(rooms);
    return -1;
  }
  return 0;
}

static int flags_of(const cJSON *opts) {
  const cJSON *f = get(opts, "flags");
  int flags = cJSON_IsTrue(get(f, "volatile")) ? SIO_EMIT_VOLATILE : 0;
  if (cJSON_IsFalse(get(f, "compress"))) flags |= SIO_EMIT_NO_COMPRESS;
  return flags;
}

/* The packet's data when it is ["event", ...args]. */
static const cJSON *event_data(const cJSON *packet) {
  const cJSON *d = get(packet, "data"), *type = get(packet, "type");
  if (type && (!cJSON_IsNumber(type) ||
               (type->valuedouble != SIO_PACKET_EVENT && type->valuedouble != SIO_PACKET_BINARY_EVENT)))
    return NULL;
  return cJSON_IsArray(d) && cJSON_IsString(d->child) ? d : NULL;
}

/* ---- another node's broadcast with acks: each answer relayed as it comes ---- */

typedef struct {
  sio_sac_t *c;
  char request_id[PEER_ID_MAX + 1];
  char uid[PEER_ID_MAX + 1];
} relay_t;

static void relay_answer(void *arg, const cJSON *answer, const sio_buf_t *bufs, size_t nbufs) {
  relay_t *rl = arg;
  cJSON *d = cJSON_CreateObject();
  if (d && (!cJSON_AddStringToObject(d, "requestId", rl->request_id) ||
            (answer && sio__cc_add_item(d, "packet", cJSON_Duplicate(answer, 1))))) {
    cJSON_Delete(d);
    d = NULL;
  }
  respond(rl->c, rl->uid, SIO_SAC_BROADCAST_ACK, d, bufs, nbufs);
}

static void relay_end(void *arg) { free(arg); }

static void serve_broadcast_ack(sio_sac_t *c, const cJSON *from, const cJSON *data,
                                const char *event, const cJSON *args, const sio_mp_bins_t *bins) {
  const cJSON *rid = get(data, "requestId"), *opts = get(data, "opts");
  if (!valid_id(rid) || !valid_id(from)) return;
  relay_t *rl = calloc(1, sizeof *rl);
  sio_strs_t rooms, except;
  if (!rl || read_target(opts, &rooms, &except)) {
    free(rl);
    return;
  }
  rl->c = c;
  strcpy(rl->request_id, rid->valuestring);
  strcpy(rl->uid, from->valuestring);
  const cJSON *tmo = get(get(opts, "flags"), "timeout");
  uint32_t timeout_ms = cJSON_IsNumber(tmo) && tmo->valuedouble >= 1 && tmo->valuedouble < UINT32_MAX
                            ? (uint32_t)tmo->valuedouble
                            : c->cc.reqs.timeout_ms;
  sio_target_t to = sio__cc_local_target(&rooms, &except, flags_of(opts));
  sio_args_t a = {args, bins->v, bins->n};
  size_t count = 0;
  int err = sio__nsp_emit_ack_relay(c->cc.base.nsp, &to, event, &a, timeout_ms,
                                    relay_answer, relay_end, rl, &count);
  /* {"requestId", "clientCount"}, before any answer can come (those arrive from the loop). */
  cJSON *d = cJSON_CreateObject();
  if (d && (!cJSON_AddStringToObject(d, "requestId", rl->request_id) ||
            !cJSON_AddNumberToObject(d, "clientCount", err ? 0 : (double)count))) {
    cJSON_Delete(d);
    d = NULL;
  }
  respond(c, rl->uid, SIO_SAC_BROADCAST_CLIENT_COUNT, d, NULL, 0);
  if (err) relay_end(rl);
  sio__strs_free(&rooms);
  sio__strs_free(&except);
}

/* A BROADCAST: with a requestId, a broadcast with acks; else an emit here, with the offset the
 * transport gave it as last argument when this node recovers sessions (Node's
 * addOffsetIfNecessary: events without an id, not volatile). Without an offset (pub/sub, the
 * sharded adapter) nothing is appended, where Node would append undefined (null on the wire). */
static void on_broadcast(sio_sac_t *c, const cJSON *from, const cJSON *data,
                         const sio_mp_bins_t *bins, const char *offset) {
  const cJSON *packet = get(data, "packet"), *opts = get(data, "opts");
  const cJSON *ev = event_data(packet);
  if (!ev) return;
  cJSON *args = sio__cc_args_after_event(ev);
  if (!args) return;
  if (get(data, "requestId")) {
    serve_broadcast_ack(c, from, data, ev->child->valuestring, args, bins);
    cJSON_Delete(args);
    return;
  }
  int flags = flags_of(opts);
  const cJSON *id = get(packet, "id");
  if (offset && sio__nsp_recovery_enabled(c->cc.base.nsp) && (!id || cJSON_IsNull(id)) &&
      !get(get(opts, "flags"), "volatile")) {
    cJSON *o = cJSON_CreateString(offset);
    if (!cJSON_AddItemToArray(args, o)) {
      cJSON_Delete(o);
      cJSON_Delete(args);
      return;
    }
  }
  sio_strs_t rooms, except;
  if (!read_target(opts, &rooms, &except)) {
    sio_target_t to = sio__cc_local_target(&rooms, &except, flags);
    sio_args_t a = {args, bins->v, bins->n};
    sio_nsp_emit(c->cc.base.nsp, &to, ev->child->valuestring, &a);
    sio__strs_free(&rooms);
    sio__strs_free(&except);
  }
  cJSON_Delete(args);
}

/* SOCKETS_JOIN / SOCKETS_LEAVE / DISCONNECT_SOCKETS for this node's targeted sockets. */
static void on_selection(sio_sac_t *c, int type, const cJSON *data) {
  sio_strs_t rooms, except;
  const cJSON *opts = get(data, "opts");
  if (read_target(opts, &rooms, &except)) return;
  sio_target_t to = sio__cc_local_target(&rooms, &except, 0);
  sio_nsp_t *nsp = c->cc.base.nsp;
  if (type == SIO_SAC_DISCONNECT_SOCKETS) {
    sio_nsp_disconnect(nsp, &to, cJSON_IsTrue(get(data, "close")));
  } else {
    const cJSON *rs = get(data, "rooms");
    for (const cJSON *r = cJSON_IsArray(rs) ? rs->child : NULL; r; r = r->next)
      if (cJSON_IsString(r))
        (type == SIO_SAC_SOCKETS_JOIN ? sio_nsp_join : sio_nsp_leave)(nsp, &to, r->valuestring);
  }
  sio__strs_free(&rooms);
  sio__strs_free(&except);
}

static void on_fetch(sio_sac_t *c, const cJSON *from, const cJSON *data) {
  const cJSON *rid = get(data, "requestId");
  if (!valid_id(rid) || !valid_id(from)) return;
  sio_strs_t rooms, except;
  if (read_target(get(data, "opts"), &rooms, &except)) return;
  sio_target_t to = sio__cc_local_target(&rooms, &except, 0);
  cJSON *sockets = sio__cc_local_sockets(c->cc.local, &to, sio__socket_describe);
  cJSON *d = sockets ? cJSON_CreateObject() : NULL;
  if (d && (!cJSON_AddStringToObject(d, "requestId", rid->valuestring) ||
            sio__cc_add_item(d, "sockets", sockets))) {
    cJSON_Delete(d);
    d = NULL;
  } else if (!d) {
    cJSON_Delete(sockets);
  }
  respond(c, from->valuestring, SIO_SAC_FETCH_SOCKETS_RESPONSE, d, NULL, 0);
  sio__strs_free(&rooms);
  sio__strs_free(&except);
}

static void add_room_name(const char *room, void *arg) {
  cJSON *rooms = arg;
  cJSON *s = cJSON_CreateString(room);
  if (!s || !cJSON_AddItemToArray(rooms, s)) cJSON_Delete(s);
}

/* {"requestId", "rooms": [...]}: this node's rooms. */
static void on_all_rooms(sio_sac_t *c, const cJSON *from, const cJSON *data) {
  const cJSON *rid = get(data, "requestId");
  if (!valid_id(rid) || !valid_id(from)) return;
  cJSON *rooms = cJSON_CreateArray(), *d = rooms ? cJSON_CreateObject() : NULL;
  if (d) c->cc.local->vt->rooms(c->cc.local, add_room_name, rooms);
  if (d && (!cJSON_AddStringToObject(d, "requestId", rid->valuestring) || sio__cc_add_item(d, "rooms", rooms))) {
    cJSON_Delete(d);
    d = NULL;
  } else if (!d) {
    cJSON_Delete(rooms);
  }
  respond(c, from->valuestring, SIO_SAC_ALL_ROOMS_RESPONSE, d, NULL, 0);
}

static void on_server_side_emit(sio_sac_t *c, const cJSON *from, const cJSON *data,
                                const sio_mp_bins_t *bins) {
  const cJSON *pkt = get(data, "packet"), *rid = get(data, "requestId");
  if (!cJSON_IsArray(pkt) || !cJSON_IsString(pkt->child)) return;
  char reply[2 * PEER_ID_MAX + 2];
  const char *reply_id = NULL;
  if (rid) { /* answers wanted: only when they can be sent back */
    if (!valid_id(rid) || !valid_id(from)) return;
    snprintf(reply, sizeof reply, "%s %s", from->valuestring, rid->valuestring);
    reply_id = reply;
  }
  cJSON *rest = sio__cc_args_after_event(pkt);
  if (!rest) return;
  sio_args_t args = {rest, bins->v, bins->n};
  /* Nobody listens but the sender counts answers: answer with nothing (as cluster.c does) rather
   * than leave it to its timeout. */
  if (!sio__nsp_server_event(c->cc.base.nsp, pkt->child->valuestring, &args, reply_id) && reply_id)
    sac_server_side_reply(&c->cc.base, reply_id, NULL);
  cJSON_Delete(rest);
}

/* Node's onResponse: answers to our requests and broadcasts with acks. */
static void on_response(sio_sac_t *c, int type, const cJSON *data, const sio_mp_bins_t *bins) {
  const cJSON *rid = get(data, "requestId");
  if (!cJSON_IsString(rid)) return;
  if (type == SIO_SAC_BROADCAST_CLIENT_COUNT || type == SIO_SAC_BROADCAST_ACK) {
    sio_cc_ack_t *k = sio__cc_ack_find(&c->cc.reqs, rid->valuestring);
    if (k && type == SIO_SAC_BROADCAST_ACK) sio__bcast_answer(k->b, get(data, "packet"), bins->v, bins->n);
    else if (k) sio__cc_client_count(&c->cc.reqs, rid->valuestring, get(data, "clientCount"));
    return;
  }
  sio_cc_request_t *q = sio__cc_request_find(&c->cc.reqs, rid->valuestring);
  if (!q || !q->published) return;
  if (type == SIO_SAC_FETCH_SOCKETS_RESPONSE && q->type == SIO_SAC_FETCH_SOCKETS) {
    const cJSON *sockets = get(data, "sockets");
    if (cJSON_IsArray(sockets)) sio__cc_request_answered(q, sockets);
  } else if (type == SIO_SAC_SERVER_SIDE_EMIT_RESPONSE && q->type == SIO_SAC_SERVER_SIDE_EMIT) {
    sio__cc_request_answered(q, get(data, "packet"));
  } else if (type == SIO_SAC_ALL_ROOMS_RESPONSE && q->type == SIO_SAC_ALL_ROOMS) {
    const cJSON *rooms = get(data, "rooms");
    if (cJSON_IsArray(rooms)) sio__cc_request_answered(q, rooms);
  }
}

/* Node's onMessage, once the sender and namespace were checked. */
static void on_message(sio_sac_t *c, const cJSON *from, int type, const cJSON *data,
                       const sio_mp_bins_t *bins, const char *offset) {
  SIO_DEBUG(c->cc.reqs.server, SIO_DEBUG_ADAPTER, "nsp %s: message of type %d from %.32s",
            sio_nsp_name(c->cc.base.nsp), type, cJSON_IsString(from) ? from->valuestring : "?");
  switch (type) {
  case SIO_SAC_BROADCAST:
    on_broadcast(c, from, data, bins, offset);
    break;
  case SIO_SAC_SOCKETS_JOIN:
  case SIO_SAC_SOCKETS_LEAVE:
  case SIO_SAC_DISCONNECT_SOCKETS:
    on_selection(c, type, data);
    break;
  case SIO_SAC_FETCH_SOCKETS:
    on_fetch(c, from, data);
    break;
  case SIO_SAC_SERVER_SIDE_EMIT:
    on_server_side_emit(c, from, data, bins);
    break;
  case SIO_SAC_ALL_ROOMS:
    on_all_rooms(c, from, data);
    break;
  case SIO_SAC_FETCH_SOCKETS_RESPONSE:
  case SIO_SAC_SERVER_SIDE_EMIT_RESPONSE:
  case SIO_SAC_ALL_ROOMS_RESPONSE:
  case SIO_SAC_BROADCAST_CLIENT_COUNT:
  case SIO_SAC_BROADCAST_ACK:
    /* As Node: a response may come on the public channel too (the streams adapter's private
     * channel messages go through onMessage). */
    on_response(c, type, data, bins);
    break;
  default: /* heartbeats, ADAPTER_CLOSE, unknown types */
    break;
  }
}

/* Dispatches a whole message {uid, nsp, type, data}. */
static void on_whole(sio_sac_t *c, const cJSON *msg, const sio_mp_bins_t *bins, int is_response) {
  const cJSON *uid = get(msg, "uid"), *nsp = get(msg, "nsp"), *type = get(msg, "type");
  /* A small whole number, checked before the cast (a double out of int's range is undefined). */
  if (!cJSON_IsNumber(type) || !(type->valuedouble >= 0 && type->valuedouble <= 255) ||
      type->valuedouble != (int)type->valuedouble)
    return;
  if (is_response) { /* Node's onResponse checks neither: the request id does */
    on_response(c, (int)type->valuedouble, get(msg, "data"), bins);
    return;
  }
  if (cJSON_IsString(uid) && strcmp(uid->valuestring, c->uid) == 0) return;
  if (!cJSON_IsString(nsp) || strcmp(nsp->valuestring, sio_nsp_name(c->cc.base.nsp)) != 0) return;
  on_message(c, uid, (int)type->valuedouble, get(msg, "data"), bins, NULL);
}

/* The msgpack value of p[0..len) as a cJSON tree (bins pointing into p), or NULL. */
static cJSON *read_msgpack(const char *p, size_t len, sio_mp_bins_t *bins) {
  msgpack_unpacked u;
  msgpack_unpacked_init(&u);
  size_t off = 0;
  cJSON *j = NULL;
  /* The bin values must outlive u: unpacking without a copy (msgpack_unpack_next references the
   * buffer for str and bin) keeps them in p. */
  if (sio__mp_plausible((const unsigned char *)p, len) &&
      msgpack_unpack_next(&u, p, len, &off) == MSGPACK_UNPACK_SUCCESS)
    j = sio__mp_to_json(&u.data, bins);
  msgpack_unpacked_destroy(&u);
  return j;
}

void sio__sac_on_raw(sio_sac_t *c, const char *data, size_t len, int is_response) {
  sio_mp_bins_t bins = {0};
  cJSON *j = NULL;
  if (len > 0 && data[0] == '{') {
    if (sio_json_parse(data, len, &j)) j = NULL;
  } else {
    j = read_msgpack(data, len, &bins);
  }
  if (j) on_whole(c, j, &bins, is_response);
  cJSON_Delete(j);
  free(bins.v);
}

/* A stream entry's data field as a tree: JSON text, or base64 of msgpack (*raw then holds the
 * decoded bytes the bins point into, the caller's to free). NULL when it is neither. */
static cJSON *read_field(const char *data, size_t len, sio_mp_bins_t *bins, char **raw) {
  cJSON *j = NULL;
  *raw = NULL;
  if (len > 0 && data[0] == '{') return sio_json_parse(data, len, &j) ? NULL : j;
  if (!(*raw = malloc(len ? len : 1))) return NULL;
  memcpy(*raw, data, len);
  long n = sio_base64_decode_inplace(*raw, len);
  return n < 0 ? NULL : read_msgpack(*raw, (size_t)n, bins);
}

/* The decimal type of a stream entry (parseInt of a short number), or -1. */
static int parse_type(const char *s) {
  int v = 0;
  if (!s || !*s) return -1;
  for (int i = 0; s[i]; i++) {
    if (s[i] < '0' || s[i] > '9' || i >= 3) return -1;
    v = v * 10 + (s[i] - '0');
  }
  return v;
}

void sio__sac_on_fields(sio_sac_t *c, const char *uid, const char *type, const char *data,
                        size_t data_len, const char *offset) {
  if (uid && strcmp(uid, c->uid) == 0) return;
  int t = parse_type(type);
  if (t < 0) return;
  sio_mp_bins_t bins = {0};
  char *raw = NULL;
  cJSON *d = data ? read_field(data, data_len, &bins, &raw) : NULL;
  cJSON *from = uid ? cJSON_CreateString(uid) : NULL;
  if ((!data || d) && (!uid || from)) on_message(c, from, t, d, &bins, offset);
  cJSON_Delete(from);
  cJSON_Delete(d);
  free(bins.v);
  free(raw);
}

void sio__sac_on_server_count(sio_sac_t *c, const char *request_id, long long n) {
  if (n > 0) c->server_count = n > INT32_MAX ? INT32_MAX : (int)n;
  sio__cc_server_count(&c->cc.reqs, request_id, n);
}

void sio__sac_on_down(sio_sac_t *c, int status) {
  sio__cc_requests_down(&c->cc.reqs, status);
}

/* ---------------------------------------------------------------------------------------------- */
/* A stream entry's BROADCAST, for restoring missed packets                                        */

/* v as a NULL-terminated array of strings in one allocation, or NULL. */
static char **flat_strs(const sio_strs_t *v) {
  size_t size = (v->n + 1) * sizeof(char *);
  for (size_t i = 0; i < v->n; i++) size += strlen(v->v[i]) + 1;
  char **out = malloc(size);
  if (!out) return NULL;
  char *p = (char *)(out + v->n + 1);
  for (size_t i = 0; i < v->n; i++) {
    size_t n = strlen(v->v[i]) + 1;
    memcpy(p, v->v[i], n);
    out[i] = p;
    p += n;
  }
  out[v->n] = NULL;
  return out;
}

int sio__sac_decode_broadcast(const char *data, size_t len, cJSON **event, sio_buf_t **bufs,
                              size_t *nbufs, char ***rooms, char ***except) {
  *event = NULL;
  *bufs = NULL;
  *nbufs = 0;
  *rooms = *except = NULL;
  sio_mp_bins_t bins = {0};
  char *raw = NULL;
  cJSON *d = read_field(data, len, &bins, &raw);
  const cJSON *ev = event_data(get(d, "packet"));
  int r = ev ? 0 : SIO_EINVAL;
  sio_strs_t rs = {0}, xs = {0};
  if (!r && read_target(get(d, "opts"), &rs, &xs)) r = SIO_ENOMEM;
  if (!r) {
    *event = cJSON_Duplicate(ev, 1);
    *rooms = flat_strs(&rs);
    *except = flat_strs(&xs);
    *bufs = calloc(bins.n ? bins.n : 1, sizeof **bufs);
    if (!*event || !*rooms || !*except || !*bufs) r = SIO_ENOMEM;
    for (size_t i = 0; !r && i < bins.n; i++) {
      char *b = malloc(bins.v[i].len ? bins.v[i].len : 1);
      if (!b) {
        r = SIO_ENOMEM;
        break;
      }
      memcpy(b, bins.v[i].data, bins.v[i].len);
      (*bufs)[i] = (sio_buf_t){b, bins.v[i].len};
      *nbufs = i + 1;
    }
  }
  sio__strs_free(&rs);
  sio__strs_free(&xs);
  if (r) {
    cJSON_Delete(*event);
    for (size_t i = 0; *bufs && i < *nbufs; i++) free((char *)(*bufs)[i].data);
    free(*bufs);
    free(*rooms);
    free(*except);
    *event = NULL;
    *bufs = NULL;
    *nbufs = 0;
    *rooms = *except = NULL;
  }
  cJSON_Delete(d);
  free(bins.v);
  free(raw);
  return r;
}

#endif /* SIO_HAVE_REDIS */
