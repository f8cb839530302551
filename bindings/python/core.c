/* sio._core.Core: its life (options, the loop, run, stop, signals, close), static files, the bare
 * Engine.IO endpoint, namespaces and the method table (see core.h for the files that hold the
 * rest of its methods). */
#include <crypt.h>
#include "core.h"

#include <string.h>

#include "util.h"

CoreObject *pysio_core_of_nsp(const sio_nsp_t *nsp) { return sio_io_get_data(sio_nsp_io(nsp)); }

int pysio_check_open(CoreObject *c) {
  if (c->io && !c->stopping) return 0;
  pysio_raise_stopped(pysio_core_state(c));
  return -1;
}

/* ---------------------------------------------------------------------------------------------- */
/* Stopping, signals, the async wake-up                                                            */

static void stop_signals(CoreObject *c) {
  if (!c->signals_on) return;
  c->signals_on = 0;
  uv_close((uv_handle_t *)&c->sigint, NULL);
  uv_close((uv_handle_t *)&c->sigterm, NULL);
}

static void gil_handles_close(CoreObject *c);

/* The server is gone (closed by this Core, or by its worker group): under the GIL, since other
 * threads read `closed` (holding it) before they uv_async_send. */
void pysio_core_closed(CoreObject *c) {
  PyGILState_STATE g = PyGILState_Ensure();
  c->server = NULL;
  c->io = NULL;
  c->closed = 1;
  if (!uv_is_closing((uv_handle_t *)&c->async)) uv_close((uv_handle_t *)&c->async, NULL);
  gil_handles_close(c);
  if (c->on[PYSIO_ON_CLOSED]) {
    PyObject *r = PyObject_CallNoArgs(c->on[PYSIO_ON_CLOSED]);
    if (!r) pysio_log_exception(pysio_core_state(c), "error in the close callback");
    Py_XDECREF(r);
  }
  PyGILState_Release(g);
}

static void on_server_closed(sio_server_t *server) { pysio_core_closed(sio_server_get_data(server)); }

void pysio_core_close_server(CoreObject *c) {
  if (c->server) sio_server_close(c->server, on_server_closed);
  else pysio_core_closed(c);
}

void pysio_core_stop_handles(CoreObject *c) {
  c->stopping = 1;
  stop_signals(c);
  pysio_timers_close(c);
}

static void do_stop(CoreObject *c) {
  if (c->group) {
    pysio_workers_stop(c); /* worker 0's thread: the group closes every worker's server */
    return;
  }
  if (c->stopping) return;
  pysio_core_stop_handles(c);
  if (c->server) sio_server_close(c->server, on_server_closed);
}

/* stop(), wakeup() and acks dropped on other threads land here, on the loop's thread. */
static void async_cb(uv_async_t *h) {
  CoreObject *c = h->data;
  PyGILState_STATE g = PyGILState_Ensure();
  pysio_free_orphans(c);
  if (atomic_exchange(&c->wake_requested, 0) && c->on[PYSIO_ON_DRAIN] && !c->stopping) {
    PyObject *r = PyObject_CallNoArgs(c->on[PYSIO_ON_DRAIN]);
    if (!r) pysio_log_exception(pysio_core_state(c), "error in a scheduled callback");
    Py_XDECREF(r);
  }
  PyGILState_Release(g);
  if (atomic_load(&c->stop_requested)) do_stop(c);
}

static void signal_cb(uv_signal_t *h, int signum) {
  (void)signum;
  do_stop(h->data);
}

static void start_signals(CoreObject *c) {
  if (c->signals_on || c->stopping) return;
  sigaction(SIGINT, NULL, &c->old_int);
  sigaction(SIGTERM, NULL, &c->old_term);
  uv_signal_init(c->loop, &c->sigint);
  uv_signal_init(c->loop, &c->sigterm);
  c->sigint.data = c->sigterm.data = c;
  uv_signal_start(&c->sigint, signal_cb, SIGINT);
  uv_signal_start(&c->sigterm, signal_cb, SIGTERM);
  c->signals_on = 1;
}

atomic_int pysio_busy_loops;

void pysio_gil_drop(CoreObject *c) {
  if (!c->gil_held) return;
  c->gil_held = 0;
  c->loop_ts = PyEval_SaveThread();
}

void pysio_gil_end(CoreObject *c) {
  pysio_gil_drop(c);
  if (!c->gil_busy) return;
  c->gil_busy = 0;
  atomic_fetch_sub_explicit(&pysio_busy_loops, 1, memory_order_relaxed);
}

static void gil_prepare_cb(uv_prepare_t *h) { pysio_gil_end(h->data); }
static void gil_check_cb(uv_check_t *h) { pysio_gil_end(h->data); }

/* The handles that give the GIL back (unreferenced: they keep no loop alive). */
static void gil_handles_init(CoreObject *c) {
  uv_prepare_init(c->loop, &c->gil_prepare);
  uv_check_init(c->loop, &c->gil_check);
  c->gil_prepare.data = c->gil_check.data = c;
  uv_prepare_start(&c->gil_prepare, gil_prepare_cb);
  uv_check_start(&c->gil_check, gil_check_cb);
  uv_unref((uv_handle_t *)&c->gil_prepare);
  uv_unref((uv_handle_t *)&c->gil_check);
}

static void gil_handles_close(CoreObject *c) {
  if (!uv_is_closing((uv_handle_t *)&c->gil_prepare)) uv_close((uv_handle_t *)&c->gil_prepare, NULL);
  if (!uv_is_closing((uv_handle_t *)&c->gil_check)) uv_close((uv_handle_t *)&c->gil_check, NULL);
}

/* Runs the loop in `mode` with the GIL released (an event callback may take it and keep it until
 * the loop waits: pysio_gil_batch); uv_run's result. */
static int run_loop(CoreObject *c, uv_run_mode mode) {
  int alive;
  unsigned long prev_running = c->running;
  PyThreadState *prev_ts = c->loop_ts;
  int prev_held = c->gil_held; /* a loop run from a handler: the outer batch's GIL is released below */
  c->gil_held = 0;
  c->running = PyThread_get_thread_ident();
  Py_BEGIN_ALLOW_THREADS
  c->loop_ts = _save;
  alive = uv_run(c->loop, mode);
  pysio_gil_end(c);
  c->loop_ts = prev_ts;
  Py_END_ALLOW_THREADS
  c->gil_held = prev_held;
  c->running = prev_running;
  return alive;
}

