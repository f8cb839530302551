/* The cluster API without a Redis server: option defaults, URL validation, sio_nsp_fetch_count
 * with the memory adapter (answered from the loop, never inside the call), a cluster whose Redis
 * refuses the connection (fetch_count fails fast, the server still closes and the loop ends, also
 * mid-connect and during the backoff), and the connection lifecycle against a fake Redis on
 * loopback that drops its connections and comes back (reconnect, resubscribe, fail fast while
 * away). Talking to a real Redis (and to Node nodes) is tests/js/cluster.test.mjs. */
#include <arpa/inet.h>
#include <signal.h>
#include <strings.h>

#include "sio.h"
#include "test.h"

/* As every libuv program (and sio's README) does: a write to a Redis that just dropped the
 * connection fails with EPIPE instead of killing the process. */
__attribute__((constructor)) static void ignore_sigpipe(void) { signal(SIGPIPE, SIG_IGN); }

typedef struct {
  int calls, status;
  size_t count;
} count_res_t;

static void on_count(sio_nsp_t *nsp, int status, size_t count, void *arg) {
  (void)nsp;
  count_res_t *r = arg;
  r->calls++;
  r->status = status;
  r->count = count;
}

static void on_closed(sio_server_t *s) { (void)s; }

typedef struct {
  int calls, status;
  size_t n;
} rooms_res_t;

static void on_rooms(sio_nsp_t *nsp, int status, const char *const *rooms, size_t n, void *arg) {
  (void)nsp, (void)rooms;
  rooms_res_t *r = arg;
  r->calls++;
  r->status = status;
  r->n = n;
}

static void on_sockets(sio_nsp_t *nsp, int status, const cJSON *sockets, void *arg) {
  (void)nsp;
  if (status == 0 && cJSON_IsArray(sockets) && cJSON_GetArraySize(sockets) == 0) ++*(int *)arg;
}

#ifdef SIO_TEST_HAVE_REDIS
/* Records the status (once: a second call would add up). */
static void on_server_ack_status(sio_nsp_t *nsp, int status, const cJSON *responses, void *arg) {
  (void)nsp, (void)responses;
  *(int *)arg += status;
}
#endif

static void on_server_ack(sio_nsp_t *nsp, int status, const cJSON *responses, void *arg) {
  (void)nsp, (void)status, (void)responses;
  ++*(int *)arg;
}

static int make(uv_loop_t *loop, sio_server_t **server, sio_io_t **io) {
  if (sio_server_new(loop, NULL, server)) return -1;
  if (sio_io_new(*server, NULL, io)) return -1;
  return 0;
}

TEST(options_defaults) {
  sio_redis_options_t o;
  memset(&o, 0xff, sizeof o);
  sio_redis_options_init(&o);
  CHECK(o.url == NULL);
  CHECK(o.key && strcmp(o.key, "socket.io") == 0);
  CHECK_EQ_INT(o.requests_timeout_ms, 5000);
}

TEST(fetch_count_memory_is_async) {
  uv_loop_t loop;
  uv_loop_init(&loop);
  sio_server_t *server;
  sio_io_t *io;
  CHECK(make(&loop, &server, &io) == 0);
  sio_nsp_t *root;
  CHECK_EQ_INT(sio_io_of(io, "/", &root), 0);
  count_res_t r = {0, 1, 99};
  CHECK_EQ_INT(sio_nsp_fetch_count(root, NULL, on_count, &r), 0);
  CHECK_EQ_INT(r.calls, 0); /* not inside the call */
  CHECK_EQ_INT(sio_nsp_fetch_count(NULL, NULL, on_count, &r), SIO_EINVAL);
  CHECK_EQ_INT(sio_nsp_fetch_count(root, NULL, NULL, &r), SIO_EINVAL);
  uv_run(&loop, UV_RUN_NOWAIT);
  CHECK_EQ_INT(r.calls, 1);
  CHECK_EQ_INT(r.status, 0);
  CHECK_EQ_INT(r.count, 0);
  /* a count still pending when the server closes ends with SIO_ECLOSED */
  count_res_t r2 = {0, 1, 99};
  CHECK_EQ_INT(sio_nsp_fetch_count(root, NULL, on_count, &r2), 0);
  sio_server_close(server, on_closed);
  uv_run(&loop, UV_RUN_DEFAULT);
  CHECK_EQ_INT(r2.calls, 1);
  CHECK_EQ_INT(r2.status, SIO_ECLOSED);
  CHECK_EQ_INT(uv_loop_close(&loop), 0);
}

