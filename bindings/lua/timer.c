/* Timers: sio.set_timeout(fn, ms) and sio.set_interval(fn, ms) (either order) on the module's loop,
 * fn(timer); timer:stop() (or :cancel()), timer.active. A running timer is malloc'd (its uv handle
 * closes asynchronously) and referenced from the registry; the userdata box only points at it. */
#include <stdlib.h>
#include <string.h>

#include "private.h"

struct tmr_s {
  siol_state_t *st;
  uv_timer_t h;
  int fn_ref, self_ref;
  siol_req_t *sleeper; /* sio.sleep(): the coroutine it wakes (no function, no box) */
  int repeat;
  tmr_t *next, **pprev;
};

typedef struct {
  tmr_t *t; /* NULL once stopped */
} tmr_box_t;

static void close_cb(uv_handle_t *h) {
  tmr_t *t = h->data;
  siol_state_t *st = t->st;
  free(t);
  siol_release(st);
}

static void tmr_stop(lua_State *L, tmr_t *t) {
  if (t->pprev) {
    *t->pprev = t->next;
    if (t->next) t->next->pprev = t->pprev;
    t->pprev = NULL;
  }
  if (L) {
    /* the box no longer points here */
    if (t->self_ref != LUA_NOREF) {
      lua_rawgeti(L, LUA_REGISTRYINDEX, t->self_ref);
      tmr_box_t *b = lua_touserdata(L, -1);
      if (b) b->t = NULL;
      lua_pop(L, 1);
    }
    siol_unref(L, &t->fn_ref);
    siol_unref(L, &t->self_ref);
  }
  uv_close((uv_handle_t *)&t->h, close_cb);
}

/* A sleeper's coroutine is resumed with true when the time came, or nil, "closed" when the timers
 * were stopped first (sio.shutdown()). */
static void wake_sleeper(tmr_t *t, int on_time) {
  siol_req_t *r = t->sleeper;
  t->sleeper = NULL;
  lua_State *L = siol_req_begin(r, 0);
  if (L && on_time) lua_pushboolean(L, 1);
  else if (L) {
    lua_pushnil(L);
    lua_pushliteral(L, "closed");
  }
  siol_req_finish(r, L, L ? (on_time ? 1 : 2) : 0, "sleep");
}

void siol_timers_stop(lua_State *L, siol_state_t *st) {
  /* the list as it is now: a sleeper woken below may start timers, which keep running */
  tmr_t *head = st->timers;
  st->timers = NULL;
  if (head) head->pprev = &head;
  while (head) {
    tmr_t *t = head;
    siol_req_t *sleeper = t->sleeper;
    tmr_stop(L, t);
    if (sleeper) wake_sleeper(t, 0);
  }
}

static void tmr_cb(uv_timer_t *h) {
  tmr_t *t = h->data;
  if (t->sleeper) {
    tmr_stop(NULL, t);
    wake_sleeper(t, 1);
    return;
  }
  lua_State *L = siol_cb_state(t->st);
  if (!L) return;
  lua_pushnil(L);
  lua_rawgeti(L, LUA_REGISTRYINDEX, t->fn_ref);
  lua_rawgeti(L, LUA_REGISTRYINDEX, t->self_ref);
  if (t->repeat) {
    siol_spawn(t->st, L, NULL, "interval callback", NULL, 1);
    return;
  }
  /* a timeout is over before its callback runs: the callback may start another */
  tmr_stop(L, t);
  siol_spawn(t->st, L, NULL, "timer callback", NULL, 1);
}

/* sio.sleep(ms): the handler's coroutine waits; true, or nil, "closed" after sio.shutdown(). */
int siol_sleep(lua_State *L) {
  siol_state_t *st = siol_state(L);
  lua_Integer delay = luaL_checkinteger(L, 1);
  if (delay < 0) delay = 0;
  uv_loop_t *loop = siol_loop(L, st);
  siol_check_can_wait(L, "sio.sleep");
  tmr_t *t = calloc(1, sizeof *t);
  if (!t) return luaL_error(L, "out of memory");
  t->sleeper = siol_req_wait(L, "sio.sleep");
  t->st = st;
  siol_hold(st);
  t->fn_ref = t->self_ref = LUA_NOREF;
  uv_timer_init(loop, &t->h);
  t->h.data = t;
  t->next = st->timers;
  if (st->timers) st->timers->pprev = &t->next;
  st->timers = t;
  t->pprev = &st->timers;
  uv_timer_start(&t->h, tmr_cb, (uint64_t)delay, 0);
  return siol_req_yield(L);
}

static int start_timer(lua_State *L, int repeat) {
  siol_state_t *st = siol_state(L);
  int fn = lua_isfunction(L, 1) ? 1 : 2;
  int ms = fn == 1 ? 2 : 1;
  luaL_checktype(L, fn, LUA_TFUNCTION);
  lua_Integer delay = luaL_checkinteger(L, ms);
  if (delay < 0) delay = 0;
  uv_loop_t *loop = siol_loop(L, st);
  /* Everything that may raise (Lua memory errors) before the timer exists. */
  tmr_box_t *b = lua_newuserdatauv(L, sizeof *b, 0);
  b->t = NULL;
  luaL_setmetatable(L, SIOL_TIMER_MT);
  lua_pushvalue(L, -1);
  int self_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  lua_pushvalue(L, fn);
  int fn_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  tmr_t *t = calloc(1, sizeof *t);
  if (!t) {
    luaL_unref(L, LUA_REGISTRYINDEX, self_ref);
    luaL_unref(L, LUA_REGISTRYINDEX, fn_ref);
    return luaL_error(L, "out of memory");
  }
  t->st = st;
  siol_hold(st);
  t->repeat = repeat;
  uv_timer_init(loop, &t->h);
  t->h.data = t;
  b->t = t;
  t->self_ref = self_ref;
  t->fn_ref = fn_ref;
  t->next = st->timers;
  if (st->timers) st->timers->pprev = &t->next;
  st->timers = t;
  t->pprev = &st->timers;
  uint64_t d = (uint64_t)delay;
  uv_timer_start(&t->h, tmr_cb, d, repeat ? (d ? d : 1) : 0);
  return 1;
}

int siol_set_timeout(lua_State *L) { return start_timer(L, 0); }
int siol_set_interval(lua_State *L) { return start_timer(L, 1); }

static int l_stop(lua_State *L) {
  tmr_box_t *b = luaL_checkudata(L, 1, SIOL_TIMER_MT);
  if (b->t) tmr_stop(L, b->t);
  return 0;
}

static int l_index(lua_State *L) {
  tmr_box_t *b = luaL_checkudata(L, 1, SIOL_TIMER_MT);
  const char *key = luaL_checkstring(L, 2);
  if (siol_method(L, key)) return 1;
  if (strcmp(key, "active") != 0) return 0;
  lua_pushboolean(L, b->t != NULL);
  return 1;
}

void siol_open_timer(lua_State *L) {
  static const luaL_Reg methods[] = {{"stop", l_stop}, {"cancel", l_stop}, {NULL, NULL}};
  siol_class(L, SIOL_TIMER_MT, methods, NULL, l_index, NULL, NULL);
}
