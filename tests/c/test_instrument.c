/* sio_io_instrument's options: what it refuses (and why, in sio_last_error), once per io, and
 * that an instrumented io closes with its server (the stats timer freed: the loop closes, and
 * ASan sees no leak). The protocol itself is tests/js/admin.test.mjs, with socket.io-client. */
#include <string.h>
#include <uv.h>

#include "sio.h"
#include "test.h"
#include "transport/log.h"

/* bcrypt("pw") at cost 4, as bcryptjs writes it. */
#define HASH "$2a$04$YQwxqIbswCZ58J5wQuvch.mKmkBPv6TOnZj87mi1VtK.Ayesb3PPG"

TEST(options) {
  uv_loop_t loop;
  uv_loop_init(&loop);
  sio_server_t *server;
  sio_io_t *io;
  CHECK_EQ_INT(sio_server_new(&loop, NULL, &server), 0);
  CHECK_EQ_INT(sio_io_new(server, NULL, &io), 0);
  sio_instrument_options_t o;
  sio_instrument_options_init(&o);
  CHECK(strcmp(o.namespace_name, "/admin") == 0);
  CHECK_EQ_INT((int)o.server_stats_interval_ms, 2000);
  CHECK_EQ_INT(o.mode, SIO_INSTRUMENT_DEVELOPMENT);
  o.username = "admin";
  CHECK_EQ_INT(sio_io_instrument(io, &o), SIO_EINVAL); /* a username without hash */
  CHECK(strstr(sio_last_error(), "both username and password_hash") != NULL);
  o.password_hash = "plain";
  CHECK_EQ_INT(sio_io_instrument(io, &o), SIO_EINVAL);
  CHECK(strstr(sio_last_error(), "valid bcrypt hash") != NULL);
  o.password_hash = "$2b$04$short";
  CHECK_EQ_INT(sio_io_instrument(io, &o), SIO_EINVAL);
  o.password_hash = HASH;
  o.mode = 7;
  CHECK_EQ_INT(sio_io_instrument(io, &o), SIO_EINVAL);
  o.mode = SIO_INSTRUMENT_PRODUCTION;
  o.namespace_name = "admin";
  CHECK_EQ_INT(sio_io_instrument(io, &o), SIO_EINVAL);
  o.namespace_name = "/admin-ui";
  CHECK_EQ_INT(sio_io_instrument(io, &o), 0);
  CHECK_EQ_INT(sio_io_instrument(io, &o), SIO_EEXIST);
  sio_nsp_t *admin;
  CHECK_EQ_INT(sio_io_of(io, "/admin-ui", &admin), 0);
  o.size = 3;
  CHECK_EQ_INT(sio_io_instrument(io, &o), SIO_EINVAL); /* an uninitialised struct */
  CHECK_EQ_INT(sio_io_instrument(NULL, &o), SIO_EINVAL);
  /* The first server_stats goes at once (to nobody), then the server closes with its timer. */
  uv_run(&loop, UV_RUN_NOWAIT);
  sio_server_close(server, NULL);
  uv_run(&loop, UV_RUN_DEFAULT);
  CHECK_EQ_INT(uv_loop_close(&loop), 0);
}

/* The per-delivery hooks (log.h): an instrumented io sets the server's SIO__WATCH_INSTR bit, so
 * that a broadcast's recipients take the path that counts packets for the Admin UI; the bit stays
 * while any io of the server is instrumented, survives sio_server_set_debug, and is not one of
 * the categories sio_server_debug reports. */
TEST(delivery_watch_bit) {
  uv_loop_t loop;
  uv_loop_init(&loop);
  sio_server_t *server;
  sio_io_t *a, *b;
  CHECK_EQ_INT(sio_server_new(&loop, NULL, &server), 0);
  sio_server_set_debug(server, 0); /* whatever SIO_DEBUG says */
  CHECK_EQ_INT(sio_io_new(server, NULL, &a), 0);
  sio_io_options_t io_opts;
  sio_io_options_init(&io_opts);
  io_opts.engine.path = "/other/";
  CHECK_EQ_INT(sio_io_new(server, &io_opts, &b), 0);
  CHECK_EQ_INT((int)(sio__debug_mask(server) & SIO__WATCH_DELIVERY), 0);
  sio_instrument_options_t o;
  sio_instrument_options_init(&o);
  CHECK_EQ_INT(sio_io_instrument(a, &o), 0);
  CHECK(sio__debug_mask(server) & SIO__WATCH_INSTR);
  CHECK_EQ_INT((int)sio_server_debug(server), 0);
  sio_server_set_debug(server, SIO_DEBUG_SOCKET);
  CHECK_EQ_INT((int)sio_server_debug(server), SIO_DEBUG_SOCKET);
  sio_server_set_debug(server, 0);
  CHECK(sio__debug_mask(server) & SIO__WATCH_INSTR);
  CHECK_EQ_INT(sio_io_instrument(b, &o), 0);
  CHECK(sio__debug_mask(server) & SIO__WATCH_INSTR);
  uv_run(&loop, UV_RUN_NOWAIT);
  sio_server_close(server, NULL);
  uv_run(&loop, UV_RUN_DEFAULT);
  CHECK_EQ_INT(uv_loop_close(&loop), 0);
}

TEST_MAIN(RUN(options), RUN(delivery_watch_bit))
