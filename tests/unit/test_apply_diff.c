/* Apply's diff classification, kind by kind and field by field (spec
 * §10.2): what is refused as breaking, what of a root container recreates
 * the cell and what is only persisted, which containers an update tears
 * down, the pause root that is never a diff; and the effective spec a
 * container gets from its space's defaults.container and the daemon's
 * default memory limit (model/inherit.c).  Pure: no host, no store. */
#include <string.h>

#include "controller/internal.h"
#include "lib/util.h"
#include "model/model.h"
#include "unit.h"

/* The first document of yaml, normalized as apply's prepare does. */
static struct kk_doc *parsed(const char *yaml) {
  struct kk_doc_list l = {0};
  kk_err_t err = NULL;
  ck_assert_msg(kk_docs_parse(yaml, strlen(yaml), "t.yaml", &l, &err) == 0 && l.n == 1, "%s: %s", yaml,
                err ? err->msg : "not one document");
  struct kk_doc *d = l.docs[0];
  l.n = 0;
  kk_doc_list_free(&l);
  ck_assert(kk_doc_normalize(d, NULL, &err) == 0);
  if (d->kind == KK_KIND_CELL && kk_cell_root(&d->u.cell) == NULL)
    kk_cell_add_pause_root(&d->u.cell);
  return d;
}

/* A cell of containers (a YAML flow list's items). */
static struct kk_doc *cell(const char *containers) {
  cleanup_free char *y = kk_asprintf("kind: Cell\nmetadata: {name: c}\nspec: {realmId: r, spaceId: s, stackId: t, "
                                     "containers: [%s]}\n",
                                     containers);
  return parsed(y);
}

/* ------------------------------------------------------ breaking, per kind */

struct breaking_case {
  const char *stored, *want, *expect;
};

static void check_breaking(const struct breaking_case *c) {
  cleanup_doc struct kk_doc *a = parsed(c->stored);
  cleanup_doc struct kk_doc *b = parsed(c->want);
  cleanup_strv struct kk_strv out = {0};
  kk_ctl_breaking_changes(a, b, &out);
  cleanup_free char *got = kk_strv_join(&out, ",");
  ck_assert_msg(strcmp(got, c->expect) == 0, "%s -> %s: got [%s], want [%s]", c->stored, c->want, got, c->expect);
}

#define REALM(x) "kind: Realm\nmetadata: {name: r" x
#define SPACE(x) "kind: Space\nmetadata: {name: s" x
#define STACK(x) "kind: Stack\nmetadata: {name: t" x
START_TEST(breaking_realm_space_stack) {
  static const struct breaking_case cases[] = {
      {REALM("}\nspec: {namespace: a.io}\n"), REALM(", labels: {x: y}}\nspec: {namespace: a.io}\n"), ""},
      {REALM("}\nspec: {namespace: a.io}\n"),
       REALM("}\nspec: {namespace: a.io, registryCredentials: [{username: u, password: p, serverAddress: h}]}\n"), ""},
      {REALM("}\nspec: {namespace: a.io}\n"), REALM("}\nspec: {namespace: b.io}\n"), "spec.namespace"},
      {SPACE("}\nspec: {realmId: r}\n"), SPACE(", labels: {x: y}}\nspec: {realmId: r}\n"), ""},
      {SPACE("}\nspec: {realmId: r}\n"),
       SPACE("}\nspec: {realmId: r, network: {egress: {default: deny, allow: [{cidr: 10.0.0.0/8}]}}}\n"), ""},
      {SPACE("}\nspec: {realmId: r}\n"), SPACE("}\nspec: {realmId: r, defaults: {container: {user: '7'}}}\n"), ""},
      {SPACE("}\nspec: {realmId: r, cniConfigPath: /a}\n"), SPACE("}\nspec: {realmId: r, cniConfigPath: /b}\n"),
       "spec.cniConfigPath"},
      {STACK("}\nspec: {realmId: r, spaceId: s}\n"), STACK(", labels: {x: y}}\nspec: {realmId: r, spaceId: s}\n"), ""},
  };
  for (size_t i = 0; i < KK_ARRAY_SIZE(cases); i++)
    check_breaking(&cases[i]);
}
END_TEST
#undef REALM
#undef SPACE
#undef STACK

