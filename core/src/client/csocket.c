/* The client's Socket: one namespace over a manager. CONNECT (with auth, and the recovery
 * fields), events and acks both ways, the send buffer while not connected, ack timeouts (one
 * timer per socket, due at the earliest deadline). Packets are encoded once, by the server's
 * codecs, into the manager's scratch buffer, and handed to the Engine.IO client from there. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/client.h"
#include "fail.h"
#include "socketio/socketio.h"

/* ---------------------------------------------------------------------------------------------- */
/* Encoding                                                                                        */

/* The messages of a packet: parts[0] the encoded text (or msgpack) in m->scratch, then the
 * attachments as they are (JSON parser). `parts` has room for 1 + p->attachment_count. */
static int encode(sio_manager_t *m, const sio_packet_t *p, const sio_buf_t *bufs,
                  sio_eioc_part_t *parts, size_t *n) {
  m->scratch.len = 0;
  int r;
  if (m->o.parser == SIO_PARSER_MSGPACK) {
    if ((r = sio_packet_encode_msgpack(p, bufs, &m->scratch)) != 0) goto fail;
    parts[0] = (sio_eioc_part_t){m->scratch.data, m->scratch.len, 1};
    *n = 1;
    return 0;
  }
  if ((r = sio_packet_encode(p, &m->scratch)) != 0) goto fail;
  parts[0] = (sio_eioc_part_t){m->scratch.data, m->scratch.len, 0};
  for (size_t i = 0; i < p->attachment_count; i++)
    parts[i + 1] = (sio_eioc_part_t){bufs[i].data, bufs[i].len, 1};
  *n = 1 + p->attachment_count;
  return 0;
fail:
  if (r == SIO_EINVAL)
    return sio__fail(r, "a value nested deeper than %d levels, or of no JSON type", SIO_MAX_DEPTH);
  return r;
}

/* Encodes and sends a packet without attachments (CONNECT, DISCONNECT). */
static int send_simple(sio_csocket_t *s, int type, cJSON *data) {
  sio_packet_t p = {type, s->nsp, -1, data, 0, NULL, 0};
  sio_eioc_part_t part;
  size_t n = 0;
  int r = encode(s->m, &p, NULL, &part, &n);
  return r ? r : sio__manager_send(s->m, &part, n);
}

/* ---------------------------------------------------------------------------------------------- */
/* Acks                                                                                            */

static void ack_unlink(sio_csocket_t *s, sio_cack_t *a) {
  if (a->prev) a->prev->next = a->next;
  else s->acks = a->next;
  if (a->next) a->next->prev = a->prev;
  else s->acks_tail = a->prev;
  a->prev = a->next = NULL;
}

static void ack_link(sio_csocket_t *s, sio_cack_t *a) {
  a->prev = s->acks_tail;
  a->next = NULL;
  if (s->acks_tail) s->acks_tail->next = a;
  else s->acks = a;
  s->acks_tail = a;
}

/* Runs and frees a detached list of acks with `status`. */
static void ack_run_list(sio_csocket_t *s, sio_cack_t *list, int status) {
  while (list) {
    sio_cack_t *a = list;
    list = a->next;
    a->cb(s, status, NULL, a->arg);
    free(a);
  }
}

/* Ends the acks that were sent (all: those still buffered too) with SIO_ECLOSED. */
static void acks_fail(sio_csocket_t *s, int all) {
  sio_cack_t *list = NULL, **tail = &list;
  for (sio_cack_t *a = s->acks, *n; a; a = n) {
    n = a->next;
    if (!all && !a->sent) continue;
    ack_unlink(s, a);
    *tail = a;
    tail = &a->next;
  }
  ack_run_list(s, list, SIO_ECLOSED);
}

static void sendq_drop_ack(sio_csocket_t *s, int64_t id);
static void on_ack_timer(uv_timer_t *t);

/* The ack timer, made on first need (closed and freed with the socket). */
static int ack_timer_ready(sio_csocket_t *s) {
  if (s->ack_timer) return 0;
  if (!(s->ack_timer = malloc(sizeof *s->ack_timer))) return SIO_ENOMEM;
  uv_timer_init(s->m->loop, s->ack_timer);
  s->ack_timer->data = s;
  return 0;
}

