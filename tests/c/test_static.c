/* Static files: the pure parts (MIME types, URL path validation, ETags, HTTP dates, conditional
 * requests) on strings, then mounts and serveClient over real sockets on 127.0.0.1 against files
 * in a temporary directory (mkdtemp under /tmp, removed at the end of each case). */
#include <fcntl.h>
#include <ftw.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "http/static.h"
#include "transport/static_files.h"
#include "net_client.h"
#include "sio.h"
#include "test.h"

#define CASE_TIMEOUT_MS 4500

/* ---------------------------------------------------------------------------------------------- */
/* Pure functions                                                                                  */

static const char *mime(const char *name) { return sio_http_mime_type(name, strlen(name)); }

TEST(mime_types) {
  CHECK(strcmp(mime("index.html"), "text/html; charset=utf-8") == 0);
  CHECK(strcmp(mime("a/b/page.HTM"), "text/html; charset=utf-8") == 0);
  CHECK(strcmp(mime("app.js"), "application/javascript; charset=utf-8") == 0);
  CHECK(strcmp(mime("APP.JS"), "application/javascript; charset=utf-8") == 0);
  CHECK(strcmp(mime("mod.mjs"), "application/javascript; charset=utf-8") == 0);
  CHECK(strcmp(mime("x.json"), "application/json; charset=utf-8") == 0);
  CHECK(strcmp(mime("app.js.map"), "application/json; charset=utf-8") == 0);
  CHECK(strcmp(mime("style.css"), "text/css; charset=utf-8") == 0);
  CHECK(strcmp(mime("notes.txt"), "text/plain; charset=utf-8") == 0);
  CHECK(strcmp(mime("logo.svg"), "image/svg+xml") == 0);
  CHECK(strcmp(mime("a.png"), "image/png") == 0);
  CHECK(strcmp(mime("a.jpg"), "image/jpeg") == 0);
  CHECK(strcmp(mime("a.jpeg"), "image/jpeg") == 0);
  CHECK(strcmp(mime("a.gif"), "image/gif") == 0);
  CHECK(strcmp(mime("a.webp"), "image/webp") == 0);
  CHECK(strcmp(mime("favicon.ico"), "image/x-icon") == 0);
  CHECK(strcmp(mime("m.wasm"), "application/wasm") == 0);
  CHECK(strcmp(mime("f.woff"), "font/woff") == 0);
  CHECK(strcmp(mime("f.woff2"), "font/woff2") == 0);
  CHECK(strcmp(mime("f.ttf"), "font/ttf") == 0);
  CHECK(strcmp(mime("f.otf"), "font/otf") == 0);
  CHECK(strcmp(mime("s.mp3"), "audio/mpeg") == 0);
  CHECK(strcmp(mime("s.ogg"), "audio/ogg") == 0);
  CHECK(strcmp(mime("s.wav"), "audio/wav") == 0);
  CHECK(strcmp(mime("v.webm"), "video/webm") == 0);
  CHECK(strcmp(mime("v.mp4"), "video/mp4") == 0);
  CHECK(strcmp(mime("d.xml"), "application/xml") == 0);
  CHECK(strcmp(mime("d.pdf"), "application/pdf") == 0);
  /* Unknown, none, or a dot only in a directory's name. */
  CHECK(strcmp(mime("a.tar.gz"), "application/octet-stream") == 0);
  CHECK(strcmp(mime("Makefile"), "application/octet-stream") == 0);
  CHECK(strcmp(mime("conf.d/run"), "application/octet-stream") == 0);
  CHECK(strcmp(mime("trailing."), "application/octet-stream") == 0);
  CHECK(strcmp(mime("x.htmlx"), "application/octet-stream") == 0);
  CHECK(strcmp(mime("x.ht"), "application/octet-stream") == 0);
}

/* The status sio_http_static_path() gives raw URL path `in`; on OK, *out holds the relative path. */
static int norm(const char *in, char *out) {
  size_t n = 0;
  int r = sio_http_static_path(in, strlen(in), out, &n);
  if (r == SIO_HTTP_PATH_OK && strlen(out) != n) return -1;
  return r;
}

#define CHECK_PATH(in, want)                        \
  do {                                              \
    char o_[256];                                   \
    CHECK_EQ_INT(norm(in, o_), SIO_HTTP_PATH_OK);   \
    if (strcmp(o_, want) != 0) {                    \
      fprintf(stderr, "%s -> \"%s\"\n", in, o_);    \
      CHECK(strcmp(o_, want) == 0);                 \
    }                                               \
  } while (0)

#define CHECK_PATH_STATUS(in, status)  \
  do {                                 \
    char o_[256];                      \
    CHECK_EQ_INT(norm(in, o_), status); \
  } while (0)

TEST(path_normalisation) {
  CHECK_PATH("", "");
  CHECK_PATH("/", "");
  CHECK_PATH("/a.js", "a.js");
  CHECK_PATH("/a/b/c.css", "a/b/c.css");
  CHECK_PATH("/a//b///c", "a/b/c");
  CHECK_PATH("/./a/./b", "a/b");
  CHECK_PATH("/a/", "a/");
  CHECK_PATH("/a//", "a/");
  CHECK_PATH("/a/.", "a/");
  CHECK_PATH("/a/./", "a/");
  CHECK_PATH("/./a/", "a/");
  CHECK_PATH("/.", "");
  CHECK_PATH("/%61%2Fb%20c.txt", "a/b c.txt"); /* %2F is a separator once decoded */
  CHECK_PATH("/a+b", "a+b");                   /* '+' is no space in a path */
  CHECK_PATH("/a..b/c...d", "a..b/c...d");     /* dots inside a name are fine */
  CHECK_PATH("/caf%C3%A9", "caf\xC3\xA9");
}

