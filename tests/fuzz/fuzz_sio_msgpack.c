/* libFuzzer harness for the msgpack parser's packet decoder (sio_packet_decode_msgpack): any bytes
 * a client may send as one binary message. The input is copied into an exact-size buffer so that
 * any over-read is caught. A packet that decodes is encoded again (sio_packet_encode_msgpack) and
 * must decode to the same tree, namespace, id and binary bytes: the writer and the reader agree.
 * Seeds (tests/fuzz/seeds/fuzz_sio_msgpack): packets as socket.io-client 4.8 with
 * socket.io-msgpack-parser writes them (notepack 2: undefined, Date and ArrayBuffer as ext). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sbuf.h"
#include "socketio/packet.h"

#ifdef SIO_HAVE_MSGPACK

/* Same values, numbers by value (-0 goes out as 0, as notepack writes it; NaN is NaN). */
static int same_tree(const cJSON *a, const cJSON *b) {
  if (!a || !b) return a == b;
  if ((a->type & 0xff) != (b->type & 0xff)) return 0;
  if (cJSON_IsNumber(a))
    return a->valuedouble == b->valuedouble || (a->valuedouble != a->valuedouble &&
                                                b->valuedouble != b->valuedouble);
  if (cJSON_IsString(a)) return strcmp(a->valuestring, b->valuestring) == 0;
  if (cJSON_IsArray(a) || cJSON_IsObject(a)) {
    const cJSON *x = a->child, *y = b->child;
    for (; x && y; x = x->next, y = y->next) {
      if (cJSON_IsObject(a) && strcmp(x->string, y->string) != 0) return 0;
      if (!same_tree(x, y)) return 0;
    }
    return !x && !y;
  }
  return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *msg = malloc(size ? size : 1);
  if (!msg) return 0;
  memcpy(msg, data, size);
  sio_packet_t p;
  if (sio_packet_decode_msgpack(msg, size, &p) == 0) {
    sio_sbuf_t out = SIO_SBUF_INIT;
    int r = sio_packet_encode_msgpack(&p, (const sio_buf_t *)p.attachments, &out);
    /* Decoded values nest within the encoder's limit, so only memory may fail it. */
    if (r && r != SIO_ENOMEM) abort();
    if (!r) {
      sio_packet_t q;
      if (sio_packet_decode_msgpack(out.data, out.len, &q) != 0) abort();
      if (q.type != p.type || q.id != p.id || strcmp(q.nsp, p.nsp) != 0 ||
          q.attachment_count != p.attachment_count || !same_tree(p.data, q.data))
        abort();
      for (size_t i = 0; i < p.attachment_count; i++)
        if (q.attachments[i].len != p.attachments[i].len ||
            (p.attachments[i].len &&
             memcmp(q.attachments[i].data, p.attachments[i].data, p.attachments[i].len) != 0))
          abort();
      sio_packet_clear(&q);
    }
    sio_sbuf_free(&out);
    sio_packet_clear(&p);
  }
  free(msg);
  return 0;
}

#else /* built without msgpack-c: no msgpack parser to feed */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  (void)data, (void)size;
  return 0;
}

#endif
