/* The Socket.IO client (sio_client.h) against an in-process sio server on the same loop
 * (127.0.0.1, port 0): namespaces and auth, refusals, events and acks both ways with nested
 * binary, ack timeouts, volatile emits, server disconnects, reconnection with backoff, the send
 * buffer and its bound, connection state recovery, EIO3, msgpack, and closing from callbacks.
 * Each case runs in a child process (a crash or a sanitizer report fails that case alone) and
 * ends with a loop that has no handle left. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <openssl/pem.h>
#include <signal.h>
#include <openssl/x509v3.h>
#include <unistd.h>

#include "sio.h"
#include "sio_client.h"
#include "test.h"

#define GUARD_MS 10000

/* ---------------------------------------------------------------------------------------------- */
/* The fixture: one server, one client manager, counters                                         */

typedef struct {
  uv_loop_t loop;
  sio_server_t *server;
  sio_io_t *io;
  sio_nsp_t *root, *custom;
  int port;
  uv_timer_t guard, later;
  int timed_out, finishing;
  sio_manager_t *m;
  sio_csocket_t *s, *c; /* "/" and "/custom" */
  /* client side */
  int opens, closes, errors, attempts, reconnects, reconnect_errors, failed, mclosed;
  int connects, connect_errors, disconnects, events, acks_ok, acks_timeout, acks_closed;
  int recovered_connects;
  char close_reason[64], disc_reason[64], cerr_msg[160], event[64];
  cJSON *cerr_data, *event_args, *ack_args;
  uint64_t t_fail[8], t_attempt[8];
  int bin_ok; /* nested binary checked */
  /* server side */
  int srv_connections, srv_events, srv_acks, srv_disconnects;
  sio_socket_t *srv_sock;
  int srv_token_ok;
  int eio;
  char srv_event[64];
  int srv_seen[16];
  int mode; /* the case's behaviour switch */
} fx_t;

static fx_t F;

static void fx_server_closed(sio_server_t *s) { (void)s; }

static void fx_manager_closed(sio_manager_t *m) {
  if (m) F.mclosed++;
  F.m = NULL;
  if (F.server) sio_server_close(F.server, fx_server_closed);
  F.server = NULL;
}

/* Ends the case: the manager closes, then the server; the loop runs out of handles. */
static void fx_finish(void) {
  if (F.finishing) return;
  F.finishing = 1;
  uv_timer_stop(&F.guard);
  uv_close((uv_handle_t *)&F.guard, NULL);
  uv_close((uv_handle_t *)&F.later, NULL);
  if (F.m) sio_manager_close(F.m, fx_manager_closed);
  else fx_manager_closed(NULL);
}

static void on_guard(uv_timer_t *t) {
  (void)t;
  F.timed_out = 1;
  fx_finish();
}

static void later(uint64_t ms, uv_timer_cb cb) { uv_timer_start(&F.later, cb, ms, 0); }

/* ---- server callbacks ---- */

static const char bin0[] = {0, 1, 2, (char)0xff}, bin1[] = "xyz";

/* ["hi", {"a": [<bin0>, {"b": <bin1>}]}] */
static cJSON *nested_args(void) {
  cJSON *a = cJSON_CreateArray(), *o = cJSON_CreateObject(), *arr = cJSON_CreateArray(),
        *b = cJSON_CreateObject();
  cJSON_AddItemToArray(a, cJSON_CreateString("hi"));
  cJSON_AddItemToArray(arr, sio_args_placeholder(0));
  cJSON_AddItemToObject(b, "b", sio_args_placeholder(1));
  cJSON_AddItemToArray(arr, b);
  cJSON_AddItemToObject(o, "a", arr);
  cJSON_AddItemToArray(a, o);
  return a;
}
static const sio_buf_t nested_bufs[2] = {{bin0, sizeof bin0}, {bin1, 3}};

/* 1 when args are nested_args() with its buffers. */
static int nested_ok(const sio_args_t *args) {
  if (!args || !args->json || cJSON_GetArraySize(args->json) != 2) return 0;
  const cJSON *hi = cJSON_GetArrayItem(args->json, 0), *o = cJSON_GetArrayItem(args->json, 1);
  if (!cJSON_IsString(hi) || strcmp(hi->valuestring, "hi")) return 0;
  const cJSON *arr = cJSON_GetObjectItem(o, "a");
  const sio_buf_t *x = sio_args_attachment(args, cJSON_GetArrayItem(arr, 0));
  const sio_buf_t *y = sio_args_attachment(args, cJSON_GetObjectItem(cJSON_GetArrayItem(arr, 1), "b"));
  return x && y && x->len == sizeof bin0 && memcmp(x->data, bin0, sizeof bin0) == 0 && y->len == 3 &&
         memcmp(y->data, "xyz", 3) == 0;
}

static void srv_ack_cb(sio_socket_t *s, int status, const sio_args_t *args, void *arg) {
  (void)s;
  (void)arg;
  if (status == 0 && nested_ok(args)) F.srv_acks++;
}

static void srv_connection(sio_nsp_t *nsp, sio_socket_t *s) {
  F.srv_connections++;
  F.srv_sock = s;
  const cJSON *tok = cJSON_GetObjectItem(sio_socket_auth(s), "token");
  if (nsp == F.custom && cJSON_IsString(tok) && strcmp(tok->valuestring, "abc") == 0) F.srv_token_ok++;
}

static void srv_event(sio_socket_t *s, const char *event, const sio_args_t *args, int64_t ack_id) {
  F.srv_events++;
  snprintf(F.srv_event, sizeof F.srv_event, "%s", event);
  if (strcmp(event, "echo") == 0 && ack_id >= 0) sio_socket_ack(s, ack_id, args);
  if (strcmp(event, "ask") == 0) { /* the server asks the client, with nested binary */
    cJSON *a = nested_args();
    sio_args_t sa = {a, nested_bufs, 2};
    sio_socket_emit_ack(s, "question", &sa, 0, 5000, srv_ack_cb, NULL);
    cJSON_Delete(a);
  }
  if (strcmp(event, "push") == 0) { /* the server sends an event back */
    sio_socket_emit(s, "pushed", args, 0);
  }
  if (strcmp(event, "seq") == 0) { /* numbered: counts each number once */
    int n = (int)cJSON_GetArrayItem(args->json, 0)->valuedouble;
    if (n >= 0 && n < 16) F.srv_seen[n]++;
    if (ack_id >= 0) sio_socket_ack(s, ack_id, args);
  }
  if (strcmp(event, "kick") == 0) sio_socket_disconnect(s, 0);
  if (strcmp(event, "drop") == 0) sio_session_close(sio_socket_session(s));
}

static void srv_disconnect(sio_socket_t *s, const char *reason) {
  F.srv_disconnects++;
  if (F.srv_sock == s) F.srv_sock = NULL;
  /* Recovery case: an event emitted while the client is away. */
  if (F.mode == 'R' && F.srv_disconnects == 1) {
    cJSON *a = cJSON_CreateArray();
    cJSON_AddItemToArray(a, cJSON_CreateString("missed"));
    sio_args_t sa = {a, NULL, 0};
    sio_nsp_emit(F.root, NULL, "while-away", &sa);
    cJSON_Delete(a);
  }
}

