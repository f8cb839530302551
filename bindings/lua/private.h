/* What the files of the Lua binding share (luv's private.h): the objects, the metatables, and
 * each file's functions that another one calls. Not installed; a host (siod) uses sio_lua.h.
 *
 * One file per object -- server.c (sio.server{}, and options.c reading its options), namespace.c
 * (with middleware.c and cluster.c), emitter.c (broadcast operators, with selection.c), socket.c,
 * ack.c, engine.c, timer.c, values.c, and the client's manager.c and csocket.c (sio.client) -- over
 * shared helpers: lstate.c (the module state and what
 * holds it alive: luv's lhandle.c), lcall.c (protected calls, logging, failures), lco.c (every
 * handler runs in a coroutine, which the waiting functions yield), llisten.c (listener lists) and
 * lreq.c (one-shot callback and wait contexts and a call's converted arguments: luv's lreq.c).
 * sio_lua.c is the module entry.
 *
 * Lifetimes. The module state, servers, engines, timers and callback contexts are malloc'd, not
 * userdata: the core calls back with pointers to them after lua_close() may have freed every
 * userdata, so each callback gets its lua_State from siol_cb_state() (NULL once lua_close() has
 * begun) before it touches Lua; each holds the state (siol_hold), freed by the last release.
 * Namespaces, sockets and sessions live in userdata kept alive by registry references for as long
 * as the core holds them (a socket until on_disconnect, a namespace with its server); their
 * callbacks reach the state through the server first. No process globals: the state hangs off the
 * Lua state's registry. */
#ifndef SIOL_PRIVATE_H
#define SIOL_PRIVATE_H

#include <lauxlib.h>
#include <lua.h>

#include "sio.h"
#include "sio_client.h"
#include "sio_lua.h"
#include "values.h"

/* Metatables, by their registry names. */
#define SIOL_SERVER_MT "sio.server"
#define SIOL_NSP_MT "sio.namespace"
#define SIOL_SOCKET_MT "sio.socket"
#define SIOL_OP_MT "sio.emitter"
#define SIOL_ACK_MT "sio.ack"
#define SIOL_NEXT_MT "sio.next"
#define SIOL_PNEXT_MT "sio.packet_next"
#define SIOL_TIMER_MT "sio.timer"
#define SIOL_ENGINE_MT "sio.engine"
#define SIOL_SESSION_MT "sio.session"
#define SIOL_ARGS_MT "sio.args"
#define SIOL_MANAGER_MT "sio.manager"
#define SIOL_CSOCKET_MT "sio.client"
#define SIOL_CEMITTER_MT "sio.client_emitter"
#define SIOL_CACK_MT "sio.client_ack"

typedef struct srv_s srv_t;
typedef struct tmr_s tmr_t;
typedef struct eng_s eng_t;
typedef struct mgr_s mgr_t;

/* ---- lstate.c: the module state ---- */

typedef struct siol_state_s {
  lua_State *L; /* the thread callbacks run on: the main one, or the one inside sio.run() */
  uv_loop_t *loop;
  uv_loop_t own_loop;
  int own_loop_ready;
  int hosted;
  int dead;    /* lua_close() has begun: no more calls into Lua */
  int live;    /* holds: the module's own, and every malloc'd object pointing here */
  int running; /* inside uv_run() called by sio.run() */
  int log_level;
  int core_log_ref;   /* sio.on_log()'s function, or LUA_NOREF */
  int core_log_level; /* its level, as the core's (SIO_LOG_*) */
  int in_core_log;    /* inside it: a record it causes goes to the log, not to it again */
  int debug_set;      /* sio.set_debug() was called: debug_mask replaces SIO_DEBUG's categories */
  unsigned debug_mask; /* its SIO_DEBUG_* categories, for every server of the state */
  siol_hooks_t hooks; /* the host's (all NULL without one) */
  sio_workers_t *workers; /* siol_host_workers(): the group the state's servers join, or NULL */
  unsigned worker;        /* and the worker this state is */
  srv_t *servers;     /* newest first */
  tmr_t *timers;
  mgr_t *managers; /* the client's (manager.c), newest first */
  uv_signal_t sigint, sigterm; /* sio.run()'s graceful shutdown */
  int signals_on;
  lua_State *spare;      /* a handler coroutine kept for the next handler (lco.c), or NULL */
  int spare_ref;         /* its registry reference */
  lua_State *cur_co;     /* the handler coroutine running now, or NULL */
  int cur_ref;           /* its registry reference; LUA_NOREF once a waiting function took it */
  int ack_mt;            /* registry references to the ack metatables (ack.c): with __gc, */
  int ack_mt_fresh;      /* and without (an ack during its event's dispatch) */
  int key_h, key_any, key_use; /* registry references to the strings "h", "any", "use" (the socket
                                  uservalue's keys read per event: no C string interned each time) */
} siol_state_t;