/* Closes everything and runs the loop until it has no handles left. */
static void core_shutdown(CoreObject *c) {
  if (!c->loop_ready || c->borrowed) return; /* a worker's loop is its group's */
  do_stop(c);
  pysio_release_pending_connects(c);
  if (!c->server && !uv_is_closing((uv_handle_t *)&c->async)) uv_close((uv_handle_t *)&c->async, NULL);
  if (!c->server) gil_handles_close(c);
  run_loop(c, UV_RUN_DEFAULT);
  pysio_free_orphans(c);
  if (uv_loop_close(c->loop) == 0) c->loop_ready = 0;
}

/* ---------------------------------------------------------------------------------------------- */
/* Life                                                                                            */

static const char *const dispatch_names[PYSIO_ON_COUNT] = {
    [PYSIO_ON_CONNECT] = "_on_connect",
    [PYSIO_ON_CONNECTED] = "_on_connected",
    [PYSIO_ON_EVENT] = "_on_event",
    [PYSIO_ON_DISCONNECT] = "_on_disconnect",
    [PYSIO_ON_SERVER_EVENT] = "_on_server_event",
    [PYSIO_ON_DRAIN] = "_on_drain",
    [PYSIO_ON_CLOSED] = "_on_closed",
    [PYSIO_ON_DISCONNECTING] = "_on_disconnecting",
    [PYSIO_ON_SOCKET_DATA] = "_socket_data",
    [PYSIO_ON_OUTGOING] = "_node_outgoing",
};

static int core_traverse(CoreObject *c, visitproc visit, void *arg) {
  Py_VISIT(Py_TYPE(c));
  for (int i = 0; i < PYSIO_ON_COUNT; i++) Py_VISIT(c->on[i]);
  Py_VISIT(c->on_engine_message);
  Py_VISIT(c->on_http);
  Py_VISIT(c->on_log);
  Py_VISIT(c->keys);
  Py_VISIT(c->options);
  Py_VISIT(c->fast);
  Py_VISIT(c->dispatch);
  Py_VISIT(c->ack_class);
  Py_VISIT(c->ack_later);
  Py_VISIT(c->isawaitable);
  if (pysio_hooks_traverse(c, visit, arg)) return -1;
  return pysio_timers_traverse(c, visit, arg);
}

static int core_clear(CoreObject *c) {
  for (int i = 0; i < PYSIO_ON_COUNT; i++) Py_CLEAR(c->on[i]);
  Py_CLEAR(c->on_engine_message);
  Py_CLEAR(c->on_http);
  if (c->server) sio_server_set_log(c->server, SIO_LOG_WARN, sio_log_stderr, NULL); /* on_log goes */
  Py_CLEAR(c->on_log);
  Py_CLEAR(c->fast);
  Py_CLEAR(c->dispatch);
  Py_CLEAR(c->ack_class);
  Py_CLEAR(c->ack_later);
  Py_CLEAR(c->isawaitable);
  pysio_hooks_clear(c);
  pysio_timers_clear(c);
  return 0;
}

static void core_dealloc(CoreObject *c) {
  PyTypeObject *type = Py_TYPE(c);
  PyObject_GC_UnTrack(c);
  core_clear(c);
  core_shutdown(c);
  pysio_workers_free(c);
  Py_CLEAR(c->graveyard);
  pysio_hooks_free(c);
  Py_CLEAR(c->keys);
  Py_CLEAR(c->mw_pending);
  Py_CLEAR(c->options);
  pysio_evnames_free(c);
  type->tp_free(c);
  Py_DECREF(type);
}

static PyObject *core_new(PyTypeObject *type, PyObject *args, PyObject *kw) {
  (void)args;
  (void)kw;
  CoreObject *c = (CoreObject *)type->tp_alloc(type, 0);
  if (!c) return NULL;
  c->keys = PyList_New(0);
  c->mw_pending = PyDict_New();
  if (!c->keys || !c->mw_pending) {
    Py_DECREF(c);
    return NULL;
  }
  return (PyObject *)c;
}

/* Option converters for PyArg's "O&": None leaves what is there (the core's default), except for
 * strings, where None is NULL (no value: no cookie Path, no CORS origin...). Strings are borrowed
 * from the str objects, which the Core keeps (c->options). */
static int opt_str(PyObject *o, void *p) {
  if (o == Py_None) {
    *(const char **)p = NULL;
    return 1;
  }
  Py_ssize_t len;
  const char *s = PyUnicode_Check(o) ? PyUnicode_AsUTF8AndSize(o, &len) : NULL;
  if (!s) {
    if (!PyErr_Occurred()) PyErr_Format(PyExc_TypeError, "expected str or None, not %.200s", Py_TYPE(o)->tp_name);
    return 0;
  }
  if (strlen(s) != (size_t)len) {
    PyErr_SetString(PyExc_ValueError, "embedded null character");
    return 0;
  }
  *(const char **)p = s;
  return 1;
}



static int opt_bool(PyObject *o, void *p) {
  if (o == Py_None) return 1;
  int v = PyObject_IsTrue(o);
  if (v < 0) return 0;
  *(int *)p = v;
  return 1;
}

/* An option on by default whose C field says 0 for on and -1 for off (http_compression). */
static int opt_default_on(PyObject *o, void *p) {
  if (o == Py_None) return 1;
  int v = PyObject_IsTrue(o);
  if (v < 0) return 0;
  *(int *)p = v ? 0 : -1;
  return 1;
}

/* redis_mode: "classic" (@socket.io/redis-adapter), "sharded" (its createShardedAdapter) or
 * "streams" (@socket.io/redis-streams-adapter). */
enum { REDIS_CLASSIC, REDIS_SHARDED, REDIS_STREAMS };

