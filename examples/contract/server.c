/* The contract server in C (../../shared/contract.md): the Socket.IO namespaces at --path and the
 * bare Engine.IO echo endpoint at /engine.io/, on one port. Optionally (not part of the contract)
 * a directory served at "/" (--static) and socket.io-client's bundle at --path (--serve-client). */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sio.h"

typedef struct {
  const char *host;
  int port;
  const char *path;
  sio_engine_options_t eio;
  const char *static_dir; /* --static: served at "/"; NULL: none */
  const char *client_dir; /* --serve-client: socket.io-client's dist/; NULL: none */
  const char *redis;      /* --redis URL: a cluster node; NULL: alone */
  const char *redis_mode; /* --redis-mode classic|sharded|streams; NULL: classic */
  int parser;             /* --parser msgpack: SIO_PARSER_MSGPACK */
  long recovery_ms;       /* --recovery [MS]: connectionStateRecovery; -1: off */
  int admin;              /* --admin / --admin-auth: the Admin UI's server side on /admin-ui */
  const char *admin_auth; /* --admin-auth USER:BCRYPT; NULL: no auth */
  const char *metrics;    /* --metrics PATH: Prometheus text at PATH; NULL: none */
} config_t;

/* Each worker's own (--workers N: one per thread). */
static _Thread_local sio_server_t *server;
static uv_signal_t sigterm, sigint;
static sio_workers_t *workers; /* --workers N > 1; NULL: one plain server */

static void usage(void) {
  fprintf(stderr,
          "usage: sio-contract [--host 127.0.0.1] [--port 3000] [--path /socket.io/]\n"
          "                    [--ping-interval MS] [--ping-timeout MS] [--max-payload BYTES]\n"
          "                    [--allow-eio3] [--cors ORIGINS] [--redis URL]\n"
          "                    [--redis-mode classic|sharded|streams] [--cookie NAME]\n"
          "                    [--static DIR] [--serve-client DIR] [--per-message-deflate]\n"
          "                    [--tls-cert FILE --tls-key FILE] [--parser msgpack]\n"
          "                    [--recovery [MS] | --recovery=MS] [--metrics PATH]\n"
          "                    [--admin | --admin-auth USER:BCRYPT] [--workers N]\n");
  exit(2);
}

static int all_digits(const char *s) {
  if (!*s || strlen(s) > 9) return 0;
  for (; *s; s++)
    if (*s < '0' || *s > '9') return 0;
  return 1;
}

static void echo_message(sio_session_t *s, const char *data, size_t len, int binary) {
  sio_session_send(s, data, len, binary);
}

static void on_closed(sio_server_t *s) { (void)s; }

/* ---- Socket.IO ---- */

static void emit_auth(sio_nsp_t *nsp, sio_socket_t *s) {
  cJSON *args = cJSON_CreateArray();
  cJSON_AddItemReferenceToArray(args, (cJSON *)sio_socket_auth(s));
  sio_args_t a = {args, NULL, 0};
  sio_socket_emit(s, "auth", &a, 0);
  cJSON_Delete(args);
}

/* args without its first `skip` elements (references, not copies). */
static cJSON *args_tail(const sio_args_t *args, int skip) {
  cJSON *t = cJSON_CreateArray();
  int i = 0;
  for (cJSON *c = args->json ? args->json->child : NULL; c; c = c->next, i++)
    if (i >= skip) cJSON_AddItemReferenceToArray(t, c);
  return t;
}

static const char *arg_string(const sio_args_t *args, int i) {
  cJSON *c = args->json ? cJSON_GetArrayItem(args->json, i) : NULL;
  return cJSON_IsString(c) ? c->valuestring : NULL;
}

