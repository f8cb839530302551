/* Integration tests of the Socket.IO layer (sio_io_t, namespaces, sockets, rooms, acks) over real
 * WebSocket connections on 127.0.0.1.
 *
 * Each case builds its own loop, server and Socket.IO server (net_client.h's harness) and runs the
 * loop in this thread while raw clients in a second thread speak Engine.IO/Socket.IO by hand: every
 * frame a client sends or expects is written out here byte for byte. Server-side actions (emits,
 * joins, disconnects) run on the loop thread through nh_call(); what the callbacks recorded is read
 * there too, or by the test after nh_run() has joined the client thread. */
#define NH_MAX_CONNS 128

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "net_client.h"
#include "sio.h"
#include "test.h"

/* The watchdog of one case (each case takes well under a second; ASan is slower). */
#define CASE_TIMEOUT_MS 8000
/* How long a client waits for the server to reach some state. */
#define WAIT_MS 3000

#define MAXS 128 /* sockets recorded per case */
#define MAXE 32  /* events recorded */
#define MAXO 64  /* outgoing events recorded */

/* ---------------------------------------------------------------------------------------------- */
/* What the callbacks saw (written on the loop thread)                                            */

typedef struct {
  char name[32], nsp[24], args[256];
  int64_t ack;
  int sock;
  size_t nbufs;
  char buf0[64];
  size_t buf0len;
} sx_event_t;

typedef struct {
  intptr_t tag;
  int status, sock;
  char args[256];
  size_t nbufs;
  char buf0[64];
  size_t buf0len;
} sx_ack_t;

typedef struct {
  intptr_t tag;
  int status;
  int in_call; /* called from inside sio_nsp_emit_ack() */
  char responses[512];
  size_t nbufs;
  char bufs[4][16];
  size_t buflens[4];
} sx_bcast_t;

typedef struct sx sx_t;
typedef void (*sx_event_fn)(sx_t *x, sio_socket_t *s, const char *event, const sio_args_t *args,
                            int64_t ack_id);

struct sx {
  nh_t h;
  sio_io_t *io;
  sio_nsp_t *root;
  sio_nsp_callbacks_t cbs;
  /* Every socket that connected, by connection order (its data is index + 1); NULL once gone. */
  int nsocks;
  sio_socket_t *socks[MAXS];
  sio_nsp_t *sock_nsp[MAXS];
  char ids[MAXS][48], nsps[MAXS][24], eids[MAXS][24], auths[MAXS][96], reasons[MAXS][32];
  int ndisc[MAXS], ndiscing[MAXS], rooms_at_discing[MAXS], connected_at_conn[MAXS], auth_sent[MAXS];
  int disconnects;
  /* events in */
  int nevents;
  sx_event_t ev[MAXE];
  sx_event_fn on_event;
  /* events out */
  int nout;
  char out_ev[MAXO][24], out_args[MAXO][64];
  int out_sock[MAXO];
  /* acks */
  int nacks;
  sx_ack_t acks[16];
  int nbcast, in_call, bcast_after_call;
  sx_bcast_t bcast[8];
  /* middleware */
  int mw_calls, mw_saw_connected, nheld, mw_action;
  sio_socket_t *held[8];
  uv_timer_t mw_timer;
  /* dynamic namespaces */
  int match_calls;
  sio_nsp_t *parents[3];
  /* on_connection disconnects the socket with its connection (a common "refuse" pattern) */
  int kick;
  /* free for the case */
  int r[16];
  char s[8][64];
  sio_ack_t *kept;
  char handshake[512];
};

static sx_t *io_x(sio_io_t *io) { return sio_io_get_data(io); }
static sx_t *nsp_x(sio_nsp_t *n) { return io_x(sio_nsp_io(n)); }
static sx_t *sock_x(sio_socket_t *s) { return nsp_x(sio_socket_nsp(s)); }
static int sidx(sio_socket_t *s) { return (int)(intptr_t)sio_socket_get_data(s) - 1; }

static void print_json(const cJSON *j, char *out, size_t cap) {
  if (!j) {
    snprintf(out, cap, "null");
    return;
  }
  char *p = cJSON_PrintUnformatted(j);
  snprintf(out, cap, "%s", p ? p : "?");
  cJSON_free(p);
}

static void copy_buf(const sio_args_t *a, size_t i, char *out, size_t cap, size_t *len) {
  *len = 0;
  if (!a || i >= a->nbufs) return;
  size_t n = a->bufs[i].len < cap ? a->bufs[i].len : cap;
  if (n) memcpy(out, a->bufs[i].data, n);
  *len = a->bufs[i].len;
}

static void cb_connection(sio_nsp_t *n, sio_socket_t *s) {
  sx_t *x = nsp_x(n);
  int i = x->nsocks++;
  sio_socket_set_data(s, (void *)(intptr_t)(i + 1));
  if (i >= MAXS) return;
  x->socks[i] = s;
  x->sock_nsp[i] = sio_socket_nsp(s);
  snprintf(x->ids[i], sizeof x->ids[i], "%s", sio_socket_id(s));
  snprintf(x->nsps[i], sizeof x->nsps[i], "%s", sio_nsp_name(sio_socket_nsp(s)));
  snprintf(x->eids[i], sizeof x->eids[i], "%s", sio_session_id(sio_socket_session(s)));
  print_json(sio_socket_auth(s), x->auths[i], sizeof x->auths[i]);
  x->auth_sent[i] = sio_socket_auth_sent(s);
  /* Found by id in its namespace (only there), from the moment it is connected. */
  x->connected_at_conn[i] = sio_socket_connected(s) && sio_nsp_socket(n, sio_socket_id(s)) == s &&
                            sio_nsp_socket(n, "no-such-id") == NULL;
  if (x->kick) sio_socket_disconnect(s, 1);
}

static void cb_event(sio_socket_t *s, const char *event, const sio_args_t *args, int64_t ack) {
  sx_t *x = sock_x(s);
  if (x->nevents < MAXE) {
    sx_event_t *e = &x->ev[x->nevents];
    snprintf(e->name, sizeof e->name, "%s", event);
    snprintf(e->nsp, sizeof e->nsp, "%s", sio_nsp_name(sio_socket_nsp(s)));
    print_json(args ? args->json : NULL, e->args, sizeof e->args);
    e->ack = ack;
    e->sock = sidx(s);
    e->nbufs = args ? args->nbufs : 0;
    copy_buf(args, 0, e->buf0, sizeof e->buf0, &e->buf0len);
  }
  x->nevents++;
  if (x->on_event) x->on_event(x, s, event, args, ack);
}

static void cb_outgoing(sio_socket_t *s, const char *event, const sio_args_t *args) {
  sx_t *x = sock_x(s);
  if (x->nout < MAXO) {
    snprintf(x->out_ev[x->nout], sizeof x->out_ev[0], "%s", event);
    print_json(args ? args->json : NULL, x->out_args[x->nout], sizeof x->out_args[0]);
    x->out_sock[x->nout] = sidx(s);
  }
  x->nout++;
}

static void cb_disconnecting(sio_socket_t *s, const char *reason) {
  sx_t *x = sock_x(s);
  int i = sidx(s);
  if (i < 0 || i >= MAXS) return;
  x->ndiscing[i]++;
  x->rooms_at_discing[i] = (int)sio_socket_room_count(s);
}

static void cb_disconnect(sio_socket_t *s, const char *reason) {
  sx_t *x = sock_x(s);
  int i = sidx(s);
  x->disconnects++;
  if (i < 0 || i >= MAXS) return;
  x->ndisc[i]++;
  snprintf(x->reasons[i], sizeof x->reasons[i], "%s", reason);
  x->socks[i] = NULL;
}

static void sx_on_shutdown(nh_t *h) {
  sx_t *x = h->user;
  uv_close((uv_handle_t *)&x->mw_timer, NULL);
}

/* Connection state recovery for the next fixture (a case sets it, sx_new2 reads it): 1 on, 2 on
 * without skip_middlewares. */
static int sx_recovery;

/* A case's fixture: a server with a Socket.IO server at /socket.io/ (EIO3 allowed) whose "/" has
 * the recording callbacks. 0 keeps a default. NULL on failure. */
static sx_t *sx_new2(uint32_t connect_timeout_ms, uint32_t ping_interval_ms, uint32_t ping_timeout_ms) {
  /* One fixture at a time, in static storage: a case that fails half-way leaks nothing. */
  static sx_t fixture;
  sx_t *x = &fixture;
  memset(x, 0, sizeof *x);
  if (nh_init(&x->h) != 0) goto fail;
  x->h.user = x;
  x->h.on_shutdown = sx_on_shutdown;
  sio_io_options_t o;
  sio_io_options_init(&o);
  o.engine.allow_eio3 = 1;
  if (connect_timeout_ms) o.connect_timeout_ms = connect_timeout_ms;
  if (ping_interval_ms) o.engine.ping_interval_ms = ping_interval_ms;
  if (ping_timeout_ms) o.engine.ping_timeout_ms = ping_timeout_ms;
  o.connection_state_recovery.enabled = sx_recovery != 0;
  o.connection_state_recovery.skip_middlewares = sx_recovery != 2;
  if (sio_io_new(x->h.server, &o, &x->io) != 0) goto fail;
  sio_io_set_data(x->io, x);
  if (sio_io_of(x->io, "/", &x->root) != 0) goto fail;
  x->cbs = (sio_nsp_callbacks_t){.on_connection = cb_connection,
                                 .on_event = cb_event,
                                 .on_outgoing = cb_outgoing,
                                 .on_disconnecting = cb_disconnecting,
                                 .on_disconnect = cb_disconnect};
  sio_nsp_set_callbacks(x->root, &x->cbs);
  uv_timer_init(&x->h.loop, &x->mw_timer);
  x->mw_timer.data = x;
  return x;
fail:
  fprintf(stderr, "sx_new failed\n");
  return NULL;
}

static sx_t *sx_new(uint32_t connect_timeout_ms) { return sx_new2(connect_timeout_ms, 0, 0); }

/* "ok" lines and failure reports in the order they happen, also when a case crashes. */
__attribute__((constructor)) static void unbuffered_stdout(void) { setvbuf(stdout, NULL, _IONBF, 0); }

/* Runs a case in a child process, so that a crash (or a sanitizer's report, leaks included) fails
 * that case alone and the others still run and are counted. */
static int run_forked(void (*fn)(void)) {
  fflush(NULL);
  pid_t pid = fork();
  if (pid < 0) return 0;
  if (pid == 0) {
    test_failed_ = 0;
    fn();
    fflush(NULL);
    exit(test_failed_ ? 1 : 0); /* exit, not _exit: LeakSanitizer checks at exit */
  }
  int st = 0;
  if (waitpid(pid, &st, 0) != pid) return 0;
  if (WIFSIGNALED(st)) fprintf(stderr, "the case died of signal %d\n", WTERMSIG(st));
  return WIFEXITED(st) && WEXITSTATUS(st) == 0;
}

/* A namespace with the recording callbacks. */
static sio_nsp_t *sx_of(sx_t *x, const char *name) {
  sio_nsp_t *n = NULL;
  if (sio_io_of(x->io, name, &n) == 0) sio_nsp_set_callbacks(n, &x->cbs);
  return n;
}

static int sx_run(sx_t *x, nh_client_fn client) { return nh_run(&x->h, client, CASE_TIMEOUT_MS); }

/* ---------------------------------------------------------------------------------------------- */
/* Waiting for the loop thread (client side)                                                      */

typedef int (*sx_pred_fn)(sx_t *x, void *arg);
typedef struct {
  sx_pred_fn fn;
  void *arg;
  int ok;
} pred_call_t;

static void pred_run(nh_t *h, void *a) {
  pred_call_t *p = a;
  p->ok = p->fn(h->user, p->arg);
}

/* Polls pred on the loop thread until it holds: 0, or -1 after WAIT_MS. */
static int sx_until(nh_t *h, sx_pred_fn fn, void *arg, const char *what) {
  uint64_t deadline = uv_hrtime() + (uint64_t)WAIT_MS * 1000000u;
  pred_call_t p = {fn, arg, 0};
  for (;;) {
    if (nh_call(h, pred_run, &p) != 0) return -1;
    if (p.ok) return 0;
    if (uv_hrtime() > deadline) {
      fprintf(stderr, "waited in vain for %s\n", what);
      return -1;
    }
    nh_sleep_ms(1);
  }
}

