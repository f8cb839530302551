/* The Engine.IO client (core/src/client/eio_client.h) against sio's own engine, in one loop: the
 * server and the client share this thread's uv loop, so each case is a plain sequence of
 * callbacks, bounded by a watchdog, ending with uv_loop_close() == 0 (nothing left behind).
 *
 * Covers: the handshake and echo over polling, WebSocket only, polling then the upgrade, EIO 3,
 * TLS (verified against the test CA, and refused without it), text and binary both ways, big
 * messages, a thousand messages queued in one turn (in order, batched), the server closing the
 * session, a ping timeout, connection refused, a server that never answers (timeout),
 * max_payload, a close from inside on_message; and fake servers (raw TCP) answering garbage, an
 * HTTP error with its body, a non-101 upgrade answer, a truncated chunk, a huge Content-Length,
 * an OPEN packet that is not one: each a clean on_close with an error. */
#include <arpa/inet.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "client/eio_client.h"
#include "client/eioc_proto.h"
#include "websocket/ws.h"
#include "sio.h"
#include "sio_client.h"
#include "test.h"

#define WATCHDOG_MS 8000
#define MAXMSG 2048

/* ---------------------------------------------------------------------------------------------- */
/* The fixture                                                                                     */

typedef struct fx fx_t;
struct fx {
  uv_loop_t loop;
  sio_server_t *server;
  sio_engine_t *engine;
  int port;
  uv_timer_t watchdog;
  int timed_out;
  /* the client */
  sio_eioc_config_t cfg;
  sio_eioc_t *c;
  int opened, closed, upgraded;
  int close_err;
  char reason[64], detail[320];
  int transport_at_close;
  /* messages the client received */
  int msgs, binary_msgs;
  size_t bytes;
  char first[256];
  int in_order; /* numbered messages came back in order */
  /* what the case does */
  void (*on_open)(fx_t *f);
  void (*on_upgraded)(fx_t *f); /* after the upgrade (NULL: nothing) */
  void (*on_msg)(fx_t *f, char *data, size_t len, int binary);
  int want_msgs; /* close the client after this many messages */
  /* the server side */
  int srv_conns, srv_msgs, srv_closes;
  char srv_reason[64];
  int srv_transport;
  char srv_header[32], srv_query[32]; /* the handshake's X-Test header and foo= parameter */
  int srv_close_on_connect; /* the server closes each session at once */
  size_t srv_send_big;      /* the server sends a message this long on connection */
  /* a fake server */
  uv_tcp_t fake;
  int fake_on;
  const char *const *fake_answers; /* per request, in order; NULL: stay silent */
  int fake_requests, fake_accepts;
  char rec[16384]; /* what the fake server received */
  size_t rec_len;
};

static void stop_all(fx_t *f);

static void on_watchdog(uv_timer_t *t) {
  fx_t *f = t->data;
  f->timed_out = 1;
  if (f->c && !f->closed) sio_eioc_close(f->c);
  stop_all(f);
}

static void on_fake_closed(uv_handle_t *h) { (void)h; }

static void stop_all(fx_t *f) {
  if (f->server) {
    sio_server_close(f->server, NULL);
    f->server = NULL;
  }
  if (f->fake_on) {
    f->fake_on = 0;
    uv_close((uv_handle_t *)&f->fake, on_fake_closed);
  }
  if (!uv_is_closing((uv_handle_t *)&f->watchdog)) uv_close((uv_handle_t *)&f->watchdog, NULL);
}

/* Server: an echo engine. */
static void srv_connection(sio_engine_t *e, sio_session_t *s) {
  fx_t *f = sio_engine_get_data(e);
  f->srv_conns++;
  const sio_request_info_t *req = sio_session_request(s);
  const char *h = req ? sio_request_header(req, "x-test") : NULL;
  snprintf(f->srv_header, sizeof f->srv_header, "%s", h ? h : "");
  if (req) sio_request_query(req, "foo", f->srv_query, sizeof f->srv_query);
  if (f->srv_send_big) {
    char *big = malloc(f->srv_send_big);
    memset(big, 'x', f->srv_send_big);
    sio_session_send(s, big, f->srv_send_big, 0);
    free(big);
  }
  if (f->srv_close_on_connect) sio_session_close(s);
}

static void srv_message(sio_session_t *s, const char *data, size_t len, int binary) {
  fx_t *f = sio_engine_get_data(sio_session_engine(s));
  f->srv_msgs++;
  f->srv_transport = sio_session_transport(s);
  sio_session_send(s, data, len, binary);
}

static void srv_close(sio_session_t *s, const char *reason) {
  fx_t *f = sio_engine_get_data(sio_session_engine(s));
  f->srv_closes++;
  snprintf(f->srv_reason, sizeof f->srv_reason, "%s", reason);
}

static const sio_engine_callbacks_t srv_cbs = {srv_connection, srv_message, srv_close, NULL};

/* Client callbacks. */
static void c_open(sio_eioc_t *c) {
  fx_t *f = sio_eioc_user(c);
  f->opened++;
  if (f->on_open) f->on_open(f);
}

static void c_message(sio_eioc_t *c, char *data, size_t len, int binary) {
  fx_t *f = sio_eioc_user(c);
  if (f->msgs == 0) snprintf(f->first, sizeof f->first, "%.*s", (int)(len < 200 ? len : 200), data);
  if (!binary && len < 32) {
    char num[32];
    snprintf(num, sizeof num, "%.*s", (int)len, data);
    if (f->in_order >= 0 && atoi(num) == f->msgs) f->in_order++;
  }
  f->msgs++;
  f->binary_msgs += binary;
  f->bytes += len;
  if (f->on_msg) f->on_msg(f, data, len, binary);
  if (f->want_msgs && f->msgs == f->want_msgs) sio_eioc_close(c);
}

static void c_upgrade(sio_eioc_t *c) {
  fx_t *f = sio_eioc_user(c);
  f->upgraded++;
  if (f->on_upgraded) f->on_upgraded(f);
}

static void c_close(sio_eioc_t *c, int err, const char *reason, const char *detail) {
  fx_t *f = sio_eioc_user(c);
  f->closed++;
  f->close_err = err;
  f->transport_at_close = sio_eioc_transport(c);
  snprintf(f->reason, sizeof f->reason, "%s", reason ? reason : "(null)");
  snprintf(f->detail, sizeof f->detail, "%s", detail ? detail : "");
  stop_all(f);
}

static const sio_eioc_callbacks_t c_cbs = {c_open, c_message, c_upgrade, c_close};

static void fx_init(fx_t *f) {
  /* A write to a server that hung up must fail the case, not kill it. */
  signal(SIGPIPE, SIG_IGN);
  memset(f, 0, sizeof *f);
  uv_loop_init(&f->loop);
  uv_timer_init(&f->loop, &f->watchdog);
  f->watchdog.data = f;
  uv_timer_start(&f->watchdog, on_watchdog, WATCHDOG_MS, 0);
  f->cfg.host = "127.0.0.1";
  f->cfg.path = "/engine.io/";
  f->cfg.eio = 4;
  f->cfg.transports = SIO_CLIENT_POLLING | SIO_CLIENT_WEBSOCKET;
  f->cfg.upgrade = 1;
  f->cfg.max_payload = 1 << 20;
  f->cfg.timeout_ms = 5000;
  f->cfg.tls_verify = 1;
}