/* Without a cluster: allRooms is this node's rooms (from the loop); serverSideEmit has nobody to
 * reach, as Node's in-memory adapter, which throws. */
TEST(requests_without_cluster) {
  uv_loop_t loop;
  uv_loop_init(&loop);
  sio_server_t *server;
  sio_io_t *io;
  CHECK(make(&loop, &server, &io) == 0);
  sio_nsp_t *root;
  CHECK_EQ_INT(sio_io_of(io, "/", &root), 0);
  rooms_res_t r = {0, 1, 99};
  CHECK_EQ_INT(sio_nsp_fetch_rooms(root, on_rooms, &r), 0);
  CHECK_EQ_INT(r.calls, 0);
  CHECK_EQ_INT(sio_nsp_fetch_rooms(root, NULL, &r), SIO_EINVAL);
  uv_run(&loop, UV_RUN_NOWAIT);
  CHECK_EQ_INT(r.calls, 1);
  CHECK_EQ_INT(r.status, 0);
  CHECK_EQ_INT(r.n, 0);
  int acks = 0;
  CHECK_EQ_INT(sio_nsp_fetch_sockets(root, NULL, on_sockets, &acks), 0);
  CHECK_EQ_INT(acks, 0);
  uv_run(&loop, UV_RUN_NOWAIT);
  CHECK_EQ_INT(acks, 1); /* an empty array: nobody is connected */
  acks = 0;
  CHECK_EQ_INT(sio_nsp_server_emit(root, "x", NULL), UV_ENOSYS);
  CHECK_EQ_INT(sio_nsp_server_emit_ack(root, "x", NULL, on_server_ack, &acks), UV_ENOSYS);
  CHECK_EQ_INT(sio_nsp_server_reply(root, "abcdef", NULL), UV_ENOSYS);
  /* JSON only: the wire is JSON text */
  cJSON *args = cJSON_CreateArray();
  cJSON_AddItemToArray(args, cJSON_Parse("{\"_placeholder\":true,\"num\":0}"));
  sio_buf_t buf = {"\x01", 1};
  sio_args_t a = {args, &buf, 1};
  CHECK_EQ_INT(sio_nsp_server_emit_ack(root, "x", &a, on_server_ack, &acks), SIO_EINVAL);
  CHECK_EQ_INT(sio_nsp_server_emit(root, NULL, NULL), SIO_EINVAL);
  cJSON_Delete(args);
  sio_server_close(server, on_closed);
  uv_run(&loop, UV_RUN_DEFAULT);
  CHECK_EQ_INT(acks, 0);
  CHECK_EQ_INT(uv_loop_close(&loop), 0);
}

#ifdef SIO_TEST_HAVE_REDIS
TEST(use_redis_urls) {
  uv_loop_t loop;
  uv_loop_init(&loop);
  sio_server_t *server;
  sio_io_t *io;
  CHECK(make(&loop, &server, &io) == 0);
  sio_redis_options_t o;
  sio_redis_options_init(&o);
  CHECK_EQ_INT(sio_io_use_redis(io, &o), SIO_EINVAL); /* no url */
  static const char *const bad[] = {"http://127.0.0.1", "redis://", "redis://h:0", "redis://h:99999",
                                    "redis://h:12x", "redis://:pw@"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    o.url = bad[i];
    if (sio_io_use_redis(io, &o) != SIO_EINVAL) {
      fprintf(stderr, "accepted %s\n", bad[i]);
      CHECK(0);
    }
  }
  sio_server_close(server, on_closed);
  uv_run(&loop, UV_RUN_DEFAULT);
  CHECK_EQ_INT(uv_loop_close(&loop), 0);
}

static void on_timer(uv_timer_t *t) { uv_stop(t->loop); }

