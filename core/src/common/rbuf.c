#include "rbuf.h"

#include <stdlib.h>
#include <string.h>

sio_rbuf_t *sio_rbuf_new(size_t len) {
  sio_rbuf_t *b = malloc(sizeof *b + len + 1);
  if (!b) return NULL;
  b->refs = 1;
  b->flags = 0;
  b->len = len;
  b->data[len] = '\0'; /* lets text payloads be used as C strings in debugging and tests */
  return b;
}

sio_rbuf_t *sio_rbuf_copy(const void *p, size_t len) {
  sio_rbuf_t *b = sio_rbuf_new(len);
  if (b && len) memcpy(b->data, p, len);
  return b;
}

void sio_rbuf_unref(sio_rbuf_t *b) {
  if (b && --b->refs == 0) free(b);
}

sio_rbuf_t *sio_rbuf_shrink(sio_rbuf_t *b, size_t len) {
  if (len >= b->len) return b;
  b->len = len;
  b->data[len] = '\0';
  sio_rbuf_t *s = realloc(b, sizeof *b + len + 1);
  return s ? s : b; /* a failed shrink keeps the larger block, still valid */
}
