/* The Redis transport of the cluster adapter, wire-compatible with Node's @socket.io/redis-adapter
 * 8.3 (classic pub/sub; the wire format is described in the project's shared notes,
 * redis-adapter-wire.md): the connections, the channels and the node count. What the messages say
 * is the cluster adapter's (cluster.c).
 *
 * One redis_t per io (sio_io_use_redis installs it as the io's adapter factory) owns two hiredis
 * connections on the server's loop: a connection in subscribe mode can only subscribe, so
 * publishing needs the other. Each namespace's cluster adapter gets channels of its own:
 *   KEY#NSP#        / KEY#NSP#ROOM#   broadcasts (PSUBSCRIBE KEY#NSP#*)
 *   KEY-request#NSP#                  requests (SUBSCRIBE; PUBSUB NUMSUB counts the nodes)
 *   KEY-response#NSP# (+ UID#)        responses (SUBSCRIBE)
 * Subscription callbacks carry the redis_t, never a namespace's channels, and find those by name:
 * a message arriving while a namespace is being freed then finds nothing instead of freed memory. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "adapter/cluster.h"
#include "opts.h"

/* Node's default channels' prefix. */
#define DEFAULT_KEY "socket.io"

void sio_redis_options_init(sio_redis_options_t *opts) {
  memset(opts, 0, sizeof *opts);
  opts->size = sizeof *opts;
  opts->key = DEFAULT_KEY;
  opts->requests_timeout_ms = SIO_CLUSTER_TIMEOUT_MS;
}

#ifndef SIO_HAVE_REDIS

int sio_io_use_redis(sio_io_t *io, const sio_redis_options_t *opts) {
  sio__error_clear();
  (void)io;
  (void)opts;
  return UV_ENOSYS;
}

#else

#include <hiredis/hiredis.h>

#include "adapter/redis_conn.h"
#include "adapter/redis_link.h" /* the URL */
#include "adapter/redis_sharded.h"
#include "transport/log.h"

typedef struct redis redis_t;

enum { LINK_PUB, LINK_SUB };

/* One namespace's transport: its channels, and the cluster adapter they deliver to. */
typedef struct chans {
  redis_t *rd;
  sio_cluster_t *cluster;
  struct chans *next;
  char *bcast_prefix;  /* KEY#NSP# */
  char *bcast_pattern; /* KEY#NSP#* */
  char *req_chan;      /* KEY-request#NSP# */
  char *res_chan;      /* KEY-response#NSP#; + UID# the adapter's own */
} chans_t;

struct redis {
  sio_redis_conf_t conf;        /* where Redis is; the loop and the log sink of the outages */
  char *key;
  uint32_t timeout_ms;
  uint8_t closing;
  sio_rlink_t link[2];          /* LINK_PUB, LINK_SUB (redis_conn.h: connect, backoff, logs) */
  chans_t *nsps;                /* every clustered namespace's */
  sio_io_counters_t *st;        /* the io's metrics */
};

#define PUB(rd) (&(rd)->link[LINK_PUB])
#define SUB(rd) (&(rd)->link[LINK_SUB])

/* The io's gauge follows both connections. */
static void note_up(redis_t *rd) { rd->st->redis_up = rd->link[LINK_PUB].up && rd->link[LINK_SUB].up; }

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

static int pub_ok(const redis_t *rd) { return !rd->closing && sio__rlink_ok(&rd->link[LINK_PUB]); }

/* Requests go out on one connection and their answers come in on the other: both must be up. */
static int both_up(const redis_t *rd) { return pub_ok(rd) && sio__rlink_ok(&rd->link[LINK_SUB]); }

/* Why the other nodes cannot be reached. */
static int down_status(const redis_t *rd) { return rd->closing ? SIO_ECLOSED : SIO_EUNAVAIL; }

/* ---------------------------------------------------------------------------------------------- */
/* The transport                                                                                   */

/* PUBLISH chan data: 0, the down status (Redis is away: local delivery went on) or SIO_ENOMEM
 * (hiredis could not format the command). */
