/* libcurl, libarchive, libcrypto on first use (see runtime/libs.h).
 *
 * The one piece of process-wide state in runtime/: each library's table is
 * written exactly once, under pthread_once, and only read afterwards. */
#include <dlfcn.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>

#include "image/libs.h"

struct lib {
  const char *soname;
  const char *purpose; /* "<purpose> needs <soname>: <why>" */
  bool ok;
  char why[512]; /* dlerror() of the failure */
};

static void *open_lib(struct lib *l) {
  dlerror(); /* per thread; drop what an earlier call may have left */
  void *h = dlopen(l->soname, RTLD_NOW | RTLD_LOCAL);
  if (h == NULL) {
    const char *e = dlerror();
    snprintf(l->why, sizeof(l->why), "%s", e ? e : "cannot be loaded");
  }
  return h;
}

static void *sym(struct lib *l, void *h, const char *name) {
  dlerror();
  void *p = dlsym(h, name);
  if (p == NULL) {
    const char *e = dlerror();
    snprintf(l->why, sizeof(l->why), "%s", e ? e : name);
  }
  return p;
}

static void *get(struct lib *l, void *table, pthread_once_t *once, void (*init)(void), kk_err_t *err) {
  pthread_once(once, init);
  if (l->ok)
    return table;
  kk_error_kind(err, KK_ERR_UNAVAILABLE, 0, "%s needs %s: %s", l->purpose, l->soname, l->why);
  return NULL;
}

/* One assignment per member, converted to the member's own type. */
#define KK_LIBS_LOAD_(member, fn)                                                                                      \
  if ((p = sym(l, h, #fn)) == NULL)                                                                                    \
    goto fail;                                                                                                         \
  t->member = (__typeof__(t->member))p;

#define KK_LIBS_DEFINE_(api, funcs, soname, purpose, getter)                                                           \
  static struct api api##_table;                                                                                       \
  static struct lib api##_lib = {soname, purpose, false, ""};                                                          \
  static pthread_once_t api##_once = PTHREAD_ONCE_INIT;                                                                \
  static void api##_init(void) {                                                                                       \
    struct lib *l = &api##_lib;                                                                                        \
    struct api *t = &api##_table;                                                                                      \
    void *p, *h = open_lib(l);                                                                                         \
    if (h == NULL)                                                                                                     \
      return;                                                                                                          \
    funcs(KK_LIBS_LOAD_) l->ok = true; /* h stays open for the life of the process */                                  \
    return;                                                                                                            \
  fail:                                                                                                                \
    *t = (struct api){0};                                                                                              \
    dlclose(h);                                                                                                        \
  }                                                                                                                    \
  const struct api *getter(kk_err_t *err) { return get(&api##_lib, &api##_table, &api##_once, api##_init, err); }

KK_LIBS_DEFINE_(kk_curl_api, KK_CURL_FUNCS, KK_LIBCURL_SONAME, "image pull", kk_image_libcurl)
KK_LIBS_DEFINE_(kk_archive_api, KK_ARCHIVE_FUNCS, KK_LIBARCHIVE_SONAME, "reading image archives and layers",
                kk_image_libarchive)
KK_LIBS_DEFINE_(kk_crypto_api, KK_CRYPTO_FUNCS, KK_LIBCRYPTO_SONAME, "computing image digests", kk_image_libcrypto)
