/* sio._core.HttpRequest and Core.handler(): plain HTTP requests that neither Socket.IO nor a static
 * mount claims (sio_server_handler), for the WSGI and ASGI apps of python/sio/apps.py.
 *
 * A request arrives as an HttpRequest whose attributes are read once, at arrival (the core's
 * handle is released by the answer): method, path (percent-decoded), raw_path, query_string,
 * protocol, headers (a list of (name, value), names lower-cased, latin-1 as WSGI has them), body
 * (bytes), remote_addr, remote_port. respond(status, headers, body) answers once, on the loop's
 * thread. While unanswered the C side holds a reference to the object (the handle's data); when
 * the client goes away first (or the server closes, or the request times out) the handle is
 * released at once, `aborted` becomes True, `on_abort` (when set) is called, and a later respond()
 * returns False. */
#include "core.h"
#include "util.h"

#include <structmember.h>

static PyObject *new_ref(PyObject *o) {
  Py_INCREF(o);
  return o;
}

typedef struct {
  PyObject_HEAD
  sio_http_req_t *req; /* NULL once answered or aborted */
  int aborted, answered;
  PyObject *method, *path, *raw_path, *query_string, *protocol, *headers, *body, *remote_addr;
  PyObject *on_abort;
  int remote_port;
  int secure;
} ReqObject;

static int req_traverse(ReqObject *r, visitproc visit, void *arg) {
  Py_VISIT(Py_TYPE(r));
  Py_VISIT(r->on_abort);
  return 0;
}

static int req_clear(ReqObject *r) {
  Py_CLEAR(r->on_abort);
  return 0;
}

static void req_dealloc(ReqObject *r) {
  PyTypeObject *type = Py_TYPE(r);
  PyObject_GC_UnTrack(r);
  req_clear(r);
  Py_CLEAR(r->method);
  Py_CLEAR(r->path);
  Py_CLEAR(r->raw_path);
  Py_CLEAR(r->query_string);
  Py_CLEAR(r->protocol);
  Py_CLEAR(r->headers);
  Py_CLEAR(r->body);
  Py_CLEAR(r->remote_addr);
  type->tp_free(r);
  Py_DECREF(type);
}

static PyObject *latin1(const char *s) { return PyUnicode_DecodeLatin1(s, (Py_ssize_t)strlen(s), NULL); }

/* The C side's reference goes with the handle (the object may be freed: nothing after this). */
static void release(ReqObject *r) {
  r->req = NULL;
  Py_DECREF(r);
}

static void on_abort(sio_http_req_t *req) {
  PyGILState_STATE g = PyGILState_Ensure();
  ReqObject *r = sio_http_req_get_data(req);
  r->aborted = 1;
  sio_http_respond(req, 503, NULL, NULL, 0); /* SIO_ECLOSED: only releases the handle */
  r->req = NULL;
  if (r->on_abort && r->on_abort != Py_None) {
    PyObject *res = PyObject_CallNoArgs(r->on_abort);
    if (!res) pysio_log_exception(pysio_state_of(Py_TYPE(r)), "error in an HTTP request's on_abort");
    Py_XDECREF(res);
  }
  Py_DECREF(r);
  PyGILState_Release(g);
}

static ReqObject *req_new(pysio_state *st, sio_http_req_t *req) {
  ReqObject *r = (ReqObject *)st->http_request_type->tp_alloc(st->http_request_type, 0);
  if (!r) return NULL;
  size_t blen;
  const char *body = sio_http_req_body(req, &blen);
  r->method = latin1(sio_http_req_method(req));
  r->path = PyUnicode_FromString(sio_http_req_decoded_path(req)); /* UTF-8: the core checked */
  r->raw_path = latin1(sio_http_req_path(req));
  r->query_string = latin1(sio_http_req_query(req));
  r->protocol = latin1(sio_http_req_protocol(req));
  r->remote_addr = latin1(sio_http_req_remote_addr(req));
  r->remote_port = sio_http_req_remote_port(req);
  r->secure = sio_http_req_secure(req);
  r->body = PyBytes_FromStringAndSize(body, (Py_ssize_t)blen);
  size_t n = sio_http_req_header_count(req);
  r->headers = PyList_New((Py_ssize_t)n);
  if (!r->method || !r->path || !r->raw_path || !r->query_string || !r->protocol || !r->remote_addr ||
      !r->body || !r->headers) {
    Py_DECREF(r);
    return NULL;
  }
  for (size_t i = 0; i < n; i++) {
    const char *name, *value;
    sio_http_req_header_at(req, i, &name, &value);
    PyObject *pair = Py_BuildValue("(NN)", latin1(name), latin1(value));
    if (!pair) {
      Py_DECREF(r);
      return NULL;
    }
    PyList_SET_ITEM(r->headers, (Py_ssize_t)i, pair);
  }
  return r;
}

