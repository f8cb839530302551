/* The Engine.IO client's protocol side, pure (bytes in, results out; no I/O), so that the fuzzer
 * reaches every byte a server can send without sockets: HTTP/1.1 responses (llhttp), the OPEN
 * packet's JSON, the WebSocket handshake's answer. Polling payloads and WebSocket frames are the
 * server's own codecs (eio_codec.h, ws.h). */
#ifndef SIO_EIOC_PROTO_H
#define SIO_EIOC_PROTO_H

#include <llhttp.h>
#include <stddef.h>
#include <stdint.h>

#include "sbuf.h"

/* The most a response head (status line and headers) may take. */
#define SIO_EIOC_MAX_HEAD 16384

/* One HTTP/1.1 response being read. The headers the client needs are kept (truncated to their
 * buffers); the body is de-chunked into `body`, bounded by max_body. */
typedef struct sio_eioc_resp {
  llhttp_t ll;
  size_t max_body;
  size_t head_bytes;
  int status;
  int complete;   /* a whole response was read */
  int keep_alive; /* the connection may carry another request */
  int upgrade;    /* a 101 with Upgrade: the rest of the input is the new protocol's */
  int headers_done;
  int err;        /* SIO_ETOOBIG, SIO_EPROTO once failed */
  int cur;        /* which kept header the current value belongs to, -1 none */
  size_t field_len;
  char field[32]; /* the current header's name, lower-cased (truncated) */
  char content_type[64];
  char ws_accept[32];
  char upgrade_hdr[16];
  sio_sbuf_t body;
} sio_eioc_resp_t;

void sio_eioc_resp_init(sio_eioc_resp_t *r, size_t max_body);
/* Ready for the next response on the same connection (the body's storage is kept). */
void sio_eioc_resp_reset(sio_eioc_resp_t *r);
void sio_eioc_resp_free(sio_eioc_resp_t *r);
/* Feeds bytes. Returns 0 when all were consumed and the response is not complete yet, 1 when it
 * is (*used bytes were its end; the rest belongs to what follows: WebSocket frames after a 101),
 * or a negative error: SIO_EPROTO (malformed), SIO_ETOOBIG (head over SIO_EIOC_MAX_HEAD, or a
 * body, announced or received, over max_body). */
int sio_eioc_resp_feed(sio_eioc_resp_t *r, const char *data, size_t len, size_t *used);
/* The connection ended (EOF): 1 when that completes a response (a body read to EOF), else
 * SIO_EPROTO (a truncated response). */
int sio_eioc_resp_eof(sio_eioc_resp_t *r);

/* What the OPEN packet says. */
typedef struct sio_eioc_open {
  char sid[128];
  int upgrade_ws;          /* "websocket" is among the upgrades */
  uint32_t ping_interval;  /* ms */
  uint32_t ping_timeout;   /* ms */
  uint64_t max_payload;    /* 0 when not given (v3) */
} sio_eioc_open_t;

/* Parses the OPEN packet's JSON (the data after '0'). 0 or SIO_EPARSE (not an object, no sid, a
 * sid that is empty, too long or not printable ASCII, timings missing or not positive numbers). */
int sio_eioc_parse_open(const char *json, size_t len, sio_eioc_open_t *out);

/* Appends the request target: path ? EIO=<v>&transport=<t>[&sid=...][&query]. */
int sio_eioc_target(sio_sbuf_t *out, const char *path, int eio, const char *transport,
                    const char *sid, const char *query);

/* 1 when `accept` is the Sec-WebSocket-Accept that `key` calls for. */
int sio_eioc_ws_accept_ok(const char *key, const char *accept);

#endif
