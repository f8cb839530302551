/* libFuzzer harness for permessage-deflate negotiation (Sec-WebSocket-Extensions offers): never a
 * crash or a read past the value, an accepted offer always within what the server can honour,
 * and an answer that fits its buffer. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "websocket/ws.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *v = malloc(size ? size : 1);
  if (size) memcpy(v, data, size);
  sio_ws_pmd_t pmd = {0, 0, 0};
  int r = sio_ws_pmd_negotiate(v, size, &pmd);
  free(v);
  if (r != 0 && r != 1) abort();
  if (r == 1) {
    if (!pmd.on || pmd.server_bits < 9 || pmd.server_bits > 15) abort();
    if (pmd.client_bits && (pmd.client_bits < 8 || pmd.client_bits > 15)) abort();
    char out[160];
    size_t n = sio_ws_pmd_response(&pmd, out);
    if (n != strlen(out) || n >= sizeof out) abort();
  }
  return 0;
}