siol_state_t *siol_state(lua_State *L); /* NULL before luaopen_sio */
siol_state_t *siol_state_open(lua_State *L);
void siol_hold(siol_state_t *st);
void siol_release(siol_state_t *st);
/* The loop: the host's, or one of the module's own made on first use (raises when it cannot). */
uv_loop_t *siol_loop(lua_State *L, siol_state_t *st);
/* The thread a callback may call into Lua on, or NULL once lua_close() has begun. */
lua_State *siol_cb_state(const siol_state_t *st);
void siol_unref(lua_State *L, int *ref);
/* A metatable `mt` whose "methods" table holds both lists (`more` may be NULL); __index is
 * `index`, or the methods table itself when NULL. */
void siol_class(lua_State *L, const char *mt, const luaL_Reg *methods, const luaL_Reg *more,
                lua_CFunction index, lua_CFunction gc, lua_CFunction tostring);
/* For an __index: pushes method `key` of the object at 1 and returns 1, or returns 0. */
int siol_method(lua_State *L, const char *key);

/* ---- lcall.c: calls into Lua and failures ---- */

/* luv's answer to an expected failure: nil, "ENAME: message", "ENAME" (3 values). */
int siol_push_fail(lua_State *L, int err);
/* true, or the failure above for r < 0. */
int siol_push_ok(lua_State *L, int r);
/* Raises "<what>: <sio_last_error()>" for a bad call the core refused with a detail
 * (SIO_ERESERVED, or SIO_EINVAL from an emit); the code's text when there is none. */
int siol_raise_detail(lua_State *L, int err, const char *what);

/* The core's log sink of every server of the state (sio.on_log, lcall.c); arg is its srv_t. */
void siol_core_log(sio_server_t *server, int level, const char *component, const char *message, void *arg);
/* Gives the core's server the state's sink and level (at creation, and after sio.on_log). */
void siol_apply_core_log(siol_state_t *st, sio_server_t *server, void *srv);

/* The message handler of the protected calls (siol_pcall): the error with a traceback. */
int siol_msgh(lua_State *L);

/* ---- lco.c: handler coroutines ---- */

/* What runs when a handler's coroutine ends (at once or after waiting), on that coroutine: ok 1
 * with the handler's results at first..top, or ok 0 after its error was logged (its text with the
 * traceback at first). The context value given to siol_spawn is at SIOL_CO_CTX. */
typedef struct siol_fin_s {
  void (*done)(lua_State *co, int ok, int first);
  int results_only; /* done has nothing to do after a return of no values: not called then */
} siol_fin_t;
#define SIOL_CO_CTX 4
/* Runs the handler on L's stack, below it a context value and above it nargs arguments (all
 * popped), in a handler coroutine; fin (may be NULL) runs when it ends. An error is logged as
 * "error in <what>[ <detail>]: message" with its traceback (what: a static string). */
void siol_spawn(siol_state_t *st, lua_State *L, const siol_fin_t *fin, const char *what,
                const char *detail, int nargs);
/* siol_spawn with the detail the string at L's index detail (below the context value). */
void siol_spawn_at(siol_state_t *st, lua_State *L, const siol_fin_t *fin, const char *what, int detail,
                   int nargs);
/* Spawns each catch-all listener of the list at L's index `list` with (event, args...) (what: as
 * siol_spawn's). */
