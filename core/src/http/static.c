/* Static files, the decisions (pure): MIME types, URL paths, ETags, HTTP dates, conditional
 * requests. The I/O that uses them is transport/static_files.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "http/static.h"

/* ---------------------------------------------------------------------------------------------- */
/* MIME types                                                                                      */

/* What send (mime 1.x) answers for these extensions; text types, JavaScript and JSON carry a
 * charset. The list is the file kinds a web page of an example application uses, not all of
 * mime-db. */
static const struct {
  const char *ext;
  const char *type;
} mime_types[] = {
    {"html", "text/html; charset=utf-8"},
    {"htm", "text/html; charset=utf-8"},
    {"css", "text/css; charset=utf-8"},
    {"js", "application/javascript; charset=utf-8"},
    {"mjs", "application/javascript; charset=utf-8"},
    {"json", "application/json; charset=utf-8"},
    {"map", "application/json; charset=utf-8"},
    {"txt", "text/plain; charset=utf-8"},
    {"svg", "image/svg+xml"},
    {"png", "image/png"},
    {"jpg", "image/jpeg"},
    {"jpeg", "image/jpeg"},
    {"gif", "image/gif"},
    {"webp", "image/webp"},
    {"ico", "image/x-icon"},
    {"wasm", "application/wasm"},
    {"woff", "font/woff"},
    {"woff2", "font/woff2"},
    {"ttf", "font/ttf"},
    {"otf", "font/otf"},
    {"mp3", "audio/mpeg"},
    {"ogg", "audio/ogg"},
    {"wav", "audio/wav"},
    {"webm", "video/webm"},
    {"mp4", "video/mp4"},
    {"xml", "application/xml"},
    {"pdf", "application/pdf"},
};

static int lower(int c) { return c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c; }

const char *sio_http_mime_type(const char *name, size_t len) {
  size_t dot = len;
  while (dot > 0 && name[dot - 1] != '.' && name[dot - 1] != '/') dot--;
  if (dot > 0 && name[dot - 1] == '.') {
    const char *ext = name + dot;
    size_t elen = len - dot;
    for (size_t i = 0; i < sizeof mime_types / sizeof mime_types[0]; i++) {
      const char *e = mime_types[i].ext;
      size_t k = 0;
      while (k < elen && e[k] && lower((unsigned char)ext[k]) == e[k]) k++;
      if (k == elen && e[k] == '\0') return mime_types[i].type;
    }
  }
  return "application/octet-stream";
}

/* ---------------------------------------------------------------------------------------------- */
/* URL paths                                                                                       */

