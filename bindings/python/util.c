/* Conversions every file of sio._core shares: strings and values between Python objects and the
 * core's cJSON trees + binary attachments, following sio.h's "values, for bindings" (the rules are
 * the core's: this file only calls them), errors and logging. */
#include "util.h"

#include <string.h>

/* ---------------------------------------------------------------------------------------------- */
/* Strings                                                                                         */

const char *pysio_core_str(PyObject *o, PyObject **holder) {
  *holder = NULL;
  Py_ssize_t len;
  PyObject *wtf8 = NULL;
  const char *s = PyUnicode_AsUTF8AndSize(o, &len);
  if (!s) {
    /* Only a surrogate makes strict UTF-8 fail: "surrogatepass" writes it as three bytes. */
    if (!PyErr_ExceptionMatches(PyExc_UnicodeEncodeError)) return NULL;
    PyErr_Clear();
    if (!(wtf8 = PyUnicode_AsEncodedString(o, "utf-8", "surrogatepass"))) return NULL;
    s = PyBytes_AS_STRING(wtf8);
    len = PyBytes_GET_SIZE(wtf8);
  }
  size_t n = sio_str_core_len(s, (size_t)len);
  if (n == (size_t)len) {
    *holder = wtf8;
    return s;
  }
  PyObject *held = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)n); /* n + 1 bytes, with the NUL */
  if (held) sio_str_to_core(s, (size_t)len, PyBytes_AS_STRING(held));
  Py_XDECREF(wtf8);
  *holder = held;
  return held ? PyBytes_AS_STRING(held) : NULL;
}

PyObject *pysio_decode_text(const char *s, Py_ssize_t len) {
  PyObject *r = PyUnicode_DecodeUTF8(s, len, "surrogatepass");
  if (r || !PyErr_ExceptionMatches(PyExc_UnicodeDecodeError)) return r;
  PyErr_Clear();
  return PyUnicode_DecodeUTF8(s, len, "replace");
}

PyObject *pysio_str_from_core(const char *s) {
  if (!s) return PyUnicode_FromStringAndSize("", 0);
  size_t len = strlen(s);
  /* Most strings hold no NUL (C0 80 in the core's form): decoded in place. */
  if (!memchr(s, 0xC0, len)) return pysio_decode_text(s, (Py_ssize_t)len);
  char small[256];
  char *buf = len < sizeof small ? small : PyMem_Malloc(len);
  if (!buf) return PyErr_NoMemory();
  PyObject *r = pysio_decode_text(buf, (Py_ssize_t)sio_str_from_core(s, buf));
  if (buf != small) PyMem_Free(buf);
  return r;
}

void pysio_text_release(pysio_text_t *t) {
  Py_CLEAR(t->holder);
  t->s = NULL;
}

int pysio_text_arg(PyObject *o, void *p) {
  pysio_text_t *t = p;
  if (!o) { /* PyArg cleans up after a later argument failed */
    pysio_text_release(t);
    return 1;
  }
  if (!PyUnicode_Check(o)) {
    PyErr_Format(PyExc_TypeError, "expected str, not %.200s", Py_TYPE(o)->tp_name);
    return 0;
  }
  t->s = pysio_core_str(o, &t->holder);
  return t->s ? Py_CLEANUP_SUPPORTED : 0;
}

/* ---------------------------------------------------------------------------------------------- */
/* Values                                                                                          */

void pysio_bufs_free(pysio_bufs_t *b) {
  for (size_t i = 0; i < b->n; i++) PyBuffer_Release(&b->views[i]);
  PyMem_Free(b->bufs);
  PyMem_Free(b->views);
  memset(b, 0, sizeof *b);
}

static int bufs_add(pysio_bufs_t *b, PyObject *o) {
  if (b->n == b->cap) {
    size_t cap = b->cap ? b->cap * 2 : 4;
    sio_buf_t *nb = PyMem_Realloc(b->bufs, cap * sizeof *nb);
    if (!nb) return -1;
    b->bufs = nb;
    Py_buffer *nv = PyMem_Realloc(b->views, cap * sizeof *nv);
    if (!nv) return -1;
    b->views = nv;
    b->cap = cap;
  }
  if (PyObject_GetBuffer(o, &b->views[b->n], PyBUF_CONTIG_RO) < 0) return -1;
  b->bufs[b->n].data = b->views[b->n].buf;
  b->bufs[b->n].len = (size_t)b->views[b->n].len;
  b->n++;
  return 0;
}

static cJSON *str_to_json(PyObject *o) {
  PyObject *holder;
  const char *s = pysio_core_str(o, &holder);
  if (!s) return NULL;
  cJSON *j = cJSON_CreateString(s);
  Py_XDECREF(holder);
  if (!j) PyErr_NoMemory();
  return j;
}

