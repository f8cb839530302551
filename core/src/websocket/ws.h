/* WebSocket (RFC 6455) framing, pure: bytes in, messages out; frames built into caller buffers.
 *
 * The parser reassembles fragmented messages, unmasks, enforces a maximum message size and
 * validates UTF-8 of text messages. Input is mutable: complete frames found whole in the input are
 * unmasked in place and delivered without a copy; only partial frames and fragments are buffered
 * (and that storage is released once drained, so an idle connection holds none). */
#ifndef SIO_WS_H
#define SIO_WS_H

#include <stddef.h>
#include <stdint.h>

#include "rbuf.h"
#include "sbuf.h"

enum {
  SIO_WS_OP_CONT = 0x0,
  SIO_WS_OP_TEXT = 0x1,
  SIO_WS_OP_BINARY = 0x2,
  SIO_WS_OP_CLOSE = 0x8,
  SIO_WS_OP_PING = 0x9,
  SIO_WS_OP_PONG = 0xA
};

enum { SIO_WS_ROLE_SERVER = 0, SIO_WS_ROLE_CLIENT = 1 };

typedef struct sio_ws_zlib sio_ws_zlib_t; /* see sio_ws_zlib_new */

typedef struct sio_ws_callbacks {
  /* A whole TEXT or BINARY message; data is writable and valid for the call only. */
  int (*on_message)(void *user, int opcode, char *data, size_t len);
  /* A PING, PONG or CLOSE frame's payload (CLOSE already validated: see sio_ws_parse_close). */
  int (*on_control)(void *user, int opcode, char *data, size_t len);
  /* The shared streams a permessage-deflate message is inflated with (sio_ws_parser_set_deflate),
   * asked for per deflated message so that the parser keeps no pointer to them (issue 22: 8 bytes
   * of every connection). NULL, or NULL returned: such a message fails with SIO_ENOMEM (1011). */
  sio_ws_zlib_t *(*zlib)(void *user);
} sio_ws_callbacks_t;

/* Buffers that exist only while a frame or a fragmented message is incomplete. */
typedef struct sio_ws_partial {
  sio_sbuf_t frame;   /* bytes of an incomplete frame */
  sio_sbuf_t message; /* payloads of the fragments of an incomplete message */
  int frame_nonascii; /* a byte of frame's payload so far was not ASCII, or was not looked at */
} sio_ws_partial_t;

/* permessage-deflate (RFC 7692). The server always answers server_no_context_takeover and
 * client_no_context_takeover (sections 7.1.1.1 and 7.1.1.2 let it add both), so every message is
 * (de)compressed on its own: one inflate stream and one deflate stream per window size, shared by
 * every connection of a server (sio_ws_zlib_t) and reset per message, and no zlib state at all per
 * connection (a connection with the extension holds 16 bytes more in its parser; a message being
 * inflated, a buffer of at most max_message + 1 bytes for that call). The server's cost, created
 * on first use: about 40 KiB to inflate, and 8 << bits bytes per deflate window size in use (256
 * KiB for 15 bits, which messages of 16 KiB or more need; a 1 KiB message uses 11 bits, 16 KiB).
 * Context takeover is not offered: it would cost each connection streams of its own for life. */

/* What was agreed with one client. */
typedef struct sio_ws_pmd {
  uint8_t on;          /* 1 when the extension was negotiated */
  uint8_t server_bits; /* window of the server's compressor: 9..15 (15 unless the client asked) */
  uint8_t client_bits; /* client_max_window_bits=N echoed in the answer, 0 when none */
} sio_ws_pmd_t;

/* Reads one Sec-WebSocket-Extensions header value (offers separated by commas, parameters by
 * semicolons, values as tokens or quoted strings) and accepts the first permessage-deflate offer
 * the server can honour. A malformed or unacceptable offer (unknown or repeated parameter, a value
 * out of 8..15 or where none belongs, server_max_window_bits=8, which zlib's raw deflate cannot
 * do) is declined and the next one tried. Returns 1 and fills *out when one was accepted, else 0
 * (never an error: a bad offer only means no compression). With several headers, call it for each
 * in order until one returns 1. */
int sio_ws_pmd_negotiate(const char *value, size_t len, sio_ws_pmd_t *out);
/* The answer's header line for what was agreed, "Sec-WebSocket-Extensions: ...\r\n" with a NUL, into
 * out; returns its length. */
size_t sio_ws_pmd_response(const sio_ws_pmd_t *pmd, char out[160]);

