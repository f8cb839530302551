/* The cluster adapter of socket.io-adapter 2.5 (core/src/adapter/sac.c) in process: two or three
 * sio servers on one loop, each namespace "/" wrapped by a sac adapter, joined by a fake
 * transport (the bus below) that carries every message in the form a real transport would
 * (sharded: JSON text, msgpack when binary; streams: stream entry fields with offsets, and
 * msgpack over pub/sub for ephemeral messages and responses), and a sio client per node that
 * records what its socket receives. Also Node-made bytes (notepack.io, JSON.stringify)
 * decoded, garbage ignored, and the pure encoders byte for byte. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sio.h"
#include "sio_client.h"
#include "test.h"

#ifdef SIO_TEST_HAVE_REDIS

#include "adapter/sac.h"

#define NODES 3
#define GUARD_MS 8000
#define LOG_MAX 8192
#define WIRE_MAX 64

enum { MODE_SHARDED, MODE_STREAMS };

/* A message on its way (delivered from the loop, never inside publish). */
typedef struct bus_msg {
  struct bus_msg *next;
  int kind; /* 0 raw, 1 raw response, 2 fields, 3 server count, 4 publish callback */
  int to;   /* node index */
  char *bytes;
  size_t len;
  char uid[40], type[8], offset[32], id[40];
  int has_data, has_offset;
  long long count;
  sio_sac_published_cb cb;
  void *cb_arg;
} bus_msg_t;

typedef struct node {
  int idx;
  sio_server_t *server;
  sio_io_t *io;
  sio_nsp_t *root;
  sio_sac_t *sac;
  int port;
  sio_manager_t *m;
  sio_csocket_t *cs;
  sio_socket_t *sock; /* the server side of this node's client */
  int connected;
  char log[LOG_MAX]; /* what the client received: "event json [hex bufs]\n" */
  int events;
  char rooms[LOG_MAX]; /* room creations / deletions reported to the transport */
  int server_events;
  char server_log[LOG_MAX];
} node_t;

static struct {
  uv_loop_t loop;
  uv_timer_t guard, pump;
  int timed_out, nnodes, mode, recovery;
  node_t n[NODES];
  bus_msg_t *head, *tail;
  bus_msg_t *held; /* publish callbacks held back (offset tests) */
  int hold_cbs;
  int null_offsets; /* publish callbacks get NULL (sent without an offset) */
  long long seq;         /* stream entry ids */
  long long count_reply; /* server count answer; 0: nnodes; -1: never */
  int publish_fails;
  char *wire[WIRE_MAX]; /* the whole-message forms published, in order */
  int nwire;
  int closing;
  char meta[LOG_MAX]; /* per publish: "type e<ephemeral> b<binary> [room] " */
  char *last_raw; /* the last publish's bytes as the first node got them */
  size_t last_raw_len;
} B;

/* ---------------------------------------------------------------------------------------------- */
/* The bus                                                                                         */

static void pump(uv_timer_t *t);
static int cbs_on_free; /* see t_free */

static void bus_push(bus_msg_t *m) {
  if (B.tail) B.tail->next = m;
  else B.head = m;
  B.tail = m;
  uv_timer_start(&B.pump, pump, 0, 0);
}

static bus_msg_t *bus_new(int kind, int to) {
  bus_msg_t *m = calloc(1, sizeof *m);
  m->kind = kind;
  m->to = to;
  return m;
}

static void deliver(bus_msg_t *m) {
  node_t *n = &B.n[m->to];
  if (B.closing && m->kind != 4) return;
  switch (m->kind) {
  case 0:
  case 1:
    sio__sac_on_raw(n->sac, m->bytes, m->len, m->kind == 1);
    break;
  case 2:
    sio__sac_on_fields(n->sac, m->uid, m->type, m->has_data ? m->bytes : NULL, m->len,
                       m->has_offset ? m->offset : NULL);
    break;
  case 3:
    sio__sac_on_server_count(n->sac, m->id, m->count);
    break;
  case 4:
    m->cb(m->cb_arg, m->has_offset ? m->offset : NULL);
    break;
  }
}

static void pump(uv_timer_t *t) {
  (void)t;
  while (B.head) {
    bus_msg_t *m = B.head;
    B.head = m->next;
    if (!B.head) B.tail = NULL;
    deliver(m);
    free(m->bytes);
    free(m);
  }
}

static void wire_keep(const char *s, size_t len) {
  if (B.nwire < WIRE_MAX) B.wire[B.nwire++] = strndup(s, len);
}

/* The whole-message form a transport of this mode uses for m. */
static int whole_form(const sio_sac_msg_t *m) {
  if (B.mode == MODE_STREAMS) return SIO_SAC_WHOLE_MSGPACK;
  return sio__sac_msg_binary(m) ? SIO_SAC_WHOLE_MSGPACK : SIO_SAC_WHOLE_JSON;
}

static int t_publish(void *t, const sio_sac_msg_t *m, sio_sac_published_cb cb, void *arg) {
  node_t *self = t;
  if (B.publish_fails) return SIO_EUNAVAIL;
  /* The JSON form kept for the wire checks (when it has one). */
  char *js;
  size_t jl;
  if (!sio__sac_msg_binary(m) && sio__sac_msg_encode(m, SIO_SAC_WHOLE_JSON, &js, &jl) == 0) {
    wire_keep(js, jl);
    free(js);
  }
  size_t ml = strlen(B.meta);
  const char *room = sio__sac_msg_room(m);
  snprintf(B.meta + ml, sizeof B.meta - ml, "%d e%d b%d%s%s ", sio__sac_msg_type(m), sio__sac_msg_ephemeral(m),
           sio__sac_msg_binary(m), room ? " " : "", room ? room : "");
  /* The JSON forms cannot carry binary; no fifth form. */
  char *x;
  size_t xl;
  if (sio__sac_msg_binary(m) && (sio__sac_msg_encode(m, SIO_SAC_WHOLE_JSON, &x, &xl) != SIO_EINVAL ||
                                 sio__sac_msg_encode(m, SIO_SAC_DATA_JSON, &x, &xl) != SIO_EINVAL))
    abort();
  if (sio__sac_msg_encode(m, 7, &x, &xl) != SIO_EINVAL) abort();
  char offset[32] = "";
  int fields = B.mode == MODE_STREAMS && !sio__sac_msg_ephemeral(m);
  if (fields) snprintf(offset, sizeof offset, "%lld-0", ++B.seq);
  for (int i = 0; i < B.nnodes; i++) { /* itself too, as Redis does: ignored by uid */
    bus_msg_t *b;
    if (fields) {
      b = bus_new(2, i);
      snprintf(b->uid, sizeof b->uid, "%s", sio__sac_uid(self->sac));
      snprintf(b->type, sizeof b->type, "%d", sio__sac_msg_type(m));
      snprintf(b->offset, sizeof b->offset, "%s", offset);
      b->has_offset = 1;
      b->has_data = sio__sac_msg_has_data(m);
      if (b->has_data &&
          sio__sac_msg_encode(m, sio__sac_msg_binary(m) ? SIO_SAC_DATA_MSGPACK_B64 : SIO_SAC_DATA_JSON,
                              &b->bytes, &b->len)) {
        free(b);
        return SIO_ENOMEM;
      }
    } else {
      b = bus_new(0, i);
      if (sio__sac_msg_encode(m, whole_form(m), &b->bytes, &b->len)) {
        free(b);
        return SIO_ENOMEM;
      }
    }
    if (i == 0) {
      free(B.last_raw);
      B.last_raw = malloc(b->len + 1);
      memcpy(B.last_raw, b->bytes, b->len);
      B.last_raw_len = b->len;
    }
    bus_push(b);
  }
  if (cb) {
    bus_msg_t *b = bus_new(4, self->idx);
    b->cb = cb;
    b->cb_arg = arg;
    if (fields && !B.null_offsets) {
      snprintf(b->offset, sizeof b->offset, "%s", offset);
      b->has_offset = 1;
    }
    if (B.hold_cbs) { /* pushed later, in an order the test picks */
      b->next = B.held;
      B.held = b;
    } else {
      bus_push(b);
    }
  }
  return 0;
}

static int t_publish_response(void *t, const char *requester, const sio_sac_msg_t *m) {
  (void)t;
  char *js;
  size_t jl;
  if (!sio__sac_msg_binary(m) && sio__sac_msg_encode(m, SIO_SAC_WHOLE_JSON, &js, &jl) == 0) {
    wire_keep(js, jl);
    free(js);
  }
  for (int i = 0; i < B.nnodes; i++)
    if (strcmp(sio__sac_uid(B.n[i].sac), requester) == 0) {
      bus_msg_t *b = bus_new(1, i);
      if (sio__sac_msg_encode(m, whole_form(m), &b->bytes, &b->len)) {
        free(b);
        return SIO_ENOMEM;
      }
      bus_push(b);
    }
  return 0;
}

static int t_server_count(void *t, const char *request_id) {
  node_t *self = t;
  if (B.count_reply < 0) return 0; /* never answered: the request times out */
  bus_msg_t *b = bus_new(3, self->idx);
  snprintf(b->id, sizeof b->id, "%s", request_id);
  b->count = B.count_reply ? B.count_reply : B.nnodes;
  bus_push(b);
  return 0;
}

static void t_room(void *t, const char *room, int created) {
  node_t *self = t;
  size_t l = strlen(self->rooms);
  snprintf(self->rooms + l, sizeof self->rooms - l, "%c%s ", created ? '+' : '-', room);
}

/* Held publish callbacks when a transport is freed: 1 called inside free (with NULL, as a
 * link that closes does), 2 later from the loop. */
