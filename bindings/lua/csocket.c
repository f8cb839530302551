/* The client's sockets (socket.io-client's Socket, sio_client.h's sio_csocket_t): sio.client(url,
 * opts) as io(url, opts), listeners ("connect", "connect_error", "disconnect" and the server's
 * events), emits with or without an acknowledgement, socket:call() waiting in a handler's
 * coroutine, the ack function a listener gets when the server asks for one, and the emitters of
 * socket:timeout(ms) and socket.volatile. Every listener runs in a coroutine (lco.c), as a server's
 * handlers do. */
#include <stdlib.h>
#include <string.h>

#include "private.h"

typedef struct {
  cs_t *c; /* NULL once the manager is freed */
} cs_box_t;

static cs_box_t *check_box(lua_State *L, int idx) { return luaL_checkudata(L, idx, SIOL_CSOCKET_MT); }

/* The socket's core handle, or NULL once its manager closed. */
static sio_csocket_t *live(cs_box_t *b) { return b->c && !b->c->mgr->closing ? b->c->s : NULL; }

/* ---- errors ---- */

static int err_tostring(lua_State *L) {
  lua_getfield(L, 1, "message");
  if (!lua_isstring(L, -1)) lua_pushliteral(L, "error");
  return 1;
}

void siol_push_client_error(lua_State *L, const char *message, const cJSON *data, int code) {
  lua_createtable(L, 0, 3);
  lua_pushstring(L, message ? message : "error");
  lua_setfield(L, -2, "message");
  if (data) {
    siol_push_json(L, data, NULL);
    lua_setfield(L, -2, "data");
  }
  if (code) {
    lua_pushstring(L, sio_err_name(code));
    lua_setfield(L, -2, "code");
  }
  if (luaL_newmetatable(L, "sio.client_error")) {
    lua_pushcfunction(L, err_tostring);
    lua_setfield(L, -2, "__tostring");
  }
  lua_setmetatable(L, -2);
}

/* ---- dispatch ---- */

void siol_client_dispatch(lua_State *L, siol_state_t *st, int idx, const char *event, int nargs) {
  idx = lua_absindex(L, idx);
  int first = lua_gettop(L) - nargs + 1;
  lua_getiuservalue(L, idx, 1);
  lua_getfield(L, -1, "h");
  int h = lua_gettop(L);
  if (lua_getfield(L, h, event) == LUA_TTABLE)
    siol_listen_run(st, L, h, event, h + 1, first, nargs, 0, NULL, "handler for", NULL);
  lua_settop(L, first - 1);
}

/* Pushes the socket's box and returns the thread to call on, or NULL once Lua is closing. */
static lua_State *begin(sio_csocket_t *s, cs_t **cp) {
  cs_t *c = sio_csocket_get_data(s);
  lua_State *L = c ? siol_cb_state(c->mgr->st) : NULL;
  if (!L || c->ref == LUA_NOREF) return NULL;
  luaL_checkstack(L, 8, NULL);
  lua_rawgeti(L, LUA_REGISTRYINDEX, c->ref);
  *cp = c;
  return L;
}

static void on_connect(sio_csocket_t *s) {
  cs_t *c = sio_csocket_get_data(s);
  if (c) c->connects++;
  lua_State *L = begin(s, &c);
  if (!L) return;
  siol_client_dispatch(L, c->mgr->st, -1, "connect", 0);
  lua_pop(L, 1);
}

static void on_connect_error(sio_csocket_t *s, const char *message, const cJSON *data) {
  cs_t *c;
  lua_State *L = begin(s, &c);
  if (!L) return;
  siol_push_client_error(L, message, data, 0);
  siol_client_dispatch(L, c->mgr->st, -2, "connect_error", 1);
  lua_pop(L, 1);
}

static void on_disconnect(sio_csocket_t *s, const char *reason) {
  cs_t *c;
  lua_State *L = begin(s, &c);
  if (!L) return;
  lua_pushstring(L, reason);
  siol_client_dispatch(L, c->mgr->st, -2, "disconnect", 1);
  lua_pop(L, 1);
}

/* ---- the ack a listener gets when the server asked for one ---- */

typedef struct {
  int64_t id;
  unsigned connection; /* cs_t.connects when the server asked */
  int done;
} cack_t;

/* ack(...): true, or nil, "ECLOSED: ...", "ECLOSED" when the socket is no longer connected (the
 * answer belonged to that connection); raises when it was answered before, and on a value that
 * cannot be sent. Its uservalue is the socket's box. */
