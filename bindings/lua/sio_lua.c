/* The Lua 5.4 binding of sio (`require "sio"`; built into siod), modelled on luv: every object is
 * a userdata with a metatable, callbacks are registry references, every handler runs in a
 * coroutine (siol_spawn, OpenResty's model: waiting functions yield it; its errors logged with a traceback),
 * expected failures return nil, "ENAME: message", "ENAME", and bad arguments raise.
 *
 * This file is the module's entry: luaopen_sio opens each object's file (private.h says which holds
 * what) and builds the `sio` table; the module functions that drive the loop live here. */
#include <signal.h>

#include "private.h"

/* sio.run()'s SIGINT/SIGTERM handles: closed when the last server is gone, so that the loop can
 * end (they would keep it alive). */
void siol_signals_off(siol_state_t *st) {
  if (!st->signals_on) return;
  st->signals_on = 0;
  uv_close((uv_handle_t *)&st->sigint, NULL);
  uv_close((uv_handle_t *)&st->sigterm, NULL);
}

void siol_shutdown(lua_State *L) {
  siol_state_t *st = siol_state(L);
  if (!st) return;
  siol_timers_stop(st->dead ? NULL : L, st);
  for (srv_t *s = st->servers; s; s = s->next) siol_srv_close(s);
  siol_clients_close(st);
  siol_signals_off(st);
}

static void on_run_signal(uv_signal_t *h, int signum) {
  siol_state_t *st = h->data;
  siol_log(st->L, SIOL_LOG_INFO, "shutting down (%s)", signum == SIGINT ? "SIGINT" : "SIGTERM");
  siol_shutdown(st->L);
}

/* sio.run([mode]): runs the loop ("default": until sio.stop() or nothing is left, shutting down
 * gracefully on SIGINT/SIGTERM; "once"; "nowait"). Returns true when handles remain. Under a host
 * it returns at once: the host runs the loop. */
/* sio.worker() -> index, count: this state's worker under siod --workers N (0-based), or 0, 1
 * without workers. Lua globals are per worker; what spans workers goes through rooms, broadcasts
 * and serverSideEmit. */
static int l_worker(lua_State *L) {
  siol_state_t *st = siol_state(L);
  int have = st && st->workers;
  lua_pushinteger(L, have ? (lua_Integer)st->worker : 0);
  lua_pushinteger(L, have ? (lua_Integer)sio_workers_count(st->workers) : 1);
  return 2;
}

static int l_run(lua_State *L) {
  siol_state_t *st = siol_state(L);
  static const char *const modes[] = {"default", "once", "nowait", NULL};
  int mode = luaL_checkoption(L, 1, "default", modes);
  if (st->hosted) {
    lua_pushboolean(L, 1);
    return 1;
  }
  if (st->running) return luaL_error(L, "sio.run() called from inside the loop");
  uv_loop_t *loop = siol_loop(L, st);
  int open = 0;
  for (srv_t *s = st->servers; s; s = s->next) open |= !s->closing && !s->closed;
  if (mode == 0 && !st->signals_on && open) {
    uv_signal_init(loop, &st->sigint);
    uv_signal_init(loop, &st->sigterm);
    st->sigint.data = st->sigterm.data = st;
    uv_signal_start(&st->sigint, on_run_signal, SIGINT);
    uv_signal_start(&st->sigterm, on_run_signal, SIGTERM);
    st->signals_on = 1;
  }
  lua_State *prev = st->L;
  st->L = L;
  st->running = 1;
  int alive = uv_run(loop, mode == 0 ? UV_RUN_DEFAULT : mode == 1 ? UV_RUN_ONCE : UV_RUN_NOWAIT);
  st->running = 0;
  st->L = prev;
  lua_pushboolean(L, alive);
  return 1;
}

static int l_stop(lua_State *L) {
  siol_state_t *st = siol_state(L);
  if (st->loop) uv_stop(st->loop);
  return 0;
}

static int l_shutdown(lua_State *L) {
  siol_shutdown(L);
  return 0;
}

/* sio.now(): the wall clock, ms since the epoch (JavaScript's Date.now()). */
static int l_now(lua_State *L) {
  uv_timeval64_t tv;
  if (uv_gettimeofday(&tv) != 0) return luaL_error(L, "sio.now: the clock cannot be read");
  lua_pushinteger(L, (lua_Integer)tv.tv_sec * 1000 + tv.tv_usec / 1000);
  return 1;
}

/* sio.monotonic(): the loop's clock, ms from an arbitrary start, never going back (durations). */
static int l_monotonic(lua_State *L) {
  uv_loop_t *loop = siol_loop(L, siol_state(L));
  uv_update_time(loop);
  lua_pushinteger(L, (lua_Integer)uv_now(loop));
  return 1;
}

static int l_log(lua_State *L) {
  int level = (int)lua_tointeger(L, lua_upvalueindex(1));
  siol_state_t *st = siol_state(L);
  if (st && level < st->log_level) return 0;
  int n = lua_gettop(L); /* before luaL_buffinit, which may push a placeholder */
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  for (int i = 1; i <= n; i++) {
    if (i > 1) luaL_addchar(&b, ' ');
    luaL_tolstring(L, i, NULL);
    luaL_addvalue(&b);
  }
  luaL_pushresult(&b);
  siol_log(L, level, "%s", lua_tostring(L, -1));
  return 0;
}

