/* Engine.IO v4/v3 sessions over long-polling and WebSocket, with the upgrade and heartbeats. */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>

#include <uv.h>

#include "base64.h"
#include "engine/eio_codec.h"
#include "engine/eio_jsonp.h"
#include "engine/engine.h"
#include "http/http_compress.h"
#include "json_write.h"
#include "opts.h"
#include "transport/static_files.h"
#include "transport/log.h"
#include "transport/transport.h"
#include "url.h"
#include "worker/workers.h"

enum { ST_OPEN = 0, ST_CLOSING = 1, ST_CLOSED = 2 };
enum { UP_NONE = 0, UP_PROBING = 1, UP_PROBED = 2 };

enum {
  ERR_UNKNOWN_TRANSPORT = 0,
  ERR_UNKNOWN_SID = 1,
  ERR_BAD_HANDSHAKE_METHOD = 2,
  ERR_BAD_REQUEST = 3,
  ERR_FORBIDDEN = 4,
  ERR_UNSUPPORTED_PROTOCOL_VERSION = 5
};

static const char *const error_messages[] = {
    "Transport unknown", "Session ID unknown", "Bad handshake method",
    "Bad request",       "Forbidden",          "Unsupported protocol version"};

/* Room kept in front of a message's bytes for its v4 WebSocket frame: a server frame header (at most
 * 10 bytes) and the '4' of a text packet. The v4 frame is then written in place, never copied. */
#define MSG_ROOM 16

struct sio_msg_s {
  uint32_t refs;
  uint8_t binary;
  uint8_t v4_hlen;     /* bytes of the v4 frame in front of data, 0 until built */
  uint8_t no_compress; /* never permessage-deflated (an emit's compress(false)) */
  /* Window bits of zframe[slot] (see msg_deflate); ZBITS_FAILED when it could not be made. */
  uint8_t zbits[3];
  sio_rbuf_t *store;   /* [MSG_ROOM][data][NUL]: shared by reference with the write queues */
  /* The v3 WebSocket frames, built on first use: [1] binary, [2] base64 text ("b4<base64>"). */
  sio_rbuf_t *frame[3];
  /* Each frame's permessage-deflate form, built on first use: one per broadcast, not per
   * recipient. */
  sio_rbuf_t *zframe[3];
  size_t len;
  char *data;          /* store->data + MSG_ROOM */
};

/* A frame to write: bytes inside a shared buffer. */
typedef struct frame_view {
  sio_rbuf_t *rb;
  const char *p;
  size_t len;
} frame_view_t;

typedef struct outpkt {
  uint8_t type;
  sio_msg_t *msg; /* MESSAGE data, or a control packet's data; NULL when none */
} outpkt_t;

/* What only a polling session or an upgrade in progress needs, allocated with a polling handshake
 * (or a poll's need) and freed once the session is on WebSocket for good: an idle WebSocket
 * session never holds it (issue 22: 24 bytes of every session). */
typedef struct poll_part {
  sio_conn_t *probe;         /* the WebSocket being probed during an upgrade */
  char *headers;             /* CORS lines for the parked GET's response */
  uv_timer_t *upgrade_timer; /* its own allocation: closed asynchronously, after the part may go */
  uint32_t jsonp_index;      /* N of the ___eio[N] callback */
} poll_part_t;

struct sio_session_s {
  char id[21];
  /* Whole bytes, in the 3 behind the id, for what every delivery tests (sio__session_deliver). */
  uint8_t protocol;
  uint8_t transport;
  uint8_t state; /* ST_* */
  sio_engine_t *engine;
  void *data;
  sio_session_t *hnext; /* hash chain */
  sio_session_t *dnext; /* dirty list */
  sio_conn_t *conn;     /* the WebSocket, or the parked GET while polling */
  poll_part_t *poll;    /* NULL on a WebSocket session (see poll_part_t) */
  /* Heartbeat and linger deadlines: the session's place in one of the engine's timer queues. */
  sio_session_t *tnext, *tprev;
  uint64_t deadline;
  outpkt_t *outq;
  uint32_t outq_len, outq_cap;
  size_t outq_bytes;
  uint64_t info_time_ms;
  sio_request_info_t *info;
  uint16_t info_headers; /* at most 65535 are kept (kept_headers) */
  /* The other flags as bit-fields in two bytes (issue 22: 8 bytes of every session); the
   * handshake block follows them without padding. */
  uint16_t upgrade : 2;    /* UP_* */
  uint16_t b64 : 1;        /* v3 polling client asked for base64 payloads */
  uint16_t dirty : 1;      /* in the engine's list of sessions to flush */
  uint16_t close_sent : 1; /* a CLOSE packet is queued: the next poll ends the session */
  uint16_t secure : 1;     /* the handshake came over TLS */
  uint16_t http_enc : 2;   /* SIO_HTTP_ENC_*: how the parked GET accepts a compressed body */
  uint16_t jsonp : 1;      /* a v3 JSONP session: scripts out, forms in */
  uint16_t tkind : 3;      /* TQ_*: what happens at the deadline */
  /* The handshake request, compact: "method\0url\0addr\0" then "name\0value\0" per header,
   * in the session's own allocation (every session keeps one for life: one malloc chunk, not
   * two). The sio_request_info_t view is built on first use only (idle sessions never pay). */
  char info_block[];
};
/* Every session holds this for life (with its handshake block): keep it so (issue 22's budget of
 * 1 KiB per idle connection; the other per-connection structs are bounded in test_memory.c). A
 * bench handshake's block is 106 or 107 bytes (the port's digits): 140 + 107 + 8 fits a 256-byte
 * malloc chunk. */
_Static_assert(offsetof(struct sio_session_s, engine) == 24 &&
                   offsetof(struct sio_session_s, info_block) <= 140,
               "sio_session_s grew: see the comment above");

struct sio_engine_s {
  sio_route_t route; /* first: the server sees the engine as its route */
  sio_server_t *server;
  sio_engine_options_t opts;
  sio_engine_callbacks_t cbs;
  char *path;
  char *cors_origin;
  /* The session cookie, split around the sid: "Set-Cookie: NAME=" and "; attributes\r\n";
   * NULL when the option is off. */
  char *cookie_head, *cookie_tail;
  char *client_dir; /* serveClient: resolved, or NULL */
  void *data;
  sio_session_t **buckets;
  size_t nbuckets, count;
  sio_session_t *dirty;
  sio_rbuf_t *ctl[7]; /* WebSocket frames of the one-character packets "0".."6" */
  sio_rbuf_t *probe_frame;
  unsigned char rand_pool[240];
  size_t rand_left;
  void (*free_hook)(void *);
  void *free_hook_arg;
  /* Every session waits for one of three fixed delays (ping interval, ping timeout, their sum), so
   * three FIFOs kept in deadline order and one timer replace a uv_timer_t per session. */
  struct {
    sio_session_t *head, *tail;
  } tq[3];
  uv_timer_t *hb_timer;
  uint64_t hb_armed;    /* deadline the timer is set for, 0 when idle */
  sio_session_t *dead;  /* finalized sessions, freed in the next check phase */
  /* httpCompression: the smallest body compressed (0: off), and the one zlib stream every session
   * shares (taken on the first body compressed). */
  size_t compress_threshold;
  sio_http_compressor_t *compressor;
  /* The application's hooks (sio.h "Hooks at the Engine.IO handshake"); NULL when not set. */
  sio_allow_request_cb allow_cb;
  void *allow_arg;
  sio_cors_origin_cb origin_cb;
  void *origin_arg;
  sio_headers_cb headers_cb[2]; /* [SIO_HEADERS_INITIAL], [SIO_HEADERS_ALL] */
  void *headers_arg[2];
  sio_connection_error_cb error_cb;
  void *error_arg;
  /* Metrics (sio_io_stats): plain counters, the loop being the only thread; [transport - 1]. */
  struct {
    uint64_t handshakes, refused[6], upgrades, max_buffered_closes;
    uint64_t packets_in[2], packets_out[2], bytes_in[2], bytes_out[2];
  } st;
};

enum { TQ_NONE = 0, TQ_PING_DUE, TQ_PONG_WAIT, TQ_LINGER, TQ_V3_PING_WAIT };

/* ---------------------------------------------------------------------------------------------- */
/* Messages                                                                                        */

/* A message of `len` bytes whose store (holding MSG_ROOM, the bytes and a NUL) is given. */
static sio_msg_t *msg_init(sio_msg_t *m, sio_rbuf_t *store, size_t len, int binary) {
  m->store = store;
  m->refs = 1;
  m->binary = binary ? 1 : 0;
  m->v4_hlen = 0;
  m->no_compress = 0;
  for (int i = 0; i < 3; i++) {
    m->frame[i] = m->zframe[i] = NULL;
    m->zbits[i] = 0;
  }
  m->len = len;
  m->data = m->store->data + MSG_ROOM;
  m->data[len] = '\0';
  return m;
}

sio_msg_t *sio_msg_new(const void *data, size_t len, int binary) {
  sio_msg_t *m = malloc(sizeof *m);
  if (!m) return NULL;
  sio_rbuf_t *store = sio_rbuf_new(MSG_ROOM + len + 1);
  if (!store) {
    free(m);
    return NULL;
  }
  if (len) memcpy(store->data + MSG_ROOM, data, len);
  return msg_init(m, store, len, binary);
}

size_t sio__msg_headroom(void) { return offsetof(sio_rbuf_t, data) + MSG_ROOM; }

int sio__msg_begin(sio_sbuf_t *b, size_t len) {
  size_t cap;
  char *block = sio_rbuf_block(MSG_ROOM + len + 1, &cap);
  if (!block) return SIO_ENOMEM;
  b->data = block;
  b->cap = offsetof(sio_rbuf_t, data) + cap;
  b->len = sio__msg_headroom();
  return 0;
}

sio_msg_t *sio__msg_adopt(sio_sbuf_t *b, int binary) {
  size_t head = sio__msg_headroom();
  /* One byte more for the NUL after the data; the block is malloc's (sio__msg_begin, or the sbuf's
   * realloc of it), so aligned for the rbuf header laid over its first bytes. */
  if (b->len < head || sio_sbuf_reserve(b, 1)) return NULL;
  sio_msg_t *m = malloc(sizeof *m);
  if (!m) return NULL;
  size_t len = b->len - head, cap = b->cap - offsetof(sio_rbuf_t, data);
  sio_rbuf_t *store = (sio_rbuf_t *)(void *)sio_sbuf_steal(b, NULL);
  store->refs = 1;
  store->flags = 0;
  store->len = MSG_ROOM + len + 1;
  store->cap = cap;
  return msg_init(m, store, len, binary);
}

sio_msg_t *sio_msg_ref(sio_msg_t *m) {
  m->refs++;
  return m;
}

void sio_msg_unref(sio_msg_t *m) {
  if (!m || --m->refs) return;
  sio_rbuf_unref(m->store);
  sio_rbuf_unref(m->frame[0]);
  sio_rbuf_unref(m->frame[1]);
  sio_rbuf_unref(m->frame[2]);
  if (m->zbits[0] | m->zbits[1] | m->zbits[2]) /* set once a compressed frame was tried */
    for (int i = 0; i < 3; i++) sio_rbuf_unref(m->zframe[i]);
  free(m);
}

void sio__msg_set_compress(sio_msg_t *m, int on) { m->no_compress = !on; }

size_t sio__msg_len(const sio_msg_t *m) { return m->len; }
const char *sio__msg_data(const sio_msg_t *m) { return m->data; }
int sio__msg_binary(const sio_msg_t *m) { return m->binary; }

/* The server WebSocket frame of a MESSAGE packet: text "4<data>" (the same in every version) and
 * v4 binary (raw) are written in place in front of the message's bytes; v3 binary (0x04 + data)
 * and, for a v3 client that asked for base64 (b64=1), the text "b4<base64>" are built on first use.
 * Returns 0, or SIO_ENOMEM. */
static int msg_slot(const sio_msg_t *m, int protocol, int b64) {
  return !m->binary || protocol == 4 ? 0 : b64 ? 2 : 1;
}

static int msg_frame_build(sio_msg_t *m, int protocol, int b64, frame_view_t *out) {
  int slot = msg_slot(m, protocol, b64);
  if (slot == 0) {
    if (!m->v4_hlen) {
      int prefix = !m->binary;
      uint8_t hdr[14];
      size_t h = sio_ws_frame_header(hdr, m->binary ? SIO_WS_OP_BINARY : SIO_WS_OP_TEXT, 1,
                                     m->len + (size_t)prefix, NULL);
      char *start = m->data - prefix - h;
      memcpy(start, hdr, h);
      if (prefix) start[h] = '4';
      m->v4_hlen = (uint8_t)(h + (size_t)prefix);
    }
    out->rb = m->store;
    out->p = m->data - m->v4_hlen;
    out->len = m->v4_hlen + m->len;
    return 0;
  }
  if (!m->frame[slot]) {
    sio_sbuf_t payload = SIO_SBUF_INIT;
    const char *p = m->data;
    size_t plen = m->len;
    int prefix = 1;
    if (slot == 2) {
      if (sio_sbuf_append(&payload, "b4", 2) || sio_base64_encode(&payload, m->data, m->len)) {
        sio_sbuf_free(&payload);
        return SIO_ENOMEM;
      }
      p = payload.data;
      plen = payload.len;
      prefix = 0;
    }
    uint8_t hdr[14];
    int opcode = slot == 1 ? SIO_WS_OP_BINARY : SIO_WS_OP_TEXT;
    size_t h = sio_ws_frame_header(hdr, opcode, 1, plen + (size_t)prefix, NULL);
    sio_rbuf_t *rb = sio_rbuf_new(h + (size_t)prefix + plen);
    if (rb) {
      memcpy(rb->data, hdr, h);
      if (prefix) rb->data[h] = 4;
      memcpy(rb->data + h + prefix, p, plen);
    }
    sio_sbuf_free(&payload);
    if (!rb) return SIO_ENOMEM;
    m->frame[slot] = rb;
  }
  out->rb = m->frame[slot];
  out->p = m->frame[slot]->data;
  out->len = m->frame[slot]->len;
  return 0;
}