static void mw_custom(sio_socket_t *s, void *arg) {
  const cJSON *tok = cJSON_GetObjectItem(sio_socket_auth(s), "token");
  if (cJSON_IsString(tok) && strcmp(tok->valuestring, "abc") == 0) {
    sio_socket_next(s);
    return;
  }
  cJSON *d = cJSON_CreateObject();
  cJSON_AddNumberToObject(d, "code", 42);
  sio_socket_refuse(s, "not authorized", d);
  cJSON_Delete(d);
}

/* ---- setup ---- */

/* TLS: a self-signed certificate for 127.0.0.1, made for the case (NULL dir: plain). */
static char tls_dir[64];

static int make_cert(void) {
  snprintf(tls_dir, sizeof tls_dir, "/tmp/sio-client-XXXXXX");
  if (!mkdtemp(tls_dir)) return 0;
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
  X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &v3, NID_subject_alt_name, "IP:127.0.0.1");
  if (ext) X509_add_ext(x, ext, -1);
  X509_EXTENSION_free(ext);
  int ok = X509_sign(x, key, EVP_sha256()) > 0;
  char path[128];
  snprintf(path, sizeof path, "%s/c.crt", tls_dir);
  FILE *fp = fopen(path, "w");
  ok = ok && fp && PEM_write_X509(fp, x);
  if (fp) fclose(fp);
  snprintf(path, sizeof path, "%s/c.key", tls_dir);
  fp = fopen(path, "w");
  ok = ok && fp && PEM_write_PrivateKey(fp, key, NULL, NULL, 0, NULL, NULL);
  if (fp) fclose(fp);
  X509_free(x);
  EVP_PKEY_free(key);
  return ok;
}

static void remove_cert(void) {
  char path[128];
  snprintf(path, sizeof path, "%s/c.crt", tls_dir);
  unlink(path);
  snprintf(path, sizeof path, "%s/c.key", tls_dir);
  unlink(path);
  rmdir(tls_dir);
  tls_dir[0] = 0;
}

static int fx_listen(void) {
  if (!tls_dir[0]) return sio_server_listen(F.server, "127.0.0.1", 0);
  char crt[128], key[128];
  snprintf(crt, sizeof crt, "%s/c.crt", tls_dir);
  snprintf(key, sizeof key, "%s/c.key", tls_dir);
  sio_tls_options_t to;
  sio_tls_options_init(&to);
  to.cert_file = crt;
  to.key_file = key;
  return sio_server_listen_tls(F.server, "127.0.0.1", 0, &to);
}

/* A server (eio3 allowed; recovery and parser as asked) and a manager for it. */
static int fx_init(int parser, int recovery, sio_manager_options_t *mo, const sio_manager_callbacks_t *mc) {
  memset(&F, 0, sizeof F);
  if (uv_loop_init(&F.loop)) return -1;
  uv_timer_init(&F.loop, &F.guard);
  uv_timer_init(&F.loop, &F.later);
  uv_timer_start(&F.guard, on_guard, GUARD_MS, 0);
  sio_io_options_t o;
  sio_io_options_init(&o);
  o.engine.allow_eio3 = 1;
  o.parser = parser;
  o.connection_state_recovery.enabled = recovery;
  static const sio_nsp_callbacks_t cbs = {.on_connection = srv_connection,
                                          .on_event = srv_event,
                                          .on_disconnect = srv_disconnect};
  if (sio_server_new(&F.loop, NULL, &F.server) || sio_io_new(F.server, &o, &F.io) ||
      fx_listen() || sio_io_of(F.io, "/", &F.root) ||
      sio_io_of(F.io, "/custom", &F.custom) || sio_nsp_use(F.custom, mw_custom, NULL))
    return -1;
  sio_nsp_set_callbacks(F.root, &cbs);
  sio_nsp_set_callbacks(F.custom, &cbs);
  F.port = sio_server_port(F.server);
  char url[64], ca[128];
  snprintf(url, sizeof url, "%s://127.0.0.1:%d", tls_dir[0] ? "https" : "http", F.port);
  if (tls_dir[0]) { /* verified against the certificate as its CA */
    snprintf(ca, sizeof ca, "%s/c.crt", tls_dir);
    mo->tls_ca_file = ca;
  }
  return sio_manager_new(&F.loop, url, mo, mc, &F.m);
}

/* Runs the loop to its end; 0 when the loop closed cleanly and the guard did not fire. */
static int fx_run(void) {
  uv_run(&F.loop, UV_RUN_DEFAULT);
  int r = uv_loop_close(&F.loop);
  cJSON_Delete(F.cerr_data);
  cJSON_Delete(F.event_args);
  cJSON_Delete(F.ack_args);
  if (F.timed_out) fprintf(stderr, "the case timed out\n");
  if (r) fprintf(stderr, "handles left on the loop\n");
  return F.timed_out || r ? -1 : 0;
}

/* ---- client callbacks (recording) ---- */

static void m_open(sio_manager_t *m) { F.opens++; }
static void m_close(sio_manager_t *m, const char *reason) {
  F.closes++;
  snprintf(F.close_reason, sizeof F.close_reason, "%s", reason);
}
static void m_error(sio_manager_t *m, int err, const char *detail) {
  if (F.errors < 8) F.t_fail[F.errors] = uv_now(&F.loop);
  F.errors++;
}
static void m_attempt(sio_manager_t *m, unsigned attempt) {
  if (attempt >= 1 && attempt <= 8) F.t_attempt[attempt - 1] = uv_now(&F.loop);
  F.attempts = (int)attempt;
}
static void m_reconnect(sio_manager_t *m, unsigned attempt) { F.reconnects++; }
static void m_reconnect_error(sio_manager_t *m, int err, const char *d) { F.reconnect_errors++; }
static uint64_t saved_fail[8], saved_attempt[8];
static int reopen_rc = 1;

static void m_failed(sio_manager_t *m) {
  F.failed++;
  if (F.mode == 'B' && F.failed == 1) { /* gave up: sio_manager_open starts again, once */
    memcpy(saved_fail, F.t_fail, sizeof saved_fail);
    memcpy(saved_attempt, F.t_attempt, sizeof saved_attempt);
    reopen_rc = sio_manager_open(m);
    return;
  }
  fx_finish();
}
static const sio_manager_callbacks_t mcbs = {m_open, m_close, m_error, m_attempt,
                                             m_reconnect, m_reconnect_error, m_failed};

static void c_connect_error(sio_csocket_t *s, const char *message, const cJSON *data) {
  F.connect_errors++;
  snprintf(F.cerr_msg, sizeof F.cerr_msg, "%s", message);
  cJSON_Delete(F.cerr_data);
  F.cerr_data = data ? cJSON_Duplicate(data, 1) : NULL;
}
static void c_disconnect(sio_csocket_t *s, const char *reason) {
  F.disconnects++;
  snprintf(F.disc_reason, sizeof F.disc_reason, "%s", reason);
}
static void c_event_record(sio_csocket_t *s, const char *event, const sio_args_t *args, int64_t id) {
  F.events++;
  snprintf(F.event, sizeof F.event, "%s", event);
  cJSON_Delete(F.event_args);
  F.event_args = cJSON_Duplicate(args->json, 1);
}

static void fx_manager_options(sio_manager_options_t *o) {
  sio_manager_options_init(o);
  o->reconnection_delay_ms = 50;
  o->reconnection_delay_max_ms = 200;
}

/* ---------------------------------------------------------------------------------------------- */
/* Cases                                                                                           */

/* ---- connect "/" and "/custom" with auth; a refused namespace; an unknown one ---- */

