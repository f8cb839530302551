/* Integration tests of the handshake hooks (sio.h "Hooks at the Engine.IO handshake"): allow_request
 * answered at once and later, over polling and WebSocket, a client gone before the late answer;
 * the initial_headers and headers hooks; connection_error for every refusal; a CORS origin
 * function. Real sockets on 127.0.0.1 (net_client.h's harness); bodies checked byte for byte
 * against what Node's engine.io 6 answers. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "net_client.h"
#include "sio.h"
#include "test.h"

#define CASE_TIMEOUT_MS 4500
#define POLL "/engine.io/?EIO=4&transport=polling"
#define WS "/engine.io/?EIO=4&transport=websocket"
#define UPGRADE_HDRS                                                                             \
  "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: " NC_WS_KEY                  \
  "\r\nSec-WebSocket-Version: 13\r\n"
#define FORBIDDEN_BODY "{\"code\":4,\"message\":\"Forbidden\"}"

typedef struct {
  sio_engine_t *engine;
  int connections;
  /* allow_request */
  int calls;
  int mode;                  /* MODE_* */
  sio_handshake_t *held;     /* a handshake left for later */
  char token[32], query[64]; /* what the callback saw */
  int transport;
  int late_result;
  int aborted_seen;
  /* headers hooks */
  int set_bad_crlf, set_bad_name, set_owned;
  /* connection_error */
  int errors;
  int codes[16], statuses[16];
  char context[64];
} ctx_t;

enum { MODE_ACCEPT, MODE_REFUSE, MODE_REFUSE_429, MODE_HOLD, MODE_BY_TOKEN };

static void on_conn(sio_engine_t *e, sio_session_t *s) {
  (void)s;
  ((ctx_t *)sio_engine_get_data(e))->connections++;
}

static const sio_engine_callbacks_t cbs = {on_conn, NULL, NULL, NULL};

static void allow(sio_handshake_t *hs, void *arg) {
  ctx_t *x = arg;
  x->calls++;
  const sio_request_info_t *req = sio_handshake_request(hs);
  const char *tok = sio_request_header(req, "x-token");
  snprintf(x->token, sizeof x->token, "%s", tok ? tok : "");
  snprintf(x->query, sizeof x->query, "%s", req->query);
  x->transport = sio_handshake_transport(hs);
  switch (x->mode) {
    case MODE_ACCEPT: sio_handshake_accept(hs); break;
    case MODE_REFUSE: sio_handshake_refuse(hs, 0, "no \"token\""); break;
    case MODE_REFUSE_429: sio_handshake_refuse(hs, 429, NULL); break;
    case MODE_BY_TOKEN:
      if (tok && strcmp(tok, "good") == 0) sio_handshake_accept(hs);
      else sio_handshake_refuse(hs, 0, NULL);
      break;
    default: x->held = hs; break;
  }
}

static void on_error(const sio_connection_error_t *err, void *arg) {
  ctx_t *x = arg;
  if (x->errors < 16) {
    x->codes[x->errors] = err->code;
    x->statuses[x->errors] = err->status;
  }
  if (err->context) snprintf(x->context, sizeof x->context, "%s", err->context);
  /* The message is Node's for the code, whatever the response says. */
  static const char *const msgs[] = {"Transport unknown", "Session ID unknown", "Bad handshake method",
                                     "Bad request",       "Forbidden",          "Unsupported protocol version"};
  if (err->code < 0 || err->code > 5 || strcmp(err->message, msgs[err->code]) != 0 || !err->req)
    x->codes[x->errors < 16 ? x->errors : 15] = -100;
  x->errors++;
}

static int setup(nh_t *h, ctx_t *x, int with_allow) {
  int r = nh_init(h);
  if (r) return r;
  r = sio_engine_new(h->server, NULL, &cbs, &x->engine);
  if (r) return r;
  sio_engine_set_data(x->engine, x);
  h->user = x;
  if (with_allow) sio_engine_set_allow_request(x->engine, allow, x);
  sio_engine_on_connection_error(x->engine, on_error, x);
  return 0;
}

/* Loop thread: answers the held handshake. */
static void answer_accept(nh_t *h, void *arg) {
  ctx_t *x = h->user;
  (void)arg;
  x->late_result = sio_handshake_accept(x->held);
  x->held = NULL;
}