TEST(path_traversal_refused) {
  CHECK_PATH_STATUS("/..", SIO_HTTP_PATH_FORBIDDEN);
  CHECK_PATH_STATUS("/../etc/passwd", SIO_HTTP_PATH_FORBIDDEN);
  CHECK_PATH_STATUS("/a/../b", SIO_HTTP_PATH_FORBIDDEN); /* stricter than send: any ".." */
  CHECK_PATH_STATUS("/a/..", SIO_HTTP_PATH_FORBIDDEN);
  CHECK_PATH_STATUS("/%2e%2e/etc/passwd", SIO_HTTP_PATH_FORBIDDEN);
  CHECK_PATH_STATUS("/%2E%2E", SIO_HTTP_PATH_FORBIDDEN);
  CHECK_PATH_STATUS("/.%2e/x", SIO_HTTP_PATH_FORBIDDEN);
  CHECK_PATH_STATUS("/a/..%2f..%2fetc", SIO_HTTP_PATH_FORBIDDEN);
  CHECK_PATH_STATUS("/a/..%2F", SIO_HTTP_PATH_FORBIDDEN);
  CHECK_PATH_STATUS("/a%2f..%2fb", SIO_HTTP_PATH_FORBIDDEN);
  CHECK_PATH_STATUS("/a%00.js", SIO_HTTP_PATH_FORBIDDEN);
  CHECK_PATH_STATUS("/a\\b", SIO_HTTP_PATH_FORBIDDEN);
  CHECK_PATH_STATUS("/..\\x", SIO_HTTP_PATH_FORBIDDEN);
  CHECK_PATH_STATUS("/a%5cb", SIO_HTTP_PATH_FORBIDDEN);
  CHECK_PATH_STATUS("/a%5C..%5Cb", SIO_HTTP_PATH_FORBIDDEN);
  /* A NUL byte inside the raw path as well (the length, not a terminator, bounds it). */
  char o[16];
  size_t n;
  CHECK_EQ_INT(sio_http_static_path("/a\0b", 4, o, &n), SIO_HTTP_PATH_FORBIDDEN);
  /* ".." wins over a dotfile on the way. */
  CHECK_PATH_STATUS("/.git/../x", SIO_HTTP_PATH_FORBIDDEN);
}

TEST(path_dotfiles_and_bad_escapes) {
  CHECK_PATH_STATUS("/.env", SIO_HTTP_PATH_HIDDEN);
  CHECK_PATH_STATUS("/.git/config", SIO_HTTP_PATH_HIDDEN);
  CHECK_PATH_STATUS("/a/.hidden", SIO_HTTP_PATH_HIDDEN);
  CHECK_PATH_STATUS("/a/%2ehidden", SIO_HTTP_PATH_HIDDEN);
  CHECK_PATH_STATUS("/...", SIO_HTTP_PATH_HIDDEN);
  CHECK_PATH_STATUS("/.well-known/x", SIO_HTTP_PATH_HIDDEN);
  CHECK_PATH_STATUS("/%", SIO_HTTP_PATH_BAD);
  CHECK_PATH_STATUS("/%4", SIO_HTTP_PATH_BAD);
  CHECK_PATH_STATUS("/%zz", SIO_HTTP_PATH_BAD);
  CHECK_PATH_STATUS("/a%g1", SIO_HTTP_PATH_BAD);
}

TEST(etag_format) {
  char e[SIO_HTTP_ETAG_SIZE];
  CHECK_EQ_INT(sio_http_etag(e, 0, 0), 7);
  CHECK(strcmp(e, "W/\"0-0\"") == 0);
  sio_http_etag(e, 1234, 1700000000123);
  CHECK(strcmp(e, "W/\"4d2-18bcfe5687b\"") == 0);
  sio_http_etag(e, UINT64_MAX, INT64_MAX);
  CHECK(strcmp(e, "W/\"ffffffffffffffff-7fffffffffffffff\"") == 0);
  sio_http_etag(e, 1, -1000);
  CHECK(strcmp(e, "W/\"1--3e8\"") == 0); /* as JavaScript's (-1000).toString(16) */
}

static int inm(const char *value, const char *etag) {
  return sio_http_etag_match(value, strlen(value), etag);
}

TEST(etag_match_lists) {
  const char *etag = "W/\"4d2-18bcfe5687b\"";
  CHECK(inm("W/\"4d2-18bcfe5687b\"", etag));
  CHECK(inm("\"4d2-18bcfe5687b\"", etag)); /* weak comparison: W/ ignored */
  CHECK(inm("*", etag));
  CHECK(inm("  *  ", etag));
  CHECK(inm("\"a\", W/\"4d2-18bcfe5687b\"", etag));
  CHECK(inm("\"a\",\"4d2-18bcfe5687b\" , \"b\"", etag));
  CHECK(inm("\"a\" ,\t\"4d2-18bcfe5687b\"", etag));
  CHECK(inm("\"4d2-18bcfe5687b\"", "\"4d2-18bcfe5687b\""));
  CHECK(!inm("", etag));
  CHECK(!inm("\"a\", \"b\"", etag));
  CHECK(!inm("W/\"4d2-18bcfe5687\"", etag));
  CHECK(!inm("W/\"4d2-18bcfe5687bb\"", etag));
  CHECK(!inm("4d2-18bcfe5687b", etag)); /* unquoted: not the same tag */
  CHECK(!inm(",,", etag));
}

