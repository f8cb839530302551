/* The rules a language binding follows for values, kept here once (sio.h, "values, for bindings"):
 * strings in the core's form, which numbers are integers, reserved event names, placeholders. */
#include <stdint.h>
#include <string.h>

#include "fail.h"
#include "sio.h"
#include "socketio/packet.h"
#include "utf8.h"

const sio_buf_t *sio_args_attachment(const sio_args_t *a, const cJSON *item) {
  size_t num;
  if (!a || !a->bufs || !sio_packet_is_placeholder(item, &num) || num >= a->nbufs) return NULL;
  return &a->bufs[num];
}

cJSON *sio_args_placeholder(size_t num) { return sio_packet_placeholder(num); }

/* NUL is a character here, and C0 80 (what the core makes of it) never valid text. */
int sio_str_valid(const char *text, size_t len) { return sio_wtf8_valid(text, len); }

size_t sio_str_core_len(const char *text, size_t len) {
  size_t n = len;
  for (const char *p = text; (p = memchr(p, '\0', len - (size_t)(p - text))) != NULL; p++) n++;
  return n;
}

size_t sio_str_to_core(const char *text, size_t len, char *out) {
  size_t o = 0;
  for (size_t i = 0; i < len; i++) {
    if (text[i] == '\0') {
      out[o++] = (char)0xC0;
      out[o++] = (char)0x80;
    } else {
      out[o++] = text[i];
    }
  }
  out[o] = '\0';
  return o;
}

size_t sio_str_from_core(const char *core, char *out) {
  size_t o = 0;
  for (const char *p = core; *p; p++) {
    if ((unsigned char)p[0] == 0xC0 && (unsigned char)p[1] == 0x80) {
      out[o++] = '\0';
      p++;
    } else {
      out[o++] = *p;
    }
  }
  return o;
}

int sio_number_is_int(double d) {
  /* The range first: a double beyond int64_t's cast to it is undefined behaviour. */
  return d >= -9007199254740992.0 && d <= 9007199254740992.0 && (double)(int64_t)d == d;
}

int sio_event_reserved(const char *name, int server_side) {
  static const char *const socket_events[] = {"connect",       "connect_error", "disconnect",
                                              "disconnecting", "newListener",   "removeListener"};
  static const char *const server_events[] = {"connect", "connection", "new_namespace"};
  const char *const *list = server_side ? server_events : socket_events;
  size_t n = server_side ? sizeof server_events / sizeof *server_events
                         : sizeof socket_events / sizeof *socket_events;
  for (size_t i = 0; i < n; i++)
    if (strcmp(name, list[i]) == 0) return 1;
  return 0;
}
