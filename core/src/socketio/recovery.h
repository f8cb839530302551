/* Connection state recovery's store (Node's SessionAwareAdapter, one per namespace): the packets
 * the namespace sent with their offsets and the rooms they targeted, and the sessions of sockets
 * that went away for a recoverable reason. Pure: time comes in as `now` (ms), no I/O.
 *
 * Offsets are the decimal text of a per-store sequence number, so finding a client's offset is
 * arithmetic on a ring, not a search. Both packets and sessions are bounded:
 *   - by age: older than max_age_ms (Node's maxDisconnectionDuration) they are dropped;
 *   - by bytes: past max_bytes, the oldest of either kind goes first (packets and sessions in the
 *     order they were kept). A session whose offset fell off is then unrecoverable, as if it had
 *     expired: its client comes back as a fresh socket. */
#ifndef SIO_RECOVERY_H
#define SIO_RECOVERY_H

#include <stddef.h>
#include <stdint.h>

#include "sio.h"
#include "socketio/packet.h"

/* Longest offset text, NUL included (a 64-bit number in decimal). */
#define SIO_OFFSET_MAX 21

typedef struct sio_recovery sio_recovery_t;

/* A session handed back by sio__recovery_restore: owned by the caller (sio__recovered_clear). */
typedef struct sio_recovered {
  char *sid, *pid;
  char **rooms; /* as persisted: the socket's own id included */
  size_t nrooms;
  cJSON *data;  /* as persisted (never NULL) */
  sio_encoded_t *missed; /* one reference each, in the order they were sent */
  size_t nmissed;
} sio_recovered_t;

void sio__recovered_clear(sio_recovered_t *r);

/* NULL on ENOMEM. max_bytes 0: no byte cap. */
sio_recovery_t *sio__recovery_new(uint64_t max_age_ms, size_t max_bytes);
void sio__recovery_free(sio_recovery_t *r);

/* Writes the offset the next kept packet will get into buf (SIO_OFFSET_MAX bytes). */
void sio__recovery_next_offset(const sio_recovery_t *r, char buf[SIO_OFFSET_MAX]);
/* Keeps enc (a reference to each of its messages) under the offset sio__recovery_next_offset gave,
 * with the rooms it went to: `to` (borrowed; NULL, or no rooms: the whole namespace) or, when
 * `room` is not NULL, that one room (a single socket's emit). 0 or SIO_ENOMEM (nothing kept: the
 * offset is skipped, which only makes a client that got it unrecoverable). */
int sio__recovery_keep(sio_recovery_t *r, uint64_t now, const sio_target_t *to, const char *room,
                       const sio_encoded_t *enc);

/* Keeps a session under pid (replacing one kept under the same pid): sid, pid and rooms copied,
 * data consumed (NULL: {}). 0 or SIO_ENOMEM (then data is freed and nothing kept). */
int sio__recovery_persist(sio_recovery_t *r, uint64_t now, const char *sid, const char *pid,
                          const char *const *rooms, size_t nrooms, cJSON *data);

/* Node's restoreSession: the session kept under pid, with every packet kept after `offset` that
 * its rooms would have received (Node's shouldIncludePacket: targeted at no room or at one of its
 * rooms, and excluding none of them). The session is taken out of the store (a pid restores once).
 * 0 and *out filled, SIO_ENOTFOUND (unknown or expired pid, offset unknown or dropped: the session
 * stays until it expires, as Node's) or SIO_ENOMEM. */
int sio__recovery_restore(sio_recovery_t *r, uint64_t now, const char *pid, const char *offset,
                          sio_recovered_t *out);

/* Drops what is older than max_age_ms (also done by every call above). */
void sio__recovery_expire(sio_recovery_t *r, uint64_t now);

typedef struct sio_recovery_stats {
  size_t packets, sessions;
  size_t packet_bytes, session_bytes; /* accounted as the byte cap counts them */
} sio_recovery_stats_t;
void sio__recovery_stats(const sio_recovery_t *r, sio_recovery_stats_t *st);

#endif
