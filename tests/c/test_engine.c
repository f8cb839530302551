/* Integration tests of the HTTP server and the Engine.IO engine over real sockets on 127.0.0.1.
 *
 * Each case builds its own loop and server (net_client.h's harness), runs the loop in this thread
 * and a raw HTTP/WebSocket client in a second one, then checks what the engine's callbacks
 * recorded once the loop has ended, and that no handle was left behind (uv_loop_close() == 0).
 * The wire is checked byte for byte where the protocol fixes it. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "engine/engine.h" /* sio__engine_stats: the metrics sio_io_stats reports */
#include "net_client.h"
#include "sio.h"
#include "test.h"

/* Every case ends well within this (the client's own reads time out after 5 s). */
#define CASE_TIMEOUT_MS 4500

/* The OPEN packet of an engine with default timings, as its handshake answers. */
#define OPEN_FMT                                                                               \
  "0{\"sid\":\"%s\",\"upgrades\":%s,\"pingInterval\":25000,\"pingTimeout\":20000,"            \
  "\"maxPayload\":1000000}"
#define UPGRADES_WS "[\"websocket\"]"
#define UPGRADES_NONE "[]"
#define TEXT_PLAIN "text/plain; charset=UTF-8"
#define WS_TARGET "/engine.io/?EIO=4&transport=websocket"
#define POLL_TARGET "/engine.io/?EIO=4&transport=polling"

/* ---------------------------------------------------------------------------------------------- */
/* What an engine's callbacks saw (written on the loop thread, read after nh_run)                 */

typedef struct {
  int connections, messages, closes;
  char sid[4][21];    /* ids of the first sessions, in order */
  char msg[4][64];    /* the first messages */
  char reason[4][32]; /* the first close reasons */
} rec_t;

static void rec_connection(sio_engine_t *e, sio_session_t *s) {
  rec_t *r = sio_engine_get_data(e);
  if (r->connections < 4) snprintf(r->sid[r->connections], sizeof r->sid[0], "%s", sio_session_id(s));
  r->connections++;
}

static void rec_message(sio_session_t *s, const char *data, size_t len, int binary) {
  rec_t *r = sio_engine_get_data(sio_session_engine(s));
  if (r->messages < 4) snprintf(r->msg[r->messages], sizeof r->msg[0], "%.*s", (int)len, data);
  r->messages++;
}

static void rec_close(sio_session_t *s, const char *reason) {
  rec_t *r = sio_engine_get_data(sio_session_engine(s));
  if (r->closes < 4) snprintf(r->reason[r->closes], sizeof r->reason[0], "%s", reason);
  r->closes++;
}

static const sio_engine_callbacks_t rec_cbs = {rec_connection, rec_message, rec_close, NULL};

/* An engine at `path` (default options otherwise) whose callbacks fill `rec`. */
static int add_rec_engine(nh_t *h, const char *path, rec_t *rec, const char *cors_origin,
                          int cors_credentials) {
  sio_engine_options_t o;
  sio_engine_options_init(&o);
  o.path = path;
  o.cors_origin = cors_origin;
  o.cors_credentials = cors_credentials;
  sio_engine_t *e;
  int r = sio_engine_new(h->server, &o, &rec_cbs, &e);
  if (r == 0) sio_engine_set_data(e, rec);
  return r;
}

static void call_close_server(nh_t *h, void *arg) { nh_close_server(h); }

/* ---------------------------------------------------------------------------------------------- */
/* Client-side helpers (they report on stderr and return -1; the caller CHECKs)                   */

static const char open_prefix[] = "0{\"sid\":\"";

/* A polling handshake with a default engine: 200, text/plain, and exactly the OPEN packet. The
 * session id goes to sid. */
static int poll_open(nc_conn_t *c, const char *target, const char *extra, nc_response_t *r,
                     char sid[21]) {
  if (nc_request(c, "GET", target, extra, NULL, 0, r) != 0) return -1;
  char ct[64];
  if (r->status != 200 || nc_header(r, "content-type", ct, sizeof ct) != 1 ||
      strcmp(ct, TEXT_PLAIN) != 0) {
    fprintf(stderr, "handshake at %s answered:\n%s\n%s\n", target, r->head, r->body);
    return -1;
  }
  size_t pl = sizeof open_prefix - 1;
  if (r->body_len < pl + 20 || memcmp(r->body, open_prefix, pl) != 0) {
    fprintf(stderr, "handshake at %s: not an OPEN packet: %s\n", target, r->body);
    return -1;
  }
  memcpy(sid, r->body + pl, 20);
  sid[20] = '\0';
  char want[256];
  snprintf(want, sizeof want, OPEN_FMT, sid, UPGRADES_WS);
  if (strcmp(r->body, want) != 0) {
    fprintf(stderr, "handshake at %s:\n  got  %s\n  want %s\n", target, r->body, want);
    return -1;
  }
  return 0;
}

/* A WebSocket handshake with a default engine, then its first frame: exactly the OPEN packet
 * (no upgrades from WebSocket). */
static int ws_open(nc_conn_t *c, const char *target, char sid[21]) {
  nc_response_t r;
  if (nc_ws_open(c, target, &r) != 0) return -1;
  char buf[512], want[256];
  size_t n;
  int op;
  if (nc_ws_read(c, &op, buf, sizeof buf - 1, &n) != 0) return -1;
  buf[n] = '\0';
  size_t pl = sizeof open_prefix - 1;
  if (op != SIO_WS_OP_TEXT || n < pl + 20 || memcmp(buf, open_prefix, pl) != 0) {
    fprintf(stderr, "websocket at %s: first frame (opcode %d) not OPEN: %s\n", target, op, buf);
    return -1;
  }
  memcpy(sid, buf + pl, 20);
  sid[20] = '\0';
  snprintf(want, sizeof want, OPEN_FMT, sid, UPGRADES_NONE);
  if (strcmp(buf, want) != 0) {
    fprintf(stderr, "websocket OPEN:\n  got  %s\n  want %s\n", buf, want);
    return -1;
  }
  return 0;
}

/* Reads one frame and compares it with (opcode, expected payload). */
static int ws_expect(nc_conn_t *c, int opcode, const char *payload, size_t len) {
  char buf[4096];
  size_t n;
  int op;
  if (nc_ws_read(c, &op, buf, sizeof buf, &n) != 0) return -1;
  if (op != opcode || n != len || memcmp(buf, payload, len) != 0) {
    fprintf(stderr, "frame: got opcode %d \"%.*s\" (%zu), want opcode %d \"%.*s\" (%zu)\n", op,
            (int)n, buf, n, opcode, (int)len, payload, len);
    return -1;
  }
  return 0;
}

/* ---------------------------------------------------------------------------------------------- */
/* 1. Routing by path                                                                             */

typedef struct {
  rec_t root;
  char seen[2][21]; /* session ids as the client saw them */
} root_ctx_t;

static void client_path_root(nh_t *h) {
  root_ctx_t *x = h->user;
  nc_response_t r;
  nc_conn_t *c = nh_connect(h, 0);
  CHECK(c);
  /* Behind nginx's `location /` the engine sees whatever path the page used. */
  CHECK_EQ_INT(poll_open(c, "/?EIO=4&transport=polling", NULL, &r, x->seen[0]), 0);
  CHECK_EQ_INT(poll_open(c, "/anything/?EIO=4&transport=polling", NULL, &r, x->seen[1]), 0);
  /* The session is reachable at any path as well. */
  char target[128];
  snprintf(target, sizeof target, "/some/where/?EIO=4&transport=polling&sid=%s", x->seen[0]);
  CHECK_EQ_INT(nc_request(c, "POST", target, NULL, "4hello", 6, &r), 0);
  CHECK_EQ_INT(r.status, 200);
  CHECK_STR(r.body, r.body_len, "ok");
}

TEST(path_root_serves_every_path) {
  nh_t h;
  root_ctx_t x;
  memset(&x, 0, sizeof x);
  CHECK_EQ_INT(nh_init(&h), 0);
  h.user = &x;
  CHECK_EQ_INT(add_rec_engine(&h, "/", &x.root, NULL, 0), 0);
  CHECK_EQ_INT(nh_run(&h, client_path_root, CASE_TIMEOUT_MS), 0);
  CHECK_EQ_INT(x.root.connections, 2);
  CHECK(strcmp(x.root.sid[0], x.seen[0]) == 0);
  CHECK(strcmp(x.root.sid[1], x.seen[1]) == 0);
  CHECK_EQ_INT(x.root.messages, 1);
  CHECK(strcmp(x.root.msg[0], "hello") == 0);
  /* Both sessions were still open when the server closed. */
  CHECK_EQ_INT(x.root.closes, 2);
  CHECK(strcmp(x.root.reason[0], "server shutting down") == 0);
  CHECK(strcmp(x.root.reason[1], "server shutting down") == 0);
  CHECK_EQ_INT(h.server_closed, 1);
}

typedef struct {
  rec_t root, eio;
} two_ctx_t;

