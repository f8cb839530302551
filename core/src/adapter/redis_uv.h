/* hiredis' async API on a libuv loop (redis_uv.c). */
#ifndef SIO_REDIS_UV_H
#define SIO_REDIS_UV_H

#include <hiredis/async.h>
#include <uv.h>

/* Drives ac from loop: REDIS_OK, or REDIS_ERR (no memory, or its socket cannot be polled) with
 * ac's event hooks left unset. What is attached goes with ac (hiredis' cleanup hook). */
int sio__redis_uv_attach(redisAsyncContext *ac, uv_loop_t *loop);

#endif