static int opt_redis_mode(PyObject *o, void *p) {
  if (o == Py_None) return 1;
  const char *s = PyUnicode_Check(o) ? PyUnicode_AsUTF8(o) : NULL;
  if (s && strcmp(s, "classic") == 0) *(int *)p = REDIS_CLASSIC;
  else if (s && strcmp(s, "sharded") == 0) *(int *)p = REDIS_SHARDED;
  else if (s && strcmp(s, "streams") == 0) *(int *)p = REDIS_STREAMS;
  else {
    PyErr_Clear();
    PyErr_Format(PyExc_ValueError, "redis_mode=%R: \"classic\", \"sharded\" or \"streams\"", o);
    return 0;
  }
  return 1;
}

/* redis_subscription_mode: Node's subscriptionMode names. */
static int opt_subscription_mode(PyObject *o, void *p) {
  if (o == Py_None) return 1;
  const char *s = PyUnicode_Check(o) ? PyUnicode_AsUTF8(o) : NULL;
  if (s && strcmp(s, "dynamic") == 0) *(int *)p = SIO_REDIS_SUB_DYNAMIC;
  else if (s && strcmp(s, "static") == 0) *(int *)p = SIO_REDIS_SUB_STATIC;
  else if (s && strcmp(s, "dynamic-private") == 0) *(int *)p = SIO_REDIS_SUB_DYNAMIC_PRIVATE;
  else {
    PyErr_Clear();
    PyErr_Format(PyExc_ValueError,
                 "redis_subscription_mode=%R: \"dynamic\", \"static\" or \"dynamic-private\"", o);
    return 0;
  }
  return 1;
}

/* Whether keyword `name` was given, not None. */
static int has_option(PyObject *kw, const char *name) {
  PyObject *v = kw ? PyDict_GetItemString(kw, name) : NULL;
  return v && v != Py_None;
}

/* The io's Redis engine, from the redis_* options (only `redis` given: the classic adapter). An
 * option of another engine than the one chosen is refused rather than ignored. */
typedef struct {
  int mode;
  int given_streams; /* a streams-only option was given */
  int given_sharded; /* a sharded-only option was given */
  sio_redis_options_t ro;
  sio_redis_streams_options_t so;
} redis_opts_t;

static int use_redis(CoreObject *c, redis_opts_t *x) {
  if (x->given_streams && x->mode != REDIS_STREAMS) {
    PyErr_SetString(PyExc_ValueError, "redis_stream_*, redis_max_len, redis_read_count, redis_block_ms, "
                                      "redis_session_key_prefix and redis_sharded_pubsub need redis_mode=\"streams\"");
    return -1;
  }
  if (x->given_sharded && x->mode != REDIS_SHARDED) {
    PyErr_SetString(PyExc_ValueError, "redis_subscription_mode needs redis_mode=\"sharded\"");
    return -1;
  }
  if (!x->ro.url) {
    if (x->mode == REDIS_CLASSIC && !x->given_streams && !x->given_sharded) return 0;
    PyErr_SetString(PyExc_ValueError, "redis_mode and the redis_* options need redis=URL");
    return -1;
  }
  int r;
  if (x->mode == REDIS_STREAMS) {
    x->so.url = x->ro.url;
    x->so.channel_prefix = x->ro.key;
    x->so.requests_timeout_ms = x->ro.requests_timeout_ms;
    r = sio_io_use_redis_streams(c->io, &x->so);
  } else {
    x->ro.sharded = x->mode == REDIS_SHARDED;
    r = sio_io_use_redis(c->io, &x->ro);
  }
  if (!r) return 0;
  static const char *const names[] = {"", " (redis_mode \"sharded\")", " (redis_mode \"streams\")"};
  PyObject *context = PyUnicode_FromFormat("redis %R%s", PyDict_GetItemString(c->options, "redis"), names[x->mode]);
  pysio_raise(pysio_core_state(c), r, context ? PyUnicode_AsUTF8(context) : "redis");
  Py_XDECREF(context);
  return -1;
}

/* SIO_TRANSPORT_* bits, 1 to 3. */
static int opt_transports(PyObject *o, void *p) {
  if (o == Py_None) return 1;
  long v = PyLong_AsLong(o);
  if (PyErr_Occurred() || v < 1 || v > (SIO_TRANSPORT_POLLING | SIO_TRANSPORT_WEBSOCKET)) {
    PyErr_Clear();
    PyErr_Format(PyExc_ValueError, "%R: expected SIO_TRANSPORT_* bits (1 to 3)", o);
    return 0;
  }
  *(int *)p = (int)v;
  return 1;
}


/* Core(dispatch, *, path, ping_interval_ms, ping_timeout_ms, max_payload, allow_eio3, cors,
 * same_origin, connect_timeout_ms, max_buffered, client_dir, redis, redis_key,
 * redis_requests_timeout_ms, cookie_name, cookie_path, cookie_domain, cookie_same_site,
 * cookie_http_only, cookie_secure, cookie_max_age, transports, allow_upgrades, cors_credentials,
 * per_message_deflate, deflate_threshold, http_compression, http_compression_threshold, parser,
 * recovery, recovery_ms, recovery_max_bytes, redis_mode, redis_subscription_mode, redis_stream_name,
 * redis_stream_count, redis_max_len, redis_read_count, redis_block_ms, redis_session_key_prefix,
 * redis_sharded_pubsub): the
 * io's options over the core's defaults
 * (sio_io_options_init, sio_redis_options_init); an option not given, or None for a number or a
 * bool, keeps its default. */