TEST(http_dates) {
  char d[SIO_HTTP_DATE_SIZE];
  CHECK_EQ_INT(sio_http_date(d, 0), 29);
  CHECK(strcmp(d, "Thu, 01 Jan 1970 00:00:00 GMT") == 0);
  sio_http_date(d, 784111777);
  CHECK(strcmp(d, "Sun, 06 Nov 1994 08:49:37 GMT") == 0);
  sio_http_date(d, 951782400);
  CHECK(strcmp(d, "Tue, 29 Feb 2000 00:00:00 GMT") == 0);
  sio_http_date(d, 4102444799);
  CHECK(strcmp(d, "Thu, 31 Dec 2099 23:59:59 GMT") == 0);
  const char *imf = "Sun, 06 Nov 1994 08:49:37 GMT";
  const char *rfc850 = "Sunday, 06-Nov-94 08:49:37 GMT";
  const char *asc = "Sun Nov  6 08:49:37 1994";
  CHECK_EQ_INT(sio_http_date_parse(imf, strlen(imf)), 784111777);
  CHECK_EQ_INT(sio_http_date_parse(rfc850, strlen(rfc850)), 784111777);
  CHECK_EQ_INT(sio_http_date_parse(asc, strlen(asc)), 784111777);
  CHECK_EQ_INT(sio_http_date_parse("Tue, 29 Feb 2000 00:00:00 GMT", 29), 951782400);
  const char *bad[] = {"", "yesterday", "Sun, 06 Nov 1994 08:49:37", "Sun, 06 Nov 1994 08:49:37 UTC",
                       "Sun, 06 Foo 1994 08:49:37 GMT", "Sun, 32 Nov 1994 08:49:37 GMT",
                       "Sun, 06 Nov 1994 24:00:00 GMT", "Sun, 06 Nov 1994 08:49:37 GMT junk"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
    CHECK_EQ_INT(sio_http_date_parse(bad[i], strlen(bad[i])), -1);
}

/* A request holding only the given headers (name, value pairs, NULL-terminated). */
static int not_modified(const char *etag, int64_t mtime_s, ...) {
  sio_http_header_t hs[4];
  size_t n = 0;
  va_list ap;
  va_start(ap, mtime_s);
  const char *name;
  while (n < 4 && (name = va_arg(ap, const char *))) {
    const char *value = va_arg(ap, const char *);
    hs[n++] = (sio_http_header_t){name, value, strlen(name), strlen(value)};
  }
  va_end(ap);
  sio_http_request_t req;
  memset(&req, 0, sizeof req);
  req.method = "GET";
  req.headers = hs;
  req.header_count = n;
  return sio_http_not_modified(&req, etag, mtime_s);
}

TEST(conditional_requests) {
  const char *e = "W/\"5-1\"";
  const char *lm = "Sun, 06 Nov 1994 08:49:37 GMT"; /* 784111777 */
  CHECK(!not_modified(e, 784111777, NULL));
  CHECK(not_modified(e, 784111777, "if-none-match", e, NULL));
  CHECK(not_modified(e, 784111777, "if-none-match", "\"x\", \"5-1\"", NULL));
  CHECK(not_modified(e, 784111777, "if-none-match", "*", NULL));
  CHECK(!not_modified(e, 784111777, "if-none-match", "\"x\"", NULL));
  CHECK(not_modified(e, 784111777, "if-modified-since", lm, NULL));
  CHECK(not_modified(e, 784111776, "if-modified-since", lm, NULL));
  CHECK(!not_modified(e, 784111778, "if-modified-since", lm, NULL));
  CHECK(!not_modified(e, 784111777, "if-modified-since", "garbage", NULL));
  /* If-None-Match decides alone when present. */
  CHECK(!not_modified(e, 784111777, "if-none-match", "\"x\"", "if-modified-since", lm, NULL));
  CHECK(not_modified(e, 784111999, "if-none-match", e, "if-modified-since", lm, NULL));
  /* A no-cache request always gets the body. */
  CHECK(!not_modified(e, 784111777, "if-none-match", e, "cache-control", "no-cache", NULL));
  CHECK(!not_modified(e, 784111777, "cache-control", "max-age=0, no-cache", "if-modified-since", lm,
                      NULL));
  CHECK(not_modified(e, 784111777, "cache-control", "max-age=0", "if-none-match", e, NULL));
}

/* ---------------------------------------------------------------------------------------------- */
/* Temporary files                                                                                 */

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
  (void)st;
  (void)flag;
  (void)ftw;
  return remove(path);
}

