/* sio-loadgen: a Socket.IO load generator (see bench/README.md).
 *
 * One thread, one libuv loop. Every connection gets its read buffer and two write buffers when it
 * is created; in steady state nothing is allocated. A message to send is built (and masked) into
 * the connection's collecting write buffer; buffers are flushed once per loop iteration (uv_check):
 * uv_try_write first, one uv_write for the rest, while the other buffer collects. The request of
 * the next operation is built at flush time, so its timestamp is taken right before the write.
 *
 * Client side of: HTTP/1.1 (upgrade, keep-alive polling), WebSocket (masked frames, optionally
 * permessage-deflate), Engine.IO v4 (WebSocket and long-polling), Socket.IO v5 (CONNECT, EVENT with
 * ack, BINARY_EVENT), each optionally over TLS (OpenSSL with memory BIOs: libuv moves the
 * ciphertext, the protocol code above sees plaintext only). */
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <uv.h>
#include <zlib.h>

#include "bench_util.h"

#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24
#endif

enum { SC_CONNECT, SC_ECHO, SC_FANOUT, SC_POLLING, SC_BINARY };
static const char *const scenario_names[] = {"connect", "echo", "fanout", "polling", "binary"};

/* Connection roles and states. */
enum { R_WS, R_SENDER, R_RECEIVER, R_GET, R_POST };
enum { S_TCP, S_UPGRADE, S_EIO_OPEN, S_SIO_CONNECT, S_READY, S_CLOSED };
/* Polling client states. */
enum { CL_TCP, CL_HANDSHAKE, CL_CONNECT, CL_READY, CL_FAILED };
/* Run phases. */
enum { P_SETUP, P_TOUCH, P_WARMUP, P_MEASURE, P_HOLD, P_DONE };

#define MAXSEG 8
#define MAX_SRC 256
#define MAX_LOGGED_ERRORS 10
/* The key of RFC 6455's example, whose accept value is known: every upgrade is checked against it
 * without computing SHA-1. */
#define WS_KEY "dGhlIHNhbXBsZSBub25jZQ=="
#define WS_ACCEPT "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="

typedef struct obuf {
  char *base;
  size_t len, cap;
  uv_buf_t seg[MAXSEG]; /* what is to be written: pieces of base, or of a shared frame */
  unsigned nseg;
} obuf_t;

struct client;

typedef struct conn {
  uv_tcp_t tcp;
  uv_connect_t creq;
  uv_write_t wreq;
  struct client *cl; /* polling: the client this is the GET or POST connection of */
  int role, state;
  int inited; /* the uv_tcp_t exists */
  int closed;
  char *rbuf;
  size_t rlen, rcap;
  obuf_t ob[2]; /* ob[cur] collects; ob[cur ^ 1] may be in a uv_write */
  int cur, inflight, dirty;
  int want_op;       /* build the next operation's request at the next flush */
  int op_out;        /* an operation is outstanding */
  int await_bin;     /* binary: the BINARY_ACK came, its attachment has not */
  uint64_t ack_id;
  uint64_t op_start; /* ns */
  uint64_t rx_seq;   /* fanout receiver: broadcasts received */
  uint32_t rng;
  /* TLS (--tls): the session, its memory BIOs, the ciphertext being written */
  SSL *ssl;
  BIO *rbio, *wbio;
  char *tout;
  size_t tout_cap;
  int hs_done;
  /* permessage-deflate (--deflate), as the server's answer negotiated it */
  int pmd;          /* negotiated */
  int pmd_reset;    /* server_no_context_takeover: every message starts a fresh inflate */
  int pmd_compress; /* our messages may be compressed (our shared stream's 15-bit window is allowed) */
  z_stream *inf;    /* the server's messages' inflate stream, made by the first compressed one */
} conn_t;

typedef struct client {
  conn_t get, post;
  int state;
  int tcp_up;
  int post_inflight;
  int want_op, op_out;
  uint64_t ack_id, op_start;
  char sid[64];
  char *get_req; /* the long-poll request, built once the sid is known */
  size_t get_req_len;
  char *postq; /* packets for the next POST, \x1e-separated */
  size_t postq_len, postq_cap;
} client_t;

static struct {
  int scenario;
  const char *host;
  int port;
  int receivers_port; /* fanout: the receivers connect here (another cluster node); -1: --port */
  const char *path;
  long connections, concurrency, payload, receivers, window;
  double duration, warmup;
  int server_pid;
  struct sockaddr_in src[MAX_SRC];
  int nsrc;
  int raw;
  int tls;
  const char *ca;
  int deflate;
  long deflate_threshold;
  int chat;
  int touch;
} opt;

static uv_loop_t *loop;
static uv_check_t flusher;
static uv_timer_t phase_timer, hard_timer;
static struct sockaddr_in target;
static struct sockaddr_in receivers_target; /* --receivers-port: where fanout receivers connect */
static char hostport[300];

static conn_t *conns;   /* WebSocket scenarios */
static size_t nconns;
static client_t *clients; /* polling */
static size_t nclients;
static size_t units;      /* what the setup establishes: conns or clients */
static size_t next_unit, setup_done, setup_ok, in_flight;

static conn_t **dirty;
static size_t ndirty, dirty_cap;

static int phase = P_SETUP;
static int stopping;
static int exit_code;

static char *payload;       /* --payload bytes of text ('a'..'z') or, for binary, of bytes */
static char *scratch;       /* where one message is built before it is masked into a buffer */
static size_t scratch_cap;
static uint8_t *bin_frame;  /* binary: the attachment's whole masked client frame, shared */
static size_t bin_frame_len;
static size_t echo_reply_len; /* `3<id>["<payload>"]` (an ack after the Engine.IO type) is 1 + digits + this */

/* Statistics. */
static hist_t hist;
static uint64_t ops, bytes_acked, errors, total_errors_logged;
static uint64_t t_start, t_end; /* measured window, ns */
static double srv_cpu0 = -1, srv_cpu1 = -1, self_cpu0, self_cpu1;
static long rss_before = -1, rss_after = -1;
static int measuring;
static uint64_t rx_wire, rx_msgs, rx_msg_bytes; /* TCP bytes read, messages and their (inflated) bytes */

/* TLS and permessage-deflate */
static SSL_CTX *tls_ctx;
static char tls_rx[65536];      /* ciphertext just read: BIO_write() takes it at once */
static z_stream deflater;       /* our messages: one stream for all, reset after each (no context takeover) */
static int deflater_ready;
static char *zbuf;              /* a message inflated, or one of ours compressed */
static size_t zbuf_cap;
#define ZBUF_MAX ((size_t)64 << 20)
static const uint8_t pmd_tail[4] = {0x00, 0x00, 0xff, 0xff};

/* Messages compressed without context takeover inflate the same whatever the connection: the last
 * few are kept (compressed and inflated), so that a broadcast's one shared frame is inflated once,
 * not once per receiver. Else the load generator's zlib, not the server, would bound deflate-fanout. */
#define PMD_CACHE 8
static struct {
  char *in, *out;
  size_t in_len, out_len, in_cap, out_cap;
} pmd_cache[PMD_CACHE];
static unsigned pmd_cache_next;
static uint64_t pmd_cache_hits, pmd_inflates;

/* --chat: realistic chat messages (JSON objects) that the fanout sender cycles through */
#define CHAT_VARIANTS 64
static char *chat_msg[CHAT_VARIANTS];
static size_t chat_len[CHAT_VARIANTS];
static size_t touched;

/* Fanout. */
static conn_t *sender;
static size_t alive_receivers;
static uint64_t fan_sent, fan_done;
static size_t *fan_count; /* deliveries of each broadcast in flight, by sequence % window */
/* The send stamp of each broadcast in flight, by sequence % window: a receiver's n-th delivery
 * must carry broadcast n's stamp (one sender: every receiver gets them in order, exactly once).
 * A later stamp means broadcasts were lost; an earlier one, or one past those sent, a duplicate. */
static uint64_t *fan_ts;
static uint64_t fan_lost, fan_dup;

static void finish(int timed_out);
static void flush(conn_t *c);
static void touch_settled(void);

/* ------------------------------------------------------------------ utilities */

static void usage(const char *msg) {
  if (msg) fprintf(stderr, "sio-loadgen: %s\n", msg);
  fprintf(stderr,
          "usage: sio-loadgen --scenario connect|echo|fanout|polling|binary --port P [--host 127.0.0.1]\n"
          "                   [--path /socket.io/] [--connections N] [--concurrency K] [--duration SECONDS]\n"
          "                   [--warmup SECONDS] [--payload BYTES] [--receivers N] [--window W] [--server-pid PID]\n"
          "                   [--source-addrs 127.0.0.1,127.0.0.2,...] [--raw] [--tls [--ca FILE]]\n"
          "                   [--deflate [--deflate-threshold BYTES]] [--chat] [--touch]\n"
          "                   [--receivers-port P2] (fanout: receivers on another node of a cluster)\n");
  exit(2);
}

static void log_error(const char *fmt, ...) {
  errors++;
  if (total_errors_logged++ >= MAX_LOGGED_ERRORS) {
    if (total_errors_logged == MAX_LOGGED_ERRORS + 1) fprintf(stderr, "loadgen: (further errors not shown)\n");
    return;
  }
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, "loadgen: error: ");
  vfprintf(stderr, fmt, ap);
  fprintf(stderr, "\n");
  va_end(ap);
}

static uint32_t xorshift(uint32_t *s) {
  uint32_t x = *s;
  x ^= x << 13;
  x ^= x >> 17;
  x ^= x << 5;
  return *s = x;
}

static size_t put_u64(char *out, uint64_t v) {
  char tmp[24];
  size_t n = 0;
  do {
    tmp[n++] = (char)('0' + v % 10);
    v /= 10;
  } while (v);
  for (size_t i = 0; i < n; i++) out[i] = tmp[n - 1 - i];
  return n;
}

static size_t digits(uint64_t v) {
  size_t n = 1;
  while (v >= 10) {
    v /= 10;
    n++;
  }
  return n;
}

/* Parses decimal digits at p (at most n bytes); *used gets how many. */
static uint64_t get_u64(const char *p, size_t n, size_t *used) {
  uint64_t v = 0;
  size_t i = 0;
  while (i < n && i < 19 && p[i] >= '0' && p[i] <= '9') v = v * 10 + (uint64_t)(p[i++] - '0');
  *used = i;
  return v;
}

static int starts(const char *p, size_t n, const char *lit) {
  size_t l = strlen(lit);
  return n >= l && memcmp(p, lit, l) == 0;
}

/* ------------------------------------------------------------------ writing */

