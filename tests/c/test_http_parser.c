#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http/http_parser.h"
#include "url.h"
#include "sio.h"
#include "test.h"

/* What on_request saw, copied out because the request's pointers die with the parser's storage. */
typedef struct {
  char method[16];
  char url[512];
  char path[512];
  char query[512];
  char headers[4096]; /* "name=value\n" per header, in order */
  char *body;         /* malloc'd copy, NUL-terminated; NULL when the request had none */
  size_t body_len;
  int keep_alive, upgrade, major, minor;
} seen_t;

typedef struct {
  int count;
  int verdict; /* what on_request answers */
  seen_t req[4];
} capture_t;

static void copy_n(char *dst, size_t dstsz, const char *src, size_t n) {
  if (n >= dstsz) n = dstsz - 1;
  memcpy(dst, src, n);
  dst[n] = '\0';
}

static int on_request(sio_http_parser_t *p, const sio_http_request_t *req) {
  capture_t *c = sio_http_parser_user(p);
  if (c->count < 4) {
    seen_t *s = &c->req[c->count];
    copy_n(s->method, sizeof s->method, req->method, strlen(req->method));
    copy_n(s->url, sizeof s->url, req->url, req->url_len);
    copy_n(s->path, sizeof s->path, req->path, req->path_len);
    copy_n(s->query, sizeof s->query, req->query, req->query_len);
    size_t w = 0;
    for (size_t i = 0; i < req->header_count; i++) {
      const sio_http_header_t *h = &req->headers[i];
      /* The NUL terminators are part of the promise: check them through strlen. */
      w += (size_t)snprintf(s->headers + w, sizeof s->headers - w, "%s=%s\n", h->name, h->value);
      if (strlen(h->name) != h->name_len || strlen(h->value) != h->value_len) w = 0;
      if (w >= sizeof s->headers) w = sizeof s->headers - 1;
    }
    if (req->body) {
      s->body = malloc(req->body_len + 1);
      memcpy(s->body, req->body, req->body_len);
      s->body[req->body_len] = '\0';
      s->body_len = req->body_len;
    }
    s->keep_alive = req->keep_alive;
    s->upgrade = req->upgrade;
    s->major = req->http_major;
    s->minor = req->http_minor;
  }
  c->count++;
  return c->verdict;
}

static void capture_free(capture_t *c) {
  for (int i = 0; i < 4; i++) free(c->req[i].body);
}

/* Feeds a whole string in one call. */
static int feed(sio_http_parser_t *p, const char *s, size_t *consumed) {
  return sio_http_parser_execute(p, s, strlen(s), consumed);
}

TEST(get_with_query) {
  capture_t c = {0};
  sio_http_parser_t *p = sio_http_parser_new(16384, 1024, on_request, &c);
  CHECK(p != NULL);
  const char *in =
      "GET /engine.io/?EIO=4&transport=polling&t=N1 HTTP/1.1\r\n"
      "Host: localhost:3000\r\n"
      "X-Spaced:   padded value \t \r\n"
      "Empty:\r\n"
      "\r\n";
  size_t used = 0;
  int r = feed(p, in, &used);
  sio_http_parser_free(p);
  CHECK_EQ_INT(r, SIO_HTTP_OK);
  CHECK_EQ_INT(used, strlen(in));
  CHECK_EQ_INT(c.count, 1);
  seen_t *s = &c.req[0];
  CHECK(strcmp(s->method, "GET") == 0);
  CHECK(strcmp(s->url, "/engine.io/?EIO=4&transport=polling&t=N1") == 0);
  CHECK(strcmp(s->path, "/engine.io/") == 0);
  CHECK(strcmp(s->query, "EIO=4&transport=polling&t=N1") == 0);
  CHECK(strcmp(s->headers, "host=localhost:3000\nx-spaced=padded value\nempty=\n") == 0);
  CHECK(s->body == NULL);
  CHECK_EQ_INT(s->keep_alive, 1);
  CHECK_EQ_INT(s->upgrade, 0);
  CHECK_EQ_INT(s->major, 1);
  CHECK_EQ_INT(s->minor, 1);
  capture_free(&c);
}

static const char *find_value;
static int find_cb(sio_http_parser_t *p, const sio_http_request_t *req) {
  const sio_http_header_t *h = sio_http_find_header(req, "connection");
  const sio_http_header_t *none = sio_http_find_header(req, "cookie");
  find_value = h && !none && sio_http_header_has_token(h->value, h->value_len, "upgrade") ? "yes"
                                                                                          : "no";
  return SIO_HTTP_CONTINUE;
}

