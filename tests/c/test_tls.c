/* Native TLS (sio_server_listen_tls): a real OpenSSL client in a second thread against the server's
 * loop in this one. Certificates are made here, in memory, and written to a temporary directory.
 * Covers: errors at listen time, a request over TLS next to a plain listener of the same server,
 * close_notify on a graceful close, garbage and stalled handshakes closed (by the bytes, or by the
 * headers timeout) and many stalled ones bounded, and a certificate reload that new connections see
 * while an established one keeps working. The TLS 1.3 record layer that takes over after the
 * handshake (tls_record.c) is checked against RFC 8446 by a client that plays it with the secrets
 * of its own key log: each rule broken gets its alert, what the RFC allows is served (cut
 * KeyUpdates, padding, empty records, a thousand KeyUpdate requests answered once), close_notify
 * is answered, and the Finished coalesced with the first request loses nothing. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <errno.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "sio.h"
#include "test.h"
#include "transport/tls.h"
#include "transport/tls_record.h"

/* ---------------------------------------------------------------------------------------------- */
/* Certificates                                                                                    */

static char tmpdir[64];

/* A self-signed P-256 certificate for 127.0.0.1 with common name `cn`: cert and key PEM files
 * named <tmpdir>/<name>.crt and .key. 1 on success. */
static int make_cert(const char *name, const char *cn) {
  EVP_PKEY *key = EVP_EC_gen("P-256");
  X509 *x = X509_new();
  if (!key || !x) return 0;
  ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
  X509_gmtime_adj(X509_getm_notBefore(x), -60);
  X509_gmtime_adj(X509_getm_notAfter(x), 3600);
  X509_set_pubkey(x, key);
  X509_NAME *n = X509_get_subject_name(x);
  X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
  X509_set_issuer_name(x, n);
  X509V3_CTX v3;
  X509V3_set_ctx(&v3, x, x, NULL, NULL, 0);
  X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &v3, NID_subject_alt_name, "IP:127.0.0.1");
  if (ext) X509_add_ext(x, ext, -1);
  X509_EXTENSION_free(ext);
  int ok = X509_sign(x, key, EVP_sha256()) > 0;
  char path[128];
  snprintf(path, sizeof path, "%s/%s.crt", tmpdir, name);
  FILE *f = fopen(path, "w");
  ok = ok && f && PEM_write_X509(f, x);
  if (f) fclose(f);
  snprintf(path, sizeof path, "%s/%s.key", tmpdir, name);
  f = fopen(path, "w");
  ok = ok && f && PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL);
  if (f) fclose(f);
  X509_free(x);
  EVP_PKEY_free(key);
  return ok;
}

static const char *file(const char *name, const char *ext) {
  static char bufs[4][128];
  static int i;
  char *b = bufs[i++ % 4];
  snprintf(b, 128, "%s/%s.%s", tmpdir, name, ext);
  return b;
}

static void tls_opts(sio_tls_options_t *o, const char *name) {
  sio_tls_options_init(o);
  o->cert_file = file(name, "crt");
  o->key_file = file(name, "key");
}

/* ---------------------------------------------------------------------------------------------- */
/* The fixture: a server with a TLS listener and a plain one; the client runs in its own thread.  */

typedef struct fixture {
  uv_loop_t loop;
  sio_server_t *server;
  uv_async_t done, reload;
  sem_t reloaded;
  int reload_result;
  int tls_port, plain_port;
  int ok;
  char detail[256];
  void (*client)(struct fixture *f);
} fixture_t;

static void on_done(uv_async_t *h) {
  fixture_t *f = h->data;
  uv_close((uv_handle_t *)&f->done, NULL);
  uv_close((uv_handle_t *)&f->reload, NULL);
  sio_server_close(f->server, NULL);
}

static void on_reload(uv_async_t *h) {
  fixture_t *f = h->data;
  sio_tls_options_t o;
  tls_opts(&o, "b");
  f->reload_result = sio_server_tls_reload(f->server, &o);
  sem_post(&f->reloaded);
}

/* From the client thread: swaps in certificate "b" on the loop thread and waits for it. */
static int reload_b(fixture_t *f) {
  uv_async_send(&f->reload);
  sem_wait(&f->reloaded);
  return f->reload_result;
}

static void *client_main(void *arg) {
  fixture_t *f = arg;
  f->client(f);
  uv_async_send(&f->done);
  return NULL;
}

static void echo(sio_session_t *s, const char *data, size_t len, int binary) {
  sio_session_send(s, data, len, binary);
}

/* The server asks for client certificates signed by this one when set ("a": self-signed). */
static const char *server_ca;

static int run(void (*client)(fixture_t *), uint32_t headers_timeout_ms) {
  fixture_t f;
  memset(&f, 0, sizeof f);
  uv_loop_init(&f.loop);
  f.client = client;
  sem_init(&f.reloaded, 0, 0);
  sio_server_options_t so;
  sio_server_options_init(&so);
  if (headers_timeout_ms) so.headers_timeout_ms = headers_timeout_ms;
  sio_tls_options_t to;
  tls_opts(&to, "a");
  if (server_ca) to.ca_file = file(server_ca, "crt");
  sio_engine_callbacks_t cbs = {NULL, echo, NULL, NULL};
  sio_engine_t *e, *same;
  sio_engine_options_t eo;
  sio_engine_options_init(&eo);
  eo.path = "/same/";
  eo.same_origin = 1;
  if (sio_server_new(&f.loop, &so, &f.server) || sio_engine_new(f.server, NULL, &cbs, &e) ||
      sio_engine_new(f.server, &eo, &cbs, &same) ||
      sio_server_listen(f.server, "127.0.0.1", 0))
    return 0;
  f.plain_port = sio_server_port(f.server);
  if (sio_server_listen_tls(f.server, "127.0.0.1", 0, &to)) {
    fprintf(stderr, "listen_tls: %s\n", sio_last_error());
    return 0;
  }
  f.tls_port = sio_server_port(f.server);
  uv_async_init(&f.loop, &f.done, on_done);
  uv_async_init(&f.loop, &f.reload, on_reload);
  f.done.data = f.reload.data = &f;
  pthread_t t;
  pthread_create(&t, NULL, client_main, &f);
  uv_run(&f.loop, UV_RUN_DEFAULT);
  pthread_join(t, NULL);
  sem_destroy(&f.reloaded);
  int clean = uv_loop_close(&f.loop) == 0;
  if (!clean || !f.ok) fprintf(stderr, "%s\n", clean ? f.detail : "handles left on the loop");
  return clean && f.ok;
}

