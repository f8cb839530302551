/* Lua values <-> cJSON arguments; the rules are in values.h. */
#include "values.h"

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "json_parse.h"
#include "json_write.h"

/* sio.null is the address of this byte: a light userdata no script can forge or collect. */
static const char null_sentinel = 0;
#define SIOL_NULL ((void *)&null_sentinel)

/* Holds what sio.json.encode/decode allocate outside Lua, so that an error raised half-way (a Lua
 * memory error) does not leak it: __gc frees whatever is left. */
#define SIOL_BOX_MT "sio.json.box"
typedef struct {
  cJSON *tree;
  sio_sbuf_t printed; /* the JSON text sio.json.encode writes */
} box_t;

void siol_bufs_free(siol_bufs_t *b) {
  if (!b) return;
  free(b->v);
  b->v = NULL;
  b->n = b->cap = 0;
}

static int bufs_add(siol_bufs_t *b, const char *data, size_t len) {
  if (b->n == b->cap) {
    size_t cap = b->cap ? b->cap * 2 : 4;
    sio_buf_t *v = realloc(b->v, cap * sizeof *v);
    if (!v) return -1;
    b->v = v;
    b->cap = cap;
  }
  b->v[b->n].data = data;
  b->v[b->n].len = len;
  b->n++;
  return 0;
}

/* A malloc'd copy of the text s[0..len) in the core's form (sio.h: NUL as C0 80), or NULL when s
 * holds no NUL: a Lua string is NUL-terminated and serves as it is. *nomem on failure. No Lua call
 * may come between this and the free (an error raised there would leak the copy). */
static char *core_copy(const char *s, size_t len, int *nomem) {
  size_t n = sio_str_core_len(s, len);
  *nomem = 0;
  if (n == len) return NULL;
  char *t = malloc(n + 1);
  if (!t) *nomem = 1;
  else sio_str_to_core(s, len, t);
  return t;
}

/* The Lua string a core string stands for. */
static void push_string(lua_State *L, const char *s) {
  if (!s) s = "";
  size_t len = strlen(s);
  luaL_checkstack(L, 3, "value too deep"); /* the buffer's slot, and its box's metatable */
  /* Most strings hold no NUL (C0 80 in the core's form): pushed as they are, one copy. */
  if (!memchr(s, 0xC0, len)) {
    lua_pushlstring(L, s, len);
    return;
  }
  luaL_Buffer B;
  char *p = luaL_buffinitsize(L, &B, len);
  luaL_pushresultsize(&B, sio_str_from_core(s, p));
}

/* ---- Lua -> JSON ---- */

typedef struct {
  lua_State *L;
  siol_bufs_t *bufs;
  int encode; /* for sio.json.encode: binaries have no JSON form there */
  int binary_mt, array_mt; /* stack slots of the two metatables, for lua_rawequal */
  char *err;
  size_t errsz;
} conv_t;

static cJSON *fail(conv_t *c, const char *fmt, ...) {
  if (c->err && c->errsz) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->err, c->errsz, fmt, ap);
    va_end(ap);
  }
  return NULL;
}

static cJSON *nomem(conv_t *c) { return fail(c, "out of memory"); }

static cJSON *refuse_type(conv_t *c, const char *what) {
  if (c->encode)
    return fail(c, "cannot encode %s (values are nil, booleans, numbers, strings, tables and sio.null)",
                what);
  return fail(c,
              "cannot send %s (values are nil, booleans, numbers, strings, tables, sio.null and "
              "sio.binary)",
              what);
}

static cJSON *string_to_json(conv_t *c, const char *s, size_t len) {
  if (!sio_str_valid(s, len)) {
    if (c->encode) return fail(c, "string is not valid UTF-8");
    return fail(c, "string is not valid UTF-8 (send bytes as sio.binary(s))");
  }
  int oom;
  char *t = core_copy(s, len, &oom);
  if (oom) return nomem(c);
  cJSON *j = cJSON_CreateString(t ? t : s);
  free(t);
  return j ? j : nomem(c);
}