static int ack_send(lua_State *L, cack_t *a, int ack, int first) {
  if (a->done) return luaL_error(L, "this acknowledgement was already sent");
  lua_getiuservalue(L, ack, 1);
  cs_box_t *b = lua_touserdata(L, -1);
  sio_csocket_t *s = live(b);
  lua_pop(L, 1);
  if (s && b->c->connects != a->connection) s = NULL; /* reconnected since: that connection is gone */
  args_box_t *box = siol_check_args(L, first, lua_gettop(L));
  sio_args_t args = siol_args_of(box);
  int r = s ? sio_csocket_ack(s, a->id, &args) : SIO_ECLOSED;
  siol_args_free(box);
  if (r == SIO_EINVAL) return siol_raise_detail(L, r, "ack");
  a->done = 1; /* sent, or impossible for good: the connection that asked is gone */
  return siol_push_ok(L, r);
}

static int l_ack_call(lua_State *L) { return ack_send(L, luaL_checkudata(L, 1, SIOL_CACK_MT), 1, 2); }

int siol_is_client_ack(lua_State *L, int idx) { return luaL_testudata(L, idx, SIOL_CACK_MT) != NULL; }

/* A listener ended: its results are the ack, unless it was answered (as a server's handlers). */
static void ack_done(lua_State *co, int ok, int first) {
  int top = lua_gettop(co);
  if (!ok || lua_isnil(co, SIOL_CO_CTX) || top < first) return;
  cack_t *a = lua_touserdata(co, SIOL_CO_CTX);
  if (a->done) return;
  lua_pushcfunction(co, l_ack_call);
  lua_pushvalue(co, SIOL_CO_CTX);
  for (int i = first; i <= top; i++) lua_pushvalue(co, i);
  siol_pcall(co, top - first + 2, 0, "sending a handler's return values as its ack", NULL);
}
static const siol_fin_t ack_fin = {ack_done, 1}; /* no values: no ack to send */

static void on_event(sio_csocket_t *s, const char *event, const sio_args_t *args, int64_t ack_id) {
  cs_t *c;
  lua_State *L = begin(s, &c);
  if (!L) return;
  siol_state_t *st = c->mgr->st;
  int box = lua_gettop(L);
  lua_getiuservalue(L, box, 1);
  int uv = lua_gettop(L);
  /* the catch-all listeners first (socket.onAny), with the event's name */
  if (lua_getfield(L, uv, "any") == LUA_TTABLE)
    siol_spawn_catch_alls(st, L, lua_gettop(L), "catch-all listener for", event, args);
  lua_settop(L, uv);
  int first = uv + 1;
  int na = siol_push_args(L, args);
  int ack = 0;
  if (ack_id >= 0) {
    cack_t *a = lua_newuserdatauv(L, sizeof *a, 1);
    a->id = ack_id;
    a->connection = c->connects;
    a->done = 0;
    luaL_setmetatable(L, SIOL_CACK_MT);
    lua_pushvalue(L, box);
    lua_setiuservalue(L, -2, 1);
    ack = lua_gettop(L);
    na++;
  }
  lua_getfield(L, uv, "h");
  int h = lua_gettop(L);
  if (lua_getfield(L, h, event) == LUA_TTABLE)
    siol_listen_run(st, L, h, event, h + 1, first, na, ack, ack ? &ack_fin : NULL, "handler for", NULL);
  lua_settop(L, box - 1);
}

static const sio_csocket_callbacks_t cs_cbs = {on_connect, on_connect_error, on_disconnect, on_event};

/* ---- making one ---- */

/* The auth option at the top of the stack as a JSON object (NULL for nil); raises otherwise. */
static cJSON *auth_json(lua_State *L, args_box_t **boxp) {
  if (lua_isnil(L, -1)) return NULL;
  if (!lua_istable(L, -1)) luaL_error(L, "sio.client: option 'auth' must be a table");
  args_box_t *box = siol_args_box(L); /* frees the tree should an error come */
  char err[256];
  if (siol_to_json(L, -2, &box->b, &box->json, err, sizeof err) < 0) luaL_error(L, "sio.client: auth: %s", err);
  if (box->b.n) luaL_error(L, "sio.client: auth cannot hold binary");
  if (!cJSON_IsObject(box->json)) luaL_error(L, "sio.client: option 'auth' must be a table with names");
  *boxp = box;
  return box->json;
}

