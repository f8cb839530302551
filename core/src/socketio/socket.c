/* Sockets: one client in one namespace. Middleware, connect, events and acks, rooms, emit,
 * disconnect. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fail.h"
#include "engine/engine.h"
#include "socketio/recovery.h"
#include "socketio/socketio.h"
#include "url.h"

_Static_assert(sizeof(sio_buf_t) == sizeof(sio_attachment_t) &&
                   offsetof(sio_buf_t, data) == offsetof(sio_attachment_t, data) &&
                   offsetof(sio_buf_t, len) == offsetof(sio_attachment_t, len),
               "decoded attachments are handed out as sio_buf_t");

static void free_timer(uv_handle_t *h) { free(h); }

/* The pid of every socket of a namespace without recovery (never written: only recovery writes a
 * pid, and a recovering namespace's sockets have a tail). */
static char no_pid[1];

static sio_socket_tail_t *sock_tail(const sio_socket_t *s) {
  return s->has_tail ? (sio_socket_tail_t *)(void *)((char *)s + sizeof *s) : NULL;
}
static char *sock_pid(const sio_socket_t *s) { return s->has_tail ? sock_tail(s)->pid : no_pid; }
static sio_recovered_t *sock_restored(const sio_socket_t *s) {
  return s->has_tail ? sock_tail(s)->restored : NULL;
}
/* Only where recovery runs, so with a tail. */
static void set_restored(sio_socket_t *s, sio_recovered_t *r) { sock_tail(s)->restored = r; }

sio_socket_t *sio__socket_new(sio_nsp_t *nsp, sio_client_t *c, cJSON *auth, int sent) {
  int recovers = sio__nsp_recovers(nsp);
  sio_socket_t *s = calloc(1, sizeof *s + (recovers ? sizeof(sio_socket_tail_t) : 0));
  if (!s) {
    cJSON_Delete(auth);
    return NULL;
  }
  s->has_tail = recovers != 0;
  s->nsp = nsp;
  s->client = c;
  if (!auth->child) { /* the usual case ("40"): share one empty object instead of one each */
    cJSON_Delete(auth);
    auth = NULL;
  }
  s->auth = auth;
  s->auth_sent = sent != 0;
  s->id = s->idbuf;
  if (c->protocol == 3) {
    /* The reference's v2 ids: the Engine.IO id in "/", "/nsp#<engine id>" elsewhere. */
    const char *sid = sio_session_id(c->session);
    if (strcmp(nsp->name, "/") == 0) {
      memcpy(s->idbuf, sid, 21);
    } else {
      size_t nl = strlen(nsp->name), sl = strlen(sid);
      s->id = nl + sl + 2 <= sizeof s->idbuf ? s->idbuf : malloc(nl + sl + 2);
      if (!s->id) {
        cJSON_Delete(auth);
        free(s);
        return NULL;
      }
      memcpy(s->id, nsp->name, nl);
      s->id[nl] = '#';
      memcpy(s->id + nl + 1, sid, sl + 1);
    }
  } else {
    /* Not the Engine.IO id, which is what lets a client resume a session: it stays secret. */
    sio__engine_random_id(sio_io_engine(nsp->io), s->idbuf);
    /* Node gives every socket a pid when recovery is on; only its client can name it. */
    if (recovers) sio__engine_random_id(sio_io_engine(nsp->io), sock_pid(s));
  }
  s->cnext = c->sockets;
  c->sockets = s;
  return s;
}

static void restored_free(sio_socket_t *s) {
  sio_recovered_t *r = sock_restored(s);
  if (!r) return;
  sio__recovered_clear(r);
  free(r);
  set_restored(s, NULL);
}

void sio__socket_free(sio_socket_t *s) {
  restored_free(s);
  sio__socket_ext_free(s);
  cJSON_Delete(s->auth);
  if (s->id != s->idbuf) free(s->id);
  free(s->rooms);
  free(s);
}

static void client_unlink(sio_socket_t *s) {
  sio_client_t *c = s->client;
  if (!c) return;
  for (sio_socket_t **pp = &c->sockets; *pp; pp = &(*pp)->cnext)
    if (*pp == s) {
      *pp = s->cnext;
      break;
    }
  s->cnext = NULL;
}

/* ---------------------------------------------------------------------------------------------- */
/* Middleware and connect                                                                          */

/* Connection state recovery: the restored socket's rooms, and the packets it missed written
 * before the CONNECT reply, as Node's (the client holds them until the CONNECT, then emits them
 * in order before its "connect"). Only the data is kept after this. */
static void resume(sio_socket_t *s) {
  sio_recovered_t *r = sock_restored(s);
  for (size_t i = 0; i < r->nrooms; i++) sio_socket_join(s, r->rooms[i]);
  for (size_t i = 0; i < r->nmissed; i++) sio__socket_write(s, &r->missed[i], 0);
  for (size_t i = 0; i < r->nmissed; i++) sio__encoded_clear(&r->missed[i]);
  r->nmissed = 0;
  s->recovered = 1;
}

