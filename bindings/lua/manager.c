/* The client's manager (socket.io-client's Manager, sio_client.h's sio_manager_t): one Engine.IO
 * connection to a server, its options, its events ("open", "close", "error", "reconnect_attempt",
 * "reconnect", "reconnect_error", "reconnect_failed": socket.io-client's `socket.io` events), and
 * the sockets multiplexed over it (csocket.c). sio.manager(url, opts) makes one; sio.client()
 * shares them by host, port and path as io() does. */
#include <stdlib.h>
#include <string.h>

#include "private.h"

typedef struct {
  mgr_t *g; /* NULL once the manager is freed */
} mgr_box_t;

static mgr_box_t *check_box(lua_State *L, int idx) { return luaL_checkudata(L, idx, SIOL_MANAGER_MT); }

mgr_t *siol_check_manager(lua_State *L, int idx) {
  mgr_box_t *b = check_box(L, idx);
  if (!b->g || b->g->closing) luaL_error(L, "the manager is closed");
  return b->g;
}

/* ---- options (socket.io-client's names; the snake_case spelling is accepted too) ---- */

static const char *const known[][2] = {
    {"path", "path"}, {"transports", "transports"}, {"upgrade", "upgrade"}, {"query", "query"},
    {"extraHeaders", "extra_headers"}, {"auth", "auth"}, {"reconnection", "reconnection"},
    {"reconnectionAttempts", "reconnection_attempts"}, {"reconnectionDelay", "reconnection_delay"},
    {"reconnectionDelayMax", "reconnection_delay_max"}, {"randomizationFactor", "randomization_factor"},
    {"timeout", "timeout"}, {"parser", "parser"}, {"rejectUnauthorized", "reject_unauthorized"},
    {"ca", "ca"}, {"forceNew", "force_new"}, {"multiplex", "multiplex"}, {"autoConnect", "auto_connect"},
    {"eio", "eio"}, {"maxPayload", "max_payload"}, {"sendBufferMax", "send_buffer_max"},
    {"sendBufferBytes", "send_buffer_bytes"}};

void siol_client_check_options(lua_State *L, int t) {
  lua_pushnil(L);
  while (lua_next(L, t)) {
    lua_pop(L, 1);
    const char *k = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : NULL;
    int ok = 0;
    for (size_t i = 0; k && !ok && i < sizeof known / sizeof *known; i++)
      ok = strcmp(k, known[i][0]) == 0 || strcmp(k, known[i][1]) == 0;
    if (!ok)
      luaL_error(L, "sio.client: unknown option '%s' (socket.io-client's: path, transports, upgrade, query, "
                    "extraHeaders, auth, reconnection, reconnectionAttempts, reconnectionDelay, "
                    "reconnectionDelayMax, randomizationFactor, timeout, parser, rejectUnauthorized, ca, "
                    "forceNew, multiplex, autoConnect; sio's: eio, maxPayload, sendBufferMax, sendBufferBytes)",
                 k ? k : luaL_typename(L, -1));
  }
}

int siol_client_opt(lua_State *L, int t, const char *camel) {
  if (!t) {
    lua_pushnil(L);
    return LUA_TNIL;
  }
  int type = lua_getfield(L, t, camel);
  for (size_t i = 0; type == LUA_TNIL && i < sizeof known / sizeof *known; i++) {
    if (strcmp(known[i][0], camel) != 0 || strcmp(known[i][1], camel) == 0) continue;
    lua_pop(L, 1);
    type = lua_getfield(L, t, known[i][1]);
  }
  return type;
}

static long opt_int(lua_State *L, int t, const char *key, long def, long min, long max) {
  long v = def;
  if (siol_client_opt(L, t, key) != LUA_TNIL) {
    int isnum;
    lua_Integer i = lua_tointegerx(L, -1, &isnum);
    if (!isnum || i < min || i > max)
      luaL_error(L, "sio.client: option '%s' must be an integer in [%d, %d]", key, (int)min, (int)max);
    v = (long)i;
  }
  lua_pop(L, 1);
  return v;
}

