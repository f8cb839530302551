/* The cluster adapter: what crosses nodes, wire-compatible with Node's @socket.io/redis-adapter 8.3
 * (the wire format is described in the project's shared notes, redis-adapter-wire.md), over a
 * transport (cluster.h). This node's rooms and deliveries stay with the in-memory adapter it
 * wraps; what another node asks is done here through the public API with SIO_EMIT_LOCAL. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "adapter/cluster.h"
#include "transport/log.h"
#include "json_parse.h"

/* Built with msgpack-c (and the Redis transport): without them no transport makes one. */
#ifdef SIO_HAVE_REDIS

#include <openssl/rand.h>

#include "adapter/cluster_common.h"
#include "adapter/msgpack_json.h"

/* The longest request id taken from another node (Node's are SIO_CLUSTER_ID_LEN characters). */
#define PEER_ID_MAX 7


struct sio_cluster {
  sio_cc_adapter_t cc; /* the vtable's base and the in-memory adapter it wraps */
  const sio_cluster_transport_t *tp;
  void *t;
  char uid[SIO_CLUSTER_ID_LEN + 1];
  int server_count;     /* the last count the transport gave */
  uint8_t closed;       /* the server is shutting down: no more requests */
  uint8_t logged_type;  /* the "ignored" notice, once */
};

static void log_ignored(sio_cluster_t *c, const char *what) {
  if (c->logged_type) return;
  c->logged_type = 1;
  SIO_LOG(c->cc.reqs.server, SIO_LOG_WARN, "cluster", "ignored %s", what);
}

/* An id of SIO_CLUSTER_ID_LEN random alphanumerics (Node's adapter uses uid2, base 62). */
static void random_id(char out[SIO_CLUSTER_ID_LEN + 1]) {
  static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
  unsigned char r[SIO_CLUSTER_ID_LEN];
  if (RAND_bytes(r, sizeof r) != 1) abort(); /* no CSPRNG: no ids */
  for (size_t i = 0; i < sizeof r; i++) out[i] = alphabet[r[i] % (sizeof alphabet - 1)];
  out[SIO_CLUSTER_ID_LEN] = '\0';
}

static int is_local(const sio_target_t *to) { return to && (to->flags & SIO_EMIT_LOCAL); }

/* ---------------------------------------------------------------------------------------------- */
/* Messages: each part is there, or the message is not made                                        */

/* {"rooms", "except"} of a target (NULL: the whole namespace), or NULL. */
static cJSON *target_opts(const sio_target_t *to) {
  cJSON *o = cJSON_CreateObject();
  if (!o || sio__cc_add_item(o, "rooms", sio__cc_string_array(to ? to->rooms : NULL, to ? to->nrooms : 0)) ||
      sio__cc_add_item(o, "except", sio__cc_string_array(to ? to->except : NULL, to ? to->nexcept : 0))) {
    cJSON_Delete(o);
    return NULL;
  }
  return o;
}

/* {"uid", ["requestId",] "type"}: how every JSON request of Node's adapter begins; or NULL. Without
 * its uid a request would be served by its own sender too, without its type by nobody. */
static cJSON *request_json(sio_cluster_t *c, const char *request_id, int type) {
  cJSON *j = cJSON_CreateObject();
  if (!j || !cJSON_AddStringToObject(j, "uid", c->uid) ||
      (request_id && !cJSON_AddStringToObject(j, "requestId", request_id)) ||
      !cJSON_AddNumberToObject(j, "type", type)) {
    cJSON_Delete(j);
    return NULL;
  }
  return j;
}

/* j as JSON text to chan (NULL: a part of it could not be made), as the transport's publish. */
static int publish_json(sio_cluster_t *c, int chan, const cJSON *j) {
  char *s = j ? cJSON_PrintUnformatted(j) : NULL;
  if (!s) return SIO_ENOMEM;
  int r = c->tp->publish(c->t, chan, NULL, s, strlen(s));
  cJSON_free(s);
  return r;
}

/* j as JSON text, an answer to the node uid. */
static int publish_json_response(sio_cluster_t *c, const char *uid, const cJSON *j) {
  char *s = j ? cJSON_PrintUnformatted(j) : NULL;
  if (!s) return SIO_ENOMEM;
  int r = c->tp->publish_response(c->t, uid, s, strlen(s));
  cJSON_free(s);
  return r;
}

/* {type, data, nsp}, the packet as Node's adapter publishes it: type 2 even with binary (Node's
 * parser splits attachments later), no id. */
static void pack_packet(msgpack_packer *pk, const sio_bcast_packet_t *bp, const char *nsp) {
  msgpack_pack_map(pk, 3);
  sio__mp_pack_key(pk, "type");
  msgpack_pack_int64(pk, SIO_PACKET_EVENT);
  sio__mp_pack_key(pk, "data");
  sio__mp_pack_json(pk, bp->pkt->data, bp->bufs, bp->bufs ? bp->pkt->attachment_count : 0);
  sio__mp_pack_key(pk, "nsp");
  sio__mp_pack_str(pk, nsp);
}

