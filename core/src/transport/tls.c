/* TLS contexts and per-connection state over a borrowed-input, appended-output BIO (see tls.h). */
#include "transport/tls.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "fail.h"
#include "transport/tls_record.h"

/* The traffic secrets OpenSSL derives during a TLS 1.3 handshake (its keylog lines). */
typedef struct {
  uint8_t client[SIO_TLS13_MAX_SECRET], server[SIO_TLS13_MAX_SECRET];
  size_t client_len, server_len;
} secrets_t;

struct sio_tls_s {
  SSL *ssl;            /* until a TLS 1.3 handshake is over (for good with TLS 1.2) */
  sio_tls13_t *rec;    /* then: the record layer of tls_record.c, and no SSL */
  secrets_t *secrets;  /* during the handshake only */
  const char *in;      /* ciphertext lent by sio__tls_begin */
  size_t in_len;
  sio_sbuf_t *out;     /* where the ciphertext goes */
};

/* ---------------------------------------------------------------------------------------------- */
/* The BIO: reads from the lent input, writes to the caller's buffer, holds nothing itself.        */

static int bio_write(BIO *b, const char *p, int n) {
  sio_tls_t *t = BIO_get_data(b);
  BIO_clear_retry_flags(b);
  if (!t || !t->out || n < 0 || sio_sbuf_append(t->out, p, (size_t)n)) return -1;
  return n;
}

static int bio_read(BIO *b, char *p, int n) {
  sio_tls_t *t = BIO_get_data(b);
  BIO_clear_retry_flags(b);
  if (!t || t->in_len == 0) {
    BIO_set_retry_read(b); /* "more input needed", not an error */
    return -1;
  }
  size_t k = (size_t)n < t->in_len ? (size_t)n : t->in_len;
  memcpy(p, t->in, k);
  t->in += k;
  t->in_len -= k;
  return (int)k;
}

static long bio_ctrl(BIO *b, int cmd, long num, void *ptr) {
  (void)num;
  (void)ptr;
  sio_tls_t *t = BIO_get_data(b);
  switch (cmd) {
  case BIO_CTRL_FLUSH: return 1;
  case BIO_CTRL_PENDING: return t ? (long)(t->in_len > LONG_MAX ? LONG_MAX : t->in_len) : 0;
  case BIO_CTRL_WPENDING: return 0;
  default: return 0;
  }
}

static int bio_create(BIO *b) {
  BIO_set_init(b, 1);
  return 1;
}

static BIO_METHOD *bio_method;
static pthread_once_t bio_once = PTHREAD_ONCE_INIT;

static void bio_method_init(void) {
  BIO_METHOD *m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "sio-transport");
  if (!m) return;
  BIO_meth_set_write(m, bio_write);
  BIO_meth_set_read(m, bio_read);
  BIO_meth_set_ctrl(m, bio_ctrl);
  BIO_meth_set_create(m, bio_create);
  bio_method = m;
}

/* ---------------------------------------------------------------------------------------------- */
/* Contexts                                                                                        */

/* OpenSSL's reason for the last failure, and its queue emptied. */
static const char *ssl_reason(char *buf, size_t n) {
  unsigned long e = ERR_peek_last_error();
  if (e) ERR_error_string_n(e, buf, n);
  else snprintf(buf, n, "unknown OpenSSL error");
  ERR_clear_error();
  return buf;
}

/* A file that cannot be opened is named with errno's reason rather than OpenSSL's. */
static int check_readable(const char *what, const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f) return sio__fail(SIO_ETLS, "TLS %s file %s: %s", what, path, strerror(errno));
  fclose(f);
  return 0;
}

/* ALPN: HTTP/1.1 when the client offers it; a client that offers only others (h2) goes on
 * without ALPN rather than failing, and speaks HTTP/1.1 or leaves. */
static int alpn_select(SSL *ssl, const unsigned char **out, unsigned char *outlen,
                       const unsigned char *in, unsigned int inlen, void *arg) {
  (void)ssl;
  (void)arg;
  static const unsigned char want[] = "\x08http/1.1";
  unsigned char *sel;
  if (SSL_select_next_proto(&sel, outlen, want, sizeof want - 1, in, inlen) != OPENSSL_NPN_NEGOTIATED)
    return SSL_TLSEXT_ERR_NOACK;
  *out = sel;
  return SSL_TLSEXT_ERR_OK;
}

static int unhex(const char *s, size_t n, uint8_t *out, size_t cap, size_t *len) {
  if (n % 2 || n / 2 > cap) return -1;
  for (size_t i = 0; i < n / 2; i++) {
    unsigned v;
    if (sscanf(s + 2 * i, "%2x", &v) != 1) return -1;
    out[i] = (uint8_t)v;
  }
  *len = n / 2;
  return 0;
}

/* OpenSSL's key log line "LABEL <client random> <secret>": the application traffic secrets are
 * kept for the record layer that takes over after the handshake. */
