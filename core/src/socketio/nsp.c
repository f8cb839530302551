/* Namespaces: static ones, dynamic parents and their children, middleware, broadcasting. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fail.h"
#include "socketio/recovery.h"
#include "socketio/socketio.h"
#include "worker/workers.h"

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
  sio__error_clear();
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
  n->adapter = n->name ? sio__memory_adapter_new(n) : NULL;
  if (n->adapter && io->adapters.create) {
    sio_adapter_t *c = io->adapters.create(io->adapters.arg, n, n->adapter);
    if (!c) n->adapter->vt->free(n->adapter);
    n->adapter = c;
  }
  const sio_io_options_t *o = &io->opts;
  /* An adapter that keeps sessions (shared between nodes) keeps the packets too. */
  if (n->adapter && o->connection_state_recovery.enabled && !n->adapter->vt->restore_session &&
      !(n->recovery = sio__recovery_new(o->connection_state_recovery.max_disconnection_duration_ms,
                                        o->connection_state_recovery.max_bytes))) {
    n->adapter->vt->free(n->adapter);
    n->adapter = NULL;
  }
  if (!n->adapter || sio_map_put(&io->nsps, n->name, n)) {
    sio__recovery_free(n->recovery);
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
  sio__recovery_free(n->recovery);
  if (n->adapter) n->adapter->vt->free(n->adapter);
  if (n->has_regex) regfree(&n->regex);
  sio_map_free(&n->by_id);
  free(n->mw);
  free(n->name);
  free(n);
}

int sio__io_use_adapters(sio_io_t *io, const sio_adapter_factory_t *f) {
  /* Redis replaces the workers' in-process bus: each worker is then a node of its own. */
  if (io->adapters_workers && !io->shutting_down) {
    if (!f) return 0;
    sio__workers_io_leave(io);
  }
  if (io->adapters.create) return SIO_EEXIST;
  if (io->shutting_down) return SIO_ECLOSED;
  if (!f) return 0;
  io->adapters = *f;
  /* The namespaces that exist keep their rooms: their in-memory adapters are taken over. */
  for (sio_nsp_t *n = io->nsp_list; n; n = n->next) {
    sio_adapter_t *a = f->create(f->arg, n, n->adapter);
    if (!a) continue;
    n->adapter = a;
    /* Sessions move to the adapter: what this node kept so far is no longer looked at. */
    if (a->vt->restore_session) {
      sio__recovery_free(n->recovery);
      n->recovery = NULL;
    }
  }
  return 0;
}

