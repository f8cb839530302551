/* siod: the sio daemon. It runs one Lua 5.4 script with the `sio` module built in, on a libuv loop
 * of its own, and owns what a daemon owns: the command line, signals, reload, shutdown, exit status.
 *
 *   siod [options] script.lua [script args...]
 *
 * siod's options are recognised before and after the script name (`--name=value` works too):
 *   --host H, --port N, --path P, --allow-eio3, --ping-interval MS, --ping-timeout MS,
 *   --max-payload BYTES, --redis URL, --redis-mode classic|sharded|streams, --cookie NAME,
 *   --per-message-deflate,
 *   --no-http-compression, --tls-cert FILE --tls-key FILE, --parser msgpack,
 *   --recovery [MS] (MS only when the next argument is all digits), --metrics PATH,
 *   --admin USER:BCRYPTHASH, --admin-no-auth (every server instrumented for the Admin UI, on /admin)
 *                         override what the script passes to sio.server{} (siod_reload.h)
 *   --log-level L         debug, info (the default), warn or error
 *   --debug CATEGORIES    SIO_DEBUG's categories (engine,socket,... or *), set as SIO_DEBUG
 *   -h, --help            usage on stdout
 *   -v, --version         "siod 0.1.0 (Lua 5.4.4)"
 * Every other argument after the script goes to the script, in order (an unknown option and its
 * value included): as `...` of the chunk and in the global `arg` as the stock lua interpreter
 * builds it (arg[0] the script path, arg[1..n] its arguments, arg[-1] siod's argv[0]). `--` ends
 * siod's options: everything after it goes to the script untouched (the `--` itself does not),
 * which is how a script gets an argument that looks like one of siod's (`siod app.lua -- --port 1`).
 *
 * The life of the process:
 *   - startup: the script runs once; sio.server{} in it listens on siod's loop and sio.run() returns
 *     at once (siod runs the loop). A syntax error, or a runtime error at startup, exits 1 (after
 *     closing what the script had opened already).
 *   - SIGTERM / SIGINT: graceful shutdown (siol_shutdown: every socket gets a DISCONNECT, every
 *     server and timer closes); siod exits 0 once the loop has nothing left to do. A second
 *     SIGTERM/SIGINT, or a shutdown still running 10 s after the first, exits 1 at once.
 *   - SIGHUP: reload: every TLS server re-reads its certificate, key and CA files (new connections
 *     get them, established ones keep theirs; a file that cannot be used keeps the old ones), then
 *     the script is loaded and run again on the running servers (siod_reload_*); a syntax or
 *     runtime error keeps the running script.
 *   - a script that leaves nothing running (no server, no timer) ends the process, status 0.
 * Exit status: 0 as above; 1 on a script error at startup, a second signal or the deadline;
 * 2 on a bad command line. Logging goes to stderr, one timestamped line per message (siol_log).
 */
#include <ctype.h>
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>
#include <uv.h>

#include "sio.h"
#include "sio_lua.h"
#include "siod_reload.h"

/* How long a graceful shutdown may take; a test build may shorten it. */
#ifndef SIOD_DEADLINE_MS
#define SIOD_DEADLINE_MS 10000
#endif

typedef struct {
  const char *progname;
  const char *script;
  char **args; /* the script's arguments: pointers into argv */
  int nargs;
  siod_overrides_t overrides;
  int log_level;
  unsigned workers; /* --workers N: N loops, one Lua state each (1: no threads) */
} siod_config_t;

#define SIOD_MAX_WORKERS 64

typedef struct siod_s siod_t;

/* A worker's Lua state (--workers N > 1; worker 0's is siod_t's own), on its worker's thread. */
typedef struct {
  siod_t *d;
  unsigned index;
  lua_State *L;
  uv_async_t reload; /* SIGHUP, forwarded from worker 0: reload this state on its thread */
  int reload_on;
} siod_worker_t;

/* The one state of the daemon, on main's stack; every handle's data points at it. */
struct siod_s {
  siod_config_t cfg;
  uv_loop_t loop;
  lua_State *L; /* NULL once closed: callbacks that may still run must not log through it */
  uv_signal_t sigterm, sigint, sighup;
  uv_timer_t deadline;
  int shutting_down;
  int exit_code;
  sio_workers_t *group;                     /* --workers N > 1, until stopped */
  int ports0[16];                           /* worker 0's servers' ports, in the order made */
  int nports0;
  siod_worker_t workers[SIOD_MAX_WORKERS]; /* [1..N-1]: the other workers' states */
};

