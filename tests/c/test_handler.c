/* Application handlers (sio_server_handler) beside engines and static mounts, over raw HTTP on
 * 127.0.0.1: what the request handle shows, answers now and later, keep-alive and pipelining,
 * HEAD, bodies (chunked, over the bound), a client that leaves, a handler that never answers,
 * shutdown, precedence, and static file mounts (python-engineio's static_files). */
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "net_client.h"
#include "sio.h"
#include "test.h"

#define CASE_TIMEOUT_MS 6000

typedef struct {
  int calls, aborts, late_status;
  sio_http_req_t *held; /* a request answered later */
  uv_timer_t timer;
  int timer_on;
  int respond_later;  /* hold requests under /later/ and answer from a timer */
  int never;          /* hold every request, never answer (until aborted) */
  char seen[2048];    /* what the handler saw of the last request */
} state_t;

static void on_abort(sio_http_req_t *req) {
  nh_t *h = sio_http_req_get_data(req);
  state_t *st = h->user;
  st->aborts++;
  if (st->held == req) st->held = NULL;
  st->late_status = sio_http_respond(req, 200, NULL, "late", 4); /* harmless: released */
  nh_signal(h);
}

static void on_timer(uv_timer_t *t) {
  nh_t *h = t->data;
  state_t *st = h->user;
  if (!st->held) return;
  static const char *const hdrs[] = {"Content-Type", "text/plain", NULL};
  sio_http_req_t *req = st->held;
  st->held = NULL;
  sio_http_respond(req, 202, hdrs, "later", 5);
}

static void on_request(sio_http_req_t *req, void *arg) {
  nh_t *h = arg;
  state_t *st = h->user;
  st->calls++;
  sio_http_req_set_data(req, h);
  size_t blen;
  const char *body = sio_http_req_body(req, &blen);
  int n = snprintf(st->seen, sizeof st->seen, "%s|%s|%s|%s|%s|%s|%s|%zu:%s|", sio_http_req_method(req),
                   sio_http_req_url(req), sio_http_req_path(req), sio_http_req_decoded_path(req),
                   sio_http_req_query(req), sio_http_req_protocol(req), sio_http_req_remote_addr(req),
                   blen, body);
  const char *name, *value;
  for (size_t i = 0; n > 0 && (size_t)n < sizeof st->seen &&
                     sio_http_req_header_at(req, i, &name, &value) == 0; i++)
    n += snprintf(st->seen + n, sizeof st->seen - (size_t)n, "%s=%s;", name, value);
  if (st->never || (st->respond_later && strncmp(sio_http_req_path(req), "/later/", 7) == 0)) {
    sio_http_req_on_abort(req, on_abort);
    st->held = req;
    if (!st->never) {
      uv_timer_start(&st->timer, on_timer, 50, 0);
    }
    return;
  }
  if (strcmp(sio_http_req_path(req), "/echo") == 0) {
    sio_http_respond(req, 200, NULL, body, blen);
    return;
  }
  /* A refused header first: nothing is sent, the handle stays ours. */
  static const char *const bad[] = {"X Bad", "1", NULL};
  static const char *const crlf[] = {"X-Ok", "a\r\nb", NULL};
  if (sio_http_respond(req, 200, bad, NULL, 0) != SIO_EINVAL ||
      sio_http_respond(req, 99, NULL, NULL, 0) != SIO_EINVAL ||
      sio_http_respond(req, 200, crlf, NULL, 0) != SIO_EINVAL) {
    sio_http_respond(req, 500, NULL, NULL, 0);
    return;
  }
  const char *x = sio_http_req_header(req, "X-TEST");
  static const char *const hdrs[] = {"Content-Type", "text/plain", "X-Handler", "yes",
                                     "Content-Length", "999", NULL};
  char out[256];
  int m = snprintf(out, sizeof out, "hello %s", x ? x : "-");
  sio_http_respond(req, 200, hdrs, out, (size_t)m);
}

static void shutdown_timer(nh_t *h) {
  state_t *st = h->user;
  if (st->timer_on) uv_close((uv_handle_t *)&st->timer, NULL);
  st->timer_on = 0;
}