static int opt_bool(lua_State *L, int t, const char *key, int def) {
  int type = siol_client_opt(L, t, key);
  int v = type == LUA_TNIL ? def : lua_toboolean(L, -1);
  if (type != LUA_TNIL && type != LUA_TBOOLEAN) luaL_error(L, "sio.client: option '%s' must be a boolean", key);
  lua_pop(L, 1);
  return v;
}

/* A string option, left on the stack (nil when absent). */
static const char *opt_str(lua_State *L, int t, const char *key) {
  int type = siol_client_opt(L, t, key);
  if (type != LUA_TNIL && type != LUA_TSTRING) luaL_error(L, "sio.client: option '%s' must be a string", key);
  return lua_tostring(L, -1);
}

static unsigned opt_transports(lua_State *L, int t) {
  if (siol_client_opt(L, t, "transports") == LUA_TNIL) {
    lua_pop(L, 1);
    return SIO_CLIENT_POLLING | SIO_CLIENT_WEBSOCKET;
  }
  if (!lua_istable(L, -1)) luaL_error(L, "sio.client: option 'transports' must be a list");
  unsigned bits = 0;
  lua_Integer n = (lua_Integer)lua_rawlen(L, -1);
  for (lua_Integer i = 1; i <= n; i++) {
    lua_rawgeti(L, -1, i);
    const char *s = lua_tostring(L, -1);
    if (s && strcmp(s, "polling") == 0) bits |= SIO_CLIENT_POLLING;
    else if (s && strcmp(s, "websocket") == 0) bits |= SIO_CLIENT_WEBSOCKET;
    else luaL_error(L, "sio.client: option 'transports' holds \"polling\" and/or \"websocket\"");
    lua_pop(L, 1);
  }
  if (!bits) luaL_error(L, "sio.client: option 'transports' is empty");
  lua_pop(L, 1);
  return bits;
}

/* A growing C string (the query is built off the Lua stack, which lua_next uses meanwhile). */
typedef struct {
  char *p;
  size_t n, cap;
} cbuf_t;

static int cbuf_add(cbuf_t *b, char c) {
  if (b->n + 1 >= b->cap) {
    size_t cap = b->cap ? b->cap * 2 : 64;
    char *p = realloc(b->p, cap);
    if (!p) return -1;
    b->p = p;
    b->cap = cap;
  }
  b->p[b->n++] = c;
  return 0;
}

/* Appends s percent-encoded as a URL query component (RFC 3986's unreserved characters as they are). */
static int cbuf_encoded(cbuf_t *b, const char *s, size_t n) {
  static const char hex[] = "0123456789ABCDEF";
  int r = 0;
  for (size_t i = 0; i < n && r == 0; i++) {
    unsigned char c = (unsigned char)s[i];
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || (c && strchr("-._~", c))) {
      r = cbuf_add(b, (char)c);
    } else {
      r = cbuf_add(b, '%');
      if (!r) r = cbuf_add(b, hex[c >> 4]);
      if (!r) r = cbuf_add(b, hex[c & 15]);
    }
  }
  return r;
}

