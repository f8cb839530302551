/* Connection state recovery's store (core/src/socketio/recovery.c), in process: offsets, the
 * rooms/except filter of the replay, expiry by age, and the byte cap under 10,000 disconnected
 * sessions with traffic. */
#include "socketio/recovery.h"
#include "test.h"

static sio_encoded_t packet(const char *text) {
  sio_encoded_t e = {sio_msg_new(text, strlen(text), 0), NULL, 0};
  return e;
}

/* Keeps `text` to `to` (or the one room), returning the offset it got. */
static char *keep(sio_recovery_t *r, uint64_t now, const sio_target_t *to, const char *room,
                  const char *text, char off[SIO_OFFSET_MAX]) {
  sio__recovery_next_offset(r, off);
  sio_encoded_t e = packet(text);
  int rc = sio__recovery_keep(r, now, to, room, &e);
  sio__encoded_clear(&e);
  return rc == 0 ? off : NULL;
}

/* The messages kept by keep_msg, to compare with what a restore hands back (by identity: the
 * store shares them). */
static sio_msg_t *kept_msgs[16];
static size_t nkept;

static void keep_msg(sio_recovery_t *r, uint64_t now, const sio_target_t *to, const char *room,
                     const char *text) {
  sio_encoded_t e = packet(text);
  sio__recovery_keep(r, now, to, room, &e);
  kept_msgs[nkept++] = e.text; /* our reference, dropped at the end */
}

TEST(offsets_and_filter) {
  sio_recovery_t *r = sio__recovery_new(120000, 0);
  char o0[SIO_OFFSET_MAX], o[SIO_OFFSET_MAX];
  CHECK(keep(r, 1, NULL, NULL, "first", o0));
  CHECK_STR(o0, strlen(o0), "0");
  const char *rooms[] = {"sidA", "r1"};
  CHECK_EQ_INT(sio__recovery_persist(r, 2, "sidA", "pidA", rooms, 2, NULL), 0);
  const char *r1[] = {"r1"}, *r2[] = {"r2"}, *ex[] = {"r1"};
  sio_target_t to_r1 = {r1, 1, NULL, 0, 0}, to_r2 = {r2, 1, NULL, 0, 0};
  sio_target_t all_but_r1 = {NULL, 0, ex, 1, 0};
  keep_msg(r, 3, NULL, NULL, "all");
  keep_msg(r, 3, &to_r1, NULL, "to r1");
  keep_msg(r, 3, &to_r2, NULL, "to r2");
  keep_msg(r, 3, &all_but_r1, NULL, "all but r1");
  keep_msg(r, 3, NULL, "sidA", "to sidA");
  keep_msg(r, 3, NULL, "sidB", "to sidB");
  sio__recovery_next_offset(r, o);
  CHECK_STR(o, strlen(o), "7");
  sio_recovered_t got;
  CHECK_EQ_INT(sio__recovery_restore(r, 4, "nope", "0", &got), SIO_ENOTFOUND);
  CHECK_EQ_INT(sio__recovery_restore(r, 4, "pidA", "99", &got), SIO_ENOTFOUND);
  CHECK_EQ_INT(sio__recovery_restore(r, 4, "pidA", "00", &got), SIO_ENOTFOUND);
  CHECK_EQ_INT(sio__recovery_restore(r, 4, "pidA", "x", &got), SIO_ENOTFOUND);
  CHECK_EQ_INT(sio__recovery_restore(r, 4, "pidA", "0", &got), 0);
  CHECK_STR(got.sid, strlen(got.sid), "sidA");
  CHECK_STR(got.pid, strlen(got.pid), "pidA");
  CHECK_EQ_INT(got.nrooms, 2);
  CHECK_STR(got.rooms[1], strlen(got.rooms[1]), "r1");
  CHECK(cJSON_IsObject(got.data));
  /* "all", "to r1" and "to sidA", in order, the very messages emitted (shared, not copied). */
  CHECK_EQ_INT(got.nmissed, 3);
  CHECK(got.missed[0].text == kept_msgs[0]);
  CHECK(got.missed[1].text == kept_msgs[1]);
  CHECK(got.missed[2].text == kept_msgs[4]);
  sio__recovered_clear(&got);
  /* A pid restores once. */
  CHECK_EQ_INT(sio__recovery_restore(r, 4, "pidA", "0", &got), SIO_ENOTFOUND);
  sio__recovery_free(r);
  for (size_t i = 0; i < nkept; i++) sio_msg_unref(kept_msgs[i]);
  nkept = 0;
}

