/* Calls into Lua and failures out of it: the one protected-call helper (a daemon logs an error with
 * its traceback and goes on, never exits), the log, and luv's `nil, "ENAME: message", "ENAME"`. */
#include <stdarg.h>
#include <stdio.h>
#include <time.h>

#include "private.h"

static const char *const level_names[] = {"DEBUG", "INFO", "WARN", "ERROR"};

static void log_line(int level, const char *msg) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  struct tm tm;
  gmtime_r(&ts.tv_sec, &tm);
  char stamp[32];
  strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &tm);
  /* One fprintf per line so that lines from handlers and the binding never interleave mid-way. */
  fprintf(stderr, "%s.%03ldZ %-5s %s\n", stamp, ts.tv_nsec / 1000000, level_names[level], msg);
  fflush(stderr);
}

void siol_log(lua_State *L, int level, const char *fmt, ...) {
  siol_state_t *st = siol_state(L);
  if (level < (st ? st->log_level : SIOL_LOG_INFO)) return;
  char msg[4096];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  log_line(level, msg);
}

/* The core's records: to sio.on_log()'s function when there is one (a plain protected call, on
 * the loop's thread: it may not wait), else to the log above as "sio: <component>: <message>"
 * (the line the core writes by itself). When the function raises, or once lua_close() began, the
 * record is written all the same. */
void siol_core_log(sio_server_t *server, int level, const char *component, const char *message, void *arg) {
  srv_t *srv = arg;
  siol_state_t *st = srv->st;
  lua_State *L = siol_cb_state(st);
  if (!L) {
    sio_log_stderr(server, level, component, message, NULL);
    return;
  }
  if (st->core_log_ref != LUA_NOREF && !st->in_core_log && lua_checkstack(L, 6)) {
    st->in_core_log = 1;
    lua_rawgeti(L, LUA_REGISTRYINDEX, st->core_log_ref);
    lua_pushstring(L, sio_log_level_name(level));
    lua_pushstring(L, component);
    lua_pushstring(L, message);
    int ok = siol_pcall(L, 3, 0, "the sio.on_log function", NULL);
    st->in_core_log = 0;
    if (ok) return;
  }
  if (level == SIO_LOG_TRACE) { /* a debug category someone turned on: written whatever the level */
    char line[1100];
    snprintf(line, sizeof line, "sio: %s: %s", component, message);
    log_line(SIOL_LOG_DEBUG, line);
    return;
  }
  siol_log(L, SIOL_LOG_ERROR - (level > SIO_LOG_DEBUG ? SIO_LOG_DEBUG : level < 0 ? 0 : level),
           "sio: %s: %s", component, message);
}

void siol_apply_core_log(siol_state_t *st, sio_server_t *server, void *srv) {
  sio_server_set_log(server, st->core_log_ref != LUA_NOREF ? st->core_log_level : SIO_LOG_WARN,
                     siol_core_log, srv);
  if (st->debug_set) sio_server_set_debug(server, st->debug_mask);
}

void siol_set_log_level(lua_State *L, int level) {
  siol_state_t *st = siol_state(L);
  if (st) st->log_level = level;
}

int siol_msgh(lua_State *L) {
  const char *msg = lua_tostring(L, 1);
  if (!msg) {
    if (luaL_callmeta(L, 1, "__tostring") && lua_type(L, -1) == LUA_TSTRING) return 1;
    msg = lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, 1));
  }
  luaL_traceback(L, L, msg, 1);
  return 1;
}

int siol_pcall(lua_State *L, int nargs, int nresults, const char *what, const char *detail) {
  int base = lua_gettop(L) - nargs;
  lua_pushcfunction(L, siol_msgh);
  lua_insert(L, base);
  int r = lua_pcall(L, nargs, nresults, base);
  lua_remove(L, base);
  if (r == LUA_OK) return 1;
  const char *msg = lua_tostring(L, -1);
  siol_log(L, SIOL_LOG_ERROR, "error in %s%s%s: %s", what, detail ? " " : "", detail ? detail : "",
           msg ? msg : "?");
  lua_pop(L, 1);
  return 0;
}

int siol_push_fail(lua_State *L, int err) {
  lua_pushnil(L);
  lua_pushfstring(L, "%s: %s", sio_err_name(err), sio_strerror(err));
  lua_pushstring(L, sio_err_name(err));
  return 3;
}

int siol_push_ok(lua_State *L, int r) {
  if (r < 0) return siol_push_fail(L, r);
  lua_pushboolean(L, 1);
  return 1;
}

int siol_raise_detail(lua_State *L, int err, const char *what) {
  const char *detail = sio_last_error();
  return luaL_error(L, "%s: %s", what, *detail ? detail : sio_strerror(err));
}