/* query: a string "k=v&k2=v2" as it is, or a table {k = v} encoded; left on the stack. */
static const char *opt_query(lua_State *L, int t) {
  int type = siol_client_opt(L, t, "query");
  if (type == LUA_TNIL || type == LUA_TSTRING) return lua_tostring(L, -1);
  if (type != LUA_TTABLE) luaL_error(L, "sio.client: option 'query' must be a string or a table");
  int q = lua_gettop(L);
  cbuf_t b = {0};
  int r = 0;
  lua_pushnil(L);
  while (r == 0 && lua_next(L, q)) {
    if (lua_type(L, -2) != LUA_TSTRING || !(lua_type(L, -1) == LUA_TSTRING || lua_type(L, -1) == LUA_TNUMBER ||
                                            lua_type(L, -1) == LUA_TBOOLEAN)) {
      free(b.p);
      luaL_error(L, "sio.client: option 'query' maps names to strings, numbers or booleans");
    }
    size_t kn, vn;
    const char *k = lua_tolstring(L, -2, &kn), *v;
    if (lua_isboolean(L, -1)) {
      v = lua_toboolean(L, -1) ? "true" : "false";
      vn = strlen(v);
    } else {
      lua_pushvalue(L, -1); /* a number turned into a string in a copy: the key stays one for lua_next */
      v = lua_tolstring(L, -1, &vn);
      lua_replace(L, -2);
    }
    if (b.n) r = cbuf_add(&b, '&');
    if (!r) r = cbuf_encoded(&b, k, kn);
    if (!r) r = cbuf_add(&b, '=');
    if (!r) r = cbuf_encoded(&b, v, vn);
    lua_pop(L, 1);
  }
  if (r) {
    free(b.p);
    luaL_error(L, "out of memory");
  }
  lua_pushlstring(L, b.p ? b.p : "", b.n);
  free(b.p);
  lua_remove(L, q);
  return lua_tostring(L, -1);
}

/* extraHeaders {Name = value}: a NULL-terminated array of "Name: value" in a userdata, the strings
 * in a table, both left on the stack (two values; nil, nil when absent). */
static const char *const *opt_headers(lua_State *L, int t) {
  int type = siol_client_opt(L, t, "extraHeaders");
  if (type == LUA_TNIL) {
    lua_pushnil(L);
    return NULL;
  }
  if (type != LUA_TTABLE) luaL_error(L, "sio.client: option 'extraHeaders' must be a table {Name = value}");
  int h = lua_gettop(L);
  size_t n = 0;
  lua_pushnil(L);
  while (lua_next(L, h)) {
    lua_pop(L, 1);
    n++;
  }
  lua_createtable(L, (int)n, 0);
  int strs = lua_gettop(L);
  size_t i = 0;
  lua_pushnil(L);
  while (lua_next(L, h)) {
    if (lua_type(L, -2) != LUA_TSTRING || !lua_isstring(L, -1))
      luaL_error(L, "sio.client: option 'extraHeaders' maps names to strings");
    const char *k = lua_tostring(L, -2), *v = lua_tostring(L, -1);
    if (strpbrk(k, "\r\n:") || strpbrk(v, "\r\n"))
      luaL_error(L, "sio.client: header '%s' holds a line break or a colon", k);
    lua_pushfstring(L, "%s: %s", k, v);
    lua_rawseti(L, strs, (lua_Integer)++i);
    lua_pop(L, 1);
  }
  const char **v = lua_newuserdatauv(L, (n + 1) * sizeof *v, 0);
  for (size_t j = 0; j < n; j++) {
    lua_rawgeti(L, strs, (lua_Integer)j + 1);
    v[j] = lua_tostring(L, -1); /* anchored by the table */
    lua_pop(L, 1);
  }
  v[n] = NULL;
  lua_remove(L, h);
  return v;
}

/* Reads the options table at t (0: none) into o; the strings stay on the stack until the caller
 * pops back to its top. */
