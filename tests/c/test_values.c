/* The rules for bindings that sio.h keeps once ("values, for bindings"): strings in the core's
 * form, integers, reserved names, placeholders; and the error detail and the options' size check
 * that every binding relies on. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "sio.h"
#include "test.h"

TEST(strings_core_form) {
  /* NUL is a character; a lone surrogate in its three bytes is text; C0 80, overlongs and other
   * invalid UTF-8 are not. */
  static const struct {
    const char *s;
    size_t len;
    int valid;
  } cases[] = {
      {"", 0, 1},           {"abc", 3, 1},           {"a\0b", 3, 1},      {"\xC3\xA9\xE4\xB8\xAD", 5, 1},
      {"\xF0\x9F\x98\x80", 4, 1}, {"\xED\xA0\xBD", 3, 1}, {"\xED\xBF\xBF!", 4, 1}, {"\xC0\x80", 2, 0},
      {"\xE0\x80\x80", 3, 0}, {"\xFF", 1, 0},        {"\xED\xA0", 2, 0},  {"\xF4\x90\x80\x80", 4, 0},
      {"a\x80", 2, 0},
  };
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    if (sio_str_valid(cases[i].s, cases[i].len) != cases[i].valid)
      fprintf(stderr, "case %zu\n", i);
    CHECK_EQ_INT(sio_str_valid(cases[i].s, cases[i].len), cases[i].valid);
  }
  /* To the core and back: NUL <-> C0 80, everything else as it is. */
  const char text[] = "\0a\0\0b\xED\xA0\xBD\0";
  size_t len = sizeof text - 1;
  CHECK_EQ_INT(sio_str_core_len(text, len), len + 4);
  char core[32], back[32];
  CHECK_EQ_INT(sio_str_to_core(text, len, core), len + 4);
  CHECK(strcmp(core, "\xC0\x80" "a\xC0\x80\xC0\x80" "b\xED\xA0\xBD\xC0\x80") == 0);
  CHECK_EQ_INT(sio_str_from_core(core, back), len);
  CHECK_MEM(back, len, text, len);
  CHECK_EQ_INT(sio_str_to_core("", 0, core), 0);
  CHECK(core[0] == '\0');
  /* A stray C0 is not a NUL. */
  CHECK_EQ_INT(sio_str_from_core("\xC0x", back), 2);
  CHECK_MEM(back, 2, "\xC0x", 2);
}

TEST(integers) {
  CHECK_EQ_INT(sio_number_is_int(0), 1);
  CHECK_EQ_INT(sio_number_is_int(-0.0), 1);
  CHECK_EQ_INT(sio_number_is_int(9007199254740992.0), 1);
  CHECK_EQ_INT(sio_number_is_int(-9007199254740992.0), 1);
  CHECK_EQ_INT(sio_number_is_int(9007199254740994.0), 0);
  CHECK_EQ_INT(sio_number_is_int(0.5), 0);
  CHECK_EQ_INT(sio_number_is_int(1e300), 0); /* never cast: UBSan would see it */
  CHECK_EQ_INT(sio_number_is_int(-1e300), 0);
  CHECK_EQ_INT(sio_number_is_int(INFINITY), 0);
  CHECK_EQ_INT(sio_number_is_int(NAN), 0);
}

TEST(reserved_names) {
  static const char *const socket_names[] = {"connect",       "connect_error", "disconnect",
                                             "disconnecting", "newListener",   "removeListener"};
  for (size_t i = 0; i < 6; i++) CHECK_EQ_INT(sio_event_reserved(socket_names[i], 0), 1);
  CHECK_EQ_INT(sio_event_reserved("connection", 0), 0);
  CHECK_EQ_INT(sio_event_reserved("message", 0), 0);
  CHECK_EQ_INT(sio_event_reserved("Connect", 0), 0);
  CHECK_EQ_INT(sio_event_reserved("connect", 1), 1);
  CHECK_EQ_INT(sio_event_reserved("connection", 1), 1);
  CHECK_EQ_INT(sio_event_reserved("new_namespace", 1), 1);
  CHECK_EQ_INT(sio_event_reserved("disconnect", 1), 0);
  CHECK_EQ_INT(SIO_MAX_DEPTH, 64);
}

TEST(attachments) {
  sio_buf_t bufs[2] = {{"ab", 2}, {"", 0}};
  sio_args_t a = {NULL, bufs, 2};
  cJSON *p1 = cJSON_Parse("{\"_placeholder\":true,\"num\":1}");
  cJSON *p2 = cJSON_Parse("{\"_placeholder\":true,\"num\":2}");
  cJSON *p3 = cJSON_Parse("{\"_placeholder\":true,\"num\":1e300}");
  cJSON *p4 = cJSON_Parse("{\"_placeholder\":false,\"num\":0}");
  CHECK(sio_args_attachment(&a, p1) == &bufs[1]);
  CHECK(sio_args_attachment(&a, p2) == NULL);
  CHECK(sio_args_attachment(&a, p3) == NULL);
  CHECK(sio_args_attachment(&a, p4) == NULL);
  CHECK(sio_args_attachment(NULL, p1) == NULL);
  cJSON_Delete(p1);
  cJSON_Delete(p2);
  cJSON_Delete(p3);
  cJSON_Delete(p4);
}

