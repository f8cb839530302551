/* What every file of sio._core shares (util.c): strings and values between Python objects and the
 * core's form (sio.h, "values, for bindings"), errors, logging. */
#ifndef SIO_PY_UTIL_H
#define SIO_PY_UTIL_H

#include "module.h"

/* ---- strings ---- */

/* A str in the core's string form (sio_str_to_core: NUL as C0 80; a lone surrogate, which a str
 * can hold, as its three bytes, Python's "surrogatepass"). Borrowed from the str's cached UTF-8
 * when that is already the core form, else from a new bytes object in *holder (the caller
 * releases it). NULL with an exception set on error. */
const char *pysio_core_str(PyObject *o, PyObject **holder);

/* A core string (NUL-terminated, in the core's form) as a str; "" for NULL. */
PyObject *pysio_str_from_core(const char *s);

/* Bytes of text (UTF-8, lone surrogates as three bytes) as a str: what the wire validated decodes
 * with "surrogatepass"; anything else becomes U+FFFD rather than an error. */
PyObject *pysio_decode_text(const char *s, Py_ssize_t len);

/* A str argument in the core's form, for PyArg's "O&" (pysio_text_arg, &t with t zeroed):
 * release with pysio_text_release() once the call is done. */
typedef struct {
  const char *s;
  PyObject *holder;
} pysio_text_t;

int pysio_text_arg(PyObject *o, void *p);
void pysio_text_release(pysio_text_t *t);

/* ---- values ---- */

/* The binary attachments of values on their way to the core: the buffers of bytes-like objects,
 * held (PyBuffer) until pysio_bufs_free(). */
typedef struct {
  sio_buf_t *bufs;
  Py_buffer *views;
  size_t n, cap;
} pysio_bufs_t;

void pysio_bufs_free(pysio_bufs_t *b);

/* A Python value as a cJSON tree (the caller deletes it), bytes-likes as placeholders for b's
 * buffers. `depth` is the value's nesting so far (1 for an argument). NULL with an exception. */
cJSON *pysio_to_json(PyObject *o, pysio_bufs_t *b, int depth);

/* A cJSON value from the core as a Python object, placeholders replaced by a's attachments (a
 * may be NULL: no attachments). */
PyObject *pysio_from_json(const cJSON *j, const sio_args_t *a);
/* One of an event's args (a value of a's top-level array), as pysio_args_to_py makes it. */
PyObject *pysio_from_json_arg(const cJSON *j, const sio_args_t *a);

/* A tuple (or list) of values as the core's arguments: *json owned by the caller (cJSON_Delete),
 * b released with pysio_bufs_free (also on failure). 0, or -1 with an exception. */
int pysio_args_from_py(PyObject *seq, cJSON **json, pysio_bufs_t *b);

/* The core's arguments as a tuple (empty when none). */
PyObject *pysio_args_to_py(const sio_args_t *a);

/* A JSON array from the core (placeholders indexing a's buffers; a may be NULL) as a list; [] for
 * anything else. */
PyObject *pysio_json_list(const cJSON *j, const sio_args_t *a);

/* ---- errors and logging ---- */

/* Raises the exception for the core's error code `err`: the module's class for it (a sio.Error
 * with .code and .name), MemoryError for SIO_ENOMEM, OSError with its errno for libuv's other
 * codes. The message is "[context: ]ENAME: description[: sio_last_error()]", so call it right
 * after the failing sio_ call. `context` may be NULL. Returns NULL. */
PyObject *pysio_raise(pysio_state *st, int err, const char *context);

/* Raises sio.ClosedError for a server that is stopped. Returns NULL. */
PyObject *pysio_raise_stopped(pysio_state *st);

/* How a callback's error argument names a status: None, "timeout", "unavailable" (Redis not
 * connected or lost) or "closed" (the socket or the server went away). */
const char *pysio_status_name(int status);

/* Logs the pending exception through logging.getLogger("sio") with its traceback, then clears it.
 * Never raises. */
void pysio_log_exception(pysio_state *st, const char *what);

/* Calls cb(error, value) for a request that ended with `status`, then lets go of cb (an owned
 * reference) and value (may be NULL: the pending exception is logged instead). Under the GIL. */
void pysio_deliver(pysio_state *st, PyObject *cb, int status, PyObject *value, const char *what);

/* Option converters for PyArg's "O&" (None: the field keeps its default): a uint32_t, a size_t,
 * and a parser name ("default"/"json" or "msgpack") into an int. */
int pysio_opt_u32(PyObject *o, void *p);
int pysio_opt_size(PyObject *o, void *p);
int pysio_opt_parser(PyObject *o, void *p);

#endif
