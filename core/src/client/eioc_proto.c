#include "client/eioc_proto.h"

#include <cJSON.h>
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "sio.h"
#include "websocket/ws.h"

#define RESP(ll) ((sio_eioc_resp_t *)((char *)(ll) - offsetof(sio_eioc_resp_t, ll)))

/* The headers kept, by index into the table below. */
enum { H_CONTENT_TYPE, H_WS_ACCEPT, H_UPGRADE, H_COUNT };
static const char *const kept_names[H_COUNT] = {"content-type", "sec-websocket-accept", "upgrade"};

static char *kept_buf(sio_eioc_resp_t *r, int which, size_t *cap) {
  switch (which) {
  case H_CONTENT_TYPE: *cap = sizeof r->content_type; return r->content_type;
  case H_WS_ACCEPT: *cap = sizeof r->ws_accept; return r->ws_accept;
  default: *cap = sizeof r->upgrade_hdr; return r->upgrade_hdr;
  }
}

static int on_header_field(llhttp_t *ll, const char *at, size_t len) {
  sio_eioc_resp_t *r = RESP(ll);
  for (size_t i = 0; i < len && r->field_len < sizeof r->field - 1; i++)
    r->field[r->field_len++] = (char)tolower((unsigned char)at[i]);
  r->field[r->field_len] = '\0';
  return 0;
}

static int on_header_field_complete(llhttp_t *ll) {
  sio_eioc_resp_t *r = RESP(ll);
  r->cur = -1;
  for (int i = 0; i < H_COUNT; i++)
    if (strcmp(r->field, kept_names[i]) == 0) r->cur = i;
  if (r->cur >= 0) {
    size_t cap;
    kept_buf(r, r->cur, &cap)[0] = '\0'; /* a repeated header: the last one counts */
  }
  return 0;
}

static int on_header_value(llhttp_t *ll, const char *at, size_t len) {
  sio_eioc_resp_t *r = RESP(ll);
  if (r->cur < 0) return 0;
  size_t cap;
  char *b = kept_buf(r, r->cur, &cap);
  size_t have = strlen(b);
  size_t n = len < cap - 1 - have ? len : cap - 1 - have;
  memcpy(b + have, at, n);
  b[have + n] = '\0';
  return 0;
}

static int on_header_value_complete(llhttp_t *ll) {
  sio_eioc_resp_t *r = RESP(ll);
  if (r->cur >= 0) {
    size_t cap;
    char *b = kept_buf(r, r->cur, &cap);
    size_t n = strlen(b);
    while (n && (b[n - 1] == ' ' || b[n - 1] == '\t')) b[--n] = '\0';
  }
  r->cur = -1;
  r->field_len = 0;
  r->field[0] = '\0';
  return 0;
}

static int on_headers_complete(llhttp_t *ll) {
  sio_eioc_resp_t *r = RESP(ll);
  r->headers_done = 1;
  r->status = ll->status_code;
  /* A body announced past the bound is refused before any of it is read. */
  if ((ll->flags & F_CONTENT_LENGTH) && ll->content_length > r->max_body) {
    r->err = SIO_ETOOBIG;
    return -1;
  }
  return 0;
}

static int on_body(llhttp_t *ll, const char *at, size_t len) {
  sio_eioc_resp_t *r = RESP(ll);
  if (len > r->max_body - r->body.len) {
    r->err = SIO_ETOOBIG;
    return -1;
  }
  if (sio_sbuf_append(&r->body, at, len)) {
    r->err = SIO_ENOMEM;
    return -1;
  }
  return 0;
}

/* Pausing here makes llhttp stop right after the response, so the exact end is known and what
 * follows stays for the caller. */
static int on_message_complete(llhttp_t *ll) {
  sio_eioc_resp_t *r = RESP(ll);
  r->complete = 1;
  r->keep_alive = llhttp_should_keep_alive(ll);
  return ll->upgrade ? 0 : HPE_PAUSED;
}

static const llhttp_settings_t settings = {
    .on_header_field = on_header_field,
    .on_header_field_complete = on_header_field_complete,
    .on_header_value = on_header_value,
    .on_header_value_complete = on_header_value_complete,
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_message_complete = on_message_complete,
};

static void clear_fields(sio_eioc_resp_t *r) {
  r->head_bytes = 0;
  r->status = 0;
  r->complete = r->keep_alive = r->upgrade = r->headers_done = r->err = 0;
  r->cur = -1;
  r->field_len = 0;
  r->field[0] = r->content_type[0] = r->ws_accept[0] = r->upgrade_hdr[0] = '\0';
  r->body.len = 0;
}

void sio_eioc_resp_init(sio_eioc_resp_t *r, size_t max_body) {
  memset(r, 0, sizeof *r);
  r->max_body = max_body;
  llhttp_init(&r->ll, HTTP_RESPONSE, &settings);
  clear_fields(r);
}

void sio_eioc_resp_reset(sio_eioc_resp_t *r) {
  /* A big body's storage is not kept for the life of the connection. */
  if (r->body.cap > 65536) sio_sbuf_free(&r->body);
  llhttp_init(&r->ll, HTTP_RESPONSE, &settings);
  clear_fields(r);
}

void sio_eioc_resp_free(sio_eioc_resp_t *r) { sio_sbuf_free(&r->body); }

static int failed(sio_eioc_resp_t *r, int err) {
  if (!r->err) r->err = err;
  return r->err;
}

