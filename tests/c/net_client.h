/* Helpers for the C integration tests: a blocking client on plain POSIX sockets that speaks raw
 * HTTP/1.1 and raw WebSocket (client role), and a harness that runs a sio server's uv loop in the
 * test's thread while the client runs in a second thread.
 *
 * Why two threads: the server is single-threaded and callback driven, while a test reads best as a
 * straight sequence of requests and expected answers. Blocking sockets with timeouts keep that
 * sequence simple and every wait bounded.
 *
 * Thread rules: the client thread never touches sio or uv objects except through nh_call() (runs a
 * function on the loop thread and waits for it), nh_wait() (waits for nh_signal() from the loop
 * thread) and the final hand-over that closes the server. State the loop thread records is read
 * by the test after nh_run() returns (the thread join orders it). */
#ifndef SIO_NET_CLIENT_H
#define SIO_NET_CLIENT_H

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include "sio.h"
#include "websocket/ws.h"

#define NC_TIMEOUT_S 5
#define NC_BUF_SIZE (128 * 1024)
#define NC_BODY_MAX 65536

/* ---------------------------------------------------------------------------------------------- */
/* The client: one TCP connection with its unconsumed input                                       */

typedef struct nc_conn {
  int fd;
  int port;
  size_t len; /* bytes in buf not consumed yet (a response may arrive with the next one behind) */
  char buf[NC_BUF_SIZE];
} nc_conn_t;

/* Connects to 127.0.0.1:port. rcvbuf > 0 sets SO_RCVBUF before connect (the window is agreed in the
 * handshake, so it must be set first). Reads and writes time out after NC_TIMEOUT_S. */
static inline nc_conn_t *nc_connect(int port, int rcvbuf) {
  nc_conn_t *c = calloc(1, sizeof *c);
  if (!c) return NULL;
  c->port = port;
  c->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (c->fd < 0) goto fail;
  struct timeval tv = {NC_TIMEOUT_S, 0};
  setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  setsockopt(c->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  if (rcvbuf > 0) setsockopt(c->fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
  struct sockaddr_in sa;
  memset(&sa, 0, sizeof sa);
  sa.sin_family = AF_INET;
  sa.sin_port = htons((uint16_t)port);
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(c->fd, (struct sockaddr *)&sa, sizeof sa) != 0) goto fail;
  return c;
fail:
  fprintf(stderr, "nc: connect to port %d: %s\n", port, strerror(errno));
  if (c->fd >= 0) close(c->fd);
  free(c);
  return NULL;
}

/* Closes the socket (the struct stays, for whoever owns it). */
static inline void nc_close(nc_conn_t *c) {
  if (c && c->fd >= 0) {
    close(c->fd);
    c->fd = -1;
  }
}

static inline int nc_send(nc_conn_t *c, const void *p, size_t n) {
  const char *s = p;
  while (n > 0) {
    /* MSG_NOSIGNAL: a server that already closed must fail the test, not kill it with SIGPIPE. */
    ssize_t w = send(c->fd, s, n, MSG_NOSIGNAL);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) {
      fprintf(stderr, "nc: send: %s\n", strerror(errno));
      return -1;
    }
    s += w;
    n -= (size_t)w;
  }
  return 0;
}

/* One recv into the buffer: > 0 bytes read, 0 on EOF, -1 on timeout or error (errno kept). */
static inline int nc_fill(nc_conn_t *c) {
  if (c->len == sizeof c->buf) {
    errno = ENOBUFS;
    return -1;
  }
  for (;;) {
    ssize_t n = recv(c->fd, c->buf + c->len, sizeof c->buf - c->len, 0);
    if (n > 0) {
      c->len += (size_t)n;
      return (int)n;
    }
    if (n == 0) return 0;
    if (errno == EINTR) continue;
    return -1;
  }
}

static inline void nc_consume(nc_conn_t *c, size_t n) {
  memmove(c->buf, c->buf + n, c->len - n);
  c->len -= n;
}

/* 0 when the peer closes the connection cleanly with nothing more to read; -1 otherwise
 * (unexpected bytes, a timeout, a reset). */