/* {rooms, except, flags}; a broadcast with acks has flags.timeout. */
static void pack_opts(msgpack_packer *pk, const sio_target_t *to, uint32_t timeout_ms) {
  int flags = to ? to->flags : 0;
  msgpack_pack_map(pk, 3);
  sio__mp_pack_key(pk, "rooms");
  sio__mp_pack_strs(pk, to ? to->rooms : NULL, to ? to->nrooms : 0);
  sio__mp_pack_key(pk, "except");
  sio__mp_pack_strs(pk, to ? to->except : NULL, to ? to->nexcept : 0);
  sio__mp_pack_key(pk, "flags");
  /* Node's flags.compress: present once compress() was called, false for compress(false). */
  int compress = (flags & (SIO_EMIT_COMPRESS | SIO_EMIT_NO_COMPRESS)) != 0;
  int n = ((flags & SIO_EMIT_VOLATILE) != 0) + compress + (timeout_ms != 0);
  msgpack_pack_map(pk, (size_t)n);
  if (flags & SIO_EMIT_VOLATILE) {
    sio__mp_pack_key(pk, "volatile");
    msgpack_pack_true(pk);
  }
  if (compress) {
    sio__mp_pack_key(pk, "compress");
    if (flags & SIO_EMIT_NO_COMPRESS) msgpack_pack_false(pk);
    else msgpack_pack_true(pk);
  }
  if (timeout_ms) {
    sio__mp_pack_key(pk, "timeout");
    msgpack_pack_uint32(pk, timeout_ms);
  }
}

/* A packed message to chan, as the transport's publish; nothing when a part of it could not be
 * packed. Frees b. */
static int publish_packed(sio_cluster_t *c, int chan, const char *room, sio_mpbuf_t *b) {
  int r = b->failed ? SIO_ENOMEM : c->tp->publish(c->t, chan, room, b->sb.data, b->sb.size);
  msgpack_sbuffer_destroy(&b->sb);
  return r;
}

/* ---------------------------------------------------------------------------------------------- */
/* Our requests: asked once the server count says how many nodes answer                           */

/* The JSON text of a request, as Node's fetchSockets, allRooms and serverSideEmit (with an ack)
 * send it; NULL when a part could not be made. */
static char *request_message(sio_cluster_t *c, const char *id, int type, const sio_target_t *to,
                             const cJSON *data) {
  cJSON *j = request_json(c, id, type);
  if (j && ((type == SIO_REQ_REMOTE_FETCH && sio__cc_add_item(j, "opts", target_opts(to))) ||
            (type == SIO_REQ_SERVER_SIDE_EMIT && sio__cc_add_item(j, "data", cJSON_Duplicate(data, 1))))) {
    cJSON_Delete(j);
    j = NULL;
  }
  char *s = j ? cJSON_PrintUnformatted(j) : NULL;
  cJSON_Delete(j);
  return s;
}

static int request_start(sio_cluster_t *c, int type, const sio_target_t *to, const cJSON *data,
                         sio_request_t *r) {
  char id[SIO_CLUSTER_ID_LEN + 1];
  random_id(id);
  char *message = request_message(c, id, type, to, data);
  if (!message) return SIO_ENOMEM;
  /* The answer count first, as Node does: every node subscribed to the request channel answers. */
  return sio__cc_request_add(&c->cc.reqs, id, type, message, r,
                             c->closed ? SIO_ECLOSED : c->tp->server_count(c->t, id));
}

static int publish_request(void *owner, int type, void *message) {
  sio_cluster_t *c = owner;
  (void)type;
  return c->tp->publish(c->t, SIO_CHAN_REQUEST, NULL, message, strlen(message));
}

/* ---------------------------------------------------------------------------------------------- */
/* The adapter                                                                                     */

static int cl_broadcast(sio_adapter_t *a, const sio_target_t *to, const sio_bcast_packet_t *bp) {
  sio_cluster_t *c = (sio_cluster_t *)a;
  int r = c->cc.local->vt->broadcast(c->cc.local, to, bp);
  if (is_local(to)) return r;
  SIO_DEBUG(c->cc.reqs.server, SIO_DEBUG_ADAPTER, "nsp %s: broadcast to the other nodes (%zu rooms, %zu excepted)",
            sio_nsp_name(a->nsp), to ? to->nrooms : 0, to ? to->nexcept : 0);
  sio_mpbuf_t b;
  msgpack_packer pk;
  sio__mpbuf_init(&b, &pk);
  /* [uid, {type, data, nsp}, {rooms, except, flags}]: the key order Node writes. */
  msgpack_pack_array(&pk, 3);
  sio__mp_pack_key(&pk, c->uid);
  pack_packet(&pk, bp, sio_nsp_name(a->nsp));
  pack_opts(&pk, to, 0);
  /* Exactly one room: its own channel, so that nodes without the room can skip it. */
  int one = to && to->nrooms == 1;
  int e = publish_packed(c, one ? SIO_CHAN_ROOM : SIO_CHAN_BROADCAST, one ? to->rooms[0] : NULL, &b);
  /* Delivered here whatever becomes of the other nodes' part, as with Redis away; but a message
   * that could not be made is the caller's to know. */
  return r ? r : e == SIO_ENOMEM ? e : 0;
}

