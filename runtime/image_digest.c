/* Digests: validation, streaming SHA-256 (OpenSSL EVP), chain IDs. */
#include <openssl/evp.h>
#include <string.h>

#include "runtime/image_int.h"

bool kk_digest_valid(const char *digest) {
  if (digest == NULL || strncmp(digest, "sha256:", 7) != 0)
    return false;
  const char *h = digest + 7;
  size_t i = 0;
  for (; h[i]; i++)
    if (!((h[i] >= '0' && h[i] <= '9') || (h[i] >= 'a' && h[i] <= 'f')))
      return false;
  return i == 64;
}

void kk_sha256_init(struct kk_sha256 *h) {
  EVP_MD_CTX *ctx = EVP_MD_CTX_new();
  if (ctx == NULL || EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1)
    kk_oom();
  h->ctx = ctx;
}

void kk_sha256_update(struct kk_sha256 *h, const void *p, size_t n) {
  if (n > 0)
    EVP_DigestUpdate((EVP_MD_CTX *)h->ctx, p, n);
}

char *kk_sha256_final(struct kk_sha256 *h) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int mdlen = 0;
  EVP_DigestFinal_ex((EVP_MD_CTX *)h->ctx, md, &mdlen);
  EVP_DigestInit_ex((EVP_MD_CTX *)h->ctx, EVP_sha256(), NULL);
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

void kk_sha256_free(struct kk_sha256 *h) {
  if (h->ctx)
    EVP_MD_CTX_free((EVP_MD_CTX *)h->ctx);
  h->ctx = NULL;
}

char *kk_digest_of(const void *buf, size_t len) {
  struct kk_sha256 h;
  kk_sha256_init(&h);
  kk_sha256_update(&h, buf, len);
  char *d = kk_sha256_final(&h);
  kk_sha256_free(&h);
  return d;
}

void kk_chain_ids(const struct kk_strv *diff_ids, struct kk_strv *out) {
  memset(out, 0, sizeof(*out));
  for (size_t i = 0; i < diff_ids->n; i++) {
    if (i == 0) {
      kk_strv_push(out, diff_ids->v[0]);
      continue;
    }
    cleanup_free char *s = kk_asprintf("%s %s", out->v[i - 1], diff_ids->v[i]);
    kk_strv_push_owned(out, kk_digest_of(s, strlen(s)));
  }
}