static void rm_tree(const char *dir) {
  if (dir && dir[0]) nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static int write_file(const char *dir, const char *name, const char *content) {
  char p[512];
  snprintf(p, sizeof p, "%s/%s", dir, name);
  FILE *f = fopen(p, "wb");
  if (!f) return -1;
  size_t n = strlen(content);
  int r = fwrite(content, 1, n, f) == n ? 0 : -1;
  return fclose(f) == 0 ? r : -1;
}

static int make_dir(const char *dir, const char *name) {
  char p[512];
  snprintf(p, sizeof p, "%s/%s", dir, name);
  return mkdir(p, 0755);
}

/* The ETag and Last-Modified the server must answer for a file. */
static int file_validators(const char *dir, const char *name, char etag[SIO_HTTP_ETAG_SIZE],
                           char date[SIO_HTTP_DATE_SIZE], long *size) {
  char p[512];
  struct stat st;
  snprintf(p, sizeof p, "%s/%s", dir, name);
  if (stat(p, &st) != 0) return -1;
  sio_http_etag(etag, (uint64_t)st.st_size,
                (int64_t)st.st_mtim.tv_sec * 1000 + st.st_mtim.tv_nsec / 1000000);
  sio_http_date(date, (int64_t)st.st_mtim.tv_sec);
  *size = (long)st.st_size;
  return 0;
}

#define APP_JS "console.log('hello from a static file');\n"
#define INDEX_HTML "<!doctype html><title>root</title>\n"
#define SUB_INDEX "<!doctype html><title>sub</title>\n"
#define PAGE_TXT "plain text\n"
#define SECRET "outside the mount\n"

typedef struct {
  char dir[64];   /* the mount's directory */
  char out[64];   /* a directory beside it (the target of a link that leads out) */
  char etag[SIO_HTTP_ETAG_SIZE], date[SIO_HTTP_DATE_SIZE];
  long size;
} site_t;

/* A site: index.html, app.js, sub/{index.html,page.txt}, empty/, .secret, sub/.hidden,
 * in.js -> app.js, out.txt -> <out>/secret.txt, outdir -> <out> (which has an index.html too),
 * big.bin (64 MiB + 1, sparse). */
static int site_make(site_t *s) {
  memset(s, 0, sizeof *s);
  snprintf(s->dir, sizeof s->dir, "/tmp/sio-static-XXXXXX");
  snprintf(s->out, sizeof s->out, "/tmp/sio-static-out-XXXXXX");
  if (!mkdtemp(s->dir) || !mkdtemp(s->out)) return -1;
  char p[512], t[512];
  int r = write_file(s->dir, "index.html", INDEX_HTML);
  r |= write_file(s->dir, "app.js", APP_JS);
  r |= make_dir(s->dir, "sub");
  r |= make_dir(s->dir, "empty");
  r |= write_file(s->dir, "sub/index.html", SUB_INDEX);
  r |= write_file(s->dir, "sub/page.txt", PAGE_TXT);
  r |= write_file(s->dir, ".secret", SECRET);
  r |= write_file(s->dir, "sub/.hidden", SECRET);
  r |= write_file(s->out, "secret.txt", SECRET);
  r |= write_file(s->out, "index.html", SECRET);
  snprintf(p, sizeof p, "%s/in.js", s->dir);
  r |= symlink("app.js", p);
  snprintf(p, sizeof p, "%s/out.txt", s->dir);
  snprintf(t, sizeof t, "%s/secret.txt", s->out);
  r |= symlink(t, p);
  snprintf(p, sizeof p, "%s/outdir", s->dir);
  r |= symlink(s->out, p);
  snprintf(p, sizeof p, "%s/big.bin", s->dir);
  int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0 || ftruncate(fd, (off_t)SIO_STATIC_MAX_FILE + 1) != 0) r = -1;
  if (fd >= 0) close(fd);
  if (r) return -1;
  return file_validators(s->dir, "app.js", s->etag, s->date, &s->size);
}

static void site_remove(site_t *s) {
  rm_tree(s->dir);
  rm_tree(s->out);
}

/* ---------------------------------------------------------------------------------------------- */
/* Client helpers                                                                                  */

/* Reads a response head alone (the answer to HEAD carries Content-Length but no body). */
static int read_head(nc_conn_t *c, nc_response_t *r) {
  char *end;
  r->status = 0;
  r->body_len = 0;
  r->body[0] = '\0';
  while (!(end = memmem(c->buf, c->len, "\r\n\r\n", 4)))
    if (nc_fill(c) <= 0) return -1;
  size_t n = (size_t)(end - c->buf);
  if (n >= sizeof r->head) return -1;
  memcpy(r->head, c->buf, n);
  r->head[n] = '\0';
  nc_consume(c, n + 4);
  return sscanf(r->head, "HTTP/1.1 %d ", &r->status) == 1 ? 0 : -1;
}

static int header_is(const nc_response_t *r, const char *name, const char *want) {
  char v[512];
  if (nc_header(r, name, v, sizeof v) != 1 || strcmp(v, want) != 0) {
    fprintf(stderr, "header %s: \"%s\", want \"%s\"\n%s\n", name, v, want, r->head);
    return 0;
  }
  return 1;
}

/* GET target: the status, or -1. */
static int get_status(nc_conn_t *c, const char *target, nc_response_t *r) {
  if (nc_request(c, "GET", target, NULL, NULL, 0, r) != 0) return -1;
  return r->status;
}

/* ---------------------------------------------------------------------------------------------- */
/* A mount at "/" beside an io at "/socket.io/"                                                    */

