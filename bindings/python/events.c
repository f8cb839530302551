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

/* dispatch._on_event(key, nsp, sid, event, args, ack): ack is an Ack when the client asked for
 * one, else None; the return value is sent through it unless it is NOACK. */
static void on_event(sio_socket_t *s, const char *event, const sio_args_t *args, int64_t ack_id) {
  sio_nsp_t *nsp = sio_socket_nsp(s);
  CoreObject *c = pysio_core_of_nsp(nsp);
  PyGILState_STATE g = PyGILState_Ensure();
  pysio_state *st = pysio_core_state(c);
  PyObject *fn = c->on[PYSIO_ON_EVENT];
  if (fn) {
    PyObject *ev = pysio_str_from_core(event);
    PyObject *t = ev ? pysio_args_to_py(args) : NULL;
    PyObject *ack = t ? pysio_ack_new(c, s, ack_id) : NULL;
    PyObject *r = NULL;
    if (ack) r = PyObject_CallFunction(fn, "OssOOO", nsp_key(nsp), sio_nsp_name(nsp), sio_socket_id(s), ev, t, ack);
    if (!r) {
      PyObject *msg = PyUnicode_FromFormat("error in the handler of event %R", ev ? ev : Py_None);
      pysio_log_exception(st, msg ? PyUnicode_AsUTF8(msg) : "error in an event handler");
      Py_XDECREF(msg);
    } else if (r != st->noack) {
      pysio_ack_result(ack, r);
    }
    Py_XDECREF(r);
    Py_XDECREF(ack);
    Py_XDECREF(t);
    Py_XDECREF(ev);
  }
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