/* The same, inline for a broadcast's recipients after the first: a v4 frame already built. */
static inline int msg_frame(sio_msg_t *m, int protocol, int b64, frame_view_t *out) {
  if (m->v4_hlen && msg_slot(m, protocol, b64) == 0) {
    out->rb = m->store;
    out->p = m->data - m->v4_hlen;
    out->len = m->v4_hlen + m->len;
    return 0;
  }
  return msg_frame_build(m, protocol, b64, out);
}

#define ZBITS_FAILED 0xff

/* permessage-deflate: the compressed form of a MESSAGE frame f (built by msg_frame for `slot`) for
 * a client whose server_max_window_bits is `bits`. Payloads under the threshold, and messages sent
 * with compress(false), stay as they are. The compressed frame is made once and kept on the
 * message: every recipient of a broadcast shares it, since no context is taken over from one
 * message to the next (the server always negotiates server_no_context_takeover) and a frame
 * made with a small window suits any client allowing that window or a larger one. When
 * compression fails, the frame goes plain (RFC 7692 lets any message be sent uncompressed).
 * Returns 1 when f holds a frame made for this client alone, whose reference the caller drops. */
static int msg_deflate(sio_engine_t *e, sio_msg_t *m, int slot, int bits, frame_view_t *f) {
  size_t hlen = (f->p[1] & 0x7f) == 127 ? 10 : (f->p[1] & 0x7f) == 126 ? 4 : 2;
  size_t plen = f->len - hlen;
  uint32_t threshold = e->opts.deflate_threshold ? e->opts.deflate_threshold : 1024;
  if (m->no_compress || plen < threshold || m->zbits[slot] == ZBITS_FAILED) return 0;
  int own = 0, used = 0;
  sio_rbuf_t *rb = m->zframe[slot];
  if (!rb || m->zbits[slot] > bits) {
    rb = sio_ws_deflate_frame(sio_server_zlib(e->server), bits, f->p[0] & 0x0f, f->p + hlen, plen,
                              &used);
    if (!rb) {
      m->zbits[slot] = ZBITS_FAILED;
      return 0;
    }
    if (m->zframe[slot]) {
      own = 1; /* a client allowing a smaller window than the kept frame's: not kept */
    } else {
      m->zframe[slot] = rb;
      m->zbits[slot] = (uint8_t)used;
    }
  }
  f->rb = rb;
  f->p = rb->data;
  f->len = rb->len;
  return own;
}

static sio_rbuf_t *make_text_frame(const char *text) {
  size_t len = strlen(text);
  uint8_t hdr[14];
  size_t h = sio_ws_frame_header(hdr, SIO_WS_OP_TEXT, 1, len, NULL);
  sio_rbuf_t *rb = sio_rbuf_new(h + len);
  if (!rb) return NULL;
  memcpy(rb->data, hdr, h);
  memcpy(rb->data + h, text, len);
  return rb;
}

/* ---------------------------------------------------------------------------------------------- */
/* Options, accessors                                                                              */

void sio_engine_options_init(sio_engine_options_t *o) {
  memset(o, 0, sizeof *o);
  o->size = sizeof *o;
  o->path = "/engine.io/";
  o->ping_interval_ms = 25000;
  o->ping_timeout_ms = 20000;
  o->upgrade_timeout_ms = 10000;
  o->max_payload = 1000000;
  o->transports = SIO_TRANSPORT_POLLING | SIO_TRANSPORT_WEBSOCKET;
  o->allow_upgrades = 1;
  o->cookie.path = "/";
  o->cookie.same_site = "Lax";
  o->cookie.http_only = 1;
}

void *sio_engine_get_data(const sio_engine_t *e) { return e->data; }
void sio_engine_set_data(sio_engine_t *e, void *data) { e->data = data; }
sio_server_t *sio_engine_server(const sio_engine_t *e) { return e->server; }
size_t sio_engine_session_count(const sio_engine_t *e) { return e->count; }
const char *sio_session_id(const sio_session_t *s) { return s->id; }
int sio_session_protocol(const sio_session_t *s) { return s->protocol; }
int sio_session_transport(const sio_session_t *s) { return s->transport; }
sio_engine_t *sio_session_engine(const sio_session_t *s) { return s->engine; }
void *sio_session_get_data(const sio_session_t *s) { return s->data; }
int sio__session_has_poll_part(const sio_session_t *s) { return s->poll != NULL; }
void sio_session_set_data(sio_session_t *s, void *data) { s->data = data; }
/* Header names a session's info_block keeps as one byte, their index here (1..KNOWN_LIMIT-1),
 * instead of the name: every session keeps its handshake for life, and these names (as the
 * parser gives them, lower-cased) are most of a WebSocket handshake's bytes besides the values.
 * No header name starts with a byte below 0x20 (names are tokens), so a code cannot be mistaken
 * for the first byte of a name. */
enum { KNOWN_LIMIT = 0x20 };
static const char *const known_names[] = {
    NULL,              "host",          "upgrade",       "connection",      "sec-websocket-key",
    "sec-websocket-version", "sec-websocket-extensions", "sec-websocket-protocol", "user-agent",
    "origin",          "accept",        "accept-encoding", "accept-language", "cookie",
    "cache-control",   "pragma",        "referer",       "content-type",    "content-length",
    "x-forwarded-for", "x-forwarded-proto", "x-real-ip", "authorization",   "sec-fetch-mode",
    "sec-fetch-site",  "sec-fetch-dest", "dnt"};
_Static_assert(sizeof known_names / sizeof known_names[0] <= KNOWN_LIMIT, "codes stay below 0x20");
_Static_assert(4 <= KNOWN_LIMIT, "prefix codes stay below 0x20 too");

/* The method and the URL's start kept as a one-byte code in a session's info_block when they are
 * these (the default paths of Socket.IO and Engine.IO): issue 22, 12 bytes of a usual session.
 * Codes stay below 0x20, which no method or request target starts with (info_init makes sure). */
enum { PFX_GET = 1 };
static const char *const known_prefixes[] = {NULL, "GET", "/socket.io/", "/engine.io/"};

/* The code of what starts s[0..len) (the whole of it for the method), 0 for none. */
static int known_prefix(const char *str, size_t len, int method) {
  if (method) return len == 3 && memcmp(str, "GET", 3) == 0 ? PFX_GET : 0;
  for (int i = PFX_GET + 1; i < (int)(sizeof known_prefixes / sizeof known_prefixes[0]); i++) {
    size_t n = strlen(known_prefixes[i]);
    if (len >= n && memcmp(str, known_prefixes[i], n) == 0) return i;
  }
  return 0;
}

/* The code of a known header name, 0 for any other. */
static int known_name(const char *name, size_t len) {
  for (size_t i = 1; i < sizeof known_names / sizeof known_names[0]; i++)
    if (strlen(known_names[i]) == len && memcmp(known_names[i], name, len) == 0) return (int)i;
  return 0;
}

const sio_request_info_t *sio_session_request(const sio_session_t *cs) {
  sio_session_t *s = (sio_session_t *)cs; /* the view is a cache: logically const */
  if (s->info) return s->info;
  size_t n = s->info_headers;
  const char *p = s->info_block;
  const char *url = p + strlen(p) + 1;
  /* A URL whose start is a code (info_init) is written out whole behind the pointers. */
  unsigned char ucode = (unsigned char)url[0] < KNOWN_LIMIT ? (unsigned char)url[0] : 0;
  size_t ulen = ucode ? strlen(known_prefixes[ucode]) + strlen(url + 1) + 1 : 0;
  sio_request_info_t *info = malloc(sizeof *info + 2 * n * sizeof(char *) + ulen);
  if (!info) return NULL;
  const char **names = (const char **)(info + 1);
  const char **values = names + n;
  info->method = (unsigned char)p[0] == PFX_GET ? known_prefixes[PFX_GET] : p;
  if (ucode) {
    char *whole = (char *)(values + n);
    size_t k = strlen(known_prefixes[ucode]);
    memcpy(whole, known_prefixes[ucode], k);
    memcpy(whole + k, url + 1, ulen - k);
    info->url = whole;
  } else {
    info->url = url;
  }
  p = url + strlen(url) + 1;
  info->remote_addr = p;
  p += strlen(p) + 1;
  for (size_t i = 0; i < n; i++) {
    if ((unsigned char)*p < KNOWN_LIMIT) { /* a known name's code (info_init) */
      names[i] = known_names[(unsigned char)*p];
      p++;
    } else {
      names[i] = p;
      p += strlen(p) + 1;
    }
    values[i] = p;
    p += strlen(p) + 1;
  }
  const char *q = strchr(info->url, '?');
  info->query = q ? q + 1 : "";
  info->secure = s->secure;
  info->time_ms = s->info_time_ms;
  info->header_count = n;
  info->header_names = names;
  info->header_values = values;
  s->info = info;
  return info;
}

const char *sio_request_header(const sio_request_info_t *req, const char *name) {
  for (size_t i = 0; i < req->header_count; i++)
    if (strcmp(req->header_names[i], name) == 0) return req->header_values[i];
  return NULL;
}

int sio_request_query(const sio_request_info_t *req, const char *key, char *out, size_t outsz) {
  sio__error_clear();
  long n = sio_http_query_get(req->query, strlen(req->query), key, out, outsz, NULL);
  return n < 0 ? SIO_ENOTFOUND : (int)n;
}

/* ---------------------------------------------------------------------------------------------- */
/* The session table                                                                               */

static size_t hash_id(const char *id) {
  size_t h = 1469598103934665603ULL;
  for (int i = 0; i < 20; i++) h = (h ^ (unsigned char)id[i]) * 1099511628211ULL;
  return h;
}

static int table_grow(sio_engine_t *e) {
  size_t n = e->nbuckets ? e->nbuckets * 2 : 64;
  sio_session_t **b = calloc(n, sizeof *b);
  if (!b) return SIO_ENOMEM;
  for (size_t i = 0; i < e->nbuckets; i++) {
    sio_session_t *s = e->buckets[i];
    while (s) {
      sio_session_t *next = s->hnext;
      size_t k = hash_id(s->id) & (n - 1);
      s->hnext = b[k];
      b[k] = s;
      s = next;
    }
  }
  free(e->buckets);
  e->buckets = b;
  e->nbuckets = n;
  return 0;
}

sio_session_t *sio_engine_find(const sio_engine_t *e, const char *sid) {
  if (!e->nbuckets || strlen(sid) != 20) return NULL;
  sio_session_t *s = e->buckets[hash_id(sid) & (e->nbuckets - 1)];
  while (s && memcmp(s->id, sid, 20) != 0) s = s->hnext;
  return s;
}

static int table_add(sio_engine_t *e, sio_session_t *s) {
  /* Up to two sessions a bucket (chains of ~1.5 on average): 4-8 bytes a session instead of 8-16
   * (issue 22); a lookup (a poll, an upgrade) compares an id or two more. */
  if (e->count + 1 > 2 * e->nbuckets && table_grow(e) != 0) return SIO_ENOMEM;
  size_t k = hash_id(s->id) & (e->nbuckets - 1);
  s->hnext = e->buckets[k];
  e->buckets[k] = s;
  e->count++;
  return 0;
}

static void table_remove(sio_engine_t *e, sio_session_t *s) {
  sio_session_t **pp = &e->buckets[hash_id(s->id) & (e->nbuckets - 1)];
  while (*pp && *pp != s) pp = &(*pp)->hnext;
  if (*pp) {
    *pp = s->hnext;
    e->count--;
  }
}

void sio__engine_random_id(sio_engine_t *e, char out[21]) {
  static const char alphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  if (e->rand_left < 20) {
    /* The kernel's CSPRNG (getrandom) through libuv rather than OpenSSL's RAND_bytes, whose first
     * call initialises libcrypto (about 2.5 MB of RSS) in a server that may not use TLS at all. */
    if (uv_random(NULL, NULL, e->rand_pool, sizeof e->rand_pool, 0, NULL) != 0) abort(); /* no CSPRNG: no ids */
    e->rand_left = sizeof e->rand_pool;
  }
  const unsigned char *r = e->rand_pool + sizeof e->rand_pool - e->rand_left;
  for (int i = 0; i < 20; i++) out[i] = alphabet[r[i] & 63];
  e->rand_left -= 20;
  out[20] = '\0';
}

/* With workers, the first character names this worker (workers.h); the other 19 stay random. */
static void new_id(sio_engine_t *e, char out[21]) {
  unsigned index;
  int named = sio__server_workers(e->server, &index, NULL) != NULL;
  do {
    sio__engine_random_id(e, out);
    if (named) out[0] = sio__sid_alphabet[index & 63];
  } while (sio_engine_find(e, out));
}

