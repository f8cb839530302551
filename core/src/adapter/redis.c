/* The Redis cluster adapter, wire-compatible with Node's @socket.io/redis-adapter 8.3 (classic
 * pub/sub; the wire format is described in the project's shared notes, redis-adapter-wire.md).
 *
 * One sio_cluster_t per io owns two hiredis connections on the server's loop (a connection in
 * subscribe mode can only subscribe, so publishing needs the other). Each namespace gets an adapter
 * of its own with a random 6-character uid (Node makes one adapter instance per namespace), which
 * wraps the namespace's memory adapter: local rooms, selections and delivery stay there, and the
 * wrapper only adds what crosses nodes:
 *   KEY#NSP#        / KEY#NSP#ROOM#   msgpack [uid, packet, opts]   broadcasts (PSUBSCRIBE KEY#NSP#*)
 *   KEY-request#NSP#                  JSON (or msgpack)             requests (SUBSCRIBE)
 *   KEY-response#NSP# (+ UID#)        JSON (or msgpack)             responses (SUBSCRIBE)
 * Subscription callbacks carry the cluster, never an adapter, and find the adapter by channel: a
 * message arriving while a namespace is being freed then finds nothing instead of freed memory. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json_parse.h"
#include "opts.h"
#include "adapter/adapter.h"
#include "engine/engine.h"
#include "socketio/socketio.h"

uint32_t sio__cluster_timeout(const sio_cluster_t *cl);

void sio_redis_options_init(sio_redis_options_t *opts) {
  memset(opts, 0, sizeof *opts);
  opts->size = sizeof *opts;
  opts->key = "socket.io";
  opts->requests_timeout_ms = 5000;
}

#ifndef SIO_HAVE_REDIS

int sio_io_use_redis(sio_io_t *io, const sio_redis_options_t *opts) {
  (void)io;
  (void)opts;
  return UV_ENOSYS;
}
sio_adapter_t *sio__redis_adapter_wrap(sio_cluster_t *cl, sio_adapter_t *inner) {
  (void)cl;
  return inner;
}
sio_adapter_t *sio__cluster_inner(sio_adapter_t *a) { return a; }
void sio__cluster_inject(sio_nsp_t *nsp, int chan, const char *room, const char *data, size_t len) {
  (void)nsp, (void)chan, (void)room, (void)data, (void)len;
}
void sio__cluster_close(sio_cluster_t *cl) { (void)cl; }
void sio__cluster_free(sio_cluster_t *cl) { (void)cl; }
uint32_t sio__cluster_timeout(const sio_cluster_t *cl) {
  (void)cl;
  return 0;
}

#else

#include <math.h>
#include <time.h>

#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <openssl/rand.h>

#include "adapter/msgpack_json.h"
#include "adapter/redis_uv.h"

/* Request types of the Node adapter (its RequestType enum). */
enum {
  REQ_SOCKETS = 0,
  REQ_ALL_ROOMS = 1,
  REQ_REMOTE_JOIN = 2,
  REQ_REMOTE_LEAVE = 3,
  REQ_REMOTE_DISCONNECT = 4,
  REQ_REMOTE_FETCH = 5,
  REQ_SERVER_SIDE_EMIT = 6,
  REQ_BROADCAST = 7,
  REQ_BROADCAST_CLIENT_COUNT = 8,
  REQ_BROADCAST_ACK = 9
};

typedef struct redis_adapter redis_adapter_t;

/* The lifecycle of one of the two connections. Down, its timer waits out the backoff before the
 * next attempt; connecting, the same timer bounds the attempt (hiredis 0.14 has no async connect
 * timeout, and a host that drops SYNs would hold the link for minutes). */
typedef struct resolve resolve_t;

typedef struct redis_link {
  sio_cluster_t *cl;
  uv_timer_t *timer;  /* heap: its close completes after the cluster may be gone */
  resolve_t *resolving; /* the host name being resolved for the next attempt, or NULL */
  uint32_t delay_ms;  /* the next backoff */
  uint64_t down_at;   /* loop time the outage was logged */
  uint8_t down;       /* an outage was logged: its end will be, and nothing in between */
  uint8_t is_sub;
} redis_link_t;

enum { LINK_PUB, LINK_SUB };

struct sio_cluster {
  sio_io_t *io;
  uv_loop_t *loop;
  char *host, *user, *password, *key;
  int port;
  uint32_t timeout_ms;
  redisAsyncContext *pub, *sub; /* NULL while down */
  uint8_t pub_up, sub_up;       /* connected */
  uint8_t closing;
  redis_link_t link[2];         /* LINK_PUB, LINK_SUB */
  uint8_t logged_type;          /* the "ignored" notice, once */
  int server_count;             /* the last PUBSUB NUMSUB answer */
  redis_adapter_t *adapters;
};

struct redis_adapter {
  sio_adapter_t base;
  sio_adapter_t *inner; /* the memory adapter: local rooms and delivery */
  sio_cluster_t *cl;
  redis_adapter_t *next;
  char uid[7];
  char *bcast_prefix; /* KEY#NSP# */
  char *bcast_pattern; /* KEY#NSP#* */
  char *req_chan;     /* KEY-request#NSP# */
  char *res_chan;     /* KEY-response#NSP# */
  char *res_uid_chan; /* KEY-response#NSP#UID# */
};

static void log_msg(const char *what, const char *detail) {
  fprintf(stderr, "sio: redis: %s%s%s\n", what, detail ? ": " : "", detail ? detail : "");
}

/* n random alphanumerics (Node's adapter uses uid2, base 62). */
static void random_id(char *out, size_t n) {
  static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
  unsigned char r[16];
  if (n > sizeof r || RAND_bytes(r, (int)n) != 1) abort(); /* no CSPRNG: no ids */
  for (size_t i = 0; i < n; i++) out[i] = alphabet[r[i] % 62];
  out[n] = '\0';
}

static char *concat(const char *a, const char *b, const char *c, const char *d) {
  size_t la = strlen(a), lb = strlen(b), lc = strlen(c), ld = strlen(d);
  char *s = malloc(la + lb + lc + ld + 1);
  if (!s) return NULL;
  memcpy(s, a, la);
  memcpy(s + la, b, lb);
  memcpy(s + la + lb, c, lc);
  memcpy(s + la + lb + lc, d, ld + 1);
  return s;
}

uint32_t sio__cluster_timeout(const sio_cluster_t *cl) { return cl ? cl->timeout_ms : 0; }

/* Requests go out on one connection and their answers come in on the other: both must be up. */
static int cluster_up(const sio_cluster_t *cl) {
  return !cl->closing && cl->pub && cl->pub_up && cl->sub && cl->sub_up;
}

/* Why a cluster request could not be (or stopped being) answered. */
static int cluster_down_status(const sio_cluster_t *cl) {
  return cl->closing ? SIO_ECLOSED : SIO_EUNAVAIL;
}

/* ---------------------------------------------------------------------------------------------- */
/* JSON messages: each part is there, or the message is not made                                   */

/* Adds item to obj as key, taking it: 0, or -1 (item freed) when item is NULL or the key could not
 * be copied. */
static int add_item(cJSON *obj, const char *key, cJSON *item) {
  if (item && cJSON_AddItemToObject(obj, key, item)) return 0;
  cJSON_Delete(item);
  return -1;
}

/* The array of v[0..n), or NULL: a shorter room list would name other sockets, and an empty one
 * names them all. */
static cJSON *string_array(const char *const *v, size_t n) {
  cJSON *a = cJSON_CreateArray();
  for (size_t i = 0; a && i < n; i++) {
    cJSON *e = cJSON_CreateString(v[i]);
    if (!cJSON_AddItemToArray(a, e)) { /* false for e == NULL too */
      cJSON_Delete(e);
      cJSON_Delete(a);
      a = NULL;
    }
  }
  return a;
}

/* ---------------------------------------------------------------------------------------------- */
/* Room lists from the wire                                                                        */

/* A msgpack array of strings as a NULL-free C array of malloc'd strings. */
typedef struct {
  char **v;
  size_t n;
} strs_t;

static void strs_free(strs_t *s) {
  for (size_t i = 0; i < s->n; i++) free(s->v[i]);
  free(s->v);
  s->v = NULL;
  s->n = 0;
}

static int strs_from_msgpack(const msgpack_object *o, strs_t *out) {
  memset(out, 0, sizeof *out);
  if (!o || o->type != MSGPACK_OBJECT_ARRAY) return 0;
  out->v = calloc(o->via.array.size ? o->via.array.size : 1, sizeof *out->v);
  if (!out->v) return SIO_ENOMEM;
  for (uint32_t i = 0; i < o->via.array.size; i++) {
    const msgpack_object *e = &o->via.array.ptr[i];
    if (e->type != MSGPACK_OBJECT_STR) continue;
    char *s = malloc(e->via.str.size + 1);
    if (!s) {
      strs_free(out);
      return SIO_ENOMEM;
    }
    memcpy(s, e->via.str.ptr, e->via.str.size);
    s[e->via.str.size] = '\0';
    out->v[out->n++] = s;
  }
  return 0;
}

