/* sio.server{}'s options table into the core's options structs. Defaults are the core's (from the
 * _init functions); the ranges a script may give are the binding's. */
#include <limits.h>
#include <string.h>

#include "private.h"

#define INT31 0x7fffffffL

long siol_opt_int(lua_State *L, int t, const char *key, long def, long min, long max) {
  lua_getfield(L, t, key);
  long v = def;
  if (!lua_isnil(L, -1)) {
    int isnum;
    lua_Integer i = lua_tointegerx(L, -1, &isnum);
    if (!isnum || i < min || i > max)
      luaL_error(L, "sio.server: option '%s' must be an integer in [%d, %d]", key, (int)min, (int)max);
    v = (long)i;
  }
  lua_pop(L, 1);
  return v;
}

static int opt_bool(lua_State *L, int t, const char *key, int def) {
  lua_getfield(L, t, key);
  int v = lua_isnil(L, -1) ? def : lua_toboolean(L, -1);
  lua_pop(L, 1);
  return v;
}

const char *siol_opt_str(lua_State *L, int t, const char *key, const char *def) {
  lua_getfield(L, t, key);
  if (lua_isnil(L, -1)) {
    lua_pop(L, 1);
    if (!def) {
      lua_pushnil(L);
      return NULL;
    }
    lua_pushstring(L, def);
    return lua_tostring(L, -1);
  }
  if (lua_istable(L, -1)) {
    luaL_Buffer buf;
    int tbl = lua_gettop(L);
    luaL_buffinit(L, &buf);
    lua_Integer n = (lua_Integer)lua_rawlen(L, tbl);
    for (lua_Integer i = 1; i <= n; i++) {
      if (i > 1) luaL_addchar(&buf, ',');
      lua_rawgeti(L, tbl, i);
      if (lua_type(L, -1) != LUA_TSTRING) luaL_error(L, "sio.server: option '%s' must hold strings", key);
      luaL_addvalue(&buf);
    }
    luaL_pushresult(&buf);
    lua_remove(L, tbl);
    return lua_tostring(L, -1);
  }
  if (lua_type(L, -1) != LUA_TSTRING) luaL_error(L, "sio.server: option '%s' must be a string", key);
  return lua_tostring(L, -1);
}

/* A string attribute of the cookie table at t: its default when nil, NULL when false. The string
 * stays on the stack. */
static const char *cookie_str(lua_State *L, int t, const char *key, const char *def) {
  lua_getfield(L, t, key);
  if (lua_isnil(L, -1)) return def;
  if (lua_isboolean(L, -1) && !lua_toboolean(L, -1)) return NULL;
  if (lua_type(L, -1) != LUA_TSTRING) luaL_error(L, "sio.server: cookie.%s must be a string or false", key);
  return lua_tostring(L, -1);
}

static void check_cookie_keys(lua_State *L, int v) {
  static const char *const keys[] = {"name", "path", "domain", "same_site", "http_only", "secure", "max_age", NULL};
  lua_pushnil(L);
  while (lua_next(L, v)) {
    int known = 0;
    for (int i = 0; keys[i] && lua_type(L, -2) == LUA_TSTRING; i++)
      known = known || strcmp(lua_tostring(L, -2), keys[i]) == 0;
    if (!known)
      luaL_error(L, "sio.server: unknown cookie attribute '%s' (name, path, domain, same_site, http_only, "
                    "secure, max_age)", luaL_tolstring(L, -2, NULL));
    lua_pop(L, 1);
  }
}

/* cookie = true | "name" | {name=, path=, domain=, same_site=, http_only=, secure=, max_age=}, over
 * the core's defaults (Path=/; HttpOnly; SameSite=Lax); true is the reference's name "io".
 * Strings stay on the stack. */
static void opt_cookie(lua_State *L, int t, sio_cookie_options_t *o) {
  lua_getfield(L, t, "cookie");
  int v = lua_gettop(L);
  if (lua_isnil(L, v) || (lua_isboolean(L, v) && !lua_toboolean(L, v))) return;
  if (lua_type(L, v) == LUA_TSTRING) {
    o->name = lua_tostring(L, v);
  } else if (lua_istable(L, v)) {
    check_cookie_keys(L, v);
    o->name = cookie_str(L, v, "name", "io");
    if (!o->name) luaL_error(L, "sio.server: cookie.name must be a string");
    o->path = cookie_str(L, v, "path", o->path);
    o->domain = cookie_str(L, v, "domain", o->domain);
    o->same_site = cookie_str(L, v, "same_site", o->same_site);
    o->http_only = opt_bool(L, v, "http_only", o->http_only);
    o->secure = opt_bool(L, v, "secure", o->secure);
    lua_getfield(L, v, "max_age");
    int isnum = 1;
    lua_Integer age = lua_isnil(L, -1) ? (lua_Integer)o->max_age_s : lua_tointegerx(L, -1, &isnum);
    if (!isnum || age < 0 || age > INT31)
      luaL_error(L, "sio.server: cookie.max_age must be an integer in [0, 2147483647] (seconds)");
    o->max_age_s = (uint32_t)age;
    lua_pop(L, 1);
  } else if (lua_isboolean(L, v)) {
    o->name = "io";
  } else {
    luaL_error(L, "sio.server: option 'cookie' must be true, a name or a table");
  }
}