static int core_init(CoreObject *c, PyObject *args, PyObject *kw) {
  static char *kwlist[] = {"dispatch", "path", "ping_interval_ms", "ping_timeout_ms", "max_payload", "allow_eio3",
                           "cors", "same_origin", "connect_timeout_ms", "max_buffered", "client_dir", "redis",
                           "redis_key", "redis_requests_timeout_ms", "cookie_name", "cookie_path", "cookie_domain",
                           "cookie_same_site", "cookie_http_only", "cookie_secure", "cookie_max_age", "transports",
                           "allow_upgrades", "cors_credentials", "per_message_deflate", "deflate_threshold",
                           "http_compression", "http_compression_threshold", "parser", "recovery",
                           "recovery_ms", "recovery_max_bytes", "redis_mode", "redis_subscription_mode",
                           "redis_stream_name", "redis_stream_count", "redis_max_len", "redis_read_count",
                           "redis_block_ms", "redis_session_key_prefix", "redis_sharded_pubsub", NULL};
  if (c->loop_ready) {
    PyErr_SetString(PyExc_RuntimeError, "already initialised");
    return -1;
  }
  sio_io_options_t o;
  sio_io_options_init(&o);
  redis_opts_t x = {REDIS_CLASSIC, 0, 0, {0}, {0}};
  sio_redis_options_t *ro = &x.ro;
  sio_redis_streams_options_t *so = &x.so;
  sio_redis_options_init(ro);
  sio_redis_streams_options_init(so);
  sio_engine_options_t *e = &o.engine;
  sio_cookie_options_t *ck = &e->cookie;
  PyObject *dispatch;
  if (!PyArg_ParseTupleAndKeywords(
          args, kw, "O|$O&O&O&O&O&O&O&O&O&O&O&O&O&O&O&O&O&O&O&O&O&O&O&O&O&O&O&O&O&O&O&O&O&O&O&O&O&O&O&O&", kwlist, &dispatch, opt_str, &e->path, pysio_opt_u32,
          &e->ping_interval_ms, pysio_opt_u32, &e->ping_timeout_ms, pysio_opt_size, &e->max_payload, opt_bool, &e->allow_eio3,
          opt_str, &e->cors_origin, opt_bool, &e->same_origin, pysio_opt_u32, &o.connect_timeout_ms, pysio_opt_size,
          &e->max_buffered, opt_str, &o.client_dir, opt_str, &ro->url, opt_str, &ro->key, pysio_opt_u32,
          &ro->requests_timeout_ms, opt_str, &ck->name, opt_str, &ck->path, opt_str, &ck->domain, opt_str,
          &ck->same_site, opt_bool, &ck->http_only, opt_bool, &ck->secure, pysio_opt_u32, &ck->max_age_s,
          opt_transports, &e->transports, opt_bool, &e->allow_upgrades, opt_bool, &e->cors_credentials,
          opt_bool, &e->per_message_deflate, pysio_opt_u32, &e->deflate_threshold, opt_default_on,
          &e->http_compression, pysio_opt_u32, &e->http_compression_threshold, pysio_opt_parser, &o.parser,
          opt_bool, &o.connection_state_recovery.enabled, pysio_opt_u32,
          &o.connection_state_recovery.max_disconnection_duration_ms, pysio_opt_size,
          &o.connection_state_recovery.max_bytes, opt_redis_mode, &x.mode, opt_subscription_mode,
          &ro->subscription_mode, opt_str, &so->stream_name, pysio_opt_u32, &so->stream_count, pysio_opt_u32,
          &so->max_len, pysio_opt_u32, &so->read_count, pysio_opt_u32, &so->block_ms, opt_str,
          &so->session_key_prefix, opt_bool, &so->sharded))
    return -1;
  x.given_sharded = has_option(kw, "redis_subscription_mode");
  static const char *const streams_only[] = {"redis_stream_name", "redis_stream_count", "redis_max_len",
                                             "redis_read_count", "redis_block_ms", "redis_session_key_prefix",
                                             "redis_sharded_pubsub"};
  for (size_t i = 0; i < sizeof streams_only / sizeof *streams_only; i++)
    x.given_streams |= has_option(kw, streams_only[i]);
  if (so->stream_count < 1 || so->read_count < 1) {
    PyErr_SetString(PyExc_ValueError, "redis_stream_count and redis_read_count must be at least 1");
    return -1;
  }
  /* The connect handler runs for a restored socket too (python-socketio's connect handler is
   * Node's "connection" listener as well as its middleware); sio.Server skips the use()
   * middlewares itself when skip_middlewares is on. */
  o.connection_state_recovery.skip_middlewares = 0;
  if (!(c->options = kw ? PyDict_Copy(kw) : PyDict_New())) return -1;
  for (int i = 0; i < PYSIO_ON_COUNT; i++) {
    PyObject *m = PyObject_GetAttrString(dispatch, dispatch_names[i]);
    if (!m) {
      if (!PyErr_ExceptionMatches(PyExc_AttributeError)) return -1;
      PyErr_Clear();
    }
    Py_XSETREF(c->on[i], m);
  }
  if (pysio_fast_init(c, dispatch) < 0) return -1;
  pysio_state *st = pysio_core_state(c);
  int r = 0;
  c->loop = &c->own_loop;
  if (!pysio_workers_adopt(c)) r = uv_loop_init(c->loop); /* else a worker's loop */
  if (r) {
    pysio_raise(st, r, "uv_loop_init");
    return -1;
  }
  c->loop_ready = 1;
  uv_async_init(c->loop, &c->async, async_cb);
  c->async.data = c;
  gil_handles_init(c);
  c->eio = o.engine;
  c->eio.path = NULL;
  r = sio_server_new(c->loop, NULL, &c->server);
  if (!r) {
    sio_server_set_data(c->server, c);
    /* a worker's server joins its group before anything listens */
    if (c->group) r = sio_server_set_workers(c->server, pysio_workers_of(c), c->worker);
  }
  if (!r) r = sio_io_new(c->server, &o, &c->io);
  if (r) {
    pysio_raise(st, r, "sio.Server");
    return -1;
  }
  sio_io_set_data(c->io, c);
  if (c->on[PYSIO_ON_SOCKET_DATA]) sio_io_on_socket_data(c->io, pysio_socket_data, c);
  return use_redis(c, &x);
}

static PyObject *core_closed(CoreObject *c, void *unused) {
  (void)unused;
  return PyBool_FromLong(c->closed);
}

/* ---------------------------------------------------------------------------------------------- */
/* The loop                                                                                        */

static PyObject *core_listen(CoreObject *c, PyObject *args) {
  const char *host;
  int port;
  if (!PyArg_ParseTuple(args, "si", &host, &port)) return NULL;
  if (pysio_check_open(c)) return NULL;
  int r = sio_server_listen(c->server, host, port);
  if (r) {
    char context[300];
    PyOS_snprintf(context, sizeof context, "listen on %.256s port %d", host, port);
    return pysio_raise(pysio_core_state(c), r, context);
  }
  return PyLong_FromLong(sio_server_port(c->server));
}

