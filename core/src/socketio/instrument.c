/* The Admin UI's server side: what npm @socket.io/admin-ui 0.5's instrument() sends to the UI and
 * the operations it takes from it, on the admin namespace. The io calls the sio__instr_* hooks
 * only when io->instr is set, so an io that is not instrumented pays one test per hook. */
#include <crypt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#include "fail.h"
#include "opts.h"
#include "socketio/socketio.h"

#define MAX_SESSIONS 1024
#define SESSION_LEN 16   /* hex digits of 8 random bytes, as the admin-ui's randomId() */
#define MAX_AGG 512      /* aggregated events kept between two server_stats (older ones dropped) */

typedef struct {
  uint64_t second; /* epoch ms, truncated to the second */
  const char *type;
  char subtype[32]; /* "" for none */
  double count;
} agg_t;

struct sio_instr {
  sio_instr_counters_t n; /* first: sio__instr_out reaches it inline */
  sio_io_t *io;
  sio_nsp_t *admin;
  int readonly, dev;
  char *username, *hash, *server_id;
  char hostname[256];
  uv_timer_t *timer;
  uint32_t interval_ms;
  uint64_t started_ns;
  int64_t epoch_offset_ms; /* epoch ms = uv_now + this */
  agg_t agg[MAX_AGG];
  size_t nagg;
  /* The packet and byte counts of the current second, kept apart from agg (cheaper on every
   * message) and moved into it when the second ends or server_stats goes. */
  uv_loop_t *loop;
  uint64_t second_end; /* uv_now() at which the current second ends; 0: none started */
  char sessions[MAX_SESSIONS][SESSION_LEN + 1];
  size_t nsessions; /* ever saved: the slot of the next one is nsessions % MAX_SESSIONS */
  unsigned refs; /* the stats timer's and each cluster-wide all_sockets' in flight */
  int dead;      /* the io is gone (sio__instr_free): answers still coming are dropped */
};

void sio_instrument_options_init(sio_instrument_options_t *o) {
  memset(o, 0, sizeof *o);
  o->size = sizeof *o;
  o->namespace_name = "/admin";
  o->server_stats_interval_ms = 2000;
}

/* ---------------------------------------------------------------------------------------------- */
/* Helpers                                                                                         */

static int64_t epoch_ms(const sio_instr_t *in) {
  return (int64_t)uv_now(sio_server_loop(in->io->server)) + in->epoch_offset_ms;
}

/* JavaScript's Date as JSON carries it: ISO 8601 in UTC with milliseconds. */
static cJSON *date_json(const sio_instr_t *in) {
  int64_t ms = epoch_ms(in);
  time_t t = (time_t)(ms / 1000);
  struct tm tm;
  char buf[40], out[48];
  gmtime_r(&t, &tm);
  strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  snprintf(out, sizeof out, "%s.%03dZ", buf, (int)(ms % 1000));
  return cJSON_CreateString(out);
}

/* Emits [items..., Date] to the admin namespace; takes `arr` (a JSON array). */
static void admin_emit(sio_instr_t *in, const char *event, cJSON *arr, int with_date,
                       const sio_args_t *orig) {
  if (!arr) return;
  if (with_date) cJSON_AddItemToArray(arr, date_json(in));
  sio_args_t a = {arr, orig ? orig->bufs : NULL, orig ? orig->nbufs : 0};
  sio_nsp_emit(in->admin, NULL, event, &a);
  cJSON_Delete(arr);
}

static const char *transport_name(sio_session_t *sess) {
  return sess && sio_session_transport(sess) == SIO_TRANSPORT_WEBSOCKET ? "websocket" : "polling";
}

static void client_id(sio_session_t *sess, char cid[13]) {
  cid[0] = '\0';
  if (sess) snprintf(cid, 13, "%s", sio_session_id(sess)); /* sensitive: 12 chars only */
}