static cJSON *seq_to_json(PyObject *o, pysio_bufs_t *b, int depth) {
  cJSON *arr = cJSON_CreateArray();
  if (!arr) return (cJSON *)PyErr_NoMemory();
  PyObject *fast = PySequence_Fast(o, "expected a sequence");
  if (!fast) goto fail;
  Py_ssize_t n = PySequence_Fast_GET_SIZE(fast);
  PyObject **items = PySequence_Fast_ITEMS(fast);
  for (Py_ssize_t i = 0; i < n; i++) {
    cJSON *c = pysio_to_json(items[i], b, depth + 1);
    if (!c) {
      Py_DECREF(fast);
      goto fail;
    }
    cJSON_AddItemToArray(arr, c);
  }
  Py_DECREF(fast);
  return arr;
fail:
  cJSON_Delete(arr);
  return NULL;
}

static cJSON *dict_to_json(PyObject *o, pysio_bufs_t *b, int depth) {
  cJSON *j = cJSON_CreateObject();
  if (!j) return (cJSON *)PyErr_NoMemory();
  PyObject *k, *v;
  Py_ssize_t pos = 0;
  while (PyDict_Next(o, &pos, &k, &v)) {
    if (!PyUnicode_Check(k)) {
      PyErr_Format(PyExc_TypeError, "dict keys must be str, not %.200s", Py_TYPE(k)->tp_name);
      goto fail;
    }
    cJSON *key = str_to_json(k);
    if (!key) goto fail;
    cJSON *c = pysio_to_json(v, b, depth + 1);
    if (!c) {
      cJSON_Delete(key);
      goto fail;
    }
    cJSON_AddItemToObject(j, key->valuestring, c);
    cJSON_Delete(key);
  }
  return j;
fail:
  cJSON_Delete(j);
  return NULL;
}

/* A bytes-like value: the placeholder for its attachment. */
static cJSON *binary_to_json(PyObject *o, pysio_bufs_t *b) {
  size_t num = b->n;
  if (bufs_add(b, o) < 0) return NULL;
  cJSON *j = sio_args_placeholder(num);
  return j ? j : (cJSON *)PyErr_NoMemory();
}

cJSON *pysio_to_json(PyObject *o, pysio_bufs_t *b, int depth) {
  /* The core refuses deeper values too; this bound keeps the recursion below off the C stack. */
  if (depth > SIO_MAX_DEPTH) {
    PyErr_Format(PyExc_ValueError, "value nested deeper than %d levels", SIO_MAX_DEPTH);
    return NULL;
  }
  cJSON *j;
  if (o == Py_None) j = cJSON_CreateNull();
  else if (o == Py_True) j = cJSON_CreateTrue();
  else if (o == Py_False) j = cJSON_CreateFalse();
  else if (PyUnicode_Check(o)) return str_to_json(o);
  else if (PyLong_Check(o)) {
    double d = PyLong_AsDouble(o);
    if (d == -1.0 && PyErr_Occurred()) return NULL;
    j = cJSON_CreateNumber(d);
  } else if (PyFloat_Check(o)) j = cJSON_CreateNumber(PyFloat_AS_DOUBLE(o));
  else if (PyList_Check(o) || PyTuple_Check(o)) return seq_to_json(o, b, depth);
  else if (PyDict_Check(o)) return dict_to_json(o, b, depth);
  else if (PyBytes_Check(o) || PyByteArray_Check(o) || PyMemoryView_Check(o)) return binary_to_json(o, b);
  else {
    PyErr_Format(PyExc_TypeError,
                 "object of type %.200s cannot be sent over Socket.IO (use dict, list, tuple, str, "
                 "int, float, bool, None, bytes, bytearray or memoryview)",
                 Py_TYPE(o)->tp_name);
    return NULL;
  }
  if (!j) PyErr_NoMemory();
  return j;
}