static void client_longest_path(nh_t *h) {
  nc_response_t r;
  char sid[21];
  nc_conn_t *c = nh_connect(h, 0);
  CHECK(c);
  CHECK_EQ_INT(poll_open(c, "/engine.io/?EIO=4&transport=polling", NULL, &r, sid), 0);  /* eio */
  CHECK_EQ_INT(poll_open(c, "/engine.io?EIO=4&transport=polling", NULL, &r, sid), 0);   /* eio */
  CHECK_EQ_INT(poll_open(c, "/?EIO=4&transport=polling", NULL, &r, sid), 0);            /* root */
  CHECK_EQ_INT(poll_open(c, "/other/?EIO=4&transport=polling", NULL, &r, sid), 0);      /* root */
  /* A longer name that merely begins like the route is not the route. */
  CHECK_EQ_INT(poll_open(c, "/engine.iox/?EIO=4&transport=polling", NULL, &r, sid), 0); /* root */
  /* Upgrades are routed the same way. */
  nc_conn_t *w = nh_connect(h, 0);
  CHECK(w);
  CHECK_EQ_INT(ws_open(w, WS_TARGET, sid), 0); /* eio */
}

TEST(path_longest_route_wins) {
  nh_t h;
  two_ctx_t x;
  memset(&x, 0, sizeof x);
  CHECK_EQ_INT(nh_init(&h), 0);
  h.user = &x;
  /* "/" first: the server must still try the longer path before it. */
  CHECK_EQ_INT(add_rec_engine(&h, "/", &x.root, NULL, 0), 0);
  CHECK_EQ_INT(add_rec_engine(&h, "/engine.io/", &x.eio, NULL, 0), 0);
  CHECK_EQ_INT(add_rec_engine(&h, "engine.io", &x.eio, NULL, 0), SIO_EEXIST); /* same, normalised */
  CHECK_EQ_INT(nh_run(&h, client_longest_path, CASE_TIMEOUT_MS), 0);
  CHECK_EQ_INT(x.eio.connections, 3);
  CHECK_EQ_INT(x.root.connections, 3);
}

/* ---------------------------------------------------------------------------------------------- */
/* 2. "//" paths                                                                                  */

static void client_double_slash(nh_t *h) {
  nc_response_t r;
  char sid[21];
  /* A keep-alive connection opened before the bad requests must go on working after them. */
  nc_conn_t *keep = nh_connect(h, 0);
  CHECK(keep);
  CHECK_EQ_INT(poll_open(keep, "/?EIO=4&transport=polling", NULL, &r, sid), 0);

  nc_conn_t *c = nh_connect(h, 0);
  CHECK(c);
  CHECK_EQ_INT(nc_request(c, "GET", "//?EIO=4&transport=polling", NULL, NULL, 0, &r), 0);
  CHECK_EQ_INT(r.status, 400);
  CHECK(strcmp(r.head, "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close") == 0);
  CHECK_EQ_INT(r.body_len, 0);
  CHECK_EQ_INT(nc_read_eof(c), 0);

  /* The same for an upgrade. */
  c = nh_connect(h, 0);
  CHECK(c);
  CHECK_EQ_INT(nc_request(c, "GET", "//engine.io/?EIO=4&transport=websocket",
                          "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: " NC_WS_KEY
                          "\r\nSec-WebSocket-Version: 13\r\n",
                          NULL, 0, &r),
               0);
  CHECK_EQ_INT(r.status, 400);
  CHECK_EQ_INT(nc_read_eof(c), 0);

  c = nh_connect(h, 0);
  CHECK(c);
  CHECK_EQ_INT(nc_request(c, "POST", "//x?EIO=4&transport=polling", NULL, "4a", 2, &r), 0);
  CHECK_EQ_INT(r.status, 400);
  CHECK_EQ_INT(nc_read_eof(c), 0);

  /* Still serving: on the old connection and on a new one. */
  CHECK_EQ_INT(poll_open(keep, "/?EIO=4&transport=polling", NULL, &r, sid), 0);
  c = nh_connect(h, 0);
  CHECK(c);
  CHECK_EQ_INT(poll_open(c, "/?EIO=4&transport=polling", NULL, &r, sid), 0);
}

TEST(double_slash_path_is_400) {
  nh_t h;
  rec_t rec;
  memset(&rec, 0, sizeof rec);
  CHECK_EQ_INT(nh_init(&h), 0);
  /* At "/", "//..." would otherwise match the engine. */
  CHECK_EQ_INT(add_rec_engine(&h, "/", &rec, NULL, 0), 0);
  CHECK_EQ_INT(nh_run(&h, client_double_slash, CASE_TIMEOUT_MS), 0);
  CHECK_EQ_INT(rec.connections, 3);
}

/* ---------------------------------------------------------------------------------------------- */
/* 3. CORS                                                                                        */

typedef struct {
  rec_t star, cred, list, none, same;
} cors_ctx_t;

/* A polling handshake from `origin` that the engine must refuse: 403 {"code":4,...}, no
 * Access-Control-Allow-Origin. */
static int forbidden(nc_conn_t *c, const char *path, const char *origin) {
  char target[128], extra[128];
  nc_response_t r;
  snprintf(target, sizeof target, "%s?EIO=4&transport=polling", path);
  snprintf(extra, sizeof extra, "Origin: %s\r\n", origin);
  if (nc_request(c, "GET", target, extra, NULL, 0, &r) != 0) return -1;
  if (r.status != 403 || r.body_len != 32 || memcmp(r.body, "{\"code\":4,\"message\":\"Forbidden\"}", 32) != 0 ||
      nc_header(&r, "access-control-allow-origin", NULL, 0) != 0) {
    fprintf(stderr, "%s from %s: %d %.*s\n", path, origin, r.status, (int)r.body_len, r.body);
    return -1;
  }
  return 0;
}

static int cors_get(nc_conn_t *c, const char *path, const char *origin, nc_response_t *r) {
  char target[128], extra[128] = "", sid[21];
  snprintf(target, sizeof target, "%s?EIO=4&transport=polling", path);
  if (origin) snprintf(extra, sizeof extra, "Origin: %s\r\n", origin);
  return poll_open(c, target, extra, r, sid);
}

static int preflight(nc_conn_t *c, const char *path, const char *origin, nc_response_t *r) {
  char target[128], extra[256];
  snprintf(target, sizeof target, "%s?EIO=4&transport=polling", path);
  snprintf(extra, sizeof extra,
           "Origin: %s\r\nAccess-Control-Request-Method: POST\r\n"
           "Access-Control-Request-Headers: content-type, x-requested-with\r\n",
           origin);
  return nc_request(c, "OPTIONS", target, extra, NULL, 0, r);
}

