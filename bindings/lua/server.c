/* Servers: sio.server{} (a sio_server_t listening, its sio_io_t and namespace "/"), server:static(),
 * server:close(), and what a host sees of them (sio_lua.h: siol_servers ...). A server is also its
 * namespace "/": the namespace methods are the server's too. */
#include <stdlib.h>
#include <string.h>

#include "private.h"

typedef struct {
  srv_t *srv;
} srv_box_t;

srv_t *siol_check_srv(lua_State *L, int idx) {
  srv_box_t *b = luaL_checkudata(L, idx, SIOL_SERVER_MT);
  return b->srv;
}

srv_t *siol_check_open_srv(lua_State *L, int idx) {
  srv_t *srv = siol_check_srv(L, idx);
  if (srv->closing || srv->closed) luaL_error(L, "the server is closed");
  return srv;
}

void siol_push_server(lua_State *L, srv_t *srv) { lua_rawgeti(L, LUA_REGISTRYINDEX, srv->ref); }

srv_t *siol_srv_of_nsp(sio_nsp_t *nsp) { return sio_io_get_data(sio_nsp_io(nsp)); }

static void srv_unlink(srv_t *srv) {
  if (!srv->pprev) return;
  *srv->pprev = srv->next;
  if (srv->next) srv->next->pprev = srv->pprev;
  srv->next = NULL;
  srv->pprev = NULL;
}

static void srv_free(srv_t *srv) {
  siol_state_t *st = srv->st;
  siol_engines_free(srv);
  free(srv->host);
  free(srv->path);
  free(srv->cors);
  free(srv->redis);
  free(srv->client_dir);
  for (int i = 0; i < 4; i++) free(srv->cookie[i]);
  free(srv);
  siol_release(st);
}

static void on_server_closed(sio_server_t *server) {
  srv_t *srv = sio_server_get_data(server);
  srv->closed = 1;
  srv->server = NULL;
  srv->io = NULL;
  srv_unlink(srv);
  if (!srv->st->servers) siol_signals_off(srv->st);
  if (srv->orphan) {
    srv_free(srv);
    return;
  }
  lua_State *L = siol_cb_state(srv->st);
  if (L) {
    for (eng_t *e = srv->engines; e; e = e->next) siol_unref(L, &e->ref);
    if (srv->routes_ref > 0) siol_unref(L, &srv->routes_ref);
    siol_unref(L, &srv->ref); /* the box may be collected now; its __gc frees srv */
  }
}

void siol_srv_close(srv_t *srv) {
  if (srv->closing || srv->closed) return;
  srv->closing = 1;
  sio_server_close(srv->server, on_server_closed);
}

static int srv_gc(lua_State *L) {
  srv_box_t *b = luaL_checkudata(L, 1, SIOL_SERVER_MT);
  srv_t *srv = b->srv;
  if (!srv) return 0;
  b->srv = NULL;
  if (srv->closed) {
    srv_free(srv);
  } else {
    /* Only lua_close() collects an open server (the registry holds it until closed): from here on
     * no callback may call into Lua, whose objects are being finalized. */
    srv->st->dead = 1;
    srv->orphan = 1;
    siol_srv_close(srv);
  }
  return 0;
}

static char *dup_or_null(const char *s) { return s ? strdup(s) : NULL; }

/* Copies what the server keeps of its options (io:engine() makes endpoints with them); 0, or -1
 * when out of memory. */
static int srv_keep(srv_t *srv, siol_server_opts_t *o) {
  sio_engine_options_t *e = &o->io.engine;
  sio_cookie_options_t *ck = &e->cookie;
  const char *ck_strs[4] = {ck->name, ck->path, ck->domain, ck->same_site};
  int nomem = 0;
  for (int i = 0; i < 4; i++) {
    srv->cookie[i] = dup_or_null(ck_strs[i]);
    nomem = nomem || (ck_strs[i] && !srv->cookie[i]);
  }
  srv->host = strdup(o->host);
  srv->path = strdup(e->path);
  srv->cors = dup_or_null(e->cors_origin);
  srv->client_dir = dup_or_null(o->io.client_dir);
  srv->redis = dup_or_null(o->redis.url);
  if (nomem || !srv->host || !srv->path || (e->cors_origin && !srv->cors) ||
      (o->io.client_dir && !srv->client_dir) || (o->redis.url && !srv->redis))
    return -1;
  e->path = srv->path;
  e->cors_origin = srv->cors;
  o->io.client_dir = srv->client_dir;
  ck->name = srv->cookie[0];
  ck->path = srv->cookie[1];
  ck->domain = srv->cookie[2];
  ck->same_site = srv->cookie[3];
  srv->eio = *e;
  return 0;
}