TEST(unreachable_redis) {
  uv_loop_t loop;
  uv_loop_init(&loop);
  sio_server_t *server;
  sio_io_t *io;
  CHECK(make(&loop, &server, &io) == 0);
  sio_nsp_t *root, *later;
  CHECK_EQ_INT(sio_io_of(io, "/", &root), 0);
  sio_redis_options_t o;
  sio_redis_options_init(&o);
  o.url = "redis://user:pw@127.0.0.1:1/3"; /* port 1: refused */
  CHECK_EQ_INT(sio_io_use_redis(io, &o), 0);
  CHECK_EQ_INT(sio_io_use_redis(io, &o), SIO_EEXIST);
  CHECK_EQ_INT(sio_io_of(io, "/later", &later), 0); /* clustered too */
  count_res_t r = {0, 1, 99};
  /* not connected (yet, or ever): fails fast, through the callback from the loop */
  CHECK_EQ_INT(sio_nsp_fetch_count(root, NULL, on_count, &r), 0);
  CHECK_EQ_INT(r.calls, 0);
  uv_timer_t t;
  uv_timer_init(&loop, &t);
  uv_timer_start(&t, on_timer, 200, 0);
  uv_run(&loop, UV_RUN_DEFAULT); /* the refusals are logged, the retries are not */
  CHECK_EQ_INT(r.calls, 1);
  CHECK_EQ_INT(r.status, SIO_EUNAVAIL);
  CHECK_EQ_INT(r.count, 0);
  CHECK(strstr(sio_strerror(SIO_EUNAVAIL), "Redis") != NULL);
  CHECK(strcmp(sio_err_name(SIO_EUNAVAIL), "EUNAVAIL") == 0);
  count_res_t r2 = {0, 1, 99};
  CHECK_EQ_INT(sio_nsp_fetch_count(later, NULL, on_count, &r2), 0);
  /* local delivery goes on */
  /* the other requests fail the same way, from the loop; selections and broadcasts go on locally */
  int acks = 0;
  rooms_res_t rr = {0, 1, 99};
  CHECK_EQ_INT(sio_nsp_server_emit_ack(root, "x", NULL, on_server_ack_status, &acks), 0);
  CHECK_EQ_INT(sio_nsp_fetch_rooms(root, on_rooms, &rr), 0);
  CHECK_EQ_INT(sio_nsp_server_emit(root, "x", NULL), SIO_EUNAVAIL);
  CHECK_EQ_INT(sio_nsp_join(root, NULL, "room"), 0);
  CHECK_EQ_INT(sio_nsp_emit(root, NULL, "x", NULL), 0);
  uv_run(&loop, UV_RUN_NOWAIT);
  CHECK_EQ_INT(r2.calls, 1);
  CHECK_EQ_INT(r2.status, SIO_EUNAVAIL);
  CHECK_EQ_INT(acks, SIO_EUNAVAIL);
  CHECK_EQ_INT(rr.calls, 1);
  CHECK_EQ_INT(rr.status, SIO_EUNAVAIL);
  /* metrics: Redis is down, nothing was published (Redis metrics appear once Redis is used) */
  sio_stats_t st = {.size = sizeof st};
  CHECK_EQ_INT(sio_io_stats(io, &st), 0);
  CHECK_EQ_INT(st.redis_up, 0);
  CHECK_EQ_INT((int)st.redis_published, 0);
  CHECK_EQ_INT((int)st.broadcasts, 1);
  char *text = NULL;
  CHECK_EQ_INT(sio_io_metrics_text(io, &text, NULL), 0);
  CHECK(text && strstr(text, "\nsio_redis_up 0\n") && strstr(text, "\nsio_redis_published_total 0\n"));
  free(text);
  uv_close((uv_handle_t *)&t, NULL);
  /* closed while waiting out a backoff: the retry timers and the contexts go with the server */
  sio_server_close(server, on_closed);
  CHECK_EQ_INT(sio_nsp_fetch_count(root, NULL, on_count, &r2), SIO_ECLOSED);
  uv_run(&loop, UV_RUN_DEFAULT); /* ends: nothing of the cluster keeps the loop alive */
  CHECK_EQ_INT(uv_loop_close(&loop), 0);
}

