/* msgpack <-> cJSON as notepack.io does it (see msgpack_json.h). Built with msgpack-c only. */
#ifdef SIO_HAVE_MSGPACK

#include "adapter/msgpack_json.h"

#include <math.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "socketio/packet.h"
#include "utf8.h"

/* Deepest nesting read or written: a packet's data may nest SIO_PACKET_MAX_DEPTH deep, inside
 * the message's own two levels (the message and its packet). */
#define MAX_DEPTH (SIO_PACKET_MAX_DEPTH + 2)
/* The doubles that bound the integers msgpack writes: 2^64 (above uint64_t) and -2^63. */
#define UINT64_END 18446744073709551616.0
#define INT64_LOW (-9223372036854775808.0)

/* ---- writing ---- */

static int mpbuf_write(void *data, const char *buf, size_t len) {
  sio_mpbuf_t *b = data;
  if (!b->failed && msgpack_sbuffer_write(&b->sb, buf, len) != 0) b->failed = 1;
  return b->failed ? -1 : 0;
}

void sio__mpbuf_init(sio_mpbuf_t *b, msgpack_packer *pk) {
  msgpack_sbuffer_init(&b->sb);
  b->failed = 0;
  msgpack_packer_init(pk, b, mpbuf_write);
}

void sio__mpbuf_fail(msgpack_packer *pk) { ((sio_mpbuf_t *)pk->data)->failed = 1; }

/* Strings: C0 80 (how the core holds a NUL) goes back to a NUL byte on the wire. */
void sio__mp_pack_str(msgpack_packer *pk, const char *s) {
  size_t n = strlen(s);
  if (!memchr(s, 0xC0, n)) {
    msgpack_pack_str(pk, n);
    msgpack_pack_str_body(pk, s, n);
    return;
  }
  char *t = malloc(n ? n : 1);
  size_t m = 0;
  if (!t) { /* as held, C0 80 would name another room */
    sio__mpbuf_fail(pk);
    return;
  }
  for (size_t i = 0; i < n; i++) {
    if ((unsigned char)s[i] == 0xC0 && i + 1 < n && (unsigned char)s[i + 1] == 0x80) {
      t[m++] = '\0';
      i++;
    } else {
      t[m++] = s[i];
    }
  }
  msgpack_pack_str(pk, m);
  msgpack_pack_str_body(pk, t, m);
  free(t);
}

static void pack_json(msgpack_packer *pk, const cJSON *j, const sio_buf_t *bufs, size_t nbufs,
                      int depth) {
  size_t num;
  if (depth > MAX_DEPTH) {
    msgpack_pack_nil(pk);
  } else if (sio_packet_is_placeholder(j, &num) && num < nbufs) {
    /* Binary goes inline, at its place, as msgpack bin (no placeholders on this wire). */
    msgpack_pack_bin(pk, bufs[num].len);
    msgpack_pack_bin_body(pk, bufs[num].data, bufs[num].len);
  } else if (cJSON_IsTrue(j)) {
    msgpack_pack_true(pk);
  } else if (cJSON_IsFalse(j)) {
    msgpack_pack_false(pk);
  } else if (cJSON_IsNumber(j)) {
    double v = j->valuedouble;
    /* As notepack.io writes a JS number: an integral value in the smallest int form (msgpack-c
     * picks it; uint forms for >= 0, int forms below), anything else float64. */
    if (isfinite(v) && v == floor(v) && v >= 0 && v < UINT64_END)
      msgpack_pack_uint64(pk, (uint64_t)v);
    else if (isfinite(v) && v == floor(v) && v < 0 && v >= INT64_LOW)
      msgpack_pack_int64(pk, (int64_t)v);
    else
      msgpack_pack_double(pk, v);
  } else if (cJSON_IsString(j)) {
    sio__mp_pack_str(pk, j->valuestring);
  } else if (cJSON_IsArray(j)) {
    size_t n = 0;
    for (const cJSON *c = j->child; c; c = c->next) n++;
    msgpack_pack_array(pk, n);
    for (const cJSON *c = j->child; c; c = c->next) pack_json(pk, c, bufs, nbufs, depth + 1);
  } else if (cJSON_IsObject(j)) {
    size_t n = 0;
    for (const cJSON *c = j->child; c; c = c->next) n++;
    msgpack_pack_map(pk, n);
    for (const cJSON *c = j->child; c; c = c->next) {
      sio__mp_pack_str(pk, c->string ? c->string : "");
      pack_json(pk, c, bufs, nbufs, depth + 1);
    }
  } else {
    msgpack_pack_nil(pk);
  }
}

