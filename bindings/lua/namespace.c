/* Namespaces: io:of(name | fn), nsp:on/use/count/socket, the core's namespace callbacks, and
 * siol_rebind (sio_lua.h). A namespace's handlers are a table in its userdata (uservalue 1);
 * dynamic children share their parent's. Middleware is in middleware.c, the cluster-wide requests
 * in cluster.c, the emitting methods in emitter.c and selection.c. */
#include <string.h>

#include "private.h"

static void new_nsp_ud(lua_State *L, srv_t *srv, sio_nsp_t *nsp) {
  nsp_ud_t *u = lua_newuserdatauv(L, sizeof *u, 1);
  u->srv = srv;
  u->nsp = nsp;
  u->parent = 0;
  luaL_setmetatable(L, SIOL_NSP_MT);
  lua_newtable(L);
  lua_setiuservalue(L, -2, 1);
  lua_pushvalue(L, -1);
  u->ref = luaL_ref(L, LUA_REGISTRYINDEX);
  sio_nsp_set_data(nsp, u);
  /* the server's list of namespaces (its uservalue 1) */
  siol_push_server(L, srv);
  lua_getiuservalue(L, -1, 1);
  lua_pushvalue(L, -3);
  lua_rawseti(L, -2, (lua_Integer)lua_rawlen(L, -2) + 1);
  lua_pop(L, 2);
}

void siol_push_nsp(lua_State *L, srv_t *srv, sio_nsp_t *nsp) {
  nsp_ud_t *u = sio_nsp_get_data(nsp);
  if (u) lua_rawgeti(L, LUA_REGISTRYINDEX, u->ref);
  else new_nsp_ud(L, srv, nsp);
}

void siol_push_nsp_handlers(lua_State *L, srv_t *srv, sio_nsp_t *nsp) {
  sio_nsp_t *owner = sio_nsp_parent(nsp) ? sio_nsp_parent(nsp) : nsp;
  siol_push_nsp(L, srv, owner);
  lua_getiuservalue(L, -1, 1);
  lua_remove(L, -2);
}

/* While the server is closing (disconnect handlers run then) a namespace still answers, and emits
 * fail softly. */
nsp_ud_t *siol_check_nsp(lua_State *L, int idx) {
  nsp_ud_t *u = luaL_testudata(L, idx, SIOL_NSP_MT);
  if (u) {
    if (u->srv->closed) luaL_error(L, "the server is closed");
    return u;
  }
  srv_t *srv = siol_check_srv(L, idx);
  if (srv->closed) luaL_error(L, "the server is closed");
  sio_nsp_t *root;
  sio_io_of(srv->io, "/", &root);
  return sio_nsp_get_data(root);
}

void siol_append_field(lua_State *L, const char *key, int val) {
  if (lua_getfield(L, -1, key) != LUA_TTABLE) {
    lua_pop(L, 1);
    lua_newtable(L);
    lua_pushvalue(L, -1);
    lua_setfield(L, -3, key);
  }
  lua_pushvalue(L, val);
  lua_rawseti(L, -2, (lua_Integer)lua_rawlen(L, -2) + 1);
  lua_pop(L, 1);
}

/* ---- the core's callbacks ---- */

void siol_call_connection(lua_State *L, srv_t *srv, sio_socket_t *s, int reloaded) {
  int top = lua_gettop(L);
  siol_push_nsp_handlers(L, srv, sio_socket_nsp(s));
  int t = lua_gettop(L);
  if (lua_getfield(L, t, "connection") != LUA_TTABLE) {
    lua_settop(L, top);
    return;
  }
  int list = lua_gettop(L);
  siol_push_socket(L, srv, s);
  if (reloaded) lua_pushboolean(L, 1);
  siol_listen_run(srv->st, L, t, "connection", list, list + 1, reloaded ? 2 : 1, 0, NULL, "connection handler of",
                  NULL);
  lua_settop(L, top);
}

static void on_connection(sio_nsp_t *nsp, sio_socket_t *s) {
  srv_t *srv = siol_srv_of_nsp(nsp);
  lua_State *L = siol_cb_state(srv->st);
  if (L) siol_call_connection(L, srv, s, 0);
}

const sio_nsp_callbacks_t siol_nsp_cbs = {.on_connection = on_connection,
                                          .on_event = siol_on_event,
                                          .on_disconnecting = siol_on_disconnecting,
                                          .on_disconnect = siol_on_disconnect,
                                          .on_server_event = siol_on_server_event};