static void client_cors(nh_t *h) {
  nc_response_t r;
  char v[128];
  nc_conn_t *c = nh_connect(h, 0);
  CHECK(c);

  /* "*": the wildcard for any origin, nothing to vary on, no credentials. */
  CHECK_EQ_INT(cors_get(c, "/star/", "http://a.example", &r), 0);
  CHECK_EQ_INT(nc_header(&r, "access-control-allow-origin", v, sizeof v), 1);
  CHECK(strcmp(v, "*") == 0);
  CHECK_EQ_INT(nc_header(&r, "access-control-allow-credentials", NULL, 0), 0);
  CHECK_EQ_INT(nc_header(&r, "vary", NULL, 0), 0);

  /* "*" with credentials: browsers refuse the wildcard then, so the origin is reflected. */
  CHECK_EQ_INT(cors_get(c, "/cred/", "http://a.example", &r), 0);
  CHECK_EQ_INT(nc_header(&r, "access-control-allow-origin", v, sizeof v), 1);
  CHECK(strcmp(v, "http://a.example") == 0);
  CHECK_EQ_INT(nc_header(&r, "access-control-allow-credentials", v, sizeof v), 1);
  CHECK(strcmp(v, "true") == 0);
  CHECK_EQ_INT(nc_header(&r, "vary", v, sizeof v), 1);
  CHECK(strcmp(v, "Origin") == 0);

  /* A list: members are reflected, others get no Allow-Origin (the answer depends on Origin). */
  CHECK_EQ_INT(cors_get(c, "/list/", "http://b.example", &r), 0);
  CHECK_EQ_INT(nc_header(&r, "access-control-allow-origin", v, sizeof v), 1);
  CHECK(strcmp(v, "http://b.example") == 0);
  CHECK_EQ_INT(nc_header(&r, "access-control-allow-credentials", NULL, 0), 0);
  CHECK_EQ_INT(nc_header(&r, "vary", v, sizeof v), 1);
  CHECK(strcmp(v, "Origin") == 0);
  CHECK_EQ_INT(cors_get(c, "/list/", "http://a.example", &r), 0);
  CHECK_EQ_INT(nc_header(&r, "access-control-allow-origin", v, sizeof v), 1);
  CHECK(strcmp(v, "http://a.example") == 0);
  /* Any other origin is refused (a page of another site must not open a session); a prefix of a
   * member is not a member; no Origin (not a browser) is fine. */
  CHECK_EQ_INT(forbidden(c, "/list/", "http://c.example"), 0);
  CHECK_EQ_INT(forbidden(c, "/list/", "http://b.exam"), 0);
  CHECK_EQ_INT(forbidden(c, "/list/", "null"), 0);
  CHECK_EQ_INT(cors_get(c, "/list/", NULL, &r), 0);
  CHECK_EQ_INT(nc_header(&r, "access-control-allow-origin", NULL, 0), 0);

  /* same_origin: the page's origin must name the Host the request came to (http or https). */
  char own[64];
  snprintf(own, sizeof own, "http://127.0.0.1:%d", c->port);
  CHECK_EQ_INT(cors_get(c, "/same/", own, &r), 0);
  CHECK_EQ_INT(nc_header_prefix_count(&r, "access-control-"), 0);
  snprintf(own, sizeof own, "https://127.0.0.1:%d", c->port);
  CHECK_EQ_INT(cors_get(c, "/same/", own, &r), 0);
  CHECK_EQ_INT(forbidden(c, "/same/", "http://127.0.0.1:1"), 0);
  CHECK_EQ_INT(forbidden(c, "/same/", "http://a.example"), 0);
  CHECK_EQ_INT(cors_get(c, "/same/", NULL, &r), 0);

  /* Preflight: 204 with the methods and the requested headers echoed; no session made. */
  CHECK_EQ_INT(preflight(c, "/list/", "http://b.example", &r), 0);
  CHECK_EQ_INT(r.status, 204);
  CHECK_EQ_INT(r.body_len, 0);
  CHECK_EQ_INT(nc_header(&r, "access-control-allow-origin", v, sizeof v), 1);
  CHECK(strcmp(v, "http://b.example") == 0);
  CHECK_EQ_INT(nc_header(&r, "access-control-allow-methods", v, sizeof v), 1);
  CHECK(strcmp(v, "GET,HEAD,PUT,PATCH,POST,DELETE") == 0);
  CHECK_EQ_INT(nc_header(&r, "access-control-allow-headers", v, sizeof v), 1);
  CHECK(strcmp(v, "content-type, x-requested-with") == 0);
  /* ... and a refused origin's preflight grants nothing. */
  CHECK_EQ_INT(preflight(c, "/list/", "http://c.example", &r), 0);
  CHECK_EQ_INT(r.status, 204);
  CHECK_EQ_INT(nc_header(&r, "access-control-allow-origin", NULL, 0), 0);
  CHECK_EQ_INT(nc_header(&r, "access-control-allow-methods", NULL, 0), 0);
  CHECK_EQ_INT(preflight(c, "/star/", "http://c.example", &r), 0);
  CHECK_EQ_INT(r.status, 204);
  CHECK_EQ_INT(nc_header(&r, "access-control-allow-origin", v, sizeof v), 1);
  CHECK(strcmp(v, "*") == 0);
  CHECK_EQ_INT(nc_header(&r, "access-control-allow-methods", NULL, 0), 1);

  /* Error answers carry CORS too, so that a page can read why it was refused. */
  CHECK_EQ_INT(nc_request(c, "GET", "/star/?EIO=4&transport=bogus", "Origin: http://a.example\r\n",
                          NULL, 0, &r),
               0);
  CHECK_EQ_INT(r.status, 400);
  CHECK_STR(r.body, r.body_len, "{\"code\":0,\"message\":\"Transport unknown\"}");
  CHECK_EQ_INT(nc_header(&r, "access-control-allow-origin", v, sizeof v), 1);
  CHECK(strcmp(v, "*") == 0);

  /* No cors_origin: no CORS headers at all, and OPTIONS is no preflight but a bad handshake. */
  CHECK_EQ_INT(cors_get(c, "/none/", "http://a.example", &r), 0);
  CHECK_EQ_INT(nc_header_prefix_count(&r, "access-control-"), 0);
  CHECK_EQ_INT(nc_header(&r, "vary", NULL, 0), 0);
  CHECK_EQ_INT(preflight(c, "/none/", "http://a.example", &r), 0);
  CHECK_EQ_INT(r.status, 400);
  CHECK_STR(r.body, r.body_len, "{\"code\":2,\"message\":\"Bad handshake method\"}");
  CHECK_EQ_INT(nc_header_prefix_count(&r, "access-control-"), 0);
}

TEST(cors_headers) {
  nh_t h;
  cors_ctx_t x;
  memset(&x, 0, sizeof x);
  CHECK_EQ_INT(nh_init(&h), 0);
  CHECK_EQ_INT(add_rec_engine(&h, "/star/", &x.star, "*", 0), 0);
  CHECK_EQ_INT(add_rec_engine(&h, "/cred/", &x.cred, "*", 1), 0);
  CHECK_EQ_INT(add_rec_engine(&h, "/list/", &x.list, "http://a.example, http://b.example", 0), 0);
  CHECK_EQ_INT(add_rec_engine(&h, "/none/", &x.none, NULL, 0), 0);
  sio_engine_options_t o;
  sio_engine_options_init(&o);
  o.path = "/same/";
  o.same_origin = 1;
  sio_engine_t *e;
  CHECK_EQ_INT(sio_engine_new(h.server, &o, &rec_cbs, &e), 0);
  sio_engine_set_data(e, &x.same);
  CHECK_EQ_INT(nh_run(&h, client_cors, CASE_TIMEOUT_MS), 0);
  CHECK_EQ_INT(x.star.connections, 1);
  CHECK_EQ_INT(x.cred.connections, 1);
  CHECK_EQ_INT(x.list.connections, 3);
  CHECK_EQ_INT(x.none.connections, 1);
  CHECK_EQ_INT(x.same.connections, 3);
}

/* ---------------------------------------------------------------------------------------------- */
/* 3b. The session cookie (the reference's `cookie` option)                                        */

typedef struct {
  rec_t io, full, none;
  char sid[21];
} cookie_ctx_t;

static int add_cookie_engine(nh_t *h, const char *path, rec_t *rec, const sio_cookie_options_t *c,
                             const char *cors_origin) {
  sio_engine_options_t o;
  sio_engine_options_init(&o);
  o.path = path;
  o.cors_origin = cors_origin;
  if (c) o.cookie = *c;
  sio_engine_t *e;
  int r = sio_engine_new(h->server, &o, &rec_cbs, &e);
  if (r == 0) sio_engine_set_data(e, rec);
  return r;
}

/* The handshake at `path` sets exactly `want_fmt` (with the sid for %s), or no cookie when NULL. */
static int cookie_handshake(nc_conn_t *c, const char *path, const char *want_fmt, char sid[21]) {
  char target[128], v[256], want[256];
  nc_response_t r;
  snprintf(target, sizeof target, "%s?EIO=4&transport=polling", path);
  if (poll_open(c, target, "Origin: http://a.example\r\n", &r, sid) != 0) return -1;
  int n = nc_header(&r, "set-cookie", v, sizeof v);
  if (!want_fmt) {
    if (n == 0) return 0;
    fprintf(stderr, "%s: unexpected Set-Cookie: %s\n", path, v);
    return -1;
  }
  snprintf(want, sizeof want, want_fmt, sid);
  if (n != 1 || strcmp(v, want) != 0) {
    fprintf(stderr, "%s: %d Set-Cookie, got \"%s\", want \"%s\"\n", path, n, n ? v : "", want);
    return -1;
  }
  return 0;
}

static void client_cookie(nh_t *h) {
  cookie_ctx_t *x = h->user;
  char target[128], sid[21], v[128];
  nc_response_t r;
  nc_conn_t *c = nh_connect(h, 0);
  CHECK(c);
  /* The reference's `cookie: true`, next to CORS lines. */
  CHECK_EQ_INT(cookie_handshake(c, "/io/", "io=%s; Path=/; HttpOnly; SameSite=Lax", x->sid), 0);
  /* Every attribute, in the order of Node's `cookie` package. */
  CHECK_EQ_INT(cookie_handshake(c, "/full/", "srv=%s; Max-Age=60; Domain=example.com; Path=/x; Secure; SameSite=Strict", sid), 0);
  CHECK_EQ_INT(cookie_handshake(c, "/none/", NULL, sid), 0);

  /* Only the handshake: the session's later requests name it in their query. */
  snprintf(target, sizeof target, "/io/?EIO=4&transport=polling&sid=%s", x->sid);
  CHECK_EQ_INT(nc_request(c, "POST", target, NULL, "4hi", 3, &r), 0);
  CHECK_EQ_INT(r.status, 200);
  CHECK_EQ_INT(nc_header(&r, "set-cookie", NULL, 0), 0);
  /* A parked GET, answered when a CLOSE comes in on another connection. */
  nc_conn_t *g = nh_connect(h, 0);
  CHECK(g);
  CHECK_EQ_INT(nc_request(g, "GET", target, NULL, NULL, 0, NULL), 0);
  nh_sleep_ms(50);
  CHECK_EQ_INT(nc_request(c, "POST", target, NULL, "1", 1, &r), 0);
  CHECK_EQ_INT(nc_read_response(g, &r), 0);
  CHECK_EQ_INT(r.status, 200);
  CHECK_EQ_INT(nc_header(&r, "set-cookie", NULL, 0), 0);
  /* Nor an error, nor a preflight. */
  CHECK_EQ_INT(nc_request(c, "GET", "/io/?EIO=4&transport=polling&sid=AAAAAAAAAAAAAAAAAAAA", NULL, NULL, 0, &r), 0);
  CHECK_EQ_INT(r.status, 400);
  CHECK_EQ_INT(nc_header(&r, "set-cookie", NULL, 0), 0);
  CHECK_EQ_INT(nc_request(c, "OPTIONS", "/io/?EIO=4&transport=polling", "Origin: http://a.example\r\n", NULL, 0, &r), 0);
  CHECK_EQ_INT(r.status, 204);
  CHECK_EQ_INT(nc_header(&r, "set-cookie", NULL, 0), 0);
  CHECK_EQ_INT(nc_header(&r, "access-control-allow-origin", v, sizeof v), 1);

  /* A WebSocket-only session: the 101 carries none, as the reference's. */
  nc_conn_t *w = nh_connect(h, 0);
  CHECK(w);
  CHECK_EQ_INT(nc_ws_open(w, "/io/?EIO=4&transport=websocket", &r), 0);
  CHECK_EQ_INT(r.status, 101);
  CHECK_EQ_INT(nc_header(&r, "set-cookie", NULL, 0), 0);
}

