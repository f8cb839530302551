/* httpCompression: gzip or deflate bodies per the request's Accept-Encoding (Node's engine.io
 * compresses polling responses so). The negotiation is pure; the compressor keeps one zlib stream,
 * reset between bodies, for everything its owner (an engine) compresses. */
#ifndef SIO_HTTP_COMPRESS_H
#define SIO_HTTP_COMPRESS_H

#include <stddef.h>

#include "rbuf.h"

enum { SIO_HTTP_ENC_NONE = 0, SIO_HTTP_ENC_GZIP = 1, SIO_HTTP_ENC_DEFLATE = 2 };

/* The encoding to answer an Accept-Encoding value v[0..n) with, as Node's `accepts` (negotiator)
 * picks between gzip and deflate: by q-value (q=0 refuses; "*" stands for both, a named coding
 * overriding it), then the order in the header, then gzip. SIO_HTTP_ENC_NONE when neither. */
int sio_http_accept_encoding(const char *v, size_t n);
/* "gzip" or "deflate". */
const char *sio_http_encoding_name(int enc);

typedef struct sio_http_compressor sio_http_compressor_t;

/* A compressor (zlib's deflate state: about 256 KiB, taken on the first body). NULL: ENOMEM. */
sio_http_compressor_t *sio_http_compressor_new(void);
void sio_http_compressor_free(sio_http_compressor_t *c);
/* p[0..n) compressed whole as a gzip (RFC 1952) or zlib (RFC 1950: HTTP's "deflate") stream, in a
 * new buffer of the compressed size with one reference. NULL when it cannot be (no memory, a body
 * past 1 GiB): the caller sends the body as it is. */
sio_rbuf_t *sio_http_compress(sio_http_compressor_t *c, int enc, const char *p, size_t n);

#endif