TEST(find_header_in_callback) {
  sio_http_parser_t *p = sio_http_parser_new(16384, 0, find_cb, NULL);
  CHECK(p != NULL);
  size_t used;
  find_value = NULL;
  int r = feed(p, "GET / HTTP/1.1\r\nCONNECTION: keep-alive, Upgrade\r\n\r\n", &used);
  sio_http_parser_free(p);
  CHECK_EQ_INT(r, SIO_HTTP_OK);
  CHECK(find_value != NULL && strcmp(find_value, "yes") == 0);
}

TEST(byte_by_byte) {
  capture_t c = {0};
  sio_http_parser_t *p = sio_http_parser_new(16384, 1024, on_request, &c);
  CHECK(p != NULL);
  const char *in =
      "POST /engine.io/?EIO=4&transport=polling&sid=abc HTTP/1.1\r\n"
      "Host: example.com\r\n"
      "User-Agent: a rather long user agent string that arrives in many pieces\r\n"
      "Content-Type: text/plain;charset=UTF-8\r\n"
      "Content-Length: 8\r\n"
      "\r\n"
      "4hello!!";
  size_t n = strlen(in);
  CHECK_EQ_INT(sio_http_parser_in_request(p), 0);
  for (size_t i = 0; i < n; i++) {
    size_t used = 99;
    int r = sio_http_parser_execute(p, in + i, 1, &used);
    CHECK_EQ_INT(r, SIO_HTTP_OK);
    CHECK_EQ_INT(used, 1);
    if (i + 1 < n) {
      CHECK_EQ_INT(c.count, 0);
      CHECK_EQ_INT(sio_http_parser_in_request(p), 1);
    }
  }
  CHECK_EQ_INT(sio_http_parser_in_request(p), 0);
  sio_http_parser_free(p);
  CHECK_EQ_INT(c.count, 1);
  seen_t *s = &c.req[0];
  CHECK(strcmp(s->method, "POST") == 0);
  CHECK(strcmp(s->query, "EIO=4&transport=polling&sid=abc") == 0);
  CHECK(strcmp(s->headers,
                "host=example.com\n"
                "user-agent=a rather long user agent string that arrives in many pieces\n"
                "content-type=text/plain;charset=UTF-8\n"
                "content-length=8\n") == 0);
  CHECK_STR(s->body, s->body_len, "4hello!!");
  capture_free(&c);
}

TEST(post_content_length) {
  capture_t c = {0};
  sio_http_parser_t *p = sio_http_parser_new(16384, 1024, on_request, &c);
  CHECK(p != NULL);
  size_t used;
  int r = feed(p, "POST /p HTTP/1.1\r\nContent-Length: 11\r\nContent-Type: text/plain\r\n\r\nhello", &used);
  CHECK_EQ_INT(r, SIO_HTTP_OK);
  CHECK_EQ_INT(c.count, 0);
  r = feed(p, " world", &used);
  CHECK_EQ_INT(r, SIO_HTTP_OK);
  CHECK_EQ_INT(used, 6);
  sio_http_parser_free(p);
  CHECK_EQ_INT(c.count, 1);
  CHECK_STR(c.req[0].body, c.req[0].body_len, "hello world");
  CHECK(strcmp(c.req[0].path, "/p") == 0);
  CHECK(strcmp(c.req[0].query, "") == 0);
  capture_free(&c);
}

TEST(chunked_body) {
  capture_t c = {0};
  sio_http_parser_t *p = sio_http_parser_new(16384, 1024, on_request, &c);
  CHECK(p != NULL);
  const char *in =
      "POST /c HTTP/1.1\r\n"
      "Transfer-Encoding: chunked\r\n"
      "\r\n"
      "5\r\nhello\r\n"
      "6;ext=1\r\n world\r\n"
      "0\r\n"
      "X-Trailer: t\r\n"
      "\r\n";
  size_t used;
  /* In two uneven pieces, cutting a chunk in half. */
  size_t n = strlen(in), cut = 52;
  int r = sio_http_parser_execute(p, in, cut, &used);
  CHECK_EQ_INT(r, SIO_HTTP_OK);
  r = sio_http_parser_execute(p, in + cut, n - cut, &used);
  CHECK_EQ_INT(r, SIO_HTTP_OK);
  CHECK_EQ_INT(used, n - cut);
  sio_http_parser_free(p);
  CHECK_EQ_INT(c.count, 1);
  CHECK_STR(c.req[0].body, c.req[0].body_len, "hello world");
  /* Trailers are not headers. */
  CHECK(strcmp(c.req[0].headers, "transfer-encoding=chunked\n") == 0);
  CHECK_EQ_INT(c.req[0].keep_alive, 1);
  capture_free(&c);
}