static void conn_on_connect(sio_csocket_t *s) {
  F.connects++;
  if (F.connects == 2) {
    CHECK(sio_csocket_id(F.s) && sio_csocket_id(F.c));
    CHECK(strcmp(sio_csocket_id(F.s), sio_csocket_id(F.c)) != 0);
    CHECK(sio_manager_sid(F.m) != NULL);
    CHECK(sio_manager_transport(F.m) != 0);
    if (F.eio == 3) { /* socket.io 2.x's ids: the Engine.IO id, "/nsp#" + it elsewhere */
      char want[128];
      snprintf(want, sizeof want, "/custom#%s", sio_manager_sid(F.m));
      CHECK(strcmp(sio_csocket_id(F.s), sio_manager_sid(F.m)) == 0);
      CHECK(strcmp(sio_csocket_id(F.c), want) == 0);
    }
    F.bin_ok = 1;
    sio_csocket_disconnect(F.s);
    CHECK(!sio_csocket_connected(F.s) && sio_csocket_id(F.s) == NULL);
    sio_csocket_disconnect(F.c); /* the last: the manager closes its connection */
    later(100, (uv_timer_cb)fx_finish);
  }
}

static void run_connect(unsigned transports, int eio) {
  sio_manager_options_t o;
  fx_manager_options(&o);
  o.transports = transports;
  o.eio = eio;
  CHECK_EQ_INT(fx_init(SIO_PARSER_JSON, 0, &o, &mcbs), 0);
  F.eio = eio;
  sio_csocket_callbacks_t cb = {conn_on_connect, c_connect_error, c_disconnect, NULL};
  cJSON *auth = cJSON_CreateObject();
  cJSON_AddStringToObject(auth, "token", "abc");
  CHECK_EQ_INT(sio_csocket_new(F.m, NULL, NULL, &cb, &F.s), 0);
  CHECK_EQ_INT(sio_csocket_new(F.m, "/custom", auth, &cb, &F.c), 0);
  sio_csocket_t *dup;
  CHECK_EQ_INT(sio_csocket_new(F.m, "/custom", NULL, &cb, &dup), SIO_EEXIST);
  cJSON *bad = cJSON_CreateArray();
  CHECK_EQ_INT(sio_csocket_new(F.m, "/x", bad, &cb, &dup), SIO_EINVAL);
  cJSON_Delete(bad);
  cJSON_Delete(auth);
  CHECK_EQ_INT(sio_csocket_connect(F.s), 0);
  CHECK_EQ_INT(sio_csocket_connect(F.c), 0);
  CHECK_EQ_INT(fx_run(), 0);
  CHECK_EQ_INT(F.connects, 2);
  CHECK_EQ_INT(F.opens, 1);
  CHECK_EQ_INT(F.disconnects, 2);
  CHECK(strcmp(F.disc_reason, "io client disconnect") == 0);
  CHECK_EQ_INT(F.closes, 1);
  CHECK(strcmp(F.close_reason, "forced close") == 0);
  CHECK_EQ_INT(F.srv_connections, 2);
  CHECK_EQ_INT(F.srv_disconnects, 2);
  CHECK_EQ_INT(F.srv_token_ok, 1);
  CHECK_EQ_INT(F.bin_ok, 1); /* the ids were checked */
  CHECK_EQ_INT(F.attempts, 0);
  CHECK_EQ_INT(F.mclosed, 1);
}

TEST(connect_namespaces_auth) { run_connect(SIO_CLIENT_POLLING | SIO_CLIENT_WEBSOCKET, 4); }
TEST(connect_websocket_only) { run_connect(SIO_CLIENT_WEBSOCKET, 4); }
TEST(connect_eio3) { run_connect(SIO_CLIENT_POLLING | SIO_CLIENT_WEBSOCKET, 3); }

static void refused_connect(sio_csocket_t *s) { F.connects++; }
static void refused_error(sio_csocket_t *s, const char *message, const cJSON *data) {
  c_connect_error(s, message, data);
  if (s == F.c) {
    CHECK(!sio_csocket_connected(s));
    /* the other socket is still connected: the manager stays */
    CHECK(sio_manager_sid(F.m) != NULL);
    sio_csocket_t *nowhere;
    sio_csocket_callbacks_t cb = {refused_connect, refused_error, c_disconnect, NULL};
    CHECK_EQ_INT(sio_csocket_new(F.m, "/nowhere", NULL, &cb, &nowhere), 0);
    CHECK_EQ_INT(sio_csocket_connect(nowhere), 0);
  } else {
    later(50, (uv_timer_cb)fx_finish);
  }
}

static void run_refused(int eio) {
  sio_manager_options_t o;
  fx_manager_options(&o);
  o.eio = eio;
  CHECK_EQ_INT(fx_init(SIO_PARSER_JSON, 0, &o, &mcbs), 0);
  sio_csocket_callbacks_t cb = {refused_connect, refused_error, c_disconnect, NULL};
  cJSON *auth = cJSON_CreateObject();
  cJSON_AddStringToObject(auth, "token", "wrong");
  CHECK_EQ_INT(sio_csocket_new(F.m, NULL, NULL, &cb, &F.s), 0);
  CHECK_EQ_INT(sio_csocket_new(F.m, "/custom", auth, &cb, &F.c), 0);
  cJSON_Delete(auth);
  CHECK_EQ_INT(sio_csocket_connect(F.s), 0);
  CHECK_EQ_INT(sio_csocket_connect(F.c), 0);
  CHECK_EQ_INT(fx_run(), 0);
  CHECK_EQ_INT(F.connects, 1);
  CHECK_EQ_INT(F.connect_errors, 2);
  if (eio == 4) CHECK(strcmp(F.cerr_msg, "Invalid namespace") == 0);
  CHECK_EQ_INT(F.attempts, 0);
}

/* The refusal's message and data (v5), checked on the first error. */
static void refused_first(sio_csocket_t *s, const char *message, const cJSON *data) {
  if (s == F.c && F.connect_errors == 0) {
    CHECK(strcmp(message, "not authorized") == 0);
    CHECK(data && cJSON_GetObjectItem(data, "code") &&
          cJSON_GetObjectItem(data, "code")->valuedouble == 42);
    F.bin_ok = 1;
  }
  refused_error(s, message, data);
}

TEST(refused_namespace) {
  sio_manager_options_t o;
  fx_manager_options(&o);
  CHECK_EQ_INT(fx_init(SIO_PARSER_JSON, 0, &o, &mcbs), 0);
  sio_csocket_callbacks_t cb = {refused_connect, refused_first, c_disconnect, NULL};
  cJSON *auth = cJSON_CreateObject();
  cJSON_AddStringToObject(auth, "token", "wrong");
  CHECK_EQ_INT(sio_csocket_new(F.m, NULL, NULL, &cb, &F.s), 0);
  CHECK_EQ_INT(sio_csocket_new(F.m, "/custom", auth, &cb, &F.c), 0);
  cJSON_Delete(auth);
  CHECK_EQ_INT(sio_csocket_connect(F.s), 0);
  CHECK_EQ_INT(sio_csocket_connect(F.c), 0);
  CHECK_EQ_INT(fx_run(), 0);
  CHECK_EQ_INT(F.bin_ok, 1);
  CHECK_EQ_INT(F.connects, 1);
  CHECK_EQ_INT(F.connect_errors, 2);
  CHECK(strcmp(F.cerr_msg, "Invalid namespace") == 0);
  CHECK_EQ_INT(F.attempts, 0);
}

