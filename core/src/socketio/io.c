/* The Socket.IO server: one client per Engine.IO session, packets decoded and dispatched to the
 * client's sockets (one per namespace), the connect timeout, shutdown. */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/engine.h"
#include "socketio/recovery.h"
#include "socketio/socketio.h"
#include "worker/workers.h"
#include "transport/log.h"
#include "transport/static_files.h"
#include "opts.h"
#include "url.h"

void sio_io_options_init(sio_io_options_t *opts) {
  memset(opts, 0, sizeof *opts);
  opts->size = sizeof *opts;
  sio_engine_options_init(&opts->engine);
  opts->engine.path = "/socket.io/";
  opts->connect_timeout_ms = 45000;
  opts->max_attachments = 10;
  opts->connection_state_recovery.max_disconnection_duration_ms = 120000;
  opts->connection_state_recovery.skip_middlewares = 1;
  opts->connection_state_recovery.max_bytes = (size_t)32 << 20;
}

/* ---------------------------------------------------------------------------------------------- */
/* Deferred frees: a socket or client closed deep inside a call chain (a send that overflowed, a    */
/* broadcast's iteration) stays readable until the outermost io entry returns.                     */

static void client_free(sio_client_t *c) {
  if (c->dec) sio_packet_decoder_free(c->dec);
  free(c->dec);
  free(c);
}

void sio__io_enter(sio_io_t *io) { io->depth++; }

void sio__io_leave(sio_io_t *io) {
  if (io->depth > 1) {
    io->depth--;
    return;
  }
  while (io->zombie_sockets || io->zombie_clients) {
    sio_socket_t *s = io->zombie_sockets;
    io->zombie_sockets = NULL;
    while (s) {
      sio_socket_t *n = s->znext;
      sio__socket_free(s);
      s = n;
    }
    sio_client_t *c = io->zombie_clients;
    io->zombie_clients = NULL;
    while (c) {
      sio_client_t *n = c->znext;
      client_free(c);
      c = n;
    }
  }
  io->depth--;
}

void sio__socket_release(sio_socket_t *s) {
  sio_io_t *io = s->nsp->io;
  if (s->chains) { /* a packet middleware still holds it: the last sio_incoming_next releases */
    s->released = 1;
    return;
  }
  if (io->depth == 0) {
    sio__socket_free(s);
    return;
  }
  s->znext = io->zombie_sockets;
  io->zombie_sockets = s;
}

/* ---------------------------------------------------------------------------------------------- */
/* Sending                                                                                         */

/* ---------------------------------------------------------------------------------------------- */
/* Debug lines (category socket): a summary, never the payload                                     */

static const char *packet_type_name(int type) {
  static const char *const names[] = {"connect", "disconnect", "event", "ack",
                                      "connect_error", "binary_event", "binary_ack"};
  return type >= 0 && type <= SIO_PACKET_BINARY_ACK ? names[type] : "?";
}

/* "socket <id>" of the packet's namespace, or "session <id>" when there is no socket (yet). */
static const char *packet_owner(sio_client_t *c, const char *nsp, char out[40]) {
  for (sio_socket_t *s = c->sockets; s; s = s->cnext)
    if (strcmp(s->nsp->name, nsp) == 0) {
      snprintf(out, 40, "socket %s", s->id);
      return out;
    }
  snprintf(out, 40, "session %s", sio_session_id(c->session));
  return out;
}

void sio__debug_packet_in(sio_client_t *c, const sio_packet_t *p, size_t len) {
  const char *ev = NULL;
  char num[32];
  if ((p->type == SIO_PACKET_EVENT || p->type == SIO_PACKET_BINARY_EVENT) && p->data) {
    const cJSON *name = cJSON_GetArrayItem(p->data, 0);
    if (cJSON_IsString(name)) ev = name->valuestring;
    else if (cJSON_IsNumber(name)) snprintf(num, sizeof num, "%.17g", name->valuedouble), ev = num;
  }
  char who[40];
  /* A v3 client's namespace carries its auth as a query: never logged. */
  int nsp_len = (int)strcspn(p->nsp, "?");
  sio__debug(c->io->server, SIO_DEBUG_SOCKET,
             "%s in: %s%s%.64s%s nsp %.*s ack %lld, %zu attachments (%zu bytes)",
             packet_owner(c, p->nsp, who), packet_type_name(p->type), ev ? " \"" : "", ev ? ev : "",
             ev ? "\"" : "", nsp_len > 64 ? 64 : nsp_len, p->nsp, (long long)p->id, p->attachment_count, len);
}

