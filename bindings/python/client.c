/* sio._core.ClientLoop: a uv loop shared by many clients (python/sio/client.py keeps one per
 * asyncio loop, and one loop thread for every threaded Client of the process), with one uv_async
 * for the work other threads hand to it. sio._core.ClientCore: one sio_manager_t (sio_client.h)
 * on a ClientLoop, and its sockets, one per namespace, forwarding the manager's and the sockets'
 * callbacks to a Python "dispatch" object (sio.Client / sio.AsyncClient). One loop per client
 * cost an epoll fd, an eventfd, libuv's signal pipe and buffers: ~40 KB of RSS per idle client.
 *
 * Threads: every method of both types but ClientLoop.wakeup() runs on the thread that runs the
 * loop (ClientLoop.run(), or the asyncio thread calling run_nowait()); calling one from another
 * thread while the loop runs raises RuntimeError. Other threads queue their work in Python and call
 * ClientLoop.wakeup(), which makes the loop call its on_wakeup() on its thread. run() and
 * run_nowait() release the GIL around uv_run; every callback takes it (PyGILState_Ensure).
 *
 * Lifetime: ClientCore.close() closes the manager (sio_manager_close); once its close callback
 * ran, the sockets are gone and dispatch._on_closed() is called. A ClientCore keeps itself alive
 * while its manager is open (the manager's callbacks point at it), and its ClientLoop alive.
 * ClientLoop.close() closes the async handle: run() returns once every manager on it is closed.
 * Dropping a ClientLoop closes it and runs it to its end. */
#include <stdatomic.h>
#include <string.h>

#include "module.h"
#include "sio_client.h"
#include "util.h"

/* The dispatch object's methods (bound once at __init__). */
enum {
  CL_ON_OPEN,              /* _on_open() */
  CL_ON_CLOSE,             /* _on_close(reason) */
  CL_ON_ERROR,             /* _on_error(code, detail) */
  CL_ON_RECONNECT_ATTEMPT, /* _on_reconnect_attempt(attempt) */
  CL_ON_RECONNECT,         /* _on_reconnect(attempt) */
  CL_ON_RECONNECT_ERROR,   /* _on_reconnect_error(code, detail) */
  CL_ON_RECONNECT_FAILED,  /* _on_reconnect_failed() */
  CL_ON_CONNECT,           /* _on_connect(nsp) */
  CL_ON_CONNECT_ERROR,     /* _on_connect_error(nsp, message, data) */
  CL_ON_DISCONNECT,        /* _on_disconnect(nsp, reason) */
  CL_ON_EVENT,             /* _on_event(nsp, event, args, ack_id or None) */
  CL_ON_CLOSED,            /* _on_closed(): the manager is freed */
  CL_ON_COUNT
};

static const char *const cl_names[CL_ON_COUNT] = {
    [CL_ON_OPEN] = "_on_open",
    [CL_ON_CLOSE] = "_on_close",
    [CL_ON_ERROR] = "_on_error",
    [CL_ON_RECONNECT_ATTEMPT] = "_on_reconnect_attempt",
    [CL_ON_RECONNECT] = "_on_reconnect",
    [CL_ON_RECONNECT_ERROR] = "_on_reconnect_error",
    [CL_ON_RECONNECT_FAILED] = "_on_reconnect_failed",
    [CL_ON_CONNECT] = "_on_connect",
    [CL_ON_CONNECT_ERROR] = "_on_connect_error",
    [CL_ON_DISCONNECT] = "_on_disconnect",
    [CL_ON_EVENT] = "_on_event",
    [CL_ON_CLOSED] = "_on_closed",
};

typedef struct {
  PyObject_HEAD
  uv_loop_t loop;
  int loop_ready;
  uv_async_t async;
  int closed; /* the async handle is closed; read and written under the GIL (wakeup() reads it) */
  atomic_int wake_requested;
  unsigned long running; /* the thread inside uv_run, 0 when none */
  Py_ssize_t clients;    /* managers open on it */
  PyObject *on_wakeup;
} LoopObject;

typedef struct {
  PyObject_HEAD
  LoopObject *lp;   /* strong */
  sio_manager_t *m; /* NULL once its close callback ran (or never made) */
  int closing;
  int closed;
  PyObject *on[CL_ON_COUNT];
  PyObject *sockets; /* dict: nsp (str) -> capsule of its sio_csocket_t (owned by the manager) */
} ClientObject;

static pysio_state *cl_state(ClientObject *c) { return pysio_state_of(Py_TYPE(c)); }

/* ---------------------------------------------------------------------------------------------- */
/* Calling into Python from the loop                                                               */