void sio__instr_describe(sio_socket_t *s, cJSON *data) {
  sio_session_t *sess = sio_socket_session(s);
  char cid[13];
  client_id(sess, cid);
  cJSON *a = cJSON_CreateObject();
  cJSON_AddStringToObject(a, "clientId", cid);
  cJSON_AddStringToObject(a, "transport", transport_name(sess));
  if (!cJSON_AddItemToObject(data, "_admin", a)) cJSON_Delete(a);
}

/* The handshake as the UI shows it: no auth; the address a proxy forwarded, when one did. */
static void handshake_for_ui(cJSON *hs) {
  cJSON_DeleteItemFromObjectCaseSensitive(hs, "auth");
  const cJSON *h = cJSON_GetObjectItemCaseSensitive(hs, "headers");
  const cJSON *fwd = cJSON_GetObjectItemCaseSensitive(h, "cf-connecting-ip");
  if (!cJSON_IsString(fwd)) fwd = cJSON_GetObjectItemCaseSensitive(h, "x-forwarded-for");
  if (cJSON_IsString(fwd))
    cJSON_ReplaceItemInObjectCaseSensitive(hs, "address", cJSON_CreateString(fwd->valuestring));
}

/* The admin-ui's serialize(): the socket as the UI lists it. */
static cJSON *serialize(sio_socket_t *s) {
  sio_session_t *sess = sio_socket_session(s);
  cJSON *o = cJSON_CreateObject();
  if (!o) return NULL;
  char cid[13];
  client_id(sess, cid);
  cJSON_AddStringToObject(o, "id", s->id);
  cJSON_AddStringToObject(o, "clientId", cid);
  cJSON_AddStringToObject(o, "transport", transport_name(sess));
  cJSON_AddStringToObject(o, "nsp", s->nsp->name);
  sio_io_t *io = s->nsp->io;
  cJSON *data = io->socket_data ? io->socket_data(s, io->socket_data_arg) : NULL;
  if (!cJSON_IsObject(data)) {
    cJSON_Delete(data);
    data = cJSON_CreateObject();
  }
  cJSON_AddItemToObject(o, "data", data);
  cJSON *hs = sio_socket_handshake(s);
  if (hs) {
    handshake_for_ui(hs);
    cJSON_AddItemToObject(o, "handshake", hs);
  }
  cJSON *rooms = cJSON_AddArrayToObject(o, "rooms");
  for (size_t i = 0;; i++) {
    const char *r = sio_socket_room(s, i);
    if (!r) break;
    cJSON_AddItemToArray(rooms, cJSON_CreateString(r));
  }
  return o;
}

/* ---------------------------------------------------------------------------------------------- */
/* Aggregated events (server_stats' aggregatedEvents)                                              */

static void agg_push(sio_instr_t *in, const char *type, const char *subtype, double count) {
  uint64_t second = (uint64_t)(epoch_ms(in) / 1000) * 1000;
  if (!subtype) subtype = "";
  /* This second's entries are at the end: a few types at most. */
  for (size_t i = in->nagg; i-- > 0 && in->agg[i].second == second;)
    if (in->agg[i].type == type && strcmp(in->agg[i].subtype, subtype) == 0) {
      in->agg[i].count += count;
      return;
    }
  if (in->nagg == MAX_AGG) { /* no UI read them for long: the oldest half goes */
    memmove(in->agg, in->agg + MAX_AGG / 2, (MAX_AGG / 2) * sizeof *in->agg);
    in->nagg = MAX_AGG / 2;
  }
  agg_t *a = &in->agg[in->nagg++];
  a->second = second;
  a->type = type;
  snprintf(a->subtype, sizeof a->subtype, "%s", subtype);
  a->count = count;
}

static void counters_flush(sio_instr_t *in) {
  if (in->n.packets_in) agg_push(in, "packetsIn", NULL, (double)in->n.packets_in);
  if (in->n.bytes_in) agg_push(in, "bytesIn", NULL, (double)in->n.bytes_in);
  if (in->n.packets_out) agg_push(in, "packetsOut", NULL, (double)in->n.packets_out);
  memset(&in->n, 0, sizeof in->n);
}

