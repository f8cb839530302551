/* The sharded Redis transport's pure parts: Redis Cluster key slots (checked against
 * `redis-cli CLUSTER KEYSLOT` of redis-server 7.0) and JavaScript string lengths (Node's
 * looksLikeASocketId). */
#include "adapter/redis_sharded.h"
#include "test.h"

static unsigned slot_of(const char *k) { return sio__redis_key_slot(k, strlen(k)); }

TEST(key_slots_as_redis_cluster) {
  static const struct {
    const char *key;
    unsigned slot;
  } cases[] = {
      {"socket.io#/#", 13868},      {"socket.io#/custom#", 8062}, {"", 0},
      {"a", 15495},                 {"foo", 12182},               {"123456789", 12739},
      {"socket.io#/#room1#", 9640}, {"\xc3\xa9", 10180},
      /* hash tags: the first {...} that is not empty; otherwise the whole key */
      {"{user1000}.following", 3443}, {"foo{}{bar}", 8363}, {"foo{{bar}}zap", 4015},
      {"foo{bar}{zap}", 5061},        {"{}", 15257},        {"x{y", 2740},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    if (slot_of(cases[i].key) != cases[i].slot)
      fprintf(stderr, "slot of \"%s\": %u, not %u\n", cases[i].key, slot_of(cases[i].key),
              cases[i].slot);
    CHECK_EQ_INT(slot_of(cases[i].key), cases[i].slot);
  }
  /* a tag names the slot of every key carrying it */
  CHECK_EQ_INT(slot_of("{user1000}.followers"), slot_of("user1000"));
  CHECK_EQ_INT(sio__redis_key_slot("foo\0bar", 7), sio__redis_key_slot("foo\0bar", 7));
  CHECK(sio__redis_key_slot("foo\0bar", 7) != slot_of("foo"));
}

TEST(utf16_lengths_as_javascript) {
  CHECK_EQ_INT(sio__utf16_length(""), 0);
  CHECK_EQ_INT(sio__utf16_length("abcdefghij0123456789"), 20); /* a socket id's length */
  CHECK_EQ_INT(sio__utf16_length("\xc3\xa9t\xc3\xa9"), 3);      /* "été" */
  CHECK_EQ_INT(sio__utf16_length("\xe2\x82\xac"), 1);           /* U+20AC */
  CHECK_EQ_INT(sio__utf16_length("\xf0\x9f\x98\x80"), 2);       /* U+1F600: a surrogate pair */
}

TEST(room_channels_as_compute_channel) {
  const char *sid = "abcdefghij0123456789"; /* 20 characters: looks like a socket id */
  CHECK_EQ_INT(sio__redis_room_channel(SIO_REDIS_SUB_DYNAMIC, "room"), 1);
  CHECK_EQ_INT(sio__redis_room_channel(SIO_REDIS_SUB_DYNAMIC, sid), 0);
  CHECK_EQ_INT(sio__redis_room_channel(SIO_REDIS_SUB_DYNAMIC, "\xf0\x9f\x98\x80" "abcdefghij01234567"), 0);
  CHECK_EQ_INT(sio__redis_room_channel(SIO_REDIS_SUB_DYNAMIC, "\xc3\xa9" "bcdefghij0123456789"), 0);
  CHECK_EQ_INT(sio__redis_room_channel(SIO_REDIS_SUB_DYNAMIC, "\xc3\xa9" "bcdefghij012345678"), 1);
  CHECK_EQ_INT(sio__redis_room_channel(SIO_REDIS_SUB_DYNAMIC_PRIVATE, sid), 1);
  CHECK_EQ_INT(sio__redis_room_channel(SIO_REDIS_SUB_DYNAMIC_PRIVATE, "room"), 1);
  CHECK_EQ_INT(sio__redis_room_channel(SIO_REDIS_SUB_STATIC, "room"), 0);
  CHECK_EQ_INT(sio__redis_room_channel(SIO_REDIS_SUB_STATIC, sid), 0);
  for (int mode = 0; mode < 3; mode++) CHECK_EQ_INT(sio__redis_room_channel(mode, NULL), 0);
}

TEST_MAIN(RUN(key_slots_as_redis_cluster), RUN(utf16_lengths_as_javascript),
          RUN(room_channels_as_compute_channel))
