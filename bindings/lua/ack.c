/* The ack function a handler gets when the client asked for an acknowledgement: a userdata with
 * __call: answers once, and outlives its socket (then answers SIO_ECLOSED).
 *
 * Every event with an ack makes one, and most are answered before their event's dispatch ends:
 * during the dispatch an ack answers through its socket (kept on the dispatch's stack) with no
 * handle, and has no finalizer; its dispatch's end (siol_ack_dispatched) gives an unanswered one the
 * core's handle and the metatable with __gc (which frees the handle once the ack is collected).
 * The checks compare metatables with the ones the C functions below hold as upvalues (1: with
 * __gc, 2: without; 3 for is_ack and split_ack: the client ack's) instead of looking one up by
 * name. */
#include "private.h"

typedef struct {
  sock_ud_t *su;           /* its socket while its event is being dispatched, else NULL */
  sio_ack_t *h;            /* after the dispatch, unanswered: the core's handle (NULL: out of memory) */
  const siol_echo_t *echo; /* its event's args while the event is being dispatched, else NULL */
  int64_t id;
  unsigned spent : 1;      /* answered during the dispatch */
  unsigned closed : 1;     /* its socket was gone when the dispatch ended: answers SIO_ECLOSED */
} ack_ud_t;

enum { UP_KEPT = 1, UP_FRESH = 2, UP_CLIENT = 3 };

static int has_mt(lua_State *L, int idx, int up) { return lua_rawequal(L, -1, lua_upvalueindex(up)); }

/* The ack at idx, or NULL (luaL_testudata for either metatable). */
static ack_ud_t *test_ack(lua_State *L, int idx) {
  ack_ud_t *a = lua_touserdata(L, idx);
  if (!a || !lua_getmetatable(L, idx)) return NULL;
  int same = has_mt(L, -1, UP_FRESH) || has_mt(L, -1, UP_KEPT);
  lua_pop(L, 1);
  return same ? a : NULL;
}

static ack_ud_t *check_ack(lua_State *L, int idx) {
  ack_ud_t *a = test_ack(L, idx);
  if (!a) luaL_checkudata(L, idx, SIOL_ACK_MT); /* raises its usual error */
  return a;
}

static int is_any_ack(lua_State *L, int idx) {
  if (test_ack(L, idx)) return 1;
  if (!lua_touserdata(L, idx) || !lua_getmetatable(L, idx)) return 0;
  int same = has_mt(L, -1, UP_CLIENT);
  lua_pop(L, 1);
  return same;
}

static int ack_gc(lua_State *L) {
  ack_ud_t *a = check_ack(L, 1);
  sio_ack_free(a->h);
  a->h = NULL;
  return 0;
}

void siol_push_ack(lua_State *L, const siol_state_t *st, sio_socket_t *s, int64_t ack_id) {
  ack_ud_t *a = lua_newuserdatauv(L, sizeof *a, 0);
  a->su = sio_socket_get_data(s);
  a->h = NULL;
  a->echo = NULL;
  a->id = ack_id;
  a->spent = a->closed = 0;
  lua_rawgeti(L, LUA_REGISTRYINDEX, st->ack_mt_fresh);
  lua_setmetatable(L, -2);
}

void siol_ack_set_echo(lua_State *L, int idx, const siol_echo_t *e) {
  ack_ud_t *a = lua_touserdata(L, idx);
  if (a) a->echo = e;
}

void siol_ack_dispatched(lua_State *L, const siol_state_t *st, int idx) {
  ack_ud_t *a = lua_touserdata(L, idx);
  sio_socket_t *s = a->su ? a->su->s : NULL;
  a->echo = NULL; /* the args are the core's only during the dispatch */
  a->su = NULL;   /* the socket's userdata is anchored only during the dispatch */
  if (a->spent) return;
  if (!s) {
    a->closed = 1;
    return;
  }
  a->h = sio_socket_ack_handle(s, a->id);
  if (!a->h) return;
  lua_rawgeti(L, LUA_REGISTRYINDEX, st->ack_mt); /* kept for later: freed by __gc */
  lua_setmetatable(L, idx);
}

/* Whether a can still be answered (as far as it knows: a socket that went may answer SIO_ECLOSED). */
static int ack_open(const ack_ud_t *a) { return a->su ? !a->spent && a->su->s : a->h && !sio_ack_done(a->h); }