#define CELL(x) "kind: Cell\nmetadata: {name: c}\nspec: {realmId: r, spaceId: s, stackId: t" x "}\n"
#define TWO(a) ", containers: [{id: m, root: true, image: x}, {id: a, image: x" a "}]"
START_TEST(breaking_cell) {
  static const struct breaking_case cases[] = {
      /* Compatible: labels, containers added or removed, a non-root one changed. */
      {CELL(TWO("")), "kind: Cell\nmetadata: {name: c, labels: {x: y}}\nspec: {realmId: r, spaceId: s, stackId: t"
                      TWO("") "}\n", ""},
      {CELL(TWO("")), CELL(", containers: [{id: m, root: true, image: x}]"), ""},
      {CELL(", containers: [{id: m, root: true, image: x}]"), CELL(TWO("")), ""},
      {CELL(TWO("")), CELL(TWO(", env: [A=1], command: sh, user: '1', privileged: true")), ""},
      /* Breaking: nestedCgroupRuntime, a non-root container's host namespaces. */
      {CELL(TWO("")), CELL(", nestedCgroupRuntime: true" TWO("")), "spec.nestedCgroupRuntime"},
      {CELL(TWO("")), CELL(TWO(", hostNetwork: true")), "spec.containers[a].hostNetwork"},
      {CELL(TWO("")), CELL(TWO(", hostPID: true")), "spec.containers[a].hostPID"},
      {CELL(TWO("")), CELL(TWO(", hostCgroup: true")), "spec.containers[a].hostCgroup"},
      {CELL(TWO("")), CELL(TWO(", hostPID: true, hostCgroup: true")),
       "spec.containers[a].hostPID,spec.containers[a].hostCgroup"},
      /* The root's host namespaces recreate the cell instead. */
      {CELL(TWO("")), CELL(", containers: [{id: m, root: true, image: x, hostPID: true}, {id: a, image: x}]"), ""},
  };
  for (size_t i = 0; i < KK_ARRAY_SIZE(cases); i++)
    check_breaking(&cases[i]);
}
END_TEST
#undef TWO
#undef CELL

/* ------------------------------------------------------ the root container */

static bool root_recreates(const char *old_fields, const char *new_fields) {
  cleanup_free char *a = kk_asprintf("{id: m, root: true, %s}", old_fields);
  cleanup_free char *b = kk_asprintf("{id: m, root: true, %s}", new_fields);
  cleanup_doc struct kk_doc *o = cell(a);
  cleanup_doc struct kk_doc *w = cell(b);
  return kk_ctl_root_recreates(&o->u.cell.spec.containers[0], &w->u.cell.spec.containers[0]);
}

START_TEST(root_fields_that_recreate_the_cell) {
  static const char *const recreate[] = {
      "image: y",
      "image: x, command: sh",
      "image: x, args: [a]",
      "image: x, workingDir: /w",
      "image: x, volumes: [{source: /a, target: /b}]",
      "image: x, privileged: true",
      "image: x, user: '1'",
      "image: x, readOnlyRootFilesystem: true",
      "image: x, capabilities: {drop: [CAP_NET_RAW]}",
      "image: x, securityOpts: ['seccomp=unconfined']",
      "image: x, devices: [/dev/fuse]",
      "image: x, tmpfs: [{path: /t}]",
      "image: x, resources: {pidsLimit: 5}",
      "image: x, hostNetwork: true",
      "image: x, hostPID: true",
      "image: x, hostCgroup: true",
  };
  for (size_t i = 0; i < KK_ARRAY_SIZE(recreate); i++)
    ck_assert_msg(root_recreates("image: x", recreate[i]), "%s should recreate the root", recreate[i]);
  /* Persisted, read at the next start: env, networks, restart policy. */
  static const char *const persisted[] = {
      "image: x, env: [A=1]",
      "image: x, networks: [n1]",
      "image: x, restartPolicy: always, restartBackoffSeconds: 3, restartMaxRetries: 2",
  };
  for (size_t i = 0; i < KK_ARRAY_SIZE(persisted); i++)
    ck_assert_msg(!root_recreates("image: x", persisted[i]), "%s should not recreate the root", persisted[i]);
  ck_assert(!root_recreates("image: x", "image: x"));
  /* Persisted fields beside a breaking one still recreate. */
  ck_assert(root_recreates("image: x, env: [A=1]", "image: y, env: [A=2]"));
}
END_TEST

