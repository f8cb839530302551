#include "bench_util.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

/* ---- histogram ---- */

static size_t hist_index(uint64_t v) {
  if (v < 128) return (size_t)v;
  int msb = 63 - __builtin_clzll(v);
  int shift = msb - 6; /* v >> shift is in [64, 127] */
  return 128 + (size_t)(shift - 1) * 64 + (size_t)((v >> shift) - 64);
}

static uint64_t hist_value(size_t i) {
  if (i < 128) return i;
  size_t k = i - 128;
  int shift = (int)(k / 64) + 1;
  uint64_t lower = (uint64_t)(k % 64 + 64) << shift;
  return lower + ((uint64_t)1 << shift) / 2;
}

void hist_reset(hist_t *h) { memset(h, 0, sizeof *h); }

void hist_add(hist_t *h, uint64_t ns) {
  h->counts[hist_index(ns)]++;
  h->total++;
  if (ns > h->max) h->max = ns;
}

uint64_t hist_percentile(const hist_t *h, double p) {
  if (h->total == 0) return 0;
  uint64_t target = (uint64_t)(p * (double)h->total + 0.999999);
  if (target < 1) target = 1;
  if (target > h->total) target = h->total;
  uint64_t seen = 0;
  for (size_t i = 0; i < HIST_BUCKETS; i++) {
    seen += h->counts[i];
    if (seen >= target) {
      uint64_t v = hist_value(i);
      return v > h->max ? h->max : v;
    }
  }
  return h->max;
}

/* ---- frames ---- */

int wsf_parse(const uint8_t *p, size_t n, wsf_t *f) {
  if (n < 2) return 0;
  if (p[0] & 0x30) return -1;
  f->rsv1 = (p[0] & 0x40) != 0;
  f->fin = (p[0] & 0x80) != 0;
  f->opcode = p[0] & 0x0f;
  f->masked = (p[1] & 0x80) != 0;
  uint64_t len = p[1] & 0x7f;
  size_t h = 2;
  if (len == 126) {
    if (n < 4) return 0;
    len = ((uint64_t)p[2] << 8) | p[3];
    h = 4;
  } else if (len == 127) {
    if (n < 10) return 0;
    len = 0;
    for (int i = 0; i < 8; i++) len = (len << 8) | p[2 + i];
    if (len >> 63) return -1;
    h = 10;
  }
  if (f->masked) {
    if (n < h + 4) return 0;
    memcpy(f->mask, p + h, 4);
    h += 4;
  }
  switch (f->opcode) {
  case WS_CONT: case WS_TEXT: case WS_BINARY: break;
  case WS_CLOSE: case WS_PING: case WS_PONG:
    if (!f->fin || len > 125 || f->rsv1) return -1;
    break;
  default: return -1;
  }
  f->len = len;
  f->hlen = h;
  return 1;
}

size_t wsf_header(uint8_t *out, uint8_t b0, uint64_t len, const uint8_t *mask) {
  uint8_t m = mask ? 0x80 : 0;
  size_t h;
  out[0] = b0;
  if (len < 126) {
    out[1] = m | (uint8_t)len;
    h = 2;
  } else if (len <= 0xffff) {
    out[1] = m | 126;
    out[2] = (uint8_t)(len >> 8);
    out[3] = (uint8_t)len;
    h = 4;
  } else {
    out[1] = m | 127;
    for (int i = 0; i < 8; i++) out[2 + i] = (uint8_t)(len >> (56 - 8 * i));
    h = 10;
  }
  if (mask) {
    memcpy(out + h, mask, 4);
    h += 4;
  }
  return h;
}

void ws_mask_copy(uint8_t *dst, const uint8_t *src, size_t n, const uint8_t mask[4], size_t phase) {
  uint8_t m[8];
  for (int i = 0; i < 8; i++) m[i] = mask[(phase + (size_t)i) & 3];
  uint64_t w;
  memcpy(&w, m, 8);
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    uint64_t v;
    memcpy(&v, src + i, 8);
    v ^= w;
    memcpy(dst + i, &v, 8);
  }
  for (; i < n; i++) dst[i] = src[i] ^ m[i & 7];
}

/* ---- /proc ---- */

static size_t read_small_file(const char *path, char *buf, size_t cap) {
  FILE *f = fopen(path, "r");
  if (!f) return 0;
  size_t n = fread(buf, 1, cap - 1, f);
  fclose(f);
  buf[n] = 0;
  return n;
}

double proc_cpu_seconds(int pid) {
  char path[64], buf[4096];
  snprintf(path, sizeof path, "/proc/%d/stat", pid);
  if (!read_small_file(path, buf, sizeof buf)) return -1;
  /* comm (field 2) may hold spaces and parentheses: fields are counted after the last ')'. */
  char *p = strrchr(buf, ')');
  if (!p) return -1;
  p++;
  unsigned long long utime = 0, stime = 0;
  /* fields 3..13 then utime (14) and stime (15) */
  if (sscanf(p, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &utime, &stime) != 2)
    return -1;
  long tick = sysconf(_SC_CLK_TCK);
  if (tick <= 0) tick = 100;
  return (double)(utime + stime) / (double)tick;
}

long proc_rss_kib(int pid) {
  char path[64], buf[8192];
  snprintf(path, sizeof path, "/proc/%d/status", pid);
  if (!read_small_file(path, buf, sizeof buf)) return -1;
  char *p = strstr(buf, "\nVmRSS:");
  if (!p) return -1;
  p += 7;
  while (*p && !isdigit((unsigned char)*p)) p++;
  return strtol(p, NULL, 10);
}

double self_cpu_seconds(void) {
  struct rusage ru;
  if (getrusage(RUSAGE_SELF, &ru) != 0) return -1;
  return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
         (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}
