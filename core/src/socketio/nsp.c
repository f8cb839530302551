/* Namespaces: static ones, dynamic parents and their children, middleware, broadcasting. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fail.h"
#include "socketio/socketio.h"

/* ---------------------------------------------------------------------------------------------- */
/* Emitting                                                                                        */

cJSON *sio__event_array(const char *event, const cJSON *args) {
  cJSON *a = cJSON_CreateArray();
  if (!a) return NULL;
  if (event && !cJSON_AddItemToArray(a, cJSON_CreateString(event))) goto fail;
  if (args)
    for (cJSON *c = args->child; c; c = c->next)
      if (!cJSON_AddItemReferenceToArray(a, c)) goto fail;
  return a;
fail:
  cJSON_Delete(a);
  return NULL;
}

int sio__check_emit(const char *event, const sio_args_t *args) {
  if (!event) return SIO_EINVAL;
  if (sio_event_reserved(event, 0))
    return sio__fail(SIO_ERESERVED, "\"%s\" is a reserved event name", event);
  if (args) {
    if (args->json && !cJSON_IsArray(args->json))
      return sio__fail(SIO_EINVAL, "the arguments are not a JSON array");
    if (args->nbufs > SIO_PACKET_MAX_ATTACHMENTS || (args->nbufs && !args->bufs))
      return sio__fail(SIO_EINVAL, "%zu attachments (at most %d)", args->nbufs, SIO_PACKET_MAX_ATTACHMENTS);
  }
  return 0;
}

/* ---------------------------------------------------------------------------------------------- */
/* Namespaces                                                                                      */

int sio__nsp_new(sio_io_t *io, const char *name, sio_nsp_t *parent, sio_nsp_t **out) {
  sio_nsp_t *n = calloc(1, sizeof *n);
  if (!n) return SIO_ENOMEM;
  n->io = io;
  n->parent = parent;
  n->name = strdup(name);
  n->adapter = n->name ? sio_memory_adapter_new(n) : NULL;
  if (n->adapter && io->cluster) {
    sio_adapter_t *c = sio__redis_adapter_wrap(io->cluster, n->adapter);
    if (!c) n->adapter->vt->free(n->adapter);
    n->adapter = c;
  }
  if (!n->adapter || sio_map_put(&io->nsps, n->name, n)) {
    if (n->adapter) n->adapter->vt->free(n->adapter);
    free(n->name);
    free(n);
    return SIO_ENOMEM;
  }
  n->next = io->nsp_list;
  io->nsp_list = n;
  if (parent) {
    n->sibling = parent->children;
    parent->children = n;
  }
  *out = n;
  return 0;
}

void sio__nsp_free(sio_nsp_t *n) {
  if (n->adapter) n->adapter->vt->free(n->adapter);
  if (n->has_regex) regfree(&n->regex);
  sio_map_free(&n->by_id);
  free(n->mw);
  free(n->name);
  free(n);
}

int sio_io_of(sio_io_t *io, const char *name, sio_nsp_t **out) {
  if (!io || !name || !out) return SIO_EINVAL;
  char *full = NULL;
  if (name[0] != '/') {
    size_t n = strlen(name);
    full = malloc(n + 2);
    if (!full) return SIO_ENOMEM;
    full[0] = '/';
    memcpy(full + 1, name, n + 1);
    name = full;
  }
  int r = 0;
  if (strchr(name, ',') || strchr(name, '?')) r = SIO_EINVAL; /* would not survive the wire */
  else if ((*out = sio_map_get(&io->nsps, name)) == NULL) r = sio__nsp_new(io, name, NULL, out);
  free(full);
  return r;
}

