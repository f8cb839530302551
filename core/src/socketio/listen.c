/* Per-socket catch-all listeners and packet middleware: Node's onAny / prependAny / offAny /
 * listenersAny, their Outgoing twins, and socket.use. A socket without any has ext NULL, so the
 * event path costs one test. */
#include <stdlib.h>
#include <string.h>

#include "fail.h"
#include "socketio/socketio.h"

typedef struct {
  void (*cb)(void);
  void *arg;
} hook_t;

typedef struct {
  hook_t *v;
  uint32_t n, cap;
} hooks_t;

struct sio_socket_ext {
  hooks_t any[2]; /* [0] incoming, [1] outgoing */
  hooks_t mw;
};

struct sio_incoming_s {
  sio_socket_t *socket;
  hook_t *fns; /* the chain as it was when the event arrived */
  uint32_t n, i;
  int64_t ack_id;
  cJSON *args;
  sio_buf_t *bufs; /* one block: the sio_buf_t array, then the bytes */
  size_t nbufs;
  char event[];
};

static int usable(const sio_socket_t *s) { return s && (s->state == SOCK_PENDING || s->state == SOCK_CONNECTED); }

static struct sio_socket_ext *ext_of(sio_socket_t *s) {
  if (!s->ext) s->ext = calloc(1, sizeof *s->ext);
  return s->ext;
}

static int hooks_insert(hooks_t *h, int first, void (*cb)(void), void *arg) {
  if (h->n == h->cap) {
    uint32_t cap = h->cap ? h->cap * 2 : 2;
    hook_t *v = realloc(h->v, cap * sizeof *v);
    if (!v) return SIO_ENOMEM;
    h->v = v;
    h->cap = cap;
  }
  uint32_t at = first ? 0 : h->n;
  memmove(h->v + at + 1, h->v + at, (h->n - at) * sizeof *h->v);
  h->v[at].cb = cb;
  h->v[at].arg = arg;
  h->n++;
  return 0;
}

/* Outgoing lists make broadcasts visit their namespace's recipients: counted per namespace. */
static void watch(sio_socket_t *s, uint32_t before, uint32_t after) {
  if (!before && after) s->nsp->out_watched++;
  else if (before && !after) s->nsp->out_watched--;
}

int sio_socket_on_any(sio_socket_t *s, int flags, sio_any_cb cb, void *arg) {
  sio__error_clear();
  if (!s || !cb) return SIO_EINVAL;
  if (!usable(s)) return SIO_ECLOSED;
  struct sio_socket_ext *x = ext_of(s);
  if (!x) return SIO_ENOMEM;
  hooks_t *h = &x->any[(flags & SIO_ANY_OUTGOING) != 0];
  uint32_t before = h->n;
  int r = hooks_insert(h, flags & SIO_ANY_PREPEND, (void (*)(void))cb, arg);
  if (flags & SIO_ANY_OUTGOING) watch(s, before, h->n);
  return r;
}

size_t sio_socket_off_any(sio_socket_t *s, int flags, sio_any_cb cb, void *arg) {
  if (!s || !s->ext) return 0;
  hooks_t *h = &s->ext->any[(flags & SIO_ANY_OUTGOING) != 0];
  uint32_t before = h->n;
  if (!cb) {
    h->n = 0;
  } else {
    for (uint32_t i = 0; i < h->n; i++)
      if (h->v[i].cb == (void (*)(void))cb && h->v[i].arg == arg) {
        memmove(h->v + i, h->v + i + 1, (h->n - i - 1) * sizeof *h->v);
        h->n--;
        break;
      }
  }
  if (flags & SIO_ANY_OUTGOING) watch(s, before, h->n);
  return before - h->n;
}

size_t sio_socket_listeners_any(const sio_socket_t *s, int flags, size_t i, sio_any_cb *cb, void **arg) {
  if (!s || !s->ext) return 0;
  const hooks_t *h = &s->ext->any[(flags & SIO_ANY_OUTGOING) != 0];
  if (i < h->n) {
    if (cb) *cb = (sio_any_cb)h->v[i].cb;
    if (arg) *arg = h->v[i].arg;
  }
  return h->n;
}

int sio_socket_use(sio_socket_t *s, sio_packet_mw_cb cb, void *arg) {
  sio__error_clear();
  if (!s || !cb) return SIO_EINVAL;
  if (!usable(s)) return SIO_ECLOSED;
  struct sio_socket_ext *x = ext_of(s);
  return x ? hooks_insert(&x->mw, 0, (void (*)(void))cb, arg) : SIO_ENOMEM;
}

void sio__socket_ext_free(sio_socket_t *s) {
  struct sio_socket_ext *x = s->ext;
  if (!x) return;
  if (x->any[1].n) s->nsp->out_watched--;
  free(x->any[0].v);
  free(x->any[1].v);
  free(x->mw.v);
  free(x);
  s->ext = NULL;
}

/* ---- catch-alls ---- */

/* Calls every listener of the list as it is now: a copy, since a listener may change it (or
 * close the socket, which frees it). */