void sio__debug_packet_out(sio_server_t *server, const char *who, const sio_encoded_t *enc) {
  const char *d = sio__msg_data(enc->text);
  size_t len = sio__msg_len(enc->text), i = 0;
  if (sio__msg_binary(enc->text) || !len) { /* msgpack: a length is all there is to say cheaply */
    sio__debug(server, SIO_DEBUG_SOCKET, "%s out: msgpack packet, %zu attachments (%zu bytes)",
               who, enc->natts, len);
    return;
  }
  int type = d[i++] - '0';
  if (type == SIO_PACKET_BINARY_EVENT || type == SIO_PACKET_BINARY_ACK) { /* "<count>-" */
    while (i < len && d[i] >= '0' && d[i] <= '9') i++;
    if (i < len && d[i] == '-') i++;
  }
  const char *nsp = "/";
  int nsp_len = 1;
  if (i < len && d[i] == '/') {
    size_t start = i;
    while (i < len && d[i] != ',') i++;
    nsp = d + start, nsp_len = (int)(i - start);
    if (i < len) i++;
  }
  size_t id_start = i;
  while (i < len && d[i] >= '0' && d[i] <= '9') i++;
  int id_len = (int)(i - id_start);
  const char *ev = NULL;
  int ev_len = 0;
  if ((type == SIO_PACKET_EVENT || type == SIO_PACKET_BINARY_EVENT) && i + 1 < len && d[i] == '[' &&
      d[i + 1] == '"') {
    ev = d + i + 2;
    while (ev + ev_len < d + len && ev[ev_len] != '"' && ev_len < 64) ev_len++;
  }
  sio__debug(server, SIO_DEBUG_SOCKET, "%s out: %s%s%.*s%s nsp %.*s ack %.*s, %zu attachments (%zu bytes)",
             who, packet_type_name(type), ev ? " \"" : "", ev_len, ev ? ev : "", ev ? "\"" : "",
             nsp_len > 64 ? 64 : nsp_len, nsp, id_len ? id_len : 2, id_len ? d + id_start : "-1",
             enc->natts, len);
}

int sio__client_send_packet(sio_client_t *c, sio_packet_t *p, int flags) {
  if (!c || c->closed) return SIO_ECLOSED;
  sio_encoded_t enc;
  int r = sio__encode(p, (const sio_buf_t *)p->attachments, c->io->opts.parser, &enc);
  if (r) return r;
  if (SIO_DEBUG_ON(c->io->server, SIO_DEBUG_SOCKET)) {
    char who[40];
    sio__debug_packet_out(c->io->server, packet_owner(c, p->nsp, who), &enc);
  }
  if ((flags & SIO_EMIT_VOLATILE) && !sio_session_writable(c->session)) {
    sio__encoded_clear(&enc);
    return 0;
  }
  if (flags & SIO_EMIT_NO_COMPRESS) sio__encoded_no_compress(&enc);
  r = sio__session_send_msg(c->session, enc.text);
  for (size_t i = 0; r == 0 && i < enc.natts; i++) r = sio__session_send_msg(c->session, enc.atts[i]);
  if (c->io->instr) sio__instr_out(c->io, 1 + enc.natts);
  sio__encoded_clear(&enc);
  return r;
}

/* ---------------------------------------------------------------------------------------------- */
/* The connect timeout: a FIFO, since every client gets the same delay.                            */

static void tq_remove(sio_io_t *io, sio_client_t *c) {
  if (!c->in_timeout_queue) return;
  if (c->tprev) c->tprev->tnext = c->tnext;
  else io->tq_head = c->tnext;
  if (c->tnext) c->tnext->tprev = c->tprev;
  else io->tq_tail = c->tprev;
  c->tnext = c->tprev = NULL;
  c->in_timeout_queue = 0;
}

