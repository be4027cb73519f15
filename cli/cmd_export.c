/* kuke export cell|stack NAME: Kubernetes YAML, a v1 Pod per cell. */
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "cli/args.h"
#include "cli/commands.h"

static int export_cells(struct kk_cli *cli, struct kk_doc **cells, size_t n) {
  cleanup_free char *yaml = kk_kube_export((const struct kk_doc *const *)cells, n);
  fputs(yaml, cli->out);
  return 0;
}

/* The stack's cells, after checking the stack exists (an unknown stack is
 * an error, not an empty export). */
static int export_stack(struct kk_cli *cli, struct kk_api *api, struct kk_ref ref, kk_err_t *err) {
  cleanup_doc struct kk_doc *stack = NULL;
  if (kk_api_get(api, &ref, &stack, err) < 0)
    return -1;
  struct kk_ref scope = {.kind = KK_KIND_CELL, .realm = ref.realm, .space = ref.space, .stack = ref.name};
  struct kk_doc_list cells = {0};
  struct kk_strv warnings = {0};
  int r = kk_api_list(api, KK_KIND_CELL, &scope, &cells, &warnings, err);
  for (size_t i = 0; i < warnings.n; i++)
    fprintf(cli->errout, "Warning: %s\n", warnings.v[i]);
  kk_strv_free(&warnings);
  if (r == 0)
    r = export_cells(cli, cells.docs, cells.n);
  kk_doc_list_free(&cells);
  return r;
}

static int export_run(void *ctx, const struct kk_cmdline *cl, int *status, kk_err_t *err) {
  struct kk_cli *cli = KK_CLI(ctx);
  enum kk_kind kind = kk_cli_kind_of(kk_cmdline_leaf(cl));
  struct kk_ref ref = kk_cli_named_ref(cl, kind, cl->args.v[0]);
  if (kk_cli_check_scope(&ref, err) < 0 || kk_validate_name(kind, ref.name, err) < 0)
    return -1;
  cleanup_api struct kk_api *api = NULL;
  if (kk_cli_connect(cli, "export", false, kk_cmdline_bool(cl, "no-daemon"), &api, err) < 0)
    return -1;
  if (kind == KK_KIND_STACK)
    return export_stack(cli, api, ref, err);
  cleanup_doc struct kk_doc *cell = NULL;
  if (kk_api_get(api, &ref, &cell, err) < 0)
    return -1;
  return export_cells(cli, &cell, 1);
}

static const struct kk_flag export_flags[] = {
    KK_SCOPE_FLAGS,
    KK_NO_DAEMON_FLAG,
};

#define EXPORT_KIND(kind_name, what)                                                                                  \
  {.name = kind_name, .matches = kk_cli_kind_word, .flags = export_flags, .n_flags = KK_ARRAY_SIZE(export_flags),    \
   .args = "NAME", .min_args = 1, .max_args = 1, .summary = what, .run = export_run}
static const struct kk_cmd export_cell = EXPORT_KIND("cell", "One cell as a Kubernetes v1 Pod");
static const struct kk_cmd export_stack_cmd = EXPORT_KIND("stack", "Every cell of a stack, a Pod each");
static const struct kk_cmd *const export_kinds[] = {&export_cell, &export_stack_cmd};

const struct kk_cmd kk_cli_cmd_export = {
    .name = "export",
    .subs = export_kinds,
    .n_subs = KK_ARRAY_SIZE(export_kinds),
    .sub_noun = "resource kind",
    .usage = "export (cell|stack) NAME [flags]",
    .summary = "Print cells as Kubernetes YAML (a v1 Pod per cell)",
    .details = "Each cell becomes a v1 Pod: containers with image, command, args, env, ports, resources, volumes "
               "(hostPath or emptyDir), security context and the restart policy; labels kukeon.io/realm, "
               "kukeon.io/space and kukeon.io/stack carry its place. What Kubernetes has no field for is named in "
               "a comment above the Pod and kept in a kukeon.io/ annotation, so that `kuke apply -f` of the "
               "output (which also takes any v1 Pod or apps/v1 Deployment) gives the same cell back. Unset scope "
               "flags are \"default\".",
};
