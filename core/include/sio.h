/* sio — a Socket.IO v4 / Engine.IO server on libuv.
 *
 * The whole public story is in this header.
 *
 * Conventions (as libuv's):
 * - Objects are opaque handles created by the library (`sio_x_new`) and released by it after their
 *   close callback has run. Each has a `void *data` slot for the user (`sio_x_get_data/set_data`).
 * - Every callback takes its handle first.
 * - Functions return 0 (or a count) on success and a negative error code on failure. Codes above
 *   -4096 are libuv's (negated errno values); sio's own codes are below -30000. `sio_strerror()` and
 *   `sio_err_name()` describe both.
 * - Ownership is said at each function: "borrowed" pointers stay the caller's and are not kept past
 *   the call; "copied" data is duplicated by the callee; "consumed" references pass to the callee.
 * - Single-threaded: every function must be called on the thread that runs the handle's loop.
 * - Options: each options struct starts with `size`, which its _init function sets (with every
 *   default): always start from sio_x_options_init(). A program compiled against an older sio.h
 *   passes a shorter struct, and the library reads only what it holds (the rest keeps its
 *   default), so options are only ever added at the end. The structs that sit inside others
 *   (sio_engine_options_t in sio_io_options_t, sio_cookie_options_t) keep their size and grow into
 *   their `reserved` tails, where zero means the default. A size the library cannot read (0: never
 *   initialised) is SIO_EINVAL.
 */
#ifndef SIO_H
#define SIO_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>
#include <cjson/cJSON.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Every function below is part of libsio's ABI; nothing else is exported (the library is built
 * with -fvisibility=hidden). */
#if defined(__GNUC__) || defined(__clang__)
#define SIO_EXTERN __attribute__((visibility("default")))
#else
#define SIO_EXTERN
#endif

#define SIO_VERSION_MAJOR 0
#define SIO_VERSION_MINOR 1
#define SIO_VERSION_PATCH 0

/* "0.1.0" */
SIO_EXTERN const char *sio_version(void);

/* ---------------------------------------------------------------------------------------------- */
/* Errors                                                                                          */

#define SIO_ERRNO_MAP(XX)                                                 \
  XX(EINVAL, -30001, "invalid argument")                                  \
  XX(ENOMEM, -30002, "out of memory")                                     \
  XX(EPARSE, -30003, "malformed packet or payload")                       \
  XX(ETOOBIG, -30004, "payload larger than the allowed maximum")          \
  XX(ECLOSED, -30005, "handle is closed or closing")                      \
  XX(EBUSY, -30006, "write queue is full")                                \
  XX(EPROTO, -30007, "protocol violation")                                \
  XX(EUTF8, -30008, "invalid UTF-8 in a text message")                    \
  XX(EEXIST, -30009, "already exists")                                    \
  XX(ENOTFOUND, -30010, "not found")                                      \
  XX(ETIMEDOUT, -30011, "timed out")                                      \
  XX(EUNAVAIL, -30012, "cluster unavailable: Redis is not connected")          \
  XX(ERESERVED, -30013, "reserved event name")                            \
  XX(EALREADY, -30014, "already answered")                                \
  XX(ETLS, -30015, "TLS certificate, key or handshake error")

typedef enum {
#define XX(name, code, msg) SIO_##name = code,
  SIO_ERRNO_MAP(XX)
#undef XX
} sio_errno_t;

/* A static string; never NULL (unknown codes give "unknown error"). */
SIO_EXTERN const char *sio_strerror(int err);
/* "EINVAL", "ETOOBIG", ... (libuv's names for libuv's codes). */
SIO_EXTERN const char *sio_err_name(int err);
/* What was wrong, in one sentence ("cookie name \"a b\" is not an HTTP token"), for the error the
 * last call of this thread returned: every function that returns an error code clears it first,
 * so it is "" when that error has no detail to add (most do: bad options, URLs, prefixes,
 * regular expressions, reserved names, values that cannot be sent). Read it right after the
 * failed call. */
SIO_EXTERN const char *sio_last_error(void);

/* ---------------------------------------------------------------------------------------------- */
/* The HTTP server: one listening socket that routes requests by path to the engines attached     */
/* to it (an Engine.IO endpoint, and later a Socket.IO server) and answers 404 elsewhere.         */

typedef struct sio_server_s sio_server_t;

typedef struct sio_server_options_s {
  size_t size; /* sizeof this struct, set by the _init function (see "Options" above) */
  size_t max_header_size;     /* bytes of request line + headers before 431; default 16384 */
  uint32_t headers_timeout_ms; /* a request's head must arrive within this; default 10000 */
  uint32_t request_timeout_ms; /* a whole request (with body) within this; default 30000 */
  uint32_t keep_alive_timeout_ms; /* idle keep-alive connections are closed after; default 5000 */
} sio_server_options_t;

/* Fills in the defaults above. */
SIO_EXTERN void sio_server_options_init(sio_server_options_t *opts);

typedef void (*sio_server_close_cb)(sio_server_t *server);

/* Creates a server on `loop` (borrowed; must outlive the server). `opts` is copied; NULL takes the
 * defaults. On success *out owns a new handle, released by sio_server_close(). */
SIO_EXTERN int sio_server_new(uv_loop_t *loop, const sio_server_options_t *opts, sio_server_t **out);
/* Binds and listens on host:port (IPv4 or IPv6 literal; port 0 picks one). May be called several
 * times (and mixed with sio_server_listen_tls): one server, one set of engines, many ports. */
SIO_EXTERN int sio_server_listen(sio_server_t *server, const char *host, int port);
/* The bound port of the listener added last, or a negative error when not listening. */
SIO_EXTERN int sio_server_port(const sio_server_t *server);

/* ---- TLS (HTTPS and WSS) ---- */
/* A listener may speak TLS (OpenSSL, non-blocking on the loop): the same requests, engines and
 * WebSockets as a plain one, encrypted. Minimum version TLS 1.2, ALPN "http/1.1". The headers
 * timeout runs from accept through the handshake, so a client that stalls mid-handshake is closed
 * like one that stalls mid-headers; bytes that are not a TLS handshake close the connection at once;
 * a graceful close sends close_notify. OpenSSL runs the handshake; once a TLS 1.3 handshake is over,
 * sio's own record layer takes over (AES-GCM or ChaCha20-Poly1305 from libcrypto, KeyUpdate, no
 * session tickets) and OpenSSL's per-connection state is freed, so that an idle TLS connection costs
 * well under 1 KiB besides a plain one (a TLS 1.2 connection keeps OpenSSL's, about 14 KiB).
 * Sessions opened over TLS say so (sio_request_info_t.secure). */
typedef struct sio_tls_options_s {
  size_t size;            /* sizeof this struct, set by the _init function (see "Options" above) */
  const char *cert_file;  /* PEM certificate chain, leaf first (required) */
  const char *key_file;   /* PEM private key of the leaf (required; unencrypted) */
  const char *ca_file;    /* PEM CA certificates: when set, clients must present a certificate
                           * they signed (mutual TLS); NULL: no client certificates asked */
} sio_tls_options_t;

SIO_EXTERN void sio_tls_options_init(sio_tls_options_t *opts);
/* As sio_server_listen(), speaking TLS. `opts` copied (the file names are kept, for reload); the
 * files are read now: SIO_ETLS, with sio_last_error() naming the file and OpenSSL's reason, when
 * one cannot be read or parsed or the key does not match the certificate; SIO_EINVAL without
 * cert_file or key_file. */
SIO_EXTERN int sio_server_listen_tls(sio_server_t *server, const char *host, int port,
                                     const sio_tls_options_t *opts);
/* Re-reads the certificate, key and CA files of every TLS listener (`opts` NULL: the files each
 * was given) or takes new files (`opts` copied, for every TLS listener). New connections use the
 * new certificate; established ones keep theirs until they close (OpenSSL counts references to
 * the old one). On an error (SIO_ETLS, sio_last_error() says why) nothing changes. SIO_ENOTFOUND
 * when the server has no TLS listener. */
SIO_EXTERN int sio_server_tls_reload(sio_server_t *server, const sio_tls_options_t *opts);
/* Stops listening, closes every engine (each session closes with reason "server shutting down")
 * and every connection, then calls `cb` (may be NULL); the handle is freed after `cb` returns. */
SIO_EXTERN void sio_server_close(sio_server_t *server, sio_server_close_cb cb);
SIO_EXTERN void *sio_server_get_data(const sio_server_t *server);
SIO_EXTERN void sio_server_set_data(sio_server_t *server, void *data);
SIO_EXTERN uv_loop_t *sio_server_loop(const sio_server_t *server);

/* ---- logging ---- */
/* What the library has to say about a server that no return value carries: a Redis outage and its
 * end, sessions opening, upgrading and closing, requests it refused. One sink per server (each
 * binding, each application, routes its servers' records where it wants), called synchronously
 * on the server's loop thread, like every other callback. Records below the server's level are not
 * even formatted: a level check is all a record costs when nobody listens.
 *
 * Levels, most severe first (syslog's order): a record is passed when its level <= the server's. */
enum {
  SIO_LOG_ERROR = 0, /* something does not work and will not by itself (Redis answers AUTH with
                        an error) */
  SIO_LOG_WARN = 1,  /* degraded service, and its end (a Redis connection lost, then restored:
                        both at WARN, so a WARN filter sees the outage end too); ignored input */
  SIO_LOG_INFO = 2,  /* the life of each session: opened, upgraded, closed with its reason */
  SIO_LOG_DEBUG = 3, /* requests refused with 400/403 (a client's fault, not the server's) */
  SIO_LOG_TRACE = 4  /* debug categories' records (below): passed when their category is on,
                        whatever the sink's level */
};

/* `component` names the layer: "engine" (Engine.IO sessions and requests), "socketio", "cluster",
 * "redis"; for SIO_LOG_TRACE records, the debug category ("engine", "socket", "nsp", "adapter",
 * "redis", "http": sio_server_set_debug below). `component` and `message` (one line, no newline) are borrowed for the call. The callback
 * must not close `server`; it may call any other function. */
typedef void (*sio_log_cb)(sio_server_t *server, int level, const char *component,
                           const char *message, void *arg);

/* The default sink: writes "sio: <component>: <message>\n" to stderr in one write (the lines sio
 * has always written). `arg` is unused. A callback may hand records it does not want on to it. */
SIO_EXTERN void sio_log_stderr(sio_server_t *server, int level, const char *component,
                               const char *message, void *arg);
/* "error", "warn", "info", "debug"; "unknown" for another value. A static string. */
SIO_EXTERN const char *sio_log_level_name(int level);
/* Sends the server's records of level <= `level` to cb(server, level, component, message, arg);
 * cb NULL: none at all. The default is SIO_LOG_WARN to sio_log_stderr. `arg` is borrowed: it must
 * outlive the server or the next call. Call it on the loop's thread (or before the loop runs);
 * it takes effect for the next record. Records of the server's adapters (Redis) come here too. */
SIO_EXTERN void sio_server_set_log(sio_server_t *server, int level, sio_log_cb cb, void *arg);

/* Debug logging by category: one record per event, with the session id (Engine.IO) or socket id
 * (Socket.IO), never a whole payload. Off by default; a category that is off costs one load and
 * one branch per site, nothing is formatted. Records go to the server's sink (sio_server_set_log;
 * stderr by default, as "sio: <category>: <message>") at level SIO_LOG_TRACE with the category's
 * name as `component`, whatever the sink's level (a NULL sink drops them).
 *   engine   sessions: handshake (transport, EIO version, peer), upgrade, ping timeout, close
 *            with its reason, each packet in and out (type, length)
 *   socket   Socket.IO packets in and out (type, namespace, event name, ack id, length)
 *   nsp      namespace connections accepted and refused, socket disconnections
 *   adapter  cluster requests and answers (type, request id)
 *   redis    Redis links up and down, messages published and received (channel, length)
 *   http     HTTP requests (method, path, status) */