static int strs_from_json(const cJSON *a, strs_t *out) {
  memset(out, 0, sizeof *out);
  if (!cJSON_IsArray(a)) return 0;
  int n = cJSON_GetArraySize(a);
  out->v = calloc(n > 0 ? (size_t)n : 1, sizeof *out->v);
  if (!out->v) return SIO_ENOMEM;
  for (const cJSON *c = a->child; c; c = c->next) {
    if (!cJSON_IsString(c)) continue;
    if (!(out->v[out->n] = strdup(c->valuestring))) {
      strs_free(out);
      return SIO_ENOMEM;
    }
    out->n++;
  }
  return 0;
}

/* ---------------------------------------------------------------------------------------------- */
/* Publishing                                                                                      */

static int pub_ok(const sio_cluster_t *cl) { return !cl->closing && cl->pub && cl->pub_up; }

/* PUBLISH chan data: 0, the cluster's down status (Redis is away: local delivery went on) or
 * SIO_ENOMEM (hiredis could not format the command). */
static int publish(sio_cluster_t *cl, const char *chan, const char *data, size_t len) {
  if (!pub_ok(cl)) return cluster_down_status(cl);
  if (redisAsyncCommand(cl->pub, NULL, NULL, "PUBLISH %b %b", chan, strlen(chan), data, len) != REDIS_OK)
    return SIO_ENOMEM;
  return 0;
}

/* j as JSON text (NULL: a part of it could not be made), as publish(). */
static int publish_json(sio_cluster_t *cl, const char *chan, const cJSON *j) {
  char *s = j ? cJSON_PrintUnformatted(j) : NULL;
  if (!s) return SIO_ENOMEM;
  int r = publish(cl, chan, s, strlen(s));
  cJSON_free(s);
  return r;
}

/* A packed message, as publish(); nothing when a part of it could not be packed. Frees b. */
static int publish_packed(sio_cluster_t *cl, const char *chan, sio_mpbuf_t *b) {
  int r = b->failed ? SIO_ENOMEM : publish(cl, chan, b->sb.data, b->sb.size);
  msgpack_sbuffer_destroy(&b->sb);
  return r;
}

/* ---------------------------------------------------------------------------------------------- */
/* The adapter                                                                                     */

static int ra_add(sio_adapter_t *a, sio_socket_t *s, const char *room) {
  sio_adapter_t *in = ((redis_adapter_t *)a)->inner;
  return in->vt->add(in, s, room);
}
static int ra_del(sio_adapter_t *a, sio_socket_t *s, const char *room) {
  sio_adapter_t *in = ((redis_adapter_t *)a)->inner;
  return in->vt->del(in, s, room);
}
static void ra_del_all(sio_adapter_t *a, sio_socket_t *s) {
  sio_adapter_t *in = ((redis_adapter_t *)a)->inner;
  in->vt->del_all(in, s);
}
static int ra_select(sio_adapter_t *a, const sio_target_t *to, sio_socket_t ***out) {
  sio_adapter_t *in = ((redis_adapter_t *)a)->inner;
  return in->vt->select(in, to, out);
}

/* An encoded packet's attachments as buffers (pointing into the messages). */
static sio_buf_t *enc_bufs(const sio_encoded_t *enc) {
  sio_buf_t *v = malloc((enc->natts ? enc->natts : 1) * sizeof *v);
  for (size_t i = 0; v && i < enc->natts; i++) v[i].data = sio__msg_data(enc->atts[i], &v[i].len);
  return v;
}

/* {type, data, nsp}, the packet as Node's adapter publishes it: type 2 even with binary (Node's
 * parser splits attachments later), no id. */
static void pack_packet(msgpack_packer *pk, const sio_packet_t *pkt, const sio_encoded_t *enc,
                        const char *nsp) {
  sio_buf_t *bufs = enc->natts ? enc_bufs(enc) : NULL;
  if (enc->natts && !bufs) sio__mpbuf_fail(pk); /* the placeholders would go out as objects */
  msgpack_pack_map(pk, 3);
  sio__mp_pack_key(pk, "type");
  msgpack_pack_int64(pk, SIO_PACKET_EVENT);
  sio__mp_pack_key(pk, "data");
  sio__mp_pack_json(pk, pkt->data, bufs, bufs ? enc->natts : 0);
  sio__mp_pack_key(pk, "nsp");
  sio__mp_pack_str(pk, nsp);
  free(bufs);
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
  int n = ((flags & SIO_EMIT_VOLATILE) != 0) + ((flags & SIO_EMIT_COMPRESS) != 0) + (timeout_ms != 0);
  msgpack_pack_map(pk, (size_t)n);
  if (flags & SIO_EMIT_VOLATILE) {
    sio__mp_pack_key(pk, "volatile");
    msgpack_pack_true(pk);
  }
  if (flags & SIO_EMIT_COMPRESS) {
    sio__mp_pack_key(pk, "compress");
    msgpack_pack_true(pk);
  }
  if (timeout_ms) {
    sio__mp_pack_key(pk, "timeout");
    msgpack_pack_uint32(pk, timeout_ms);
  }
}

static int ra_broadcast(sio_adapter_t *a, const sio_target_t *to, const sio_packet_t *pkt,
                        const sio_encoded_t *enc) {
  redis_adapter_t *ra = (redis_adapter_t *)a;
  int r = ra->inner->vt->broadcast(ra->inner, to, pkt, enc);
  if ((to && (to->flags & SIO_EMIT_LOCAL)) || !pub_ok(ra->cl)) return r;
  sio_mpbuf_t b;
  msgpack_packer pk;
  sio__mpbuf_init(&b, &pk);
  /* [uid, {type, data, nsp}, {rooms, except, flags}]: the key order Node writes. */
  msgpack_pack_array(&pk, 3);
  sio__mp_pack_key(&pk, ra->uid);
  pack_packet(&pk, pkt, enc, a->nsp->name);
  pack_opts(&pk, to, 0);
  /* Exactly one room: its own channel, so that nodes without the room can skip it (without memory
   * for the name, the namespace's: the room in opts still decides who gets it). */
  char *chan = to && to->nrooms == 1 ? concat(ra->bcast_prefix, to->rooms[0], "#", "") : NULL;
  int e = publish_packed(ra->cl, chan ? chan : ra->bcast_prefix, &b);
  free(chan);
  /* Delivered here whatever becomes of the other nodes' part, as with Redis away; but a message
   * that could not be made is the caller's to know. */
  return r ? r : e == SIO_ENOMEM ? e : 0;
}

static int ra_server_count(sio_adapter_t *a) {
  int n = ((redis_adapter_t *)a)->cl->server_count;
  return n > 0 ? n : 1;
}

/* The adapter's channel names and the adapter itself (what creation allocates). */
static void free_names(redis_adapter_t *ra) {
  free(ra->bcast_prefix);
  free(ra->bcast_pattern);
  free(ra->req_chan);
  free(ra->res_chan);
  free(ra->res_uid_chan);
  free(ra);
}

static void ra_free(sio_adapter_t *a) {
  redis_adapter_t *ra = (redis_adapter_t *)a;
  for (redis_adapter_t **p = &ra->cl->adapters; *p; p = &(*p)->next)
    if (*p == ra) {
      *p = ra->next;
      break;
    }
  ra->inner->vt->free(ra->inner);
  free_names(ra);
}

/* ---- requests to the other nodes ---- */

/* What a PUBSUB NUMSUB reply is for: a request (its JSON is published once NUMSUB says how many
 * answer) or a broadcast with acks (found again by its id: it may have ended meanwhile). */
typedef struct {
  sio_count_req_t *req;
  redis_adapter_t *ra; /* checked against the cluster's list before use */
  char *request;
  char bcast_id[8];
} numsub_ctx_t;

static int adapter_alive(sio_cluster_t *cl, redis_adapter_t *ra) {
  for (redis_adapter_t *x = cl->adapters; x; x = x->next)
    if (x == ra) return 1;
  return 0;
}

static sio_bcast_ack_t *find_bcast(redis_adapter_t *ra, const char *id) {
  for (sio_bcast_ack_t *b = ra->base.nsp->io->bcasts; b; b = b->next)
    if (b->nsp == ra->base.nsp && b->request_id[0] && strcmp(b->request_id, id) == 0) return b;
  return NULL;
}

/* The number of nodes subscribed to the request channel, this one included; -1 on error. */
static long long numsub_count(const redisReply *rp) {
  if (!rp || rp->type != REDIS_REPLY_ARRAY || rp->elements < 2 || rp->element[1]->type != REDIS_REPLY_INTEGER)
    return -1;
  return rp->element[1]->integer;
}

