/* Internal to model/: Kubernetes v1 Pod <-> cell, shared by the exporter
 * (kube.c) and the importer (kube_import.c, called by document.c). */
#ifndef KK_MODEL_KUBE_H
#define KK_MODEL_KUBE_H

#include <yaml.h>

#include "model/model.h"

/* Labels that carry a cell's place in the hierarchy. */
#define KK_KUBE_LABEL_REALM "kukeon.io/realm"
#define KK_KUBE_LABEL_SPACE "kukeon.io/space"
#define KK_KUBE_LABEL_STACK "kukeon.io/stack"
/* Fields with no Kubernetes equivalent travel as annotations
 * "kukeon.io/<container>.<field>" and "kukeon.io/cell.<field>", valued in
 * the manifest's own spelling, so that an import gives them back. */
#define KK_KUBE_ANNOTATION_PREFIX "kukeon.io/"
#define KK_KUBE_CELL_KEY "cell"

enum kk_kube_ext_type { KK_KUBE_EXT_BOOL, KK_KUBE_EXT_STR, KK_KUBE_EXT_STRV, KK_KUBE_EXT_OPT_I64 };
struct kk_kube_ext {
  const char *field; /* manifest spelling: "restartMaxRetries", "resources.pidsLimit" */
  enum kk_kube_ext_type type;
  size_t off; /* in struct kk_container_spec, or in struct kk_cell */
};
extern const struct kk_kube_ext kk_kube_container_ext[];
extern const size_t kk_kube_n_container_ext;
extern const struct kk_kube_ext kk_kube_cell_ext[];
extern const size_t kk_kube_n_cell_ext;
/* The annotation's value of a set field, or NULL when the field is unset
 * (false, empty, absent): what the export writes. */
char *kk_kube_ext_value(const struct kk_kube_ext *x, const void *base);
/* Sets the field from an annotation's value; -1 with a reason in *why. */
int kk_kube_ext_set(const struct kk_kube_ext *x, void *base, const char *value, const char **why);

/* A Kubernetes document (apiVersion v1 or apps/v1) as a cell: a Pod, or a
 * Deployment's pod template.  Errors name the file, line and field. */
bool kk_kube_is_api_version(const char *api_version);
int kk_kube_parse(yaml_document_t *yd, yaml_node_t *root, const char *file, struct kk_doc **out, kk_err_t *err);

#endif
