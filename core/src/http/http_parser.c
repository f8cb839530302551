#include "http_parser.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <llhttp.h>

#include "sio.h"
#include "url.h"

/* Buffers that grew past this while holding one request are freed rather than kept, so an idle
 * keep-alive connection does not sit on the memory of its largest request. */
#define SIO_HTTP_KEEP_CAP (16 * 1024)

/* Where a header lives in `strs` while the head accumulates: offsets, because strs may move. */
typedef struct {
  size_t name_off, name_len;
  size_t value_off, value_len;
} hdr_span_t;

enum { ST_RUNNING, ST_PAUSED, ST_UPGRADED, ST_FAILED };

struct sio_http_parser_s {
  llhttp_t ll;
  size_t max_header, max_body;
  sio_http_request_cb on_request;
  sio_http_continue_cb on_continue;
  void *user;

  sio_sbuf_t strs;  /* url \0 name \0 value \0 name \0 value \0 ... */
  sio_sbuf_t spans; /* hdr_span_t per header */
  sio_sbuf_t hdrs;  /* sio_http_header_t per header, built at delivery */
  sio_sbuf_t body;  /* de-chunked; NUL-terminated past body.len once delivered */
  sio_http_request_t req; /* the one delivered */
  size_t url_len;
  size_t head_bytes; /* raw bytes of the current head fed so far */
  size_t meta_bytes; /* chunk extensions and trailers: unbounded by llhttp, so counted here */
  int err;           /* the first error a callback raised; llhttp only says "callback error" */
  int state;
  int keep_alive;
  unsigned in_request : 1;
  unsigned headers_done : 1;
  unsigned complete : 1;
  unsigned in_field : 1;  /* a header name is being accumulated */
  unsigned in_value : 1;  /* its value is being accumulated */
  unsigned delivered : 1; /* storage still holds a delivered request */
};

#define PARSER(ll) ((sio_http_parser_t *)(ll)->data)

static int fail(sio_http_parser_t *p, int err) {
  if (!p->err) p->err = err;
  return -1;
}

/* ---------------------------------------------------------------------------------------------- */
/* Accumulation                                                                                    */

static int on_message_begin(llhttp_t *ll) {
  sio_http_parser_t *p = PARSER(ll);
  p->in_request = 1;
  return 0;
}

static int on_url(llhttp_t *ll, const char *at, size_t len) {
  sio_http_parser_t *p = PARSER(ll);
  return sio_sbuf_append(&p->strs, at, len) ? fail(p, SIO_ENOMEM) : 0;
}

static int on_url_complete(llhttp_t *ll) {
  sio_http_parser_t *p = PARSER(ll);
  p->url_len = p->strs.len;
  return sio_sbuf_append_char(&p->strs, '\0') ? fail(p, SIO_ENOMEM) : 0;
}

static hdr_span_t *last_span(sio_http_parser_t *p) {
  return (hdr_span_t *)(void *)(p->spans.data + p->spans.len - sizeof(hdr_span_t));
}

static int is_blank(char c) {
  return c == ' ' || c == '\t';
}

/* Values are trimmed, and any CR/LF that an obs-fold left inside becomes a space, so no header
 * value can smuggle a line break into something the server echoes. */
static int finish_value(sio_http_parser_t *p) {
  hdr_span_t *h = last_span(p);
  char *v = p->strs.data + h->value_off;
  size_t n = p->strs.len - h->value_off;
  for (size_t i = 0; i < n; i++)
    if (v[i] == '\r' || v[i] == '\n') v[i] = ' ';
  while (n > 0 && is_blank(v[n - 1])) n--;
  size_t lead = 0;
  while (lead < n && is_blank(v[lead])) lead++;
  p->strs.len = h->value_off + n;
  h->value_off += lead;
  h->value_len = n - lead;
  p->in_value = 0;
  return sio_sbuf_append_char(&p->strs, '\0') ? fail(p, SIO_ENOMEM) : 0;
}

