/* sio._core.Handshake and Core.set_hook(): the Engine.IO handshake hooks of sio.h (allow_request,
 * the CORS origin function, the initial_headers and headers hooks, connection_error), for
 * python/sio/server.py, which turns them into python-socketio's and Node's spellings.
 *
 * Each hook is one Python callable (or None: unset) called on the loop's thread with the request
 * as a dict: {"method", "url", "query", "address", "time_ms", "headers": {lower-case name: value}}
 * (latin-1, as WSGI has header values):
 * - "allow_request": fn(Handshake); the Handshake answers once, now or later, on the loop's thread:
 *   accept() or refuse(status=0, message=None). Its `request` is the dict above, `transport`
 *   "polling" or "websocket", `aborted` True once the client is gone (the answer then sends
 *   nothing and returns False). An exception in fn refuses the handshake (logged). A Handshake
 *   dropped unanswered is refused when collected (sio/server.py always answers).
 * - "cors_origin": fn(origin) -> truthy to allow (an exception refuses, logged).
 * - "initial_headers", "headers": fn(request) -> a mapping or a sequence of (name, value) pairs
 *   to add to the response (or None); a pair the core refuses (CR/LF in the value, a name that is
 *   not a token, a header the server writes) is logged and left out.
 * - "connection_error": fn(code, message, context, status, request). */
#include "core.h"
#include "util.h"

#include <structmember.h>

enum { HOOK_ALLOW, HOOK_ORIGIN, HOOK_INITIAL, HOOK_HEADERS, HOOK_ERROR, HOOK_COUNT };
static const char *const hook_names[HOOK_COUNT] = {"allow_request", "cors_origin", "initial_headers",
                                                   "headers", "connection_error"};

/* The callables, allocated on the first set_hook() (most servers set none). */
typedef struct {
  PyObject *fn[HOOK_COUNT];
} hooks_t;

static hooks_t *hooks_of(CoreObject *c) { return (hooks_t *)c->hooks; }

static PyObject *latin1(const char *s) { return PyUnicode_DecodeLatin1(s, (Py_ssize_t)strlen(s), NULL); }

/* The request as a dict (a new reference, or NULL with an exception). */
static PyObject *request_dict(const sio_request_info_t *req) {
  PyObject *headers = PyDict_New();
  if (!headers) return NULL;
  for (size_t i = 0; i < req->header_count; i++) {
    PyObject *k = latin1(req->header_names[i]), *v = latin1(req->header_values[i]);
    int bad = !k || !v || PyDict_SetItem(headers, k, v) < 0;
    Py_XDECREF(k);
    Py_XDECREF(v);
    if (bad) {
      Py_DECREF(headers);
      return NULL;
    }
  }
  return Py_BuildValue("{sNsNsNsNsKsN}", "method", latin1(req->method), "url", latin1(req->url),
                       "query", latin1(req->query), "address", latin1(req->remote_addr), "time_ms",
                       (unsigned long long)req->time_ms, "headers", headers);
}

/* ---------------------------------------------------------------------------------------------- */
/* Handshake                                                                                       */

typedef struct {
  PyObject_HEAD
  sio_handshake_t *hs; /* NULL once answered */
  PyObject *request;
  int transport;
} HandshakeObject;

static void hs_answer_default(HandshakeObject *h) {
  if (!h->hs) return;
  sio_handshake_refuse(h->hs, 0, NULL);
  h->hs = NULL;
}

static void hs_dealloc(HandshakeObject *h) {
  PyTypeObject *type = Py_TYPE(h);
  hs_answer_default(h); /* never left unanswered: the handle would leak */
  Py_CLEAR(h->request);
  type->tp_free(h);
  Py_DECREF(type);
}

static PyObject *hs_accept(HandshakeObject *h, PyObject *unused) {
  (void)unused;
  if (!h->hs) return pysio_raise(pysio_state_of(Py_TYPE(h)), SIO_EALREADY, "accept");
  int r = sio_handshake_accept(h->hs);
  h->hs = NULL;
  return PyBool_FromLong(r == 0);
}

static PyObject *hs_refuse(HandshakeObject *h, PyObject *args, PyObject *kw) {
  static char *kwlist[] = {"status", "message", NULL};
  int status = 0;
  const char *message = NULL;
  if (!PyArg_ParseTupleAndKeywords(args, kw, "|iz", kwlist, &status, &message)) return NULL;
  pysio_state *st = pysio_state_of(Py_TYPE(h));
  if (!h->hs) return pysio_raise(st, SIO_EALREADY, "refuse");
  int r = sio_handshake_refuse(h->hs, status, message);
  if (r == SIO_EINVAL) return pysio_raise(st, r, "refuse");
  h->hs = NULL;
  return PyBool_FromLong(r == 0);
}

static PyObject *hs_get_aborted(HandshakeObject *h, void *unused) {
  (void)unused;
  return PyBool_FromLong(h->hs && sio_handshake_aborted(h->hs));
}