static void mark_dirty(conn_t *c) {
  if (c->dirty || c->closed) return;
  if (ndirty == dirty_cap) { /* cannot happen with the capacity chosen, but stay correct */
    c->dirty = 1;
    flush(c);
    c->dirty = 0;
    return;
  }
  c->dirty = 1;
  dirty[ndirty++] = c;
}

static void conn_fail(conn_t *c, const char *what, int err);

/* conn_fail() with a formatted message. */
static void conn_failf(conn_t *c, const char *fmt, ...) {
  char msg[256];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  conn_fail(c, msg, 0);
}

/* Reserves n bytes at the end of the collecting buffer; NULL (and the connection failed) when full. */
static char *out_reserve(conn_t *c, size_t n) {
  obuf_t *b = &c->ob[c->cur];
  if (b->cap - b->len < n || b->nseg == MAXSEG) {
    conn_fail(c, "write buffer full", 0);
    return NULL;
  }
  return b->base + b->len;
}

/* Commits n bytes written at out_reserve()'s pointer. */
static void out_commit(conn_t *c, size_t n) {
  obuf_t *b = &c->ob[c->cur];
  char *p = b->base + b->len;
  if (b->nseg && b->seg[b->nseg - 1].base + b->seg[b->nseg - 1].len == p)
    b->seg[b->nseg - 1].len += n;
  else
    b->seg[b->nseg++] = uv_buf_init(p, (unsigned)n);
  b->len += n;
  mark_dirty(c);
}

static int out_append(conn_t *c, const void *data, size_t n) {
  char *p = out_reserve(c, n);
  if (!p) return -1;
  memcpy(p, data, n);
  out_commit(c, n);
  return 0;
}

/* Queues bytes that outlive the write (the shared binary frame) without copying them. */
static int out_shared(conn_t *c, const void *data, size_t n) {
  obuf_t *b = &c->ob[c->cur];
  if (b->nseg == MAXSEG) {
    conn_fail(c, "write segments full", 0);
    return -1;
  }
  b->seg[b->nseg++] = uv_buf_init((char *)data, (unsigned)n);
  mark_dirty(c);
  return 0;
}

/* Makes zbuf hold at least `need` bytes; -1 past ZBUF_MAX. */
static int zbuf_reserve(size_t need) {
  if (need <= zbuf_cap) return 0;
  if (need > ZBUF_MAX) return -1;
  size_t cap = zbuf_cap ? zbuf_cap : 65536;
  while (cap < need) cap *= 2;
  char *p = realloc(zbuf, cap);
  if (!p) return -1;
  zbuf = p;
  zbuf_cap = cap;
  return 0;
}

/* Compresses one message into zbuf as permessage-deflate sends it (raw deflate, sync flush, the
 * trailing 00 00 ff ff removed); its length, or 0 on failure. The stream is reset afterwards, so
 * every message stands alone: allowed whatever the server said about client_no_context_takeover,
 * and it costs the load generator one zlib stream in all rather than one per connection. */
static size_t pmd_deflate(const char *data, size_t n) {
  if (!deflater_ready) {
    if (deflateInit2(&deflater, Z_DEFAULT_COMPRESSION, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY) != Z_OK) return 0;
    deflater_ready = 1;
  }
  if (zbuf_reserve(deflateBound(&deflater, n) + 16) != 0) return 0;
  deflater.next_in = (Bytef *)data;
  deflater.avail_in = (uInt)n;
  deflater.next_out = (Bytef *)zbuf;
  deflater.avail_out = (uInt)zbuf_cap;
  int r = deflate(&deflater, Z_SYNC_FLUSH);
  size_t out = zbuf_cap - deflater.avail_out;
  deflateReset(&deflater);
  if (r != Z_OK || deflater.avail_in || out < 4 || memcmp(zbuf + out - 4, pmd_tail, 4) != 0) return 0;
  return out - 4;
}

/* A client frame: header, fresh mask, payload masked while copied. A text message at or above
 * the threshold goes compressed (RSV1) when permessage-deflate was negotiated. */
static int ws_send(conn_t *c, int opcode, const char *data, size_t n) {
  uint8_t b0 = (uint8_t)(0x80 | opcode);
  if (c->pmd_compress && opcode == WS_TEXT && n >= (size_t)opt.deflate_threshold) {
    size_t z = pmd_deflate(data, n);
    if (!z) {
      conn_fail(c, "deflate failed", 0);
      return -1;
    }
    data = zbuf;
    n = z;
    b0 |= 0x40;
  }
  uint8_t *p = (uint8_t *)out_reserve(c, n + 14);
  if (!p) return -1;
  uint32_t m = xorshift(&c->rng);
  uint8_t mask[4];
  memcpy(mask, &m, 4);
  size_t h = wsf_header(p, b0, n, mask);
  ws_mask_copy(p + h, (const uint8_t *)data, n, mask, 0);
  out_commit(c, h + n);
  return 0;
}

static int ws_send_str(conn_t *c, const char *s) { return ws_send(c, WS_TEXT, s, strlen(s)); }

static void on_write(uv_write_t *req, int status) {
  conn_t *c = req->data;
  if (c->ssl) { /* the ciphertext buffer was written; the plaintext buffers were free already */
    c->inflight = 0;
    if (status < 0) {
      if (status != UV_ECANCELED) conn_fail(c, "write", status);
      return;
    }
    mark_dirty(c);
    return;
  }
  obuf_t *done = &c->ob[c->cur ^ 1];
  c->inflight = 0;
  done->len = 0;
  done->nseg = 0;
  if (status < 0) {
    if (status != UV_ECANCELED) conn_fail(c, "write", status);
    return;
  }
  mark_dirty(c);
}

/* ------------------------------------------------------------------ operations */

/* Builds the request of the next operation of c (at flush time, so the stamp is the send time). */
static void build_ws_op(conn_t *c) {
  uint64_t now = uv_hrtime();
  if (c->role == R_SENDER) {
    /* as many broadcasts as the window allows, each stamped with its send time */
    while (fan_sent - fan_done < (uint64_t)opt.window && alive_receivers > 0) {
      char *s = scratch;
      size_t n = 0;
      memcpy(s, "42[\"broadcast\",\"", 16);
      n = 16;
      static const char hex[] = "0123456789abcdef";
      uint64_t ts = uv_hrtime();
      if (fan_sent > 0 && ts <= fan_ts[(fan_sent - 1) % (uint64_t)opt.window])
        ts = fan_ts[(fan_sent - 1) % (uint64_t)opt.window] + 1; /* stamps strictly increase */
      fan_ts[fan_sent % (uint64_t)opt.window] = ts;
      for (int i = 0; i < 16; i++) s[n + (size_t)i] = hex[(ts >> (60 - 4 * i)) & 15];
      if (opt.chat) { /* the stamp alone, then the chat message as a second argument */
        n += 16;
        s[n++] = '"';
        s[n++] = ',';
        size_t k = (size_t)(fan_sent % CHAT_VARIANTS);
        memcpy(s + n, chat_msg[k], chat_len[k]);
        n += chat_len[k];
      } else {
        memcpy(s + n + 16, payload, (size_t)opt.payload - 16);
        n += (size_t)opt.payload;
        s[n++] = '"';
      }
      s[n++] = ']';
      if (ws_send(c, WS_TEXT, s, n) != 0) return;
      fan_sent++;
    }
    return;
  }
  char *s = scratch;
  size_t n;
  c->ack_id++;
  if (opt.scenario == SC_BINARY) {
    memcpy(s, "451-", 4);
    n = 4 + put_u64(s + 4, c->ack_id);
    static const char rest[] = "[\"echo\",{\"_placeholder\":true,\"num\":0}]";
    memcpy(s + n, rest, sizeof rest - 1);
    n += sizeof rest - 1;
    if (ws_send(c, WS_TEXT, s, n) != 0) return;
    if (out_shared(c, bin_frame, bin_frame_len) != 0) return;
    c->await_bin = 0;
  } else {
    s[0] = '4';
    s[1] = '2';
    n = 2 + put_u64(s + 2, c->ack_id);
    memcpy(s + n, "[\"echo\",\"", 9);
    n += 9;
    memcpy(s + n, payload, (size_t)opt.payload);
    n += (size_t)opt.payload;
    s[n++] = '"';
    s[n++] = ']';
    if (ws_send(c, WS_TEXT, s, n) != 0) return;
  }
  c->op_out = 1;
  c->op_start = now;
}

static void op_done(uint64_t start, uint64_t now, size_t bytes) {
  if (!measuring) return;
  ops++;
  bytes_acked += bytes;
  hist_add(&hist, now > start ? now - start : 0);
}

/* An echo/binary operation of a WebSocket connection completed: the next one goes out at the
 * next flush. */
static void ws_op_complete(conn_t *c, uint64_t now) {
  op_done(c->op_start, now, opt.scenario == SC_BINARY ? (size_t)opt.payload : 0);
  c->op_out = 0;
  if (phase == P_TOUCH) {
    touch_settled();
    return;
  }
  if (phase == P_WARMUP || phase == P_MEASURE) {
    c->want_op = 1;
    mark_dirty(c);
  }
}

/* Checks a receiver's next delivery (stamp ts) against the broadcasts sent: 0 for a duplicate
 * (not counted); a gap (lost broadcasts) is counted, and those broadcasts are taken as delivered
 * so that the window moves on. */
static int fanout_in_order(conn_t *c, uint64_t ts) {
  uint64_t w = (uint64_t)opt.window;
  if (c->rx_seq >= fan_sent || ts < fan_ts[c->rx_seq % w]) {
    fan_dup++;
    return 0;
  }
  while (c->rx_seq + 1 < fan_sent && ts > fan_ts[c->rx_seq % w]) {
    fan_lost++;
    fan_count[c->rx_seq++ % w]++;
  }
  if (ts != fan_ts[c->rx_seq % w]) { /* a stamp no broadcast carried */
    fan_dup++;
    return 0;
  }
  return 1;
}

static void fanout_check_done(void) {
  int advanced = 0;
  while (fan_done < fan_sent && fan_count[fan_done % (uint64_t)opt.window] >= alive_receivers) {
    fan_count[fan_done % (uint64_t)opt.window] = 0;
    fan_done++;
    advanced = 1;
  }
  if (advanced && sender && !sender->closed && (phase == P_WARMUP || phase == P_MEASURE)) {
    sender->want_op = 1;
    mark_dirty(sender);
  }
}

/* ------------------------------------------------------------------ flushing */

static void build_poll_post(client_t *cl);

