/* siod's overrides and reload, on sio_lua.h's host API (the rules are in siod_reload.h).
 *
 * The state is a table in the registry: {overrides = {option = value}, reloading = bool,
 * records = {[server] = {host, port, fresh, claimed, next, parents}} (weak keys), saved =
 * {[namespace or endpoint] = its handlers before the reload}}. A record is what siod knows of a
 * server: the host and port the script asked for (a reload matches on them), whether the script
 * being run made it (fresh) or asked for it again (claimed), and the dynamic parents it had
 * before the reload, which io:of(fn) hands out again in order (next). */
#include <string.h>

#include <lauxlib.h>

#include "sio_lua.h"
#include "siod_reload.h"

#define HOST_KEY "siod.host"

void siod_overrides_init(siod_overrides_t *o) {
  memset(o, 0, sizeof *o);
  o->port = -1;
  o->allow_eio3 = -1;
  o->ping_interval_ms = -1;
  o->ping_timeout_ms = -1;
  o->max_payload = -1;
  o->recovery_ms = -1;
}

/* Pushes field `key` of the host state. */
static int host_field(lua_State *L, const char *key) {
  lua_getfield(L, LUA_REGISTRYINDEX, HOST_KEY);
  int t = lua_getfield(L, -1, key);
  lua_remove(L, -2);
  return t;
}

static void set_host_field(lua_State *L, const char *key) {
  lua_getfield(L, LUA_REGISTRYINDEX, HOST_KEY);
  lua_insert(L, -2);
  lua_setfield(L, -2, key);
  lua_pop(L, 1);
}

static int reloading(lua_State *L) {
  host_field(L, "reloading");
  int r = lua_toboolean(L, -1);
  lua_pop(L, 1);
  return r;
}

/* Pushes the record of the server at idx (nil for none). */
static int push_record(lua_State *L, int idx) {
  idx = lua_absindex(L, idx);
  host_field(L, "records");
  lua_pushvalue(L, idx);
  int t = lua_rawget(L, -2);
  lua_remove(L, -2);
  return t;
}

static int field_true(lua_State *L, int t, const char *key) {
  lua_getfield(L, t, key);
  int v = lua_toboolean(L, -1);
  lua_pop(L, 1);
  return v;
}

static void set_bool(lua_State *L, int t, const char *key, int v) {
  lua_pushboolean(L, v);
  lua_setfield(L, t, key);
}

/* ---- the module's hooks ---- */

/* --cookie NAME: the script's cookie turned on with that name (over a table: a copy of it with
 * that name); a cookie of another type is left for sio.server{} to refuse. */
static void override_cookie(lua_State *L, int opts, int name) {
  int t = lua_getfield(L, opts, "cookie");
  if (t == LUA_TTABLE) {
    lua_newtable(L);
    lua_pushnil(L);
    while (lua_next(L, -3)) {
      lua_pushvalue(L, -2);
      lua_insert(L, -2);
      lua_rawset(L, -4);
    }
    lua_pushvalue(L, name);
    lua_setfield(L, -2, "name");
    lua_setfield(L, opts, "cookie");
  } else if (t == LUA_TNIL || t == LUA_TBOOLEAN || t == LUA_TSTRING) {
    lua_pushvalue(L, name);
    lua_setfield(L, opts, "cookie");
  }
}

static void worker_port(lua_State *L, int opts);

static void hook_server_options(lua_State *L, int opts) {
  host_field(L, "overrides");
  int ov = lua_gettop(L);
  lua_pushnil(L);
  while (lua_next(L, ov)) {
    const char *key = lua_tostring(L, ov + 1);
    if (strcmp(key, "cookie") == 0) {
      override_cookie(L, opts, ov + 2);
    } else if (strcmp(key, "per_message_deflate") == 0 &&
               lua_getfield(L, opts, key) == LUA_TTABLE) {
      /* already on, with the script's own threshold: kept */
    } else {
      lua_pushvalue(L, ov + 2);
      lua_setfield(L, opts, key);
    }
    lua_settop(L, ov + 1);
  }
  lua_pop(L, 1);
  worker_port(L, opts);
}

void siod_host_worker_ports(lua_State *L, const int *ports, int n) {
  lua_createtable(L, n, 1);
  for (int i = 0; i < n; i++) {
    lua_pushinteger(L, ports[i]);
    lua_rawseti(L, -2, i + 1);
  }
  lua_pushinteger(L, 1);
  lua_setfield(L, -2, "next");
  set_host_field(L, "worker_ports");
}