static PyObject *from_json(const cJSON *j, const sio_args_t *a, int depth) {
  /* What the core hands out is bounded by its parser (SIO_MAX_DEPTH per value), inside at most a
   * few levels of its own (fetch_sockets: array, socket, handshake, then the auth value). */
  if (depth > SIO_MAX_DEPTH + 4) {
    PyErr_SetString(PyExc_ValueError, "value nested too deep");
    return NULL;
  }
  if (cJSON_IsNull(j)) Py_RETURN_NONE;
  if (cJSON_IsTrue(j)) Py_RETURN_TRUE;
  if (cJSON_IsFalse(j)) Py_RETURN_FALSE;
  if (cJSON_IsString(j)) return pysio_str_from_core(j->valuestring);
  if (cJSON_IsNumber(j)) {
    double d = j->valuedouble;
    return sio_number_is_int(d) ? PyLong_FromLongLong((long long)d) : PyFloat_FromDouble(d);
  }
  if (cJSON_IsArray(j)) {
    PyObject *l = PyList_New(cJSON_GetArraySize(j));
    if (!l) return NULL;
    Py_ssize_t i = 0;
    for (const cJSON *c = j->child; c; c = c->next, i++) {
      PyObject *v = from_json(c, a, depth + 1);
      if (!v) {
        Py_DECREF(l);
        return NULL;
      }
      PyList_SET_ITEM(l, i, v);
    }
    return l;
  }
  if (cJSON_IsObject(j)) {
    const sio_buf_t *bf = sio_args_attachment(a, j);
    if (bf) return PyBytes_FromStringAndSize(bf->data, (Py_ssize_t)bf->len);
    PyObject *d = PyDict_New();
    if (!d) return NULL;
    for (const cJSON *c = j->child; c; c = c->next) {
      PyObject *k = pysio_str_from_core(c->string);
      PyObject *v = k ? from_json(c, a, depth + 1) : NULL;
      if (!v || PyDict_SetItem(d, k, v) < 0) {
        Py_XDECREF(k);
        Py_XDECREF(v);
        Py_DECREF(d);
        return NULL;
      }
      Py_DECREF(k);
      Py_DECREF(v);
    }
    return d;
  }
  Py_RETURN_NONE;
}

PyObject *pysio_from_json(const cJSON *j, const sio_args_t *a) { return from_json(j, a, 0); }

PyObject *pysio_from_json_arg(const cJSON *j, const sio_args_t *a) { return from_json(j, a, 1); }

PyObject *pysio_args_to_py(const sio_args_t *a) {
  if (!a || !a->json) return PyTuple_New(0);
  PyObject *t = PyTuple_New(cJSON_GetArraySize(a->json));
  if (!t) return NULL;
  Py_ssize_t i = 0;
  for (const cJSON *c = a->json->child; c; c = c->next, i++) {
    PyObject *v = from_json(c, a, 1);
    if (!v) {
      Py_DECREF(t);
      return NULL;
    }
    PyTuple_SET_ITEM(t, i, v);
  }
  return t;
}

int pysio_args_from_py(PyObject *seq, cJSON **json, pysio_bufs_t *b) {
  memset(b, 0, sizeof *b);
  *json = seq_to_json(seq, b, 0);
  if (!*json) {
    pysio_bufs_free(b);
    return -1;
  }
  return 0;
}

PyObject *pysio_json_list(const cJSON *j, const sio_args_t *a) {
  PyObject *l = cJSON_IsArray(j) ? from_json(j, a, 0) : PyList_New(0);
  if (l && !PyList_Check(l)) Py_SETREF(l, PyList_New(0));
  return l;
}

/* ---------------------------------------------------------------------------------------------- */
/* Errors and logging                                                                              */

/* The module's class for a sio code, -1 for none of them. */
static int error_class(int err) {
  switch (err) {
    case SIO_EINVAL:
    case SIO_ETOOBIG:
    case SIO_EPARSE:
    case SIO_EUTF8:
    case SIO_EPROTO:
      return PYSIO_ERR_INVALID;
    case SIO_ERESERVED: return PYSIO_ERR_RESERVED;
    case SIO_ECLOSED: return PYSIO_ERR_CLOSED;
    case SIO_EUNAVAIL: return PYSIO_ERR_UNAVAILABLE;
    case SIO_EALREADY: return PYSIO_ERR_ALREADY;
    case SIO_EEXIST: return PYSIO_ERR_EXISTS;
    case SIO_ENOTFOUND: return PYSIO_ERR_NOTFOUND;
    case UV_ENOSYS: return PYSIO_ERR_UNSUPPORTED;
    default: return -1;
  }
}

/* An exception of class `cls` with message `msg`, .code and .name set. */
static void set_error(PyObject *cls, PyObject *msg, int err) {
  PyObject *exc = PyObject_CallOneArg(cls, msg);
  PyObject *code = exc ? PyLong_FromLong(err) : NULL;
  PyObject *name = code ? PyUnicode_FromString(sio_err_name(err)) : NULL;
  if (name && PyObject_SetAttrString(exc, "code", code) == 0 && PyObject_SetAttrString(exc, "name", name) == 0)
    PyErr_SetObject(cls, exc);
  Py_XDECREF(name);
  Py_XDECREF(code);
  Py_XDECREF(exc);
}