TEST(session_cookie) {
  nh_t h;
  cookie_ctx_t x;
  memset(&x, 0, sizeof x);
  CHECK_EQ_INT(nh_init(&h), 0);
  h.user = &x;
  sio_engine_options_t d;
  sio_engine_options_init(&d);
  CHECK(d.cookie.name == NULL); /* off by default */
  sio_cookie_options_t io = d.cookie;
  io.name = "io";
  sio_cookie_options_t full = {.name = "srv", .path = "/x", .domain = "example.com",
                               .same_site = "strict", .http_only = 0, .secure = 1, .max_age_s = 60};
  CHECK_EQ_INT(add_cookie_engine(&h, "/io/", &x.io, &io, "*"), 0);
  CHECK_EQ_INT(add_cookie_engine(&h, "/full/", &x.full, &full, NULL), 0);
  CHECK_EQ_INT(add_cookie_engine(&h, "/none/", &x.none, NULL, NULL), 0);
  /* What would break the header line, or is no cookie at all, is refused and leaves no engine. */
#define BAD(n, p, d, s) {.name = n, .path = p, .domain = d, .same_site = s, .http_only = 1}
  const sio_cookie_options_t bad[] = {
      BAD("", "/", NULL, "Lax"),        BAD("a b", "/", NULL, "Lax"),
      BAD("a=b", "/", NULL, "Lax"),     BAD("a;b", "/", NULL, "Lax"),
      BAD("\xc3\xa9", "/", NULL, "Lax"), BAD("io", "/;x", NULL, "Lax"),
      BAD("io", "/\r\nX: y", NULL, "Lax"), BAD("io", "/", "a;b", "Lax"),
      BAD("io", "/", NULL, "Laxx"),     BAD("io", "/", NULL, ""),
  };
#undef BAD
  rec_t unused;
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
    CHECK_EQ_INT(add_cookie_engine(&h, "/bad/", &unused, &bad[i], NULL), SIO_EINVAL);
  /* Every attribute may be left out. */
  sio_cookie_options_t bare = {.name = "io"};
  CHECK_EQ_INT(add_cookie_engine(&h, "/bad/", &unused, &bare, NULL), 0);
  CHECK_EQ_INT(nh_run(&h, client_cookie, CASE_TIMEOUT_MS), 0);
  CHECK_EQ_INT(x.io.connections, 2);
  CHECK_EQ_INT(x.io.messages, 1);
  CHECK(strcmp(x.io.msg[0], "hi") == 0);
  CHECK_EQ_INT(x.full.connections, 1);
  CHECK_EQ_INT(x.none.connections, 1);
}

/* ---------------------------------------------------------------------------------------------- */
/* 4. Server-side sends and sio_session_close()                                                   */

typedef struct {
  const char *const *to_send; /* sent when the client says "go", then the session is closed */
  int nsend;
  int connections, closes, send_errors;
  int send_in_close; /* sio_session_send() from inside on_close */
  char reason[32];
} forced_ctx_t;

static void forced_message(sio_session_t *s, const char *data, size_t len, int binary) {
  forced_ctx_t *x = sio_engine_get_data(sio_session_engine(s));
  if (len != 2 || memcmp(data, "go", 2) != 0) return;
  for (int i = 0; i < x->nsend; i++)
    if (sio_session_send(s, x->to_send[i], strlen(x->to_send[i]), 0) != 0) x->send_errors++;
  sio_session_close(s);
  sio_session_close(s); /* documented as harmless */
}

static void forced_connection(sio_engine_t *e, sio_session_t *s) {
  forced_ctx_t *x = sio_engine_get_data(e);
  x->connections++;
}

static void forced_close(sio_session_t *s, const char *reason) {
  forced_ctx_t *x = sio_engine_get_data(sio_session_engine(s));
  x->closes++;
  snprintf(x->reason, sizeof x->reason, "%s", reason);
  x->send_in_close = sio_session_send(s, "late", 4, 0);
}

static const sio_engine_callbacks_t forced_cbs = {forced_connection, forced_message, forced_close, NULL};

static int run_forced(forced_ctx_t *x, nh_client_fn client) {
  nh_t h;
  int r = nh_init(&h);
  if (r) return r;
  sio_engine_t *e;
  r = sio_engine_new(h.server, NULL, &forced_cbs, &e);
  if (r) return r;
  sio_engine_set_data(e, x);
  return nh_run(&h, client, CASE_TIMEOUT_MS);
}

static void client_ws_forced(nh_t *h) {
  char sid[21];
  nc_conn_t *c = nh_connect(h, 0);
  CHECK(c);
  CHECK_EQ_INT(ws_open(c, WS_TARGET, sid), 0);
  CHECK_EQ_INT(nc_ws_send(c, SIO_WS_OP_TEXT, "4go", 3), 0);
  /* Everything sent before the close arrives, in order, then the close frame (no code), then the
   * server ends the TCP connection. */
  CHECK_EQ_INT(ws_expect(c, SIO_WS_OP_TEXT, "4m1", 3), 0);
  CHECK_EQ_INT(ws_expect(c, SIO_WS_OP_TEXT, "4m2", 3), 0);
  CHECK_EQ_INT(ws_expect(c, SIO_WS_OP_TEXT, "4m3", 3), 0);
  CHECK_EQ_INT(ws_expect(c, SIO_WS_OP_CLOSE, "", 0), 0);
  CHECK_EQ_INT(nc_read_eof(c), 0);
}

TEST(websocket_forced_close) {
  static const char *const msgs[] = {"m1", "m2", "m3"};
  forced_ctx_t x;
  memset(&x, 0, sizeof x);
  x.to_send = msgs;
  x.nsend = 3;
  CHECK_EQ_INT(run_forced(&x, client_ws_forced), 0);
  CHECK_EQ_INT(x.connections, 1);
  CHECK_EQ_INT(x.send_errors, 0);
  CHECK_EQ_INT(x.closes, 1);
  CHECK(strcmp(x.reason, "forced close") == 0);
  CHECK_EQ_INT(x.send_in_close, SIO_ECLOSED);
}

static void client_poll_forced(nh_t *h) {
  nc_response_t r;
  char sid[21], target[128], ct[64];
  nc_conn_t *c = nh_connect(h, 0);
  CHECK(c);
  CHECK_EQ_INT(poll_open(c, POLL_TARGET, NULL, &r, sid), 0);
  snprintf(target, sizeof target, POLL_TARGET "&sid=%s", sid);
  /* "go" arrives with no GET pending: the message and the CLOSE wait for the next polls. */
  CHECK_EQ_INT(nc_request(c, "POST", target, NULL, "4go", 3, &r), 0);
  CHECK_EQ_INT(r.status, 200);
  CHECK_STR(r.body, r.body_len, "ok");
  CHECK_EQ_INT(nc_request(c, "GET", target, NULL, NULL, 0, &r), 0);
  CHECK_EQ_INT(r.status, 200);
  CHECK_EQ_INT(nc_header(&r, "content-type", ct, sizeof ct), 1);
  CHECK(strcmp(ct, TEXT_PLAIN) == 0);
  /* The CLOSE waits for a poll of its own, so that clients handle the message before the close. */
  CHECK_STR(r.body, r.body_len, "4a");
  CHECK_EQ_INT(nc_request(c, "GET", target, NULL, NULL, 0, &r), 0);
  CHECK_EQ_INT(r.status, 200);
  CHECK_STR(r.body, r.body_len, "1");
  /* That poll ended the session. */
  CHECK_EQ_INT(nc_request(c, "GET", target, NULL, NULL, 0, &r), 0);
  CHECK_EQ_INT(r.status, 400);
  CHECK_EQ_INT(nc_header(&r, "content-type", ct, sizeof ct), 1);
  CHECK(strcmp(ct, "application/json") == 0);
  CHECK_STR(r.body, r.body_len, "{\"code\":1,\"message\":\"Session ID unknown\"}");
}