static void do_connect(sio_socket_t *s) {
  sio_nsp_t *nsp = s->nsp;
  sio_client_t *c = s->client;
  /* A restored id still connected (its client came back twice at once): a fresh socket. */
  if (sock_restored(s) && sio_map_get(&nsp->by_id, s->id)) {
    restored_free(s);
    sio__engine_random_id(sio_io_engine(nsp->io), s->idbuf);
    s->id = s->idbuf;
    sio__engine_random_id(sio_io_engine(nsp->io), sock_pid(s));
  }
  if (sio_map_put(&nsp->by_id, s->id, s)) {
    client_unlink(s);
    sio__socket_release(s);
    return;
  }
  s->state = SOCK_CONNECTED;
  s->nnext = nsp->head;
  if (nsp->head) nsp->head->nprev = s;
  nsp->head = s;
  nsp->count++;
  nsp->io->st.connections++;
  if (nsp->adapter->vt->socket_added) nsp->adapter->vt->socket_added(nsp->adapter, s);
  sio__client_connected(c);
  SIO_DEBUG(nsp->io->server, SIO_DEBUG_NSP, "socket %s connected to nsp %s (session %s%s)", s->id,
            nsp->name, sio_session_id(c->session), sock_restored(s) ? ", recovered" : "");
  if (sock_restored(s)) resume(s);
  sio_packet_t p = {SIO_PACKET_CONNECT, nsp->name, -1, NULL, 0, NULL, 0};
  if (c->protocol != 3) {
    p.data = cJSON_CreateObject();
    if (p.data) cJSON_AddStringToObject(p.data, "sid", s->id);
    if (p.data && sock_pid(s)[0]) cJSON_AddStringToObject(p.data, "pid", sock_pid(s));
  }
  sio__client_send_packet(c, &p, 0);
  cJSON_Delete(p.data);
  /* What the application sends next (often at once) must not share a read with the CONNECT reply:
   * some clients (Node's ws before 8.17, used by the official test suite) would drop it. */
  sio__session_hold(c->session, 2);
  if (nsp->io->instr) sio__instr_connected(s); /* first, as the admin-ui's prependListener */
  sio_connection_cb cb = sio__nsp_effective(nsp)->cbs.on_connection;
  if (cb) cb(nsp, s);
}

static void run_middleware(sio_socket_t *s) {
  sio_nsp_t *eff = sio__nsp_effective(s->nsp);
  if (s->mw_index < eff->nmw) {
    sio_mw_t *m = &eff->mw[s->mw_index++];
    s->in_middleware = 1;
    s->nsp->io->mw_count++;
    m->cb(s, m->arg);
    return;
  }
  do_connect(s);
}

void sio__socket_start(sio_socket_t *s) { run_middleware(s); }

void sio__socket_connect(sio_socket_t *s) { do_connect(s); }

int sio__socket_restore(sio_socket_t *s) {
  if (!s->has_tail) return SIO_ENOTFOUND; /* not a recovering namespace's socket */
  const cJSON *pid = cJSON_GetObjectItemCaseSensitive(s->auth, "pid");
  const cJSON *off = cJSON_GetObjectItemCaseSensitive(s->auth, "offset");
  /* As Node: both must be strings. */
  if (!cJSON_IsString(pid) || !cJSON_IsString(off)) return SIO_ENOTFOUND;
  sio_recovered_t *r = malloc(sizeof *r);
  if (!r) return SIO_ENOMEM;
  uint64_t now = uv_now(sio_server_loop(s->nsp->io->server));
  int rc = sio__recovery_restore(s->nsp->recovery, now, pid->valuestring, off->valuestring, r);
  if (rc == 0 && (strlen(r->sid) >= sizeof s->idbuf || strlen(r->pid) >= SIO_PID_SIZE)) {
    sio__recovered_clear(r); /* not one of ours */
    rc = SIO_ENOTFOUND;
  }
  if (rc) {
    free(r);
    return rc;
  }
  memcpy(s->idbuf, r->sid, strlen(r->sid) + 1);
  memcpy(sock_pid(s), r->pid, strlen(r->pid) + 1);
  set_restored(s, r);
  return 0;
}

/* The adapter's answer (sio__socket_restore_async). The socket was held meanwhile: its client may
 * have gone, or the server be shutting down (then the adapter answers SIO_ECLOSED), in any order.
 * r's content is taken, the struct is the adapter's. */