enum {
  SIO_DEBUG_ENGINE = 1 << 0,
  SIO_DEBUG_SOCKET = 1 << 1,
  SIO_DEBUG_NSP = 1 << 2,
  SIO_DEBUG_ADAPTER = 1 << 3,
  SIO_DEBUG_REDIS = 1 << 4,
  SIO_DEBUG_HTTP = 1 << 5,
  SIO_DEBUG_ALL = (1 << 6) - 1
};
/* Parses a category list as SIO_DEBUG takes it: names separated by commas or spaces, "*" (or
 * "all") for every one; Node's DEBUG namespaces are understood too ("engine*" -> engine,http;
 * "socket.io*" -> socket,nsp,adapter,redis; "socket.io:socket", "socket.io:namespace", ...).
 * NULL or "" is 0. SIO_EINVAL (and *mask untouched) for an unknown name. */
SIO_EXTERN int sio_debug_parse(const char *spec, unsigned *mask);
/* The categories' names ("engine" ...) for one SIO_DEBUG_* bit; "unknown" otherwise. Static. */
SIO_EXTERN const char *sio_debug_category_name(unsigned category);
/* Turns categories on (bits of `mask`) and off (the others). sio_server_new reads the environment
 * variable SIO_DEBUG once (a list sio_debug_parse takes; an unknown name: a WARN record, and no
 * category) and starts with it; this overrides it. Node's DEBUG variable is not read (other
 * programs of the same environment take it). Call it on the loop's thread (or before it runs). */
SIO_EXTERN void sio_server_set_debug(sio_server_t *server, unsigned mask);
/* The server's categories now. */
SIO_EXTERN unsigned sio_server_debug(const sio_server_t *server);

/* ---------------------------------------------------------------------------------------------- */
/* Static files: a directory served at a URL prefix of a server, as Node's serve-static (send)    */
/* does it, for an application's own pages and assets next to its Socket.IO server. Files are    */
/* read synchronously, on the loop's thread, up to 64 MiB each: meant for local assets and        */
/* prototyping; put a real web server in front for anything large or busy.                        */
/*                                                                                                */
/* Routing: the longest matching prefix wins, and an Engine.IO/Socket.IO path wins over a static  */
/* mount at the same prefix, so a mount at "/" leaves "/socket.io/" to its io. An engine at "/"   */
/* serves every path and takes precedence over every static mount (they are never reached).       */
/*                                                                                                */
/* A request under the prefix (its path percent-decoded, the query ignored) is answered:          */
/* - GET and HEAD only; anything else 405 with "Allow: GET, HEAD".                                */
/* - 403 for a ".." segment, a NUL or a backslash, or a file whose real path (symbolic links      */
/*   resolved) is outside the directory; 404 for a missing file and for any segment starting    */
/*   with '.' (dotfiles are ignored); 400 for a malformed percent escape.                        */
/* - A directory URL ending in '/' serves the directory's index file; without the slash, 301 to   */
/*   the slash form (the query kept).                                                             */
/* - 200 with Content-Type by extension (text types with "; charset=utf-8"; unknown ones          */
/*   application/octet-stream), a weak ETag W/"<size hex>-<mtime ms hex>", Last-Modified,        */
/*   Cache-Control and X-Content-Type-Options: nosniff; HEAD the same without the body.           */
/* - 304 without a body when If-None-Match matches the ETag (a list, weak comparison, or "*"),    */
/*   or, without If-None-Match, when If-Modified-Since is not older than the file; a request     */
/*   with Cache-Control: no-cache always gets the file.                                           */
/* - 500 for a file over 64 MiB (or one that cannot be read).                                     */

typedef struct sio_static_options_s {
  size_t size; /* sizeof this struct, set by the _init function (see "Options" above) */
  const char *index;  /* file served for a directory URL; default (and NULL) "index.html"; copied */
  uint32_t max_age_s; /* Cache-Control "public, max-age=N"; default 0: "no-cache" (revalidate with
                         the ETag on every use) */
  /* A file mount's Content-Type (python-engineio's {"filename": ..., "content_type": ...});
   * default NULL: by the file name's extension. Ignored by directory mounts. Copied */
  const char *content_type;
} sio_static_options_t;

/* Fills in the defaults above. */
SIO_EXTERN void sio_static_options_init(sio_static_options_t *opts);

/* Serves `path` at URL prefix `prefix` of `server` (both copied; `opts` copied, NULL: defaults),
 * as python-engineio's static_files does:
 * - a directory: the files under it at "prefix/..." ("/assets" is the mount "/assets/", and the
 *   request "/assets" is redirected to "/assets/");
 * - a regular file: that file at exactly the path `prefix` ("/" serves it for "/" only; "/app"
 *   for "/app" only), with opts->content_type or else the type its name's extension gives; a
 *   file missing at request time is a 404.
 * `path` is resolved with realpath() at this call: SIO_ENOTFOUND when it does not exist, UV_ENOTDIR
 * when it is neither a directory nor a regular file, another negated errno when it cannot be
 * resolved. SIO_EINVAL when `prefix` does not start with '/' or holds "//", '?', '#' or '%', or
 * when opts->content_type holds a control character; SIO_EEXIST when another static mount has
 * that prefix. A server may have several mounts; they are freed with the server.
 * When a handler (sio_server_handler) also covers a request that a mount would answer with 404
 * (no such file) or 405 (not GET or HEAD), the handler gets it instead. */
SIO_EXTERN int sio_server_static(sio_server_t *server, const char *prefix, const char *path,
                                 const sio_static_options_t *opts);

/* ---------------------------------------------------------------------------------------------- */
/* HTTP handlers: the application answers the plain HTTP requests that no Engine.IO endpoint and   */
/* no static mount claims (a REST endpoint, a health check, a WSGI/ASGI app beside Socket.IO on   */
/* one port). Precedence: an engine's path, then a static mount (see above), then the handler    */
/* with the longest matching prefix; 404 when none. An engine at "/" takes every request, so no   */
/* handler is reached beside it. Upgrade requests are never a handler's (404 as before).          */
/*                                                                                                */
/* The request is complete when the handler is called: its head, and its body collected (chunked */
/* bodies de-chunked) up to max_body bytes; a longer body is answered 413 without calling the    */
/* handler ("Expect: 100-continue" is answered 100 by the server, for every request). The handler answers with sio_http_respond(), at once or later (from the loop's       */
/* thread), exactly once: that call releases the handle. Meanwhile the connection waits (later   */
/* pipelined requests behind it); keep-alive is kept when the client asked for it. When the      */
/* client goes away first, when the server closes, or when no answer came within the server's   */
/* request_timeout_ms (the client then gets 503 and the connection closes), the abort callback  */
/* (sio_http_req_on_abort) runs once; the handle stays valid until sio_http_respond(), which then */
/* sends nothing and returns SIO_ECLOSED.                                                       */

typedef struct sio_http_req_s sio_http_req_t;

/* A complete request for the handler registered with `arg`. */
typedef void (*sio_http_handler_cb)(sio_http_req_t *req, void *arg);
/* The request will never be answered on the wire (see above); the handle is still the caller's. */
typedef void (*sio_http_abort_cb)(sio_http_req_t *req);

typedef struct sio_handler_options_s {
  size_t size;     /* sizeof this struct, set by the _init function (see "Options" above) */
  size_t max_body; /* bytes of request body before 413; default 1048576 (1 MiB) */
} sio_handler_options_t;

/* Fills in the defaults above. */
SIO_EXTERN void sio_handler_options_init(sio_handler_options_t *opts);

/* Calls cb(req, arg) for every request under URL prefix `prefix` (copied; "/" is every path; a
 * prefix "/api" or "/api/" covers "/api" and "/api/..." but not "/apix") that no engine and no
 * static mount claims. `opts` copied (NULL: defaults). SIO_EINVAL when `prefix` does not start
 * with '/' or holds "//", '?', '#' or '%', or for a NULL cb; SIO_EEXIST when another handler has
 * that prefix; SIO_ENOMEM. Handlers are freed with the server. */
SIO_EXTERN int sio_server_handler(sio_server_t *server, const char *prefix, sio_http_handler_cb cb,
                                  void *arg, const sio_handler_options_t *opts);

/* The request, borrowed from the handle (valid until sio_http_respond()):
 * - method: "GET", "POST", ...;
 * - url: the request target as sent ("/api/x%20y?a=1");
 * - path: its path, raw ("/api/x%20y"); decoded_path: percent-decoded ("/api/x y"; '+' stays a
 *   '+'); a path that decodes to a NUL or to invalid UTF-8 is answered 400 before any handler;
 * - query: after '?', raw ("a=1"), "" when none;
 * - protocol: "HTTP/1.1" or "HTTP/1.0";
 * - remote_addr: the peer's address ("127.0.0.1"), "" when unknown; remote_port its port. */
SIO_EXTERN const char *sio_http_req_method(const sio_http_req_t *req);
SIO_EXTERN const char *sio_http_req_url(const sio_http_req_t *req);
SIO_EXTERN const char *sio_http_req_path(const sio_http_req_t *req);
SIO_EXTERN const char *sio_http_req_decoded_path(const sio_http_req_t *req);
SIO_EXTERN const char *sio_http_req_query(const sio_http_req_t *req);
SIO_EXTERN const char *sio_http_req_protocol(const sio_http_req_t *req);
SIO_EXTERN const char *sio_http_req_remote_addr(const sio_http_req_t *req);
SIO_EXTERN int sio_http_req_remote_port(const sio_http_req_t *req);
/* 1 when the request came over TLS (a sio_server_listen_tls port), else 0. */
SIO_EXTERN int sio_http_req_secure(const sio_http_req_t *req);
/* The first header named `name` (any case), or NULL. */
SIO_EXTERN const char *sio_http_req_header(const sio_http_req_t *req, const char *name);
SIO_EXTERN size_t sio_http_req_header_count(const sio_http_req_t *req);
/* Header i in arrival order (names lower-cased, repeated headers each on their own): 0, or
 * SIO_ENOTFOUND past the end. */
SIO_EXTERN int sio_http_req_header_at(const sio_http_req_t *req, size_t i, const char **name,
                                      const char **value);
/* The body (de-chunked; NUL-terminated past *len, which may be NULL); "" with 0 when none. */
SIO_EXTERN const char *sio_http_req_body(const sio_http_req_t *req, size_t *len);
SIO_EXTERN void *sio_http_req_get_data(const sio_http_req_t *req);
SIO_EXTERN void sio_http_req_set_data(sio_http_req_t *req, void *data);
/* Sets (or with NULL clears) the abort callback. One set after the request has gone away is never
 * called: check sio_http_req_aborted(). */
SIO_EXTERN void sio_http_req_on_abort(sio_http_req_t *req, sio_http_abort_cb cb);
/* 1 once the response can no longer be sent (see above). */
SIO_EXTERN int sio_http_req_aborted(const sio_http_req_t *req);

/* Answers and releases the request: `status` (200..599; 204 and 304 carry no body), `headers` a
 * NULL-terminated array of name, value, name, value... (borrowed; may be NULL; Content-Length,
 * Transfer-Encoding and Connection are the server's and ignored when given), then `len` bytes of
 * `body` (copied; not sent to a HEAD request, whose Content-Length still says `len`). 0 when the
 * response is queued; SIO_ECLOSED when the request was aborted (nothing sent; released all the
 * same); SIO_ENOMEM (the client gets a bare 500, or the connection is closed; released).
 * SIO_EINVAL, without releasing, for a status out of range, a header name that is not an HTTP
 * token, a NULL value or a value holding CR or LF: correct it and answer again. */