static inline int nc_read_eof(nc_conn_t *c) {
  if (c->len) {
    fprintf(stderr, "nc: %zu unexpected bytes before EOF: \"%.*s\"\n", c->len,
            (int)(c->len > 80 ? 80 : c->len), c->buf);
    return -1;
  }
  int n = nc_fill(c);
  if (n == 0) return 0;
  fprintf(stderr, "nc: expected EOF, got %s\n", n > 0 ? "data" : strerror(errno));
  return -1;
}

/* ---------------------------------------------------------------------------------------------- */
/* HTTP/1.1                                                                                       */

typedef struct nc_response {
  int status;
  char head[8192]; /* status line and header lines, NUL-terminated, without the blank line */
  size_t body_len;
  char body[NC_BODY_MAX + 1]; /* NUL-terminated as well */
} nc_response_t;

/* Number of header lines named `name` (case-insensitive); the first one's value (trimmed) is
 * copied into out when out is not NULL. */
static inline int nc_header(const nc_response_t *r, const char *name, char *out, size_t outsz) {
  int count = 0;
  size_t nlen = strlen(name);
  if (out && outsz) out[0] = '\0';
  const char *line = strstr(r->head, "\r\n");
  while (line) {
    line += 2;
    const char *eol = strstr(line, "\r\n");
    size_t llen = eol ? (size_t)(eol - line) : strlen(line);
    if (llen > nlen && line[nlen] == ':' && strncasecmp(line, name, nlen) == 0) {
      if (count == 0 && out && outsz) {
        const char *v = line + nlen + 1, *end = line + llen;
        while (v < end && *v == ' ') v++;
        while (end > v && end[-1] == ' ') end--;
        size_t vlen = (size_t)(end - v);
        if (vlen >= outsz) vlen = outsz - 1;
        memcpy(out, v, vlen);
        out[vlen] = '\0';
      }
      count++;
    }
    line = eol;
  }
  return count;
}

/* Number of header lines whose name begins with `prefix` (case-insensitive). */
static inline int nc_header_prefix_count(const nc_response_t *r, const char *prefix) {
  int count = 0;
  size_t plen = strlen(prefix);
  const char *line = strstr(r->head, "\r\n");
  while (line) {
    line += 2;
    if (strncasecmp(line, prefix, plen) == 0) count++;
    line = strstr(line, "\r\n");
  }
  return count;
}

/* Reads one response: the head, then Content-Length bytes of body (none for 101/204/304 without
 * it; up to EOF for a response that has neither). Bytes after it stay buffered. 0 or -1. */
static inline int nc_read_response(nc_conn_t *c, nc_response_t *r) {
  char *end;
  r->status = 0;
  r->head[0] = '\0';
  r->body_len = 0;
  r->body[0] = '\0';
  while (!(end = memmem(c->buf, c->len, "\r\n\r\n", 4))) {
    int n = nc_fill(c);
    if (n <= 0) {
      fprintf(stderr, "nc: %s before a whole response head (%zu bytes buffered)\n",
              n == 0 ? "EOF" : strerror(errno), c->len);
      return -1;
    }
  }
  size_t head_len = (size_t)(end - c->buf);
  if (head_len >= sizeof r->head) return -1;
  memcpy(r->head, c->buf, head_len);
  r->head[head_len] = '\0';
  nc_consume(c, head_len + 4);
  if (sscanf(r->head, "HTTP/1.1 %d ", &r->status) != 1) {
    fprintf(stderr, "nc: bad status line: %.80s\n", r->head);
    return -1;
  }
  char cl[32];
  long want = -1;
  if (nc_header(r, "content-length", cl, sizeof cl)) want = strtol(cl, NULL, 10);
  else if (r->status == 101 || r->status == 204 || r->status == 304) want = 0;
  if (want > NC_BODY_MAX) return -1;
  if (want >= 0) {
    while (c->len < (size_t)want) {
      int n = nc_fill(c);
      if (n <= 0) {
        fprintf(stderr, "nc: %s in a body of %ld bytes\n", n == 0 ? "EOF" : strerror(errno), want);
        return -1;
      }
    }
  } else {
    int n;
    while ((n = nc_fill(c)) > 0) {
    }
    if (n < 0 || c->len > NC_BODY_MAX) return -1;
    want = (long)c->len;
  }
  memcpy(r->body, c->buf, (size_t)want);
  r->body[want] = '\0';
  r->body_len = (size_t)want;
  nc_consume(c, (size_t)want);
  return 0;
}