int sio_io_dynamic(sio_io_t *io, const char *regex, sio_nsp_match_cb match, sio_nsp_t **out) {
  if (!io || !out) return SIO_EINVAL;
  sio_nsp_t *n = calloc(1, sizeof *n);
  if (!n) return SIO_ENOMEM;
  static unsigned parent_seq;
  char name[32];
  snprintf(name, sizeof name, "/_%u", ++parent_seq); /* the reference names parents so, too */
  n->io = io;
  n->is_parent = 1;
  n->match = match;
  n->name = strdup(name);
  if (!n->name) {
    free(n);
    return SIO_ENOMEM;
  }
  if (regex) {
    if (regcomp(&n->regex, regex, REG_EXTENDED | REG_NOSUB) != 0) {
      free(n->name);
      free(n);
      return SIO_EINVAL;
    }
    n->has_regex = 1;
  }
  if (io->parents_tail) io->parents_tail->pnext = n;
  else io->parents = n;
  io->parents_tail = n;
  *out = n;
  return 0;
}

sio_nsp_t *sio__nsp_lookup(sio_io_t *io, const char *name, const cJSON *auth) {
  sio_nsp_t *n = sio_map_get(&io->nsps, name);
  if (n) return n;
  if (name[0] != '/') return NULL;
  for (sio_nsp_t *p = io->parents; p; p = p->pnext) {
    if (p->has_regex && regexec(&p->regex, name, 0, NULL, 0) != 0) continue;
    if (p->match && !p->match(p, name, auth)) continue;
    /* The match callback may have created it meanwhile. */
    if ((n = sio_map_get(&io->nsps, name)) != NULL) return n;
    return sio__nsp_new(io, name, p, &n) == 0 ? n : NULL;
  }
  return NULL;
}

void sio_nsp_set_callbacks(sio_nsp_t *nsp, const sio_nsp_callbacks_t *cbs) {
  if (cbs) nsp->cbs = *cbs;
  else memset(&nsp->cbs, 0, sizeof nsp->cbs);
}

const char *sio_nsp_name(const sio_nsp_t *nsp) { return nsp->name; }
sio_nsp_t *sio_nsp_parent(const sio_nsp_t *nsp) { return nsp->parent; }
sio_io_t *sio_nsp_io(const sio_nsp_t *nsp) { return nsp->io; }
void *sio_nsp_get_data(const sio_nsp_t *nsp) { return nsp->data; }
void sio_nsp_set_data(sio_nsp_t *nsp, void *data) { nsp->data = data; }

sio_socket_t *sio_nsp_socket(const sio_nsp_t *nsp, const char *id) {
  if (!nsp || !id || nsp->is_parent) return NULL;
  return sio_map_get(&nsp->by_id, id);
}

size_t sio_nsp_socket_count(const sio_nsp_t *nsp) {
  if (!nsp->is_parent) return nsp->count;
  size_t n = 0;
  for (const sio_nsp_t *c = nsp->children; c; c = c->sibling) n += c->count;
  return n;
}

int sio_nsp_use(sio_nsp_t *nsp, sio_middleware_cb cb, void *arg) {
  if (!nsp || !cb) return SIO_EINVAL;
  if (nsp->nmw >= UINT16_MAX) return SIO_EINVAL;
  sio_mw_t *m = realloc(nsp->mw, (nsp->nmw + 1) * sizeof *m);
  if (!m) return SIO_ENOMEM;
  m[nsp->nmw].cb = cb;
  m[nsp->nmw].arg = arg;
  nsp->mw = m;
  nsp->nmw++;
  return 0;
}

/* ---------------------------------------------------------------------------------------------- */
/* Broadcasting                                                                                    */

static void notify_outgoing(sio_nsp_t *nsp, const sio_target_t *to, const char *event,
                            const sio_args_t *args) {
  sio_outgoing_cb cb = sio__nsp_effective(nsp)->cbs.on_outgoing;
  if (!cb) return;
  sio_socket_t **v;
  int n = nsp->adapter->vt->select(nsp->adapter, to, &v);
  for (int i = 0; i < n; i++)
    if (v[i]->state == SOCK_CONNECTED) cb(v[i], event, args);
  if (n >= 0) free(v);
}

