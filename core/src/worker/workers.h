/* What the transport, engine and adapter layers need of a worker group (workers.c).
 *
 * Each worker has an inbox: a mutex-protected FIFO of messages and a uv_async_t on its loop that
 * runs them there, in the order they were posted. A message is a header embedded first in the
 * sender's struct; its run() owns the message from then on (frees it). */
#ifndef SIO_WORKERS_H
#define SIO_WORKERS_H

#include <stdatomic.h>

#include "sio.h"

typedef struct sio_wmsg sio_wmsg_t;
struct sio_wmsg {
  sio_wmsg_t *next;
  size_t cost; /* set by sio__workers_post */
  /* On the destination's thread; `dropped`: the destination stopped before it could run it (then
   * only release what the message holds). Frees m. */
  void (*run)(sio_wmsg_t *m, int dropped);
};

/* The 64 characters sids are made of: a sid's first character is this alphabet's entry for the
 * worker that owns it. */
extern const char sio__sid_alphabet[65];
/* The worker a sid names (its first character), or -1 when it names none of the alphabet. */
int sio__sid_worker(const char *sid);

/* Queues m for worker `to` (any thread): 0, or SIO_ECLOSED when that worker no longer takes
 * messages (m not queued: the caller still owns it), SIO_EINVAL for an index out of range.
 * `cost`: the bytes m holds, counted against the inbox's bound (inbox_max_bytes): past it the
 * group is congested (below) until that inbox is down to half. */
int sio__workers_post(sio_workers_t *g, unsigned to, sio_wmsg_t *m, size_t cost);
/* The group's congestion: how many inboxes are over their bound (0: none). Read with a relaxed
 * load on every message a connection sends (server.c): nonzero pauses that connection until
 * sio__server_unthrottle, called on every worker when the last inbox is down. */
const atomic_int *sio__workers_congestion(const sio_workers_t *g);
/* The costs worker `index`'s inbox holds now (tests). */
size_t sio__workers_queued(sio_workers_t *g, unsigned index);
/* server.c: resumes the connections paused by congestion (on the server's own thread). */
void sio__server_unthrottle(sio_server_t *s);
/* server.c: whether s is in a congested group now, so that what its clients send may lie unread
 * (a pong included: engine.c then waits a while longer instead of timing the session out). */
int sio__server_congested(const sio_server_t *s);
/* The server in position `slot` (the order servers joined) of worker `index`; only on that
 * worker's thread. NULL when none (or already freed). */
sio_server_t *sio__workers_server(sio_workers_t *g, unsigned index, unsigned slot);
/* Called by server.c when a server of the group is freed (on its worker's thread). */
void sio__workers_server_gone(sio_workers_t *g, unsigned index, sio_server_t *s);

/* server.c: the group and index sio_server_set_workers recorded (NULL when none), its slot. */
sio_workers_t *sio__server_workers(const sio_server_t *s, unsigned *index, unsigned *slot);
/* server.c: records the group (called by sio_server_set_workers); SIO_EINVAL when listening. */
int sio__server_join(sio_server_t *s, sio_workers_t *g, unsigned index, unsigned slot);
/* server.c: on the owner's thread, adopts a connection handed off by another worker: `fd` and
 * `tls` (its TLS state after the handshake, NULL for plain TCP; both owned from now on) and the
 * plaintext already read from it, parsed as if just read. */
struct sio_tls_s;
void sio__server_adopt(sio_server_t *s, uv_os_sock_t fd, struct sio_tls_s *tls, char *bytes,
                       size_t len);

/* The in-process adapter's endpoints of worker `index` (wadapter.c's list head; that worker's
 * thread only). */
void **sio__workers_endpoints(sio_workers_t *g, unsigned index);
/* wadapter.c: an io made on a server of a group of 2 or more joins the in-process adapter; leave
 * puts its namespaces back in memory (when Redis takes over). */
void sio__workers_io_join(sio_io_t *io);
void sio__workers_io_leave(sio_io_t *io);

#endif
