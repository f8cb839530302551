#include "fail.h"

#include <stdarg.h>
#include <stdio.h>
#include <uv.h>

#include "sio.h"

#ifndef SIO_VERSION_STRING
#define SIO_VERSION_STRING "0.1.0"
#endif

const char *sio_version(void) { return SIO_VERSION_STRING; }

const char *sio_strerror(int err) {
  switch (err) {
#define XX(name, code, msg) \
  case SIO_##name:          \
    return msg;
    SIO_ERRNO_MAP(XX)
#undef XX
    default:
      break;
  }
  /* libuv's codes are negated errno values above -4096. */
  if (err < 0 && err > -4096) return uv_strerror(err);
  return "unknown error";
}

const char *sio_err_name(int err) {
  switch (err) {
#define XX(name, code, msg) \
  case SIO_##name:          \
    return #name;
    SIO_ERRNO_MAP(XX)
#undef XX
    default:
      break;
  }
  if (err < 0 && err > -4096) return uv_err_name(err);
  return "UNKNOWN";
}

/* One per thread: each loop runs on a thread of its own, and so do its failures. */
_Thread_local char sio__error_detail[256];

int sio__fail(int err, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(sio__error_detail, sizeof sio__error_detail, fmt, ap);
  va_end(ap);
  return err;
}

const char *sio_last_error(void) { return sio__error_detail; }
