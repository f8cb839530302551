/* Core methods that act on namespaces and sockets: emits (with acks), rooms, selections and the
 * cluster requests. Namespaces and sockets are named (nsp name, sid) and looked up on each call:
 * the Python layer keeps no handle that could outlive its socket. */
#include "core.h"
#include "util.h"

/* The namespace named so. The Python layer only passes names it knows (sio_io_of would create
 * any other). */
static sio_nsp_t *find_nsp(CoreObject *c, const char *name) {
  if (pysio_check_open(c)) return NULL;
  sio_nsp_t *nsp;
  int r = sio_io_of(c->io, name, &nsp);
  if (r) {
    pysio_raise(pysio_core_state(c), r, name);
    return NULL;
  }
  return nsp;
}

/* The socket sid of the namespace; NULL when none (a KeyError when `required`) or on error. */
static sio_socket_t *find_socket(CoreObject *c, const char *name, const char *sid, int required) {
  sio_nsp_t *nsp = find_nsp(c, name);
  if (!nsp) return NULL;
  sio_socket_t *s = sio_nsp_socket(nsp, sid);
  if (!s && required) PyErr_Format(PyExc_KeyError, "no socket %s in namespace %s", sid, name);
  return s;
}

/* ---- targets ---- */

/* A str, or a sequence of str, as a C array of core strings (borrowed from the objects kept in
 * *keep). */
static int room_list(PyObject *o, const char ***out, size_t *n, PyObject **keep) {
  *out = NULL;
  *n = 0;
  *keep = NULL;
  if (o == Py_None) return 0;
  *keep = PyUnicode_Check(o) ? PyList_New(1) : PySequence_List(o);
  if (!*keep) return -1;
  if (PyUnicode_Check(o)) {
    Py_INCREF(o);
    PyList_SET_ITEM(*keep, 0, o);
  }
  Py_ssize_t len = PyList_GET_SIZE(*keep);
  if (len == 0) return 0;
  if (!(*out = PyMem_Malloc((size_t)len * sizeof **out))) {
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
    if (!((*out)[i] = pysio_core_str(it, &holder))) return -1;
    if (holder) PyList_SetItem(*keep, i, holder); /* steals holder, releases it */
  }
  *n = (size_t)len;
  return 0;
}

/* Who a selection or broadcast from Python targets: `to` and `skip` (None, a name or a list), the
 * lists and the objects their strings borrow from held until target_free(). */
typedef struct {
  sio_target_t t;
  const char **rooms, **except;
  PyObject *keep_rooms, *keep_except;
} target_t;

static int target_init(target_t *pt, PyObject *to, PyObject *skip, int flags) {
  size_t nr, ne;
  if (room_list(to, &pt->rooms, &nr, &pt->keep_rooms) < 0 || room_list(skip, &pt->except, &ne, &pt->keep_except) < 0)
    return -1;
  pt->t = (sio_target_t){pt->rooms, nr, pt->except, ne, flags};
  return 0;
}

static void target_free(target_t *pt) {
  PyMem_Free(pt->rooms);
  PyMem_Free(pt->except);
  Py_XDECREF(pt->keep_rooms);
  Py_XDECREF(pt->keep_except);
}

/* The outcome of a call into the core: None, or its error raised. */
static PyObject *result(CoreObject *c, int r, const char *context) {
  if (r) return pysio_raise(pysio_core_state(c), r, context);
  Py_RETURN_NONE;
}

/* ---- emits ---- */

/* emit(nsp, event, args, to, skip, flags=0) */
PyObject *pysio_core_emit(CoreObject *c, PyObject *args) {
  const char *name;
  pysio_text_t event = {0};
  PyObject *values, *to, *skip;
  int flags = 0;
  if (!PyArg_ParseTuple(args, "sO&O!OO|i", &name, pysio_text_arg, &event, &PyTuple_Type, &values, &to, &skip, &flags))
    return NULL;
  target_t pt = {0};
  PyObject *res = NULL;
  cJSON *json = NULL;
  pysio_bufs_t b = {0};
  sio_nsp_t *nsp;
  if (c->stopping) { /* a broadcast from a disconnect handler during shutdown: nobody is left to get it */
    res = Py_None;
    Py_INCREF(res);
  } else if ((nsp = find_nsp(c, name)) && target_init(&pt, to, skip, flags) == 0 &&
             pysio_args_from_py(values, &json, &b) == 0) {
    sio_args_t a = {json, b.bufs, b.n};
    res = result(c, sio_nsp_emit(nsp, &pt.t, event.s, &a), "emit");
  }
  cJSON_Delete(json);
  pysio_bufs_free(&b);
  target_free(&pt);
  pysio_text_release(&event);
  return res;
}

