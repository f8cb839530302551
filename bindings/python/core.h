/* The Core object (sio._core.Core): a uv loop with a sio_server_t and a sio_io_t, forwarding the
 * core's callbacks to a Python "dispatch" object (sio.Server). Its methods live in three files:
 * core.c (life, loop, options, namespaces, the bare Engine.IO endpoint), events.c (the core's
 * callbacks into Python) and emit.c (emits, acks, rooms, selections, cluster requests).
 *
 * The GIL: run() and run_nowait() release it around uv_run; every callback from the core takes it
 * with PyGILState_Ensure (which also works when a core call made from Python calls back at once).
 * Everything but stop() and wakeup() must be called on the thread running the loop.
 *
 * Workers (workers.c): start_workers(n, setup) makes this Core worker 0 of a group (sio.h
 * "Workers"); workers 1..n-1 are Cores built by `setup` on the group's threads, over the loops
 * the group made (borrowed: `loop` points there, not at own_loop). Those threads run their loops
 * without the GIL; each takes it for its callbacks into Python the way Core.run() does (the batch
 * of pysio_gil_batch, events.c). */
#ifndef SIO_PY_CORE_H
#define SIO_PY_CORE_H

#include <signal.h>
#include <stdatomic.h>

#include "module.h"

typedef struct pysio_timer_s pysio_timer_t;
typedef struct pysio_orphan_s pysio_orphan_t;
typedef struct pysio_group_s pysio_group_t;

/* The dispatch object's methods the core's callbacks call (events.c says with what). */
enum {
  PYSIO_ON_CONNECT,      /* _on_connect(key, nsp, sid, handshake, protocol, token) */
  PYSIO_ON_CONNECTED,    /* _on_connected(key, nsp, sid) */
  PYSIO_ON_EVENT,        /* _on_event(key, nsp, sid, event, args, ack) */
  PYSIO_ON_DISCONNECT,   /* _on_disconnect(key, nsp, sid, reason) */
  PYSIO_ON_SERVER_EVENT, /* _on_server_event(key, nsp, event, args, reply_id) */
  PYSIO_ON_DRAIN,        /* _on_drain(): wakeup() was called */
  PYSIO_ON_CLOSED,       /* _on_closed(): the server is closed */
  PYSIO_ON_DISCONNECTING, /* _on_disconnecting(key, nsp, sid, reason): still in its rooms */
  PYSIO_ON_SOCKET_DATA,  /* _socket_data(key, nsp, sid) -> the socket's data (fetch_sockets) */
  PYSIO_ON_OUTGOING,     /* _node_outgoing(nsp, sid, event, args): a watched socket's outgoing event */
  PYSIO_ON_COUNT
};

