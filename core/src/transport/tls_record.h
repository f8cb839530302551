/* The TLS 1.3 record layer of an established connection, without OpenSSL's SSL object.
 *
 * Why: OpenSSL 3.0's SSL object costs about 14 KiB per connection even idle (7.6 KiB for the
 * struct alone), over the 8 KiB an idle TLS connection may cost here. Once a TLS 1.3 handshake is
 * over, a connection needs only its two traffic secrets, keys, IVs and sequence numbers (RFC 8446
 * section 5 and 7): OpenSSL does the handshake, hands the secrets over (its keylog callback), and is
 * freed. What follows is AEAD over records with libcrypto: application data, close_notify and
 * KeyUpdate. Pure: bytes in, bytes out. */
#ifndef SIO_TLS_RECORD_H
#define SIO_TLS_RECORD_H

#include <stddef.h>
#include <stdint.h>

#include "sbuf.h"

#define SIO_TLS13_MAX_SECRET 48

typedef struct sio_tls13 {
  uint8_t suite;   /* SIO_TLS13_AES128, ... */
  uint8_t close_sent;
  uint8_t rsecret[SIO_TLS13_MAX_SECRET], wsecret[SIO_TLS13_MAX_SECRET];
  uint8_t rkey[32], riv[12], wkey[32], wiv[12];
  uint64_t rseq, wseq;
  uint8_t *part; /* an incomplete record from an earlier read (malloc'd only while there is one) */
  uint32_t part_len;
} sio_tls13_t;

enum { SIO_TLS13_AES128 = 1, SIO_TLS13_AES256 = 2, SIO_TLS13_CHACHA = 3 };

/* The suite for an IANA cipher suite id (0x1301 to 0x1303), 0 for others. */
int sio__tls13_suite(uint16_t iana_id);
/* Sets up from the client's and the server's application traffic secrets (each of the suite's hash
 * length: 32, or 48 for AES-256). 0, or SIO_ETLS. */
int sio__tls13_init(sio_tls13_t *r, int suite, const uint8_t *client_secret, const uint8_t *server_secret,
                    size_t secret_len);
void sio__tls13_free(sio_tls13_t *r);
/* Takes ciphertext from *in and *in_len (advanced past what was used) and decrypts at most one record
 * into buf (cap at least 16 KiB + 256): 0 with *got bytes (0 and *in_len 0: needs more input), 1 for
 * close_notify, SIO_ETLS for anything else wrong. Answers (KeyUpdate) are appended to out. */
int sio__tls13_read(sio_tls13_t *r, const char **in, size_t *in_len, char *buf, size_t cap, size_t *got,
                    sio_sbuf_t *out);
/* Encrypts p into records appended to out. 0, SIO_ETLS or SIO_ENOMEM. */
int sio__tls13_write(sio_tls13_t *r, const void *p, size_t len, sio_sbuf_t *out);
/* Appends close_notify (once). */
int sio__tls13_close_notify(sio_tls13_t *r, sio_sbuf_t *out);

#endif