/* Builds an EVENT packet for `nsp` from event and args (data references args; see
 * sio__event_array). */
static int event_packet(sio_nsp_t *nsp, const char *event, const sio_args_t *args,
                        sio_packet_t *p) {
  memset(p, 0, sizeof *p);
  p->nsp = nsp->name;
  p->id = -1;
  p->attachment_count = args ? args->nbufs : 0;
  p->type = p->attachment_count ? SIO_PACKET_BINARY_EVENT : SIO_PACKET_EVENT;
  p->data = sio__event_array(event, args ? args->json : NULL);
  return p->data ? 0 : SIO_ENOMEM;
}

static int nsp_emit(sio_nsp_t *nsp, const sio_target_t *to, const char *event,
                    const sio_args_t *args) {
  if (nsp->is_parent) {
    int r = 0;
    for (sio_nsp_t *c = nsp->children; c && !r; c = c->sibling) r = nsp_emit(c, to, event, args);
    return r;
  }
  sio_packet_t p;
  int r = event_packet(nsp, event, args, &p);
  sio_encoded_t enc;
  if (!r) r = sio__encode(&p, args ? args->bufs : NULL, &enc);
  if (!r) {
    notify_outgoing(nsp, to, event, args);
    r = nsp->adapter->vt->broadcast(nsp->adapter, to, &p, &enc);
    sio__encoded_clear(&enc);
  }
  cJSON_Delete(p.data);
  return r;
}

int sio_nsp_emit(sio_nsp_t *nsp, const sio_target_t *to, const char *event, const sio_args_t *args) {
  if (!nsp) return SIO_EINVAL;
  int r = sio__check_emit(event, args);
  if (r) return r;
  sio__io_enter(nsp->io);
  r = nsp_emit(nsp, to, event, args);
  sio__io_leave(nsp->io);
  return r;
}

/* ---- broadcasts with acks ---- */

static void free_timer(uv_handle_t *h) { free(h); }

/* Ends a broadcast with acks: forgets every answer still awaited, then reports. */
void sio__bcast_finish(sio_bcast_ack_t *b, int status) {
  sio_io_t *io = b->nsp->io;
  sio__io_enter(io);
  if (b->prev) b->prev->next = b->next;
  else io->bcasts = b->next;
  if (b->next) b->next->prev = b->prev;
  if (b->timer) uv_close((uv_handle_t *)b->timer, free_timer);
  for (size_t i = 0; i < b->nwaiting; i++) {
    sio_pending_ack_t *a = b->waiting[i];
    if (!a) continue;
    sio_socket_t *s = a->socket;
    if (a->prev) a->prev->next = a->next;
    else s->acks = a->next;
    if (a->next) a->next->prev = a->prev;
    free(a);
  }
  sio_args_t res = {b->responses, b->bufs, b->nbufs};
  if (b->cb) b->cb(b->nsp, status, &res, b->arg);
  cJSON_Delete(b->responses);
  for (size_t i = 0; i < b->nbufs; i++) free((void *)b->bufs[i].data);
  free(b->bufs);
  free(b->waiting);
  free(b);
  sio__io_leave(io);
}

static int bcast_complete(const sio_bcast_ack_t *b) {
  return b->received >= b->expected &&
         (!b->request_id[0] || (b->nodes_known && b->nodes_reported >= b->nodes_expected));
}

void sio__bcast_check(sio_bcast_ack_t *b) {
  if (bcast_complete(b)) sio__bcast_finish(b, 0);
}

static void on_bcast_timeout(uv_timer_t *t) {
  sio_bcast_ack_t *b = t->data;
  sio__bcast_finish(b, bcast_complete(b) ? 0 : SIO_ETIMEDOUT);
}

