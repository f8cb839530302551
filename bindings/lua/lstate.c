/* The module state, one per Lua state, and what keeps it alive (the part luv's lhandle.c plays):
 * a userdata in the registry points at it, and every malloc'd object that the core may call back
 * after lua_close() holds it, so that the last one to go frees it. */
#include <stdlib.h>

#include "private.h"

#define STATE_KEY "sio.state"

siol_state_t *siol_state(lua_State *L) {
  lua_getfield(L, LUA_REGISTRYINDEX, STATE_KEY);
  siol_state_t **box = lua_touserdata(L, -1);
  lua_pop(L, 1);
  return box ? *box : NULL;
}

void siol_hold(siol_state_t *st) { st->live++; }

void siol_release(siol_state_t *st) {
  if (--st->live == 0 && st->dead) free(st);
}

lua_State *siol_cb_state(const siol_state_t *st) { return st && !st->dead ? st->L : NULL; }

uv_loop_t *siol_loop(lua_State *L, siol_state_t *st) {
  if (st->loop) return st->loop;
  int r = uv_loop_init(&st->own_loop);
  if (r) luaL_error(L, "sio: cannot create an event loop: %s", uv_strerror(r));
  st->own_loop_ready = 1;
  st->loop = &st->own_loop;
  return st->loop;
}

void siol_unref(lua_State *L, int *ref) {
  if (*ref != LUA_NOREF && *ref != LUA_REFNIL) luaL_unref(L, LUA_REGISTRYINDEX, *ref);
  *ref = LUA_NOREF;
}

/* lua_close(): every server and timer is closed without calling into Lua again; our own loop runs
 * until they are, and the state goes with the last hold. */
static int state_gc(lua_State *L) {
  siol_state_t **box = lua_touserdata(L, 1);
  siol_state_t *st = *box;
  if (!st) return 0;
  *box = NULL;
  st->dead = 1;
  siol_shutdown(L);
  siol_clients_close(st); /* (siol_state() no longer finds st: the clients are closed here) */
  if (st->own_loop_ready) {
    uv_run(&st->own_loop, UV_RUN_DEFAULT);
    uv_loop_close(&st->own_loop);
  }
  siol_release(st); /* the module's own hold */
  return 0;
}

siol_state_t *siol_state_open(lua_State *L) {
  siol_state_t *st = siol_state(L);
  if (st) return st;
  siol_state_t **box = lua_newuserdatauv(L, sizeof *box, 0);
  *box = NULL;
  lua_createtable(L, 0, 1);
  lua_pushcfunction(L, state_gc);
  lua_setfield(L, -2, "__gc");
  lua_setmetatable(L, -2);
  st = calloc(1, sizeof *st);
  if (!st) luaL_error(L, "out of memory");
  st->L = L;
  st->live = 1;
  st->spare_ref = st->cur_ref = LUA_NOREF;
  st->log_level = SIOL_LOG_INFO;
  st->core_log_ref = LUA_NOREF;
  st->core_log_level = SIO_LOG_WARN;
  *box = st;
  lua_setfield(L, LUA_REGISTRYINDEX, STATE_KEY);
  lua_pushliteral(L, "h");
  st->key_h = luaL_ref(L, LUA_REGISTRYINDEX);
  lua_pushliteral(L, "any");
  st->key_any = luaL_ref(L, LUA_REGISTRYINDEX);
  lua_pushliteral(L, "use");
  st->key_use = luaL_ref(L, LUA_REGISTRYINDEX);
  return st;
}

void siol_host(lua_State *L, uv_loop_t *loop, const siol_hooks_t *hooks) {
  siol_state_t *st = siol_state(L);
  if (!st) return;
  st->loop = loop;
  st->hosted = 1;
  if (hooks) st->hooks = *hooks;
}

void siol_host_workers(lua_State *L, sio_workers_t *workers, unsigned index) {
  siol_state_t *st = siol_state(L);
  if (!st) return;
  st->workers = workers;
  st->worker = index;
}

int siol_worker_index(lua_State *L) {
  siol_state_t *st = siol_state(L);
  return st && st->workers ? (int)st->worker : -1;
}

void siol_class(lua_State *L, const char *mt, const luaL_Reg *methods, const luaL_Reg *more,
                lua_CFunction index, lua_CFunction gc, lua_CFunction tostring) {
  luaL_newmetatable(L, mt);
  lua_newtable(L);
  if (methods) luaL_setfuncs(L, methods, 0);
  if (more) luaL_setfuncs(L, more, 0);
  if (index) lua_pushcfunction(L, index);
  else lua_pushvalue(L, -1);
  lua_setfield(L, -3, "__index");
  lua_setfield(L, -2, "methods");
  if (gc) {
    lua_pushcfunction(L, gc);
    lua_setfield(L, -2, "__gc");
  }
  if (tostring) {
    lua_pushcfunction(L, tostring);
    lua_setfield(L, -2, "__tostring");
  }
  lua_pop(L, 1);
}

int siol_method(lua_State *L, const char *key) {
  lua_getmetatable(L, 1);
  lua_getfield(L, -1, "methods");
  if (lua_getfield(L, -1, key) != LUA_TNIL) {
    lua_replace(L, -3);
    lua_pop(L, 1);
    return 1;
  }
  lua_pop(L, 3);
  return 0;
}
