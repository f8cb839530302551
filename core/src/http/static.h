/* Static files (sio_server_static, and serveClient's socket.io-client bundle).
 *
 * The decisions are pure functions over strings — MIME type by extension, URL path validation,
 * ETags, HTTP dates, whether a conditional request may be answered 304 — unit-tested without a
 * file system. The I/O (realpath, stat, read, respond) is transport/static_files.h. */
#ifndef SIO_HTTP_STATIC_H
#define SIO_HTTP_STATIC_H

#include <stddef.h>
#include <stdint.h>

#include "http/http_parser.h"

/* The Content-Type for file name name[0..len) by its extension (case-insensitive), with
 * "; charset=utf-8" for text types; "application/octet-stream" for any other. A static string. */
const char *sio_http_mime_type(const char *name, size_t len);

/* Results of sio_http_static_path(): an HTTP status to answer, or OK. */
enum {
  SIO_HTTP_PATH_OK = 0,
  SIO_HTTP_PATH_BAD = 400,       /* a malformed percent escape */
  SIO_HTTP_PATH_FORBIDDEN = 403, /* a ".." segment, a NUL or a backslash (traversal attempts) */
  SIO_HTTP_PATH_HIDDEN = 404     /* a segment starting with '.' (dotfiles are not served) */
};

/* Turns the URL path under a mount, path[0..len) (raw, without the query), into a relative file
 * path in `out` (room for len + 1 bytes; NUL-terminated, length in *outlen): percent-decoded,
 * without empty and "." segments, without a leading slash; it ends with '/' when the URL names a
 * directory (it ends with '/' or "/."), and is "" for the mount's own directory. Returns
 * SIO_HTTP_PATH_OK or the status to answer ("out" is then unspecified). Checked after decoding, so
 * "%2e%2e" and "..%2f" are "..", and "%00" and "%5c" are refused too. */
int sio_http_static_path(const char *path, size_t len, char *out, size_t *outlen);

/* Room for the longest ETag and HTTP-date, NUL included. */
#define SIO_HTTP_ETAG_SIZE 48
#define SIO_HTTP_DATE_SIZE 30

/* serve-static's weak ETag: W/"<size in hex>-<mtime in ms, hex>". Returns its length. */
size_t sio_http_etag(char out[SIO_HTTP_ETAG_SIZE], uint64_t size, int64_t mtime_ms);
/* 1 when If-None-Match value[0..len) matches `etag`: "*", or a comma-separated list of entity
 * tags one of which equals it by the weak comparison (a "W/" prefix on either side ignored). */
int sio_http_etag_match(const char *value, size_t len, const char *etag);
/* An IMF-fixdate ("Sun, 06 Nov 1994 08:49:37 GMT") for seconds since the Unix epoch. Returns its
 * length. Locale-independent. */
size_t sio_http_date(char out[SIO_HTTP_DATE_SIZE], int64_t unix_s);
/* Parses an HTTP-date (IMF-fixdate, or the obsolete RFC 850 and asctime forms): seconds since the
 * epoch, or -1 when malformed. */
int64_t sio_http_date_parse(const char *s, size_t len);
/* 1 when `req` may be answered 304 Not Modified for a file with that ETag and mtime (seconds):
 * If-None-Match, when present, decides alone (RFC 9110); else If-Modified-Since not older than the
 * file. Never with request Cache-Control: no-cache (as Node's `fresh`). */
int sio_http_not_modified(const sio_http_request_t *req, const char *etag, int64_t mtime_s);

#endif