typedef struct pysio_core_s {
  PyObject_HEAD
  uv_loop_t own_loop;
  uv_loop_t *loop;           /* &own_loop, or a worker's loop (borrowed) */
  int loop_ready;
  int borrowed;              /* a worker's Core (1..n-1): the group runs and closes its loop */
  pysio_group_t *group;      /* the workers this Core belongs to, NULL when none */
  unsigned worker;           /* its index in the group */
  PyThreadState *worker_ts;  /* a worker thread's Python thread state, kept while it runs */
  PyObject *graveyard;       /* list: the Cores of a failed start_workers, whose handles on this
                              * loop close when it next runs (released after core_shutdown) */
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
  unsigned long running;     /* the thread inside uv_run (GIL released), 0 when none */
  int nowait_used;           /* run_nowait() was called: the asyncio mode (Server._kick matters) */
  /* The GIL once per loop iteration (events.c pysio_gil_batch): the loop thread's state while it
   * is inside uv_run, whether an event callback took the GIL and kept it, and the handles that
   * give it back before the loop waits (prepare) and after a poll's callbacks (check). */
  PyThreadState *loop_ts;
  int gil_held;
  int gil_busy; /* counted in pysio_busy_loops (this loop's batch took the GIL for an event) */
  /* Worker 0's Core: the group's owner, whose run() runs this loop and so keeps the batch's state
   * (loop_ts, running, gil_held) for both; NULL for any other Core (its own). */
  struct pysio_core_s *loop_core;
  uv_prepare_t gil_prepare;
  uv_check_t gil_check;
  PyObject *on[PYSIO_ON_COUNT];
  PyObject *options;         /* dict: the keywords given, which the strings of eio borrow from */
  PyObject *keys;            /* list: the namespace keys stored as nsp data (kept alive here) */
  pysio_timer_t *timers;
  pysio_orphan_t *orphans;   /* ack handles dropped on another thread, freed on the loop's */
  sio_engine_options_t eio;  /* the io's engine options, for the bare endpoint of engine() */
  sio_engine_t *engine;      /* the optional bare Engine.IO endpoint */
  PyObject *on_engine_message; /* its on_message(sid, data) */
  PyObject *on_http;         /* handler()'s callback(HttpRequest) (http.c) */
  PyObject *on_log;          /* set_log()'s fn(level, component, message) (events.c) */
  PyObject *mw_pending;      /* dict: token -> capsule of a socket whose connect handler awaits */
  long long mw_seq;
  /* Connection state recovery: while the connect handler of a restored socket is being called,
   * its kept data (Core.recovering()); NULL otherwise. */
  PyObject *recovering;
  void *hooks;               /* set_hook()'s callables (hooks.c), NULL until the first */
  /* The event fast path (events.c): dispatch._fast ({key: {event: (fn, arity, wants_ack)}}, which
   * the Python layer fills and clears), the dispatch object, its _ack_class (sio.Ack) and
   * _ack_later, inspect.isawaitable; NULL fast: every event goes to dispatch._on_event. */
  PyObject *fast, *dispatch, *ack_class, *ack_later, *isawaitable;
  struct pysio_evname_s *evnames; /* interned event names (events.c) */
  const sio_args_t *cur_args;     /* the event being dispatched (pysio_event_args_same) */
  PyObject *const *cur_vals;
  Py_ssize_t cur_n;
} CoreObject;

static inline pysio_state *pysio_core_state(CoreObject *c) { return pysio_state_of(Py_TYPE(c)); }

/* The CoreObject of a namespace's io. */
CoreObject *pysio_core_of_nsp(const sio_nsp_t *nsp);

/* Raises sio.ClosedError and returns -1 once the server is stopped, else 0. */
int pysio_check_open(CoreObject *c);

/* core.c: frees the ack handles queued by pysio_ack_orphan (on the loop's thread). */
void pysio_free_orphans(CoreObject *c);
/* ack.c: an Ack dropped by a thread other than the loop's queues its handle here. */
void pysio_ack_orphan(CoreObject *c, sio_ack_t *h);

/* workers.c: a Core that started workers is their owner (group set, never a worker itself); the
 * workers' Cores are borrowed-loop Cores (group set, `worker` their index). */
PyObject *pysio_core_start_workers(CoreObject *c, PyObject *args);
PyObject *pysio_core_worker_index(CoreObject *c, PyObject *unused);
/* Core() on a worker thread inside setup: the loop, group and index it joins (0: none). */
int pysio_workers_adopt(CoreObject *c);
/* Asks the group to stop (from any thread); 1 when c belongs to one, else 0. */
int pysio_workers_request_stop(CoreObject *c);
/* On worker 0's thread: stops the group (sio_workers_stop). */
void pysio_workers_stop(CoreObject *c);
void pysio_workers_free(CoreObject *c);
sio_workers_t *pysio_workers_of(CoreObject *c);
/* core.c: what stopping does to a Core besides closing its server */
void pysio_core_stop_handles(CoreObject *c);
void pysio_core_closed(CoreObject *c);
/* Closes c's server (then pysio_core_closed). */
void pysio_core_close_server(CoreObject *c);

/* timer.c */
PyObject *pysio_core_call_later(CoreObject *c, PyObject *args);
PyObject *pysio_core_call_every(CoreObject *c, PyObject *args);
void pysio_timers_close(CoreObject *c);
int pysio_timers_traverse(CoreObject *c, visitproc visit, void *arg);
void pysio_timers_clear(CoreObject *c);

/* ack.c: a new Ack for the client's ack_id (None for ack_id < 0); sends a handler's return value
 * (None: no args, a tuple: its items, else one) through it, logging what cannot be sent. */
