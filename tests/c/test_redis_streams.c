/* The Redis streams engine in C: Node's hashCode (util.ts) for the stream of a namespace, option
 * checks, and, against a private redis-server on a free loopback port (skipped when it is not
 * installed), two nodes in one loop with stream_count 4 and sharded pub/sub (SSUBSCRIBE /
 * SPUBLISH, which hiredis 0.14's async API cannot carry): a broadcast is XADDed to the stream
 * hashCode picks (a negative hash kept negative, as Node's) with Node's fields, and a cluster
 * count crosses sharded pub/sub both ways. Socket.IO clients across
 * nodes (recovery, Redis restarts) are tests/js/streams-sio.test.mjs. */
#include <arpa/inet.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#if __has_include(<hiredis/hiredis.h>)
#include <hiredis/hiredis.h>
#define HAVE_HIREDIS 1
#endif

#include "adapter/redis_streams.h"
#include "sio.h"
#include "test.h"

TEST(hash_code_as_node) {
  /* Values printed by Node 20 running util.ts's hashCode. */
  CHECK_EQ_INT(sio__rs_hash_code("/"), 47);
  CHECK_EQ_INT(sio__rs_hash_code("/custom"), 1708878944);
  CHECK_EQ_INT(sio__rs_hash_code("/é"), 1690);
  CHECK_EQ_INT(sio__rs_hash_code("/😀"), 1818066); /* a surrogate pair: two code units */
  CHECK_EQ_INT(sio__rs_hash_code("/😀x"), 56360166);
  CHECK_EQ_INT(sio__rs_hash_code("/chat-room-number-one"), -656765874);
  CHECK_EQ_INT(sio__rs_hash_code("/namespace-with-a-long-name"), -1583632406);
  CHECK_EQ_INT(sio__rs_hash_code(""), 0);
}

static void on_closed(sio_server_t *s) { (void)s; }

TEST(options_checked) {
  sio_redis_streams_options_t o;
  memset(&o, 0xff, sizeof o);
  sio_redis_streams_options_init(&o);
  CHECK(o.url == NULL && o.stream_name == NULL && o.session_key_prefix == NULL);
  CHECK_EQ_INT(o.stream_count, 1);
  CHECK_EQ_INT(o.max_len, 10000);
  CHECK_EQ_INT(o.read_count, 100);
  CHECK_EQ_INT(o.block_ms, 5000);
  uv_loop_t loop;
  uv_loop_init(&loop);
  sio_server_t *server;
  sio_io_t *io;
  CHECK_EQ_INT(sio_server_new(&loop, NULL, &server), 0);
  CHECK_EQ_INT(sio_io_new(server, NULL, &io), 0);
  CHECK_EQ_INT(sio_io_use_redis_streams(io, &o), SIO_EINVAL); /* no URL */
  o.url = "http://127.0.0.1:1";
  CHECK_EQ_INT(sio_io_use_redis_streams(io, &o), SIO_EINVAL);
  o.url = "redis://127.0.0.1:1";
  o.stream_count = 0;
  CHECK_EQ_INT(sio_io_use_redis_streams(io, &o), SIO_EINVAL);
  o.stream_count = 1;
  int r = sio_io_use_redis_streams(io, &o);
  if (r == UV_ENOSYS) { /* built without Redis (cmake -DSIO_REDIS=OFF) */
    sio_server_close(server, on_closed);
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
    return;
  }
  CHECK_EQ_INT(r, 0); /* refused connections: retried, no error */
  CHECK_EQ_INT(sio_io_use_redis_streams(io, &o), SIO_EEXIST);
  sio_redis_options_t c;
  sio_redis_options_init(&c);
  c.url = o.url;
  CHECK_EQ_INT(sio_io_use_redis(io, &c), SIO_EEXIST);
  sio_server_close(server, on_closed);
  uv_run(&loop, UV_RUN_DEFAULT);
  CHECK_EQ_INT(uv_loop_close(&loop), 0);
}

/* ---- against a real redis-server ---- */
#ifdef HAVE_HIREDIS

static int free_port(void) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t len = sizeof a;
  if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) || getsockname(fd, (struct sockaddr *)&a, &len)) {
    if (fd >= 0) close(fd);
    return -1;
  }
  close(fd);
  return ntohs(a.sin_port);
}

static pid_t redis_start(int port, redisContext **rc) {
  char p[16];
  snprintf(p, sizeof p, "%d", port);
  pid_t pid = fork();
  if (pid == 0) {
    int null = open("/dev/null", 1);
    if (null >= 0) dup2(null, 1);
    execlp("redis-server", "redis-server", "--port", p, "--bind", "127.0.0.1", "--save", "",
           "--appendonly", "no", (char *)NULL);
    _exit(127);
  }
  for (int i = 0; pid > 0 && i < 100; i++) { /* up to 5 s */
    usleep(50 * 1000);
    redisContext *c = redisConnect("127.0.0.1", port);
    redisReply *r = c && !c->err ? redisCommand(c, "PING") : NULL;
    int ok = r && r->type == REDIS_REPLY_STATUS;
    if (r) freeReplyObject(r);
    if (ok) {
      *rc = c;
      return pid;
    }
    if (c) redisFree(c);
  }
  return -1;
}

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