/* per_message_deflate = true | false | { threshold = N } (Node's perMessageDeflate). */
static void opt_deflate(lua_State *L, int t, sio_engine_options_t *e) {
  int type = lua_getfield(L, t, "per_message_deflate");
  int v = lua_gettop(L);
  if (type == LUA_TBOOLEAN || type == LUA_TNIL) {
    e->per_message_deflate = lua_toboolean(L, v);
  } else if (type == LUA_TTABLE) {
    lua_pushnil(L);
    while (lua_next(L, v)) {
      if (lua_type(L, -2) != LUA_TSTRING || strcmp(lua_tostring(L, -2), "threshold") != 0)
        luaL_error(L, "sio.server: unknown per_message_deflate option '%s' (threshold)",
                   lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : "?");
      lua_pop(L, 1);
    }
    e->per_message_deflate = 1;
    e->deflate_threshold = (uint32_t)siol_opt_int(L, v, "threshold", 1024, 1, INT31);
  } else {
    luaL_error(L, "sio.server: option 'per_message_deflate' must be a boolean or a table");
  }
  lua_pop(L, 1);
}

/* connection_state_recovery = true | { max_disconnection_duration = ms, skip_middlewares = bool,
 * max_bytes = n } (Node's connectionStateRecovery; its camelCase keys too). */
static void opt_recovery(lua_State *L, int t, sio_io_options_t *io) {
  static const char *const keys[] = {"max_disconnection_duration", "maxDisconnectionDuration",
                                     "skip_middlewares", "skipMiddlewares", "max_bytes", "maxBytes",
                                     NULL};
  int type = lua_getfield(L, t, "connection_state_recovery");
  int v = lua_gettop(L);
  if (type == LUA_TBOOLEAN || type == LUA_TNIL) {
    io->connection_state_recovery.enabled = lua_toboolean(L, v);
  } else if (type == LUA_TTABLE) {
    lua_pushnil(L);
    while (lua_next(L, v)) {
      int known = 0;
      for (int i = 0; lua_type(L, -2) == LUA_TSTRING && keys[i] && !known; i++)
        known = strcmp(lua_tostring(L, -2), keys[i]) == 0;
      if (!known)
        luaL_error(L, "sio.server: unknown connection_state_recovery option '%s' "
                   "(max_disconnection_duration, skip_middlewares, max_bytes)",
                   lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : "?");
      lua_pop(L, 1);
    }
    struct { const char *a, *b; } ms = {"max_disconnection_duration", "maxDisconnectionDuration"},
                                  sk = {"skip_middlewares", "skipMiddlewares"}, mb = {"max_bytes", "maxBytes"};
    io->connection_state_recovery.enabled = 1;
    uint32_t *dur = &io->connection_state_recovery.max_disconnection_duration_ms;
    *dur = (uint32_t)siol_opt_int(L, v, ms.a, (long)siol_opt_int(L, v, ms.b, (long)*dur, 0, INT31), 0, INT31);
    int *skip = &io->connection_state_recovery.skip_middlewares;
    *skip = opt_bool(L, v, sk.a, opt_bool(L, v, sk.b, *skip));
    size_t *cap = &io->connection_state_recovery.max_bytes;
    *cap = (size_t)siol_opt_int(L, v, mb.a, (long)siol_opt_int(L, v, mb.b, (long)*cap, 0, LONG_MAX), 0, LONG_MAX);
  } else {
    luaL_error(L, "sio.server: option 'connection_state_recovery' must be a boolean or a table");
  }
  lua_pop(L, 1);
}

static int opt_transports(lua_State *L, int t, int def) {
  int bits = def;
  lua_getfield(L, t, "transports");
  if (lua_istable(L, -1)) {
    bits = 0;
    lua_Integer n = (lua_Integer)lua_rawlen(L, -1);
    for (lua_Integer i = 1; i <= n; i++) {
      lua_rawgeti(L, -1, i);
      const char *s = lua_tostring(L, -1);
      if (s && strcmp(s, "polling") == 0) bits |= SIO_TRANSPORT_POLLING;
      else if (s && strcmp(s, "websocket") == 0) bits |= SIO_TRANSPORT_WEBSOCKET;
      else luaL_error(L, "sio.server: transports are \"polling\" and \"websocket\"");
      lua_pop(L, 1);
    }
    if (!bits) luaL_error(L, "sio.server: no transport");
  }
  lua_pop(L, 1);
  return bits;
}

