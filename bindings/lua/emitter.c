/* Emitters: the reference's broadcast operators (io:to(room), :except(room), socket.broadcast,
 * .volatile, .locally, :compress(b), :timeout(ms)), each a new userdata as the reference's
 * operators return a copy, and emit() on any of them, on a namespace or on a socket. Selections
 * (fetch_sockets, sockets_join ...) on them are in selection.c. */
#include <string.h>

#include "private.h"

/* An emitter's uservalue: {target = nsp or socket userdata, rooms = {...}, except = {...}}. */
static op_ud_t *new_op(lua_State *L, int kind, int target) {
  target = lua_absindex(L, target);
  op_ud_t *o = lua_newuserdatauv(L, sizeof *o, 1);
  o->kind = kind;
  o->flags = 0;
  o->timeout_ms = 0;
  luaL_setmetatable(L, SIOL_OP_MT);
  lua_createtable(L, 0, 3);
  lua_pushvalue(L, target);
  lua_setfield(L, -2, "target");
  lua_newtable(L);
  lua_setfield(L, -2, "rooms");
  lua_newtable(L);
  lua_setfield(L, -2, "except");
  lua_setiuservalue(L, -2, 1);
  return o;
}

static void copy_list(lua_State *L, int from_uv, int to_uv, const char *key) {
  from_uv = lua_absindex(L, from_uv);
  to_uv = lua_absindex(L, to_uv);
  lua_getfield(L, from_uv, key);
  lua_getfield(L, to_uv, key);
  lua_Integer n = (lua_Integer)lua_rawlen(L, -2);
  for (lua_Integer i = 1; i <= n; i++) {
    lua_rawgeti(L, -2, i);
    lua_rawseti(L, -2, i);
  }
  lua_pop(L, 2);
}

/* Appends a room name or a list of them (argument idx) to the emitter's list `key`. */
static void add_rooms(lua_State *L, int op, int idx, const char *key) {
  lua_getiuservalue(L, op, 1);
  lua_getfield(L, -1, key);
  int list = lua_gettop(L);
  if (lua_istable(L, idx)) {
    lua_Integer n = (lua_Integer)lua_rawlen(L, idx);
    for (lua_Integer i = 1; i <= n; i++) {
      lua_rawgeti(L, idx, i);
      if (lua_type(L, -1) != LUA_TSTRING && lua_type(L, -1) != LUA_TNUMBER)
        luaL_argerror(L, idx, "room names are strings");
      lua_tostring(L, -1);
      lua_rawseti(L, list, (lua_Integer)lua_rawlen(L, list) + 1);
    }
  } else {
    luaL_checkstring(L, idx);
    lua_pushvalue(L, idx);
    lua_tostring(L, -1);
    lua_rawseti(L, list, (lua_Integer)lua_rawlen(L, list) + 1);
  }
  lua_pop(L, 2);
}

/* The emitter at idx as a new one; a namespace, server or socket at idx starts a broadcast
 * operator (a socket's leaves the socket out). */
static op_ud_t *derive_op(lua_State *L, int idx) {
  idx = lua_absindex(L, idx);
  op_ud_t *from = luaL_testudata(L, idx, SIOL_OP_MT);
  if (from) {
    lua_getiuservalue(L, idx, 1);
    lua_getfield(L, -1, "target");
    op_ud_t *o = new_op(L, from->kind, -1);
    o->flags = from->flags;
    o->timeout_ms = from->timeout_ms;
    lua_getiuservalue(L, -1, 1);
    copy_list(L, -4, -1, "rooms");
    copy_list(L, -4, -1, "except");
    lua_pop(L, 1);
    lua_remove(L, -2);
    lua_remove(L, -2);
    return o;
  }
  sock_ud_t *su = luaL_testudata(L, idx, SIOL_SOCKET_MT);
  if (su) {
    /* from its namespace, leaving it out; after a disconnect as well (Node allows it): its id and
     * namespace were kept then */
    if (su->s) {
      siol_push_nsp(L, su->srv, sio_socket_nsp(su->s));
      lua_pushstring(L, sio_socket_id(su->s));
    } else {
      lua_getiuservalue(L, idx, 1);
      lua_getfield(L, -1, "nsp");
      lua_getfield(L, -2, "id");
      lua_remove(L, -3);
      if (!luaL_testudata(L, -2, SIOL_NSP_MT) || !lua_isstring(L, -1)) luaL_error(L, "the socket is disconnected");
    }
    op_ud_t *o = new_op(L, OP_BROADCAST, -2);
    lua_getiuservalue(L, -1, 1);
    lua_getfield(L, -1, "except");
    lua_pushvalue(L, -4);
    lua_rawseti(L, -2, 1);
    lua_pop(L, 2);
    lua_replace(L, -3);
    lua_pop(L, 1);
    return o;
  }
  nsp_ud_t *u = siol_check_nsp(L, idx);
  lua_rawgeti(L, LUA_REGISTRYINDEX, u->ref);
  op_ud_t *o = new_op(L, OP_BROADCAST, -1);
  lua_remove(L, -2);
  return o;
}