static void timer_arm(sio_csocket_t *s, uint64_t deadline) {
  if (s->timer_due && s->timer_due <= deadline) return;
  uint64_t now = uv_now(s->m->loop);
  s->timer_due = deadline;
  uv_timer_start(s->ack_timer, on_ack_timer, deadline > now ? deadline - now : 0, 0);
}

static void on_ack_timer(uv_timer_t *t) {
  sio_csocket_t *s = t->data;
  uint64_t now = uv_now(s->m->loop), next = 0;
  s->timer_due = 0;
  sio_cack_t *list = NULL, **tail = &list;
  for (sio_cack_t *a = s->acks, *n; a; a = n) {
    n = a->next;
    if (!a->deadline) continue;
    if (a->deadline > now) {
      if (!next || a->deadline < next) next = a->deadline;
      continue;
    }
    /* As socket.io-client: a buffered emit whose ack timed out is not sent any more. */
    if (!a->sent) sendq_drop_ack(s, a->id);
    ack_unlink(s, a);
    *tail = a;
    tail = &a->next;
  }
  if (next) timer_arm(s, next);
  ack_run_list(s, list, SIO_ETIMEDOUT);
}

static void on_ack_packet(sio_csocket_t *s, sio_packet_t *p) {
  sio_cack_t *a = s->acks;
  while (a && a->id != p->id) a = a->next;
  if (!a) return; /* unknown, or answered already: socket.io-client ignores it too */
  ack_unlink(s, a);
  sio_args_t args = {p->data, (const sio_buf_t *)p->attachments, p->attachment_count};
  a->cb(s, 0, &args, a->arg);
  free(a);
}

/* ---------------------------------------------------------------------------------------------- */
/* The send buffer                                                                                 */

static void sendq_unlink(sio_csocket_t *s, sio_cbuf_t *prev, sio_cbuf_t *b) {
  if (prev) prev->next = b->next;
  else s->sendq = b->next;
  if (s->sendq_tail == b) s->sendq_tail = prev;
  s->sendq_count--;
  s->sendq_bytes -= b->bytes;
}

static void sendq_drop_ack(sio_csocket_t *s, int64_t id) {
  for (sio_cbuf_t *b = s->sendq, *prev = NULL; b; prev = b, b = b->next)
    if (b->ack_id == id) {
      sendq_unlink(s, prev, b);
      free(b);
      return;
    }
}

static int sendq_push(sio_csocket_t *s, const sio_eioc_part_t *parts, size_t n, int64_t ack_id) {
  size_t bytes = 0;
  const sio_manager_options_t *o = &s->m->o;
  for (size_t i = 0; i < n; i++) {
    /* What the connection would refuse at once is refused now, not when it would block the rest */
    if (parts[i].len > o->max_payload)
      return sio__fail(SIO_ETOOBIG, "a message of %zu bytes (max_payload %zu)", parts[i].len,
                       o->max_payload);
    bytes += parts[i].len;
  }
  if (s->sendq_count >= o->send_buffer_max || s->sendq_bytes + bytes > o->send_buffer_bytes)
    return sio__fail(SIO_EBUSY, "the send buffer is full (%zu packets, %zu bytes)", s->sendq_count,
                     s->sendq_bytes);
  sio_cbuf_t *b = malloc(sizeof *b + n * sizeof b->parts[0] + bytes);
  if (!b) return SIO_ENOMEM;
  char *at = (char *)&b->parts[n];
  for (size_t i = 0; i < n; i++) {
    memcpy(at, parts[i].data, parts[i].len);
    b->parts[i] = (sio_eioc_part_t){at, parts[i].len, parts[i].binary};
    at += parts[i].len;
  }
  b->next = NULL;
  b->ack_id = ack_id;
  b->bytes = bytes;
  b->nparts = n;
  if (s->sendq_tail) s->sendq_tail->next = b;
  else s->sendq = b;
  s->sendq_tail = b;
  s->sendq_count++;
  s->sendq_bytes += bytes;
  return 0;
}

static void mark_sent(sio_csocket_t *s, int64_t id) {
  for (sio_cack_t *a = s->acks; a; a = a->next)
    if (a->id == id) {
      a->sent = 1;
      return;
    }
}