TEST(refused_namespace_eio3) { run_refused(3); }

/* ---- events and acks both ways, nested binary, ack timeout ---- */

static void ev_ack(sio_csocket_t *s, int status, const sio_args_t *args, void *arg) {
  const char *what = arg;
  if (status == SIO_ETIMEDOUT) F.acks_timeout++;
  if (status == SIO_ECLOSED) F.acks_closed++;
  if (status == 0 && strcmp(what, "echo") == 0 && nested_ok(args)) F.acks_ok++;
}

static void ev_event(sio_csocket_t *s, const char *event, const sio_args_t *args, int64_t id) {
  c_event_record(s, event, args, id);
  if (strcmp(event, "question") == 0) {
    CHECK(id >= 0);
    CHECK(nested_ok(args));
    F.bin_ok++;
    CHECK_EQ_INT(sio_csocket_ack(s, id, args), 0); /* answers with the same binary */
  }
  if (strcmp(event, "pushed") == 0) {
    CHECK(nested_ok(args));
    F.bin_ok++;
  }
}

static void ev_check_done(uv_timer_t *t) {
  if (F.acks_ok == 1 && F.acks_timeout == 1 && F.srv_acks == 1 && F.bin_ok == 2) {
    fx_finish();
    return;
  }
  later(20, ev_check_done);
}

static void ev_connect(sio_csocket_t *s) {
  F.connects++;
  cJSON *a = nested_args();
  sio_args_t sa = {a, nested_bufs, 2};
  CHECK_EQ_INT(sio_csocket_emit_ack(s, "echo", &sa, 0, 5000, ev_ack, "echo"), 0);
  CHECK_EQ_INT(sio_csocket_emit(s, "ask", NULL, 0), 0);
  CHECK_EQ_INT(sio_csocket_emit(s, "push", &sa, 0), 0);
  /* nobody answers "nothing": its ack times out */
  CHECK_EQ_INT(sio_csocket_emit_ack(s, "nothing", NULL, 0, 100, ev_ack, "nothing"), 0);
  /* reserved names and bad values are refused at once, the callback never runs */
  CHECK_EQ_INT(sio_csocket_emit(s, "connect", NULL, 0), SIO_ERESERVED);
  CHECK_EQ_INT(sio_csocket_emit_ack(s, "disconnect", NULL, 0, 0, ev_ack, "x"), SIO_ERESERVED);
  cJSON_Delete(a);
  later(20, ev_check_done);
}

static void run_events(int parser, unsigned transports, int eio) {
  sio_manager_options_t o;
  fx_manager_options(&o);
  o.parser = parser;
  o.transports = transports;
  o.eio = eio;
  CHECK_EQ_INT(fx_init(parser, 0, &o, &mcbs), 0);
  sio_csocket_callbacks_t cb = {ev_connect, c_connect_error, c_disconnect, ev_event};
  CHECK_EQ_INT(sio_csocket_new(F.m, "/", NULL, &cb, &F.s), 0);
  CHECK_EQ_INT(sio_csocket_connect(F.s), 0);
  CHECK_EQ_INT(fx_run(), 0);
  CHECK_EQ_INT(F.acks_ok, 1);
  CHECK_EQ_INT(F.acks_timeout, 1);
  CHECK_EQ_INT(F.srv_acks, 1);
  CHECK_EQ_INT(F.bin_ok, 2);
  CHECK_EQ_INT(F.acks_closed, 0);
}

TEST(events_acks_binary) { run_events(SIO_PARSER_JSON, 3, 4); }
TEST(events_acks_binary_websocket) { run_events(SIO_PARSER_JSON, SIO_CLIENT_WEBSOCKET, 4); }
TEST(events_acks_binary_eio3) { run_events(SIO_PARSER_JSON, 3, 3); }
TEST(events_acks_binary_tls) {
  CHECK(make_cert());
  run_events(SIO_PARSER_JSON, 3, 4);
  remove_cert();
}
#ifdef SIO_HAVE_MSGPACK
TEST(events_acks_binary_msgpack) { run_events(SIO_PARSER_MSGPACK, 3, 4); }
#endif

/* ---- volatile ---- */

static void vol_done(uv_timer_t *t) { fx_finish(); }

static void vol_connect(sio_csocket_t *s) {
  F.connects++;
  CHECK_EQ_INT(sio_csocket_emit(s, "vol", NULL, SIO_EMIT_VOLATILE), 0);
  later(200, vol_done);
}

TEST(volatile_emits) {
  sio_manager_options_t o;
  fx_manager_options(&o);
  o.transports = SIO_CLIENT_WEBSOCKET;
  CHECK_EQ_INT(fx_init(SIO_PARSER_JSON, 0, &o, &mcbs), 0);
  sio_csocket_callbacks_t cb = {vol_connect, c_connect_error, c_disconnect, NULL};
  CHECK_EQ_INT(sio_csocket_new(F.m, "/", NULL, &cb, &F.s), 0);
  /* not connected: dropped, not buffered */
  CHECK_EQ_INT(sio_csocket_emit(F.s, "dropped", NULL, SIO_EMIT_VOLATILE), 0);
  CHECK_EQ_INT(sio_csocket_buffered(F.s), 0);
  CHECK_EQ_INT(sio_csocket_connect(F.s), 0);
  CHECK_EQ_INT(fx_run(), 0);
  CHECK_EQ_INT(F.srv_events, 1);
  CHECK(strcmp(F.srv_event, "vol") == 0);
}

/* ---- a server disconnect is not reconnected ---- */

static void kick_connect(sio_csocket_t *s) {
  F.connects++;
  sio_csocket_emit(s, "kick", NULL, 0);
}
static void kick_disconnect(sio_csocket_t *s, const char *reason) {
  c_disconnect(s, reason);
  later(300, (uv_timer_cb)fx_finish); /* time for a reconnection that must not come */
}

TEST(server_disconnect_no_reconnect) {
  sio_manager_options_t o;
  fx_manager_options(&o);
  CHECK_EQ_INT(fx_init(SIO_PARSER_JSON, 0, &o, &mcbs), 0);
  sio_csocket_callbacks_t cb = {kick_connect, c_connect_error, kick_disconnect, NULL};
  CHECK_EQ_INT(sio_csocket_new(F.m, "/", NULL, &cb, &F.s), 0);
  CHECK_EQ_INT(sio_csocket_connect(F.s), 0);
  CHECK_EQ_INT(fx_run(), 0);
  CHECK_EQ_INT(F.connects, 1);
  CHECK_EQ_INT(F.disconnects, 1);
  CHECK(strcmp(F.disc_reason, "io server disconnect") == 0);
  CHECK_EQ_INT(F.attempts, 0);
  CHECK_EQ_INT(F.srv_connections, 1);
  CHECK_EQ_INT(F.closes, 1); /* its only socket gone: the manager closed the connection */
  CHECK(strcmp(F.close_reason, "forced close") == 0);
}

/* ---- the server drops the connection: reconnection, buffered emits delivered once ---- */

static void rc_ack(sio_csocket_t *s, int status, const sio_args_t *args, void *arg) {
  if (status == 0) F.acks_ok++;
  else if (status == SIO_ECLOSED) F.acks_closed++;
  if (F.acks_ok == 3) later(50, (uv_timer_cb)fx_finish);
}

