/* sio._core.Ack: the acknowledgement a client asked for, over the core's one-shot handle
 * (sio_ack_t): it answers once (a second call sends nothing and returns False), and may be kept
 * and called after its handler returned, even after its socket left (then it returns False).
 *
 * Threads: the handle belongs to the loop's thread. sio.Ack (python/sio/ack.py) hands a call made
 * elsewhere to that thread; an Ack dropped elsewhere while the loop runs leaves its handle to the
 * Core, which frees it on the loop's thread (pysio_ack_orphan). */
#include "core.h"
#include "util.h"

#include <structmember.h>

typedef struct {
  PyObject_HEAD
  sio_ack_t *h;    /* NULL: the client asked for no ack */
  CoreObject *core; /* strong: the loop the handle belongs to */
} AckObject;

struct pysio_orphan_s {
  sio_ack_t *h;
  pysio_orphan_t *next;
};

PyObject *pysio_ack_new(CoreObject *c, sio_socket_t *s, int64_t ack_id) {
  if (ack_id < 0) Py_RETURN_NONE;
  PyTypeObject *type = pysio_core_state(c)->ack_type;
  AckObject *a = (AckObject *)type->tp_alloc(type, 0);
  if (!a) return NULL;
  a->core = c;
  Py_INCREF(c);
  if (!(a->h = sio_socket_ack_handle(s, ack_id))) {
    Py_DECREF(a);
    return PyErr_NoMemory();
  }
  return (PyObject *)a;
}

static int on_other_thread(CoreObject *c) {
  if (!c) return 0;
  c = pysio_loop_core(c);
  return c->running && c->running != PyThread_get_thread_ident();
}

/* Sends `values` (a tuple): 1 sent, 0 not (answered before, or the socket left), -1 with an
 * exception (values that cannot be sent; the ack may be called again). */
static int send_values(AckObject *a, PyObject *values) {
  if (!a->h || sio_ack_done(a->h)) return 0;
  const sio_args_t *same = pysio_event_args_same(a->core, values);
  if (same) { /* an echo of the event being handled: its own tree, not a copy of it */
    int r = sio_ack_send(a->h, same);
    if (r && r != SIO_EALREADY && r != SIO_ECLOSED) pysio_raise(pysio_state_of(Py_TYPE(a)), r, "ack");
    return r == 0 ? 1 : r == SIO_EALREADY || r == SIO_ECLOSED ? 0 : -1;
  }
  cJSON *json;
  pysio_bufs_t b;
  if (pysio_args_from_py(values, &json, &b) < 0) return -1;
  sio_args_t sa = {json, b.bufs, b.n};
  int r = sio_ack_send(a->h, &sa);
  if (r && r != SIO_EALREADY && r != SIO_ECLOSED) pysio_raise(pysio_state_of(Py_TYPE(a)), r, "ack");
  cJSON_Delete(json);
  pysio_bufs_free(&b);
  return r == 0 ? 1 : r == SIO_EALREADY || r == SIO_ECLOSED ? 0 : -1;
}

void pysio_ack_result(PyObject *ack, PyObject *result) {
  if (ack == Py_None) return;
  PyObject *values = result == Py_None      ? PyTuple_New(0)
                     : PyTuple_Check(result) ? (Py_INCREF(result), result)
                                             : PyTuple_Pack(1, result);
  if (!values || send_values((AckObject *)ack, values) < 0)
    pysio_log_exception(pysio_state_of(Py_TYPE(ack)), "a handler returned a value that cannot be sent as an ack");
  Py_XDECREF(values);
}

/* ack(*values) -> sent */
static PyObject *ack_call(AckObject *a, PyObject *args, PyObject *kw) {
  if (kw && PyDict_GET_SIZE(kw)) {
    PyErr_SetString(PyExc_TypeError, "an ack takes positional values only");
    return NULL;
  }
  if (on_other_thread(a->core)) {
    PyErr_SetString(PyExc_RuntimeError, "sio._core.Ack is called on the server's thread (sio.Ack hands it there)");
    return NULL;
  }
  int r = send_values(a, args);
  return r < 0 ? NULL : PyBool_FromLong(r);
}

static PyObject *ack_call_slot(PyObject *a, PyObject *args, PyObject *kw) { return ack_call((AckObject *)a, args, kw); }

/* False when nothing can be sent any more: no ack was asked, it was answered, or the socket left. */
static int ack_bool(AckObject *a) { return a->h && !sio_ack_done(a->h); }

static PyObject *ack_done(AckObject *a, void *unused) {
  (void)unused;
  return PyBool_FromLong(!ack_bool(a));
}

void pysio_ack_orphan(CoreObject *c, sio_ack_t *h) {
  pysio_orphan_t *o = PyMem_RawMalloc(sizeof *o);
  if (!o) return; /* a few bytes lost: freeing it here would race with the loop */
  o->h = h;
  o->next = c->orphans;
  c->orphans = o;
  if (c->loop_ready && !c->closed) uv_async_send(&c->async);
}

void pysio_free_orphans(CoreObject *c) {
  while (c->orphans) {
    pysio_orphan_t *o = c->orphans;
    c->orphans = o->next;
    sio_ack_free(o->h);
    PyMem_RawFree(o);
  }
}

