/* The client's Manager: one Engine.IO connection, its sockets multiplexed by namespace, and
 * reconnection with socket.io-client's Backoff. Nothing is freed outside a uv_close callback, so
 * that any callback may close the manager. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/client.h"
#include "fail.h"

void sio_manager_options_init(sio_manager_options_t *o) {
  memset(o, 0, sizeof *o);
  o->size = sizeof *o;
  o->path = "/socket.io/";
  o->eio = 4;
  o->transports = SIO_CLIENT_POLLING | SIO_CLIENT_WEBSOCKET;
  o->upgrade = 1;
  o->max_payload = 16u << 20;
  o->timeout_ms = 20000;
  o->reconnection = 1;
  o->reconnection_delay_ms = 1000;
  o->reconnection_delay_max_ms = 5000;
  o->randomization_factor = 0.5;
  o->parser = SIO_PARSER_JSON;
  o->send_buffer_max = 1000;
  o->send_buffer_bytes = 16u << 20;
  o->tls_verify = 1;
}

/* ---------------------------------------------------------------------------------------------- */
/* URL and options                                                                                 */

static char *dup_n(const char *s, size_t n) {
  char *d = malloc(n + 1);
  if (d) {
    memcpy(d, s, n);
    d[n] = '\0';
  }
  return d;
}

/* scheme://host[:port][/path][?query][#fragment]; the path is the binding's business. */
static int parse_url(sio_manager_t *m, const char *url, const char **q, size_t *qlen) {
  static const struct { const char *p; int secure, port; } schemes[] = {
      {"http://", 0, 80}, {"ws://", 0, 80}, {"https://", 1, 443}, {"wss://", 1, 443}};
  const char *s = NULL;
  for (size_t i = 0; i < 4 && !s; i++) {
    size_t n = strlen(schemes[i].p);
    if (strncasecmp(url, schemes[i].p, n) == 0) {
      s = url + n;
      m->secure = schemes[i].secure;
      m->port = schemes[i].port;
    }
  }
  if (!s) return sio__fail(SIO_EINVAL, "the URL must start with http://, https://, ws:// or wss://");
  const char *h = s, *he;
  if (*s == '[') {
    h = s + 1;
    if (!(he = strchr(h, ']'))) return sio__fail(SIO_EINVAL, "an IPv6 host without its ']'");
    s = he + 1;
  } else {
    he = s + strcspn(s, ":/?#");
    s = he;
  }
  if (he == h) return sio__fail(SIO_EINVAL, "the URL has no host");
  if (*s == ':') {
    char *end;
    long port = strtol(s + 1, &end, 10);
    if (end == s + 1 || port < 1 || port > 65535 || !strchr("/?#", *end))
      return sio__fail(SIO_EINVAL, "a bad port in the URL");
    m->port = (int)port;
    s = end;
  } else if (*s && !strchr("/?#", *s)) {
    return sio__fail(SIO_EINVAL, "a bad host in the URL");
  }
  if (!(m->host = dup_n(h, (size_t)(he - h)))) return SIO_ENOMEM;
  s += strcspn(s, "?#");
  *q = NULL;
  *qlen = 0;
  if (*s == '?') {
    *q = s + 1;
    *qlen = strcspn(s + 1, "#");
  }
  return 0;
}