/* Starts a new second of counters when the current one is over. */
static inline void counters_tick(sio_instr_t *in) {
  uint64_t now = uv_now(in->loop);
  if (now < in->second_end) return;
  counters_flush(in);
  in->second_end = now + 1000 - (uint64_t)((int64_t)now + in->epoch_offset_ms) % 1000;
}

static cJSON *agg_take(sio_instr_t *in) {
  counters_flush(in);
  cJSON *arr = cJSON_CreateArray();
  for (size_t i = 0; arr && i < in->nagg; i++) {
    cJSON *e = cJSON_CreateObject();
    cJSON_AddNumberToObject(e, "timestamp", (double)in->agg[i].second);
    cJSON_AddStringToObject(e, "type", in->agg[i].type);
    if (in->agg[i].subtype[0]) cJSON_AddStringToObject(e, "subType", in->agg[i].subtype);
    cJSON_AddNumberToObject(e, "count", in->agg[i].count);
    cJSON_AddItemToArray(arr, e);
  }
  in->nagg = 0;
  return arr;
}

/* ---------------------------------------------------------------------------------------------- */
/* server_stats                                                                                    */

static void emit_stats(sio_instr_t *in) {
  sio_io_t *io = in->io;
  size_t polling = 0, clients = 0;
  for (sio_client_t *c = io->clients; c; c = c->next)
    if (!c->closed) {
      clients++;
      if (sio_session_transport(c->session) == SIO_TRANSPORT_POLLING) polling++;
    }
  cJSON *o = cJSON_CreateObject();
  if (!o) return;
  cJSON_AddStringToObject(o, "serverId", in->server_id);
  cJSON_AddStringToObject(o, "hostname", in->hostname);
  cJSON_AddNumberToObject(o, "pid", (double)getpid());
  cJSON_AddNumberToObject(o, "uptime", (double)(uv_hrtime() - in->started_ns) / 1e9);
  cJSON_AddNumberToObject(o, "clientsCount", (double)clients);
  cJSON_AddNumberToObject(o, "pollingClientsCount", (double)polling);
  cJSON_AddItemToObject(o, "aggregatedEvents", agg_take(in));
  cJSON *nsps = cJSON_AddArrayToObject(o, "namespaces");
  for (sio_nsp_t *n = io->nsp_list; n; n = n->next) {
    cJSON *e = cJSON_CreateObject();
    cJSON_AddStringToObject(e, "name", n->name);
    cJSON_AddNumberToObject(e, "socketsCount", (double)n->count);
    cJSON_AddItemToArray(nsps, e);
  }
  cJSON *arr = cJSON_CreateArray();
  if (arr) cJSON_AddItemToArray(arr, o);
  else cJSON_Delete(o);
  admin_emit(in, "server_stats", arr, 0, NULL);
}

static void on_stats_timer(uv_timer_t *t) { emit_stats(t->data); }

/* ---------------------------------------------------------------------------------------------- */
/* Authentication                                                                                  */

static int session_known(const sio_instr_t *in, const char *id) {
  size_t n = in->nsessions < MAX_SESSIONS ? in->nsessions : MAX_SESSIONS;
  for (size_t i = 0; i < n; i++)
    if (strcmp(in->sessions[i], id) == 0) return 1;
  return 0;
}

/* A new session id; its slot + 1 (the socket's data until "session" is sent), 0 on failure. */
static uintptr_t session_new(sio_instr_t *in) {
  unsigned char rnd[SESSION_LEN / 2];
  if (uv_random(NULL, NULL, rnd, sizeof rnd, 0, NULL)) return 0;
  size_t slot = in->nsessions++ % MAX_SESSIONS;
  for (size_t i = 0; i < sizeof rnd; i++) sprintf(&in->sessions[slot][2 * i], "%02x", rnd[i]);
  return slot + 1;
}