TEST(pipelined_pause_resume) {
  capture_t c = {0};
  c.verdict = SIO_HTTP_PAUSE;
  sio_http_parser_t *p = sio_http_parser_new(16384, 1024, on_request, &c);
  CHECK(p != NULL);
  const char *a = "GET /first?x=1 HTTP/1.1\r\nHost: h\r\n\r\n";
  const char *b = "POST /second HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc";
  char in[256];
  snprintf(in, sizeof in, "%s%s", a, b);
  size_t n = strlen(in), used;

  int r = sio_http_parser_execute(p, in, n, &used);
  CHECK_EQ_INT(r, SIO_HTTP_PAUSED);
  CHECK_EQ_INT(used, strlen(a));
  CHECK_EQ_INT(c.count, 1);
  CHECK(strcmp(c.req[0].url, "/first?x=1") == 0);

  /* Still paused: nothing is taken until resume. */
  r = sio_http_parser_execute(p, in + used, n - used, &used);
  CHECK_EQ_INT(r, SIO_HTTP_PAUSED);
  CHECK_EQ_INT(used, 0);
  CHECK_EQ_INT(c.count, 1);

  sio_http_parser_resume(p);
  size_t off = strlen(a);
  r = sio_http_parser_execute(p, in + off, n - off, &used);
  CHECK_EQ_INT(r, SIO_HTTP_PAUSED);
  CHECK_EQ_INT(used, strlen(b));
  CHECK_EQ_INT(c.count, 2);
  CHECK(strcmp(c.req[1].url, "/second") == 0);
  CHECK_STR(c.req[1].body, c.req[1].body_len, "abc");

  sio_http_parser_resume(p);
  r = sio_http_parser_execute(p, in + n, 0, &used);
  CHECK_EQ_INT(r, SIO_HTTP_OK);
  CHECK_EQ_INT(used, 0);
  sio_http_parser_free(p);
  capture_free(&c);
}

static const sio_http_request_t *stashed;
static int stash_cb(sio_http_parser_t *p, const sio_http_request_t *req) {
  stashed = req;
  return SIO_HTTP_PAUSE;
}

/* A paused request is answered later: what it points at must outlive the callback. */
TEST(paused_request_stays_valid) {
  sio_http_parser_t *p = sio_http_parser_new(16384, 1024, stash_cb, NULL);
  CHECK(p != NULL);
  size_t used;
  stashed = NULL;
  int r = feed(p, "POST /x?sid=1 HTTP/1.1\r\nContent-Length: 2\r\nA: b\r\n\r\nhi", &used);
  CHECK_EQ_INT(r, SIO_HTTP_PAUSED);
  CHECK(stashed != NULL);
  CHECK(strcmp(stashed->url, "/x?sid=1") == 0);
  CHECK_STR(stashed->query, stashed->query_len, "sid=1");
  CHECK_EQ_INT(stashed->header_count, 2);
  CHECK(strcmp(stashed->headers[1].value, "b") == 0);
  CHECK_STR(stashed->body, stashed->body_len, "hi");
  sio_http_parser_resume(p);
  sio_http_parser_free(p);
}

TEST(pipelined_continue) {
  capture_t c = {0};
  sio_http_parser_t *p = sio_http_parser_new(16384, 1024, on_request, &c);
  CHECK(p != NULL);
  const char *in =
      "GET /1 HTTP/1.1\r\n\r\n"
      "\r\n" /* a stray CRLF between requests is tolerated */
      "GET /2 HTTP/1.1\r\n\r\n"
      "GET /3 HTTP/1.1\r\nConnection: close\r\n\r\n"
      "junk after close";
  size_t used;
  int r = feed(p, in, &used);
  sio_http_parser_free(p);
  CHECK_EQ_INT(r, SIO_HTTP_OK);
  CHECK_EQ_INT(used, strlen(in));
  CHECK_EQ_INT(c.count, 3);
  CHECK(strcmp(c.req[0].url, "/1") == 0);
  CHECK(strcmp(c.req[1].url, "/2") == 0);
  CHECK(strcmp(c.req[2].url, "/3") == 0);
  CHECK_EQ_INT(c.req[1].keep_alive, 1);
  CHECK_EQ_INT(c.req[2].keep_alive, 0);
  capture_free(&c);
}

TEST(upgrade) {
  capture_t c = {0};
  sio_http_parser_t *p = sio_http_parser_new(16384, 1024, on_request, &c);
  CHECK(p != NULL);
  const char *head =
      "GET /engine.io/?EIO=4&transport=websocket HTTP/1.1\r\n"
      "Host: localhost\r\n"
      "Upgrade: websocket\r\n"
      "Connection: Upgrade\r\n"
      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
      "Sec-WebSocket-Version: 13\r\n"
      "\r\n";
  char in[512];
  size_t hn = strlen(head);
  memcpy(in, head, hn);
  /* A masked text frame right behind the head: not HTTP, so not the parser's. */
  const unsigned char frame[] = {0x81, 0x82, 0x01, 0x02, 0x03, 0x04, '4' ^ 0x01, '2' ^ 0x02};
  memcpy(in + hn, frame, sizeof frame);
  size_t used;
  int r = sio_http_parser_execute(p, in, hn + sizeof frame, &used);
  CHECK_EQ_INT(r, SIO_HTTP_UPGRADE);
  CHECK_EQ_INT(used, hn);
  CHECK_EQ_INT(c.count, 1);
  CHECK_EQ_INT(c.req[0].upgrade, 1);
  CHECK(strcmp(c.req[0].path, "/engine.io/") == 0);
  /* Feeding after an upgrade is refused rather than misparsed. */
  r = sio_http_parser_execute(p, in + hn, sizeof frame, &used);
  CHECK(r < 0);
  sio_http_parser_free(p);
  capture_free(&c);
}