static void cl_call(ClientObject *c, int which, PyObject *args) {
  if (!args) {
    pysio_log_exception(cl_state(c), "sio client: out of memory");
    return;
  }
  if (c->on[which]) {
    PyObject *r = PyObject_Call(c->on[which], args, NULL);
    if (!r) pysio_log_exception(cl_state(c), cl_names[which]);
    Py_XDECREF(r);
  }
  Py_DECREF(args);
}

static ClientObject *of_manager(sio_manager_t *m) { return sio_manager_get_data(m); }
static ClientObject *of_socket(sio_csocket_t *s) { return of_manager(sio_csocket_manager(s)); }

static void m_on_open(sio_manager_t *m) {
  PyGILState_STATE g = PyGILState_Ensure();
  cl_call(of_manager(m), CL_ON_OPEN, PyTuple_New(0));
  PyGILState_Release(g);
}

static void m_on_close(sio_manager_t *m, const char *reason) {
  PyGILState_STATE g = PyGILState_Ensure();
  cl_call(of_manager(m), CL_ON_CLOSE, Py_BuildValue("(s)", reason ? reason : ""));
  PyGILState_Release(g);
}

static void m_on_error(sio_manager_t *m, int err, const char *detail) {
  PyGILState_STATE g = PyGILState_Ensure();
  cl_call(of_manager(m), CL_ON_ERROR, Py_BuildValue("(is)", err, detail ? detail : sio_strerror(err)));
  PyGILState_Release(g);
}

static void m_on_reconnect_attempt(sio_manager_t *m, unsigned attempt) {
  PyGILState_STATE g = PyGILState_Ensure();
  cl_call(of_manager(m), CL_ON_RECONNECT_ATTEMPT, Py_BuildValue("(I)", attempt));
  PyGILState_Release(g);
}

static void m_on_reconnect(sio_manager_t *m, unsigned attempt) {
  PyGILState_STATE g = PyGILState_Ensure();
  cl_call(of_manager(m), CL_ON_RECONNECT, Py_BuildValue("(I)", attempt));
  PyGILState_Release(g);
}

static void m_on_reconnect_error(sio_manager_t *m, int err, const char *detail) {
  PyGILState_STATE g = PyGILState_Ensure();
  cl_call(of_manager(m), CL_ON_RECONNECT_ERROR, Py_BuildValue("(is)", err, detail ? detail : sio_strerror(err)));
  PyGILState_Release(g);
}

static void m_on_reconnect_failed(sio_manager_t *m) {
  PyGILState_STATE g = PyGILState_Ensure();
  cl_call(of_manager(m), CL_ON_RECONNECT_FAILED, PyTuple_New(0));
  PyGILState_Release(g);
}

static const sio_manager_callbacks_t manager_cbs = {
    .on_open = m_on_open,
    .on_close = m_on_close,
    .on_error = m_on_error,
    .on_reconnect_attempt = m_on_reconnect_attempt,
    .on_reconnect = m_on_reconnect,
    .on_reconnect_error = m_on_reconnect_error,
    .on_reconnect_failed = m_on_reconnect_failed,
};

static PyObject *nsp_str(sio_csocket_t *s) { return pysio_str_from_core(sio_csocket_nsp(s)); }

static void s_on_connect(sio_csocket_t *s) {
  PyGILState_STATE g = PyGILState_Ensure();
  PyObject *nsp = nsp_str(s);
  cl_call(of_socket(s), CL_ON_CONNECT, nsp ? PyTuple_Pack(1, nsp) : NULL);
  Py_XDECREF(nsp);
  PyGILState_Release(g);
}

static void s_on_connect_error(sio_csocket_t *s, const char *message, const cJSON *data) {
  PyGILState_STATE g = PyGILState_Ensure();
  PyObject *nsp = nsp_str(s), *msg = pysio_str_from_core(message);
  PyObject *d = data ? pysio_from_json(data, NULL) : (Py_INCREF(Py_None), Py_None);
  cl_call(of_socket(s), CL_ON_CONNECT_ERROR, nsp && msg && d ? PyTuple_Pack(3, nsp, msg, d) : NULL);
  Py_XDECREF(nsp);
  Py_XDECREF(msg);
  Py_XDECREF(d);
  PyGILState_Release(g);
}

static void s_on_disconnect(sio_csocket_t *s, const char *reason) {
  PyGILState_STATE g = PyGILState_Ensure();
  PyObject *nsp = nsp_str(s), *r = pysio_str_from_core(reason);
  cl_call(of_socket(s), CL_ON_DISCONNECT, nsp && r ? PyTuple_Pack(2, nsp, r) : NULL);
  Py_XDECREF(nsp);
  Py_XDECREF(r);
  PyGILState_Release(g);
}