void siol_spawn_catch_alls(siol_state_t *st, lua_State *L, int list, const char *what, const char *event,
                           const sio_args_t *args);
/* Whether L is a handler coroutine that may wait now. */
int siol_can_wait(lua_State *L);
/* For a waiting function called on L: takes the running coroutine's reference (what anchors it
 * while it waits), or raises a clear error outside a handler's coroutine (fn: the function's
 * name). siol_give_co gives it back when the wait could not start. */
int siol_take_co(lua_State *L, const char *fn);
/* Raises that clear error unless L may wait. */
void siol_check_can_wait(lua_State *L, const char *fn);
void siol_give_co(lua_State *L, int ref);
/* Resumes the waiting coroutine co (anchored by ref, consumed) with the n values on top of L. */
void siol_wake(siol_state_t *st, lua_State *L, lua_State *co, int ref, int n);

/* ---- llisten.c: listener lists (Node's EventEmitter) ---- */

/* Adds the function at fn to the list t[key] of the table at t (once 1: a once listener, removed
 * before its first call; SIOL_ACK_FIRST: a socket's ack-first listener). */
enum { SIOL_ACK_FIRST = 2 };
void siol_listen_add(lua_State *L, int t, const char *key, int fn, int once);
/* Removes from t[key] the last listener added for the function at fn, or every one (fn 0). */
void siol_listen_remove(lua_State *L, int t, const char *key, int fn);
/* Entry i of the list at `list` (t[key] when the dispatch began): pushes its function and returns
 * 1 (SIOL_ACK_FIRST for an ack-first listener), or returns 0 (a once listener that ran already).
 * A once listener is taken off t[key] first. */
int siol_listen_push(lua_State *L, int t, const char *key, int list, lua_Integer i);
/* Runs every listener of the list at `list` (t[key] when the dispatch began) in a coroutine of
 * its own, in order: each gets the nargs values at first.. (copied), the value at ctx (0: nil) as
 * its context, fin and what as siol_spawn's; *started (may be NULL) counts each before it runs.
 * An ack-first listener gets the context first (an ack, then also the last of the nargs values,
 * which it does not get again) or nil. */
void siol_listen_run(siol_state_t *st, lua_State *L, int t, const char *key, int list, int first, int nargs,
                     int ctx, const siol_fin_t *fin, const char *what, int *started);
/* siol_listen_run with key's Lua string at keyidx (0: none), for the listeners' detail. */
void siol_listen_run_at(siol_state_t *st, lua_State *L, int t, const char *key, int keyidx, int list, int first,
                        int nargs, int ctx, const siol_fin_t *fin, const char *what, int *started);
/* on/once and off of an object at 1 (event at 2, function at 3) on the table t[key]: return 1. */
int siol_listen_on(lua_State *L, int t, const char *key, int once);
int siol_listen_off(lua_State *L, int t, const char *key);
/* The listener methods of sockets (server and client) and managers, object checked at 1. */
int siol_obj_on(lua_State *L, int once);
int siol_obj_off(lua_State *L);
int siol_obj_on_any(lua_State *L);

/* ---- lreq.c: one-shot callback contexts and a call's converted arguments ---- */

/* A Lua function the core will call back once (an ack, a cluster request), or a handler's
 * coroutine waiting for that answer; holds the state. */
typedef struct siol_req_s siol_req_t;
siol_req_t *siol_req_new(lua_State *L, int fn);
/* The running handler coroutine waits for the answer (raises outside one: fn is the function's
 * name for the message). Then the function returns siol_req_yield(L). */
siol_req_t *siol_req_wait(lua_State *L, const char *fn);
int siol_req_yield(lua_State *L);
int siol_req_waits(const siol_req_t *r);
/* The call that would have used it failed: releases it without calling. */
void siol_req_drop(lua_State *L, siol_req_t *r);
/* The callback is due: pushes its function and its error argument (nil, or "ENAME: text") and
 * returns the thread to call it on, or NULL (nothing pushed) once Lua is closing; for a waiting
 * coroutine, pushes nothing. Then, either way, siol_req_finish(): with L set, calls the function
 * (in a handler coroutine) with its error and the n values pushed after it (an error is logged as
 * "error in <what>"), or resumes the waiting coroutine with the n values, followed by the error
 * when status was not 0 (`value, err` as OpenResty's); frees r. */