void sio__mp_pack_json(msgpack_packer *pk, const cJSON *j, const sio_buf_t *bufs, size_t nbufs) {
  pack_json(pk, j, bufs, nbufs, 0);
}

void sio__mp_pack_key(msgpack_packer *pk, const char *s) {
  size_t n = strlen(s);
  msgpack_pack_str(pk, n);
  msgpack_pack_str_body(pk, s, n);
}

void sio__mp_pack_strs(msgpack_packer *pk, const char *const *v, size_t n) {
  msgpack_pack_array(pk, n);
  for (size_t i = 0; i < n; i++) sio__mp_pack_str(pk, v[i]);
}

/* ---- reading ---- */

/* Every element takes at least one byte: a message whose counts promise more elements than it has
 * bytes left is refused before unpacking. Also checks that every length fits. */
int sio__mp_plausible(const unsigned char *p, size_t len) {
  size_t pos = 0;
  uint64_t pending = 1; /* items still to read */
  while (pending > 0) {
    if (pos >= len) return 0;
    unsigned b = p[pos++];
    uint64_t skip = 0, items = 0;
    size_t lenbytes = 0; /* a big-endian length of 1, 2 or 4 bytes follows */
    int kind = 0;        /* 1: skip bytes, 2: array items, 3: map pairs */
    pending--;
    if (b <= 0x7f || b >= 0xe0 || b == 0xc0 || b == 0xc2 || b == 0xc3) {
      /* a value in the type byte */
    } else if (b >= 0x80 && b <= 0x8f) {
      items = 2 * (uint64_t)(b & 0x0f);
    } else if (b >= 0x90 && b <= 0x9f) {
      items = b & 0x0f;
    } else if (b >= 0xa0 && b <= 0xbf) {
      skip = b & 0x1f;
    } else {
      switch (b) {
      case 0xc4: case 0xd9: lenbytes = 1, kind = 1; break;          /* bin8, str8 */
      case 0xc5: case 0xda: lenbytes = 2, kind = 1; break;          /* bin16, str16 */
      case 0xc6: case 0xdb: lenbytes = 4, kind = 1; break;          /* bin32, str32 */
      case 0xc7: lenbytes = 1, kind = 1, skip = 1; break;           /* ext8 (+ type) */
      case 0xc8: lenbytes = 2, kind = 1, skip = 1; break;           /* ext16 */
      case 0xc9: lenbytes = 4, kind = 1, skip = 1; break;           /* ext32 */
      case 0xca: skip = 4; break;
      case 0xcb: skip = 8; break;
      case 0xcc: case 0xd0: skip = 1; break;
      case 0xcd: case 0xd1: skip = 2; break;
      case 0xce: case 0xd2: skip = 4; break;
      case 0xcf: case 0xd3: skip = 8; break;
      case 0xd4: skip = 2; break;                                   /* fixext 1..16 (+ type) */
      case 0xd5: skip = 3; break;
      case 0xd6: skip = 5; break;
      case 0xd7: skip = 9; break;
      case 0xd8: skip = 17; break;
      case 0xdc: lenbytes = 2, kind = 2; break;                     /* array16 */
      case 0xdd: lenbytes = 4, kind = 2; break;                     /* array32 */
      case 0xde: lenbytes = 2, kind = 3; break;                     /* map16 */
      case 0xdf: lenbytes = 4, kind = 3; break;                     /* map32 */
      default: return 0;                                            /* 0xc1: never used */
      }
    }
    if (lenbytes) {
      if (len - pos < lenbytes) return 0;
      uint64_t n = 0;
      for (size_t i = 0; i < lenbytes; i++) n = n << 8 | p[pos++];
      if (kind == 1) skip += n;
      else items = kind == 2 ? n : 2 * n;
    }
    if (skip > len - pos) return 0;
    pos += (size_t)skip;
    pending += items;
    if (pending > len - pos) return 0; /* more elements promised than bytes left */
  }
  return 1;
}

