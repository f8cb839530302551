/* The core's callbacks into Python: connect middleware, connection, events, disconnect, server-side
 * events and the bare Engine.IO endpoint's messages. Each takes the GIL, converts what the core
 * gives and calls the Core's dispatch object (core.h: PYSIO_ON_*); an exception there is logged
 * and the server goes on. */
#include "core.h"
#include "util.h"

/* The key the Python layer registered the namespace (or its dynamic parent) with. */
static PyObject *nsp_key(sio_nsp_t *nsp) {
  sio_nsp_t *p = sio_nsp_parent(nsp);
  PyObject *k = sio_nsp_get_data(p ? p : nsp);
  return k ? k : Py_None;
}

/* ---- connect ---- */

static const char REJECTED[] = "Connection rejected by server";

/* Refuses s with a (message, data) tuple from Python (a ConnectionRefusedError's). */
static void refuse_with(pysio_state *st, sio_socket_t *s, PyObject *verdict) {
  PyObject *msg = PyObject_Str(PyTuple_GET_ITEM(verdict, 0)), *holder = NULL;
  const char *m = msg ? pysio_core_str(msg, &holder) : NULL;
  cJSON *data = NULL;
  pysio_bufs_t b = {0};
  if (m && PyTuple_GET_ITEM(verdict, 1) != Py_None) data = pysio_to_json(PyTuple_GET_ITEM(verdict, 1), &b, 1);
  if (PyErr_Occurred()) pysio_log_exception(st, "bad ConnectionRefusedError message or data");
  sio_socket_refuse(s, m ? m : REJECTED, data);
  cJSON_Delete(data);
  pysio_bufs_free(&b);
  Py_XDECREF(holder);
  Py_XDECREF(msg);
}

/* A coroutine connect handler (asyncio mode) decides later: connect_done() ends the middleware.
 * Until then the socket handle stays valid (sio_nsp_use's promise); sockets still waiting when the
 * server closes are released here. */
void pysio_release_pending_connects(CoreObject *c) {
  if (!c->mw_pending) return;
  PyObject *key, *cap;
  Py_ssize_t pos = 0;
  while (PyDict_Next(c->mw_pending, &pos, &key, &cap)) sio_socket_refuse(PyCapsule_GetPointer(cap, NULL), REJECTED, NULL);
  PyDict_Clear(c->mw_pending);
}

/* Core.connect_done(token, verdict): verdict None lets the socket in, (message, data) refuses it.
 * False when the socket was released already (the server closed). */
PyObject *pysio_core_connect_done(CoreObject *c, PyObject *args) {
  PyObject *token, *verdict;
  if (!PyArg_ParseTuple(args, "OO", &token, &verdict)) return NULL;
  if (verdict != Py_None && !(PyTuple_Check(verdict) && PyTuple_GET_SIZE(verdict) == 2)) {
    PyErr_SetString(PyExc_TypeError, "connect_done: verdict must be None or (message, data)");
    return NULL;
  }
  PyObject *cap = PyDict_GetItemWithError(c->mw_pending, token);
  if (!cap) {
    if (PyErr_Occurred()) return NULL;
    Py_RETURN_FALSE;
  }
  sio_socket_t *s = PyCapsule_GetPointer(cap, NULL);
  if (PyDict_DelItem(c->mw_pending, token) < 0) return NULL;
  if (verdict == Py_None) sio_socket_next(s);
  else refuse_with(pysio_core_state(c), s, verdict);
  Py_RETURN_TRUE;
}

/* The connect handler: dispatch._on_connect(key, nsp, sid, handshake, protocol, token) with the
 * handshake as sio_socket_handshake() describes it (Node's socket.handshake: headers, time,
 * address, xdomain, secure, issued, url, query, auth) and the Engine.IO protocol (3 or 4). It
 * returns None (go on), (message, data) (refuse) or its token (a coroutine decides later). */
