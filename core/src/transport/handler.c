/* Application handlers (sio_server_handler in sio.h): the plain HTTP requests no engine and no
 * static mount claims, handed to the application as a request handle it answers once, now or
 * later. The handle holds its own copy of the request (the parser's storage goes on to the next
 * request, or away with the connection), so it may outlive its connection. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "opts.h"
#include "sbuf.h"
#include "transport/transport.h"
#include "url.h"

#define DEFAULT_MAX_BODY (1024 * 1024)

typedef struct handler {
  sio_route_t route; /* first: the server sees the handler as its route */
  char *prefix;
  sio_http_handler_cb cb;
  void *arg;
  size_t max_body;
} handler_t;

struct sio_http_req_s {
  sio_conn_t *conn; /* NULL once the response can no longer be sent */
  sio_http_abort_cb abort_cb;
  void *data;
  int head;
  int remote_port;
  int secure;
  const char *method, *url, *path, *decoded_path, *query, *protocol, *body;
  size_t body_len;
  size_t nheaders;
  char remote_addr[64];
  const char *hdr[]; /* name, value, name, value... then the strings */
};

/* ---------------------------------------------------------------------------------------------- */
/* The connection's owner while the handler holds the request                                      */

static void owner_ws_message(void *owner, sio_conn_t *c, int opcode, char *data, size_t len) {
  (void)owner, (void)c, (void)opcode, (void)data, (void)len;
}

static void owner_close(void *owner, sio_conn_t *c, int err) {
  (void)c, (void)err;
  sio_http_req_t *req = owner;
  req->conn = NULL;
  if (req->abort_cb) req->abort_cb(req); /* may answer, which frees req: nothing after this */
}

static const sio_conn_owner_vt_t owner_vt = {owner_ws_message, owner_close};

/* ---------------------------------------------------------------------------------------------- */
/* Building the handle                                                                             */

/* Appends s[0..n) and a NUL to the arena at *at; returns where it went. */
static const char *put(char **at, const char *s, size_t n) {
  char *p = *at;
  if (n) memcpy(p, s, n);
  p[n] = '\0';
  *at = p + n + 1;
  return p;
}

/* The percent-decoded path ('+' is a '+' in a path) into out (room for n + 1 bytes). */
static const char *put_decoded_path(char **at, const char *s, size_t n) {
  char *p = *at;
  size_t i = 0, o = 0;
  while (i < n) {
    if (s[i] == '+') {
      p[o++] = '+';
      i++;
    } else {
      p[o++] = (char)sio_url_next(s, n, &i);
    }
  }
  p[o] = '\0';
  *at = p + o + 1;
  return p;
}

static sio_http_req_t *req_new(sio_conn_t *c, const sio_http_request_t *r) {
  size_t method_len = strlen(r->method);
  size_t strings = method_len + 1 + r->url_len + 1 + 2 * (r->path_len + 1) + r->query_len + 1 +
                   r->body_len + 1;
  for (size_t i = 0; i < r->header_count; i++)
    strings += r->headers[i].name_len + 1 + r->headers[i].value_len + 1;
  size_t ptrs = 2 * r->header_count * sizeof(const char *);
  sio_http_req_t *req = calloc(1, sizeof *req + ptrs + strings);
  if (!req) return NULL;
  char *at = (char *)req->hdr + ptrs;
  req->conn = c;
  req->head = strcmp(r->method, "HEAD") == 0;
  req->method = put(&at, r->method, method_len);
  req->url = put(&at, r->url, r->url_len);
  req->path = put(&at, r->path, r->path_len);
  req->decoded_path = put_decoded_path(&at, r->path, r->path_len);
  req->query = put(&at, r->query, r->query_len);
  req->body_len = r->body_len;
  req->body = put(&at, r->body ? r->body : "", r->body_len);
  req->nheaders = r->header_count;
  for (size_t i = 0; i < r->header_count; i++) {
    req->hdr[2 * i] = put(&at, r->headers[i].name, r->headers[i].name_len);
    req->hdr[2 * i + 1] = put(&at, r->headers[i].value, r->headers[i].value_len);
  }
  req->protocol = r->http_minor == 0 ? "HTTP/1.0" : "HTTP/1.1";
  struct sockaddr_storage ss;
  int len = sizeof ss;
  req->secure = sio_conn_secure(c);
  if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&ss, &len) == 0) {
    if (ss.ss_family == AF_INET) {
      uv_ip4_name((struct sockaddr_in *)&ss, req->remote_addr, sizeof req->remote_addr);
      req->remote_port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
    } else if (ss.ss_family == AF_INET6) {
      uv_ip6_name((struct sockaddr_in6 *)&ss, req->remote_addr, sizeof req->remote_addr);
      req->remote_port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    }
  }
  return req;
}