static void on_restored(void *arg, int status, sio_recovered_t *r) {
  sio_socket_t *s = arg;
  sio_io_t *io = s->nsp->io;
  sio__io_enter(io);
  s->restoring = 0;
  io->mw_count--;
  sio_recovered_t *mine = status == 0 && r ? malloc(sizeof *mine) : NULL;
  if (mine) {
    *mine = *r;
    memset(r, 0, sizeof *r);
    /* Another node's session with an id or pid longer than ours: not one sio can take on. */
    if (!mine->sid || !mine->pid || strlen(mine->sid) >= sizeof s->idbuf ||
        strlen(mine->pid) >= SIO_PID_SIZE) {
      sio__recovered_clear(mine);
      free(mine);
      mine = NULL;
    }
  } else if (r) {
    sio__recovered_clear(r);
  }
  if (!s->client || s->client->closed || io->shutting_down) {
    if (mine) sio__recovered_clear(mine);
    free(mine);
    client_unlink(s);
    sio__socket_release(s);
  } else if (mine) {
    memcpy(s->idbuf, mine->sid, strlen(mine->sid) + 1);
    s->id = s->idbuf;
    memcpy(sock_pid(s), mine->pid, strlen(mine->pid) + 1);
    set_restored(s, mine);
    if (io->opts.connection_state_recovery.skip_middlewares) do_connect(s);
    else run_middleware(s);
  } else {
    run_middleware(s); /* not found (or unusable): a fresh socket, its own id and pid */
  }
  sio__io_leave(io);
  sio__io_maybe_free(io);
}

int sio__socket_restore_async(sio_socket_t *s) {
  if (!s->has_tail) return SIO_ENOTFOUND;
  const cJSON *pid = cJSON_GetObjectItemCaseSensitive(s->auth, "pid");
  const cJSON *off = cJSON_GetObjectItemCaseSensitive(s->auth, "offset");
  if (!cJSON_IsString(pid) || !cJSON_IsString(off)) return SIO_ENOTFOUND;
  sio_adapter_t *a = s->nsp->adapter;
  sio_io_t *io = s->nsp->io;
  /* Held as a socket in a middleware is: an abandoned socket is not freed, nor the io. */
  s->restoring = 1;
  io->mw_count++;
  int r = a->vt->restore_session(a, pid->valuestring, off->valuestring, on_restored, s);
  if (r) {
    s->restoring = 0;
    io->mw_count--;
  }
  return r;
}

void sio__socket_abandon(sio_socket_t *s) {
  client_unlink(s);
  s->client = NULL;
  if (!s->in_middleware && !s->restoring) sio__socket_release(s);
}

void sio_socket_next(sio_socket_t *s) {
  if (!s || !s->in_middleware) return;
  sio_io_t *io = s->nsp->io;
  sio__io_enter(io);
  s->in_middleware = 0;
  io->mw_count--;
  if (!s->client || s->client->closed) {
    client_unlink(s);
    sio__socket_release(s);
  } else {
    run_middleware(s);
  }
  sio__io_leave(io);
  sio__io_maybe_free(io);
}

void sio_socket_refuse(sio_socket_t *s, const char *message, const cJSON *data) {
  if (!s || !s->in_middleware) return;
  sio_io_t *io = s->nsp->io;
  sio__io_enter(io);
  s->in_middleware = 0;
  io->mw_count--;
  sio_client_t *c = s->client;
  if (c && !c->closed) { /* (else the server may be gone already: nothing to log to) */
    SIO_DEBUG(io->server, SIO_DEBUG_NSP, "socket %s: connect to nsp %s refused by middleware: %.128s",
              s->id, s->nsp->name, message ? message : "");
    sio_packet_t p = {SIO_PACKET_CONNECT_ERROR, s->nsp->name, -1, NULL, 0, NULL, 0};
    if (c->protocol == 3) {
      /* v2 clients get the bare data, or the message. */
      p.data = data ? cJSON_Duplicate(data, 1) : cJSON_CreateString(message ? message : "");
    } else {
      p.data = cJSON_CreateObject();
      if (p.data) {
        cJSON_AddStringToObject(p.data, "message", message ? message : "");
        if (data) cJSON_AddItemToObject(p.data, "data", cJSON_Duplicate(data, 1));
      }
    }
    if (p.data) sio__client_send_packet(c, &p, 0);
    cJSON_Delete(p.data);
  }
  client_unlink(s);
  sio__socket_release(s);
  sio__io_leave(io);
  sio__io_maybe_free(io);
}

/* ---------------------------------------------------------------------------------------------- */
/* Acks                                                                                            */

static void ack_unlink(sio_socket_t *s, sio_pending_ack_t *a) {
  if (a->prev) a->prev->next = a->next;
  else s->acks = a->next;
  if (a->next) a->next->prev = a->prev;
  a->next = a->prev = NULL;
}

static void ack_free(sio_pending_ack_t *a) {
  if (a->timer) uv_close((uv_handle_t *)a->timer, free_timer);
  free(a);
}

static void on_ack_timeout(uv_timer_t *t) {
  sio_pending_ack_t *a = t->data;
  sio_socket_t *s = a->socket;
  sio_io_t *io = s->nsp->io;
  sio__io_enter(io);
  io->st.acks_timed_out++;
  ack_unlink(s, a);
  a->cb(s, SIO_ETIMEDOUT, NULL, a->arg);
  ack_free(a);
  sio__io_leave(io);
}

static void on_ack_packet(sio_socket_t *s, sio_packet_t *p) {
  sio_pending_ack_t *a = s->acks;
  while (a && a->id != p->id) a = a->next;
  if (!a) return; /* unknown or late: ignored, as the reference does */
  s->nsp->io->st.acks_answered++;
  ack_unlink(s, a);
  sio_args_t args = {p->data, (const sio_buf_t *)p->attachments, p->attachment_count};
  if (a->bcast) {
    sio__bcast_ack_answer(a, &args);
    return;
  }
  if (a->timer) uv_timer_stop(a->timer);
  a->cb(s, 0, &args, a->arg);
  ack_free(a);
}

