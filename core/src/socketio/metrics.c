/* Metrics: the counters the engine, the server and the io keep (plain increments on the loop
 * thread), gathered by sio_io_stats() and written as Prometheus text (exposition format 0.0.4)
 * for sio_io_serve_metrics(). Nothing here runs until a caller reads or a scrape comes. */
#include <stdlib.h>
#include <string.h>

#include "engine/engine.h"
#include "fail.h"
#include "sbuf.h"
#include "socketio/socketio.h"
#include "transport/transport.h"

/* The first version of sio_stats_t ends with redis_received. */
#define STATS_MIN_SIZE (offsetof(sio_stats_t, redis_received) + sizeof(uint64_t))

static void gather(const sio_io_t *io, sio_stats_t *st) {
  memset(st, 0, sizeof *st);
  st->size = sizeof *st;
  if (io->engine) sio__engine_stats(io->engine, st);
  sio__server_stats(io->server, st);
  for (const sio_nsp_t *n = io->nsp_list; n; n = n->next) st->sockets += n->count;
  st->redis_up = io->st.redis_up;
  st->connections = io->st.connections;
  st->broadcasts = io->st.broadcasts;
  st->acks_sent = io->st.acks_sent;
  st->acks_answered = io->st.acks_answered;
  st->acks_timed_out = io->st.acks_timed_out;
  st->acks_replied = io->st.acks_replied;
  st->redis_published = io->st.redis_published;
  st->redis_received = io->st.redis_received;
}

int sio_io_stats(const sio_io_t *io, sio_stats_t *out) {
  sio__error_clear();
  if (!io || !out) return SIO_EINVAL;
  size_t n = out->size;
  if (n < STATS_MIN_SIZE || n > sizeof(sio_stats_t))
    return sio__fail(SIO_EINVAL, "sio_stats_t: size %zu is not one this library knows "
                     "(set it to sizeof(sio_stats_t))", n);
  sio_stats_t st;
  gather(io, &st);
  memcpy(out, &st, n);
  out->size = n;
  return 0;
}

int sio_io_nsp_stats(const sio_io_t *io, size_t i, const char **name, size_t *sockets) {
  if (!io) return SIO_EINVAL;
  const sio_nsp_t *n = io->nsp_list;
  while (n && i--) n = n->next;
  if (!n) return SIO_ENOTFOUND;
  if (name) *name = n->name;
  if (sockets) *sockets = n->count;
  return 0;
}

/* ---------------------------------------------------------------------------------------------- */
/* Prometheus text                                                                                 */

/* A writer that remembers the first failure, so that the lines below read straight. */
typedef struct {
  sio_sbuf_t b;
  int err;
} out_t;

static void put(out_t *o, const char *s) {
  if (!o->err) o->err = sio_sbuf_append_str(&o->b, s);
}

static void put_u64(out_t *o, uint64_t v) {
  if (!o->err) o->err = sio_sbuf_append_u64(&o->b, v);
}

/* A label value as the format has it: backslash, double quote and line feed escaped. */
static void put_label_value(out_t *o, const char *v) {
  for (const char *p = v; *p && !o->err; p++) {
    const char *esc = *p == '\\' ? "\\\\" : *p == '"' ? "\\\"" : *p == '\n' ? "\\n" : NULL;
    o->err = esc ? sio_sbuf_append_str(&o->b, esc) : sio_sbuf_append_char(&o->b, *p);
  }
}

static void family(out_t *o, const char *name, const char *type, const char *help) {
  put(o, "# HELP ");
  put(o, name);
  put(o, " ");
  put(o, help);
  put(o, "\n# TYPE ");
  put(o, name);
  put(o, " ");
  put(o, type);
  put(o, "\n");
}

/* name{label="value"} v, or name v when label is NULL. */
static void sample(out_t *o, const char *name, const char *label, const char *value, uint64_t v) {
  put(o, name);
  if (label) {
    put(o, "{");
    put(o, label);
    put(o, "=\"");
    put_label_value(o, value);
    put(o, "\"}");
  }
  put(o, " ");
  put_u64(o, v);
  put(o, "\n");
}

static void scalar(out_t *o, const char *name, const char *type, const char *help, uint64_t v) {
  family(o, name, type, help);
  sample(o, name, NULL, NULL, v);
}

static const char *const transport_names[2] = {"polling", "websocket"};

static void by_transport(out_t *o, const char *name, const char *help, const uint64_t v[2]) {
  family(o, name, "counter", help);
  for (int t = 0; t < 2; t++) sample(o, name, "transport", transport_names[t], v[t]);
}