static void on_numsub(redisAsyncContext *ac, void *reply, void *privdata) {
  numsub_ctx_t *c = privdata;
  sio_cluster_t *cl = ac->data;
  long long n = numsub_count(reply);
  int alive = !cl->closing && adapter_alive(cl, c->ra);
  if (n > 0 && alive) cl->server_count = (int)n;
  if (c->req) {
    sio_count_req_t *req = c->req;
    if (!req->done) {
      if (n < 0 || !alive) {
        sio__count_finish(req, cluster_down_status(cl));
      } else if (n <= 1) {
        sio__count_finish(req, 0); /* nobody else listens */
      } else {
        req->expected = (size_t)(n - 1);
        req->waiting = 1;
        int e = publish(cl, c->ra->req_chan, c->request, strlen(c->request));
        if (e) sio__count_finish(req, e);
      }
    }
    sio__count_unref(req);
  } else if (alive) {
    sio_bcast_ack_t *b = find_bcast(c->ra, c->bcast_id);
    if (b) {
      /* Without an answer the other nodes are not counted: the broadcast ends at its timeout. */
      b->nodes_known = n > 0;
      b->nodes_expected = n > 1 ? (size_t)(n - 1) : 0;
      if (b->nodes_known) sio__bcast_check(b);
    }
  }
  cJSON_free(c->request); /* cJSON's text, or NULL */
  free(c);
}

/* PUBSUB NUMSUB on the request channel, then on_numsub with c. */
static int ask_numsub(redis_adapter_t *ra, numsub_ctx_t *c) {
  c->ra = ra;
  if (redisAsyncCommand(ra->cl->pub, on_numsub, c, "PUBSUB NUMSUB %s", ra->req_chan) != REDIS_OK)
    return SIO_ECLOSED;
  return 0;
}

/* {"rooms", "except"} of a target (NULL: the whole namespace), or NULL. */
static cJSON *target_opts(const sio_target_t *to) {
  cJSON *o = cJSON_CreateObject();
  if (!o || add_item(o, "rooms", string_array(to ? to->rooms : NULL, to ? to->nrooms : 0)) ||
      add_item(o, "except", string_array(to ? to->except : NULL, to ? to->nexcept : 0))) {
    cJSON_Delete(o);
    return NULL;
  }
  return o;
}

/* {"uid", ["requestId",] "type"}: how every JSON request of Node's adapter begins; or NULL. Without
 * its uid a request would be served by its own sender too, without its type by nobody. */
static cJSON *request_json(redis_adapter_t *ra, const char *request_id, int type) {
  cJSON *j = cJSON_CreateObject();
  if (!j || !cJSON_AddStringToObject(j, "uid", ra->uid) ||
      (request_id && !cJSON_AddStringToObject(j, "requestId", request_id)) ||
      !cJSON_AddNumberToObject(j, "type", type)) {
    cJSON_Delete(j);
    return NULL;
  }
  return j;
}

static int ra_request(sio_adapter_t *a, const sio_target_t *to, sio_count_req_t *req,
                      const cJSON *data) {
  redis_adapter_t *ra = (redis_adapter_t *)a;
  /* Redis is away: the callback says so from the loop, with this node's part. */
  if (!cluster_up(ra->cl)) {
    req->status = cluster_down_status(ra->cl);
    return 0;
  }
  random_id(req->request_id, 6);
  /* As Node's fetchSockets, allRooms and serverSideEmit (with an ack) send them. */
  static const int types[] = {[SIO_REQ_COUNT] = REQ_REMOTE_FETCH, [SIO_REQ_ROOMS] = REQ_ALL_ROOMS,
                              [SIO_REQ_SERVER_EMIT] = REQ_SERVER_SIDE_EMIT,
                              [SIO_REQ_SOCKETS] = REQ_REMOTE_FETCH};
  int fetch = types[req->kind] == REQ_REMOTE_FETCH;
  cJSON *j = request_json(ra, req->request_id, types[req->kind]);
  if (j && ((fetch && add_item(j, "opts", target_opts(to))) ||
            (req->kind == SIO_REQ_SERVER_EMIT && add_item(j, "data", cJSON_Duplicate(data, 1))))) {
    cJSON_Delete(j);
    j = NULL;
  }
  numsub_ctx_t *c = calloc(1, sizeof *c);
  char *s = j ? cJSON_PrintUnformatted(j) : NULL;
  cJSON_Delete(j);
  if (!c || !s) {
    free(c);
    cJSON_free(s);
    return SIO_ENOMEM;
  }
  c->req = req;
  c->request = s;
  /* The answer count first, as Node does: every node subscribed to the request channel answers. */
  if (ask_numsub(ra, c)) {
    cJSON_free(s);
    free(c);
    req->status = SIO_EUNAVAIL;
    return 0;
  }
  req->refs++;
  req->remote = 1;
  return 0;
}

static int ra_server_emit(sio_adapter_t *a, const cJSON *data) {
  redis_adapter_t *ra = (redis_adapter_t *)a;
  if (!pub_ok(ra->cl)) return cluster_down_status(ra->cl);
  cJSON *j = request_json(ra, NULL, REQ_SERVER_SIDE_EMIT);
  if (j && add_item(j, "data", cJSON_Duplicate(data, 1))) {
    cJSON_Delete(j);
    j = NULL;
  }
  int r = publish_json(ra->cl, ra->req_chan, j);
  cJSON_Delete(j);
  return r;
}

static int ra_server_reply(sio_adapter_t *a, const char *reply_id, const cJSON *value) {
  redis_adapter_t *ra = (redis_adapter_t *)a;
  if (!pub_ok(ra->cl)) return cluster_down_status(ra->cl);
  /* {"type":6,"requestId","data"}, on the shared response channel as Node answers it; no value:
   * no "data" (JSON.stringify drops undefined), so a value that could not be copied must not leave
   * its answer looking like that. */
  cJSON *j = cJSON_CreateObject();
  if (j && (!cJSON_AddNumberToObject(j, "type", REQ_SERVER_SIDE_EMIT) ||
            !cJSON_AddStringToObject(j, "requestId", reply_id) ||
            (value && add_item(j, "data", cJSON_Duplicate(value, 1))))) {
    cJSON_Delete(j);
    j = NULL;
  }
  int r = publish_json(ra->cl, ra->res_chan, j);
  cJSON_Delete(j);
  return r;
}

static int ra_broadcast_ack(sio_adapter_t *a, const sio_target_t *to, const sio_packet_t *pkt,
                            const sio_encoded_t *enc, sio_bcast_ack_t *b, uint32_t timeout_ms) {
  redis_adapter_t *ra = (redis_adapter_t *)a;
  if (!cluster_up(ra->cl)) return cluster_down_status(ra->cl); /* this node's sockets only */
  numsub_ctx_t *c = calloc(1, sizeof *c);
  if (!c) return SIO_ENOMEM;
  random_id(b->request_id, 6);
  memcpy(c->bcast_id, b->request_id, sizeof c->bcast_id);
  sio_mpbuf_t pb;
  msgpack_packer pk;
  sio__mpbuf_init(&pb, &pk);
  /* {uid, requestId, type: 7, packet, opts}: msgpack, as Node's broadcastWithAck publishes it. */
  msgpack_pack_map(&pk, 5);
  sio__mp_pack_key(&pk, "uid");
  sio__mp_pack_key(&pk, ra->uid);
  sio__mp_pack_key(&pk, "requestId");
  sio__mp_pack_key(&pk, b->request_id);
  sio__mp_pack_key(&pk, "type");
  msgpack_pack_int64(&pk, REQ_BROADCAST);
  sio__mp_pack_key(&pk, "packet");
  pack_packet(&pk, pkt, enc, a->nsp->name);
  sio__mp_pack_key(&pk, "opts");
  pack_opts(&pk, to, timeout_ms);
  int r = publish_packed(ra->cl, ra->req_chan, &pb);
  if (!r && ask_numsub(ra, c)) r = SIO_ECLOSED;
  if (r) {
    free(c);
    b->request_id[0] = '\0';
  }
  return r;
}

static int ra_apply(sio_adapter_t *a, const sio_target_t *to, int op, const char *room, int close) {
  redis_adapter_t *ra = (redis_adapter_t *)a;
  if (!pub_ok(ra->cl)) return cluster_down_status(ra->cl);
  /* {"uid","type":2|3|4,"opts":{"rooms","except"},"rooms":[room]|"close":bool}, as Node's
   * socketsJoin / socketsLeave / disconnectSockets. Without its opts, a request would reach the
   * whole namespace. */
  cJSON *j = request_json(ra, NULL, op);
  if (j && (add_item(j, "opts", target_opts(to)) ||
            (op == SIO_OP_DISCONNECT ? !cJSON_AddBoolToObject(j, "close", close)
                                     : add_item(j, "rooms", string_array(&room, 1))))) {
    cJSON_Delete(j);
    j = NULL;
  }
  int r = publish_json(ra->cl, ra->req_chan, j);
  cJSON_Delete(j);
  return r;
}

