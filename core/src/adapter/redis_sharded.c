/* The sharded Redis transport: @socket.io/redis-adapter 8.3's createShardedAdapter. What the
 * messages say is socket.io-adapter's ClusterAdapter (sac.c); here are the channels, the
 * connections and Redis Cluster.
 *
 * Channels, as Node's (KEY the prefix, "socket.io" by default):
 *   KEY#NSP#        every message but those below (SSUBSCRIBE by every node)
 *   KEY#NSP#UID#    the answers to this node's requests
 *   KEY#NSP#ROOM#   dynamic modes: a broadcast without acks to exactly this room; a node
 *                   subscribes while the room has members here
 * A message is SPUBLISHed whole: JSON text, or msgpack (notepack.io's) when its data holds binary.
 * The node count is PUBSUB SHARDNUMSUB of KEY#NSP#.
 *
 * Redis Cluster: the URL's node is asked CLUSTER SLOTS; "cluster support disabled" means a single
 * Redis. In a cluster, each master gets a publisher and a subscriber connection (redis_conn.c's
 * links), a channel's SPUBLISH and SSUBSCRIBE go to the master owning its key slot, a MOVED (or
 * ASK) answer is followed and the slot map refreshed, and a subscription that Redis drops (the
 * `sunsubscribe` push when a slot moves away) is made again on the slot's new owner. */
#include "adapter/redis_sharded.h"

#include <stddef.h>
#include <stdint.h>
#include <string.h>

unsigned sio__redis_key_slot(const char *key, size_t len) {
  const char *open = memchr(key, '{', len);
  if (open) {
    size_t rest = len - (size_t)(open - key) - 1;
    const char *close = memchr(open + 1, '}', rest);
    if (close && close > open + 1) {
      key = open + 1;
      len = (size_t)(close - key);
    }
  }
  uint16_t crc = 0; /* CRC-16/XMODEM: polynomial 0x1021, no reflection, initial 0 */
  for (size_t i = 0; i < len; i++) {
    crc ^= (uint16_t)((unsigned char)key[i] << 8);
    for (int b = 0; b < 8; b++) crc = (uint16_t)(crc & 0x8000 ? (crc << 1) ^ 0x1021 : crc << 1);
  }
  return crc & (SIO_REDIS_SLOTS - 1);
}

size_t sio__utf16_length(const char *s) {
  size_t n = 0;
  for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
    if ((*p & 0xC0) == 0x80) continue; /* a continuation byte */
    n += *p >= 0xF0 ? 2 : 1;           /* beyond the BMP: a surrogate pair */
  }
  return n;
}

int sio__redis_room_channel(int mode, const char *room) {
  if (!room || mode == SIO_REDIS_SUB_STATIC) return 0;
  return mode == SIO_REDIS_SUB_DYNAMIC_PRIVATE || sio__utf16_length(room) != 20;
}

#ifdef SIO_HAVE_REDIS

#include <stdio.h>
#include <stdlib.h>

#include "adapter/redis_conn.h"
#include "adapter/redis_link.h"
#include "adapter/sac.h"
#include "transport/log.h"

#define DEFAULT_KEY "socket.io"
#define SUB_BUCKETS 1024
#define MAX_REDIRECTS 5
#define RETRY_MS 500
#define MAX_NODES 1024

typedef struct shd shd_t;
typedef struct nspc nspc_t;

/* One Redis (the URL's, or a master of the cluster): a connection to publish, one to subscribe. */
typedef struct node {
  shd_t *sh;
  int idx;
  sio_rlink_t pub, sub;
} node_t;

/* A channel this node wants to hear. */
typedef struct sub {
  struct sub *next;  /* the namespace's */
  struct sub *hnext; /* the bucket's */
  nspc_t *ns;
  char *name;
  size_t len;
  unsigned slot;
  int node; /* where SSUBSCRIBE was sent on its current connection; -1 none */
} sub_t;

/* One namespace's transport. */
struct nspc {
  /* With dynamic-private, the adapter's vtable: sac's, but told of sockets' own rooms too (the
   * adapter's vt points here, which finds the nspc_t back). */
  sio_adapter_vt_t vt;
  void (*sac_del_all)(sio_adapter_t *a, sio_socket_t *s);
  shd_t *sh;
  sio_sac_t *sac;
  nspc_t *next;
  uint64_t id; /* never reused: what late replies find it by */
  char *chan;  /* KEY#NSP# */
  sub_t *subs; /* the first two: KEY#NSP# and KEY#NSP#UID# */
};