TEST(polling_forced_close) {
  static const char *const msgs[] = {"a"};
  forced_ctx_t x;
  memset(&x, 0, sizeof x);
  x.to_send = msgs;
  x.nsend = 1;
  CHECK_EQ_INT(run_forced(&x, client_poll_forced), 0);
  CHECK_EQ_INT(x.connections, 1);
  CHECK_EQ_INT(x.send_errors, 0);
  CHECK_EQ_INT(x.closes, 1); /* not again at shutdown: the session was gone by then */
  CHECK(strcmp(x.reason, "forced close") == 0);
  CHECK_EQ_INT(x.send_in_close, SIO_ECLOSED);
}

/* ---------------------------------------------------------------------------------------------- */
/* 5. The slow-reader policy (max_buffered)                                                       */

#define FLOOD_MSG 1024

typedef struct {
  nh_t *h;
  sio_engine_t *engine;
  sio_session_t *session; /* NULL once closed */
  uv_timer_t timer;
  int per_tick, total;
  int sent;       /* sends that returned 0 */
  int first_err;  /* the first send that did not */
  int send_in_close;
  int closes;
  char reason[32];
  size_t count_after; /* sio_engine_session_count() once the client saw the close */
  sio_stats_t stats;  /* the engine's metrics then */
  char payload[FLOOD_MSG];
} flood_ctx_t;

static void flood_tick(uv_timer_t *t) {
  flood_ctx_t *f = t->data;
  /* Sends queue until the loop's check phase writes them, so one tick must stay well under
   * max_buffered: only a peer that does not read can then push the queue over it. */
  for (int i = 0; i < f->per_tick && f->session; i++) {
    int r = sio_session_send(f->session, f->payload, sizeof f->payload, 0);
    if (r != 0) {
      if (!f->first_err) f->first_err = r;
      break;
    }
    if (++f->sent == f->total) {
      uv_timer_stop(&f->timer);
      nh_signal(f->h);
      break;
    }
  }
}

static void flood_connection(sio_engine_t *e, sio_session_t *s) {
  flood_ctx_t *f = sio_engine_get_data(e);
  f->session = s;
  uv_timer_start(&f->timer, flood_tick, 1, 1);
}

static void flood_close(sio_session_t *s, const char *reason) {
  flood_ctx_t *f = sio_engine_get_data(sio_session_engine(s));
  f->closes++;
  snprintf(f->reason, sizeof f->reason, "%s", reason);
  f->send_in_close = sio_session_send(s, "x", 1, 0);
  if (f->session == s) {
    f->session = NULL;
    uv_timer_stop(&f->timer);
    nh_signal(f->h);
  }
}

static void flood_shutdown(nh_t *h) {
  flood_ctx_t *f = h->user;
  uv_close((uv_handle_t *)&f->timer, NULL);
}

static void flood_count(nh_t *h, void *arg) {
  flood_ctx_t *f = h->user;
  f->count_after = sio_engine_session_count(f->engine);
  sio__engine_stats(f->engine, &f->stats);
}

static const sio_engine_callbacks_t flood_cbs = {flood_connection, NULL, flood_close, NULL};

static int run_flood(flood_ctx_t *f, nh_client_fn client) {
  nh_t h;
  int r = nh_init(&h);
  if (r) return r;
  h.user = f;
  h.on_shutdown = flood_shutdown;
  f->h = &h;
  memset(f->payload, 'x', sizeof f->payload);
  uv_timer_init(&h.loop, &f->timer);
  f->timer.data = f;
  sio_engine_options_t o;
  sio_engine_options_init(&o);
  o.max_buffered = 64 * 1024;
  r = sio_engine_new(h.server, &o, &flood_cbs, &f->engine);
  if (r) return r;
  sio_engine_set_data(f->engine, f);
  r = nh_run(&h, client, CASE_TIMEOUT_MS);
  f->h = NULL;
  return r;
}

static void client_slow_reader(nh_t *h) {
  nc_response_t r;
  /* A small receive window so the kernel soaks up little of what the server writes. */
  nc_conn_t *c = nh_connect(h, 4096);
  CHECK(c);
  CHECK_EQ_INT(nc_ws_open(c, WS_TARGET, &r), 0);
  /* ... and never read again: wait for the server to give up on us. */
  CHECK_EQ_INT(nh_wait(h, 1, 4000), 0);
  CHECK_EQ_INT(nh_call(h, flood_count, NULL), 0);
  nc_close(c); /* unread data: a reset, which also ends the server's lingering close */
}

/* The most a TCP send buffer grows to by itself (tcp_wmem's maximum), in KiB: what the kernel may
 * take from the server before our window's smallness shows. */
static long tcp_wmem_max_kib(void) {
  long lo, def, max = 0;
  FILE *f = fopen("/proc/sys/net/ipv4/tcp_wmem", "r");
  if (f) {
    if (fscanf(f, "%ld %ld %ld", &lo, &def, &max) != 3) max = 0;
    fclose(f);
  }
  return max / 1024;
}

TEST(slow_reader_is_closed) {
  flood_ctx_t f;
  memset(&f, 0, sizeof f);
  f.per_tick = 32;
  f.total = 10000;
  /* Linux's default ceiling is 4 MiB (about 2.8 MB of it fills before the close); on hosts tuned
   * higher, flood more so that "closed well before the end" still means something. */
  if (2 * tcp_wmem_max_kib() + 1000 > f.total) f.total = (int)(2 * tcp_wmem_max_kib() + 1000);
  CHECK_EQ_INT(run_flood(&f, client_slow_reader), 0);
  CHECK_EQ_INT(f.closes, 1);
  CHECK(strcmp(f.reason, "transport error") == 0);
  /* Well before the end: the kernel buffers plus 64 KiB hold a fraction of the flood. */
  CHECK(f.sent < f.total / 2);
  CHECK_EQ_INT(f.first_err, SIO_ECLOSED);
  CHECK_EQ_INT(f.send_in_close, SIO_ECLOSED);
  CHECK_EQ_INT(f.count_after, 0);
  /* metrics: the close counted as the max_buffered bound's; every send before it as a packet */
  CHECK_EQ_INT((int)f.stats.max_buffered_closes, 1);
  CHECK_EQ_INT((int)f.stats.packets_out[SIO_STATS_WEBSOCKET], f.sent + 1); /* + the OPEN */
  CHECK_EQ_INT((int)f.stats.sessions[SIO_STATS_WEBSOCKET][SIO_STATS_EIO4], 0);
}

static void client_fast_reader(nh_t *h) {
  flood_ctx_t *f = h->user;
  char sid[21], want[FLOOD_MSG + 1];
  nc_conn_t *c = nh_connect(h, 0);
  CHECK(c);
  CHECK_EQ_INT(ws_open(c, WS_TARGET, sid), 0);
  want[0] = '4';
  memset(want + 1, 'x', FLOOD_MSG);
  for (int i = 0; i < f->total; i++) CHECK_EQ_INT(ws_expect(c, SIO_WS_OP_TEXT, want, sizeof want), 0);
  CHECK_EQ_INT(nh_wait(h, 1, 4000), 0);
  CHECK_EQ_INT(nh_call(h, flood_count, NULL), 0);
  /* Closed by the server while still open (not by our hang-up, which would race with it). */
  CHECK_EQ_INT(nh_call(h, call_close_server, NULL), 0);
  CHECK_EQ_INT(ws_expect(c, SIO_WS_OP_CLOSE, "", 0), 0);
}

/* The control: the same flood to a client that keeps reading is delivered whole. */
TEST(fast_reader_is_kept) {
  flood_ctx_t f;
  memset(&f, 0, sizeof f);
  f.per_tick = 16;
  f.total = 1000;
  CHECK_EQ_INT(run_flood(&f, client_fast_reader), 0);
  CHECK_EQ_INT(f.sent, f.total);
  CHECK_EQ_INT(f.first_err, 0);
  CHECK_EQ_INT(f.count_after, 1);
  CHECK_EQ_INT(f.closes, 1);
  CHECK(strcmp(f.reason, "server shutting down") == 0);
  CHECK_EQ_INT((int)f.stats.max_buffered_closes, 0);
  CHECK_EQ_INT((int)f.stats.sessions[SIO_STATS_WEBSOCKET][SIO_STATS_EIO4], 1);
  CHECK_EQ_INT((int)f.stats.packets_out[SIO_STATS_WEBSOCKET], f.total + 1);
}

/* ---------------------------------------------------------------------------------------------- */
/* 6. Error strings, version                                                                      */

