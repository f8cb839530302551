/* HTTP routes beside Socket.IO: server:route(method, path, fn(req, res)) for small REST endpoints
 * and health checks, over the core's application handler (sio_server_handler at "/": requests
 * that no engine and no static mount claims). The routes are a list in the registry (srv->routes_ref);
 * the first whose method and path match is called with a request table and a response object:
 *   req: method, path (percent-decoded), url (as sent), query (raw), args (the query decoded,
 *        the first of a repeated key), headers (lower-case names; repeated ones joined by ", "),
 *        body, remote_addr, remote_port, secure (over TLS);
 *   res:send(status[, body[, headers]]) answers once (true; nil, err, name when the client is gone
 *        or it answered before); res.sent, res.aborted.
 * The handler runs in a coroutine (lco.c), so it may wait (sio.sleep, fetch_count() ...) first.
 * A handler that returns (status[, body[, headers]]) without calling send answers with those; one
 * that returns nothing may keep `res` and answer later (the server's request_timeout_ms bounds
 * it); one that raises is logged and answered 500. The same method and path added again replaces
 * the handler in place (a siod reload runs the script again). A path ending in "*" matches by prefix; the
 * method "*" matches every method, and "GET" also HEAD. A path that matches with no route for its
 * method is answered 405 with Allow; no route at all, 404. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "private.h"
#include "url.h"

#define SIOL_RES_MT "sio.response"

typedef struct {
  sio_http_req_t *req; /* NULL once answered (or released) */
  int aborted;
} res_ud_t;

static void on_abort(sio_http_req_t *req) {
  res_ud_t *u = sio_http_req_get_data(req);
  if (u) u->aborted = 1;
}

/* Answers with the values at status, body, headers (absolute indexes; body and headers may be
 * nil). Raises on bad arguments; returns sio_http_respond's code. */
static int respond(lua_State *L, res_ud_t *u, int status_i, int body_i, int hdr_i) {
  lua_Integer status = luaL_checkinteger(L, status_i);
  size_t len = 0;
  const char *body = lua_isnoneornil(L, body_i) ? NULL : luaL_checklstring(L, body_i, &len);
  const char *small[33], **hdrs = small;
  size_t n = 0;
  if (!lua_isnoneornil(L, hdr_i)) {
    luaL_checktype(L, hdr_i, LUA_TTABLE);
    lua_newtable(L); /* anchors the strings of number values until the call is done */
    int anchor = lua_gettop(L);
    size_t count = 0;
    lua_pushnil(L);
    while (lua_next(L, hdr_i)) {
      count++;
      lua_pop(L, 1);
    }
    if (2 * count + 1 > sizeof small / sizeof small[0]) {
      hdrs = lua_newuserdatauv(L, (2 * count + 1) * sizeof *hdrs, 0); /* collected with the call */
    }
    lua_pushnil(L);
    while (lua_next(L, hdr_i)) {
      if (lua_type(L, -2) != LUA_TSTRING || !lua_isstring(L, -1))
        luaL_argerror(L, hdr_i, "headers: string names and string values");
      hdrs[n++] = lua_tostring(L, -2);
      hdrs[n++] = lua_tostring(L, -1); /* a number converted in this stack slot: anchored below */
      lua_rawseti(L, anchor, (lua_Integer)n);
    }
  }
  hdrs[n] = NULL;
  if (status < 200 || status > 599) luaL_argerror(L, status_i, "an HTTP status in 200..599");
  int r = sio_http_respond(u->req, (int)status, hdrs, body, len);
  if (r == SIO_EINVAL) return luaL_error(L, "res:send: %s", sio_last_error());
  u->req = NULL;
  return r;
}

static int res_send(lua_State *L) {
  res_ud_t *u = luaL_checkudata(L, 1, SIOL_RES_MT);
  if (!u->req) return siol_push_fail(L, u->aborted ? SIO_ECLOSED : SIO_EALREADY);
  return siol_push_ok(L, respond(L, u, 2, 3, 4));
}

