#include "base64.h"

#include <stdint.h>

static const char enc_table[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

size_t sio_base64_encoded_len(size_t len) { return (len + 2) / 3 * 4; }

int sio_base64_encode(sio_sbuf_t *out, const void *src, size_t len) {
  int r = sio_sbuf_reserve(out, sio_base64_encoded_len(len));
  if (r) return r;
  const unsigned char *s = src;
  char *o = out->data + out->len;
  size_t i = 0;
  for (; i + 3 <= len; i += 3) {
    uint32_t v = (uint32_t)s[i] << 16 | (uint32_t)s[i + 1] << 8 | s[i + 2];
    *o++ = enc_table[v >> 18];
    *o++ = enc_table[(v >> 12) & 63];
    *o++ = enc_table[(v >> 6) & 63];
    *o++ = enc_table[v & 63];
  }
  if (len - i == 1) {
    uint32_t v = (uint32_t)s[i] << 16;
    *o++ = enc_table[v >> 18];
    *o++ = enc_table[(v >> 12) & 63];
    *o++ = '=';
    *o++ = '=';
  } else if (len - i == 2) {
    uint32_t v = (uint32_t)s[i] << 16 | (uint32_t)s[i + 1] << 8;
    *o++ = enc_table[v >> 18];
    *o++ = enc_table[(v >> 12) & 63];
    *o++ = enc_table[(v >> 6) & 63];
    *o++ = '=';
  }
  out->len = (size_t)(o - out->data);
  return 0;
}

static int dec(unsigned char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}

long sio_base64_decode_inplace(char *buf, size_t len) {
  while (len > 0 && buf[len - 1] == '=') len--;
  if (len % 4 == 1) return -1;
  size_t o = 0;
  uint32_t acc = 0;
  int bits = 0;
  for (size_t i = 0; i < len; i++) {
    int v = dec((unsigned char)buf[i]);
    if (v < 0) return -1;
    acc = (acc << 6) | (uint32_t)v;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      buf[o++] = (char)((acc >> bits) & 0xff);
    }
  }
  return (long)o;
}