static void read_options(lua_State *L, int t, sio_manager_options_t *o) {
  sio_manager_options_init(o);
  if (!t) return;
  siol_client_check_options(L, t);
  const long I31 = 0x7fffffff;
  const char *path = opt_str(L, t, "path"); /* (nil: the default stays) */
  if (path) o->path = path;
  o->transports = opt_transports(L, t);
  o->upgrade = opt_bool(L, t, "upgrade", o->upgrade);
  const char *query = opt_query(L, t);
  if (query) o->query = query;
  const char *const *headers = opt_headers(L, t);
  if (headers) o->headers = headers;
  o->reconnection = opt_bool(L, t, "reconnection", o->reconnection);
  o->reconnection_attempts = (uint32_t)opt_int(L, t, "reconnectionAttempts", (long)o->reconnection_attempts, 0, I31);
  o->reconnection_delay_ms = (uint32_t)opt_int(L, t, "reconnectionDelay", (long)o->reconnection_delay_ms, 0, I31);
  o->reconnection_delay_max_ms =
      (uint32_t)opt_int(L, t, "reconnectionDelayMax", (long)o->reconnection_delay_max_ms, 0, I31);
  if (siol_client_opt(L, t, "randomizationFactor") != LUA_TNIL) {
    int isnum;
    double f = lua_tonumberx(L, -1, &isnum);
    if (!isnum || !(f >= 0 && f <= 1)) luaL_error(L, "sio.client: option 'randomizationFactor' must be in [0, 1]");
    o->randomization_factor = f;
  }
  lua_pop(L, 1);
  o->timeout_ms = (uint32_t)opt_int(L, t, "timeout", (long)o->timeout_ms, 1, I31);
  const char *parser = opt_str(L, t, "parser");
  if (parser && strcmp(parser, "msgpack") == 0) o->parser = SIO_PARSER_MSGPACK;
  else if (parser && strcmp(parser, "default") != 0 && strcmp(parser, "json") != 0)
    luaL_error(L, "sio.client: option 'parser' is \"default\" or \"msgpack\"");
  o->tls_verify = opt_bool(L, t, "rejectUnauthorized", o->tls_verify);
  const char *ca = opt_str(L, t, "ca");
  if (ca) o->tls_ca_file = ca;
  o->eio = (int)opt_int(L, t, "eio", o->eio, 3, 4);
  o->max_payload = (size_t)opt_int(L, t, "maxPayload", (long)o->max_payload, 1, I31);
  o->send_buffer_max = (size_t)opt_int(L, t, "sendBufferMax", (long)o->send_buffer_max, 0, I31);
  o->send_buffer_bytes = (size_t)opt_int(L, t, "sendBufferBytes", (long)o->send_buffer_bytes, 0, I31);
}

/* ---- the core's callbacks ---- */

/* Pushes the manager's box and returns the thread to call on, or NULL (nothing pushed) once Lua
 * is closing. */
static lua_State *begin(sio_manager_t *m, mgr_t **gp) {
  mgr_t *g = sio_manager_get_data(m);
  lua_State *L = g ? siol_cb_state(g->st) : NULL;
  if (!L || g->ref == LUA_NOREF) return NULL;
  luaL_checkstack(L, 8, NULL);
  lua_rawgeti(L, LUA_REGISTRYINDEX, g->ref);
  *gp = g;
  return L;
}

static void emit_mgr(sio_manager_t *m, const char *event, int (*push)(lua_State *L, const void *a), const void *a) {
  mgr_t *g;
  lua_State *L = begin(m, &g);
  if (!L) return;
  int top = lua_gettop(L) - 1;
  int n = push ? push(L, a) : 0;
  siol_client_dispatch(L, g->st, top + 1, event, n);
  lua_settop(L, top);
}

static int push_str(lua_State *L, const void *a) {
  lua_pushstring(L, a);
  return 1;
}

static int push_uint(lua_State *L, const void *a) {
  lua_pushinteger(L, (lua_Integer) * (const unsigned *)a);
  return 1;
}

typedef struct {
  int err;
  const char *detail;
} err_arg_t;

static int push_err(lua_State *L, const void *a) {
  const err_arg_t *e = a;
  siol_push_client_error(L, e->detail && *e->detail ? e->detail : sio_strerror(e->err), NULL, e->err);
  return 1;
}

static void on_open(sio_manager_t *m) { emit_mgr(m, "open", NULL, NULL); }
static void on_close(sio_manager_t *m, const char *reason) { emit_mgr(m, "close", push_str, reason); }
static void on_error(sio_manager_t *m, int err, const char *detail) {
  err_arg_t e = {err, detail};
  emit_mgr(m, "error", push_err, &e);
}
static void on_reconnect_attempt(sio_manager_t *m, unsigned attempt) {
  emit_mgr(m, "reconnect_attempt", push_uint, &attempt);
}
static void on_reconnect(sio_manager_t *m, unsigned attempt) { emit_mgr(m, "reconnect", push_uint, &attempt); }
static void on_reconnect_error(sio_manager_t *m, int err, const char *detail) {
  err_arg_t e = {err, detail};
  emit_mgr(m, "reconnect_error", push_err, &e);
}
static void on_reconnect_failed(sio_manager_t *m) { emit_mgr(m, "reconnect_failed", NULL, NULL); }