/* Sends a request (Host added; Content-Length too when body is not NULL) and, when r is not NULL,
 * reads its response. `extra`: header lines each ending in \r\n, or NULL. 0 or -1. */
static inline int nc_request(nc_conn_t *c, const char *method, const char *target, const char *extra,
                             const char *body, size_t body_len, nc_response_t *r) {
  char head[8192], cl[64] = "";
  if (body) snprintf(cl, sizeof cl, "Content-Length: %zu\r\n", body_len);
  int n = snprintf(head, sizeof head, "%s %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n%s%s\r\n", method,
                   target, c->port, cl, extra ? extra : "");
  if (n < 0 || (size_t)n >= sizeof head) return -1;
  if (nc_send(c, head, (size_t)n) != 0) return -1;
  if (body && body_len && nc_send(c, body, body_len) != 0) return -1;
  return r ? nc_read_response(c, r) : 0;
}

/* ---------------------------------------------------------------------------------------------- */
/* WebSocket, client role                                                                         */

/* RFC 6455's own example pair (section 1.3), so the accept value is checked against the spec and
 * not against the code under test. */
#define NC_WS_KEY "dGhlIHNhbXBsZSBub25jZQ=="
#define NC_WS_ACCEPT "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="

/* Upgrades the connection: expects 101 with the right Sec-WebSocket-Accept. The response head is
 * left in r. 0 or -1. */
static inline int nc_ws_open(nc_conn_t *c, const char *target, nc_response_t *r) {
  static const char hdrs[] =
      "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: " NC_WS_KEY
      "\r\nSec-WebSocket-Version: 13\r\n";
  if (nc_request(c, "GET", target, hdrs, NULL, 0, r) != 0) return -1;
  char accept[64];
  if (r->status != 101 || nc_header(r, "sec-websocket-accept", accept, sizeof accept) != 1 ||
      strcmp(accept, NC_WS_ACCEPT) != 0) {
    fprintf(stderr, "nc: bad upgrade response: %s\n", r->head);
    return -1;
  }
  return 0;
}

/* Sends one whole frame, masked as a client must. */
static inline int nc_ws_send(nc_conn_t *c, int opcode, const void *data, size_t len) {
  static unsigned counter;
  /* The key only has to vary; a changing one catches a server that ignores it. */
  unsigned k = 0x9e3779b9u * ++counter;
  uint8_t mask[4] = {(uint8_t)k, (uint8_t)(k >> 8), (uint8_t)(k >> 16), (uint8_t)(k >> 24)};
  uint8_t hdr[14];
  size_t h = sio_ws_frame_header(hdr, opcode, 1, len, mask);
  uint8_t *frame = malloc(h + len + 1);
  if (!frame) return -1;
  memcpy(frame, hdr, h);
  if (len) memcpy(frame + h, data, len);
  sio_ws_mask(frame + h, len, mask, 0);
  int r = nc_send(c, frame, h + len);
  free(frame);
  return r;
}

/* Reads one server frame (which must be unmasked, unfragmented, without RSV bits): its opcode and
 * payload (copied into out, at most outsz bytes). 0; -2 on EOF before a frame starts; -1 on
 * anything else (a timeout, a malformed frame, a payload larger than outsz). */
static inline int nc_ws_read(nc_conn_t *c, int *opcode, char *out, size_t outsz, size_t *outlen) {
  for (;;) {
    if (c->len >= 2) {
      uint8_t b0 = (uint8_t)c->buf[0], b1 = (uint8_t)c->buf[1];
      size_t hl = 2;
      uint64_t plen = b1 & 0x7f;
      if (b1 & 0x80) {
        fprintf(stderr, "nc: masked frame from the server\n");
        return -1;
      }
      if (plen == 126) hl = 4;
      else if (plen == 127) hl = 10;
      if (c->len >= hl) {
        const uint8_t *p = (const uint8_t *)c->buf;
        if (plen == 126) {
          plen = (uint64_t)p[2] << 8 | p[3];
        } else if (plen == 127) {
          plen = 0;
          for (int i = 0; i < 8; i++) plen = plen << 8 | p[2 + i];
        }
        if (hl + plen > sizeof c->buf || plen > outsz) {
          fprintf(stderr, "nc: frame of %llu bytes too large\n", (unsigned long long)plen);
          return -1;
        }
        if (c->len >= hl + plen) {
          if (!(b0 & 0x80) || (b0 & 0x70)) {
            fprintf(stderr, "nc: fragmented frame or RSV bits: 0x%02x\n", b0);
            return -1;
          }
          *opcode = b0 & 0x0f;
          memcpy(out, c->buf + hl, (size_t)plen);
          *outlen = (size_t)plen;
          nc_consume(c, hl + (size_t)plen);
          return 0;
        }
      }
    }
    int n = nc_fill(c);
    if (n == 0) return c->len ? -1 : -2;
    if (n < 0) {
      fprintf(stderr, "nc: reading a frame: %s\n", strerror(errno));
      return -1;
    }
  }
}

