/* TLS 1.3 records after the handshake (tls_record.h): RFC 8446 sections 5.2-5.4 (record protection),
 * 6.1 (close_notify), 4.6.3 and 7.2 (KeyUpdate), 7.3 (traffic keys). */
#include "transport/tls_record.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "sio.h"

#define REC_HEADER 5
#define TAG_LEN 16
#define MAX_PLAIN 16384
#define MAX_CIPHER (MAX_PLAIN + 256) /* the largest record body a peer may send (5.2) */
#define CT_ALERT 21
#define CT_HANDSHAKE 22
#define CT_APPDATA 23
#define HS_KEY_UPDATE 24

static const EVP_MD *suite_md(int s) { return s == SIO_TLS13_AES256 ? EVP_sha384() : EVP_sha256(); }
static size_t suite_hash_len(int s) { return s == SIO_TLS13_AES256 ? 48 : 32; }
static size_t suite_key_len(int s) { return s == SIO_TLS13_AES128 ? 16 : 32; }

static const EVP_CIPHER *suite_cipher(int s) {
  return s == SIO_TLS13_AES128 ? EVP_aes_128_gcm() : s == SIO_TLS13_AES256 ? EVP_aes_256_gcm()
                                                                           : EVP_chacha20_poly1305();
}

int sio__tls13_suite(uint16_t id) {
  return id == 0x1301 ? SIO_TLS13_AES128 : id == 0x1302 ? SIO_TLS13_AES256 : id == 0x1303 ? SIO_TLS13_CHACHA : 0;
}

/* HKDF-Expand-Label(secret, label, "", olen) (7.1) for olen up to the hash length: one HMAC block. */
static int expand_label(int suite, const uint8_t *secret, const char *label, uint8_t *out, size_t olen) {
  uint8_t info[2 + 1 + 6 + 12 + 1 + 1];
  size_t ll = strlen(label), n = 0;
  info[n++] = (uint8_t)(olen >> 8);
  info[n++] = (uint8_t)olen;
  info[n++] = (uint8_t)(6 + ll);
  memcpy(info + n, "tls13 ", 6);
  memcpy(info + n + 6, label, ll);
  n += 6 + ll;
  info[n++] = 0; /* empty context */
  info[n++] = 1; /* HKDF-Expand's counter: T(1) */
  uint8_t t[EVP_MAX_MD_SIZE];
  unsigned tl = 0;
  if (!HMAC(suite_md(suite), secret, (int)suite_hash_len(suite), info, n, t, &tl) || tl < olen) return -1;
  memcpy(out, t, olen);
  OPENSSL_cleanse(t, sizeof t);
  return 0;
}

static int traffic_keys(int suite, const uint8_t *secret, uint8_t *key, uint8_t *iv) {
  return expand_label(suite, secret, "key", key, suite_key_len(suite)) || expand_label(suite, secret, "iv", iv, 12)
             ? SIO_ETLS
             : 0;
}

/* A new generation of a traffic secret, and its keys (7.2). */
static int next_generation(int suite, uint8_t *secret, uint8_t *key, uint8_t *iv) {
  uint8_t next[SIO_TLS13_MAX_SECRET];
  if (expand_label(suite, secret, "traffic upd", next, suite_hash_len(suite))) return SIO_ETLS;
  memcpy(secret, next, suite_hash_len(suite));
  OPENSSL_cleanse(next, sizeof next);
  return traffic_keys(suite, secret, key, iv);
}

int sio__tls13_init(sio_tls13_t *r, int suite, const uint8_t *cs, const uint8_t *ss, size_t slen) {
  memset(r, 0, sizeof *r);
  if (!suite || slen != suite_hash_len(suite)) return SIO_ETLS;
  r->suite = (uint8_t)suite;
  memcpy(r->rsecret, cs, slen);
  memcpy(r->wsecret, ss, slen);
  if (traffic_keys(suite, r->rsecret, r->rkey, r->riv) || traffic_keys(suite, r->wsecret, r->wkey, r->wiv))
    return SIO_ETLS;
  return 0;
}

void sio__tls13_free(sio_tls13_t *r) {
  free(r->part);
  OPENSSL_cleanse(r, sizeof *r);
}