static int rd_publish(void *t, int chan, const char *room, const char *data, size_t len) {
  chans_t *ch = t;
  redis_t *rd = ch->rd;
  if (!pub_ok(rd)) return down_status(rd);
  SIO_DEBUG(rd->conf.server, SIO_DEBUG_REDIS, "publish %s%.64s%s (%zu bytes)",
            chan == SIO_CHAN_REQUEST ? ch->req_chan : ch->bcast_prefix, chan == SIO_CHAN_ROOM ? room : "",
            chan == SIO_CHAN_ROOM ? "#" : "", len);
  int r;
  if (chan == SIO_CHAN_ROOM)
    r = sio__rlink_command(PUB(rd), NULL, NULL, "PUBLISH %s%b# %b", ch->bcast_prefix, room,
                           strlen(room), data, len);
  else
    r = sio__rlink_command(PUB(rd), NULL, NULL, "PUBLISH %s %b",
                           chan == SIO_CHAN_REQUEST ? ch->req_chan : ch->bcast_prefix, data, len);
  if (r) return r;
  rd->st->redis_published++;
  return 0;
}

/* On the shared response channel, as Node answers unless publishOnSpecificResponseChannel: the
 * requester's uid is not needed. */
static int rd_publish_response(void *t, const char *uid, const char *data, size_t len) {
  chans_t *ch = t;
  redis_t *rd = ch->rd;
  (void)uid;
  if (!pub_ok(rd)) return down_status(rd);
  SIO_DEBUG(rd->conf.server, SIO_DEBUG_REDIS, "publish %s (%zu bytes)", ch->res_chan, len);
  int r = sio__rlink_command(PUB(rd), NULL, NULL, "PUBLISH %s %b", ch->res_chan, data, len);
  if (r) return r;
  rd->st->redis_published++;
  return 0;
}

static int chans_alive(const redis_t *rd, uint64_t tag) {
  for (const chans_t *x = rd->nsps; x; x = x->next)
    if ((uintptr_t)x == tag) return 1;
  return 0;
}

/* A PUBSUB NUMSUB reply: the nodes subscribed to the request channel, this one included. */
static void on_numsub(void *owner, uint64_t tag, const char *request_id, long long count) {
  redis_t *rd = owner;
  if (chans_alive(rd, tag))
    sio__cluster_on_server_count(((chans_t *)(uintptr_t)tag)->cluster, request_id,
                                 count < 0 || rd->closing ? down_status(rd) : count);
}

static int rd_server_count(void *t, const char *request_id) {
  chans_t *ch = t;
  redis_t *rd = ch->rd;
  if (!both_up(rd)) return down_status(rd);
  int r = sio__rlink_count(PUB(rd), 0, ch->req_chan, on_numsub, rd, (uintptr_t)ch, request_id);
  return r == SIO_ENOMEM ? r : r ? SIO_EUNAVAIL : 0;
}

/* The namespace's channel names and the chans_t itself (what creation allocates). */
static void free_names(chans_t *ch) {
  free(ch->bcast_prefix);
  free(ch->bcast_pattern);
  free(ch->req_chan);
  free(ch->res_chan);
  free(ch);
}

static void rd_free(void *t) {
  chans_t *ch = t;
  for (chans_t **p = &ch->rd->nsps; *p; p = &(*p)->next)
    if (*p == ch) {
      *p = ch->next;
      break;
    }
  free_names(ch);
}

static const sio_cluster_transport_t redis_transport = {rd_publish, rd_publish_response,
                                                        rd_server_count, rd_free};

/* ---------------------------------------------------------------------------------------------- */
/* Receiving                                                                                       */

/* The adapter's own response channel: KEY-response#NSP#UID#. */
static int is_uid_chan(const chans_t *ch, const char *chan) {
  size_t n = strlen(ch->res_chan);
  const char *uid = sio__cluster_uid(ch->cluster);
  size_t u = strlen(uid);
  return strncmp(chan, ch->res_chan, n) == 0 && strncmp(chan + n, uid, u) == 0 &&
         strcmp(chan + n + u, "#") == 0;
}

/* A message on KEY#NSP#[ROOM#]: the room, if any, goes with it. */
static void on_pmessage(chans_t *ch, const redisReply *chan, const redisReply *msg) {
  size_t plen = strlen(ch->bcast_prefix);
  if (chan->len <= plen) {
    sio__cluster_on_message(ch->cluster, SIO_CHAN_BROADCAST, NULL, msg->str, msg->len);
    return;
  }
  if (chan->str[chan->len - 1] != '#') return;
  char *room = strndup(chan->str + plen, chan->len - plen - 1);
  if (room) sio__cluster_on_message(ch->cluster, SIO_CHAN_ROOM, room, msg->str, msg->len);
  free(room);
}