static int cl_broadcast_with_ack(sio_adapter_t *a, const sio_target_t *to,
                                 const sio_bcast_packet_t *bp, uint32_t timeout_ms,
                                 sio_bcast_ack_t *b) {
  sio_cluster_t *c = (sio_cluster_t *)a;
  int r = c->cc.local->vt->broadcast_with_ack(c->cc.local, to, bp, timeout_ms, b);
  if (r < 0 || is_local(to) || c->closed) return r;
  char id[SIO_CLUSTER_ID_LEN + 1];
  random_id(id);
  sio_cc_ack_t *k = sio__cc_ack_new(b, id);
  if (!k) return 0; /* this node's sockets only */
  sio_mpbuf_t pb;
  msgpack_packer pk;
  sio__mpbuf_init(&pb, &pk);
  /* {uid, requestId, type: 7, packet, opts}: msgpack, as Node's broadcastWithAck publishes it. */
  msgpack_pack_map(&pk, 5);
  sio__mp_pack_key(&pk, "uid");
  sio__mp_pack_key(&pk, c->uid);
  sio__mp_pack_key(&pk, "requestId");
  sio__mp_pack_key(&pk, k->id);
  sio__mp_pack_key(&pk, "type");
  msgpack_pack_int64(&pk, SIO_REQ_BROADCAST);
  sio__mp_pack_key(&pk, "packet");
  pack_packet(&pk, bp, sio_nsp_name(a->nsp));
  sio__mp_pack_key(&pk, "opts");
  pack_opts(&pk, to, timeout_ms);
  /* The node count first: it fails when the answers could not be heard, and nothing is published
   * then. A count that comes for a request not published is ignored. */
  int e = pb.failed ? SIO_ENOMEM : c->tp->server_count(c->t, k->id);
  if (!e) e = publish_packed(c, SIO_CHAN_REQUEST, NULL, &pb);
  else msgpack_sbuffer_destroy(&pb.sb);
  return sio__cc_ack_started(&c->cc.reqs, k, e);
}

/* {"uid","type":2|3|4,"opts":{"rooms","except"},"rooms":[room]|"close":bool}, as Node's
 * socketsJoin / socketsLeave / disconnectSockets. Without its opts, a request would reach the
 * whole namespace. */
static int publish_selection(sio_cc_adapter_t *a, const sio_target_t *to, int type, const char *room,
                             int close) {
  sio_cluster_t *c = (sio_cluster_t *)a;
  cJSON *j = request_json(c, NULL, type);
  if (j && (sio__cc_add_item(j, "opts", target_opts(to)) ||
            (type == SIO_REQ_REMOTE_DISCONNECT ? !cJSON_AddBoolToObject(j, "close", close)
                                               : sio__cc_add_item(j, "rooms", sio__cc_string_array(&room, 1))))) {
    cJSON_Delete(j);
    j = NULL;
  }
  int r = publish_json(c, SIO_CHAN_REQUEST, j);
  cJSON_Delete(j);
  return r;
}

static int cl_fetch_sockets(sio_adapter_t *a, const sio_target_t *to, sio_request_t *r) {
  return request_start((sio_cluster_t *)a, SIO_REQ_REMOTE_FETCH, to, NULL, r);
}

static int cl_all_rooms(sio_adapter_t *a, sio_request_t *r) {
  return request_start((sio_cluster_t *)a, SIO_REQ_ALL_ROOMS, NULL, NULL, r);
}

static int cl_server_side_emit(sio_adapter_t *a, const cJSON *data, sio_request_t *r) {
  sio_cluster_t *c = (sio_cluster_t *)a;
  if (r) return request_start(c, SIO_REQ_SERVER_SIDE_EMIT, NULL, data, r);
  cJSON *j = request_json(c, NULL, SIO_REQ_SERVER_SIDE_EMIT);
  if (j && sio__cc_add_item(j, "data", cJSON_Duplicate(data, 1))) {
    cJSON_Delete(j);
    j = NULL;
  }
  int e = publish_json(c, SIO_CHAN_REQUEST, j);
  cJSON_Delete(j);
  return e;
}

static int cl_server_side_reply(sio_adapter_t *a, const char *reply_id, const cJSON *value) {
  sio_cluster_t *c = (sio_cluster_t *)a;
  /* {"type":6,"requestId","data"}; no value: no "data" (JSON.stringify drops undefined), so a
   * value that could not be copied must not leave its answer looking like that. */
  cJSON *j = cJSON_CreateObject();
  if (j && (!cJSON_AddNumberToObject(j, "type", SIO_REQ_SERVER_SIDE_EMIT) ||
            !cJSON_AddStringToObject(j, "requestId", reply_id) ||
            (value && sio__cc_add_item(j, "data", cJSON_Duplicate(value, 1))))) {
    cJSON_Delete(j);
    j = NULL;
  }
  int r = publish_json_response(c, NULL, j);
  cJSON_Delete(j);
  return r;
}

