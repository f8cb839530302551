/* Helpers shared by cluster.c and sac.c (see cluster_common.h). */
#ifdef SIO_HAVE_REDIS

#include "adapter/cluster_common.h"

#include <stdlib.h>
#include <string.h>

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

void sio__cc_free_handle(uv_handle_t *h) { free(h); }

#endif /* SIO_HAVE_REDIS */
