/* The sharded Redis transport (redis_sharded.c): @socket.io/redis-adapter 8.3's
 * createShardedAdapter, socket.io-adapter's ClusterAdapter (sac.c) over Redis 7's sharded pub/sub,
 * on one Redis or a Redis Cluster. */
#ifndef SIO_REDIS_SHARDED_H
#define SIO_REDIS_SHARDED_H

#include <stddef.h>

#include "sio.h"

/* Redis Cluster's hash slots. */
#define SIO_REDIS_SLOTS 16384

/* The slot of a key, as Redis Cluster's (CLUSTER KEYSLOT): CRC16 (XMODEM) of the key, or of its
 * hash tag (what is between the first '{' and the next '}' when that is not empty), mod 16384. */
unsigned sio__redis_key_slot(const char *key, size_t len);

/* The length of a UTF-8 string in UTF-16 code units, as JavaScript's String length (Node's
 * looksLikeASocketId compares it with 20). */
size_t sio__utf16_length(const char *s);

/* Node's computeChannel: 1 when a broadcast without acks to exactly this one room (NULL: not such
 * a broadcast) goes to the room's own channel KEY#NSP#ROOM# in subscription mode `mode`
 * (SIO_REDIS_SUB_*): never when static, always when dynamic-private, and when dynamic unless the
 * room looks like a socket id (20 UTF-16 code units). */
int sio__redis_room_channel(int mode, const char *room);

#ifdef SIO_HAVE_REDIS
/* sio_io_use_redis with opts->sharded (opts already checked and defaulted). */
int sio__redis_sharded_use(sio_io_t *io, const sio_redis_options_t *opts);
#endif

#endif
