/* The server's log sink (sio_server_set_log in sio.h), for every layer that has something to say
 * about a server. SIO_LOG checks the level before anything is formatted: a record nobody listens to
 * costs one call and a compare. */
#ifndef SIO_LOG_H
#define SIO_LOG_H

#include "sio.h"

/* 1 when the server passes records of `level` on. */
int sio__log_enabled(const sio_server_t *server, int level);
/* Formats the record (cut to 1023 bytes; control characters become ?) and hands it to the server's sink. Call it through
 * SIO_LOG, which checks the level first. */
void sio__log(sio_server_t *server, int level, const char *component, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#define SIO_LOG(server, level, component, ...)                             \
  do {                                                                     \
    sio_server_t *sio__log_server = (server);                              \
    if (sio__log_enabled(sio__log_server, (level)))                        \
      sio__log(sio__log_server, (level), (component), __VA_ARGS__);        \
  } while (0)

#endif
