/* Redis connections: a RESP client on libuv and the lifecycle of a link (redis_conn.h). */
#ifdef SIO_HAVE_REDIS

#include "adapter/redis_conn.h"

#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "transport/log.h"

/* ---------------------------------------------------------------------------------------------- */
/* The RESP client                                                                                 */

/* A command waiting for its reply. A subscription command's reply is a confirmation array, told
 * apart from a push of the same kind by its kind and channel (sub, "kind\0channel"). */
typedef struct pending {
  struct pending *next;
  sio_rconn_cb cb;
  void *arg;
  char *sub;
  size_t sub_kind_len, sub_len;
} pending_t;

struct sio_rconn {
  uv_tcp_t tcp;
  uv_connect_t creq;
  redisReader *reader;
  sio_rlink_t *link; /* NULL once the link let go of it: nothing more is delivered */
  pending_t *head, *tail;
  uint8_t dead;
};

typedef struct {
  uv_write_t req;
  char *cmd;
} wreq_t;

static void conn_failed(sio_rconn_t *c, const char *why, int connecting);

/* A system error as the C library words it ("Connection refused"), as hiredis reported it. */
static const char *why_text(int err) { return err > -1000 ? strerror(-err) : uv_strerror(err); }

static void on_conn_closed(uv_handle_t *h) {
  sio_rconn_t *c = h->data;
  if (c->reader) redisReaderFree(c->reader);
  free(c);
}

/* The commands still waiting get NULL replies; the socket closes; nothing more is delivered. */
static void conn_kill(sio_rconn_t *c) {
  if (c->dead) return;
  c->dead = 1;
  sio_rlink_t *l = c->link;
  c->link = NULL;
  while (c->head) {
    pending_t *p = c->head;
    c->head = p->next;
    if (p->cb) p->cb(l, NULL, p->arg);
    free(p->sub);
    free(p);
  }
  c->tail = NULL;
  uv_close((uv_handle_t *)&c->tcp, on_conn_closed);
}

static const char *const PUSH_KINDS[] = {"message", "smessage", "pmessage"};
static const char *const CONFIRM_KINDS[] = {"subscribe", "ssubscribe", "psubscribe",
                                            "unsubscribe", "sunsubscribe", "punsubscribe"};

static int kind_in(const redisReply *k, const char *const *kinds, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (k->len == strlen(kinds[i]) && strncasecmp(k->str, kinds[i], k->len) == 0) return 1;
  return 0;
}

/* A push (handed to the push hook) rather than the reply of the command at the head. */
static int is_push(const sio_rconn_t *c, const redisReply *r) {
  if (r->type != REDIS_REPLY_ARRAY || r->elements < 3 || r->element[0]->type != REDIS_REPLY_STRING)
    return 0;
  const redisReply *k = r->element[0];
  if (kind_in(k, PUSH_KINDS, 3)) return 1;
  if (!kind_in(k, CONFIRM_KINDS, 6)) return 0;
  const pending_t *p = c->head;
  const redisReply *ch = r->element[1];
  if (!p || !p->sub || ch->type != REDIS_REPLY_STRING) return 1;
  return !(p->sub_kind_len == k->len && strncasecmp(p->sub, k->str, k->len) == 0 &&
           p->sub_len - p->sub_kind_len - 1 == ch->len &&
           memcmp(p->sub + p->sub_kind_len + 1, ch->str, ch->len) == 0);
}

static void dispatch(sio_rconn_t *c, redisReply *r) {
  sio_rlink_t *l = c->link;
  if (is_push(c, r)) {
    if (l->hooks->push) l->hooks->push(l, r);
    return;
  }
  pending_t *p = c->head;
  if (!p) return; /* an answer to nothing: ignored */
  c->head = p->next;
  if (!c->head) c->tail = NULL;
  if (p->cb) p->cb(l, r, p->arg);
  free(p->sub);
  free(p);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  (void)h;
  buf->base = malloc(suggested);
  buf->len = buf->base ? suggested : 0;
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf) {
  sio_rconn_t *c = s->data;
  if (n < 0 || c->dead) {
    free(buf->base);
    if (n < 0 && !c->dead) conn_failed(c, n == UV_EOF ? "closed" : why_text((int)n), 0);
    return;
  }
  int bad = n > 0 && redisReaderFeed(c->reader, buf->base, (size_t)n) != REDIS_OK;
  free(buf->base);
  while (!bad && !c->dead) {
    void *reply = NULL;
    if (redisReaderGetReply(c->reader, &reply) != REDIS_OK) bad = 1;
    if (!reply) break;
    dispatch(c, reply);
    freeReplyObject(reply);
  }
  if (bad && !c->dead) conn_failed(c, "protocol error", 0);
}

