/* Workers: N loops in one process (sio.h "Workers").
 *
 * Worker 0 is the caller's loop; workers 1..n-1 each run a loop of their own on a uv_thread. Every
 * worker has an inbox (workers.h). Stopping: worker 0 posts a stop message to every other worker,
 * which runs its stop callback, closes its servers and its inbox, lets its loop run dry, and then
 * tells worker 0 (a counter and worker 0's async); worker 0 joins the threads once all have said so
 * and its own servers are gone, then calls the stopped callback and frees the group. */
#include "worker/workers.h"

#include <stdatomic.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fail.h"
#include "opts.h"

#define MAX_WORKERS 64
#define MAX_SERVERS 8

typedef struct worker {
  sio_workers_t *g;
  unsigned index;
  uv_loop_t *loop;   /* worker 0: the caller's; others: own_loop */
  uv_loop_t own_loop;
  uv_thread_t thread;
  uv_sem_t ready;    /* the thread's setup has returned (setup_rc) */
  int setup_rc;
  uv_async_t async;
  uv_mutex_t mu;     /* guards head, tail, open, queued, over */
  sio_wmsg_t *head, *tail;
  int open;          /* takes messages */
  size_t queued;     /* the costs of the messages posted and not yet run */
  int over;          /* queued went past inbox_max (counted in the group's congested) */
  int started;       /* thread created */
  sio_server_t *servers[MAX_SERVERS]; /* this worker's thread only */
  unsigned nservers;
  void *endpoints;   /* wadapter.c's, this worker's thread only */
} worker_t;

struct sio_workers_s {
  sio_workers_options_t opts;
  unsigned count;
  int stopping;
  int finishing;
  atomic_uint threads_done;
  atomic_int congested; /* inboxes over inbox_max */
  size_t inbox_max;
  sio_workers_stopped_cb stopped_cb;
  worker_t w[];
};

static _Thread_local const sio_workers_t *tl_group;
static _Thread_local int tl_index = -1;

const char sio__sid_alphabet[65] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

int sio__sid_worker(const char *sid) {
  const char *p = memchr(sio__sid_alphabet, sid[0], 64);
  return sid[0] && p ? (int)(p - sio__sid_alphabet) : -1;
}

void sio_workers_options_init(sio_workers_options_t *opts) {
  memset(opts, 0, sizeof *opts);
  opts->size = sizeof *opts;
  opts->count = 1;
}

unsigned sio_workers_count(const sio_workers_t *g) { return g ? g->count : 0; }

int sio_workers_current(const sio_workers_t *g) { return g && tl_group == g ? tl_index : -1; }

/* ---------------------------------------------------------------------------------------------- */
/* Inboxes                                                                                         */

int sio__workers_post(sio_workers_t *g, unsigned to, sio_wmsg_t *m, size_t cost) {
  if (!g || to >= g->count) return SIO_EINVAL;
  worker_t *w = &g->w[to];
  m->next = NULL;
  m->cost = cost;
  uv_mutex_lock(&w->mu);
  if (!w->open) {
    uv_mutex_unlock(&w->mu);
    return SIO_ECLOSED;
  }
  int wake = w->head == NULL;
  if (w->tail) w->tail->next = m;
  else w->head = m;
  w->tail = m;
  w->queued += cost;
  if (!w->over && w->queued > g->inbox_max) {
    w->over = 1;
    atomic_fetch_add(&g->congested, 1);
  }
  /* The async is still open while `open` is (it is closed only after open is cleared, under mu). */
  if (wake) uv_async_send(&w->async);
  uv_mutex_unlock(&w->mu);
  return 0;
}

const atomic_int *sio__workers_congestion(const sio_workers_t *g) { return &g->congested; }

size_t sio__workers_queued(sio_workers_t *g, unsigned index) {
  worker_t *w = &g->w[index];
  uv_mutex_lock(&w->mu);
  size_t n = w->queued;
  uv_mutex_unlock(&w->mu);
  return n;
}

static sio_wmsg_t *inbox_take(worker_t *w) {
  uv_mutex_lock(&w->mu);
  sio_wmsg_t *list = w->head;
  w->head = w->tail = NULL;
  uv_mutex_unlock(&w->mu);
  return list;
}