struct shd {
  sio_server_t *server;
  sio_io_counters_t *st;
  char *host, *user, *password, *key;
  int port;
  uint32_t timeout_ms;
  int mode;
  uint8_t closing;
  uint8_t topology; /* TOPO_* */
  uint8_t refreshing;
  uint8_t refresh_again;
  node_t **nodes; /* [0]: the URL's */
  size_t nnodes;
  nspc_t *nsps;
  uint64_t next_id;
  uv_timer_t *retry;              /* asks for the slot map again (heap: closes after sh is gone) */
  int16_t slots[SIO_REDIS_SLOTS]; /* node index per slot; -1 unknown */
  sub_t *buckets[SUB_BUCKETS];
};

enum { TOPO_UNKNOWN, TOPO_SINGLE, TOPO_CLUSTER };

static int down_status(const shd_t *sh) { return sh->closing ? SIO_ECLOSED : SIO_EUNAVAIL; }

/* The node owning a channel's slot; NULL while the topology is unknown. */
static node_t *owner(const shd_t *sh, unsigned slot) {
  if (sh->topology == TOPO_SINGLE) return sh->nodes[0];
  if (sh->topology != TOPO_CLUSTER || sh->slots[slot] < 0) return NULL;
  return sh->nodes[sh->slots[slot]];
}

static unsigned bucket_of(const char *name, size_t len) {
  uint32_t h = 2166136261u; /* FNV-1a */
  for (size_t i = 0; i < len; i++) h = (h ^ (unsigned char)name[i]) * 16777619u;
  return h % SUB_BUCKETS;
}

static nspc_t *nspc_by_id(const shd_t *sh, uint64_t id) {
  for (nspc_t *ns = sh->nsps; ns; ns = ns->next)
    if (ns->id == id) return ns;
  return NULL;
}

static void refresh_topology(shd_t *sh);
static void on_retry(uv_timer_t *t) { refresh_topology(t->data); }

/* ---------------------------------------------------------------------------------------------- */
/* Subscriptions                                                                                 */

static void on_ssubscribed(sio_rlink_t *l, redisReply *r, void *arg);

/* Makes the subscription where its slot is now served (SUNSUBSCRIBE where it was, if elsewhere). */
static void sub_sync(sub_t *s) {
  shd_t *sh = s->ns->sh;
  if (sh->closing) return;
  node_t *want = owner(sh, s->slot);
  if (s->node >= 0 && (!want || want->idx != s->node)) {
    node_t *old = sh->nodes[s->node];
    sio__rlink_command(&old->sub, NULL, NULL, "SUNSUBSCRIBE %b", s->name, s->len);
    s->node = -1;
  }
  if (!want || s->node >= 0 || !want->sub.c) return;
  if (sio__rlink_command(&want->sub, on_ssubscribed, (void *)(uintptr_t)s->slot, "SSUBSCRIBE %b",
                         s->name, s->len) == 0)
    s->node = want->idx;
}

static void sync_all(shd_t *sh) {
  for (nspc_t *ns = sh->nsps; ns; ns = ns->next)
    for (sub_t *s = ns->subs; s; s = s->next) sub_sync(s);
}

/* A subscription's record for ns, named a + b + "#" (b NULL: a alone), not yet made. */
static sub_t *sub_new(nspc_t *ns, const char *a, const char *b) {
  size_t la = strlen(a), lb = b ? strlen(b) : 0;
  sub_t *s = calloc(1, sizeof *s);
  char *name = s ? malloc(la + lb + 2) : NULL;
  if (!name) {
    free(s);
    return NULL;
  }
  memcpy(name, a, la);
  if (b) {
    memcpy(name + la, b, lb);
    name[la + lb++] = '#';
  }
  name[la + lb] = 0;
  s->name = name;
  s->len = la + lb;
  s->ns = ns;
  s->node = -1;
  return s;
}

/* Appended (the namespace's own two channels stay first), then subscribed where it belongs. */
static void sub_link(sub_t *s) {
  nspc_t *ns = s->ns;
  s->slot = sio__redis_key_slot(s->name, s->len);
  sub_t **p = &ns->subs;
  while (*p) p = &(*p)->next;
  *p = s;
  unsigned h = bucket_of(s->name, s->len);
  s->hnext = ns->sh->buckets[h];
  ns->sh->buckets[h] = s;
  sub_sync(s);
}