typedef struct {
  const int *p;
  int n;
} ge_t;
static int pred_ge(sx_t *x, void *a) {
  ge_t *g = a;
  return *g->p >= g->n;
}
#define WAIT_GE(h, x, field, n)                                           \
  do {                                                                    \
    ge_t g_ = {&(x)->field, (n)};                                         \
    CHECK_EQ_INT(sx_until((h), pred_ge, &g_, #field " >= " #n), 0);      \
  } while (0)

/* Reads an int field on the loop thread. */
typedef struct {
  const int *p;
  int v;
} rd_t;
static void rd_int(nh_t *h, void *a) {
  rd_t *r = a;
  r->v = *r->p;
}
static int sx_read(nh_t *h, const int *p) {
  rd_t r = {p, -12345};
  nh_call(h, rd_int, &r);
  return r.v;
}

static int pred_no_sessions(sx_t *x, void *a) {
  return sio_engine_session_count(sio_io_engine(x->io)) == 0;
}

/* ---------------------------------------------------------------------------------------------- */
/* The raw client (client thread). Helpers print why and return -1; callers CHECK.               */

static int sc_read(nc_conn_t *c, int *op, char *buf, size_t cap, size_t *n) {
  int r = nc_ws_read(c, op, buf, cap - 1, n);
  if (r == 0) buf[*n] = '\0';
  return r;
}

/* A WebSocket connection to /socket.io/ with Engine.IO version eio; reads the OPEN packet and
 * copies its session id to eid (may be NULL). */
static nc_conn_t *sc_open(nh_t *h, int eio, char eid[21]) {
  nc_conn_t *c = nh_connect(h, 0);
  if (!c) return NULL;
  nc_response_t *r = malloc(sizeof *r);
  char target[64], buf[512];
  snprintf(target, sizeof target, "/socket.io/?EIO=%d&transport=websocket", eio);
  int ok = r && nc_ws_open(c, target, r) == 0;
  free(r);
  if (!ok) return NULL;
  size_t n;
  int op;
  if (sc_read(c, &op, buf, sizeof buf, &n) != 0 || op != SIO_WS_OP_TEXT ||
      strncmp(buf, "0{\"sid\":\"", 9) != 0 || n < 29 || buf[29] != '"') {
    fprintf(stderr, "sc_open: not an OPEN packet: %s\n", buf);
    return NULL;
  }
  if (eid) {
    memcpy(eid, buf + 9, 20);
    eid[20] = '\0';
  }
  return c;
}

static int sc_send(nc_conn_t *c, const char *text) {
  return nc_ws_send(c, SIO_WS_OP_TEXT, text, strlen(text));
}

static int sc_sendf(nc_conn_t *c, const char *fmt, ...) {
  char buf[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  return sc_send(c, buf);
}

static int sc_send_bin(nc_conn_t *c, const void *data, size_t len) {
  return nc_ws_send(c, SIO_WS_OP_BINARY, data, len);
}

/* The next frame is a text frame holding exactly `text`. */
static int sc_expect(nc_conn_t *c, const char *text) {
  char buf[4096];
  size_t n;
  int op;
  int r = sc_read(c, &op, buf, sizeof buf, &n);
  if (r != 0) {
    fprintf(stderr, "sc_expect: no frame (%d) where \"%s\" was due\n", r, text);
    return -1;
  }
  if (op != SIO_WS_OP_TEXT || strlen(text) != n || memcmp(buf, text, n) != 0) {
    fprintf(stderr, "sc_expect:\n  got  (op %d) %s\n  want %s\n", op, buf, text);
    return -1;
  }
  return 0;
}

/* The next frame is a binary frame holding exactly data[0..len). */
static int sc_expect_bin(nc_conn_t *c, const void *data, size_t len) {
  char buf[4096];
  size_t n;
  int op;
  if (sc_read(c, &op, buf, sizeof buf, &n) != 0) return -1;
  if (op != SIO_WS_OP_BINARY || n != len || memcmp(buf, data, len) != 0) {
    fprintf(stderr, "sc_expect_bin: got op %d, %zu bytes (want %zu)\n", op, n, len);
    return -1;
  }
  return 0;
}

/* The server closes: a close frame without payload, then the end of the stream. */
static int sc_expect_close(nc_conn_t *c) {
  char buf[4096];
  size_t n;
  int op;
  int r = sc_read(c, &op, buf, sizeof buf, &n);
  if (r != 0 || op != SIO_WS_OP_CLOSE || n != 0) {
    fprintf(stderr, "sc_expect_close: got r=%d op=%d \"%s\"\n", r, r ? -1 : op, r ? "" : buf);
    return -1;
  }
  return nc_read_eof(c);
}

/* Reads `42<id><rest>` (an event asking for an ack, in "/"): the id goes to *id. */
static int sc_expect_ack_req(nc_conn_t *c, const char *prefix, const char *rest, long *id) {
  char buf[4096];
  size_t n, pl = strlen(prefix);
  int op;
  if (sc_read(c, &op, buf, sizeof buf, &n) != 0 || op != SIO_WS_OP_TEXT) return -1;
  char *end = NULL;
  if (n <= pl || memcmp(buf, prefix, pl) != 0 || buf[pl] < '0' || buf[pl] > '9') goto bad;
  *id = strtol(buf + pl, &end, 10);
  if (strcmp(end, rest) != 0) goto bad;
  return 0;
bad:
  fprintf(stderr, "sc_expect_ack_req: got %s, want %s<id>%s\n", buf, prefix, rest);
  return -1;
}

/* Connects the client to namespace nsp ("/" or "/x") with an optional auth payload and expects
 * `40[<nsp>,]{"sid":"<20 chars>"}`; the socket id goes to sid (may be NULL). */
static int sc_join(nc_conn_t *c, const char *nsp, const char *auth, char sid[21]) {
  char msg[256], want[128], buf[512];
  const char *pre = strcmp(nsp, "/") ? nsp : "";
  snprintf(msg, sizeof msg, "40%s%s%s", pre, *pre ? "," : "", auth ? auth : "");
  if (sc_send(c, msg) != 0) return -1;
  snprintf(want, sizeof want, "40%s%s{\"sid\":\"", pre, *pre ? "," : "");
  size_t n, wl = strlen(want);
  int op;
  if (sc_read(c, &op, buf, sizeof buf, &n) != 0) return -1;
  if (op != SIO_WS_OP_TEXT || n != wl + 22 || memcmp(buf, want, wl) != 0 ||
      strcmp(buf + wl + 20, "\"}") != 0) {
    fprintf(stderr, "sc_join %s: got %s\n", nsp, buf);
    return -1;
  }
  for (size_t i = wl; i < wl + 20; i++) {
    char ch = buf[i];
    if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
          ch == '-' || ch == '_')) {
      fprintf(stderr, "sc_join: id not URL-safe: %s\n", buf);
      return -1;
    }
  }
  if (sid) {
    memcpy(sid, buf + wl, 20);
    sid[20] = '\0';
  }
  return 0;
}

/* An Engine.IO v4 client connected to "/". */
static nc_conn_t *sc_client(nh_t *h, char sid[21]) {
  nc_conn_t *c = sc_open(h, 4, NULL);
  if (c && sc_join(c, "/", NULL, sid) != 0) return NULL;
  return c;
}

/* ---------------------------------------------------------------------------------------------- */
/* Loop-thread helpers                                                                            */

static int emit_json(sio_socket_t *s, const char *event, const char *json, int flags) {
  cJSON *j = json ? cJSON_Parse(json) : NULL;
  sio_args_t a = {j, NULL, 0};
  int r = sio_socket_emit(s, event, json ? &a : NULL, flags);
  cJSON_Delete(j);
  return r;
}

static int nsp_emit_json(sio_nsp_t *n, const sio_target_t *to, const char *event, const char *json) {
  cJSON *j = json ? cJSON_Parse(json) : NULL;
  sio_args_t a = {j, NULL, 0};
  int r = sio_nsp_emit(n, to, event, json ? &a : NULL);
  cJSON_Delete(j);
  return r;
}

/* Emits `event` (no args) to the whole of "/". */
static void L_emit_all(nh_t *h, void *event) {
  sx_t *x = h->user;
  x->r[15] = sio_nsp_emit(x->root, NULL, event, NULL);
}

static void L_close_server(nh_t *h, void *arg) { nh_close_server(h); }

/* ============================================================================================== */
/* 1. CONNECT                                                                                     */

static void client_connect(nh_t *h) {
  sx_t *x = h->user;
  char eid[21], sid[21], sidc[21], sid2[21];
  nc_conn_t *c = sc_open(h, 4, eid);
  CHECK(c);
  CHECK_EQ_INT(sc_join(c, "/", NULL, sid), 0);
  /* The socket id is a new random one, never the Engine.IO id (which would let others resume). */
  CHECK(strcmp(sid, eid) != 0);
  CHECK_EQ_INT(sc_join(c, "/chat", NULL, sidc), 0);
  CHECK(strcmp(sidc, sid) != 0 && strcmp(sidc, eid) != 0);
  CHECK_EQ_INT(sc_send(c, "40/nope,"), 0);
  CHECK_EQ_INT(sc_expect(c, "44/nope,{\"message\":\"Invalid namespace\"}"), 0);
  /* With an auth payload. */
  nc_conn_t *d = sc_open(h, 4, NULL);
  CHECK(d);
  CHECK_EQ_INT(sc_join(d, "/", "{\"token\":\"x\"}", sid2), 0);
  /* The refusal left the first connection in use. */
  CHECK_EQ_INT(nh_call(h, L_emit_all, "hi"), 0);
  CHECK_EQ_INT(x->r[15], 0);
  CHECK_EQ_INT(sc_expect(c, "42[\"hi\"]"), 0);
  CHECK_EQ_INT(sc_expect(d, "42[\"hi\"]"), 0);
  snprintf(x->s[0], 64, "%s", eid);
  snprintf(x->s[1], 64, "%s", sid);
  snprintf(x->s[2], 64, "%s", sidc);
  snprintf(x->s[3], 64, "%s", sid2);
}

TEST(connect_root_auth_and_unknown_namespace) {
  sx_t *x = sx_new(0);
  CHECK(x);
  CHECK(sx_of(x, "chat"));
  int r = sx_run(x, client_connect);
  CHECK_EQ_INT(r, 0);
  CHECK_EQ_INT(x->nsocks, 3);
  CHECK(strcmp(x->ids[0], x->s[1]) == 0);
  CHECK(strcmp(x->eids[0], x->s[0]) == 0);
  CHECK(strcmp(x->nsps[0], "/") == 0);
  CHECK(strcmp(x->auths[0], "{}") == 0); /* no payload: an empty object, never NULL */
  CHECK_EQ_INT(x->auth_sent[0], 0);
  CHECK_EQ_INT(x->auth_sent[2], 1);
  CHECK(strcmp(x->ids[1], x->s[2]) == 0);
  CHECK(strcmp(x->nsps[1], "/chat") == 0);
  CHECK(strcmp(x->eids[1], x->s[0]) == 0); /* the same Engine.IO session */
  CHECK(strcmp(x->ids[2], x->s[3]) == 0);
  CHECK(strcmp(x->auths[2], "{\"token\":\"x\"}") == 0);
  for (int i = 0; i < 3; i++) CHECK_EQ_INT(x->connected_at_conn[i], 1);
  /* Every socket got exactly one on_disconnecting and one on_disconnect by the end. */
  CHECK_EQ_INT(x->disconnects, 3);
  for (int i = 0; i < 3; i++) CHECK(x->ndisc[i] == 1 && x->ndiscing[i] == 1);
}

/* ============================================================================================== */
/* 2. Middleware completing asynchronously                                                        */

enum { MW_NEXT = 1, MW_REFUSE_MSG, MW_REFUSE_DATA, MW_HOLD };

static void mw_fire(uv_timer_t *t) {
  sx_t *x = t->data;
  sio_socket_t *s = x->held[0];
  x->held[0] = NULL;
  x->nheld = 0;
  if (x->mw_action == MW_NEXT) {
    sio_socket_next(s);
  } else if (x->mw_action == MW_REFUSE_MSG) {
    sio_socket_refuse(s, "no", NULL);
  } else {
    cJSON *d = cJSON_Parse("{\"code\":42}");
    sio_socket_refuse(s, "no", d);
    cJSON_Delete(d);
  }
}

/* arg: what to do, 20 ms later from a timer (MW_HOLD: nothing; the test decides). */
static void mw_async(sio_socket_t *s, void *arg) {
  sx_t *x = sock_x(s);
  x->mw_calls++;
  x->mw_saw_connected += sio_socket_connected(s);
  int act = (int)(intptr_t)arg;
  if (act == MW_HOLD) {
    x->held[x->nheld++] = s;
    return;
  }
  x->held[0] = s;
  x->nheld = 1;
  x->mw_action = act;
  uv_timer_start(&x->mw_timer, mw_fire, 20, 0);
}

static void client_mw(nh_t *h) {
  sx_t *x = h->user;
  char sid[21];
  nc_conn_t *c = sc_open(h, 4, NULL);
  CHECK(c);
  CHECK_EQ_INT(sc_send(c, "40/admin,"), 0); /* next, then refused with data */
  CHECK_EQ_INT(sc_expect(c, "44/admin,{\"message\":\"no\",\"data\":{\"code\":42}}"), 0);
  CHECK_EQ_INT(sc_send(c, "40/admin2,"), 0); /* refused without data */
  CHECK_EQ_INT(sc_expect(c, "44/admin2,{\"message\":\"no\"}"), 0);
  CHECK_EQ_INT(sc_join(c, "/ok", NULL, sid), 0); /* next, next */
  /* A refused namespace may be tried again on the same connection. */
  CHECK_EQ_INT(sc_send(c, "40/admin,"), 0);
  CHECK_EQ_INT(sc_expect(c, "44/admin,{\"message\":\"no\",\"data\":{\"code\":42}}"), 0);
  CHECK_EQ_INT(sc_join(c, "/", NULL, sid), 0);
  CHECK_EQ_INT(sx_read(h, &x->mw_calls), 7);

  /* An Engine.IO v3 client (socket.io 2.x): the bare data, or else the bare message. */
  nc_conn_t *v3 = sc_open(h, 3, NULL);
  CHECK(v3);
  CHECK_EQ_INT(sc_expect(v3, "40"), 0);
  CHECK_EQ_INT(sc_send(v3, "40/admin,"), 0);
  CHECK_EQ_INT(sc_expect(v3, "44/admin,{\"code\":42}"), 0);
  CHECK_EQ_INT(sc_send(v3, "40/admin2,"), 0);
  CHECK_EQ_INT(sc_expect(v3, "44/admin2,\"no\""), 0);
  CHECK_EQ_INT(sc_send(v3, "40/ok,"), 0);
  CHECK_EQ_INT(sc_expect(v3, "40/ok,"), 0);
  CHECK_EQ_INT(sx_read(h, &x->mw_calls), 12);
}

TEST(middleware_async_next_and_refuse) {
  sx_t *x = sx_new(0);
  CHECK(x);
  sio_nsp_t *admin = sx_of(x, "/admin"), *admin2 = sx_of(x, "/admin2"), *ok = sx_of(x, "/ok");
  CHECK(admin && admin2 && ok);
  CHECK_EQ_INT(sio_nsp_use(admin, NULL, NULL), SIO_EINVAL);
  CHECK_EQ_INT(sio_nsp_use(admin, mw_async, (void *)MW_NEXT), 0);
  CHECK_EQ_INT(sio_nsp_use(admin, mw_async, (void *)MW_REFUSE_DATA), 0);
  CHECK_EQ_INT(sio_nsp_use(admin2, mw_async, (void *)MW_REFUSE_MSG), 0);
  CHECK_EQ_INT(sio_nsp_use(ok, mw_async, (void *)MW_NEXT), 0);
  CHECK_EQ_INT(sio_nsp_use(ok, mw_async, (void *)MW_NEXT), 0);
  CHECK_EQ_INT(sx_run(x, client_mw), 0);
  CHECK_EQ_INT(x->mw_calls, 12);
  CHECK_EQ_INT(x->mw_saw_connected, 0); /* not connected while in middleware */
  /* Connected: v4 "/ok", v4 "/", v3 "/" (at once), v3 "/ok"; never a refused one. */
  CHECK_EQ_INT(x->nsocks, 4);
  CHECK(strcmp(x->nsps[0], "/ok") == 0 && strcmp(x->nsps[1], "/") == 0);
  CHECK(strcmp(x->nsps[2], "/") == 0 && strcmp(x->nsps[3], "/ok") == 0);
  CHECK_EQ_INT(x->disconnects, 4);
}

/* ---- the client leaves while its socket is in middleware ---- */

static void L_mw_release(nh_t *h, void *arg) {
  sx_t *x = h->user;
  /* held[0]: next() after its client left; held[1]: refuse(); held[2]: next() after the client's
   * connection was closed by sio_socket_disconnect(close=1). */
  sio_socket_next(x->held[0]);
  sio_socket_refuse(x->held[1], "late", NULL);
  sio_socket_next(x->held[2]);
  x->nheld = 0;
}

static void L_disconnect_close(nh_t *h, void *arg) {
  sx_t *x = h->user;
  int i = (int)(intptr_t)arg;
  if (x->socks[i]) sio_socket_disconnect(x->socks[i], 1);
}

static int pred_disc_and_no_sessions(sx_t *x, void *a) {
  return x->disconnects >= 2 && pred_no_sessions(x, NULL);
}

static void client_mw_leave(nh_t *h) {
  sx_t *x = h->user;
  /* c1 is in "/" and waits in "/slow"; c2 only waits in "/slow". */
  nc_conn_t *c1 = sc_client(h, NULL);
  CHECK(c1);
  CHECK_EQ_INT(sc_send(c1, "40/slow,"), 0);
  WAIT_GE(h, x, mw_calls, 1);
  nc_conn_t *c2 = sc_open(h, 4, NULL);
  CHECK(c2);
  CHECK_EQ_INT(sc_send(c2, "40/slow,"), 0);
  WAIT_GE(h, x, mw_calls, 2);
  /* c3 is in "/" and waits in "/slow", then the server closes its whole connection. */
  nc_conn_t *c3 = sc_client(h, NULL);
  CHECK(c3);
  CHECK_EQ_INT(sc_send(c3, "40/slow,"), 0);
  WAIT_GE(h, x, mw_calls, 3);
  CHECK_EQ_INT(nh_call(h, L_disconnect_close, (void *)(intptr_t)1), 0);
  CHECK_EQ_INT(sc_expect(c3, "41"), 0);
  CHECK_EQ_INT(sc_expect_close(c3), 0);
  nc_close(c1);
  nc_close(c2);
  CHECK_EQ_INT(sx_until(h, pred_disc_and_no_sessions, NULL, "every session gone"), 0);
  /* Now the middleware completes, for sockets whose clients are gone. */
  CHECK_EQ_INT(nh_call(h, L_mw_release, NULL), 0);
  CHECK_EQ_INT(sx_read(h, &x->nsocks), 2);
}

TEST(middleware_client_leaves_before_next) {
  sx_t *x = sx_new(0);
  CHECK(x);
  sio_nsp_t *slow = sx_of(x, "/slow");
  CHECK(slow);
  CHECK_EQ_INT(sio_nsp_use(slow, mw_async, (void *)MW_HOLD), 0);
  CHECK_EQ_INT(sx_run(x, client_mw_leave), 0);
  CHECK_EQ_INT(x->mw_calls, 3);
  CHECK_EQ_INT(x->nsocks, 2); /* c1's and c3's "/" only */
  CHECK(strcmp(x->reasons[0], "transport close") == 0);
  CHECK(strcmp(x->reasons[1], "server namespace disconnect") == 0);
  CHECK_EQ_INT(x->disconnects, 2);
}

/* ============================================================================================== */
/* 3. Dynamic namespaces                                                                          */

static int match_m(sio_nsp_t *parent, const char *name, const cJSON *auth) {
  sx_t *x = nsp_x(parent);
  x->match_calls++;
  return strncmp(name, "/m-", 3) == 0 && cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(auth, "ok"));
}

static void mw_sync_next(sio_socket_t *s, void *arg) {
  sock_x(s)->mw_calls++;
  sio_socket_next(s);
}

static void L_dyn(nh_t *h, void *arg) {
  sx_t *x = h->user;
  sio_nsp_t *p1 = x->parents[0], *p2 = x->parents[1];
  x->r[0] = (int)sio_nsp_socket_count(p1);
  x->r[1] = (int)sio_nsp_socket_count(p2);
  /* sockets: 0 c1 /dyn-1, 1 c2 /dyn-2, 2 c3 /dyn-1, 3 c2 /m-a, 4 c3 /m-zed */
  x->r[2] = sio_nsp_parent(x->sock_nsp[0]) == p1 && sio_nsp_parent(x->sock_nsp[1]) == p1 &&
            sio_nsp_parent(x->sock_nsp[3]) == p2 && sio_nsp_parent(x->sock_nsp[4]) == p2 &&
            x->sock_nsp[0] == x->sock_nsp[2] && sio_nsp_parent(p1) == NULL;
  x->r[3] = (int)sio_nsp_socket_count(x->sock_nsp[0]);
  x->r[4] = nsp_emit_json(p1, NULL, "hello", "[1]");
  x->r[5] = sio_nsp_emit(p2, NULL, "m", NULL);
}

static void client_dyn(nh_t *h) {
  sx_t *x = h->user;
  nc_conn_t *c1 = sc_open(h, 4, NULL), *c2 = sc_open(h, 4, NULL), *c3 = sc_open(h, 4, NULL);
  CHECK(c1 && c2 && c3);
  CHECK_EQ_INT(sc_join(c1, "/dyn-1", NULL, NULL), 0);
  CHECK_EQ_INT(sc_join(c2, "/dyn-2", NULL, NULL), 0);
  CHECK_EQ_INT(sc_join(c3, "/dyn-1", NULL, NULL), 0);
  /* Neither the regex nor the match callback takes these. */
  CHECK_EQ_INT(sc_send(c1, "40/dyn-x,"), 0);
  CHECK_EQ_INT(sc_expect(c1, "44/dyn-x,{\"message\":\"Invalid namespace\"}"), 0);
  CHECK_EQ_INT(sc_join(c2, "/m-a", "{\"ok\":true}", NULL), 0);
  CHECK_EQ_INT(sc_send(c3, "40/m-b,{\"ok\":false}"), 0);
  CHECK_EQ_INT(sc_expect(c3, "44/m-b,{\"message\":\"Invalid namespace\"}"), 0);
  /* Both the second and the third parent would take it: the first created wins. */
  CHECK_EQ_INT(sc_join(c3, "/m-zed", "{\"ok\":true}", NULL), 0);
  CHECK_EQ_INT(nh_call(h, L_dyn, NULL), 0);
  /* A broadcast on the parent reaches every child's sockets; the other parent's only its own. */
  CHECK_EQ_INT(sc_expect(c1, "42/dyn-1,[\"hello\",1]"), 0);
  CHECK_EQ_INT(sc_expect(c2, "42/dyn-2,[\"hello\",1]"), 0);
  CHECK_EQ_INT(sc_expect(c2, "42/m-a,[\"m\"]"), 0);
  CHECK_EQ_INT(sc_expect(c3, "42/dyn-1,[\"hello\",1]"), 0);
  CHECK_EQ_INT(sc_expect(c3, "42/m-zed,[\"m\"]"), 0);
  /* Events in a child reach the parent's callbacks. */
  CHECK_EQ_INT(sc_send(c2, "42/dyn-2,[\"ev\",2]"), 0);
  WAIT_GE(h, x, nevents, 1);
}

TEST(dynamic_namespaces) {
  sx_t *x = sx_new(0);
  CHECK(x);
  sio_nsp_t *bad;
  CHECK_EQ_INT(sio_io_dynamic(x->io, "(", NULL, &bad), SIO_EINVAL);
  CHECK_EQ_INT(sio_io_dynamic(x->io, "^/dyn-[0-9]+$", NULL, &x->parents[0]), 0);
  CHECK_EQ_INT(sio_io_dynamic(x->io, NULL, match_m, &x->parents[1]), 0);
  CHECK_EQ_INT(sio_io_dynamic(x->io, "^/m-z", NULL, &x->parents[2]), 0);
  for (int i = 0; i < 3; i++) sio_nsp_set_callbacks(x->parents[i], &x->cbs);
  CHECK_EQ_INT(sio_nsp_use(x->parents[0], mw_sync_next, NULL), 0);
  CHECK_EQ_INT(sx_run(x, client_dyn), 0);
  CHECK_EQ_INT(x->nsocks, 5);
  CHECK(strcmp(x->nsps[0], "/dyn-1") == 0 && strcmp(x->nsps[1], "/dyn-2") == 0);
  CHECK(strcmp(x->nsps[3], "/m-a") == 0 && strcmp(x->nsps[4], "/m-zed") == 0);
  CHECK_EQ_INT(x->r[0], 3);
  CHECK_EQ_INT(x->r[1], 2);
  CHECK_EQ_INT(x->r[2], 1);
  CHECK_EQ_INT(x->r[3], 2);
  CHECK_EQ_INT(x->r[4], 0);
  CHECK_EQ_INT(x->r[5], 0);
  CHECK_EQ_INT(x->mw_calls, 3); /* the parent's middleware ran for its children's sockets */
  /* /dyn-x, /m-a, /m-b (twice: not a dyn name either), /m-zed: asked only when the regex passed. */
  CHECK(x->match_calls >= 3);
  CHECK_EQ_INT(x->nevents, 1);
  CHECK(strcmp(x->ev[0].name, "ev") == 0 && strcmp(x->ev[0].nsp, "/dyn-2") == 0);
  CHECK(strcmp(x->ev[0].args, "[2]") == 0);
  CHECK_EQ_INT(x->disconnects, 5);
}

/* ============================================================================================== */
/* 4. Events in and out, acks to the client, binary                                               */

static void events_hook(sx_t *x, sio_socket_t *s, const char *event, const sio_args_t *args,
                        int64_t ack) {
  if (ack < 0) return;
  if (strcmp(event, "ack") == 0) {
    cJSON *j = cJSON_Parse("[\"ok\",2]");
    sio_args_t a = {j, NULL, 0};
    x->r[0] += sio_socket_ack(s, ack, &a) != 0;
    cJSON_Delete(j);
  } else if (strcmp(event, "echo-bin") == 0) {
    x->r[0] += sio_socket_ack(s, ack, args) != 0; /* the same arguments, buffers included */
  }
  x->r[1] += sio_socket_ack(s, -1, NULL) == SIO_EINVAL;
}

static const char bin_out[] = {1, 2, 3};

static void L_emit_bin(nh_t *h, void *arg) {
  sx_t *x = h->user;
  int i = (int)(intptr_t)arg;
  cJSON *j = cJSON_Parse("[{\"_placeholder\":true,\"num\":0},\"t\"]");
  sio_buf_t b = {bin_out, sizeof bin_out};
  sio_args_t a = {j, &b, 1};
  x->r[2] += sio_socket_emit(x->socks[i], "bin", &a, 0) != 0;
  cJSON_Delete(j);
}

static void L_nsp_bin(nh_t *h, void *arg) {
  sx_t *x = h->user;
  cJSON *j = cJSON_Parse("[{\"_placeholder\":true,\"num\":0}]");
  sio_buf_t b = {"\x05\x06", 2};
  sio_args_t a = {j, &b, 1};
  x->r[2] += sio_nsp_emit(x->root, NULL, "nb", &a) != 0;
  cJSON_Delete(j);
}

static void client_events(nh_t *h) {
  sx_t *x = h->user;
  nc_conn_t *c = sc_client(h, NULL); /* socket 0 */
  CHECK(c);
  CHECK_EQ_INT(sc_join(c, "/chat", NULL, NULL), 0); /* socket 1 */
  CHECK_EQ_INT(sc_send(c, "42[\"ev\",1,{\"a\":\"b\"}]"), 0);
  CHECK_EQ_INT(sc_send(c, "421[\"ack\"]"), 0);
  CHECK_EQ_INT(sc_expect(c, "431[\"ok\",2]"), 0);
  CHECK_EQ_INT(sc_send(c, "42/chat,5[\"ack\"]"), 0);
  CHECK_EQ_INT(sc_expect(c, "43/chat,5[\"ok\",2]"), 0);
  CHECK_EQ_INT(sc_send(c, "42[\"noargs\"]"), 0);
  CHECK_EQ_INT(sc_send(c, "451-[\"bin\",{\"_placeholder\":true,\"num\":0}]"), 0);
  CHECK_EQ_INT(sc_send_bin(c, "\x00\x01\xff", 3), 0);
  /* Two attachments, one of them empty, at depth; answered with them (a BINARY_ACK). */
  CHECK_EQ_INT(sc_send(c, "452-7[\"echo-bin\",{\"_placeholder\":true,\"num\":0},"
                          "{\"x\":{\"_placeholder\":true,\"num\":1}}]"),
               0);
  CHECK_EQ_INT(sc_send_bin(c, "AB", 2), 0);
  CHECK_EQ_INT(sc_send_bin(c, "", 0), 0);
  CHECK_EQ_INT(sc_expect(c, "462-7[{\"_placeholder\":true,\"num\":0},"
                            "{\"x\":{\"_placeholder\":true,\"num\":1}}]"),
               0);
  CHECK_EQ_INT(sc_expect_bin(c, "AB", 2), 0);
  CHECK_EQ_INT(sc_expect_bin(c, "", 0), 0);
  WAIT_GE(h, x, nevents, 6);
  CHECK_EQ_INT(nh_call(h, L_emit_bin, (void *)0), 0);
  CHECK_EQ_INT(sc_expect(c, "451-[\"bin\",{\"_placeholder\":true,\"num\":0},\"t\"]"), 0);
  CHECK_EQ_INT(sc_expect_bin(c, bin_out, 3), 0);

  /* Engine.IO v3: binary frames carry the message type byte (4) first. */
  nc_conn_t *v3 = sc_open(h, 3, NULL); /* socket 2 */
  CHECK(v3);
  CHECK_EQ_INT(sc_expect(v3, "40"), 0);
  CHECK_EQ_INT(sc_send(v3, "42[\"v3\",true]"), 0);
  CHECK_EQ_INT(sc_send(v3, "451-[\"bin3\",{\"_placeholder\":true,\"num\":0}]"), 0);
  CHECK_EQ_INT(sc_send_bin(v3, "\x04xyz", 4), 0);
  WAIT_GE(h, x, nevents, 8);
  CHECK_EQ_INT(nh_call(h, L_emit_bin, (void *)2), 0);
  CHECK_EQ_INT(sc_expect(v3, "451-[\"bin\",{\"_placeholder\":true,\"num\":0},\"t\"]"), 0);
  CHECK_EQ_INT(sc_expect_bin(v3, "\x04\x01\x02\x03", 4), 0);
  /* A broadcast with a buffer: encoded once, framed per protocol version. */
  CHECK_EQ_INT(nh_call(h, L_nsp_bin, NULL), 0);
  CHECK_EQ_INT(sc_expect(c, "451-[\"nb\",{\"_placeholder\":true,\"num\":0}]"), 0);
  CHECK_EQ_INT(sc_expect_bin(c, "\x05\x06", 2), 0);
  CHECK_EQ_INT(sc_expect(v3, "451-[\"nb\",{\"_placeholder\":true,\"num\":0}]"), 0);
  CHECK_EQ_INT(sc_expect_bin(v3, "\x04\x05\x06", 3), 0);
}