/* A port-0 server of a worker 1..n-1 takes worker 0's port (siod_host_worker_ports). */
static void worker_port(lua_State *L, int opts) {
  if (host_field(L, "worker_ports") != LUA_TTABLE) {
    lua_pop(L, 1);
    return;
  }
  int ports = lua_gettop(L);
  int isnum = 0;
  lua_getfield(L, opts, "port");
  lua_Integer asked = lua_tointegerx(L, -1, &isnum);
  lua_getfield(L, ports, "next");
  lua_Integer next = lua_tointeger(L, -1);
  if (isnum && asked == 0 && next <= (lua_Integer)lua_rawlen(L, ports)) {
    lua_rawgeti(L, ports, next);
    lua_setfield(L, opts, "port");
    lua_pushinteger(L, next + 1);
    lua_setfield(L, ports, "next");
  }
  lua_settop(L, ports - 1);
}

static int hook_server_find(lua_State *L, const char *host, int port, const char *path) {
  if (!reloading(L)) return 0;
  siol_servers(L);
  int list = lua_gettop(L);
  lua_Integer n = (lua_Integer)lua_rawlen(L, list);
  for (lua_Integer i = 1; i <= n; i++) {
    lua_settop(L, list);
    lua_rawgeti(L, list, i);
    int s = lua_gettop(L);
    if (push_record(L, s) != LUA_TTABLE) continue;
    int rec = lua_gettop(L);
    lua_getfield(L, rec, "port");
    lua_getfield(L, rec, "host");
    if (field_true(L, rec, "fresh") || field_true(L, rec, "claimed") || lua_tointeger(L, -2) != port ||
        strcmp(lua_tostring(L, -1), host) != 0)
      continue;
    lua_getfield(L, s, "path");
    lua_getfield(L, s, "port");
    if (strcmp(lua_tostring(L, -2), path) != 0)
      siol_log(L, SIOL_LOG_WARN, "reload: the path of the server on port %d stays %s until a restart",
               (int)lua_tointeger(L, -1), lua_tostring(L, -2));
    set_bool(L, rec, "claimed", 1);
    lua_pushinteger(L, 0);
    lua_setfield(L, rec, "next");
    lua_pushvalue(L, s);
    lua_replace(L, list);
    lua_settop(L, list);
    return 1;
  }
  lua_settop(L, list - 1);
  return 0;
}

static void hook_server_made(lua_State *L, const char *host, int port) {
  int s = lua_gettop(L);
  host_field(L, "records");
  lua_pushvalue(L, s);
  lua_createtable(L, 0, 6);
  lua_pushstring(L, host);
  lua_setfield(L, -2, "host");
  lua_pushinteger(L, port);
  lua_setfield(L, -2, "port");
  int fresh = reloading(L);
  set_bool(L, lua_gettop(L), "fresh", fresh);
  lua_rawset(L, -3);
  lua_settop(L, s);
  /* siod --admin / --admin-no-auth: server:instrument(overrides.admin); a bad hash raises here,
   * as a bad option of sio.server{} does. */
  host_field(L, "overrides");
  if (lua_getfield(L, -1, "admin") == LUA_TTABLE) {
    int opts = lua_gettop(L);
    lua_getfield(L, s, "instrument");
    lua_pushvalue(L, s);
    lua_pushvalue(L, opts);
    lua_call(L, 2, 0);
  }
  lua_settop(L, s);
}

/* io:of(fn) while reloading a server the script asked for again: its next old dynamic parent. */
static int hook_dynamic_find(lua_State *L) {
  int top = lua_gettop(L);
  if (!reloading(L) || push_record(L, 1) != LUA_TTABLE || field_true(L, -1, "fresh")) {
    lua_settop(L, top);
    return 0;
  }
  int rec = lua_gettop(L);
  lua_getfield(L, rec, "next");
  lua_Integer next = lua_tointeger(L, -1) + 1;
  lua_getfield(L, rec, "parents");
  if (!lua_istable(L, -1) || lua_rawgeti(L, -1, next) == LUA_TNIL) {
    lua_settop(L, top);
    return 0;
  }
  lua_pushinteger(L, next);
  lua_setfield(L, rec, "next");
  lua_replace(L, top + 1);
  lua_settop(L, top + 1);
  return 1;
}

static int hook_static_taken(lua_State *L) { return reloading(L); }

