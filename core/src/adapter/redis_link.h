/* One Redis connection that stays up by itself (redis_link.c): shared by the Redis transports
 * (redis.c, redis_streams.c). A link connects on the server's loop, resolves a host name off the
 * loop, bounds each attempt, retries with backoff (BACKOFF_MIN_MS doubling to BACKOFF_MAX_MS,
 * jittered) and logs one line when an outage begins and one when it ends. Its owner is told when
 * a new context exists (to queue what must come first: subscriptions, a read), when Redis answers
 * on it, and when it is lost. What the commands mean is the owner's. */
#ifndef SIO_REDIS_LINK_H
#define SIO_REDIS_LINK_H

#include <hiredis/async.h>
#include <stdint.h>
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

typedef struct sio_redis_link sio_redis_link_t;

typedef struct sio_redis_link_ops {
  /* A new context: AUTH and PING are queued; queue what must follow them. May be NULL. */
  void (*on_context)(sio_redis_link_t *l, redisAsyncContext *ac);
  /* Redis answered the PING: the link serves (restored: after a logged outage). May be NULL. */
  void (*on_ready)(sio_redis_link_t *l, int restored);
  /* The context was lost (never at close): its commands' callbacks got NULL replies. May be NULL. */
  void (*on_lost)(sio_redis_link_t *l);
} sio_redis_link_ops_t;

struct sio_redis_link {
  const sio_redis_conf_t *conf; /* the owner's, outliving the link */
  const char *name;             /* in log lines: "publisher", "stream reader", ... (static) */
  const sio_redis_link_ops_t *ops;
  void *data;                   /* the owner's */
  redisAsyncContext *ac;        /* NULL while down; ac->data is the link */
  uint8_t up;                   /* connected */
  uint8_t ready;                /* up, and Redis answered the PING */
  uint8_t closing;
  uint8_t down;                 /* an outage was logged: its end will be, nothing in between */
  uint32_t delay_ms;            /* the next backoff */
  uint64_t down_at;             /* loop time the outage was logged */
  uv_timer_t *timer;            /* heap: its close completes after the link may be gone */
  struct sio_redis_resolve *resolving;
};

/* Starts connecting l (zeroed by the caller, conf/name/ops/data set). 0 or SIO_ENOMEM. */
int sio__redis_link_start(sio_redis_link_t *l);
/* The link whose current context ac is; NULL for a context already let go of (its last
 * callbacks still run) and once the link closes. */
sio_redis_link_t *sio__redis_link_of(const redisAsyncContext *ac);
/* Connected and not closing: commands can be queued on l->ac. */
static inline int sio__redis_link_ok(const sio_redis_link_t *l) {
  return l && !l->closing && l->ac && l->up;
}
/* Ends l: its context is freed now (queued callbacks see NULL replies), no more retries. The
 * struct may be freed once this returns. */
void sio__redis_link_close(sio_redis_link_t *l);

#endif