static void on_connect_timer(uv_timer_t *t) {
  sio_io_t *io = t->data;
  uint64_t now = uv_now(t->loop);
  sio__io_enter(io);
  while (io->tq_head && (int32_t)(io->tq_head->deadline - (uint32_t)now) <= 0) {
    sio_client_t *c = io->tq_head;
    tq_remove(io, c);
    c->close_reason = SIO_CLOSE_FORCED;
    sio_session_close(c->session);
  }
  if (io->tq_head)
    uv_timer_start(io->connect_timer, on_connect_timer, io->tq_head->deadline - (uint32_t)now, 0);
  sio__io_leave(io);
}

/* At most 2^31 - 1 ms (24.8 days): deadlines are 32-bit and compared by their difference. */
static uint32_t connect_timeout(const sio_io_t *io) {
  uint32_t t = io->opts.connect_timeout_ms;
  return t > INT32_MAX ? INT32_MAX : t;
}

static void tq_push(sio_io_t *io, sio_client_t *c) {
  if (!io->connect_timer) return;
  uint64_t now = uv_now(io->connect_timer->loop);
  c->deadline = (uint32_t)now + connect_timeout(io);
  c->in_timeout_queue = 1;
  c->tprev = io->tq_tail;
  c->tnext = NULL;
  if (io->tq_tail) io->tq_tail->tnext = c;
  else io->tq_head = c;
  io->tq_tail = c;
  if (io->tq_head == c) uv_timer_start(io->connect_timer, on_connect_timer, connect_timeout(io), 0);
}

void sio__client_connected(sio_client_t *c) { tq_remove(c->io, c); }

/* ---------------------------------------------------------------------------------------------- */
/* Clients                                                                                         */

void sio__client_close(sio_client_t *c, const char *reason) {
  if (c->closed) return;
  sio_io_t *io = c->io;
  sio__io_enter(io);
  c->closed = 1;
  tq_remove(io, c);
  if (c->prev) c->prev->next = c->next;
  else io->clients = c->next;
  if (c->next) c->next->prev = c->prev;
  while (c->sockets) {
    sio_socket_t *s = c->sockets;
    if (s->state == SOCK_CONNECTED) sio__socket_close(s, reason, 0);
    else sio__socket_abandon(s);
    if (c->sockets == s) c->sockets = s->cnext; /* never left behind */
  }
  if (c->session) sio_session_set_data(c->session, NULL);
  c->session = NULL;
  c->znext = io->zombie_clients;
  io->zombie_clients = c;
  sio__io_leave(io);
}

const char *const sio__close_reasons[4] = {NULL, "forced close", "transport error", "parse error"};

/* Closes the client's Engine.IO session; its sockets see the reason (SIO_CLOSE_*). */
static void client_fail(sio_client_t *c, int code) {
  if (c->closed) return;
  const char *reason = sio__close_reasons[code];
  SIO_LOG(sio_engine_server(c->io->engine), SIO_LOG_DEBUG, "socketio", "session %s: %s",
          sio_session_id(c->session), reason);
  c->close_reason = (unsigned)code;
  sio_session_close(c->session); /* reports back through on_close */
  sio__client_close(c, reason);  /* in case the session was already closing */
}

static void refuse_namespace(sio_client_t *c, const char *name) {
  SIO_DEBUG(c->io->server, SIO_DEBUG_NSP, "session %s: connect to nsp %s refused: Invalid namespace",
            sio_session_id(c->session), name);
  SIO_LOG(sio_engine_server(c->io->engine), SIO_LOG_DEBUG, "socketio",
          "session %s: no namespace %s (Invalid namespace)", sio_session_id(c->session), name);
  sio_packet_t p = {SIO_PACKET_CONNECT_ERROR, (char *)name, -1, NULL, 0, NULL, 0};
  p.data = cJSON_CreateObject();
  if (p.data && cJSON_AddStringToObject(p.data, "message", "Invalid namespace"))
    sio__client_send_packet(c, &p, 0);
  cJSON_Delete(p.data);
}