/* Equal strings, in a time that does not depend on where they differ. */
static int ct_equal(const char *a, const char *b) {
  size_t la = strlen(a), lb = strlen(b);
  volatile unsigned char d = (unsigned char)(la != lb);
  for (size_t i = 0; i < la && i < lb; i++) d |= (unsigned char)(a[i] ^ b[i]);
  return d == 0;
}

static int bcrypt_matches(const char *password, const char *hash) {
  struct crypt_data *cd = calloc(1, sizeof *cd);
  if (!cd) return 0;
  const char *h = crypt_r(password, hash, cd);
  int ok = h && h[0] != '*' && ct_equal(h, hash);
  free(cd);
  return ok;
}

typedef struct {
  uv_work_t req;
  sio_instr_t *in;
  sio_socket_t *socket;
  char *password;
  int ok;
} login_t;

static void login_work(uv_work_t *req) {
  login_t *l = req->data;
  l->ok = bcrypt_matches(l->password, l->in->hash);
}

static void login_done(uv_work_t *req, int status) {
  login_t *l = req->data;
  uintptr_t slot = status == 0 && l->ok ? session_new(l->in) : 0;
  if (slot) {
    sio_socket_set_data(l->socket, (void *)slot);
    sio_socket_next(l->socket);
  } else {
    sio_socket_refuse(l->socket, "invalid credentials", NULL);
  }
  free(l->password);
  free(l);
}

static void auth_middleware(sio_socket_t *s, void *arg) {
  sio_instr_t *in = arg;
  const cJSON *auth = sio_socket_auth(s);
  const cJSON *sid = cJSON_GetObjectItemCaseSensitive(auth, "sessionId");
  if (cJSON_IsString(sid) && session_known(in, sid->valuestring)) {
    sio_socket_next(s);
    return;
  }
  const cJSON *user = cJSON_GetObjectItemCaseSensitive(auth, "username");
  const cJSON *pass = cJSON_GetObjectItemCaseSensitive(auth, "password");
  login_t *l = NULL;
  if (cJSON_IsString(user) && cJSON_IsString(pass) && ct_equal(user->valuestring, in->username) &&
      (l = calloc(1, sizeof *l)) && (l->password = strdup(pass->valuestring))) {
    l->in = in;
    l->socket = s;
    l->req.data = l;
    if (uv_queue_work(sio_server_loop(in->io->server), &l->req, login_work, login_done) == 0) return;
  }
  if (l) free(l->password);
  free(l);
  sio_socket_refuse(s, "invalid credentials", NULL);
}

/* ---------------------------------------------------------------------------------------------- */
/* The admin namespace: config, all_sockets, and the UI's operations                               */

static int add_all(sio_socket_t *s, void *arr) {
  cJSON *o = serialize(s);
  if (o) cJSON_AddItemToArray(arr, o);
  return 0;
}

/* A socket of another node as fetch_sockets describes it ({id, handshake, rooms, data}), the
 * UI's way. */
static cJSON *serialize_remote(sio_nsp_t *nsp, const cJSON *r) {
  cJSON *o = cJSON_CreateObject();
  const cJSON *id = cJSON_GetObjectItemCaseSensitive(r, "id");
  cJSON *data = cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(r, "data"), 1);
  if (!cJSON_IsObject(data)) {
    cJSON_Delete(data);
    data = cJSON_CreateObject();
  }
  cJSON *adm = cJSON_DetachItemFromObjectCaseSensitive(data, "_admin");
  const cJSON *cid = cJSON_GetObjectItemCaseSensitive(adm, "clientId");
  const cJSON *tr = cJSON_GetObjectItemCaseSensitive(adm, "transport");
  cJSON_AddStringToObject(o, "id", cJSON_IsString(id) ? id->valuestring : "");
  cJSON_AddStringToObject(o, "clientId", cJSON_IsString(cid) ? cid->valuestring : "");
  cJSON_AddStringToObject(o, "transport", cJSON_IsString(tr) ? tr->valuestring : "");
  cJSON_AddStringToObject(o, "nsp", nsp->name);
  cJSON_AddItemToObject(o, "data", data);
  cJSON_Delete(adm);
  cJSON *hs = cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(r, "handshake"), 1);
  if (hs) {
    handshake_for_ui(hs);
    cJSON_AddItemToObject(o, "handshake", hs);
  }
  cJSON *rooms = cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(r, "rooms"), 1);
  cJSON_AddItemToObject(o, "rooms", rooms ? rooms : cJSON_CreateArray());
  return o;
}