/* The subscriber's pushes: the pattern or channel names the namespace. */
static void on_push(sio_rlink_t *l, redisReply *r) {
  redis_t *rd = l->owner;
  if (rd->closing || r->type != REDIS_REPLY_ARRAY || r->elements < 3 ||
      r->element[0]->type != REDIS_REPLY_STRING)
    return;
  for (size_t i = 1; i < r->elements; i++)
    if (r->element[i]->type != REDIS_REPLY_STRING) return; /* a subscribe confirmation */
  const char *kind = r->element[0]->str;
  SIO_DEBUG(rd->conf.server, SIO_DEBUG_REDIS, "%s on %.128s (%zu bytes)", kind,
            r->element[r->elements == 4 ? 2 : 1]->str, (size_t)r->element[r->elements - 1]->len);
  if (strcmp(kind, "pmessage") == 0 || strcmp(kind, "message") == 0) rd->st->redis_received++;
  if (strcmp(kind, "pmessage") == 0 && r->elements == 4) {
    const redisReply *pat = r->element[1];
    for (chans_t *ch = rd->nsps; ch; ch = ch->next)
      if (strcmp(ch->bcast_pattern, pat->str) == 0) {
        on_pmessage(ch, r->element[2], r->element[3]);
        break;
      }
  } else if (strcmp(kind, "message") == 0) {
    const redisReply *chan = r->element[1], *msg = r->element[2];
    for (chans_t *ch = rd->nsps; ch; ch = ch->next) {
      if (strcmp(ch->req_chan, chan->str) == 0) {
        sio__cluster_on_message(ch->cluster, SIO_CHAN_REQUEST, NULL, msg->str, msg->len);
        break;
      }
      if (strcmp(ch->res_chan, chan->str) == 0 || is_uid_chan(ch, chan->str)) {
        sio__cluster_on_message(ch->cluster, SIO_CHAN_RESPONSE, NULL, msg->str, msg->len);
        break;
      }
    }
  }
}

static void subscribe(chans_t *ch) {
  redis_t *rd = ch->rd;
  if (rd->closing) return;
  /* (One channel or pattern per command: redis_conn.h matches each confirmation to its command.) */
  sio__rlink_command(SUB(rd), NULL, NULL, "PSUBSCRIBE %s", ch->bcast_pattern);
  sio__rlink_command(SUB(rd), NULL, NULL, "SUBSCRIBE %s", ch->req_chan);
  sio__rlink_command(SUB(rd), NULL, NULL, "SUBSCRIBE %s", ch->res_chan);
  sio__rlink_command(SUB(rd), NULL, NULL, "SUBSCRIBE %s%s#", ch->res_chan,
                    sio__cluster_uid(ch->cluster));
}

/* ---------------------------------------------------------------------------------------------- */
/* The adapter factory                                                                             */

static sio_adapter_t *redis_create(void *arg, sio_nsp_t *nsp, sio_adapter_t *local) {
  redis_t *rd = arg;
  chans_t *ch = calloc(1, sizeof *ch);
  if (!ch) return NULL;
  ch->rd = rd;
  const char *name = sio_nsp_name(nsp);
  ch->bcast_prefix = concat(rd->key, "#", name, "#");
  ch->bcast_pattern = concat(rd->key, "#", name, "#*");
  ch->req_chan = concat(rd->key, "-request#", name, "#");
  ch->res_chan = concat(rd->key, "-response#", name, "#");
  if (!ch->bcast_prefix || !ch->bcast_pattern || !ch->req_chan || !ch->res_chan ||
      !(ch->cluster = sio__cluster_new(nsp, local, &redis_transport, ch, rd->timeout_ms))) {
    free_names(ch);
    return NULL;
  }
  ch->next = rd->nsps;
  rd->nsps = ch;
  subscribe(ch);
  return sio__cluster_adapter(ch->cluster);
}

/* ---------------------------------------------------------------------------------------------- */
/* Connections (redis_link.h). The publisher and the subscriber live apart: either may be down
 * while the other is up; meanwhile broadcasts are delivered here only and cluster requests end at
 * once with SIO_EUNAVAIL. A new subscriber context subscribes every live namespace's channels
 * again. */