static void client_mount_root(nh_t *h) {
  site_t *s = h->user;
  nc_response_t r;
  char v[128], lm_header[64];
  nc_conn_t *c = nh_connect(h, 0);
  CHECK(c);

  /* 200 with every header and the exact body. */
  CHECK_EQ_INT(get_status(c, "/app.js", &r), 200);
  CHECK_STR(r.body, r.body_len, APP_JS);
  CHECK(header_is(&r, "content-type", "application/javascript; charset=utf-8"));
  snprintf(v, sizeof v, "%zu", strlen(APP_JS));
  CHECK(header_is(&r, "content-length", v));
  CHECK(header_is(&r, "etag", s->etag));
  CHECK(header_is(&r, "last-modified", s->date));
  CHECK(header_is(&r, "cache-control", "no-cache"));
  CHECK(header_is(&r, "x-content-type-options", "nosniff"));
  CHECK(header_is(&r, "connection", "keep-alive"));

  /* HEAD: the same head, no body (the next response on the connection proves it). */
  CHECK_EQ_INT(nc_request(c, "HEAD", "/app.js", NULL, NULL, 0, NULL), 0);
  CHECK_EQ_INT(read_head(c, &r), 0);
  CHECK_EQ_INT(r.status, 200);
  CHECK(header_is(&r, "content-length", v));
  CHECK(header_is(&r, "content-type", "application/javascript; charset=utf-8"));
  CHECK(header_is(&r, "etag", s->etag));
  CHECK_EQ_INT(get_status(c, "/sub/page.txt", &r), 200);
  CHECK_STR(r.body, r.body_len, PAGE_TXT);
  CHECK(header_is(&r, "content-type", "text/plain; charset=utf-8"));

  /* 304 through If-None-Match: alone, in a list, strong form, "*"; no body, validators kept. */
  char hdr[256];
  snprintf(hdr, sizeof hdr, "If-None-Match: %s\r\n", s->etag);
  CHECK_EQ_INT(nc_request(c, "GET", "/app.js", hdr, NULL, 0, &r), 0);
  CHECK_EQ_INT(r.status, 304);
  CHECK_EQ_INT(r.body_len, 0);
  CHECK_EQ_INT(nc_header(&r, "content-length", NULL, 0), 0);
  CHECK_EQ_INT(nc_header(&r, "content-type", NULL, 0), 0);
  CHECK(header_is(&r, "etag", s->etag));
  CHECK(header_is(&r, "cache-control", "no-cache"));
  snprintf(hdr, sizeof hdr, "If-None-Match: \"other\", %s\r\n", s->etag + 2);
  CHECK_EQ_INT(nc_request(c, "GET", "/app.js", hdr, NULL, 0, &r), 0);
  CHECK_EQ_INT(r.status, 304);
  CHECK_EQ_INT(nc_request(c, "GET", "/app.js", "If-None-Match: *\r\n", NULL, 0, &r), 0);
  CHECK_EQ_INT(r.status, 304);
  CHECK_EQ_INT(nc_request(c, "GET", "/app.js", "If-None-Match: \"nope\"\r\n", NULL, 0, &r), 0);
  CHECK_EQ_INT(r.status, 200);
  CHECK_STR(r.body, r.body_len, APP_JS);
  /* HEAD gets its 304 as well. */
  snprintf(hdr, sizeof hdr, "If-None-Match: %s\r\n", s->etag);
  CHECK_EQ_INT(nc_request(c, "HEAD", "/app.js", hdr, NULL, 0, NULL), 0);
  CHECK_EQ_INT(read_head(c, &r), 0);
  CHECK_EQ_INT(r.status, 304);

  /* 304 through If-Modified-Since, unless If-None-Match is there too and differs. */
  snprintf(lm_header, sizeof lm_header, "If-Modified-Since: %s\r\n", s->date);
  CHECK_EQ_INT(nc_request(c, "GET", "/app.js", lm_header, NULL, 0, &r), 0);
  CHECK_EQ_INT(r.status, 304);
  CHECK_EQ_INT(r.body_len, 0);
  const char *old = "If-Modified-Since: Sun, 06 Nov 1994 08:49:37 GMT\r\n";
  CHECK_EQ_INT(nc_request(c, "GET", "/app.js", old, NULL, 0, &r), 0);
  CHECK_EQ_INT(r.status, 200);
  snprintf(hdr, sizeof hdr, "If-None-Match: \"nope\"\r\n%s", lm_header);
  CHECK_EQ_INT(nc_request(c, "GET", "/app.js", hdr, NULL, 0, &r), 0);
  CHECK_EQ_INT(r.status, 200);
  snprintf(hdr, sizeof hdr, "Cache-Control: no-cache\r\nIf-None-Match: %s\r\n", s->etag);
  CHECK_EQ_INT(nc_request(c, "GET", "/app.js", hdr, NULL, 0, &r), 0);
  CHECK_EQ_INT(r.status, 200);

  /* Directories: the index, a redirect to the slash form (query kept), 404 without an index. */
  CHECK_EQ_INT(get_status(c, "/", &r), 200);
  CHECK_STR(r.body, r.body_len, INDEX_HTML);
  CHECK(header_is(&r, "content-type", "text/html; charset=utf-8"));
  CHECK_EQ_INT(get_status(c, "/?x=1", &r), 200);
  CHECK_STR(r.body, r.body_len, INDEX_HTML);
  CHECK_EQ_INT(get_status(c, "/index.html", &r), 200);
  CHECK_STR(r.body, r.body_len, INDEX_HTML);
  CHECK_EQ_INT(get_status(c, "/sub", &r), 301);
  CHECK(header_is(&r, "location", "/sub/"));
  CHECK(strstr(r.body, "<a href=\"/sub/\">/sub/</a>") != NULL);
  CHECK_EQ_INT(get_status(c, "/sub?a=1&b=%3C", &r), 301);
  CHECK(header_is(&r, "location", "/sub/?a=1&b=%3C"));
  CHECK(strstr(r.body, "/sub/?a=1&amp;b=%3C") != NULL);
  CHECK_EQ_INT(get_status(c, "/sub/", &r), 200);
  CHECK_STR(r.body, r.body_len, SUB_INDEX);
  CHECK_EQ_INT(get_status(c, "/sub/.", &r), 200);
  CHECK_STR(r.body, r.body_len, SUB_INDEX);
  CHECK_EQ_INT(get_status(c, "/sub//page.txt", &r), 200); /* empty segments collapse */
  CHECK_STR(r.body, r.body_len, PAGE_TXT);
  CHECK_EQ_INT(get_status(c, "/%73ub/page%2Etxt", &r), 200);
  CHECK_STR(r.body, r.body_len, PAGE_TXT);
  CHECK_EQ_INT(get_status(c, "/empty/", &r), 404);
  CHECK_EQ_INT(get_status(c, "/app.js/", &r), 404);

  /* 404: missing files and dotfiles. */
  CHECK_EQ_INT(get_status(c, "/missing.txt", &r), 404);
  CHECK(header_is(&r, "x-content-type-options", "nosniff"));
  CHECK_EQ_INT(get_status(c, "/sub/missing/x", &r), 404);
  CHECK_EQ_INT(get_status(c, "/.secret", &r), 404);
  CHECK_EQ_INT(get_status(c, "/sub/.hidden", &r), 404);
  CHECK_EQ_INT(get_status(c, "/sub/%2ehidden", &r), 404);

  /* 403: traversal, NUL, backslash, and links that lead out; a link inside is followed. */
  CHECK_EQ_INT(get_status(c, "/../etc/passwd", &r), 403);
  CHECK_EQ_INT(get_status(c, "/%2e%2e/%2e%2e/etc/passwd", &r), 403);
  CHECK_EQ_INT(get_status(c, "/sub/..%2f..%2fetc%2fpasswd", &r), 403);
  CHECK_EQ_INT(get_status(c, "/sub/../app.js", &r), 403);
  CHECK_EQ_INT(get_status(c, "/app.js%00.txt", &r), 403);
  CHECK_EQ_INT(get_status(c, "/sub%5cpage.txt", &r), 403);
  CHECK_EQ_INT(get_status(c, "/out.txt", &r), 403);
  CHECK(strstr(r.body, "outside") == NULL);
  CHECK_EQ_INT(get_status(c, "/outdir/secret.txt", &r), 403);
  CHECK_EQ_INT(get_status(c, "/outdir/", &r), 403);
  CHECK_EQ_INT(get_status(c, "/outdir", &r), 403);
  CHECK_EQ_INT(get_status(c, "/in.js", &r), 200);
  CHECK_STR(r.body, r.body_len, APP_JS);
  CHECK_EQ_INT(get_status(c, "/%zz", &r), 400);

  /* 405 for anything but GET and HEAD. */
  CHECK_EQ_INT(nc_request(c, "POST", "/app.js", NULL, "x", 1, &r), 0);
  CHECK_EQ_INT(r.status, 405);
  CHECK(header_is(&r, "allow", "GET, HEAD"));
  CHECK_EQ_INT(r.body_len, 0);
  CHECK_EQ_INT(nc_request(c, "DELETE", "/missing", NULL, NULL, 0, &r), 0);
  CHECK_EQ_INT(r.status, 405);

  /* 500 for a file over the limit, with a reason. */
  CHECK_EQ_INT(get_status(c, "/big.bin", &r), 500);
  CHECK(strstr(r.body, "64 MiB") != NULL);

  /* The io keeps its path: a polling handshake, and no client bundle without client_dir. */
  CHECK_EQ_INT(get_status(c, "/socket.io/?EIO=4&transport=polling", &r), 200);
  CHECK(strncmp(r.body, "0{\"sid\":\"", 9) == 0);
  CHECK_EQ_INT(get_status(c, "/socket.io/socket.io.js", &r), 400);
  CHECK(strcmp(r.body, "{\"code\":0,\"message\":\"Transport unknown\"}") == 0);
  CHECK_EQ_INT(get_status(c, "/socket.io", &r), 400);
  CHECK(header_is(&r, "content-type", "application/json"));
  /* The same connection is still good after all of it. */
  CHECK_EQ_INT(get_status(c, "/app.js", &r), 200);

  /* An upgrade to a static path is nobody's: 404, as for an unknown path. */
  nc_conn_t *w = nh_connect(h, 0);
  CHECK(w);
  const char *upgrade = "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                        "Sec-WebSocket-Key: " NC_WS_KEY "\r\nSec-WebSocket-Version: 13\r\n";
  CHECK_EQ_INT(nc_request(w, "GET", "/app.js", upgrade, NULL, 0, &r), 0);
  CHECK_EQ_INT(r.status, 404);
  /* While the io's WebSocket still opens. */
  w = nh_connect(h, 0);
  CHECK(w);
  CHECK_EQ_INT(nc_ws_open(w, "/socket.io/?EIO=4&transport=websocket", &r), 0);
}

