/* Workers: N loops in one process (sio.h "Workers"). Stub until the implementation lands:
 * count 1 works (worker 0 on the caller's loop, no threads); more than one is SIO_EINVAL. */
#include "sio.h"

#include <stdlib.h>
#include <string.h>

struct sio_workers_s {
  sio_workers_options_t opts;
  uv_loop_t *loop;
};

void sio_workers_options_init(sio_workers_options_t *opts) {
  memset(opts, 0, sizeof *opts);
  opts->size = sizeof *opts;
  opts->count = 1;
}

int sio_workers_start(uv_loop_t *loop, const sio_workers_options_t *opts, sio_workers_t **out) {
  if (!loop || !opts || !opts->setup || !out || opts->count != 1) return SIO_EINVAL;
  sio_workers_t *w = calloc(1, sizeof *w);
  if (!w) return SIO_ENOMEM;
  w->opts = *opts;
  w->loop = loop;
  int r = opts->setup(w, 0, loop, opts->arg);
  if (r < 0) {
    free(w);
    return r;
  }
  *out = w;
  return 0;
}

unsigned sio_workers_count(const sio_workers_t *w) { return w ? w->opts.count : 0; }

int sio_workers_current(const sio_workers_t *w) { return w ? 0 : -1; }

int sio_server_set_workers(sio_server_t *server, sio_workers_t *w, unsigned index) {
  (void)server;
  return w && index < w->opts.count ? 0 : SIO_EINVAL;
}

void sio_workers_stop(sio_workers_t *w, sio_workers_stopped_cb cb) {
  if (!w) return;
  if (w->opts.stop) w->opts.stop(w, 0, w->loop, w->opts.arg);
  if (cb) cb(w);
  free(w);
}