static void t_free(void *t) {
  (void)t;
  while (cbs_on_free && B.held) {
    bus_msg_t *m = B.held;
    B.held = m->next;
    m->next = NULL;
    m->has_offset = 0;
    if (cbs_on_free == 2) {
      bus_push(m);
      continue;
    }
    deliver(m);
    free(m);
  }
}

static const cJSON *persisted;
static int t_persist(void *t, const cJSON *session) {
  (void)t;
  persisted = session;
  return 0;
}

static int t_restore(void *t, const char *pid, const char *offset, sio_restore_cb cb, void *arg) {
  (void)t, (void)cb, (void)arg;
  return strcmp(pid, "p") == 0 && strcmp(offset, "1-0") == 0 ? SIO_ENOTFOUND : SIO_EINVAL;
}

static sio_sac_transport_t tp = {t_publish, t_publish_response, t_server_count, t_room,
                                 NULL, NULL, t_free, 0};

static sio_adapter_t *create(void *arg, sio_nsp_t *nsp, sio_adapter_t *local) {
  node_t *n = arg;
  sio_sac_t *c = sio__sac_new(nsp, local, &tp, n, 300);
  if (c && strcmp(sio_nsp_name(nsp), "/") == 0) n->sac = c;
  return c ? sio__sac_adapter(c) : NULL;
}

/* ---------------------------------------------------------------------------------------------- */
/* The nodes and their clients                                                                     */

static node_t *node_of(sio_nsp_t *nsp) {
  for (int i = 0; i < B.nnodes; i++)
    if (B.n[i].root == nsp) return &B.n[i];
  return NULL;
}

static void logf_(char *log, const char *fmt, const char *a, const char *b) {
  size_t l = strlen(log);
  snprintf(log + l, LOG_MAX - l, fmt, a, b);
}

/* "event json" plus the hex of each attachment. */
static void log_event(char *log, const char *event, const sio_args_t *args) {
  char *j = args && args->json ? cJSON_PrintUnformatted(args->json) : NULL;
  logf_(log, "%s %s", event, j ? j : "[]");
  cJSON_free(j);
  for (size_t i = 0; args && i < args->nbufs; i++) {
    logf_(log, " %s%s", "", "");
    for (size_t k = 0; k < args->bufs[i].len; k++) {
      char h[3];
      snprintf(h, sizeof h, "%02x", (unsigned char)args->bufs[i].data[k]);
      logf_(log, "%s%s", h, "");
    }
  }
  logf_(log, "%s%s", "\n", "");
}

static void cl_connect(sio_csocket_t *s) { ((node_t *)sio_csocket_get_data(s))->connected = 1; }

static void cl_event(sio_csocket_t *s, const char *event, const sio_args_t *args, int64_t ack) {
  node_t *n = sio_csocket_get_data(s);
  n->events++;
  log_event(n->log, event, args);
  if (ack >= 0 && strcmp(event, "binack") == 0) { /* answers with bytes */
    static const char cafe[] = {(char)0xca, (char)0xfe, 0};
    cJSON *a = cJSON_CreateArray();
    cJSON_AddItemToArray(a, sio_args_placeholder(0));
    sio_buf_t b = {cafe, 3};
    sio_args_t sa = {a, &b, 1};
    sio_csocket_ack(s, ack, &sa);
    cJSON_Delete(a);
  } else if (ack >= 0) { /* answers acks with ["ok", its node] */
    char j[32];
    snprintf(j, sizeof j, "[\"ok%d\"]", n->idx);
    cJSON *a = cJSON_Parse(j);
    sio_args_t sa = {a, NULL, 0};
    sio_csocket_ack(s, ack, &sa);
    cJSON_Delete(a);
  }
}

static void srv_connection(sio_nsp_t *nsp, sio_socket_t *s) {
  node_t *n = node_of(nsp);
  if (n) n->sock = s;
}

static void srv_server_event(sio_nsp_t *nsp, const char *event, const sio_args_t *args,
                             const char *reply_id) {
  node_t *n = node_of(nsp);
  if (!n) return;
  n->server_events++;
  log_event(n->server_log, event, args);
  if (reply_id) {
    char j[32];
    snprintf(j, sizeof j, "\"node%d\"", n->idx);
    cJSON *v = cJSON_Parse(j);
    sio_nsp_server_reply(nsp, reply_id, v);
    cJSON_Delete(v);
  }
}

static void on_guard(uv_timer_t *t) {
  (void)t;
  B.timed_out = 1;
}

typedef int (*cond_fn)(void *arg);

/* Runs the loop until cond holds (1) or the guard fires (0). */
static int run_until(cond_fn cond, void *arg) {
  B.timed_out = 0;
  uv_timer_start(&B.guard, on_guard, GUARD_MS, 0);
  while (!cond(arg) && !B.timed_out) uv_run(&B.loop, UV_RUN_ONCE);
  uv_timer_stop(&B.guard);
  return cond(arg);
}

static int all_connected(void *arg) {
  (void)arg;
  for (int i = 0; i < B.nnodes; i++)
    if (!B.n[i].connected || !B.n[i].sock) return 0;
  return 1;
}

/* Lets the loop run for ms (what should not happen has had its chance). */
static int never(void *arg) {
  (void)arg;
  return 0;
}
static void settle(unsigned ms) {
  uv_timer_start(&B.guard, on_guard, ms, 0);
  B.timed_out = 0;
  while (!B.timed_out) uv_run(&B.loop, UV_RUN_ONCE);
  (void)never;
}

static int setup(int nnodes, int mode, int recovery, int offsets) {
  memset(&B, 0, sizeof B);
  B.nnodes = nnodes;
  B.mode = mode;
  B.recovery = recovery;
  tp.offsets = offsets;
  if (uv_loop_init(&B.loop)) return -1;
  uv_timer_init(&B.loop, &B.guard);
  uv_timer_init(&B.loop, &B.pump);
  static const sio_nsp_callbacks_t cbs = {.on_connection = srv_connection,
                                          .on_server_event = srv_server_event};
  for (int i = 0; i < nnodes; i++) {
    node_t *n = &B.n[i];
    n->idx = i;
    sio_io_options_t o;
    sio_io_options_init(&o);
    o.connection_state_recovery.enabled = recovery;
    if (sio_server_new(&B.loop, NULL, &n->server) || sio_io_new(n->server, &o, &n->io) ||
        sio_server_listen(n->server, "127.0.0.1", 0) || sio_io_of(n->io, "/", &n->root))
      return -1;
    sio_nsp_set_callbacks(n->root, &cbs);
    sio_adapter_factory_t f = {create, NULL, NULL, n};
    if (sio__io_use_adapters(n->io, &f) || !n->sac) return -1;
    n->port = sio_server_port(n->server);
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d", n->port);
    sio_manager_options_t mo;
    sio_manager_options_init(&mo);
    mo.transports = SIO_CLIENT_WEBSOCKET; /* writable at once: volatile emits are not dropped */
    mo.reconnection = 0;
    static const sio_csocket_callbacks_t ccb = {.on_connect = cl_connect, .on_event = cl_event};
    if (sio_manager_new(&B.loop, url, &mo, NULL, &n->m) ||
        sio_csocket_new(n->m, "/", NULL, &ccb, &n->cs))
      return -1;
    sio_csocket_set_data(n->cs, n);
    if (sio_csocket_connect(n->cs)) return -1;
  }
  return run_until(all_connected, NULL) ? 0 : -1;
}

static void server_closed(sio_server_t *s) { (void)s; }
static void manager_closed(sio_manager_t *m) { (void)m; }

static void teardown(void) {
  B.closing = 1;
  for (bus_msg_t *m = cbs_on_free ? NULL : B.held; m;) {
    bus_msg_t *next = m->next;
    m->next = NULL;
    bus_push(m);
    m = next;
  }
  if (!cbs_on_free) B.held = NULL;
  for (int i = 0; i < B.nnodes; i++) sio_manager_close(B.n[i].m, manager_closed);
  for (int i = 0; i < B.nnodes; i++) sio_server_close(B.n[i].server, server_closed);
  uv_run(&B.loop, UV_RUN_NOWAIT);
  pump(NULL);
  uv_close((uv_handle_t *)&B.guard, NULL);
  uv_close((uv_handle_t *)&B.pump, NULL);
  uv_run(&B.loop, UV_RUN_DEFAULT);
  pump(NULL); /* what the transports' free left (publish callbacks for freed adapters) */
  uv_loop_close(&B.loop);
  for (int i = 0; i < B.nwire; i++) free(B.wire[i]);
  free(B.last_raw);
}

/* ---------------------------------------------------------------------------------------------- */
/* Helpers                                                                                         */

static int emit_json(int node, const sio_target_t *to, const char *event, const char *json,
                     const sio_buf_t *bufs, size_t nbufs) {
  cJSON *a = cJSON_Parse(json);
  sio_args_t args = {a, bufs, nbufs};
  int r = sio_nsp_emit(B.n[node].root, to, event, &args);
  cJSON_Delete(a);
  return r;
}

typedef struct {
  int node;
  const char *text;
} has_t;

static int log_has(void *arg) {
  has_t *h = arg;
  return strstr(B.n[h->node].log, h->text) != NULL;
}

static int wait_log(int node, const char *text) {
  has_t h = {node, text};
  int ok = run_until(log_has, &h);
  if (!ok) fprintf(stderr, "node %d never got \"%s\"; its log:\n%s\n", node, text, B.n[node].log);
  return ok;
}