void siol_csocket_new(lua_State *L, int idx, const char *nsp, int opts) {
  idx = lua_absindex(L, idx);
  mgr_t *g = siol_check_manager(L, idx);
  int top = lua_gettop(L);
  args_box_t *abox = NULL;
  siol_client_opt(L, opts, "auth");
  cJSON *auth = auth_json(L, &abox);
  int autoconnect = 1;
  if (siol_client_opt(L, opts, "autoConnect") != LUA_TNIL) autoconnect = lua_toboolean(L, -1);
  lua_pop(L, 1);
  cs_box_t *b = lua_newuserdatauv(L, sizeof *b, 1);
  b->c = NULL;
  luaL_setmetatable(L, SIOL_CSOCKET_MT);
  int box = lua_gettop(L);
  lua_createtable(L, 0, 3);
  lua_newtable(L);
  lua_setfield(L, -2, "h");
  lua_pushvalue(L, idx);
  lua_setfield(L, -2, "io");
  lua_pushvalue(L, top + 1); /* the auth option: socket.auth reads it */
  lua_setfield(L, -2, "auth");
  lua_setiuservalue(L, box, 1);
  lua_pushvalue(L, box);
  int ref = luaL_ref(L, LUA_REGISTRYINDEX);
  cs_t *c = calloc(1, sizeof *c);
  if (!c) {
    luaL_unref(L, LUA_REGISTRYINDEX, ref);
    luaL_error(L, "out of memory");
  }
  int r = sio_csocket_new(g->m, nsp, auth, &cs_cbs, &c->s);
  if (abox) siol_args_free(abox);
  if (r < 0) {
    free(c);
    luaL_unref(L, LUA_REGISTRYINDEX, ref);
    const char *detail = sio_last_error();
    if (r == SIO_EEXIST) luaL_error(L, "sio.client: the manager has a socket for %s already", nsp);
    luaL_error(L, "sio.client: %s", *detail ? detail : sio_strerror(r));
  }
  c->mgr = g;
  c->ref = ref;
  c->next = g->sockets;
  g->sockets = c;
  sio_csocket_set_data(c->s, c);
  b->c = c;
  if (autoconnect) sio_csocket_connect(c->s);
  lua_copy(L, box, top + 1);
  lua_settop(L, top + 1);
}

/* Pushes url's scheme://authority (the key of io()'s cache, with the path option) and its path,
 * the namespace ("/" when none). The manager gets the whole URL: the core ignores its path and
 * keeps its query. */
static void split_url(lua_State *L, const char *url) {
  const char *p = strstr(url, "://");
  if (!p) luaL_error(L, "sio.client: '%s' is not an http(s):// or ws(s):// URL", url);
  const char *end = p + 3 + strcspn(p + 3, "/?#");
  const char *pend = end + strcspn(end, "?#");
  lua_pushlstring(L, url, (size_t)(end - url));
  if (pend > end && !(pend - end == 1 && *end == '/')) lua_pushlstring(L, end, (size_t)(pend - end));
  else lua_pushliteral(L, "/");
}

/* sio.client(url[, opts]): io(url, opts). The URL's path is the namespace; sockets of one host,
 * port and `path` option share a manager (one connection) unless forceNew or multiplex = false, or
 * the manager has that namespace already. */
int siol_client(lua_State *L) {
  const char *url = luaL_checkstring(L, 1);
  int opts = 0;
  if (!lua_isnoneornil(L, 2)) {
    luaL_checktype(L, 2, LUA_TTABLE);
    opts = 2;
  }
  lua_settop(L, 2);
  if (opts) siol_client_check_options(L, opts); /* also when a shared manager ignores them */
  /* the socket's own options first: a bad one must not leave a manager behind */
  int at = siol_client_opt(L, opts, "auth");
  if (at != LUA_TNIL && at != LUA_TTABLE) luaL_error(L, "sio.client: option 'auth' must be a table");
  lua_pop(L, 1);
  split_url(L, url); /* 3: scheme://authority, 4: the namespace */
  const char *nsp = lua_tostring(L, 4);
  int force = 0, multiplex = 1;
  if (siol_client_opt(L, opts, "forceNew") != LUA_TNIL) force = lua_toboolean(L, -1);
  if (siol_client_opt(L, opts, "multiplex") != LUA_TNIL) multiplex = lua_toboolean(L, -1);
  lua_pop(L, 2);
  siol_client_opt(L, opts, "path");
  lua_pushfstring(L, "%s%s", lua_tostring(L, 3), lua_isstring(L, -1) ? lua_tostring(L, -1) : "/socket.io/");
  const char *key = lua_tostring(L, -1); /* 6 */
  siol_state_t *st = siol_state(L);
  mgr_t *g = force || !multiplex ? NULL : siol_manager_find(st, key, nsp);
  if (g) {
    lua_rawgeti(L, LUA_REGISTRYINDEX, g->ref);
  } else {
    /* io() caches a manager unless asked for a new connection; one made because the cached one
     * has the namespace already is not cached (a later io() still gets the first) */
    int shared = !force && multiplex;
    for (mgr_t *o = st->managers; shared && o; o = o->next) shared = !(o->key && strcmp(o->key, key) == 0);
    siol_manager_new(L, url, opts, shared ? key : NULL);
  }
  siol_csocket_new(L, -1, nsp, opts);
  return 1;
}

