/* sio-httpload: plain HTTP/1.1 requests per second through keep-alive connections, one request in
 * flight on each (no pipelining), for comparing HTTP routes served beside Socket.IO (bench/asgi).
 *
 *   sio-httpload --port P [--host 127.0.0.1] [--path /hello] [--connections 50] [--duration 5]
 *                [--warmup 1]
 *
 * Prints one JSON line: {"requests", "seconds", "rps", "p50_us", "p99_us", "errors"}. A response
 * is read by its head and Content-Length (what the servers compared send); anything else counts as
 * an error and closes that connection. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <uv.h>

#define BUF 65536
#define HIST 100000 /* microsecond buckets up to 100 ms; later ones in the last */

typedef struct {
  uv_tcp_t tcp;
  uv_connect_t creq;
  uv_write_t wreq;
  char buf[BUF];
  size_t len;
  uint64_t sent_at;
  int dead;
} conn_t;

static struct {
  const char *host, *path;
  int port, connections;
  double duration, warmup;
} opt = {"127.0.0.1", "/hello", 0, 50, 5, 1};

static uv_loop_t *loop;
static conn_t *conns;
static char request[512];
static size_t request_len;
static int measuring, done;
static uint64_t requests, errors, t0, t1;
static uint32_t hist[HIST];
static uv_timer_t phase;

static void send_request(conn_t *c);

static void on_closed(uv_handle_t *h) { (void)h; }

static void fail(conn_t *c) {
  if (c->dead) return;
  c->dead = 1;
  errors++;
  uv_close((uv_handle_t *)&c->tcp, on_closed);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *b) {
  (void)suggested;
  conn_t *c = h->data;
  b->base = c->buf + c->len;
  b->len = BUF - c->len;
}

/* 1 when a whole response is buffered (and consumed), 0 when more is needed, -1 when malformed. */
static int take_response(conn_t *c) {
  char *end = memmem(c->buf, c->len, "\r\n\r\n", 4);
  if (!end) return c->len == BUF ? -1 : 0;
  size_t head = (size_t)(end - c->buf) + 4;
  if (c->len < 12 || memcmp(c->buf, "HTTP/1.1 200", 12) != 0) return -1;
  const char *cl = NULL;
  for (char *p = c->buf; p < end; p++)
    if ((*p == '\n') && strncasecmp(p + 1, "content-length:", 15) == 0) cl = p + 16;
  if (!cl) return -1;
  size_t body = (size_t)strtoul(cl, NULL, 10);
  if (head + body > BUF) return -1;
  if (c->len < head + body) return 0;
  memmove(c->buf, c->buf + head + body, c->len - head - body);
  c->len -= head + body;
  return 1;
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b) {
  (void)b;
  conn_t *c = s->data;
  if (n < 0) {
    fail(c);
    return;
  }
  c->len += (size_t)n;
  int r = take_response(c);
  if (r < 0) {
    fail(c);
    return;
  }
  if (r == 0) return;
  if (measuring) {
    uint64_t us = (uv_hrtime() - c->sent_at) / 1000;
    hist[us < HIST ? us : HIST - 1]++;
    requests++;
  }
  if (!done) send_request(c);
}

static void on_written(uv_write_t *w, int status) {
  if (status) fail(w->data);
}

static void send_request(conn_t *c) {
  uv_buf_t b = uv_buf_init(request, (unsigned)request_len);
  c->sent_at = uv_hrtime();
  c->wreq.data = c;
  if (uv_write(&c->wreq, (uv_stream_t *)&c->tcp, &b, 1, on_written)) fail(c);
}

static void on_connect(uv_connect_t *req, int status) {
  conn_t *c = req->data;
  if (status) {
    fail(c);
    return;
  }
  uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
  send_request(c);
}

static uint64_t percentile(double q) {
  uint64_t want = (uint64_t)((double)requests * q), seen = 0;
  for (int i = 0; i < HIST; i++) {
    seen += hist[i];
    if (seen > want) return (uint64_t)i;
  }
  return HIST - 1;
}

static void on_end(uv_timer_t *t) {
  (void)t;
  t1 = uv_hrtime();
  measuring = 0;
  done = 1;
  for (int i = 0; i < opt.connections; i++)
    if (!conns[i].dead) {
      conns[i].dead = 1;
      uv_close((uv_handle_t *)&conns[i].tcp, on_closed);
    }
  uv_close((uv_handle_t *)&phase, NULL);
}

static void on_warm(uv_timer_t *t) {
  measuring = 1;
  t0 = uv_hrtime();
  uv_timer_start(t, on_end, (uint64_t)(opt.duration * 1000), 0);
}

int main(int argc, char **argv) {
  for (int i = 1; i + 1 < argc; i += 2) {
    const char *k = argv[i], *v = argv[i + 1];
    if (!strcmp(k, "--port")) opt.port = atoi(v);
    else if (!strcmp(k, "--host")) opt.host = v;
    else if (!strcmp(k, "--path")) opt.path = v;
    else if (!strcmp(k, "--connections")) opt.connections = atoi(v);
    else if (!strcmp(k, "--duration")) opt.duration = atof(v);
    else if (!strcmp(k, "--warmup")) opt.warmup = atof(v);
    else {
      fprintf(stderr, "sio-httpload: unknown flag %s\n", k);
      return 2;
    }
  }
  if (opt.port <= 0 || opt.connections <= 0 || opt.duration <= 0) {
    fprintf(stderr, "usage: sio-httpload --port P [--host H] [--path /hello] [--connections N] "
                    "[--duration S] [--warmup S]\n");
    return 2;
  }
  request_len = (size_t)snprintf(request, sizeof request, "GET %s HTTP/1.1\r\nHost: %s:%d\r\n\r\n",
                                 opt.path, opt.host, opt.port);
  loop = uv_default_loop();
  struct sockaddr_in addr;
  if (uv_ip4_addr(opt.host, opt.port, &addr)) return 2;
  conns = calloc((size_t)opt.connections, sizeof *conns);
  if (!conns) return 1;
  for (int i = 0; i < opt.connections; i++) {
    conn_t *c = &conns[i];
    uv_tcp_init(loop, &c->tcp);
    uv_tcp_nodelay(&c->tcp, 1);
    c->tcp.data = c;
    c->creq.data = c;
    uv_tcp_connect(&c->creq, &c->tcp, (const struct sockaddr *)&addr, on_connect);
  }
  uv_timer_init(loop, &phase);
  uv_timer_start(&phase, on_warm, (uint64_t)(opt.warmup * 1000), 0);
  uv_run(loop, UV_RUN_DEFAULT);
  double secs = (double)(t1 - t0) / 1e9;
  printf("{\"requests\":%llu,\"seconds\":%.3f,\"rps\":%.1f,\"p50_us\":%llu,\"p99_us\":%llu,"
         "\"errors\":%llu}\n",
         (unsigned long long)requests, secs, secs > 0 ? (double)requests / secs : 0.0,
         (unsigned long long)percentile(0.5), (unsigned long long)percentile(0.99),
         (unsigned long long)errors);
  free(conns);
  return 0;
}