static int cmp_str(const void *a, const void *b) {
  return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static void ack_rooms(sio_socket_t *s, int64_t ack_id) {
  size_t n = sio_socket_room_count(s);
  const char **names = malloc((n ? n : 1) * sizeof *names);
  if (!names) return;
  for (size_t i = 0; i < n; i++) names[i] = sio_socket_room(s, i);
  qsort(names, n, sizeof *names, cmp_str);
  cJSON *rooms = cJSON_CreateArray();
  for (size_t i = 0; i < n; i++) cJSON_AddItemToArray(rooms, cJSON_CreateString(names[i]));
  cJSON *args = cJSON_CreateArray();
  cJSON_AddItemToArray(args, rooms);
  sio_args_t a = {args, NULL, 0};
  sio_socket_ack(s, ack_id, &a);
  cJSON_Delete(args);
  free(names);
}

typedef struct {
  int64_t ack_id;
} ask_t;

static void on_ask_answer(sio_socket_t *s, int status, const sio_args_t *args, void *arg) {
  ask_t *ask = arg;
  if (status != SIO_ECLOSED) {
    cJSON *res = cJSON_CreateObject();
    if (status == 0) {
      cJSON_AddTrueToObject(res, "ok");
      cJSON_AddItemToObject(res, "args", args->json ? cJSON_Duplicate(args->json, 1) : cJSON_CreateArray());
    } else {
      cJSON_AddFalseToObject(res, "ok");
      cJSON_AddStringToObject(res, "error", "timeout");
    }
    cJSON *out = cJSON_CreateArray();
    cJSON_AddItemToArray(out, res);
    sio_args_t a = {out, status == 0 ? args->bufs : NULL, status == 0 ? args->nbufs : 0};
    sio_socket_ack(s, ask->ack_id, &a);
    cJSON_Delete(out);
  }
  free(ask);
}

static void ack_count(sio_socket_t *s, int64_t ack_id, size_t n) {
  cJSON *out = cJSON_CreateArray();
  cJSON_AddItemToArray(out, cJSON_CreateNumber((double)n));
  sio_args_t a = {out, NULL, 0};
  sio_socket_ack(s, ack_id, &a);
  cJSON_Delete(out);
}

/* An ack owed once a cluster answer comes: the socket is found again by id then, as it may have
 * left meanwhile. */
typedef struct {
  char sid[64];
  int64_t ack_id;
} pending_t;

static pending_t *pending_new(sio_socket_t *s, int64_t ack_id) {
  pending_t *c = malloc(sizeof *c);
  if (!c) return NULL;
  snprintf(c->sid, sizeof c->sid, "%s", sio_socket_id(s));
  c->ack_id = ack_id;
  return c;
}

/* Acks the pending socket with one value (taken), then frees the pending. */
static void pending_ack(sio_nsp_t *nsp, pending_t *c, cJSON *value) {
  sio_socket_t *s = sio_nsp_socket(nsp, c->sid);
  cJSON *out = cJSON_CreateArray();
  cJSON_AddItemToArray(out, value);
  sio_args_t a = {out, NULL, 0};
  if (s) sio_socket_ack(s, c->ack_id, &a);
  cJSON_Delete(out);
  free(c);
}

static void on_count(sio_nsp_t *nsp, int status, size_t n, void *arg) {
  pending_t *c = arg;
  sio_socket_t *s = sio_nsp_socket(nsp, c->sid);
  if (status == SIO_ETIMEDOUT) fprintf(stderr, "sio-contract: count: a node did not answer in time\n");
  /* Timed out, or Redis away (SIO_EUNAVAIL, at once): what was counted (this node's sockets at
   * least). At shutdown the socket is gone already. */
  if (s) ack_count(s, c->ack_id, n);
  free(c);
}

/* ---- the cluster events (README.md) ---- */

static int listen_port;

/* {"ok":true|false[,"error":e],"responses":responses (copied)} */
static cJSON *outcome(int status, const cJSON *responses) {
  cJSON *o = cJSON_CreateObject();
  cJSON_AddBoolToObject(o, "ok", status == 0);
  if (status) cJSON_AddStringToObject(o, "error", status == SIO_ETIMEDOUT ? "timeout" : sio_strerror(status));
  cJSON_AddItemToObject(o, "responses", responses ? cJSON_Duplicate(responses, 1) : cJSON_CreateArray());
  return o;
}

static void on_server_emit_ack(sio_nsp_t *nsp, int status, const cJSON *responses, void *arg) {
  pending_ack(nsp, arg, outcome(status, responses));
}

static int cmp_json(const void *a, const void *b) {
  char *x = cJSON_PrintUnformatted(*(cJSON *const *)a), *y = cJSON_PrintUnformatted(*(cJSON *const *)b);
  int r = strcmp(x ? x : "", y ? y : "");
  free(x);
  free(y);
  return r;
}

/* A copy of the array, its items sorted by their JSON text. */
static cJSON *sorted_copy(const cJSON *arr) {
  int n = cJSON_GetArraySize(arr);
  cJSON **v = malloc((n > 0 ? (size_t)n : 1) * sizeof *v);
  cJSON *out = cJSON_CreateArray();
  int i = 0;
  for (const cJSON *c = v ? arr->child : NULL; c; c = c->next) v[i++] = cJSON_Duplicate(c, 1);
  qsort(v, (size_t)i, sizeof *v, cmp_json);
  for (int k = 0; k < i; k++) cJSON_AddItemToArray(out, v[k]);
  free(v);
  return out;
}

static void on_broadcast_ack(sio_nsp_t *nsp, int status, const sio_args_t *responses, void *arg) {
  cJSON *sorted = sorted_copy(responses->json);
  pending_ack(nsp, arg, outcome(status, sorted));
  cJSON_Delete(sorted);
}

static int cmp_socket_id(const void *a, const void *b) {
  const cJSON *x = cJSON_GetObjectItemCaseSensitive(*(cJSON *const *)a, "id");
  const cJSON *y = cJSON_GetObjectItemCaseSensitive(*(cJSON *const *)b, "id");
  return strcmp(cJSON_IsString(x) ? x->valuestring : "", cJSON_IsString(y) ? y->valuestring : "");
}

/* [{"id", "rooms" (sorted), "address", "auth"}] sorted by id, from fetchSockets' answer. */
static void on_fetch_sockets(sio_nsp_t *nsp, int status, const cJSON *sockets, void *arg) {
  (void)status;
  int n = cJSON_GetArraySize(sockets);
  cJSON **v = malloc((n > 0 ? (size_t)n : 1) * sizeof *v);
  cJSON *out = cJSON_CreateArray();
  int k = 0;
  for (const cJSON *s = v ? sockets->child : NULL; s; s = s->next) {
    const cJSON *hs = cJSON_GetObjectItemCaseSensitive(s, "handshake");
    cJSON *o = cJSON_CreateObject();
    cJSON_AddItemToObject(o, "id", cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(s, "id"), 1));
    cJSON *rooms = sorted_copy(cJSON_GetObjectItemCaseSensitive(s, "rooms"));
    cJSON_AddItemToObject(o, "rooms", rooms);
    cJSON_AddItemToObject(o, "address", cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(hs, "address"), 1));
    cJSON_AddItemToObject(o, "auth", cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(hs, "auth"), 1));
    v[k++] = o;
  }
  qsort(v, (size_t)k, sizeof *v, cmp_socket_id);
  for (int i = 0; i < k; i++) cJSON_AddItemToArray(out, v[i]);
  free(v);
  pending_ack(nsp, arg, out);
}

