/* The HTTP server's timeouts and keep-alive: a slow request gets 408 and a close, an idle
 * keep-alive connection is closed, pipelined requests are answered in order, and none of it stops
 * the server from serving others. A client thread uses blocking sockets; the loop runs here. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "sio.h"
#include "test.h"

typedef struct {
  uv_loop_t loop;
  sio_server_t *server;
  uv_async_t done;
  int port;
  int ok;            /* set by the client thread */
  char detail[256];  /* why not ok */
  void (*client)(void *ctx);
} fixture_t;

static int dial(int port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {0};
  a.sin_family = AF_INET;
  a.sin_port = htons((uint16_t)port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  struct timeval tv = {5, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

static void send_all(int fd, const char *s) {
  size_t n = strlen(s);
  while (n) {
    ssize_t w = write(fd, s, n);
    if (w <= 0) return;
    s += w;
    n -= (size_t)w;
  }
}

/* Reads until the peer closes or `limit` bytes; returns the length. */
static size_t read_until_close(int fd, char *buf, size_t limit) {
  size_t n = 0;
  while (n < limit - 1) {
    ssize_t r = read(fd, buf + n, limit - 1 - n);
    if (r <= 0) break;
    n += (size_t)r;
  }
  buf[n] = '\0';
  return n;
}

static void on_done(uv_async_t *h) {
  fixture_t *f = h->data;
  uv_close((uv_handle_t *)&f->done, NULL);
  sio_server_close(f->server, NULL);
}

static void *client_main(void *arg) {
  fixture_t *f = arg;
  f->client(f);
  uv_async_send(&f->done);
  return NULL;
}

static void echo(sio_session_t *s, const char *data, size_t len, int binary) {
  sio_session_send(s, data, len, binary);
}

static int run(fixture_t *f, void (*client)(void *), const sio_server_options_t *opts) {
  uv_loop_init(&f->loop);
  f->client = client;
  f->ok = 0;
  if (sio_server_new(&f->loop, opts, &f->server) != 0) return 0;
  sio_engine_callbacks_t cbs = {NULL, echo, NULL, NULL};
  sio_engine_t *e;
  if (sio_engine_new(f->server, NULL, &cbs, &e) != 0) return 0;
  if (sio_server_listen(f->server, "127.0.0.1", 0) != 0) return 0;
  f->port = sio_server_port(f->server);
  uv_async_init(&f->loop, &f->done, on_done);
  f->done.data = f;
  pthread_t t;
  pthread_create(&t, NULL, client_main, f);
  uv_run(&f->loop, UV_RUN_DEFAULT);
  pthread_join(t, NULL);
  int closed = uv_loop_close(&f->loop) == 0;
  if (!closed) snprintf(f->detail, sizeof f->detail, "handles left on the loop");
  return closed;
}

/* Runs `client` against a fresh server; 1 when it reported success and the loop ended clean. */
static int client_passes(void (*client)(void *), const sio_server_options_t *opts) {
  fixture_t f = {0};
  int clean = run(&f, client, opts);
  if (!clean || !f.ok) fprintf(stderr, "%s\n", f.detail);
  return clean && f.ok;
}

/* ---------------------------------------------------------------------------------------------- */

static void slow_request_client(void *ctx) {
  fixture_t *f = ctx;
  int fd = dial(f->port);
  send_all(fd, "GET /engine.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: x\r\n"); /* never ends */
  char buf[4096];
  read_until_close(fd, buf, sizeof buf);
  close(fd);
  if (strncmp(buf, "HTTP/1.1 408 ", 13) != 0) {
    snprintf(f->detail, sizeof f->detail, "slow request got: %.60s", buf);
    return;
  }
  /* The server still answers others. */
  fd = dial(f->port);
  send_all(fd, "GET /nowhere HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  read_until_close(fd, buf, sizeof buf);
  close(fd);
  f->ok = strncmp(buf, "HTTP/1.1 404 ", 13) == 0;
  if (!f->ok) snprintf(f->detail, sizeof f->detail, "then got: %.60s", buf);
}

TEST(slow_request_gets_408) {
  sio_server_options_t o;
  sio_server_options_init(&o);
  o.request_timeout_ms = 1200;
  CHECK(client_passes(slow_request_client, &o));
}

static void idle_client(void *ctx) {
  fixture_t *f = ctx;
  int fd = dial(f->port);
  send_all(fd, "GET /nowhere HTTP/1.1\r\nHost: x\r\n\r\n");
  char buf[4096];
  struct timeval t0, t1;
  gettimeofday(&t0, NULL);
  size_t n = read_until_close(fd, buf, sizeof buf); /* the 404, then the close after idling */
  gettimeofday(&t1, NULL);
  close(fd);
  long ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_usec - t0.tv_usec) / 1000;
  f->ok = n > 0 && strncmp(buf, "HTTP/1.1 404 ", 13) == 0 && strstr(buf, "keep-alive") && ms >= 900 &&
          ms < 4500;
  if (!f->ok) snprintf(f->detail, sizeof f->detail, "closed after %ld ms: %.60s", ms, buf);
}

TEST(idle_keep_alive_connection_is_closed) {
  sio_server_options_t o;
  sio_server_options_init(&o);
  o.keep_alive_timeout_ms = 1000;
  CHECK(client_passes(idle_client, &o));
}

static void pipelined_client(void *ctx) {
  fixture_t *f = ctx;
  int fd = dial(f->port);
  /* A handshake, a 404 and a bad-EIO request in one write: answered in order. */
  send_all(fd,
           "GET /engine.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: x\r\n\r\n"
           "GET /nowhere HTTP/1.1\r\nHost: x\r\n\r\n"
           "GET /engine.io/?EIO=9&transport=polling HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  char buf[8192];
  read_until_close(fd, buf, sizeof buf);
  close(fd);
  char *a = strstr(buf, "HTTP/1.1 200 ");
  char *b = strstr(buf, "HTTP/1.1 404 ");
  char *c = strstr(buf, "HTTP/1.1 400 ");
  f->ok = a == buf && b && c && a < b && b < c && strstr(a, "0{\"sid\":") &&
          strstr(c, "{\"code\":5,\"message\":\"Unsupported protocol version\"}");
  if (!f->ok) snprintf(f->detail, sizeof f->detail, "got: %.200s", buf);
}

TEST(pipelined_requests_in_order) {
  CHECK(client_passes(pipelined_client, NULL));
}

static void chunked_post_client(void *ctx) {
  fixture_t *f = ctx;
  int fd = dial(f->port);
  send_all(fd, "GET /engine.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: x\r\n\r\n");
  char buf[8192];
  ssize_t n = read(fd, buf, sizeof buf - 1);
  buf[n > 0 ? n : 0] = '\0';
  char *sid = strstr(buf, "\"sid\":\"");
  if (!sid) {
    snprintf(f->detail, sizeof f->detail, "no handshake: %.100s", buf);
    close(fd);
    return;
  }
  char id[21];
  memcpy(id, sid + 7, 20);
  id[20] = '\0';
  char req[512];
  /* A chunked POST of "4hi" + "\x1e4yo", then a poll on the same keep-alive connection. */
  snprintf(req, sizeof req,
           "POST /engine.io/?EIO=4&transport=polling&sid=%s HTTP/1.1\r\nHost: x\r\n"
           "Transfer-Encoding: chunked\r\n\r\n3\r\n4hi\r\n4\r\n\x1e" "4yo\r\n0\r\n\r\n"
           "GET /engine.io/?EIO=4&transport=polling&sid=%s HTTP/1.1\r\nHost: x\r\n"
           "Connection: close\r\n\r\n",
           id, id);
  send_all(fd, req);
  read_until_close(fd, buf, sizeof buf);
  close(fd);
  char *ok = strstr(buf, "\r\n\r\nok");
  f->ok = ok && strstr(ok, "\r\n\r\n4hi\x1e" "4yo");
  if (!f->ok) snprintf(f->detail, sizeof f->detail, "got: %.200s", buf);
}

TEST(chunked_post_then_poll_on_one_connection) {
  CHECK(client_passes(chunked_post_client, NULL));
}

TEST_MAIN(RUN(slow_request_gets_408), RUN(idle_keep_alive_connection_is_closed),
          RUN(pipelined_requests_in_order), RUN(chunked_post_then_poll_on_one_connection))
