/* The Lua 5.4 binding of sio (`require "sio"`; built into siod). Modelled on luv: every object is a
 * userdata with a metatable, callbacks are registry references, every call into Lua goes through
 * siol_pcall (errors are logged with a traceback and serving goes on), failures that are expected
 * answers return nil, "ENAME: message", "ENAME", and bad arguments raise.
 *
 * Lifetimes. The module state, servers and timers are malloc'd, not userdata: the core calls back
 * with pointers to them after lua_close() may have freed every userdata, so each callback checks
 * `st->dead` before it touches Lua. Sockets and namespaces live in userdata kept alive by registry
 * references for as long as the core holds them (a socket until on_disconnect, a namespace with its
 * server); their callbacks reach the state through the server first. */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>

#include "sio.h"
#include "sio_lua.h"
#include "url.h"
#include "values.h"

#define STATE_KEY "sio.state"
#define SERVER_MT "sio.server"
#define NSP_MT "sio.namespace"
#define SOCKET_MT "sio.socket"
#define OP_MT "sio.emitter"
#define ACK_MT "sio.ack"
#define NEXT_MT "sio.next"
#define TIMER_MT "sio.timer"
#define ENGINE_MT "sio.engine"
#define SESSION_MT "sio.session"
#define ARGS_MT "sio.args"

typedef struct srv_s srv_t;
typedef struct tmr_s tmr_t;
typedef struct eng_s eng_t;

typedef struct siol_state_s {
  lua_State *L; /* the thread callbacks run on: the main one, or the one inside sio.run() */
  uv_loop_t *loop;
  uv_loop_t own_loop;
  int own_loop_ready;
  int hosted;
  int dead;     /* lua_close() has begun: no more calls into Lua */
  int live;     /* malloc'd objects still pointing here (servers, timers, pending acks) */
  int running;  /* inside uv_run() called by sio.run() */
  int reloading;
  int log_level;
  siol_overrides_t ov;
  srv_t *servers;
  tmr_t *timers;
  uv_signal_t sigint, sigterm;
  int signals_on;
} siol_state_t;

struct srv_s {
  siol_state_t *st;
  sio_server_t *server;
  sio_io_t *io;
  int ref;      /* registry: the box userdata, while open */
  int closing, closed, orphan;
  int claimed;  /* asked for again by the script being reloaded */
  int fresh;    /* created by the script being reloaded */
  int dyn_next; /* reload: the next dynamic parent io:of(fn) reuses */
  char *host;
  int port;     /* bound */
  int req_port; /* asked for (0: any), what a reload matches on */
  sio_engine_options_t eio; /* path, cors and cookie point at the strings below */
  char *path, *cors, *client_dir;
  char *cookie[4]; /* the cookie's name, path, domain, same_site */
  char *redis; /* the Redis URL of a cluster node, or NULL */
  eng_t *engines;
  srv_t *next, **pprev;
};

typedef struct {
  srv_t *srv;
} srv_box_t;

typedef struct {
  srv_t *srv;
  sio_nsp_t *nsp;
  int ref;      /* registry: this userdata, for the server's life */
  int old_ref;  /* reload: the handler table before it */
  int dead;     /* a dynamic parent dropped by a failed reload: matches nothing */
} nsp_ud_t;

typedef struct {
  srv_t *srv;
  sio_socket_t *s; /* NULL once disconnected */
  int ref;
} sock_ud_t;

enum { OP_BROADCAST, OP_SOCKET };
typedef struct {
  int kind;
  int flags;
  uint32_t timeout_ms;
} op_ud_t;

typedef struct {
  int64_t id;
  int used;
} ack_ud_t;

typedef struct {
  srv_t *srv;
  sio_socket_t *s;
  int next_index; /* the middleware to run when next() is called */
  int done;
} next_ud_t;

struct tmr_s {
  siol_state_t *st;
  uv_timer_t h;
  int fn_ref, self_ref;
  int repeat;
  tmr_t *next, **pprev;
};

typedef struct {
  tmr_t *t; /* NULL once stopped */
} tmr_box_t;

typedef struct {
  siol_state_t *st;
  int fn_ref;
} ack_ctx_t;

/* An Engine.IO endpoint: malloc'd like its server (the core's callbacks find it), freed with it. */
struct eng_s {
  srv_t *srv;
  sio_engine_t *engine;
  int ref;     /* registry: the box userdata (its uservalue holds the handlers) */
  int old_ref; /* reload: the handler table before it */
  char *path;
  eng_t *next;
};

typedef struct {
  eng_t *e;
} eng_box_t;

typedef struct {
  sio_session_t *s; /* NULL once closed */
  int ref;
} sess_ud_t;

static siol_state_t *get_state(lua_State *L);

/* ---------------------------------------------------------------------------------------------- */
/* Logging and protected calls                                                                     */

static const char *const level_names[] = {"DEBUG", "INFO", "WARN", "ERROR"};

static void vlog(int level, const char *fmt, va_list ap) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  struct tm tm;
  gmtime_r(&ts.tv_sec, &tm);
  char stamp[32];
  strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &tm);
  /* One fprintf per line so that lines from handlers and the binding never interleave mid-way. */
  char msg[4096];
  vsnprintf(msg, sizeof msg, fmt, ap);
  fprintf(stderr, "%s.%03ldZ %-5s %s\n", stamp, ts.tv_nsec / 1000000, level_names[level], msg);
  fflush(stderr);
}

void siol_log(lua_State *L, int level, const char *fmt, ...) {
  siol_state_t *st = get_state(L);
  if (level < (st ? st->log_level : SIOL_LOG_INFO)) return;
  va_list ap;
  va_start(ap, fmt);
  vlog(level, fmt, ap);
  va_end(ap);
}

void siol_set_log_level(lua_State *L, int level) {
  siol_state_t *st = get_state(L);
  if (st) st->log_level = level;
}

static int msgh(lua_State *L) {
  const char *msg = lua_tostring(L, 1);
  if (!msg) {
    if (luaL_callmeta(L, 1, "__tostring") && lua_type(L, -1) == LUA_TSTRING) return 1;
    msg = lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, 1));
  }
  luaL_traceback(L, L, msg, 1);
  return 1;
}

static int pcall_what(lua_State *L, int nargs, int nresults, const char *what, const char *detail) {
  int base = lua_gettop(L) - nargs;
  lua_pushcfunction(L, msgh);
  lua_insert(L, base);
  int r = lua_pcall(L, nargs, nresults, base);
  lua_remove(L, base);
  if (r != LUA_OK) {
    siol_log(L, SIOL_LOG_ERROR, "error in %s%s%s: %s", what, detail ? " " : "", detail ? detail : "",
             lua_tostring(L, -1) ? lua_tostring(L, -1) : "?");
    lua_pop(L, 1);
    return 0;
  }
  return 1;
}

int siol_pcall(lua_State *L, int nargs, int nresults, const char *what) {
  return pcall_what(L, nargs, nresults, what, NULL);
}

/* luv's convention for an expected failure: nil, "ENAME: message", "ENAME". */
static int push_fail(lua_State *L, int err) {
  lua_pushnil(L);
  lua_pushfstring(L, "%s: %s", sio_err_name(err), sio_strerror(err));
  lua_pushstring(L, sio_err_name(err));
  return 3;
}

static int push_ok(lua_State *L, int r) {
  if (r < 0) return push_fail(L, r);
  lua_pushboolean(L, 1);
  return 1;
}

static void unref(lua_State *L, int *ref) {
  if (*ref != LUA_NOREF && *ref != LUA_REFNIL) luaL_unref(L, LUA_REGISTRYINDEX, *ref);
  *ref = LUA_NOREF;
}

/* ---------------------------------------------------------------------------------------------- */
/* State                                                                                           */

static siol_state_t *get_state(lua_State *L) {
  lua_getfield(L, LUA_REGISTRYINDEX, STATE_KEY);
  siol_state_t **box = lua_touserdata(L, -1);
  lua_pop(L, 1);
  return box ? *box : NULL;
}

static void state_release(siol_state_t *st) {
  if (--st->live == 0 && st->dead) free(st);
}

static uv_loop_t *state_loop(lua_State *L, siol_state_t *st) {
  if (st->loop) return st->loop;
  int r = uv_loop_init(&st->own_loop);
  if (r) luaL_error(L, "sio: cannot create an event loop: %s", uv_strerror(r));
  st->own_loop_ready = 1;
  st->loop = &st->own_loop;
  return st->loop;
}

/* ---------------------------------------------------------------------------------------------- */
/* Objects: pushing the userdata of core handles                                                   */

static srv_t *srv_of_nsp(sio_nsp_t *nsp) { return sio_io_get_data(sio_nsp_io(nsp)); }

/* The namespace userdata of nsp, created for a dynamic child on first sight. */
static void push_nsp(lua_State *L, srv_t *srv, sio_nsp_t *nsp);

/* The table of handlers of a namespace (its parent's for a dynamic child): {connection=fn,
 * middleware={...}, match=fn}. */
static void push_nsp_handlers(lua_State *L, srv_t *srv, sio_nsp_t *nsp) {
  sio_nsp_t *owner = sio_nsp_parent(nsp) ? sio_nsp_parent(nsp) : nsp;
  push_nsp(L, srv, owner);
  lua_getiuservalue(L, -1, 1);
  lua_remove(L, -2);
}

static void new_nsp_ud(lua_State *L, srv_t *srv, sio_nsp_t *nsp) {
  nsp_ud_t *u = lua_newuserdatauv(L, sizeof *u, 1);
  u->srv = srv;
  u->nsp = nsp;
  u->old_ref = LUA_NOREF;
  u->dead = 0;
  luaL_setmetatable(L, NSP_MT);
  lua_newtable(L);
  lua_setiuservalue(L, -2, 1);
  lua_pushvalue(L, -1);
  u->ref = luaL_ref(L, LUA_REGISTRYINDEX);
  sio_nsp_set_data(nsp, u);
  /* the server's list of namespaces (its uservalue 1) */
  lua_rawgeti(L, LUA_REGISTRYINDEX, srv->ref);
  lua_getiuservalue(L, -1, 1);
  lua_pushvalue(L, -3);
  lua_rawseti(L, -2, (lua_Integer)lua_rawlen(L, -2) + 1);
  lua_pop(L, 2);
}

static void push_nsp(lua_State *L, srv_t *srv, sio_nsp_t *nsp) {
  nsp_ud_t *u = sio_nsp_get_data(nsp);
  if (u) lua_rawgeti(L, LUA_REGISTRYINDEX, u->ref);
  else new_nsp_ud(L, srv, nsp);
}

static void push_socket(lua_State *L, srv_t *srv, sio_socket_t *s) {
  sock_ud_t *u = sio_socket_get_data(s);
  if (u) {
    lua_rawgeti(L, LUA_REGISTRYINDEX, u->ref);
    return;
  }
  u = lua_newuserdatauv(L, sizeof *u, 1);
  u->srv = srv;
  u->s = s;
  luaL_setmetatable(L, SOCKET_MT);
  lua_createtable(L, 0, 4); /* h: handlers, any: catch-all list, data, and caches */
  lua_newtable(L);
  lua_setfield(L, -2, "h");
  lua_setiuservalue(L, -2, 1);
  lua_pushvalue(L, -1);
  u->ref = luaL_ref(L, LUA_REGISTRYINDEX);
  sio_socket_set_data(s, u);
}

static void socket_release(lua_State *L, sio_socket_t *s) {
  sock_ud_t *u = sio_socket_get_data(s);
  if (!u) return;
  sio_socket_set_data(s, NULL);
  u->s = NULL;
  unref(L, &u->ref);
}

/* ---------------------------------------------------------------------------------------------- */
/* Arguments                                                                                       */

/* A call's converted arguments, held by a userdata whose __gc frees them: an error raised after
 * the conversion (a bad option, a reserved name, a Lua memory error) cannot leak them. The
 * attachments point into Lua strings among the call's arguments. */
typedef struct {
  cJSON *json;
  siol_bufs_t b;
  char *text; /* sio._roundtrip's JSON text */
} args_box_t;

/* Frees the arguments now (a big payload should not wait for the collector); the box stays. */
static void args_free(args_box_t *a) {
  cJSON_Delete(a->json);
  a->json = NULL;
  siol_bufs_free(&a->b);
  cJSON_free(a->text);
  a->text = NULL;
}

static int args_gc(lua_State *L) {
  args_free(luaL_checkudata(L, 1, ARGS_MT));
  return 0;
}

/* Converts stack values first..last (absolute indices) into a new box pushed on the stack; raises
 * on a bad value. */
static args_box_t *check_args(lua_State *L, int first, int last) {
  args_box_t *a = lua_newuserdatauv(L, sizeof *a, 0);
  memset(a, 0, sizeof *a);
  luaL_setmetatable(L, ARGS_MT);
  char err[256];
  if (siol_args_to_json(L, first, last, &a->b, &a->json, err, sizeof err) < 0)
    luaL_error(L, "%s", err);
  return a;
}

static sio_args_t args_of(const args_box_t *a) { return (sio_args_t){a->json, a->b.v, a->b.n}; }

static lua_State *cb_state(srv_t *srv) {
  return srv && srv->st && !srv->st->dead ? srv->st->L : NULL;
}

/* ---------------------------------------------------------------------------------------------- */
/* Core callbacks: namespaces and sockets                                                          */

static void run_middleware(lua_State *L, srv_t *srv, sio_socket_t *s, int index);

static int next_call(lua_State *L) {
  next_ud_t *n = lua_touserdata(L, lua_upvalueindex(1));
  if (n->done) return luaL_error(L, "next() called twice");
  n->done = 1;
  if (n->srv->closing || n->srv->closed) {
    sio_socket_next(n->s); /* only releases the core's hold now */
    return 0;
  }
  if (lua_isnoneornil(L, 1)) {
    run_middleware(L, n->srv, n->s, n->next_index);
    return 0;
  }
  /* next(err): a string, or a table {message=..., data=...}, refuses the connection */
  const char *message = "unauthorized";
  cJSON *data = NULL;
  if (lua_type(L, 1) == LUA_TSTRING) {
    message = lua_tostring(L, 1);
  } else if (lua_istable(L, 1)) {
    lua_getfield(L, 1, "message");
    if (lua_type(L, -1) == LUA_TSTRING) message = lua_tostring(L, -1);
    lua_getfield(L, 1, "data");
    if (!lua_isnil(L, -1)) {
      siol_bufs_t b = {0};
      char err[256];
      if (siol_to_json(L, -1, &b, &data, err, sizeof err) < 0) data = NULL;
      siol_bufs_free(&b);
    }
  } else {
    message = luaL_tolstring(L, 1, NULL);
  }
  sio_socket_refuse(n->s, message, data);
  cJSON_Delete(data);
  return 0;
}

