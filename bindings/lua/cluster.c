/* A namespace's requests to every node of the cluster (Node's fetchSockets().length, allRooms(),
 * serverSideEmit) and its listeners of other nodes' server-side events. Alone (no redis), the
 * requests answer for this server. */
#include <string.h>

#include "private.h"

static void on_fetch_count(sio_nsp_t *nsp, int status, size_t n, void *arg) {
  (void)nsp;
  lua_State *L = siol_req_begin(arg, status);
  if (L) lua_pushinteger(L, (lua_Integer)n);
  siol_req_finish(arg, L, 1, "fetch_count callback");
}

/* The callback at idx of a cluster request, or 0 for the waiting form (nil or none: the handler's
 * coroutine waits; fn names the method for the error raised outside one). */
int siol_request_callback(lua_State *L, int idx, const char *fn) {
  if (lua_isnoneornil(L, idx)) {
    siol_check_can_wait(L, fn);
    return 0;
  }
  luaL_checktype(L, idx, LUA_TFUNCTION);
  return idx;
}

/* The request r of the call that made c (0 for a callback), as the method returns it: a waiting
 * coroutine yields; else true, or the failure. */
int siol_request_started(lua_State *L, siol_req_t *c, int r) {
  if (r) {
    siol_req_drop(L, c);
    return siol_push_ok(L, r);
  }
  if (siol_req_waits(c)) return siol_req_yield(L);
  lua_pushboolean(L, 1);
  return 1;
}

static siol_req_t *request(lua_State *L, int cb, const char *fn) {
  return cb ? siol_req_new(L, cb) : siol_req_wait(L, fn);
}

/* nsp:fetch_count(function(err, n) end): err nil, "ETIMEDOUT: ..." (n: what answered in time),
 * "EUNAVAIL: ..." (Redis not connected or lost: this server's at least) or "ECLOSED: ...". The
 * callback may run before this returns. true, or nil, "ECLOSED: ...", "ECLOSED" (no callback)
 * once the server is closing. nsp:fetch_count() in a handler's coroutine: n, err. */
int siol_nsp_fetch_count(lua_State *L) {
  nsp_ud_t *u = siol_check_nsp(L, 1);
  int cb = siol_request_callback(L, 2, "fetch_count");
  siol_req_t *c = request(L, cb, "fetch_count");
  return siol_request_started(L, c, sio_nsp_fetch_count(u->nsp, NULL, on_fetch_count, c));
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
 * and the result as fetch_count's (nsp:all_rooms() in a handler's coroutine: rooms, err). */
