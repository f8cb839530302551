/* Broadcasts with acks (Node's io.timeout(t).emit(..., cb)): the namespace's adapter writes the
 * packet to its targeted sockets through sio__bcast_write, each recipient's answer counts here,
 * and a cluster adapter reports what the other nodes asked and answered. Done when every node
 * reported and every answer came, or at the timeout. */
#include <stdlib.h>
#include <string.h>

#include "fail.h"
#include "socketio/socketio.h"

/* No timeout: wait for every answer; in practice 2^31-1 ms, the longest timer a Node node of the
 * cluster (which is sent the timeout) can set. */
#define LONGEST_TIMEOUT_MS 0x7fffffffu

struct sio_bcast_ack {
  sio_nsp_t *nsp;
  sio_bcast_ack_t *next, *prev; /* the io's pending broadcasts with acks */
  int64_t id;                   /* the packet's ack id */
  /* The application's callback, with the answers collected; or, for another node's broadcast,
   * each answer relayed as it comes and on_end once. */
  sio_broadcast_ack_cb cb;
  void (*on_answer)(void *arg, const cJSON *answer, const sio_buf_t *bufs, size_t nbufs);
  void (*on_end)(void *arg);
  void *arg;
  uv_timer_t *timer;
  sio_pending_ack_t *waiting; /* this node's recipients yet to answer */
  size_t expected, received;
  cJSON *responses;
  sio_buf_t *bufs; /* owned copies */
  size_t nbufs;
  /* Across a cluster: the other nodes report how many of their sockets were asked (adding to
   * expected), then relay answers. */
  uint8_t remote;      /* the adapter asked other nodes: it reports until told the end */
  uint8_t nodes_known; /* how many other nodes report is known */
  size_t nodes_expected, nodes_reported;
};

static void free_timer(uv_handle_t *h) { free(h); }

static void waiting_unlink(sio_bcast_ack_t *b, sio_pending_ack_t *a) {
  if (a->bprev) a->bprev->bnext = a->bnext;
  else b->waiting = a->bnext;
  if (a->bnext) a->bnext->bprev = a->bprev;
}

/* Unlinks b from the io and forgets every answer still awaited (their sockets forget them too). */
static void bcast_detach(sio_bcast_ack_t *b) {
  sio_io_t *io = b->nsp->io;
  if (b->prev) b->prev->next = b->next;
  else io->bcasts = b->next;
  if (b->next) b->next->prev = b->prev;
  uv_close((uv_handle_t *)b->timer, free_timer);
  while (b->waiting) {
    sio_pending_ack_t *a = b->waiting;
    b->waiting = a->bnext;
    sio_socket_t *s = a->socket;
    if (a->prev) a->prev->next = a->next;
    else s->acks = a->next;
    if (a->next) a->next->prev = a->prev;
    free(a);
  }
}

static void bcast_free(sio_bcast_ack_t *b) {
  cJSON_Delete(b->responses);
  for (size_t i = 0; i < b->nbufs; i++) free((void *)b->bufs[i].data);
  free(b->bufs);
  free(b);
}

void sio__bcast_finish(sio_bcast_ack_t *b, int status) {
  sio_io_t *io = b->nsp->io;
  sio__io_enter(io);
  bcast_detach(b);
  if (b->remote) b->nsp->adapter->vt->broadcast_ack_end(b->nsp->adapter, b);
  if (b->cb) {
    sio_args_t res = {b->responses, b->bufs, b->nbufs};
    b->cb(b->nsp, status, &res, b->arg);
  } else {
    b->on_end(b->arg);
  }
  bcast_free(b);
  sio__io_leave(io);
}

static int bcast_complete(const sio_bcast_ack_t *b) {
  return b->received >= b->expected &&
         (!b->remote || (b->nodes_known && b->nodes_reported >= b->nodes_expected));
}

static void bcast_check(sio_bcast_ack_t *b) {
  if (bcast_complete(b)) sio__bcast_finish(b, 0);
}