/* `auth` is consumed; `sent`: the client sent it (sio_socket_auth_sent). */
static void client_connect(sio_client_t *c, const char *name, cJSON *auth, int sent) {
  sio_nsp_t *nsp = sio__nsp_lookup(c->io, name, auth);
  if (!nsp) {
    cJSON_Delete(auth);
    refuse_namespace(c, name);
    return;
  }
  sio_socket_t *s = sio__socket_new(nsp, c, auth, sent);
  if (!s) {
    client_fail(c, SIO_CLOSE_TRANSPORT);
    return;
  }
  /* Sessions kept by the adapter (shared between nodes): the CONNECT is answered once it has
   * looked (a fresh socket if it found nothing). */
  if (c->protocol != 3 && sio__nsp_adapter_sessions(nsp) && sio__socket_restore_async(s) == 0)
    return;
  if (nsp->recovery && c->protocol != 3 && sio__socket_restore(s) == 0 &&
      c->io->opts.connection_state_recovery.skip_middlewares) {
    sio__socket_connect(s); /* Node's skipMiddlewares: a recovered socket is let straight in */
    return;
  }
  sio__socket_start(s);
}

/* A v4 client's namespace "/nsp?a=1&b=2": the query becomes its auth object (the last value of a
 * repeated key wins, as Object.fromEntries does). Cuts the query off `nsp` and returns 0 with *out
 * the object, SIO_ENOMEM, or SIO_EPARSE when a name or value does not decode to text (a NUL, or
 * not UTF-8). */
static int query_auth(char *nsp, cJSON **out) {
  *out = NULL;
  char *q = strchr(nsp, '?');
  if (q && !sio_url_query_is_text(q + 1, strlen(q + 1))) return SIO_EPARSE;
  cJSON *auth = *out = cJSON_CreateObject();
  if (!auth) return SIO_ENOMEM;
  if (!q) return 0;
  *q++ = '\0';
  while (*q) {
    char *amp = strchr(q, '&');
    size_t len = amp ? (size_t)(amp - q) : strlen(q);
    if (len) {
      char *eq = memchr(q, '=', len);
      size_t klen = eq ? (size_t)(eq - q) : len;
      char *key = strndup(q, klen);
      char *val = eq ? strndup(eq + 1, len - klen - 1) : strdup("");
      if (!key || !val) {
        free(key);
        free(val);
        cJSON_Delete(auth);
        *out = NULL;
        return SIO_ENOMEM;
      }
      key[sio_url_decode(key, klen, key)] = '\0';
      val[sio_url_decode(val, strlen(val), val)] = '\0';
      cJSON_DeleteItemFromObjectCaseSensitive(auth, key);
      cJSON_AddStringToObject(auth, key, val);
      free(key);
      free(val);
    }
    if (!amp) break;
    q = amp + 1;
  }
  return 0;
}

static sio_socket_t *client_socket(sio_client_t *c, const char *name) {
  for (sio_socket_t *s = c->sockets; s; s = s->cnext)
    if (strcmp(s->nsp->name, name) == 0) return s;
  return NULL;
}

static void client_dispatch(sio_client_t *c, sio_packet_t *p) {
  cJSON *auth = NULL;
  int sent = p->data != NULL;
  if (c->protocol == 3) {
    sent = strchr(p->nsp, '?') != NULL; /* a v3 client's auth is its namespace's query */
    int r = query_auth(p->nsp, &auth); /* also cuts the query off the name */
    if (r) {
      client_fail(c, r == SIO_EPARSE ? SIO_CLOSE_PARSE : SIO_CLOSE_TRANSPORT);
      return;
    }
  }
  sio_socket_t *s = client_socket(c, p->nsp);
  if (!s && p->type == SIO_PACKET_CONNECT) {
    if (!auth) {
      auth = p->data ? p->data : cJSON_CreateObject();
      p->data = NULL;
    }
    if (!auth) {
      client_fail(c, SIO_CLOSE_TRANSPORT);
      return;
    }
    client_connect(c, p->nsp, auth, sent);
    return;
  }
  cJSON_Delete(auth);
  if (s && s->state == SOCK_CONNECTED && p->type != SIO_PACKET_CONNECT &&
      p->type != SIO_PACKET_CONNECT_ERROR) {
    sio__socket_onpacket(s, p);
    return;
  }
  if (s && s->state == SOCK_PENDING && p->type == SIO_PACKET_CONNECT) return; /* still deciding */
  /* A packet for a namespace the client is not in, or a second CONNECT: the reference closes. */
  client_fail(c, SIO_CLOSE_FORCED);
}