/* 1 and *out when s is how Lua would print an integer key ("12", "-3", never "01" or "-0"). */
static int canonical_integer(const char *s, size_t len, lua_Integer *out) {
  size_t i = 0;
  int neg = len > 0 && s[0] == '-';
  if (neg) i = 1;
  if (i >= len || len - i > 19) return 0;
  if (s[i] == '0' && (len - i > 1 || neg)) return 0;
  unsigned long long v = 0;
  for (; i < len; i++) {
    if (s[i] < '0' || s[i] > '9') return 0;
    v = v * 10 + (unsigned long long)(s[i] - '0');
  }
  if (!neg && v > (unsigned long long)LUA_MAXINTEGER) return 0;
  if (neg && v > (unsigned long long)LUA_MAXINTEGER + 1) return 0;
  *out = neg ? -(lua_Integer)(v - 1) - 1 : (lua_Integer)v;
  return 1;
}

static cJSON *to_json(conv_t *c, int idx, int level);

/* The key/value pair at the top of the stack (key at -2) into obj. 0, or -1 with the message. */
static int add_member(conv_t *c, cJSON *obj, int table, int level) {
  lua_State *L = c->L;
  char num[32];
  const char *key;
  size_t klen;
  if (lua_type(L, -2) == LUA_TSTRING) {
    key = lua_tolstring(L, -2, &klen);
    if (!sio_str_valid(key, klen)) {
      fail(c, "table key is not valid UTF-8");
      return -1;
    }
    /* {[1] = a, ["1"] = b} would give an object with two members named "1". */
    lua_Integer n;
    if (canonical_integer(key, klen, &n)) {
      int dup = lua_rawgeti(L, table, n) != LUA_TNIL;
      lua_pop(L, 1);
      if (dup) {
        fail(c, "table has both the key %s and the key \"%s\"", key, key);
        return -1;
      }
    }
  } else if (lua_isinteger(L, -2)) {
    klen = (size_t)snprintf(num, sizeof num, LUA_INTEGER_FMT, lua_tointeger(L, -2));
    key = num;
  } else {
    if (lua_type(L, -2) == LUA_TNUMBER)
      fail(c, "table key %.14g is not an integer (keys are strings and integers)",
           (double)lua_tonumber(L, -2));
    else
      fail(c, "table key of type %s (keys are strings and integers)", luaL_typename(L, -2));
    return -1;
  }
  cJSON *v = to_json(c, lua_gettop(L), level + 1);
  if (!v) return -1;
  int oom;
  char *core = core_copy(key, klen, &oom);
  if (oom || !cJSON_AddItemToObject(obj, core ? core : key, v)) {
    free(core);
    cJSON_Delete(v);
    nomem(c);
    return -1;
  }
  free(core);
  return 0;
}

static cJSON *table_to_json(conv_t *c, int idx, int level) {
  lua_State *L = c->L;
  /* Also what stops a table that contains itself. */
  if (level > SIO_MAX_DEPTH) return fail(c, "value nested deeper than %d levels", SIO_MAX_DEPTH);
  if (!lua_checkstack(L, 4)) return fail(c, "Lua stack overflow");

  int marked = 0;
  if (lua_getmetatable(L, idx)) {
    marked = lua_rawequal(L, -1, c->array_mt);
    lua_pop(L, 1);
  }
  lua_Integer n = 0;
  int array = marked;
  if (marked) {
    n = (lua_Integer)lua_rawlen(L, idx);
  } else {
    /* An array when the keys are exactly 1..n: every key a positive integer, the largest one
     * equal to their count. */
    lua_Integer count = 0, max = 0;
    array = 1;
    lua_pushnil(L);
    while (lua_next(L, idx)) {
      lua_Integer k;
      if (!lua_isinteger(L, -2) || (k = lua_tointeger(L, -2)) < 1) {
        array = 0;
        lua_pop(L, 2);
        break;
      }
      count++;
      if (k > max) max = k;
      lua_pop(L, 1);
    }
    if (array && (count == 0 || count != max)) array = 0;
    n = count;
  }

  if (array) {
    cJSON *arr = cJSON_CreateArray();
    if (!arr) return nomem(c);
    for (lua_Integer i = 1; i <= n; i++) {
      lua_rawgeti(L, idx, i);
      cJSON *v = to_json(c, lua_gettop(L), level + 1);
      lua_pop(L, 1);
      if (!v || !cJSON_AddItemToArray(arr, v)) {
        if (v) {
          cJSON_Delete(v);
          nomem(c);
        }
        cJSON_Delete(arr);
        return NULL;
      }
    }
    return arr;
  }

  cJSON *obj = cJSON_CreateObject();
  if (!obj) return nomem(c);
  lua_pushnil(L);
  while (lua_next(L, idx)) {
    if (add_member(c, obj, idx, level) < 0) {
      lua_pop(L, 2);
      cJSON_Delete(obj);
      return NULL;
    }
    lua_pop(L, 1);
  }
  return obj;
}