TEST(close_mid_connect) {
  uv_loop_t loop;
  uv_loop_init(&loop);
  sio_server_t *server;
  sio_io_t *io;
  CHECK(make(&loop, &server, &io) == 0);
  sio_redis_options_t o;
  sio_redis_options_init(&o);
  o.url = "redis://127.0.0.1:1";
  CHECK_EQ_INT(sio_io_use_redis(io, &o), 0);
  /* both connects are in progress (the loop has not run): closing frees them and their timers */
  sio_server_close(server, on_closed);
  uv_run(&loop, UV_RUN_DEFAULT);
  CHECK_EQ_INT(uv_loop_close(&loop), 0);
  /* the same while a host name is being resolved: the lookups are let go and free themselves */
  uv_loop_init(&loop);
  CHECK(make(&loop, &server, &io) == 0);
  o.url = "redis://localhost:1";
  CHECK_EQ_INT(sio_io_use_redis(io, &o), 0);
  sio_server_close(server, on_closed);
  uv_run(&loop, UV_RUN_DEFAULT);
  CHECK_EQ_INT(uv_loop_close(&loop), 0);
}

/* ---- a fake Redis: enough RESP for the adapter's commands, and a way to drop everything ---- */

typedef struct fake fake_t;
typedef struct fake_conn {
  uv_tcp_t tcp;
  fake_t *f;
  struct fake_conn *next;
  char *in;
  size_t len;
  int subscriber; /* it sent a (P)SUBSCRIBE */
} fake_conn_t;

struct fake {
  uv_loop_t *loop;
  uv_tcp_t listener;
  int listening, port;
  fake_conn_t *conns;
  int accepted, pings, psubscribes, numsubs, publishes; /* psubscribes: one per namespace */
  int others;       /* the other nodes PUBSUB NUMSUB counts (0: this one alone) */
  char *last_pub;   /* the last PUBLISH's message (NUL-terminated copy) */
};

static void fake_free_conn(uv_handle_t *h) {
  fake_conn_t *c = h->data;
  free(c->in);
  free(c);
}

static void fake_drop(fake_conn_t *c) {
  for (fake_conn_t **p = &c->f->conns; *p; p = &(*p)->next)
    if (*p == c) {
      *p = c->next;
      break;
    }
  uv_close((uv_handle_t *)&c->tcp, fake_free_conn);
}

static void fake_write_done(uv_write_t *w, int status) {
  (void)status;
  free(w->data);
  free(w);
}

static void fake_send(fake_conn_t *c, const char *s, size_t n) {
  uv_write_t *w = malloc(sizeof *w);
  char *copy = malloc(n);
  if (!w || !copy) abort();
  memcpy(copy, s, n);
  w->data = copy;
  uv_buf_t b = uv_buf_init(copy, (unsigned)n);
  if (uv_write(w, (uv_stream_t *)&c->tcp, &b, 1, fake_write_done) != 0) fake_write_done(w, 0);
}

/* One command "*N\r\n$len\r\narg\r\n..." from c->in at *pos: its argument count, or 0 when
 * incomplete. args[i] point into c->in. */
static int fake_parse(fake_conn_t *c, size_t *pos, const char *args[4], size_t lens[4]) {
  const char *p = c->in + *pos, *end = c->in + c->len;
  char *e;
  if (p >= end || *p != '*' || !memchr(p, '\n', (size_t)(end - p))) return 0;
  long n = strtol(p + 1, &e, 10);
  p = strchr(p, '\n') + 1;
  for (long i = 0; i < n; i++) {
    if (p >= end || *p != '$' || !memchr(p, '\n', (size_t)(end - p))) return 0;
    long l = strtol(p + 1, &e, 10);
    p = strchr(p, '\n') + 1;
    if (end - p < l + 2) return 0;
    if (i < 4) {
      args[i] = p;
      lens[i] = (size_t)l;
    }
    p += l + 2;
  }
  *pos = (size_t)(p - c->in);
  return (int)(n < 4 ? n : 4);
}

static int arg_is(const char *a, size_t n, const char *s) {
  return n == strlen(s) && strncasecmp(a, s, n) == 0;
}