/* The shared zlib streams (created on first use); freeing releases them. */
sio_ws_zlib_t *sio_ws_zlib_new(void);
void sio_ws_zlib_free(sio_ws_zlib_t *z);
/* A whole compressed server frame (FIN, RSV1, opcode) for payload data[0..len), deflated on its
 * own without the trailing 00 00 ff ff (RFC 7692 7.2.1); one reference for the caller. The window
 * is the smallest of 2^9..2^max_bits bytes that holds the message (the same output as any larger
 * one): *bits says which, and the frame suits every client whose server_max_window_bits is at
 * least that. NULL on ENOMEM, or for a message over 1 GiB (to be sent uncompressed). */
sio_rbuf_t *sio_ws_deflate_frame(sio_ws_zlib_t *z, int max_bits, int opcode, const char *data,
                                 size_t len, int *bits);

typedef struct sio_ws_parser {
  sio_ws_partial_t *part; /* NULL while idle: an idle connection holds 24 bytes here */
  size_t max_message;
  uint8_t role;
  uint8_t msg_opcode;     /* opcode of the message being reassembled, 0 when none */
  uint16_t close_code;    /* after an error: the close code to answer with */
  uint8_t msg_deflated;   /* the message being reassembled had RSV1 on its first frame */
  sio_ws_pmd_t pmd;       /* permessage-deflate, when negotiated (sio_ws_parser_set_deflate) */
} sio_ws_parser_t;      /* 24 bytes: the streams come from the callbacks (zlib) */

void sio_ws_parser_init(sio_ws_parser_t *p, int role, size_t max_message);
/* Turns permessage-deflate on (server role): messages with RSV1 on their first frame are inflated
 * before delivery, into a buffer that never grows past max_message + 1 bytes (a message that
 * inflates past max_message fails with SIO_ETOOBIG, 1009, before it is inflated whole); bad
 * deflate data fails with SIO_EUTF8 (close code 1007, as Node's ws). zlib only says whether the
 * streams exist: the callbacks' zlib gives them per message. Without it (NULL), RSV1 is a
 * protocol error (1002), as it stays on continuation and control frames. */
void sio_ws_parser_set_deflate(sio_ws_parser_t *p, const sio_ws_pmd_t *pmd, sio_ws_zlib_t *zlib);
/* Releases the buffers; the parser may be re-initialised. */
void sio_ws_parser_free(sio_ws_parser_t *p);
/* Feeds data (borrowed, modified in place). Returns 0 when all was consumed; a callback's non-zero
 * return value (parsing stops there: data[*used..len) is left unparsed and untouched, to be fed
 * again later); or a negative SIO_E* error, with p->close_code set:
 * SIO_EPROTO (1002: bad opcode/RSV bits (RSV1 allowed only on a deflated message's first frame),
 * mask missing (server role) or present (client role), fragmented or oversized control frame,
 * continuation without a start, bad close payload), SIO_ETOOBIG (1009), SIO_EUTF8 (1007: bad
 * UTF-8 or bad deflate data), SIO_ENOMEM (1011). `used` may be NULL. */
int sio_ws_parser_execute(sio_ws_parser_t *p, const sio_ws_callbacks_t *cb, void *user,
                          char *data, size_t len, size_t *used);

/* Writes a frame header (2 to 14 bytes) into out and returns its length. Server frames pass
 * mask == NULL; client frames pass 4 mask bytes (the payload must then be masked with
 * sio_ws_mask()). */
size_t sio_ws_frame_header(uint8_t out[14], int opcode, int fin, uint64_t payload_len,
                           const uint8_t *mask);
/* XORs data with the 4-byte mask, starting at mask position `offset`. */
void sio_ws_mask(uint8_t *data, size_t len, const uint8_t mask[4], size_t offset);
/* Sec-WebSocket-Accept for a Sec-WebSocket-Key: 28 base64 characters and a NUL in out.
 * 0, or SIO_EINVAL when the key is not 24 base64 characters decoding to 16 bytes. */
int sio_ws_accept_key(const char *key, size_t key_len, char out[29]);
/* Validates a CLOSE payload: empty (*code = 1005), or a 2-byte code allowed on the wire and a
 * UTF-8 reason. 0 or SIO_EPROTO / SIO_EUTF8. */
int sio_ws_parse_close(const char *data, size_t len, int *code, const char **reason,
                       size_t *reason_len);
/* Builds a whole CLOSE frame (server role, unmasked) with `code` (0: no code) into out; returns
 * its length (<= 127 bytes: reason truncated to fit). */
size_t sio_ws_close_frame(uint8_t out[127], int code, const char *reason);

#endif
