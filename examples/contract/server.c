/* The contract server in C (../../shared/contract.md): the Engine.IO echo endpoint at /engine.io/
 * (the Socket.IO namespaces join it with the Socket.IO layer). */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sio.h"

typedef struct {
  const char *host;
  int port;
  const char *path;
  sio_engine_options_t eio;
} config_t;

static sio_server_t *server;
static uv_signal_t sigterm, sigint;

static void usage(void) {
  fprintf(stderr,
          "usage: sio-contract [--host 127.0.0.1] [--port 3000] [--path /socket.io/]\n"
          "                    [--ping-interval MS] [--ping-timeout MS] [--max-payload BYTES]\n"
          "                    [--allow-eio3] [--cors ORIGINS] [--redis URL]\n");
  exit(2);
}

static void echo_message(sio_session_t *s, const char *data, size_t len, int binary) {
  sio_session_send(s, data, len, binary);
}

static void on_closed(sio_server_t *s) { (void)s; }

static void on_signal(uv_signal_t *h, int signum) {
  (void)signum;
  uv_close((uv_handle_t *)&sigterm, NULL);
  uv_close((uv_handle_t *)&sigint, NULL);
  sio_server_close(server, on_closed);
  (void)h;
}

int main(int argc, char **argv) {
  config_t cfg = {"127.0.0.1", 3000, "/socket.io/", {0}};
  sio_engine_options_init(&cfg.eio);
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    const char *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (strcmp(a, "--allow-eio3") == 0) { cfg.eio.allow_eio3 = 1; continue; }
    if (!v) usage();
    if (strcmp(a, "--host") == 0) cfg.host = v;
    else if (strcmp(a, "--port") == 0) cfg.port = atoi(v);
    else if (strcmp(a, "--path") == 0) cfg.path = v;
    else if (strcmp(a, "--ping-interval") == 0) cfg.eio.ping_interval_ms = (uint32_t)strtoul(v, NULL, 10);
    else if (strcmp(a, "--ping-timeout") == 0) cfg.eio.ping_timeout_ms = (uint32_t)strtoul(v, NULL, 10);
    else if (strcmp(a, "--max-payload") == 0) cfg.eio.max_payload = strtoul(v, NULL, 10);
    else if (strcmp(a, "--cors") == 0) cfg.eio.cors_origin = v;
    else if (strcmp(a, "--redis") == 0) { /* the Redis adapter comes with the cluster issue */ }
    else usage();
    i++;
  }
  signal(SIGPIPE, SIG_IGN);
  uv_loop_t *loop = uv_default_loop();
  int r = sio_server_new(loop, NULL, &server);
  if (r == 0) {
    sio_engine_options_t eo = cfg.eio;
    eo.path = "/engine.io/";
    sio_engine_callbacks_t cbs = {NULL, echo_message, NULL};
    sio_engine_t *echo;
    r = sio_engine_new(server, &eo, &cbs, &echo);
  }
  if (r == 0) r = sio_server_listen(server, cfg.host, cfg.port);
  if (r != 0) {
    fprintf(stderr, "sio-contract: %s: %s\n", sio_err_name(r), sio_strerror(r));
    return 1;
  }
  printf("listening on http://%s:%d\n", cfg.host, sio_server_port(server));
  fflush(stdout);
  uv_signal_init(loop, &sigterm);
  uv_signal_start(&sigterm, on_signal, SIGTERM);
  uv_signal_init(loop, &sigint);
  uv_signal_start(&sigint, on_signal, SIGINT);
  uv_run(loop, UV_RUN_DEFAULT);
  uv_loop_close(loop);
  return 0;
}
