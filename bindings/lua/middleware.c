/* Connect middleware: nsp:use(fn) functions run in order for each socket connecting, each getting
 * a next() that lets the client in (or runs the next one), or refuses it with next(err). */
#include "private.h"

typedef struct {
  srv_t *srv;
  sio_socket_t *s;
  int next_index; /* the middleware to run when next() is called */
  int done;
} next_ud_t;

static void run_middleware(lua_State *L, srv_t *srv, sio_socket_t *s, int index);

static int next_call(lua_State *L) {
  next_ud_t *n = lua_touserdata(L, lua_upvalueindex(1));
  if (n->done) return luaL_error(L, "next() called twice");
  n->done = 1;
  if (n->srv->closing || n->srv->closed) {
    sio_socket_next(n->s); /* only releases the core's hold now */
    return 0;
  }
  if (lua_isnoneornil(L, 1)) {
    run_middleware(L, n->srv, n->s, n->next_index);
    return 0;
  }
  /* next(err): a string, or a table {message=..., data=...}, refuses the connection */
  const char *message = "unauthorized";
  cJSON *data = NULL;
  if (lua_type(L, 1) == LUA_TSTRING) {
    message = lua_tostring(L, 1);
  } else if (lua_istable(L, 1)) {
    lua_getfield(L, 1, "message");
    if (lua_type(L, -1) == LUA_TSTRING) message = lua_tostring(L, -1);
    lua_getfield(L, 1, "data");
    if (!lua_isnil(L, -1)) {
      siol_bufs_t b = {0};
      char err[256];
      if (siol_to_json(L, -1, &b, &data, err, sizeof err) < 0) data = NULL;
      siol_bufs_free(&b);
    }
  } else {
    message = luaL_tolstring(L, 1, NULL);
  }
  sio_socket_refuse(n->s, message, data);
  cJSON_Delete(data);
  return 0;
}

static int next_gc(lua_State *L) {
  next_ud_t *n = luaL_checkudata(L, 1, SIOL_NEXT_MT);
  /* A middleware that dropped next() unanswered: release the core's hold on the socket. */
  if (!n->done) {
    n->done = 1;
    sio_socket_refuse(n->s, "middleware did not answer", NULL);
  }
  return 0;
}

/* Pushes middleware function number `index` of the socket's namespace, or returns 0. */
static int push_middleware(lua_State *L, srv_t *srv, sio_socket_t *s, int index) {
  siol_push_nsp_handlers(L, srv, sio_socket_nsp(s));
  lua_getfield(L, -1, "middleware");
  lua_remove(L, -2);
  if (!lua_istable(L, -1)) {
    lua_pop(L, 1);
    return 0;
  }
  lua_rawgeti(L, -1, index);
  lua_remove(L, -2);
  if (lua_isnil(L, -1)) {
    lua_pop(L, 1);
    return 0;
  }
  return 1;
}

/* A middleware ended: one that raised refuses the connection without telling the client why. */
static void middleware_done(lua_State *co, int ok, int first) {
  (void)first;
  next_ud_t *n = lua_touserdata(co, SIOL_CO_CTX);
  if (ok || n->done) return;
  n->done = 1;
  sio_socket_refuse(n->s, "server error", NULL);
}
static const siol_fin_t middleware_fin = {middleware_done, 0};

static void run_middleware(lua_State *L, srv_t *srv, sio_socket_t *s, int index) {
  if (!push_middleware(L, srv, s, index)) {
    sio_socket_next(s);
    return;
  }
  int fn = lua_gettop(L);
  lua_Debug ar;
  lua_pushvalue(L, fn);
  lua_getinfo(L, ">u", &ar);
  /* (socket, auth, next); a two-parameter function gets JavaScript's (socket, next). */
  int js_style = ar.nparams == 2 && !ar.isvararg;
  /* the context, below the function: anchored while the middleware runs (or waits), so that it
   * is not finalized (and the socket refused) mid-call */
  next_ud_t *n = lua_newuserdatauv(L, sizeof *n, 0);
  n->srv = srv;
  n->s = s;
  n->next_index = index + 1;
  n->done = 0;
  luaL_setmetatable(L, SIOL_NEXT_MT);
  lua_insert(L, fn);
  siol_push_socket(L, srv, s);
  if (!js_style) siol_push_json(L, sio_socket_auth(s), NULL);
  lua_pushvalue(L, fn);
  lua_pushcclosure(L, next_call, 1);
  siol_spawn(srv->st, L, &middleware_fin, "middleware of", sio_nsp_name(sio_socket_nsp(s)), js_style ? 2 : 3);
}

void siol_on_middleware(sio_socket_t *s, void *arg) {
  (void)arg;
  srv_t *srv = siol_srv_of_nsp(sio_socket_nsp(s));
  lua_State *L = siol_cb_state(srv->st);
  if (!L) {
    sio_socket_refuse(s, "server closing", NULL);
    return;
  }
  run_middleware(L, srv, s, 1);
}

void siol_open_middleware(lua_State *L) { siol_class(L, SIOL_NEXT_MT, NULL, NULL, NULL, next_gc, NULL); }
