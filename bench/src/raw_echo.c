/* sio-raw-echo: the floor for the benchmarks. A minimal WebSocket echo server on libuv, with its own
 * tiny HTTP upgrade handling and nothing of sio: any upgrade on any path is accepted, every data
 * frame comes back as it came (same FIN and opcode, so messages keep their boundaries), pings are
 * answered and a CLOSE is echoed before the connection ends. Writes are batched per loop
 * iteration like the sio transport does. */
#include <openssl/evp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <uv.h>

#include "bench_util.h"

#define MAX_HEAD 16384
#define MAX_FRAME (64u << 20)

typedef struct outbuf {
  char *base;
  size_t len, cap;
} outbuf_t;

typedef struct rconn {
  uv_tcp_t tcp;
  uv_write_t wreq;
  struct rconn *prev, *next; /* every open connection, for the shutdown */
  char *rbuf;
  size_t rlen, rcap;
  outbuf_t ob[2]; /* ob[cur] collects; the other one may be in a uv_write */
  int cur;
  int inflight;
  int dirty;
  int upgraded;
  int close_after_write;
  int closing;
} rconn_t;

static uv_loop_t *loop;
static uv_tcp_t listener;
static uv_check_t flusher;
static uv_signal_t sigterm_h, sigint_h;
static rconn_t *conns;
static rconn_t **dirty;
static size_t ndirty, dirty_cap;
static int stopping;

static void usage(void) {
  fprintf(stderr, "usage: sio-raw-echo --port P [--host 127.0.0.1]\n");
  exit(2);
}

static void on_closed(uv_handle_t *h) {
  rconn_t *c = h->data;
  free(c->rbuf);
  free(c->ob[0].base);
  free(c->ob[1].base);
  free(c);
}

static void conn_close(rconn_t *c) {
  if (c->closing) return;
  c->closing = 1;
  if (c->prev) c->prev->next = c->next;
  else conns = c->next;
  if (c->next) c->next->prev = c->prev;
  uv_close((uv_handle_t *)&c->tcp, on_closed);
}

static void mark_dirty(rconn_t *c) {
  if (c->dirty) return;
  if (ndirty == dirty_cap) {
    size_t cap = dirty_cap ? dirty_cap * 2 : 1024;
    rconn_t **d = realloc(dirty, cap * sizeof *d);
    if (!d) {
      conn_close(c);
      return;
    }
    dirty = d;
    dirty_cap = cap;
  }
  c->dirty = 1;
  dirty[ndirty++] = c;
}

/* Room for n more bytes in the collecting buffer (never the one a uv_write holds). */
static char *out_reserve(rconn_t *c, size_t n) {
  outbuf_t *b = &c->ob[c->cur];
  if (b->cap - b->len < n) {
    size_t cap = b->cap ? b->cap : 4096;
    while (cap - b->len < n) cap *= 2;
    char *p = realloc(b->base, cap);
    if (!p) return NULL;
    b->base = p;
    b->cap = cap;
  }
  return b->base + b->len;
}

static int out_append(rconn_t *c, const void *data, size_t n) {
  char *p = out_reserve(c, n);
  if (!p) return -1;
  memcpy(p, data, n);
  c->ob[c->cur].len += n;
  mark_dirty(c);
  return 0;
}

static void on_write(uv_write_t *req, int status) {
  rconn_t *c = req->data;
  c->inflight = 0;
  c->ob[c->cur ^ 1].len = 0;
  if (status < 0) {
    conn_close(c);
    return;
  }
  if (c->ob[c->cur].len) mark_dirty(c);
  else if (c->close_after_write) conn_close(c);
}

static void flush(rconn_t *c) {
  if (c->closing || c->inflight) return;
  outbuf_t *b = &c->ob[c->cur];
  if (!b->len) {
    if (c->close_after_write) conn_close(c);
    return;
  }
  uv_buf_t buf = uv_buf_init(b->base, (unsigned)b->len);
  int r = uv_try_write((uv_stream_t *)&c->tcp, &buf, 1);
  if (r == UV_EAGAIN) r = 0;
  if (r < 0) {
    conn_close(c);
    return;
  }
  if ((size_t)r == b->len) {
    b->len = 0;
    if (c->close_after_write) conn_close(c);
    return;
  }
  buf = uv_buf_init(b->base + r, (unsigned)(b->len - (size_t)r));
  c->wreq.data = c;
  if (uv_write(&c->wreq, (uv_stream_t *)&c->tcp, &buf, 1, on_write) != 0) {
    conn_close(c);
    return;
  }
  c->inflight = 1;
  c->cur ^= 1;
}

static void on_check(uv_check_t *h) {
  for (size_t i = 0; i < ndirty; i++) {
    rconn_t *c = dirty[i];
    c->dirty = 0;
    flush(c);
  }
  ndirty = 0;
}