static int starts(const char *s, const char *prefix) { return strncmp(s, prefix, strlen(prefix)) == 0; }

/* The last wire message whose text holds `needle`, with the sender's uid replaced by "U". */
static const char *wire_find(const char *needle, char *out, size_t cap) {
  for (int i = B.nwire - 1; i >= 0; i--)
    if (strstr(B.wire[i], needle)) {
      snprintf(out, cap, "%s", B.wire[i]);
      char *u = strstr(out, "\"uid\":\"");
      if (u) {
        char *e = strchr(u + 7, '"');
        if (e) memmove(u + 8, e, strlen(e) + 1), u[7] = 'U';
      }
      return out;
    }
  return NULL;
}

/* ---------------------------------------------------------------------------------------------- */
/* Broadcasts                                                                                      */

static const char bin[] = {0, 1, 2, (char)0xff, (char)0x80};

static void broadcasts_both_ways(int mode) {
  CHECK(setup(2, mode, 0, 0) == 0);
  /* A to everyone: both clients; the wire as Node writes it. */
  CHECK(emit_json(0, NULL, "hello", "[1,\"a\",1.5]", NULL, 0) == 0);
  CHECK(wait_log(0, "hello [1,\"a\",1.5]"));
  CHECK(wait_log(1, "hello [1,\"a\",1.5]"));
  char w[1024];
  CHECK(wire_find("\"hello\"", w, sizeof w));
  CHECK(strcmp(w, "{\"type\":3,\"data\":{\"packet\":{\"type\":2,\"data\":[\"hello\",1,\"a\",1.5]},"
                  "\"opts\":{\"rooms\":[],\"except\":[],\"flags\":{}}},\"uid\":\"U\",\"nsp\":\"/\"}") == 0);
  /* B to everyone, with binary: A's client gets the bytes exactly. */
  cJSON *ph = sio_args_placeholder(0);
  cJSON *a = cJSON_CreateArray();
  cJSON_AddItemToArray(a, cJSON_CreateString("x"));
  cJSON_AddItemToArray(a, ph);
  char *js = cJSON_PrintUnformatted(a);
  sio_buf_t b = {bin, sizeof bin};
  CHECK(emit_json(1, NULL, "bin", js, &b, 1) == 0);
  cJSON_free(js);
  cJSON_Delete(a);
  CHECK(wait_log(0, "bin [\"x\",{\"_placeholder\":true,\"num\":0}] 000102ff80"));
  CHECK(wait_log(1, "bin [\"x\",{\"_placeholder\":true,\"num\":0}] 000102ff80"));
  /* Each client got each event once: the node's own message heard back is ignored. */
  settle(50);
  CHECK_EQ_INT(B.n[0].events, 2);
  CHECK_EQ_INT(B.n[1].events, 2);
  teardown();
}

TEST(broadcast_sharded) { broadcasts_both_ways(MODE_SHARDED); }
TEST(broadcast_streams) { broadcasts_both_ways(MODE_STREAMS); }


/* ---- rooms, except and flags as Node writes them; SIO_EMIT_LOCAL stays here ---- */

TEST(rooms_flags_local) {
  CHECK(setup(3, MODE_SHARDED, 0, 0) == 0);
  CHECK(sio_socket_join(B.n[1].sock, "r1") == 0);
  CHECK(sio_socket_join(B.n[2].sock, "r1") == 0);
  CHECK(sio_socket_join(B.n[2].sock, "x") == 0);
  /* The transport hears of rooms made and emptied on its node, never of socket ids. */
  CHECK(strcmp(B.n[2].rooms, "+r1 +x ") == 0);
  const char *r1 = "r1", *x = "x";
  sio_target_t to = {&r1, 1, &x, 1, SIO_EMIT_VOLATILE};
  CHECK(emit_json(0, &to, "vol", "[1]", NULL, 0) == 0);
  to.flags = 0;
  CHECK(emit_json(0, &to, "inroom", "[1]", NULL, 0) == 0);
  CHECK(wait_log(1, "inroom [1]"));
  char w[1024];
  CHECK(wire_find("\"vol\"", w, sizeof w));
  CHECK(strcmp(w, "{\"type\":3,\"data\":{\"packet\":{\"type\":2,\"data\":[\"vol\",1]},\"opts\":{\"rooms\":"
                  "[\"r1\"],\"except\":[\"x\"],\"flags\":{\"volatile\":true}}},\"uid\":\"U\",\"nsp\":\"/\"}") == 0);
  sio_target_t nc = {NULL, 0, NULL, 0, SIO_EMIT_NO_COMPRESS};
  CHECK(emit_json(0, &nc, "nc", "[]", NULL, 0) == 0);
  CHECK(wait_log(2, "nc []"));
  CHECK(wire_find("\"nc\"", w, sizeof w));
  CHECK(strstr(w, "\"flags\":{\"compress\":false}") != NULL);
  /* Local: published nowhere, delivered here only. */
  int before = B.nwire;
  sio_target_t loc = {NULL, 0, NULL, 0, SIO_EMIT_LOCAL};
  CHECK(emit_json(1, &loc, "loc", "[]", NULL, 0) == 0);
  CHECK(wait_log(1, "loc []"));
  settle(50);
  CHECK_EQ_INT(B.nwire, before);
  CHECK(strstr(B.n[0].log, "loc") == NULL && strstr(B.n[2].log, "loc") == NULL);
  CHECK(strstr(B.n[2].log, "inroom") == NULL); /* excepted */
  CHECK(strstr(B.n[0].log, "inroom") == NULL); /* not in the room */
  /* A socket that goes away empties its rooms: each reported, last joined first. */
  sio_socket_disconnect(B.n[2].sock, 1);
  CHECK(strcmp(B.n[2].rooms, "+r1 +x -x -r1 ") == 0);
  CHECK(strcmp(B.n[1].rooms, "+r1 ") == 0);
  teardown();
}

/* ---- socketsJoin / socketsLeave / disconnectSockets both ways ---- */

static int in_room(int node, const char *room) {
  for (size_t i = 0; sio_socket_room(B.n[node].sock, i); i++)
    if (strcmp(sio_socket_room(B.n[node].sock, i), room) == 0) return 1;
  return 0;
}

typedef struct {
  int node;
  const char *room;
  int want;
} room_t;

static int room_is(void *arg) {
  room_t *r = arg;
  return in_room(r->node, r->room) == r->want;
}

static int disconnected(void *arg) { return !sio_csocket_connected(B.n[*(int *)arg].cs); }

TEST(selections_both_ways) {
  CHECK(setup(2, MODE_STREAMS, 0, 0) == 0);
  CHECK(sio_nsp_join(B.n[0].root, NULL, "room1") == 0);
  room_t r = {1, "room1", 1};
  CHECK(run_until(room_is, &r));
  CHECK(in_room(0, "room1"));
  char w[1024];
  CHECK(wire_find("\"type\":4", w, sizeof w));
  CHECK(strcmp(w, "{\"type\":4,\"data\":{\"opts\":{\"rooms\":[],\"except\":[],\"flags\":{}},\"rooms\":"
                  "[\"room1\"]},\"uid\":\"U\",\"nsp\":\"/\"}") == 0);
  CHECK(strcmp(B.n[1].rooms, "+room1 ") == 0);
  /* Leave from the other side, to a room: type 5. */
  const char *room1 = "room1";
  sio_target_t to = {&room1, 1, NULL, 0, 0};
  CHECK(sio_nsp_leave(B.n[1].root, &to, "room1") == 0);
  room_t r0 = {0, "room1", 0};
  CHECK(run_until(room_is, &r0));
  CHECK(!in_room(1, "room1"));
  CHECK(wire_find("\"type\":5", w, sizeof w));
  CHECK(strstr(w, "\"opts\":{\"rooms\":[\"room1\"],\"except\":[],\"flags\":{}},\"rooms\":[\"room1\"]") != NULL);
  CHECK(strcmp(B.n[1].rooms, "+room1 -room1 ") == 0);
  /* Disconnect with close: type 6; B's client is gone. */
  sio_target_t others = {NULL, 0, NULL, 0, 0};
  const char *sid0 = sio_socket_id(B.n[0].sock);
  others.except = &sid0;
  others.nexcept = 1;
  sio_nsp_disconnect(B.n[0].root, &others, 1);
  int one = 1;
  CHECK(run_until(disconnected, &one));
  CHECK(sio_csocket_connected(B.n[0].cs));
  CHECK(wire_find("\"type\":6", w, sizeof w));
  CHECK(strstr(w, "\"data\":{\"opts\":{\"rooms\":[],\"except\":[") != NULL && strstr(w, "\"close\":true}") != NULL);
  teardown();
}

/* ---- fetchSockets: answers, timeouts ---- */

typedef struct {
  int calls, status;
  char ids[512];
  int n;
} fetched_t;

static void on_fetched(sio_nsp_t *nsp, int status, const cJSON *sockets, void *arg) {
  (void)nsp;
  fetched_t *f = arg;
  f->calls++;
  f->status = status;
  f->n = cJSON_GetArraySize(sockets);
  for (const cJSON *s = sockets ? sockets->child : NULL; s; s = s->next) {
    const cJSON *id = cJSON_GetObjectItem(s, "id");
    if (!cJSON_IsString(id) || !cJSON_IsObject(cJSON_GetObjectItem(s, "handshake")) ||
        !cJSON_IsArray(cJSON_GetObjectItem(s, "rooms")))
      continue;
    size_t l = strlen(f->ids);
    snprintf(f->ids + l, sizeof f->ids - l, "%s ", id->valuestring);
  }
}

static int called(void *arg) { return ((fetched_t *)arg)->calls > 0; }

