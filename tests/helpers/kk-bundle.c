/* Writes config.json for one container of a cell manifest:
 *   kk-bundle CELL.yaml CONTAINER-ID ROOTFS CGROUP-ROOT > config.json */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/fs.h"
#include "runtime/runtime.h"

int main(int argc, char **argv) {
  if (argc != 5) {
    fprintf(stderr, "usage: kk-bundle CELL.yaml CONTAINER ROOTFS CGROUP-ROOT\n");
    return 2;
  }
  kk_err_t err = NULL;
  char *buf = NULL;
  size_t len = 0;
  struct kk_doc_list l = {0};
  if (kk_read_file_at(AT_FDCWD, argv[1], 1 << 20, &buf, &len, &err) < 0 ||
      kk_docs_parse(buf, len, argv[1], &l, &err) < 0 || l.n != 1 || l.docs[0]->kind != KK_KIND_CELL ||
      kk_doc_normalize(l.docs[0], NULL, &err) < 0 || kk_doc_validate(l.docs[0], &err) < 0) {
    fprintf(stderr, "Error: %s\n", err ? err->msg : "expected one Cell document");
    return 1;
  }
  struct kk_cell *cell = &l.docs[0]->u.cell;
  struct kk_container_spec *c = NULL;
  for (size_t i = 0; i < cell->spec.n_containers; i++)
    if (strcmp(cell->spec.containers[i].id, argv[2]) == 0)
      c = &cell->spec.containers[i];
  if (c == NULL) {
    fprintf(stderr, "Error: no container %s\n", argv[2]);
    return 1;
  }
  char *cg = kk_cgroup_path(argv[4], cell->spec.realm_id, cell->spec.space_id, cell->spec.stack_id, cell->spec.id);
  struct kk_bundle_spec b = {
      .id = c->containerd_id, .rootfs = argv[3], .ctr = c, .realm = cell->spec.realm_id,
      .space = cell->spec.space_id, .stack = cell->spec.stack_id, .cell = cell->spec.id, .cell_cgroup = cg,
  };
  struct kk_host_limits host;
  kk_host_limits_read(&host);
  char *json = NULL;
  if (kk_bundle_config(&b, &host, &json, &err) < 0) {
    fprintf(stderr, "Error: %s\n", err->msg);
    return 1;
  }
  puts(json);
  free(json);
  free(cg);
  free(buf);
  kk_doc_list_free(&l);
  return 0;
}
