/* SWIG interface: the callback-free part of sio.h — versions, error codes and their strings, the
 * option structs and their defaults — generated as the Python module `sio.api`. Every handle and
 * callback (the event path, and the emit flags that go with it) is bound by hand in
 * bindings/python/_core.c, where the GIL, reference counts and value conversion need care SWIG
 * cannot give: nothing is bound twice. */
%module(package="sio") api
%{
#include "sio.h"
%}
%include <stdint.i>

%rename("$ignore", %$isfunction) "";
%rename("%s") sio_version;
%rename("%s") sio_strerror;
%rename("%s") sio_err_name;
%rename("%s") sio_server_options_init;
%rename("%s") sio_engine_options_init;
%rename("%s") sio_io_options_init;
%ignore sio_engine_callbacks_s;
%ignore sio_nsp_callbacks_s;
%ignore sio_args_s;
%ignore sio_buf_s;
%ignore sio_target_s;
%ignore sio_request_info_s;
/* The event path's: sio._core.EMIT_* */
%ignore SIO_EMIT_VOLATILE;
%ignore SIO_EMIT_COMPRESS;
%ignore SIO_EMIT_LOCAL;
/* Strings in the option structs are read-only here: SWIG would otherwise allocate a copy per
 * assignment that nobody frees. */
%immutable sio_engine_options_s::path;
%immutable sio_engine_options_s::cors_origin;
%immutable sio_io_options_s::client_dir;
%immutable sio_static_options_s::index;
%rename("%s") sio_static_options_init;

%include "sio.h"