static void sub_remove(sub_t *s) {
  shd_t *sh = s->ns->sh;
  if (s->node >= 0 && !sh->closing)
    sio__rlink_command(&sh->nodes[s->node]->sub, NULL, NULL, "SUNSUBSCRIBE %b", s->name, s->len);
  for (sub_t **p = &sh->buckets[bucket_of(s->name, s->len)]; *p; p = &(*p)->hnext)
    if (*p == s) {
      *p = s->hnext;
      break;
    }
  for (sub_t **p = &s->ns->subs; *p; p = &(*p)->next)
    if (*p == s) {
      *p = s->next;
      break;
    }
  free(s->name);
  free(s);
}

static sub_t *sub_find(const shd_t *sh, const char *name, size_t len) {
  for (sub_t *s = sh->buckets[bucket_of(name, len)]; s; s = s->hnext)
    if (s->len == len && memcmp(s->name, name, len) == 0) return s;
  return NULL;
}

/* ---------------------------------------------------------------------------------------------- */
/* Nodes and the cluster's slot map                                                              */

static const sio_rlink_hooks_t pub_hooks, sub_hooks;

static node_t *node_find(const shd_t *sh, const char *host, int port) {
  for (size_t i = 0; i < sh->nnodes; i++)
    if (sh->nodes[i]->pub.port == port && strcmp(sh->nodes[i]->pub.host, host) == 0)
      return sh->nodes[i];
  return NULL;
}

/* A node's two links, opened at once. NULL on ENOMEM, or past MAX_NODES (Redis Cluster's own
 * limit is about 1000 nodes: more is a hostile answer, not a cluster). */
static node_t *node_add(shd_t *sh, const char *host, int port) {
  if (sh->nnodes >= MAX_NODES) return NULL;
  node_t **grown = realloc(sh->nodes, (sh->nnodes + 1) * sizeof *grown);
  if (!grown) return NULL;
  sh->nodes = grown;
  node_t *n = calloc(1, sizeof *n);
  if (!n) return NULL;
  n->sh = sh;
  n->idx = (int)sh->nnodes;
  if (sio__rlink_init(&n->pub, n, &pub_hooks, sh->server, "publisher", host, port, sh->user,
                      sh->password) ||
      sio__rlink_init(&n->sub, n, &sub_hooks, sh->server, "subscriber", host, port, sh->user,
                      sh->password)) {
    sio__rlink_close(&n->pub);
    free(n);
    return NULL;
  }
  sh->nodes[sh->nnodes++] = n;
  sio__rlink_open(&n->pub);
  sio__rlink_open(&n->sub);
  return n;
}

/* host:port as Redis Cluster names a node: an empty or unknown address is the one asked. */
static node_t *node_get(shd_t *sh, const char *host, size_t hlen, int port) {
  char h[256];
  if (!hlen || (hlen == 1 && host[0] == '?')) snprintf(h, sizeof h, "%s", sh->host);
  else snprintf(h, sizeof h, "%.*s", (int)hlen, host);
  node_t *n = node_find(sh, h, port);
  return n ? n : node_add(sh, h, port);
}

/* The io's gauge: both connections of every node serving slots (the URL's alone for a single
 * Redis; a cluster node that lost its slots no longer counts). */
static void note_up(shd_t *sh) {
  int up = sh->topology != TOPO_UNKNOWN;
  for (size_t i = 0; i < sh->nnodes && up; i++) {
    int serves = sh->topology == TOPO_SINGLE ? i == 0 : 0;
    for (size_t s = 0; s < SIO_REDIS_SLOTS && !serves; s++) serves = sh->slots[s] == (int16_t)i;
    if (serves) up = sh->nodes[i]->pub.up && sh->nodes[i]->sub.up;
  }
  sh->st->redis_up = up;
}

/* CLUSTER SLOTS: [[start, end, [ip, port, id], replicas...], ...]. */
static int apply_slots(shd_t *sh, const redisReply *r) {
  int16_t map[SIO_REDIS_SLOTS];
  for (size_t i = 0; i < SIO_REDIS_SLOTS; i++) map[i] = -1;
  for (size_t i = 0; i < r->elements; i++) {
    const redisReply *e = r->element[i];
    if (e->type != REDIS_REPLY_ARRAY || e->elements < 3 ||
        e->element[0]->type != REDIS_REPLY_INTEGER ||
        e->element[1]->type != REDIS_REPLY_INTEGER || e->element[2]->type != REDIS_REPLY_ARRAY)
      continue;
    const redisReply *m = e->element[2];
    long long lo = e->element[0]->integer, hi = e->element[1]->integer;
    if (m->elements < 2 || m->element[0]->type != REDIS_REPLY_STRING ||
        m->element[1]->type != REDIS_REPLY_INTEGER || lo < 0 || hi >= SIO_REDIS_SLOTS || lo > hi ||
        m->element[1]->integer <= 0 || m->element[1]->integer > 65535)
      continue;
    node_t *n = node_get(sh, m->element[0]->str, m->element[0]->len, (int)m->element[1]->integer);
    if (!n) return SIO_ENOMEM;
    for (long long s = lo; s <= hi; s++) map[s] = (int16_t)n->idx;
  }
  memcpy(sh->slots, map, sizeof map);
  return 0;
}