/* nh_init with server options of our own. */
static int init(nh_t *h, state_t *st, const sio_server_options_t *so, const char *prefix,
                const sio_handler_options_t *ho) {
  memset(st, 0, sizeof *st);
  int r = nh_init(h);
  if (r) return r;
  if (so) {
    /* Replace the harness's server by one with these options, listening likewise. */
    sio_server_close(h->server, NULL);
    r = sio_server_new(&h->loop, so, &h->server);
    if (!r) r = sio_server_listen(h->server, "127.0.0.1", 0);
    if (r) return r;
    sio_server_set_data(h->server, h);
    h->port = sio_server_port(h->server);
  }
  h->user = st;
  h->on_shutdown = shutdown_timer;
  uv_timer_init(&h->loop, &st->timer);
  st->timer.data = h;
  st->timer_on = 1;
  return prefix ? sio_server_handler(h->server, prefix, on_request, h, ho) : 0;
}

/* ---------------------------------------------------------------------------------------------- */

static void client_basic(nh_t *h) {
  state_t *st = h->user;
  nc_conn_t *c = nh_connect(h, 0);
  nc_response_t r;
  CHECK(c);
  CHECK_EQ_INT(nc_request(c, "GET", "/api/a%20b+c?q=1&r=%C3%A9", "X-Test: one\r\n", NULL, 0, &r), 0);
  CHECK_EQ_INT(r.status, 200);
  CHECK_STR(r.body, r.body_len, "hello one");
  char v[64];
  CHECK(nc_header(&r, "x-handler", v, sizeof v) == 1 && strcmp(v, "yes") == 0);
  CHECK(nc_header(&r, "content-length", v, sizeof v) == 1 && strcmp(v, "9") == 0);
  CHECK(nc_header(&r, "connection", v, sizeof v) == 1 && strcmp(v, "keep-alive") == 0);
  char want[512];
  snprintf(want, sizeof want,
           "GET|/api/a%%20b+c?q=1&r=%%C3%%A9|/api/a%%20b+c|/api/a b+c|q=1&r=%%C3%%A9|HTTP/1.1|"
           "127.0.0.1|0:|host=127.0.0.1:%d;x-test=one;",
           h->port);
  CHECK_STR(st->seen, strlen(st->seen), want);
  /* Keep-alive: the same connection, HEAD this time (the length, no body). */
  CHECK_EQ_INT(nc_request(c, "HEAD", "/api", NULL, NULL, 0, NULL), 0);
  char *end;
  while (!(end = memmem(c->buf, c->len, "\r\n\r\n", 4))) CHECK(nc_fill(c) > 0);
  CHECK(strncmp(c->buf, "HTTP/1.1 200 OK\r\n", 17) == 0);
  CHECK(memmem(c->buf, (size_t)(end - c->buf), "Content-Length: 7\r\n", 19));
  nc_consume(c, (size_t)(end - c->buf) + 4);
  CHECK_EQ_INT(nc_request(c, "GET", "/api/", NULL, NULL, 0, &r), 0); /* no stray body before */
  CHECK_STR(r.body, r.body_len, "hello -");
  /* Outside the prefix: 404; "/apix" is not "/api". */
  CHECK_EQ_INT(nc_request(c, "GET", "/apix", NULL, NULL, 0, &r), 0);
  CHECK_EQ_INT(r.status, 404);
  CHECK_EQ_INT(nc_request(c, "GET", "/", NULL, NULL, 0, &r), 0);
  CHECK_EQ_INT(r.status, 404);
  /* A path decoding to a NUL: 400 before the handler. */
  CHECK_EQ_INT(nc_request(c, "GET", "/api/%00", NULL, NULL, 0, &r), 0);
  CHECK_EQ_INT(r.status, 400);
}

TEST(handler_basic) {
  nh_t h;
  state_t st;
  CHECK_EQ_INT(init(&h, &st, NULL, "/api", NULL), 0);
  /* Prefix errors. */
  CHECK_EQ_INT(sio_server_handler(h.server, "/api/", on_request, &h, NULL), SIO_EEXIST);
  CHECK_EQ_INT(sio_server_handler(h.server, "api", on_request, &h, NULL), SIO_EINVAL);
  CHECK_EQ_INT(sio_server_handler(h.server, "/a%20", on_request, &h, NULL), SIO_EINVAL);
  CHECK_EQ_INT(sio_server_handler(h.server, "/a//b", on_request, &h, NULL), SIO_EINVAL);
  CHECK_EQ_INT(sio_server_handler(h.server, "/x", NULL, &h, NULL), SIO_EINVAL);
  CHECK_EQ_INT(nh_run(&h, client_basic, CASE_TIMEOUT_MS), 0);
  CHECK_EQ_INT(st.calls, 3);
  CHECK_EQ_INT(st.aborts, 0);
}

