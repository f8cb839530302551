/* A growable byte buffer: the one place the core builds output of unknown size. */
#ifndef SIO_SBUF_H
#define SIO_SBUF_H

#include <stddef.h>
#include <stdint.h>

typedef struct sio_sbuf {
  char *data;   /* owned; NULL while cap == 0 */
  size_t len;
  size_t cap;
} sio_sbuf_t;

#define SIO_SBUF_INIT {NULL, 0, 0}

/* Makes room for `extra` more bytes; data may move. 0 or SIO_ENOMEM. */
int sio_sbuf_reserve(sio_sbuf_t *b, size_t extra);
/* Appends a copy of `n` bytes. 0 or SIO_ENOMEM (then b is unchanged). */
int sio_sbuf_append(sio_sbuf_t *b, const void *p, size_t n);
int sio_sbuf_append_str(sio_sbuf_t *b, const char *s);
int sio_sbuf_append_char(sio_sbuf_t *b, char c);
/* Appends the decimal form of v. */
int sio_sbuf_append_u64(sio_sbuf_t *b, uint64_t v);
/* Drops the first n bytes (n <= len), keeping the rest. */
void sio_sbuf_consume(sio_sbuf_t *b, size_t n);
/* Frees the storage; b is left empty and reusable. */
void sio_sbuf_free(sio_sbuf_t *b);
/* Gives the storage to the caller (who frees it with free()); b is left empty. */
char *sio_sbuf_steal(sio_sbuf_t *b, size_t *len);

#endif