sio_adapter_t *sio__cluster_inner(sio_adapter_t *a) {
  return a->vt->request ? ((redis_adapter_t *)a)->inner : a;
}

static const sio_adapter_vt_t redis_vt = {
    ra_add,     ra_del,         ra_del_all,      ra_select,        ra_broadcast, ra_server_count,
    ra_free,    ra_request,     ra_server_emit,  ra_server_reply,  ra_broadcast_ack, ra_apply};

/* ---------------------------------------------------------------------------------------------- */
/* Receiving                                                                                       */

/* The arguments after the event name of data (["event", ...args]) as an array of references, or
 * NULL: never fewer of them. */
static cJSON *args_after_event(const cJSON *data) {
  cJSON *rest = cJSON_CreateArray();
  for (cJSON *c = data->child->next; rest && c; c = c->next)
    if (!cJSON_AddItemReferenceToArray(rest, c)) {
      cJSON_Delete(rest);
      rest = NULL;
    }
  return rest;
}

/* Calls the namespace's outgoing listener for each local recipient, as Node's adapter does for a
 * remote broadcast too. */
static void notify_outgoing(redis_adapter_t *ra, const sio_target_t *to, const cJSON *data,
                            const sio_mp_bins_t *bufs) {
  sio_nsp_t *nsp = ra->base.nsp;
  sio_outgoing_cb cb = sio__nsp_effective(nsp)->cbs.on_outgoing;
  if (!cb || !data->child || !cJSON_IsString(data->child)) return;
  cJSON *rest = args_after_event(data);
  if (!rest) return;
  sio_args_t args = {rest, bufs->v, bufs->n};
  sio_socket_t **v;
  int n = ra->inner->vt->select(ra->inner, to, &v);
  for (int i = 0; i < n; i++)
    if (v[i]->state == SOCK_CONNECTED) cb(v[i], data->child->valuestring, &args);
  if (n >= 0) free(v);
  cJSON_Delete(rest);
}

static void on_broadcast(redis_adapter_t *ra, const char *chan, size_t chanlen, const char *data,
                         size_t len) {
  sio_cluster_t *cl = ra->cl;
  sio_nsp_t *nsp = ra->base.nsp;
  size_t plen = strlen(ra->bcast_prefix);
  /* KEY#NSP#ROOM#: only a node that has ROOM delivers it. */
  if (chanlen > plen) {
    if (chan[chanlen - 1] != '#') return;
    char *room = malloc(chanlen - plen);
    if (!room) return;
    memcpy(room, chan + plen, chanlen - plen - 1);
    room[chanlen - plen - 1] = '\0';
    int has = sio_memory_adapter_has_room(ra->inner, room);
    free(room);
    if (!has) return;
  }
  msgpack_unpacked u;
  msgpack_unpacked_init(&u);
  size_t off = 0;
  sio_mp_bins_t bufs = {0};
  cJSON *json = NULL;
  strs_t rooms = {0}, except = {0};
  if (!sio__mp_plausible((const unsigned char *)data, len) ||
      msgpack_unpack_next(&u, data, len, &off) != MSGPACK_UNPACK_SUCCESS)
    goto done;
  const msgpack_object *m = &u.data;
  if (m->type != MSGPACK_OBJECT_ARRAY || m->via.array.size < 2) goto done;
  if (sio__mp_str_eq(&m->via.array.ptr[0], ra->uid)) goto done; /* our own publish, heard back */
  const msgpack_object *pkt = &m->via.array.ptr[1];
  const msgpack_object *opts = m->via.array.size > 2 ? &m->via.array.ptr[2] : NULL;
  const msgpack_object *type = sio__mp_get(pkt, "type"), *pdata = sio__mp_get(pkt, "data");
  const msgpack_object *pnsp = sio__mp_get(pkt, "nsp"), *id = sio__mp_get(pkt, "id");
  if (pnsp ? !sio__mp_str_eq(pnsp, nsp->name) : strcmp(nsp->name, "/") != 0) goto done;
  if (!type || type->type != MSGPACK_OBJECT_POSITIVE_INTEGER ||
      (type->via.u64 != SIO_PACKET_EVENT && type->via.u64 != SIO_PACKET_BINARY_EVENT)) {
    if (!cl->logged_type) log_msg("ignored a broadcast that is not an event", NULL);
    cl->logged_type = 1;
    goto done;
  }
  /* Node sends broadcasts with acks as requests (type 7), never here with an id. */
  if (id && id->type != MSGPACK_OBJECT_NIL) goto done;
  if (!pdata || pdata->type != MSGPACK_OBJECT_ARRAY || pdata->via.array.size == 0 ||
      pdata->via.array.ptr[0].type != MSGPACK_OBJECT_STR)
    goto done;
  json = sio__mp_to_json(pdata, &bufs);
  if (!json) goto done;
  const msgpack_object *flags = opts ? sio__mp_get(opts, "flags") : NULL;
  if (strs_from_msgpack(opts ? sio__mp_get(opts, "rooms") : NULL, &rooms) ||
      strs_from_msgpack(opts ? sio__mp_get(opts, "except") : NULL, &except))
    goto done;
  const msgpack_object *vol = flags ? sio__mp_get(flags, "volatile") : NULL;
  sio_target_t to = {(const char *const *)rooms.v, rooms.n, (const char *const *)except.v, except.n,
                     vol && vol->type == MSGPACK_OBJECT_BOOLEAN && vol->via.boolean ? SIO_EMIT_VOLATILE : 0};
  sio_packet_t p;
  memset(&p, 0, sizeof p);
  p.nsp = nsp->name;
  p.id = -1;
  p.data = json;
  p.attachment_count = bufs.n;
  p.type = bufs.n ? SIO_PACKET_BINARY_EVENT : SIO_PACKET_EVENT;
  sio_encoded_t enc;
  sio__io_enter(nsp->io);
  if (sio__encode(&p, bufs.v, &enc) == 0) {
    notify_outgoing(ra, &to, json, &bufs);
    /* The memory adapter only: what came from another node is never published again. */
    ra->inner->vt->broadcast(ra->inner, &to, &p, &enc);
    sio__encoded_clear(&enc);
  }
  sio__io_leave(nsp->io);
done:
  strs_free(&rooms);
  strs_free(&except);
  cJSON_Delete(json);
  free(bufs.v);
  msgpack_unpacked_destroy(&u);
}

/* ---- requests from other nodes ---- */


/* ---- another node's broadcast with acks (type 7): each answer relayed as it comes ---- */

typedef struct {
  sio_cluster_t *cl;
  char *res_chan;
  char request_id[8];
} relay_t;

static void relay_answer(sio_bcast_ack_t *b, const cJSON *answer, const sio_buf_t *bufs, size_t nbufs) {
  relay_t *rl = b->arg;
  sio_mpbuf_t pb;
  msgpack_packer pk;
  sio__mpbuf_init(&pb, &pk);
  /* {type: 9, requestId, packet: the first ack argument}: msgpack, binary inline. */
  msgpack_pack_map(&pk, 3);
  sio__mp_pack_key(&pk, "type");
  msgpack_pack_int64(&pk, REQ_BROADCAST_ACK);
  sio__mp_pack_key(&pk, "requestId");
  sio__mp_pack_key(&pk, rl->request_id);
  sio__mp_pack_key(&pk, "packet");
  if (answer) sio__mp_pack_json(&pk, answer, bufs, nbufs);
  else msgpack_pack_nil(&pk);
  publish_packed(rl->cl, rl->res_chan, &pb); /* nothing to tell: the requester's timeout will */
}

static void relay_done(sio_nsp_t *nsp, int status, const sio_args_t *responses, void *arg) {
  (void)nsp, (void)status, (void)responses;
  relay_t *rl = arg;
  free(rl->res_chan);
  free(rl);
}