/* redis-server installed, and sio built with Redis. */
static int have_redis(void) {
  sio_redis_streams_options_t o;
  sio_redis_streams_options_init(&o);
  return system("redis-server --version >/dev/null 2>&1") == 0 &&
         sio_io_use_redis_streams(NULL, &o) != UV_ENOSYS;
}

/* Runs the loop until *flag (or 5 s). */
static void run_until(uv_loop_t *loop, const int *flag) {
  for (int i = 0; i < 500 && !*flag; i++) {
    uv_run(loop, UV_RUN_NOWAIT);
    usleep(10 * 1000);
  }
}

static long long xlen(redisContext *rc, const char *key) {
  redisReply *r = redisCommand(rc, "XLEN %s", key);
  long long n = r && r->type == REDIS_REPLY_INTEGER ? r->integer : -1;
  if (r) freeReplyObject(r);
  return n;
}

TEST(two_nodes_sharded_stream_count) {
  if (!have_redis()) {
    printf("skip: redis-server is not installed\n");
    return;
  }
  int port = free_port();
  redisContext *rc = NULL;
  pid_t rpid = redis_start(port, &rc);
  CHECK(rpid > 0);
  if (rpid <= 0) return;
  char url[64];
  snprintf(url, sizeof url, "redis://127.0.0.1:%d", port);
  uv_loop_t loop;
  uv_loop_init(&loop);
  sio_server_t *srv[2];
  sio_io_t *io[2];
  sio_nsp_t *nsp[2];
  sio_io_options_t io_o;
  sio_io_options_init(&io_o);
  io_o.connection_state_recovery.enabled = 1;
  for (int i = 0; i < 2; i++) {
    CHECK_EQ_INT(sio_server_new(&loop, NULL, &srv[i]), 0);
    CHECK_EQ_INT(sio_io_new(srv[i], &io_o, &io[i]), 0);
    sio_redis_streams_options_t o;
    sio_redis_streams_options_init(&o);
    o.url = url;
    o.stream_count = 4;
    o.sharded = 1;
    CHECK_EQ_INT(sio_io_use_redis_streams(io[i], &o), 0);
    CHECK_EQ_INT(sio_io_of(io[i], "/chat-room-number-one", &nsp[i]), 0);
  }
  /* A count is a request over (sharded) pub/sub: answered by the other node once both listen. */
  count_res_t r = {0};
  for (int tries = 0; tries < 50 && (r.calls == 0 || r.status != 0); tries++) {
    r.calls = 0;
    usleep(50 * 1000);
    uv_run(&loop, UV_RUN_NOWAIT);
    if (sio_nsp_fetch_count(nsp[0], NULL, on_count, &r) == 0) run_until(&loop, &r.calls);
    else r.calls = 1, r.status = -1;
  }
  CHECK_EQ_INT(r.status, 0);
  CHECK_EQ_INT((int)r.count, 0);
  /* hashCode("/chat-room-number-one") % 4 is -2, as on Node's nodes: stream "socket.io--2". */
  sio_args_t args = {cJSON_Parse("[1,\"x\"]"), NULL, 0};
  CHECK_EQ_INT(sio_nsp_emit(nsp[0], NULL, "ev", &args), 0);
  cJSON_Delete((cJSON *)args.json);
  int seen = 0;
  for (int i = 0; i < 200 && !seen; i++) {
    uv_run(&loop, UV_RUN_NOWAIT);
    usleep(10 * 1000);
    seen = xlen(rc, "socket.io--2") == 1;
  }
  CHECK(seen);
  redisReply *x = redisCommand(rc, "XRANGE socket.io--2 - +");
  CHECK(x && x->type == REDIS_REPLY_ARRAY && x->elements == 1);
  if (x && x->type == REDIS_REPLY_ARRAY && x->elements == 1) {
    const redisReply *f = x->element[0]->element[1];
    CHECK_EQ_INT((int)f->elements, 8);
    CHECK(strcmp(f->element[0]->str, "uid") == 0 && strlen(f->element[1]->str) == 16);
    CHECK(strcmp(f->element[2]->str, "nsp") == 0 && strcmp(f->element[3]->str, "/chat-room-number-one") == 0);
    CHECK(strcmp(f->element[4]->str, "type") == 0 && strcmp(f->element[5]->str, "3") == 0);
    CHECK(strcmp(f->element[6]->str, "data") == 0);
    CHECK(strcmp(f->element[7]->str, "{\"packet\":{\"type\":2,\"data\":[\"ev\",1,\"x\"]},\"opts\":"
                                     "{\"rooms\":[],\"except\":[],\"flags\":{}}}") == 0);
  }
  if (x) freeReplyObject(x);
  CHECK_EQ_INT((int)xlen(rc, "socket.io"), 0);
  for (int i = 0; i < 2; i++) sio_server_close(srv[i], on_closed);
  uv_run(&loop, UV_RUN_DEFAULT);
  CHECK_EQ_INT(uv_loop_close(&loop), 0);
  redisFree(rc);
  kill(rpid, SIGTERM);
  waitpid(rpid, NULL, 0);
}

#else
TEST(two_nodes_sharded_stream_count) { printf("skip: built without hiredis\n"); }
#endif

TEST_MAIN(RUN(hash_code_as_node), RUN(options_checked), RUN(two_nodes_sharded_stream_count))
