/* Static files: mounts (sio_server_static) and serveClient, the I/O over http/static.c's pure
 * decisions. Node's serve-static/send is the reference users know; where this differs it is
 * stricter (any ".." segment is refused, not only one that climbs out) or simpler (no Range
 * requests, whole files read into memory). */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "http/static.h"
#include "opts.h"
#include "sbuf.h"
#include "transport/static_files.h"

/* ---------------------------------------------------------------------------------------------- */
/* I/O: answering with a file                                                                      */

#define NOSNIFF "X-Content-Type-Options: nosniff\r\n"

/* A response to GET, or its head alone to HEAD. */
static void reply(sio_conn_t *c, int head, int status, const char *type, const char *extra,
                  const char *body, size_t len) {
  if (head) sio_conn_respond_head(c, status, type, extra, len);
  else sio_conn_respond(c, status, type, extra, body, len);
}

static void reply_error(sio_conn_t *c, int head, int status, const char *body) {
  if (!body) body = sio_http_status_text(status);
  reply(c, head, status, "text/plain; charset=utf-8", NOSNIFF, body, strlen(body));
}

static int errno_status(int err) {
  switch (err) {
    case ENOENT:
    case ENOTDIR:
    case ENAMETOOLONG:
    case ELOOP:
      return 404;
    case EACCES:
    case EPERM:
      return 403;
    default:
      return 500;
  }
}

/* Answers with the regular file at `fspath`. `open_flags` adds O_NOFOLLOW for a path that
 * realpath() has already resolved (a link swapped in since is refused). */
static void serve_file(sio_conn_t *c, const sio_http_request_t *req, int head, const char *fspath,
                       int open_flags, const char *type, const char *cache_control) {
  /* O_NONBLOCK: opening a FIFO must not block the loop waiting for a writer. */
  int fd = open(fspath, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK | open_flags);
  if (fd < 0) {
    reply_error(c, head, errno_status(errno), NULL);
    return;
  }
  struct stat st;
  if (fstat(fd, &st) != 0) {
    int err = errno;
    close(fd);
    reply_error(c, head, errno_status(err), NULL);
    return;
  }
  if (!S_ISREG(st.st_mode)) {
    close(fd);
    reply_error(c, head, 404, NULL);
    return;
  }
  if ((uint64_t)st.st_size > SIO_STATIC_MAX_FILE) {
    close(fd);
    reply_error(c, head, 500,
                "File too large: sio reads a static file into memory whole and serves files up to "
                "64 MiB; serve larger ones with a web server in front of sio.\n");
    return;
  }
  int64_t mtime_ms = (int64_t)st.st_mtim.tv_sec * 1000 + st.st_mtim.tv_nsec / 1000000;
  char etag[SIO_HTTP_ETAG_SIZE], date[SIO_HTTP_DATE_SIZE], headers[256];
  sio_http_etag(etag, (uint64_t)st.st_size, mtime_ms);
  sio_http_date(date, (int64_t)st.st_mtim.tv_sec);
  snprintf(headers, sizeof headers,
           "Cache-Control: %s\r\nETag: %s\r\nLast-Modified: %s\r\n" NOSNIFF, cache_control, etag,
           date);
  if (sio_http_not_modified(req, etag, (int64_t)st.st_mtim.tv_sec)) {
    close(fd);
    sio_conn_respond(c, 304, NULL, headers, NULL, 0);
    return;
  }
  if (head) {
    close(fd);
    sio_conn_respond_head(c, 200, type, headers, (uint64_t)st.st_size);
    return;
  }
  sio_rbuf_t *rb = sio_rbuf_new((size_t)st.st_size);
  if (!rb) {
    close(fd);
    reply_error(c, head, 500, NULL);
    return;
  }
  size_t got = 0;
  while (got < rb->len) {
    ssize_t n = read(fd, rb->data + got, rb->len - got);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      close(fd);
      sio_rbuf_unref(rb);
      reply_error(c, head, 500, NULL);
      return;
    }
    if (n == 0) break; /* shrunk since fstat: serve what is there */
    got += (size_t)n;
  }
  close(fd);
  rb->len = got;
  sio_conn_respond_rb(c, 200, type, headers, rb);
}