static void answer_refuse(nh_t *h, void *arg) {
  ctx_t *x = h->user;
  x->late_result = sio_handshake_refuse(x->held, 0, arg);
  x->held = NULL;
}

static void check_aborted(nh_t *h, void *arg) {
  ctx_t *x = h->user;
  (void)arg;
  x->aborted_seen = x->held && sio_handshake_aborted(x->held);
}

static void set_mode(nh_t *h, void *arg) { ((ctx_t *)h->user)->mode = (int)(intptr_t)arg; }

static int is_open_packet(const nc_response_t *r) {
  return r->status == 200 && strncmp(r->body, "0{\"sid\":\"", 9) == 0;
}

/* ---------------------------------------------------------------------------------------------- */
/* allow_request over polling                                                                     */

static void client_poll_allow(nh_t *h) {
  nc_response_t r;
  char ct[64];
  nc_conn_t *c = nh_connect(h, 0);
  CHECK(c);
  /* Answered at once: accept, with the request's header and query seen by the callback. */
  CHECK_EQ_INT(nc_request(c, "GET", POLL "&x=1", "X-Token: abc\r\n", NULL, 0, &r), 0);
  CHECK(is_open_packet(&r));
  /* Refused at once with a message: 403, Node's body with the message, JSON-escaped. */
  CHECK_EQ_INT(nh_call(h, set_mode, (void *)(intptr_t)MODE_REFUSE), 0);
  CHECK_EQ_INT(nc_request(c, "GET", POLL, NULL, NULL, 0, &r), 0);
  CHECK_EQ_INT(r.status, 403);
  CHECK(strcmp(r.body, "{\"code\":4,\"message\":\"no \\\"token\\\"\"}") == 0);
  CHECK_EQ_INT(nc_header(&r, "content-type", ct, sizeof ct), 1);
  CHECK(strcmp(ct, "application/json") == 0);
  /* Another status (a rate limit) and no message: Node's "Forbidden". Keep-alive goes on. */
  CHECK_EQ_INT(nh_call(h, set_mode, (void *)(intptr_t)MODE_REFUSE_429), 0);
  CHECK_EQ_INT(nc_request(c, "GET", POLL, NULL, NULL, 0, &r), 0);
  CHECK_EQ_INT(r.status, 429);
  CHECK(strcmp(r.body, FORBIDDEN_BODY) == 0);
  /* Answered later: the request waits, then the answer goes out on the same connection. */
  CHECK_EQ_INT(nh_call(h, set_mode, (void *)(intptr_t)MODE_HOLD), 0);
  CHECK_EQ_INT(nc_request(c, "GET", POLL, NULL, NULL, 0, NULL), 0);
  nh_sleep_ms(50);
  CHECK_EQ_INT(nh_call(h, answer_accept, NULL), 0);
  CHECK_EQ_INT(nc_read_response(c, &r), 0);
  CHECK(is_open_packet(&r));
  CHECK_EQ_INT(nc_request(c, "GET", POLL, NULL, NULL, 0, NULL), 0);
  nh_sleep_ms(50);
  CHECK_EQ_INT(nh_call(h, answer_refuse, "later"), 0);
  CHECK_EQ_INT(nc_read_response(c, &r), 0);
  CHECK_EQ_INT(r.status, 403);
  CHECK(strcmp(r.body, "{\"code\":4,\"message\":\"later\"}") == 0);
  /* A request that is no handshake never reaches the callback. */
  CHECK_EQ_INT(nc_request(c, "GET", POLL "&sid=AAAAAAAAAAAAAAAAAAAA", NULL, NULL, 0, &r), 0);
  CHECK_EQ_INT(r.status, 400);
}

TEST(allow_request_polling) {
  nh_t h;
  ctx_t x;
  memset(&x, 0, sizeof x);
  CHECK_EQ_INT(setup(&h, &x, 1), 0);
  CHECK_EQ_INT(nh_run(&h, client_poll_allow, CASE_TIMEOUT_MS), 0);
  CHECK_EQ_INT(x.calls, 5);
  CHECK_EQ_INT(x.connections, 2);
  CHECK_EQ_INT(x.late_result, 0);
  CHECK(strcmp(x.context, "later") == 0);
  CHECK_EQ_INT(x.transport, SIO_TRANSPORT_POLLING);
  /* connection_error: the three refusals (code 4), then the unknown sid (code 1). */
  CHECK_EQ_INT(x.errors, 4);
  CHECK_EQ_INT(x.codes[0], 4);
  CHECK_EQ_INT(x.statuses[1], 429);
  CHECK_EQ_INT(x.codes[3], 1);
}