static void on_all_rooms(sio_nsp_t *nsp, int status, const char *const *rooms, size_t n, void *arg) {
  (void)status; /* timed out or Redis lost: the rooms gathered */
  const char **v = malloc((n ? n : 1) * sizeof *v);
  cJSON *arr = cJSON_CreateArray();
  if (v) {
    memcpy(v, rooms, n * sizeof *v);
    qsort(v, n, sizeof *v, cmp_str);
    for (size_t i = 0; i < n; i++) cJSON_AddItemToArray(arr, cJSON_CreateString(v[i]));
  }
  free(v);
  pending_ack(nsp, arg, arr);
}

/* Another node's serverSideEmit("server-event", ...args). */
static void on_server_event(sio_nsp_t *nsp, const char *ev, const sio_args_t *args, const char *reply_id) {
  if (strcmp(ev, "server-event") != 0) return;
  sio_nsp_emit(nsp, &(sio_target_t){.flags = SIO_EMIT_LOCAL}, "server-event", args);
  if (!reply_id) return;
  cJSON *answer = cJSON_CreateObject();
  cJSON_AddNumberToObject(answer, "port", listen_port);
  cJSON_AddItemToObject(answer, "args", args->json ? cJSON_Duplicate(args->json, 1) : cJSON_CreateArray());
  sio_nsp_server_reply(nsp, reply_id, answer);
  cJSON_Delete(answer);
}

static void ack_true(sio_socket_t *s, int64_t ack_id) {
  if (ack_id < 0) return;
  cJSON *out = cJSON_CreateArray();
  cJSON_AddItemToArray(out, cJSON_CreateTrue());
  sio_args_t a = {out, NULL, 0};
  sio_socket_ack(s, ack_id, &a);
  cJSON_Delete(out);
}