/* Sends what waited, in order, while connected. */
static void sendq_flush(sio_csocket_t *s) {
  while (s->sendq && s->connected) {
    sio_cbuf_t *b = s->sendq;
    if (sio__manager_send(s->m, b->parts, b->nparts) != 0) return; /* kept for the next connect */
    sendq_unlink(s, NULL, b);
    if (b->ack_id >= 0) mark_sent(s, b->ack_id);
    free(b);
  }
}

static void sendq_clear(sio_csocket_t *s) {
  while (s->sendq) {
    sio_cbuf_t *b = s->sendq;
    sendq_unlink(s, NULL, b);
    free(b);
  }
}

/* ---------------------------------------------------------------------------------------------- */
/* Incoming                                                                                        */

static void recvq_clear(sio_csocket_t *s) {
  while (s->recvq) {
    sio_crecv_t *r = s->recvq;
    s->recvq = r->next;
    sio_packet_clear(&r->p);
    free(r);
  }
  s->recvq_tail = NULL;
}

/* Keeps an event for later: the packet moves in, its borrowed attachments are copied. */
static void recvq_push(sio_csocket_t *s, sio_packet_t *p) {
  sio_crecv_t *r = malloc(sizeof *r);
  if (!r) return;
  size_t n = p->attachment_count, borrowed = (size_t)p->last_borrowed < n ? (size_t)p->last_borrowed : n;
  for (size_t i = n - borrowed; i < n; i++) {
    char *c = malloc(p->attachments[i].len ? p->attachments[i].len : 1);
    if (!c) { /* the copies so far are owned; the rest stays borrowed and is dropped */
      p->last_borrowed = (int)(n - i);
      free(r);
      return;
    }
    memcpy(c, p->attachments[i].data, p->attachments[i].len);
    p->attachments[i].data = c;
  }
  p->last_borrowed = 0;
  r->p = *p;
  memset(p, 0, sizeof *p);
  r->next = NULL;
  if (s->recvq_tail) s->recvq_tail->next = r;
  else s->recvq = r;
  s->recvq_tail = r;
}

static void emit_event(sio_csocket_t *s, sio_packet_t *p) {
  cJSON *name = cJSON_DetachItemFromArray(p->data, 0); /* the decoder made it a string or number */
  char num[32];
  const char *ev = name ? name->valuestring : NULL;
  if (cJSON_IsNumber(name)) { /* a number names an event as its decimal text, as in JS */
    snprintf(num, sizeof num, "%.17g", name->valuedouble);
    ev = num;
  }
  /* Connection state recovery: the last argument of each event is its offset. */
  cJSON *last = s->pid ? cJSON_GetArrayItem(p->data, cJSON_GetArraySize(p->data) - 1) : NULL;
  if (cJSON_IsString(last)) {
    char *o = strdup(last->valuestring);
    if (o) {
      free(s->offset);
      s->offset = o;
    }
  }
  sio_args_t args = {p->data, (const sio_buf_t *)p->attachments, p->attachment_count};
  if (ev && s->cbs.on_event) s->cbs.on_event(s, ev, &args, p->id);
  cJSON_Delete(name);
}

static char *v3_id(sio_csocket_t *s) {
  const char *sid = s->m->eioc ? sio_eioc_sid(s->m->eioc) : NULL;
  if (!sid) sid = "";
  if (strcmp(s->nsp, "/") == 0) return strdup(sid);
  size_t n = strlen(s->nsp) + strlen(sid) + 2;
  char *id = malloc(n);
  if (id) snprintf(id, n, "%s#%s", s->nsp, sid);
  return id;
}

/* Connected (socket.io-client's onconnect): buffered events in, buffered emits out, then
 * on_connect. id consumed. */
static void on_connected(sio_csocket_t *s, char *id, const char *pid) {
  free(s->id);
  s->id = id;
  s->recovered = pid && s->pid && strcmp(pid, s->pid) == 0;
  free(s->pid);
  s->pid = pid ? strdup(pid) : NULL;
  s->connected = 1;
  while (s->recvq && s->connected) {
    sio_crecv_t *r = s->recvq;
    s->recvq = r->next;
    if (!s->recvq) s->recvq_tail = NULL;
    emit_event(s, &r->p);
    sio_packet_clear(&r->p);
    free(r);
  }
  sendq_flush(s);
  if (s->connected && s->cbs.on_connect) s->cbs.on_connect(s);
}

