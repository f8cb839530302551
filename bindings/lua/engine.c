/* Bare Engine.IO endpoints: io:engine{path = "/engine.io/"} on the server's port, with
 * on("connection" | "message" | "close", fn(session, ...)), session:send(data), session:close().
 * An endpoint is malloc'd like its server (the core's callbacks find it) and freed with it; its
 * box's uservalue holds the handlers. */
#include <stdlib.h>
#include <string.h>

#include "private.h"

typedef struct {
  eng_t *e;
} eng_box_t;

typedef struct {
  sio_session_t *s; /* NULL once closed */
  int ref;
} sess_ud_t;

void siol_engines_free(srv_t *srv) {
  while (srv->engines) {
    eng_t *e = srv->engines;
    srv->engines = e->next;
    free(e->path);
    free(e);
  }
}

static void push_session(lua_State *L, sio_session_t *s) {
  sess_ud_t *u = sio_session_get_data(s);
  if (u) {
    lua_rawgeti(L, LUA_REGISTRYINDEX, u->ref);
    return;
  }
  u = lua_newuserdatauv(L, sizeof *u, 0);
  u->s = s;
  luaL_setmetatable(L, SIOL_SESSION_MT);
  lua_pushvalue(L, -1);
  u->ref = luaL_ref(L, LUA_REGISTRYINDEX);
  sio_session_set_data(s, u);
}

/* Pushes a context (nil), the endpoint's handler `name` and the session, or returns NULL (nothing
 * pushed). */
static lua_State *engine_cb(sio_session_t *s, const char *name) {
  eng_t *e = sio_engine_get_data(sio_session_engine(s));
  lua_State *L = e ? siol_cb_state(e->srv->st) : NULL;
  if (!L || e->ref == LUA_NOREF) return NULL;
  lua_pushnil(L);
  lua_rawgeti(L, LUA_REGISTRYINDEX, e->ref);
  lua_getiuservalue(L, -1, 1);
  lua_getfield(L, -1, name);
  lua_replace(L, -3);
  lua_pop(L, 1);
  if (!lua_isfunction(L, -1)) {
    lua_pop(L, 2);
    return NULL;
  }
  push_session(L, s);
  return L;
}

static void spawn(sio_session_t *s, lua_State *L, int nargs, const char *what) {
  eng_t *e = sio_engine_get_data(sio_session_engine(s));
  siol_spawn(e->srv->st, L, NULL, what, NULL, nargs);
}

static void on_connection(sio_engine_t *engine, sio_session_t *s) {
  (void)engine;
  lua_State *L = engine_cb(s, "connection");
  if (L) spawn(s, L, 1, "Engine.IO connection handler");
}

static void on_message(sio_session_t *s, const char *data, size_t len, int binary) {
  lua_State *L = engine_cb(s, "message");
  if (!L) return;
  if (binary) siol_push_binary(L, data, len);
  else lua_pushlstring(L, data, len);
  spawn(s, L, 2, "Engine.IO message handler");
}

static void on_close(sio_session_t *s, const char *reason) {
  lua_State *L = engine_cb(s, "close");
  if (L) {
    lua_pushstring(L, reason);
    spawn(s, L, 2, "Engine.IO close handler");
  }
  eng_t *e = sio_engine_get_data(sio_session_engine(s));
  L = e ? siol_cb_state(e->srv->st) : NULL;
  sess_ud_t *u = L ? sio_session_get_data(s) : NULL; /* userdata: only while Lua lives */
  sio_session_set_data(s, NULL);
  if (u) {
    u->s = NULL;
    siol_unref(L, &u->ref);
  }
}

/* io:engine{path = "/engine.io/"} (or io:engine(path)): an endpoint with the server's options;
 * asked again for a path, the same endpoint. */