/* The core's callback: a request for Core.handler()'s callback. */
static void on_request(sio_http_req_t *req, void *arg) {
  CoreObject *c = arg;
  PyGILState_STATE g = PyGILState_Ensure();
  pysio_state *st = pysio_core_state(c);
  ReqObject *r = c->on_http ? req_new(st, req) : NULL;
  if (!r) {
    if (PyErr_Occurred()) pysio_log_exception(st, "an HTTP request could not be converted");
    sio_http_respond(req, 500, NULL, NULL, 0);
    PyGILState_Release(g);
    return;
  }
  r->req = req;
  Py_INCREF(r); /* the C side's, until answered or aborted */
  sio_http_req_set_data(req, r);
  sio_http_req_on_abort(req, on_abort);
  PyObject *res = PyObject_CallOneArg(c->on_http, (PyObject *)r);
  if (!res) {
    pysio_log_exception(st, "error in the HTTP handler");
    if (r->req) {
      sio_http_respond(r->req, 500, NULL, NULL, 0);
      r->answered = 1;
      release(r);
    }
  }
  Py_XDECREF(res);
  Py_DECREF(r);
  PyGILState_Release(g);
}

/* A header name or value as bytes (str: latin-1, as WSGI's). New reference, or NULL. */
static PyObject *header_bytes(PyObject *o) {
  if (PyBytes_Check(o)) return new_ref(o);
  if (PyUnicode_Check(o)) return PyUnicode_AsLatin1String(o);
  PyErr_Format(PyExc_TypeError, "a header name or value must be str or bytes, not %.200s", Py_TYPE(o)->tp_name);
  return NULL;
}

/* respond(status, headers=(), body=b"") -> True when queued, False when the client was gone.
 * AlreadyAnsweredError when answered before; InvalidArgumentError for a bad status or header
 * (then it may be called again). */
static PyObject *req_respond(ReqObject *r, PyObject *args, PyObject *kw) {
  static char *kwlist[] = {"status", "headers", "body", NULL};
  int status;
  PyObject *headers = NULL;
  Py_buffer body = {0};
  if (!PyArg_ParseTupleAndKeywords(args, kw, "i|Oy*", kwlist, &status, &headers, &body)) return NULL;
  pysio_state *st = pysio_state_of(Py_TYPE(r));
  PyObject *result = NULL, *seq = NULL, *held = NULL;
  const char **hs = NULL;
  if (r->answered) {
    pysio_raise(st, SIO_EALREADY, "respond");
    goto done;
  }
  if (!r->req) {
    result = new_ref(Py_False);
    goto done;
  }
  Py_ssize_t n = 0;
  if (headers && headers != Py_None) {
    if (!(seq = PySequence_Fast(headers, "headers must be a sequence of (name, value)"))) goto done;
    n = PySequence_Fast_GET_SIZE(seq);
  }
  if (!(held = PyList_New(0)) || !(hs = PyMem_Calloc((size_t)(2 * n + 1), sizeof *hs))) {
    if (!PyErr_Occurred()) PyErr_NoMemory();
    goto done;
  }
  for (Py_ssize_t i = 0; i < n; i++) {
    PyObject *pair = PySequence_Fast_GET_ITEM(seq, i);
    if (!PyTuple_Check(pair) || PyTuple_GET_SIZE(pair) != 2) {
      PyErr_SetString(PyExc_TypeError, "headers must be a sequence of (name, value)");
      goto done;
    }
    for (int k = 0; k < 2; k++) {
      PyObject *b = header_bytes(PyTuple_GET_ITEM(pair, k));
      if (!b) goto done;
      int bad = PyList_Append(held, b);
      Py_DECREF(b);
      if (bad) goto done;
      if ((size_t)PyBytes_GET_SIZE(b) != strlen(PyBytes_AS_STRING(b))) {
        PyErr_SetString(PyExc_ValueError, "a header holds a NUL byte");
        goto done;
      }
      hs[2 * i + k] = PyBytes_AS_STRING(b);
    }
  }
  int rc = sio_http_respond(r->req, status, hs, body.buf, body.buf ? (size_t)body.len : 0);
  if (rc == SIO_EINVAL) {
    pysio_raise(st, rc, "respond");
    goto done;
  }
  r->answered = 1;
  release(r); /* r stays alive: the caller holds it */
  if (rc && rc != SIO_ECLOSED) {
    pysio_raise(st, rc, "respond");
    goto done;
  }
  result = PyBool_FromLong(rc == 0);
done:
  PyMem_Free(hs);
  Py_XDECREF(held);
  Py_XDECREF(seq);
  if (body.buf) PyBuffer_Release(&body);
  return result;
}

