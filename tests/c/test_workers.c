/* Workers (sio.h "Workers"): start and stop with 1, 2 and 4 workers (setup in index order, each on
 * its own thread, stop callbacks, the stopped callback once, threads joined: ASan sees no leak), a
 * setup's error stopping those already built, the SIO_EINVAL cases (index out of range, a server
 * already listening), and over real TCP from a client thread:
 * SO_REUSEPORT spreading handshakes over the workers (the sid's first character names the
 * worker), Engine.IO polling sessions whose every request is on a fresh connection (so about half
 * are handed to the owner: POST then GET echo through it), bad sids answered as unknown, a
 * stop while long-polls are being handed off, and a worker that falls behind: the client flooding
 * broadcasts to it from another worker is paused while its inbox stays within its bound, and
 * every broadcast arrives once it catches up. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "net_client.h"
#include "sio.h"
#include "test.h"
#include "worker/workers.h"

#define MAXW 8

static struct {
  int port;
  int fail_at; /* setup of this index fails (-1: none) */
  int listen;  /* setup listens (and adds the echo engine) */
  int nsetup;
  int order[MAXW];
  int on_thread[MAXW]; /* sio_workers_current() said the index inside setup */
  uv_loop_t *loops[MAXW];
  atomic_int stops[MAXW];
  atomic_int handshakes[MAXW]; /* sessions opened on each worker */
  int stopped;
  int set_after_listen; /* sio_server_set_workers after listen: what it returned */
} T;

static void echo(sio_session_t *s, const char *data, size_t len, int binary) {
  sio_session_send(s, data, len, binary);
}

static void on_conn(sio_engine_t *e, sio_session_t *s);

static int setup(sio_workers_t *w, unsigned index, uv_loop_t *loop, void *arg) {
  (void)arg;
  T.order[T.nsetup++] = (int)index;
  T.on_thread[index] = sio_workers_current(w) == (int)index;
  T.loops[index] = loop;
  if ((int)index == T.fail_at) return SIO_ENOMEM;
  sio_server_t *s;
  int r = sio_server_new(loop, NULL, &s);
  if (r) return r;
  if (sio_server_set_workers(s, w, sio_workers_count(w)) != SIO_EINVAL) return -1000;
  r = sio_server_set_workers(s, w, index);
  if (r) return r;
  if (!T.listen) return 0;
  sio_engine_callbacks_t cbs = {on_conn, echo, NULL, NULL};
  sio_engine_t *e;
  r = sio_engine_new(s, NULL, &cbs, &e);
  if (!r) r = sio_server_listen(s, "127.0.0.1", T.port);
  if (r) return r;
  if (index == 0) T.port = sio_server_port(s);
  T.set_after_listen = sio_server_set_workers(s, w, index);
  return 0;
}

static void on_conn(sio_engine_t *e, sio_session_t *s) {
  (void)e;
  const char *id = sio_session_id(s);
  static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  const char *p = strchr(alphabet, id[0]);
  if (p && p - alphabet < MAXW) atomic_fetch_add(&T.handshakes[p - alphabet], 1);
}

static void on_stop(sio_workers_t *w, unsigned index, uv_loop_t *loop, void *arg) {
  (void)arg;
  if (sio_workers_current(w) == (int)index && loop == T.loops[index]) atomic_fetch_add(&T.stops[index], 1);
}

static void on_stopped(sio_workers_t *w) {
  (void)w;
  T.stopped++;
}

static void reset(int listen) {
  memset(&T, 0, sizeof T);
  T.fail_at = -1;
  T.listen = listen;
}

static int start(uv_loop_t *loop, unsigned n, sio_workers_t **out) {
  sio_workers_options_t o;
  sio_workers_options_init(&o);
  o.count = n;
  o.setup = setup;
  o.stop = on_stop;
  return sio_workers_start(loop, &o, out);
}

