/* msgpack <-> cJSON, as notepack.io (the parser of Node's Redis adapter) reads and writes a JS
 * value: strings as UTF-8 (a NUL byte is held as C0 80 in the core, a NUL on the wire), integral
 * numbers in the smallest int form and others as float64, binary inline as bin (placeholders in
 * the cJSON tree, indexing a list of buffers). Pure: no I/O. */
#ifndef SIO_MSGPACK_JSON_H
#define SIO_MSGPACK_JSON_H

#include <cjson/cJSON.h>
#include <msgpack.h>
#include <stddef.h>

#include "sio.h"

/* ---- writing ---- */

/* A msgpack buffer that stays failed after its first failed write (msgpack-c's packers go on
 * after one): a message missing a part reads as another message (a shorter room list, a value in
 * the wrong place), so a failed one is never published. */
typedef struct sio_mpbuf {
  msgpack_sbuffer sb;
  int failed;
} sio_mpbuf_t;

/* Sets up b and pk to write into it; msgpack_sbuffer_destroy(&b->sb) frees it. */
void sio__mpbuf_init(sio_mpbuf_t *b, msgpack_packer *pk);
/* A part of the message could not be made (pk writes a sio_mpbuf_t). */
void sio__mpbuf_fail(msgpack_packer *pk);

/* A string held by the core (C0 80 goes back to a NUL byte). */
void sio__mp_pack_str(msgpack_packer *pk, const char *s);
/* A string written as it is (a map key of the message itself). */
void sio__mp_pack_key(msgpack_packer *pk, const char *s);
/* An array of strings held by the core. */
void sio__mp_pack_strs(msgpack_packer *pk, const char *const *v, size_t n);
/* j, its placeholders for bufs[0..nbufs) written as bin values at their place. */
void sio__mp_pack_json(msgpack_packer *pk, const cJSON *j, const sio_buf_t *bufs, size_t nbufs);

/* ---- reading ---- */

/* msgpack-c allocates an array's or a map's elements from their declared count before looking
 * for them: 1 when p[0..len) holds one whole value whose counts it can back with bytes, so that
 * unpacking allocates no more than the message's size allows; 0 for anything else. */
int sio__mp_plausible(const unsigned char *p, size_t len);

/* Buffers of the bin values met while reading (they point into the message read). */
typedef struct sio_mp_bins {
  sio_buf_t *v;
  size_t n, cap;
} sio_mp_bins_t;

/* o as a cJSON tree (bin values become placeholders for buffers appended to bins; bins NULL: a
 * bin is refused), or NULL when a part could not be made, o nests too deeply or a string (or
 * key) is not WTF-8. */
cJSON *sio__mp_to_json(const msgpack_object *o, sio_mp_bins_t *bins);
/* 1 when o is notepack 2's undefined (fixext 1 type 0): an absent value. sio__mp_to_json makes
 * it null in an array and leaves its key out of a map; an ext of type 0 otherwise is binary (a
 * browser's ArrayBuffer), a Date (notepack 2's fixext 8 type 0, or a msgpack timestamp) becomes
 * its toISOString() text, other ext values null. */
int sio__mp_is_undefined(const msgpack_object *o);
/* The value of `key` in map m, or NULL (m not a map, or no such key). */
const msgpack_object *sio__mp_get(const msgpack_object *m, const char *key);
/* 1 when o is the string s. */
int sio__mp_str_eq(const msgpack_object *o, const char *s);

#endif
