/* Engine.IO packets and polling payloads, v4 and v3: pure codec (bytes in, packets out).
 *
 * Packet types: 0 open, 1 close, 2 ping, 3 pong, 4 message, 5 upgrade, 6 noop.
 * v4 payloads: packets joined by \x1e; binary packets as 'b' + base64 of the bytes.
 * v3 payloads (text): "<len>:<packet>" where len counts UTF-16 code units; binary packets as
 *   "b<type>" + base64. v3 payloads (binary, application/octet-stream): per packet
 *   <0 string | 1 binary> <length digits, one byte each, 0-9> <0xFF> <bytes>, the length counting
 *   bytes (for a string packet, the UTF-8 bytes of type char + data; for a binary one, the type
 *   byte + data). */
#ifndef SIO_EIO_CODEC_H
#define SIO_EIO_CODEC_H

#include <stddef.h>

#include "sbuf.h"

enum {
  SIO_EIO_OPEN = 0,
  SIO_EIO_CLOSE = 1,
  SIO_EIO_PING = 2,
  SIO_EIO_PONG = 3,
  SIO_EIO_MESSAGE = 4,
  SIO_EIO_UPGRADE = 5,
  SIO_EIO_NOOP = 6
};

typedef struct sio_eio_packet {
  int type;
  int binary;      /* data is bytes (only for MESSAGE) */
  const char *data; /* the packet's data after the type (e.g. "probe" of "2probe") */
  size_t len;
} sio_eio_packet_t;

typedef int (*sio_eio_packet_cb)(void *user, const sio_eio_packet_t *pkt);

/* Decodes one WebSocket message into a packet (the packet points into `data`).
 * v4: text "<type><data>"; a binary frame is a binary MESSAGE made of all its bytes.
 * v3: text the same; a binary frame is "<type byte><data>" (type must be 4).
 * Returns 0 or SIO_EPARSE (empty, unknown type, binary that is not a MESSAGE). */
int sio_eio_decode_ws(int version, int binary_frame, const char *data, size_t len,
                      sio_eio_packet_t *out);

/* Decodes a polling POST body, calling cb for each packet in order (stops at the first non-zero
 * return, which is passed back). `data` (borrowed) is modified: base64 is decoded in place.
 * `binary_body` is 1 for a v3 body sent as application/octet-stream (ignored for v4).
 * Returns 0, a callback's value, or SIO_EPARSE for any malformed part (packets before it have
 * been delivered). Text must be UTF-8, as on WebSocket (else SIO_EUTF8, nothing delivered): a text
 * body whole, and in a v3 binary body each text packet, which may also hold lone surrogates in
 * their three-byte form (WTF-8: socket.io 2.x encodes these with utf8.js, not strictly). */
int sio_eio_decode_payload(int version, int binary_body, char *data, size_t len,
                           sio_eio_packet_cb cb, void *user);

/* Payload encoding for a polling response. Call begin, add each packet, and the result is in out.
 * v4 and v3-text: text/plain; v3 when supports_binary and any packet is binary: the binary
 * framing, application/octet-stream (the encoder must know that before the first packet: pass
 * any_binary). */
typedef struct sio_eio_payload_enc {
  sio_sbuf_t *out;
  int version;
  int binary_framing; /* v3 binary payload chosen */
  size_t count;
} sio_eio_payload_enc_t;

void sio_eio_payload_begin(sio_eio_payload_enc_t *e, sio_sbuf_t *out, int version,
                           int supports_binary, int any_binary);
int sio_eio_payload_add(sio_eio_payload_enc_t *e, const sio_eio_packet_t *pkt);
/* "application/octet-stream" or "text/plain; charset=UTF-8". */
const char *sio_eio_payload_content_type(const sio_eio_payload_enc_t *e);

#endif
