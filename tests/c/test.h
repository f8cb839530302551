/* A minimal test harness: each tests/c/test_*.c is one executable holding several cases.
 *   TEST(name) { CHECK(...); CHECK_EQ_INT(a, b); CHECK_MEM(p, n, q, m); }
 *   TEST_MAIN(RUN(name), RUN(other))
 * A failed check reports file:line and fails the case; main prints "N passed, N failed" and exits
 * non-zero when any case failed. */
#ifndef SIO_TEST_H
#define SIO_TEST_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int test_failed_;

#define TEST(name) static void test_##name(void)

#define CHECK(cond)                                                         \
  do {                                                                      \
    if (!(cond)) {                                                          \
      fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
      test_failed_ = 1;                                                     \
      return;                                                               \
    }                                                                       \
  } while (0)

#define CHECK_EQ_INT(a, b)                                                          \
  do {                                                                              \
    long long a_ = (long long)(a), b_ = (long long)(b);                             \
    if (a_ != b_) {                                                                 \
      fprintf(stderr, "%s:%d: %s == %s failed: %lld != %lld\n", __FILE__, __LINE__, #a, #b, \
              a_, b_);                                                              \
      test_failed_ = 1;                                                             \
      return;                                                                       \
    }                                                                               \
  } while (0)

#define CHECK_MEM(p, n, q, m)                                                         \
  do {                                                                                \
    size_t n_ = (size_t)(n), m_ = (size_t)(m);                                        \
    if (n_ != m_ || memcmp((p), (q), n_) != 0) {                                      \
      fprintf(stderr, "%s:%d: bytes differ: \"%.*s\" (%zu) vs \"%.*s\" (%zu)\n", __FILE__, \
              __LINE__, (int)n_, (const char *)(p), n_, (int)m_, (const char *)(q), m_); \
      test_failed_ = 1;                                                               \
      return;                                                                         \
    }                                                                                 \
  } while (0)

#define CHECK_STR(p, n, s) CHECK_MEM(p, n, s, strlen(s))

typedef struct { const char *name; void (*fn)(void); } test_case_t;
#define RUN(name) {#name, test_##name}

#define TEST_MAIN(...)                                                         \
  int main(void) {                                                             \
    static const test_case_t cases[] = {__VA_ARGS__};                          \
    int passed = 0, failed = 0;                                                \
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {              \
      test_failed_ = 0;                                                        \
      cases[i].fn();                                                           \
      if (test_failed_) {                                                      \
        failed++;                                                              \
        fprintf(stderr, "FAIL %s\n", cases[i].name);                           \
      } else {                                                                 \
        passed++;                                                              \
        printf("ok   %s\n", cases[i].name);                                    \
      }                                                                        \
    }                                                                          \
    printf("%d passed, %d failed\n", passed, failed);                          \
    return failed ? 1 : 0;                                                     \
  }

#endif
