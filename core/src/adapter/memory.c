/* The in-memory adapter: rooms as dense member arrays with back-indices (join and leave cost O(1) in
 * the room's size: a leave swaps the last member in),
 * a broadcast visits only its target rooms, and excluded rooms are handled by stamping their
 * members rather than copying any set. It is the Socket.IO layer's own room store: it reads the
 * socket and namespace structs directly (a socket keeps the rooms it is in), the one adapter that
 * does. */
#include <stdlib.h>
#include <string.h>

#include "adapter/adapter.h"
#include "map.h"
#include "socketio/socketio.h"

typedef struct mem_adapter {
  sio_adapter_t base;
  sio_map_t rooms;
  uint64_t epoch; /* stamps of one selection: 2*epoch excluded, 2*epoch+1 taken */
} mem_adapter_t;

static int grow(void **arr, uint32_t *cap, size_t elem) {
  uint32_t ncap = *cap ? *cap * 2 : 4;
  void *n = realloc(*arr, (size_t)ncap * elem);
  if (!n) return SIO_ENOMEM;
  *arr = n;
  *cap = ncap;
  return 0;
}

static int mem_add(sio_adapter_t *a, sio_socket_t *s, const char *name) {
  mem_adapter_t *m = (mem_adapter_t *)a;
  sio_room_t *room = sio_map_get(&m->rooms, name);
  if (room) {
    for (uint32_t i = 0; i < s->nrooms; i++)
      if (s->rooms[i].room == room) return 0;
  } else {
    size_t n = strlen(name);
    room = calloc(1, sizeof *room + n + 1);
    if (!room) return SIO_ENOMEM;
    memcpy(room->name, name, n + 1);
    if (sio_map_put(&m->rooms, room->name, room)) {
      free(room);
      return SIO_ENOMEM;
    }
  }
  if ((room->len == room->cap && grow((void **)&room->members, &room->cap, sizeof *room->members)) ||
      (s->nrooms == s->caprooms && grow((void **)&s->rooms, &s->caprooms, sizeof *s->rooms))) {
    if (room->len == 0) {
      sio_map_del(&m->rooms, room->name);
      free(room->members);
      free(room);
    }
    return SIO_ENOMEM;
  }
  room->members[room->len] = (sio_room_member_t){s, s->nrooms};
  s->rooms[s->nrooms] = (sio_socket_room_t){room, room->len};
  room->len++;
  s->nrooms++;
  if (s->nsp->io->instr) sio__instr_room(s, room->name, 1);
  return 0;
}

/* Drops membership i of s, fixing the back-indices of the entries that move. */
static void remove_membership(mem_adapter_t *m, sio_socket_t *s, uint32_t i) {
  sio_room_t *room = s->rooms[i].room;
  uint32_t j = s->rooms[i].slot;
  if (s->nsp->io->instr) sio__instr_room(s, room->name, 0);
  room->len--;
  if (j != room->len) {
    room->members[j] = room->members[room->len];
    sio_room_member_t *moved = &room->members[j];
    moved->socket->rooms[moved->slot].slot = j;
  }
  /* The socket's own list keeps join order (sio_socket_room promises it): shift, it is short. */
  s->nrooms--;
  for (uint32_t k = i; k < s->nrooms; k++) {
    s->rooms[k] = s->rooms[k + 1];
    s->rooms[k].room->members[s->rooms[k].slot].slot = k;
  }
  if (room->len == 0) {
    sio_map_del(&m->rooms, room->name);
    free(room->members);
    free(room);
  }
}

static int mem_del(sio_adapter_t *a, sio_socket_t *s, const char *name) {
  mem_adapter_t *m = (mem_adapter_t *)a;
  sio_room_t *room = sio_map_get(&m->rooms, name);
  if (!room) return 0;
  for (uint32_t i = 0; i < s->nrooms; i++)
    if (s->rooms[i].room == room) {
      remove_membership(m, s, i);
      break;
    }
  return 0;
}

static void mem_del_all(sio_adapter_t *a, sio_socket_t *s) {
  mem_adapter_t *m = (mem_adapter_t *)a;
  while (s->nrooms) remove_membership(m, s, s->nrooms - 1);
  free(s->rooms);
  s->rooms = NULL;
  s->caprooms = 0;
}

static int mem_select(sio_adapter_t *a, const sio_target_t *to, sio_socket_t ***out) {
  mem_adapter_t *m = (mem_adapter_t *)a;
  sio_nsp_t *nsp = a->nsp;
  uint64_t excluded = 2 * ++m->epoch, taken = excluded + 1;
  size_t nrooms = to ? to->nrooms : 0, nexcept = to ? to->nexcept : 0;
  for (size_t i = 0; i < nexcept; i++) {
    sio_room_t *room = sio_map_get(&m->rooms, to->except[i]);
    if (room)
      for (uint32_t k = 0; k < room->len; k++) room->members[k].socket->mark = excluded;
    sio_socket_t *s = sio_map_get(&nsp->by_id, to->except[i]); /* the own-id room */
    if (s) s->mark = excluded;
  }
  size_t bound = 0;
  if (nrooms == 0) bound = nsp->count;
  for (size_t i = 0; i < nrooms; i++) {
    sio_room_t *room = sio_map_get(&m->rooms, to->rooms[i]);
    bound += (room ? room->len : 0) + 1;
  }
  sio_socket_t **v = malloc((bound ? bound : 1) * sizeof *v);
  if (!v) return SIO_ENOMEM;
  size_t n = 0;
#define TAKE(sock)                                                    \
  do {                                                                \
    sio_socket_t *s_ = (sock);                                        \
    if (s_->mark < excluded && s_->state == SOCK_CONNECTED) {         \
      s_->mark = taken;                                               \
      v[n++] = s_;                                                    \
    }                                                                 \
  } while (0)
  if (nrooms == 0) {
    for (sio_socket_t *s = nsp->head; s; s = s->nnext) TAKE(s);
  } else {
    for (size_t i = 0; i < nrooms; i++) {
      sio_room_t *room = sio_map_get(&m->rooms, to->rooms[i]);
      if (room)
        for (uint32_t k = 0; k < room->len; k++) TAKE(room->members[k].socket);
      sio_socket_t *s = sio_map_get(&nsp->by_id, to->rooms[i]);
      if (s) TAKE(s);
    }
  }
#undef TAKE
  *out = v;
  return (int)n;
}