static void reject(rconn_t *c, const char *status) {
  char head[160];
  int n = snprintf(head, sizeof head, "HTTP/1.1 %s\r\nContent-Length: 0\r\nConnection: close\r\n\r\n", status);
  out_append(c, head, (size_t)n);
  c->close_after_write = 1;
}

/* Handles a request head of `len` bytes (terminator included). */
static void upgrade(rconn_t *c, char *head, size_t len) {
  const char *key = NULL;
  size_t key_len = 0;
  char *line = memchr(head, '\n', len);
  while (line && (size_t)(line - head) < len) {
    line++;
    char *end = memchr(line, '\n', len - (size_t)(line - head));
    if (!end) break;
    if (end - line > 18 && strncasecmp(line, "sec-websocket-key:", 18) == 0) {
      const char *v = line + 18;
      const char *e = end;
      while (v < e && (*v == ' ' || *v == '\t')) v++;
      while (e > v && (e[-1] == '\r' || e[-1] == ' ' || e[-1] == '\t')) e--;
      key = v;
      key_len = (size_t)(e - v);
    }
    line = end;
  }
  if (!key || key_len == 0 || key_len > 64) {
    reject(c, "400 Bad Request");
    return;
  }
  static const char guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
  char cat[64 + sizeof guid];
  memcpy(cat, key, key_len);
  memcpy(cat + key_len, guid, sizeof guid - 1);
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int md_len = 0;
  if (!EVP_Digest(cat, key_len + sizeof guid - 1, md, &md_len, EVP_sha1(), NULL)) {
    reject(c, "500 Internal Server Error");
    return;
  }
  unsigned char accept[64];
  EVP_EncodeBlock(accept, md, (int)md_len);
  char resp[256];
  int n = snprintf(resp, sizeof resp,
                   "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                   "Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n",
                   (const char *)accept);
  out_append(c, resp, (size_t)n);
  c->upgraded = 1;
}

static void send_close(rconn_t *c, int code) {
  uint8_t f[4] = {0x80 | WS_CLOSE, 2, (uint8_t)(code >> 8), (uint8_t)code};
  out_append(c, f, sizeof f);
  c->close_after_write = 1;
}

/* Echoes every whole frame in c->rbuf; returns the bytes consumed. */
static size_t frames(rconn_t *c) {
  size_t off = 0;
  while (!c->close_after_write && off < c->rlen) {
    wsf_t f;
    uint8_t *p = (uint8_t *)c->rbuf + off;
    int r = wsf_parse(p, c->rlen - off, &f);
    if (r == 0) break;
    if (r < 0 || !f.masked || f.rsv1) { /* no extension is negotiated here */
      send_close(c, 1002);
      break;
    }
    if (f.len > MAX_FRAME) {
      send_close(c, 1009);
      break;
    }
    if (c->rlen - off - f.hlen < f.len) {
      size_t need = off + f.hlen + (size_t)f.len;
      if (need > c->rcap) {
        /* make the whole frame fit, then wait for it */
        size_t keep = c->rlen - off;
        memmove(c->rbuf, c->rbuf + off, keep);
        c->rlen = keep;
        off = 0;
        size_t cap = c->rcap;
        while (cap < f.hlen + f.len) cap *= 2;
        char *nb = realloc(c->rbuf, cap);
        if (!nb) {
          conn_close(c);
          return 0;
        }
        c->rbuf = nb;
        c->rcap = cap;
      }
      break;
    }
    uint8_t *payload = p + f.hlen;
    size_t n = (size_t)f.len;
    ws_mask_copy(payload, payload, n, f.mask, 0);
    off += f.hlen + n;
    switch (f.opcode) {
    case WS_CONT: case WS_TEXT: case WS_BINARY: case WS_PING: {
      uint8_t b0 = f.opcode == WS_PING ? (0x80 | WS_PONG) : p[0];
      char *o = out_reserve(c, n + 10);
      if (!o) {
        conn_close(c);
        return 0;
      }
      size_t h = wsf_header((uint8_t *)o, b0, n, NULL);
      memcpy(o + h, payload, n);
      c->ob[c->cur].len += h + n;
      mark_dirty(c);
      break;
    }
    case WS_CLOSE: {
      uint8_t hdr[2] = {0x80 | WS_CLOSE, (uint8_t)(n >= 2 ? 2 : 0)};
      out_append(c, hdr, 2);
      if (n >= 2) out_append(c, payload, 2);
      c->close_after_write = 1;
      break;
    }
    default: /* PONG */
      break;
    }
  }
  return off;
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  rconn_t *c = h->data;
  if (c->rcap - c->rlen < 4096 && c->rcap < MAX_HEAD) {
    char *nb = realloc(c->rbuf, c->rcap * 2);
    if (nb) {
      c->rbuf = nb;
      c->rcap *= 2;
    }
  }
  *buf = uv_buf_init(c->rbuf + c->rlen, (unsigned)(c->rcap - c->rlen));
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf) {
  rconn_t *c = s->data;
  if (nread == 0) return;
  if (nread < 0) {
    conn_close(c);
    return;
  }
  if (c->close_after_write) return;
  c->rlen += (size_t)nread;
  size_t off = 0;
  if (!c->upgraded) {
    char *end = memmem(c->rbuf, c->rlen, "\r\n\r\n", 4);
    if (!end) {
      if (c->rlen >= MAX_HEAD) reject(c, "431 Request Header Fields Too Large");
      return;
    }
    off = (size_t)(end + 4 - c->rbuf);
    upgrade(c, c->rbuf, off);
    if (!c->upgraded) return;
  }
  if (c->closing) return;
  memmove(c->rbuf, c->rbuf + off, c->rlen - off);
  c->rlen -= off;
  off = frames(c);
  if (c->closing) return;
  if (off) {
    memmove(c->rbuf, c->rbuf + off, c->rlen - off);
    c->rlen -= off;
  }
}