static int ack_traverse(AckObject *a, visitproc visit, void *arg) {
  Py_VISIT(Py_TYPE(a));
  Py_VISIT(a->core);
  return 0;
}

static void ack_dealloc(AckObject *a) {
  PyTypeObject *type = Py_TYPE(a);
  PyObject_GC_UnTrack(a);
  if (a->h) {
    if (on_other_thread(a->core)) pysio_ack_orphan(a->core, a->h);
    else sio_ack_free(a->h);
  }
  Py_CLEAR(a->core);
  type->tp_free(a);
  Py_DECREF(type);
}

static PyGetSetDef ack_getset[] = {
    {"done", (getter)ack_done, NULL, "nothing more can be sent: answered, or the socket left", NULL}, {NULL}};

static PyType_Slot ack_slots[] = {
    {Py_tp_doc, "Ack: answers a client's acknowledgement once; ack(*values) -> sent"},
    {Py_tp_call, ack_call_slot},
    {Py_nb_bool, ack_bool},
    {Py_tp_getset, ack_getset},
    {Py_tp_traverse, ack_traverse},
    {Py_tp_dealloc, ack_dealloc},
    {0, NULL},
};

PyType_Spec pysio_ack_spec = {
    .name = "sio._core.Ack",
    .basicsize = sizeof(AckObject),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .slots = ack_slots,
};

/* ---- sio.Ack's base (_core.ServerAck) ----
 *
 * What a handler with a keyword-only `ack` parameter gets: the Ack above (or None: no ack asked)
 * with its server, so that a call from another thread is handed to the server's thread
 * (server.call_soon_threadsafe) and one on that thread writes at once (server._kick() in asyncio
 * mode). In C because every such handler's call makes one and calls it: python/sio/ack.py
 * subclasses it for its name and documentation. */

typedef struct {
  PyObject_HEAD
  PyObject *server;
  PyObject *handle; /* an Ack, or None */
} ServerAckObject;

PyObject *pysio_server_ack_new(PyTypeObject *type, PyObject *server, PyObject *handle) {
  ServerAckObject *a = (ServerAckObject *)type->tp_alloc(type, 0);
  if (!a) return NULL;
  Py_INCREF(server);
  a->server = server;
  Py_INCREF(handle);
  a->handle = handle;
  return (PyObject *)a;
}

static PyObject *server_ack_tp_new(PyTypeObject *type, PyObject *args, PyObject *kw) {
  static char *kwlist[] = {"server", "handle", NULL};
  PyObject *server, *handle;
  if (!PyArg_ParseTupleAndKeywords(args, kw, "OO", kwlist, &server, &handle)) return NULL;
  return pysio_server_ack_new(type, server, handle);
}

/* The Ack type of the module whose type `h` is, or NULL (h is something else: a stand-in). */
static PyTypeObject *core_ack_type(PyObject *h) {
  PyTypeObject *t = Py_TYPE(h);
  if (!(t->tp_flags & Py_TPFLAGS_HEAPTYPE) || t->tp_call != (ternaryfunc)ack_call_slot) return NULL;
  return t;
}

/* server.<name> with `name` interned once per module (the handle's), else made for this call. */
static PyObject *server_attr(PyTypeObject *ack_type, PyObject *server, int which, const char *name) {
  pysio_state *st = ack_type ? pysio_state_of(ack_type) : NULL;
  return st ? PyObject_GetAttr(server, st->names[which]) : PyObject_GetAttrString(server, name);
}

/* server._elsewhere(): called from a thread other than the server's (its workers' with workers). */
static int server_elsewhere(PyTypeObject *ack_type, PyObject *server) {
  PyObject *r = ack_type ? PyObject_CallMethodNoArgs(server, pysio_state_of(ack_type)->names[PYSIO_NAME_ELSEWHERE])
                         : PyObject_CallMethod(server, "_elsewhere", NULL);
  if (!r) return -1;
  int b = PyObject_IsTrue(r);
  Py_DECREF(r);
  return b;
}

/* From another thread: server.call_soon_threadsafe(handle, *values), or with `worker` (an index,
 * not NULL) server._to_worker(worker, handle, *values); True. */
static PyObject *hand_over(PyObject *server, PyObject *worker, PyObject *handle, PyObject *values) {
  Py_ssize_t n = PyTuple_GET_SIZE(values), k = worker ? 2 : 1;
  PyObject *t = PyTuple_New(n + k);
  if (!t) return NULL;
  if (worker) {
    Py_INCREF(worker);
    PyTuple_SET_ITEM(t, 0, worker);
  }
  Py_INCREF(handle);
  PyTuple_SET_ITEM(t, k - 1, handle);
  for (Py_ssize_t i = 0; i < n; i++) {
    Py_INCREF(PyTuple_GET_ITEM(values, i));
    PyTuple_SET_ITEM(t, i + k, PyTuple_GET_ITEM(values, i));
  }
  PyObject *fn = PyObject_GetAttrString(server, worker ? "_to_worker" : "call_soon_threadsafe");
  PyObject *r = fn ? PyObject_Call(fn, t, NULL) : NULL;
  Py_XDECREF(fn);
  Py_DECREF(t);
  if (!r) return NULL;
  Py_DECREF(r);
  Py_RETURN_TRUE;
}