/* Fails c with OpenSSL's reason for the last error. */
static void tls_fail(conn_t *c, const char *what) {
  char msg[256];
  unsigned long e = ERR_get_error();
  ERR_clear_error();
  snprintf(msg, sizeof msg, "TLS %s: %s", what, e ? ERR_reason_error_string(e) : "failed");
  conn_fail(c, msg, 0);
}

/* TLS: the collected plaintext goes through SSL_write (it copies: the buffer is free at once),
 * then whatever ciphertext the session produced (handshake records too) is written. */
static void tls_flush(conn_t *c) {
  obuf_t *b = &c->ob[c->cur];
  if (c->hs_done) {
    for (unsigned i = 0; i < b->nseg; i++) {
      if (!b->seg[i].len) continue;
      if (SSL_write(c->ssl, b->seg[i].base, (int)b->seg[i].len) <= 0) {
        tls_fail(c, "write");
        return;
      }
    }
    b->nseg = 0;
    b->len = 0;
  }
  size_t pend = BIO_ctrl_pending(c->wbio);
  if (!pend) return;
  if (pend > c->tout_cap) {
    char *p = realloc(c->tout, pend);
    if (!p) {
      conn_fail(c, "out of memory", 0);
      return;
    }
    c->tout = p;
    c->tout_cap = pend;
  }
  int got = BIO_read(c->wbio, c->tout, (int)pend);
  if (got <= 0) return;
  uv_buf_t buf = uv_buf_init(c->tout, (unsigned)got);
  int r = uv_try_write((uv_stream_t *)&c->tcp, &buf, 1);
  if (r == UV_EAGAIN) r = 0;
  if (r < 0) {
    conn_fail(c, "write", r);
    return;
  }
  if (r == got) return;
  buf.base += r;
  buf.len -= (size_t)r;
  c->wreq.data = c;
  r = uv_write(&c->wreq, (uv_stream_t *)&c->tcp, &buf, 1, on_write);
  if (r != 0) {
    conn_fail(c, "write", r);
    return;
  }
  c->inflight = 1;
}

static void flush(conn_t *c) {
  if (c->closed || c->inflight) return;
  if (c->want_op && !stopping) {
    c->want_op = 0;
    build_ws_op(c);
    if (c->closed) return;
  }
  if (c->role == R_POST && !stopping) build_poll_post(c->cl);
  if (c->closed) return;
  if (c->ssl) {
    tls_flush(c);
    return;
  }
  obuf_t *b = &c->ob[c->cur];
  if (!b->nseg) return;
  int r = uv_try_write((uv_stream_t *)&c->tcp, b->seg, b->nseg);
  if (r == UV_EAGAIN) r = 0;
  if (r < 0) {
    conn_fail(c, "write", r);
    return;
  }
  size_t done = (size_t)r;
  unsigned i = 0;
  while (i < b->nseg && done >= b->seg[i].len) done -= b->seg[i++].len;
  if (i == b->nseg) {
    b->nseg = 0;
    b->len = 0;
    return;
  }
  b->seg[i].base += done;
  b->seg[i].len -= done;
  c->wreq.data = c;
  r = uv_write(&c->wreq, (uv_stream_t *)&c->tcp, b->seg + i, b->nseg - i, on_write);
  if (r != 0) {
    conn_fail(c, "write", r);
    return;
  }
  c->inflight = 1;
  c->cur ^= 1;
}

static void flush_dirty(void) {
  for (size_t i = 0; i < ndirty; i++) {
    conn_t *c = dirty[i];
    flush(c);
    c->dirty = 0;
  }
  ndirty = 0;
}

static void on_check(uv_check_t *h) { flush_dirty(); }

/* ------------------------------------------------------------------ setup */

static void start_unit(size_t i);
static void begin_run(void);
static void connect_phase_end(void);

/* One unit (connection, or polling client) finished its handshake, or failed it. */
static void unit_settled(int ok) {
  setup_done++;
  if (ok) setup_ok++;
  in_flight--;
  if (phase != P_SETUP || stopping) return;
  while (in_flight < (size_t)opt.concurrency && next_unit < units) {
    in_flight++;
    start_unit(next_unit++);
  }
  if (setup_done == units) {
    if (setup_ok == 0) {
      fprintf(stderr, "loadgen: no connection could be established\n");
      finish(0);
      return;
    }
    if (setup_ok < units) fprintf(stderr, "loadgen: %zu of %zu connections failed\n", units - setup_ok, units);
    if (opt.scenario == SC_CONNECT) connect_phase_end();
    else begin_run();
  }
}

static void client_fail(client_t *cl);

static void conn_close_handle(conn_t *c) {
  if (c->closed) return;
  c->closed = 1;
  c->state = S_CLOSED;
  if (c->inited) uv_close((uv_handle_t *)&c->tcp, NULL);
}

static void conn_fail(conn_t *c, const char *what, int err) {
  if (c->closed) return;
  if (!stopping) {
    if (err) log_error("connection %s: %s: %s", c->role == R_GET ? "GET" : c->role == R_POST ? "POST" : "ws",
                       what, uv_strerror(err));
    else log_error("connection: %s", what);
  }
  int was_ready = c->state == S_READY;
  int was_touching = phase == P_TOUCH && was_ready && c->op_out;
  conn_close_handle(c);
  if (stopping) return;
  if (was_touching) touch_settled();
  if (c->cl) {
    client_fail(c->cl);
    return;
  }
  if (!was_ready && phase == P_SETUP) unit_settled(0);
  if (c->role == R_RECEIVER && was_ready) {
    alive_receivers--;
    fanout_check_done();
  }
}

static void client_fail(client_t *cl) {
  int was = cl->state;
  if (was == CL_FAILED) return;
  cl->state = CL_FAILED;
  conn_close_handle(&cl->get);
  conn_close_handle(&cl->post);
  if (was != CL_READY && phase == P_SETUP) unit_settled(0);
}

/* ------------------------------------------------------------------ reading: WebSocket */

static void ws_ready(conn_t *c, uint64_t now) {
  c->state = S_READY;
  if (opt.scenario == SC_CONNECT) op_done(c->op_start, now, 0);
  if (c->role == R_RECEIVER) alive_receivers++;
  unit_settled(1);
}

static void on_sio_packet(conn_t *c, const char *p, size_t n, uint64_t now) {
  if (n < 1) goto bad;
  switch (p[0]) {
  case '0': /* CONNECT */
    if (c->state != S_SIO_CONNECT) goto bad;
    ws_ready(c, now);
    return;
  case '1':
    conn_fail(c, "DISCONNECT from the server", 0);
    return;
  case '4':
    conn_failf(c, "CONNECT_ERROR: %.*s", (int)(n > 200 ? 200 : n), p);
    return;
  case '2': /* EVENT */
    if (c->role == R_RECEIVER && starts(p, n, "2[\"broadcast\",\"")) {
      if (n < 15 + 16) goto bad;
      uint64_t ts = 0;
      for (int i = 0; i < 16; i++) {
        char h = p[15 + i];
        ts = (ts << 4) | (uint64_t)(h <= '9' ? h - '0' : h - 'a' + 10);
      }
      if (!fanout_in_order(c, ts)) return;
      op_done(ts, now, 0);
      fan_count[c->rx_seq++ % (uint64_t)opt.window]++;
      fanout_check_done();
    }
    /* `auth` after the connect, and the sender's own copies of its broadcasts */
    return;
  case '3': { /* ACK */
    size_t used;
    uint64_t id = get_u64(p + 1, n - 1, &used);
    if (!used || !c->op_out || id != c->ack_id) goto bad;
    if (n != 1 + used + echo_reply_len) {
      log_error("ack of unexpected length %zu: %.*s", n, (int)(n > 100 ? 100 : n), p);
    }
    ws_op_complete(c, now);
    return;
  }
  case '6': { /* BINARY_ACK */
    if (!starts(p, n, "61-")) goto bad;
    size_t used;
    uint64_t id = get_u64(p + 3, n - 3, &used);
    if (!used || !c->op_out || id != c->ack_id || c->await_bin) goto bad;
    c->await_bin = 1;
    return;
  }
  default:
    goto bad;
  }
bad:
  log_error("unexpected packet: 4%.*s", (int)(n > 100 ? 100 : n), p);
}

static void on_ws_text(conn_t *c, const char *p, size_t n, uint64_t now) {
  if (opt.raw) {
    if (!c->op_out) {
      log_error("unexpected message from the raw server");
      return;
    }
    /* the request itself: 42<id>["echo","<payload>"] */
    if (n != 13 + digits(c->ack_id) + (size_t)opt.payload) log_error("raw echo of unexpected length %zu", n);
    ws_op_complete(c, now);
    return;
  }
  if (n < 1) {
    log_error("empty Engine.IO packet");
    return;
  }
  if (c->state == S_EIO_OPEN) {
    if (p[0] != '0') {
      conn_fail(c, "no Engine.IO OPEN packet", 0);
      return;
    }
    c->state = S_SIO_CONNECT;
    ws_send_str(c, "40");
    return;
  }
  switch (p[0]) {
  case '4': on_sio_packet(c, p + 1, n - 1, now); return;
  case '2': ws_send_str(c, "3"); return; /* ping */
  case '6': return;                       /* noop */
  case '1': conn_fail(c, "Engine.IO CLOSE from the server", 0); return;
  default: log_error("unexpected Engine.IO packet %.*s", (int)(n > 100 ? 100 : n), p);
  }
}

static void on_ws_binary(conn_t *c, const char *p, size_t n, uint64_t now) {
  if (opt.raw || opt.scenario != SC_BINARY || !c->await_bin) {
    log_error("unexpected binary message of %zu bytes", n);
    return;
  }
  if (n != (size_t)opt.payload || (n && (p[0] != payload[0] || p[n - 1] != payload[n - 1]))) {
    log_error("binary attachment of %zu bytes differs from what was sent", n);
  }
  c->await_bin = 0;
  ws_op_complete(c, now);
}

/* The value of header `name` ("name:", any case) in an HTTP head of n bytes; NULL when absent. */
static const char *header_value(const char *head, size_t n, const char *name, size_t *vlen) {
  size_t nl = strlen(name);
  const char *end = head + n;
  for (const char *line = memchr(head, '\n', n); line && ++line < end; line = memchr(line, '\n', (size_t)(end - line))) {
    if ((size_t)(end - line) <= nl || strncasecmp(line, name, nl) != 0) continue;
    const char *v = line + nl;
    while (v < end && (*v == ' ' || *v == '\t')) v++;
    const char *e = memchr(v, '\r', (size_t)(end - v));
    *vlen = (size_t)((e ? e : end) - v);
    return v;
  }
  return NULL;
}