/* Which containers of old an update takes down, as "id,id" in old's order. */
static char *torn_down(const char *old_ctrs, const char *new_ctrs) {
  cleanup_doc struct kk_doc *o = cell(old_ctrs);
  cleanup_doc struct kk_doc *w = cell(new_ctrs);
  cleanup_free bool *gone = kk_ctl_cell_gone(&o->u.cell, &w->u.cell);
  cleanup_strv struct kk_strv ids = {0};
  for (size_t i = 0; i < o->u.cell.spec.n_containers; i++)
    if (gone[i])
      kk_strv_push(&ids, o->u.cell.spec.containers[i].id);
  return kk_strv_join(&ids, ",");
}

#define ROOT "{id: m, root: true, image: x}"
#define ROOT_ENV "{id: m, root: true, image: x, env: [A=1]}"
#define ROOT_IMG "{id: m, root: true, image: y}"
#define A "{id: a, image: x}"
#define A2 "{id: a, image: x, args: ['1']}"
#define B "{id: b, image: x}"
START_TEST(update_tears_down_per_change) {
  static const struct {
    const char *old, *want, *gone;
  } cases[] = {
      {ROOT "," A "," B, ROOT "," A "," B, ""},
      {ROOT "," A "," B, ROOT "," A2 "," B, "a"},          /* a non-root container alone */
      {ROOT "," A "," B, ROOT "," A, "b"},                 /* removed */
      {ROOT "," A, ROOT "," A "," B, ""},                  /* added: started, nothing torn down */
      {ROOT "," A "," B, ROOT_ENV "," A "," B, ""},        /* root env: persisted only */
      {ROOT "," A "," B, ROOT_IMG "," A "," B, "m,a,b"},   /* root recreated: the whole cell */
      {ROOT "," A "," B, ROOT_ENV "," A2 "," B, "a"},      /* both kinds at once */
      {ROOT "," A, "{id: m, root: true, image: x, ports: ['8080:80']}," A, "m,a"}, /* ports: whole cell */
      {A "," B, A2 "," B, "a"},                            /* pause root kept */
  };
  for (size_t i = 0; i < KK_ARRAY_SIZE(cases); i++) {
    cleanup_free char *got = torn_down(cases[i].old, cases[i].want);
    ck_assert_msg(strcmp(got, cases[i].gone) == 0, "case %zu: got [%s], want [%s]", i, got, cases[i].gone);
  }
}
END_TEST
/* "field=what" per change of old -> want (cells), ';'-joined. */
static char *details_of(const char *old_ctrs, const char *new_ctrs) {
  cleanup_doc struct kk_doc *o = cell(old_ctrs);
  cleanup_doc struct kk_doc *w = cell(new_ctrs);
  kk_ctl_keep_pause_root(&w->u.cell, &o->u.cell);
  cleanup_free bool *gone = kk_ctl_cell_gone(&o->u.cell, &w->u.cell);
  cleanup_strv struct kk_strv changes = {0}, details = {0}, pairs = {0};
  kk_doc_spec_diff(o, w, &changes);
  kk_ctl_change_details(&o->u.cell, gone, NULL, &changes, &details);
  ck_assert_uint_eq(details.n, 2 * changes.n);
  for (size_t i = 0; i + 1 < details.n; i += 2)
    kk_strv_push_owned(&pairs, kk_asprintf("%s=%s", details.v[i], details.v[i + 1]));
  return kk_strv_join(&pairs, ";");
}