TEST(events_acks_and_binary) {
  sx_t *x = sx_new(0);
  CHECK(x);
  CHECK(sx_of(x, "/chat"));
  x->on_event = events_hook;
  CHECK_EQ_INT(sx_run(x, client_events), 0);
  CHECK_EQ_INT(x->r[0], 0); /* every sio_socket_ack() succeeded */
  CHECK_EQ_INT(x->r[1], 3);
  CHECK_EQ_INT(x->r[2], 0);
  CHECK_EQ_INT(x->nevents, 8);
  sx_event_t *e = x->ev;
  CHECK(strcmp(e[0].name, "ev") == 0 && strcmp(e[0].args, "[1,{\"a\":\"b\"}]") == 0);
  CHECK(e[0].ack == -1 && e[0].sock == 0 && e[0].nbufs == 0);
  CHECK(strcmp(e[1].name, "ack") == 0 && strcmp(e[1].args, "[]") == 0 && e[1].ack == 1);
  CHECK(strcmp(e[2].nsp, "/chat") == 0 && e[2].ack == 5 && e[2].sock == 1);
  CHECK(strcmp(e[3].name, "noargs") == 0 && strcmp(e[3].args, "[]") == 0 && e[3].ack == -1);
  CHECK(strcmp(e[4].name, "bin") == 0 && e[4].ack == -1);
  CHECK(strcmp(e[4].args, "[{\"_placeholder\":true,\"num\":0}]") == 0);
  CHECK_EQ_INT(e[4].nbufs, 1);
  CHECK_MEM(e[4].buf0, e[4].buf0len, "\x00\x01\xff", 3);
  CHECK(strcmp(e[5].name, "echo-bin") == 0 && e[5].ack == 7 && e[5].nbufs == 2);
  CHECK_MEM(e[5].buf0, e[5].buf0len, "AB", 2);
  CHECK(strcmp(e[6].name, "v3") == 0 && strcmp(e[6].args, "[true]") == 0 && e[6].sock == 2);
  CHECK(strcmp(e[7].name, "bin3") == 0 && e[7].nbufs == 1);
  CHECK_MEM(e[7].buf0, e[7].buf0len, "xyz", 3);
}

/* Ack handles answer once; a reserved name is SIO_ERESERVED; the handshake is described. */
static void handles_hook(sx_t *x, sio_socket_t *s, const char *event, const sio_args_t *args,
                         int64_t ack) {
  (void)args;
  if (strcmp(event, "once") == 0) {
    sio_ack_t *h = sio_socket_ack_handle(s, ack);
    cJSON *j = cJSON_Parse("[\"one\"]");
    sio_args_t a = {j, NULL, 0};
    x->r[0] = sio_ack_done(h);
    x->r[1] = sio_ack_send(h, &a);
    x->r[2] = sio_ack_send(h, &a);
    x->r[3] = sio_ack_done(h);
    cJSON_Delete(j);
    sio_ack_free(h);
  } else if (strcmp(event, "later") == 0) {
    x->kept = sio_socket_ack_handle(s, ack);
  } else if (strcmp(event, "names") == 0) {
    x->r[4] = sio_socket_emit(s, "disconnect", NULL, 0);
    x->r[5] = sio_nsp_emit(sio_socket_nsp(s), NULL, "connect_error", NULL);
    x->r[6] = sio_event_reserved("connection", 1) * 10 + sio_event_reserved("connection", 0);
    x->r[7] = sio_nsp_server_emit(sio_socket_nsp(s), "new_namespace", NULL);
    cJSON *hs = sio_socket_handshake(s);
    print_json(hs, x->handshake, sizeof x->handshake);
    cJSON_Delete(hs);
    x->r[8] = sio_socket_ack_handle(s, -1) == NULL;
    sio_socket_emit(s, "done", NULL, 0);
  }
}

static void L_answer_kept(nh_t *h, void *arg) {
  sx_t *x = h->user;
  (void)arg;
  x->r[9] = sio_ack_done(x->kept);
  x->r[10] = sio_ack_send(x->kept, NULL);
  sio_ack_free(x->kept);
  x->kept = NULL;
}

static void client_handles(nh_t *h) {
  sx_t *x = h->user;
  nc_conn_t *c = sc_client(h, NULL);
  CHECK(c);
  CHECK_EQ_INT(sc_send(c, "423[\"once\"]"), 0);
  CHECK_EQ_INT(sc_expect(c, "433[\"one\"]"), 0);
  CHECK_EQ_INT(sc_send(c, "424[\"later\"]"), 0);
  CHECK_EQ_INT(sc_send(c, "42[\"names\"]"), 0);
  CHECK_EQ_INT(sc_expect(c, "42[\"done\"]"), 0); /* nothing in between: no second answer */
  CHECK_EQ_INT(sc_send(c, "41"), 0);
  WAIT_GE(h, x, disconnects, 1);
  CHECK_EQ_INT(nh_call(h, L_answer_kept, NULL), 0);
}

TEST(ack_handles_reserved_names_handshake) {
  sx_t *x = sx_new(0);
  CHECK(x);
  x->on_event = handles_hook;
  CHECK_EQ_INT(sx_run(x, client_handles), 0);
  CHECK_EQ_INT(x->r[0], 0);
  CHECK_EQ_INT(x->r[1], 0);
  CHECK_EQ_INT(x->r[2], SIO_EALREADY);
  CHECK_EQ_INT(x->r[3], 1);
  CHECK_EQ_INT(x->r[4], SIO_ERESERVED);
  CHECK_EQ_INT(x->r[5], SIO_ERESERVED);
  CHECK_EQ_INT(x->r[6], 10);
  CHECK_EQ_INT(x->r[7], SIO_ERESERVED);
  CHECK_EQ_INT(x->r[8], 1);
  CHECK_EQ_INT(x->r[9], 1);            /* its socket is gone: done */
  CHECK_EQ_INT(x->r[10], SIO_ECLOSED);
  CHECK(strstr(x->handshake, "\"query\":{\"EIO\":\"4\",\"transport\":\"websocket\"}") != NULL);
  CHECK(strstr(x->handshake, "\"address\":\"127.0.0.1\",\"xdomain\":false,\"secure\":false,\"issued\":") != NULL);
  CHECK(strstr(x->handshake, "GMT+0000 (Coordinated Universal Time)\"") != NULL);
  CHECK(strstr(x->handshake, "\"auth\":{}") != NULL);
}

/* ============================================================================================== */
/* 5. Acks asked of the client                                                                    */

static void ack_cb(sio_socket_t *s, int status, const sio_args_t *args, void *arg) {
  sx_t *x = sock_x(s);
  if (x->nacks < 16) {
    sx_ack_t *a = &x->acks[x->nacks];
    a->tag = (intptr_t)arg;
    a->status = status;
    a->sock = sidx(s);
    print_json(args ? args->json : NULL, a->args, sizeof a->args);
    a->nbufs = args ? args->nbufs : 0;
    copy_buf(args, 0, a->buf0, sizeof a->buf0, &a->buf0len);
  }
  x->nacks++;
}

typedef struct {
  const char *event, *json;
  uint32_t timeout;
  intptr_t tag;
} ack_req_t;

static void L_emit_ack(nh_t *h, void *arg) {
  sx_t *x = h->user;
  ack_req_t *q = arg;
  cJSON *j = q->json ? cJSON_Parse(q->json) : NULL;
  sio_args_t a = {j, NULL, 0};
  x->r[0] += sio_socket_emit_ack(x->socks[0], q->event, q->json ? &a : NULL, 0, q->timeout, ack_cb,
                                 (void *)q->tag) != 0;
  x->r[1] += sio_socket_emit_ack(x->socks[0], "x", NULL, 0, 0, NULL, NULL) == SIO_EINVAL;
  cJSON_Delete(j);
}

static void client_acks(nh_t *h) {
  sx_t *x = h->user;
  long id, id2, id3, id4, id5;
  nc_conn_t *c = sc_client(h, NULL);
  CHECK(c);
  /* Answered. */
  ack_req_t q1 = {"q", "[7]", 2000, 1};
  CHECK_EQ_INT(nh_call(h, L_emit_ack, &q1), 0);
  CHECK_EQ_INT(sc_expect_ack_req(c, "42", "[\"q\",7]", &id), 0);
  CHECK_EQ_INT(sc_sendf(c, "43%ld[\"a\",{\"x\":1}]", id), 0);
  WAIT_GE(h, x, nacks, 1);
  /* Not answered in time; the late answer is ignored. */
  ack_req_t q2 = {"q2", NULL, 150, 2};
  CHECK_EQ_INT(nh_call(h, L_emit_ack, &q2), 0);
  CHECK_EQ_INT(sc_expect_ack_req(c, "42", "[\"q2\"]", &id2), 0);
  CHECK(id2 != id);
  WAIT_GE(h, x, nacks, 2);
  CHECK_EQ_INT(sc_sendf(c, "43%ld[]", id2), 0);
  CHECK_EQ_INT(sc_send(c, "42[\"sync\"]"), 0);
  WAIT_GE(h, x, nevents, 1);
  CHECK_EQ_INT(sx_read(h, &x->nacks), 2);
  /* Answered with a buffer (a BINARY_ACK); no timeout asked. */
  ack_req_t q3 = {"q3", NULL, 0, 3};
  CHECK_EQ_INT(nh_call(h, L_emit_ack, &q3), 0);
  CHECK_EQ_INT(sc_expect_ack_req(c, "42", "[\"q3\"]", &id3), 0);
  CHECK_EQ_INT(sc_sendf(c, "461-%ld[{\"_placeholder\":true,\"num\":0}]", id3), 0);
  CHECK_EQ_INT(sc_send_bin(c, "bb", 2), 0);
  WAIT_GE(h, x, nacks, 3);
  /* The socket disconnects first: SIO_ECLOSED, once, with or without a timeout pending. */
  ack_req_t q4 = {"q4", NULL, 500, 4}, q5 = {"q5", NULL, 0, 5};
  CHECK_EQ_INT(nh_call(h, L_emit_ack, &q4), 0);
  CHECK_EQ_INT(nh_call(h, L_emit_ack, &q5), 0);
  CHECK_EQ_INT(sc_expect_ack_req(c, "42", "[\"q4\"]", &id4), 0);
  CHECK_EQ_INT(sc_expect_ack_req(c, "42", "[\"q5\"]", &id5), 0);
  CHECK(id4 != id5 && id3 != id4);
  CHECK_EQ_INT(sc_send(c, "41"), 0);
  WAIT_GE(h, x, nacks, 5);
  nh_sleep_ms(600); /* past q4's timeout */
  CHECK_EQ_INT(sx_read(h, &x->nacks), 5);
}

TEST(acks_from_the_client) {
  sx_t *x = sx_new(0);
  CHECK(x);
  CHECK_EQ_INT(sx_run(x, client_acks), 0);
  CHECK_EQ_INT(x->r[0], 0);
  CHECK_EQ_INT(x->r[1], 5);
  CHECK_EQ_INT(x->nacks, 5);
  sx_ack_t *a = x->acks;
  CHECK(a[0].tag == 1 && a[0].status == 0 && strcmp(a[0].args, "[\"a\",{\"x\":1}]") == 0);
  CHECK(a[1].tag == 2 && a[1].status == SIO_ETIMEDOUT && strcmp(a[1].args, "null") == 0);
  CHECK(a[2].tag == 3 && a[2].status == 0 && a[2].nbufs == 1);
  CHECK(strcmp(a[2].args, "[{\"_placeholder\":true,\"num\":0}]") == 0);
  CHECK_MEM(a[2].buf0, a[2].buf0len, "bb", 2);
  CHECK(a[3].status == SIO_ECLOSED && a[4].status == SIO_ECLOSED);
  CHECK((a[3].tag == 4 && a[4].tag == 5) || (a[3].tag == 5 && a[4].tag == 4));
  CHECK(strcmp(x->reasons[0], "client namespace disconnect") == 0);
  CHECK_EQ_INT(x->ndisc[0], 1);
}

/* ============================================================================================== */
/* 6. Broadcasts with acks                                                                        */

static void bcast_cb(sio_nsp_t *nsp, int status, const sio_args_t *res, void *arg) {
  sx_t *x = nsp_x(nsp);
  if (x->nbcast < 8) {
    sx_bcast_t *b = &x->bcast[x->nbcast];
    b->tag = (intptr_t)arg;
    b->status = status;
    b->in_call = x->in_call;
    print_json(res ? res->json : NULL, b->responses, sizeof b->responses);
    b->nbufs = res ? res->nbufs : 0;
    for (size_t i = 0; res && i < res->nbufs && i < 4; i++)
      copy_buf(res, i, b->bufs[i], sizeof b->bufs[i], &b->buflens[i]);
  }
  x->nbcast++;
}

typedef struct {
  const char *room; /* NULL: everyone */
  uint32_t timeout;
  intptr_t tag;
} bc_req_t;

static void L_bcast(nh_t *h, void *arg) {
  sx_t *x = h->user;
  bc_req_t *q = arg;
  const char *rooms[1] = {q->room};
  sio_target_t to = {rooms, 1, NULL, 0, 0};
  cJSON *j = cJSON_Parse("[1]");
  sio_args_t a = {j, NULL, 0};
  int before = x->nbcast;
  x->in_call = 1;
  x->r[0] += sio_nsp_emit_ack(x->root, q->room ? &to : NULL, "poll", &a, q->timeout, bcast_cb,
                              (void *)q->tag) != 0;
  x->in_call = 0;
  x->bcast_after_call += x->nbcast - before; /* must stay 0: never called from inside */
  cJSON_Delete(j);
}

/* The numbers in a JSON array, sorted, as "a,b,c". */
static void sorted_numbers(const char *json, char *out, size_t cap) {
  cJSON *j = cJSON_Parse(json);
  int v[8], n = 0;
  for (cJSON *c = j ? j->child : NULL; c && n < 8; c = c->next) v[n++] = c->valueint;
  cJSON_Delete(j);
  for (int i = 0; i < n; i++)
    for (int k = i + 1; k < n; k++)
      if (v[k] < v[i]) {
        int t = v[i];
        v[i] = v[k];
        v[k] = t;
      }
  out[0] = '\0';
  for (int i = 0; i < n; i++)
    snprintf(out + strlen(out), cap - strlen(out), "%s%d", i ? "," : "", v[i]);
}

static void client_bcast(nh_t *h) {
  sx_t *x = h->user;
  nc_conn_t *c[3];
  long id[3];
  for (int i = 0; i < 3; i++) CHECK((c[i] = sc_client(h, NULL)) != NULL);
  /* Everyone answers. */
  bc_req_t q1 = {NULL, 2000, 1};
  CHECK_EQ_INT(nh_call(h, L_bcast, &q1), 0);
  for (int i = 0; i < 3; i++) CHECK_EQ_INT(sc_expect_ack_req(c[i], "42", "[\"poll\",1]", &id[i]), 0);
  CHECK(id[0] == id[1] && id[1] == id[2]); /* encoded once for all */
  CHECK_EQ_INT(sc_sendf(c[0], "43%ld[10,\"extra\"]", id[0]), 0);
  CHECK_EQ_INT(sc_sendf(c[1], "43%ld[20]", id[1]), 0);
  CHECK_EQ_INT(sc_sendf(c[2], "43%ld[30]", id[2]), 0);
  WAIT_GE(h, x, nbcast, 1);
  /* One stays silent. */
  bc_req_t q2 = {NULL, 400, 2};
  CHECK_EQ_INT(nh_call(h, L_bcast, &q2), 0);
  for (int i = 0; i < 3; i++) CHECK_EQ_INT(sc_expect_ack_req(c[i], "42", "[\"poll\",1]", &id[i]), 0);
  CHECK_EQ_INT(sc_sendf(c[0], "43%ld[11]", id[0]), 0);
  CHECK_EQ_INT(sc_sendf(c[1], "43%ld[21]", id[1]), 0);
  WAIT_GE(h, x, nbcast, 2);
  CHECK_EQ_INT(sc_sendf(c[2], "43%ld[31]", id[2]), 0); /* too late: ignored */
  /* Nobody targeted. */
  bc_req_t q3 = {"nobody", 2000, 3};
  CHECK_EQ_INT(nh_call(h, L_bcast, &q3), 0);
  WAIT_GE(h, x, nbcast, 3);
  /* Answers with buffers: placeholders renumbered into the joint responses->bufs. */
  bc_req_t q4 = {NULL, 2000, 4};
  CHECK_EQ_INT(nh_call(h, L_bcast, &q4), 0);
  for (int i = 0; i < 3; i++) CHECK_EQ_INT(sc_expect_ack_req(c[i], "42", "[\"poll\",1]", &id[i]), 0);
  CHECK_EQ_INT(sc_sendf(c[0], "461-%ld[{\"who\":\"A\",\"b\":{\"_placeholder\":true,\"num\":0}}]", id[0]), 0);
  CHECK_EQ_INT(sc_send_bin(c[0], "AAA", 3), 0);
  CHECK_EQ_INT(sc_sendf(c[1], "461-%ld[{\"who\":\"B\",\"b\":{\"_placeholder\":true,\"num\":0}}]", id[1]), 0);
  CHECK_EQ_INT(sc_send_bin(c[1], "BB", 2), 0);
  CHECK_EQ_INT(sc_sendf(c[2], "43%ld[{\"who\":\"C\"}]", id[2]), 0);
  WAIT_GE(h, x, nbcast, 4);
  /* A recipient leaves without answering: the broadcast times out with the others' answers. */
  bc_req_t q5 = {NULL, 400, 5};
  CHECK_EQ_INT(nh_call(h, L_bcast, &q5), 0);
  for (int i = 0; i < 3; i++) CHECK_EQ_INT(sc_expect_ack_req(c[i], "42", "[\"poll\",1]", &id[i]), 0);
  CHECK_EQ_INT(sc_sendf(c[0], "43%ld[12]", id[0]), 0);
  CHECK_EQ_INT(sc_send(c[1], "41"), 0);
  CHECK_EQ_INT(sc_sendf(c[2], "43%ld[32]", id[2]), 0);
  WAIT_GE(h, x, nbcast, 5);
  CHECK_EQ_INT(sx_read(h, &x->nbcast), 5);
}

TEST(broadcast_with_acks) {
  sx_t *x = sx_new(0);
  CHECK(x);
  CHECK_EQ_INT(sx_run(x, client_bcast), 0);
  CHECK_EQ_INT(x->r[0], 0);
  CHECK_EQ_INT(x->bcast_after_call, 0);
  CHECK_EQ_INT(x->nbcast, 5);
  sx_bcast_t *b = x->bcast;
  char nums[64];
  for (int i = 0; i < 5; i++) CHECK_EQ_INT(b[i].tag, i + 1);
  for (int i = 0; i < 5; i++) CHECK_EQ_INT(b[i].in_call, 0);
  CHECK_EQ_INT(b[0].status, 0);
  sorted_numbers(b[0].responses, nums, sizeof nums);
  CHECK(strcmp(nums, "10,20,30") == 0); /* each recipient's first argument */
  CHECK_EQ_INT(b[1].status, SIO_ETIMEDOUT);
  sorted_numbers(b[1].responses, nums, sizeof nums);
  CHECK(strcmp(nums, "11,21") == 0);
  CHECK_EQ_INT(b[2].status, 0);
  CHECK(strcmp(b[2].responses, "[]") == 0);
  /* Buffers: each "b" placeholder points at its own sender's bytes. */
  CHECK_EQ_INT(b[3].status, 0);
  CHECK_EQ_INT(b[3].nbufs, 2);
  cJSON *res = cJSON_Parse(b[3].responses);
  CHECK(res && cJSON_GetArraySize(res) == 3);
  int seen = 0;
  for (cJSON *it = res->child; it; it = it->next) {
    const char *who = cJSON_GetStringValue(cJSON_GetObjectItem(it, "who"));
    cJSON *ph = cJSON_GetObjectItem(it, "b");
    if (!who || !ph) continue;
    int num = cJSON_GetObjectItem(ph, "num") ? cJSON_GetObjectItem(ph, "num")->valueint : -1;
    if (num < 0 || num > 1) break;
    if (strcmp(who, "A") == 0 && b[3].buflens[num] == 3 && memcmp(b[3].bufs[num], "AAA", 3) == 0)
      seen |= 1 << num;
    if (strcmp(who, "B") == 0 && b[3].buflens[num] == 2 && memcmp(b[3].bufs[num], "BB", 2) == 0)
      seen |= 1 << num;
  }
  cJSON_Delete(res);
  CHECK_EQ_INT(seen, 3);
  CHECK_EQ_INT(b[4].status, SIO_ETIMEDOUT);
  sorted_numbers(b[4].responses, nums, sizeof nums);
  CHECK(strcmp(nums, "12,32") == 0);
}