static void fail_acks(sio_socket_t *s) {
  while (s->acks) {
    sio_pending_ack_t *a = s->acks;
    ack_unlink(s, a);
    if (a->bcast) {
      sio__bcast_ack_drop(a); /* the broadcast goes on without this answer */
      continue;
    }
    if (a->timer) uv_timer_stop(a->timer);
    a->cb(s, SIO_ECLOSED, NULL, a->arg);
    ack_free(a);
  }
}

/* ---------------------------------------------------------------------------------------------- */
/* Incoming packets                                                                                */

void sio__socket_onpacket(sio_socket_t *s, sio_packet_t *p) {
  switch (p->type) {
    case SIO_PACKET_EVENT:
    case SIO_PACKET_BINARY_EVENT: {
      cJSON *name = cJSON_DetachItemFromArray(p->data, 0); /* the decoder made it a string */
      sio_event_cb cb = sio__nsp_effective(s->nsp)->cbs.on_event;
      sio_args_t args = {p->data, (const sio_buf_t *)p->attachments, p->attachment_count};
      char num[32];
      const char *ev = name ? name->valuestring : NULL;
      if (cJSON_IsNumber(name)) { /* a number names an event as its decimal text, as in JS */
        snprintf(num, sizeof num, "%.17g", name->valuedouble);
        ev = num;
      }
      if (s->ext && ev) sio__socket_dispatch_ext(s, ev, p);
      else if (cb && ev) cb(s, ev, &args, p->id);
      cJSON_Delete(name);
      break;
    }
    case SIO_PACKET_ACK:
    case SIO_PACKET_BINARY_ACK:
      on_ack_packet(s, p);
      break;
    case SIO_PACKET_DISCONNECT:
      sio__socket_close(s, "client namespace disconnect", 0);
      break;
    default:
      break;
  }
}

/* ---------------------------------------------------------------------------------------------- */
/* Disconnect                                                                                      */

/* Node's RECOVERABLE_DISCONNECT_REASONS: not a namespace disconnect from either side, nor a
 * parse error. */
static int recoverable(const char *reason) {
  static const char *const ok[] = {"transport error", "transport close", "forced close",
                                   "ping timeout", "server shutting down", "forced server close"};
  for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
    if (strcmp(reason, ok[i]) == 0) return 1;
  return 0;
}

static cJSON *socket_data(sio_socket_t *s);

/* The session as Node's Session object, to the adapter that keeps sessions. */
static void persist_to_adapter(sio_socket_t *s, const char *const *rooms, size_t n) {
  sio_adapter_t *a = s->nsp->adapter;
  cJSON *data = socket_data(s);
  cJSON *o = cJSON_CreateObject(), *arr = cJSON_CreateArray();
  int ok = o && arr && data && cJSON_AddStringToObject(o, "sid", s->id) &&
           cJSON_AddStringToObject(o, "pid", sock_pid(s));
  for (size_t i = 0; ok && i < n; i++) ok = cJSON_AddItemToArray(arr, cJSON_CreateString(rooms[i]));
  if (ok && cJSON_AddItemToObject(o, "rooms", arr)) {
    arr = NULL;
    if (cJSON_AddItemToObject(o, "data", data)) {
      data = NULL;
      a->vt->persist_session(a, o); /* an error only means its client comes back fresh */
    }
  }
  cJSON_Delete(arr);
  cJSON_Delete(data);
  cJSON_Delete(o);
}

/* Node's persistSession: {sid, pid, rooms (its own id first), data}. A session that cannot be
 * kept (ENOMEM) only means its client comes back fresh. */
static void persist(sio_socket_t *s) {
  const char *stack[16], **rooms = stack;
  size_t n = 1 + s->nrooms;
  if (n > 16 && !(rooms = malloc(n * sizeof *rooms))) return;
  rooms[0] = s->id;
  for (uint32_t i = 0; i < s->nrooms; i++) rooms[i + 1] = s->rooms[i].room->name;
  sio_nsp_t *nsp = s->nsp;
  if (nsp->recovery) {
    uint64_t now = uv_now(sio_server_loop(nsp->io->server));
    sio__recovery_persist(nsp->recovery, now, s->id, sock_pid(s), rooms, n, socket_data(s));
  } else {
    persist_to_adapter(s, rooms, n);
  }
  if (rooms != stack) free(rooms);
}

