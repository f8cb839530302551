/* Listener lists, as Node's EventEmitter keeps them: several listeners per event, called in the
 * order they were added; `once` listeners removed before their first call; `off` removes the
 * last one added for a function, or all of them. A list is an array of entries: a function, or
 * {fn} for a once listener ({fn, true} once it was called). Lists are never changed in place
 * (every change makes a new one), so a dispatch iterates the list it got while listeners add or
 * remove listeners: those added run from the next event on, as in Node. A socket's ack-first
 * listener (socket:on_ack_first: its function gets the ack, or nil, first) is a function entry i
 * whose list has a metatable (used only as a side table, never for its metamethods: lists are
 * read raw and never reach scripts) with true at [i]: a list of plain entries stays a bare array,
 * whose length is the cheapest to read, and one lua_getmetatable tells a dispatch which it has. */
#include "private.h"

/* Marks entry i of the list at t as an ack-first listener. */
static void mark(lua_State *L, int t, lua_Integer i) {
  t = lua_absindex(L, t);
  if (!lua_getmetatable(L, t)) {
    lua_newtable(L);
    lua_pushvalue(L, -1);
    lua_setmetatable(L, t);
  }
  lua_pushboolean(L, 1);
  lua_rawseti(L, -2, i);
  lua_pop(L, 1);
}

/* Whether entry i of the list whose marks (its metatable) are at marks (0: none) is ack-first. */
static int marked(lua_State *L, int marks, lua_Integer i) {
  if (!marks) return 0;
  int yes = lua_rawgeti(L, marks, i) != LUA_TNIL;
  lua_pop(L, 1);
  return yes;
}

/* Pushes the marks of the list at list and returns their index, or returns 0 (none). */
static int push_marks(lua_State *L, int list) { return lua_getmetatable(L, list) ? lua_gettop(L) : 0; }

/* A copy of the list at `list` (nil: empty) without its entry number `skip` (0: none). */
static void copy_without(lua_State *L, int list, lua_Integer skip) {
  lua_Integer n = lua_istable(L, list) ? (lua_Integer)lua_rawlen(L, list) : 0;
  int marks = n ? push_marks(L, list) : 0;
  lua_createtable(L, (int)(n > 0 ? n : 1), 0);
  lua_Integer j = 0;
  for (lua_Integer i = 1; i <= n; i++) {
    if (i == skip) continue;
    lua_rawgeti(L, list, i);
    lua_rawseti(L, -2, ++j);
    if (marked(L, marks, i)) mark(L, -1, j);
  }
  if (marks) lua_remove(L, marks);
}

/* t[key] = the list at the top (nil when empty); pops it. */
static void store(lua_State *L, int t, const char *key) {
  if (lua_rawlen(L, -1) == 0) {
    lua_pop(L, 1);
    lua_pushnil(L);
  }
  lua_setfield(L, t, key);
}

void siol_listen_add(lua_State *L, int t, const char *key, int fn, int once) {
  t = lua_absindex(L, t);
  fn = lua_absindex(L, fn);
  lua_getfield(L, t, key);
  copy_without(L, lua_gettop(L), 0);
  if (once == 1) {
    lua_createtable(L, 2, 0);
    lua_pushvalue(L, fn);
    lua_rawseti(L, -2, 1);
  } else {
    lua_pushvalue(L, fn);
  }
  lua_Integer i = (lua_Integer)lua_rawlen(L, -2) + 1;
  lua_rawseti(L, -2, i);
  if (once == SIOL_ACK_FIRST) mark(L, -1, i);
  store(L, t, key);
  lua_pop(L, 1);
}

/* The function of the entry at the top (its [1] for a once entry); replaces it. */
static void entry_fn(lua_State *L) {
  if (lua_istable(L, -1)) {
    lua_rawgeti(L, -1, 1);
    lua_remove(L, -2);
  }
}

/* The index in the list at `list` of the last entry that is the value at val (by_fn: whose
 * function is), or 0. */
static lua_Integer find(lua_State *L, int list, int val, int by_fn) {
  for (lua_Integer i = (lua_Integer)lua_rawlen(L, list); i >= 1; i--) {
    lua_rawgeti(L, list, i);
    if (by_fn) entry_fn(L);
    int same = lua_rawequal(L, -1, val);
    lua_pop(L, 1);
    if (same) return i;
  }
  return 0;
}