/* A socket's own emitter (socket:timeout(ms), socket.volatile), or a derived one. */
static op_ud_t *flag_op(lua_State *L, int idx) {
  if (luaL_testudata(L, idx, SIOL_SOCKET_MT)) return new_op(L, OP_SOCKET, idx);
  return derive_op(L, idx);
}

int siol_op_to(lua_State *L) {
  derive_op(L, 1);
  add_rooms(L, lua_gettop(L), 2, "rooms");
  return 1;
}

int siol_op_except(lua_State *L) {
  derive_op(L, 1);
  add_rooms(L, lua_gettop(L), 2, "except");
  return 1;
}

int siol_op_timeout(lua_State *L) {
  lua_Integer ms = luaL_checkinteger(L, 2);
  luaL_argcheck(L, ms > 0 && ms <= 0x7fffffff, 2, "a timeout in milliseconds");
  flag_op(L, 1)->timeout_ms = (uint32_t)ms;
  return 1;
}

int siol_op_compress(lua_State *L) {
  op_ud_t *o = flag_op(L, 1);
  /* Node's compress(false): never permessage-deflated; compress(true) is the default again (both
   * carried to other nodes as flags.compress, as Node's adapter does). */
  o->flags &= ~(SIO_EMIT_COMPRESS | SIO_EMIT_NO_COMPRESS);
  o->flags |= lua_isnone(L, 2) || lua_toboolean(L, 2) ? SIO_EMIT_COMPRESS : SIO_EMIT_NO_COMPRESS;
  return 1;
}

int siol_push_flag_op(lua_State *L, int idx, const char *key) {
  if (strcmp(key, "broadcast") == 0) {
    if (!luaL_testudata(L, idx, SIOL_SOCKET_MT)) return 0;
    derive_op(L, idx);
    return 1;
  }
  int flag = strcmp(key, "volatile") == 0 ? SIO_EMIT_VOLATILE : strcmp(key, "locally") == 0 ? SIO_EMIT_LOCAL : 0;
  if (!flag) return 0;
  flag_op(L, idx)->flags |= flag;
  return 1;
}

void siol_push_op_target(lua_State *L, int op) {
  lua_getiuservalue(L, op, 1);
  lua_getfield(L, -1, "target");
  lua_remove(L, -2);
}

/* v[0..n) = the strings of the list at index `list` (add_rooms stores strings only). */
static void list_strings(lua_State *L, int list, const char **v, size_t n) {
  for (size_t i = 0; i < n; i++) {
    lua_rawgeti(L, list, (lua_Integer)i + 1);
    v[i] = lua_tostring(L, -1); /* anchored by the list */
    lua_pop(L, 1);
  }
}

/* The three values pushed: the two lists, and a long target's array, a userdata rather than
 * malloc'd memory so that no error raised before the caller is done can leak it (nil for a short
 * one, which lives in tg). */
void siol_op_target(lua_State *L, int op, const op_ud_t *o, target_t *tg) {
  lua_getiuservalue(L, op, 1);
  lua_getfield(L, -1, "rooms");
  lua_getfield(L, -2, "except");
  lua_remove(L, -3);
  int rooms = lua_absindex(L, -2), except = lua_absindex(L, -1);
  size_t nr = lua_rawlen(L, rooms), ne = lua_rawlen(L, except);
  const char **v = tg->small;
  if (nr + ne > sizeof tg->small / sizeof *v) v = lua_newuserdatauv(L, (nr + ne) * sizeof *v, 0);
  else lua_pushnil(L);
  list_strings(L, rooms, v, nr);
  list_strings(L, except, v + nr, ne);
  tg->t = (sio_target_t){v, nr, v + nr, ne, o->flags};
}

int siol_split_callback(lua_State *L, int first, int *last, uint32_t *timeout, int *flags) {
  int top = lua_gettop(L);
  *last = top;
  if (top - 1 >= first && lua_istable(L, top) && lua_isfunction(L, top - 1)) {
    lua_getfield(L, top, "timeout");
    if (!lua_isnil(L, -1)) {
      lua_Integer ms = lua_tointeger(L, -1);
      if (ms <= 0 || ms > 0x7fffffff) luaL_error(L, "emit: options.timeout must be a positive integer (ms)");
      *timeout = (uint32_t)ms;
    }
    lua_pop(L, 1);
    lua_getfield(L, top, "volatile");
    if (lua_toboolean(L, -1)) *flags |= SIO_EMIT_VOLATILE;
    lua_pop(L, 1);
    *last = top - 2;
    return top - 1;
  }
  if (top >= first && lua_isfunction(L, top)) {
    *last = top - 1;
    return top;
  }
  return 0;
}