static void s_on_event(sio_csocket_t *s, const char *event, const sio_args_t *args, int64_t ack_id) {
  PyGILState_STATE g = PyGILState_Ensure();
  PyObject *nsp = nsp_str(s), *ev = pysio_str_from_core(event), *a = pysio_args_to_py(args);
  PyObject *id = ack_id >= 0 ? PyLong_FromLongLong(ack_id) : (Py_INCREF(Py_None), Py_None);
  cl_call(of_socket(s), CL_ON_EVENT, nsp && ev && a && id ? PyTuple_Pack(4, nsp, ev, a, id) : NULL);
  Py_XDECREF(nsp);
  Py_XDECREF(ev);
  Py_XDECREF(a);
  Py_XDECREF(id);
  PyGILState_Release(g);
}

static const sio_csocket_callbacks_t socket_cbs = {
    .on_connect = s_on_connect,
    .on_connect_error = s_on_connect_error,
    .on_disconnect = s_on_disconnect,
    .on_event = s_on_event,
};

/* ---------------------------------------------------------------------------------------------- */
/* The loop, closing                                                                               */

static void async_cb(uv_async_t *h) {
  LoopObject *lp = h->data;
  if (!atomic_exchange(&lp->wake_requested, 0)) return;
  PyGILState_STATE g = PyGILState_Ensure();
  if (!lp->closed && lp->on_wakeup) {
    PyObject *r = PyObject_CallNoArgs(lp->on_wakeup);
    if (!r) pysio_log_exception(pysio_state_of(Py_TYPE(lp)), "ClientLoop on_wakeup");
    Py_XDECREF(r);
  }
  PyGILState_Release(g);
}

static void on_manager_closed(sio_manager_t *m) {
  ClientObject *c = of_manager(m);
  PyGILState_STATE g = PyGILState_Ensure();
  c->m = NULL;
  c->closed = 1;
  c->lp->clients--;
  PyDict_Clear(c->sockets);
  cl_call(c, CL_ON_CLOSED, PyTuple_New(0));
  Py_DECREF(c); /* the reference the open manager held (cl_init) */
  PyGILState_Release(g);
}

static void do_close(ClientObject *c) {
  if (c->closing || !c->m) return;
  c->closing = 1;
  sio_manager_close(c->m, on_manager_closed);
}

static int run_loop(LoopObject *lp, uv_run_mode mode) {
  int alive;
  lp->running = PyThread_get_thread_ident();
  Py_BEGIN_ALLOW_THREADS
  alive = uv_run(&lp->loop, mode);
  Py_END_ALLOW_THREADS
  lp->running = 0;
  return alive;
}

/* RuntimeError when the loop runs on another thread (-1), else 0. */
static int check_loop_thread(LoopObject *lp) {
  if (lp->running && lp->running != PyThread_get_thread_ident()) {
    PyErr_SetString(PyExc_RuntimeError, "sio._core.ClientLoop is used on the thread running it only");
    return -1;
  }
  return 0;
}

static int check_thread(ClientObject *c) {
  if (!c->lp) {
    PyErr_SetString(PyExc_RuntimeError, "ClientCore.__init__ was not called");
    return -1;
  }
  return check_loop_thread(c->lp);
}

static int check_open(ClientObject *c) {
  if (check_thread(c) < 0) return -1;
  if (!c->m || c->closing) {
    PyObject *msg = PyUnicode_FromString("the client is closed");
    if (msg) {
      PyErr_SetObject(cl_state(c)->errors[PYSIO_ERR_CLOSED], msg);
      Py_DECREF(msg);
    }
    return -1;
  }
  return 0;
}

/* ---------------------------------------------------------------------------------------------- */
/* ClientLoop                                                                                      */

static void lp_close_async(LoopObject *lp) {
  lp->closed = 1; /* under the GIL: wakeup() reads it before uv_async_send */
  if (!uv_is_closing((uv_handle_t *)&lp->async)) uv_close((uv_handle_t *)&lp->async, NULL);
}

static int lp_traverse(LoopObject *lp, visitproc visit, void *arg) {
  Py_VISIT(Py_TYPE(lp));
  Py_VISIT(lp->on_wakeup);
  return 0;
}

static int lp_clear(LoopObject *lp) {
  Py_CLEAR(lp->on_wakeup);
  return 0;
}

/* No ClientCore refers to it any more, so no manager is open on it: what is left to close is the
 * async handle (and handles the managers closed last). */
static void lp_dealloc(LoopObject *lp) {
  PyTypeObject *type = Py_TYPE(lp);
  PyObject_GC_UnTrack(lp);
  lp_clear(lp);
  if (lp->loop_ready) {
    lp_close_async(lp);
    run_loop(lp, UV_RUN_DEFAULT);
    uv_loop_close(&lp->loop);
  }
  type->tp_free(lp);
  Py_DECREF(type);
}