/* Takes the value at val (by_fn: the last listener of that function) off t[key]. */
static void take_off(lua_State *L, int t, const char *key, int val, int by_fn) {
  if (lua_getfield(L, t, key) == LUA_TTABLE) {
    int list = lua_gettop(L);
    lua_Integer i = find(L, list, val, by_fn);
    if (i) {
      copy_without(L, list, i);
      store(L, t, key);
    }
  }
  lua_pop(L, 1);
}

void siol_listen_remove(lua_State *L, int t, const char *key, int fn) {
  t = lua_absindex(L, t);
  if (!fn) {
    lua_pushnil(L);
    lua_setfield(L, t, key);
    return;
  }
  take_off(L, t, key, lua_absindex(L, fn), 1);
}

int siol_listen_on(lua_State *L, int t, const char *key, int once) {
  luaL_checktype(L, 3, LUA_TFUNCTION);
  siol_listen_add(L, t, key, 3, once);
  lua_settop(L, 1);
  return 1;
}

int siol_listen_off(lua_State *L, int t, const char *key) {
  int fn = lua_isnoneornil(L, 3) ? 0 : 3;
  if (fn) luaL_checktype(L, 3, LUA_TFUNCTION);
  siol_listen_remove(L, t, key, fn);
  lua_settop(L, 1);
  return 1;
}

/* obj:on(event, fn), obj:once(event, fn), obj:off(event[, fn]), obj:on_any(fn) for every object
 * whose first user value holds its listeners ("h": per event, "any": catch-alls): server and
 * client sockets, managers. The caller has checked the object at 1. */
static void push_handlers(lua_State *L) {
  lua_getiuservalue(L, 1, 1);
  lua_getfield(L, -1, "h");
}

int siol_obj_on(lua_State *L, int once) {
  const char *ev = luaL_checkstring(L, 2);
  lua_settop(L, 3);
  push_handlers(L);
  return siol_listen_on(L, -1, ev, once);
}

int siol_obj_off(lua_State *L) {
  lua_settop(L, 3);
  const char *ev = luaL_checkstring(L, 2);
  push_handlers(L);
  return siol_listen_off(L, -1, ev);
}

int siol_obj_on_any(lua_State *L) {
  luaL_checktype(L, 2, LUA_TFUNCTION);
  lua_getiuservalue(L, 1, 1);
  siol_append_field(L, "any", 2);
  lua_settop(L, 1);
  return 1;
}

int siol_listen_push(lua_State *L, int t, const char *key, int list, lua_Integer i) {
  lua_rawgeti(L, list, i);
  if (lua_isfunction(L, -1)) return 1;
  if (!lua_istable(L, -1)) {
    lua_pop(L, 1);
    return 0;
  }
  int called = lua_rawgeti(L, -1, 2) != LUA_TNIL;
  lua_pop(L, 1);
  if (called) { /* a once listener that ran already */
    lua_pop(L, 1);
    return 0;
  }
  lua_pushboolean(L, 1);
  lua_rawseti(L, -2, 2);
  /* off the current list (the table, not its function: the same function may be there twice) */
  take_off(L, lua_absindex(L, t), key, lua_gettop(L), 0);
  entry_fn(L);
  return 1;
}

void siol_listen_run(siol_state_t *st, lua_State *L, int t, const char *key, int list, int first, int nargs,
                     int ctx, const siol_fin_t *fin, const char *what, int *started) {
  siol_listen_run_at(st, L, t, key, 0, list, first, nargs, ctx, fin, what, started);
}

void siol_listen_run_at(siol_state_t *st, lua_State *L, int t, const char *key, int keyidx, int list, int first,
                        int nargs, int ctx, const siol_fin_t *fin, const char *what, int *started) {
  lua_Integer n = (lua_Integer)lua_rawlen(L, list);
  int marks = push_marks(L, list);
  luaL_checkstack(L, nargs + 6, NULL); /* once: each listener's values are popped by siol_spawn */
  for (lua_Integer i = 1; i <= n; i++) {
    int first_ack = marked(L, marks, i);
    if (ctx) lua_pushvalue(L, ctx);
    else lua_pushnil(L);
    if (!siol_listen_push(L, t, key, list, i)) {
      lua_pop(L, 1);
      continue;
    }
    int na = nargs, pushed = nargs;
    if (first_ack) { /* the ack (the context, also the last argument) or nil first */
      lua_pushvalue(L, -2);
      if (ctx) na--;
      else pushed++;
    }
    for (int a = 0; a < na; a++) lua_pushvalue(L, first + a);
    if (started) ++*started;
    if (keyidx) siol_spawn_at(st, L, fin, what, keyidx, pushed);
    else siol_spawn(st, L, fin, what, key, pushed);
  }
  if (marks) lua_pop(L, 1);
}