static void on_rooms(sio_nsp_t *nsp, int status, const char *const *rooms, size_t n, void *arg) {
  (void)nsp;
  fetched_t *f = arg;
  f->calls++;
  f->status = status;
  snprintf(f->ids, sizeof f->ids, " ");
  for (size_t i = 0; i < n; i++) {
    size_t l = strlen(f->ids);
    snprintf(f->ids + l, sizeof f->ids - l, "%s ", rooms[i]);
  }
}

TEST(fetch_sockets) {
  CHECK(setup(3, MODE_SHARDED, 0, 0) == 0);
  fetched_t f = {0};
  CHECK(sio_nsp_fetch_sockets(B.n[0].root, NULL, on_fetched, &f) == 0);
  CHECK(run_until(called, &f));
  CHECK_EQ_INT(f.status, 0);
  CHECK_EQ_INT(f.n, 3);
  for (int i = 0; i < 3; i++) CHECK(strstr(f.ids, sio_socket_id(B.n[i].sock)) != NULL);
  char w[2048];
  CHECK(wire_find("\"type\":7", w, sizeof w));
  CHECK(starts(w, "{\"type\":7,\"data\":{\"opts\":{\"rooms\":[],\"except\":[],\"flags\":{}},\"requestId\":\""));
  const char *rid = w + strlen("{\"type\":7,\"data\":{\"opts\":{\"rooms\":[],\"except\":[],\"flags\":{}},\"requestId\":\"");
  CHECK(strspn(rid, "0123456789abcdef") == 16 && rid[16] == '"'); /* randomBytes(8) in hex */
  CHECK(wire_find("\"type\":8", w, sizeof w));
  CHECK(strstr(w, "\"sockets\":[{\"id\":\"") != NULL && strstr(w, "\"handshake\":{") != NULL);
  settle(20);
  CHECK_EQ_INT(f.calls, 1);
  /* Targeted: only the sockets in the room. */
  CHECK(sio_socket_join(B.n[2].sock, "only") == 0);
  const char *only = "only";
  sio_target_t to = {&only, 1, NULL, 0, 0};
  fetched_t g = {0};
  CHECK(sio_nsp_fetch_sockets(B.n[1].root, &to, on_fetched, &g) == 0);
  CHECK(run_until(called, &g));
  CHECK_EQ_INT(g.status, 0);
  CHECK_EQ_INT(g.n, 1);
  CHECK(strstr(g.ids, sio_socket_id(B.n[2].sock)) != NULL);
  /* A node that never answers: the request ends at the timeout with what came. */
  B.count_reply = 4;
  fetched_t h = {0};
  CHECK(sio_nsp_fetch_sockets(B.n[0].root, NULL, on_fetched, &h) == 0);
  CHECK(run_until(called, &h));
  CHECK_EQ_INT(h.status, SIO_ETIMEDOUT);
  /* The count never comes: the timeout too. */
  B.count_reply = -1;
  fetched_t k = {0};
  CHECK(sio_nsp_fetch_sockets(B.n[0].root, NULL, on_fetched, &k) == 0);
  CHECK(run_until(called, &k));
  CHECK_EQ_INT(k.status, SIO_ETIMEDOUT);
  CHECK_EQ_INT(k.n, 1);
  /* One node: answered from here without asking. */
  B.count_reply = 1;
  fetched_t m = {0};
  int before = B.nwire;
  CHECK(sio_nsp_fetch_sockets(B.n[0].root, NULL, on_fetched, &m) == 0);
  CHECK(run_until(called, &m));
  CHECK_EQ_INT(m.status, 0);
  CHECK_EQ_INT(B.nwire, before);
  teardown();
}

/* ---- serverSideEmit, with and without answers ---- */

/* What a request's or a broadcast's callback reported: its status and answers as JSON text. */
typedef struct {
  int calls, status;
  char text[256];
} sse_t, acks_t;

static void record(sse_t *r, int status, const cJSON *answers) {
  r->calls++;
  r->status = status;
  char *t = answers ? cJSON_PrintUnformatted(answers) : NULL;
  snprintf(r->text, sizeof r->text, "%s", t ? t : "");
  cJSON_free(t);
}

static void on_sse(sio_nsp_t *nsp, int status, const cJSON *responses, void *arg) {
  (void)nsp;
  record(arg, status, responses);
}

static int sse_called(void *arg) { return ((sse_t *)arg)->calls > 0; }

static int server_events_ge(void *arg) {
  int total = 0;
  for (int i = 0; i < B.nnodes; i++) total += B.n[i].server_events;
  return total >= *(int *)arg;
}

TEST(server_side_emit) {
  CHECK(setup(3, MODE_STREAMS, 0, 0) == 0);
  cJSON *a = cJSON_Parse("[1,\"two\",{\"x\":null}]");
  sio_args_t args = {a, NULL, 0};
  CHECK(sio_nsp_server_emit(B.n[0].root, "sse", &args) == 0);
  int two = 2;
  CHECK(run_until(server_events_ge, &two));
  CHECK_EQ_INT(B.n[0].server_events, 0);
  CHECK(strcmp(B.n[1].server_log, "sse [1,\"two\",{\"x\":null}]\n") == 0);
  CHECK(strcmp(B.n[2].server_log, "sse [1,\"two\",{\"x\":null}]\n") == 0);
  char w[1024];
  CHECK(wire_find("\"sse\"", w, sizeof w));
  CHECK(strcmp(w, "{\"type\":9,\"data\":{\"packet\":[\"sse\",1,\"two\",{\"x\":null}]},\"uid\":\"U\",\"nsp\":\"/\"}") == 0);
  /* With answers: one per other node. */
  sse_t r = {0};
  CHECK(sio_nsp_server_emit_ack(B.n[1].root, "ask", &args, on_sse, &r) == 0);
  CHECK(run_until(sse_called, &r));
  CHECK_EQ_INT(r.status, 0);
  CHECK(strcmp(r.text, "[\"node0\",\"node2\"]") == 0 || strcmp(r.text, "[\"node2\",\"node0\"]") == 0);
  CHECK(wire_find("\"ask\"", w, sizeof w));
  CHECK(starts(w, "{\"type\":9,\"data\":{\"requestId\":\""));
  CHECK(strstr(w, "\",\"packet\":[\"ask\",1,\"two\",{\"x\":null}]},\"uid\":\"U\",\"nsp\":\"/\"}") != NULL);
  CHECK(wire_find("\"node2\"", w, sizeof w));
  CHECK(starts(w, "{\"type\":10,\"data\":{\"requestId\":\"") &&
        strstr(w, "\",\"packet\":\"node2\"},\"uid\":\"U\",\"nsp\":\"/\"}") != NULL);
  /* A node missing: SIO_ETIMEDOUT with the answers that came. */
  B.count_reply = 4;
  sse_t t = {0};
  CHECK(sio_nsp_server_emit_ack(B.n[1].root, "ask", &args, on_sse, &t) == 0);
  CHECK(run_until(sse_called, &t));
  CHECK_EQ_INT(t.status, SIO_ETIMEDOUT);
  CHECK_EQ_INT(strlen(t.text), strlen("[\"node0\",\"node2\"]"));
  cJSON_Delete(a);
  teardown();
}

/* ---- broadcasts with acks: counts and answers from every node ---- */

static void on_acks(sio_nsp_t *nsp, int status, const sio_args_t *responses, void *arg) {
  (void)nsp;
  record(arg, status, responses ? responses->json : NULL);
}

static int acks_called(void *arg) { return ((acks_t *)arg)->calls > 0; }

static void broadcast_acks(int mode) {
  CHECK(setup(3, mode, 0, 0) == 0);
  cJSON *a = cJSON_Parse("[\"q\",1]");
  sio_args_t args = {a, NULL, 0};
  acks_t r = {0};
  CHECK(sio_nsp_emit_ack(B.n[0].root, NULL, "ack-me", &args, 2000, on_acks, &r) == 0);
  CHECK(run_until(acks_called, &r));
  CHECK_EQ_INT(r.status, 0);
  CHECK(strstr(r.text, "\"ok0\"") && strstr(r.text, "\"ok1\"") && strstr(r.text, "\"ok2\""));
  char w[1024];
  CHECK(wire_find("\"ack-me\"", w, sizeof w));
  CHECK(starts(w, "{\"type\":3,\"data\":{\"packet\":{\"type\":2,\"data\":[\"ack-me\",\"q\",1]},\"requestId\":\""));
  CHECK(strstr(w, "\",\"opts\":{\"rooms\":[],\"except\":[],\"flags\":{\"timeout\":2000}}},\"uid\":\"U\",\"nsp\":\"/\"}"));
  CHECK(wire_find("\"type\":11", w, sizeof w));
  CHECK(strstr(w, "\",\"clientCount\":1},\"uid\":\"U\",\"nsp\":\"/\"}"));
  CHECK(wire_find("\"ok2\"", w, sizeof w));
  CHECK(starts(w, "{\"type\":12,\"data\":{\"requestId\":\"") && strstr(w, "\",\"packet\":\"ok2\"}"));
  /* A node that never reports: the broadcast ends at its timeout with the answers that came. */
  B.count_reply = 4;
  acks_t t = {0};
  CHECK(sio_nsp_emit_ack(B.n[1].root, NULL, "ack-me", &args, 300, on_acks, &t) == 0);
  CHECK(run_until(acks_called, &t));
  CHECK_EQ_INT(t.status, SIO_ETIMEDOUT);
  CHECK(strstr(t.text, "\"ok0\"") && strstr(t.text, "\"ok1\"") && strstr(t.text, "\"ok2\""));
  /* Answers after the end are ignored (the ack was forgotten): nothing breaks. */
  settle(50);
  CHECK_EQ_INT(t.calls, 1);
  cJSON_Delete(a);
  teardown();
}