TEST(error_strings_and_version) {
  CHECK(strcmp(sio_strerror(SIO_EINVAL), "invalid argument") == 0);
  CHECK(strcmp(sio_err_name(SIO_EINVAL), "EINVAL") == 0);
  CHECK(strcmp(sio_strerror(SIO_ETOOBIG), "payload larger than the allowed maximum") == 0);
  CHECK(strcmp(sio_err_name(SIO_ETOOBIG), "ETOOBIG") == 0);
  /* libuv's codes are described by libuv. */
  CHECK(strcmp(sio_strerror(UV_ECONNRESET), uv_strerror(UV_ECONNRESET)) == 0);
  CHECK(strcmp(sio_strerror(UV_ECONNRESET), "connection reset by peer") == 0);
  CHECK(strcmp(sio_err_name(UV_ECONNRESET), "ECONNRESET") == 0);
  /* Every code of the map has its own message and name. */
#define XX(name, code, msg)                              \
  CHECK_EQ_INT(SIO_##name, code);                        \
  CHECK(strcmp(sio_strerror(code), msg) == 0);           \
  CHECK(strcmp(sio_err_name(code), #name) == 0);
  SIO_ERRNO_MAP(XX)
#undef XX
  /* Codes nobody defines: never NULL. */
  CHECK(strcmp(sio_strerror(-29999), "unknown error") == 0);
  CHECK(strcmp(sio_strerror(-40000), "unknown error") == 0);
  CHECK(strcmp(sio_err_name(-40000), "UNKNOWN") == 0);
  CHECK(strcmp(sio_strerror(7), "unknown error") == 0);
  CHECK(strcmp(sio_version(), "0.1.0") == 0);
  char v[32];
  snprintf(v, sizeof v, "%d.%d.%d", SIO_VERSION_MAJOR, SIO_VERSION_MINOR, SIO_VERSION_PATCH);
  CHECK(strcmp(sio_version(), v) == 0);
}

/* ---------------------------------------------------------------------------------------------- */
/* 7. Server shutdown with live sessions                                                          */

typedef struct {
  sio_session_t *poll, *ws;
  int closes;
  char reason[4][32];
} shut_ctx_t;

static void shut_connection(sio_engine_t *e, sio_session_t *s) {
  shut_ctx_t *x = sio_engine_get_data(e);
  if (sio_session_transport(s) == SIO_TRANSPORT_POLLING) x->poll = s;
  else x->ws = s;
}

static void shut_close(sio_session_t *s, const char *reason) {
  shut_ctx_t *x = sio_engine_get_data(sio_session_engine(s));
  if (x->closes < 4) snprintf(x->reason[x->closes], sizeof x->reason[0], "%s", reason);
  x->closes++;
  if (x->poll == s) x->poll = NULL;
  if (x->ws == s) x->ws = NULL;
}

static const sio_engine_callbacks_t shut_cbs = {shut_connection, NULL, shut_close, NULL};

/* A polling session is writable exactly when a GET is parked on it. */
static void shut_poll_pending(nh_t *h, void *arg) {
  shut_ctx_t *x = h->user;
  *(int *)arg = x->poll && sio_session_writable(x->poll);
}

static void client_shutdown(nh_t *h) {
  nc_response_t r;
  char sid[21], wsid[21], target[128], v[64];
  nc_conn_t *p = nh_connect(h, 0);
  CHECK(p);
  CHECK_EQ_INT(poll_open(p, POLL_TARGET, NULL, &r, sid), 0);
  snprintf(target, sizeof target, POLL_TARGET "&sid=%s", sid);
  CHECK_EQ_INT(nc_request(p, "GET", target, NULL, NULL, 0, NULL), 0); /* answer read later */
  int pending = 0;
  for (int i = 0; i < 400 && !pending; i++) {
    CHECK_EQ_INT(nh_call(h, shut_poll_pending, &pending), 0);
    if (!pending) nh_sleep_ms(5);
  }
  CHECK(pending);

  nc_conn_t *w = nh_connect(h, 0);
  CHECK(w);
  CHECK_EQ_INT(ws_open(w, WS_TARGET, wsid), 0);

  /* An idle keep-alive connection without a session. */
  nc_conn_t *idle = nh_connect(h, 0);
  CHECK(idle);
  CHECK_EQ_INT(nc_request(idle, "GET", "/elsewhere", NULL, NULL, 0, &r), 0);
  CHECK_EQ_INT(r.status, 404);

  CHECK_EQ_INT(nh_call(h, call_close_server, NULL), 0);

  /* The pending poll is answered with the CLOSE packet, and the connection ends. */
  CHECK_EQ_INT(nc_read_response(p, &r), 0);
  CHECK_EQ_INT(r.status, 200);
  CHECK_STR(r.body, r.body_len, "1");
  CHECK_EQ_INT(nc_header(&r, "connection", v, sizeof v), 1);
  CHECK(strcmp(v, "close") == 0);
  CHECK_EQ_INT(nc_read_eof(p), 0);
  /* The WebSocket gets a close frame, then the end. */
  CHECK_EQ_INT(ws_expect(w, SIO_WS_OP_CLOSE, "", 0), 0);
  CHECK_EQ_INT(nc_read_eof(w), 0);
  CHECK_EQ_INT(nc_read_eof(idle), 0);
}

TEST(shutdown_with_live_sessions) {
  nh_t h;
  shut_ctx_t x;
  memset(&x, 0, sizeof x);
  CHECK_EQ_INT(nh_init(&h), 0);
  h.user = &x;
  sio_engine_t *e;
  CHECK_EQ_INT(sio_engine_new(h.server, NULL, &shut_cbs, &e), 0);
  sio_engine_set_data(e, &x);
  CHECK_EQ_INT(nh_run(&h, client_shutdown, CASE_TIMEOUT_MS), 0);
  CHECK_EQ_INT(x.closes, 2);
  CHECK(strcmp(x.reason[0], "server shutting down") == 0);
  CHECK(strcmp(x.reason[1], "server shutting down") == 0);
  CHECK(x.poll == NULL && x.ws == NULL);
  CHECK_EQ_INT(h.server_closed, 1);
}

/* ---------------------------------------------------------------------------------------------- */
/* 8. sio_session_request()                                                                       */

typedef struct {
  int connections;
  sio_session_t *first;
  /* copies of what the first session's request said */
  char method[8], url[128], query[128], remote[64];
  int secure;
  uint64_t time_ms;
  size_t header_count;
  char names[8][32], values[8][64];
  int lower_case; /* every header name is lower-case */
  char custom[64];
  int custom_found, mixed_case_found;
  int foo_len, trunc_len, missing, eio_len;
  char foo[16], trunc[4], eio[8];
  /* the second session's percent-encoded parameter */
  int name_len;
  char name[32];
  /* re-read after more requests went through the connection */
  int same_later;
} info_ctx_t;

static void info_connection(sio_engine_t *e, sio_session_t *s) {
  info_ctx_t *x = sio_engine_get_data(e);
  const sio_request_info_t *req = sio_session_request(s);
  int n = x->connections++;
  if (n == 1) {
    x->name_len = sio_request_query(req, "name", x->name, sizeof x->name);
    return;
  }
  if (n != 0) return;
  x->first = s;
  snprintf(x->method, sizeof x->method, "%s", req->method);
  snprintf(x->url, sizeof x->url, "%s", req->url);
  snprintf(x->query, sizeof x->query, "%s", req->query);
  snprintf(x->remote, sizeof x->remote, "%s", req->remote_addr);
  x->secure = req->secure;
  x->time_ms = req->time_ms;
  x->header_count = req->header_count;
  x->lower_case = 1;
  for (size_t i = 0; i < req->header_count && i < 8; i++) {
    snprintf(x->names[i], sizeof x->names[0], "%s", req->header_names[i]);
    snprintf(x->values[i], sizeof x->values[0], "%s", req->header_values[i]);
    for (const char *p = req->header_names[i]; *p; p++)
      if (*p >= 'A' && *p <= 'Z') x->lower_case = 0;
  }
  const char *v = sio_request_header(req, "x-custom-header");
  x->custom_found = v != NULL;
  if (v) snprintf(x->custom, sizeof x->custom, "%s", v);
  x->mixed_case_found = sio_request_header(req, "X-Custom-Header") != NULL;
  x->foo_len = sio_request_query(req, "foo", x->foo, sizeof x->foo);
  x->trunc_len = sio_request_query(req, "foo", x->trunc, 2);
  x->missing = sio_request_query(req, "nope", x->trunc + 2, 2);
  x->eio_len = sio_request_query(req, "EIO", x->eio, sizeof x->eio);
}

/* The request info must be the session's own copy, not the parser's buffer (reused since). */
static void info_reread(nh_t *h, void *arg) {
  info_ctx_t *x = h->user;
  if (!x->first) return;
  const sio_request_info_t *req = sio_session_request(x->first);
  int same = strcmp(req->method, x->method) == 0 && strcmp(req->url, x->url) == 0 &&
             strcmp(req->query, x->query) == 0 && strcmp(req->remote_addr, x->remote) == 0 &&
             req->header_count == x->header_count;
  for (size_t i = 0; same && i < req->header_count && i < 8; i++)
    same = strcmp(req->header_names[i], x->names[i]) == 0 &&
           strcmp(req->header_values[i], x->values[i]) == 0;
  x->same_later = same;
}

static void client_request_info(nh_t *h) {
  nc_response_t r;
  char sid[21], sid2[21], target[128];
  nc_conn_t *c = nh_connect(h, 0);
  CHECK(c);
  CHECK_EQ_INT(poll_open(c, POLL_TARGET "&foo=bar",
                         "X-Custom-Header: Hello World\r\nUser-Agent: sio-test/1.0\r\n"
                         "Upgrade-Insecure-Requests: 1\r\nDNT: \r\n",
                         &r, sid),
               0);
  CHECK_EQ_INT(poll_open(c, POLL_TARGET "&name=a%20b%2Bc+d", "X-Other: overwrites-the-buffer\r\n",
                         &r, sid2),
               0);
  snprintf(target, sizeof target, POLL_TARGET "&sid=%s", sid);
  CHECK_EQ_INT(nc_request(c, "POST", target, NULL, "4xxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", 31, &r), 0);
  CHECK_EQ_INT(r.status, 200);
  CHECK_EQ_INT(nh_call(h, info_reread, NULL), 0);
}

TEST(session_request_info) {
  nh_t h;
  info_ctx_t x;
  memset(&x, 0, sizeof x);
  CHECK_EQ_INT(nh_init(&h), 0);
  h.user = &x;
  sio_engine_t *e;
  sio_engine_callbacks_t cbs = {info_connection, NULL, NULL, NULL};
  CHECK_EQ_INT(sio_engine_new(h.server, NULL, &cbs, &e), 0);
  sio_engine_set_data(e, &x);
  struct timeval before, after;
  gettimeofday(&before, NULL);
  int port = h.port;
  CHECK_EQ_INT(nh_run(&h, client_request_info, CASE_TIMEOUT_MS), 0);
  gettimeofday(&after, NULL);

  CHECK_EQ_INT(x.connections, 2);
  CHECK(strcmp(x.method, "GET") == 0);
  CHECK(strcmp(x.url, "/engine.io/?EIO=4&transport=polling&foo=bar") == 0);
  CHECK(strcmp(x.query, "EIO=4&transport=polling&foo=bar") == 0);
  CHECK(strcmp(x.remote, "127.0.0.1") == 0);
  CHECK_EQ_INT(x.secure, 0);
  uint64_t lo = (uint64_t)before.tv_sec * 1000 + (uint64_t)before.tv_usec / 1000;
  uint64_t hi = (uint64_t)after.tv_sec * 1000 + (uint64_t)after.tv_usec / 1000;
  CHECK(x.time_ms >= lo && x.time_ms <= hi);
  /* Headers as sent, in order, names lower-cased; known names (host, user-agent, dnt: kept as a
   * one-byte code in the session) and others (one that a known name is a prefix of) alike. */
  CHECK_EQ_INT(x.header_count, 5);
  CHECK_EQ_INT(x.lower_case, 1);
  char host[32];
  snprintf(host, sizeof host, "127.0.0.1:%d", port);
  CHECK(strcmp(x.names[0], "host") == 0 && strcmp(x.values[0], host) == 0);
  CHECK(strcmp(x.names[1], "x-custom-header") == 0 && strcmp(x.values[1], "Hello World") == 0);
  CHECK(strcmp(x.names[2], "user-agent") == 0 && strcmp(x.values[2], "sio-test/1.0") == 0);
  CHECK(strcmp(x.names[3], "upgrade-insecure-requests") == 0 && strcmp(x.values[3], "1") == 0);
  CHECK(strcmp(x.names[4], "dnt") == 0 && strcmp(x.values[4], "") == 0);
  CHECK_EQ_INT(x.custom_found, 1);
  CHECK(strcmp(x.custom, "Hello World") == 0);
  CHECK_EQ_INT(x.mixed_case_found, 0); /* lookups take the lower-case name */
  /* Query parameters. */
  CHECK_EQ_INT(x.foo_len, 3);
  CHECK(strcmp(x.foo, "bar") == 0);
  CHECK_EQ_INT(x.trunc_len, 3); /* the full length, whatever fits */
  CHECK(strcmp(x.trunc, "b") == 0);
  CHECK_EQ_INT(x.missing, SIO_ENOTFOUND);
  CHECK_EQ_INT(x.eio_len, 1);
  CHECK(strcmp(x.eio, "4") == 0);
  CHECK_EQ_INT(x.name_len, 7);
  CHECK(strcmp(x.name, "a b+c d") == 0);
  CHECK_EQ_INT(x.same_later, 1);
}

/* ---------------------------------------------------------------------------------------------- */
/* The ping timeout counts from when the ping was due, not from a late timer                       */

typedef struct {
  uint64_t opened_ns, closed_ns;
  char reason[32];
} late_ctx_t;

static void late_connection(sio_engine_t *e, sio_session_t *s) {
  (void)s;
  late_ctx_t *x = sio_engine_get_data(e);
  x->opened_ns = uv_hrtime();
}

static void late_close(sio_session_t *s, const char *reason) {
  late_ctx_t *x = sio_engine_get_data(sio_session_engine(s));
  x->closed_ns = uv_hrtime();
  snprintf(x->reason, sizeof x->reason, "%s", reason);
}

static const sio_engine_callbacks_t late_cbs = {late_connection, NULL, late_close, NULL};

/* A busy loop (a long handler; a worker thread waiting for Python's GIL) runs the ping timer late. */
static void stall_loop(nh_t *h, void *arg) {
  (void)h;
  (void)arg;
  uv_sleep(500);
}

static void client_late_ping(nh_t *h) {
  nc_response_t r;
  nc_conn_t *c = nh_connect(h, 0);
  CHECK(c);
  CHECK_EQ_INT(nc_request(c, "GET", POLL_TARGET, NULL, NULL, 0, &r), 0);
  CHECK_EQ_INT(r.status, 200);
  CHECK_EQ_INT(nh_call(h, stall_loop, NULL), 0); /* the ping, due at 100 ms, goes at ~500 */
  uv_sleep(2000);
}

/* Interval 100 ms, timeout 1000 ms, the loop stalled for the first 500 ms: the session ends at
 * 100 + 1000 ms (a timeout counted from the late ping would end it at ~1500). */
TEST(ping_timeout_counts_from_the_due_ping) {
  late_ctx_t x;
  memset(&x, 0, sizeof x);
  nh_t h;
  CHECK_EQ_INT(nh_init(&h), 0);
  sio_engine_options_t o;
  sio_engine_options_init(&o);
  o.path = "/engine.io/";
  o.ping_interval_ms = 100;
  o.ping_timeout_ms = 1000;
  sio_engine_t *e;
  CHECK_EQ_INT(sio_engine_new(h.server, &o, &late_cbs, &e), 0);
  sio_engine_set_data(e, &x);
  CHECK_EQ_INT(nh_run(&h, client_late_ping, CASE_TIMEOUT_MS), 0);
  CHECK(strcmp(x.reason, "ping timeout") == 0);
  double ms = (double)(x.closed_ns - x.opened_ns) / 1e6;
  if (ms < 1050 || ms > 1400) fprintf(stderr, "closed after %.0f ms\n", ms);
  CHECK(ms >= 1050 && ms <= 1400);
}

/* ---------------------------------------------------------------------------------------------- */
/* The polling part of a session (issue 22): allocated with a polling handshake, kept while polling,
 * freed once upgraded; a WebSocket session never has one. What it holds (the parked GET's CORS
 * lines, the probe and its timer, the JSONP index) must work each way.                           */

typedef struct {
  rec_t rec;
  sio_engine_t *e;
  const char *sid; /* the session nh_call's part_probe looks at */
  int part;        /* what it found: 1 part, 0 none, -1 no such session */
  char method[8], url[96]; /* and its handshake's, as sio_session_request gives them */
} part_ctx_t;

static void part_probe(nh_t *h, void *arg) {
  part_ctx_t *x = arg;
  sio_session_t *s = sio_engine_find(x->e, x->sid);
  x->part = s ? sio__session_has_poll_part(s) : -1;
  const sio_request_info_t *info = s ? sio_session_request(s) : NULL;
  snprintf(x->method, sizeof x->method, "%s", info ? info->method : "");
  snprintf(x->url, sizeof x->url, "%s", info ? info->url : "");
}

static int has_part(nh_t *h, const char *sid) {
  part_ctx_t *x = h->user;
  x->sid = sid;
  x->part = -2;
  if (nh_call(h, part_probe, x) != 0) return -2;
  return x->part;
}

typedef struct {
  part_ctx_t *x;
  const char *sid;
  const char *text;
} part_send_t;

static void part_send(nh_t *h, void *arg) {
  part_send_t *a = arg;
  sio_session_t *s = sio_engine_find(a->x->e, a->sid);
  if (s) sio_session_send(s, a->text, strlen(a->text), 0);
}

#define ORIGIN "Origin: http://a.example\r\n"

static void client_poll_part(nh_t *h) {
  part_ctx_t *x = h->user;
  nc_response_t r;
  char sid[3][21], target[160], v[128];
  /* 1. Polling, never upgraded: a parked GET answered later carries its CORS lines. */
  nc_conn_t *c = nh_connect(h, 0), *g = nh_connect(h, 0);
  CHECK(c && g);
  CHECK_EQ_INT(poll_open(c, POLL_TARGET, ORIGIN, &r, sid[0]), 0);
  CHECK_EQ_INT(has_part(h, sid[0]), 1);
  snprintf(target, sizeof target, POLL_TARGET "&sid=%s", sid[0]);
  for (int i = 0; i < 2; i++) {
    CHECK_EQ_INT(nc_request(g, "GET", target, ORIGIN, NULL, 0, NULL), 0);
    nh_sleep_ms(30);
    part_send_t a = {x, sid[0], i ? "second" : "first"};
    CHECK_EQ_INT(nh_call(h, part_send, &a), 0);
    CHECK_EQ_INT(nc_read_response(g, &r), 0);
    CHECK_EQ_INT(r.status, 200);
    CHECK_STR(r.body, r.body_len, i ? "4second" : "4first");
    CHECK_EQ_INT(nc_header(&r, "access-control-allow-origin", v, sizeof v), 1);
    CHECK(strcmp(v, "http://a.example") == 0);
  }
  CHECK_EQ_INT(nc_request(c, "POST", target, NULL, "4up", 3, &r), 0);
  CHECK_EQ_INT(r.status, 200);
  CHECK_EQ_INT(has_part(h, sid[0]), 1);

  /* 2. Polling, then upgraded: the part goes with the upgrade; the old poll gets its NOOP with
   * its CORS lines. */
  nc_conn_t *p = nh_connect(h, 0), *q = nh_connect(h, 0), *w = nh_connect(h, 0);
  CHECK(p && q && w);
  CHECK_EQ_INT(poll_open(p, POLL_TARGET, ORIGIN, &r, sid[1]), 0);
  snprintf(target, sizeof target, POLL_TARGET "&sid=%s", sid[1]);
  CHECK_EQ_INT(nc_request(q, "GET", target, ORIGIN, NULL, 0, NULL), 0);
  nh_sleep_ms(30);
  snprintf(target, sizeof target, WS_TARGET "&sid=%s", sid[1]);
  CHECK_EQ_INT(nc_ws_open(w, target, &r), 0);
  CHECK_EQ_INT(nc_ws_send(w, SIO_WS_OP_TEXT, "2probe", 6), 0);
  CHECK_EQ_INT(ws_expect(w, SIO_WS_OP_TEXT, "3probe", 6), 0);
  CHECK_EQ_INT(nc_read_response(q, &r), 0);
  CHECK_EQ_INT(r.status, 200);
  CHECK_STR(r.body, r.body_len, "6");
  CHECK_EQ_INT(nc_header(&r, "access-control-allow-origin", v, sizeof v), 1);
  CHECK_EQ_INT(has_part(h, sid[1]), 1); /* probed, not yet upgraded */
  CHECK_EQ_INT(nc_ws_send(w, SIO_WS_OP_TEXT, "5", 1), 0);
  CHECK_EQ_INT(nc_ws_send(w, SIO_WS_OP_TEXT, "4over ws", 8), 0);
  nh_sleep_ms(30);
  CHECK_EQ_INT(has_part(h, sid[1]), 0);
  part_send_t a = {x, sid[1], "back"};
  CHECK_EQ_INT(nh_call(h, part_send, &a), 0);
  CHECK_EQ_INT(ws_expect(w, SIO_WS_OP_TEXT, "4back", 5), 0);
  /* A poll on the upgraded session is refused (and ends it, as the reference does). */
  snprintf(target, sizeof target, POLL_TARGET "&sid=%s", sid[1]);
  CHECK_EQ_INT(nc_request(p, "GET", target, NULL, NULL, 0, &r), 0);
  CHECK_EQ_INT(r.status, 400);

  /* 2b. A probe that goes away: the session stays on polling with its part, and polls on. */
  nc_conn_t *w2 = nh_connect(h, 0);
  CHECK(w2);
  CHECK_EQ_INT(poll_open(p, POLL_TARGET, ORIGIN, &r, sid[2]), 0);
  snprintf(target, sizeof target, WS_TARGET "&sid=%s", sid[2]);
  CHECK_EQ_INT(nc_ws_open(w2, target, &r), 0);
  CHECK_EQ_INT(nc_ws_send(w2, SIO_WS_OP_TEXT, "2probe", 6), 0);
  CHECK_EQ_INT(ws_expect(w2, SIO_WS_OP_TEXT, "3probe", 6), 0);
  nc_close(w2);
  nh_sleep_ms(50);
  CHECK_EQ_INT(has_part(h, sid[2]), 1);
  snprintf(target, sizeof target, POLL_TARGET "&sid=%s", sid[2]);
  CHECK_EQ_INT(nc_request(q, "GET", target, ORIGIN, NULL, 0, NULL), 0);
  nh_sleep_ms(30);
  part_send_t b = {x, sid[2], "still polling"};
  CHECK_EQ_INT(nh_call(h, part_send, &b), 0);
  CHECK_EQ_INT(nc_read_response(q, &r), 0);
  CHECK_EQ_INT(r.status, 200);
  CHECK(r.body_len >= 14 && memcmp(r.body + r.body_len - 14, "4still polling", 14) == 0);
  CHECK_EQ_INT(nc_header(&r, "access-control-allow-origin", v, sizeof v), 1);

  /* 3. WebSocket from the start: never a part. */
  nc_conn_t *d = nh_connect(h, 0);
  CHECK(d);
  char dsid[21];
  CHECK_EQ_INT(ws_open(d, WS_TARGET, dsid), 0);
  CHECK_EQ_INT(has_part(h, dsid), 0);
  /* The method and the path kept as codes in the handshake block come back whole. */
  CHECK(strcmp(x->method, "GET") == 0 && strcmp(x->url, WS_TARGET) == 0);
  CHECK_EQ_INT(nc_ws_send(d, SIO_WS_OP_TEXT, "4direct", 7), 0);
  part_send_t e = {x, dsid, "hello"};
  CHECK_EQ_INT(nh_call(h, part_send, &e), 0);
  CHECK_EQ_INT(ws_expect(d, SIO_WS_OP_TEXT, "4hello", 6), 0);
  CHECK_EQ_INT(has_part(h, dsid), 0);

  /* 4. A v3 JSONP session: its callback index lives in the part, for every poll. */
  nc_conn_t *j = nh_connect(h, 0);
  CHECK(j);
  CHECK_EQ_INT(nc_request(j, "GET", "/engine.io/?EIO=3&transport=polling&j=7", NULL, NULL, 0, &r), 0);
  CHECK_EQ_INT(r.status, 200);
  CHECK(r.body_len > 9 && memcmp(r.body, "___eio[7](", 10) == 0);
  const char *k = strstr(r.body, "sid");
  CHECK(k != NULL);
  char jsid[21] = "";
  if (k && strlen(k) > 28) {
    memcpy(jsid, k + 8, 20); /* sid\":\" then the id (escaped quotes inside the script) */
    jsid[20] = '\0';
  }
  CHECK_EQ_INT(has_part(h, jsid), 1);
  CHECK(strcmp(x->url, "/engine.io/?EIO=3&transport=polling&j=7") == 0);
  /* A URL without a known start is kept as sent. */
  char nsid[21];
  CHECK_EQ_INT(poll_open(j, "/engine.io?EIO=4&transport=polling&x=1", NULL, &r, nsid), 0);
  CHECK_EQ_INT(has_part(h, nsid), 1);
  CHECK(strcmp(x->method, "GET") == 0 && strcmp(x->url, "/engine.io?EIO=4&transport=polling&x=1") == 0);
  snprintf(target, sizeof target, "/engine.io/?EIO=3&transport=polling&j=7&sid=%s", jsid);
  CHECK_EQ_INT(nc_request(j, "GET", target, NULL, NULL, 0, NULL), 0);
  nh_sleep_ms(30);
  part_send_t f = {x, jsid, "js"};
  CHECK_EQ_INT(nh_call(h, part_send, &f), 0);
  CHECK_EQ_INT(nc_read_response(j, &r), 0);
  CHECK_EQ_INT(r.status, 200);
  CHECK(r.body_len > 10 && memcmp(r.body, "___eio[7](", 10) == 0);
}

TEST(session_poll_part_each_way) {
  nh_t h;
  part_ctx_t x;
  memset(&x, 0, sizeof x);
  CHECK_EQ_INT(nh_init(&h), 0);
  h.user = &x;
  sio_engine_options_t o;
  sio_engine_options_init(&o);
  o.path = "/engine.io/";
  o.cors_origin = "http://a.example";
  o.allow_eio3 = 1;
  CHECK_EQ_INT(sio_engine_new(h.server, &o, &rec_cbs, &x.e), 0);
  sio_engine_set_data(x.e, &x.rec);
  CHECK_EQ_INT(nh_run(&h, client_poll_part, CASE_TIMEOUT_MS), 0);
  CHECK_EQ_INT(x.rec.connections, 6);
  CHECK(strcmp(x.rec.msg[0], "up") == 0);
  CHECK(strcmp(x.rec.msg[1], "over ws") == 0);
  CHECK(strcmp(x.rec.msg[2], "direct") == 0);
}

TEST_MAIN(RUN(session_poll_part_each_way), RUN(path_root_serves_every_path), RUN(path_longest_route_wins),
          RUN(double_slash_path_is_400), RUN(cors_headers), RUN(session_cookie), RUN(websocket_forced_close),
          RUN(polling_forced_close), RUN(slow_reader_is_closed), RUN(fast_reader_is_kept),
          RUN(error_strings_and_version), RUN(shutdown_with_live_sessions),
          RUN(session_request_info), RUN(ping_timeout_counts_from_the_due_ping))