static int l_set_log_level(lua_State *L) {
  static const char *const names[] = {"debug", "info", "warn", "error", NULL};
  siol_set_log_level(L, luaL_checkoption(L, 1, NULL, names));
  return 0;
}

/* sio.on_log(fn[, level]): the core's records of `level` ("info" by default) and more severe, of
 * every server, go to fn(level, component, message) instead of the log; sio.on_log(nil): back to
 * the log, warnings and errors only. */
static int l_on_log(lua_State *L) {
  static const char *const names[] = {"error", "warn", "info", "debug", "trace", NULL}; /* SIO_LOG_* */
  siol_state_t *st = siol_state(L);
  if (!lua_isnoneornil(L, 1)) luaL_checktype(L, 1, LUA_TFUNCTION);
  int level = luaL_checkoption(L, 2, "info", names);
  siol_unref(L, &st->core_log_ref);
  if (!lua_isnoneornil(L, 1)) {
    lua_pushvalue(L, 1);
    st->core_log_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  }
  st->core_log_level = level;
  for (srv_t *s = st->servers; s; s = s->next)
    if (s->server && !s->closed) siol_apply_core_log(st, s->server, s);
  return 0;
}

/* sio.set_debug(categories): debug logging by category for every server of the state, now and
 * later ("engine,socket", "*", as SIO_DEBUG; nil or "" for none), in place of SIO_DEBUG's. The
 * records reach sio.on_log's function as ("trace", category, message), else the log whatever its
 * level. Returns the categories' mask; an unknown name raises. */
static int l_set_debug(lua_State *L) {
  siol_state_t *st = siol_state(L);
  const char *spec = luaL_optstring(L, 1, "");
  unsigned mask;
  if (sio_debug_parse(spec, &mask))
    return luaL_error(L, "sio.set_debug: unknown category in '%s' "
                         "(engine, socket, nsp, adapter, redis, http or *)", spec);
  st->debug_set = 1;
  st->debug_mask = mask;
  for (srv_t *s = st->servers; s; s = s->next)
    if (s->server && !s->closed) sio_server_set_debug(s->server, mask);
  lua_pushinteger(L, (lua_Integer)mask);
  return 1;
}

/* sio._roundtrip(...) -> json text, values...: the value converters both ways (for tests). */
static int l_roundtrip(lua_State *L) {
  int n = lua_gettop(L);
  args_box_t *box = siol_check_args(L, 1, n);
  if (!(box->text = cJSON_PrintUnformatted(box->json))) return luaL_error(L, "out of memory");
  lua_pushstring(L, box->text);
  sio_args_t a = siol_args_of(box);
  int pushed = siol_push_args(L, &a); /* raises when there are too many to push */
  siol_args_free(box);
  return 1 + pushed;
}

/* A write to a connection the peer has closed raises SIGPIPE, whose default kills the process:
 * under `lua5.4` (siod ignores it; Python and Node do at start-up) a client or server would die
 * instead of seeing EPIPE. Ignored only when nobody chose a disposition. */
static void ignore_sigpipe(void) {
  struct sigaction old;
  if (sigaction(SIGPIPE, NULL, &old) == 0 && old.sa_handler == SIG_DFL) signal(SIGPIPE, SIG_IGN);
}

int luaopen_sio(lua_State *L) {
  ignore_sigpipe();
  siol_state_open(L); /* one state per Lua state, shared by every require */
  siol_open_lreq(L);
  siol_open_server(L);
  siol_open_namespace(L);
  siol_open_middleware(L);
  siol_open_emitter(L);
  siol_open_socket(L);
  siol_open_use(L);
  siol_open_ack(L);
  siol_open_engine(L);
  siol_open_timer(L);
  siol_open_route(L);
  siol_open_hooks(L);
  siol_open_manager(L);
  siol_open_csocket(L);

  static const luaL_Reg fns[] = {{"server", siol_server},
                                 {"client", siol_client},
                                 {"manager", siol_manager},
                                 {"run", l_run},
                                 {"worker", l_worker},
                                 {"stop", l_stop},
                                 {"shutdown", l_shutdown},
                                 {"set_timeout", siol_set_timeout},
                                 {"set_interval", siol_set_interval},
                                 {"sleep", siol_sleep},
                                 {"now", l_now},
                                 {"monotonic", l_monotonic},
                                 {"set_log_level", l_set_log_level},
                                 {"on_log", l_on_log},
                                 {"set_debug", l_set_debug},
                                 {"_roundtrip", l_roundtrip},
                                 {NULL, NULL}};
  luaL_newlib(L, fns);
  siol_ack_functions(L);
  lua_pushstring(L, sio_version());
  lua_setfield(L, -2, "version");
  lua_createtable(L, 0, 4);
  static const char *const levels[] = {"debug", "info", "warn", "error"};
  for (int i = 0; i < 4; i++) {
    lua_pushinteger(L, i);
    lua_pushcclosure(L, l_log, 1);
    lua_setfield(L, -2, levels[i]);
  }
  /* sio.log.trace is sio.log.debug: sio.on_log's "trace" records (debug categories) go to
   * sio.log[level] as the others do. */
  lua_getfield(L, -1, "debug");
  lua_setfield(L, -2, "trace");
  lua_setfield(L, -2, "log");
  siol_values_open(L);
  return 1;
}