typedef struct {
  sio_instr_t *in;
  char page[64]; /* the admin socket's id, found again when every answer is in */
  cJSON *all;
  size_t pending;
} fetch_all_t;

static void unref_instr(sio_instr_t *in) {
  if (--in->refs) return;
  free(in->username);
  free(in->hash);
  free(in->server_id);
  free(in);
}

static void fetched(sio_nsp_t *nsp, int status, const cJSON *sockets, void *arg) {
  (void)status; /* a node that did not answer in time: the others are still listed */
  fetch_all_t *f = arg;
  sio_instr_t *in = f->in;
  const cJSON *r;
  if (!in->dead) {
    cJSON_ArrayForEach(r, sockets) {
      const cJSON *id = cJSON_GetObjectItemCaseSensitive(r, "id");
      sio_socket_t *local = cJSON_IsString(id) ? sio_nsp_socket(nsp, id->valuestring) : NULL;
      cJSON *o = local ? serialize(local) : serialize_remote(nsp, r);
      if (o) cJSON_AddItemToArray(f->all, o);
    }
  }
  if (--f->pending) return;
  sio_socket_t *page = in->dead ? NULL : sio_nsp_socket(in->admin, f->page);
  if (page) {
    cJSON *a = cJSON_CreateArray();
    cJSON_AddItemToArray(a, f->all);
    f->all = NULL;
    sio_args_t args = {a, NULL, 0};
    sio_socket_emit(page, "all_sockets", &args, 0);
    cJSON_Delete(a);
  }
  cJSON_Delete(f->all);
  free(f);
  unref_instr(in);
}

/* Node's fetchSockets() on every namespace: with a cluster adapter, every node's sockets. */
static int fetch_all(sio_instr_t *in, sio_socket_t *page) {
  fetch_all_t *f = calloc(1, sizeof *f);
  if (!f || !(f->all = cJSON_CreateArray())) {
    free(f);
    return SIO_ENOMEM;
  }
  f->in = in;
  snprintf(f->page, sizeof f->page, "%s", sio_socket_id(page));
  f->pending = 1; /* held until every request is out: answers may come at once */
  in->refs++;
  for (sio_nsp_t *n = in->io->nsp_list; n; n = n->next) {
    f->pending++;
    if (sio_nsp_fetch_sockets(n, NULL, fetched, f)) f->pending--;
  }
  fetched(in->admin, 0, NULL, f);
  return 0;
}

static void admin_connection(sio_nsp_t *nsp, sio_socket_t *s) {
  sio_instr_t *in = sio_nsp_get_data(nsp);
  uintptr_t slot = (uintptr_t)sio_socket_get_data(s);
  if (slot) {
    sio_socket_set_data(s, NULL);
    cJSON *a = cJSON_CreateArray();
    cJSON_AddItemToArray(a, cJSON_CreateString(in->sessions[slot - 1]));
    sio_args_t args = {a, NULL, 0};
    sio_socket_emit(s, "session", &args, 0);
    cJSON_Delete(a);
  }
  static const char *const ops[] = {"EMIT", "JOIN", "LEAVE", "DISCONNECT", "MJOIN", "MLEAVE",
                                    "MDISCONNECT"};
  cJSON *a = cJSON_CreateArray(), *cfg = cJSON_CreateObject();
  cJSON *feat = cJSON_AddArrayToObject(cfg, "supportedFeatures");
  for (size_t i = 0; !in->readonly && i < sizeof ops / sizeof *ops; i++)
    cJSON_AddItemToArray(feat, cJSON_CreateString(ops[i]));
  cJSON_AddItemToArray(feat, cJSON_CreateString("AGGREGATED_EVENTS"));
  if (in->dev) cJSON_AddItemToArray(feat, cJSON_CreateString("ALL_EVENTS"));
  cJSON_AddItemToArray(a, cfg);
  sio_args_t args = {a, NULL, 0};
  sio_socket_emit(s, "config", &args, 0);
  cJSON_Delete(a);
  if (!in->dev) return;
  if (in->io->adapters.create && fetch_all(in, s) == 0) return; /* a cluster: every node's */
  cJSON *all = cJSON_CreateArray();
  for (sio_nsp_t *n = in->io->nsp_list; all && n; n = n->next) sio_nsp_each(n, NULL, add_all, all);
  a = cJSON_CreateArray();
  cJSON_AddItemToArray(a, all);
  args.json = a;
  sio_socket_emit(s, "all_sockets", &args, 0);
  cJSON_Delete(a);
}