static const sio_manager_callbacks_t mgr_cbs = {on_open, on_close, on_error, on_reconnect_attempt,
                                                on_reconnect, on_reconnect_error, on_reconnect_failed};

/* ---- life ---- */

static void unlink_mgr(mgr_t *g) {
  if (!g->pprev) return;
  *g->pprev = g->next;
  if (g->next) g->next->pprev = g->pprev;
  g->pprev = NULL;
}

/* The core freed the manager and its sockets: so do the boxes' pointers and the anchors. */
static void on_closed(sio_manager_t *m) {
  mgr_t *g = sio_manager_get_data(m);
  if (!g) return;
  lua_State *L = siol_cb_state(g->st);
  for (cs_t *c = g->sockets, *next; c; c = next) {
    next = c->next;
    if (L && c->ref != LUA_NOREF) {
      lua_rawgeti(L, LUA_REGISTRYINDEX, c->ref);
      cs_t **box = lua_touserdata(L, -1);
      if (box) *box = NULL;
      lua_pop(L, 1);
      siol_unref(L, &c->ref);
    }
    free(c);
  }
  if (L && g->ref != LUA_NOREF) {
    lua_rawgeti(L, LUA_REGISTRYINDEX, g->ref);
    mgr_box_t *b = lua_touserdata(L, -1);
    if (b) b->g = NULL;
    lua_pop(L, 1);
    siol_unref(L, &g->ref);
  }
  unlink_mgr(g);
  siol_state_t *st = g->st;
  free(g->key);
  free(g);
  siol_release(st);
}

static void mgr_close(mgr_t *g) {
  if (g->closing) return;
  g->closing = 1;
  unlink_mgr(g); /* no longer found by sio.client() */
  sio_manager_close(g->m, on_closed);
}

void siol_clients_close(siol_state_t *st) {
  while (st->managers) mgr_close(st->managers);
}

mgr_t *siol_manager_new(lua_State *L, const char *url, int opts, const char *key) {
  siol_state_t *st = siol_state(L);
  uv_loop_t *loop = siol_loop(L, st);
  int top = lua_gettop(L);
  sio_manager_options_t o;
  read_options(L, opts, &o);
  /* Everything that may raise before the manager exists: the box, its uservalue, the anchor. */
  mgr_box_t *b = lua_newuserdatauv(L, sizeof *b, 1);
  b->g = NULL;
  luaL_setmetatable(L, SIOL_MANAGER_MT);
  lua_createtable(L, 0, 2);
  lua_newtable(L);
  lua_setfield(L, -2, "h");
  lua_setiuservalue(L, -2, 1);
  int box = lua_gettop(L);
  mgr_t *g = calloc(1, sizeof *g);
  char *k = key ? strdup(key) : NULL;
  if (!g || (key && !k)) {
    free(g);
    free(k);
    luaL_error(L, "out of memory");
  }
  int r = sio_manager_new(loop, url, &o, &mgr_cbs, &g->m);
  if (r < 0) {
    free(g);
    free(k);
    const char *detail = sio_last_error();
    luaL_error(L, "sio.client: %s", *detail ? detail : sio_strerror(r));
  }
  g->st = st;
  siol_hold(st);
  g->key = k;
  sio_manager_set_data(g->m, g);
  b->g = g;
  lua_pushvalue(L, box);
  g->ref = luaL_ref(L, LUA_REGISTRYINDEX); /* a memory error here leaves a manager that never connects */
  g->next = st->managers;
  if (st->managers) st->managers->pprev = &g->next;
  st->managers = g;
  g->pprev = &st->managers;
  lua_copy(L, box, top + 1);
  lua_settop(L, top + 1);
  return g;
}

