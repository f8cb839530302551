#ifndef SIO_BASE64_H
#define SIO_BASE64_H

#include <stddef.h>

#include "sbuf.h"

/* Appends the standard (padded) base64 of src to out. 0 or SIO_ENOMEM. */
int sio_base64_encode(sio_sbuf_t *out, const void *src, size_t len);
/* Length of the base64 text for len bytes. */
size_t sio_base64_encoded_len(size_t len);
/* Decodes standard base64 (padding optional) in place: the bytes land at the start of `buf`.
 * Returns the decoded length, or -1 when the text is not base64. */
long sio_base64_decode_inplace(char *buf, size_t len);

#endif
