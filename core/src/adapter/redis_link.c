/* A Redis connection that stays up by itself: see redis_link.h. */
#ifdef SIO_HAVE_REDIS

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/hiredis.h>
#include <openssl/rand.h>

#include "adapter/redis_link.h"
#include "adapter/redis_uv.h"
#include "fail.h"
#include "transport/log.h"

#define DEFAULT_PORT 6379
#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 5000
#define CONNECT_TIMEOUT_MS 5000

/* redis://[[user]:password@]host[:port][/db]. Pub/sub and streams ignore the database number,
 * so /db is accepted and not used. */
int sio__redis_conf_parse(sio_redis_conf_t *c, const char *url) {
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
      if (colon > p) c->user = strndup(p, (size_t)(colon - p));
      c->password = strndup(colon + 1, (size_t)(at - colon - 1));
    } else {
      c->password = strndup(p, (size_t)(at - p));
    }
    p = at + 1;
  }
  const char *colon = memchr(p, ':', (size_t)(end - p));
  c->port = DEFAULT_PORT;
  if (colon) {
    char *e;
    long port = strtol(colon + 1, &e, 10);
    if (e != end || port <= 0 || port > 65535)
      return sio__fail(SIO_EINVAL, "redis URL \"%s\": bad port (%s)", url, form);
    c->port = (int)port;
  }
  const char *hend = colon ? colon : end;
  if (hend == p) return sio__fail(SIO_EINVAL, "redis URL \"%s\" names no host (%s)", url, form);
  c->host = strndup(p, (size_t)(hend - p));
  if (!c->host) return SIO_ENOMEM;
  return 0;
}

void sio__redis_conf_clear(sio_redis_conf_t *c) {
  free(c->host);
  free(c->user);
  free(c->password);
  c->host = c->user = c->password = NULL;
}

static void on_link_timer(uv_timer_t *t);
static void on_connect(const redisAsyncContext *ac, int status);
static void on_disconnect(const redisAsyncContext *ac, int status);

sio_redis_link_t *sio__redis_link_of(const redisAsyncContext *ac) {
  sio_redis_link_t *l = ac ? ac->data : NULL;
  if (!l || l->closing || l->ac != ac) return NULL;
  return l;
}

static void link_down(sio_redis_link_t *l, const char *what, const char *why) {
  l->ready = 0;
  if (l->down) return; /* retries fail quietly until the outage ends */
  const sio_redis_conf_t *c = l->conf;
  why = why && *why ? why : "unknown error";
  SIO_DEBUG(c->server, SIO_DEBUG_REDIS, "%s link down (%s:%d): %s: %s", l->name, c->host, c->port,
            what, why);
  l->down = 1;
  l->down_at = uv_now(c->loop);
  SIO_LOG(c->server, SIO_LOG_WARN, "redis",
          "%s %s: %s (%s:%d); retrying with backoff, local delivery goes on", l->name, what, why,
          c->host, c->port);
}

static void link_retry_later(sio_redis_link_t *l) {
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
  sio_redis_link_t *l = sio__redis_link_of(ac);
  const redisReply *r = reply;
  if (!l || !r) return;
  const sio_redis_conf_t *c = l->conf;
  if (r->type == REDIS_REPLY_ERROR) {
    /* Connected but not served (a wrong password, a dataset still loading): nothing else would
     * say so. */
    SIO_LOG(c->server, SIO_LOG_ERROR, "redis", "%s connection (%s:%d) answers with an error: %s",
            l->name, c->host, c->port, r->str);
    return;
  }
  l->delay_ms = BACKOFF_MIN_MS;
  l->ready = 1;
  int restored = l->down;
  if (restored) {
    l->down = 0;
    SIO_LOG(c->server, SIO_LOG_WARN, "redis", "%s connection restored (%s:%d) after %.1f s", l->name,
            c->host, c->port, (double)(uv_now(c->loop) - l->down_at) / 1000.0);
  }
  if (l->ops->on_ready) l->ops->on_ready(l, restored);
}

/* A new context for the link, to `ip` (an address literal). AUTH and PING are queued at once
 * (hiredis writes them first once connected), then what the owner wants. The link's timer already
 * bounds the attempt. */
static void link_connect(sio_redis_link_t *l, const char *ip) {
  const sio_redis_conf_t *c = l->conf;
  redisAsyncContext *ac = redisAsyncConnect(ip, c->port);
  if (!ac || ac->err || sio__redis_uv_attach(ac, c->loop) != REDIS_OK) {
    link_down(l, "connection failed",
              !ac ? "out of memory" : ac->err ? ac->errstr : "cannot poll its socket");
    if (ac) redisAsyncFree(ac); /* no event hooks yet, or none that were started */
    link_retry_later(l);
    return;
  }
  ac->data = l;
  redisAsyncSetConnectCallback(ac, on_connect);
  redisAsyncSetDisconnectCallback(ac, on_disconnect);
  if (c->password) {
    if (c->user) redisAsyncCommand(ac, NULL, NULL, "AUTH %s %s", c->user, c->password);
    else redisAsyncCommand(ac, NULL, NULL, "AUTH %s", c->password);
  }
  /* Also something to write, so that the connection's outcome is seen now, not at the first
   * command. */
  redisAsyncCommand(ac, on_ping, NULL, "PING");
  l->ac = ac;
  if (l->ops->on_context) l->ops->on_context(l, ac);
}