/* What the server's Sec-WebSocket-Extensions says (--deflate offered permessage-deflate with
 * client_max_window_bits); 0, or -1 with c failed. */
static int pmd_negotiate(conn_t *c, const char *head, size_t n) {
  size_t el = 0;
  const char *ext = header_value(head, n, "sec-websocket-extensions:", &el);
  if (!opt.deflate) {
    if (ext && el) {
      conn_failf(c, "extension not offered in the answer: %.*s", (int)(el > 100 ? 100 : el), ext);
      return -1;
    }
    return 0;
  }
  if (!ext || !memmem(ext, el, "permessage-deflate", 18)) {
    conn_fail(c, "the server did not accept permessage-deflate", 0);
    return -1;
  }
  c->pmd = 1;
  c->pmd_reset = memmem(ext, el, "server_no_context_takeover", 26) != NULL;
  c->pmd_compress = 1;
  const char *w = memmem(ext, el, "client_max_window_bits", 22);
  if (w) { /* a window under 15 bits: our shared 15-bit stream may not be used, send uncompressed */
    const char *v = w + 22, *e = ext + el;
    while (v < e && (*v == ' ' || *v == '=' || *v == '"')) v++;
    if (v < e && *v >= '0' && *v <= '9' && atoi(v) < 15) c->pmd_compress = 0;
  }
  return 0;
}

/* Inflates one compressed message (its bytes, then the 00 00 ff ff that permessage-deflate
 * removed) into zbuf; its length, or -1 when it is not valid deflate data. The stream lives with
 * the connection unless the server resets its context with every message. */
static long pmd_inflate(conn_t *c, const char *in, size_t n) {
  if (!c->inf) {
    c->inf = calloc(1, sizeof *c->inf);
    if (!c->inf || inflateInit2(c->inf, -15) != Z_OK) {
      free(c->inf);
      c->inf = NULL;
      return -1;
    }
  }
  z_stream *z = c->inf;
  size_t got = 0;
  for (int part = 0; part < 2; part++) {
    z->next_in = part ? (Bytef *)pmd_tail : (Bytef *)in;
    z->avail_in = part ? 4u : (uInt)n;
    for (;;) {
      if (got == zbuf_cap && zbuf_reserve(got + 1) != 0) return -1;
      z->next_out = (Bytef *)zbuf + got;
      z->avail_out = (uInt)(zbuf_cap - got);
      int r = inflate(z, Z_SYNC_FLUSH);
      got = (size_t)((char *)z->next_out - zbuf);
      if (r == Z_STREAM_END) inflateReset(z); /* a final block: the next message starts afresh */
      else if (r != Z_OK && r != Z_BUF_ERROR) return -1;
      if (z->avail_out != 0 && (z->avail_in == 0 || r == Z_BUF_ERROR)) break;
    }
  }
  if (c->pmd_reset) inflateReset(z);
  return (long)got;
}

/* A cached inflation of these compressed bytes (stateless streams only), or NULL. */
static const char *pmd_cache_find(const char *in, size_t n, size_t *out_len) {
  for (unsigned i = 0; i < PMD_CACHE; i++)
    if (pmd_cache[i].in_len == n && pmd_cache[i].in && memcmp(pmd_cache[i].in, in, n) == 0) {
      *out_len = pmd_cache[i].out_len;
      return pmd_cache[i].out;
    }
  return NULL;
}

static char *grow_copy(char **buf, size_t *cap, const char *src, size_t n) {
  if (n > *cap) {
    char *p = realloc(*buf, n);
    if (!p) return NULL;
    *buf = p;
    *cap = n;
  }
  if (n) memcpy(*buf, src, n);
  return *buf;
}

static void pmd_cache_add(const char *in, size_t n, const char *out, size_t out_len) {
  unsigned i = pmd_cache_next++ % PMD_CACHE;
  if (!grow_copy(&pmd_cache[i].in, &pmd_cache[i].in_cap, in, n) ||
      !grow_copy(&pmd_cache[i].out, &pmd_cache[i].out_cap, out, out_len)) {
    pmd_cache[i].in_len = 0;
    return;
  }
  pmd_cache[i].in_len = n;
  pmd_cache[i].out_len = out_len;
}

static void ws_process(conn_t *c, uint64_t now) {
  size_t off = 0;
  if (c->state == S_UPGRADE) {
    char *end = memmem(c->rbuf, c->rlen, "\r\n\r\n", 4);
    if (!end) {
      if (c->rlen == c->rcap) conn_fail(c, "upgrade response too large", 0);
      return;
    }
    off = (size_t)(end + 4 - c->rbuf);
    if (!starts(c->rbuf, off, "HTTP/1.1 101")) {
      char *eol = memchr(c->rbuf, '\r', off);
      conn_failf(c, "upgrade refused: %.*s", (int)(eol ? eol - c->rbuf : 0), c->rbuf);
      return;
    }
    if (!memmem(c->rbuf, off, WS_ACCEPT, sizeof WS_ACCEPT - 1)) {
      conn_fail(c, "bad Sec-WebSocket-Accept", 0);
      return;
    }
    if (pmd_negotiate(c, c->rbuf, off) != 0) return;
    if (opt.raw) {
      c->state = S_READY;
      unit_settled(1);
    } else {
      c->state = S_EIO_OPEN;
    }
  }
  while (off < c->rlen && !c->closed) {
    wsf_t f;
    const uint8_t *p = (const uint8_t *)c->rbuf + off;
    int r = wsf_parse(p, c->rlen - off, &f);
    if (r == 0) break;
    if (r < 0 || f.masked || !f.fin || f.opcode == WS_CONT || (f.rsv1 && !c->pmd)) {
      conn_fail(c, "unexpected WebSocket frame (masked, fragmented, RSV1 without deflate, or malformed)", 0);
      return;
    }
    if (f.hlen + f.len > c->rcap) {
      conn_fail(c, "WebSocket message larger than the read buffer", 0);
      return;
    }
    if (c->rlen - off - f.hlen < f.len) break;
    const char *data = (const char *)p + f.hlen;
    size_t n = (size_t)f.len;
    off += f.hlen + n;
    if (f.rsv1) {
      size_t out_len;
      const char *hit = c->pmd_reset ? pmd_cache_find(data, n, &out_len) : NULL;
      if (hit) {
        pmd_cache_hits++;
        data = hit;
        n = out_len;
      } else {
        long z = pmd_inflate(c, data, n);
        if (z < 0) {
          conn_fail(c, "a compressed message does not inflate", 0);
          return;
        }
        pmd_inflates++;
        if (c->pmd_reset) pmd_cache_add(data, n, zbuf, (size_t)z);
        data = zbuf;
        n = (size_t)z;
      }
    }
    if (measuring && f.opcode <= WS_BINARY) {
      rx_msgs++;
      rx_msg_bytes += n;
    }
    switch (f.opcode) {
    case WS_TEXT: on_ws_text(c, data, n, now); break;
    case WS_BINARY: on_ws_binary(c, data, n, now); break;
    case WS_PING: ws_send(c, WS_PONG, data, n); break;
    case WS_PONG: break;
    case WS_CLOSE: conn_fail(c, "WebSocket CLOSE from the server", 0); return;
    }
  }
  if (c->closed) return;
  if (off) {
    memmove(c->rbuf, c->rbuf + off, c->rlen - off);
    c->rlen -= off;
  }
}

/* ------------------------------------------------------------------ reading: polling */

/* Finds one whole HTTP response at the start of c->rbuf: 1 (status, body and total length set),
 * 0 when incomplete, -1 when malformed. */
static int http_response(conn_t *c, int *status, const char **body, size_t *body_len, size_t *total) {
  char *end = memmem(c->rbuf, c->rlen, "\r\n\r\n", 4);
  if (!end) return c->rlen == c->rcap ? -1 : 0;
  size_t head = (size_t)(end + 4 - c->rbuf);
  if (head < 12 || memcmp(c->rbuf, "HTTP/1.", 7) != 0) return -1;
  *status = atoi(c->rbuf + 9);
  long cl = -1;
  const char *line = memchr(c->rbuf, '\n', head);
  while (line && line < end) {
    line++;
    if ((size_t)(end - line) > 15 && strncasecmp(line, "content-length:", 15) == 0) cl = atol(line + 15);
    else if ((size_t)(end - line) > 18 && strncasecmp(line, "transfer-encoding:", 18) == 0) return -1;
    line = memchr(line, '\n', (size_t)(end + 4 - line));
  }
  if (cl < 0) return -1;
  if (head + (size_t)cl > c->rcap) return -1;
  if (c->rlen < head + (size_t)cl) return 0;
  *body = c->rbuf + head;
  *body_len = (size_t)cl;
  *total = head + (size_t)cl;
  return 1;
}

static int postq_add(client_t *cl, const char *p, size_t n) {
  if (cl->postq_len + n + 1 > cl->postq_cap) {
    conn_fail(&cl->post, "POST queue full", 0);
    return -1;
  }
  if (cl->postq_len) cl->postq[cl->postq_len++] = 0x1e;
  memcpy(cl->postq + cl->postq_len, p, n);
  cl->postq_len += n;
  mark_dirty(&cl->post);
  return 0;
}

static void send_long_poll(client_t *cl) {
  if (!stopping && cl->state != CL_FAILED) out_append(&cl->get, cl->get_req, cl->get_req_len);
}

/* Builds a POST on the POST connection when none is in flight and something waits. */
static void build_poll_post(client_t *cl) {
  if (cl->post_inflight || cl->state < CL_CONNECT || cl->state == CL_FAILED) return;
  if (cl->want_op) {
    cl->want_op = 0;
    char *s = scratch;
    size_t n = 0;
    s[n++] = '4';
    s[n++] = '2';
    cl->ack_id++;
    n += put_u64(s + n, cl->ack_id);
    memcpy(s + n, "[\"echo\",\"", 9);
    n += 9;
    memcpy(s + n, payload, (size_t)opt.payload);
    n += (size_t)opt.payload;
    s[n++] = '"';
    s[n++] = ']';
    if (postq_add(cl, s, n) != 0) return;
    cl->op_out = 1;
    cl->op_start = uv_hrtime();
  }
  if (!cl->postq_len) return;
  conn_t *c = &cl->post;
  char *p = out_reserve(c, cl->postq_len + 600);
  if (!p) return;
  int h = snprintf(p, 600,
                   "POST %s?EIO=4&transport=polling&sid=%s HTTP/1.1\r\nHost: %s\r\n"
                   "Content-Type: text/plain;charset=UTF-8\r\nContent-Length: %zu\r\n\r\n",
                   opt.path, cl->sid, hostport, cl->postq_len);
  if (h <= 0 || h >= 600) {
    conn_fail(c, "POST head too long", 0);
    return;
  }
  memcpy(p + h, cl->postq, cl->postq_len);
  out_commit(c, (size_t)h + cl->postq_len);
  cl->postq_len = 0;
  cl->post_inflight = 1;
}