/* ---- command line ---- */

enum {
  OPT_HOST,
  OPT_PORT,
  OPT_PATH,
  OPT_ALLOW_EIO3,
  OPT_NO_HTTP_COMPRESSION,
  OPT_PING_INTERVAL,
  OPT_PING_TIMEOUT,
  OPT_MAX_PAYLOAD,
  OPT_REDIS,
  OPT_REDIS_MODE,
  OPT_COOKIE,
  OPT_DEFLATE,
  OPT_RECOVERY,
  OPT_TLS_CERT,
  OPT_TLS_KEY,
  OPT_PARSER,
  OPT_ADMIN,
  OPT_ADMIN_NO_AUTH,
  OPT_METRICS,
  OPT_LOG_LEVEL,
  OPT_DEBUG,
  OPT_WORKERS,
  OPT_HELP,
  OPT_VERSION
};

typedef struct {
  const char *name;
  int id;
  int has_value;
} siod_option_t;

static const siod_option_t options[] = {
  {"--host", OPT_HOST, 1},
  {"--port", OPT_PORT, 1},
  {"--path", OPT_PATH, 1},
  {"--allow-eio3", OPT_ALLOW_EIO3, 0},
  {"--no-http-compression", OPT_NO_HTTP_COMPRESSION, 0},
  {"--ping-interval", OPT_PING_INTERVAL, 1},
  {"--ping-timeout", OPT_PING_TIMEOUT, 1},
  {"--max-payload", OPT_MAX_PAYLOAD, 1},
  {"--redis", OPT_REDIS, 1},
  {"--redis-mode", OPT_REDIS_MODE, 1},
  {"--cookie", OPT_COOKIE, 1},
  {"--per-message-deflate", OPT_DEFLATE, 0},
  {"--recovery", OPT_RECOVERY, 2}, /* 2: an optional value (--recovery=MS, or all digits next) */
  {"--tls-cert", OPT_TLS_CERT, 1},
  {"--tls-key", OPT_TLS_KEY, 1},
  {"--parser", OPT_PARSER, 1},
  {"--admin", OPT_ADMIN, 1},
  {"--admin-no-auth", OPT_ADMIN_NO_AUTH, 0},
  {"--metrics", OPT_METRICS, 1},
  {"--log-level", OPT_LOG_LEVEL, 1},
  {"--debug", OPT_DEBUG, 1},
  {"--workers", OPT_WORKERS, 1},
  {"-h", OPT_HELP, 0},
  {"--help", OPT_HELP, 0},
  {"-v", OPT_VERSION, 0},
  {"--version", OPT_VERSION, 0},
};

