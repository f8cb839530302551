/* Sockets: one client in one namespace. The userdata lives while the core holds the socket (until
 * on_disconnect); its uservalue holds the handlers {h = {event = fn}, any = {fn...}}, socket.data
 * and the fields cached for a disconnect handler (id, nsp, auth, handshake). */
#include <string.h>

#include "private.h"

static cJSON *siol_socket_data(sio_socket_t *s, void *arg);

void siol_push_socket(lua_State *L, srv_t *srv, sio_socket_t *s) {
  sock_ud_t *u = sio_socket_get_data(s);
  if (u) {
    lua_rawgeti(L, LUA_REGISTRYINDEX, u->ref);
    return;
  }
  u = lua_newuserdatauv(L, sizeof *u, 1);
  u->srv = srv;
  u->s = s;
  u->hooks = 0;
  luaL_setmetatable(L, SIOL_SOCKET_MT);
  lua_createtable(L, 0, 4);
  lua_newtable(L);
  lua_setfield(L, -2, "h");
  lua_setiuservalue(L, -2, 1);
  lua_pushvalue(L, -1);
  u->ref = luaL_ref(L, LUA_REGISTRYINDEX);
  sio_socket_set_data(s, u);
  sio_io_on_socket_data(sio_nsp_io(sio_socket_nsp(s)), siol_socket_data, NULL);
}

/* ---- socket.data in fetch_sockets (sio_io_on_socket_data) ---- */

typedef struct {
  sock_ud_t *u;
  cJSON *out;
} data_req_t;

static int data_to_json(lua_State *L) {
  data_req_t *q = lua_touserdata(L, 1);
  lua_rawgeti(L, LUA_REGISTRYINDEX, q->u->ref);
  lua_getiuservalue(L, -1, 1);
  if (lua_getfield(L, -1, "data") == LUA_TNIL) return 0;
  siol_bufs_t b = {0};
  char err[160];
  if (siol_to_json(L, -1, &b, &q->out, err, sizeof err) == 0 && b.n) { /* the nodes exchange JSON */
    cJSON_Delete(q->out);
    q->out = NULL;
  }
  siol_bufs_free(&b);
  return 0;
}

/* The socket's socket.data as JSON when fetch_sockets describes it (NULL: {}; also for what JSON
 * cannot hold: functions, binary). */
static cJSON *siol_socket_data(sio_socket_t *s, void *arg) {
  (void)arg;
  sock_ud_t *u = sio_socket_get_data(s);
  lua_State *L = u ? siol_cb_state(u->srv->st) : NULL;
  if (!L) return NULL;
  data_req_t q = {u, NULL};
  lua_pushcfunction(L, data_to_json);
  lua_pushlightuserdata(L, &q);
  if (lua_pcall(L, 1, 0, 0) != LUA_OK) {
    lua_pop(L, 1);
    cJSON_Delete(q.out);
    q.out = NULL;
  }
  return q.out;
}

static sock_ud_t *check_socket(lua_State *L, int idx) { return luaL_checkudata(L, idx, SIOL_SOCKET_MT); }

/* ---- the core's callbacks ---- */

/* A socket event's listener ended: its results are the ack (the context), unless it was answered. */
static void ack_done(lua_State *co, int ok, int first) {
  if (ok && !lua_isnil(co, SIOL_CO_CTX)) siol_ack_results(co, SIOL_CO_CTX, first);
}
static const siol_fin_t ack_fin = {ack_done, 1}; /* no values: no ack to send */

/* Pushes t[key] (t absolute, without a metatable) for one of the state's interned keys. */
static int get_key(lua_State *L, int t, int key) {
  lua_rawgeti(L, LUA_REGISTRYINDEX, key);
  return lua_rawget(L, t);
}

void siol_socket_dispatch(lua_State *L, srv_t *srv, int uv, const char *event, int first, int na, int ack) {
  get_key(L, uv, srv->st->key_h);
  int h = lua_gettop(L);
  lua_pushstring(L, event);
  lua_pushvalue(L, -1);
  if (lua_rawget(L, h) == LUA_TTABLE) /* the name, made once, is also the listeners' detail */
    siol_listen_run_at(srv->st, L, h, event, h + 1, h + 2, first, na, ack, ack ? &ack_fin : NULL, "handler for",
                       NULL);
  lua_settop(L, h - 1);
}