static void on_bcast_timeout(uv_timer_t *t) {
  sio_bcast_ack_t *b = t->data;
  for (const sio_pending_ack_t *a = b->waiting; a; a = a->bnext) b->nsp->io->st.acks_timed_out++;
  sio__bcast_finish(b, bcast_complete(b) ? 0 : SIO_ETIMEDOUT);
}

/* ---- answers ---- */

static void shift_placeholders(cJSON *item, size_t offset, int depth) {
  if (depth > SIO_PACKET_MAX_DEPTH) return;
  size_t num;
  if (sio_packet_is_placeholder(item, &num)) {
    cJSON_SetNumberValue(cJSON_GetObjectItemCaseSensitive(item, "num"), (double)(num + offset));
    return;
  }
  if (cJSON_IsArray(item) || cJSON_IsObject(item))
    for (cJSON *c = item->child; c; c = c->next) shift_placeholders(c, offset, depth + 1);
}

/* Keeps a copy of one answer (its attachments appended to the broadcast's). */
static void collect_answer(sio_bcast_ack_t *b, const cJSON *answer, const sio_buf_t *bufs,
                           size_t nbufs) {
  cJSON *copy = answer ? cJSON_Duplicate(answer, 1) : cJSON_CreateNull();
  if (copy && nbufs) {
    sio_buf_t *nb = realloc(b->bufs, (b->nbufs + nbufs) * sizeof *nb);
    if (nb) {
      b->bufs = nb;
      shift_placeholders(copy, b->nbufs, 1);
      for (size_t i = 0; i < nbufs; i++) {
        char *d = malloc(bufs[i].len ? bufs[i].len : 1);
        if (d) memcpy(d, bufs[i].data, bufs[i].len);
        b->bufs[b->nbufs].data = d;
        b->bufs[b->nbufs].len = d ? bufs[i].len : 0;
        b->nbufs++;
      }
    }
  }
  if (copy) cJSON_AddItemToArray(b->responses, copy);
}

void sio__bcast_answer(sio_bcast_ack_t *b, const cJSON *answer, const sio_buf_t *bufs,
                       size_t nbufs) {
  b->received++;
  if (b->on_answer) b->on_answer(b->arg, answer, bufs, nbufs);
  else collect_answer(b, answer, bufs, nbufs);
  bcast_check(b);
}

void sio__bcast_ack_answer(sio_pending_ack_t *a, const sio_args_t *args) {
  sio_bcast_ack_t *b = a->bcast;
  b->nsp->io->st.acks_answered++;
  waiting_unlink(b, a);
  free(a);
  sio__bcast_answer(b, args->json ? args->json->child : NULL, args->bufs, args->nbufs);
}

void sio__bcast_ack_drop(sio_pending_ack_t *a) {
  waiting_unlink(a->bcast, a);
  free(a);
}

void sio__bcast_nodes(sio_bcast_ack_t *b, size_t n) {
  b->nodes_known = 1;
  b->nodes_expected = n;
  bcast_check(b);
}

void sio__bcast_client_count(sio_bcast_ack_t *b, size_t n) {
  b->expected += n;
  b->nodes_reported++;
  bcast_check(b);
}

/* ---- sending ---- */

int sio__bcast_write(sio_bcast_ack_t *b, sio_socket_t *s, const sio_encoded_t *enc, int flags) {
  if (s->state != SOCK_CONNECTED || !s->client) return SIO_ECLOSED;
  sio_pending_ack_t *a = calloc(1, sizeof *a);
  if (!a) return SIO_ENOMEM;
  a->socket = s;
  a->id = b->id;
  a->bcast = b;
  a->next = s->acks;
  if (s->acks) s->acks->prev = a;
  s->acks = a;
  a->bnext = b->waiting;
  if (b->waiting) b->waiting->bprev = a;
  b->waiting = a;
  b->expected++;
  s->nsp->io->st.acks_sent++;
  /* Registered first: a write that closes the session drops the ack again. */
  sio__socket_write(s, enc, flags);
  return 0;
}

static sio_bcast_ack_t *bcast_new(sio_nsp_t *nsp) {
  sio_bcast_ack_t *b = calloc(1, sizeof *b);
  if (!b) return NULL;
  b->nsp = nsp;
  b->responses = cJSON_CreateArray();
  b->timer = malloc(sizeof *b->timer);
  if (!b->responses || !b->timer) {
    cJSON_Delete(b->responses);
    free(b->timer);
    free(b);
    return NULL;
  }
  return b;
}