static PyObject *hs_get_answered(HandshakeObject *h, void *unused) {
  (void)unused;
  return PyBool_FromLong(h->hs == NULL);
}

static PyObject *hs_get_transport(HandshakeObject *h, void *unused) {
  (void)unused;
  return PyUnicode_FromString(h->transport == SIO_TRANSPORT_WEBSOCKET ? "websocket" : "polling");
}

static PyMemberDef hs_members[] = {
    {"request", T_OBJECT_EX, offsetof(HandshakeObject, request), READONLY, "the request, a dict"},
    {NULL}};

static PyGetSetDef hs_getset[] = {
    {"aborted", (getter)hs_get_aborted, NULL, "the client is gone: the answer sends nothing", NULL},
    {"answered", (getter)hs_get_answered, NULL, "accept() or refuse() was called", NULL},
    {"transport", (getter)hs_get_transport, NULL, "\"polling\" or \"websocket\"", NULL},
    {NULL}};

static PyMethodDef hs_methods[] = {
    {"accept", (PyCFunction)hs_accept, METH_NOARGS, "accept() -> sent: opens the session"},
    {"refuse", (PyCFunction)(void (*)(void))hs_refuse, METH_VARARGS | METH_KEYWORDS,
     "refuse(status=0, message=None) -> sent: 403 (or status) {\"code\":4,\"message\":...}"},
    {NULL}};

static PyObject *hs_no_new(PyTypeObject *type, PyObject *args, PyObject *kw) {
  (void)args, (void)kw;
  PyErr_Format(PyExc_TypeError, "cannot create '%.100s' instances", type->tp_name);
  return NULL;
}

static PyType_Slot hs_slots[] = {
    {Py_tp_doc, "Handshake: a handshake for the allow_request hook (see sio/_core.pyi)"},
    {Py_tp_new, hs_no_new},
    {Py_tp_dealloc, hs_dealloc},
    {Py_tp_members, hs_members},
    {Py_tp_getset, hs_getset},
    {Py_tp_methods, hs_methods},
    {0, NULL},
};

PyType_Spec pysio_handshake_spec = {
    .name = "sio._core.Handshake",
    .basicsize = sizeof(HandshakeObject),
    .flags = Py_TPFLAGS_DEFAULT,
    .slots = hs_slots,
};

/* ---------------------------------------------------------------------------------------------- */
/* The core's callbacks                                                                            */

static void on_allow(sio_handshake_t *hs, void *arg) {
  CoreObject *c = arg;
  PyGILState_STATE g = PyGILState_Ensure();
  pysio_state *st = pysio_core_state(c);
  PyObject *fn = hooks_of(c) ? hooks_of(c)->fn[HOOK_ALLOW] : NULL;
  HandshakeObject *h = NULL;
  if (fn) h = PyObject_New(HandshakeObject, st->handshake_type);
  if (!h) {
    if (PyErr_Occurred()) pysio_log_exception(st, "allow_request");
    sio_handshake_refuse(hs, 0, NULL);
    PyGILState_Release(g);
    return;
  }
  h->hs = hs;
  h->transport = sio_handshake_transport(hs);
  h->request = request_dict(sio_handshake_request(hs));
  PyObject *res = h->request ? PyObject_CallOneArg(fn, (PyObject *)h) : NULL;
  if (!res) {
    pysio_log_exception(st, "error in allow_request");
    hs_answer_default(h);
  }
  Py_XDECREF(res);
  Py_DECREF(h); /* unanswered and unreferenced: refused by hs_dealloc */
  PyGILState_Release(g);
}

static int on_origin(const char *origin, void *arg) {
  CoreObject *c = arg;
  PyGILState_STATE g = PyGILState_Ensure();
  PyObject *fn = hooks_of(c) ? hooks_of(c)->fn[HOOK_ORIGIN] : NULL;
  int ok = 0;
  if (fn) {
    PyObject *res = PyObject_CallFunction(fn, "N", latin1(origin));
    ok = res ? PyObject_IsTrue(res) : -1;
    Py_XDECREF(res);
    if (ok < 0) {
      pysio_log_exception(pysio_core_state(c), "error in the cors_allowed_origins function");
      ok = 0;
    }
  }
  PyGILState_Release(g);
  return ok;
}

/* Adds what fn returned: a mapping or a sequence of (name, value). */
static void add_headers(pysio_state *st, sio_headers_t *hd, PyObject *res) {
  PyObject *items = PyMapping_Check(res) && !PySequence_Check(res) ? PyMapping_Items(res)
                                                                   : PySequence_List(res);
  if (!items) {
    pysio_log_exception(st, "a headers hook must return a mapping or (name, value) pairs");
    return;
  }
  for (Py_ssize_t i = 0; i < PyList_GET_SIZE(items); i++) {
    PyObject *pair = PyList_GET_ITEM(items, i);
    const char *name, *value;
    if (!PyTuple_Check(pair) || !PyArg_ParseTuple(pair, "ss", &name, &value)) {
      if (!PyErr_Occurred()) PyErr_SetString(PyExc_TypeError, "a header is a (name, value) pair of str");
      pysio_log_exception(st, "a headers hook's result");
      continue;
    }
    if (sio_headers_set(hd, name, value) != 0) {
      PyErr_Format(PyExc_ValueError, "header %R refused: %s", pair, sio_last_error());
      pysio_log_exception(st, "a headers hook's result");
    }
  }
  Py_DECREF(items);
}