/* ClientLoop(on_wakeup=None) */
static PyObject *lp_new(PyTypeObject *type, PyObject *args, PyObject *kw) {
  static char *kwlist[] = {"on_wakeup", NULL};
  PyObject *on_wakeup = Py_None;
  if (!PyArg_ParseTupleAndKeywords(args, kw, "|O", kwlist, &on_wakeup)) return NULL;
  LoopObject *lp = (LoopObject *)type->tp_alloc(type, 0);
  if (!lp) return NULL;
  int r = uv_loop_init(&lp->loop);
  if (r < 0) {
    Py_DECREF(lp);
    return pysio_raise(pysio_state_of(type), r, "uv_loop_init");
  }
  uv_async_init(&lp->loop, &lp->async, async_cb);
  lp->async.data = lp;
  lp->loop_ready = 1;
  if (on_wakeup != Py_None) {
    Py_INCREF(on_wakeup);
    lp->on_wakeup = on_wakeup;
  }
  return (PyObject *)lp;
}

/* run(): runs the loop on this thread (GIL released) until it is closed and its clients are. */
static PyObject *lp_run(LoopObject *lp, PyObject *unused) {
  (void)unused;
  if (check_loop_thread(lp) < 0) return NULL;
  run_loop(lp, UV_RUN_DEFAULT);
  Py_RETURN_NONE;
}

static PyObject *lp_run_nowait(LoopObject *lp, PyObject *unused) {
  (void)unused;
  if (check_loop_thread(lp) < 0) return NULL;
  return PyBool_FromLong(run_loop(lp, UV_RUN_NOWAIT));
}

static PyObject *lp_backend_fd(LoopObject *lp, PyObject *unused) {
  (void)unused;
  return PyLong_FromLong(uv_backend_fd(&lp->loop));
}

static PyObject *lp_backend_timeout(LoopObject *lp, PyObject *unused) {
  (void)unused;
  return PyLong_FromLong(uv_backend_timeout(&lp->loop));
}

/* wakeup(): thread-safe; on_wakeup() runs on the loop's thread. False once closed. */
static PyObject *lp_wakeup(LoopObject *lp, PyObject *unused) {
  (void)unused;
  if (lp->closed) Py_RETURN_FALSE;
  atomic_store(&lp->wake_requested, 1);
  uv_async_send(&lp->async);
  Py_RETURN_TRUE;
}

static PyObject *lp_close(LoopObject *lp, PyObject *unused) {
  (void)unused;
  if (check_loop_thread(lp) < 0) return NULL;
  lp_close_async(lp);
  Py_RETURN_NONE;
}

static PyObject *lp_closed(LoopObject *lp, void *unused) {
  (void)unused;
  return PyBool_FromLong(lp->closed);
}

static PyObject *lp_clients(LoopObject *lp, void *unused) {
  (void)unused;
  return PyLong_FromSsize_t(lp->clients);
}

#define METHOD(name, fn, flags, doc) {name, (PyCFunction)(void (*)(void))fn, flags, doc}
static PyMethodDef lp_methods[] = {
    METHOD("run", lp_run, METH_NOARGS, "runs the loop until closed and its clients are (GIL released)"),
    METHOD("run_nowait", lp_run_nowait, METH_NOARGS, "one non-blocking loop iteration"),
    METHOD("backend_fd", lp_backend_fd, METH_NOARGS, "the loop's poll fd"),
    METHOD("backend_timeout", lp_backend_timeout, METH_NOARGS, "ms until the next timer, -1: none"),
    METHOD("wakeup", lp_wakeup, METH_NOARGS, "calls on_wakeup() on the loop (thread-safe)"),
    METHOD("close", lp_close, METH_NOARGS, "no more wake-ups: run() ends once its clients are closed"),
    {NULL}};

static PyGetSetDef lp_getset[] = {
    {"closed", (getter)lp_closed, NULL, "close() was called", NULL},
    {"clients", (getter)lp_clients, NULL, "ClientCores whose manager is open on it", NULL},
    {NULL}};

static PyType_Slot lp_slots[] = {
    {Py_tp_doc, "ClientLoop(on_wakeup=None): a uv loop that ClientCores share"},
    {Py_tp_new, lp_new},
    {Py_tp_methods, lp_methods},
    {Py_tp_getset, lp_getset},
    {Py_tp_traverse, lp_traverse},
    {Py_tp_clear, lp_clear},
    {Py_tp_dealloc, lp_dealloc},
    {0, NULL},
};

PyType_Spec pysio_client_loop_spec = {
    .name = "sio._core.ClientLoop",
    .basicsize = sizeof(LoopObject),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .slots = lp_slots,
};

/* ---------------------------------------------------------------------------------------------- */
/* Life                                                                                            */