SIO_EXTERN int sio_http_respond(sio_http_req_t *req, int status, const char *const *headers,
                                const void *body, size_t len);

/* ---------------------------------------------------------------------------------------------- */
/* Engine.IO: an endpoint at a path of a server, like Node's `engine.io` package.                 */

typedef struct sio_engine_s sio_engine_t;
/* One Engine.IO session (a client), whatever its transport. */
typedef struct sio_session_s sio_session_t;

enum {
  SIO_TRANSPORT_POLLING = 1,
  SIO_TRANSPORT_WEBSOCKET = 2
};

/* The reference's `cookie` option, for load balancers that keep a client on one node by a cookie
 * (long-polling needs every request of a session on the node that holds it). The response to the
 * polling handshake — the GET that opens a session — carries
 *   Set-Cookie: NAME=<sid>[; Max-Age=N][; Domain=D][; Path=P][; HttpOnly][; Secure][; SameSite=S]
 * in the order Node's `cookie` package writes them. No other response does, as the reference:
 * later requests name their session in the query, and a WebSocket-only session has nothing to
 * stick (its 101 carries no cookie; the reference's `ws` writes it before the session exists). */
typedef struct sio_cookie_options_s {
  const char *name;      /* NULL (the default): no cookie; the reference's `cookie: true` is "io".
                            A token (RFC 6265 cookie-name), else sio_engine_new() fails. Copied */
  const char *path;      /* default "/"; NULL: no Path. Copied */
  const char *domain;    /* default NULL: no Domain. Copied */
  const char *same_site; /* "Lax" (default), "Strict" or "None", in any case; NULL: no SameSite */
  int http_only;         /* default 1 */
  int secure;            /* default 0 */
  uint32_t max_age_s;    /* default 0: no Max-Age (the cookie ends with the browser session) */
  void *reserved[4];     /* room for options to come, zero meaning their default */
} sio_cookie_options_t;

typedef struct sio_engine_options_s {
  size_t size; /* sizeof this struct, set by the _init function (see "Options" above) */
  const char *path;            /* default "/engine.io/"; "/" serves every path; copied */
  uint32_t ping_interval_ms;   /* default 25000 */
  uint32_t ping_timeout_ms;    /* default 20000 */
  uint32_t upgrade_timeout_ms; /* default 10000 */
  size_t max_payload;          /* bytes per polling body or WebSocket message; default 1000000 */
  /* Accept Engine.IO v3 clients (socket.io 2.x); default 0. With it, v3's JSONP polling too (for
   * pages without XHR): a handshake with `j=N` (1 to 9 digits) in the query opens a session whose
   * polls answer with the script `___eio[N]("<payload as a JSON string>");` (text/javascript;
   * binary as base64) and whose POSTs are forms with the payload in field `d`. `j` with EIO=4, or
   * one that is not such an index, is refused with 400 {"code":3,"message":"Bad request"} (Node
   * serves it to v4 too, but no v4 client has the transport). */
  int allow_eio3;
  int transports;              /* SIO_TRANSPORT_* bits; default both */
  int allow_upgrades;          /* default 1 */
  /* Which pages may connect, by the Origin header browsers send (clients without a browser send
   * none and are never refused by it), and the CORS headers polling responses carry:
   * - a comma-separated list of origins ("https://a.example,http://localhost:3000", compared
   *   exactly; the server's own origin is not implied): a request whose Origin is not in it —
   *   handshake, poll, post or WebSocket upgrade — gets 403 {"code":4,"message":"Forbidden"}
   *   (a page of another site must not open a session with the user's cookies: cross-site
   *   WebSocket hijacking); responses to an allowed Origin carry it in
   *   Access-Control-Allow-Origin, with Vary: Origin;
   * - "*": any origin, Access-Control-Allow-Origin: * (the Origin reflected with credentials);
   * - NULL (the default): no CORS headers, and any origin unless same_origin is set. Copied.
   * A function deciding per origin replaces this: sio_engine_set_cors_origin_fn(). */
  const char *cors_origin;
  int cors_credentials;        /* adds Access-Control-Allow-Credentials: true */
  /* With cors_origin NULL: only pages of this server's own origin (http or https, and the Host
   * header, or the first X-Forwarded-Host behind a proxy; on a TLS listener https only) may
   * connect; others get the 403 above.
   * python-socketio's default; 0 (the default here) allows any origin, as Node's socket.io. */
  int same_origin;
  /* Bytes queued for one session (sent, not yet written) before the overflow policy applies: the
   * session is closed with reason "transport error" (a stalled client never grows memory without
   * bound). Default 4 * max_payload + 1 MiB. */
  size_t max_buffered;
  /* The session cookie (see sio_cookie_options_t); off by default. sio_engine_new() returns
   * SIO_EINVAL for a name that is not a token, a path or domain holding ';' or a control
   * character, or another same_site. */
  sio_cookie_options_t cookie;
  /* permessage-deflate (RFC 7692) on WebSocket connections (Node's perMessageDeflate): 0 (the
   * default) off, as Node; non-zero accepts a client's offer (every browser makes one). The
   * server always answers server_no_context_takeover and client_no_context_takeover, so each
   * message is (de)compressed on its own with zlib streams shared by the whole server (created on
   * first use, reset per message): a connection holds no zlib state, idle or not (Node's context
   * takeover, which costs each connection its own streams, is not offered). A client's
   * server_max_window_bits (9..15) is honoured; 8 is declined (zlib cannot make raw deflate with
   * 256-byte windows), as is any malformed offer: the next offer is tried, else no compression.
   * Messages whose WebSocket payload has deflate_threshold bytes or more are sent compressed
   * unless emitted with SIO_EMIT_NO_COMPRESS; smaller ones go plain. A broadcast is compressed
   * once and its frame shared by every recipient. Received messages with RSV1 are inflated into
   * at most max_payload bytes: past that, close 1009 before the rest is inflated (a
   * decompression bomb costs max_payload at most); bad deflate data is closed with 1007, RSV1
   * without the extension or on a continuation or control frame with 1002. */
  int per_message_deflate;
  uint32_t deflate_threshold; /* bytes; 0: the default, 1024 (Node's) */
  /* httpCompression (Node engine.io's, on by default): a polling GET's response of
   * http_compression_threshold bytes or more (the payload as sent: JSONP scripts and v3 binary
   * payloads included, as the reference) is gzip- or deflate-encoded when the request's
   * Accept-Encoding accepts one, chosen as Node's `accepts` does (q-values, q=0 refusing; at equal
   * q the header's order, then gzip), with Content-Encoding and Vary: Accept-Encoding. Smaller
   * responses, requests accepting neither, and every other response (handshake errors, POST
   * answers, WebSocket) go as they are, and so does a payload whose every packet was emitted with
   * SIO_EMIT_NO_COMPRESS (as the reference: one packet without it makes the payload compressible). Cost: one zlib deflate state (about 256 KiB) per engine,
   * taken on the first response compressed and reset for each next one; nothing per session.
   * 0 (the default) on; -1 off. */
  int http_compression;
  uint32_t http_compression_threshold; /* bytes; 0: the default, 1024 */
  void *reserved[6]; /* room for options to come, zero meaning their default (this struct sits
                       inside sio_io_options_t, so it never grows) */
} sio_engine_options_t;

SIO_EXTERN void sio_engine_options_init(sio_engine_options_t *opts);

typedef void (*sio_engine_connection_cb)(sio_engine_t *engine, sio_session_t *session);
/* `data` is borrowed for the call. Text is UTF-8, validated on every transport (a v3 binary
 * polling payload may also hold lone surrogates as WTF-8: see sio_args_t). */
typedef void (*sio_session_message_cb)(sio_session_t *session, const char *data, size_t len,
                                        int binary);
/* The session is closing: sends now fail with SIO_ECLOSED, and the handle must not be used after
 * this callback returns (it may still be found by id during the call, and a polling session closed
 * by the application lingers internally until its next poll collects the CLOSE packet).
 * `reason` is the reference's: "transport close", "transport error", "ping timeout",
 * "parse error", "forced close", "server shutting down". */
typedef void (*sio_session_close_cb)(sio_session_t *session, const char *reason);

/* The server is shutting down: every session is still open (sends still work, e.g. a goodbye) and
 * is closed with reason "server shutting down" right after this returns. */
typedef void (*sio_engine_shutdown_cb)(sio_engine_t *engine);

typedef struct sio_engine_callbacks_s {
  sio_engine_connection_cb on_connection;
  sio_session_message_cb on_message;
  sio_session_close_cb on_close;
  sio_engine_shutdown_cb on_shutdown; /* may be NULL */
} sio_engine_callbacks_t;

/* Attaches a new engine to `server`. `opts` and `cbs` are copied (NULL opts: defaults). The engine
 * is closed and freed with its server. SIO_EEXIST when another engine has that path; SIO_EINVAL
 * for bad cookie options. */
SIO_EXTERN int sio_engine_new(sio_server_t *server, const sio_engine_options_t *opts,
                              const sio_engine_callbacks_t *cbs, sio_engine_t **out);
SIO_EXTERN void *sio_engine_get_data(const sio_engine_t *engine);
SIO_EXTERN void sio_engine_set_data(sio_engine_t *engine, void *data);
SIO_EXTERN sio_server_t *sio_engine_server(const sio_engine_t *engine);
SIO_EXTERN size_t sio_engine_session_count(const sio_engine_t *engine);
/* Looks a session up by id (borrowed); NULL when none. */
SIO_EXTERN sio_session_t *sio_engine_find(const sio_engine_t *engine, const char *sid);

/* A message to send, shared by reference: encode once, send to many. Each sio_session_send_msg()
 * keeps its own reference, so the caller may unref right after. The transport frames (WebSocket
 * header included) are built once per protocol version and shared too. */
typedef struct sio_msg_s sio_msg_t;
/* A new message holding a copy of data[0..len) with one reference (the caller's). NULL: ENOMEM. */
SIO_EXTERN sio_msg_t *sio_msg_new(const void *data, size_t len, int binary);
SIO_EXTERN sio_msg_t *sio_msg_ref(sio_msg_t *msg);
SIO_EXTERN void sio_msg_unref(sio_msg_t *msg);

/* The session's id: 20 URL-safe characters, NUL-terminated, valid for the handle's life. */
SIO_EXTERN const char *sio_session_id(const sio_session_t *session);
/* 3 or 4. */
SIO_EXTERN int sio_session_protocol(const sio_session_t *session);
/* SIO_TRANSPORT_POLLING or SIO_TRANSPORT_WEBSOCKET (the current one, after any upgrade). */
SIO_EXTERN int sio_session_transport(const sio_session_t *session);
SIO_EXTERN sio_engine_t *sio_session_engine(const sio_session_t *session);
SIO_EXTERN void *sio_session_get_data(const sio_session_t *session);
SIO_EXTERN void sio_session_set_data(sio_session_t *session, void *data);
/* Sends one message (copied). SIO_ECLOSED once closing; SIO_EBUSY never: past max_buffered the
 * session is closed (see sio_engine_options_t.max_buffered) and SIO_ECLOSED returned. */
SIO_EXTERN int sio_session_send(sio_session_t *session, const void *data, size_t len, int binary);
/* Sends a shared message; takes a reference of its own (`msg` stays the caller's). */
SIO_EXTERN int sio_session_send_msg(sio_session_t *session, sio_msg_t *msg);
/* 1 when a send now would be written without queueing behind earlier data (for volatile
 * messages, which are dropped otherwise). */
SIO_EXTERN int sio_session_writable(const sio_session_t *session);
/* Closes the session from the server side: queued messages are flushed first, then the CLOSE
 * packet. on_close follows with reason "forced close". Closing twice is harmless. */