/* `level` is the nesting level a table at idx would have (a top-level table is level 1). */
static cJSON *to_json(conv_t *c, int idx, int level) {
  lua_State *L = c->L;
  cJSON *j = NULL;
  switch (lua_type(L, idx)) {
    case LUA_TNIL:
      j = cJSON_CreateNull();
      break;
    case LUA_TBOOLEAN:
      j = cJSON_CreateBool(lua_toboolean(L, idx));
      break;
    case LUA_TNUMBER:
      if (lua_isinteger(L, idx)) {
        j = cJSON_CreateNumber((double)lua_tointeger(L, idx));
      } else {
        double d = (double)lua_tonumber(L, idx);
        /* JSON has no NaN or infinity; JSON.stringify writes null for them too. */
        j = d - d == 0 ? cJSON_CreateNumber(d) : cJSON_CreateNull();
      }
      break;
    case LUA_TSTRING: {
      size_t len;
      const char *s = lua_tolstring(L, idx, &len);
      return string_to_json(c, s, len);
    }
    case LUA_TTABLE:
      return table_to_json(c, idx, level);
    case LUA_TLIGHTUSERDATA:
      if (lua_touserdata(L, idx) != SIOL_NULL) return refuse_type(c, "a light userdata");
      j = cJSON_CreateNull();
      break;
    case LUA_TUSERDATA: {
      size_t len;
      const char *data = NULL;
      if (lua_getmetatable(L, idx)) {
        if (lua_rawequal(L, -1, c->binary_mt)) {
          lua_getiuservalue(L, idx, 1);
          data = lua_tolstring(L, -1, &len);
          lua_pop(L, 1);
        }
        lua_pop(L, 1);
      }
      if (!data) return refuse_type(c, "a userdata");
      if (c->encode) return fail(c, "cannot encode sio.binary");
      if (!c->bufs) return fail(c, "cannot send sio.binary here");
      /* The bytes stay in the Lua string (the caller keeps the value on its stack). */
      size_t num = c->bufs->n;
      if (bufs_add(c->bufs, data, len) < 0) return nomem(c);
      j = sio_args_placeholder(num);
      return j ? j : nomem(c);
    }
    case LUA_TFUNCTION:
      return refuse_type(c, "a function");
    case LUA_TTHREAD:
      return refuse_type(c, "a thread");
    default:
      return refuse_type(c, luaL_typename(L, idx));
  }
  return j ? j : nomem(c);
}

/* Sets up c (the metatables pushed above the values, so the caller restores the top). */
static int conv_begin(conv_t *c, lua_State *L, siol_bufs_t *b, char *err, size_t errsz) {
  c->L = L;
  c->bufs = b;
  c->encode = 0;
  c->err = err;
  c->errsz = errsz;
  if (err && errsz) err[0] = 0;
  /* The two metatables, and a top-level userdata's metatable and user value. */
  if (!lua_checkstack(L, 4)) {
    fail(c, "Lua stack overflow");
    return -1;
  }
  lua_getfield(L, LUA_REGISTRYINDEX, SIOL_BINARY_MT);
  c->binary_mt = lua_gettop(L);
  lua_getfield(L, LUA_REGISTRYINDEX, SIOL_ARRAY_MT);
  c->array_mt = lua_gettop(L);
  return 0;
}