static PyObject *req_get_aborted(ReqObject *r, void *unused) {
  (void)unused;
  return PyBool_FromLong(r->aborted);
}

static PyObject *req_get_answered(ReqObject *r, void *unused) {
  (void)unused;
  return PyBool_FromLong(r->answered);
}

static PyObject *req_get_on_abort(ReqObject *r, void *unused) {
  (void)unused;
  return new_ref(r->on_abort ? r->on_abort : Py_None);
}

static int req_set_on_abort(ReqObject *r, PyObject *v, void *unused) {
  (void)unused;
  Py_XINCREF(v);
  Py_XSETREF(r->on_abort, v);
  return 0;
}

static PyMemberDef req_members[] = {
    {"method", T_OBJECT_EX, offsetof(ReqObject, method), READONLY, "\"GET\", \"POST\"..."},
    {"path", T_OBJECT_EX, offsetof(ReqObject, path), READONLY, "the path, percent-decoded"},
    {"raw_path", T_OBJECT_EX, offsetof(ReqObject, raw_path), READONLY, "the path as sent"},
    {"query_string", T_OBJECT_EX, offsetof(ReqObject, query_string), READONLY, "after '?', as sent"},
    {"protocol", T_OBJECT_EX, offsetof(ReqObject, protocol), READONLY, "\"HTTP/1.1\" or \"HTTP/1.0\""},
    {"headers", T_OBJECT_EX, offsetof(ReqObject, headers), READONLY, "[(name, value)], lower-case names"},
    {"body", T_OBJECT_EX, offsetof(ReqObject, body), READONLY, "bytes (de-chunked)"},
    {"remote_addr", T_OBJECT_EX, offsetof(ReqObject, remote_addr), READONLY, "the peer's address"},
    {"remote_port", T_INT, offsetof(ReqObject, remote_port), READONLY, "the peer's port"},
    {"secure", T_BOOL, offsetof(ReqObject, secure), READONLY, "it came over TLS (https)"},
    {NULL}};

static PyGetSetDef req_getset[] = {
    {"aborted", (getter)req_get_aborted, NULL, "the response can no longer be sent", NULL},
    {"answered", (getter)req_get_answered, NULL, "respond() was called", NULL},
    {"on_abort", (getter)req_get_on_abort, (setter)req_set_on_abort, "called once if aborted", NULL},
    {NULL}};

static PyMethodDef req_methods[] = {
    {"respond", (PyCFunction)(void (*)(void))req_respond, METH_VARARGS | METH_KEYWORDS,
     "respond(status, headers=(), body=b'') -> sent: answers once, on the loop's thread"},
    {NULL}};

static PyObject *req_no_new(PyTypeObject *type, PyObject *args, PyObject *kw) {
  (void)args;
  (void)kw;
  PyErr_Format(PyExc_TypeError, "cannot create '%.100s' instances", type->tp_name);
  return NULL;
}

static PyType_Slot req_slots[] = {
    {Py_tp_doc, "HttpRequest: a plain HTTP request for Core.handler()'s callback (see sio/_core.pyi)"},
    {Py_tp_new, req_no_new},
    {Py_tp_dealloc, req_dealloc},
    {Py_tp_traverse, req_traverse},
    {Py_tp_clear, req_clear},
    {Py_tp_members, req_members},
    {Py_tp_getset, req_getset},
    {Py_tp_methods, req_methods},
    {0, NULL},
};

PyType_Spec pysio_http_request_spec = {
    .name = "sio._core.HttpRequest",
    .basicsize = sizeof(ReqObject),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .slots = req_slots,
};

/* handler(prefix, callback, max_body=None): callback(HttpRequest) for every request under prefix
 * that no engine or static mount claims. One per server. */
PyObject *pysio_core_handler(CoreObject *c, PyObject *args, PyObject *kw) {
  static char *kwlist[] = {"prefix", "callback", "max_body", NULL};
  const char *prefix;
  PyObject *cb, *max_body = Py_None;
  if (!PyArg_ParseTupleAndKeywords(args, kw, "sO|O", kwlist, &prefix, &cb, &max_body)) return NULL;
  if (pysio_check_open(c)) return NULL;
  if (c->on_http) {
    PyErr_SetString(PyExc_RuntimeError, "this server already has an HTTP handler");
    return NULL;
  }
  sio_handler_options_t o;
  sio_handler_options_init(&o);
  if (max_body != Py_None) {
    o.max_body = PyLong_AsSize_t(max_body);
    if (PyErr_Occurred()) return NULL;
  }
  int r = sio_server_handler(c->server, prefix, on_request, c, &o);
  if (r) return pysio_raise(pysio_core_state(c), r, prefix);
  Py_INCREF(cb);
  c->on_http = cb;
  Py_RETURN_NONE;
}