static void lifecycle(unsigned n) {
  reset(1);
  uv_loop_t loop;
  uv_loop_init(&loop);
  sio_workers_t *w = NULL;
  CHECK_EQ_INT(start(&loop, n, &w), 0);
  CHECK_EQ_INT(sio_workers_count(w), n);
  CHECK_EQ_INT(sio_workers_current(w), 0);
  CHECK_EQ_INT(T.nsetup, n);
  for (unsigned i = 0; i < n; i++) {
    CHECK_EQ_INT(T.order[i], i);
    CHECK(T.on_thread[i]);
  }
  for (unsigned i = 1; i < n; i++) CHECK(T.loops[i] != &loop);
  CHECK_EQ_INT(T.set_after_listen, SIO_EINVAL);
  sio_workers_stop(w, on_stopped);
  sio_workers_stop(w, on_stopped); /* idempotent */
  CHECK_EQ_INT(T.stopped, 0);      /* later, from the loop */
  uv_run(&loop, UV_RUN_DEFAULT);
  CHECK_EQ_INT(T.stopped, 1);
  for (unsigned i = 0; i < n; i++) CHECK_EQ_INT(atomic_load(&T.stops[i]), 1);
  CHECK_EQ_INT(uv_loop_close(&loop), 0);
}

TEST(start_stop_1) { lifecycle(1); }
TEST(start_stop_2) { lifecycle(2); }
TEST(start_stop_4) { lifecycle(4); }

TEST(setup_error_stops_the_others) {
  for (int at = 0; at < 4; at++) {
    reset(1);
    T.fail_at = at;
    uv_loop_t loop;
    uv_loop_init(&loop);
    sio_workers_t *w = NULL;
    CHECK_EQ_INT(start(&loop, 4, &w), SIO_ENOMEM);
    CHECK_EQ_INT(T.nsetup, at + 1); /* none after the failing one */
    for (int i = 0; i < at; i++) CHECK_EQ_INT(atomic_load(&T.stops[i]), 1);
    uv_run(&loop, UV_RUN_DEFAULT); /* worker 0's servers finish closing */
    CHECK_EQ_INT(uv_loop_close(&loop), 0);
  }
}

TEST(bad_arguments) {
  reset(0);
  uv_loop_t loop;
  uv_loop_init(&loop);
  sio_workers_t *w = NULL;
  sio_workers_options_t o;
  sio_workers_options_init(&o);
  CHECK_EQ_INT(o.count, 1);
  o.setup = setup;
  o.count = 0;
  CHECK_EQ_INT(sio_workers_start(&loop, &o, &w), SIO_EINVAL);
  o.count = 65;
  CHECK_EQ_INT(sio_workers_start(&loop, &o, &w), SIO_EINVAL);
  o.count = 2;
  o.setup = NULL;
  CHECK_EQ_INT(sio_workers_start(&loop, &o, &w), SIO_EINVAL);
  CHECK_EQ_INT(sio_workers_current(NULL), -1);
  CHECK_EQ_INT(sio_workers_count(NULL), 0);
  sio_workers_stop(NULL, NULL);
  CHECK_EQ_INT(uv_loop_close(&loop), 0);
}

/* ---------------------------------------------------------------------------------------------- */
/* A blocking HTTP client on its own thread                                                        */

/* One request on a fresh connection; the response (head and body) into out. Returns its length. */
static int http(int port, const char *method, const char *path, const char *body, char *out, size_t outsz) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  struct timeval tv = {5, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
    close(fd);
    return -1;
  }
  char req[512];
  int n = snprintf(req, sizeof req,
                   "%s %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: text/plain\r\n"
                   "Content-Length: %zu\r\n\r\n%s",
                   method, path, body ? strlen(body) : 0, body ? body : "");
  if (write(fd, req, (size_t)n) != n) {
    close(fd);
    return -1;
  }
  size_t got = 0;
  ssize_t r;
  while (got + 1 < outsz && (r = read(fd, out + got, outsz - 1 - got)) > 0) got += (size_t)r;
  out[got] = '\0';
  close(fd);
  return (int)got;
}

static const char *body_of(const char *resp) {
  const char *p = strstr(resp, "\r\n\r\n");
  return p ? p + 4 : "";
}

static struct {
  int port;
  int sessions, echoed, unknown_ok, late_polls, failures;
  uv_async_t done;
  sio_workers_t *w;
  int mode; /* 0: sessions; 1: long-polls left hanging, then stop */
  char last_error[256];
} C;

static void fail(const char *what, const char *resp) {
  C.failures++;
  snprintf(C.last_error, sizeof C.last_error, "%s: %.200s", what, resp);
}