void sio__socket_close(sio_socket_t *s, const char *reason, int send_disconnect) {
  if (s->state != SOCK_CONNECTED) return;
  sio_nsp_t *nsp = s->nsp;
  const sio_nsp_callbacks_t *cbs = &sio__nsp_effective(nsp)->cbs;
  sio__io_enter(nsp->io);
  SIO_DEBUG(nsp->io->server, SIO_DEBUG_NSP, "socket %s disconnected from nsp %s: %s", s->id,
            nsp->name, reason);
  s->state = SOCK_CLOSING;
  if (cbs->on_disconnecting) cbs->on_disconnecting(s, reason);
  /* (Node persists on shutdown too, into a store that goes with the process: nothing to keep. An
   * adapter's store outlives this node: the client may come back on another.) */
  if (sock_pid(s)[0] && recoverable(reason) &&
      ((nsp->recovery && !nsp->io->shutting_down) || sio__nsp_adapter_sessions(nsp)))
    persist(s);
  if (send_disconnect && s->client) {
    sio_packet_t p = {SIO_PACKET_DISCONNECT, nsp->name, -1, NULL, 0, NULL, 0};
    sio__client_send_packet(s->client, &p, 0);
  }
  nsp->adapter->vt->del_all(nsp->adapter, s);
  if (s->nprev) s->nprev->nnext = s->nnext;
  else nsp->head = s->nnext;
  if (s->nnext) s->nnext->nprev = s->nprev;
  s->nnext = s->nprev = NULL;
  sio_map_del(&nsp->by_id, s->id);
  nsp->count--;
  client_unlink(s);
  fail_acks(s);
  while (s->ack_handles) { /* the application may still hold them: they answer SIO_ECLOSED */
    sio_ack_t *h = s->ack_handles;
    s->ack_handles = h->next;
    h->socket = NULL;
    h->next = h->prev = NULL;
  }
  s->state = SOCK_CLOSED;
  sio__socket_ext_free(s);
  if (nsp->io->instr) sio__instr_disconnected(s, reason);
  if (cbs->on_disconnect) cbs->on_disconnect(s, reason);
  sio__socket_release(s);
  sio__io_leave(nsp->io);
}

void sio_socket_disconnect(sio_socket_t *s, int close) {
  if (!s || s->state != SOCK_CONNECTED) return;
  sio_io_t *io = s->nsp->io;
  sio__io_enter(io);
  sio_client_t *c = s->client;
  if (!close) {
    sio__socket_close(s, "server namespace disconnect", 1);
  } else {
    /* Every namespace of the connection, then the connection. */
    while (c->sockets) {
      sio_socket_t *o = c->sockets;
      if (o->state == SOCK_CONNECTED) sio__socket_close(o, "server namespace disconnect", 1);
      else sio__socket_abandon(o);
      if (c->sockets == o) c->sockets = o->cnext;
    }
    c->close_reason = SIO_CLOSE_FORCED;
    if (!c->closed) sio_session_close(c->session);
  }
  sio__io_leave(io);
}

/* ---------------------------------------------------------------------------------------------- */
/* Emitting                                                                                        */

/* A delivery someone watches (debug lines, the Admin UI), or with a per-recipient flag. */
static int socket_write_full(sio_socket_t *s, const sio_encoded_t *enc, int flags) {
  sio_client_t *c = s->client;
  if ((flags & SIO_EMIT_VOLATILE) && !sio_session_writable(c->session)) return 0;
  if (SIO_DEBUG_ON(c->io->server, SIO_DEBUG_SOCKET)) {
    char who[40];
    snprintf(who, sizeof who, "socket %s", s->id);
    sio__debug_packet_out(c->io->server, who, enc);
  }
  if (flags & SIO_EMIT_NO_COMPRESS) sio__encoded_no_compress(enc);
  int r = sio__session_send_msg(c->session, enc->text);
  for (size_t i = 0; r == 0 && i < enc->natts; i++) r = sio__session_send_msg(c->session, enc->atts[i]);
  if (c->io->instr) sio__instr_out(c->io, 1 + enc->natts);
  return r;
}

/* Once per recipient of every broadcast: with nothing watching and no per-recipient flag, one
 * branch (log.h's SIO__WATCH_DELIVERY bits and the flags in one test) and the engine's own fast path (sio__session_deliver). */
int sio__socket_write(sio_socket_t *s, const sio_encoded_t *enc, int flags) {
  sio_client_t *c = s->client;
  if (!c || c->closed || s->state != SOCK_CONNECTED) return SIO_ECLOSED;
  unsigned extras = ((unsigned)flags & (SIO_EMIT_VOLATILE | SIO_EMIT_NO_COMPRESS)) |
                    (sio__debug_mask(c->io->server) & SIO__WATCH_DELIVERY);
  if (__builtin_expect(extras != 0, 0)) return socket_write_full(s, enc, flags);
  int r = sio__session_deliver(c->session, enc->text);
  for (size_t i = 0; r == 0 && i < enc->natts; i++) r = sio__session_deliver(c->session, enc->atts[i]);
  return r;
}