static void serve_broadcast_ack(redis_adapter_t *ra, const msgpack_object *m) {
  const msgpack_object *uid = sio__mp_get(m, "uid"), *rid = sio__mp_get(m, "requestId");
  const msgpack_object *pkt = sio__mp_get(m, "packet"), *opts = sio__mp_get(m, "opts");
  if (sio__mp_str_eq(uid, ra->uid) || !rid || rid->type != MSGPACK_OBJECT_STR || rid->via.str.size > 7 || !pkt)
    return;
  const msgpack_object *pdata = sio__mp_get(pkt, "data");
  if (!pdata || pdata->type != MSGPACK_OBJECT_ARRAY || pdata->via.array.size == 0 ||
      pdata->via.array.ptr[0].type != MSGPACK_OBJECT_STR)
    return;
  sio_mp_bins_t bufs = {0};
  strs_t rooms = {0}, except = {0};
  cJSON *json = sio__mp_to_json(pdata, &bufs);
  relay_t *rl = calloc(1, sizeof *rl);
  if (!json || !rl || strs_from_msgpack(opts ? sio__mp_get(opts, "rooms") : NULL, &rooms) ||
      strs_from_msgpack(opts ? sio__mp_get(opts, "except") : NULL, &except) ||
      !(rl->res_chan = strdup(ra->res_chan))) {
    if (rl) free(rl->res_chan);
    free(rl);
    goto done;
  }
  rl->cl = ra->cl;
  char reqid[8] = {0};
  memcpy(reqid, rid->via.str.ptr, rid->via.str.size);
  memcpy(rl->request_id, reqid, sizeof reqid);
  const msgpack_object *flags = opts ? sio__mp_get(opts, "flags") : NULL;
  const msgpack_object *tmo = flags ? sio__mp_get(flags, "timeout") : NULL;
  /* The requester forgets the broadcast after its timeout: so does this node. */
  uint32_t timeout_ms = tmo && tmo->type == MSGPACK_OBJECT_POSITIVE_INTEGER && tmo->via.u64 > 0 &&
                                tmo->via.u64 < UINT32_MAX
                            ? (uint32_t)tmo->via.u64
                            : ra->cl->timeout_ms;
  sio_target_t to = {(const char *const *)rooms.v, rooms.n, (const char *const *)except.v, except.n,
                     SIO_EMIT_LOCAL};
  cJSON *event = cJSON_DetachItemFromArray(json, 0);
  sio_args_t args = {json, bufs.v, bufs.n};
  size_t count = 0;
  sio_nsp_t *nsp = ra->base.nsp;
  sio__io_enter(nsp->io);
  if (sio__bcast_local(nsp, &to, event->valuestring, &args, timeout_ms, relay_answer, relay_done, rl,
                       &count) != 0) {
    relay_done(nsp, 0, NULL, rl);
    count = 0;
  }
  sio__io_leave(nsp->io);
  cJSON_Delete(event);
  /* {"type":8,"requestId","clientCount"}: JSON, before any answer can come (those arrive from
   * the loop later). All of it or nothing: without its count the requester would take this node
   * for one without recipients. */
  cJSON *res = cJSON_CreateObject();
  if (res && cJSON_AddNumberToObject(res, "type", REQ_BROADCAST_CLIENT_COUNT) &&
      cJSON_AddStringToObject(res, "requestId", reqid) &&
      cJSON_AddNumberToObject(res, "clientCount", (double)count))
    publish_json(ra->cl, ra->res_chan, res);
  cJSON_Delete(res);
done:
  strs_free(&rooms);
  strs_free(&except);
  cJSON_Delete(json);
  free(bufs.v);
}

/* {"requestId", key: items}: the answer to a request, on the shared response channel as Node
 * answers unless publishOnSpecificResponseChannel. Takes items; with key, items NULL (they could
 * not all be made) answers nothing: the requester's timeout says so, where a part would pass for
 * the whole. */
static void answer(redis_adapter_t *ra, const cJSON *req, const char *key, cJSON *items) {
  const cJSON *rid = cJSON_GetObjectItemCaseSensitive(req, "requestId");
  cJSON *res = cJSON_IsString(rid) && (items || !key) ? cJSON_CreateObject() : NULL;
  int ok = res && cJSON_AddStringToObject(res, "requestId", rid->valuestring);
  if (ok && key) {
    ok = add_item(res, key, items) == 0;
    items = NULL; /* taken either way */
  }
  cJSON_Delete(items);
  if (ok) publish_json(ra->cl, ra->res_chan, res);
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

/* The local targeted sockets, each as `one` makes it (Node's fetchSockets shape, or the id); NULL
 * unless every one could be made. */
static cJSON *local_sockets(redis_adapter_t *ra, const sio_target_t *to, cJSON *(*one)(sio_socket_t *)) {
  sio_socket_t **v;
  int n = ra->inner->vt->select(ra->inner, to, &v);
  if (n < 0) return NULL;
  cJSON *arr = cJSON_CreateArray();
  for (int i = 0; arr && i < n; i++) {
    if (v[i]->state != SOCK_CONNECTED) continue;
    cJSON *s = one(v[i]);
    if (!cJSON_AddItemToArray(arr, s)) {
      cJSON_Delete(s);
      cJSON_Delete(arr);
      arr = NULL;
    }
  }
  free(v);
  return arr;
}

static cJSON *socket_id_json(sio_socket_t *s) { return cJSON_CreateString(sio_socket_id(s)); }

/* Another node's serverSideEmit: to the namespace's on_server_event. */
static void serve_server_event(redis_adapter_t *ra, const cJSON *req) {
  const cJSON *data = cJSON_GetObjectItemCaseSensitive(req, "data");
  const cJSON *rid = cJSON_GetObjectItemCaseSensitive(req, "requestId");
  sio_nsp_t *nsp = ra->base.nsp;
  sio_server_event_cb cb = sio__nsp_effective(nsp)->cbs.on_server_event;
  if (!cJSON_IsArray(data) || !cJSON_IsString(data->child)) return;
  if (!cb) {
    /* Nobody listens, but the sender counts answers: answer with nothing, as an unanswered Node
     * listener would not, so that it does not wait for its timeout. */
    if (cJSON_IsString(rid)) ra_server_reply(&ra->base, rid->valuestring, NULL);
    return;
  }
  cJSON *rest = args_after_event(data);
  if (!rest) return; /* no answer: the sender's timeout tells it */
  sio_args_t args = {rest, NULL, 0};
  cb(nsp, data->child->valuestring, &args, cJSON_IsString(rid) ? rid->valuestring : NULL);
  cJSON_Delete(rest);
}

static void on_json_request(redis_adapter_t *ra, cJSON *j) {
  const cJSON *uid = cJSON_GetObjectItemCaseSensitive(j, "uid");
  const cJSON *type = cJSON_GetObjectItemCaseSensitive(j, "type");
  /* Our own request, heard back: the requester does not answer itself. */
  if ((cJSON_IsString(uid) && strcmp(uid->valuestring, ra->uid) == 0) || !cJSON_IsNumber(type)) return;
  const cJSON *opts = cJSON_GetObjectItemCaseSensitive(j, "opts");
  const cJSON *sid = cJSON_GetObjectItemCaseSensitive(j, "sid");
  strs_t rooms = {0}, except = {0};
  if (strs_from_json(cJSON_GetObjectItemCaseSensitive(opts, "rooms"), &rooms) ||
      strs_from_json(cJSON_GetObjectItemCaseSensitive(opts ? opts : j, "except"), &except))
    goto done;
  if (type->valueint == REQ_SOCKETS) { /* {"rooms": [...]} at the top, no opts */
    strs_free(&rooms);
    if (strs_from_json(cJSON_GetObjectItemCaseSensitive(j, "rooms"), &rooms)) goto done;
  }
  sio_target_t to = {(const char *const *)rooms.v, rooms.n, (const char *const *)except.v, except.n,
                     SIO_EMIT_LOCAL};
  sio_nsp_t *nsp = ra->base.nsp;
  switch (type->valueint) {
  case REQ_SOCKETS:
    answer(ra, j, "sockets", local_sockets(ra, &to, socket_id_json));
    break;
  case REQ_ALL_ROOMS: {
    names_t names = {cJSON_CreateArray(), 0};
    if (names.arr) sio_memory_adapter_rooms(ra->inner, add_room_name, &names);
    if (names.failed) {
      cJSON_Delete(names.arr);
      names.arr = NULL;
    }
    answer(ra, j, "rooms", names.arr);
    break;
  }
  case REQ_REMOTE_FETCH:
    answer(ra, j, "sockets", local_sockets(ra, &to, sio__socket_describe));
    break;
  case REQ_REMOTE_JOIN:
  case REQ_REMOTE_LEAVE:
  case REQ_REMOTE_DISCONNECT: {
    int op = type->valueint;
    if (!opts && cJSON_IsString(sid)) {
      /* The one-socket form ({"sid","room"|"close","requestId"}), answered when the socket is here. */
      sio_socket_t *s = sio_nsp_socket(nsp, sid->valuestring);
      const cJSON *room = cJSON_GetObjectItemCaseSensitive(j, "room");
      if (!s) break;
      if (op == SIO_OP_DISCONNECT) sio_socket_disconnect(s, cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(j, "close")));
      else if (cJSON_IsString(room) && op == SIO_OP_JOIN) sio_socket_join(s, room->valuestring);
      else if (cJSON_IsString(room)) sio_socket_leave(s, room->valuestring);
      answer(ra, j, NULL, NULL);
      break;
    }
    if (op == SIO_OP_DISCONNECT) {
      sio_nsp_disconnect(nsp, &to, cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(j, "close")));
      break;
    }
    const cJSON *rs = cJSON_GetObjectItemCaseSensitive(j, "rooms");
    for (const cJSON *r = cJSON_IsArray(rs) ? rs->child : NULL; r; r = r->next)
      if (cJSON_IsString(r))
        (op == SIO_OP_JOIN ? sio_nsp_join : sio_nsp_leave)(nsp, &to, r->valuestring);
    break;
  }
  case REQ_SERVER_SIDE_EMIT:
    serve_server_event(ra, j);
    break;
  default:
    if (!ra->cl->logged_type) log_msg("ignored a request of an unknown type", NULL);
    ra->cl->logged_type = 1;
  }