static void on_connected(uv_connect_t *req, int status) {
  sio_rconn_t *c = req->data;
  if (c->dead) return;
  if (status < 0) {
    conn_failed(c, why_text(status), 1);
    return;
  }
  uv_tcp_nodelay(&c->tcp, 1);
  int r = uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
  if (r) {
    conn_failed(c, why_text(r), 1);
    return;
  }
  sio_rlink_t *l = c->link;
  uv_timer_stop(l->timer);
  l->up = 1;
  SIO_DEBUG(l->server, SIO_DEBUG_REDIS, "%s link up (%s:%d)", l->name, l->host, l->port);
  if (l->hooks->up) l->hooks->up(l);
}

static void on_written(uv_write_t *req, int status) {
  wreq_t *w = (wreq_t *)req;
  sio_rconn_t *c = req->data;
  free(w->cmd);
  free(w);
  if (status < 0 && !c->dead) conn_failed(c, why_text(status), 0);
}

static sio_rconn_t *conn_new(sio_rlink_t *l, const char *ip, int *err) {
  sio_rconn_t *c = calloc(1, sizeof *c);
  struct sockaddr_storage sa;
  *err = UV_ENOMEM;
  if (!c || !(c->reader = redisReaderCreate())) {
    free(c);
    return NULL;
  }
  *err = strchr(ip, ':') ? uv_ip6_addr(ip, l->port, (struct sockaddr_in6 *)&sa)
                         : uv_ip4_addr(ip, l->port, (struct sockaddr_in *)&sa);
  if (!*err) *err = uv_tcp_init(l->loop, &c->tcp);
  if (*err) {
    redisReaderFree(c->reader);
    free(c);
    return NULL;
  }
  c->tcp.data = c;
  c->creq.data = c;
  c->link = l;
  *err = uv_tcp_connect(&c->creq, &c->tcp, (struct sockaddr *)&sa, on_connected);
  if (*err) {
    c->dead = 1;
    uv_close((uv_handle_t *)&c->tcp, on_conn_closed);
    return NULL;
  }
  return c;
}

/* A formatted command's first two bulk strings ("*N\r\n$L\r\nNAME\r\n$L\r\nARG\r\n"). */
static int bulk_at(const char *cmd, size_t len, size_t *pos, const char **s, size_t *n) {
  size_t i = *pos;
  if (i >= len || cmd[i] != '$') return 0;
  char *e;
  unsigned long v = strtoul(cmd + i + 1, &e, 10);
  i = (size_t)(e - cmd) + 2;
  if (i + v + 2 > len) return 0;
  *s = cmd + i;
  *n = v;
  *pos = i + v + 2;
  return 1;
}

/* "kind\0channel" when cmd subscribes or unsubscribes one channel. */
static int sub_key(pending_t *p, const char *cmd, size_t len) {
  const char *nl = memchr(cmd, '\n', len);
  size_t pos = nl ? (size_t)(nl - cmd) + 1 : len;
  const char *name, *arg;
  size_t nn, an;
  if (!bulk_at(cmd, len, &pos, &name, &nn) || nn > 16) return 0;
  redisReply k = {.type = REDIS_REPLY_STRING, .str = (char *)name, .len = nn};
  if (!kind_in(&k, CONFIRM_KINDS, 6) || !bulk_at(cmd, len, &pos, &arg, &an)) return 0;
  if (!(p->sub = malloc(nn + 1 + an))) return -1;
  for (size_t i = 0; i < nn; i++) p->sub[i] = (char)(name[i] | 0x20);
  p->sub[nn] = 0;
  memcpy(p->sub + nn + 1, arg, an);
  p->sub_kind_len = nn;
  p->sub_len = nn + 1 + an;
  return 0;
}

