/* Requests to every node of the namespace (sio_nsp_fetch_count, sio_nsp_fetch_sockets,
 * sio_nsp_fetch_rooms, sio_nsp_server_emit_ack): this node's part is gathered here, the adapter
 * asks the other nodes and reports each answer (sio__request_answer) and the end
 * (sio__request_done); the callback always comes from the loop, never from inside the call. */
#include <stdlib.h>
#include <string.h>

#include "fail.h"
#include "socketio/socketio.h"

struct sio_request {
  sio_nsp_t *nsp;
  sio_request_t *next, *prev; /* the io's requests in progress */
  uint8_t type;               /* SIO_REQ_REMOTE_FETCH, SIO_REQ_ALL_ROOMS, SIO_REQ_SERVER_SIDE_EMIT */
  uint8_t count_only;         /* REMOTE_FETCH for sio_nsp_fetch_count: the sockets are counted */
  union {
    sio_count_cb count;
    sio_rooms_cb rooms;
    sio_server_ack_cb server;
    sio_sockets_cb sockets;
  } cb;
  void *arg;
  uv_timer_t *timer; /* no other node was asked: the answer waits for the loop */
  size_t count;      /* sockets counted so far */
  cJSON *items;      /* ALL_ROOMS: an object whose keys are the rooms; SERVER_SIDE_EMIT: the
                      * answers; REMOTE_FETCH (not count_only): the sockets described */
};

static void free_timer(uv_handle_t *h) { free(h); }

static void report(sio_request_t *r, int status) {
  switch (r->type) {
  case SIO_REQ_REMOTE_FETCH:
    if (r->count_only) r->cb.count(r->nsp, status, r->count, r->arg);
    else r->cb.sockets(r->nsp, status, r->items, r->arg);
    break;
  case SIO_REQ_ALL_ROOMS: {
    size_t n = 0;
    for (const cJSON *c = r->items->child; c; c = c->next) n++;
    const char **v = malloc((n ? n : 1) * sizeof *v);
    size_t i = 0;
    for (const cJSON *c = v ? r->items->child : NULL; c; c = c->next) v[i++] = c->string;
    r->cb.rooms(r->nsp, v ? status : SIO_ENOMEM, v, i, r->arg);
    free(v);
    break;
  }
  case SIO_REQ_SERVER_SIDE_EMIT:
    r->cb.server(r->nsp, status, r->items, r->arg);
    break;
  }
}

void sio__request_done(sio_request_t *r, int status) {
  sio_io_t *io = r->nsp->io;
  if (r->prev) r->prev->next = r->next;
  else io->requests = r->next;
  if (r->next) r->next->prev = r->prev;
  if (r->timer) uv_close((uv_handle_t *)r->timer, free_timer);
  sio__io_enter(io);
  report(r, status);
  sio__io_leave(io);
  cJSON_Delete(r->items);
  free(r);
}

/* Adds item to the array (key NULL) or object items, taking it; 0 or SIO_ENOMEM. */
static int keep(cJSON *items, const char *key, cJSON *item) {
  int ok = item && (key ? cJSON_AddItemToObject(items, key, item) : cJSON_AddItemToArray(items, item));
  if (!ok) cJSON_Delete(item);
  return ok ? 0 : SIO_ENOMEM;
}

/* A room of this node or of another one, each once. */
static int add_room(cJSON *rooms, const char *room) {
  if (cJSON_GetObjectItemCaseSensitive(rooms, room)) return 0;
  return keep(rooms, room, cJSON_CreateTrue());
}

int sio__request_answer(sio_request_t *r, const cJSON *answer) {
  int e = 0;
  switch (r->type) {
  case SIO_REQ_REMOTE_FETCH:
    if (r->count_only) r->count += (size_t)cJSON_GetArraySize(answer);
    for (const cJSON *c = r->count_only || !answer ? NULL : answer->child; !e && c; c = c->next)
      if (cJSON_IsObject(c)) e = keep(r->items, NULL, cJSON_Duplicate(c, 1));
    break;
  case SIO_REQ_ALL_ROOMS:
    for (const cJSON *c = answer ? answer->child : NULL; !e && c; c = c->next)
      if (cJSON_IsString(c)) e = add_room(r->items, c->valuestring);
    break;
  case SIO_REQ_SERVER_SIDE_EMIT:
    e = keep(r->items, NULL, answer ? cJSON_Duplicate(answer, 1) : cJSON_CreateNull());
    break;
  }
  return e;
}

