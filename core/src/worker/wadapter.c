/* The workers' in-process adapter: socket.io-adapter's ClusterAdapter (adapter/sac.c) with each
 * worker a node and the inboxes (workers.h) as the bus. A message is encoded once (msgpack, as
 * sharded Redis carries one with binary) into a refcounted buffer that every other worker's inbox
 * gets a reference to; the last reader frees it. Messages from one worker reach each other worker
 * in the order they were sent (one FIFO inbox per worker).
 *
 * An endpoint is one namespace's adapter on one worker; endpoints meet by (server slot, engine
 * path, namespace name), the same on every worker when every worker's setup builds the same
 * servers. Redis, when the io uses it, replaces this (sio__io_use_adapters). */
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "socketio/socketio.h"
#include "worker/workers.h"

#ifdef SIO_HAVE_REDIS

#include "adapter/sac.h"
#include "engine/engine.h"

#define REQUEST_TIMEOUT_MS 5000

typedef struct wep wep_t;

/* An io's factory state (one per io per worker). */
typedef struct wio {
  sio_workers_t *g;
  unsigned index, slot;
  char *path; /* the io's engine path */
  uint64_t next_id;
} wio_t;

/* One namespace's endpoint on this worker (listed in the worker's endpoints). */
struct wep {
  sio_adapter_vt_t vt; /* sac's, with broadcast (the fast path below) replaced */
  int (*sac_broadcast)(sio_adapter_t *a, const sio_target_t *to, const sio_bcast_packet_t *bp);
  sio_adapter_t *local; /* the namespace's in-memory adapter (the sac's) */
  wep_t *next;
  wio_t *io;
  sio_sac_t *sac;
  uint64_t id; /* never reused on this worker: what self-messages find it by */
  char *nsp;
};

/* The bytes every worker shares. */
typedef struct wpayload {
  atomic_uint refs;
  unsigned slot;
  char *path, *nsp;                  /* inside mem */
  char requester[SIO_SAC_ID_LEN + 1]; /* a response: the adapter it is for; "" otherwise */
  size_t len;
  char *bytes; /* msgpack of the whole message */
  char mem[];
} wpayload_t;

typedef struct wdeliver {
  sio_wmsg_t m;
  sio_workers_t *g;
  unsigned to;
  wpayload_t *p;
} wdeliver_t;

/* A callback of the transport's that must come later from the loop. */
typedef struct wself {
  sio_wmsg_t m;
  sio_workers_t *g;
  unsigned to;
  uint64_t ep_id;
  int kind; /* 0 server count, 1 published */
  long long count;
  sio_sac_published_cb cb;
  void *arg;
  char id[SIO_SAC_ID_LEN + 1];
} wself_t;

static wep_t **endpoints(sio_workers_t *g, unsigned index) { return (wep_t **)sio__workers_endpoints(g, index); }

static void payload_unref(wpayload_t *p) {
  if (atomic_fetch_sub(&p->refs, 1) == 1) {
    free(p->bytes);
    free(p);
  }
}

static void on_deliver(sio_wmsg_t *m, int dropped) {
  wdeliver_t *d = (wdeliver_t *)m;
  wpayload_t *p = d->p;
  if (!dropped) {
    int response = p->requester[0] != 0;
    for (wep_t *e = *endpoints(d->g, d->to); e; e = e->next) {
      if (e->io->slot != p->slot || strcmp(e->nsp, p->nsp) || strcmp(e->io->path, p->path)) continue;
      if (response && strcmp(sio__sac_uid(e->sac), p->requester)) continue;
      /* The adapter may be freed by what this delivers (a handler closing the server): one
       * endpoint per namespace, so nothing more to look at. */
      sio__sac_on_raw(e->sac, p->bytes, p->len, response);
      break;
    }
  }
  payload_unref(p);
  free(d);
}