/* http_compression = true (the default) | false | { threshold = bytes } (Node's httpCompression,
 * whose threshold 0 compresses every response: the core's 0 is its default, so 1 here). */
static void opt_http_compression(lua_State *L, int t, sio_engine_options_t *e) {
  lua_getfield(L, t, "http_compression");
  int v = lua_gettop(L);
  if (lua_isboolean(L, v)) {
    e->http_compression = lua_toboolean(L, v) ? 0 : -1;
  } else if (lua_istable(L, v)) {
    e->http_compression = 0;
    lua_Integer n = siol_opt_int(L, v, "threshold", 1024, 0, INT31);
    e->http_compression_threshold = (uint32_t)(n ? n : 1);
  } else if (!lua_isnil(L, v)) {
    luaL_error(L, "sio.server: option 'http_compression' must be a boolean or { threshold = bytes }");
  }
  lua_pop(L, 1);
}


/* parser = "msgpack" (npm socket.io-msgpack-parser) or "default"/nil (JSON); anything else raises. */
static void opt_parser(lua_State *L, int t, int *parser) {
  lua_getfield(L, t, "parser");
  if (!lua_isnil(L, -1)) {
    const char *s = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : NULL;
    if (s && strcmp(s, "msgpack") == 0) *parser = SIO_PARSER_MSGPACK;
    else if (s && strcmp(s, "default") == 0) *parser = SIO_PARSER_JSON;
    else luaL_error(L, "sio.server: parser must be \"default\" or \"msgpack\", not %s",
                    s ? s : luaL_typename(L, -1));
  }
  lua_pop(L, 1);
}

/* One of `names` (NULL-terminated) at t[key]: its index, or def when nil; raises otherwise. */
static int opt_choice(lua_State *L, int t, const char *key, const char *const *names, int def) {
  lua_getfield(L, t, key);
  if (lua_isnil(L, -1)) {
    lua_pop(L, 1);
    return def;
  }
  const char *s = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : NULL;
  for (int i = 0; s && names[i]; i++)
    if (strcmp(s, names[i]) == 0) {
      lua_pop(L, 1);
      return i;
    }
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  for (int i = 0; names[i]; i++) {
    luaL_addstring(&b, i ? (names[i + 1] ? ", \"" : " or \"") : "\"");
    luaL_addstring(&b, names[i]);
    luaL_addchar(&b, '"');
  }
  luaL_pushresult(&b);
  return luaL_error(L, "sio.server: option '%s' must be %s, not %s", key, lua_tostring(L, -1),
                    s ? s : luaL_typename(L, -2));
}

/* Whether t[key] is set (not nil). */
static int opt_given(lua_State *L, int t, const char *key) {
  int given = lua_getfield(L, t, key) != LUA_TNIL;
  lua_pop(L, 1);
  return given;
}

/* redis_mode = "classic" (default) | "sharded" | "streams", and each mode's own options (Node's
 * names in snake case); an option of another mode, or any of them without redis, raises. */
static void opt_redis(lua_State *L, int t, siol_server_opts_t *o) {
  static const char *const modes[] = {"classic", "sharded", "streams", NULL};
  static const char *const subs[] = {"dynamic", "static", "dynamic-private", NULL}; /* SIO_REDIS_SUB_* */
  static const char *const streams_only[] = {"redis_stream_name", "redis_stream_count", "redis_max_len",
                                             "redis_read_count", "redis_block_time", "redis_session_key_prefix",
                                             "redis_sharded_pubsub", NULL};
  sio_redis_streams_options_t *so = &o->streams;
  o->redis.url = siol_opt_str(L, t, "redis", o->redis.url);
  o->redis.key = siol_opt_str(L, t, "redis_key", o->redis.key);
  o->redis.requests_timeout_ms =
      (uint32_t)siol_opt_int(L, t, "redis_requests_timeout", o->redis.requests_timeout_ms, 1, 86400000);
  int mode = opt_choice(L, t, "redis_mode", modes, 0);
  if (opt_given(L, t, "redis_subscription_mode") && mode != 1)
    luaL_error(L, "sio.server: option 'redis_subscription_mode' needs redis_mode = \"sharded\"");
  o->redis.subscription_mode = opt_choice(L, t, "redis_subscription_mode", subs, o->redis.subscription_mode);
  for (int i = 0; streams_only[i]; i++)
    if (mode != 2 && opt_given(L, t, streams_only[i]))
      luaL_error(L, "sio.server: option '%s' needs redis_mode = \"streams\"", streams_only[i]);
  if (!o->redis.url && (mode || opt_given(L, t, "redis_subscription_mode")))
    luaL_error(L, "sio.server: option 'redis_mode' needs redis = URL");
  o->redis.sharded = mode == 1;
  o->redis_streams = mode == 2;
  so->url = o->redis.url;
  so->channel_prefix = o->redis.key; /* the streams adapter's channelPrefix */
  so->requests_timeout_ms = o->redis.requests_timeout_ms;
  so->stream_name = siol_opt_str(L, t, "redis_stream_name", so->stream_name);
  so->stream_count = (uint32_t)siol_opt_int(L, t, "redis_stream_count", so->stream_count, 1, 1024);
  so->max_len = (uint32_t)siol_opt_int(L, t, "redis_max_len", so->max_len, 1, INT31);
  so->read_count = (uint32_t)siol_opt_int(L, t, "redis_read_count", so->read_count, 1, INT31);
  so->block_ms = (uint32_t)siol_opt_int(L, t, "redis_block_time", so->block_ms, 1, INT31);
  so->session_key_prefix = siol_opt_str(L, t, "redis_session_key_prefix", so->session_key_prefix);
  so->sharded = opt_bool(L, t, "redis_sharded_pubsub", so->sharded);
}