/* ---------------------------------------------------------------------------------------------- */
/* The harness: a loop with a server in this thread, a client in another                          */

typedef struct nh nh_t;
typedef void (*nh_client_fn)(nh_t *h);
typedef void (*nh_loop_fn)(nh_t *h, void *arg);

/* Connections one case may open (a test file may define more before including this). */
#ifndef NH_MAX_CONNS
#define NH_MAX_CONNS 16
#endif

struct nh {
  uv_loop_t loop;
  sio_server_t *server;
  int port;
  void *user; /* the test's own state */
  /* Called on the loop thread just before the server is closed: the test closes its own handles
   * (timers) here so that the loop can end. */
  void (*on_shutdown)(nh_t *h);
  int server_closed; /* the server's close callback ran (count) */
  int timed_out;     /* the watchdog had to stop the loop */
  /* private */
  uv_async_t async;
  uv_timer_t watchdog;
  uv_mutex_t mu;
  uv_cond_t cv;
  nh_loop_fn call_fn;
  void *call_arg;
  int call_done;
  int finish;
  int close_called;
  int signals;
  nh_client_fn client;
  pthread_t thread;
  nc_conn_t *conns[NH_MAX_CONNS];
  int nconns;
};

static inline void nh_on_server_closed_(sio_server_t *s) {
  nh_t *h = sio_server_get_data(s);
  h->server_closed++;
}

/* Loop thread: closes the server (once), after the test's on_shutdown hook. */
static inline void nh_close_server(nh_t *h) {
  if (h->close_called) return;
  h->close_called = 1;
  if (h->on_shutdown) h->on_shutdown(h);
  sio_server_close(h->server, nh_on_server_closed_);
}

static inline void nh_on_async_(uv_async_t *a) {
  nh_t *h = a->data;
  uv_mutex_lock(&h->mu);
  nh_loop_fn fn = h->call_fn;
  void *arg = h->call_arg;
  int finish = h->finish;
  uv_mutex_unlock(&h->mu);
  if (fn) {
    /* Run unlocked: fn may reach callbacks that call nh_signal(). */
    fn(h, arg);
    uv_mutex_lock(&h->mu);
    h->call_fn = NULL;
    h->call_done = 1;
    uv_cond_broadcast(&h->cv);
    uv_mutex_unlock(&h->mu);
  }
  if (finish) {
    nh_close_server(h);
    uv_close((uv_handle_t *)&h->async, NULL);
  }
}

static inline void nh_on_watchdog_(uv_timer_t *t) {
  nh_t *h = t->data;
  fprintf(stderr, "nh: watchdog: the loop did not finish in time\n");
  h->timed_out = 1;
  uv_stop(&h->loop);
}

/* A loop, a server listening on 127.0.0.1:0 (h->port), the plumbing. 0 or a negative code. */
static inline int nh_init(nh_t *h) {
  memset(h, 0, sizeof *h);
  /* libuv writes with write(2): a peer's reset must give EPIPE, not kill the test process. */
  signal(SIGPIPE, SIG_IGN);
  int r = uv_loop_init(&h->loop);
  if (r) return r;
  r = sio_server_new(&h->loop, NULL, &h->server);
  if (r) return r;
  sio_server_set_data(h->server, h);
  r = sio_server_listen(h->server, "127.0.0.1", 0);
  if (r) return r;
  h->port = sio_server_port(h->server);
  if (h->port <= 0) return h->port ? h->port : -1;
  uv_async_init(&h->loop, &h->async, nh_on_async_);
  h->async.data = h;
  uv_timer_init(&h->loop, &h->watchdog);
  h->watchdog.data = h;
  uv_mutex_init(&h->mu);
  uv_cond_init(&h->cv);
  return 0;
}

