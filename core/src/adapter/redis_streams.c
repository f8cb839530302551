/* The Redis streams transport of the cluster adapter (sac.h), wire-compatible with Node's
 * @socket.io/redis-streams-adapter 0.3 (see sio.h and docs/redis-streams-wire.md).
 *
 * One rs_t per io (sio_io_use_redis_streams installs it as the io's adapter factory) owns its
 * connections (redis_conn.h: RESP on libuv, which knows sharded pub/sub), each with a job of its own:
 *   - commands: XADD (what every node must see, in order: one connection keeps the order of the
 *     offsets handed back), PUBLISH (requests and answers), PUBSUB NUMSUB, and the sessions
 *     (SET PX, GETDEL, XRANGE);
 *   - one reader per stream: XREAD BLOCK from the last entry id it read, so that an outage, a
 *     Redis restart or a slow loop loses nothing the stream kept;
 *   - the subscriber: KEY#NSP# and KEY#NSP#UID# of every namespace (SSUBSCRIBE when sharded).
 * Callbacks carry the rs_t or a request of their own, never a namespace's transport, and find
 * that by name or check it is still alive: a reply arriving while a namespace is being freed
 * finds nothing instead of freed memory. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "adapter/redis_streams.h"
#include "sio.h"

#define DEFAULT_STREAM "socket.io"
#define DEFAULT_PREFIX "socket.io"
#define DEFAULT_SESSION_PREFIX "sio:session:"

void sio_redis_streams_options_init(sio_redis_streams_options_t *opts) {
  memset(opts, 0, sizeof *opts);
  opts->size = sizeof *opts;
  opts->stream_count = 1;
  opts->max_len = 10000;
  opts->read_count = 100;
  opts->block_ms = 5000;
  opts->requests_timeout_ms = 5000;
}

/* Node's hashCode (util.ts) (pure: built with or without Redis): Java's String.hashCode over UTF-16 code units, in 32 bits. Kept
 * signed as JavaScript's `%` keeps the sign: a namespace whose hash is negative goes to
 * NAME--k on Node's nodes, and so here too. */
int32_t sio__rs_hash_code(const char *s) {
  uint32_t h = 0;
  const unsigned char *p = (const unsigned char *)s;
  while (*p) {
    uint32_t cp = *p, n = 0;
    if (cp >= 0xf0) cp &= 0x07, n = 3;
    else if (cp >= 0xe0) cp &= 0x0f, n = 2;
    else if (cp >= 0xc0) cp &= 0x1f, n = 1;
    p++;
    for (; n && (*p & 0xc0) == 0x80; n--) cp = cp << 6 | (*p++ & 0x3f);
    if (cp >= 0x10000) { /* a surrogate pair */
      cp -= 0x10000;
      h = h * 31 + (0xd800 + (cp >> 10));
      h = h * 31 + (0xdc00 + (cp & 0x3ff));
    } else {
      h = h * 31 + cp;
    }
  }
  return (int32_t)h;
}

#ifndef SIO_HAVE_REDIS

int sio_io_use_redis_streams(sio_io_t *io, const sio_redis_streams_options_t *opts) {
  (void)io, (void)opts;
  return UV_ENOSYS;
}

#else

#include <hiredis/hiredis.h>

#include "adapter/msgpack_json.h"
#include "adapter/redis_conn.h"
#include "adapter/redis_link.h" /* the URL */
#include "adapter/sac.h"
#include "base64.h"
#include "fail.h"
#include "opts.h"
#include "transport/log.h"

/* Node's RESTORE_SESSION_MAX_XRANGE_CALLS (calls of read_count entries here: max_len / read_count
 * more), and what a restore may hold of missed packets: past either the client comes back as a
 * fresh socket rather than with part of what it missed. */
#define RESTORE_MAX_CALLS 100
#define RESTORE_MAX_BYTES ((size_t)64 << 20)
/* A reader whose XREAD failed (the key is not a stream, a Redis that is loading) tries again. */
#define READ_RETRY_MS 1000
/* restore_entry's: past RESTORE_MAX_BYTES. */
#define TOO_BIG (-100000)

typedef struct rs rs_t;
typedef struct nspt nspt_t;
typedef struct restore restore_t;

/* One stream and the connection that reads it. */
typedef struct reader {
  rs_t *rs;
  sio_rlink_t link;
  char *name;
  char last[48];    /* the last entry id read; "" before the stream's end was looked up */
  uint8_t reading;  /* an XREAD (or the lookup) is in flight on the current context */
  uv_timer_t *retry;
} reader_t;

/* One namespace's transport. */
struct nspt {
  rs_t *rs;
  sio_sac_t *sac;
  nspt_t *next;
  const char *name;  /* the namespace's */
  char *stream;      /* where its messages go (computeStreamName) */
  char *pub_chan;    /* PREFIX#NSP# */
  char *priv_chan;   /* PREFIX#NSP#UID# */
};

struct rs {
  sio_redis_conf_t conf;
  sio_io_t *io;
  char *stream, *prefix, *session_prefix;
  uint32_t stream_count, max_len, read_count, block_ms, timeout_ms;
  int sharded;
  sio_rlink_t cmd, sub;
  reader_t *readers; /* stream_count */
  nspt_t *nsps;
  restore_t *restores; /* in flight: ended with SIO_ECLOSED at close */
  sio_io_counters_t *st;
  uint8_t closing;
};