SIO_EXTERN void sio_session_close(sio_session_t *session);

/* The request that opened the session, as received (borrowed, valid for the session's life). */
typedef struct sio_request_info_s {
  const char *method;      /* "GET" */
  const char *url;         /* path and query, as sent */
  const char *query;       /* after '?', "" when none */
  const char *remote_addr; /* "127.0.0.1" */
  int secure;              /* 0: no TLS here */
  uint64_t time_ms;        /* when the handshake arrived (ms since the Unix epoch) */
  size_t header_count;
  const char *const *header_names;  /* lower-cased */
  const char *const *header_values;
} sio_request_info_t;
/* Built on first use (NULL only when that allocation fails). */
SIO_EXTERN const sio_request_info_t *sio_session_request(const sio_session_t *session);
/* A header of the handshake request by lower-case name, or NULL. */
SIO_EXTERN const char *sio_request_header(const sio_request_info_t *req, const char *name);
/* Copies the percent-decoded value of query parameter `key` into out (NUL-terminated, truncated to
 * outsz-1). Returns its full length, or SIO_ENOTFOUND. */
SIO_EXTERN int sio_request_query(const sio_request_info_t *req, const char *key, char *out, size_t outsz);

/* ---------------------------------------------------------------------------------------------- */
/* Hooks at the Engine.IO handshake (Node's engine.io 6 `allowRequest`, `cors.origin` as a         */
/* function, the `initial_headers`, `headers` and `connection_error` events). Each is set on a    */
/* running engine with its setter (NULL removes it); an engine without them pays one branch.      */
/* Every callback runs on the loop's thread. A Socket.IO server's engine: sio_io_engine(io).      */

/* A handshake waiting for the application's verdict (allow_request). */
typedef struct sio_handshake_s sio_handshake_t;
/* Called for each handshake — the polling GET without a sid, or the WebSocket upgrade without a
 * sid — once the engine's own checks passed (origin, transport, method), in the reference's order:
 * a handshake of an EIO version the engine refuses reaches the callback too, and is refused with
 * code 5 once accepted (as Node's handshake() after allowRequest). The handle
 * is the application's until it answers with sio_handshake_accept() or sio_handshake_refuse(),
 * now (inside the callback) or later (from the loop's thread: a database lookup, a rate limiter),
 * exactly once: the answer frees it. Meanwhile the connection waits, bounded by the server's
 * request_timeout_ms (then 503, as an application handler). When the client goes away first, the
 * timeout passes or the server closes, the handle stays valid: sio_handshake_aborted() turns 1 and
 * the answer, still required to free it, sends nothing and returns SIO_ECLOSED. */
typedef void (*sio_allow_request_cb)(sio_handshake_t *handshake, void *arg);
SIO_EXTERN void sio_engine_set_allow_request(sio_engine_t *engine, sio_allow_request_cb cb, void *arg);
/* The request (borrowed, valid until the answer): method, url, query, remote_addr, headers. */
SIO_EXTERN const sio_request_info_t *sio_handshake_request(const sio_handshake_t *handshake);
/* SIO_TRANSPORT_POLLING or SIO_TRANSPORT_WEBSOCKET. */
SIO_EXTERN int sio_handshake_transport(const sio_handshake_t *handshake);
SIO_EXTERN int sio_handshake_aborted(const sio_handshake_t *handshake);
SIO_EXTERN void *sio_handshake_get_data(const sio_handshake_t *handshake);
SIO_EXTERN void sio_handshake_set_data(sio_handshake_t *handshake, void *data);
/* Opens the session (on_connection follows). 0, or SIO_ECLOSED when aborted; frees the handle. */
SIO_EXTERN int sio_handshake_accept(sio_handshake_t *handshake);
/* Refuses as Node does: polling gets `status` (0: 403, as Node; else 400..599, e.g. 429 for a rate
 * limit) with application/json {"code":4,"message":"<message>"} (NULL: "Forbidden"; escaped as
 * JSON); an upgrade gets, instead of its 101, what Node's abortUpgrade answers: `status` (0: 400,
 * as Node) with the message as a text/html body, and the connection closes. connection_error
 * reports code 4 with the message as its context. 0, or SIO_ECLOSED when aborted; SIO_EINVAL
 * (handle not freed) for a status out of range; otherwise frees the handle. */
SIO_EXTERN int sio_handshake_refuse(sio_handshake_t *handshake, int status, const char *message);

/* Whether a page of `origin` (the request's Origin header, never NULL here: requests without one
 * are not a browser's and always pass) may connect: 1 yes, 0 no. Synchronous (it decides every
 * request's CORS headers too). Set, it replaces sio_engine_options_t.cors_origin and same_origin:
 * a refused origin gets the allow-list's refusal (403 {"code":4,"message":"Forbidden"}), an
 * allowed one is reflected in Access-Control-Allow-Origin with Vary: Origin (and credentials when
 * cors_credentials is set). */
typedef int (*sio_cors_origin_cb)(const char *origin, void *arg);
SIO_EXTERN void sio_engine_set_cors_origin_fn(sio_engine_t *engine, sio_cors_origin_cb cb, void *arg);

/* Response headers an application adds (sio_engine_set_headers_hook). */
typedef struct sio_headers_s sio_headers_t;
/* Adds "name: value" to the response. SIO_EINVAL (nothing added; sio_last_error() says why) for
 * a name that is not an HTTP token or one the server writes itself (Content-Length,
 * Transfer-Encoding, Connection, Upgrade, Sec-WebSocket-Accept), or a value holding CR, LF, NUL or
 * another control character than tab: never a header injection. */
SIO_EXTERN int sio_headers_set(sio_headers_t *headers, const char *name, const char *value);
enum {
  SIO_HEADERS_INITIAL = 0, /* Node's `initial_headers`: the handshake's response only (the first
                              poll's, or the 101 of a WebSocket-only session) */
  SIO_HEADERS_ALL = 1      /* Node's `headers`: every response of a polling request and every 101
                              (after the initial ones on a handshake); not the error responses */
};
typedef void (*sio_headers_cb)(sio_headers_t *headers, const sio_request_info_t *req, void *arg);
SIO_EXTERN void sio_engine_set_headers_hook(sio_engine_t *engine, int which, sio_headers_cb cb,
                                            void *arg);

/* Node's `connection_error` event: a request the engine refused, reported once per refusal with
 * Node's code and message: 0 "Transport unknown", 1 "Session ID unknown", 2 "Bad handshake
 * method", 3 "Bad request", 4 "Forbidden", 5 "Unsupported protocol version". */
typedef struct sio_connection_error_s {
  int code;
  const char *message;          /* the code's message above */
  const char *context;          /* allow_request's refusal message (code 4), else NULL */
  int status;                   /* the HTTP status answered: 400 or 403 (or the refusal's) */
  const sio_request_info_t *req; /* borrowed for the call */
} sio_connection_error_t;
typedef void (*sio_connection_error_cb)(const sio_connection_error_t *err, void *arg);
SIO_EXTERN void sio_engine_on_connection_error(sio_engine_t *engine, sio_connection_error_cb cb,
                                               void *arg);

/* ---------------------------------------------------------------------------------------------- */
/* Socket.IO: a server at a path of a sio_server_t (over its own Engine.IO engine), like Node's    */
/* `socket.io` package. Protocol v5 for Engine.IO v4 clients, v4 for Engine.IO v3 ones            */
/* (socket.io 2.x, weapp.socket.io) when allow_eio3 is set.                                       */
/*                                                                                                */
/* Values are cJSON trees. Binary data inside arguments stands as placeholder objects             */
/* {"_placeholder":true,"num":N} for bufs[N] of the same sio_args_t, at any depth (how the wire    */
/* carries it): a binding replaces its byte strings by placeholders on the way in and puts the    */
/* buffers back on the way out.                                                                    */

typedef struct sio_io_s sio_io_t;         /* the Socket.IO server */
typedef struct sio_nsp_s sio_nsp_t;       /* a namespace ("/", "/chat", a dynamic child) */
typedef struct sio_socket_s sio_socket_t; /* one client in one namespace */

typedef struct sio_buf_s {
  const char *data;
  size_t len;
} sio_buf_t;

/* Arguments of an event or an acknowledgement. Borrowed wherever the API takes or gives one.
 * Strings (values, object keys, event names) are UTF-8 with two additions that keep every JSON
 * string losslessly, in byte forms that are never valid UTF-8 otherwise:
 *   - a NUL character is held as the two bytes C0 80 (cJSON strings end at a NUL): received
 *     "\u0000" arrives so, and C0 80 is sent as "\u0000";
 *   - a UTF-16 surrogate without its partner (JSON.stringify's "\ud83d" for a string cut inside an
 *     emoji) is held as its three-byte form ED A0..BF xx (WTF-8), and sent as the same escape. */
typedef struct sio_args_s {
  const cJSON *json;    /* a JSON array of the arguments; NULL means none */
  const sio_buf_t *bufs; /* the binary attachments the placeholders refer to */
  size_t nbufs;
} sio_args_t;

/* ---- values, for bindings: the rules a language binding follows, kept here once ---- */

/* The deepest nesting an argument value may have (a top-level array or object is 1): deeper is a
 * parse error on the wire and SIO_EINVAL when emitting. */
#define SIO_MAX_DEPTH 64

/* The attachment `item` stands for: a->bufs[N] when item is a placeholder object
 * {"_placeholder":true,"num":N} with N an integer below a->nbufs, else NULL (also for a NULL a).
 * Borrowed from a. How a binding puts binary back into the values it converts. */
SIO_EXTERN const sio_buf_t *sio_args_attachment(const sio_args_t *a, const cJSON *item);
/* A new placeholder object {"_placeholder":true,"num":num} for attachment `num` (the caller owns
 * it, or adds it to a tree); NULL on ENOMEM. How a binding puts its byte strings into values. */
SIO_EXTERN cJSON *sio_args_placeholder(size_t num);

/* Strings between a binding's text (UTF-8, NUL bytes and lone surrogates as their three bytes
 * allowed) and the core's form (see sio_args_t: NUL as C0 80):
 * - sio_str_valid: 1 when text[0..len) may be sent as a string: UTF-8, where NUL is a character
 *   and a lone UTF-16 surrogate may stand in its three-byte form ED A0..BF xx (as received); never
 *   C0 80 or other overlong forms. A binding refuses what is not (or sends it as binary).
 * - sio_str_to_core: writes the core form of text[0..len) into out, which has room for
 *   sio_str_core_len(text, len) + 1 bytes, NUL-terminated; returns its length.
 * - sio_str_from_core: writes the text a core string stands for into out (strlen(core) bytes
 *   suffice; not NUL-terminated); returns its length. */
SIO_EXTERN int sio_str_valid(const char *text, size_t len);
SIO_EXTERN size_t sio_str_core_len(const char *text, size_t len);
SIO_EXTERN size_t sio_str_to_core(const char *text, size_t len, char *out);
SIO_EXTERN size_t sio_str_from_core(const char *core, char *out);

/* 1 when a JSON number should reach a language as an integer: integral and within +-2^53 (beyond
 * it a double no longer holds every integer, so it stays a float, as JavaScript has it). */
SIO_EXTERN int sio_number_is_int(double d);

/* 1 when `name` may not be emitted to a socket (nor received from one): "connect",
 * "connect_error", "disconnect", "disconnecting", "newListener", "removeListener"; with
 * server_side, when it may not be a server-side event (Node's serverSideEmit): "connect",
 * "connection", "new_namespace". The emit functions refuse such a name with SIO_ERESERVED. */
SIO_EXTERN int sio_event_reserved(const char *name, int server_side);