lua_State *siol_req_begin(siol_req_t *r, int status);
void siol_req_finish(siol_req_t *r, lua_State *L, int n, const char *what);
/* A JSON array as a Lua array (placeholders indexing a's buffers); an empty one for non-arrays. */
void siol_push_json_array(lua_State *L, const cJSON *j, const sio_args_t *a);

/* A call's converted arguments, in a userdata whose __gc frees them: an error raised after the
 * conversion cannot leak them. The attachments point into Lua strings among the arguments. One box
 * per module state is kept for reuse (most calls: no userdata made and collected each time); a
 * call made while it is in use (a handler run from inside another call's send) gets a new one. */
typedef struct {
  cJSON *json;
  siol_bufs_t b;
  char *text; /* sio._roundtrip's JSON text */
  int busy;   /* the kept box, between siol_check_args and siol_args_free */
} args_box_t;
/* Pushes an empty box (for a cJSON tree of the core's that Lua code must not leak). */
args_box_t *siol_args_box(lua_State *L);
/* Converts stack values first..last (absolute) into a box pushed on the stack (the kept one when
 * free); raises on a bad value (the box emptied first). Callers free it with siol_args_free()
 * before they raise or return. */
args_box_t *siol_check_args(lua_State *L, int first, int last);
/* Frees the arguments now (a big payload need not wait for the collector); the box stays. */
void siol_args_free(args_box_t *a);
sio_args_t siol_args_of(const args_box_t *a);
void siol_open_lreq(lua_State *L);

/* ---- server.c ---- */

struct srv_s {
  siol_state_t *st;
  sio_server_t *server;
  sio_io_t *io;
  int ref; /* registry: the box userdata, while open */
  int closing, closed, orphan;
  char *host;
  int port; /* bound */
  sio_engine_options_t eio; /* for io:engine(); path, cors and cookie point at the strings below */
  char *path, *cors, *client_dir;
  char *cookie[4]; /* the cookie's name, path, domain, same_site */
  char *redis;     /* the Redis URL of a cluster node, or NULL */
  int tls;         /* listening with TLS (tls = {cert=, key=}) */
  eng_t *engines;
  int routes_ref; /* registry: server:route()'s list (route.c); 0 or LUA_NOREF: none */
  srv_t *next, **pprev;
};

int siol_server(lua_State *L); /* sio.server{} */
srv_t *siol_check_srv(lua_State *L, int idx);
srv_t *siol_check_open_srv(lua_State *L, int idx);
void siol_push_server(lua_State *L, srv_t *srv);
void siol_srv_close(srv_t *srv);
srv_t *siol_srv_of_nsp(sio_nsp_t *nsp);
void siol_open_server(lua_State *L);

/* ---- hooks.c: the handshake hooks ---- */

/* allow_request and a cors function of the options table at t, set on the server (a new one, or
 * the one a siod reload found again). */
void siol_hooks_from_options(lua_State *L, int t, srv_t *srv);
int siol_on_engine(lua_State *L); /* server:on_engine(event, fn) */
void siol_open_hooks(lua_State *L);

/* ---- options.c: sio.server{}'s options ---- */

/* What sio.server{} was asked for; the strings are Lua strings kept on the stack by the reader. */
typedef struct {
  const char *host;
  int port;
  sio_io_options_t io;       /* engine.path, cors_origin, client_dir, cookie: strings as above */
  sio_redis_options_t redis; /* url NULL: not a cluster node */
  int redis_streams;         /* redis_mode = "streams": sio_io_use_redis_streams with `streams` */
  sio_redis_streams_options_t streams; /* url, channel_prefix, requests timeout: redis's */
  sio_tls_options_t tls;     /* cert_file NULL: plain HTTP */
} siol_server_opts_t;