void pysio_on_middleware(sio_socket_t *s, void *arg) {
  (void)arg;
  sio_nsp_t *nsp = sio_socket_nsp(s);
  CoreObject *c = pysio_core_of_nsp(nsp);
  PyGILState_STATE g = PyGILState_Ensure();
  pysio_state *st = pysio_core_state(c);
  PyObject *fn = c->on[PYSIO_ON_CONNECT];
  if (!fn) {
    PyGILState_Release(g);
    sio_socket_next(s);
    return;
  }
  cJSON *hs = sio_socket_handshake(s);
  PyObject *handshake = hs ? pysio_from_json(hs, NULL) : PyErr_NoMemory();
  cJSON_Delete(hs);
  PyObject *r = NULL;
  long long token = ++c->mw_seq;
  /* A restored socket's kept data, for Core.recovering() during the call. */
  PyObject *kept = NULL;
  if (handshake && sio_socket_recovered(s)) {
    const cJSON *d = sio_socket_recovered_data(s);
    kept = d ? pysio_from_json(d, NULL) : (Py_INCREF(Py_None), Py_None);
    if (!kept) Py_CLEAR(handshake);
  }
  c->recovering = kept;
  if (handshake)
    r = PyObject_CallFunction(fn, "OssOiL", nsp_key(nsp), sio_nsp_name(nsp), sio_socket_id(s), handshake,
                              sio_session_protocol(sio_socket_session(s)), token);
  c->recovering = NULL;
  Py_XDECREF(kept);
  Py_XDECREF(handshake);
  if (r && PyLong_Check(r)) { /* its token: a coroutine decides, then connect_done(token, verdict) */
    PyObject *cap = PyCapsule_New(s, NULL, NULL);
    if (cap && PyDict_SetItem(c->mw_pending, r, cap) == 0) {
      Py_DECREF(cap);
      Py_DECREF(r);
      PyGILState_Release(g);
      return;
    }
    Py_XDECREF(cap);
    Py_CLEAR(r);
  }
  if (!r) {
    pysio_log_exception(st, "error in the connect handler");
    PyGILState_Release(g);
    sio_socket_refuse(s, REJECTED, NULL);
    return;
  }
  int refuse = PyTuple_Check(r) && PyTuple_GET_SIZE(r) == 2;
  if (refuse) refuse_with(st, s, r);
  Py_DECREF(r);
  PyGILState_Release(g);
  if (!refuse) sio_socket_next(s);
}

static void on_connection(sio_nsp_t *nsp, sio_socket_t *s) {
  CoreObject *c = pysio_core_of_nsp(nsp);
  PyGILState_STATE g = PyGILState_Ensure();
  PyObject *fn = c->on[PYSIO_ON_CONNECTED];
  if (fn) {
    PyObject *r = PyObject_CallFunction(fn, "Oss", nsp_key(nsp), sio_nsp_name(nsp), sio_socket_id(s));
    if (!r) pysio_log_exception(pysio_core_state(c), "error after connect");
    Py_XDECREF(r);
  }
  PyGILState_Release(g);
}

/* ---- events ---- */

static inline PyObject *pysio_ref(PyObject *o) { /* Py_NewRef, which Python 3.9 lacks */
  Py_INCREF(o);
  return o;
}

/* Event names as Python str: a small direct-mapped cache of interned strings per Core, so that an
 * event seen before costs a hash and a memcmp instead of a decode (and its dict lookups find an
 * interned key). Names with a NUL (C0 80 in the core's form) or longer than a slot are decoded. */
enum { EVNAME_SLOTS = 64, EVNAME_MAX = 47 };
struct pysio_evname_s {
  PyObject *str;
  uint32_t hash;
  uint8_t len;
  char name[EVNAME_MAX];
};

static PyObject *event_name(CoreObject *c, const char *event) {
  size_t len = event ? strlen(event) : 0;
  if (!event || len > EVNAME_MAX || memchr(event, 0xC0, len)) return pysio_str_from_core(event);
  uint32_t h = 2166136261u; /* FNV-1a */
  for (size_t i = 0; i < len; i++) h = (h ^ (unsigned char)event[i]) * 16777619u;
  if (!c->evnames && !(c->evnames = PyMem_Calloc(EVNAME_SLOTS, sizeof *c->evnames))) return PyErr_NoMemory();
  struct pysio_evname_s *e = &c->evnames[h % EVNAME_SLOTS];
  if (e->str && e->hash == h && e->len == len && memcmp(e->name, event, len) == 0) {
    Py_INCREF(e->str);
    return e->str;
  }
  PyObject *str = pysio_str_from_core(event);
  if (!str) return NULL;
  PyUnicode_InternInPlace(&str);
  Py_INCREF(str);
  Py_XSETREF(e->str, str);
  e->hash = h;
  e->len = (uint8_t)len;
  memcpy(e->name, event, len);
  return str;
}