static int start_field(sio_http_parser_t *p) {
  if (p->in_value && finish_value(p)) return -1;
  hdr_span_t h = {p->strs.len, 0, 0, 0};
  if (sio_sbuf_append(&p->spans, &h, sizeof h)) return fail(p, SIO_ENOMEM);
  p->in_field = 1;
  return 0;
}

static int on_header_field(llhttp_t *ll, const char *at, size_t len) {
  sio_http_parser_t *p = PARSER(ll);
  if (p->headers_done) {
    /* Trailers: nobody reads them, but their size must stay bounded. */
    p->meta_bytes += len;
    return p->meta_bytes > p->max_header ? fail(p, SIO_HTTP_E_HEADERS_TOO_LARGE) : 0;
  }
  if (!p->in_field && start_field(p)) return -1;
  return sio_sbuf_append(&p->strs, at, len) ? fail(p, SIO_ENOMEM) : 0;
}

static int on_header_field_complete(llhttp_t *ll) {
  sio_http_parser_t *p = PARSER(ll);
  if (p->headers_done) return 0;
  if (!p->in_field && start_field(p)) return -1;
  hdr_span_t *h = last_span(p);
  h->name_len = p->strs.len - h->name_off;
  char *s = p->strs.data + h->name_off;
  for (size_t i = 0; i < h->name_len; i++)
    if (s[i] >= 'A' && s[i] <= 'Z') s[i] = (char)(s[i] + ('a' - 'A'));
  if (sio_sbuf_append_char(&p->strs, '\0')) return fail(p, SIO_ENOMEM);
  h = last_span(p);
  h->value_off = p->strs.len;
  p->in_field = 0;
  p->in_value = 1;
  return 0;
}

static int on_header_value(llhttp_t *ll, const char *at, size_t len) {
  sio_http_parser_t *p = PARSER(ll);
  if (p->headers_done) {
    p->meta_bytes += len;
    return p->meta_bytes > p->max_header ? fail(p, SIO_HTTP_E_HEADERS_TOO_LARGE) : 0;
  }
  if (!p->in_value) return 0;
  return sio_sbuf_append(&p->strs, at, len) ? fail(p, SIO_ENOMEM) : 0;
}

static int on_header_value_complete(llhttp_t *ll) {
  sio_http_parser_t *p = PARSER(ll);
  if (p->headers_done || !p->in_value) return 0;
  return finish_value(p);
}

/* Whether the head (accumulating in strs/spans) has "Expect: 100-continue". */
static int expects_continue(const sio_http_parser_t *p) {
  const hdr_span_t *spans = (const hdr_span_t *)(const void *)p->spans.data;
  size_t count = p->spans.len / sizeof(hdr_span_t);
  for (size_t i = 0; i < count; i++) {
    if (spans[i].name_len != 6 || memcmp(p->strs.data + spans[i].name_off, "expect", 6) != 0) continue;
    const char *v = p->strs.data + spans[i].value_off;
    if (spans[i].value_len == 12 && strncasecmp(v, "100-continue", 12) == 0) return 1;
  }
  return 0;
}

static int on_headers_complete(llhttp_t *ll) {
  sio_http_parser_t *p = PARSER(ll);
  if (p->in_value && finish_value(p)) return -1;
  p->headers_done = 1;
  if (ll->http_major != 1) return fail(p, SIO_HTTP_E_BAD_REQUEST);
  /* Refuse an announced body at once rather than after reading up to the limit of it. */
  if ((ll->flags & F_CONTENT_LENGTH) && !(ll->flags & F_CHUNKED) &&
      ll->content_length > p->max_body)
    return fail(p, SIO_HTTP_E_BODY_TOO_LARGE);
  int body = (ll->flags & F_CHUNKED) || ((ll->flags & F_CONTENT_LENGTH) && ll->content_length > 0);
  if (p->on_continue && body && ll->http_minor >= 1 && !ll->upgrade && expects_continue(p))
    p->on_continue(p);
  return 0;
}

