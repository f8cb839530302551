/* Socket.IO packets (protocol v5, and v4 for socket.io 2.x clients): pure codec, no I/O.
 *
 * Wire form of one packet (an Engine.IO text message):
 *   <type>[<attachments>-][<nsp>,][<id>][<json>]
 * type 0 CONNECT, 1 DISCONNECT, 2 EVENT, 3 ACK, 4 CONNECT_ERROR (v4: ERROR), 5 BINARY_EVENT,
 * 6 BINARY_ACK. nsp is written only when not "/". A BINARY_* packet is followed by <attachments>
 * Engine.IO binary messages; in its JSON each buffer stands as {"_placeholder":true,"num":N}.
 *
 * Values are cJSON trees, read by sio_json_parse (json_parse.h): a "\u0000" is held in strings as
 * the two bytes C0 80 and a lone surrogate ("\ud83d") as WTF-8, both printed back as the escape.
 * Binary data stays as placeholder objects in the tree, with the buffers in a separate attachments array: the bindings put bytes back at any depth when they convert to
 * their own objects (and take them out when they convert back), so the codec never copies a
 * buffer into JSON. */
#ifndef SIO_SIO_PACKET_H
#define SIO_SIO_PACKET_H

#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdint.h>

#include "sbuf.h"
#include "sio.h"

enum {
  SIO_PACKET_CONNECT = 0,
  SIO_PACKET_DISCONNECT = 1,
  SIO_PACKET_EVENT = 2,
  SIO_PACKET_ACK = 3,
  SIO_PACKET_CONNECT_ERROR = 4,
  SIO_PACKET_BINARY_EVENT = 5,
  SIO_PACKET_BINARY_ACK = 6
};

/* Most attachments one packet may announce (a larger count is a parse error, never an
 * allocation). */
#define SIO_PACKET_MAX_ATTACHMENTS 1000
/* Deepest JSON nesting accepted (deeper is a parse error, never a stack overflow). */
#define SIO_PACKET_MAX_DEPTH SIO_MAX_DEPTH

typedef struct sio_attachment {
  char *data; /* owned by the packet (malloc) */
  size_t len;
} sio_attachment_t;

typedef struct sio_packet {
  int type;
  char *nsp;      /* owned, NUL-terminated; "/" when absent (then a shared string: never free or
                   * write it; sio_packet_clear knows). May hold a v4 query ("/a?x=1"). */
  int64_t id;     /* ack id, -1 when none */
  cJSON *data;    /* owned; NULL when the packet has no payload */
  size_t attachment_count;     /* announced count (BINARY_*), 0 otherwise */
  sio_attachment_t *attachments; /* owned array of attachment_count, filled as they arrive */
  /* The decoder hands the last attachment over without a copy: it points into the message that
   * completed the packet, so the packet must be used before that message's buffer goes away.
   * The count of such trailing attachments: 1 from sio_packet_decoder_feed, all of them from
   * sio_packet_decode_msgpack (its buffers are the message's own bin values). */
  int last_borrowed;
} sio_packet_t;

/* Frees what the packet owns (not the struct itself) and zeroes it. */
void sio_packet_clear(sio_packet_t *p);

/* ---- decoding ---- */

/* Parses one text message into *out (zeroed first). Returns 0, or SIO_EPARSE for anything the
 * reference decoder refuses: unknown type, bad attachment count (missing '-', not digits, more than
 * SIO_PACKET_MAX_ATTACHMENTS), an id that is not digits or overflows, JSON that does not parse or is
 * nested deeper than SIO_PACKET_MAX_DEPTH, trailing garbage, or a payload invalid for the type:
 * CONNECT: none or an object; DISCONNECT: none; CONNECT_ERROR: a string or an object;
 * EVENT/BINARY_EVENT: an array whose first element is the event name: a number, or a string that
 * is not reserved (sio_event_reserved);
 * ACK/BINARY_ACK: an array (a payload is required for all but CONNECT and DISCONNECT). Also
 * refused: a NUL byte anywhere, a BOM before the JSON, and in a BINARY_* packet an object with
 * "_placeholder": true that is not a placeholder for one of the announced attachments.
 * For a BINARY_* packet announcing attachments, out->attachments is allocated (zeroed) with
 * attachment_count slots. SIO_ENOMEM when an allocation fails. On error *out is left cleared. */
int sio_packet_decode(const char *data, size_t len, sio_packet_t *out);

/* A stateful decoder for a stream of Engine.IO messages: a BINARY_* packet is complete once its
 * attachments have arrived. */
typedef struct sio_packet_decoder {
  sio_packet_t pending; /* a BINARY_* packet waiting for attachments */
  size_t received;      /* attachments received so far */
  int waiting;          /* 1 while pending is incomplete */
  size_t max_attachments; /* more announced is a parse error; init: SIO_PACKET_MAX_ATTACHMENTS */
} sio_packet_decoder_t;

void sio_packet_decoder_init(sio_packet_decoder_t *d);
void sio_packet_decoder_free(sio_packet_decoder_t *d);
/* Feeds one Engine.IO message (`data` borrowed; an attachment is copied, except the one that completes
 * a packet, which stays in `data`: see last_borrowed). Returns 1 when a packet is complete (moved into *out, which the caller then owns and clears), 0 when more attachments
 * are awaited, or SIO_EPARSE: a text message while attachments are awaited, a binary message when
 * none are, or a bad packet (SIO_ENOMEM when an allocation fails). *out is overwritten (zeroed
 * unless 1 is returned). After an error the decoder is reset (and the connection should be
 * closed, as the reference does). A BINARY_* packet must announce 1 to d->max_attachments. */