static void on_ack(sio_socket_t *s, int status, const sio_args_t *args, void *arg) {
  CoreObject *c = pysio_core_of_nsp(sio_socket_nsp(s));
  PyGILState_STATE g = PyGILState_Ensure();
  pysio_deliver(pysio_core_state(c), arg, status, status == 0 ? pysio_args_to_py(args) : PyTuple_New(0),
                "error in an ack callback");
  PyGILState_Release(g);
}

/* Milliseconds for the core (0: no timeout), or -1 with an exception. */
static int64_t timeout_ms(unsigned long long ms) {
  if (ms > UINT32_MAX) {
    PyErr_SetString(PyExc_ValueError, "timeout too long (at most 2**32 - 1 ms)");
    return -1;
  }
  return (int64_t)ms;
}

/* emit_ack(nsp, sid, event, args, timeout_ms, cb, flags=0): cb(error, args) runs once, error None,
 * "timeout" or "closed". timeout_ms 0: no timeout. */
PyObject *pysio_core_emit_ack(CoreObject *c, PyObject *args) {
  const char *name, *sid;
  pysio_text_t event = {0};
  PyObject *values, *cb, *res = NULL;
  unsigned long long ms;
  int flags = 0;
  if (!PyArg_ParseTuple(args, "ssO&O!KO|i", &name, &sid, pysio_text_arg, &event, &PyTuple_Type, &values, &ms, &cb,
                        &flags))
    return NULL;
  sio_socket_t *s = find_socket(c, name, sid, 1);
  int64_t timeout = timeout_ms(ms);
  cJSON *json;
  pysio_bufs_t b;
  if (s && timeout >= 0 && pysio_args_from_py(values, &json, &b) == 0) {
    sio_args_t a = {json, b.bufs, b.n};
    Py_INCREF(cb);
    int r = sio_socket_emit_ack(s, event.s, &a, flags, (uint32_t)timeout, on_ack, cb);
    res = result(c, r, "emit");
    if (r) Py_DECREF(cb);
    cJSON_Delete(json);
    pysio_bufs_free(&b);
  }
  pysio_text_release(&event);
  return res;
}

static void on_broadcast_ack(sio_nsp_t *nsp, int status, const sio_args_t *responses, void *arg) {
  CoreObject *c = pysio_core_of_nsp(nsp);
  PyGILState_STATE g = PyGILState_Ensure();
  pysio_deliver(pysio_core_state(c), arg, status, pysio_json_list(responses ? responses->json : NULL, responses),
                "error in an emit_with_acks callback");
  PyGILState_Release(g);
}

/* emit_acks(nsp, event, args, to, skip, timeout_ms, cb, flags=0): a broadcast asking every
 * recipient (on every node of a cluster) for an ack; cb(error, responses) runs once from the loop
 * with each recipient's first ack argument, error None, "timeout" (the answers that came) or
 * "closed". timeout_ms 0: no timeout, wait for all. */
PyObject *pysio_core_emit_acks(CoreObject *c, PyObject *args) {
  const char *name;
  pysio_text_t event = {0};
  PyObject *values, *to, *skip, *cb, *res = NULL;
  unsigned long long ms;
  int flags = 0;
  if (!PyArg_ParseTuple(args, "sO&O!OOKO|i", &name, pysio_text_arg, &event, &PyTuple_Type, &values, &to, &skip, &ms,
                        &cb, &flags))
    return NULL;
  target_t pt = {0};
  cJSON *json = NULL;
  pysio_bufs_t b = {0};
  int64_t timeout = timeout_ms(ms);
  sio_nsp_t *nsp = timeout >= 0 ? find_nsp(c, name) : NULL;
  if (nsp && target_init(&pt, to, skip, flags) == 0 && pysio_args_from_py(values, &json, &b) == 0) {
    sio_args_t a = {json, b.bufs, b.n};
    Py_INCREF(cb);
    int r = sio_nsp_emit_ack(nsp, &pt.t, event.s, &a, (uint32_t)timeout, on_broadcast_ack, cb);
    res = result(c, r, "emit_with_acks");
    if (r) Py_DECREF(cb);
  }
  cJSON_Delete(json);
  pysio_bufs_free(&b);
  target_free(&pt);
  pysio_text_release(&event);
  return res;
}