/* The first call's request, seen by the callback. */
static void client_info(nh_t *h) {
  nc_response_t r;
  nc_conn_t *c = nh_connect(h, 0);
  CHECK(c);
  CHECK_EQ_INT(nc_request(c, "GET", POLL "&x=1", "X-Token: abc\r\n", NULL, 0, &r), 0);
  CHECK(is_open_packet(&r));
}

TEST(allow_request_sees_the_request) {
  nh_t h;
  ctx_t x;
  memset(&x, 0, sizeof x);
  CHECK_EQ_INT(setup(&h, &x, 1), 0);
  CHECK_EQ_INT(nh_run(&h, client_info, CASE_TIMEOUT_MS), 0);
  CHECK(strcmp(x.token, "abc") == 0);
  CHECK(strcmp(x.query, "EIO=4&transport=polling&x=1") == 0);
}

/* ---------------------------------------------------------------------------------------------- */
/* allow_request over WebSocket                                                                   */

static void client_ws_allow(nh_t *h) {
  nc_response_t r;
  char buf[512];
  size_t n;
  int op;
  /* Refused at once: the error response instead of the 101, then the connection ends. */
  nc_conn_t *c = nh_connect(h, 0);
  CHECK(c);
  CHECK_EQ_INT(nh_call(h, set_mode, (void *)(intptr_t)MODE_REFUSE), 0);
  CHECK_EQ_INT(nc_request(c, "GET", WS, UPGRADE_HDRS, NULL, 0, &r), 0);
  CHECK_EQ_INT(r.status, 400); /* Node's abortUpgrade: 400, the message as text */
  CHECK(strcmp(r.body, "no \"token\"") == 0);
  char ct[64];
  CHECK_EQ_INT(nc_header(&r, "content-type", ct, sizeof ct), 1);
  CHECK(strcmp(ct, "text/html") == 0);
  CHECK_EQ_INT(nc_read_eof(c), 0);
  /* Accepted later: 101, then the OPEN packet. */
  c = nh_connect(h, 0);
  CHECK(c);
  CHECK_EQ_INT(nh_call(h, set_mode, (void *)(intptr_t)MODE_HOLD), 0);
  CHECK_EQ_INT(nc_request(c, "GET", WS, UPGRADE_HDRS, NULL, 0, NULL), 0);
  nh_sleep_ms(50);
  CHECK_EQ_INT(nh_call(h, answer_accept, NULL), 0);
  CHECK_EQ_INT(nc_read_response(c, &r), 0);
  CHECK_EQ_INT(r.status, 101);
  CHECK_EQ_INT(nc_ws_read(c, &op, buf, sizeof buf - 1, &n), 0);
  CHECK(n > 9 && memcmp(buf, "0{\"sid\":\"", 9) == 0);
  /* The session works: a ping-less message round trip is not needed; a close frame is. */
  CHECK_EQ_INT(nc_ws_send(c, SIO_WS_OP_TEXT, "1", 1), 0);
  /* Refused later. */
  c = nh_connect(h, 0);
  CHECK(c);
  CHECK_EQ_INT(nc_request(c, "GET", WS, UPGRADE_HDRS, NULL, 0, NULL), 0);
  nh_sleep_ms(50);
  CHECK_EQ_INT(nh_call(h, answer_refuse, NULL), 0);
  CHECK_EQ_INT(nc_read_response(c, &r), 0);
  CHECK_EQ_INT(r.status, 400);
  CHECK(strcmp(r.body, "Forbidden") == 0);
  CHECK_EQ_INT(nc_read_eof(c), 0);
}

TEST(allow_request_websocket) {
  nh_t h;
  ctx_t x;
  memset(&x, 0, sizeof x);
  CHECK_EQ_INT(setup(&h, &x, 1), 0);
  CHECK_EQ_INT(nh_run(&h, client_ws_allow, CASE_TIMEOUT_MS), 0);
  CHECK_EQ_INT(x.calls, 3);
  CHECK_EQ_INT(x.connections, 1);
  CHECK_EQ_INT(x.transport, SIO_TRANSPORT_WEBSOCKET);
  CHECK_EQ_INT(x.errors, 2);
}