static void shift_placeholders(cJSON *item, size_t offset, int depth) {
  if (depth > SIO_PACKET_MAX_DEPTH) return;
  size_t num;
  if (sio_packet_is_placeholder(item, &num)) {
    cJSON_SetNumberValue(cJSON_GetObjectItemCaseSensitive(item, "num"), (double)(num + offset));
    return;
  }
  if (cJSON_IsArray(item) || cJSON_IsObject(item))
    for (cJSON *c = item->child; c; c = c->next) shift_placeholders(c, offset, depth + 1);
}

/* Keeps a copy of one answer (its attachments appended to the broadcast's). */
static void collect_answer(sio_bcast_ack_t *b, const cJSON *answer, const sio_buf_t *bufs,
                           size_t nbufs) {
  cJSON *copy = answer ? cJSON_Duplicate(answer, 1) : cJSON_CreateNull();
  if (copy && nbufs) {
    sio_buf_t *nb = realloc(b->bufs, (b->nbufs + nbufs) * sizeof *nb);
    if (nb) {
      b->bufs = nb;
      shift_placeholders(copy, b->nbufs, 1);
      for (size_t i = 0; i < nbufs; i++) {
        char *d = malloc(bufs[i].len ? bufs[i].len : 1);
        if (d) memcpy(d, bufs[i].data, bufs[i].len);
        b->bufs[b->nbufs].data = d;
        b->bufs[b->nbufs].len = d ? bufs[i].len : 0;
        b->nbufs++;
      }
    }
  }
  if (copy) cJSON_AddItemToArray(b->responses, copy);
}

void sio__bcast_add_answer(sio_bcast_ack_t *b, const cJSON *answer, const sio_buf_t *bufs,
                           size_t nbufs) {
  b->received++;
  if (b->on_answer) b->on_answer(b, answer, bufs, nbufs);
  else collect_answer(b, answer, bufs, nbufs);
  sio__bcast_check(b);
}

void sio__bcast_ack_answer(sio_bcast_ack_t *b, size_t slot, const sio_args_t *args) {
  b->waiting[slot] = NULL;
  sio__bcast_add_answer(b, args->json ? args->json->child : NULL, args->bufs, args->nbufs);
}

/* Sends the packet to the local targeted sockets, each with a pending ack pointing at b; on the
 * io's list with its timer initialised (not started). */
static int bcast_begin(sio_nsp_t *nsp, const sio_target_t *to, const char *event,
                       const sio_args_t *args, sio_bcast_ack_t *b, sio_packet_t *p,
                       sio_encoded_t *enc) {
  sio_io_t *io = nsp->io;
  sio_socket_t **v = NULL;
  int n = nsp->adapter->vt->select(nsp->adapter, to, &v);
  int r = n < 0 ? n : event_packet(nsp, event, args, p);
  if (!r) {
    p->id = (int64_t)(nsp->ack_ids++ & INT64_MAX);
    r = sio__encode(p, args ? args->bufs : NULL, enc);
    if (r) cJSON_Delete(p->data);
  }
  if (!r && n > 0 && !(b->waiting = calloc((size_t)n, sizeof *b->waiting))) {
    sio__encoded_clear(enc);
    cJSON_Delete(p->data);
    r = SIO_ENOMEM;
  }
  if (r) {
    free(v);
    return r;
  }
  uv_timer_init(sio_server_loop(io->server), b->timer);
  b->timer->data = b;
  b->next = io->bcasts;
  if (io->bcasts) io->bcasts->prev = b;
  io->bcasts = b;
  int flags = to ? to->flags : 0;
  sio_outgoing_cb out_cb = sio__nsp_effective(nsp)->cbs.on_outgoing;
  for (int i = 0; i < n; i++) {
    sio_socket_t *s = v[i];
    if (s->state != SOCK_CONNECTED) continue;
    sio_pending_ack_t *a = calloc(1, sizeof *a);
    if (!a) break;
    a->socket = s;
    a->id = p->id;
    a->bcast = b;
    a->bcast_slot = b->nwaiting;
    a->next = s->acks;
    if (s->acks) s->acks->prev = a;
    s->acks = a;
    b->waiting[b->nwaiting++] = a;
    b->expected++;
    if (out_cb) out_cb(s, event, args);
    sio_socket_write_encoded(s, enc, flags);
  }
  free(v);
  return 0;
}