int sio_http_resolve_dir(const char *dir, char **out) {
  char *real = realpath(dir, NULL);
  if (!real) return errno == ENOENT ? SIO_ENOTFOUND : errno == ENOMEM ? SIO_ENOMEM : -errno;
  struct stat st;
  if (stat(real, &st) != 0) {
    int err = errno;
    free(real);
    return -err;
  }
  if (!S_ISDIR(st.st_mode)) {
    free(real);
    return UV_ENOTDIR;
  }
  *out = real;
  return 0;
}

/* ---------------------------------------------------------------------------------------------- */
/* Mounts                                                                                          */

typedef struct mount {
  sio_route_t route; /* first: the server sees the mount as its route */
  char *prefix;
  char *root; /* realpath of the directory, or of the file of a file mount */
  size_t root_len;
  char *index;
  char *content_type; /* a file mount's */
  char cache_control[40];
} mount_t;

static void mount_free(mount_t *m) {
  free(m->prefix);
  free(m->root);
  free(m->index);
  free(m->content_type);
  free(m);
}

/* A request the mount would refuse with `status`: a handler covering it gets it instead. */
static int decline(sio_conn_t *c, const sio_http_request_t *req, int status) {
  return (status == 404 || status == 405) && sio_server_find_handler(sio_conn_server(c), req);
}

/* Mounts answer GET and HEAD only: anything else is 405, unless a handler covers the path. */
static int refuse_method(sio_conn_t *c, const sio_http_request_t *req) {
  if (decline(c, req, 405)) return SIO_ROUTE_DECLINE;
  sio_conn_respond(c, 405, NULL, "Allow: GET, HEAD\r\n" NOSNIFF, NULL, 0);
  return 0;
}

/* A file mount: the file at exactly its path. */
static int file_on_request(sio_route_t *route, sio_conn_t *c, const sio_http_request_t *req) {
  mount_t *m = (mount_t *)route;
  int head = strcmp(req->method, "HEAD") == 0;
  if (!head && strcmp(req->method, "GET") != 0) return refuse_method(c, req);
  struct stat st;
  if (stat(m->root, &st) != 0 || !S_ISREG(st.st_mode)) {
    if (decline(c, req, 404)) return SIO_ROUTE_DECLINE;
    reply_error(c, head, 404, NULL);
    return 0;
  }
  serve_file(c, req, head, m->root, 0, m->content_type, m->cache_control);
  return 0;
}

static void on_free(sio_route_t *r) { mount_free((mount_t *)r); }

/* 1 when `real` is the mount's directory or inside it. */
static int contained(const mount_t *m, const char *real) {
  if (m->root_len == 1) return 1; /* the mount is "/" itself */
  return strncmp(real, m->root, m->root_len) == 0 &&
         (real[m->root_len] == '/' || real[m->root_len] == '\0');
}

static int html_escape(sio_sbuf_t *b, const char *s, size_t n) {
  int r = 0;
  for (size_t i = 0; i < n && r == 0; i++) {
    switch (s[i]) {
      case '&': r = sio_sbuf_append_str(b, "&amp;"); break;
      case '<': r = sio_sbuf_append_str(b, "&lt;"); break;
      case '>': r = sio_sbuf_append_str(b, "&gt;"); break;
      case '"': r = sio_sbuf_append_str(b, "&quot;"); break;
      case '\'': r = sio_sbuf_append_str(b, "&#39;"); break;
      default: r = sio_sbuf_append_char(b, s[i]);
    }
  }
  return r;
}

/* 301 to the request's path with a slash added (its query kept), as serve-static redirects a
 * directory URL: relative links in the index page then resolve inside the directory. */