static int cl_traverse(ClientObject *c, visitproc visit, void *arg) {
  Py_VISIT(Py_TYPE(c));
  Py_VISIT(c->lp);
  for (int i = 0; i < CL_ON_COUNT; i++) Py_VISIT(c->on[i]);
  return 0;
}

static int cl_clear(ClientObject *c) {
  for (int i = 0; i < CL_ON_COUNT; i++) Py_CLEAR(c->on[i]);
  return 0;
}

static void cl_dealloc(ClientObject *c) {
  PyTypeObject *type = Py_TYPE(c);
  PyObject_GC_UnTrack(c);
  cl_clear(c);
  /* c->m is NULL: an open manager holds a reference (cl_init, on_manager_closed) */
  Py_CLEAR(c->sockets);
  Py_CLEAR(c->lp);
  type->tp_free(c);
  Py_DECREF(type);
}

static PyObject *cl_new(PyTypeObject *type, PyObject *args, PyObject *kw) {
  (void)args;
  (void)kw;
  ClientObject *c = (ClientObject *)type->tp_alloc(type, 0);
  if (!c) return NULL;
  if (!(c->sockets = PyDict_New())) {
    Py_DECREF(c);
    return NULL;
  }
  return (PyObject *)c;
}



static int opt_transports(PyObject *o, void *p) {
  if (o == Py_None) return 1;
  PyObject *fast = PySequence_Fast(o, "transports: expected a list of 'polling' / 'websocket'");
  if (!fast) return 0;
  unsigned t = 0;
  for (Py_ssize_t i = 0; i < PySequence_Fast_GET_SIZE(fast); i++) {
    PyObject *it = PySequence_Fast_GET_ITEM(fast, i);
    const char *s = PyUnicode_Check(it) ? PyUnicode_AsUTF8(it) : NULL;
    if (s && !strcmp(s, "polling")) t |= SIO_CLIENT_POLLING;
    else if (s && !strcmp(s, "websocket")) t |= SIO_CLIENT_WEBSOCKET;
    else {
      PyErr_Format(PyExc_ValueError, "transports: %R is not 'polling' or 'websocket'", it);
      Py_DECREF(fast);
      return 0;
    }
  }
  Py_DECREF(fast);
  if (!t) {
    PyErr_SetString(PyExc_ValueError, "transports: empty");
    return 0;
  }
  *(unsigned *)p = t;
  return 1;
}


/* headers: a list of "Name: value" strings, copied by sio_manager_new. */
static const char **headers_array(PyObject *list) {
  Py_ssize_t n = PyList_GET_SIZE(list);
  const char **h = PyMem_Calloc((size_t)n + 1, sizeof *h);
  if (!h) return (const char **)PyErr_NoMemory();
  for (Py_ssize_t i = 0; i < n; i++) {
    PyObject *it = PyList_GET_ITEM(list, i);
    if (!PyUnicode_Check(it) || !(h[i] = PyUnicode_AsUTF8(it))) {
      if (!PyErr_Occurred()) PyErr_SetString(PyExc_TypeError, "headers: expected a list of str");
      PyMem_Free(h);
      return NULL;
    }
  }
  return h;
}

static int bind_dispatch(ClientObject *c, PyObject *dispatch) {
  for (int i = 0; i < CL_ON_COUNT; i++) {
    Py_CLEAR(c->on[i]);
    c->on[i] = PyObject_GetAttrString(dispatch, cl_names[i]);
    if (!c->on[i]) PyErr_Clear(); /* a dispatch without it ignores that callback */
  }
  return 0;
}

/* ClientCore(url, dispatch, *, path=None, eio=4, transports=None, upgrade=True, query=None,
 *            headers=None, max_payload=None, timeout_ms=None, reconnection=True,
 *            reconnection_attempts=0, reconnection_delay_ms=None, reconnection_delay_max_ms=None,
 *            randomization_factor=None, parser="json", send_buffer_max=None,
 *            send_buffer_bytes=None, tls_ca_file=None, tls_verify=True) */
