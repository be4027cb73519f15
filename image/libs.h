/* Private to runtime/: libcurl, libarchive and libcrypto loaded with
 * dlopen(RTLD_NOW | RTLD_LOCAL) on first use, so that a kuke or kukeond
 * process that never touches images maps none of them (and none of the
 * ~40 libraries they pull in).  Not an API.
 *
 * Each table member has the type of the real function, taken from the
 * library's own header with __typeof__, so every call is checked by the
 * compiler exactly as a direct call would be.  Members drop the library
 * prefix (easy_setopt, not curl_easy_setopt): curl's headers define the
 * long names as function-like macros.
 *
 * The getters are thread-safe (pthread_once) and cheap after the first
 * call.  A library that cannot be loaded gives NULL and a clear error
 * ("image pull needs libcurl.so.4: <dlerror>"); the answer is remembered,
 * later calls give the same error.  Libraries are never unloaded. */
#ifndef KK_RUNTIME_LIBS_H
#define KK_RUNTIME_LIBS_H

#include <archive.h>
#include <archive_entry.h>
#include <curl/curl.h>
#include <openssl/evp.h>

#include "lib/error.h"

/* SONAMEs of the Debian 12 packages (libcurl4, libarchive13, libssl3). */
#define KK_LIBCURL_SONAME "libcurl.so.4"
#define KK_LIBARCHIVE_SONAME "libarchive.so.13"
#define KK_LIBCRYPTO_SONAME "libcrypto.so.3"

/* X(member, real function) */
#define KK_CURL_FUNCS(X)                                                                                               \
  X(global_init, curl_global_init)                                                                                     \
  X(global_cleanup, curl_global_cleanup)                                                                               \
  X(easy_init, curl_easy_init)                                                                                         \
  X(easy_cleanup, curl_easy_cleanup)                                                                                   \
  X(easy_reset, curl_easy_reset)                                                                                       \
  X(easy_setopt, curl_easy_setopt)                                                                                     \
  X(easy_getinfo, curl_easy_getinfo)                                                                                   \
  X(easy_perform, curl_easy_perform)                                                                                   \
  X(easy_strerror, curl_easy_strerror)                                                                                 \
  X(easy_escape, curl_easy_escape)                                                                                     \
  X(free, curl_free)                                                                                                   \
  X(slist_append, curl_slist_append)                                                                                   \
  X(slist_free_all, curl_slist_free_all)

#define KK_ARCHIVE_FUNCS(X)                                                                                            \
  X(read_new, archive_read_new)                                                                                        \
  X(read_free, archive_read_free)                                                                                      \
  X(read_support_filter_gzip, archive_read_support_filter_gzip)                                                        \
  X(read_support_filter_zstd, archive_read_support_filter_zstd)                                                        \
  X(read_support_filter_xz, archive_read_support_filter_xz)                                                            \
  X(read_support_filter_bzip2, archive_read_support_filter_bzip2)                                                      \
  X(read_support_format_tar, archive_read_support_format_tar)                                                          \
  X(read_support_format_raw, archive_read_support_format_raw)                                                          \
  X(read_open, archive_read_open)                                                                                      \
  X(read_open_fd, archive_read_open_fd)                                                                                \
  X(read_next_header, archive_read_next_header)                                                                        \
  X(read_data, archive_read_data)                                                                                      \
  X(read_data_block, archive_read_data_block)                                                                          \
  X(error_string, archive_error_string)                                                                                \
  X(set_error, archive_set_error)                                                                                      \
  X(entry_atime, archive_entry_atime)                                                                                  \
  X(entry_atime_is_set, archive_entry_atime_is_set)                                                                    \
  X(entry_atime_nsec, archive_entry_atime_nsec)                                                                        \
  X(entry_mtime, archive_entry_mtime)                                                                                  \
  X(entry_mtime_is_set, archive_entry_mtime_is_set)                                                                    \
  X(entry_mtime_nsec, archive_entry_mtime_nsec)                                                                        \
  X(entry_filetype, archive_entry_filetype)                                                                            \
  X(entry_uid, archive_entry_uid)                                                                                      \
  X(entry_gid, archive_entry_gid)                                                                                      \
  X(entry_perm, archive_entry_perm)                                                                                    \
  X(entry_size, archive_entry_size)                                                                                    \
  X(entry_hardlink, archive_entry_hardlink)                                                                            \
  X(entry_symlink, archive_entry_symlink)                                                                              \
  X(entry_pathname, archive_entry_pathname)                                                                            \
  X(entry_pathname_utf8, archive_entry_pathname_utf8)                                                                  \
  X(entry_rdevmajor, archive_entry_rdevmajor)                                                                          \
  X(entry_rdevminor, archive_entry_rdevminor)                                                                          \
  X(entry_xattr_reset, archive_entry_xattr_reset)                                                                      \
  X(entry_xattr_next, archive_entry_xattr_next)

#define KK_CRYPTO_FUNCS(X)                                                                                             \
  X(MD_CTX_new, EVP_MD_CTX_new)                                                                                        \
  X(MD_CTX_free, EVP_MD_CTX_free)                                                                                      \
  X(DigestInit_ex, EVP_DigestInit_ex)                                                                                  \
  X(DigestUpdate, EVP_DigestUpdate)                                                                                    \
  X(DigestFinal_ex, EVP_DigestFinal_ex)                                                                                \
  X(sha256, EVP_sha256)                                                                                                \
  X(EncodeBlock, EVP_EncodeBlock)

#define KK_LIBS_MEMBER_(member, fn) __typeof__(fn) *member;

struct kk_curl_api {
  KK_CURL_FUNCS(KK_LIBS_MEMBER_)
};
struct kk_archive_api {
  KK_ARCHIVE_FUNCS(KK_LIBS_MEMBER_)
};
struct kk_crypto_api {
  KK_CRYPTO_FUNCS(KK_LIBS_MEMBER_)
};

/* The loaded table, or NULL with *err filled. */
const struct kk_curl_api *kk_image_libcurl(kk_err_t *err);
const struct kk_archive_api *kk_image_libarchive(kk_err_t *err);
const struct kk_crypto_api *kk_image_libcrypto(kk_err_t *err);

#endif