/* ---------------------------------------------------------------------------------------------- */
/* Responses                                                                                       */

/* 1 when the comma-separated list holds `origin` exactly (blanks around each entry ignored). */
static int origin_listed(const char *list, const char *origin, size_t olen) {
  while (*list) {
    const char *end = strchr(list, ',');
    size_t n = end ? (size_t)(end - list) : strlen(list);
    while (n && *list == ' ') list++, n--;
    while (n && list[n - 1] == ' ') n--;
    if (n == olen && memcmp(list, origin, n) == 0) return 1;
    if (!end) break;
    list = end + 1;
  }
  return 0;
}

/* 1 when `origin` is "http://" or "https://" followed by exactly the host `host` names. Over TLS
 * only "https://": a page served in the clear is another origin, even from the same host. */
static int origin_is_host(const char *origin, size_t olen, const char *host, size_t hlen, int tls) {
  size_t scheme = !tls && olen > 7 && strncasecmp(origin, "http://", 7) == 0 ? 7
                  : olen > 8 && strncasecmp(origin, "https://", 8) == 0       ? 8
                                                                              : 0;
  return scheme && hlen && olen - scheme == hlen && strncasecmp(origin + scheme, host, hlen) == 0;
}

/* Same origin: the page came from this server, as the browser reached it (Host), or as a proxy in
 * front says it was reached (the first X-Forwarded-Host). */
static int same_origin(const sio_http_request_t *req, const sio_http_header_t *origin, int tls) {
  const sio_http_header_t *host = sio_http_find_header(req, "host");
  if (host && origin_is_host(origin->value, origin->value_len, host->value, host->value_len, tls)) return 1;
  const sio_http_header_t *fwd = sio_http_find_header(req, "x-forwarded-host");
  if (!fwd) return 0;
  size_t n = 0;
  while (n < fwd->value_len && fwd->value[n] != ',') n++;
  while (n && fwd->value[n - 1] == ' ') n--;
  return origin_is_host(origin->value, origin->value_len, fwd->value, n, tls);
}

/* Whether a request may reach the engine, by its Origin (see sio_engine_options_t.cors_origin). */
static int origin_allowed(const sio_engine_t *e, const sio_conn_t *c, const sio_http_request_t *req) {
  const sio_http_header_t *origin = sio_http_find_header(req, "origin");
  if (!origin) return 1; /* not a browser */
  if (e->origin_cb) return e->origin_cb(origin->value, e->origin_arg) != 0;
  if (e->cors_origin)
    return strcmp(e->cors_origin, "*") == 0 ||
           origin_listed(e->cors_origin, origin->value, origin->value_len);
  return !e->opts.same_origin || same_origin(req, origin, sio_conn_secure(c));
}

/* Appends the CORS lines for a request to b (none when CORS is off). */
static void cors_lines(sio_engine_t *e, const sio_http_request_t *req, int preflight, sio_sbuf_t *b) {
  if (!e->cors_origin && !e->origin_cb) return;
  const sio_http_header_t *origin = sio_http_find_header(req, "origin");
  const char *allow = NULL;
  int vary = 0;
  if (e->origin_cb) {
    if (origin && e->origin_cb(origin->value, e->origin_arg)) allow = origin->value;
    vary = 1;
  } else if (strcmp(e->cors_origin, "*") == 0) {
    if (origin && e->opts.cors_credentials) {
      allow = origin->value;
      vary = 1;
    } else {
      allow = "*";
    }
  } else if (origin) {
    if (origin_listed(e->cors_origin, origin->value, origin->value_len)) allow = origin->value;
    vary = 1;
  }
  if (allow) {
    sio_sbuf_append_str(b, "Access-Control-Allow-Origin: ");
    sio_sbuf_append_str(b, allow);
    sio_sbuf_append_str(b, "\r\n");
    if (e->opts.cors_credentials) sio_sbuf_append_str(b, "Access-Control-Allow-Credentials: true\r\n");
  }
  if (vary) sio_sbuf_append_str(b, "Vary: Origin\r\n");
  if (preflight && allow) {
    sio_sbuf_append_str(b, "Access-Control-Allow-Methods: GET,HEAD,PUT,PATCH,POST,DELETE\r\n");
    const sio_http_header_t *rh = sio_http_find_header(req, "access-control-request-headers");
    if (rh) {
      sio_sbuf_append_str(b, "Access-Control-Allow-Headers: ");
      sio_sbuf_append(b, rh->value, rh->value_len);
      sio_sbuf_append_str(b, "\r\n");
      sio_sbuf_append_str(b, "Vary: Access-Control-Request-Headers\r\n");
    }
  }
}

enum { HOOKS_NONE = 0, HOOKS_ALL = 1, HOOKS_INITIAL = 2 /* then ALL too */ };
static void hook_lines(sio_engine_t *e, sio_conn_t *c, const sio_http_request_t *req, int hooks,
                       sio_sbuf_t *b);

/* The extra header lines of a response: CORS, the session cookie when `opened` is the session
 * this response opens, and the application's (`hooks`: HOOKS_*). NULL when there are none; the
 * caller frees. */
static char *extra_headers(sio_engine_t *e, sio_conn_t *c, const sio_http_request_t *req,
                           int preflight, const sio_session_t *opened, int hooks) {
  sio_sbuf_t b = SIO_SBUF_INIT;
  cors_lines(e, req, preflight, &b);
  if (opened && e->cookie_head) {
    sio_sbuf_append_str(&b, e->cookie_head);
    sio_sbuf_append_str(&b, opened->id);
    sio_sbuf_append_str(&b, e->cookie_tail);
  }
  if (hooks && (e->headers_cb[0] || e->headers_cb[1])) hook_lines(e, c, req, hooks, &b);
  if (b.len == 0 || sio_sbuf_append_char(&b, '\0') != 0) {
    sio_sbuf_free(&b);
    return NULL;
  }
  return sio_sbuf_steal(&b, NULL);
}

static char *cors_headers(sio_engine_t *e, const sio_http_request_t *req, int preflight) {
  return extra_headers(e, NULL, req, preflight, NULL, HOOKS_NONE);
}

static void report_error(sio_engine_t *e, sio_conn_t *c, const sio_http_request_t *req, int code,
                         int status, const char *context);

/* {"code":N,"message":"..."}: the code's message, or `context` escaped as JSON. 0 or SIO_ENOMEM. */
static int refusal_body(sio_sbuf_t *b, int code, const char *context) {
  cJSON *msg = cJSON_CreateString(context ? context : error_messages[code]);
  sio_sbuf_append_str(b, "{\"code\":");
  sio_sbuf_append_u64(b, (uint64_t)code);
  sio_sbuf_append_str(b, ",\"message\":");
  int r = msg ? sio_json_write(b, msg, 1) : SIO_ENOMEM;
  cJSON_Delete(msg);
  return r ? r : sio_sbuf_append_char(b, '}');
}

/* Every refusal of the engine goes through here: reported (connection_error), then answered as
 * the reference's abortRequest: `status` with {"code":N,"message":"..."}, the message being the
 * code's own or the application's (`context`, allow_request's refusal). */
static void refuse(sio_engine_t *e, sio_conn_t *c, const sio_http_request_t *req, int code,
                   int status, const char *context) {
  SIO_LOG(e->server, SIO_LOG_DEBUG, "engine", "%d %s: %s %s", status, error_messages[code],
          req->method, req->url);
  e->st.refused[code]++;
  if (e->error_cb) report_error(e, c, req, code, status, context);
  char *cors = cors_headers(e, req, 0);
  sio_sbuf_t body = SIO_SBUF_INIT;
  if (refusal_body(&body, code, context) == 0)
    sio_conn_respond(c, status, "application/json", cors, body.data, body.len);
  else
    sio_conn_close(c, 0);
  sio_sbuf_free(&body);
  free(cors);
}

static void respond_error(sio_engine_t *e, sio_conn_t *c, const sio_http_request_t *req, int code) {
  refuse(e, c, req, code, code == ERR_FORBIDDEN ? 403 : 400, NULL);
}

/* ---------------------------------------------------------------------------------------------- */
/* Sessions                                                                                        */

/* The session's poll part, allocated on first use; NULL on ENOMEM. */
static poll_part_t *poll_part(sio_session_t *s) {
  if (!s->poll) s->poll = calloc(1, sizeof *s->poll);
  return s->poll;
}

/* Its upgrade timer, if any, stopped first (stop_upgrade_timer). */
static void poll_part_free(sio_session_t *s) {
  if (!s->poll) return;
  free(s->poll->headers);
  free(s->poll);
  s->poll = NULL;
}

/* The parked GET's CORS lines, now the caller's (NULL when none). */
static char *take_poll_headers(sio_session_t *s) {
  if (!s->poll) return NULL;
  char *h = s->poll->headers;
  s->poll->headers = NULL;
  return h;
}

static void session_free(sio_session_t *s) {
  for (uint32_t i = 0; i < s->outq_len; i++) sio_msg_unref(s->outq[i].msg);
  free(s->outq);
  poll_part_free(s);
  free(s->info);
  free(s);
}

static void upgrade_timer_free(uv_handle_t *h) { free(h); }

static void stop_upgrade_timer(sio_session_t *s) {
  if (!s->poll || !s->poll->upgrade_timer) return;
  uv_close((uv_handle_t *)s->poll->upgrade_timer, upgrade_timer_free);
  s->poll->upgrade_timer = NULL;
}

static void mark_dirty(sio_session_t *s) {
  if (s->dirty) return;
  s->dirty = 1;
  s->dnext = s->engine->dirty;
  s->engine->dirty = s;
  sio_server_wake(s->engine->server);
}

static void probe_abort(sio_session_t *s);

/* ---- timer queues ---- */

static int tq_index(int kind) {
  return kind == TQ_PING_DUE ? 0 : kind == TQ_V3_PING_WAIT ? 2 : 1;
}

static uint64_t tq_delay(const sio_engine_t *e, int kind) {
  if (kind == TQ_PING_DUE) return e->opts.ping_interval_ms;
  if (kind == TQ_V3_PING_WAIT) return (uint64_t)e->opts.ping_interval_ms + e->opts.ping_timeout_ms;
  return e->opts.ping_timeout_ms;
}

static void tq_remove(sio_engine_t *e, sio_session_t *s) {
  if (s->tkind == TQ_NONE) return;
  int q = tq_index(s->tkind);
  if (s->tprev) s->tprev->tnext = s->tnext;
  else e->tq[q].head = s->tnext;
  if (s->tnext) s->tnext->tprev = s->tprev;
  else e->tq[q].tail = s->tprev;
  s->tnext = s->tprev = NULL;
  s->tkind = TQ_NONE;
}

static void on_hb_timer(uv_timer_t *t);

static void hb_arm(sio_engine_t *e, uint64_t deadline, uint64_t now) {
  e->hb_armed = deadline;
  uv_timer_start(e->hb_timer, on_hb_timer, deadline > now ? deadline - now : 0, 0);
}

/* Puts s in the queue of `kind`, its deadline `kind`'s delay from `from` (0: now). Never before
 * the queue's last deadline: each queue is a FIFO kept in deadline order. */
static void tq_add_from(sio_engine_t *e, sio_session_t *s, int kind, uint64_t from) {
  tq_remove(e, s);
  if (!e->hb_timer) return; /* shutting down */
  uint64_t now = uv_now(e->hb_timer->loop);
  int q = tq_index(kind);
  s->tkind = (uint8_t)kind;
  s->deadline = (from ? from : now) + tq_delay(e, kind);
  if (e->tq[q].tail && s->deadline < e->tq[q].tail->deadline) s->deadline = e->tq[q].tail->deadline;
  s->tprev = e->tq[q].tail;
  s->tnext = NULL;
  if (e->tq[q].tail) e->tq[q].tail->tnext = s;
  else e->tq[q].head = s;
  e->tq[q].tail = s;
  if (!e->hb_armed || s->deadline < e->hb_armed) hb_arm(e, s->deadline, now);
}

static void tq_add(sio_engine_t *e, sio_session_t *s, int kind) { tq_add_from(e, s, kind, 0); }

static void tq_fire(sio_session_t *s, int kind);

static void on_hb_timer(uv_timer_t *t) {
  sio_engine_t *e = t->data;
  uint64_t now = uv_now(t->loop);
  e->hb_armed = 0;
  for (int q = 0; q < 3; q++) {
    while (e->tq[q].head && e->tq[q].head->deadline <= now) {
      sio_session_t *s = e->tq[q].head;
      int kind = s->tkind;
      tq_remove(e, s);
      tq_fire(s, kind);
    }
  }
  uint64_t next = 0;
  for (int q = 0; q < 3; q++)
    if (e->tq[q].head && (!next || e->tq[q].head->deadline < next)) next = e->tq[q].head->deadline;
  if (next) hb_arm(e, next, now);
  else uv_timer_stop(t);
}

static void free_dead(sio_engine_t *e) {
  while (e->dead) {
    sio_session_t *s = e->dead;
    e->dead = s->hnext;
    session_free(s);
  }
}

/* Removes the session for good: the table, its connections, its timers. */
static void session_finalize(sio_session_t *s) {
  sio_engine_t *e = s->engine;
  if (!e) return; /* already finalized */
  table_remove(e, s);
  if (s->dirty) {
    sio_session_t **pp = &e->dirty;
    while (*pp && *pp != s) pp = &(*pp)->dnext;
    if (*pp) *pp = s->dnext;
    s->dirty = 0;
  }
  s->state = ST_CLOSED;
  probe_abort(s);
  tq_remove(e, s);
  s->engine = NULL;
  /* Freed later: callers up the stack may still look at s (its engine is NULL now). */
  s->hnext = e->dead;
  e->dead = s;
  sio_server_wake(e->server);
}