static void usage(FILE *f) {
  fprintf(f,
          "usage: siod [options] script.lua [script args...]\n"
          "\n"
          "Runs a Lua 5.4 script with the sio module (require \"sio\") built in.\n"
          "Options, before or after the script name (also as --name=value):\n"
          "  --host H             listen on host H           } override what the script\n"
          "  --port N             listen on port N           } passes to sio.server{}\n"
          "  --path P             Socket.IO path, e.g. /socket.io/\n"
          "  --allow-eio3         accept Engine.IO v3 clients (socket.io 2.x)\n"
          "  --no-http-compression  never gzip/deflate polling responses\n"
          "  --ping-interval MS   Engine.IO ping interval\n"
          "  --ping-timeout MS    Engine.IO ping timeout\n"
          "  --max-payload BYTES  largest polling body or WebSocket message\n"
          "  --redis URL          a cluster node through Redis (redis://host:port)\n"
          "  --redis-mode MODE    with --redis: classic (default) or sharded (@socket.io/redis-\n"
          "                       adapter), or streams (@socket.io/redis-streams-adapter)\n"
          "  --cookie NAME        the polling handshake sets NAME=<sid> (sticky balancers)\n"
          "  --per-message-deflate  accept permessage-deflate (messages of 1024 bytes or more\n"
          "                       are compressed, unless the script sets its own threshold)\n"
          "  --recovery [MS]      connection state recovery (Node's connectionStateRecovery),\n"
          "                       sessions and packets kept MS ms (default 120000)\n"
          "  --tls-cert FILE      HTTPS/WSS: PEM certificate chain (with --tls-key)\n"
          "  --tls-key FILE       its PEM private key (SIGHUP re-reads both)\n"
          "  --parser msgpack     npm socket.io-msgpack-parser's wire format instead of JSON\n"
          "  --admin USER:BCRYPTHASH  the Socket.IO Admin UI's server side on /admin (basic auth\n"
          "                       against that bcrypt hash; quote it, it holds $)\n"
          "  --admin-no-auth      the same without auth\n"
          "  --metrics PATH       serve Prometheus text metrics at PATH (e.g. /metrics)\n"
          "  --log-level LEVEL    debug, info (default), warn or error\n"
          "  --debug CATEGORIES   debug lines of engine,socket,nsp,adapter,redis,http (or *),\n"
          "                       whatever the level; in place of env SIO_DEBUG\n"
          "  --workers N          N event loops on N threads, one port (SO_REUSEPORT), the\n"
          "                       script run once per worker in a Lua state of its own (1-64)\n"
          "  -h, --help           this text\n"
          "  -v, --version        print the versions of siod and Lua\n"
          "  --                   the rest goes to the script as is\n"
          "Other arguments after the script go to it, in order: `...` of the chunk and the\n"
          "global arg (arg[0] the script, arg[1..n] its arguments, arg[-1] siod).\n"
          "Signals: SIGTERM/SIGINT shut down gracefully (a second one, or 10 s, exits at once);\n"
          "SIGHUP reloads the script, keeping the running one if the new one fails.\n"
          "Exit status: 0 after a clean shutdown, 1 on a script error, 2 on a bad command line.\n");
}

static _Noreturn void usage_error(const char *what, const char *arg) {
  fprintf(stderr, "siod: %s%s%s\n", what, arg ? " " : "", arg ? arg : "");
  usage(stderr);
  exit(2);
}

/* The option `a` names, exactly or as --name=value (then *value points after the '='). */
static const siod_option_t *find_option(const char *a, const char **value) {
  *value = NULL;
  for (size_t i = 0; i < sizeof options / sizeof options[0]; i++) {
    size_t n = strlen(options[i].name);
    if (strncmp(a, options[i].name, n) != 0) continue;
    if (a[n] == '\0') return &options[i];
    if (a[n] == '=' && options[i].has_value) {
      *value = a + n + 1;
      return &options[i];
    }
  }
  return NULL;
}

/* A decimal number within [min, max]; strtol alone takes signs, blanks and trailing junk. */
static long parse_number(const char *opt, const char *s, long min, long max) {
  char *end = NULL;
  errno = 0;
  long v = isdigit((unsigned char)s[0]) ? strtol(s, &end, 10) : -1;
  if (v < 0 || *end != '\0' || errno != 0 || v < min || v > max) {
    fprintf(stderr, "siod: %s: bad value '%s' (a number from %ld to %ld)\n", opt, s, min, max);
    usage(stderr);
    exit(2);
  }
  return v;
}

static int all_digits(const char *s) {
  if (!*s) return 0;
  for (; *s; s++)
    if (!isdigit((unsigned char)*s)) return 0;
  return 1;
}

