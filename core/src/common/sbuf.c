#include "sbuf.h"

#include <stdlib.h>
#include <string.h>

#include "sio.h"

int sio_sbuf_reserve(sio_sbuf_t *b, size_t extra) {
  if (b->cap - b->len >= extra) return 0;
  if (extra > SIZE_MAX / 2 - b->len) return SIO_ENOMEM;
  size_t need = b->len + extra;
  size_t cap = b->cap ? b->cap : 64;
  while (cap < need) cap *= 2;
  char *p = realloc(b->data, cap);
  if (!p) return SIO_ENOMEM;
  b->data = p;
  b->cap = cap;
  return 0;
}

int sio_sbuf_append(sio_sbuf_t *b, const void *p, size_t n) {
  if (n == 0) return 0;
  int r = sio_sbuf_reserve(b, n);
  if (r) return r;
  memcpy(b->data + b->len, p, n);
  b->len += n;
  return 0;
}

int sio_sbuf_append_str(sio_sbuf_t *b, const char *s) {
  return sio_sbuf_append(b, s, strlen(s));
}

int sio_sbuf_append_char(sio_sbuf_t *b, char c) {
  return sio_sbuf_append(b, &c, 1);
}

int sio_sbuf_append_u64(sio_sbuf_t *b, uint64_t v) {
  char tmp[20];
  size_t n = 0;
  do {
    tmp[sizeof tmp - 1 - n++] = (char)('0' + v % 10);
    v /= 10;
  } while (v);
  return sio_sbuf_append(b, tmp + sizeof tmp - n, n);
}

void sio_sbuf_consume(sio_sbuf_t *b, size_t n) {
  if (n >= b->len) {
    b->len = 0;
    return;
  }
  memmove(b->data, b->data + n, b->len - n);
  b->len -= n;
}

void sio_sbuf_free(sio_sbuf_t *b) {
  free(b->data);
  b->data = NULL;
  b->len = b->cap = 0;
}

char *sio_sbuf_steal(sio_sbuf_t *b, size_t *len) {
  char *p = b->data;
  if (len) *len = b->len;
  b->data = NULL;
  b->len = b->cap = 0;
  return p;
}