static void client_main(void *arg) {
  (void)arg;
  static char resp[8192];
  char path[128];
  for (int i = 0; i < (C.mode ? 8 : 40); i++) {
    if (http(C.port, "GET", "/engine.io/?EIO=4&transport=polling", NULL, resp, sizeof resp) <= 0) {
      fail("handshake", "");
      continue;
    }
    const char *sid = strstr(resp, "\"sid\":\"");
    if (!sid) {
      fail("handshake", resp);
      continue;
    }
    char id[21];
    memcpy(id, sid + 7, 20);
    id[20] = '\0';
    C.sessions++;
    snprintf(path, sizeof path, "/engine.io/?EIO=4&transport=polling&sid=%s", id);
    if (C.mode) {
      /* a long-poll (handed off or not) left waiting: the stop must end it */
      int fd = socket(AF_INET, SOCK_STREAM, 0);
      struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)C.port)};
      a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      if (connect(fd, (struct sockaddr *)&a, sizeof a) == 0) {
        char req[256];
        int n = snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: x\r\n\r\n", path);
        if (write(fd, req, (size_t)n) != n) fail("long-poll", "");
      }
      /* fd left open until the process ends: closed below after the stop */
      continue;
    }
    http(C.port, "POST", path, "4hello", resp, sizeof resp);
    if (strcmp(body_of(resp), "ok") != 0) {
      fail("POST", resp);
      continue;
    }
    http(C.port, "GET", path, NULL, resp, sizeof resp);
    if (strcmp(body_of(resp), "4hello") != 0) {
      fail("GET", resp);
      continue;
    }
    C.echoed++;
    if (i >= 10) continue;
    /* The client's close, then the poll it sent beside it arriving late (as one handed over from
     * the other worker may): the poll gets its NOOP, then the sid is unknown. */
    http(C.port, "POST", path, "1", resp, sizeof resp);
    if (strcmp(body_of(resp), "ok") != 0) {
      fail("POST close", resp);
      continue;
    }
    http(C.port, "GET", path, NULL, resp, sizeof resp);
    if (!strstr(resp, "200 OK") || strcmp(body_of(resp), "6") != 0) {
      fail("late poll", resp);
      continue;
    }
    http(C.port, "GET", path, NULL, resp, sizeof resp);
    if (!strstr(resp, "400 Bad Request")) {
      fail("poll after the late one", resp);
      continue;
    }
    C.late_polls++;
  }
  /* Sids naming no worker of the group (63 of 2), or of the wrong length: the normal answer. */
  const char *bad[] = {"_aaaaaaaaaaaaaaaaaaa", "9aaaaaaaaaaaaaaaaaaa", "Baaaaaaaaaaaaaaaaaa",
                       "Aaaaaaaaaaaaaaaaaaaaa"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0] && !C.mode; i++) {
    snprintf(path, sizeof path, "/engine.io/?EIO=4&transport=polling&sid=%s", bad[i]);
    http(C.port, "GET", path, NULL, resp, sizeof resp);
    if (strstr(resp, "400 Bad Request") && strstr(body_of(resp), "Session ID unknown")) C.unknown_ok++;
    else fail("bad sid", resp);
  }
  uv_async_send(&C.done);
}

static void on_client_done(uv_async_t *a) {
  uv_close((uv_handle_t *)a, NULL);
  sio_workers_stop(C.w, on_stopped);
}

static void over_tcp(int mode) {
  reset(1);
  memset(&C, 0, sizeof C);
  C.mode = mode;
  uv_loop_t loop;
  uv_loop_init(&loop);
  CHECK_EQ_INT(start(&loop, mode ? 4 : 2, &C.w), 0);
  C.port = T.port;
  uv_async_init(&loop, &C.done, on_client_done);
  uv_thread_t th;
  CHECK_EQ_INT(uv_thread_create(&th, client_main, NULL), 0);
  uv_run(&loop, UV_RUN_DEFAULT);
  uv_thread_join(&th);
  CHECK_EQ_INT(uv_loop_close(&loop), 0);
  if (C.failures) fprintf(stderr, "client: %s\n", C.last_error);
  CHECK_EQ_INT(C.failures, 0);
  CHECK_EQ_INT(T.stopped, 1);
  if (mode) return;
  CHECK_EQ_INT(C.sessions, 40);
  CHECK_EQ_INT(C.echoed, 40);
  CHECK_EQ_INT(C.unknown_ok, 4);
  CHECK_EQ_INT(C.late_polls, 10);
  /* SO_REUSEPORT spread the 40 handshakes (2^-39 that one worker got none by chance). */
  CHECK(atomic_load(&T.handshakes[0]) > 0);
  CHECK(atomic_load(&T.handshakes[1]) > 0);
  CHECK_EQ_INT(atomic_load(&T.handshakes[0]) + atomic_load(&T.handshakes[1]), 40);
}