/* ---- emitting ---- */

/* The answer to an emit with a callback and no timeout: callback(...), as socket.io-client's; it
 * is never called when the socket disconnected first (socket.io-client drops such acks). */
static void on_ack_plain(sio_csocket_t *s, int status, const sio_args_t *args, void *arg) {
  (void)s;
  lua_State *L = siol_req_begin(arg, status); /* pushes: nil (context), the function, its error */
  if (L && status) {
    lua_pop(L, 3);
    L = NULL;
  }
  int n = 0;
  if (L) {
    lua_pop(L, 1);
    n = siol_push_args(L, args);
  }
  /* siol_req_finish passes 1 + n values (its error first): the error was taken off */
  siol_req_finish(arg, L, n - 1, "acknowledgement callback");
}

/* With a timeout (socket:timeout(ms):emit): callback(err, ...), err nil, "ETIMEDOUT: ..." or
 * "ECLOSED: ..." (socket.io-client's Error); socket:call(): the values, or nil, "timeout" |
 * "disconnected" (as a server socket's call). */
static void on_ack_err(sio_csocket_t *s, int status, const sio_args_t *args, void *arg) {
  (void)s;
  if (status && siol_req_waits(arg)) {
    lua_State *L = siol_req_begin(arg, 0);
    if (L) {
      lua_pushnil(L);
      lua_pushstring(L, status == SIO_ETIMEDOUT ? "timeout" : "disconnected");
    }
    siol_req_finish(arg, L, 2, "acknowledgement callback");
    return;
  }
  lua_State *L = siol_req_begin(arg, status);
  siol_req_finish(arg, L, L && status == 0 ? siol_push_args(L, args) : 0, "acknowledgement callback");
}

/* emit(event, ...[, callback]) on the socket (box at idx); wait: call(). */
static int do_emit(lua_State *L, cs_box_t *b, int flags, uint32_t timeout, int wait) {
  const char *event = luaL_checkstring(L, 2);
  int last = lua_gettop(L);
  int cb = 0;
  if (wait) siol_check_can_wait(L, "socket:call");
  else if (last >= 3 && lua_isfunction(L, last)) cb = last--;
  sio_csocket_t *s = live(b);
  if (!s) { /* its manager closed */
    if (wait) {
      lua_pushnil(L);
      lua_pushliteral(L, "disconnected");
      return 2;
    }
    return siol_push_fail(L, SIO_ECLOSED);
  }
  args_box_t *a = siol_check_args(L, 3, last);
  sio_args_t args = siol_args_of(a);
  int r;
  if (cb || wait) {
    siol_req_t *c = wait ? siol_req_wait(L, "socket:call") : siol_req_new(L, cb);
    r = sio_csocket_emit_ack(s, event, &args, flags, timeout, wait || timeout ? on_ack_err : on_ack_plain, c);
    if (r) siol_req_drop(L, c);
  } else {
    r = sio_csocket_emit(s, event, &args, flags);
  }
  siol_args_free(a);
  if (wait && r == 0) return siol_req_yield(L);
  if (wait && r == SIO_ECLOSED) {
    lua_pushnil(L);
    lua_pushliteral(L, "disconnected");
    return 2;
  }
  return siol_emit_failed(L, r);
}

/* ---- emitters: socket:timeout(ms), socket.volatile ---- */

typedef struct {
  int flags;
  uint32_t timeout_ms;
} cem_t;