/* An echo engine listening on 127.0.0.1 (tls: with that certificate). */
static int fx_server(fx_t *f, const sio_engine_options_t *eo, const sio_tls_options_t *tls) {
  sio_engine_options_t o;
  if (eo) o = *eo;
  else sio_engine_options_init(&o);
  if (sio_server_new(&f->loop, NULL, &f->server)) return -1;
  if (sio_engine_new(f->server, &o, &srv_cbs, &f->engine)) return -1;
  sio_engine_set_data(f->engine, f);
  int r = tls ? sio_server_listen_tls(f->server, "127.0.0.1", 0, tls)
              : sio_server_listen(f->server, "127.0.0.1", 0);
  if (r) {
    fprintf(stderr, "listen: %s %s\n", sio_strerror(r), sio_last_error());
    return -1;
  }
  f->port = sio_server_port(f->server);
  f->cfg.port = f->port;
  return 0;
}

/* Runs the client to its end; 0 when the loop ended clean. */
static int fx_run(fx_t *f) {
  int r = sio_eioc_new(&f->loop, &f->cfg, &c_cbs, f, &f->c);
  if (r) {
    fprintf(stderr, "sio_eioc_new: %s\n", sio_strerror(r));
    stop_all(f);
  }
  uv_run(&f->loop, UV_RUN_DEFAULT);
  int left = uv_loop_close(&f->loop);
  if (f->timed_out) fprintf(stderr, "case timed out (opened %d msgs %d)\n", f->opened, f->msgs);
  if (left) fprintf(stderr, "handles left in the loop\n");
  if (f->closed != 1) fprintf(stderr, "on_close ran %d times\n", f->closed);
  return r || left || f->timed_out || f->closed != 1 ? -1 : 0;
}

/* ---------------------------------------------------------------------------------------------- */
/* Echo cases                                                                                       */

/* Sends a text and a binary message at open; closes after both came back. */
static void send_two(fx_t *f) {
  static const char bin[] = {0, 1, 2, (char)0xff, '\n'};
  CHECK(sio_eioc_sid(f->c) != NULL);
  CHECK(sio_eioc_send(f->c, "hello é", strlen("hello é"), 0) == 0);
  CHECK(sio_eioc_send(f->c, bin, sizeof bin, 1) == 0);
  f->want_msgs = 2;
}

static void check_echo_two(fx_t *f) {
  CHECK_EQ_INT(f->opened, 1);
  CHECK_EQ_INT(f->msgs, 2);
  CHECK_EQ_INT(f->binary_msgs, 1);
  CHECK(strcmp(f->first, "hello é") == 0);
  CHECK_EQ_INT(f->close_err, 0);
  CHECK(strcmp(f->reason, "forced close") == 0);
  CHECK_EQ_INT(f->srv_msgs, 2);
  CHECK_EQ_INT(f->srv_closes, 1);
}

static const char *const test_headers[] = {"X-Test: yes", NULL};

TEST(polling_echo) {
  fx_t f;
  fx_init(&f);
  CHECK(fx_server(&f, NULL, NULL) == 0);
  f.cfg.transports = SIO_CLIENT_POLLING;
  f.cfg.headers = test_headers;
  f.cfg.query = "foo=bar&x=1";
  f.on_open = send_two;
  CHECK(fx_run(&f) == 0);
  check_echo_two(&f);
  CHECK_EQ_INT(f.transport_at_close, SIO_CLIENT_POLLING);
  CHECK_EQ_INT(f.srv_transport, SIO_TRANSPORT_POLLING);
  CHECK(strcmp(f.srv_reason, "transport close") == 0); /* our CLOSE packet */
  CHECK(strcmp(f.srv_header, "yes") == 0);
  CHECK(strcmp(f.srv_query, "bar") == 0);
}

TEST(websocket_only_echo) {
  fx_t f;
  fx_init(&f);
  CHECK(fx_server(&f, NULL, NULL) == 0);
  f.cfg.transports = SIO_CLIENT_WEBSOCKET;
  f.cfg.headers = test_headers;
  f.cfg.query = "foo=baz";
  f.cfg.host = "localhost"; /* resolved; ::1 (refused) may come first, 127.0.0.1 next */
  f.on_open = send_two;
  CHECK(fx_run(&f) == 0);
  check_echo_two(&f);
  CHECK(strcmp(f.srv_header, "yes") == 0);
  CHECK(strcmp(f.srv_query, "baz") == 0);
  CHECK_EQ_INT(f.transport_at_close, SIO_CLIENT_WEBSOCKET);
  CHECK_EQ_INT(f.srv_transport, SIO_TRANSPORT_WEBSOCKET);
  CHECK_EQ_INT(f.upgraded, 0);
}

/* Polling first; messages sent before the upgrade and after it all come back. */
static void upgrade_send(fx_t *f) {
  if (f->upgraded) {
    CHECK_EQ_INT(sio_eioc_transport(f->c), SIO_CLIENT_WEBSOCKET);
    CHECK(sio_eioc_send(f->c, "after", 5, 0) == 0);
    f->want_msgs = 2;
  } else {
    CHECK(sio_eioc_send(f->c, "before", 6, 0) == 0);
  }
}

static void upgrade_case(int eio) {
  fx_t f;
  fx_init(&f);
  sio_engine_options_t eo;
  sio_engine_options_init(&eo);
  eo.allow_eio3 = eio == 3;
  CHECK(fx_server(&f, &eo, NULL) == 0);
  f.cfg.eio = eio;
  f.on_open = upgrade_send;
  f.on_upgraded = upgrade_send;
  CHECK(fx_run(&f) == 0);
  CHECK_EQ_INT(f.upgraded, 1);
  CHECK_EQ_INT(f.msgs, 2);
  CHECK(strcmp(f.first, "before") == 0);
  CHECK_EQ_INT(f.srv_transport, SIO_TRANSPORT_WEBSOCKET);
  CHECK_EQ_INT(f.close_err, 0);
  CHECK_EQ_INT(f.srv_closes, 1);
}

TEST(polling_then_upgrade) { upgrade_case(4); }
TEST(eio3_polling_then_upgrade) { upgrade_case(3); }

/* An IPv6 literal (skipped when the host has no ::1). */
TEST(ipv6_literal) {
  for (int t = 1; t <= 3; t++) {
    fx_t f;
    fx_init(&f);
    sio_server_t *probe;
    if (sio_server_new(&f.loop, NULL, &probe)) return;
    int can = sio_server_listen(probe, "::1", 0) == 0;
    sio_server_close(probe, NULL);
    if (!can) {
      stop_all(&f);
      uv_run(&f.loop, UV_RUN_DEFAULT);
      uv_loop_close(&f.loop);
      fprintf(stderr, "no ::1 here: skipped\n");
      return;
    }
    CHECK(sio_server_new(&f.loop, NULL, &f.server) == 0);
    CHECK(sio_engine_new(f.server, NULL, &srv_cbs, &f.engine) == 0);
    sio_engine_set_data(f.engine, &f);
    CHECK(sio_server_listen(f.server, "::1", 0) == 0);
    f.cfg.port = sio_server_port(f.server);
    f.cfg.host = "::1";
    if (t == 3) {
      f.on_open = upgrade_send;
      f.on_upgraded = upgrade_send;
    } else {
      f.cfg.transports = (unsigned)t;
      f.on_open = send_two;
    }
    CHECK(fx_run(&f) == 0);
    CHECK_EQ_INT(f.msgs, 2);
    CHECK_EQ_INT(f.close_err, 0);
  }
}

