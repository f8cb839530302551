/* sio._core: the CPython extension over core/include/sio.h.
 *
 * Thin by design: it owns a uv loop, a sio_server_t and a sio_io_t, converts values between Python
 * objects and the core's cJSON trees + binary attachments, and forwards the core's callbacks to a
 * Python "dispatch" object (sio.Server) that picks the handler. Protocol logic stays in the core.
 *
 * The GIL: run() and run_nowait() release it around uv_run; every callback from the core takes it
 * with PyGILState_Ensure (which also works when a core call made from Python calls back at once).
 * Everything but stop() and wakeup() must be called on the thread running the loop.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <signal.h>
#include <stdatomic.h>
#include <string.h>

#include "sio.h"

#define MAX_DEPTH 64 /* the core's own limit for a packet's nesting */

static PyObject *NoAck;  /* sio._core.NOACK: a dispatcher returning it sends no ack */
static PyObject *Logger; /* logging.getLogger("sio") */

typedef struct ctimer_s ctimer_t;
typedef struct TimerObject TimerObject;

typedef struct {
  PyObject_HEAD
  uv_loop_t loop;
  int loop_ready;
  sio_server_t *server;
  sio_io_t *io;
  uv_async_t async;
  uv_signal_t sigint, sigterm;
  int signals_on;
  struct sigaction old_int, old_term;
  int stopping;
  int closed;
  atomic_int stop_requested;
  atomic_int wake_requested;
  PyObject *keys; /* list: the namespace keys stored as nsp data (kept alive here) */
  PyObject *m_connect, *m_connected, *m_event, *m_disconnect, *m_drain, *m_closed;
  PyObject *m_server_event; /* _on_server_event(key, nsp, event, args, reply_id) */
  ctimer_t *timers;
  sio_engine_options_t eio; /* the io's engine options (cors, cookie copied below), for engine() */
  char *cors;
  char *cookie[4]; /* the cookie's name, path, domain, same_site */
  sio_engine_t *engine;     /* the optional bare Engine.IO endpoint */
  PyObject *m_engine;       /* its on_message(sid, data) */
  PyObject *mw_pending;     /* dict: token -> capsule of a socket whose connect handler awaits */
  long long mw_seq;
} CoreObject;

struct ctimer_s {
  uv_timer_t h;
  CoreObject *core;
  PyObject *fn;
  TimerObject *py; /* borrowed back pointer, cleared when either side goes */
  ctimer_t *prev, *next;
};

struct TimerObject {
  PyObject_HEAD
  ctimer_t *t;
};

static PyTypeObject CoreType;
static PyTypeObject TimerType;

/* ---------------------------------------------------------------------------------------------- */
/* Errors and logging                                                                              */

static PyObject *raise_sio(int err) {
  PyObject *type = PyExc_RuntimeError;
  if (err == SIO_EINVAL || err == SIO_ERESERVED) type = PyExc_ValueError;
  else if (err == SIO_ENOMEM) return PyErr_NoMemory();
  else if (err == SIO_ECLOSED || err == SIO_EUNAVAIL) type = PyExc_ConnectionError;
  else if (err == SIO_ENOTFOUND) type = PyExc_KeyError;
  else if (err > -4096) type = PyExc_OSError;
  PyErr_Format(type, "%s: %s", sio_err_name(err), sio_strerror(err));
  return NULL;
}

/* How a callback's error argument names a status: None, "timeout", "unavailable" (Redis not
 * connected or lost) or "closed" (the socket or the server went away). */
static const char *status_name(int status) {
  return status == 0 ? NULL : status == SIO_ETIMEDOUT ? "timeout" : status == SIO_EUNAVAIL ? "unavailable" : "closed";
}

/* Logs the pending Python exception through logging.getLogger("sio") with its traceback, then
 * clears it. Never raises. */
static void log_exception(const char *what) {
  PyObject *type, *value, *tb;
  PyErr_Fetch(&type, &value, &tb);
  if (!type) return;
  PyErr_NormalizeException(&type, &value, &tb);
  if (tb && value) PyException_SetTraceback(value, tb);
  PyObject *r = NULL;
  if (Logger && value) {
    PyObject *kw = Py_BuildValue("{s:O}", "exc_info", value);
    PyObject *args = Py_BuildValue("(ss)", "%s", what);
    PyObject *meth = PyObject_GetAttrString(Logger, "error");
    if (kw && args && meth) r = PyObject_Call(meth, args, kw);
    Py_XDECREF(kw);
    Py_XDECREF(args);
    Py_XDECREF(meth);
  }
  if (!r) {
    PyErr_Clear();
    PyErr_Restore(type, value, tb);
    PyErr_Print();
  } else {
    Py_DECREF(r);
    Py_XDECREF(type);
    Py_XDECREF(value);
    Py_XDECREF(tb);
  }
}

/* Calls cb(error, value) for a request that ended with `status`, then lets go of cb (its owned
 * reference) and value (may be NULL: the Python error is logged instead). Under the GIL. */
static void deliver(PyObject *cb, int status, PyObject *value, const char *what) {
  PyObject *r = value ? PyObject_CallFunction(cb, "zO", status_name(status), value) : NULL;
  if (!r) log_exception(what);
  Py_XDECREF(r);
  Py_XDECREF(value);
  Py_DECREF(cb);
}

/* ---------------------------------------------------------------------------------------------- */
/* Values                                                                                          */

typedef struct {
  sio_buf_t *bufs;
  Py_buffer *views;
  size_t n, cap;
} bufs_t;

static void bufs_free(bufs_t *b) {
  for (size_t i = 0; i < b->n; i++) PyBuffer_Release(&b->views[i]);
  PyMem_Free(b->bufs);
  PyMem_Free(b->views);
  b->bufs = NULL;
  b->views = NULL;
  b->n = b->cap = 0;
}

static int bufs_add(bufs_t *b, PyObject *o) {
  if (b->n == b->cap) {
    size_t cap = b->cap ? b->cap * 2 : 4;
    sio_buf_t *nb = PyMem_Realloc(b->bufs, cap * sizeof *nb);
    if (!nb) return -1;
    b->bufs = nb;
    Py_buffer *nv = PyMem_Realloc(b->views, cap * sizeof *nv);
    if (!nv) return -1;
    b->views = nv;
    b->cap = cap;
  }
  if (PyObject_GetBuffer(o, &b->views[b->n], PyBUF_CONTIG_RO) < 0) return -1;
  b->bufs[b->n].data = b->views[b->n].buf;
  b->bufs[b->n].len = (size_t)b->views[b->n].len;
  b->n++;
  return 0;
}

/* A Python str in the core's string form: UTF-8, with each NUL held as C0 80 and a lone surrogate
 * ('\ud83d', which a Python str can hold) in its three-byte form ED A0..BF xx (the wire writes both
 * back as JSON escapes). Most strings are borrowed as they are (their cached UTF-8); otherwise the
 * bytes live in a new bytes object returned in *holder (the caller releases it). NULL on error. */
static const char *core_str(PyObject *o, PyObject **holder) {
  *holder = NULL;
  Py_ssize_t len;
  const char *s = PyUnicode_AsUTF8AndSize(o, &len);
  PyObject *wtf8 = NULL;
  if (!s) {
    /* Only a surrogate makes strict UTF-8 fail: then "surrogatepass" writes it as three bytes. */
    if (!PyErr_ExceptionMatches(PyExc_UnicodeEncodeError)) return NULL;
    PyErr_Clear();
    if (!(wtf8 = PyUnicode_AsEncodedString(o, "utf-8", "surrogatepass"))) return NULL;
    s = PyBytes_AS_STRING(wtf8);
    len = PyBytes_GET_SIZE(wtf8);
  }
  if (!memchr(s, 0, (size_t)len)) {
    *holder = wtf8;
    return s;
  }
  size_t nul = 0;
  for (Py_ssize_t i = 0; i < len; i++) nul += s[i] == 0;
  PyObject *held = PyBytes_FromStringAndSize(NULL, len + (Py_ssize_t)nul);
  if (!held) {
    Py_XDECREF(wtf8);
    return NULL;
  }
  char *p = PyBytes_AS_STRING(held);
  for (Py_ssize_t i = 0; i < len; i++) {
    if (s[i] == 0) {
      *p++ = (char)0xC0;
      *p++ = (char)0x80;
    } else {
      *p++ = s[i];
    }
  }
  Py_XDECREF(wtf8);
  *holder = held;
  return PyBytes_AS_STRING(held);
}

static cJSON *str_to_json(PyObject *o) {
  PyObject *holder;
  const char *s = core_str(o, &holder);
  if (!s) return NULL;
  cJSON *j = cJSON_CreateString(s);
  Py_XDECREF(holder);
  if (!j) PyErr_NoMemory();
  return j;
}

/* A str argument in the core's string form, for PyArg's "O&" (text_arg, &t with t zeroed):
 * release with text_release() once the call is done. */
typedef struct {
  const char *s;
  PyObject *holder;
} text_t;

static void text_release(text_t *t) {
  Py_CLEAR(t->holder);
  t->s = NULL;
}

static int text_arg(PyObject *o, void *p) {
  text_t *t = p;
  if (!o) { /* PyArg cleans up after a later argument failed */
    text_release(t);
    return 1;
  }
  if (!PyUnicode_Check(o)) {
    PyErr_Format(PyExc_TypeError, "expected str, not %.200s", Py_TYPE(o)->tp_name);
    return 0;
  }
  t->s = core_str(o, &t->holder);
  return t->s ? Py_CLEANUP_SUPPORTED : 0;
}

/* Core string bytes as a str: "surrogatepass" turns a lone surrogate's three bytes back into the
 * surrogate; anything else that is not UTF-8 (never from the wire, which is validated) becomes
 * U+FFFD rather than an error. */
static PyObject *decode_core_utf8(const char *s, Py_ssize_t len) {
  PyObject *r = PyUnicode_DecodeUTF8(s, len, "surrogatepass");
  if (r || !PyErr_ExceptionMatches(PyExc_UnicodeDecodeError)) return r;
  PyErr_Clear();
  return PyUnicode_DecodeUTF8(s, len, "replace");
}

