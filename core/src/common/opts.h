/* Options structs across versions (sio.h, "Options"): each starts with its size, which its _init
 * function sets. */
#ifndef SIO_OPTS_H
#define SIO_OPTS_H

#include <stddef.h>
#include <string.h>

#include "fail.h"
#include "sio.h"

/* Copies the caller's options `src` over `dst`, which holds the defaults and is `dst_size` bytes:
 * as many bytes as the caller's struct has (an older caller's is shorter; what it lacks keeps its
 * default). `min_size` is the size of the struct's first version. 0, or SIO_EINVAL for a size this
 * library cannot read (0: the struct was never initialised). */
static inline int sio__take_options(void *dst, size_t dst_size, const void *src, size_t min_size,
                                    const char *what) {
  size_t n;
  memcpy(&n, src, sizeof n);
  if (n < min_size || n > dst_size)
    return sio__fail(SIO_EINVAL, "%s: size %zu is not one this library knows (start from %s_init())",
                     what, n, what);
  memcpy(dst, src, n);
  memcpy(dst, &dst_size, sizeof dst_size);
  return 0;
}

#define SIO_TAKE_OPTIONS(dst, src, what) sio__take_options(dst, sizeof *(dst), src, sizeof *(dst), what)

#endif