/* Runs the list; returns the costs it held. */
static size_t inbox_run(sio_wmsg_t *list, int dropped) {
  size_t cost = 0;
  while (list) {
    sio_wmsg_t *m = list;
    list = m->next;
    cost += m->cost;
    m->run(m, dropped);
  }
  return cost;
}

static void post_unthrottle(sio_workers_t *g, unsigned i);

/* `cost` of this inbox's messages ran: once it is down to half its bound, the inbox is no longer
 * over; when it was the last one over, every worker reads again. */
static void inbox_ran(worker_t *w, size_t cost) {
  sio_workers_t *g = w->g;
  int resume = 0;
  uv_mutex_lock(&w->mu);
  w->queued -= cost < w->queued ? cost : w->queued;
  if (w->over && (w->queued <= g->inbox_max / 2 || !w->open)) {
    w->over = 0;
    resume = atomic_fetch_sub(&g->congested, 1) == 1;
  }
  uv_mutex_unlock(&w->mu);
  for (unsigned i = 0; resume && i < g->count; i++) post_unthrottle(g, i);
}

static void maybe_finish(sio_workers_t *g);

static void on_async(uv_async_t *a) {
  worker_t *w = a->data;
  /* Messages posted while these run wake the async again: nothing waits behind a long batch. */
  inbox_ran(w, inbox_run(inbox_take(w), 0));
  if (w->index == 0) maybe_finish(w->g);
}

/* Stops taking messages; those already queued are dropped (run with dropped = 1). */
static void inbox_close(worker_t *w, uv_close_cb cb) {
  uv_mutex_lock(&w->mu);
  w->open = 0;
  uv_mutex_unlock(&w->mu);
  uv_close((uv_handle_t *)&w->async, cb);
  inbox_ran(w, inbox_run(inbox_take(w), 1));
}

/* (The mutex is the group's from start to free: other workers may post until every thread ends.) */
static int inbox_init(worker_t *w) {
  int r = uv_async_init(w->loop, &w->async, on_async);
  if (r) return r;
  w->async.data = w;
  uv_mutex_lock(&w->mu);
  w->open = 1;
  uv_mutex_unlock(&w->mu);
  return 0;
}

/* ---------------------------------------------------------------------------------------------- */
/* Servers                                                                                         */

int sio_server_set_workers(sio_server_t *server, sio_workers_t *g, unsigned index) {
  sio__error_clear();
  if (!server || !g || index >= g->count) return SIO_EINVAL;
  if (sio_workers_current(g) != (int)index)
    return sio__fail(SIO_EINVAL, "sio_server_set_workers: not on worker %u's thread", index);
  worker_t *w = &g->w[index];
  if (w->nservers == MAX_SERVERS)
    return sio__fail(SIO_EINVAL, "sio_server_set_workers: at most %d servers per worker", MAX_SERVERS);
  int r = sio__server_join(server, g, index, w->nservers);
  if (r) return r;
  w->servers[w->nservers++] = server;
  return 0;
}

void **sio__workers_endpoints(sio_workers_t *g, unsigned index) { return &g->w[index].endpoints; }

sio_server_t *sio__workers_server(sio_workers_t *g, unsigned index, unsigned slot) {
  if (!g || index >= g->count || slot >= g->w[index].nservers) return NULL;
  return g->w[index].servers[slot];
}

void sio__workers_server_gone(sio_workers_t *g, unsigned index, sio_server_t *s) {
  worker_t *w = &g->w[index];
  for (unsigned i = 0; i < w->nservers; i++)
    if (w->servers[i] == s) w->servers[i] = NULL; /* slots keep their positions */
  if (index == 0) maybe_finish(g);
}

static int has_servers(const worker_t *w) {
  for (unsigned i = 0; i < w->nservers; i++)
    if (w->servers[i]) return 1;
  return 0;
}

/* The stop callback, then the servers close (their sessions and connections with them). */
static void worker_stop_here(worker_t *w) {
  sio_workers_t *g = w->g;
  if (g->opts.stop) g->opts.stop(g, w->index, w->loop, g->opts.arg);
  for (unsigned i = 0; i < w->nservers; i++)
    if (w->servers[i]) sio_server_close(w->servers[i], NULL);
}