/* The core refused to make the server: it closes (its box keeps it until that completes). A
 * script's bad option (`bad`: what the core's code means for it) raises; else nil, err, name. */
static int made_fail(lua_State *L, srv_t *srv, int boxi, int r, const char *bad) {
  /* `bad` may be the core's detail, which closing could overwrite: kept in Lua first. */
  if (bad) lua_pushfstring(L, "sio.server: %s", bad);
  srv->orphan = 0;
  siol_srv_close(srv);
  lua_pushvalue(L, boxi);
  srv->ref = luaL_ref(L, LUA_REGISTRYINDEX); /* released when the close completes */
  if (bad) return lua_error(L); /* the message pushed above, under the box just reffed */
  return siol_push_fail(L, r);
}

/* A copy of the options table at 1, in its place, for the host's hook to change. */
static void host_options(lua_State *L, siol_state_t *st) {
  lua_newtable(L);
  lua_pushnil(L);
  while (lua_next(L, 1)) {
    lua_pushvalue(L, -2);
    lua_insert(L, -2);
    lua_rawset(L, -4);
  }
  lua_replace(L, 1);
  st->hooks.server_options(L, 1);
  lua_settop(L, 1);
}

/* sio.server{ host=, port=, path=, cors=, ... (options.c) } -> server | nil, err, name */
int siol_server(lua_State *L) {
  siol_state_t *st = siol_state(L);
  if (lua_isnoneornil(L, 1)) {
    lua_settop(L, 0);
    lua_newtable(L);
  }
  luaL_checktype(L, 1, LUA_TTABLE);
  lua_settop(L, 1);
  if (st->hooks.server_options) host_options(L, st);
  siol_server_opts_t o;
  siol_read_listen_options(L, 1, &o);
  if (st->hooks.server_find && st->hooks.server_find(L, o.host, o.port, o.io.engine.path)) {
    siol_hooks_from_options(L, 1, siol_check_srv(L, -1)); /* the reloaded script's; pops its own */
    return 1;
  }
  siol_read_server_options(L, 1, &o);

  /* The box first (a Lua memory error may come from it), then srv, which any failure below
   * leaves to its __gc. */
  srv_box_t *box = lua_newuserdatauv(L, sizeof *box, 1);
  box->srv = NULL;
  luaL_setmetatable(L, SIOL_SERVER_MT);
  lua_newtable(L); /* the server's namespaces, so that they live as long as it */
  lua_setiuservalue(L, -2, 1);
  int boxi = lua_gettop(L);
  srv_t *srv = calloc(1, sizeof *srv);
  if (!srv) return luaL_error(L, "out of memory");
  box->srv = srv;
  srv->closed = 1; /* until the core's server exists: __gc frees srv directly */
  srv->st = st;
  siol_hold(st);
  srv->ref = LUA_NOREF;
  if (srv_keep(srv, &o) < 0) return luaL_error(L, "out of memory");

  int r = sio_server_new(siol_loop(L, st), NULL, &srv->server);
  if (r) return siol_push_fail(L, r);
  srv->closed = 0;
  sio_server_set_data(srv->server, srv);
  /* siod --workers N: this state is one worker; its servers join the group before listening */
  if (st->workers && (r = sio_server_set_workers(srv->server, st->workers, st->worker)) != 0)
    return made_fail(L, srv, boxi, r, "workers");
  siol_apply_core_log(st, srv->server, srv);
  srv->tls = o.tls.cert_file != NULL;
  if (srv->tls) {
    r = sio_server_listen_tls(srv->server, o.host, o.port, &o.tls);
    /* A certificate that cannot be used is the script's mistake, said as the core words it. */
    if ((r == SIO_ETLS || r == SIO_EINVAL) && *sio_last_error())
      return made_fail(L, srv, boxi, r, sio_last_error());
  } else {
    r = sio_server_listen(srv->server, o.host, o.port);
  }
  if (r == 0) r = sio_io_new(srv->server, &o.io, &srv->io);
  /* A bad cookie (sio_io_new), or a bad redis URL: the core says what was wrong. */
  if (r == SIO_EINVAL && *sio_last_error()) return made_fail(L, srv, boxi, r, sio_last_error());
  if (r == 0 && srv->redis) {
    r = o.redis_streams ? sio_io_use_redis_streams(srv->io, &o.streams) : sio_io_use_redis(srv->io, &o.redis);
    if (r == SIO_EINVAL && *sio_last_error()) return made_fail(L, srv, boxi, r, sio_last_error());
    if (r == UV_ENOSYS)
      return made_fail(L, srv, boxi, r,
                       o.redis_streams || o.redis.sharded
                           ? "redis_mode: this engine is not in this build of sio"
                           : "redis: sio was built without Redis (cmake -DSIO_REDIS=ON)");
  }
  /* metrics_path = "/metrics": Prometheus text there (a bad or taken path is the script's). */
  if (r == 0) {
    const char *metrics = siol_opt_str(L, 1, "metrics_path", NULL); /* pushed: popped below */
    if (metrics) r = sio_io_serve_metrics(srv->io, metrics);
    lua_pop(L, 1); /* the stack stays as the code below counts it */
    if ((r == SIO_EINVAL || r == SIO_EEXIST) && *sio_last_error())
      return made_fail(L, srv, boxi, r, sio_last_error());
  }
  if (r) return made_fail(L, srv, boxi, r, NULL);
  srv->port = sio_server_port(srv->server);
  sio_io_set_data(srv->io, srv);
  lua_pushvalue(L, boxi);
  srv->ref = luaL_ref(L, LUA_REGISTRYINDEX);
  srv->next = st->servers;
  if (st->servers) st->servers->pprev = &srv->next;
  st->servers = srv;
  srv->pprev = &st->servers;
  sio_nsp_t *root;
  sio_io_of(srv->io, "/", &root);
  sio_nsp_set_callbacks(root, &siol_nsp_cbs);
  sio_nsp_use(root, siol_on_middleware, NULL);
  siol_push_nsp(L, srv, root);
  lua_pop(L, 1);
  siol_hooks_from_options(L, 1, srv); /* kept with the root namespace's handlers: made just above */
  lua_pushvalue(L, boxi);
  if (st->hooks.server_made) {
    st->hooks.server_made(L, o.host, o.port);
    lua_settop(L, boxi + 1);
  }
  return 1;
}