/* ---------------------------------------------------------------------------------------------- */
/* The client goes away before the late answer                                                    */

static void client_gone(nh_t *h) {
  nc_conn_t *c = nh_connect(h, 0);
  CHECK(c);
  CHECK_EQ_INT(nh_call(h, set_mode, (void *)(intptr_t)MODE_HOLD), 0);
  CHECK_EQ_INT(nc_request(c, "GET", POLL, NULL, NULL, 0, NULL), 0);
  nh_sleep_ms(50);
  nc_close(c);
  ctx_t *x = h->user;
  for (int i = 0; i < 100; i++) {
    CHECK_EQ_INT(nh_call(h, check_aborted, NULL), 0);
    if (x->aborted_seen) break;
    nh_sleep_ms(10);
  }
  CHECK_EQ_INT(nh_call(h, answer_accept, NULL), 0);
  /* The same over WebSocket, answered with a refusal. */
  c = nh_connect(h, 0);
  CHECK(c);
  CHECK_EQ_INT(nc_request(c, "GET", WS, UPGRADE_HDRS, NULL, 0, NULL), 0);
  nh_sleep_ms(50);
  nc_close(c);
  x->aborted_seen = 0;
  for (int i = 0; i < 100 && !x->aborted_seen; i++) {
    CHECK_EQ_INT(nh_call(h, check_aborted, NULL), 0);
    if (!x->aborted_seen) nh_sleep_ms(10);
  }
  CHECK_EQ_INT(nh_call(h, answer_refuse, NULL), 0);
}

TEST(late_answer_after_the_client_left) {
  nh_t h;
  ctx_t x;
  memset(&x, 0, sizeof x);
  CHECK_EQ_INT(setup(&h, &x, 1), 0);
  CHECK_EQ_INT(nh_run(&h, client_gone, CASE_TIMEOUT_MS), 0);
  CHECK_EQ_INT(x.aborted_seen, 1);
  CHECK_EQ_INT(x.late_result, SIO_ECLOSED);
  CHECK_EQ_INT(x.connections, 0);
  CHECK_EQ_INT(x.errors, 0); /* nothing was refused on the wire */
}

/* A handshake still held when the server closes: the client gets 503; the handle, answered after
 * the server is gone, frees itself and sends nothing. */
static sio_handshake_t *held_at_close;

static void shutdown_hook(nh_t *h) { held_at_close = ((ctx_t *)h->user)->held; }

static void client_held_at_close(nh_t *h) {
  nc_response_t r;
  nc_conn_t *c = nh_connect(h, 0);
  CHECK(c);
  CHECK_EQ_INT(nh_call(h, set_mode, (void *)(intptr_t)MODE_HOLD), 0);
  CHECK_EQ_INT(nc_request(c, "GET", POLL, NULL, NULL, 0, NULL), 0);
  nh_sleep_ms(50);
  CHECK_EQ_INT(nh_call(h, (nh_loop_fn)(void (*)(void))nh_close_server, NULL), 0);
  CHECK_EQ_INT(nc_read_response(c, &r), 0);
  CHECK_EQ_INT(r.status, 503);
}

TEST(held_handshake_at_shutdown) {
  nh_t h;
  ctx_t x;
  memset(&x, 0, sizeof x);
  CHECK_EQ_INT(setup(&h, &x, 1), 0);
  h.on_shutdown = shutdown_hook;
  CHECK_EQ_INT(nh_run(&h, client_held_at_close, CASE_TIMEOUT_MS), 0);
  CHECK(held_at_close != NULL);
  CHECK_EQ_INT(sio_handshake_aborted(held_at_close), 1);
  CHECK_EQ_INT(sio_handshake_accept(held_at_close), SIO_ECLOSED);
}

/* ---------------------------------------------------------------------------------------------- */
/* Headers hooks                                                                                  */

static void initial_hook(sio_headers_t *hd, const sio_request_info_t *req, void *arg) {
  ctx_t *x = arg;
  sio_headers_set(hd, "X-Initial", req->method);
  x->set_bad_crlf = sio_headers_set(hd, "X-Evil", "a\r\nSet-Cookie: x=1");
  x->set_bad_name = sio_headers_set(hd, "X Bad", "v");
  x->set_owned = sio_headers_set(hd, "Content-Length", "0");
}