static int cl_init(ClientObject *c, PyObject *args, PyObject *kw) {
  static char *kwlist[] = {"url", "dispatch", "loop", "path", "eio", "transports", "upgrade", "query", "headers",
                           "max_payload", "timeout_ms", "reconnection", "reconnection_attempts",
                           "reconnection_delay_ms", "reconnection_delay_max_ms", "randomization_factor",
                           "parser", "send_buffer_max", "send_buffer_bytes", "tls_ca_file", "tls_verify",
                           NULL};
  if (c->lp) {
    PyErr_SetString(PyExc_RuntimeError, "ClientCore.__init__ called twice");
    return -1;
  }
  sio_manager_options_t o;
  sio_manager_options_init(&o);
  const char *url;
  PyObject *dispatch, *loop = NULL, *headers = Py_None, *rf = Py_None, *parser = NULL;
  if (!PyArg_ParseTupleAndKeywords(args, kw, "sO|$O!ziO&pzO!O&O&pO&O&O&OOO&O&zp", kwlist, &url, &dispatch,
                                   cl_state(c)->client_loop_type, &loop, &o.path,
                                   &o.eio, opt_transports, &o.transports, &o.upgrade, &o.query,
                                   &PyList_Type, &headers, pysio_opt_size, &o.max_payload, pysio_opt_u32, &o.timeout_ms,
                                   &o.reconnection, pysio_opt_u32, &o.reconnection_attempts, pysio_opt_u32,
                                   &o.reconnection_delay_ms, pysio_opt_u32, &o.reconnection_delay_max_ms, &rf,
                                   &parser, pysio_opt_size, &o.send_buffer_max, pysio_opt_size, &o.send_buffer_bytes,
                                   &o.tls_ca_file, &o.tls_verify))
    return -1;
  if (!loop) {
    PyErr_SetString(PyExc_TypeError, "ClientCore: the loop= keyword (a ClientLoop) is required");
    return -1;
  }
  if (check_loop_thread((LoopObject *)loop) < 0) return -1;
  if (rf != Py_None) {
    o.randomization_factor = PyFloat_AsDouble(rf);
    if (PyErr_Occurred()) return -1;
  }
  if (parser && parser != Py_None && !pysio_opt_parser(parser, &o.parser)) return -1;
  const char **h = NULL;
  if (headers != Py_None && !(h = headers_array(headers))) return -1;
  o.headers = h;
  if (bind_dispatch(c, dispatch) < 0) goto fail;
  Py_INCREF(loop);
  c->lp = (LoopObject *)loop;
  int r = sio_manager_new(&c->lp->loop, url, &o, &manager_cbs, &c->m);
  PyMem_Free(h);
  h = NULL;
  if (r < 0) {
    pysio_raise(cl_state(c), r, "client");
    c->m = NULL;
    c->closed = 1;
    return -1;
  }
  sio_manager_set_data(c->m, c);
  c->lp->clients++;
  Py_INCREF(c); /* held by the open manager: its callbacks point at c */
  return 0;
fail:
  PyMem_Free(h);
  return -1;
}

/* ---------------------------------------------------------------------------------------------- */
/* Methods                                                                                         */

/* The socket of namespace `nsp` (a str), or NULL with KeyError. */
static sio_csocket_t *socket_of(ClientObject *c, PyObject *nsp) {
  if (check_open(c) < 0) return NULL;
  PyObject *cap = PyDict_GetItemWithError(c->sockets, nsp);
  if (!cap) {
    if (!PyErr_Occurred()) PyErr_Format(PyExc_KeyError, "no socket for namespace %R", nsp);
    return NULL;
  }
  return PyCapsule_GetPointer(cap, NULL);
}

/* An auth payload (a dict or None) as cJSON; *out NULL for None. */
static int auth_json(PyObject *auth, cJSON **out) {
  *out = NULL;
  if (auth == Py_None) return 0;
  if (!PyDict_Check(auth)) {
    PyErr_SetString(PyExc_TypeError, "auth must be a dict or None");
    return -1;
  }
  pysio_bufs_t b = {0};
  *out = pysio_to_json(auth, &b, 1);
  size_t n = b.n;
  pysio_bufs_free(&b);
  if (*out && n) {
    cJSON_Delete(*out);
    *out = NULL;
    PyErr_SetString(PyExc_TypeError, "auth cannot hold binary values");
  }
  return *out ? 0 : -1;
}

/* socket(nsp, auth=None): creates the namespace's socket (not connected); replaces its auth when
 * it exists. */
static PyObject *cl_socket(ClientObject *c, PyObject *args) {
  PyObject *nsp, *auth = Py_None;
  if (!PyArg_ParseTuple(args, "U|O", &nsp, &auth) || check_open(c) < 0) return NULL;
  cJSON *a;
  if (auth_json(auth, &a) < 0) return NULL;
  PyObject *cap = PyDict_GetItemWithError(c->sockets, nsp);
  int r;
  if (cap) r = sio_csocket_set_auth(PyCapsule_GetPointer(cap, NULL), a);
  else if (PyErr_Occurred()) r = 0;
  else {
    PyObject *holder;
    const char *n = pysio_core_str(nsp, &holder);
    sio_csocket_t *s = NULL;
    r = n ? sio_csocket_new(c->m, n, a, &socket_cbs, &s) : 0;
    Py_XDECREF(holder);
    if (n && r == 0) {
      PyObject *newcap = PyCapsule_New(s, NULL, NULL);
      if (!newcap || PyDict_SetItem(c->sockets, nsp, newcap) < 0) r = 0; /* exception set */
      Py_XDECREF(newcap);
    }
  }
  cJSON_Delete(a);
  if (PyErr_Occurred()) return NULL;
  if (r < 0) return pysio_raise(cl_state(c), r, "socket");
  Py_RETURN_NONE;
}