TEST(headers_too_large) {
  capture_t c = {0};
  sio_http_parser_t *p = sio_http_parser_new(16384, 1024, on_request, &c);
  CHECK(p != NULL);
  size_t used;
  int r = feed(p, "GET / HTTP/1.1\r\n", &used);
  CHECK_EQ_INT(r, SIO_HTTP_OK);
  /* 100 KiB of headers in 1 KiB reads: refused once the limit is passed, not at the end. */
  char line[1024];
  memset(line, 'a', sizeof line);
  memcpy(line, "X-Filler: ", 10);
  line[sizeof line - 2] = '\r';
  line[sizeof line - 1] = '\n';
  int i;
  for (i = 0; i < 100; i++) {
    r = sio_http_parser_execute(p, line, sizeof line, &used);
    if (r != SIO_HTTP_OK) break;
  }
  CHECK_EQ_INT(r, SIO_HTTP_E_HEADERS_TOO_LARGE);
  CHECK(i <= 16);
  CHECK_EQ_INT(c.count, 0);
  /* The error sticks. */
  r = sio_http_parser_execute(p, line, sizeof line, &used);
  CHECK_EQ_INT(r, SIO_HTTP_E_HEADERS_TOO_LARGE);
  sio_http_parser_free(p);

  /* All of it in one buffer: the parser stops reading at the limit. */
  size_t big = 100 * 1024;
  char *buf = malloc(big);
  CHECK(buf != NULL);
  memcpy(buf, "GET / HTTP/1.1\r\nX-Big: ", 23);
  memset(buf + 23, 'b', big - 23);
  p = sio_http_parser_new(16384, 1024, on_request, &c);
  r = sio_http_parser_execute(p, buf, big, &used);
  sio_http_parser_free(p);
  free(buf);
  CHECK_EQ_INT(r, SIO_HTTP_E_HEADERS_TOO_LARGE);
  CHECK(used <= 16384);
  /* Blanks that llhttp skips silently count too. */
  p = sio_http_parser_new(64, 1024, on_request, &c);
  r = feed(p, "GET / HTTP/1.1\r\nX:", &used);
  CHECK_EQ_INT(r, SIO_HTTP_OK);
  for (i = 0; i < 100 && r == SIO_HTTP_OK; i++) r = feed(p, "          ", &used);
  sio_http_parser_free(p);
  CHECK_EQ_INT(r, SIO_HTTP_E_HEADERS_TOO_LARGE);
  CHECK_EQ_INT(c.count, 0);
}

TEST(header_limit_boundary) {
  capture_t c = {0};
  const char *in = "GET / HTTP/1.1\r\nHost: h\r\n\r\n"; /* 27 bytes */
  size_t n = strlen(in), used;
  sio_http_parser_t *p = sio_http_parser_new(n, 0, on_request, &c);
  int r = feed(p, in, &used);
  sio_http_parser_free(p);
  CHECK_EQ_INT(r, SIO_HTTP_OK);
  CHECK_EQ_INT(c.count, 1);
  p = sio_http_parser_new(n - 1, 0, on_request, &c);
  r = feed(p, in, &used);
  sio_http_parser_free(p);
  CHECK_EQ_INT(r, SIO_HTTP_E_HEADERS_TOO_LARGE);
  CHECK_EQ_INT(c.count, 1);
  /* The limit is per request: many small pipelined heads are fine. */
  p = sio_http_parser_new(n, 0, on_request, &c);
  char many[27 * 10 + 1] = "";
  for (int i = 0; i < 10; i++) strcat(many, in);
  r = feed(p, many, &used);
  sio_http_parser_free(p);
  CHECK_EQ_INT(r, SIO_HTTP_OK);
  CHECK_EQ_INT(c.count, 11);
  capture_free(&c);
}