static sio_bcast_ack_t *bcast_new(sio_nsp_t *nsp, sio_broadcast_ack_cb cb, void *arg) {
  sio_bcast_ack_t *b = calloc(1, sizeof *b);
  if (!b) return NULL;
  b->nsp = nsp;
  b->cb = cb;
  b->arg = arg;
  b->responses = cJSON_CreateArray();
  b->timer = malloc(sizeof *b->timer);
  if (!b->responses || !b->timer) {
    cJSON_Delete(b->responses);
    free(b->timer);
    free(b);
    return NULL;
  }
  return b;
}

static void bcast_free_unstarted(sio_bcast_ack_t *b) {
  cJSON_Delete(b->responses);
  free(b->timer);
  free(b->waiting);
  free(b);
}

int sio__bcast_local(sio_nsp_t *nsp, const sio_target_t *to, const char *event,
                     const sio_args_t *args, uint32_t timeout_ms, sio_bcast_answer_cb on_answer,
                     sio_broadcast_ack_cb finish, void *arg, size_t *count) {
  int r = sio__check_emit(event, args);
  if (r) return r;
  sio_bcast_ack_t *b = bcast_new(nsp, finish, arg);
  if (!b) return SIO_ENOMEM;
  b->on_answer = on_answer;
  sio_packet_t p;
  sio_encoded_t enc;
  sio__io_enter(nsp->io);
  r = bcast_begin(nsp, to, event, args, b, &p, &enc);
  if (r) {
    bcast_free_unstarted(b);
  } else {
    cJSON_Delete(p.data);
    sio__encoded_clear(&enc);
    *count = b->expected;
    uv_timer_start(b->timer, on_bcast_timeout, b->expected ? timeout_ms : 0, 0);
  }
  sio__io_leave(nsp->io);
  return r;
}

int sio_nsp_emit_ack(sio_nsp_t *nsp, const sio_target_t *to, const char *event,
                     const sio_args_t *args, uint32_t timeout_ms, sio_broadcast_ack_cb cb,
                     void *arg) {
  if (!nsp || !cb || nsp->is_parent) return SIO_EINVAL;
  /* No timeout: wait for every answer; in practice 2^31-1 ms, the longest timer a Node node of the
   * cluster (which is sent the timeout) can set. */
  if (timeout_ms == 0 || timeout_ms > 0x7fffffffu) timeout_ms = 0x7fffffffu;
  int r = sio__check_emit(event, args);
  if (r) return r;
  sio_bcast_ack_t *b = bcast_new(nsp, cb, arg);
  if (!b) return SIO_ENOMEM;
  sio_io_t *io = nsp->io;
  sio_packet_t p;
  sio_encoded_t enc;
  sio__io_enter(io);
  r = bcast_begin(nsp, to, event, args, b, &p, &enc);
  if (r) {
    bcast_free_unstarted(b);
    sio__io_leave(io);
    return r;
  }
  int remote = 0;
  if (nsp->adapter->vt->broadcast_ack && !(to && (to->flags & SIO_EMIT_LOCAL)))
    remote = nsp->adapter->vt->broadcast_ack(nsp->adapter, to, &p, &enc, b, timeout_ms) == 0;
  cJSON_Delete(p.data);
  sio__encoded_clear(&enc);
  /* Always answered from the loop, never from inside this call (also when nobody was targeted). */
  uv_timer_start(b->timer, on_bcast_timeout, b->expected || remote ? timeout_ms : 0, 0);
  sio__io_leave(io);
  return 0;
}

