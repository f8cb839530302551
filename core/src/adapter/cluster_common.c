/* Helpers shared by cluster.c and sac.c (see cluster_common.h). */
#ifdef SIO_HAVE_REDIS

#include "adapter/cluster_common.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "transport/log.h"

int sio__cc_add_item(cJSON *obj, const char *key, cJSON *item) {
  if (item && cJSON_AddItemToObject(obj, key, item)) return 0;
  cJSON_Delete(item);
  return -1;
}

cJSON *sio__cc_string_array(const char *const *v, size_t n) {
  cJSON *a = cJSON_CreateArray();
  for (size_t i = 0; a && i < n; i++) {
    cJSON *e = cJSON_CreateString(v[i]);
    if (!cJSON_AddItemToArray(a, e)) { /* false for e == NULL too */
      cJSON_Delete(e);
      cJSON_Delete(a);
      a = NULL;
    }
  }
  return a;
}

void sio__strs_free(sio_strs_t *s) {
  for (size_t i = 0; i < s->n; i++) free(s->v[i]);
  free(s->v);
  s->v = NULL;
  s->n = 0;
}

int sio__strs_from_msgpack(const msgpack_object *o, sio_strs_t *out) {
  memset(out, 0, sizeof *out);
  if (!o || o->type != MSGPACK_OBJECT_ARRAY) return 0;
  out->v = calloc(o->via.array.size ? o->via.array.size : 1, sizeof *out->v);
  if (!out->v) return SIO_ENOMEM;
  for (uint32_t i = 0; i < o->via.array.size; i++) {
    const msgpack_object *e = &o->via.array.ptr[i];
    if (e->type != MSGPACK_OBJECT_STR) continue;
    char *s = malloc(e->via.str.size + 1);
    if (!s) {
      sio__strs_free(out);
      return SIO_ENOMEM;
    }
    memcpy(s, e->via.str.ptr, e->via.str.size);
    s[e->via.str.size] = '\0';
    out->v[out->n++] = s;
  }
  return 0;
}

int sio__strs_from_json(const cJSON *a, sio_strs_t *out) {
  memset(out, 0, sizeof *out);
  if (!cJSON_IsArray(a)) return 0;
  int n = cJSON_GetArraySize(a);
  out->v = calloc(n > 0 ? (size_t)n : 1, sizeof *out->v);
  if (!out->v) return SIO_ENOMEM;
  for (const cJSON *c = a->child; c; c = c->next) {
    if (!cJSON_IsString(c)) continue;
    if (!(out->v[out->n] = strdup(c->valuestring))) {
      sio__strs_free(out);
      return SIO_ENOMEM;
    }
    out->n++;
  }
  return 0;
}

sio_target_t sio__cc_local_target(const sio_strs_t *rooms, const sio_strs_t *except, int flags) {
  sio_target_t to = {(const char *const *)rooms->v, rooms->n, (const char *const *)except->v,
                     except->n, flags | SIO_EMIT_LOCAL};
  return to;
}

/* This node's targeted sockets, each as `one` makes it: an array that stays whole or is dropped. */
typedef struct {
  cJSON *arr;
  cJSON *(*one)(sio_socket_t *s);
} sockets_t;

static int add_socket(sio_socket_t *s, void *arg) {
  sockets_t *ss = arg;
  cJSON *j = ss->one(s);
  if (cJSON_AddItemToArray(ss->arr, j)) return 0;
  cJSON_Delete(j);
  cJSON_Delete(ss->arr);
  ss->arr = NULL;
  return 1;
}

cJSON *sio__cc_local_sockets(sio_adapter_t *local, const sio_target_t *to,
                             cJSON *(*one)(sio_socket_t *)) {
  sockets_t ss = {cJSON_CreateArray(), one};
  if (ss.arr && local->vt->apply(local, to, add_socket, &ss) < 0) {
    cJSON_Delete(ss.arr);
    ss.arr = NULL;
  }
  return ss.arr;
}

cJSON *sio__cc_args_after_event(const cJSON *data) {
  cJSON *rest = cJSON_CreateArray();
  for (cJSON *c = data->child->next; rest && c; c = c->next)
    if (!cJSON_AddItemReferenceToArray(rest, c)) {
      cJSON_Delete(rest);
      rest = NULL;
    }
  return rest;
}

/* ---- the shared vtable part ---- */

static sio_adapter_t *local_of(sio_adapter_t *a) { return ((sio_cc_adapter_t *)a)->local; }

int sio__cc_add(sio_adapter_t *a, sio_socket_t *s, const char *room) {
  return local_of(a)->vt->add(local_of(a), s, room);
}

int sio__cc_del(sio_adapter_t *a, sio_socket_t *s, const char *room) {
  return local_of(a)->vt->del(local_of(a), s, room);
}

void sio__cc_del_all(sio_adapter_t *a, sio_socket_t *s) { local_of(a)->vt->del_all(local_of(a), s); }