static void cluster_event(sio_socket_t *s, const char *ev, const sio_args_t *args, int64_t ack_id) {
  sio_nsp_t *nsp = sio_socket_nsp(s);
  const char *target = arg_string(args, 0), *room = arg_string(args, 1);
  sio_target_t to = {&target, 1, NULL, 0, 0};
  if (strcmp(ev, "server-emit-noack") == 0) {
    sio_nsp_server_emit(nsp, "server-event", args);
  } else if (strcmp(ev, "sockets-join") == 0 && target && room) {
    sio_nsp_join(nsp, &to, room);
    ack_true(s, ack_id);
  } else if (strcmp(ev, "sockets-leave") == 0 && target && room) {
    sio_nsp_leave(nsp, &to, room);
    ack_true(s, ack_id);
  } else if (strcmp(ev, "disconnect-sockets") == 0 && target) {
    ack_true(s, ack_id);
    sio_nsp_disconnect(nsp, &to, 0);
  } else if (ack_id >= 0 && (strcmp(ev, "server-emit") == 0 || strcmp(ev, "all-rooms") == 0 ||
                             strcmp(ev, "broadcast-ack") == 0 || strcmp(ev, "fetch-sockets") == 0)) {
    pending_t *c = pending_new(s, ack_id);
    if (!c) return;
    int r = ev[0] == 's'   ? sio_nsp_server_emit_ack(nsp, "server-event", args, on_server_emit_ack, c)
            : ev[0] == 'a' ? sio_nsp_fetch_rooms(nsp, on_all_rooms, c)
            : ev[0] == 'f' ? sio_nsp_fetch_sockets(nsp, NULL, on_fetch_sockets, c)
                           : sio_nsp_emit_ack(nsp, NULL, "ack-me", args, 1000, on_broadcast_ack, c);
    if (r) pending_ack(nsp, c, outcome(r, NULL));
  }
}

static void root_event(sio_socket_t *s, const char *ev, const sio_args_t *args, int64_t ack_id) {
  sio_nsp_t *nsp = sio_socket_nsp(s);
  if (strcmp(ev, "message") == 0) {
    sio_socket_emit(s, "message-back", args, 0);
  } else if (strcmp(ev, "message-with-ack") == 0) {
    if (ack_id >= 0) sio_socket_ack(s, ack_id, args);
  } else if (strcmp(ev, "echo") == 0) {
    if (ack_id >= 0) sio_socket_ack(s, ack_id, args);
    else sio_socket_emit(s, "echo", args, 0);
  } else if (strcmp(ev, "broadcast") == 0) {
    sio_nsp_emit(nsp, NULL, "broadcast", args);
  } else if (strcmp(ev, "join") == 0 || strcmp(ev, "leave") == 0) {
    const char *room = arg_string(args, 0);
    if (room && ev[0] == 'j') sio_socket_join(s, room);
    else if (room) sio_socket_leave(s, room);
    if (ack_id >= 0) ack_rooms(s, ack_id);
  } else if (strcmp(ev, "to-room") == 0 || strcmp(ev, "to-room-others") == 0) {
    const char *room = arg_string(args, 0);
    if (!room) return;
    const char *self = sio_socket_id(s);
    sio_target_t to = {&room, 1, &self, strcmp(ev, "to-room") == 0 ? 0 : 1, 0};
    sio_nsp_emit(nsp, &to, "room-message", args);
  } else if (strcmp(ev, "ask") == 0) {
    const char *event = arg_string(args, 0);
    if (!event || ack_id < 0) return;
    ask_t *ask = malloc(sizeof *ask);
    if (!ask) return;
    ask->ack_id = ack_id;
    cJSON *rest = args_tail(args, 1);
    sio_args_t a = {rest, args->bufs, args->nbufs};
    if (sio_socket_emit_ack(s, event, &a, 0, 1000, on_ask_answer, ask) != 0) free(ask);
    cJSON_Delete(rest);
  } else if (strcmp(ev, "count") == 0) {
    if (ack_id < 0) return;
    /* Cluster-wide with --redis (Node's fetchSockets().length); the socket is found again by id
     * when the answer comes, as it may have left meanwhile. */
    pending_t *c = pending_new(s, ack_id);
    if (c) {
      if (sio_nsp_fetch_count(nsp, NULL, on_count, c) == 0) return;
      free(c);
    }
    /* Closing (or no memory): this node's count. */
    ack_count(s, ack_id, sio_nsp_socket_count(nsp));
  } else if (strcmp(ev, "disconnect-me") == 0) {
    sio_socket_disconnect(s, 0);
  } else {
    cluster_event(s, ev, args, ack_id);
  }
}