/* ---- rooms and sockets ---- */

/* enter_room(nsp, sid, room): a KeyError for no such socket; leave_room(nsp, sid, room): no error
 * when there is nothing to leave (no such socket, not in that room). */
static PyObject *socket_room(CoreObject *c, PyObject *args, int join) {
  const char *name, *sid;
  pysio_text_t room = {0};
  if (!PyArg_ParseTuple(args, "ssO&", &name, &sid, pysio_text_arg, &room)) return NULL;
  sio_socket_t *s = find_socket(c, name, sid, join);
  int r = !s ? 0 : join ? sio_socket_join(s, room.s) : sio_socket_leave(s, room.s);
  PyObject *res = PyErr_Occurred() ? NULL : result(c, r == SIO_ENOTFOUND && !join ? 0 : r, join ? "enter_room" : "leave_room");
  pysio_text_release(&room);
  return res;
}

PyObject *pysio_core_enter_room(CoreObject *c, PyObject *args) { return socket_room(c, args, 1); }
PyObject *pysio_core_leave_room(CoreObject *c, PyObject *args) { return socket_room(c, args, 0); }

PyObject *pysio_core_rooms(CoreObject *c, PyObject *args) {
  const char *name, *sid;
  if (!PyArg_ParseTuple(args, "ss", &name, &sid)) return NULL;
  sio_socket_t *s = find_socket(c, name, sid, 0);
  if (!s) return PyErr_Occurred() ? NULL : PyList_New(0);
  size_t n = sio_socket_room_count(s);
  PyObject *l = PyList_New((Py_ssize_t)n);
  for (size_t i = 0; l && i < n; i++) {
    PyObject *v = pysio_str_from_core(sio_socket_room(s, i));
    if (!v) Py_CLEAR(l);
    else PyList_SET_ITEM(l, (Py_ssize_t)i, v);
  }
  return l;
}

PyObject *pysio_core_close_room(CoreObject *c, PyObject *args) {
  const char *name;
  pysio_text_t room = {0};
  if (!PyArg_ParseTuple(args, "sO&", &name, pysio_text_arg, &room)) return NULL;
  sio_nsp_t *nsp = find_nsp(c, name);
  sio_target_t t = {&room.s, 1, NULL, 0, 0};
  PyObject *res = nsp ? result(c, sio_nsp_leave(nsp, &t, room.s), "close_room") : NULL;
  pysio_text_release(&room);
  return res;
}

/* select(nsp, op, to, skip, room, close=False): the sockets in `to` (None: all) but not in `skip`,
 * on every node of a cluster, join `room` (op 0), leave it (1) or are disconnected (2; close: their
 * whole connection). Node's socketsJoin / socketsLeave / disconnectSockets. */
PyObject *pysio_core_select(CoreObject *c, PyObject *args) {
  const char *name;
  int op, close = 0;
  PyObject *to, *skip, *room_obj;
  if (!PyArg_ParseTuple(args, "siOOO|p", &name, &op, &to, &skip, &room_obj, &close)) return NULL;
  pysio_text_t room = {0};
  if ((op < 0 || op > 2 || (op < 2 && room_obj == Py_None))) {
    PyErr_SetString(PyExc_ValueError, "select: bad operation");
    return NULL;
  }
  if (c->stopping) Py_RETURN_NONE;
  if (room_obj != Py_None && !pysio_text_arg(room_obj, &room)) return NULL;
  target_t pt = {0};
  PyObject *res = NULL;
  sio_nsp_t *nsp = find_nsp(c, name);
  if (nsp && target_init(&pt, to, skip, 0) == 0) {
    int r = 0;
    if (op == 2) sio_nsp_disconnect(nsp, &pt.t, close);
    else r = op == 0 ? sio_nsp_join(nsp, &pt.t, room.s) : sio_nsp_leave(nsp, &pt.t, room.s);
    res = result(c, r, op == 0 ? "sockets_join" : "sockets_leave");
  }
  target_free(&pt);
  pysio_text_release(&room);
  return res;
}