TEST(eio3_polling_and_websocket_echo) {
  for (int t = 1; t <= 2; t++) {
    fx_t f;
    fx_init(&f);
    sio_engine_options_t eo;
    sio_engine_options_init(&eo);
    eo.allow_eio3 = 1;
    CHECK(fx_server(&f, &eo, NULL) == 0);
    f.cfg.eio = 3;
    f.cfg.transports = (unsigned)t;
    f.on_open = send_two;
    CHECK(fx_run(&f) == 0);
    check_echo_two(&f);
  }
}

/* Big messages both ways, on each transport. */
static void send_big(fx_t *f) {
  size_t n = 300000;
  char *b = malloc(n);
  for (size_t i = 0; i < n; i++) b[i] = (char)('a' + i % 26);
  CHECK(sio_eioc_send(f->c, b, n, 0) == 0);
  for (size_t i = 0; i < n; i++) b[i] = (char)i;
  CHECK(sio_eioc_send(f->c, b, n, 1) == 0);
  free(b);
  f->want_msgs = 2;
}

TEST(big_messages) {
  for (int t = 1; t <= 2; t++) {
    fx_t f;
    fx_init(&f);
    CHECK(fx_server(&f, NULL, NULL) == 0);
    f.cfg.transports = (unsigned)t;
    f.on_open = send_big;
    CHECK(fx_run(&f) == 0);
    CHECK_EQ_INT(f.msgs, 2);
    CHECK_EQ_INT(f.bytes, 600000);
    CHECK_EQ_INT(f.binary_msgs, 1);
  }
}

/* A thousand messages queued in one turn come back, in order. */
static void send_many(fx_t *f) {
  for (int i = 0; i < 1000; i++) {
    char num[16];
    int n = snprintf(num, sizeof num, "%d", i);
    CHECK(sio_eioc_send(f->c, num, (size_t)n, 0) == 0);
  }
  CHECK_EQ_INT(sio_eioc_writable(f->c), 0); /* queued, not written yet */
  f->want_msgs = 1000;
}

/* t = 3: polling with the upgrade under way, so the messages and their echoes cross the switch
 * of transports: still all there, in order. */
TEST(many_messages_batched_in_order) {
  for (int t = 1; t <= 3; t++) {
    fx_t f;
    fx_init(&f);
    CHECK(fx_server(&f, NULL, NULL) == 0);
    f.cfg.transports = (unsigned)t;
    f.on_open = send_many;
    CHECK(fx_run(&f) == 0);
    CHECK_EQ_INT(f.msgs, 1000);
    CHECK_EQ_INT(f.in_order, 1000);
    CHECK_EQ_INT(f.srv_msgs, 1000);
  }
}

TEST(server_closes_the_session) {
  for (int t = 1; t <= 2; t++) {
    fx_t f;
    fx_init(&f);
    CHECK(fx_server(&f, NULL, NULL) == 0);
    f.cfg.transports = (unsigned)t;
    f.srv_close_on_connect = 1;
    CHECK(fx_run(&f) == 0);
    CHECK_EQ_INT(f.opened, 1);
    CHECK(f.close_err < 0);
    CHECK(strcmp(f.reason, "transport close") == 0);
  }
}

/* Short ping values: the heartbeat keeps the connection up (v4: the server pings, the client
 * answers; v3: the client pings) for many intervals, on polling and after the upgrade. */
static void close_later_cb(uv_timer_t *t) {
  fx_t *f = t->data;
  uv_close((uv_handle_t *)t, (uv_close_cb)free);
  if (!f->closed) sio_eioc_close(f->c);
}

static void close_later(fx_t *f) {
  if (sio_eioc_transport(f->c) == SIO_CLIENT_POLLING && f->cfg.transports == 3 && !f->upgraded)
    return; /* wait for the upgrade */
  uv_timer_t *t = malloc(sizeof *t);
  uv_timer_init(&f->loop, t);
  t->data = f;
  uv_timer_start(t, close_later_cb, 600, 0);
}

TEST(heartbeat_keeps_the_connection) {
  for (int eio = 3; eio <= 4; eio++)
    for (int t = 1; t <= 3; t++) {
      fx_t f;
      fx_init(&f);
      sio_engine_options_t eo;
      sio_engine_options_init(&eo);
      eo.allow_eio3 = 1;
      eo.ping_interval_ms = 50;
      eo.ping_timeout_ms = 100;
      CHECK(fx_server(&f, &eo, NULL) == 0);
      f.cfg.eio = eio;
      f.cfg.transports = (unsigned)t;
      f.on_open = close_later;
      f.on_upgraded = close_later;
      CHECK(fx_run(&f) == 0);
      CHECK_EQ_INT(f.close_err, 0);
      CHECK(strcmp(f.reason, "forced close") == 0);
      CHECK(strcmp(f.srv_reason, "transport close") == 0);
      if (t == 3) CHECK_EQ_INT(f.upgraded, 1);
    }
}

/* sio_eioc_close() from on_open: the CLOSE goes out, on_close says "forced close". */
static void close_at_once(fx_t *f) {
  sio_eioc_close(f->c);
  sio_eioc_close(f->c); /* twice is harmless */
  CHECK_EQ_INT(sio_eioc_send(f->c, "x", 1, 0), SIO_ECLOSED);
}

TEST(close_inside_on_open) {
  for (int t = 1; t <= 3; t++) {
    fx_t f;
    fx_init(&f);
    CHECK(fx_server(&f, NULL, NULL) == 0);
    f.cfg.transports = (unsigned)t;
    f.on_open = close_at_once;
    CHECK(fx_run(&f) == 0);
    CHECK_EQ_INT(f.opened, 1);
    CHECK_EQ_INT(f.close_err, 0);
    CHECK(strcmp(f.reason, "forced close") == 0);
    CHECK_EQ_INT(f.srv_closes, 1);
    CHECK(strcmp(f.srv_reason, "transport close") == 0);
  }
}

TEST(max_payload_exceeded_closes) {
  for (int t = 1; t <= 2; t++) {
    fx_t f;
    fx_init(&f);
    CHECK(fx_server(&f, NULL, NULL) == 0);
    f.cfg.transports = (unsigned)t;
    f.cfg.max_payload = 1000;
    f.srv_send_big = 5000;
    CHECK(fx_run(&f) == 0);
    CHECK_EQ_INT(f.msgs, 0);
    CHECK_EQ_INT(f.close_err, SIO_ETOOBIG);
    CHECK(strcmp(f.reason, "transport error") == 0);
  }
}

TEST(send_past_max_payload_refused) {
  fx_t f;
  fx_init(&f);
  CHECK(fx_server(&f, NULL, NULL) == 0);
  f.cfg.max_payload = 100;
  f.on_open = NULL;
  int r = sio_eioc_new(&f.loop, &f.cfg, &c_cbs, &f, &f.c);
  CHECK(r == 0);
  char big[101] = {0};
  CHECK_EQ_INT(sio_eioc_send(f.c, big, sizeof big, 1), SIO_ETOOBIG);
  sio_eioc_close(f.c);
  CHECK_EQ_INT(sio_eioc_send(f.c, "x", 1, 0), SIO_ECLOSED);
  uv_run(&f.loop, UV_RUN_DEFAULT);
  CHECK_EQ_INT(uv_loop_close(&f.loop), 0);
  CHECK_EQ_INT(f.closed, 1);
  CHECK_EQ_INT(f.opened, 0);
  CHECK(strcmp(f.reason, "forced close") == 0);
}