static int res_index(lua_State *L) {
  res_ud_t *u = luaL_checkudata(L, 1, SIOL_RES_MT);
  const char *key = luaL_checkstring(L, 2);
  if (siol_method(L, key)) return 1;
  if (strcmp(key, "sent") == 0) lua_pushboolean(L, !u->req && !u->aborted);
  else if (strcmp(key, "aborted") == 0) lua_pushboolean(L, u->aborted);
  else return 0;
  return 1;
}

/* A response dropped unanswered: 500, so the client is not left waiting for the timeout. */
static int res_gc(lua_State *L) {
  res_ud_t *u = luaL_checkudata(L, 1, SIOL_RES_MT);
  if (u->req) {
    sio_http_req_set_data(u->req, NULL);
    sio_http_respond(u->req, 500, NULL, NULL, 0);
    u->req = NULL;
  }
  return 0;
}

/* ---------------------------------------------------------------------------------------------- */

static void push_request(lua_State *L, sio_http_req_t *req) {
  lua_createtable(L, 0, 10);
  lua_pushstring(L, sio_http_req_method(req));
  lua_setfield(L, -2, "method");
  lua_pushstring(L, sio_http_req_decoded_path(req));
  lua_setfield(L, -2, "path");
  lua_pushstring(L, sio_http_req_url(req));
  lua_setfield(L, -2, "url");
  const char *q = sio_http_req_query(req);
  lua_pushstring(L, q);
  lua_setfield(L, -2, "query");
  lua_newtable(L);
  size_t qn = strlen(q), i = 0;
  luaL_Buffer b;
  while (i < qn) {
    size_t e = i, eq;
    while (e < qn && q[e] != '&') e++;
    for (eq = i; eq < e && q[eq] != '='; eq++) {
    }
    if (e > i) {
      luaL_buffinit(L, &b);
      char *k = luaL_prepbuffsize(&b, eq - i);
      luaL_addsize(&b, sio_url_decode(q + i, eq - i, k));
      luaL_pushresult(&b);
      if (lua_rawget(L, -2) == LUA_TNIL) { /* the first of a repeated key */
        lua_pop(L, 1);
        luaL_buffinit(L, &b);
        char *k2 = luaL_prepbuffsize(&b, eq - i);
        luaL_addsize(&b, sio_url_decode(q + i, eq - i, k2));
        luaL_pushresult(&b);
        size_t vn = eq < e ? e - eq - 1 : 0;
        luaL_buffinit(L, &b);
        char *v = luaL_prepbuffsize(&b, vn);
        luaL_addsize(&b, sio_url_decode(q + eq + (eq < e), vn, v));
        luaL_pushresult(&b);
        lua_rawset(L, -3);
      } else {
        lua_pop(L, 1);
      }
    }
    i = e + 1;
  }
  lua_setfield(L, -2, "args");
  lua_newtable(L);
  const char *name, *value;
  for (size_t h = 0; sio_http_req_header_at(req, h, &name, &value) == 0; h++) {
    if (lua_getfield(L, -1, name) == LUA_TSTRING) {
      lua_pushfstring(L, "%s, %s", lua_tostring(L, -1), value);
      lua_setfield(L, -3, name);
    } else {
      lua_pushstring(L, value);
      lua_setfield(L, -3, name);
    }
    lua_pop(L, 1);
  }
  lua_setfield(L, -2, "headers");
  size_t blen;
  const char *body = sio_http_req_body(req, &blen);
  lua_pushlstring(L, body, blen);
  lua_setfield(L, -2, "body");
  lua_pushstring(L, sio_http_req_remote_addr(req));
  lua_setfield(L, -2, "remote_addr");
  lua_pushinteger(L, sio_http_req_remote_port(req));
  lua_setfield(L, -2, "remote_port");
  lua_pushboolean(L, sio_http_req_secure(req));
  lua_setfield(L, -2, "secure");
}