static const char *arg_str(const cJSON *arr, int i) {
  const cJSON *v = cJSON_GetArrayItem(arr, i);
  return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* join, leave, _disconnect and emit: (nsp, ..., filter) where filter, a room (a socket id for one
 * socket), narrows the namespace's sockets. Only existing namespaces: the UI creates none. */
static void admin_event(sio_socket_t *s, const char *event, const sio_args_t *args, int64_t ack_id) {
  (void)ack_id;
  sio_instr_t *in = sio_nsp_get_data(sio_socket_nsp(s));
  const cJSON *a = args->json;
  const char *name = arg_str(a, 0);
  sio_nsp_t *nsp = name ? sio_map_get(&in->io->nsps, name) : NULL;
  if (in->readonly || !nsp) return;
  int is_emit = strcmp(event, "emit") == 0;
  const char *filter = arg_str(a, is_emit ? 1 : 2);
  sio_target_t to = {filter ? &filter : NULL, filter ? 1 : 0, NULL, 0, 0};
  if (strcmp(event, "join") == 0 || strcmp(event, "leave") == 0) {
    const char *room = arg_str(a, 1);
    if (!room) return;
    if (event[0] == 'j') sio_nsp_join(nsp, &to, room);
    else sio_nsp_leave(nsp, &to, room);
  } else if (strcmp(event, "_disconnect") == 0) {
    sio_nsp_disconnect(nsp, &to, cJSON_IsTrue(cJSON_GetArrayItem(a, 1)));
  } else if (is_emit && arg_str(a, 2)) {
    cJSON *rest = cJSON_CreateArray();
    for (const cJSON *v = cJSON_GetArrayItem(a, 3); rest && v; v = v->next)
      cJSON_AddItemReferenceToArray(rest, (cJSON *)v);
    sio_args_t out = {rest, args->bufs, args->nbufs};
    sio_nsp_emit(nsp, NULL == filter ? NULL : &to, arg_str(a, 2), &out);
    cJSON_Delete(rest);
  }
}

/* ---------------------------------------------------------------------------------------------- */
/* Hooks (socketio.h)                                                                              */

/* No admin page can hear: none here, and no cluster whose other nodes may have some. */
static inline int no_page(const sio_instr_t *in) {
  return in->admin->count == 0 && !in->io->adapters.create;
}

static void report_event(sio_socket_t *s, const char *event, const sio_args_t *args, void *arg,
                         const char *what) {
  sio_instr_t *in = arg;
  if (no_page(in)) return; /* no page to tell */
  cJSON *a = cJSON_CreateArray(), *list = cJSON_CreateArray();
  cJSON_AddItemToArray(a, cJSON_CreateString(s->nsp->name));
  cJSON_AddItemToArray(a, cJSON_CreateString(s->id));
  cJSON_AddItemToArray(list, cJSON_CreateString(event));
  for (const cJSON *v = args->json ? args->json->child : NULL; list && v; v = v->next)
    cJSON_AddItemReferenceToArray(list, (cJSON *)v);
  cJSON_AddItemToArray(a, list);
  admin_emit(in, what, a, 1, args);
}

static void on_any_in(sio_socket_t *s, const char *event, const sio_args_t *args, void *arg) {
  report_event(s, event, args, arg, "event_received");
}

static void on_any_out(sio_socket_t *s, const char *event, const sio_args_t *args, void *arg) {
  report_event(s, event, args, arg, "event_sent");
}

static void room_event(sio_instr_t *in, sio_socket_t *s, const char *room, const char *what) {
  if (no_page(in)) return;
  cJSON *a = cJSON_CreateArray();
  cJSON_AddItemToArray(a, cJSON_CreateString(s->nsp->name));
  cJSON_AddItemToArray(a, cJSON_CreateString(room));
  cJSON_AddItemToArray(a, cJSON_CreateString(s->id));
  admin_emit(in, what, a, 1, NULL);
}

void sio__instr_connected(sio_socket_t *s) {
  sio_instr_t *in = s->nsp->io->instr;
  if (!in->dev) return;
  if (s->nsp != in->admin) {
    sio_socket_on_any(s, 0, on_any_in, in);
    sio_socket_on_any(s, SIO_ANY_OUTGOING, on_any_out, in);
  }
  if (no_page(in)) return;
  room_event(in, s, s->id, "room_joined"); /* the own-id room, as Node's adapter reports it */
  cJSON *a = cJSON_CreateArray();
  cJSON_AddItemToArray(a, serialize(s));
  admin_emit(in, "socket_connected", a, 1, NULL);
}

void sio__instr_disconnected(sio_socket_t *s, const char *reason) {
  sio_instr_t *in = s->nsp->io->instr;
  if (!in->dev || no_page(in)) return;
  cJSON *a = cJSON_CreateArray();
  cJSON_AddItemToArray(a, cJSON_CreateString(s->nsp->name));
  cJSON_AddItemToArray(a, cJSON_CreateString(s->id));
  cJSON_AddItemToArray(a, cJSON_CreateString(reason));
  admin_emit(in, "socket_disconnected", a, 1, NULL);
  room_event(in, s, s->id, "room_left");
}

void sio__instr_room(sio_socket_t *s, const char *room, int joined) {
  sio_instr_t *in = s->nsp->io->instr;
  if (in->dev) room_event(in, s, room, joined ? "room_joined" : "room_left");
}

void sio__instr_client(sio_client_t *c, const char *close_reason) {
  sio_instr_t *in = c->io->instr;
  if (close_reason) agg_push(in, "rawDisconnection", close_reason, 1);
  else {
    agg_push(in, "rawConnection", NULL, 1);
    c->instr_transport = (uint8_t)sio_session_transport(c->session);
  }
}

void sio__instr_in(sio_client_t *c, size_t len) {
  sio_instr_t *in = c->io->instr;
  counters_tick(in);
  in->n.packets_in++;
  in->n.bytes_in += len;
  uint8_t t = (uint8_t)sio_session_transport(c->session);
  if (t == c->instr_transport) return;
  /* The first message after an upgrade: the UI learns the socket's new transport. */
  c->instr_transport = t;
  if (!in->dev) return;
  for (sio_socket_t *s = c->sockets; s; s = s->cnext) {
    if (s->state != SOCK_CONNECTED) continue;
    cJSON *a = cJSON_CreateArray(), *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "id", s->id);
    cJSON_AddStringToObject(o, "nsp", s->nsp->name);
    cJSON_AddStringToObject(o, "transport", transport_name(c->session));
    cJSON_AddItemToArray(a, o);
    admin_emit(in, "socket_updated", a, 0, NULL);
  }
}