/* Bad configurations are refused at once, with nothing to close. */
TEST(bad_config_refused) {
  fx_t f;
  fx_init(&f);
  sio_eioc_t *c = NULL;
  sio_eioc_config_t cfg = f.cfg;
  cfg.port = 0;
  CHECK_EQ_INT(sio_eioc_new(&f.loop, &cfg, &c_cbs, &f, &c), SIO_EINVAL);
  cfg.port = 70000;
  CHECK_EQ_INT(sio_eioc_new(&f.loop, &cfg, &c_cbs, &f, &c), SIO_EINVAL);
  cfg.port = 80;
  cfg.host = "";
  CHECK_EQ_INT(sio_eioc_new(&f.loop, &cfg, &c_cbs, &f, &c), SIO_EINVAL);
  cfg.host = "127.0.0.1";
  static const char *const smuggled[] = {"X-A: 1\r\nX-B: 2", NULL};
  cfg.headers = smuggled;
  CHECK_EQ_INT(sio_eioc_new(&f.loop, &cfg, &c_cbs, &f, &c), SIO_EINVAL);
  static const char *const no_colon[] = {"X-A", NULL};
  cfg.headers = no_colon;
  CHECK_EQ_INT(sio_eioc_new(&f.loop, &cfg, &c_cbs, &f, &c), SIO_EINVAL);
  cfg.headers = NULL;
  cfg.transports = 4;
  CHECK_EQ_INT(sio_eioc_new(&f.loop, &cfg, &c_cbs, &f, &c), SIO_EINVAL);
  CHECK(c == NULL);
  stop_all(&f);
  uv_run(&f.loop, UV_RUN_DEFAULT);
  CHECK_EQ_INT(uv_loop_close(&f.loop), 0);
  CHECK_EQ_INT(f.closed, 0);
}

TEST(connection_refused) {
  fx_t f;
  fx_init(&f);
  /* A port just released: nothing listens there. */
  uv_tcp_t t;
  uv_tcp_init(&f.loop, &t);
  struct sockaddr_in sa;
  uv_ip4_addr("127.0.0.1", 0, &sa);
  uv_tcp_bind(&t, (struct sockaddr *)&sa, 0);
  int len = sizeof sa;
  uv_tcp_getsockname(&t, (struct sockaddr *)&sa, &len);
  f.cfg.port = ntohs(sa.sin_port);
  uv_close((uv_handle_t *)&t, NULL);
  CHECK(fx_run(&f) == 0);
  CHECK_EQ_INT(f.opened, 0);
  CHECK_EQ_INT(f.close_err, UV_ECONNREFUSED);
  CHECK(strncmp(f.detail, "connect ECONNREFUSED 127.0.0.1:", 31) == 0);
}

/* ---------------------------------------------------------------------------------------------- */
/* Fake servers                                                                                     */

typedef struct {
  uv_tcp_t tcp;
  fx_t *f;
  char buf[4096];
} fake_conn_t;

static void fake_conn_closed(uv_handle_t *h) { free(h->data); }

static void fake_alloc(uv_handle_t *h, size_t s, uv_buf_t *b) {
  fake_conn_t *fc = h->data;
  *b = uv_buf_init(fc->buf, sizeof fc->buf);
}

static void fake_written(uv_write_t *w, int status) { free(w); }

static void fake_shut(uv_shutdown_t *sh, int status) {
  if (!uv_is_closing((uv_handle_t *)sh->handle)) uv_close((uv_handle_t *)sh->handle, fake_conn_closed);
  free(sh);
}

/* "WS" as an answer: the upgrade accepted for the request's key, then the frames of fake_frames
 * (unmasked, as a server sends them). */
static const char *fake_frames;
static size_t fake_frames_len;

static void fake_ws_accept(uv_stream_t *s, const char *req, size_t n) {
  const char *k = NULL;
  for (size_t i = 0; i + 19 < n; i++)
    if (strncasecmp(req + i, "Sec-WebSocket-Key: ", 19) == 0) k = req + i + 19;
  char accept[29] = "";
  if (k) sio_ws_accept_key(k, 24, accept);
  static char head[256];
  int hl = snprintf(head, sizeof head,
                    "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                    "Sec-WebSocket-Accept: %s\r\n\r\n", accept);
  uv_buf_t out[2] = {uv_buf_init(head, (unsigned)hl),
                     uv_buf_init((char *)fake_frames, (unsigned)fake_frames_len)};
  uv_write_t *w = malloc(sizeof *w);
  uv_write(w, s, out, 2, fake_written);
}

static void fake_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b) {
  fake_conn_t *fc = s->data;
  fx_t *f = fc->f;
  if (n < 0) {
    uv_close((uv_handle_t *)s, fake_conn_closed);
    return;
  }
  size_t room = sizeof f->rec - 1 - f->rec_len;
  size_t keep = (size_t)n < room ? (size_t)n : room;
  memcpy(f->rec + f->rec_len, b->base, keep);
  f->rec_len += keep;
  if (n >= 5 && memcmp(b->base, "POST ", 5) == 0) {
    /* POSTs are answered "ok" (their bodies come with their heads here: small and local). */
    static const char ok[] = "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 2\r\n\r\nok";
    uv_write_t *w = malloc(sizeof *w);
    uv_buf_t out = uv_buf_init((char *)ok, sizeof ok - 1);
    uv_write(w, s, &out, 1, fake_written);
    return;
  }
  /* One answer per request head received. */
  for (ssize_t i = 0; i + 3 < n; i++) {
    if (memcmp(b->base + i, "\r\n\r\n", 4) != 0) continue;
    const char *a = f->fake_answers[f->fake_requests];
    if (a) f->fake_requests++;
    if (!a) return;
    if (strcmp(a, "CLOSE") == 0) {
      uv_close((uv_handle_t *)s, fake_conn_closed);
      return;
    }
    if (strcmp(a, "WS") == 0) {
      fake_ws_accept(s, b->base, (size_t)n);
      continue;
    }
    /* "!..." : answered, then the connection shut down (a body read to its end). */
    int then_close = a[0] == '!';
    if (then_close) a++;
    uv_write_t *w = malloc(sizeof *w);
    uv_buf_t out = uv_buf_init((char *)a, (unsigned)strlen(a));
    uv_write(w, s, &out, 1, fake_written);
    if (then_close) {
      uv_shutdown_t *sh = malloc(sizeof *sh);
      uv_shutdown(sh, s, fake_shut);
      uv_read_stop(s);
      return;
    }
  }
}

static void fake_accept(uv_stream_t *srv, int status) {
  fx_t *f = srv->data;
  fake_conn_t *fc = calloc(1, sizeof *fc);
  fc->f = f;
  f->fake_accepts++;
  uv_tcp_init(&f->loop, &fc->tcp);
  fc->tcp.data = fc;
  uv_accept(srv, (uv_stream_t *)&fc->tcp);
  uv_read_start((uv_stream_t *)&fc->tcp, fake_alloc, fake_read);
}