/* ---- this node's part ---- */

static int count_one(sio_socket_t *s, void *arg) {
  (void)s;
  ((sio_request_t *)arg)->count++;
  return 0;
}

/* Stops at the first socket that cannot be described: a list missing a socket would pass for the
 * whole. */
static int describe_one(sio_socket_t *s, void *arg) {
  sio_request_t *r = arg;
  if (keep(r->items, NULL, sio__socket_describe(s))) return 1;
  r->count++;
  return 0;
}

typedef struct {
  cJSON *items;
  int failed;
} rooms_t;

static void add_local_room(const char *room, void *arg) {
  rooms_t *rs = arg;
  if (!rs->failed && add_room(rs->items, room)) rs->failed = 1;
}

/* Gathers this node's part into r: 0 or SIO_ENOMEM. */
static int local_part(sio_request_t *r, const sio_target_t *to) {
  sio_adapter_t *a = r->nsp->adapter;
  switch (r->type) {
  case SIO_REQ_REMOTE_FETCH: {
    if (!r->count_only && !(r->items = cJSON_CreateArray())) return SIO_ENOMEM;
    int n = a->vt->apply(a, to, r->count_only ? count_one : describe_one, r);
    if (n < 0) return n;
    return (size_t)n == r->count ? 0 : SIO_ENOMEM;
  }
  case SIO_REQ_ALL_ROOMS: {
    rooms_t rs = {r->items = cJSON_CreateObject(), 0};
    if (rs.items) a->vt->rooms(a, add_local_room, &rs);
    return !rs.items || rs.failed ? SIO_ENOMEM : 0;
  }
  default:
    return (r->items = cJSON_CreateArray()) ? 0 : SIO_ENOMEM;
  }
}

/* Asks the other nodes through the adapter: 1 when it took r, 0 when it has no other node, or
 * an error. */
static int remote_part(sio_request_t *r, const sio_target_t *to, const cJSON *data) {
  sio_adapter_t *a = r->nsp->adapter;
  const sio_adapter_vt_t *vt = a->vt;
  int e;
  switch (r->type) {
  case SIO_REQ_REMOTE_FETCH:
    if (!vt->fetch_sockets) return 0;
    e = vt->fetch_sockets(a, to, r);
    break;
  case SIO_REQ_ALL_ROOMS:
    if (!vt->all_rooms) return 0;
    e = vt->all_rooms(a, r);
    break;
  default:
    e = vt->server_side_emit(a, data, r);
    break;
  }
  return e ? e : 1;
}

static void on_local_timer(uv_timer_t *t) { sio__request_done(t->data, 0); }

/* Starts a request: this node's part, then the adapter's. `data`: the server-side event, for
 * SIO_REQ_SERVER_SIDE_EMIT. */
static int start_request(sio_nsp_t *nsp, int type, int count_only, const sio_target_t *to,
                         void (*cb)(void), void *arg, const cJSON *data) {
  if (!nsp || !cb || nsp->is_parent) return SIO_EINVAL;
  sio_io_t *io = nsp->io;
  if (io->shutting_down) return SIO_ECLOSED;
  if (type == SIO_REQ_SERVER_SIDE_EMIT && !nsp->adapter->vt->server_side_emit) return UV_ENOSYS;
  sio_request_t *r = calloc(1, sizeof *r);
  if (!r) return SIO_ENOMEM;
  r->nsp = nsp;
  r->type = (uint8_t)type;
  r->count_only = (uint8_t)count_only;
  if (type == SIO_REQ_ALL_ROOMS) r->cb.rooms = (sio_rooms_cb)cb;
  else if (type == SIO_REQ_SERVER_SIDE_EMIT) r->cb.server = (sio_server_ack_cb)cb;
  else if (count_only) r->cb.count = (sio_count_cb)cb;
  else r->cb.sockets = (sio_sockets_cb)cb;
  r->arg = arg;
  int e = local_part(r, to);
  if (!e) e = remote_part(r, to, data);
  if (e == 0 && !(r->timer = malloc(sizeof *r->timer))) e = SIO_ENOMEM;
  if (e < 0) {
    cJSON_Delete(r->items);
    free(r);
    return e;
  }
  if (r->timer) {
    uv_timer_init(sio_server_loop(io->server), r->timer);
    r->timer->data = r;
    uv_timer_start(r->timer, on_local_timer, 0, 0);
  }
  r->next = io->requests;
  if (io->requests) io->requests->prev = r;
  io->requests = r;
  return 0;
}