static void rc_connect(sio_csocket_t *s) {
  F.connects++;
  if (F.connects == 1) {
    /* sent, then the connection goes before its answer could come: SIO_ECLOSED */
    CHECK_EQ_INT(sio_csocket_emit_ack(s, "drop", NULL, 0, 0, rc_ack, NULL), 0);
  }
}

static void rc_disconnect(sio_csocket_t *s, const char *reason) {
  c_disconnect(s, reason);
  CHECK(!sio_csocket_connected(s));
  if (F.disconnects > 1) return; /* the manager's close at the end */
  for (int i = 0; i < 3; i++) { /* buffered, sent after reconnecting */
    cJSON *a = cJSON_CreateArray();
    cJSON_AddItemToArray(a, cJSON_CreateNumber(i));
    sio_args_t sa = {a, NULL, 0};
    CHECK_EQ_INT(sio_csocket_emit_ack(s, "seq", &sa, 0, 5000, rc_ack, NULL), 0);
    cJSON_Delete(a);
  }
  CHECK_EQ_INT(sio_csocket_buffered(s), 3);
}

TEST(reconnect_after_drop) {
  sio_manager_options_t o;
  fx_manager_options(&o);
  CHECK_EQ_INT(fx_init(SIO_PARSER_JSON, 0, &o, &mcbs), 0);
  sio_csocket_callbacks_t cb = {rc_connect, c_connect_error, rc_disconnect, NULL};
  CHECK_EQ_INT(sio_csocket_new(F.m, "/", NULL, &cb, &F.s), 0);
  CHECK_EQ_INT(sio_csocket_connect(F.s), 0);
  CHECK_EQ_INT(fx_run(), 0);
  CHECK_EQ_INT(F.connects, 2);
  CHECK_EQ_INT(F.disconnects, 2); /* the drop, then the close at the end */
  CHECK_EQ_INT(F.attempts, 1);
  CHECK_EQ_INT(F.reconnects, 1);
  CHECK_EQ_INT(F.opens, 2);
  CHECK_EQ_INT(F.acks_ok, 3);
  CHECK_EQ_INT(F.acks_closed, 1);
  for (int i = 0; i < 3; i++) CHECK_EQ_INT(F.srv_seen[i], 1);
  CHECK_EQ_INT(F.srv_connections, 2);
}

/* ---- two namespaces on one connection: "/" disconnected by the server stays so, "/custom"
 * comes back after the connection drops, with its auth again ---- */

static int two_root, two_custom;

static void two_connect(sio_csocket_t *s) {
  F.connects++;
  if (s == F.s) two_root++;
  else two_custom++;
  if (two_root == 1 && two_custom == 1 && F.connects == 2) sio_csocket_emit(F.s, "kick", NULL, 0);
  if (two_custom == 2) later(300, (uv_timer_cb)fx_finish); /* time for "/" to (not) come back */
}

static void two_disconnect(sio_csocket_t *s, const char *reason) {
  c_disconnect(s, reason);
  if (s == F.s && F.disconnects == 1) {
    CHECK(strcmp(reason, "io server disconnect") == 0);
    CHECK(sio_manager_sid(F.m) != NULL); /* "/custom" keeps the connection */
    sio_csocket_emit(F.c, "drop", NULL, 0);
  }
}

TEST(reconnect_two_namespaces) {
  sio_manager_options_t o;
  fx_manager_options(&o);
  CHECK_EQ_INT(fx_init(SIO_PARSER_JSON, 0, &o, &mcbs), 0);
  sio_csocket_callbacks_t cb = {two_connect, c_connect_error, two_disconnect, NULL};
  cJSON *auth = cJSON_CreateObject();
  cJSON_AddStringToObject(auth, "token", "abc");
  CHECK_EQ_INT(sio_csocket_new(F.m, "/", NULL, &cb, &F.s), 0);
  CHECK_EQ_INT(sio_csocket_new(F.m, "/custom", auth, &cb, &F.c), 0);
  cJSON_Delete(auth);
  CHECK_EQ_INT(sio_csocket_connect(F.s), 0);
  CHECK_EQ_INT(sio_csocket_connect(F.c), 0);
  CHECK_EQ_INT(fx_run(), 0);
  CHECK_EQ_INT(two_root, 1);
  CHECK_EQ_INT(two_custom, 2);
  CHECK_EQ_INT(F.srv_token_ok, 2); /* the auth went with both CONNECTs */
  CHECK_EQ_INT(F.reconnects, 1);
  CHECK_EQ_INT(F.disconnects, 3); /* "/" kicked; "/custom" dropped, then closed at the end */
}

/* ---- a server that sends what no Socket.IO server may: "parse error", then reconnection ---- */

static const char *bad_packet;

static void bad_message(sio_session_t *ss, const char *data, size_t len, int binary) {
  if (len && data[0] == '0') { /* the CONNECT: answered, then the bad packet */
    sio_session_send(ss, "0{\"sid\":\"abc\"}", 14, 0);
    const char *nl = strchr(bad_packet, '\n'); /* two messages */
    size_t n = nl ? (size_t)(nl - bad_packet) : strlen(bad_packet);
    sio_session_send(ss, bad_packet, n, 0);
    if (nl) sio_session_send(ss, nl + 1, strlen(nl + 1), 0);
  }
}

static void bad_connect(sio_csocket_t *s) {
  F.connects++;
  CHECK(strcmp(sio_csocket_id(s), "abc") == 0);
  if (F.connects == 2) later(20, (uv_timer_cb)fx_finish);
}

static void run_bad(const char *packet) {
  bad_packet = packet;
  sio_manager_options_t o;
  fx_manager_options(&o);
  o.path = "/bad/";
  o.transports = SIO_CLIENT_WEBSOCKET;
  CHECK_EQ_INT(fx_init(SIO_PARSER_JSON, 0, &o, &mcbs), 0);
  sio_engine_options_t eo;
  sio_engine_options_init(&eo);
  eo.path = "/bad/";
  sio_engine_callbacks_t ecb = {.on_message = bad_message};
  sio_engine_t *e;
  CHECK_EQ_INT(sio_engine_new(F.server, &eo, &ecb, &e), 0);
  sio_csocket_callbacks_t cb = {bad_connect, c_connect_error, c_disconnect, NULL};
  CHECK_EQ_INT(sio_csocket_new(F.m, "/", NULL, &cb, &F.s), 0);
  CHECK_EQ_INT(sio_csocket_connect(F.s), 0);
  CHECK_EQ_INT(fx_run(), 0);
  CHECK_EQ_INT(F.connects, 2);
  CHECK(F.reconnects >= 1);
  CHECK(strcmp(F.disc_reason, "parse error") == 0); /* after each connect */
  CHECK(strcmp(F.close_reason, "forced close") == 0 || strcmp(F.close_reason, "parse error") == 0);
  CHECK_EQ_INT(F.disconnects, 2);
}

TEST(bad_server_packets) {
  static const char *const packets[] = {"2[", "9", "2[\"connect\"]", "3x", "51-[\"a\"]\n2[\"b\"]", "4"};
  for (size_t i = 0; i < sizeof packets / sizeof packets[0]; i++) {
    run_bad(packets[i]);
    if (test_failed_) {
      fprintf(stderr, "bad packet %s\n", packets[i]);
      return;
    }
  }
}