done:
  strs_free(&rooms);
  strs_free(&except);
}

/* A msgpack request: a broadcast with acks. */
static void on_msgpack_request(redis_adapter_t *ra, const msgpack_object *m) {
  const msgpack_object *type = sio__mp_get(m, "type");
  if (type && type->type == MSGPACK_OBJECT_POSITIVE_INTEGER && type->via.u64 == REQ_BROADCAST)
    serve_broadcast_ack(ra, m);
}

/* Adds item to the array (key NULL) or object items, taking it; whether it was added. */
static int keep(cJSON *items, const char *key, cJSON *item) {
  if (key ? add_item(items, key, item) == 0 : cJSON_AddItemToArray(items, item)) return 1;
  if (!key) cJSON_Delete(item);
  return 0;
}

/* A JSON answer to one of our requests. */
static void on_json_response(redis_adapter_t *ra, cJSON *j) {
  const cJSON *rid = cJSON_GetObjectItemCaseSensitive(j, "requestId");
  const cJSON *type = cJSON_GetObjectItemCaseSensitive(j, "type");
  if (!cJSON_IsString(rid)) return;
  if (cJSON_IsNumber(type) && type->valueint == REQ_BROADCAST_CLIENT_COUNT) {
    sio_bcast_ack_t *b = find_bcast(ra, rid->valuestring);
    const cJSON *n = cJSON_GetObjectItemCaseSensitive(j, "clientCount");
    if (!b) return;
    /* Bounded before the cast (another node's 1e300 as a size_t is undefined behaviour): no node
     * has 2^32 sockets. */
    if (cJSON_IsNumber(n) && n->valuedouble > 0)
      b->expected += n->valuedouble < 4294967296.0 ? (size_t)n->valuedouble : (size_t)UINT32_MAX;
    b->nodes_reported++;
    sio__bcast_check(b);
    return;
  }
  sio_io_t *io = ra->base.nsp->io;
  sio_count_req_t *r = io->counts;
  while (r && (r->nsp != ra->base.nsp || !r->waiting || strcmp(r->request_id, rid->valuestring) != 0))
    r = r->next;
  if (!r) return;
  const cJSON *socks = cJSON_GetObjectItemCaseSensitive(j, "sockets");
  const cJSON *rooms = cJSON_GetObjectItemCaseSensitive(j, "rooms");
  int added = 1; /* 0: a part of the answer could not be kept */
  switch (r->kind) {
  case SIO_REQ_COUNT:
    if (!cJSON_IsArray(socks)) return;
    r->count += (size_t)cJSON_GetArraySize(socks);
    break;
  case SIO_REQ_SOCKETS:
    if (!cJSON_IsArray(socks)) return;
    for (const cJSON *c = socks->child; added && c; c = c->next)
      if (cJSON_IsObject(c)) added = keep(r->items, NULL, cJSON_Duplicate(c, 1));
    break;
  case SIO_REQ_ROOMS:
    if (!cJSON_IsArray(rooms)) return;
    for (const cJSON *c = rooms->child; added && c; c = c->next)
      if (cJSON_IsString(c) && !cJSON_GetObjectItemCaseSensitive(r->items, c->valuestring))
        added = keep(r->items, c->valuestring, cJSON_CreateTrue());
    break;
  case SIO_REQ_SERVER_EMIT: {
    if (!cJSON_IsNumber(type) || type->valueint != REQ_SERVER_SIDE_EMIT) return;
    const cJSON *d = cJSON_GetObjectItemCaseSensitive(j, "data");
    added = keep(r->items, NULL, d ? cJSON_Duplicate(d, 1) : cJSON_CreateNull());
    break;
  }
  }
  /* What came so far, with SIO_ENOMEM, rather than a part passed off as the whole. */
  if (!added) sio__count_finish(r, SIO_ENOMEM);
  else if (++r->received >= r->expected) sio__count_finish(r, 0);
}

/* A msgpack answer: {type: 9, requestId, packet}, a socket's answer to our broadcast with acks. */
static void on_msgpack_response(redis_adapter_t *ra, const msgpack_object *m) {
  const msgpack_object *type = sio__mp_get(m, "type"), *rid = sio__mp_get(m, "requestId");
  const msgpack_object *pkt = sio__mp_get(m, "packet");
  char id[8] = {0};
  if (!type || type->type != MSGPACK_OBJECT_POSITIVE_INTEGER || type->via.u64 != REQ_BROADCAST_ACK ||
      !rid || rid->type != MSGPACK_OBJECT_STR || rid->via.str.size >= sizeof id)
    return;
  memcpy(id, rid->via.str.ptr, rid->via.str.size);
  sio_bcast_ack_t *b = find_bcast(ra, id);
  if (!b) return;
  sio_mp_bins_t bufs = {0};
  cJSON *answer = pkt ? sio__mp_to_json(pkt, &bufs) : NULL;
  sio__bcast_add_answer(b, answer, bufs.v, bufs.n);
  cJSON_Delete(answer);
  free(bufs.v);
}

/* Requests and responses are JSON text, or msgpack for broadcasts with acks: told apart by the
 * first byte, as Node does. */
static void dispatch(redis_adapter_t *ra, const char *data, size_t len,
                     void (*on_json)(redis_adapter_t *, cJSON *),
                     void (*on_msgpack)(redis_adapter_t *, const msgpack_object *)) {
  sio_nsp_t *nsp = ra->base.nsp;
  sio__io_enter(nsp->io);
  if (len > 0 && data[0] == '{') {
    cJSON *j;
    if (sio_json_parse(data, len, &j) == 0) on_json(ra, j);
    cJSON_Delete(j);
  } else {
    msgpack_unpacked u;
    msgpack_unpacked_init(&u);
    size_t off = 0;
    if (sio__mp_plausible((const unsigned char *)data, len) &&
        msgpack_unpack_next(&u, data, len, &off) == MSGPACK_UNPACK_SUCCESS)
      on_msgpack(ra, &u.data);
    msgpack_unpacked_destroy(&u);
  }
  sio__io_leave(nsp->io);
}

/* Every subscription's callback: the reply names the pattern or channel, which names the
 * adapter. */
static void on_sub_reply(redisAsyncContext *ac, void *reply, void *privdata) {
  (void)privdata;
  sio_cluster_t *cl = ac->data;
  redisReply *r = reply;
  if (!r || !cl || cl->closing || r->type != REDIS_REPLY_ARRAY || r->elements < 3 ||
      r->element[0]->type != REDIS_REPLY_STRING)
    return;
  for (size_t i = 1; i < r->elements; i++)
    if (r->element[i]->type != REDIS_REPLY_STRING) return; /* a subscribe confirmation */
  const char *kind = r->element[0]->str;
  if (strcmp(kind, "pmessage") == 0 && r->elements == 4) {
    const redisReply *pat = r->element[1], *chan = r->element[2], *msg = r->element[3];
    for (redis_adapter_t *a = cl->adapters; a; a = a->next)
      if (strcmp(a->bcast_pattern, pat->str) == 0) {
        on_broadcast(a, chan->str, chan->len, msg->str, msg->len);
        break;
      }
  } else if (strcmp(kind, "message") == 0) {
    const redisReply *chan = r->element[1], *msg = r->element[2];
    for (redis_adapter_t *a = cl->adapters; a; a = a->next) {
      if (strcmp(a->req_chan, chan->str) == 0) {
        dispatch(a, msg->str, msg->len, on_json_request, on_msgpack_request);
        break;
      }
      if (strcmp(a->res_chan, chan->str) == 0 || strcmp(a->res_uid_chan, chan->str) == 0) {
        dispatch(a, msg->str, msg->len, on_json_response, on_msgpack_response);
        break;
      }
    }
  }
}

void sio__cluster_inject(sio_nsp_t *nsp, int chan, const char *room, const char *data, size_t len) {
  if (!nsp->adapter->vt->request) return; /* not clustered */
  redis_adapter_t *ra = (redis_adapter_t *)nsp->adapter;
  if (chan == SIO_CHAN_REQUEST) {
    dispatch(ra, data, len, on_json_request, on_msgpack_request);
  } else if (chan == SIO_CHAN_RESPONSE) {
    dispatch(ra, data, len, on_json_response, on_msgpack_response);
  } else {
    char *c = concat(ra->bcast_prefix, chan == SIO_CHAN_ROOM ? room : "", chan == SIO_CHAN_ROOM ? "#" : "", "");
    if (c) on_broadcast(ra, c, strlen(c), data, len);
    free(c);
  }
}

