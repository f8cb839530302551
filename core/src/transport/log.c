/* The server's log sink: the default (stderr, the lines sio has always written) and the formatting
 * behind SIO_LOG. The sink itself is a field of the server (server.c). */
#include "transport/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "transport/transport.h"

const char *sio_log_level_name(int level) {
  switch (level) {
    case SIO_LOG_ERROR: return "error";
    case SIO_LOG_WARN: return "warn";
    case SIO_LOG_INFO: return "info";
    case SIO_LOG_DEBUG: return "debug";
    default: return "unknown";
  }
}

void sio_log_stderr(sio_server_t *server, int level, const char *component, const char *message,
                    void *arg) {
  (void)server, (void)level, (void)arg;
  char line[1200];
  int n = snprintf(line, sizeof line, "sio: %s: %s\n", component, message);
  if (n < 0) return;
  if ((size_t)n >= sizeof line) { /* cut: still one line */
    n = sizeof line - 1;
    line[n - 1] = '\n';
  }
  /* One write: lines of several threads' servers never interleave mid-way. */
  ssize_t w = write(STDERR_FILENO, line, (size_t)n);
  (void)w;
}

void sio__log(sio_server_t *server, int level, const char *component, const char *fmt, ...) {
  sio_log_cb cb;
  void *arg;
  sio__server_log_sink(server, &cb, &arg);
  if (!cb) return;
  char msg[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  for (char *p = msg; *p; p++) /* one line, whatever a client sent (a namespace name, a URL) */
    if ((unsigned char)*p < 0x20 || *p == 0x7f) *p = '?';
  cb(server, level, component, msg, arg);
}