/* One context per thread, keyed again for each record: a connection keeps no cipher state. */
static EVP_CIPHER_CTX *cipher_ctx(void) {
  static _Thread_local EVP_CIPHER_CTX *ctx;
  if (!ctx) ctx = EVP_CIPHER_CTX_new();
  return ctx;
}

/* The per-record nonce: the IV xor the sequence number, left-padded (5.3). */
static void record_nonce(uint8_t out[12], const uint8_t iv[12], uint64_t seq) {
  memcpy(out, iv, 12);
  for (int i = 0; i < 8; i++) out[11 - i] ^= (uint8_t)(seq >> (8 * i));
}

/* Appends one record of `type` holding p (at most MAX_PLAIN bytes). */
static int seal(sio_tls13_t *r, uint8_t type, const void *p, size_t len, sio_sbuf_t *out) {
  size_t body = len + 1 + TAG_LEN;
  if (sio_sbuf_reserve(out, REC_HEADER + body)) return SIO_ENOMEM;
  uint8_t *h = (uint8_t *)out->data + out->len, nonce[12];
  h[0] = CT_APPDATA;
  h[1] = h[2] = 3;
  h[3] = (uint8_t)(body >> 8);
  h[4] = (uint8_t)body;
  record_nonce(nonce, r->wiv, r->wseq);
  EVP_CIPHER_CTX *c = cipher_ctx();
  int n;
  if (!c || !EVP_EncryptInit_ex(c, suite_cipher(r->suite), NULL, r->wkey, nonce) ||
      !EVP_EncryptUpdate(c, NULL, &n, h, REC_HEADER) ||
      (len && !EVP_EncryptUpdate(c, h + REC_HEADER, &n, p, (int)len)) ||
      !EVP_EncryptUpdate(c, h + REC_HEADER + len, &n, &type, 1) ||
      !EVP_EncryptFinal_ex(c, h + REC_HEADER + len + 1, &n) ||
      !EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_GET_TAG, TAG_LEN, h + REC_HEADER + len + 1))
    return SIO_ETLS;
  out->len += REC_HEADER + body;
  r->wseq++;
  return 0;
}

int sio__tls13_write(sio_tls13_t *r, const void *p, size_t len, sio_sbuf_t *out) {
  const char *s = p;
  while (len) {
    size_t n = len < MAX_PLAIN ? len : MAX_PLAIN;
    int e = seal(r, CT_APPDATA, s, n, out);
    if (e) return e;
    s += n;
    len -= n;
  }
  return 0;
}

int sio__tls13_close_notify(sio_tls13_t *r, sio_sbuf_t *out) {
  static const uint8_t alert[2] = {1, 0}; /* warning, close_notify */
  if (r->close_sent) return 0;
  r->close_sent = 1;
  return seal(r, CT_ALERT, alert, sizeof alert, out);
}

/* ---------------------------------------------------------------------------------------------- */
/* Reading                                                                                         */

static size_t body_len(const uint8_t *h) { return ((size_t)h[3] << 8) | h[4]; }

/* After the handshake, every record is an encrypted one under its outer type (5.2). */
static int header_ok(const uint8_t *h) {
  return h[0] == CT_APPDATA && h[1] == 3 && h[2] == 3 && body_len(h) > TAG_LEN && body_len(h) <= MAX_CIPHER;
}

/* One whole record: 1 with *rec (in the input, or in r->part), 0 when the input is used up first
 * (kept in r->part), SIO_ETLS for a bad header. */
static int take_record(sio_tls13_t *r, const char **in, size_t *in_len, const uint8_t **rec) {
  const uint8_t *p = (const uint8_t *)*in;
  if (!*in_len) return 0;
  if (!r->part_len && *in_len >= REC_HEADER) {
    if (!header_ok(p)) return SIO_ETLS;
    size_t total = REC_HEADER + body_len(p);
    if (*in_len >= total) {
      *rec = p;
      *in += total;
      *in_len -= total;
      return 1;
    }
  }
  if (!r->part && !(r->part = malloc(REC_HEADER + MAX_CIPHER))) return SIO_ENOMEM;
  while (*in_len) {
    size_t want = r->part_len < REC_HEADER ? REC_HEADER : REC_HEADER + body_len(r->part);
    size_t k = want - r->part_len < *in_len ? want - r->part_len : *in_len;
    memcpy(r->part + r->part_len, *in, k);
    r->part_len += (uint32_t)k;
    *in += k;
    *in_len -= k;
    if (r->part_len == REC_HEADER && !header_ok(r->part)) return SIO_ETLS;
    if (r->part_len > REC_HEADER && r->part_len == REC_HEADER + body_len(r->part)) {
      *rec = r->part;
      return 1;
    }
  }
  return 0;
}