void pysio_evnames_free(CoreObject *c) {
  if (!c->evnames) return;
  for (int i = 0; i < EVNAME_SLOTS; i++) Py_CLEAR(c->evnames[i].str);
  PyMem_Free(c->evnames);
  c->evnames = NULL;
}

/* The event being dispatched: its args and the values made of them, so that an ack answering with
 * those same values (an echo) sends the packet's own tree instead of a copy (ack.c). */
const sio_args_t *pysio_event_args_same(CoreObject *c, PyObject *values) {
  if (!c || !c->cur_args || !PyTuple_Check(values) || PyTuple_GET_SIZE(values) != c->cur_n) return NULL;
  for (Py_ssize_t i = 0; i < c->cur_n; i++) {
    PyObject *v = PyTuple_GET_ITEM(values, i);
    if (v != c->cur_vals[i]) return NULL;
    /* immutable values only: a list or dict may have changed since */
    if (!(v == Py_None || PyUnicode_CheckExact(v) || PyLong_CheckExact(v) || PyBool_Check(v) ||
          PyFloat_CheckExact(v) || PyBytes_CheckExact(v)))
      return NULL;
  }
  return c->cur_args;
}

/* The handler's route when the Python layer put one in dispatch._fast[key][event]: (fn, arity,
 * wants_ack), a plain function of Server.on() the sid-style dispatch would call directly (no
 * Node-shaped socket, no catch-all, no logging nor worker pool: _dispatch.py _sid_event). A new
 * reference, or NULL. */
static PyObject *fast_route(CoreObject *c, PyObject *key, PyObject *ev) {
  if (!c->fast || !PyDict_GET_SIZE(c->fast)) return NULL;
  PyObject *h = PyDict_GetItemWithError(c->fast, key);
  PyObject *r = h && PyDict_Check(h) ? PyDict_GetItemWithError(h, ev) : NULL;
  if (PyErr_Occurred()) PyErr_Clear();
  if (!r || !PyTuple_Check(r) || PyTuple_GET_SIZE(r) != 3) return NULL;
  Py_INCREF(r);
  return r;
}

/* Whether a handler's result may be an awaitable (inspect.isawaitable for what is not a plain
 * value): -1 with an exception. */
static int maybe_awaitable(CoreObject *c, PyObject *r) {
  if (r == Py_None || PyTuple_CheckExact(r) || PyUnicode_CheckExact(r) || PyLong_CheckExact(r) || PyBool_Check(r) ||
      PyList_CheckExact(r) || PyDict_CheckExact(r) || PyFloat_CheckExact(r) || PyBytes_CheckExact(r) ||
      r == pysio_core_state(c)->noack)
    return 0;
  if (!c->isawaitable) return 0;
  PyObject *t = PyObject_CallOneArg(c->isawaitable, r);
  int b = t ? PyObject_IsTrue(t) : -1;
  Py_XDECREF(t);
  return b;
}

/* Calls the route's function as _sid_event would: fn(sid, *args) (the args it does not declare
 * dropped), or fn(sid, *args, ack=sio.Ack) for a keyword-only `ack`. The value to send as the
 * ack (NOACK: none), or NULL with an exception. */
