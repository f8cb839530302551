/* The Engine.IO handshake hooks of sio.h for Lua: sio.server{ allow_request = fn, cors = fn } and
 * server:on_engine("connection_error" | "initial_headers" | "headers", fn). The rules are the
 * core's; this file converts.
 *
 * allow_request(req, answer) runs in a handler coroutine (it may wait: sio.sleep, a cluster
 * query...). Its verdict is what it returns — true lets in, false (or false, "message"[, status])
 * refuses — or, when it returns nothing, a later answer(ok[, message[, status]]) call. An error
 * refuses. A handshake never answered is refused when its answer function is collected (the
 * client meanwhile waits at most the server's request timeout). req is {method, url, query,
 * address, time_ms, transport = "polling" | "websocket", headers = {lower-case name = value}}.
 *
 * cors(origin) and the headers hooks run as plain protected calls (they are part of a response
 * being written: they may not wait); the headers hooks get (headers, req) and fill `headers`
 * (name = value); a header the core refuses (a name that is not a token or that the server
 * writes, a value holding CR, LF or another control character) is logged and left out. */
#include <string.h>

#include "private.h"

#define SIOL_HANDSHAKE_MT "sio.handshake"

enum { HOOK_ALLOW, HOOK_ORIGIN, HOOK_INITIAL, HOOK_HEADERS, HOOK_ERROR };
static const char *const engine_events[] = {"initial_headers", "headers", "connection_error", NULL};

typedef struct {
  sio_handshake_t *hs;
  int done;
} hs_ud_t;

static void push_request(lua_State *L, const sio_request_info_t *req) {
  lua_createtable(L, 0, 7);
  lua_pushstring(L, req->method);
  lua_setfield(L, -2, "method");
  lua_pushstring(L, req->url);
  lua_setfield(L, -2, "url");
  lua_pushstring(L, req->query);
  lua_setfield(L, -2, "query");
  lua_pushstring(L, req->remote_addr);
  lua_setfield(L, -2, "address");
  lua_pushinteger(L, (lua_Integer)req->time_ms);
  lua_setfield(L, -2, "time_ms");
  lua_createtable(L, 0, (int)req->header_count);
  for (size_t i = 0; i < req->header_count; i++) {
    lua_pushstring(L, req->header_values[i]);
    lua_setfield(L, -2, req->header_names[i]);
  }
  lua_setfield(L, -2, "headers");
}

static const char *const hook_keys[] = {"allow_request", "cors", "initial_headers", "headers",
                                        "connection_error"};

/* The hooks' functions live in the table engine_hooks of the root namespace's handlers, so that
 * siod's reload swaps them with the other handlers (and gives them back when the new script
 * fails). Pushes that table (created when `create`), or returns 0 with nothing pushed. */
static int push_hooks_table(lua_State *L, srv_t *srv, int create) {
  sio_nsp_t *root;
  if (!srv->io || sio_io_of(srv->io, "/", &root) != 0) return 0;
  siol_push_nsp_handlers(L, srv, root);
  if (lua_getfield(L, -1, "engine_hooks") != LUA_TTABLE) {
    lua_pop(L, 1);
    if (!create) {
      lua_pop(L, 1);
      return 0;
    }
    lua_newtable(L);
    lua_pushvalue(L, -1);
    lua_setfield(L, -3, "engine_hooks");
  }
  lua_remove(L, -2);
  return 1;
}

/* The hook's function on top of L; 0 (nothing pushed) when none (its C callback stays installed
 * once set: a reload may give the function back). */
static int push_hook(lua_State *L, srv_t *srv, int which) {
  if (!push_hooks_table(L, srv, 0)) return 0;
  if (lua_getfield(L, -1, hook_keys[which]) != LUA_TFUNCTION) {
    lua_pop(L, 2);
    return 0;
  }
  lua_remove(L, -2);
  return 1;
}

/* ---- allow_request ---- */

/* Answers once: ok, message (may be NULL), status (0: Node's). Returns sio's result. */
static int hs_answer(hs_ud_t *h, int ok, const char *message, int status) {
  h->done = 1;
  int r = ok ? sio_handshake_accept(h->hs) : sio_handshake_refuse(h->hs, status, message);
  if (r == SIO_EINVAL) r = sio_handshake_refuse(h->hs, 0, message); /* a bad status: Node's */
  return r;
}