/* A worker's Ack called on a thread other than its loop's (another worker's handler, a thread of
 * the application's): handed to that worker's loop. */
static PyObject *hand_to_worker(PyObject *server, CoreObject *own, PyObject *handle, PyObject *values) {
  PyObject *index = PyLong_FromUnsignedLong(own->worker);
  PyObject *r = index ? hand_over(server, index, handle, values) : NULL;
  Py_XDECREF(index);
  return r;
}

/* ack(*values) -> sent: False when no ack was asked, it was answered or the client left; True
 * when handed to the server's thread. */
static PyObject *server_ack_call(ServerAckObject *a, PyObject *values, PyObject *kw) {
  if (kw && PyDict_GET_SIZE(kw)) {
    PyErr_SetString(PyExc_TypeError, "an ack takes positional values only");
    return NULL;
  }
  PyObject *handle = a->handle;
  if (handle == Py_None) Py_RETURN_FALSE;
  PyTypeObject *at = core_ack_type(handle);
  CoreObject *core = at ? pysio_loop_core(((AckObject *)handle)->core) : NULL;
  if (core && !core->nowait_used && core->running && core->running == PyThread_get_thread_ident()) {
    /* inside Core.run() (or a worker's loop) on this thread (a handler's call, the common case):
     * the server's thread, and not the asyncio mode, whose _kick() alone needs the attribute
     * lookups below */
    Py_INCREF(handle);
    int r = send_values((AckObject *)handle, values);
    Py_DECREF(handle);
    return r < 0 ? NULL : PyBool_FromLong(r);
  }
  CoreObject *own = at ? ((AckObject *)handle)->core : NULL;
  if (own && own->group && on_other_thread(own)) return hand_to_worker(a->server, own, handle, values);
  int away = server_elsewhere(at, a->server);
  if (away < 0) return NULL;
  if (away) return hand_over(a->server, NULL, handle, values);
  PyObject *sent;
  Py_INCREF(handle); /* the call may drop a's last reference */
  PyObject *server = a->server;
  Py_INCREF(server);
  if (at) {
    int r = send_values((AckObject *)handle, values);
    sent = r < 0 ? NULL : PyBool_FromLong(r);
  } else {
    sent = PyObject_Call(handle, values, NULL);
  }
  /* asyncio mode: a libuv iteration writes it (server._kick()) */
  PyObject *aio = sent ? server_attr(at, server, PYSIO_NAME_AIO, "_aio") : NULL;
  if (aio && aio != Py_None) {
    PyObject *k = at ? PyObject_CallMethodNoArgs(server, pysio_state_of(at)->names[PYSIO_NAME_KICK])
                     : PyObject_CallMethod(server, "_kick", NULL);
    if (!k) Py_CLEAR(sent);
    Py_XDECREF(k);
  }
  if (!aio) Py_CLEAR(sent);
  Py_XDECREF(aio);
  Py_DECREF(server);
  Py_DECREF(handle);
  return sent;
}

static int server_ack_bool(ServerAckObject *a) {
  if (a->handle == Py_None) return 0;
  if (core_ack_type(a->handle)) return ack_bool((AckObject *)a->handle);
  return PyObject_IsTrue(a->handle);
}

static int server_ack_traverse(ServerAckObject *a, visitproc visit, void *arg) {
  Py_VISIT(Py_TYPE(a));
  Py_VISIT(a->server);
  Py_VISIT(a->handle);
  return 0;
}

static int server_ack_clear(ServerAckObject *a) {
  Py_CLEAR(a->server);
  Py_CLEAR(a->handle);
  return 0;
}

static void server_ack_dealloc(ServerAckObject *a) {
  PyTypeObject *type = Py_TYPE(a);
  PyObject_GC_UnTrack(a);
  server_ack_clear(a);
  type->tp_free(a);
  Py_DECREF(type);
}

static PyMemberDef server_ack_members[] = {
    {"_server", T_OBJECT, offsetof(ServerAckObject, server), READONLY, NULL},
    {"_handle", T_OBJECT, offsetof(ServerAckObject, handle), READONLY, NULL},
    {NULL}};

static PyType_Slot server_ack_slots[] = {
    {Py_tp_doc, "ServerAck(server, handle): sio.Ack's base; ack(*values) -> sent"},
    {Py_tp_new, server_ack_tp_new},
    {Py_tp_call, server_ack_call},
    {Py_nb_bool, server_ack_bool},
    {Py_tp_members, server_ack_members},
    {Py_tp_traverse, server_ack_traverse},
    {Py_tp_clear, server_ack_clear},
    {Py_tp_dealloc, server_ack_dealloc},
    {0, NULL},
};

PyType_Spec pysio_server_ack_spec = {
    .name = "sio._core.ServerAck",
    .basicsize = sizeof(ServerAckObject),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_BASETYPE,
    .slots = server_ack_slots,
};