static PyObject *fast_call(CoreObject *c, PyObject *route, PyObject *sid, PyObject *ev, PyObject *const *vals,
                           Py_ssize_t n, PyObject *ack, PyObject **stack) {
  pysio_state *st = pysio_core_state(c);
  PyObject *fn = PyTuple_GET_ITEM(route, 0);
  Py_ssize_t arity = PyLong_AsSsize_t(PyTuple_GET_ITEM(route, 1));
  int wants = PyTuple_GET_ITEM(route, 2) == Py_True;
  if (arity == -1 && PyErr_Occurred()) return NULL;
  Py_ssize_t np = n + 1 > arity ? (arity > 1 ? arity - 1 : 0) : n;
  stack[1] = sid;
  for (Py_ssize_t i = 0; i < np; i++) stack[2 + i] = vals[i];
  PyObject *sack = NULL, *r;
  if (wants) {
    if (!(sack = pysio_server_ack_new((PyTypeObject *)c->ack_class, c->dispatch, ack))) return NULL;
    stack[2 + np] = sack;
    r = PyObject_Vectorcall(fn, stack + 1, (size_t)(1 + np) | PY_VECTORCALL_ARGUMENTS_OFFSET, st->kw_ack);
  } else {
    r = PyObject_Vectorcall(fn, stack + 1, (size_t)(1 + np) | PY_VECTORCALL_ARGUMENTS_OFFSET, NULL);
  }
  Py_XDECREF(sack);
  if (!r) return NULL;
  if (wants && r == Py_None) {
    Py_DECREF(r);
    return pysio_ref(st->noack);
  }
  int aw = maybe_awaitable(c, r);
  if (aw < 0) {
    Py_DECREF(r);
    return NULL;
  }
  if (!aw) {
    if (!wants) return r;
    Py_DECREF(r);
    return pysio_ref(st->noack);
  }
  /* a coroutine (asyncio mode): dispatch._ack_later(ack, event, awaitable) runs it */
  PyObject *later = PyObject_CallFunctionObjArgs(c->ack_later, wants ? Py_None : ack, ev, r, NULL);
  Py_DECREF(r);
  if (!later) return NULL;
  Py_DECREF(later);
  return pysio_ref(st->noack);
}

/* dispatch._on_event(key, nsp, sid, event, args, ack): the generic route, for what has no fast one. */
static PyObject *slow_call(CoreObject *c, sio_nsp_t *nsp, PyObject *key, PyObject *sid, PyObject *ev,
                           PyObject *const *vals, Py_ssize_t n, PyObject *ack) {
  PyObject *t = PyTuple_New(n);
  if (!t) return NULL;
  for (Py_ssize_t i = 0; i < n; i++) PyTuple_SET_ITEM(t, i, pysio_ref(vals[i]));
  PyObject *name = PyUnicode_FromString(sio_nsp_name(nsp));
  PyObject *r = NULL;
  if (name) {
    PyObject *a[6] = {key, name, sid, ev, t, ack};
    r = PyObject_Vectorcall(c->on[PYSIO_ON_EVENT], a, 6, NULL);
  }
  Py_XDECREF(name);
  Py_DECREF(t);
  return r;
}

/* Core(dispatch): the fast path's objects, when dispatch has them (a sio.Server); else none. */
int pysio_fast_init(CoreObject *c, PyObject *dispatch) {
  PyTypeObject *base = pysio_core_state(c)->server_ack_type;
  PyObject *fast = PyObject_GetAttrString(dispatch, "_fast");
  PyObject *cls = fast ? PyObject_GetAttrString(dispatch, "_ack_class") : NULL;
  PyObject *later = cls ? PyObject_GetAttrString(dispatch, "_ack_later") : NULL;
  if (!later) {
    if (!PyErr_ExceptionMatches(PyExc_AttributeError)) goto fail;
    PyErr_Clear();
  }
  if (later && PyDict_CheckExact(fast) && PyType_Check(cls) && PyType_IsSubtype((PyTypeObject *)cls, base) &&
      ((PyTypeObject *)cls)->tp_basicsize == base->tp_basicsize) {
    PyObject *inspect = PyImport_ImportModule("inspect");
    PyObject *isaw = inspect ? PyObject_GetAttrString(inspect, "isawaitable") : NULL;
    Py_XDECREF(inspect);
    if (!isaw) goto fail;
    Py_XSETREF(c->isawaitable, isaw);
    Py_XSETREF(c->fast, pysio_ref(fast));
    Py_XSETREF(c->dispatch, pysio_ref(dispatch));
    Py_XSETREF(c->ack_class, pysio_ref(cls));
    Py_XSETREF(c->ack_later, pysio_ref(later));
  }
  Py_XDECREF(fast);
  Py_XDECREF(cls);
  Py_XDECREF(later);
  return 0;
fail:
  Py_XDECREF(fast);
  Py_XDECREF(cls);
  Py_XDECREF(later);
  return -1;
}

