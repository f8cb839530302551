/* What the Socket.IO layer needs of the engine beyond the public API. */
#ifndef SIO_ENGINE_H
#define SIO_ENGINE_H

#include "sio.h"
#include "sbuf.h"

/* Runs fn(arg) when the engine is freed (with its server), after every session is gone. */
void sio__engine_on_free(sio_engine_t *e, void (*fn)(void *arg), void *arg);
/* On a WebSocket session: writes what is queued now and holds later writes back briefly (see
 * sio_conn_hold), so that the next frame reaches the client in a read of its own. */
void sio__session_hold(sio_session_t *s, uint32_t ms);
/* sio_session_send_msg for the layers above, per recipient of a broadcast: msg is never NULL there,
 * and its errors have no detail to clear (sio_last_error()). */
int sio__session_send_msg(sio_session_t *s, sio_msg_t *msg);
/* The same for a caller that has checked that nothing watches deliveries (log.h's
 * SIO__WATCH_DELIVERY bits, which include debug category engine): a WebSocket session skips the
 * debug test. */
int sio__session_deliver(sio_session_t *s, sio_msg_t *msg);
/* Whether msg may be permessage-deflated (on by default; Node's compress flag). Every recipient
 * of one message shares the setting, as they share its compressed frame. */
void sio__msg_set_compress(sio_msg_t *msg, int on);
/* The message's payload length (what a store of kept packets counts). */
size_t sio__msg_len(const sio_msg_t *msg);
/* The message's payload bytes (borrowed) and whether it is binary: for debug summaries. */
const char *sio__msg_data(const sio_msg_t *msg);
int sio__msg_binary(const sio_msg_t *msg);
/* Bytes an encoder leaves free at the front of an sbuf whose rest it then hands to
 * sio__msg_adopt(): room for the buffer's header and the message's frame header. */
size_t sio__msg_headroom(void);
/* Makes the empty sbuf b a message's storage for about `len` bytes of text (it may grow), with
 * b->len = sio__msg_headroom(). 0 or SIO_ENOMEM. */
int sio__msg_begin(sio_sbuf_t *b, size_t len);
/* A message of b->data[sio__msg_headroom()..b->len) that takes b's storage instead of copying it
 * (a 100 KB text is then written once, by the JSON writer): b is left empty. NULL on ENOMEM (b is
 * then still the caller's to free). */
sio_msg_t *sio__msg_adopt(sio_sbuf_t *b, int binary);

/* serveClient (sio_io_options_t.client_dir): the engine answers GET and HEAD requests for
 * socket.io-client's bundle files under its path from `dir`, a resolved directory (consumed: freed
 * with the engine). */
void sio__engine_serve_client(sio_engine_t *e, char *dir);

/* 20 random URL-safe characters (120 bits from the CSPRNG) and a NUL. */
void sio__engine_random_id(sio_engine_t *e, char out[21]);

/* Metrics (sio_io_stats): adds the engine's counters and its open sessions to *out. */
void sio__engine_stats(const sio_engine_t *e, sio_stats_t *out);

/* Tests (issue 22's lazily allocated part): 1 while s holds its polling/upgrade part, else 0. */
int sio__session_has_poll_part(const sio_session_t *s);

#endif