/* listen_tls(host, port, certfile, keyfile, ca_certs=None) -> bound port */
static PyObject *core_listen_tls(CoreObject *c, PyObject *args) {
  const char *host, *cert, *key, *ca = NULL;
  int port;
  if (!PyArg_ParseTuple(args, "siss|z", &host, &port, &cert, &key, &ca)) return NULL;
  if (pysio_check_open(c)) return NULL;
  sio_tls_options_t o;
  sio_tls_options_init(&o);
  o.cert_file = cert;
  o.key_file = key;
  o.ca_file = ca;
  int r = sio_server_listen_tls(c->server, host, port, &o);
  if (r) {
    char context[300];
    PyOS_snprintf(context, sizeof context, "listen (TLS) on %.256s port %d", host, port);
    return pysio_raise(pysio_core_state(c), r, context);
  }
  return PyLong_FromLong(sio_server_port(c->server));
}

/* tls_reload() re-reads every TLS listener's files; on the loop thread. */
static PyObject *core_tls_reload(CoreObject *c, PyObject *unused) {
  (void)unused;
  if (pysio_check_open(c)) return NULL;
  int r = sio_server_tls_reload(c->server, NULL);
  if (r) return pysio_raise(pysio_core_state(c), r, "TLS reload");
  Py_RETURN_NONE;
}

static PyObject *core_port(CoreObject *c, PyObject *unused) {
  (void)unused;
  int p = c->server ? sio_server_port(c->server) : -1;
  if (p < 0) Py_RETURN_NONE;
  return PyLong_FromLong(p);
}

static PyObject *core_run(CoreObject *c, PyObject *args, PyObject *kw) {
  static char *kwlist[] = {"handle_signals", NULL};
  int sig = 1;
  if (!PyArg_ParseTupleAndKeywords(args, kw, "|p", kwlist, &sig)) return NULL;
  if (!c->loop_ready) return pysio_raise_stopped(pysio_core_state(c));
  if (sig) start_signals(c);
  run_loop(c, UV_RUN_DEFAULT);
  if (sig) {
    /* libuv leaves SIG_DFL behind; give Python its handlers back. */
    sigaction(SIGINT, &c->old_int, NULL);
    sigaction(SIGTERM, &c->old_term, NULL);
  }
  if (PyErr_CheckSignals() < 0) return NULL;
  Py_RETURN_NONE;
}

static PyObject *core_run_nowait(CoreObject *c, PyObject *unused) {
  (void)unused;
  if (!c->loop_ready) Py_RETURN_FALSE;
  c->nowait_used = 1;
  return PyBool_FromLong(run_loop(c, UV_RUN_NOWAIT));
}

static PyObject *core_backend_fd(CoreObject *c, PyObject *unused) {
  (void)unused;
  return PyLong_FromLong(c->loop_ready ? uv_backend_fd(c->loop) : -1);
}

static PyObject *core_backend_timeout(CoreObject *c, PyObject *unused) {
  (void)unused;
  return PyLong_FromLong(c->loop_ready ? uv_backend_timeout(c->loop) : -1);
}

static PyObject *core_stop(CoreObject *c, PyObject *unused) {
  (void)unused;
  if (pysio_workers_request_stop(c)) Py_RETURN_NONE;
  if (c->loop_ready && !c->closed) {
    atomic_store(&c->stop_requested, 1);
    uv_async_send(&c->async);
  }
  Py_RETURN_NONE;
}

static PyObject *core_wakeup(CoreObject *c, PyObject *unused) {
  (void)unused;
  if (c->loop_ready && !c->closed) {
    atomic_store(&c->wake_requested, 1);
    uv_async_send(&c->async);
  }
  Py_RETURN_NONE;
}

static PyObject *core_close(CoreObject *c, PyObject *unused) {
  (void)unused;
  core_shutdown(c);
  Py_RETURN_NONE;
}

/* ---------------------------------------------------------------------------------------------- */
/* Static files, the bare Engine.IO endpoint                                                       */

/* static(prefix, path, content_type=None, index=None): serves the files under directory `path`
 * at URL prefix ("/", "/x/" or "/x"), or the file `path` at exactly that URL path. */
static PyObject *core_static(CoreObject *c, PyObject *args, PyObject *kw) {
  static char *kwlist[] = {"prefix", "path", "content_type", "index", NULL};
  const char *prefix, *dir;
  sio_static_options_t o;
  sio_static_options_init(&o);
  const char *index = NULL;
  if (!PyArg_ParseTupleAndKeywords(args, kw, "ss|zz", kwlist, &prefix, &dir, &o.content_type, &index))
    return NULL;
  if (index) o.index = index;
  if (pysio_check_open(c)) return NULL;
  int r = sio_server_static(c->server, prefix, dir, &o);
  if (r) {
    PyObject *context = PyUnicode_FromFormat("static('%s', '%s')", prefix, dir);
    pysio_raise(pysio_core_state(c), r, context ? PyUnicode_AsUTF8(context) : "static");
    Py_XDECREF(context);
    return NULL;
  }
  Py_RETURN_NONE;
}

/* engine(path, on_message): a bare Engine.IO endpoint with the io's options; on_message(sid, data)
 * gets str for text and bytes for binary messages. One per server. */
static PyObject *core_engine(CoreObject *c, PyObject *args) {
  const char *path;
  PyObject *cb;
  if (!PyArg_ParseTuple(args, "sO", &path, &cb)) return NULL;
  if (pysio_check_open(c)) return NULL;
  if (c->engine) {
    PyErr_SetString(PyExc_RuntimeError, "this server already has an Engine.IO endpoint");
    return NULL;
  }
  sio_engine_options_t o = c->eio;
  o.path = path;
  sio_engine_callbacks_t cbs = {.on_message = pysio_engine_message};
  int r = sio_engine_new(c->server, &o, &cbs, &c->engine);
  if (r) return pysio_raise(pysio_core_state(c), r, path);
  sio_engine_set_data(c->engine, c);
  Py_INCREF(cb);
  Py_XSETREF(c->on_engine_message, cb);
  Py_RETURN_NONE;
}

/* engine_send(sid, data): str -> a text message (surrogatepass), bytes-like -> binary. False when
 * the session is gone. */