enum { STACK_ARGS = 16 };

/* The args as Python values into vals (n of them); -1 with an exception (vals cleared). */
static int args_to_vals(const sio_args_t *args, PyObject **vals, Py_ssize_t n) {
  Py_ssize_t i = 0;
  for (const cJSON *j = args && args->json ? args->json->child : NULL; j && i < n; j = j->next, i++) {
    if (!(vals[i] = pysio_from_json_arg(j, args))) {
      while (i > 0) Py_DECREF(vals[--i]);
      return -1;
    }
  }
  return 0;
}

static void dispatch_event(CoreObject *c, sio_socket_t *s, const char *event, const sio_args_t *args,
                           int64_t ack_id) {
  pysio_state *st = pysio_core_state(c);
  sio_nsp_t *nsp = sio_socket_nsp(s);
  Py_ssize_t n = args && args->json ? cJSON_GetArraySize(args->json) : 0;
  /* one array: [scratch, sid, args..., ack] for the vectorcall, then the args themselves */
  PyObject *small[2 * STACK_ARGS + 3], **stack = small;
  if (n > STACK_ARGS && !(stack = PyMem_Malloc(sizeof *stack * (size_t)(2 * n + 3)))) {
    PyErr_NoMemory();
    pysio_log_exception(st, "error in an event handler");
    return;
  }
  PyObject **vals = stack + n + 3;
  PyObject *ev = event_name(c, event), *sid = NULL, *ack = NULL, *r = NULL;
  int have_vals = ev && args_to_vals(args, vals, n) == 0;
  if (have_vals) sid = PyUnicode_FromString(sio_socket_id(s));
  if (sid) ack = pysio_ack_new(c, s, ack_id);
  /* an echo's ack may send the packet's own args (pysio_event_args_same); nested dispatches keep theirs */
  const sio_args_t *prev_args = c->cur_args;
  PyObject *const *prev_vals = c->cur_vals;
  Py_ssize_t prev_n = c->cur_n;
  if (ack) {
    c->cur_args = args && args->json ? args : NULL;
    c->cur_vals = vals;
    c->cur_n = n;
    PyObject *route = fast_route(c, nsp_key(nsp), ev);
    r = route ? fast_call(c, route, sid, ev, vals, n, ack, stack) : slow_call(c, nsp, nsp_key(nsp), sid, ev, vals, n, ack);
    Py_XDECREF(route);
  }
  if (!r) {
    PyObject *msg = PyUnicode_FromFormat("error in the handler of event %R", ev ? ev : Py_None);
    pysio_log_exception(st, msg ? PyUnicode_AsUTF8(msg) : "error in an event handler");
    Py_XDECREF(msg);
  } else if (r != st->noack) {
    pysio_ack_result(ack, r);
  }
  c->cur_args = prev_args;
  c->cur_vals = prev_vals;
  c->cur_n = prev_n;
  Py_XDECREF(r);
  Py_XDECREF(ack);
  Py_XDECREF(sid);
  if (have_vals)
    for (Py_ssize_t i = 0; i < n; i++) Py_DECREF(vals[i]);
  Py_XDECREF(ev);
  if (stack != small) PyMem_Free(stack);
}

/* An incoming event: the fast route (fast_route) or dispatch._on_event(key, nsp, sid, event, args,
 * ack), where ack is an Ack when the client asked for one, else None; the return value is sent
 * through it unless it is NOACK. */