static PyObject *cl_open(ClientObject *c, PyObject *unused) {
  (void)unused;
  if (check_open(c) < 0) return NULL;
  int r = sio_manager_open(c->m);
  if (r < 0) return pysio_raise(cl_state(c), r, "open");
  Py_RETURN_NONE;
}

static PyObject *cl_connect(ClientObject *c, PyObject *nsp) {
  sio_csocket_t *s = socket_of(c, nsp);
  if (!s) return NULL;
  int r = sio_csocket_connect(s);
  if (r < 0) return pysio_raise(cl_state(c), r, "connect");
  Py_RETURN_NONE;
}

static PyObject *cl_disconnect(ClientObject *c, PyObject *nsp) {
  sio_csocket_t *s = socket_of(c, nsp);
  if (!s) return NULL;
  sio_csocket_disconnect(s);
  Py_RETURN_NONE;
}

/* Parses (nsp, event, args tuple) and converts args; the socket in *s. 0 or -1. */
typedef struct {
  sio_csocket_t *s;
  pysio_text_t event;
  cJSON *json;
  pysio_bufs_t bufs;
} emit_t;

static void emit_release(emit_t *e) {
  pysio_text_release(&e->event);
  cJSON_Delete(e->json);
  pysio_bufs_free(&e->bufs);
}

static int emit_prepare(ClientObject *c, PyObject *nsp, PyObject *event, PyObject *values, emit_t *e) {
  memset(e, 0, sizeof *e);
  if (!(e->s = socket_of(c, nsp)) || !pysio_text_arg(event, &e->event)) return -1;
  if (!PyTuple_Check(values)) {
    PyErr_SetString(PyExc_TypeError, "args must be a tuple");
    return -1;
  }
  return pysio_args_from_py(values, &e->json, &e->bufs);
}

/* emit(nsp, event, args, volatile=False) -> 0, or SIO_EBUSY-style errors raised */
static PyObject *cl_emit(ClientObject *c, PyObject *args) {
  PyObject *nsp, *event, *values;
  int vol = 0;
  if (!PyArg_ParseTuple(args, "UUO|p", &nsp, &event, &values, &vol)) return NULL;
  emit_t e;
  int ok = emit_prepare(c, nsp, event, values, &e) == 0;
  int r = 0;
  if (ok) {
    sio_args_t a = {e.json, e.bufs.bufs, e.bufs.n};
    r = sio_csocket_emit(e.s, e.event.s, &a, vol ? SIO_EMIT_VOLATILE : 0);
    if (r < 0) pysio_raise(cl_state(c), r, "emit");
  }
  emit_release(&e);
  if (!ok || r < 0) return NULL;
  Py_RETURN_NONE;
}

/* The ack's answer: cb(error, args) with error None, "timeout" or "closed", args a tuple. */
static void on_ack(sio_csocket_t *s, int status, const sio_args_t *args, void *arg) {
  PyGILState_STATE g = PyGILState_Ensure();
  ClientObject *c = of_socket(s);
  PyObject *value = status == 0 && args ? pysio_args_to_py(args) : PyTuple_New(0);
  pysio_deliver(cl_state(c), arg, status, value, "error in an ack callback");
  PyGILState_Release(g);
}

/* emit_ack(nsp, event, args, timeout_ms, cb): cb(error, args) runs once, from the loop. */
static PyObject *cl_emit_ack(ClientObject *c, PyObject *args) {
  PyObject *nsp, *event, *values, *cb;
  unsigned long timeout;
  if (!PyArg_ParseTuple(args, "UUOkO", &nsp, &event, &values, &timeout, &cb)) return NULL;
  if (timeout > UINT32_MAX) timeout = UINT32_MAX;
  emit_t e;
  int ok = emit_prepare(c, nsp, event, values, &e) == 0;
  int r = 0;
  if (ok) {
    sio_args_t a = {e.json, e.bufs.bufs, e.bufs.n};
    Py_INCREF(cb);
    r = sio_csocket_emit_ack(e.s, e.event.s, &a, 0, (uint32_t)timeout, on_ack, cb);
    if (r < 0) {
      Py_DECREF(cb);
      pysio_raise(cl_state(c), r, "emit");
    }
  }
  emit_release(&e);
  if (!ok || r < 0) return NULL;
  Py_RETURN_NONE;
}

