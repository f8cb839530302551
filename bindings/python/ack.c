/* sio._core.Ack: the acknowledgement a client asked for, over the core's one-shot handle
 * (sio_ack_t): it answers once (a second call sends nothing and returns False), and may be kept
 * and called after its handler returned, even after its socket left (then it returns False).
 *
 * Threads: the handle belongs to the loop's thread. sio.Ack (python/sio/ack.py) hands a call made
 * elsewhere to that thread; an Ack dropped elsewhere while the loop runs leaves its handle to the
 * Core, which frees it on the loop's thread (pysio_ack_orphan). */
#include "core.h"
#include "util.h"

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

static int on_other_thread(CoreObject *c) { return c && c->running && c->running != PyThread_get_thread_ident(); }

/* Sends `values` (a tuple): 1 sent, 0 not (answered before, or the socket left), -1 with an
 * exception (values that cannot be sent; the ack may be called again). */
static int send_values(AckObject *a, PyObject *values) {
  if (!a->h || sio_ack_done(a->h)) return 0;
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
    {Py_tp_call, ack_call},
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
