/* Where a Redis is, as the three Redis transports (redis.c, redis_sharded.c, redis_streams.c)
 * are told it: the URL's parts. Their connections are redis_conn.h's links. */
#ifndef SIO_REDIS_LINK_H
#define SIO_REDIS_LINK_H

#include <uv.h>

#include "sio.h"

/* Where Redis is (redis://[[user]:password@]host[:port][/db]) and whose loop and log to use. */
typedef struct sio_redis_conf {
  uv_loop_t *loop;
  sio_server_t *server;
  char *host, *user, *password;
  int port;
} sio_redis_conf_t;

/* Fills host, user, password and port from url (the database number is accepted, not used):
 * 0, SIO_EINVAL (with sio_last_error) or SIO_ENOMEM; the fields are the caller's to clear. */
int sio__redis_conf_parse(sio_redis_conf_t *c, const char *url);
void sio__redis_conf_clear(sio_redis_conf_t *c);

#endif