TEST(spread_and_handoff) { over_tcp(0); }
TEST(stop_while_handing_off) { over_tcp(1); }

/* Another process's group holding the port (SO_REUSEPORT set, as a group sets it): a second group
 * must not join it, or the kernel would split connections between the two processes. */
TEST(port_held_elsewhere_is_in_use) {
  int fd = socket(AF_INET, SOCK_STREAM, 0), on = 1;
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t len = sizeof a;
  CHECK(fd >= 0);
  CHECK_EQ_INT(setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on, sizeof on), 0);
  CHECK_EQ_INT(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
  CHECK_EQ_INT(listen(fd, 8), 0);
  CHECK_EQ_INT(getsockname(fd, (struct sockaddr *)&a, &len), 0);
  reset(1);
  T.port = ntohs(a.sin_port);
  uv_loop_t loop;
  uv_loop_init(&loop);
  sio_workers_t *w = NULL;
  CHECK_EQ_INT(start(&loop, 2, &w), UV_EADDRINUSE);
  uv_run(&loop, UV_RUN_DEFAULT);
  CHECK_EQ_INT(uv_loop_close(&loop), 0);
  close(fd);
}

/* ---------------------------------------------------------------------------------------------- */
/* A worker behind: its inbox stays bounded, the flooding sender is paused, nothing is lost         */

#define FLOOD_LIMIT 4096
#define FLOOD_N 400

static struct {
  int port;
  sio_workers_t *w;
  uv_async_t done;
  uv_sem_t go;          /* worker 1 waits on it inside the blocking message */
  atomic_int blocked;   /* worker 1 is inside it */
  size_t queued_while_blocked, queued_unbounded;
  int short_pings;      /* pings every 100 ms, 100 ms for the pong: the sender answers them */
  int received, in_order, failures;
  char last_error[256];
} F;

/* "b": to everyone else in "/" (worker 1's client through the inbox). */
static void flood_event(sio_socket_t *s, const char *event, const sio_args_t *args, int64_t ack_id) {
  (void)ack_id;
  if (strcmp(event, "b") != 0) return;
  const char *except[] = {sio_socket_id(s)};
  sio_target_t to = {NULL, 0, except, 1, 0};
  sio_nsp_emit(sio_socket_nsp(s), &to, "b", args);
}

static void flood_connection(sio_nsp_t *nsp, sio_socket_t *s) { (void)nsp, (void)s; }

static int flood_setup(sio_workers_t *w, unsigned index, uv_loop_t *loop, void *arg) {
  (void)arg;
  sio_server_t *s;
  sio_io_t *io;
  sio_nsp_t *nsp;
  sio_io_options_t o;
  sio_io_options_init(&o);
  if (F.short_pings) o.engine.ping_interval_ms = o.engine.ping_timeout_ms = 100;
  int r = sio_server_new(loop, NULL, &s);
  if (!r) r = sio_server_set_workers(s, w, index);
  if (!r) r = sio_io_new(s, &o, &io);
  if (!r) r = sio_io_of(io, "/", &nsp);
  if (r) return r;
  sio_nsp_callbacks_t cbs = {.on_connection = flood_connection, .on_event = flood_event};
  sio_nsp_set_callbacks(nsp, &cbs);
  if ((r = sio_server_listen(s, "127.0.0.1", F.port)) != 0) return r;
  if (index == 0) F.port = sio_server_port(s);
  return 0;
}

static void flood_fail(const char *what) {
  F.failures++;
  snprintf(F.last_error, sizeof F.last_error, "%s", what);
}