static void on_connect_packet(sio_csocket_t *s, sio_packet_t *p) {
  if (s->connected) return;
  if (!s->active) {
    /* Disconnected while the server decided: leave, or it keeps the socket. (Not the "0" a v2
     * server sends every connection for "/": that one nobody asked for.) */
    if (s->m->o.eio != 3 || strcmp(s->nsp, "/") != 0) send_simple(s, SIO_PACKET_DISCONNECT, NULL);
    return;
  }
  if (s->m->o.eio == 3) {
    char *id = v3_id(s);
    if (id) on_connected(s, id, NULL);
    return;
  }
  const cJSON *sid = cJSON_GetObjectItemCaseSensitive(p->data, "sid");
  const cJSON *pid = cJSON_GetObjectItemCaseSensitive(p->data, "pid");
  if (!cJSON_IsString(sid)) {
    if (s->cbs.on_connect_error)
      s->cbs.on_connect_error(s, "It seems you are trying to reach a Socket.IO server in v2.x with "
                                 "a v3.x client, but they are not compatible (more information "
                                 "here: https://socket.io/docs/v3/migrating-from-2-x-to-3-0/)",
                              NULL);
    return;
  }
  char *id = strdup(sid->valuestring);
  if (id) on_connected(s, id, cJSON_IsString(pid) ? pid->valuestring : NULL);
}

static void on_connect_error_packet(sio_csocket_t *s, sio_packet_t *p) {
  const char *message = "";
  const cJSON *data = NULL;
  if (cJSON_IsString(p->data)) { /* v2 servers send the bare message... */
    message = p->data->valuestring;
  } else if (s->m->o.eio == 3) { /* ...or the bare data */
    const cJSON *msg = cJSON_GetObjectItemCaseSensitive(p->data, "message");
    message = cJSON_IsString(msg) ? msg->valuestring : "";
    data = p->data;
  } else {
    const cJSON *msg = cJSON_GetObjectItemCaseSensitive(p->data, "message");
    if (cJSON_IsString(msg)) message = msg->valuestring;
    data = cJSON_GetObjectItemCaseSensitive(p->data, "data");
  }
  /* socket.io-client's destroy() first: the manager closes when no socket is left. */
  s->active = 0;
  sio__manager_maybe_close(s->m);
  if (s->cbs.on_connect_error) s->cbs.on_connect_error(s, message, data);
}

static void close_socket(sio_csocket_t *s, const char *reason) {
  if (!s->connected) return;
  s->connected = 0;
  free(s->id);
  s->id = NULL;
  if (s->cbs.on_disconnect) s->cbs.on_disconnect(s, reason);
  acks_fail(s, 0);
}

void sio__csocket_on_packet(sio_csocket_t *s, sio_packet_t *p) {
  switch (p->type) {
    case SIO_PACKET_CONNECT:
      on_connect_packet(s, p);
      break;
    case SIO_PACKET_CONNECT_ERROR:
      if (s->active && !s->connected) on_connect_error_packet(s, p);
      break;
    case SIO_PACKET_DISCONNECT:
      if (!s->connected) break;
      s->active = 0; /* no reconnection for this one */
      sio__manager_maybe_close(s->m);
      close_socket(s, "io server disconnect");
      break;
    case SIO_PACKET_EVENT:
    case SIO_PACKET_BINARY_EVENT:
      if (s->connected) emit_event(s, p);
      else if (s->active) recvq_push(s, p);
      break;
    case SIO_PACKET_ACK:
    case SIO_PACKET_BINARY_ACK:
      if (s->connected) on_ack_packet(s, p);
      break;
    default:
      break;
  }
}

/* ---------------------------------------------------------------------------------------------- */
/* Connecting                                                                                      */

/* encodeURIComponent's unreserved set. */
static int append_uri(sio_sbuf_t *b, const char *s) {
  static const char hex[] = "0123456789ABCDEF";
  int r = 0;
  for (; *s && !r; s++) {
    unsigned char c = (unsigned char)*s;
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
        strchr("-_.!~*'()", c))
      r = sio_sbuf_append_char(b, (char)c);
    else {
      char e[3] = {'%', hex[c >> 4], hex[c & 15]};
      r = sio_sbuf_append(b, e, 3);
    }
  }
  return r;
}