/* ---------------------------------------------------------------------------------------------- */
/* Engine callbacks                                                                                */

static void on_connection(sio_engine_t *e, sio_session_t *session) {
  sio_io_t *io = sio_engine_get_data(e);
  sio_client_t *c = calloc(1, sizeof *c);
  if (!c) {
    sio_session_close(session);
    return;
  }
  c->io = io;
  c->session = session;
  c->protocol = (uint8_t)sio_session_protocol(session);
  c->next = io->clients;
  if (io->clients) io->clients->prev = c;
  io->clients = c;
  sio_session_set_data(session, c);
  sio__io_enter(io);
  if (io->instr) sio__instr_client(c, NULL);
  if (c->protocol == 3) {
    /* socket.io 2.x clients are in "/" from the start, without a CONNECT of their own. */
    cJSON *auth = cJSON_CreateObject();
    if (auth) client_connect(c, "/", auth, 0);
    else client_fail(c, SIO_CLOSE_TRANSPORT);
  } else {
    tq_push(io, c);
  }
  sio__io_leave(io);
}

/* Decodes one message: 1 and *out when a packet is complete, 0 when attachments are awaited, or a
 * negative error. The stateful decoder exists only while a binary packet is being put together, so
 * an idle client does not carry it. */
static int client_decode(sio_client_t *c, const char *data, size_t len, int binary,
                         sio_packet_t *out) {
  if (c->io->opts.parser == SIO_PARSER_MSGPACK) {
    /* One binary message per packet; a text message is refused, as socket.io-msgpack-parser's
     * decoder throws on one. */
    int r = binary ? sio_packet_decode_msgpack(data, len, out) : SIO_EPARSE;
    return r < 0 ? r : 1;
  }
  if (!c->dec) {
    if (!binary && len && data[0] != '0' + SIO_PACKET_BINARY_EVENT &&
        data[0] != '0' + SIO_PACKET_BINARY_ACK) {
      int r = sio_packet_decode(data, len, out);
      return r < 0 ? r : 1;
    }
    if (!(c->dec = malloc(sizeof *c->dec))) return SIO_ENOMEM;
    sio_packet_decoder_init(c->dec);
    c->dec->max_attachments = c->io->opts.max_attachments;
  }
  int r = sio_packet_decoder_feed(c->dec, data, len, binary, out);
  if (!c->dec->waiting) {
    sio_packet_decoder_free(c->dec);
    free(c->dec);
    c->dec = NULL;
  }
  return r;
}

static void on_message(sio_session_t *session, const char *data, size_t len, int binary) {
  sio_client_t *c = sio_session_get_data(session);
  if (!c || c->closed) return;
  sio_io_t *io = c->io;
  sio__io_enter(io);
  if (io->instr) sio__instr_in(c, len);
  sio_packet_t p;
  int r = client_decode(c, data, len, binary, &p);
  if (r < 0) client_fail(c, SIO_CLOSE_PARSE);
  else if (r == 1) {
    if (SIO_DEBUG_ON(io->server, SIO_DEBUG_SOCKET)) sio__debug_packet_in(c, &p, len);
    client_dispatch(c, &p);
    sio_packet_clear(&p);
  }
  sio__io_leave(io);
}

static void on_close(sio_session_t *session, const char *reason) {
  sio_client_t *c = sio_session_get_data(session);
  if (!c) return;
  if (c->close_reason) reason = sio__close_reasons[c->close_reason];
  if (c->io->instr) sio__instr_client(c, reason);
  sio__client_close(c, reason);
}