static void admin_guard(sio_socket_t *s, void *arg) {
  (void)arg;
  const cJSON *token = cJSON_GetObjectItemCaseSensitive(sio_socket_auth(s), "token");
  if (cJSON_IsString(token) && strcmp(token->valuestring, "secret") == 0) sio_socket_next(s);
  else sio_socket_refuse(s, "unauthorized", NULL);
}

static void admin_connection(sio_nsp_t *nsp, sio_socket_t *s) {
  (void)nsp;
  cJSON *args = cJSON_CreateArray();
  cJSON_AddItemToArray(args, cJSON_CreateString(sio_socket_id(s)));
  sio_args_t a = {args, NULL, 0};
  sio_socket_emit(s, "welcome", &a, 0);
  cJSON_Delete(args);
}

static void dyn_connection(sio_nsp_t *nsp, sio_socket_t *s) {
  cJSON *args = cJSON_CreateArray();
  cJSON_AddItemToArray(args, cJSON_CreateString(sio_nsp_name(nsp)));
  sio_args_t a = {args, NULL, 0};
  sio_socket_emit(s, "nsp", &a, 0);
  cJSON_Delete(args);
}

/* --admin: the contract's flag table (namespace /admin-ui, development, server_stats every 2 s). */
static int instrument(sio_io_t *io, const char *auth) {
  sio_instrument_options_t io_opts;
  sio_instrument_options_init(&io_opts);
  io_opts.namespace_name = "/admin-ui";
  io_opts.mode = SIO_INSTRUMENT_DEVELOPMENT;
  io_opts.server_stats_interval_ms = 2000;
  char user[256] = "";
  const char *colon = auth ? strchr(auth, ':') : NULL;
  if (auth) {
    if (!colon || (size_t)(colon - auth) >= sizeof user) {
      fprintf(stderr, "sio-contract: --admin-auth takes USER:BCRYPTHASH\n");
      exit(2);
    }
    memcpy(user, auth, (size_t)(colon - auth));
    io_opts.username = user;
    io_opts.password_hash = colon + 1;
  }
  int r = sio_io_instrument(io, &io_opts);
  if (r == SIO_EINVAL) {
    fprintf(stderr, "sio-contract: --admin-auth: %s\n", sio_last_error());
    exit(2);
  }
  return r;
}

/* --redis URL [--redis-mode MODE]: the contract's flag table (classic and sharded are
 * @socket.io/redis-adapter's two adapters, streams @socket.io/redis-streams-adapter's). */
static int use_redis(sio_io_t *io, const config_t *cfg) {
  if (cfg->redis_mode && strcmp(cfg->redis_mode, "streams") == 0) {
    sio_redis_streams_options_t so;
    sio_redis_streams_options_init(&so);
    so.url = cfg->redis;
    return sio_io_use_redis_streams(io, &so);
  }
  sio_redis_options_t ro;
  sio_redis_options_init(&ro);
  ro.url = cfg->redis;
  ro.sharded = cfg->redis_mode && strcmp(cfg->redis_mode, "sharded") == 0;
  return sio_io_use_redis(io, &ro);
}

static int setup_socketio(const config_t *cfg) {
  sio_io_options_t o;
  sio_io_options_init(&o);
  if (cfg->recovery_ms >= 0) {
    o.connection_state_recovery.enabled = 1;
    o.connection_state_recovery.max_disconnection_duration_ms = (uint32_t)cfg->recovery_ms;
  }
  o.engine = cfg->eio;
  o.engine.path = cfg->path;
  o.connect_timeout_ms = 1000;
  o.client_dir = cfg->client_dir;
  o.parser = cfg->parser;
  sio_io_t *io;
  sio_nsp_t *root, *custom, *admin, *dyn;
  int r = sio_io_new(server, &o, &io);
  if (!r) r = sio_io_of(io, "/", &root);
  if (!r) r = sio_io_of(io, "/custom", &custom);
  if (!r) r = sio_io_of(io, "/admin", &admin);
  if (!r) r = sio_io_dynamic(io, "^/dyn-[a-z0-9]+$", NULL, &dyn);
  if (!r) r = sio_nsp_use(admin, admin_guard, NULL);
  if (!r && cfg->redis) r = use_redis(io, cfg);
  if (!r && cfg->admin) r = instrument(io, cfg->admin_auth);
  if (!r && cfg->metrics) r = sio_io_serve_metrics(io, cfg->metrics);
  if (r) return r;
  sio_nsp_set_callbacks(root, &(sio_nsp_callbacks_t){.on_connection = emit_auth,
                                                     .on_event = root_event,
                                                     .on_server_event = on_server_event});
  sio_nsp_set_callbacks(custom, &(sio_nsp_callbacks_t){.on_connection = emit_auth});
  sio_nsp_set_callbacks(admin, &(sio_nsp_callbacks_t){.on_connection = admin_connection});
  sio_nsp_set_callbacks(dyn, &(sio_nsp_callbacks_t){.on_connection = dyn_connection});
  return 0;
}