void siod_host(lua_State *L, uv_loop_t *loop, const siod_overrides_t *o) {
  lua_createtable(L, 0, 4);
  lua_newtable(L);
  if (o) {
    const char *strs[][2] = {{"host", o->host}, {"path", o->path}, {"redis", o->redis}, {"redis_mode", o->redis_mode},
                             {"cookie", o->cookie},
                             {"parser", o->parser}, {"metrics_path", o->metrics_path}};
    for (size_t i = 0; i < sizeof strs / sizeof *strs; i++) {
      if (!strs[i][1]) continue;
      lua_pushstring(L, strs[i][1]);
      lua_setfield(L, -2, strs[i][0]);
    }
    const struct {
      const char *key;
      long v;
    } nums[] = {{"port", o->port}, {"ping_interval", o->ping_interval_ms}, {"ping_timeout", o->ping_timeout_ms},
                {"max_payload", o->max_payload}};
    for (size_t i = 0; i < sizeof nums / sizeof *nums; i++) {
      if (nums[i].v < 0) continue;
      lua_pushinteger(L, nums[i].v);
      lua_setfield(L, -2, nums[i].key);
    }
    if (o->allow_eio3 > 0) {
      lua_pushboolean(L, 1);
      lua_setfield(L, -2, "allow_eio3");
    }
    if (o->per_message_deflate > 0) {
      lua_pushboolean(L, 1);
      lua_setfield(L, -2, "per_message_deflate");
    }
    if (o->no_http_compression) {
      lua_pushboolean(L, 0);
      lua_setfield(L, -2, "http_compression");
    }
    if (o->recovery_ms >= 0) {
      lua_createtable(L, 0, 2);
      lua_pushinteger(L, o->recovery_ms);
      lua_setfield(L, -2, "max_disconnection_duration");
      lua_pushboolean(L, 1);
      lua_setfield(L, -2, "skip_middlewares");
      lua_setfield(L, -2, "connection_state_recovery");
    }
    if (o->admin) { /* {auth = false | {username, password}}, for server:instrument() */
      lua_createtable(L, 0, 1);
      const char *colon = o->admin_auth ? strchr(o->admin_auth, ':') : NULL;
      if (colon) {
        lua_createtable(L, 0, 2);
        lua_pushlstring(L, o->admin_auth, (size_t)(colon - o->admin_auth));
        lua_setfield(L, -2, "username");
        lua_pushstring(L, colon + 1);
        lua_setfield(L, -2, "password");
      } else {
        lua_pushboolean(L, 0);
      }
      lua_setfield(L, -2, "auth");
      lua_setfield(L, -2, "admin");
    }
    if (o->tls_cert && o->tls_key) {
      lua_createtable(L, 0, 2);
      lua_pushstring(L, o->tls_cert);
      lua_setfield(L, -2, "cert");
      lua_pushstring(L, o->tls_key);
      lua_setfield(L, -2, "key");
      lua_setfield(L, -2, "tls");
    }
  }
  lua_setfield(L, -2, "overrides");
  lua_newtable(L); /* records, weak keys: a server's record goes with it */
  lua_createtable(L, 0, 1);
  lua_pushliteral(L, "k");
  lua_setfield(L, -2, "__mode");
  lua_setmetatable(L, -2);
  lua_setfield(L, -2, "records");
  lua_setfield(L, LUA_REGISTRYINDEX, HOST_KEY);
  static const siol_hooks_t hooks = {hook_server_options, hook_server_find, hook_server_made,
                                     hook_dynamic_find, hook_static_taken};
  siol_host(L, loop, &hooks);
}

/* ---- reloads ---- */

void siod_reload_tls(lua_State *L) {
  siol_servers(L);
  int list = lua_gettop(L);
  lua_Integer n = (lua_Integer)lua_rawlen(L, list);
  for (lua_Integer i = 1; i <= n; i++) {
    lua_settop(L, list);
    lua_rawgeti(L, list, i);
    int s = lua_gettop(L);
    lua_getfield(L, s, "tls");
    int tls = lua_toboolean(L, -1);
    if (!tls) continue;
    lua_getfield(L, s, "reload_tls");
    lua_pushvalue(L, s);
    if (lua_pcall(L, 1, 2, 0) != LUA_OK || !lua_toboolean(L, -2)) {
      lua_getfield(L, s, "port");
      siol_log(L, SIOL_LOG_ERROR, "reload: the TLS files of the server on port %d: %s; keeping the old ones",
               (int)lua_tointeger(L, -1), lua_tostring(L, -2) ? lua_tostring(L, -2) : "?");
    } else {
      lua_getfield(L, s, "port");
      siol_log(L, SIOL_LOG_INFO, "reload: the server on port %d re-read its TLS files", (int)lua_tointeger(L, -1));
    }
  }
  lua_settop(L, list - 1);
}

/* Calls fn(L, server, record) for every open server that has a record. */
static void each_server(lua_State *L, void (*fn)(lua_State *L, int s, int rec)) {
  siol_servers(L);
  int list = lua_gettop(L);
  lua_Integer n = (lua_Integer)lua_rawlen(L, list);
  for (lua_Integer i = 1; i <= n; i++) {
    lua_rawgeti(L, list, i);
    if (push_record(L, -1) == LUA_TTABLE) fn(L, list + 1, list + 2);
    lua_settop(L, list);
  }
  lua_pop(L, 1);
}