static void poll_packet(client_t *cl, const char *p, size_t n, uint64_t now) {
  if (n < 1) {
    log_error("empty Engine.IO packet in a polling payload");
    return;
  }
  switch (p[0]) {
  case '2': postq_add(cl, "3", 1); return;
  case '6': return;
  case '1': conn_fail(&cl->get, "Engine.IO CLOSE from the server", 0); return;
  case '4': break;
  default: log_error("unexpected Engine.IO packet %.*s", (int)(n > 100 ? 100 : n), p); return;
  }
  p++;
  n--;
  if (n >= 1 && p[0] == '0' && cl->state == CL_CONNECT) {
    cl->state = CL_READY;
    cl->get.state = cl->post.state = S_READY;
    unit_settled(1);
    return;
  }
  if (n >= 1 && p[0] == '2') return; /* auth */
  if (n >= 2 && p[0] == '3') {
    size_t used;
    uint64_t id = get_u64(p + 1, n - 1, &used);
    if (!used || !cl->op_out || id != cl->ack_id) goto bad;
    if (n != 1 + used + echo_reply_len) log_error("ack of unexpected length %zu", n);
    op_done(cl->op_start, now, 0);
    cl->op_out = 0;
    if (phase == P_WARMUP || phase == P_MEASURE) {
      cl->want_op = 1;
      mark_dirty(&cl->post);
    }
    return;
  }
  if (n >= 1 && (p[0] == '4' || p[0] == '1')) {
    conn_failf(&cl->get, "Socket.IO %s: %.*s", p[0] == '4' ? "CONNECT_ERROR" : "DISCONNECT",
               (int)(n > 100 ? 100 : n), p);
    return;
  }
bad:
  log_error("unexpected packet: 4%.*s", (int)(n > 100 ? 100 : n), p);
}

static void poll_get_response(client_t *cl, int status, const char *body, size_t len, uint64_t now) {
  if (status != 200) {
    conn_failf(&cl->get, "polling GET: HTTP %d: %.*s", status, (int)(len > 100 ? 100 : len), body);
    return;
  }
  if (cl->state == CL_HANDSHAKE) {
    const char *s = len > 0 && body[0] == '0' ? memmem(body, len, "\"sid\":\"", 7) : NULL;
    const char *e = s ? memchr(s + 7, '"', len - (size_t)(s + 7 - body)) : NULL;
    if (!e || (size_t)(e - s - 7) >= sizeof cl->sid) {
      conn_fail(&cl->get, "bad polling handshake", 0);
      return;
    }
    memcpy(cl->sid, s + 7, (size_t)(e - s - 7));
    cl->sid[e - s - 7] = 0;
    char req[600];
    int n = snprintf(req, sizeof req, "GET %s?EIO=4&transport=polling&sid=%s HTTP/1.1\r\nHost: %s\r\n\r\n",
                     opt.path, cl->sid, hostport);
    cl->get_req = malloc((size_t)n);
    if (!cl->get_req) {
      conn_fail(&cl->get, "out of memory", 0);
      return;
    }
    memcpy(cl->get_req, req, (size_t)n);
    cl->get_req_len = (size_t)n;
    cl->state = CL_CONNECT;
    postq_add(cl, "40", 2);
    send_long_poll(cl);
    return;
  }
  const char *p = body, *end = body + len;
  while (p < end && cl->state != CL_FAILED) {
    const char *sep = memchr(p, 0x1e, (size_t)(end - p));
    const char *q = sep ? sep : end;
    poll_packet(cl, p, (size_t)(q - p), now);
    p = q + 1;
  }
  send_long_poll(cl);
}

static void poll_process(conn_t *c, uint64_t now) {
  client_t *cl = c->cl;
  while (!c->closed) {
    int status = 0;
    const char *body = NULL;
    size_t len = 0, total = 0;
    int r = http_response(c, &status, &body, &len, &total);
    if (r == 0) break;
    if (r < 0) {
      conn_fail(c, "malformed or oversized HTTP response", 0);
      return;
    }
    if (c->role == R_GET) {
      poll_get_response(cl, status, body, len, now);
    } else {
      if (status != 200) {
        conn_failf(c, "polling POST: HTTP %d: %.*s", status, (int)(len > 100 ? 100 : len), body);
        return;
      }
      cl->post_inflight = 0;
      mark_dirty(c);
    }
    if (c->closed) return;
    memmove(c->rbuf, c->rbuf + total, c->rlen - total);
    c->rlen -= total;
  }
}

/* ------------------------------------------------------------------ libuv callbacks */

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  conn_t *c = h->data;
  if (c->ssl) *buf = uv_buf_init(tls_rx, sizeof tls_rx); /* ciphertext: handed to the session at once */
  else *buf = uv_buf_init(c->rbuf + c->rlen, (unsigned)(c->rcap - c->rlen));
}

static void conn_process(conn_t *c, uint64_t now) {
  if (c->role == R_GET || c->role == R_POST) poll_process(c, now);
  else ws_process(c, now);
}

static void conn_established(conn_t *c);

/* Ciphertext read: through the handshake, then every record's plaintext into c->rbuf. */
static void tls_read(conn_t *c, const char *data, size_t n, uint64_t now) {
  if (BIO_write(c->rbio, data, (int)n) != (int)n) {
    conn_fail(c, "TLS: out of memory", 0);
    return;
  }
  if (!c->hs_done) {
    int r = SSL_do_handshake(c->ssl);
    mark_dirty(c);
    if (r != 1) {
      int e = SSL_get_error(c->ssl, r);
      if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) tls_fail(c, "handshake");
      return;
    }
    c->hs_done = 1;
    conn_established(c);
    if (c->closed) return;
  }
  for (;;) {
    if (c->rlen == c->rcap) {
      conn_fail(c, "read buffer full", 0);
      return;
    }
    int r = SSL_read(c->ssl, c->rbuf + c->rlen, (int)(c->rcap - c->rlen));
    if (r <= 0) {
      int e = SSL_get_error(c->ssl, r);
      if (e == SSL_ERROR_WANT_READ) break;
      if (e == SSL_ERROR_ZERO_RETURN) conn_fail(c, "connection closed by the server (TLS close_notify)", 0);
      else tls_fail(c, "read");
      return;
    }
    c->rlen += (size_t)r;
    conn_process(c, now);
    if (c->closed) return;
  }
  if (BIO_ctrl_pending(c->wbio)) mark_dirty(c);
}

/* TLS: a session on memory BIOs for c, and its ClientHello queued. */
static void tls_start(conn_t *c) {
  c->ssl = SSL_new(tls_ctx);
  c->rbio = BIO_new(BIO_s_mem());
  c->wbio = BIO_new(BIO_s_mem());
  if (!c->ssl || !c->rbio || !c->wbio) {
    if (c->ssl) SSL_free(c->ssl);
    c->ssl = NULL;
    BIO_free(c->rbio);
    BIO_free(c->wbio);
    c->rbio = c->wbio = NULL;
    conn_fail(c, "TLS: out of memory", 0);
    return;
  }
  SSL_set_bio(c->ssl, c->rbio, c->wbio); /* the session owns them now */
  SSL_set_connect_state(c->ssl);
  if (opt.ca) X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(c->ssl), opt.host); /* an IPv4 host: no SNI */
  int r = SSL_do_handshake(c->ssl);
  if (r != 1 && SSL_get_error(c->ssl, r) != SSL_ERROR_WANT_READ) {
    tls_fail(c, "handshake");
    return;
  }
  mark_dirty(c);
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf) {
  conn_t *c = s->data;
  if (nread == 0 || c->closed) return;
  if (nread < 0) {
    if (nread == UV_EOF) conn_fail(c, "connection closed by the server", 0);
    else if (nread == UV_ENOBUFS) conn_fail(c, "read buffer full", 0);
    else conn_fail(c, "read", (int)nread);
    return;
  }
  if (measuring) rx_wire += (uint64_t)nread;
  uint64_t now = uv_hrtime();
  if (c->ssl) {
    tls_read(c, buf->base, (size_t)nread, now);
    return;
  }
  c->rlen += (size_t)nread;
  conn_process(c, now);
}

static void on_connect(uv_connect_t *creq, int status) {
  conn_t *c = creq->data;
  if (c->closed) return;
  if (status < 0) {
    conn_fail(c, "connect", status);
    return;
  }
  uv_tcp_nodelay(&c->tcp, 1);
  int r = uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
  if (r) {
    conn_fail(c, "read_start", r);
    return;
  }
  if (opt.tls) tls_start(c);
  else conn_established(c);
}

/* TCP connected (and with --tls, the handshake done): the first request. */
static void conn_established(conn_t *c) {
  if (c->cl) {
    client_t *cl = c->cl;
    c->state = S_READY;
    if (++cl->tcp_up == 2) {
      cl->state = CL_HANDSHAKE;
      char req[600];
      int n = snprintf(req, sizeof req, "GET %s?EIO=4&transport=polling HTTP/1.1\r\nHost: %s\r\n\r\n",
                       opt.path, hostport);
      out_append(&cl->get, req, (size_t)n);
    }
    return;
  }
  char req[800];
  int n = snprintf(req, sizeof req,
                   "GET %s%s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                   "Sec-WebSocket-Key: " WS_KEY "\r\nSec-WebSocket-Version: 13\r\n%s\r\n",
                   opt.path, opt.raw ? "" : "?EIO=4&transport=websocket", hostport,
                   opt.deflate ? "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n" : "");
  c->state = S_UPGRADE;
  out_append(c, req, (size_t)n);
}

/* Creates c's socket (bound to the next source address), and connects it. */
static int conn_open(conn_t *c, size_t index) {
  c->tcp.data = c;
  c->creq.data = c;
  c->rng = (uint32_t)(index * 2654435761u) | 1u;
  int r = uv_tcp_init_ex(loop, &c->tcp, AF_INET);
  if (r) {
    c->closed = 1;
    log_error("socket: %s", uv_strerror(r));
    return r;
  }
  c->inited = 1;
  c->state = S_TCP;
  if (opt.nsrc) {
    uv_os_fd_t fd;
    int one = 1;
    if (uv_fileno((uv_handle_t *)&c->tcp, &fd) == 0)
      setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
    r = uv_tcp_bind(&c->tcp, (const struct sockaddr *)&opt.src[index % (size_t)opt.nsrc], 0);
    if (r) {
      conn_fail(c, "bind", r);
      return r;
    }
  }
  c->op_start = uv_hrtime();
  /* cross-node fanout: the sender on node A (--port), its receivers on node B */
  const struct sockaddr_in *to = c->role == R_RECEIVER ? &receivers_target : &target;
  r = uv_tcp_connect(&c->creq, &c->tcp, (const struct sockaddr *)to, on_connect);
  if (r) {
    conn_fail(c, "connect", r);
    return r;
  }
  return 0;
}