/* server:static(prefix, dir_or_file[, {index = "index.html", max_age = seconds, content_type = t}]):
 * serves files. */
static int l_static(lua_State *L) {
  srv_t *srv = siol_check_open_srv(L, 1);
  const char *prefix = luaL_checkstring(L, 2);
  const char *dir = luaL_checkstring(L, 3);
  sio_static_options_t o;
  sio_static_options_init(&o);
  if (lua_istable(L, 4)) {
    o.index = siol_opt_str(L, 4, "index", o.index);
    o.max_age_s = (uint32_t)siol_opt_int(L, 4, "max_age", (long)o.max_age_s, 0, 0x7fffffff);
    o.content_type = siol_opt_str(L, 4, "content_type", NULL);
  }
  int r = sio_server_static(srv->server, prefix, dir, &o);
  if (r == SIO_EEXIST && srv->st->hooks.static_taken && srv->st->hooks.static_taken(L)) r = 0;
  if (r == SIO_EINVAL) return luaL_argerror(L, 2, sio_last_error()); /* the prefix, said why */
  return siol_push_ok(L, r);
}

/* server:instrument{auth = false | {username = ..., password = <bcrypt hash>}, mode =
 * "development" | "production", read_only = false, server_id = hostname, namespace = "/admin",
 * server_stats_interval = 2000 (ms)}: the Admin UI's server side (sio_io_instrument). auth must
 * be given (false: none), as in the admin-ui. */