TEST(broadcast_acks_sharded) { broadcast_acks(MODE_SHARDED); }
TEST(broadcast_acks_streams) { broadcast_acks(MODE_STREAMS); }

/* ---- offsets: this node's part waits for its offset, in emit order ---- */

static void release_held(void) {
  /* B.held is last-published first: the callbacks come back in the reverse order. */
  for (bus_msg_t *m = B.held; m;) {
    bus_msg_t *next = m->next;
    m->next = NULL;
    bus_push(m);
    m = next;
  }
  B.held = NULL;
}

static int events_ge(void *arg) {
  int *want = arg;
  return B.n[want[0]].events >= want[1];
}

TEST(offsets_in_order) {
  CHECK(setup(2, MODE_STREAMS, 1, 1) == 0);
  B.hold_cbs = 1;
  CHECK(emit_json(0, NULL, "e1", "[\"a\"]", NULL, 0) == 0);
  CHECK(emit_json(0, NULL, "e2", "[\"b\"]", NULL, 0) == 0);
  sio_target_t vol = {NULL, 0, NULL, 0, SIO_EMIT_VOLATILE};
  CHECK(emit_json(0, &vol, "v3", "[\"c\"]", NULL, 0) == 0); /* no offset, but after e1 and e2 */
  CHECK(emit_json(0, NULL, "e4", "[\"d\"]", NULL, 0) == 0);
  /* The other node has them, each with the entry id the stream gave it. */
  CHECK(wait_log(1, "e1 [\"a\",\"1-0\""));
  CHECK(wait_log(1, "e2 [\"b\",\"2-0\""));
  CHECK(wait_log(1, "v3 [\"c\"]"));
  CHECK(wait_log(1, "e4 [\"d\",\"4-0\""));
  /* Here nothing yet: the offsets did not come. */
  settle(50);
  CHECK_EQ_INT(B.n[0].events, 0);
  release_held(); /* e4's callback first, e1's last */
  int want[2] = {0, 4};
  CHECK(run_until(events_ge, want));
  CHECK(strcmp(B.n[0].log, "e1 [\"a\",\"1-0\"]\ne2 [\"b\",\"2-0\"]\nv3 [\"c\"]\ne4 [\"d\",\"4-0\"]\n") == 0);
  /* Local emits do not wait (as Node's, which do not publish). */
  B.hold_cbs = 1;
  CHECK(emit_json(0, NULL, "e5", "[]", NULL, 0) == 0);
  sio_target_t loc = {NULL, 0, NULL, 0, SIO_EMIT_LOCAL};
  CHECK(emit_json(0, &loc, "l6", "[]", NULL, 0) == 0);
  CHECK(wait_log(0, "l6 [")); /* (with this node's own offset while the layer keeps sessions) */
  CHECK(strstr(B.n[0].log, "e5") == NULL);
  /* Sent without an offset (the callback gives NULL): delivered without the stream's. */
  B.hold_cbs = 0;
  release_held();
  CHECK(wait_log(0, "e5 [\"5-0\"]"));
  B.null_offsets = 1;
  CHECK(emit_json(0, NULL, "e7", "[\"n\"]", NULL, 0) == 0);
  CHECK(wait_log(0, "e7 [\"n\""));
  CHECK(strstr(B.n[0].log, "\"7-0\"") == NULL);
  /* Publishing fails: delivered here at once. */
  B.publish_fails = 1;
  CHECK(emit_json(0, NULL, "e8", "[]", NULL, 0) == 0);
  CHECK(wait_log(0, "e8 ["));
  B.publish_fails = 0;
  teardown();
}

/* The adapter is freed with broadcasts waiting for their offsets: their callbacks come inside
 * the transport's free, or after it; nothing is delivered, nothing leaks (ASan). */
TEST(offsets_freed_in_flight) {
  for (cbs_on_free = 0; cbs_on_free <= 2; cbs_on_free++) {
    CHECK(setup(2, MODE_STREAMS, 1, 1) == 0);
    B.hold_cbs = 1;
    CHECK(emit_json(0, NULL, "e1", "[]", NULL, 0) == 0);
    CHECK(emit_json(0, NULL, "e2", "[]", NULL, 0) == 0);
    CHECK(wait_log(1, "e2 ["));
    teardown(); /* (0: the held callbacks come from the bus after the servers closed) */
    CHECK(strstr(B.n[0].log, "e1") == NULL);
  }
  cbs_on_free = 0;
}

TEST(offsets_need_recovery) {
  /* Offsets given, recovery off: delivered at once, nothing appended on either side. */
  CHECK(setup(2, MODE_STREAMS, 0, 1) == 0);
  B.hold_cbs = 1;
  CHECK(emit_json(0, NULL, "e1", "[\"a\"]", NULL, 0) == 0);
  CHECK(wait_log(0, "e1 [\"a\"]\n"));
  CHECK(wait_log(1, "e1 [\"a\"]\n"));
  CHECK(B.held == NULL); /* published without a callback */
  teardown();
}

/* ---- sessions forwarded to the transport; close and down end requests ---- */

static void restored(void *arg, int status, sio_recovered_t *r) { (void)arg, (void)status, (void)r; }

TEST(sessions_close_down) {
  CHECK(setup(2, MODE_STREAMS, 0, 0) == 0);
  sio_adapter_t *a = sio__sac_adapter(B.n[0].sac);
  CHECK(a->vt->persist_session == NULL && a->vt->restore_session == NULL);
  CHECK(sio__sac_nsp(B.n[0].sac) == B.n[0].root);
  CHECK(a->vt->all_rooms == NULL); /* Node's ClusterAdapter has no remote allRooms */
  CHECK(sio_socket_join(B.n[0].sock, "here") == 0);
  CHECK(sio_socket_join(B.n[1].sock, "there") == 0);
  fetched_t rooms = {0};
  CHECK(sio_nsp_fetch_rooms(B.n[0].root, on_rooms, &rooms) == 0);
  CHECK(run_until(called, &rooms));
  CHECK_EQ_INT(rooms.status, 0);
  CHECK(strstr(rooms.ids, " here ") != NULL && strstr(rooms.ids, "there") == NULL); /* this node's */
  /* The transport lost the other nodes: a request waiting for them ends now. */
  fetched_t f = {0};
  B.count_reply = 3;
  CHECK(sio_nsp_fetch_sockets(B.n[0].root, NULL, on_fetched, &f) == 0);
  settle(30);
  CHECK_EQ_INT(f.calls, 0);
  sio__sac_on_down(B.n[0].sac, SIO_EUNAVAIL);
  CHECK_EQ_INT(f.calls, 1);
  CHECK_EQ_INT(f.status, SIO_EUNAVAIL);
  /* Closing the server ends what still waits with SIO_ECLOSED. */
  B.count_reply = -1;
  fetched_t g = {0};
  sse_t r = {0};
  CHECK(sio_nsp_fetch_sockets(B.n[0].root, NULL, on_fetched, &g) == 0);
  cJSON *args = cJSON_CreateArray();
  sio_args_t sa = {args, NULL, 0};
  CHECK(sio_nsp_server_emit_ack(B.n[0].root, "x", &sa, on_sse, &r) == 0);
  cJSON_Delete(args);
  teardown();
  CHECK_EQ_INT(g.calls, 1);
  CHECK_EQ_INT(g.status, SIO_ECLOSED);
  CHECK_EQ_INT(r.calls, 1);
  CHECK_EQ_INT(r.status, SIO_ECLOSED);
  /* With a transport that keeps sessions, the adapter forwards both calls unchanged. */
  tp.persist_session = t_persist;
  tp.restore_session = t_restore;
  int ok = setup(2, MODE_STREAMS, 0, 0) == 0;
  if (ok) {
    a = sio__sac_adapter(B.n[0].sac);
    cJSON *session = cJSON_CreateObject();
    ok = a->vt->persist_session && a->vt->persist_session(a, session) == 0 && persisted == session &&
         a->vt->restore_session(a, "p", "1-0", restored, NULL) == SIO_ENOTFOUND;
    cJSON_Delete(session);
    teardown();
  }
  tp.persist_session = NULL;
  tp.restore_session = NULL;
  CHECK(ok);
}

/* ---------------------------------------------------------------------------------------------- */
/* Node-made bytes: captured between two Node nodes (tests/js/redis-wire-vectors.json, made by     */
/* tests/js/reference/capture-redis-wire.mjs: notepack.io for the sharded adapter, @msgpack/msgpack */
/* and JSON.stringify for the streams adapter)                                                     */

static const char v_sharded_broadcast[] =
    "{\"type\":3,\"data\":{\"packet\":{\"type\":2,\"data\":[\"broadcast\",\"hello\",{\"n\":42,\"s\":\"héllo 😀\",\"list\":[1,null,true,1.5]},-7]},\"opts\":{\"rooms\":[],\"except\":[],\"flags\":{}}},\"uid\":\"8a2af8233701c644\",\"nsp\":\"/\"}";
static const char v_sharded_binary_hex[] =
    "84a47479706503a46461746182a67061636b657482a47479706502a46461746194a962726f616463617374a362696ec4"
    "10000102030405060708090a0b0c0d0e0f81a66e657374656492c404deadbeefa474657874a46f70747383a5726f6f6d"
    "7390a665786365707490a5666c61677380a3756964b062373764363866613731323030656238a36e7370a12f";