/* Holds the io itself: a socket fn closes stays readable until the io is left, whoever calls. */
static int mem_apply(sio_adapter_t *a, const sio_target_t *to, sio_socket_iter_cb fn, void *arg) {
  sio_socket_t **v;
  int n = mem_select(a, to, &v);
  if (n < 0) return n;
  int visited = 0;
  sio__io_enter(a->nsp->io);
  for (int i = 0; i < n; i++) {
    if (v[i]->state != SOCK_CONNECTED) continue; /* closed by fn meanwhile */
    visited++;
    if (fn(v[i], arg)) break;
  }
  sio__io_leave(a->nsp->io);
  free(v);
  return visited;
}

static void mem_rooms(sio_adapter_t *a, void (*cb)(const char *room, void *arg), void *arg) {
  mem_adapter_t *m = (mem_adapter_t *)a;
  for (size_t i = 0; i < m->rooms.cap; i++)
    if (m->rooms.slots[i].key) cb(m->rooms.slots[i].key, arg);
  const sio_map_t *ids = &a->nsp->by_id;
  for (size_t i = 0; i < ids->cap; i++)
    if (ids->slots[i].key) cb(ids->slots[i].key, arg);
}

static int mem_broadcast(sio_adapter_t *a, const sio_target_t *to, const sio_bcast_packet_t *bp) {
  sio_socket_t **v;
  int n = mem_select(a, to, &v);
  if (n < 0) return n;
  int flags = to ? to->flags : 0;
  /* A write may close a session (its queue overflowed), closing sockets further on in v: they stay
   * allocated until the io is left, and the write skips them. */
  for (int i = 0; i < n; i++) sio__socket_write(v[i], bp->enc, flags);
  free(v);
  return 0;
}

static int mem_broadcast_with_ack(sio_adapter_t *a, const sio_target_t *to,
                                  const sio_bcast_packet_t *bp, uint32_t timeout_ms,
                                  sio_bcast_ack_t *b) {
  sio_socket_t **v;
  int n = mem_select(a, to, &v);
  if (n < 0) return n;
  int flags = to ? to->flags : 0;
  for (int i = 0; i < n; i++) sio__bcast_write(b, v[i], bp->enc, flags);
  free(v);
  return 0;
}

/* Node's addSockets / delSockets / disconnectSockets, this node's part: like sio_nsp_each, a
 * selection that could not be collected does nothing and says nothing. */
static int join_one(sio_socket_t *s, void *room) {
  sio_socket_join(s, room);
  return 0;
}
static int leave_one(sio_socket_t *s, void *room) {
  sio_socket_leave(s, room);
  return 0;
}
static int disconnect_one(sio_socket_t *s, void *close) {
  sio_socket_disconnect(s, close != NULL);
  return 0;
}

static int mem_add_sockets(sio_adapter_t *a, const sio_target_t *to, const char *room) {
  mem_apply(a, to, join_one, (void *)room);
  return 0;
}

static int mem_del_sockets(sio_adapter_t *a, const sio_target_t *to, const char *room) {
  mem_apply(a, to, leave_one, (void *)room);
  return 0;
}

static int mem_disconnect_sockets(sio_adapter_t *a, const sio_target_t *to, int close) {
  static char yes;
  mem_apply(a, to, disconnect_one, close ? &yes : NULL);
  return 0;
}

static int mem_server_count(sio_adapter_t *a) {
  (void)a;
  return 1;
}

/* Sessions are kept by the Socket.IO layer's store (socketio/recovery.c), not here. */
static void mem_free(sio_adapter_t *a) {
  mem_adapter_t *m = (mem_adapter_t *)a;
  for (size_t i = 0; i < m->rooms.cap; i++) {
    sio_room_t *room = m->rooms.slots[i].key ? m->rooms.slots[i].value : NULL;
    if (room) {
      free(room->members);
      free(room);
    }
  }
  sio_map_free(&m->rooms);
  free(m);
}

/* One node: no requests to other nodes (fetch_sockets, server_side_emit, ... stay NULL). */
static const sio_adapter_vt_t mem_vt = {.add = mem_add,
                                        .del = mem_del,
                                        .del_all = mem_del_all,
                                        .apply = mem_apply,
                                        .rooms = mem_rooms,
                                        .broadcast = mem_broadcast,
                                        .broadcast_with_ack = mem_broadcast_with_ack,
                                        .add_sockets = mem_add_sockets,
                                        .del_sockets = mem_del_sockets,
                                        .disconnect_sockets = mem_disconnect_sockets,
                                        .server_count = mem_server_count,
                                        .free = mem_free};

int sio__memory_adapter_has_room(sio_adapter_t *a, const char *room) {
  mem_adapter_t *m = (mem_adapter_t *)a;
  return sio_map_get(&m->rooms, room) != NULL || sio_map_get(&a->nsp->by_id, room) != NULL;
}

sio_adapter_t *sio__memory_adapter_new(sio_nsp_t *nsp) {
  mem_adapter_t *m = calloc(1, sizeof *m);
  if (!m) return NULL;
  m->base.vt = &mem_vt;
  m->base.nsp = nsp;
  return &m->base;
}