int siol_nsp_all_rooms(lua_State *L) {
  nsp_ud_t *u = siol_check_nsp(L, 1);
  int cb = siol_request_callback(L, 2, "all_rooms");
  if (u->srv->closing) return siol_push_fail(L, SIO_ECLOSED);
  siol_req_t *c = request(L, cb, "all_rooms");
  return siol_request_started(L, c, sio_nsp_fetch_rooms(u->nsp, on_all_rooms, c));
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
static int server_side_emit(lua_State *L, int wait) {
  nsp_ud_t *u = siol_check_nsp(L, 1);
  const char *event = luaL_checkstring(L, 2);
  const char *name = wait ? "server_side_call" : "server_side_emit";
  if (u->parent) return luaL_error(L, "%s: not on a parent of dynamic namespaces", name);
  int last = lua_gettop(L), cb = 0;
  if (wait) siol_check_can_wait(L, name);
  else if (last >= 3 && lua_isfunction(L, last)) cb = last--;
  args_box_t *a = siol_check_args(L, 3, last);
  if (a->b.n) {
    siol_args_free(a);
    return luaL_error(L, "%s: server-side events carry JSON values only (no sio.binary)", name);
  }
  if (u->srv->closing) {
    siol_args_free(a);
    return siol_push_fail(L, SIO_ECLOSED);
  }
  sio_args_t args = {a->json, NULL, 0};
  int r;
  siol_req_t *c = NULL;
  if (cb || wait) {
    c = request(L, cb, name);
    r = sio_nsp_server_emit_ack(u->nsp, event, &args, on_server_ack, c);
    if (r) siol_req_drop(L, c);
  } else {
    r = sio_nsp_server_emit(u->nsp, event, &args);
  }
  siol_args_free(a);
  if (r == UV_ENOSYS) {
    lua_pushnil(L);
    lua_pushfstring(L, "ENOSYS: %s needs a cluster: sio.server{redis = \"redis://...\"}", name);
    lua_pushstring(L, "ENOSYS");
    return 3;
  }
  if (r == SIO_ERESERVED) return siol_raise_detail(L, r, name);
  if (r == 0 && wait) return siol_req_yield(L);
  return siol_push_ok(L, r);
}

int siol_nsp_server_side_emit(lua_State *L) { return server_side_emit(L, 0); }
/* nsp:server_side_call(event, ...): server_side_emit waiting in the handler's coroutine for each
 * other node's answer: responses, err. */
int siol_nsp_server_side_call(lua_State *L) { return server_side_emit(L, 1); }

/* An answer to another node's server-side event: its listeners run in coroutines of their own;
 * the first that returns values answers (the first of them; nil: an answer without a value); once
 * every one ended without answering, an answer without a value, unless one raised (the sender
 * then waits for its timeout, as with a single listener that raises). The namespace and server
 * userdata are its uservalues, so that a late answer finds them (and nothing once closed). */
typedef struct {
  int pending; /* listeners not ended */
  int answered, failed;
  char reply_id[];
} reply_ud_t;

static void reply_send(lua_State *L, reply_ud_t *r, int reply, int idx) {
  r->answered = 1;
  lua_getiuservalue(L, reply, 1);
  nsp_ud_t *u = lua_touserdata(L, -1);
  lua_pop(L, 1);
  if (!u || u->srv->closing || u->srv->closed) return;
  cJSON *value = NULL;
  siol_bufs_t b = {0};
  char err[256];
  if (idx && !lua_isnil(L, idx) && siol_to_json(L, idx, &b, &value, err, sizeof err) < 0) {
    siol_log(L, SIOL_LOG_ERROR, "cannot send the answer of a server-side handler: %s", err);
  } else if (b.n) {
    siol_log(L, SIOL_LOG_ERROR, "cannot send the answer of a server-side handler: "
             "server-side events carry JSON values only (no sio.binary)");
  } else {
    sio_nsp_server_reply(u->nsp, r->reply_id, value);
  }
  cJSON_Delete(value);
  siol_bufs_free(&b);
}

static void reply_done(lua_State *co, int ok, int first) {
  reply_ud_t *r = lua_touserdata(co, SIOL_CO_CTX);
  r->pending--;
  if (!ok) r->failed = 1;
  if (r->answered) return;
  if (ok && lua_gettop(co) >= first) reply_send(co, r, SIOL_CO_CTX, first);
  else if (r->pending == 0 && !r->failed) reply_send(co, r, SIOL_CO_CTX, 0);
}
static const siol_fin_t reply_fin = {reply_done, 0};

void siol_on_server_event(sio_nsp_t *nsp, const char *event, const sio_args_t *args, const char *reply_id) {
  srv_t *srv = siol_srv_of_nsp(nsp);
  lua_State *L = siol_cb_state(srv->st);
  if (!L) return;
  int top = lua_gettop(L);
  luaL_checkstack(L, 8, NULL);
  siol_push_nsp_handlers(L, srv, nsp);
  int t = top + 2;
  if (lua_getfield(L, -1, "server_events") != LUA_TTABLE || lua_getfield(L, t, event) != LUA_TTABLE) {
    lua_settop(L, top);
    if (reply_id) sio_nsp_server_reply(nsp, reply_id, NULL);
    return;
  }
  int list = lua_gettop(L);
  int ctx = 0;
  if (reply_id) {
    size_t len = strlen(reply_id);
    reply_ud_t *r = lua_newuserdatauv(L, sizeof *r + len + 1, 2);
    r->pending = 1; /* the dispatch's own hold, released after the loop */
    r->answered = r->failed = 0;
    memcpy(r->reply_id, reply_id, len + 1);
    siol_push_nsp(L, srv, nsp);
    lua_setiuservalue(L, -2, 1);
    siol_push_server(L, srv);
    lua_setiuservalue(L, -2, 2);
    ctx = lua_gettop(L);
  }
  int first = lua_gettop(L) + 1;
  int na = siol_push_args(L, args);
  reply_ud_t *r = ctx ? lua_touserdata(L, ctx) : NULL;
  siol_listen_run(srv->st, L, t, event, list, first, na, ctx, ctx ? &reply_fin : NULL, "server-side handler for",
                  r ? &r->pending : NULL);
  if (r && --r->pending == 0 && !r->answered && !r->failed) reply_send(L, r, ctx, 0);
  lua_settop(L, top);
}
