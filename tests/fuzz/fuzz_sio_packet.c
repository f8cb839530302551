/* libFuzzer harness for the Socket.IO packet codec.
 *
 * The input is split at 0xFF bytes into Engine.IO messages; the first byte of each piece says its
 * kind (odd: binary, even: text) and the rest is the message, copied into an exact-size buffer so
 * any over-read is caught. Every message goes through the stateful decoder; every complete packet
 * is re-encoded, decoded again (which must succeed with the same type, nsp, id and attachment
 * count) and encoded once more (which must give the same bytes). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sio.h"
#include "socketio/packet.h"

#define SEP 0xFF

static void round_trip(const sio_packet_t *p) {
  if (p->type < SIO_PACKET_CONNECT || p->type > SIO_PACKET_BINARY_ACK || !p->nsp ||
      p->nsp[0] != '/')
    __builtin_trap();
  for (size_t i = 0; i < p->attachment_count; i++)
    if (!p->attachments || !p->attachments[i].data) __builtin_trap();
  (void)sio_packet_count_placeholders(p->data);

  sio_sbuf_t a = SIO_SBUF_INIT, b = SIO_SBUF_INIT;
  int r = sio_packet_encode(p, &a);
  if (r == SIO_ENOMEM) goto done;
  if (r) __builtin_trap();
  char *copy = malloc(a.len ? a.len : 1);
  if (!copy) goto done;
  memcpy(copy, a.data, a.len);
  sio_packet_t q;
  r = sio_packet_decode(copy, a.len, &q);
  free(copy);
  if (r == SIO_ENOMEM) goto done;
  if (r) __builtin_trap();
  if (q.type != p->type || strcmp(q.nsp, p->nsp) != 0 || q.id != p->id ||
      q.attachment_count != p->attachment_count || (q.data == NULL) != (p->data == NULL))
    __builtin_trap();
  r = sio_packet_encode(&q, &b);
  if (r == 0 && (a.len != b.len || memcmp(a.data, b.data, a.len) != 0)) __builtin_trap();
  if (r && r != SIO_ENOMEM) __builtin_trap();
  sio_packet_clear(&q);
done:
  sio_sbuf_free(&a);
  sio_sbuf_free(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  sio_packet_decoder_t d;
  sio_packet_decoder_init(&d);
  size_t pos = 0;
  while (pos < size) {
    const uint8_t *sep = memchr(data + pos, SEP, size - pos);
    size_t end = sep ? (size_t)(sep - data) : size;
    if (end > pos) {
      int binary = data[pos] & 1;
      size_t len = end - pos - 1;
      char *msg = malloc(len ? len : 1);
      if (!msg) break;
      memcpy(msg, data + pos + 1, len);
      sio_packet_t out;
      int r = sio_packet_decoder_feed(&d, msg, len, binary, &out);
      if (r == 1) {
        round_trip(&out); /* before msg goes: the last attachment may point into it */
        sio_packet_clear(&out);
      } else if (r != 0 && r != SIO_EPARSE && r != SIO_ENOMEM) {
        __builtin_trap();
      } else if (r != 1 && (out.nsp || out.data || out.attachments)) {
        __builtin_trap();
      }
      free(msg);
    }
    pos = end + 1;
  }
  sio_packet_decoder_free(&d);
  return 0;
}