static void fake_answer(fake_conn_t *c) {
  size_t pos = 0;
  const char *a[4];
  size_t l[4];
  char out[512];
  int n;
  while ((n = fake_parse(c, &pos, a, l)) > 0) {
    fake_t *f = c->f;
    if (arg_is(a[0], l[0], "PING")) {
      f->pings++;
      fake_send(c, "+PONG\r\n", 7);
    } else if ((arg_is(a[0], l[0], "SUBSCRIBE") || arg_is(a[0], l[0], "PSUBSCRIBE")) && n > 1) {
      int pat = a[0][0] == 'P' || a[0][0] == 'p';
      if (pat) f->psubscribes++;
      c->subscriber = 1;
      int m = snprintf(out, sizeof out, "*3\r\n$%d\r\n%s\r\n$%zu\r\n%.*s\r\n:1\r\n", pat ? 10 : 9,
                       pat ? "psubscribe" : "subscribe", l[1], (int)l[1], a[1]);
      fake_send(c, out, (size_t)m);
    } else if (arg_is(a[0], l[0], "PUBSUB") && n > 2) {
      f->numsubs++;
      int m = snprintf(out, sizeof out, "*2\r\n$%zu\r\n%.*s\r\n:%d\r\n", l[2], (int)l[2], a[2],
                       1 + f->others);
      fake_send(c, out, (size_t)m);
    } else if (arg_is(a[0], l[0], "PUBLISH") && n > 2) {
      f->publishes++;
      free(f->last_pub);
      if (!(f->last_pub = malloc(l[2] + 1))) abort();
      memcpy(f->last_pub, a[2], l[2]);
      f->last_pub[l[2]] = '\0';
      fake_send(c, ":0\r\n", 4);
    } else {
      fake_send(c, "+OK\r\n", 5);
    }
  }
  memmove(c->in, c->in + pos, c->len - pos);
  c->len -= pos;
}

static void fake_alloc(uv_handle_t *h, size_t size, uv_buf_t *b) {
  (void)h;
  b->base = malloc(size);
  b->len = b->base ? size : 0;
}

static void fake_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b) {
  fake_conn_t *c = s->data;
  if (n < 0) {
    fake_drop(c);
  } else if (n > 0) {
    char *in = realloc(c->in, c->len + (size_t)n);
    if (!in) abort();
    c->in = in;
    memcpy(c->in + c->len, b->base, (size_t)n);
    c->len += (size_t)n;
    fake_answer(c);
  }
  free(b->base);
}

static void fake_accept(uv_stream_t *server, int status) {
  fake_t *f = server->data;
  if (status < 0) return;
  fake_conn_t *c = calloc(1, sizeof *c);
  if (!c) abort();
  c->f = f;
  uv_tcp_init(f->loop, &c->tcp);
  c->tcp.data = c;
  if (uv_accept(server, (uv_stream_t *)&c->tcp) != 0) {
    uv_close((uv_handle_t *)&c->tcp, fake_free_conn);
    return;
  }
  uv_tcp_nodelay(&c->tcp, 1); /* else Nagle holds an answer until the one before is acked */
  c->next = f->conns;
  f->conns = c;
  f->accepted++;
  uv_read_start((uv_stream_t *)&c->tcp, fake_alloc, fake_read);
}

/* Listens on 127.0.0.1:f->port (0: any free port, then kept in f->port). */
static int fake_listen(fake_t *f) {
  struct sockaddr_in a;
  uv_ip4_addr("127.0.0.1", f->port, &a);
  uv_tcp_init(f->loop, &f->listener);
  f->listener.data = f;
  if (uv_tcp_bind(&f->listener, (const struct sockaddr *)&a, 0) != 0 ||
      uv_listen((uv_stream_t *)&f->listener, 16, fake_accept) != 0) {
    uv_close((uv_handle_t *)&f->listener, NULL);
    return -1;
  }
  struct sockaddr_in got;
  int len = sizeof got;
  uv_tcp_getsockname(&f->listener, (struct sockaddr *)&got, &len);
  f->port = ntohs(got.sin_port);
  f->listening = 1;
  return 0;
}

/* Redis goes away: no more listening, every connection closed. */
static void fake_stop(fake_t *f) {
  if (f->listening) uv_close((uv_handle_t *)&f->listener, NULL);
  f->listening = 0;
  while (f->conns) fake_drop(f->conns);
}

static void on_tick(uv_timer_t *t) { (void)t; }

/* Runs the loop until cond holds or ms pass; whether it holds. */
typedef int (*cond_fn)(const fake_t *f, const void *arg);
static int run_until(uv_loop_t *loop, cond_fn cond, const fake_t *f, const void *arg, uint64_t ms) {
  uv_timer_t tick; /* keeps the loop turning while the cluster only waits on unreferenced timers */
  uv_timer_init(loop, &tick);
  uv_timer_start(&tick, on_tick, 10, 10);
  uint64_t deadline = uv_hrtime() + ms * 1000000u;
  int ok;
  while (!(ok = cond(f, arg)) && uv_hrtime() < deadline) uv_run(loop, UV_RUN_ONCE);
  uv_close((uv_handle_t *)&tick, NULL);
  uv_run(loop, UV_RUN_NOWAIT);
  return ok;
}