/* Read the options table at t (raising on a bad one) and push the strings they keep: first host,
 * port and path (over the defaults), then the rest. */
void siol_read_listen_options(lua_State *L, int t, siol_server_opts_t *o);
void siol_read_server_options(lua_State *L, int t, siol_server_opts_t *o);
/* The integer t[key] in [min, max], or def when nil; raises "<fn>: option ..." otherwise. */
long siol_opt_int(lua_State *L, int t, const char *key, long def, long min, long max);
/* The string t[key] (a list of strings is joined by commas), or def when nil; pushed (nil for a
 * NULL def). */
const char *siol_opt_str(lua_State *L, int t, const char *key, const char *def);

/* ---- namespace.c (and middleware.c, cluster.c) ---- */

typedef struct {
  srv_t *srv;
  sio_nsp_t *nsp;
  int ref;    /* registry: this userdata, for the server's life */
  int parent; /* a parent of dynamic namespaces (io:of(fn)) */
} nsp_ud_t;

extern const luaL_Reg siol_nsp_methods[];
int siol_of(lua_State *L);
extern const sio_nsp_callbacks_t siol_nsp_cbs;
/* The namespace at idx (a server: its "/"); raises once the server is closed. */
nsp_ud_t *siol_check_nsp(lua_State *L, int idx);
/* The userdata of nsp, made for a dynamic child on first sight. */
void siol_push_nsp(lua_State *L, srv_t *srv, sio_nsp_t *nsp);
/* The table of handlers of a namespace (its parent's for a dynamic child): {connection = fn,
 * middleware = {...}, match = fn, server_events = {...}}. */
void siol_push_nsp_handlers(lua_State *L, srv_t *srv, sio_nsp_t *nsp);
/* Appends the value at `val` to the list t[key] of the table t at the top (made when absent). */
void siol_append_field(lua_State *L, const char *key, int val);
void siol_call_connection(lua_State *L, srv_t *srv, sio_socket_t *s, int reloaded);
/* A namespace's handlers, and its middleware (middleware.c). */
void siol_on_middleware(sio_socket_t *s, void *arg);
void siol_open_middleware(lua_State *L);
int siol_nsp_fetch_count(lua_State *L);
int siol_nsp_all_rooms(lua_State *L);
int siol_nsp_server_side_emit(lua_State *L);
int siol_nsp_server_side_call(lua_State *L);
/* A cluster request's callback at idx, or 0 for the waiting form (none given: raises outside a
 * handler's coroutine; fn names the method). */
int siol_request_callback(lua_State *L, int idx, const char *fn);
/* What the method returns once the core was asked (r its answer; c the request, dropped on
 * failure): a waiting coroutine yields; else true, or the failure. */
int siol_request_started(lua_State *L, siol_req_t *c, int r);
void siol_on_server_event(sio_nsp_t *nsp, const char *event, const sio_args_t *args,
                          const char *reply_id);
void siol_open_namespace(lua_State *L);

/* ---- emitter.c (and selection.c) ---- */

enum { OP_BROADCAST, OP_SOCKET };
typedef struct {
  int kind;
  int flags;
  uint32_t timeout_ms;
} op_ud_t;

/* An emitter's target: its rooms and except lists, borrowed from its tables. */
typedef struct {
  const char *small[16];
  sio_target_t t;
} target_t;

int siol_op_emit(lua_State *L);
/* call(event, ...): emit() waiting in the handler's coroutine for the acks. */
int siol_op_call(lua_State *L);
int siol_op_to(lua_State *L);
int siol_op_except(lua_State *L);
int siol_op_timeout(lua_State *L);
int siol_op_compress(lua_State *L);
/* The fields `volatile`, `locally` and (for a socket) `broadcast`: pushes an emitter and returns
 * 1, or returns 0. */
int siol_push_flag_op(lua_State *L, int idx, const char *key);
/* Splits the trailing (function [, options]) off an emit's arguments from `first` on: returns the
 * callback's index (0: none) and sets *last to the last data argument; options.timeout and
 * options.volatile update *timeout and *flags. */