int sio__cc_apply(sio_adapter_t *a, const sio_target_t *to, sio_socket_iter_cb fn, void *arg) {
  return local_of(a)->vt->apply(local_of(a), to, fn, arg);
}

void sio__cc_rooms(sio_adapter_t *a, void (*cb)(const char *room, void *arg), void *arg) {
  local_of(a)->vt->rooms(local_of(a), cb, arg);
}

/* The local part r, then the other nodes' unless local: as a broadcast, done here whatever
 * becomes of theirs (Redis may be down); but a request that could not be made (nothing was
 * published) is the caller's to know. */
static int selection(sio_adapter_t *a, int r, const sio_target_t *to, int op, const char *room,
                     int close) {
  if (r || (to && (to->flags & SIO_EMIT_LOCAL))) return r;
  sio_cc_adapter_t *cc = (sio_cc_adapter_t *)a;
  int e = cc->cls->publish_selection(cc, to, cc->cls->selection_types[op], room, close);
  return e == SIO_ENOMEM ? e : 0;
}

int sio__cc_add_sockets(sio_adapter_t *a, const sio_target_t *to, const char *room) {
  int r = local_of(a)->vt->add_sockets(local_of(a), to, room);
  return selection(a, r, to, SIO_CC_JOIN, room, 0);
}

int sio__cc_del_sockets(sio_adapter_t *a, const sio_target_t *to, const char *room) {
  int r = local_of(a)->vt->del_sockets(local_of(a), to, room);
  return selection(a, r, to, SIO_CC_LEAVE, room, 0);
}

int sio__cc_disconnect_sockets(sio_adapter_t *a, const sio_target_t *to, int close) {
  int r = local_of(a)->vt->disconnect_sockets(local_of(a), to, close);
  return selection(a, r, to, SIO_CC_DISCONNECT, NULL, close);
}

void sio__cc_init(sio_cc_adapter_t *cc, const sio_adapter_vt_t *vt, const sio_cc_class_t *cls,
                  sio_nsp_t *nsp, sio_adapter_t *local, uint32_t timeout_ms) {
  sio_server_t *server = sio_engine_server(sio_io_engine(sio_nsp_io(nsp)));
  cc->base.vt = vt;
  cc->base.nsp = nsp;
  cc->local = local;
  cc->cls = cls;
  cc->reqs = (sio_cc_requests_t){.loop = sio_server_loop(server), .server = server, .nsp = nsp,
                                 .timeout_ms = timeout_ms, .publish = cls->publish_request,
                                 .free_message = cls->free_message, .owner = cc};
}

static void free_handle(uv_handle_t *h) { free(h); }

/* ---- requests ---- */

void sio__cc_request_end(sio_cc_request_t *q, int status) {
  sio_cc_requests_t *l = q->list;
  SIO_DEBUG(l->server, SIO_DEBUG_ADAPTER, "nsp %s: request %s (type %d) ended: %s, %zu of %zu answers",
            sio_nsp_name(l->nsp), q->id, q->type, status ? sio_strerror(status) : "ok", q->received,
            q->expected);
  if (q->prev) q->prev->next = q->next;
  else l->head = q->next;
  if (q->next) q->next->prev = q->prev;
  uv_close((uv_handle_t *)q->timer, free_handle);
  sio_request_t *r = q->r;
  if (q->message) l->free_message(q->message);
  free(q);
  sio__request_done(r, status);
}

static void on_request_timer(uv_timer_t *t) {
  sio_cc_request_t *q = t->data;
  /* Asked: the answers did not all come in time (all of them would have ended it). Else the timer
   * only defers the transport's reason out of the call. */
  sio__cc_request_end(q, q->asked ? SIO_ETIMEDOUT : q->status);
}

int sio__cc_request_add(sio_cc_requests_t *l, const char *id, int type, void *message,
                        sio_request_t *r, int count_status) {
  sio_cc_request_t *q = message ? calloc(1, sizeof *q) : NULL;
  if (q && !(q->timer = malloc(sizeof *q->timer))) {
    free(q);
    q = NULL;
  }
  if (!q) {
    if (message) l->free_message(message);
    return SIO_ENOMEM;
  }
  snprintf(q->id, sizeof q->id, "%s", id);
  q->list = l;
  q->r = r;
  q->type = (uint8_t)type;
  q->message = message;
  uv_timer_init(l->loop, q->timer);
  q->timer->data = q;
  q->next = l->head;
  if (l->head) l->head->prev = q;
  l->head = q;
  q->status = count_status;
  q->asked = count_status == 0;
  SIO_DEBUG(l->server, SIO_DEBUG_ADAPTER, "nsp %s: request %s (type %d) started%s",
            sio_nsp_name(l->nsp), q->id, type, q->asked ? "" : " (no other node reachable)");
  uv_timer_start(q->timer, on_request_timer, q->asked ? l->timeout_ms : 0, 0);
  return 0;
}