/* Sends event and args to the targeted sockets through the adapter, which may ask the other
 * nodes too (not with SIO_EMIT_LOCAL), then waits for their answers, always reported from the
 * loop. Inside the io; b is consumed: on error it is freed without a callback. */
static int bcast_start(sio_bcast_ack_t *b, const sio_target_t *to, const char *event,
                       const sio_args_t *args, uint32_t timeout_ms) {
  sio_nsp_t *nsp = b->nsp;
  sio_io_t *io = nsp->io;
  sio_packet_t p;
  sio_encoded_t enc;
  int r = sio__event_packet(nsp, event, args, &p);
  if (!r) {
    p.id = b->id = (int64_t)(nsp->ack_ids++ & INT64_MAX);
    r = sio__encode(&p, args ? args->bufs : NULL, io->opts.parser, &enc);
    if (r) cJSON_Delete(p.data);
  }
  if (r) {
    free(b->timer);
    bcast_free(b);
    return r;
  }
  uv_timer_init(sio_server_loop(io->server), b->timer);
  b->timer->data = b;
  b->next = io->bcasts;
  if (io->bcasts) io->bcasts->prev = b;
  io->bcasts = b;
  sio__nsp_notify_outgoing(nsp, to, event, args);
  sio_bcast_packet_t bp = {&p, args ? args->bufs : NULL, &enc};
  r = nsp->adapter->vt->broadcast_with_ack(nsp->adapter, to, &bp, timeout_ms, b);
  cJSON_Delete(p.data);
  sio__encoded_clear(&enc);
  if (r < 0) { /* nothing was sent */
    bcast_detach(b);
    bcast_free(b);
    return r;
  }
  b->remote = r > 0;
  /* Never answered from inside the call, also when nobody was targeted. */
  uv_timer_start(b->timer, on_bcast_timeout, b->expected || b->remote ? timeout_ms : 0, 0);
  return 0;
}

int sio_nsp_emit_ack(sio_nsp_t *nsp, const sio_target_t *to, const char *event,
                     const sio_args_t *args, uint32_t timeout_ms, sio_broadcast_ack_cb cb,
                     void *arg) {
  sio__error_clear();
  if (!nsp || !cb || nsp->is_parent) return SIO_EINVAL;
  if (timeout_ms == 0 || timeout_ms > LONGEST_TIMEOUT_MS) timeout_ms = LONGEST_TIMEOUT_MS;
  int r = sio__check_emit(event, args);
  if (r) return r;
  sio_bcast_ack_t *b = bcast_new(nsp);
  if (!b) return SIO_ENOMEM;
  b->cb = cb;
  b->arg = arg;
  nsp->io->st.broadcasts++;
  sio__io_enter(nsp->io);
  r = bcast_start(b, to, event, args, timeout_ms);
  sio__io_leave(nsp->io);
  return r;
}

int sio__nsp_emit_ack_relay(sio_nsp_t *nsp, const sio_target_t *to, const char *event,
                            const sio_args_t *args, uint32_t timeout_ms,
                            void (*on_answer)(void *arg, const cJSON *answer,
                                              const sio_buf_t *bufs, size_t nbufs),
                            void (*on_end)(void *arg), void *arg, size_t *count) {
  int r = sio__check_emit(event, args);
  if (r) return r;
  sio_bcast_ack_t *b = bcast_new(nsp);
  if (!b) return SIO_ENOMEM;
  b->on_answer = on_answer;
  b->on_end = on_end;
  b->arg = arg;
  sio_target_t local = {NULL, 0, NULL, 0, 0};
  if (to) local = *to;
  local.flags |= SIO_EMIT_LOCAL; /* what another node asked is never published again */
  sio__io_enter(nsp->io);
  r = bcast_start(b, &local, event, args, timeout_ms);
  if (!r) *count = b->expected; /* b lives on: its timer is started */
  sio__io_leave(nsp->io);
  return r;
}