static void free_timer(uv_handle_t *h) {
  sio_instr_t *in = h->data;
  free(h);
  unref_instr(in);
}

void sio__instr_free(sio_io_t *io) {
  sio_instr_t *in = io->instr;
  io->instr = NULL;
  in->dead = 1;
  uv_timer_stop(in->timer);
  uv_close((uv_handle_t *)in->timer, free_timer);
}

/* ---------------------------------------------------------------------------------------------- */
/* sio_io_instrument                                                                               */

static int hash_ok(const char *hash) {
  if (strncmp(hash, "$2a$", 4) && strncmp(hash, "$2b$", 4) && strncmp(hash, "$2y$", 4)) return 0;
  /* libxcrypt takes the hash as its own setting: a malformed one comes back as "*0"/"*1". */
  struct crypt_data *cd = calloc(1, sizeof *cd);
  if (!cd) return 0;
  const char *h = crypt_r("", hash, cd);
  int ok = h && h[0] == '$';
  free(cd);
  return ok;
}

int sio_io_instrument(sio_io_t *io, const sio_instrument_options_t *opts) {
  sio__error_clear();
  if (!io || !opts) return SIO_EINVAL;
  sio_instrument_options_t o;
  sio_instrument_options_init(&o);
  int r = SIO_TAKE_OPTIONS(&o, opts, "sio_instrument_options");
  if (r) return r;
  if (io->instr) return sio__fail(SIO_EEXIST, "the io is instrumented already");
  if (!o.namespace_name || o.namespace_name[0] != '/')
    return sio__fail(SIO_EINVAL, "namespace_name must start with '/'");
  if (!o.username != !o.password_hash)
    return sio__fail(SIO_EINVAL, "basic auth needs both username and password_hash");
  if (o.password_hash && !hash_ok(o.password_hash))
    return sio__fail(SIO_EINVAL, "password_hash must be a valid bcrypt hash");
  if (o.mode != SIO_INSTRUMENT_DEVELOPMENT && o.mode != SIO_INSTRUMENT_PRODUCTION)
    return sio__fail(SIO_EINVAL, "mode must be development or production");
  sio_instr_t *in = calloc(1, sizeof *in);
  uv_timer_t *t = malloc(sizeof *t);
  if (!in || !t) goto nomem;
  in->io = io;
  in->readonly = o.readonly != 0;
  in->dev = o.mode == SIO_INSTRUMENT_DEVELOPMENT;
  in->interval_ms = o.server_stats_interval_ms ? o.server_stats_interval_ms : 2000;
  if (gethostname(in->hostname, sizeof in->hostname - 1)) strcpy(in->hostname, "localhost");
  in->server_id = strdup(o.server_id ? o.server_id : in->hostname);
  if (!in->server_id || (o.username && (!(in->username = strdup(o.username)) ||
                                        !(in->hash = strdup(o.password_hash)))))
    goto nomem;
  r = sio_io_of(io, o.namespace_name, &in->admin);
  if (r) goto fail;
  if (in->username && (r = sio_nsp_use(in->admin, auth_middleware, in))) goto fail;
  struct timeval tv;
  gettimeofday(&tv, NULL);
  uv_loop_t *loop = sio_server_loop(io->server);
  in->loop = loop;
  in->epoch_offset_ms = (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000 - (int64_t)uv_now(loop);
  in->started_ns = uv_hrtime();
  uv_timer_init(loop, t);
  t->data = in;
  in->timer = t;
  in->refs = 1;
  uv_unref((uv_handle_t *)t); /* as the admin-ui's unref'd interval: it keeps no loop alive */
  sio_nsp_set_data(in->admin, in);
  sio_nsp_set_callbacks(in->admin, &(sio_nsp_callbacks_t){.on_connection = admin_connection,
                                                          .on_event = admin_event});
  io->instr = in;
  sio__server_watch_instr(io->server, 1);
  uv_timer_start(t, on_stats_timer, 0, in->interval_ms);
  return 0;
nomem:
  r = SIO_ENOMEM;
fail:
  if (in) {
    free(in->username);
    free(in->hash);
    free(in->server_id);
  }
  free(in);
  free(t);
  return r;
}