/* To every other worker. 0, or SIO_ENOMEM (sent to none). */
static int send_all(wep_t *e, const sio_sac_msg_t *m, const char *requester) {
  wio_t *io = e->io;
  size_t lp = strlen(io->path) + 1, ln = strlen(e->nsp) + 1;
  wpayload_t *p = malloc(sizeof *p + lp + ln);
  if (!p) return SIO_ENOMEM;
  p->path = memcpy(p->mem, io->path, lp);
  p->nsp = memcpy(p->mem + lp, e->nsp, ln);
  p->slot = io->slot;
  p->requester[0] = 0;
  if (requester) {
    memcpy(p->requester, requester, SIO_SAC_ID_LEN);
    p->requester[SIO_SAC_ID_LEN] = 0;
  }
  if (sio__sac_msg_encode(m, SIO_SAC_WHOLE_MSGPACK, &p->bytes, &p->len)) {
    free(p);
    return SIO_ENOMEM;
  }
  unsigned n = sio_workers_count(io->g);
  atomic_init(&p->refs, 1); /* the sender's, until every post is done */
  for (unsigned i = 0; i < n; i++) {
    if (i == io->index) continue;
    wdeliver_t *d = malloc(sizeof *d);
    if (!d) continue; /* that worker misses it, as a node would on a lost message */
    d->m.run = on_deliver;
    d->g = io->g;
    d->to = i;
    d->p = p;
    atomic_fetch_add(&p->refs, 1);
    if (sio__workers_post(io->g, i, &d->m)) {
      atomic_fetch_sub(&p->refs, 1);
      free(d);
    }
  }
  payload_unref(p);
  return 0;
}

static void on_self(sio_wmsg_t *m, int dropped) {
  wself_t *s = (wself_t *)m;
  wep_t *e = NULL;
  if (!dropped)
    for (e = *endpoints(s->g, s->to); e && e->id != s->ep_id; e = e->next) continue;
  if (e && s->kind == 0) sio__sac_on_server_count(e->sac, s->id, s->count);
  else if (e && s->kind == 1) s->cb(s->arg, NULL);
  free(s);
}

static int post_self(wep_t *e, int kind, const char *id, sio_sac_published_cb cb, void *arg) {
  wself_t *s = calloc(1, sizeof *s);
  if (!s) return SIO_ENOMEM;
  s->m.run = on_self;
  s->g = e->io->g;
  s->to = e->io->index;
  s->ep_id = e->id;
  s->kind = kind;
  s->count = sio_workers_count(e->io->g);
  s->cb = cb;
  s->arg = arg;
  if (id) memcpy(s->id, id, SIO_SAC_ID_LEN);
  if (sio__workers_post(s->g, s->to, &s->m)) {
    free(s);
    return SIO_ECLOSED;
  }
  return 0;
}


/* ---------------------------------------------------------------------------------------------- */
/* The fast path: a plain broadcast (no acks, no recovery) travels as the Socket.IO packet already  */
/* encoded here (its messages' bytes) with its target; each worker delivers those bytes to its     */
/* sockets without decoding or encoding anything.                                                 */

typedef struct wfast {
  sio_wmsg_t m;
  sio_workers_t *g;
  unsigned to;
  struct wbytes *b;
} wfast_t;

/* Shared by every worker's message (refcounted): one allocation. */
typedef struct wbytes {
  atomic_uint refs;
  unsigned slot;
  const char *path, *nsp;
  const char **rooms, **except;
  size_t nrooms, nexcept;
  int flags;
  size_t nmsgs;            /* the text (or msgpack) message, then each attachment */
  const char **data;
  size_t *len;
  unsigned char *binary;
  char mem[];
} wbytes_t;

static wep_t *ep_find(sio_workers_t *g, unsigned index, unsigned slot, const char *path,
                      const char *nsp) {
  for (wep_t *e = *endpoints(g, index); e; e = e->next)
    if (e->io->slot == slot && !strcmp(e->nsp, nsp) && !strcmp(e->io->path, path)) return e;
  return NULL;
}

static void wbytes_unref(wbytes_t *b) {
  if (atomic_fetch_sub(&b->refs, 1) == 1) free(b);
}