static void start_unit(size_t i) {
  if (opt.scenario == SC_POLLING) {
    client_t *cl = &clients[i];
    cl->state = CL_TCP;
    if (conn_open(&cl->get, 2 * i) != 0) {
      client_fail(cl);
      return;
    }
    if (conn_open(&cl->post, 2 * i + 1) != 0 && cl->state != CL_FAILED) client_fail(cl);
    return;
  }
  conn_t *c = &conns[i];
  if (conn_open(c, i) != 0 && !c->inited) unit_settled(0); /* conn_fail() settled the others */
}

/* ------------------------------------------------------------------ phases */

static void set_phase_timer(double seconds, uv_timer_cb cb) {
  uv_timer_start(&phase_timer, cb, (uint64_t)(seconds * 1000.0 + 0.5), 0);
}

static void end_measure(uv_timer_t *t);

static void begin_measure(void) {
  phase = P_MEASURE;
  hist_reset(&hist);
  ops = bytes_acked = rx_wire = rx_msgs = rx_msg_bytes = 0;
  measuring = 1;
  if (opt.server_pid) srv_cpu0 = proc_cpu_seconds(opt.server_pid);
  self_cpu0 = self_cpu_seconds();
  t_start = uv_hrtime();
  set_phase_timer(opt.duration, end_measure);
}

static void on_warmup_end(uv_timer_t *t) {
  begin_measure();
  flush_dirty();
}

static void begin_run(void) {
  phase = P_WARMUP;
  fprintf(stderr, "loadgen: %zu connection%s ready; warmup %.1f s, measuring %.1f s\n", setup_ok,
          setup_ok == 1 ? "" : "s", opt.warmup, opt.duration);
  if (opt.scenario == SC_POLLING) {
    for (size_t i = 0; i < nclients; i++)
      if (clients[i].state == CL_READY) {
        clients[i].want_op = 1;
        mark_dirty(&clients[i].post);
      }
  } else if (opt.scenario == SC_FANOUT) {
    if (sender && !sender->closed) {
      sender->want_op = 1;
      mark_dirty(sender);
    }
  } else {
    for (size_t i = 0; i < nconns; i++)
      if (conns[i].state == S_READY) {
        conns[i].want_op = 1;
        mark_dirty(&conns[i]);
      }
  }
  if (opt.warmup > 0) set_phase_timer(opt.warmup, on_warmup_end);
  else begin_measure();
}

static void end_measure(uv_timer_t *t) {
  t_end = uv_hrtime();
  measuring = 0;
  if (opt.server_pid) {
    srv_cpu1 = proc_cpu_seconds(opt.server_pid);
    rss_after = proc_rss_kib(opt.server_pid);
  }
  self_cpu1 = self_cpu_seconds();
  finish(0);
}

static void on_hold_end(uv_timer_t *t) {
  if (opt.server_pid) rss_after = proc_rss_kib(opt.server_pid);
  finish(0);
}

static size_t touch_expected;

static void hold_begin(void) {
  phase = P_HOLD;
  fprintf(stderr, "loadgen: %zu of %zu connected%s; holding them idle 1 s\n", setup_ok, units,
          opt.touch ? ", one echo each done" : "");
  set_phase_timer(1.0, on_hold_end);
}

static void on_touch_timeout(uv_timer_t *t) {
  log_error("--touch: %zu of %zu echoes came back in 10 s", touched, touch_expected);
  hold_begin();
}

/* --touch: one echo on each connection made (whatever per-connection state a first message makes
 * on the server, e.g. its zlib streams), then the idle hold. */
static void touch_settled(void) {
  if (phase == P_TOUCH && ++touched == touch_expected) hold_begin();
}

static void connect_phase_end(void) {
  t_end = uv_hrtime();
  measuring = 0;
  if (opt.server_pid) srv_cpu1 = proc_cpu_seconds(opt.server_pid);
  self_cpu1 = self_cpu_seconds();
  if (!opt.touch) {
    hold_begin();
    return;
  }
  phase = P_TOUCH;
  for (size_t i = 0; i < nconns; i++)
    if (conns[i].state == S_READY) {
      touch_expected++;
      conns[i].want_op = 1;
      mark_dirty(&conns[i]);
    }
  set_phase_timer(10.0, on_touch_timeout);
  if (!touch_expected) hold_begin();
}

static void on_hard_timeout(uv_timer_t *t) {
  static const char *const names[] = {"setup", "touch", "warmup", "measurement", "hold", "done"};
  log_error("hard timeout (warmup + duration + 30 s) reached during the %s", names[phase]);
  if (measuring) {
    t_end = uv_hrtime();
    measuring = 0;
    if (opt.server_pid) srv_cpu1 = proc_cpu_seconds(opt.server_pid);
    self_cpu1 = self_cpu_seconds();
  }
  finish(1);
}

/* ------------------------------------------------------------------ results */

static void json_num(const char *key, double v, int valid, const char *fmt) {
  printf(",\"%s\":", key);
  if (valid) printf(fmt, v);
  else printf("null");
}

static void finish(int timed_out) {
  if (stopping) return;
  stopping = 1;
  phase = P_DONE;
  int have_window = t_end > t_start && t_start != 0;
  double secs = have_window ? (double)(t_end - t_start) / 1e9 : 0;
  int have_srv = opt.server_pid && srv_cpu0 >= 0 && srv_cpu1 >= 0 && have_window;
  double srv = have_srv ? srv_cpu1 - srv_cpu0 : 0;
  double self = have_window ? self_cpu1 - self_cpu0 : 0;
  double ops_s = have_window ? (double)ops / secs : 0;
  double mb = (double)bytes_acked / 1e6;
  int binary = opt.scenario == SC_BINARY;
  double per_op = binary ? (mb > 0 ? srv * 1e6 / mb : 0) : (ops ? srv * 1e6 / (double)ops : 0);
  int have_lat = hist.total > 0;
  double p50 = (double)hist_percentile(&hist, 0.50) / 1e3;
  double p99 = (double)hist_percentile(&hist, 0.99) / 1e3;
  double p999 = (double)hist_percentile(&hist, 0.999) / 1e3;
  double maxl = (double)hist.max / 1e3;
  long conns_n = opt.scenario == SC_FANOUT ? opt.receivers + 1 : (long)units;
  int have_rss_pc = opt.scenario == SC_CONNECT && rss_before >= 0 && rss_after >= 0 && setup_ok > 0;
  double rss_pc = have_rss_pc ? (double)(rss_after - rss_before) * 1024.0 / (double)setup_ok : 0;

  fprintf(stderr, "loadgen: %s: %llu %s in %.3f s: %.1f/s", scenario_names[opt.scenario],
          (unsigned long long)ops,
          opt.scenario == SC_CONNECT ? "connects" : opt.scenario == SC_FANOUT ? "deliveries" : "acks", secs, ops_s);
  if (binary) fprintf(stderr, " (%.1f MB/s)", secs > 0 ? mb / secs : 0);
  fprintf(stderr, "; latency p50 %.1f us, p99 %.1f us, p99.9 %.1f us, max %.1f us; errors %llu\n", p50, p99, p999,
          maxl, (unsigned long long)errors);
  if (have_srv)
    fprintf(stderr, "loadgen: server CPU %.2f s (%.0f%% of a core, %.2f us per %s)", srv, 100 * srv / secs, per_op,
            binary ? "MB" : "op");
  if (have_window) fprintf(stderr, "%sloadgen CPU %.2f s (%.0f%% of a core)", have_srv ? "; " : "loadgen: ", self,
                           100 * self / secs);
  if (rss_after >= 0) fprintf(stderr, "; server RSS %ld KiB", rss_after);
  if (have_window || rss_after >= 0) fprintf(stderr, "\n");
  if (have_window && opt.scenario != SC_CONNECT && ops)
    fprintf(stderr, "loadgen: read %.1f TCP bytes per %s (messages of %.1f bytes)\n", (double)rx_wire / (double)ops,
            opt.scenario == SC_FANOUT ? "delivery" : "op", rx_msgs ? (double)rx_msg_bytes / (double)rx_msgs : 0.0);
  if (opt.deflate)
    fprintf(stderr, "loadgen: compressed messages: %llu inflated, %llu taken from the cache of shared frames\n",
            (unsigned long long)pmd_inflates, (unsigned long long)pmd_cache_hits);
  if (have_rss_pc)
    fprintf(stderr, "loadgen: server RSS %ld -> %ld KiB: %.0f bytes per connection\n", rss_before, rss_after, rss_pc);

  printf("{\"scenario\":\"%s\",\"connections\":%ld,\"ops\":%llu", scenario_names[opt.scenario], conns_n,
         (unsigned long long)ops);
  json_num("seconds", secs, have_window, "%.3f");
  json_num("ops_per_s", ops_s, have_window, "%.1f");
  json_num("p50_us", p50, have_lat, "%.1f");
  json_num("p99_us", p99, have_lat, "%.1f");
  printf(",\"errors\":%llu", (unsigned long long)errors);
  json_num("server_cpu_s", srv, have_srv, "%.3f");
  json_num("server_cpu_us_per_op", per_op, have_srv && (binary ? mb > 0 : ops > 0), "%.2f");
  json_num("loadgen_cpu_s", self, have_window, "%.3f");
  json_num("server_rss_kib", (double)rss_after, opt.server_pid && rss_after >= 0, "%.0f");
  if (opt.scenario == SC_CONNECT) json_num("rss_bytes_per_conn", rss_pc, have_rss_pc, "%.0f");
  if (binary) json_num("mb_per_s", secs > 0 ? mb / secs : 0, have_window, "%.2f");
  json_num("p999_us", p999, have_lat, "%.1f");
  json_num("max_us", maxl, have_lat, "%.1f");
  printf(",\"payload\":%ld", opt.scenario == SC_CONNECT ? 0L : opt.payload);
  if (opt.scenario == SC_FANOUT) {
    printf(",\"receivers\":%ld,\"window\":%ld", opt.receivers, opt.window);
    /* deliveries out of order: lost (a receiver skipped a broadcast) or duplicated */
    printf(",\"fanout_lost\":%llu,\"fanout_dup\":%llu", (unsigned long long)fan_lost, (unsigned long long)fan_dup);
    if (fan_lost || fan_dup)
      fprintf(stderr, "loadgen: fanout: %llu lost and %llu duplicated deliveries\n", (unsigned long long)fan_lost,
              (unsigned long long)fan_dup);
  }
  if (opt.raw) printf(",\"raw\":true");
  if (opt.tls) printf(",\"tls\":true");
  if (opt.deflate) printf(",\"deflate\":true");
  /* what the window's reads carried: TCP bytes (so TLS and compression show), messages, their size */
  int have_rx = have_window && opt.scenario != SC_CONNECT;
  json_num("wire_rx_bytes", (double)rx_wire, have_rx, "%.0f");
  json_num("wire_bytes_per_op", ops ? (double)rx_wire / (double)ops : 0, have_rx && ops > 0, "%.1f");
  json_num("msg_bytes_per_msg", rx_msgs ? (double)rx_msg_bytes / (double)rx_msgs : 0, have_rx && rx_msgs > 0, "%.1f");
  json_num("loadgen_cpu_pct", have_window ? 100 * self / secs : 0, have_window, "%.0f");
  printf("}\n");
  fflush(stdout);

  exit_code = (timed_out || errors > 0 || ops == 0) ? 1 : 0;

  /* close everything; the loop then ends */
  for (size_t i = 0; i < nconns; i++) conn_close_handle(&conns[i]);
  for (size_t i = 0; i < nclients; i++) {
    conn_close_handle(&clients[i].get);
    conn_close_handle(&clients[i].post);
  }
  uv_close((uv_handle_t *)&phase_timer, NULL);
  uv_close((uv_handle_t *)&hard_timer, NULL);
  uv_close((uv_handle_t *)&flusher, NULL);
}

