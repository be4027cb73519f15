/* libFuzzer target: whole-layer unpacking of arbitrary bytes (tar, gzip or
 * zstd) into a fresh directory.  Invariant: whatever happens, nothing
 * appears next to the layer root: the sandbox holds exactly "root" and the
 * untouched sentinel file.  Devices are skipped, limits are small. */
#include <dirent.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/fs.h"
#include "image/image.h"

#define FAIL(...)                                                                                                      \
  do {                                                                                                                 \
    fprintf(stderr, "KK_FUZZ_FAIL: " __VA_ARGS__);                                                                     \
    fputc('\n', stderr);                                                                                               \
    abort();                                                                                                           \
  } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char tmpl[] = "/tmp/kk-fuzz-unpack.XXXXXX";
  char *sb = mkdtemp(tmpl);
  if (sb == NULL)
    return 0;
  char path[256];
  snprintf(path, sizeof(path), "%s/root", sb);
  mkdir(path, 0755);
  snprintf(path, sizeof(path), "%s/sentinel", sb);
  int s = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
  if (s >= 0) {
    kk_write_all(s, "sentinel", 8);
    close(s);
  }
  snprintf(path, sizeof(path), "%s/root", sb);
  int rootfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  int fd = memfd_create("layer", MFD_CLOEXEC);
  kk_write_all(fd, data, size);
  lseek(fd, 0, SEEK_SET);
  struct kk_unpack_opts o = {.devices = KK_UNPACK_DEVICES_SKIP, .max_entries = 1000, .max_bytes = 16u << 20};
  kk_err_t err = NULL;
  if (kk_image_unpack_layer(rootfd, NULL, 0, fd, NULL, NULL, &o, NULL, &err) < 0) {
    if (err == NULL || err->msg == NULL)
      FAIL("error without a message");
    kk_error_free(&err);
  }
  close(fd);
  close(rootfd);
  DIR *d = opendir(sb);
  struct dirent *de;
  int n = 0;
  while (d && (de = readdir(d)) != NULL) {
    if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
      continue;
    if (strcmp(de->d_name, "root") && strcmp(de->d_name, "sentinel"))
      FAIL("\"%s\" created next to the layer root", de->d_name);
    n++;
  }
  if (d)
    closedir(d);
  char buf[16] = {0};
  snprintf(path, sizeof(path), "%s/sentinel", sb);
  s = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (n != 2 || s < 0 || read(s, buf, sizeof(buf)) != 8 || memcmp(buf, "sentinel", 8) != 0)
    FAIL("sandbox changed");
  close(s);
  kk_rm_rf_at(AT_FDCWD, sb, &err);
  kk_error_free(&err);
  return 0;
}