/* ---------------------------------------------------------------------------------------------- */

static void client_later(nh_t *h) {
  nc_conn_t *c = nh_connect(h, 0);
  nc_response_t r;
  CHECK(c);
  /* Two pipelined requests: the first answered 50 ms later, the second at once, in order. */
  static const char two[] = "GET /later/x HTTP/1.1\r\nHost: a\r\n\r\nGET /now HTTP/1.1\r\nHost: a\r\n\r\n";
  CHECK_EQ_INT(nc_send(c, two, sizeof two - 1), 0);
  CHECK_EQ_INT(nc_read_response(c, &r), 0);
  CHECK_EQ_INT(r.status, 202);
  CHECK_STR(r.body, r.body_len, "later");
  CHECK_EQ_INT(nc_read_response(c, &r), 0);
  CHECK_EQ_INT(r.status, 200);
  CHECK_STR(r.body, r.body_len, "hello -");
}

TEST(handler_answers_later_in_order) {
  nh_t h;
  state_t st;
  CHECK_EQ_INT(init(&h, &st, NULL, "/", NULL), 0);
  st.respond_later = 1;
  CHECK_EQ_INT(nh_run(&h, client_later, CASE_TIMEOUT_MS), 0);
  CHECK_EQ_INT(st.calls, 2);
}

/* ---------------------------------------------------------------------------------------------- */

static void client_bodies(nh_t *h) {
  nc_conn_t *c = nh_connect(h, 0);
  nc_response_t r;
  CHECK(c);
  CHECK_EQ_INT(nc_request(c, "POST", "/echo", NULL, "0123456789", 10, &r), 0);
  CHECK_EQ_INT(r.status, 200);
  CHECK_STR(r.body, r.body_len, "0123456789");
  static const char chunked[] = "POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
                                "3\r\nabc\r\n4\r\ndefg\r\n0\r\n\r\n";
  CHECK_EQ_INT(nc_send(c, chunked, sizeof chunked - 1), 0);
  CHECK_EQ_INT(nc_read_response(c, &r), 0);
  CHECK_EQ_INT(r.status, 200);
  CHECK_STR(r.body, r.body_len, "abcdefg");
  /* "Expect: 100-continue": the interim answer comes before the body is sent. */
  static const char expect[] = "POST /echo HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\n"
                               "Content-Length: 5\r\n\r\n";
  CHECK_EQ_INT(nc_send(c, expect, sizeof expect - 1), 0);
  while (c->len < 25) CHECK(nc_fill(c) > 0);
  CHECK_STR(c->buf, 25, "HTTP/1.1 100 Continue\r\n\r\n");
  nc_consume(c, 25);
  CHECK_EQ_INT(nc_send(c, "12345", 5), 0);
  CHECK_EQ_INT(nc_read_response(c, &r), 0);
  CHECK_STR(r.body, r.body_len, "12345");
  /* Over the handler's bound (16): 413, and the connection closes. */
  CHECK_EQ_INT(nc_request(c, "POST", "/echo", NULL, "0123456789abcdefg", 17, &r), 0);
  CHECK_EQ_INT(r.status, 413);
  CHECK_EQ_INT(nc_read_eof(c), 0);
  /* Chunked, over the bound. */
  c = nh_connect(h, 0);
  CHECK(c);
  static const char big[] = "POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
                            "a\r\n0123456789\r\na\r\n0123456789\r\n0\r\n\r\n";
  CHECK_EQ_INT(nc_send(c, big, sizeof big - 1), 0);
  CHECK_EQ_INT(nc_read_response(c, &r), 0);
  CHECK_EQ_INT(r.status, 413);
}

TEST(handler_bodies_bounded) {
  nh_t h;
  state_t st;
  sio_handler_options_t o;
  sio_handler_options_init(&o);
  CHECK_EQ_INT(o.max_body, 1048576);
  o.max_body = 16;
  CHECK_EQ_INT(init(&h, &st, NULL, "/", &o), 0);
  CHECK_EQ_INT(nh_run(&h, client_bodies, CASE_TIMEOUT_MS), 0);
  CHECK_EQ_INT(st.calls, 3);
}

/* ---------------------------------------------------------------------------------------------- */

