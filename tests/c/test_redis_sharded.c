/* The sharded Redis transport: its pure parts (Redis Cluster key slots checked against
 * `redis-cli CLUSTER KEYSLOT` of redis-server 7.0, JavaScript string lengths for Node's
 * looksLikeASocketId, computeChannel) and, against a hostile fake Redis on 127.0.0.1, what it does
 * with malformed replies (no crash, no hang; ASan/UBSan clean in the sanitizer build). The real
 * Redis and Redis Cluster are tests/js/redis-sharded.test.mjs's. */
#include <arpa/inet.h>
#include <signal.h>
#include <stdarg.h>
#include <strings.h>

#include "adapter/redis_sharded.h"
#include "sio.h"
#include "test.h"

/* As any libuv program (README): the fake drops connections being written to. */
__attribute__((constructor)) static void ignore_sigpipe(void) { signal(SIGPIPE, SIG_IGN); }

static unsigned slot_of(const char *k) { return sio__redis_key_slot(k, strlen(k)); }

TEST(key_slots_as_redis_cluster) {
  static const struct {
    const char *key;
    unsigned slot;
  } cases[] = {
      {"socket.io#/#", 13868},      {"socket.io#/custom#", 8062}, {"", 0},
      {"a", 15495},                 {"foo", 12182},               {"123456789", 12739},
      {"socket.io#/#room1#", 9640}, {"\xc3\xa9", 10180},
      /* hash tags: the first {...} that is not empty; otherwise the whole key */
      {"{user1000}.following", 3443}, {"foo{}{bar}", 8363}, {"foo{{bar}}zap", 4015},
      {"foo{bar}{zap}", 5061},        {"{}", 15257},        {"x{y", 2740},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    if (slot_of(cases[i].key) != cases[i].slot)
      fprintf(stderr, "slot of \"%s\": %u, not %u\n", cases[i].key, slot_of(cases[i].key),
              cases[i].slot);
    CHECK_EQ_INT(slot_of(cases[i].key), cases[i].slot);
  }
  /* a tag names the slot of every key carrying it */
  CHECK_EQ_INT(slot_of("{user1000}.followers"), slot_of("user1000"));
  CHECK_EQ_INT(sio__redis_key_slot("foo\0bar", 7), sio__redis_key_slot("foo\0bar", 7));
  CHECK(sio__redis_key_slot("foo\0bar", 7) != slot_of("foo"));
}

TEST(utf16_lengths_as_javascript) {
  CHECK_EQ_INT(sio__utf16_length(""), 0);
  CHECK_EQ_INT(sio__utf16_length("abcdefghij0123456789"), 20); /* a socket id's length */
  CHECK_EQ_INT(sio__utf16_length("\xc3\xa9t\xc3\xa9"), 3);      /* "été" */
  CHECK_EQ_INT(sio__utf16_length("\xe2\x82\xac"), 1);           /* U+20AC */
  CHECK_EQ_INT(sio__utf16_length("\xf0\x9f\x98\x80"), 2);       /* U+1F600: a surrogate pair */
}

TEST(room_channels_as_compute_channel) {
  const char *sid = "abcdefghij0123456789"; /* 20 characters: looks like a socket id */
  CHECK_EQ_INT(sio__redis_room_channel(SIO_REDIS_SUB_DYNAMIC, "room"), 1);
  CHECK_EQ_INT(sio__redis_room_channel(SIO_REDIS_SUB_DYNAMIC, sid), 0);
  CHECK_EQ_INT(sio__redis_room_channel(SIO_REDIS_SUB_DYNAMIC, "\xf0\x9f\x98\x80" "abcdefghij01234567"), 0);
  CHECK_EQ_INT(sio__redis_room_channel(SIO_REDIS_SUB_DYNAMIC, "\xc3\xa9" "bcdefghij0123456789"), 0);
  CHECK_EQ_INT(sio__redis_room_channel(SIO_REDIS_SUB_DYNAMIC, "\xc3\xa9" "bcdefghij012345678"), 1);
  CHECK_EQ_INT(sio__redis_room_channel(SIO_REDIS_SUB_DYNAMIC_PRIVATE, sid), 1);
  CHECK_EQ_INT(sio__redis_room_channel(SIO_REDIS_SUB_DYNAMIC_PRIVATE, "room"), 1);
  CHECK_EQ_INT(sio__redis_room_channel(SIO_REDIS_SUB_STATIC, "room"), 0);
  CHECK_EQ_INT(sio__redis_room_channel(SIO_REDIS_SUB_STATIC, sid), 0);
  for (int mode = 0; mode < 3; mode++) CHECK_EQ_INT(sio__redis_room_channel(mode, NULL), 0);
}