/* Closing the listener does not close accepted connections: the walk does, at the end. */
static void close_walk(uv_handle_t *h, void *arg) {
  if (!uv_is_closing(h) && h->type == UV_TCP) uv_close(h, fake_conn_closed);
}

static int fake_server(fx_t *f, const char *const *answers) {
  uv_tcp_init(&f->loop, &f->fake);
  f->fake.data = f;
  f->fake_on = 1;
  f->fake_answers = answers;
  struct sockaddr_in sa;
  uv_ip4_addr("127.0.0.1", 0, &sa);
  if (uv_tcp_bind(&f->fake, (struct sockaddr *)&sa, 0)) return -1;
  if (uv_listen((uv_stream_t *)&f->fake, 16, fake_accept)) return -1;
  int len = sizeof sa;
  uv_tcp_getsockname(&f->fake, (struct sockaddr *)&sa, &len);
  f->cfg.port = ntohs(sa.sin_port);
  return 0;
}

/* fx_run for fake servers: connections still open at the end are closed by a walk. */
static int fake_run(fx_t *f) {
  int r = sio_eioc_new(&f->loop, &f->cfg, &c_cbs, f, &f->c);
  if (r) stop_all(f);
  uv_run(&f->loop, UV_RUN_DEFAULT);
  uv_walk(&f->loop, close_walk, NULL);
  uv_run(&f->loop, UV_RUN_DEFAULT);
  int left = uv_loop_close(&f->loop);
  if (f->timed_out) fprintf(stderr, "fake case timed out\n");
  return r || left || f->timed_out || f->closed != 1 ? -1 : 0;
}

static char open_answer[512];
static const char *open_v4(int ping_ms) {
  char body[256];
  int n = snprintf(body, sizeof body,
                   "0{\"sid\":\"abc\",\"upgrades\":[],\"pingInterval\":%d,\"pingTimeout\":%d,"
                   "\"maxPayload\":1000000}", ping_ms, ping_ms);
  snprintf(open_answer, sizeof open_answer,
           "HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=UTF-8\r\nContent-Length: %d\r\n"
           "\r\n%s",
           n, body);
  return open_answer;
}

/* The handshake succeeds, then no ping ever comes: closed after pingInterval + pingTimeout. */
TEST(ping_timeout) {
  fx_t f;
  fx_init(&f);
  const char *answers[] = {open_v4(100), NULL};
  CHECK(fake_server(&f, answers) == 0);
  f.cfg.transports = SIO_CLIENT_POLLING;
  CHECK(fake_run(&f) == 0);
  CHECK_EQ_INT(f.opened, 1);
  CHECK_EQ_INT(f.close_err, SIO_ETIMEDOUT);
  CHECK(strcmp(f.reason, "ping timeout") == 0);
}

/* v3: the client pings every pingInterval; a server that never answers is gone after
 * pingInterval + pingTimeout. The client's pings are on the wire (POSTed "1:2"). */
TEST(ping_timeout_v3) {
  fx_t f;
  fx_init(&f);
  static char answer[512];
  const char *open = "0{\"sid\":\"abc\",\"upgrades\":[],\"pingInterval\":100,\"pingTimeout\":150}";
  char body[256];
  int n = snprintf(body, sizeof body, "%d:%s", (int)strlen(open), open);
  snprintf(answer, sizeof answer, "HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=UTF-8\r\n"
                                  "Content-Length: %d\r\n\r\n%s", n, body);
  const char *answers[] = {answer, NULL};
  CHECK(fake_server(&f, answers) == 0);
  f.cfg.eio = 3;
  f.cfg.transports = SIO_CLIENT_POLLING;
  CHECK(fake_run(&f) == 0);
  CHECK_EQ_INT(f.opened, 1);
  CHECK_EQ_INT(f.close_err, SIO_ETIMEDOUT);
  CHECK(strcmp(f.reason, "ping timeout") == 0);
  f.rec[f.rec_len] = '\0';
  CHECK(strstr(f.rec, "POST /engine.io/?EIO=3&transport=polling&sid=abc HTTP/1.1") != NULL);
  CHECK(strstr(f.rec, "\r\n\r\n1:2") != NULL);
}

/* TCP accepted, nothing ever answered: the attempt ends at timeout_ms. */
TEST(timeout_when_the_server_never_answers) {
  for (int t = 1; t <= 2; t++) {
    fx_t f;
    fx_init(&f);
    const char *answers[] = {NULL};
    CHECK(fake_server(&f, answers) == 0);
    f.cfg.transports = (unsigned)t;
    f.cfg.timeout_ms = 200;
    CHECK(fake_run(&f) == 0);
    CHECK_EQ_INT(f.opened, 0);
    CHECK_EQ_INT(f.close_err, SIO_ETIMEDOUT);
    CHECK(strcmp(f.detail, "timeout") == 0);
  }
}

/* Packets queued in one turn go in one POST, as one payload. */
static void send_three_then_close(fx_t *f) {
  static const char bin[] = {1, 2};
  CHECK(sio_eioc_send(f->c, "a", 1, 0) == 0);
  sio_eioc_part_t parts[2] = {{"b", 1, 0}, {bin, 2, 1}};
  CHECK(sio_eioc_sendv(f->c, parts, 2) == 0);
  close_later(f);
}

static size_t count(const char *hay, size_t n, const char *needle) {
  size_t c = 0, l = strlen(needle);
  for (size_t i = 0; i + l <= n; i++)
    if (memcmp(hay + i, needle, l) == 0) c++;
  return c;
}

TEST(polling_batches_one_post) {
  fx_t f;
  fx_init(&f);
  const char *answers[] = {open_v4(10000), NULL};
  CHECK(fake_server(&f, answers) == 0);
  f.cfg.transports = SIO_CLIENT_POLLING;
  f.on_open = send_three_then_close;
  CHECK(fake_run(&f) == 0);
  CHECK_EQ_INT(f.close_err, 0);
  f.rec[f.rec_len] = '\0';
  CHECK_EQ_INT(count(f.rec, f.rec_len, "POST /engine.io/?EIO=4&transport=polling&sid=abc HTTP/1.1"), 2);
  CHECK_EQ_INT(count(f.rec, f.rec_len, "\r\n\r\n4a\x1e" "4b\x1e" "bAQI="), 1);
  CHECK_EQ_INT(count(f.rec, f.rec_len, "Content-Length: 1\r\n\r\n1"), 1); /* the CLOSE */
  CHECK_EQ_INT(count(f.rec, f.rec_len, "GET /engine.io/?EIO=4&transport=polling HTTP/1.1"), 1);
}

/* A POST connection idle for 3 s is not reused (the server may be closing it): the second POST,
 * 3.1 s after the first, comes on a new connection; the CLOSE right after reuses that one. */
static void send_later_cb(uv_timer_t *t) {
  fx_t *f = t->data;
  uv_close((uv_handle_t *)t, (uv_close_cb)free);
  sio_eioc_send(f->c, "y", 1, 0);
  close_later(f);
}

static void send_now_and_later(fx_t *f) {
  sio_eioc_send(f->c, "x", 1, 0);
  uv_timer_t *t = malloc(sizeof *t);
  uv_timer_init(&f->loop, t);
  t->data = f;
  uv_timer_start(t, send_later_cb, 3100, 0);
}