static int cl_server_count(sio_adapter_t *a) {
  int n = ((sio_cluster_t *)a)->server_count;
  return n > 0 ? n : 1;
}

/* Ends every request; a callback may start others (it gets SIO_ECLOSED then): start over each
 * time. */
static void cl_close(sio_adapter_t *a) {
  sio_cluster_t *c = (sio_cluster_t *)a;
  c->closed = 1;
  sio__cc_requests_close(&c->cc.reqs);
}

static void cl_free(sio_adapter_t *a) {
  sio_cluster_t *c = (sio_cluster_t *)a;
  sio__cc_requests_free(&c->cc.reqs);
  c->tp->free(c->t);
  c->cc.local->vt->free(c->cc.local);
  free(c);
}

static const sio_adapter_vt_t cluster_vt = {.add = sio__cc_add,
                                            .del = sio__cc_del,
                                            .del_all = sio__cc_del_all,
                                            .apply = sio__cc_apply,
                                            .rooms = sio__cc_rooms,
                                            .broadcast = cl_broadcast,
                                            .broadcast_with_ack = cl_broadcast_with_ack,
                                            .broadcast_ack_end = sio__cc_broadcast_ack_end,
                                            .add_sockets = sio__cc_add_sockets,
                                            .del_sockets = sio__cc_del_sockets,
                                            .disconnect_sockets = sio__cc_disconnect_sockets,
                                            .fetch_sockets = cl_fetch_sockets,
                                            .all_rooms = cl_all_rooms,
                                            .server_side_emit = cl_server_side_emit,
                                            .server_side_reply = cl_server_side_reply,
                                            .server_count = cl_server_count,
                                            .close = cl_close,
                                            .free = cl_free};

sio_cluster_t *sio__cluster_new(sio_nsp_t *nsp, sio_adapter_t *local,
                                const sio_cluster_transport_t *tp, void *t, uint32_t timeout_ms) {
  sio_cluster_t *c = calloc(1, sizeof *c);
  if (!c) return NULL;
  static const sio_cc_class_t cls = {publish_selection,
                                     {SIO_REQ_REMOTE_JOIN, SIO_REQ_REMOTE_LEAVE, SIO_REQ_REMOTE_DISCONNECT},
                                     publish_request, cJSON_free};
  sio__cc_init(&c->cc, &cluster_vt, &cls, nsp, local, timeout_ms ? timeout_ms : SIO_CLUSTER_TIMEOUT_MS);
  c->tp = tp;
  c->t = t;
  c->server_count = 1;
  random_id(c->uid);
  return c;
}

sio_adapter_t *sio__cluster_adapter(sio_cluster_t *c) { return &c->cc.base; }

const char *sio__cluster_uid(const sio_cluster_t *c) { return c->uid; }

/* ---------------------------------------------------------------------------------------------- */
/* Broadcasts from other nodes                                                                      */

/* An emit another node asks of this one: its packet's ["event", ...args] (binary as placeholders
 * for buffers that point into the message) and its target's rooms and exceptions. */
typedef struct {
  cJSON *event; /* the name, detached from args */
  cJSON *args;  /* what follows it */
  sio_mp_bins_t bins;
  sio_strs_t rooms, except;
} remote_emit_t;

static void remote_emit_clear(remote_emit_t *e) {
  sio__strs_free(&e->rooms);
  sio__strs_free(&e->except);
  cJSON_Delete(e->event);
  cJSON_Delete(e->args);
  free(e->bins.v);
  memset(e, 0, sizeof *e);
}

/* Reads pkt ({data, ...}) and opts ({rooms, except, ...}; NULL: none) into e: 0, or -1 (e left
 * clear) when data is not ["event", ...args] or a part of it could not be made. */
static int remote_emit_read(remote_emit_t *e, const msgpack_object *pkt, const msgpack_object *opts) {
  memset(e, 0, sizeof *e);
  const msgpack_object *data = sio__mp_get(pkt, "data");
  if (!data || data->type != MSGPACK_OBJECT_ARRAY || data->via.array.size == 0 ||
      data->via.array.ptr[0].type != MSGPACK_OBJECT_STR)
    return -1;
  e->args = sio__mp_to_json(data, &e->bins);
  if (!e->args || sio__strs_from_msgpack(opts ? sio__mp_get(opts, "rooms") : NULL, &e->rooms) ||
      sio__strs_from_msgpack(opts ? sio__mp_get(opts, "except") : NULL, &e->except)) {
    remote_emit_clear(e);
    return -1;
  }
  e->event = cJSON_DetachItemFromArray(e->args, 0);
  return 0;
}

/* opts.flags[name], or NULL. */
static const msgpack_object *opts_flag(const msgpack_object *opts, const char *name) {
  const msgpack_object *flags = opts ? sio__mp_get(opts, "flags") : NULL;
  return flags ? sio__mp_get(flags, name) : NULL;
}