static int down_status(const rs_t *rs) { return rs->closing ? SIO_ECLOSED : SIO_EUNAVAIL; }

static void note_up(rs_t *rs) {
  int up = rs->cmd.up && rs->sub.up;
  for (uint32_t i = 0; i < rs->stream_count; i++) up = up && rs->readers[i].link.up;
  rs->st->redis_up = up;
}

static int nspt_alive(const rs_t *rs, const nspt_t *t) {
  for (const nspt_t *x = rs->nsps; x; x = x->next)
    if (x == t) return 1;
  return 0;
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

/* ---------------------------------------------------------------------------------------------- */
/* Sending                                                                                         */

typedef struct {
  sio_sac_published_cb cb;
  void *arg;
} pub_t;

/* An XADD's reply is the entry id: the message's offset. Also the end of a PUBLISH (no offset). */
static void on_published(sio_rlink_t *ac, redisReply *reply, void *privdata) {
  (void)ac;
  pub_t *p = privdata;
  const redisReply *r = reply;
  if (p->cb) p->cb(p->arg, r && r->type == REDIS_REPLY_STRING ? r->str : NULL);
  free(p);
}

/* Sends argv (data, the encoded message, freed here) with `cb` told the reply's id. */
static int send_published(rs_t *rs, int argc, const char **av, const size_t *al, char *data,
                          sio_sac_published_cb cb, void *arg) {
  pub_t *p = calloc(1, sizeof *p);
  int r = SIO_ENOMEM;
  if (p) {
    *p = (pub_t){.cb = cb, .arg = arg};
    r = sio__rlink_commandv(&rs->cmd, on_published, p, argc, av, al);
  }
  free(data);
  if (r) {
    free(p);
    return SIO_ENOMEM;
  }
  rs->st->redis_published++;
  return 0;
}

static int send_pubsub(nspt_t *t, const char *chan, const sio_sac_msg_t *m, sio_sac_published_cb cb,
                       void *arg) {
  rs_t *rs = t->rs;
  char *data;
  size_t len;
  int r = sio__sac_msg_encode(m, SIO_SAC_WHOLE_MSGPACK, &data, &len);
  if (r) return r;
  SIO_DEBUG(rs->conf.server, SIO_DEBUG_REDIS, "publish %.128s (%zu bytes)", chan, len);
  const char *av[3] = {rs->sharded ? "SPUBLISH" : "PUBLISH", chan, data};
  size_t al[3] = {strlen(av[0]), strlen(chan), len};
  return send_published(rs, 3, av, al, data, cb, arg);
}

/* XADD STREAM MAXLEN ~ N * uid U nsp NSP type T [data D]: Node's RawClusterMessage. */
static int send_xadd(nspt_t *t, const sio_sac_msg_t *m, sio_sac_published_cb cb, void *arg) {
  rs_t *rs = t->rs;
  char type[16], maxlen[16], *data = NULL;
  size_t len = 0;
  snprintf(type, sizeof type, "%d", sio__sac_msg_type(m));
  snprintf(maxlen, sizeof maxlen, "%u", rs->max_len);
  if (sio__sac_msg_has_data(m)) {
    int r = sio__sac_msg_encode(m, sio__sac_msg_binary(m) ? SIO_SAC_DATA_MSGPACK_B64 : SIO_SAC_DATA_JSON,
                                &data, &len);
    if (r) return r;
  }
  /* Node's fields: uid, nsp, type, and data only when the message has some. */
  const char *av[14] = {"XADD", t->stream, "MAXLEN", "~", maxlen, "*", "uid", sio__sac_uid(t->sac),
                        "nsp", t->name, "type", type, "data", data};
  size_t al[14];
  for (int i = 0; i < 13; i++) al[i] = strlen(av[i]);
  al[13] = len;
  SIO_DEBUG(rs->conf.server, SIO_DEBUG_REDIS, "xadd %s type %s (%zu bytes)", t->stream, type, len);
  return send_published(rs, data ? 14 : 12, av, al, data, cb, arg);
}

/* Node's doPublish: what waits for answers (isEphemeral) over pub/sub, the rest in the stream. */
static int rs_publish(void *tp, const sio_sac_msg_t *m, sio_sac_published_cb cb, void *arg) {
  nspt_t *t = tp;
  if (!sio__rlink_ok(&t->rs->cmd)) return down_status(t->rs);
  if (sio__sac_msg_ephemeral(m)) return send_pubsub(t, t->pub_chan, m, cb, arg);
  return send_xadd(t, m, cb, arg);
}

static int rs_publish_response(void *tp, const char *requester, const sio_sac_msg_t *m) {
  nspt_t *t = tp;
  if (!sio__rlink_ok(&t->rs->cmd)) return down_status(t->rs);
  char *chan = concat(t->pub_chan, requester, "#", "");
  if (!chan) return SIO_ENOMEM;
  int r = send_pubsub(t, chan, m, NULL, NULL);
  free(chan);
  return r;
}

static void on_numsub(void *owner, uint64_t tag, const char *request_id, long long count) {
  rs_t *rs = owner;
  nspt_t *t = (nspt_t *)(uintptr_t)tag;
  if (nspt_alive(rs, t))
    sio__sac_on_server_count(t->sac, request_id, count < 0 || rs->closing ? down_status(rs) : count);
}

/* Node's serverCount: PUBSUB NUMSUB (SHARDNUMSUB) of the namespace's public channel. */
static int rs_server_count(void *tp, const char *request_id) {
  nspt_t *t = tp;
  rs_t *rs = t->rs;
  if (!sio__rlink_ok(&rs->cmd) || !sio__rlink_ok(&rs->sub)) return down_status(rs);
  int r = sio__rlink_count(&rs->cmd, rs->sharded, t->pub_chan, on_numsub, rs, (uintptr_t)t, request_id);
  return r == SIO_ENOMEM ? r : r ? SIO_EUNAVAIL : 0;
}

/* ---------------------------------------------------------------------------------------------- */
/* Sessions                                                                                        */

/* Node's persistSession: SET PREFIX+pid base64(msgpack(session)) PX maxDisconnectionDuration. */
static int rs_persist_session(void *tp, const cJSON *session) {
  nspt_t *t = tp;
  rs_t *rs = t->rs;
  const cJSON *pid = cJSON_GetObjectItemCaseSensitive(session, "pid");
  if (!cJSON_IsString(pid)) return SIO_EINVAL;
  if (!sio__rlink_ok(&rs->cmd)) return down_status(rs);
  msgpack_packer pk;
  sio_mpbuf_t b;
  sio__mpbuf_init(&b, &pk);
  sio__mp_pack_json(&pk, session, NULL, 0);
  sio_sbuf_t enc = {0};
  int r = b.failed ? SIO_ENOMEM : sio_base64_encode(&enc, b.sb.data, b.sb.size);
  msgpack_sbuffer_destroy(&b.sb);
  char px[16];
  snprintf(px, sizeof px, "%u", sio__nsp_recovery_max_age(sio__sac_nsp(t->sac)));
  if (!r) r = sio__rlink_command(&rs->cmd, NULL, NULL, "SET %s%s %b PX %s", rs->session_prefix,
                                 pid->valuestring, enc.data, enc.len, px);
  sio_sbuf_free(&enc);
  return r;
}

/* A restore in flight: GETDEL and XRANGE offset offset, then XRANGE from the next id on until the
 * stream's end (read_count entries a call, as many calls as MAXLEN needs). Every command given it
 * holds it (pending); it ends once (done) and is freed when both are over. */
struct restore {
  rs_t *rs;
  nspt_t *t;
  restore_t *next;
  sio_restore_cb cb;
  void *arg;
  unsigned pending, calls;
  uint8_t done;
  int failed;         /* the second command could not be queued: ends at the first reply */
  cJSON *session;     /* decoded from the GETDEL reply */
  char **rooms;       /* the session's, NULL-terminated */
  size_t nrooms;
  char last[48];      /* the last entry id looked at */
  sio_recovered_t out;
  size_t cap, bytes;
};

static void restore_unlink(restore_t *q) {
  for (restore_t **p = &q->rs->restores; *p; p = &(*p)->next)
    if (*p == q) {
      *p = q->next;
      break;
    }
}

static void restore_free_parts(restore_t *q) {
  cJSON_Delete(q->session);
  q->session = NULL;
  free(q->rooms);
  q->rooms = NULL;
  sio__recovered_clear(&q->out);
}

/* Ends q (once): its callback gets status, and on 0 the session with what it missed. */
static void restore_end(restore_t *q, int status) {
  if (q->done) return;
  q->done = 1;
  restore_unlink(q);
  if (status == 0) q->cb(q->arg, 0, &q->out);
  else q->cb(q->arg, status, NULL);
  restore_free_parts(q);
  if (!q->pending) free(q);
}

/* A reply for q came (or its context went): 1 when q goes on. */
static int restore_reply(restore_t *q) {
  q->pending--;
  if (q->done) {
    if (!q->pending) free(q);
    return 0;
  }
  return 1;
}

/* The session of the GETDEL reply: {"sid", "pid", "rooms": [...], "data"} (Node's Session). */
static int restore_session_decode(restore_t *q, const redisReply *r) {
  if (!r || r->type != REDIS_REPLY_STRING) return SIO_ENOTFOUND;
  char *buf = malloc(r->len + 1);
  if (!buf) return SIO_ENOMEM;
  memcpy(buf, r->str, r->len);
  long n = sio_base64_decode_inplace(buf, r->len);
  cJSON *s = NULL;
  if (n > 0 && sio__mp_plausible((const unsigned char *)buf, (size_t)n)) {
    msgpack_unpacked u;
    msgpack_unpacked_init(&u);
    if (msgpack_unpack_next(&u, buf, (size_t)n, NULL) == MSGPACK_UNPACK_SUCCESS)
      s = sio__mp_to_json(&u.data, NULL);
    msgpack_unpacked_destroy(&u);
  }
  free(buf);
  const cJSON *sid = cJSON_GetObjectItemCaseSensitive(s, "sid");
  const cJSON *pid = cJSON_GetObjectItemCaseSensitive(s, "pid");
  const cJSON *rooms = cJSON_GetObjectItemCaseSensitive(s, "rooms");
  if (!cJSON_IsString(sid) || !cJSON_IsString(pid) || !cJSON_IsArray(rooms)) {
    cJSON_Delete(s);
    return SIO_ENOTFOUND;
  }
  size_t nr = (size_t)cJSON_GetArraySize(rooms);
  q->rooms = calloc(nr + 1, sizeof *q->rooms);
  q->out.rooms = calloc(nr ? nr : 1, sizeof *q->out.rooms);
  q->out.sid = strdup(sid->valuestring);
  q->out.pid = strdup(pid->valuestring);
  q->session = s;
  if (!q->rooms || !q->out.rooms || !q->out.sid || !q->out.pid) return SIO_ENOMEM;
  for (const cJSON *e = rooms->child; e; e = e->next) {
    if (!cJSON_IsString(e)) continue;
    q->rooms[q->nrooms++] = e->valuestring; /* borrowed from q->session */
    if (!(q->out.rooms[q->out.nrooms] = strdup(e->valuestring))) return SIO_ENOMEM;
    q->out.nrooms++;
  }
  cJSON *data = cJSON_DetachItemFromObjectCaseSensitive(s, "data");
  q->out.data = data ? data : cJSON_CreateObject();
  return q->out.data ? 0 : SIO_ENOMEM;
}

static int in_list(char **list, char **rooms, size_t nrooms) {
  for (; list && *list; list++)
    for (size_t j = 0; j < nrooms; j++)
      if (strcmp(*list, rooms[j]) == 0) return 1;
  return 0;
}

/* Node's shouldIncludePacket: to no room or to one of the session's, excluding none of them. */
static int should_include(char **rooms, char **except, char **srooms, size_t n) {
  return (!rooms || !*rooms || in_list(rooms, srooms, n)) && !in_list(except, srooms, n);
}

/* The field `name` of a stream entry's [f, v, f, v, ...]; NULL when absent. */
static const redisReply *entry_field(const redisReply *fields, const char *name) {
  if (!fields || fields->type != REDIS_REPLY_ARRAY) return NULL;
  for (size_t i = 0; i + 1 < fields->elements; i += 2) {
    const redisReply *f = fields->element[i], *v = fields->element[i + 1];
    if (f->type == REDIS_REPLY_STRING && v->type == REDIS_REPLY_STRING && strcmp(f->str, name) == 0)
      return v;
  }
  return NULL;
}

/* One entry of the XRANGE after the offset: a missed packet when it is a broadcast of q's
 * namespace that the session's rooms would have got. 0, or SIO_ENOMEM / TOO_BIG. A malformed
 * entry is skipped, as Node's decode error would. */
static int restore_entry(restore_t *q, const char *id, const redisReply *fields) {
  const redisReply *nsp = entry_field(fields, "nsp"), *type = entry_field(fields, "type");
  const redisReply *data = entry_field(fields, "data");
  if (!nsp || !type || !data || strcmp(nsp->str, q->t->name) != 0 || strcmp(type->str, "3") != 0)
    return 0;
  cJSON *event = NULL;
  sio_buf_t *bufs = NULL;
  size_t nbufs = 0;
  char **rooms = NULL, **except = NULL;
  if (sio__sac_decode_broadcast(data->str, data->len, &event, &bufs, &nbufs, &rooms, &except))
    return 0;
  int r = 0;
  if (should_include(rooms, except, q->rooms, q->nrooms)) {
    if (q->out.nmissed == q->cap) {
      size_t ncap = q->cap ? q->cap * 2 : 16;
      sio_encoded_t *m = realloc(q->out.missed, ncap * sizeof *m);
      if (!m) r = SIO_ENOMEM;
      else q->out.missed = m, q->cap = ncap;
    }
    sio_packet_t p = {nbufs ? SIO_PACKET_BINARY_EVENT : SIO_PACKET_EVENT, (char *)q->t->name, -1,
                      event, nbufs, NULL, 0};
    if (!r) r = sio__encode_with_offset(sio__sac_nsp(q->t->sac), &p, bufs, id,
                                        &q->out.missed[q->out.nmissed]);
    if (!r) {
      q->bytes += data->len + 64;
      q->out.nmissed++;
      if (q->bytes > RESTORE_MAX_BYTES) r = TOO_BIG;
    }
  }
  cJSON_Delete(event);
  for (size_t i = 0; i < nbufs; i++) free((void *)bufs[i].data);
  free(bufs);
  free(rooms);
  free(except);
  return r;
}

static int restore_next(restore_t *q);

static void on_restore_range(sio_rlink_t *ac, redisReply *reply, void *privdata) {
  (void)ac;
  restore_t *q = privdata;
  if (!restore_reply(q)) return;
  const redisReply *r = reply;
  if (!r || r->type != REDIS_REPLY_ARRAY) {
    restore_end(q, r ? SIO_ENOTFOUND : down_status(q->rs));
    return;
  }
  for (size_t i = 0; i < r->elements; i++) {
    const redisReply *e = r->element[i];
    if (e->type != REDIS_REPLY_ARRAY || e->elements != 2 || e->element[0]->type != REDIS_REPLY_STRING ||
        e->element[0]->len >= sizeof q->last)
      continue;
    int rc = restore_entry(q, e->element[0]->str, e->element[1]);
    if (rc) {
      /* Part of what it missed would pass for all of it: the client comes back fresh instead. */
      restore_end(q, rc == TOO_BIG ? SIO_ENOTFOUND : rc);
      return;
    }
    memcpy(q->last, e->element[0]->str, e->element[0]->len + 1);
  }
  if (r->elements == 0 || r->elements < q->rs->read_count) {
    restore_end(q, 0); /* the stream's end */
    return;
  }
  /* Node reads the rest of the stream in at most 100 calls without COUNT; here a call reads
   * read_count entries, so the bound follows the stream's MAXLEN (its ~ lets it run a little
   * over). A stream still longer: a fresh socket rather than part of what it missed. */
  uint32_t max_calls = q->rs->max_len / q->rs->read_count + RESTORE_MAX_CALLS;
  if (++q->calls >= max_calls) {
    restore_end(q, SIO_ENOTFOUND);
    return;
  }
  int rc = restore_next(q);
  if (rc) restore_end(q, rc);
}

/* Node's nextOffset: the id after `id` (sequence + 1). */
static void next_id(const char *id, char out[48]) {
  const char *dash = strchr(id, '-');
  unsigned long long seq = strtoull(dash + 1, NULL, 10);
  snprintf(out, 48, "%.*s-%llu", (int)(dash - id), id, seq + 1);
}

static int restore_next(restore_t *q) {
  rs_t *rs = q->rs;
  if (!sio__rlink_ok(&rs->cmd)) return down_status(rs);
  char from[48], count[16];
  next_id(q->last, from);
  snprintf(count, sizeof count, "%u", rs->read_count);
  int r = sio__rlink_command(&rs->cmd, on_restore_range, q, "XRANGE %s %s + COUNT %s", q->t->stream,
                             from, count);
  if (r) return r;
  q->pending++;
  return 0;
}

static void on_restore_getdel(sio_rlink_t *ac, redisReply *reply, void *privdata) {
  (void)ac;
  restore_t *q = privdata;
  if (!restore_reply(q)) return;
  int rc = q->failed ? q->failed : reply ? restore_session_decode(q, reply) : down_status(q->rs);
  if (rc) restore_end(q, rc);
}

static void on_restore_offset(sio_rlink_t *ac, redisReply *reply, void *privdata) {
  (void)ac;
  restore_t *q = privdata;
  if (!restore_reply(q)) return;
  const redisReply *r = reply;
  /* The session came first (GETDEL was sent first, on the same connection). */
  if (!r) {
    restore_end(q, down_status(q->rs));
    return;
  }
  if (r->type != REDIS_REPLY_ARRAY || r->elements == 0 || !q->out.sid) {
    restore_end(q, SIO_ENOTFOUND);
    return;
  }
  int rc = restore_next(q);
  if (rc) restore_end(q, rc);
}

/* 1 when s matches ^[0-9]+-[0-9]+$ and fits an id buffer. */
static int valid_offset(const char *s) {
  size_t a = strspn(s, "0123456789");
  if (!a || s[a] != '-') return 0;
  size_t b = strspn(s + a + 1, "0123456789");
  return b && !s[a + 1 + b] && a + 1 + b < 40;
}

/* Node's restoreSession. */
static int rs_restore_session(void *tp, const char *pid, const char *offset, sio_restore_cb cb,
                              void *arg) {
  nspt_t *t = tp;
  rs_t *rs = t->rs;
  if (!valid_offset(offset)) return SIO_ENOTFOUND;
  if (!sio__rlink_ok(&rs->cmd)) return down_status(rs);
  restore_t *q = calloc(1, sizeof *q);
  if (!q) return SIO_ENOMEM;
  q->rs = rs;
  q->t = t;
  q->cb = cb;
  q->arg = arg;
  snprintf(q->last, sizeof q->last, "%s", offset);
  int r = sio__rlink_command(&rs->cmd, on_restore_getdel, q, "GETDEL %s%s", rs->session_prefix, pid);
  if (r) {
    free(q);
    return r;
  }
  q->pending++;
  q->next = rs->restores;
  rs->restores = q;
  if (sio__rlink_command(&rs->cmd, on_restore_offset, q, "XRANGE %s %s %s", t->stream, offset, offset)) {
    q->failed = SIO_ENOMEM; /* the GETDEL's reply ends it: from the loop, as promised */
    return 0;
  }
  q->pending++;
  return 0;
}

/* ---------------------------------------------------------------------------------------------- */
/* Receiving                                                                                       */

static void read_more(reader_t *rd);

static nspt_t *nspt_by_name(rs_t *rs, const char *name) {
  for (nspt_t *t = rs->nsps; t; t = t->next)
    if (strcmp(t->name, name) == 0) return t;
  return NULL;
}

/* One stream entry, routed to its namespace by its nsp field, with its id as offset. */
static void on_entry(rs_t *rs, const redisReply *e) {
  if (e->type != REDIS_REPLY_ARRAY || e->elements != 2 || e->element[0]->type != REDIS_REPLY_STRING)
    return;
  const redisReply *f = e->element[1];
  const redisReply *uid = entry_field(f, "uid"), *nsp = entry_field(f, "nsp");
  const redisReply *type = entry_field(f, "type"), *data = entry_field(f, "data");
  rs->st->redis_received++;
  if (!uid || !nsp || !type) return;
  nspt_t *t = nspt_by_name(rs, nsp->str);
  if (t)
    sio__sac_on_fields(t->sac, uid->str, type->str, data ? data->str : NULL, data ? data->len : 0,
                       e->element[0]->str);
}

static void free_timer(uv_handle_t *h) { free(h); }

static void on_retry(uv_timer_t *h) { read_more(h->data); }

/* The reader's XREAD: entries go to their namespaces, then the next XREAD from the last id. */
static void on_xread(sio_rlink_t *ac, redisReply *reply, void *privdata) {
  reader_t *rd = privdata;
  (void)ac; /* (a connection that goes answers NULL: the next one reads on from rd->last) */
  rd->reading = 0;
  const redisReply *r = reply;
  if (!r) return; /* the context goes: the link reconnects and reads on from rd->last */
  if (r->type == REDIS_REPLY_ERROR) {
    SIO_DEBUG(rd->rs->conf.server, SIO_DEBUG_REDIS, "XREAD %s: %s", rd->name, r->str);
    uv_timer_start(rd->retry, on_retry, READ_RETRY_MS, 0);
    return;
  }
  if (r->type == REDIS_REPLY_ARRAY && r->elements >= 1) {
    const redisReply *s = r->element[0];
    if (s->type == REDIS_REPLY_ARRAY && s->elements == 2 && s->element[1]->type == REDIS_REPLY_ARRAY) {
      const redisReply *entries = s->element[1];
      for (size_t i = 0; i < entries->elements && !rd->rs->closing; i++) {
        const redisReply *e = entries->element[i];
        if (e->type == REDIS_REPLY_ARRAY && e->elements >= 1 && e->element[0]->type == REDIS_REPLY_STRING &&
            e->element[0]->len < sizeof rd->last)
          memcpy(rd->last, e->element[0]->str, e->element[0]->len + 1);
        on_entry(rd->rs, e);
      }
    }
  }
  if (!rd->rs->closing) read_more(rd);
}

/* The stream's end when the reader starts: Node's "$", made an id at once, so that entries added
 * while this reader's connection is down later are still read. */
static void on_last_id(sio_rlink_t *ac, redisReply *reply, void *privdata) {
  reader_t *rd = privdata;
  (void)ac;
  rd->reading = 0;
  const redisReply *r = reply;
  if (!r) return;
  if (r->type != REDIS_REPLY_ARRAY) {
    uv_timer_start(rd->retry, on_retry, READ_RETRY_MS, 0);
    return;
  }
  snprintf(rd->last, sizeof rd->last, "0-0");
  if (r->elements >= 1 && r->element[0]->type == REDIS_REPLY_ARRAY && r->element[0]->elements >= 1 &&
      r->element[0]->element[0]->type == REDIS_REPLY_STRING &&
      r->element[0]->element[0]->len < sizeof rd->last)
    memcpy(rd->last, r->element[0]->element[0]->str, r->element[0]->element[0]->len + 1);
  read_more(rd);
}

static void read_more(reader_t *rd) {
  rs_t *rs = rd->rs;
  if (rs->closing || rd->reading || !sio__rlink_ok(&rd->link)) return;
  int r;
  if (!rd->last[0]) {
    r = sio__rlink_command(&rd->link, on_last_id, rd, "XREVRANGE %s + - COUNT 1", rd->name);
  } else {
    char count[16], block[16];
    snprintf(count, sizeof count, "%u", rs->read_count);
    snprintf(block, sizeof block, "%u", rs->block_ms);
    r = sio__rlink_command(&rd->link, on_xread, rd, "XREAD COUNT %s BLOCK %s STREAMS %s %s", count,
                          block, rd->name, rd->last);
  }
  if (r == 0) rd->reading = 1;
  else uv_timer_start(rd->retry, on_retry, READ_RETRY_MS, 0);
}

/* The subscriber's pushes: the channel names the namespace and whether it is its private one. */
static void on_push(sio_rlink_t *l, redisReply *r) {
  rs_t *rs = l->owner;
  if (rs->closing || r->type != REDIS_REPLY_ARRAY || r->elements != 3 ||
      r->element[0]->type != REDIS_REPLY_STRING || r->element[1]->type != REDIS_REPLY_STRING ||
      r->element[2]->type != REDIS_REPLY_STRING)
    return;
  const char *kind = r->element[0]->str, *chan = r->element[1]->str;
  if (strcmp(kind, "message") != 0 && strcmp(kind, "smessage") != 0) return;
  rs->st->redis_received++;
  SIO_DEBUG(rs->conf.server, SIO_DEBUG_REDIS, "%s on %.128s (%zu bytes)", kind, chan,
            (size_t)r->element[2]->len);
  for (nspt_t *t = rs->nsps; t; t = t->next) {
    int pub = strcmp(chan, t->pub_chan) == 0, priv = !pub && strcmp(chan, t->priv_chan) == 0;
    if (pub || priv) {
      sio__sac_on_raw(t->sac, r->element[2]->str, r->element[2]->len, priv);
      return;
    }
  }
}

/* One channel per command (redis_conn.h: one command, one confirmation). */
static void subscribe(nspt_t *t) {
  rs_t *rs = t->rs;
  if (rs->closing) return;
  const char *cmd = rs->sharded ? "SSUBSCRIBE %s" : "SUBSCRIBE %s";
  sio__rlink_command(&rs->sub, NULL, NULL, cmd, t->pub_chan);
  sio__rlink_command(&rs->sub, NULL, NULL, cmd, t->priv_chan);
}

/* ---------------------------------------------------------------------------------------------- */
/* Links                                                                                           */

static void sub_fresh(sio_rlink_t *l) {
  rs_t *rs = l->owner;
  for (nspt_t *t = rs->nsps; t; t = t->next) subscribe(t);
}

/* The end of an outage, logged as its beginning was (redis_conn.c logs that). */
static void log_restored(sio_rlink_t *l, int restored, double secs) {
  if (restored)
    SIO_LOG(l->server, SIO_LOG_WARN, "redis", "%s connection restored (%s:%d) after %.1f s", l->name,
            l->host, l->port, secs);
}

static void on_ready(sio_rlink_t *l, int restored, double secs) {
  log_restored(l, restored, secs);
  note_up(l->owner);
}

static void on_up(sio_rlink_t *l) { note_up(l->owner); }

static void reader_on_ready(sio_rlink_t *l, int restored, double secs) {
  log_restored(l, restored, secs);
  reader_t *rd = l->owner;
  note_up(rd->rs);
  rd->reading = 0;
  read_more(rd);
}

static void reader_on_up(sio_rlink_t *l) { note_up(((reader_t *)l->owner)->rs); }

static void reader_on_lost(sio_rlink_t *l) {
  reader_t *rd = l->owner;
  rd->reading = 0;
  note_up(rd->rs);
}

/* The commands or the subscriber went: requests waiting for answers end now. */
static void on_lost(sio_rlink_t *l) {
  rs_t *rs = l->owner;
  note_up(rs);
  for (nspt_t *t = rs->nsps; t && !rs->closing; t = t->next) sio__sac_on_down(t->sac, down_status(rs));
}

static const sio_rlink_hooks_t cmd_hooks = {.ready = on_ready, .lost = on_lost, .up = on_up};
static const sio_rlink_hooks_t sub_hooks = {.fresh = sub_fresh, .ready = on_ready, .lost = on_lost,
                                            .push = on_push, .up = on_up};
static const sio_rlink_hooks_t reader_hooks = {.ready = reader_on_ready, .lost = reader_on_lost,
                                               .up = reader_on_up};

/* ---------------------------------------------------------------------------------------------- */
/* The adapter factory                                                                             */

static void nspt_free_fields(nspt_t *t) {
  free(t->stream);
  free(t->pub_chan);
  free(t->priv_chan);
  free(t);
}

static void rs_free_t(void *tp) {
  nspt_t *t = tp;
  for (nspt_t **p = &t->rs->nsps; *p; p = &(*p)->next)
    if (*p == t) {
      *p = t->next;
      break;
    }
  /* (Restores of this namespace were ended at close: the io is freed only after they were.) */
  for (restore_t *q = t->rs->restores; q; q = q->next)
    if (q->t == t) q->t = NULL;
  nspt_free_fields(t);
}

static const sio_sac_transport_t streams_transport = {
    .publish = rs_publish,
    .publish_response = rs_publish_response,
    .server_count = rs_server_count,
    .room = NULL,
    .persist_session = rs_persist_session,
    .restore_session = rs_restore_session,
    .free = rs_free_t,
    .offsets = 1,
};

/* Node's computeStreamName. */
static char *stream_of(const rs_t *rs, const char *nsp) {
  if (rs->stream_count == 1) return strdup(rs->stream);
  char suffix[24];
  snprintf(suffix, sizeof suffix, "-%d", (int)(sio__rs_hash_code(nsp) % (int32_t)rs->stream_count));
  return concat(rs->stream, suffix, "", "");
}

static sio_adapter_t *rs_create(void *arg, sio_nsp_t *nsp, sio_adapter_t *local) {
  rs_t *rs = arg;
  nspt_t *t = calloc(1, sizeof *t);
  if (!t) return NULL;
  t->rs = rs;
  t->name = sio_nsp_name(nsp);
  t->stream = stream_of(rs, t->name);
  t->pub_chan = concat(rs->prefix, "#", t->name, "#");
  /* Room for PREFIX#NSP#UID#, filled once the adapter (its uid) exists. */
  t->priv_chan = t->pub_chan ? malloc(strlen(t->pub_chan) + SIO_SAC_ID_LEN + 2) : NULL;
  if (!t->stream || !t->pub_chan || !t->priv_chan ||
      !(t->sac = sio__sac_new(nsp, local, &streams_transport, t, rs->timeout_ms))) {
    nspt_free_fields(t);
    return NULL;
  }
  snprintf(t->priv_chan, strlen(t->pub_chan) + SIO_SAC_ID_LEN + 2, "%s%s#", t->pub_chan,
           sio__sac_uid(t->sac));
  t->next = rs->nsps;
  rs->nsps = t;
  subscribe(t);
  return sio__sac_adapter(t->sac);
}

/* The server is shutting down: restores end, the connections go. */
static void rs_close(void *arg) {
  rs_t *rs = arg;
  if (rs->closing) return;
  rs->closing = 1;
  while (rs->restores) restore_end(rs->restores, SIO_ECLOSED);
  /* (The sessions of the sockets the shutdown closed went out already: redis_conn.c writes at once.
   * Another node may restore them, as Node persists on shutdown too.) */
  sio__rlink_close(&rs->cmd);
  sio__rlink_close(&rs->sub);
  for (uint32_t i = 0; i < rs->stream_count; i++) {
    reader_t *rd = &rs->readers[i];
    sio__rlink_close(&rd->link);
    if (rd->retry) uv_close((uv_handle_t *)rd->retry, free_timer);
    rd->retry = NULL;
  }
}

static void rs_free_fields(rs_t *rs) {
  for (uint32_t i = 0; rs->readers && i < rs->stream_count; i++) free(rs->readers[i].name);
  free(rs->readers);
  sio__redis_conf_clear(&rs->conf);
  free(rs->stream);
  free(rs->prefix);
  free(rs->session_prefix);
  free(rs);
}

static void rs_free(void *arg) {
  rs_t *rs = arg;
  rs_close(rs);
  rs_free_fields(rs);
}

int sio_io_use_redis_streams(sio_io_t *io, const sio_redis_streams_options_t *given) {
  sio__error_clear();
  sio_redis_streams_options_t o;
  sio_redis_streams_options_init(&o);
  if (!io || !given || SIO_TAKE_OPTIONS(&o, given, "sio_redis_streams_options") || !o.url)
    return SIO_EINVAL;
  if (o.stream_count == 0 || o.stream_count > 1024 || o.read_count == 0 || o.max_len == 0)
    return sio__fail(SIO_EINVAL, "sio_redis_streams_options: stream_count 1..1024, read_count and "
                                 "max_len > 0");
  int r = sio__io_use_adapters(io, NULL);
  if (r) return r;
  rs_t *rs = calloc(1, sizeof *rs);
  if (!rs) return SIO_ENOMEM;
  r = sio__redis_conf_parse(&rs->conf, o.url);
  rs->stream = strdup(o.stream_name ? o.stream_name : DEFAULT_STREAM);
  rs->prefix = strdup(o.channel_prefix ? o.channel_prefix : DEFAULT_PREFIX);
  rs->session_prefix = strdup(o.session_key_prefix ? o.session_key_prefix : DEFAULT_SESSION_PREFIX);
  rs->stream_count = o.stream_count;
  rs->readers = calloc(o.stream_count, sizeof *rs->readers);
  if (!r && (!rs->stream || !rs->prefix || !rs->session_prefix || !rs->readers)) r = SIO_ENOMEM;
  for (uint32_t i = 0; !r && i < o.stream_count; i++) {
    char suffix[16];
    snprintf(suffix, sizeof suffix, "-%u", i);
    rs->readers[i].name = o.stream_count == 1 ? strdup(rs->stream) : concat(rs->stream, suffix, "", "");
    if (!rs->readers[i].name || !(rs->readers[i].retry = malloc(sizeof(uv_timer_t)))) r = SIO_ENOMEM;
  }
  if (r) {
    for (uint32_t i = 0; rs->readers && i < o.stream_count; i++) free(rs->readers[i].retry);
    rs_free_fields(rs);
    return r;
  }
  rs->io = io;
  rs->conf.server = sio_engine_server(sio_io_engine(io));
  rs->conf.loop = sio_server_loop(rs->conf.server);
  rs->st = sio__io_counters(io);
  rs->st->redis_up = 0;
  rs->max_len = o.max_len;
  rs->read_count = o.read_count;
  rs->block_ms = o.block_ms;
  rs->sharded = o.sharded != 0;
  rs->timeout_ms = o.requests_timeout_ms ? o.requests_timeout_ms : 5000;
  const sio_redis_conf_t *c = &rs->conf;
  r = sio__rlink_init(&rs->cmd, rs, &cmd_hooks, c->server, "command", c->host, c->port, c->user,
                      c->password);
  if (!r) r = sio__rlink_init(&rs->sub, rs, &sub_hooks, c->server, "subscriber", c->host, c->port,
                              c->user, c->password);
  for (uint32_t i = 0; i < rs->stream_count; i++) {
    reader_t *rd = &rs->readers[i];
    rd->rs = rs;
    uv_timer_init(rs->conf.loop, rd->retry);
    rd->retry->data = rd;
    uv_unref((uv_handle_t *)rd->retry);
    if (!r) r = sio__rlink_init(&rd->link, rd, &reader_hooks, c->server, "stream reader", c->host,
                                c->port, c->user, c->password);
  }
  sio_adapter_factory_t f = {rs_create, rs_close, rs_free, rs};
  sio__io_use_adapters(io, &f); /* cannot fail: checked above */
  if (r) { /* ENOMEM: the links that could be made close with the server; the others stay down */
    rs->st->redis_up = 0;
    return 0;
  }
  sio__rlink_open(&rs->cmd);
  sio__rlink_open(&rs->sub);
  for (uint32_t i = 0; i < rs->stream_count; i++) sio__rlink_open(&rs->readers[i].link);
  return 0; /* (a link without a timer stays down: only under ENOMEM) */
}

#endif /* SIO_HAVE_REDIS */