static void keylog(const SSL *ssl, const char *line) {
  sio_tls_t *t = SSL_get_app_data(ssl);
  if (!t || !t->secrets) return;
  int client = strncmp(line, "CLIENT_TRAFFIC_SECRET_0 ", 24) == 0;
  if (!client && strncmp(line, "SERVER_TRAFFIC_SECRET_0 ", 24) != 0) return;
  const char *sp = strchr(line + 24, ' ');
  if (!sp) return;
  secrets_t *s = t->secrets;
  size_t *len = client ? &s->client_len : &s->server_len;
  if (unhex(sp + 1, strlen(sp + 1), client ? s->client : s->server, SIO_TLS13_MAX_SECRET, len)) *len = 0;
}

static int ctx_load(SSL_CTX *ctx, const sio_tls_options_t *o) {
  char why[256];
  int r;
  if ((r = check_readable("certificate", o->cert_file)) || (r = check_readable("key", o->key_file)) ||
      (o->ca_file && (r = check_readable("CA", o->ca_file))))
    return r;
  if (SSL_CTX_use_certificate_chain_file(ctx, o->cert_file) != 1)
    return sio__fail(SIO_ETLS, "TLS certificate file %s: %s", o->cert_file, ssl_reason(why, sizeof why));
  if (SSL_CTX_use_PrivateKey_file(ctx, o->key_file, SSL_FILETYPE_PEM) != 1)
    return sio__fail(SIO_ETLS, "TLS key file %s: %s", o->key_file, ssl_reason(why, sizeof why));
  if (SSL_CTX_check_private_key(ctx) != 1)
    return sio__fail(SIO_ETLS, "TLS key %s does not match certificate %s: %s", o->key_file,
                     o->cert_file, ssl_reason(why, sizeof why));
  if (o->ca_file) {
    STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(o->ca_file);
    if (!names || SSL_CTX_load_verify_locations(ctx, o->ca_file, NULL) != 1) {
      sk_X509_NAME_pop_free(names, X509_NAME_free);
      return sio__fail(SIO_ETLS, "TLS CA file %s: %s", o->ca_file, ssl_reason(why, sizeof why));
    }
    SSL_CTX_set_client_CA_list(ctx, names);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
  }
  return 0;
}

int sio__tls_ctx_new(const sio_tls_options_t *o, sio_ssl_ctx_t **out) {
  if (!o || !o->cert_file || !o->key_file || !*o->cert_file || !*o->key_file)
    return sio__fail(SIO_EINVAL, "TLS needs a certificate file and a key file");
  pthread_once(&bio_once, bio_method_init);
  if (!bio_method) return SIO_ENOMEM;
  SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
  if (!ctx) return SIO_ENOMEM;
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  /* Idle connections give their 17 KiB record buffers back; the buffer a write came from may
   * move between retries (the write queue's entries are not pinned). */
  SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION |
                               SSL_OP_CIPHER_SERVER_PREFERENCE);
  /* No server-side session cache (it grows with every client); tickets still resume sessions. */
  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
  /* TLS 1.3 tickets, so that a reconnecting client resumes instead of a full handshake. They are
   * the first records under the server's application key, written with the handshake's end:
   * take_over starts its record layer after them. */
  SSL_CTX_set_num_tickets(ctx, SIO_TLS_TICKETS);
  /* No 0-RTT: early data is replayable, and would come before the record layer could take over
   * (OpenSSL's default too; said here because take_over relies on it). */
  SSL_CTX_set_max_early_data(ctx, 0);
  SSL_CTX_set_keylog_callback(ctx, keylog);
  SSL_CTX_set_alpn_select_cb(ctx, alpn_select, NULL);
  int r = ctx_load(ctx, o);
  if (r) {
    SSL_CTX_free(ctx);
    ERR_clear_error();
    return r;
  }
  *out = ctx;
  return 0;
}

void sio__tls_ctx_free(sio_ssl_ctx_t *ctx) { SSL_CTX_free(ctx); }

/* ---------------------------------------------------------------------------------------------- */
/* Connections                                                                                     */

sio_tls_t *sio__tls_new(sio_ssl_ctx_t *ctx, sio_sbuf_t *out) {
  sio_tls_t *t = calloc(1, sizeof *t);
  if (!t) return NULL;
  t->out = out;
  BIO *bio = BIO_new(bio_method);
  t->ssl = bio ? SSL_new(ctx) : NULL;
  if (!t->ssl) {
    BIO_free(bio);
    free(t);
    ERR_clear_error();
    return NULL;
  }
  BIO_set_data(bio, t);
  SSL_set_bio(t->ssl, bio, bio); /* one BIO both ways: the SSL takes the one reference */
  SSL_set_accept_state(t->ssl);
  SSL_set_app_data(t->ssl, t);
  t->secrets = calloc(1, sizeof *t->secrets);
  if (!t->secrets) {
    sio__tls_free(t);
    return NULL;
  }
  return t;
}

void sio__tls_set_out(sio_tls_t *t, sio_sbuf_t *out) { t->out = out; }