static void free_timer(uv_handle_t *h) { free(h); }

/* Connection state recovery: what is older than max_disconnection_duration goes even when
 * nothing is emitted or persisted (which expire as they go). */
static void on_recovery_timer(uv_timer_t *t) {
  sio_io_t *io = t->data;
  uint64_t now = uv_now(t->loop);
  for (sio_nsp_t *n = io->nsp_list; n; n = n->next)
    if (n->recovery) sio__recovery_expire(n->recovery, now);
}

static void on_shutdown(sio_engine_t *e) {
  sio_io_t *io = sio_engine_get_data(e);
  io->shutting_down = 1;
  sio__io_enter(io);
  /* Unlike the reference, say goodbye: clients learn why instead of seeing a bare close. */
  for (sio_client_t *c = io->clients; c; c = c->next) {
    sio_socket_t *s = c->sockets;
    while (s) {
      sio_socket_t *n = s->cnext;
      if (s->state == SOCK_CONNECTED) sio__socket_close(s, "server shutting down", 1);
      s = n;
    }
  }
  /* Broadcasts and requests still waiting for answers end now: no answer can come any more. The
   * adapters end the requests they hold, the rest were waiting for the loop. */
  while (io->bcasts) sio__bcast_finish(io->bcasts, SIO_ECLOSED);
  for (sio_nsp_t *n = io->nsp_list; n; n = n->next)
    if (n->adapter->vt->close) n->adapter->vt->close(n->adapter);
  while (io->requests) sio__request_done(io->requests, SIO_ECLOSED);
  sio__io_leave(io);
  /* A cluster's connections would keep the loop alive after the server is gone. */
  if (io->adapters.close) io->adapters.close(io->adapters.arg);
  if (io->connect_timer) {
    uv_close((uv_handle_t *)io->connect_timer, free_timer);
    io->connect_timer = NULL;
  }
  if (io->recovery_timer) {
    uv_close((uv_handle_t *)io->recovery_timer, free_timer);
    io->recovery_timer = NULL;
  }
}

static void io_destroy(sio_io_t *io) {
  if (io->instr) sio__instr_free(io);
  if (io->connect_timer) uv_close((uv_handle_t *)io->connect_timer, free_timer);
  if (io->recovery_timer) uv_close((uv_handle_t *)io->recovery_timer, free_timer);
  sio_nsp_t *n = io->nsp_list;
  while (n) {
    sio_nsp_t *next = n->next;
    sio__nsp_free(n);
    n = next;
  }
  n = io->parents;
  while (n) {
    sio_nsp_t *next = n->pnext;
    sio__nsp_free(n);
    n = next;
  }
  /* After the namespaces: their adapters unregister from the factory's state as they are freed. */
  if (io->adapters.free) io->adapters.free(io->adapters.arg);
  sio_map_free(&io->nsps);
  free(io->path);
  free(io->metrics_path);
  free(io);
}

void sio__io_maybe_free(sio_io_t *io) {
  if (io->engine_gone && io->mw_count == 0 && io->depth == 0) io_destroy(io);
}

static void io_free(void *arg) {
  sio_io_t *io = arg;
  io->engine_gone = 1;
  /* Now, while the server is still there (the io may outlive it, held by a middleware). */
  if (io->instr) sio__server_watch_instr(io->server, -1);
  sio__io_maybe_free(io); /* else the last sio_socket_next/refuse of a middleware frees it */
}