/* ---------------------------------------------------------------------------------------------- */
/* Threads                                                                                         */

static void on_stop_msg(sio_wmsg_t *m, int dropped) {
  worker_t *w = ((worker_t **)(m + 1))[0];
  free(m);
  if (dropped) return;
  worker_stop_here(w);
  inbox_close(w, NULL);
}

static void close_walk(uv_handle_t *h, void *arg) {
  (void)arg;
  if (!uv_is_closing(h)) uv_close(h, NULL);
}

static void thread_main(void *arg) {
  worker_t *w = arg;
  sio_workers_t *g = w->g;
  tl_group = g;
  tl_index = (int)w->index;
  int r = uv_loop_init(&w->own_loop);
  if (!r) {
    w->loop = &w->own_loop;
    r = inbox_init(w);
    if (r) uv_loop_close(&w->own_loop);
  }
  if (r) {
    w->setup_rc = r;
    uv_sem_post(&w->ready);
    return;
  }
  w->setup_rc = g->opts.setup(g, w->index, w->loop, g->opts.arg);
  uv_sem_post(&w->ready); /* w->setup_rc is read by the starter after this */
  if (w->setup_rc < 0) {
    worker_stop_here(w);
    inbox_close(w, NULL);
  }
  uv_run(w->loop, UV_RUN_DEFAULT);
  /* What setup made and stop did not close (the loop ran dry: normally nothing). */
  uv_walk(w->loop, close_walk, NULL);
  uv_run(w->loop, UV_RUN_DEFAULT);
  uv_loop_close(w->loop);
  /* Worker 0 joins this thread (so waits for this call to return) before it closes its async. */
  atomic_fetch_add(&g->threads_done, 1);
  uv_async_send(&g->w[0].async);
}

static void on_unthrottle_msg(sio_wmsg_t *m, int dropped) {
  worker_t *w = ((worker_t **)(m + 1))[0];
  free(m);
  for (unsigned i = 0; !dropped && i < w->nservers; i++)
    if (w->servers[i]) sio__server_unthrottle(w->servers[i]);
}

/* Tells worker i that no inbox is over its bound any more. Without the memory for it, that
 * worker's paused connections resume at the next congestion's end (or when their own queue is
 * written). */
static void post_unthrottle(sio_workers_t *g, unsigned i) {
  sio_wmsg_t *m = malloc(sizeof *m + sizeof(worker_t *));
  if (!m) return;
  m->run = on_unthrottle_msg;
  ((worker_t **)(m + 1))[0] = &g->w[i];
  if (sio__workers_post(g, i, m, 0)) free(m);
}

/* Asks thread worker i to stop (its loop then ends). */
static void post_stop(sio_workers_t *g, unsigned i) {
  sio_wmsg_t *m = malloc(sizeof *m + sizeof(worker_t *));
  if (!m) abort(); /* a few bytes: no way to stop a thread without them */
  m->run = on_stop_msg;
  ((worker_t **)(m + 1))[0] = &g->w[i];
  if (sio__workers_post(g, i, m, 0)) free(m); /* already closed: stopping on its own */
}

/* ---------------------------------------------------------------------------------------------- */
/* Start and stop                                                                                  */

static void group_free(sio_workers_t *g) {
  for (unsigned i = 0; i < g->count; i++) uv_mutex_destroy(&g->w[i].mu);
  free(g);
}

/* A failed start: workers 1..built-1 are told to stop and joined; worker 0's servers close on the
 * caller's loop (their handles finish when it runs). */
static void undo_start(sio_workers_t *g, unsigned built, uv_close_cb w0_closed) {
  for (unsigned i = 1; i < built; i++) post_stop(g, i);
  for (unsigned i = 1; i < built; i++) uv_thread_join(&g->w[i].thread);
  worker_stop_here(&g->w[0]);
  /* They no longer belong to the group, which is freed before they are. */
  for (unsigned i = 0; i < g->w[0].nservers; i++)
    if (g->w[0].servers[i]) sio__server_join(g->w[0].servers[i], NULL, 0, 0);
  g->w[0].nservers = 0;
  inbox_close(&g->w[0], w0_closed);
}

