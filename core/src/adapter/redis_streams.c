/* The Redis streams transport (@socket.io/redis-streams-adapter 0.3): see sio.h. Being built. */
#include <string.h>

#include "sio.h"

void sio_redis_streams_options_init(sio_redis_streams_options_t *opts) {
  memset(opts, 0, sizeof *opts);
  opts->size = sizeof *opts;
  opts->stream_count = 1;
  opts->max_len = 10000;
  opts->read_count = 100;
  opts->block_ms = 5000;
  opts->requests_timeout_ms = 5000;
}

int sio_io_use_redis_streams(sio_io_t *io, const sio_redis_streams_options_t *opts) {
  (void)io, (void)opts;
  return UV_ENOSYS;
}
