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

/* Node's defaults: the channels' prefix, and Redis' port. */
#define DEFAULT_KEY "socket.io"
#define DEFAULT_PORT 6379

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

#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <openssl/rand.h>

#include "adapter/redis_uv.h"
#include "transport/log.h"

typedef struct redis redis_t;
typedef struct resolve resolve_t;

/* The lifecycle of one of the two connections. Down, its timer waits out the backoff before the
 * next attempt; connecting, the same timer bounds the attempt (hiredis 0.14 has no async connect
 * timeout, and a host that drops SYNs would hold the link for minutes). */
typedef struct redis_link {
  redis_t *rd;
  uv_timer_t *timer;    /* heap: its close completes after the redis_t may be gone */
  resolve_t *resolving; /* the host name being resolved for the next attempt, or NULL */
  uint32_t delay_ms;    /* the next backoff */
  uint64_t down_at;     /* loop time the outage was logged */
  uint8_t down;         /* an outage was logged: its end will be, and nothing in between */
  uint8_t is_sub;
} redis_link_t;

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
  uv_loop_t *loop;
  sio_server_t *server; /* whose log sink gets the outages */
  char *host, *user, *password, *key;
  int port;
  uint32_t timeout_ms;
  redisAsyncContext *pub, *sub; /* NULL while down */
  uint8_t pub_up, sub_up;       /* connected */
  uint8_t closing;
  redis_link_t link[2];         /* LINK_PUB, LINK_SUB */
  chans_t *nsps;                /* every clustered namespace's */
  sio_io_counters_t *st;        /* the io's metrics */
};

/* The io's gauge follows both connections. */
static void note_up(redis_t *rd) { rd->st->redis_up = rd->pub_up && rd->sub_up; }

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

static int pub_ok(const redis_t *rd) { return !rd->closing && rd->pub && rd->pub_up; }

/* Requests go out on one connection and their answers come in on the other: both must be up. */
static int both_up(const redis_t *rd) { return pub_ok(rd) && rd->sub && rd->sub_up; }

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
  SIO_DEBUG(rd->server, SIO_DEBUG_REDIS, "publish %s%.64s%s (%zu bytes)",
            chan == SIO_CHAN_REQUEST ? ch->req_chan : ch->bcast_prefix, chan == SIO_CHAN_ROOM ? room : "",
            chan == SIO_CHAN_ROOM ? "#" : "", len);
  int r;
  if (chan == SIO_CHAN_ROOM)
    r = redisAsyncCommand(rd->pub, NULL, NULL, "PUBLISH %s%b# %b", ch->bcast_prefix, room,
                          strlen(room), data, len);
  else
    r = redisAsyncCommand(rd->pub, NULL, NULL, "PUBLISH %s %b",
                          chan == SIO_CHAN_REQUEST ? ch->req_chan : ch->bcast_prefix, data, len);
  if (r != REDIS_OK) return SIO_ENOMEM;
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
  SIO_DEBUG(rd->server, SIO_DEBUG_REDIS, "publish %s (%zu bytes)", ch->res_chan, len);
  if (redisAsyncCommand(rd->pub, NULL, NULL, "PUBLISH %s %b", ch->res_chan, data, len) != REDIS_OK)
    return SIO_ENOMEM;
  rd->st->redis_published++;
  return 0;
}

/* What a PUBSUB NUMSUB reply is for (its namespace checked against the live ones before use). */
typedef struct {
  chans_t *ch;
  char request_id[SIO_CLUSTER_ID_LEN + 1];
} numsub_t;

static int chans_alive(const redis_t *rd, const chans_t *ch) {
  for (const chans_t *x = rd->nsps; x; x = x->next)
    if (x == ch) return 1;
  return 0;
}

/* The number of nodes subscribed to the request channel, this one included; -1 on error. */
static long long numsub_count(const redisReply *rp) {
  if (!rp || rp->type != REDIS_REPLY_ARRAY || rp->elements < 2 || rp->element[1]->type != REDIS_REPLY_INTEGER)
    return -1;
  return rp->element[1]->integer;
}

static void on_numsub(redisAsyncContext *ac, void *reply, void *privdata) {
  numsub_t *n = privdata;
  redis_t *rd = ac->data;
  long long count = numsub_count(reply);
  if (chans_alive(rd, n->ch))
    sio__cluster_on_server_count(n->ch->cluster, n->request_id,
                                 count < 0 || rd->closing ? down_status(rd) : count);
  free(n);
}

