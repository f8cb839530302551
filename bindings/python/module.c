/* sio._core: the module and its state (heap types, exception classes, the logger, NOACK), as
 * CPython's Modules/_sqlite/module.c. Multi-phase initialisation with m_size > 0: each module
 * object (a subinterpreter, a reload) has a state of its own and no process globals. */
#include "module.h"

#include "util.h"

/* The exception classes: (name, the builtin Python code caught before, doc). Their codes are in
 * util.c (error_class); their base sio.Error carries .code (the negative code) and .name. */
/* PyModule_AddObjectRef() of Python 3.10: adds a new reference to obj as m.name. */
static int add_ref(PyObject *m, const char *name, PyObject *obj) {
  Py_INCREF(obj);
  if (PyModule_AddObject(m, name, obj) == 0) return 0;
  Py_DECREF(obj);
  return -1;
}

static int add_errors(PyObject *m, pysio_state *st) {
  struct {
    const char *name;
    PyObject *builtin;
    const char *doc;
  } classes[PYSIO_ERR_COUNT] = {
      [PYSIO_ERR_INVALID] = {"sio.InvalidArgumentError", PyExc_ValueError,
                             "The core refused an argument (EINVAL, ETOOBIG, EPARSE, EUTF8, EPROTO)."},
      [PYSIO_ERR_RESERVED] = {"sio.ReservedEventError", PyExc_ValueError,
                              "A reserved event name (ERESERVED): sio.api.sio_event_reserved() says which."},
      [PYSIO_ERR_CLOSED] = {"sio.ClosedError", PyExc_ConnectionError,
                            "The server or the socket is closed or closing (ECLOSED)."},
      [PYSIO_ERR_UNAVAILABLE] = {"sio.UnavailableError", PyExc_ConnectionError,
                                 "The cluster is unavailable: Redis is not connected (EUNAVAIL)."},
      [PYSIO_ERR_ALREADY] = {"sio.AlreadyAnsweredError", PyExc_RuntimeError,
                             "The acknowledgement was answered before (EALREADY)."},
      [PYSIO_ERR_EXISTS] = {"sio.ExistsError", PyExc_RuntimeError,
                            "Already exists (EEXIST): a path or a static mount taken, a second cluster."},
      [PYSIO_ERR_NOTFOUND] = {"sio.NotFoundError", PyExc_FileNotFoundError,
                              "Not found (ENOTFOUND): a directory to serve that does not exist."},
      [PYSIO_ERR_UNSUPPORTED] = {"sio.UnsupportedError", PyExc_RuntimeError,
                                 "Not available here (ENOSYS): no cluster, or sio built without Redis "
                                 "(or without msgpack-c, for parser=\"msgpack\")."},
  };
  st->error = PyErr_NewExceptionWithDoc(
      "sio.Error",
      "An error the C core reported: .code is its (negative) code, .name its name (\"EINVAL\"), the "
      "message ends with the core's detail (sio_last_error()) when it gave one.",
      NULL, NULL);
  if (!st->error || add_ref(m, "Error", st->error) < 0) return -1;
  for (int i = 0; i < PYSIO_ERR_COUNT; i++) {
    PyObject *bases = PyTuple_Pack(2, st->error, classes[i].builtin);
    if (!bases) return -1;
    st->errors[i] = PyErr_NewExceptionWithDoc(classes[i].name, classes[i].doc, bases, NULL);
    Py_DECREF(bases);
    if (!st->errors[i] || add_ref(m, classes[i].name + 4, st->errors[i]) < 0) return -1;
  }
  return 0;
}

const char *const pysio_names[PYSIO_NAME_COUNT] = {
    [PYSIO_NAME_ELSEWHERE] = "_elsewhere", [PYSIO_NAME_AIO] = "_aio", [PYSIO_NAME_KICK] = "_kick"};

static int add_type(PyObject *m, PyType_Spec *spec, PyTypeObject **out) {
  *out = (PyTypeObject *)PyType_FromModuleAndSpec(m, spec, NULL);
  if (!*out) return -1;
  return PyModule_AddType(m, *out);
}

