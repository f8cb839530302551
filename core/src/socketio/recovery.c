/* Connection state recovery's store: kept packets in a ring indexed by offset, sessions in a map
 * by pid and a list by age. See recovery.h. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/engine.h"
#include "map.h"
#include "socketio/recovery.h"

/* What one kept packet or session costs besides its payload, as measured with glibc's mallinfo2
 * (so that the byte cap is close to the heap held): a packet's message header and buffer (~140 B)
 * and its ring slot (56 B, up to twice that before the ring shrinks); a session's struct, map slot
 * and allocator headers. A JSON value of the data costs a cJSON node and its key (~96 B) besides
 * its text. */
enum { PACKET_OVERHEAD = 256, SESSION_OVERHEAD = 192, JSON_NODE = 96 };

static size_t json_nodes(const cJSON *j) {
  size_t n = 1;
  for (const cJSON *c = j->child; c; c = c->next) n += json_nodes(c);
  return n;
}

typedef struct kept {
  uint64_t at;
  size_t bytes;
  sio_encoded_t enc;
  char **rooms; /* nrooms targets then nexcept exclusions, one block with their text; NULL: none */
  uint32_t nrooms, nexcept;
} kept_t;

typedef struct sess {
  struct sess *next, *prev; /* by age, oldest first */
  uint64_t at;
  size_t bytes;
  char *sid, *pid;
  char **rooms; /* one block with the text of sid, pid and the rooms */
  size_t nrooms;
  cJSON *data;
} sess_t;

struct sio_recovery {
  uint64_t max_age;
  size_t max_bytes, bytes;
  kept_t *ring; /* cap slots, a power of two; packet `seq` at ring[seq & (cap - 1)] */
  size_t cap, len;
  uint64_t first; /* the oldest kept packet's seq; first + len is the next offset */
  sio_map_t by_pid;
  sess_t *head, *tail;
  size_t nsessions, session_bytes;
};

sio_recovery_t *sio__recovery_new(uint64_t max_age_ms, size_t max_bytes) {
  sio_recovery_t *r = calloc(1, sizeof *r);
  if (!r) return NULL;
  r->max_age = max_age_ms;
  r->max_bytes = max_bytes;
  return r;
}

/* ---- packets ---- */

static void drop_packet(sio_recovery_t *r) {
  kept_t *k = &r->ring[r->first & (r->cap - 1)];
  sio__encoded_clear(&k->enc);
  free(k->rooms);
  r->bytes -= k->bytes;
  r->first++;
  r->len--;
}

/* Moves the ring into ncap slots (at least len). */
static int ring_resize(sio_recovery_t *r, size_t ncap) {
  kept_t *n = malloc(ncap * sizeof *n);
  if (!n) return SIO_ENOMEM;
  for (size_t i = 0; i < r->len; i++) {
    uint64_t seq = r->first + i;
    n[seq & (ncap - 1)] = r->ring[seq & (r->cap - 1)];
  }
  free(r->ring);
  r->ring = n;
  r->cap = ncap;
  return 0;
}

static int ring_grow(sio_recovery_t *r) { return ring_resize(r, r->cap ? r->cap * 2 : 64); }

/* After a burst has expired or been dropped, the ring gives its slots back (a quarter full). */
static void ring_shrink(sio_recovery_t *r) {
  if (r->cap > 64 && r->len < r->cap / 4) ring_resize(r, r->cap / 2);
}

/* The rooms as one block: the pointer array, then the strings. */
static char **copy_rooms(const char *const *a, size_t na, const char *const *b, size_t nb,
                         size_t *bytes) {
  size_t n = na + nb, sz = n * sizeof(char *);
  for (size_t i = 0; i < na; i++) sz += strlen(a[i]) + 1;
  for (size_t i = 0; i < nb; i++) sz += strlen(b[i]) + 1;
  char **v = malloc(sz);
  if (!v) return NULL;
  char *p = (char *)(v + n);
  for (size_t i = 0; i < n; i++) {
    const char *s = i < na ? a[i] : b[i - na];
    size_t l = strlen(s) + 1;
    memcpy(p, s, l);
    v[i] = p;
    p += l;
  }
  *bytes = sz;
  return v;
}

static void enforce_cap(sio_recovery_t *r);

void sio__recovery_next_offset(const sio_recovery_t *r, char buf[SIO_OFFSET_MAX]) {
  snprintf(buf, SIO_OFFSET_MAX, "%" PRIu64, r->first + r->len);
}