/* ============================================================================================== */
/* 7. Rooms                                                                                       */

static int room_list(sio_socket_t *s, char *out, size_t cap) {
  out[0] = '\0';
  size_t n = sio_socket_room_count(s);
  for (size_t i = 1; i < n; i++)
    snprintf(out + strlen(out), cap - strlen(out), "%s%s", i > 1 ? "," : "", sio_socket_room(s, i));
  return sio_socket_room(s, n) == NULL && strcmp(sio_socket_room(s, 0), sio_socket_id(s)) == 0;
}

/* Sockets 0..3: A in a, B in b, C in a and b, D in none. */
static void L_rooms_setup(nh_t *h, void *arg) {
  sx_t *x = h->user;
  sio_socket_t **s = x->socks;
  int bad = 0;
  bad += sio_socket_join(s[0], "a") != 0;
  bad += sio_socket_join(s[1], "b") != 0;
  bad += sio_socket_join(s[2], "a") != 0;
  bad += sio_socket_join(s[2], "b") != 0;
  bad += sio_socket_join(s[2], "a") != 0;           /* twice: no-op */
  bad += sio_socket_join(s[2], x->ids[2]) != 0;     /* its own id: no-op */
  bad += sio_socket_leave(s[2], x->ids[2]) != 0;    /* the own-id room cannot be left */
  bad += sio_socket_leave(s[3], "never") != 0;      /* not in it: fine */
  bad += sio_socket_join(s[0], NULL) != SIO_EINVAL;
  x->r[0] = bad;
  x->r[1] = (int)sio_socket_room_count(s[2]);
  x->r[2] = room_list(s[2], x->s[0], 64);
  x->r[3] = (int)sio_socket_room_count(s[3]);
  x->r[4] = room_list(s[3], x->s[1], 64);
}

static void L_rooms_step(nh_t *h, void *arg) {
  sx_t *x = h->user;
  int step = (int)(intptr_t)arg;
  const char *id[4] = {x->ids[0], x->ids[1], x->ids[2], x->ids[3]};
  int r = 0;
  switch (step) {
    case 1: { /* rooms a, b: A, B, C once each */
      const char *rooms[] = {"a", "b"};
      sio_target_t to = {rooms, 2, NULL, 0, 0};
      r = nsp_emit_json(x->root, &to, "ab", NULL);
      break;
    }
    case 2: { /* a except b: A */
      const char *rooms[] = {"a"}, *ex[] = {"b"};
      sio_target_t to = {rooms, 1, ex, 1, 0};
      r = nsp_emit_json(x->root, &to, "a-b", NULL);
      break;
    }
    case 3: { /* everyone except A by id: B, C, D */
      const char *ex[] = {id[0]};
      sio_target_t to = {NULL, 0, ex, 1, 0};
      r = nsp_emit_json(x->root, &to, "notA", NULL);
      break;
    }
    case 4: { /* D's id as a room, and a: D, A, C */
      const char *rooms[] = {id[3], "a"};
      sio_target_t to = {rooms, 2, NULL, 0, 0};
      r = nsp_emit_json(x->root, &to, "Da", "[1]");
      break;
    }
    case 5: { /* C's id and b, except a: B (C is in a) */
      const char *rooms[] = {id[2], "b"}, *ex[] = {"a"};
      sio_target_t to = {rooms, 2, ex, 1, 0};
      r = nsp_emit_json(x->root, &to, "Cb-a", NULL);
      break;
    }
    case 6: { /* C leaves a, A leaves a (the room goes), then: a reaches nobody, b B and C */
      r += sio_socket_leave(x->socks[2], "a");
      r += sio_socket_leave(x->socks[0], "a");
      x->r[5] = (int)sio_socket_room_count(x->socks[2]);
      x->r[6] = room_list(x->socks[2], x->s[2], 64);
      x->r[7] = (int)sio_socket_room_count(x->socks[0]);
      const char *ra[] = {"a"}, *rb[] = {"b"};
      sio_target_t ta = {ra, 1, NULL, 0, 0}, tb = {rb, 1, NULL, 0, 0};
      r += nsp_emit_json(x->root, &ta, "a2", NULL);
      r += nsp_emit_json(x->root, &tb, "b2", NULL);
      break;
    }
    case 7: { /* unknown rooms and excepts are fine */
      const char *rooms[] = {"zzz"}, *ex[] = {"yyy"};
      sio_target_t to = {rooms, 1, ex, 1, 0};
      r = nsp_emit_json(x->root, &to, "none", NULL);
      sio_target_t all = {NULL, 0, ex, 1, 0};
      r += nsp_emit_json(x->root, &all, "all", NULL);
      break;
    }
  }
  x->r[8] += r != 0;
  /* The end marker, to everyone: what came before it is all a client received. */
  char end[16];
  snprintf(end, sizeof end, "end%d", step);
  x->r[8] += sio_nsp_emit(x->root, NULL, end, NULL) != 0;
}

/* Reads the frames of one step: `want` is a space-separated list of event names, then the end
 * marker. */
static int expect_events(nc_conn_t *c, const char *want, int step) {
  char copy[256];
  snprintf(copy, sizeof copy, "%s", want);
  for (char *tok = strtok(copy, " "); tok; tok = strtok(NULL, " ")) {
    char frame[64];
    const char *args = "";
    if (strcmp(tok, "Da") == 0) args = ",1";
    snprintf(frame, sizeof frame, "42[\"%s\"%s]", tok, args);
    if (sc_expect(c, frame) != 0) return -1;
  }
  char end[32];
  snprintf(end, sizeof end, "42[\"end%d\"]", step);
  return sc_expect(c, end);
}

static void client_rooms(nh_t *h) {
  nc_conn_t *c[4];
  for (int i = 0; i < 4; i++) CHECK((c[i] = sc_client(h, NULL)) != NULL);
  CHECK_EQ_INT(nh_call(h, L_rooms_setup, NULL), 0);
  static const char *const want[8][4] = {
      {0},
      {"ab", "ab", "ab", ""},
      {"a-b", "", "", ""},
      {"", "notA", "notA", "notA"},
      {"Da", "", "Da", "Da"},
      {"", "Cb-a", "", ""},
      {"", "b2", "b2", ""},
      {"all", "all", "all", "all"},
  };
  for (int step = 1; step <= 7; step++) {
    CHECK_EQ_INT(nh_call(h, L_rooms_step, (void *)(intptr_t)step), 0);
    for (int i = 0; i < 4; i++) {
      if (expect_events(c[i], want[step][i], step) != 0) {
        fprintf(stderr, "step %d, client %d\n", step, i);
        CHECK(0);
      }
    }
  }
}

TEST(rooms_join_leave_and_targets) {
  sx_t *x = sx_new(0);
  CHECK(x);
  CHECK_EQ_INT(sx_run(x, client_rooms), 0);
  CHECK_EQ_INT(x->r[0], 0);
  CHECK_EQ_INT(x->r[1], 3);
  CHECK_EQ_INT(x->r[2], 1); /* index 0 is the socket's own id; NULL past the end */
  CHECK(strcmp(x->s[0], "a,b") == 0);
  CHECK_EQ_INT(x->r[3], 1);
  CHECK_EQ_INT(x->r[4], 1);
  CHECK(strcmp(x->s[1], "") == 0);
  CHECK_EQ_INT(x->r[5], 2);
  CHECK_EQ_INT(x->r[6], 1);
  CHECK(strcmp(x->s[2], "b") == 0);
  CHECK_EQ_INT(x->r[7], 1);
  CHECK_EQ_INT(x->r[8], 0);
  /* on_disconnecting still sees the rooms: C (own id + b) and B (own id + b). */
  CHECK_EQ_INT(x->rooms_at_discing[1], 2);
  CHECK_EQ_INT(x->rooms_at_discing[2], 2);
  CHECK_EQ_INT(x->rooms_at_discing[3], 1);
}

/* Rooms are listed in join order (sio.h: "then in join order"), also after a leave. */
static void L_room_order(nh_t *h, void *arg) {
  sx_t *x = h->user;
  sio_socket_t *s = x->socks[0];
  sio_socket_join(s, "r1");
  sio_socket_join(s, "r2");
  sio_socket_join(s, "r3");
  sio_socket_join(s, "r4");
  room_list(s, x->s[0], 64);
  sio_socket_leave(s, "r1");
  room_list(s, x->s[1], 64);
  sio_socket_leave(s, "r3");
  room_list(s, x->s[2], 64);
  sio_socket_join(s, "r1");
  room_list(s, x->s[3], 64);
}

static void client_room_order(nh_t *h) {
  CHECK(sc_client(h, NULL));
  CHECK_EQ_INT(nh_call(h, L_room_order, NULL), 0);
}

TEST(rooms_listed_in_join_order) {
  sx_t *x = sx_new(0);
  CHECK(x);
  CHECK_EQ_INT(sx_run(x, client_room_order), 0);
  CHECK(strcmp(x->s[0], "r1,r2,r3,r4") == 0);
  if (strcmp(x->s[1], "r2,r3,r4") != 0)
    fprintf(stderr, "after leaving r1: \"%s\", want \"r2,r3,r4\"\n", x->s[1]);
  CHECK(strcmp(x->s[1], "r2,r3,r4") == 0);
  CHECK(strcmp(x->s[2], "r2,r4") == 0);
  CHECK(strcmp(x->s[3], "r2,r4,r1") == 0);
}

/* ---- many sockets: swap-removals keep every member reachable ---- */

#define MANY 100

static int in_r(int i) { return i % 3 != 0; }
static int in_x(int i) { return i % 3 != 1; }
static int in_y(int i) { return i % 4 != 0; }
static int gone(int i) { return i % 5 == 2; } /* disconnected in phase 2 */

static int count_one(sio_socket_t *s, void *arg) {
  (*(int *)arg)++;
  return 0;
}

static int each_count(sx_t *x, const char *room) {
  const char *rooms[] = {room};
  sio_target_t to = {rooms, 1, NULL, 0, 0};
  int n = 0;
  int visited = (int)sio_nsp_each(x->root, &to, count_one, &n);
  return visited == n ? n : -1;
}

static void L_many_setup(nh_t *h, void *arg) {
  sx_t *x = h->user;
  int bad = 0;
  for (int i = 0; i < MANY; i++) {
    bad += sio_socket_join(x->socks[i], "x") != 0;
    bad += sio_socket_join(x->socks[i], "r") != 0;
    bad += sio_socket_join(x->socks[i], "y") != 0;
  }
  /* Leaves in an order that moves members around in both arrays. */
  for (int i = MANY - 1; i >= 0; i--)
    if (!in_r(i)) bad += sio_socket_leave(x->socks[i], "r") != 0;
  for (int i = 0; i < MANY; i++)
    if (!in_x(i)) bad += sio_socket_leave(x->socks[i], "x") != 0;
  for (int i = 0; i < MANY; i += 2)
    if (!in_y(i)) bad += sio_socket_leave(x->socks[i], "y") != 0;
  /* Every socket lists exactly its rooms. */
  for (int i = 0; i < MANY; i++) {
    sio_socket_t *s = x->socks[i];
    int want = 1 + in_r(i) + in_x(i) + in_y(i);
    if ((int)sio_socket_room_count(s) != want) bad++;
    int hx = 0, hr = 0, hy = 0;
    for (size_t k = 1; k < sio_socket_room_count(s); k++) {
      const char *r = sio_socket_room(s, k);
      hx += strcmp(r, "x") == 0;
      hr += strcmp(r, "r") == 0;
      hy += strcmp(r, "y") == 0;
    }
    if (hx != in_x(i) || hr != in_r(i) || hy != in_y(i)) bad++;
  }
  x->r[0] = bad;
  x->r[1] = each_count(x, "r");
  x->r[2] = each_count(x, "x");
  x->r[3] = each_count(x, "y");
}

static void L_many_emit(nh_t *h, void *arg) {
  sx_t *x = h->user;
  int phase = (int)(intptr_t)arg;
  if (phase == 2) {
    for (int i = 0; i < MANY; i++)
      if (gone(i)) sio_socket_disconnect(x->socks[i], 0);
    x->r[4] = each_count(x, "r");
    x->r[5] = each_count(x, "y");
  }
  const char *r[] = {"r"}, *xx[] = {"x"}, *y[] = {"y"}, *xy[] = {"x", "y"};
  sio_target_t tr = {r, 1, NULL, 0, 0}, tx = {xx, 1, NULL, 0, 0}, ty = {y, 1, NULL, 0, 0};
  sio_target_t txy = {xy, 2, NULL, 0, 0};
  int bad = 0;
  bad += sio_nsp_emit(x->root, &tr, "r", NULL) != 0;
  bad += sio_nsp_emit(x->root, &tx, "x", NULL) != 0;
  bad += sio_nsp_emit(x->root, &ty, "y", NULL) != 0;
  bad += sio_nsp_emit(x->root, &txy, "xy", NULL) != 0;
  bad += sio_nsp_emit(x->root, NULL, "end", NULL) != 0;
  x->r[6] += bad;
}

static void client_many(nh_t *h) {
  sx_t *x = h->user;
  nc_conn_t *c[MANY];
  for (int i = 0; i < MANY; i++) CHECK((c[i] = sc_client(h, NULL)) != NULL);
  CHECK_EQ_INT(sx_read(h, &x->nsocks), MANY);
  CHECK_EQ_INT(nh_call(h, L_many_setup, NULL), 0);
  int receipts = 0, want_receipts = 0;
  for (int phase = 1; phase <= 2; phase++) {
    CHECK_EQ_INT(nh_call(h, L_many_emit, (void *)(intptr_t)phase), 0);
    for (int i = 0; i < MANY; i++) {
      if (phase == 2 && gone(i)) {
        CHECK_EQ_INT(sc_expect(c[i], "41"), 0);
        continue;
      }
      const char *ev[] = {"r", "x", "y", "xy"};
      int member[] = {in_r(i), in_x(i), in_y(i), in_x(i) || in_y(i)};
      for (int k = 0; k < 4; k++) {
        if (!member[k]) continue;
        char f[32];
        snprintf(f, sizeof f, "42[\"%s\"]", ev[k]);
        want_receipts++;
        if (sc_expect(c[i], f) != 0) {
          fprintf(stderr, "phase %d socket %d: no \"%s\"\n", phase, i, ev[k]);
          CHECK(0);
        }
        receipts++;
      }
      CHECK_EQ_INT(sc_expect(c[i], "42[\"end\"]"), 0);
    }
  }
  CHECK_EQ_INT(receipts, want_receipts);
}

TEST(rooms_many_sockets_swap_removal) {
  sx_t *x = sx_new(0);
  CHECK(x);
  CHECK_EQ_INT(sx_run(x, client_many), 0);
  int nr = 0, nx = 0, ny = 0, nr2 = 0, ny2 = 0;
  for (int i = 0; i < MANY; i++) {
    nr += in_r(i), nx += in_x(i), ny += in_y(i);
    nr2 += in_r(i) && !gone(i);
    ny2 += in_y(i) && !gone(i);
  }
  CHECK_EQ_INT(x->r[0], 0);
  CHECK_EQ_INT(x->r[1], nr);
  CHECK_EQ_INT(x->r[2], nx);
  CHECK_EQ_INT(x->r[3], ny);
  CHECK_EQ_INT(x->r[4], nr2);
  CHECK_EQ_INT(x->r[5], ny2);
  CHECK_EQ_INT(x->r[6], 0);
  for (int i = 0; i < MANY; i++)
    if (gone(i)) CHECK(strcmp(x->reasons[i], "server namespace disconnect") == 0);
  CHECK_EQ_INT(x->disconnects, MANY);
}

/* ---- selections: sio_nsp_join/leave/each/disconnect, volatile ---- */

static int stop_at_first(sio_socket_t *s, void *arg) {
  (*(int *)arg)++;
  return 1;
}

static void L_sel(nh_t *h, void *arg) {
  sx_t *x = h->user;
  int step = (int)(intptr_t)arg;
  const char *id[6];
  for (int i = 0; i < 6; i++) id[i] = x->ids[i];
  int bad = 0;
  if (step == 1) {
    /* A, B, C join g; then all but B leave it; everyone joins "all". */
    const char *abc[] = {id[0], id[1], id[2]}, *g[] = {"g"}, *exb[] = {id[1]};
    sio_target_t t_abc = {abc, 3, NULL, 0, 0}, t_g_exb = {g, 1, exb, 1, 0};
    bad += sio_nsp_join(x->root, &t_abc, "g") != 0;
    x->r[1] = each_count(x, "g");
    bad += sio_nsp_leave(x->root, &t_g_exb, "g") != 0;
    x->r[2] = each_count(x, "g");
    bad += sio_nsp_join(x->root, NULL, "all") != 0;
    x->r[3] = each_count(x, "all");
    int n = 0;
    x->r[4] = (int)sio_nsp_each(x->root, NULL, stop_at_first, &n);
    x->r[5] = n;
    bad += sio_nsp_join(x->root, NULL, NULL) != SIO_EINVAL;
    const char *all[] = {"all"}, *exg[] = {"g"};
    sio_target_t t_all_exg = {all, 1, exg, 1, 0};
    bad += sio_nsp_emit(x->root, &t_all_exg, "sel", NULL) != 0;
    /* Volatile, to a room and to one socket: maybe dropped, never a crash. */
    sio_target_t vol = {all, 1, NULL, 0, SIO_EMIT_VOLATILE};
    bad += sio_nsp_emit(x->root, &vol, "vol", NULL) != 0;
    bad += emit_json(x->socks[0], "vol", NULL, SIO_EMIT_VOLATILE | SIO_EMIT_COMPRESS) != 0;
  } else if (step == 2) {
    /* D and E leave "/" (their connections stay); F's connection is closed. */
    const char *de[] = {id[3], id[4]}, *f[] = {id[5]};
    sio_target_t t_de = {de, 2, NULL, 0, 0}, t_f = {f, 1, NULL, 0, 0};
    sio_nsp_disconnect(x->root, &t_de, 0);
    sio_nsp_disconnect(x->root, &t_f, 1);
    x->r[6] = (int)sio_nsp_socket_count(x->root);
  }
  x->r[0] += bad;
  bad = sio_nsp_emit(x->root, NULL, "end", NULL) != 0;
  x->r[0] += bad;
}

/* Reads frames up to `42["end"]`, allowing `42["vol"]` frames on the way, and expects `want`
 * (may be NULL) first. */
static int expect_until_end(nc_conn_t *c, const char *want) {
  char buf[256];
  size_t n;
  int op, got_want = want == NULL;
  for (int i = 0; i < 6; i++) {
    if (sc_read(c, &op, buf, sizeof buf, &n) != 0 || op != SIO_WS_OP_TEXT) return -1;
    if (strcmp(buf, "42[\"vol\"]") == 0) continue;
    if (want && !got_want && strcmp(buf, want) == 0) {
      got_want = 1;
      continue;
    }
    if (strcmp(buf, "42[\"end\"]") == 0) return got_want ? 0 : -1;
    fprintf(stderr, "expect_until_end: unexpected %s\n", buf);
    return -1;
  }
  return -1;
}

static void client_sel(nh_t *h) {
  sx_t *x = h->user;
  nc_conn_t *c[6];
  char sid[21];
  for (int i = 0; i < 6; i++) CHECK((c[i] = sc_client(h, NULL)) != NULL);
  CHECK_EQ_INT(nh_call(h, L_sel, (void *)1), 0);
  for (int i = 0; i < 6; i++) CHECK_EQ_INT(expect_until_end(c[i], i == 1 ? NULL : "42[\"sel\"]"), 0);
  CHECK_EQ_INT(nh_call(h, L_sel, (void *)2), 0);
  CHECK_EQ_INT(sc_expect(c[3], "41"), 0);
  CHECK_EQ_INT(sc_expect(c[4], "41"), 0);
  CHECK_EQ_INT(sc_expect(c[5], "41"), 0);
  CHECK_EQ_INT(sc_expect_close(c[5]), 0);
  for (int i = 0; i < 3; i++) CHECK_EQ_INT(sc_expect(c[i], "42[\"end\"]"), 0);
  /* D's Engine.IO connection is still open: it can connect again. */
  CHECK_EQ_INT(sc_join(c[3], "/", NULL, sid), 0);
  CHECK_EQ_INT(sx_read(h, &x->nsocks), 7);
}

TEST(selections_join_leave_disconnect_volatile) {
  sx_t *x = sx_new(0);
  CHECK(x);
  CHECK_EQ_INT(sx_run(x, client_sel), 0);
  CHECK_EQ_INT(x->r[0], 0);
  CHECK_EQ_INT(x->r[1], 3);
  CHECK_EQ_INT(x->r[2], 1);
  CHECK_EQ_INT(x->r[3], 6);
  CHECK_EQ_INT(x->r[4], 1);
  CHECK_EQ_INT(x->r[5], 1);
  CHECK_EQ_INT(x->r[6], 3);
  for (int i = 3; i < 6; i++) CHECK(strcmp(x->reasons[i], "server namespace disconnect") == 0);
}

/* ============================================================================================== */
/* 8. Disconnect reasons                                                                          */

static void L_disc(nh_t *h, void *arg) {
  sx_t *x = h->user;
  int step = (int)(intptr_t)arg;
  if (step == 1) sio_socket_disconnect(x->socks[1], 0); /* B's "/" */
  if (step == 2) x->r[0] = emit_json(x->socks[2], "still", NULL, 0); /* B's "/chat" */
  if (step == 3) sio_socket_disconnect(x->socks[3], 1); /* C's "/" and the connection */
}

