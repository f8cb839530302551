/* Handler coroutines (OpenResty's model): every call into a script's handler runs in a coroutine,
 * so that the waiting functions (socket:call, sio.sleep, the cluster requests without a callback)
 * yield it and the loop resumes it with their results.
 *
 * A coroutine starts on a C function of ours (`body`) that calls the handler, unprotected, and
 * once it returned (at once or after yields) runs the caller's finisher on its results (a socket
 * event's: send them as the ack). An error ends the coroutine: lua_resume is protected already,
 * and a dead coroutine keeps its stack as it was, so the traceback is read from there (as
 * debug.traceback(co) does), body's arguments (finisher, what, detail, context) from its frame,
 * and lua_resetthread then closes the handler's to-be-closed variables and makes the coroutine
 * reusable; the error is logged and the finisher runs. So whoever resumes a coroutine only looks
 * at the status.
 *
 * Anchors. The running coroutine is referenced from the registry (st->cur_ref); a waiting function
 * takes that reference into its wait context (siol_req_wait), which is what anchors the coroutine
 * while it waits and what resumes it. A coroutine that ends without waiting (also with an error)
 * goes back to the spare slot (one kept coroutine: most handlers never wait, and then no coroutine
 * is made per call). */
#include <stdint.h>

#include "private.h"

/* body's frame: the finisher, what (a static string), the detail, the context, then the handler
 * and its arguments, replaced by its results once it returned. */
enum { CO_FIN = 1, CO_WHAT, CO_DETAIL, CO_CTX_, CO_FIRST };

static int body_k(lua_State *co, int status, lua_KContext k) {
  (void)status;
  (void)k;
  const siol_fin_t *fin = lua_touserdata(co, CO_FIN);
  if (fin && (!fin->results_only || lua_gettop(co) >= CO_FIRST)) {
    lua_pushnil(co); /* should the finisher raise, that error is logged but it does not run again */
    lua_replace(co, CO_FIN);
    fin->done(co, 1, CO_FIRST);
  }
  return 0;
}

static int body(lua_State *co) {
  lua_callk(co, lua_gettop(co) - CO_FIRST, LUA_MULTRET, 0, body_k);
  return body_k(co, LUA_OK, 0);
}

/* A finisher after an error, in protected mode on the reset coroutine (the same indices). */
static int fin_failed(lua_State *co) {
  const siol_fin_t *fin = lua_touserdata(co, CO_FIN);
  fin->done(co, 0, CO_FIRST);
  return 0;
}

/* In protected mode on the resumer: the error text of the dead coroutine at 1 (the error object on
 * its top) with the coroutine's traceback, as siol_msgh makes it for a protected call. */
static int describe(lua_State *L) {
  lua_State *co = lua_tothread(L, 1);
  const char *msg = lua_tostring(co, -1);
  if (!msg) {
    lua_pushvalue(co, -1);
    lua_xmove(co, L, 1);
    if (luaL_callmeta(L, -1, "__tostring") && lua_type(L, -1) == LUA_TSTRING) return 1;
    msg = lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, 2));
  }
  luaL_traceback(L, co, msg, 0);
  return 1;
}

/* Pushes on from body's four arguments (finisher, what, detail, context) read from its frame,
 * the dead coroutine's outermost. */
static void push_frame_args(lua_State *from, lua_State *co) {
  lua_Debug ar;
  int level = 0;
  while (lua_getstack(co, level + 1, &ar)) level++;
  lua_getstack(co, level, &ar);
  for (int i = CO_FIN; i < CO_FIRST; i++)
    if (!lua_getlocal(co, &ar, i)) lua_pushnil(co);
  lua_xmove(co, from, CO_FIRST - CO_FIN);
}

/* Unwinds the dead coroutine co and closes its pending to-be-closed variables (an error a __close
 * raises is dropped: the handler's own error is the one logged); co can run a new function then. */
static void close_thread(lua_State *co, lua_State *from) {
#if LUA_VERSION_RELEASE_NUM >= 50406
  lua_closethread(co, from);
#else
  (void)from;
  lua_resetthread(co);
#endif
  lua_settop(co, 0);
}

/* co (anchored by ref, consumed) ended with an error: logs it with its traceback, resets co (which
 * closes its to-be-closed variables, as a protected call's unwinding would), runs the finisher with
 * the error text and keeps co as the spare, or drops it. */