static void apply_option(siod_config_t *c, const siod_option_t *o, const char *v) {
  static const char *const levels[] = {"debug", "info", "warn", "error"};
  switch (o->id) {
  case OPT_WORKERS: c->workers = (unsigned)parse_number(o->name, v, 1, SIOD_MAX_WORKERS); break;
  case OPT_HOST:
    if (!*v) usage_error("--host: empty host", NULL);
    c->overrides.host = v;
    break;
  case OPT_PORT: c->overrides.port = (int)parse_number(o->name, v, 0, 65535); break;
  case OPT_PATH:
    if (!*v) usage_error("--path: empty path", NULL);
    c->overrides.path = v;
    break;
  case OPT_ALLOW_EIO3: c->overrides.allow_eio3 = 1; break;
  case OPT_DEFLATE: c->overrides.per_message_deflate = 1; break;
  case OPT_RECOVERY: c->overrides.recovery_ms = v ? parse_number(o->name, v, 0, INT32_MAX) : 120000; break;
  case OPT_NO_HTTP_COMPRESSION: c->overrides.no_http_compression = 1; break;
  case OPT_ADMIN:
    if (!strchr(v, ':')) usage_error("--admin takes USER:BCRYPTHASH (or --admin-no-auth)", NULL);
    c->overrides.admin = 1;
    c->overrides.admin_auth = v;
    break;
  case OPT_ADMIN_NO_AUTH: c->overrides.admin = 1; break;
  case OPT_REDIS:
    if (!*v) usage_error("--redis: empty URL", NULL);
    c->overrides.redis = v;
    break;
  case OPT_REDIS_MODE:
    if (strcmp(v, "classic") && strcmp(v, "sharded") && strcmp(v, "streams"))
      usage_error("--redis-mode: classic, sharded or streams, not", v);
    c->overrides.redis_mode = v;
    break;
  case OPT_COOKIE:
    if (!*v) usage_error("--cookie: empty name", NULL);
    c->overrides.cookie = v;
    break;
  case OPT_TLS_CERT:
    if (!*v) usage_error("--tls-cert: empty file name", NULL);
    c->overrides.tls_cert = v;
    break;
  case OPT_TLS_KEY:
    if (!*v) usage_error("--tls-key: empty file name", NULL);
    c->overrides.tls_key = v;
    break;
  case OPT_PARSER:
    if (strcmp(v, "msgpack") != 0) usage_error("--parser: only msgpack is known (JSON is the default), not", v);
    c->overrides.parser = v;
    break;
  case OPT_METRICS:
    if (v[0] != '/') usage_error("--metrics: the path must start with '/', not", v);
    c->overrides.metrics_path = v;
    break;
  case OPT_PING_INTERVAL: c->overrides.ping_interval_ms = parse_number(o->name, v, 1, INT32_MAX); break;
  case OPT_PING_TIMEOUT: c->overrides.ping_timeout_ms = parse_number(o->name, v, 1, INT32_MAX); break;
  case OPT_MAX_PAYLOAD: c->overrides.max_payload = parse_number(o->name, v, 1, INT32_MAX); break;
  case OPT_LOG_LEVEL:
    for (int i = 0; i < 4; i++)
      if (strcmp(v, levels[i]) == 0) {
        c->log_level = SIOL_LOG_DEBUG + i;
        return;
      }
    usage_error("--log-level: expected debug, info, warn or error, not", v);
    break;
  case OPT_DEBUG: {
    unsigned mask;
    if (sio_debug_parse(v, &mask))
      usage_error("--debug: expected categories among engine, socket, nsp, adapter, redis, http or *, not", v);
    /* The core reads it when each server is created: the script's servers, and a reload's. */
    setenv("SIO_DEBUG", v, 1);
    break;
  }
  case OPT_HELP:
    usage(stdout);
    exit(0);
  case OPT_VERSION:
    printf("siod %s (%s)\n", sio_version(), LUA_RELEASE);
    exit(0);
  }
}

static void parse_args(int argc, char **argv, siod_config_t *c) {
  int options_done = 0;
  c->progname = argc > 0 ? argv[0] : "siod";
  c->args = calloc(argc > 0 ? (size_t)argc : 1, sizeof *c->args);
  if (!c->args) {
    fprintf(stderr, "siod: out of memory\n");
    exit(1);
  }
  for (int i = 1; i < argc; i++) {
    char *a = argv[i];
    if (!options_done) {
      const char *v;
      const siod_option_t *o = find_option(a, &v);
      if (strcmp(a, "--") == 0) {
        options_done = 1;
        continue;
      }
      if (o) {
        if (o->has_value == 2 && !v && i + 1 < argc && all_digits(argv[i + 1])) v = argv[++i];
        if (o->has_value == 1 && !v) {
          if (i + 1 >= argc) usage_error("missing the value of", a);
          v = argv[++i];
        }
        apply_option(c, o, v);
        continue;
      }
      /* Before the script, an unknown option is a typo of ours; after it, the script's. */
      if (!c->script && a[0] == '-' && a[1] != '\0') usage_error("unknown option", a);
    }
    if (!c->script) c->script = a;
    else c->args[c->nargs++] = a;
  }
  if (!c->script) usage_error("no script given", NULL);
  if (!c->overrides.tls_cert != !c->overrides.tls_key) usage_error("--tls-cert and --tls-key go together", NULL);
  if (c->overrides.redis_mode && !c->overrides.redis) usage_error("--redis-mode needs --redis URL", NULL);
}

