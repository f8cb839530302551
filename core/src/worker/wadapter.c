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
#include <stdlib.h>
#include <string.h>

#include "socketio/socketio.h"
#include "worker/workers.h"

#ifdef SIO_HAVE_REDIS

#include "adapter/sac.h"

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
  return sio__sac_adapter(e->sac);
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
