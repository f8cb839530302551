/* The Engine.IO client's insides, shared by eio_client.c (state, queue, packets, close),
 * eioc_polling.c (HTTP long polling) and eioc_ws.c (WebSocket). Not for the Socket.IO layer. */
#ifndef SIO_EIOC_INTERNAL_H
#define SIO_EIOC_INTERNAL_H

#include "client/eio_client.h"
#include "client/eioc_conn.h"
#include "client/eioc_proto.h"
#include "engine/eio_codec.h"
#include "sbuf.h"
#include "websocket/ws.h"

enum { ST_OPENING, ST_OPEN, ST_CLOSING, ST_CLOSED };

/* One keep-alive HTTP/1.1 connection carrying one request at a time (the long poll, or POSTs). */
typedef struct eioc_http {
  sio_eioc_t *e;
  sio_eioc_conn_t *conn; /* NULL until needed, and after the server closed it */
  sio_eioc_resp_t *resp; /* NULL until the first request: WebSocket-only clients need none */
  sio_sbuf_t req;        /* a request waiting for its connection */
  int busy;              /* a request is in flight */
  uint64_t idle_since;   /* loop time of the last response */
  int is_post;
} eioc_http_t;

/* What the OPEN packet said, kept for the connection's life: sio_eioc_open_t with the sid copied
 * to its own length (an idle client does not carry the parser's 128-byte array). */
typedef struct eioc_info {
  char *sid; /* NULL until open */
  int upgrade_ws;
  uint32_t ping_interval, ping_timeout; /* ms */
  uint64_t max_payload;
} eioc_info_t;

enum { WS_NONE, WS_HANDSHAKE, WS_PROBING, WS_OPEN, WS_DONE /* CLOSE written */ };

typedef struct eioc_ws {
  sio_eioc_conn_t *conn;
  int state;
  sio_eioc_resp_t *resp; /* the handshake's answer, while it is read */
  sio_ws_parser_t parser;
  char key[25];
  sio_sbuf_t out;       /* frames for the next write */
} eioc_ws_t;

struct sio_eioc {
  uv_loop_t *loop;
  sio_eioc_callbacks_t cb;
  void *user;
  /* the configuration, strings owned */
  int secure, port, eio, upgrade, tls_verify;
  unsigned transports;
  char *host, *path, *query, *tls_ca_file;
  char **headers;
  char *host_hdr; /* "host:port", bracketed for IPv6 */
  size_t max_payload, queue_max;
  uint32_t timeout_ms;
  SSL_CTX *ssl_ctx;

  int state;
  int transport;            /* SIO_CLIENT_POLLING / _WEBSOCKET */
  int paused;               /* upgrading: polling takes no new request */
  eioc_info_t info;
  /* Polling's two connections, in one allocation made only when polling is among the transports:
   * a WebSocket-only client carries none. */
  eioc_http_t *poll, *post;
  eioc_ws_t ws;

  /* Packets not written yet, transport-neutral: records of [u32 len][u8 type][u8 binary][data]. */
  sio_sbuf_t q;
  size_t q_count;
  sio_sbuf_t scratch;       /* a polling payload being built */

  /* One timer for three phases that never overlap: the connection attempt's bound (opening), the
   * heartbeat (open: no sign of the server within pingInterval + pingTimeout), the graceful
   * close's bound (closing). */
  uv_timer_t timer;
  uv_timer_t *v3_ping_timer; /* v3 only (the client pings): NULL for v4, which needs none */
  uv_idle_t flush_idle;     /* writes what one loop turn queued */
  int handles_open;
  int flush_scheduled;

  int close_err;
  const char *close_reason;
  char *close_detail; /* set by the end (NULL: none or no memory) */
};

#define EIOC_QREC 6 /* bytes of a queue record's head */

/* eio_client.c */
void sio__eioc_fail(sio_eioc_t *e, int err, const char *reason, const char *detail);
/* One packet from the server (polling or WebSocket). Non-zero: stop delivering (closed). */
int sio__eioc_packet(sio_eioc_t *e, const sio_eio_packet_t *pkt, int from_ws);
int sio__eioc_queue(sio_eioc_t *e, int type, const char *data, size_t len, int binary);
void sio__eioc_schedule_flush(sio_eioc_t *e);
/* Calls fn for each queued record, in order; removes those it accepted (fn returns 0). */
typedef int (*sio__eioc_rec_fn)(sio_eioc_t *e, const sio_eio_packet_t *pkt, void *arg);
void sio__eioc_drain_queue(sio_eioc_t *e, sio__eioc_rec_fn fn, void *arg);
void sio__eioc_opened(sio_eioc_t *e);
/* The polling side is idle while paused: the upgrade can finish. */
void sio__eioc_check_paused(sio_eioc_t *e);
void sio__eioc_upgrade_done(sio_eioc_t *e);
/* Appends the extra headers and the Host line. */
int sio__eioc_common_headers(sio_eioc_t *e, sio_sbuf_t *out);

/* eioc_polling.c */
void sio__eioc_http_init(sio_eioc_t *e, eioc_http_t *h, int is_post);
void sio__eioc_http_free(eioc_http_t *h);
int sio__eioc_poll_start(sio_eioc_t *e); /* the handshake or the next long poll */
void sio__eioc_poll_flush(sio_eioc_t *e); /* a POST of what is queued, when none is in flight */

/* eioc_ws.c */
int sio__eioc_ws_start(sio_eioc_t *e, int probe);
void sio__eioc_ws_flush(sio_eioc_t *e);
void sio__eioc_ws_probe_answered(sio_eioc_t *e);
/* After the upgrade is agreed: "5", then what is queued. */
void sio__eioc_ws_send_upgrade(sio_eioc_t *e);
/* The close packet and a close frame, then the end. */
void sio__eioc_ws_free(sio_eioc_t *e);

#endif