typedef struct {
  int pings, psubscribes, accepted;
} want_t;
static int fake_reached(const fake_t *f, const void *arg) {
  const want_t *w = arg;
  return f->pings >= w->pings && f->psubscribes >= w->psubscribes && f->accepted >= w->accepted;
}
static int count_called(const fake_t *f, const void *arg) {
  (void)f;
  return ((const count_res_t *)arg)->calls > 0;
}
static int never(const fake_t *f, const void *arg) {
  (void)f;
  (void)arg;
  return 0;
}

TEST(reconnects_and_resubscribes) {
  uv_loop_t loop;
  uv_loop_init(&loop);
  fake_t f;
  memset(&f, 0, sizeof f);
  f.loop = &loop;
  CHECK_EQ_INT(fake_listen(&f), 0);
  sio_server_t *server;
  sio_io_t *io;
  CHECK(make(&loop, &server, &io) == 0);
  sio_nsp_t *root, *other;
  CHECK_EQ_INT(sio_io_of(io, "/", &root), 0);
  char url[64];
  /* a host name: resolved off the loop (uv_getaddrinfo), then connected to its IPv4 address */
  snprintf(url, sizeof url, "redis://localhost:%d", f.port);
  sio_redis_options_t o;
  sio_redis_options_init(&o);
  o.url = url;
  CHECK_EQ_INT(sio_io_use_redis(io, &o), 0);
  /* both connections up (each PINGed), the subscriber subscribed */
  want_t up = {2, 1, 2};
  CHECK(run_until(&loop, fake_reached, &f, &up, 5000));
  count_res_t r = {0, 1, 99};
  CHECK_EQ_INT(sio_nsp_fetch_count(root, NULL, on_count, &r), 0);
  CHECK(run_until(&loop, count_called, &f, &r, 5000));
  CHECK_EQ_INT(r.status, 0); /* asked Redis: nobody else listens */
  CHECK_EQ_INT(f.numsubs, 1);

  /* Only the subscriber is dropped: it alone comes back, subscribing "/" again and "/other",
   * made meanwhile. */
  for (fake_conn_t *c = f.conns; c; c = c->next)
    if (c->subscriber) {
      fake_drop(c);
      break;
    }
  CHECK_EQ_INT(sio_io_of(io, "/other", &other), 0);
  want_t sub_back = {3, 3, 3};
  CHECK(run_until(&loop, fake_reached, &f, &sub_back, 5000));
  run_until(&loop, never, &f, NULL, 100);
  CHECK_EQ_INT(f.accepted, 3);
  CHECK_EQ_INT(f.pings, 3);

  /* Redis goes away. Local delivery goes on, counts fail fast. */
  fake_stop(&f);
  run_until(&loop, never, &f, NULL, 150);
  count_res_t r2 = {0, 1, 99};
  CHECK_EQ_INT(sio_nsp_fetch_count(root, NULL, on_count, &r2), 0);
  CHECK_EQ_INT(r2.calls, 0);
  CHECK(run_until(&loop, count_called, &f, &r2, 1000));
  CHECK_EQ_INT(r2.status, SIO_EUNAVAIL);
  CHECK_EQ_INT(sio_nsp_emit(root, NULL, "x", NULL), 0);
  int publishes = f.publishes;

  /* ... and comes back on the same port: both reconnect within the backoff, the subscriber
   * subscribes every namespace again. */
  CHECK_EQ_INT(fake_listen(&f), 0);
  want_t back = {5, 5, 5};
  CHECK(run_until(&loop, fake_reached, &f, &back, 8000));
  count_res_t r3 = {0, 1, 99};
  CHECK_EQ_INT(sio_nsp_fetch_count(root, NULL, on_count, &r3), 0);
  CHECK(run_until(&loop, count_called, &f, &r3, 5000));
  CHECK_EQ_INT(r3.status, 0);
  CHECK_EQ_INT(sio_nsp_emit(root, NULL, "x", NULL), 0);
  CHECK_EQ_INT(f.publishes, publishes); /* the outage's broadcast was not kept for later */
  run_until(&loop, never, &f, NULL, 100);
  CHECK_EQ_INT(f.publishes, publishes + 1);

  sio_server_close(server, on_closed);
  fake_stop(&f);
  uv_run(&loop, UV_RUN_DEFAULT);
  free(f.last_pub);
  CHECK_EQ_INT(uv_loop_close(&loop), 0);
}