int siol_split_callback(lua_State *L, int first, int *last, uint32_t *timeout, int *flags);
/* An emit's result r: true; a reserved name or a value the core refused raises; else the failure. */
int siol_emit_failed(lua_State *L, int r);
/* Pushes the target userdata of the emitter at op (a namespace or a socket). */
void siol_push_op_target(lua_State *L, int op);
/* Fills tg with the emitter's lists; pushes three values that keep its strings alive. */
void siol_op_target(lua_State *L, int op, const op_ud_t *o, target_t *tg);
int siol_fetch_sockets(lua_State *L);
int siol_sockets_join(lua_State *L);
int siol_sockets_leave(lua_State *L);
int siol_disconnect_sockets(lua_State *L);
/* Appends every socket of nsp that `to` targets (NULL: all) to the list at stack index list. */
void siol_collect_sockets(lua_State *L, srv_t *srv, sio_nsp_t *nsp, const sio_target_t *to, int list);
void siol_open_emitter(lua_State *L);

/* ---- socket.c ---- */

typedef struct {
  srv_t *srv;
  sio_socket_t *s; /* NULL once disconnected */
  int ref;
  /* may have catch-alls ("any") or packet middleware ("use"): set by whatever adds them, so that a
   * socket with neither dispatches its events without looking them up */
  unsigned hooks : 1;
} sock_ud_t;

void siol_push_socket(lua_State *L, srv_t *srv, sio_socket_t *s);
/* Emits to one socket: (event, ...args [, callback [, options]]) at stack index 2. */
/* wait: socket:call(), the handler's coroutine waits for the ack (the ack's values, or nil and
 * "timeout" or "disconnected"). */
int siol_socket_emit(lua_State *L, sock_ud_t *su, int flags, uint32_t timeout, int wait);
void siol_on_event(sio_socket_t *s, const char *event, const sio_args_t *args, int64_t ack_id);
void siol_on_disconnecting(sio_socket_t *s, const char *reason);
void siol_on_disconnect(sio_socket_t *s, const char *reason);
void siol_open_socket(lua_State *L);
/* The listeners of event on the socket whose uservalue is at uv: the na values at first.. are
 * their arguments (the ack last when there is one), the ack at ack (0: none) their context. */
void siol_socket_dispatch(lua_State *L, srv_t *srv, int uv, const char *event, int first, int na, int ack);

/* ---- use.c: socket:use (packet middleware), the catch-all lists, listeners ---- */

/* Runs the socket's packet middleware (its uservalue at uv has "use") on the event: a packet
 * {event, values at first.. (na, the ack at ack last when not 0)}, then dispatches it. */
void siol_use_start(lua_State *L, srv_t *srv, int sock, int uv, const char *event, int first, int na, int ack);
int siol_l_prepend_any(lua_State *L);
int siol_l_off_any(lua_State *L);
int siol_l_listeners_any(lua_State *L);
int siol_l_on_any_outgoing(lua_State *L);
int siol_l_prepend_any_outgoing(lua_State *L);
int siol_l_off_any_outgoing(lua_State *L);
int siol_l_listeners_any_outgoing(lua_State *L);
int siol_l_listeners(lua_State *L);
int siol_l_remove_all_listeners(lua_State *L);
int siol_l_use(lua_State *L);
void siol_open_use(lua_State *L);
/* A reload cleared the socket's lists: the core no longer reports its outgoing events. */
void siol_use_reset(sock_ud_t *u);

/* ---- ack.c ---- */

/* Pushes the ack function for the client's ack_id, a one-shot sio_ack_t. */
void siol_push_ack(lua_State *L, const siol_state_t *st, sio_socket_t *s, int64_t ack_id);
/* Sends a handler's results (stack first..top) as the ack at idx, unless it was answered. */
void siol_ack_results(lua_State *L, int idx, int first);
/* The ack at idx answers an echo of e's values with e's args (NULL: no longer). */
void siol_ack_set_echo(lua_State *L, int idx, const siol_echo_t *e);
/* The dispatch of the ack at idx's event ended: an answered ack frees its handle, an unanswered
 * one gets its finalizer (and no longer matches an echo). */
