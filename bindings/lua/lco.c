/* Handler coroutines (OpenResty's model): every call into a script's handler runs in a coroutine,
 * so that the waiting functions (socket:call, sio.sleep, the cluster requests without a callback)
 * yield it and the loop resumes it with their results.
 *
 * A coroutine starts on a C function of ours (`body`) that calls the handler in protected mode
 * with a traceback and, once it returned (at once or after yields), runs the caller's finisher on
 * its results (a socket event's: send them as the ack) or logs its error. So a coroutine knows how
 * to end by itself and whoever resumes it only looks at the status.
 *
 * Anchors. The running coroutine is referenced from the registry (st->cur_ref); a waiting function
 * takes that reference into its wait context (siol_req_wait), which is what anchors the coroutine
 * while it waits and what resumes it. A coroutine that ends without waiting goes back to the spare
 * slot (one kept coroutine: most handlers never wait, and then no coroutine is made per call). */
#include <stdint.h>

#include "private.h"

/* The coroutine's stack at the start: the finisher, what (a static string), the detail, the
 * context, the handler and its arguments. */
enum { CO_FIN = 1, CO_WHAT, CO_DETAIL, CO_CTX_, CO_MSGH };

static int body_k(lua_State *co, int status, lua_KContext k) {
  (void)k;
  const siol_fin_t *fin = lua_touserdata(co, CO_FIN);
  if (status == LUA_OK || status == LUA_YIELD) {
    if (fin) fin->done(co, 1, CO_MSGH + 1);
    return 0;
  }
  const char *what = lua_touserdata(co, CO_WHAT);
  const char *detail = lua_tostring(co, CO_DETAIL);
  const char *msg = lua_tostring(co, -1);
  siol_log(co, SIOL_LOG_ERROR, "error in %s%s%s: %s", what, detail ? " " : "", detail ? detail : "",
           msg ? msg : "?");
  lua_copy(co, -1, CO_MSGH + 1); /* the error stays at `first` for the finisher */
  lua_settop(co, CO_MSGH + 1);
  if (fin) fin->done(co, 0, CO_MSGH + 1);
  return 0;
}

static int body(lua_State *co) {
  int nargs = lua_gettop(co) - CO_MSGH;
  lua_pushcfunction(co, siol_msgh);
  lua_insert(co, CO_MSGH);
  return body_k(co, lua_pcallk(co, nargs, LUA_MULTRET, CO_MSGH, 0, body_k), 0);
}

/* Resumes co (anchored by ref, which this call consumes) with n values on its stack. */
static void co_resume(siol_state_t *st, lua_State *from, lua_State *co, int ref, int n) {
  lua_State *prev = st->L, *prev_co = st->cur_co;
  int prev_ref = st->cur_ref;
  st->L = st->cur_co = co;
  st->cur_ref = ref;
  int nres;
  int r = lua_resume(co, from, n, &nres);
  ref = st->cur_ref; /* LUA_NOREF when a waiting function took it */
  st->L = prev;
  st->cur_co = prev_co;
  st->cur_ref = prev_ref;
  if (r == LUA_OK) {
    lua_settop(co, 0);
    if (!st->spare && ref != LUA_NOREF) {
      st->spare = co;
      st->spare_ref = ref;
      return;
    }
  } else if (r == LUA_YIELD) {
    lua_pop(co, nres);
    if (ref == LUA_NOREF) return; /* waiting: its wait context holds it */
    siol_log(from, SIOL_LOG_ERROR, "a handler yielded (coroutine.yield) outside sio's waiting "
             "functions: it is abandoned; wrap such code in a coroutine of its own");
  } else {
    const char *msg = lua_tostring(co, -1);
    siol_log(from, SIOL_LOG_ERROR, "error in a handler's coroutine: %s", msg ? msg : "?");
  }
  if (ref != LUA_NOREF) luaL_unref(from, LUA_REGISTRYINDEX, ref);
}

void siol_spawn(siol_state_t *st, lua_State *L, const siol_fin_t *fin, const char *what,
                const char *detail, int nargs) {
  lua_State *co;
  int ref;
  if (st->spare) {
    co = st->spare;
    ref = st->spare_ref;
    st->spare = NULL;
    st->spare_ref = LUA_NOREF;
  } else {
    co = lua_newthread(L);
    ref = luaL_ref(L, LUA_REGISTRYINDEX);
  }
  if (!lua_checkstack(co, nargs + 8)) {
    luaL_unref(L, LUA_REGISTRYINDEX, ref);
    luaL_error(L, "stack overflow (%d arguments for a handler)", nargs);
  }
  lua_pushcfunction(co, body);
  lua_pushlightuserdata(co, (void *)(uintptr_t)fin);
  lua_pushlightuserdata(co, (void *)(uintptr_t)what);
  if (detail) lua_pushstring(co, detail);
  else lua_pushnil(co);
  lua_xmove(L, co, nargs + 2);
  co_resume(st, L, co, ref, nargs + 5);
}

int siol_can_wait(lua_State *L) {
  siol_state_t *st = siol_state(L);
  return st && st->cur_co == L && st->cur_ref != LUA_NOREF && lua_isyieldable(L);
}

void siol_check_can_wait(lua_State *L, const char *fn) {
  if (!siol_can_wait(L))
    luaL_error(L, "%s: waits only inside a handler's coroutine (a handler, middleware, timer or callback "
                  "of sio's; not in the main chunk nor in a coroutine of your own): pass a callback there",
               fn);
}

int siol_take_co(lua_State *L, const char *fn) {
  siol_check_can_wait(L, fn);
  siol_state_t *st = siol_state(L);
  int ref = st->cur_ref;
  st->cur_ref = LUA_NOREF;
  return ref;
}

void siol_give_co(lua_State *L, int ref) {
  siol_state_t *st = siol_state(L);
  if (st->cur_co == L && st->cur_ref == LUA_NOREF) st->cur_ref = ref;
  else luaL_unref(L, LUA_REGISTRYINDEX, ref);
}

void siol_wake(siol_state_t *st, lua_State *L, lua_State *co, int ref, int n) {
  if (lua_status(co) != LUA_YIELD) { /* answered before it could wait: cannot happen by sio.h */
    lua_pop(L, n);
    luaL_unref(L, LUA_REGISTRYINDEX, ref);
    siol_log(L, SIOL_LOG_ERROR, "a waiting handler was answered before it waited: dropped");
    return;
  }
  lua_xmove(L, co, n);
  co_resume(st, L, co, ref, n);
}