/* A new emitter over the socket (or a copy of the emitter) at idx. */
static cem_t *derive(lua_State *L, int idx) {
  idx = lua_absindex(L, idx);
  cem_t *from = luaL_testudata(L, idx, SIOL_CEMITTER_MT);
  if (!from) check_box(L, idx);
  cem_t *o = lua_newuserdatauv(L, sizeof *o, 1);
  *o = from ? *from : (cem_t){0, 0};
  luaL_setmetatable(L, SIOL_CEMITTER_MT);
  if (from) lua_getiuservalue(L, idx, 1);
  else lua_pushvalue(L, idx);
  lua_setiuservalue(L, -2, 1);
  return o;
}

static int l_timeout(lua_State *L) {
  lua_Integer ms = luaL_checkinteger(L, 2);
  luaL_argcheck(L, ms > 0 && ms <= 0x7fffffff, 2, "a timeout in milliseconds");
  derive(L, 1)->timeout_ms = (uint32_t)ms;
  return 1;
}

/* compress(b): accepted and ignored (sio_client.h: the client does not deflate). */
static int l_compress(lua_State *L) {
  derive(L, 1);
  return 1;
}

static int emit_or_call(lua_State *L, int wait) {
  cem_t *o = luaL_testudata(L, 1, SIOL_CEMITTER_MT);
  if (!o) return do_emit(L, check_box(L, 1), 0, 0, wait);
  lua_getiuservalue(L, 1, 1);
  cs_box_t *b = lua_touserdata(L, -1);
  lua_pop(L, 1); /* anchored by the emitter */
  return do_emit(L, b, o->flags, o->timeout_ms, wait);
}

static int l_emit(lua_State *L) { return emit_or_call(L, 0); }

/* send(...): emit("message", ...), as socket.io-client's. */
static int l_send(lua_State *L) {
  luaL_checkany(L, 1);
  lua_pushliteral(L, "message");
  lua_insert(L, 2);
  return emit_or_call(L, 0);
}
static int l_call(lua_State *L) { return emit_or_call(L, 1); }

/* socket:volatile() is socket.volatile: calling an emitter gives it back. */
static int em_call(lua_State *L) {
  lua_settop(L, 1);
  return 1;
}

static int em_index(lua_State *L) {
  luaL_checkudata(L, 1, SIOL_CEMITTER_MT);
  const char *key = luaL_checkstring(L, 2);
  if (siol_method(L, key)) return 1;
  if (strcmp(key, "volatile") != 0) return 0;
  derive(L, 1)->flags |= SIO_EMIT_VOLATILE;
  return 1;
}

/* ---- socket methods ---- */

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
/* on_any(fn(event, ...)): every event from the server, before its listeners. */
static int l_on_any(lua_State *L) {
  check_box(L, 1);
  return siol_obj_on_any(L);
}

/* off_any([fn]): the last entry of fn, or every catch-all. */
static int l_off_any(lua_State *L) {
  lua_settop(L, 2);
  check_box(L, 1);
  if (!lua_isnil(L, 2)) luaL_checktype(L, 2, LUA_TFUNCTION);
  lua_getiuservalue(L, 1, 1);
  siol_listen_remove(L, 3, "any", lua_isnil(L, 2) ? 0 : 2);
  lua_settop(L, 1);
  return 1;
}

static int l_connect(lua_State *L) {
  sio_csocket_t *s = live(check_box(L, 1));
  if (!s) return siol_push_fail(L, SIO_ECLOSED);
  int r = sio_csocket_connect(s);
  if (r < 0) return siol_push_fail(L, r);
  lua_settop(L, 1);
  return 1;
}

static int l_disconnect(lua_State *L) {
  sio_csocket_t *s = live(check_box(L, 1));
  if (s) sio_csocket_disconnect(s);
  lua_settop(L, 1);
  return 1;
}

/* ---- fields ---- */

static int l_index(lua_State *L) {
  cs_box_t *b = check_box(L, 1);
  const char *key = luaL_checkstring(L, 2);
  if (siol_method(L, key)) return 1;
  sio_csocket_t *s = live(b);
  if (strcmp(key, "volatile") == 0) {
    derive(L, 1)->flags |= SIO_EMIT_VOLATILE;
    return 1;
  }
  if (strcmp(key, "id") == 0) {
    const char *id = s ? sio_csocket_id(s) : NULL;
    if (id) lua_pushstring(L, id);
    else lua_pushnil(L);
    return 1;
  }
  if (strcmp(key, "connected") == 0 || strcmp(key, "disconnected") == 0) {
    int on = s && sio_csocket_connected(s);
    lua_pushboolean(L, key[0] == 'c' ? on : !on);
    return 1;
  }
  if (strcmp(key, "recovered") == 0) {
    lua_pushboolean(L, s && sio_csocket_recovered(s));
    return 1;
  }
  if (strcmp(key, "nsp") == 0) {
    if (b->c && b->c->s) lua_pushstring(L, sio_csocket_nsp(b->c->s));
    else lua_pushnil(L);
    return 1;
  }
  if (strcmp(key, "buffered") == 0) {
    lua_pushinteger(L, s ? (lua_Integer)sio_csocket_buffered(s) : 0);
    return 1;
  }
  lua_getiuservalue(L, 1, 1); /* io (the manager), auth, and the script's own fields */
  lua_getfield(L, -1, key);
  return 1;
}

