/* A namespace's requests to every node of the cluster (Node's fetchSockets().length, allRooms(),
 * serverSideEmit) and its listeners of other nodes' server-side events. Alone (no redis), the
 * requests answer for this server. */
#include "private.h"

static void on_fetch_count(sio_nsp_t *nsp, int status, size_t n, void *arg) {
  (void)nsp;
  lua_State *L = siol_req_begin(arg, status);
  if (L) lua_pushinteger(L, (lua_Integer)n);
  siol_req_finish(arg, L, 1, "fetch_count callback");
}

/* nsp:fetch_count(function(err, n) end): err nil, "ETIMEDOUT: ..." (n: what answered in time),
 * "EUNAVAIL: ..." (Redis not connected or lost: this server's at least) or "ECLOSED: ...". The
 * callback may run before this returns. true, or nil, "ECLOSED: ...", "ECLOSED" (no callback)
 * once the server is closing. */
int siol_nsp_fetch_count(lua_State *L) {
  nsp_ud_t *u = siol_check_nsp(L, 1);
  luaL_checktype(L, 2, LUA_TFUNCTION);
  siol_req_t *c = siol_req_new(L, 2);
  int r = sio_nsp_fetch_count(u->nsp, NULL, on_fetch_count, c);
  if (r) siol_req_drop(L, c);
  return siol_push_ok(L, r);
}

static void on_all_rooms(sio_nsp_t *nsp, int status, const char *const *rooms, size_t n, void *arg) {
  (void)nsp;
  lua_State *L = siol_req_begin(arg, status);
  if (L) {
    lua_createtable(L, n > 0x7fffffff ? 0 : (int)n, 0);
    for (size_t i = 0; i < n; i++) {
      lua_pushstring(L, rooms[i]);
      lua_rawseti(L, -2, (lua_Integer)i + 1);
    }
    luaL_setmetatable(L, SIOL_ARRAY_MT);
  }
  siol_req_finish(arg, L, 1, "all_rooms callback");
}

/* nsp:all_rooms(function(err, rooms) end): every room on every node, each once, in no order; err
 * and the result as fetch_count's. */
int siol_nsp_all_rooms(lua_State *L) {
  nsp_ud_t *u = siol_check_nsp(L, 1);
  luaL_checktype(L, 2, LUA_TFUNCTION);
  if (u->srv->closing) return siol_push_fail(L, SIO_ECLOSED);
  siol_req_t *c = siol_req_new(L, 2);
  int r = sio_nsp_fetch_rooms(u->nsp, on_all_rooms, c);
  if (r) siol_req_drop(L, c);
  return siol_push_ok(L, r);
}

static void on_server_ack(sio_nsp_t *nsp, int status, const cJSON *responses, void *arg) {
  (void)nsp;
  lua_State *L = siol_req_begin(arg, status);
  if (L) siol_push_json_array(L, responses, NULL);
  siol_req_finish(arg, L, 1, "server_side_emit callback");
}

/* nsp:server_side_emit(event, ...[, function(err, responses) end]): the event and its arguments
 * (JSON values only) to the namespace on every other node. With a function: each other node's
 * answer, err as fetch_count's, responses an array (sio.null for an answer without a value). true;
 * nil, "ENOSYS: ...", "ENOSYS" without redis; without a function, nil, "EUNAVAIL: ...",
 * "EUNAVAIL" when Redis is not connected (nothing is kept for later). Reserved names raise. */
int siol_nsp_server_side_emit(lua_State *L) {
  nsp_ud_t *u = siol_check_nsp(L, 1);
  const char *event = luaL_checkstring(L, 2);
  if (u->parent) return luaL_error(L, "server_side_emit: not on a parent of dynamic namespaces");
  int last = lua_gettop(L), cb = 0;
  if (last >= 3 && lua_isfunction(L, last)) cb = last--;
  args_box_t *a = siol_check_args(L, 3, last);
  if (a->b.n) {
    siol_args_free(a);
    return luaL_error(L, "server_side_emit: server-side events carry JSON values only (no sio.binary)");
  }
  if (u->srv->closing) {
    siol_args_free(a);
    return siol_push_fail(L, SIO_ECLOSED);
  }
  sio_args_t args = {a->json, NULL, 0};
  int r;
  if (cb) {
    siol_req_t *c = siol_req_new(L, cb);
    r = sio_nsp_server_emit_ack(u->nsp, event, &args, on_server_ack, c);
    if (r) siol_req_drop(L, c);
  } else {
    r = sio_nsp_server_emit(u->nsp, event, &args);
  }
  siol_args_free(a);
  if (r == UV_ENOSYS) {
    lua_pushnil(L);
    lua_pushstring(L, "ENOSYS: server_side_emit needs a cluster: sio.server{redis = \"redis://...\"}");
    lua_pushstring(L, "ENOSYS");
    return 3;
  }
  if (r == SIO_ERESERVED) return siol_raise_detail(L, r, "server_side_emit");
  return siol_push_ok(L, r);
}

/* Another node's serverSideEmit: the namespace's listener (nsp:on(name, fn)) gets the arguments;
 * when the sender waits for an answer, its first return value is this node's (nil: an answer
 * without a value). A listener that raises sends no answer; no listener: an answer without a value,
 * so that the sender does not wait for its timeout. */
void siol_on_server_event(sio_nsp_t *nsp, const char *event, const sio_args_t *args, const char *reply_id) {
  srv_t *srv = siol_srv_of_nsp(nsp);
  lua_State *L = siol_cb_state(srv->st);
  if (!L) return;
  int top = lua_gettop(L);
  luaL_checkstack(L, 8, NULL);
  siol_push_nsp_handlers(L, srv, nsp);
  if (lua_getfield(L, -1, "server_events") != LUA_TTABLE || lua_getfield(L, -1, event) != LUA_TFUNCTION) {
    lua_settop(L, top);
    if (reply_id) sio_nsp_server_reply(nsp, reply_id, NULL);
    return;
  }
  int na = siol_push_args(L, args);
  if (siol_pcall(L, na, 1, "server-side handler for", event) && reply_id) {
    cJSON *value = NULL;
    siol_bufs_t b = {0};
    char err[256];
    if (!lua_isnil(L, -1) && siol_to_json(L, -1, &b, &value, err, sizeof err) < 0) {
      siol_log(L, SIOL_LOG_ERROR, "cannot send the answer of the server-side handler for %s: %s", event, err);
    } else if (b.n) {
      siol_log(L, SIOL_LOG_ERROR, "cannot send the answer of the server-side handler for %s: "
               "server-side events carry JSON values only (no sio.binary)", event);
    } else {
      sio_nsp_server_reply(nsp, reply_id, value);
    }
    cJSON_Delete(value);
    siol_bufs_free(&b);
  }
  lua_settop(L, top);
}