static PyObject *core_engine_send(CoreObject *c, PyObject *args) {
  const char *sid;
  PyObject *data;
  if (!PyArg_ParseTuple(args, "sO", &sid, &data)) return NULL;
  if (pysio_check_open(c)) return NULL;
  if (!c->engine) {
    PyErr_SetString(PyExc_RuntimeError, "no Engine.IO endpoint");
    return NULL;
  }
  sio_session_t *s = sio_engine_find(c->engine, sid);
  if (!s) Py_RETURN_FALSE;
  int r;
  if (PyUnicode_Check(data)) {
    PyObject *b = PyUnicode_AsEncodedString(data, "utf-8", "surrogatepass");
    if (!b) return NULL;
    r = sio_session_send(s, PyBytes_AS_STRING(b), (size_t)PyBytes_GET_SIZE(b), 0);
    Py_DECREF(b);
  } else {
    Py_buffer view;
    if (PyObject_GetBuffer(data, &view, PyBUF_CONTIG_RO) < 0) return NULL;
    r = sio_session_send(s, view.buf, (size_t)view.len, 1);
    PyBuffer_Release(&view);
  }
  return PyBool_FromLong(r == 0);
}

/* ---------------------------------------------------------------------------------------------- */
/* Namespaces                                                                                      */

/* Gives the namespace its key (kept alive in c->keys), the callbacks and the connect middleware;
 * its name. */
static PyObject *adopt_nsp(CoreObject *c, sio_nsp_t *nsp, PyObject *key, const char *context) {
  if (!sio_nsp_get_data(nsp)) {
    if (PyList_Append(c->keys, key) < 0) return NULL;
    sio_nsp_set_data(nsp, key);
    sio_nsp_set_callbacks(nsp, &pysio_nsp_callbacks);
    int r = sio_nsp_use(nsp, pysio_on_middleware, NULL);
    if (r) return pysio_raise(pysio_core_state(c), r, context);
  }
  return PyUnicode_FromString(sio_nsp_name(nsp));
}

/* namespace(name, key) -> name */
static PyObject *core_namespace(CoreObject *c, PyObject *args) {
  const char *name;
  PyObject *key;
  if (!PyArg_ParseTuple(args, "sO", &name, &key)) return NULL;
  if (pysio_check_open(c)) return NULL;
  sio_nsp_t *nsp;
  int r = sio_io_of(c->io, name, &nsp);
  return r ? pysio_raise(pysio_core_state(c), r, name) : adopt_nsp(c, nsp, key, name);
}

/* dynamic(posix_regex, key) -> the parent's name */
static PyObject *core_dynamic(CoreObject *c, PyObject *args) {
  const char *regex;
  PyObject *key;
  if (!PyArg_ParseTuple(args, "sO", &regex, &key)) return NULL;
  if (pysio_check_open(c)) return NULL;
  sio_nsp_t *nsp;
  int r = sio_io_dynamic(c->io, regex, NULL, &nsp);
  return r ? pysio_raise(pysio_core_state(c), r, regex) : adopt_nsp(c, nsp, key, regex);
}

/* bcrypt(password) -> a $2b$ hash of it (cost 10, libxcrypt): python-socketio's instrument()
 * takes the password in clear, which sio keeps only hashed. */
static PyObject *core_bcrypt(CoreObject *c, PyObject *args) {
  (void)c;
  const char *pw;
  if (!PyArg_ParseTuple(args, "s", &pw)) return NULL;
  char *salt = crypt_gensalt_ra("$2b$", 10, NULL, 0);
  struct crypt_data *cd = salt ? calloc(1, sizeof *cd) : NULL;
  const char *h = cd ? crypt_r(pw, salt, cd) : NULL;
  PyObject *res = h && h[0] == '$' ? PyUnicode_FromString(h) : PyErr_NoMemory();
  free(cd);
  free(salt);
  return res;
}

/* instrument(namespace, username, password_hash, read_only, server_id, production, interval_ms):
 * the Admin UI's server side (sio_io_instrument); username, hash and server_id may be None. */
static PyObject *core_instrument(CoreObject *c, PyObject *args) {
  sio_instrument_options_t o;
  sio_instrument_options_init(&o);
  int production;
  unsigned int interval;
  if (!PyArg_ParseTuple(args, "szzpzpI", &o.namespace_name, &o.username, &o.password_hash,
                        &o.readonly, &o.server_id, &production, &interval))
    return NULL;
  if (pysio_check_open(c)) return NULL;
  o.mode = production ? SIO_INSTRUMENT_PRODUCTION : SIO_INSTRUMENT_DEVELOPMENT;
  o.server_stats_interval_ms = interval;
  int r = sio_io_instrument(c->io, &o);
  if (r) return pysio_raise(pysio_core_state(c), r, "instrument");
  Py_RETURN_NONE;
}

/* ---------------------------------------------------------------------------------------------- */
/* Metrics                                                                                         */

static int put_item(PyObject *d, PyObject *key, PyObject *v) {
  int r = key && v ? PyDict_SetItem(d, key, v) : -1;
  Py_XDECREF(key);
  Py_XDECREF(v);
  return r;
}

static int put_u64(PyObject *d, const char *key, uint64_t v) {
  return put_item(d, PyUnicode_FromString(key), PyLong_FromUnsignedLongLong(v));
}

/* {"polling": v[0], "websocket": v[1]} under `key`. */
static int put_transports(PyObject *d, const char *key, const uint64_t v[2]) {
  PyObject *t = Py_BuildValue("{sKsK}", "polling", (unsigned long long)v[0], "websocket",
                              (unsigned long long)v[1]);
  return put_item(d, PyUnicode_FromString(key), t);
}

/* stats() -> dict: sio_io_stats() and the sockets of every namespace (the shape documented in
 * python/sio/server.py's Server.stats). */