/* ---------------------------------------------------------------------------------------------- */
/* The route                                                                                       */

static int on_request(sio_route_t *route, sio_conn_t *c, const sio_http_request_t *r) {
  handler_t *h = (handler_t *)route;
  /* The same rule as everywhere else: a path that decodes to a NUL or to bytes that are not
   * UTF-8 is refused (compared as a C string it would stand for another path). */
  if (!sio_url_is_text(r->path, r->path_len)) {
    c->keep_alive = 0;
    sio_conn_respond(c, 400, "text/plain", NULL, "Bad Request", 11);
    return 0;
  }
  if (r->body_len > h->max_body) {
    sio_conn_respond(c, 413, "text/plain", NULL, "Payload Too Large", 17);
    return 0;
  }
  sio_http_req_t *req = req_new(c, r);
  if (!req) {
    c->keep_alive = 0;
    sio_conn_respond(c, 500, NULL, NULL, NULL, 0);
    return 0;
  }
  sio_conn_park(c, &owner_vt, req);
  c->app_req = 1;
  c->app_since_ms = sio_server_now_ms(sio_conn_server(c));
  h->cb(req, h->arg);
  return 1;
}

static void on_free(sio_route_t *route) {
  handler_t *h = (handler_t *)route;
  free(h->prefix);
  free(h);
}

void sio_handler_options_init(sio_handler_options_t *opts) {
  memset(opts, 0, sizeof *opts);
  opts->size = sizeof *opts;
  opts->max_body = DEFAULT_MAX_BODY;
}

int sio_server_handler(sio_server_t *server, const char *prefix, sio_http_handler_cb cb, void *arg,
                       const sio_handler_options_t *opts) {
  sio__error_clear();
  if (!server || !prefix || !cb) return SIO_EINVAL;
  size_t n = strlen(prefix);
  if (n == 0 || prefix[0] != '/' || strstr(prefix, "//") || strpbrk(prefix, "?#%"))
    return sio__fail(SIO_EINVAL, "handler prefix \"%s\" must start with '/' and hold no \"//\", "
                     "'?', '#' or '%%'", prefix);
  sio_handler_options_t o;
  sio_handler_options_init(&o);
  if (opts && SIO_TAKE_OPTIONS(&o, opts, "sio_handler_options")) return SIO_EINVAL;
  handler_t *h = calloc(1, sizeof *h);
  char *p = malloc(n + 2);
  if (!h || !p) {
    free(h);
    free(p);
    return SIO_ENOMEM;
  }
  memcpy(p, prefix, n + 1);
  if (p[n - 1] != '/') memcpy(p + n, "/", 2); /* "/api" is the handler "/api/" */
  h->prefix = p;
  h->cb = cb;
  h->arg = arg;
  h->max_body = o.max_body;
  h->route.path = p;
  h->route.path_len = strlen(p);
  h->route.is_handler = 1;
  h->route.on_request = on_request;
  h->route.on_free = on_free;
  int r = sio_server_add_route(server, &h->route);
  if (r) {
    on_free(&h->route);
    return r;
  }
  sio_server_set_max_body(server, o.max_body);
  return 0;
}

/* ---------------------------------------------------------------------------------------------- */
/* The handle                                                                                      */

