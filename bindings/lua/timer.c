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

void siol_timers_stop(lua_State *L, siol_state_t *st) {
  while (st->timers) tmr_stop(L, st->timers);
}

static void tmr_cb(uv_timer_t *h) {
  tmr_t *t = h->data;
  lua_State *L = siol_cb_state(t->st);
  if (!L) return;
  lua_rawgeti(L, LUA_REGISTRYINDEX, t->fn_ref);
  lua_rawgeti(L, LUA_REGISTRYINDEX, t->self_ref);
  if (t->repeat) {
    siol_pcall(L, 1, 0, "interval callback", NULL);
    return;
  }
  /* a timeout is over before its callback runs: the callback may start another */
  tmr_stop(L, t);
  siol_pcall(L, 1, 0, "timer callback", NULL);
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