static void call_all(sio_socket_t *s, int dir, const char *event, const sio_args_t *args) {
  const hooks_t *h = &s->ext->any[dir];
  uint32_t n = h->n;
  if (!n) return;
  hook_t small[8];
  hook_t *v = n <= 8 ? small : malloc(n * sizeof *v);
  if (!v) return;
  memcpy(v, h->v, n * sizeof *v);
  for (uint32_t i = 0; i < n; i++) ((sio_any_cb)v[i].cb)(s, event, args, v[i].arg);
  if (v != small) free(v);
}

void sio__socket_notify_out(sio_socket_t *s, const char *event, const sio_args_t *args) {
  call_all(s, 1, event, args);
}

/* ---- packet middleware ---- */

const char *sio_incoming_event(const sio_incoming_t *in) { return in->event; }
cJSON *sio_incoming_args(sio_incoming_t *in) { return in->args; }
int64_t sio_incoming_ack_id(const sio_incoming_t *in) { return in->ack_id; }

const sio_buf_t *sio_incoming_bufs(const sio_incoming_t *in, size_t *nbufs) {
  if (nbufs) *nbufs = in->nbufs;
  return in->bufs;
}

/* The event as the chain keeps it: the name, the args (taken from p) and copies of the
 * attachments (the decoder's last one is borrowed from a message that goes away). */
static sio_incoming_t *incoming_new(sio_socket_t *s, const char *event, sio_packet_t *p) {
  size_t el = strlen(event), bytes = 0;
  for (size_t i = 0; i < p->attachment_count; i++) bytes += p->attachments[i].len;
  uint32_t n = s->ext->mw.n;
  sio_incoming_t *in = calloc(1, sizeof *in + el + 1);
  if (!in) return NULL;
  in->fns = malloc(n * sizeof *in->fns);
  if (p->attachment_count) in->bufs = malloc(p->attachment_count * sizeof *in->bufs + bytes);
  if (!in->fns || (p->attachment_count && !in->bufs)) {
    free(in->fns);
    free(in->bufs);
    free(in);
    return NULL;
  }
  memcpy(in->fns, s->ext->mw.v, n * sizeof *in->fns);
  in->n = n;
  in->socket = s;
  in->ack_id = p->id;
  memcpy(in->event, event, el + 1);
  in->args = p->data;
  p->data = NULL;
  char *at = (char *)(in->bufs + p->attachment_count);
  for (size_t i = 0; i < p->attachment_count; i++) {
    memcpy(at, p->attachments[i].data, p->attachments[i].len);
    in->bufs[i].data = at;
    in->bufs[i].len = p->attachments[i].len;
    at += p->attachments[i].len;
  }
  in->nbufs = p->attachment_count;
  return in;
}

static void incoming_free(sio_incoming_t *in) {
  cJSON_Delete(in->args);
  free(in->bufs);
  free(in->fns);
  free(in);
}

static void run(sio_incoming_t *in) {
  hook_t *m = &in->fns[in->i++];
  ((sio_packet_mw_cb)m->cb)(in->socket, in, m->arg);
}

static void dispatch(sio_socket_t *s, const char *event, const sio_args_t *args, int64_t ack_id) {
  sio_event_cb cb = sio__nsp_effective(s->nsp)->cbs.on_event;
  if (cb) cb(s, event, args, ack_id);
}

void sio_incoming_next(sio_incoming_t *in, const cJSON *err) {
  if (!in) return;
  sio_socket_t *s = in->socket;
  sio_io_t *io = s->nsp->io;
  int connected = s->state == SOCK_CONNECTED;
  if (connected && !err && in->i < in->n) {
    run(in);
    return;
  }
  sio__io_enter(io);
  if (connected && !err) {
    sio_args_t args = {in->args, in->bufs, in->nbufs};
    dispatch(s, in->event, &args, in->ack_id);
  } else if (connected) {
    /* Node's socket._onerror: "error" on the socket, the ack never answered */
    cJSON *a = cJSON_CreateArray();
    cJSON *e = cJSON_Duplicate(err, 1);
    if (a && e && cJSON_AddItemToArray(a, e)) {
      sio_args_t args = {a, NULL, 0};
      dispatch(s, "error", &args, -1);
    } else {
      cJSON_Delete(e);
    }
    cJSON_Delete(a);
  }
  incoming_free(in);
  s->chains--;
  io->mw_count--;
  if (!s->chains && s->released) {
    s->released = 0;
    sio__socket_release(s);
  }
  sio__io_leave(io);
  sio__io_maybe_free(io);
}

void sio__socket_dispatch_ext(sio_socket_t *s, const char *event, sio_packet_t *p) {
  sio_io_t *io = s->nsp->io;
  sio__io_enter(io);
  sio_args_t args = {p->data, (const sio_buf_t *)p->attachments, p->attachment_count};
  call_all(s, 0, event, &args);
  if (s->state != SOCK_CONNECTED) { /* a catch-all disconnected it */
  } else if (!s->ext->mw.n) {
    dispatch(s, event, &args, p->id);
  } else {
    sio_incoming_t *in = incoming_new(s, event, p);
    if (in) {
      s->chains++;
      io->mw_count++;
      run(in);
    }
  }
  sio__io_leave(io);
}