static void on_connection(uv_stream_t *server, int status) {
  if (status < 0) return;
  rconn_t *c = calloc(1, sizeof *c);
  if (!c) return;
  c->rcap = 16384;
  c->rbuf = malloc(c->rcap);
  if (!c->rbuf) {
    free(c);
    return;
  }
  uv_tcp_init(loop, &c->tcp);
  c->tcp.data = c;
  c->next = conns;
  if (conns) conns->prev = c;
  conns = c;
  if (uv_accept(server, (uv_stream_t *)&c->tcp) != 0) {
    conn_close(c);
    return;
  }
  uv_tcp_nodelay(&c->tcp, 1);
  uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
}

static void on_signal(uv_signal_t *h, int signum) {
  if (stopping) return;
  stopping = 1;
  uv_close((uv_handle_t *)&listener, NULL);
  while (conns) conn_close(conns);
  uv_close((uv_handle_t *)&flusher, NULL);
  uv_close((uv_handle_t *)&sigterm_h, NULL);
  uv_close((uv_handle_t *)&sigint_h, NULL);
}

int main(int argc, char **argv) {
  const char *host = "127.0.0.1";
  long port = -1;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i], *v = NULL;
    const char *eq = strchr(a, '=');
    char name[32];
    if (strncmp(a, "--", 2) == 0 && eq && (size_t)(eq - a) < sizeof name) {
      memcpy(name, a, (size_t)(eq - a));
      name[eq - a] = 0;
      v = eq + 1;
      a = name;
    }
    if (strcmp(a, "--host") == 0 || strcmp(a, "--port") == 0) {
      if (!v) {
        if (i + 1 >= argc) usage();
        v = argv[++i];
      }
      if (strcmp(a, "--host") == 0) {
        host = v;
      } else {
        char *end;
        port = strtol(v, &end, 10);
        if (*v == 0 || *end || port < 0 || port > 65535) usage();
      }
    } else if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
      usage();
    } else {
      fprintf(stderr, "sio-raw-echo: unknown argument %s\n", argv[i]);
      usage();
    }
  }
  if (port < 0) usage();
  signal(SIGPIPE, SIG_IGN);
  loop = uv_default_loop();

  struct sockaddr_storage ss;
  if (uv_ip4_addr(host, (int)port, (struct sockaddr_in *)&ss) != 0 &&
      uv_ip6_addr(host, (int)port, (struct sockaddr_in6 *)&ss) != 0) {
    fprintf(stderr, "sio-raw-echo: bad host %s\n", host);
    return 2;
  }
  uv_tcp_init(loop, &listener);
  int r = uv_tcp_bind(&listener, (struct sockaddr *)&ss, 0);
  if (r == 0) r = uv_listen((uv_stream_t *)&listener, 4096, on_connection);
  if (r != 0) {
    fprintf(stderr, "sio-raw-echo: %s:%ld: %s\n", host, port, uv_strerror(r));
    return 1;
  }
  struct sockaddr_storage bound;
  int blen = sizeof bound;
  uv_tcp_getsockname(&listener, (struct sockaddr *)&bound, &blen);
  int real_port = ntohs(bound.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&bound)->sin6_port
                                                    : ((struct sockaddr_in *)&bound)->sin_port);
  uv_check_init(loop, &flusher);
  uv_check_start(&flusher, on_check);
  uv_signal_init(loop, &sigterm_h);
  uv_signal_start(&sigterm_h, on_signal, SIGTERM);
  uv_signal_init(loop, &sigint_h);
  uv_signal_start(&sigint_h, on_signal, SIGINT);
  printf("listening on http://%s:%d\n", host, real_port);
  fflush(stdout);
  uv_run(loop, UV_RUN_DEFAULT);
  free(dirty);
  uv_loop_close(loop);
  return 0;
}