/* socket.io-client 2.x's namespace CONNECT: "/nsp?k=v&..." (the auth as its query). */
static int v3_connect(sio_csocket_t *s) {
  sio_sbuf_t b = SIO_SBUF_INIT;
  int r = sio_sbuf_append_str(&b, s->nsp);
  char sep = '?';
  for (const cJSON *c = s->auth ? s->auth->child : NULL; c && !r; c = c->next) {
    char *v = cJSON_IsString(c) ? NULL : cJSON_PrintUnformatted(c);
    if (!(r = sio_sbuf_append_char(&b, sep)) && !(r = append_uri(&b, c->string)) &&
        !(r = sio_sbuf_append_char(&b, '=')))
      r = append_uri(&b, cJSON_IsString(c) ? c->valuestring : v ? v : "");
    free(v);
    sep = '&';
  }
  if (!r) r = sio_sbuf_append_char(&b, '\0');
  if (!r) {
    sio_packet_t p = {SIO_PACKET_CONNECT, b.data, -1, NULL, 0, NULL, 0};
    sio_eioc_part_t part;
    size_t n;
    if (!(r = encode(s->m, &p, NULL, &part, &n))) r = sio__manager_send(s->m, &part, n);
  }
  sio_sbuf_free(&b);
  return r;
}

/* The CONNECT payload: the auth, with the recovery fields first when the server gave a pid. */
static int v5_connect(sio_csocket_t *s) {
  if (!s->pid) return send_simple(s, SIO_PACKET_CONNECT, s->auth);
  cJSON *d = cJSON_CreateObject();
  int r = SIO_ENOMEM;
  if (d && cJSON_AddStringToObject(d, "pid", s->pid) &&
      (!s->offset || cJSON_AddStringToObject(d, "offset", s->offset))) {
    r = 0;
    for (cJSON *c = s->auth ? s->auth->child : NULL; c && !r; c = c->next) {
      cJSON_DeleteItemFromObjectCaseSensitive(d, c->string); /* the auth's own wins, as assign() */
      if (!cJSON_AddItemReferenceToObject(d, c->string, c)) r = SIO_ENOMEM;
    }
  }
  if (!r) r = send_simple(s, SIO_PACKET_CONNECT, d);
  cJSON_Delete(d);
  return r;
}

void sio__csocket_on_open(sio_csocket_t *s) {
  sio_manager_t *m = s->m;
  if (m->o.eio != 3) {
    v5_connect(s);
  } else if (strcmp(s->nsp, "/") != 0) {
    v3_connect(s);
  } else if (m->root_granted > 0) { /* the server's "0" came already */
    char *id = v3_id(s);
    if (id) on_connected(s, id, NULL);
  } else if (m->root_granted < 0) { /* left "/" on this connection: ask again */
    m->root_granted = 0;
    send_simple(s, SIO_PACKET_CONNECT, NULL);
  } /* else socket.io 2.x servers put every connection in "/": its "0" comes by itself */
}

void sio__csocket_on_lost(sio_csocket_t *s, const char *reason) {
  recvq_clear(s);
  /* Lost between the Engine.IO OPEN and the CONNECT answer: nothing else would tell it (with
   * reconnection off it would wait for ever); socket.io-client emits its disconnect here. */
  if (s->active && !s->connected && s->cbs.on_connect_error) s->cbs.on_connect_error(s, reason, NULL);
  close_socket(s, reason);
}

void sio__csocket_on_error(sio_csocket_t *s, const char *message) {
  if (s->active && !s->connected && s->cbs.on_connect_error) s->cbs.on_connect_error(s, message, NULL);
}

void sio__csocket_shutdown(sio_csocket_t *s) {
  if (s->connected) send_simple(s, SIO_PACKET_DISCONNECT, NULL);
  s->active = 0;
  close_socket(s, "io client disconnect");
  acks_fail(s, 1);
  sendq_clear(s);
  recvq_clear(s);
  if (s->ack_timer) uv_timer_stop(s->ack_timer);
  s->timer_due = 0;
}

void sio__csocket_free(sio_csocket_t *s) {
  acks_fail(s, 1); /* none left after shutdown; kept for safety */
  sendq_clear(s);
  recvq_clear(s);
  free(s->nsp);
  cJSON_Delete(s->auth);
  free(s->id);
  free(s->pid);
  free(s->offset);
  free(s->ack_timer); /* closed by the manager before this */
  free(s);
}

