/* The Socket.IO client's private state, shared by manager.c (the connection, reconnection, packet
 * routing) and csocket.c (one namespace: connect, emit, acks, the send buffer). */
#ifndef SIO_CLIENT_PRIVATE_H
#define SIO_CLIENT_PRIVATE_H

#include "client/eio_client.h"
#include "sbuf.h"
#include "sio_client.h"
#include "socketio/packet.h"

/* An emit waiting for its answer. Kept in emit order: answers come mostly in that order, so the
 * lookup by id starts at the oldest. */
typedef struct sio_cack {
  struct sio_cack *prev, *next;
  int64_t id;
  uint64_t deadline; /* uv_now() time; 0: no timeout */
  int sent;          /* written on a connection (else still in the send buffer) */
  sio_csocket_ack_cb cb;
  void *arg;
} sio_cack_t;

/* One packet kept while not connected: its messages, encoded, in one allocation. */
typedef struct sio_cbuf {
  struct sio_cbuf *next;
  int64_t ack_id; /* -1 when none */
  size_t bytes;
  size_t nparts;
  sio_eioc_part_t parts[]; /* the bytes follow the array */
} sio_cbuf_t;

/* An event received before the CONNECT answer (recovered events come first): delivered on
 * connect, before on_connect, as socket.io-client's receiveBuffer. */
typedef struct sio_crecv {
  struct sio_crecv *next;
  sio_packet_t p; /* owns its attachments */
} sio_crecv_t;

struct sio_csocket_s {
  sio_manager_t *m;
  sio_csocket_t *next;
  char *nsp;
  cJSON *auth; /* an object, or NULL */
  sio_csocket_callbacks_t cbs;
  void *data;
  int active;    /* wants to be connected (socket.io-client's `active`) */
  int connected;
  int recovered;
  char *id, *pid, *offset;
  int64_t next_id;
  sio_cack_t *acks, *acks_tail;
  /* Due at the earliest deadline (or later: it rescans). Allocated by the first emit with a
   * timeout: most sockets never set one, and an idle socket then carries no timer. */
  uv_timer_t *ack_timer;
  uint64_t timer_due;   /* 0: not started */
  sio_cbuf_t *sendq, *sendq_tail;
  size_t sendq_count, sendq_bytes;
  sio_crecv_t *recvq, *recvq_tail;
};

struct sio_manager_s {
  uv_loop_t *loop;
  void *data;
  sio_manager_options_t o; /* strings below are the copies */
  sio_manager_callbacks_t cbs;
  int secure, port;
  char *host, *path, *query, *ca_file;
  char **headers;
  sio_eioc_t *eioc;      /* the current connection (opening or open), NULL otherwise */
  int open;              /* the current connection finished its handshake */
  unsigned detached;     /* closed connections whose on_close is still to come */
  int reconnecting;      /* the backoff timer runs, or an attempt is under way */
  int skip_reconnect;
  unsigned attempts;     /* Backoff's attempts */
  int closing;           /* sio_manager_close was called */
  int in_close;          /* inside sio_manager_close: its callback must wait for the loop */
  int finished;          /* the close callback ran */
  unsigned handles;      /* handles not yet closed at free time */
  sio_manager_close_cb close_cb;
  uv_timer_t timer;      /* the reconnection delay, then the close callback */
  sio_csocket_t *sockets, *sockets_tail;
  sio_packet_decoder_t *dec; /* while a binary packet is assembled */
  int root_granted;      /* EIO3: the server put this connection in "/" */
  sio_sbuf_t scratch;    /* the encoder's buffer, reused by every emit */
  uint64_t rng;
};

/* csocket.c, for manager.c */
void sio__csocket_on_open(sio_csocket_t *s);     /* the connection is open: send CONNECT */
void sio__csocket_on_packet(sio_csocket_t *s, sio_packet_t *p);
void sio__csocket_on_lost(sio_csocket_t *s, const char *reason); /* the connection ended */
void sio__csocket_on_error(sio_csocket_t *s, const char *message); /* an attempt failed */
void sio__csocket_shutdown(sio_csocket_t *s);    /* sio_manager_close: everything ends */
void sio__csocket_free(sio_csocket_t *s);        /* after its timer closed */

/* manager.c, for csocket.c */
int sio__manager_open(sio_manager_t *m);
void sio__manager_maybe_close(sio_manager_t *m); /* no socket is active any more */
/* Sends messages on the open connection: 0 or a negative error. */
int sio__manager_send(sio_manager_t *m, const sio_eioc_part_t *parts, size_t n);

#endif