/* ---- Lua ---- */

/* The global `arg`, as lua.c builds it. */
static int set_arg_table(lua_State *L) {
  const siod_config_t *c = lua_touserdata(L, 1);
  lua_createtable(L, c->nargs, 2);
  lua_pushstring(L, c->progname);
  lua_rawseti(L, -2, -1);
  lua_pushstring(L, c->script);
  lua_rawseti(L, -2, 0);
  for (int i = 0; i < c->nargs; i++) {
    lua_pushstring(L, c->args[i]);
    lua_rawseti(L, -2, i + 1);
  }
  lua_setglobal(L, "arg");
  return 0;
}

/* Protected (a memory error is an error here, not a panic): the standard libraries, `sio` as a
 * preloaded module loaded once (so that siod_host finds it) and `arg`. */
static int open_state(lua_State *L) {
  luaL_openlibs(L);
  luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_PRELOAD_TABLE); /* package.preload */
  lua_pushcfunction(L, luaopen_sio);
  lua_setfield(L, -2, "sio");
  lua_pop(L, 1);
  lua_getglobal(L, "require");
  lua_pushliteral(L, "sio");
  lua_call(L, 1, 0);
  lua_pushcfunction(L, set_arg_table);
  lua_pushvalue(L, 1);
  lua_call(L, 1, 0);
  return 0;
}

/* Runs the chunk at the top of the stack with the script's arguments as `...`; errors are logged
 * with their traceback by siol_pcall. Returns 1 on success. */
static int run_chunk(siod_t *d, lua_State *L, const char *what) {
  if (!lua_checkstack(L, d->cfg.nargs + LUA_MINSTACK)) {
    lua_pop(L, 1);
    siol_log(L, SIOL_LOG_ERROR, "error in %s: too many script arguments (%d)", what, d->cfg.nargs);
    return 0;
  }
  for (int i = 0; i < d->cfg.nargs; i++) lua_pushstring(L, d->cfg.args[i]);
  return siol_pcall(L, d->cfg.nargs, 0, what, NULL);
}

/* ---- signals and shutdown ---- */

static void on_deadline(uv_timer_t *t) {
  siod_t *d = t->data;
  double s = SIOD_DEADLINE_MS / 1000.0;
  if (d->L) siol_log(d->L, SIOL_LOG_ERROR, "shutdown still running after %g s: exiting", s);
  else fprintf(stderr, "siod: shutdown still running after %g s: exiting\n", s);
  exit(1);
}

/* The deadline bounds everything after the first signal; unreferenced, it never keeps the loop
 * alive by itself, so the loop still ends as soon as the binding has closed its handles. */
static void arm_deadline(siod_t *d) {
  if (d->deadline.loop && !uv_is_active((uv_handle_t *)&d->deadline))
    uv_timer_start(&d->deadline, on_deadline, SIOD_DEADLINE_MS, 0);
}

static void on_group_stopped(sio_workers_t *w);

static void begin_shutdown(siod_t *d, int exit_code) {
  d->shutting_down = 1;
  d->exit_code = exit_code;
  arm_deadline(d);
  /* --workers: every worker's stop callback (worker_stop) shuts its own state down */
  if (d->group) sio_workers_stop(d->group, on_group_stopped);
  else siol_shutdown(d->L);
}

static void on_stop_signal(uv_signal_t *h, int signum) {
  siod_t *d = h->data;
  const char *name = signum == SIGTERM ? "SIGTERM" : "SIGINT";
  if (d->shutting_down) {
    if (d->L) siol_log(d->L, SIOL_LOG_WARN, "%s during shutdown: exiting now", name);
    else fprintf(stderr, "siod: %s during shutdown: exiting now\n", name);
    exit(1);
  }
  siol_log(d->L, SIOL_LOG_INFO, "shutting down (%s)", name);
  begin_shutdown(d, 0);
}

