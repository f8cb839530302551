/* The ack function a handler gets when the client asked for an acknowledgement: a userdata with
 * __call over the core's one-shot sio_ack_t, which answers once and outlives its socket. */
#include "private.h"

typedef struct {
  sio_ack_t *h; /* NULL when it could not be made (out of memory) */
  const siol_echo_t *echo; /* its event's args while the event is being dispatched, else NULL */
} ack_ud_t;

/* Every event makes an ack and most call it: its checks compare metatables with the one held as
 * upvalue 1 of the C functions below (and a registry reference, st->ack_mt) instead of looking it
 * up by name. Upvalue 2 of is_ack and split_ack: the client ack metatable. */
static int has_mt(lua_State *L, int idx, int up) {
  if (!lua_getmetatable(L, idx)) return 0;
  int same = lua_rawequal(L, -1, lua_upvalueindex(up));
  lua_pop(L, 1);
  return same;
}

/* The ack at idx, or NULL (luaL_testudata(L, idx, SIOL_ACK_MT)); upvalue 1 is the metatable. */
static ack_ud_t *test_ack(lua_State *L, int idx) {
  ack_ud_t *a = lua_touserdata(L, idx);
  return a && has_mt(L, idx, 1) ? a : NULL;
}

static ack_ud_t *check_ack(lua_State *L, int idx) {
  ack_ud_t *a = test_ack(L, idx);
  if (!a) luaL_checkudata(L, idx, SIOL_ACK_MT); /* raises its usual error */
  return a;
}

static int is_any_ack(lua_State *L, int idx) {
  return test_ack(L, idx) != NULL || (lua_touserdata(L, idx) && has_mt(L, idx, 2));
}

static int ack_gc(lua_State *L) {
  ack_ud_t *a = check_ack(L, 1);
  sio_ack_free(a->h);
  a->h = NULL;
  return 0;
}

void siol_push_ack(lua_State *L, const siol_state_t *st, sio_socket_t *s, int64_t ack_id) {
  ack_ud_t *a = lua_newuserdatauv(L, sizeof *a, 0);
  a->h = NULL;
  a->echo = NULL;
  lua_rawgeti(L, LUA_REGISTRYINDEX, st->ack_mt);
  lua_setmetatable(L, -2);
  a->h = sio_socket_ack_handle(s, ack_id);
}

/* ack(...): true, or nil, "ECLOSED: ...", "ECLOSED" once the socket is gone; raises when it was
 * answered before, and on a value that cannot be sent (the ack stays unanswered then). */
void siol_ack_set_echo(lua_State *L, int idx, const siol_echo_t *e) {
  ack_ud_t *a = lua_touserdata(L, idx);
  if (a) a->echo = e;
}

static int l_call(lua_State *L) {
  ack_ud_t *a = check_ack(L, 1);
  const sio_args_t *same = a->h ? siol_echo_match(L, a->echo, 2, lua_gettop(L)) : NULL;
  if (same) { /* an echo: the packet's own args, not a copy of them */
    int r = sio_ack_send(a->h, same);
    if (r == SIO_EALREADY) return luaL_error(L, "this acknowledgement was already sent");
    return siol_push_ok(L, r);
  }
  args_box_t *box = siol_check_args(L, 2, lua_gettop(L));
  sio_args_t args = siol_args_of(box);
  int r = a->h ? sio_ack_send(a->h, &args) : SIO_ENOMEM;
  siol_args_free(box);
  if (r == SIO_EALREADY) return luaL_error(L, "this acknowledgement was already sent");
  return siol_push_ok(L, r);
}

void siol_ack_results(lua_State *L, int idx, int first) {
  ack_ud_t *a = lua_touserdata(L, idx);
  if (!a->h || sio_ack_done(a->h) || lua_gettop(L) < first) return;
  const sio_args_t *same = siol_echo_match(L, a->echo, first, lua_gettop(L));
  if (same) {
    sio_ack_send(a->h, same);
    return;
  }
  cJSON *json;
  siol_bufs_t b = {0};
  char err[256];
  if (siol_args_to_json(L, first, lua_gettop(L), &b, &json, err, sizeof err) < 0) {
    siol_log(L, SIOL_LOG_ERROR, "cannot send a handler's return values as its ack: %s", err);
    return;
  }
  sio_args_t args = {json, b.v, b.n};
  sio_ack_send(a->h, &args);
  cJSON_Delete(json);
  siol_bufs_free(&b);
}

static int l_is_ack(lua_State *L) {
  lua_pushboolean(L, is_any_ack(L, 1));
  return 1;
}

/* sio.split_ack(...) -> ack or nil, then the other values: a vararg handler's arguments with the
 * ack function (the last one, when it is one) moved first, which needs no table:
 *   local function echo(ack, ...) if ack then ack(...) end end
 *   socket:on("echo", function(...) echo(sio.split_ack(...)) end) */
static int l_split_ack(lua_State *L) {
  int n = lua_gettop(L);
  if (n > 0 && is_any_ack(L, n)) {
    lua_rotate(L, 1, 1);
    return n;
  }
  luaL_checkstack(L, 1, "too many arguments");
  lua_pushnil(L);
  lua_insert(L, 1);
  return n + 1;
}

void siol_open_ack(lua_State *L) {
  siol_class(L, SIOL_ACK_MT, NULL, NULL, NULL, NULL, NULL);
  luaL_getmetatable(L, SIOL_ACK_MT);
  lua_pushvalue(L, -1);
  lua_pushcclosure(L, l_call, 1);
  lua_setfield(L, -2, "__call");
  lua_pushvalue(L, -1);
  lua_pushcclosure(L, ack_gc, 1);
  lua_setfield(L, -2, "__gc");
  siol_state(L)->ack_mt = luaL_ref(L, LUA_REGISTRYINDEX);
}

void siol_ack_functions(lua_State *L) {
  static const luaL_Reg fns[] = {{"is_ack", l_is_ack}, {"split_ack", l_split_ack}, {NULL, NULL}};
  luaL_getmetatable(L, SIOL_ACK_MT);
  luaL_getmetatable(L, SIOL_CACK_MT);
  luaL_setfuncs(L, fns, 2);
}
