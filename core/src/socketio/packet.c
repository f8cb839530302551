#include "packet.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "engine/engine.h"
#include "fail.h"
#include "json_parse.h"
#include "json_write.h"
#include "sio.h"

/* The namespace of most packets: shared, never allocated per packet. */
static char root_nsp[] = "/";

void sio_packet_clear(sio_packet_t *p) {
  if (!p) return;
  if (p->nsp != root_nsp) free(p->nsp);
  if (p->data) cJSON_Delete(p->data);
  if (p->attachments) {
    size_t borrowed = (size_t)p->last_borrowed < p->attachment_count ? (size_t)p->last_borrowed
                                                                        : p->attachment_count;
    size_t owned = p->attachment_count - borrowed;
    for (size_t i = 0; i < owned; i++) free(p->attachments[i].data);
    free(p->attachments);
  }
  memset(p, 0, sizeof *p);
}

/* ---- placeholders ---- */

int sio_packet_is_placeholder(const cJSON *item, size_t *num) {
  if (!cJSON_IsObject(item)) return 0;
  const cJSON *flag = cJSON_GetObjectItemCaseSensitive(item, "_placeholder");
  if (!cJSON_IsTrue(flag)) return 0;
  const cJSON *n = cJSON_GetObjectItemCaseSensitive(item, "num");
  if (!cJSON_IsNumber(n)) return 0;
  double d = n->valuedouble;
  /* A non-negative integer small enough to be exact in a double (and in a size_t). */
  if (!(d >= 0 && d <= 9007199254740991.0) || floor(d) != d) return 0;
  if (num) *num = (size_t)d;
  return 1;
}

static size_t count_placeholders(const cJSON *item, int depth) {
  if (depth > SIO_PACKET_MAX_DEPTH) return 0;
  if (sio_packet_is_placeholder(item, NULL)) return 1;
  size_t n = 0;
  if (cJSON_IsArray(item) || cJSON_IsObject(item)) {
    for (const cJSON *c = item->child; c; c = c->next) n += count_placeholders(c, depth + 1);
  }
  return n;
}

size_t sio_packet_count_placeholders(const cJSON *item) {
  if (!item) return 0;
  return count_placeholders(item, 1);
}

cJSON *sio_packet_placeholder(size_t num) {
  cJSON *o = cJSON_CreateObject();
  if (!o) return NULL;
  if (!cJSON_AddTrueToObject(o, "_placeholder") ||
      !cJSON_AddNumberToObject(o, "num", (double)num)) {
    cJSON_Delete(o);
    return NULL;
  }
  return o;
}

/* ---- decoding ---- */

/* Walks the tree: containers nest at most SIO_PACKET_MAX_DEPTH deep (the top-level container is
 * depth 1), and in a BINARY_* packet every object flagged "_placeholder": true must be a valid
 * placeholder for one of the announced attachments. cJSON itself stops at CJSON_NESTING_LIMIT, so
 * this recursion is bounded even before our own check. */
int sio__packet_check_tree(const cJSON *item, int depth, int binary, size_t count) {
  if (!cJSON_IsArray(item) && !cJSON_IsObject(item)) return 0;
  if (depth > SIO_PACKET_MAX_DEPTH) return SIO_EPARSE;
  if (binary && cJSON_IsObject(item) &&
      cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(item, "_placeholder"))) {
    size_t num;
    if (!sio_packet_is_placeholder(item, &num) || num >= count) return SIO_EPARSE;
  }
  for (const cJSON *c = item->child; c; c = c->next) {
    int r = sio__packet_check_tree(c, depth + 1, binary, count);
    if (r) return r;
  }
  return 0;
}


int sio__packet_payload_valid(int type, const cJSON *data) {
  switch (type) {
    case SIO_PACKET_CONNECT:
      return data == NULL || cJSON_IsObject(data);
    case SIO_PACKET_DISCONNECT:
      return data == NULL;
    case SIO_PACKET_CONNECT_ERROR:
      return cJSON_IsString(data) || cJSON_IsObject(data);
    case SIO_PACKET_EVENT:
    case SIO_PACKET_BINARY_EVENT:
      /* As socket.io-parser: a name that is a number, or a string other than the reserved ones.
       * Not an infinite number ("2[1e400]"): JSON has no text for it, it would go out as null. */
      if (!cJSON_IsArray(data)) return 0;
      if (cJSON_IsNumber(data->child)) return isfinite(data->child->valuedouble);
      return cJSON_IsString(data->child) && !sio_event_reserved(data->child->valuestring, 0);
    case SIO_PACKET_ACK:
    case SIO_PACKET_BINARY_ACK:
      return cJSON_IsArray(data);
    default:
      return 0;
  }
}

static int is_digit(char c) { return c >= '0' && c <= '9'; }