/* ---- backoff against a port where nobody listens; attempts exhausted; sio_manager_open starts
 * again after that ---- */

static int free_port(void) {
  uv_loop_t l;
  uv_loop_init(&l);
  uv_tcp_t t;
  uv_tcp_init(&l, &t);
  struct sockaddr_in a;
  uv_ip4_addr("127.0.0.1", 0, &a);
  uv_tcp_bind(&t, (const struct sockaddr *)&a, 0);
  struct sockaddr_in b;
  int len = sizeof b;
  uv_tcp_getsockname(&t, (struct sockaddr *)&b, &len);
  uv_close((uv_handle_t *)&t, NULL);
  uv_run(&l, UV_RUN_DEFAULT);
  uv_loop_close(&l);
  return ntohs(b.sin_port);
}

TEST(backoff_and_attempts_exhausted) {
  sio_manager_options_t o;
  sio_manager_options_init(&o);
  o.reconnection_delay_ms = 100;
  o.reconnection_delay_max_ms = 300;
  o.randomization_factor = 0.5;
  o.reconnection_attempts = 3;
  CHECK_EQ_INT(fx_init(SIO_PARSER_JSON, 0, &o, &mcbs), 0);
  F.mode = 'B';
  /* point a second manager at a dead port; the fixture's manager is closed at once */
  sio_manager_close(F.m, NULL);
  char url[64];
  snprintf(url, sizeof url, "ws://127.0.0.1:%d/ignored/path?x=1", free_port());
  CHECK_EQ_INT(sio_manager_new(&F.loop, url, &o, &mcbs, &F.m), 0);
  sio_csocket_callbacks_t cb = {NULL, c_connect_error, c_disconnect, NULL};
  CHECK_EQ_INT(sio_csocket_new(F.m, "/", NULL, &cb, &F.s), 0);
  CHECK_EQ_INT(sio_csocket_connect(F.s), 0);
  CHECK_EQ_INT(fx_run(), 0);
  CHECK_EQ_INT(F.failed, 2);
  CHECK_EQ_INT(reopen_rc, 0);
  CHECK_EQ_INT(F.attempts, 3);
  CHECK_EQ_INT(F.errors, 8); /* the first attempt, then three reconnections; twice */
  CHECK_EQ_INT(F.reconnect_errors, 6);
  CHECK_EQ_INT(F.connect_errors, 8);
  CHECK(strcmp(F.cerr_msg, "xhr poll error") == 0);
  /* delay k (100, 200, 300 capped) within +-50%, loosely (timer granularity, a busy machine) */
  static const double base[3] = {100, 200, 400};
  for (int k = 0; k < 3; k++) {
    double d = (double)(saved_attempt[k] - saved_fail[k]);
    double lo = base[k] * 0.5 - 5, hi = base[k] * 1.5;
    if (hi > 300) hi = 300;
    if (lo > 300) lo = 300 - 5;
    if (!(d >= lo && d <= hi + 100)) fprintf(stderr, "delay %d: %.0f ms, not in [%.0f, %.0f]\n", k, d, lo, hi);
    CHECK(d >= lo && d <= hi + 100);
  }
}

/* ---- the send buffer's bounds ---- */

static void sb_connect(sio_csocket_t *s) {
  F.connects++;
  later(200, (uv_timer_cb)fx_finish);
}

TEST(send_buffer_bound) {
  sio_manager_options_t o;
  fx_manager_options(&o);
  o.send_buffer_max = 3;
  o.send_buffer_bytes = 200;
  o.max_payload = 1000;
  CHECK_EQ_INT(fx_init(SIO_PARSER_JSON, 0, &o, &mcbs), 0);
  sio_csocket_callbacks_t cb = {sb_connect, c_connect_error, c_disconnect, NULL};
  CHECK_EQ_INT(sio_csocket_new(F.m, "/", NULL, &cb, &F.s), 0);
  char big[300];
  memset(big, 'x', sizeof big - 1);
  big[sizeof big - 1] = 0;
  cJSON *a = cJSON_CreateArray();
  cJSON_AddItemToArray(a, cJSON_CreateString(big));
  sio_args_t sa = {a, NULL, 0};
  CHECK_EQ_INT(sio_csocket_emit(F.s, "big", &sa, 0), SIO_EBUSY); /* past the bytes */
  cJSON_Delete(a);
  char huge[1200];
  memset(huge, 'y', sizeof huge - 1);
  huge[sizeof huge - 1] = 0;
  a = cJSON_CreateArray();
  cJSON_AddItemToArray(a, cJSON_CreateString(huge));
  sa.json = a;
  CHECK_EQ_INT(sio_csocket_emit(F.s, "huge", &sa, 0), SIO_ETOOBIG); /* past max_payload */
  cJSON_Delete(a);
  for (int i = 0; i < 3; i++) {
    cJSON *n = cJSON_CreateArray();
    cJSON_AddItemToArray(n, cJSON_CreateNumber(i));
    sio_args_t na = {n, NULL, 0};
    CHECK_EQ_INT(sio_csocket_emit(F.s, "seq", &na, 0), 0);
    cJSON_Delete(n);
  }
  CHECK_EQ_INT(sio_csocket_emit(F.s, "seq", NULL, 0), SIO_EBUSY); /* past the count */
  /* values that cannot be sent, and an answer without a connection */
  cJSON *deep = cJSON_CreateArray(), *at = deep;
  for (int i = 0; i < SIO_MAX_DEPTH + 2; i++) {
    cJSON *in = cJSON_CreateArray();
    cJSON_AddItemToArray(at, in);
    at = in;
  }
  sio_args_t da = {deep, NULL, 0};
  CHECK_EQ_INT(sio_csocket_emit(F.s, "deep", &da, 0), SIO_EINVAL);
  cJSON_Delete(deep);
  static sio_buf_t many[1001];
  sio_args_t ma = {NULL, many, 1001};
  CHECK_EQ_INT(sio_csocket_emit(F.s, "many", &ma, 0), SIO_EINVAL);
  CHECK_EQ_INT(sio_csocket_ack(F.s, 1, NULL), SIO_ECLOSED);
  CHECK_EQ_INT(sio_csocket_buffered(F.s), 3);
  CHECK_EQ_INT(sio_csocket_connect(F.s), 0);
  CHECK_EQ_INT(fx_run(), 0);
  CHECK_EQ_INT(F.connects, 1);
  for (int i = 0; i < 3; i++) CHECK_EQ_INT(F.srv_seen[i], 1);
  CHECK_EQ_INT(F.srv_events, 3);
}

/* ---- a buffered emit whose ack times out is not sent any more (socket.io-client's way) ---- */

static void bt_connect_now(uv_timer_t *t) {
  CHECK_EQ_INT(F.acks_timeout, 1);
  CHECK_EQ_INT(sio_csocket_buffered(F.s), 1); /* the one without an ack stays */
  CHECK_EQ_INT(sio_csocket_connect(F.s), 0);
}