static void subscribe(sio_cluster_t *cl, redis_adapter_t *a) {
  if (!cl->sub || cl->closing) return;
  redisAsyncCommand(cl->sub, on_sub_reply, NULL, "PSUBSCRIBE %s", a->bcast_pattern);
  redisAsyncCommand(cl->sub, on_sub_reply, NULL, "SUBSCRIBE %s", a->req_chan);
  redisAsyncCommand(cl->sub, on_sub_reply, NULL, "SUBSCRIBE %s", a->res_chan);
  redisAsyncCommand(cl->sub, on_sub_reply, NULL, "SUBSCRIBE %s", a->res_uid_chan);
}

sio_adapter_t *sio__redis_adapter_wrap(sio_cluster_t *cl, sio_adapter_t *inner) {
  redis_adapter_t *ra = calloc(1, sizeof *ra);
  if (!ra) return NULL;
  ra->base.vt = &redis_vt;
  ra->base.nsp = inner->nsp;
  ra->inner = inner;
  ra->cl = cl;
  random_id(ra->uid, 6);
  const char *nsp = inner->nsp->name;
  ra->bcast_prefix = concat(cl->key, "#", nsp, "#");
  ra->bcast_pattern = concat(cl->key, "#", nsp, "#*");
  ra->req_chan = concat(cl->key, "-request#", nsp, "#");
  ra->res_chan = concat(cl->key, "-response#", nsp, "#");
  char tail[9];
  snprintf(tail, sizeof tail, "#%s#", ra->uid);
  ra->res_uid_chan = concat(cl->key, "-response#", nsp, tail);
  if (!ra->bcast_prefix || !ra->bcast_pattern || !ra->req_chan || !ra->res_chan || !ra->res_uid_chan) {
    free_names(ra);
    return NULL;
  }
  ra->next = cl->adapters;
  cl->adapters = ra;
  subscribe(cl, ra);
  return &ra->base;
}

/* ---------------------------------------------------------------------------------------------- */
/* Connections. The publisher and the subscriber live apart: either may be down while the other is
 * up. A link that fails to connect or is lost retries with backoff (BACKOFF_MIN_MS doubling up to
 * BACKOFF_MAX_MS, jittered) and logs one line when the outage begins and one when it ends; in
 * between, broadcasts are delivered here only and cluster requests end at once with SIO_EUNAVAIL.
 * A new subscriber context subscribes every live namespace's channels again. */

#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 5000
#define CONNECT_TIMEOUT_MS 5000

static void on_link_timer(uv_timer_t *t);
static void on_connect(const redisAsyncContext *ac, int status);
static void on_disconnect(const redisAsyncContext *ac, int status);

static redisAsyncContext **link_ctx(redis_link_t *l) {
  return l->is_sub ? &l->cl->sub : &l->cl->pub;
}
static uint8_t *link_up(redis_link_t *l) { return l->is_sub ? &l->cl->sub_up : &l->cl->pub_up; }
static const char *link_name(const redis_link_t *l) {
  return l->is_sub ? "subscriber" : "publisher";
}

/* The link whose current context `ac` is; NULL for a context already let go of (its last
 * callbacks still run) and once the cluster closes. */
static redis_link_t *link_of(sio_cluster_t *cl, const redisAsyncContext *ac) {
  if (!cl || cl->closing) return NULL;
  if (ac == cl->pub) return &cl->link[LINK_PUB];
  if (ac == cl->sub) return &cl->link[LINK_SUB];
  return NULL;
}

static void link_down(redis_link_t *l, const char *what, const char *why) {
  if (l->down) return; /* retries fail quietly until the outage ends */
  sio_cluster_t *cl = l->cl;
  l->down = 1;
  l->down_at = uv_now(cl->loop);
  fprintf(stderr, "sio: redis: %s %s: %s (%s:%d); retrying with backoff, local delivery goes on\n",
          link_name(l), what, why && *why ? why : "unknown error", cl->host, cl->port);
}

static void link_retry_later(redis_link_t *l) {
  uint32_t d = l->delay_ms, wait = d;
  l->delay_ms = d > BACKOFF_MAX_MS / 2 ? BACKOFF_MAX_MS : 2 * d;
  /* Half the delay plus a random share of the other half: the nodes that lost the same Redis do
   * not all knock at once when it comes back. */
  unsigned char r[2];
  if (RAND_bytes(r, sizeof r) == 1) wait = d / 2 + (uint32_t)((r[0] << 8 | r[1]) % (d - d / 2 + 1));
  uv_timer_start(l->timer, on_link_timer, wait, 0);
}

/* Redis answered the PING queued behind AUTH: it serves this connection. Only now does the backoff
 * start over, so that a Redis that accepts and drops connections is not knocked at every 100 ms. */
static void on_ping(redisAsyncContext *ac, void *reply, void *privdata) {
  (void)privdata;
  sio_cluster_t *cl = ac->data;
  redis_link_t *l = link_of(cl, ac);
  const redisReply *r = reply;
  if (!l || !r) return;
  if (r->type == REDIS_REPLY_ERROR) {
    /* Connected but not served (a wrong password, a dataset still loading): nothing else would
     * say so. */
    fprintf(stderr, "sio: redis: %s connection (%s:%d) answers with an error: %s\n", link_name(l),
            cl->host, cl->port, r->str);
    return;
  }
  l->delay_ms = BACKOFF_MIN_MS;
  if (!l->down) return;
  l->down = 0;
  double secs = (double)(uv_now(cl->loop) - l->down_at) / 1000.0;
  if (l->is_sub) {
    size_t n = 0;
    for (const redis_adapter_t *a = cl->adapters; a; a = a->next) n++;
    fprintf(stderr,
            "sio: redis: subscriber connection restored (%s:%d) after %.1f s; %zu namespace%s "
            "subscribed again\n",
            cl->host, cl->port, secs, n, n == 1 ? "" : "s");
  } else {
    fprintf(stderr, "sio: redis: publisher connection restored (%s:%d) after %.1f s\n", cl->host,
            cl->port, secs);
  }
}

/* A new context for the link, to `ip` (an address literal). AUTH and PING are queued at once
 * (hiredis writes them first once connected), then, for the subscriber, the subscriptions of every
 * live namespace. The link's timer already bounds the attempt. */
static void link_connect(redis_link_t *l, const char *ip) {
  sio_cluster_t *cl = l->cl;
  redisAsyncContext *ac = redisAsyncConnect(ip, cl->port);
  if (!ac || ac->err || sio__redis_uv_attach(ac, cl->loop) != REDIS_OK) {
    link_down(l, "connection failed",
              !ac ? "out of memory" : ac->err ? ac->errstr : "cannot poll its socket");
    if (ac) redisAsyncFree(ac); /* no event hooks yet, or none that were started */
    link_retry_later(l);
    return;
  }
  ac->data = cl;
  redisAsyncSetConnectCallback(ac, on_connect);
  redisAsyncSetDisconnectCallback(ac, on_disconnect);
  if (cl->password) {
    if (cl->user) redisAsyncCommand(ac, NULL, NULL, "AUTH %s %s", cl->user, cl->password);
    else redisAsyncCommand(ac, NULL, NULL, "AUTH %s", cl->password);
  }
  /* Also something to write, so that the connection's outcome is seen now, not at the first
   * publish. */
  redisAsyncCommand(ac, on_ping, NULL, "PING");
  *link_ctx(l) = ac;
  if (l->is_sub)
    for (redis_adapter_t *a = cl->adapters; a; a = a->next) subscribe(cl, a);
}

/* hiredis 0.14 resolves a host name with a blocking getaddrinfo() inside its connect: a name is
 * resolved here first, on libuv's thread pool, so that a slow or absent DNS never stalls the loop.
 * The request outlives a closed cluster when the lookup is under way: it then only frees itself. */
struct resolve {
  uv_getaddrinfo_t req;
  redis_link_t *link; /* NULL once the link gave up on it (closed, or the attempt timed out) */
};

static void resolve_abandon(redis_link_t *l) {
  if (!l->resolving) return;
  l->resolving->link = NULL;
  uv_cancel((uv_req_t *)&l->resolving->req); /* or it finishes and frees itself */
  l->resolving = NULL;
}