static int next_gc(lua_State *L) {
  next_ud_t *n = luaL_checkudata(L, 1, NEXT_MT);
  /* A middleware that dropped next() unanswered: release the core's hold on the socket. */
  if (!n->done) {
    n->done = 1;
    sio_socket_refuse(n->s, "middleware did not answer", NULL);
  }
  return 0;
}

/* Pushes middleware function number `index` of the socket's namespace, or returns 0. */
static int push_middleware(lua_State *L, srv_t *srv, sio_socket_t *s, int index) {
  push_nsp_handlers(L, srv, sio_socket_nsp(s));
  lua_getfield(L, -1, "middleware");
  lua_remove(L, -2);
  if (!lua_istable(L, -1)) {
    lua_pop(L, 1);
    return 0;
  }
  lua_rawgeti(L, -1, index);
  lua_remove(L, -2);
  if (lua_isnil(L, -1)) {
    lua_pop(L, 1);
    return 0;
  }
  return 1;
}

static void run_middleware(lua_State *L, srv_t *srv, sio_socket_t *s, int index) {
  if (!push_middleware(L, srv, s, index)) {
    sio_socket_next(s);
    return;
  }
  lua_Debug ar;
  lua_pushvalue(L, -1);
  lua_getinfo(L, ">u", &ar);
  /* (socket, auth, next) as the sketch; a two-parameter function gets JavaScript's
   * (socket, next). */
  int js_style = ar.nparams == 2 && !ar.isvararg;
  push_socket(L, srv, s);
  if (!js_style) siol_push_json(L, sio_socket_auth(s), NULL);
  next_ud_t *n = lua_newuserdatauv(L, sizeof *n, 0);
  n->srv = srv;
  n->s = s;
  n->next_index = index + 1;
  n->done = 0;
  luaL_setmetatable(L, NEXT_MT);
  /* anchored below the call, so that it is not finalized (and the socket refused) mid-call */
  int fn = lua_gettop(L) - (js_style ? 2 : 3);
  lua_pushvalue(L, -1);
  lua_insert(L, fn);
  lua_pushcclosure(L, next_call, 1);
  if (!pcall_what(L, js_style ? 2 : 3, 0, "middleware of", sio_nsp_name(sio_socket_nsp(s))) && !n->done) {
    /* An error in a middleware refuses the connection without telling the client why. */
    n->done = 1;
    sio_socket_refuse(s, "server error", NULL);
  }
  lua_pop(L, 1);
}

static void on_middleware(sio_socket_t *s, void *arg) {
  srv_t *srv = srv_of_nsp(sio_socket_nsp(s));
  lua_State *L = cb_state(srv);
  if (!L) {
    sio_socket_refuse(s, "server closing", NULL);
    return;
  }
  run_middleware(L, srv, s, 1);
}

static void call_connection(lua_State *L, srv_t *srv, sio_socket_t *s, int reloaded) {
  push_nsp_handlers(L, srv, sio_socket_nsp(s));
  lua_getfield(L, -1, "connection");
  lua_remove(L, -2);
  if (!lua_isfunction(L, -1)) {
    lua_pop(L, 1);
    return;
  }
  push_socket(L, srv, s);
  if (reloaded) lua_pushboolean(L, 1);
  pcall_what(L, reloaded ? 2 : 1, 0, "connection handler of", sio_nsp_name(sio_socket_nsp(s)));
}

static void on_connection(sio_nsp_t *nsp, sio_socket_t *s) {
  srv_t *srv = srv_of_nsp(nsp);
  lua_State *L = cb_state(srv);
  if (!L) return;
  call_connection(L, srv, s, 0);
}

/* Sends a handler's results (stack first..top) as the ack, when asked and not sent yet. */
static void ack_results(lua_State *L, sio_socket_t *s, ack_ud_t *a, int first) {
  if (!a || a->used || lua_gettop(L) < first) return;
  cJSON *json;
  siol_bufs_t b = {0};
  char err[256];
  if (siol_args_to_json(L, first, lua_gettop(L), &b, &json, err, sizeof err) < 0) {
    siol_log(L, SIOL_LOG_ERROR, "cannot send a handler's return values as its ack: %s", err);
    return;
  }
  a->used = 1;
  sio_args_t args = {json, b.v, b.n};
  sio_socket_ack(s, a->id, &args);
  cJSON_Delete(json);
  siol_bufs_free(&b);
}

static void on_event(sio_socket_t *s, const char *event, const sio_args_t *args, int64_t ack_id) {
  srv_t *srv = srv_of_nsp(sio_socket_nsp(s));
  lua_State *L = cb_state(srv);
  if (!L) return;
  int top = lua_gettop(L);
  luaL_checkstack(L, 8, NULL);
  push_socket(L, srv, s);
  int sock = lua_gettop(L);
  lua_getiuservalue(L, sock, 1);
  int uv = lua_gettop(L);
  /* catch-all listeners first, as socket.onAny */
  if (lua_getfield(L, uv, "any") == LUA_TTABLE) {
    lua_Integer n = (lua_Integer)lua_rawlen(L, -1);
    for (lua_Integer i = 1; i <= n; i++) {
      lua_rawgeti(L, -1, i);
      lua_pushstring(L, event);
      int na = siol_push_args(L, args);
      pcall_what(L, 1 + na, 0, "catch-all listener for", event);
    }
  }
  lua_pop(L, 1);
  lua_getfield(L, uv, "h");
  if (lua_getfield(L, -1, event) != LUA_TFUNCTION) {
    lua_settop(L, top);
    return;
  }
  int fn = lua_gettop(L);
  int na = siol_push_args(L, args);
  ack_ud_t *a = NULL;
  if (ack_id >= 0) {
    a = lua_newuserdatauv(L, sizeof *a, 1);
    a->id = ack_id;
    a->used = 0;
    luaL_setmetatable(L, ACK_MT);
    lua_pushvalue(L, sock);
    lua_setiuservalue(L, -2, 1);
    lua_pushvalue(L, -1);
    lua_insert(L, fn); /* kept below the function: the handler's results follow it */
    fn++;
    na++;
  }
  if (pcall_what(L, na, LUA_MULTRET, "handler for", event) && a) {
    sock_ud_t *u = lua_touserdata(L, sock);
    if (u->s) ack_results(L, u->s, a, fn);
  }
  lua_settop(L, top);
}

static void call_socket_handler(sio_socket_t *s, const char *name, const char *reason) {
  srv_t *srv = srv_of_nsp(sio_socket_nsp(s));
  lua_State *L = cb_state(srv);
  if (!L || !sio_socket_get_data(s)) return;
  push_socket(L, srv, s);
  lua_getiuservalue(L, -1, 1);
  lua_getfield(L, -1, "h");
  if (lua_getfield(L, -1, name) == LUA_TFUNCTION) {
    lua_pushstring(L, reason);
    pcall_what(L, 1, 0, "handler for", name);
  } else {
    lua_pop(L, 1);
  }
  lua_pop(L, 3);
}

static void on_disconnecting(sio_socket_t *s, const char *reason) {
  call_socket_handler(s, "disconnecting", reason);
}

static void on_disconnect(sio_socket_t *s, const char *reason) {
  call_socket_handler(s, "disconnect", reason);
  srv_t *srv = srv_of_nsp(sio_socket_nsp(s));
  lua_State *L = cb_state(srv);
  if (L) socket_release(L, s);
  else sio_socket_set_data(s, NULL);
}

/* Another node's serverSideEmit: the namespace's listener (nsp:on(name, fn)) gets the arguments;
 * when the sender waits for an answer, its first return value is this node's (nil: an answer
 * without a value). A listener that raises sends no answer; no listener: an answer without a value,
 * so that the sender does not wait for its timeout. */
static void on_server_event(sio_nsp_t *nsp, const char *event, const sio_args_t *args, const char *reply_id) {
  srv_t *srv = srv_of_nsp(nsp);
  lua_State *L = cb_state(srv);
  if (!L) return;
  int top = lua_gettop(L);
  luaL_checkstack(L, 8, NULL);
  push_nsp_handlers(L, srv, nsp);
  if (lua_getfield(L, -1, "server_events") != LUA_TTABLE || lua_getfield(L, -1, event) != LUA_TFUNCTION) {
    lua_settop(L, top);
    if (reply_id) sio_nsp_server_reply(nsp, reply_id, NULL);
    return;
  }
  int na = siol_push_args(L, args);
  if (pcall_what(L, na, 1, "server-side handler for", event) && reply_id) {
    cJSON *value = NULL;
    siol_bufs_t b = {0};
    char err[256];
    if (!lua_isnil(L, -1) && siol_to_json(L, -1, &b, &value, err, sizeof err) < 0) {
      siol_log(L, SIOL_LOG_ERROR, "cannot send the answer of the server-side handler for %s: %s", event, err);
    } else if (b.n) {
      siol_log(L, SIOL_LOG_ERROR, "cannot send the answer of the server-side handler for %s: "
               "server-side events carry JSON values only (no sio.binary)", event);
    } else {
      sio_nsp_server_reply(nsp, reply_id, value);
    }
    cJSON_Delete(value);
    siol_bufs_free(&b);
  }
  lua_settop(L, top);
}

static const sio_nsp_callbacks_t nsp_cbs = {.on_connection = on_connection,
                                            .on_event = on_event,
                                            .on_disconnecting = on_disconnecting,
                                            .on_disconnect = on_disconnect,
                                            .on_server_event = on_server_event};

static int on_dynamic_match(sio_nsp_t *parent, const char *name, const cJSON *auth) {
  nsp_ud_t *u = sio_nsp_get_data(parent);
  srv_t *srv = srv_of_nsp(parent);
  lua_State *L = cb_state(srv);
  if (!L || !u || u->dead) return 0;
  lua_rawgeti(L, LUA_REGISTRYINDEX, u->ref);
  lua_getiuservalue(L, -1, 1);
  lua_getfield(L, -1, "match");
  lua_remove(L, -2);
  lua_remove(L, -2);
  if (!lua_isfunction(L, -1)) {
    lua_pop(L, 1);
    return 0;
  }
  lua_pushstring(L, name);
  siol_push_json(L, auth, NULL);
  if (!pcall_what(L, 2, 1, "namespace matcher for", name)) return 0;
  int ok = lua_toboolean(L, -1);
  lua_pop(L, 1);
  return ok;
}

/* ---------------------------------------------------------------------------------------------- */
/* Servers                                                                                         */

static srv_t *check_srv(lua_State *L, int idx) {
  srv_box_t *b = luaL_checkudata(L, idx, SERVER_MT);
  return b->srv;
}

static srv_t *check_open_srv(lua_State *L, int idx) {
  srv_t *srv = check_srv(L, idx);
  if (srv->closing || srv->closed) luaL_error(L, "the server is closed");
  return srv;
}

static void srv_unlink(srv_t *srv) {
  if (!srv->pprev) return;
  *srv->pprev = srv->next;
  if (srv->next) srv->next->pprev = srv->pprev;
  srv->next = NULL;
  srv->pprev = NULL;
}

static void srv_free(srv_t *srv) {
  siol_state_t *st = srv->st;
  while (srv->engines) {
    eng_t *e = srv->engines;
    srv->engines = e->next;
    free(e->path);
    free(e);
  }
  free(srv->host);
  free(srv->path);
  free(srv->cors);
  free(srv->redis);
  free(srv->client_dir);
  for (int i = 0; i < 4; i++) free(srv->cookie[i]);
  free(srv);
  state_release(st);
}

/* sio.run()'s SIGINT/SIGTERM handles: closed when the last server is gone, so that the loop can
 * end (they would keep it alive). */
static void signals_off(siol_state_t *st) {
  if (!st->signals_on) return;
  st->signals_on = 0;
  uv_close((uv_handle_t *)&st->sigint, NULL);
  uv_close((uv_handle_t *)&st->sigterm, NULL);
}

static void on_server_closed(sio_server_t *server) {
  srv_t *srv = sio_server_get_data(server);
  srv->closed = 1;
  srv->server = NULL;
  srv->io = NULL;
  srv_unlink(srv);
  if (srv->st && !srv->st->servers) signals_off(srv->st);
  if (srv->orphan) {
    srv_free(srv);
    return;
  }
  lua_State *L = cb_state(srv);
  if (L) {
    for (eng_t *e = srv->engines; e; e = e->next) unref(L, &e->ref);
    unref(L, &srv->ref); /* the box may be collected now; its __gc frees srv */
  }
}

static void srv_close(srv_t *srv) {
  if (srv->closing || srv->closed) return;
  srv->closing = 1;
  sio_server_close(srv->server, on_server_closed);
}

static int srv_gc(lua_State *L) {
  srv_box_t *b = luaL_checkudata(L, 1, SERVER_MT);
  srv_t *srv = b->srv;
  if (!srv) return 0;
  b->srv = NULL;
  if (srv->closed) {
    srv_free(srv);
  } else {
    /* Only lua_close() collects an open server (the registry holds it until closed): from here on
     * no callback may call into Lua, whose objects are being finalized. */
    srv->st->dead = 1;
    srv->orphan = 1;
    srv_close(srv);
  }
  return 0;
}