static int convert_one(conv_t *c, int idx, cJSON **out) {
  size_t n0 = c->bufs ? c->bufs->n : 0;
  *out = to_json(c, idx, 1);
  if (*out) return 0;
  if (c->bufs) c->bufs->n = n0;
  return -1;
}

int siol_to_json(lua_State *L, int idx, siol_bufs_t *b, cJSON **out, char *err, size_t errsz) {
  conv_t c;
  int top = lua_gettop(L);
  idx = lua_absindex(L, idx);
  *out = NULL;
  if (conv_begin(&c, L, b, err, errsz) < 0) return -1;
  int r = convert_one(&c, idx, out);
  lua_settop(L, top);
  return r;
}

int siol_args_to_json(lua_State *L, int first, int last, siol_bufs_t *b, cJSON **out, char *err,
                      size_t errsz) {
  conv_t c;
  int top = lua_gettop(L);
  /* Only negative indices are relative: last == 0 (an empty stack's top) means no arguments. */
  if (first < 0) first = lua_absindex(L, first);
  if (last < 0) last = lua_absindex(L, last);
  *out = NULL;
  if (conv_begin(&c, L, b, err, errsz) < 0) return -1;
  size_t n0 = b ? b->n : 0;
  cJSON *arr = cJSON_CreateArray();
  if (!arr) {
    nomem(&c);
    goto fail;
  }
  for (int i = first; i <= last; i++) {
    cJSON *v = to_json(&c, i, 1);
    if (!v) goto fail;
    if (!cJSON_AddItemToArray(arr, v)) {
      cJSON_Delete(v);
      nomem(&c);
      goto fail;
    }
  }
  lua_settop(L, top);
  *out = arr;
  return 0;
fail:
  cJSON_Delete(arr);
  if (b) b->n = n0;
  lua_settop(L, top);
  return -1;
}

/* ---- JSON -> Lua ---- */

static void push_number(lua_State *L, double d) {
  if (sio_number_is_int(d)) lua_pushinteger(L, (lua_Integer)d);
  else lua_pushnumber(L, (lua_Number)d);
}

static void push_value(lua_State *L, const cJSON *j, const sio_args_t *a, int level) {
  if (!j || cJSON_IsNull(j)) {
    lua_pushlightuserdata(L, SIOL_NULL);
  } else if (cJSON_IsFalse(j)) {
    lua_pushboolean(L, 0);
  } else if (cJSON_IsTrue(j)) {
    lua_pushboolean(L, 1);
  } else if (cJSON_IsNumber(j)) {
    push_number(L, j->valuedouble);
  } else if (cJSON_IsString(j)) {
    push_string(L, j->valuestring);
  } else if (cJSON_IsArray(j) || cJSON_IsObject(j)) {
    if (level > SIO_MAX_DEPTH) luaL_error(L, "value nested deeper than %d levels", SIO_MAX_DEPTH);
    const sio_buf_t *bf = cJSON_IsObject(j) ? sio_args_attachment(a, j) : NULL;
    if (bf) {
      siol_push_binary(L, bf->data, bf->len);
      return;
    }
    /* The table, a key or index, a value, and a luaL_Buffer's slot for a key. */
    luaL_checkstack(L, 4, "value too deep");
    int size = cJSON_GetArraySize(j);
    if (cJSON_IsArray(j)) {
      lua_createtable(L, size, 0);
      lua_Integer i = 1;
      for (const cJSON *e = j->child; e; e = e->next) {
        push_value(L, e, a, level + 1);
        lua_rawseti(L, -2, i++);
      }
      luaL_setmetatable(L, SIOL_ARRAY_MT);
    } else {
      lua_createtable(L, 0, size);
      for (const cJSON *e = j->child; e; e = e->next) {
        push_string(L, e->string);
        push_value(L, e, a, level + 1);
        lua_rawset(L, -3);
      }
    }
  } else {
    /* cJSON_Raw or an invalid item: nothing the core produces. */
    lua_pushnil(L);
  }
}