static PyObject *core_stats(CoreObject *c, PyObject *unused) {
  (void)unused;
  if (pysio_check_open(c)) return NULL;
  sio_stats_t st = {.size = sizeof st};
  int r = sio_io_stats(c->io, &st);
  if (r) return pysio_raise(pysio_core_state(c), r, "stats");
  PyObject *d = PyDict_New();
  if (!d) return NULL;
  int bad = 0;
  PyObject *sess = Py_BuildValue(
      "{s{iKiK}s{iKiK}}", "polling", 3, (unsigned long long)st.sessions[0][0], 4,
      (unsigned long long)st.sessions[0][1], "websocket", 3, (unsigned long long)st.sessions[1][0],
      4, (unsigned long long)st.sessions[1][1]);
  bad |= put_item(d, PyUnicode_FromString("sessions"), sess);
  PyObject *socks = PyDict_New();
  const char *name;
  size_t n;
  for (size_t i = 0; socks && sio_io_nsp_stats(c->io, i, &name, &n) == 0; i++)
    bad |= put_item(socks, PyUnicode_DecodeUTF8(name, (Py_ssize_t)strlen(name), "surrogateescape"),
                    PyLong_FromSize_t(n));
  bad |= put_item(d, PyUnicode_FromString("sockets"), socks);
  bad |= put_u64(d, "handshakes", st.handshakes);
  PyObject *refused = PyDict_New();
  for (int i = 0; refused && i < 6; i++)
    bad |= put_item(refused, PyLong_FromLong(i), PyLong_FromUnsignedLongLong(st.refused[i]));
  bad |= put_item(d, PyUnicode_FromString("handshakes_refused"), refused);
  bad |= put_u64(d, "upgrades", st.upgrades);
  bad |= put_transports(d, "packets_in", st.packets_in);
  bad |= put_transports(d, "packets_out", st.packets_out);
  bad |= put_transports(d, "bytes_in", st.bytes_in);
  bad |= put_transports(d, "bytes_out", st.bytes_out);
  bad |= put_u64(d, "max_buffered_closes", st.max_buffered_closes);
  bad |= put_u64(d, "tls_handshakes", st.tls_handshakes);
  bad |= put_u64(d, "tls_failures", st.tls_failures);
  bad |= put_u64(d, "deflate_negotiated", st.deflate_negotiated);
  bad |= put_u64(d, "connections", st.connections);
  bad |= put_u64(d, "broadcasts", st.broadcasts);
  bad |= put_u64(d, "acks_sent", st.acks_sent);
  bad |= put_u64(d, "acks_answered", st.acks_answered);
  bad |= put_u64(d, "acks_timed_out", st.acks_timed_out);
  bad |= put_u64(d, "acks_replied", st.acks_replied);
  PyObject *redis;
  if (st.redis_up < 0) {
    Py_INCREF(Py_None);
    redis = Py_None;
  } else {
    redis = Py_BuildValue("{sOsKsK}", "up", st.redis_up ? Py_True : Py_False, "published",
                          (unsigned long long)st.redis_published, "received",
                          (unsigned long long)st.redis_received);
  }
  bad |= put_item(d, PyUnicode_FromString("redis"), redis);
  if (bad) {
    Py_DECREF(d);
    return NULL;
  }
  return d;
}

/* serve_metrics(path): the Prometheus text at path (sio_io_serve_metrics). */
static PyObject *core_serve_metrics(CoreObject *c, PyObject *args) {
  const char *path;
  if (!PyArg_ParseTuple(args, "s", &path)) return NULL;
  if (pysio_check_open(c)) return NULL;
  int r = sio_io_serve_metrics(c->io, path);
  if (r) return pysio_raise(pysio_core_state(c), r, path);
  Py_RETURN_NONE;
}

/* metrics_text() -> str: what a scrape gets. */
static PyObject *core_metrics_text(CoreObject *c, PyObject *unused) {
  (void)unused;
  if (pysio_check_open(c)) return NULL;
  char *text;
  size_t len;
  int r = sio_io_metrics_text(c->io, &text, &len);
  if (r) return pysio_raise(pysio_core_state(c), r, "metrics_text");
  PyObject *o = PyUnicode_DecodeUTF8(text, (Py_ssize_t)len, "surrogateescape");
  free(text);
  return o;
}

/* ---------------------------------------------------------------------------------------------- */
/* The type                                                                                        */

#define METHOD(name, fn, flags, doc) {name, (PyCFunction)(void (*)(void))(fn), flags, doc}