static int pred_disc(sx_t *x, void *a) { return x->disconnects >= *(int *)a; }
#define WAIT_DISC(h, n)                                                  \
  do {                                                                   \
    int n_ = (n);                                                        \
    CHECK_EQ_INT(sx_until((h), pred_disc, &n_, "disconnects"), 0);       \
  } while (0)

static void client_disc(nh_t *h) {
  sx_t *x = h->user;
  char sid[21];
  size_t n;
  int op;
  /* 0: A "/" — leaves by itself. */
  nc_conn_t *a = sc_client(h, NULL);
  CHECK(a);
  CHECK_EQ_INT(sc_send(a, "41"), 0);
  WAIT_DISC(h, 1);
  /* 1: B "/", 2: B "/chat" — the server disconnects B's "/" only. */
  nc_conn_t *b = sc_client(h, NULL);
  CHECK(b);
  CHECK_EQ_INT(sc_join(b, "/chat", NULL, NULL), 0);
  CHECK_EQ_INT(nh_call(h, L_disc, (void *)1), 0);
  CHECK_EQ_INT(sc_expect(b, "41"), 0);
  CHECK_EQ_INT(nh_call(h, L_disc, (void *)2), 0);
  CHECK_EQ_INT(sc_expect(b, "42/chat,[\"still\"]"), 0);
  /* 3: C "/", 4: C "/chat" — the server closes C's connection: DISCONNECT in both, then close. */
  nc_conn_t *c = sc_client(h, NULL);
  CHECK(c);
  CHECK_EQ_INT(sc_join(c, "/chat", NULL, NULL), 0);
  CHECK_EQ_INT(nh_call(h, L_disc, (void *)3), 0);
  char f[2][64];
  CHECK_EQ_INT(sc_read(c, &op, f[0], sizeof f[0], &n), 0);
  CHECK_EQ_INT(sc_read(c, &op, f[1], sizeof f[1], &n), 0);
  CHECK((strcmp(f[0], "41") == 0 && strcmp(f[1], "41/chat,") == 0) ||
        (strcmp(f[1], "41") == 0 && strcmp(f[0], "41/chat,") == 0));
  CHECK_EQ_INT(sc_expect_close(c), 0);
  /* A is still connected at the Engine.IO level: 5: A "/" again. */
  CHECK_EQ_INT(sc_join(a, "/", NULL, sid), 0);
  /* 6: D "/", 7: D "/chat" — D hangs up. */
  nc_conn_t *d = sc_client(h, NULL);
  CHECK(d);
  CHECK_EQ_INT(sc_join(d, "/chat", NULL, NULL), 0);
  nc_close(d);
  WAIT_DISC(h, 6);
  /* 8: E, 9: F — malformed packets. */
  nc_conn_t *e = sc_client(h, NULL);
  CHECK(e);
  CHECK_EQ_INT(sc_send(e, "42{}"), 0);
  CHECK_EQ_INT(sc_expect_close(e), 0);
  nc_conn_t *f2 = sc_client(h, NULL);
  CHECK(f2);
  CHECK_EQ_INT(sc_send(f2, "4abc"), 0);
  CHECK_EQ_INT(sc_expect_close(f2), 0);
  /* 10: G — a binary frame nobody announced; 11: H — text while an attachment is due. */
  nc_conn_t *g = sc_client(h, NULL);
  CHECK(g);
  CHECK_EQ_INT(sc_send_bin(g, "xx", 2), 0);
  CHECK_EQ_INT(sc_expect_close(g), 0);
  nc_conn_t *hh = sc_client(h, NULL);
  CHECK(hh);
  CHECK_EQ_INT(sc_send(hh, "451-[\"b\",{\"_placeholder\":true,\"num\":0}]"), 0);
  CHECK_EQ_INT(sc_send(hh, "42[\"x\"]"), 0);
  CHECK_EQ_INT(sc_expect_close(hh), 0);
  WAIT_DISC(h, 10);
  CHECK_EQ_INT(sx_read(h, &x->nsocks), 12);
  CHECK_EQ_INT(sx_read(h, &x->nevents), 0);
}

TEST(disconnect_reasons) {
  sx_t *x = sx_new(0);
  CHECK(x);
  CHECK(sx_of(x, "/chat"));
  CHECK_EQ_INT(sx_run(x, client_disc), 0);
  CHECK_EQ_INT(x->r[0], 0);
  static const char *const want[12] = {
      "client namespace disconnect", "server namespace disconnect", NULL, /* B "/chat": open */
      "server namespace disconnect", "server namespace disconnect", NULL, /* A again: open */
      "transport close",             "transport close",             "parse error",
      "parse error",                 "parse error",                 "parse error"};
  CHECK(strcmp(x->nsps[2], "/chat") == 0 && strcmp(x->nsps[4], "/chat") == 0);
  CHECK(strcmp(x->nsps[5], "/") == 0 && strcmp(x->nsps[7], "/chat") == 0);
  for (int i = 0; i < 12; i++) {
    if (!want[i]) continue;
    if (strcmp(x->reasons[i], want[i]) != 0) fprintf(stderr, "socket %d: reason \"%s\"\n", i, x->reasons[i]);
    CHECK(strcmp(x->reasons[i], want[i]) == 0);
  }
  for (int i = 0; i < 12; i++) CHECK(x->ndisc[i] == 1 && x->ndiscing[i] == 1);
}

/* ---- server shutdown ---- */

static void client_shutdown(nh_t *h) {
  size_t n;
  int op;
  nc_conn_t *a = sc_client(h, NULL);
  CHECK(a);
  CHECK_EQ_INT(sc_join(a, "/chat", NULL, NULL), 0);
  nc_conn_t *v3 = sc_open(h, 3, NULL);
  CHECK(v3);
  CHECK_EQ_INT(sc_expect(v3, "40"), 0);
  CHECK_EQ_INT(nh_call(h, L_close_server, NULL), 0);
  char f[2][64];
  CHECK_EQ_INT(sc_read(a, &op, f[0], sizeof f[0], &n), 0);
  CHECK_EQ_INT(sc_read(a, &op, f[1], sizeof f[1], &n), 0);
  CHECK((strcmp(f[0], "41") == 0 && strcmp(f[1], "41/chat,") == 0) ||
        (strcmp(f[1], "41") == 0 && strcmp(f[0], "41/chat,") == 0));
  CHECK_EQ_INT(sc_expect_close(a), 0);
  CHECK_EQ_INT(sc_expect(v3, "41"), 0);
  CHECK_EQ_INT(sc_expect_close(v3), 0);
}

TEST(server_shutdown_says_disconnect) {
  sx_t *x = sx_new(0);
  CHECK(x);
  CHECK(sx_of(x, "/chat"));
  CHECK_EQ_INT(sx_run(x, client_shutdown), 0);
  CHECK_EQ_INT(x->nsocks, 3);
  CHECK_EQ_INT(x->disconnects, 3);
  for (int i = 0; i < 3; i++) CHECK(strcmp(x->reasons[i], "server shutting down") == 0);
  CHECK_EQ_INT(x->h.server_closed, 1);
}

/* ============================================================================================== */
/* 9. The connect timeout; Engine.IO v3 clients                                                   */

static void L_alive(nh_t *h, void *arg) {
  sx_t *x = h->user;
  sio_nsp_t *chat;
  x->r[0] = sio_nsp_emit(x->root, NULL, "alive", NULL);
  x->r[1] = sio_io_of(x->io, "/chat", &chat) == 0 ? sio_nsp_emit(chat, NULL, "alive", NULL) : -1;
}

static void client_ctimeout(nh_t *h) {
  sx_t *x = h->user;
  char eid[21];
  /* Never sends CONNECT: closed after 200 ms. */
  nc_conn_t *a = sc_open(h, 4, NULL);
  CHECK(a);
  uint64_t t0 = uv_hrtime();
  CHECK_EQ_INT(sc_expect_close(a), 0);
  x->r[5] = (int)((uv_hrtime() - t0) / 1000000);
  /* Refused everywhere it asked: closed too. */
  nc_conn_t *d = sc_open(h, 4, NULL);
  CHECK(d);
  CHECK_EQ_INT(sc_send(d, "40/nope,"), 0);
  CHECK_EQ_INT(sc_expect(d, "44/nope,{\"message\":\"Invalid namespace\"}"), 0);
  /* Connected at once: kept. */
  nc_conn_t *b = sc_client(h, NULL); /* socket 0 */
  CHECK(b);
  /* Engine.IO v3: in "/" from the start, the CONNECT without payload; ids from the engine id. */
  nc_conn_t *v3 = sc_open(h, 3, eid); /* socket 1 */
  CHECK(v3);
  CHECK_EQ_INT(sc_expect(v3, "40"), 0);
  CHECK_EQ_INT(sc_send(v3, "40/chat,"), 0); /* socket 2 */
  CHECK_EQ_INT(sc_expect(v3, "40/chat,"), 0);
  /* A v3 client's query on the namespace is its auth. */
  CHECK_EQ_INT(sc_send(v3, "40/q?token=abc&x=1+2%21,"), 0); /* socket 3 */
  CHECK_EQ_INT(sc_expect(v3, "40/q,"), 0);
  CHECK_EQ_INT(sc_expect_close(d), 0);
  nh_sleep_ms(300);
  CHECK_EQ_INT(nh_call(h, L_alive, NULL), 0);
  CHECK_EQ_INT(sc_expect(b, "42[\"alive\"]"), 0);
  CHECK_EQ_INT(sc_expect(v3, "42[\"alive\"]"), 0);
  CHECK_EQ_INT(sc_expect(v3, "42/chat,[\"alive\"]"), 0);
  snprintf(x->s[0], 64, "%s", eid);
}

TEST(connect_timeout_and_eio3) {
  sx_t *x = sx_new(200);
  CHECK(x);
  CHECK(sx_of(x, "/chat"));
  CHECK(sx_of(x, "/q"));
  CHECK_EQ_INT(sx_run(x, client_ctimeout), 0);
  CHECK(x->r[5] >= 150 && x->r[5] < 2000);
  CHECK_EQ_INT(x->r[0], 0);
  CHECK_EQ_INT(x->r[1], 0);
  CHECK_EQ_INT(x->nsocks, 4);
  CHECK(strcmp(x->ids[1], x->s[0]) == 0);
  char want[128];
  snprintf(want, sizeof want, "/chat#%s", x->s[0]);
  CHECK(strcmp(x->ids[2], want) == 0);
  snprintf(want, sizeof want, "/q#%s", x->s[0]);
  CHECK(strcmp(x->ids[3], want) == 0);
  CHECK(strcmp(x->auths[1], "{}") == 0);
  CHECK(strcmp(x->auths[3], "{\"token\":\"abc\",\"x\":\"1 2!\"}") == 0);
}

/* ============================================================================================== */
/* 10. on_outgoing; reserved event names                                                          */

static void L_out(nh_t *h, void *arg) {
  sx_t *x = h->user;
  sio_socket_t *a = x->socks[0];
  int bad = 0;
  bad += emit_json(a, "one", "[1]", 0) != 0;
  bad += nsp_emit_json(x->root, NULL, "two", NULL) != 0;
  const char *rb[] = {x->ids[1]};
  sio_target_t tb = {rb, 1, NULL, 0, 0};
  bad += nsp_emit_json(x->root, &tb, "three", "[\"x\"]") != 0;
  x->r[1] = x->nout;
  static const char *const reserved[] = {"connect",       "connect_error", "disconnect",
                                         "disconnecting", "newListener",   "removeListener"};
  for (size_t i = 0; i < sizeof reserved / sizeof *reserved; i++) {
    bad += emit_json(a, reserved[i], NULL, 0) != SIO_ERESERVED;
    bad += nsp_emit_json(x->root, NULL, reserved[i], NULL) != SIO_ERESERVED;
    bad += sio_socket_emit_ack(a, reserved[i], NULL, 0, 1000, ack_cb, NULL) != SIO_ERESERVED;
    bad += sio_nsp_emit_ack(x->root, NULL, reserved[i], NULL, 1000, bcast_cb, NULL) != SIO_ERESERVED;
  }
  bad += sio_socket_emit(a, NULL, NULL, 0) != SIO_EINVAL;
  cJSON *obj = cJSON_CreateObject();
  sio_args_t notarray = {obj, NULL, 0};
  bad += sio_socket_emit(a, "x", &notarray, 0) != SIO_EINVAL;
  bad += sio_nsp_emit(x->root, NULL, "x", &notarray) != SIO_EINVAL;
  cJSON_Delete(obj);
  x->r[2] = x->nout; /* refused emits are not announced */
  bad += sio_nsp_emit_ack(x->root, &tb, "four", NULL, 1000, bcast_cb, (void *)4) != 0;
  bad += sio_socket_emit_ack(a, "five", NULL, 0, 1000, ack_cb, (void *)5) != 0;
  x->r[0] = bad;
}

static void client_out(nh_t *h) {
  sx_t *x = h->user;
  long id;
  nc_conn_t *a = sc_client(h, NULL), *b = sc_client(h, NULL);
  CHECK(a && b);
  CHECK_EQ_INT(nh_call(h, L_out, NULL), 0);
  CHECK_EQ_INT(sc_expect(a, "42[\"one\",1]"), 0);
  CHECK_EQ_INT(sc_expect(a, "42[\"two\"]"), 0);
  CHECK_EQ_INT(sc_expect_ack_req(a, "42", "[\"five\"]", &id), 0);
  CHECK_EQ_INT(sc_sendf(a, "43%ld[]", id), 0);
  CHECK_EQ_INT(sc_expect(b, "42[\"two\"]"), 0);
  CHECK_EQ_INT(sc_expect(b, "42[\"three\",\"x\"]"), 0);
  CHECK_EQ_INT(sc_expect_ack_req(b, "42", "[\"four\"]", &id), 0);
  CHECK_EQ_INT(sc_sendf(b, "43%ld[]", id), 0);
  WAIT_GE(h, x, nacks, 1);
  WAIT_GE(h, x, nbcast, 1);
}

TEST(outgoing_and_reserved_names) {
  sx_t *x = sx_new(0);
  CHECK(x);
  CHECK_EQ_INT(sx_run(x, client_out), 0);
  CHECK_EQ_INT(x->r[0], 0);
  CHECK_EQ_INT(x->r[1], 4); /* one(A), two(A), two(B), three(B) */
  CHECK_EQ_INT(x->r[2], 4);
  CHECK_EQ_INT(x->nout, 6);
  CHECK(strcmp(x->out_ev[0], "one") == 0 && x->out_sock[0] == 0);
  CHECK(strcmp(x->out_args[0], "[1]") == 0);
  CHECK(strcmp(x->out_ev[1], "two") == 0 && strcmp(x->out_ev[2], "two") == 0);
  CHECK(x->out_sock[1] + x->out_sock[2] == 1);
  CHECK(strcmp(x->out_ev[3], "three") == 0 && x->out_sock[3] == 1);
  CHECK(strcmp(x->out_args[3], "[\"x\"]") == 0);
  CHECK(strcmp(x->out_ev[4], "four") == 0 && x->out_sock[4] == 1);
  CHECK(strcmp(x->out_ev[5], "five") == 0 && x->out_sock[5] == 0);
  CHECK_EQ_INT(x->nacks, 1);
  CHECK(x->acks[0].tag == 5 && x->acks[0].status == 0);
  CHECK_EQ_INT(x->nbcast, 1);
  CHECK(x->bcast[0].tag == 4 && x->bcast[0].status == 0);
  CHECK(strcmp(x->bcast[0].responses, "[null]") == 0); /* an empty answer: its first arg, absent */
}

/* ---- on_connection disconnects at once ---- */

static void client_kick(nh_t *h) {
  nc_conn_t *c = sc_client(h, NULL);
  CHECK(c);
  CHECK_EQ_INT(sc_expect(c, "41"), 0);
  CHECK_EQ_INT(sc_expect_close(c), 0);
  /* Engine.IO v3: connected (and so disconnected) from within the handshake. */
  nc_conn_t *v3 = sc_open(h, 3, NULL);
  CHECK(v3);
  CHECK_EQ_INT(sc_expect(v3, "40"), 0);
  CHECK_EQ_INT(sc_expect(v3, "41"), 0);
  CHECK_EQ_INT(sc_expect_close(v3), 0);
}

TEST(disconnect_from_on_connection) {
  sx_t *x = sx_new(0);
  CHECK(x);
  x->kick = 1;
  CHECK_EQ_INT(sx_run(x, client_kick), 0);
  CHECK_EQ_INT(x->nsocks, 2);
  CHECK_EQ_INT(x->disconnects, 2);
  for (int i = 0; i < 2; i++) CHECK(strcmp(x->reasons[i], "server namespace disconnect") == 0);
}

/* ---- the heartbeat ---- */

static void client_ping(nh_t *h) {
  sx_t *x = h->user;
  char buf[256];
  size_t n;
  int op;
  nc_conn_t *a = sc_client(h, NULL), *b = sc_client(h, NULL);
  CHECK(a && b);
  /* B answers its pings; A does not and is closed. */
  CHECK_EQ_INT(sc_expect(b, "2"), 0);
  CHECK_EQ_INT(sc_send(b, "3"), 0);
  CHECK_EQ_INT(sc_expect(a, "2"), 0);
  CHECK_EQ_INT(sc_expect_close(a), 0);
  WAIT_GE(h, x, disconnects, 1);
  CHECK_EQ_INT(nh_call(h, L_emit_all, "alive"), 0);
  for (int i = 0; i < 4; i++) {
    CHECK_EQ_INT(sc_read(b, &op, buf, sizeof buf, &n), 0);
    if (strcmp(buf, "2") == 0) {
      CHECK_EQ_INT(sc_send(b, "3"), 0);
      continue;
    }
    CHECK(strcmp(buf, "42[\"alive\"]") == 0);
    break;
  }
}

TEST(ping_timeout_reason) {
  sx_t *x = sx_new2(0, 300, 200);
  CHECK(x);
  CHECK_EQ_INT(sx_run(x, client_ping), 0);
  CHECK_EQ_INT(x->nsocks, 2);
  CHECK(strcmp(x->reasons[0], "ping timeout") == 0);
  CHECK_EQ_INT(x->disconnects, 2);
}

/* ============================================================================================== */
/* 11. Callbacks pending when the server closes                                                   */

static void L_bcast_pending(nh_t *h, void *arg) {
  sx_t *x = h->user;
  x->r[0] = sio_nsp_emit_ack(x->root, NULL, "poll", NULL, 300, bcast_cb, (void *)1);
  x->r[1] = sio_socket_emit_ack(x->socks[0], "q", NULL, 0, 300, ack_cb, (void *)2);
}

static void client_bcast_pending(nh_t *h) {
  long id;
  nc_conn_t *a = sc_client(h, NULL);
  CHECK(a);
  CHECK_EQ_INT(nh_call(h, L_bcast_pending, NULL), 0);
  CHECK_EQ_INT(sc_expect_ack_req(a, "42", "[\"poll\"]", &id), 0);
  CHECK_EQ_INT(sc_expect_ack_req(a, "42", "[\"q\"]", &id), 0);
  CHECK_EQ_INT(nh_call(h, L_close_server, NULL), 0);
  CHECK_EQ_INT(sc_expect(a, "41"), 0);
  CHECK_EQ_INT(sc_expect_close(a), 0);
}

/* A broadcast with acks still waiting when the server closes: its callback must still run once,
 * and not with a namespace that is gone (the loop ends only after its timer). */
static void case_bcast_pending(void) {
  sx_t *x = sx_new(0);
  CHECK(x);
  CHECK_EQ_INT(sx_run(x, client_bcast_pending), 0);
  CHECK_EQ_INT(x->r[0], 0);
  CHECK_EQ_INT(x->r[1], 0);
  CHECK_EQ_INT(x->nacks, 1);
  CHECK_EQ_INT(x->acks[0].status, SIO_ECLOSED);
  CHECK_EQ_INT(x->nbcast, 1);
  CHECK(x->bcast[0].status == SIO_ETIMEDOUT || x->bcast[0].status == SIO_ECLOSED);
}

TEST(broadcast_ack_pending_at_server_close) { CHECK(run_forked(case_bcast_pending)); }

/* Middleware still deciding when the server closes, completing afterwards: the handle "stays valid
 * until then" (sio.h), so next() must be harmless, and nothing may leak. */
static void mw_late_fire(uv_timer_t *t) {
  sx_t *x = t->data;
  sio_socket_next(x->held[0]);
  sio_socket_refuse(x->held[1], "late", NULL);
  x->r[0] = 1;
  uv_close((uv_handle_t *)t, NULL);
}

static void mw_late_shutdown(nh_t *h) {
  sx_t *x = h->user;
  uv_timer_start(&x->mw_timer, mw_late_fire, 200, 0); /* after the server is gone */
}

static void client_mw_late(nh_t *h) {
  sx_t *x = h->user;
  nc_conn_t *c = sc_client(h, NULL);
  CHECK(c);
  CHECK_EQ_INT(sc_send(c, "40/slow,"), 0);
  nc_conn_t *d = sc_open(h, 4, NULL);
  CHECK(d);
  CHECK_EQ_INT(sc_send(d, "40/slow,"), 0);
  WAIT_GE(h, x, mw_calls, 2);
}