/* [uid, packet, opts]: delivered here as a local emit (the outgoing listener sees it too, as in
 * Node); what came from another node is never published again. */
static void on_broadcast(sio_cluster_t *c, const msgpack_object *m) {
  sio_nsp_t *nsp = c->cc.base.nsp;
  if (m->type != MSGPACK_OBJECT_ARRAY || m->via.array.size < 2) return;
  if (sio__mp_str_eq(&m->via.array.ptr[0], c->uid)) return; /* our own publish, heard back */
  SIO_DEBUG(c->cc.reqs.server, SIO_DEBUG_ADAPTER, "nsp %s: broadcast from another node", sio_nsp_name(nsp));
  const msgpack_object *pkt = &m->via.array.ptr[1];
  const msgpack_object *opts = m->via.array.size > 2 ? &m->via.array.ptr[2] : NULL;
  const msgpack_object *type = sio__mp_get(pkt, "type"), *pnsp = sio__mp_get(pkt, "nsp");
  const msgpack_object *id = sio__mp_get(pkt, "id");
  if (pnsp ? !sio__mp_str_eq(pnsp, sio_nsp_name(nsp)) : strcmp(sio_nsp_name(nsp), "/") != 0) return;
  if (!type || type->type != MSGPACK_OBJECT_POSITIVE_INTEGER ||
      (type->via.u64 != SIO_PACKET_EVENT && type->via.u64 != SIO_PACKET_BINARY_EVENT)) {
    log_ignored(c, "a broadcast that is not an event");
    return;
  }
  /* Node sends broadcasts with acks as requests (type 7), never here with an id. */
  if (id && id->type != MSGPACK_OBJECT_NIL) return;
  remote_emit_t e;
  if (remote_emit_read(&e, pkt, opts)) return;
  const msgpack_object *vol = opts_flag(opts, "volatile");
  int is_volatile = vol && vol->type == MSGPACK_OBJECT_BOOLEAN && vol->via.boolean;
  const msgpack_object *cmp = opts_flag(opts, "compress");
  int no_compress = cmp && cmp->type == MSGPACK_OBJECT_BOOLEAN && !cmp->via.boolean;
  sio_target_t to = sio__cc_local_target(&e.rooms, &e.except,
                                 (is_volatile ? SIO_EMIT_VOLATILE : 0) |
                                     (no_compress ? SIO_EMIT_NO_COMPRESS : 0));
  sio_args_t args = {e.args, e.bins.v, e.bins.n};
  sio_nsp_emit(nsp, &to, e.event->valuestring, &args);
  remote_emit_clear(&e);
}

/* ---------------------------------------------------------------------------------------------- */
/* Requests from other nodes                                                                        */

/* The requester's uid, for the transport (NULL: not given). */
static const char *requester(const cJSON *req) {
  const cJSON *uid = cJSON_GetObjectItemCaseSensitive(req, "uid");
  return cJSON_IsString(uid) ? uid->valuestring : NULL;
}

/* ---- another node's broadcast with acks (type 7): each answer relayed as it comes ---- */

typedef struct {
  sio_cluster_t *c;
  char request_id[PEER_ID_MAX + 1];
  char *uid; /* the requester's, or NULL */
} relay_t;

static void relay_answer(void *arg, const cJSON *answer, const sio_buf_t *bufs, size_t nbufs) {
  relay_t *rl = arg;
  sio_mpbuf_t pb;
  msgpack_packer pk;
  sio__mpbuf_init(&pb, &pk);
  /* {type: 9, requestId, packet: the first ack argument}: msgpack, binary inline. */
  msgpack_pack_map(&pk, 3);
  sio__mp_pack_key(&pk, "type");
  msgpack_pack_int64(&pk, SIO_REQ_BROADCAST_ACK);
  sio__mp_pack_key(&pk, "requestId");
  sio__mp_pack_key(&pk, rl->request_id);
  sio__mp_pack_key(&pk, "packet");
  if (answer) sio__mp_pack_json(&pk, answer, bufs, nbufs);
  else msgpack_pack_nil(&pk);
  /* Nothing to tell when it fails: the requester's timeout will. */
  if (!pb.failed) rl->c->tp->publish_response(rl->c->t, rl->uid, pb.sb.data, pb.sb.size);
  msgpack_sbuffer_destroy(&pb.sb);
}

static void relay_end(void *arg) {
  relay_t *rl = arg;
  free(rl->uid);
  free(rl);
}

/* A relay for the request rid of the node uid (NULL: not given); NULL on ENOMEM. */
static relay_t *relay_new(sio_cluster_t *c, const msgpack_object *rid, const msgpack_object *uid) {
  relay_t *rl = calloc(1, sizeof *rl);
  if (!rl) return NULL;
  rl->c = c;
  memcpy(rl->request_id, rid->via.str.ptr, rid->via.str.size);
  if (uid && uid->type == MSGPACK_OBJECT_STR &&
      !(rl->uid = strndup(uid->via.str.ptr, uid->via.str.size))) {
    free(rl);
    return NULL;
  }
  return rl;
}