static int l_instrument(lua_State *L) {
  srv_t *srv = siol_check_open_srv(L, 1);
  luaL_checktype(L, 2, LUA_TTABLE);
  sio_instrument_options_t o;
  sio_instrument_options_init(&o);
  o.namespace_name = siol_opt_str(L, 2, "namespace", o.namespace_name);
  o.server_id = siol_opt_str(L, 2, "server_id", NULL);
  o.server_stats_interval_ms =
      (uint32_t)siol_opt_int(L, 2, "server_stats_interval", 2000, 1, 0x7fffffff);
  lua_getfield(L, 2, "read_only");
  o.readonly = lua_toboolean(L, -1);
  lua_pop(L, 1);
  const char *mode = siol_opt_str(L, 2, "mode", "development");
  if (strcmp(mode, "production") == 0) o.mode = SIO_INSTRUMENT_PRODUCTION;
  else if (strcmp(mode, "development") != 0)
    return luaL_error(L, "instrument: mode is \"development\" or \"production\"");
  int t = lua_getfield(L, 2, "auth");
  if (t == LUA_TTABLE) {
    int at = lua_gettop(L);
    o.username = siol_opt_str(L, at, "username", NULL);
    o.password_hash = siol_opt_str(L, at, "password", NULL);
    if (!o.username || !o.password_hash)
      return luaL_error(L, "instrument: auth = {username = ..., password = <bcrypt hash>}");
  } else if (!(t == LUA_TBOOLEAN && !lua_toboolean(L, -1))) {
    return luaL_error(L, "instrument: auth must be false (none) or {username = ..., password = <bcrypt hash>}");
  }
  int r = sio_io_instrument(srv->io, &o);
  lua_settop(L, 2);
  /* (SIO_EEXIST, a second call, comes back as nil, err: a reloaded script calls it again) */
  if (r == SIO_EINVAL) return luaL_error(L, "instrument: %s", sio_last_error());
  return siol_push_ok(L, r);
}

static int l_close(lua_State *L) {
  siol_srv_close(siol_check_srv(L, 1));
  return 0;
}

static int l_index(lua_State *L) {
  srv_t *srv = siol_check_srv(L, 1);
  const char *key = luaL_checkstring(L, 2);
  if (siol_method(L, key)) return 1;
  if (strcmp(key, "port") == 0) lua_pushinteger(L, srv->port);
  else if (strcmp(key, "host") == 0) lua_pushstring(L, srv->host);
  else if (strcmp(key, "path") == 0) lua_pushstring(L, srv->path);
  else if (strcmp(key, "redis") == 0) lua_pushstring(L, srv->redis); /* nil when alone */
  else if (strcmp(key, "closed") == 0) lua_pushboolean(L, srv->closing || srv->closed);
  else if (strcmp(key, "tls") == 0) lua_pushboolean(L, srv->tls);
  else if (strcmp(key, "name") == 0) lua_pushliteral(L, "/");
  else if (srv->closing || srv->closed) return 0;
  else return siol_push_flag_op(L, 1, key);
  return 1;
}

/* ---- for hosts (sio_lua.h) ---- */

void siol_servers(lua_State *L) {
  siol_state_t *st = siol_state(L);
  lua_newtable(L);
  lua_Integer n = 0;
  for (srv_t *s = st ? st->servers : NULL; s; s = s->next) {
    if (s->closing || s->closed) continue;
    siol_push_server(L, s);
    lua_rawseti(L, -2, ++n);
  }
}

void siol_server_parts(lua_State *L, int idx) {
  idx = lua_absindex(L, idx);
  srv_t *srv = siol_check_srv(L, idx);
  lua_newtable(L);
  lua_getiuservalue(L, idx, 1);
  lua_Integer n = (lua_Integer)lua_rawlen(L, -1);
  for (lua_Integer i = 1; i <= n; i++) {
    lua_rawgeti(L, -1, i);
    lua_rawseti(L, -3, i);
  }
  lua_pop(L, 1);
  for (eng_t *e = srv ? srv->engines : NULL; e; e = e->next) {
    if (e->ref == LUA_NOREF) continue;
    lua_rawgeti(L, LUA_REGISTRYINDEX, e->ref);
    lua_rawseti(L, -2, ++n);
  }
}

static int check_handlers_owner(lua_State *L, int idx) {
  idx = lua_absindex(L, idx);
  if (!luaL_testudata(L, idx, SIOL_NSP_MT) && !luaL_testudata(L, idx, SIOL_ENGINE_MT))
    luaL_argerror(L, idx, "a namespace or an Engine.IO endpoint");
  return idx;
}

void siol_handlers(lua_State *L, int idx) { lua_getiuservalue(L, check_handlers_owner(L, idx), 1); }

void siol_set_handlers(lua_State *L, int idx) {
  idx = check_handlers_owner(L, idx);
  luaL_checktype(L, -1, LUA_TTABLE);
  lua_setiuservalue(L, idx, 1);
}

/* server:reload_tls() -> true | nil, err, name: re-reads the certificate, key and CA files (new
 * connections get them; established ones keep theirs). */
static int l_reload_tls(lua_State *L) {
  srv_t *srv = siol_check_open_srv(L, 1);
  int r = sio_server_tls_reload(srv->server, NULL);
  if (r == 0) {
    lua_pushboolean(L, 1);
    return 1;
  }
  lua_pushnil(L);
  lua_pushstring(L, *sio_last_error() ? sio_last_error() : sio_strerror(r));
  lua_pushstring(L, sio_err_name(r));
  return 3;
}