/* The GIL once per loop iteration: inside Core.run() (or run_nowait(), or a worker's thread) on
 * the loop's thread, an event callback takes the GIL and keeps it for the next events of the same
 * poll, and the loop gives it back before it waits or after the poll's callbacks (core.c
 * pysio_gil_end), so other threads wait for one batch at most. A loop whose batch took the GIL
 * counts in pysio_busy_loops until the batch ends: while another loop (another worker, another
 * Server's run()) is handling events too, the GIL goes back after each event (pysio_gil_yield),
 * so that the loops take turns per event and the C work between two events runs on both at once;
 * a loop alone pays for the GIL once per batch. 1: held by the batch (no PyGILState_* needed),
 * 0: not batched (outside the loop, or the GIL held already by a callback further up). */
static int pysio_gil_batch(CoreObject *c) {
  c = pysio_loop_core(c);
  if (c->gil_held) return 1;
  if (!c->loop_ts || c->running != PyThread_get_thread_ident() || PyGILState_Check()) return 0;
  if (!c->gil_busy) {
    c->gil_busy = 1;
    atomic_fetch_add_explicit(&pysio_busy_loops, 1, memory_order_relaxed);
  }
  PyEval_RestoreThread(c->loop_ts);
  c->gil_held = 1;
  return 1;
}

/* After an event of the batch: the GIL goes back now when another loop is handling events, unless
 * this event was dispatched from further up in Python (a packet middleware's next(), or any call
 * from a handler that dispatches at once), whose caller still runs with the GIL. */
static void pysio_gil_yield(CoreObject *c) {
  if (atomic_load_explicit(&pysio_busy_loops, memory_order_relaxed) < 2) return;
  PyFrameObject *f = PyThreadState_GetFrame(PyThreadState_Get());
  if (f) {
    Py_DECREF(f);
    return;
  }
  pysio_gil_drop(pysio_loop_core(c));
}

static void on_event(sio_socket_t *s, const char *event, const sio_args_t *args, int64_t ack_id) {
  CoreObject *c = pysio_core_of_nsp(sio_socket_nsp(s));
  if (pysio_gil_batch(c)) {
    static _Thread_local int depth; /* on_event calls on this thread's stack */
    depth++;
    if (c->on[PYSIO_ON_EVENT]) dispatch_event(c, s, event, args, ack_id);
    if (--depth == 0) pysio_gil_yield(c);
    return;
  }
  PyGILState_STATE g = PyGILState_Ensure();
  if (c->on[PYSIO_ON_EVENT]) dispatch_event(c, s, event, args, ack_id);
  PyGILState_Release(g);
}

/* A socket's outgoing event (its sio_socket_on_any entry, while Python has outgoing catch-alls
 * for it): dispatch._node_outgoing(nsp, sid, event, args). */
void pysio_on_outgoing(sio_socket_t *s, const char *event, const sio_args_t *args, void *arg) {
  CoreObject *c = arg;
  PyGILState_STATE g = PyGILState_Ensure();
  PyObject *fn = c->on[PYSIO_ON_OUTGOING];
  if (fn) {
    PyObject *ev = pysio_str_from_core(event);
    PyObject *t = ev ? pysio_args_to_py(args) : NULL;
    PyObject *r = t ? PyObject_CallFunction(fn, "ssOO", sio_nsp_name(sio_socket_nsp(s)), sio_socket_id(s), ev, t) : NULL;
    if (!r) pysio_log_exception(pysio_core_state(c), "error in an outgoing catch-all listener");
    Py_XDECREF(r);
    Py_XDECREF(t);
    Py_XDECREF(ev);
  }
  PyGILState_Release(g);
}

/* dispatch._on_disconnect(key, nsp, sid, reason), or _on_disconnecting (the socket still in its
 * rooms) for `which` PYSIO_ON_DISCONNECTING. */
static void call_disconnect(sio_socket_t *s, const char *reason, int which) {
  sio_nsp_t *nsp = sio_socket_nsp(s);
  CoreObject *c = pysio_core_of_nsp(nsp);
  PyGILState_STATE g = PyGILState_Ensure();
  PyObject *fn = c->on[which];
  if (fn) {
    PyObject *r = PyObject_CallFunction(fn, "Osss", nsp_key(nsp), sio_nsp_name(nsp), sio_socket_id(s),
                                        reason ? reason : "");
    if (!r)
      pysio_log_exception(pysio_core_state(c), which == PYSIO_ON_DISCONNECT ? "error in the disconnect handler"
                                                                             : "error in the disconnecting handler");
    Py_XDECREF(r);
  }
  PyGILState_Release(g);
}

