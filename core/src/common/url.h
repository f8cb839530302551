/* Percent-decoding of query strings, as Node's querystring.unescape does it: pure.
 *
 * "%XX" (two hex digits, either case) is the byte XX, '+' a space, and anything else stands for
 * itself, a '%' not followed by two hex digits included. Where the result is text (Engine.IO's
 * query, a v2 client's namespace query, the handshake query handed to applications), it must be
 * valid UTF-8 without a NUL: compared as a C string, "transport=polling%00" would otherwise pass
 * for "polling". */
#ifndef SIO_URL_H
#define SIO_URL_H

#include <stddef.h>

/* The byte at s[*i] of s[0..n), decoded, with *i advanced past it (1 or 3 bytes). *i < n. */
int sio_url_next(const char *s, size_t n, size_t *i);
/* Decodes s[0..n) into out (room for n bytes, not NUL-terminated); returns the decoded length. */
size_t sio_url_decode(const char *s, size_t n, char *out);
/* 1 when s[0..n) decodes to text: valid UTF-8 without a NUL byte. */
int sio_url_is_text(const char *s, size_t n);
/* 1 when every name and value of the query string q[0..n) ("a=1&b=%C3%A9") decodes to text. */
int sio_url_query_is_text(const char *q, size_t n);

#endif