int sio_io_of(sio_io_t *io, const char *name, sio_nsp_t **out) {
  sio__error_clear();
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
  sio__error_clear();
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
      return sio__fail(SIO_EINVAL, "\"%s\" is not a POSIX extended regular expression", regex);
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
  sio__error_clear();
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

/* Node's socket.notifyOutgoingListeners, for every recipient before the packet goes out. */
typedef struct {
  sio_outgoing_cb cb;
  const char *event;
  const sio_args_t *args;
} outgoing_t;

static int notify_one(sio_socket_t *s, void *arg) {
  const outgoing_t *o = arg;
  if (o->cb) o->cb(s, o->event, o->args);
  if (s->ext) sio__socket_notify_out(s, o->event, o->args);
  return 0;
}

void sio__nsp_notify_outgoing(sio_nsp_t *nsp, const sio_target_t *to, const char *event,
                              const sio_args_t *args) {
  outgoing_t o = {sio__nsp_effective(nsp)->cbs.on_outgoing, event, args};
  if (o.cb || nsp->out_watched) nsp->adapter->vt->apply(nsp->adapter, to, notify_one, &o);
}

int sio__event_packet(sio_nsp_t *nsp, const char *event, const sio_args_t *args, sio_packet_t *p) {
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
  int r = sio__event_packet(nsp, event, args, &p);
  /* Connection state recovery: the packet carries its offset and is kept, unless volatile. (An
   * adapter that keeps sessions numbers and keeps them itself: nothing to do here.) */
  int keep = !r && nsp->recovery && !(to && (to->flags & SIO_EMIT_VOLATILE));
  if (keep) r = sio__add_offset(nsp, &p);
  sio_encoded_t enc;
  if (!r) r = sio__encode(&p, args ? args->bufs : NULL, nsp->io->opts.parser, &enc);
  if (!r) {
    if (keep) {
      sio__recovery_keep(nsp->recovery, uv_now(sio_server_loop(nsp->io->server)), to, NULL, &enc);
      /* Offsets are this node's: the packet other nodes get (bp.pkt) goes without it. */
      cJSON_Delete(cJSON_DetachItemViaPointer(p.data, p.data->child->prev));
    }
    sio__nsp_notify_outgoing(nsp, to, event, args);
    sio_bcast_packet_t bp = {&p, args ? args->bufs : NULL, &enc};
    r = nsp->adapter->vt->broadcast(nsp->adapter, to, &bp);
    sio__encoded_clear(&enc);
  }
  cJSON_Delete(p.data);
  return r;
}

int sio__add_offset(sio_nsp_t *nsp, sio_packet_t *p) {
  char off[SIO_OFFSET_MAX];
  sio__recovery_next_offset(nsp->recovery, off);
  cJSON *o = cJSON_CreateString(off);
  if (!o || !cJSON_AddItemToArray(p->data, o)) {
    cJSON_Delete(o);
    return SIO_ENOMEM;
  }
  return 0;
}

int sio__nsp_recovery_enabled(const sio_nsp_t *nsp) {
  return nsp->io->opts.connection_state_recovery.enabled != 0;
}

uint32_t sio__nsp_recovery_max_age(const sio_nsp_t *nsp) {
  return nsp->io->opts.connection_state_recovery.max_disconnection_duration_ms;
}

int sio__encode_with_offset(sio_nsp_t *nsp, const sio_packet_t *pkt, const sio_buf_t *bufs,
                            const char *offset, sio_encoded_t *out) {
  sio_packet_t p = *pkt;
  /* The items by reference, as an emit holds its arguments (a deep copy would copy every string
   * once more only to append the offset); anything but an array is duplicated. */
  p.data = cJSON_IsArray(pkt->data) ? sio__event_array(NULL, pkt->data) : cJSON_Duplicate(pkt->data, 1);
  cJSON *o = p.data ? cJSON_CreateString(offset) : NULL;
  if (!o || !cJSON_AddItemToArray(p.data, o)) {
    cJSON_Delete(o);
    cJSON_Delete(p.data);
    return SIO_ENOMEM;
  }
  int r = sio__encode(&p, bufs, nsp->io->opts.parser, out);
  cJSON_Delete(p.data);
  return r;
}

void sio_nsp_recovery_stats(const sio_nsp_t *nsp, sio_nsp_recovery_stats_t *out) {
  memset(out, 0, sizeof *out);
  for (const sio_nsp_t *c = nsp->is_parent ? nsp->children : nsp; c;
       c = nsp->is_parent ? c->sibling : NULL) {
    if (!c->recovery) continue;
    sio_recovery_stats_t st;
    sio__recovery_stats(c->recovery, &st);
    out->packets += st.packets;
    out->sessions += st.sessions;
    out->packet_bytes += st.packet_bytes;
    out->session_bytes += st.session_bytes;
  }
}

int sio_nsp_emit(sio_nsp_t *nsp, const sio_target_t *to, const char *event, const sio_args_t *args) {
  sio__error_clear();
  if (!nsp) return SIO_EINVAL;
  int r = sio__check_emit(event, args);
  if (r) return r;
  nsp->io->st.broadcasts++;
  sio__io_enter(nsp->io);
  r = nsp_emit(nsp, to, event, args);
  sio__io_leave(nsp->io);
  return r;
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
  int n = nsp->adapter->vt->apply(nsp->adapter, to, cb, arg);
  sio__io_leave(nsp->io);
  return n > 0 ? (size_t)n : 0;
}

enum { SEL_JOIN, SEL_LEAVE, SEL_DISCONNECT };

/* Node's socketsJoin / socketsLeave / disconnectSockets through the adapter: here, then on the
 * other nodes unless SIO_EMIT_LOCAL. A dynamic parent does it in each of its children, here only
 * (as sio_nsp_each). */
static int selection(sio_nsp_t *nsp, const sio_target_t *to, int op, const char *room, int close) {
  if (nsp->is_parent) {
    sio_target_t local = {NULL, 0, NULL, 0, 0};
    if (to) local = *to;
    local.flags |= SIO_EMIT_LOCAL;
    for (sio_nsp_t *c = nsp->children; c; c = c->sibling) selection(c, &local, op, room, close);
    return 0;
  }
  sio_adapter_t *a = nsp->adapter;
  sio__io_enter(nsp->io);
  int r = op == SEL_JOIN    ? a->vt->add_sockets(a, to, room)
          : op == SEL_LEAVE ? a->vt->del_sockets(a, to, room)
                            : a->vt->disconnect_sockets(a, to, close);
  sio__io_leave(nsp->io);
  return r;
}

int sio_nsp_join(sio_nsp_t *nsp, const sio_target_t *to, const char *room) {
  sio__error_clear();
  if (!nsp || !room) return SIO_EINVAL;
  return selection(nsp, to, SEL_JOIN, room, 0);
}

int sio_nsp_leave(sio_nsp_t *nsp, const sio_target_t *to, const char *room) {
  sio__error_clear();
  if (!nsp || !room) return SIO_EINVAL;
  return selection(nsp, to, SEL_LEAVE, room, 0);
}

void sio_nsp_disconnect(sio_nsp_t *nsp, const sio_target_t *to, int close) {
  if (nsp) selection(nsp, to, SEL_DISCONNECT, NULL, close);
}