static void client_leaves(nh_t *h) {
  nc_conn_t *c = nh_connect(h, 0);
  CHECK(c);
  CHECK_EQ_INT(nc_request(c, "GET", "/x", NULL, NULL, 0, NULL), 0);
  nh_sleep_ms(50);
  nc_close(c);
  CHECK_EQ_INT(nh_wait(h, 1, 2000), 0); /* the abort callback */
}

TEST(handler_client_leaves) {
  nh_t h;
  state_t st;
  CHECK_EQ_INT(init(&h, &st, NULL, "/", NULL), 0);
  st.never = 1;
  CHECK_EQ_INT(nh_run(&h, client_leaves, CASE_TIMEOUT_MS), 0);
  CHECK_EQ_INT(st.calls, 1);
  CHECK_EQ_INT(st.aborts, 1);
  CHECK_EQ_INT(st.late_status, SIO_ECLOSED);
}

static void client_never_answered(nh_t *h) {
  nc_conn_t *c = nh_connect(h, 0);
  nc_response_t r;
  CHECK(c);
  uint64_t t0 = uv_hrtime();
  CHECK_EQ_INT(nc_request(c, "GET", "/x", NULL, NULL, 0, &r), 0);
  CHECK_EQ_INT(r.status, 503);
  CHECK((uv_hrtime() - t0) / 1000000 < 2500); /* 200 ms, seen by a sweep each second */
  CHECK_EQ_INT(nc_read_eof(c), 0);
  CHECK_EQ_INT(nh_wait(h, 1, 1000), 0);
}

TEST(handler_never_answers_times_out) {
  nh_t h;
  state_t st;
  sio_server_options_t so;
  sio_server_options_init(&so);
  so.request_timeout_ms = 200;
  CHECK_EQ_INT(init(&h, &st, &so, "/", NULL), 0);
  st.never = 1;
  CHECK_EQ_INT(nh_run(&h, client_never_answered, CASE_TIMEOUT_MS), 0);
  CHECK_EQ_INT(st.aborts, 1);
  CHECK_EQ_INT(st.late_status, SIO_ECLOSED);
}

static void close_server(nh_t *h, void *arg) {
  (void)arg;
  nh_close_server(h);
}

static void client_shutdown(nh_t *h) {
  nc_conn_t *c = nh_connect(h, 0);
  CHECK(c);
  CHECK_EQ_INT(nc_request(c, "GET", "/x", NULL, NULL, 0, NULL), 0);
  nh_sleep_ms(100);
  /* The server closes with the request held: the handler learns, the client gets 503. */
  CHECK_EQ_INT(nh_call(h, close_server, NULL), 0);
  CHECK_EQ_INT(nh_wait(h, 1, 1000), 0);
  nc_response_t r;
  CHECK_EQ_INT(nc_read_response(c, &r), 0);
  CHECK_EQ_INT(r.status, 503);
}

TEST(handler_server_close_aborts) {
  nh_t h;
  state_t st;
  CHECK_EQ_INT(init(&h, &st, NULL, "/", NULL), 0);
  st.never = 1;
  CHECK_EQ_INT(nh_run(&h, client_shutdown, CASE_TIMEOUT_MS), 0);
  CHECK_EQ_INT(st.calls, 1);
  CHECK_EQ_INT(st.aborts, 1);
  CHECK_EQ_INT(h.server_closed, 1);
}

/* ---------------------------------------------------------------------------------------------- */
/* Precedence, and static file mounts                                                              */

static char dir[64];

static int write_file(const char *name, const char *text) {
  char p[256];
  snprintf(p, sizeof p, "%s/%s", dir, name);
  FILE *f = fopen(p, "w");
  if (!f) return -1;
  fputs(text, f);
  return fclose(f);
}