static void secrets_free(sio_tls_t *t) {
  if (!t->secrets) return;
  OPENSSL_cleanse(t->secrets, sizeof *t->secrets);
  free(t->secrets);
  t->secrets = NULL;
}

void sio__tls_free(sio_tls_t *t) {
  if (!t) return;
  SSL_free(t->ssl);
  secrets_free(t);
  if (t->rec) {
    sio__tls13_free(t->rec);
    free(t->rec);
  }
  free(t);
}

/* The records in out from `from` on (whole ones, as OpenSSL writes them), or -1. */
static int64_t records_since(const sio_sbuf_t *out, size_t from) {
  int64_t n = 0;
  const uint8_t *p = (const uint8_t *)out->data + from, *end = (const uint8_t *)out->data + out->len;
  while (p < end) {
    if (end - p < 5) return -1;
    size_t len = (size_t)p[3] << 8 | p[4];
    if ((size_t)(end - p) < 5 + len) return -1;
    p += 5 + len;
    n++;
  }
  return n;
}

/* After a TLS 1.3 handshake, the record layer of tls_record.c takes over and OpenSSL's SSL object
 * (about 14 KiB) is freed. TLS 1.2 keeps the SSL. `written`: where out stood before the
 * handshake's last step, whose records (the tickets) are the first under the server's application
 * key. 0, or SIO_ETLS / SIO_ENOMEM. */
static int take_over(sio_tls_t *t, size_t written) {
  secrets_t *s = t->secrets;
  const SSL_CIPHER *c = SSL_get_current_cipher(t->ssl);
  int suite = c ? sio__tls13_suite(SSL_CIPHER_get_protocol_id(c)) : 0;
  if (SSL_version(t->ssl) != TLS1_3_VERSION || !suite || SSL_has_pending(t->ssl)) {
    secrets_free(t);
    return 0;
  }
  if (!s->client_len || s->client_len != s->server_len) return SIO_ETLS;
  sio_tls13_t *rec = malloc(sizeof *rec);
  if (!rec) return SIO_ENOMEM;
  int64_t sent = t->out ? records_since(t->out, written) : 0;
  if (sent < 0 || sio__tls13_init(rec, suite, s->client, s->server, s->client_len)) {
    sio__tls13_free(rec);
    free(rec);
    return SIO_ETLS;
  }
  rec->wseq = (uint64_t)sent;
  secrets_free(t);
  SSL_free(t->ssl);
  t->ssl = NULL;
  t->rec = rec;
  return 0;
}

void sio__tls_begin(sio_tls_t *t, const char *in, size_t len) {
  t->in = in;
  t->in_len = len;
}

int sio__tls_ready(const sio_tls_t *t) { return t->rec || SSL_is_init_finished(t->ssl); }

/* SSL_ERROR_WANT_READ (the input is used up) is not a failure; the rest is. */
static int want_more(SSL *ssl, int ret) {
  int e = SSL_get_error(ssl, ret);
  if (e == SSL_ERROR_WANT_READ) return 1;
  ERR_clear_error();
  return 0;
}

int sio__tls_handshake(sio_tls_t *t) {
  size_t written = t->out ? t->out->len : 0;
  int ret = SSL_do_handshake(t->ssl);
  if (ret == 1) return take_over(t, written) ? SIO_ETLS : 1;
  return want_more(t->ssl, ret) ? 0 : SIO_ETLS;
}

int sio__tls_read(sio_tls_t *t, char *buf, size_t cap, size_t *got) {
  *got = 0;
  if (t->rec) return sio__tls13_read(t->rec, &t->in, &t->in_len, buf, cap, got, t->out);
  size_t n;
  if (SSL_read_ex(t->ssl, buf, cap, &n) == 1) {
    *got = n;
    return 0;
  }
  int e = SSL_get_error(t->ssl, 0);
  if (e == SSL_ERROR_WANT_READ) return 0;
  ERR_clear_error();
  if (e != SSL_ERROR_ZERO_RETURN) return SIO_ETLS; /* OpenSSL's alert is in the output */
  sio__tls_close_notify(t); /* the peer's close_notify gets ours (RFC 8446 6.1, 5246 7.2.1) */
  return 1;
}

int sio__tls_write(sio_tls_t *t, const void *p, size_t len) {
  size_t n;
  if (len == 0) return 0;
  if (t->rec) return sio__tls13_write(t->rec, p, len, t->out);
  /* The BIO takes every byte, so a write either completes or fails. */
  if (SSL_write_ex(t->ssl, p, len, &n) == 1 && n == len) return 0;
  ERR_clear_error();
  return SIO_ETLS;
}

int sio__tls_close_notify(sio_tls_t *t) {
  if (t->rec) return sio__tls13_close_notify(t->rec, t->out);
  if (!SSL_is_init_finished(t->ssl) || (SSL_get_shutdown(t->ssl) & SSL_SENT_SHUTDOWN)) return 0;
  SSL_shutdown(t->ssl);
  ERR_clear_error();
  return 0;
}
