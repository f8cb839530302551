/* Wide scans for the string fast paths: each returns the length of the longest prefix of
 * s[0..len) holding none of the bytes it looks for, i.e. the index of the first such byte, or len.
 * Pure, no allocation.
 *
 * They read 16 bytes at a time with SSE2 (every x86-64 has it) or 8 at a time as a uint64_t (SWAR,
 * any other target, or SIO_SPAN_PORTABLE), test a whole block at once, and only inside the block
 * that holds a hit (and in the last few bytes) look byte by byte: plain text costs no per-character
 * work, and the exact position never depends on the block tests being exact about *where*. */
#ifndef SIO_SPAN_H
#define SIO_SPAN_H

#include <stddef.h>

/* Up to the first byte >= 0x80 (what UTF-8 validation and UTF-16 counting may skip wholesale). */
size_t sio_span_ascii(const char *s, size_t len);
/* Up to the first '"', '\\' or NUL (a JSON string's text that is copied as it is when decoding). */
size_t sio_span_json_plain(const char *s, size_t len);
/* Up to the first byte below 0x20, '"', '\\', 0xC0 or 0xED (what a JSON string writer must look at:
 * escapes, and the lead bytes of the core's NUL (C0 80) and lone-surrogate (ED A0..BF xx) forms). */
size_t sio_span_json_safe(const char *s, size_t len);
/* sio_span_json_safe that also copies the span to dst (room for len bytes): one pass, not two. */
size_t sio_span_json_safe_copy(char *dst, const char *s, size_t len);

#endif
