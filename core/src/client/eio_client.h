/* The Engine.IO client: one connection to one server (transport layer: TCP, TLS, HTTP polling,
 * WebSocket, the upgrade). The Socket.IO layer (manager.c, csocket.c) sits on top and knows
 * nothing of transports; the codecs are the server's (eio_codec.h, ws.h, llhttp).
 *
 * Life: sio_eioc_new() starts connecting at once; exactly one of on_open / on_close follows the
 * attempt (on_close with err < 0 and a reason when it failed before opening), and after on_open
 * exactly one on_close ends the connection. The handle is freed by the library right after
 * on_close returns (the callback must not use it afterwards). sio_eioc_close() inside any
 * callback is allowed. */
#ifndef SIO_EIO_CLIENT_H
#define SIO_EIO_CLIENT_H
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

typedef struct sio_eioc sio_eioc_t;

/* Everything a connection attempt needs; strings borrowed for sio_eioc_new (copied). */
typedef struct sio_eioc_config {
  int secure;               /* TLS (https:// or wss://) */
  const char *host;         /* name or address (IPv6 without brackets) */
  int port;
  const char *path;         /* Engine.IO path, "/socket.io/" */
  const char *query;        /* extra query (no leading '?'), or NULL */
  const char *const *headers; /* extra headers "Name: value", NULL-terminated, or NULL */
  int eio;                  /* 3 or 4 */
  unsigned transports;      /* SIO_CLIENT_POLLING | SIO_CLIENT_WEBSOCKET (sio_client.h) */
  int upgrade;
  size_t max_payload;
  uint32_t timeout_ms;      /* the whole open (DNS, TCP, TLS, handshake) */
  const char *tls_ca_file;
  int tls_verify;
} sio_eioc_config_t;

typedef struct sio_eioc_callbacks {
  void (*on_open)(sio_eioc_t *e);
  /* A whole MESSAGE packet's data (text without the '4', or binary); writable, valid for the call. */
  void (*on_message)(sio_eioc_t *e, char *data, size_t len, int binary);
  void (*on_upgrade)(sio_eioc_t *e); /* now on WebSocket */
  /* The end. err: 0 after sio_eioc_close() (reason "forced close"), else negative (a libuv
   * code, SIO_ETIMEDOUT, SIO_ETLS, SIO_EPROTO, SIO_EPARSE, ...) with socket.io-client's reason:
   * "transport close" (the server closed), "transport error", "ping timeout", "parse error"; before
   * on_open, `detail` says what failed ("connect ECONNREFUSED 127.0.0.1:3000", "timeout",
   * "HTTP 400 {...}", "TLS: certificate verify failed"). */
  void (*on_close)(sio_eioc_t *e, int err, const char *reason, const char *detail);
} sio_eioc_callbacks_t;

int sio_eioc_new(uv_loop_t *loop, const sio_eioc_config_t *cfg, const sio_eioc_callbacks_t *cb,
                 void *user, sio_eioc_t **out);
void *sio_eioc_user(const sio_eioc_t *e);
/* Queues a MESSAGE packet (data copied). Packets queued in one loop turn go out together (one
 * write on WebSocket, one POST on polling). SIO_ECLOSED after close; SIO_ETOOBIG past max_payload
 * or the queue bound (the caller's send buffer handles backpressure: see writable). */
int sio_eioc_send(sio_eioc_t *e, const char *data, size_t len, int binary);
/* Queues several packets at once (a BINARY_EVENT and its attachments: never split). */
typedef struct sio_eioc_part { const char *data; size_t len; int binary; } sio_eioc_part_t;
int sio_eioc_sendv(sio_eioc_t *e, const sio_eioc_part_t *parts, size_t n);
/* 1 when open and nothing is waiting to be written (what a volatile emit needs). */
int sio_eioc_writable(const sio_eioc_t *e);
/* Graceful close: queued packets are flushed, a CLOSE packet sent, then on_close(0, "forced close"). */
void sio_eioc_close(sio_eioc_t *e);
const char *sio_eioc_sid(const sio_eioc_t *e);
int sio_eioc_transport(const sio_eioc_t *e); /* SIO_CLIENT_POLLING / _WEBSOCKET */
#endif