void siol_on_event(sio_socket_t *s, const char *event, const sio_args_t *args, int64_t ack_id) {
  srv_t *srv = siol_srv_of_nsp(sio_socket_nsp(s));
  lua_State *L = siol_cb_state(srv->st);
  if (!L) return;
  int top = lua_gettop(L);
  luaL_checkstack(L, 8, NULL);
  siol_push_socket(L, srv, s);
  int sock = lua_gettop(L);
  int hooks = ((sock_ud_t *)lua_touserdata(L, sock))->hooks;
  lua_getiuservalue(L, sock, 1);
  int uv = lua_gettop(L);
  /* catch-all listeners first, as socket.onAny */
  if (hooks) {
    if (get_key(L, uv, srv->st->key_any) == LUA_TTABLE)
      siol_spawn_catch_alls(srv->st, L, lua_gettop(L), "catch-all listener for", event, args);
    lua_settop(L, uv);
  }
  int first = uv + 1;
  int na = siol_push_args(L, args);
  int ack = 0;
  siol_echo_t echo;
  if (ack_id >= 0) {
    siol_echo_record(L, &echo, args, first, na);
    siol_push_ack(L, srv->st, s, ack_id);
    ack = lua_gettop(L);
    if (echo.args) siol_ack_set_echo(L, ack, &echo);
    na++;
  }
  /* then the packet middleware (socket:use), when there is one, else the listeners */
  int use = hooks && get_key(L, uv, srv->st->key_use) == LUA_TTABLE;
  if (hooks) lua_pop(L, 1);
  if (use) siol_use_start(L, srv, sock, uv, event, first, na, ack);
  else siol_socket_dispatch(L, srv, uv, event, first, na, ack);
  if (ack) siol_ack_dispatched(L, srv->st, ack);
  lua_settop(L, top);
}

static void call_socket_handler(sio_socket_t *s, const char *name, const char *reason) {
  srv_t *srv = siol_srv_of_nsp(sio_socket_nsp(s));
  lua_State *L = siol_cb_state(srv->st);
  if (!L || !sio_socket_get_data(s)) return;
  int top = lua_gettop(L);
  siol_push_socket(L, srv, s);
  lua_getiuservalue(L, -1, 1);
  lua_getfield(L, -1, "h");
  int h = lua_gettop(L);
  if (lua_getfield(L, h, name) == LUA_TTABLE) {
    lua_pushstring(L, reason);
    siol_listen_run(srv->st, L, h, name, h + 1, h + 2, 1, 0, NULL, "handler for", NULL);
  }
  lua_settop(L, top);
}

void siol_on_disconnecting(sio_socket_t *s, const char *reason) { call_socket_handler(s, "disconnecting", reason); }

static void build_id(lua_State *L, sock_ud_t *u);
static void build_nsp(lua_State *L, sock_ud_t *u);

void siol_on_disconnect(sio_socket_t *s, const char *reason) {
  srv_t *srv = siol_srv_of_nsp(sio_socket_nsp(s));
  lua_State *L = siol_cb_state(srv->st);
  sock_ud_t *u = sio_socket_get_data(s);
  if (L && u) {
    /* kept for what outlives the connection: socket.id, socket.nsp, and its broadcast emitters */
    lua_rawgeti(L, LUA_REGISTRYINDEX, u->ref);
    lua_getiuservalue(L, -1, 1);
    build_id(L, u);
    lua_setfield(L, -2, "id");
    build_nsp(L, u);
    lua_setfield(L, -2, "nsp");
    lua_pop(L, 2);
  }
  call_socket_handler(s, "disconnect", reason);
  u = sio_socket_get_data(s);
  sio_socket_set_data(s, NULL);
  if (L && u) {
    u->s = NULL;
    siol_unref(L, &u->ref);
  }
}

/* ---- emitting ---- */