/* ---------------------------------------------------------------------------------------------- */
/* The API                                                                                         */

static int auth_copy(const cJSON *auth, cJSON **out) {
  *out = NULL;
  if (!auth) return 0;
  if (!cJSON_IsObject(auth)) return sio__fail(SIO_EINVAL, "auth must be a JSON object");
  return (*out = cJSON_Duplicate(auth, 1)) ? 0 : SIO_ENOMEM;
}

int sio_csocket_new(sio_manager_t *m, const char *nsp, const cJSON *auth,
                    const sio_csocket_callbacks_t *cbs, sio_csocket_t **out) {
  sio__error_clear();
  if (!m || !out) return SIO_EINVAL;
  if (m->closing) return SIO_ECLOSED;
  if (!nsp) nsp = "/";
  if (nsp[0] != '/' || strpbrk(nsp, ",?#"))
    return sio__fail(SIO_EINVAL, "a namespace starts with '/' and holds no ',', '?' or '#'");
  for (sio_csocket_t *o = m->sockets; o; o = o->next)
    if (strcmp(o->nsp, nsp) == 0) return sio__fail(SIO_EEXIST, "a socket for %s exists", nsp);
  sio_csocket_t *s = calloc(1, sizeof *s);
  if (!s) return SIO_ENOMEM;
  int r = auth_copy(auth, &s->auth);
  if (r || !(s->nsp = strdup(nsp))) {
    cJSON_Delete(s->auth);
    free(s);
    return r ? r : SIO_ENOMEM;
  }
  s->m = m;
  if (cbs) s->cbs = *cbs;
  if (m->sockets_tail) m->sockets_tail->next = s;
  else m->sockets = s;
  m->sockets_tail = s;
  *out = s;
  return 0;
}

int sio_csocket_set_auth(sio_csocket_t *s, const cJSON *auth) {
  sio__error_clear();
  cJSON *a;
  int r = auth_copy(auth, &a);
  if (r) return r;
  cJSON_Delete(s->auth);
  s->auth = a;
  return 0;
}

int sio_csocket_connect(sio_csocket_t *s) {
  sio__error_clear();
  sio_manager_t *m = s->m;
  if (m->closing) return SIO_ECLOSED;
  if (s->connected) return 0;
  int was_active = s->active;
  s->active = 1;
  int r = sio__manager_open(m);
  if (r) return r;
  if (!was_active && m->eioc && m->open) sio__csocket_on_open(s);
  return 0;
}

void sio_csocket_disconnect(sio_csocket_t *s) {
  sio_manager_t *m = s->m;
  if (m->closing) return;
  if (s->connected) {
    send_simple(s, SIO_PACKET_DISCONNECT, NULL);
    if (m->o.eio == 3 && strcmp(s->nsp, "/") == 0) m->root_granted = -1;
  }
  s->active = 0;
  sio__manager_maybe_close(m);
  close_socket(s, "io client disconnect");
}

/* The payload array [event, ...args] (or [...args] for an ack) over the caller's own items,
 * without allocating or copying: two nodes on the caller's stack, the name put in front of the
 * arguments. Read-only: the encoders only walk child and next (the caller's tree is not
 * touched; its items' prev links are not followed). */
static cJSON *payload(cJSON *array, cJSON *name, const char *event, const sio_args_t *args) {
  memset(array, 0, sizeof *array);
  array->type = cJSON_Array;
  array->child = args && args->json ? args->json->child : NULL;
  if (name) {
    memset(name, 0, sizeof *name);
    name->type = cJSON_String;
    name->valuestring = (char *)event;
    name->next = array->child;
    array->child = name;
  }
  return array;
}