PyObject *pysio_raise(pysio_state *st, int err, const char *context) {
  const char *detail = sio_last_error(); /* the failed call's own: each call clears it first */
  if (err == SIO_ENOMEM) return PyErr_NoMemory();
  PyObject *msg = PyUnicode_FromFormat("%s%s%s: %s%s%s", context ? context : "", context ? ": " : "",
                                       sio_err_name(err), sio_strerror(err), *detail ? ": " : "", detail);
  if (!msg) return NULL;
  int k = error_class(err);
  if (k >= 0 || err <= SIO_EINVAL) {
    set_error(k >= 0 ? st->errors[k] : st->error, msg, err);
  } else { /* libuv's: an OSError Python gives its subclass by errno (FileExistsError...) */
    PyObject *exc = PyObject_CallFunction(PyExc_OSError, "iO", -err, msg);
    if (exc) {
      PyErr_SetObject((PyObject *)Py_TYPE(exc), exc);
      Py_DECREF(exc);
    }
  }
  Py_DECREF(msg);
  return NULL;
}

PyObject *pysio_raise_stopped(pysio_state *st) {
  PyObject *msg = PyUnicode_FromString("the server is stopped");
  if (msg) set_error(st->errors[PYSIO_ERR_CLOSED], msg, SIO_ECLOSED);
  Py_XDECREF(msg);
  return NULL;
}

const char *pysio_status_name(int status) {
  return status == 0 ? NULL : status == SIO_ETIMEDOUT ? "timeout" : status == SIO_EUNAVAIL ? "unavailable" : "closed";
}

void pysio_log_exception(pysio_state *st, const char *what) {
  PyObject *type, *value, *tb;
  PyErr_Fetch(&type, &value, &tb);
  if (!type) return;
  PyErr_NormalizeException(&type, &value, &tb);
  if (tb && value) PyException_SetTraceback(value, tb);
  PyObject *r = NULL;
  if (st->logger && value) {
    PyObject *kw = Py_BuildValue("{s:O}", "exc_info", value);
    PyObject *args = Py_BuildValue("(ss)", "%s", what);
    PyObject *meth = PyObject_GetAttrString(st->logger, "error");
    if (kw && args && meth) r = PyObject_Call(meth, args, kw);
    Py_XDECREF(kw);
    Py_XDECREF(args);
    Py_XDECREF(meth);
  }
  if (!r) {
    PyErr_Clear();
    PyErr_Restore(type, value, tb);
    PyErr_Print();
  } else {
    Py_DECREF(r);
    Py_XDECREF(type);
    Py_XDECREF(value);
    Py_XDECREF(tb);
  }
}

void pysio_deliver(pysio_state *st, PyObject *cb, int status, PyObject *value, const char *what) {
  PyObject *r = value ? PyObject_CallFunction(cb, "zO", pysio_status_name(status), value) : NULL;
  if (!r) pysio_log_exception(st, what);
  Py_XDECREF(r);
  Py_XDECREF(value);
  Py_DECREF(cb);
}

/* ---- option converters for PyArg's "O&", shared by the server's and the client's options:
 * None leaves the field as it is (the core's default). ---- */

int pysio_opt_u32(PyObject *o, void *p) {
  if (o == Py_None) return 1;
  unsigned long long v = PyLong_AsUnsignedLongLong(o);
  if (PyErr_Occurred() || v > UINT32_MAX) {
    PyErr_Clear();
    PyErr_Format(PyExc_ValueError, "%R: expected an integer in [0, 2**32)", o);
    return 0;
  }
  *(uint32_t *)p = (uint32_t)v;
  return 1;
}

int pysio_opt_size(PyObject *o, void *p) {
  if (o == Py_None) return 1;
  size_t v = PyLong_AsSize_t(o);
  if (PyErr_Occurred()) {
    PyErr_Clear();
    PyErr_Format(PyExc_ValueError, "%R: expected a size (an integer >= 0)", o);
    return 0;
  }
  *(size_t *)p = v;
  return 1;
}

/* parser: "default" or "json" (SIO_PARSER_JSON), or "msgpack" (SIO_PARSER_MSGPACK). */
int pysio_opt_parser(PyObject *o, void *p) {
  if (o == Py_None) return 1;
  const char *s = PyUnicode_Check(o) ? PyUnicode_AsUTF8(o) : NULL;
  if (s && strcmp(s, "default") == 0) *(int *)p = SIO_PARSER_JSON;
  else if (s && strcmp(s, "msgpack") == 0) *(int *)p = SIO_PARSER_MSGPACK;
  else {
    PyErr_Clear();
    PyErr_Format(PyExc_ValueError, "parser=%R: \"default\" (JSON) or \"msgpack\"", o);
    return 0;
  }
  return 1;
}
