/* What redis_streams.c computes as Node's @socket.io/redis-streams-adapter does (for tests). */
#ifndef SIO_REDIS_STREAMS_H
#define SIO_REDIS_STREAMS_H

#include <stdint.h>

/* util.ts's hashCode: Java's String.hashCode over the UTF-16 code units of a UTF-8 string, in 32
 * bits, signed (a namespace goes to stream NAME-(hash % count), the sign kept as JavaScript's %). */
int32_t sio__rs_hash_code(const char *s);

#endif
