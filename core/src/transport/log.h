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

/* Debug categories (SIO_DEBUG, sio_server_set_debug). Their switches are the first member of every
 * sio_server_t (server.c), so a site reads them inline: when its category is off, a debug site
 * costs one load and one well-predicted branch; nothing is formatted or allocated. */
typedef struct {
  unsigned debug; /* SIO_DEBUG_* bits, and the SIO__WATCH_* bits below */
} sio__log_head_t;

static inline unsigned sio__debug_mask(const sio_server_t *server) {
  return ((const sio__log_head_t *)(const void *)server)->debug;
}

/* Formats a debug record of category `cat` (one SIO_DEBUG_* bit) and hands it to the server's sink
 * at level SIO_LOG_TRACE, whatever the sink's level. Call it through SIO_DEBUG. */
void sio__debug(sio_server_t *server, unsigned cat, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* For a site that prepares its arguments first (SIO_DEBUG's test alone). */
#define SIO_DEBUG_ON(server, cat) __builtin_expect((sio__debug_mask(server) & (cat)) != 0, 0)

/* The per-delivery hooks. A broadcast's path per recipient (sio__socket_write, then the engine)
 * has extras that are almost always off: the debug lines of categories socket and engine, and the
 * Admin UI's counters. They share the debug word, the Admin UI as a bit of its own above the
 * categories (set while some io of the server is instrumented; sio_server_debug() hides it), so
 * that "is anything watching a delivery" is one load and one predictable branch
 * (SIO__WATCHING_DELIVERY); a watched delivery takes the full path, which tests each of them. */
#define SIO__WATCH_INSTR (1u << 16)
#define SIO__WATCH_DELIVERY (SIO_DEBUG_ENGINE | SIO_DEBUG_SOCKET | SIO__WATCH_INSTR)
#define SIO__WATCHING_DELIVERY(server) \
  __builtin_expect((sio__debug_mask(server) & SIO__WATCH_DELIVERY) != 0, 0)
/* Counts an instrumented io of the server in (+1) or out (-1): the bit is set while any is. */
void sio__server_watch_instr(sio_server_t *server, int delta);

#define SIO_DEBUG(server, cat, ...)                                                  \
  do {                                                                               \
    sio_server_t *sio__dbg_server = (server);                                        \
    if (__builtin_expect((sio__debug_mask(sio__dbg_server) & (cat)) != 0, 0))        \
      sio__debug(sio__dbg_server, (cat), __VA_ARGS__);                               \
  } while (0)

#endif