/* answer(ok[, message[, status]]) -> true when sent, false when the client is gone or it was
 * answered already. */
static int answer_call(lua_State *L) {
  hs_ud_t *h = lua_touserdata(L, lua_upvalueindex(1));
  if (h->done) {
    lua_pushboolean(L, 0);
    return 1;
  }
  int status = (int)luaL_optinteger(L, 3, 0);
  int r = hs_answer(h, lua_toboolean(L, 1), luaL_optstring(L, 2, NULL), status);
  lua_pushboolean(L, r == 0);
  return 1;
}

static int hs_gc(lua_State *L) {
  hs_ud_t *h = luaL_checkudata(L, 1, SIOL_HANDSHAKE_MT);
  if (!h->done) hs_answer(h, 0, NULL, 0); /* dropped unanswered: refused, the handle freed */
  return 0;
}

/* The function ended: its results are the verdict, unless it answered or returned nothing. */
static void allow_done(lua_State *co, int ok, int first) {
  hs_ud_t *h = lua_touserdata(co, SIOL_CO_CTX);
  if (h->done) return;
  if (!ok) {
    hs_answer(h, 0, NULL, 0);
    return;
  }
  if (lua_gettop(co) < first) return; /* answer() comes later */
  hs_answer(h, lua_toboolean(co, first), lua_gettop(co) > first ? lua_tostring(co, first + 1) : NULL,
            lua_gettop(co) > first + 1 ? (int)lua_tointeger(co, first + 2) : 0);
}
static const siol_fin_t allow_fin = {allow_done, 0};

static void on_allow(sio_handshake_t *hs, void *arg) {
  srv_t *srv = arg;
  lua_State *L = siol_cb_state(srv->st);
  if (!L || !lua_checkstack(L, 8)) {
    sio_handshake_refuse(hs, 0, NULL);
    return;
  }
  if (!push_hook(L, srv, HOOK_ALLOW)) { /* a reloaded script without one */
    sio_handshake_accept(hs);
    return;
  }
  int fn = lua_gettop(L);
  hs_ud_t *h = lua_newuserdatauv(L, sizeof *h, 0);
  h->hs = hs;
  h->done = 0;
  luaL_setmetatable(L, SIOL_HANDSHAKE_MT);
  lua_insert(L, fn); /* the context, below the function: anchored while it runs or waits */
  push_request(L, sio_handshake_request(hs));
  lua_pushstring(L, sio_handshake_transport(hs) == SIO_TRANSPORT_WEBSOCKET ? "websocket" : "polling");
  lua_setfield(L, -2, "transport");
  lua_pushvalue(L, fn);
  lua_pushcclosure(L, answer_call, 1);
  siol_spawn(srv->st, L, &allow_fin, "allow_request", NULL, 2);
}

/* ---- cors, headers, connection_error ---- */

static int on_origin(const char *origin, void *arg) {
  srv_t *srv = arg;
  lua_State *L = siol_cb_state(srv->st);
  if (!L || !lua_checkstack(L, 4)) return 0;
  int top = lua_gettop(L);
  int ok = 1; /* a reloaded script without one: any origin */
  if (push_hook(L, srv, HOOK_ORIGIN)) {
    lua_pushstring(L, origin);
    ok = siol_pcall(L, 1, 1, "the cors function", NULL) && lua_toboolean(L, -1);
  }
  lua_settop(L, top);
  return ok;
}

static void call_headers(srv_t *srv, int which, sio_headers_t *hd, const sio_request_info_t *req) {
  lua_State *L = siol_cb_state(srv->st);
  if (!L || !lua_checkstack(L, 8)) return;
  int top = lua_gettop(L);
  if (push_hook(L, srv, which)) {
    lua_newtable(L);
    int t = lua_gettop(L);
    lua_pushvalue(L, t);
    lua_insert(L, t - 1); /* kept below the function for after the call */
    push_request(L, req);
    if (siol_pcall(L, 2, 0, which == HOOK_INITIAL ? "an initial_headers hook" : "a headers hook", NULL)) {
      lua_pushnil(L);
      while (lua_next(L, top + 1)) {
        const char *name = lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : NULL;
        const char *value = lua_type(L, -1) == LUA_TSTRING || lua_type(L, -1) == LUA_TNUMBER
                                ? lua_tostring(L, -1) : NULL;
        if (!name || !value)
          siol_log(L, SIOL_LOG_ERROR, "a headers hook set a header that is not name = string");
        else if (sio_headers_set(hd, name, value) != 0)
          siol_log(L, SIOL_LOG_ERROR, "a headers hook's header refused: %s", sio_last_error());
        lua_pop(L, 1);
      }
    }
  }
  lua_settop(L, top);
}