static void case_mw_late(void) {
  sx_t *x = sx_new(0);
  CHECK(x);
  x->h.on_shutdown = mw_late_shutdown;
  sio_nsp_t *slow = sx_of(x, "/slow");
  CHECK(slow);
  CHECK_EQ_INT(sio_nsp_use(slow, mw_async, (void *)MW_HOLD), 0);
  CHECK_EQ_INT(sx_run(x, client_mw_late), 0);
  CHECK_EQ_INT(x->r[0], 1);
  CHECK_EQ_INT(x->nsocks, 1);
}

TEST(middleware_completes_after_server_close) { CHECK(run_forked(case_mw_late)); }

/* ---- socket data in fetch_sockets (sio_io_on_socket_data) ---- */

/* The first socket's data says who it is; the second has none (NULL: {}); a third is too deep. */
static cJSON *data_of(sio_socket_t *s, void *arg) {
  sx_t *x = arg;
  x->r[3]++;
  int i = sidx(s);
  if (i == 0) return cJSON_Parse("{\"user\":\"ann\",\"n\":[1,2]}");
  if (i == 2) {
    cJSON *deep = cJSON_CreateArray(), *in = deep;
    for (int d = 1; d < SIO_MAX_DEPTH + 1; d++) {
      cJSON *a = cJSON_CreateArray();
      cJSON_AddItemToArray(in, a);
      in = a;
    }
    return deep;
  }
  return NULL;
}

static void on_fetched(sio_nsp_t *n, int status, const cJSON *sockets, void *arg) {
  sx_t *x = arg;
  x->r[0] = status;
  x->r[1]++;
  /* "<data>" of each socket, by connection order */
  for (const cJSON *o = sockets ? sockets->child : NULL; o; o = o->next) {
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(o, "id");
    for (int i = 0; i < 3; i++)
      if (cJSON_IsString(id) && strcmp(id->valuestring, x->ids[i]) == 0)
        print_json(cJSON_GetObjectItemCaseSensitive(o, "data"), x->s[i], sizeof x->s[0]);
  }
}

static void L_fetch_data(nh_t *h, void *arg) {
  sx_t *x = h->user;
  sio_io_on_socket_data(x->io, arg ? data_of : NULL, x);
  x->r[2] = sio_nsp_fetch_sockets(x->root, NULL, on_fetched, x);
}

static void L_fetched(nh_t *h, void *arg) {
  sx_t *x = h->user;
  *(int *)arg = x->r[1];
}

static void client_fetch_data(nh_t *h) {
  sx_t *x = h->user;
  for (int i = 0; i < 3; i++) CHECK(sc_client(h, NULL));
  CHECK_EQ_INT(nh_call(h, L_fetch_data, "on"), 0);
  int done = 0;
  for (int t = 0; t < 200 && done < 1; t++) {
    usleep(5000);
    CHECK_EQ_INT(nh_call(h, L_fetched, &done), 0);
  }
  CHECK_EQ_INT(done, 1);
  char all[256];
  snprintf(all, sizeof all, "%s|%s|%s", x->s[0], x->s[1], x->s[2]);
  if (strcmp(all, "{\"user\":\"ann\",\"n\":[1,2]}|{}|{}") != 0) fprintf(stderr, "got %s\n", all);
  x->r[4] = strcmp(all, "{\"user\":\"ann\",\"n\":[1,2]}|{}|{}") == 0;
  CHECK_EQ_INT(nh_call(h, L_fetch_data, NULL), 0); /* unset: {} again */
  for (int t = 0; t < 200 && done < 2; t++) {
    usleep(5000);
    CHECK_EQ_INT(nh_call(h, L_fetched, &done), 0);
  }
  CHECK_EQ_INT(done, 2);
}

/* Node's socket.data as fetchSockets reports it: read from the io's callback when described. */
TEST(fetch_sockets_reports_socket_data) {
  sx_t *x = sx_new(0);
  CHECK(x);
  CHECK_EQ_INT(sx_run(x, client_fetch_data), 0);
  CHECK_EQ_INT(x->r[2], 0);
  CHECK_EQ_INT(x->r[0], 0);
  CHECK_EQ_INT(x->r[3], 3); /* called once per socket, and not once unset */
  CHECK_EQ_INT(x->r[4], 1);
  CHECK(strcmp(x->s[0], "{}") == 0); /* the second fetch, without a callback */
}

/* ============================================================================================== */
/* auth sent or not; the server's log                                                              */

#define MAXLOG 128
static struct {
  int n, level[MAXLOG];
  char comp[MAXLOG][16], msg[MAXLOG][200];
  void *arg;
} logs;

static void cb_log(sio_server_t *srv, int level, const char *comp, const char *msg, void *arg) {
  (void)srv;
  logs.arg = arg;
  if (logs.n >= MAXLOG) return;
  logs.level[logs.n] = level;
  snprintf(logs.comp[logs.n], sizeof logs.comp[0], "%s", comp);
  snprintf(logs.msg[logs.n], sizeof logs.msg[0], "%s", msg);
  logs.n++;
}

/* How many records of `level` and `comp` hold `needle`. */
static int log_count(int level, const char *comp, const char *needle) {
  int k = 0;
  for (int i = 0; i < logs.n; i++)
    k += logs.level[i] == level && strcmp(logs.comp[i], comp) == 0 && strstr(logs.msg[i], needle);
  return k;
}

static void client_auth_log(nh_t *h) {
  sx_t *x = h->user;
  char eid[3][21], want[96];
  nc_conn_t *c[3];
  static const char *const auth[3] = {NULL, "{}", "{\"a\":1}"};
  for (int i = 0; i < 3; i++) {
    c[i] = sc_open(h, 4, eid[i]);
    CHECK(c[i]);
    CHECK_EQ_INT(sc_join(c[i], "/", auth[i], NULL), 0);
  }
  /* a v3 client: in "/" from the start (nothing sent), then "/chat" with a query (its auth) */
  nc_conn_t *v3 = sc_open(h, 3, NULL);
  CHECK(v3);
  CHECK_EQ_INT(sc_expect(v3, "40"), 0);
  CHECK_EQ_INT(sc_send(v3, "40/chat?t=1,"), 0);
  CHECK_EQ_INT(sc_expect(v3, "40/chat,"), 0);
  CHECK_EQ_INT(sc_send(c[0], "40/nope,"), 0);
  CHECK_EQ_INT(sc_expect(c[0], "44/nope,{\"message\":\"Invalid namespace\"}"), 0);
  nc_conn_t *bad = nh_connect(h, 0);
  nc_response_t *r = malloc(sizeof *r);
  CHECK(bad && r);
  int rr = nc_request(bad, "GET", "/socket.io/?EIO=4&transport=polling&sid=nope", NULL, NULL, 0, r);
  free(r);
  CHECK_EQ_INT(rr, 0);
  nc_close(c[1]); /* "transport close" */
  WAIT_GE(h, x, disconnects, 1);
  snprintf(want, sizeof want, "session %s closed: transport close", eid[1]);
  CHECK_EQ_INT(log_count(SIO_LOG_INFO, "engine", want), 1); /* (read racing the loop: written before) */
}

TEST(auth_sent_and_server_log) {
  sx_t *x = sx_new(0);
  CHECK(x);
  CHECK(sx_of(x, "/chat"));
  memset(&logs, 0, sizeof logs);
  int tag;
  sio_server_set_log(x->h.server, SIO_LOG_DEBUG, cb_log, &tag);
  sio_server_set_debug(x->h.server, 0); /* whatever SIO_DEBUG says: these records are counted */
  CHECK_EQ_INT(sx_run(x, client_auth_log), 0);
  CHECK_EQ_INT(x->nsocks, 5);
  /* "40" sent nothing; "40{}" and "40{...}" did; both read {} and {"a":1} as before */
  CHECK_EQ_INT(x->auth_sent[0], 0);
  CHECK(strcmp(x->auths[0], "{}") == 0);
  CHECK_EQ_INT(x->auth_sent[1], 1);
  CHECK(strcmp(x->auths[1], "{}") == 0);
  CHECK_EQ_INT(x->auth_sent[2], 1);
  CHECK(strcmp(x->auths[2], "{\"a\":1}") == 0);
  CHECK_EQ_INT(x->auth_sent[3], 0); /* v3 in "/" */
  CHECK_EQ_INT(x->auth_sent[4], 1); /* v3 "/chat?t=1" */
  CHECK(strcmp(x->auths[4], "{\"t\":\"1\"}") == 0);
  /* the log: every session opened and closed, at INFO; the refusals at DEBUG */
  CHECK(logs.arg == &tag);
  CHECK_EQ_INT(log_count(SIO_LOG_INFO, "engine", "(websocket, EIO 4, 127.0.0.1)"), 3);
  CHECK_EQ_INT(log_count(SIO_LOG_INFO, "engine", "(websocket, EIO 3, 127.0.0.1)"), 1);
  CHECK_EQ_INT(log_count(SIO_LOG_INFO, "engine", " opened ("), 4);
  /* The one the client closed says so (checked by session id in client_auth_log); the others
   * close at shutdown, where a client's side may go first ("transport close" too): racing. */
  CHECK(log_count(SIO_LOG_INFO, "engine", " closed: transport close") >= 1);
  CHECK_EQ_INT(log_count(SIO_LOG_INFO, "engine", " closed: "), 4);
  CHECK_EQ_INT(log_count(SIO_LOG_DEBUG, "socketio", "no namespace /nope (Invalid namespace)"), 1);
  CHECK_EQ_INT(log_count(SIO_LOG_DEBUG, "engine",
                         "400 Session ID unknown: GET /socket.io/?EIO=4&transport=polling&sid=nope"), 1);
  CHECK_EQ_INT(logs.n, 10);
  CHECK(strcmp(sio_log_level_name(SIO_LOG_WARN), "warn") == 0);
  CHECK(strcmp(sio_log_level_name(42), "unknown") == 0);
}

/* At the default level (WARN) a session says nothing; a NULL callback takes everything off. */
static void client_quiet(nh_t *h) {
  nc_conn_t *c = sc_client(h, NULL);
  CHECK(c);
  CHECK_EQ_INT(sc_send(c, "40/nope,"), 0);
  CHECK_EQ_INT(sc_expect(c, "44/nope,{\"message\":\"Invalid namespace\"}"), 0);
}

TEST(server_log_levels) {
  sx_t *x = sx_new(0);
  CHECK(x);
  memset(&logs, 0, sizeof logs);
  sio_server_set_log(x->h.server, SIO_LOG_WARN, cb_log, NULL);
  sio_server_set_debug(x->h.server, 0);
  CHECK_EQ_INT(sx_run(x, client_quiet), 0);
  CHECK_EQ_INT(logs.n, 0);
  x = sx_new(0);
  CHECK(x);
  sio_server_set_log(x->h.server, SIO_LOG_DEBUG, NULL, NULL);
  CHECK_EQ_INT(sx_run(x, client_quiet), 0);
  CHECK_EQ_INT(logs.n, 0);
}

/* ---- debug logging by category (SIO_DEBUG) ---- */

static int nrecords, ntrace;
static void cb_count(sio_server_t *srv, int level, const char *comp, const char *msg, void *arg) {
  (void)srv, (void)comp, (void)msg, (void)arg;
  nrecords++;
  ntrace += level == SIO_LOG_TRACE;
}

static int log_has(int level, const char *comp, const char *msg) {
  for (int i = 0; i < logs.n; i++)
    if (logs.level[i] == level && strcmp(logs.comp[i], comp) == 0 && strcmp(logs.msg[i], msg) == 0)
      return 1;
  fprintf(stderr, "no record %s: %s; the records:\n", comp, msg);
  for (int i = 0; i < logs.n; i++) fprintf(stderr, "  %d %s: %s\n", logs.level[i], logs.comp[i], logs.msg[i]);
  return 0;
}

static void dbg_echo(sx_t *x, sio_socket_t *s, const char *event, const sio_args_t *args,
                     int64_t ack) {
  (void)x, (void)event;
  if (ack >= 0) sio_socket_ack(s, ack, args);
}

/* A polling handshake, CONNECT, the upgrade to WebSocket, an event with an ack, then no pong: the
 * ping timeout closes the session. The session id goes to x->s[0]. */
static void client_debug(nh_t *h) {
  sx_t *x = h->user;
  nc_conn_t *p = nh_connect(h, 0), *w = nh_connect(h, 0);
  nc_response_t *r = malloc(sizeof *r);
  CHECK(p && w && r);
  CHECK_EQ_INT(nc_request(p, "GET", "/socket.io/?EIO=4&transport=polling", NULL, NULL, 0, r), 0);
  CHECK(r->status == 200 && strncmp(r->body, "0{\"sid\":\"", 9) == 0 && r->body_len > 29);
  char sid[21], target[128];
  memcpy(sid, r->body + 9, 20);
  sid[20] = '\0';
  snprintf(x->s[0], 64, "%s", sid);
  snprintf(target, sizeof target, "/socket.io/?EIO=4&transport=polling&sid=%s", sid);
  CHECK_EQ_INT(nc_request(p, "POST", target, "Content-Type: text/plain\r\n", "40", 2, r), 0);
  CHECK_EQ_INT(r->status, 200);
  CHECK_EQ_INT(nc_request(p, "GET", target, NULL, NULL, 0, r), 0);
  CHECK(r->status == 200 && strncmp(r->body, "40{\"sid\":\"", 10) == 0);
  snprintf(target, sizeof target, "/socket.io/?EIO=4&transport=websocket&sid=%s", sid);
  CHECK_EQ_INT(nc_ws_open(w, target, r), 0);
  free(r);
  CHECK_EQ_INT(sc_send(w, "2probe"), 0);
  CHECK_EQ_INT(sc_expect(w, "3probe"), 0);
  CHECK_EQ_INT(sc_send(w, "5"), 0);
  CHECK_EQ_INT(sc_send(w, "421[\"echo\",\"secret\"]"), 0);
  CHECK_EQ_INT(sc_expect(w, "431[\"secret\"]"), 0);
  CHECK_EQ_INT(sc_expect(w, "2"), 0); /* not answered */
  CHECK_EQ_INT(sc_expect_close(w), 0);
  WAIT_GE(h, x, disconnects, 1);
  nc_close(p);
}

TEST(debug_categories_lines) {
  sx_t *x = sx_new2(0, 300, 200);
  CHECK(x);
  memset(&logs, 0, sizeof logs);
  x->on_event = dbg_echo;
  /* WARN: the debug records come whatever the sink's level */
  sio_server_set_log(x->h.server, SIO_LOG_WARN, cb_log, NULL);
  sio_server_set_debug(x->h.server, SIO_DEBUG_ENGINE | SIO_DEBUG_SOCKET);
  CHECK_EQ_INT(sio_server_debug(x->h.server), SIO_DEBUG_ENGINE | SIO_DEBUG_SOCKET);
  CHECK_EQ_INT(sx_run(x, client_debug), 0);
  char want[160];
  const char *sid = x->s[0], *id = x->ids[0];
  snprintf(want, sizeof want, "session %s handshake: transport polling, EIO 4, peer 127.0.0.1", sid);
  CHECK(log_has(SIO_LOG_TRACE, "engine", want));
  snprintf(want, sizeof want, "session %s out: open (113 bytes, polling)", sid);
  CHECK(log_has(SIO_LOG_TRACE, "engine", want));
  snprintf(want, sizeof want, "session %s in: message (1 bytes, polling)", sid);
  CHECK(log_has(SIO_LOG_TRACE, "engine", want));
  snprintf(want, sizeof want, "session %s in: connect nsp / ack -1, 0 attachments (1 bytes)", sid);
  CHECK(log_has(SIO_LOG_TRACE, "socket", want));
  snprintf(want, sizeof want, "socket %s out: connect nsp / ack -1, 0 attachments (31 bytes)", id);
  CHECK(log_has(SIO_LOG_TRACE, "socket", want));
  snprintf(want, sizeof want, "session %s upgrade: polling -> websocket", sid);
  CHECK(log_has(SIO_LOG_TRACE, "engine", want));
  snprintf(want, sizeof want, "session %s in: message (19 bytes, websocket)", sid);
  CHECK(log_has(SIO_LOG_TRACE, "engine", want));
  snprintf(want, sizeof want, "socket %s in: event \"echo\" nsp / ack 1, 0 attachments (19 bytes)", id);
  CHECK(log_has(SIO_LOG_TRACE, "socket", want));
  snprintf(want, sizeof want, "socket %s out: ack nsp / ack 1, 0 attachments (12 bytes)", id);
  CHECK(log_has(SIO_LOG_TRACE, "socket", want));
  snprintf(want, sizeof want, "session %s out: message (12 bytes, websocket)", sid);
  CHECK(log_has(SIO_LOG_TRACE, "engine", want));
  snprintf(want, sizeof want, "session %s out: ping (0 bytes, websocket)", sid);
  CHECK(log_has(SIO_LOG_TRACE, "engine", want));
  snprintf(want, sizeof want, "session %s ping timeout (no pong within 200 ms)", sid);
  CHECK(log_has(SIO_LOG_TRACE, "engine", want));
  snprintf(want, sizeof want, "session %s closed: ping timeout", sid);
  CHECK(log_has(SIO_LOG_TRACE, "engine", want));
  /* only the categories asked for, never a payload; the WARN level kept the INFO records away */
  for (int i = 0; i < logs.n; i++) {
    CHECK_EQ_INT(logs.level[i], SIO_LOG_TRACE);
    CHECK(strcmp(logs.comp[i], "engine") == 0 || strcmp(logs.comp[i], "socket") == 0);
    CHECK(!strstr(logs.msg[i], "secret"));
  }
  CHECK(strcmp(sio_log_level_name(SIO_LOG_TRACE), "trace") == 0);
}

/* Off (no SIO_DEBUG): the same session gives no debug record, even to a sink taking every level. */
TEST(debug_off_formats_nothing) {
  unsetenv("SIO_DEBUG");
  sx_t *x = sx_new2(0, 300, 200);
  CHECK(x);
  x->on_event = dbg_echo;
  nrecords = ntrace = 0;
  sio_server_set_log(x->h.server, SIO_LOG_TRACE, cb_count, NULL);
  CHECK_EQ_INT(sio_server_debug(x->h.server), 0);
  CHECK_EQ_INT(sx_run(x, client_debug), 0);
  CHECK_EQ_INT(ntrace, 0);
  CHECK(nrecords > 0); /* the INFO ones came: the sink was listening */
}

/* SIO_DEBUG is read when a server is created; sio_debug_parse takes our names and Node's. */
TEST(debug_environment_and_parse) {
  unsigned m = 99;
  CHECK_EQ_INT(sio_debug_parse("engine,socket", &m), 0);
  CHECK_EQ_INT(m, SIO_DEBUG_ENGINE | SIO_DEBUG_SOCKET);
  CHECK_EQ_INT(sio_debug_parse(" nsp adapter,,redis http ", &m), 0);
  CHECK_EQ_INT(m, SIO_DEBUG_NSP | SIO_DEBUG_ADAPTER | SIO_DEBUG_REDIS | SIO_DEBUG_HTTP);
  CHECK_EQ_INT(sio_debug_parse("*", &m), 0);
  CHECK_EQ_INT(m, SIO_DEBUG_ALL);
  CHECK_EQ_INT(sio_debug_parse("", &m), 0);
  CHECK_EQ_INT(m, 0);
  CHECK_EQ_INT(sio_debug_parse(NULL, &m), 0);
  CHECK_EQ_INT(m, 0);
  CHECK_EQ_INT(sio_debug_parse("engine*,socket.io*", &m), 0);
  CHECK_EQ_INT(m, SIO_DEBUG_ALL);
  CHECK_EQ_INT(sio_debug_parse("engine:socket", &m), 0);
  CHECK_EQ_INT(m, SIO_DEBUG_ENGINE | SIO_DEBUG_HTTP);
  CHECK_EQ_INT(sio_debug_parse("socket.io:namespace,socket.io-redis", &m), 0);
  CHECK_EQ_INT(m, SIO_DEBUG_NSP | SIO_DEBUG_REDIS);
  m = 7;
  CHECK_EQ_INT(sio_debug_parse("engine,bogus", &m), SIO_EINVAL);
  CHECK_EQ_INT(m, 7);
  CHECK_EQ_INT(sio_debug_parse("engines", &m), SIO_EINVAL);
  CHECK(strcmp(sio_debug_category_name(SIO_DEBUG_REDIS), "redis") == 0);
  CHECK(strcmp(sio_debug_category_name(3), "unknown") == 0);
  uv_loop_t loop;
  uv_loop_init(&loop);
  static const struct { const char *env; unsigned want; } cases[] = {
      {"socket,http", SIO_DEBUG_SOCKET | SIO_DEBUG_HTTP}, {"all", SIO_DEBUG_ALL}, {"bogus", 0}, {NULL, 0}};
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    if (cases[i].env) setenv("SIO_DEBUG", cases[i].env, 1);
    else unsetenv("SIO_DEBUG");
    sio_server_t *srv;
    CHECK_EQ_INT(sio_server_new(&loop, NULL, &srv), 0);
    nrecords = ntrace = 0;
    if (cases[i].want == 0 && cases[i].env) { /* the bad list said so (at creation, to stderr) */ }
    CHECK_EQ_INT(sio_server_debug(srv), cases[i].want);
    sio_server_set_debug(srv, 0xffff);
    CHECK_EQ_INT(sio_server_debug(srv), SIO_DEBUG_ALL);
    sio_server_close(srv, NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
  }
  unsetenv("SIO_DEBUG");
  CHECK_EQ_INT(uv_loop_close(&loop), 0);
}

