/* sio's Socket.IO client in a few lines: connects to a server (the contract server by default:
 * examples/contract/run c), emits "echo" with an ack N times in a row, prints the last answer.
 *   sio-client-echo [URL] [N]      URL default http://127.0.0.1:3000, N default 1 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>

#include "sio_client.h"

static long left;

static void on_answer(sio_csocket_t *s, int status, const sio_args_t *args, void *arg) {
  if (status != 0) {
    fprintf(stderr, "echo: %s\n", sio_strerror(status));
    sio_manager_close(sio_csocket_manager(s), NULL);
    return;
  }
  if (--left > 0) { /* the next one, from the answer: one round trip each */
    sio_csocket_emit_ack(s, "echo", arg, 0, 5000, on_answer, arg);
    return;
  }
  char *text = cJSON_PrintUnformatted(args->json);
  printf("answer: %s\n", text);
  free(text);
  sio_manager_close(sio_csocket_manager(s), NULL); /* the socket disconnects, the manager goes */
}

static void on_connect(sio_csocket_t *s) {
  printf("connected as %s\n", sio_csocket_id(s));
  sio_csocket_emit_ack(s, "echo", sio_csocket_get_data(s), 0, 5000, on_answer, sio_csocket_get_data(s));
}

static void on_connect_error(sio_csocket_t *s, const char *message, const cJSON *data) {
  fprintf(stderr, "connect error: %s\n", message); /* the manager retries with backoff */
}

int main(int argc, char **argv) {
  signal(SIGPIPE, SIG_IGN); /* a server gone mid-write is an error to handle, not a kill */
  left = argc > 2 ? atol(argv[2]) : 1;
  cJSON *json = cJSON_Parse("[\"hello\", {\"n\": 1}]");
  sio_args_t args = {json, NULL, 0};
  sio_manager_t *m;
  sio_csocket_t *s;
  sio_csocket_callbacks_t cbs = {.on_connect = on_connect, .on_connect_error = on_connect_error};
  int r = sio_manager_new(uv_default_loop(), argc > 1 ? argv[1] : "http://127.0.0.1:3000", NULL,
                          NULL, &m);
  if (r || (r = sio_csocket_new(m, "/", NULL, &cbs, &s)) != 0) {
    fprintf(stderr, "%s: %s\n", sio_strerror(r), sio_last_error());
    return 1;
  }
  sio_csocket_set_data(s, &args);
  sio_csocket_connect(s);
  uv_run(uv_default_loop(), UV_RUN_DEFAULT);
  cJSON_Delete(json);
  return 0;
}