static void call_headers(CoreObject *c, int which, sio_headers_t *hd, const sio_request_info_t *req) {
  PyGILState_STATE g = PyGILState_Ensure();
  pysio_state *st = pysio_core_state(c);
  PyObject *fn = hooks_of(c) ? hooks_of(c)->fn[which] : NULL;
  if (fn) {
    PyObject *d = request_dict(req);
    PyObject *res = d ? PyObject_CallOneArg(fn, d) : NULL;
    Py_XDECREF(d);
    if (!res) pysio_log_exception(st, hook_names[which]);
    else if (res != Py_None) add_headers(st, hd, res);
    Py_XDECREF(res);
  }
  PyGILState_Release(g);
}

static void on_initial_headers(sio_headers_t *hd, const sio_request_info_t *req, void *arg) {
  call_headers(arg, HOOK_INITIAL, hd, req);
}

static void on_headers(sio_headers_t *hd, const sio_request_info_t *req, void *arg) {
  call_headers(arg, HOOK_HEADERS, hd, req);
}

static void on_error(const sio_connection_error_t *err, void *arg) {
  CoreObject *c = arg;
  PyGILState_STATE g = PyGILState_Ensure();
  PyObject *fn = hooks_of(c) ? hooks_of(c)->fn[HOOK_ERROR] : NULL;
  if (fn) {
    PyObject *d = err->req ? request_dict(err->req) : (Py_INCREF(Py_None), Py_None);
    PyObject *res = d ? PyObject_CallFunction(fn, "isziN", err->code, err->message, err->context,
                                              err->status, d)
                      : NULL;
    if (!res) pysio_log_exception(pysio_core_state(c), "error in a connection_error handler");
    Py_XDECREF(res);
  }
  PyGILState_Release(g);
}

/* ---------------------------------------------------------------------------------------------- */
/* Core.set_hook                                                                                   */

PyObject *pysio_core_set_hook(CoreObject *c, PyObject *args) {
  const char *name;
  PyObject *fn;
  if (!PyArg_ParseTuple(args, "sO", &name, &fn)) return NULL;
  if (pysio_check_open(c)) return NULL;
  int which = -1;
  for (int i = 0; i < HOOK_COUNT; i++)
    if (strcmp(name, hook_names[i]) == 0) which = i;
  if (which < 0) return PyErr_Format(PyExc_ValueError, "no hook named %R", PyTuple_GET_ITEM(args, 0));
  if (fn != Py_None && !PyCallable_Check(fn)) return PyErr_Format(PyExc_TypeError, "%R is not callable", fn);
  if (!c->hooks && !(c->hooks = PyMem_Calloc(1, sizeof(hooks_t)))) return PyErr_NoMemory();
  hooks_t *h = hooks_of(c);
  PyObject *old = h->fn[which];
  h->fn[which] = fn == Py_None ? NULL : (Py_INCREF(fn), fn);
  Py_XDECREF(old);
  sio_engine_t *e = sio_io_engine(c->io);
  int on = h->fn[which] != NULL;
  switch (which) {
    case HOOK_ALLOW: sio_engine_set_allow_request(e, on ? on_allow : NULL, c); break;
    case HOOK_ORIGIN: sio_engine_set_cors_origin_fn(e, on ? on_origin : NULL, c); break;
    case HOOK_INITIAL: sio_engine_set_headers_hook(e, SIO_HEADERS_INITIAL, on ? on_initial_headers : NULL, c); break;
    case HOOK_HEADERS: sio_engine_set_headers_hook(e, SIO_HEADERS_ALL, on ? on_headers : NULL, c); break;
    default: sio_engine_on_connection_error(e, on ? on_error : NULL, c); break;
  }
  Py_RETURN_NONE;
}

int pysio_hooks_traverse(CoreObject *c, visitproc visit, void *arg) {
  if (!c->hooks) return 0;
  for (int i = 0; i < HOOK_COUNT; i++) Py_VISIT(hooks_of(c)->fn[i]);
  return 0;
}

/* Drops the callables; the engine's hooks stay set and find none (allow_request then refuses). */
void pysio_hooks_clear(CoreObject *c) {
  if (!c->hooks) return;
  for (int i = 0; i < HOOK_COUNT; i++) Py_CLEAR(hooks_of(c)->fn[i]);
}

void pysio_hooks_free(CoreObject *c) {
  pysio_hooks_clear(c);
  PyMem_Free(c->hooks);
  c->hooks = NULL;
}