START_TEST(details_say_what_apply_did) {
  static const struct {
    const char *old, *want, *details;
  } cases[] = {
      {ROOT "," A, ROOT "," A, ""},
      {ROOT "," A "," B, ROOT "," A2 "," B,
       "spec.containers[a].args=container \"a\" stopped, removed, recreated and started"},
      {ROOT "," A "," B, ROOT "," A,
       "spec.containers[b] removed=container \"b\" stopped and removed"},
      {ROOT "," A, ROOT "," A "," B, "spec.containers[b] added=container \"b\" created and started"},
      {ROOT "," A, ROOT_ENV "," A, "spec.containers[m].env=stored: read at the cell's next start"},
      {ROOT "," A, ROOT_IMG "," A2,
       "spec.containers[m].image=cell recreated: its root container or published ports changed;"
       "spec.containers[a].args=cell recreated: its root container or published ports changed"},
  };
  for (size_t i = 0; i < KK_ARRAY_SIZE(cases); i++) {
    cleanup_free char *got = details_of(cases[i].old, cases[i].want);
    ck_assert_msg(strcmp(got, cases[i].details) == 0, "case %zu: got [%s], want [%s]", i, got, cases[i].details);
  }
  /* Other kinds, and a cell's own fields: updated in place. */
  cleanup_strv struct kk_strv changes = {0}, details = {0};
  kk_strv_push(&changes, "metadata.labels");
  kk_ctl_change_details(NULL, NULL, NULL, &changes, &details);
  ck_assert_uint_eq(details.n, 2);
  ck_assert_str_eq(details.v[1], "updated in place");
  /* A Container document: every change is about its container. */
  cleanup_doc struct kk_doc *o = cell(ROOT "," A);
  cleanup_doc struct kk_doc *w = cell(ROOT "," A2);
  cleanup_free bool *gone = kk_ctl_cell_gone(&o->u.cell, &w->u.cell);
  cleanup_strv struct kk_strv cchanges = {0}, cdetails = {0};
  kk_strv_push(&cchanges, "spec.args");
  kk_ctl_change_details(&o->u.cell, gone, "a", &cchanges, &cdetails);
  ck_assert_str_eq(cdetails.v[0], "spec.args");
  ck_assert_str_eq(cdetails.v[1], "container \"a\" stopped, removed, recreated and started");
}
END_TEST
#undef ROOT
#undef ROOT_ENV
#undef ROOT_IMG
#undef A
#undef A2
#undef B

START_TEST(pause_root_is_never_a_diff) {
  /* Stored with what it got back then (a default memory limit, an older
   * pause image's command): a fresh synthesized root takes the stored one. */
  cleanup_doc struct kk_doc *stored = cell("{id: a, image: x}");
  struct kk_container_spec *sr = kk_cell_root(&stored->u.cell);
  sr->resources.memory_limit_bytes = (struct kk_opt_i64){.set = true, .v = 1 << 26};
  free(sr->command);
  sr->command = kk_xstrdup("/old-pause");
  cleanup_doc struct kk_doc *want = cell("{id: a, image: x}");
  ck_assert(!kk_doc_spec_equal(stored, want));
  kk_ctl_keep_pause_root(&want->u.cell, &stored->u.cell);
  ck_assert(kk_doc_spec_equal(stored, want));
  ck_assert_str_eq(kk_cell_root(&want->u.cell)->command, "/old-pause");
  /* A root the author names is theirs: compared as written. */
  cleanup_doc struct kk_doc *own = cell("{id: m, root: true, image: x}, {id: a, image: x}");
  kk_ctl_keep_pause_root(&own->u.cell, &stored->u.cell);
  ck_assert_str_eq(kk_cell_root(&own->u.cell)->id, "m");
  ck_assert_str_eq(kk_cell_root(&own->u.cell)->image, "x");
  ck_assert(kk_container_is_pause_root(kk_cell_root(&want->u.cell)));
  ck_assert(!kk_container_is_pause_root(kk_cell_root(&own->u.cell)));
}
END_TEST