static long opt_int(lua_State *L, int t, const char *key, long def, long min, long max) {
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

/* A string option; also a list of strings joined by commas (cors). Result on the stack's top. */
static const char *opt_str(lua_State *L, int t, const char *key, const char *def) {
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

static char *dup_or_null(const char *s) { return s ? strdup(s) : NULL; }

/* A string attribute of the cookie table at t: its default when nil, NULL when false. The string
 * stays on the stack. */
static const char *cookie_str(lua_State *L, int t, const char *key, const char *def) {
  lua_getfield(L, t, key);
  if (lua_isnil(L, -1)) return def;
  if (lua_isboolean(L, -1) && !lua_toboolean(L, -1)) return NULL;
  if (lua_type(L, -1) != LUA_TSTRING) luaL_error(L, "sio.server: cookie.%s must be a string or false", key);
  return lua_tostring(L, -1);
}

/* cookie = true | "name" | {name=, path=, domain=, same_site=, http_only=, secure=, max_age=}, over
 * Node's defaults (io; Path=/; HttpOnly; SameSite=Lax); `name` (siod's --cookie) overrides the
 * name and turns it on. Strings stay on the stack. */
static void opt_cookie(lua_State *L, int t, const char *name, sio_cookie_options_t *o) {
  lua_getfield(L, t, "cookie");
  int v = lua_gettop(L);
  if (lua_isnil(L, v) || (lua_isboolean(L, v) && !lua_toboolean(L, v))) {
    o->name = name;
    return;
  }
  o->name = "io";
  if (lua_type(L, v) == LUA_TSTRING) {
    o->name = lua_tostring(L, v);
  } else if (lua_istable(L, v)) {
    lua_pushnil(L);
    while (lua_next(L, v)) {
      static const char *const keys[] = {"name", "path", "domain", "same_site", "http_only", "secure", "max_age", NULL};
      int known = 0;
      for (int i = 0; keys[i] && lua_type(L, -2) == LUA_TSTRING; i++)
        known = known || strcmp(lua_tostring(L, -2), keys[i]) == 0;
      if (!known)
        luaL_error(L, "sio.server: unknown cookie attribute '%s' (name, path, domain, same_site, http_only, "
                      "secure, max_age)", luaL_tolstring(L, -2, NULL));
      lua_pop(L, 1);
    }
    o->name = cookie_str(L, v, "name", "io");
    if (!o->name) luaL_error(L, "sio.server: cookie.name must be a string");
    o->path = cookie_str(L, v, "path", o->path);
    o->domain = cookie_str(L, v, "domain", NULL);
    o->same_site = cookie_str(L, v, "same_site", o->same_site);
    o->http_only = opt_bool(L, v, "http_only", o->http_only);
    o->secure = opt_bool(L, v, "secure", 0);
    lua_getfield(L, v, "max_age");
    int isnum = 1;
    lua_Integer age = lua_isnil(L, -1) ? 0 : lua_tointegerx(L, -1, &isnum);
    if (!isnum || age < 0 || age > 0x7fffffff)
      luaL_error(L, "sio.server: cookie.max_age must be an integer in [0, 2147483647] (seconds)");
    o->max_age_s = (uint32_t)age;
    lua_pop(L, 1);
  } else if (!lua_isboolean(L, v)) {
    luaL_error(L, "sio.server: option 'cookie' must be true, a name or a table");
  }
  if (name) o->name = name;
}

static void push_server(lua_State *L, srv_t *srv) { lua_rawgeti(L, LUA_REGISTRYINDEX, srv->ref); }

/* sio.server{ host=, port=, path=, cors=, cors_credentials=, same_origin=, allow_eio3=, ping_interval=,
 * ping_timeout=, upgrade_timeout=, max_payload=, max_buffered=, connect_timeout=,
 * max_attachments=, transports=, allow_upgrades=, client_dir=, redis=, redis_key=,
 * redis_requests_timeout=, cookie= }
 * -> server | nil, err, name */
static int l_server(lua_State *L) {
  siol_state_t *st = get_state(L);
  if (lua_isnoneornil(L, 1)) {
    lua_settop(L, 0);
    lua_newtable(L);
  }
  luaL_checktype(L, 1, LUA_TTABLE);
  lua_settop(L, 1);
  const siol_overrides_t *ov = &st->ov;
  const char *host = ov->host ? ov->host : opt_str(L, 1, "host", "0.0.0.0");
  long port = ov->port >= 0 ? ov->port : opt_int(L, 1, "port", 3000, 0, 65535);
  const char *path = ov->path ? ov->path : opt_str(L, 1, "path", "/socket.io/");

  /* A reload asks again for a server it has: give it back, its connections untouched. */
  for (srv_t *s = st->servers; s && st->reloading; s = s->next) {
    if (s->closing || s->fresh || s->claimed || s->req_port != port || strcmp(s->host, host) != 0) continue;
    if (strcmp(s->path, path) != 0)
      siol_log(L, SIOL_LOG_WARN, "reload: the path of the server on port %d stays %s until a restart",
               s->port, s->path);
    s->claimed = 1;
    s->dyn_next = 0;
    push_server(L, s);
    return 1;
  }

  sio_io_options_t o;
  sio_io_options_init(&o);
  o.engine.allow_eio3 = ov->allow_eio3 > 0 ? 1 : opt_bool(L, 1, "allow_eio3", 0);
  o.engine.ping_interval_ms =
      (uint32_t)(ov->ping_interval_ms >= 0 ? ov->ping_interval_ms
                                           : opt_int(L, 1, "ping_interval", o.engine.ping_interval_ms, 1, 0x7fffffff));
  o.engine.ping_timeout_ms =
      (uint32_t)(ov->ping_timeout_ms >= 0 ? ov->ping_timeout_ms
                                          : opt_int(L, 1, "ping_timeout", o.engine.ping_timeout_ms, 1, 0x7fffffff));
  o.engine.upgrade_timeout_ms =
      (uint32_t)opt_int(L, 1, "upgrade_timeout", o.engine.upgrade_timeout_ms, 1, 0x7fffffff);
  o.engine.max_payload =
      (size_t)(ov->max_payload >= 0 ? ov->max_payload
                                    : opt_int(L, 1, "max_payload", (long)o.engine.max_payload, 1, 0x7fffffff));
  o.engine.max_buffered = (size_t)opt_int(L, 1, "max_buffered", 0, 0, 0x7fffffff);
  o.engine.allow_upgrades = opt_bool(L, 1, "allow_upgrades", 1);
  o.engine.cors_credentials = opt_bool(L, 1, "cors_credentials", 0);
  o.engine.same_origin = opt_bool(L, 1, "same_origin", 0);
  o.connect_timeout_ms = (uint32_t)opt_int(L, 1, "connect_timeout", o.connect_timeout_ms, 1, 0x7fffffff);
  o.max_attachments = (size_t)opt_int(L, 1, "max_attachments", 10, 0, 1000);
  lua_getfield(L, 1, "transports");
  if (lua_istable(L, -1)) {
    int bits = 0;
    lua_Integer n = (lua_Integer)lua_rawlen(L, -1);
    for (lua_Integer i = 1; i <= n; i++) {
      lua_rawgeti(L, -1, i);
      const char *t = lua_tostring(L, -1);
      if (t && strcmp(t, "polling") == 0) bits |= SIO_TRANSPORT_POLLING;
      else if (t && strcmp(t, "websocket") == 0) bits |= SIO_TRANSPORT_WEBSOCKET;
      else luaL_error(L, "sio.server: transports are \"polling\" and \"websocket\"");
      lua_pop(L, 1);
    }
    if (!bits) luaL_error(L, "sio.server: no transport");
    o.engine.transports = bits;
  }
  lua_pop(L, 1);
  const char *cors = opt_str(L, 1, "cors", NULL);
  const char *client_dir = opt_str(L, 1, "client_dir", NULL);
  const char *redis = ov->redis ? ov->redis : opt_str(L, 1, "redis", NULL);
  const char *redis_key = opt_str(L, 1, "redis_key", NULL);
  long redis_timeout = opt_int(L, 1, "redis_requests_timeout", 5000, 1, 86400000);
  opt_cookie(L, 1, ov->cookie, &o.engine.cookie);
  const sio_cookie_options_t *ck = &o.engine.cookie;

  /* The box first (a Lua memory error may come from it), then srv, which any failure below
   * leaves to its __gc. */
  srv_box_t *box = lua_newuserdatauv(L, sizeof *box, 1);
  box->srv = NULL;
  luaL_setmetatable(L, SERVER_MT);
  lua_newtable(L); /* the server's namespaces and engines, so that they live as long as it */
  lua_setiuservalue(L, -2, 1);
  int boxi = lua_gettop(L);
  srv_t *srv = calloc(1, sizeof *srv);
  if (!srv) return luaL_error(L, "out of memory");
  box->srv = srv;
  srv->closed = 1; /* until the core's server exists: __gc frees srv directly */
  srv->st = st;
  st->live++;
  srv->ref = LUA_NOREF;
  srv->host = strdup(host);
  srv->path = strdup(path);
  srv->cors = dup_or_null(cors);
  srv->client_dir = dup_or_null(client_dir);
  o.client_dir = srv->client_dir;
  o.engine.path = srv->path;
  o.engine.cors_origin = srv->cors;
  const char *ck_strs[4] = {ck->name, ck->path, ck->domain, ck->same_site};
  int ck_nomem = 0;
  for (int i = 0; i < 4; i++) {
    srv->cookie[i] = dup_or_null(ck_strs[i]);
    ck_nomem = ck_nomem || (ck_strs[i] && !srv->cookie[i]);
  }
  srv->eio = o.engine;
  srv->eio.cookie.name = srv->cookie[0];
  srv->eio.cookie.path = srv->cookie[1];
  srv->eio.cookie.domain = srv->cookie[2];
  srv->eio.cookie.same_site = srv->cookie[3];
  if (!srv->host || !srv->path || (cors && !srv->cors) || (client_dir && !srv->client_dir) || ck_nomem)
    return luaL_error(L, "out of memory");

  int r = sio_server_new(state_loop(L, st), NULL, &srv->server);
  if (r) return push_fail(L, r);
  srv->closed = 0;
  sio_server_set_data(srv->server, srv);
  r = sio_server_listen(srv->server, host, (int)port);
  if (r == 0) r = sio_io_new(srv->server, &o, &srv->io);
  if (r == SIO_EINVAL && ck->name) {
    srv->orphan = 0;
    srv_close(srv);
    lua_pushvalue(L, boxi);
    srv->ref = luaL_ref(L, LUA_REGISTRYINDEX); /* released when the close completes */
    return luaL_error(L, "sio.server: bad cookie (the name must be a token, path and domain without ';' or "
                         "control characters, same_site Lax, Strict or None)");
  }
  if (r == 0 && redis) {
    srv->redis = strdup(redis);
    if (!srv->redis) r = SIO_ENOMEM;
    sio_redis_options_t ro;
    sio_redis_options_init(&ro);
    ro.url = redis;
    ro.key = redis_key;
    ro.requests_timeout_ms = (uint32_t)redis_timeout;
    if (r == 0) r = sio_io_use_redis(srv->io, &ro);
    if (r == SIO_EINVAL || r == UV_ENOSYS) {
      srv->orphan = 0;
      srv_close(srv);
      lua_pushvalue(L, boxi);
      srv->ref = luaL_ref(L, LUA_REGISTRYINDEX);
      if (r == SIO_EINVAL) return luaL_error(L, "sio.server: bad redis URL '%s' (redis://[[user]:password@]host[:port][/db])", redis);
      return luaL_error(L, "sio.server: redis: sio was built without Redis (cmake -DSIO_REDIS=ON)");
    }
  }
  if (r) {
    srv->orphan = 0;
    srv_close(srv);
    lua_pushvalue(L, boxi);
    srv->ref = luaL_ref(L, LUA_REGISTRYINDEX); /* released when the close completes */
    return push_fail(L, r);
  }
  srv->port = sio_server_port(srv->server);
  srv->req_port = (int)port;
  sio_io_set_data(srv->io, srv);
  lua_pushvalue(L, boxi);
  srv->ref = luaL_ref(L, LUA_REGISTRYINDEX);
  srv->fresh = st->reloading;
  srv->next = st->servers;
  if (st->servers) st->servers->pprev = &srv->next;
  st->servers = srv;
  srv->pprev = &st->servers;
  /* namespace "/" */
  sio_nsp_t *root;
  sio_io_of(srv->io, "/", &root);
  sio_nsp_set_callbacks(root, &nsp_cbs);
  sio_nsp_use(root, on_middleware, NULL);
  push_nsp(L, srv, root);
  lua_pop(L, 1);
  lua_pushvalue(L, boxi);
  return 1;
}

/* server:static(prefix, dir[, {index = "index.html", max_age = seconds}]): serves files. A reload
 * asking again for a prefix it has is fine. */
static int l_static(lua_State *L) {
  srv_t *srv = check_open_srv(L, 1);
  const char *prefix = luaL_checkstring(L, 2);
  const char *dir = luaL_checkstring(L, 3);
  sio_static_options_t o;
  sio_static_options_init(&o);
  if (lua_istable(L, 4)) {
    o.index = opt_str(L, 4, "index", NULL);
    o.max_age_s = (uint32_t)opt_int(L, 4, "max_age", 0, 0, 0x7fffffff);
  }
  int r = sio_server_static(srv->server, prefix, dir, &o);
  if (r == SIO_EEXIST && srv->st->reloading) r = 0;
  if (r == SIO_EINVAL) return luaL_argerror(L, 2, "a prefix that starts and ends with '/'");
  return push_ok(L, r);
}

static int srv_close_l(lua_State *L) {
  srv_t *srv = check_srv(L, 1);
  srv_close(srv);
  return 0;
}

/* ---------------------------------------------------------------------------------------------- */
/* Namespaces (a server stands for its namespace "/")                                               */

/* The namespace at idx (a server: its "/"). Raises once the server is closed; while it is closing
 * (disconnect handlers run then) it still answers, and emits fail softly. */
static nsp_ud_t *check_nsp(lua_State *L, int idx) {
  nsp_ud_t *u = luaL_testudata(L, idx, NSP_MT);
  if (u) {
    if (u->srv->closed) luaL_error(L, "the server is closed");
    return u;
  }
  srv_t *srv = check_srv(L, idx);
  if (srv->closed) luaL_error(L, "the server is closed");
  sio_nsp_t *root;
  sio_io_of(srv->io, "/", &root);
  return sio_nsp_get_data(root);
}

/* Pushes the n-th (0-based) dynamic parent the server had before the reload began, or returns
 * NULL (nothing pushed). Parents are the namespaces whose saved handlers have a "match". */
static nsp_ud_t *push_old_parent(lua_State *L, srv_t *srv, int n) {
  push_server(L, srv);
  lua_getiuservalue(L, -1, 1);
  int list = lua_gettop(L), seen = 0;
  lua_Integer len = (lua_Integer)lua_rawlen(L, list);
  for (lua_Integer i = 1; i <= len; i++) {
    lua_rawgeti(L, list, i);
    nsp_ud_t *c = luaL_testudata(L, -1, NSP_MT);
    if (c && !c->dead && c->old_ref != LUA_NOREF) {
      lua_rawgeti(L, LUA_REGISTRYINDEX, c->old_ref);
      int is_parent = lua_getfield(L, -1, "match") == LUA_TFUNCTION;
      lua_pop(L, 2);
      if (is_parent && seen++ == n) {
        lua_replace(L, list - 1);
        lua_settop(L, list - 1);
        return c;
      }
    }
    lua_pop(L, 1);
  }
  lua_settop(L, list - 2);
  return NULL;
}

/* io:of(name) -> namespace; io:of(function(name, auth) -> boolean) -> dynamic parent */
static int l_of(lua_State *L) {
  srv_t *srv = check_open_srv(L, 1);
  siol_state_t *st = srv->st;
  sio_nsp_t *nsp;
  if (lua_isfunction(L, 2)) {
    /* A reload reuses the parents in the order the script makes them (the core keeps parents for
     * the server's life). */
    nsp_ud_t *u = st->reloading && !srv->fresh ? push_old_parent(L, srv, srv->dyn_next) : NULL;
    if (u) srv->dyn_next++;
    if (!u) {
      int r = sio_io_dynamic(srv->io, NULL, on_dynamic_match, &nsp);
      if (r) return push_fail(L, r);
      sio_nsp_set_callbacks(nsp, &nsp_cbs);
      sio_nsp_use(nsp, on_middleware, NULL);
      push_nsp(L, srv, nsp);
      if (st->reloading) srv->dyn_next++;
    }
    lua_getiuservalue(L, -1, 1);
    lua_pushvalue(L, 2);
    lua_setfield(L, -2, "match");
    lua_pop(L, 1);
    return 1;
  }
  const char *name = luaL_checkstring(L, 2);
  int r = sio_io_of(srv->io, name, &nsp);
  if (r) return push_fail(L, r);
  if (!sio_nsp_get_data(nsp)) {
    sio_nsp_set_callbacks(nsp, &nsp_cbs);
    sio_nsp_use(nsp, on_middleware, NULL);
  }
  push_nsp(L, srv, nsp);
  return 1;
}

/* Node's reserved namespace events: serverSideEmit refuses them. */
static int reserved_server_event(const char *ev) {
  return strcmp(ev, "connect") == 0 || strcmp(ev, "connection") == 0 || strcmp(ev, "new_namespace") == 0;
}

/* nsp:on("connection" | "connect", fn(socket, reloaded)), or nsp:on(name, fn(...)): a listener of
 * the server-side event `name` from other nodes of the cluster (their server_side_emit, Node's
 * serverSideEmit), as Node's io.on(name, ...). One listener per name (on() again replaces it). */
static int l_nsp_on(lua_State *L) {
  nsp_ud_t *u = check_nsp(L, 1);
  const char *ev = luaL_checkstring(L, 2);
  luaL_checktype(L, 3, LUA_TFUNCTION);
  int connection = strcmp(ev, "connection") == 0 || strcmp(ev, "connect") == 0;
  if (!connection && reserved_server_event(ev))
    return luaL_argerror(L, 2, lua_pushfstring(L, "\"%s\" is a reserved event name", ev));
  if (strcmp(ev, "disconnect") == 0 || strcmp(ev, "disconnecting") == 0)
    return luaL_argerror(L, 2, "a socket's event: use socket:on inside the \"connection\" handler");
  push_nsp_handlers(L, u->srv, u->nsp);
  if (!connection) {
    if (lua_getfield(L, -1, "server_events") != LUA_TTABLE) {
      lua_pop(L, 1);
      lua_newtable(L);
      lua_pushvalue(L, -1);
      lua_setfield(L, -3, "server_events");
    }
  }
  lua_pushvalue(L, 3);
  lua_setfield(L, -2, connection ? "connection" : ev);
  lua_settop(L, 1);
  return 1;
}

/* Appends the value at `val` to the list in field `key` of the table at the top (the list is made
 * when absent); the table stays. */
static void append_field(lua_State *L, const char *key, int val) {
  if (lua_getfield(L, -1, key) != LUA_TTABLE) {
    lua_pop(L, 1);
    lua_newtable(L);
    lua_pushvalue(L, -1);
    lua_setfield(L, -3, key);
  }
  lua_pushvalue(L, val);
  lua_rawseti(L, -2, (lua_Integer)lua_rawlen(L, -2) + 1);
  lua_pop(L, 1);
}

/* nsp:use(function(socket, auth, next) ... end) */
static int l_nsp_use(lua_State *L) {
  nsp_ud_t *u = check_nsp(L, 1);
  luaL_checktype(L, 2, LUA_TFUNCTION);
  push_nsp_handlers(L, u->srv, u->nsp);
  append_field(L, "middleware", 2);
  lua_settop(L, 1);
  return 1;
}

static int l_nsp_name(lua_State *L, nsp_ud_t *u) {
  lua_pushstring(L, sio_nsp_name(u->nsp));
  return 1;
}

static int l_nsp_count(lua_State *L) {
  nsp_ud_t *u = check_nsp(L, 1);
  lua_pushinteger(L, (lua_Integer)sio_nsp_socket_count(u->nsp));
  return 1;
}

/* A callback owed by an ack context: pushes its function and its error argument (nil, or
 * "ENAME: text") and returns the state, or NULL when the state is gone. Then ack_ctx_end(). */
static lua_State *ack_ctx_begin(ack_ctx_t *c, int status) {
  if (c->st->dead) return NULL;
  lua_State *L = c->st->L;
  luaL_checkstack(L, 4, NULL);
  lua_rawgeti(L, LUA_REGISTRYINDEX, c->fn_ref);
  luaL_unref(L, LUA_REGISTRYINDEX, c->fn_ref);
  if (status == 0) lua_pushnil(L);
  else lua_pushfstring(L, "%s: %s", sio_err_name(status), sio_strerror(status));
  return L;
}

static void ack_ctx_end(ack_ctx_t *c) {
  siol_state_t *st = c->st;
  free(c);
  state_release(st);
}

/* A JSON array as a Lua array (placeholders indexing a's buffers); an empty one for anything else. */
static void push_json_array(lua_State *L, const cJSON *j, const sio_args_t *a) {
  cJSON empty = {0};
  empty.type = cJSON_Array;
  siol_push_json(L, cJSON_IsArray(j) ? j : &empty, a);
}

static void on_fetch_count(sio_nsp_t *nsp, int status, size_t n, void *arg) {
  (void)nsp;
  lua_State *L = ack_ctx_begin(arg, status);
  if (L) {
    lua_pushinteger(L, (lua_Integer)n);
    pcall_what(L, 2, 0, "fetch_count callback", NULL);
  }
  ack_ctx_end(arg);
}

static ack_ctx_t *new_ack_ctx(lua_State *L, int fn);
static void drop_ack_ctx(lua_State *L, ack_ctx_t *c);

/* nsp:fetch_count(function(err, n) end): the cluster-wide socket count (this server's alone
 * without redis); err nil, "ETIMEDOUT: ..." (n: what answered in time), "EUNAVAIL: ..." (Redis not
 * connected or lost: what was counted, this server's at least) or "ECLOSED: ..." (the server
 * closed). The callback may run before this returns. Returns true, or nil, "ECLOSED: ...",
 * "ECLOSED" (callback never called) once the server is closing. */
static int l_nsp_fetch_count(lua_State *L) {
  nsp_ud_t *u = check_nsp(L, 1);
  luaL_checktype(L, 2, LUA_TFUNCTION);
  ack_ctx_t *c = new_ack_ctx(L, 2);
  int r = sio_nsp_fetch_count(u->nsp, NULL, on_fetch_count, c);
  if (r) {
    drop_ack_ctx(L, c);
    return push_fail(L, r);
  }
  lua_pushboolean(L, 1);
  return 1;
}

static void on_all_rooms(sio_nsp_t *nsp, int status, const char *const *rooms, size_t n, void *arg) {
  (void)nsp;
  lua_State *L = ack_ctx_begin(arg, status);
  if (L) {
    lua_createtable(L, n > 0x7fffffff ? 0 : (int)n, 0);
    for (size_t i = 0; i < n; i++) {
      lua_pushstring(L, rooms[i]);
      lua_rawseti(L, -2, (lua_Integer)i + 1);
    }
    luaL_setmetatable(L, SIOL_ARRAY_MT);
    pcall_what(L, 2, 0, "all_rooms callback", NULL);
  }
  ack_ctx_end(arg);
}

/* nsp:all_rooms(function(err, rooms) end): every room of the namespace on every node of the cluster,
 * each once, in no order (Node's allRooms(); a socket's own id is a room; this server's alone
 * without redis); err as fetch_count's (rooms: what came). Returns true, or nil, "ECLOSED: ...",
 * "ECLOSED" (callback never called) once the server is closing. */
static int l_nsp_all_rooms(lua_State *L) {
  nsp_ud_t *u = check_nsp(L, 1);
  luaL_checktype(L, 2, LUA_TFUNCTION);
  if (u->srv->closing) return push_fail(L, SIO_ECLOSED);
  ack_ctx_t *c = new_ack_ctx(L, 2);
  int r = sio_nsp_fetch_rooms(u->nsp, on_all_rooms, c);
  if (r) {
    drop_ack_ctx(L, c);
    return push_fail(L, r);
  }
  lua_pushboolean(L, 1);
  return 1;
}

static void on_server_ack(sio_nsp_t *nsp, int status, const cJSON *responses, void *arg) {
  (void)nsp;
  lua_State *L = ack_ctx_begin(arg, status);
  if (L) {
    push_json_array(L, responses, NULL);
    pcall_what(L, 2, 0, "server_side_emit callback", NULL);
  }
  ack_ctx_end(arg);
}

/* nsp:server_side_emit(event, ...[, function(err, responses) end]): Node's serverSideEmit, the
 * event and its arguments (JSON values only) to the namespace on every other node of the cluster,
 * whose nsp:on(event, fn) listeners get them. A function as the last argument waits for each other
 * node's answer: err nil, "ETIMEDOUT: ..." (the answers that came), "EUNAVAIL: ..." (Redis not
 * connected or lost) or "ECLOSED: ..." (the server closed); responses an array (sio.null for an answer without a value). Returns
 * true, or nil, "ENOSYS: ... needs a cluster ...", "ENOSYS" without redis; without a function,
 * nil, "EUNAVAIL: ...", "EUNAVAIL" when Redis is not connected (nothing is kept for later). */
static int l_nsp_server_side_emit(lua_State *L) {
  nsp_ud_t *u = check_nsp(L, 1);
  const char *event = luaL_checkstring(L, 2);
  if (reserved_server_event(event))
    return luaL_argerror(L, 2, lua_pushfstring(L, "\"%s\" is a reserved event name", event));
  int last = lua_gettop(L), cb = 0;
  if (last >= 3 && lua_isfunction(L, last)) cb = last--;
  args_box_t *a = check_args(L, 3, last);
  if (a->b.n)
    return luaL_error(L, "server_side_emit: server-side events carry JSON values only (no sio.binary)");
  if (u->srv->closing) return push_fail(L, SIO_ECLOSED);
  sio_args_t args = {a->json, NULL, 0};
  int r;
  if (cb) {
    ack_ctx_t *c = new_ack_ctx(L, cb);
    r = sio_nsp_server_emit_ack(u->nsp, event, &args, on_server_ack, c);
    if (r) drop_ack_ctx(L, c);
  } else {
    r = sio_nsp_server_emit(u->nsp, event, &args);
  }
  args_free(a);
  if (r == UV_ENOSYS) {
    lua_pushnil(L);
    lua_pushstring(L, "ENOSYS: server_side_emit needs a cluster: sio.server{redis = \"redis://...\"}");
    lua_pushstring(L, "ENOSYS");
    return 3;
  }
  if (r == SIO_EINVAL) return luaL_error(L, "server_side_emit: not on a parent of dynamic namespaces");
  if (r) return push_fail(L, r);
  lua_pushboolean(L, 1);
  return 1;
}

static int l_nsp_socket(lua_State *L) {
  nsp_ud_t *u = check_nsp(L, 1);
  sio_socket_t *s = sio_nsp_socket(u->nsp, luaL_checkstring(L, 2));
  if (!s || !sio_socket_connected(s)) return 0;
  push_socket(L, u->srv, s);
  return 1;
}

/* ---------------------------------------------------------------------------------------------- */
/* Emitters: broadcast operators (io:to(room), socket.broadcast, ...) and socket:timeout(ms)       */

/* An emitter's uservalue: {target = nsp or socket userdata, rooms = {...}, except = {...}}. */
static op_ud_t *new_op(lua_State *L, int kind, int target) {
  target = lua_absindex(L, target);
  op_ud_t *o = lua_newuserdatauv(L, sizeof *o, 1);
  o->kind = kind;
  o->flags = 0;
  o->timeout_ms = 0;
  luaL_setmetatable(L, OP_MT);
  lua_createtable(L, 0, 3);
  lua_pushvalue(L, target);
  lua_setfield(L, -2, "target");
  lua_newtable(L);
  lua_setfield(L, -2, "rooms");
  lua_newtable(L);
  lua_setfield(L, -2, "except");
  lua_setiuservalue(L, -2, 1);
  return o;
}

static void copy_list(lua_State *L, int from_uv, int to_uv, const char *key) {
  from_uv = lua_absindex(L, from_uv);
  to_uv = lua_absindex(L, to_uv);
  lua_getfield(L, from_uv, key);
  lua_getfield(L, to_uv, key);
  lua_Integer n = (lua_Integer)lua_rawlen(L, -2);
  for (lua_Integer i = 1; i <= n; i++) {
    lua_rawgeti(L, -2, i);
    lua_rawseti(L, -2, i);
  }
  lua_pop(L, 2);
}

/* Appends a room name or a list of them (argument idx) to the emitter's list `key`. */
static void add_rooms(lua_State *L, int op, int idx, const char *key) {
  lua_getiuservalue(L, op, 1);
  lua_getfield(L, -1, key);
  int list = lua_gettop(L);
  if (lua_istable(L, idx)) {
    lua_Integer n = (lua_Integer)lua_rawlen(L, idx);
    for (lua_Integer i = 1; i <= n; i++) {
      lua_rawgeti(L, idx, i);
      if (lua_type(L, -1) != LUA_TSTRING && lua_type(L, -1) != LUA_TNUMBER)
        luaL_argerror(L, idx, "room names are strings");
      lua_tostring(L, -1);
      lua_rawseti(L, list, (lua_Integer)lua_rawlen(L, list) + 1);
    }
  } else {
    luaL_checkstring(L, idx);
    lua_pushvalue(L, idx);
    lua_tostring(L, -1);
    lua_rawseti(L, list, (lua_Integer)lua_rawlen(L, list) + 1);
  }
  lua_pop(L, 2);
}

/* The emitter at idx as a new one (op:to() etc. return a copy, as the reference's operators);
 * a namespace, server or socket at idx starts a broadcast operator. */
static op_ud_t *derive_op(lua_State *L, int idx) {
  idx = lua_absindex(L, idx);
  op_ud_t *from = luaL_testudata(L, idx, OP_MT);
  if (from) {
    lua_getiuservalue(L, idx, 1);
    lua_getfield(L, -1, "target");
    op_ud_t *o = new_op(L, from->kind, -1);
    o->flags = from->flags;
    o->timeout_ms = from->timeout_ms;
    lua_getiuservalue(L, -1, 1);
    copy_list(L, -4, -1, "rooms");
    copy_list(L, -4, -1, "except");
    lua_pop(L, 1);
    lua_remove(L, -2);
    lua_remove(L, -2);
    return o;
  }
  sock_ud_t *su = luaL_testudata(L, idx, SOCKET_MT);
  if (su) {
    /* socket:to(room), socket.broadcast: the socket's namespace without the socket itself */
    if (!su->s) luaL_error(L, "the socket is disconnected");
    push_nsp(L, su->srv, sio_socket_nsp(su->s));
    op_ud_t *o = new_op(L, OP_BROADCAST, -1);
    lua_remove(L, -2);
    lua_getiuservalue(L, -1, 1);
    lua_getfield(L, -1, "except");
    lua_pushstring(L, sio_socket_id(su->s));
    lua_rawseti(L, -2, 1);
    lua_pop(L, 2);
    return o;
  }
  nsp_ud_t *u = check_nsp(L, idx);
  lua_rawgeti(L, LUA_REGISTRYINDEX, u->ref);
  op_ud_t *o = new_op(L, OP_BROADCAST, -1);
  lua_remove(L, -2);
  return o;
}

static int l_op_to(lua_State *L) {
  derive_op(L, 1);
  add_rooms(L, lua_gettop(L), 2, "rooms");
  return 1;
}

static int l_op_except(lua_State *L) {
  derive_op(L, 1);
  add_rooms(L, lua_gettop(L), 2, "except");
  return 1;
}

static int l_op_timeout(lua_State *L) {
  lua_Integer ms = luaL_checkinteger(L, 2);
  luaL_argcheck(L, ms > 0 && ms <= 0x7fffffff, 2, "a timeout in milliseconds");
  if (luaL_testudata(L, 1, SOCKET_MT)) {
    op_ud_t *o = new_op(L, OP_SOCKET, 1);
    o->timeout_ms = (uint32_t)ms;
    return 1;
  }
  op_ud_t *o = derive_op(L, 1);
  o->timeout_ms = (uint32_t)ms;
  return 1;
}

static int l_op_compress(lua_State *L) {
  op_ud_t *o;
  if (luaL_testudata(L, 1, SOCKET_MT)) o = new_op(L, OP_SOCKET, 1);
  else o = derive_op(L, 1);
  if (lua_isnone(L, 2) || lua_toboolean(L, 2)) o->flags |= SIO_EMIT_COMPRESS;
  else o->flags &= ~SIO_EMIT_COMPRESS;
  return 1;
}

/* The fields `volatile`, `locally` (the reference's `local`, a Lua keyword) and `broadcast`. */
static int push_flag_op(lua_State *L, int idx, const char *key) {
  if (strcmp(key, "broadcast") == 0) {
    if (!luaL_testudata(L, idx, SOCKET_MT)) return 0;
    derive_op(L, idx);
    return 1;
  }
  int flag = strcmp(key, "volatile") == 0 ? SIO_EMIT_VOLATILE : strcmp(key, "locally") == 0 ? SIO_EMIT_LOCAL : 0;
  if (!flag) return 0;
  op_ud_t *o;
  if (luaL_testudata(L, idx, SOCKET_MT)) o = new_op(L, OP_SOCKET, idx);
  else o = derive_op(L, idx);
  o->flags |= flag;
  return 1;
}

/* The target of an emitter: its rooms and except lists as one array of strings borrowed from its
 * tables, on the C stack when short. */
typedef struct {
  const char *small[16];
  sio_target_t t;
} target_t;

/* v[0..n) = the strings of the list at index `list` (add_rooms stores strings only). */
static void list_strings(lua_State *L, int list, const char **v, size_t n) {
  for (size_t i = 0; i < n; i++) {
    lua_rawgeti(L, list, (lua_Integer)i + 1);
    v[i] = lua_tostring(L, -1); /* anchored by the list */
    lua_pop(L, 1);
  }
}

/* Pushes three values that keep tg's strings alive until the caller returns: the two lists, and
 * a long target's array, a userdata rather than malloc'd memory, so that no error raised before
 * the caller is done can leak it (nil for a short one). */
static void op_target(lua_State *L, int op, const op_ud_t *o, target_t *tg) {
  lua_getiuservalue(L, op, 1);
  lua_getfield(L, -1, "rooms");
  lua_getfield(L, -2, "except");
  lua_remove(L, -3);
  int rooms = lua_absindex(L, -2), except = lua_absindex(L, -1);
  size_t nr = lua_rawlen(L, rooms), ne = lua_rawlen(L, except);
  const char **v = tg->small;
  if (nr + ne > sizeof tg->small / sizeof *v) v = lua_newuserdatauv(L, (nr + ne) * sizeof *v, 0);
  else lua_pushnil(L);
  list_strings(L, rooms, v, nr);
  list_strings(L, except, v + nr, ne);
  tg->t = (sio_target_t){v, nr, v + nr, ne, o->flags};
}

/* Splits the trailing (function [, options]) off an emit's arguments: returns the index of the
 * callback (0 when none) and sets *last to the last data argument; options may set timeout,
 * volatile and compress. */
static int split_callback(lua_State *L, int first, int *last, uint32_t *timeout, int *flags) {
  int top = lua_gettop(L);
  *last = top;
  int cb = 0;
  if (top >= first && lua_istable(L, top) && top - 1 >= first && lua_isfunction(L, top - 1)) {
    lua_getfield(L, top, "timeout");
    if (!lua_isnil(L, -1)) {
      lua_Integer ms = lua_tointeger(L, -1);
      if (ms <= 0 || ms > 0x7fffffff) luaL_error(L, "emit: options.timeout must be a positive integer (ms)");
      *timeout = (uint32_t)ms;
    }
    lua_pop(L, 1);
    lua_getfield(L, top, "volatile");
    if (lua_toboolean(L, -1)) *flags |= SIO_EMIT_VOLATILE;
    lua_pop(L, 1);
    cb = top - 1;
    *last = top - 2;
  } else if (top >= first && lua_isfunction(L, top)) {
    cb = top;
    *last = top - 1;
  }
  return cb;
}

static void on_socket_ack(sio_socket_t *s, int status, const sio_args_t *args, void *arg) {
  (void)s;
  lua_State *L = ack_ctx_begin(arg, status);
  if (L) pcall_what(L, 1 + (status == 0 ? siol_push_args(L, args) : 0), 0, "acknowledgement callback", NULL);
  ack_ctx_end(arg);
}

static void on_broadcast_ack(sio_nsp_t *nsp, int status, const sio_args_t *responses, void *arg) {
  (void)nsp;
  lua_State *L = ack_ctx_begin(arg, status);
  if (L) {
    push_json_array(L, responses ? responses->json : NULL, responses);
    pcall_what(L, 2, 0, "broadcast acknowledgement callback", NULL);
  }
  ack_ctx_end(arg);
}

static ack_ctx_t *new_ack_ctx(lua_State *L, int fn) {
  siol_state_t *st = get_state(L);
  /* The reference first: luaL_ref may raise (a Lua memory error), and c must not exist then. */
  lua_pushvalue(L, fn);
  int ref = luaL_ref(L, LUA_REGISTRYINDEX);
  ack_ctx_t *c = malloc(sizeof *c);
  if (!c) {
    luaL_unref(L, LUA_REGISTRYINDEX, ref);
    luaL_error(L, "out of memory");
  }
  c->st = st;
  c->fn_ref = ref;
  st->live++;
  return c;
}

static void drop_ack_ctx(lua_State *L, ack_ctx_t *c) {
  luaL_unref(L, LUA_REGISTRYINDEX, c->fn_ref);
  state_release(c->st);
  free(c);
}

static int emit_error(lua_State *L, int r, const char *event) {
  if (r == SIO_ERESERVED) return luaL_error(L, "emit: \"%s\" is a reserved event name", event);
  if (r == SIO_EINVAL) return luaL_error(L, "emit: cannot emit \"%s\": %s", event, sio_last_error());
  return push_fail(L, r);
}

/* Emits to one socket: (event, ...args [, callback [, options]]) at stack index 2. */
static int socket_emit(lua_State *L, sock_ud_t *su, int flags, uint32_t timeout) {
  const char *event = luaL_checkstring(L, 2);
  int last;
  int cb = split_callback(L, 3, &last, &timeout, &flags);
  if (!su->s) return push_fail(L, SIO_ECLOSED);
  args_box_t *a = check_args(L, 3, last);
  sio_args_t args = args_of(a);
  int r;
  if (cb) {
    ack_ctx_t *c = new_ack_ctx(L, cb);
    r = sio_socket_emit_ack(su->s, event, &args, flags, timeout, on_socket_ack, c);
    if (r) drop_ack_ctx(L, c);
  } else {
    r = sio_socket_emit(su->s, event, &args, flags);
  }
  args_free(a);
  if (r) return emit_error(L, r, event);
  lua_pushboolean(L, 1);
  return 1;
}

static int broadcast_emit(lua_State *L, int op, op_ud_t *o, nsp_ud_t *u) {
  const char *event = luaL_checkstring(L, 2);
  uint32_t timeout = o ? o->timeout_ms : 0;
  int flags = o ? o->flags : 0;
  int last;
  int cb = split_callback(L, 3, &last, &timeout, &flags);
  args_box_t *a = check_args(L, 3, last);
  sio_args_t args = args_of(a);
  target_t tg;
  int has_target = o != NULL;
  if (has_target) {
    op_target(L, op, o, &tg);
    tg.t.flags = flags;
  }
  int r;
  if (cb) {
    if (!timeout) timeout = 0x7fffffff; /* the core needs one; "wait for all" */
    ack_ctx_t *c = new_ack_ctx(L, cb);
    r = sio_nsp_emit_ack(u->nsp, has_target ? &tg.t : NULL, event, &args, timeout, on_broadcast_ack, c);
    if (r) drop_ack_ctx(L, c);
  } else if (has_target || flags) {
    if (!has_target) {
      memset(&tg, 0, sizeof tg);
      tg.t.flags = flags;
      has_target = 1;
    }
    r = sio_nsp_emit(u->nsp, &tg.t, event, &args);
  } else {
    r = sio_nsp_emit(u->nsp, NULL, event, &args);
  }
  args_free(a);
  if (r) return emit_error(L, r, event);
  lua_pushboolean(L, 1);
  return 1;
}

/* The target userdata of an emitter (pushed) */
static void push_op_target(lua_State *L, int op) {
  lua_getiuservalue(L, op, 1);
  lua_getfield(L, -1, "target");
  lua_remove(L, -2);
}

static int l_op_emit(lua_State *L) {
  op_ud_t *o = luaL_testudata(L, 1, OP_MT);
  if (o) {
    push_op_target(L, 1);
    if (o->kind == OP_SOCKET) {
      sock_ud_t *su = lua_touserdata(L, -1);
      lua_pop(L, 1); /* anchored by the emitter */
      return socket_emit(L, su, o->flags, o->timeout_ms);
    }
    nsp_ud_t *u = lua_touserdata(L, -1);
    lua_pop(L, 1);
    if (u->srv->closing || u->srv->closed) return push_fail(L, SIO_ECLOSED);
    return broadcast_emit(L, 1, o, u);
  }
  sock_ud_t *su = luaL_testudata(L, 1, SOCKET_MT);
  if (su) return socket_emit(L, su, 0, 0);
  nsp_ud_t *u = luaL_testudata(L, 1, NSP_MT);
  srv_t *srv = u ? u->srv : check_srv(L, 1);
  /* a broadcast from a disconnect handler during shutdown: nobody is left to get it */
  if (srv->closing || srv->closed) return push_fail(L, SIO_ECLOSED);
  return broadcast_emit(L, 1, NULL, check_nsp(L, 1));
}

/* The namespace and target of a selection (io, nsp or an emitter at 1); the target is NULL for a
 * whole namespace. Pushes three values when o is an emitter (see op_target). */
static nsp_ud_t *selection(lua_State *L, target_t *tg, int *has) {
  op_ud_t *o = luaL_testudata(L, 1, OP_MT);
  *has = 0;
  if (!o) return check_nsp(L, 1);
  if (o->kind != OP_BROADCAST) luaL_argerror(L, 1, "not a broadcast emitter");
  push_op_target(L, 1);
  nsp_ud_t *u = lua_touserdata(L, -1);
  lua_pop(L, 1);
  if (u->srv->closed) luaL_error(L, "the server is closed");
  op_target(L, 1, o, tg);
  *has = 1;
  return u;
}

typedef struct {
  lua_State *L;
  srv_t *srv;
  int list;
  lua_Integer n;
} fetch_t;

static int fetch_cb(sio_socket_t *s, void *arg) {
  fetch_t *f = arg;
  push_socket(f->L, f->srv, s);
  lua_rawseti(f->L, f->list, ++f->n);
  return 0;
}

/* Pushes the targeted sockets as an array (kept on the stack) and returns its index. */
static int fetch(lua_State *L, nsp_ud_t *u, target_t *tg, int has) {
  lua_newtable(L);
  fetch_t f = {L, u->srv, lua_gettop(L), 0};
  sio_nsp_each(u->nsp, has ? &tg->t : NULL, fetch_cb, &f);
  return f.list;
}

static void on_cluster_sockets(sio_nsp_t *nsp, int status, const cJSON *sockets, void *arg) {
  (void)nsp;
  lua_State *L = ack_ctx_begin(arg, status);
  if (L) {
    push_json_array(L, sockets, NULL);
    pcall_what(L, 2, 0, "fetch_sockets callback", NULL);
  }
  ack_ctx_end(arg);
}

/* fetch_sockets(): this node's targeted sockets (userdata), now. fetch_sockets(function(err,
 * sockets) end): every node's (Node's fetchSockets()), each a table {id, handshake = {headers,
 * time, address, xdomain, secure, issued, url, query, auth}, rooms, data}, this node's first; err
 * as fetch_count's. Returns true, or nil, "ECLOSED: ...", "ECLOSED" once the server is closing. */
static int l_fetch_sockets(lua_State *L) {
  target_t tg;
  int has;
  int fn = lua_isfunction(L, 2) ? 2 : 0;
  nsp_ud_t *u = selection(L, &tg, &has);
  if (!fn) {
    fetch(L, u, &tg, has);
    return 1;
  }
  int r = SIO_ECLOSED;
  ack_ctx_t *c = u->srv->closing ? NULL : new_ack_ctx(L, fn);
  if (c && (r = sio_nsp_fetch_sockets(u->nsp, has ? &tg.t : NULL, on_cluster_sockets, c)) != 0)
    drop_ack_ctx(L, c);
  if (r) return push_fail(L, r);
  lua_pushboolean(L, 1);
  return 1;
}

static int l_sockets_join_leave(lua_State *L, int join) {
  target_t tg;
  int has;
  nsp_ud_t *u = selection(L, &tg, &has);
  int rooms = 2;
  /* each room of a list */
  if (lua_istable(L, rooms)) {
    lua_Integer n = (lua_Integer)lua_rawlen(L, rooms);
    for (lua_Integer i = 1; i <= n; i++) {
      lua_rawgeti(L, rooms, i);
      const char *room = lua_tostring(L, -1);
      if (room) (join ? sio_nsp_join : sio_nsp_leave)(u->nsp, has ? &tg.t : NULL, room);
      lua_pop(L, 1);
    }
  } else {
    const char *room = luaL_checkstring(L, rooms);
    (join ? sio_nsp_join : sio_nsp_leave)(u->nsp, has ? &tg.t : NULL, room);
  }
  return 0;
}

static int l_sockets_join(lua_State *L) { return l_sockets_join_leave(L, 1); }
static int l_sockets_leave(lua_State *L) { return l_sockets_join_leave(L, 0); }

static int l_disconnect_sockets(lua_State *L) {
  target_t tg;
  int has;
  int close = lua_toboolean(L, 2);
  nsp_ud_t *u = selection(L, &tg, &has);
  sio_nsp_disconnect(u->nsp, has ? &tg.t : NULL, close);
  return 0;
}

/* ---------------------------------------------------------------------------------------------- */
/* Sockets                                                                                         */

static sock_ud_t *check_socket(lua_State *L, int idx) { return luaL_checkudata(L, idx, SOCKET_MT); }

static sio_socket_t *check_connected(lua_State *L, int idx) {
  sock_ud_t *u = check_socket(L, idx);
  return u->s;
}

/* socket:on(event, fn): one handler per event (on() again replaces it); "disconnect" and
 * "disconnecting" get the reason. */
static int l_socket_on(lua_State *L) {
  check_socket(L, 1);
  luaL_checkstring(L, 2);
  if (!lua_isnil(L, 3)) luaL_checktype(L, 3, LUA_TFUNCTION);
  lua_settop(L, 3);
  lua_getiuservalue(L, 1, 1);
  lua_getfield(L, -1, "h");
  lua_pushvalue(L, 2);
  lua_pushvalue(L, 3);
  lua_rawset(L, -3);
  lua_settop(L, 1);
  return 1;
}

static int l_socket_off(lua_State *L) {
  lua_settop(L, 2);
  lua_pushnil(L);
  return l_socket_on(L);
}

static int l_socket_on_any(lua_State *L) {
  check_socket(L, 1);
  luaL_checktype(L, 2, LUA_TFUNCTION);
  lua_getiuservalue(L, 1, 1);
  append_field(L, "any", 2);
  lua_settop(L, 1);
  return 1;
}

static int join_leave(lua_State *L, int join) {
  sio_socket_t *s = check_connected(L, 1);
  if (!s) return push_fail(L, SIO_ECLOSED);
  int r = 0;
  if (lua_istable(L, 2)) {
    lua_Integer n = (lua_Integer)lua_rawlen(L, 2);
    for (lua_Integer i = 1; i <= n && r == 0; i++) {
      lua_rawgeti(L, 2, i);
      const char *room = lua_tostring(L, -1);
      if (!room) return luaL_argerror(L, 2, "room names are strings");
      r = join ? sio_socket_join(s, room) : sio_socket_leave(s, room);
      lua_pop(L, 1);
    }
  } else {
    const char *room = luaL_checkstring(L, 2);
    r = join ? sio_socket_join(s, room) : sio_socket_leave(s, room);
  }
  return push_ok(L, r);
}

static int l_socket_join(lua_State *L) { return join_leave(L, 1); }
static int l_socket_leave(lua_State *L) { return join_leave(L, 0); }

/* socket:rooms() -> {own id, then rooms in join order} */
static int l_socket_rooms(lua_State *L) {
  sio_socket_t *s = check_connected(L, 1);
  lua_newtable(L);
  if (!s) return 1;
  size_t n = sio_socket_room_count(s);
  for (size_t i = 0; i < n; i++) {
    lua_pushstring(L, sio_socket_room(s, i));
    lua_rawseti(L, -2, (lua_Integer)i + 1);
  }
  return 1;
}

static int l_socket_disconnect(lua_State *L) {
  sio_socket_t *s = check_connected(L, 1);
  if (s) sio_socket_disconnect(s, lua_toboolean(L, 2));
  return 0;
}

static void push_query(lua_State *L, const char *q) {
  lua_newtable(L);
  while (q && *q) {
    const char *amp = strchr(q, '&');
    size_t len = amp ? (size_t)(amp - q) : strlen(q);
    const char *eq = memchr(q, '=', len);
    size_t klen = eq ? (size_t)(eq - q) : len;
    /* percent-decoding with '+' as space, as Node's querystring (the core's decoder) */
    for (int part = 0; part < 2; part++) {
      const char *p = part ? (eq ? eq + 1 : q + len) : q;
      size_t n = (size_t)((part ? q + len : q + klen) - p);
      luaL_Buffer b;
      char *o = luaL_buffinitsize(L, &b, n ? n : 1);
      luaL_pushresultsize(&b, sio_url_decode(p, n, o));
    }
    if (klen) lua_rawset(L, -3);
    else lua_pop(L, 2);
    q = amp ? amp + 1 : NULL;
  }
}

static void push_handshake(lua_State *L, sio_socket_t *s) {
  if (!s) {
    lua_pushnil(L);
    return;
  }
  const sio_request_info_t *req = sio_socket_session(s) ? sio_session_request(sio_socket_session(s)) : NULL;
  lua_createtable(L, 0, 8);
  if (req) {
    lua_newtable(L);
    for (size_t i = 0; i < req->header_count; i++) {
      lua_pushstring(L, req->header_values[i]);
      lua_setfield(L, -2, req->header_names[i]);
    }
    lua_setfield(L, -2, "headers");
    push_query(L, req->query);
    lua_setfield(L, -2, "query");
    lua_pushstring(L, req->remote_addr);
    lua_setfield(L, -2, "address");
    lua_pushstring(L, req->url);
    lua_setfield(L, -2, "url");
    lua_pushboolean(L, req->secure);
    lua_setfield(L, -2, "secure");
    lua_pushinteger(L, (lua_Integer)req->time_ms);
    lua_setfield(L, -2, "issued");
    char buf[64];
    time_t t = (time_t)(req->time_ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, sizeof buf, "%a, %d %b %Y %H:%M:%S GMT", &tm);
    lua_pushstring(L, buf);
    lua_setfield(L, -2, "time");
    const char *origin = sio_request_header(req, "origin");
    lua_pushboolean(L, origin != NULL);
    lua_setfield(L, -2, "xdomain");
  }
  siol_push_json(L, sio_socket_auth(s), NULL);
  lua_setfield(L, -2, "auth");
}

/* Fields cached in the socket's uservalue, built on first use. */
static void push_cached(lua_State *L, int sock, const char *key, void (*build)(lua_State *, sio_socket_t *),
                        sio_socket_t *s) {
  lua_getiuservalue(L, sock, 1);
  if (lua_getfield(L, -1, key) == LUA_TNIL && build) {
    lua_pop(L, 1);
    build(L, s);
    lua_pushvalue(L, -1);
    lua_setfield(L, -3, key);
  }
  lua_remove(L, -2);
}

static void build_auth(lua_State *L, sio_socket_t *s) {
  if (s) siol_push_json(L, sio_socket_auth(s), NULL);
  else lua_pushnil(L);
}
static void build_data(lua_State *L, sio_socket_t *s) { lua_newtable(L); }

/* The id and namespace outlive the connection in the cache (a disconnect handler may read them). */
static void build_id(lua_State *L, sio_socket_t *s) {
  if (s) lua_pushstring(L, sio_socket_id(s));
  else lua_pushnil(L);
}

static void build_nsp(lua_State *L, sio_socket_t *s) {
  if (s) push_nsp(L, srv_of_nsp(sio_socket_nsp(s)), sio_socket_nsp(s));
  else lua_pushnil(L);
}

static int l_socket_index(lua_State *L) {
  sock_ud_t *u = check_socket(L, 1);
  const char *key = luaL_checkstring(L, 2);
  lua_getmetatable(L, 1);
  lua_getfield(L, -1, "methods");
  if (lua_getfield(L, -1, key) != LUA_TNIL) return 1;
  lua_pop(L, 3);
  if (push_flag_op(L, 1, key)) return 1;
  if (strcmp(key, "connected") == 0) {
    lua_pushboolean(L, u->s != NULL && sio_socket_connected(u->s));
    return 1;
  }
  if (strcmp(key, "data") == 0) {
    push_cached(L, 1, "data", build_data, u->s);
    return 1;
  }
  if (strcmp(key, "id") == 0) {
    push_cached(L, 1, "id", build_id, u->s);
    return 1;
  }
  if (strcmp(key, "auth") == 0) {
    push_cached(L, 1, "auth", build_auth, u->s);
    return 1;
  }
  if (strcmp(key, "handshake") == 0) {
    push_cached(L, 1, "handshake", push_handshake, u->s);
    return 1;
  }
  if (strcmp(key, "nsp") == 0) {
    push_cached(L, 1, "nsp", build_nsp, u->s);
    return 1;
  }
  if (strcmp(key, "transport") == 0) {
    if (!u->s || !sio_socket_session(u->s)) return 0;
    lua_pushstring(L, sio_session_transport(sio_socket_session(u->s)) == SIO_TRANSPORT_WEBSOCKET ? "websocket" : "polling");
    return 1;
  }
  if (strcmp(key, "protocol") == 0) {
    if (!u->s || !sio_socket_session(u->s)) return 0;
    lua_pushinteger(L, sio_session_protocol(sio_socket_session(u->s)));
    return 1;
  }
  return 0;
}

static int l_socket_newindex(lua_State *L) {
  check_socket(L, 1);
  const char *key = luaL_checkstring(L, 2);
  if (strcmp(key, "data") != 0) return luaL_error(L, "socket.%s is read-only (keep your values in socket.data)", key);
  lua_getiuservalue(L, 1, 1);
  lua_pushvalue(L, 3);
  lua_setfield(L, -2, "data");
  return 0;
}

static int l_socket_tostring(lua_State *L) {
  sock_ud_t *u = check_socket(L, 1);
  lua_pushfstring(L, "sio.socket (%s)", u->s ? sio_socket_id(u->s) : "disconnected");
  return 1;
}

/* ---------------------------------------------------------------------------------------------- */
/* Acks                                                                                            */

static int l_ack_call(lua_State *L) {
  ack_ud_t *a = luaL_checkudata(L, 1, ACK_MT);
  if (a->used) return luaL_error(L, "this acknowledgement was already sent");
  int last = lua_gettop(L);
  lua_getiuservalue(L, 1, 1);
  sock_ud_t *su = lua_touserdata(L, -1);
  lua_pop(L, 1);
  if (!su || !su->s) {
    a->used = 1;
    return push_fail(L, SIO_ECLOSED);
  }
  /* Converted before it counts as sent: a bad value raises and leaves the ack to answer. */
  args_box_t *box = check_args(L, 2, last);
  a->used = 1;
  sio_args_t args = args_of(box);
  int r = sio_socket_ack(su->s, a->id, &args);
  args_free(box);
  return push_ok(L, r);
}

/* ---------------------------------------------------------------------------------------------- */
/* Engine.IO endpoints: io:engine{path = "/engine.io/"} with on("connection"|"message"|"close")      */

static void push_session(lua_State *L, sio_session_t *s) {
  sess_ud_t *u = sio_session_get_data(s);
  if (u) {
    lua_rawgeti(L, LUA_REGISTRYINDEX, u->ref);
    return;
  }
  u = lua_newuserdatauv(L, sizeof *u, 0);
  u->s = s;
  luaL_setmetatable(L, SESSION_MT);
  lua_pushvalue(L, -1);
  u->ref = luaL_ref(L, LUA_REGISTRYINDEX);
  sio_session_set_data(s, u);
}

/* Pushes the engine's handler `name` and the session, or returns NULL (nothing pushed). */
static lua_State *engine_cb(sio_session_t *s, const char *name) {
  eng_t *e = sio_engine_get_data(sio_session_engine(s));
  lua_State *L = e ? cb_state(e->srv) : NULL;
  if (!L || e->ref == LUA_NOREF) return NULL;
  lua_rawgeti(L, LUA_REGISTRYINDEX, e->ref);
  lua_getiuservalue(L, -1, 1);
  lua_getfield(L, -1, name);
  lua_remove(L, -2);
  lua_remove(L, -2);
  if (!lua_isfunction(L, -1)) {
    lua_pop(L, 1);
    return NULL;
  }
  push_session(L, s);
  return L;
}

static void eng_on_connection(sio_engine_t *engine, sio_session_t *s) {
  lua_State *L = engine_cb(s, "connection");
  if (L) pcall_what(L, 1, 0, "Engine.IO connection handler", NULL);
}

static void eng_on_message(sio_session_t *s, const char *data, size_t len, int binary) {
  lua_State *L = engine_cb(s, "message");
  if (!L) return;
  if (binary) siol_push_binary(L, data, len);
  else lua_pushlstring(L, data, len);
  pcall_what(L, 2, 0, "Engine.IO message handler", NULL);
}

static void eng_on_close(sio_session_t *s, const char *reason) {
  lua_State *L = engine_cb(s, "close");
  if (L) {
    lua_pushstring(L, reason);
    pcall_what(L, 2, 0, "Engine.IO close handler", NULL);
  }
  eng_t *e = sio_engine_get_data(sio_session_engine(s));
  L = e ? cb_state(e->srv) : NULL;
  sess_ud_t *u = L ? sio_session_get_data(s) : NULL; /* userdata: only while Lua lives */
  sio_session_set_data(s, NULL);
  if (u) {
    u->s = NULL;
    unref(L, &u->ref);
  }
}

/* io:engine{path = "/engine.io/"} (or io:engine(path)): a bare Engine.IO endpoint on the same
 * port with the server's options; asked again for a path, the same endpoint. */
static int l_engine(lua_State *L) {
  srv_t *srv = check_open_srv(L, 1);
  const char *path = "/engine.io/";
  if (lua_istable(L, 2)) {
    lua_getfield(L, 2, "path");
    if (lua_isstring(L, -1)) path = lua_tostring(L, -1);
  } else if (lua_isstring(L, 2)) {
    path = lua_tostring(L, 2);
  }
  for (eng_t *e = srv->engines; e; e = e->next) {
    if (strcmp(e->path, path) == 0) {
      lua_rawgeti(L, LUA_REGISTRYINDEX, e->ref);
      return 1;
    }
  }
  eng_t *e = calloc(1, sizeof *e);
  if (!e || !(e->path = strdup(path))) {
    free(e);
    return luaL_error(L, "out of memory");
  }
  e->srv = srv;
  e->ref = e->old_ref = LUA_NOREF;
  sio_engine_options_t o = srv->eio;
  o.path = e->path;
  sio_engine_callbacks_t cbs = {eng_on_connection, eng_on_message, eng_on_close, NULL};
  int r = sio_engine_new(srv->server, &o, &cbs, &e->engine);
  if (r) {
    free(e->path);
    free(e);
    return push_fail(L, r);
  }
  e->next = srv->engines;
  srv->engines = e;
  sio_engine_set_data(e->engine, e);
  eng_box_t *b = lua_newuserdatauv(L, sizeof *b, 1);
  b->e = e;
  luaL_setmetatable(L, ENGINE_MT);
  lua_newtable(L);
  lua_setiuservalue(L, -2, 1);
  lua_pushvalue(L, -1);
  e->ref = luaL_ref(L, LUA_REGISTRYINDEX);
  return 1;
}

static int l_engine_on(lua_State *L) {
  luaL_checkudata(L, 1, ENGINE_MT);
  const char *ev = luaL_checkstring(L, 2);
  luaL_checktype(L, 3, LUA_TFUNCTION);
  if (strcmp(ev, "connection") && strcmp(ev, "message") && strcmp(ev, "close"))
    return luaL_argerror(L, 2, "\"connection\", \"message\" or \"close\"");
  lua_getiuservalue(L, 1, 1);
  lua_pushvalue(L, 3);
  lua_setfield(L, -2, ev);
  lua_settop(L, 1);
  return 1;
}

/* session:send(data): a string as a text message, a sio.binary as a binary one. */
static int l_session_send(lua_State *L) {
  sess_ud_t *u = luaL_checkudata(L, 1, SESSION_MT);
  size_t len;
  const char *data = siol_to_binary(L, 2, &len);
  int binary = data != NULL;
  if (!data) data = luaL_checklstring(L, 2, &len);
  if (!u->s) return push_fail(L, SIO_ECLOSED);
  return push_ok(L, sio_session_send(u->s, data, len, binary));
}

static int l_session_close(lua_State *L) {
  sess_ud_t *u = luaL_checkudata(L, 1, SESSION_MT);
  if (u->s) sio_session_close(u->s);
  return 0;
}

static int l_session_index(lua_State *L) {
  sess_ud_t *u = luaL_checkudata(L, 1, SESSION_MT);
  const char *key = luaL_checkstring(L, 2);
  if (strcmp(key, "send") == 0) lua_pushcfunction(L, l_session_send);
  else if (strcmp(key, "close") == 0) lua_pushcfunction(L, l_session_close);
  else if (strcmp(key, "id") == 0 && u->s) lua_pushstring(L, sio_session_id(u->s));
  else if (strcmp(key, "protocol") == 0 && u->s) lua_pushinteger(L, sio_session_protocol(u->s));
  else return 0;
  return 1;
}

/* ---------------------------------------------------------------------------------------------- */
/* Timers                                                                                          */

static void tmr_close_cb(uv_handle_t *h) {
  tmr_t *t = h->data;
  siol_state_t *st = t->st;
  free(t);
  state_release(st);
}

static void tmr_stop(lua_State *L, tmr_t *t) {
  if (t->pprev) {
    *t->pprev = t->next;
    if (t->next) t->next->pprev = t->pprev;
    t->pprev = NULL;
  }
  if (L) {
    /* the box no longer points here */
    if (t->self_ref != LUA_NOREF) {
      lua_rawgeti(L, LUA_REGISTRYINDEX, t->self_ref);
      tmr_box_t *b = lua_touserdata(L, -1);
      if (b) b->t = NULL;
      lua_pop(L, 1);
    }
    unref(L, &t->fn_ref);
    unref(L, &t->self_ref);
  }
  uv_close((uv_handle_t *)&t->h, tmr_close_cb);
}

static void tmr_cb(uv_timer_t *h) {
  tmr_t *t = h->data;
  siol_state_t *st = t->st;
  if (st->dead) return;
  lua_State *L = st->L;
  lua_rawgeti(L, LUA_REGISTRYINDEX, t->fn_ref);
  if (!t->repeat) {
    /* a timeout is over before its callback runs: the callback may start another */
    lua_rawgeti(L, LUA_REGISTRYINDEX, t->self_ref);
    tmr_stop(L, t);
    pcall_what(L, 1, 0, "timer callback", NULL);
    return;
  }
  lua_rawgeti(L, LUA_REGISTRYINDEX, t->self_ref);
  pcall_what(L, 1, 0, "interval callback", NULL);
}

/* sio.set_timeout(fn, ms) / sio.set_interval(fn, ms) (either order) -> timer */
static int start_timer(lua_State *L, int repeat) {
  siol_state_t *st = get_state(L);
  int fn = lua_isfunction(L, 1) ? 1 : 2;
  int ms = fn == 1 ? 2 : 1;
  luaL_checktype(L, fn, LUA_TFUNCTION);
  lua_Integer delay = luaL_checkinteger(L, ms);
  if (delay < 0) delay = 0;
  uv_loop_t *loop = state_loop(L, st);
  /* Everything that may raise (Lua memory errors) before the timer exists. */
  tmr_box_t *b = lua_newuserdatauv(L, sizeof *b, 0);
  b->t = NULL;
  luaL_setmetatable(L, TIMER_MT);
  lua_pushvalue(L, -1);
  int self_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  lua_pushvalue(L, fn);
  int fn_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  tmr_t *t = calloc(1, sizeof *t);
  if (!t) {
    luaL_unref(L, LUA_REGISTRYINDEX, self_ref);
    luaL_unref(L, LUA_REGISTRYINDEX, fn_ref);
    return luaL_error(L, "out of memory");
  }
  t->st = st;
  st->live++;
  t->repeat = repeat;
  uv_timer_init(loop, &t->h);
  t->h.data = t;
  b->t = t;
  t->self_ref = self_ref;
  t->fn_ref = fn_ref;
  t->next = st->timers;
  if (st->timers) st->timers->pprev = &t->next;
  st->timers = t;
  t->pprev = &st->timers;
  uint64_t d = (uint64_t)delay;
  uv_timer_start(&t->h, tmr_cb, d, repeat ? (d ? d : 1) : 0);
  return 1;
}

static int l_set_timeout(lua_State *L) { return start_timer(L, 0); }
static int l_set_interval(lua_State *L) { return start_timer(L, 1); }

static int l_timer_stop(lua_State *L) {
  tmr_box_t *b = luaL_checkudata(L, 1, TIMER_MT);
  if (b->t) tmr_stop(L, b->t);
  return 0;
}

static int l_timer_index(lua_State *L) {
  tmr_box_t *b = luaL_checkudata(L, 1, TIMER_MT);
  const char *key = luaL_checkstring(L, 2);
  if (strcmp(key, "stop") == 0 || strcmp(key, "cancel") == 0) lua_pushcfunction(L, l_timer_stop);
  else if (strcmp(key, "active") == 0) lua_pushboolean(L, b->t != NULL);
  else return 0;
  return 1;
}

/* ---------------------------------------------------------------------------------------------- */
/* Running                                                                                         */

void siol_shutdown(lua_State *L) {
  siol_state_t *st = get_state(L);
  if (!st) return;
  while (st->timers) tmr_stop(st->dead ? NULL : L, st->timers);
  for (srv_t *s = st->servers; s; s = s->next) srv_close(s);
  signals_off(st);
}

static void on_run_signal(uv_signal_t *h, int signum) {
  siol_state_t *st = h->data;
  siol_log(st->L, SIOL_LOG_INFO, "shutting down (%s)", signum == SIGINT ? "SIGINT" : "SIGTERM");
  siol_shutdown(st->L);
}

/* sio.run([mode]): runs the loop ("default": until sio.stop() or nothing is left, shutting down
 * gracefully on SIGINT/SIGTERM; "once"; "nowait"). Returns true when handles remain. Under siod
 * it returns at once: the daemon runs the loop. */
static int l_run(lua_State *L) {
  siol_state_t *st = get_state(L);
  static const char *const modes[] = {"default", "once", "nowait", NULL};
  int mode = luaL_checkoption(L, 1, "default", modes);
  if (st->hosted) {
    lua_pushboolean(L, 1);
    return 1;
  }
  if (st->running) return luaL_error(L, "sio.run() called from inside the loop");
  uv_loop_t *loop = state_loop(L, st);
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
  siol_state_t *st = get_state(L);
  if (st->loop) uv_stop(st->loop);
  return 0;
}

static int l_shutdown(lua_State *L) {
  siol_shutdown(L);
  return 0;
}

static int l_now(lua_State *L) {
  siol_state_t *st = get_state(L);
  uv_loop_t *loop = state_loop(L, st);
  uv_update_time(loop);
  lua_pushinteger(L, (lua_Integer)uv_now(loop));
  return 1;
}

static int l_log(lua_State *L) {
  int level = (int)lua_tointeger(L, lua_upvalueindex(1));
  siol_state_t *st = get_state(L);
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

static int l_is_ack(lua_State *L) {
  lua_pushboolean(L, luaL_testudata(L, 1, ACK_MT) != NULL);
  return 1;
}

/* sio._roundtrip(...) -> json text, values...: the value converters both ways (for tests). */
static int l_roundtrip(lua_State *L) {
  int n = lua_gettop(L);
  args_box_t *box = check_args(L, 1, n);
  if (!(box->text = cJSON_PrintUnformatted(box->json))) return luaL_error(L, "out of memory");
  lua_pushstring(L, box->text);
  sio_args_t a = args_of(box);
  int pushed = siol_push_args(L, &a); /* raises when there are too many to push */
  args_free(box);
  return 1 + pushed;
}

/* ---------------------------------------------------------------------------------------------- */
/* Hosts and reloads                                                                               */

void siol_overrides_init(siol_overrides_t *o) {
  memset(o, 0, sizeof *o);
  o->port = -1;
  o->allow_eio3 = -1;
  o->ping_interval_ms = -1;
  o->ping_timeout_ms = -1;
  o->max_payload = -1;
}

void siol_host(lua_State *L, uv_loop_t *loop, const siol_overrides_t *o) {
  siol_state_t *st = get_state(L);
  if (!st) return;
  st->loop = loop;
  st->hosted = 1;
  if (o) {
    free((char *)st->ov.host);
    free((char *)st->ov.path);
    free((char *)st->ov.redis);
    free((char *)st->ov.cookie);
    st->ov = *o;
    st->ov.host = dup_or_null(o->host);
    st->ov.path = dup_or_null(o->path);
    st->ov.redis = dup_or_null(o->redis);
    st->ov.cookie = dup_or_null(o->cookie);
  }
}

/* Calls fn(L, nsp userdata index) for every namespace userdata of every server. */
static void each_nsp(lua_State *L, siol_state_t *st, void (*fn)(lua_State *, int, srv_t *)) {
  for (srv_t *s = st->servers; s; s = s->next) {
    if (s->closing) continue;
    push_server(L, s);
    lua_getiuservalue(L, -1, 1);
    lua_Integer n = (lua_Integer)lua_rawlen(L, -1);
    for (lua_Integer i = 1; i <= n; i++) {
      lua_rawgeti(L, -1, i);
      fn(L, lua_gettop(L), s);
      lua_pop(L, 1);
    }
    lua_pop(L, 2);
  }
}

static void save_handlers(lua_State *L, int idx, srv_t *s) {
  nsp_ud_t *u = luaL_testudata(L, idx, NSP_MT);
  if (u) {
    lua_getiuservalue(L, idx, 1);
    u->old_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    lua_newtable(L);
    lua_setiuservalue(L, idx, 1);
    return;
  }
}

/* An engine's handler table across a reload: 0 saves it (fresh one installed), 1 restores it,
 * 2 drops the saved one. */
static void engines_reload(lua_State *L, siol_state_t *st, int what) {
  for (srv_t *s = st->servers; s; s = s->next) {
    for (eng_t *e = s->engines; e; e = e->next) {
      if (e->ref == LUA_NOREF) continue;
      if (what == 0) {
        lua_rawgeti(L, LUA_REGISTRYINDEX, e->ref);
        lua_getiuservalue(L, -1, 1);
        e->old_ref = luaL_ref(L, LUA_REGISTRYINDEX);
        lua_newtable(L);
        lua_setiuservalue(L, -2, 1);
        lua_pop(L, 1);
      } else if (what == 1 && e->old_ref != LUA_NOREF) {
        lua_rawgeti(L, LUA_REGISTRYINDEX, e->ref);
        lua_rawgeti(L, LUA_REGISTRYINDEX, e->old_ref);
        lua_setiuservalue(L, -2, 1);
        lua_pop(L, 1);
      }
      if (what) unref(L, &e->old_ref);
    }
  }
}

void siol_reload_begin(lua_State *L) {
  siol_state_t *st = get_state(L);
  if (!st || st->reloading) return;
  for (srv_t *s = st->servers; s; s = s->next) {
    s->claimed = 0;
    s->fresh = 0;
    s->dyn_next = 0;
  }
  each_nsp(L, st, save_handlers);
  engines_reload(L, st, 0);
  st->reloading = 1;
}

static void restore_handlers(lua_State *L, int idx, srv_t *s) {
  nsp_ud_t *u = luaL_testudata(L, idx, NSP_MT);
  if (!u) return;
  if (u->old_ref != LUA_NOREF) {
    lua_rawgeti(L, LUA_REGISTRYINDEX, u->old_ref);
    lua_setiuservalue(L, idx, 1);
    unref(L, &u->old_ref);
  } else if (!sio_nsp_parent(u->nsp)) {
    /* made by the failed script: a dynamic parent stays in the core, so make it match nothing */
    u->dead = 1;
  }
}

static void drop_saved(lua_State *L, int idx, srv_t *s) {
  nsp_ud_t *u = luaL_testudata(L, idx, NSP_MT);
  if (!u || u->old_ref == LUA_NOREF) return;
  /* a dynamic parent the new script did not ask for again matches nothing from now on */
  lua_rawgeti(L, LUA_REGISTRYINDEX, u->old_ref);
  int was_parent = lua_getfield(L, -1, "match") == LUA_TFUNCTION;
  lua_pop(L, 2);
  lua_getiuservalue(L, idx, 1);
  int is_parent = lua_getfield(L, -1, "match") == LUA_TFUNCTION;
  lua_pop(L, 2);
  if (was_parent && !is_parent) u->dead = 1;
  unref(L, &u->old_ref);
}

/* Gathers the connected sockets of a static namespace or dynamic parent into the list at the
 * stack's top (sockets of children are reached through their parent). */
static void gather_sockets(lua_State *L, int idx, srv_t *s) {
  nsp_ud_t *u = luaL_testudata(L, idx, NSP_MT);
  if (!u || sio_nsp_parent(u->nsp)) return;
  int list = idx - 3; /* see siol_reload_commit: list, server, server's table, item */
  fetch_t f = {L, s, list, (lua_Integer)lua_rawlen(L, list)};
  sio_nsp_each(u->nsp, NULL, fetch_cb, &f);
}

void siol_reload_commit(lua_State *L) {
  siol_state_t *st = get_state(L);
  if (!st || !st->reloading) return;
  st->reloading = 0;
  each_nsp(L, st, drop_saved);
  engines_reload(L, st, 2);
  for (srv_t *s = st->servers; s; s = s->next) {
    if (!s->claimed && !s->fresh && !s->closing) {
      siol_log(L, SIOL_LOG_INFO, "closing the server on port %d: the script no longer makes it", s->port);
      srv_close(s);
    }
    s->claimed = s->fresh = 0;
  }
  /* Connected sockets get the new handlers: the new "connection" handler binds them again. */
  lua_newtable(L);
  each_nsp(L, st, gather_sockets);
  lua_Integer n = (lua_Integer)lua_rawlen(L, -1);
  for (lua_Integer i = 1; i <= n; i++) {
    lua_rawgeti(L, -1, i);
    sock_ud_t *u = lua_touserdata(L, -1);
    if (u && u->s && sio_socket_connected(u->s)) {
      lua_getiuservalue(L, -1, 1);
      lua_newtable(L);
      lua_setfield(L, -2, "h");
      lua_pushnil(L);
      lua_setfield(L, -2, "any");
      lua_pop(L, 1);
      call_connection(L, u->srv, u->s, 1);
    }
    lua_pop(L, 1);
  }
  lua_pop(L, 1);
}

void siol_reload_abort(lua_State *L) {
  siol_state_t *st = get_state(L);
  if (!st || !st->reloading) return;
  st->reloading = 0;
  each_nsp(L, st, restore_handlers);
  engines_reload(L, st, 1);
  for (srv_t *s = st->servers; s; s = s->next) {
    if (s->fresh) srv_close(s);
    s->claimed = s->fresh = 0;
  }
}

/* ---------------------------------------------------------------------------------------------- */
/* Module                                                                                          */

static int state_gc(lua_State *L) {
  siol_state_t **box = lua_touserdata(L, 1);
  siol_state_t *st = *box;
  if (!st) return 0;
  *box = NULL;
  st->dead = 1;
  siol_shutdown(L);
  free((char *)st->ov.host);
  free((char *)st->ov.path);
  free((char *)st->ov.redis);
  free((char *)st->ov.cookie);
  if (st->own_loop_ready) {
    /* our own loop: finish closing everything here (no Lua is called: st->dead) */
    uv_run(&st->own_loop, UV_RUN_DEFAULT);
    uv_loop_close(&st->own_loop);
  }
  st->live--; /* the module's own hold */
  if (st->live == 0) free(st);
  return 0;
}

static int l_version(lua_State *L) {
  lua_pushstring(L, sio_version());
  return 1;
}

static void set_methods(lua_State *L, const char *mt, const luaL_Reg *methods, lua_CFunction index,
                        lua_CFunction gc, lua_CFunction tostr) {
  luaL_newmetatable(L, mt);
  lua_newtable(L);
  luaL_setfuncs(L, methods, 0);
  if (!index) {
    lua_pushvalue(L, -1);
    lua_setfield(L, -3, "__index");
  }
  lua_setfield(L, -2, "methods");
  if (index) {
    lua_pushcfunction(L, index);
    lua_setfield(L, -2, "__index");
  }
  if (gc) {
    lua_pushcfunction(L, gc);
    lua_setfield(L, -2, "__gc");
  }
  if (tostr) {
    lua_pushcfunction(L, tostr);
    lua_setfield(L, -2, "__tostring");
  }
  lua_pop(L, 1);
}

/* Namespace methods (also the server's, for its namespace "/"). */
#define NSP_METHODS                                                                               \
  {"on", l_nsp_on}, {"use", l_nsp_use}, {"emit", l_op_emit}, {"to", l_op_to},                    \
      {"except", l_op_except}, {"timeout", l_op_timeout}, {"compress", l_op_compress},            \
      {"fetch_sockets", l_fetch_sockets}, {"sockets_join", l_sockets_join},                       \
      {"sockets_leave", l_sockets_leave}, {"disconnect_sockets", l_disconnect_sockets},           \
      {"count", l_nsp_count}, {"fetch_count", l_nsp_fetch_count}, {"socket", l_nsp_socket},       \
      {"all_rooms", l_nsp_all_rooms}, {"server_side_emit", l_nsp_server_side_emit}

static int l_nsp_index(lua_State *L) {
  nsp_ud_t *u = luaL_checkudata(L, 1, NSP_MT);
  const char *key = luaL_checkstring(L, 2);
  lua_getmetatable(L, 1);
  lua_getfield(L, -1, "methods");
  if (lua_getfield(L, -1, key) != LUA_TNIL) return 1;
  lua_pop(L, 3);
  if (strcmp(key, "name") == 0) return l_nsp_name(L, u);
  if (strcmp(key, "server") == 0) {
    push_server(L, u->srv);
    return 1;
  }
  return push_flag_op(L, 1, key);
}

static int l_srv_index(lua_State *L) {
  srv_t *srv = check_srv(L, 1);
  const char *key = luaL_checkstring(L, 2);
  lua_getmetatable(L, 1);
  lua_getfield(L, -1, "methods");
  if (lua_getfield(L, -1, key) != LUA_TNIL) return 1;
  lua_pop(L, 3);
  if (strcmp(key, "port") == 0) lua_pushinteger(L, srv->port);
  else if (strcmp(key, "host") == 0) lua_pushstring(L, srv->host);
  else if (strcmp(key, "path") == 0) lua_pushstring(L, srv->path);
  else if (strcmp(key, "redis") == 0) lua_pushstring(L, srv->redis); /* nil when alone */
  else if (strcmp(key, "closed") == 0) lua_pushboolean(L, srv->closing || srv->closed);
  else if (strcmp(key, "name") == 0) lua_pushliteral(L, "/");
  else if (srv->closing || srv->closed) return 0;
  else return push_flag_op(L, 1, key);
  return 1;
}

static int l_op_index(lua_State *L) {
  luaL_checkudata(L, 1, OP_MT);
  const char *key = luaL_checkstring(L, 2);
  lua_getmetatable(L, 1);
  lua_getfield(L, -1, "methods");
  if (lua_getfield(L, -1, key) != LUA_TNIL) return 1;
  lua_pop(L, 3);
  return push_flag_op(L, 1, key);
}

int luaopen_sio(lua_State *L) {
  /* one state per Lua state, shared by every require */
  if (!get_state(L)) {
    siol_state_t **box = lua_newuserdatauv(L, sizeof *box, 0);
    *box = NULL;
    lua_createtable(L, 0, 1);
    lua_pushcfunction(L, state_gc);
    lua_setfield(L, -2, "__gc");
    lua_setmetatable(L, -2);
    siol_state_t *st = calloc(1, sizeof *st);
    if (!st) return luaL_error(L, "out of memory");
    st->L = L;
    st->live = 1;
    st->log_level = SIOL_LOG_INFO;
    siol_overrides_init(&st->ov);
    *box = st;
    lua_setfield(L, LUA_REGISTRYINDEX, STATE_KEY);
  }

  static const luaL_Reg srv_methods[] = {NSP_METHODS, {"of", l_of}, {"engine", l_engine}, {"static", l_static}, {"close", srv_close_l},
                                         {NULL, NULL}};
  set_methods(L, SERVER_MT, srv_methods, l_srv_index, srv_gc, NULL);
  static const luaL_Reg nsp_methods[] = {NSP_METHODS, {NULL, NULL}};
  set_methods(L, NSP_MT, nsp_methods, l_nsp_index, NULL, NULL);
  static const luaL_Reg op_methods[] = {{"emit", l_op_emit},
                                        {"to", l_op_to},
                                        {"except", l_op_except},
                                        {"timeout", l_op_timeout},
                                        {"compress", l_op_compress},
                                        {"fetch_sockets", l_fetch_sockets},
                                        {"sockets_join", l_sockets_join},
                                        {"sockets_leave", l_sockets_leave},
                                        {"disconnect_sockets", l_disconnect_sockets},
                                        {NULL, NULL}};
  set_methods(L, OP_MT, op_methods, l_op_index, NULL, NULL);
  static const luaL_Reg sock_methods[] = {{"on", l_socket_on},
                                          {"off", l_socket_off},
                                          {"on_any", l_socket_on_any},
                                          {"emit", l_op_emit},
                                          {"timeout", l_op_timeout},
                                          {"compress", l_op_compress},
                                          {"to", l_op_to},
                                          {"except", l_op_except},
                                          {"join", l_socket_join},
                                          {"leave", l_socket_leave},
                                          {"rooms", l_socket_rooms},
                                          {"disconnect", l_socket_disconnect},
                                          {NULL, NULL}};
  set_methods(L, SOCKET_MT, sock_methods, l_socket_index, NULL, l_socket_tostring);
  luaL_getmetatable(L, SOCKET_MT);
  lua_pushcfunction(L, l_socket_newindex);
  lua_setfield(L, -2, "__newindex");
  lua_pop(L, 1);
  static const luaL_Reg none[] = {{NULL, NULL}};
  set_methods(L, ACK_MT, none, NULL, NULL, NULL);
  luaL_getmetatable(L, ACK_MT);
  lua_pushcfunction(L, l_ack_call);
  lua_setfield(L, -2, "__call");
  lua_pop(L, 1);
  set_methods(L, NEXT_MT, none, NULL, next_gc, NULL);
  set_methods(L, ARGS_MT, none, NULL, args_gc, NULL);
  set_methods(L, TIMER_MT, none, l_timer_index, NULL, NULL);
  static const luaL_Reg eng_methods[] = {{"on", l_engine_on}, {NULL, NULL}};
  set_methods(L, ENGINE_MT, eng_methods, NULL, NULL, NULL);
  set_methods(L, SESSION_MT, none, l_session_index, NULL, NULL);

  static const luaL_Reg fns[] = {{"server", l_server},
                                 {"run", l_run},
                                 {"stop", l_stop},
                                 {"shutdown", l_shutdown},
                                 {"set_timeout", l_set_timeout},
                                 {"set_interval", l_set_interval},
                                 {"now", l_now},
                                 {"set_log_level", l_set_log_level},
                                 {"is_ack", l_is_ack},
                                 {"_roundtrip", l_roundtrip},
                                 {NULL, NULL}};
  luaL_newlib(L, fns);
  lua_pushstring(L, sio_version());
  lua_setfield(L, -2, "version");
  (void)l_version;
  lua_createtable(L, 0, 4);
  static const char *const lv[] = {"debug", "info", "warn", "error"};
  for (int i = 0; i < 4; i++) {
    lua_pushinteger(L, i);
    lua_pushcclosure(L, l_log, 1);
    lua_setfield(L, -2, lv[i]);
  }
  lua_setfield(L, -2, "log");
  siol_values_open(L);
  return 1;
}
