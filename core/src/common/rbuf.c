#include "rbuf.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

/* ---- spares: a few big blocks kept per thread ----
 * A 100 KB text echo holds two big blocks at once (the decoded string, the encoded reply), and a
 * few such messages are in flight: freed, they make the heap's top exceed glibc's trim threshold
 * (128 KiB), which gives the pages back to the kernel, and the next messages fault them in again
 * (zeroed): that cost more than reading the JSON. So big blocks freed on a thread are kept for the
 * next big ones, up to SPARES of them and SPARE_BYTES in all. Per thread (each worker's loop its
 * own, no locking); freed when the thread ends. */
#define SPARE_MIN ((size_t)64 << 10)    /* smaller blocks: malloc keeps them well enough */
#define SPARE_MAX ((size_t)1 << 20)     /* larger ones are given back at once */
#define SPARE_BYTES ((size_t)2 << 20)   /* what one thread may keep */
#define SPARES 8

typedef struct spares {
  size_t n, bytes;
  sio_rbuf_t *b[SPARES];
} spares_t;

static pthread_key_t spare_key;
static pthread_once_t spare_once = PTHREAD_ONCE_INIT;
static int spare_ok;

static void spares_free(void *p) {
  spares_t *s = p;
  for (size_t i = 0; i < s->n; i++) free(s->b[i]);
  free(s);
}

static void spare_init(void) { spare_ok = pthread_key_create(&spare_key, spares_free) == 0; }

/* This thread's spares, made on first use when `make`; NULL without. */
static spares_t *spares(int make) {
  pthread_once(&spare_once, spare_init);
  if (!spare_ok) return NULL;
  spares_t *s = pthread_getspecific(spare_key);
  if (!s && make && (s = calloc(1, sizeof *s)) && pthread_setspecific(spare_key, s) != 0) {
    free(s);
    s = NULL;
  }
  return s;
}

/* A spare holding `len` data bytes without wasting more than half of itself; NULL if none. */
static sio_rbuf_t *spare_take(size_t len) {
  spares_t *s = len >= SPARE_MIN && len <= SPARE_MAX ? spares(0) : NULL;
  for (size_t i = 0; s && i < s->n; i++) {
    sio_rbuf_t *b = s->b[i];
    if (b->cap >= len + 1 && b->cap / 2 <= len + 1) {
      s->b[i] = s->b[--s->n];
      s->bytes -= b->cap;
      return b;
    }
  }
  return NULL;
}

/* Keeps b as a spare if it is big and there is room; frees it otherwise. */
static void spare_put(sio_rbuf_t *b) {
  spares_t *s = b->cap >= SPARE_MIN && b->cap <= SPARE_MAX ? spares(1) : NULL;
  if (s && s->n < SPARES && s->bytes + b->cap <= SPARE_BYTES) {
    s->b[s->n++] = b;
    s->bytes += b->cap;
    return;
  }
  free(b);
}

void *sio_rbuf_block(size_t len, size_t *cap) {
  sio_rbuf_t *b = spare_take(len);
  if (!b) {
    b = malloc(sizeof *b + len + 1);
    if (!b) return NULL;
    b->cap = len + 1;
  }
  *cap = b->cap;
  return b;
}

/* ---- buffers ---- */

sio_rbuf_t *sio_rbuf_new(size_t len) {
  size_t cap;
  sio_rbuf_t *b = sio_rbuf_block(len, &cap);
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
  if (b && --b->refs == 0) spare_put(b);
}

sio_rbuf_t *sio_rbuf_shrink(sio_rbuf_t *b, size_t len) {
  if (len >= b->len) return b;
  b->len = len;
  b->data[len] = '\0';
  sio_rbuf_t *s = realloc(b, sizeof *b + len + 1);
  if (!s) return b; /* a failed shrink keeps the larger block, still valid */
  s->cap = len + 1;
  return s;
}