static int module_exec(PyObject *m) {
  pysio_state *st = PyModule_GetState(m);
  if (add_type(m, &pysio_core_spec, &st->core_type) < 0 || add_type(m, &pysio_timer_spec, &st->timer_type) < 0 ||
      add_type(m, &pysio_ack_spec, &st->ack_type) < 0 ||
      add_type(m, &pysio_server_ack_spec, &st->server_ack_type) < 0 ||
      add_type(m, &pysio_http_request_spec, &st->http_request_type) < 0 ||
      add_type(m, &pysio_handshake_spec, &st->handshake_type) < 0 ||
      add_type(m, &pysio_client_spec, &st->client_type) < 0 ||
      add_type(m, &pysio_client_loop_spec, &st->client_loop_type) < 0 || add_errors(m, st) < 0)
    return -1;
  PyObject *logging = PyImport_ImportModule("logging");
  if (!logging) return -1;
  st->logger = PyObject_CallMethod(logging, "getLogger", "s", "sio");
  Py_DECREF(logging);
  if (!st->logger) return -1;
  st->noack = PyObject_CallNoArgs((PyObject *)&PyBaseObject_Type);
  if (!st->noack || add_ref(m, "NOACK", st->noack) < 0) return -1;
  for (int i = 0; i < PYSIO_NAME_COUNT; i++)
    if (!(st->names[i] = PyUnicode_InternFromString(pysio_names[i]))) return -1;
  if (!(st->kw_ack = Py_BuildValue("(s)", "ack"))) return -1;
  return 0;
}

static int module_traverse(PyObject *m, visitproc visit, void *arg) {
  pysio_state *st = PyModule_GetState(m);
  Py_VISIT(st->core_type);
  Py_VISIT(st->timer_type);
  Py_VISIT(st->ack_type);
  Py_VISIT(st->server_ack_type);
  Py_VISIT(st->http_request_type);
  Py_VISIT(st->handshake_type);
  Py_VISIT(st->client_type);
  Py_VISIT(st->client_loop_type);
  Py_VISIT(st->error);
  for (int i = 0; i < PYSIO_ERR_COUNT; i++) Py_VISIT(st->errors[i]);
  Py_VISIT(st->noack);
  Py_VISIT(st->logger);
  return 0;
}

static int module_clear(PyObject *m) {
  pysio_state *st = PyModule_GetState(m);
  Py_CLEAR(st->core_type);
  Py_CLEAR(st->timer_type);
  Py_CLEAR(st->ack_type);
  Py_CLEAR(st->server_ack_type);
  for (int i = 0; i < PYSIO_NAME_COUNT; i++) Py_CLEAR(st->names[i]);
  Py_CLEAR(st->kw_ack);
  Py_CLEAR(st->http_request_type);
  Py_CLEAR(st->handshake_type);
  Py_CLEAR(st->client_type);
  Py_CLEAR(st->client_loop_type);
  Py_CLEAR(st->error);
  for (int i = 0; i < PYSIO_ERR_COUNT; i++) Py_CLEAR(st->errors[i]);
  Py_CLEAR(st->noack);
  Py_CLEAR(st->logger);
  return 0;
}

static void module_free(void *m) { module_clear(m); }

/* roundtrip(values): values -> the core's cJSON + attachments -> values (for tests). */
static PyObject *roundtrip(PyObject *m, PyObject *values) {
  (void)m;
  if (!PyTuple_Check(values)) {
    PyErr_SetString(PyExc_TypeError, "roundtrip takes a tuple");
    return NULL;
  }
  cJSON *json;
  pysio_bufs_t b;
  if (pysio_args_from_py(values, &json, &b) < 0) return NULL;
  sio_args_t a = {json, b.bufs, b.n};
  PyObject *r = pysio_args_to_py(&a);
  cJSON_Delete(json);
  pysio_bufs_free(&b);
  return r;
}

static PyMethodDef module_methods[] = {
    {"roundtrip", roundtrip, METH_O, "roundtrip(values): converts a tuple of values to the core's form and back"},
    {NULL}};

static PyModuleDef_Slot module_slots[] = {{Py_mod_exec, module_exec}, {0, NULL}};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT,
    .m_name = "sio._core",
    .m_doc = "The C core of sio (see bindings/python/ and sio/_core.pyi).",
    .m_size = sizeof(pysio_state),
    .m_methods = module_methods,
    .m_slots = module_slots,
    .m_traverse = module_traverse,
    .m_clear = module_clear,
    .m_free = module_free,
};

PyMODINIT_FUNC PyInit__core(void) { return PyModuleDef_Init(&module_def); }
