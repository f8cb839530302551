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

/* ---- Hosts ---- */

/* What a host adds to the module: C functions called inside the script's sio.server{},
 * io:of(fn) and server:static() (so they may raise), each NULL when not wanted. siod's command-line
 * overrides and its reload (lua/siod_reload.c) are made of these. A host keeps its own state in
 * the Lua state's registry. */
typedef struct siol_hooks_s {
  /* sio.server{}: the options, a copy of the script's table that the hook may change (siod's
   * overrides), are at stack index `opts`, before the module reads them. */
  void (*server_options)(lua_State *L, int opts);
  /* sio.server{} for host, port (as asked: 0 is any) and path: push a server and return 1 to make
   * sio.server{} return it (as it is: open, with its connections) instead of a new one. */
  int (*server_find)(lua_State *L, const char *host, int port, const char *path);
  /* sio.server{} made the server at the top of the stack, for host and port as asked. */
  void (*server_made)(lua_State *L, const char *host, int port);
  /* io:of(fn) on the server at stack index 1: push one of its namespaces and return 1 to make it
   * the dynamic parent (fn becomes its `match`) instead of a new one. */
  int (*dynamic_find)(lua_State *L);
  /* server:static(prefix, dir) found the prefix mounted already: 1 takes that as done. */
  int (*static_taken)(lua_State *L);
} siol_hooks_t;

/* Makes the module (already opened in L, `sio` loaded into package.loaded) run on `loop` as the
 * host's: sio.run() then returns at once (the host runs the loop), and `hooks` (copied; may be
 * NULL) take part in what scripts make. Call before running the script. */
void siol_host(lua_State *L, uv_loop_t *loop, const siol_hooks_t *hooks);

/* Makes this state worker `index` of `workers` (sio.h "Workers"; call in the worker's setup, on
 * its thread, after siol_host with the worker's loop): every server its scripts make joins the
 * group before listening (SO_REUSEPORT: each worker listens on the same host:port). A state per
 * worker: Lua globals are the worker's own; what spans workers goes through rooms, broadcasts and
 * serverSideEmit (the in-process adapter). */
typedef struct sio_workers_s sio_workers_t;
void siol_host_workers(lua_State *L, sio_workers_t *workers, unsigned index);
/* The worker index set by siol_host_workers, -1 without. */
int siol_worker_index(lua_State *L);

/* What scripts made, for a host that runs a script again in the same state (siod's reload). Each
 * pushes one value. */
/* An array of the open servers (closing ones left out), newest first. */
void siol_servers(lua_State *L);
/* An array of everything of the server at idx that scripts bind handlers on: its namespaces in the
 * order they were made (dynamic children included, whose own table goes unused: they share their
 * parent's), then its Engine.IO endpoints. */
void siol_server_parts(lua_State *L, int idx);
/* The handler table of the namespace or endpoint at idx ({connection = fn, match = fn, ...}, or
 * {connection, message, close} for an endpoint); siol_set_handlers pops a table and makes it the
 * object's. A namespace without `match` matches no dynamic name. */
void siol_handlers(lua_State *L, int idx);
void siol_set_handlers(lua_State *L, int idx);
/* Every socket connected to the server at idx loses its socket:on and on_any handlers and meets
 * its namespace's "connection" handler again, with a second argument `true`. */
void siol_rebind(lua_State *L, int idx);

/* Log levels of sio.log and of the binding's own messages (handler errors with tracebacks). */
enum { SIOL_LOG_DEBUG = 0, SIOL_LOG_INFO, SIOL_LOG_WARN, SIOL_LOG_ERROR };
void siol_set_log_level(lua_State *L, int level);
/* Writes one line to stderr: "2026-11-22T04:05:06.123Z WARN  message". */
void siol_log(lua_State *L, int level, const char *fmt, ...);

/* Closes every server (each socket gets a DISCONNECT, reason "server shutting down") and every
 * timer, so that the loop ends once they are closed. What sio.shutdown() does. */
void siol_shutdown(lua_State *L);

/* Calls the function at the top of the stack (below it its nargs arguments) in protected mode with
 * a traceback; an error is logged ("error in <what>[ <detail>]: ...", detail may be NULL) and 0
 * returned, else 1 with nresults results pushed. For what must answer at once (a namespace matcher,
 * a host's script); handlers run in coroutines under the same logging (private.h, lco.c). */
int siol_pcall(lua_State *L, int nargs, int nresults, const char *what, const char *detail);

#endif