static void on_initial_headers(sio_headers_t *hd, const sio_request_info_t *req, void *arg) {
  call_headers(arg, HOOK_INITIAL, hd, req);
}

static void on_headers(sio_headers_t *hd, const sio_request_info_t *req, void *arg) {
  call_headers(arg, HOOK_HEADERS, hd, req);
}

static void on_error(const sio_connection_error_t *err, void *arg) {
  srv_t *srv = arg;
  lua_State *L = siol_cb_state(srv->st);
  if (!L || !lua_checkstack(L, 8)) return;
  int top = lua_gettop(L);
  if (push_hook(L, srv, HOOK_ERROR)) {
    lua_createtable(L, 0, 5);
    lua_pushinteger(L, err->code);
    lua_setfield(L, -2, "code");
    lua_pushstring(L, err->message);
    lua_setfield(L, -2, "message");
    lua_pushinteger(L, err->status);
    lua_setfield(L, -2, "status");
    if (err->context) {
      lua_pushstring(L, err->context);
      lua_setfield(L, -2, "context");
    }
    if (err->req) {
      push_request(L, err->req);
      lua_setfield(L, -2, "req");
    }
    siol_pcall(L, 1, 0, "a connection_error handler", NULL);
  }
  lua_settop(L, top);
}

/* ---- setting them ---- */

/* Sets (fn: its stack index) or clears (0) a hook; its C callback is installed on first use. */
static void set_hook(lua_State *L, srv_t *srv, int which, int fn) {
  if (!push_hooks_table(L, srv, 1)) return;
  if (fn) lua_pushvalue(L, fn);
  else lua_pushnil(L);
  lua_setfield(L, -2, hook_keys[which]);
  lua_pop(L, 1);
  if (!fn) return;
  sio_engine_t *e = sio_io_engine(srv->io);
  switch (which) {
    case HOOK_ALLOW: sio_engine_set_allow_request(e, on_allow, srv); break;
    case HOOK_ORIGIN: sio_engine_set_cors_origin_fn(e, on_origin, srv); break;
    case HOOK_INITIAL: sio_engine_set_headers_hook(e, SIO_HEADERS_INITIAL, on_initial_headers, srv); break;
    case HOOK_HEADERS: sio_engine_set_headers_hook(e, SIO_HEADERS_ALL, on_headers, srv); break;
    default: sio_engine_on_connection_error(e, on_error, srv); break;
  }
}

void siol_hooks_from_options(lua_State *L, int t, srv_t *srv) {
  static const char *const keys[] = {"allow_request", "cors"};
  for (int i = 0; i < 2; i++) {
    int type = lua_getfield(L, t, keys[i]);
    if (type == LUA_TFUNCTION) set_hook(L, srv, i == 0 ? HOOK_ALLOW : HOOK_ORIGIN, lua_gettop(L));
    else if (i == 0 && type != LUA_TNIL) luaL_error(L, "sio.server: option 'allow_request' must be a function");
    lua_pop(L, 1);
  }
}

/* server:on_engine(event, fn | nil): Node's io.engine.on(event, fn) for "initial_headers",
 * "headers" and "connection_error" (one function per event: a new one replaces it; nil removes
 * it). Kept with the root namespace's handlers: a siod reload starts without them. */
int siol_on_engine(lua_State *L) {
  srv_t *srv = siol_check_open_srv(L, 1);
  int i = luaL_checkoption(L, 2, NULL, engine_events);
  if (!lua_isnoneornil(L, 3)) luaL_checktype(L, 3, LUA_TFUNCTION);
  set_hook(L, srv, HOOK_INITIAL + i, lua_isnoneornil(L, 3) ? 0 : 3);
  lua_settop(L, 1);
  return 1;
}

void siol_open_hooks(lua_State *L) { siol_class(L, SIOL_HANDSHAKE_MT, NULL, NULL, NULL, hs_gc, NULL); }