static void on_disconnecting(sio_socket_t *s, const char *reason) { call_disconnect(s, reason, PYSIO_ON_DISCONNECTING); }
static void on_disconnect(sio_socket_t *s, const char *reason) { call_disconnect(s, reason, PYSIO_ON_DISCONNECT); }

/* The io's data callback (sio_io_on_socket_data): dispatch._socket_data(key, nsp, sid) gives the
 * socket's data (Node's socket.data) as JSON values, or None for {}. Bytes cannot be reported (the
 * nodes exchange JSON): logged, and {} reported. */
cJSON *pysio_socket_data(sio_socket_t *s, void *arg) {
  CoreObject *c = arg;
  sio_nsp_t *nsp = sio_socket_nsp(s);
  PyGILState_STATE g = PyGILState_Ensure();
  cJSON *j = NULL;
  PyObject *fn = c->on[PYSIO_ON_SOCKET_DATA];
  PyObject *r = !fn ? NULL : PyObject_CallFunction(fn, "Oss", nsp_key(nsp), sio_nsp_name(nsp),
                                      sio_socket_id(s));
  if (r && r != Py_None) {
    pysio_bufs_t b = {0};
    j = pysio_to_json(r, &b, 1);
    if (j && b.n) {
      cJSON_Delete(j);
      j = NULL;
      PyErr_SetString(PyExc_ValueError, "socket data holds bytes: fetch_sockets reports JSON values only");
    }
    pysio_bufs_free(&b);
  }
  if (PyErr_Occurred()) pysio_log_exception(pysio_core_state(c), "socket data that fetch_sockets cannot report");
  Py_XDECREF(r);
  PyGILState_Release(g);
  return j;
}

/* Another node's serverSideEmit: dispatch._on_server_event(key, nsp, event, args, reply_id), which
 * answers through server_reply() when reply_id is not None. */
static void on_server_event(sio_nsp_t *nsp, const char *event, const sio_args_t *args, const char *reply_id) {
  CoreObject *c = pysio_core_of_nsp(nsp);
  PyGILState_STATE g = PyGILState_Ensure();
  PyObject *fn = c->on[PYSIO_ON_SERVER_EVENT];
  if (fn) {
    PyObject *ev = pysio_str_from_core(event);
    PyObject *t = ev ? pysio_args_to_py(args) : NULL;
    PyObject *r = t ? PyObject_CallFunction(fn, "OsOOz", nsp_key(nsp), sio_nsp_name(nsp), ev, t, reply_id) : NULL;
    if (!r) {
      PyObject *msg = PyUnicode_FromFormat("error in the server-side handler of event %R", ev ? ev : Py_None);
      pysio_log_exception(pysio_core_state(c), msg ? PyUnicode_AsUTF8(msg) : "error in a server-side event handler");
      Py_XDECREF(msg);
    }
    Py_XDECREF(r);
    Py_XDECREF(t);
    Py_XDECREF(ev);
  } else if (reply_id) {
    sio_nsp_server_reply(nsp, reply_id, NULL); /* nobody listens: an answer without a value */
  }
  PyGILState_Release(g);
}

const sio_nsp_callbacks_t pysio_nsp_callbacks = {.on_connection = on_connection,
                                                 .on_event = on_event,
                                                 .on_disconnecting = on_disconnecting,
                                                 .on_disconnect = on_disconnect,
                                                 .on_server_event = on_server_event};

/* ---- the bare Engine.IO endpoint ---- */