TEST(expiry_by_age) {
  sio_recovery_t *r = sio__recovery_new(1000, 0);
  char o[SIO_OFFSET_MAX];
  const char *rooms[] = {"s"};
  CHECK(keep(r, 100, NULL, NULL, "p", o));
  CHECK_EQ_INT(sio__recovery_persist(r, 200, "s", "p", rooms, 1, cJSON_CreateString("d")), 0);
  CHECK(keep(r, 1150, NULL, NULL, "q", o)); /* the first packet is 1050 ms old: gone */
  sio_recovery_stats_t st;
  sio__recovery_stats(r, &st);
  CHECK_EQ_INT(st.packets, 1);
  CHECK_EQ_INT(st.sessions, 1);
  sio_recovered_t got;
  CHECK_EQ_INT(sio__recovery_restore(r, 1150, "p", "0", &got), SIO_ENOTFOUND); /* offset gone */
  CHECK_EQ_INT(sio__recovery_restore(r, 1150, "p", "1", &got), 0);
  CHECK_EQ_INT(got.nmissed, 0);
  CHECK(cJSON_IsString(got.data));
  sio__recovered_clear(&got);
  CHECK_EQ_INT(sio__recovery_persist(r, 2000, "s", "p", rooms, 1, NULL), 0);
  sio__recovery_expire(r, 3001); /* 1001 ms after the disconnect */
  sio__recovery_stats(r, &st);
  CHECK_EQ_INT(st.sessions, 0);
  CHECK_EQ_INT(st.packets, 0);
  CHECK_EQ_INT(st.packet_bytes + st.session_bytes, 0);
  sio__recovery_free(r);
}

/* 10,000 sockets go away one after the other, each in 3 rooms with 1 KiB of data, while 1 KiB
 * packets keep coming: the store never holds more than its cap, drops the oldest first, and the
 * latest sessions still recover with everything they missed. */
TEST(byte_cap_under_10000_sessions) {
  const size_t cap = (size_t)4 << 20;
  sio_recovery_t *r = sio__recovery_new(120000, cap);
  char body[1025];
  memset(body, 'x', 1024);
  body[1024] = 0;
  char o[SIO_OFFSET_MAX], sid[32], pid[32], last_off[10000][SIO_OFFSET_MAX];
  size_t peak = 0;
  for (int i = 0; i < 10000; i++) {
    CHECK(keep(r, (uint64_t)i, NULL, NULL, body, o));
    memcpy(last_off[i], o, sizeof o);
    CHECK(keep(r, (uint64_t)i, NULL, "someone-else", body, o));
    snprintf(sid, sizeof sid, "sid%d", i);
    snprintf(pid, sizeof pid, "pid%d", i);
    const char *rooms[] = {sid, "lobby", "table-7"};
    cJSON *data = cJSON_CreateObject();
    cJSON_AddStringToObject(data, "name", body);
    CHECK_EQ_INT(sio__recovery_persist(r, (uint64_t)i, sid, pid, rooms, 3, data), 0);
    sio_recovery_stats_t st;
    sio__recovery_stats(r, &st);
    size_t bytes = st.packet_bytes + st.session_bytes;
    CHECK(bytes <= cap);
    if (bytes > peak) peak = bytes;
  }
  CHECK(peak > cap - 8192); /* the cap was reached, and held */
  sio_recovery_stats_t st;
  sio__recovery_stats(r, &st);
  CHECK(st.sessions < 10000 && st.sessions > 100);
  CHECK(st.packets > 100);
  sio_recovered_t got;
  /* The oldest went: their sessions and offsets. */
  CHECK_EQ_INT(sio__recovery_restore(r, 10000, "pid0", last_off[0], &got), SIO_ENOTFOUND);
  /* A recent one recovers with the one packet after its offset that was for everyone (the
   * ones to "someone-else" are not its). */
  CHECK_EQ_INT(sio__recovery_restore(r, 10000, "pid9998", last_off[9998], &got), 0);
  CHECK_EQ_INT(got.nmissed, 1);
  sio__recovered_clear(&got);
  sio__recovery_free(r);
}

TEST(one_packet_over_the_cap) {
  sio_recovery_t *r = sio__recovery_new(120000, 100);
  char o[SIO_OFFSET_MAX], big[512];
  memset(big, 'y', sizeof big - 1);
  big[sizeof big - 1] = 0;
  CHECK(keep(r, 1, NULL, NULL, big, o));
  sio_recovery_stats_t st;
  sio__recovery_stats(r, &st);
  CHECK_EQ_INT(st.packets, 0); /* kept and dropped at once */
  CHECK(keep(r, 1, NULL, NULL, "s", o));
  CHECK_STR(o, strlen(o), "1"); /* offsets go on */
  sio__recovery_free(r);
}

/* A burst that expires gives its ring slots back, and what is left is still found by offset. */
TEST(ring_shrinks_after_a_burst) {
  sio_recovery_t *r = sio__recovery_new(100, 0);
  char o[SIO_OFFSET_MAX];
  for (int i = 0; i < 1000; i++) CHECK(keep(r, (uint64_t)i, NULL, NULL, "p", o));
  const char *rooms[] = {"s"};
  CHECK_EQ_INT(sio__recovery_persist(r, 1000, "s", "p", rooms, 1, NULL), 0); /* expires < 900 */
  sio_recovery_stats_t st;
  sio__recovery_stats(r, &st);
  CHECK_EQ_INT(st.packets, 100);
  sio_recovered_t got;
  CHECK_EQ_INT(sio__recovery_restore(r, 1000, "p", "995", &got), 0);
  CHECK_EQ_INT(got.nmissed, 4);
  sio__recovered_clear(&got);
  sio__recovery_free(r);
}

TEST_MAIN(RUN(offsets_and_filter), RUN(ring_shrinks_after_a_burst), RUN(expiry_by_age), RUN(byte_cap_under_10000_sessions),
          RUN(one_packet_over_the_cap))