/* A Socket.IO client joined to "/": the worker that owns it (its sid's first character), or -1. */
static int sio_join(nc_conn_t *c) {
  nc_response_t r;
  char buf[512];
  size_t n;
  int op;
  if (nc_ws_open(c, "/socket.io/?EIO=4&transport=websocket", &r) != 0) return -1;
  if (nc_ws_read(c, &op, buf, sizeof buf - 1, &n) != 0 || n < 10 || buf[0] != '0') return -1;
  buf[n] = '\0';
  const char *sid = strstr(buf, "\"sid\":\"");
  int worker = sid ? sio__sid_worker(sid + 7) : -1;
  if (nc_ws_send(c, 1, "40", 2) != 0 || nc_ws_read(c, &op, buf, sizeof buf, &n) != 0 || buf[0] != '4')
    return -1;
  return worker;
}

static void block_run(sio_wmsg_t *m, int dropped) {
  free(m);
  if (dropped) return;
  atomic_store(&F.blocked, 1);
  uv_sem_wait(&F.go);
}

/* For ms, reads c and answers the server's pings: the server must not close it meanwhile (its
 * pongs lie unread while the connection is held back). */
static void keep_answering_pings(nc_conn_t *c, int ms) {
  struct timeval tv = {0, 50 * 1000};
  setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  uint64_t end = uv_hrtime() + (uint64_t)ms * 1000000u;
  char buf[512];
  size_t n;
  int op;
  while (uv_hrtime() < end && !F.failures) {
    int r = nc_ws_read(c, &op, buf, sizeof buf - 1, &n);
    if (r == -1 && (errno == EAGAIN || errno == EWOULDBLOCK)) continue;
    if (r != 0 || op == 8) flood_fail("the sender's session was closed while a worker was behind");
    else if (n == 1 && buf[0] == '2') nc_ws_send(c, 1, "3", 1);
  }
  tv.tv_sec = NC_TIMEOUT_S;
  tv.tv_usec = 0;
  setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
}

/* Reads the broadcasts on ws (answering pings) until `total` came, within 20 s: in order when
 * they are 0, 1, ... FLOOD_N - 1 and then the message numbered 9999. */
static void read_broadcasts(nc_conn_t *ws, int total) {
  char buf[512];
  size_t n;
  int op;
  F.in_order = 1;
  uint64_t deadline = uv_hrtime() + (uint64_t)20 * 1000000000u; /* pings keep the reads busy */
  while (F.received < total && !F.failures) {
    if (uv_hrtime() > deadline) {
      flood_fail("a broadcast is missing after 20 s");
      break;
    }
    if (nc_ws_read(ws, &op, buf, sizeof buf - 1, &n) != 0) {
      flood_fail("read: a broadcast is missing");
      break;
    }
    buf[n] = '\0';
    if (strcmp(buf, "2") == 0) { /* the server's ping */
      nc_ws_send(ws, 1, "3", 1);
      continue;
    }
    int k = -1;
    int want = F.received < FLOOD_N ? F.received : 9999;
    if (sscanf(buf, "42[\"b\",\"%d", &k) != 1 || k != want) F.in_order = 0;
    F.received++;
  }
}

/* Worker 1 stops running its inbox (until F.go): what worker 0 broadcasts piles up there. */
static void block_worker1(void) {
  sio_wmsg_t *m = malloc(sizeof *m);
  m->run = block_run;
  if (sio__workers_post(F.w, 1, m, 0)) free(m);
  for (int i = 0; i < 500 && !atomic_load(&F.blocked); i++) nh_sleep_ms(2);
}

