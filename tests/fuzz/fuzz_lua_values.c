/* libFuzzer harness for the Lua binding's value layer (bindings/lua/values.c): the input is JSON
 * text for sio.json.decode, whose "\u0000" pre-pass is our own parser in front of cJSON. Whatever
 * decodes must encode; that text must decode again and encode to the same bytes; and the decoded
 * value must survive the argument converters (Lua -> cJSON -> Lua -> cJSON) with the same JSON. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>

#include "values.h"

static lua_State *L;

static void setup(void) {
  L = luaL_newstate();
  luaL_openlibs(L);
  lua_newtable(L);
  siol_values_open(L);
  lua_setglobal(L, "sio");
}

/* sio.json.<fn>(value at top) in protected mode: 1 with the result pushed (nil on a refusal). */
static int call_json(const char *fn) {
  lua_getglobal(L, "sio");
  lua_getfield(L, -1, "json");
  lua_getfield(L, -1, fn);
  lua_remove(L, -2);
  lua_remove(L, -2);
  lua_insert(L, -2);
  if (lua_pcall(L, 1, 1, 0) != LUA_OK) return 0;
  return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (!L) setup();
  int top = lua_gettop(L);
  lua_pushlstring(L, (const char *)data, size);
  if (!call_json("decode") || lua_isnil(L, -1)) goto out;
  int value = lua_gettop(L);

  lua_pushvalue(L, value);
  /* a value nested up to the limit may still not encode (e.g. the limit counts differently for
   * top-level arrays), so only what encodes is checked further */
  if (!call_json("encode") || lua_type(L, -1) != LUA_TSTRING) goto out;
  size_t n1;
  const char *t1 = lua_tolstring(L, -1, &n1);
  lua_pushvalue(L, -1);
  if (!call_json("decode") || lua_isnil(L, -1)) __builtin_trap();
  if (!call_json("encode") || lua_type(L, -1) != LUA_TSTRING) __builtin_trap();
  size_t n2;
  const char *t2 = lua_tolstring(L, -1, &n2);
  if (n1 != n2 || memcmp(t1, t2, n1) != 0) __builtin_trap();

  /* the argument converters both ways */
  siol_bufs_t b = {0};
  cJSON *j = NULL;
  char err[256];
  if (siol_to_json(L, value, &b, &j, err, sizeof err) == 0) {
    sio_args_t a = {NULL, b.v, b.n};
    siol_push_json(L, j, &a);
    cJSON *k = NULL;
    siol_bufs_t b2 = {0};
    if (siol_to_json(L, -1, &b2, &k, err, sizeof err) != 0) __builtin_trap();
    if (!cJSON_Compare(j, k, 1)) __builtin_trap();
    cJSON_Delete(k);
    siol_bufs_free(&b2);
    cJSON_Delete(j);
  }
  siol_bufs_free(&b);
out:
  lua_settop(L, top);
  lua_gc(L, LUA_GCSTEP, 0);
  return 0;
}