int sio__recovery_keep(sio_recovery_t *r, uint64_t now, const sio_target_t *to, const char *room,
                       const sio_encoded_t *enc) {
  sio__recovery_expire(r, now);
  if (r->len == r->cap && ring_grow(r)) {
    if (!r->len) return SIO_ENOMEM; /* no ring at all: the offset handed out is taken again */
    drop_packet(r);                 /* the oldest makes room */
  }
  /* Whatever fails below, the offset stays taken by an entry that is never replayed (its
   * text NULL), so that offsets and ring slots stay in step. */
  kept_t k = {now, PACKET_OVERHEAD, {NULL, NULL, 0}, NULL, 0, 0};
  int targeted = room || (to && (to->nrooms || to->nexcept)), r_ = 0;
  size_t rb = 0;
  if (room) {
    k.rooms = copy_rooms(&room, 1, NULL, 0, &rb);
    k.nrooms = 1;
  } else if (targeted) {
    k.rooms = copy_rooms(to->rooms, to->nrooms, to->except, to->nexcept, &rb);
    k.nrooms = (uint32_t)to->nrooms;
    k.nexcept = (uint32_t)to->nexcept;
  }
  k.enc.atts = enc->natts ? malloc(enc->natts * sizeof *k.enc.atts) : NULL;
  if ((targeted && !k.rooms) || (enc->natts && !k.enc.atts)) {
    free(k.rooms);
    free(k.enc.atts);
    k.rooms = NULL;
    k.enc.atts = NULL;
    k.nrooms = k.nexcept = 0;
    r_ = SIO_ENOMEM;
  } else {
    k.enc.text = sio_msg_ref(enc->text);
    k.bytes += rb + sio__msg_len(enc->text);
    for (size_t i = 0; i < enc->natts; i++) {
      k.enc.atts[i] = sio_msg_ref(enc->atts[i]);
      k.bytes += sizeof(void *) + sio__msg_len(enc->atts[i]);
    }
    k.enc.natts = enc->natts;
  }
  r->ring[(r->first + r->len) & (r->cap - 1)] = k;
  r->len++;
  r->bytes += k.bytes;
  enforce_cap(r);
  return r_;
}

/* ---- sessions ---- */

static void unlink_session(sio_recovery_t *r, sess_t *s) {
  if (s->prev) s->prev->next = s->next;
  else r->head = s->next;
  if (s->next) s->next->prev = s->prev;
  else r->tail = s->prev;
  sio_map_del(&r->by_pid, s->pid);
  r->nsessions--;
  r->session_bytes -= s->bytes;
  r->bytes -= s->bytes;
}

static void drop_session(sio_recovery_t *r, sess_t *s) {
  unlink_session(r, s);
  cJSON_Delete(s->data);
  free(s->rooms);
  free(s);
}

int sio__recovery_persist(sio_recovery_t *r, uint64_t now, const char *sid, const char *pid,
                          const char *const *rooms, size_t nrooms, cJSON *data) {
  sio__recovery_expire(r, now);
  sess_t *old = sio_map_get(&r->by_pid, pid);
  if (old) drop_session(r, old);
  sess_t *s = calloc(1, sizeof *s);
  const char *ids[2] = {sid, pid};
  size_t rb = 0;
  char **block = s ? copy_rooms(ids, 2, rooms, nrooms, &rb) : NULL;
  if (!data) data = cJSON_CreateObject();
  if (!block || !data || sio_map_put(&r->by_pid, block[1], s)) {
    free(block);
    free(s);
    cJSON_Delete(data);
    return SIO_ENOMEM;
  }
  s->sid = block[0];
  s->pid = block[1];
  s->rooms = block;
  s->nrooms = nrooms;
  s->data = data;
  s->at = now;
  /* The data as the cJSON tree it is: its nodes and its text. */
  char *txt = cJSON_PrintUnformatted(data);
  s->bytes = SESSION_OVERHEAD + rb + JSON_NODE * json_nodes(data) + (txt ? strlen(txt) : 0);
  free(txt);
  s->prev = r->tail;
  if (r->tail) r->tail->next = s;
  else r->head = s;
  r->tail = s;
  r->nsessions++;
  r->session_bytes += s->bytes;
  r->bytes += s->bytes;
  enforce_cap(r);
  return 0;
}

/* Oldest first, whichever kind it is. */
static void enforce_cap(sio_recovery_t *r) {
  while (r->max_bytes && r->bytes > r->max_bytes && (r->len || r->head)) {
    uint64_t pat = r->len ? r->ring[r->first & (r->cap - 1)].at : UINT64_MAX;
    if (r->head && r->head->at < pat) drop_session(r, r->head);
    else drop_packet(r);
  }
}

