#include "client/eioc_conn.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "sio.h"

#define READ_BUF 65536
#define TLS_PLAIN_BUF 16384

struct sio_eioc_conn {
  uv_loop_t *loop;
  uv_tcp_t tcp;
  /* Only while connecting (freed once connected): an open connection does not carry them. */
  struct connecting {
    uv_getaddrinfo_t gai;
    uv_connect_t creq;
  } *cx;
  struct addrinfo *ai_list, *ai_cur;
  sio_eioc_conn_cbs_t cbs;
  void *user;
  SSL_CTX *ssl_ctx;
  SSL *ssl;
  BIO *rbio, *wbio; /* owned by ssl */
  char *host;
  int port;
  unsigned gai_pending : 1, tcp_open : 1, connected : 1, handshaking : 1, closed : 1, ended : 1;
  int last_err;
  size_t pending_bytes;
};

/* One read buffer (and TLS plaintext buffer) for all the connections of a thread: a read is
 * consumed before its callback returns (the parsers keep only partial frames and bodies), so an
 * idle connection holds no buffer at all. Allocated on first use, freed with the last connection. */
static _Thread_local char *shared_buf;
static _Thread_local size_t shared_users;

static char *read_buf(void) {
  if (!shared_buf) shared_buf = malloc(READ_BUF + TLS_PLAIN_BUF);
  return shared_buf;
}

typedef struct {
  uv_write_t req;
  sio_eioc_conn_t *c;
  char *data;
  size_t len;
} wreq_t;

static int is_ip(const char *host) {
  unsigned char tmp[16];
  return inet_pton(AF_INET, host, tmp) == 1 || inet_pton(AF_INET6, host, tmp) == 1;
}

static void maybe_free(sio_eioc_conn_t *c) {
  if (!c->closed || c->gai_pending || c->tcp_open) return;
  if (--shared_users == 0) {
    free(shared_buf);
    shared_buf = NULL;
  }
  if (c->ai_list) uv_freeaddrinfo(c->ai_list);
  free(c->cx);
  SSL_free(c->ssl);
  free(c->host);
  free(c);
}

static void on_tcp_closed(uv_handle_t *h) {
  sio_eioc_conn_t *c = h->data;
  c->tcp_open = 0;
  maybe_free(c);
}

/* The end of the stream, reported once; the user's close follows or not. */
static void end(sio_eioc_conn_t *c, int err) {
  if (c->closed || c->ended) return;
  c->ended = 1;
  if (c->tcp_open && !uv_is_closing((uv_handle_t *)&c->tcp)) uv_read_stop((uv_stream_t *)&c->tcp);
  c->cbs.on_end(c, err);
}

static void connect_failed(sio_eioc_conn_t *c, int err, const char *detail) {
  if (c->closed || c->ended) return;
  c->ended = 1;
  c->cbs.on_connect(c, err, detail);
}

/* ---------------------------------------------------------------------------------------------- */
/* Writing                                                                                         */

static void on_written(uv_write_t *req, int status) {
  wreq_t *w = (wreq_t *)req;
  sio_eioc_conn_t *c = w->c;
  c->pending_bytes -= w->len;
  free(w->data);
  free(w);
  if (c->closed) return;
  if (status < 0) {
    end(c, status);
    return;
  }
  if (c->pending_bytes == 0 && c->cbs.on_drain && c->connected) c->cbs.on_drain(c);
}

static int raw_write(sio_eioc_conn_t *c, char *data, size_t len) {
  wreq_t *w = malloc(sizeof *w);
  if (!w) {
    free(data);
    return SIO_ENOMEM;
  }
  w->c = c;
  w->data = data;
  w->len = len;
  uv_buf_t b = uv_buf_init(data, (unsigned)len);
  int r = uv_write(&w->req, (uv_stream_t *)&c->tcp, &b, 1, on_written);
  if (r) {
    free(data);
    free(w);
    return r;
  }
  c->pending_bytes += len;
  return 0;
}

/* Sends what OpenSSL has produced. */
static int flush_tls(sio_eioc_conn_t *c) {
  size_t n = BIO_ctrl_pending(c->wbio);
  if (n == 0) return 0;
  char *data = malloc(n);
  if (!data) return SIO_ENOMEM;
  int got = BIO_read(c->wbio, data, (int)n);
  if (got <= 0) {
    free(data);
    return 0;
  }
  return raw_write(c, data, (size_t)got);
}

int sio_eioc_conn_write(sio_eioc_conn_t *c, sio_sbuf_t *buf) {
  if (c->closed || c->ended || !c->connected) return SIO_ECLOSED;
  if (buf->len == 0) return 0;
  if (!c->ssl) {
    size_t len = buf->len;
    char *data = sio_sbuf_steal(buf, &len);
    return raw_write(c, data, len);
  }
  /* The memory BIO grows as needed, so SSL_write takes everything in one call. */
  size_t off = 0;
  while (off < buf->len) {
    size_t n = buf->len - off > (1u << 30) ? (1u << 30) : buf->len - off;
    int w = SSL_write(c->ssl, buf->data + off, (int)n);
    if (w <= 0) {
      buf->len = 0;
      return SIO_ETLS;
    }
    off += (size_t)w;
  }
  buf->len = 0;
  return flush_tls(c);
}