static int copy_options(sio_manager_t *m, const sio_manager_options_t *opts) {
  sio_manager_options_init(&m->o);
  if (opts) {
    if (opts->size == 0 || opts->size > sizeof m->o)
      return sio__fail(SIO_EINVAL, "options not initialised (sio_manager_options_init)");
    memcpy(&m->o, opts, opts->size);
  }
  sio_manager_options_t *o = &m->o;
  if (o->eio != 3 && o->eio != 4) return sio__fail(SIO_EINVAL, "eio must be 3 or 4");
  if (!o->transports || (o->transports & ~3u))
    return sio__fail(SIO_EINVAL, "transports must be SIO_CLIENT_POLLING and/or SIO_CLIENT_WEBSOCKET");
  if (!(o->randomization_factor >= 0 && o->randomization_factor <= 1))
    return sio__fail(SIO_EINVAL, "randomization_factor must be within 0..1");
  if (o->parser != SIO_PARSER_JSON && o->parser != SIO_PARSER_MSGPACK)
    return sio__fail(SIO_EINVAL, "unknown parser");
#ifndef SIO_HAVE_MSGPACK
  if (o->parser == SIO_PARSER_MSGPACK) return sio__fail(UV_ENOSYS, "sio was built without msgpack-c");
#endif
  if (!o->path || o->path[0] != '/') return sio__fail(SIO_EINVAL, "path must start with '/'");
  if (!(m->path = strdup(o->path))) return SIO_ENOMEM;
  if (o->tls_ca_file && !(m->ca_file = strdup(o->tls_ca_file))) return SIO_ENOMEM;
  size_t n = 0;
  while (o->headers && o->headers[n]) n++;
  if (n) {
    if (!(m->headers = calloc(n + 1, sizeof *m->headers))) return SIO_ENOMEM;
    for (size_t i = 0; i < n; i++) {
      if (strpbrk(o->headers[i], "\r\n") || !strchr(o->headers[i], ':'))
        return sio__fail(SIO_EINVAL, "a header must be one \"Name: value\" line");
      if (!(m->headers[i] = strdup(o->headers[i]))) return SIO_ENOMEM;
    }
  }
  o->path = NULL; /* the copies are m's */
  o->query = NULL;
  o->headers = NULL;
  o->tls_ca_file = NULL;
  return 0;
}

static void manager_free_fields(sio_manager_t *m) {
  free(m->host);
  free(m->path);
  free(m->query);
  free(m->ca_file);
  for (size_t i = 0; m->headers && m->headers[i]; i++) free(m->headers[i]);
  free(m->headers);
  if (m->dec) {
    sio_packet_decoder_free(m->dec);
    free(m->dec);
  }
  sio_sbuf_free(&m->scratch);
}

int sio_manager_new(uv_loop_t *loop, const char *url, const sio_manager_options_t *opts,
                    const sio_manager_callbacks_t *cbs, sio_manager_t **out) {
  sio__error_clear();
  if (!loop || !url || !out) return SIO_EINVAL;
  sio_manager_t *m = calloc(1, sizeof *m);
  if (!m) return SIO_ENOMEM;
  m->loop = loop;
  if (cbs) m->cbs = *cbs;
  const char *uq = NULL, *oq = opts && opts->size >= offsetof(sio_manager_options_t, headers) ? opts->query : NULL;
  size_t uqlen = 0;
  int r = copy_options(m, opts);
  if (!r) r = parse_url(m, url, &uq, &uqlen);
  if (!r && (uqlen || (oq && *oq))) {
    /* The URL's query, then the option's: both go with every request. */
    sio_sbuf_t q = SIO_SBUF_INIT;
    if (uqlen) r = sio_sbuf_append(&q, uq, uqlen);
    if (!r && oq && *oq && uqlen) r = sio_sbuf_append_char(&q, '&');
    if (!r && oq && *oq) r = sio_sbuf_append_str(&q, oq);
    if (!r) r = sio_sbuf_append_char(&q, '\0');
    if (r) sio_sbuf_free(&q);
    else m->query = q.data;
  }
  if (r) {
    manager_free_fields(m);
    free(m);
    return r;
  }
  m->rng = uv_hrtime() ^ (uintptr_t)m;
  uv_timer_init(loop, &m->timer);
  m->timer.data = m;
  *out = m;
  return 0;
}

uv_loop_t *sio_manager_loop(const sio_manager_t *m) { return m->loop; }
void *sio_manager_get_data(const sio_manager_t *m) { return m->data; }
void sio_manager_set_data(sio_manager_t *m, void *data) { m->data = data; }
const char *sio_manager_sid(const sio_manager_t *m) {
  return m->eioc && m->open ? sio_eioc_sid(m->eioc) : NULL;
}
int sio_manager_transport(const sio_manager_t *m) {
  return m->eioc && m->open ? sio_eioc_transport(m->eioc) : 0;
}