static void on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res) {
  resolve_t *rv = req->data;
  redis_link_t *l = rv->link;
  char ip[INET6_ADDRSTRLEN] = "";
  /* hiredis would try each address; one attempt here takes the first IPv4 one if there is one
   * ("localhost" often lists ::1 first, where a Redis bound to 127.0.0.1 is not). */
  const struct addrinfo *pick = NULL;
  for (const struct addrinfo *a = status == 0 ? res : NULL; a; a = a->ai_next)
    if (!pick || (a->ai_family == AF_INET && pick->ai_family != AF_INET)) pick = a;
  if (pick) uv_ip_name(pick->ai_addr, ip, sizeof ip);
  uv_freeaddrinfo(res);
  free(rv);
  if (!l) return;
  l->resolving = NULL;
  if (!ip[0]) {
    uv_timer_stop(l->timer);
    link_down(l, "connection failed", status ? uv_strerror(status) : "no address");
    link_retry_later(l);
    return;
  }
  link_connect(l, ip);
}

/* One connection attempt, bounded by the link's timer: the host name resolved first unless it is an
 * address already. */
static void link_open(redis_link_t *l) {
  sio_cluster_t *cl = l->cl;
  unsigned char buf[sizeof(struct in6_addr)];
  uv_timer_start(l->timer, on_link_timer, CONNECT_TIMEOUT_MS, 0);
  if (uv_inet_pton(AF_INET, cl->host, buf) == 0 || uv_inet_pton(AF_INET6, cl->host, buf) == 0) {
    link_connect(l, cl->host);
    return;
  }
  resolve_t *rv = calloc(1, sizeof *rv);
  struct addrinfo hints;
  memset(&hints, 0, sizeof hints);
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  int r = rv ? 0 : UV_ENOMEM;
  if (rv) {
    rv->link = l;
    rv->req.data = rv;
    r = uv_getaddrinfo(cl->loop, &rv->req, on_resolved, cl->host, NULL, &hints);
  }
  if (r) {
    free(rv);
    uv_timer_stop(l->timer);
    link_down(l, "connection failed", uv_strerror(r));
    link_retry_later(l);
    return;
  }
  l->resolving = rv;
}

static void on_link_timer(uv_timer_t *t) {
  redis_link_t *l = t->data;
  redisAsyncContext **ac = link_ctx(l);
  if (l->cl->closing || (*ac && *link_up(l))) return;
  if (l->resolving) { /* the name did not resolve in time */
    resolve_abandon(l);
    link_down(l, "connection failed", "the host name did not resolve in time");
    link_retry_later(l);
    return;
  }
  if (!*ac) {
    link_open(l); /* the backoff is over */
    return;
  }
  /* The attempt took too long. Never connected, the context gets no disconnect callback; its
   * queued callbacks see NULL replies and a context that is no longer the link's. */
  redisAsyncContext *stale = *ac;
  *ac = NULL;
  link_down(l, "connection failed", "timed out");
  redisAsyncFree(stale);
  link_retry_later(l);
}

static void on_connect(const redisAsyncContext *ac, int status) {
  redis_link_t *l = link_of(ac->data, ac);
  if (!l) return;
  uv_timer_stop(l->timer);
  if (status != REDIS_OK) {
    *link_ctx(l) = NULL; /* hiredis frees the context once this returns */
    link_down(l, "connection failed", ac->errstr);
    link_retry_later(l);
    return;
  }
  *link_up(l) = 1;
}

static void on_disconnect(const redisAsyncContext *ac, int status) {
  sio_cluster_t *cl = ac->data;
  redis_link_t *l = link_of(cl, ac);
  if (!l) return; /* closing: nothing to retry */
  *link_ctx(l) = NULL; /* hiredis frees the context once this returns */
  *link_up(l) = 0;
  link_down(l, "connection lost", status == REDIS_OK ? "closed" : ac->errstr);
  link_retry_later(l);
  /* Counts waiting for other nodes get no more answers: end them now with what came rather than
   * at their timeout. A callback may end others (closing the server): start over each time. */
  for (sio_count_req_t *r = cl->io->counts; r;) {
    if (r->remote && !r->done) {
      sio__count_finish(r, cluster_down_status(cl));
      r = cl->io->counts;
    } else {
      r = r->next;
    }
  }
}

/* redis://[[user]:password@]host[:port][/db]. Pub/sub ignores the database number, so /db is
 * accepted and not used. */
static int parse_url(sio_cluster_t *cl, const char *url) {
  const char *p;
  if (strncmp(url, "redis://", 8) != 0) return SIO_EINVAL;
  p = url + 8;
  const char *end = p + strcspn(p, "/?#");
  const char *at = NULL;
  for (const char *q = p; q < end; q++)
    if (*q == '@') at = q;
  if (at) {
    const char *colon = memchr(p, ':', (size_t)(at - p));
    if (colon) {
      if (colon > p) cl->user = strndup(p, (size_t)(colon - p));
      cl->password = strndup(colon + 1, (size_t)(at - colon - 1));
    } else {
      cl->password = strndup(p, (size_t)(at - p));
    }
    p = at + 1;
  }
  const char *colon = memchr(p, ':', (size_t)(end - p));
  cl->port = 6379;
  if (colon) {
    char *e;
    long port = strtol(colon + 1, &e, 10);
    if (e != end || port <= 0 || port > 65535) return SIO_EINVAL;
    cl->port = (int)port;
  }
  const char *hend = colon ? colon : end;
  if (hend == p) return SIO_EINVAL;
  cl->host = strndup(p, (size_t)(hend - p));
  if (!cl->host) return SIO_ENOMEM;
  return 0;
}

static void cluster_free_fields(sio_cluster_t *cl) {
  free(cl->host);
  free(cl->user);
  free(cl->password);
  free(cl->key);
  free(cl);
}

int sio_io_use_redis(sio_io_t *io, const sio_redis_options_t *given) {
  sio_redis_options_t o;
  sio_redis_options_init(&o);
  if (!io || !given || SIO_TAKE_OPTIONS(&o, given, "sio_redis_options") || !o.url) return SIO_EINVAL;
  const sio_redis_options_t *opts = &o;
  if (io->cluster) return SIO_EEXIST;
  if (io->shutting_down) return SIO_ECLOSED;
  sio_cluster_t *cl = calloc(1, sizeof *cl);
  if (!cl) return SIO_ENOMEM;
  int r = parse_url(cl, opts->url);
  cl->key = strdup(opts->key ? opts->key : "socket.io");
  if (!r && !cl->key) r = SIO_ENOMEM;
  if (r) {
    cluster_free_fields(cl);
    return r;
  }
  cl->io = io;
  cl->loop = sio_server_loop(io->server);
  cl->timeout_ms = opts->requests_timeout_ms ? opts->requests_timeout_ms : 5000;
  cl->server_count = 1;
  for (int i = 0; i < 2; i++) {
    cl->link[i].cl = cl;
    cl->link[i].is_sub = i == LINK_SUB;
    cl->link[i].delay_ms = BACKOFF_MIN_MS;
    cl->link[i].timer = malloc(sizeof(uv_timer_t));
  }
  if (!cl->link[0].timer || !cl->link[1].timer) {
    free(cl->link[0].timer);
    free(cl->link[1].timer);
    cluster_free_fields(cl);
    return SIO_ENOMEM;
  }
  for (int i = 0; i < 2; i++) {
    uv_timer_init(cl->loop, cl->link[i].timer);
    cl->link[i].timer->data = &cl->link[i];
    /* Retrying is no reason to keep a loop alive that has nothing else to do. */
    uv_unref((uv_handle_t *)cl->link[i].timer);
  }
  io->cluster = cl;
  link_open(&cl->link[LINK_PUB]);
  link_open(&cl->link[LINK_SUB]);
  /* The namespaces that exist keep their rooms: their memory adapters are wrapped. */
  for (sio_nsp_t *n = io->nsp_list; n; n = n->next) {
    sio_adapter_t *w = sio__redis_adapter_wrap(cl, n->adapter);
    if (w) n->adapter = w;
  }
  return 0;
}

static void free_handle(uv_handle_t *h) { free(h); }

void sio__cluster_close(sio_cluster_t *cl) {
  if (!cl || cl->closing) return;
  cl->closing = 1;
  for (int i = 0; i < 2; i++) {
    resolve_abandon(&cl->link[i]);
    uv_close((uv_handle_t *)cl->link[i].timer, free_handle);
    cl->link[i].timer = NULL;
  }
  redisAsyncContext *ctx[2] = {cl->pub, cl->sub};
  cl->pub = cl->sub = NULL;
  cl->pub_up = cl->sub_up = 0;
  /* Freed now: their queued callbacks see NULL replies. Inside one of its own reply callbacks a
   * context is freed as soon as that callback returns (hiredis defers it, and never longer),
   * so nothing of it outlives the cluster. */
  for (int i = 0; i < 2; i++)
    if (ctx[i]) redisAsyncFree(ctx[i]);
}

void sio__cluster_free(sio_cluster_t *cl) {
  if (!cl) return;
  sio__cluster_close(cl);
  cluster_free_fields(cl);
}

#endif /* SIO_HAVE_REDIS */
