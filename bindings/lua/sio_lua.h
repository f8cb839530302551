/* The Lua 5.4 binding of sio: luaopen_sio for `require "sio"`, and what a host program (siod)
 * needs to embed it, in the manner of luv's luv_set_loop. */
#ifndef SIO_LUA_H
#define SIO_LUA_H

#include <lua.h>
#include <uv.h>

/* The module is built with hidden visibility: only the entry point is exported. */
#if defined(__GNUC__)
#define SIOL_EXPORT __attribute__((visibility("default")))
#else
#define SIOL_EXPORT
#endif

/* The module: returns the `sio` table. Without a host, it runs servers on a loop of its own
 * (created on first use, closed when the Lua state is closed) and sio.run() drives it. */
SIOL_EXPORT int luaopen_sio(lua_State *L);

/* Options a host gives from its command line: they override what a script passes to sio.server{}.
 * A NULL string / a negative number means "not given". Strings are copied. */
typedef struct siol_overrides_s {
  const char *host;
  int port;
  const char *path;
  int allow_eio3;          /* 1 to force on; -1 not given */
  long ping_interval_ms;
  long ping_timeout_ms;
  long max_payload;
  const char *redis;       /* a Redis URL: every server is a cluster node (sio_io_use_redis) */
  const char *cookie;      /* a cookie name: every server sets it on the polling handshake */
} siol_overrides_t;

void siol_overrides_init(siol_overrides_t *o);

/* Makes the module (already opened in L, `sio` loaded into package.loaded) run on `loop` as the
 * daemon's: sio.run() then returns at once (the host runs the loop), and `o` (may be NULL) is
 * applied to every server the script creates. Call before running the script. */
void siol_host(lua_State *L, uv_loop_t *loop, const siol_overrides_t *o);

/* Log levels of sio.log and of the binding's own messages (handler errors with tracebacks). */
enum { SIOL_LOG_DEBUG = 0, SIOL_LOG_INFO, SIOL_LOG_WARN, SIOL_LOG_ERROR };
void siol_set_log_level(lua_State *L, int level);
/* Writes one line to stderr: "2026-11-22T04:05:06.123Z WARN  message". */
void siol_log(lua_State *L, int level, const char *fmt, ...);

/* A reload (siod's SIGHUP): begin, run the new script, then commit on success or abort on failure.
 * Between begin and commit, sio.server{} with the host and port of an existing server returns that
 * server (its listening socket and connections kept) with its handlers and middleware cleared;
 * io:of() returns the existing namespaces. Commit closes the servers the script did not ask for
 * again and calls each namespace's new "connection" handler for every socket already connected,
 * with a second argument `true` (so that it binds its socket:on handlers again); abort restores
 * the previous handlers. */
void siol_reload_begin(lua_State *L);
void siol_reload_commit(lua_State *L);
void siol_reload_abort(lua_State *L);

/* Closes every server (each socket gets a DISCONNECT, reason "server shutting down") and every
 * timer, so that the loop ends once they are closed. What sio.shutdown() does. */
void siol_shutdown(lua_State *L);

/* Calls the function at the top of the stack (below it its nargs arguments) in protected mode with
 * a traceback; an error is logged ("error in <what>: ...") and 0 returned, else 1 with nresults
 * results pushed. The one path for every callback into Lua. */
int siol_pcall(lua_State *L, int nargs, int nresults, const char *what);

#endif