static int outq_push(sio_session_t *s, int type, sio_msg_t *msg) {
  if (s->outq_len == s->outq_cap) {
    uint32_t cap = s->outq_cap ? s->outq_cap * 2 : 4;
    outpkt_t *q = realloc(s->outq, cap * sizeof *q);
    if (!q) return SIO_ENOMEM;
    s->outq = q;
    s->outq_cap = cap;
  }
  s->outq[s->outq_len++] = (outpkt_t){(uint8_t)type, msg ? sio_msg_ref(msg) : NULL};
  s->outq_bytes += 1 + (msg ? msg->len : 0);
  if (s->conn) mark_dirty(s);
  return 0;
}

static void outq_clear(sio_session_t *s) {
  for (uint32_t i = 0; i < s->outq_len; i++) sio_msg_unref(s->outq[i].msg);
  s->outq_len = 0;
  s->outq_bytes = 0;
  if (s->outq_cap > 16) {
    free(s->outq);
    s->outq = NULL;
    s->outq_cap = 0;
  }
}

/* The body of a JSONP session's poll: the payload as a script. NULL: ENOMEM. */
static sio_rbuf_t *jsonp_body(const sio_session_t *s, const char *payload, size_t len) {
  sio_sbuf_t js = SIO_SBUF_INIT;
  sio_rbuf_t *rb = NULL;
  uint32_t index = s->poll ? s->poll->jsonp_index : 0;
  if (sio_eio_jsonp_wrap(&js, index, payload, len) == 0) rb = sio_rbuf_copy(js.data, js.len);
  sio_sbuf_free(&js);
  return rb;
}

/* The body compressed when the request accepts it and it is worth it (as the reference: at or
 * past the threshold), with `*headers` then a new string the caller frees; NULL otherwise (no
 * memory to compress in included: the body goes out as it is). */
static sio_rbuf_t *compressed_body(sio_engine_t *e, int enc, const sio_rbuf_t *plain,
                                   const char *extra, char **headers) {
  if (!enc || plain->len < e->compress_threshold) return NULL;
  if (!e->compressor && !(e->compressor = sio_http_compressor_new())) return NULL;
  sio_rbuf_t *z = sio_http_compress(e->compressor, enc, plain->data, plain->len);
  if (!z) return NULL;
  sio_sbuf_t h = SIO_SBUF_INIT;
  if ((extra && sio_sbuf_append_str(&h, extra)) || sio_sbuf_append_str(&h, "Content-Encoding: ") ||
      sio_sbuf_append_str(&h, sio_http_encoding_name(enc)) ||
      sio_sbuf_append_str(&h, "\r\nVary: Accept-Encoding\r\n") || sio_sbuf_append_char(&h, '\0')) {
    sio_sbuf_free(&h);
    sio_rbuf_unref(z);
    return NULL;
  }
  *headers = sio_sbuf_steal(&h, NULL);
  return z;
}

/* Answers the parked GET `c` with a payload: wrapped in a script for JSONP, compressed when the
 * client accepts it (as the reference, both: its JSONP writes through the polling transport's
 * compressing write). `extra` (borrowed) holds the CORS lines. */
static void poll_respond(sio_session_t *s, sio_conn_t *c, const char *extra, const char *payload,
                         size_t len, const char *content_type) {
  sio_rbuf_t *rb;
  if (s->jsonp) {
    rb = jsonp_body(s, payload, len);
    content_type = "text/javascript; charset=UTF-8";
  } else {
    rb = sio_rbuf_copy(payload, len);
  }
  int enc = s->http_enc;
  s->http_enc = SIO_HTTP_ENC_NONE; /* the next GET says what it accepts */
  if (!rb) {
    sio_conn_close(c, 0);
    return;
  }
  char *zheaders = NULL;
  sio_rbuf_t *z = compressed_body(s->engine, enc, rb, extra, &zheaders);
  if (z) {
    sio_rbuf_unref(rb);
    rb = z;
  }
  sio_conn_respond_rb(c, 200, content_type, z ? zheaders : extra, rb);
  free(zheaders);
}

/* Answers the parked GET with everything queued. */
static void poll_flush(sio_session_t *s) {
  sio_conn_t *c = s->conn;
  if (!c || s->transport != SIO_TRANSPORT_POLLING || s->outq_len == 0) return;
  int any_binary = 0, all_no_compress = 1;
  for (uint32_t i = 0; i < s->outq_len; i++) {
    const outpkt_t *o = &s->outq[i];
    if (o->msg && o->msg->binary && o->type == SIO_EIO_MESSAGE) any_binary = 1;
    /* As the reference: a payload is compressed unless every packet in it said compress(false)
     * (its pings and other packets without options count as compressible). */
    if (!o->msg || !o->msg->no_compress) all_no_compress = 0;
  }
  if (all_no_compress) s->http_enc = SIO_HTTP_ENC_NONE;
  sio_sbuf_t body = SIO_SBUF_INIT;
  sio_eio_payload_enc_t enc;
  sio_eio_payload_begin(&enc, &body, s->protocol, !s->b64, any_binary);
  /* A CLOSE behind other packets waits for the next poll, as the reference's drain does: clients
   * that handle messages on a later tick (socket.io-client 4) would see the close first and lose
   * the reason a DISCONNECT just before it gives. */
  uint32_t n = s->outq_len;
  int hold_close = n > 1 && s->outq[n - 1].type == SIO_EIO_CLOSE;
  if (hold_close) n--;
  int r = 0, ends = 0;
  for (uint32_t i = 0; i < n && r == 0; i++) {
    outpkt_t *o = &s->outq[i];
    sio_eio_packet_t pkt = {o->type, o->msg && o->type == SIO_EIO_MESSAGE ? o->msg->binary : 0,
                            o->msg ? o->msg->data : "", o->msg ? o->msg->len : 0};
    r = sio_eio_payload_add(&enc, &pkt);
    if (o->type == SIO_EIO_CLOSE) ends = 1;
  }
  /* A closing session's queue without a CLOSE is the NOOP kept for a client's late poll. */
  if (s->state == ST_CLOSING && !hold_close) ends = 1;
  if (hold_close) {
    for (uint32_t i = 0; i < n; i++) sio_msg_unref(s->outq[i].msg);
    s->outq[0] = s->outq[n];
    s->outq_len = 1;
    s->outq_bytes = 1;
    /* Lingers for the poll that collects the CLOSE (unless the server is shutting down). */
    tq_add(s->engine, s, TQ_LINGER);
  } else {
    outq_clear(s);
  }
  s->conn = NULL;
  char *headers = take_poll_headers(s);
  if (s->engine) s->engine->st.bytes_out[0] += body.len;
  if (r == 0) poll_respond(s, c, headers, body.data, body.len, sio_eio_payload_content_type(&enc));
  else sio_conn_close(c, 0);
  free(headers);
  sio_sbuf_free(&body);
  if (ends) session_finalize(s);
}

static int ws_send_frame(sio_session_t *s, sio_conn_t *c, sio_rbuf_t *rb) {
  return rb ? sio_conn_write_rb(c, rb, rb->data, rb->len) : SIO_ENOMEM;
}

enum { CLOSE_ERROR = 0, CLOSE_BY_CLIENT = 1, CLOSE_FORCED = 2 };
static void session_close(sio_session_t *s, const char *reason, int how);


static const char *eio_type_name(int type) {
  static const char *const names[] = {"open", "close", "ping", "pong", "message", "upgrade", "noop"};
  return type >= 0 && type <= SIO_EIO_NOOP ? names[type] : "?";
}

/* The engine's debug line for a packet (category engine). */
static void debug_packet(const sio_session_t *s, const char *dir, int type, size_t len, int binary) {
  sio__debug(s->engine->server, SIO_DEBUG_ENGINE, "session %s %s: %s (%zu bytes%s, %s)", s->id, dir,
             eio_type_name(type), len, binary ? ", binary" : "",
             s->transport == SIO_TRANSPORT_WEBSOCKET ? "websocket" : "polling");
}

/* A WebSocket session's room for one more packet of `len` bytes: 0, or past max_buffered the
 * session is closed (SIO_ECLOSED). Counts the packet (metrics) when it goes. */
static inline int ws_admit(sio_session_t *s, size_t len) {
  sio_engine_t *e = s->engine;
  if (!s->conn) return SIO_ECLOSED;
  if (sio_conn_buffered(s->conn) > e->opts.max_buffered) {
    e->st.max_buffered_closes++;
    session_close(s, "transport error", 0);
    return SIO_ECLOSED;
  }
  e->st.packets_out[1]++;
  e->st.bytes_out[1] += 1 + len;
  return 0;
}

static inline int ws_send_message(sio_session_t *s, sio_msg_t *msg);

/* Queues a packet on the current transport. Past max_buffered the session is closed. */
static int session_send(sio_session_t *s, int type, sio_msg_t *msg) {
  sio_engine_t *e = s->engine;
  if (SIO_DEBUG_ON(e->server, SIO_DEBUG_ENGINE))
    debug_packet(s, "out", type, msg ? msg->len : 0, msg && msg->binary);
  if (s->transport == SIO_TRANSPORT_WEBSOCKET) {
    if (type == SIO_EIO_MESSAGE) return ws_send_message(s, msg);
    int r = ws_admit(s, msg ? msg->len : 0);
    if (r) return r;
    if (!msg) {
      ws_send_frame(s, s->conn, e->ctl[type]);
    } else {
      /* A control packet with data (OPEN's JSON, a v3 pong's echo): built for this socket only. */
      uint8_t hdr[14];
      size_t h = sio_ws_frame_header(hdr, SIO_WS_OP_TEXT, 1, msg->len + 1, NULL);
      sio_rbuf_t *rb = sio_rbuf_new(h + 1 + msg->len);
      if (!rb) return SIO_ENOMEM;
      memcpy(rb->data, hdr, h);
      rb->data[h] = (char)('0' + type);
      memcpy(rb->data + h + 1, msg->data, msg->len);
      ws_send_frame(s, s->conn, rb);
      sio_rbuf_unref(rb);
    }
    return 0;
  }
  if (s->outq_bytes > e->opts.max_buffered) {
    e->st.max_buffered_closes++;
    session_close(s, "transport error", 0);
    return SIO_ECLOSED;
  }
  e->st.packets_out[0]++;
  return outq_push(s, type, msg);
}

static void engine_report_close(sio_session_t *s, const char *reason) {
  sio_engine_t *e = s->engine;
  SIO_LOG(e->server, SIO_LOG_INFO, "engine", "session %s closed: %s", s->id, reason);
  SIO_DEBUG(e->server, SIO_DEBUG_ENGINE, "session %s closed: %s", s->id, reason);
  if (e->cbs.on_close) e->cbs.on_close(s, reason);
}

/* Ends the session. A client's CLOSE answers a pending poll with a NOOP; a server-side close sends
 * CLOSE (polling: after what is queued, on the pending or next poll; WebSocket: a close frame). */
/* 1 when requests may reach this engine through another worker (sio__conn_handoff). */
static int handed_over(const sio_engine_t *e) {
  sio_workers_t *g = sio__server_workers(e->server, NULL, NULL);
  return g && sio_workers_count(g) > 1;
}

static void session_close(sio_session_t *s, const char *reason, int how) {
  if (s->state != ST_OPEN) return;
  s->state = ST_CLOSING;
  tq_remove(s->engine, s);
  probe_abort(s);
  engine_report_close(s, reason);
  if (s->state == ST_CLOSED) return;
  sio_engine_t *e = s->engine;
  if (s->transport == SIO_TRANSPORT_WEBSOCKET) {
    sio_conn_t *c = s->conn;
    s->conn = NULL;
    if (c) {
      sio_conn_detach(c);
      uint8_t frame[127];
      size_t n = sio_ws_close_frame(frame, 0, NULL);
      sio_conn_write_copy(c, frame, n);
      sio_conn_close(c, 1);
    }
    session_finalize(s);
    return;
  }
  if (how == CLOSE_BY_CLIENT) {
    /* The client said goodbye: a pending poll just ends (with a NOOP) and the session is gone. */
    outq_clear(s);
    int late_poll = !s->conn && handed_over(e);
    if (s->conn || late_poll) outq_push(s, SIO_EIO_NOOP, NULL);
    if (s->conn) {
      poll_flush(s);
    } else if (late_poll) {
      /* With workers, the poll a client sent beside its close may come after it, handed over by
       * another worker: it gets its NOOP as if it had come first (then the sid is unknown). */
      tq_add(e, s, TQ_LINGER);
      return;
    }
    session_finalize(s);
    return;
  }
  outq_push(s, SIO_EIO_CLOSE, NULL);
  if (s->conn) {
    poll_flush(s); /* ends with the CLOSE: finalizes */
    return;
  }
  if (how != CLOSE_FORCED) {
    session_finalize(s); /* an error: the session id is unknown from now on, as the reference */
    return;
  }
  /* The application closed it with no poll pending: the session stays findable, only to hand its
   * queue and the CLOSE to the client's next poll, until the ping timeout passes. */
  tq_add(e, s, TQ_LINGER);
}