static void co_failed(siol_state_t *st, lua_State *from, lua_State *co, int ref) {
  int top = lua_gettop(from);
  if (!lua_checkstack(from, 8) || !lua_checkstack(co, CO_FIRST + 2)) {
    siol_log(from, SIOL_LOG_ERROR, "error in a handler (no stack space for its message)");
    luaL_unref(from, LUA_REGISTRYINDEX, ref); /* dropped as it is */
    return;
  }
  lua_pushcfunction(from, describe);
  lua_pushthread(co);
  lua_xmove(co, from, 1);
  if (lua_pcall(from, 1, 1, 0) != LUA_OK || !lua_isstring(from, -1)) {
    lua_settop(from, top);
    lua_pushliteral(from, "?");
  }
  push_frame_args(from, co); /* from: text, fin, what, detail, context */
  close_thread(co, from);
  const siol_fin_t *fin = lua_touserdata(from, top + 2);
  const char *what = lua_touserdata(from, top + 3);
  const char *detail = lua_tostring(from, top + 4);
  siol_log(from, SIOL_LOG_ERROR, "error in %s%s%s: %s", what ? what : "a handler", detail ? " " : "",
           detail ? detail : "", lua_tostring(from, top + 1));
  if (fin) {
    lua_rotate(from, top + 1, -1); /* fin, what, detail, context, text */
    lua_pushcfunction(co, fin_failed);
    lua_xmove(from, co, CO_FIRST);
    lua_State *prev = st->L;
    st->L = co; /* where the finisher's callbacks into the state run, as after a return */
    if (lua_pcall(co, CO_FIRST, 0, 0) != LUA_OK) {
      const char *msg = lua_tostring(co, -1);
      siol_log(from, SIOL_LOG_ERROR, "error in a handler's coroutine: %s", msg ? msg : "?");
    }
    st->L = prev;
    lua_settop(co, 0);
  }
  lua_settop(from, top);
  if (ref == LUA_NOREF) return; /* a wait context holds it: it finds it ended */
  if (!st->spare) {
    st->spare = co;
    st->spare_ref = ref;
    return;
  }
  luaL_unref(from, LUA_REGISTRYINDEX, ref);
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
    co_failed(st, from, co, ref);
    return;
  }
  if (ref != LUA_NOREF) luaL_unref(from, LUA_REGISTRYINDEX, ref);
}

/* A coroutine for siol_spawn (the spare, else a new one) with room for nargs values and body
 * pushed; *ref: what anchors it. */
static lua_State *co_get(siol_state_t *st, lua_State *L, int nargs, int *ref) {
  lua_State *co;
  if (st->spare) {
    co = st->spare;
    *ref = st->spare_ref;
    st->spare = NULL;
    st->spare_ref = LUA_NOREF;
  } else {
    co = lua_newthread(L);
    *ref = luaL_ref(L, LUA_REGISTRYINDEX);
  }
  if (!lua_checkstack(co, nargs + 8)) {
    luaL_unref(L, LUA_REGISTRYINDEX, *ref);
    luaL_error(L, "stack overflow (%d arguments for a handler)", nargs);
  }
  lua_pushcfunction(co, body);
  return co;
}

void siol_spawn_catch_alls(siol_state_t *st, lua_State *L, int list, const char *what, const char *event,
                           const sio_args_t *args) {
  lua_Integer n = (lua_Integer)lua_rawlen(L, list);
  for (lua_Integer i = 1; i <= n; i++) {
    lua_pushnil(L);
    lua_rawgeti(L, list, i);
    lua_pushstring(L, event);
    int na = siol_push_args(L, args);
    siol_spawn(st, L, NULL, what, event, 1 + na);
  }
}

void siol_spawn(siol_state_t *st, lua_State *L, const siol_fin_t *fin, const char *what,
                const char *detail, int nargs) {
  int ref;
  lua_State *co = co_get(st, L, nargs, &ref);
  lua_pushlightuserdata(co, (void *)(uintptr_t)fin);
  lua_pushlightuserdata(co, (void *)(uintptr_t)what);
  if (detail) lua_pushstring(co, detail);
  else lua_pushnil(co);
  lua_xmove(L, co, nargs + 2);
  co_resume(st, L, co, ref, nargs + 5);
}

void siol_spawn_at(siol_state_t *st, lua_State *L, const siol_fin_t *fin, const char *what, int detail,
                   int nargs) {
  int ref;
  lua_State *co = co_get(st, L, nargs, &ref);
  lua_pushlightuserdata(co, (void *)(uintptr_t)fin);
  lua_pushlightuserdata(co, (void *)(uintptr_t)what);
  lua_pushvalue(L, detail); /* the string already made: no hashing of the C string again */
  lua_xmove(L, co, 1);
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