/* ---- selections ---- */

size_t sio_nsp_each(sio_nsp_t *nsp, const sio_target_t *to, sio_socket_iter_cb cb, void *arg) {
  if (!nsp || !cb) return 0;
  size_t visited = 0;
  if (nsp->is_parent) {
    for (sio_nsp_t *c = nsp->children; c; c = c->sibling) visited += sio_nsp_each(c, to, cb, arg);
    return visited;
  }
  sio__io_enter(nsp->io);
  sio_socket_t **v;
  int n = nsp->adapter->vt->select(nsp->adapter, to, &v);
  for (int i = 0; i < n; i++) {
    if (v[i]->state != SOCK_CONNECTED) continue;
    visited++;
    if (cb(v[i], arg)) break;
  }
  if (n >= 0) free(v);
  sio__io_leave(nsp->io);
  return visited;
}

static int join_one(sio_socket_t *s, void *room) {
  sio_socket_join(s, room);
  return 0;
}
static int leave_one(sio_socket_t *s, void *room) {
  sio_socket_leave(s, room);
  return 0;
}
static int disconnect_one(sio_socket_t *s, void *close) {
  sio_socket_disconnect(s, close != NULL);
  return 0;
}

/* What a selection does here, then on the other nodes (unless SIO_EMIT_LOCAL). */
static int selection(sio_nsp_t *nsp, const sio_target_t *to, int op, const char *room, int close) {
  static const sio_socket_iter_cb fns[] = {[SIO_OP_JOIN] = join_one, [SIO_OP_LEAVE] = leave_one,
                                            [SIO_OP_DISCONNECT] = disconnect_one};
  sio_nsp_each(nsp, to, fns[op], op == SIO_OP_DISCONNECT ? (close ? (void *)1 : NULL) : (void *)room);
  /* As a broadcast: done here whatever becomes of the other nodes' part (Redis may be down); but
   * a request that could not be made (nothing was published) is the caller's to know. */
  int r = 0;
  if (!nsp->is_parent && !(to && (to->flags & SIO_EMIT_LOCAL)) && nsp->adapter->vt->apply)
    r = nsp->adapter->vt->apply(nsp->adapter, to, op, room, close);
  return r == SIO_ENOMEM ? r : 0;
}

int sio_nsp_join(sio_nsp_t *nsp, const sio_target_t *to, const char *room) {
  if (!nsp || !room) return SIO_EINVAL;
  return selection(nsp, to, SIO_OP_JOIN, room, 0);
}

int sio_nsp_leave(sio_nsp_t *nsp, const sio_target_t *to, const char *room) {
  if (!nsp || !room) return SIO_EINVAL;
  return selection(nsp, to, SIO_OP_LEAVE, room, 0);
}

void sio_nsp_disconnect(sio_nsp_t *nsp, const sio_target_t *to, int close) {
  if (nsp) selection(nsp, to, SIO_OP_DISCONNECT, NULL, close);
}

/* ---- cluster requests ---- */

void sio__count_unref(sio_count_req_t *r) {
  if (--r->refs == 0) {
    cJSON_Delete(r->items);
    free(r);
  }
}

void sio__count_finish(sio_count_req_t *r, int status) {
  if (r->done) return;
  r->done = 1;
  sio_io_t *io = r->nsp->io;
  if (r->prev) r->prev->next = r->next;
  else io->counts = r->next;
  if (r->next) r->next->prev = r->prev;
  if (r->timer) uv_close((uv_handle_t *)r->timer, free_timer);
  r->timer = NULL;
  sio__io_enter(io);
  switch (r->kind) {
  case SIO_REQ_COUNT:
    r->cb.count(r->nsp, status, r->count, r->arg);
    break;
  case SIO_REQ_ROOMS: {
    size_t n = 0;
    for (const cJSON *c = r->items ? r->items->child : NULL; c; c = c->next) n++;
    const char **v = malloc((n ? n : 1) * sizeof *v);
    size_t i = 0;
    for (const cJSON *c = v ? r->items->child : NULL; c; c = c->next) v[i++] = c->string;
    r->cb.rooms(r->nsp, v ? status : SIO_ENOMEM, v, i, r->arg);
    free(v);
    break;
  }
  case SIO_REQ_SERVER_EMIT:
    r->cb.server(r->nsp, status, r->items, r->arg);
    break;
  case SIO_REQ_SOCKETS:
    r->cb.sockets(r->nsp, status, r->items, r->arg);
    break;
  }
  sio__io_leave(io);
  sio__count_unref(r);
}

