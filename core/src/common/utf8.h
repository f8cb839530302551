#ifndef SIO_UTF8_H
#define SIO_UTF8_H

#include <stddef.h>

/* 1 when p[0..len) is well-formed UTF-8 (no overlongs, no surrogates, <= U+10FFFF). */
int sio_utf8_valid(const char *p, size_t len);
/* 1 when p[0..len) is well-formed WTF-8: UTF-8 that may also hold lone UTF-16 surrogates
 * (U+D800..U+DFFF) in their three-byte form ED A0..BF xx, as the core keeps a JSON "\ud83d" that
 * has no partner. Engine.IO v3 binary payloads carry text so (socket.io 2.x encodes with utf8.js,
 * not strict). */
int sio_wtf8_valid(const char *p, size_t len);
/* Number of UTF-16 code units the UTF-8 text p[0..len) stands for (what JavaScript's
 * String.length counts, and so what Engine.IO v3 length prefixes count). Assumes valid UTF-8. */
size_t sio_utf8_utf16_len(const char *p, size_t len);
/* Byte offset in p[0..len) after `units` UTF-16 code units, or (size_t)-1 when the text is shorter
 * or the count ends inside a surrogate pair. */
size_t sio_utf8_skip_utf16(const char *p, size_t len, size_t units);

#endif