TEST(body_too_large) {
  capture_t c = {0};
  sio_http_parser_t *p = sio_http_parser_new(16384, 100, on_request, &c);
  size_t used;
  /* Announced: refused at the end of the head, before any of the body arrives. */
  int r = feed(p, "POST / HTTP/1.1\r\nContent-Length: 101\r\n\r\n", &used);
  sio_http_parser_free(p);
  CHECK_EQ_INT(r, SIO_HTTP_E_BODY_TOO_LARGE);

  p = sio_http_parser_new(16384, 100, on_request, &c);
  r = feed(p, "POST / HTTP/1.1\r\nContent-Length: 18446744073709551615\r\n\r\n", &used);
  sio_http_parser_free(p);
  CHECK(r == SIO_HTTP_E_BODY_TOO_LARGE || r == SIO_HTTP_E_BAD_REQUEST);

  /* Exactly the limit is fine. */
  char body[101];
  memset(body, 'z', 100);
  body[100] = '\0';
  p = sio_http_parser_new(16384, 100, on_request, &c);
  r = feed(p, "POST / HTTP/1.1\r\nContent-Length: 100\r\n\r\n", &used);
  CHECK_EQ_INT(r, SIO_HTTP_OK);
  r = feed(p, body, &used);
  sio_http_parser_free(p);
  CHECK_EQ_INT(r, SIO_HTTP_OK);
  CHECK_EQ_INT(c.count, 1);
  CHECK_EQ_INT(c.req[0].body_len, 100);

  /* Chunked: refused once the chunks add up to more. */
  p = sio_http_parser_new(16384, 100, on_request, &c);
  r = feed(p, "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", &used);
  CHECK_EQ_INT(r, SIO_HTTP_OK);
  int i;
  for (i = 0; i < 10 && r == SIO_HTTP_OK; i++) r = feed(p, "1e\r\n012345678901234567890123456789\r\n", &used);
  sio_http_parser_free(p);
  CHECK_EQ_INT(r, SIO_HTTP_E_BODY_TOO_LARGE);
  CHECK_EQ_INT(i, 4);
  CHECK_EQ_INT(c.count, 1);
  capture_free(&c);
}

TEST(bad_request) {
  static const char *const bad[] = {
      "\x01\x02\x03 garbage\r\n\r\n",
      "GET / HTTP/1.1\r\nNo colon here\r\n\r\n",
      "GET / HTTP/9.9\r\n\r\n",
      "GET /a b HTTP/1.1\r\n\r\n",
      "POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
      "POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n",
      "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
      "GET / HTTP/2.0\r\n\r\n",
  };
  for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
    capture_t c = {0};
    sio_http_parser_t *p = sio_http_parser_new(16384, 1024, on_request, &c);
    size_t used;
    int r = feed(p, bad[k], &used);
    int again = feed(p, "GET / HTTP/1.1\r\n\r\n", &used);
    sio_http_parser_free(p);
    if (r != SIO_HTTP_E_BAD_REQUEST) fprintf(stderr, "case %zu: %d\n", k, r);
    CHECK_EQ_INT(r, SIO_HTTP_E_BAD_REQUEST);
    CHECK_EQ_INT(again, SIO_HTTP_E_BAD_REQUEST);
    CHECK_EQ_INT(c.count, 0);
  }
}

TEST(misc_requests) {
  capture_t c = {0};
  sio_http_parser_t *p = sio_http_parser_new(16384, 1024, on_request, &c);
  size_t used;
  int r = feed(p,
               "GET http://example.com:8080/engine.io/?EIO=4 HTTP/1.0\r\n"
               "Folded: one\r\n two\r\n"
               "\r\n",
               &used);
  sio_http_parser_free(p);
  if (r == SIO_HTTP_OK) {
    CHECK_EQ_INT(c.count, 1);
    CHECK(strcmp(c.req[0].path, "/engine.io/") == 0);
    CHECK(strcmp(c.req[0].query, "EIO=4") == 0);
    CHECK_EQ_INT(c.req[0].keep_alive, 0); /* HTTP/1.0 without keep-alive */
    CHECK_EQ_INT(c.req[0].minor, 0);
    CHECK(strchr(c.req[0].headers, '\r') == NULL);
  } else {
    CHECK_EQ_INT(r, SIO_HTTP_E_BAD_REQUEST); /* obs-fold refused: fine too */
  }

  p = sio_http_parser_new(16384, 1024, on_request, &c);
  r = feed(p, "GET http://example.com HTTP/1.1\r\n\r\n", &used);
  sio_http_parser_free(p);
  CHECK_EQ_INT(r, SIO_HTTP_OK);
  CHECK(strcmp(c.req[c.count - 1].path, "/") == 0);
  capture_free(&c);
}

