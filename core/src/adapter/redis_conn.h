/* Redis connections, for the three Redis transports (redis.c, redis_sharded.c, redis_streams.c).
 *
 * Why not hiredis' async API: Debian's hiredis is 0.14, whose async layer only
 * knows SUBSCRIBE and PSUBSCRIBE. An SSUBSCRIBE is to it a plain command: its confirmation takes
 * the command's callback, and the first `smessage` pushed after it finds no callback on a context
 * not flagged subscribed, where hiredis asserts (the process aborts). Its subscription table,
 * which would route the pushes, is private (dict.c is compiled into async.c). So:
 *
 * sio_rconn_t is a small RESP client on a uv_tcp_t, hiredis' reader (read.h) parsing the replies
 * and its formatter building the commands. Every command has its place in a FIFO of callbacks;
 * pub/sub pushes (message, pmessage, smessage, and confirmations nobody asked for, as the
 * `sunsubscribe` Redis sends when a slot moves away) go to the push hook. Subscription commands
 * must name one channel each: one command, one reply (a confirmation, or an error as MOVED).
 *
 * sio_rlink_t is one such connection's lifecycle: a connection that fails or is lost retries with
 * backoff (100 ms doubling to 5 s, jittered; an attempt is given 5 s), logging one line when the
 * outage begins (the owner logs its end, from the ready hook). Writes go out at once (uv_write):
 * as any libuv program, the application ignores SIGPIPE (README). */
#ifndef SIO_REDIS_CONN_H
#define SIO_REDIS_CONN_H

#ifdef SIO_HAVE_REDIS

#include <hiredis/hiredis.h>
#include <stdarg.h>
#include <stdint.h>
#include <uv.h>

#include "sio.h"

typedef struct sio_rconn sio_rconn_t;
typedef struct sio_rlink sio_rlink_t;

/* A command's reply, borrowed for the call; NULL when the connection went first (or was freed). */
typedef void (*sio_rconn_cb)(sio_rlink_t *l, redisReply *reply, void *arg);

/* What the owner of a link is told. Every hook may be NULL. */
typedef struct sio_rlink_hooks {
  /* A new connection is being made: the subscriptions are queued now (sent once connected). */
  void (*fresh)(sio_rlink_t *l);
  /* Redis answered the first PING; restored: after an outage that was logged (after secs). */
  void (*ready)(sio_rlink_t *l, int restored, double secs);
  /* The connection was lost (or closed by the owner's sio__rlink_reconnect): the commands waiting
   * got NULL replies first. */
  void (*lost)(sio_rlink_t *l);
  /* A pub/sub push: an array whose first element is its kind (message, smessage, ...). */
  void (*push)(sio_rlink_t *l, redisReply *r);
  /* l->up changed. */
  void (*up)(sio_rlink_t *l);
} sio_rlink_hooks_t;

typedef struct sio_rlink_resolve sio_rlink_resolve_t;

struct sio_rlink {
  void *owner;
  const sio_rlink_hooks_t *hooks;
  uv_loop_t *loop;
  sio_server_t *server;    /* whose log gets the outages */
  const char *name;        /* "publisher", "subscriber": the log's */
  char *host;              /* owned */
  int port;
  const char *user, *password; /* borrowed from the owner; NULL: no AUTH */
  sio_rconn_t *c;          /* NULL while down */
  uv_timer_t *timer;       /* heap: its close completes after the link may be gone */
  sio_rlink_resolve_t *resolving;
  uint64_t down_at;
  uint32_t delay_ms;
  uint8_t up;              /* connected and PING answered */
  uint8_t down;            /* an outage was logged: its end will be, and nothing in between */
  uint8_t closing;
};

/* Sets up l (host copied); nothing is opened. 0 or SIO_ENOMEM (l then needs no close). */
int sio__rlink_init(sio_rlink_t *l, void *owner, const sio_rlink_hooks_t *hooks,
                    sio_server_t *server, const char *name, const char *host, int port,
                    const char *user, const char *password);
/* The first attempt. */
void sio__rlink_open(sio_rlink_t *l);
/* Drops the current connection (pending callbacks get NULL, then the lost hook) and connects again
 * at once, as after a loss; nothing when not connected. */
void sio__rlink_reconnect(sio_rlink_t *l);
/* For good: the connection is freed (pending callbacks get NULL; no hook is called) and the timer
 * closed. l's memory may go once this returns. */
void sio__rlink_close(sio_rlink_t *l);

/* Queues a command (hiredis' printf-like format: %s, %b with a length) on the link's connection,
 * even one still connecting. 0; SIO_EUNAVAIL without a connection; SIO_ENOMEM. cb may be NULL. */
int sio__rlink_command(sio_rlink_t *l, sio_rconn_cb cb, void *arg, const char *fmt, ...);
/* As above, argv form. */
int sio__rlink_commandv(sio_rlink_t *l, sio_rconn_cb cb, void *arg, int argc, const char **argv,
                        const size_t *lens);
/* A node count: PUBSUB NUMSUB (or SHARDNUMSUB when sharded) of `channel`. `cb` gets the count, or
 * -1 when the reply did not come or was not one, with `owner`, `tag` and a copy of `request_id`
 * (at most 40 bytes) as given: `tag` says which of the owner's namespaces asked, checked by the
 * owner against the live ones (it may have gone meanwhile). 0, SIO_EUNAVAIL or SIO_ENOMEM. */
typedef void (*sio_rlink_count_cb)(void *owner, uint64_t tag, const char *request_id, long long count);
int sio__rlink_count(sio_rlink_t *l, int sharded, const char *channel, sio_rlink_count_cb cb, void *owner,
                     uint64_t tag, const char *request_id);
/* 1 when commands can go now (connected and served). */
static inline int sio__rlink_ok(const sio_rlink_t *l) { return !l->closing && l->c && l->up; }

#endif /* SIO_HAVE_REDIS */
#endif