static void client_precedence(nh_t *h) {
  nc_conn_t *c = nh_connect(h, 0);
  nc_response_t r;
  char v[128];
  CHECK(c);
  CHECK_EQ_INT(nc_request(c, "GET", "/socket.io/?EIO=4&transport=polling", NULL, NULL, 0, &r), 0);
  CHECK_EQ_INT(r.status, 200);
  CHECK(r.body[0] == '0');
  CHECK_EQ_INT(nc_request(c, "GET", "/", NULL, NULL, 0, &r), 0); /* the file at "/" */
  CHECK_EQ_INT(r.status, 200);
  CHECK_STR(r.body, r.body_len, "<p>app</p>");
  CHECK(nc_header(&r, "content-type", v, sizeof v) && strcmp(v, "text/html; charset=utf-8") == 0);
  CHECK_EQ_INT(nc_request(c, "GET", "/page", NULL, NULL, 0, &r), 0); /* content_type given */
  CHECK_STR(r.body, r.body_len, "<p>app</p>");
  CHECK(nc_header(&r, "content-type", v, sizeof v) && strcmp(v, "text/x-mine") == 0);
  CHECK_EQ_INT(nc_request(c, "GET", "/static/a.txt", NULL, NULL, 0, &r), 0); /* "/static" dir */
  CHECK_EQ_INT(r.status, 200);
  CHECK_STR(r.body, r.body_len, "A");
  CHECK_EQ_INT(nc_request(c, "GET", "/static", NULL, NULL, 0, &r), 0);
  CHECK_EQ_INT(r.status, 301);
  CHECK_EQ_INT(nc_request(c, "GET", "/static/missing", NULL, NULL, 0, &r), 0); /* to the handler */
  CHECK_EQ_INT(r.status, 200);
  CHECK_STR(r.body, r.body_len, "hello -");
  CHECK_EQ_INT(nc_request(c, "POST", "/", NULL, "", 0, &r), 0); /* not GET: to the handler */
  CHECK_STR(r.body, r.body_len, "hello -");
  CHECK_EQ_INT(nc_request(c, "GET", "/index.html", NULL, NULL, 0, &r), 0); /* "/" is exact */
  CHECK_STR(r.body, r.body_len, "hello -");
  CHECK_EQ_INT(nc_request(c, "HEAD", "/", NULL, NULL, 0, NULL), 0);
  CHECK_EQ_INT(nc_request(c, "GET", "/hello", NULL, NULL, 0, NULL), 0);
  char *end;
  while (!(end = memmem(c->buf, c->len, "\r\n\r\n", 4))) CHECK(nc_fill(c) > 0);
  CHECK(memmem(c->buf, (size_t)(end - c->buf), "Content-Length: 10\r\n", 20));
  nc_consume(c, (size_t)(end - c->buf) + 4);
  CHECK_EQ_INT(nc_read_response(c, &r), 0); /* HEAD left no body behind */
  CHECK_STR(r.body, r.body_len, "hello -");
}

TEST(handler_after_engines_and_static) {
  strcpy(dir, "/tmp/sio-handler-XXXXXX");
  CHECK(mkdtemp(dir));
  char sub[128], app[128];
  snprintf(sub, sizeof sub, "%s/static", dir);
  snprintf(app, sizeof app, "%s/app.html", dir);
  CHECK_EQ_INT(mkdir(sub, 0700), 0);
  CHECK_EQ_INT(write_file("app.html", "<p>app</p>"), 0);
  CHECK_EQ_INT(write_file("static/a.txt", "A"), 0);
  nh_t h;
  state_t st;
  CHECK_EQ_INT(init(&h, &st, NULL, "/", NULL), 0);
  sio_io_t *io;
  CHECK_EQ_INT(sio_io_new(h.server, NULL, &io), 0);
  CHECK_EQ_INT(sio_server_static(h.server, "/", app, NULL), 0);
  CHECK_EQ_INT(sio_server_static(h.server, "/", app, NULL), SIO_EEXIST);
  sio_static_options_t so;
  sio_static_options_init(&so);
  so.content_type = "text/x-mine";
  CHECK_EQ_INT(sio_server_static(h.server, "/page", app, &so), 0);
  so.content_type = "text/x\r\nX: y";
  CHECK_EQ_INT(sio_server_static(h.server, "/page2", app, &so), SIO_EINVAL);
  CHECK_EQ_INT(sio_server_static(h.server, "/static", sub, NULL), 0);
  CHECK_EQ_INT(nh_run(&h, client_precedence, CASE_TIMEOUT_MS), 0);
  CHECK_EQ_INT(st.calls, 4);
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
  CHECK_EQ_INT(system(cmd), 0);
}

TEST_MAIN(RUN(handler_basic), RUN(handler_answers_later_in_order), RUN(handler_bodies_bounded),
          RUN(handler_client_leaves), RUN(handler_never_answers_times_out),
          RUN(handler_server_close_aborts), RUN(handler_after_engines_and_static))
