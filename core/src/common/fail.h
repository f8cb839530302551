/* The detail behind an error code (sio_last_error() in sio.h): set where a function knows more
 * than its code says, so that no binding has to guess what a bare SIO_EINVAL meant. */
#ifndef SIO_FAIL_H
#define SIO_FAIL_H

/* Sets this thread's detail (printf-style, cut to 255 bytes) and returns `err`, so that a failure
 * reads `return sio__fail(SIO_EINVAL, "cookie name \"%s\" is not an HTTP token", name);`. */
int sio__fail(int err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* This thread's detail (sio_last_error()). */
extern _Thread_local char sio__error_detail[256];
/* Called first by each function that can give a detail, so that "" means its error has none. */
static inline void sio__error_clear(void) { sio__error_detail[0] = '\0'; }

#endif