void sio__recovery_expire(sio_recovery_t *r, uint64_t now) {
  if (now < r->max_age) return;
  uint64_t threshold = now - r->max_age;
  while (r->head && r->head->at < threshold) drop_session(r, r->head);
  while (r->len && r->ring[r->first & (r->cap - 1)].at < threshold) drop_packet(r);
  ring_shrink(r);
}

/* 1 and *seq for a decimal offset this store could have handed out. */
static int parse_offset(const char *s, uint64_t *seq) {
  size_t n = strlen(s);
  if (n == 0 || n >= SIO_OFFSET_MAX || (n > 1 && s[0] == '0')) return 0;
  uint64_t v = 0;
  for (size_t i = 0; i < n; i++) {
    if (s[i] < '0' || s[i] > '9') return 0;
    uint64_t d = (uint64_t)(s[i] - '0');
    if (v > (UINT64_MAX - d) / 10) return 0;
    v = v * 10 + d;
  }
  *seq = v;
  return 1;
}

static int in_list(char *const *list, size_t n, char *const *rooms, size_t nrooms) {
  for (size_t i = 0; i < n; i++)
    for (size_t j = 0; j < nrooms; j++)
      if (strcmp(list[i], rooms[j]) == 0) return 1;
  return 0;
}

static int included(const kept_t *k, char *const *rooms, size_t nrooms) {
  if (!k->enc.text) return 0; /* an offset whose packet could not be kept */
  if (k->nrooms && !in_list(k->rooms, k->nrooms, rooms, nrooms)) return 0;
  return !in_list(k->rooms + k->nrooms, k->nexcept, rooms, nrooms);
}

int sio__recovery_restore(sio_recovery_t *r, uint64_t now, const char *pid, const char *offset,
                          sio_recovered_t *out) {
  memset(out, 0, sizeof *out);
  sio__recovery_expire(r, now);
  sess_t *s = sio_map_get(&r->by_pid, pid);
  uint64_t seq;
  if (!s || !parse_offset(offset, &seq) || seq < r->first || seq - r->first >= r->len)
    return SIO_ENOTFOUND;
  char **rooms = s->rooms + 2;
  size_t n = 0;
  for (uint64_t q = seq + 1; q < r->first + r->len; q++)
    n += included(&r->ring[q & (r->cap - 1)], rooms, s->nrooms);
  out->missed = n ? calloc(n, sizeof *out->missed) : NULL;
  out->rooms = malloc((s->nrooms ? s->nrooms : 1) * sizeof *out->rooms);
  out->sid = strdup(s->sid);
  out->pid = strdup(s->pid);
  int ok = (!n || out->missed) && out->rooms && out->sid && out->pid;
  for (size_t i = 0; ok && i < s->nrooms; i++, out->nrooms++)
    ok = (out->rooms[i] = strdup(rooms[i])) != NULL;
  for (uint64_t q = seq + 1; ok && q < r->first + r->len; q++) {
    const kept_t *k = &r->ring[q & (r->cap - 1)];
    if (!included(k, rooms, s->nrooms)) continue;
    sio_encoded_t *e = &out->missed[out->nmissed];
    e->atts = k->enc.natts ? malloc(k->enc.natts * sizeof *e->atts) : NULL;
    if (k->enc.natts && !e->atts) ok = 0;
    if (!ok) break;
    e->text = sio_msg_ref(k->enc.text);
    for (size_t i = 0; i < k->enc.natts; i++) e->atts[i] = sio_msg_ref(k->enc.atts[i]);
    e->natts = k->enc.natts;
    out->nmissed++;
  }
  if (!ok) {
    sio__recovered_clear(out);
    return SIO_ENOMEM;
  }
  unlink_session(r, s);
  out->data = s->data;
  free(s->rooms);
  free(s);
  return 0;
}

void sio__recovered_clear(sio_recovered_t *r) {
  free(r->sid);
  free(r->pid);
  for (size_t i = 0; i < r->nrooms; i++) free(r->rooms[i]);
  free(r->rooms);
  cJSON_Delete(r->data);
  for (size_t i = 0; i < r->nmissed; i++) sio__encoded_clear(&r->missed[i]);
  free(r->missed);
  memset(r, 0, sizeof *r);
}

void sio__recovery_stats(const sio_recovery_t *r, sio_recovery_stats_t *st) {
  st->packets = r->len;
  st->sessions = r->nsessions;
  st->session_bytes = r->session_bytes;
  st->packet_bytes = r->bytes - r->session_bytes;
}

void sio__recovery_free(sio_recovery_t *r) {
  if (!r) return;
  while (r->len) drop_packet(r);
  while (r->head) drop_session(r, r->head);
  sio_map_free(&r->by_pid);
  free(r->ring);
  free(r);
}