/* Loads and runs the script again in L, keeping the running one if the new one fails. */
static void reload_state(siod_t *d, lua_State *L) {
  const char *script = d->cfg.script;
  int top = lua_gettop(L);
  siod_reload_tls(L);
  siol_log(L, SIOL_LOG_INFO, "reloading %s", script);
  if (luaL_loadfile(L, script) != LUA_OK) {
    const char *msg = lua_tostring(L, -1);
    siol_log(L, SIOL_LOG_ERROR, "reload failed: %s, keeping the running script", msg ? msg : "?");
    lua_settop(L, top);
    return;
  }
  /* The new script sees the same `arg` as the first run, whatever the old one did to it. */
  lua_pushcfunction(L, set_arg_table);
  lua_pushlightuserdata(L, &d->cfg);
  if (lua_pcall(L, 1, 0, 0) != LUA_OK) {
    const char *msg = lua_tostring(L, -1);
    siol_log(L, SIOL_LOG_ERROR, "reload failed: %s, keeping the running script", msg ? msg : "?");
    lua_settop(L, top);
    return;
  }
  siod_reload_begin(L);
  if (run_chunk(d, L, script)) {
    siod_reload_commit(L);
    siol_log(L, SIOL_LOG_INFO, "reloaded %s", script);
  } else {
    siod_reload_abort(L);
    siol_log(L, SIOL_LOG_ERROR, "reload of %s failed, keeping the running script", script);
  }
  lua_settop(L, top);
}

static void on_sighup(uv_signal_t *h, int signum) {
  (void)signum;
  siod_t *d = h->data;
  lua_State *L = d->L;
  /* The watcher stays open during shutdown (closing the last SIGHUP watcher would give SIGHUP
   * back its default action, killing the process) but a reload then makes no sense. */
  if (d->shutting_down) {
    if (L) siol_log(L, SIOL_LOG_WARN, "SIGHUP ignored: shutting down");
    return;
  }
  reload_state(d, L);
  /* --workers: each other worker reloads its own state, on its own thread */
  for (unsigned i = 1; d->group && i < d->cfg.workers; i++)
    if (d->workers[i].reload_on) uv_async_send(&d->workers[i].reload);
}

/* ---- workers (--workers N > 1) ---- */

static void on_worker_reload(uv_async_t *a) {
  siod_worker_t *w = a->data;
  if (!w->L) return;
  siod_host_worker_ports(w->L, w->d->ports0, w->d->nports0); /* the same servers are found again */
  reload_state(w->d, w->L);
}

/* Loads the script into L and runs it; logs and returns 0 when it fails. */
static int start_script(siod_t *d, lua_State *L) {
  if (luaL_loadfile(L, d->cfg.script) != LUA_OK) {
    const char *msg = lua_tostring(L, -1);
    siol_log(L, SIOL_LOG_ERROR, "%s", msg ? msg : "cannot load the script");
    lua_pop(L, 1);
    return 0;
  }
  return run_chunk(d, L, d->cfg.script);
}

/* A worker's state: a fresh Lua state on the worker's loop running the script (the same `arg`
 * and overrides as worker 0's), every server it makes joining the group. */
static int worker_setup(sio_workers_t *g, unsigned index, uv_loop_t *loop, void *arg) {
  siod_t *d = arg;
  lua_State *L;
  if (index == 0) {
    L = d->L;
  } else {
    siod_worker_t *w = &d->workers[index];
    w->d = d;
    w->index = index;
    if (!(L = w->L = luaL_newstate())) return SIO_ENOMEM;
    lua_pushcfunction(L, open_state);
    lua_pushlightuserdata(L, &d->cfg);
    if (lua_pcall(L, 1, 0, 0) != LUA_OK) {
      const char *msg = lua_tostring(L, -1);
      siol_log(L, SIOL_LOG_ERROR, "worker %u: cannot start Lua: %s", index, msg ? msg : "?");
      return SIO_EINVAL;
    }
    siod_host(L, loop, &d->cfg.overrides);
    siod_host_worker_ports(L, d->ports0, d->nports0);
    siol_set_log_level(L, d->cfg.log_level);
    if (uv_async_init(loop, &w->reload, on_worker_reload) == 0) {
      w->reload.data = w;
      uv_unref((uv_handle_t *)&w->reload);
      w->reload_on = 1;
    }
  }
  siol_host_workers(L, g, index);
  if (!start_script(d, L)) return SIO_EINVAL;
  if (index == 0) {
    /* port 0: the ports worker 0 got are every worker's (they share them with SO_REUSEPORT) */
    siol_servers(L); /* newest first */
    int n = (int)lua_rawlen(L, -1);
    for (int i = n; i >= 1 && d->nports0 < (int)(sizeof d->ports0 / sizeof *d->ports0); i--) {
      lua_rawgeti(L, -1, i);
      lua_getfield(L, -1, "port");
      d->ports0[d->nports0++] = (int)lua_tointeger(L, -1);
      lua_pop(L, 2);
    }
    lua_pop(L, 1);
  }
  return 0;
}