int sio_eioc_resp_feed(sio_eioc_resp_t *r, const char *data, size_t len, size_t *used) {
  *used = 0;
  if (r->err) return r->err;
  if (r->complete) return 1;
  size_t off = 0;
  while (off < len) {
    /* The head is fed at most up to the room left for it: an endless one fails at the bound. */
    int in_head = !r->headers_done;
    size_t n = len - off;
    if (in_head && n > SIO_EIOC_MAX_HEAD - r->head_bytes) n = SIO_EIOC_MAX_HEAD - r->head_bytes;
    llhttp_errno_t rc = llhttp_execute(&r->ll, data + off, n);
    if (rc == HPE_OK) {
      off += n;
      if (in_head && !r->headers_done) {
        r->head_bytes += n;
        if (r->head_bytes >= SIO_EIOC_MAX_HEAD) return failed(r, SIO_ETOOBIG);
      }
      continue;
    }
    const char *pos = llhttp_get_error_pos(&r->ll);
    size_t at = pos && pos >= data && pos <= data + len ? (size_t)(pos - data) : off + n;
    if (rc == HPE_PAUSED_UPGRADE) {
      r->complete = 1;
      r->upgrade = 1;
      *used = at;
      return 1;
    }
    if (rc == HPE_PAUSED && r->complete) {
      *used = at;
      return 1;
    }
    *used = at;
    return failed(r, r->err ? r->err : SIO_EPROTO);
  }
  *used = len;
  return 0;
}

int sio_eioc_resp_eof(sio_eioc_resp_t *r) {
  if (r->complete) return 1;
  if (r->err) return r->err;
  if (!r->headers_done) return failed(r, SIO_EPROTO);
  llhttp_errno_t rc = llhttp_finish(&r->ll);
  if ((rc == HPE_OK || rc == HPE_PAUSED) && r->complete) return 1;
  return failed(r, SIO_EPROTO);
}

/* ---------------------------------------------------------------------------------------------- */
/* The OPEN packet                                                                                 */

static int get_ms(const cJSON *o, const char *name, uint32_t *out) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
  if (!cJSON_IsNumber(v) || !(v->valuedouble > 0) || v->valuedouble > 2147483647.0)
    return SIO_EPARSE;
  *out = (uint32_t)v->valuedouble;
  return 0;
}

static int sid_ok(const char *s) {
  size_t n = strlen(s);
  if (n == 0 || n >= sizeof ((sio_eioc_open_t *)0)->sid) return 0;
  for (size_t i = 0; i < n; i++)
    if (s[i] <= ' ' || s[i] >= 127) return 0; /* printable ASCII; sent percent-encoded */
  return 1;
}

int sio_eioc_parse_open(const char *json, size_t len, sio_eioc_open_t *out) {
  memset(out, 0, sizeof *out);
  cJSON *o = cJSON_ParseWithLength(json, len);
  int r = SIO_EPARSE;
  if (!cJSON_IsObject(o)) goto done;
  const cJSON *sid = cJSON_GetObjectItemCaseSensitive(o, "sid");
  if (!cJSON_IsString(sid) || !sid_ok(sid->valuestring)) goto done;
  snprintf(out->sid, sizeof out->sid, "%s", sid->valuestring);
  if (get_ms(o, "pingInterval", &out->ping_interval) ||
      get_ms(o, "pingTimeout", &out->ping_timeout))
    goto done;
  const cJSON *mp = cJSON_GetObjectItemCaseSensitive(o, "maxPayload");
  if (cJSON_IsNumber(mp) && mp->valuedouble > 0 && mp->valuedouble < 9e15)
    out->max_payload = (uint64_t)mp->valuedouble;
  const cJSON *up = cJSON_GetObjectItemCaseSensitive(o, "upgrades");
  const cJSON *u;
  cJSON_ArrayForEach(u, up) {
    if (cJSON_IsString(u) && strcmp(u->valuestring, "websocket") == 0) out->upgrade_ws = 1;
  }
  r = 0;
done:
  cJSON_Delete(o);
  return r;
}

/* ---------------------------------------------------------------------------------------------- */
/* Requests                                                                                        */

/* Percent-encodes all but RFC 3986's unreserved characters (a sid is the server's choice). */
static int append_encoded(sio_sbuf_t *out, const char *s) {
  static const char hex[] = "0123456789ABCDEF";
  int r = 0;
  for (; *s && !r; s++) {
    unsigned char c = (unsigned char)*s;
    if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
        c == '_' || c == '.' || c == '~') {
      r = sio_sbuf_append_char(out, (char)c);
    } else {
      char e[3] = {'%', hex[c >> 4], hex[c & 15]};
      r = sio_sbuf_append(out, e, 3);
    }
  }
  return r;
}

int sio_eioc_target(sio_sbuf_t *out, const char *path, int eio, const char *transport,
                    const char *sid, const char *query) {
  int r = sio_sbuf_append_str(out, path);
  r = r ? r : sio_sbuf_append_str(out, strchr(path, '?') ? "&EIO=" : "?EIO=");
  r = r ? r : sio_sbuf_append_char(out, eio == 3 ? '3' : '4');
  r = r ? r : sio_sbuf_append_str(out, "&transport=");
  r = r ? r : sio_sbuf_append_str(out, transport);
  if (sid && !r) {
    r = sio_sbuf_append_str(out, "&sid=");
    r = r ? r : append_encoded(out, sid);
  }
  if (query && *query && !r) {
    r = sio_sbuf_append_char(out, '&');
    r = r ? r : sio_sbuf_append_str(out, query);
  }
  return r;
}

int sio_eioc_ws_accept_ok(const char *key, const char *accept) {
  char want[29];
  if (sio_ws_accept_key(key, strlen(key), want)) return 0;
  return strcmp(want, accept) == 0;
}