static void on_stopped(sio_workers_t *w) { (void)w; }

static void on_signal(uv_signal_t *h, int signum) {
  (void)signum;
  uv_close((uv_handle_t *)&sigterm, NULL);
  uv_close((uv_handle_t *)&sigint, NULL);
  if (workers) sio_workers_stop(workers, on_stopped);
  else sio_server_close(server, on_closed);
  (void)h;
}

typedef struct {
  config_t cfg;
  const char *tls_cert, *tls_key;
} setup_t;

/* The whole server on `loop`: the worker's own with --workers N (every worker on one port). */
static int build_server(uv_loop_t *loop, setup_t *st, sio_workers_t *w, unsigned index) {
  config_t *cfg = &st->cfg;
  int r = sio_server_new(loop, NULL, &server);
  if (r == 0 && w) r = sio_server_set_workers(server, w, index);
  if (r == 0) {
    sio_engine_options_t eo = cfg->eio;
    eo.path = "/engine.io/";
    sio_engine_callbacks_t cbs = {NULL, echo_message, NULL, NULL};
    sio_engine_t *echo;
    r = sio_engine_new(server, &eo, &cbs, &echo);
  }
  if (r == 0) r = setup_socketio(cfg);
  if (r == UV_ENOSYS && cfg->parser == SIO_PARSER_MSGPACK) {
    fprintf(stderr, "sio-contract: --parser msgpack: %s\n", sio_last_error());
    exit(2); /* a flag this build cannot honour */
  }
  if (r == UV_ENOSYS && cfg->redis) {
    fprintf(stderr, "sio-contract: --redis-mode %s: not in this build\n", cfg->redis_mode ? cfg->redis_mode : "classic");
    exit(2);
  }
  if (r == 0 && cfg->static_dir) r = sio_server_static(server, "/", cfg->static_dir, NULL);
  if (r == 0 && st->tls_cert) {
    sio_tls_options_t to;
    sio_tls_options_init(&to);
    to.cert_file = st->tls_cert;
    to.key_file = st->tls_key;
    r = sio_server_listen_tls(server, cfg->host, cfg->port, &to);
  } else if (r == 0) {
    r = sio_server_listen(server, cfg->host, cfg->port);
  }
  if (r != 0) {
    const char *detail = sio_last_error();
    fprintf(stderr, "sio-contract: %s: %s\n", sio_err_name(r), *detail ? detail : sio_strerror(r));
    return r;
  }
  /* --port 0: the others bind the port worker 0 got. */
  if (index == 0) listen_port = cfg->port = sio_server_port(server);
  return 0;
}

static int worker_setup(sio_workers_t *w, unsigned index, uv_loop_t *loop, void *arg) {
  return build_server(loop, arg, w, index);
}