static void serve_broadcast_ack(sio_cluster_t *c, const msgpack_object *m) {
  const msgpack_object *uid = sio__mp_get(m, "uid"), *rid = sio__mp_get(m, "requestId");
  const msgpack_object *pkt = sio__mp_get(m, "packet"), *opts = sio__mp_get(m, "opts");
  if (sio__mp_str_eq(uid, c->uid) || !rid || rid->type != MSGPACK_OBJECT_STR ||
      rid->via.str.size > PEER_ID_MAX || !pkt)
    return;
  remote_emit_t e;
  if (remote_emit_read(&e, pkt, opts)) return;
  relay_t *rl = relay_new(c, rid, uid);
  if (!rl) { /* no answer: the requester's timeout tells it */
    remote_emit_clear(&e);
    return;
  }
  /* The requester forgets the broadcast after its timeout: so does this node. */
  const msgpack_object *tmo = opts_flag(opts, "timeout");
  uint32_t timeout_ms = tmo && tmo->type == MSGPACK_OBJECT_POSITIVE_INTEGER && tmo->via.u64 > 0 &&
                                tmo->via.u64 < UINT32_MAX
                            ? (uint32_t)tmo->via.u64
                            : c->cc.reqs.timeout_ms;
  sio_target_t to = sio__cc_local_target(&e.rooms, &e.except, 0);
  sio_args_t args = {e.args, e.bins.v, e.bins.n};
  size_t count = 0;
  /* rl stays ours when this fails, and stays valid until the loop runs when it does not. */
  int err = sio__nsp_emit_ack_relay(c->cc.base.nsp, &to, e.event->valuestring, &args, timeout_ms,
                                    relay_answer, relay_end, rl, &count);
  /* {"type":8,"requestId","clientCount"}: JSON, before any answer can come (those arrive from
   * the loop later). All of it or nothing: without its count the requester would take this node
   * for one without recipients. */
  cJSON *res = cJSON_CreateObject();
  if (res && cJSON_AddNumberToObject(res, "type", SIO_REQ_BROADCAST_CLIENT_COUNT) &&
      cJSON_AddStringToObject(res, "requestId", rl->request_id) &&
      cJSON_AddNumberToObject(res, "clientCount", err ? 0 : (double)count))
    publish_json_response(c, rl->uid, res);
  cJSON_Delete(res);
  if (err) relay_end(rl);
  remote_emit_clear(&e);
}

/* {"requestId", key: items}: the answer to a request. Takes items; with key, items NULL (they could
 * not all be made) answers nothing: the requester's timeout says so, where a part would pass for
 * the whole. */
static void answer(sio_cluster_t *c, const cJSON *req, const char *key, cJSON *items) {
  const cJSON *rid = cJSON_GetObjectItemCaseSensitive(req, "requestId");
  cJSON *res = cJSON_IsString(rid) && (items || !key) ? cJSON_CreateObject() : NULL;
  int ok = res && cJSON_AddStringToObject(res, "requestId", rid->valuestring);
  if (ok && key) {
    ok = sio__cc_add_item(res, key, items) == 0;
    items = NULL; /* taken either way */
  }
  cJSON_Delete(items);
  if (ok) publish_json_response(c, requester(req), res);
  cJSON_Delete(res);
}

/* This node's rooms as an array, failed once a name could not be added. */
typedef struct {
  cJSON *arr;
  int failed;
} names_t;

static void add_room_name(const char *room, void *arg) {
  names_t *n = arg;
  cJSON *s = n->failed ? NULL : cJSON_CreateString(room);
  if (!cJSON_AddItemToArray(n->arr, s)) {
    cJSON_Delete(s);
    n->failed = 1;
  }
}

static cJSON *socket_id_json(sio_socket_t *s) { return cJSON_CreateString(sio_socket_id(s)); }

/* Another node's serverSideEmit: to the namespace's on_server_event. */
static void serve_server_event(sio_cluster_t *c, const cJSON *req) {
  const cJSON *data = cJSON_GetObjectItemCaseSensitive(req, "data");
  const cJSON *rid = cJSON_GetObjectItemCaseSensitive(req, "requestId");
  if (!cJSON_IsArray(data) || !cJSON_IsString(data->child)) return;
  cJSON *rest = sio__cc_args_after_event(data);
  if (!rest) return; /* no answer: the sender's timeout tells it */
  sio_args_t args = {rest, NULL, 0};
  const char *reply_id = cJSON_IsString(rid) ? rid->valuestring : NULL;
  /* Nobody listens, but the sender counts answers: answer with nothing, as an unanswered Node
   * listener would not, so that it does not wait for its timeout. */
  if (!sio__nsp_server_event(c->cc.base.nsp, data->child->valuestring, &args, reply_id) && reply_id)
    cl_server_side_reply(&c->cc.base, reply_id, NULL);
  cJSON_Delete(rest);
}