PyObject *pysio_core_disconnect(CoreObject *c, PyObject *args) {
  const char *name, *sid;
  int close = 0;
  if (!PyArg_ParseTuple(args, "ss|p", &name, &sid, &close)) return NULL;
  sio_socket_t *s = find_socket(c, name, sid, 0);
  if (!s) return PyErr_Occurred() ? NULL : (Py_INCREF(Py_False), Py_False);
  sio_socket_disconnect(s, close);
  Py_RETURN_TRUE;
}

/* watch_outgoing(nsp, sid, on): the socket's outgoing events reach dispatch._node_outgoing (one
 * core catch-all entry per socket; Python keeps the listeners). */
PyObject *pysio_core_watch_outgoing(CoreObject *c, PyObject *args) {
  const char *name, *sid;
  int on;
  if (!PyArg_ParseTuple(args, "ssp", &name, &sid, &on)) return NULL;
  sio_socket_t *s = c->io && !c->stopping ? find_socket(c, name, sid, 0) : NULL;
  if (!s) return PyErr_Occurred() ? NULL : (Py_INCREF(Py_False), Py_False);
  sio_socket_off_any(s, SIO_ANY_OUTGOING, pysio_on_outgoing, c);
  if (on && sio_socket_on_any(s, SIO_ANY_OUTGOING, pysio_on_outgoing, c) != 0) return PyErr_NoMemory();
  Py_RETURN_TRUE;
}

PyObject *pysio_core_connected(CoreObject *c, PyObject *args) {
  const char *name, *sid;
  if (!PyArg_ParseTuple(args, "ss", &name, &sid)) return NULL;
  if (!c->io || c->stopping) Py_RETURN_FALSE;
  sio_socket_t *s = find_socket(c, name, sid, 0);
  if (!s) return PyErr_Occurred() ? NULL : (Py_INCREF(Py_False), Py_False);
  return PyBool_FromLong(sio_socket_connected(s));
}

/* Core.recovered(nsp, sid): (True, data) for a connected socket that connection state recovery
 * restored (data: what was kept as its socket data), else None. */
PyObject *pysio_core_recovered(CoreObject *c, PyObject *args) {
  const char *name, *sid;
  if (!PyArg_ParseTuple(args, "ss", &name, &sid)) return NULL;
  sio_socket_t *s = find_socket(c, name, sid, 0);
  if (!s || !sio_socket_recovered(s)) {
    if (PyErr_Occurred()) return NULL;
    Py_RETURN_NONE;
  }
  const cJSON *d = sio_socket_recovered_data(s);
  PyObject *data = d ? pysio_from_json(d, NULL) : (Py_INCREF(Py_None), Py_None);
  return data ? Py_BuildValue("ON", Py_True, data) : NULL;
}

/* Core.recovering(): inside the connect handler (the core's middleware) of a socket restored by
 * connection state recovery, (True, data); None elsewhere. */
PyObject *pysio_core_recovering(CoreObject *c, PyObject *unused) {
  (void)unused;
  if (!c->recovering) Py_RETURN_NONE;
  return Py_BuildValue("OO", Py_True, c->recovering);
}

/* Core.handshake(nsp, sid): (handshake, protocol) as the connect handler gets them, made when
 * asked (nothing kept per socket); None for a socket this node does not have. */
