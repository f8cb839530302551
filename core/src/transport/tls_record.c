/* TLS 1.3 records after the handshake (tls_record.h): RFC 8446 sections 5.2-5.4 (record protection),
 * 6.1 (close_notify), 4.6.3 and 7.2 (KeyUpdate), 7.3 (traffic keys). */
#include "transport/tls_record.h"

#include <pthread.h>
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
/* Alert descriptions (6) */
#define AL_CLOSE_NOTIFY 0
#define AL_UNEXPECTED_MESSAGE 10
#define AL_BAD_RECORD_MAC 20
#define AL_RECORD_OVERFLOW 22
#define AL_ILLEGAL_PARAMETER 47
#define AL_DECODE_ERROR 50
#define AL_INTERNAL_ERROR 80

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

/* Per thread, one cipher context per suite and direction, bound to its cipher once: a record then
 * loads only its key and nonce, so that a connection keeps no cipher state (binding a cipher to a
 * context again for every record cost more than the record's AEAD). A thread that ends frees (and
 * so wipes) its contexts: servers may run on threads that come and go. */
typedef struct {
  EVP_CIPHER_CTX *c[3][2];
} ctxs_t;

static pthread_key_t ctx_key;
static pthread_once_t ctx_once = PTHREAD_ONCE_INIT;

static void ctxs_free(void *p) {
  ctxs_t *t = p;
  for (int s = 0; s < 3; s++)
    for (int e = 0; e < 2; e++) EVP_CIPHER_CTX_free(t->c[s][e]);
  free(t);
}

static void ctx_key_init(void) { (void)pthread_key_create(&ctx_key, ctxs_free); }

static EVP_CIPHER_CTX *cipher_ctx(int suite, int enc) {
  static _Thread_local ctxs_t *t;
  if (!t) {
    pthread_once(&ctx_once, ctx_key_init);
    if (!(t = calloc(1, sizeof *t))) return NULL;
    if (pthread_setspecific(ctx_key, t)) {
      free(t);
      t = NULL;
      return NULL;
    }
  }
  EVP_CIPHER_CTX **c = &t->c[suite - 1][enc];
  if (!*c && (*c = EVP_CIPHER_CTX_new()) && !EVP_CipherInit_ex(*c, suite_cipher(suite), NULL, NULL, NULL, enc)) {
    EVP_CIPHER_CTX_free(*c);
    *c = NULL;
  }
  return *c;
}

/* The per-record nonce: the IV xor the sequence number, left-padded (5.3). */
static void record_nonce(uint8_t out[12], const uint8_t iv[12], uint64_t seq) {
  memcpy(out, iv, 12);
  for (int i = 0; i < 8; i++) out[11 - i] ^= (uint8_t)(seq >> (8 * i));
}

/* Appends one record whose TLSInnerPlaintext is a then b, the record header being the additional
 * data (5.2). The sequence number never wraps (5.3); in practice the rekeying in
 * sio__tls13_write keeps it far below. */
static int seal_parts(sio_tls13_t *r, const void *a, size_t alen, const uint8_t *b, size_t blen, sio_sbuf_t *out) {
  size_t body = alen + blen + TAG_LEN;
  if (body > MAX_CIPHER || r->wseq == UINT64_MAX) return SIO_ETLS;
  if (sio_sbuf_reserve(out, REC_HEADER + body)) return SIO_ENOMEM;
  uint8_t *h = (uint8_t *)out->data + out->len, nonce[12];
  h[0] = CT_APPDATA;
  h[1] = h[2] = 3;
  h[3] = (uint8_t)(body >> 8);
  h[4] = (uint8_t)body;
  record_nonce(nonce, r->wiv, r->wseq);
  EVP_CIPHER_CTX *c = cipher_ctx(r->suite, 1);
  int n;
  if (!c || !EVP_EncryptInit_ex(c, NULL, NULL, r->wkey, nonce) ||
      !EVP_EncryptUpdate(c, NULL, &n, h, REC_HEADER) ||
      (alen && !EVP_EncryptUpdate(c, h + REC_HEADER, &n, a, (int)alen)) ||
      (blen && !EVP_EncryptUpdate(c, h + REC_HEADER + alen, &n, b, (int)blen)) ||
      !EVP_EncryptFinal_ex(c, h + REC_HEADER + alen + blen, &n) ||
      !EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_GET_TAG, TAG_LEN, h + REC_HEADER + alen + blen))
    return SIO_ETLS;
  out->len += REC_HEADER + body;
  r->wseq++;
  return 0;
}

/* Appends one record of `type` holding p (at most MAX_PLAIN bytes), without padding. */
static int seal(sio_tls13_t *r, uint8_t type, const void *p, size_t len, sio_sbuf_t *out) {
  return seal_parts(r, p, len, &type, 1, out);
}

int sio__tls13_seal_inner(sio_tls13_t *r, const void *inner, size_t len, sio_sbuf_t *out) {
  return seal_parts(r, inner, len, NULL, 0, out);
}