/* ---- failmalloc: each cJSON allocation of a cluster operation fails in turn ---- */

static long alloc_count, alloc_fail_at;

static void *failing_malloc(size_t n) { return ++alloc_count == alloc_fail_at ? NULL : malloc(n); }

/* cJSON's n-th allocation from now on fails (cJSON's hooks are the process's: the core's too). */
static void fail_nth(long n) {
  static cJSON_Hooks hooks = {failing_malloc, free};
  alloc_count = 0;
  alloc_fail_at = n;
  cJSON_InitHooks(&hooks);
}

/* Back to plain malloc; whether the failure came (the operation made n allocations or more). */
static int fail_end(void) {
  cJSON_InitHooks(NULL);
  return alloc_count >= alloc_fail_at;
}

enum { F_JOIN, F_LEAVE, F_DISCONNECT, F_FETCH, F_ROOMS };
static const char *const f_rooms[] = {"r1", "r2", "r3"}, *const f_except[] = {"x1", "x2"};

/* Whether the JSON array a holds exactly the strings v[0..n). */
static int same_strings(const cJSON *a, const char *const *v, int n) {
  if (!cJSON_IsArray(a) || cJSON_GetArraySize(a) != n) return 0;
  for (int i = 0; i < n; i++) {
    const cJSON *e = cJSON_GetArrayItem(a, i);
    if (!cJSON_IsString(e) || strcmp(e->valuestring, v[i]) != 0) return 0;
  }
  return 1;
}

static const cJSON *field(const cJSON *j, const char *key) { return cJSON_GetObjectItemCaseSensitive(j, key); }

/* What is wrong with the published request of operation op, or NULL: every part must be there,
 * the room lists whole (a shorter one would reach other sockets, an empty one every socket). */
static const char *bad_request(const char *text, int op) {
  static const int types[] = {[F_JOIN] = 2, [F_LEAVE] = 3, [F_DISCONNECT] = 4, [F_FETCH] = 5,
                              [F_ROOMS] = 1};
  static const char *const room[] = {"room"};
  cJSON *j = cJSON_Parse(text);
  const cJSON *uid = field(j, "uid"), *type = field(j, "type"), *opts = field(j, "opts");
  const char *why = NULL;
  if (!cJSON_IsString(uid) || strlen(uid->valuestring) != 6) why = "uid";
  else if (!cJSON_IsNumber(type) || type->valueint != types[op]) why = "type";
  else if (op != F_ROOMS && !same_strings(field(opts, "rooms"), f_rooms, 3)) why = "opts.rooms";
  else if (op != F_ROOMS && !same_strings(field(opts, "except"), f_except, 2)) why = "opts.except";
  else if ((op == F_JOIN || op == F_LEAVE) && !same_strings(field(j, "rooms"), room, 1)) why = "rooms";
  else if (op == F_DISCONNECT && !cJSON_IsTrue(field(j, "close"))) why = "close";
  else if ((op == F_FETCH || op == F_ROOMS) && !cJSON_IsString(field(j, "requestId"))) why = "requestId";
  cJSON_Delete(j);
  return why;
}

typedef struct {
  int calls, status;
} fetch_res_t;

static void on_fetched(sio_nsp_t *nsp, int status, const cJSON *sockets, void *arg) {
  (void)nsp, (void)sockets;
  fetch_res_t *r = arg;
  r->calls++;
  r->status = status;
}

static void on_fetched_rooms(sio_nsp_t *nsp, int status, const char *const *rooms, size_t n, void *arg) {
  (void)rooms, (void)n;
  on_fetched(nsp, status, NULL, arg);
}

static int fetched(const fake_t *f, const void *arg) {
  (void)f;
  return ((const fetch_res_t *)arg)->calls > 0;
}

/* Runs op with a target of rooms and exceptions (all_rooms has none): its status, SIO_ENOMEM or 0
 * (a disconnect has none: 0). A fetch that started is waited for (nobody answers: it times out). */