TEST(buffered_ack_timeout) {
  sio_manager_options_t o;
  fx_manager_options(&o);
  CHECK_EQ_INT(fx_init(SIO_PARSER_JSON, 0, &o, &mcbs), 0);
  sio_csocket_callbacks_t cb = {sb_connect, c_connect_error, c_disconnect, NULL};
  CHECK_EQ_INT(sio_csocket_new(F.m, "/", NULL, &cb, &F.s), 0);
  for (int i = 5; i <= 6; i++) {
    cJSON *n = cJSON_CreateArray();
    cJSON_AddItemToArray(n, cJSON_CreateNumber(i));
    sio_args_t na = {n, NULL, 0};
    if (i == 5) CHECK_EQ_INT(sio_csocket_emit_ack(F.s, "seq", &na, 0, 30, ev_ack, "seq"), 0);
    else CHECK_EQ_INT(sio_csocket_emit(F.s, "seq", &na, 0), 0);
    cJSON_Delete(n);
  }
  CHECK_EQ_INT(sio_csocket_buffered(F.s), 2);
  later(100, bt_connect_now);
  CHECK_EQ_INT(fx_run(), 0);
  CHECK_EQ_INT(F.connects, 1);
  CHECK_EQ_INT(F.acks_timeout, 1);
  CHECK_EQ_INT(F.srv_seen[5], 0);
  CHECK_EQ_INT(F.srv_seen[6], 1);
}

/* ---- a socket disconnected before the server's answer leaves the server too ---- */

static void dwc_check(uv_timer_t *t) {
  F.bin_ok = sio_nsp_socket_count(F.custom) == 0 && sio_nsp_socket_count(F.root) == 1;
  fx_finish();
}

static void dwc_connect(sio_csocket_t *s) {
  F.connects++;
  CHECK_EQ_INT(sio_csocket_connect(F.c), 0); /* the manager is open: CONNECT goes now */
  sio_csocket_disconnect(F.c);               /* ...and the answer finds it gone */
  later(200, dwc_check);
}

TEST(disconnect_while_connecting) {
  sio_manager_options_t o;
  fx_manager_options(&o);
  CHECK_EQ_INT(fx_init(SIO_PARSER_JSON, 0, &o, &mcbs), 0);
  sio_csocket_callbacks_t cb = {dwc_connect, c_connect_error, c_disconnect, NULL};
  cJSON *auth = cJSON_CreateObject();
  cJSON_AddStringToObject(auth, "token", "abc");
  CHECK_EQ_INT(sio_csocket_new(F.m, "/", NULL, &cb, &F.s), 0);
  CHECK_EQ_INT(sio_csocket_new(F.m, "/custom", auth, &cb, &F.c), 0);
  cJSON_Delete(auth);
  CHECK_EQ_INT(sio_csocket_connect(F.s), 0);
  CHECK_EQ_INT(fx_run(), 0);
  CHECK_EQ_INT(F.connects, 1);
  CHECK_EQ_INT(F.bin_ok, 1);
  CHECK_EQ_INT(F.disconnects, 1); /* "/" at the close; "/custom" was never connected */
}

/* ---- connection state recovery ---- */

static void rec_event(sio_csocket_t *s, const char *event, const sio_args_t *args, int64_t id) {
  c_event_record(s, event, args, id);
  if (strcmp(event, "pushed") == 0) sio_csocket_emit(s, "drop", NULL, 0);
  if (strcmp(event, "while-away") == 0) {
    /* delivered before on_connect of the recovered socket */
    CHECK(F.connects == 1);
    F.bin_ok++;
  }
}

static void rec_connect(sio_csocket_t *s) {
  F.connects++;
  if (sio_csocket_recovered(s)) F.recovered_connects++;
  if (F.connects == 1) sio_csocket_emit(s, "push", NULL, 0); /* an event with an offset */
  else later(50, (uv_timer_cb)fx_finish);
}

TEST(connection_state_recovery) {
  sio_manager_options_t o;
  fx_manager_options(&o);
  CHECK_EQ_INT(fx_init(SIO_PARSER_JSON, 1, &o, &mcbs), 0);
  F.mode = 'R';
  sio_csocket_callbacks_t cb = {rec_connect, c_connect_error, c_disconnect, rec_event};
  CHECK_EQ_INT(sio_csocket_new(F.m, "/", NULL, &cb, &F.s), 0);
  CHECK_EQ_INT(sio_csocket_connect(F.s), 0);
  CHECK_EQ_INT(fx_run(), 0);
  CHECK_EQ_INT(F.connects, 2);
  CHECK_EQ_INT(F.recovered_connects, 1);
  CHECK_EQ_INT(F.bin_ok, 1);
}

/* ---- closing the manager from inside callbacks ---- */

static void cl_closed(sio_manager_t *m) {
  F.mclosed++;
  F.m = NULL;
  CHECK_EQ_INT(F.acks_closed, 1); /* pending acks ended before the close callback */
  fx_finish();
}

static void cl_event(sio_csocket_t *s, const char *event, const sio_args_t *args, int64_t id) {
  c_event_record(s, event, args, id);
  sio_manager_close(sio_csocket_manager(s), cl_closed);
  sio_manager_close(sio_csocket_manager(s), cl_closed); /* a second call does nothing */
  CHECK_EQ_INT(sio_csocket_emit(s, "late", NULL, 0), SIO_ECLOSED);
  CHECK_EQ_INT(sio_csocket_connect(s), SIO_ECLOSED);
}

static void cl_connect(sio_csocket_t *s) {
  F.connects++;
  CHECK_EQ_INT(sio_csocket_emit_ack(s, "nothing", NULL, 0, 0, ev_ack, "nothing"), 0);
  CHECK_EQ_INT(sio_csocket_emit(s, "push", NULL, 0), 0);
}

TEST(close_inside_callback) {
  sio_manager_options_t o;
  fx_manager_options(&o);
  CHECK_EQ_INT(fx_init(SIO_PARSER_JSON, 0, &o, &mcbs), 0);
  sio_csocket_callbacks_t cb = {cl_connect, c_connect_error, c_disconnect, cl_event};
  CHECK_EQ_INT(sio_csocket_new(F.m, "/", NULL, &cb, &F.s), 0);
  CHECK_EQ_INT(sio_csocket_connect(F.s), 0);
  CHECK_EQ_INT(fx_run(), 0);
  CHECK_EQ_INT(F.mclosed, 1);
  CHECK_EQ_INT(F.acks_closed, 1);
  CHECK_EQ_INT(F.disconnects, 1);
  CHECK(strcmp(F.disc_reason, "io client disconnect") == 0);
}

/* ---- closing from inside every kind of callback: the close callback runs once, from the loop,
 * and everything is freed (the sanitizers check) ---- */

static const char *close_point;
static int close_run_forked(void (*fn)(void));

static void cp_closed(sio_manager_t *m) {
  F.mclosed++;
  F.m = NULL;
  fx_finish();
}

static void cp_maybe(const char *point) {
  if (F.m && strcmp(point, close_point) == 0) {
    sio_manager_t *m = F.m;
    sio_manager_close(m, cp_closed);
    CHECK_EQ_INT(F.mclosed, 0); /* never inside the call */
    sio_manager_close(m, cp_closed);
    CHECK_EQ_INT(sio_manager_open(m), SIO_ECLOSED);
  }
}

static void cp_open(sio_manager_t *m) { m_open(m); cp_maybe("on_open"); }
static void cp_close(sio_manager_t *m, const char *reason) { m_close(m, reason); cp_maybe("on_close"); }
static void cp_error(sio_manager_t *m, int err, const char *d) { m_error(m, err, d); cp_maybe("on_error"); }
static void cp_attempt(sio_manager_t *m, unsigned a) { m_attempt(m, a); cp_maybe("on_reconnect_attempt"); }
static void cp_reconnect(sio_manager_t *m, unsigned a) { m_reconnect(m, a); cp_maybe("on_reconnect"); }
static void cp_reconnect_error(sio_manager_t *m, int e, const char *d) { cp_maybe("on_reconnect_error"); }