static int on_body(llhttp_t *ll, const char *at, size_t len) {
  sio_http_parser_t *p = PARSER(ll);
  if (len > p->max_body - p->body.len) return fail(p, SIO_HTTP_E_BODY_TOO_LARGE);
  return sio_sbuf_append(&p->body, at, len) ? fail(p, SIO_ENOMEM) : 0;
}

static int on_chunk_header(llhttp_t *ll) {
  sio_http_parser_t *p = PARSER(ll);
  if (ll->content_length > p->max_body - p->body.len) return fail(p, SIO_HTTP_E_BODY_TOO_LARGE);
  return 0;
}

static int on_chunk_extension(llhttp_t *ll, const char *at, size_t len) {
  sio_http_parser_t *p = PARSER(ll);
  p->meta_bytes += len;
  return p->meta_bytes > p->max_header ? fail(p, SIO_HTTP_E_BODY_TOO_LARGE) : 0;
}

/* Delivery happens outside llhttp: this pauses it, and execute() hands the request over once
 * llhttp has returned, so on_request runs on a plain stack and the exact end of the message is
 * known. An upgrade is left to llhttp, which stops with HPE_PAUSED_UPGRADE right after. */
static int on_message_complete(llhttp_t *ll) {
  sio_http_parser_t *p = PARSER(ll);
  if (p->in_value && finish_value(p)) return -1;
  p->complete = 1;
  p->keep_alive = llhttp_should_keep_alive(ll);
  return ll->upgrade ? 0 : HPE_PAUSED;
}

static const llhttp_settings_t settings = {
  .on_message_begin = on_message_begin,
  .on_url = on_url,
  .on_url_complete = on_url_complete,
  .on_header_field = on_header_field,
  .on_header_field_complete = on_header_field_complete,
  .on_header_value = on_header_value,
  .on_header_value_complete = on_header_value_complete,
  .on_headers_complete = on_headers_complete,
  .on_body = on_body,
  .on_chunk_header = on_chunk_header,
  .on_chunk_extension_name = on_chunk_extension,
  .on_chunk_extension_value = on_chunk_extension,
  .on_message_complete = on_message_complete,
};

/* ---------------------------------------------------------------------------------------------- */
/* Delivery                                                                                        */

static void trim(sio_sbuf_t *b) {
  if (b->cap > SIO_HTTP_KEEP_CAP)
    sio_sbuf_free(b);
  else
    b->len = 0;
}

static void reset_request(sio_http_parser_t *p) {
  trim(&p->strs);
  trim(&p->spans);
  trim(&p->hdrs);
  trim(&p->body);
  p->url_len = 0;
  p->head_bytes = 0;
  p->meta_bytes = 0;
  p->in_request = 0;
  p->headers_done = 0;
  p->complete = 0;
  p->in_field = 0;
  p->in_value = 0;
  p->delivered = 0;
  memset(&p->req, 0, sizeof p->req);
}

static int has_prefix_ci(const char *s, size_t n, const char *prefix) {
  size_t m = strlen(prefix);
  if (n < m) return 0;
  for (size_t i = 0; i < m; i++) {
    char c = s[i];
    if (c >= 'A' && c <= 'Z') c = (char)(c + ('a' - 'A'));
    if (c != prefix[i]) return 0;
  }
  return 1;
}