/* A cJSON string (C0 80 standing for NUL, ED A0..BF xx for a lone surrogate) as a Python str. */
static PyObject *str_from_json(const char *s) {
  if (!s) return PyUnicode_FromStringAndSize("", 0);
  size_t len = strlen(s);
  const char *hit = len > 1 ? memchr(s, 0xC0, len) : NULL;
  if (!hit) return decode_core_utf8(s, (Py_ssize_t)len);
  char *t = PyMem_Malloc(len + 1), *p = t;
  if (!t) return PyErr_NoMemory();
  for (size_t i = 0; i < len; i++) {
    if ((unsigned char)s[i] == 0xC0 && i + 1 < len && (unsigned char)s[i + 1] == 0x80) {
      *p++ = 0;
      i++;
    } else {
      *p++ = s[i];
    }
  }
  PyObject *r = decode_core_utf8(t, p - t);
  PyMem_Free(t);
  return r;
}

static cJSON *to_json(PyObject *o, bufs_t *b, int depth);

static cJSON *seq_to_json(PyObject *o, bufs_t *b, int depth) {
  cJSON *arr = cJSON_CreateArray();
  if (!arr) return (cJSON *)PyErr_NoMemory();
  PyObject *fast = PySequence_Fast(o, "expected a sequence");
  if (!fast) goto fail;
  Py_ssize_t n = PySequence_Fast_GET_SIZE(fast);
  PyObject **items = PySequence_Fast_ITEMS(fast);
  for (Py_ssize_t i = 0; i < n; i++) {
    cJSON *c = to_json(items[i], b, depth + 1);
    if (!c) {
      Py_DECREF(fast);
      goto fail;
    }
    cJSON_AddItemToArray(arr, c);
  }
  Py_DECREF(fast);
  return arr;
fail:
  cJSON_Delete(arr);
  return NULL;
}

static cJSON *to_json(PyObject *o, bufs_t *b, int depth) {
  if (depth > MAX_DEPTH) {
    PyErr_Format(PyExc_ValueError, "value nested deeper than %d levels", MAX_DEPTH);
    return NULL;
  }
  cJSON *j = NULL;
  if (o == Py_None) j = cJSON_CreateNull();
  else if (o == Py_True) j = cJSON_CreateTrue();
  else if (o == Py_False) j = cJSON_CreateFalse();
  else if (PyUnicode_Check(o)) return str_to_json(o);
  else if (PyLong_Check(o)) {
    double d = PyLong_AsDouble(o);
    if (d == -1.0 && PyErr_Occurred()) return NULL;
    j = cJSON_CreateNumber(d);
  } else if (PyFloat_Check(o)) {
    j = cJSON_CreateNumber(PyFloat_AS_DOUBLE(o));
  } else if (PyList_Check(o) || PyTuple_Check(o)) {
    return seq_to_json(o, b, depth);
  } else if (PyDict_Check(o)) {
    j = cJSON_CreateObject();
    if (!j) return (cJSON *)PyErr_NoMemory();
    PyObject *k, *v;
    Py_ssize_t pos = 0;
    while (PyDict_Next(o, &pos, &k, &v)) {
      if (!PyUnicode_Check(k)) {
        PyErr_Format(PyExc_TypeError, "dict keys must be str, not %.200s", Py_TYPE(k)->tp_name);
        cJSON_Delete(j);
        return NULL;
      }
      cJSON *key = str_to_json(k);
      if (!key) {
        cJSON_Delete(j);
        return NULL;
      }
      cJSON *c = to_json(v, b, depth + 1);
      if (!c) {
        cJSON_Delete(key);
        cJSON_Delete(j);
        return NULL;
      }
      cJSON_AddItemToObject(j, key->valuestring, c);
      cJSON_Delete(key);
    }
    return j;
  } else if (PyBytes_Check(o) || PyByteArray_Check(o) || PyMemoryView_Check(o)) {
    size_t num = b->n;
    if (bufs_add(b, o) < 0) return NULL;
    j = cJSON_CreateObject();
    if (!j) return (cJSON *)PyErr_NoMemory();
    cJSON_AddTrueToObject(j, "_placeholder");
    cJSON_AddNumberToObject(j, "num", (double)num);
    return j;
  } else {
    PyErr_Format(PyExc_TypeError,
                 "object of type %.200s cannot be sent over Socket.IO (use dict, list, tuple, str, "
                 "int, float, bool, None, bytes, bytearray or memoryview)",
                 Py_TYPE(o)->tp_name);
    return NULL;
  }
  if (!j) PyErr_NoMemory();
  return j;
}

/* An integral number within +-2^53 as an int, anything else as a float. The range comes first:
 * 1e300, inf and NaN never reach the cast (undefined behaviour for a double out of range). */
static PyObject *number_from_json(double d) {
  if (d >= -9007199254740992.0 && d <= 9007199254740992.0 && d == (double)(long long)d)
    return PyLong_FromLongLong((long long)d);
  return PyFloat_FromDouble(d);
}

static PyObject *from_json(const cJSON *j, const sio_args_t *a, int depth) {
  if (depth > MAX_DEPTH + 2) {
    PyErr_SetString(PyExc_ValueError, "value nested too deep");
    return NULL;
  }
  if (cJSON_IsNull(j)) Py_RETURN_NONE;
  if (cJSON_IsTrue(j)) Py_RETURN_TRUE;
  if (cJSON_IsFalse(j)) Py_RETURN_FALSE;
  if (cJSON_IsString(j)) return str_from_json(j->valuestring);
  if (cJSON_IsNumber(j)) return number_from_json(j->valuedouble);
  if (cJSON_IsArray(j)) {
    PyObject *l = PyList_New(cJSON_GetArraySize(j));
    if (!l) return NULL;
    Py_ssize_t i = 0;
    for (const cJSON *c = j->child; c; c = c->next, i++) {
      PyObject *v = from_json(c, a, depth + 1);
      if (!v) {
        Py_DECREF(l);
        return NULL;
      }
      PyList_SET_ITEM(l, i, v);
    }
    return l;
  }
  if (cJSON_IsObject(j)) {
    const sio_buf_t *bf = sio_args_attachment(a, j);
    if (bf) return PyBytes_FromStringAndSize(bf->data, (Py_ssize_t)bf->len);
    PyObject *d = PyDict_New();
    if (!d) return NULL;
    for (const cJSON *c = j->child; c; c = c->next) {
      PyObject *k = str_from_json(c->string);
      PyObject *v = k ? from_json(c, a, depth + 1) : NULL;
      if (!v || PyDict_SetItem(d, k, v) < 0) {
        Py_XDECREF(k);
        Py_XDECREF(v);
        Py_DECREF(d);
        return NULL;
      }
      Py_DECREF(k);
      Py_DECREF(v);
    }
    return d;
  }
  Py_RETURN_NONE;
}

/* An args array as a tuple (empty when none). */
static PyObject *args_to_py(const sio_args_t *a) {
  if (!a || !a->json) return PyTuple_New(0);
  PyObject *t = PyTuple_New(cJSON_GetArraySize(a->json));
  if (!t) return NULL;
  Py_ssize_t i = 0;
  for (const cJSON *c = a->json->child; c; c = c->next, i++) {
    PyObject *v = from_json(c, a, 1);
    if (!v) {
      Py_DECREF(t);
      return NULL;
    }
    PyTuple_SET_ITEM(t, i, v);
  }
  return t;
}

/* A tuple (or list) of Python values as the core's args: *json owned by the caller (cJSON_Delete),
 * b released with bufs_free. */
static int args_from_py(PyObject *seq, cJSON **json, bufs_t *b) {
  memset(b, 0, sizeof *b);
  *json = seq_to_json(seq, b, 0);
  if (!*json) {
    bufs_free(b);
    return -1;
  }
  return 0;
}

/* ---------------------------------------------------------------------------------------------- */
/* Callbacks from the core                                                                         */

static CoreObject *core_of_nsp(sio_nsp_t *nsp) { return sio_io_get_data(sio_nsp_io(nsp)); }

static PyObject *nsp_key(sio_nsp_t *nsp) {
  sio_nsp_t *p = sio_nsp_parent(nsp);
  PyObject *k = sio_nsp_get_data(p ? p : nsp);
  return k ? k : Py_None;
}

static PyObject *environ_of(sio_socket_t *s) {
  const sio_request_info_t *r = sio_session_request(sio_socket_session(s));
  PyObject *env = PyDict_New();
  if (!env || !r) return env;
  const char *q = strchr(r->url ? r->url : "", '?');
  size_t plen = q ? (size_t)(q - r->url) : strlen(r->url ? r->url : "");
  PyObject *path = PyUnicode_DecodeLatin1(r->url ? r->url : "", (Py_ssize_t)plen, NULL);
  PyObject *v;
#define SET(k, o)                                       \
  do {                                                  \
    v = (o);                                            \
    if (!v || PyDict_SetItemString(env, k, v) < 0) {    \
      Py_XDECREF(v);                                    \
      Py_DECREF(env);                                   \
      return NULL;                                      \
    }                                                   \
    Py_DECREF(v);                                       \
  } while (0)
  if (!path) {
    Py_DECREF(env);
    return NULL;
  }
  SET("PATH_INFO", path);
  SET("REQUEST_METHOD", PyUnicode_FromString(r->method ? r->method : "GET"));
  SET("QUERY_STRING", PyUnicode_DecodeLatin1(r->query ? r->query : "", strlen(r->query ? r->query : ""), NULL));
  SET("REMOTE_ADDR", PyUnicode_FromString(r->remote_addr ? r->remote_addr : ""));
  SET("RAW_URI", PyUnicode_DecodeLatin1(r->url ? r->url : "", strlen(r->url ? r->url : ""), NULL));
  SET("SERVER_PROTOCOL", PyUnicode_FromString("HTTP/1.1"));
  SET("wsgi.url_scheme", PyUnicode_FromString(r->secure ? "https" : "http"));
  SET("sio.time_ms", PyLong_FromUnsignedLongLong(r->time_ms));
  SET("sio.protocol", PyLong_FromLong(sio_session_protocol(sio_socket_session(s))));
  for (size_t i = 0; i < r->header_count; i++) {
    const char *n = r->header_names[i];
    size_t nl = strlen(n);
    char key[256];
    if (nl + 6 > sizeof key) continue;
    if (strcmp(n, "content-type") == 0 || strcmp(n, "content-length") == 0) {
      key[0] = 0;
    } else {
      memcpy(key, "HTTP_", 5);
      key[5] = 0;
    }
    size_t o = strlen(key);
    for (size_t k = 0; k < nl; k++) {
      char c = n[k];
      key[o++] = c == '-' ? '_' : (c >= 'a' && c <= 'z') ? (char)(c - 32) : c;
    }
    key[o] = 0;
    const char *val = r->header_values[i];
    SET(key, PyUnicode_DecodeLatin1(val, (Py_ssize_t)strlen(val), NULL));
  }
#undef SET
  return env;
}