TEST(query_get) {
  const char *q = "EIO=4&transport=polling&t=N1";
  char out[64];
  int dup = 7;
  CHECK_EQ_INT(sio_http_query_get(q, strlen(q), "EIO", out, sizeof out, &dup), 1);
  CHECK(strcmp(out, "4") == 0);
  CHECK_EQ_INT(dup, 0);
  CHECK_EQ_INT(sio_http_query_get(q, strlen(q), "transport", out, sizeof out, NULL), 7);
  CHECK(strcmp(out, "polling") == 0);
  CHECK_EQ_INT(sio_http_query_get(q, strlen(q), "t", out, sizeof out, NULL), 2);
  CHECK(strcmp(out, "N1") == 0);
  CHECK_EQ_INT(sio_http_query_get(q, strlen(q), "sid", out, sizeof out, &dup), -1);
  CHECK_EQ_INT(sio_http_query_get(q, strlen(q), "EI", out, sizeof out, NULL), -1);
  /* The length bounds the string: "t=N1" is cut to "t=N". */
  CHECK_EQ_INT(sio_http_query_get(q, strlen(q) - 1, "t", out, sizeof out, NULL), 1);

  const char *d = "a=%2Fx%2fy+z%20w&b&c=&a=2&%73id=k";
  CHECK_EQ_INT(sio_http_query_get(d, strlen(d), "a", out, sizeof out, &dup), 8);
  CHECK(strcmp(out, "/x/y z w") == 0);
  CHECK_EQ_INT(dup, 1);
  CHECK_EQ_INT(sio_http_query_get(d, strlen(d), "b", out, sizeof out, &dup), 0);
  CHECK(strcmp(out, "") == 0);
  CHECK_EQ_INT(dup, 0);
  CHECK_EQ_INT(sio_http_query_get(d, strlen(d), "c", out, sizeof out, NULL), 0);
  CHECK_EQ_INT(sio_http_query_get(d, strlen(d), "sid", out, sizeof out, NULL), 1);
  CHECK(strcmp(out, "k") == 0);

  /* Truncated output still reports the full length. */
  char small[3];
  CHECK_EQ_INT(sio_http_query_get(d, strlen(d), "a", small, sizeof small, NULL), 8);
  CHECK(strcmp(small, "/x") == 0);
  CHECK_EQ_INT(sio_http_query_get(d, strlen(d), "a", NULL, 0, NULL), 8);

  /* Broken escapes stay as they are. */
  const char *e = "x=%zz%4&y=%";
  CHECK_EQ_INT(sio_http_query_get(e, strlen(e), "x", out, sizeof out, NULL), 5);
  CHECK(strcmp(out, "%zz%4") == 0);
  CHECK_EQ_INT(sio_http_query_get(e, strlen(e), "y", out, sizeof out, NULL), 1);
  CHECK(strcmp(out, "%") == 0);
  CHECK_EQ_INT(sio_http_query_get("", 0, "x", out, sizeof out, NULL), -1);
  CHECK_EQ_INT(sio_http_query_get("&&=v&", 5, "", out, sizeof out, NULL), 1);
}

/* The one percent-decoder (url.h): Node's querystring.unescape, and what counts as text. */
TEST(url_decode_and_text) {
  char out[64];
  const char *s = "a+b%21%c3%A9%-1%zz%4%";
  size_t n = sio_url_decode(s, strlen(s), out);
  CHECK_STR(out, n, "a b!\xC3\xA9%-1%zz%4%");
  CHECK_EQ_INT(sio_url_decode("", 0, out), 0);
  CHECK_EQ_INT(sio_url_is_text(s, strlen(s)), 1);
  static const char *const not_text[] = {"%00", "a%00b", "%FF", "%C3", "%ED%A0%80", "%C0%80", "x%F4%90%80%80"};
  for (size_t i = 0; i < sizeof not_text / sizeof *not_text; i++)
    CHECK_EQ_INT(sio_url_is_text(not_text[i], strlen(not_text[i])), 0);
  const char *ok = "EIO=4&transport=polling&name=%E4%B8%AD&&x&=y&t=N%2F1";
  CHECK_EQ_INT(sio_url_query_is_text(ok, strlen(ok)), 1);
  static const char *const bad[] = {"EIO=4&transport=polling%00", "%00=1", "a=1&b=%FF", "k%00"};
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
    CHECK_EQ_INT(sio_url_query_is_text(bad[i], strlen(bad[i])), 0);
  /* Longer than the decoder's stack buffer. */
  char big[700];
  memset(big, 'a', sizeof big);
  memcpy(big + 600, "%00", 3);
  CHECK_EQ_INT(sio_url_is_text(big, sizeof big), 0);
  memcpy(big + 600, "%41", 3);
  CHECK_EQ_INT(sio_url_is_text(big, sizeof big), 1);
}