static cJSON *string_json(const char *p, size_t n) {
  /* A NUL byte inside becomes C0 80, as the core holds it. */
  char *t = malloc(2 * n + 1);
  if (!t) return NULL;
  size_t m = 0;
  for (size_t i = 0; i < n; i++) {
    if (p[i] == '\0') {
      t[m++] = (char)0xC0;
      t[m++] = (char)0x80;
    } else {
      t[m++] = p[i];
    }
  }
  t[m] = '\0';
  cJSON *s = cJSON_CreateString(t);
  free(t);
  return s;
}

/* Adds item to obj as key, taking it: 0, or -1 (item freed) when item is NULL or the key could not
 * be copied. */
static int add_item(cJSON *obj, const char *key, cJSON *item) {
  if (item && cJSON_AddItemToObject(obj, key, item)) return 0;
  cJSON_Delete(item);
  return -1;
}

/* ---- extension types ----
 * notepack.io 2.x (socket.io-msgpack-parser 3's, and so the socket.io-client bundles') writes
 * undefined as fixext 1 type 0, a Date as fixext 8 type 0 (milliseconds, int32 high + uint32 low)
 * and an ArrayBuffer or typed array (a browser's binary) as ext 8/16/32 type 0; notepack 3 writes
 * a Date as msgpack's timestamp (type -1). msgpack-c does not say which ext form was used, but
 * its ext data points into the message: the byte two before it is the form when fixext. */

static uint64_t be(const unsigned char *p, size_t n) {
  uint64_t v = 0;
  for (size_t i = 0; i < n; i++) v = v << 8 | p[i];
  return v;
}

/* The time of a Date value in ms since the epoch, 1 and *ms set; 0 when o is not a Date. */
static int ext_date(const msgpack_object *o, double *ms) {
  const unsigned char *p = (const unsigned char *)o->via.ext.ptr;
  uint32_t n = o->via.ext.size;
  if (o->via.ext.type == 0 && n == 8 && p[-2] == 0xd7) {
    *ms = (double)(int32_t)(uint32_t)be(p, 4) * 4294967296.0 + (double)be(p + 4, 4);
    return 1;
  }
  if (o->via.ext.type != -1) return 0;
  if (n == 4) *ms = (double)be(p, 4) * 1e3;
  else if (n == 8) *ms = (double)(be(p, 8) & 0x3ffffffffULL) * 1e3 + (double)(be(p, 4) >> 2) / 1e6;
  else if (n == 12) *ms = (double)(int64_t)be(p + 4, 8) * 1e3 + (double)be(p, 4) / 1e6;
  else return 0;
  return 1;
}

int sio__mp_is_undefined(const msgpack_object *o) {
  return o && o->type == MSGPACK_OBJECT_EXT && o->via.ext.type == 0 && o->via.ext.size == 1 &&
         (unsigned char)o->via.ext.ptr[-2] == 0xd4;
}

/* A Date as JSON.stringify writes it (toISOString), or null when out of its 4-digit years. */
static cJSON *date_json(double ms) {
  double secs = floor(ms / 1e3);
  /* -62167219200 is 0000-01-01, 253402300800 is 10000-01-01 */
  if (!(secs >= -62167219200.0 && secs < 253402300800.0)) return cJSON_CreateNull();
  time_t t = (time_t)secs;
  struct tm tm;
  if (!gmtime_r(&t, &tm)) return cJSON_CreateNull();
  char buf[96]; /* room for any int the compiler imagines; the text is 24 bytes */
  snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
           tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(ms - secs * 1e3));
  return cJSON_CreateString(buf);
}

/* A binary value: a placeholder for a buffer appended to bufs. */
static cJSON *binary_json(const char *ptr, size_t size, sio_mp_bins_t *bufs) {
  if (!bufs || bufs->n >= SIO_PACKET_MAX_ATTACHMENTS) return NULL;
  if (bufs->n == bufs->cap) {
    size_t ncap = bufs->cap ? bufs->cap * 2 : 4;
    sio_buf_t *nv = realloc(bufs->v, ncap * sizeof *nv);
    if (!nv) return NULL;
    bufs->v = nv;
    bufs->cap = ncap;
  }
  bufs->v[bufs->n].data = ptr;
  bufs->v[bufs->n].len = size;
  return sio_packet_placeholder(bufs->n++);
}

