/* Core.start_workers(): one interpreter, N loops (sio.h "Workers"). The Core it is called on owns
 * the group and worker 0's loop (the caller's: run() runs it); every worker is a Core that `setup`
 * builds on its worker's thread (core_init adopts the worker's loop through pysio_workers_adopt;
 * worker 0's on the caller's thread, over the owner's loop), so that its server joins the group
 * before its io exists and the io joins the in-process adapter. Every one has the same dispatch
 * object: the same handlers serve every worker. The owner's own server never listens.
 *
 * The GIL: a worker thread runs its loop without it and takes it for its callbacks into Python as
 * worker 0 does while run() waits in uv_run: an event callback takes it once for the events of a
 * poll (events.c pysio_gil_batch; worker 0's Core keeps that state in the owner, loop_core), and
 * gives it back after each event while another loop is handling events too; the other
 * callbacks take it each (PyGILState_Ensure). Its Python thread state is made once, in setup, and
 * kept (worker_ts, loop_ts) until its stop callback: a state made and dropped around every
 * callback would cost an allocation per event and lose threading.local values. Handlers of
 * different workers are thus serialized by the GIL; what the core does without it (parsing,
 * framing, fan-out, I/O) runs on every worker at once while they are busy together.
 *
 * Stopping: sio_workers_stop() on worker 0's thread calls each worker's stop callback on its thread
 * (here: the Core's handles close and its server pointer is dropped, since the group closes the
 * server itself), joins the threads, then group_stopped() on worker 0's loop tells Python. */
#include "core.h"

#include <string.h>

#include "util.h"

#define MAX_WORKERS 64

struct pysio_group_s {
  sio_workers_t *workers;
  unsigned count;
  CoreObject *owner;              /* the Core start_workers was called on (owns this struct) */
  CoreObject *cores[MAX_WORKERS]; /* the workers' Cores, strong references */
  PyObject *setup;                /* setup(index) */
  PyObject *err_type, *err_value, *err_tb; /* the first setup's exception */
  int stopping;
  int failed; /* start_workers failed */
};

/* Set on a worker thread while its setup runs: what a Core made there joins. */
static _Thread_local pysio_group_t *adopting;
static _Thread_local unsigned adopting_index;
static _Thread_local uv_loop_t *adopting_loop;

sio_workers_t *pysio_workers_of(CoreObject *c) { return c->group ? c->group->workers : NULL; }

int pysio_workers_adopt(CoreObject *c) {
  pysio_group_t *g = adopting;
  if (!g || g->cores[adopting_index]) return 0;
  c->loop = adopting_loop;
  c->borrowed = 1;
  c->group = g;
  c->worker = adopting_index;
  if (adopting_index == 0) c->loop_core = g->owner; /* the owner's run() runs this loop */
  Py_INCREF(c);
  g->cores[adopting_index] = c;
  return 1;
}

/* Keeps the first error of a setup (raised again by start_workers on the caller's thread). */
static void keep_error(pysio_group_t *g) {
  if (g->err_type) {
    PyErr_Clear();
    return;
  }
  PyErr_Fetch(&g->err_type, &g->err_value, &g->err_tb);
}

static int worker_setup(sio_workers_t *w, unsigned index, uv_loop_t *loop, void *arg) {
  pysio_group_t *g = arg;
  PyGILState_STATE gs = PyGILState_Ensure();
  g->workers = w;
  int r = 0;
  adopting = g;
  adopting_index = index;
  adopting_loop = loop;
  PyObject *res = PyObject_CallFunction(g->setup, "I", index);
  adopting = NULL;
  if (res && !g->cores[index]) {
    Py_DECREF(res);
    res = NULL;
    PyErr_Format(PyExc_RuntimeError, "workers: setup(%u) made no Core", index);
  }
  Py_XDECREF(res);
  if (!res) {
    keep_error(g);
    if (!r) r = SIO_EINVAL;
  }
  if (index > 0 && !r) {
    /* The thread keeps its Python thread state (this Ensure is not released) without the GIL,
     * and its event callbacks take the GIL once per batch (events.c pysio_gil_batch), as run()'s. */
    CoreObject *c = g->cores[index];
    c->running = PyThread_get_thread_ident();
    c->worker_ts = c->loop_ts = PyEval_SaveThread();
    return 0;
  }
  PyGILState_Release(gs);
  return r;
}

/* The group being stopped by this thread (worker 0's), for group_stopped(). */
static _Thread_local pysio_group_t *stopping_group;

static void worker_stop(sio_workers_t *w, unsigned index, uv_loop_t *loop, void *arg) {
  (void)w;
  (void)loop;
  pysio_group_t *g = arg;
  CoreObject *c = g->cores[index];
  if (!c) return;
  PyThreadState *ts = c->worker_ts;
  PyGILState_STATE gs = PyGILState_UNLOCKED;
  if (ts && c->gil_held) c->gil_held = 0; /* an event's batch of this iteration holds it: ours now */
  else if (ts) PyEval_RestoreThread(ts);
  else gs = PyGILState_Ensure();
  if (ts && c->gil_busy) { /* that batch ends here */
    c->gil_busy = 0;
    atomic_fetch_sub_explicit(&pysio_busy_loops, 1, memory_order_relaxed);
  }
  c->worker_ts = NULL;
  if (ts) { /* the thread state goes below: the callbacks left take the GIL each (PyGILState) */
    c->running = 0;
    c->loop_ts = NULL;
  }
  pysio_core_stop_handles(c);
  pysio_release_pending_connects(c);
  if (!uv_is_closing((uv_handle_t *)&c->async)) uv_close((uv_handle_t *)&c->async, NULL);
  /* The group closes the server after this callback and frees it: methods now raise ClosedError. */
  c->server = NULL;
  c->io = NULL;
  PyGILState_Release(gs); /* a worker thread's: its setup's Ensure, so its thread state goes */
}