static void on_link_ready(sio_rlink_t *l, int restored, double secs) {
  redis_t *rd = l->owner;
  note_up(rd);
  if (!restored) return;
  if (l == SUB(rd)) {
    size_t n = 0;
    for (const chans_t *ch = rd->nsps; ch; ch = ch->next) n++;
    SIO_LOG(rd->conf.server, SIO_LOG_WARN, "redis",
            "subscriber connection restored (%s:%d) after %.1f s; %zu namespace%s subscribed again",
            l->host, l->port, secs, n, n == 1 ? "" : "s");
  } else {
    SIO_LOG(rd->conf.server, SIO_LOG_WARN, "redis", "publisher connection restored (%s:%d) after %.1f s",
            l->host, l->port, secs);
  }
}

static void on_link_up(sio_rlink_t *l) { note_up(l->owner); }

/* Requests waiting for other nodes get no more answers: they end now with what came. */
static void on_link_lost(sio_rlink_t *l) {
  redis_t *rd = l->owner;
  note_up(rd);
  for (chans_t *ch = rd->nsps; ch && !rd->closing; ch = ch->next)
    sio__cluster_on_down(ch->cluster, down_status(rd));
}

static void on_sub_fresh(sio_rlink_t *l) {
  redis_t *rd = l->owner;
  for (chans_t *ch = rd->nsps; ch; ch = ch->next) subscribe(ch);
}

static const sio_rlink_hooks_t pub_hooks = {.ready = on_link_ready, .lost = on_link_lost, .up = on_link_up};
static const sio_rlink_hooks_t sub_hooks = {.fresh = on_sub_fresh, .ready = on_link_ready,
                                            .lost = on_link_lost, .push = on_push, .up = on_link_up};

static void redis_free_fields(redis_t *rd) {
  sio__redis_conf_clear(&rd->conf);
  free(rd->key);
  free(rd);
}


/* The server is shutting down: the connections go (they would keep the loop alive). */
static void redis_close(void *arg) {
  redis_t *rd = arg;
  if (rd->closing) return;
  rd->closing = 1;
  for (int i = 0; i < 2; i++) sio__rlink_close(&rd->link[i]);
}

/* After every namespace (each took its channels off rd->nsps as it was freed). */
static void redis_free(void *arg) {
  redis_t *rd = arg;
  redis_close(rd);
  redis_free_fields(rd);
}

int sio_io_use_redis(sio_io_t *io, const sio_redis_options_t *given) {
  sio__error_clear();
  sio_redis_options_t o;
  sio_redis_options_init(&o);
  if (!io || !given || SIO_TAKE_OPTIONS(&o, given, "sio_redis_options") || !o.url) return SIO_EINVAL;
  if (o.sharded) return sio__redis_sharded_use(io, &o); /* redis_sharded.c */
  int r = sio__io_use_adapters(io, NULL); /* SIO_EEXIST, SIO_ECLOSED before the URL is looked at */
  if (r) return r;
  redis_t *rd = calloc(1, sizeof *rd);
  if (!rd) return SIO_ENOMEM;
  r = sio__redis_conf_parse(&rd->conf, o.url);
  rd->key = strdup(o.key ? o.key : DEFAULT_KEY);
  if (!r && !rd->key) r = SIO_ENOMEM;
  if (r) {
    redis_free_fields(rd);
    return r;
  }
  rd->conf.server = sio_engine_server(sio_io_engine(io));
  rd->conf.loop = sio_server_loop(rd->conf.server);
  rd->st = sio__io_counters(io);
  rd->st->redis_up = 0;
  rd->timeout_ms = o.requests_timeout_ms ? o.requests_timeout_ms : SIO_CLUSTER_TIMEOUT_MS;
  const sio_redis_conf_t *c = &rd->conf;
  r = sio__rlink_init(&rd->link[LINK_PUB], rd, &pub_hooks, c->server, "publisher", c->host, c->port,
                      c->user, c->password);
  if (!r) r = sio__rlink_init(&rd->link[LINK_SUB], rd, &sub_hooks, c->server, "subscriber", c->host,
                              c->port, c->user, c->password);
  if (r) {
    sio__rlink_close(&rd->link[LINK_PUB]);
    redis_free_fields(rd);
    return r;
  }
  /* The namespaces that exist are clustered now (keeping their rooms), those made later too. */
  sio_adapter_factory_t f = {redis_create, redis_close, redis_free, rd};
  sio__io_use_adapters(io, &f); /* cannot fail: checked above */
  sio__rlink_open(&rd->link[LINK_PUB]);
  sio__rlink_open(&rd->link[LINK_SUB]);
  return 0;
}

#endif /* SIO_HAVE_REDIS */