/* On each worker's thread: its servers and timers close (the script's disconnect handlers run as
 * for a plain shutdown); a worker's own state closes now, on its thread, while its loop still runs
 * the closes to their end. Worker 0's state is closed by finish(). */
static void worker_stop(sio_workers_t *g, unsigned index, uv_loop_t *loop, void *arg) {
  (void)g;
  (void)loop;
  siod_t *d = arg;
  if (index == 0) {
    siol_shutdown(d->L);
    return;
  }
  siod_worker_t *w = &d->workers[index];
  if (w->reload_on) {
    w->reload_on = 0;
    uv_close((uv_handle_t *)&w->reload, NULL);
  }
  if (w->L) {
    siol_shutdown(w->L);
    lua_close(w->L);
    w->L = NULL;
  }
}

static siod_t *the_daemon; /* for on_group_stopped: siod has one group */

static void on_group_stopped(sio_workers_t *g) {
  (void)g;
  if (the_daemon) the_daemon->group = NULL;
}

static int start_workers(siod_t *d) {
  sio_workers_options_t o;
  sio_workers_options_init(&o);
  o.count = d->cfg.workers;
  o.setup = worker_setup;
  o.stop = worker_stop;
  o.arg = d;
  the_daemon = d;
  return sio_workers_start(&d->loop, &o, &d->group);
}

/* Every siod handle is unreferenced: the loop runs exactly as long as the binding has something
 * open, so it ends by itself after siol_shutdown or when the script leaves nothing running.
 * Started before the script runs, so that a signal during a long startup is not fatal. */
static int start_handles(siod_t *d) {
  struct {
    uv_signal_t *h;
    uv_signal_cb cb;
    int signum;
  } sigs[] = {{&d->sigterm, on_stop_signal, SIGTERM},
              {&d->sigint, on_stop_signal, SIGINT},
              {&d->sighup, on_sighup, SIGHUP}};
  int r = uv_timer_init(&d->loop, &d->deadline);
  if (r) return r;
  d->deadline.data = d;
  uv_unref((uv_handle_t *)&d->deadline);
  for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++) {
    if ((r = uv_signal_init(&d->loop, sigs[i].h)) != 0) return r;
    sigs[i].h->data = d;
    uv_unref((uv_handle_t *)sigs[i].h);
    if ((r = uv_signal_start(sigs[i].h, sigs[i].cb, sigs[i].signum)) != 0) return r;
  }
  return 0;
}

/* Closes h unless it was never initialised (start_handles stopped early) or is closing. */
static void close_own(uv_handle_t *h) {
  if (h->loop && !uv_is_closing(h)) uv_close(h, NULL);
}

static void close_leftover(uv_handle_t *h, void *arg) {
  int *n = arg;
  if (!uv_is_closing(h)) {
    uv_close(h, NULL);
    (*n)++;
  }
}