size_t sio_eioc_conn_pending(const sio_eioc_conn_t *c) { return c->pending_bytes; }

/* ---------------------------------------------------------------------------------------------- */
/* Reading                                                                                         */

static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  char *b = read_buf();
  *buf = uv_buf_init(b, b ? READ_BUF : 0); /* none: libuv reports UV_ENOBUFS */
}

static void tls_failed(sio_eioc_conn_t *c) {
  char detail[256];
  long v = SSL_get_verify_result(c->ssl);
  unsigned long e = ERR_get_error();
  if (v != X509_V_OK)
    snprintf(detail, sizeof detail, "TLS: %s", X509_verify_cert_error_string(v));
  else
    snprintf(detail, sizeof detail, "TLS: %s", e ? ERR_reason_error_string(e) : "handshake failed");
  ERR_clear_error();
  connect_failed(c, SIO_ETLS, detail);
}

static void tls_handshake(sio_eioc_conn_t *c) {
  int r = SSL_do_handshake(c->ssl);
  if (flush_tls(c)) {
    connect_failed(c, SIO_ENOMEM, "out of memory");
    return;
  }
  if (r == 1) {
    c->handshaking = 0;
    c->connected = 1;
    c->cbs.on_connect(c, 0, NULL);
    return;
  }
  int e = SSL_get_error(c->ssl, r);
  if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) tls_failed(c);
}

static void tls_read(sio_eioc_conn_t *c) {
  for (;;) {
    if (c->handshaking) {
      tls_handshake(c);
      if (c->handshaking || c->closed || c->ended) return;
    }
    char *plain = read_buf();
    if (!plain) {
      end(c, SIO_ENOMEM);
      return;
    }
    plain += READ_BUF;
    int n = SSL_read(c->ssl, plain, TLS_PLAIN_BUF);
    if (n > 0) {
      c->cbs.on_read(c, plain, (size_t)n);
      if (c->closed || c->ended) return;
      continue;
    }
    int e = SSL_get_error(c->ssl, n);
    flush_tls(c); /* a post-handshake message may want an answer */
    if (e == SSL_ERROR_WANT_READ) return;
    ERR_clear_error();
    end(c, e == SSL_ERROR_ZERO_RETURN ? UV_EOF : SIO_ETLS);
    return;
  }
}

static void read_cb(uv_stream_t *s, ssize_t n, const uv_buf_t *buf) {
  sio_eioc_conn_t *c = s->data;
  if (c->closed || c->ended) return;
  if (n < 0) {
    if (c->handshaking) {
      char detail[160];
      snprintf(detail, sizeof detail, "TLS: connection closed during the handshake with %s:%d",
               c->host, c->port);
      connect_failed(c, n == UV_EOF ? SIO_ETLS : (int)n, detail);
      return;
    }
    end(c, (int)n);
    return;
  }
  if (n == 0) return;
  if (!c->ssl) {
    c->cbs.on_read(c, buf->base, (size_t)n);
    return;
  }
  BIO_write(c->rbio, buf->base, (int)n);
  tls_read(c);
}

/* ---------------------------------------------------------------------------------------------- */
/* Connecting                                                                                      */

static int start_tls(sio_eioc_conn_t *c) {
  c->ssl = SSL_new(c->ssl_ctx);
  if (!c->ssl) return SIO_ENOMEM;
  c->rbio = BIO_new(BIO_s_mem());
  c->wbio = BIO_new(BIO_s_mem());
  if (!c->rbio || !c->wbio) {
    BIO_free(c->rbio);
    BIO_free(c->wbio);
    return SIO_ENOMEM;
  }
  SSL_set_bio(c->ssl, c->rbio, c->wbio);
  SSL_set_connect_state(c->ssl);
  if (is_ip(c->host)) {
    X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(c->ssl), c->host);
  } else {
    SSL_set_tlsext_host_name(c->ssl, c->host);
    SSL_set1_host(c->ssl, c->host);
  }
  c->handshaking = 1;
  return 0;
}

static void try_connect(sio_eioc_conn_t *c);

static void on_retry_closed(uv_handle_t *h) {
  sio_eioc_conn_t *c = h->data;
  c->tcp_open = 0;
  if (c->closed) {
    maybe_free(c);
    return;
  }
  try_connect(c);
}