/* Node's remote join / leave / disconnect: for the sockets opts targets, or one socket by id. */
static void serve_selection(sio_cluster_t *c, const cJSON *j, int type, const sio_target_t *to) {
  sio_nsp_t *nsp = c->cc.base.nsp;
  const cJSON *opts = cJSON_GetObjectItemCaseSensitive(j, "opts");
  const cJSON *sid = cJSON_GetObjectItemCaseSensitive(j, "sid");
  int close = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(j, "close"));
  if (!opts && cJSON_IsString(sid)) {
    /* The one-socket form ({"sid","room"|"close","requestId"}), answered when the socket is here. */
    sio_socket_t *s = sio_nsp_socket(nsp, sid->valuestring);
    const cJSON *room = cJSON_GetObjectItemCaseSensitive(j, "room");
    if (!s) return;
    if (type == SIO_REQ_REMOTE_DISCONNECT) sio_socket_disconnect(s, close);
    else if (cJSON_IsString(room) && type == SIO_REQ_REMOTE_JOIN) sio_socket_join(s, room->valuestring);
    else if (cJSON_IsString(room)) sio_socket_leave(s, room->valuestring);
    answer(c, j, NULL, NULL);
    return;
  }
  if (type == SIO_REQ_REMOTE_DISCONNECT) {
    sio_nsp_disconnect(nsp, to, close);
    return;
  }
  const cJSON *rs = cJSON_GetObjectItemCaseSensitive(j, "rooms");
  for (const cJSON *r = cJSON_IsArray(rs) ? rs->child : NULL; r; r = r->next)
    if (cJSON_IsString(r))
      (type == SIO_REQ_REMOTE_JOIN ? sio_nsp_join : sio_nsp_leave)(nsp, to, r->valuestring);
}

static void on_json_request(sio_cluster_t *c, cJSON *j) {
  const cJSON *uid = cJSON_GetObjectItemCaseSensitive(j, "uid");
  const cJSON *type = cJSON_GetObjectItemCaseSensitive(j, "type");
  /* Our own request, heard back: the requester does not answer itself. */
  if ((cJSON_IsString(uid) && strcmp(uid->valuestring, c->uid) == 0) || !cJSON_IsNumber(type)) return;
  SIO_DEBUG(c->cc.reqs.server, SIO_DEBUG_ADAPTER, "nsp %s: request (type %d) from node %.32s",
            sio_nsp_name(c->cc.base.nsp), type->valueint, cJSON_IsString(uid) ? uid->valuestring : "?");
  const cJSON *opts = cJSON_GetObjectItemCaseSensitive(j, "opts");
  sio_strs_t rooms = {0}, except = {0};
  if (sio__strs_from_json(cJSON_GetObjectItemCaseSensitive(opts, "rooms"), &rooms) ||
      sio__strs_from_json(cJSON_GetObjectItemCaseSensitive(opts ? opts : j, "except"), &except))
    goto done;
  if (type->valueint == SIO_REQ_SOCKETS) { /* {"rooms": [...]} at the top, no opts */
    sio__strs_free(&rooms);
    if (sio__strs_from_json(cJSON_GetObjectItemCaseSensitive(j, "rooms"), &rooms)) goto done;
  }
  sio_target_t to = sio__cc_local_target(&rooms, &except, 0);
  switch (type->valueint) {
  case SIO_REQ_SOCKETS:
    answer(c, j, "sockets", sio__cc_local_sockets(c->cc.local, &to, socket_id_json));
    break;
  case SIO_REQ_ALL_ROOMS: {
    names_t names = {cJSON_CreateArray(), 0};
    if (names.arr) c->cc.local->vt->rooms(c->cc.local, add_room_name, &names);
    if (names.failed) {
      cJSON_Delete(names.arr);
      names.arr = NULL;
    }
    answer(c, j, "rooms", names.arr);
    break;
  }
  case SIO_REQ_REMOTE_FETCH:
    answer(c, j, "sockets", sio__cc_local_sockets(c->cc.local, &to, sio__socket_describe));
    break;
  case SIO_REQ_REMOTE_JOIN:
  case SIO_REQ_REMOTE_LEAVE:
  case SIO_REQ_REMOTE_DISCONNECT:
    serve_selection(c, j, type->valueint, &to);
    break;
  case SIO_REQ_SERVER_SIDE_EMIT:
    serve_server_event(c, j);
    break;
  default:
    log_ignored(c, "a request of an unknown type");
  }
done:
  sio__strs_free(&rooms);
  sio__strs_free(&except);
}

/* A msgpack request: a broadcast with acks. */
static void on_msgpack_request(sio_cluster_t *c, const msgpack_object *m) {
  const msgpack_object *type = sio__mp_get(m, "type");
  if (type && type->type == MSGPACK_OBJECT_POSITIVE_INTEGER && type->via.u64 == SIO_REQ_BROADCAST)
    serve_broadcast_ack(c, m);
}

/* ---------------------------------------------------------------------------------------------- */
/* Answers to our requests                                                                          */