/* Calls fn(L, part, saved, arg) for every namespace and endpoint of the server at s, `saved` the
 * stack index of the handlers saved at the reload's beginning. */
static void each_part(lua_State *L, int s, int arg, void (*fn)(lua_State *L, int part, int saved, int arg)) {
  host_field(L, "saved");
  int saved = lua_gettop(L);
  siol_server_parts(L, s);
  lua_Integer n = (lua_Integer)lua_rawlen(L, saved + 1);
  for (lua_Integer i = 1; i <= n; i++) {
    lua_rawgeti(L, saved + 1, i);
    fn(L, saved + 2, saved, arg);
    lua_settop(L, saved + 1);
  }
  lua_settop(L, saved - 1);
}

/* A part's handlers go to `saved` (a dynamic parent's to its server's `parents` too) and it starts
 * with an empty table. */
static void save_part(lua_State *L, int part, int saved, int parents) {
  lua_pushvalue(L, part);
  siol_handlers(L, part);
  if (lua_getfield(L, -1, "match") == LUA_TFUNCTION) {
    lua_pushvalue(L, part);
    lua_rawseti(L, parents, (lua_Integer)lua_rawlen(L, parents) + 1);
  }
  lua_pop(L, 1);
  lua_rawset(L, saved);
  lua_newtable(L);
  siol_set_handlers(L, part);
}

static void begin_server(lua_State *L, int s, int rec) {
  set_bool(L, rec, "claimed", 0);
  set_bool(L, rec, "fresh", 0);
  lua_pushinteger(L, 0);
  lua_setfield(L, rec, "next");
  lua_newtable(L);
  lua_pushvalue(L, -1);
  lua_setfield(L, rec, "parents");
  each_part(L, s, lua_gettop(L), save_part);
}

static int reload_begin(lua_State *L) {
  if (reloading(L)) return 0;
  lua_newtable(L);
  set_host_field(L, "saved");
  each_server(L, begin_server);
  lua_pushboolean(L, 1);
  set_host_field(L, "reloading");
  return 0;
}

static void close_server(lua_State *L, int s) {
  lua_getfield(L, s, "close");
  lua_pushvalue(L, s);
  lua_call(L, 1, 0);
}

/* The reload is over for the server's record. */
static void settle(lua_State *L, int rec) {
  set_bool(L, rec, "claimed", 0);
  set_bool(L, rec, "fresh", 0);
  lua_pushnil(L);
  lua_setfield(L, rec, "parents");
}

static void commit_server(lua_State *L, int s, int rec) {
  if (!field_true(L, rec, "claimed") && !field_true(L, rec, "fresh")) {
    lua_getfield(L, s, "port");
    siol_log(L, SIOL_LOG_INFO, "closing the server on port %d: the script no longer makes it",
             (int)lua_tointeger(L, -1));
    close_server(L, s);
  }
  settle(L, rec);
}

static void rebind_server(lua_State *L, int s, int rec) {
  (void)rec;
  siol_rebind(L, s);
}

/* A parent the new script did not make again has a handler table without `match`: it matches
 * nothing from now on. */
static int reload_commit(lua_State *L) {
  if (!reloading(L)) return 0;
  lua_pushboolean(L, 0);
  set_host_field(L, "reloading");
  lua_pushnil(L);
  set_host_field(L, "saved");
  each_server(L, commit_server);
  each_server(L, rebind_server);
  return 0;
}

/* The saved handlers back; what the failed script made keeps its own, but matches nothing. */
static void restore_part(lua_State *L, int part, int saved, int arg) {
  (void)arg;
  lua_pushvalue(L, part);
  if (lua_rawget(L, saved) == LUA_TTABLE) {
    siol_set_handlers(L, part);
    return;
  }
  siol_handlers(L, part);
  lua_pushnil(L);
  lua_setfield(L, -2, "match");
}

static void abort_server(lua_State *L, int s, int rec) {
  each_part(L, s, 0, restore_part);
  if (field_true(L, rec, "fresh")) close_server(L, s);
  settle(L, rec);
}

static int reload_abort(lua_State *L) {
  if (!reloading(L)) return 0;
  lua_pushboolean(L, 0);
  set_host_field(L, "reloading");
  each_server(L, abort_server);
  lua_pushnil(L);
  set_host_field(L, "saved");
  return 0;
}

/* In protected mode: a Lua memory error is logged, not a panic. */
static void run(lua_State *L, lua_CFunction fn, const char *what) {
  lua_pushcfunction(L, fn);
  siol_pcall(L, 0, 0, what, NULL);
}

void siod_reload_begin(lua_State *L) { run(L, reload_begin, "reload"); }
void siod_reload_commit(lua_State *L) { run(L, reload_commit, "reload"); }
void siod_reload_abort(lua_State *L) { run(L, reload_abort, "reload"); }