int main(int argc, char **argv) {
  config_t cfg = {"127.0.0.1", 3000, "/socket.io/", {0}, NULL, NULL, NULL, NULL, SIO_PARSER_JSON, -1, 0, NULL, NULL};
  const char *tls_cert = NULL, *tls_key = NULL;
  int nworkers = 1;
  sio_engine_options_init(&cfg.eio);
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    const char *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (strcmp(a, "--allow-eio3") == 0) { cfg.eio.allow_eio3 = 1; continue; }
    if (strcmp(a, "--per-message-deflate") == 0) { cfg.eio.per_message_deflate = 1; continue; }
    if (strcmp(a, "--admin") == 0) { cfg.admin = 1; continue; }
    /* --recovery [MS]: MS is the next argument only when it is all digits. */
    if (strcmp(a, "--recovery") == 0 || strncmp(a, "--recovery=", 11) == 0) {
      const char *ms = a[10] == '=' ? a + 11 : v && all_digits(v) ? argv[++i] : NULL;
      if (ms && !all_digits(ms)) usage();
      cfg.recovery_ms = ms ? strtol(ms, NULL, 10) : 120000;
      continue;
    }
    if (!v) usage();
    if (strcmp(a, "--host") == 0) cfg.host = v;
    else if (strcmp(a, "--port") == 0) cfg.port = atoi(v);
    else if (strcmp(a, "--path") == 0) cfg.path = v;
    else if (strcmp(a, "--ping-interval") == 0) cfg.eio.ping_interval_ms = (uint32_t)strtoul(v, NULL, 10);
    else if (strcmp(a, "--ping-timeout") == 0) cfg.eio.ping_timeout_ms = (uint32_t)strtoul(v, NULL, 10);
    else if (strcmp(a, "--max-payload") == 0) cfg.eio.max_payload = strtoul(v, NULL, 10);
    else if (strcmp(a, "--cors") == 0) cfg.eio.cors_origin = v;
    else if (strcmp(a, "--redis") == 0) cfg.redis = v;
    else if (strcmp(a, "--redis-mode") == 0) {
      if (strcmp(v, "classic") && strcmp(v, "sharded") && strcmp(v, "streams")) {
        fprintf(stderr, "sio-contract: --redis-mode: classic, sharded or streams, not \"%s\"\n", v);
        exit(2);
      }
      cfg.redis_mode = v;
    }
    else if (strcmp(a, "--cookie") == 0) cfg.eio.cookie.name = v;
    else if (strcmp(a, "--static") == 0) cfg.static_dir = v;
    else if (strcmp(a, "--serve-client") == 0) cfg.client_dir = v;
    else if (strcmp(a, "--metrics") == 0) cfg.metrics = v;
    else if (strcmp(a, "--parser") == 0 && strcmp(v, "msgpack") == 0) cfg.parser = SIO_PARSER_MSGPACK;
    else if (strcmp(a, "--parser") == 0) {
      fprintf(stderr, "sio-contract: --parser: only msgpack is known (JSON is the default)\n");
      exit(2);
    }
    else if (strcmp(a, "--admin-auth") == 0 && v) cfg.admin = 1, cfg.admin_auth = v;
    else if (strcmp(a, "--tls-cert") == 0) tls_cert = v;
    else if (strcmp(a, "--tls-key") == 0) tls_key = v;
    else if (strcmp(a, "--workers") == 0) {
      nworkers = all_digits(v) ? atoi(v) : 0;
      if (nworkers < 1 || nworkers > 64) {
        fprintf(stderr, "sio-contract: --workers: 1 to 64, not \"%s\"\n", v);
        exit(2);
      }
    }
    else usage();
    i++;
  }
  if (!tls_cert != !tls_key) {
    fprintf(stderr, "sio-contract: --tls-cert and --tls-key go together\n");
    return 2;
  }
  if (cfg.redis_mode && !cfg.redis) {
    fprintf(stderr, "sio-contract: --redis-mode needs --redis URL\n");
    return 2;
  }
  signal(SIGPIPE, SIG_IGN);
  uv_loop_t *loop = uv_default_loop();
  setup_t st = {cfg, tls_cert, tls_key};
  int r;
  if (nworkers > 1) {
    sio_workers_options_t wo;
    sio_workers_options_init(&wo);
    wo.count = (unsigned)nworkers;
    wo.setup = worker_setup;
    wo.arg = &st;
    r = sio_workers_start(loop, &wo, &workers);
  } else {
    r = build_server(loop, &st, NULL, 0);
  }
  if (r != 0) return 1;
  printf("listening on %s://%s:%d\n", tls_cert ? "https" : "http", cfg.host, listen_port);
  fflush(stdout);
  uv_signal_init(loop, &sigterm);
  uv_signal_start(&sigterm, on_signal, SIGTERM);
  uv_signal_init(loop, &sigint);
  uv_signal_start(&sigint, on_signal, SIGINT);
  uv_run(loop, UV_RUN_DEFAULT);
  uv_loop_close(loop);
  return 0;
}