/* Takes cmd (malloc'd by hiredis' formatter). */
static int conn_send(sio_rconn_t *c, sio_rconn_cb cb, void *arg, char *cmd, int len) {
  pending_t *p = len > 0 ? calloc(1, sizeof *p) : NULL;
  wreq_t *w = p ? malloc(sizeof *w) : NULL;
  if (!w || sub_key(p, cmd, (size_t)len) < 0) {
    free(p ? p->sub : NULL);
    free(p);
    free(w);
    free(cmd);
    return SIO_ENOMEM;
  }
  w->cmd = cmd;
  w->req.data = c;
  uv_buf_t b = uv_buf_init(cmd, (unsigned)len);
  int r = uv_write(&w->req, (uv_stream_t *)&c->tcp, &b, 1, on_written);
  if (r) {
    free(p->sub);
    free(p);
    free(cmd);
    free(w);
    return SIO_EUNAVAIL;
  }
  p->cb = cb;
  p->arg = arg;
  if (c->tail) c->tail->next = p;
  else c->head = p;
  c->tail = p;
  return 0;
}

/* ---------------------------------------------------------------------------------------------- */
/* The link                                                                                         */

#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 5000
#define CONNECT_TIMEOUT_MS 5000

struct sio_rlink_resolve {
  uv_getaddrinfo_t req;
  sio_rlink_t *link; /* NULL once the link gave up on it (closed, or the attempt timed out) */
};

static void on_link_timer(uv_timer_t *t);

static void link_down(sio_rlink_t *l, const char *what, const char *why) {
  if (l->down) return; /* retries fail quietly until the outage ends */
  why = why && *why ? why : "unknown error";
  SIO_DEBUG(l->server, SIO_DEBUG_REDIS, "%s link down (%s:%d): %s: %s", l->name, l->host, l->port,
            what, why);
  l->down = 1;
  l->down_at = uv_now(l->loop);
  SIO_LOG(l->server, SIO_LOG_WARN, "redis",
          "%s %s: %s (%s:%d); retrying with backoff, local delivery goes on", l->name, what, why,
          l->host, l->port);
}

static void link_retry_later(sio_rlink_t *l) {
  uint32_t d = l->delay_ms, wait = d;
  l->delay_ms = d > BACKOFF_MAX_MS / 2 ? BACKOFF_MAX_MS : 2 * d;
  /* Half the delay plus a random share of the other half: the nodes that lost the same Redis do
   * not all knock at once when it comes back. */
  unsigned char r[2];
  if (RAND_bytes(r, sizeof r) == 1) wait = d / 2 + (uint32_t)((r[0] << 8 | r[1]) % (d - d / 2 + 1));
  uv_timer_start(l->timer, on_link_timer, wait, 0);
}

/* The link's connection failed to connect (connecting) or was lost. */
static void conn_failed(sio_rconn_t *c, const char *why, int connecting) {
  sio_rlink_t *l = c->link;
  int was_up = l->up;
  l->c = NULL;
  l->up = 0;
  char buf[128];
  snprintf(buf, sizeof buf, "%s", why); /* why may live in c */
  conn_kill(c);
  if (l->closing) return;
  if (connecting) uv_timer_stop(l->timer);
  if (was_up && l->hooks->up) l->hooks->up(l);
  link_down(l, connecting ? "connection failed" : "connection lost", buf);
  link_retry_later(l);
  if (!connecting && l->hooks->lost) l->hooks->lost(l);
}

/* Redis answered the PING queued behind AUTH: it serves this connection. Only now does the backoff
 * start over, so that a Redis that accepts and drops connections is not knocked at every
 * BACKOFF_MIN_MS. */