static int socket_emit(sio_socket_t *s, const char *event, const sio_args_t *args, int flags,
                       sio_pending_ack_t *ack) {
  if (!s) return SIO_EINVAL;
  int r = sio__check_emit(event, args);
  if (r) return r;
  if (s->state != SOCK_CONNECTED || !s->client) return SIO_ECLOSED;
  sio_nsp_t *nsp = s->nsp;
  sio_packet_t p = {SIO_PACKET_EVENT, nsp->name, -1, NULL, 0, NULL, 0};
  p.attachment_count = args ? args->nbufs : 0;
  if (p.attachment_count) p.type = SIO_PACKET_BINARY_EVENT;
  p.data = sio__event_array(event, args ? args->json : NULL);
  if (!p.data) return SIO_ENOMEM;
  if (ack) p.id = ack->id = (int64_t)(nsp->ack_ids++ & INT64_MAX);
  /* Connection state recovery: as Node's, a single socket's event is kept (to its own id's room)
   * and carries its offset, unless volatile or awaiting an ack. */
  int keep = nsp->recovery && !ack && !(flags & SIO_EMIT_VOLATILE);
  int shared = !ack && !(flags & SIO_EMIT_VOLATILE) && sio__nsp_adapter_sessions(nsp);
  if (keep && (r = sio__add_offset(nsp, &p)) != 0) {
    cJSON_Delete(p.data);
    return r;
  }
  sio__io_enter(nsp->io);
  sio_outgoing_cb out = sio__nsp_effective(nsp)->cbs.on_outgoing;
  if (out) out(s, event, args);
  if (s->ext) sio__socket_notify_out(s, event, args);
  sio_encoded_t enc;
  r = sio__encode(&p, args ? args->bufs : NULL, nsp->io->opts.parser, &enc);
  if (!r && keep)
    sio__recovery_keep(nsp->recovery, uv_now(sio_server_loop(nsp->io->server)), NULL, s->id, &enc);
  if (!r && shared) {
    /* As Node's socket.emit with recovery: a broadcast to the socket's own room, which the
     * adapter records (its offset given to this socket) for whichever node the client comes back
     * to. */
    const char *own[1] = {s->id};
    sio_target_t to = {own, 1, NULL, 0, flags & ~SIO_EMIT_LOCAL};
    sio_bcast_packet_t bp = {&p, args ? args->bufs : NULL, &enc};
    r = nsp->adapter->vt->broadcast(nsp->adapter, &to, &bp);
    sio__encoded_clear(&enc);
  } else if (!r) {
    if (ack) { /* registered before the write: a failing write reports through the ack */
      ack->socket = s;
      ack->next = s->acks;
      if (s->acks) s->acks->prev = ack;
      s->acks = ack;
    }
    sio__socket_write(s, &enc, flags);
    sio__encoded_clear(&enc);
  }
  cJSON_Delete(p.data);
  sio__io_leave(nsp->io);
  return r;
}

int sio_socket_emit(sio_socket_t *s, const char *event, const sio_args_t *args, int flags) {
  sio__error_clear();
  return socket_emit(s, event, args, flags, NULL);
}

int sio_socket_emit_ack(sio_socket_t *s, const char *event, const sio_args_t *args, int flags,
                        uint32_t timeout_ms, sio_ack_cb cb, void *arg) {
  sio__error_clear();
  if (!s || !cb) return SIO_EINVAL;
  if (s->state != SOCK_CONNECTED || !s->client) return SIO_ECLOSED;
  sio_pending_ack_t *a = calloc(1, sizeof *a);
  if (!a) return SIO_ENOMEM;
  a->cb = cb;
  a->arg = arg;
  if (timeout_ms) {
    a->timer = malloc(sizeof *a->timer);
    if (!a->timer) {
      free(a);
      return SIO_ENOMEM;
    }
    uv_timer_init(sio_server_loop(s->nsp->io->server), a->timer);
    a->timer->data = a;
  }
  /* Armed first: once written, the ack may already be settled (and freed) when the write closes
   * the session. */
  if (a->timer) uv_timer_start(a->timer, on_ack_timeout, timeout_ms, 0);
  int r = socket_emit(s, event, args, flags, a);
  if (r) ack_free(a); /* never registered */
  else s->nsp->io->st.acks_sent++;
  return r;
}

int sio_socket_ack(sio_socket_t *s, int64_t ack_id, const sio_args_t *args) {
  sio__error_clear();
  if (!s || ack_id < 0) return SIO_EINVAL;
  if (args && ((args->json && !cJSON_IsArray(args->json)) ||
               args->nbufs > SIO_PACKET_MAX_ATTACHMENTS || (args->nbufs && !args->bufs)))
    return SIO_EINVAL;
  if (s->state != SOCK_CONNECTED || !s->client) return SIO_ECLOSED;
  sio_packet_t p = {SIO_PACKET_ACK, s->nsp->name, ack_id, NULL, 0, NULL, 0};
  p.attachment_count = args ? args->nbufs : 0;
  if (p.attachment_count) p.type = SIO_PACKET_BINARY_ACK;
  p.data = sio__event_array(NULL, args ? args->json : NULL);
  if (!p.data) return SIO_ENOMEM;
  sio__io_enter(s->nsp->io);
  sio_encoded_t enc;
  int r = sio__encode(&p, args ? args->bufs : NULL, s->nsp->io->opts.parser, &enc);
  if (!r) {
    r = sio__socket_write(s, &enc, 0);
    sio__encoded_clear(&enc);
  }
  if (!r) s->nsp->io->st.acks_replied++;
  cJSON_Delete(p.data);
  sio__io_leave(s->nsp->io);
  return r;
}