static void all_hook(sio_headers_t *hd, const sio_request_info_t *req, void *arg) {
  (void)arg;
  sio_headers_set(hd, "X-All", sio_request_header(req, "x-tag") ? sio_request_header(req, "x-tag") : "-");
}

static void send_to(nh_t *h, void *sid) {
  sio_session_t *s = sio_engine_find(((ctx_t *)h->user)->engine, sid);
  if (s) sio_session_send(s, "x", 1, 0);
}

static void client_headers(nh_t *h) {
  nc_response_t r;
  char v[64], target[128];
  nc_conn_t *c = nh_connect(h, 0);
  CHECK(c);
  /* The polling handshake: both hooks, initial_headers first. */
  CHECK_EQ_INT(nc_request(c, "GET", POLL, "X-Tag: one\r\n", NULL, 0, &r), 0);
  CHECK(is_open_packet(&r));
  CHECK_EQ_INT(nc_header(&r, "x-initial", v, sizeof v), 1);
  CHECK(strcmp(v, "GET") == 0);
  CHECK_EQ_INT(nc_header(&r, "x-all", v, sizeof v), 1);
  CHECK(strcmp(v, "one") == 0);
  CHECK(strstr(r.head, "X-Initial") < strstr(r.head, "X-All"));
  CHECK_EQ_INT(nc_header(&r, "x-evil", NULL, 0), 0);
  CHECK_EQ_INT(nc_header(&r, "set-cookie", NULL, 0), 0);
  CHECK_EQ_INT(nc_header(&r, "content-length", NULL, 0), 1);
  char sid[21];
  memcpy(sid, r.body + 9, 20);
  sid[20] = '\0';
  /* A POST and the next poll: headers only. */
  snprintf(target, sizeof target, POLL "&sid=%s", sid);
  CHECK_EQ_INT(nc_request(c, "POST", target, "X-Tag: two\r\nContent-Type: text/plain\r\n", "4hi", 3, &r), 0);
  CHECK_EQ_INT(r.status, 200);
  CHECK_EQ_INT(nc_header(&r, "x-initial", NULL, 0), 0);
  CHECK_EQ_INT(nc_header(&r, "x-all", v, sizeof v), 1);
  CHECK(strcmp(v, "two") == 0);
  CHECK_EQ_INT(nh_call(h, send_to, sid), 0); /* the next poll returns at once */
  CHECK_EQ_INT(nc_request(c, "GET", target, "X-Tag: three\r\n", NULL, 0, &r), 0);
  CHECK_EQ_INT(nc_header(&r, "x-initial", NULL, 0), 0);
  CHECK_EQ_INT(nc_header(&r, "x-all", v, sizeof v), 1);
  /* Errors carry none (as Node's abortRequest). */
  CHECK_EQ_INT(nc_request(c, "GET", "/engine.io/?EIO=4&transport=foo", NULL, NULL, 0, &r), 0);
  CHECK_EQ_INT(r.status, 400);
  CHECK_EQ_INT(nc_header(&r, "x-all", NULL, 0), 0);
  /* A WebSocket-only session's 101: both. */
  nc_conn_t *w = nh_connect(h, 0);
  CHECK(w);
  CHECK_EQ_INT(nc_ws_open(w, WS, &r), 0);
  CHECK_EQ_INT(nc_header(&r, "x-initial", v, sizeof v), 1);
  CHECK_EQ_INT(nc_header(&r, "x-all", v, sizeof v), 1);
  /* The 101 of an upgrade: headers only. */
  CHECK_EQ_INT(nc_request(c, "GET", POLL, NULL, NULL, 0, &r), 0);
  memcpy(sid, r.body + 9, 20);
  snprintf(target, sizeof target, WS "&sid=%s", sid);
  nc_conn_t *u = nh_connect(h, 0);
  CHECK(u);
  CHECK_EQ_INT(nc_ws_open(u, target, &r), 0);
  CHECK_EQ_INT(nc_header(&r, "x-initial", NULL, 0), 0);
  CHECK_EQ_INT(nc_header(&r, "x-all", v, sizeof v), 1);
}

