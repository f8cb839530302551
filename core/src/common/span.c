#include "span.h"

#include <stdint.h>
#include <string.h>

#if defined(__SSE2__) && !defined(SIO_SPAN_PORTABLE)
#include <emmintrin.h>
#define SPAN_SSE2 1
#endif

/* The tests build this file a second time with the portable path and other names. */
#ifndef SIO_SPAN_NAME
#define SIO_SPAN_NAME(x) sio_span_##x
#endif

enum { K_ASCII, K_PLAIN, K_SAFE };

static inline int byte_hit(unsigned char c, int kind) {
  switch (kind) {
    case K_ASCII: return c >= 0x80;
    case K_PLAIN: return c == '"' || c == '\\' || c == 0;
    default: return c < 0x20 || c == '"' || c == '\\' || c == 0xC0 || c == 0xED;
  }
}

#ifdef SPAN_SSE2
#define WIDE 16
/* Nonzero when the 16 bytes at p hold a byte byte_hit() is true of (and only then: the byte loop
 * after it relies on no block with a hit being skipped, never on where in the block it is). */
static inline int block_hit(const char *p, int kind) {
  __m128i v = _mm_loadu_si128((const __m128i *)(const void *)p); /* unaligned load: any address */
  if (kind == K_ASCII) return _mm_movemask_epi8(v); /* the top bits: bytes >= 0x80 */
  __m128i m = _mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8('"')), _mm_cmpeq_epi8(v, _mm_set1_epi8('\\')));
  if (kind == K_PLAIN) return _mm_movemask_epi8(_mm_or_si128(m, _mm_cmpeq_epi8(v, _mm_setzero_si128())));
  /* SSE2 compares bytes as signed: c <= 0x1F unsigned is max(c, 0x1F) == 0x1F. */
  __m128i ctl = _mm_cmpeq_epi8(_mm_max_epu8(v, _mm_set1_epi8(0x1F)), _mm_set1_epi8(0x1F));
  int hit = _mm_movemask_epi8(_mm_or_si128(m, ctl));
  if (_mm_movemask_epi8(v)) { /* 0xC0 and 0xED only where some byte is not ASCII */
    m = _mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8((char)0xC0)), _mm_cmpeq_epi8(v, _mm_set1_epi8((char)0xED)));
    hit |= _mm_movemask_epi8(m);
  }
  return hit;
}
#else
#define WIDE 8
#define ONES 0x0101010101010101ULL
#define HIGH 0x8080808080808080ULL
/* Nonzero when some byte of v is below n (n <= 0x80): a byte b < n borrows in b - n and so sets its
 * top bit, and ~v drops the bytes whose top bit was already set; a borrow from a lower byte only
 * ever follows a byte that was itself below n. Exact as a yes/no, whatever the byte order. */
static inline uint64_t below(uint64_t v, unsigned n) { return (v - ONES * n) & ~v & HIGH; }
/* Nonzero when some byte of v equals c: that byte of v ^ c is zero. */
static inline uint64_t has(uint64_t v, unsigned char c) { return below(v ^ (ONES * c), 1); }

static inline int block_hit(const char *p, int kind) {
  uint64_t v;
  memcpy(&v, p, 8); /* an unaligned load, without undefined behaviour */
  if (kind == K_ASCII) return (v & HIGH) != 0;
  uint64_t m = has(v, '"') | has(v, '\\');
  if (kind == K_PLAIN) return (m | below(v, 1)) != 0;
  return (m | below(v, 0x20) | has(v, 0xC0) | has(v, 0xED)) != 0;
}
#endif

/* Whole blocks while none holds a hit (two at a time first: one branch for both), then byte by
 * byte: inside the block with the hit (so the first hit is found exactly) or the last few bytes. */
static inline size_t span(const char *s, size_t len, int kind) {
  size_t i = 0;
  while (len - i >= 2 * WIDE && !(block_hit(s + i, kind) | block_hit(s + i + WIDE, kind))) i += 2 * WIDE;
  while (len - i >= WIDE && !block_hit(s + i, kind)) i += WIDE;
  while (i < len && !byte_hit((unsigned char)s[i], kind)) i++;
  return i;
}

/* span() copying what it passes over to dst; the block test reads the same 16 (8) bytes as the
 * copy, so the compiler loads them once. */
static inline size_t span_copy(char *dst, const char *s, size_t len, int kind) {
  size_t i = 0;
  for (; len - i >= 2 * WIDE && !(block_hit(s + i, kind) | block_hit(s + i + WIDE, kind)); i += 2 * WIDE)
    memcpy(dst + i, s + i, 2 * WIDE);
  for (; len - i >= WIDE && !block_hit(s + i, kind); i += WIDE) memcpy(dst + i, s + i, WIDE);
  for (; i < len && !byte_hit((unsigned char)s[i], kind); i++) dst[i] = s[i];
  return i;
}

size_t SIO_SPAN_NAME(ascii)(const char *s, size_t len) { return span(s, len, K_ASCII); }
size_t SIO_SPAN_NAME(json_plain)(const char *s, size_t len) { return span(s, len, K_PLAIN); }
size_t SIO_SPAN_NAME(json_safe)(const char *s, size_t len) { return span(s, len, K_SAFE); }
size_t SIO_SPAN_NAME(json_safe_copy)(char *dst, const char *s, size_t len) {
  return span_copy(dst, s, len, K_SAFE);
}
