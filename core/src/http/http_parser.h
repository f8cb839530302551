/* HTTP/1.1 request parsing, pure: bytes in, whole requests out (no I/O). Wraps llhttp.
 *
 * A request is delivered once its head and body are complete. It and its pointers (url, headers,
 * body) live in the parser's own storage: valid until on_request returns SIO_HTTP_CONTINUE; after
 * SIO_HTTP_PAUSE, until sio_http_parser_resume(), the next sio_http_parser_execute() or
 * sio_http_parser_free(); after an upgrade, until sio_http_parser_free(). */
#ifndef SIO_HTTP_PARSER_H
#define SIO_HTTP_PARSER_H

#include <stddef.h>

#include "sbuf.h"

typedef struct sio_http_header {
  const char *name; /* lower-cased, NUL-terminated */
  const char *value; /* NUL-terminated, leading/trailing blanks trimmed */
  size_t name_len, value_len;
} sio_http_header_t;

typedef struct sio_http_request {
  const char *method;              /* "GET", "POST", ...; NUL-terminated */
  const char *url;  size_t url_len;     /* the request target as sent, NUL-terminated */
  const char *path; size_t path_len;    /* url up to '?' (not NUL-terminated) */
  const char *query; size_t query_len;  /* after '?', "" when none (not NUL-terminated) */
  const sio_http_header_t *headers; size_t header_count;
  const char *body; size_t body_len;    /* de-chunked; NULL/0 when none */
  int http_major, http_minor;
  int keep_alive; /* 1 when the connection may serve another request afterwards */
  int upgrade;    /* 1 for a request with Connection: upgrade + Upgrade (e.g. WebSocket) */
} sio_http_request_t;

/* Results of sio_http_parser_execute(), besides the SIO_E* codes of sio.h. */
enum {
  SIO_HTTP_OK = 0,        /* all input consumed, no request complete yet or all delivered */
  SIO_HTTP_PAUSED = 1,    /* on_request returned SIO_HTTP_PAUSE: `*consumed` bytes were used,
                             call sio_http_parser_resume() and feed the rest later */
  SIO_HTTP_UPGRADE = 2    /* an upgrade request was delivered: `*consumed` bytes were its head;
                             the rest of the input belongs to the new protocol */
};

/* Parse errors: the connection answers with the status and closes. */
enum {
  SIO_HTTP_E_BAD_REQUEST = -400,       /* malformed: 400 */
  SIO_HTTP_E_HEADERS_TOO_LARGE = -431, /* head over max_header_size: 431 */
  SIO_HTTP_E_BODY_TOO_LARGE = -413     /* body over max_body_size: 413 */
};

/* What on_request returns: keep going, or pause after this request (a response is pending). */
enum { SIO_HTTP_CONTINUE = 0, SIO_HTTP_PAUSE = 1 };

typedef struct sio_http_parser_s sio_http_parser_t;
typedef int (*sio_http_request_cb)(sio_http_parser_t *p, const sio_http_request_t *req);

/* Creates a parser. Returns NULL on ENOMEM. */
sio_http_parser_t *sio_http_parser_new(size_t max_header_size, size_t max_body_size,
                                       sio_http_request_cb on_request, void *user);
void sio_http_parser_free(sio_http_parser_t *p);
/* Makes p as sio_http_parser_new would, for another connection, keeping the storage its buffers
 * grew (a server reuses the parsers of finished handshakes: see server.c's parser cache). */
void sio_http_parser_reset(sio_http_parser_t *p, size_t max_header_size, size_t max_body_size,
                           sio_http_request_cb on_request, void *user);
/* Bytes of buffer storage p holds (what keeping it for reuse costs). */
size_t sio_http_parser_footprint(const sio_http_parser_t *p);
void *sio_http_parser_user(const sio_http_parser_t *p);
/* Feeds bytes (borrowed). Returns SIO_HTTP_OK / PAUSED / UPGRADE with *consumed set, or a
 * SIO_HTTP_E_* error (or SIO_ENOMEM). After an error or UPGRADE the parser must not be fed again. */
int sio_http_parser_execute(sio_http_parser_t *p, const char *data, size_t len, size_t *consumed);
/* Called when a request's head asks for "Expect: 100-continue" and announces a body that the
 * limits allow (HTTP/1.1): the connection should write "HTTP/1.1 100 Continue" so that a client
 * waiting for it (curl, for bodies over 1 KiB) sends the body at once. A body over max_body_size
 * is refused with SIO_HTTP_E_BODY_TOO_LARGE instead, without this call. */
typedef void (*sio_http_continue_cb)(sio_http_parser_t *p);
void sio_http_parser_on_continue(sio_http_parser_t *p, sio_http_continue_cb cb);
/* Lets a paused parser take the next request. */
void sio_http_parser_resume(sio_http_parser_t *p);
/* 1 when part of a request has been fed (for timeouts: a head or body is in progress). */
int sio_http_parser_in_request(const sio_http_parser_t *p);

/* Finds a header by lower-case name; NULL when absent. */
const sio_http_header_t *sio_http_find_header(const sio_http_request_t *req, const char *name);
/* 1 when the comma-separated header value contains `token` (case-insensitive). */
int sio_http_header_has_token(const char *value, size_t len, const char *token);
/* Copies the percent-decoded ('+' is a space) value of `key` from a query string into out,
 * NUL-terminated and truncated to outsz-1. Returns the value's full decoded length, or -1 when the
 * key is absent. A key present twice: the first wins, and *dup (if not NULL) is set to 1. */
long sio_http_query_get(const char *query, size_t len, const char *key, char *out, size_t outsz,
                        int *dup);

/* The reason phrase of a status code ("OK", "Bad Request", ...). */
const char *sio_http_status_text(int status);
/* Appends a response head: status line, Content-Length (omitted when content_length < 0),
 * Content-Type (when not NULL), Connection: keep-alive/close, `extra` (preformatted header lines,
 * each ending in \r\n, or NULL), then the blank line. 0 or SIO_ENOMEM. */
int sio_http_write_head(sio_sbuf_t *out, int status, const char *content_type, long content_length,
                        int keep_alive, const char *extra);

#endif