/* Sends the answer: through its socket during the dispatch, else through its handle (the caller
 * checked that it has one). */
static int ack_send(ack_ud_t *a, const sio_args_t *args) {
  if (!a->su) return sio_ack_send(a->h, args);
  if (a->spent) return SIO_EALREADY;
  if (!a->su->s) return SIO_ECLOSED;
  int r = sio_socket_ack(a->su->s, a->id, args);
  if (r == 0) a->spent = 1;
  return r;
}

/* The failure of a call without a handle: answered before (raises), or out of memory. */
static int no_handle(lua_State *L, const ack_ud_t *a) {
  if (a->spent) return luaL_error(L, "this acknowledgement was already sent");
  return siol_push_ok(L, a->closed ? SIO_ECLOSED : SIO_ENOMEM);
}

/* ack(...): true, or nil, "ECLOSED: ...", "ECLOSED" once the socket is gone; raises when it was
 * answered before, and on a value that cannot be sent (the ack stays unanswered then). */
static int l_call(lua_State *L) {
  ack_ud_t *a = check_ack(L, 1);
  if (a->su ? a->spent : !a->h) return no_handle(L, a);
  const sio_args_t *same = siol_echo_match(L, a->echo, 2, lua_gettop(L));
  int r;
  if (same) { /* an echo: the packet's own args, not a copy of them */
    r = ack_send(a, same);
  } else {
    args_box_t *box = siol_check_args(L, 2, lua_gettop(L));
    sio_args_t args = siol_args_of(box);
    r = ack_send(a, &args);
    siol_args_free(box);
  }
  if (r == SIO_EALREADY) return luaL_error(L, "this acknowledgement was already sent");
  return siol_push_ok(L, r);
}

void siol_ack_results(lua_State *L, int idx, int first) {
  ack_ud_t *a = lua_touserdata(L, idx);
  if (!ack_open(a) || lua_gettop(L) < first) return;
  const sio_args_t *same = siol_echo_match(L, a->echo, first, lua_gettop(L));
  if (same) {
    ack_send(a, same);
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
  ack_send(a, &args);
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

/* Pushes the two ack metatables (kept, fresh) as the upvalues of a C function; pops nothing. */
static void push_mts(lua_State *L, const siol_state_t *st) {
  lua_rawgeti(L, LUA_REGISTRYINDEX, st->ack_mt);
  lua_rawgeti(L, LUA_REGISTRYINDEX, st->ack_mt_fresh);
}

void siol_open_ack(lua_State *L) {
  siol_state_t *st = siol_state(L);
  /* kept: __gc; fresh: the same fields but __gc */
  siol_class(L, SIOL_ACK_MT, NULL, NULL, NULL, NULL, NULL);
  luaL_getmetatable(L, SIOL_ACK_MT);
  lua_newtable(L);
  lua_pushnil(L);
  while (lua_next(L, -3)) {
    lua_pushvalue(L, -2);
    lua_insert(L, -2);
    lua_rawset(L, -4);
  }
  st->ack_mt_fresh = luaL_ref(L, LUA_REGISTRYINDEX);
  st->ack_mt = luaL_ref(L, LUA_REGISTRYINDEX);
  static const char *const names[] = {"__call", "__gc"};
  lua_CFunction fns[] = {l_call, ack_gc};
  for (int i = 0; i < 2; i++) {
    lua_rawgeti(L, LUA_REGISTRYINDEX, st->ack_mt);
    push_mts(L, st);
    lua_pushcclosure(L, fns[i], 2);
    lua_setfield(L, -2, names[i]);
    lua_pop(L, 1);
  }
  lua_rawgeti(L, LUA_REGISTRYINDEX, st->ack_mt_fresh); /* the same __call */
  lua_rawgeti(L, LUA_REGISTRYINDEX, st->ack_mt);
  lua_getfield(L, -1, "__call");
  lua_setfield(L, -3, "__call");
  lua_pop(L, 2);
}

void siol_ack_functions(lua_State *L) {
  static const luaL_Reg fns[] = {{"is_ack", l_is_ack}, {"split_ack", l_split_ack}, {NULL, NULL}};
  push_mts(L, siol_state(L));
  luaL_getmetatable(L, SIOL_CACK_MT);
  luaL_setfuncs(L, fns, 3);
}