/* ============================================================================================== */
/* Connection state recovery                                                                      */

static void L_rec_traffic(nh_t *h, void *arg) {
  sx_t *x = h->user;
  sio_socket_t *s = x->socks[0];
  x->r[0] = sio_socket_join(s, "r1");
  x->r[1] = emit_json(s, "e1", NULL, 0);
  x->r[2] = nsp_emit_json(x->root, NULL, "e2", "[1]");
  x->r[3] = emit_json(s, "v", NULL, SIO_EMIT_VOLATILE);
  snprintf(x->s[0], 64, "%s", sio_socket_pid(s) ? sio_socket_pid(s) : "");
  x->r[8] = sio_socket_recovered(s);
}

static void L_rec_missed(nh_t *h, void *arg) {
  sx_t *x = h->user;
  const char *r1[] = {"r1"}, *other[] = {"other"};
  sio_target_t t1 = {r1, 1, NULL, 0, 0}, t2 = {other, 1, NULL, 0, 0};
  nsp_emit_json(x->root, &t1, "m1", NULL);
  nsp_emit_json(x->root, &t2, "m2", NULL);
  nsp_emit_json(x->root, NULL, "m3", NULL);
  snprintf(x->s[2], 64, "%s", x->reasons[0]);
}

static void L_rec_check(nh_t *h, void *arg) {
  sx_t *x = h->user;
  sio_socket_t *s = x->socks[1];
  x->r[4] = s ? sio_socket_recovered(s) : -1;
  x->r[5] = s ? (int)sio_socket_room_count(s) : -1;
  snprintf(x->s[3], 64, "%s", s && sio_socket_room(s, 1) ? sio_socket_room(s, 1) : "");
  print_json(s ? sio_socket_recovered_data(s) : NULL, x->s[1], 64);
  x->r[6] = x->socks[2] ? sio_socket_recovered(x->socks[2]) : -1;
  x->r[7] = x->socks[2] && sio_socket_recovered_data(x->socks[2]) == NULL;
}

static cJSON *rec_data(sio_socket_t *s, void *arg) { return cJSON_Parse("{\"name\":\"ann\"}"); }

static void mw_count(sio_socket_t *s, void *arg) {
  sock_x(s)->r[10]++;
  sock_x(s)->r[11] += sio_socket_recovered(s);
  sio_socket_next(s);
}

static void client_recovery(nh_t *h) {
  sx_t *x = h->user;
  char buf[512], sid[21], pid[21], want[128];
  size_t n;
  int op;
  nc_conn_t *c = sc_open(h, 4, NULL);
  CHECK(c);
  CHECK_EQ_INT(sc_send(c, "40"), 0);
  CHECK_EQ_INT(sc_read(c, &op, buf, sizeof buf, &n), 0);
  /* 40{"sid":"<20>","pid":"<20>"} */
  CHECK(n == 61 && strncmp(buf, "40{\"sid\":\"", 10) == 0 && strncmp(buf + 30, "\",\"pid\":\"", 9) == 0);
  memcpy(sid, buf + 10, 20);
  sid[20] = 0;
  memcpy(pid, buf + 39, 20);
  pid[20] = 0;
  CHECK(strcmp(sid, pid) != 0);
  WAIT_GE(h, x, nsocks, 1);
  CHECK_EQ_INT(nh_call(h, L_rec_traffic, NULL), 0);
  /* Offsets as one extra last argument; none on a volatile emit. */
  CHECK_EQ_INT(sc_expect(c, "42[\"e1\",\"0\"]"), 0);
  CHECK_EQ_INT(sc_expect(c, "42[\"e2\",1,\"1\"]"), 0);
  CHECK_EQ_INT(sc_expect(c, "42[\"v\"]"), 0);
  CHECK(strcmp(x->s[0], pid) == 0);
  nc_close(c); /* the transport goes: recoverable */
  WAIT_GE(h, x, disconnects, 1);
  CHECK_EQ_INT(nh_call(h, L_rec_missed, NULL), 0);
  CHECK(strcmp(x->s[2], "transport close") == 0);
  nc_conn_t *d = sc_open(h, 4, NULL);
  CHECK(d);
  CHECK_EQ_INT(sc_sendf(d, "40{\"pid\":\"%s\",\"offset\":\"1\"}", pid), 0);
  /* What it missed (in r1, and to everyone; not to "other"), then the CONNECT: same id and pid. */
  CHECK_EQ_INT(sc_expect(d, "42[\"m1\",\"2\"]"), 0);
  CHECK_EQ_INT(sc_expect(d, "42[\"m3\",\"4\"]"), 0);
  snprintf(want, sizeof want, "40{\"sid\":\"%s\",\"pid\":\"%s\"}", sid, pid);
  CHECK_EQ_INT(sc_expect(d, want), 0);
  WAIT_GE(h, x, nsocks, 2);
  /* A pid restores once: the same auth again is a fresh socket (through the middleware). */
  nc_conn_t *e = sc_open(h, 4, NULL);
  CHECK(e);
  CHECK_EQ_INT(sc_sendf(e, "40{\"pid\":\"%s\",\"offset\":\"1\"}", pid), 0);
  CHECK_EQ_INT(sc_read(e, &op, buf, sizeof buf, &n), 0);
  CHECK(n == 61 && strncmp(buf + 10, sid, 20) != 0 && strncmp(buf + 39, pid, 20) != 0);
  WAIT_GE(h, x, nsocks, 3);
  CHECK_EQ_INT(nh_call(h, L_rec_check, NULL), 0);
}

TEST(connection_state_recovery) {
  sx_recovery = 1;
  sx_t *x = sx_new(0);
  sx_recovery = 0;
  CHECK(x);
  sio_io_on_socket_data(x->io, rec_data, x);
  CHECK_EQ_INT(sio_nsp_use(x->root, mw_count, NULL), 0);
  CHECK_EQ_INT(sx_run(x, client_recovery), 0);
  CHECK_EQ_INT(x->r[0] | x->r[1] | x->r[2] | x->r[3], 0);
  CHECK_EQ_INT(x->r[8], 0);                    /* a first connection is not recovered */
  CHECK_EQ_INT(x->r[4], 1);                    /* the restored one is */
  CHECK_EQ_INT(x->r[5], 2);                    /* its id and r1 */
  CHECK(strcmp(x->s[3], "r1") == 0);
  CHECK(strcmp(x->s[1], "{\"name\":\"ann\"}") == 0); /* its data as it went away */
  CHECK(strcmp(x->ids[1], x->ids[0]) == 0);
  CHECK_EQ_INT(x->r[6], 0);
  CHECK_EQ_INT(x->r[7], 1);
  CHECK_EQ_INT(x->r[10], 2); /* skip_middlewares: the recovered socket did not run it */
  /* skip_middlewares off: the restored socket runs them too (already recovered in them). */
  sx_recovery = 2;
  x = sx_new(0);
  sx_recovery = 0;
  CHECK(x);
  sio_io_on_socket_data(x->io, rec_data, x);
  CHECK_EQ_INT(sio_nsp_use(x->root, mw_count, NULL), 0);
  CHECK_EQ_INT(sx_run(x, client_recovery), 0);
  CHECK_EQ_INT(x->r[4], 1);
  CHECK_EQ_INT(x->r[10], 3);
  CHECK_EQ_INT(x->r[11], 1); /* sio_socket_recovered() in the middleware of the restored one */
}

/* ---- connection state recovery kept by the adapter (adapter.h's persist/restore_session) ----
 * A fake adapter of the kind the Redis streams adapter is: it wraps the namespace's in-memory
 * adapter, keeps the recoverable broadcasts (numbering them with the layer's own store, so that
 * the offsets are those of the local path) and the sessions, and answers restores later from a
 * timer. The same client exchange as connection_state_recovery must give the same bytes; the
 * orderings of a restore in flight against the client leaving and the server closing must leave
 * nothing behind (the cases run forked, under ASan in CI). */
#include "adapter/adapter.h"
#include "socketio/recovery.h"

typedef struct fake_restore {
  struct fake_restore *next;
  uv_timer_t timer;
  char pid[64], offset[32];
  sio_restore_cb cb;
  void *arg;
  struct fake_ad *f;
} fake_restore_t;

typedef struct fake_ad {
  sio_adapter_t base;
  sio_adapter_t *local;
  sio_adapter_vt_t vt;
  sio_recovery_t *store;
  fake_restore_t *restores;
} fake_ad_t;

static struct {
  int delay_ms, persisted, restores, restore_status, closed_restores, single_bcasts;
  size_t layer_kept; /* what the layer's own store held at shutdown (packets + sessions) */
} fk;

#define FK(a) (((fake_ad_t *)(a))->local)
static int fk_add(sio_adapter_t *a, sio_socket_t *s, const char *r) { return FK(a)->vt->add(FK(a), s, r); }
static int fk_del(sio_adapter_t *a, sio_socket_t *s, const char *r) { return FK(a)->vt->del(FK(a), s, r); }
static void fk_del_all(sio_adapter_t *a, sio_socket_t *s) { FK(a)->vt->del_all(FK(a), s); }
static int fk_apply(sio_adapter_t *a, const sio_target_t *to, sio_socket_iter_cb fn, void *arg) {
  return FK(a)->vt->apply(FK(a), to, fn, arg);
}
static void fk_rooms(sio_adapter_t *a, void (*cb)(const char *, void *), void *arg) {
  FK(a)->vt->rooms(FK(a), cb, arg);
}
static int fk_bcast_ack(sio_adapter_t *a, const sio_target_t *to, const sio_bcast_packet_t *bp,
                        uint32_t ms, sio_bcast_ack_t *b) {
  return FK(a)->vt->broadcast_with_ack(FK(a), to, bp, ms, b);
}
static int fk_add_sockets(sio_adapter_t *a, const sio_target_t *to, const char *room) {
  return FK(a)->vt->add_sockets(FK(a), to, room);
}
static int fk_del_sockets(sio_adapter_t *a, const sio_target_t *to, const char *room) {
  return FK(a)->vt->del_sockets(FK(a), to, room);
}
static int fk_disconnect(sio_adapter_t *a, const sio_target_t *to, int close) {
  return FK(a)->vt->disconnect_sockets(FK(a), to, close);
}
static int fk_server_count(sio_adapter_t *a) { return FK(a)->vt->server_count(FK(a)); }

static uint64_t fk_now(sio_adapter_t *a) {
  return uv_now(sio_server_loop(sio_engine_server(sio_io_engine(sio_nsp_io(a->nsp)))));
}

/* As the streams adapter: a recoverable event gets the adapter's offset for this node's
 * recipients, and is kept with its rooms. */
static int fk_broadcast(sio_adapter_t *a, const sio_target_t *to, const sio_bcast_packet_t *bp) {
  fake_ad_t *f = (fake_ad_t *)a;
  if (!sio__nsp_recovery_enabled(a->nsp) || (to && (to->flags & SIO_EMIT_VOLATILE)))
    return f->local->vt->broadcast(f->local, to, bp);
  if (to && to->nrooms == 1 && sio_nsp_socket(a->nsp, to->rooms[0])) fk.single_bcasts++;
  char off[SIO_OFFSET_MAX];
  sio__recovery_next_offset(f->store, off);
  sio_encoded_t enc;
  int r = sio__encode_with_offset(a->nsp, bp->pkt, bp->bufs, off, &enc);
  if (r) return r;
  sio__recovery_keep(f->store, fk_now(a), to, NULL, &enc);
  sio_bcast_packet_t mine = {bp->pkt, bp->bufs, &enc};
  r = f->local->vt->broadcast(f->local, to, &mine);
  sio__encoded_clear(&enc);
  return r;
}

static int fk_persist(sio_adapter_t *a, const cJSON *session) {
  fake_ad_t *f = (fake_ad_t *)a;
  const cJSON *sid = cJSON_GetObjectItem(session, "sid"), *pid = cJSON_GetObjectItem(session, "pid");
  const cJSON *rooms = cJSON_GetObjectItem(session, "rooms");
  const char *v[16];
  size_t n = 0;
  for (const cJSON *e = rooms ? rooms->child : NULL; e && n < 16; e = e->next) v[n++] = e->valuestring;
  fk.persisted++;
  return sio__recovery_persist(f->store, fk_now(a), sid->valuestring, pid->valuestring, v, n,
                               cJSON_Duplicate(cJSON_GetObjectItem(session, "data"), 1));
}

static void fk_restore_unlink(fake_restore_t *q) {
  for (fake_restore_t **p = &q->f->restores; *p; p = &(*p)->next)
    if (*p == q) {
      *p = q->next;
      break;
    }
}

static void fk_restore_closed(uv_handle_t *h) { free(h->data); }

static void fk_on_restore_timer(uv_timer_t *t) {
  fake_restore_t *q = t->data;
  fake_ad_t *f = q->f;
  fk_restore_unlink(q);
  sio_recovered_t out;
  int r = sio__recovery_restore(f->store, fk_now(&f->base), q->pid, q->offset, &out);
  fk.restore_status = r;
  if (r == 0) q->cb(q->arg, 0, &out);
  else q->cb(q->arg, r, NULL);
  if (r == 0) sio__recovered_clear(&out); /* what the callback did not take */
  uv_close((uv_handle_t *)&q->timer, fk_restore_closed);
}

static int fk_restore(sio_adapter_t *a, const char *pid, const char *offset, sio_restore_cb cb,
                      void *arg) {
  fake_ad_t *f = (fake_ad_t *)a;
  fake_restore_t *q = calloc(1, sizeof *q);
  if (!q) return SIO_ENOMEM;
  snprintf(q->pid, sizeof q->pid, "%s", pid);
  snprintf(q->offset, sizeof q->offset, "%s", offset);
  q->cb = cb;
  q->arg = arg;
  q->f = f;
  q->next = f->restores;
  f->restores = q;
  uv_timer_init(sio_server_loop(sio_engine_server(sio_io_engine(sio_nsp_io(a->nsp)))), &q->timer);
  q->timer.data = q;
  uv_timer_start(&q->timer, fk_on_restore_timer, (uint64_t)fk.delay_ms, 0);
  fk.restores++;
  return 0;
}

/* The server is shutting down: restores in flight end with SIO_ECLOSED. */
static void fk_close(sio_adapter_t *a) {
  fake_ad_t *f = (fake_ad_t *)a;
  sio_nsp_recovery_stats_t st;
  sio_nsp_recovery_stats(a->nsp, &st);
  fk.layer_kept += st.packets + st.sessions;
  while (f->restores) {
    fake_restore_t *q = f->restores;
    fk_restore_unlink(q);
    uv_timer_stop(&q->timer);
    fk.closed_restores++;
    q->cb(q->arg, SIO_ECLOSED, NULL);
    uv_close((uv_handle_t *)&q->timer, fk_restore_closed);
  }
}

static void fk_free(sio_adapter_t *a) {
  fake_ad_t *f = (fake_ad_t *)a;
  fk_close(a);
  f->local->vt->free(f->local);
  sio__recovery_free(f->store);
  free(f);
}

static sio_adapter_t *fk_create(void *arg, sio_nsp_t *nsp, sio_adapter_t *local) {
  (void)arg;
  fake_ad_t *f = calloc(1, sizeof *f);
  if (!f || !(f->store = sio__recovery_new(60000, 0))) {
    free(f);
    return NULL;
  }
  f->local = local;
  f->vt = (sio_adapter_vt_t){.add = fk_add, .del = fk_del, .del_all = fk_del_all, .apply = fk_apply,
                             .rooms = fk_rooms, .broadcast = fk_broadcast,
                             .broadcast_with_ack = fk_bcast_ack, .add_sockets = fk_add_sockets,
                             .del_sockets = fk_del_sockets, .disconnect_sockets = fk_disconnect,
                             .server_count = fk_server_count, .persist_session = fk_persist,
                             .restore_session = fk_restore, .close = fk_close, .free = fk_free};
  f->base.vt = &f->vt;
  f->base.nsp = nsp;
  return &f->base;
}

static sx_t *sx_new_fake(int recovery, int delay_ms) {
  memset(&fk, 0, sizeof fk);
  fk.delay_ms = delay_ms;
  sx_recovery = recovery;
  sx_t *x = sx_new(0);
  sx_recovery = 0;
  if (!x) return NULL;
  sio_adapter_factory_t f = {fk_create, NULL, NULL, NULL};
  if (sio__io_use_adapters(x->io, &f) != 0) return NULL;
  sio_io_on_socket_data(x->io, rec_data, x);
  if (sio_nsp_use(x->root, mw_count, NULL) != 0) return NULL;
  return x;
}

TEST(adapter_kept_sessions) {
  /* The exchange of connection_state_recovery, the sessions and packets kept by the adapter: the
   * same bytes (offsets, missed packets before the CONNECT, same id and pid, a pid restores once). */
  sx_t *x = sx_new_fake(1, 30);
  CHECK(x);
  CHECK_EQ_INT(sx_run(x, client_recovery), 0);
  CHECK_EQ_INT(x->r[0] | x->r[1] | x->r[2] | x->r[3], 0);
  CHECK_EQ_INT(x->r[8], 0);
  CHECK_EQ_INT(x->r[4], 1);
  CHECK_EQ_INT(x->r[5], 2);
  CHECK(strcmp(x->s[3], "r1") == 0);
  CHECK(strcmp(x->s[1], "{\"name\":\"ann\"}") == 0);
  CHECK(strcmp(x->ids[1], x->ids[0]) == 0);
  CHECK_EQ_INT(x->r[6], 0);
  CHECK_EQ_INT(x->r[10], 2);           /* skip_middlewares: the recovered socket did not run it */
  /* The cut socket, through persist_session, then the two connected at shutdown (a store that
   * outlives this node keeps them for another). */
  CHECK_EQ_INT(fk.persisted, 3);
  CHECK_EQ_INT(fk.restores, 2);        /* both reconnections asked the adapter */
  CHECK_EQ_INT(fk.single_bcasts, 1);   /* e1, the socket's own emit, went through broadcast */
  /* skip_middlewares off: the restored socket runs them, already recovered. */
  x = sx_new_fake(2, 30);
  CHECK(x);
  CHECK_EQ_INT(sx_run(x, client_recovery), 0);
  CHECK_EQ_INT(x->r[4], 1);
  CHECK_EQ_INT(x->r[10], 3);
  CHECK_EQ_INT(x->r[11], 1);
  CHECK_EQ_INT((int)fk.layer_kept, 0); /* the layer kept nothing itself */
}

/* A restore in flight when its client goes: the socket never connects and is freed. */
static void client_restore_then_leave(nh_t *h) {
  sx_t *x = h->user;
  nc_conn_t *c = sc_open(h, 4, NULL);
  CHECK(c);
  CHECK_EQ_INT(sc_send(c, "40{\"pid\":\"p\",\"offset\":\"0\"}"), 0);
  nc_close(c);
  /* A fresh client after the restore answered: served as usual. */
  usleep(300 * 1000);
  nc_conn_t *d = sc_open(h, 4, NULL);
  CHECK(d);
  CHECK_EQ_INT(sc_send(d, "40"), 0);
  WAIT_GE(h, x, nsocks, 1);
}

/* A restore in flight when the server closes: the adapter ends it with SIO_ECLOSED. */
static void client_restore_then_shutdown(nh_t *h) {
  sx_t *x = h->user;
  nc_conn_t *c = sc_open(h, 4, NULL);
  CHECK(c);
  CHECK_EQ_INT(sc_send(c, "40{\"pid\":\"p\",\"offset\":\"0\"}"), 0);
  (void)x;
  usleep(100 * 1000); /* the CONNECT is in, its restore waiting 5 s */
}

TEST(adapter_restore_in_flight) {
  sx_t *x = sx_new_fake(1, 150);
  CHECK(x);
  CHECK_EQ_INT(sx_run(x, client_restore_then_leave), 0);
  CHECK_EQ_INT(fk.restores, 1);
  CHECK_EQ_INT(fk.restore_status, SIO_ENOTFOUND);
  CHECK_EQ_INT(x->nsocks, 1); /* only the fresh client */
  x = sx_new_fake(1, 5000);
  CHECK(x);
  CHECK_EQ_INT(sx_run(x, client_restore_then_shutdown), 0);
  CHECK_EQ_INT(fk.restores, 1);
  CHECK_EQ_INT(fk.closed_restores, 1);
  CHECK_EQ_INT(x->nsocks, 0);
}

static void client_none(nh_t *h) { (void)h; }

/* A caller built before connection_state_recovery existed passes a shorter struct: it is read,
 * and recovery is off; shorter than the first version is refused. */
TEST(io_options_older_size) {
  sx_t *x = sx_new(0);
  CHECK(x);
  sio_io_options_t o;
  sio_io_options_init(&o);
  o.engine.path = "/old/";
  o.size = offsetof(sio_io_options_t, connection_state_recovery);
  sio_io_t *io;
  CHECK_EQ_INT(sio_io_new(x->h.server, &o, &io), 0);
  o.size = offsetof(sio_io_options_t, parser) - 1;
  o.engine.path = "/older/";
  CHECK_EQ_INT(sio_io_new(x->h.server, &o, &io), SIO_EINVAL);
  CHECK_EQ_INT(sx_run(x, client_none), 0);
}

/* ============================================================================================== */
/* Per-socket catch-alls and packet middleware (Node's onAny family, socket.use)                  */

static char ulog[2048]; /* what the listeners and middleware saw, in order (loop thread) */
static sio_incoming_t *uheld; /* an event a middleware holds */