const char *sio_http_req_method(const sio_http_req_t *req) { return req->method; }
const char *sio_http_req_url(const sio_http_req_t *req) { return req->url; }
const char *sio_http_req_path(const sio_http_req_t *req) { return req->path; }
const char *sio_http_req_decoded_path(const sio_http_req_t *req) { return req->decoded_path; }
const char *sio_http_req_query(const sio_http_req_t *req) { return req->query; }
const char *sio_http_req_protocol(const sio_http_req_t *req) { return req->protocol; }
const char *sio_http_req_remote_addr(const sio_http_req_t *req) { return req->remote_addr; }
int sio_http_req_remote_port(const sio_http_req_t *req) { return req->remote_port; }
int sio_http_req_secure(const sio_http_req_t *req) { return req->secure; }
size_t sio_http_req_header_count(const sio_http_req_t *req) { return req->nheaders; }
void *sio_http_req_get_data(const sio_http_req_t *req) { return req->data; }
void sio_http_req_set_data(sio_http_req_t *req, void *data) { req->data = data; }
void sio_http_req_on_abort(sio_http_req_t *req, sio_http_abort_cb cb) { req->abort_cb = cb; }
int sio_http_req_aborted(const sio_http_req_t *req) { return req->conn == NULL; }

const char *sio_http_req_header(const sio_http_req_t *req, const char *name) {
  for (size_t i = 0; i < req->nheaders; i++)
    if (strcasecmp(req->hdr[2 * i], name) == 0) return req->hdr[2 * i + 1];
  return NULL;
}

int sio_http_req_header_at(const sio_http_req_t *req, size_t i, const char **name,
                           const char **value) {
  sio__error_clear();
  if (i >= req->nheaders) return SIO_ENOTFOUND;
  if (name) *name = req->hdr[2 * i];
  if (value) *value = req->hdr[2 * i + 1];
  return 0;
}

const char *sio_http_req_body(const sio_http_req_t *req, size_t *len) {
  if (len) *len = req->body_len;
  return req->body;
}

static int is_tchar(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
         (c && strchr("!#$%&'*+-.^_`|~", c));
}

/* The server writes these itself. */
static int server_header(const char *name) {
  return strcasecmp(name, "content-length") == 0 || strcasecmp(name, "transfer-encoding") == 0 ||
         strcasecmp(name, "connection") == 0;
}

/* The response's header lines, each ending in \r\n, NUL-terminated, into out. */
static int format_headers(const char *const *headers, sio_sbuf_t *out) {
  for (size_t i = 0; headers && headers[i]; i += 2) {
    const char *name = headers[i], *value = headers[i + 1];
    if (!value) return sio__fail(SIO_EINVAL, "header \"%s\" has no value", name);
    if (!*name) return sio__fail(SIO_EINVAL, "an empty header name");
    for (const char *p = name; *p; p++)
      if (!is_tchar((unsigned char)*p))
        return sio__fail(SIO_EINVAL, "header name \"%s\" is not an HTTP token", name);
    if (strpbrk(value, "\r\n"))
      return sio__fail(SIO_EINVAL, "the value of header \"%s\" holds CR or LF", name);
    if (server_header(name)) continue;
    if (sio_sbuf_append_str(out, name) || sio_sbuf_append_str(out, ": ") ||
        sio_sbuf_append_str(out, value) || sio_sbuf_append_str(out, "\r\n"))
      return SIO_ENOMEM;
  }
  return sio_sbuf_append_char(out, '\0') ? SIO_ENOMEM : 0;
}

int sio_http_respond(sio_http_req_t *req, int status, const char *const *headers, const void *body,
                     size_t len) {
  sio__error_clear();
  if (status < 200 || status > 599)
    return sio__fail(SIO_EINVAL, "status %d is not a final HTTP status (200..599)", status);
  sio_sbuf_t extra = SIO_SBUF_INIT;
  int r = format_headers(headers, &extra);
  if (r == SIO_EINVAL) {
    sio_sbuf_free(&extra);
    return r;
  }
  sio_conn_t *c = req->conn;
  if (!c) {
    r = SIO_ECLOSED;
  } else if (r) {
    c->app_req = 0;
    c->keep_alive = 0;
    sio_conn_respond(c, 500, NULL, NULL, NULL, 0);
  } else {
    c->app_req = 0;
    if (status == 204 || status == 304) len = 0;
    if (req->head) r = sio_conn_respond_head(c, status, NULL, extra.data, len);
    else r = sio_conn_respond(c, status, NULL, extra.data, body, len);
  }
  sio_sbuf_free(&extra);
  free(req);
  return r;
}