static void on_w0_closed_free(uv_handle_t *h) { group_free(((worker_t *)h->data)->g); }

int sio_workers_start(uv_loop_t *loop, const sio_workers_options_t *opts, sio_workers_t **out) {
  sio__error_clear();
  if (!loop || !opts || !out) return SIO_EINVAL;
  sio_workers_options_t o = {0};
  /* Callers built before inbox_max_bytes pass the shorter struct (its size says so). */
  if (sio__take_options(&o, sizeof o, opts, offsetof(sio_workers_options_t, inbox_max_bytes),
                        "sio_workers_options"))
    return SIO_EINVAL;
  if (!o.setup || o.count < 1 || o.count > MAX_WORKERS) return SIO_EINVAL;
  unsigned n = o.count;
  sio_workers_t *g = calloc(1, sizeof *g + n * sizeof(worker_t));
  if (!g) return SIO_ENOMEM;
  g->opts = o;
  g->count = n;
  g->inbox_max = o.inbox_max_bytes ? o.inbox_max_bytes : (size_t)16 << 20;
  int r = 0;
  unsigned nmu = 0;
  for (unsigned i = 0; i < n && !r; i++) {
    g->w[i].g = g;
    g->w[i].index = i;
    if (!(r = uv_mutex_init(&g->w[i].mu))) nmu++;
  }
  worker_t *w0 = &g->w[0];
  w0->loop = loop;
  if (!r) r = inbox_init(w0);
  if (r) {
    while (nmu--) uv_mutex_destroy(&g->w[nmu].mu);
    free(g);
    return r;
  }
  uv_unref((uv_handle_t *)&w0->async); /* keeps the loop alive only while stopping */
  /* Worker 0's thread is the caller's: it keeps that index while the group lives. */
  int prev_index = tl_index;
  const sio_workers_t *prev_group = tl_group;
  tl_group = g;
  tl_index = 0;
  r = o.setup(g, 0, loop, o.arg);
  unsigned built = 1;
  for (unsigned i = 1; i < n && r >= 0; i++) {
    worker_t *w = &g->w[i];
    if ((r = uv_sem_init(&w->ready, 0)) != 0) break;
    r = uv_thread_create(&w->thread, thread_main, w);
    if (!r) {
      uv_sem_wait(&w->ready);
      built++;
      r = w->setup_rc < 0 ? w->setup_rc : 0;
    }
    uv_sem_destroy(&w->ready);
  }
  if (r < 0) {
    undo_start(g, built, on_w0_closed_free);
    tl_group = prev_group;
    tl_index = prev_index;
    return r;
  }
  *out = g;
  return 0;
}

static void on_w0_closed(uv_handle_t *h) {
  sio_workers_t *g = ((worker_t *)h->data)->g;
  if (tl_group == g) {
    tl_group = NULL;
    tl_index = -1;
  }
  if (g->stopped_cb) g->stopped_cb(g);
  group_free(g);
}

/* On worker 0, once every thread has ended and worker 0's servers are gone: join, then the
 * stopped callback (after worker 0's inbox closed). */
static void maybe_finish(sio_workers_t *g) {
  if (!g->stopping || g->finishing) return;
  if (atomic_load(&g->threads_done) < g->count - 1 || has_servers(&g->w[0])) return;
  g->finishing = 1;
  for (unsigned i = 1; i < g->count; i++) uv_thread_join(&g->w[i].thread);
  inbox_close(&g->w[0], on_w0_closed);
}

void sio_workers_stop(sio_workers_t *g, sio_workers_stopped_cb cb) {
  if (!g || g->stopping) return;
  g->stopping = 1;
  g->stopped_cb = cb;
  uv_ref((uv_handle_t *)&g->w[0].async);
  for (unsigned i = 1; i < g->count; i++) post_stop(g, i);
  worker_stop_here(&g->w[0]);
  /* Nothing to wait for (no thread, no server): finish from the loop, never inside this call. */
  uv_async_send(&g->w[0].async);
}