#ifdef SIO_TEST_HAVE_REDIS
/* ---- a hostile Redis: every answer a shape the transport must survive ---- */

typedef struct hostile hostile_t;
typedef struct hconn {
  uv_tcp_t tcp;
  hostile_t *h;
  struct hconn *next;
  char *in;
  size_t len;
} hconn_t;

struct hostile {
  uv_loop_t *loop;
  uv_tcp_t listener;
  int port;
  hconn_t *conns;
  int ssubscribes, spublishes, numsubs, slots_asked, accepted;
  int broke; /* a protocol error was sent on a subscriber */
};

static void h_free_conn(uv_handle_t *x) {
  hconn_t *c = x->data;
  free(c->in);
  free(c);
}

static void h_write_done(uv_write_t *w, int status) {
  (void)status;
  free(w->data);
  free(w);
}

static void h_send(hconn_t *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void h_send(hconn_t *c, const char *fmt, ...) {
  char buf[2048];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  uv_write_t *w = malloc(sizeof *w);
  char *copy = malloc((size_t)n);
  if (!w || !copy) abort();
  memcpy(copy, buf, (size_t)n);
  w->data = copy;
  uv_buf_t b = uv_buf_init(copy, (unsigned)n);
  if (uv_write(w, (uv_stream_t *)&c->tcp, &b, 1, h_write_done) != 0) h_write_done(w, 0);
}

/* The first two arguments of one command at *pos (NUL-terminated copies); 0 when incomplete. */
static int h_parse(hconn_t *c, size_t *pos, char *cmd, size_t cmdsz, char *arg, size_t argsz) {
  const char *p = c->in + *pos, *end = c->in + c->len;
  char *e;
  if (p >= end || *p != '*' || !memchr(p, '\n', (size_t)(end - p))) return 0;
  long n = strtol(p + 1, &e, 10);
  p = strchr(p, '\n') + 1;
  cmd[0] = arg[0] = 0;
  for (long i = 0; i < n; i++) {
    if (p >= end || *p != '$' || !memchr(p, '\n', (size_t)(end - p))) return 0;
    long l = strtol(p + 1, &e, 10);
    p = strchr(p, '\n') + 1;
    if (end - p < l + 2) return 0;
    if (i == 0) snprintf(cmd, cmdsz, "%.*s", (int)l, p);
    if (i == 1) snprintf(arg, argsz, "%.*s", (int)l, p);
    p += l + 2;
  }
  *pos = (size_t)(p - c->in);
  return 1;
}

static void h_answer(hconn_t *c, const char *cmd, const char *arg) {
  hostile_t *h = c->h;
  size_t al = strlen(arg);
  if (strcasecmp(cmd, "PING") == 0) {
    h_send(c, "+PONG\r\n");
  } else if (strcasecmp(cmd, "CLUSTER") == 0) {
    h->slots_asked++;
    /* not arrays, lo > hi, hi past 16383, port 0 and 70000, a short master, a huge host, then
     * one good range: every slot on this very node */
    h_send(c,
           "*8\r\n:5\r\n"
           "*3\r\n:10\r\n:5\r\n*2\r\n$9\r\n127.0.0.1\r\n:%d\r\n"
           "*3\r\n:0\r\n:99999\r\n*2\r\n$9\r\n127.0.0.1\r\n:%d\r\n"
           "*3\r\n:0\r\n:100\r\n*2\r\n$9\r\n127.0.0.1\r\n:0\r\n"
           "*3\r\n:0\r\n:100\r\n*2\r\n$9\r\n127.0.0.1\r\n:70000\r\n"
           "*3\r\n:0\r\n:100\r\n*1\r\n$9\r\n127.0.0.1\r\n"
           "*3\r\n:-4\r\n:-1\r\n*2\r\n$9\r\n127.0.0.1\r\n:%d\r\n"
           "*3\r\n:0\r\n:16383\r\n*3\r\n$9\r\n127.0.0.1\r\n:%d\r\n$3\r\nabc\r\n",
           h->port, h->port, h->port, h->port);
  } else if (strcasecmp(cmd, "SSUBSCRIBE") == 0) {
    h->ssubscribes++;
    h_send(c, "*3\r\n$10\r\nssubscribe\r\n$%zu\r\n%s\r\n:1\r\n", al, arg);
    /* pushes of every wrong shape, on the channel just subscribed and elsewhere */
    h_send(c, "*3\r\n$8\r\nsmessage\r\n:5\r\n$3\r\nabc\r\n");
    h_send(c, "*2\r\n$8\r\nsmessage\r\n$1\r\nx\r\n");
    h_send(c, "*3\r\n$8\r\nsmessage\r\n$%zu\r\n%s\r\n:7\r\n", al, arg);
    h_send(c, "*3\r\n$8\r\nsmessage\r\n$%zu\r\n%s\r\n$5\r\nhello\r\n", al, arg);
    h_send(c, "*3\r\n$8\r\nsmessage\r\n$%zu\r\n%s\r\n$3\r\n\x84\xa3u\r\n", al, arg);
    h_send(c, "*3\r\n$8\r\nsmessage\r\n$%zu\r\n%s\r\n$2\r\n{}\r\n", al, arg);
    h_send(c, "*3\r\n$12\r\nsunsubscribe\r\n$3\r\nfoo\r\n:0\r\n");
    h_send(c, "*1\r\n$7\r\nmessage\r\n");
    h_send(c, "*3\r\n:1\r\n:2\r\n:3\r\n");
    if (h->ssubscribes == 2 && !h->broke) { /* then a reply that is no RESP at all */
      h->broke = 1;
      h_send(c, "!!!\r\n");
    }
  } else if (strcasecmp(cmd, "SPUBLISH") == 0) {
    static const char *const answers[] = {"-MOVED 99999 127.0.0.1:1\r\n", "-MOVED 5 nocolon\r\n",
                                          "-ASK 5 127.0.0.1:0\r\n", "-MOVED 7\r\n",
                                          "-MOVED 13868 127.0.0.1:1\r\n", "$2\r\nok\r\n"};
    h_send(c, "%s", answers[h->spublishes++ % 6]);
  } else if (strcasecmp(cmd, "PUBSUB") == 0) {
    h->numsubs++;
    h_send(c, h->numsubs % 2 ? "$3\r\nabc\r\n" : "*2\r\n$1\r\nx\r\n$1\r\ny\r\n");
  } else {
    h_send(c, "+OK\r\n");
  }
}

static void h_alloc(uv_handle_t *x, size_t size, uv_buf_t *b) {
  (void)x;
  b->base = malloc(size);
  b->len = b->base ? size : 0;
}

static void h_drop(hconn_t *c) {
  for (hconn_t **p = &c->h->conns; *p; p = &(*p)->next)
    if (*p == c) {
      *p = c->next;
      break;
    }
  uv_close((uv_handle_t *)&c->tcp, h_free_conn);
}

static void h_read(uv_stream_t *st, ssize_t n, const uv_buf_t *b) {
  hconn_t *c = st->data;
  if (n < 0) {
    h_drop(c);
  } else if (n > 0) {
    char *in = realloc(c->in, c->len + (size_t)n);
    if (!in) abort();
    c->in = in;
    memcpy(c->in + c->len, b->base, (size_t)n);
    c->len += (size_t)n;
    size_t pos = 0;
    char cmd[64], arg[512];
    while (h_parse(c, &pos, cmd, sizeof cmd, arg, sizeof arg)) h_answer(c, cmd, arg);
    memmove(c->in, c->in + pos, c->len - pos);
    c->len -= pos;
  }
  free(b->base);
}

static void h_accept(uv_stream_t *server, int status) {
  hostile_t *h = server->data;
  if (status < 0) return;
  hconn_t *c = calloc(1, sizeof *c);
  if (!c) abort();
  c->h = h;
  uv_tcp_init(h->loop, &c->tcp);
  c->tcp.data = c;
  if (uv_accept(server, (uv_stream_t *)&c->tcp) != 0) {
    uv_close((uv_handle_t *)&c->tcp, h_free_conn);
    return;
  }
  c->next = h->conns;
  h->conns = c;
  h->accepted++;
  uv_read_start((uv_stream_t *)&c->tcp, h_alloc, h_read);
}

static int h_listen(hostile_t *h) {
  struct sockaddr_in a;
  uv_ip4_addr("127.0.0.1", 0, &a);
  uv_tcp_init(h->loop, &h->listener);
  h->listener.data = h;
  if (uv_tcp_bind(&h->listener, (const struct sockaddr *)&a, 0) != 0 ||
      uv_listen((uv_stream_t *)&h->listener, 16, h_accept) != 0)
    return -1;
  struct sockaddr_in got;
  int len = sizeof got;
  uv_tcp_getsockname(&h->listener, (struct sockaddr *)&got, &len);
  h->port = ntohs(got.sin_port);
  return 0;
}

static void h_stop(hostile_t *h) {
  uv_close((uv_handle_t *)&h->listener, NULL);
  while (h->conns) h_drop(h->conns);
}

typedef struct {
  int calls, status;
} hcount_t;

static void h_on_count(sio_nsp_t *nsp, int status, size_t count, void *arg) {
  (void)nsp, (void)count;
  hcount_t *r = arg;
  r->calls++;
  r->status = status;
}

static void h_on_timer(uv_timer_t *t) { uv_stop(t->loop); }
static void h_on_closed(sio_server_t *s) { (void)s; }

/* Runs the loop for ms. */
static void h_run(uv_loop_t *loop, uv_timer_t *t, uint64_t ms) {
  uv_timer_start(t, h_on_timer, ms, 0);
  uv_run(loop, UV_RUN_DEFAULT);
}

TEST(hostile_redis_is_survived) {
  uv_loop_t loop;
  uv_loop_init(&loop);
  hostile_t h = {.loop = &loop};
  CHECK(h_listen(&h) == 0);
  sio_server_t *server;
  sio_io_t *io;
  sio_nsp_t *root;
  CHECK(sio_server_new(&loop, NULL, &server) == 0);
  sio_server_set_log(server, SIO_LOG_ERROR, NULL, NULL); /* the outages are expected here */
  CHECK(sio_io_new(server, NULL, &io) == 0);
  CHECK_EQ_INT(sio_io_of(io, "/", &root), 0);
  sio_redis_options_t o;
  sio_redis_options_init(&o);
  char url[64];
  snprintf(url, sizeof url, "redis://127.0.0.1:%d", h.port);
  o.url = url;
  o.sharded = 1;
  o.subscription_mode = 7;
  CHECK_EQ_INT(sio_io_use_redis(io, &o), SIO_EINVAL); /* no such mode */
  o.subscription_mode = SIO_REDIS_SUB_DYNAMIC;
  CHECK_EQ_INT(sio_io_use_redis(io, &o), 0);
  uv_timer_t t;
  uv_timer_init(&loop, &t);
  /* the slot map (garbage but one range), the subscriptions and their hostile pushes */
  for (int i = 0; i < 40 && h.ssubscribes < 2; i++) h_run(&loop, &t, 50);
  CHECK(h.slots_asked >= 1);
  CHECK(h.ssubscribes >= 2);
  /* publishes answered with malformed or impossible redirections, and a node count that is no
   * count: each ends, none loops */
  hcount_t counts = {0, 0};
  for (int i = 0; i < 6; i++) CHECK_EQ_INT(sio_nsp_emit(root, NULL, "x", NULL), 0);
  for (int i = 0; i < 2; i++) sio_nsp_fetch_count(root, NULL, h_on_count, &counts);
  h_run(&loop, &t, 400);
  CHECK(h.spublishes >= 6);
  CHECK(h.spublishes < 30); /* redirections are bounded */
  CHECK_EQ_INT(counts.calls, 2);
  /* the protocol error cost the subscriber its connection: it came back and subscribed again */
  for (int i = 0; i < 40 && !(h.broke && h.ssubscribes >= 4); i++) h_run(&loop, &t, 50);
  CHECK(h.broke);
  CHECK(h.ssubscribes >= 4);
  uv_close((uv_handle_t *)&t, NULL);
  h_stop(&h);
  sio_server_close(server, h_on_closed);
  uv_run(&loop, UV_RUN_DEFAULT); /* ends: nothing of the transport keeps the loop alive */
  CHECK_EQ_INT(uv_loop_close(&loop), 0);
}
#define HOSTILE_CASES , RUN(hostile_redis_is_survived)
#else
#define HOSTILE_CASES
#endif

TEST_MAIN(RUN(key_slots_as_redis_cluster), RUN(utf16_lengths_as_javascript),
          RUN(room_channels_as_compute_channel) HOSTILE_CASES)