/* Client thread: a connection the harness closes and frees at the end. */
static inline nc_conn_t *nh_connect(nh_t *h, int rcvbuf) {
  if (h->nconns == NH_MAX_CONNS) return NULL;
  nc_conn_t *c = nc_connect(h->port, rcvbuf);
  if (c) h->conns[h->nconns++] = c;
  return c;
}

/* Client thread: runs fn(h, arg) on the loop thread and waits for it. 0, or -1 after 5 s. */
static inline int nh_call(nh_t *h, nh_loop_fn fn, void *arg) {
  uv_mutex_lock(&h->mu);
  h->call_fn = fn;
  h->call_arg = arg;
  h->call_done = 0;
  uv_mutex_unlock(&h->mu);
  uv_async_send(&h->async);
  int r = 0;
  uv_mutex_lock(&h->mu);
  while (!h->call_done && r == 0) r = uv_cond_timedwait(&h->cv, &h->mu, NC_TIMEOUT_S * 1000000000ull);
  if (!h->call_done) h->call_fn = NULL;
  r = h->call_done ? 0 : -1;
  uv_mutex_unlock(&h->mu);
  if (r) fprintf(stderr, "nh: a call to the loop thread timed out\n");
  return r;
}

/* Loop thread: wakes nh_wait(). */
static inline void nh_signal(nh_t *h) {
  uv_mutex_lock(&h->mu);
  h->signals++;
  uv_cond_broadcast(&h->cv);
  uv_mutex_unlock(&h->mu);
}

/* Client thread: waits until nh_signal() has been called n times in all. 0, or -1 on timeout. */
static inline int nh_wait(nh_t *h, int n, unsigned timeout_ms) {
  uint64_t deadline = uv_hrtime() + (uint64_t)timeout_ms * 1000000u;
  uv_mutex_lock(&h->mu);
  while (h->signals < n) {
    uint64_t now = uv_hrtime();
    if (now >= deadline) break;
    uv_cond_timedwait(&h->cv, &h->mu, deadline - now);
  }
  int ok = h->signals >= n;
  uv_mutex_unlock(&h->mu);
  if (!ok) fprintf(stderr, "nh: waited %u ms for signal %d in vain\n", timeout_ms, n);
  return ok ? 0 : -1;
}

static inline void nh_sleep_ms(unsigned ms) {
  struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
}

static inline void *nh_thread_(void *arg) {
  nh_t *h = arg;
  h->client(h);
  /* Whatever the client did (or where a failed check left it), its sockets close before the
   * server does, and the loop is told to finish. */
  for (int i = 0; i < h->nconns; i++) nc_close(h->conns[i]);
  uv_mutex_lock(&h->mu);
  h->finish = 1;
  uv_mutex_unlock(&h->mu);
  uv_async_send(&h->async);
  return NULL;
}

/* Runs the loop with `client` in a second thread until the client is done and the server closed.
 * 0 when everything ended and uv_loop_close() succeeded (no handle left behind); else negative. */
static inline int nh_run(nh_t *h, nh_client_fn client, unsigned timeout_ms) {
  h->client = client;
  uv_timer_start(&h->watchdog, nh_on_watchdog_, timeout_ms, 0);
  uv_unref((uv_handle_t *)&h->watchdog); /* a guard, not a reason to keep running */
  if (pthread_create(&h->thread, NULL, nh_thread_, h) != 0) return -1;
  uv_run(&h->loop, UV_RUN_DEFAULT);
  pthread_join(h->thread, NULL);
  for (int i = 0; i < h->nconns; i++) free(h->conns[i]);
  h->nconns = 0;
  if (h->timed_out) return UV_ETIMEDOUT; /* handles are left as they are: the test failed */
  uv_close((uv_handle_t *)&h->watchdog, NULL);
  uv_run(&h->loop, UV_RUN_DEFAULT);
  uv_mutex_destroy(&h->mu);
  uv_cond_destroy(&h->cv);
  int r = uv_loop_close(&h->loop);
  if (r) fprintf(stderr, "nh: uv_loop_close: %s (handles left open)\n", uv_err_name(r));
  return r;
}

#endif