static void on_count_timer(uv_timer_t *t) {
  sio_count_req_t *r = t->data;
  /* With no other node to ask, the timer only defers the answer out of the call (with the
   * adapter's reason when it could not ask them); else the answers did not all come in time (all
   * of them would have finished it). */
  sio__count_finish(r, r->remote ? SIO_ETIMEDOUT : r->status);
}

/* The rooms of a SIO_REQ_ROOMS request, failed once one could not be added. */
typedef struct {
  cJSON *items;
  int failed;
} rooms_t;

static void add_room(const char *room, void *arg) {
  rooms_t *rs = arg;
  if (rs->failed || cJSON_GetObjectItemCaseSensitive(rs->items, room)) return;
  cJSON *t = cJSON_CreateTrue();
  if (!t || !cJSON_AddItemToObject(rs->items, room, t)) {
    cJSON_Delete(t);
    rs->failed = 1;
  }
}

/* Starts a cluster request: this node's part, then the adapter's; the callback comes from the
 * loop. `data`: the server-side event, for SIO_REQ_SERVER_EMIT. */
static int start_request(sio_nsp_t *nsp, int kind, const sio_target_t *to, void (*cb)(void),
                         void *arg, const cJSON *data) {
  if (!nsp || !cb || nsp->is_parent) return SIO_EINVAL;
  sio_io_t *io = nsp->io;
  if (io->shutting_down) return SIO_ECLOSED;
  if (kind == SIO_REQ_SERVER_EMIT && !nsp->adapter->vt->request) return UV_ENOSYS;
  sio_count_req_t *r = calloc(1, sizeof *r);
  if (!r) return SIO_ENOMEM;
  r->timer = malloc(sizeof *r->timer);
  r->kind = (uint8_t)kind;
  r->nsp = nsp;
  r->arg = arg;
  r->refs = 1;
  int e = r->timer ? 0 : SIO_ENOMEM;
  if (!e && (kind == SIO_REQ_COUNT || kind == SIO_REQ_SOCKETS)) {
    if (kind == SIO_REQ_COUNT) r->cb.count = (sio_count_cb)cb;
    else r->cb.sockets = (sio_sockets_cb)cb;
    sio_socket_t **v;
    int n = nsp->adapter->vt->select(nsp->adapter, to, &v);
    if (n < 0) e = n;
    if (!e && kind == SIO_REQ_SOCKETS && !(r->items = cJSON_CreateArray())) e = SIO_ENOMEM;
    /* A list missing a socket would pass for the whole: SIO_ENOMEM instead. */
    for (int i = 0; !e && kind == SIO_REQ_SOCKETS && i < n; i++) {
      if (v[i]->state != SOCK_CONNECTED) continue;
      cJSON *d = sio__socket_describe(v[i]);
      if (!cJSON_AddItemToArray(r->items, d)) {
        cJSON_Delete(d);
        e = SIO_ENOMEM;
      }
    }
    if (n >= 0) free(v);
    r->count = n < 0 ? 0 : (size_t)n;
  } else if (!e && kind == SIO_REQ_ROOMS) {
    r->cb.rooms = (sio_rooms_cb)cb;
    r->items = cJSON_CreateObject();
    rooms_t rs = {r->items, 0};
    if (rs.items) sio_memory_adapter_rooms(sio__cluster_inner(nsp->adapter), add_room, &rs);
    if (!rs.items || rs.failed) e = SIO_ENOMEM;
  } else if (!e) {
    r->cb.server = (sio_server_ack_cb)cb;
    if (!(r->items = cJSON_CreateArray())) e = SIO_ENOMEM;
  }
  if (!e && nsp->adapter->vt->request) e = nsp->adapter->vt->request(nsp->adapter, to, r, data);
  if (e) {
    free(r->timer);
    cJSON_Delete(r->items);
    free(r);
    return e;
  }
  uv_timer_init(sio_server_loop(io->server), r->timer);
  r->timer->data = r;
  uv_timer_start(r->timer, on_count_timer, r->remote ? sio__cluster_timeout(io->cluster) : 0, 0);
  r->next = io->counts;
  if (io->counts) io->counts->prev = r;
  io->counts = r;
  return 0;
}