/* A parent's `match` decides which unknown names become its children. */
static int on_dynamic_match(sio_nsp_t *parent, const char *name, const cJSON *auth) {
  nsp_ud_t *u = sio_nsp_get_data(parent);
  srv_t *srv = siol_srv_of_nsp(parent);
  lua_State *L = siol_cb_state(srv->st);
  if (!L || !u) return 0;
  lua_rawgeti(L, LUA_REGISTRYINDEX, u->ref);
  lua_getiuservalue(L, -1, 1);
  lua_getfield(L, -1, "match");
  lua_replace(L, -3);
  lua_pop(L, 1);
  if (!lua_isfunction(L, -1)) {
    lua_pop(L, 1);
    return 0;
  }
  lua_pushstring(L, name);
  siol_push_json(L, auth, NULL);
  if (!siol_pcall(L, 2, 1, "namespace matcher for", name)) return 0;
  int ok = lua_toboolean(L, -1);
  lua_pop(L, 1);
  return ok;
}

/* ---- methods ---- */

/* io:of(name) -> namespace; io:of(function(name, auth) -> boolean) -> dynamic parent */
int siol_of(lua_State *L) {
  srv_t *srv = siol_check_open_srv(L, 1);
  sio_nsp_t *nsp;
  if (lua_isfunction(L, 2)) {
    lua_settop(L, 2);
    siol_hooks_t *h = &srv->st->hooks;
    if (!h->dynamic_find || !h->dynamic_find(L)) {
      int r = sio_io_dynamic(srv->io, NULL, on_dynamic_match, &nsp);
      if (r) return siol_push_fail(L, r);
      sio_nsp_set_callbacks(nsp, &siol_nsp_cbs);
      sio_nsp_use(nsp, siol_on_middleware, NULL);
      siol_push_nsp(L, srv, nsp);
    }
    ((nsp_ud_t *)luaL_checkudata(L, 3, SIOL_NSP_MT))->parent = 1;
    lua_getiuservalue(L, 3, 1);
    lua_pushvalue(L, 2);
    lua_setfield(L, -2, "match");
    lua_settop(L, 3);
    return 1;
  }
  const char *name = luaL_checkstring(L, 2);
  int r = sio_io_of(srv->io, name, &nsp);
  if (r) return siol_push_fail(L, r);
  if (!sio_nsp_get_data(nsp)) {
    sio_nsp_set_callbacks(nsp, &siol_nsp_cbs);
    sio_nsp_use(nsp, siol_on_middleware, NULL);
  }
  siol_push_nsp(L, srv, nsp);
  return 1;
}

/* The event name at 2 for nsp:on/once/off: "connection" (or "connect"), or a server-side event
 * (pushes the table of server-side listeners, made when absent); raises on a reserved name. */
static const char *nsp_event(lua_State *L, nsp_ud_t *u, int *connection) {
  const char *ev = luaL_checkstring(L, 2);
  *connection = strcmp(ev, "connection") == 0 || strcmp(ev, "connect") == 0;
  if (!*connection && sio_event_reserved(ev, 1))
    luaL_argerror(L, 2, lua_pushfstring(L, "\"%s\" is a reserved event name", ev));
  if (strcmp(ev, "disconnect") == 0 || strcmp(ev, "disconnecting") == 0)
    luaL_argerror(L, 2, "a socket's event: use socket:on inside the \"connection\" handler");
  siol_push_nsp_handlers(L, u->srv, u->nsp);
  if (*connection) return "connection";
  if (lua_getfield(L, -1, "server_events") != LUA_TTABLE) {
    lua_pop(L, 1);
    lua_newtable(L);
    lua_pushvalue(L, -1);
    lua_setfield(L, -3, "server_events");
  }
  return ev;
}

/* nsp:on("connection" | "connect", fn(socket, reloaded)), or nsp:on(name, fn(...)): a listener of
 * the server-side event `name` from other nodes of the cluster (their server_side_emit, Node's
 * serverSideEmit), as Node's io.on(name, ...). Several listeners per name, in order; once: removed
 * before its first call. */
static int on_once(lua_State *L, int once) {
  lua_settop(L, 3);
  nsp_ud_t *u = siol_check_nsp(L, 1);
  int connection;
  const char *ev = nsp_event(L, u, &connection);
  return siol_listen_on(L, -1, ev, once);
}

static int l_on(lua_State *L) { return on_once(L, 0); }
static int l_once(lua_State *L) { return on_once(L, 1); }

/* nsp:off(name[, fn]): the last listener added for fn, or every listener of name. */
static int l_off(lua_State *L) {
  lua_settop(L, 3);
  nsp_ud_t *u = siol_check_nsp(L, 1);
  int connection;
  const char *ev = nsp_event(L, u, &connection);
  return siol_listen_off(L, -1, ev);
}