static void ulogf(const char *fmt, ...) {
  size_t n = strlen(ulog);
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(ulog + n, sizeof ulog - n, fmt, ap);
  va_end(ap);
}

static void u_any(sio_socket_t *s, const char *event, const sio_args_t *args, void *arg) {
  char a[128];
  print_json(args ? args->json : NULL, a, sizeof a);
  ulogf("%s:%s%s ", (const char *)arg, event, a);
}

/* mw1: "deny" is refused with an error; "mod" gets an extra argument; the rest go on. */
static void u_mw1(sio_socket_t *s, sio_incoming_t *in, void *arg) {
  const char *ev = sio_incoming_event(in);
  ulogf("mw1:%s ", ev);
  if (strcmp(ev, "deny") == 0) {
    cJSON *err = cJSON_Parse("{\"message\":\"denied\"}");
    sio_incoming_next(in, err);
    cJSON_Delete(err);
    return;
  }
  if (strcmp(ev, "mod") == 0) cJSON_AddItemToArray(sio_incoming_args(in), cJSON_CreateNumber(99));
  sio_incoming_next(in, NULL);
}

/* mw2: "slow" waits for L_u_release; the rest go on at once. */
static void u_mw2(sio_socket_t *s, sio_incoming_t *in, void *arg) {
  const char *ev = sio_incoming_event(in);
  size_t nb = 0;
  sio_incoming_bufs(in, &nb);
  ulogf("mw2:%s/%lld/%zu ", ev, (long long)sio_incoming_ack_id(in), nb);
  if (strcmp(ev, "slow") == 0) uheld = in;
  else sio_incoming_next(in, NULL);
}

static void u_event(sx_t *x, sio_socket_t *s, const char *event, const sio_args_t *args, int64_t ack) {
  char a[128];
  print_json(args ? args->json : NULL, a, sizeof a);
  ulogf("ev:%s%s/%lld ", event, a, (long long)ack);
  if (ack >= 0) sio_socket_ack(s, ack, args);
}

static void L_u_setup(nh_t *h, void *arg) {
  sx_t *x = h->user;
  sio_socket_t *s = x->socks[0];
  x->r[0] += sio_socket_on_any(s, 0, u_any, "a1") != 0;
  x->r[0] += sio_socket_on_any(s, SIO_ANY_PREPEND, u_any, "a0") != 0; /* before a1 */
  x->r[0] += sio_socket_on_any(s, 0, u_any, "a2") != 0;
  x->r[0] += sio_socket_on_any(s, SIO_ANY_OUTGOING, u_any, "o1") != 0;
  x->r[0] += sio_socket_on_any(s, SIO_ANY_OUTGOING | SIO_ANY_PREPEND, u_any, "o0") != 0;
  x->r[0] += sio_socket_on_any(s, 0, NULL, NULL) != SIO_EINVAL;
  x->r[0] += sio_socket_use(s, u_mw1, NULL) != 0;
  x->r[0] += sio_socket_use(s, u_mw2, NULL) != 0;
  sio_any_cb cb = NULL;
  void *a = NULL;
  x->r[1] = (int)sio_socket_listeners_any(s, 0, 0, &cb, &a);
  x->r[2] = cb == u_any && strcmp(a, "a0") == 0;
  x->r[3] = (int)sio_socket_listeners_any(s, SIO_ANY_OUTGOING, 1, &cb, &a);
  x->r[4] = strcmp(a, "o1") == 0;
}

static void L_u_release(nh_t *h, void *arg) {
  sio_incoming_t *in = uheld;
  uheld = NULL;
  ulogf("release ");
  sio_incoming_next(in, NULL);
}

static void L_u_emit(nh_t *h, void *arg) {
  sx_t *x = h->user;
  x->r[5] += emit_json(x->socks[0], "one", "[1]", 0) != 0;
  x->r[5] += nsp_emit_json(x->root, NULL, "all", "[2]") != 0; /* a broadcast reaches it too */
}

static void L_u_off(nh_t *h, void *arg) {
  sx_t *x = h->user;
  sio_socket_t *s = x->socks[0];
  x->r[6] = (int)sio_socket_off_any(s, 0, u_any, "a1");     /* 1 */
  x->r[6] += (int)sio_socket_off_any(s, 0, u_any, "nope") * 10; /* 0 */
  x->r[7] = (int)sio_socket_off_any(s, SIO_ANY_OUTGOING, NULL, NULL); /* 2 */
  x->r[8] = (int)sio_socket_listeners_any(s, 0, 9, NULL, NULL); /* 2 left */
  ulogf("| ");
}

static int pred_u_held(sx_t *x, void *a) { return uheld != NULL; }

static void client_use(nh_t *h) {
  sx_t *x = h->user;
  nc_conn_t *c = sc_client(h, NULL);
  CHECK(c);
  CHECK_EQ_INT(nh_call(h, L_u_setup, NULL), 0);
  CHECK_EQ_INT(sc_send(c, "42[\"ev\",1]"), 0);
  /* the error of "deny" reaches the client as nothing: the next frame is the ack of "ack" */
  CHECK_EQ_INT(sc_send(c, "425[\"deny\",2]"), 0);
  CHECK_EQ_INT(sc_send(c, "426[\"mod\",3]"), 0);
  CHECK_EQ_INT(sc_expect(c, "436[3,99]"), 0);
  /* held by mw2 while a later event goes through: the order is each event's own */
  CHECK_EQ_INT(sc_send(c, "451-7[\"slow\",{\"_placeholder\":true,\"num\":0}]"), 0);
  CHECK_EQ_INT(sc_send_bin(c, "\x01\x02", 2), 0);
  CHECK_EQ_INT(sx_until(h, pred_u_held, NULL, "slow held"), 0);
  CHECK_EQ_INT(sc_send(c, "428[\"fast\"]"), 0);
  CHECK_EQ_INT(sc_expect(c, "438[]"), 0);
  CHECK_EQ_INT(nh_call(h, L_u_release, NULL), 0);
  CHECK_EQ_INT(sc_expect(c, "461-7[{\"_placeholder\":true,\"num\":0}]"), 0);
  CHECK_EQ_INT(sc_expect_bin(c, "\x01\x02", 2), 0);
  CHECK_EQ_INT(nh_call(h, L_u_emit, NULL), 0);
  CHECK_EQ_INT(sc_expect(c, "42[\"one\",1]"), 0);
  CHECK_EQ_INT(sc_expect(c, "42[\"all\",2]"), 0);
  CHECK_EQ_INT(nh_call(h, L_u_off, NULL), 0);
  CHECK_EQ_INT(sc_send(c, "429[\"after\"]"), 0);
  CHECK_EQ_INT(sc_expect(c, "439[]"), 0);
  CHECK_EQ_INT(nh_call(h, L_u_emit, NULL), 0);
  CHECK_EQ_INT(sc_expect(c, "42[\"one\",1]"), 0);
  CHECK_EQ_INT(sc_expect(c, "42[\"all\",2]"), 0);
  /* a chain still held when the client leaves: released later, dispatching nothing */
  CHECK_EQ_INT(sc_send(c, "42[\"slow\"]"), 0);
  CHECK_EQ_INT(sx_until(h, pred_u_held, NULL, "slow held again"), 0);
  nc_close(c);
  WAIT_GE(h, x, disconnects, 1);
  CHECK_EQ_INT(nh_call(h, L_u_release, NULL), 0);
}

TEST(socket_use_and_catch_alls) {
  sx_t *x = sx_new(0);
  CHECK(x);
  ulog[0] = '\0';
  uheld = NULL;
  x->on_event = u_event;
  CHECK_EQ_INT(sx_run(x, client_use), 0);
  CHECK_EQ_INT(x->r[0], 0);
  CHECK_EQ_INT(x->r[1], 3);
  CHECK_EQ_INT(x->r[2], 1);
  CHECK_EQ_INT(x->r[3], 2);
  CHECK_EQ_INT(x->r[4], 1);
  CHECK_EQ_INT(x->r[5], 0);
  CHECK_EQ_INT(x->r[6], 1);
  CHECK_EQ_INT(x->r[7], 2);
  CHECK_EQ_INT(x->r[8], 2);
  const char *want =
      "a0:ev[1] a1:ev[1] a2:ev[1] mw1:ev mw2:ev/-1/0 ev:ev[1]/-1 "
      /* the catch-alls see the event the middleware then refuses; on_event gets "error" */
      "a0:deny[2] a1:deny[2] a2:deny[2] mw1:deny ev:error[{\"message\":\"denied\"}]/-1 "
      "a0:mod[3] a1:mod[3] a2:mod[3] mw1:mod mw2:mod/6/0 ev:mod[3,99]/6 "
      "a0:slow[{\"_placeholder\":true,\"num\":0}] a1:slow[{\"_placeholder\":true,\"num\":0}] "
      "a2:slow[{\"_placeholder\":true,\"num\":0}] mw1:slow mw2:slow/7/1 "
      "a0:fast[] a1:fast[] a2:fast[] mw1:fast mw2:fast/8/0 ev:fast[]/8 "
      "release ev:slow[{\"_placeholder\":true,\"num\":0}]/7 "
      "o0:one[1] o1:one[1] o0:all[2] o1:all[2] | "
      "a0:after[] a2:after[] mw1:after mw2:after/9/0 ev:after[]/9 "
      "a0:slow[] a2:slow[] mw1:slow mw2:slow/-1/0 release ";
  if (strcmp(ulog, want) != 0) fprintf(stderr, "got  %s\nwant %s\n", ulog, want);
  CHECK(strcmp(ulog, want) == 0);
}

/* A packet middleware still holding an event when the server closes, going on afterwards: the
 * handle stays valid until then (sio.h), next() dispatches nothing, and nothing leaks. */
static void u_late_fire(uv_timer_t *t) {
  sx_t *x = t->data;
  sio_incoming_t *in = uheld;
  uheld = NULL;
  sio_incoming_next(in, NULL);
  x->r[0] = 1;
  uv_close((uv_handle_t *)t, NULL);
}

static void u_late_shutdown(nh_t *h) {
  sx_t *x = h->user;
  uv_timer_start(&x->mw_timer, u_late_fire, 200, 0); /* after the server is gone */
}

static void L_u_hold_setup(nh_t *h, void *arg) {
  sx_t *x = h->user;
  x->r[1] = sio_socket_use(x->socks[0], u_mw2, NULL);
  x->r[1] += sio_socket_on_any(x->socks[0], SIO_ANY_OUTGOING, u_any, "o");
}

static void client_use_late(nh_t *h) {
  nc_conn_t *c = sc_client(h, NULL);
  CHECK(c);
  CHECK_EQ_INT(nh_call(h, L_u_hold_setup, NULL), 0);
  CHECK_EQ_INT(sc_send(c, "423[\"slow\",1]"), 0);
  CHECK_EQ_INT(sx_until(h, pred_u_held, NULL, "slow held"), 0);
}

static void case_use_late(void) {
  sx_t *x = sx_new(0);
  CHECK(x);
  ulog[0] = '\0';
  uheld = NULL;
  x->h.on_shutdown = u_late_shutdown;
  x->on_event = u_event;
  CHECK_EQ_INT(sx_run(x, client_use_late), 0);
  CHECK_EQ_INT(x->r[0], 1);
  CHECK_EQ_INT(x->r[1], 0);
  CHECK(strcmp(ulog, "mw2:slow/3/0 ") == 0); /* nothing dispatched after the close */
}

TEST(packet_middleware_completes_after_server_close) { CHECK(run_forked(case_use_late)); }

/* ============================================================================================== */
/* Metrics: the counters after a known scenario, their Prometheus text, and its serving           */

static sio_stats_t m_stats;
static char m_text[8192];
static int m_text_r;

static void L_metrics_setup(nh_t *h, void *arg) {
  (void)arg;
  sx_t *x = h->user;
  sx_of(x, "/chat");
  sx_of(x, "/q\"b\\s\nl"); /* a name the text must escape */
  x->r[0] = sio_io_serve_metrics(x->io, "/metrics");
  x->r[1] = sio_io_serve_metrics(x->io, "/metrics") == SIO_EEXIST;
}

static void L_metrics_ack(nh_t *h, void *arg) {
  sx_t *x = h->user;
  (void)arg;
  x->r[2] = sio_socket_emit_ack(x->socks[0], "q", NULL, 0, 2000, ack_cb, (void *)1);
  x->r[3] = nsp_emit_json(x->root, NULL, "all", "[1]");
}

static void L_metrics_read(nh_t *h, void *arg) {
  sx_t *x = h->user;
  (void)arg;
  memset(&m_stats, 0, sizeof m_stats);
  m_stats.size = sizeof m_stats;
  x->r[4] = sio_io_stats(x->io, &m_stats);
  sio_stats_t bad = {0};
  x->r[5] = sio_io_stats(x->io, &bad) == SIO_EINVAL;
  char *text = NULL;
  size_t len = 0;
  m_text_r = sio_io_metrics_text(x->io, &text, &len);
  if (text && len < sizeof m_text) memcpy(m_text, text, len + 1);
  free(text);
}

static void client_metrics(nh_t *h) {
  sx_t *x = h->user;
  long id;
  CHECK_EQ_INT(nh_call(h, L_metrics_setup, NULL), 0);
  nc_conn_t *a = sc_client(h, NULL);           /* ws, EIO4, "/" */
  CHECK(a);
  nc_conn_t *b = sc_client(h, NULL);           /* ws, EIO4, "/" and "/chat" */
  CHECK(b);
  CHECK_EQ_INT(sc_join(b, "/chat", NULL, NULL), 0);
  nc_conn_t *c = sc_open(h, 3, NULL);          /* ws, EIO3: joined to "/" at once */
  CHECK(c);
  CHECK_EQ_INT(sc_expect(c, "40"), 0);
  WAIT_GE(h, x, nsocks, 4);
  /* Two refusals: an unknown transport (code 0) and an unsupported protocol version (code 5). */
  nc_response_t *r = malloc(sizeof *r);
  CHECK(r);
  nc_conn_t *q = nh_connect(h, 0);
  CHECK(q);
  CHECK_EQ_INT(nc_request(q, "GET", "/socket.io/?EIO=4&transport=carrier-pigeon", NULL, NULL, 0, r), 0);
  CHECK_EQ_INT(r->status, 400);
  CHECK_EQ_INT(nc_request(q, "GET", "/socket.io/?EIO=9&transport=polling", NULL, NULL, 0, r), 0);
  CHECK_EQ_INT(r->status, 400);
  /* One ack asked and answered, one broadcast to "/" (three sockets). */
  CHECK_EQ_INT(nh_call(h, L_metrics_ack, NULL), 0);
  CHECK_EQ_INT(sc_expect_ack_req(a, "42", "[\"q\"]", &id), 0);
  CHECK_EQ_INT(sc_sendf(a, "43%ld[]", id), 0); /* 5 bytes with a one-digit id */
  WAIT_GE(h, x, nacks, 1);
  CHECK_EQ_INT(sc_expect(a, "42[\"all\",1]"), 0);
  CHECK_EQ_INT(sc_expect(b, "42[\"all\",1]"), 0);
  CHECK_EQ_INT(sc_expect(c, "42[\"all\",1]"), 0);
  CHECK_EQ_INT(nh_call(h, L_metrics_read, NULL), 0);
  /* Served: GET and HEAD, 405 for the rest, 404 below the path. */
  CHECK_EQ_INT(nc_request(q, "GET", "/metrics", NULL, NULL, 0, r), 0);
  CHECK_EQ_INT(r->status, 200);
  char ct[128] = "";
  nc_header(r, "content-type", ct, sizeof ct);
  CHECK(strcmp(ct, "text/plain; version=0.0.4; charset=utf-8") == 0);
  CHECK(strstr(r->body, "sio_sockets{namespace=\"/chat\"} 1\n") != NULL);
  CHECK(strstr(r->body, "# TYPE sio_engine_handshakes_total counter\n") != NULL);
  CHECK_EQ_INT(nc_request(q, "POST", "/metrics", NULL, "x", 1, r), 0);
  CHECK_EQ_INT(r->status, 405);
  nc_header(r, "allow", ct, sizeof ct);
  CHECK(strcmp(ct, "GET, HEAD") == 0);
  CHECK_EQ_INT(nc_request(q, "GET", "/metrics/x", NULL, NULL, 0, r), 0);
  CHECK_EQ_INT(r->status, 404);
  free(r);
  nc_close(q);
  nc_close(a);
  nc_close(b);
  nc_close(c);
}

TEST(metrics_counters_text_and_serving) {
  sx_t *x = sx_new(0);
  CHECK(x);
  CHECK_EQ_INT(sx_run(x, client_metrics), 0);
  CHECK_EQ_INT(x->r[0], 0);
  CHECK_EQ_INT(x->r[1], 1);
  CHECK_EQ_INT(x->r[2], 0);
  CHECK_EQ_INT(x->r[3], 0);
  CHECK_EQ_INT(x->r[4], 0);
  CHECK_EQ_INT(x->r[5], 1);
  const sio_stats_t *st = &m_stats;
  CHECK_EQ_INT((int)st->size, (int)sizeof *st);
  CHECK_EQ_INT((int)st->sessions[SIO_STATS_WEBSOCKET][SIO_STATS_EIO4], 2);
  CHECK_EQ_INT((int)st->sessions[SIO_STATS_WEBSOCKET][SIO_STATS_EIO3], 1);
  CHECK_EQ_INT((int)st->sessions[SIO_STATS_POLLING][SIO_STATS_EIO4], 0);
  CHECK_EQ_INT((int)st->sockets, 4);
  CHECK_EQ_INT((int)st->handshakes, 3);
  CHECK_EQ_INT((int)st->refused[0], 1);
  CHECK_EQ_INT((int)st->refused[5], 1);
  CHECK_EQ_INT((int)(st->refused[1] + st->refused[2] + st->refused[3] + st->refused[4]), 0);
  CHECK_EQ_INT((int)st->upgrades, 0);
  /* In: a's "40" and "43<id>[]", b's "40" and "40/chat,". */
  CHECK_EQ_INT((int)st->packets_in[SIO_STATS_WEBSOCKET], 4);
  CHECK_EQ_INT((int)st->packets_in[SIO_STATS_POLLING], 0);
  CHECK_EQ_INT((int)st->bytes_in[SIO_STATS_WEBSOCKET], 2 + 5 + 2 + 8);
  /* Out: three OPENs, four CONNECT replies, the ack request, the broadcast to three sockets. */
  CHECK_EQ_INT((int)st->packets_out[SIO_STATS_WEBSOCKET], 3 + 4 + 1 + 3);
  CHECK_EQ_INT((int)st->connections, 4);
  CHECK_EQ_INT((int)st->broadcasts, 1);
  CHECK_EQ_INT((int)st->acks_sent, 1);
  CHECK_EQ_INT((int)st->acks_answered, 1);
  CHECK_EQ_INT((int)st->acks_timed_out, 0);
  CHECK_EQ_INT(st->redis_up, -1);
  CHECK_EQ_INT(m_text_r, 0);
  CHECK(strstr(m_text, "sio_engine_sessions{transport=\"websocket\",protocol=\"4\"} 2\n") != NULL);
  CHECK(strstr(m_text, "sio_engine_sessions{transport=\"websocket\",protocol=\"3\"} 1\n") != NULL);
  CHECK(strstr(m_text, "sio_engine_handshakes_refused_total{reason=\"5\"} 1\n") != NULL);
  CHECK(strstr(m_text, "sio_engine_packets_received_total{transport=\"websocket\"} 4\n") != NULL);
  CHECK(strstr(m_text, "sio_sockets{namespace=\"/\"} 3\n") != NULL);
  CHECK(strstr(m_text, "sio_sockets{namespace=\"/q\\\"b\\\\s\\nl\"} 0\n") != NULL);
  CHECK(strstr(m_text, "# HELP sio_acks_answered_total ") != NULL);
  CHECK(strstr(m_text, "sio_acks_answered_total 1\n") != NULL);
  CHECK(strstr(m_text, "sio_redis") == NULL); /* no Redis adapter: no Redis metrics */
}

TEST_MAIN(RUN(connect_root_auth_and_unknown_namespace), RUN(middleware_async_next_and_refuse),
          RUN(middleware_client_leaves_before_next), RUN(dynamic_namespaces),
          RUN(events_acks_and_binary), RUN(acks_from_the_client), RUN(broadcast_with_acks),
          RUN(rooms_join_leave_and_targets), RUN(rooms_many_sockets_swap_removal),
          RUN(selections_join_leave_disconnect_volatile), RUN(disconnect_reasons),
          RUN(server_shutdown_says_disconnect), RUN(connect_timeout_and_eio3),
          RUN(outgoing_and_reserved_names), RUN(disconnect_from_on_connection),
          RUN(ping_timeout_reason), RUN(rooms_listed_in_join_order),
          RUN(broadcast_ack_pending_at_server_close), RUN(middleware_completes_after_server_close),
          RUN(ack_handles_reserved_names_handshake),
          RUN(fetch_sockets_reports_socket_data), RUN(auth_sent_and_server_log),
          RUN(server_log_levels), RUN(socket_use_and_catch_alls),
          RUN(packet_middleware_completes_after_server_close), RUN(connection_state_recovery),
          RUN(adapter_kept_sessions), RUN(adapter_restore_in_flight),
          RUN(io_options_older_size), RUN(metrics_counters_text_and_serving),
          RUN(debug_categories_lines), RUN(debug_off_formats_nothing), RUN(debug_environment_and_parse))