void siol_push_json(lua_State *L, const cJSON *j, const sio_args_t *a) {
  if (!j) {
    lua_pushnil(L);
    return;
  }
  luaL_checkstack(L, 1, "too many values");
  push_value(L, j, a, 1);
}

int siol_push_args(lua_State *L, const sio_args_t *a) {
  if (!a || !a->json) return 0;
  int n = 0;
  for (const cJSON *e = a->json->child; e; e = e->next) n++;
  luaL_checkstack(L, n, "too many arguments");
  for (const cJSON *e = a->json->child; e; e = e->next) {
    if (cJSON_IsNull(e))
      lua_pushnil(L); /* so that a handler's `if x == nil` sees a JSON null argument */
    else
      push_value(L, e, a, 1);
  }
  return n;
}

void siol_echo_record(lua_State *L, siol_echo_t *e, const sio_args_t *args, int first, int n) {
  e->args = NULL;
  if (!args || n > SIOL_ECHO_MAX) return;
  for (int k = 0; k < n; k++) {
    int idx = first + k, t = lua_type(L, idx);
    e->v[k].type = t;
    e->v[k].isint = 0;
    e->v[k].p = NULL;
    if (t == LUA_TBOOLEAN) e->v[k].i = lua_toboolean(L, idx);
    else if (t == LUA_TNUMBER && (e->v[k].isint = lua_isinteger(L, idx))) e->v[k].i = lua_tointeger(L, idx);
    else if (t == LUA_TNUMBER) e->v[k].d = lua_tonumber(L, idx);
    else if (t == LUA_TSTRING) e->v[k].p = lua_tostring(L, idx);
    else if (t != LUA_TNIL) return; /* a table may change, a userdata is not worth it */
  }
  e->n = n;
  e->args = args;
}

const sio_args_t *siol_echo_match(lua_State *L, const siol_echo_t *e, int first, int last) {
  if (!e || !e->args || last - first + 1 != e->n) return NULL;
  for (int k = 0; k < e->n; k++) {
    int idx = first + k, t = lua_type(L, idx);
    if (t != e->v[k].type) return NULL;
    if (t == LUA_TBOOLEAN && lua_toboolean(L, idx) != e->v[k].i) return NULL;
    if (t == LUA_TSTRING && lua_tostring(L, idx) != e->v[k].p) return NULL;
    if (t == LUA_TNUMBER) {
      int isint = lua_isinteger(L, idx);
      if (isint != e->v[k].isint) return NULL;
      if (isint ? lua_tointeger(L, idx) != e->v[k].i : lua_tonumber(L, idx) != e->v[k].d) return NULL;
    }
  }
  return e->args;
}

/* ---- sio.binary ---- */

void siol_push_binary(lua_State *L, const char *data, size_t len) {
  luaL_checkstack(L, 2, "siol_push_binary");
  lua_newuserdatauv(L, 0, 1);
  lua_pushlstring(L, data ? data : "", data ? len : 0);
  lua_setiuservalue(L, -2, 1);
  luaL_setmetatable(L, SIOL_BINARY_MT);
}

const char *siol_to_binary(lua_State *L, int idx, size_t *len) {
  idx = lua_absindex(L, idx);
  luaL_checkstack(L, 2, "siol_to_binary");
  if (!luaL_testudata(L, idx, SIOL_BINARY_MT)) return NULL;
  lua_getiuservalue(L, idx, 1);
  /* The userdata keeps the string alive after the pop. */
  const char *s = lua_tolstring(L, -1, len);
  lua_pop(L, 1);
  return s;
}

/* The bytes of argument `arg`, which must be a sio.binary; the string is pushed. */
static const char *check_binary(lua_State *L, int arg, size_t *len) {
  luaL_checkudata(L, arg, SIOL_BINARY_MT);
  lua_getiuservalue(L, arg, 1);
  return lua_tolstring(L, -1, len);
}