/* on_message(sid, data): text as str (surrogatepass, as Socket.IO strings), binary as bytes. */
void pysio_engine_message(sio_session_t *s, const char *data, size_t len, int binary) {
  CoreObject *c = sio_engine_get_data(sio_session_engine(s));
  PyGILState_STATE g = PyGILState_Ensure();
  if (c->on_engine_message) {
    PyObject *v = binary ? PyBytes_FromStringAndSize(data, (Py_ssize_t)len) : pysio_decode_text(data, (Py_ssize_t)len);
    PyObject *r = v ? PyObject_CallFunction(c->on_engine_message, "sO", sio_session_id(s), v) : NULL;
    if (!r) pysio_log_exception(pysio_core_state(c), "error in an Engine.IO message handler");
    Py_XDECREF(r);
    Py_XDECREF(v);
  }
  PyGILState_Release(g);
}

/* ---- the core's log (sio_server_set_log) ---- */

/* fn(level, component, message) on the loop's thread, under the GIL. It returns False to leave the
 * record to the core's default (sio_log_stderr); an exception there is reported as unraisable
 * (never through logging again, which may be what raised) and the server goes on. */
static void on_log(sio_server_t *server, int level, const char *component, const char *message, void *arg) {
  CoreObject *c = arg;
  PyGILState_STATE g = PyGILState_Ensure();
  int fallback = 1;
  if (c->on_log) {
    PyObject *m = PyUnicode_DecodeUTF8(message, (Py_ssize_t)strlen(message), "backslashreplace");
    PyObject *r = m ? PyObject_CallFunction(c->on_log, "isO", level, component, m) : NULL;
    if (!r) PyErr_WriteUnraisable(c->on_log);
    fallback = !r || r == Py_False;
    Py_XDECREF(r);
    Py_XDECREF(m);
  }
  PyGILState_Release(g);
  if (fallback) sio_log_stderr(server, level, component, message, NULL);
}

/* Core.set_debug(categories, add=False): see the method table (core.c). The list is parsed by the
 * core (sio_debug_parse), once for every binding. */
PyObject *pysio_core_set_debug(CoreObject *c, PyObject *args, PyObject *kw) {
  static char *kwlist[] = {"categories", "add", NULL};
  PyObject *spec;
  int add = 0;
  if (!PyArg_ParseTupleAndKeywords(args, kw, "O|p", kwlist, &spec, &add)) return NULL;
  if (pysio_check_open(c)) return NULL;
  unsigned mask = 0;
  if (PyLong_Check(spec)) {
    long v = PyLong_AsLong(spec);
    if (v == -1 && PyErr_Occurred()) return NULL;
    if (v < 0 || v > SIO_DEBUG_ALL) {
      PyErr_SetString(PyExc_ValueError, "set_debug: not a mask of debug categories");
      return NULL;
    }
    mask = (unsigned)v;
  } else if (PyUnicode_Check(spec)) {
    const char *s = PyUnicode_AsUTF8(spec);
    if (!s) return NULL;
    if (sio_debug_parse(s, &mask)) {
      PyErr_Format(PyExc_ValueError,
                   "set_debug: unknown category in %R (engine, socket, nsp, adapter, redis, http or *)", spec);
      return NULL;
    }
  } else if (spec != Py_None) {
    PyErr_SetString(PyExc_TypeError, "set_debug: categories must be a str, an int or None");
    return NULL;
  }
  if (add) mask |= sio_server_debug(c->server);
  sio_server_set_debug(c->server, mask);
  return PyLong_FromUnsignedLong(sio_server_debug(c->server));
}

/* Core.set_log(level, fn): see the method table (core.c). */
PyObject *pysio_core_set_log(CoreObject *c, PyObject *args) {
  int level;
  PyObject *fn;
  if (!PyArg_ParseTuple(args, "iO", &level, &fn)) return NULL;
  if (fn != Py_None && !PyCallable_Check(fn)) {
    PyErr_SetString(PyExc_TypeError, "set_log: fn must be callable or None");
    return NULL;
  }
  if (pysio_check_open(c)) return NULL;
  if (fn != Py_None) Py_INCREF(fn);
  Py_XSETREF(c->on_log, fn == Py_None ? NULL : fn);
  if (level < 0) sio_server_set_log(c->server, 0, NULL, NULL);
  else sio_server_set_log(c->server, level, c->on_log ? on_log : sio_log_stderr, c->on_log ? (void *)c : NULL);
  Py_RETURN_NONE;
}