static void on_cluster_slots(sio_rlink_t *l, redisReply *r, void *arg) {
  (void)arg;
  if (!l) return;
  node_t *n = l->owner;
  shd_t *sh = n->sh;
  sh->refreshing = 0;
  if (sh->closing) return;
  if (!r) { /* lost on the way: asked again once a publisher is back */
    sh->refresh_again = 1;
    return;
  }
  int was = sh->topology;
  if (r->type == REDIS_REPLY_ERROR) {
    /* "ERR This instance has cluster support disabled": one Redis for everything. A cluster node
     * that errs keeps the map known, whose subscriptions are tried again. */
    if (sh->topology != TOPO_CLUSTER) sh->topology = TOPO_SINGLE;
  } else if (r->type == REDIS_REPLY_ARRAY && r->elements > 0 && apply_slots(sh, r) == 0) {
    sh->topology = TOPO_CLUSTER;
  } else {
    /* A cluster still forming (no slots yet), or no memory: asked again a little later. */
    uv_timer_start(sh->retry, on_retry, RETRY_MS, 0);
    return;
  }
  if (was != sh->topology) {
    if (sh->topology == TOPO_CLUSTER)
      SIO_LOG(sh->server, SIO_LOG_INFO, "redis", "%s:%d is a Redis Cluster node: %zu master%s",
              sh->host, sh->port, sh->nnodes - 1, sh->nnodes == 2 ? "" : "s");
  }
  SIO_DEBUG(sh->server, SIO_DEBUG_REDIS, "topology: %s, %zu node(s)",
            sh->topology == TOPO_CLUSTER ? "cluster" : "single", sh->nnodes);
  note_up(sh);
  sync_all(sh);
  if (sh->refresh_again) {
    sh->refresh_again = 0;
    refresh_topology(sh);
  }
}

/* Asks for the slot map on a publisher that is up (the URL's first). */
static void refresh_topology(shd_t *sh) {
  if (sh->closing) return;
  if (sh->refreshing) {
    sh->refresh_again = 1;
    return;
  }
  for (size_t i = 0; i < sh->nnodes; i++) {
    sio_rlink_t *l = &sh->nodes[i]->pub;
    if (sio__rlink_ok(l) && sio__rlink_command(l, on_cluster_slots, NULL, "CLUSTER SLOTS") == 0) {
      sh->refreshing = 1;
      return;
    }
  }
  sh->refresh_again = 1; /* when a publisher is back */
}

/* "MOVED 3999 127.0.0.1:6381" / "ASK ...": the slot's node, the slot map updated for MOVED. NULL
 * when not a redirection. */
static node_t *redirect(shd_t *sh, const redisReply *r, int *ask) {
  if (r->type != REDIS_REPLY_ERROR) return NULL;
  *ask = strncmp(r->str, "ASK ", 4) == 0;
  if (!*ask && strncmp(r->str, "MOVED ", 6) != 0) return NULL;
  char *e;
  long slot = strtol(r->str + (*ask ? 4 : 6), &e, 10);
  if (*e != ' ' || slot < 0 || slot >= SIO_REDIS_SLOTS) return NULL;
  const char *addr = e + 1, *colon = strrchr(addr, ':');
  if (!colon) return NULL;
  long port = strtol(colon + 1, &e, 10);
  if (*e || port <= 0 || port > 65535) return NULL;
  node_t *n = node_get(sh, addr, (size_t)(colon - addr), (int)port);
  if (!n) return NULL;
  if (!*ask) {
    SIO_DEBUG(sh->server, SIO_DEBUG_REDIS, "%s: slot map refreshed", r->str);
    if (sh->topology != TOPO_CLUSTER) sh->topology = TOPO_CLUSTER;
    sh->slots[slot] = (int16_t)n->idx;
    refresh_topology(sh);
  }
  return n;
}

/* A subscription answered with an error: MOVED (the slot map was stale: asked again at once), or
 * ASK, CLUSTERDOWN, TRYAGAIN (a slot migrating, a cluster failing: tried again a little later, so
 * that a cluster that stays down is not asked in a loop). The subscriptions of that slot on that
 * node are not made; the next slot map says where to make them. */