static void flood_client(void *arg) {
  (void)arg;
  nc_conn_t *on[2] = {NULL, NULL};
  for (int i = 0; i < 40 && (!on[0] || !on[1]); i++) {
    nc_conn_t *c = nc_connect(F.port, 0);
    int wk = c ? sio_join(c) : -1;
    if (wk >= 0 && wk < 2 && !on[wk]) {
      on[wk] = c;
    } else if (c) {
      nc_close(c);
      free(c);
    }
  }
  if (!on[0] || !on[1]) {
    flood_fail("no client on each worker");
    goto out;
  }
  block_worker1();
  char msg[300];
  for (int i = 0; i < FLOOD_N; i++) {
    int n = snprintf(msg, sizeof msg, "42[\"b\",\"%04d %0200d\"]", i, 0);
    if (nc_ws_send(on[0], 1, msg, (size_t)n) != 0) {
      flood_fail("send");
      break;
    }
  }
  nh_sleep_ms(300); /* worker 0 has read what it will read */
  F.queued_while_blocked = sio__workers_queued(F.w, 1);
  if (F.short_pings) keep_answering_pings(on[0], 1000);
  uv_sem_post(&F.go);
  int total = FLOOD_N + (F.short_pings ? 1 : 0);
  static const char after[] = "42[\"b\",\"9999 after\"]";
  if (F.short_pings && nc_ws_send(on[0], 1, after, sizeof after - 1) != 0)
    flood_fail("send after the flood");
  read_broadcasts(on[1], total);
out:
  for (int i = 0; i < 2; i++) {
    if (!on[i]) continue;
    nc_close(on[i]);
    free(on[i]);
  }
  uv_async_send(&F.done);
}

static void on_flood_done(uv_async_t *a) {
  uv_close((uv_handle_t *)a, NULL);
  sio_workers_stop(F.w, NULL);
}

/* Runs a group of two workers (inbox bound FLOOD_LIMIT) with `client` on its own thread, until
 * the client is done. 0, or -1 when the group or the thread could not start. */
static int run_flood(uv_thread_cb client) {
  uv_loop_t loop;
  uv_loop_init(&loop);
  sio_workers_options_t o;
  sio_workers_options_init(&o);
  o.count = 2;
  o.setup = flood_setup;
  o.inbox_max_bytes = FLOOD_LIMIT;
  uv_thread_t th;
  if (uv_sem_init(&F.go, 0) || sio_workers_start(&loop, &o, &F.w)) return -1;
  uv_async_init(&loop, &F.done, on_flood_done);
  if (uv_thread_create(&th, client, NULL)) return -1;
  uv_run(&loop, UV_RUN_DEFAULT);
  uv_thread_join(&th);
  uv_sem_destroy(&F.go);
  if (uv_loop_close(&loop)) return -1;
  if (F.failures) fprintf(stderr, "client: %s\n", F.last_error);
  return 0;
}

TEST(a_worker_behind_pauses_the_flooding_sender) {
  memset(&F, 0, sizeof F);
  CHECK_EQ_INT(run_flood(flood_client), 0);
  CHECK_EQ_INT(F.failures, 0);
  /* The bound plus the one message that crossed it (~300 bytes each; unbounded: ~130 KB). */
  CHECK(F.queued_while_blocked > FLOOD_LIMIT / 2);
  CHECK(F.queued_while_blocked <= FLOOD_LIMIT + 1024);
  CHECK_EQ_INT(F.received, FLOOD_N);
  CHECK_EQ_INT(F.in_order, 1);
}

/* While a worker is behind, the connections that sent are not read, their pongs neither: their
 * sessions wait for the congestion to end instead of timing out (pings every 100 ms here, the
 * worker behind for over a second). */
TEST(a_worker_behind_keeps_the_senders_sessions) {
  memset(&F, 0, sizeof F);
  F.short_pings = 1;
  CHECK_EQ_INT(run_flood(flood_client), 0);
  CHECK_EQ_INT(F.failures, 0);
  CHECK(F.queued_while_blocked > FLOOD_LIMIT / 2); /* it was behind */
  CHECK_EQ_INT(F.received, FLOOD_N + 1);            /* and the sender's last message came after */
  CHECK_EQ_INT(F.in_order, 1);
}

/* The same flood from a polling client: its POSTs, pipelined on one keep-alive connection of
 * worker 0, are read one at a time while worker 1 is behind. */
static nc_conn_t *polling_on_worker0(char *sid, size_t cap) {
  for (int i = 0; i < 40; i++) {
    nc_conn_t *c = nc_connect(F.port, 0);
    nc_response_t r;
    const char *p;
    if (c && nc_request(c, "GET", "/socket.io/?EIO=4&transport=polling", NULL, NULL, 0, &r) == 0 &&
        (p = strstr(r.body, "\"sid\":\"")) && sio__sid_worker(p + 7) == 0) {
      size_t n = strcspn(p + 7, "\"");
      snprintf(sid, cap, "%.*s", (int)n, p + 7);
      char target[128];
      snprintf(target, sizeof target, "/socket.io/?EIO=4&transport=polling&sid=%s", sid);
      if (nc_request(c, "POST", target, NULL, "40", 2, &r) == 0 && r.status == 200) return c;
    }
    if (c) {
      nc_close(c);
      free(c);
    }
  }
  return NULL;
}