/* ---------------------------------------------------------------------------------------------- */
/* Backoff (socket.io-client's: min * 2^attempts, jittered by +-factor, capped at max)             */

static double rand01(sio_manager_t *m) {
  m->rng ^= m->rng << 13; /* xorshift64: jitter needs spread, not secrecy */
  m->rng ^= m->rng >> 7;
  m->rng ^= m->rng << 17;
  return (double)(m->rng >> 11) / 9007199254740992.0;
}

static uint64_t backoff_duration(sio_manager_t *m) {
  double ms = m->o.reconnection_delay_ms * pow(2, m->attempts++);
  double jitter = m->o.randomization_factor;
  if (jitter > 0) {
    double r = rand01(m);
    double deviation = floor(r * jitter * ms);
    ms = ((int)floor(r * 10) & 1) == 0 ? ms - deviation : ms + deviation;
  }
  if (ms > m->o.reconnection_delay_max_ms) ms = m->o.reconnection_delay_max_ms;
  return ms < 0 ? 0 : (uint64_t)ms;
}

static void reconnect(sio_manager_t *m);

/* ---------------------------------------------------------------------------------------------- */
/* The Engine.IO connection                                                                        */

static void each_socket(sio_manager_t *m, void (*fn)(sio_csocket_t *, const char *), const char *a) {
  /* Sockets are never freed before the manager, and new ones go to the tail: safe to walk while
   * callbacks run. */
  for (sio_csocket_t *s = m->sockets; s; s = s->next) fn(s, a);
}

static void on_socket_open(sio_csocket_t *s, const char *unused) {
  (void)unused;
  if (s->active) sio__csocket_on_open(s);
}

static void eioc_open(sio_eioc_t *e) {
  sio_manager_t *m = sio_eioc_user(e);
  if (e != m->eioc) return;
  m->open = 1;
  m->root_granted = 0;
  if (m->cbs.on_open) m->cbs.on_open(m);
  if (e != m->eioc) return;
  if (m->reconnecting) {
    unsigned attempt = m->attempts;
    m->reconnecting = 0;
    m->attempts = 0;
    if (m->cbs.on_reconnect) m->cbs.on_reconnect(m, attempt);
    if (e != m->eioc) return;
  }
  each_socket(m, on_socket_open, NULL);
}

/* Decodes one message: 1 and *p when a packet is complete, 0 when attachments are awaited, or a
 * negative error. The stateful decoder exists only while a binary packet is put together. */
static int decode(sio_manager_t *m, const char *data, size_t len, int binary, sio_packet_t *p) {
  if (m->o.parser == SIO_PARSER_MSGPACK) {
    int r = binary ? sio_packet_decode_msgpack(data, len, p) : SIO_EPARSE;
    return r < 0 ? r : 1;
  }
  if (!m->dec) {
    if (!binary && len && data[0] != '0' + SIO_PACKET_BINARY_EVENT &&
        data[0] != '0' + SIO_PACKET_BINARY_ACK) {
      int r = sio_packet_decode(data, len, p);
      return r < 0 ? r : 1;
    }
    if (!(m->dec = malloc(sizeof *m->dec))) return SIO_ENOMEM;
    sio_packet_decoder_init(m->dec);
  }
  int r = sio_packet_decoder_feed(m->dec, data, len, binary, p);
  if (!m->dec->waiting) {
    sio_packet_decoder_free(m->dec);
    free(m->dec);
    m->dec = NULL;
  }
  return r;
}

static sio_csocket_t *find_socket(sio_manager_t *m, const char *nsp) {
  for (sio_csocket_t *s = m->sockets; s; s = s->next)
    if (strcmp(s->nsp, nsp) == 0) return s;
  return NULL;
}

static void lost(sio_manager_t *m, const char *reason);