int sio_packet_decode(const char *data, size_t len, sio_packet_t *out) {
  memset(out, 0, sizeof *out);
  out->id = -1;
  if (!data || len == 0) goto parse_error;
  /* A NUL byte cannot live in a C-string namespace nor in cJSON's strings: refused where the
   * namespace is read, and by sio_json_parse (which looks at every byte) in the rest, rather than
   * by a pass of its own over a 100 KB text. The type and the id are digits. */
  size_t i = 0;
  if (data[0] < '0' || data[0] > '6') goto parse_error;
  out->type = data[0] - '0';
  i = 1;

  int binary = out->type == SIO_PACKET_BINARY_EVENT || out->type == SIO_PACKET_BINARY_ACK;
  if (binary) {
    size_t count = 0, start = i;
    while (i < len && is_digit(data[i])) {
      count = count * 10 + (size_t)(data[i] - '0');
      if (count > SIO_PACKET_MAX_ATTACHMENTS) goto parse_error;
      i++;
    }
    /* At least one: a binary packet without attachments is refused, as socket.io-parser does. */
    if (i == start || i >= len || data[i] != '-' || count == 0) goto parse_error;
    i++;
    out->attachment_count = count;
  }

  size_t nsp_start = i, nsp_len = 0;
  if (i < len && data[i] == '/') {
    while (i < len && data[i] != ',') {
      if (data[i] == '\0') goto parse_error;
      i++;
    }
    nsp_len = i - nsp_start;
    if (i < len) i++; /* the ',' */
  }
  if (nsp_len) {
    out->nsp = malloc(nsp_len + 1);
    if (!out->nsp) goto nomem;
    memcpy(out->nsp, data + nsp_start, nsp_len);
    out->nsp[nsp_len] = '\0';
  } else {
    out->nsp = root_nsp;
  }

  if (i < len && is_digit(data[i])) {
    int64_t id = 0;
    while (i < len && is_digit(data[i])) {
      int d = data[i] - '0';
      if (id > (INT64_MAX - d) / 10) goto parse_error;
      id = id * 10 + d;
      i++;
    }
    out->id = id;
  }

  if (i < len) {
    int r = sio_json_parse(data + i, len - i, &out->data);
    if (r == SIO_ENOMEM) goto nomem;
    if (r) goto parse_error;
    if (sio__packet_check_tree(out->data, 1, binary, out->attachment_count)) goto parse_error;
  }

  if (!sio__packet_payload_valid(out->type, out->data)) goto parse_error;

  if (out->attachment_count) {
    out->attachments = calloc(out->attachment_count, sizeof *out->attachments);
    if (!out->attachments) goto nomem;
  }
  return 0;

parse_error:
  sio_packet_clear(out);
  return SIO_EPARSE;
nomem:
  sio_packet_clear(out);
  return SIO_ENOMEM;
}

void sio_packet_decoder_init(sio_packet_decoder_t *d) {
  memset(d, 0, sizeof *d);
  d->max_attachments = SIO_PACKET_MAX_ATTACHMENTS;
}

void sio_packet_decoder_free(sio_packet_decoder_t *d) {
  sio_packet_clear(&d->pending);
  d->received = 0;
  d->waiting = 0;
}

int sio_packet_decoder_feed(sio_packet_decoder_t *d, const char *data, size_t len, int binary,
                            sio_packet_t *out) {
  memset(out, 0, sizeof *out);
  out->id = -1;
  if (!binary) {
    if (d->waiting) {
      sio_packet_decoder_free(d);
      return SIO_EPARSE;
    }
    sio_packet_t p;
    int r = sio_packet_decode(data, len, &p);
    if (r) return r;
    if (p.attachment_count == 0) {
      *out = p;
      return 1;
    }
    if (p.attachment_count > d->max_attachments) {
      sio_packet_clear(&p);
      return SIO_EPARSE;
    }
    d->pending = p;
    d->received = 0;
    d->waiting = 1;
    return 0;
  }

  if (!d->waiting) {
    sio_packet_decoder_free(d);
    return SIO_EPARSE;
  }
  sio_attachment_t *a = &d->pending.attachments[d->received];
  a->len = len;
  if (d->received + 1 == d->pending.attachment_count) {
    /* The packet is complete now: its last buffer is used before `data` goes away, no copy. */
    a->data = (char *)data;
    d->pending.last_borrowed = 1;
    d->received = 0;
    d->waiting = 0;
    *out = d->pending;
    memset(&d->pending, 0, sizeof d->pending);
    return 1;
  }
  a->data = malloc(len ? len : 1);
  if (!a->data) {
    sio_packet_decoder_free(d);
    return SIO_ENOMEM;
  }
  if (len) memcpy(a->data, data, len);
  if (++d->received < d->pending.attachment_count) return 0;
  *out = d->pending;
  memset(&d->pending, 0, sizeof d->pending);
  d->received = 0;
  d->waiting = 0;
  return 1;
}

/* ---- encoding ---- */

