/* Every cleanup attribute for what lib/ and the libraries everyone links
 * own: memory, fds, FILE, DIR, string vectors, JSON values, errors.  A
 * variable so marked is released when it leaves scope; kk_steal /
 * kk_steal_fd hand ownership out.  A folder's own types (store, API
 * connection, controller, ...) name theirs with KK_CLEANUP in their header,
 * beside the type's free function. */
#ifndef KK_LIB_CLEANUP_H
#define KK_LIB_CLEANUP_H

#include <dirent.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>

#define KK_CLEANUP(fn) __attribute__((cleanup(fn)))

struct kk_strv;
struct kk_error;

static inline void kk_freep(void *p) { free(*(void **)p); }
void kk_closep(int *fd);
void kk_fclosep(FILE **f);
void kk_closedirp(DIR **d);
void kk_strv_free(struct kk_strv *sv);
void kk_error_free(struct kk_error **err);

#define cleanup_free KK_CLEANUP(kk_freep)
#define cleanup_close KK_CLEANUP(kk_closep)
#define cleanup_fclose KK_CLEANUP(kk_fclosep)
#define cleanup_dir KK_CLEANUP(kk_closedirp)
#define cleanup_strv KK_CLEANUP(kk_strv_free)
#define cleanup_json KK_CLEANUP(json_decrefp)
#define cleanup_error KK_CLEANUP(kk_error_free)

#define kk_steal(p) ({ __typeof__(*(p)) _v = *(p); *(p) = NULL; _v; })
#define kk_steal_fd(p) ({ int _fd = *(p); *(p) = -1; _fd; })

#endif