/* Refuses s with a (message, data) tuple from Python (a ConnectionRefusedError's). */
static void refuse_with(sio_socket_t *s, PyObject *verdict) {
  PyObject *msg = PyObject_Str(PyTuple_GET_ITEM(verdict, 0));
  const char *m = msg ? PyUnicode_AsUTF8(msg) : NULL;
  cJSON *data = NULL;
  bufs_t b = {0};
  if (PyTuple_GET_ITEM(verdict, 1) != Py_None) data = to_json(PyTuple_GET_ITEM(verdict, 1), &b, 1);
  if (PyErr_Occurred()) log_exception("bad ConnectionRefusedError data");
  sio_socket_refuse(s, m ? m : "Connection rejected by server", data);
  cJSON_Delete(data);
  bufs_free(&b);
  Py_XDECREF(msg);
}

/* A coroutine connect handler (asyncio mode) decides later: connect_done() ends the middleware.
 * Until then the socket handle stays valid (sio_nsp_use's promise); sockets still waiting when the
 * server closes are released here. */
static void release_pending_connects(CoreObject *c) {
  if (!c->mw_pending) return;
  PyObject *key, *cap;
  Py_ssize_t pos = 0;
  while (PyDict_Next(c->mw_pending, &pos, &key, &cap))
    sio_socket_refuse(PyCapsule_GetPointer(cap, NULL), "Connection rejected by server", NULL);
  PyDict_Clear(c->mw_pending);
}

/* connect_done(token, verdict): verdict None lets the socket in, (message, data) refuses it. */
static PyObject *core_connect_done(CoreObject *c, PyObject *args) {
  PyObject *token, *verdict;
  if (!PyArg_ParseTuple(args, "OO", &token, &verdict)) return NULL;
  if (verdict != Py_None && !(PyTuple_Check(verdict) && PyTuple_GET_SIZE(verdict) == 2)) {
    PyErr_SetString(PyExc_TypeError, "connect_done: verdict must be None or (message, data)");
    return NULL;
  }
  PyObject *cap = PyDict_GetItemWithError(c->mw_pending, token);
  if (!cap) return PyErr_Occurred() ? NULL : (Py_INCREF(Py_False), Py_False); /* released already */
  sio_socket_t *s = PyCapsule_GetPointer(cap, NULL);
  if (PyDict_DelItem(c->mw_pending, token) < 0) return NULL;
  if (verdict == Py_None) sio_socket_next(s);
  else refuse_with(s, verdict);
  Py_RETURN_TRUE;
}

static void on_middleware(sio_socket_t *s, void *arg) {
  (void)arg;
  sio_nsp_t *nsp = sio_socket_nsp(s);
  CoreObject *c = core_of_nsp(nsp);
  PyGILState_STATE g = PyGILState_Ensure();
  if (!c->m_connect) {
    PyGILState_Release(g);
    sio_socket_next(s);
    return;
  }
  PyObject *env = environ_of(s);
  PyObject *auth = env ? from_json(sio_socket_auth(s), &(sio_args_t){0}, 0) : NULL;
  PyObject *r = NULL;
  long long token = ++c->mw_seq;
  if (auth)
    r = PyObject_CallFunction(c->m_connect, "OssOOL", nsp_key(nsp), sio_nsp_name(nsp),
                              sio_socket_id(s), env, auth, token);
  Py_XDECREF(env);
  Py_XDECREF(auth);
  if (!r) {
    log_exception("error in the connect handler");
    PyGILState_Release(g);
    sio_socket_refuse(s, "Connection rejected by server", NULL);
    return;
  }
  if (PyTuple_Check(r) && PyTuple_GET_SIZE(r) == 2) {
    /* (message, data): refuse */
    refuse_with(s, r);
    Py_DECREF(r);
    PyGILState_Release(g);
    return;
  }
  if (PyLong_Check(r)) {
    /* its token: a coroutine decides, then connect_done(token, verdict) */
    PyObject *cap = PyCapsule_New(s, NULL, NULL);
    if (!cap || PyDict_SetItem(c->mw_pending, r, cap) < 0) {
      log_exception("cannot wait for a connect handler");
      Py_XDECREF(cap);
      Py_DECREF(r);
      PyGILState_Release(g);
      sio_socket_refuse(s, "Connection rejected by server", NULL);
      return;
    }
    Py_DECREF(cap);
    Py_DECREF(r);
    PyGILState_Release(g);
    return;
  }
  Py_DECREF(r);
  PyGILState_Release(g);
  sio_socket_next(s);
}

static void on_connection(sio_nsp_t *nsp, sio_socket_t *s) {
  CoreObject *c = core_of_nsp(nsp);
  PyGILState_STATE g = PyGILState_Ensure();
  if (c->m_connected) {
    PyObject *r = PyObject_CallFunction(c->m_connected, "Oss", nsp_key(nsp), sio_nsp_name(nsp),
                                        sio_socket_id(s));
    if (!r) log_exception("error after connect");
    Py_XDECREF(r);
  }
  PyGILState_Release(g);
}

/* Sends a handler's return value as the ack: None → no args, a tuple → its items, else one. */
static void ack_result(sio_socket_t *s, int64_t ack_id, PyObject *r) {
  cJSON *json;
  bufs_t b;
  PyObject *seq;
  if (r == Py_None) {
    seq = PyTuple_New(0);
  } else if (PyTuple_Check(r)) {
    seq = r;
    Py_INCREF(seq);
  } else {
    seq = PyTuple_Pack(1, r);
  }
  if (!seq) {
    log_exception("ack");
    return;
  }
  if (args_from_py(seq, &json, &b) < 0) {
    Py_DECREF(seq);
    log_exception("a handler returned a value that cannot be sent as an ack");
    return;
  }
  sio_args_t a = {json, b.bufs, b.n};
  sio_socket_ack(s, ack_id, &a);
  cJSON_Delete(json);
  bufs_free(&b);
  Py_DECREF(seq);
}

static void on_event(sio_socket_t *s, const char *event, const sio_args_t *args, int64_t ack_id) {
  sio_nsp_t *nsp = sio_socket_nsp(s);
  CoreObject *c = core_of_nsp(nsp);
  PyGILState_STATE g = PyGILState_Ensure();
  if (c->m_event) {
    PyObject *ev = str_from_json(event);
    PyObject *t = ev ? args_to_py(args) : NULL;
    PyObject *r = NULL;
    if (t)
      r = PyObject_CallFunction(c->m_event, "OssOOL", nsp_key(nsp), sio_nsp_name(nsp),
                                sio_socket_id(s), ev, t, (long long)ack_id);
    if (!r) {
      PyObject *msg = PyUnicode_FromFormat("error in the handler of event %R", ev ? ev : Py_None);
      log_exception(msg ? PyUnicode_AsUTF8(msg) : "error in an event handler");
      Py_XDECREF(msg);
    } else if (ack_id >= 0 && r != NoAck) {
      ack_result(s, ack_id, r);
    }
    Py_XDECREF(r);
    Py_XDECREF(t);
    Py_XDECREF(ev);
  }
  PyGILState_Release(g);
}

static void on_disconnect(sio_socket_t *s, const char *reason) {
  sio_nsp_t *nsp = sio_socket_nsp(s);
  CoreObject *c = core_of_nsp(nsp);
  PyGILState_STATE g = PyGILState_Ensure();
  if (c->m_disconnect) {
    PyObject *r = PyObject_CallFunction(c->m_disconnect, "Osss", nsp_key(nsp), sio_nsp_name(nsp),
                                        sio_socket_id(s), reason ? reason : "");
    if (!r) log_exception("error in the disconnect handler");
    Py_XDECREF(r);
  }
  PyGILState_Release(g);
}

/* Another node's serverSideEmit: dispatch._on_server_event(key, nsp, event, args, reply_id), which
 * answers through server_reply() when reply_id is not None. */