/* The loop has drained: close the Lua state, whose __gc's may still close handles, and the loop. */
static int finish(siod_t *d) {
  if (d->shutting_down && d->exit_code == 0) siol_log(d->L, SIOL_LOG_INFO, "shut down");
  /* From here any signal exits at once, and the deadline also bounds the drain after lua_close. */
  d->shutting_down = 1;
  arm_deadline(d);
  lua_close(d->L);
  d->L = NULL;
  uv_run(&d->loop, UV_RUN_DEFAULT);
  close_own((uv_handle_t *)&d->sigterm);
  close_own((uv_handle_t *)&d->sigint);
  close_own((uv_handle_t *)&d->sighup);
  close_own((uv_handle_t *)&d->deadline);
  uv_run(&d->loop, UV_RUN_DEFAULT);
  if (uv_loop_close(&d->loop) == UV_EBUSY) {
    /* Only a binding bug leaves handles here; the process ends anyway, so say so and let go. */
    int n = 0;
    uv_walk(&d->loop, close_leftover, &n);
    uv_run(&d->loop, UV_RUN_DEFAULT);
    fprintf(stderr, "siod: %d libuv handle(s) left open after the Lua state was closed\n", n);
    uv_loop_close(&d->loop);
  }
  free(d->cfg.args);
  return d->exit_code;
}

int main(int argc, char **argv) {
  siod_t d;
  memset(&d, 0, sizeof d);
  siod_overrides_init(&d.cfg.overrides);
  d.cfg.log_level = SIOL_LOG_INFO;
  parse_args(argc, argv, &d.cfg);

  /* A daemon's stdout is usually a pipe (systemd, docker): let each print() line out as it is
   * written rather than when a 4 KiB buffer fills. */
  setvbuf(stdout, NULL, _IOLBF, 0);
  /* A peer that goes away mid-write must cost an EPIPE, not the process. */
  signal(SIGPIPE, SIG_IGN);
  int r = uv_loop_init(&d.loop);
  if (r) {
    fprintf(stderr, "siod: uv_loop_init: %s\n", uv_strerror(r));
    return 1;
  }
  d.L = luaL_newstate();
  if (!d.L) {
    fprintf(stderr, "siod: cannot create a Lua state: out of memory\n");
    return 1;
  }
  lua_pushcfunction(d.L, open_state);
  lua_pushlightuserdata(d.L, &d.cfg);
  if (lua_pcall(d.L, 1, 0, 0) != LUA_OK) {
    const char *msg = lua_tostring(d.L, -1);
    siol_log(d.L, SIOL_LOG_ERROR, "cannot start Lua: %s", msg ? msg : "?");
    d.exit_code = 1;
    return finish(&d);
  }
  siod_host(d.L, &d.loop, &d.cfg.overrides);
  siol_set_log_level(d.L, d.cfg.log_level);

  if ((r = start_handles(&d)) != 0) {
    siol_log(d.L, SIOL_LOG_ERROR, "cannot watch signals: %s", uv_strerror(r));
    d.exit_code = 1;
  } else if (d.cfg.workers > 1) {
    siol_log(d.L, SIOL_LOG_DEBUG, "siod %s (%s) running %s on %u workers", sio_version(), LUA_RELEASE,
             d.cfg.script, d.cfg.workers);
    /* A startup error in any worker stops the ones built (their states close) and exits 1. */
    if ((r = start_workers(&d)) != 0) {
      if (r != SIO_EINVAL) siol_log(d.L, SIOL_LOG_ERROR, "cannot start the workers: %s", sio_strerror(r));
      d.shutting_down = 1;
      d.exit_code = 1;
      for (unsigned i = 1; i < d.cfg.workers; i++)
        if (d.workers[i].L) { /* a setup that failed before its stop callback could close it */
          lua_close(d.workers[i].L);
          d.workers[i].L = NULL;
        }
    }
    uv_run(&d.loop, UV_RUN_DEFAULT);
  } else if (luaL_loadfile(d.L, d.cfg.script) != LUA_OK) {
    const char *msg = lua_tostring(d.L, -1);
    siol_log(d.L, SIOL_LOG_ERROR, "%s", msg ? msg : "cannot load the script");
    lua_pop(d.L, 1);
    d.exit_code = 1;
  } else {
    siol_log(d.L, SIOL_LOG_DEBUG, "siod %s (%s) running %s", sio_version(), LUA_RELEASE, d.cfg.script);
    /* A startup error closes whatever the script had opened already, then exits 1. */
    if (!run_chunk(&d, d.L, d.cfg.script)) begin_shutdown(&d, 1);
    uv_run(&d.loop, UV_RUN_DEFAULT);
  }
  return finish(&d);
}