int sio_packet_decoder_feed(sio_packet_decoder_t *d, const char *data, size_t len, int binary,
                            sio_packet_t *out);

/* ---- encoding ---- */

/* Appends the text message of a packet: type, "<n>-" for BINARY_* types (which need n >= 1;
 * attachment_count > 0 with another type is SIO_EINVAL too), the namespace
 * and ',' unless "/" (NULL means "/"; one not starting with '/' or holding ',' is SIO_EINVAL), the
 * id when >= 0, then sio_json_write (exact numbers) of p->data (key order kept; C0 80 in strings written
 * as "\u0000") when not NULL. A payload the decoder would refuse for the type is SIO_EINVAL. The
 * attachments themselves are sent by the caller as binary messages after this text. 0, SIO_EINVAL
 * or SIO_ENOMEM (out unchanged then). */
int sio_packet_encode(const sio_packet_t *p, sio_sbuf_t *out);

/* One packet as the messages that carry it: the text message and one binary message per
 * attachment, each a reference (sio_msg_ref), so that every recipient of a broadcast shares them
 * (and their WebSocket frames) instead of encoding the packet again. */
typedef struct sio_encoded {
  sio_msg_t *text;
  sio_msg_t **atts;
  size_t natts;
} sio_encoded_t;

/* Encodes p with its p->attachment_count attachments taken from bufs (copied) into *out, which
 * then holds one reference per message: with SIO_PARSER_JSON sio_packet_encode's text and one
 * binary message per attachment, with SIO_PARSER_MSGPACK one binary message
 * (sio__encode_msgpack). 0, SIO_EINVAL (with sio_last_error()'s detail) or SIO_ENOMEM; *out is
 * left empty on error. */
int sio__encode(const sio_packet_t *p, const sio_buf_t *bufs, int parser, sio_encoded_t *out);

/* ---- the msgpack parser (socket.io-msgpack-parser's wire format; built with msgpack-c) ---- */

/* Parses one binary message holding the msgpack map {type, data, nsp, id} into *out (zeroed
 * first). As socket.io-msgpack-parser's decoder: type an integer 0..4 (an integral float too),
 * nsp a string, id absent or a non-negative integer (a negative one is refused here, though
 * Number.isInteger would take it), data valid for the type as sio_packet_decode says (a nil is
 * not "absent", except in a CONNECT or DISCONNECT, where python-socketio writes one); other keys
 * are ignored. Also refused: not one whole msgpack value (trailing
 * bytes, truncated), counts the bytes cannot back (sio__mp_plausible), nesting deeper than
 * msgpack-c's unpacker allows (32 containers), strings that are not WTF-8, a NUL in nsp, more
 * than SIO_PACKET_MAX_ATTACHMENTS bin values, bin values in a CONNECT or CONNECT_ERROR, and a
 * map shaped like a placeholder that names no bin value of the packet. Each bin value becomes an
 * attachment in order of appearance, its placeholder in the data where it stood; the attachments
 * point into `data` (last_borrowed = their count), which must outlive the packet's use. A NUL in
 * strings is held as C0 80 as with JSON. SIO_EPARSE or SIO_ENOMEM; *out cleared on error. */
int sio_packet_decode_msgpack(const char *data, size_t len, sio_packet_t *out);
/* p (BINARY_* types written as EVENT/ACK) as the map Node's socket.io writes, keys in its order:
 * {type, data, id, nsp} ({id, type, data, nsp} for an ACK), absent fields left out, the
 * placeholders of bufs as bin values at their place; one binary message in out->text. */
int sio__encode_msgpack(const sio_packet_t *p, const sio_buf_t *bufs, sio_encoded_t *out);
/* The same bytes appended to out (tests and fuzzers): 0, SIO_EINVAL or SIO_ENOMEM (UV_ENOSYS, and
 * SIO_EPARSE from the decoder, in a build without msgpack-c). */
int sio_packet_encode_msgpack(const sio_packet_t *p, const sio_buf_t *bufs, sio_sbuf_t *out);

/* packet.c's rules, shared with the msgpack parser: the payload a type allows, and the tree
 * check (depth, and in a binary packet placeholders naming one of `count` attachments). */
int sio__packet_payload_valid(int type, const cJSON *data);
int sio__packet_check_tree(const cJSON *item, int depth, int binary, size_t count);
/* Drops the references and empties e. */
void sio__encoded_clear(sio_encoded_t *e);
/* Marks its messages never to be permessage-deflated (SIO_EMIT_NO_COMPRESS); e itself is not
 * changed, only the messages it refers to. */
void sio__encoded_no_compress(const sio_encoded_t *e);

/* Counts placeholder objects ({"_placeholder":true,"num":N}, N an integer) in a tree, at any
 * depth, up to SIO_PACKET_MAX_DEPTH. */
size_t sio_packet_count_placeholders(const cJSON *item);
/* 1 and *num set when `item` is a placeholder object. */
int sio_packet_is_placeholder(const cJSON *item, size_t *num);
/* A new placeholder object for attachment `num`; NULL on ENOMEM. */
cJSON *sio_packet_placeholder(size_t num);

#endif
