/* Reference-counted immutable bytes: how one encoded message reaches many sockets without a copy
 * per recipient. Single-threaded (one loop), so the count is a plain integer. */
#ifndef SIO_RBUF_H
#define SIO_RBUF_H

#include <stddef.h>
#include <stdint.h>

typedef struct sio_rbuf {
  uint32_t refs;
  uint32_t flags; /* free for the owner's use (e.g. "binary") */
  size_t len;
  size_t cap; /* bytes allocated for data[] (at least len + 1) */
  char data[];
} sio_rbuf_t;

/* A new buffer of `len` bytes with one reference; contents uninitialised. NULL on ENOMEM. */
sio_rbuf_t *sio_rbuf_new(size_t len);
/* Storage for a buffer of at least `len` data bytes that its writer grows itself (an sbuf laid
 * over the whole block, then adopted: the block starts with an sio_rbuf_t whose cap the adopter
 * sets): the block, its data capacity in *cap. May be a spare (see rbuf.c). NULL on ENOMEM. */
void *sio_rbuf_block(size_t len, size_t *cap);
/* A new buffer holding a copy of p[0..len). */
sio_rbuf_t *sio_rbuf_copy(const void *p, size_t len);
static inline sio_rbuf_t *sio_rbuf_ref(sio_rbuf_t *b) {
  b->refs++;
  return b;
}
/* Makes a buffer no one else holds yet (one reference) `len` bytes long, len <= b->len, giving
 * back what was allocated beyond; returns the buffer, which may have moved. */
sio_rbuf_t *sio_rbuf_shrink(sio_rbuf_t *b, size_t len);
/* Drops one reference; frees at zero. NULL is ignored. */
void sio_rbuf_unref(sio_rbuf_t *b);

#endif
