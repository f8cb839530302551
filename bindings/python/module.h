/* sio._core: the CPython extension over core/include/sio.h, in the layout of CPython's
 * Modules/_sqlite/: module.c holds the module state (heap types, exception classes, the logger,
 * NOACK), one file per Python type (core.c with events.c and emit.c for the Core, timer.c, ack.c),
 * util.c the conversions every file shares. No process globals: what a file needs comes from the
 * state of the module its object's type belongs to (pysio_state_of). */
#ifndef SIO_PY_MODULE_H
#define SIO_PY_MODULE_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "sio.h"

/* The exception classes of the module state, each a subclass of sio.Error and of the builtin
 * exception Python code expected before (see module.c for which codes raise which). */
enum {
  PYSIO_ERR_INVALID,     /* InvalidArgumentError (ValueError): EINVAL, ETOOBIG, EPARSE, EUTF8, EPROTO */
  PYSIO_ERR_RESERVED,    /* ReservedEventError (ValueError): ERESERVED */
  PYSIO_ERR_CLOSED,      /* ClosedError (ConnectionError): ECLOSED */
  PYSIO_ERR_UNAVAILABLE, /* UnavailableError (ConnectionError): EUNAVAIL */
  PYSIO_ERR_ALREADY,     /* AlreadyAnsweredError (RuntimeError): EALREADY */
  PYSIO_ERR_EXISTS,      /* ExistsError (RuntimeError): EEXIST */
  PYSIO_ERR_NOTFOUND,    /* NotFoundError (FileNotFoundError): ENOTFOUND */
  PYSIO_ERR_UNSUPPORTED, /* UnsupportedError (RuntimeError): UV_ENOSYS */
  PYSIO_ERR_COUNT
};

/* Attribute names the hot paths look up, interned once (module.c: pysio_names). */
enum { PYSIO_NAME_ELSEWHERE, PYSIO_NAME_AIO, PYSIO_NAME_KICK, PYSIO_NAME_COUNT };
extern const char *const pysio_names[PYSIO_NAME_COUNT];

typedef struct {
  PyTypeObject *core_type;
  PyTypeObject *timer_type;
  PyTypeObject *ack_type;
  PyTypeObject *server_ack_type;  /* ServerAck (ack.c): sio.Ack's base */
  PyTypeObject *http_request_type;
  PyTypeObject *handshake_type;
  PyTypeObject *client_type;      /* ClientCore (client.c): a sio_manager_t on a ClientLoop */
  PyTypeObject *client_loop_type; /* ClientLoop (client.c): a uv loop ClientCores share */
  PyObject *error;                   /* sio.Error: every error the core reports */
  PyObject *errors[PYSIO_ERR_COUNT]; /* its subclasses, by the enum above */
  PyObject *noack;                   /* NOACK: a dispatcher returning it sends no ack */
  PyObject *logger;                  /* logging.getLogger("sio") */
  PyObject *names[PYSIO_NAME_COUNT]; /* interned pysio_names */
  PyObject *kw_ack;                  /* ("ack",): the kwnames of a handler's ack=... (events.c) */
} pysio_state;

/* The state of the module that `type` (one of its heap types) belongs to. */
static inline pysio_state *pysio_state_of(PyTypeObject *type) {
  return (pysio_state *)PyType_GetModuleState(type);
}

/* The type specs, one per file. */
extern PyType_Spec pysio_core_spec;
extern PyType_Spec pysio_timer_spec;
extern PyType_Spec pysio_ack_spec;
extern PyType_Spec pysio_server_ack_spec;
extern PyType_Spec pysio_http_request_spec;
extern PyType_Spec pysio_handshake_spec;
extern PyType_Spec pysio_client_spec;
extern PyType_Spec pysio_client_loop_spec;

#endif
