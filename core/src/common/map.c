#include "map.h"

#include <stdlib.h>
#include <string.h>

#include "sio.h"

uint64_t sio_map_hash(const char *key) {
  /* FNV-1a: keys are short ids and room names; a map never holds attacker-chosen keys in numbers
   * that make collisions matter more than the O(n) scan a client could cause anyway. */
  uint64_t h = 1469598103934665603ull;
  for (const unsigned char *p = (const unsigned char *)key; *p; p++) {
    h ^= *p;
    h *= 1099511628211ull;
  }
  return h;
}

static sio_map_entry_t *find(const sio_map_t *m, const char *key, uint64_t h) {
  if (!m->cap) return NULL;
  size_t mask = m->cap - 1;
  for (size_t i = h & mask;; i = (i + 1) & mask) {
    sio_map_entry_t *e = &m->slots[i];
    if (!e->key) return NULL;
    if (e->key == key || (e->key[0] == key[0] && strcmp(e->key, key) == 0)) return e;
  }
}

void *sio_map_get(const sio_map_t *m, const char *key) {
  sio_map_entry_t *e = find(m, key, sio_map_hash(key));
  return e ? e->value : NULL;
}

static void place(sio_map_entry_t *slots, size_t cap, const sio_map_entry_t *src, uint64_t h) {
  size_t mask = cap - 1;
  size_t i = h & mask;
  while (slots[i].key) i = (i + 1) & mask;
  slots[i] = *src;
}

int sio_map_put(sio_map_t *m, const char *key, void *value) {
  uint64_t h = sio_map_hash(key);
  sio_map_entry_t *e = find(m, key, h);
  if (e) {
    e->key = key;
    e->value = value;
    return 0;
  }
  if ((m->len + 1) * 4 > m->cap * 3) { /* keep the load under 3/4 */
    size_t ncap = m->cap ? m->cap * 2 : 8;
    sio_map_entry_t *ns = calloc(ncap, sizeof *ns);
    if (!ns) return SIO_ENOMEM;
    for (size_t i = 0; i < m->cap; i++)
      if (m->slots[i].key) place(ns, ncap, &m->slots[i], sio_map_hash(m->slots[i].key));
    free(m->slots);
    m->slots = ns;
    m->cap = ncap;
  }
  sio_map_entry_t ne = {key, value};
  place(m->slots, m->cap, &ne, h);
  m->len++;
  return 0;
}

void *sio_map_del(sio_map_t *m, const char *key) {
  sio_map_entry_t *e = find(m, key, sio_map_hash(key));
  if (!e) return NULL;
  void *value = e->value;
  size_t mask = m->cap - 1;
  size_t i = (size_t)(e - m->slots);
  /* Backward shift: pull later entries of the run into the hole when their home allows it. */
  for (size_t j = (i + 1) & mask; m->slots[j].key; j = (j + 1) & mask) {
    size_t home = sio_map_hash(m->slots[j].key) & mask;
    if (((j - home) & mask) >= ((j - i) & mask)) {
      m->slots[i] = m->slots[j];
      i = j;
    }
  }
  m->slots[i].key = NULL;
  m->len--;
  if (m->len == 0) sio_map_free(m);
  return value;
}

void sio_map_free(sio_map_t *m) {
  free(m->slots);
  m->slots = NULL;
  m->cap = m->len = 0;
}