/* One emit: encoded once, then sent, or kept while not connected. */
static int emit(sio_csocket_t *s, const char *event, const sio_args_t *args, int flags,
                sio_cack_t *ack) {
  int r = sio__check_emit(event, args);
  if (r) return r;
  sio_manager_t *m = s->m;
  if (m->closing) return SIO_ECLOSED;
  if (ack && ack->deadline && (r = ack_timer_ready(s))) return r;
  int live = s->connected && m->eioc && m->open;
  /* Behind packets still waiting (the connection's queue was full when they were flushed), an
   * emit waits too: order is kept. */
  if (live && s->sendq) {
    sendq_flush(s);
    if (s->sendq) live = 0;
  }
  if ((flags & SIO_EMIT_VOLATILE) && (!live || !sio_eioc_writable(m->eioc))) {
    if (ack) { /* dropped: the answer never comes, the timeout (or the disconnection) says so */
      ack->id = s->next_id++;
      ack->sent = 1;
      ack_link(s, ack);
      if (ack->deadline) timer_arm(s, ack->deadline);
    }
    return 0;
  }
  size_t nbufs = args ? args->nbufs : 0;
  sio_packet_t p = {nbufs ? SIO_PACKET_BINARY_EVENT : SIO_PACKET_EVENT, s->nsp, -1, NULL, nbufs,
                    NULL, 0};
  cJSON name, array;
  p.data = payload(&array, &name, event, args);
  if (ack) p.id = ack->id = s->next_id++;
  sio_eioc_part_t stack[8], *parts = nbufs < 8 ? stack : malloc((nbufs + 1) * sizeof *parts);
  size_t n = 0;
  r = parts ? encode(m, &p, args ? args->bufs : NULL, parts, &n) : SIO_ENOMEM;
  if (!r) r = live ? sio__manager_send(m, parts, n) : sendq_push(s, parts, n, p.id);
  if (parts != stack) free(parts);
  if (r) return r;
  if (ack) {
    ack->sent = live;
    ack_link(s, ack);
    if (ack->deadline) timer_arm(s, ack->deadline);
  }
  return 0;
}

int sio_csocket_emit(sio_csocket_t *s, const char *event, const sio_args_t *args, int flags) {
  if (!s) return SIO_EINVAL;
  return emit(s, event, args, flags, NULL);
}

int sio_csocket_emit_ack(sio_csocket_t *s, const char *event, const sio_args_t *args, int flags,
                         uint32_t timeout_ms, sio_csocket_ack_cb cb, void *arg) {
  sio__error_clear();
  if (!s || !cb) return SIO_EINVAL;
  sio_cack_t *a = calloc(1, sizeof *a);
  if (!a) return SIO_ENOMEM;
  a->cb = cb;
  a->arg = arg;
  if (timeout_ms) a->deadline = uv_now(s->m->loop) + timeout_ms;
  int r = emit(s, event, args, flags, a);
  if (r) free(a);
  return r;
}

int sio_csocket_ack(sio_csocket_t *s, int64_t ack_id, const sio_args_t *args) {
  sio__error_clear();
  if (!s || ack_id < 0) return SIO_EINVAL;
  if (args && ((args->json && !cJSON_IsArray(args->json)) ||
               args->nbufs > SIO_PACKET_MAX_ATTACHMENTS || (args->nbufs && !args->bufs)))
    return SIO_EINVAL;
  sio_manager_t *m = s->m;
  if (!s->connected || !m->eioc || !m->open) return SIO_ECLOSED;
  size_t nbufs = args ? args->nbufs : 0;
  sio_packet_t p = {nbufs ? SIO_PACKET_BINARY_ACK : SIO_PACKET_ACK, s->nsp, ack_id, NULL, nbufs,
                    NULL, 0};
  cJSON array;
  p.data = payload(&array, NULL, NULL, args);
  sio_eioc_part_t stack[8], *parts = nbufs < 8 ? stack : malloc((nbufs + 1) * sizeof *parts);
  size_t n = 0;
  int r = parts ? encode(m, &p, args ? args->bufs : NULL, parts, &n) : SIO_ENOMEM;
  if (!r) r = sio__manager_send(m, parts, n);
  if (parts != stack) free(parts);
  return r;
}

sio_manager_t *sio_csocket_manager(const sio_csocket_t *s) { return s->m; }
const char *sio_csocket_nsp(const sio_csocket_t *s) { return s->nsp; }
const char *sio_csocket_id(const sio_csocket_t *s) { return s->connected ? s->id : NULL; }
int sio_csocket_connected(const sio_csocket_t *s) { return s->connected; }
int sio_csocket_recovered(const sio_csocket_t *s) { return s->recovered; }
size_t sio_csocket_buffered(const sio_csocket_t *s) { return s->sendq_count; }
void *sio_csocket_get_data(const sio_csocket_t *s) { return s->data; }
void sio_csocket_set_data(sio_csocket_t *s, void *data) { s->data = data; }