static const char *const builtin[] = {"id", "connected", "disconnected", "recovered", "nsp", "buffered", "io",
                                      "volatile", "h", "any", NULL};

/* socket.auth = t replaces the auth sent with the next CONNECTs (socket.io-client's); other
 * fields are the script's own, kept with the socket; the socket's own fields are read-only. */
static int l_newindex(lua_State *L) {
  cs_box_t *b = check_box(L, 1);
  const char *key = luaL_checkstring(L, 2);
  int refused = siol_method(L, key);
  if (refused) lua_pop(L, 1);
  for (int i = 0; !refused && builtin[i]; i++) refused = strcmp(key, builtin[i]) == 0;
  if (refused) return luaL_error(L, "socket.%s is read-only", key);
  if (strcmp(key, "auth") == 0) {
    sio_csocket_t *s = live(b);
    args_box_t *abox = NULL;
    lua_pushvalue(L, 3);
    cJSON *auth = auth_json(L, &abox);
    int r = s ? sio_csocket_set_auth(s, auth) : 0;
    if (abox) siol_args_free(abox);
    if (r < 0) return siol_raise_detail(L, r, "socket.auth");
    lua_settop(L, 3);
  }
  lua_getiuservalue(L, 1, 1);
  lua_pushvalue(L, 3);
  lua_setfield(L, -2, key);
  return 0;
}

static int l_tostring(lua_State *L) {
  cs_box_t *b = check_box(L, 1);
  sio_csocket_t *s = live(b);
  const char *id = s ? sio_csocket_id(s) : NULL;
  lua_pushfstring(L, "sio.client %s (%s)", b->c && b->c->s ? sio_csocket_nsp(b->c->s) : "?",
                  id ? id : s ? "not connected" : "closed");
  return 1;
}

void siol_open_csocket(lua_State *L) {
  /* socket.io-client's camelCase names too (onAny, emitWithAck, ...): scripts ported from
   * JavaScript keep their calls */
  static const luaL_Reg methods[] = {{"on", l_on}, {"once", l_once}, {"off", l_off}, {"on_any", l_on_any},
                                     {"onAny", l_on_any}, {"off_any", l_off_any}, {"offAny", l_off_any},
                                     {"emit", l_emit}, {"send", l_send}, {"call", l_call},
                                     {"emit_with_ack", l_call}, {"emitWithAck", l_call}, {"timeout", l_timeout},
                                     {"compress", l_compress}, {"connect", l_connect}, {"open", l_connect}, {"disconnect", l_disconnect},
                                     {"close", l_disconnect}, {NULL, NULL}};
  siol_class(L, SIOL_CSOCKET_MT, methods, NULL, l_index, NULL, l_tostring);
  luaL_getmetatable(L, SIOL_CSOCKET_MT);
  lua_pushcfunction(L, l_newindex);
  lua_setfield(L, -2, "__newindex");
  lua_pop(L, 1);
  static const luaL_Reg em_methods[] = {{"emit", l_emit}, {"call", l_call}, {"emit_with_ack", l_call},
                                        {"emitWithAck", l_call}, {"timeout", l_timeout},
                                        {"compress", l_compress}, {NULL, NULL}};
  siol_class(L, SIOL_CEMITTER_MT, em_methods, NULL, em_index, NULL, NULL);
  luaL_getmetatable(L, SIOL_CEMITTER_MT);
  lua_pushcfunction(L, em_call);
  lua_setfield(L, -2, "__call");
  lua_pop(L, 1);
  siol_class(L, SIOL_CACK_MT, NULL, NULL, NULL, NULL, NULL);
  luaL_getmetatable(L, SIOL_CACK_MT);
  lua_pushcfunction(L, l_ack_call);
  lua_setfield(L, -2, "__call");
  lua_pop(L, 1);
}
