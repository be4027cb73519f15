/* Digests: validation, streaming SHA-256 (OpenSSL EVP, libcrypto loaded on
 * first use), chain IDs. */
#include <stdio.h>
#include <string.h>

#include "image/internal.h"
#include "image/libs.h"

bool kk_image_digest_valid(const char *digest) {
  if (digest == NULL || strncmp(digest, "sha256:", 7) != 0)
    return false;
  const char *h = digest + 7;
  size_t i = 0;
  for (; h[i]; i++)
    if (!((h[i] >= '0' && h[i] <= '9') || (h[i] >= 'a' && h[i] <= 'f')))
      return false;
  return i == 64;
}

int kk_image_sha256_init(struct kk_sha256 *h, kk_err_t *err) {
  h->ctx = NULL;
  const struct kk_crypto_api *c = kk_image_libcrypto(err);
  if (c == NULL)
    return -1;
  EVP_MD_CTX *ctx = c->MD_CTX_new();
  if (ctx == NULL || c->DigestInit_ex(ctx, c->sha256(), NULL) != 1)
    kk_oom();
  h->api = c;
  h->ctx = ctx;
  return 0;
}

void kk_image_sha256_update(struct kk_sha256 *h, const void *p, size_t n) {
  if (n > 0)
    h->api->DigestUpdate((EVP_MD_CTX *)h->ctx, p, n);
}

char *kk_image_sha256_final(struct kk_sha256 *h) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int mdlen = 0;
  const struct kk_crypto_api *c = h->api;
  c->DigestFinal_ex((EVP_MD_CTX *)h->ctx, md, &mdlen);
  c->DigestInit_ex((EVP_MD_CTX *)h->ctx, c->sha256(), NULL);
  char *out = kk_xmalloc(7 + 2 * mdlen + 1);
  memcpy(out, "sha256:", 7);
  static const char hex[] = "0123456789abcdef";
  for (unsigned i = 0; i < mdlen; i++) {
    out[7 + 2 * i] = hex[md[i] >> 4];
    out[7 + 2 * i + 1] = hex[md[i] & 15];
  }
  out[7 + 2 * mdlen] = '\0';
  return out;
}

void kk_image_sha256_free(struct kk_sha256 *h) {
  if (h->ctx)
    h->api->MD_CTX_free((EVP_MD_CTX *)h->ctx);
  h->ctx = NULL;
}

int kk_image_digest(const void *buf, size_t len, char **out, kk_err_t *err) {
  struct kk_sha256 h;
  *out = NULL;
  if (kk_image_sha256_init(&h, err) < 0)
    return -1;
  kk_image_sha256_update(&h, buf, len);
  *out = kk_image_sha256_final(&h);
  kk_image_sha256_free(&h);
  return 0;
}

/* The public helpers have no error path: they are for callers that already
 * used the image store (which needs libcrypto) and for tests. */
static _Noreturn void no_crypto(kk_err_t *e) {
  fprintf(stderr, "kukeon: %s\n", (*e)->msg);
  abort();
}

char *kk_image_digest_of(const void *buf, size_t len) {
  char *d;
  kk_err_t e = NULL;
  if (kk_image_digest(buf, len, &d, &e) < 0)
    no_crypto(&e);
  return d;
}

int kk_image_chain_ids(const struct kk_strv *diff_ids, struct kk_strv *out, kk_err_t *err) {
  memset(out, 0, sizeof(*out));
  for (size_t i = 0; i < diff_ids->n; i++) {
    if (i == 0) {
      kk_strv_push(out, diff_ids->v[0]);
      continue;
    }
    cleanup_free char *s = kk_asprintf("%s %s", out->v[i - 1], diff_ids->v[i]);
    char *d;
    if (kk_image_digest(s, strlen(s), &d, err) < 0) {
      kk_strv_free(out);
      return -1;
    }
    kk_strv_push_owned(out, d);
  }
  return 0;
}

void kk_image_chain_ids_of(const struct kk_strv *diff_ids, struct kk_strv *out) {
  kk_err_t e = NULL;
  if (kk_image_chain_ids(diff_ids, out, &e) < 0)
    no_crypto(&e);
}