/* ------------------------------------------------------------------ setup of buffers */

static int conn_buffers(conn_t *c, size_t rcap, size_t wcap) {
  c->rcap = rcap;
  c->rbuf = malloc(rcap);
  c->ob[0].base = malloc(wcap);
  c->ob[1].base = malloc(wcap);
  c->ob[0].cap = c->ob[1].cap = wcap;
  return c->rbuf && c->ob[0].base && c->ob[1].base ? 0 : -1;
}

static void conn_free(conn_t *c) {
  if (c->ssl) SSL_free(c->ssl);
  if (c->inf) inflateEnd(c->inf);
  free(c->inf);
  free(c->tout);
  free(c->rbuf);
  free(c->ob[0].base);
  free(c->ob[1].base);
}

/* ------------------------------------------------------------------ arguments */

static long num_arg(const char *name, const char *v, long min, long max) {
  char *end;
  errno = 0;
  long n = strtol(v, &end, 10);
  if (*v == 0 || *end || errno || n < min || n > max) {
    char msg[128];
    snprintf(msg, sizeof msg, "%s wants a whole number from %ld to %ld", name, min, max);
    usage(msg);
  }
  return n;
}

static double secs_arg(const char *name, const char *v) {
  char *end;
  double d = strtod(v, &end);
  if (*v == 0 || *end || !(d >= 0) || d > 86400) {
    char msg[128];
    snprintf(msg, sizeof msg, "%s wants a number of seconds", name);
    usage(msg);
  }
  return d;
}

static void parse_sources(const char *list) {
  char buf[4096];
  if (strlen(list) >= sizeof buf) usage("--source-addrs is too long");
  strcpy(buf, list);
  for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
    if (opt.nsrc == MAX_SRC) usage("too many --source-addrs");
    if (uv_ip4_addr(tok, 0, &opt.src[opt.nsrc]) != 0) usage("--source-addrs wants IPv4 addresses");
    opt.nsrc++;
  }
  if (!opt.nsrc) usage("--source-addrs is empty");
}

static void parse_args(int argc, char **argv) {
  opt.scenario = -1;
  opt.host = "127.0.0.1";
  opt.port = -1;
  opt.receivers_port = -1;
  opt.path = "/socket.io/";
  opt.connections = -1;
  opt.concurrency = 100;
  opt.duration = 5;
  opt.warmup = 1;
  opt.payload = -1;
  opt.receivers = 1000;
  opt.window = 4;
  opt.deflate_threshold = 1024;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i], *v = NULL;
    char name[40];
    const char *eq = strchr(a, '=');
    if (strncmp(a, "--", 2) == 0 && eq && (size_t)(eq - a) < sizeof name) {
      memcpy(name, a, (size_t)(eq - a));
      name[eq - a] = 0;
      v = eq + 1;
      a = name;
    }
    static const char *const switches[] = {"--raw", "--tls", "--deflate", "--chat", "--touch", NULL};
    int sw = -1;
    for (int k = 0; switches[k]; k++)
      if (strcmp(a, switches[k]) == 0) sw = k;
    if (sw >= 0) {
      if (v) usage("a switch takes no value");
      int *const flags[] = {&opt.raw, &opt.tls, &opt.deflate, &opt.chat, &opt.touch};
      *flags[sw] = 1;
      continue;
    }
    if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) usage(NULL);
    static const char *const with_value[] = {"--scenario", "--port", "--host", "--path", "--connections",
                                             "--concurrency", "--duration", "--warmup", "--payload",
                                             "--receivers", "--window", "--server-pid", "--source-addrs",
                                             "--ca", "--deflate-threshold", "--receivers-port", NULL};
    int known = 0;
    for (int k = 0; with_value[k]; k++) known |= strcmp(a, with_value[k]) == 0;
    if (!known) {
      char msg[200];
      snprintf(msg, sizeof msg, "unknown argument %.150s", argv[i]);
      usage(msg);
    }
    if (!v) {
      if (i + 1 >= argc) {
        char msg[80];
        snprintf(msg, sizeof msg, "%s wants a value", a);
        usage(msg);
      }
      v = argv[++i];
    }
    if (strcmp(a, "--scenario") == 0) {
      opt.scenario = -1;
      for (int k = 0; k < 5; k++)
        if (strcmp(v, scenario_names[k]) == 0) opt.scenario = k;
      if (opt.scenario < 0) usage("--scenario is one of connect, echo, fanout, polling, binary");
    } else if (strcmp(a, "--port") == 0) {
      opt.port = (int)num_arg(a, v, 1, 65535);
    } else if (strcmp(a, "--host") == 0) {
      opt.host = v;
    } else if (strcmp(a, "--path") == 0) {
      if (v[0] != '/' || strlen(v) > 200 || strpbrk(v, " \r\n?")) usage("--path must start with / (no query)");
      opt.path = v;
    } else if (strcmp(a, "--connections") == 0) {
      opt.connections = num_arg(a, v, 1, 10000000);
    } else if (strcmp(a, "--concurrency") == 0) {
      opt.concurrency = num_arg(a, v, 1, 10000000);
    } else if (strcmp(a, "--duration") == 0) {
      opt.duration = secs_arg(a, v);
      if (opt.duration <= 0) usage("--duration must be more than 0");
    } else if (strcmp(a, "--warmup") == 0) {
      opt.warmup = secs_arg(a, v);
    } else if (strcmp(a, "--payload") == 0) {
      opt.payload = num_arg(a, v, 0, 64L << 20);
    } else if (strcmp(a, "--receivers-port") == 0) {
      opt.receivers_port = (int)num_arg(a, v, 1, 65535);
    } else if (strcmp(a, "--receivers") == 0) {
      opt.receivers = num_arg(a, v, 1, 10000000);
    } else if (strcmp(a, "--window") == 0) {
      opt.window = num_arg(a, v, 1, 4096);
    } else if (strcmp(a, "--server-pid") == 0) {
      opt.server_pid = (int)num_arg(a, v, 1, 1L << 30);
    } else if (strcmp(a, "--source-addrs") == 0) {
      parse_sources(v);
    } else if (strcmp(a, "--ca") == 0) {
      opt.ca = v;
    } else if (strcmp(a, "--deflate-threshold") == 0) {
      opt.deflate_threshold = num_arg(a, v, 0, 1L << 30);
    }
  }
  if (opt.scenario < 0) usage("--scenario is required");
  if (opt.port < 0) usage("--port is required");
  if (opt.raw && opt.scenario != SC_ECHO) usage("--raw is for the echo scenario only");
  if (opt.raw && (opt.tls || opt.deflate)) usage("--raw speaks neither TLS nor permessage-deflate");
  if (opt.ca && !opt.tls) usage("--ca is for --tls");
  if (opt.deflate && opt.scenario == SC_POLLING) usage("--deflate is a WebSocket extension: not for polling");
  if (opt.chat && opt.scenario != SC_FANOUT) usage("--chat is for the fanout scenario");
  if (opt.receivers_port > 0 && opt.scenario != SC_FANOUT) usage("--receivers-port is for the fanout scenario");
  if (opt.touch && opt.scenario != SC_CONNECT) usage("--touch is for the connect scenario");
  if (opt.connections < 0) {
    static const long defaults[] = {1000, 100, 0, 50, 10};
    opt.connections = defaults[opt.scenario];
  }
  if (opt.payload < 0) opt.payload = opt.scenario == SC_BINARY ? 65536 : opt.chat ? 1024 : 16;
  if (opt.chat && opt.payload < 200) usage("--chat wants --payload of at least 200");
  if (opt.scenario == SC_FANOUT && opt.payload < 16) opt.payload = 16; /* the send timestamp */
  if (opt.scenario == SC_BINARY && opt.payload < 1) usage("--payload must be at least 1 for binary");
}

/* ------------------------------------------------------------------ TLS, chat messages */

static int tls_init(void) {
  tls_ctx = SSL_CTX_new(TLS_client_method());
  if (!tls_ctx) return -1;
  SSL_CTX_set_min_proto_version(tls_ctx, TLS1_2_VERSION);
  /* every connection is a full handshake: what a crowd of new clients costs the server */
  SSL_CTX_set_session_cache_mode(tls_ctx, SSL_SESS_CACHE_OFF);
  static const unsigned char alpn[] = "\x08http/1.1";
  SSL_CTX_set_alpn_protos(tls_ctx, alpn, sizeof alpn - 1);
  if (opt.ca) {
    if (SSL_CTX_load_verify_locations(tls_ctx, opt.ca, NULL) != 1) {
      fprintf(stderr, "loadgen: cannot load the CA file %s\n", opt.ca);
      return -1;
    }
    SSL_CTX_set_verify(tls_ctx, SSL_VERIFY_PEER, NULL);
  } else {
    SSL_CTX_set_verify(tls_ctx, SSL_VERIFY_NONE, NULL);
  }
  return 0;
}