/* ------------------------------------------------ defaults, shallow */

/* The space's defaults.container of a Space document. */
static struct kk_doc *space_defaults(const char *defaults) {
  cleanup_free char *y =
      kk_asprintf("kind: Space\nmetadata: {name: s}\nspec: {realmId: r, defaults: {container: %s}}\n", defaults);
  return parsed(y);
}

#define DEFAULTS                                                                                                   \
  "{user: '100', readOnlyRootFilesystem: true, capabilities: {drop: [CAP_ALL], add: [CAP_NET_BIND_SERVICE]}, "     \
  "securityOpts: ['no-new-privileges'], tmpfs: [{path: /run, sizeBytes: 1024, options: [noexec]}], "              \
  "resources: {memoryLimitBytes: 1000, pidsLimit: 10}}"
START_TEST(defaults_fill_what_is_unset) {
  cleanup_doc struct kk_doc *sp = space_defaults(DEFAULTS);
  const struct kk_container_defaults *d = &sp->u.space.spec.defaults.container;
  cleanup_doc struct kk_doc *c = cell("{id: a, image: x}");
  struct kk_container_spec *a = &c->u.cell.spec.containers[0];
  kk_container_inherit(a, d, 0);
  ck_assert_str_eq(a->user, "100");
  ck_assert(a->read_only_root_filesystem);
  ck_assert_uint_eq(a->capabilities.drop.n, 1);
  ck_assert_str_eq(a->capabilities.add.v[0], "CAP_NET_BIND_SERVICE");
  ck_assert_str_eq(a->security_opts.v[0], "no-new-privileges");
  ck_assert_uint_eq(a->n_tmpfs, 1);
  ck_assert_str_eq(a->tmpfs[0].path, "/run");
  ck_assert_int_eq(a->tmpfs[0].size_bytes, 1024);
  ck_assert_str_eq(a->tmpfs[0].options.v[0], "noexec");
  ck_assert(a->resources.memory_limit_bytes.set && a->resources.memory_limit_bytes.v == 1000);
  ck_assert(a->resources.pids_limit.set && a->resources.pids_limit.v == 10);
  /* Applied twice, the same: what is stored does not grow. */
  cleanup_doc struct kk_doc *again = kk_doc_clone(c);
  kk_container_inherit(&again->u.cell.spec.containers[0], d, 0);
  ck_assert(kk_doc_spec_equal(c, again));
}
END_TEST

START_TEST(defaults_are_shallow) {
  cleanup_doc struct kk_doc *sp = space_defaults(DEFAULTS);
  const struct kk_container_defaults *d = &sp->u.space.spec.defaults.container;
  cleanup_doc struct kk_doc *c =
      cell("{id: a, image: x, user: '5', capabilities: {add: [CAP_CHOWN]}, securityOpts: ['seccomp=unconfined'], "
           "tmpfs: [{path: /mine}], resources: {cpuShares: 512}}");
  struct kk_container_spec *a = &c->u.cell.spec.containers[0];
  kk_container_inherit(a, d, 0);
  ck_assert_str_eq(a->user, "5");
  /* The capabilities are one field: the space's drop list does not come along. */
  ck_assert_uint_eq(a->capabilities.drop.n, 0);
  ck_assert_uint_eq(a->capabilities.add.n, 1);
  ck_assert_str_eq(a->capabilities.add.v[0], "CAP_CHOWN");
  ck_assert_uint_eq(a->security_opts.n, 1);
  ck_assert_str_eq(a->security_opts.v[0], "seccomp=unconfined");
  ck_assert_uint_eq(a->n_tmpfs, 1);
  ck_assert_str_eq(a->tmpfs[0].path, "/mine");
  /* resources are one field too: no memory or pids limit from the space. */
  ck_assert(a->resources.cpu_shares.set && a->resources.cpu_shares.v == 512);
  ck_assert(!a->resources.memory_limit_bytes.set && !a->resources.pids_limit.set);
  /* readOnlyRootFilesystem true in the space cannot be opted out of. */
  ck_assert(a->read_only_root_filesystem);
  cleanup_doc struct kk_doc *sp2 = space_defaults("{readOnlyRootFilesystem: false}");
  cleanup_doc struct kk_doc *c2 = cell("{id: a, image: x, readOnlyRootFilesystem: true}");
  kk_container_inherit(&c2->u.cell.spec.containers[0], &sp2->u.space.spec.defaults.container, 0);
  ck_assert(c2->u.cell.spec.containers[0].read_only_root_filesystem);
}
END_TEST
#undef DEFAULTS

