/* siod's part in the sio module, made of sio_lua.h's host API: the command-line overrides of
 * sio.server{}'s options, and the reload (SIGHUP) that runs the script again on the running
 * servers. Its state lives in the Lua state's registry. */
#ifndef SIOD_RELOAD_H
#define SIOD_RELOAD_H

#include <lua.h>
#include <uv.h>

/* Options from the command line: they override what a script passes to sio.server{}. A NULL
 * string / a negative number means "not given". Borrowed by siod_host (copied into Lua). */
typedef struct siod_overrides_s {
  const char *host;
  int port;
  const char *path;
  int allow_eio3; /* 1 to force on; -1 not given */
  int no_http_compression; /* 1: polling responses never compressed; 0 not given */
  long ping_interval_ms;
  long ping_timeout_ms;
  long max_payload;
  const char *redis;  /* a Redis URL: every server is a cluster node */
  const char *redis_mode; /* "classic", "sharded" or "streams" (with redis): sio.server{redis_mode} */
  const char *cookie; /* a cookie name: every server sets it on the polling handshake */
  int per_message_deflate; /* 1: every server accepts permessage-deflate; 0 not given */
  /* --recovery [MS]: every server has connection_state_recovery with this duration (ms),
   * skip_middlewares on; -1 not given */
  long recovery_ms;
  const char *tls_cert, *tls_key; /* TLS files: every server listens with HTTPS/WSS */
  const char *parser; /* "msgpack": every server speaks socket.io-msgpack-parser */
  /* --admin USER:BCRYPTHASH / --admin-no-auth: every server the script makes is instrumented
   * (server:instrument{}, namespace /admin, development mode); admin 0 not given */
  int admin;
  const char *admin_auth; /* "USER:BCRYPTHASH"; NULL: no auth */
  const char *metrics_path; /* --metrics PATH: every server serves Prometheus text at PATH */
} siod_overrides_t;

void siod_overrides_init(siod_overrides_t *o);

/* Makes the module (opened in L, `sio` loaded) run on `loop` as siod's (siol_host), with `o` (may
 * be NULL) applied to every server the script makes, and reloads possible. Before the script
 * runs. */
void siod_host(lua_State *L, uv_loop_t *loop, const siod_overrides_t *o);
/* siod --workers, workers 1..n-1: the ports worker 0's servers got, in the order it made them. A
 * server the script asks for on port 0 (after the overrides) takes the next of them, so that every
 * worker's n-th server shares worker 0's n-th port (SO_REUSEPORT). Called again before a reload
 * (the count starts over, and the reload finds the same servers). */
void siod_host_worker_ports(lua_State *L, const int *ports, int n);

/* A reload: begin, run the new script, then commit on success or abort on failure.
 * Between begin and commit, sio.server{} with the host and port of an existing server returns that
 * server (its listening socket and connections kept) with its handlers and middleware cleared;
 * io:of(name) returns the existing namespaces and io:of(fn) the dynamic parents in the order they
 * were made. Commit closes the servers the script did not ask for again, drops the dynamic parents
 * it did not make again (they match nothing), and calls each namespace's new "connection" handler
 * for every socket already connected, with a second argument `true` (so that it binds its
 * socket:on handlers again); abort restores the previous handlers and closes the servers the
 * failed script made. */
void siod_reload_begin(lua_State *L);
/* Every open TLS server re-reads its certificate, key and CA files (server:reload_tls()); a failure
 * is logged and keeps that server's current ones. */
void siod_reload_tls(lua_State *L);
void siod_reload_commit(lua_State *L);
void siod_reload_abort(lua_State *L);

#endif