static void on_json_response(sio_cluster_t *c, cJSON *j) {
  const cJSON *rid = cJSON_GetObjectItemCaseSensitive(j, "requestId");
  const cJSON *type = cJSON_GetObjectItemCaseSensitive(j, "type");
  if (!cJSON_IsString(rid)) return;
  if (cJSON_IsNumber(type) && type->valueint == SIO_REQ_BROADCAST_CLIENT_COUNT) {
    sio__cc_client_count(&c->cc.reqs, rid->valuestring, cJSON_GetObjectItemCaseSensitive(j, "clientCount"));
    return;
  }
  sio_cc_request_t *q = sio__cc_request_find(&c->cc.reqs, rid->valuestring);
  if (!q || !q->published) return;
  const cJSON *part;
  switch (q->type) {
  case SIO_REQ_REMOTE_FETCH:
    part = cJSON_GetObjectItemCaseSensitive(j, "sockets");
    if (!cJSON_IsArray(part)) return;
    break;
  case SIO_REQ_ALL_ROOMS:
    part = cJSON_GetObjectItemCaseSensitive(j, "rooms");
    if (!cJSON_IsArray(part)) return;
    break;
  default: /* SIO_REQ_SERVER_SIDE_EMIT */
    if (!cJSON_IsNumber(type) || type->valueint != SIO_REQ_SERVER_SIDE_EMIT) return;
    part = cJSON_GetObjectItemCaseSensitive(j, "data");
    break;
  }
  sio__cc_request_answered(q, part);
}

/* A msgpack answer: {type: 9, requestId, packet}, a socket's answer to our broadcast with acks. */
static void on_msgpack_response(sio_cluster_t *c, const msgpack_object *m) {
  const msgpack_object *type = sio__mp_get(m, "type"), *rid = sio__mp_get(m, "requestId");
  const msgpack_object *pkt = sio__mp_get(m, "packet");
  char id[PEER_ID_MAX + 1] = {0};
  if (!type || type->type != MSGPACK_OBJECT_POSITIVE_INTEGER || type->via.u64 != SIO_REQ_BROADCAST_ACK ||
      !rid || rid->type != MSGPACK_OBJECT_STR || rid->via.str.size >= sizeof id)
    return;
  memcpy(id, rid->via.str.ptr, rid->via.str.size);
  sio_cc_ack_t *k = sio__cc_ack_find(&c->cc.reqs, id);
  if (!k) return;
  sio_mp_bins_t bins = {0};
  cJSON *answer = pkt ? sio__mp_to_json(pkt, &bins) : NULL;
  sio__bcast_answer(k->b, answer, bins.v, bins.n);
  cJSON_Delete(answer);
  free(bins.v);
}

/* ---------------------------------------------------------------------------------------------- */
/* What the transport delivers                                                                      */

/* Calls fn with the msgpack value data holds, when it holds one that unpacking can afford. */
static void read_msgpack(sio_cluster_t *c, const char *data, size_t len,
                         void (*fn)(sio_cluster_t *, const msgpack_object *)) {
  msgpack_unpacked u;
  msgpack_unpacked_init(&u);
  size_t off = 0;
  if (sio__mp_plausible((const unsigned char *)data, len) &&
      msgpack_unpack_next(&u, data, len, &off) == MSGPACK_UNPACK_SUCCESS)
    fn(c, &u.data);
  msgpack_unpacked_destroy(&u);
}

/* Requests and responses are JSON text, or msgpack for broadcasts with acks: told apart by the
 * first byte, as Node does. */
static void dispatch(sio_cluster_t *c, const char *data, size_t len,
                     void (*on_json)(sio_cluster_t *, cJSON *),
                     void (*on_msgpack)(sio_cluster_t *, const msgpack_object *)) {
  if (len == 0 || data[0] != '{') {
    read_msgpack(c, data, len, on_msgpack);
    return;
  }
  cJSON *j;
  if (sio_json_parse(data, len, &j) == 0) on_json(c, j);
  cJSON_Delete(j);
}

void sio__cluster_on_message(sio_cluster_t *c, int chan, const char *room, const char *data,
                             size_t len) {
  if (chan == SIO_CHAN_REQUEST) dispatch(c, data, len, on_json_request, on_msgpack_request);
  else if (chan == SIO_CHAN_RESPONSE) dispatch(c, data, len, on_json_response, on_msgpack_response);
  /* KEY#NSP#ROOM#: only a node that has ROOM delivers it. */
  else if (chan != SIO_CHAN_ROOM || sio__memory_adapter_has_room(c->cc.local, room))
    read_msgpack(c, data, len, on_broadcast);
}

void sio__cluster_on_server_count(sio_cluster_t *c, const char *request_id, long long n) {
  if (n > 0) c->server_count = n > INT32_MAX ? INT32_MAX : (int)n;
  sio__cc_server_count(&c->cc.reqs, request_id, n);
}

void sio__cluster_on_down(sio_cluster_t *c, int status) {
  sio__cc_requests_down(&c->cc.reqs, status);
}

#endif /* SIO_HAVE_REDIS */
