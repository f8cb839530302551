/* socket:use (Node's per-packet middleware), the catch-all lists (on_any's siblings and the
 * outgoing ones) and socket:listeners / socket:remove_all_listeners. The lists live in the
 * socket's uservalue (fields "any", "any_out", "use") and are never changed in place (every change
 * makes a new one), so a dispatch goes through the list it started with, as Node's slice() does.
 * Outgoing events come from the core (sio_socket_on_any, one entry per socket while "any_out" has
 * a listener), so a socket without outgoing catch-alls costs a broadcast nothing. */
#include "private.h"

/* ---- lists ---- */

/* uv[key] = a copy of it with the function at fn first or last (add), or without the first entry
 * equal to it (fn 0: emptied). */
static void list_change(lua_State *L, int uv, const char *key, int fn, int add, int first) {
  lua_getfield(L, uv, key);
  int old = lua_gettop(L);
  lua_Integer n = lua_istable(L, old) ? (lua_Integer)lua_rawlen(L, old) : 0, j = 0;
  lua_createtable(L, (int)n + 1, 0);
  if (add && first) {
    lua_pushvalue(L, fn);
    lua_rawseti(L, -2, ++j);
  }
  int removed = !fn;
  for (lua_Integer i = 1; fn && i <= n; i++) {
    lua_rawgeti(L, old, i);
    if (!add && !removed && lua_rawequal(L, -1, fn)) {
      removed = 1;
      lua_pop(L, 1);
      continue;
    }
    lua_rawseti(L, -2, ++j);
  }
  if (add && !first) {
    lua_pushvalue(L, fn);
    lua_rawseti(L, -2, ++j);
  }
  if (j == 0) {
    lua_pop(L, 1);
    lua_pushnil(L);
  }
  lua_setfield(L, uv, key);
  lua_pop(L, 1);
}

/* A copy of uv[key] (a new table, empty when absent); with entries, the function of each ({fn}
 * for a once listener). */
static void list_copy(lua_State *L, int t, const char *key) {
  lua_newtable(L);
  if (lua_getfield(L, t, key) != LUA_TTABLE) {
    lua_pop(L, 1);
    return;
  }
  lua_Integer n = (lua_Integer)lua_rawlen(L, -1);
  for (lua_Integer i = 1; i <= n; i++) {
    if (lua_rawgeti(L, -1, i) == LUA_TTABLE) {
      lua_rawgeti(L, -1, 1);
      lua_remove(L, -2);
    }
    lua_rawseti(L, -3, i);
  }
  lua_pop(L, 1);
}

static sock_ud_t *check_sock(lua_State *L) { return luaL_checkudata(L, 1, SIOL_SOCKET_MT); }

static void siol_on_outgoing(sio_socket_t *s, const char *event, const sio_args_t *args, void *arg);

/* The core calls siol_on_outgoing for the socket while it has outgoing catch-alls. */
static void watch(lua_State *L, sock_ud_t *u, int uv) {
  if (!u->s) return;
  sio_socket_off_any(u->s, SIO_ANY_OUTGOING, siol_on_outgoing, NULL);
  int on = lua_getfield(L, uv, "any_out") == LUA_TTABLE;
  lua_pop(L, 1);
  if (on && sio_socket_on_any(u->s, SIO_ANY_OUTGOING, siol_on_outgoing, NULL) == SIO_ENOMEM)
    luaL_error(L, "out of memory");
}

void siol_use_reset(sock_ud_t *u) {
  if (u->s) sio_socket_off_any(u->s, SIO_ANY_OUTGOING, siol_on_outgoing, NULL);
}

/* socket:<method>(fn) on the list `key`: add (first or last) or remove (fn optional). */
static int any_method(lua_State *L, const char *key, int add, int first) {
  sock_ud_t *u = check_sock(L);
  u->hooks = 1;
  if (add || !lua_isnoneornil(L, 2)) luaL_checktype(L, 2, LUA_TFUNCTION);
  lua_settop(L, 2);
  lua_getiuservalue(L, 1, 1);
  list_change(L, 3, key, lua_isnil(L, 2) ? 0 : 2, add, first);
  if (key[3] == '_') watch(L, u, 3); /* "any_out" */
  lua_settop(L, 1);
  return 1;
}

int siol_l_prepend_any(lua_State *L) { return any_method(L, "any", 1, 1); }
int siol_l_off_any(lua_State *L) { return any_method(L, "any", 0, 0); }
int siol_l_on_any_outgoing(lua_State *L) { return any_method(L, "any_out", 1, 0); }
int siol_l_prepend_any_outgoing(lua_State *L) { return any_method(L, "any_out", 1, 1); }
int siol_l_off_any_outgoing(lua_State *L) { return any_method(L, "any_out", 0, 0); }

