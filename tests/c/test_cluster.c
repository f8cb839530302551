/* The cluster API without a Redis server: option defaults, URL validation, sio_nsp_fetch_count
 * with the memory adapter (answered from the loop, never inside the call), a cluster whose Redis
 * refuses the connection (fetch_count fails fast, the server still closes and the loop ends).
 * Talking to a real Redis (and to Node nodes) is tests/js/cluster.test.mjs. */
#include "sio.h"
#include "test.h"

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
  /* not connected (yet, or ever): fails at once, no callback */
  CHECK_EQ_INT(sio_nsp_fetch_count(root, NULL, on_count, &r), SIO_ECLOSED);
  uv_timer_t t;
  uv_timer_init(&loop, &t);
  uv_timer_start(&t, on_timer, 200, 0);
  uv_run(&loop, UV_RUN_DEFAULT); /* the refusals are logged */
  CHECK_EQ_INT(sio_nsp_fetch_count(later, NULL, on_count, &r), SIO_ECLOSED);
  /* the other requests fail the same way; selections and broadcasts go on locally */
  int acks = 0;
  rooms_res_t rr = {0, 1, 99};
  CHECK_EQ_INT(sio_nsp_server_emit_ack(root, "x", NULL, on_server_ack, &acks), SIO_ECLOSED);
  CHECK_EQ_INT(sio_nsp_fetch_rooms(root, on_rooms, &rr), SIO_ECLOSED);
  CHECK_EQ_INT(sio_nsp_server_emit(root, "x", NULL), SIO_ECLOSED);
  CHECK_EQ_INT(sio_nsp_join(root, NULL, "room"), 0);
  CHECK_EQ_INT(sio_nsp_emit(root, NULL, "x", NULL), 0);
  CHECK_EQ_INT(r.calls, 0);
  uv_close((uv_handle_t *)&t, NULL);
  sio_server_close(server, on_closed);
  uv_run(&loop, UV_RUN_DEFAULT); /* ends: nothing of the cluster keeps the loop alive */
  CHECK_EQ_INT(acks + rr.calls, 0);
  CHECK_EQ_INT(uv_loop_close(&loop), 0);
}
#endif

#ifdef SIO_TEST_HAVE_REDIS
#define REDIS_CASES , RUN(use_redis_urls), RUN(unreachable_redis)
#else
#define REDIS_CASES
#endif
TEST_MAIN(RUN(options_defaults), RUN(fetch_count_memory_is_async), RUN(requests_without_cluster) REDIS_CASES)