void siol_read_listen_options(lua_State *L, int t, siol_server_opts_t *o) {
  luaL_checkstack(L, 32, "sio.server"); /* the strings kept, the cookie's and their temporaries */
  sio_io_options_init(&o->io);
  sio_redis_options_init(&o->redis);
  sio_redis_streams_options_init(&o->streams);
  o->redis_streams = 0;
  o->host = siol_opt_str(L, t, "host", "0.0.0.0");
  o->port = (int)siol_opt_int(L, t, "port", 3000, 0, 65535);
  o->io.engine.path = siol_opt_str(L, t, "path", o->io.engine.path);
  /* tls = {cert = "chain.pem", key = "key.pem", ca = "clients-ca.pem"}: HTTPS/WSS on the port. */
  sio_tls_options_init(&o->tls);
  int tt = lua_getfield(L, t, "tls");
  if (tt != LUA_TNIL) {
    if (tt != LUA_TTABLE) luaL_error(L, "sio.server: option 'tls' must be a table {cert=, key=, ca=}");
    int tls = lua_gettop(L);
    o->tls.cert_file = siol_opt_str(L, tls, "cert", NULL);
    o->tls.key_file = siol_opt_str(L, tls, "key", NULL);
    o->tls.ca_file = siol_opt_str(L, tls, "ca", NULL);
    if (!o->tls.cert_file || !o->tls.key_file) luaL_error(L, "sio.server: tls needs cert and key");
  }
}

void siol_read_server_options(lua_State *L, int t, siol_server_opts_t *o) {
  sio_engine_options_t *e = &o->io.engine;
  e->allow_eio3 = opt_bool(L, t, "allow_eio3", e->allow_eio3);
  e->ping_interval_ms = (uint32_t)siol_opt_int(L, t, "ping_interval", e->ping_interval_ms, 1, INT31);
  e->ping_timeout_ms = (uint32_t)siol_opt_int(L, t, "ping_timeout", e->ping_timeout_ms, 1, INT31);
  e->upgrade_timeout_ms = (uint32_t)siol_opt_int(L, t, "upgrade_timeout", e->upgrade_timeout_ms, 1, INT31);
  e->max_payload = (size_t)siol_opt_int(L, t, "max_payload", (long)e->max_payload, 1, INT31);
  e->max_buffered = (size_t)siol_opt_int(L, t, "max_buffered", (long)e->max_buffered, 0, INT31);
  e->allow_upgrades = opt_bool(L, t, "allow_upgrades", e->allow_upgrades);
  e->cors_credentials = opt_bool(L, t, "cors_credentials", e->cors_credentials);
  e->same_origin = opt_bool(L, t, "same_origin", e->same_origin);
  e->transports = opt_transports(L, t, e->transports);
  /* A function decides per Origin (hooks.c): no allow-list, and no same-origin rule either. */
  int cors_fn = lua_getfield(L, t, "cors") == LUA_TFUNCTION;
  lua_pop(L, 1);
  if (cors_fn) e->same_origin = 0;
  else e->cors_origin = siol_opt_str(L, t, "cors", e->cors_origin); /* the string stays pushed */
  opt_cookie(L, t, &e->cookie);
  opt_deflate(L, t, e);
  opt_http_compression(L, t, e);
  o->io.connect_timeout_ms = (uint32_t)siol_opt_int(L, t, "connect_timeout", o->io.connect_timeout_ms, 1, INT31);
  o->io.max_attachments = (size_t)siol_opt_int(L, t, "max_attachments", (long)o->io.max_attachments, 0, 1000);
  o->io.client_dir = siol_opt_str(L, t, "client_dir", o->io.client_dir);
  opt_parser(L, t, &o->io.parser);
  opt_recovery(L, t, &o->io);
  opt_redis(L, t, o);
}