/* The cases below run in a function of their own so that their temporary directories are removed
 * whatever check fails. */
static void mount_at_root_case(site_t *s) {
  nh_t h;
  CHECK_EQ_INT(nh_init(&h), 0);
  h.user = s;
  CHECK_EQ_INT(sio_server_static(h.server, "/", s->dir, NULL), 0);
  sio_io_t *io;
  CHECK_EQ_INT(sio_io_new(h.server, NULL, &io), 0);
  /* A mount at the io's own path is allowed, and loses to it. */
  CHECK_EQ_INT(sio_server_static(h.server, "/socket.io/", s->dir, NULL), 0);
  CHECK_EQ_INT(nh_run(&h, client_mount_root, CASE_TIMEOUT_MS), 0);
  CHECK_EQ_INT(h.server_closed, 1);
}

TEST(mount_at_root_beside_io) {
  site_t s;
  if (site_make(&s) == 0) mount_at_root_case(&s);
  else CHECK(!"site_make");
  site_remove(&s);
}

/* ---------------------------------------------------------------------------------------------- */
/* A mount under a prefix, options, and the API's errors                                          */

static void client_prefix(nh_t *h) {
  site_t *s = h->user;
  nc_response_t r;
  nc_conn_t *c = nh_connect(h, 0);
  CHECK(c);
  CHECK_EQ_INT(get_status(c, "/assets/app.js", &r), 200);
  CHECK_STR(r.body, r.body_len, APP_JS);
  CHECK(header_is(&r, "cache-control", "public, max-age=3600"));
  CHECK(header_is(&r, "etag", s->etag));
  /* The prefix without its slash is the mount's directory URL. */
  CHECK_EQ_INT(get_status(c, "/assets", &r), 301);
  CHECK(header_is(&r, "location", "/assets/"));
  CHECK_EQ_INT(get_status(c, "/assets/", &r), 200); /* the index option */
  CHECK_STR(r.body, r.body_len, PAGE_TXT);
  CHECK(header_is(&r, "content-type", "text/plain; charset=utf-8"));
  CHECK_EQ_INT(get_status(c, "/assets/sub/", &r), 200); /* sub/page.txt */
  CHECK_STR(r.body, r.body_len, PAGE_TXT);
  CHECK_EQ_INT(get_status(c, "/assets/empty/", &r), 404);
  CHECK_EQ_INT(get_status(c, "/assetsx/app.js", &r), 404);
  CHECK_EQ_INT(get_status(c, "/app.js", &r), 404); /* nothing at "/" */
  CHECK_EQ_INT(get_status(c, "/docs/sub/page.txt", &r), 200); /* a second mount */
  CHECK_STR(r.body, r.body_len, PAGE_TXT);
  CHECK(header_is(&r, "cache-control", "no-cache"));
}