/* Our KeyUpdate (update_not_requested), then the next generation of write keys (4.6.3, 7.2). */
static int send_key_update(sio_tls13_t *r, sio_sbuf_t *out) {
  static const uint8_t ku[5] = {HS_KEY_UPDATE, 0, 0, 1, 0};
  int e = seal(r, CT_HANDSHAKE, ku, sizeof ku, out);
  if (e || (e = sio__tls13_rekey_write(r))) return e;
  r->ku_owed = 0;
  return 0;
}

int sio__tls13_rekey_write(sio_tls13_t *r) {
  if (next_generation(r->suite, r->wsecret, r->wkey, r->wiv)) return SIO_ETLS;
  r->wseq = 0;
  return 0;
}

int sio__tls13_write(sio_tls13_t *r, const void *p, size_t len, sio_sbuf_t *out) {
  const char *s = p;
  if (r->close_sent) return SIO_ETLS; /* nothing follows close_notify or an alert */
  while (len) {
    int e;
    /* AES-GCM's safety margin is 2^24.5 full records per key (5.5): a new key well before. */
    if ((r->ku_owed || r->wseq >= SIO_TLS13_REKEY_AFTER) && (e = send_key_update(r, out))) return e;
    size_t n = len < MAX_PLAIN ? len : MAX_PLAIN;
    if ((e = seal(r, CT_APPDATA, s, n, out))) return e;
    s += n;
    len -= n;
  }
  return 0;
}

int sio__tls13_close_notify(sio_tls13_t *r, sio_sbuf_t *out) {
  static const uint8_t alert[2] = {1, AL_CLOSE_NOTIFY}; /* warning, close_notify */
  if (r->close_sent) return 0;
  r->close_sent = 1;
  return seal(r, CT_ALERT, alert, sizeof alert, out);
}

/* Ends the connection with a fatal alert (6.2): sent unless something closed it already; the
 * connection reads nothing more. */
static int fail(sio_tls13_t *r, uint8_t desc, sio_sbuf_t *out) {
  r->state = 2;
  if (!r->alert) r->alert = desc;
  if (!r->close_sent) {
    uint8_t a[2] = {2, desc}; /* fatal */
    r->close_sent = 1;
    seal(r, CT_ALERT, a, sizeof a, out); /* best effort: the connection closes either way */
  }
  return SIO_ETLS;
}

/* ---------------------------------------------------------------------------------------------- */
/* Reading                                                                                         */

static size_t body_len(const uint8_t *h) { return ((size_t)h[3] << 8) | h[4]; }

/* After the handshake, every record is an encrypted one under its outer type (5, 5.2): the alert
 * a bad header gets, or 0. A change_cipher_spec is refused too (only allowed during the first
 * handshake); the legacy version must be 0x0303, as OpenSSL also requires. */
static uint8_t header_alert(const uint8_t *h) {
  if (h[0] != CT_APPDATA) return AL_UNEXPECTED_MESSAGE;
  if (h[1] != 3 || h[2] != 3) return AL_DECODE_ERROR;
  if (body_len(h) > MAX_CIPHER) return AL_RECORD_OVERFLOW;
  if (body_len(h) <= TAG_LEN) return AL_DECODE_ERROR; /* not even a content type */
  return 0;
}

/* One whole record: 1 with *rec (in the input, or in r->part), 0 when the input is used up first
 * (kept in r->part), SIO_ETLS for a bad header (with its alert in *a), or SIO_ENOMEM. */
static int take_record(sio_tls13_t *r, const char **in, size_t *in_len, const uint8_t **rec, uint8_t *a) {
  const uint8_t *p = (const uint8_t *)*in;
  if (!*in_len) return 0;
  if (!r->part_len && *in_len >= REC_HEADER) {
    if ((*a = header_alert(p))) return SIO_ETLS;
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
    if (r->part_len == REC_HEADER && (*a = header_alert(r->part))) return SIO_ETLS;
    if (r->part_len > REC_HEADER && r->part_len == REC_HEADER + body_len(r->part)) {
      *rec = r->part;
      return 1;
    }
  }
  return 0;
}

/* Decrypts a whole record into buf: the content length in *n and its type in *type (5.2, 5.4);
 * or the alert it deserves. */
