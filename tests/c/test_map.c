/* The string-keyed map (common/map.c): 16-byte entries without a stored hash (issue 22), checked
 * against a plain array as the reference through random puts, replaces and deletions (the
 * backward shift re-hashes the keys it moves), with keys that share their first byte and keys
 * that collide in the low bits of their hash. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "map.h"
#include "test.h"

enum { NKEYS = 3000 };

static char keys[NKEYS][24];
static int present[NKEYS]; /* the reference: 1 when key i is in the map */
static int vals[NKEYS];

TEST(entry_is_16_bytes) { CHECK(sizeof(sio_map_entry_t) == 16); }

TEST(empty_map) {
  sio_map_t m = SIO_MAP_INIT;
  CHECK(sio_map_get(&m, "x") == NULL);
  CHECK(sio_map_del(&m, "x") == NULL);
  sio_map_free(&m);
}

/* A key equal to a stored one but at another address finds it (keys are compared, not only their
 * pointers), and a put of an existing key replaces its value without growing the map. */
TEST(equal_keys_at_other_addresses) {
  sio_map_t m = SIO_MAP_INIT;
  char a[] = "room", b[] = "room", c[] = "roo";
  int x = 1, y = 2;
  CHECK_EQ_INT(sio_map_put(&m, a, &x), 0);
  CHECK(sio_map_get(&m, b) == &x);
  CHECK(sio_map_get(&m, c) == NULL);
  CHECK_EQ_INT(sio_map_put(&m, b, &y), 0);
  CHECK(m.len == 1);
  CHECK(sio_map_get(&m, a) == &y);
  CHECK(sio_map_del(&m, a) == &y);
  CHECK(m.len == 0 && m.slots == NULL);
  sio_map_free(&m);
}

static void check_all(const sio_map_t *m) {
  size_t n = 0;
  for (int i = 0; i < NKEYS; i++) {
    void *v = sio_map_get(m, keys[i]);
    CHECK(v == (present[i] ? &vals[i] : NULL));
    n += present[i];
  }
  CHECK(m->len == n);
}

TEST(random_against_reference) {
  /* Half the keys share their first bytes ("sid-..."), so probes compare whole strings. */
  for (int i = 0; i < NKEYS; i++)
    snprintf(keys[i], sizeof keys[i], i % 2 ? "sid-%d" : "%d-room", i);
  srand(22);
  sio_map_t m = SIO_MAP_INIT;
  for (int round = 0; round < 20000; round++) {
    int i = rand() % NKEYS;
    if (rand() % 3) {
      CHECK_EQ_INT(sio_map_put(&m, keys[i], &vals[i]), 0);
      present[i] = 1;
    } else {
      CHECK(sio_map_del(&m, keys[i]) == (present[i] ? &vals[i] : NULL));
      present[i] = 0;
    }
    if (round % 997 == 0) check_all(&m);
  }
  check_all(&m);
  /* Every key out, in an order unlike insertion: each deletion shifts runs back. */
  for (int i = NKEYS - 1; i >= 0; i -= 2) {
    CHECK(sio_map_del(&m, keys[i]) == (present[i] ? &vals[i] : NULL));
    present[i] = 0;
  }
  check_all(&m);
  for (int i = 0; i < NKEYS; i++) {
    sio_map_del(&m, keys[i]);
    present[i] = 0;
  }
  check_all(&m);
  CHECK(m.len == 0);
  sio_map_free(&m);
}

/* Keys whose hashes share their low bits land in one run; deleting from its middle must keep the
 * rest reachable (the home slot comes from hashing the moved key again). */
TEST(colliding_run) {
  sio_map_t m = SIO_MAP_INIT;
  static char coll[64][16];
  int n = 0;
  for (int i = 0; n < 64 && i < 1000000; i++) {
    char k[16];
    snprintf(k, sizeof k, "k%d", i);
    if ((sio_map_hash(k) & 1023) == 5) strcpy(coll[n++], k);
  }
  CHECK(n == 64);
  /* Grow the map to 1024+ slots first with other keys, so that the colliding ones share a home. */
  static char fill[600][16];
  for (int i = 0; i < 600; i++) {
    snprintf(fill[i], sizeof fill[i], "f%d", i);
    CHECK_EQ_INT(sio_map_put(&m, fill[i], fill[i]), 0);
  }
  for (int i = 0; i < n; i++) CHECK_EQ_INT(sio_map_put(&m, coll[i], coll[i]), 0);
  for (int i = 0; i < n; i += 3) CHECK(sio_map_del(&m, coll[i]) == coll[i]);
  for (int i = 0; i < n; i++) CHECK(sio_map_get(&m, coll[i]) == (i % 3 ? coll[i] : NULL));
  for (int i = 0; i < 600; i++) CHECK(sio_map_get(&m, fill[i]) == fill[i]);
  sio_map_free(&m);
}

TEST_MAIN(RUN(entry_is_16_bytes), RUN(empty_map), RUN(equal_keys_at_other_addresses),
          RUN(random_against_reference), RUN(colliding_run))