static void flood_polling_client(void *arg) {
  (void)arg;
  nc_conn_t *ws = NULL, *poll = NULL;
  char sid[64], target[128], msg[300];
  for (int i = 0; i < 40 && !ws; i++) {
    nc_conn_t *c = nc_connect(F.port, 0);
    if (c && sio_join(c) == 1) {
      ws = c;
    } else if (c) {
      nc_close(c);
      free(c);
    }
  }
  if (!ws || !(poll = polling_on_worker0(sid, sizeof sid))) {
    flood_fail("no WebSocket client on worker 1 or polling one on worker 0");
    goto out;
  }
  snprintf(target, sizeof target, "/socket.io/?EIO=4&transport=polling&sid=%s", sid);
  block_worker1();
  for (int i = 0; i < FLOOD_N; i++) {
    int n = snprintf(msg, sizeof msg, "42[\"b\",\"%04d %0200d\"]", i, 0);
    if (nc_request(poll, "POST", target, NULL, msg, (size_t)n, NULL) != 0) {
      flood_fail("send");
      break;
    }
  }
  nh_sleep_ms(300); /* worker 0 has read what it will read */
  F.queued_while_blocked = sio__workers_queued(F.w, 1);
  uv_sem_post(&F.go);
  nc_response_t r;
  for (int i = 0; i < FLOOD_N && !F.failures; i++)
    if (nc_read_response(poll, &r) != 0 || r.status != 200) flood_fail("a POST not answered");
  read_broadcasts(ws, FLOOD_N);
out:
  if (!F.blocked) uv_sem_post(&F.go);
  nc_conn_t *both[2] = {ws, poll};
  for (int i = 0; i < 2; i++) {
    if (!both[i]) continue;
    nc_close(both[i]);
    free(both[i]);
  }
  uv_async_send(&F.done);
}

TEST(a_worker_behind_pauses_a_polling_sender) {
  memset(&F, 0, sizeof F);
  CHECK_EQ_INT(run_flood(flood_polling_client), 0);
  CHECK_EQ_INT(F.failures, 0);
  CHECK(F.queued_while_blocked > FLOOD_LIMIT / 2);
  CHECK(F.queued_while_blocked <= FLOOD_LIMIT + 1024);
  CHECK_EQ_INT(F.received, FLOOD_N);
  CHECK_EQ_INT(F.in_order, 1);
}

/* A shorter options struct (a caller built before inbox_max_bytes) is taken; one of an unknown
 * size is refused. */
TEST(options_of_an_older_size) {
  reset(0);
  uv_loop_t loop;
  uv_loop_init(&loop);
  sio_workers_options_t o;
  sio_workers_options_init(&o);
  o.count = 1;
  o.setup = setup;
  o.inbox_max_bytes = 12345; /* beyond the size given: not read */
  o.size = offsetof(sio_workers_options_t, inbox_max_bytes);
  sio_workers_t *w = NULL;
  CHECK_EQ_INT(sio_workers_start(&loop, &o, &w), 0);
  sio_workers_stop(w, NULL);
  uv_run(&loop, UV_RUN_DEFAULT);
  o.size = sizeof o + 8;
  CHECK_EQ_INT(sio_workers_start(&loop, &o, &w), SIO_EINVAL);
  CHECK_EQ_INT(uv_loop_close(&loop), 0);
}

TEST_MAIN(RUN(start_stop_1), RUN(start_stop_2), RUN(start_stop_4), RUN(setup_error_stops_the_others),
          RUN(bad_arguments), RUN(spread_and_handoff),
          RUN(stop_while_handing_off), RUN(port_held_elsewhere_is_in_use),
          RUN(a_worker_behind_pauses_the_flooding_sender),
          RUN(a_worker_behind_keeps_the_senders_sessions), RUN(a_worker_behind_pauses_a_polling_sender),
          RUN(options_of_an_older_size))