static void on_ssubscribed(sio_rlink_t *l, redisReply *r, void *arg) {
  if (!l || !r || r->type != REDIS_REPLY_ERROR) return;
  node_t *n = l->owner;
  shd_t *sh = n->sh;
  if (sh->closing) return;
  unsigned slot = (unsigned)(uintptr_t)arg;
  SIO_DEBUG(sh->server, SIO_DEBUG_REDIS, "SSUBSCRIBE on %s:%d: %s", l->host, l->port, r->str);
  for (nspc_t *ns = sh->nsps; ns; ns = ns->next)
    for (sub_t *s = ns->subs; s; s = s->next)
      if (s->node == n->idx && s->slot == slot) s->node = -1;
  int ask = 0;
  if (!redirect(sh, r, &ask) || ask) uv_timer_start(sh->retry, on_retry, RETRY_MS, 0);
}

/* ---------------------------------------------------------------------------------------------- */
/* Publishing                                                                                    */

/* An SPUBLISH on its way, kept to follow a redirection. */
typedef struct spub {
  shd_t *sh;
  uint64_t ns_id;
  sio_sac_published_cb cb;
  void *arg;
  char *chan, *data;
  size_t len;
  int hops;
} spub_t;

static void spub_done(spub_t *p) {
  nspc_t *ns = p->cb ? nspc_by_id(p->sh, p->ns_id) : NULL;
  if (ns) p->cb(p->arg, NULL); /* not after the namespace's transport was freed */
  free(p->chan);
  free(p->data);
  free(p);
}

static void on_spublished(sio_rlink_t *l, redisReply *r, void *arg);

/* A first attempt needs the node up (else the caller delivers locally only, as when Redis is
 * away); a redirection may wait for a node being connected (one a MOVED just named). */
static int spub_send(spub_t *p, node_t *n, int ask) {
  if (!(p->hops ? n->pub.c != NULL : sio__rlink_ok(&n->pub))) return down_status(p->sh);
  if (ask) sio__rlink_command(&n->pub, NULL, NULL, "ASKING");
  int r = sio__rlink_command(&n->pub, on_spublished, p, "SPUBLISH %s %b", p->chan, p->data, p->len);
  if (r == SIO_EUNAVAIL) r = down_status(p->sh);
  return r;
}

static void on_spublished(sio_rlink_t *l, redisReply *r, void *arg) {
  spub_t *p = arg;
  int ask;
  node_t *to;
  if (l && r && !p->sh->closing && p->hops < MAX_REDIRECTS && (to = redirect(p->sh, r, &ask))) {
    p->hops++;
    if (spub_send(p, to, ask) == 0) return;
  } else if (r && r->type == REDIS_REPLY_ERROR) {
    SIO_DEBUG(p->sh->server, SIO_DEBUG_REDIS, "SPUBLISH %s: %s", p->chan, r->str);
  }
  spub_done(p);
}


static char *chan_name(const char *a, const char *b) {
  size_t la = strlen(a), lb = b ? strlen(b) : 0;
  char *s = malloc(la + lb + 2);
  if (!s) return NULL;
  memcpy(s, a, la);
  if (b) {
    memcpy(s + la, b, lb);
    s[la + lb++] = '#';
  }
  s[la + lb] = 0;
  return s;
}

/* SPUBLISH of the whole message to chan: JSON text, or msgpack when its data holds binary (Node's
 * encode). */
static int publish_to(nspc_t *ns, const char *room, const sio_sac_msg_t *m, sio_sac_published_cb cb,
                      void *arg) {
  shd_t *sh = ns->sh;
  if (sh->closing) return SIO_ECLOSED;
  spub_t *p = calloc(1, sizeof *p);
  if (!p) return SIO_ENOMEM;
  p->sh = sh;
  p->ns_id = ns->id;
  p->cb = cb;
  p->arg = arg;
  p->chan = chan_name(ns->chan, room);
  int form = sio__sac_msg_binary(m) ? SIO_SAC_WHOLE_MSGPACK : SIO_SAC_WHOLE_JSON;
  int r = p->chan ? sio__sac_msg_encode(m, form, &p->data, &p->len) : SIO_ENOMEM;
  node_t *n = r ? NULL : owner(sh, sio__redis_key_slot(p->chan, strlen(p->chan)));
  if (!r) r = n ? spub_send(p, n, 0) : down_status(sh);
  if (r) {
    free(p->chan);
    free(p->data);
    free(p);
    return r;
  }
  SIO_DEBUG(sh->server, SIO_DEBUG_REDIS, "spublish %.128s (%zu bytes)", p->chan, p->len);
  sh->st->redis_published++;
  return 0;
}

