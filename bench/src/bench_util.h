/* What sio-loadgen and sio-raw-echo share: a latency histogram, WebSocket frame headers and
 * masking, and readings of /proc. Nothing here allocates. */
#ifndef SIO_BENCH_UTIL_H
#define SIO_BENCH_UTIL_H

#include <stddef.h>
#include <stdint.h>

/* ---- latency histogram ----
 * Log-linear buckets of nanoseconds: exact below 128 ns, then 64 buckets per power of two
 * (at most 1.6% error), up to 2^64 ns. Adding a sample is a few instructions; percentiles
 * walk the buckets, so millions of samples are never sorted. */
#define HIST_BUCKETS (128 + 57 * 64)

typedef struct hist {
  uint64_t counts[HIST_BUCKETS];
  uint64_t total;
  uint64_t max;
} hist_t;

void hist_reset(hist_t *h);
void hist_add(hist_t *h, uint64_t ns);
/* The value (ns, bucket midpoint) at or below which a fraction p (0..1) of the samples lie;
 * 0 when empty. */
uint64_t hist_percentile(const hist_t *h, double p);

/* ---- WebSocket frames (RFC 6455) ---- */
enum { WS_CONT = 0x0, WS_TEXT = 0x1, WS_BINARY = 0x2, WS_CLOSE = 0x8, WS_PING = 0x9, WS_PONG = 0xA };

typedef struct wsf {
  int fin;
  int opcode;
  int masked;
  int rsv1;      /* permessage-deflate's "compressed" bit: the caller decides whether it was negotiated */
  uint8_t mask[4];
  uint64_t len;  /* payload length */
  size_t hlen;   /* header length, mask included */
} wsf_t;

/* Parses a frame header at p. Returns 1 with *f filled, 0 when more bytes are needed, -1 on a
 * header no peer may send (RSV2 or RSV3 set, RSV1 on a control frame, unknown opcode, a 64-bit length with the top bit set, a
 * fragmented or oversized control frame). */
int wsf_parse(const uint8_t *p, size_t n, wsf_t *f);
/* Writes a header (2 to 14 bytes) for a frame whose first byte is `b0` (FIN | opcode) into out;
 * mask NULL for a server frame. Returns its length. */
size_t wsf_header(uint8_t *out, uint8_t b0, uint64_t len, const uint8_t *mask);
/* dst[i] = src[i] ^ mask[(phase + i) % 4]; dst may equal src. */
void ws_mask_copy(uint8_t *dst, const uint8_t *src, size_t n, const uint8_t mask[4], size_t phase);

/* ---- /proc ---- */
/* utime + stime of a process in seconds (/proc/PID/stat); -1 when unreadable. */
double proc_cpu_seconds(int pid);
/* VmRSS of a process in KiB (/proc/PID/status); -1 when unreadable. */
long proc_rss_kib(int pid);
/* This process's user + system CPU seconds (getrusage). */
double self_cpu_seconds(void);

#endif