static int rd_server_count(void *t, const char *request_id) {
  chans_t *ch = t;
  redis_t *rd = ch->rd;
  if (!both_up(rd)) return down_status(rd);
  numsub_t *n = calloc(1, sizeof *n);
  if (!n) return SIO_ENOMEM;
  n->ch = ch;
  snprintf(n->request_id, sizeof n->request_id, "%s", request_id);
  if (redisAsyncCommand(rd->pub, on_numsub, n, "PUBSUB NUMSUB %s", ch->req_chan) != REDIS_OK) {
    free(n);
    return SIO_EUNAVAIL;
  }
  return 0;
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

/* Every subscription's callback: the reply names the pattern or channel, which names the
 * namespace. */
static void on_sub_reply(redisAsyncContext *ac, void *reply, void *privdata) {
  (void)privdata;
  redis_t *rd = ac->data;
  redisReply *r = reply;
  if (!r || !rd || rd->closing || r->type != REDIS_REPLY_ARRAY || r->elements < 3 ||
      r->element[0]->type != REDIS_REPLY_STRING)
    return;
  for (size_t i = 1; i < r->elements; i++)
    if (r->element[i]->type != REDIS_REPLY_STRING) return; /* a subscribe confirmation */
  const char *kind = r->element[0]->str;
  SIO_DEBUG(rd->server, SIO_DEBUG_REDIS, "%s on %.128s (%zu bytes)", kind,
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
  if (!rd->sub || rd->closing) return;
  redisAsyncCommand(rd->sub, on_sub_reply, NULL, "PSUBSCRIBE %s", ch->bcast_pattern);
  redisAsyncCommand(rd->sub, on_sub_reply, NULL, "SUBSCRIBE %s", ch->req_chan);
  redisAsyncCommand(rd->sub, on_sub_reply, NULL, "SUBSCRIBE %s", ch->res_chan);
  redisAsyncCommand(rd->sub, on_sub_reply, NULL, "SUBSCRIBE %s%s#", ch->res_chan,
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
  return l->is_sub ? &l->rd->sub : &l->rd->pub;
}
static uint8_t *link_up(redis_link_t *l) { return l->is_sub ? &l->rd->sub_up : &l->rd->pub_up; }
static const char *link_name(const redis_link_t *l) {
  return l->is_sub ? "subscriber" : "publisher";
}

/* The link whose current context `ac` is; NULL for a context already let go of (its last
 * callbacks still run) and once the cluster closes. */
static redis_link_t *link_of(redis_t *rd, const redisAsyncContext *ac) {
  if (!rd || rd->closing) return NULL;
  if (ac == rd->pub) return &rd->link[LINK_PUB];
  if (ac == rd->sub) return &rd->link[LINK_SUB];
  return NULL;
}

static void link_down(redis_link_t *l, const char *what, const char *why) {
  if (l->down) return; /* retries fail quietly until the outage ends */
  redis_t *rd = l->rd;
  SIO_DEBUG(rd->server, SIO_DEBUG_REDIS, "%s link down (%s:%d): %s: %s", link_name(l), rd->host, rd->port,
            what, why && *why ? why : "unknown error");
  l->down = 1;
  l->down_at = uv_now(rd->loop);
  SIO_LOG(rd->server, SIO_LOG_WARN, "redis",
          "%s %s: %s (%s:%d); retrying with backoff, local delivery goes on", link_name(l), what, why && *why ? why : "unknown error", rd->host, rd->port);
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
 * start over, so that a Redis that accepts and drops connections is not knocked at every
 * BACKOFF_MIN_MS. */
static void on_ping(redisAsyncContext *ac, void *reply, void *privdata) {
  (void)privdata;
  redis_t *rd = ac->data;
  redis_link_t *l = link_of(rd, ac);
  const redisReply *r = reply;
  if (!l || !r) return;
  if (r->type == REDIS_REPLY_ERROR) {
    /* Connected but not served (a wrong password, a dataset still loading): nothing else would
     * say so. */
    SIO_LOG(rd->server, SIO_LOG_ERROR, "redis", "%s connection (%s:%d) answers with an error: %s", link_name(l),
            rd->host, rd->port, r->str);
    return;
  }
  l->delay_ms = BACKOFF_MIN_MS;
  if (!l->down) return;
  l->down = 0;
  double secs = (double)(uv_now(rd->loop) - l->down_at) / 1000.0;
  if (l->is_sub) {
    size_t n = 0;
    for (const chans_t *ch = rd->nsps; ch; ch = ch->next) n++;
    SIO_LOG(rd->server, SIO_LOG_WARN, "redis",
            "subscriber connection restored (%s:%d) after %.1f s; %zu namespace%s "
            "subscribed again",
            rd->host, rd->port, secs, n, n == 1 ? "" : "s");
  } else {
    SIO_LOG(rd->server, SIO_LOG_WARN, "redis", "publisher connection restored (%s:%d) after %.1f s", rd->host,
            rd->port, secs);
  }
}

/* A new context for the link, to `ip` (an address literal). AUTH and PING are queued at once
 * (hiredis writes them first once connected), then, for the subscriber, the subscriptions of every
 * live namespace. The link's timer already bounds the attempt. */
static void link_connect(redis_link_t *l, const char *ip) {
  redis_t *rd = l->rd;
  redisAsyncContext *ac = redisAsyncConnect(ip, rd->port);
  if (!ac || ac->err || sio__redis_uv_attach(ac, rd->loop) != REDIS_OK) {
    link_down(l, "connection failed",
              !ac ? "out of memory" : ac->err ? ac->errstr : "cannot poll its socket");
    if (ac) redisAsyncFree(ac); /* no event hooks yet, or none that were started */
    link_retry_later(l);
    return;
  }
  ac->data = rd;
  redisAsyncSetConnectCallback(ac, on_connect);
  redisAsyncSetDisconnectCallback(ac, on_disconnect);
  if (rd->password) {
    if (rd->user) redisAsyncCommand(ac, NULL, NULL, "AUTH %s %s", rd->user, rd->password);
    else redisAsyncCommand(ac, NULL, NULL, "AUTH %s", rd->password);
  }
  /* Also something to write, so that the connection's outcome is seen now, not at the first
   * publish. */
  redisAsyncCommand(ac, on_ping, NULL, "PING");
  *link_ctx(l) = ac;
  if (l->is_sub)
    for (chans_t *ch = rd->nsps; ch; ch = ch->next) subscribe(ch);
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
  redis_t *rd = l->rd;
  unsigned char buf[sizeof(struct in6_addr)];
  uv_timer_start(l->timer, on_link_timer, CONNECT_TIMEOUT_MS, 0);
  if (uv_inet_pton(AF_INET, rd->host, buf) == 0 || uv_inet_pton(AF_INET6, rd->host, buf) == 0) {
    link_connect(l, rd->host);
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
    r = uv_getaddrinfo(rd->loop, &rv->req, on_resolved, rd->host, NULL, &hints);
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
  if (l->rd->closing || (*ac && *link_up(l))) return;
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
  SIO_DEBUG(l->rd->server, SIO_DEBUG_REDIS, "%s link up (%s:%d)", link_name(l), l->rd->host, l->rd->port);
  note_up(l->rd);
}

static void on_disconnect(const redisAsyncContext *ac, int status) {
  redis_t *rd = ac->data;
  redis_link_t *l = link_of(rd, ac);
  if (!l) return; /* closing: nothing to retry */
  *link_ctx(l) = NULL; /* hiredis frees the context once this returns */
  *link_up(l) = 0;
  note_up(rd);
  link_down(l, "connection lost", status == REDIS_OK ? "closed" : ac->errstr);
  link_retry_later(l);
  /* Requests waiting for other nodes get no more answers: they end now with what came. */
  for (chans_t *ch = rd->nsps; ch && !rd->closing; ch = ch->next)
    sio__cluster_on_down(ch->cluster, down_status(rd));
}

/* redis://[[user]:password@]host[:port][/db]. Pub/sub ignores the database number, so /db is
 * accepted and not used. */
static int parse_url(redis_t *rd, const char *url) {
  const char *p;
  static const char form[] = "redis://[[user]:password@]host[:port][/db]";
  if (strncmp(url, "redis://", 8) != 0)
    return sio__fail(SIO_EINVAL, "redis URL \"%s\" does not start with redis:// (%s)", url, form);
  p = url + 8;
  const char *end = p + strcspn(p, "/?#");
  const char *at = NULL;
  for (const char *q = p; q < end; q++)
    if (*q == '@') at = q;
  if (at) {
    const char *colon = memchr(p, ':', (size_t)(at - p));
    if (colon) {
      if (colon > p) rd->user = strndup(p, (size_t)(colon - p));
      rd->password = strndup(colon + 1, (size_t)(at - colon - 1));
    } else {
      rd->password = strndup(p, (size_t)(at - p));
    }
    p = at + 1;
  }
  const char *colon = memchr(p, ':', (size_t)(end - p));
  rd->port = DEFAULT_PORT;
  if (colon) {
    char *e;
    long port = strtol(colon + 1, &e, 10);
    if (e != end || port <= 0 || port > 65535)
      return sio__fail(SIO_EINVAL, "redis URL \"%s\": bad port (%s)", url, form);
    rd->port = (int)port;
  }
  const char *hend = colon ? colon : end;
  if (hend == p) return sio__fail(SIO_EINVAL, "redis URL \"%s\" names no host (%s)", url, form);
  rd->host = strndup(p, (size_t)(hend - p));
  if (!rd->host) return SIO_ENOMEM;
  return 0;
}

static void redis_free_fields(redis_t *rd) {
  free(rd->host);
  free(rd->user);
  free(rd->password);
  free(rd->key);
  free(rd);
}


static void free_handle(uv_handle_t *h) { free(h); }

/* The server is shutting down: the connections go (they would keep the loop alive). */
static void redis_close(void *arg) {
  redis_t *rd = arg;
  if (rd->closing) return;
  rd->closing = 1;
  for (int i = 0; i < 2; i++) {
    resolve_abandon(&rd->link[i]);
    uv_close((uv_handle_t *)rd->link[i].timer, free_handle);
    rd->link[i].timer = NULL;
  }
  redisAsyncContext *ctx[2] = {rd->pub, rd->sub};
  rd->pub = rd->sub = NULL;
  rd->pub_up = rd->sub_up = 0;
  /* Freed now: their queued callbacks see NULL replies. Inside one of its own reply callbacks a
   * context is freed as soon as that callback returns (hiredis defers it, and never longer),
   * so nothing of it outlives the redis_t. */
  for (int i = 0; i < 2; i++)
    if (ctx[i]) redisAsyncFree(ctx[i]);
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
  int r = sio__io_use_adapters(io, NULL); /* SIO_EEXIST, SIO_ECLOSED before the URL is looked at */
  if (r) return r;
  redis_t *rd = calloc(1, sizeof *rd);
  if (!rd) return SIO_ENOMEM;
  r = parse_url(rd, o.url);
  rd->key = strdup(o.key ? o.key : DEFAULT_KEY);
  if (!r && !rd->key) r = SIO_ENOMEM;
  if (r) {
    redis_free_fields(rd);
    return r;
  }
  rd->server = sio_engine_server(sio_io_engine(io));
  rd->st = sio__io_counters(io);
  rd->st->redis_up = 0;
  rd->loop = sio_server_loop(rd->server);
  rd->timeout_ms = o.requests_timeout_ms ? o.requests_timeout_ms : SIO_CLUSTER_TIMEOUT_MS;
  for (int i = 0; i < 2; i++) {
    rd->link[i].rd = rd;
    rd->link[i].is_sub = i == LINK_SUB;
    rd->link[i].delay_ms = BACKOFF_MIN_MS;
    rd->link[i].timer = malloc(sizeof(uv_timer_t));
  }
  if (!rd->link[0].timer || !rd->link[1].timer) {
    free(rd->link[0].timer);
    free(rd->link[1].timer);
    redis_free_fields(rd);
    return SIO_ENOMEM;
  }
  for (int i = 0; i < 2; i++) {
    uv_timer_init(rd->loop, rd->link[i].timer);
    rd->link[i].timer->data = &rd->link[i];
    /* Retrying is no reason to keep a loop alive that has nothing else to do. */
    uv_unref((uv_handle_t *)rd->link[i].timer);
  }
  /* The namespaces that exist are clustered now (keeping their rooms), those made later too. */
  sio_adapter_factory_t f = {redis_create, redis_close, redis_free, rd};
  sio__io_use_adapters(io, &f); /* cannot fail: checked above */
  link_open(&rd->link[LINK_PUB]);
  link_open(&rd->link[LINK_SUB]);
  return 0;
}

#endif /* SIO_HAVE_REDIS */
