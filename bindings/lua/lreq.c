/* What lives for one call or one callback (luv's lreq.c): a Lua function the core calls back once
 * (an ack callback, a cluster request's), and a call's converted arguments. */
#include <stdlib.h>
#include <string.h>

#include "private.h"

struct siol_req_s {
  siol_state_t *st;
  int fn_ref; /* the callback, or LUA_NOREF for a waiting coroutine */
  int co_ref; /* the waiting coroutine */
  lua_State *co;
  int status;
};

static siol_req_t *req_alloc(lua_State *L, int fn_ref, int co_ref) {
  siol_req_t *r = malloc(sizeof *r);
  if (!r) {
    luaL_unref(L, LUA_REGISTRYINDEX, fn_ref);
    if (co_ref != LUA_NOREF) siol_give_co(L, co_ref);
    luaL_error(L, "out of memory");
  }
  r->st = siol_state(L);
  r->fn_ref = fn_ref;
  r->co_ref = co_ref;
  r->co = co_ref != LUA_NOREF ? L : NULL;
  r->status = 0;
  siol_hold(r->st);
  return r;
}

siol_req_t *siol_req_new(lua_State *L, int fn) {
  /* The reference first: luaL_ref may raise (a Lua memory error), and r must not exist then. */
  lua_pushvalue(L, fn);
  return req_alloc(L, luaL_ref(L, LUA_REGISTRYINDEX), LUA_NOREF);
}

siol_req_t *siol_req_wait(lua_State *L, const char *fn) { return req_alloc(L, LUA_NOREF, siol_take_co(L, fn)); }

int siol_req_yield(lua_State *L) { return lua_yield(L, 0); }

int siol_req_waits(const siol_req_t *r) { return r->co != NULL; }

void siol_req_drop(lua_State *L, siol_req_t *r) {
  if (r->co) siol_give_co(L, r->co_ref);
  else luaL_unref(L, LUA_REGISTRYINDEX, r->fn_ref);
  siol_release(r->st);
  free(r);
}

lua_State *siol_req_begin(siol_req_t *r, int status) {
  lua_State *L = siol_cb_state(r->st);
  r->status = status;
  if (!L) return NULL;
  luaL_checkstack(L, 8, NULL);
  if (r->co) return L;
  lua_pushnil(L); /* the context */
  lua_rawgeti(L, LUA_REGISTRYINDEX, r->fn_ref);
  luaL_unref(L, LUA_REGISTRYINDEX, r->fn_ref);
  if (status == 0) lua_pushnil(L);
  else lua_pushfstring(L, "%s: %s", sio_err_name(status), sio_strerror(status));
  return L;
}

void siol_req_finish(siol_req_t *r, lua_State *L, int n, const char *what) {
  siol_state_t *st = r->st;
  if (L && r->co) {
    if (r->status) {
      lua_pushfstring(L, "%s: %s", sio_err_name(r->status), sio_strerror(r->status));
      n++;
    }
    siol_wake(st, L, r->co, r->co_ref, n);
  } else if (L) {
    siol_spawn(st, L, NULL, what, NULL, 1 + n);
  }
  free(r);
  siol_release(st);
}

void siol_push_json_array(lua_State *L, const cJSON *j, const sio_args_t *a) {
  cJSON empty = {0};
  empty.type = cJSON_Array;
  siol_push_json(L, cJSON_IsArray(j) ? j : &empty, a);
}

/* ---- a call's arguments ---- */

#define SPARE_KEY "sio.args.spare"

void siol_args_free(args_box_t *a) {
  cJSON_Delete(a->json);
  a->json = NULL;
  siol_bufs_free(&a->b);
  cJSON_free(a->text);
  a->text = NULL;
  a->busy = 0;
}

static int args_gc(lua_State *L) {
  siol_args_free(luaL_checkudata(L, 1, SIOL_ARGS_MT));
  return 0;
}

args_box_t *siol_args_box(lua_State *L) {
  args_box_t *a = lua_newuserdatauv(L, sizeof *a, 0);
  memset(a, 0, sizeof *a);
  luaL_setmetatable(L, SIOL_ARGS_MT);
  return a;
}

args_box_t *siol_check_args(lua_State *L, int first, int last) {
  args_box_t *a = NULL;
  if (lua_getfield(L, LUA_REGISTRYINDEX, SPARE_KEY) == LUA_TUSERDATA) a = lua_touserdata(L, -1);
  if (!a || a->busy) { /* in use further up: a box of this call's own */
    lua_pop(L, 1);
    a = siol_args_box(L);
  }
  a->busy = 1;
  char err[256];
  if (siol_args_to_json(L, first, last, &a->b, &a->json, err, sizeof err) < 0) {
    siol_args_free(a);
    luaL_error(L, "%s", err);
  }
  return a;
}

sio_args_t siol_args_of(const args_box_t *a) { return (sio_args_t){a->json, a->b.v, a->b.n}; }

void siol_open_lreq(lua_State *L) {
  siol_class(L, SIOL_ARGS_MT, NULL, NULL, NULL, args_gc, NULL);
  siol_args_box(L); /* the kept box: its __gc frees what a Lua memory error left in it */
  lua_setfield(L, LUA_REGISTRYINDEX, SPARE_KEY);
}