/* ---------------------------------------------------------------------------------------------- */
/* Client side                                                                                     */

static int dial(int port, int timeout_s) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a;
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_port = htons((uint16_t)port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  struct timeval tv = {timeout_s, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

typedef struct {
  SSL_CTX *ctx;
  SSL *ssl;
  int fd;
} tls_client_t;

/* What the client offers (request_client runs once per TLS 1.3 suite, and with TLS 1.2). */
static const char *client_suites;
static int client_max_version;

/* The client's own certificate (mutual TLS), or NULL. */
static const char *client_cert;

/* The client's TLS 1.3 application traffic secrets, from its key log (raw_open plays the client's
 * record layer with them, to send what OpenSSL never would). */
static struct {
  uint8_t client[48], server[48];
  size_t len;
} client_keys;

static void client_keylog(const SSL *ssl, const char *line) {
  (void)ssl;
  int cl = strncmp(line, "CLIENT_TRAFFIC_SECRET_0 ", 24) == 0;
  if (!cl && strncmp(line, "SERVER_TRAFFIC_SECRET_0 ", 24) != 0) return;
  const char *hex = strchr(line + 24, ' ') + 1;
  size_t n = strlen(hex) / 2;
  for (size_t i = 0; i < n && i < 48; i++) {
    unsigned v;
    sscanf(hex + 2 * i, "%2x", &v);
    (cl ? client_keys.client : client_keys.server)[i] = (uint8_t)v;
  }
  client_keys.len = n;
}

/* The TLS 1.3 tickets the client got since tls_connect, the first one's session kept (a
 * reference of ours, until resume_with takes it), and the session the next tls_connect resumes. */
static int client_tickets;
static SSL_SESSION *client_first_session, *resume_with;

static int on_new_session(SSL *ssl, SSL_SESSION *sess) {
  (void)ssl;
  client_tickets++;
  if (client_first_session) return 0;
  client_first_session = sess;
  return 1; /* the reference is ours */
}

/* A TLS connection that trusts certificate `name` only. 1 when the handshake succeeded. */
static int tls_connect(tls_client_t *c, int port, const char *name) {
  memset(c, 0, sizeof *c);
  client_tickets = 0;
  c->ctx = SSL_CTX_new(TLS_client_method());
  SSL_CTX_set_keylog_callback(c->ctx, client_keylog);
  SSL_CTX_set_session_cache_mode(c->ctx, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
  SSL_CTX_sess_set_new_cb(c->ctx, on_new_session);
  if (client_suites) SSL_CTX_set_ciphersuites(c->ctx, client_suites);
  if (client_max_version) SSL_CTX_set_max_proto_version(c->ctx, client_max_version);
  if (client_cert) {
    SSL_CTX_use_certificate_file(c->ctx, file(client_cert, "crt"), SSL_FILETYPE_PEM);
    SSL_CTX_use_PrivateKey_file(c->ctx, file(client_cert, "key"), SSL_FILETYPE_PEM);
  }
  SSL_CTX_load_verify_locations(c->ctx, file(name, "crt"), NULL);
  SSL_CTX_set_verify(c->ctx, SSL_VERIFY_PEER, NULL);
  c->fd = dial(port, 5);
  c->ssl = SSL_new(c->ctx);
  SSL_set_fd(c->ssl, c->fd);
  X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(c->ssl), "127.0.0.1");
  static const unsigned char alpn[] = "\x02h2\x08http/1.1";
  SSL_set_alpn_protos(c->ssl, alpn, sizeof alpn - 1);
  if (resume_with) SSL_set_session(c->ssl, resume_with);
  return c->fd >= 0 && SSL_connect(c->ssl) == 1;
}

static void tls_close(tls_client_t *c) {
  SSL_free(c->ssl);
  SSL_CTX_free(c->ctx);
  if (c->fd >= 0) close(c->fd);
  ERR_clear_error();
}

/* Sends `req` and reads one response (up to the blank line and Content-Length bytes) into buf. */
static int tls_request(tls_client_t *c, const char *req, char *buf, size_t cap) {
  if (SSL_write(c->ssl, req, (int)strlen(req)) <= 0) return 0;
  size_t n = 0;
  for (;;) {
    int r = SSL_read(c->ssl, buf + n, (int)(cap - 1 - n));
    if (r <= 0) break;
    n += (size_t)r;
    buf[n] = '\0';
    char *end = strstr(buf, "\r\n\r\n");
    char *cl = strcasestr(buf, "content-length:");
    if (end && cl && n >= (size_t)(end + 4 - buf) + strtoul(cl + 15, NULL, 10)) break;
  }
  buf[n] = '\0';
  return n > 0;
}

/* The common name of the server's certificate. */
static void peer_cn(tls_client_t *c, char *out, size_t cap) {
  X509 *x = SSL_get1_peer_certificate(c->ssl);
  out[0] = '\0';
  if (x) X509_NAME_get_text_by_NID(X509_get_subject_name(x), NID_commonName, out, (int)cap);
  X509_free(x);
}

#define FAIL(...)                                              \
  do {                                                         \
    snprintf(f->detail, sizeof f->detail, __VA_ARGS__);        \
    return;                                                    \
  } while (0)
#define FAIL_RET(f, ...)                                       \
  do {                                                         \
    snprintf((f)->detail, sizeof (f)->detail, __VA_ARGS__);    \
    return 0;                                                  \
  } while (0)

static const char HANDSHAKE[] = "GET /engine.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: x\r\n\r\n";

/* ---------------------------------------------------------------------------------------------- */

/* Whether the server closes fd (EOF or reset) within the socket's receive timeout. */
static int closed_by_server(int fd) {
  char buf[512];
  for (;;) {
    ssize_t r = read(fd, buf, sizeof buf);
    if (r == 0) return 1;
    if (r < 0) return errno == ECONNRESET;
  }
}

static void request_client(fixture_t *f) {
  char buf[4096];
  tls_client_t c;
  if (!tls_connect(&c, f->tls_port, "a")) FAIL("TLS handshake failed");
  const unsigned char *proto;
  unsigned plen;
  SSL_get0_alpn_selected(c.ssl, &proto, &plen);
  if (plen != 8 || memcmp(proto, "http/1.1", 8) != 0) FAIL("ALPN: %.*s", (int)plen, proto);
  if (!tls_request(&c, HANDSHAKE, buf, sizeof buf) || !strstr(buf, "\r\n\r\n0{\"sid\":\""))
    FAIL("over TLS: %.80s", buf);
  /* Keep-alive: a second request on the same TLS connection. */
  if (!tls_request(&c, "GET /nowhere HTTP/1.1\r\nHost: x\r\n\r\n", buf, sizeof buf) ||
      strncmp(buf, "HTTP/1.1 404 ", 13) != 0)
    FAIL("second request: %.80s", buf);
  if (SSL_version(c.ssl) == TLS1_3_VERSION) {
    /* KeyUpdate: the client's new keys, then (asked for) the server's, each used right after. */
    for (int requested = 0; requested < 2; requested++) {
      if (SSL_key_update(c.ssl, requested ? SSL_KEY_UPDATE_REQUESTED : SSL_KEY_UPDATE_NOT_REQUESTED) != 1)
        FAIL("SSL_key_update");
      if (!tls_request(&c, "GET /nowhere HTTP/1.1\r\nHost: x\r\n\r\n", buf, sizeof buf) ||
          strncmp(buf, "HTTP/1.1 404 ", 13) != 0)
        FAIL("after a key update (requested %d): %.80s", requested, buf);
    }
    /* A request cut into one-byte TCP segments: records reassembled across reads. */
    BIO *mem = BIO_new(BIO_s_mem());
    SSL_set0_wbio(c.ssl, mem);
    const char req[] = "GET /nowhere HTTP/1.1\r\nHost: x\r\n\r\n";
    if (SSL_write(c.ssl, req, sizeof req - 1) <= 0) FAIL("write to memory");
    char *p;
    long n = BIO_get_mem_data(mem, &p);
    for (long i = 0; i < n; i++) {
      if (write(c.fd, p + i, 1) != 1) FAIL("dribble");
      if (i % 16 == 0) usleep(1000);
    }
    SSL_set0_wbio(c.ssl, BIO_new_socket(c.fd, BIO_NOCLOSE));
    size_t got = 0;
    buf[0] = '\0';
    while (got < sizeof buf - 1 && !strstr(buf, "Not Found")) {
      int r = SSL_read(c.ssl, buf + got, (int)(sizeof buf - 1 - got));
      if (r <= 0) break;
      got += (size_t)r;
      buf[got] = '\0';
    }
    if (strncmp(buf, "HTTP/1.1 404 ", 13) != 0) FAIL("dribbled request: %.80s", buf);
  }
  /* Connection: close ends with close_notify, then EOF: a clean TLS shutdown. */
  if (!tls_request(&c, "GET /nowhere HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", buf, sizeof buf))
    FAIL("third request");
  int r = SSL_read(c.ssl, buf, sizeof buf);
  if (r > 0 || SSL_get_error(c.ssl, r) != SSL_ERROR_ZERO_RETURN) FAIL("no close_notify (%d)", r);
  tls_close(&c);
  /* The plain listener of the same server. */
  int fd = dial(f->plain_port, 5);
  if (write(fd, HANDSHAKE, sizeof HANDSHAKE - 1) < 0) FAIL("write");
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (n <= 0 || (buf[n] = '\0', !strstr(buf, "0{\"sid\":\""))) FAIL("plain: %.80s", buf);
  f->ok = 1;
}

TEST(request_over_tls_next_to_plain) {
  static const char *const suites[] = {"TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384",
                                       "TLS_CHACHA20_POLY1305_SHA256"};
  for (size_t i = 0; i < 3; i++) {
    client_suites = suites[i];
    CHECK(run(request_client, 0));
  }
  client_suites = NULL;
  client_max_version = TLS1_2_VERSION; /* OpenSSL's own record layer stays for TLS 1.2 */
  CHECK(run(request_client, 0));
  client_max_version = 0;
}

static void bad_record_client(fixture_t *f) {
  /* After the handshake, a record that does not authenticate closes the connection. */
  tls_client_t c;
  if (!tls_connect(&c, f->tls_port, "a")) FAIL("handshake");
  char rec[5 + 40] = {0x17, 0x03, 0x03, 0x00, 40};
  for (int i = 5; i < (int)sizeof rec; i++) rec[i] = (char)i;
  if (write(c.fd, rec, sizeof rec) != (ssize_t)sizeof rec) FAIL("write");
  struct timeval tv = {3, 0};
  setsockopt(c.fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  if (!closed_by_server(c.fd)) FAIL("a forged record kept the connection open");
  tls_close(&c);
  f->ok = 1;
}

TEST(forged_record_closes) { CHECK(run(bad_record_client, 0)); }

/* ---------------------------------------------------------------------------------------------- */
/* A client breaking the rules: after OpenSSL's handshake, tls_record.c in the client's role writes
 * records OpenSSL would not (RFC 8446 sections 5 and 4.6), and reads what the server answers.     */

typedef struct {
  tls_client_t c;
  sio_tls13_t r;
  sio_sbuf_t out;
} raw_client_t;

static int raw_open(raw_client_t *k, int port) {
  memset(k, 0, sizeof *k);
  client_keys.len = 0;
  if (!tls_connect(&k->c, port, "a") || SSL_version(k->c.ssl) != TLS1_3_VERSION) return 0;
  int suite = sio__tls13_suite(SSL_CIPHER_get_protocol_id(SSL_get_current_cipher(k->c.ssl)));
  /* OpenSSL reads the server's tickets (the first records under its application key; a read
   * that times out after them reads nothing more), so ours starts after them. */
  struct timeval tv = {0, 100 * 1000};
  setsockopt(k->c.fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  char b;
  for (int i = 0; i < 30 && client_tickets < SIO_TLS_TICKETS; i++) SSL_read(k->c.ssl, &b, 1);
  ERR_clear_error();
  /* The client reads with the server's secret and writes with its own. */
  if (client_tickets != SIO_TLS_TICKETS ||
      sio__tls13_init(&k->r, suite, client_keys.server, client_keys.client, client_keys.len))
    return 0;
  k->r.rseq = (uint64_t)client_tickets;
  return 1;
}

/* Sends what is in k->out. */
static int raw_flush(raw_client_t *k) {
  int ok = write(k->c.fd, k->out.data, k->out.len) == (ssize_t)k->out.len;
  k->out.len = 0;
  return ok;
}

static int raw_inner(raw_client_t *k, const void *inner, size_t len) {
  return sio__tls13_seal_inner(&k->r, inner, len, &k->out) == 0 && raw_flush(k);
}

/* Reads the server's records until it closes (or 3 s pass): the last result of sio__tls13_read (1:
 * close_notify, SIO_ETLS: an alert, in k->r.alert), the plaintext in buf, the count of records
 * holding exactly a KeyUpdate's 22 bytes in *kus. */
static int raw_read_all(raw_client_t *k, char *buf, size_t cap, int *kus) {
  static char plain[17 * 1024], wire[64 * 1024];
  size_t have = 0, used = 0, pos = 0;
  int result = 0;
  struct timeval tv = {3, 0};
  setsockopt(k->c.fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  if (kus) *kus = 0;
  for (;;) {
    ssize_t n = read(k->c.fd, wire + have, sizeof wire - have);
    if (n <= 0) break;
    have += (size_t)n;
    for (; kus && pos + 5 <= have; pos += 5 + (((size_t)(uint8_t)wire[pos + 3] << 8) | (uint8_t)wire[pos + 4]))
      if (wire[pos + 3] == 0 && wire[pos + 4] == 22) ++*kus;
    const char *in = wire + used;
    size_t in_len = have - used;
    while (result == 0) {
      size_t got;
      result = sio__tls13_read(&k->r, &in, &in_len, plain, sizeof plain, &got, &k->out);
      if (!got) break;
      size_t room = cap - 1 - strlen(buf);
      strncat(buf, plain, got < room ? got : room);
    }
    used = have - in_len;
    if (result) break;
  }
  return result;
}

static void raw_close(raw_client_t *k) {
  sio__tls13_free(&k->r);
  sio_sbuf_free(&k->out);
  tls_close(&k->c);
}

/* One rule broken on a fresh connection: the server must answer with `alert` and close. */
static int refused_with(fixture_t *f, const char *what, const void *inner, size_t len, const void *wire,
                        size_t wire_len, int alert) {
  raw_client_t k;
  char buf[256] = "";
  if (!raw_open(&k, f->tls_port)) FAIL_RET(f, "%s: handshake", what);
  int sent = inner ? raw_inner(&k, inner, len) : write(k.c.fd, wire, wire_len) == (ssize_t)wire_len;
  int r = raw_read_all(&k, buf, sizeof buf, NULL);
  int got = k.r.alert;
  raw_close(&k);
  if (!sent || r != SIO_ETLS || got != alert) FAIL_RET(f, "%s: result %d, alert %d (want %d)", what, r, got, alert);
  return 1;
}

static void rules_client(fixture_t *f) {
  static char big[16384 + 3];
  const uint8_t zeros[8] = {0};
  const uint8_t empty_hs[] = {22};
  const uint8_t ku_twice[] = {24, 0, 0, 1, 0, 24, 0, 0, 1, 0, 22};
  const uint8_t ticket[] = {4, 0, 0, 0, 22};
  const uint8_t cert_req[] = {13, 0, 0, 0, 22};
  const uint8_t ku_bad_len[] = {24, 0, 0, 2, 0, 0, 22};
  const uint8_t ku_bad_req[] = {24, 0, 0, 1, 7, 22};
  const uint8_t two_alerts[] = {1, 0, 1, 0, 21};
  const uint8_t ccs[] = {20, 3, 3, 0, 1, 1};
  const uint8_t old_version[] = {23, 3, 1, 0, 20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
  const uint8_t short_rec[] = {23, 3, 3, 0, 16, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
  const uint8_t long_hdr[] = {23, 3, 3, 0x41, 0x01}; /* 2^14 + 257 */
  memset(big, 'a', 16384);
  big[16384] = 23; /* a full record's content and type, then padding beyond 2^14 + 1 */
  if (!refused_with(f, "all padding", zeros, sizeof zeros, NULL, 0, 10) ||
      !refused_with(f, "empty handshake record", empty_hs, sizeof empty_hs, NULL, 0, 10) ||
      !refused_with(f, "KeyUpdate not ending its record", ku_twice, sizeof ku_twice, NULL, 0, 10) ||
      !refused_with(f, "NewSessionTicket from a client", ticket, sizeof ticket, NULL, 0, 10) ||
      !refused_with(f, "unasked CertificateRequest", cert_req, sizeof cert_req, NULL, 0, 10) ||
      !refused_with(f, "KeyUpdate of length 2", ku_bad_len, sizeof ku_bad_len, NULL, 0, 50) ||
      !refused_with(f, "KeyUpdate request 7", ku_bad_req, sizeof ku_bad_req, NULL, 0, 47) ||
      !refused_with(f, "two alerts in a record", two_alerts, sizeof two_alerts, NULL, 0, 50) ||
      !refused_with(f, "inner plaintext over 2^14 + 1", big, sizeof big, NULL, 0, 22) ||
      !refused_with(f, "change_cipher_spec after the handshake", NULL, 0, ccs, sizeof ccs, 10) ||
      !refused_with(f, "legacy version 0x0301", NULL, 0, old_version, sizeof old_version, 50) ||
      !refused_with(f, "record shorter than a tag", NULL, 0, short_rec, sizeof short_rec, 50) ||
      !refused_with(f, "record over 2^14 + 256", NULL, 0, long_hdr, sizeof long_hdr, 22))
    return;
  /* A record that does not authenticate: bad_record_mac. */
  raw_client_t k;
  char buf[4096] = "";
  if (!raw_open(&k, f->tls_port)) FAIL("handshake");
  sio__tls13_write(&k.r, "GET / HTTP/1.1\r\n\r\n", 18, &k.out);
  k.out.data[10] ^= 1;
  raw_flush(&k);
  if (raw_read_all(&k, buf, sizeof buf, NULL) != SIO_ETLS || k.r.alert != 20) FAIL("forged: alert %d", k.r.alert);
  raw_close(&k);
  /* Another alert from the peer closes without an answer. */
  const uint8_t fatal[] = {2, 40, 21};
  if (!raw_open(&k, f->tls_port) || !raw_inner(&k, fatal, sizeof fatal)) FAIL("alert: send");
  buf[0] = '\0';
  if (raw_read_all(&k, buf, sizeof buf, NULL) != 0 || buf[0]) FAIL("an alert was answered");
  raw_close(&k);
  f->ok = 1;
}

TEST(records_breaking_rfc8446_get_their_alert) { CHECK(run(rules_client, 0)); }

/* A KeyUpdate sealed by hand (request_update as given), then the client's next write key. */
static void raw_key_update(raw_client_t *k, int request) {
  const uint8_t ku[] = {24, 0, 0, 1, (uint8_t)request, 22};
  sio__tls13_seal_inner(&k->r, ku, sizeof ku, &k->out);
  sio__tls13_rekey_write(&k->r);
}

/* What a peer may do: empty and padded records, a KeyUpdate cut across records, a thousand
 * KeyUpdates asking for ours (one answer, before the response), close_notify (answered with
 * ours). */
static void lawful_client(fixture_t *f) {
  static const char req[] = "GET /nowhere HTTP/1.1\r\nHost: x\r\n\r\n";
  uint8_t inner[sizeof req + 200];
  raw_client_t k;
  char buf[4096] = "";
  int kus;
  if (!raw_open(&k, f->tls_port)) FAIL("handshake");
  const uint8_t empty_app[] = {23}, ku_head[] = {24, 0, 22}, ku_tail[] = {0, 1, 0, 22};
  memset(inner, 0, sizeof inner);
  memcpy(inner, req, sizeof req - 1);
  inner[sizeof req - 1] = 23; /* then 200 bytes of padding */
  sio__tls13_seal_inner(&k.r, empty_app, sizeof empty_app, &k.out);
  sio__tls13_seal_inner(&k.r, ku_head, sizeof ku_head, &k.out); /* one KeyUpdate in two records */
  sio__tls13_seal_inner(&k.r, ku_tail, sizeof ku_tail, &k.out);
  sio__tls13_rekey_write(&k.r);
  for (int i = 0; i < 1000; i++) raw_key_update(&k, 1);
  sio__tls13_seal_inner(&k.r, inner, sizeof inner, &k.out);
  if (!raw_flush(&k)) FAIL("write");
  /* The response, then our close_notify answered by the server's. */
  struct timeval tv = {3, 0};
  setsockopt(k.c.fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  usleep(200 * 1000);
  sio__tls13_close_notify(&k.r, &k.out);
  raw_flush(&k);
  int r = raw_read_all(&k, buf, sizeof buf, &kus);
  raw_close(&k);
  if (strncmp(buf, "HTTP/1.1 404 ", 13) != 0) FAIL("lawful records: %.80s", buf);
  if (kus != 1) FAIL("%d KeyUpdates answered a thousand requests", kus);
  if (r != 1) FAIL("close_notify not answered (%d)", r);
  f->ok = 1;
}

TEST(records_rfc8446_allows_are_served) { CHECK(run(lawful_client, 0)); }

/* The client's Finished and its first request in one TCP segment: the bytes after the Finished
 * are not lost in the handover from OpenSSL to tls_record.c. And with TLS 1.2 and 1.3, the
 * client's close_notify gets the server's. */
static void coalesced_client(fixture_t *f) {
  tls_client_t c;
  memset(&c, 0, sizeof c);
  c.ctx = SSL_CTX_new(TLS_client_method());
  c.fd = dial(f->tls_port, 3);
  c.ssl = SSL_new(c.ctx);
  BIO *rm = BIO_new(BIO_s_mem()), *wm = BIO_new(BIO_s_mem());
  SSL_set_bio(c.ssl, rm, wm);
  SSL_set_connect_state(c.ssl);
  char buf[4096], *p;
  int r;
  while ((r = SSL_do_handshake(c.ssl)) != 1) {
    long n = BIO_get_mem_data(wm, &p);
    if (n > 0 && write(c.fd, p, (size_t)n) != n) FAIL("write");
    (void)BIO_reset(wm);
    ssize_t got = read(c.fd, buf, sizeof buf);
    if (got <= 0) FAIL("handshake: %zd", got);
    BIO_write(rm, buf, (int)got);
  }
  const char req[] = "GET /nowhere HTTP/1.1\r\nHost: x\r\n\r\n";
  SSL_write(c.ssl, req, sizeof req - 1);
  long n = BIO_get_mem_data(wm, &p); /* the Finished and the request */
  if (write(c.fd, p, (size_t)n) != n) FAIL("write");
  (void)BIO_reset(wm);
  size_t have = 0;
  buf[0] = '\0';
  while (!strstr(buf, "Not Found")) {
    char in[4096];
    ssize_t got = read(c.fd, in, sizeof in);
    if (got <= 0) break;
    BIO_write(rm, in, (int)got);
    while ((r = SSL_read(c.ssl, buf + have, (int)(sizeof buf - 1 - have))) > 0) have += (size_t)r;
    buf[have] = '\0';
  }
  tls_close(&c);
  if (strncmp(buf, "HTTP/1.1 404 ", 13) != 0) FAIL("request after a coalesced Finished: %.80s", buf);
  for (int v = 0; v < 2; v++) {
    client_max_version = v ? TLS1_2_VERSION : 0;
    int ok = tls_connect(&c, f->tls_port, "a") && SSL_shutdown(c.ssl) == 0 && SSL_shutdown(c.ssl) == 1;
    tls_close(&c);
    client_max_version = 0;
    if (!ok) FAIL("TLS 1.%d: close_notify not answered", v ? 2 : 3);
  }
  f->ok = 1;
}

TEST(finished_and_request_in_one_segment) { CHECK(run(coalesced_client, 0)); }

/* A TLS 1.3 session resumes from a ticket of the server's (no full handshake on a reconnect), and
 * the record layer that takes over after the tickets serves both connections. The first ends
 * without close_notify, which spoils the ticket its SSL holds (OpenSSL's client): the other one
 * resumes, as it would for a Python client. */
static void resume_client(fixture_t *f) {
  char buf[4096];
  tls_client_t c;
  if (client_first_session) SSL_SESSION_free(client_first_session);
  client_first_session = NULL;
  int ok = tls_connect(&c, f->tls_port, "a") && tls_request(&c, HANDSHAKE, buf, sizeof buf) &&
           strstr(buf, "0{\"sid\":\"") && SSL_version(c.ssl) == TLS1_3_VERSION;
  int tickets = client_tickets;
  tls_close(&c);
  if (!ok || tickets != SIO_TLS_TICKETS || !client_first_session) FAIL("first connection: %d tickets: %.80s", tickets, buf);
  resume_with = client_first_session;
  client_first_session = NULL;
  ok = tls_connect(&c, f->tls_port, "a");
  int reused = ok && SSL_session_reused(c.ssl);
  ok = ok && tls_request(&c, HANDSHAKE, buf, sizeof buf) && strstr(buf, "0{\"sid\":\"");
  tls_close(&c);
  SSL_SESSION_free(resume_with);
  resume_with = NULL;
  if (client_first_session) SSL_SESSION_free(client_first_session);
  client_first_session = NULL;
  if (!reused) FAIL("the session was not resumed");
  if (!ok) FAIL("request on the resumed session: %.80s", buf);
  f->ok = 1;
}

TEST(tls13_sessions_resume_from_tickets) { CHECK(run(resume_client, 0)); }

/* The record layer alone: sequence numbers never wrap, the write key is renewed after 2^24
 * records, a KeyUpdate owed is sent once before the next data, nothing is written after close. */
TEST(record_layer_keys_and_sequence_numbers) {
  static const uint8_t cs[48] = {1, 2, 3}, ss[48] = {3, 2, 1};
  static char buf[17 * 1024];
  sio_tls13_t server, client;
  sio_sbuf_t wire = SIO_SBUF_INIT, ans = SIO_SBUF_INIT;
  size_t got;
  const char *in;
  size_t in_len;
  for (int suite = 1; suite <= 3; suite++) {
    size_t len = suite == SIO_TLS13_AES256 ? 48 : 32;
    CHECK_EQ_INT(sio__tls13_init(&server, suite, cs, ss, len), 0);
    CHECK_EQ_INT(sio__tls13_init(&client, suite, ss, cs, len), 0);
    /* Renewal: record 2^24 - 1 under the old key, a KeyUpdate, the next at 0 under the new. */
    server.wseq = client.rseq = SIO_TLS13_REKEY_AFTER - 1;
    CHECK_EQ_INT(sio__tls13_write(&server, "ab", 2, &wire), 0);
    CHECK_EQ_INT(sio__tls13_write(&server, "cd", 2, &wire), 0);
    CHECK(server.wseq == 1);
    in = wire.data;
    in_len = wire.len;
    CHECK_EQ_INT(sio__tls13_read(&client, &in, &in_len, buf, sizeof buf, &got, &ans), 0);
    CHECK_MEM(buf, got, "ab", 2);
    CHECK_EQ_INT(sio__tls13_read(&client, &in, &in_len, buf, sizeof buf, &got, &ans), 0);
    CHECK_MEM(buf, got, "cd", 2);
    CHECK(client.rseq == 1 && in_len == 0 && ans.len == 0);
    wire.len = 0;
    /* Three KeyUpdates asking for ours: reading writes nothing, the next write one KeyUpdate. */
    const uint8_t ku[] = {24, 0, 0, 1, 1, 22};
    for (int i = 0; i < 3; i++) {
      sio__tls13_seal_inner(&client, ku, sizeof ku, &wire);
      sio__tls13_rekey_write(&client);
    }
    in = wire.data;
    in_len = wire.len;
    CHECK_EQ_INT(sio__tls13_read(&server, &in, &in_len, buf, sizeof buf, &got, &ans), 0);
    CHECK(got == 0 && in_len == 0 && ans.len == 0 && server.ku_owed);
    CHECK_EQ_INT(sio__tls13_write(&server, "ef", 2, &ans), 0);
    CHECK(ans.len == 2 * (5 + 16) + 6 + 3); /* the KeyUpdate's record, then the data's */
    in = ans.data;
    in_len = ans.len;
    CHECK_EQ_INT(sio__tls13_read(&client, &in, &in_len, buf, sizeof buf, &got, &wire), 0);
    CHECK_MEM(buf, got, "ef", 2);
    ans.len = wire.len = 0;
    /* A sequence number never wraps: the last one is refused (internal_error), on both sides. */
    client.wseq = UINT64_MAX;
    CHECK_EQ_INT(sio__tls13_seal_inner(&client, "x\x17", 2, &wire), SIO_ETLS);
    client.wseq = 5;
    server.rseq = UINT64_MAX;
    sio__tls13_seal_inner(&client, "x\x17", 2, &wire);
    in = wire.data;
    in_len = wire.len;
    CHECK_EQ_INT(sio__tls13_read(&server, &in, &in_len, buf, sizeof buf, &got, &ans), SIO_ETLS);
    CHECK_EQ_INT(server.alert, 80);
    CHECK(ans.len > 0); /* the alert */
    ans.len = 0;
    CHECK_EQ_INT(sio__tls13_write(&server, "x", 1, &ans), SIO_ETLS); /* nothing after an alert */
    CHECK_EQ_INT(sio__tls13_read(&server, &in, &in_len, buf, sizeof buf, &got, &ans), SIO_ETLS);
    CHECK(ans.len == 0);
    sio__tls13_free(&server);
    sio__tls13_free(&client);
    wire.len = ans.len = 0;
  }
  sio_sbuf_free(&wire);
  sio_sbuf_free(&ans);
}

/* A polling handshake on `path` with an Origin, over TLS: the status line's code. */
static int origin_status(fixture_t *f, const char *origin) {
  char req[256], buf[4096];
  snprintf(req, sizeof req, "GET /same/?EIO=4&transport=polling HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
           "Origin: %s\r\n\r\n", f->tls_port, origin);
  tls_client_t c;
  int ok = tls_connect(&c, f->tls_port, "a") && tls_request(&c, req, buf, sizeof buf);
  tls_close(&c);
  return ok && strncmp(buf, "HTTP/1.1 ", 9) == 0 ? atoi(buf + 9) : -1;
}

static void same_origin_client(fixture_t *f) {
  char origin[64];
  snprintf(origin, sizeof origin, "https://127.0.0.1:%d", f->tls_port);
  int st = origin_status(f, origin);
  if (st != 200) FAIL("https page of this origin: %d", st);
  snprintf(origin, sizeof origin, "http://127.0.0.1:%d", f->tls_port);
  if ((st = origin_status(f, origin)) != 403) FAIL("a page in the clear is another origin: %d", st);
  f->ok = 1;
}

TEST(same_origin_over_tls_is_https) { CHECK(run(same_origin_client, 0)); }

static void mutual_client(fixture_t *f) {
  char buf[4096];
  tls_client_t c;
  client_cert = NULL;
  int ok = tls_connect(&c, f->tls_port, "a") && tls_request(&c, HANDSHAKE, buf, sizeof buf) &&
           strstr(buf, "0{\"sid\"");
  tls_close(&c);
  if (ok) FAIL("served a client without a certificate");
  client_cert = "b"; /* not signed by the CA the server trusts */
  ok = tls_connect(&c, f->tls_port, "a") && tls_request(&c, HANDSHAKE, buf, sizeof buf) && strstr(buf, "0{\"sid\"");
  tls_close(&c);
  if (ok) FAIL("served a client whose certificate the CA did not sign");
  client_cert = "a";
  ok = tls_connect(&c, f->tls_port, "a") && tls_request(&c, HANDSHAKE, buf, sizeof buf) && strstr(buf, "0{\"sid\"");
  tls_close(&c);
  client_cert = NULL;
  if (!ok) FAIL("refused a client with a certificate of the CA: %.60s", buf);
  f->ok = 1;
}

TEST(client_certificates_when_ca_is_set) {
  server_ca = "a";
  CHECK(run(mutual_client, 0)); /* TLS 1.3: checked by OpenSSL, then tls_record.c carries on */
  client_max_version = TLS1_2_VERSION;
  CHECK(run(mutual_client, 0));
  client_max_version = 0;
  server_ca = NULL;
}

static void garbage_client(fixture_t *f) {
  /* The headers timeout is 60 s here: a close within the 3 s read timeout is the bytes' doing. */
  int fd = dial(f->tls_port, 3);
  const char req[] = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
  if (write(fd, req, sizeof req - 1) < 0 || !closed_by_server(fd)) FAIL("plain HTTP on TLS kept open");
  close(fd);
  f->ok = 1;
}

TEST(garbage_instead_of_client_hello_closes_at_once) { CHECK(run(garbage_client, 60000)); }

enum { STALLED = 200 };

static void stall_client(fixture_t *f) {
  /* Half a ClientHello (its record header promises 512 bytes), nothing at all, and many of both:
   * each is closed by the headers timeout (1 s) though it never finishes its handshake. */
  static int fds[STALLED];
  const char half[] = "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03";
  for (int i = 0; i < STALLED; i++) {
    fds[i] = dial(f->tls_port, 5);
    if (fds[i] < 0) FAIL("dial %d", i);
    if (i % 2 && write(fds[i], half, sizeof half - 1) < 0) FAIL("write %d", i);
  }
  for (int i = 0; i < STALLED; i++)
    if (!closed_by_server(fds[i])) FAIL("stalled handshake %d not closed", i);
  for (int i = 0; i < STALLED; i++) close(fds[i]);
  /* A ClientHello dribbled a byte every 200 ms (a slowloris) is cut too: bytes that do not finish
   * the handshake do not restart the clock. */
  int fd = dial(f->tls_port, 5);
  int cut = 0;
  for (int i = 0; i < 40 && !cut; i++) {
    if (write(fd, half + (i % (sizeof half - 1)), 1) < 0) cut = 1;
    usleep(200 * 1000);
    char b;
    cut = cut || recv(fd, &b, 1, MSG_DONTWAIT) == 0 || (errno != EAGAIN && errno != EWOULDBLOCK);
  }
  close(fd);
  if (!cut) FAIL("a dribbled ClientHello kept its connection for 8 s");
  /* The server still serves. */
  char buf[4096];
  tls_client_t c;
  if (!tls_connect(&c, f->tls_port, "a") || !tls_request(&c, HANDSHAKE, buf, sizeof buf) ||
      !strstr(buf, "0{\"sid\":\""))
    FAIL("after the stalls: %.80s", buf);
  tls_close(&c);
  f->ok = 1;
}

TEST(stalled_handshakes_closed_by_headers_timeout) { CHECK(run(stall_client, 1000)); }

static void reload_client(fixture_t *f) {
  char buf[4096], cn[64];
  tls_client_t old;
  if (!tls_connect(&old, f->tls_port, "a")) FAIL("handshake with a");
  if (reload_b(f) != 0) FAIL("reload: %d", f->reload_result);
  /* The connection made before keeps its certificate and works. */
  if (!tls_request(&old, HANDSHAKE, buf, sizeof buf) || !strstr(buf, "0{\"sid\":\""))
    FAIL("old connection after reload: %.80s", buf);
  tls_close(&old);
  /* A new one sees the new certificate (and does not trust the old). */
  tls_client_t c;
  if (!tls_connect(&c, f->tls_port, "b")) FAIL("handshake with b after reload");
  peer_cn(&c, cn, sizeof cn);
  if (strcmp(cn, "sio test b") != 0) FAIL("new connection saw %s", cn);
  if (!tls_request(&c, HANDSHAKE, buf, sizeof buf) || !strstr(buf, "0{\"sid\":\""))
    FAIL("new connection: %.80s", buf);
  tls_close(&c);
  f->ok = 1;
}

TEST(reload_swaps_the_certificate_for_new_connections) { CHECK(run(reload_client, 0)); }

TEST(listen_errors_name_the_problem) {
  uv_loop_t loop;
  uv_loop_init(&loop);
  sio_server_t *s;
  CHECK_EQ_INT(sio_server_new(&loop, NULL, &s), 0);
  sio_tls_options_t o;
  sio_tls_options_init(&o);
  CHECK_EQ_INT(sio_server_listen_tls(s, "127.0.0.1", 0, &o), SIO_EINVAL);
  o.cert_file = file("missing", "crt");
  o.key_file = file("a", "key");
  CHECK_EQ_INT(sio_server_listen_tls(s, "127.0.0.1", 0, &o), SIO_ETLS);
  CHECK(strstr(sio_last_error(), "missing.crt") && strstr(sio_last_error(), "No such file"));
  o.cert_file = file("a", "crt");
  o.key_file = file("b", "key"); /* not the key of a's certificate */
  CHECK_EQ_INT(sio_server_listen_tls(s, "127.0.0.1", 0, &o), SIO_ETLS);
  CHECK(strstr(sio_last_error(), "b.key") != NULL);
  o.key_file = file("a", "crt"); /* not a key at all */
  CHECK_EQ_INT(sio_server_listen_tls(s, "127.0.0.1", 0, &o), SIO_ETLS);
  CHECK_EQ_INT(sio_server_tls_reload(s, NULL), SIO_ENOTFOUND);
  CHECK(strcmp(sio_strerror(SIO_ETLS), "unknown error") != 0);
  sio_server_close(s, NULL);
  uv_run(&loop, UV_RUN_DEFAULT);
  CHECK_EQ_INT(uv_loop_close(&loop), 0);
}

static void cleanup(void) {
  const char *names[] = {"a.crt", "a.key", "b.crt", "b.key"};
  char p[128];
  for (size_t i = 0; i < 4; i++) {
    snprintf(p, sizeof p, "%s/%s", tmpdir, names[i]);
    unlink(p);
  }
  rmdir(tmpdir);
}

static int setup(void) {
  signal(SIGPIPE, SIG_IGN);
  snprintf(tmpdir, sizeof tmpdir, "/tmp/sio-test-tls-XXXXXX");
  if (!mkdtemp(tmpdir)) return 0;
  atexit(cleanup);
  return make_cert("a", "sio test a") && make_cert("b", "sio test b");
}

TEST(certificates_made) { CHECK(setup()); }

TEST_MAIN(RUN(certificates_made), RUN(listen_errors_name_the_problem),
          RUN(request_over_tls_next_to_plain), RUN(forged_record_closes),
          RUN(same_origin_over_tls_is_https), RUN(client_certificates_when_ca_is_set),
          RUN(garbage_instead_of_client_hello_closes_at_once),
          RUN(stalled_handshakes_closed_by_headers_timeout),
          RUN(reload_swaps_the_certificate_for_new_connections),
          RUN(record_layer_keys_and_sequence_numbers), RUN(records_breaking_rfc8446_get_their_alert),
          RUN(records_rfc8446_allows_are_served), RUN(finished_and_request_in_one_segment),
          RUN(tls13_sessions_resume_from_tickets))