static int path_matches(const char *pattern, size_t plen, const char *path) {
  if (plen && pattern[plen - 1] == '*') return strncmp(path, pattern, plen - 1) == 0;
  return strcmp(path, pattern) == 0;
}

static int method_matches(const char *want, const char *method) {
  return strcmp(want, "*") == 0 || strcmp(want, method) == 0 ||
         (strcmp(want, "GET") == 0 && strcmp(method, "HEAD") == 0);
}

/* Pushes the handler of the first matching route and returns 1, or pushes nothing, fills
 * `allow` with the methods the path has ("" when none) and returns 0. */
static int find_route(lua_State *L, srv_t *srv, sio_http_req_t *req, char *allow, size_t allowsz) {
  const char *path = sio_http_req_decoded_path(req), *method = sio_http_req_method(req);
  allow[0] = '\0';
  lua_rawgeti(L, LUA_REGISTRYINDEX, srv->routes_ref);
  lua_Integer n = (lua_Integer)lua_rawlen(L, -1);
  for (lua_Integer i = 1; i <= n; i++) {
    lua_rawgeti(L, -1, i);
    lua_getfield(L, -1, "path");
    size_t plen;
    const char *pattern = lua_tolstring(L, -1, &plen);
    int pm = pattern && path_matches(pattern, plen, path);
    lua_pop(L, 1);
    if (!pm) {
      lua_pop(L, 1);
      continue;
    }
    lua_getfield(L, -1, "method");
    const char *want = lua_tostring(L, -1);
    if (want && method_matches(want, method)) {
      lua_pop(L, 1);
      lua_getfield(L, -1, "fn");
      lua_replace(L, -3); /* over the list */
      lua_pop(L, 1);      /* the route */
      return 1;
    }
    size_t used = strlen(allow);
    if (want && !strstr(allow, want) && used + strlen(want) + 3 < allowsz)
      snprintf(allow + used, allowsz - used, "%s%s", used ? ", " : "", want);
    lua_pop(L, 2);
  }
  lua_pop(L, 1);
  return 0;
}

static int dispatch_k(lua_State *L, int status, lua_KContext k) {
  (void)status;
  (void)k;
  return lua_gettop(L);
}

/* The route's coroutine (lco.c, protected): (fn, req as a light userdata, res) -> fn(request
 * table, res)'s results; fn may wait (sio.sleep, fetch_count() ...) before it answers. */
static int dispatch(lua_State *L) {
  sio_http_req_t *req = lua_touserdata(L, 2);
  push_request(L, req);
  lua_replace(L, 2);
  lua_callk(L, 2, LUA_MULTRET, 0, dispatch_k);
  return dispatch_k(L, LUA_OK, 0);
}

static void answer_500(res_ud_t *u) {
  if (!u->req) return;
  sio_http_req_set_data(u->req, NULL);
  sio_http_respond(u->req, 500, NULL, NULL, 0);
  u->req = NULL;
}

/* The route's handler ended (res is the coroutine's context): one that raised is answered 500;
 * one that returned status[, body[, headers]] without calling send is answered with them (bad
 * ones are logged, 500). */
static void route_done(lua_State *co, int ok, int first) {
  res_ud_t *u = lua_touserdata(co, SIOL_CO_CTX);
  if (!ok) {
    answer_500(u);
    return;
  }
  if (!u->req || !lua_isinteger(co, first)) return;
  lua_settop(co, first + 2);
  lua_pushstring(co, sio_http_req_path(u->req));
  lua_pushcfunction(co, res_send);
  lua_pushvalue(co, SIOL_CO_CTX);
  for (int i = 0; i < 3; i++) lua_pushvalue(co, first + i);
  if (!siol_pcall(co, 4, 0, "route handler's answer for", lua_tostring(co, first + 3))) answer_500(u);
}
static const siol_fin_t route_fin = {route_done, 0};