TEST(header_has_token) {
  const char *v = "keep-alive, Upgrade";
  CHECK_EQ_INT(sio_http_header_has_token(v, strlen(v), "upgrade"), 1);
  CHECK_EQ_INT(sio_http_header_has_token(v, strlen(v), "keep-alive"), 1);
  CHECK_EQ_INT(sio_http_header_has_token(v, strlen(v), "close"), 0);
  CHECK_EQ_INT(sio_http_header_has_token(v, strlen(v), "upgrad"), 0);
  CHECK_EQ_INT(sio_http_header_has_token("Upgrader", 8, "upgrade"), 0);
  CHECK_EQ_INT(sio_http_header_has_token(" \tUPGRADE\t ,x", 13, "upgrade"), 1);
  CHECK_EQ_INT(sio_http_header_has_token("a,,b", 4, "b"), 1);
  CHECK_EQ_INT(sio_http_header_has_token("", 0, "upgrade"), 0);
  CHECK_EQ_INT(sio_http_header_has_token("upgrade", 3, "upgrade"), 0);
}

TEST(status_text) {
  CHECK(strcmp(sio_http_status_text(200), "OK") == 0);
  CHECK(strcmp(sio_http_status_text(101), "Switching Protocols") == 0);
  CHECK(strcmp(sio_http_status_text(204), "No Content") == 0);
  CHECK(strcmp(sio_http_status_text(304), "Not Modified") == 0);
  CHECK(strcmp(sio_http_status_text(400), "Bad Request") == 0);
  CHECK(strcmp(sio_http_status_text(403), "Forbidden") == 0);
  CHECK(strcmp(sio_http_status_text(404), "Not Found") == 0);
  CHECK(strcmp(sio_http_status_text(405), "Method Not Allowed") == 0);
  CHECK(strcmp(sio_http_status_text(408), "Request Timeout") == 0);
  CHECK(strcmp(sio_http_status_text(413), "Payload Too Large") == 0);
  CHECK(strcmp(sio_http_status_text(431), "Request Header Fields Too Large") == 0);
  CHECK(strcmp(sio_http_status_text(500), "Internal Server Error") == 0);
  CHECK(strcmp(sio_http_status_text(503), "Service Unavailable") == 0);
  CHECK(sio_http_status_text(799) != NULL);
}

TEST(write_head) {
  sio_sbuf_t b = SIO_SBUF_INIT;
  CHECK_EQ_INT(sio_http_write_head(&b, 200, "text/plain; charset=UTF-8", 5, 1,
                                   "Access-Control-Allow-Origin: *\r\n"),
               0);
  const char *want =
      "HTTP/1.1 200 OK\r\n"
      "Content-Type: text/plain; charset=UTF-8\r\n"
      "Content-Length: 5\r\n"
      "Connection: keep-alive\r\n"
      "Access-Control-Allow-Origin: *\r\n"
      "\r\n";
  CHECK_STR(b.data, b.len, want);
  b.len = 0;
  CHECK_EQ_INT(sio_http_write_head(&b, 101, NULL, -1, 0, NULL), 0);
  CHECK_STR(b.data, b.len, "HTTP/1.1 101 Switching Protocols\r\nConnection: close\r\n\r\n");
  /* Appends, never overwrites. */
  CHECK_EQ_INT(sio_http_write_head(&b, 404, NULL, 0, 1, NULL), 0);
  CHECK_STR(b.data, b.len,
            "HTTP/1.1 101 Switching Protocols\r\nConnection: close\r\n\r\n"
            "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: keep-alive\r\n\r\n");
  sio_sbuf_free(&b);
}

/* A large request followed by a small one: the parser keeps working after freeing grown
 * buffers, and the second request sees none of the first one's data. */
TEST(storage_reuse) {
  capture_t c = {0};
  sio_http_parser_t *p = sio_http_parser_new(65536, 200000, on_request, &c);
  size_t blen = 150000;
  char *body = malloc(blen);
  CHECK(body != NULL);
  memset(body, 'q', blen);
  char head[128];
  snprintf(head, sizeof head, "POST /big HTTP/1.1\r\nContent-Length: %zu\r\n\r\n", blen);
  size_t used;
  int r = feed(p, head, &used);
  if (r == SIO_HTTP_OK) r = sio_http_parser_execute(p, body, blen, &used);
  free(body);
  if (r == SIO_HTTP_OK) r = feed(p, "GET /small HTTP/1.1\r\nA: b\r\n\r\n", &used);
  sio_http_parser_free(p);
  CHECK_EQ_INT(r, SIO_HTTP_OK);
  CHECK_EQ_INT(c.count, 2);
  CHECK_EQ_INT(c.req[0].body_len, blen);
  CHECK(c.req[1].body == NULL);
  CHECK(strcmp(c.req[1].headers, "a=b\n") == 0);
  capture_free(&c);
}

static int continues;
static void on_continue(sio_http_parser_t *p) {
  (void)p;
  continues++;
}

/* "Expect: 100-continue" is reported when a body is announced that the limit allows, in any
 * case of the token, before the body arrives; not for HTTP/1.0, no body, or an oversized one. */