TEST(idle_post_connection_not_reused) {
  fx_t f;
  fx_init(&f);
  const char *answers[] = {open_v4(10000), NULL};
  CHECK(fake_server(&f, answers) == 0);
  f.cfg.transports = SIO_CLIENT_POLLING;
  f.on_open = send_now_and_later;
  CHECK(fake_run(&f) == 0);
  CHECK_EQ_INT(f.close_err, 0);
  f.rec[f.rec_len] = '\0';
  CHECK_EQ_INT(count(f.rec, f.rec_len, "POST /engine.io/"), 3);
  CHECK_EQ_INT(f.fake_accepts, 3); /* the handshake and poll, the first POST, the later ones */
}

/* Responses that end their connection: Connection: close, and a body read to the end of the
 * connection (no length); each next request opens a new connection. */
static void close_on_first(fx_t *f, char *data, size_t len, int binary) { sio_eioc_close(f->c); }

TEST(polling_without_keep_alive) {
  fx_t f;
  fx_init(&f);
  char first[512];
  snprintf(first, sizeof first, "%s", open_v4(10000));
  char *p = strstr(first, "\r\n\r\n");
  CHECK(p != NULL);
  memmove(p + 19, p, strlen(p) + 1);
  memcpy(p, "\r\nConnection: close", 19);
  const char *answers[] = {first, "!HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\n4hi", NULL};
  CHECK(fake_server(&f, answers) == 0);
  f.cfg.transports = SIO_CLIENT_POLLING;
  f.on_msg = close_on_first;
  CHECK(fake_run(&f) == 0);
  CHECK_EQ_INT(f.opened, 1);
  CHECK_EQ_INT(f.msgs, 1);
  CHECK(strcmp(f.first, "hi") == 0);
  CHECK_EQ_INT(f.close_err, 0);
  CHECK(strcmp(f.reason, "forced close") == 0);
}

/* A WebSocket server's frames: a ping answered with its payload, fragments joined, binary; the
 * client's frames all masked (a server-role parser refuses any that is not), its CLOSE packet
 * followed by a close frame with 1000. */
typedef struct {
  int pong, texts, close_code;
  char last[64];
} ws_seen_t;

static int seen_message(void *user, int opcode, char *data, size_t len) {
  ws_seen_t *w = user;
  w->texts++;
  snprintf(w->last, sizeof w->last, "%.*s", (int)len, data);
  return 0;
}

static int seen_control(void *user, int opcode, char *data, size_t len) {
  ws_seen_t *w = user;
  if (opcode == SIO_WS_OP_PONG && len == 2 && memcmp(data, "hi", 2) == 0) w->pong++;
  if (opcode == SIO_WS_OP_CLOSE) sio_ws_parse_close(data, len, &w->close_code, NULL, NULL);
  return 0;
}

static void close_on_third(fx_t *f, char *data, size_t len, int binary) {
  if (f->msgs == 3) sio_eioc_close(f->c);
}

TEST(websocket_frames_both_ways) {
  static const char frames[] =
      "\x81\x55" "0{\"sid\":\"abc\",\"upgrades\":[],\"pingInterval\":9000,\"pingTimeout\":9000,"
      "\"maxPayload\":1000}"
      "\x89\x02hi"            /* ping */
      "\x81\x06" "4hello"     /* text */
      "\x01\x04" "4wor"       /* fragments */
      "\x80\x02" "ld"
      "\x82\x03\x01\x02\x03";  /* binary */
  CHECK_EQ_INT(strlen("0{\"sid\":\"abc\",\"upgrades\":[],\"pingInterval\":9000,\"pingTimeout\":9000,"
                      "\"maxPayload\":1000}"), 0x55);
  fake_frames = frames;
  fake_frames_len = sizeof frames - 1;
  fx_t f;
  fx_init(&f);
  const char *answers[] = {"WS", NULL};
  CHECK(fake_server(&f, answers) == 0);
  f.cfg.transports = SIO_CLIENT_WEBSOCKET;
  f.on_msg = close_on_third;
  CHECK(fake_run(&f) == 0);
  CHECK_EQ_INT(f.opened, 1);
  CHECK_EQ_INT(f.msgs, 3);
  CHECK(strcmp(f.first, "hello") == 0);
  CHECK_EQ_INT(f.binary_msgs, 1);
  CHECK_EQ_INT(f.close_err, 0); /* the fake never answers the close frame: the wait ends it */
  char *body = strstr(f.rec, "\r\n\r\n");
  CHECK(body != NULL);
  body += 4;
  ws_seen_t seen = {0};
  sio_ws_parser_t p;
  sio_ws_parser_init(&p, SIO_WS_ROLE_SERVER, 1000);
  static const sio_ws_callbacks_t cbs = {seen_message, seen_control, NULL};
  int rv = sio_ws_parser_execute(&p, &cbs, &seen, body, f.rec_len - (size_t)(body - f.rec), NULL);
  sio_ws_parser_free(&p);
  CHECK_EQ_INT(rv, 0);
  CHECK_EQ_INT(seen.pong, 1);
  CHECK_EQ_INT(seen.texts, 1);
  CHECK(strcmp(seen.last, "1") == 0);
  CHECK_EQ_INT(seen.close_code, 1000);
}

/* One answer, and what the client must say about it. */
static void bad_answer(unsigned transports, const char *answer, int want_err, const char *detail_prefix) {
  fx_t f;
  fx_init(&f);
  const char *answers[] = {answer, NULL};
  CHECK(fake_server(&f, answers) == 0);
  f.cfg.transports = transports;
  f.cfg.max_payload = 100000;
  f.cfg.timeout_ms = 1000;
  CHECK(fake_run(&f) == 0);
  CHECK_EQ_INT(f.opened, 0);
  if (want_err) CHECK_EQ_INT(f.close_err, want_err);
  CHECK(f.close_err < 0);
  if (detail_prefix && strncmp(f.detail, detail_prefix, strlen(detail_prefix)) != 0) {
    fprintf(stderr, "detail: %s\n", f.detail);
    CHECK(0);
  }
}