/* Emit flags. */
enum {
  SIO_EMIT_VOLATILE = 1, /* dropped for a recipient whose transport is not writable right now */
  /* Node's compress(true), the default: harmless, and carried as "compress": true to other
   * nodes by the cluster adapter. */
  SIO_EMIT_COMPRESS = 2,
  SIO_EMIT_LOCAL = 4,      /* this node only (matters with a cluster adapter) */
  /* Node's compress(false): never permessage-deflated, whatever its size (wins over
   * SIO_EMIT_COMPRESS); carried as "compress": false to other nodes. */
  SIO_EMIT_NO_COMPRESS = 8
};

typedef struct sio_io_options_s {
  size_t size; /* sizeof this struct, set by the _init function (see "Options" above) */
  sio_engine_options_t engine; /* engine.path defaults to "/socket.io/" here */
  /* An Engine.IO session that has joined no namespace within this is closed; default 45000, at
   * most 2^31 - 1 (24.8 days: a longer one is taken as that). (Engine.IO v3 clients are joined to
   * "/" at once, so it does not apply to them.) */
  uint32_t connect_timeout_ms;
  /* Binary attachments one incoming packet may announce (more closes the connection, as the
   * reference's maxAttachments); default (and 0) 10, at most 1000. */
  size_t max_attachments;
  /* Strings in values: see sio_args_t (NUL as C0 80, a lone surrogate as WTF-8); bindings convert. */
  /* serveClient: a directory holding socket.io-client's dist/ files (the npm package
   * socket.io-client, dist/). When set, <path>socket.io.js, socket.io.min.js, socket.io.esm.min.js,
   * socket.io.msgpack.min.js and their .map files are served from it to GET and HEAD requests
   * without an EIO query (application/javascript, maps application/json; Cache-Control "public,
   * max-age=0", a weak ETag from size and mtime and the 304s of static files); every other request
   * at the path is the engine's. NULL (the default): not served. Copied; resolved with realpath()
   * by sio_io_new(), which fails as sio_server_static() does when it is not a directory. */
  const char *client_dir;
  /* The wire format of Socket.IO packets (added after client_dir: a caller compiled before it
   * passes a shorter struct and gets SIO_PARSER_JSON). SIO_PARSER_JSON (0, the default):
   * socket.io-parser, text messages plus binary attachments. SIO_PARSER_MSGPACK: npm
   * socket.io-msgpack-parser, each packet one binary message holding the msgpack map
   * {type, data, nsp, id}, binary inline as msgpack bin at any depth (no attachments); a text
   * message or a packet it refuses (not a map, trailing bytes, a field of the wrong type, a type
   * above 4, binary in a CONNECT, containers nested deeper than msgpack-c's 32 levels) closes the
   * connection with "parse error", as a bad packet does with JSON. Every client of the server
   * must use that parser: a JSON client's text CONNECT closes its connection. Numbers go out as
   * notepack.io writes a JS number (integral values in the smallest int form, -0 as 0, others
   * float64; NaN and infinities too, where JSON would write null); int, uint and float32/64 are
   * read. Events reach the callbacks exactly as with JSON (binary as sio_args_t bufs). Needs
   * msgpack-c at build time: without it sio_io_new() fails with UV_ENOSYS; any other value is
   * SIO_EINVAL. socket.io 2.x clients (socket.io-msgpack-parser 2.x, another dialect) fare as
   * with Node: joined to "/", but their binary events and namespace CONNECTs close them. */
  int parser;
  /* Node's connectionStateRecovery (added after the fields above: a caller built against an older
   * sio.h gets it off). When on: the CONNECT reply carries a private session id "pid" (random,
   * 120 bits); every event that is neither volatile nor awaiting an ack (sio_socket_emit and
   * sio_nsp_emit alike, to every client version, as Node) carries its offset, a decimal string, as
   * one extra last argument, and is kept (shared, not copied) with the rooms it targeted; a socket
   * that goes away for a recoverable reason ("transport close", "transport error", "ping
   * timeout", "forced close", "server shutting down", as Node's; never a namespace disconnect)
   * is kept as {id, pid, rooms, data (sio_io_on_socket_data)}; a v5 client whose CONNECT auth
   * carries that "pid" and an "offset" still kept comes back as the same socket: same id, its
   * rooms joined again, the events it missed written in order before the CONNECT reply, and
   * sio_socket_recovered() 1. An unknown or expired pid, or an offset no longer kept: a fresh
   * socket, as Node's. Kept per namespace, on this node only (a cluster adapter does not share
   * sessions: a client comes back recovered only to the node that kept it, and only the events
   * emitted on that node are kept there). */
  struct {
    int enabled;                      /* default 0 */
    /* Node's maxDisconnectionDuration: sessions and packets are kept this long; default 120000. */
    uint32_t max_disconnection_duration_ms;
    /* Node's skipMiddlewares: a recovered socket connects without running them; default 1. */
    int skip_middlewares;
    /* The most bytes one namespace keeps (packets' payloads, sessions' rooms and data, and an
     * accounted overhead each: see sio_nsp_recovery_stats); default 32 MiB, 0 no cap. Past it
     * the oldest packets and sessions go first; a session whose offset went is no longer
     * recoverable (its client comes back fresh, as after max_disconnection_duration_ms). */
    size_t max_bytes;
  } connection_state_recovery;
} sio_io_options_t;

enum { SIO_PARSER_JSON = 0, SIO_PARSER_MSGPACK = 1 };

SIO_EXTERN void sio_io_options_init(sio_io_options_t *opts);

/* Attaches a Socket.IO server to `server` (opts copied; NULL: defaults). The namespace "/" exists
 * from the start. Closed and freed with its server: on shutdown every socket is sent a
 * DISCONNECT and sees the reason "server shutting down". SIO_EEXIST when the path is taken. */
SIO_EXTERN int sio_io_new(sio_server_t *server, const sio_io_options_t *opts, sio_io_t **out);
SIO_EXTERN sio_engine_t *sio_io_engine(const sio_io_t *io);
SIO_EXTERN void *sio_io_get_data(const sio_io_t *io);
SIO_EXTERN void sio_io_set_data(sio_io_t *io, void *data);

/* ---- namespaces ---- */

typedef void (*sio_connection_cb)(sio_nsp_t *nsp, sio_socket_t *socket);
/* An incoming event. `event` and `args` are borrowed for the call. `ack_id` is the client's
 * acknowledgement id, -1 when it asked for none: answer once with sio_socket_ack(), now or later. */
typedef void (*sio_event_cb)(sio_socket_t *socket, const char *event, const sio_args_t *args,
                             int64_t ack_id);
/* An event leaving for `socket` (catch-all outgoing listener), before it is written. */
typedef void (*sio_outgoing_cb)(sio_socket_t *socket, const char *event, const sio_args_t *args);
/* `reason`: "client namespace disconnect", "server namespace disconnect", "transport close",
 * "transport error", "ping timeout", "parse error", "forced close", "server shutting down". */
typedef void (*sio_disconnect_cb)(sio_socket_t *socket, const char *reason);
/* An event from another node of the cluster: its sio_nsp_server_emit(), or Node's
 * io.of(nsp).serverSideEmit(). `event` and `args` (JSON only) are borrowed for the call.
 * `reply_id` is NULL unless the sender waits for an answer: then answer once with
 * sio_nsp_server_reply(), now or later (copy the id to answer later). */
typedef void (*sio_server_event_cb)(sio_nsp_t *nsp, const char *event, const sio_args_t *args,
                                    const char *reply_id);

typedef struct sio_nsp_callbacks_s {
  sio_connection_cb on_connection;
  sio_event_cb on_event;              /* every incoming event (the catch-all) */
  sio_outgoing_cb on_outgoing;        /* may be NULL */
  sio_disconnect_cb on_disconnecting; /* the socket still has its rooms; may be NULL */
  sio_disconnect_cb on_disconnect;    /* the last call with this socket handle */
  sio_server_event_cb on_server_event; /* events from other nodes (cluster); may be NULL */
} sio_nsp_callbacks_t;

/* The namespace `name` ("/chat"; a missing leading '/' is added), created when absent. Borrowed;
 * lives as long as the server. */
SIO_EXTERN int sio_io_of(sio_io_t *io, const char *name, sio_nsp_t **out);

/* Decides whether an unknown namespace may be created, seeing the client's auth (borrowed): 1 yes. */
typedef int (*sio_nsp_match_cb)(sio_nsp_t *parent, const char *name, const cJSON *auth);
/* A parent of dynamic namespaces: an unknown namespace whose name matches the POSIX extended
 * regular expression `regex` (NULL: any name) and, when `match` is set, that it accepts, is created
 * as a child of `*out` on first use. Children share the parent's callbacks and middleware (set on
 * the parent); a broadcast on the parent reaches every child. Parents are tried in creation order.
 * SIO_EINVAL for a bad regex. */
SIO_EXTERN int sio_io_dynamic(sio_io_t *io, const char *regex, sio_nsp_match_cb match, sio_nsp_t **out);

/* cbs copied. On a parent, applies to its children. */
SIO_EXTERN void sio_nsp_set_callbacks(sio_nsp_t *nsp, const sio_nsp_callbacks_t *cbs);
SIO_EXTERN const char *sio_nsp_name(const sio_nsp_t *nsp);
/* The dynamic parent of a child namespace, else NULL. */
SIO_EXTERN sio_nsp_t *sio_nsp_parent(const sio_nsp_t *nsp);
SIO_EXTERN sio_io_t *sio_nsp_io(const sio_nsp_t *nsp);
SIO_EXTERN void *sio_nsp_get_data(const sio_nsp_t *nsp);
SIO_EXTERN void sio_nsp_set_data(sio_nsp_t *nsp, void *data);
/* The socket of the namespace with that id (borrowed), or NULL. Not for a parent. */
SIO_EXTERN sio_socket_t *sio_nsp_socket(const sio_nsp_t *nsp, const char *id);
/* Sockets connected to the namespace on this node (all children's for a parent). */
SIO_EXTERN size_t sio_nsp_socket_count(const sio_nsp_t *nsp);

/* Connect middleware, run in the order added for every socket connecting to the namespace. It must
 * eventually call sio_socket_next() (go on) or sio_socket_refuse() exactly once, now or later; the
 * socket handle stays valid until then even if the client leaves or the server closes meanwhile
 * (then the call just releases it; the server's memory is released after the last such call). */
typedef void (*sio_middleware_cb)(sio_socket_t *socket, void *arg);
SIO_EXTERN int sio_nsp_use(sio_nsp_t *nsp, sio_middleware_cb cb, void *arg);
SIO_EXTERN void sio_socket_next(sio_socket_t *socket);
/* Refuses the connection with CONNECT_ERROR {"message": message, "data": data} (data borrowed,
 * may be NULL). Engine.IO v3 clients get `data`, or else `message`, bare (the v4 ERROR shape). */
SIO_EXTERN void sio_socket_refuse(sio_socket_t *socket, const char *message, const cJSON *data);

/* ---- sockets ---- */
/* A socket handle is valid from the middleware (or on_connection) until on_disconnect returns. */

/* The reference's ids: a new random id for v5 clients; for v4 (EIO3) ones the Engine.IO id in "/"
 * and "/nsp#<engine id>" elsewhere. */
SIO_EXTERN const char *sio_socket_id(const sio_socket_t *socket);
SIO_EXTERN sio_nsp_t *sio_socket_nsp(const sio_socket_t *socket);
/* The Engine.IO session: its sio_session_request() is the handshake (headers, query, address,
 * time, url, secure). */
SIO_EXTERN sio_session_t *sio_socket_session(const sio_socket_t *socket);
/* The CONNECT auth payload (v4 clients: the namespace's query as an object); never NULL: {} when
 * the client sent none, as Node's socket.handshake.auth (and sio_socket_handshake's "auth"). */