TEST(errors_and_options) {
  CHECK(strcmp(sio_err_name(SIO_ERESERVED), "ERESERVED") == 0);
  CHECK(strcmp(sio_err_name(SIO_EALREADY), "EALREADY") == 0);
  CHECK(strcmp(sio_strerror(SIO_EALREADY), "already answered") == 0);
  uv_loop_t loop;
  uv_loop_init(&loop);
  /* Options never initialised (size 0), or bigger than this library knows, are refused with a
   * detail; those from sio_x_options_init() are taken. */
  sio_server_options_t so;
  memset(&so, 0, sizeof so);
  sio_server_t *server = NULL;
  CHECK_EQ_INT(sio_server_new(&loop, &so, &server), SIO_EINVAL);
  CHECK(strstr(sio_last_error(), "sio_server_options") != NULL);
  sio_server_options_init(&so);
  so.size += 8;
  CHECK_EQ_INT(sio_server_new(&loop, &so, &server), SIO_EINVAL);
  sio_server_options_init(&so);
  CHECK_EQ_INT(sio_server_new(&loop, &so, &server), 0);
  sio_engine_options_t eo;
  sio_engine_options_init(&eo);
  CHECK_EQ_INT(eo.size, sizeof eo);
  sio_engine_t *engine;
  eo.size = 1;
  CHECK_EQ_INT(sio_engine_new(server, &eo, NULL, &engine), SIO_EINVAL);
  sio_io_options_t io_opts;
  sio_io_options_init(&io_opts);
  CHECK_EQ_INT(io_opts.size, sizeof io_opts);
  CHECK_EQ_INT(io_opts.engine.size, sizeof io_opts.engine);
  sio_io_t *io;
  CHECK_EQ_INT(sio_io_new(server, &io_opts, &io), 0);
  sio_redis_options_t ro;
  memset(&ro, 0, sizeof ro);
  ro.url = "redis://127.0.0.1:1";
  CHECK_EQ_INT(sio_io_use_redis(io, &ro), SIO_EINVAL);
  sio_static_options_t st;
  memset(&st, 0, sizeof st);
  CHECK_EQ_INT(sio_server_static(server, "/s/", ".", &st), SIO_EINVAL);
  /* Each refusal says what was wrong; a call that goes well leaves no stale detail behind. */
  CHECK_EQ_INT(sio_server_static(server, "s/", ".", NULL), SIO_EINVAL);
  CHECK(strstr(sio_last_error(), "static prefix \"s/\"") != NULL);
  sio_nsp_t *parent;
  CHECK_EQ_INT(sio_io_dynamic(io, "([", NULL, &parent), SIO_EINVAL);
  CHECK(strstr(sio_last_error(), "regular expression") != NULL);
  CHECK_EQ_INT(sio_io_dynamic(io, "^/d-", NULL, &parent), 0);
  CHECK(strcmp(sio_last_error(), "") == 0);
  CHECK_EQ_INT(sio_nsp_server_emit(parent, "x", NULL), SIO_EINVAL);
  CHECK(strstr(sio_last_error(), "parent of dynamic namespaces") != NULL);
  sio_nsp_t *root;
  CHECK_EQ_INT(sio_io_of(io, "/", &root), 0);
  CHECK_EQ_INT(sio_nsp_emit(root, NULL, "disconnect", NULL), SIO_ERESERVED);
  CHECK(strstr(sio_last_error(), "\"disconnect\" is a reserved event name") != NULL);
  CHECK_EQ_INT(sio_nsp_emit(root, NULL, "fine", NULL), 0);
  CHECK(strcmp(sio_last_error(), "") == 0);
  sio_engine_options_init(&eo);
  eo.path = "/cookie/";
  eo.cookie.name = "a b";
  CHECK_EQ_INT(sio_engine_new(server, &eo, NULL, &engine), SIO_EINVAL);
  CHECK(strstr(sio_last_error(), "cookie name \"a b\" is not an HTTP token") != NULL);
  sio_server_close(server, NULL);
  uv_run(&loop, UV_RUN_DEFAULT);
  CHECK_EQ_INT(uv_loop_close(&loop), 0);
}

TEST_MAIN(RUN(strings_core_form), RUN(integers), RUN(reserved_names), RUN(attachments),
          RUN(errors_and_options))