static void on_server_event(sio_nsp_t *nsp, const char *event, const sio_args_t *args, const char *reply_id) {
  CoreObject *c = core_of_nsp(nsp);
  PyGILState_STATE g = PyGILState_Ensure();
  if (c->m_server_event) {
    PyObject *ev = str_from_json(event);
    PyObject *t = ev ? args_to_py(args) : NULL;
    PyObject *r = NULL;
    if (t)
      r = PyObject_CallFunction(c->m_server_event, "OsOOz", nsp_key(nsp), sio_nsp_name(nsp), ev, t, reply_id);
    if (!r) {
      PyObject *msg = PyUnicode_FromFormat("error in the server-side handler of event %R", ev ? ev : Py_None);
      log_exception(msg ? PyUnicode_AsUTF8(msg) : "error in a server-side event handler");
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

static const sio_nsp_callbacks_t nsp_cbs = {.on_connection = on_connection,
                                            .on_event = on_event,
                                            .on_disconnect = on_disconnect,
                                            .on_server_event = on_server_event};

/* ---------------------------------------------------------------------------------------------- */
/* Loop, stop, signals, timers                                                                     */

static void timer_close_cb(uv_handle_t *h) {
  ctimer_t *t = h->data;
  PyGILState_STATE g = PyGILState_Ensure();
  Py_CLEAR(t->fn);
  PyGILState_Release(g);
  PyMem_RawFree(t);
}

static void timer_unlink_close(ctimer_t *t) {
  CoreObject *c = t->core;
  if (t->prev) t->prev->next = t->next;
  else c->timers = t->next;
  if (t->next) t->next->prev = t->prev;
  t->prev = t->next = NULL;
  if (t->py) t->py->t = NULL;
  t->py = NULL;
  uv_close((uv_handle_t *)&t->h, timer_close_cb);
}

static void timer_cb(uv_timer_t *h) {
  ctimer_t *t = h->data;
  PyGILState_STATE g = PyGILState_Ensure();
  PyObject *fn = t->fn;
  Py_XINCREF(fn);
  timer_unlink_close(t);
  if (fn) {
    PyObject *r = PyObject_CallNoArgs(fn);
    if (!r) log_exception("error in a timer callback");
    Py_XDECREF(r);
    Py_DECREF(fn);
  }
  PyGILState_Release(g);
}

static void stop_signals(CoreObject *c) {
  if (!c->signals_on) return;
  c->signals_on = 0;
  uv_close((uv_handle_t *)&c->sigint, NULL);
  uv_close((uv_handle_t *)&c->sigterm, NULL);
}

static void async_close_cb(uv_handle_t *h) { (void)h; }

static void on_server_closed(sio_server_t *server) {
  CoreObject *c = sio_server_get_data(server);
  c->server = NULL;
  c->io = NULL;
  c->closed = 1;
  if (!uv_is_closing((uv_handle_t *)&c->async)) uv_close((uv_handle_t *)&c->async, async_close_cb);
  PyGILState_STATE g = PyGILState_Ensure();
  if (c->m_closed) {
    PyObject *r = PyObject_CallNoArgs(c->m_closed);
    if (!r) log_exception("error in the close callback");
    Py_XDECREF(r);
  }
  PyGILState_Release(g);
}

static void do_stop(CoreObject *c) {
  if (c->stopping) return;
  c->stopping = 1;
  stop_signals(c);
  while (c->timers) timer_unlink_close(c->timers);
  if (c->server) sio_server_close(c->server, on_server_closed);
}

static void async_cb(uv_async_t *h) {
  CoreObject *c = h->data;
  if (atomic_exchange(&c->wake_requested, 0) && c->m_drain && !c->stopping) {
    PyGILState_STATE g = PyGILState_Ensure();
    PyObject *r = PyObject_CallNoArgs(c->m_drain);
    if (!r) log_exception("error in a scheduled callback");
    Py_XDECREF(r);
    PyGILState_Release(g);
  }
  if (atomic_load(&c->stop_requested)) do_stop(c);
}

static void signal_cb(uv_signal_t *h, int signum) {
  (void)signum;
  do_stop(h->data);
}

/* ---------------------------------------------------------------------------------------------- */
/* Core type                                                                                       */

static int core_traverse(CoreObject *c, visitproc visit, void *arg) {
  Py_VISIT(c->keys);
  Py_VISIT(c->m_connect);
  Py_VISIT(c->m_connected);
  Py_VISIT(c->m_event);
  Py_VISIT(c->m_disconnect);
  Py_VISIT(c->m_drain);
  Py_VISIT(c->m_closed);
  Py_VISIT(c->m_server_event);
  Py_VISIT(c->m_engine);
  for (ctimer_t *t = c->timers; t; t = t->next) Py_VISIT(t->fn);
  return 0;
}

static int core_clear(CoreObject *c) {
  Py_CLEAR(c->m_connect);
  Py_CLEAR(c->m_connected);
  Py_CLEAR(c->m_event);
  Py_CLEAR(c->m_disconnect);
  Py_CLEAR(c->m_drain);
  Py_CLEAR(c->m_closed);
  Py_CLEAR(c->m_server_event);
  Py_CLEAR(c->m_engine);
  for (ctimer_t *t = c->timers; t; t = t->next) Py_CLEAR(t->fn);
  return 0;
}

/* Closes everything and runs the loop until it has no handles left. */
static void release_pending_connects(CoreObject *c);

static void core_shutdown(CoreObject *c) {
  if (!c->loop_ready) return;
  do_stop(c);
  release_pending_connects(c);
  if (!c->server && !uv_is_closing((uv_handle_t *)&c->async)) uv_close((uv_handle_t *)&c->async, async_close_cb);
  Py_BEGIN_ALLOW_THREADS
  uv_run(&c->loop, UV_RUN_DEFAULT);
  Py_END_ALLOW_THREADS
  if (uv_loop_close(&c->loop) == 0) c->loop_ready = 0;
}

static void core_dealloc(CoreObject *c) {
  PyObject_GC_UnTrack(c);
  core_clear(c);
  core_shutdown(c);
  Py_CLEAR(c->keys);
  Py_CLEAR(c->mw_pending);
  PyMem_Free(c->cors);
  for (int i = 0; i < 4; i++) PyMem_Free(c->cookie[i]);
  Py_TYPE(c)->tp_free((PyObject *)c);
}

static PyObject *core_new(PyTypeObject *type, PyObject *args, PyObject *kw) {
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

static int get_method(PyObject *d, const char *name, PyObject **out) {
  PyObject *m = PyObject_GetAttrString(d, name);
  if (!m) {
    if (!PyErr_ExceptionMatches(PyExc_AttributeError)) return -1;
    PyErr_Clear();
  }
  Py_XSETREF(*out, m);
  return 0;
}

/* A copy for the bare engine's options, which outlive the call's arguments. */
static int keep_str(const char *s, char **out) {
  if (!s) return 0;
  *out = PyMem_Malloc(strlen(s) + 1);
  if (!*out) {
    PyErr_NoMemory();
    return -1;
  }
  strcpy(*out, s);
  return 0;
}

static int core_init(CoreObject *c, PyObject *args, PyObject *kw) {
  static char *kwlist[] = {"dispatch", "path", "ping_interval_ms", "ping_timeout_ms", "max_payload",
                           "allow_eio3", "cors", "connect_timeout_ms", "max_buffered", "client_dir", "redis",
                           "redis_key", "cookie_name", "cookie_path", "cookie_domain", "cookie_same_site",
                           "cookie_http_only", "cookie_secure", "cookie_max_age", "redis_requests_timeout_ms",
                           "same_origin", NULL};
  PyObject *dispatch;
  const char *path = "/socket.io/", *cors = NULL, *client_dir = NULL, *redis = NULL, *redis_key = NULL;
  const char *ck_name = NULL, *ck_path = "/", *ck_domain = NULL, *ck_same_site = "Lax";
  unsigned long pi = 25000, pt = 20000, ct = 45000, ck_max_age = 0, rto = 0;
  Py_ssize_t maxp = 1000000, maxb = 0;
  int eio3 = 0, ck_http_only = 1, ck_secure = 0, same_origin = 0;
  if (!PyArg_ParseTupleAndKeywords(args, kw, "O|skknpzknzzzzzzzppkkp", kwlist, &dispatch, &path, &pi, &pt, &maxp,
                                   &eio3, &cors, &ct, &maxb, &client_dir, &redis, &redis_key, &ck_name,
                                   &ck_path, &ck_domain, &ck_same_site, &ck_http_only, &ck_secure, &ck_max_age,
                                   &rto, &same_origin))
    return -1;
  if (rto > UINT32_MAX) {
    PyErr_SetString(PyExc_ValueError, "redis_requests_timeout is too long");
    return -1;
  }
  if (ck_max_age > UINT32_MAX) {
    PyErr_SetString(PyExc_ValueError, "cookie max_age must fit in 32 bits");
    return -1;
  }
  if (c->loop_ready) {
    PyErr_SetString(PyExc_RuntimeError, "already initialised");
    return -1;
  }
  if (maxp <= 0 || maxb < 0) {
    PyErr_SetString(PyExc_ValueError, "max_payload must be positive");
    return -1;
  }
  if (get_method(dispatch, "_on_connect", &c->m_connect) || get_method(dispatch, "_on_connected", &c->m_connected) ||
      get_method(dispatch, "_on_event", &c->m_event) || get_method(dispatch, "_on_disconnect", &c->m_disconnect) ||
      get_method(dispatch, "_on_drain", &c->m_drain) || get_method(dispatch, "_on_closed", &c->m_closed) ||
      get_method(dispatch, "_on_server_event", &c->m_server_event))
    return -1;
  int r = uv_loop_init(&c->loop);
  if (r) {
    raise_sio(r);
    return -1;
  }
  c->loop_ready = 1;
  uv_async_init(&c->loop, &c->async, async_cb);
  c->async.data = c;
  sio_io_options_t o;
  sio_io_options_init(&o);
  o.engine.path = path;
  o.engine.ping_interval_ms = (uint32_t)pi;
  o.engine.ping_timeout_ms = (uint32_t)pt;
  o.engine.max_payload = (size_t)maxp;
  if (maxb) o.engine.max_buffered = (size_t)maxb;
  o.engine.allow_eio3 = eio3;
  o.engine.cors_origin = cors;
  o.engine.same_origin = same_origin;
  o.connect_timeout_ms = (uint32_t)ct;
  o.client_dir = client_dir;
  o.engine.cookie = (sio_cookie_options_t){ck_name, ck_path, ck_domain, ck_same_site, ck_http_only, ck_secure,
                                           (uint32_t)ck_max_age};
  if (keep_str(cors, &c->cors) || keep_str(ck_name, &c->cookie[0]) || keep_str(ck_path, &c->cookie[1]) ||
      keep_str(ck_domain, &c->cookie[2]) || keep_str(ck_same_site, &c->cookie[3]))
    return -1;
  c->eio = o.engine;
  c->eio.cors_origin = c->cors;
  c->eio.cookie.name = c->cookie[0];
  c->eio.cookie.path = c->cookie[1];
  c->eio.cookie.domain = c->cookie[2];
  c->eio.cookie.same_site = c->cookie[3];
  c->eio.path = NULL;
  r = sio_server_new(&c->loop, NULL, &c->server);
  if (!r) {
    sio_server_set_data(c->server, c);
    r = sio_io_new(c->server, &o, &c->io);
  }
  if (r == SIO_ENOTFOUND || r == UV_ENOTDIR) {
    PyErr_Format(r == UV_ENOTDIR ? PyExc_NotADirectoryError : PyExc_FileNotFoundError,
                 "client_dir %s: %s", client_dir ? client_dir : "", r == UV_ENOTDIR ? "not a directory" : "no such directory");
    return -1;
  }
  if (r == SIO_EINVAL && ck_name) {
    PyErr_SetString(PyExc_ValueError, "cookie: the name must be a token, path and domain without ';' or "
                                      "control characters, same_site Lax, Strict or None");
    return -1;
  }
  if (r) {
    raise_sio(r);
    return -1;
  }
  sio_io_set_data(c->io, c);
  if (redis) {
    sio_redis_options_t ro;
    sio_redis_options_init(&ro);
    ro.url = redis;
    if (redis_key) ro.key = redis_key;
    if (rto) ro.requests_timeout_ms = (uint32_t)rto;
    r = sio_io_use_redis(c->io, &ro);
    if (r == SIO_EINVAL) {
      PyErr_Format(PyExc_ValueError, "redis: bad URL '%s' (redis://[[user]:password@]host[:port][/db])", redis);
      return -1;
    }
    if (r == UV_ENOSYS) {
      PyErr_SetString(PyExc_RuntimeError, "redis: sio was built without Redis (cmake -DSIO_REDIS=ON)");
      return -1;
    }
    if (r) {
      raise_sio(r);
      return -1;
    }
  }
  return 0;
}

static int check_open(CoreObject *c) {
  if (!c->io || c->stopping) {
    PyErr_SetString(PyExc_RuntimeError, "the server is stopped");
    return -1;
  }
  return 0;
}

static PyObject *core_listen(CoreObject *c, PyObject *args) {
  const char *host;
  int port;
  if (!PyArg_ParseTuple(args, "si", &host, &port)) return NULL;
  if (check_open(c)) return NULL;
  int r = sio_server_listen(c->server, host, port);
  if (r) return raise_sio(r);
  return PyLong_FromLong(sio_server_port(c->server));
}

static PyObject *core_port(CoreObject *c, PyObject *unused) {
  if (!c->server) Py_RETURN_NONE;
  int p = sio_server_port(c->server);
  if (p < 0) Py_RETURN_NONE;
  return PyLong_FromLong(p);
}

static void start_signals(CoreObject *c) {
  if (c->signals_on || c->stopping) return;
  sigaction(SIGINT, NULL, &c->old_int);
  sigaction(SIGTERM, NULL, &c->old_term);
  uv_signal_init(&c->loop, &c->sigint);
  uv_signal_init(&c->loop, &c->sigterm);
  c->sigint.data = c->sigterm.data = c;
  uv_signal_start(&c->sigint, signal_cb, SIGINT);
  uv_signal_start(&c->sigterm, signal_cb, SIGTERM);
  c->signals_on = 1;
}

static PyObject *core_run(CoreObject *c, PyObject *args, PyObject *kw) {
  static char *kwlist[] = {"handle_signals", NULL};
  int sig = 1;
  if (!PyArg_ParseTupleAndKeywords(args, kw, "|p", kwlist, &sig)) return NULL;
  if (!c->loop_ready) {
    PyErr_SetString(PyExc_RuntimeError, "the server is closed");
    return NULL;
  }
  if (sig) start_signals(c);
  Py_BEGIN_ALLOW_THREADS
  uv_run(&c->loop, UV_RUN_DEFAULT);
  Py_END_ALLOW_THREADS
  if (sig) {
    /* libuv leaves SIG_DFL behind; give Python its handlers back. */
    sigaction(SIGINT, &c->old_int, NULL);
    sigaction(SIGTERM, &c->old_term, NULL);
  }
  if (PyErr_CheckSignals() < 0) return NULL;
  Py_RETURN_NONE;
}

static PyObject *core_run_nowait(CoreObject *c, PyObject *unused) {
  if (!c->loop_ready) Py_RETURN_FALSE;
  int alive;
  Py_BEGIN_ALLOW_THREADS
  alive = uv_run(&c->loop, UV_RUN_NOWAIT);
  Py_END_ALLOW_THREADS
  return PyBool_FromLong(alive);
}

static PyObject *core_backend_fd(CoreObject *c, PyObject *unused) {
  return PyLong_FromLong(c->loop_ready ? uv_backend_fd(&c->loop) : -1);
}

static PyObject *core_backend_timeout(CoreObject *c, PyObject *unused) {
  return PyLong_FromLong(c->loop_ready ? uv_backend_timeout(&c->loop) : -1);
}

static PyObject *core_stop(CoreObject *c, PyObject *unused) {
  if (c->loop_ready && !c->closed) {
    atomic_store(&c->stop_requested, 1);
    uv_async_send(&c->async);
  }
  Py_RETURN_NONE;
}

static PyObject *core_wakeup(CoreObject *c, PyObject *unused) {
  if (c->loop_ready && !c->closed) {
    atomic_store(&c->wake_requested, 1);
    uv_async_send(&c->async);
  }
  Py_RETURN_NONE;
}

static PyObject *core_close(CoreObject *c, PyObject *unused) {
  core_shutdown(c);
  Py_RETURN_NONE;
}

static PyObject *core_closed(CoreObject *c, void *unused) { return PyBool_FromLong(c->closed); }

/* Seconds as timer milliseconds: NaN and negative as 0 (now), past uint64_t (1e300, inf) as its
 * maximum (never, for libuv). Checked before the cast, which would be undefined behaviour. */
static uint64_t delay_ms(double seconds) {
  double ms = seconds * 1000.0 + 0.5;
  if (!(ms >= 1.0)) return 0;
  if (ms >= 18446744073709551616.0) return UINT64_MAX;
  return (uint64_t)ms;
}

static PyObject *core_call_later(CoreObject *c, PyObject *args) {
  double delay;
  PyObject *fn;
  if (!PyArg_ParseTuple(args, "dO", &delay, &fn)) return NULL;
  if (!PyCallable_Check(fn)) {
    PyErr_SetString(PyExc_TypeError, "call_later needs a callable");
    return NULL;
  }
  if (check_open(c)) return NULL;
  TimerObject *py = PyObject_New(TimerObject, &TimerType);
  if (!py) return NULL;
  ctimer_t *t = PyMem_RawCalloc(1, sizeof *t);
  if (!t) {
    Py_DECREF(py);
    return PyErr_NoMemory();
  }
  uv_timer_init(&c->loop, &t->h);
  t->h.data = t;
  t->core = c;
  t->fn = fn;
  Py_INCREF(fn);
  t->py = py;
  py->t = t;
  t->next = c->timers;
  if (c->timers) c->timers->prev = t;
  c->timers = t;
  uv_timer_start(&t->h, timer_cb, delay_ms(delay), 0);
  return (PyObject *)py;
}

/* static(prefix, directory): serves the files under directory at URL prefix ("/" or "/x/"). */
static PyObject *core_static(CoreObject *c, PyObject *args) {
  const char *prefix, *dir;
  if (!PyArg_ParseTuple(args, "ss", &prefix, &dir)) return NULL;
  if (check_open(c)) return NULL;
  int r = sio_server_static(c->server, prefix, dir, NULL);
  if (r == SIO_ENOTFOUND || r == UV_ENOTDIR) {
    PyErr_Format(r == UV_ENOTDIR ? PyExc_NotADirectoryError : PyExc_FileNotFoundError, "%s: %s", dir,
                 r == UV_ENOTDIR ? "not a directory" : "no such directory");
    return NULL;
  }
  if (r) return raise_sio(r);
  Py_RETURN_NONE;
}

/* ---- the bare Engine.IO endpoint ---- */

static void engine_message(sio_session_t *s, const char *data, size_t len, int binary) {
  CoreObject *c = sio_engine_get_data(sio_session_engine(s));
  PyGILState_STATE g = PyGILState_Ensure();
  if (c->m_engine) {
    PyObject *v = binary ? PyBytes_FromStringAndSize(data, (Py_ssize_t)len)
                         : PyUnicode_DecodeUTF8(data, (Py_ssize_t)len, "surrogateescape");
    PyObject *r = v ? PyObject_CallFunction(c->m_engine, "sO", sio_session_id(s), v) : NULL;
    if (!r) log_exception("error in an Engine.IO message handler");
    Py_XDECREF(r);
    Py_XDECREF(v);
  }
  PyGILState_Release(g);
}

/* engine(path, on_message): a bare Engine.IO endpoint (same options as the Socket.IO one);
 * on_message(sid, data) gets str for text and bytes for binary messages. One per server. */
static PyObject *core_engine(CoreObject *c, PyObject *args) {
  const char *path;
  PyObject *cb;
  if (!PyArg_ParseTuple(args, "sO", &path, &cb)) return NULL;
  if (check_open(c)) return NULL;
  if (c->engine) {
    PyErr_SetString(PyExc_RuntimeError, "this server already has an Engine.IO endpoint");
    return NULL;
  }
  sio_engine_options_t o = c->eio;
  o.path = path;
  sio_engine_callbacks_t cbs = {NULL, engine_message, NULL, NULL};
  int r = sio_engine_new(c->server, &o, &cbs, &c->engine);
  if (r) return raise_sio(r);
  sio_engine_set_data(c->engine, c);
  Py_INCREF(cb);
  Py_XSETREF(c->m_engine, cb);
  Py_RETURN_NONE;
}

/* engine_send(sid, data): str → a text message, bytes-like → binary. False when the session is
 * gone. */
static PyObject *core_engine_send(CoreObject *c, PyObject *args) {
  const char *sid;
  PyObject *data;
  if (!PyArg_ParseTuple(args, "sO", &sid, &data)) return NULL;
  if (check_open(c) || !c->engine) {
    if (!PyErr_Occurred()) PyErr_SetString(PyExc_RuntimeError, "no Engine.IO endpoint");
    return NULL;
  }
  sio_session_t *s = sio_engine_find(c->engine, sid);
  if (!s) Py_RETURN_FALSE;
  int r;
  if (PyUnicode_Check(data)) {
    PyObject *b = PyUnicode_AsEncodedString(data, "utf-8", "surrogateescape");
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

/* ---- namespaces ---- */

static int keep_key(CoreObject *c, sio_nsp_t *nsp, PyObject *key) {
  if (PyList_Append(c->keys, key) < 0) return -1;
  sio_nsp_set_data(nsp, key);
  return 0;
}

static PyObject *core_namespace(CoreObject *c, PyObject *args) {
  const char *name;
  PyObject *key;
  if (!PyArg_ParseTuple(args, "sO", &name, &key)) return NULL;
  if (check_open(c)) return NULL;
  sio_nsp_t *nsp;
  int r = sio_io_of(c->io, name, &nsp);
  if (r) return raise_sio(r);
  if (!sio_nsp_get_data(nsp)) {
    if (keep_key(c, nsp, key) < 0) return NULL;
    sio_nsp_set_callbacks(nsp, &nsp_cbs);
    r = sio_nsp_use(nsp, on_middleware, NULL);
    if (r) return raise_sio(r);
  }
  return PyUnicode_FromString(sio_nsp_name(nsp));
}

static PyObject *core_dynamic(CoreObject *c, PyObject *args) {
  const char *regex;
  PyObject *key;
  if (!PyArg_ParseTuple(args, "sO", &regex, &key)) return NULL;
  if (check_open(c)) return NULL;
  sio_nsp_t *nsp;
  int r = sio_io_dynamic(c->io, regex, NULL, &nsp);
  if (r) return raise_sio(r);
  if (keep_key(c, nsp, key) < 0) return NULL;
  sio_nsp_set_callbacks(nsp, &nsp_cbs);
  r = sio_nsp_use(nsp, on_middleware, NULL);
  if (r) return raise_sio(r);
  return PyUnicode_FromString(sio_nsp_name(nsp));
}

/* The namespace named so, when it exists (never creates one). */
static sio_nsp_t *find_nsp(CoreObject *c, const char *name) {
  if (check_open(c)) return NULL;
  /* sio_io_of creates missing namespaces; a namespace nobody registered has no sockets, so a
   * lookup that creates it is harmless but wasteful: the Python layer only passes known names. */
  sio_nsp_t *nsp;
  int r = sio_io_of(c->io, name, &nsp);
  if (r) {
    raise_sio(r);
    return NULL;
  }
  return nsp;
}

static sio_socket_t *find_socket(CoreObject *c, const char *name, const char *sid, int required) {
  sio_nsp_t *nsp = find_nsp(c, name);
  if (!nsp) return NULL;
  sio_socket_t *s = sio_nsp_socket(nsp, sid);
  if (!s && required) PyErr_Format(PyExc_KeyError, "no socket %s in namespace %s", sid, name);
  return s;
}

/* A str, or a sequence of str, as a C array (borrowed from the objects kept in *keep). */
static int room_list(PyObject *o, const char ***out, size_t *n, PyObject **keep) {
  *out = NULL;
  *n = 0;
  *keep = NULL;
  if (o == Py_None) return 0;
  if (PyUnicode_Check(o)) {
    *keep = PyList_New(1);
    if (*keep) {
      Py_INCREF(o);
      PyList_SET_ITEM(*keep, 0, o);
    }
  } else {
    *keep = PySequence_List(o);
  }
  if (!*keep) return -1;
  Py_ssize_t len = PyList_GET_SIZE(*keep);
  if (len == 0) return 0;
  *out = PyMem_Malloc((size_t)len * sizeof **out);
  if (!*out) {
    PyErr_NoMemory();
    return -1;
  }
  for (Py_ssize_t i = 0; i < len; i++) {
    PyObject *it = PyList_GET_ITEM(*keep, i);
    if (!PyUnicode_Check(it)) {
      PyErr_Format(PyExc_TypeError, "room names must be str, not %.200s", Py_TYPE(it)->tp_name);
      return -1;
    }
    /* A name that needs its own bytes (a NUL, a lone surrogate) keeps them in the list instead. */
    PyObject *holder;
    if (!((*out)[i] = core_str(it, &holder))) return -1;
    if (holder) {
      PyList_SET_ITEM(*keep, i, holder);
      Py_DECREF(it);
    }
  }
  *n = (size_t)len;
  return 0;
}

/* Who a selection or broadcast from Python targets: `to` and `skip` (None, a name or a list), the
 * lists and the objects their strings borrow from held until py_target_free(). */
typedef struct {
  sio_target_t t;
  const char **rooms, **except;
  PyObject *keep_rooms, *keep_except;
} py_target_t;

static int py_target(py_target_t *pt, PyObject *to, PyObject *skip, int flags) {
  size_t nr, ne;
  if (room_list(to, &pt->rooms, &nr, &pt->keep_rooms) < 0 ||
      room_list(skip, &pt->except, &ne, &pt->keep_except) < 0)
    return -1;
  pt->t = (sio_target_t){pt->rooms, nr, pt->except, ne, flags};
  return 0;
}

static void py_target_free(py_target_t *pt) {
  PyMem_Free(pt->rooms);
  PyMem_Free(pt->except);
  Py_XDECREF(pt->keep_rooms);
  Py_XDECREF(pt->keep_except);
}

static PyObject *core_emit(CoreObject *c, PyObject *args) {
  const char *name;
  text_t event = {0};
  PyObject *values, *to, *skip;
  int flags = 0;
  if (!PyArg_ParseTuple(args, "sO&O!OO|i", &name, text_arg, &event, &PyTuple_Type, &values, &to, &skip,
                        &flags))
    return NULL;
  py_target_t pt = {0};
  PyObject *res = NULL;
  cJSON *json = NULL;
  bufs_t b = {0};
  /* a broadcast from a disconnect handler during shutdown: nobody is left to get it */
  if (c->stopping) {
    res = Py_None, Py_INCREF(res);
    goto out;
  }
  sio_nsp_t *nsp = find_nsp(c, name);
  if (!nsp) goto out;
  if (py_target(&pt, to, skip, flags) < 0) goto out;
  if (args_from_py(values, &json, &b) < 0) goto out;
  sio_args_t a = {json, b.bufs, b.n};
  int r = sio_nsp_emit(nsp, &pt.t, event.s, &a);
  if (r) raise_sio(r);
  else res = Py_None, Py_INCREF(res);
out:
  cJSON_Delete(json);
  bufs_free(&b);
  py_target_free(&pt);
  text_release(&event);
  return res;
}

static void on_ack(sio_socket_t *s, int status, const sio_args_t *args, void *arg) {
  (void)s;
  PyGILState_STATE g = PyGILState_Ensure();
  deliver(arg, status, status == 0 ? args_to_py(args) : PyTuple_New(0), "error in an ack callback");
  PyGILState_Release(g);
}

/* emit_ack(nsp, sid, event, args, timeout_ms, cb): cb(error, args) runs once, error None, "timeout"
 * or "closed". */
static PyObject *core_emit_ack(CoreObject *c, PyObject *args) {
  const char *name, *sid;
  text_t event = {0};
  PyObject *values, *cb;
  unsigned long timeout = 0;
  int flags = 0;
  if (!PyArg_ParseTuple(args, "ssO&O!kO|i", &name, &sid, text_arg, &event, &PyTuple_Type, &values,
                        &timeout, &cb, &flags))
    return NULL;
  sio_socket_t *s = find_socket(c, name, sid, 1);
  cJSON *json;
  bufs_t b;
  if (!s || args_from_py(values, &json, &b) < 0) {
    text_release(&event);
    return NULL;
  }
  sio_args_t a = {json, b.bufs, b.n};
  Py_INCREF(cb);
  int r = sio_socket_emit_ack(s, event.s, &a, flags, (uint32_t)timeout, on_ack, cb);
  cJSON_Delete(json);
  bufs_free(&b);
  text_release(&event);
  if (r) {
    Py_DECREF(cb);
    return raise_sio(r);
  }
  Py_RETURN_NONE;
}

static PyObject *core_ack(CoreObject *c, PyObject *args) {
  const char *name, *sid;
  long long ack_id;
  PyObject *values;
  if (!PyArg_ParseTuple(args, "ssLO!", &name, &sid, &ack_id, &PyTuple_Type, &values)) return NULL;
  sio_socket_t *s = find_socket(c, name, sid, 0);
  if (!s) {
    if (PyErr_Occurred()) return NULL;
    Py_RETURN_FALSE;
  }
  cJSON *json;
  bufs_t b;
  if (args_from_py(values, &json, &b) < 0) return NULL;
  sio_args_t a = {json, b.bufs, b.n};
  int r = sio_socket_ack(s, (int64_t)ack_id, &a);
  cJSON_Delete(json);
  bufs_free(&b);
  return PyBool_FromLong(r == 0);
}

static PyObject *core_enter_room(CoreObject *c, PyObject *args) {
  const char *name, *sid;
  text_t room = {0};
  if (!PyArg_ParseTuple(args, "ssO&", &name, &sid, text_arg, &room)) return NULL;
  sio_socket_t *s = find_socket(c, name, sid, 1);
  int r = s ? sio_socket_join(s, room.s) : 0;
  text_release(&room);
  if (!s) return NULL;
  if (r) return raise_sio(r);
  Py_RETURN_NONE;
}

static PyObject *core_leave_room(CoreObject *c, PyObject *args) {
  const char *name, *sid;
  text_t room = {0};
  if (!PyArg_ParseTuple(args, "ssO&", &name, &sid, text_arg, &room)) return NULL;
  sio_socket_t *s = find_socket(c, name, sid, 0);
  int r = s ? sio_socket_leave(s, room.s) : 0;
  text_release(&room);
  if (!s) {
    if (PyErr_Occurred()) return NULL;
    Py_RETURN_NONE;
  }
  if (r && r != SIO_ENOTFOUND) return raise_sio(r);
  Py_RETURN_NONE;
}

static PyObject *core_rooms(CoreObject *c, PyObject *args) {
  const char *name, *sid;
  if (!PyArg_ParseTuple(args, "ss", &name, &sid)) return NULL;
  sio_socket_t *s = find_socket(c, name, sid, 0);
  if (!s) return PyErr_Occurred() ? NULL : PyList_New(0);
  size_t n = sio_socket_room_count(s);
  PyObject *l = PyList_New((Py_ssize_t)n);
  if (!l) return NULL;
  for (size_t i = 0; i < n; i++) {
    PyObject *v = str_from_json(sio_socket_room(s, i));
    if (!v) {
      Py_DECREF(l);
      return NULL;
    }
    PyList_SET_ITEM(l, (Py_ssize_t)i, v);
  }
  return l;
}

/* select(nsp, op, to, skip, room, close): the sockets in `to` (None: all) but not in `skip`, on
 * every node of a cluster, join `room` (op 0), leave it (1) or are disconnected (2; close: their
 * whole connection). Node's socketsJoin / socketsLeave / disconnectSockets. */
static PyObject *core_select(CoreObject *c, PyObject *args) {
  const char *name, *room = NULL;
  int op, close = 0;
  PyObject *to, *skip;
  if (!PyArg_ParseTuple(args, "siOOz|p", &name, &op, &to, &skip, &room, &close)) return NULL;
  if (op < 0 || op > 2 || (op < 2 && !room)) {
    PyErr_SetString(PyExc_ValueError, "select: bad operation");
    return NULL;
  }
  if (c->stopping) Py_RETURN_NONE;
  sio_nsp_t *nsp = find_nsp(c, name);
  if (!nsp) return NULL;
  py_target_t pt = {0};
  PyObject *res = NULL;
  if (py_target(&pt, to, skip, 0) < 0) goto out;
  int r = 0;
  if (op == 2) sio_nsp_disconnect(nsp, &pt.t, close);
  else r = op == 0 ? sio_nsp_join(nsp, &pt.t, room) : sio_nsp_leave(nsp, &pt.t, room);
  if (r < 0) raise_sio(r);
  else res = Py_None, Py_INCREF(res);
out:
  py_target_free(&pt);
  return res;
}

/* A JSON array (placeholders indexing a's buffers; a may be NULL) as a list; [] for anything else. */
static PyObject *json_list(const cJSON *j, const sio_args_t *a) {
  PyObject *l = cJSON_IsArray(j) ? from_json(j, a ? a : &(sio_args_t){0}, 0) : PyList_New(0);
  if (l && !PyList_Check(l)) Py_SETREF(l, PyList_New(0));
  return l;
}

static void on_broadcast_ack(sio_nsp_t *nsp, int status, const sio_args_t *responses, void *arg) {
  (void)nsp;
  PyGILState_STATE g = PyGILState_Ensure();
  deliver(arg, status, json_list(responses ? responses->json : NULL, responses), "error in an emit_with_acks callback");
  PyGILState_Release(g);
}

/* emit_acks(nsp, event, args, to, skip, timeout_ms, cb, flags=0): a broadcast asking every
 * recipient (on every node of a cluster) for an ack; cb(error, responses) runs once from the loop
 * with each recipient's first ack argument, error None, "timeout" (the answers that came) or
 * "closed". timeout_ms 0: no timeout. */
static PyObject *core_emit_acks(CoreObject *c, PyObject *args) {
  const char *name;
  text_t event = {0};
  PyObject *values, *to, *skip, *cb;
  unsigned long timeout = 0;
  int flags = 0;
  if (!PyArg_ParseTuple(args, "sO&O!OOkO|i", &name, text_arg, &event, &PyTuple_Type, &values, &to, &skip,
                        &timeout, &cb, &flags))
    return NULL;
  py_target_t pt = {0};
  PyObject *res = NULL;
  cJSON *json = NULL;
  bufs_t b = {0};
  sio_nsp_t *nsp = check_open(c) ? NULL : find_nsp(c, name);
  if (!nsp) goto out;
  if (py_target(&pt, to, skip, flags) < 0) goto out;
  if (args_from_py(values, &json, &b) < 0) goto out;
  sio_args_t a = {json, b.bufs, b.n};
  Py_INCREF(cb);
  int r = sio_nsp_emit_ack(nsp, &pt.t, event.s, &a, timeout ? (uint32_t)timeout : 0x7fffffffu,
                           on_broadcast_ack, cb);
  if (r) {
    Py_DECREF(cb);
    raise_sio(r);
  } else {
    res = Py_None, Py_INCREF(res);
  }
out:
  cJSON_Delete(json);
  bufs_free(&b);
  py_target_free(&pt);
  text_release(&event);
  return res;
}

static PyObject *core_close_room(CoreObject *c, PyObject *args) {
  const char *name, *room;
  if (!PyArg_ParseTuple(args, "ss", &name, &room)) return NULL;
  sio_nsp_t *nsp = find_nsp(c, name);
  if (!nsp) return NULL;
  sio_target_t t = {&room, 1, NULL, 0, 0};
  int r = sio_nsp_leave(nsp, &t, room);
  if (r < 0) return raise_sio(r);
  Py_RETURN_NONE;
}

static PyObject *core_disconnect(CoreObject *c, PyObject *args) {
  const char *name, *sid;
  int close = 0;
  if (!PyArg_ParseTuple(args, "ss|p", &name, &sid, &close)) return NULL;
  sio_socket_t *s = find_socket(c, name, sid, 0);
  if (!s) {
    if (PyErr_Occurred()) return NULL;
    Py_RETURN_FALSE;
  }
  sio_socket_disconnect(s, close);
  Py_RETURN_TRUE;
}

static PyObject *core_connected(CoreObject *c, PyObject *args) {
  const char *name, *sid;
  if (!PyArg_ParseTuple(args, "ss", &name, &sid)) return NULL;
  if (!c->io || c->stopping) Py_RETURN_FALSE;
  sio_socket_t *s = find_socket(c, name, sid, 0);
  if (!s) {
    if (PyErr_Occurred()) return NULL;
    Py_RETURN_FALSE;
  }
  return PyBool_FromLong(sio_socket_connected(s));
}

static PyObject *core_socket_count(CoreObject *c, PyObject *args) {
  const char *name;
  if (!PyArg_ParseTuple(args, "s", &name)) return NULL;
  sio_nsp_t *nsp = find_nsp(c, name);
  if (!nsp) return NULL;
  return PyLong_FromSize_t(sio_nsp_socket_count(nsp));
}

static void on_count(sio_nsp_t *nsp, int status, size_t n, void *arg) {
  (void)nsp;
  PyGILState_STATE g = PyGILState_Ensure();
  deliver(arg, status, PyLong_FromSize_t(n), "error in a fetch_count callback");
  PyGILState_Release(g);
}

static void on_sockets(sio_nsp_t *nsp, int status, const cJSON *sockets, void *arg) {
  (void)nsp;
  PyGILState_STATE g = PyGILState_Ensure();
  deliver(arg, status, json_list(sockets, NULL), "error in a fetch_sockets callback");
  PyGILState_Release(g);
}

static void on_rooms(sio_nsp_t *nsp, int status, const char *const *rooms, size_t n, void *arg) {
  (void)nsp;
  PyGILState_STATE g = PyGILState_Ensure();
  PyObject *l = PyList_New((Py_ssize_t)n);
  for (size_t i = 0; l && i < n; i++) {
    PyObject *v = str_from_json(rooms[i]);
    if (!v) {
      Py_CLEAR(l);
      break;
    }
    PyList_SET_ITEM(l, (Py_ssize_t)i, v);
  }
  deliver(arg, status, l, "error in an all_rooms callback");
  PyGILState_Release(g);
}

enum { PY_REQ_COUNT, PY_REQ_ROOMS, PY_REQ_SOCKETS };

/* fetch_count(nsp, cb), all_rooms(nsp, cb), fetch_sockets(nsp, to, skip, cb): the namespace's
 * socket count, rooms, or the sockets in `to` (None: all) but not in `skip` as dicts {"id",
 * "handshake", "rooms", "data"}, on every node of the cluster (this node's alone without Redis).
 * cb(error, value) runs once from the loop, error None, "timeout" (value: what answered in time),
 * "unavailable" (Redis not connected or lost: what was gathered, this node's at least) or
 * "closed" (the server stopped). Raises ConnectionError once the server is closing. */
static PyObject *cluster_request(CoreObject *c, PyObject *args, int kind) {
  const char *name;
  PyObject *cb, *to = Py_None, *skip = Py_None, *res = NULL;
  if (!(kind == PY_REQ_SOCKETS ? PyArg_ParseTuple(args, "sOOO", &name, &to, &skip, &cb)
                               : PyArg_ParseTuple(args, "sO", &name, &cb)))
    return NULL;
  if (check_open(c)) return NULL;
  sio_nsp_t *nsp = find_nsp(c, name);
  if (!nsp) return NULL;
  py_target_t pt = {0};
  if (py_target(&pt, to, skip, 0) < 0) goto out;
  Py_INCREF(cb);
  int r = kind == PY_REQ_COUNT   ? sio_nsp_fetch_count(nsp, NULL, on_count, cb)
          : kind == PY_REQ_ROOMS ? sio_nsp_fetch_rooms(nsp, on_rooms, cb)
                                 : sio_nsp_fetch_sockets(nsp, &pt.t, on_sockets, cb);
  if (r) {
    Py_DECREF(cb);
    raise_sio(r);
  } else {
    res = Py_None;
    Py_INCREF(res);
  }
out:
  py_target_free(&pt);
  return res;
}

static PyObject *core_fetch_count(CoreObject *c, PyObject *args) { return cluster_request(c, args, PY_REQ_COUNT); }
static PyObject *core_all_rooms(CoreObject *c, PyObject *args) { return cluster_request(c, args, PY_REQ_ROOMS); }
static PyObject *core_fetch_sockets(CoreObject *c, PyObject *args) {
  return cluster_request(c, args, PY_REQ_SOCKETS);
}

static void on_server_ack(sio_nsp_t *nsp, int status, const cJSON *responses, void *arg) {
  (void)nsp;
  PyGILState_STATE g = PyGILState_Ensure();
  deliver(arg, status, json_list(responses, NULL), "error in a server_side_emit callback");
  PyGILState_Release(g);
}

/* Server-side events carry JSON only (Node sends them as JSON text). */
static int json_only(bufs_t *b) {
  if (!b->n) return 0;
  PyErr_SetString(PyExc_ValueError, "server-side events carry JSON values only: no bytes, bytearray or memoryview");
  return -1;
}

/* server_emit(nsp, event, args, cb=None): Node's serverSideEmit to the namespace on every other
 * node; with cb, cb(error, responses) runs once from the loop with each other node's answer (error
 * as fetch_count's). Raises RuntimeError without a cluster, ConnectionError when Redis
 * is not connected and no cb is given, ValueError for bytes. */
static PyObject *core_server_emit(CoreObject *c, PyObject *args) {
  const char *name;
  text_t event = {0};
  PyObject *values, *cb = Py_None;
  if (!PyArg_ParseTuple(args, "sO&O!|O", &name, text_arg, &event, &PyTuple_Type, &values, &cb)) return NULL;
  sio_nsp_t *nsp = check_open(c) ? NULL : find_nsp(c, name);
  cJSON *json;
  bufs_t b;
  if (!nsp || args_from_py(values, &json, &b) < 0) {
    text_release(&event);
    return NULL;
  }
  int r = 0;
  if (json_only(&b) < 0) {
    r = -1;
  } else {
    sio_args_t a = {json, NULL, 0};
    if (cb == Py_None) {
      r = sio_nsp_server_emit(nsp, event.s, &a);
    } else {
      Py_INCREF(cb);
      r = sio_nsp_server_emit_ack(nsp, event.s, &a, on_server_ack, cb);
      if (r) Py_DECREF(cb);
    }
  }
  cJSON_Delete(json);
  bufs_free(&b);
  text_release(&event);
  if (r == -1) return NULL;
  if (r == UV_ENOSYS) {
    PyErr_SetString(PyExc_RuntimeError, "server_side_emit needs a cluster: sio.Server(redis=...)");
    return NULL;
  }
  if (r == SIO_EUNAVAIL) {
    PyErr_SetString(PyExc_ConnectionError, "server_side_emit: Redis is not connected (EUNAVAIL)");
    return NULL;
  }
  if (r) return raise_sio(r);
  Py_RETURN_NONE;
}

/* server_reply(nsp, reply_id, values): answers another node's server-side event once, with
 * values[0] (an empty tuple: an answer without a value). False when it could not be sent (Redis
 * lost, the server stopped). */
static PyObject *core_server_reply(CoreObject *c, PyObject *args) {
  const char *name, *reply_id;
  PyObject *values;
  if (!PyArg_ParseTuple(args, "ssO!", &name, &reply_id, &PyTuple_Type, &values)) return NULL;
  if (!c->io || c->stopping) Py_RETURN_FALSE;
  sio_nsp_t *nsp = find_nsp(c, name);
  if (!nsp) return NULL;
  cJSON *json;
  bufs_t b;
  if (args_from_py(values, &json, &b) < 0) return NULL;
  if (json_only(&b) < 0) {
    cJSON_Delete(json);
    bufs_free(&b);
    return NULL;
  }
  int r = sio_nsp_server_reply(nsp, reply_id, json->child);
  cJSON_Delete(json);
  bufs_free(&b);
  return PyBool_FromLong(r == 0);
}

/* Value round trip through the converters (for tests): values → cJSON + buffers → values. */
static PyObject *core_roundtrip(PyObject *m, PyObject *values) {
  if (!PyTuple_Check(values)) {
    PyErr_SetString(PyExc_TypeError, "roundtrip takes a tuple");
    return NULL;
  }
  cJSON *json;
  bufs_t b;
  if (args_from_py(values, &json, &b) < 0) return NULL;
  sio_args_t a = {json, b.bufs, b.n};
  PyObject *r = args_to_py(&a);
  cJSON_Delete(json);
  bufs_free(&b);
  return r;
}

static PyMethodDef core_methods[] = {
    {"static", (PyCFunction)core_static, METH_VARARGS, "static(prefix, directory): serves files"},
    {"listen", (PyCFunction)core_listen, METH_VARARGS, "listen(host, port) -> bound port"},
    {"port", (PyCFunction)core_port, METH_NOARGS, "the bound port, or None"},
    {"run", (PyCFunction)(void (*)(void))core_run, METH_VARARGS | METH_KEYWORDS,
     "run(handle_signals=True): runs the loop (GIL released) until stopped"},
    {"run_nowait", (PyCFunction)core_run_nowait, METH_NOARGS, "one non-blocking loop iteration"},
    {"backend_fd", (PyCFunction)core_backend_fd, METH_NOARGS, "the loop's poll fd"},
    {"backend_timeout", (PyCFunction)core_backend_timeout, METH_NOARGS, "ms until the next timer, -1: none"},
    {"stop", (PyCFunction)core_stop, METH_NOARGS, "stops the server (thread-safe)"},
    {"wakeup", (PyCFunction)core_wakeup, METH_NOARGS, "calls dispatch._on_drain on the loop (thread-safe)"},
    {"close", (PyCFunction)core_close, METH_NOARGS, "stops and runs the loop until everything is closed"},
    {"connect_done", (PyCFunction)core_connect_done, METH_VARARGS,
     "connect_done(token, None | (message, data)): ends a connect handler that was awaited"},
    {"call_later", (PyCFunction)core_call_later, METH_VARARGS, "call_later(seconds, fn) -> Timer"},
    {"engine", (PyCFunction)core_engine, METH_VARARGS, "engine(path, on_message(sid, data))"},
    {"engine_send", (PyCFunction)core_engine_send, METH_VARARGS, "engine_send(sid, str|bytes) -> sent"},
    {"namespace", (PyCFunction)core_namespace, METH_VARARGS, "namespace(name, key) -> name"},
    {"dynamic", (PyCFunction)core_dynamic, METH_VARARGS, "dynamic(posix_regex, key) -> parent name"},
    {"emit", (PyCFunction)core_emit, METH_VARARGS, "emit(nsp, event, args, to, skip, flags=0)"},
    {"emit_ack", (PyCFunction)core_emit_ack, METH_VARARGS, "emit_ack(nsp, sid, event, args, timeout_ms, cb)"},
    {"ack", (PyCFunction)core_ack, METH_VARARGS, "ack(nsp, sid, ack_id, args) -> sent"},
    {"enter_room", (PyCFunction)core_enter_room, METH_VARARGS, NULL},
    {"leave_room", (PyCFunction)core_leave_room, METH_VARARGS, NULL},
    {"rooms", (PyCFunction)core_rooms, METH_VARARGS, NULL},
    {"close_room", (PyCFunction)core_close_room, METH_VARARGS, NULL},
    {"select", (PyCFunction)core_select, METH_VARARGS,
     "select(nsp, op 0 join / 1 leave / 2 disconnect, to, skip, room, close=False)"},
    {"emit_acks", (PyCFunction)core_emit_acks, METH_VARARGS,
     "emit_acks(nsp, event, args, to, skip, timeout_ms, cb(error, responses), flags=0)"},
    {"disconnect", (PyCFunction)core_disconnect, METH_VARARGS, NULL},
    {"connected", (PyCFunction)core_connected, METH_VARARGS, NULL},
    {"socket_count", (PyCFunction)core_socket_count, METH_VARARGS, NULL},
    {"fetch_count", (PyCFunction)core_fetch_count, METH_VARARGS, "fetch_count(nsp, cb(error, count))"},
    {"all_rooms", (PyCFunction)core_all_rooms, METH_VARARGS, "all_rooms(nsp, cb(error, rooms))"},
    {"fetch_sockets", (PyCFunction)core_fetch_sockets, METH_VARARGS,
     "fetch_sockets(nsp, to, skip, cb(error, sockets))"},
    {"server_emit", (PyCFunction)core_server_emit, METH_VARARGS,
     "server_emit(nsp, event, args, cb(error, responses)=None): serverSideEmit to the other nodes"},
    {"server_reply", (PyCFunction)core_server_reply, METH_VARARGS,
     "server_reply(nsp, reply_id, (value,) or ()) -> sent: answers another node's server-side event"},
    {NULL}};

static PyGetSetDef core_getset[] = {{"closed", (getter)core_closed, NULL, "the server is closed", NULL},
                                    {NULL}};

static PyTypeObject CoreType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "sio._core.Core",
    .tp_basicsize = sizeof(CoreObject),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_doc = "Core(dispatch, path, ping_interval_ms, ping_timeout_ms, max_payload, allow_eio3, cors, "
              "connect_timeout_ms, max_buffered, client_dir, redis, redis_key, redis_requests_timeout_ms, cookie_name, cookie_path, "
              "cookie_domain, cookie_same_site, cookie_http_only, cookie_secure, cookie_max_age): a uv loop "
              "with a Socket.IO server",
    .tp_new = core_new,
    .tp_init = (initproc)core_init,
    .tp_dealloc = (destructor)core_dealloc,
    .tp_traverse = (traverseproc)core_traverse,
    .tp_clear = (inquiry)core_clear,
    .tp_methods = core_methods,
    .tp_getset = core_getset,
};

/* ---- Timer ---- */

static PyObject *timer_cancel(TimerObject *t, PyObject *unused) {
  if (t->t) timer_unlink_close(t->t);
  Py_RETURN_NONE;
}

static PyObject *timer_active(TimerObject *t, void *unused) { return PyBool_FromLong(t->t != NULL); }

static void timer_dealloc(TimerObject *t) {
  if (t->t) t->t->py = NULL; /* the timer still fires */
  PyObject_Free(t);
}

static PyMethodDef timer_methods[] = {{"cancel", (PyCFunction)timer_cancel, METH_NOARGS, "cancels the timer"},
                                      {NULL}};
static PyGetSetDef timer_getset[] = {{"active", (getter)timer_active, NULL, "not fired nor cancelled", NULL},
                                     {NULL}};

static PyTypeObject TimerType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "sio._core.Timer",
    .tp_basicsize = sizeof(TimerObject),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "a pending call_later",
    .tp_dealloc = (destructor)timer_dealloc,
    .tp_methods = timer_methods,
    .tp_getset = timer_getset,
};

/* ---- module ---- */

static PyMethodDef mod_methods[] = {
    {"roundtrip", core_roundtrip, METH_O, "converts a tuple of values to the core's form and back"},
    {NULL}};

static struct PyModuleDef moddef = {PyModuleDef_HEAD_INIT, "sio._core", "The C core of sio.", -1, mod_methods};

PyMODINIT_FUNC PyInit__core(void) {
  if (PyType_Ready(&CoreType) < 0 || PyType_Ready(&TimerType) < 0) return NULL;
  PyObject *m = PyModule_Create(&moddef);
  if (!m) return NULL;
  PyObject *logging = PyImport_ImportModule("logging");
  if (!logging) goto fail;
  Logger = PyObject_CallMethod(logging, "getLogger", "s", "sio");
  Py_DECREF(logging);
  if (!Logger) goto fail;
  NoAck = PyObject_CallNoArgs((PyObject *)&PyBaseObject_Type);
  if (!NoAck) goto fail;
  Py_INCREF(NoAck);
  if (PyModule_AddObject(m, "NOACK", NoAck) < 0) goto fail;
  Py_INCREF(&CoreType);
  if (PyModule_AddObject(m, "Core", (PyObject *)&CoreType) < 0) goto fail;
  Py_INCREF(&TimerType);
  if (PyModule_AddObject(m, "Timer", (PyObject *)&TimerType) < 0) goto fail;
  if (PyModule_AddIntConstant(m, "EMIT_VOLATILE", SIO_EMIT_VOLATILE) < 0) goto fail;
  if (PyModule_AddIntConstant(m, "EMIT_COMPRESS", SIO_EMIT_COMPRESS) < 0) goto fail;
  if (PyModule_AddIntConstant(m, "EMIT_LOCAL", SIO_EMIT_LOCAL) < 0) goto fail;
  return m;
fail:
  Py_DECREF(m);
  return NULL;
}