static const char v_sharded_sse[] =
    "{\"type\":9,\"data\":{\"requestId\":\"f6ef703a7391a4a3\",\"packet\":[\"server-event\",\"hi\",{\"n\":1}]},\"uid\":\"8a2af8233701c644\",\"nsp\":\"/\"}";
static const char v_sharded_join[] =
    "{\"type\":4,\"data\":{\"opts\":{\"rooms\":[\"oT5wFjpiXidACzvUAAAA\"],\"except\":[],\"flags\":{}},\"rooms\":[\"pulled\"]},\"uid\":\"8a2af8233701c644\",\"nsp\":\"/\"}";
static const char v_streams_broadcast_data[] =
    "{\"packet\":{\"type\":2,\"data\":[\"broadcast\",\"hello\",{\"n\":42,\"s\":\"héllo 😀\",\"list\":[1,null,true,1.5]},-7]},\"opts\":{\"rooms\":[],\"except\":[],\"flags\":{}}}";
static const char v_streams_binary_data[] =
    "gqZwYWNrZXSCpHR5cGUCpGRhdGGUqWJyb2FkY2FzdKNiaW7EEAABAgMEBQYHCAkKCwwNDg+Bpm5lc3RlZJLEBN6tvu+kdGV4dKRvcHRzg6Vyb29tc5CmZXhjZXB0kKVmbGFnc4A=";
static const char v_streams_fetch_sockets_hex[] =
    "84a47479706507a46461746182a46f70747383a5726f6f6d7390a665786365707490a5666c61677380a9726571756573"
    "744964b061383538383537376634666532626265a3756964b031373737623332643937623534336333a36e7370a12f";
static const char v_streams_server_side_emit_hex[] =
    "84a47479706509a46461746182a9726571756573744964b062316333343538376335343739326638a67061636b657493"
    "ac7365727665722d6576656e74a2686981a16e01a3756964b031373737623332643937623534336333a36e7370a12f";
static const char v_streams_broadcast_with_ack_hex[] =
    "84a47479706503a46461746183a67061636b657482a47479706502a46461746193a661636b2d6d65a17101a972657175"
    "6573744964b062313633353334656163616161353536a46f70747383a5726f6f6d7390a665786365707490a5666c6167"
    "7381a774696d656f7574cd03e8a3756964b031373737623332643937623534336333a36e7370a12f";
static const char v_streams_server_side_emit_noack_hex[] =
    "84a47479706509a46461746181a67061636b657492ac7365727665722d6576656e74a466697265a3756964b036623436"
    "326461366533373366376132a36e7370a12f";
static const char v_streams_fetch_sockets_response_hex[] =
    "84a47479706508a46461746182a9726571756573744964b061383538383537376634666532626265a7736f636b657473"
    "9184a26964b467667041696c6561514a42326e4c676541414141a968616e647368616b6589a76865616465727386b573"
    "65632d776562736f636b65742d76657273696f6ea23133b17365632d776562736f636b65742d6b6579b86c67522f7433"
    "5973354f594953335a74582b45664b773d3daa636f6e6e656374696f6ea755706772616465a775706772616465a97765"
    "62736f636b6574b87365632d776562736f636b65742d657874656e73696f6e73d92a7065726d6573736167652d646566"
    "6c6174653b20636c69656e745f6d61785f77696e646f775f62697473a4686f7374af3132372e302e302e313a33333135"
    "35a474696d65d93e4d6f6e2044656320303720323032362031313a35383a333720474d542b303030302028436f6f7264"
    "696e6174656420556e6976657273616c2054696d6529a761646472657373a93132372e302e302e31a778646f6d61696e"
    "c2a6736563757265c2a6697373756564cf000001a2505ec26fa375726cd9252f736f636b65742e696f2f3f45494f3d34"
    "267472616e73706f72743d776562736f636b6574a5717565727982a345494fa134a97472616e73706f7274a977656273"
    "6f636b6574a46175746880a5726f6f6d7392b467667041696c6561514a42326e4c676541414141a66f7468657273a464"
    "61746180a3756964b036623436326461366533373366376132a36e7370a12f";
static const char v_streams_broadcast_ack_hex[] =
    "84a4747970650ca46461746182a9726571756573744964b062313633353334656163616161353536a67061636b6574b4"
    "67667041696c6561514a42326e4c676541414141a3756964b036623436326461366533373366376132a36e7370a12f";
static const char v_streams_broadcast_client_count_hex[] =
    "84a4747970650ba46461746182a9726571756573744964b062313633353334656163616161353536ab636c69656e7443"
    "6f756e7401a3756964b036623436326461366533373366376132a36e7370a12f";
static const char v_streams_server_side_emit_response_hex[] =
    "84a4747970650aa46461746182a9726571756573744964b062316333343538376335343739326638a67061636b657482"
    "a4706f7274cd8183a46172677392a2686981a16e01a3756964b036623436326461366533373366376132a36e7370a12f";

/* hex to bytes (malloc'd, *len set). */
static char *unhex(const char *h, size_t *len) {
  size_t n = strlen(h) / 2;
  char *out = malloc(n ? n : 1);
  for (size_t i = 0; i < n; i++) {
    unsigned v;
    sscanf(h + 2 * i, "%2x", &v);
    out[i] = (char)v;
  }
  *len = n;
  return out;
}

static void feed_hex(int node, const char *hex, int is_response) {
  size_t n;
  char *b = unhex(hex, &n);
  sio__sac_on_raw(B.n[node].sac, b, n, is_response);
  free(b);
}

/* s with every occurrence of `from` replaced by `to` (same length), in a static buffer. */
static const char *swap(const char *s, const char *from, const char *to) {
  static char buf[4096];
  snprintf(buf, sizeof buf, "%s", s);
  for (char *p = strstr(buf, from); p; p = strstr(p + strlen(to), from)) memcpy(p, to, strlen(to));
  return buf;
}

#define BIN16 "000102030405060708090a0b0c0d0e0f"
#define NESTED_EVENT                                                                            \
  "broadcast [\"bin\",{\"_placeholder\":true,\"num\":0},{\"nested\":[{\"_placeholder\":true,\"num\":1}," \
  "\"text\"]}] " BIN16 " deadbeef\n"
#define HELLO_EVENT "broadcast [\"hello\",{\"n\":42,\"s\":\"héllo 😀\",\"list\":[1,null,true,1.5]},-7]"

TEST(node_vectors_decoded) {
  CHECK(setup(2, MODE_SHARDED, 0, 0) == 0);
  /* Broadcasts: JSON (sharded), notepack with binary (sharded), stream fields JSON and base64. */
  sio__sac_on_raw(B.n[1].sac, v_sharded_broadcast, strlen(v_sharded_broadcast), 0);
  CHECK(wait_log(1, HELLO_EVENT "\n"));
  feed_hex(1, v_sharded_binary_hex, 0);
  CHECK(wait_log(1, NESTED_EVENT));
  B.n[1].log[0] = '\0';
  sio__sac_on_fields(B.n[1].sac, "1777b32d97b543c3", "3", v_streams_broadcast_data,
                     strlen(v_streams_broadcast_data), "1700000000000-0");
  CHECK(wait_log(1, HELLO_EVENT "\n")); /* recovery off: no offset appended */
  sio__sac_on_fields(B.n[1].sac, "6b462da6e373f7a2", "3", v_streams_binary_data,
                     strlen(v_streams_binary_data), "1700000000000-1");
  CHECK(wait_log(1, NESTED_EVENT));
  CHECK(strstr(B.n[0].log, "hello") == NULL); /* fed to node 1 only */
  /* socketsJoin aimed at node 1's socket (the capture's room was a socket id of its own). */
  const char *j = swap(v_sharded_join, "oT5wFjpiXidACzvUAAAA", sio_socket_id(B.n[1].sock));
  sio__sac_on_raw(B.n[1].sac, j, strlen(j), 0);
  CHECK(in_room(1, "pulled"));
  /* serverSideEmit with an answer wanted (JSON and msgpack): the listener runs, and the answer
   * goes back to the requester's uid as Node writes it. */
  sio__sac_on_raw(B.n[1].sac, v_sharded_sse, strlen(v_sharded_sse), 0);
  feed_hex(1, v_streams_server_side_emit_hex, 0);
  feed_hex(1, v_streams_server_side_emit_noack_hex, 0);
  CHECK(strcmp(B.n[1].server_log, "server-event [\"hi\",{\"n\":1}]\nserver-event [\"hi\",{\"n\":1}]\n"
                                  "server-event [\"fire\"]\n") == 0);
  char w[4096];
  CHECK(wire_find("f6ef703a7391a4a3", w, sizeof w));
  CHECK(strcmp(w, "{\"type\":10,\"data\":{\"requestId\":\"f6ef703a7391a4a3\",\"packet\":\"node1\"},\"uid\":\"U\",\"nsp\":\"/\"}") == 0);
  CHECK(wire_find("b1c34587c54792f8", w, sizeof w));
  /* fetchSockets: the answer names node 1's socket. */
  feed_hex(1, v_streams_fetch_sockets_hex, 0);
  CHECK(wire_find("a8588577f4fe2bbe", w, sizeof w));
  CHECK(starts(w, "{\"type\":8,\"data\":{\"requestId\":\"a8588577f4fe2bbe\",\"sockets\":[{\"id\":\""));
  CHECK(strstr(w, sio_socket_id(B.n[1].sock)) != NULL);
  /* A broadcast with acks: node 1's client is asked, its count and its answer go back. */
  feed_hex(1, v_streams_broadcast_with_ack_hex, 0);
  CHECK(wait_log(1, "ack-me [\"q\",1]\n"));
  has_t h = {0, ""};
  (void)h;
  CHECK(wire_find("\"clientCount\"", w, sizeof w));
  CHECK(strcmp(w, "{\"type\":11,\"data\":{\"requestId\":\"b163534eacaaa556\",\"clientCount\":1},\"uid\":\"U\",\"nsp\":\"/\"}") == 0);
  int n = B.nwire;
  for (int i = 0; i < 200 && B.nwire == n; i++) uv_run(&B.loop, UV_RUN_ONCE);
  CHECK(wire_find("\"ok1\"", w, sizeof w));
  CHECK(strcmp(w, "{\"type\":12,\"data\":{\"requestId\":\"b163534eacaaa556\",\"packet\":\"ok1\"},\"uid\":\"U\",\"nsp\":\"/\"}") == 0);
  /* Answers to requests of another node (not ours): ignored. */
  feed_hex(1, v_streams_fetch_sockets_response_hex, 1);
  feed_hex(1, v_streams_broadcast_ack_hex, 1);
  feed_hex(1, v_streams_broadcast_client_count_hex, 1);
  feed_hex(1, v_streams_server_side_emit_response_hex, 1);
  feed_hex(1, v_streams_fetch_sockets_response_hex, 0);
  teardown();
}

