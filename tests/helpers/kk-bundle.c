/* Writes config.json for one container of a cell manifest:
 *   kk-bundle CELL.yaml CONTAINER-ID ROOTFS CGROUP-ROOT > config.json */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/fs.h"
#include "runtime/runtime.h"

static int run(const char *file, const char *ctr_id, const char *rootfs, const char *cg_root, kk_err_t *err) {
  cleanup_free char *buf = NULL;
  size_t len = 0;
  cleanup_doc_list struct kk_doc_list l = {0};
  if (kk_read_file_at(AT_FDCWD, file, 1 << 20, &buf, &len, err) < 0 || kk_docs_parse(buf, len, file, &l, err) < 0)
    return -1;
  if (l.n != 1 || l.docs[0]->kind != KK_KIND_CELL)
    return kk_error_kind(err, KK_ERR_INVALID, 0, "expected one Cell document");
  if (kk_doc_normalize(l.docs[0], NULL, err) < 0 || kk_doc_validate(l.docs[0], err) < 0)
    return -1;
  struct kk_cell *cell = &l.docs[0]->u.cell;
  struct kk_container_spec *c = NULL;
  for (size_t i = 0; i < cell->spec.n_containers; i++)
    if (strcmp(cell->spec.containers[i].id, ctr_id) == 0)
      c = &cell->spec.containers[i];
  if (c == NULL)
    return kk_error_kind(err, KK_ERR_NOT_FOUND, 0, "no container %s", ctr_id);
  cleanup_free char *cg = kk_cgroup_path(cg_root, cell->spec.realm_id, cell->spec.space_id, cell->spec.stack_id,
                                         cell->spec.id);
  struct kk_bundle_spec b = {
      .id = c->containerd_id, .rootfs = rootfs, .ctr = c, .realm = cell->spec.realm_id,
      .space = cell->spec.space_id, .stack = cell->spec.stack_id, .cell = cell->spec.id, .cell_cgroup = cg,
  };
  struct kk_host_limits host;
  kk_host_limits_read(&host);
  cleanup_free char *json = NULL;
  if (kk_bundle_config(&b, &host, &json, err) < 0)
    return -1;
  puts(json);
  return 0;
}

int main(int argc, char **argv) {
  if (argc != 5) {
    fprintf(stderr, "usage: kk-bundle CELL.yaml CONTAINER ROOTFS CGROUP-ROOT\n");
    return 2;
  }
  kk_err_t err = NULL;
  if (run(argv[1], argv[2], argv[3], argv[4], &err) < 0) {
    fprintf(stderr, "Error: %s\n", err->msg);
    kk_error_free(&err);
    return 1;
  }
  return 0;
}