/* ack(nsp, ack_id, args) -> sent (False: the socket is not connected any more) */
static PyObject *cl_ack(ClientObject *c, PyObject *args) {
  PyObject *nsp, *values;
  long long id;
  if (!PyArg_ParseTuple(args, "ULO!", &nsp, &id, &PyTuple_Type, &values)) return NULL;
  sio_csocket_t *s = socket_of(c, nsp);
  if (!s) return NULL;
  cJSON *json;
  pysio_bufs_t b;
  if (pysio_args_from_py(values, &json, &b) < 0) return NULL;
  sio_args_t a = {json, b.bufs, b.n};
  int r = sio_csocket_ack(s, id, &a);
  cJSON_Delete(json);
  pysio_bufs_free(&b);
  if (r == SIO_ECLOSED) Py_RETURN_FALSE;
  if (r < 0) return pysio_raise(cl_state(c), r, "ack");
  Py_RETURN_TRUE;
}

/* socket_info(nsp) -> (id or None, connected, recovered, buffered) */
static PyObject *cl_socket_info(ClientObject *c, PyObject *nsp) {
  sio_csocket_t *s = socket_of(c, nsp);
  if (!s) return NULL;
  const char *id = sio_csocket_id(s);
  PyObject *sid = id ? pysio_str_from_core(id) : (Py_INCREF(Py_None), Py_None);
  if (!sid) return NULL;
  return Py_BuildValue("(NNNn)", sid, PyBool_FromLong(sio_csocket_connected(s)),
                       PyBool_FromLong(sio_csocket_recovered(s)), (Py_ssize_t)sio_csocket_buffered(s));
}

/* engine() -> (Engine.IO sid or None, "polling" / "websocket" / None) */
static PyObject *cl_engine(ClientObject *c, PyObject *unused) {
  (void)unused;
  if (check_thread(c) < 0) return NULL;
  if (!c->m || c->closing) return Py_BuildValue("(OO)", Py_None, Py_None);
  const char *sid = sio_manager_sid(c->m);
  int t = sio_manager_transport(c->m);
  const char *tn = t == SIO_CLIENT_POLLING ? "polling" : t == SIO_CLIENT_WEBSOCKET ? "websocket" : NULL;
  return Py_BuildValue("(zz)", sid, tn);
}

static PyObject *cl_close(ClientObject *c, PyObject *unused) {
  (void)unused;
  if (check_thread(c) < 0) return NULL;
  do_close(c);
  Py_RETURN_NONE;
}

static PyObject *cl_closed(ClientObject *c, void *unused) {
  (void)unused;
  return PyBool_FromLong(c->closed);
}

static PyMethodDef cl_methods[] = {
    METHOD("socket", cl_socket, METH_VARARGS, "socket(nsp, auth=None): the namespace's socket (auth replaced)"),
    METHOD("open", cl_open, METH_NOARGS, "opens the Engine.IO connection (sio_manager_open)"),
    METHOD("connect", cl_connect, METH_O, "connect(nsp)"),
    METHOD("disconnect", cl_disconnect, METH_O, "disconnect(nsp)"),
    METHOD("emit", cl_emit, METH_VARARGS, "emit(nsp, event, args, volatile=False)"),
    METHOD("emit_ack", cl_emit_ack, METH_VARARGS, "emit_ack(nsp, event, args, timeout_ms, cb): cb(error, args)"),
    METHOD("ack", cl_ack, METH_VARARGS, "ack(nsp, ack_id, args) -> sent"),
    METHOD("socket_info", cl_socket_info, METH_O, "socket_info(nsp) -> (id, connected, recovered, buffered)"),
    METHOD("engine", cl_engine, METH_NOARGS, "engine() -> (Engine.IO sid, transport)"),
    METHOD("close", cl_close, METH_NOARGS, "closes the manager; dispatch._on_closed() follows"),
    {NULL}};

static PyGetSetDef cl_getset[] = {{"closed", (getter)cl_closed, NULL, "the manager is closed and freed", NULL},
                                  {NULL}};

static PyType_Slot cl_slots[] = {
    {Py_tp_doc, "ClientCore(url, dispatch, *, loop, **options): a Socket.IO client manager on a ClientLoop"},
    {Py_tp_new, cl_new},
    {Py_tp_init, cl_init},
    {Py_tp_methods, cl_methods},
    {Py_tp_getset, cl_getset},
    {Py_tp_traverse, cl_traverse},
    {Py_tp_clear, cl_clear},
    {Py_tp_dealloc, cl_dealloc},
    {0, NULL},
};

PyType_Spec pysio_client_spec = {
    .name = "sio._core.ClientCore",
    .basicsize = sizeof(ClientObject),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .slots = cl_slots,
};