static void on_request(sio_http_req_t *req, void *arg) {
  srv_t *srv = arg;
  lua_State *L = srv->closing || srv->closed ? NULL : siol_cb_state(srv->st);
  if (!L || srv->routes_ref <= 0) {
    sio_http_respond(req, 503, NULL, NULL, 0);
    return;
  }
  int top = lua_gettop(L);
  if (!lua_checkstack(L, 12)) {
    sio_http_respond(req, 503, NULL, NULL, 0);
    return;
  }
  char allow[256];
  if (!find_route(L, srv, req, allow, sizeof allow)) {
    if (allow[0]) {
      const char *hdrs[] = {"Allow", allow, "Content-Type", "text/plain", NULL};
      sio_http_respond(req, 405, hdrs, "Method Not Allowed", 18);
    } else {
      static const char *const hdrs[] = {"Content-Type", "text/plain", NULL};
      sio_http_respond(req, 404, hdrs, "Not Found", 9);
    }
    return;
  }
  /* Stack: fn. Then res (the coroutine's context), dispatch, fn, req, res. */
  res_ud_t *u = lua_newuserdatauv(L, sizeof *u, 0);
  u->req = req;
  u->aborted = 0;
  luaL_setmetatable(L, SIOL_RES_MT);
  sio_http_req_set_data(req, u);
  sio_http_req_on_abort(req, on_abort);
  lua_insert(L, top + 1);
  lua_pushcfunction(L, dispatch);
  lua_insert(L, top + 2);
  lua_pushlightuserdata(L, req);
  lua_pushvalue(L, top + 1);
  siol_spawn(srv->st, L, &route_fin, "route handler", sio_http_req_path(req), 3);
  lua_settop(L, top);
}

/* server:route(method, path, fn): adds a route (see the top of this file). */
int siol_route(lua_State *L) {
  srv_t *srv = siol_check_open_srv(L, 1);
  const char *method = luaL_checkstring(L, 2);
  const char *path = luaL_checkstring(L, 3);
  luaL_checktype(L, 4, LUA_TFUNCTION);
  if (path[0] != '/') luaL_argerror(L, 3, "a path starting with '/'");
  for (const char *p = method; *p; p++)
    if (!((*p >= 'A' && *p <= 'Z') || *p == '*')) luaL_argerror(L, 2, "an upper-case method or \"*\"");
  if (srv->routes_ref <= 0) {
    int r = sio_server_handler(srv->server, "/", on_request, srv, NULL);
    if (r && r != SIO_EEXIST) return siol_push_fail(L, r);
    lua_newtable(L);
    srv->routes_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  }
  lua_rawgeti(L, LUA_REGISTRYINDEX, srv->routes_ref);
  /* The same method and path again: the new handler replaces the old one in its place (what a
   * siod reload that runs the script again wants). */
  lua_Integer n = (lua_Integer)lua_rawlen(L, -1);
  for (lua_Integer i = 1; i <= n; i++) {
    lua_rawgeti(L, -1, i);
    lua_getfield(L, -1, "method");
    lua_getfield(L, -2, "path");
    int same = lua_rawequal(L, -2, 2) && lua_rawequal(L, -1, 3);
    lua_pop(L, 2);
    if (same) {
      lua_pushvalue(L, 4);
      lua_setfield(L, -2, "fn");
      lua_settop(L, 1);
      return 1;
    }
    lua_pop(L, 1);
  }
  lua_createtable(L, 0, 3);
  lua_pushvalue(L, 2);
  lua_setfield(L, -2, "method");
  lua_pushvalue(L, 3);
  lua_setfield(L, -2, "path");
  lua_pushvalue(L, 4);
  lua_setfield(L, -2, "fn");
  lua_rawseti(L, -2, (lua_Integer)lua_rawlen(L, -2) + 1);
  lua_settop(L, 1);
  return 1; /* the server, for chaining */
}

void siol_open_route(lua_State *L) {
  static const luaL_Reg methods[] = {{"send", res_send}, {NULL, NULL}};
  siol_class(L, SIOL_RES_MT, methods, NULL, res_index, res_gc, NULL);
}