static int sh_publish(void *t, const sio_sac_msg_t *m, sio_sac_published_cb cb, void *arg) {
  nspc_t *ns = t;
  const char *room = sio__sac_msg_room(m);
  return publish_to(ns, sio__redis_room_channel(ns->sh->mode, room) ? room : NULL, m, cb, arg);
}

/* On KEY#NSP#UID#, the requester's response channel. */
static int sh_publish_response(void *t, const char *requester, const sio_sac_msg_t *m) {
  return publish_to(t, requester, m, NULL, NULL);
}

static void on_shardnumsub(void *owner, uint64_t ns_id, const char *request_id, long long count) {
  shd_t *sh = owner;
  nspc_t *ns = nspc_by_id(sh, ns_id);
  if (ns) sio__sac_on_server_count(ns->sac, request_id, count < 0 ? down_status(sh) : count);
}

/* PUBSUB SHARDNUMSUB KEY#NSP# where the channel's slot is served (the only node whose count is not
 * 0; Node sums every master's). */
static int sh_server_count(void *t, const char *request_id) {
  nspc_t *ns = t;
  shd_t *sh = ns->sh;
  node_t *n = owner(sh, ns->subs->slot);
  if (sh->closing || !n || !sio__rlink_ok(&n->pub) || !sio__rlink_ok(&n->sub))
    return down_status(sh);
  int r = sio__rlink_count(&n->pub, 1, ns->chan, on_shardnumsub, sh, ns->id, request_id);
  return r == SIO_ENOMEM ? r : r ? down_status(sh) : 0;
}

/* Dynamic modes: a room with members here has its channel (sac does not report socket ids' own
 * rooms, which dynamic-private would subscribe too). */
static void sh_room(void *t, const char *room, int created) {
  nspc_t *ns = t;
  if (ns->sh->mode == SIO_REDIS_SUB_STATIC || ns->sh->closing) return;
  char *name = chan_name(ns->chan, room);
  if (!name) return;
  sub_t *s = sub_find(ns->sh, name, strlen(name));
  if (created && !s && (s = sub_new(ns, ns->chan, room))) sub_link(s);
  else if (!created && s && s != ns->subs && s != ns->subs->next) sub_remove(s);
  free(name);
}

static void sh_free(void *t) {
  nspc_t *ns = t;
  shd_t *sh = ns->sh;
  for (nspc_t **p = &sh->nsps; *p; p = &(*p)->next)
    if (*p == ns) {
      *p = ns->next;
      break;
    }
  while (ns->subs) sub_remove(ns->subs); /* SUNSUBSCRIBE, as Node's close() */
  free(ns->chan);
  free(ns);
}

/* Dynamic-private: a socket's own room has its channel while the socket is here. */
static nspc_t *nspc_of_vt(const sio_adapter_t *a) {
  return (nspc_t *)(void *)((char *)(uintptr_t)a->vt - offsetof(nspc_t, vt));
}

static void sh_socket_added(sio_adapter_t *a, sio_socket_t *s) {
  sh_room(nspc_of_vt(a), sio_socket_id(s), 1);
}

static void sh_del_all(sio_adapter_t *a, sio_socket_t *s) {
  nspc_t *ns = nspc_of_vt(a);
  void (*del_all)(sio_adapter_t *, sio_socket_t *) = ns->sac_del_all;
  sh_room(ns, sio_socket_id(s), 0);
  del_all(a, s);
}

/* The rooms the namespace had before it was clustered (sio_io_use_redis after connections): their
 * channels, as if each had just been created. */
static void add_existing_room(const char *room, void *arg) {
  nspc_t *ns = arg;
  if (ns->sh->mode == SIO_REDIS_SUB_DYNAMIC_PRIVATE || !sio_nsp_socket(sio__sac_nsp(ns->sac), room))
    sh_room(ns, room, 1);
}

static const sio_sac_transport_t sharded_transport = {
    sh_publish, sh_publish_response, sh_server_count, sh_room, NULL, NULL, sh_free, 0};

/* ---------------------------------------------------------------------------------------------- */
/* Receiving                                                                                     */