/* ---- metrics ---- */

static void set_int(lua_State *L, const char *key, uint64_t v) {
  lua_pushinteger(L, (lua_Integer)v);
  lua_setfield(L, -2, key);
}

/* t[key] = {polling = v[0], websocket = v[1]} */
static void set_transports(lua_State *L, const char *key, const uint64_t v[2]) {
  lua_createtable(L, 0, 2);
  set_int(L, "polling", v[0]);
  set_int(L, "websocket", v[1]);
  lua_setfield(L, -2, key);
}

/* server:stats() -> table: sio_io_stats() and every namespace's sockets (lua/README.md says the
 * shape: the keys of Python's Server.stats(), protocols 3 and 4 and reasons 0..5 as integers). */
static int l_stats(lua_State *L) {
  srv_t *srv = siol_check_open_srv(L, 1);
  sio_stats_t st = {.size = sizeof st};
  int r = sio_io_stats(srv->io, &st);
  if (r) return siol_push_fail(L, r);
  lua_createtable(L, 0, 24);
  lua_createtable(L, 0, 2);
  static const char *const tnames[2] = {"polling", "websocket"};
  for (int t = 0; t < 2; t++) {
    lua_createtable(L, 0, 2);
    for (int p = 0; p < 2; p++) {
      lua_pushinteger(L, (lua_Integer)st.sessions[t][p]);
      lua_rawseti(L, -2, 3 + p);
    }
    lua_setfield(L, -2, tnames[t]);
  }
  lua_setfield(L, -2, "sessions");
  lua_newtable(L);
  const char *name;
  size_t n;
  for (size_t i = 0; sio_io_nsp_stats(srv->io, i, &name, &n) == 0; i++) {
    lua_pushinteger(L, (lua_Integer)n);
    lua_setfield(L, -2, name);
  }
  lua_setfield(L, -2, "sockets");
  set_int(L, "handshakes", st.handshakes);
  lua_createtable(L, 6, 1);
  for (int i = 0; i < 6; i++) {
    lua_pushinteger(L, (lua_Integer)st.refused[i]);
    lua_rawseti(L, -2, i);
  }
  lua_setfield(L, -2, "handshakes_refused");
  set_int(L, "upgrades", st.upgrades);
  set_transports(L, "packets_in", st.packets_in);
  set_transports(L, "packets_out", st.packets_out);
  set_transports(L, "bytes_in", st.bytes_in);
  set_transports(L, "bytes_out", st.bytes_out);
  set_int(L, "max_buffered_closes", st.max_buffered_closes);
  set_int(L, "tls_handshakes", st.tls_handshakes);
  set_int(L, "tls_failures", st.tls_failures);
  set_int(L, "deflate_negotiated", st.deflate_negotiated);
  set_int(L, "connections", st.connections);
  set_int(L, "broadcasts", st.broadcasts);
  set_int(L, "acks_sent", st.acks_sent);
  set_int(L, "acks_answered", st.acks_answered);
  set_int(L, "acks_timed_out", st.acks_timed_out);
  set_int(L, "acks_replied", st.acks_replied);
  if (st.redis_up >= 0) {
    lua_createtable(L, 0, 3);
    lua_pushboolean(L, st.redis_up);
    lua_setfield(L, -2, "up");
    set_int(L, "published", st.redis_published);
    set_int(L, "received", st.redis_received);
    lua_setfield(L, -2, "redis");
  }
  return 1;
}

/* server:metrics_text() -> string: what a scrape of metrics_path gets. */
static int l_metrics_text(lua_State *L) {
  srv_t *srv = siol_check_open_srv(L, 1);
  char *text;
  size_t len;
  int r = sio_io_metrics_text(srv->io, &text, &len);
  if (r) return siol_push_fail(L, r);
  lua_pushlstring(L, text, len);
  free(text);
  return 1;
}

void siol_open_server(lua_State *L) {
  static const luaL_Reg methods[] = {
      {"of", siol_of}, {"engine", siol_engine}, {"static", l_static}, {"route", siol_route},
      {"close", l_close}, {"on_engine", siol_on_engine}, {"reload_tls", l_reload_tls},
      {"stats", l_stats}, {"metrics_text", l_metrics_text},
      {"instrument", l_instrument}, {NULL, NULL}};
  siol_class(L, SIOL_SERVER_MT, siol_nsp_methods, methods, l_index, srv_gc, NULL);
}