static int l_binary(lua_State *L) {
  if (luaL_testudata(L, 1, SIOL_BINARY_MT)) {
    lua_settop(L, 1);
    return 1;
  }
  luaL_checktype(L, 1, LUA_TSTRING);
  /* Wraps the script's string itself: no copy of the bytes. */
  lua_newuserdatauv(L, 0, 1);
  lua_pushvalue(L, 1);
  lua_setiuservalue(L, -2, 1);
  luaL_setmetatable(L, SIOL_BINARY_MT);
  return 1;
}

static int l_is_binary(lua_State *L) {
  lua_pushboolean(L, luaL_testudata(L, 1, SIOL_BINARY_MT) != NULL);
  return 1;
}

static int l_binary_len(lua_State *L) {
  size_t len;
  check_binary(L, 1, &len);
  lua_pushinteger(L, (lua_Integer)len);
  return 1;
}

static int l_binary_bytes(lua_State *L) {
  size_t len;
  check_binary(L, 1, &len);
  return 1;
}

static int l_binary_eq(lua_State *L) {
  /* Either operand may be another kind of userdata that merely shares the metamethod lookup. */
  if (!luaL_testudata(L, 1, SIOL_BINARY_MT) || !luaL_testudata(L, 2, SIOL_BINARY_MT)) {
    lua_pushboolean(L, 0);
    return 1;
  }
  lua_getiuservalue(L, 1, 1);
  lua_getiuservalue(L, 2, 1);
  lua_pushboolean(L, lua_rawequal(L, -1, -2));
  return 1;
}

/* string.sub's reading of i and j: negative counts from the end, then clipped to 1..len. */
static int l_binary_sub(lua_State *L) {
  size_t len;
  const char *s = check_binary(L, 1, &len);
  lua_Integer l = (lua_Integer)len;
  lua_Integer i = luaL_checkinteger(L, 2);
  lua_Integer j = luaL_optinteger(L, 3, -1);
  if (i < 0) i = i < -l ? 1 : l + i + 1;
  if (i == 0) i = 1;
  if (j < 0) j = j < -l ? 0 : l + j + 1;
  if (j > l) j = l;
  if (i > j)
    lua_pushliteral(L, "");
  else
    lua_pushlstring(L, s + i - 1, (size_t)(j - i + 1));
  return 1;
}

/* ---- sio.array ---- */

static int l_array(lua_State *L) {
  if (lua_isnoneornil(L, 1)) {
    lua_newtable(L);
  } else {
    luaL_checktype(L, 1, LUA_TTABLE);
    lua_settop(L, 1);
    if (lua_getmetatable(L, 1)) {
      luaL_getmetatable(L, SIOL_ARRAY_MT);
      int same = lua_rawequal(L, -1, -2);
      lua_pop(L, 2);
      /* Replacing a metatable the script set would silently break its object. */
      if (!same) return luaL_argerror(L, 1, "table already has a metatable");
    }
  }
  luaL_setmetatable(L, SIOL_ARRAY_MT);
  return 1;
}

/* ---- sio.json ---- */

static int box_gc(lua_State *L) {
  box_t *bx = luaL_checkudata(L, 1, SIOL_BOX_MT);
  cJSON_Delete(bx->tree);
  sio_sbuf_free(&bx->printed);
  bx->tree = NULL;
  return 0;
}

static box_t *push_box(lua_State *L) {
  box_t *bx = lua_newuserdatauv(L, sizeof *bx, 0);
  bx->tree = NULL;
  bx->printed = (sio_sbuf_t)SIO_SBUF_INIT;
  luaL_setmetatable(L, SIOL_BOX_MT);
  return bx;
}

static int l_json_encode(lua_State *L) {
  luaL_checkany(L, 1);
  lua_settop(L, 1);
  box_t *bx = push_box(L);
  char err[256];
  conv_t c;
  if (conv_begin(&c, L, NULL, err, sizeof err) < 0) return luaL_error(L, "sio.json.encode: %s", err);
  c.encode = 1;
  if (convert_one(&c, 1, &bx->tree) < 0) return luaL_error(L, "sio.json.encode: %s", err);
  lua_settop(L, 2);
  /* Numbers as exactly the same double, NUL (held as C0 80) as "\u0000": as the core's wire. The
   * converter already refused nesting deeper than SIO_MAX_DEPTH. */
  int r = sio_json_write(&bx->printed, bx->tree, SIO_MAX_DEPTH);
  if (r == SIO_ENOMEM) return luaL_error(L, "sio.json.encode: out of memory");
  if (r) return luaL_error(L, "sio.json.encode: value nested deeper than %d levels", SIO_MAX_DEPTH);
  lua_pushlstring(L, bx->printed.data, bx->printed.len);
  cJSON_Delete(bx->tree);
  sio_sbuf_free(&bx->printed);
  bx->tree = NULL;
  return 1;
}

