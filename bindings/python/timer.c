/* sio._core.Timer: a pending Core.call_later() or a running Core.call_every(), over a uv_timer_t of the Core's loop. The uv
 * handle and the Python object live apart (a timer fires whether or not its Timer is kept), each
 * pointing to the other until either goes. Server thread only, as every Core method. */
#include "core.h"
#include "util.h"

struct pysio_timer_s {
  uv_timer_t h;
  CoreObject *core;
  PyObject *fn;
  int repeat;
  struct TimerObject *py; /* borrowed back pointer, cleared when either side goes */
  pysio_timer_t *prev, *next;
};

typedef struct TimerObject {
  PyObject_HEAD
  pysio_timer_t *t;
} TimerObject;

static void timer_close_cb(uv_handle_t *h) {
  pysio_timer_t *t = h->data;
  PyGILState_STATE g = PyGILState_Ensure();
  Py_CLEAR(t->fn);
  PyGILState_Release(g);
  PyMem_RawFree(t);
}

static void timer_unlink_close(pysio_timer_t *t) {
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
  pysio_timer_t *t = h->data;
  PyGILState_STATE g = PyGILState_Ensure();
  PyObject *fn = t->fn;
  Py_XINCREF(fn);
  pysio_state *st = pysio_core_state(t->core);
  int repeat = t->repeat;
  if (!repeat) timer_unlink_close(t); /* over before its callback runs, which may start another */
  if (fn) {
    PyObject *r = PyObject_CallNoArgs(fn);
    if (!r) pysio_log_exception(st, repeat ? "error in a call_every callback (it keeps running)" : "error in a timer callback");
    Py_XDECREF(r);
    Py_DECREF(fn);
  }
  PyGILState_Release(g);
}

void pysio_timers_close(CoreObject *c) {
  while (c->timers) timer_unlink_close(c->timers);
}

int pysio_timers_traverse(CoreObject *c, visitproc visit, void *arg) {
  for (pysio_timer_t *t = c->timers; t; t = t->next) Py_VISIT(t->fn);
  return 0;
}

void pysio_timers_clear(CoreObject *c) {
  for (pysio_timer_t *t = c->timers; t; t = t->next) Py_CLEAR(t->fn);
}

/* Seconds as timer milliseconds: NaN and negative as 0 (now), past uint64_t (1e300, inf) as its
 * maximum (never, for libuv). Checked before the cast, which would be undefined behaviour. */
static uint64_t delay_ms(double seconds) {
  double ms = seconds * 1000.0 + 0.5;
  if (!(ms >= 1.0)) return 0;
  if (ms >= 18446744073709551616.0) return UINT64_MAX;
  return (uint64_t)ms;
}

/* Core.call_later(seconds, fn) -> Timer; Core.call_every(seconds, fn) -> Timer: fn() every
 * `seconds` (at least 1 ms) from now until cancelled; an exception is logged and it goes on. */
static PyObject *start_timer(CoreObject *c, PyObject *args, int repeat) {
  double delay;
  PyObject *fn;
  if (!PyArg_ParseTuple(args, "dO", &delay, &fn)) return NULL;
  if (!PyCallable_Check(fn)) {
    PyErr_SetString(PyExc_TypeError, repeat ? "call_every needs a callable" : "call_later needs a callable");
    return NULL;
  }
  if (repeat && !(delay > 0)) {
    PyErr_SetString(PyExc_ValueError, "call_every needs a positive interval");
    return NULL;
  }
  if (pysio_check_open(c)) return NULL;
  PyTypeObject *type = pysio_core_state(c)->timer_type;
  TimerObject *py = (TimerObject *)type->tp_alloc(type, 0);
  if (!py) return NULL;
  pysio_timer_t *t = PyMem_RawCalloc(1, sizeof *t);
  if (!t) {
    Py_DECREF(py);
    return PyErr_NoMemory();
  }
  uv_timer_init(c->loop, &t->h);
  t->h.data = t;
  t->core = c;
  t->fn = fn;
  Py_INCREF(fn);
  t->py = py;
  py->t = t;
  t->next = c->timers;
  if (c->timers) c->timers->prev = t;
  c->timers = t;
  t->repeat = repeat;
  uint64_t ms = delay_ms(delay);
  if (repeat && ms == 0) ms = 1;
  uv_timer_start(&t->h, timer_cb, ms, repeat ? ms : 0);
  return (PyObject *)py;
}

PyObject *pysio_core_call_later(CoreObject *c, PyObject *args) { return start_timer(c, args, 0); }
PyObject *pysio_core_call_every(CoreObject *c, PyObject *args) { return start_timer(c, args, 1); }

static PyObject *timer_cancel(TimerObject *t, PyObject *unused) {
  (void)unused;
  if (t->t) timer_unlink_close(t->t);
  Py_RETURN_NONE;
}

static PyObject *timer_active(TimerObject *t, void *unused) {
  (void)unused;
  return PyBool_FromLong(t->t != NULL);
}

static void timer_dealloc(TimerObject *t) {
  PyTypeObject *type = Py_TYPE(t);
  if (t->t) t->t->py = NULL; /* the timer still fires */
  type->tp_free(t);
  Py_DECREF(type);
}

static PyMethodDef timer_methods[] = {{"cancel", (PyCFunction)timer_cancel, METH_NOARGS, "cancels the timer"},
                                      {NULL}};
static PyGetSetDef timer_getset[] = {{"active", (getter)timer_active, NULL, "not fired (call_later) nor cancelled", NULL},
                                     {NULL}};

static PyType_Slot timer_slots[] = {
    {Py_tp_doc, "a pending call_later or a running call_every"},
    {Py_tp_dealloc, timer_dealloc},
    {Py_tp_methods, timer_methods},
    {Py_tp_getset, timer_getset},
    {0, NULL},
};

PyType_Spec pysio_timer_spec = {
    .name = "sio._core.Timer",
    .basicsize = sizeof(TimerObject),
    .flags = Py_TPFLAGS_DEFAULT,
    .slots = timer_slots,
};