TEST(bad_servers) {
  bad_answer(1, "\x16\x03\x01garbage\r\n\r\n", SIO_EPROTO, NULL);
  bad_answer(2, "\x16\x03\x01garbage\r\n\r\n", SIO_EPROTO, NULL);
  bad_answer(1, "HTTP/1.1 400 Bad Request\r\nContent-Length: 18\r\n\r\n{\"code\":1,\"x\":\"y\"}",
             SIO_EPROTO, "HTTP 400 {\"code\":1,\"x\":\"y\"}");
  bad_answer(2, "HTTP/1.1 400 Bad Request\r\nContent-Length: 10\r\n\r\n{\"code\":3}", SIO_EPROTO,
             "HTTP 400 {\"code\":3}");
  bad_answer(2, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", SIO_EPROTO, "HTTP 200");
  bad_answer(2, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                "Sec-WebSocket-Accept: AAAAAAAAAAAAAAAAAAAAAAAAAAA=\r\n\r\n",
             SIO_EPROTO, "WebSocket: bad handshake answer");
  bad_answer(1, "HTTP/1.1 200 OK\r\nContent-Length: 99999999999\r\n\r\n", SIO_ETOOBIG, NULL);
  bad_answer(1, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n10\r\n0{\"sid\"", SIO_ETIMEDOUT, "timeout");
  bad_answer(1, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", SIO_EPARSE, "bad polling payload");
  bad_answer(1, "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\n0{}x", SIO_EPARSE, "handshake");
  bad_answer(1, "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n\xff\xfe\xfd", SIO_EPARSE, NULL);
}

/* A truncated chunk followed by the server hanging up. */
TEST(truncated_chunk_then_close) {
  fx_t f;
  fx_init(&f);
  const char *answers[] = {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n10\r\n0{\"s", NULL};
  CHECK(fake_server(&f, answers) == 0);
  f.cfg.transports = SIO_CLIENT_POLLING;
  f.cfg.timeout_ms = 300;
  CHECK(fake_run(&f) == 0);
  CHECK_EQ_INT(f.opened, 0);
  CHECK(f.close_err < 0);
}

/* ---------------------------------------------------------------------------------------------- */
/* TLS                                                                                              */

static char tmpdir[64];

/* A self-signed certificate <tmpdir>/<name>.crt (and .key) for the subject alternative names
 * `san`. */
static int make_cert(const char *name, const char *san) {
  EVP_PKEY *key = EVP_EC_gen("P-256");
  X509 *x = X509_new();
  if (!key || !x) return 0;
  ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
  X509_gmtime_adj(X509_getm_notBefore(x), -60);
  X509_gmtime_adj(X509_getm_notAfter(x), 3600);
  X509_set_pubkey(x, key);
  X509_NAME *n = X509_get_subject_name(x);
  X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)"sio test", -1, -1, 0);
  X509_set_issuer_name(x, n);
  X509V3_CTX v3;
  X509V3_set_ctx(&v3, x, x, NULL, NULL, 0);
  X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &v3, NID_subject_alt_name, san);
  if (ext) X509_add_ext(x, ext, -1);
  X509_EXTENSION_free(ext);
  int ok = X509_sign(x, key, EVP_sha256()) > 0;
  char path[128];
  snprintf(path, sizeof path, "%s/%s.crt", tmpdir, name);
  FILE *fp = fopen(path, "w");
  ok = ok && fp && PEM_write_X509(fp, x);
  if (fp) fclose(fp);
  snprintf(path, sizeof path, "%s/%s.key", tmpdir, name);
  fp = fopen(path, "w");
  ok = ok && fp && PEM_write_PrivateKey(fp, key, NULL, NULL, 0, NULL, NULL);
  if (fp) fclose(fp);
  X509_free(x);
  EVP_PKEY_free(key);
  return ok;
}

static void remove_certs(void) {
  static const char *const files[] = {"c.crt", "c.key", "ip.crt", "ip.key"};
  char path[128];
  for (size_t i = 0; i < 4; i++) {
    snprintf(path, sizeof path, "%s/%s", tmpdir, files[i]);
    unlink(path);
  }
  rmdir(tmpdir);
}

TEST(tls) {
  snprintf(tmpdir, sizeof tmpdir, "/tmp/sio-eioc-XXXXXX");
  CHECK(mkdtemp(tmpdir) != NULL);
  CHECK(make_cert("c", "IP:127.0.0.1,DNS:localhost"));
  CHECK(make_cert("ip", "IP:127.0.0.1"));
  char crt[128], key[128];
  snprintf(crt, sizeof crt, "%s/c.crt", tmpdir);
  snprintf(key, sizeof key, "%s/c.key", tmpdir);
  sio_tls_options_t to;
  sio_tls_options_init(&to);
  to.cert_file = crt;
  to.key_file = key;
  /* Verified against the certificate as CA: polling, the upgrade, WebSocket only; then big
   * messages (many TLS records each way) on polling and WebSocket. */
  for (int t = 1; t <= 5; t++) {
    fx_t f;
    fx_init(&f);
    CHECK(fx_server(&f, NULL, &to) == 0);
    f.cfg.secure = 1;
    f.cfg.tls_ca_file = crt;
    if (t == 3) {
      f.on_open = upgrade_send;
      f.on_upgraded = upgrade_send;
    } else {
      f.cfg.transports = (unsigned)(t > 3 ? t - 3 : t);
      f.on_open = t > 3 ? send_big : send_two;
    }
    CHECK(fx_run(&f) == 0);
    CHECK_EQ_INT(f.msgs, 2);
    CHECK_EQ_INT(f.close_err, 0);
    if (t == 3) CHECK_EQ_INT(f.upgraded, 1);
    if (t > 3) CHECK_EQ_INT(f.bytes, 600000);
  }
  /* The system's CAs do not know it: refused. */
  {
    fx_t f;
    fx_init(&f);
    CHECK(fx_server(&f, NULL, &to) == 0);
    f.cfg.secure = 1;
    CHECK(fx_run(&f) == 0);
    CHECK_EQ_INT(f.opened, 0);
    CHECK_EQ_INT(f.close_err, SIO_ETLS);
    CHECK(strncmp(f.detail, "TLS: ", 5) == 0);
  }
  /* tls_verify 0 accepts it. */
  {
    fx_t f;
    fx_init(&f);
    CHECK(fx_server(&f, NULL, &to) == 0);
    f.cfg.secure = 1;
    f.cfg.tls_verify = 0;
    f.cfg.transports = SIO_CLIENT_WEBSOCKET;
    f.on_open = send_two;
    CHECK(fx_run(&f) == 0);
    CHECK_EQ_INT(f.msgs, 2);
  }
  /* By name (SNI, the name checked): "localhost" is in one certificate and not in the other. */
  for (int which = 0; which < 2; which++) {
    fx_t f;
    fx_init(&f);
    sio_tls_options_t o = to;
    char ipcrt[128], ipkey[128];
    snprintf(ipcrt, sizeof ipcrt, "%s/ip.crt", tmpdir);
    snprintf(ipkey, sizeof ipkey, "%s/ip.key", tmpdir);
    if (which) {
      o.cert_file = ipcrt;
      o.key_file = ipkey;
    }
    CHECK(fx_server(&f, NULL, &o) == 0);
    f.cfg.secure = 1;
    f.cfg.host = "localhost";
    f.cfg.tls_ca_file = which ? ipcrt : crt;
    f.cfg.transports = SIO_CLIENT_WEBSOCKET;
    f.on_open = send_two;
    CHECK(fx_run(&f) == 0);
    if (which) {
      CHECK_EQ_INT(f.opened, 0);
      CHECK_EQ_INT(f.close_err, SIO_ETLS);
      CHECK(strstr(f.detail, "hostname mismatch") != NULL);
    } else {
      CHECK_EQ_INT(f.msgs, 2);
    }
  }
  remove_certs();
}

/* ---------------------------------------------------------------------------------------------- */
/* The pure parts                                                                                  */

/* Feeds s one byte at a time; returns the feed's last result and the bytes left over. */
static int feed_bytewise(sio_eioc_resp_t *r, const char *s, size_t *rest) {
  size_t n = strlen(s);
  for (size_t i = 0; i < n; i++) {
    size_t used;
    int rv = sio_eioc_resp_feed(r, s + i, 1, &used);
    if (rv != 0) {
      *rest = n - i - used;
      return rv;
    }
  }
  *rest = 0;
  return 0;
}

TEST(response_parser) {
  sio_eioc_resp_t r;
  size_t rest;
  sio_eioc_resp_init(&r, 100);
  CHECK_EQ_INT(feed_bytewise(&r, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n"
                                  "CONTENT-type:  text/plain \r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n",
                             &rest), 1);
  CHECK_EQ_INT(rest, 0);
  CHECK_EQ_INT(r.status, 200);
  CHECK_EQ_INT(r.keep_alive, 1);
  CHECK_STR(r.body.data, r.body.len, "abcde");
  CHECK(strcmp(r.content_type, "text/plain") == 0);
  /* The next response on the same connection; Connection: close ends keep-alive. */
  sio_eioc_resp_reset(&r);
  CHECK_EQ_INT(feed_bytewise(&r, "HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 2\r\n\r\nno", &rest), 1);
  CHECK_EQ_INT(r.status, 400);
  CHECK_EQ_INT(r.keep_alive, 0);
  /* A 101: what follows the head is not the response's. */
  sio_eioc_resp_reset(&r);
  const char *up = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                   "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n\x81\x02" "40";
  size_t used;
  CHECK_EQ_INT(sio_eioc_resp_feed(&r, up, strlen(up), &used), 1);
  CHECK_EQ_INT(strlen(up) - used, 4);
  CHECK_EQ_INT(r.upgrade, 1);
  CHECK(strcmp(r.upgrade_hdr, "websocket") == 0);
  CHECK(sio_eioc_ws_accept_ok("dGhlIHNhbXBsZSBub25jZQ==", r.ws_accept));
  CHECK(!sio_eioc_ws_accept_ok("dGhlIHNhbXBsZSBub25jZR==", r.ws_accept));
  /* A body read to the end of the connection. */
  sio_eioc_resp_reset(&r);
  CHECK_EQ_INT(feed_bytewise(&r, "HTTP/1.0 200 OK\r\n\r\nxyz", &rest), 0);
  CHECK_EQ_INT(sio_eioc_resp_eof(&r), 1);
  CHECK_STR(r.body.data, r.body.len, "xyz");
  /* Cut short: a Content-Length not reached, a chunk not finished. */
  sio_eioc_resp_reset(&r);
  CHECK_EQ_INT(feed_bytewise(&r, "HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nxyz", &rest), 0);
  CHECK_EQ_INT(sio_eioc_resp_eof(&r), SIO_EPROTO);
  sio_eioc_resp_reset(&r);
  CHECK_EQ_INT(feed_bytewise(&r, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n9\r\nab", &rest), 0);
  CHECK_EQ_INT(sio_eioc_resp_eof(&r), SIO_EPROTO);
  /* Bounds: the body (announced or chunked), the head. */
  sio_eioc_resp_reset(&r);
  CHECK_EQ_INT(feed_bytewise(&r, "HTTP/1.1 200 OK\r\nContent-Length: 101\r\n\r\n", &rest), SIO_ETOOBIG);
  sio_eioc_resp_reset(&r);
  char chunked[400];
  snprintf(chunked, sizeof chunked, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                                    "40\r\n%064d\r\n40\r\n%064d\r\n", 0, 0);
  CHECK_EQ_INT(feed_bytewise(&r, chunked, &rest), SIO_ETOOBIG);
  sio_eioc_resp_reset(&r);
  size_t big = SIO_EIOC_MAX_HEAD + 100;
  char *head = malloc(big + 1);
  memcpy(head, "HTTP/1.1 200 OK\r\nX: ", 20);
  memset(head + 20, 'a', big - 20);
  head[big] = '\0';
  CHECK_EQ_INT(sio_eioc_resp_feed(&r, head, big, &used), SIO_ETOOBIG);
  free(head);
  /* Not HTTP. */
  sio_eioc_resp_reset(&r);
  CHECK_EQ_INT(feed_bytewise(&r, "SSH-2.0-OpenSSH\r\n\r\n", &rest), SIO_EPROTO);
  sio_eioc_resp_free(&r);
}

TEST(open_packet_and_target) {
  sio_eioc_open_t o;
  const char *good = "{\"sid\":\"a+b/c\",\"upgrades\":[\"websocket\"],\"pingInterval\":25000,"
                     "\"pingTimeout\":20000,\"maxPayload\":1000000}";
  CHECK_EQ_INT(sio_eioc_parse_open(good, strlen(good), &o), 0);
  CHECK(strcmp(o.sid, "a+b/c") == 0);
  CHECK_EQ_INT(o.upgrade_ws, 1);
  CHECK_EQ_INT(o.ping_interval, 25000);
  CHECK_EQ_INT(o.ping_timeout, 20000);
  CHECK_EQ_INT(o.max_payload, 1000000);
  const char *v3 = "{\"sid\":\"x\",\"upgrades\":[],\"pingInterval\":1,\"pingTimeout\":2}";
  CHECK_EQ_INT(sio_eioc_parse_open(v3, strlen(v3), &o), 0);
  CHECK_EQ_INT(o.upgrade_ws, 0);
  CHECK_EQ_INT(o.max_payload, 0);
  const char *bad[] = {"", "[]", "{}", "{\"sid\":\"\",\"pingInterval\":1,\"pingTimeout\":1}",
                       "{\"sid\":1,\"pingInterval\":1,\"pingTimeout\":1}",
                       "{\"sid\":\"a b\",\"pingInterval\":1,\"pingTimeout\":1}",
                       "{\"sid\":\"a\",\"pingInterval\":0,\"pingTimeout\":1}",
                       "{\"sid\":\"a\",\"pingInterval\":1}", "{\"sid\":\"a\",\"pingInterval\":1,"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
    CHECK_EQ_INT(sio_eioc_parse_open(bad[i], strlen(bad[i]), &o), SIO_EPARSE);
  sio_sbuf_t b = SIO_SBUF_INIT;
  CHECK_EQ_INT(sio_eioc_target(&b, "/socket.io/", 4, "polling", "a+b/c", "k=v"), 0);
  CHECK_STR(b.data, b.len, "/socket.io/?EIO=4&transport=polling&sid=a%2Bb%2Fc&k=v");
  b.len = 0;
  CHECK_EQ_INT(sio_eioc_target(&b, "/p/?x=1", 3, "websocket", NULL, NULL), 0);
  CHECK_STR(b.data, b.len, "/p/?x=1&EIO=3&transport=websocket");
  sio_sbuf_free(&b);
}

TEST_MAIN(RUN(response_parser), RUN(open_packet_and_target), RUN(polling_echo), RUN(websocket_only_echo), RUN(polling_then_upgrade),
          RUN(eio3_polling_then_upgrade), RUN(eio3_polling_and_websocket_echo), RUN(ipv6_literal), RUN(big_messages),
          RUN(many_messages_batched_in_order), RUN(server_closes_the_session), RUN(heartbeat_keeps_the_connection), RUN(close_inside_on_open),
          RUN(max_payload_exceeded_closes), RUN(send_past_max_payload_refused),
          RUN(bad_config_refused), RUN(connection_refused), RUN(ping_timeout), RUN(ping_timeout_v3), RUN(timeout_when_the_server_never_answers),
          RUN(bad_servers), RUN(polling_batches_one_post), RUN(polling_without_keep_alive), RUN(idle_post_connection_not_reused), RUN(websocket_frames_both_ways), RUN(truncated_chunk_then_close), RUN(tls))