static void cp_ack(sio_csocket_t *s, int status, const sio_args_t *args, void *arg) {
  cp_maybe("ack");
  if (F.m) sio_csocket_emit(s, "drop", NULL, 0);
}
static void cp_connect(sio_csocket_t *s) {
  F.connects++;
  cp_maybe(F.connects == 1 ? "on_connect" : "on_connect_again");
  if (F.m && F.connects == 1) {
    sio_csocket_emit_ack(s, "echo", NULL, 0, 0, cp_ack, NULL);
    sio_csocket_emit_ack(s, "nothing", NULL, 0, 0, ev_ack, "nothing"); /* ends with the close */
  }
}
static void cp_connect_error(sio_csocket_t *s, const char *msg, const cJSON *data) { cp_maybe("on_connect_error"); }
static void cp_disconnect(sio_csocket_t *s, const char *reason) {
  c_disconnect(s, reason);
  cp_maybe("on_disconnect");
  if (F.m) sio_csocket_emit(s, "buffered", NULL, 0);
}

static void close_case(void) {
  sio_manager_options_t o;
  fx_manager_options(&o);
  static const sio_manager_callbacks_t cbs = {cp_open, cp_close, cp_error, cp_attempt,
                                              cp_reconnect, cp_reconnect_error, NULL};
  CHECK_EQ_INT(fx_init(SIO_PARSER_JSON, 0, &o, &cbs), 0);
  int dead = strstr(close_point, "error") != NULL;
  if (dead) { /* nobody listens there */
    sio_manager_close(F.m, NULL);
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d", free_port());
    CHECK_EQ_INT(sio_manager_new(&F.loop, url, &o, &cbs, &F.m), 0);
  }
  sio_csocket_callbacks_t cb = {cp_connect, cp_connect_error, cp_disconnect, NULL};
  CHECK_EQ_INT(sio_csocket_new(F.m, "/", NULL, &cb, &F.s), 0);
  CHECK_EQ_INT(sio_csocket_emit(F.s, "early", NULL, 0), 0); /* buffered */
  CHECK_EQ_INT(sio_csocket_connect(F.s), 0);
  CHECK_EQ_INT(fx_run(), 0);
  CHECK_EQ_INT(F.mclosed, 1);
}

TEST(close_from_every_callback) {
  static const char *const points[] = {"on_open", "on_connect", "ack", "on_close", "on_disconnect",
                                       "on_reconnect_attempt", "on_reconnect", "on_connect_again",
                                       "on_error", "on_connect_error", "on_reconnect_error"};
  for (size_t i = 0; i < sizeof points / sizeof points[0]; i++) {
    close_point = points[i];
    if (!close_run_forked(close_case)) {
      fprintf(stderr, "closing in %s failed\n", points[i]);
      test_failed_ = 1;
    }
  }
}

/* ---- bad URLs and options ---- */

TEST(bad_urls_and_options) {
  uv_loop_t loop;
  uv_loop_init(&loop);
  sio_manager_t *m;
  CHECK_EQ_INT(sio_manager_new(&loop, "ftp://x", NULL, NULL, &m), SIO_EINVAL);
  CHECK(strlen(sio_last_error()) > 0);
  CHECK_EQ_INT(sio_manager_new(&loop, "http://", NULL, NULL, &m), SIO_EINVAL);
  CHECK_EQ_INT(sio_manager_new(&loop, "http://h:99999", NULL, NULL, &m), SIO_EINVAL);
  CHECK_EQ_INT(sio_manager_new(&loop, "http://[::1", NULL, NULL, &m), SIO_EINVAL);
  sio_manager_options_t o;
  sio_manager_options_init(&o);
  o.eio = 5;
  CHECK_EQ_INT(sio_manager_new(&loop, "http://h", &o, NULL, &m), SIO_EINVAL);
  sio_manager_options_init(&o);
  o.size = 0;
  CHECK_EQ_INT(sio_manager_new(&loop, "http://h", &o, NULL, &m), SIO_EINVAL);
  CHECK_EQ_INT(sio_manager_new(&loop, "https://[::1]:8443/x?a=b", NULL, NULL, &m), 0);
  sio_csocket_t *s;
  CHECK_EQ_INT(sio_csocket_new(m, "chat", NULL, NULL, &s), SIO_EINVAL);
  CHECK_EQ_INT(sio_csocket_new(m, "/a,b", NULL, NULL, &s), SIO_EINVAL);
  sio_manager_close(m, NULL); /* never opened: closes from the loop */
  uv_run(&loop, UV_RUN_DEFAULT);
  CHECK_EQ_INT(uv_loop_close(&loop), 0);
}

/* ---------------------------------------------------------------------------------------------- */

/* A write to a connection the peer closed fails with EPIPE instead of killing the case (TLS
 * writes go through write(2)), as in the contract server. */
__attribute__((constructor)) static void test_setup(void) {
  setvbuf(stdout, NULL, _IONBF, 0);
  signal(SIGPIPE, SIG_IGN);
}

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

static int close_run_forked(void (*fn)(void)) { return run_forked(fn); }

#define FORKED(name) \
  static void forked_##name(void) { \
    if (!run_forked(test_##name)) test_failed_ = 1; \
  }

FORKED(bad_urls_and_options)
FORKED(connect_namespaces_auth)
FORKED(connect_websocket_only)
FORKED(connect_eio3)
FORKED(refused_namespace)
FORKED(refused_namespace_eio3)
FORKED(events_acks_binary)
FORKED(events_acks_binary_websocket)
FORKED(events_acks_binary_eio3)
FORKED(events_acks_binary_tls)
#ifdef SIO_HAVE_MSGPACK
FORKED(events_acks_binary_msgpack)
#endif
FORKED(volatile_emits)
FORKED(server_disconnect_no_reconnect)
FORKED(reconnect_after_drop)
FORKED(reconnect_two_namespaces)
FORKED(bad_server_packets)
FORKED(backoff_and_attempts_exhausted)
FORKED(send_buffer_bound)
FORKED(buffered_ack_timeout)
FORKED(disconnect_while_connecting)
FORKED(connection_state_recovery)
FORKED(close_inside_callback)
FORKED(close_from_every_callback)

#define RUNF(name) {#name, forked_##name}

TEST_MAIN(RUNF(bad_urls_and_options), RUNF(connect_namespaces_auth), RUNF(connect_websocket_only),
          RUNF(connect_eio3), RUNF(refused_namespace), RUNF(refused_namespace_eio3),
          RUNF(events_acks_binary), RUNF(events_acks_binary_websocket),
          RUNF(events_acks_binary_eio3), RUNF(events_acks_binary_tls),
#ifdef SIO_HAVE_MSGPACK
          RUNF(events_acks_binary_msgpack),
#endif
          RUNF(volatile_emits), RUNF(server_disconnect_no_reconnect), RUNF(reconnect_after_drop),
          RUNF(reconnect_two_namespaces), RUNF(bad_server_packets),
          RUNF(backoff_and_attempts_exhausted), RUNF(send_buffer_bound),
          RUNF(buffered_ack_timeout), RUNF(disconnect_while_connecting), RUNF(connection_state_recovery),
          RUNF(close_inside_callback), RUNF(close_from_every_callback))