static void on_sub_push(sio_rlink_t *l, redisReply *r) {
  node_t *n = l->owner;
  shd_t *sh = n->sh;
  if (sh->closing || r->elements < 3 || r->element[1]->type != REDIS_REPLY_STRING) return;
  const redisReply *kind = r->element[0], *chan = r->element[1];
  if (kind->len == 8 && memcmp(kind->str, "smessage", 8) == 0 &&
      r->element[2]->type == REDIS_REPLY_STRING) {
    sh->st->redis_received++;
    SIO_DEBUG(sh->server, SIO_DEBUG_REDIS, "smessage on %.128s (%zu bytes)", chan->str,
              (size_t)r->element[2]->len);
    sub_t *s = sub_find(sh, chan->str, chan->len);
    if (s) /* the namespace's second channel is its response channel */
      sio__sac_on_raw(s->ns->sac, r->element[2]->str, r->element[2]->len, s == s->ns->subs->next);
  } else if (kind->len == 12 && memcmp(kind->str, "sunsubscribe", 12) == 0) {
    /* Not asked for: the channel's slot moved to another node. */
    sub_t *s = sub_find(sh, chan->str, chan->len);
    SIO_DEBUG(sh->server, SIO_DEBUG_REDIS, "%s:%d dropped %.128s: its slot moved", l->host, l->port,
              chan->str);
    if (s && s->node == n->idx) s->node = -1;
    refresh_topology(sh);
  }
}

/* ---------------------------------------------------------------------------------------------- */
/* Links                                                                                         */

/* A new subscriber connection: every channel whose slot this node serves, subscribed again. */
static void on_sub_fresh(sio_rlink_t *l) {
  node_t *n = l->owner;
  shd_t *sh = n->sh;
  for (nspc_t *ns = sh->nsps; ns; ns = ns->next)
    for (sub_t *s = ns->subs; s; s = s->next) {
      if (s->node == n->idx) s->node = -1;
      sub_sync(s);
    }
}

static void on_link_up(sio_rlink_t *l) { note_up(((node_t *)l->owner)->sh); }

static void on_ready(sio_rlink_t *l, int restored, double secs) {
  node_t *n = l->owner;
  shd_t *sh = n->sh;
  if (l == &n->pub && (sh->topology != TOPO_SINGLE || sh->refresh_again)) {
    sh->refresh_again = 0;
    refresh_topology(sh); /* at first, and after an outage: the cluster may have changed */
  }
  if (!restored) return;
  if (l == &n->sub) {
    size_t count = 0;
    for (const nspc_t *ns = sh->nsps; ns; ns = ns->next) count++;
    SIO_LOG(sh->server, SIO_LOG_WARN, "redis",
            "subscriber connection restored (%s:%d) after %.1f s; %zu namespace%s subscribed again",
            l->host, l->port, secs, count, count == 1 ? "" : "s");
  } else {
    SIO_LOG(sh->server, SIO_LOG_WARN, "redis", "publisher connection restored (%s:%d) after %.1f s",
            l->host, l->port, secs);
  }
}

/* Requests waiting for other nodes get no more answers: they end now with what came. */
static void on_lost(sio_rlink_t *l) {
  node_t *n = l->owner;
  shd_t *sh = n->sh;
  if (l == &n->sub)
    for (nspc_t *ns = sh->nsps; ns; ns = ns->next)
      for (sub_t *s = ns->subs; s; s = s->next)
        if (s->node == n->idx) s->node = -1;
  for (nspc_t *ns = sh->nsps; ns && !sh->closing; ns = ns->next)
    sio__sac_on_down(ns->sac, down_status(sh));
}

static const sio_rlink_hooks_t pub_hooks = {NULL, on_ready, on_lost, NULL, on_link_up};
static const sio_rlink_hooks_t sub_hooks = {on_sub_fresh, on_ready, on_lost, on_sub_push,
                                            on_link_up};

/* ---------------------------------------------------------------------------------------------- */
/* The adapter factory                                                                           */