/* hiredis 0.14 resolves a host name with a blocking getaddrinfo() inside its connect: a name is
 * resolved here first, on libuv's thread pool, so that a slow or absent DNS never stalls the loop.
 * The request outlives a closed link when the lookup is under way: it then only frees itself. */
struct sio_redis_resolve {
  uv_getaddrinfo_t req;
  sio_redis_link_t *link; /* NULL once the link gave up on it (closed, or the attempt timed out) */
};

static void resolve_abandon(sio_redis_link_t *l) {
  if (!l->resolving) return;
  l->resolving->link = NULL;
  uv_cancel((uv_req_t *)&l->resolving->req); /* or it finishes and frees itself */
  l->resolving = NULL;
}

static void on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res) {
  struct sio_redis_resolve *rv = req->data;
  sio_redis_link_t *l = rv->link;
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
static void link_open(sio_redis_link_t *l) {
  const sio_redis_conf_t *c = l->conf;
  unsigned char buf[sizeof(struct in6_addr)];
  uv_timer_start(l->timer, on_link_timer, CONNECT_TIMEOUT_MS, 0);
  if (uv_inet_pton(AF_INET, c->host, buf) == 0 || uv_inet_pton(AF_INET6, c->host, buf) == 0) {
    link_connect(l, c->host);
    return;
  }
  struct sio_redis_resolve *rv = calloc(1, sizeof *rv);
  struct addrinfo hints;
  memset(&hints, 0, sizeof hints);
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  int r = rv ? 0 : UV_ENOMEM;
  if (rv) {
    rv->link = l;
    rv->req.data = rv;
    r = uv_getaddrinfo(c->loop, &rv->req, on_resolved, c->host, NULL, &hints);
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
  sio_redis_link_t *l = t->data;
  if (l->closing || (l->ac && l->up)) return;
  if (l->resolving) { /* the name did not resolve in time */
    resolve_abandon(l);
    link_down(l, "connection failed", "the host name did not resolve in time");
    link_retry_later(l);
    return;
  }
  if (!l->ac) {
    link_open(l); /* the backoff is over */
    return;
  }
  /* The attempt took too long. Never connected, the context gets no disconnect callback; its
   * queued callbacks see NULL replies and a context that is no longer the link's. */
  redisAsyncContext *stale = l->ac;
  l->ac = NULL;
  link_down(l, "connection failed", "timed out");
  redisAsyncFree(stale);
  link_retry_later(l);
}

static void on_connect(const redisAsyncContext *ac, int status) {
  sio_redis_link_t *l = sio__redis_link_of(ac);
  if (!l) return;
  uv_timer_stop(l->timer);
  if (status != REDIS_OK) {
    l->ac = NULL; /* hiredis frees the context once this returns */
    link_down(l, "connection failed", ac->errstr);
    link_retry_later(l);
    return;
  }
  l->up = 1;
  SIO_DEBUG(l->conf->server, SIO_DEBUG_REDIS, "%s link up (%s:%d)", l->name, l->conf->host,
            l->conf->port);
}

static void on_disconnect(const redisAsyncContext *ac, int status) {
  sio_redis_link_t *l = sio__redis_link_of(ac);
  if (!l) return; /* closing: nothing to retry */
  l->ac = NULL; /* hiredis frees the context once this returns */
  l->up = 0;
  link_down(l, "connection lost", status == REDIS_OK ? "closed" : ac->errstr);
  link_retry_later(l);
  if (l->ops->on_lost) l->ops->on_lost(l);
}

static void free_handle(uv_handle_t *h) { free(h); }

int sio__redis_link_start(sio_redis_link_t *l) {
  l->delay_ms = BACKOFF_MIN_MS;
  l->timer = malloc(sizeof *l->timer);
  if (!l->timer) return SIO_ENOMEM;
  uv_timer_init(l->conf->loop, l->timer);
  l->timer->data = l;
  /* Retrying is no reason to keep a loop alive that has nothing else to do. */
  uv_unref((uv_handle_t *)l->timer);
  link_open(l);
  return 0;
}

void sio__redis_link_close(sio_redis_link_t *l) {
  if (l->closing) return;
  l->closing = 1;
  resolve_abandon(l);
  if (l->timer) uv_close((uv_handle_t *)l->timer, free_handle);
  l->timer = NULL;
  redisAsyncContext *ac = l->ac;
  l->ac = NULL;
  l->up = l->ready = 0;
  if (ac) ac->data = NULL; /* its last callbacks find no link: the owner may free it now */
  /* Freed now: its queued callbacks see NULL replies. Inside one of its own reply callbacks a
   * context is freed as soon as that callback returns (hiredis defers it, and never longer). */
  if (ac) redisAsyncFree(ac);
}

#endif /* SIO_HAVE_REDIS */