/* nsp:use(function(socket, auth, next) ... end) */
static int l_use(lua_State *L) {
  nsp_ud_t *u = siol_check_nsp(L, 1);
  luaL_checktype(L, 2, LUA_TFUNCTION);
  siol_push_nsp_handlers(L, u->srv, u->nsp);
  siol_append_field(L, "middleware", 2);
  lua_settop(L, 1);
  return 1;
}

static int l_count(lua_State *L) {
  nsp_ud_t *u = siol_check_nsp(L, 1);
  lua_pushinteger(L, (lua_Integer)sio_nsp_socket_count(u->nsp));
  return 1;
}

static int l_socket(lua_State *L) {
  nsp_ud_t *u = siol_check_nsp(L, 1);
  sio_socket_t *s = sio_nsp_socket(u->nsp, luaL_checkstring(L, 2));
  if (!s || !sio_socket_connected(s)) return 0;
  siol_push_socket(L, u->srv, s);
  return 1;
}

static int l_index(lua_State *L) {
  nsp_ud_t *u = luaL_checkudata(L, 1, SIOL_NSP_MT);
  const char *key = luaL_checkstring(L, 2);
  if (siol_method(L, key)) return 1;
  if (strcmp(key, "name") == 0) {
    lua_pushstring(L, sio_nsp_name(u->nsp));
    return 1;
  }
  if (strcmp(key, "server") == 0) {
    siol_push_server(L, u->srv);
    return 1;
  }
  return siol_push_flag_op(L, 1, key);
}

/* ---- for hosts (sio_lua.h) ---- */

void siol_rebind(lua_State *L, int idx) {
  idx = lua_absindex(L, idx);
  srv_t *srv = siol_check_srv(L, idx);
  if (srv->closing || srv->closed) return;
  /* Gathered first: a connection handler may disconnect sockets or make namespaces. */
  lua_newtable(L);
  int list = lua_gettop(L);
  lua_getiuservalue(L, idx, 1);
  lua_Integer n = (lua_Integer)lua_rawlen(L, -1);
  for (lua_Integer i = 1; i <= n; i++) {
    lua_rawgeti(L, -1, i);
    nsp_ud_t *u = lua_touserdata(L, -1);
    /* a parent reaches its children's sockets */
    if (u && !sio_nsp_parent(u->nsp)) siol_collect_sockets(L, srv, u->nsp, NULL, list);
    lua_pop(L, 1);
  }
  lua_pop(L, 1);
  n = (lua_Integer)lua_rawlen(L, list);
  for (lua_Integer i = 1; i <= n; i++) {
    lua_rawgeti(L, list, i);
    sock_ud_t *su = lua_touserdata(L, -1);
    if (su->s && sio_socket_connected(su->s)) {
      lua_getiuservalue(L, -1, 1);
      lua_newtable(L);
      lua_setfield(L, -2, "h");
      lua_pushnil(L);
      lua_setfield(L, -2, "any");
      lua_pushnil(L); /* the catch-alls and packet middleware too (use.c) */
      lua_setfield(L, -2, "any_out");
      lua_pushnil(L);
      lua_setfield(L, -2, "use");
      lua_pop(L, 1);
      siol_use_reset(su);
      siol_call_connection(L, srv, su->s, 1);
    }
    lua_pop(L, 1);
  }
  lua_pop(L, 1);
}

const luaL_Reg siol_nsp_methods[] = {
    {"on", l_on}, {"once", l_once}, {"off", l_off}, {"use", l_use}, {"count", l_count},
    {"socket", l_socket}, {"emit", siol_op_emit}, {"call", siol_op_call}, {"to", siol_op_to},
    {"except", siol_op_except},
    {"timeout", siol_op_timeout}, {"compress", siol_op_compress},
    {"fetch_sockets", siol_fetch_sockets}, {"sockets_join", siol_sockets_join},
    {"sockets_leave", siol_sockets_leave}, {"disconnect_sockets", siol_disconnect_sockets},
    {"fetch_count", siol_nsp_fetch_count}, {"all_rooms", siol_nsp_all_rooms},
    {"server_side_emit", siol_nsp_server_side_emit}, {"server_side_call", siol_nsp_server_side_call},
    {NULL, NULL}};

void siol_open_namespace(lua_State *L) { siol_class(L, SIOL_NSP_MT, siol_nsp_methods, NULL, l_index, NULL, NULL); }