/* On worker 0's loop once every thread is joined: every Core is closed, Python is told once. */
static void group_stopped(sio_workers_t *w) {
  (void)w;
  pysio_group_t *g = stopping_group;
  stopping_group = NULL;
  if (!g) return;
  PyGILState_STATE gs = PyGILState_Ensure();
  g->workers = NULL;
  for (unsigned i = 0; i < g->count; i++)
    if (g->cores[i]) {
      g->cores[i]->closed = 1;
      g->cores[i]->loop_ready = 0;
    }
  PyGILState_Release(gs);
  pysio_core_close_server(g->owner); /* then its async closes and Python hears _on_closed */
}

void pysio_workers_stop(CoreObject *c) {
  pysio_group_t *g = c->group;
  if (!g || g->stopping || !g->workers || c != g->owner) return;
  g->stopping = 1;
  pysio_core_stop_handles(c);
  stopping_group = g;
  sio_workers_stop(g->workers, group_stopped);
}

int pysio_workers_request_stop(CoreObject *c) {
  pysio_group_t *g = c->group;
  if (!g) return 0;
  CoreObject *c0 = g->owner;
  if (c0 && c0->loop_ready && !c0->closed) {
    atomic_store(&c0->stop_requested, 1);
    uv_async_send(&c0->async);
  }
  return 1;
}

void pysio_workers_free(CoreObject *c) {
  pysio_group_t *g = c->group;
  c->group = NULL;
  if (!g || c != g->owner) return;
  /* the owner's: the workers' Cores go with it; after a failed start, worker 0's handles are
   * still closing on c's loop, so its Cores wait in the graveyard until that loop ran */
  int failed = g->failed;
  if (failed && !c->graveyard) c->graveyard = PyList_New(0);
  for (unsigned i = 0; i < g->count; i++) {
    CoreObject *w = g->cores[i];
    g->cores[i] = NULL;
    if (w) {
      w->group = NULL;
      w->loop_core = NULL;
      w->closed = 1;
      if (failed && c->graveyard && PyList_Append(c->graveyard, (PyObject *)w) < 0) PyErr_Clear();
      Py_DECREF(w);
    }
  }
  Py_CLEAR(g->setup);
  Py_CLEAR(g->err_type);
  Py_CLEAR(g->err_value);
  Py_CLEAR(g->err_tb);
  PyMem_Free(g);
}

/* start_workers(count, setup): see the method table (core.c). */
PyObject *pysio_core_start_workers(CoreObject *c, PyObject *args) {
  unsigned count;
  PyObject *setup;
  if (!PyArg_ParseTuple(args, "IO", &count, &setup)) return NULL;
  if (pysio_check_open(c)) return NULL;
  if (c->group || c->borrowed) {
    PyErr_SetString(PyExc_RuntimeError, "start_workers: this Core is a worker already");
    return NULL;
  }
  if (count < 1 || count > MAX_WORKERS) {
    PyErr_Format(PyExc_ValueError, "workers must be 1 to %d, not %u", MAX_WORKERS, count);
    return NULL;
  }
  pysio_group_t *g = PyMem_Calloc(1, sizeof *g);
  if (!g) return PyErr_NoMemory();
  g->count = count;
  Py_INCREF(setup);
  g->setup = setup;
  g->owner = c; /* borrowed: the group is c's */
  c->group = g;
  c->worker = 0;
  sio_workers_options_t o;
  sio_workers_options_init(&o);
  o.count = count;
  o.setup = worker_setup;
  o.stop = worker_stop;
  o.arg = g;
  sio_workers_t *w = NULL;
  int r;
  /* Released: the other workers' setups take the GIL on their threads while this one waits. */
  Py_BEGIN_ALLOW_THREADS
  r = sio_workers_start(c->loop, &o, &w);
  Py_END_ALLOW_THREADS
  if (r) {
    PyObject *et = g->err_type, *ev = g->err_value, *tb = g->err_tb;
    g->err_type = g->err_value = g->err_tb = NULL;
    g->failed = 1;
    pysio_workers_free(c);
    if (et) PyErr_Restore(et, ev, tb);
    else pysio_raise(pysio_core_state(c), r, "workers");
    return NULL;
  }
  g->workers = w;
  Py_RETURN_NONE;
}

PyObject *pysio_core_worker_index(CoreObject *c, PyObject *unused) {
  (void)unused;
  pysio_group_t *g = c->group;
  return PyLong_FromLong(g && g->workers ? sio_workers_current(g->workers) : -1);
}