START_TEST(default_memory_limit) {
  cleanup_doc struct kk_doc *c =
      cell("{id: a, image: x}, {id: b, image: x, resources: {memoryLimitBytes: 4096}}, "
           "{id: z, image: x, resources: {memoryLimitBytes: 0}}");
  cleanup_doc struct kk_doc *sp = space_defaults("{user: '9'}");
  kk_cell_inherit(&c->u.cell, &sp->u.space.spec.defaults.container, 1 << 20);
  const struct kk_cell *cl = &c->u.cell;
  /* Every container without a positive limit gets it, the pause root too. */
  ck_assert_int_eq(kk_ctl_spec_by_id(cl, "a")->resources.memory_limit_bytes.v, 1 << 20);
  ck_assert_int_eq(kk_ctl_spec_by_id(cl, "b")->resources.memory_limit_bytes.v, 4096);
  ck_assert_int_eq(kk_ctl_spec_by_id(cl, "z")->resources.memory_limit_bytes.v, 1 << 20);
  const struct kk_container_spec *root = kk_ctl_spec_by_id(cl, cl->spec.root_container_id);
  ck_assert(kk_container_is_pause_root(root));
  ck_assert_int_eq(root->resources.memory_limit_bytes.v, 1 << 20);
  /* The space's defaults are the author's containers', not the pause root's. */
  ck_assert_str_eq(kk_ctl_spec_by_id(cl, "a")->user, "9");
  ck_assert(kk_empty(root->user));
  /* None configured (0, negative): nothing set; no space: the memory limit only. */
  cleanup_doc struct kk_doc *c2 = cell("{id: a, image: x}");
  kk_cell_inherit(&c2->u.cell, NULL, 0);
  kk_cell_inherit(&c2->u.cell, NULL, -5);
  ck_assert(!c2->u.cell.spec.containers[0].resources.memory_limit_bytes.set);
  kk_cell_inherit(&c2->u.cell, NULL, 4096);
  ck_assert_int_eq(c2->u.cell.spec.containers[0].resources.memory_limit_bytes.v, 4096);
}
END_TEST

static Suite *apply_diff_suite(void) {
  Suite *s = suite_create("apply_diff");
  TCase *tc = tcase_create("pure");
  tcase_add_test(tc, breaking_realm_space_stack);
  tcase_add_test(tc, breaking_cell);
  tcase_add_test(tc, root_fields_that_recreate_the_cell);
  tcase_add_test(tc, update_tears_down_per_change);
  tcase_add_test(tc, details_say_what_apply_did);
  tcase_add_test(tc, pause_root_is_never_a_diff);
  tcase_add_test(tc, defaults_fill_what_is_unset);
  tcase_add_test(tc, defaults_are_shallow);
  tcase_add_test(tc, default_memory_limit);
  suite_add_tcase(s, tc);
  return s;
}

KK_UNIT_MAIN(apply_diff_suite)
