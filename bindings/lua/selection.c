/* Selections: what an emitter (or a whole namespace) targets, fetched, made to join or leave a room,
 * or disconnected: Node's fetchSockets(), socketsJoin(), socketsLeave(), disconnectSockets(). */
#include "private.h"

/* The namespace and target of a selection (io, nsp or an emitter at 1); *has is 0 for a whole
 * namespace. Pushes three values when it is an emitter (see siol_op_target). */
static nsp_ud_t *selection(lua_State *L, target_t *tg, int *has) {
  op_ud_t *o = luaL_testudata(L, 1, SIOL_OP_MT);
  *has = 0;
  if (!o) return siol_check_nsp(L, 1);
  if (o->kind != OP_BROADCAST) luaL_argerror(L, 1, "not a broadcast emitter");
  siol_push_op_target(L, 1);
  nsp_ud_t *u = lua_touserdata(L, -1);
  lua_pop(L, 1);
  if (u->srv->closed) luaL_error(L, "the server is closed");
  siol_op_target(L, 1, o, tg);
  *has = 1;
  return u;
}

typedef struct {
  lua_State *L;
  srv_t *srv;
  int list;
} collect_t;

static int collect_cb(sio_socket_t *s, void *arg) {
  collect_t *c = arg;
  siol_push_socket(c->L, c->srv, s);
  lua_rawseti(c->L, c->list, (lua_Integer)lua_rawlen(c->L, c->list) + 1);
  return 0;
}

void siol_collect_sockets(lua_State *L, srv_t *srv, sio_nsp_t *nsp, const sio_target_t *to, int list) {
  collect_t c = {L, srv, lua_absindex(L, list)};
  sio_nsp_each(nsp, to, collect_cb, &c);
}

static void on_cluster_sockets(sio_nsp_t *nsp, int status, const cJSON *sockets, void *arg) {
  (void)nsp;
  lua_State *L = siol_req_begin(arg, status);
  if (L) siol_push_json_array(L, sockets, NULL);
  siol_req_finish(arg, L, 1, "fetch_sockets callback");
}

/* fetch_sockets(): this node's targeted sockets (userdata), now. fetch_sockets(function(err,
 * sockets) end): every node's (Node's fetchSockets()), each a table {id, handshake, rooms, data},
 * this node's first; err as fetch_count's. true, or nil, "ECLOSED: ...", "ECLOSED" once the server
 * is closing. fetch_sockets{cluster = true} in a handler's coroutine: sockets, err. */
int siol_fetch_sockets(lua_State *L) {
  target_t tg;
  int has;
  int fn = lua_isfunction(L, 2) ? 2 : 0;
  int wait = 0;
  if (!fn && lua_istable(L, 2)) {
    lua_getfield(L, 2, "cluster");
    wait = lua_toboolean(L, -1);
    lua_pop(L, 1);
    if (wait) siol_check_can_wait(L, "fetch_sockets");
  }
  nsp_ud_t *u = selection(L, &tg, &has);
  if (!fn && !wait) {
    lua_newtable(L);
    siol_collect_sockets(L, u->srv, u->nsp, has ? &tg.t : NULL, -1);
    return 1;
  }
  if (u->srv->closing) return siol_push_fail(L, SIO_ECLOSED);
  siol_req_t *c = fn ? siol_req_new(L, fn) : siol_req_wait(L, "fetch_sockets");
  return siol_request_started(L, c, sio_nsp_fetch_sockets(u->nsp, has ? &tg.t : NULL, on_cluster_sockets, c));
}

static int join_leave(lua_State *L, int join) {
  target_t tg;
  int has;
  nsp_ud_t *u = selection(L, &tg, &has);
  int (*fn)(sio_nsp_t *, const sio_target_t *, const char *) = join ? sio_nsp_join : sio_nsp_leave;
  if (lua_istable(L, 2)) {
    lua_Integer n = (lua_Integer)lua_rawlen(L, 2);
    for (lua_Integer i = 1; i <= n; i++) {
      lua_rawgeti(L, 2, i);
      const char *room = lua_tostring(L, -1);
      if (room) fn(u->nsp, has ? &tg.t : NULL, room);
      lua_pop(L, 1);
    }
  } else {
    fn(u->nsp, has ? &tg.t : NULL, luaL_checkstring(L, 2));
  }
  return 0;
}

int siol_sockets_join(lua_State *L) { return join_leave(L, 1); }
int siol_sockets_leave(lua_State *L) { return join_leave(L, 0); }

int siol_disconnect_sockets(lua_State *L) {
  target_t tg;
  int has;
  int close = lua_toboolean(L, 2);
  nsp_ud_t *u = selection(L, &tg, &has);
  sio_nsp_disconnect(u->nsp, has ? &tg.t : NULL, close);
  return 0;
}