/* Hands the request to on_request and stores its answer in *verdict. 0 or SIO_ENOMEM. */
static int deliver(sio_http_parser_t *p, int upgrade, int *verdict) {
  size_t count = p->spans.len / sizeof(hdr_span_t);
  if (sio_sbuf_reserve(&p->hdrs, count * sizeof(sio_http_header_t)) ||
      (p->body.len && sio_sbuf_reserve(&p->body, 1)) || sio_sbuf_reserve(&p->strs, 1))
    return SIO_ENOMEM;
  if (p->strs.len == 0) p->strs.data[0] = '\0'; /* llhttp insists on a target; never trust it */

  sio_http_header_t *hs = (sio_http_header_t *)(void *)p->hdrs.data;
  const hdr_span_t *spans = (const hdr_span_t *)(const void *)p->spans.data;
  for (size_t i = 0; i < count; i++) {
    hs[i].name = p->strs.data + spans[i].name_off;
    hs[i].name_len = spans[i].name_len;
    hs[i].value = p->strs.data + spans[i].value_off;
    hs[i].value_len = spans[i].value_len;
  }
  p->hdrs.len = count * sizeof(sio_http_header_t);

  /* Kept in the parser: a paused request may be looked at until it is resumed. */
  sio_http_request_t *req = &p->req;
  memset(req, 0, sizeof *req);
  req->method = llhttp_method_name((llhttp_method_t)p->ll.method);
  req->url = p->strs.data;
  req->url_len = p->url_len;

  /* An absolute-form target (from a proxy) still routes by its path. */
  const char *u = req->url, *end = req->url + req->url_len;
  const char *q = memchr(u, '?', req->url_len);
  const char *path_end = q ? q : end;
  req->path = u;
  req->path_len = (size_t)(path_end - u);
  size_t scheme = has_prefix_ci(u, req->url_len, "http://")    ? 7
                  : has_prefix_ci(u, req->url_len, "https://") ? 8
                                                               : 0;
  if (scheme) { /* no '?' can precede the "//", so path_end lies past it */
    const char *slash = memchr(u + scheme, '/', (size_t)(path_end - u) - scheme);
    req->path = slash ? slash : "/";
    req->path_len = slash ? (size_t)(path_end - slash) : 1;
  }
  req->query = q ? q + 1 : "";
  req->query_len = q ? (size_t)(end - q - 1) : 0;

  req->headers = count ? hs : NULL;
  req->header_count = count;
  if (p->body.len) {
    p->body.data[p->body.len] = '\0'; /* not promised, but spares text handlers a copy */
    req->body = p->body.data;
    req->body_len = p->body.len;
  }
  req->http_major = p->ll.http_major;
  req->http_minor = p->ll.http_minor;
  req->keep_alive = p->keep_alive;
  req->upgrade = upgrade;

  p->delivered = 1;
  p->in_request = 0;
  *verdict = p->on_request(p, req);
  return 0;
}

/* ---------------------------------------------------------------------------------------------- */
/* Parser                                                                                          */

void sio_http_parser_reset(sio_http_parser_t *p, size_t max_header_size, size_t max_body_size,
                           sio_http_request_cb on_request, void *user) {
  sio_sbuf_t keep[4] = {p->strs, p->spans, p->hdrs, p->body};
  memset(p, 0, sizeof *p);
  p->strs = keep[0];
  p->spans = keep[1];
  p->hdrs = keep[2];
  p->body = keep[3];
  p->strs.len = p->spans.len = p->hdrs.len = p->body.len = 0;
  /* Zero would leave no room for any head; take the server's default instead. */
  p->max_header = max_header_size ? max_header_size : 16384;
  p->max_body = max_body_size;
  p->on_request = on_request;
  p->user = user;
  llhttp_init(&p->ll, HTTP_REQUEST, &settings);
  p->ll.data = p;
}

size_t sio_http_parser_footprint(const sio_http_parser_t *p) {
  return p->strs.cap + p->spans.cap + p->hdrs.cap + p->body.cap;
}

sio_http_parser_t *sio_http_parser_new(size_t max_header_size, size_t max_body_size,
                                       sio_http_request_cb on_request, void *user) {
  sio_http_parser_t *p = calloc(1, sizeof *p);
  if (!p) return NULL;
  sio_http_parser_reset(p, max_header_size, max_body_size, on_request, user);
  return p;
}

void sio_http_parser_free(sio_http_parser_t *p) {
  if (!p) return;
  sio_sbuf_free(&p->strs);
  sio_sbuf_free(&p->spans);
  sio_sbuf_free(&p->hdrs);
  sio_sbuf_free(&p->body);
  free(p);
}

void sio_http_parser_on_continue(sio_http_parser_t *p, sio_http_continue_cb cb) { p->on_continue = cb; }