static int listeners_of(lua_State *L, const char *key) {
  check_sock(L);
  lua_getiuservalue(L, 1, 1);
  list_copy(L, lua_gettop(L), key);
  return 1;
}

int siol_l_listeners_any(lua_State *L) { return listeners_of(L, "any"); }
int siol_l_listeners_any_outgoing(lua_State *L) { return listeners_of(L, "any_out"); }

/* socket:listeners(event): its listeners' functions, in call order (a new table). */
int siol_l_listeners(lua_State *L) {
  check_sock(L);
  const char *ev = luaL_checkstring(L, 2);
  lua_getiuservalue(L, 1, 1);
  lua_getfield(L, -1, "h");
  list_copy(L, lua_gettop(L), ev);
  return 1;
}

/* socket:remove_all_listeners([event]): every listener of event, or of every event (the
 * catch-alls and middleware stay). */
int siol_l_remove_all_listeners(lua_State *L) {
  check_sock(L);
  lua_settop(L, 2);
  lua_getiuservalue(L, 1, 1);
  if (lua_isnil(L, 2)) {
    lua_newtable(L);
    lua_setfield(L, 3, "h");
  } else {
    const char *ev = luaL_checkstring(L, 2);
    lua_getfield(L, 3, "h");
    siol_listen_remove(L, -1, ev, 0);
  }
  lua_settop(L, 1);
  return 1;
}

int siol_l_use(lua_State *L) {
  check_sock(L)->hooks = 1;
  luaL_checktype(L, 2, LUA_TFUNCTION);
  lua_settop(L, 2);
  lua_getiuservalue(L, 1, 1);
  list_change(L, 3, "use", 2, 1, 0);
  lua_settop(L, 1);
  return 1;
}

/* ---- outgoing catch-alls ---- */

static void siol_on_outgoing(sio_socket_t *s, const char *event, const sio_args_t *args, void *arg) {
  (void)arg;
  srv_t *srv = siol_srv_of_nsp(sio_socket_nsp(s));
  lua_State *L = siol_cb_state(srv->st);
  if (!L || !sio_socket_get_data(s)) return;
  int top = lua_gettop(L);
  luaL_checkstack(L, 8, NULL);
  siol_push_socket(L, srv, s);
  lua_getiuservalue(L, -1, 1);
  if (lua_getfield(L, -1, "any_out") == LUA_TTABLE)
    siol_spawn_catch_alls(srv->st, L, lua_gettop(L), "outgoing catch-all listener for", event, args);
  lua_settop(L, top);
}

/* ---- packet middleware ---- */

/* One middleware's next(): its uservalues are the socket, the packet, the chain (the socket's
 * "use" list when the event came) and the ack (or nil). */
typedef struct {
  srv_t *srv;
  lua_Integer index; /* this middleware's */
  int done;
} pnext_t;

enum { PN_SOCK = 1, PN_PACKET, PN_CHAIN, PN_ACK };

static void run_step(lua_State *L, srv_t *srv, int sock, int packet, int chain, int ack, lua_Integer i);

static int pnext_call(lua_State *L);

/* The packet's event, to its socket's listeners: (values after the name, the ack last). */
static void finish(lua_State *L, srv_t *srv, int sock, int packet, int ack) {
  int top = lua_gettop(L);
  lua_rawgeti(L, packet, 1);
  const char *event = lua_tostring(L, -1);
  if (lua_type(L, -1) != LUA_TSTRING) {
    lua_settop(L, top);
    return;
  }
  int ev = lua_gettop(L);
  lua_getiuservalue(L, sock, 1);
  int uv = lua_gettop(L);
  lua_Integer n = (lua_Integer)lua_rawlen(L, packet);
  if (ack && n >= 2) { /* the ack, last in the packet as in Node, goes last again */
    lua_rawgeti(L, packet, n);
    if (lua_rawequal(L, -1, ack)) n--;
    lua_pop(L, 1);
  }
  luaL_checkstack(L, (int)n + 4, "too many arguments");
  int first = lua_gettop(L) + 1;
  for (lua_Integer i = 2; i <= n; i++) lua_rawgeti(L, packet, i);
  int na = (int)(n > 1 ? n - 1 : 0);
  if (ack) {
    lua_pushvalue(L, ack);
    na++;
  }
  (void)ev;
  siol_socket_dispatch(L, srv, uv, event, first, na, ack ? first + na - 1 : 0);
  lua_settop(L, top);
}

