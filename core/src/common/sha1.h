/* SHA-1 (FIPS 180-4), for the WebSocket handshake's Sec-WebSocket-Accept only (RFC 6455 4.2.2):
 * a checksum there, not a security function. It is here rather than OpenSSL's SHA1() because the
 * first call of that one initialises libcrypto's provider machinery, about 2.5 MB of RSS (code
 * paged in and heap) that a server without TLS would otherwise carry for a 60-byte hash. */
#ifndef SIO_SHA1_H
#define SIO_SHA1_H

#include <stddef.h>
#include <stdint.h>

/* The 20-byte digest of data[0..len) into out. */
void sio_sha1(const void *data, size_t len, uint8_t out[20]);

#endif