SIO_EXTERN const cJSON *sio_socket_auth(const sio_socket_t *socket);
/* 1 when the client's CONNECT carried an auth payload, {} included ("40{}", socket.io-client's
 * `auth: {}`), 0 when it carried none ("40"; v4 clients: a namespace without a query). Neither
 * reference tells them apart (Node's handshake.auth is {} for both, python-socketio's handler
 * gets None for both); this is for an application that must. */
SIO_EXTERN int sio_socket_auth_sent(const sio_socket_t *socket);
/* Connection state recovery (sio_io_options_t.connection_state_recovery): 1 when this socket is a
 * restored one (Node's socket.recovered; already in the middleware), 0 otherwise. */
SIO_EXTERN int sio_socket_recovered(const sio_socket_t *socket);
/* A recovered socket's data as it was kept when it went away (what sio_io_on_socket_data gave
 * then; {} when nothing), borrowed for the socket's life; NULL when the socket is not recovered.
 * How a binding gives Node's socket.data back. */
SIO_EXTERN const cJSON *sio_socket_recovered_data(const sio_socket_t *socket);
/* The private session id sent in the CONNECT reply ("pid"), NULL when recovery is off or for a v4
 * (EIO3) client. */
SIO_EXTERN const char *sio_socket_pid(const sio_socket_t *socket);
/* The handshake as Node's socket.handshake has it, in a new object the caller deletes: {"headers"
 * (lower-case names; the first of a repeated header), "time" (as JavaScript's Date.toString()),
 * "address", "xdomain" (an Origin header came), "secure", "issued" (ms since the epoch), "url",
 * "query" (percent-decoded; a repeated key: the last value), "auth"}. NULL on ENOMEM. */
SIO_EXTERN cJSON *sio_socket_handshake(const sio_socket_t *socket);
SIO_EXTERN int sio_socket_connected(const sio_socket_t *socket);
SIO_EXTERN void *sio_socket_get_data(const sio_socket_t *socket);
SIO_EXTERN void sio_socket_set_data(sio_socket_t *socket, void *data);

/* Rooms (names copied). Every socket is in the room named by its id, from the start. */
SIO_EXTERN int sio_socket_join(sio_socket_t *socket, const char *room);
SIO_EXTERN int sio_socket_leave(sio_socket_t *socket, const char *room);
/* Room i (0: the socket's own id, then in join order); NULL past the end. Borrowed until the
 * socket leaves it. */
SIO_EXTERN const char *sio_socket_room(const sio_socket_t *socket, size_t i);
SIO_EXTERN size_t sio_socket_room_count(const sio_socket_t *socket);

/* Called once with the client's answer (status 0, args borrowed for the call), SIO_ETIMEDOUT
 * (args NULL) when timeout_ms passed first, or SIO_ECLOSED when the socket disconnected first. */
typedef void (*sio_ack_cb)(sio_socket_t *socket, int status, const sio_args_t *args, void *arg);

/* Emits `event` with args to one socket. SIO_ERESERVED for a reserved name
 * (sio_event_reserved()); SIO_EINVAL for args nested deeper than SIO_MAX_DEPTH or holding more
 * than 1000 attachments; SIO_ECLOSED once disconnected. A volatile emit that is dropped still
 * returns 0. */
SIO_EXTERN int sio_socket_emit(sio_socket_t *socket, const char *event, const sio_args_t *args, int flags);
/* The same, asking for an acknowledgement: cb runs once (timeout_ms 0: no timeout). */
SIO_EXTERN int sio_socket_emit_ack(sio_socket_t *socket, const char *event, const sio_args_t *args, int flags,
                                   uint32_t timeout_ms, sio_ack_cb cb, void *arg);
/* Answers the client's ack_id (from sio_event_cb). Nothing stops a second answer to the same id:
 * a binding that hands the answer to application code uses a sio_ack_t instead. */
SIO_EXTERN int sio_socket_ack(sio_socket_t *socket, int64_t ack_id, const sio_args_t *args);

/* An acknowledgement the client asked for, as a handle that application code may keep and call
 * (a binding's ack function): it answers once, and may outlive its socket. */
typedef struct sio_ack_s sio_ack_t;
/* A new handle for the client's ack_id (from sio_event_cb), owned by the caller until
 * sio_ack_free(); NULL for ack_id < 0 or on ENOMEM. */
SIO_EXTERN sio_ack_t *sio_socket_ack_handle(sio_socket_t *socket, int64_t ack_id);
/* Answers: 0; SIO_EALREADY when this handle answered before (nothing is sent twice); SIO_ECLOSED
 * when its socket has disconnected; else as sio_socket_ack() (an error there does not count as an
 * answer, so a corrected call may follow). */
SIO_EXTERN int sio_ack_send(sio_ack_t *ack, const sio_args_t *args);
/* 1 once answered, or once its socket has disconnected: nothing more can be sent. */
SIO_EXTERN int sio_ack_done(const sio_ack_t *ack);
/* Releases the handle (unanswered is fine: the client's ack then never comes, as in Node). */
SIO_EXTERN void sio_ack_free(sio_ack_t *ack);
/* Disconnects the socket from its namespace (sends DISCONNECT; reason "server namespace
 * disconnect"), or with close=1 the whole Engine.IO connection with every namespace on it. */
SIO_EXTERN void sio_socket_disconnect(sio_socket_t *socket, int close);

/* ---- per-socket catch-alls and packet middleware (Node's onAny family and socket.use) ---- */

/* A catch-all listener: every event this socket receives (incoming), or every event leaving for
 * it (outgoing: its own emits and the broadcasts that reach it; not acknowledgements), with
 * `event` and `args` borrowed for the call. Incoming ones run as each EVENT packet arrives, before
 * the packet middleware (so they also see the events a middleware then rejects), as Node's
 * onAny; they get no ack id (the event's handler answers). */
typedef void (*sio_any_cb)(sio_socket_t *socket, const char *event, const sio_args_t *args, void *arg);

enum {
  SIO_ANY_OUTGOING = 1, /* the outgoing list (onAnyOutgoing); else the incoming one (onAny) */
  SIO_ANY_PREPEND = 2   /* sio_socket_on_any: first instead of last (prependAny) */
};

/* Adds (cb, arg) to the socket's incoming or outgoing list: last, or first with SIO_ANY_PREPEND.
 * The same pair may be added twice (it then runs twice). Listeners run in list order on a copy of
 * the list, so those a listener adds or removes take effect from the next event, as in Node.
 * Allowed from the connect middleware on; SIO_ECLOSED once the socket is disconnecting. */
SIO_EXTERN int sio_socket_on_any(sio_socket_t *socket, int flags, sio_any_cb cb, void *arg);
/* Removes the first entry equal to (cb, arg) from the list `flags` names, or with cb NULL every
 * entry of it (offAny()). Returns how many entries were removed. */
SIO_EXTERN size_t sio_socket_off_any(sio_socket_t *socket, int flags, sio_any_cb cb, void *arg);
/* listenersAny(): the list's length; with i below it, *cb and *arg (either may be NULL) get
 * entry i. */
SIO_EXTERN size_t sio_socket_listeners_any(const sio_socket_t *socket, int flags, size_t i, sio_any_cb *cb,
                                           void **arg);

/* An incoming event on its way through the socket's packet middleware (Node's socket.use). */
typedef struct sio_incoming_s sio_incoming_t;
/* A packet middleware: it must call sio_incoming_next() exactly once, now or later (the handle
 * stays valid until then, even when the socket disconnects meanwhile). */
typedef void (*sio_packet_mw_cb)(sio_socket_t *socket, sio_incoming_t *in, void *arg);
/* Adds a middleware run, in the order added, on every EVENT the socket receives before it is
 * dispatched to the namespace's on_event. Each event runs the chain as it was when it arrived.
 * SIO_ECLOSED once the socket is disconnecting; SIO_ENOMEM. */
SIO_EXTERN int sio_socket_use(sio_socket_t *socket, sio_packet_mw_cb cb, void *arg);
SIO_EXTERN const char *sio_incoming_event(const sio_incoming_t *in);
/* The arguments: a JSON array the middleware may change in place (Node's middleware gets the
 * packet's array by reference): what reaches on_event is what it holds when the chain ends.
 * Placeholders refer to sio_incoming_bufs(). */
SIO_EXTERN cJSON *sio_incoming_args(sio_incoming_t *in);
SIO_EXTERN const sio_buf_t *sio_incoming_bufs(const sio_incoming_t *in, size_t *nbufs);
/* The client's ack id, -1 when it asked for none. */
SIO_EXTERN int64_t sio_incoming_ack_id(const sio_incoming_t *in);
/* Goes on: err NULL runs the next middleware, or after the last one dispatches the event to
 * on_event. err non-NULL (borrowed) ends the chain: the event is dropped and on_event gets the
 * event "error" with args [err] and no ack id instead, as Node emits "error" on the server-side
 * socket (socket.on("error", ...)); the client is sent nothing (the application may emit
 * something, or disconnect it, from there). Once the socket has disconnected, the event (or the
 * error) is dropped. Releases `in`. */
SIO_EXTERN void sio_incoming_next(sio_incoming_t *in, const cJSON *err);

/* ---- broadcasting and selections ---- */

/* Who receives a broadcast: the sockets in any of `rooms` (none: the whole namespace) but in none
 * of `except` (a socket id is a room: except the sender with its id). Borrowed. */
typedef struct sio_target_s {
  const char *const *rooms;
  size_t nrooms;
  const char *const *except;
  size_t nexcept;
  int flags; /* SIO_EMIT_* */
} sio_target_t;

/* Emits to every targeted socket (NULL target: the whole namespace). The packet, and its
 * WebSocket frames, are encoded once for all recipients. With a cluster, SIO_ENOMEM also when
 * the message to the other nodes could not be made (this node's sockets got it; nothing was
 * published). */
SIO_EXTERN int sio_nsp_emit(sio_nsp_t *nsp, const sio_target_t *to, const char *event, const sio_args_t *args);

/* Called once when every recipient answered (status 0) or timeout_ms passed (SIO_ETIMEDOUT, with
 * the answers that came; timeout_ms 0: no timeout, wait for all, as everywhere in this API), or the
 * server shut down first (SIO_ECLOSED). `responses->json` is an array with each recipient's first
 * ack argument, in arrival order; placeholders in it index responses->bufs. Borrowed for the
 * call. */
typedef void (*sio_broadcast_ack_cb)(sio_nsp_t *nsp, int status, const sio_args_t *responses,
                                     void *arg);
SIO_EXTERN int sio_nsp_emit_ack(sio_nsp_t *nsp, const sio_target_t *to, const char *event,
                                const sio_args_t *args, uint32_t timeout_ms, sio_broadcast_ack_cb cb,
                                void *arg);

/* Calls cb for every targeted socket (flags ignored) until it returns non-zero. The callback may
 * join, leave or disconnect the socket it is given. Returns how many were visited. */
typedef int (*sio_socket_iter_cb)(sio_socket_t *socket, void *arg);
SIO_EXTERN size_t sio_nsp_each(sio_nsp_t *nsp, const sio_target_t *to, sio_socket_iter_cb cb, void *arg);
/* Selections: the targeted sockets join or leave `room`, or are disconnected. With a cluster,
 * join and leave say SIO_ENOMEM when the request to the other nodes could not be made (done here
 * all the same; nothing was published: never a request with part of its target). */
SIO_EXTERN int sio_nsp_join(sio_nsp_t *nsp, const sio_target_t *to, const char *room);
SIO_EXTERN int sio_nsp_leave(sio_nsp_t *nsp, const sio_target_t *to, const char *room);
SIO_EXTERN void sio_nsp_disconnect(sio_nsp_t *nsp, const sio_target_t *to, int close);