static void redirect_slash(sio_conn_t *c, const sio_http_request_t *req, int head) {
  sio_sbuf_t loc = SIO_SBUF_INIT, hdr = SIO_SBUF_INIT, body = SIO_SBUF_INIT;
  int r = sio_sbuf_append(&loc, req->path, req->path_len);
  if (!r) r = sio_sbuf_append_char(&loc, '/');
  if (!r && req->query_len) r = sio_sbuf_append_char(&loc, '?');
  if (!r && req->query_len) r = sio_sbuf_append(&loc, req->query, req->query_len);
  /* The parser lets no CR or LF into a path; no control byte reaches a header line either way. */
  for (size_t i = 0; !r && i < loc.len; i++)
    if ((unsigned char)loc.data[i] < 0x20 || loc.data[i] == 0x7f) r = SIO_EINVAL;
  if (!r) r = sio_sbuf_append_str(&hdr, "Location: ");
  if (!r) r = sio_sbuf_append(&hdr, loc.data, loc.len);
  if (!r)
    r = sio_sbuf_append_str(&hdr, "\r\nContent-Security-Policy: default-src 'none'\r\n" NOSNIFF);
  if (!r) r = sio_sbuf_append_char(&hdr, '\0');
  if (!r)
    r = sio_sbuf_append_str(&body, "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n"
                                   "<meta charset=\"utf-8\">\n<title>Redirecting</title>\n</head>\n"
                                   "<body>\n<pre>Redirecting to <a href=\"");
  if (!r) r = html_escape(&body, loc.data, loc.len);
  if (!r) r = sio_sbuf_append_str(&body, "\">");
  if (!r) r = html_escape(&body, loc.data, loc.len);
  if (!r) r = sio_sbuf_append_str(&body, "</a></pre>\n</body>\n</html>\n");
  if (r == SIO_EINVAL) reply_error(c, head, 400, NULL);
  else if (r) reply_error(c, head, 500, NULL);
  else reply(c, head, 301, "text/html; charset=utf-8", hdr.data, body.data, body.len);
  sio_sbuf_free(&loc);
  sio_sbuf_free(&hdr);
  sio_sbuf_free(&body);
}

static int mount_on_request(sio_route_t *route, sio_conn_t *c, const sio_http_request_t *req) {
  mount_t *m = (mount_t *)route;
  int head = strcmp(req->method, "HEAD") == 0;
  if (!head && strcmp(req->method, "GET") != 0) return refuse_method(c, req);
  if (req->path_len < route->path_len) { /* "/assets" for the mount "/assets/" */
    redirect_slash(c, req, head);
    return 0;
  }
  /* The part under the mount, from its slash on. */
  int ret = 0;
  const char *under = req->path + route->path_len - 1;
  size_t under_len = req->path_len - route->path_len + 1;
  size_t max = m->root_len + 1 + under_len + 1 + strlen(m->index) + 1;
  char *fspath = malloc(max), *rel = malloc(under_len + 1), *real = NULL;
  if (!fspath || !rel) {
    reply_error(c, head, 500, NULL);
    goto done;
  }
  size_t rel_len;
  int status = sio_http_static_path(under, under_len, rel, &rel_len);
  if (status) {
    if (decline(c, req, status)) ret = SIO_ROUTE_DECLINE;
    else reply_error(c, head, status, NULL);
    goto done;
  }
  int dir_url = rel_len == 0 || rel[rel_len - 1] == '/';
  /* The index of a directory URL; "x.txt/" (a file) then fails with ENOTDIR: 404. */
  snprintf(fspath, max, "%s/%s%s", m->root, rel, dir_url ? m->index : "");
  real = realpath(fspath, NULL);
  if (!real) {
    status = errno_status(errno);
    if (decline(c, req, status)) ret = SIO_ROUTE_DECLINE;
    else reply_error(c, head, status, NULL);
    goto done;
  }
  /* A symbolic link may lead anywhere: what is served must really be under the directory. */
  if (!contained(m, real)) {
    reply_error(c, head, 403, NULL);
    goto done;
  }
  struct stat st;
  if (stat(real, &st) != 0) {
    reply_error(c, head, errno_status(errno), NULL);
    goto done;
  }
  if (S_ISDIR(st.st_mode)) {
    if (dir_url) reply_error(c, head, 404, NULL); /* an index that is a directory */
    else redirect_slash(c, req, head);
    goto done;
  }
  const char *name = dir_url ? m->index : rel;
  serve_file(c, req, head, real, O_NOFOLLOW, sio_http_mime_type(name, strlen(name)),
             m->cache_control);
done:
  free(fspath);
  free(rel);
  free(real);
  return ret;
}

void sio_static_options_init(sio_static_options_t *opts) {
  memset(opts, 0, sizeof *opts);
  opts->size = sizeof *opts;
  opts->index = "index.html";
  opts->max_age_s = 0;
}

static int valid_prefix(const char *p) {
  size_t n = strlen(p);
  if (n == 0 || p[0] != '/') return 0;
  /* A prefix is matched against the raw request path: escapes and "//" could never match. */
  return !strstr(p, "//") && !strpbrk(p, "?#%");
}