int sio_nsp_fetch_count(sio_nsp_t *nsp, const sio_target_t *to, sio_count_cb cb, void *arg) {
  sio__error_clear();
  return start_request(nsp, SIO_REQ_REMOTE_FETCH, 1, to, (void (*)(void))cb, arg, NULL);
}

int sio_nsp_fetch_sockets(sio_nsp_t *nsp, const sio_target_t *to, sio_sockets_cb cb, void *arg) {
  sio__error_clear();
  return start_request(nsp, SIO_REQ_REMOTE_FETCH, 0, to, (void (*)(void))cb, arg, NULL);
}

int sio_nsp_fetch_rooms(sio_nsp_t *nsp, sio_rooms_cb cb, void *arg) {
  sio__error_clear();
  return start_request(nsp, SIO_REQ_ALL_ROOMS, 0, NULL, (void (*)(void))cb, arg, NULL);
}

/* ---- server-side events ---- */

/* Node's serverSideEmit refuses its namespaces' own event names. */
static int check_server_event(const char *event) {
  if (event && sio_event_reserved(event, 1))
    return sio__fail(SIO_ERESERVED, "\"%s\" is a reserved event name", event);
  return 0;
}

/* ["event", ...args] for a server-side event of nsp into *out, after what both emits check: not a
 * parent of dynamic namespaces (it has no adapter of its own to ask the cluster with), not a
 * reserved name, JSON only (the wire is JSON text). */
static int server_event_data(sio_nsp_t *nsp, const char *event, const sio_args_t *args, cJSON **out) {
  sio__error_clear();
  if (!nsp || !event) return SIO_EINVAL;
  if (nsp->is_parent)
    return sio__fail(SIO_EINVAL, "not on a parent of dynamic namespaces (use a child)");
  if (check_server_event(event)) return SIO_ERESERVED;
  if (args && args->nbufs) return sio__fail(SIO_EINVAL, "server-side events carry JSON only, no binary");
  if (args && args->json && !cJSON_IsArray(args->json)) return SIO_EINVAL;
  *out = sio__event_array(event, args ? args->json : NULL);
  return *out ? 0 : SIO_ENOMEM;
}

int sio_nsp_server_emit(sio_nsp_t *nsp, const char *event, const sio_args_t *args) {
  cJSON *data = NULL;
  int r = server_event_data(nsp, event, args, &data);
  if (r) return r;
  sio_adapter_t *a = nsp->adapter;
  r = a->vt->server_side_emit ? a->vt->server_side_emit(a, data, NULL) : UV_ENOSYS;
  cJSON_Delete(data);
  return r;
}

int sio_nsp_server_emit_ack(sio_nsp_t *nsp, const char *event, const sio_args_t *args,
                            sio_server_ack_cb cb, void *arg) {
  cJSON *data = NULL;
  int r = server_event_data(nsp, event, args, &data);
  if (r) return r;
  r = start_request(nsp, SIO_REQ_SERVER_SIDE_EMIT, 0, NULL, (void (*)(void))cb, arg, data);
  cJSON_Delete(data);
  return r;
}

int sio_nsp_server_reply(sio_nsp_t *nsp, const char *reply_id, const cJSON *value) {
  sio__error_clear();
  if (!nsp || !reply_id || nsp->is_parent) return SIO_EINVAL;
  sio_adapter_t *a = nsp->adapter;
  if (!a->vt->server_side_reply) return UV_ENOSYS;
  return a->vt->server_side_reply(a, reply_id, value);
}

int sio__nsp_server_event(sio_nsp_t *nsp, const char *event, const sio_args_t *args,
                          const char *reply_id) {
  sio_server_event_cb cb = sio__nsp_effective(nsp)->cbs.on_server_event;
  if (!cb) return 0;
  sio__io_enter(nsp->io);
  cb(nsp, event, args, reply_id);
  sio__io_leave(nsp->io);
  return 1;
}
