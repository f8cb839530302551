/* hiredis on libuv. Not hiredis' own adapters/libuv.h: with 0.14 it drops poll errors (status < 0)
 * on the floor, so a refused connection is never reported and the context hangs forever. Here an
 * error lets hiredis look at the socket itself, which reports the failure through its callbacks. */
#ifdef SIO_HAVE_REDIS

#include "adapter/redis_uv.h"

#include <stdlib.h>

typedef struct uv_glue {
  redisAsyncContext *ac; /* NULL once hiredis cleaned up */
  uv_poll_t poll;
  int events;
} uv_glue_t;

static void glue_close_cb(uv_handle_t *h) { free(h->data); }

static void glue_poll_cb(uv_poll_t *h, int status, int events) {
  uv_glue_t *g = h->data;
  if (status < 0) events = UV_READABLE | UV_WRITABLE; /* libuv stopped the handle: find out why */
  if (g->ac && (events & UV_WRITABLE)) redisAsyncHandleWrite(g->ac);
  if (g->ac && (events & UV_READABLE)) redisAsyncHandleRead(g->ac);
  if (status < 0 && g->ac && g->events) uv_poll_start(&g->poll, g->events, glue_poll_cb);
}

static void glue_update(uv_glue_t *g, int add, int ev) {
  g->events = add ? (g->events | ev) : (g->events & ~ev);
  if (g->events) uv_poll_start(&g->poll, g->events, glue_poll_cb);
  else uv_poll_stop(&g->poll);
}

static void glue_add_read(void *p) { glue_update(p, 1, UV_READABLE); }
static void glue_del_read(void *p) { glue_update(p, 0, UV_READABLE); }
static void glue_add_write(void *p) { glue_update(p, 1, UV_WRITABLE); }
static void glue_del_write(void *p) { glue_update(p, 0, UV_WRITABLE); }

static void glue_cleanup(void *p) {
  uv_glue_t *g = p;
  g->ac = NULL;
  uv_close((uv_handle_t *)&g->poll, glue_close_cb);
}

int sio__redis_uv_attach(redisAsyncContext *ac, uv_loop_t *loop) {
  uv_glue_t *g = calloc(1, sizeof *g);
  if (!g) return REDIS_ERR;
  if (uv_poll_init(loop, &g->poll, ac->c.fd) != 0) {
    free(g);
    return REDIS_ERR;
  }
  g->ac = ac;
  g->poll.data = g;
  ac->ev.data = g;
  ac->ev.addRead = glue_add_read;
  ac->ev.delRead = glue_del_read;
  ac->ev.addWrite = glue_add_write;
  ac->ev.delWrite = glue_del_write;
  ac->ev.cleanup = glue_cleanup;
  return REDIS_OK;
}

#endif /* SIO_HAVE_REDIS */