int sio_packet_encode(const sio_packet_t *p, sio_sbuf_t *out) {
  if (!p || !out) return SIO_EINVAL;
  if (p->type < SIO_PACKET_CONNECT || p->type > SIO_PACKET_BINARY_ACK) return SIO_EINVAL;
  int binary = p->type == SIO_PACKET_BINARY_EVENT || p->type == SIO_PACKET_BINARY_ACK;
  if (p->attachment_count > 0 && !binary) return SIO_EINVAL;
  if (binary && p->attachment_count == 0) return SIO_EINVAL; /* "50-" does not decode */
  if (p->attachment_count > SIO_PACKET_MAX_ATTACHMENTS) return SIO_EINVAL;
  const char *nsp = p->nsp ? p->nsp : "/";
  /* The namespace must read back as one: it starts with '/' and holds no ','. */
  if (nsp[0] != '/' || strchr(nsp, ',')) return SIO_EINVAL;
  int with_nsp = strcmp(nsp, "/") != 0;
  /* A payload the decoder would refuse could not be read back (e.g. a number after an id). */
  if (!sio__packet_payload_valid(p->type, p->data)) return SIO_EINVAL;

  size_t mark = out->len;
  int r = sio_sbuf_append_char(out, (char)('0' + p->type));
  if (!r && binary) {
    r = sio_sbuf_append_u64(out, p->attachment_count);
    if (!r) r = sio_sbuf_append_char(out, '-');
  }
  if (!r && with_nsp) {
    r = sio_sbuf_append_str(out, nsp);
    if (!r) r = sio_sbuf_append_char(out, ',');
  }
  if (!r && p->id >= 0) r = sio_sbuf_append_u64(out, (uint64_t)p->id);
  /* Written straight into `out`: no intermediate text, no allocation but out's growth. One level
   * deeper than the decoder accepts: the bindings take argument values SIO_PACKET_MAX_DEPTH deep,
   * and an EVENT/ACK array holds them. */
  if (!r && p->data) r = sio_json_write(out, p->data, SIO_PACKET_MAX_DEPTH + 1);
  if (r) out->len = mark;
  return r;
}

/* ---- messages ---- */

void sio__encoded_no_compress(const sio_encoded_t *e) {
  if (e->text) sio__msg_set_compress(e->text, 0);
  for (size_t i = 0; i < e->natts; i++) sio__msg_set_compress(e->atts[i], 0);
}

void sio__encoded_clear(sio_encoded_t *e) {
  sio_msg_unref(e->text);
  for (size_t i = 0; i < e->natts; i++) sio_msg_unref(e->atts[i]);
  free(e->atts);
  memset(e, 0, sizeof *e);
}

/* About the length of item's JSON text, so that the buffer it is written to is allocated once
 * (strings written as they are, the common case, are counted exactly). */
static size_t size_hint(const cJSON *item, int depth) {
  if (!item) return 0;
  size_t n = 24; /* a number, a literal, the punctuation */
  if (item->string) n += strlen(item->string) + 3;
  if (cJSON_IsString(item) && item->valuestring) n += strlen(item->valuestring);
  if (depth < SIO_PACKET_MAX_DEPTH)
    for (const cJSON *c = item->child; c; c = c->next) n += size_hint(c, depth + 1);
  return n;
}

int sio__encode(const sio_packet_t *p, const sio_buf_t *bufs, int parser, sio_encoded_t *out) {
  memset(out, 0, sizeof *out);
#ifdef SIO_HAVE_MSGPACK
  if (parser == SIO_PARSER_MSGPACK) return sio__encode_msgpack(p, bufs, out);
#else
  (void)parser; /* sio_io_new() refuses the msgpack parser without msgpack-c */
#endif
  /* Encoded straight into the message's storage (sio__msg_adopt): no copy of the text after. */
  sio_sbuf_t b = SIO_SBUF_INIT;
  int r = sio__msg_begin(&b, 64 + size_hint(p->data, 0));
  if (!r) r = sio_packet_encode(p, &b);
  if (!r) out->text = sio__msg_adopt(&b, 0);
  sio_sbuf_free(&b);
  if (r == SIO_EINVAL)
    return sio__fail(r, "a value nested deeper than %d levels, or of no JSON type", SIO_MAX_DEPTH);
  if (r) return r;
  if (!out->text) return SIO_ENOMEM;
  if (p->attachment_count) {
    out->atts = calloc(p->attachment_count, sizeof *out->atts);
    if (!out->atts) {
      sio__encoded_clear(out);
      return SIO_ENOMEM;
    }
    for (size_t i = 0; i < p->attachment_count; i++) {
      out->atts[i] = sio_msg_new(bufs[i].data, bufs[i].len, 1);
      if (!out->atts[i]) {
        sio__encoded_clear(out);
        return SIO_ENOMEM;
      }
      out->natts = i + 1;
    }
  }
  return 0;
}