static void eioc_message(sio_eioc_t *e, char *data, size_t len, int binary) {
  sio_manager_t *m = sio_eioc_user(e);
  if (e != m->eioc) return;
  sio_packet_t p;
  int r = decode(m, data, len, binary, &p);
  if (r < 0) {
    /* socket.io-client drops the connection on a packet it cannot decode, and reconnects. */
    sio_eioc_t *old = m->eioc;
    m->eioc = NULL;
    m->detached++;
    sio_eioc_close(old);
    lost(m, "parse error");
    return;
  }
  if (r == 0) return;
  if (m->o.eio == 3 && p.type == SIO_PACKET_CONNECT && strcmp(p.nsp, "/") == 0) m->root_granted = 1;
  sio_csocket_t *s = find_socket(m, p.nsp);
  if (s) sio__csocket_on_packet(s, &p);
  sio_packet_clear(&p);
}

static void socket_lost(sio_csocket_t *s, const char *reason) { sio__csocket_on_lost(s, reason); }
static void socket_error(sio_csocket_t *s, const char *msg) { sio__csocket_on_error(s, msg); }

/* The open connection ended: its sockets are disconnected, reconnection follows. */
static void lost(sio_manager_t *m, const char *reason) {
  m->open = 0;
  if (m->dec) {
    sio_packet_decoder_free(m->dec);
    free(m->dec);
    m->dec = NULL;
  }
  m->attempts = 0;
  if (m->cbs.on_close) m->cbs.on_close(m, reason);
  each_socket(m, socket_lost, reason);
  if (m->o.reconnection && !m->skip_reconnect && !m->closing) reconnect(m);
}

/* socket.io-client's error for a failed attempt, which its sockets see in connect_error. */
static const char *attempt_message(sio_manager_t *m, int err, const char *detail) {
  if (err == SIO_ETIMEDOUT || (detail && strcmp(detail, "timeout") == 0)) return "timeout";
  return (m->o.transports & SIO_CLIENT_POLLING) ? "xhr poll error" : "websocket error";
}

/* A connection attempt failed before opening. */
static void attempt_failed(sio_manager_t *m, int err, const char *detail) {
  m->open = 0;
  if (m->cbs.on_error) m->cbs.on_error(m, err, detail ? detail : "");
  each_socket(m, socket_error, attempt_message(m, err, detail));
  if (m->closing) return;
  if (m->reconnecting) {
    m->reconnecting = 0;
    reconnect(m);
    if (m->cbs.on_reconnect_error) m->cbs.on_reconnect_error(m, err, detail ? detail : "");
  } else if (m->o.reconnection && !m->skip_reconnect && m->attempts == 0) {
    reconnect(m); /* maybeReconnectOnOpen */
  }
}

static void finish(sio_manager_t *m);

static void eioc_close(sio_eioc_t *e, int err, const char *reason, const char *detail) {
  sio_manager_t *m = sio_eioc_user(e);
  if (e != m->eioc) { /* one we closed ourselves */
    if (m->detached) m->detached--;
    if (m->closing && !m->detached && !m->in_close) finish(m);
    return;
  }
  m->eioc = NULL;
  if (!m->open) attempt_failed(m, err ? err : SIO_ECLOSED, detail ? detail : reason);
  else lost(m, reason ? reason : "transport close");
}

static int start_eioc(sio_manager_t *m) {
  sio_eioc_config_t cfg = {m->secure,     m->host,     m->port,   m->path,
                           m->query,      (const char *const *)m->headers, m->o.eio,
                           m->o.transports, m->o.upgrade, m->o.max_payload, m->o.timeout_ms,
                           m->ca_file,    m->o.tls_verify};
  static const sio_eioc_callbacks_t cbs = {eioc_open, eioc_message, NULL, eioc_close};
  m->open = 0;
  m->skip_reconnect = 0;
  return sio_eioc_new(m->loop, &cfg, &cbs, m, &m->eioc);
}

int sio__manager_open(sio_manager_t *m) {
  if (m->closing) return SIO_ECLOSED;
  if (m->eioc || m->reconnecting) return 0;
  int r = start_eioc(m);
  if (r) m->eioc = NULL;
  return r;
}