static void mount_under_prefix_case(site_t *s) {
  nh_t h;
  char p[512];
  snprintf(p, sizeof p, "%s/page.txt", s->dir);
  CHECK_EQ_INT(write_file(s->dir, "page.txt", PAGE_TXT), 0);
  CHECK_EQ_INT(nh_init(&h), 0);
  h.user = s;
  sio_static_options_t o;
  sio_static_options_init(&o);
  CHECK(strcmp(o.index, "index.html") == 0);
  CHECK_EQ_INT(o.max_age_s, 0);
  o.index = "page.txt";
  o.max_age_s = 3600;
  CHECK_EQ_INT(sio_server_static(h.server, "/assets/", s->dir, &o), 0);
  CHECK_EQ_INT(sio_server_static(h.server, "/docs/", s->dir, NULL), 0);
  /* Errors: the prefix's shape, the directory, a prefix taken. */
  CHECK_EQ_INT(sio_server_static(h.server, "/assets/", s->dir, NULL), SIO_EEXIST);
  CHECK_EQ_INT(sio_server_static(h.server, "assets/", s->dir, NULL), SIO_EINVAL);
  CHECK_EQ_INT(sio_server_static(h.server, "/assets", s->dir, NULL), SIO_EEXIST); /* "/assets/" */
  CHECK_EQ_INT(sio_server_static(h.server, "", s->dir, NULL), SIO_EINVAL);
  CHECK_EQ_INT(sio_server_static(h.server, "/a//b/", s->dir, NULL), SIO_EINVAL);
  CHECK_EQ_INT(sio_server_static(h.server, "/a%20b/", s->dir, NULL), SIO_EINVAL);
  CHECK_EQ_INT(sio_server_static(h.server, "/x/", "/nonexistent/sio-static", NULL), SIO_ENOTFOUND);
  CHECK_EQ_INT(sio_server_static(h.server, "/x/", "/dev/null", NULL), UV_ENOTDIR); /* no file */
  CHECK_EQ_INT(sio_server_static(NULL, "/x/", s->dir, NULL), SIO_EINVAL);
  CHECK_EQ_INT(nh_run(&h, client_prefix, CASE_TIMEOUT_MS), 0);
}

TEST(mount_under_prefix) {
  site_t s;
  if (site_make(&s) == 0) mount_under_prefix_case(&s);
  else CHECK(!"site_make");
  site_remove(&s);
}

/* An engine at "/" serves every path: mounts beside it are never reached. */
static void client_engine_root(nh_t *h) {
  nc_response_t r;
  nc_conn_t *c = nh_connect(h, 0);
  CHECK(c);
  CHECK_EQ_INT(get_status(c, "/app.js", &r), 400);
  CHECK(strcmp(r.body, "{\"code\":0,\"message\":\"Transport unknown\"}") == 0);
  CHECK_EQ_INT(get_status(c, "/assets/app.js", &r), 400);
  CHECK_EQ_INT(get_status(c, "/assets/app.js?EIO=4&transport=polling", &r), 200);
  CHECK(strncmp(r.body, "0{\"sid\":\"", 9) == 0);
}

static void engine_at_root_case(site_t *s) {
  nh_t h;
  CHECK_EQ_INT(nh_init(&h), 0);
  CHECK_EQ_INT(sio_server_static(h.server, "/", s->dir, NULL), 0);
  CHECK_EQ_INT(sio_server_static(h.server, "/assets/", s->dir, NULL), 0);
  sio_engine_options_t o;
  sio_engine_options_init(&o);
  o.path = "/";
  sio_engine_t *e;
  sio_engine_callbacks_t cbs = {NULL, NULL, NULL, NULL};
  CHECK_EQ_INT(sio_engine_new(h.server, &o, &cbs, &e), 0);
  CHECK_EQ_INT(nh_run(&h, client_engine_root, CASE_TIMEOUT_MS), 0);
}

TEST(engine_at_root_takes_precedence) {
  site_t s;
  if (site_make(&s) == 0) engine_at_root_case(&s);
  else CHECK(!"site_make");
  site_remove(&s);
}

/* ---------------------------------------------------------------------------------------------- */
/* serveClient                                                                                     */

#define FAKE_CLIENT "/* a fake socket.io.js */\n"
#define FAKE_MAP "{\"version\":3}\n"

typedef struct {
  char dir[64];
  char etag[SIO_HTTP_ETAG_SIZE], date[SIO_HTTP_DATE_SIZE];
  long size;
} client_ctx_t;