TEST(headers_hooks) {
  nh_t h;
  ctx_t x;
  memset(&x, 0, sizeof x);
  CHECK_EQ_INT(setup(&h, &x, 0), 0);
  sio_engine_set_headers_hook(x.engine, SIO_HEADERS_INITIAL, initial_hook, &x);
  sio_engine_set_headers_hook(x.engine, SIO_HEADERS_ALL, all_hook, &x);
  CHECK_EQ_INT(nh_run(&h, client_headers, CASE_TIMEOUT_MS), 0);
  CHECK_EQ_INT(x.set_bad_crlf, SIO_EINVAL);
  CHECK_EQ_INT(x.set_bad_name, SIO_EINVAL);
  CHECK_EQ_INT(x.set_owned, SIO_EINVAL);
}

/* ---------------------------------------------------------------------------------------------- */
/* connection_error: one report per refusal, with Node's code                                     */

static void client_errors(nh_t *h) {
  nc_response_t r;
  nc_conn_t *c = nh_connect(h, 0);
  CHECK(c);
  CHECK_EQ_INT(nc_request(c, "GET", "/engine.io/?EIO=4&transport=carrier-pigeon", NULL, NULL, 0, &r), 0);
  CHECK(strcmp(r.body, "{\"code\":0,\"message\":\"Transport unknown\"}") == 0);
  CHECK_EQ_INT(nc_request(c, "GET", POLL "&sid=nope", NULL, NULL, 0, &r), 0);
  CHECK(strcmp(r.body, "{\"code\":1,\"message\":\"Session ID unknown\"}") == 0);
  CHECK_EQ_INT(nc_request(c, "POST", POLL, NULL, "x", 1, &r), 0);
  CHECK(strcmp(r.body, "{\"code\":2,\"message\":\"Bad handshake method\"}") == 0);
  CHECK_EQ_INT(nc_request(c, "GET", WS, NULL, NULL, 0, &r), 0);
  CHECK(strcmp(r.body, "{\"code\":3,\"message\":\"Bad request\"}") == 0);
  /* The version of a handshake is looked at after allow_request, as the reference does: this one
   * is let in by the hook, then refused for its version; without the token it would get 403. */
  CHECK_EQ_INT(nc_request(c, "GET", "/engine.io/?EIO=5&transport=polling", "X-Token: good\r\n", NULL, 0, &r), 0);
  CHECK(strcmp(r.body, "{\"code\":5,\"message\":\"Unsupported protocol version\"}") == 0);
  CHECK_EQ_INT(nc_request(c, "GET", POLL, "X-Token: bad\r\n", NULL, 0, &r), 0);
  CHECK_EQ_INT(r.status, 403);
  CHECK(strcmp(r.body, FORBIDDEN_BODY) == 0);
  CHECK_EQ_INT(nc_request(c, "GET", POLL, "X-Token: good\r\n", NULL, 0, &r), 0);
  CHECK(is_open_packet(&r));
  /* Upgrades are reported too. */
  nc_conn_t *w = nh_connect(h, 0);
  CHECK(w);
  CHECK_EQ_INT(nc_request(w, "GET", "/engine.io/?EIO=4&transport=websocket&sid=nope", UPGRADE_HDRS,
                          NULL, 0, &r), 0);
  CHECK_EQ_INT(r.status, 400);
}

TEST(connection_error_codes) {
  nh_t h;
  ctx_t x;
  memset(&x, 0, sizeof x);
  CHECK_EQ_INT(setup(&h, &x, 1), 0);
  x.mode = MODE_BY_TOKEN;
  CHECK_EQ_INT(nh_run(&h, client_errors, CASE_TIMEOUT_MS), 0);
  CHECK_EQ_INT(x.calls, 3); /* the two handshakes with a token, and the one without */
  CHECK_EQ_INT(x.errors, 7);
  static const int want[] = {0, 1, 2, 3, 5, 4, 1};
  static const int want_status[] = {400, 400, 400, 400, 400, 403, 400};
  for (int i = 0; i < 7; i++) {
    CHECK_EQ_INT(x.codes[i], want[i]);
    CHECK_EQ_INT(x.statuses[i], want_status[i]);
  }
  CHECK(strcmp(x.context, "Forbidden") == 0);
}

/* ---------------------------------------------------------------------------------------------- */
/* A CORS origin function                                                                          */

static int origin_fn(const char *origin, void *arg) {
  (void)arg;
  size_t n = strlen(origin);
  return n > 12 && strcmp(origin + n - 12, ".example.com") == 0;
}