/* Copies what a worker needs into one block: strings, the target, every message's bytes. */
static wbytes_t *wbytes_new(const wep_t *e, const sio_target_t *to, const sio_encoded_t *enc) {
  size_t nr = to ? to->nrooms : 0, nx = to ? to->nexcept : 0, nm = 1 + enc->natts;
  size_t lp = strlen(e->io->path) + 1, ln = strlen(e->nsp) + 1;
  size_t size = sizeof(wbytes_t) + (nr + nx + nm) * sizeof(char *) + nm * sizeof(size_t) + nm + lp + ln;
  for (size_t i = 0; i < nr; i++) size += strlen(to->rooms[i]) + 1;
  for (size_t i = 0; i < nx; i++) size += strlen(to->except[i]) + 1;
  for (size_t i = 0; i < nm; i++) size += sio__msg_len(i ? enc->atts[i - 1] : enc->text);
  wbytes_t *b = malloc(size);
  if (!b) return NULL;
  char *p = b->mem;
  b->rooms = (const char **)(void *)p;
  p += nr * sizeof(char *);
  b->except = (const char **)(void *)p;
  p += nx * sizeof(char *);
  b->data = (const char **)(void *)p;
  p += nm * sizeof(char *);
  b->len = (size_t *)(void *)p;
  p += nm * sizeof(size_t);
  b->binary = (unsigned char *)p;
  p += nm;
  b->path = memcpy(p, e->io->path, lp);
  p += lp;
  b->nsp = memcpy(p, e->nsp, ln);
  p += ln;
  for (size_t i = 0; i < nr; i++, p += strlen(p) + 1) b->rooms[i] = strcpy(p, to->rooms[i]);
  for (size_t i = 0; i < nx; i++, p += strlen(p) + 1) b->except[i] = strcpy(p, to->except[i]);
  for (size_t i = 0; i < nm; i++) {
    const sio_msg_t *m = i ? enc->atts[i - 1] : enc->text;
    b->len[i] = sio__msg_len(m);
    b->binary[i] = (unsigned char)sio__msg_binary(m);
    b->data[i] = memcpy(p, sio__msg_data(m), b->len[i]);
    p += b->len[i];
  }
  b->nrooms = nr;
  b->nexcept = nx;
  b->nmsgs = nm;
  b->flags = to ? to->flags : 0;
  b->slot = e->io->slot;
  atomic_init(&b->refs, 1);
  return b;
}

static void on_fast(sio_wmsg_t *m, int dropped) {
  wfast_t *f = (wfast_t *)m;
  wbytes_t *b = f->b;
  wep_t *e = dropped ? NULL : ep_find(f->g, f->to, b->slot, b->path, b->nsp);
  sio_msg_t *atts[SIO_PACKET_MAX_ATTACHMENTS + 1];
  sio_encoded_t enc = {NULL, atts, b->nmsgs - 1};
  size_t made = 0;
  if (e && b->nmsgs <= SIO_PACKET_MAX_ATTACHMENTS + 1)
    for (; made < b->nmsgs; made++) {
      sio_msg_t *msg = sio_msg_new(b->data[made], b->len[made], b->binary[made]);
      if (!msg) break;
      if (made) atts[made - 1] = msg;
      else enc.text = msg;
    }
  if (e && made == b->nmsgs) {
    if (b->flags & SIO_EMIT_NO_COMPRESS) sio__encoded_no_compress(&enc);
    sio_target_t to = {b->rooms, b->nrooms, b->except, b->nexcept, b->flags};
    sio_bcast_packet_t bp = {NULL, NULL, &enc};
    sio_io_t *io = sio__sac_nsp(e->sac)->io;
    sio__io_enter(io);
    e->local->vt->broadcast(e->local, &to, &bp);
    sio__io_leave(io);
  }
  for (size_t i = 0; i < made; i++) sio_msg_unref(i ? atts[i - 1] : enc.text);
  wbytes_unref(b);
  free(f);
}

static wep_t *ep_of(const sio_adapter_t *a) {
  return (wep_t *)(void *)((char *)(uintptr_t)a->vt - offsetof(wep_t, vt));
}