int sio_io_new(sio_server_t *server, const sio_io_options_t *opts, sio_io_t **out) {
  sio__error_clear();
  if (!server || !out) return SIO_EINVAL;
  sio_io_t *io = calloc(1, sizeof *io);
  if (!io) return SIO_ENOMEM;
  sio_io_options_init(&io->opts);
  /* The first version ended at client_dir: such a caller's struct has no parser. */
  if (opts && sio__take_options(&io->opts, sizeof io->opts, opts, offsetof(sio_io_options_t, parser),
                                "sio_io_options")) {
    free(io);
    return SIO_EINVAL;
  }
  if (io->opts.parser != SIO_PARSER_JSON && io->opts.parser != SIO_PARSER_MSGPACK) {
    int parser = io->opts.parser;
    free(io);
    return sio__fail(SIO_EINVAL, "sio_io_options: parser %d is neither SIO_PARSER_JSON nor "
                     "SIO_PARSER_MSGPACK", parser);
  }
#ifndef SIO_HAVE_MSGPACK
  if (io->opts.parser == SIO_PARSER_MSGPACK) {
    free(io);
    return sio__fail(UV_ENOSYS, "the msgpack parser needs msgpack-c: sio was built without it "
                     "(apt install libmsgpack-dev, then cmake -DSIO_MSGPACK=ON)");
  }
#endif
  if (io->opts.max_attachments == 0) io->opts.max_attachments = 10;
  if (io->opts.max_attachments > SIO_PACKET_MAX_ATTACHMENTS)
    io->opts.max_attachments = SIO_PACKET_MAX_ATTACHMENTS;
  /* Resolved before the engine exists: a bad directory must fail the call, not leave an engine
   * attached to the server. */
  char *client_dir = NULL;
  if (io->opts.client_dir) {
    int r = sio_http_resolve_dir(io->opts.client_dir, &client_dir);
    if (r) {
      free(io);
      return r;
    }
  }
  io->path = strdup(io->opts.engine.path ? io->opts.engine.path : "/socket.io/");
  io->connect_timer = malloc(sizeof *io->connect_timer);
  if (!io->path || !io->connect_timer) {
    free(io->path);
    free(io->connect_timer);
    free(client_dir);
    free(io);
    return SIO_ENOMEM;
  }
  io->opts.engine.path = io->path;
  io->opts.client_dir = NULL; /* given to the engine; not kept here */
  io->opts.engine.cors_origin = NULL; /* copied by the engine; not kept here */
  io->server = server;
  io->st.redis_up = -1;
  sio_engine_options_t eo = opts ? opts->engine : io->opts.engine;
  eo.path = io->path;
  sio_engine_callbacks_t cbs = {on_connection, on_message, on_close, on_shutdown};
  int r = sio_engine_new(server, &eo, &cbs, &io->engine);
  if (r) {
    free(io->path);
    free(io->connect_timer);
    free(client_dir);
    free(io);
    return r;
  }
  if (client_dir) sio__engine_serve_client(io->engine, client_dir);
  uv_timer_init(sio_server_loop(server), io->connect_timer);
  io->connect_timer->data = io;
  if (io->opts.connection_state_recovery.enabled) {
    uint32_t age = io->opts.connection_state_recovery.max_disconnection_duration_ms;
    uint32_t every = age < 1000 ? 1000 : age > 60000 ? 60000 : age; /* Node: every minute */
    io->recovery_timer = malloc(sizeof *io->recovery_timer);
    if (io->recovery_timer) {
      uv_timer_init(sio_server_loop(server), io->recovery_timer);
      io->recovery_timer->data = io;
      uv_timer_start(io->recovery_timer, on_recovery_timer, every, every);
      uv_unref((uv_handle_t *)io->recovery_timer); /* never what keeps the loop alive */
    }
  }
  sio_engine_set_data(io->engine, io);
  sio__engine_on_free(io->engine, io_free, io);
  sio_nsp_t *root;
  r = sio__nsp_new(io, "/", NULL, &root);
  if (r) return r; /* the engine (and io with it) is freed with the server */
  sio__workers_io_join(io);
  *out = io;
  return 0;
}

sio_engine_t *sio_io_engine(const sio_io_t *io) { return io->engine; }
sio_io_counters_t *sio__io_counters(sio_io_t *io) { return &io->st; }
void *sio_io_get_data(const sio_io_t *io) { return io->data; }
void sio_io_set_data(sio_io_t *io, void *data) { io->data = data; }

void sio_io_on_socket_data(sio_io_t *io, sio_socket_data_cb cb, void *arg) {
  if (!io) return;
  io->socket_data = cb;
  io->socket_data_arg = cb ? arg : NULL;
}