void *sio_http_parser_user(const sio_http_parser_t *p) {
  return p->user;
}

static int failed(sio_http_parser_t *p, int err) {
  p->state = ST_FAILED;
  p->err = err;
  return err;
}

int sio_http_parser_execute(sio_http_parser_t *p, const char *data, size_t len, size_t *consumed) {
  size_t off = 0;
  *consumed = 0;
  switch (p->state) {
    case ST_PAUSED: return SIO_HTTP_PAUSED;
    case ST_UPGRADED: return SIO_EINVAL;
    case ST_FAILED: return p->err;
    default: break;
  }
  if (p->delivered) reset_request(p);

  while (off < len) {
    /* A head is fed at most up to the room left for it, so an endless one is refused after
     * max_header_size bytes, however they are split across reads and whatever they contain
     * (llhttp skips some bytes, such as blanks, without reporting them). */
    int in_head = !p->headers_done;
    size_t n = len - off;
    if (in_head && n > p->max_header - p->head_bytes) n = p->max_header - p->head_bytes;

    llhttp_errno_t rc = llhttp_execute(&p->ll, data + off, n);
    if (rc == HPE_OK) {
      off += n;
      if (in_head && !p->headers_done) {
        p->head_bytes += n;
        if (p->head_bytes >= p->max_header) {
          *consumed = off;
          return failed(p, SIO_HTTP_E_HEADERS_TOO_LARGE);
        }
      }
      continue;
    }

    const char *pos = llhttp_get_error_pos(&p->ll);
    size_t at = pos && pos >= data && pos <= data + len ? (size_t)(pos - data) : off + n;
    if (rc == HPE_PAUSED && p->complete) {
      off = at;
      int verdict;
      if (deliver(p, 0, &verdict)) {
        *consumed = off;
        return failed(p, SIO_ENOMEM);
      }
      if (verdict == SIO_HTTP_PAUSE) {
        p->state = ST_PAUSED;
        *consumed = off;
        return SIO_HTTP_PAUSED;
      }
      llhttp_resume(&p->ll);
      reset_request(p);
      continue;
    }
    if (rc == HPE_PAUSED_UPGRADE && p->complete) {
      *consumed = at;
      p->state = ST_UPGRADED;
      int verdict;
      if (deliver(p, 1, &verdict)) return failed(p, SIO_ENOMEM);
      return SIO_HTTP_UPGRADE;
    }
    if (rc == HPE_CLOSED_CONNECTION) {
      /* Bytes after a request that ended the connection (only a strict llhttp build reports
       * them; the default one skips them): the response is on its way and the connection closes
       * after it, so they are dropped rather than answered with a 400. */
      *consumed = len;
      return SIO_HTTP_OK;
    }
    *consumed = at;
    return failed(p, p->err ? p->err : SIO_HTTP_E_BAD_REQUEST);
  }
  *consumed = off;
  return SIO_HTTP_OK;
}

void sio_http_parser_resume(sio_http_parser_t *p) {
  if (p->state != ST_PAUSED) return;
  p->state = ST_RUNNING;
  llhttp_resume(&p->ll);
  /* The paused request's response is done; its memory need not wait for more input. */
  reset_request(p);
}

int sio_http_parser_in_request(const sio_http_parser_t *p) {
  return p->in_request;
}

/* ---------------------------------------------------------------------------------------------- */
/* Helpers                                                                                         */

static int lower(int c) {
  return c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c;
}

static int eq_ci(const char *a, size_t n, const char *b, size_t m) {
  if (n != m) return 0;
  for (size_t i = 0; i < n; i++)
    if (lower((unsigned char)a[i]) != lower((unsigned char)b[i])) return 0;
  return 1;
}

const sio_http_header_t *sio_http_find_header(const sio_http_request_t *req, const char *name) {
  size_t n = strlen(name);
  for (size_t i = 0; i < req->header_count; i++) {
    const sio_http_header_t *h = &req->headers[i];
    if (eq_ci(h->name, h->name_len, name, n)) return h;
  }
  return NULL;
}

