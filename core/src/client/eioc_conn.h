/* One client byte stream: a TCP connection (name resolved with uv_getaddrinfo, each address tried
 * in turn), optionally TLS (OpenSSL over memory BIOs: SNI, peer verification by name or IP).
 * The Engine.IO client opens one per HTTP connection or WebSocket. */
#ifndef SIO_EIOC_CONN_H
#define SIO_EIOC_CONN_H

#include <openssl/ssl.h>
#include <stddef.h>
#include <uv.h>

#include "sbuf.h"

typedef struct sio_eioc_conn sio_eioc_conn_t;

typedef struct sio_eioc_conn_cbs {
  /* Connected (and the TLS handshake done), or failed: err < 0 with a one-line detail. */
  void (*on_connect)(sio_eioc_conn_t *c, int err, const char *detail);
  /* Plaintext received (writable, valid for the call). */
  void (*on_read)(sio_eioc_conn_t *c, char *data, size_t len);
  /* The stream ended: UV_EOF when the peer closed, else an error. No callback follows. */
  void (*on_end)(sio_eioc_conn_t *c, int err);
  /* Every write queued so far has been written (may be NULL). */
  void (*on_drain)(sio_eioc_conn_t *c);
} sio_eioc_conn_cbs_t;

/* Starts connecting. ssl_ctx (borrowed, must outlive the connection) is NULL for plain TCP. */
int sio_eioc_conn_open(uv_loop_t *loop, const char *host, int port, SSL_CTX *ssl_ctx,
                       const sio_eioc_conn_cbs_t *cbs, void *user, sio_eioc_conn_t **out);
void *sio_eioc_conn_user(const sio_eioc_conn_t *c);
void sio_eioc_conn_set_user(sio_eioc_conn_t *c, void *user);
/* Writes the buffer's bytes, taking its storage (buf is left empty). 0 or a negative error. */
int sio_eioc_conn_write(sio_eioc_conn_t *c, sio_sbuf_t *buf);
/* Bytes queued and not yet written. */
size_t sio_eioc_conn_pending(const sio_eioc_conn_t *c);
/* Closes at once (no callback after this; freed later by the loop). NULL is fine. */
void sio_eioc_conn_close(sio_eioc_conn_t *c);

/* A client SSL_CTX: TLS 1.2+, ALPN http/1.1; verify on: ca_file or the system's store. NULL with
 * *detail set on failure. */
SSL_CTX *sio_eioc_tls_ctx(const char *ca_file, int verify, const char **detail);

#endif