PyObject *pysio_ack_new(CoreObject *c, sio_socket_t *s, int64_t ack_id);
void pysio_ack_result(PyObject *ack, PyObject *result);
/* ack.c: a ServerAck (sio.Ack) of `type` for server and handle (an Ack or None) */
PyObject *pysio_server_ack_new(PyTypeObject *type, PyObject *server, PyObject *handle);

/* events.c */
/* the event being dispatched's args when `values` are the very values made of them, else NULL */
const sio_args_t *pysio_event_args_same(CoreObject *c, PyObject *values);
void pysio_evnames_free(CoreObject *c);
int pysio_fast_init(CoreObject *c, PyObject *dispatch);
/* core.c: gives back the GIL an event callback kept (on the loop's thread, inside uv_run) */
void pysio_gil_drop(CoreObject *c);
/* the same at the end of the loop's batch (before it waits, after a poll's callbacks, when it
 * returns): the loop no longer counts in pysio_busy_loops */
void pysio_gil_end(CoreObject *c);
/* loop threads that took the GIL for an event in their current batch (events.c pysio_gil_batch) */
extern atomic_int pysio_busy_loops;

/* The Core whose thread runs c's loop and keeps its GIL batch (c itself but for worker 0's). */
static inline CoreObject *pysio_loop_core(CoreObject *c) { return c->loop_core ? c->loop_core : c; }
extern const sio_nsp_callbacks_t pysio_nsp_callbacks;
void pysio_on_middleware(sio_socket_t *s, void *arg);
cJSON *pysio_socket_data(sio_socket_t *s, void *arg);
void pysio_on_outgoing(sio_socket_t *s, const char *event, const sio_args_t *args, void *arg);
void pysio_release_pending_connects(CoreObject *c);
PyObject *pysio_core_connect_done(CoreObject *c, PyObject *args);
void pysio_engine_message(sio_session_t *s, const char *data, size_t len, int binary);
PyObject *pysio_core_set_log(CoreObject *c, PyObject *args);
PyObject *pysio_core_set_debug(CoreObject *c, PyObject *args, PyObject *kw);

/* http.c: Core.handler() */
PyObject *pysio_core_handler(CoreObject *c, PyObject *args, PyObject *kw);

/* hooks.c: Core.set_hook(name, fn) and the callables' life */
PyObject *pysio_core_set_hook(CoreObject *c, PyObject *args);
int pysio_hooks_traverse(CoreObject *c, visitproc visit, void *arg);
void pysio_hooks_clear(CoreObject *c);
void pysio_hooks_free(CoreObject *c);
/* emit.c: Core methods */
PyObject *pysio_core_emit(CoreObject *c, PyObject *args);
PyObject *pysio_core_emit_ack(CoreObject *c, PyObject *args);
PyObject *pysio_core_emit_acks(CoreObject *c, PyObject *args);
PyObject *pysio_core_enter_room(CoreObject *c, PyObject *args);
PyObject *pysio_core_leave_room(CoreObject *c, PyObject *args);
PyObject *pysio_core_rooms(CoreObject *c, PyObject *args);
PyObject *pysio_core_close_room(CoreObject *c, PyObject *args);
PyObject *pysio_core_select(CoreObject *c, PyObject *args);
PyObject *pysio_core_disconnect(CoreObject *c, PyObject *args);
PyObject *pysio_core_connected(CoreObject *c, PyObject *args);
PyObject *pysio_core_recovered(CoreObject *c, PyObject *args);
PyObject *pysio_core_recovering(CoreObject *c, PyObject *unused);
PyObject *pysio_core_watch_outgoing(CoreObject *c, PyObject *args);
PyObject *pysio_core_handshake(CoreObject *c, PyObject *args);
PyObject *pysio_core_transport(CoreObject *c, PyObject *args);
PyObject *pysio_core_socket_count(CoreObject *c, PyObject *args);
PyObject *pysio_core_fetch_count(CoreObject *c, PyObject *args);
PyObject *pysio_core_all_rooms(CoreObject *c, PyObject *args);
PyObject *pysio_core_fetch_sockets(CoreObject *c, PyObject *args);
PyObject *pysio_core_server_emit(CoreObject *c, PyObject *args);
PyObject *pysio_core_server_reply(CoreObject *c, PyObject *args);

#endif