static void on_ping(sio_rlink_t *l, redisReply *r, void *arg) {
  (void)arg;
  if (!r || !l || l->closing) return;
  if (r->type == REDIS_REPLY_ERROR) {
    /* Connected but not served (a wrong password, a dataset still loading): nothing else would
     * say so. */
    SIO_LOG(l->server, SIO_LOG_ERROR, "redis", "%s connection (%s:%d) answers with an error: %s",
            l->name, l->host, l->port, r->str);
    return;
  }
  l->delay_ms = BACKOFF_MIN_MS;
  int restored = l->down;
  double secs = restored ? (double)(uv_now(l->loop) - l->down_at) / 1000.0 : 0;
  l->down = 0;
  if (l->hooks->ready) l->hooks->ready(l, restored, secs);
}

/* A new connection to `ip` (an address literal). AUTH and PING are queued at once (written first
 * once connected), then whatever the fresh hook queues. The link's timer already bounds the
 * attempt. */
static void link_connect(sio_rlink_t *l, const char *ip) {
  int err;
  sio_rconn_t *c = conn_new(l, ip, &err);
  if (!c) {
    uv_timer_stop(l->timer);
    link_down(l, "connection failed", why_text(err));
    link_retry_later(l);
    return;
  }
  l->c = c;
  if (l->password) {
    if (l->user) sio__rlink_command(l, NULL, NULL, "AUTH %s %s", l->user, l->password);
    else sio__rlink_command(l, NULL, NULL, "AUTH %s", l->password);
  }
  /* Also something to write, so that the connection's outcome is seen now, not at the first
   * publish. */
  sio__rlink_command(l, on_ping, NULL, "PING");
  if (l->hooks->fresh) l->hooks->fresh(l);
}

/* A host name is resolved on libuv's thread pool, so that a slow or absent DNS never stalls the
 * loop. The request outlives a closed link when the lookup is under way: it then only frees
 * itself. */
static void resolve_abandon(sio_rlink_t *l) {
  if (!l->resolving) return;
  l->resolving->link = NULL;
  uv_cancel((uv_req_t *)&l->resolving->req); /* or it finishes and frees itself */
  l->resolving = NULL;
}