/* ---------------------------------------------------------------------------------------------- */
/* Heartbeat                                                                                       */

/* The pong is due pingTimeout after the ping was due (s->deadline), not after this timer, which
 * a busy loop (or a thread waiting for Python's GIL) may run late: the session ends at interval +
 * timeout as the protocol says. After a long stall the client still gets half the timeout. */
static uint64_t pong_wait_from(const sio_session_t *s) {
  if (!s->engine->hb_timer) return 0;
  uint64_t now = uv_now(s->engine->hb_timer->loop), half = s->engine->opts.ping_timeout_ms / 2;
  return s->deadline + half >= now ? s->deadline : now - half;
}

static void tq_fire(sio_session_t *s, int kind) {
  switch (kind) {
    case TQ_PING_DUE:
      session_send(s, SIO_EIO_PING, NULL);
      if (s->state == ST_OPEN) tq_add_from(s->engine, s, TQ_PONG_WAIT, pong_wait_from(s));
      break;
    case TQ_PONG_WAIT:
    case TQ_V3_PING_WAIT:
      if (sio__server_congested(s->engine->server)) {
        /* A worker is behind and the connections that sent are not read: the pong may be there,
         * unread. Another timeout from now; the reads resume when the congestion ends. */
        tq_add(s->engine, s, kind);
        break;
      }
      SIO_DEBUG(s->engine->server, SIO_DEBUG_ENGINE, "session %s ping timeout (no %s within %u ms)",
                s->id, kind == TQ_PONG_WAIT ? "pong" : "ping",
                (unsigned)tq_delay(s->engine, kind));
      session_close(s, "ping timeout", 0);
      break;
    case TQ_LINGER:
      session_finalize(s);
      break;
  }
}

/* v4: the server pings every interval and waits pingTimeout for the pong. v3: the client pings;
 * the server waits interval + timeout for each ping. */
static void heartbeat_start(sio_session_t *s) {
  tq_add(s->engine, s, s->protocol == 4 ? TQ_PING_DUE : TQ_V3_PING_WAIT);
}

/* ---------------------------------------------------------------------------------------------- */
/* Incoming packets                                                                                */

static void handle_packet(sio_session_t *s, const sio_eio_packet_t *p) {
  sio_engine_t *e = s->engine;
  if (SIO_DEBUG_ON(e->server, SIO_DEBUG_ENGINE))
    debug_packet(s, "in", p->type, p->len, p->binary);
  e->st.packets_in[s->transport - 1]++;
  switch (p->type) {
    case SIO_EIO_MESSAGE:
      if (e->cbs.on_message) e->cbs.on_message(s, p->data, p->len, p->binary);
      break;
    case SIO_EIO_PONG:
      if (s->protocol == 4) heartbeat_start(s);
      break;
    case SIO_EIO_PING:
      if (s->protocol == 3) {
        sio_msg_t *m = p->len ? sio_msg_new(p->data, p->len, 0) : NULL;
        session_send(s, SIO_EIO_PONG, m);
        sio_msg_unref(m);
        if (s->state == ST_OPEN) heartbeat_start(s);
      } else {
        session_close(s, "transport error", 0); /* pings go server to client in v4 */
      }
      break;
    case SIO_EIO_CLOSE:
      session_close(s, "transport close", CLOSE_BY_CLIENT);
      break;
    case SIO_EIO_OPEN:
      session_close(s, "parse error", 0);
      break;
    default: /* UPGRADE and NOOP mean nothing on an established transport */
      break;
  }
}

static int post_packet_cb(void *user, const sio_eio_packet_t *p) {
  sio_session_t *s = user;
  handle_packet(s, p);
  return s->state != ST_OPEN;
}

/* ---------------------------------------------------------------------------------------------- */
/* Connection owners: the WebSocket transport, the probe of an upgrade, a parked poll              */

static void ws_message(void *owner, sio_conn_t *c, int opcode, char *data, size_t len) {
  sio_session_t *s = owner;
  sio_eio_packet_t p;
  s->engine->st.bytes_in[1] += len;
  if (s->protocol == 3 && opcode == SIO_WS_OP_TEXT && len >= 2 && data[0] == 'b') {
    /* A v3 client with forceBase64 sends binary as "b4<base64>" text frames. */
    long n = data[1] == '4' ? sio_base64_decode_inplace(data + 2, len - 2) : -1;
    if (n < 0) {
      session_close(s, "parse error", CLOSE_ERROR);
      return;
    }
    p = (sio_eio_packet_t){SIO_EIO_MESSAGE, 1, data + 2, (size_t)n};
    handle_packet(s, &p);
    return;
  }
  if (sio_eio_decode_ws(s->protocol, opcode == SIO_WS_OP_BINARY, data, len, &p) != 0) {
    session_close(s, "parse error", 0);
    return;
  }
  handle_packet(s, &p);
}

static void ws_closed(void *owner, sio_conn_t *c, int err) {
  sio_session_t *s = owner;
  if (s->conn == c) s->conn = NULL;
  session_close(s, err ? "transport error" : "transport close", 0);
}

static const sio_conn_owner_vt_t ws_vt = {ws_message, ws_closed};

static void probe_abort(sio_session_t *s) {
  stop_upgrade_timer(s);
  if (s->poll && s->poll->probe) {
    sio_conn_detach(s->poll->probe);
    sio_conn_close(s->poll->probe, 0);
    s->poll->probe = NULL;
  }
  s->upgrade = UP_NONE;
}

static void upgrade_complete(sio_session_t *s) {
  stop_upgrade_timer(s);
  sio_conn_t *poll = s->conn;
  char *poll_headers = take_poll_headers(s);
  s->transport = SIO_TRANSPORT_WEBSOCKET;
  s->conn = s->poll->probe; /* an upgrade has a probe, so a poll part */
  s->poll->probe = NULL;
  s->upgrade = UP_NONE;
  s->engine->st.upgrades++;
  sio_conn_set_owner(s->conn, &ws_vt, s);
  SIO_LOG(s->engine->server, SIO_LOG_INFO, "engine", "session %s upgraded to websocket", s->id);
  SIO_DEBUG(s->engine->server, SIO_DEBUG_ENGINE, "session %s upgrade: polling -> websocket", s->id);
  /* What was waiting for a poll now goes over the WebSocket, in order. */
  uint32_t n = s->outq_len;
  for (uint32_t i = 0; i < n && s->state == ST_OPEN; i++)
    if (s->outq[i].type != SIO_EIO_NOOP) session_send(s, s->outq[i].type, s->outq[i].msg);
  outq_clear(s);
  if (poll) {
    /* The old poll ends with a NOOP so the client can let it go. */
    static const char noop4[] = "6", noop3[] = "1:6";
    const char *body = s->protocol == 3 ? noop3 : noop4;
    poll_respond(s, poll, poll_headers, body, strlen(body), "text/plain; charset=UTF-8");
  }
  free(poll_headers);
  /* On WebSocket for good: the part goes (a stray poll later gets one again, poll_get). */
  poll_part_free(s);
}

static void probe_message(void *owner, sio_conn_t *c, int opcode, char *data, size_t len) {
  sio_session_t *s = owner;
  sio_eio_packet_t p;
  int ok = sio_eio_decode_ws(s->protocol, opcode == SIO_WS_OP_BINARY, data, len, &p) == 0;
  if (ok && p.type == SIO_EIO_PING && p.len == 5 && memcmp(p.data, "probe", 5) == 0 &&
      s->upgrade == UP_PROBING) {
    sio_rbuf_t *rb = s->engine->probe_frame;
    sio_conn_write_rb(c, rb, rb->data, rb->len);
    s->upgrade = UP_PROBED;
    /* Let a pending poll return so the client can pause polling and finish the upgrade. */
    if (s->conn) outq_push(s, SIO_EIO_NOOP, NULL);
    return;
  }
  if (ok && p.type == SIO_EIO_UPGRADE && s->upgrade == UP_PROBED) {
    upgrade_complete(s);
    return;
  }
  probe_abort(s);
}

static void probe_closed(void *owner, sio_conn_t *c, int err) {
  sio_session_t *s = owner;
  if (s->poll && s->poll->probe == c) s->poll->probe = NULL;
  probe_abort(s);
}

static const sio_conn_owner_vt_t probe_vt = {probe_message, probe_closed};

static void on_upgrade_timeout(uv_timer_t *t) {
  sio_session_t *s = t->data;
  probe_abort(s);
}

static void poll_closed(void *owner, sio_conn_t *c, int err) {
  sio_session_t *s = owner;
  if (s->conn != c) return;
  s->conn = NULL;
  free(take_poll_headers(s));
  if (s->state == ST_OPEN) session_close(s, "transport error", 0);
}

static const sio_conn_owner_vt_t poll_vt = {NULL, poll_closed};

/* ---------------------------------------------------------------------------------------------- */
/* Hooks: allow_request, the headers hooks, connection_error (see sio.h)                          */

/* A request copied whole: the parser's storage goes on to the next request while the application
 * decides. Holds both the parser's view (to go on with the handshake) and the application's. */
typedef struct reqcopy {
  sio_http_request_t req;
  sio_request_info_t info;
} reqcopy_t;

static const char *put_str(char **at, const char *s, size_t n) {
  char *p = *at;
  if (n) memcpy(p, s, n);
  p[n] = '\0';
  *at = p + n + 1;
  return p;
}

static reqcopy_t *reqcopy_new(sio_conn_t *c, const sio_http_request_t *r) {
  char addr[64] = "";
  if (c) sio_conn_peer(c, addr, sizeof addr);
  size_t n = r->header_count;
  size_t strings = strlen(r->method) + r->url_len + r->path_len + r->query_len + strlen(addr) + 5;
  for (size_t i = 0; i < n; i++) strings += r->headers[i].name_len + r->headers[i].value_len + 2;
  size_t arrays = n * (sizeof(sio_http_header_t) + 2 * sizeof(char *));
  reqcopy_t *rc = calloc(1, sizeof *rc + arrays + strings);
  if (!rc) return NULL;
  sio_http_header_t *hdrs = (sio_http_header_t *)(rc + 1);
  const char **names = (const char **)(hdrs + n);
  const char **values = names + n;
  char *at = (char *)(values + n);
  rc->req = *r;
  rc->req.method = put_str(&at, r->method, strlen(r->method));
  rc->req.url = put_str(&at, r->url, r->url_len);
  rc->req.path = put_str(&at, r->path, r->path_len);
  rc->req.query = put_str(&at, r->query, r->query_len);
  rc->req.body = NULL;
  rc->req.body_len = 0;
  for (size_t i = 0; i < n; i++) {
    hdrs[i].name = names[i] = put_str(&at, r->headers[i].name, r->headers[i].name_len);
    hdrs[i].value = values[i] = put_str(&at, r->headers[i].value, r->headers[i].value_len);
    hdrs[i].name_len = r->headers[i].name_len;
    hdrs[i].value_len = r->headers[i].value_len;
  }
  rc->req.headers = hdrs;
  rc->info.method = rc->req.method;
  rc->info.url = rc->req.url;
  rc->info.query = rc->req.query;
  rc->info.remote_addr = put_str(&at, addr, strlen(addr));
  struct timeval tv;
  gettimeofday(&tv, NULL);
  rc->info.time_ms = (uint64_t)tv.tv_sec * 1000 + (uint64_t)tv.tv_usec / 1000;
  rc->info.header_count = n;
  rc->info.header_names = names;
  rc->info.header_values = values;
  return rc;
}

static void report_error(sio_engine_t *e, sio_conn_t *c, const sio_http_request_t *req, int code,
                         int status, const char *context) {
  reqcopy_t *rc = reqcopy_new(c, req);
  sio_connection_error_t err = {code, error_messages[code], context, status, rc ? &rc->info : NULL};
  e->error_cb(&err, e->error_arg);
  free(rc);
}

struct sio_headers_s {
  sio_sbuf_t *b;
};

static int is_token(const char *s);

/* Header names the server writes itself: another copy would contradict it. */
static int server_owned(const char *name) {
  static const char *const owned[] = {"content-length", "transfer-encoding", "connection", "upgrade",
                                      "sec-websocket-accept"};
  for (size_t i = 0; i < sizeof owned / sizeof *owned; i++)
    if (strcasecmp(name, owned[i]) == 0) return 1;
  return 0;
}

int sio_headers_set(sio_headers_t *h, const char *name, const char *value) {
  sio__error_clear();
  if (!h || !name || !value) return SIO_EINVAL;
  if (!is_token(name)) return sio__fail(SIO_EINVAL, "header name \"%s\" is not an HTTP token", name);
  if (server_owned(name))
    return sio__fail(SIO_EINVAL, "header \"%s\" is written by the server", name);
  for (const char *p = value; *p; p++) {
    unsigned char ch = (unsigned char)*p;
    if ((ch < 0x20 && ch != '\t') || ch == 0x7f)
      return sio__fail(SIO_EINVAL, "the value of header \"%s\" holds a control character (CR, LF...)",
                       name);
  }
  sio_sbuf_append_str(h->b, name);
  sio_sbuf_append_str(h->b, ": ");
  sio_sbuf_append_str(h->b, value);
  return sio_sbuf_append_str(h->b, "\r\n") ? SIO_ENOMEM : 0;
}