int siol_emit_failed(lua_State *L, int r) {
  if (r == SIO_ERESERVED || r == SIO_EINVAL) return siol_raise_detail(L, r, "emit");
  return siol_push_ok(L, r);
}

static void on_broadcast_ack(sio_nsp_t *nsp, int status, const sio_args_t *responses, void *arg) {
  (void)nsp;
  lua_State *L = siol_req_begin(arg, status);
  if (L) siol_push_json_array(L, responses ? responses->json : NULL, responses);
  siol_req_finish(arg, L, 1, "broadcast acknowledgement callback");
}

/* Emits to a namespace's sockets, those of the emitter at op when o is set; wait: call(), the
 * handler's coroutine waits for the answers (responses, then the error when there is one). */
static int broadcast_emit(lua_State *L, int op, op_ud_t *o, nsp_ud_t *u, int wait) {
  const char *event = luaL_checkstring(L, 2);
  uint32_t timeout = o ? o->timeout_ms : 0;
  int flags = o ? o->flags : 0;
  int last = lua_gettop(L);
  int cb = 0;
  if (wait) siol_check_can_wait(L, "call");
  else cb = siol_split_callback(L, 3, &last, &timeout, &flags);
  args_box_t *a = siol_check_args(L, 3, last);
  sio_args_t args = siol_args_of(a);
  target_t tg;
  memset(&tg, 0, sizeof tg);
  if (o) siol_op_target(L, op, o, &tg);
  tg.t.flags = flags;
  const sio_target_t *to = o || flags ? &tg.t : NULL;
  int r;
  if (cb || wait) {
    siol_req_t *c = wait ? siol_req_wait(L, "call") : siol_req_new(L, cb);
    r = sio_nsp_emit_ack(u->nsp, to, event, &args, timeout, on_broadcast_ack, c);
    if (r) siol_req_drop(L, c);
  } else {
    r = sio_nsp_emit(u->nsp, to, event, &args);
  }
  siol_args_free(a);
  if (wait && r == 0) return siol_req_yield(L);
  return siol_emit_failed(L, r);
}

static int emit_or_call(lua_State *L, int wait) {
  op_ud_t *o = luaL_testudata(L, 1, SIOL_OP_MT);
  if (o) {
    siol_push_op_target(L, 1);
    void *target = lua_touserdata(L, -1);
    lua_pop(L, 1); /* anchored by the emitter */
    if (o->kind == OP_SOCKET) return siol_socket_emit(L, target, o->flags, o->timeout_ms, wait);
    nsp_ud_t *u = target;
    if (u->srv->closing || u->srv->closed) return siol_push_fail(L, SIO_ECLOSED);
    return broadcast_emit(L, 1, o, u, wait);
  }
  sock_ud_t *su = luaL_testudata(L, 1, SIOL_SOCKET_MT);
  if (su) return siol_socket_emit(L, su, 0, 0, wait);
  nsp_ud_t *u = luaL_testudata(L, 1, SIOL_NSP_MT);
  srv_t *srv = u ? u->srv : siol_check_srv(L, 1);
  /* a broadcast from a disconnect handler during shutdown: nobody is left to get it */
  if (srv->closing || srv->closed) return siol_push_fail(L, SIO_ECLOSED);
  return broadcast_emit(L, 1, NULL, siol_check_nsp(L, 1), wait);
}

/* emit(event, ...[, callback[, {timeout = ms, volatile = b}]]) on an emitter, a namespace, a
 * server or a socket. A broadcast's callback gets (err, responses). */
int siol_op_emit(lua_State *L) { return emit_or_call(L, 0); }
int siol_op_call(lua_State *L) { return emit_or_call(L, 1); }

static int l_index(lua_State *L) {
  luaL_checkudata(L, 1, SIOL_OP_MT);
  const char *key = luaL_checkstring(L, 2);
  if (siol_method(L, key)) return 1;
  return siol_push_flag_op(L, 1, key);
}

void siol_open_emitter(lua_State *L) {
  static const luaL_Reg methods[] = {{"emit", siol_op_emit},
                                     {"call", siol_op_call},
                                     {"to", siol_op_to},
                                     {"except", siol_op_except},
                                     {"timeout", siol_op_timeout},
                                     {"compress", siol_op_compress},
                                     {"fetch_sockets", siol_fetch_sockets},
                                     {"sockets_join", siol_sockets_join},
                                     {"sockets_leave", siol_sockets_leave},
                                     {"disconnect_sockets", siol_disconnect_sockets},
                                     {NULL, NULL}};
  siol_class(L, SIOL_OP_MT, methods, NULL, l_index, NULL, NULL);
}