/* Decrypts a whole record into buf: the content length in *n and its type in *type (5.2, 5.4). */
static int open_record(sio_tls13_t *r, const uint8_t *rec, char *buf, size_t *n, uint8_t *type) {
  size_t clen = body_len(rec) - TAG_LEN;
  uint8_t nonce[12], tag[TAG_LEN];
  memcpy(tag, rec + REC_HEADER + clen, TAG_LEN);
  record_nonce(nonce, r->riv, r->rseq);
  EVP_CIPHER_CTX *c = cipher_ctx();
  int k;
  if (!c || !EVP_DecryptInit_ex(c, suite_cipher(r->suite), NULL, r->rkey, nonce) ||
      !EVP_DecryptUpdate(c, NULL, &k, rec, REC_HEADER) ||
      !EVP_DecryptUpdate(c, (uint8_t *)buf, &k, rec + REC_HEADER, (int)clen) ||
      !EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_SET_TAG, TAG_LEN, tag) ||
      !EVP_DecryptFinal_ex(c, (uint8_t *)buf + clen, &k))
    return SIO_ETLS; /* bad_record_mac */
  r->rseq++;
  while (clen && buf[clen - 1] == 0) clen--; /* padding */
  if (!clen || clen - 1 > MAX_PLAIN) return SIO_ETLS;
  *type = (uint8_t)buf[clen - 1];
  *n = clen - 1;
  return 0;
}

/* Post-handshake messages: only KeyUpdate is expected from a client (4.6.3); it renews the read
 * keys, and when the client asks, ours too after telling it. */
static int on_handshake(sio_tls13_t *r, const uint8_t *m, size_t n, sio_sbuf_t *out) {
  while (n) {
    if (n < 5 || m[0] != HS_KEY_UPDATE || m[1] || m[2] || m[3] != 1 || m[4] > 1) return SIO_ETLS;
    if (next_generation(r->suite, r->rsecret, r->rkey, r->riv)) return SIO_ETLS;
    r->rseq = 0;
    if (m[4] == 1) {
      static const uint8_t ku[5] = {HS_KEY_UPDATE, 0, 0, 1, 0}; /* update_not_requested */
      int e = seal(r, CT_HANDSHAKE, ku, sizeof ku, out);
      if (e || next_generation(r->suite, r->wsecret, r->wkey, r->wiv)) return e ? e : SIO_ETLS;
      r->wseq = 0;
    }
    m += 5;
    n -= 5;
  }
  return 0;
}

int sio__tls13_read(sio_tls13_t *r, const char **in, size_t *in_len, char *buf, size_t cap, size_t *got,
                    sio_sbuf_t *out) {
  *got = 0;
  if (cap < MAX_CIPHER) return SIO_EINVAL;
  for (;;) {
    const uint8_t *rec;
    int e = take_record(r, in, in_len, &rec);
    if (e <= 0) return e;
    size_t n;
    uint8_t type;
    e = open_record(r, rec, buf, &n, &type);
    if (rec == r->part) { /* an idle connection keeps no record buffer */
      free(r->part);
      r->part = NULL;
      r->part_len = 0;
    }
    if (e) return e;
    if (type == CT_APPDATA) {
      if (!n) continue; /* an empty record is allowed, and says nothing */
      *got = n;
      return 0;
    }
    if (type == CT_ALERT) return n == 2 && buf[1] == 0 ? 1 : SIO_ETLS;
    if (type != CT_HANDSHAKE || (e = on_handshake(r, (const uint8_t *)buf, n, out))) return e ? e : SIO_ETLS;
  }
}
