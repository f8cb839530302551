/* TLS for the transport: OpenSSL driven by hand, without sockets of its own. Ciphertext read from
 * a connection is lent to its SSL for one call (sio__tls_begin), and the ciphertext the SSL writes
 * is appended to a buffer the caller drains into libuv writes. The BIO between them owns no
 * buffer. After a TLS 1.3 handshake the SSL is freed and tls_record.c carries the records, so that
 * an idle connection holds a few hundred bytes (TLS 1.2 keeps the SSL, whose record buffers are
 * released while idle: SSL_MODE_RELEASE_BUFFERS). Pure: no I/O here. */
#ifndef SIO_TLS_H
#define SIO_TLS_H

#include <stddef.h>

#include "sbuf.h"
#include "sio.h"

/* TLS 1.3 session tickets sent after each full or resumed handshake: two, OpenSSL's default (and
 * so Node's). OpenSSL's client spoils the ticket its connection holds when it ends without
 * close_notify (as Python's ssl sockets do): the other one still resumes. Each costs ~17 us of
 * server CPU; a resumed handshake saves the signature (~250 us). */
#define SIO_TLS_TICKETS 2

typedef struct ssl_ctx_st sio_ssl_ctx_t; /* OpenSSL's SSL_CTX */
typedef struct sio_tls_s sio_tls_t;

/* A server context from the files of `o` (certificate chain, key, optional client CA), refcounted
 * by OpenSSL: each connection holds a reference, so that a reload can drop the listener's own.
 * SIO_ETLS (with the detail of sio_last_error()) or SIO_EINVAL. */
int sio__tls_ctx_new(const sio_tls_options_t *o, sio_ssl_ctx_t **out);
void sio__tls_ctx_free(sio_ssl_ctx_t *ctx);

/* One connection's TLS state (NULL when out of memory); the ciphertext it produces is appended
 * to `out` (borrowed: the server's, shared by its connections and drained after each call). */
sio_tls_t *sio__tls_new(sio_ssl_ctx_t *ctx, sio_sbuf_t *out);
void sio__tls_free(sio_tls_t *t);
/* Points the connection's output elsewhere (workers: a connection handed to another worker's
 * server, whose buffer it then shares; no call may be in progress). */
void sio__tls_set_out(sio_tls_t *t, sio_sbuf_t *out);
/* Lends `len` bytes of ciphertext to the calls that follow (all of it is consumed by the time a
 * call returns 0 for "more input needed"). */
void sio__tls_begin(sio_tls_t *t, const char *in, size_t len);
/* 1 once the handshake is complete, 0 while it needs more input, SIO_ETLS when it failed (the
 * alert for the peer is in the output). */
int sio__tls_handshake(sio_tls_t *t);
int sio__tls_ready(const sio_tls_t *t);
/* Decrypts into buf: 0 with *got bytes (0: needs more input), 1 when the peer sent close_notify,
 * SIO_ETLS on a bad record. */
int sio__tls_read(sio_tls_t *t, char *buf, size_t cap, size_t *got);
/* Encrypts all of p into the output: 0, or SIO_ETLS / SIO_ENOMEM. */
int sio__tls_write(sio_tls_t *t, const void *p, size_t len);
/* Appends close_notify to the output, once (0 when already sent or never handshaken). */
int sio__tls_close_notify(sio_tls_t *t);

#endif