/* ---------------------------------------------------------------------------------------------- */
/* Cluster: several servers (sio or Node's socket.io) sharing broadcasts through Redis, wire-      */
/* compatible with Node's @socket.io/redis-adapter 8.3 (classic pub/sub, msgpack). Every          */
/* namespace gets an adapter of its own (a random 6-character uid, as Node's) over two Redis     */
/* connections shared by the io: one publishes, one subscribes. Local rooms stay in memory.      */
/* A broadcast without SIO_EMIT_LOCAL is delivered here and published to the other nodes;       */
/* messages from them are delivered to this node's sockets only (never re-published).            */
/* With a cluster, these reach every node: sio_nsp_emit, sio_nsp_emit_ack (each node reports how */
/* many of its sockets were asked, then relays their answers), sio_nsp_join/leave/disconnect,   */
/* and the requests below. Node's nodes and @socket.io/redis-emitter messages are understood.   */
/* Redis going away never stops the server: each connection that fails or is lost retries with */
/* backoff (100 ms doubling to 5 s, jittered; an attempt is given 5 s), the subscriber           */
/* subscribing every namespace again once back. Meanwhile broadcasts are delivered locally only  */
/* (no error) and cluster requests end with SIO_EUNAVAIL; the outage and its end are logged at    */
/* SIO_LOG_WARN (component "redis"; stderr by default: sio_server_set_log), one record each per    */
/* connection.                                                                                    */

typedef struct sio_redis_options_s {
  size_t size; /* sizeof this struct, set by the _init function (see "Options" above) */
  const char *url;              /* "redis://[[user]:password@]host[:port][/db]"; copied; required */
  const char *key;              /* channel prefix; default (and NULL) "socket.io", as Node's; copied */
  uint32_t requests_timeout_ms; /* how long cluster requests wait for other nodes; default 5000 */
  /* 0 (default): the classic adapter above. 1: @socket.io/redis-adapter 8.3's sharded adapter
   * (createShardedAdapter): socket.io-adapter's ClusterAdapter messages over Redis 7's sharded
   * pub/sub (SPUBLISH / SSUBSCRIBE; serverCount by PUBSUB SHARDNUMSUB), on one Redis or on a
   * Redis Cluster (found by itself from the one address in url; MOVED is followed). */
  int sharded;
  /* With sharded, Node's subscriptionMode: SIO_REDIS_SUB_DYNAMIC (default, Node's "dynamic": a
   * channel per room that has members here, socket ids' rooms excepted), SIO_REDIS_SUB_STATIC
   * (two channels per namespace) or SIO_REDIS_SUB_DYNAMIC_PRIVATE (socket ids' rooms too).
   * Another value: SIO_EINVAL. The application ignores SIGPIPE (as any libuv program): these
   * connections write at once. */
  int subscription_mode;
} sio_redis_options_t;

enum { SIO_REDIS_SUB_DYNAMIC = 0, SIO_REDIS_SUB_STATIC = 1, SIO_REDIS_SUB_DYNAMIC_PRIVATE = 2 };

/* Fills in the defaults above (url NULL). */
SIO_EXTERN void sio_redis_options_init(sio_redis_options_t *opts);

/* Clusters every namespace of `io`, those that exist (their rooms are kept) and those created
 * later. The connections are opened asynchronously on the server's loop: a Redis that is down is
 * logged and retried, not an error here. SIO_EINVAL for a bad URL; SIO_EEXIST when called twice;
 * UV_ENOSYS when sio was built without hiredis/msgpack-c (cmake -DSIO_REDIS=OFF). The connections
 * close with the server. */
SIO_EXTERN int sio_io_use_redis(sio_io_t *io, const sio_redis_options_t *opts);

/* The second engine: wire-compatible with Node's @socket.io/redis-streams-adapter 0.3. Broadcasts */
/* and room operations go through a Redis stream (XADD ... MAXLEN ~), which every node reads from  */
/* its last entry id on a connection of its own (XREAD BLOCK): a node whose Redis link blinks, or */
/* whose reader stalls, reads on from where it was and loses nothing Redis kept. Requests that    */
/* wait for answers go over pub/sub (KEY#NSP# and KEY#NSP#UID#), as Node's. With connection state */
/* recovery (sio_io_options_t), sessions live in Redis (SET PX, GETDEL) and offsets are stream   */
/* entry ids: a client cut off from one node recovers on another with every event it missed      */
/* (XRANGE). The cluster requests, outage handling and logging are those of sio_io_use_redis.     */
/* With recovery on, a single socket's emit (neither volatile nor with an ack) goes through the   */
/* stream too (to the socket's own room, as Node's), so its offset is an entry id; a CONNECT with */
/* {pid, offset} is answered once Redis was asked (GETDEL, XRANGE: the session's missed events   */
/* written first), a client whose session or offset is gone, or whose Redis is away, gets a fresh */
/* socket, and a restore that would hold more than 64 MiB of missed events gives one too. The     */
/* sessions of the sockets a shutdown closes are persisted as well (another node may take them). */

typedef struct sio_redis_streams_options_s {
  size_t size;                  /* sizeof this struct, set by the _init function */
  const char *url;              /* as sio_redis_options_t's; copied; required */
  const char *stream_name;      /* default (and NULL) "socket.io"; copied */
  uint32_t stream_count;        /* default 1; more: namespaces spread over NAME-0 .. NAME-(n-1) */
  const char *channel_prefix;   /* pub/sub channels' prefix; default (and NULL) "socket.io" */
  int sharded;                  /* 1: sharded pub/sub (Node's useShardedPubSub); default 0 */
  uint32_t max_len;             /* the stream's MAXLEN ~; default 10000 */
  uint32_t read_count;          /* XREAD COUNT; default 100 */
  uint32_t block_ms;            /* XREAD BLOCK; default 5000 */
  const char *session_key_prefix; /* default (and NULL) "sio:session:"; copied */
  uint32_t requests_timeout_ms; /* default 5000 */
} sio_redis_streams_options_t;

/* Fills in the defaults above (url NULL). */
SIO_EXTERN void sio_redis_streams_options_init(sio_redis_streams_options_t *opts);
/* As sio_io_use_redis, with the streams adapter (SIO_EEXIST when either was called before). */
SIO_EXTERN int sio_io_use_redis_streams(sio_io_t *io, const sio_redis_streams_options_t *opts);

/* Called once with the number of targeted sockets (status 0), SIO_ETIMEDOUT with the sockets
 * counted before requests_timeout_ms passed, SIO_EUNAVAIL when Redis was not connected or was
 * lost first, or SIO_ECLOSED when the server shut down first (count: what was counted so far,
 * this node's included). The requests below may also end with SIO_ENOMEM when an answer could
 * not be kept (with what was kept before it). */
typedef void (*sio_count_cb)(sio_nsp_t *nsp, int status, size_t count, void *arg);
/* The cluster-wide number of targeted sockets (the length of Node's fetchSockets()): this node's
 * plus every other node's answer (`to` borrowed; flags ignored; NULL: the whole namespace).
 * Without a cluster adapter, the local count. `cb` is always called later from the loop, never
 * inside this call; while either Redis connection is down it is called on the loop's next turn
 * with SIO_EUNAVAIL and this node's count. SIO_ECLOSED (no callback) once the server is closing;
 * SIO_EINVAL for a dynamic parent. */
SIO_EXTERN int sio_nsp_fetch_count(sio_nsp_t *nsp, const sio_target_t *to, sio_count_cb cb, void *arg);

/* Node's fetchSockets(): every targeted socket of the cluster (`to` borrowed; flags ignored; NULL:
 * the whole namespace), this node's first, as an array (borrowed for the call) of objects {"id",
 * "handshake": {"headers", "time", "address", "xdomain", "secure", "issued", "url", "query",
 * "auth"}, "rooms", "data"} — the shape the nodes exchange ("data" is Node's socket.data: what the
 * io's sio_socket_data_cb gives for sio's sockets, {} without one). Status, timing and errors as
 * sio_nsp_fetch_count(). */
typedef void (*sio_sockets_cb)(sio_nsp_t *nsp, int status, const cJSON *sockets, void *arg);
SIO_EXTERN int sio_nsp_fetch_sockets(sio_nsp_t *nsp, const sio_target_t *to, sio_sockets_cb cb, void *arg);

/* Node's socket.data, read when a socket is described: for each socket of this node that
 * sio_nsp_fetch_sockets() reports (here, or for another node's request), at that moment. Returns a
 * new JSON value (any type; consumed: the core deletes it) reported as the socket's "data", or
 * NULL for {}. JSON only (a placeholder object is sent as the plain object it is); a value nested
 * deeper than SIO_MAX_DEPTH is replaced by {}. It runs while the core walks the namespace's
 * sockets: it must not emit, join, leave or disconnect. How a binding reports the data its
 * scripts keep (Python's socket.data, Lua's socket.data) without copying it at every change. */
typedef cJSON *(*sio_socket_data_cb)(sio_socket_t *socket, void *arg);
/* Sets the io's data callback (`arg` given back to it; cb NULL: every socket's data is {}). One
 * per io: a later call replaces it. */
SIO_EXTERN void sio_io_on_socket_data(sio_io_t *io, sio_socket_data_cb cb, void *arg);

/* What connection state recovery keeps for the namespace now (each field 0 when it is off). The
 * bytes are those the byte cap counts, close to the heap they hold: a packet's payload plus 256
 * bytes; a session's ids and rooms, 96 bytes per JSON value of its data plus the data's text, and
 * 192 bytes. */
typedef struct sio_nsp_recovery_stats_s {
  size_t packets, sessions;
  size_t packet_bytes, session_bytes;
} sio_nsp_recovery_stats_t;
SIO_EXTERN void sio_nsp_recovery_stats(const sio_nsp_t *nsp, sio_nsp_recovery_stats_t *out);

/* Every room of the namespace across the cluster, each once, in no order (Node's allRooms(); a
 * socket's own id is a room). Without a cluster adapter, this node's rooms. Called once: status
 * 0, or SIO_ETIMEDOUT / SIO_EUNAVAIL / SIO_ECLOSED with the rooms gathered so far; `rooms`
 * borrowed for the call. Timing and errors as sio_nsp_fetch_count(). */
typedef void (*sio_rooms_cb)(sio_nsp_t *nsp, int status, const char *const *rooms, size_t n,
                             void *arg);
SIO_EXTERN int sio_nsp_fetch_rooms(sio_nsp_t *nsp, sio_rooms_cb cb, void *arg);

/* Sends `event` with args (JSON only: SIO_EINVAL with attachments; the wire is JSON text) to the
 * namespace on every other node, whose on_server_event gets it; not to this node (Node's
 * serverSideEmit). SIO_ERESERVED for "connect", "connection" or "new_namespace"
 * (sio_event_reserved(name, 1)); UV_ENOSYS without a cluster adapter (Node throws there too);
 * SIO_EUNAVAIL when Redis is not connected (nothing is kept for later); SIO_ENOMEM (nothing
 * published). */
SIO_EXTERN int sio_nsp_server_emit(sio_nsp_t *nsp, const char *event, const sio_args_t *args);
/* Called once with `responses` (borrowed), an array of each other node's answer (one value per
 * node, null for an answer without one): status 0 when every node subscribed at the time answered,
 * SIO_ETIMEDOUT after requests_timeout_ms with those that came, SIO_EUNAVAIL when Redis was not
 * connected or was lost first, SIO_ECLOSED on shutdown. */
typedef void (*sio_server_ack_cb)(sio_nsp_t *nsp, int status, const cJSON *responses, void *arg);
/* sio_nsp_server_emit waiting for every other node's answer; cb always from the loop. Errors as
 * sio_nsp_fetch_count() (and UV_ENOSYS without a cluster adapter). */