/* ---------------------------------------------------------------------------------------------- */
/* Rooms and accessors                                                                             */

int sio_socket_join(sio_socket_t *s, const char *room) {
  sio__error_clear();
  if (!s || !room) return SIO_EINVAL;
  if (s->state != SOCK_CONNECTED) return SIO_ECLOSED;
  if (strcmp(room, s->id) == 0) return 0;
  sio_adapter_t *a = s->nsp->adapter;
  return a->vt->add(a, s, room);
}

int sio_socket_leave(sio_socket_t *s, const char *room) {
  sio__error_clear();
  if (!s || !room) return SIO_EINVAL;
  if (s->state != SOCK_CONNECTED) return SIO_ECLOSED;
  if (strcmp(room, s->id) == 0) return 0; /* the own-id room lasts as long as the socket */
  sio_adapter_t *a = s->nsp->adapter;
  return a->vt->del(a, s, room);
}

const char *sio_socket_room(const sio_socket_t *s, size_t i) {
  if (s->state != SOCK_CONNECTED && s->state != SOCK_CLOSING) return NULL;
  if (i == 0) return s->id;
  return i - 1 < s->nrooms ? s->rooms[i - 1].room->name : NULL;
}

size_t sio_socket_room_count(const sio_socket_t *s) {
  if (s->state != SOCK_CONNECTED && s->state != SOCK_CLOSING) return 0;
  return 1 + s->nrooms;
}

const char *sio_socket_id(const sio_socket_t *s) { return s->id; }
sio_nsp_t *sio_socket_nsp(const sio_socket_t *s) { return s->nsp; }
sio_session_t *sio_socket_session(const sio_socket_t *s) {
  return s->client ? s->client->session : NULL;
}
static const cJSON empty_auth = {.type = cJSON_Object};
const cJSON *sio_socket_auth(const sio_socket_t *s) { return s->auth ? s->auth : &empty_auth; }
int sio_socket_auth_sent(const sio_socket_t *s) { return s->auth_sent; }
/* Already in the middleware, as Node's socket.recovered (set when the socket is made). */
int sio_socket_recovered(const sio_socket_t *s) { return s && (s->recovered || sock_restored(s)); }
const cJSON *sio_socket_recovered_data(const sio_socket_t *s) {
  return s && sock_restored(s) ? sock_restored(s)->data : NULL;
}
const char *sio_socket_pid(const sio_socket_t *s) {
  return s && sock_pid(s)[0] ? sock_pid(s) : NULL;
}
int sio_socket_connected(const sio_socket_t *s) { return s->state == SOCK_CONNECTED; }
void *sio_socket_get_data(const sio_socket_t *s) { return s->data; }
void sio_socket_set_data(sio_socket_t *s, void *data) { s->data = data; }

/* ---------------------------------------------------------------------------------------------- */
/* Describing a socket (fetchSockets)                                                              */

static cJSON *add_time_string(cJSON *o, uint64_t ms) {
  /* JavaScript's Date#toString() as a Node process in UTC writes it. */
  time_t t = (time_t)(ms / 1000);
  struct tm tm;
  char buf[96];
  gmtime_r(&t, &tm);
  strftime(buf, sizeof buf, "%a %b %d %Y %H:%M:%S GMT+0000 (Coordinated Universal Time)", &tm);
  return cJSON_AddStringToObject(o, "time", buf);
}

/* Percent-decodes s[0..n) into a new string ('+' is a space, as querystring does). The engine
 * refused a handshake whose query decodes to a NUL, so none is cut short here. */
static char *url_decode(const char *s, size_t n) {
  char *o = malloc(n + 1);
  if (o) o[sio_url_decode(s, n, o)] = '\0';
  return o;
}

static cJSON *query_json(const char *q) {
  cJSON *o = cJSON_CreateObject();
  while (o && q && *q) {
    size_t n = strcspn(q, "&");
    const char *eq = memchr(q, '=', n);
    size_t kl = eq ? (size_t)(eq - q) : n;
    char *k = url_decode(q, kl);
    char *v = eq ? url_decode(eq + 1, n - kl - 1) : strdup("");
    if (k && v && kl) {
      cJSON_DeleteItemFromObjectCaseSensitive(o, k); /* the last one wins */
      cJSON_AddStringToObject(o, k, v);
    }
    free(k);
    free(v);
    q += n;
    if (*q == '&') q++;
  }
  return o;
}

