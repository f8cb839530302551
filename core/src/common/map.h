/* A string-keyed hash map (open addressing, linear probing, backward-shift deletion). Keys are
 * borrowed: each points into its value (a room's name, a socket's id), so an entry costs 16 bytes
 * and no allocation of its own. The hash is not kept (issue 22: 13 bytes per connection in a
 * namespace's socket ids): a probe compares keys (random ids differ in their first byte), and a
 * resize or deletion hashes the keys it moves again. */
#ifndef SIO_MAP_H
#define SIO_MAP_H

#include <stddef.h>
#include <stdint.h>

typedef struct sio_map_entry {
  const char *key; /* NULL: empty slot */
  void *value;
} sio_map_entry_t;

typedef struct sio_map {
  sio_map_entry_t *slots; /* cap slots, cap a power of two (or NULL while empty) */
  size_t cap, len;
} sio_map_t;

#define SIO_MAP_INIT {NULL, 0, 0}

uint64_t sio_map_hash(const char *key);
void *sio_map_get(const sio_map_t *m, const char *key);
/* Inserts or replaces; `key` must stay valid while the entry exists. 0 or SIO_ENOMEM. */
int sio_map_put(sio_map_t *m, const char *key, void *value);
/* Removes the entry and returns its value, or NULL. */
void *sio_map_del(sio_map_t *m, const char *key);
void sio_map_free(sio_map_t *m);

#endif