static void on_socket_ack(sio_socket_t *s, int status, const sio_args_t *args, void *arg) {
  (void)s;
  if (status && siol_req_waits(arg)) { /* socket:call(): nil, "timeout" | "disconnected" */
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

int siol_socket_emit(lua_State *L, sock_ud_t *su, int flags, uint32_t timeout, int wait) {
  const char *event = luaL_checkstring(L, 2);
  int last = lua_gettop(L);
  int cb = 0;
  if (wait) siol_check_can_wait(L, "socket:call");
  else cb = siol_split_callback(L, 3, &last, &timeout, &flags);
  if (!su->s) { /* disconnected: a no-op, as Node's; a wait or a callback would never end */
    if (wait) {
      lua_pushnil(L);
      lua_pushliteral(L, "disconnected");
      return 2;
    }
    if (cb) return siol_push_fail(L, SIO_ECLOSED);
    lua_pushboolean(L, 1);
    return 1;
  }
  args_box_t *a = siol_check_args(L, 3, last);
  sio_args_t args = siol_args_of(a);
  int r;
  if (cb || wait) {
    siol_req_t *c = wait ? siol_req_wait(L, "socket:call") : siol_req_new(L, cb);
    r = sio_socket_emit_ack(su->s, event, &args, flags, timeout, on_socket_ack, c);
    if (r) siol_req_drop(L, c);
  } else {
    r = sio_socket_emit(su->s, event, &args, flags);
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

/* ---- methods ---- */

/* socket:on(event, fn), socket:once(event, fn): listeners, in order; "disconnect" and
 * "disconnecting" get the reason. socket:off(event[, fn]): the last listener added for fn, or
 * every listener of the event. */
static int l_on(lua_State *L) {
  check_socket(L, 1);
  return siol_obj_on(L, 0);
}
static int l_once(lua_State *L) {
  check_socket(L, 1);
  return siol_obj_on(L, 1);
}
/* socket:on_ack_first(event, fn): a listener that gets the ack function (nil when the client asked
 * for none) first, then the event's arguments: a vararg handler finds its ack with no search. */
static int l_on_ack_first(lua_State *L) {
  check_socket(L, 1);
  return siol_obj_on(L, SIOL_ACK_FIRST);
}
static int l_off(lua_State *L) {
  check_socket(L, 1);
  return siol_obj_off(L);
}
static int l_on_any(lua_State *L) {
  check_socket(L, 1)->hooks = 1;
  return siol_obj_on_any(L);
}

static int join_leave(lua_State *L, int join) {
  sio_socket_t *s = check_socket(L, 1)->s;
  if (!s) return siol_push_fail(L, SIO_ECLOSED);
  int r = 0;
  if (lua_istable(L, 2)) {
    lua_Integer n = (lua_Integer)lua_rawlen(L, 2);
    for (lua_Integer i = 1; i <= n && r == 0; i++) {
      lua_rawgeti(L, 2, i);
      const char *room = lua_tostring(L, -1);
      if (!room) return luaL_argerror(L, 2, "room names are strings");
      r = join ? sio_socket_join(s, room) : sio_socket_leave(s, room);
      lua_pop(L, 1);
    }
  } else {
    const char *room = luaL_checkstring(L, 2);
    r = join ? sio_socket_join(s, room) : sio_socket_leave(s, room);
  }
  return siol_push_ok(L, r);
}

static int l_join(lua_State *L) { return join_leave(L, 1); }
static int l_leave(lua_State *L) { return join_leave(L, 0); }

/* socket:rooms() -> {own id, then rooms in join order} */
static int l_rooms(lua_State *L) {
  sio_socket_t *s = check_socket(L, 1)->s;
  lua_newtable(L);
  size_t n = s ? sio_socket_room_count(s) : 0;
  for (size_t i = 0; i < n; i++) {
    lua_pushstring(L, sio_socket_room(s, i));
    lua_rawseti(L, -2, (lua_Integer)i + 1);
  }
  return 1;
}

static int l_disconnect(lua_State *L) {
  sio_socket_t *s = check_socket(L, 1)->s;
  if (s) sio_socket_disconnect(s, lua_toboolean(L, 2));
  return 0;
}

/* ---- fields ---- */

/* Node's socket.handshake, from the core. */
static void build_handshake(lua_State *L, sock_ud_t *u) {
  if (!u->s) {
    lua_pushnil(L);
    return;
  }
  args_box_t *box = siol_args_box(L); /* frees the tree should a Lua memory error come */
  if (!(box->json = sio_socket_handshake(u->s))) luaL_error(L, "out of memory");
  siol_push_json(L, box->json, NULL);
  siol_args_free(box);
  lua_remove(L, -2);
}

static void build_auth(lua_State *L, sock_ud_t *u) {
  if (u->s) siol_push_json(L, sio_socket_auth(u->s), NULL);
  else lua_pushnil(L);
}

/* A socket restored by connection state recovery gets its data back as it was kept (JSON). */
static void build_data(lua_State *L, sock_ud_t *u) {
  const cJSON *kept = u->s ? sio_socket_recovered_data(u->s) : NULL;
  if (kept && cJSON_IsObject(kept)) siol_push_json(L, kept, NULL);
  else lua_newtable(L);
}

static void build_recovered(lua_State *L, sock_ud_t *u) {
  lua_pushboolean(L, u->s != NULL && sio_socket_recovered(u->s));
}

static void build_id(lua_State *L, sock_ud_t *u) {
  if (u->s) lua_pushstring(L, sio_socket_id(u->s));
  else lua_pushnil(L);
}

static void build_nsp(lua_State *L, sock_ud_t *u) {
  if (u->s) siol_push_nsp(L, u->srv, sio_socket_nsp(u->s));
  else lua_pushnil(L);
}

/* Fields kept in the uservalue once built: they outlive the connection (a disconnect handler may
 * read them) and socket.data is the script's. */
static const struct {
  const char *key;
  void (*build)(lua_State *L, sock_ud_t *u);
} cached[] = {{"data", build_data}, {"id", build_id}, {"auth", build_auth},
              {"handshake", build_handshake}, {"nsp", build_nsp}, {"recovered", build_recovered}};

static int l_index(lua_State *L) {
  sock_ud_t *u = check_socket(L, 1);
  const char *key = luaL_checkstring(L, 2);
  if (siol_method(L, key) || siol_push_flag_op(L, 1, key)) return 1;
  for (size_t i = 0; i < sizeof cached / sizeof *cached; i++) {
    if (strcmp(key, cached[i].key) != 0) continue;
    lua_getiuservalue(L, 1, 1);
    if (lua_getfield(L, -1, key) == LUA_TNIL) {
      lua_pop(L, 1);
      cached[i].build(L, u);
      lua_pushvalue(L, -1);
      lua_setfield(L, -3, key);
    }
    return 1;
  }
  if (strcmp(key, "connected") == 0) {
    lua_pushboolean(L, u->s != NULL && sio_socket_connected(u->s));
    return 1;
  }
  lua_getiuservalue(L, 1, 1); /* a field of the script's own (socket.username = name), as in Node */
  lua_getfield(L, -1, key);
  if (!lua_isnil(L, -1)) return 1;
  lua_pop(L, 2);
  sio_session_t *sess = u->s ? sio_socket_session(u->s) : NULL;
  if (!sess) return 0;
  if (strcmp(key, "transport") == 0)
    lua_pushstring(L, sio_session_transport(sess) == SIO_TRANSPORT_WEBSOCKET ? "websocket" : "polling");
  else if (strcmp(key, "protocol") == 0) lua_pushinteger(L, sio_session_protocol(sess));
  else return 0;
  return 1;
}

/* The socket's own fields, which a script cannot replace; "data" may be replaced by a table. */
static const char *const builtin[] = {"id", "nsp", "auth", "handshake", "connected", "transport",
                                      "protocol", "recovered", "broadcast", "volatile", "locally", NULL};

/* socket.data = t, or a field of the script's own, as Node's sockets take them (socket.username =
 * name, socket.sessionID = id in socket.io's examples): kept with the socket, across reloads too, and
 * readable after it disconnected. Methods and the socket's own fields are refused. */
static int l_newindex(lua_State *L) {
  check_socket(L, 1);
  const char *key = luaL_checkstring(L, 2);
  if (strcmp(key, "data") != 0) {
    int refused = siol_method(L, key);
    if (refused) lua_pop(L, 1);
    for (int i = 0; !refused && builtin[i]; i++) refused = strcmp(key, builtin[i]) == 0;
    if (refused) return luaL_error(L, "socket.%s is read-only (keep your values in socket.data)", key);
  }
  if (strcmp(key, "any") == 0) check_socket(L, 1)->hooks = 1; /* (where catch-alls are kept) */
  lua_getiuservalue(L, 1, 1);
  lua_pushvalue(L, 3);
  lua_setfield(L, -2, key);
  return 0;
}

static int l_tostring(lua_State *L) {
  sock_ud_t *u = check_socket(L, 1);
  lua_pushfstring(L, "sio.socket (%s)", u->s ? sio_socket_id(u->s) : "disconnected");
  return 1;
}

void siol_open_socket(lua_State *L) {
  static const luaL_Reg methods[] = {
      {"on", l_on}, {"once", l_once}, {"on_ack_first", l_on_ack_first}, {"off", l_off}, {"on_any", l_on_any}, {"emit", siol_op_emit},
      {"prepend_any", siol_l_prepend_any}, {"off_any", siol_l_off_any}, {"listeners_any", siol_l_listeners_any},
      {"on_any_outgoing", siol_l_on_any_outgoing}, {"prepend_any_outgoing", siol_l_prepend_any_outgoing},
      {"off_any_outgoing", siol_l_off_any_outgoing}, {"listeners_any_outgoing", siol_l_listeners_any_outgoing},
      {"listeners", siol_l_listeners}, {"remove_all_listeners", siol_l_remove_all_listeners}, {"use", siol_l_use},
      {"call", siol_op_call},
      {"timeout", siol_op_timeout}, {"compress", siol_op_compress}, {"to", siol_op_to},
      {"except", siol_op_except}, {"join", l_join}, {"leave", l_leave}, {"rooms", l_rooms},
      {"disconnect", l_disconnect}, {NULL, NULL}};
  siol_class(L, SIOL_SOCKET_MT, methods, NULL, l_index, NULL, l_tostring);
  luaL_getmetatable(L, SIOL_SOCKET_MT);
  lua_pushcfunction(L, l_newindex);
  lua_setfield(L, -2, "__newindex");
  lua_pop(L, 1);
}