int sio_nsp_fetch_count(sio_nsp_t *nsp, const sio_target_t *to, sio_count_cb cb, void *arg) {
  return start_request(nsp, SIO_REQ_COUNT, to, (void (*)(void))cb, arg, NULL);
}

int sio_nsp_fetch_sockets(sio_nsp_t *nsp, const sio_target_t *to, sio_sockets_cb cb, void *arg) {
  return start_request(nsp, SIO_REQ_SOCKETS, to, (void (*)(void))cb, arg, NULL);
}

int sio_nsp_fetch_rooms(sio_nsp_t *nsp, sio_rooms_cb cb, void *arg) {
  return start_request(nsp, SIO_REQ_ROOMS, NULL, (void (*)(void))cb, arg, NULL);
}

/* ["event", ...args] for a server-side event: JSON only (the wire is JSON text). */
static int server_event_data(const char *event, const sio_args_t *args, cJSON **out) {
  if (!event || (args && args->nbufs)) return SIO_EINVAL;
  if (args && args->json && !cJSON_IsArray(args->json)) return SIO_EINVAL;
  *out = sio__event_array(event, args ? args->json : NULL);
  return *out ? 0 : SIO_ENOMEM;
}

/* Node's serverSideEmit refuses its namespaces' own event names. */
static int check_server_event(const char *event) {
  if (event && sio_event_reserved(event, 1))
    return sio__fail(SIO_ERESERVED, "\"%s\" is a reserved event name", event);
  return 0;
}

int sio_nsp_server_emit(sio_nsp_t *nsp, const char *event, const sio_args_t *args) {
  if (!nsp || nsp->is_parent) return SIO_EINVAL;
  if (check_server_event(event)) return SIO_ERESERVED;
  cJSON *data;
  int r = server_event_data(event, args, &data);
  if (r) return r;
  r = nsp->adapter->vt->server_emit ? nsp->adapter->vt->server_emit(nsp->adapter, data) : UV_ENOSYS;
  cJSON_Delete(data);
  return r;
}

int sio_nsp_server_emit_ack(sio_nsp_t *nsp, const char *event, const sio_args_t *args,
                            sio_server_ack_cb cb, void *arg) {
  if (!nsp) return SIO_EINVAL;
  if (check_server_event(event)) return SIO_ERESERVED;
  cJSON *data;
  int r = server_event_data(event, args, &data);
  if (r) return r;
  r = start_request(nsp, SIO_REQ_SERVER_EMIT, NULL, (void (*)(void))cb, arg, data);
  cJSON_Delete(data);
  return r;
}

int sio_nsp_server_reply(sio_nsp_t *nsp, const char *reply_id, const cJSON *value) {
  if (!nsp || !reply_id || nsp->is_parent) return SIO_EINVAL;
  if (!nsp->adapter->vt->server_reply) return UV_ENOSYS;
  return nsp->adapter->vt->server_reply(nsp->adapter, reply_id, value);
}