/* The application's header lines (Node: initial_headers first, then headers) appended to b. */
static void hook_lines(sio_engine_t *e, sio_conn_t *c, const sio_http_request_t *req, int hooks,
                       sio_sbuf_t *b) {
  reqcopy_t *rc = reqcopy_new(c, req);
  if (!rc) return;
  sio_headers_t h = {b};
  if (hooks == HOOKS_INITIAL && e->headers_cb[SIO_HEADERS_INITIAL])
    e->headers_cb[SIO_HEADERS_INITIAL](&h, &rc->info, e->headers_arg[SIO_HEADERS_INITIAL]);
  if (e->headers_cb[SIO_HEADERS_ALL])
    e->headers_cb[SIO_HEADERS_ALL](&h, &rc->info, e->headers_arg[SIO_HEADERS_ALL]);
  free(rc);
}

/* The 101's extra lines, or NULL (none, or no hook set). */
static char *ws_hook_headers(sio_engine_t *e, sio_conn_t *c, const sio_http_request_t *req, int hooks) {
  if (!e->headers_cb[0] && !e->headers_cb[1]) return NULL;
  sio_sbuf_t b = SIO_SBUF_INIT;
  hook_lines(e, c, req, hooks, &b);
  if (b.len == 0 || sio_sbuf_append_char(&b, '\0') != 0) {
    sio_sbuf_free(&b);
    return NULL;
  }
  return sio_sbuf_steal(&b, NULL);
}

struct sio_handshake_s {
  sio_engine_t *engine;
  sio_conn_t *conn; /* NULL once aborted */
  reqcopy_t *rc;
  void *data;
  int proto;        /* -1: a version refused once the application accepts */
  uint32_t jsonp;   /* a JSONP handshake's index (has_jsonp) */
  uint8_t has_jsonp;
  uint8_t transport;
  uint8_t in_cb;    /* the allow_request callback is running: an answer must not free the handle */
  uint8_t answered;
};

static void pending_closed(void *owner, sio_conn_t *c, int err) {
  (void)c, (void)err;
  sio_handshake_t *h = owner;
  h->conn = NULL; /* the answer, still due, will send nothing */
}

static void pending_ws_message(void *owner, sio_conn_t *c, int opcode, char *data, size_t len) {
  (void)owner, (void)c, (void)opcode, (void)data, (void)len;
}

static const sio_conn_owner_vt_t pending_vt = {pending_ws_message, pending_closed};

static sio_session_t *handshake(sio_engine_t *e, sio_conn_t *c, const sio_http_request_t *req,
                                int proto, int transport, const uint32_t *jsonp);
static void open_ws(sio_engine_t *e, sio_conn_t *c, const sio_http_request_t *req, int proto);

/* Hands the handshake to allow_request, the connection parked (bounded by request_timeout_ms,
 * aborted with the server as an application handler's request). */
static void pending_start(sio_engine_t *e, sio_conn_t *c, const sio_http_request_t *req, int proto,
                          int transport, const uint32_t *jsonp) {
  sio_handshake_t *h = calloc(1, sizeof *h);
  if (h) h->rc = reqcopy_new(c, req);
  if (!h || !h->rc) {
    free(h);
    c->keep_alive = 0;
    sio_conn_respond(c, 500, NULL, NULL, NULL, 0);
    return;
  }
  h->engine = e;
  h->conn = c;
  h->proto = proto;
  h->transport = (uint8_t)transport;
  h->has_jsonp = jsonp != NULL;
  h->jsonp = jsonp ? *jsonp : 0;
  sio_conn_park(c, &pending_vt, h);
  c->app_req = 1;
  c->app_since_ms = sio_server_now_ms(e->server);
  h->in_cb = 1;
  e->allow_cb(h, e->allow_arg);
  h->in_cb = 0;
  if (h->answered) {
    free(h->rc);
    free(h);
  }
}

/* The connection back from the application; NULL when it went away. */
static sio_conn_t *pending_take(sio_handshake_t *h) {
  sio_conn_t *c = h->conn;
  h->answered = 1;
  if (!c) return NULL;
  h->conn = NULL;
  sio_conn_detach(c);
  c->app_req = 0;
  /* Answered inside the callback: the transport goes on as if never parked. A later answer for
   * an upgrade leaves it parked: sio_conn_accept_ws_with() takes it from there. */
  if (h->in_cb || h->transport == SIO_TRANSPORT_POLLING) c->parked = 0;
  return c;
}

static void pending_free(sio_handshake_t *h) {
  if (h->in_cb) return; /* pending_start frees it when the callback returns */
  free(h->rc);
  free(h);
}

int sio_handshake_accept(sio_handshake_t *h) {
  sio__error_clear();
  if (!h || h->answered) return SIO_EINVAL;
  sio_conn_t *c = pending_take(h);
  int r = c ? 0 : SIO_ECLOSED;
  if (c && h->proto < 0) {
    if (h->transport == SIO_TRANSPORT_WEBSOCKET) c->keep_alive = 0;
    respond_error(h->engine, c, &h->rc->req, ERR_UNSUPPORTED_PROTOCOL_VERSION);
  } else if (c && h->transport == SIO_TRANSPORT_POLLING) {
    if (!handshake(h->engine, c, &h->rc->req, h->proto, SIO_TRANSPORT_POLLING,
                   h->has_jsonp ? &h->jsonp : NULL))
      sio_conn_respond(c, 500, NULL, NULL, NULL, 0);
  } else if (c) {
    open_ws(h->engine, c, &h->rc->req, h->proto);
  }
  pending_free(h);
  return r;
}

int sio_handshake_refuse(sio_handshake_t *h, int status, const char *message) {
  sio__error_clear();
  if (!h || h->answered) return SIO_EINVAL;
  if (status && (status < 400 || status > 599))
    return sio__fail(SIO_EINVAL, "status %d is not an error status (400..599)", status);
  sio_conn_t *c = pending_take(h);
  const char *text = message ? message : error_messages[ERR_FORBIDDEN];
  if (c && h->transport == SIO_TRANSPORT_POLLING) {
    refuse(h->engine, c, &h->rc->req, ERR_FORBIDDEN, status ? status : 403, text);
  } else if (c) {
    /* As the reference's abortUpgrade: 400 (whatever the code) with the message as text. */
    sio_engine_t *e = h->engine;
    status = status ? status : 400;
    if (e->error_cb) report_error(e, c, &h->rc->req, ERR_FORBIDDEN, status, text);
    c->keep_alive = 0;
    sio_conn_respond(c, status, "text/html", NULL, text, strlen(text));
  }
  pending_free(h);
  return c ? 0 : SIO_ECLOSED;
}

const sio_request_info_t *sio_handshake_request(const sio_handshake_t *h) { return &h->rc->info; }
int sio_handshake_transport(const sio_handshake_t *h) { return h->transport; }
int sio_handshake_aborted(const sio_handshake_t *h) { return h->conn == NULL; }
void *sio_handshake_get_data(const sio_handshake_t *h) { return h->data; }
void sio_handshake_set_data(sio_handshake_t *h, void *data) { h->data = data; }

void sio_engine_set_allow_request(sio_engine_t *e, sio_allow_request_cb cb, void *arg) {
  e->allow_cb = cb;
  e->allow_arg = arg;
}

void sio_engine_set_cors_origin_fn(sio_engine_t *e, sio_cors_origin_cb cb, void *arg) {
  e->origin_cb = cb;
  e->origin_arg = arg;
}

void sio_engine_set_headers_hook(sio_engine_t *e, int which, sio_headers_cb cb, void *arg) {
  if (which != SIO_HEADERS_INITIAL && which != SIO_HEADERS_ALL) return;
  e->headers_cb[which] = cb;
  e->headers_arg[which] = arg;
}

void sio_engine_on_connection_error(sio_engine_t *e, sio_connection_error_cb cb, void *arg) {
  e->error_cb = cb;
  e->error_arg = arg;
}

/* ---------------------------------------------------------------------------------------------- */
/* Requests                                                                                        */

/* The headers a session keeps: all but those past 65535 (info_headers is 16 bits; as many need a
 * max_header_size of over 256 KiB). */
static size_t kept_headers(const sio_http_request_t *req) {
  return req->header_count > UINT16_MAX ? UINT16_MAX : req->header_count;
}

/* The bytes of the session's info_block for the request from peer `addr`. */
static size_t info_size(const sio_http_request_t *req, const char *addr) {
  size_t ml = strlen(req->method);
  int uc = known_prefix(req->url, req->url_len, 0);
  size_t strings = (known_prefix(req->method, ml, 1) ? 1 : ml) + 1 +
                   (uc ? 1 + req->url_len - strlen(known_prefixes[uc]) : req->url_len) + 1 +
                   strlen(addr) + 1;
  for (size_t i = 0; i < kept_headers(req); i++) {
    const sio_http_header_t *h = &req->headers[i];
    strings += (known_name(h->name, h->name_len) ? 1 : h->name_len + 1) + h->value_len + 1;
  }
  return strings;
}

/* Fills s->info_block (info_size bytes) and what goes with it. */
static void info_init(sio_session_t *s, sio_conn_t *c, const sio_http_request_t *req, const char *addr) {
  size_t n = kept_headers(req);
  char *p = s->info_block;
  /* The parser lets no NUL through, but the block's layout depends on it: make sure. */
#define COPY(src, len)                                                     \
  do {                                                                     \
    memcpy(p, src, len);                                                   \
    for (char *z = p; (z = memchr(z, '\0', (size_t)(p + (len) - z))); z++) \
      *z = '?';                                                            \
    p[len] = '\0';                                                         \
    p += (len) + 1;                                                        \
  } while (0)
  /* The method and the URL: a code (known_prefix) or as sent, never starting with a code's byte. */
  size_t ml = strlen(req->method);
  if (known_prefix(req->method, ml, 1)) {
    *p++ = (char)PFX_GET;
    *p++ = '\0';
  } else {
    char *m = p;
    COPY(req->method, ml);
    if ((unsigned char)m[0] < KNOWN_LIMIT && ml) m[0] = '?';
  }
  int uc = known_prefix(req->url, req->url_len, 0);
  if (uc) {
    size_t k = strlen(known_prefixes[uc]);
    *p++ = (char)uc;
    COPY(req->url + k, req->url_len - k);
  } else {
    char *u = p;
    COPY(req->url, req->url_len);
    if ((unsigned char)u[0] < KNOWN_LIMIT && req->url_len) u[0] = '?';
  }
  COPY(addr, strlen(addr));
  for (size_t i = 0; i < n; i++) {
    const sio_http_header_t *h = &req->headers[i];
    int code = known_name(h->name, h->name_len);
    if (code) {
      *p++ = (char)code;
    } else {
      char *name = p;
      COPY(h->name, h->name_len);
      /* A byte below KNOWN_LIMIT would read as a code: no token starts so (the parser lets none
       * through), but the layout must not depend on it. */
      if ((unsigned char)name[0] < KNOWN_LIMIT && h->name_len) name[0] = '?';
    }
    COPY(h->value, h->value_len);
  }
#undef COPY
  struct timeval tv;
  gettimeofday(&tv, NULL);
  s->info_time_ms = (uint64_t)tv.tv_sec * 1000 + (uint64_t)tv.tv_usec / 1000;
  s->info_headers = (uint16_t)n;
  s->secure = (uint8_t)sio_conn_secure(c);
}

static int query_flag(const sio_http_request_t *req, const char *key) {
  char v[8];
  long n = sio_http_query_get(req->query, req->query_len, key, v, sizeof v, NULL);
  return n > 0 && strcmp(v, "0") != 0 && strcmp(v, "false") != 0;
}

/* 4, 3 (when allowed) or -1: a missing, repeated or other EIO is refused in both modes. */
static int parse_eio(sio_engine_t *e, const sio_http_request_t *req) {
  char v[8];
  int dup = 0;
  long n = sio_http_query_get(req->query, req->query_len, "EIO", v, sizeof v, &dup);
  if (n != 1 || dup) return -1;
  if (v[0] == '4') return 4;
  if (v[0] == '3' && e->opts.allow_eio3) return 3;
  return -1;
}

/* What the request accepts of httpCompression (nothing when the option is off). */
static uint8_t accepted_encoding(const sio_engine_t *e, const sio_http_request_t *req) {
  if (!e->compress_threshold) return SIO_HTTP_ENC_NONE;
  const sio_http_header_t *h = sio_http_find_header(req, "accept-encoding");
  return h ? (uint8_t)sio_http_accept_encoding(h->value, h->value_len) : SIO_HTTP_ENC_NONE;
}

