/* SWIG interface: the callback-free part of sio.h, generated as the Python module `sio.api`:
 * versions, error codes and their strings (sio_strerror, sio_err_name, sio_last_error), every
 * constant (emit flags, transports, SIO_MAX_DEPTH), the option structs with their *_init defaults,
 * and the pure functions of "values, for bindings" (sio_str_*, sio_number_is_int,
 * sio_event_reserved). Every handle and callback (the event path) is bound by hand in
 * bindings/python/, where the GIL, reference counts and value conversion need care SWIG cannot
 * give: nothing is bound twice. tests/python/test_swig_api.py proves that every declaration of
 * sio.h is either here or on its commented list of what the hand-written binding owns. */
%module(package="sio") api
%{
#include "sio.h"
%}
%include <stdint.i>

/* Functions are opt-in: handles and callbacks stay out. */
%rename("$ignore", %$isfunction) "";
%rename("%s") sio_version;
%rename("%s") sio_strerror;
%rename("%s") sio_err_name;
%rename("%s") sio_last_error;
%rename("%s") sio_server_options_init;
%rename("%s") sio_static_options_init;
%rename("%s") sio_handler_options_init;
%rename("%s") sio_engine_options_init;
%rename("%s") sio_io_options_init;
%rename("%s") sio_redis_options_init;
%rename("%s") sio_redis_streams_options_init;
%rename("%s") sio_tls_options_init;
%rename("%s") sio_instrument_options_init;
%rename("%s") sio_str_valid;
%rename("%s") sio_str_core_len;
%rename("%s") sio_str_to_core;
%rename("%s") sio_str_from_core;
%rename("%s") sio_number_is_int;
%rename("%s") sio_event_reserved;

/* The structs of the event path. */
%ignore sio_engine_callbacks_s;
%ignore sio_nsp_callbacks_s;
%ignore sio_args_s;
%ignore sio_buf_s;
%ignore sio_target_s;
%warnfilter(314) sio_target_s::except; /* a Python keyword, in an ignored struct */
%ignore sio_request_info_s;
%ignore sio_connection_error_s;

/* Strings in the option structs are read-only here: SWIG would otherwise allocate a copy per
 * assignment that nobody frees (its warning 451, "Setting a const char * variable may leak
 * memory"). A const char * member added to a bound struct belongs on this list:
 * tests/python/test_swig_api.py runs SWIG on this file and fails on any warning. */
%immutable sio_engine_options_s::path;
%immutable sio_engine_options_s::cors_origin;
%immutable sio_cookie_options_s::name;
%immutable sio_cookie_options_s::path;
%immutable sio_cookie_options_s::domain;
%immutable sio_cookie_options_s::same_site;
%immutable sio_io_options_s::client_dir;
%immutable sio_static_options_s::index;
%immutable sio_static_options_s::content_type;
%immutable sio_redis_options_s::url;
%immutable sio_redis_options_s::key;
%immutable sio_redis_streams_options_s::url;
%immutable sio_redis_streams_options_s::stream_name;
%immutable sio_redis_streams_options_s::channel_prefix;
%immutable sio_redis_streams_options_s::session_key_prefix;
%immutable sio_tls_options_s::cert_file;
%immutable sio_tls_options_s::key_file;
%immutable sio_tls_options_s::ca_file;
%immutable sio_instrument_options_s::namespace_name;
%immutable sio_instrument_options_s::username;
%immutable sio_instrument_options_s::password_hash;
%immutable sio_instrument_options_s::server_id;

/* The string functions take and give bytes (text may hold any byte: that is what they check and
 * convert): sio_str_valid(b) -> bool-ish int, sio_str_core_len(b) -> int, sio_str_to_core(b) ->
 * bytes, sio_str_from_core(b) -> bytes. */
%typemap(in) (const char *text, size_t len) {
  if (!PyBytes_Check($input)) SWIG_exception_fail(SWIG_TypeError, "expected bytes");
  $1 = PyBytes_AS_STRING($input);
  $2 = (size_t)PyBytes_GET_SIZE($input);
}
%typemap(in, numinputs=1) (const char *text, size_t len, char *out) {
  if (!PyBytes_Check($input)) SWIG_exception_fail(SWIG_TypeError, "expected bytes");
  $1 = PyBytes_AS_STRING($input);
  $2 = (size_t)PyBytes_GET_SIZE($input);
  $3 = (char *)malloc(sio_str_core_len($1, $2) + 1);
  if (!$3) SWIG_exception_fail(SWIG_MemoryError, "out of memory");
}
%typemap(in, numinputs=1) (const char *core, char *out) {
  if (!PyBytes_Check($input)) SWIG_exception_fail(SWIG_TypeError, "expected bytes");
  $1 = PyBytes_AS_STRING($input);
  $2 = (char *)malloc(strlen($1) + 1);
  if (!$2) SWIG_exception_fail(SWIG_MemoryError, "out of memory");
}
%typemap(argout) (const char *text, size_t len, char *out) {
  Py_XDECREF($result);
  $result = PyBytes_FromStringAndSize($3, (Py_ssize_t)result);
}
%typemap(argout) (const char *core, char *out) {
  Py_XDECREF($result);
  $result = PyBytes_FromStringAndSize($2, (Py_ssize_t)result);
}
%typemap(freearg) (const char *text, size_t len, char *out) "free($3);";
%typemap(freearg) (const char *core, char *out) "free($2);";

%include "sio.h"