int siol_engine(lua_State *L) {
  srv_t *srv = siol_check_open_srv(L, 1);
  sio_engine_options_t o = srv->eio;
  sio_engine_options_t defaults;
  sio_engine_options_init(&defaults);
  const char *path = defaults.path;
  if (lua_istable(L, 2)) {
    lua_getfield(L, 2, "path");
    if (lua_isstring(L, -1)) path = lua_tostring(L, -1);
  } else if (lua_isstring(L, 2)) {
    path = lua_tostring(L, 2);
  }
  for (eng_t *e = srv->engines; e; e = e->next) {
    if (strcmp(e->path, path) == 0) {
      lua_rawgeti(L, LUA_REGISTRYINDEX, e->ref);
      return 1;
    }
  }
  eng_box_t *b = lua_newuserdatauv(L, sizeof *b, 1);
  b->e = NULL;
  luaL_setmetatable(L, SIOL_ENGINE_MT);
  lua_newtable(L);
  lua_setiuservalue(L, -2, 1);
  lua_pushvalue(L, -1);
  int ref = luaL_ref(L, LUA_REGISTRYINDEX);
  eng_t *e = calloc(1, sizeof *e);
  if (!e || !(e->path = strdup(path))) {
    free(e);
    luaL_unref(L, LUA_REGISTRYINDEX, ref);
    return luaL_error(L, "out of memory");
  }
  e->srv = srv;
  e->ref = LUA_NOREF;
  o.path = e->path;
  sio_engine_callbacks_t cbs = {on_connection, on_message, on_close, NULL};
  int r = sio_engine_new(srv->server, &o, &cbs, &e->engine);
  if (r) {
    luaL_unref(L, LUA_REGISTRYINDEX, ref);
    free(e->path);
    free(e);
    return siol_push_fail(L, r);
  }
  e->ref = ref;
  e->next = srv->engines;
  srv->engines = e;
  b->e = e;
  sio_engine_set_data(e->engine, e);
  return 1;
}

static int l_engine_on(lua_State *L) {
  luaL_checkudata(L, 1, SIOL_ENGINE_MT);
  const char *ev = luaL_checkstring(L, 2);
  luaL_checktype(L, 3, LUA_TFUNCTION);
  if (strcmp(ev, "connection") && strcmp(ev, "message") && strcmp(ev, "close"))
    return luaL_argerror(L, 2, "\"connection\", \"message\" or \"close\"");
  lua_getiuservalue(L, 1, 1);
  lua_pushvalue(L, 3);
  lua_setfield(L, -2, ev);
  lua_settop(L, 1);
  return 1;
}

/* session:send(data): a string as a text message, a sio.binary as a binary one. */
static int l_session_send(lua_State *L) {
  sess_ud_t *u = luaL_checkudata(L, 1, SIOL_SESSION_MT);
  size_t len;
  const char *data = siol_to_binary(L, 2, &len);
  int binary = data != NULL;
  if (!data) data = luaL_checklstring(L, 2, &len);
  if (!u->s) return siol_push_fail(L, SIO_ECLOSED);
  return siol_push_ok(L, sio_session_send(u->s, data, len, binary));
}

static int l_session_close(lua_State *L) {
  sess_ud_t *u = luaL_checkudata(L, 1, SIOL_SESSION_MT);
  if (u->s) sio_session_close(u->s);
  return 0;
}

static int l_session_index(lua_State *L) {
  sess_ud_t *u = luaL_checkudata(L, 1, SIOL_SESSION_MT);
  const char *key = luaL_checkstring(L, 2);
  if (siol_method(L, key)) return 1;
  if (strcmp(key, "id") == 0 && u->s) lua_pushstring(L, sio_session_id(u->s));
  else if (strcmp(key, "protocol") == 0 && u->s) lua_pushinteger(L, sio_session_protocol(u->s));
  else return 0;
  return 1;
}

void siol_open_engine(lua_State *L) {
  static const luaL_Reg eng_methods[] = {{"on", l_engine_on}, {NULL, NULL}};
  static const luaL_Reg sess_methods[] = {{"send", l_session_send}, {"close", l_session_close}, {NULL, NULL}};
  siol_class(L, SIOL_ENGINE_MT, eng_methods, NULL, NULL, NULL, NULL);
  siol_class(L, SIOL_SESSION_MT, sess_methods, NULL, l_session_index, NULL, NULL);
}