mgr_t *siol_manager_find(siol_state_t *st, const char *key, const char *nsp) {
  for (mgr_t *g = st->managers; g; g = g->next) {
    if (g->closing || !g->key || strcmp(g->key, key) != 0) continue;
    for (cs_t *c = g->sockets; c; c = c->next)
      if (c->s && strcmp(sio_csocket_nsp(c->s), nsp) == 0) return NULL; /* io(): a new connection */
    return g;
  }
  return NULL;
}

/* ---- methods ---- */

/* sio.manager(url[, opts]): a manager of its own (socket.io-client's `new Manager(url, opts)`);
 * manager:socket(nsp[, {auth = t}]) makes its sockets. */
int siol_manager(lua_State *L) {
  const char *url = luaL_checkstring(L, 1);
  if (!lua_isnoneornil(L, 2)) luaL_checktype(L, 2, LUA_TTABLE);
  siol_manager_new(L, url, lua_istable(L, 2) ? 2 : 0, NULL);
  return 1;
}

static int l_socket(lua_State *L) {
  siol_check_manager(L, 1);
  const char *nsp = luaL_optstring(L, 2, "/");
  if (!lua_isnoneornil(L, 3)) luaL_checktype(L, 3, LUA_TTABLE);
  siol_csocket_new(L, 1, nsp, lua_istable(L, 3) ? 3 : 0);
  return 1;
}

static int l_on(lua_State *L) {
  check_box(L, 1);
  return siol_obj_on(L, 0);
}
static int l_once(lua_State *L) {
  check_box(L, 1);
  return siol_obj_on(L, 1);
}
static int l_off(lua_State *L) {
  check_box(L, 1);
  return siol_obj_off(L);
}

/* manager:open(): connects now (after reconnect_failed: starts again). */
static int l_open(lua_State *L) {
  mgr_t *g = siol_check_manager(L, 1);
  return siol_push_ok(L, sio_manager_open(g->m));
}

/* manager:close(): every socket disconnects, no more reconnection; the manager and its sockets
 * are done with (a socket's methods then answer as a closed one's). */
static int l_close(lua_State *L) {
  mgr_box_t *b = check_box(L, 1);
  if (b->g) mgr_close(b->g);
  return 0;
}

static int l_index(lua_State *L) {
  mgr_box_t *b = check_box(L, 1);
  const char *key = luaL_checkstring(L, 2);
  if (siol_method(L, key)) return 1;
  sio_manager_t *m = b->g && !b->g->closing ? b->g->m : NULL;
  if (strcmp(key, "sid") == 0) {
    const char *sid = m ? sio_manager_sid(m) : NULL;
    if (sid) lua_pushstring(L, sid);
    else lua_pushnil(L);
    return 1;
  }
  if (strcmp(key, "transport") == 0) {
    int t = m ? sio_manager_transport(m) : 0;
    if (t) lua_pushstring(L, t == SIO_CLIENT_WEBSOCKET ? "websocket" : "polling");
    else lua_pushnil(L);
    return 1;
  }
  if (strcmp(key, "closed") == 0) {
    lua_pushboolean(L, m == NULL);
    return 1;
  }
  return 0;
}

static int l_tostring(lua_State *L) {
  mgr_box_t *b = check_box(L, 1);
  const char *sid = b->g && !b->g->closing ? sio_manager_sid(b->g->m) : NULL;
  lua_pushfstring(L, "sio.manager (%s)", b->g && !b->g->closing ? (sid ? sid : "not connected") : "closed");
  return 1;
}

void siol_open_manager(lua_State *L) {
  static const luaL_Reg methods[] = {{"on", l_on}, {"once", l_once}, {"off", l_off}, {"open", l_open},
                                     {"connect", l_open}, {"close", l_close}, {"disconnect", l_close},
                                     {"socket", l_socket}, {NULL, NULL}};
  siol_class(L, SIOL_MANAGER_MT, methods, NULL, l_index, NULL, l_tostring);
}