static int w_broadcast(sio_adapter_t *a, const sio_target_t *to, const sio_bcast_packet_t *bp) {
  wep_t *e = ep_of(a);
  /* Recovery numbers and keeps packets per node: sac's path, which carries the packet decoded. */
  if ((to && (to->flags & SIO_EMIT_LOCAL)) || sio__nsp_recovery_enabled(a->nsp))
    return e->sac_broadcast(a, to, bp);
  int r = e->local->vt->broadcast(e->local, to, bp);
  wbytes_t *b = wbytes_new(e, to, bp->enc);
  if (!b) return SIO_ENOMEM; /* delivered here, nothing published (adapter.h) */
  unsigned n = sio_workers_count(e->io->g);
  for (unsigned i = 0; i < n; i++) {
    if (i == e->io->index) continue;
    wfast_t *f = malloc(sizeof *f);
    if (!f) continue; /* that worker misses it, as a node would a lost message */
    f->m.run = on_fast;
    f->g = e->io->g;
    f->to = i;
    f->b = b;
    atomic_fetch_add(&b->refs, 1);
    if (sio__workers_post(e->io->g, i, &f->m)) {
      atomic_fetch_sub(&b->refs, 1);
      free(f);
    }
  }
  wbytes_unref(b);
  return r;
}

static int tp_publish(void *t, const sio_sac_msg_t *m, sio_sac_published_cb cb, void *arg) {
  int r = send_all(t, m, NULL);
  if (!r && cb) post_self(t, 1, NULL, cb, arg);
  return r;
}

static int tp_publish_response(void *t, const char *requester, const sio_sac_msg_t *m) {
  return send_all(t, m, requester);
}

static int tp_server_count(void *t, const char *request_id) {
  return post_self(t, 0, request_id, NULL, NULL);
}

static void tp_free(void *t) {
  wep_t *e = t;
  for (wep_t **pp = endpoints(e->io->g, e->io->index); *pp; pp = &(*pp)->next) {
    if (*pp == e) {
      *pp = e->next;
      break;
    }
  }
  free(e->nsp);
  free(e);
}

static const sio_sac_transport_t workers_transport = {
    .publish = tp_publish,
    .publish_response = tp_publish_response,
    .server_count = tp_server_count,
    .free = tp_free,
};

static sio_adapter_t *w_create(void *arg, sio_nsp_t *nsp, sio_adapter_t *local) {
  wio_t *io = arg;
  wep_t *e = calloc(1, sizeof *e);
  if (!e || !(e->nsp = strdup(sio_nsp_name(nsp)))) {
    free(e);
    return NULL;
  }
  e->io = io;
  e->id = ++io->next_id;
  if (!(e->sac = sio__sac_new(nsp, local, &workers_transport, e, REQUEST_TIMEOUT_MS))) {
    free(e->nsp);
    free(e);
    return NULL;
  }
  wep_t **head = endpoints(io->g, io->index);
  e->next = *head;
  *head = e;
  e->local = local;
  sio_adapter_t *a = sio__sac_adapter(e->sac);
  e->vt = *a->vt;
  e->sac_broadcast = a->vt->broadcast;
  e->vt.broadcast = w_broadcast;
  e->vt.all_rooms = sio__sac_all_rooms; /* every worker is sio */
  a->vt = &e->vt;
  return a;
}

static void w_free(void *arg) {
  wio_t *io = arg;
  free(io->path);
  free(io);
}

void sio__workers_io_join(sio_io_t *io) {
  unsigned index, slot;
  sio_workers_t *g = sio__server_workers(io->server, &index, &slot);
  if (!g || sio_workers_count(g) < 2) return;
  wio_t *w = calloc(1, sizeof *w);
  if (!w || !(w->path = strdup(io->path))) {
    free(w);
    return; /* stays in memory: this worker's sockets only */
  }
  w->g = g;
  w->index = index;
  w->slot = slot;
  sio_adapter_factory_t f = {w_create, NULL, w_free, w};
  if (sio__io_use_adapters(io, &f)) {
    w_free(w);
    return;
  }
  io->adapters_workers = 1;
}

void sio__workers_io_leave(sio_io_t *io) {
  if (!io->adapters_workers) return;
  for (sio_nsp_t *n = io->nsp_list; n; n = n->next)
    if (n->adapter) n->adapter = sio__sac_release((sio_sac_t *)n->adapter);
  if (io->adapters.free) io->adapters.free(io->adapters.arg);
  memset(&io->adapters, 0, sizeof io->adapters);
  io->adapters_workers = 0;
}

#else /* no sac without Redis support: every worker's ios stay in memory */

void sio__workers_io_join(sio_io_t *io) { (void)io; }
void sio__workers_io_leave(sio_io_t *io) { (void)io; }

#endif