PyObject *pysio_core_handshake(CoreObject *c, PyObject *args) {
  const char *name, *sid;
  if (!PyArg_ParseTuple(args, "ss", &name, &sid)) return NULL;
  sio_socket_t *s = find_socket(c, name, sid, 0);
  if (!s) {
    if (PyErr_Occurred()) return NULL;
    Py_RETURN_NONE;
  }
  cJSON *hs = sio_socket_handshake(s);
  PyObject *d = hs ? pysio_from_json(hs, NULL) : PyErr_NoMemory();
  cJSON_Delete(hs);
  if (!d) return NULL;
  return Py_BuildValue("Ni", d, sio_session_protocol(sio_socket_session(s)));
}

/* Core.transport(nsp, sid): SIO_TRANSPORT_POLLING or _WEBSOCKET (after any upgrade); 0 for a
 * socket this node does not have. */
PyObject *pysio_core_transport(CoreObject *c, PyObject *args) {
  const char *name, *sid;
  if (!PyArg_ParseTuple(args, "ss", &name, &sid)) return NULL;
  sio_socket_t *s = find_socket(c, name, sid, 0);
  if (!s) return PyErr_Occurred() ? NULL : PyLong_FromLong(0);
  return PyLong_FromLong(sio_session_transport(sio_socket_session(s)));
}

PyObject *pysio_core_socket_count(CoreObject *c, PyObject *args) {
  const char *name;
  if (!PyArg_ParseTuple(args, "s", &name)) return NULL;
  sio_nsp_t *nsp = find_nsp(c, name);
  return nsp ? PyLong_FromSize_t(sio_nsp_socket_count(nsp)) : NULL;
}

/* ---- cluster requests ---- */

static void on_count(sio_nsp_t *nsp, int status, size_t n, void *arg) {
  CoreObject *c = pysio_core_of_nsp(nsp);
  PyGILState_STATE g = PyGILState_Ensure();
  pysio_deliver(pysio_core_state(c), arg, status, PyLong_FromSize_t(n), "error in a fetch_count callback");
  PyGILState_Release(g);
}

static void on_sockets(sio_nsp_t *nsp, int status, const cJSON *sockets, void *arg) {
  CoreObject *c = pysio_core_of_nsp(nsp);
  PyGILState_STATE g = PyGILState_Ensure();
  pysio_deliver(pysio_core_state(c), arg, status, pysio_json_list(sockets, NULL), "error in a fetch_sockets callback");
  PyGILState_Release(g);
}

static void on_rooms(sio_nsp_t *nsp, int status, const char *const *rooms, size_t n, void *arg) {
  CoreObject *c = pysio_core_of_nsp(nsp);
  PyGILState_STATE g = PyGILState_Ensure();
  PyObject *l = PyList_New((Py_ssize_t)n);
  for (size_t i = 0; l && i < n; i++) {
    PyObject *v = pysio_str_from_core(rooms[i]);
    if (!v) Py_CLEAR(l);
    else PyList_SET_ITEM(l, (Py_ssize_t)i, v);
  }
  pysio_deliver(pysio_core_state(c), arg, status, l, "error in an all_rooms callback");
  PyGILState_Release(g);
}

enum { REQ_COUNT, REQ_ROOMS, REQ_SOCKETS };

/* fetch_count(nsp, cb), all_rooms(nsp, cb), fetch_sockets(nsp, to, skip, cb): the namespace's
 * socket count, rooms, or the sockets in `to` (None: all) but not in `skip` as dicts {"id",
 * "handshake", "rooms", "data"}, on every node of the cluster (this node's alone without Redis).
 * cb(error, value) runs once from the loop, error None, "timeout" (value: what answered in time),
 * "unavailable" (Redis not connected or lost: what was gathered, this node's at least) or
 * "closed" (the server stopped). Raises sio.ClosedError once the server is closing. */
static PyObject *cluster_request(CoreObject *c, PyObject *args, int kind) {
  const char *name;
  PyObject *cb, *to = Py_None, *skip = Py_None, *res = NULL;
  if (!(kind == REQ_SOCKETS ? PyArg_ParseTuple(args, "sOOO", &name, &to, &skip, &cb)
                            : PyArg_ParseTuple(args, "sO", &name, &cb)))
    return NULL;
  sio_nsp_t *nsp = find_nsp(c, name);
  target_t pt = {0};
  if (nsp && target_init(&pt, to, skip, 0) == 0) {
    Py_INCREF(cb);
    int r = kind == REQ_COUNT   ? sio_nsp_fetch_count(nsp, NULL, on_count, cb)
            : kind == REQ_ROOMS ? sio_nsp_fetch_rooms(nsp, on_rooms, cb)
                                : sio_nsp_fetch_sockets(nsp, &pt.t, on_sockets, cb);
    res = result(c, r, kind == REQ_COUNT ? "fetch_count" : kind == REQ_ROOMS ? "all_rooms" : "fetch_sockets");
    if (r) Py_DECREF(cb);
  }
  target_free(&pt);
  return res;
}

