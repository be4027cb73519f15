/* Shared by runtime/bundle.c and runtime/seccomp.c; not part of the
 * runtime's API (runtime/runtime.h is). */
#ifndef KK_RUNTIME_BUNDLE_INT_H
#define KK_RUNTIME_BUNDLE_INT_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "lib/error.h"
#include "model/model.h"

/* runc's linux.seccomp for a container whose effective capabilities are
 * caps (bit i = capability i): kukeon's default allow-list, or the
 * docker-format profile named by securityOpts seccomp=<path>.  The
 * default names the host's native ABI, and its compat one (x86 on x86_64)
 * only for an image built for it (image_arch, GOARCH: 386); a syscall
 * through an ABI the filter does not name kills the process.  *out is
 * NULL when the container runs without seccomp (privileged, or
 * seccomp=unconfined). */
int kk_seccomp_build(const struct kk_container_spec *c, unsigned long long caps, const char *image_arch, json_t **out,
                     kk_err_t *err);

/* Whether a syscall name has a real number on one of the architectures
 * (libseccomp tokens): names of other architectures, and names this
 * libseccomp does not know, are left out of a profile. */
bool kk_seccomp_name_usable(const char *name, const uint32_t *arches, size_t n_arches);

#endif