int sio_http_header_has_token(const char *value, size_t len, const char *token) {
  size_t tlen = strlen(token);
  size_t i = 0;
  while (i <= len) {
    size_t j = i;
    while (j < len && value[j] != ',') j++;
    size_t s = i, e = j;
    while (s < e && is_blank(value[s])) s++;
    while (e > s && is_blank(value[e - 1])) e--;
    if (eq_ci(value + s, e - s, token, tlen)) return 1;
    i = j + 1;
  }
  return 0;
}

/* Whether s[0..n) decodes to exactly `key`. Keys are decoded too: "t%72ansport" is "transport". */
static int key_matches(const char *s, size_t n, const char *key) {
  size_t i = 0, k = 0;
  while (i < n) {
    int c = sio_url_next(s, n, &i);
    if (key[k] == '\0' || (unsigned char)key[k] != c) return 0;
    k++;
  }
  return key[k] == '\0';
}

long sio_http_query_get(const char *query, size_t len, const char *key, char *out, size_t outsz,
                        int *dup) {
  long found = -1;
  size_t i = 0;
  if (dup) *dup = 0;
  while (i < len) {
    size_t e = i;
    while (e < len && query[e] != '&') e++;
    size_t eq = i;
    while (eq < e && query[eq] != '=') eq++;
    /* "a=1&&b=2" has no empty-named parameter between its '&'s. */
    if (e > i && key_matches(query + i, eq - i, key)) {
      if (found >= 0) {
        if (dup) *dup = 1;
        break;
      }
      const char *v = query + (eq < e ? eq + 1 : e);
      size_t vn = eq < e ? e - eq - 1 : 0;
      size_t j = 0, w = 0;
      while (j < vn) {
        int c = sio_url_next(v, vn, &j);
        if (out && w + 1 < outsz) out[w] = (char)c;
        w++;
      }
      if (out && outsz) out[w < outsz ? w : outsz - 1] = '\0';
      found = (long)w;
    }
    i = e + 1;
  }
  return found;
}

const char *sio_http_status_text(int status) {
  switch (status) {
    case 100: return "Continue";
    case 101: return "Switching Protocols";
    case 200: return "OK";
    case 201: return "Created";
    case 204: return "No Content";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 304: return "Not Modified";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 411: return "Length Required";
    case 413: return "Payload Too Large";
    case 414: return "URI Too Long";
    case 415: return "Unsupported Media Type";
    case 426: return "Upgrade Required";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 505: return "HTTP Version Not Supported";
    default: return "Unknown";
  }
}

int sio_http_write_head(sio_sbuf_t *out, int status, const char *content_type, long content_length,
                        int keep_alive, const char *extra) {
  size_t start = out->len;
  int r = sio_sbuf_append_str(out, "HTTP/1.1 ");
  if (!r) r = sio_sbuf_append_u64(out, (uint64_t)(status < 0 ? 0 : status));
  if (!r) r = sio_sbuf_append_char(out, ' ');
  if (!r) r = sio_sbuf_append_str(out, sio_http_status_text(status));
  if (!r) r = sio_sbuf_append_str(out, "\r\n");
  if (!r && content_type) {
    r = sio_sbuf_append_str(out, "Content-Type: ");
    if (!r) r = sio_sbuf_append_str(out, content_type);
    if (!r) r = sio_sbuf_append_str(out, "\r\n");
  }
  if (!r && content_length >= 0) {
    r = sio_sbuf_append_str(out, "Content-Length: ");
    if (!r) r = sio_sbuf_append_u64(out, (uint64_t)content_length);
    if (!r) r = sio_sbuf_append_str(out, "\r\n");
  }
  if (!r)
    r = sio_sbuf_append_str(out, keep_alive ? "Connection: keep-alive\r\n" : "Connection: close\r\n");
  if (!r && extra) r = sio_sbuf_append_str(out, extra);
  if (!r) r = sio_sbuf_append_str(out, "\r\n");
  if (r) out->len = start; /* all or nothing */
  return r;
}