/* What this node writes is what Node writes, byte for byte (the uid aside). */
TEST(node_vectors_encoded) {
  static const char b16[16] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};
  static const char dead[4] = {(char)0xde, (char)0xad, (char)0xbe, (char)0xef};
  const sio_buf_t bufs[2] = {{b16, 16}, {dead, 4}};
  const char *nested = "[\"bin\",{\"_placeholder\":true,\"num\":0},{\"nested\":[{\"_placeholder\":true,\"num\":1},\"text\"]}]";
  for (int mode = MODE_SHARDED; mode <= MODE_STREAMS; mode++) {
    CHECK(setup(2, mode, 0, 0) == 0);
    const char *uid = sio__sac_uid(B.n[0].sac);
    CHECK(strlen(uid) == SIO_SAC_ID_LEN && strspn(uid, "0123456789abcdef") == SIO_SAC_ID_LEN);
    CHECK(emit_json(0, NULL, "broadcast", nested, bufs, 2) == 0);
    if (mode == MODE_SHARDED) { /* notepack.io of the whole message */
      size_t n;
      char *want = unhex(v_sharded_binary_hex, &n);
      char *u = memmem(want, n, "b77d68fa71200eb8", 16);
      CHECK(u != NULL);
      memcpy(u, uid, 16);
      CHECK_MEM(B.last_raw, B.last_raw_len, want, n);
      free(want);
    } else { /* the stream entry's data: base64 of @msgpack/msgpack's bytes */
      CHECK_MEM(B.last_raw, B.last_raw_len, v_streams_binary_data, strlen(v_streams_binary_data));
    }
    CHECK(emit_json(0, NULL, "broadcast", "[\"hello\",{\"n\":42,\"s\":\"héllo 😀\",\"list\":[1,null,true,1.5]},-7]",
                    NULL, 0) == 0);
    if (mode == MODE_SHARDED) {
      char w[1024];
      CHECK(wire_find("\"hello\"", w, sizeof w));
      CHECK(strcmp(w, swap(v_sharded_broadcast, "8a2af8233701c644\"", "U\",\"nsp\":\"/\"}")) == 0 ||
            strncmp(w, v_sharded_broadcast, strlen(v_sharded_broadcast) - 42) == 0);
    } else {
      CHECK_MEM(B.last_raw, B.last_raw_len, v_streams_broadcast_data, strlen(v_streams_broadcast_data));
    }
    teardown();
  }
}

/* ---------------------------------------------------------------------------------------------- */
/* Garbage: truncated, flipped and hostile messages are ignored; the node still works after        */

static uint32_t lcg = 12345;
static uint32_t rnd(void) { return lcg = lcg * 1103515245u + 12345u; }

static void feed_mutations(node_t *n, const char *msg, size_t len) {
  char *b = malloc(len + 1);
  for (size_t cut = 0; cut < len; cut++) { /* every prefix */
    memcpy(b, msg, cut);
    sio__sac_on_raw(n->sac, b, cut, 0);
    sio__sac_on_raw(n->sac, b, cut, 1);
  }
  for (int k = 0; k < 300; k++) { /* byte flips */
    memcpy(b, msg, len);
    for (int f = 0; f < 3; f++) b[rnd() % len] = (char)rnd();
    sio__sac_on_raw(n->sac, b, len, k & 1);
  }
  free(b);
}

TEST(garbage_ignored) {
  CHECK(setup(2, MODE_STREAMS, 1, 0) == 0);
  node_t *n = &B.n[1];
  const char *vectors[] = {v_sharded_binary_hex, v_streams_fetch_sockets_hex,
                           v_streams_server_side_emit_hex, v_streams_broadcast_with_ack_hex,
                           v_streams_fetch_sockets_response_hex};
  for (size_t i = 0; i < sizeof vectors / sizeof *vectors; i++) {
    size_t len;
    char *m = unhex(vectors[i], &len);
    feed_mutations(n, m, len);
    free(m);
  }
  feed_mutations(n, v_sharded_broadcast, strlen(v_sharded_broadcast));
  feed_mutations(n, v_sharded_sse, strlen(v_sharded_sse));
  /* Hostile sizes: counts and lengths no message backs with bytes. */
  static const char *const hostile[] = {
      "\xdd\xff\xff\xff\xff",                 /* array32 of 4G */
      "\xdf\xff\xff\xff\xff\xa1x",            /* map32 of 4G */
      "\xdb\xff\xff\xff\xff" "abc",           /* str32 of 4G */
      "\xc6\x7f\xff\xff\xff",                 /* bin32 of 2G */
      "\x84\xa4" "type\x03\xa4" "data\xde\xff\xff", /* map16 inside, short */
  };
  for (size_t i = 0; i < sizeof hostile / sizeof *hostile; i++)
    sio__sac_on_raw(n->sac, hostile[i], strlen(hostile[i]), 0);
  /* Deep nesting: refused, not a stack overflow. */
  size_t deep = 100000;
  char *d = malloc(deep);
  memset(d, 0x91, deep); /* fixarray of 1, nested */
  sio__sac_on_raw(n->sac, d, deep, 0);
  memset(d, '[', deep);
  d[0] = '{';
  sio__sac_on_raw(n->sac, d, deep, 0);
  free(d);
  /* Well-formed, wrong shapes and types. */
  static const char *const json[] = {
      "{\"type\":3,\"data\":5,\"uid\":\"x\",\"nsp\":\"/\"}",
      "{\"type\":\"3\",\"data\":{},\"uid\":\"x\",\"nsp\":\"/\"}",
      "{\"type\":3.5,\"data\":{},\"uid\":\"x\",\"nsp\":\"/\"}",
      "{\"type\":1e300,\"data\":{},\"uid\":\"x\",\"nsp\":\"/\"}",
      "{\"type\":-3,\"data\":{},\"uid\":\"x\",\"nsp\":\"/\"}",
      "{\"type\":3,\"data\":{\"packet\":{\"type\":2,\"data\":\"ev\"}},\"uid\":\"x\",\"nsp\":\"/\"}",
      "{\"type\":3,\"data\":{\"packet\":{\"type\":2,\"data\":[1,2]}},\"uid\":\"x\",\"nsp\":\"/\"}",
      "{\"type\":3,\"data\":{\"packet\":{\"type\":0,\"data\":[\"ev\"]}},\"uid\":\"x\",\"nsp\":\"/\"}",
      "{\"type\":3,\"data\":{\"packet\":{\"type\":2,\"data\":[\"ev\"]}},\"uid\":\"x\",\"nsp\":\"/other\"}",
      "{\"type\":3,\"data\":{\"packet\":{\"type\":2,\"data\":[\"ev\"]}},\"uid\":\"x\"}",
      "{\"type\":3,\"data\":{\"packet\":{\"type\":2,\"data\":[\"connect\"]},\"opts\":{\"rooms\":5,\"except\":{}}},\"uid\":\"x\",\"nsp\":\"/\"}",
      "{\"type\":3,\"data\":{\"packet\":{\"type\":2,\"data\":[\"ev\",{\"_placeholder\":true,\"num\":0}]}},\"uid\":\"x\",\"nsp\":\"/\"}",
      "{\"type\":3,\"data\":{\"requestId\":5,\"packet\":{\"type\":2,\"data\":[\"ev\"]}},\"uid\":\"x\",\"nsp\":\"/\"}",
      "{\"type\":7,\"data\":{\"requestId\":\"a b\"},\"uid\":\"x\",\"nsp\":\"/\"}",
      "{\"type\":7,\"data\":{\"requestId\":\"r\"},\"nsp\":\"/\"}",
      "{\"type\":9,\"data\":{\"packet\":\"x\"},\"uid\":\"x\",\"nsp\":\"/\"}",
      "{\"type\":9,\"data\":{\"packet\":[]},\"uid\":\"x\",\"nsp\":\"/\"}",
      "{\"type\":4,\"data\":{\"opts\":{},\"rooms\":\"r\"},\"uid\":\"x\",\"nsp\":\"/\"}",
      "{\"type\":11,\"data\":{\"requestId\":\"zz\",\"clientCount\":1e300},\"uid\":\"x\",\"nsp\":\"/\"}",
      "{\"type\":1,\"uid\":\"x\",\"nsp\":\"/\"}",
      "{\"type\":2,\"uid\":\"x\",\"nsp\":\"/\"}",
      "{\"type\":13,\"uid\":\"x\",\"nsp\":\"/\"}",
      "{\"type\":99,\"data\":{},\"uid\":\"x\",\"nsp\":\"/\"}",
      "[1,2,3]",
      "",
  };
  for (size_t i = 0; i < sizeof json / sizeof *json; i++) {
    sio__sac_on_raw(n->sac, json[i], strlen(json[i]), 0);
    sio__sac_on_raw(n->sac, json[i], strlen(json[i]), 1);
  }
  /* A message of our own uid, heard back: ignored. */
  char own[256];
  snprintf(own, sizeof own, "{\"type\":3,\"data\":{\"packet\":{\"type\":2,\"data\":[\"own\"]},\"opts\":{}},\"uid\":\"%s\",\"nsp\":\"/\"}",
           sio__sac_uid(n->sac));
  sio__sac_on_raw(n->sac, own, strlen(own), 0);
  sio__sac_on_fields(n->sac, sio__sac_uid(n->sac), "3", strchr(own + 1, '{'), strlen(strchr(own + 1, '{')) - 44, "1-0");
  /* Stream fields: bad types, bad base64, bad JSON, no data, truncated base64. */
  static const char *const types[] = {"x", "", "3x", "99999", "-1", NULL};
  for (size_t i = 0; i < sizeof types / sizeof *types; i++)
    sio__sac_on_fields(n->sac, "peer", types[i], v_streams_broadcast_data, strlen(v_streams_broadcast_data), "1-0");
  sio__sac_on_fields(n->sac, "peer", "3", "!!!!", 4, "1-0");
  sio__sac_on_fields(n->sac, "peer", "3", "{", 1, "1-0");
  sio__sac_on_fields(n->sac, "peer", "3", NULL, 0, "1-0");
  sio__sac_on_fields(n->sac, NULL, "9", NULL, 0, NULL);
  for (size_t cut = 0; cut < strlen(v_streams_binary_data); cut++)
    sio__sac_on_fields(n->sac, "peer", "3", v_streams_binary_data, cut, "1-0");
  /* Counts and answers for ids nobody asked. */
  sio__sac_on_server_count(n->sac, "nobody", 5);
  sio__sac_on_server_count(n->sac, "nobody", -1);
  sio__sac_on_down(n->sac, SIO_EUNAVAIL);
  settle(100);
  /* Some mutations are still valid broadcasts ("broadcast" events): nothing else arrived. */
  CHECK(strstr(n->log, "own") == NULL && strstr(n->log, "connect") == NULL);
  /* The node still works (its client may be gone: a flipped type can be a valid disconnect). */
  n->server_log[0] = '\0';
  cJSON *a = cJSON_CreateArray();
  sio_args_t sa = {a, NULL, 0};
  CHECK(sio_nsp_server_emit(B.n[0].root, "after", &sa) == 0);
  cJSON_Delete(a);
  int before = n->server_events + 1;
  CHECK(run_until(server_events_ge, &before));
  CHECK(strcmp(n->server_log, "after []\n") == 0);
  teardown();
}