PyObject *pysio_core_fetch_count(CoreObject *c, PyObject *args) { return cluster_request(c, args, REQ_COUNT); }
PyObject *pysio_core_all_rooms(CoreObject *c, PyObject *args) { return cluster_request(c, args, REQ_ROOMS); }
PyObject *pysio_core_fetch_sockets(CoreObject *c, PyObject *args) { return cluster_request(c, args, REQ_SOCKETS); }

static void on_server_ack(sio_nsp_t *nsp, int status, const cJSON *responses, void *arg) {
  CoreObject *c = pysio_core_of_nsp(nsp);
  PyGILState_STATE g = PyGILState_Ensure();
  pysio_deliver(pysio_core_state(c), arg, status, pysio_json_list(responses, NULL),
                "error in a server_side_emit callback");
  PyGILState_Release(g);
}

/* Server-side events carry JSON values only (the wire is JSON text): the arguments converted, or
 * -1 with a ValueError for bytes. */
static int json_args(PyObject *values, cJSON **json) {
  pysio_bufs_t b;
  if (pysio_args_from_py(values, json, &b) < 0) return -1;
  size_t n = b.n;
  pysio_bufs_free(&b);
  if (!n) return 0;
  cJSON_Delete(*json);
  PyErr_SetString(PyExc_ValueError, "server-side events carry JSON values only: no bytes, bytearray or memoryview");
  return -1;
}

/* server_emit(nsp, event, args, cb=None): Node's serverSideEmit to the namespace on every other
 * node; with cb, cb(error, responses) runs once from the loop with each other node's answer (error
 * as fetch_count's). The core's errors: sio.ReservedEventError, sio.UnsupportedError without a
 * cluster, sio.UnavailableError when Redis is not connected and no cb is given. */
PyObject *pysio_core_server_emit(CoreObject *c, PyObject *args) {
  const char *name;
  pysio_text_t event = {0};
  PyObject *values, *cb = Py_None, *res = NULL;
  if (!PyArg_ParseTuple(args, "sO&O!|O", &name, pysio_text_arg, &event, &PyTuple_Type, &values, &cb)) return NULL;
  sio_nsp_t *nsp = find_nsp(c, name);
  cJSON *json;
  if (nsp && json_args(values, &json) == 0) {
    sio_args_t a = {json, NULL, 0};
    if (cb != Py_None) Py_INCREF(cb);
    int r = cb == Py_None ? sio_nsp_server_emit(nsp, event.s, &a)
                          : sio_nsp_server_emit_ack(nsp, event.s, &a, on_server_ack, cb);
    res = result(c, r, "server_side_emit");
    if (r && cb != Py_None) Py_DECREF(cb);
    cJSON_Delete(json);
  }
  pysio_text_release(&event);
  return res;
}

/* server_reply(nsp, reply_id, values): answers another node's server-side event once, with
 * values[0] (an empty tuple: an answer without a value). False when it could not be sent (Redis
 * lost, the server stopped). */
PyObject *pysio_core_server_reply(CoreObject *c, PyObject *args) {
  const char *name, *reply_id;
  PyObject *values;
  if (!PyArg_ParseTuple(args, "ssO!", &name, &reply_id, &PyTuple_Type, &values)) return NULL;
  if (!c->io || c->stopping) Py_RETURN_FALSE;
  sio_nsp_t *nsp = find_nsp(c, name);
  cJSON *json;
  if (!nsp || json_args(values, &json) < 0) return NULL;
  int r = sio_nsp_server_reply(nsp, reply_id, json->child);
  cJSON_Delete(json);
  return PyBool_FromLong(r == 0);
}