static void on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res) {
  sio_rlink_resolve_t *rv = req->data;
  sio_rlink_t *l = rv->link;
  char ip[INET6_ADDRSTRLEN] = "";
  /* One attempt takes the first IPv4 address if there is one ("localhost" often lists ::1 first,
   * where a Redis bound to 127.0.0.1 is not). */
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

/* One connection attempt, bounded by the link's timer: the host name resolved first unless it is
 * an address already. */
static void link_open(sio_rlink_t *l) {
  unsigned char buf[sizeof(struct in6_addr)];
  uv_timer_start(l->timer, on_link_timer, CONNECT_TIMEOUT_MS, 0);
  if (uv_inet_pton(AF_INET, l->host, buf) == 0 || uv_inet_pton(AF_INET6, l->host, buf) == 0) {
    link_connect(l, l->host);
    return;
  }
  sio_rlink_resolve_t *rv = calloc(1, sizeof *rv);
  struct addrinfo hints;
  memset(&hints, 0, sizeof hints);
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  int r = rv ? 0 : UV_ENOMEM;
  if (rv) {
    rv->link = l;
    rv->req.data = rv;
    r = uv_getaddrinfo(l->loop, &rv->req, on_resolved, l->host, NULL, &hints);
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
  sio_rlink_t *l = t->data;
  if (l->closing || (l->c && l->up)) return;
  if (l->resolving) { /* the name did not resolve in time */
    resolve_abandon(l);
    link_down(l, "connection failed", "the host name did not resolve in time");
    link_retry_later(l);
    return;
  }
  if (!l->c) {
    link_open(l); /* the backoff is over */
    return;
  }
  /* The attempt took too long: its queued callbacks see NULL replies. */
  sio_rconn_t *stale = l->c;
  l->c = NULL;
  conn_kill(stale);
  link_down(l, "connection failed", "timed out");
  link_retry_later(l);
}

int sio__rlink_init(sio_rlink_t *l, void *owner, const sio_rlink_hooks_t *hooks,
                    sio_server_t *server, const char *name, const char *host, int port,
                    const char *user, const char *password) {
  memset(l, 0, sizeof *l);
  l->owner = owner;
  l->hooks = hooks;
  l->server = server;
  l->loop = sio_server_loop(server);
  l->name = name;
  l->port = port;
  l->user = user;
  l->password = password;
  l->delay_ms = BACKOFF_MIN_MS;
  l->host = strdup(host);
  l->timer = malloc(sizeof(uv_timer_t));
  if (!l->host || !l->timer) {
    free(l->host);
    free(l->timer);
    l->host = NULL;
    l->timer = NULL;
    return SIO_ENOMEM;
  }
  uv_timer_init(l->loop, l->timer);
  l->timer->data = l;
  /* Retrying is no reason to keep a loop alive that has nothing else to do. */
  uv_unref((uv_handle_t *)l->timer);
  return 0;
}

void sio__rlink_open(sio_rlink_t *l) { link_open(l); }

void sio__rlink_reconnect(sio_rlink_t *l) {
  if (!l->c || l->closing) return;
  sio_rconn_t *c = l->c;
  int was_up = l->up;
  l->c = NULL;
  l->up = 0;
  conn_kill(c);
  if (was_up && l->hooks->up) l->hooks->up(l);
  if (l->hooks->lost) l->hooks->lost(l);
  uv_timer_stop(l->timer);
  link_open(l);
}

static void free_handle(uv_handle_t *h) { free(h); }

void sio__rlink_close(sio_rlink_t *l) {
  if (l->closing || !l->timer) return;
  l->closing = 1;
  resolve_abandon(l);
  if (l->timer) uv_close((uv_handle_t *)l->timer, free_handle);
  l->timer = NULL;
  sio_rconn_t *c = l->c;
  l->c = NULL;
  l->up = 0;
  if (c) conn_kill(c);
  free(l->host);
  l->host = NULL;
}

int sio__rlink_command(sio_rlink_t *l, sio_rconn_cb cb, void *arg, const char *fmt, ...) {
  if (l->closing || !l->c) return SIO_EUNAVAIL;
  char *cmd = NULL;
  va_list ap;
  va_start(ap, fmt);
  int len = redisvFormatCommand(&cmd, fmt, ap);
  va_end(ap);
  if (len < 0) return SIO_ENOMEM;
  return conn_send(l->c, cb, arg, cmd, len);
}

typedef struct {
  sio_rlink_count_cb cb;
  void *owner;
  uint64_t tag;
  char request_id[41];
} count_req_t;

static void on_count(sio_rlink_t *l, redisReply *r, void *arg) {
  (void)l;
  count_req_t *q = arg;
  long long count = -1;
  if (r && r->type == REDIS_REPLY_ARRAY && r->elements >= 2 && r->element[1]->type == REDIS_REPLY_INTEGER)
    count = r->element[1]->integer;
  q->cb(q->owner, q->tag, q->request_id, count);
  free(q);
}

int sio__rlink_count(sio_rlink_t *l, int sharded, const char *channel, sio_rlink_count_cb cb, void *owner,
                     uint64_t tag, const char *request_id) {
  count_req_t *q = calloc(1, sizeof *q);
  if (!q) return SIO_ENOMEM;
  *q = (count_req_t){cb, owner, tag, ""};
  snprintf(q->request_id, sizeof q->request_id, "%s", request_id);
  int r = sio__rlink_command(l, on_count, q, sharded ? "PUBSUB SHARDNUMSUB %s" : "PUBSUB NUMSUB %s", channel);
  if (r) free(q);
  return r;
}

int sio__rlink_commandv(sio_rlink_t *l, sio_rconn_cb cb, void *arg, int argc, const char **argv,
                        const size_t *lens) {
  if (l->closing || !l->c) return SIO_EUNAVAIL;
  char *cmd = NULL;
  int len = redisFormatCommandArgv(&cmd, argc, argv, lens);
  if (len < 0) return SIO_ENOMEM;
  return conn_send(l->c, cb, arg, cmd, len);
}

/* ---------------------------------------------------------------------------------------------- */

#endif /* SIO_HAVE_REDIS */