/* ---- a stream entry's broadcast, decoded for restoring missed packets ---- */

TEST(decode_broadcast) {
  cJSON *ev;
  sio_buf_t *bufs;
  size_t nbufs;
  char **rooms, **except;
  CHECK(sio__sac_decode_broadcast(v_streams_binary_data, strlen(v_streams_binary_data), &ev, &bufs,
                                  &nbufs, &rooms, &except) == 0);
  char *t = cJSON_PrintUnformatted(ev);
  CHECK(strcmp(t, "[\"broadcast\",\"bin\",{\"_placeholder\":true,\"num\":0},{\"nested\":[{\"_placeholder\":true,\"num\":1},\"text\"]}]") == 0);
  cJSON_free(t);
  CHECK_EQ_INT(nbufs, 2);
  CHECK(bufs[0].len == 16 && bufs[0].data[15] == 15 && bufs[1].len == 4 && (unsigned char)bufs[1].data[0] == 0xde);
  CHECK(rooms[0] == NULL && except[0] == NULL);
  cJSON_Delete(ev);
  for (size_t i = 0; i < nbufs; i++) free((char *)bufs[i].data);
  free(bufs);
  free(rooms);
  free(except);
  const char *room_data = "{\"packet\":{\"type\":2,\"data\":[\"room-message\",\"others\"]},\"opts\":{\"rooms\":[\"others\",\"b\"],\"except\":[\"xn\"],\"flags\":{}}}";
  CHECK(sio__sac_decode_broadcast(room_data, strlen(room_data), &ev, &bufs, &nbufs, &rooms, &except) == 0);
  CHECK(strcmp(rooms[0], "others") == 0 && strcmp(rooms[1], "b") == 0 && rooms[2] == NULL);
  CHECK(strcmp(except[0], "xn") == 0 && except[1] == NULL && nbufs == 0);
  cJSON_Delete(ev);
  free(bufs);
  free(rooms);
  free(except);
  static const char *const bad[] = {"", "{", "!!", "{\"packet\":5}", "{\"packet\":{\"data\":[1]}}", "gqZwYWNr"};
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    CHECK_EQ_INT(sio__sac_decode_broadcast(bad[i], strlen(bad[i]), &ev, &bufs, &nbufs, &rooms, &except), SIO_EINVAL);
    CHECK(ev == NULL && bufs == NULL && rooms == NULL && except == NULL);
  }
}

/* ---- what a transport is told of each message: ephemeral (pub/sub in the streams adapter), the
 * one room of a broadcast (the sharded adapter's dynamic channels), binary ---- */

TEST(message_metadata) {
  CHECK(setup(2, MODE_SHARDED, 0, 0) == 0);
  const char *r1 = "r1", *r2[] = {"a", "b"};
  sio_target_t one = {&r1, 1, NULL, 0, 0}, two = {r2, 2, NULL, 0, 0};
  static const char bytes[] = {1, 2};
  sio_buf_t b = {bytes, 2};
  CHECK(emit_json(0, &one, "x", "[]", NULL, 0) == 0);
  CHECK(emit_json(0, &two, "x", "[]", NULL, 0) == 0);
  CHECK(emit_json(0, NULL, "x", "[{\"_placeholder\":true,\"num\":0}]", &b, 1) == 0);
  acks_t r = {0};
  CHECK(sio_nsp_emit_ack(B.n[0].root, &one, "x", NULL, 200, on_acks, &r) == 0);
  CHECK(sio_nsp_join(B.n[0].root, NULL, "j") == 0);
  CHECK(sio_nsp_leave(B.n[0].root, NULL, "j") == 0);
  sio_nsp_disconnect(B.n[0].root, &two, 0);
  cJSON *a = cJSON_CreateArray();
  sio_args_t sa = {a, NULL, 0};
  CHECK(sio_nsp_server_emit(B.n[0].root, "s", &sa) == 0);
  cJSON_Delete(a);
  fetched_t f = {0};
  CHECK(sio_nsp_fetch_sockets(B.n[0].root, NULL, on_fetched, &f) == 0);
  CHECK(run_until(called, &f));
  CHECK(run_until(acks_called, &r));
  CHECK(strcmp(B.meta, "3 e0 b0 r1 3 e0 b0 3 e0 b1 3 e1 b0 4 e0 b0 5 e0 b0 6 e0 b0 9 e1 b0 7 e1 b0 ") == 0);
  teardown();
}

/* A socket's binary answer to a broadcast with acks crosses nodes byte for byte (msgpack). */
typedef struct {
  int calls, status;
  size_t nbufs, good;
} binacks_t;

static void on_binacks(sio_nsp_t *nsp, int status, const sio_args_t *responses, void *arg) {
  (void)nsp;
  binacks_t *r = arg;
  r->calls++;
  r->status = status;
  for (const cJSON *c = responses && responses->json ? responses->json->child : NULL; c; c = c->next) {
    const sio_buf_t *b = sio_args_attachment(responses, c);
    r->good += b && b->len == 3 && memcmp(b->data, "\xca\xfe", 3) == 0;
  }
  r->nbufs = responses ? responses->nbufs : 0;
}

static int binacks_called(void *arg) { return ((binacks_t *)arg)->calls > 0; }

TEST(binary_ack_answers) {
  for (int mode = MODE_SHARDED; mode <= MODE_STREAMS; mode++) {
    CHECK(setup(3, mode, 0, 0) == 0);
    binacks_t r = {0};
    CHECK(sio_nsp_emit_ack(B.n[0].root, NULL, "binack", NULL, 2000, on_binacks, &r) == 0);
    CHECK(run_until(binacks_called, &r));
    CHECK_EQ_INT(r.status, 0);
    CHECK_EQ_INT(r.good, 3);
    CHECK_EQ_INT(r.nbufs, 3);
    teardown();
  }
}

TEST_MAIN(RUN(broadcast_sharded), RUN(broadcast_streams), RUN(rooms_flags_local), RUN(selections_both_ways),
          RUN(fetch_sockets), RUN(server_side_emit), RUN(broadcast_acks_sharded),
          RUN(broadcast_acks_streams), RUN(offsets_in_order), RUN(offsets_need_recovery),
          RUN(offsets_freed_in_flight),
          RUN(sessions_close_down), RUN(node_vectors_decoded), RUN(node_vectors_encoded),
          RUN(garbage_ignored), RUN(decode_broadcast), RUN(message_metadata),
          RUN(binary_ack_answers))

#else

TEST(no_redis) { CHECK(1); }
TEST_MAIN(RUN(no_redis))

#endif