TEST(expect_continue) {
  capture_t c = {0};
  sio_http_parser_t *p = sio_http_parser_new(16384, 1024, on_request, &c);
  CHECK(p != NULL);
  sio_http_parser_on_continue(p, on_continue);
  continues = 0;
  size_t used;
  CHECK_EQ_INT(feed(p, "POST /a HTTP/1.1\r\nExpect: 100-Continue\r\nContent-Length: 3\r\n\r\n", &used),
               SIO_HTTP_OK);
  CHECK_EQ_INT(continues, 1);
  CHECK_EQ_INT(c.count, 0);
  CHECK_EQ_INT(feed(p, "abc", &used), SIO_HTTP_OK);
  CHECK_EQ_INT(c.count, 1);
  CHECK_EQ_INT(feed(p, "POST /a HTTP/1.1\r\nExpect: 100-continue\r\nTransfer-Encoding: chunked\r\n\r\n"
                       "1\r\nx\r\n0\r\n\r\n", &used), SIO_HTTP_OK);
  CHECK_EQ_INT(continues, 2);
  CHECK_EQ_INT(feed(p, "GET /a HTTP/1.1\r\nExpect: 100-continue\r\n\r\n", &used), SIO_HTTP_OK);
  CHECK_EQ_INT(feed(p, "POST /a HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 0\r\n\r\n", &used),
               SIO_HTTP_OK);
  CHECK_EQ_INT(continues, 2);
  CHECK_EQ_INT(feed(p, "POST /a HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 2000\r\n\r\n", &used),
               SIO_HTTP_E_BODY_TOO_LARGE);
  CHECK_EQ_INT(continues, 2);
  sio_http_parser_free(p);
  p = sio_http_parser_new(16384, 1024, on_request, &c);
  CHECK(p != NULL);
  sio_http_parser_on_continue(p, on_continue);
  CHECK_EQ_INT(feed(p, "POST /a HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\nx", &used),
               SIO_HTTP_OK);
  CHECK_EQ_INT(continues, 2);
  sio_http_parser_free(p);
  capture_free(&c);
}

/* sio_http_parser_reset (the server's parser cache): a parser left anywhere (mid-headers here,
 * after an error, after an upgrade) and reset parses the next connection's request exactly as a
 * new parser does, reporting to the new user; its grown buffers are kept (footprint). */
TEST(reset_reuses_a_parser) {
  const char *next = "POST /p?x=1 HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc";
  capture_t fresh = {0}, a = {0}, b = {0};
  sio_http_parser_t *f = sio_http_parser_new(16384, 1024, on_request, &fresh);
  size_t used = 0;
  CHECK_EQ_INT(feed(f, next, &used), SIO_HTTP_OK);
  sio_http_parser_free(f);
  CHECK_EQ_INT(fresh.count, 1);

  const char *starts[] = {"GET /a HTTP/1.1\r\nX-Long: 0123456789012345678901234567890123456789",
                          "BAD REQUEST\r\n\r\n",
                          "GET /ws HTTP/1.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n"};
  for (size_t k = 0; k < sizeof starts / sizeof starts[0]; k++) {
    memset(&a, 0, sizeof a);
    memset(&b, 0, sizeof b);
    sio_http_parser_t *p = sio_http_parser_new(16384, 1024, on_request, &a);
    feed(p, starts[k], &used);
    size_t kept = sio_http_parser_footprint(p);
    sio_http_parser_reset(p, 16384, 1024, on_request, &b);
    CHECK(sio_http_parser_footprint(p) == kept);
    CHECK(sio_http_parser_user(p) == &b);
    CHECK_EQ_INT(sio_http_parser_in_request(p), 0);
    CHECK_EQ_INT(feed(p, next, &used), SIO_HTTP_OK);
    CHECK_EQ_INT((int)used, (int)strlen(next));
    CHECK_EQ_INT(b.count, 1);
    CHECK(strcmp(b.req[0].method, fresh.req[0].method) == 0);
    CHECK(strcmp(b.req[0].url, fresh.req[0].url) == 0);
    CHECK(strcmp(b.req[0].headers, fresh.req[0].headers) == 0);
    CHECK(b.req[0].body && strcmp(b.req[0].body, "abc") == 0);
    sio_http_parser_free(p);
    capture_free(&a);
    capture_free(&b);
  }
  capture_free(&fresh);
}

TEST_MAIN(RUN(get_with_query), RUN(reset_reuses_a_parser), RUN(expect_continue), RUN(find_header_in_callback), RUN(byte_by_byte),
          RUN(post_content_length), RUN(chunked_body), RUN(pipelined_pause_resume),
          RUN(paused_request_stays_valid), RUN(pipelined_continue), RUN(upgrade), RUN(headers_too_large),
          RUN(header_limit_boundary), RUN(body_too_large), RUN(bad_request), RUN(misc_requests),
          RUN(query_get), RUN(url_decode_and_text), RUN(header_has_token), RUN(status_text), RUN(write_head),
          RUN(storage_reuse))
