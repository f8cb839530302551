/* Feeds arbitrary bytes to the HTTP request parser the way a connection would: in reads of varying
 * size, taking each request, resuming after a pause and feeding what was left of the read, until
 * an error, an upgrade or the end. Every delivered request is read through entirely, so a pointer
 * that strays outside the parser's storage shows up under ASan.
 *
 * Input layout: byte 0 picks the limits and whether requests pause, bytes 1..4 the read sizes
 * (cycled), the rest is the stream. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http/http_parser.h"
#include "sio.h"

typedef struct {
  int pause;
  unsigned long sink; /* keeps the reads of the request from being optimised away */
} fuzz_state_t;

static void check(int cond) {
  if (!cond) abort();
}

static void touch(fuzz_state_t *st, const char *p, size_t n) {
  for (size_t i = 0; i < n; i++) st->sink += (unsigned char)p[i];
}

static void query_all(fuzz_state_t *st, const char *q, size_t n) {
  static const char *const keys[] = {"EIO", "transport", "sid", "t", "", "b64"};
  char small[4], big[256];
  for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++) {
    int dup = 0;
    long a = sio_http_query_get(q, n, keys[k], big, sizeof big, &dup);
    long b = sio_http_query_get(q, n, keys[k], small, sizeof small, NULL);
    long c = sio_http_query_get(q, n, keys[k], NULL, 0, NULL);
    check(a == b && b == c && a <= (long)n);
    if (a >= 0) {
      size_t shown = (size_t)a < sizeof big ? (size_t)a : sizeof big - 1;
      check(big[shown] == '\0');
      check(small[(size_t)a < sizeof small ? (size_t)a : sizeof small - 1] == '\0');
      check(memcmp(small, big, (size_t)a < sizeof small - 1 ? (size_t)a : sizeof small - 1) == 0);
      touch(st, big, shown);
    } else {
      check(a == -1 && dup == 0);
    }
  }
}

static int on_request(sio_http_parser_t *p, const sio_http_request_t *req) {
  fuzz_state_t *st = sio_http_parser_user(p);
  check(req->method != NULL && req->url != NULL);
  touch(st, req->method, strlen(req->method));
  check(strlen(req->url) == req->url_len);
  touch(st, req->path, req->path_len);
  touch(st, req->query, req->query_len);
  for (size_t i = 0; i < req->header_count; i++) {
    const sio_http_header_t *h = &req->headers[i];
    check(strlen(h->name) == h->name_len);
    /* A %00-free value is NUL-terminated at its length; llhttp lets no NUL through. */
    check(strlen(h->value) == h->value_len);
    check(memchr(h->value, '\r', h->value_len) == NULL && memchr(h->value, '\n', h->value_len) == NULL);
    for (size_t j = 0; j < h->name_len; j++) check(!(h->name[j] >= 'A' && h->name[j] <= 'Z'));
    check(sio_http_find_header(req, h->name) != NULL);
    st->sink += (unsigned long)sio_http_header_has_token(h->value, h->value_len, "upgrade");
  }
  check((req->body == NULL) == (req->body_len == 0));
  touch(st, req->body, req->body_len);
  query_all(st, req->query, req->query_len);
  query_all(st, req->url, req->url_len);

  sio_sbuf_t out = SIO_SBUF_INIT;
  const sio_http_header_t *ct = sio_http_find_header(req, "content-type");
  check(sio_http_write_head(&out, 200 + (int)(req->url_len % 400), ct ? ct->value : NULL,
                            (long)req->body_len - 1, req->keep_alive, NULL) == 0);
  touch(st, out.data, out.len);
  sio_sbuf_free(&out);
  return st->pause ? SIO_HTTP_PAUSE : SIO_HTTP_CONTINUE;
}

/* "Expect: 100-continue" seen: nothing to do but be called safely (the head is still being read). */
static void on_continue(sio_http_parser_t *p) { (void)sio_http_parser_user(p); }

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 5) return 0;
  fuzz_state_t st = {0, 0};
  st.pause = data[0] & 1;
  size_t max_header = (size_t)32 << ((data[0] >> 1) & 7); /* 32 .. 4096 */
  size_t max_body = (size_t)1 << ((data[0] >> 4) & 15);   /* 1 .. 32768 */
  const uint8_t *reads = data + 1;
  const char *in = (const char *)data + 5;
  size_t len = size - 5;

  sio_http_parser_t *p = sio_http_parser_new(max_header, max_body, on_request, &st);
  if (!p) return 0;
  sio_http_parser_on_continue(p, on_continue);
  size_t off = 0, step = 0;
  int done = 0;
  while (off < len && !done) {
    size_t n = (size_t)reads[step++ % 4] + 1;
    if (n > len - off) n = len - off;
    /* One read: the parser may stop part-way (a pause); the rest of the read is fed again. */
    while (n > 0) {
      size_t used = (size_t)-1;
      int r = sio_http_parser_execute(p, in + off, n, &used);
      check(used <= n);
      off += used;
      n -= used;
      if (r == SIO_HTTP_OK) {
        check(n == 0);
      } else if (r == SIO_HTTP_PAUSED) {
        check(sio_http_parser_in_request(p) == 0);
        sio_http_parser_resume(p);
      } else if (r == SIO_HTTP_UPGRADE) {
        done = 1;
        break;
      } else {
        check(r == SIO_HTTP_E_BAD_REQUEST || r == SIO_HTTP_E_HEADERS_TOO_LARGE ||
              r == SIO_HTTP_E_BODY_TOO_LARGE);
        done = 1;
        break;
      }
    }
  }
  sio_http_parser_free(p);
  return 0;
}
