/* Lua values <-> the core's cJSON arguments (sio_args_t), for the Lua binding.
 *
 * The rule for a script (its strings, integers and depth are the core's: sio.h, "values, for
 * bindings"):
 *   Lua -> JSON   nil -> null (top-level arguments keep their positions), sio.null -> null,
 *                 boolean, integer and float (NaN/inf -> null, as JSON.stringify),
 *                 string -> JSON string (must be valid UTF-8; "\0" is carried, and so is a lone
 *                 UTF-16 surrogate in its three-byte form ED A0..BF xx: how a client's "\ud83d",
 *                 a string cut inside an emoji, reaches a script), sio.binary(s) -> a
 *                 binary attachment, table -> array when its keys are exactly 1..n (n >= 1) or it
 *                 carries the sio.array metatable, else object (integer keys written as strings).
 *                 Anything else (functions, threads, other userdata, non-string non-integer keys,
 *                 nesting deeper than SIO_MAX_DEPTH, invalid UTF-8) is refused with a message.
 *   JSON -> Lua   null -> nil for a top-level argument, sio.null inside tables; numbers ->
 *                 integer when integral and within +-2^53, else float; arrays -> tables with the
 *                 sio.array metatable (so an empty array stays an array); objects -> plain tables;
 *                 binary attachments -> sio.binary objects.
 * A sio.binary is a userdata holding a Lua string: #b, tostring(b) and b:bytes() give the bytes,
 * b1 == b2 compares contents.
 */
#ifndef SIO_LUA_VALUES_H
#define SIO_LUA_VALUES_H

#include <lua.h>

#include "sio.h"

/* Registry/metatable names. */
#define SIOL_BINARY_MT "sio.binary"
#define SIOL_ARRAY_MT "sio.array"

/* Binary attachments gathered while converting Lua values: each points into a Lua string that the
 * caller keeps on the stack (inside the converted values) until the emit returns. */
typedef struct siol_bufs_s {
  sio_buf_t *v;
  size_t n, cap;
} siol_bufs_t;

void siol_bufs_free(siol_bufs_t *b);

/* Converts the Lua value at stack index idx into a new cJSON tree (*out, owned by the caller),
 * binary attachments appended to b. Returns 0, or -1 with a message in err (nothing to free).
 * Never raises, but for Lua memory errors. */
int siol_to_json(lua_State *L, int idx, siol_bufs_t *b, cJSON **out, char *err, size_t errsz);

/* Converts the stack values first..last (inclusive; last < first means none) into a cJSON array
 * (*out, owned by the caller). Same return convention as siol_to_json. */
int siol_args_to_json(lua_State *L, int first, int last, siol_bufs_t *b, cJSON **out, char *err,
                      size_t errsz);

/* Pushes the Lua value of j, placeholders resolved against a (may be NULL). */
void siol_push_json(lua_State *L, const cJSON *j, const sio_args_t *a);

/* Pushes every argument of a (top-level null as nil); returns how many were pushed (0 when a or
 * a->json is NULL). Checks stack space itself. */
int siol_push_args(lua_State *L, const sio_args_t *a);

/* An event's arguments as they were pushed (stack first..first+n-1) when all are nil, booleans,
 * numbers or strings, so that an ack answering with those very values (an echo) sends the
 * packet's own args instead of a copy: a string matches only the same Lua string (its pointer,
 * anchored on the stack while the record is in use), a number only the same subtype and value. */
enum { SIOL_ECHO_MAX = 8 };
typedef struct {
  const sio_args_t *args; /* NULL: nothing recorded */
  int n;
  struct {
    int type;     /* LUA_TNIL, LUA_TBOOLEAN, LUA_TNUMBER (integer: isint) or LUA_TSTRING */
    int isint;
    const void *p; /* a string's bytes */
    lua_Integer i;
    lua_Number d;
  } v[SIOL_ECHO_MAX];
} siol_echo_t;
/* Records the n values at first for args (e->args stays NULL when they cannot be matched). */
void siol_echo_record(lua_State *L, siol_echo_t *e, const sio_args_t *args, int first, int n);
/* e->args when the values first..last are the recorded ones, else NULL. */
const sio_args_t *siol_echo_match(lua_State *L, const siol_echo_t *e, int first, int last);

/* Pushes a new sio.binary holding a copy of data[0..len). */
void siol_push_binary(lua_State *L, const char *data, size_t len);
/* The bytes of the sio.binary at idx, or NULL when idx is not one. */
const char *siol_to_binary(lua_State *L, int idx, size_t *len);

/* Adds to the table at the top of the stack: null, binary, array, is_binary, json = {encode, decode}
 * and creates the metatables above. Called once by luaopen_sio. */
void siol_values_open(lua_State *L);

#endif
