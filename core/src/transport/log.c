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
    case SIO_LOG_TRACE: return "trace";
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

static void log_v(sio_server_t *server, int level, const char *component, const char *fmt,
                  va_list ap) {
  sio_log_cb cb;
  void *arg;
  sio__server_log_sink(server, &cb, &arg);
  if (!cb) return;
  char msg[1024];
  vsnprintf(msg, sizeof msg, fmt, ap);
  for (char *p = msg; *p; p++) /* one line, whatever a client sent (a namespace name, a URL) */
    if ((unsigned char)*p < 0x20 || *p == 0x7f) *p = '?';
  cb(server, level, component, msg, arg);
}

void sio__log(sio_server_t *server, int level, const char *component, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  log_v(server, level, component, fmt, ap);
  va_end(ap);
}

void sio__debug(sio_server_t *server, unsigned cat, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  log_v(server, SIO_LOG_TRACE, sio_debug_category_name(cat), fmt, ap);
  va_end(ap);
}

/* ---- SIO_DEBUG's categories ---- */

static const char *const category_names[] = {"engine", "socket", "nsp", "adapter", "redis", "http"};
#define NCATEGORIES (sizeof category_names / sizeof category_names[0])

const char *sio_debug_category_name(unsigned cat) {
  for (size_t i = 0; i < NCATEGORIES; i++)
    if (cat == 1u << i) return category_names[i];
  return "unknown";
}

/* One item of the list: a category, "*"/"all", or one of Node's debug namespaces (the DEBUG
 * variable's: "engine*" and "socket.io*" with what follows them), mapped to ours. */
static int category_bits(const char *item, size_t n, unsigned *bits) {
  for (size_t i = 0; i < NCATEGORIES; i++)
    if (strlen(category_names[i]) == n && !strncmp(item, category_names[i], n)) {
      *bits = 1u << i;
      return 0;
    }
  if ((n == 1 && item[0] == '*') || (n == 3 && !strncmp(item, "all", 3))) {
    *bits = SIO_DEBUG_ALL;
    return 0;
  }
  if (n >= 6 && !strncmp(item, "engine", 6) && (n == 6 || item[6] == ':' || item[6] == '*')) {
    *bits = SIO_DEBUG_ENGINE | SIO_DEBUG_HTTP; /* engine, engine:*, engine:socket ... */
    return 0;
  }
  if (n >= 9 && !strncmp(item, "socket.io", 9)) {
    const char *rest = item + 9;
    size_t m = n - 9;
    if (m == 0 || (m == 1 && rest[0] == '*') || (m == 2 && !strncmp(rest, ":*", 2)))
      *bits = SIO_DEBUG_SOCKET | SIO_DEBUG_NSP | SIO_DEBUG_ADAPTER | SIO_DEBUG_REDIS;
    else if (m == 7 && !strncmp(rest, ":socket", 7)) *bits = SIO_DEBUG_SOCKET;
    else if (m == 7 && !strncmp(rest, ":client", 7)) *bits = SIO_DEBUG_SOCKET;
    else if (m == 10 && !strncmp(rest, ":namespace", 10)) *bits = SIO_DEBUG_NSP;
    else if (m == 7 && !strncmp(rest, ":server", 7)) *bits = SIO_DEBUG_NSP;
    else if (m >= 8 && !strncmp(rest, "-adapter", 8)) *bits = SIO_DEBUG_ADAPTER;
    else if (m >= 6 && !strncmp(rest, "-redis", 6)) *bits = SIO_DEBUG_REDIS;
    else return SIO_EINVAL;
    return 0;
  }
  return SIO_EINVAL;
}

int sio_debug_parse(const char *spec, unsigned *mask) {
  unsigned m = 0;
  if (!mask) return SIO_EINVAL;
  for (const char *p = spec ? spec : ""; *p;) {
    while (*p == ',' || *p == ' ') p++;
    const char *start = p;
    while (*p && *p != ',' && *p != ' ') p++;
    if (p == start) continue;
    unsigned bits;
    if (category_bits(start, (size_t)(p - start), &bits)) return SIO_EINVAL;
    m |= bits;
  }
  *mask = m;
  return 0;
}