cJSON *sio_socket_handshake(const sio_socket_t *s) {
  sio_session_t *sess = s ? sio_socket_session(s) : NULL;
  const sio_request_info_t *req = sess ? sio_session_request(sess) : NULL;
  cJSON *hs = cJSON_CreateObject(), *h = cJSON_AddObjectToObject(hs, "headers");
  int ok = req && h;
  for (size_t i = 0; ok && i < req->header_count; i++)
    if (!cJSON_GetObjectItemCaseSensitive(h, req->header_names[i]))
      ok = cJSON_AddStringToObject(h, req->header_names[i], req->header_values[i]) != NULL;
  ok = ok && add_time_string(hs, req->time_ms) &&
       cJSON_AddStringToObject(hs, "address", req->remote_addr ? req->remote_addr : "") &&
       cJSON_AddBoolToObject(hs, "xdomain", sio_request_header(req, "origin") != NULL) &&
       cJSON_AddBoolToObject(hs, "secure", req->secure) &&
       cJSON_AddNumberToObject(hs, "issued", (double)req->time_ms) &&
       cJSON_AddStringToObject(hs, "url", req->url ? req->url : "");
  cJSON *query = ok ? query_json(req->query) : NULL;
  ok = query && cJSON_AddItemToObject(hs, "query", query);
  if (!ok) cJSON_Delete(query);
  cJSON *auth = ok ? cJSON_Duplicate(sio_socket_auth(s), 1) : NULL;
  ok = auth && cJSON_AddItemToObject(hs, "auth", auth);
  if (!ok) {
    cJSON_Delete(auth);
    cJSON_Delete(hs);
    return NULL;
  }
  return hs;
}

static int json_depth_ok(const cJSON *item, int depth) {
  if (!cJSON_IsArray(item) && !cJSON_IsObject(item)) return 1;
  if (depth > SIO_MAX_DEPTH) return 0;
  for (const cJSON *c = item->child; c; c = c->next)
    if (!json_depth_ok(c, depth + 1)) return 0;
  return 1;
}

/* Node's socket.data: the io's data callback's value (sio_io_on_socket_data), else {}. */
static cJSON *socket_data(sio_socket_t *s) {
  sio_io_t *io = s->nsp->io;
  cJSON *data = io->socket_data ? io->socket_data(s, io->socket_data_arg) : NULL;
  if (data && !json_depth_ok(data, 1)) {
    cJSON_Delete(data);
    data = NULL;
  }
  return data ? data : cJSON_CreateObject();
}

/* One socket as Node's fetchSockets response carries it; NULL when a part could not be made (a
 * socket described without its rooms would be another socket). */
cJSON *sio__socket_describe(sio_socket_t *s) {
  cJSON *o = cJSON_CreateObject();
  cJSON *hs = sio_socket_handshake(s);
  int ok = o && hs && cJSON_AddStringToObject(o, "id", sio_socket_id(s)) &&
           cJSON_AddItemToObject(o, "handshake", hs);
  if (!ok) cJSON_Delete(hs);
  cJSON *rooms = ok ? cJSON_AddArrayToObject(o, "rooms") : NULL;
  ok = rooms != NULL;
  for (size_t i = 0; ok && i < sio_socket_room_count(s); i++) {
    cJSON *r = cJSON_CreateString(sio_socket_room(s, i));
    ok = cJSON_AddItemToArray(rooms, r);
    if (!ok) cJSON_Delete(r);
  }
  cJSON *data = ok ? socket_data(s) : NULL;
  /* Instrumented: what the Admin UI shows of a socket of another node (the admin-ui keeps it in
   * socket.data._admin, which Node's fetchSockets carries). */
  if (data && s->nsp->io->instr && cJSON_IsObject(data)) sio__instr_describe(s, data);
  ok = data && cJSON_AddItemToObject(o, "data", data);
  if (!ok) cJSON_Delete(data);
  if (!ok) {
    cJSON_Delete(o);
    return NULL;
  }
  return o;
}

/* ---------------------------------------------------------------------------------------------- */
/* Ack handles                                                                                     */

sio_ack_t *sio_socket_ack_handle(sio_socket_t *s, int64_t ack_id) {
  if (!s || ack_id < 0) return NULL;
  sio_ack_t *h = calloc(1, sizeof *h);
  if (!h) return NULL;
  h->id = ack_id;
  if (s->state == SOCK_CLOSED) return h; /* already cut loose: answers SIO_ECLOSED */
  h->socket = s;
  h->next = s->ack_handles;
  if (h->next) h->next->prev = h;
  s->ack_handles = h;
  return h;
}

static void ack_handle_unlink(sio_ack_t *h) {
  if (!h->socket) return;
  if (h->prev) h->prev->next = h->next;
  else h->socket->ack_handles = h->next;
  if (h->next) h->next->prev = h->prev;
  h->socket = NULL;
  h->next = h->prev = NULL;
}

int sio_ack_send(sio_ack_t *h, const sio_args_t *args) {
  sio__error_clear();
  if (!h) return SIO_EINVAL;
  if (h->done) return SIO_EALREADY;
  if (!h->socket) return SIO_ECLOSED;
  int r = sio_socket_ack(h->socket, h->id, args);
  if (r == 0 || r == SIO_ECLOSED) {
    h->done = r == 0;
    ack_handle_unlink(h); /* answered: the socket need not know it any more */
  }
  return r;
}

int sio_ack_done(const sio_ack_t *h) { return !h || h->done || !h->socket; }

void sio_ack_free(sio_ack_t *h) {
  if (!h) return;
  ack_handle_unlink(h);
  free(h);
}
