/* Static files, the I/O: mounts (sio_server_static in sio.h) and serveClient, answering with
 * http/static.h's decisions. */
#ifndef SIO_TRANSPORT_STATIC_FILES_H
#define SIO_TRANSPORT_STATIC_FILES_H

#include <stddef.h>

#include "http/http_parser.h"
#include "transport/transport.h"

/* Files larger than this are refused with 500: they are read into memory whole. */
#define SIO_STATIC_MAX_FILE (64u << 20)

/* A directory for serving: its realpath() in *out (malloc'd; the caller frees). 0, SIO_ENOTFOUND
 * when it does not exist, UV_ENOTDIR when it is no directory, another negated errno, SIO_ENOMEM. */
int sio_http_resolve_dir(const char *dir, char **out);

/* serveClient: answers `req` when it is a GET or HEAD for one of socket.io-client's bundle files
 * right under the engine's path (prefix_len bytes of req->path) without an EIO query, from the
 * resolved directory `dir` (borrowed). Returns 1 when it answered, 0 when the request is not one
 * of those (the engine's). */
int sio_http_serve_client(const char *dir, sio_conn_t *c, const sio_http_request_t *req,
                          size_t prefix_len);

#endif