/* Deepest container nesting of j (a top-level container is 1), stopping once past the limit. */
static int json_depth(const cJSON *j, int level) {
  if (!cJSON_IsArray(j) && !cJSON_IsObject(j)) return level - 1;
  if (level > SIO_MAX_DEPTH) return level;
  int max = level;
  for (const cJSON *e = j->child; e; e = e->next) {
    int d = json_depth(e, level + 1);
    if (d > max) max = d;
    if (max > SIO_MAX_DEPTH) break;
  }
  return max;
}

static int l_json_decode(lua_State *L) {
  size_t len;
  const char *s = luaL_checklstring(L, 1, &len);
  lua_settop(L, 1);
  /* Raw C0 80 would be taken for an escaped NUL, and JSON text is UTF-8 anyway (a lone surrogate
   * received from the core may be in it, as its own bytes). The core's reader does the rest. */
  if (!sio_str_valid(s, len)) {
    lua_pushnil(L);
    lua_pushliteral(L, "invalid JSON");
    return 2;
  }
  box_t *bx = push_box(L);
  int r = sio_json_parse(s, len, &bx->tree);
  if (r == SIO_ENOMEM) return luaL_error(L, "sio.json.decode: out of memory");
  if (r) {
    lua_pushnil(L);
    lua_pushliteral(L, "invalid JSON");
    return 2;
  }
  if (json_depth(bx->tree, 1) > SIO_MAX_DEPTH) {
    lua_pushnil(L);
    lua_pushfstring(L, "value nested deeper than %d levels", SIO_MAX_DEPTH);
    return 2;
  }
  luaL_checkstack(L, 1, "sio.json.decode");
  push_value(L, bx->tree, NULL, 1);
  cJSON_Delete(bx->tree);
  bx->tree = NULL;
  return 1;
}

/* ---- opening ---- */

void siol_values_open(lua_State *L) {
  static const luaL_Reg binary_meta[] = {{"__len", l_binary_len},
                                         {"__tostring", l_binary_bytes},
                                         {"__eq", l_binary_eq},
                                         {NULL, NULL}};
  static const luaL_Reg binary_methods[] = {
      {"bytes", l_binary_bytes}, {"sub", l_binary_sub}, {NULL, NULL}};
  static const luaL_Reg json_funcs[] = {
      {"encode", l_json_encode}, {"decode", l_json_decode}, {NULL, NULL}};

  int mod = lua_gettop(L);
  luaL_checkstack(L, 4, "siol_values_open");

  luaL_newmetatable(L, SIOL_BINARY_MT);
  luaL_setfuncs(L, binary_meta, 0);
  luaL_newlib(L, binary_methods);
  lua_setfield(L, -2, "__index");
  lua_pop(L, 1);

  luaL_newmetatable(L, SIOL_ARRAY_MT);
  lua_pop(L, 1);

  luaL_newmetatable(L, SIOL_BOX_MT);
  lua_pushcfunction(L, box_gc);
  lua_setfield(L, -2, "__gc");
  lua_pop(L, 1);

  lua_pushlightuserdata(L, SIOL_NULL);
  lua_setfield(L, mod, "null");
  lua_pushcfunction(L, l_binary);
  lua_setfield(L, mod, "binary");
  lua_pushcfunction(L, l_array);
  lua_setfield(L, mod, "array");
  lua_pushcfunction(L, l_is_binary);
  lua_setfield(L, mod, "is_binary");
  luaL_newlib(L, json_funcs);
  lua_setfield(L, mod, "json");
}