static PyMethodDef core_methods[] = {
    METHOD("static", core_static, METH_VARARGS | METH_KEYWORDS,
           "static(prefix, path, content_type=None, index=None): serves a directory or one file"),
    METHOD("handler", pysio_core_handler, METH_VARARGS | METH_KEYWORDS,
           "handler(prefix, callback(HttpRequest), max_body=None): plain HTTP requests (http.c)"),
    METHOD("listen", core_listen, METH_VARARGS, "listen(host, port) -> bound port"),
    METHOD("listen_tls", core_listen_tls, METH_VARARGS,
           "listen_tls(host, port, certfile, keyfile, ca_certs=None) -> bound port"),
    METHOD("tls_reload", core_tls_reload, METH_NOARGS, "tls_reload(): re-reads the TLS files"),
    METHOD("set_hook", pysio_core_set_hook, METH_VARARGS,
           "set_hook(name, fn | None): an Engine.IO handshake hook: allow_request, cors_origin, "
           "initial_headers, headers, connection_error (hooks.c)"),
    METHOD("set_log", pysio_core_set_log, METH_VARARGS,
           "set_log(level, fn(level, component, message) -> handled | None): the core's records of "
           "level <= `level` (0 error .. 3 debug; < 0: none); fn None: stderr (events.c)"),
    METHOD("set_debug", pysio_core_set_debug, METH_VARARGS | METH_KEYWORDS,
           "set_debug(categories, add=False) -> mask: debug categories on (SIO_DEBUG's list as a "
           "str, \"*\" for all, or a mask; None: none), added to the ones on with add=True; "
           "the records come to set_log's fn at level 4 (events.c)"),
    METHOD("port", core_port, METH_NOARGS, "the bound port, or None"),
    METHOD("run", core_run, METH_VARARGS | METH_KEYWORDS,
           "run(handle_signals=True): runs the loop (GIL released) until stopped"),
    METHOD("run_nowait", core_run_nowait, METH_NOARGS, "one non-blocking loop iteration"),
    METHOD("backend_fd", core_backend_fd, METH_NOARGS, "the loop's poll fd"),
    METHOD("backend_timeout", core_backend_timeout, METH_NOARGS, "ms until the next timer, -1: none"),
    METHOD("stop", core_stop, METH_NOARGS, "stops the server (thread-safe)"),
    METHOD("wakeup", core_wakeup, METH_NOARGS, "calls dispatch._on_drain on the loop (thread-safe)"),
    METHOD("close", core_close, METH_NOARGS, "stops and runs the loop until everything is closed"),
    METHOD("connect_done", pysio_core_connect_done, METH_VARARGS,
           "connect_done(token, None | (message, data)): ends a connect handler that was awaited"),
    METHOD("call_later", pysio_core_call_later, METH_VARARGS, "call_later(seconds, fn) -> Timer"),
    METHOD("call_every", pysio_core_call_every, METH_VARARGS,
           "call_every(seconds, fn) -> Timer: fn() every `seconds` until cancelled"),
    METHOD("engine", core_engine, METH_VARARGS, "engine(path, on_message(sid, data))"),
    METHOD("engine_send", core_engine_send, METH_VARARGS, "engine_send(sid, str|bytes) -> sent"),
    METHOD("namespace", core_namespace, METH_VARARGS, "namespace(name, key) -> name"),
    METHOD("dynamic", core_dynamic, METH_VARARGS, "dynamic(posix_regex, key) -> parent name"),
    METHOD("bcrypt", core_bcrypt, METH_VARARGS, "bcrypt(password) -> $2b$ hash"),
    METHOD("instrument", core_instrument, METH_VARARGS,
           "instrument(namespace, username, password_hash, read_only, server_id, production, interval_ms)"),
    METHOD("emit", pysio_core_emit, METH_VARARGS, "emit(nsp, event, args, to, skip, flags=0)"),
    METHOD("emit_ack", pysio_core_emit_ack, METH_VARARGS,
           "emit_ack(nsp, sid, event, args, timeout_ms, cb(error, args), flags=0)"),
    METHOD("enter_room", pysio_core_enter_room, METH_VARARGS, "enter_room(nsp, sid, room)"),
    METHOD("leave_room", pysio_core_leave_room, METH_VARARGS, "leave_room(nsp, sid, room)"),
    METHOD("rooms", pysio_core_rooms, METH_VARARGS, "rooms(nsp, sid) -> list"),
    METHOD("close_room", pysio_core_close_room, METH_VARARGS, "close_room(nsp, room)"),
    METHOD("select", pysio_core_select, METH_VARARGS,
           "select(nsp, op 0 join / 1 leave / 2 disconnect, to, skip, room, close=False)"),
    METHOD("emit_acks", pysio_core_emit_acks, METH_VARARGS,
           "emit_acks(nsp, event, args, to, skip, timeout_ms, cb(error, responses), flags=0)"),
    METHOD("disconnect", pysio_core_disconnect, METH_VARARGS, "disconnect(nsp, sid, close=False) -> found"),
    METHOD("watch_outgoing", pysio_core_watch_outgoing, METH_VARARGS,
           "watch_outgoing(nsp, sid, on) -> found: dispatch._node_outgoing for the socket's outgoing events"),
    METHOD("connected", pysio_core_connected, METH_VARARGS, "connected(nsp, sid) -> bool"),
    METHOD("recovered", pysio_core_recovered, METH_VARARGS, "recovered(nsp, sid) -> (True, data) | None"),
    METHOD("recovering", pysio_core_recovering, METH_NOARGS, "recovering() -> (True, data) | None"),
    METHOD("handshake", pysio_core_handshake, METH_VARARGS,
           "handshake(nsp, sid) -> (handshake dict, Engine.IO protocol) or None"),
    METHOD("transport", pysio_core_transport, METH_VARARGS,
           "transport(nsp, sid) -> SIO_TRANSPORT_* of its connection now, 0 when not here"),
    METHOD("socket_count", pysio_core_socket_count, METH_VARARGS, "socket_count(nsp) -> int"),
    METHOD("fetch_count", pysio_core_fetch_count, METH_VARARGS, "fetch_count(nsp, cb(error, count))"),
    METHOD("all_rooms", pysio_core_all_rooms, METH_VARARGS, "all_rooms(nsp, cb(error, rooms))"),
    METHOD("fetch_sockets", pysio_core_fetch_sockets, METH_VARARGS, "fetch_sockets(nsp, to, skip, cb(error, sockets))"),
    METHOD("server_emit", pysio_core_server_emit, METH_VARARGS,
           "server_emit(nsp, event, args, cb(error, responses)=None): serverSideEmit to the other nodes"),
    METHOD("server_reply", pysio_core_server_reply, METH_VARARGS,
           "server_reply(nsp, reply_id, (value,) or ()) -> sent: answers another node's server-side event"),
    METHOD("stats", core_stats, METH_NOARGS, "stats() -> dict: the core's counters and gauges"),
    METHOD("serve_metrics", core_serve_metrics, METH_VARARGS,
           "serve_metrics(path): Prometheus text at path (GET and HEAD)"),
    METHOD("metrics_text", core_metrics_text, METH_NOARGS, "metrics_text() -> str: Prometheus text"),
    METHOD("start_workers", pysio_core_start_workers, METH_VARARGS,
           "start_workers(count, setup(index)): this Core becomes worker 0 of `count`; setup(i) runs "
           "on worker i's thread (Core() there joins worker i) before the call returns (workers.c)"),
    METHOD("worker_index", pysio_core_worker_index, METH_NOARGS,
           "the worker whose thread calls this (sio_workers_current), -1 elsewhere or without workers"),
    {NULL}};

static PyGetSetDef core_getset[] = {{"closed", (getter)core_closed, NULL, "the server is closed", NULL}, {NULL}};

static PyType_Slot core_slots[] = {
    {Py_tp_doc, "Core(dispatch, **options): a uv loop with a Socket.IO server (see sio/_core.pyi)"},
    {Py_tp_new, core_new},
    {Py_tp_init, core_init},
    {Py_tp_dealloc, core_dealloc},
    {Py_tp_traverse, core_traverse},
    {Py_tp_clear, core_clear},
    {Py_tp_methods, core_methods},
    {Py_tp_getset, core_getset},
    {0, NULL},
};

PyType_Spec pysio_core_spec = {
    .name = "sio._core.Core",
    .basicsize = sizeof(CoreObject),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .slots = core_slots,
};