static cJSON *ext_json(const msgpack_object *o, sio_mp_bins_t *bufs) {
  double ms;
  if (ext_date(o, &ms)) return date_json(ms);
  if (o->via.ext.type == 0 && !sio__mp_is_undefined(o))
    return binary_json(o->via.ext.ptr, o->via.ext.size, bufs);
  /* undefined, or a type no JS reader knows: null, as JSON.stringify writes undefined */
  return cJSON_CreateNull();
}

static cJSON *unpack(const msgpack_object *o, sio_mp_bins_t *bufs, int depth) {
  if (depth > MAX_DEPTH) return NULL;
  switch (o->type) {
  case MSGPACK_OBJECT_NIL:
    return cJSON_CreateNull();
  case MSGPACK_OBJECT_BOOLEAN:
    return cJSON_CreateBool(o->via.boolean);
  case MSGPACK_OBJECT_POSITIVE_INTEGER:
    return cJSON_CreateNumber((double)o->via.u64);
  case MSGPACK_OBJECT_NEGATIVE_INTEGER:
    return cJSON_CreateNumber((double)o->via.i64);
  case MSGPACK_OBJECT_FLOAT32:
  case MSGPACK_OBJECT_FLOAT64:
    return cJSON_CreateNumber(o->via.f64);
  case MSGPACK_OBJECT_STR:
    /* What a JS string can be (notepack writes a lone surrogate as its three bytes): the core's
     * strings are WTF-8, whatever the wire held. */
    if (!sio_wtf8_valid(o->via.str.ptr, o->via.str.size)) return NULL;
    return string_json(o->via.str.ptr, o->via.str.size);
  case MSGPACK_OBJECT_BIN:
    return binary_json(o->via.bin.ptr, o->via.bin.size, bufs);
  case MSGPACK_OBJECT_EXT:
    return ext_json(o, bufs);
  case MSGPACK_OBJECT_ARRAY: {
    cJSON *a = cJSON_CreateArray();
    for (uint32_t i = 0; a && i < o->via.array.size; i++) {
      cJSON *c = unpack(&o->via.array.ptr[i], bufs, depth + 1);
      if (!cJSON_AddItemToArray(a, c)) { /* a shorter array would shift the arguments */
        cJSON_Delete(c);
        cJSON_Delete(a);
        return NULL;
      }
    }
    return a;
  }
  case MSGPACK_OBJECT_MAP: {
    cJSON *m = cJSON_CreateObject();
    for (uint32_t i = 0; m && i < o->via.map.size; i++) {
      const msgpack_object_kv *kv = &o->via.map.ptr[i];
      /* JS object keys are strings; a key whose value is undefined is left out, as by
       * JSON.stringify */
      if (kv->key.type != MSGPACK_OBJECT_STR || sio__mp_is_undefined(&kv->val)) continue;
      if (!sio_wtf8_valid(kv->key.via.str.ptr, kv->key.via.str.size)) {
        cJSON_Delete(m);
        return NULL;
      }
      cJSON *k = string_json(kv->key.via.str.ptr, kv->key.via.str.size);
      int bad = !k || add_item(m, k->valuestring, unpack(&kv->val, bufs, depth + 1));
      cJSON_Delete(k);
      if (bad) {
        cJSON_Delete(m);
        return NULL;
      }
    }
    return m;
  }
  default:
    return cJSON_CreateNull();
  }
}

cJSON *sio__mp_to_json(const msgpack_object *o, sio_mp_bins_t *bins) { return unpack(o, bins, 0); }

const msgpack_object *sio__mp_get(const msgpack_object *m, const char *key) {
  if (m->type != MSGPACK_OBJECT_MAP) return NULL;
  size_t kl = strlen(key);
  for (uint32_t i = 0; i < m->via.map.size; i++) {
    const msgpack_object *k = &m->via.map.ptr[i].key;
    if (k->type == MSGPACK_OBJECT_STR && k->via.str.size == kl && memcmp(k->via.str.ptr, key, kl) == 0)
      return &m->via.map.ptr[i].val;
  }
  return NULL;
}

int sio__mp_str_eq(const msgpack_object *o, const char *s) {
  size_t n = strlen(s);
  return o && o->type == MSGPACK_OBJECT_STR && o->via.str.size == n && memcmp(o->via.str.ptr, s, n) == 0;
}

#endif /* SIO_HAVE_MSGPACK */