int sio_manager_open(sio_manager_t *m) {
  sio__error_clear();
  return sio__manager_open(m);
}

int sio__manager_send(sio_manager_t *m, const sio_eioc_part_t *parts, size_t n) {
  if (!m->eioc || !m->open) return SIO_ECLOSED;
  return n == 1 ? sio_eioc_send(m->eioc, parts[0].data, parts[0].len, parts[0].binary)
                : sio_eioc_sendv(m->eioc, parts, n);
}

/* ---------------------------------------------------------------------------------------------- */
/* Reconnection                                                                                    */

static void on_reconnect_timer(uv_timer_t *t) {
  sio_manager_t *m = t->data;
  if (m->skip_reconnect || m->closing) return;
  if (m->cbs.on_reconnect_attempt) m->cbs.on_reconnect_attempt(m, m->attempts);
  if (m->skip_reconnect || m->closing || m->eioc) return;
  int r = start_eioc(m);
  if (r) { /* could not even start: counts as a failed attempt */
    m->eioc = NULL;
    attempt_failed(m, r, sio_strerror(r));
  }
}

static void reconnect(sio_manager_t *m) {
  if (m->reconnecting || m->skip_reconnect) return;
  if (m->o.reconnection_attempts && m->attempts >= m->o.reconnection_attempts) {
    m->attempts = 0;
    m->reconnecting = 0;
    if (m->cbs.on_reconnect_failed) m->cbs.on_reconnect_failed(m);
    return;
  }
  uint64_t delay = backoff_duration(m);
  m->reconnecting = 1;
  uv_timer_start(&m->timer, on_reconnect_timer, delay, 0);
}

/* ---------------------------------------------------------------------------------------------- */
/* Closing                                                                                         */

/* socket.io-client's Manager._close: no more reconnection, the connection closed. */
static void close_connection(sio_manager_t *m) {
  m->skip_reconnect = 1;
  m->reconnecting = 0;
  m->attempts = 0;
  uv_timer_stop(&m->timer);
  if (!m->eioc) return;
  sio_eioc_t *e = m->eioc;
  m->eioc = NULL;
  m->open = 0;
  m->detached++;
  sio_eioc_close(e);
  if (m->cbs.on_close) m->cbs.on_close(m, "forced close");
}

void sio__manager_maybe_close(sio_manager_t *m) {
  for (sio_csocket_t *s = m->sockets; s; s = s->next)
    if (s->active) return;
  close_connection(m);
}

static void on_handle_closed(uv_handle_t *h) {
  sio_manager_t *m = h->data;
  if (h != (uv_handle_t *)&m->timer) m = ((sio_csocket_t *)h->data)->m;
  if (--m->handles) return;
  sio_csocket_t *s = m->sockets;
  while (s) {
    sio_csocket_t *n = s->next;
    sio__csocket_free(s);
    s = n;
  }
  manager_free_fields(m);
  free(m);
}

/* The close callback, then the handles, then the memory. */
static void finish(sio_manager_t *m) {
  if (m->finished) return;
  m->finished = 1;
  if (m->close_cb) m->close_cb(m);
  m->handles = 1;
  uv_close((uv_handle_t *)&m->timer, on_handle_closed);
  for (sio_csocket_t *s = m->sockets; s; s = s->next) {
    if (!s->ack_timer) continue;
    m->handles++;
    uv_close((uv_handle_t *)s->ack_timer, on_handle_closed);
  }
}

static void on_finish_timer(uv_timer_t *t) { finish(t->data); }

void sio_manager_close(sio_manager_t *m, sio_manager_close_cb cb) {
  if (!m || m->closing) return;
  m->closing = 1;
  m->in_close = 1;
  m->close_cb = cb;
  for (sio_csocket_t *s = m->sockets; s; s = s->next) sio__csocket_shutdown(s);
  close_connection(m);
  m->in_close = 0;
  /* From the loop, never inside this call: when a connection is closing, once it has gone. */
  if (!m->detached && !m->finished) uv_timer_start(&m->timer, on_finish_timer, 0, 0);
}