static void client_serve_client(nh_t *h) {
  client_ctx_t *x = h->user;
  nc_response_t r;
  char hdr[128], len[16];
  nc_conn_t *c = nh_connect(h, 0);
  CHECK(c);
  CHECK_EQ_INT(get_status(c, "/socket.io/socket.io.js", &r), 200);
  CHECK_STR(r.body, r.body_len, FAKE_CLIENT);
  CHECK(header_is(&r, "content-type", "application/javascript; charset=utf-8"));
  CHECK(header_is(&r, "cache-control", "public, max-age=0"));
  CHECK(header_is(&r, "etag", x->etag));
  CHECK(header_is(&r, "last-modified", x->date));
  CHECK_EQ_INT(nc_header_prefix_count(&r, "access-control-"), 0);
  snprintf(hdr, sizeof hdr, "If-None-Match: %s\r\n", x->etag);
  CHECK_EQ_INT(nc_request(c, "GET", "/socket.io/socket.io.js", hdr, NULL, 0, &r), 0);
  CHECK_EQ_INT(r.status, 304);
  CHECK_EQ_INT(r.body_len, 0);
  CHECK(header_is(&r, "etag", x->etag));
  CHECK_EQ_INT(nc_request(c, "HEAD", "/socket.io/socket.io.js", NULL, NULL, 0, NULL), 0);
  CHECK_EQ_INT(read_head(c, &r), 0);
  CHECK_EQ_INT(r.status, 200);
  snprintf(len, sizeof len, "%zu", strlen(FAKE_CLIENT));
  CHECK(header_is(&r, "content-length", len));
  CHECK_EQ_INT(get_status(c, "/socket.io/socket.io.min.js.map", &r), 200);
  CHECK_STR(r.body, r.body_len, FAKE_MAP);
  CHECK(header_is(&r, "content-type", "application/json; charset=utf-8"));
  /* A name of the bundle that the directory lacks. */
  CHECK_EQ_INT(get_status(c, "/socket.io/socket.io.esm.min.js", &r), 404);
  /* Anything else at the path is the engine's, as before. */
  CHECK_EQ_INT(get_status(c, "/socket.io/other.js", &r), 400);
  CHECK(strcmp(r.body, "{\"code\":0,\"message\":\"Transport unknown\"}") == 0);
  CHECK_EQ_INT(get_status(c, "/socket.io/socket.io.js?EIO=4", &r), 400);
  CHECK_EQ_INT(get_status(c, "/socket.io/socket.io.js?EIO=4&transport=polling", &r), 200);
  CHECK(strncmp(r.body, "0{\"sid\":\"", 9) == 0);
  CHECK_EQ_INT(nc_request(c, "POST", "/socket.io/socket.io.js", NULL, "x", 1, &r), 0);
  CHECK_EQ_INT(r.status, 400);
  CHECK_EQ_INT(get_status(c, "/socket.io/?EIO=4&transport=polling", &r), 200);
  CHECK_EQ_INT(get_status(c, "/socket.io/sub/socket.io.js", &r), 400);
  CHECK_EQ_INT(get_status(c, "/socket.io.js", &r), 404);
}

static void serve_client_case(client_ctx_t *x) {
  nh_t h;
  CHECK_EQ_INT(write_file(x->dir, "socket.io.js", FAKE_CLIENT), 0);
  CHECK_EQ_INT(write_file(x->dir, "socket.io.min.js.map", FAKE_MAP), 0);
  CHECK_EQ_INT(file_validators(x->dir, "socket.io.js", x->etag, x->date, &x->size), 0);
  CHECK_EQ_INT(nh_init(&h), 0);
  h.user = x;
  sio_io_options_t o;
  sio_io_options_init(&o);
  CHECK(o.client_dir == NULL);
  sio_io_t *io;
  /* A bad directory fails the call and leaves nothing attached: the path stays free. */
  o.client_dir = "/nonexistent/sio-client";
  CHECK_EQ_INT(sio_io_new(h.server, &o, &io), SIO_ENOTFOUND);
  char dir[96];
  snprintf(dir, sizeof dir, "%s/socket.io.js", x->dir);
  o.client_dir = dir;
  CHECK_EQ_INT(sio_io_new(h.server, &o, &io), UV_ENOTDIR);
  /* Copied: the caller's string may go right after the call. */
  snprintf(dir, sizeof dir, "%s", x->dir);
  o.client_dir = dir;
  CHECK_EQ_INT(sio_io_new(h.server, &o, &io), 0);
  memset(dir, 0, sizeof dir);
  CHECK_EQ_INT(nh_run(&h, client_serve_client, CASE_TIMEOUT_MS), 0);
}

TEST(serve_client) {
  client_ctx_t x;
  memset(&x, 0, sizeof x);
  snprintf(x.dir, sizeof x.dir, "/tmp/sio-client-XXXXXX");
  CHECK(mkdtemp(x.dir));
  serve_client_case(&x);
  rm_tree(x.dir);
}

/* With the engine at "/" the bundle is at "/socket.io.js". */
static void client_serve_client_root(nh_t *h) {
  nc_response_t r;
  nc_conn_t *c = nh_connect(h, 0);
  CHECK(c);
  CHECK_EQ_INT(get_status(c, "/socket.io.js", &r), 200);
  CHECK_STR(r.body, r.body_len, FAKE_CLIENT);
  CHECK_EQ_INT(get_status(c, "/socket.io/socket.io.js", &r), 400);
}

static void serve_client_root_case(const char *dir) {
  nh_t h;
  CHECK_EQ_INT(write_file(dir, "socket.io.js", FAKE_CLIENT), 0);
  CHECK_EQ_INT(nh_init(&h), 0);
  sio_io_options_t o;
  sio_io_options_init(&o);
  o.engine.path = "/";
  o.client_dir = dir;
  sio_io_t *io;
  CHECK_EQ_INT(sio_io_new(h.server, &o, &io), 0);
  CHECK_EQ_INT(nh_run(&h, client_serve_client_root, CASE_TIMEOUT_MS), 0);
}

TEST(serve_client_at_root) {
  char dir[64] = "/tmp/sio-client-XXXXXX";
  CHECK(mkdtemp(dir));
  serve_client_root_case(dir);
  rm_tree(dir);
}

TEST_MAIN(RUN(mime_types), RUN(path_normalisation), RUN(path_traversal_refused),
          RUN(path_dotfiles_and_bad_escapes), RUN(etag_format), RUN(etag_match_lists),
          RUN(http_dates), RUN(conditional_requests), RUN(mount_at_root_beside_io),
          RUN(mount_under_prefix), RUN(engine_at_root_takes_precedence), RUN(serve_client),
          RUN(serve_client_at_root))