static int hexval(int c) {
  if (c >= '0' && c <= '9') return c - '0';
  c = lower(c);
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

int sio_http_static_path(const char *path, size_t len, char *out, size_t *outlen) {
  /* Decode first: every check below must see what the file system would. */
  size_t n = 0;
  for (size_t i = 0; i < len; i++) {
    int c = (unsigned char)path[i];
    if (c == '%') {
      int hi = i + 2 < len ? hexval((unsigned char)path[i + 1]) : -1;
      int lo = hi >= 0 ? hexval((unsigned char)path[i + 2]) : -1;
      if (lo < 0) return SIO_HTTP_PATH_BAD;
      c = hi << 4 | lo;
      i += 2;
    }
    if (c == '\0' || c == '\\') return SIO_HTTP_PATH_FORBIDDEN;
    out[n++] = (char)c;
  }
  /* Then rebuild it segment by segment, in place (the write position never passes the read one). */
  int hidden = 0, dir = n > 0 && out[n - 1] == '/';
  size_t r = 0, w = 0;
  while (r < n) {
    size_t s = r;
    while (r < n && out[r] != '/') r++;
    size_t slen = r - s;
    if (r < n) r++; /* the slash */
    if (slen == 0) continue;
    if (slen == 1 && out[s] == '.') {
      if (r >= n) dir = 1; /* "a/." names the directory a */
      continue;
    }
    if (slen == 2 && out[s] == '.' && out[s + 1] == '.') return SIO_HTTP_PATH_FORBIDDEN;
    if (out[s] == '.') hidden = 1;
    if (w) out[w++] = '/';
    memmove(out + w, out + s, slen);
    w += slen;
  }
  if (hidden) return SIO_HTTP_PATH_HIDDEN;
  if (dir && w) out[w++] = '/';
  out[w] = '\0';
  *outlen = w;
  return SIO_HTTP_PATH_OK;
}

/* ---------------------------------------------------------------------------------------------- */
/* ETags, dates, conditional requests                                                              */

size_t sio_http_etag(char out[SIO_HTTP_ETAG_SIZE], uint64_t size, int64_t mtime_ms) {
  /* JavaScript's Number#toString(16) writes a negative number with a minus sign. */
  uint64_t m = mtime_ms < 0 ? (uint64_t)0 - (uint64_t)mtime_ms : (uint64_t)mtime_ms;
  int n = snprintf(out, SIO_HTTP_ETAG_SIZE, "W/\"%llx-%s%llx\"", (unsigned long long)size,
                   mtime_ms < 0 ? "-" : "", (unsigned long long)m);
  return (size_t)n;
}

static int is_blank(int c) { return c == ' ' || c == '\t'; }

int sio_http_etag_match(const char *value, size_t len, const char *etag) {
  if (etag[0] == 'W' && etag[1] == '/') etag += 2;
  size_t elen = strlen(etag);
  size_t i = 0;
  while (i < len) {
    size_t j = i;
    while (j < len && value[j] != ',') j++;
    size_t s = i, e = j;
    while (s < e && is_blank(value[s])) s++;
    while (e > s && is_blank(value[e - 1])) e--;
    if (e - s == 1 && value[s] == '*') return 1;
    if (e - s >= 2 && value[s] == 'W' && value[s + 1] == '/') s += 2;
    if (e - s == elen && memcmp(value + s, etag, elen) == 0) return 1;
    i = j + 1;
  }
  return 0;
}

static const char days[7][4] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
static const char months[12][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                   "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

/* Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's days_from_civil). */
static int64_t days_from_civil(int64_t y, int m, int d) {
  y -= m <= 2;
  int64_t era = (y >= 0 ? y : y - 399) / 400;
  int64_t yoe = y - era * 400;
  int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

size_t sio_http_date(char out[SIO_HTTP_DATE_SIZE], int64_t unix_s) {
  int64_t z = (unix_s >= 0 ? unix_s : unix_s - 86399) / 86400; /* floor */
  int64_t secs = unix_s - z * 86400;
  int wday = (int)((z % 7 + 11) % 7); /* 1970-01-01 was a Thursday */
  /* civil_from_days */
  z += 719468;
  int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  int64_t doe = z - era * 146097;
  int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  int64_t mp = (5 * doy + 2) / 153;
  int d = (int)(doy - (153 * mp + 2) / 5 + 1);
  int m = (int)(mp < 10 ? mp + 3 : mp - 9);
  int64_t y = yoe + era * 400 + (m <= 2);
  int n = snprintf(out, SIO_HTTP_DATE_SIZE, "%s, %02d %s %04lld %02d:%02d:%02d GMT", days[wday], d,
                   months[m - 1], (long long)y, (int)(secs / 3600), (int)(secs / 60 % 60),
                   (int)(secs % 60));
  return n < SIO_HTTP_DATE_SIZE ? (size_t)n : SIO_HTTP_DATE_SIZE - 1;
}

static int month_index(const char *s) {
  for (int i = 0; i < 12; i++)
    if (memcmp(s, months[i], 3) == 0) return i + 1;
  return 0;
}

int64_t sio_http_date_parse(const char *s, size_t len) {
  char buf[64], mon[4] = "", wd[16] = "", gmt[4] = "";
  if (len >= sizeof buf) return -1;
  memcpy(buf, s, len);
  buf[len] = '\0';
  int d, y, hh, mm, ss, end = -1;
  if (sscanf(buf, "%3[A-Za-z], %2d %3[A-Za-z] %4d %2d:%2d:%2d %3[A-Z]%n", wd, &d, mon, &y, &hh, &mm,
             &ss, gmt, &end) == 8 && end == (int)len && strcmp(gmt, "GMT") == 0) {
    /* IMF-fixdate */
  } else if (end = -1, sscanf(buf, "%15[A-Za-z], %2d-%3[A-Za-z]-%2d %2d:%2d:%2d %3[A-Z]%n", wd, &d,
                              mon, &y, &hh, &mm, &ss, gmt, &end) == 8 &&
             end == (int)len && strcmp(gmt, "GMT") == 0) {
    y += y < 70 ? 2000 : 1900; /* RFC 850's two-digit year */
  } else if (end = -1, sscanf(buf, "%3[A-Za-z] %3[A-Za-z] %2d %2d:%2d:%2d %4d%n", wd, mon, &d, &hh,
                              &mm, &ss, &y, &end) == 7 &&
             end == (int)len) {
    /* asctime */
  } else {
    return -1;
  }
  int m = strlen(mon) == 3 ? month_index(mon) : 0;
  if (!m || d < 1 || d > 31 || y < 0 || hh < 0 || hh > 23 || mm < 0 || mm > 59 || ss < 0 || ss > 60)
    return -1;
  return days_from_civil(y, m, d) * 86400 + hh * 3600 + mm * 60 + ss;
}

int sio_http_not_modified(const sio_http_request_t *req, const char *etag, int64_t mtime_s) {
  const sio_http_header_t *inm = sio_http_find_header(req, "if-none-match");
  const sio_http_header_t *ims = sio_http_find_header(req, "if-modified-since");
  if (!inm && !ims) return 0;
  /* A reload that asks to bypass caches gets the body even when the client holds it. */
  const sio_http_header_t *cc = sio_http_find_header(req, "cache-control");
  if (cc && sio_http_header_has_token(cc->value, cc->value_len, "no-cache")) return 0;
  if (inm) return sio_http_etag_match(inm->value, inm->value_len, etag);
  int64_t since = sio_http_date_parse(ims->value, ims->value_len);
  return since >= 0 && mtime_s <= since;
}