/* A chat message as a JSON object of at most `size` bytes (padded to about that): metadata a chat
 * app sends with every message, and English-like text. Compressible as real chat is (repeated keys,
 * a small vocabulary), not as a run of one character is. */
static size_t chat_make(char *out, size_t size, uint32_t *rng, unsigned k) {
  static const char *const names[] = {"Priya Natarajan", "Tomás Ferreira", "Mei Lin", "Oluwaseun Adeyemi",
                                      "Jonas Becker", "Sofia Rossi", "Dmitri Volkov", "Hannah Schmidt"};
  static const char *const rooms[] = {"general", "team-frontend", "random", "support", "release-planning"};
  static const char *const words[] = {
      "the", "deploy", "is", "done", "can", "you", "check", "staging", "again", "before", "we", "merge", "this",
      "I", "think", "the", "build", "failed", "because", "of", "a", "flaky", "test", "in", "the", "payment",
      "service", "let's", "sync", "after", "lunch", "sounds", "good", "to", "me", "thanks", "for", "the",
      "quick", "review", "did", "anyone", "see", "the", "alert", "from", "last", "night", "it", "was", "a",
      "false", "positive", "we", "should", "tune", "the", "threshold", "meeting", "moved", "to", "three",
      "o'clock", "please", "update", "your", "tickets", "and", "add", "estimates", "the", "new", "design",
      "looks", "great", "on", "mobile", "but", "the", "sidebar", "overlaps", "on", "small", "screens"};
  unsigned user = xorshift(rng) % 8, room = xorshift(rng) % 5;
  int n = snprintf(out, size,
                   "{\"type\":\"message\",\"room\":\"%s\",\"id\":\"m-%08x-%04u\",\"ts\":%llu,"
                   "\"user\":{\"id\":\"u%04u\",\"name\":\"%s\",\"avatar\":\"https://cdn.example.com/avatars/u%04u.png\","
                   "\"status\":\"online\",\"role\":\"member\"},\"replyTo\":null,\"edited\":false,"
                   "\"reactions\":[{\"emoji\":\"thumbsup\",\"count\":%u},{\"emoji\":\"eyes\",\"count\":%u}],"
                   "\"mentions\":[\"u%04u\"],\"text\":\"",
                   rooms[room], xorshift(rng), k, 1733500000000ull + (unsigned long long)k * 7919u, 1000 + user * 37,
                   names[user], 1000 + user * 37, xorshift(rng) % 9, xorshift(rng) % 4, 1000 + xorshift(rng) % 300);
  static const char tail[] = "\"}";
  if (n <= 0 || (size_t)n + sizeof tail + 8 > size) return 0;
  size_t len = (size_t)n, room_left = size - (sizeof tail - 1);
  int first = 1;
  for (;;) {
    const char *w = words[xorshift(rng) % (sizeof words / sizeof *words)];
    size_t wl = strlen(w);
    if (len + wl + 2 > room_left) break;
    if (!first) out[len++] = (xorshift(rng) % 9 == 0) ? '.' : ' ';
    if (out[len - 1] == '.') out[len++] = ' ';
    memcpy(out + len, w, wl);
    len += wl;
    first = 0;
  }
  while (len < room_left) out[len++] = '.';
  memcpy(out + len, tail, sizeof tail - 1);
  return len + sizeof tail - 1;
}

/* ------------------------------------------------------------------ main */

int main(int argc, char **argv) {
  parse_args(argc, argv);
  signal(SIGPIPE, SIG_IGN);

  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }

  if (uv_ip4_addr(opt.host, opt.port, &target) != 0) usage("--host wants an IPv4 address");
  receivers_target = target;
  if (opt.receivers_port > 0) uv_ip4_addr(opt.host, opt.receivers_port, &receivers_target);
  if (opt.tls && tls_init() != 0) {
    fprintf(stderr, "loadgen: TLS setup failed\n");
    return 2;
  }
  snprintf(hostport, sizeof hostport, "%s:%d", opt.host, opt.port);

  /* messages and buffers */
  size_t pl = (size_t)opt.payload;
  payload = malloc(pl + 1);
  if (!payload) return 1;
  for (size_t i = 0; i < pl; i++)
    payload[i] = opt.scenario == SC_BINARY ? (char)(i * 31 + 7) : (char)('a' + i % 26);
  size_t msg_max = (opt.scenario == SC_BINARY ? 128 : pl + 64);
  if (opt.chat) { /* each one, with the 16-character stamp and its quotes, no longer than --payload + 64 */
    uint32_t rng = 0x9e3779b9u;
    for (unsigned k = 0; k < CHAT_VARIANTS; k++) {
      chat_msg[k] = malloc(pl);
      if (!chat_msg[k] || !(chat_len[k] = chat_make(chat_msg[k], pl - 19, &rng, k))) return 1;
    }
  }
  scratch_cap = msg_max + 64;
  scratch = malloc(scratch_cap);
  if (!scratch) return 1;
  /* `3<id>["<payload>"]` (after the Engine.IO type) is 1 + digits + this */
  echo_reply_len = pl + 4;

  size_t rcap, wcap;
  if (opt.scenario == SC_BINARY) {
    rcap = pl + 65536;
    wcap = 4096;
    uint8_t mask[4] = {0x37, 0xfa, 0x21, 0x3d};
    bin_frame = malloc(pl + 14);
    if (!bin_frame) return 1;
    size_t h = wsf_header(bin_frame, 0x80 | WS_BINARY, pl, mask);
    ws_mask_copy(bin_frame + h, (const uint8_t *)payload, pl, mask, 0);
    bin_frame_len = h + pl;
  } else {
    rcap = 2 * (msg_max + 14) + 4096;
    wcap = 2 * (msg_max + 14) + 2048;
    if (opt.scenario == SC_POLLING) rcap += 1024;
  }

  if (opt.scenario == SC_POLLING) {
    nclients = units = (size_t)opt.connections;
    clients = calloc(nclients, sizeof *clients);
    if (!clients) return 1;
    for (size_t i = 0; i < nclients; i++) {
      client_t *cl = &clients[i];
      cl->get.cl = cl->post.cl = cl;
      cl->get.role = R_GET;
      cl->post.role = R_POST;
      cl->postq_cap = 2 * (msg_max + 16) + 64;
      cl->postq = malloc(cl->postq_cap);
      if (!cl->postq || conn_buffers(&cl->get, rcap, wcap) || conn_buffers(&cl->post, rcap, wcap + 1024)) {
        fprintf(stderr, "loadgen: out of memory\n");
        return 1;
      }
    }
    dirty_cap = 4 * nclients + 16;
  } else {
    nconns = units = opt.scenario == SC_FANOUT ? (size_t)opt.receivers + 1 : (size_t)opt.connections;
    conns = calloc(nconns, sizeof *conns);
    if (!conns) return 1;
    for (size_t i = 0; i < nconns; i++) {
      conn_t *c = &conns[i];
      c->role = R_WS;
      size_t w = wcap;
      if (opt.scenario == SC_FANOUT) {
        c->role = i == 0 ? R_SENDER : R_RECEIVER;
        if (i == 0) w = ((size_t)opt.window + 2) * (msg_max + 14) + 2048;
      }
      if (conn_buffers(c, rcap, w)) {
        fprintf(stderr, "loadgen: out of memory\n");
        return 1;
      }
    }
    if (opt.scenario == SC_FANOUT) {
      sender = &conns[0];
      fan_count = calloc((size_t)opt.window, sizeof *fan_count);
      fan_ts = calloc((size_t)opt.window, sizeof *fan_ts);
      if (!fan_count || !fan_ts) return 1;
    }
    dirty_cap = 2 * nconns + 16;
  }
  dirty = malloc(dirty_cap * sizeof *dirty);
  if (!dirty) return 1;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
      (rlim_t)(units * (opt.scenario == SC_POLLING ? 2 : 1) + 32) > rl.rlim_cur)
    fprintf(stderr, "loadgen: warning: %zu connections but RLIMIT_NOFILE is %llu\n",
            units * (opt.scenario == SC_POLLING ? 2 : 1), (unsigned long long)rl.rlim_cur);

  loop = uv_default_loop();
  uv_check_init(loop, &flusher);
  uv_check_start(&flusher, on_check);
  uv_timer_init(loop, &phase_timer);
  uv_timer_init(loop, &hard_timer);
  uv_timer_start(&hard_timer, on_hard_timeout, (uint64_t)((opt.warmup + opt.duration + 30) * 1000.0), 0);

  fprintf(stderr, "loadgen: %s against %s%s: %zu %s, payload %ld\n", scenario_names[opt.scenario], hostport,
          opt.raw ? " (raw WebSocket)" : opt.path, units, opt.scenario == SC_POLLING ? "clients" : "connections",
          opt.scenario == SC_CONNECT ? 0L : opt.payload);

  if (opt.server_pid) {
    rss_before = proc_rss_kib(opt.server_pid);
    if (rss_before < 0) fprintf(stderr, "loadgen: warning: cannot read /proc/%d\n", opt.server_pid);
  }
  if (opt.scenario == SC_CONNECT) {
    /* the measured window is the whole ramp */
    phase = P_SETUP;
    measuring = 1;
    hist_reset(&hist);
    if (opt.server_pid) srv_cpu0 = proc_cpu_seconds(opt.server_pid);
    self_cpu0 = self_cpu_seconds();
    t_start = uv_hrtime();
  }
  size_t first = units < (size_t)opt.concurrency ? units : (size_t)opt.concurrency;
  next_unit = first;
  in_flight = first;
  for (size_t i = 0; i < first && !stopping; i++) start_unit(i);
  flush_dirty();

  uv_run(loop, UV_RUN_DEFAULT);
  uv_loop_close(loop);

  for (size_t i = 0; i < nconns; i++) conn_free(&conns[i]);
  for (size_t i = 0; i < nclients; i++) {
    conn_free(&clients[i].get);
    conn_free(&clients[i].post);
    free(clients[i].postq);
    free(clients[i].get_req);
  }
  free(conns);
  free(clients);
  free(dirty);
  free(payload);
  free(scratch);
  free(bin_frame);
  free(fan_count);
  free(fan_ts);
  for (unsigned k = 0; k < CHAT_VARIANTS; k++) free(chat_msg[k]);
  for (unsigned i = 0; i < PMD_CACHE; i++) {
    free(pmd_cache[i].in);
    free(pmd_cache[i].out);
  }
  free(zbuf);
  if (deflater_ready) deflateEnd(&deflater);
  if (tls_ctx) SSL_CTX_free(tls_ctx);
  return exit_code;
}