static void client_cors_fn(nh_t *h) {
  nc_response_t r;
  char v[128];
  nc_conn_t *c = nh_connect(h, 0);
  CHECK(c);
  CHECK_EQ_INT(nc_request(c, "GET", POLL, "Origin: https://app.example.com\r\n", NULL, 0, &r), 0);
  CHECK(is_open_packet(&r));
  CHECK_EQ_INT(nc_header(&r, "access-control-allow-origin", v, sizeof v), 1);
  CHECK(strcmp(v, "https://app.example.com") == 0);
  CHECK_EQ_INT(nc_header(&r, "vary", v, sizeof v), 1);
  CHECK(strcmp(v, "Origin") == 0);
  CHECK_EQ_INT(nc_request(c, "GET", POLL, "Origin: https://evil.test\r\n", NULL, 0, &r), 0);
  CHECK_EQ_INT(r.status, 403);
  CHECK(strcmp(r.body, FORBIDDEN_BODY) == 0);
  CHECK_EQ_INT(nc_header(&r, "access-control-allow-origin", NULL, 0), 0);
  CHECK_EQ_INT(nc_request(c, "OPTIONS", POLL, "Origin: https://app.example.com\r\n", NULL, 0, &r), 0);
  CHECK_EQ_INT(r.status, 204);
  CHECK_EQ_INT(nc_header(&r, "access-control-allow-origin", v, sizeof v), 1);
  CHECK_EQ_INT(nc_request(c, "GET", POLL, NULL, NULL, 0, &r), 0); /* no Origin: not a browser */
  CHECK(is_open_packet(&r));
  nc_conn_t *w = nh_connect(h, 0);
  CHECK(w);
  CHECK_EQ_INT(nc_request(w, "GET", WS, UPGRADE_HDRS "Origin: http://evil.test\r\n", NULL, 0, &r), 0);
  CHECK_EQ_INT(r.status, 403);
}

TEST(cors_origin_function) {
  nh_t h;
  ctx_t x;
  memset(&x, 0, sizeof x);
  CHECK_EQ_INT(setup(&h, &x, 0), 0);
  sio_engine_set_cors_origin_fn(x.engine, origin_fn, &x);
  CHECK_EQ_INT(nh_run(&h, client_cors_fn, CASE_TIMEOUT_MS), 0);
  CHECK_EQ_INT(x.errors, 2);
  CHECK_EQ_INT(x.codes[0], 4);
}

/* ---------------------------------------------------------------------------------------------- */
/* A JSONP handshake (EIO 3, j=N) answered later keeps its index                                   */

static void client_jsonp(nh_t *h) {
  nc_response_t r;
  nc_conn_t *c = nh_connect(h, 0);
  CHECK(c);
  CHECK_EQ_INT(nh_call(h, set_mode, (void *)(intptr_t)MODE_HOLD), 0);
  CHECK_EQ_INT(nc_request(c, "GET", "/engine.io/?EIO=3&transport=polling&j=7", NULL, NULL, 0, NULL), 0);
  nh_sleep_ms(50);
  CHECK_EQ_INT(nh_call(h, answer_accept, NULL), 0);
  CHECK_EQ_INT(nc_read_response(c, &r), 0);
  CHECK_EQ_INT(r.status, 200);
  CHECK(strncmp(r.body, "___eio[7](\"", 11) == 0);
}

TEST(allow_request_jsonp_keeps_its_index) {
  nh_t h;
  ctx_t x;
  memset(&x, 0, sizeof x);
  CHECK_EQ_INT(nh_init(&h), 0);
  sio_engine_options_t o;
  sio_engine_options_init(&o);
  o.allow_eio3 = 1;
  CHECK_EQ_INT(sio_engine_new(h.server, &o, &cbs, &x.engine), 0);
  sio_engine_set_data(x.engine, &x);
  h.user = &x;
  sio_engine_set_allow_request(x.engine, allow, &x);
  CHECK_EQ_INT(nh_run(&h, client_jsonp, CASE_TIMEOUT_MS), 0);
  CHECK_EQ_INT(x.connections, 1);
  CHECK_EQ_INT(x.late_result, 0);
}

TEST_MAIN(RUN(allow_request_polling), RUN(allow_request_sees_the_request), RUN(allow_request_websocket),
          RUN(late_answer_after_the_client_left), RUN(held_handshake_at_shutdown), RUN(headers_hooks),
          RUN(connection_error_codes), RUN(cors_origin_function), RUN(allow_request_jsonp_keeps_its_index))