SIO_EXTERN int sio_nsp_server_emit_ack(sio_nsp_t *nsp, const char *event, const sio_args_t *args,
                                       sio_server_ack_cb cb, void *arg);
/* Answers a server-side event (`value` borrowed, JSON; NULL: no value). Once per reply_id.
 * SIO_EUNAVAIL when Redis is not connected; SIO_ENOMEM (nothing published). */
SIO_EXTERN int sio_nsp_server_reply(sio_nsp_t *nsp, const char *reply_id, const cJSON *value);

/* ---- the Admin UI's server side (npm @socket.io/admin-ui 0.5's instrument()) ---- */

enum { SIO_INSTRUMENT_DEVELOPMENT = 0, SIO_INSTRUMENT_PRODUCTION = 1 };

typedef struct sio_instrument_options_s {
  size_t size;             /* sizeof this struct, set by the _init function (see "Options" above) */
  const char *namespace_name; /* default "/admin" */
  /* Basic auth: username and a bcrypt hash ($2a$, $2b$ or $2y$) of the password, checked with
   * libxcrypt's crypt_r off the loop (uv_queue_work) and compared in constant time. Both NULL
   * (the default): no auth. A refused login gets the connect_error "invalid credentials"; a
   * login sends the event "session" with an id that logs the same page in again (auth
   * {sessionId}) as long as the server runs (the last 1024 are kept, in memory). */
  const char *username;
  const char *password_hash;
  int readonly;            /* 1: join, leave, _disconnect and emit are ignored (not advertised) */
  const char *server_id;   /* default the hostname */
  /* DEVELOPMENT (the default): every socket's connect, update (transport upgrade), disconnect,
   * rooms joined and left, and every event received and sent in every other namespace is
   * reported as it happens, and all_sockets is sent to each admin page on connect;
   * PRODUCTION: only server_stats (with the aggregated engine events). */
  int mode;
  uint32_t server_stats_interval_ms; /* default (and 0) 2000 */
} sio_instrument_options_t;

SIO_EXTERN void sio_instrument_options_init(sio_instrument_options_t *opts);
/* Node's instrument(io, opts): makes the namespace opts->namespace_name the Admin UI's (its
 * connection callbacks and middleware are the instrumentation's: do not set your own) and
 * starts server_stats, sent at once then every interval. Options copied. Once per io:
 * SIO_EEXIST the second time; SIO_EINVAL for a password_hash libxcrypt does not take as bcrypt,
 * a username without hash (or the reverse) or an unknown mode. Ends with the io. Sockets that
 * connected before the call are listed (all_sockets) but their events are not reported. */
SIO_EXTERN int sio_io_instrument(sio_io_t *io, const sio_instrument_options_t *opts);
/* ---------------------------------------------------------------------------------------------- */
/* Metrics: counters and gauges the core keeps as it runs (always on: a few integer increments   */
/* on the loop thread per packet), read with sio_io_stats() and served, when asked, as           */
/* Prometheus text (sio_io_serve_metrics). Counters count from sio_io_new() and never go down;    */
/* gauges say how things are now. Index [t] by transport: SIO_STATS_POLLING, SIO_STATS_WEBSOCKET;  */
/* [p] by Engine.IO protocol: SIO_STATS_EIO3, SIO_STATS_EIO4.                                      */

enum { SIO_STATS_POLLING = 0, SIO_STATS_WEBSOCKET = 1 };
enum { SIO_STATS_EIO3 = 0, SIO_STATS_EIO4 = 1 };

typedef struct sio_stats_s {
  size_t size; /* the caller sets sizeof(sio_stats_t); fields are only ever added at the end */
  /* gauges */
  uint64_t sessions[2][2];   /* open Engine.IO sessions by [transport][protocol] */
  uint64_t sockets;          /* connected sockets, every namespace (per namespace: below) */
  int redis_up;              /* -1 no Redis adapter; 0 a connection is down; 1 both are up */
  /* counters: Engine.IO */
  uint64_t handshakes;       /* sessions opened */
  uint64_t refused[6];       /* handshakes and requests refused, by Engine.IO error code 0..5
                              * (unknown transport, unknown sid, bad handshake method, bad
                              * request, forbidden, unsupported protocol version) */
  uint64_t upgrades;         /* polling sessions upgraded to WebSocket */
  uint64_t packets_in[2], packets_out[2]; /* Engine.IO packets by transport (pings included) */
  uint64_t bytes_in[2], bytes_out[2];     /* their bytes: WebSocket message payloads, polling
                                           * POST bodies and poll response bodies (uncompressed) */
  uint64_t max_buffered_closes; /* sessions closed by the max_buffered bound */
  /* counters: the HTTP server under the io (shared by every io of that server) */
  uint64_t tls_handshakes, tls_failures; /* TLS handshakes completed, and failed */
  uint64_t deflate_negotiated;           /* WebSockets that agreed on permessage-deflate */
  /* counters: Socket.IO */
  uint64_t connections;      /* sockets connected (a namespace CONNECT accepted) */
  uint64_t broadcasts;       /* sio_nsp_emit / sio_nsp_emit_ack calls (one per call, any count of
                              * recipients; a dynamic parent's counts once) */
  uint64_t acks_sent;        /* events sent awaiting an ack (per recipient of a broadcast) */
  uint64_t acks_answered;    /* of those, answered by the client */
  uint64_t acks_timed_out;   /* of those, not answered in time (sio_socket_emit_ack's timeout;
                              * a broadcast's timeout counts each recipient still waiting) */
  uint64_t acks_replied;     /* answers the server sent to the client's acks (sio_socket_ack) */
  /* counters: Redis (sio_io_use_redis) */
  uint64_t redis_published;  /* PUBLISH commands sent */
  uint64_t redis_received;   /* messages received on the subscriptions */
} sio_stats_t;

/* Fills *out (out->size set by the caller: an older caller's shorter struct gets what it holds).
 * 0, or SIO_EINVAL for a NULL io or out, or a size this library cannot read. Walks the sessions
 * and namespaces (O(sessions)): for scrapes, not for every packet. */
SIO_EXTERN int sio_io_stats(const sio_io_t *io, sio_stats_t *out);
/* Namespace i (0, 1, ...: every namespace the io holds, static ones and dynamic children, in no
 * set order; not the dynamic parents) with its connected socket count: 0, or SIO_ENOTFOUND
 * past the end. `*name` is borrowed (valid while the namespace lives). */
SIO_EXTERN int sio_io_nsp_stats(const sio_io_t *io, size_t i, const char **name, size_t *sockets);
/* The Prometheus text exposition (format 0.0.4) of the io's stats: every metric named sio_...,
 * counters ending _total, with # HELP and # TYPE lines; labels transport="polling|websocket",
 * protocol="3|4", reason="0".."5", namespace="/chat" (label values escaped as the format says:
 * backslash, double quote and newline). *out is a new NUL-terminated string (*len its length,
 * len may be NULL) the caller frees with free(). 0, SIO_EINVAL or SIO_ENOMEM. */
SIO_EXTERN int sio_io_metrics_text(const sio_io_t *io, char **out, size_t *len);
/* Serves sio_io_metrics_text() at `path` (exactly; copied) of the io's server, through a
 * sio_server_handler: GET and HEAD get 200 with Content-Type
 * "text/plain; version=0.0.4; charset=utf-8", other methods 405 (with Allow: GET, HEAD), a longer
 * path under it 404. Off until called: nothing is built until a scrape comes. Errors as
 * sio_server_handler() (SIO_EEXIST for a path taken, SIO_EINVAL for a bad one). */
SIO_EXTERN int sio_io_serve_metrics(sio_io_t *io, const char *path);


/* ---------------------------------------------------------------------------------------------- */
/* Workers: every core in one process                                                             */
/* N event loops, one thread each, each with its own server(s), listener and sessions, all on    */
/* the same host:port (SO_REUSEPORT: the kernel spreads new connections over the workers). A     */
/* worker's Engine.IO session ids name the worker, and a polling request or a WebSocket upgrade  */
/* that lands on a worker that does not own its sid is handed, connection and bytes already     */
/* read, to the owner's loop. Every io of a worker joins the group's in-process adapter (unless  */
/* it uses Redis, where Redis is the bus): broadcasts, rooms, acks, fetchSockets, serverSideEmit */
/* and counts span the workers as they span Node cluster nodes, a broadcast encoded once and     */
/* shared by reference. Each worker runs its own handlers on its own thread: a worker's handles  */
/* (servers, ios, namespaces, sockets) must only be used on that worker's thread.                */

typedef struct sio_workers_s sio_workers_t;

/* Builds worker `index` (0..n-1) on its own thread and loop, before that loop runs: create the
 * server(s) with sio_server_new(loop, ...), join each to the group with sio_server_set_workers()
 * BEFORE it listens, add engines / ios / handlers, listen (every worker on the same host:port).
 * Worker 0 is built on the caller's thread inside sio_workers_start(), the others on their
 * threads, one at a time in index order. Return 0, or a negative error: sio_workers_start() then
 * stops the workers already built and returns that error. */
typedef int (*sio_worker_setup_cb)(sio_workers_t *workers, unsigned index, uv_loop_t *loop, void *arg);
/* Called on worker `index`'s thread when sio_workers_stop() reaches it, before its servers close:
 * to close what setup made besides the servers (timers, signal handles, scripting states).
 * May be NULL. */
typedef void (*sio_worker_stop_cb)(sio_workers_t *workers, unsigned index, uv_loop_t *loop, void *arg);
typedef void (*sio_workers_stopped_cb)(sio_workers_t *workers);

typedef struct sio_workers_options_s {
  size_t size;                  /* sizeof this struct, set by the _init function */
  unsigned count;               /* workers, 1..64; default 1 (a plain server, no threads) */
  sio_worker_setup_cb setup;    /* required */
  sio_worker_stop_cb stop;      /* optional */
  void *arg;                    /* passed to setup and stop */
} sio_workers_options_t;

SIO_EXTERN void sio_workers_options_init(sio_workers_options_t *opts);
/* Creates the group with worker 0 on `loop` (the caller's, borrowed; the caller runs it with
 * uv_run as for a single server) and starts threads with their own loops for workers 1..n-1;
 * returns once every worker's setup has returned (so every listener is bound). `opts` copied.
 * 0 and *out, or SIO_EINVAL, SIO_ENOMEM, a libuv error, or the first setup's error. */
SIO_EXTERN int sio_workers_start(uv_loop_t *loop, const sio_workers_options_t *opts, sio_workers_t **out);
SIO_EXTERN unsigned sio_workers_count(const sio_workers_t *workers);
/* The index of the worker whose thread calls this, or -1 on any other thread. */
SIO_EXTERN int sio_workers_current(const sio_workers_t *workers);
/* Makes `server` worker `index`'s (index = the worker whose setup is running): its listeners use
 * SO_REUSEPORT, its engines' sids name the worker, requests for other workers' sids are handed to
 * them, and every io made on it joins the in-process adapter. SIO_EINVAL when already listening,
 * or when index is out of range. */
SIO_EXTERN int sio_server_set_workers(sio_server_t *server, sio_workers_t *workers, unsigned index);
/* Stops the group (callable only on worker 0's thread, e.g. from a signal handle on `loop`): each
 * worker's stop callback, then its servers close as sio_server_close() does; the threads are
 * joined; then `cb` (may be NULL) on worker 0's loop, after which the group is freed. Idempotent. */
SIO_EXTERN void sio_workers_stop(sio_workers_t *workers, sio_workers_stopped_cb cb);

#ifdef __cplusplus
}
#endif
#endif /* SIO_H */