int sio_server_static(sio_server_t *server, const char *prefix, const char *path,
                      const sio_static_options_t *opts) {
  sio__error_clear();
  if (!server || !prefix || !path) return SIO_EINVAL;
  if (!valid_prefix(prefix))
    return sio__fail(SIO_EINVAL, "static prefix \"%s\" must start with '/' and hold no "
                     "\"//\", '?', '#' or '%%'", prefix);
  sio_static_options_t o;
  sio_static_options_init(&o);
  if (opts && SIO_TAKE_OPTIONS(&o, opts, "sio_static_options")) return SIO_EINVAL;
  if (!o.index || !o.index[0]) o.index = "index.html";
  if (o.content_type)
    for (const char *p = o.content_type; *p; p++)
      if ((unsigned char)*p < 0x20 || *p == 0x7f)
        return sio__fail(SIO_EINVAL, "content_type holds a control character");
  mount_t *m = calloc(1, sizeof *m);
  if (!m) return SIO_ENOMEM;
  int r = sio_http_resolve_dir(path, &m->root);
  int file = 0;
  if (r == UV_ENOTDIR) {
    struct stat st;
    m->root = realpath(path, NULL);
    if (m->root && stat(m->root, &st) == 0 && S_ISREG(st.st_mode)) {
      file = 1;
      r = 0;
    }
  }
  if (r) {
    mount_free(m);
    return r;
  }
  m->root_len = strlen(m->root);
  size_t plen = strlen(prefix);
  m->prefix = malloc(plen + 2);
  if (m->prefix) {
    memcpy(m->prefix, prefix, plen + 1);
    if (!file && prefix[plen - 1] != '/') memcpy(m->prefix + plen, "/", 2); /* "/static" */
  }
  m->index = strdup(o.index);
  const char *type = o.content_type ? o.content_type : sio_http_mime_type(m->root, m->root_len);
  m->content_type = strdup(type);
  if (!m->prefix || !m->index || !m->content_type) {
    mount_free(m);
    return SIO_ENOMEM;
  }
  if (o.max_age_s)
    snprintf(m->cache_control, sizeof m->cache_control, "public, max-age=%u", o.max_age_s);
  else
    snprintf(m->cache_control, sizeof m->cache_control, "no-cache");
  m->route.path = m->prefix;
  m->route.path_len = strlen(m->prefix);
  m->route.is_static = 1;
  m->route.exact = file;
  m->route.on_request = file ? file_on_request : mount_on_request;
  m->route.on_free = on_free;
  r = sio_server_add_route(server, &m->route);
  if (r) mount_free(m);
  return r;
}

/* ---------------------------------------------------------------------------------------------- */
/* serveClient                                                                                     */

/* What socket.io-client's dist/ holds (socket.io serves the same names from its client-dist/). */
static const char *const client_files[] = {
    "socket.io.js",         "socket.io.js.map",         "socket.io.min.js",
    "socket.io.min.js.map", "socket.io.esm.min.js",     "socket.io.esm.min.js.map",
    "socket.io.msgpack.min.js", "socket.io.msgpack.min.js.map",
};

int sio_http_serve_client(const char *dir, sio_conn_t *c, const sio_http_request_t *req,
                          size_t prefix_len) {
  int head = strcmp(req->method, "HEAD") == 0;
  if ((!head && strcmp(req->method, "GET") != 0) || req->path_len <= prefix_len) return 0;
  const char *name = req->path + prefix_len;
  size_t nlen = req->path_len - prefix_len;
  const char *file = NULL;
  for (size_t i = 0; i < sizeof client_files / sizeof client_files[0] && !file; i++)
    if (strlen(client_files[i]) == nlen && memcmp(client_files[i], name, nlen) == 0)
      file = client_files[i];
  /* An Engine.IO request is the engine's whatever its path (an engine at "/" sees every path). */
  char v[2];
  if (!file || sio_http_query_get(req->query, req->query_len, "EIO", v, sizeof v, NULL) >= 0)
    return 0;
  size_t max = strlen(dir) + 1 + nlen + 1;
  char *fspath = malloc(max);
  if (!fspath) {
    reply_error(c, head, 500, NULL);
    return 1;
  }
  snprintf(fspath, max, "%s/%s", dir, file);
  int map = nlen > 4 && memcmp(name + nlen - 4, ".map", 4) == 0;
  /* The reference's headers; links are followed (package managers such as pnpm link files). */
  serve_file(c, req, head, fspath, 0,
             map ? "application/json; charset=utf-8" : "application/javascript; charset=utf-8",
             "public, max-age=0");
  free(fspath);
  return 1;
}