static uint8_t open_record(sio_tls13_t *r, const uint8_t *rec, char *buf, size_t *n, uint8_t *type) {
  size_t clen = body_len(rec) - TAG_LEN;
  uint8_t nonce[12], tag[TAG_LEN];
  if (r->rseq == UINT64_MAX) return AL_INTERNAL_ERROR; /* the sequence number would wrap (5.3) */
  memcpy(tag, rec + REC_HEADER + clen, TAG_LEN);
  record_nonce(nonce, r->riv, r->rseq);
  EVP_CIPHER_CTX *c = cipher_ctx(r->suite, 0);
  int k;
  if (!c || !EVP_DecryptInit_ex(c, NULL, NULL, r->rkey, nonce) ||
      !EVP_DecryptUpdate(c, NULL, &k, rec, REC_HEADER) ||
      !EVP_DecryptUpdate(c, (uint8_t *)buf, &k, rec + REC_HEADER, (int)clen) ||
      !EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_SET_TAG, TAG_LEN, tag) ||
      !EVP_DecryptFinal_ex(c, (uint8_t *)buf + clen, &k))
    return AL_BAD_RECORD_MAC;
  r->rseq++;
  if (clen > MAX_PLAIN + 1) return AL_RECORD_OVERFLOW; /* TLSInnerPlaintext, padding included */
  while (clen && buf[clen - 1] == 0) clen--; /* padding */
  if (!clen) return AL_UNEXPECTED_MESSAGE;   /* no content type at all */
  *type = (uint8_t)buf[clen - 1];
  *n = clen - 1;
  return 0;
}

/* Post-handshake messages: a client may send only KeyUpdate (4.6.3); everything else (tickets,
 * certificates without our request, ...) is unexpected_message. A message may be cut across
 * records, but a KeyUpdate must end its record, the last one under the old key (5.1). It renews
 * the read keys; when the client asks for ours too, the KeyUpdate it is owed goes before our
 * next data: however many it asks for, one answer, so that reading never makes us write more. */
static int on_handshake(sio_tls13_t *r, const uint8_t *m, size_t n, sio_sbuf_t *out) {
  static const uint8_t head[4] = {HS_KEY_UPDATE, 0, 0, 1};
  if (!n) return fail(r, AL_UNEXPECTED_MESSAGE, out); /* no empty handshake records (5.1) */
  size_t k = n < sizeof r->hs - r->hs_len ? n : sizeof r->hs - r->hs_len;
  memcpy(r->hs + r->hs_len, m, k);
  r->hs_len = (uint8_t)(r->hs_len + k);
  size_t have = r->hs_len < 4 ? r->hs_len : 4;
  if (r->hs[0] != HS_KEY_UPDATE) return fail(r, AL_UNEXPECTED_MESSAGE, out);
  if (memcmp(r->hs, head, have)) return fail(r, AL_DECODE_ERROR, out);
  if (r->hs_len < sizeof r->hs) return 0; /* the rest in the next record */
  if (n > k) return fail(r, AL_UNEXPECTED_MESSAGE, out); /* more after a KeyUpdate in its record */
  if (r->hs[4] > 1) return fail(r, AL_ILLEGAL_PARAMETER, out);
  r->hs_len = 0;
  if (r->hs[4] == 1) r->ku_owed = 1;
  if (next_generation(r->suite, r->rsecret, r->rkey, r->riv)) return fail(r, AL_INTERNAL_ERROR, out);
  r->rseq = 0;
  return 0;
}

/* An alert from the peer (6): close_notify ends its writing, and ours answers it (6.1); any other
 * ends the connection. Alerts come one per record, never cut or coalesced. */
static int on_alert(sio_tls13_t *r, const uint8_t *m, size_t n, sio_sbuf_t *out) {
  if (n != 2) return fail(r, AL_DECODE_ERROR, out);
  if (m[1] != AL_CLOSE_NOTIFY) {
    r->state = 2;
    r->alert = m[1];
    r->close_sent = 1; /* no alert answers an alert */
    return SIO_ETLS;
  }
  r->state = 1;
  int e = sio__tls13_close_notify(r, out);
  return e == SIO_ENOMEM ? e : 1;
}

int sio__tls13_read(sio_tls13_t *r, const char **in, size_t *in_len, char *buf, size_t cap, size_t *got,
                    sio_sbuf_t *out) {
  *got = 0;
  if (cap < MAX_CIPHER) return SIO_EINVAL;
  if (r->state) return r->state == 1 ? 1 : SIO_ETLS;
  for (;;) {
    const uint8_t *rec;
    uint8_t type = 0, a = 0;
    int e = take_record(r, in, in_len, &rec, &a);
    if (e == SIO_ETLS) return fail(r, a, out);
    if (e <= 0) return e;
    size_t n = 0;
    a = open_record(r, rec, buf, &n, &type);
    if (rec == r->part) { /* an idle connection keeps no record buffer */
      free(r->part);
      r->part = NULL;
      r->part_len = 0;
    }
    if (a) return fail(r, a, out);
    /* A message cut across records allows nothing else between its parts (5.1). */
    if (r->hs_len && type != CT_HANDSHAKE) return fail(r, AL_UNEXPECTED_MESSAGE, out);
    if (type == CT_APPDATA) {
      if (!n) continue; /* an empty record is allowed, and says nothing */
      *got = n;
      return 0;
    }
    if (type == CT_ALERT) return on_alert(r, (const uint8_t *)buf, n, out);
    if (type != CT_HANDSHAKE) return fail(r, AL_UNEXPECTED_MESSAGE, out);
    if ((e = on_handshake(r, (const uint8_t *)buf, n, out))) return e;
  }
}