void siol_ack_dispatched(lua_State *L, const siol_state_t *st, int idx);
/* Sets sio.is_ack and sio.split_ack in the table at the top (after the ack and client ack classes). */
void siol_ack_functions(lua_State *L);
void siol_open_ack(lua_State *L);

/* ---- engine.c ---- */

struct eng_s {
  srv_t *srv;
  sio_engine_t *engine;
  int ref; /* registry: the box userdata (its uservalue holds the handlers) */
  char *path;
  eng_t *next;
};

int siol_engine(lua_State *L);
void siol_engines_free(srv_t *srv);
void siol_open_engine(lua_State *L);

/* ---- route.c ---- */

int siol_route(lua_State *L); /* server:route(method, path, fn) */
void siol_open_route(lua_State *L);

/* ---- timer.c ---- */

int siol_set_timeout(lua_State *L);
int siol_set_interval(lua_State *L);
int siol_sleep(lua_State *L);
/* Stops every timer (L NULL once Lua is closing). */
void siol_timers_stop(lua_State *L, siol_state_t *st);
void siol_open_timer(lua_State *L);

/* ---- manager.c and csocket.c: the client (sio_client.h) ----
 *
 * A manager and its sockets are malloc'd (the core calls back with them until the manager's close
 * callback, which may come after lua_close()), pointed at by userdata boxes that the registry keeps
 * alive until then: a script that drops its client keeps it running, as a Node process does. The
 * boxes' uservalues hold the listeners ({h = {event = list}, any = {fn...}}; a socket's also
 * io = its manager's box). */

typedef struct cs_s cs_t;
struct mgr_s {
  siol_state_t *st;
  sio_manager_t *m; /* NULL once freed (its close callback ran) */
  int ref;          /* registry: the box, until then */
  char *key;        /* the multiplexing key (scheme://host:port + path), NULL when not shared */
  int closing;
  cs_t *sockets;
  mgr_t *next, **pprev; /* st->managers */
};
struct cs_s {
  mgr_t *mgr;
  sio_csocket_t *s; /* NULL once its manager is freed */
  int ref;          /* registry: the box */
  unsigned connects; /* on_connect calls: an ack answers the connection that asked only */
  cs_t *next;       /* mgr->sockets */
};

/* Pushes the value of option `camel` (or its snake_case spelling) of the table at t (0: none). */
int siol_client_opt(lua_State *L, int t, const char *camel);
/* Raises on a key that is neither spelling of a known option (a typo would go unnoticed). */
void siol_client_check_options(lua_State *L, int t);
/* A manager for url with the options table at opts (0: none), registered in the state; pushes its
 * box. key: NULL, or the multiplexing key (copied). */
mgr_t *siol_manager_new(lua_State *L, const char *url, int opts, const char *key);
/* The open, shared manager of key without a socket for nsp (socket.io-client's cache), or NULL. */
mgr_t *siol_manager_find(siol_state_t *st, const char *key, const char *nsp);
mgr_t *siol_check_manager(lua_State *L, int idx);
/* The manager's socket for nsp (idx: the manager's box; opts at opts, 0 for none: auth,
 * autoConnect); pushes its box. */
void siol_csocket_new(lua_State *L, int idx, const char *nsp, int opts);
/* Runs the listeners of event on the box at idx (its uservalue's h) with the nargs values on top
 * (popped). */
void siol_client_dispatch(lua_State *L, siol_state_t *st, int idx, const char *event, int nargs);
/* Pushes an error table {message = ..., data = ..., code = ...} (tostring gives the message). */
void siol_push_client_error(lua_State *L, const char *message, const cJSON *data, int code);
/* Closes every manager (siol_shutdown). */
void siol_clients_close(siol_state_t *st);
int siol_client(lua_State *L);  /* sio.client(url, opts) */
int siol_manager(lua_State *L); /* sio.manager(url, opts) */
int siol_is_client_ack(lua_State *L, int idx);
void siol_open_manager(lua_State *L);
void siol_open_csocket(lua_State *L);

/* ---- sio_lua.c ---- */

void siol_signals_off(siol_state_t *st);

#endif