/* `jsonp`: the callback index of a JSONP handshake, NULL for any other. */
static sio_session_t *handshake(sio_engine_t *e, sio_conn_t *c, const sio_http_request_t *req,
                                int proto, int transport, const uint32_t *jsonp) {
  char addr[64];
  sio_conn_peer(c, addr, sizeof addr);
  sio_session_t *s = calloc(1, offsetof(struct sio_session_s, info_block) + info_size(req, addr));
  if (!s) return NULL;
  if (transport == SIO_TRANSPORT_POLLING && !poll_part(s)) {
    free(s);
    return NULL;
  }
  info_init(s, c, req, addr);
  new_id(e, s->id);
  s->engine = e;
  s->protocol = (uint8_t)proto;
  s->transport = (uint8_t)transport;
  if (table_add(e, s) != 0) {
    session_free(s);
    return NULL;
  }
  e->st.handshakes++;
  int upgrades = transport == SIO_TRANSPORT_POLLING && e->opts.allow_upgrades &&
                 (e->opts.transports & SIO_TRANSPORT_WEBSOCKET);
  char json[256];
  int n = snprintf(json, sizeof json,
                   "{\"sid\":\"%s\",\"upgrades\":%s,\"pingInterval\":%u,\"pingTimeout\":%u,"
                   "\"maxPayload\":%zu}",
                   s->id, upgrades ? "[\"websocket\"]" : "[]", e->opts.ping_interval_ms,
                   e->opts.ping_timeout_ms, e->opts.max_payload);
  sio_msg_t *open = sio_msg_new(json, (size_t)n, 0);
  s->b64 = proto == 3 && query_flag(req, "b64");
  if (jsonp) {
    /* A script carries text only: binary goes as base64 whatever the client said. */
    s->jsonp = 1;
    s->poll->jsonp_index = *jsonp; /* JSONP is polling only: the part exists */
    s->b64 = 1;
  }
  if (transport == SIO_TRANSPORT_POLLING) {
    s->http_enc = accepted_encoding(e, req);
    s->conn = c;
    s->poll->headers = extra_headers(e, c, req, 0, s, HOOKS_INITIAL);
    sio_conn_park(c, &poll_vt, s);
  } else {
    s->conn = c;
    sio_conn_set_owner(c, &ws_vt, s);
  }
  /* Logged before the OPEN goes out, so that the debug lines read in order. */
  if (sio__log_enabled(e->server, SIO_LOG_INFO) || (sio__debug_mask(e->server) & SIO_DEBUG_ENGINE)) {
    const char *addr = s->info_block + strlen(s->info_block) + 1; /* method, url, address */
    addr += strlen(addr) + 1;
    const char *tname = transport == SIO_TRANSPORT_POLLING ? "polling" : "websocket";
    SIO_LOG(e->server, SIO_LOG_INFO, "engine", "session %s opened (%s, EIO %d, %s)", s->id, tname,
            proto, addr);
    SIO_DEBUG(e->server, SIO_DEBUG_ENGINE, "session %s handshake: transport %s, EIO %d, peer %s",
              s->id, tname, proto, addr);
  }
  if (open) session_send(s, SIO_EIO_OPEN, open);
  sio_msg_unref(open);
  heartbeat_start(s);
  if (e->cbs.on_connection) e->cbs.on_connection(e, s);
  return s;
}

static void poll_get(sio_engine_t *e, sio_session_t *s, sio_conn_t *c, const sio_http_request_t *req) {
  if (s->conn) {
    /* Two polls at once: a broken client. The reference ends the first with CLOSE too. */
    respond_error(e, c, req, ERR_BAD_REQUEST);
    session_close(s, "transport error", 0);
    return;
  }
  if (!poll_part(s)) {
    respond_error(e, c, req, ERR_BAD_REQUEST); /* out of memory */
    return;
  }
  s->conn = c;
  s->poll->headers = extra_headers(e, c, req, 0, NULL, HOOKS_ALL);
  s->http_enc = accepted_encoding(e, req);
  sio_conn_park(c, &poll_vt, s);
  if (s->upgrade == UP_PROBED) outq_push(s, SIO_EIO_NOOP, NULL);
  if (s->outq_len) mark_dirty(s);
}

/* A JSONP session's POST: a form whose field d holds a v3 text payload. */
static void jsonp_post(sio_session_t *s, sio_conn_t *c, const sio_http_request_t *req,
                       const char *cors) {
  sio_conn_respond(c, 200, "text/html", cors, "ok", 2);
  if (s->state != ST_OPEN) return;
  /* The body lives in the parser's buffer until the next request: decoded in place. */
  long n = sio_eio_jsonp_form((char *)req->body, req->body_len);
  if (n < 0) return; /* no single d: nothing to deliver, as the reference */
  s->engine->st.bytes_in[0] += (size_t)n;
  int r = sio_eio_decode_payload(3, 0, (char *)req->body, (size_t)n, post_packet_cb, s);
  if (r < 0 && s->state == ST_OPEN) session_close(s, "parse error", 0);
}

static void poll_post(sio_engine_t *e, sio_session_t *s, sio_conn_t *c, const sio_http_request_t *req) {
  char *cors = extra_headers(e, c, req, 0, NULL, HOOKS_ALL);
  if (req->body_len > e->opts.max_payload) {
    /* Only this body is dropped; the session goes on (as the reference). */
    sio_conn_respond(c, 413, "text/plain", cors, "Payload Too Large", 17);
    free(cors);
    return;
  }
  if (s->jsonp) {
    jsonp_post(s, c, req, cors);
    free(cors);
    return;
  }
  const sio_http_header_t *ct = sio_http_find_header(req, "content-type");
  int binary_body = ct && strncmp(ct->value, "application/octet-stream", 24) == 0;
  if (binary_body && s->protocol == 4) {
    /* v4 payloads are text only: a binary body is a broken client, refused as the reference. */
    free(cors);
    respond_error(e, c, req, ERR_BAD_REQUEST);
    session_close(s, "transport error", CLOSE_ERROR);
    return;
  }
  sio_conn_respond(c, 200, "text/html", cors, "ok", 2);
  free(cors);
  if (s->state != ST_OPEN) return;
  e->st.bytes_in[0] += req->body_len;
  /* The body lives in the parser's buffer until the next request: decoded in place. */
  int r = sio_eio_decode_payload(s->protocol, binary_body, (char *)req->body, req->body_len,
                                 post_packet_cb, s);
  if (r < 0 && s->state == ST_OPEN) session_close(s, "parse error", 0);
}

/* Every name and value of the query, and the path, must percent-decode to text (UTF-8 without a
 * NUL): "transport=polling%00" is no "polling", nor a sid with a NUL in it a sid. Refused whole
 * with 400 "Bad request" rather than read up to the NUL. */
static int request_is_text(const sio_http_request_t *req) {
  return sio_url_query_is_text(req->query, req->query_len) &&
         sio_url_is_text(req->path, req->path_len);
}

static int on_request(sio_route_t *route, sio_conn_t *c, const sio_http_request_t *req) {
  sio_engine_t *e = (sio_engine_t *)route;
  if (!request_is_text(req)) {
    respond_error(e, c, req, ERR_BAD_REQUEST);
    return 0;
  }
  if (e->client_dir && sio_http_serve_client(e->client_dir, c, req, e->route.path_len)) return 0;
  if (strcmp(req->method, "OPTIONS") == 0 && (e->cors_origin || e->origin_cb)) {
    char *cors = cors_headers(e, req, 1);
    sio_conn_respond(c, 204, NULL, cors, NULL, 0);
    free(cors);
    return 0;
  }
  if (!origin_allowed(e, c, req)) {
    respond_error(e, c, req, ERR_FORBIDDEN);
    return 0;
  }
  char transport[16], sid[32];
  long tl = sio_http_query_get(req->query, req->query_len, "transport", transport, sizeof transport, NULL);
  if (tl < 0 || (strcmp(transport, "polling") != 0 && strcmp(transport, "websocket") != 0) ||
      (strcmp(transport, "polling") == 0 && !(e->opts.transports & SIO_TRANSPORT_POLLING))) {
    respond_error(e, c, req, ERR_UNKNOWN_TRANSPORT);
    return 0;
  }
  int proto = parse_eio(e, req);
  long sl = sio_http_query_get(req->query, req->query_len, "sid", sid, sizeof sid, NULL);
  /* The reference asks allowRequest before it looks at a handshake's version: with the hook, a
   * handshake of a version refused here is refused after the verdict (see sio_handshake_accept). */
  if (proto < 0 && (sl > 0 || !e->allow_cb)) {
    respond_error(e, c, req, ERR_UNSUPPORTED_PROTOCOL_VERSION);
    return 0;
  }
  if (sl == 20 && sio__conn_handoff(c, req, sid)) return 1; /* another worker's session */
  if (sl > 0) {
    sio_session_t *s = sl == 20 ? sio_engine_find(e, sid) : NULL;
    if (!s || s->state == ST_CLOSED) {
      respond_error(e, c, req, ERR_UNKNOWN_SID);
      return 0;
    }
    if (strcmp(transport, "polling") != 0 || s->transport != SIO_TRANSPORT_POLLING ||
        s->protocol != proto) {
      respond_error(e, c, req, ERR_BAD_REQUEST);
      return 0;
    }
    if (strcmp(req->method, "GET") == 0) {
      poll_get(e, s, c, req);
      return c->parked;
    }
    if (strcmp(req->method, "POST") == 0) {
      poll_post(e, s, c, req);
      return 0;
    }
    respond_error(e, c, req, ERR_BAD_REQUEST);
    return 0;
  }
  if (strcmp(req->method, "GET") != 0) {
    respond_error(e, c, req, ERR_BAD_HANDSHAKE_METHOD);
    return 0;
  }
  if (strcmp(transport, "polling") != 0) {
    respond_error(e, c, req, ERR_BAD_REQUEST); /* websocket without the upgrade */
    return 0;
  }
  /* JSONP (j=N): Engine.IO v3's transport for pages without XHR. The reference serves it to any
   * version, but no v4 client has it: refused there, as a j that is not a plain index. */
  char jv[16];
  uint32_t jsonp;
  long jl = sio_http_query_get(req->query, req->query_len, "j", jv, sizeof jv, NULL);
  if (jl >= 0 && (proto != 3 || (size_t)jl >= sizeof jv || sio_eio_jsonp_index(jv, (size_t)jl, &jsonp))) {
    respond_error(e, c, req, ERR_BAD_REQUEST);
    return 0;
  }
  if (e->allow_cb) {
    pending_start(e, c, req, proto, SIO_TRANSPORT_POLLING, jl >= 0 ? &jsonp : NULL);
    return c->parked;
  }
  if (!handshake(e, c, req, proto, SIO_TRANSPORT_POLLING, jl >= 0 ? &jsonp : NULL)) {
    sio_conn_respond(c, 500, NULL, NULL, NULL, 0);
    return 0;
  }
  return 1;
}

/* What sio_conn_accept_ws() checks before its 101. */
static int ws_upgrade_valid(const sio_http_request_t *req) {
  const sio_http_header_t *ver = sio_http_find_header(req, "sec-websocket-version");
  return sio_http_find_header(req, "sec-websocket-key") && ver && strcmp(ver->value, "13") == 0;
}

static void on_upgrade(sio_route_t *route, sio_conn_t *c, const sio_http_request_t *req) {
  sio_engine_t *e = (sio_engine_t *)route;
  c->keep_alive = 0; /* whatever is answered instead of 101 ends the connection */
  if (!request_is_text(req)) {
    respond_error(e, c, req, ERR_BAD_REQUEST);
    return;
  }
  if (!origin_allowed(e, c, req)) {
    respond_error(e, c, req, ERR_FORBIDDEN);
    return;
  }
  char transport[16], sid[32];
  long tl = sio_http_query_get(req->query, req->query_len, "transport", transport, sizeof transport, NULL);
  if (tl < 0 || strcmp(transport, "websocket") != 0 || !(e->opts.transports & SIO_TRANSPORT_WEBSOCKET)) {
    respond_error(e, c, req, ERR_UNKNOWN_TRANSPORT);
    return;
  }
  int proto = parse_eio(e, req);
  long sl = sio_http_query_get(req->query, req->query_len, "sid", sid, sizeof sid, NULL);
  /* The reference asks allowRequest before it looks at a handshake's version: with the hook, a
   * handshake of a version refused here is refused after the verdict (see sio_handshake_accept). */
  if (proto < 0 && (sl > 0 || !e->allow_cb)) {
    respond_error(e, c, req, ERR_UNSUPPORTED_PROTOCOL_VERSION);
    return;
  }
  if (sl == 20 && sio__conn_handoff(c, req, sid)) return; /* another worker's session */
  if (sl > 0) {
    sio_session_t *s = sl == 20 ? sio_engine_find(e, sid) : NULL;
    if (!s || s->state != ST_OPEN) {
      respond_error(e, c, req, ERR_UNKNOWN_SID);
      return;
    }
    if (s->transport != SIO_TRANSPORT_POLLING || s->upgrade != UP_NONE || !e->opts.allow_upgrades ||
        s->protocol != proto) {
      /* Already upgraded (or upgrading): accept the socket, then close it at once. */
      if (sio_conn_accept_ws(c, req, e->opts.max_payload, NULL, NULL) == 0) sio_conn_close(c, 1);
      else respond_error(e, c, req, ERR_BAD_REQUEST);
      return;
    }
    if (!poll_part(s)) { /* a polling session has one: only ENOMEM could leave it without */
      respond_error(e, c, req, ERR_BAD_REQUEST);
      return;
    }
    char *extra = ws_hook_headers(e, c, req, HOOKS_ALL);
    int r = sio_conn_accept_ws_deflate(c, req, e->opts.max_payload, e->opts.per_message_deflate,
                                       &probe_vt, s, extra);
    free(extra);
    if (r != 0) {
      respond_error(e, c, req, ERR_BAD_REQUEST);
      return;
    }
    s->poll->probe = c;
    s->upgrade = UP_PROBING;
    uv_timer_t *t = s->poll->upgrade_timer = malloc(sizeof *t);
    if (t) {
      uv_timer_init(sio_server_loop(e->server), t);
      t->data = s;
      uv_timer_start(t, on_upgrade_timeout, e->opts.upgrade_timeout_ms, 0);
    }
    return;
  }
  if (e->allow_cb) {
    /* Checked as the 101 would be first: a broken upgrade is no handshake to decide on. */
    if (!ws_upgrade_valid(req)) {
      respond_error(e, c, req, ERR_BAD_REQUEST);
      return;
    }
    pending_start(e, c, req, proto, SIO_TRANSPORT_WEBSOCKET, NULL);
    return;
  }
  open_ws(e, c, req, proto);
}