sio_cc_request_t *sio__cc_request_find(sio_cc_requests_t *l, const char *id) {
  for (sio_cc_request_t *q = l->head; q; q = q->next)
    if (strcmp(q->id, id) == 0) return q;
  return NULL;
}

/* The server count for request q came: n nodes, or the reason (n < 0). */
static void request_counted(sio_cc_request_t *q, long long n) {
  sio_cc_requests_t *l = q->list;
  if (n < 0) {
    sio__cc_request_end(q, (int)n);
  } else if (n <= 1) {
    sio__cc_request_end(q, 0); /* nobody else listens */
  } else {
    q->expected = (size_t)(n - 1);
    int e = l->publish(l->owner, q->type, q->message);
    l->free_message(q->message);
    q->message = NULL;
    if (e) sio__cc_request_end(q, e);
    else q->published = 1;
  }
}

void sio__cc_server_count(sio_cc_requests_t *l, const char *id, long long n) {
  sio_cc_request_t *q = sio__cc_request_find(l, id);
  if (q) {
    if (q->asked && !q->published) request_counted(q, n);
    return;
  }
  sio_cc_ack_t *k = sio__cc_ack_find(l, id);
  if (k && n > 0) sio__bcast_nodes(k->b, (size_t)(n - 1));
}

/* The largest clientCount taken from another node: no node has 2^32 sockets, and a bigger double
 * (another node's 1e300) cast to a size_t is undefined behaviour. */
#define MAX_CLIENT_COUNT 4294967295.0

void sio__cc_client_count(sio_cc_requests_t *l, const char *id, const cJSON *n) {
  sio_cc_ack_t *k = sio__cc_ack_find(l, id);
  if (!k) return;
  size_t count = 0;
  if (cJSON_IsNumber(n) && n->valuedouble > 0)
    count = n->valuedouble < MAX_CLIENT_COUNT ? (size_t)n->valuedouble : (size_t)MAX_CLIENT_COUNT;
  sio__bcast_client_count(k->b, count);
}

void sio__cc_request_answered(sio_cc_request_t *q, const cJSON *answer) {
  int e = sio__request_answer(q->r, answer);
  /* What came so far, with SIO_ENOMEM, rather than a part passed off as the whole. */
  if (e) sio__cc_request_end(q, e);
  else if (++q->received >= q->expected) sio__cc_request_end(q, 0);
}

void sio__cc_requests_down(sio_cc_requests_t *l, int status) {
  /* End them now with what came rather than at their timeout. A callback may end others (closing
   * the server): start over each time. */
  for (sio_cc_request_t *q = l->head; q;) {
    if (q->asked) {
      sio__cc_request_end(q, status);
      q = l->head;
    } else {
      q = q->next;
    }
  }
}

void sio__cc_requests_close(sio_cc_requests_t *l) {
  while (l->head) sio__cc_request_end(l->head, SIO_ECLOSED);
}

void sio__cc_requests_free(sio_cc_requests_t *l) {
  /* The server closed first, which ended every request and broadcast: nothing is left to report
   * to. Whatever is (a namespace freed without a close) goes without a word. */
  while (l->head) {
    sio_cc_request_t *q = l->head;
    l->head = q->next;
    uv_close((uv_handle_t *)q->timer, free_handle);
    if (q->message) l->free_message(q->message);
    free(q);
  }
  while (l->acks) {
    sio_cc_ack_t *k = l->acks;
    l->acks = k->next;
    free(k);
  }
}

/* ---- broadcasts with acks ---- */

sio_cc_ack_t *sio__cc_ack_new(sio_bcast_ack_t *b, const char *id) {
  sio_cc_ack_t *k = calloc(1, sizeof *k);
  if (k) {
    k->b = b;
    snprintf(k->id, sizeof k->id, "%s", id);
  }
  return k;
}

int sio__cc_ack_started(sio_cc_requests_t *l, sio_cc_ack_t *k, int e) {
  if (e) {
    free(k);
    return 0;
  }
  k->next = l->acks;
  l->acks = k;
  return 1;
}

sio_cc_ack_t *sio__cc_ack_find(sio_cc_requests_t *l, const char *id) {
  for (sio_cc_ack_t *k = l->acks; k; k = k->next)
    if (strcmp(k->id, id) == 0) return k;
  return NULL;
}

void sio__cc_broadcast_ack_end(sio_adapter_t *a, sio_bcast_ack_t *b) {
  sio__cc_ack_end(&((sio_cc_adapter_t *)a)->reqs, b);
}

void sio__cc_ack_end(sio_cc_requests_t *l, sio_bcast_ack_t *b) {
  for (sio_cc_ack_t **p = &l->acks; *p; p = &(*p)->next)
    if ((*p)->b == b) {
      sio_cc_ack_t *k = *p;
      *p = k->next;
      free(k);
      return;
    }
}

#endif /* SIO_HAVE_REDIS */