static void on_connected(uv_connect_t *req, int status) {
  sio_eioc_conn_t *c = req->data;
  if (c->closed) return;
  if (status < 0) {
    c->last_err = status;
    if (c->ai_cur && c->ai_cur->ai_next) {
      /* Another address of the name may answer (localhost as ::1, then 127.0.0.1). */
      c->ai_cur = c->ai_cur->ai_next;
      uv_close((uv_handle_t *)&c->tcp, on_retry_closed);
      return;
    }
    char detail[200];
    snprintf(detail, sizeof detail, "connect %s %s:%d", uv_err_name(status), c->host, c->port);
    connect_failed(c, status, detail);
    return;
  }
  uv_tcp_nodelay(&c->tcp, 1);
  uv_freeaddrinfo(c->ai_list); /* connected: the other addresses are not needed */
  c->ai_list = c->ai_cur = NULL;
  free(c->cx);
  c->cx = NULL;
  int r = uv_read_start((uv_stream_t *)&c->tcp, alloc_cb, read_cb);
  if (r == 0 && c->ssl_ctx) r = start_tls(c);
  if (r) {
    connect_failed(c, r, sio_strerror(r));
    return;
  }
  if (c->ssl) {
    tls_handshake(c);
    return;
  }
  c->connected = 1;
  c->cbs.on_connect(c, 0, NULL);
}

static void try_connect(sio_eioc_conn_t *c) {
  int r = uv_tcp_init(c->loop, &c->tcp);
  if (r) {
    connect_failed(c, r, sio_strerror(r));
    return;
  }
  c->tcp.data = c;
  c->tcp_open = 1;
  c->cx->creq.data = c;
  r = uv_tcp_connect(&c->cx->creq, &c->tcp, c->ai_cur->ai_addr, on_connected);
  if (r) {
    char detail[200];
    snprintf(detail, sizeof detail, "connect %s %s:%d", uv_err_name(r), c->host, c->port);
    connect_failed(c, r, detail);
  }
}

static void on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res) {
  sio_eioc_conn_t *c = req->data;
  c->gai_pending = 0;
  c->ai_list = res;
  if (c->closed) {
    maybe_free(c);
    return;
  }
  if (status < 0 || !res) {
    char detail[300];
    snprintf(detail, sizeof detail, "getaddrinfo %s %s", status < 0 ? uv_err_name(status) : "ENOTFOUND",
             c->host);
    connect_failed(c, status < 0 ? status : UV_EAI_NONAME, detail);
    return;
  }
  c->ai_cur = res;
  try_connect(c);
}

int sio_eioc_conn_open(uv_loop_t *loop, const char *host, int port, SSL_CTX *ssl_ctx,
                       const sio_eioc_conn_cbs_t *cbs, void *user, sio_eioc_conn_t **out) {
  sio_eioc_conn_t *c = calloc(1, sizeof *c);
  if (!c) return SIO_ENOMEM;
  c->host = strdup(host);
  if (!c->host) {
    free(c);
    return SIO_ENOMEM;
  }
  c->loop = loop;
  c->port = port;
  c->cbs = *cbs;
  c->user = user;
  c->ssl_ctx = ssl_ctx;
  c->cx = calloc(1, sizeof *c->cx);
  if (!c->cx) {
    free(c->host);
    free(c);
    return SIO_ENOMEM;
  }
  c->cx->gai.data = c;
  char service[16];
  snprintf(service, sizeof service, "%d", port);
  struct addrinfo hints;
  memset(&hints, 0, sizeof hints);
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_protocol = IPPROTO_TCP;
  if (is_ip(host)) hints.ai_flags = AI_NUMERICHOST;
  int r = uv_getaddrinfo(loop, &c->cx->gai, on_resolved, host, service, &hints);
  if (r) {
    free(c->cx);
    free(c->host);
    free(c);
    return r;
  }
  c->gai_pending = 1;
  shared_users++;
  *out = c;
  return 0;
}

void *sio_eioc_conn_user(const sio_eioc_conn_t *c) { return c->user; }
void sio_eioc_conn_set_user(sio_eioc_conn_t *c, void *user) { c->user = user; }

void sio_eioc_conn_close(sio_eioc_conn_t *c) {
  if (!c || c->closed) return;
  c->closed = 1;
  if (c->gai_pending) uv_cancel((uv_req_t *)&c->cx->gai);
  if (c->tcp_open && !uv_is_closing((uv_handle_t *)&c->tcp))
    uv_close((uv_handle_t *)&c->tcp, on_tcp_closed);
  maybe_free(c);
}

/* ---------------------------------------------------------------------------------------------- */
/* TLS context                                                                                     */

SSL_CTX *sio_eioc_tls_ctx(const char *ca_file, int verify, const char **detail) {
  SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
  if (!ctx) {
    *detail = "TLS: cannot create a context";
    return NULL;
  }
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  static const unsigned char alpn[] = "\x08http/1.1";
  SSL_CTX_set_alpn_protos(ctx, alpn, sizeof alpn - 1);
  if (verify) {
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    int ok = ca_file ? SSL_CTX_load_verify_locations(ctx, ca_file, NULL)
                     : SSL_CTX_set_default_verify_paths(ctx);
    if (ok != 1) {
      ERR_clear_error();
      *detail = "TLS: cannot load the CA certificates";
      SSL_CTX_free(ctx);
      return NULL;
    }
  } else {
    SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
  }
  return ctx;
}