/* A WebSocket-only session: the 101, then the session. */
static void open_ws(sio_engine_t *e, sio_conn_t *c, const sio_http_request_t *req, int proto) {
  char *extra = ws_hook_headers(e, c, req, HOOKS_INITIAL);
  int r = sio_conn_accept_ws_deflate(c, req, e->opts.max_payload, e->opts.per_message_deflate,
                                     &ws_vt, NULL, extra);
  free(extra);
  if (r != 0) {
    respond_error(e, c, req, ERR_BAD_REQUEST);
    return;
  }
  if (!handshake(e, c, req, proto, SIO_TRANSPORT_WEBSOCKET, NULL)) {
    sio_conn_detach(c);
    sio_conn_close(c, 0);
  }
}

/* ---------------------------------------------------------------------------------------------- */
/* The engine                                                                                      */

static void on_check(sio_route_t *route) {
  sio_engine_t *e = (sio_engine_t *)route;
  while (e->dirty) {
    sio_session_t *s = e->dirty;
    e->dirty = s->dnext;
    s->dirty = 0;
    s->dnext = NULL;
    poll_flush(s);
  }
  free_dead(e);
}

static void on_server_close(sio_route_t *route) {
  sio_engine_t *e = (sio_engine_t *)route;
  if (e->cbs.on_shutdown) e->cbs.on_shutdown(e);
  size_t n = e->count, k = 0;
  sio_session_t **all = malloc((n ? n : 1) * sizeof *all);
  if (!all) return;
  for (size_t i = 0; i < e->nbuckets; i++)
    for (sio_session_t *s = e->buckets[i]; s; s = s->hnext) all[k++] = s;
  for (size_t i = 0; i < k; i++) {
    session_close(all[i], "server shutting down", 0);
    if (all[i]->engine) session_finalize(all[i]); /* no poll will come to collect the CLOSE */
  }
  free(all);
  e->hb_armed = 0;
  uv_timer_stop(e->hb_timer); /* no session is left to wait for */
}

static void hb_timer_free(uv_handle_t *h) { free(h); }

static void on_free(sio_route_t *route) {
  sio_engine_t *e = (sio_engine_t *)route;
  if (e->free_hook) e->free_hook(e->free_hook_arg);
  free_dead(e);
  if (e->hb_timer) uv_close((uv_handle_t *)e->hb_timer, hb_timer_free);
  for (int i = 0; i < 7; i++) sio_rbuf_unref(e->ctl[i]);
  sio_rbuf_unref(e->probe_frame);
  sio_http_compressor_free(e->compressor);
  free(e->buckets);
  free(e->path);
  free(e->cors_origin);
  free(e->cookie_head);
  free(e->cookie_tail);
  free(e->client_dir);
  free(e);
}

/* RFC 7230 tchar: what a cookie name may hold (RFC 6265 cookie-name is a token). */
static int is_token(const char *s) {
  if (!*s) return 0;
  for (; *s; s++) {
    unsigned char ch = (unsigned char)*s;
    if (ch <= 0x20 || ch >= 0x7f || strchr("()<>@,;:\\\"/[]?={}", ch)) return 0;
  }
  return 1;
}

/* An attribute value: no ';' (it would start another attribute) and no control character (it
 * would end the header line). */
static int is_attr_value(const char *s) {
  for (; *s; s++) {
    unsigned char ch = (unsigned char)*s;
    if (ch < 0x20 || ch == 0x7f || ch == ';') return 0;
  }
  return 1;
}

/* Builds the Set-Cookie line around the sid once, so that a handshake only concatenates. */
static int cookie_init(sio_engine_t *e) {
  const sio_cookie_options_t *o = &e->opts.cookie;
  static const char *const same_sites[] = {"Lax", "Strict", "None"};
  const char *same_site = NULL;
  if (o->same_site) {
    for (int i = 0; i < 3; i++)
      if (strcasecmp(o->same_site, same_sites[i]) == 0) same_site = same_sites[i];
    if (!same_site)
      return sio__fail(SIO_EINVAL, "cookie same_site \"%s\" is not Lax, Strict or None", o->same_site);
  }
  if (!is_token(o->name))
    return sio__fail(SIO_EINVAL, "cookie name \"%s\" is not an HTTP token", o->name);
  if ((o->path && !is_attr_value(o->path)) || (o->domain && !is_attr_value(o->domain)))
    return sio__fail(SIO_EINVAL, "cookie %s holds ';' or a control character",
                     o->path && !is_attr_value(o->path) ? "path" : "domain");
  sio_sbuf_t head = SIO_SBUF_INIT, tail = SIO_SBUF_INIT;
  sio_sbuf_append_str(&head, "Set-Cookie: ");
  sio_sbuf_append_str(&head, o->name);
  sio_sbuf_append_char(&head, '=');
  if (o->max_age_s) {
    sio_sbuf_append_str(&tail, "; Max-Age=");
    sio_sbuf_append_u64(&tail, o->max_age_s);
  }
  if (o->domain) {
    sio_sbuf_append_str(&tail, "; Domain=");
    sio_sbuf_append_str(&tail, o->domain);
  }
  if (o->path) {
    sio_sbuf_append_str(&tail, "; Path=");
    sio_sbuf_append_str(&tail, o->path);
  }
  if (o->http_only) sio_sbuf_append_str(&tail, "; HttpOnly");
  if (o->secure) sio_sbuf_append_str(&tail, "; Secure");
  if (same_site) {
    sio_sbuf_append_str(&tail, "; SameSite=");
    sio_sbuf_append_str(&tail, same_site);
  }
  sio_sbuf_append_str(&tail, "\r\n");
  if (sio_sbuf_append_char(&head, '\0') != 0 || sio_sbuf_append_char(&tail, '\0') != 0) {
    sio_sbuf_free(&head);
    sio_sbuf_free(&tail);
    return SIO_ENOMEM;
  }
  e->cookie_head = sio_sbuf_steal(&head, NULL);
  e->cookie_tail = sio_sbuf_steal(&tail, NULL);
  return 0;
}

int sio_engine_new(sio_server_t *server, const sio_engine_options_t *opts,
                   const sio_engine_callbacks_t *cbs, sio_engine_t **out) {
  sio__error_clear();
  if (!server || !out) return SIO_EINVAL;
  sio_engine_t *e = calloc(1, sizeof *e);
  if (!e) return SIO_ENOMEM;
  e->server = server;
  sio_engine_options_init(&e->opts);
  if (opts && SIO_TAKE_OPTIONS(&e->opts, opts, "sio_engine_options")) {
    free(e);
    return SIO_EINVAL;
  }
  if (cbs) e->cbs = *cbs;
  sio_engine_options_t d;
  sio_engine_options_init(&d);
  if (!e->opts.path) e->opts.path = d.path;
  if (!e->opts.max_payload) e->opts.max_payload = d.max_payload;
  if (!e->opts.transports) e->opts.transports = d.transports;
  if (!e->opts.upgrade_timeout_ms) e->opts.upgrade_timeout_ms = d.upgrade_timeout_ms;
  if (!e->opts.max_buffered) e->opts.max_buffered = 4 * e->opts.max_payload + (1u << 20);
  if (e->opts.http_compression >= 0)
    e->compress_threshold = e->opts.http_compression_threshold ? e->opts.http_compression_threshold : 1024;
  /* The path always begins and ends with '/'. */
  size_t plen = strlen(e->opts.path);
  e->path = malloc(plen + 3);
  if (!e->path) {
    free(e);
    return SIO_ENOMEM;
  }
  char *p = e->path;
  if (e->opts.path[0] != '/') *p++ = '/';
  memcpy(p, e->opts.path, plen);
  p += plen;
  if (p[-1] != '/') *p++ = '/';
  *p = '\0';
  e->opts.path = e->path;
  if (e->opts.cors_origin) e->cors_origin = strdup(e->opts.cors_origin);
  e->opts.cors_origin = e->cors_origin;
  int r = e->opts.cookie.name ? cookie_init(e) : 0;
  /* Kept only as the built line: the caller's strings are not ours to keep. */
  memset(&e->opts.cookie, 0, sizeof e->opts.cookie);
  if (r) {
    on_free(&e->route);
    return r;
  }
  int ok = 1;
  for (int i = 0; i < 7; i++) {
    char t[2] = {(char)('0' + i), '\0'};
    e->ctl[i] = make_text_frame(t);
    ok = ok && e->ctl[i];
  }
  e->probe_frame = make_text_frame("3probe");
  ok = ok && e->probe_frame;
  e->hb_timer = malloc(sizeof *e->hb_timer);
  if (e->hb_timer) {
    uv_timer_init(sio_server_loop(server), e->hb_timer);
    e->hb_timer->data = e;
  }
  ok = ok && e->hb_timer;
  e->route.path = e->path;
  e->route.path_len = strlen(e->path);
  e->route.on_request = on_request;
  e->route.on_upgrade = on_upgrade;
  e->route.on_server_close = on_server_close;
  e->route.on_check = on_check;
  e->route.on_free = on_free;
  r = ok ? sio_server_add_route(server, &e->route) : SIO_ENOMEM;
  if (r) {
    on_free(&e->route);
    return r;
  }
  sio_server_set_max_body(server, e->opts.max_payload);
  *out = e;
  return 0;
}

/* ---------------------------------------------------------------------------------------------- */
/* Sending and closing                                                                             */

int sio__session_send_msg(sio_session_t *s, sio_msg_t *msg) {
  if (s->state != ST_OPEN) return SIO_ECLOSED;
  return session_send(s, SIO_EIO_MESSAGE, msg);
}

int sio__session_deliver(sio_session_t *s, sio_msg_t *msg) {
  if (s->state != ST_OPEN) return SIO_ECLOSED;
  if (s->transport != SIO_TRANSPORT_WEBSOCKET) return session_send(s, SIO_EIO_MESSAGE, msg);
  return ws_send_message(s, msg);
}

/* A MESSAGE on a WebSocket session: its frame, shared by every recipient (session_send's path
 * too). Inline in sio__session_deliver, where it is most of a broadcast's per-recipient work. */
static inline int ws_send_message(sio_session_t *s, sio_msg_t *msg) {
  int r = ws_admit(s, msg->len);
  if (r) return r;
  frame_view_t f;
  r = msg_frame(msg, s->protocol, s->b64, &f);
  if (r) return r;
  int own = s->conn->ws.pmd.on &&
            msg_deflate(s->engine, msg, msg_slot(msg, s->protocol, s->b64), s->conn->ws.pmd.server_bits, &f);
  r = sio_conn_write_rb(s->conn, f.rb, f.p, f.len);
  if (own) sio_rbuf_unref(f.rb); /* the write queue holds its own reference */
  return r;
}

int sio_session_send_msg(sio_session_t *s, sio_msg_t *msg) {
  sio__error_clear();
  if (!msg) return SIO_EINVAL;
  return sio__session_send_msg(s, msg);
}

int sio_session_send(sio_session_t *s, const void *data, size_t len, int binary) {
  sio__error_clear();
  if (s->state != ST_OPEN) return SIO_ECLOSED;
  sio_msg_t *m = sio_msg_new(data, len, binary);
  if (!m) return SIO_ENOMEM;
  int r = session_send(s, SIO_EIO_MESSAGE, m);
  sio_msg_unref(m);
  return r;
}

int sio_session_writable(const sio_session_t *s) {
  if (s->state != ST_OPEN || !s->conn) return 0;
  if (s->transport == SIO_TRANSPORT_POLLING) return 1;
  return s->conn->inflight_bytes == 0;
}

void sio_session_close(sio_session_t *s) { session_close(s, "forced close", CLOSE_FORCED); }

void sio__engine_serve_client(sio_engine_t *e, char *dir) {
  free(e->client_dir);
  e->client_dir = dir;
}

void sio__engine_on_free(sio_engine_t *e, void (*fn)(void *arg), void *arg) {
  e->free_hook = fn;
  e->free_hook_arg = arg;
}

void sio__session_hold(sio_session_t *s, uint32_t ms) {
  if (s->state == ST_OPEN && s->transport == SIO_TRANSPORT_WEBSOCKET && s->conn)
    sio_conn_hold(s->conn, ms);
}

/* ---------------------------------------------------------------------------------------------- */
/* Metrics                                                                                         */

void sio__engine_stats(const sio_engine_t *e, sio_stats_t *out) {
  for (size_t i = 0; i < e->nbuckets; i++)
    for (const sio_session_t *s = e->buckets[i]; s; s = s->hnext)
      if (s->state == ST_OPEN) out->sessions[s->transport - 1][s->protocol == 4]++;
  out->handshakes += e->st.handshakes;
  for (int i = 0; i < 6; i++) out->refused[i] += e->st.refused[i];
  out->upgrades += e->st.upgrades;
  out->max_buffered_closes += e->st.max_buffered_closes;
  for (int t = 0; t < 2; t++) {
    out->packets_in[t] += e->st.packets_in[t];
    out->packets_out[t] += e->st.packets_out[t];
    out->bytes_in[t] += e->st.bytes_in[t];
    out->bytes_out[t] += e->st.bytes_out[t];
  }
}