/* next(err) of the middleware whose pnext_t is at nx: the next one, the listeners, or with err
 * (at errx, 0: none) the socket's "error" listeners. Nothing once the socket is gone. */
static void go(lua_State *L, int nx, int errx) {
  pnext_t *n = lua_touserdata(L, nx);
  int top = lua_gettop(L);
  for (int i = PN_SOCK; i <= PN_ACK; i++) lua_getiuservalue(L, nx, i);
  int sock = top + PN_SOCK, packet = top + PN_PACKET, chain = top + PN_CHAIN;
  int ack = lua_isnil(L, top + PN_ACK) ? 0 : top + PN_ACK;
  sock_ud_t *u = lua_touserdata(L, sock);
  if (!u->s || n->srv->closing || n->srv->closed) { /* Node drops it after a disconnect */
  } else if (errx) {
    lua_getiuservalue(L, sock, 1);
    lua_getfield(L, -1, "h");
    int h = lua_gettop(L);
    if (lua_getfield(L, h, "error") == LUA_TTABLE)
      siol_listen_run(n->srv->st, L, h, "error", h + 1, errx, 1, 0, NULL, "handler for", NULL);
    else
      siol_log(L, SIOL_LOG_WARN, "a packet middleware refused an event, and the socket has no \"error\" "
               "listener: %s", luaL_tolstring(L, errx, NULL));
  } else {
    run_step(L, n->srv, sock, packet, chain, ack, n->index + 1);
  }
  lua_settop(L, top);
}

static int pnext_call(lua_State *L) {
  pnext_t *n = lua_touserdata(L, lua_upvalueindex(1));
  if (n->done) return luaL_error(L, "next() called twice");
  n->done = 1;
  lua_settop(L, 1);
  lua_pushvalue(L, lua_upvalueindex(1));
  go(L, 2, lua_isnil(L, 1) ? 0 : 1);
  return 0;
}

/* A middleware that raised: next(its error), unless it called next() already. */
static void pmw_done(lua_State *co, int ok, int first) {
  pnext_t *n = lua_touserdata(co, SIOL_CO_CTX);
  if (ok || n->done) return;
  n->done = 1;
  go(co, SIOL_CO_CTX, lua_gettop(co) >= first ? first : 0);
}
static const siol_fin_t pmw_fin = {pmw_done, 0};

static void run_step(lua_State *L, srv_t *srv, int sock, int packet, int chain, int ack, lua_Integer i) {
  if (lua_rawgeti(L, chain, i) == LUA_TNIL) {
    lua_pop(L, 1);
    finish(L, srv, sock, packet, ack);
    return;
  }
  int fn = lua_gettop(L);
  pnext_t *n = lua_newuserdatauv(L, sizeof *n, 4);
  n->srv = srv;
  n->index = i;
  n->done = 0;
  luaL_setmetatable(L, SIOL_PNEXT_MT);
  int nx = lua_gettop(L);
  lua_pushvalue(L, sock);
  lua_setiuservalue(L, nx, PN_SOCK);
  lua_pushvalue(L, packet);
  lua_setiuservalue(L, nx, PN_PACKET);
  lua_pushvalue(L, chain);
  lua_setiuservalue(L, nx, PN_CHAIN);
  if (ack) lua_pushvalue(L, ack);
  else lua_pushnil(L);
  lua_setiuservalue(L, nx, PN_ACK);
  lua_insert(L, fn); /* the context, below the function */
  lua_pushvalue(L, packet);
  lua_pushvalue(L, fn);
  lua_pushcclosure(L, pnext_call, 1);
  siol_spawn(srv->st, L, &pmw_fin, "packet middleware of socket", NULL, 2);
}

void siol_use_start(lua_State *L, srv_t *srv, int sock, int uv, const char *event, int first, int na, int ack) {
  int top = lua_gettop(L);
  lua_createtable(L, na + 1, 0);
  int packet = lua_gettop(L);
  lua_pushstring(L, event);
  lua_rawseti(L, packet, 1);
  for (int i = 0; i < na; i++) {
    lua_pushvalue(L, first + i);
    lua_rawseti(L, packet, i + 2);
  }
  lua_getfield(L, uv, "use");
  run_step(L, srv, sock, packet, lua_gettop(L), ack, 1);
  lua_settop(L, top);
}

void siol_open_use(lua_State *L) { siol_class(L, SIOL_PNEXT_MT, NULL, NULL, NULL, NULL, NULL); }