static sio_adapter_t *sharded_create(void *arg, sio_nsp_t *nsp, sio_adapter_t *local) {
  shd_t *sh = arg;
  nspc_t *ns = calloc(1, sizeof *ns);
  if (!ns) return NULL;
  ns->sh = sh;
  ns->id = ++sh->next_id;
  const char *name = sio_nsp_name(nsp);
  size_t lk = strlen(sh->key), ln = strlen(name);
  static const char uid_holder[SIO_SAC_ID_LEN + 1] = "0123456789abcdef";
  ns->chan = malloc(lk + ln + 3);
  if (ns->chan) snprintf(ns->chan, lk + ln + 3, "%s#%s#", sh->key, name);
  /* Both records first, so that nothing fails once the adapter exists: the namespace's channel,
   * and its response channel (named by the adapter's uid once known). */
  sub_t *main = ns->chan ? sub_new(ns, ns->chan, NULL) : NULL;
  sub_t *res = ns->chan ? sub_new(ns, ns->chan, uid_holder) : NULL;
  if (!main || !res ||
      !(ns->sac = sio__sac_new(nsp, local, &sharded_transport, ns, sh->timeout_ms))) {
    if (main) free(main->name);
    if (res) free(res->name);
    free(main);
    free(res);
    free(ns->chan);
    free(ns);
    return NULL;
  }
  memcpy(res->name + strlen(ns->chan), sio__sac_uid(ns->sac), SIO_SAC_ID_LEN);
  ns->next = sh->nsps;
  sh->nsps = ns;
  sub_link(main);
  sub_link(res);
  sio_adapter_t *a = sio__sac_adapter(ns->sac);
  if (sh->mode == SIO_REDIS_SUB_DYNAMIC_PRIVATE) {
    ns->vt = *a->vt;
    ns->sac_del_all = a->vt->del_all;
    ns->vt.socket_added = sh_socket_added;
    ns->vt.del_all = sh_del_all;
    a->vt = &ns->vt;
  }
  if (sh->mode != SIO_REDIS_SUB_STATIC) local->vt->rooms(local, add_existing_room, ns);
  return a;
}

static void shd_free_fields(shd_t *sh) {
  free(sh->host);
  free(sh->user);
  free(sh->password);
  free(sh->key);
  free(sh->nodes);
  free(sh);
}

static void free_handle(uv_handle_t *h) { free(h); }

static void sharded_close(void *arg) {
  shd_t *sh = arg;
  if (sh->closing) return;
  sh->closing = 1;
  uv_close((uv_handle_t *)sh->retry, free_handle);
  for (size_t i = 0; i < sh->nnodes; i++) {
    sio__rlink_close(&sh->nodes[i]->pub);
    sio__rlink_close(&sh->nodes[i]->sub);
  }
}

static void sharded_free(void *arg) {
  shd_t *sh = arg;
  sharded_close(sh);
  for (size_t i = 0; i < sh->nnodes; i++) free(sh->nodes[i]);
  shd_free_fields(sh);
}

int sio__redis_sharded_use(sio_io_t *io, const sio_redis_options_t *o) {
  if (o->subscription_mode < SIO_REDIS_SUB_DYNAMIC ||
      o->subscription_mode > SIO_REDIS_SUB_DYNAMIC_PRIVATE)
    return SIO_EINVAL;
  int r = sio__io_use_adapters(io, NULL);
  if (r) return r;
  shd_t *sh = calloc(1, sizeof *sh);
  if (!sh) return SIO_ENOMEM;
  sio_redis_conf_t conf = {0}; /* redis_link.c's URL parser; its strings are taken over */
  r = sio__redis_conf_parse(&conf, o->url);
  sh->host = conf.host;
  sh->user = conf.user;
  sh->password = conf.password;
  sh->port = conf.port;
  sh->key = strdup(o->key ? o->key : DEFAULT_KEY);
  if (!r && !sh->key) r = SIO_ENOMEM;
  if (r) {
    shd_free_fields(sh);
    return r;
  }
  for (size_t i = 0; i < SIO_REDIS_SLOTS; i++) sh->slots[i] = -1;
  sh->server = sio_engine_server(sio_io_engine(io));
  if (!(sh->retry = malloc(sizeof *sh->retry))) {
    shd_free_fields(sh);
    return SIO_ENOMEM;
  }
  uv_timer_init(sio_server_loop(sh->server), sh->retry);
  sh->retry->data = sh;
  uv_unref((uv_handle_t *)sh->retry);
  sh->st = sio__io_counters(io);
  sh->st->redis_up = 0;
  sh->mode = o->subscription_mode;
  sh->timeout_ms = o->requests_timeout_ms ? o->requests_timeout_ms : 5000;
  /* The URL's node first: its answer to CLUSTER SLOTS tells a single Redis from a cluster. */
  if (!node_add(sh, sh->host, sh->port)) {
    uv_close((uv_handle_t *)sh->retry, free_handle);
    shd_free_fields(sh);
    return SIO_ENOMEM;
  }
  sio_adapter_factory_t f = {sharded_create, sharded_close, sharded_free, sh};
  sio__io_use_adapters(io, &f); /* cannot fail: checked above */
  return 0;
}

#endif /* SIO_HAVE_REDIS */