static int run_op(uv_loop_t *loop, fake_t *f, sio_nsp_t *nsp, int op, long fail_at, int *failed) {
  sio_target_t to = {f_rooms, 3, f_except, 2, 0};
  fetch_res_t res = {0, 1};
  int r = 0;
  int fetch = op == F_FETCH || op == F_ROOMS;
  f->others = fetch; /* else the request is answered without being published */
  fail_nth(fail_at);
  if (op == F_JOIN) r = sio_nsp_join(nsp, &to, "room");
  else if (op == F_LEAVE) r = sio_nsp_leave(nsp, &to, "room");
  else if (op == F_DISCONNECT) sio_nsp_disconnect(nsp, &to, 1);
  else if (op == F_FETCH) r = sio_nsp_fetch_sockets(nsp, &to, on_fetched, &res);
  else r = sio_nsp_fetch_rooms(nsp, on_fetched_rooms, &res);
  *failed = fail_end();
  if (fetch && r == 0 && !(run_until(loop, fetched, f, &res, 5000) && res.status == SIO_ETIMEDOUT))
    return -1;
  /* Then a count on the same connection: once it is answered, Redis has seen whatever the
   * operation published before it. */
  f->others = 0;
  count_res_t c = {0, 1, 99};
  if (sio_nsp_fetch_count(nsp, NULL, on_count, &c) != 0 || !run_until(loop, count_called, f, &c, 5000) ||
      c.status != 0)
    return -1;
  return r;
}

/* For N = 1, 2, ... the N-th cJSON allocation of a join, leave, disconnect and fetch_sockets
 * aimed at rooms, and of an all_rooms, fails: each then publishes nothing (all but disconnect
 * say SIO_ENOMEM), or its whole request; never a request missing a part. */
TEST(cluster_requests_whole_or_nothing) {
  uv_loop_t loop;
  uv_loop_init(&loop);
  fake_t f;
  memset(&f, 0, sizeof f);
  f.loop = &loop;
  CHECK_EQ_INT(fake_listen(&f), 0);
  sio_server_t *server;
  sio_io_t *io;
  CHECK(make(&loop, &server, &io) == 0);
  sio_nsp_t *root;
  CHECK_EQ_INT(sio_io_of(io, "/", &root), 0);
  char url[64];
  snprintf(url, sizeof url, "redis://127.0.0.1:%d", f.port);
  sio_redis_options_t o;
  sio_redis_options_init(&o);
  o.url = url;
  o.requests_timeout_ms = 300; /* what a started fetch waits: nobody answers it */
  CHECK_EQ_INT(sio_io_use_redis(io, &o), 0);
  want_t up = {2, 1, 2};
  CHECK(run_until(&loop, fake_reached, &f, &up, 5000));
  for (int op = F_JOIN; op <= F_ROOMS; op++) {
    int failed = 1;
    for (long n = 1; failed && n < 1000; n++) {
      int before = f.publishes;
      int r = run_op(&loop, &f, root, op, n, &failed);
      int published = f.publishes - before;
      if (published > 1 || r == -1 || (published == 0 && op != F_DISCONNECT && r != SIO_ENOMEM) ||
          (published == 1 && r != 0) || (!failed && published != 1)) {
        fprintf(stderr, "op %d, allocation %ld failing: status %d, %d published\n", op, n, r, published);
        CHECK(0);
      }
      const char *why = published ? bad_request(f.last_pub, op) : NULL;
      if (why) {
        fprintf(stderr, "op %d, allocation %ld failing: published %s, bad %s\n", op, n, f.last_pub, why);
        CHECK(0);
      }
    }
    CHECK(!failed); /* a run without a failure came */
  }
  sio_server_close(server, on_closed);
  fake_stop(&f);
  uv_run(&loop, UV_RUN_DEFAULT);
  free(f.last_pub);
  CHECK_EQ_INT(uv_loop_close(&loop), 0);
}
#endif

#ifdef SIO_TEST_HAVE_REDIS
#define REDIS_CASES                                                                     \
  , RUN(use_redis_urls), RUN(unreachable_redis), RUN(close_mid_connect),                 \
      RUN(reconnects_and_resubscribes), RUN(cluster_requests_whole_or_nothing)
#else
#define REDIS_CASES
#endif
TEST_MAIN(RUN(options_defaults), RUN(fetch_count_memory_is_async), RUN(requests_without_cluster) REDIS_CASES)