static void write_text(const sio_io_t *io, const sio_stats_t *st, out_t *o) {
  family(o, "sio_engine_sessions", "gauge", "Open Engine.IO sessions by transport and protocol.");
  for (int t = 0; t < 2; t++)
    for (int p = 0; p < 2; p++) {
      put(o, "sio_engine_sessions{transport=\"");
      put(o, transport_names[t]);
      put(o, p ? "\",protocol=\"4\"} " : "\",protocol=\"3\"} ");
      put_u64(o, st->sessions[t][p]);
      put(o, "\n");
    }
  scalar(o, "sio_engine_handshakes_total", "counter", "Engine.IO sessions opened.", st->handshakes);
  family(o, "sio_engine_handshakes_refused_total", "counter",
         "Engine.IO requests refused, by Engine.IO error code.");
  for (int i = 0; i < 6; i++) {
    char reason[2] = {(char)('0' + i), 0};
    sample(o, "sio_engine_handshakes_refused_total", "reason", reason, st->refused[i]);
  }
  scalar(o, "sio_engine_upgrades_total", "counter", "Sessions upgraded from polling to WebSocket.",
         st->upgrades);
  by_transport(o, "sio_engine_packets_received_total", "Engine.IO packets received.", st->packets_in);
  by_transport(o, "sio_engine_packets_sent_total", "Engine.IO packets sent.", st->packets_out);
  by_transport(o, "sio_engine_bytes_received_total", "Engine.IO bytes received.", st->bytes_in);
  by_transport(o, "sio_engine_bytes_sent_total", "Engine.IO bytes sent.", st->bytes_out);
  scalar(o, "sio_engine_max_buffered_closes_total", "counter",
         "Sessions closed for going past max_buffered.", st->max_buffered_closes);
  scalar(o, "sio_tls_handshakes_total", "counter", "TLS handshakes completed.", st->tls_handshakes);
  scalar(o, "sio_tls_handshake_failures_total", "counter", "TLS handshakes failed.",
         st->tls_failures);
  scalar(o, "sio_websocket_deflate_total", "counter",
         "WebSocket connections that negotiated permessage-deflate.", st->deflate_negotiated);
  family(o, "sio_sockets", "gauge", "Connected Socket.IO sockets by namespace.");
  for (const sio_nsp_t *n = io->nsp_list; n; n = n->next)
    sample(o, "sio_sockets", "namespace", n->name, n->count);
  scalar(o, "sio_connections_total", "counter", "Socket.IO sockets connected.", st->connections);
  scalar(o, "sio_broadcasts_total", "counter", "Broadcasts (namespace and room emits).",
         st->broadcasts);
  scalar(o, "sio_acks_sent_total", "counter", "Events sent awaiting an acknowledgement.",
         st->acks_sent);
  scalar(o, "sio_acks_answered_total", "counter", "Acknowledgements the clients answered.",
         st->acks_answered);
  scalar(o, "sio_acks_timed_out_total", "counter", "Acknowledgements that timed out.",
         st->acks_timed_out);
  scalar(o, "sio_acks_replied_total", "counter", "Answers sent to the clients' acknowledgements.",
         st->acks_replied);
  if (st->redis_up >= 0) {
    scalar(o, "sio_redis_up", "gauge", "1 when both Redis connections are up.",
           (uint64_t)st->redis_up);
    scalar(o, "sio_redis_published_total", "counter", "Redis PUBLISH commands sent.",
           st->redis_published);
    scalar(o, "sio_redis_received_total", "counter", "Redis messages received.",
           st->redis_received);
  }
}

int sio_io_metrics_text(const sio_io_t *io, char **out, size_t *len) {
  sio__error_clear();
  if (!io || !out) return SIO_EINVAL;
  sio_stats_t st;
  gather(io, &st);
  out_t o = {SIO_SBUF_INIT, 0};
  write_text(io, &st, &o);
  if (!o.err) o.err = sio_sbuf_append_char(&o.b, '\0');
  if (o.err) {
    sio_sbuf_free(&o.b);
    return SIO_ENOMEM;
  }
  size_t n;
  *out = sio_sbuf_steal(&o.b, &n);
  if (len) *len = n - 1;
  return 0;
}

/* ---------------------------------------------------------------------------------------------- */
/* Serving                                                                                         */

static void on_metrics_request(sio_http_req_t *req, void *arg) {
  sio_io_t *io = arg;
  const char *method = sio_http_req_method(req);
  const char *path = sio_http_req_path(req);
  size_t n = strlen(io->metrics_path);
  /* The handler has the whole prefix: only the path itself (or with a '/') is the metrics. */
  if (strncmp(path, io->metrics_path, n) != 0 || (path[n] && strcmp(path + n, "/") != 0)) {
    sio_http_respond(req, 404, NULL, "Not Found", 9);
    return;
  }
  if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
    static const char *const allow[] = {"Allow", "GET, HEAD", NULL};
    sio_http_respond(req, 405, allow, "Method Not Allowed", 18);
    return;
  }
  char *text;
  size_t len;
  if (io->engine_gone || sio_io_metrics_text(io, &text, &len) != 0) {
    sio_http_respond(req, 503, NULL, "Service Unavailable", 19);
    return;
  }
  static const char *const headers[] = {"Content-Type", "text/plain; version=0.0.4; charset=utf-8",
                                        "Cache-Control", "no-store", NULL};
  sio_http_respond(req, 200, headers, text, len);
  free(text);
}

int sio_io_serve_metrics(sio_io_t *io, const char *path) {
  sio__error_clear();
  if (!io || !path) return SIO_EINVAL;
  if (io->metrics_path) return sio__fail(SIO_EEXIST, "metrics are served already at %s",
                                         io->metrics_path);
  size_t n = strlen(path);
  while (n > 1 && path[n - 1] == '/') n--;
  char *p = strndup(path, n);
  if (!p) return SIO_ENOMEM;
  int r = sio_server_handler(io->server, p, on_metrics_request, io, NULL);
  if (r) {
    free(p);
    return r;
  }
  io->metrics_path = p;
  return 0;
}
