#!/usr/bin/env bash
# The CLI in-process on a temp run path: init, create, get, apply, delete,
# and every error path: one clear line, exit 1, tree unchanged.
. "$(dirname "$0")/lib.sh"
export KUKEON_RUN_PATH="$T_TMP/run"
RP="$KUKEON_RUN_PATH"
ex="$KUKEON_SRC/examples"

out=$("$KUKE" init 2>&1); rc=$?
t_eq init-exit 0 "$rc"
t_match init-created 'realm "default": created' "$out"
t_match init-system 'realm "kuke-system": created' "$out"
out=$("$KUKE" init 2>&1)
t_match init-again-title '^Kukeon runtime already initialized' "$out"
t_match init-again-existed 'space "kukeon": already existed' "$out"
t_ok layout-realm test -f "$RP/default/realm.yaml"
t_ok layout-space test -f "$RP/default/default/space.yaml"
t_ok layout-stack test -f "$RP/default/default/default/stack.yaml"
t_ok layout-system test -f "$RP/kuke-system/kukeon/kukeon/stack.yaml"
t_ok layout-run test -d "$RP/run"
t_ok conflist-written test -f "$RP/default/default/network.conflist"  # issue 18: written with the space

out=$("$KUKE" get realms)
t_match get-realms-header '^NAME +STATE +AGE$' "$out"
t_match get-realms-dashes '^-+  -+  -+$' "$out"
t_match get-realms-row '^kuke-system +Ready +[0-9]+s$' "$out"
out=$("$KUKE" get realms -o wide)
t_match get-realms-wide 'NAMESPACE' "$out"
t_match get-realms-wide-ns 'default.kukeon.io' "$out"
out=$("$KUKE" get realm default -o yaml)
t_match get-yaml-kind '^kind: Realm$' "$out"
t_ok get-json python3 -c 'import json,sys; d=json.load(sys.stdin); assert d["kind"]=="Realm" and d["status"]["state"]=="Ready"' <<<"$("$KUKE" get realm default -o json)"
t_ok get-list-json python3 -c 'import json,sys; d=json.load(sys.stdin); assert isinstance(d,list) and len(d)==2' <<<"$("$KUKE" get realms -o json)"
out=$("$KUKE" get cells)
t_eq get-empty "No resources found." "$out"

# create
out=$("$KUKE" create realm blue)
t_match create-realm 'Realm "blue" \(namespace "blue.kukeon.io"\)' "$out"
out=$("$KUKE" create space sp1 --realm blue)
t_match create-space 'Space "sp1" \(realm "blue", network "blue-sp1"\)' "$out"
t_ok create-stack "$KUKE" create stack st1 --realm blue --space sp1
out=$("$KUKE" create cell c1 --realm blue --space sp1 --stack st1 --image docker.io/library/busybox:latest)
t_match create-cell 'Cell "c1" \(realm "blue", space "sp1", stack "st1"\)' "$out"
out=$("$KUKE" get cells --realm blue)
t_match get-cell-row '^c1 +blue +sp1 +st1 +Stopped +- +[0-9]+s$' "$out"
out=$("$KUKE" get containers --realm blue -o wide)
t_match get-containers 'main +blue +sp1 +st1 +c1 +Pending +0' "$out"
t_match get-containers-root '^root +blue' "$out"
t_ok layout-container test -f "$RP/blue/sp1/st1/c1/containers/main.yaml"
t_ok layout-root-container test -f "$RP/blue/sp1/st1/c1/containers/root.yaml"
out=$("$KUKE" get container main --realm blue --space sp1 --stack st1 --cell c1 -o yaml)
t_match get-container-named 'containerdId: sp1_st1_c1_main' "$out"
out=$("$KUKE" create cell --realm blue --space sp1 --stack st1 --image docker.io/library/busybox:1.36 2>&1)
t_match create-cell-generated-name 'Cell "busybox-[0-9a-f]{6}"' "$out"

# cgroups: one per level under the test's unique root
CGV2=$(awk '$9=="cgroup2"{print $5; exit}' /proc/self/mountinfo)
if [ -n "$CGV2" ]; then
  t_ok cgroup-realm test -d "$CGV2$KUKEON_CGROUP_ROOT/blue"
  t_ok cgroup-cell test -d "$CGV2$KUKEON_CGROUP_ROOT/blue/sp1/st1/c1"
  out=$("$KUKE" get cell c1 --realm blue --space sp1 --stack st1 -o json)
  t_ok cgroup-status python3 -c 'import json,sys; d=json.load(sys.stdin); s=d["status"]; assert s["cgroupReady"] and s["cgroupPath"].endswith("/blue/sp1/st1/c1"), s' <<<"$out"
fi
out=$("$KUKE" doctor); rc=$?
t_match doctor-mode '^(PASS|WARN)  cgroups/mode' "$out"
t_match doctor-root "cgroups/root" "$out"
cat > "$T_TMP/limits.yaml" <<'YAML'
kind: Stack
metadata: {name: limited}
spec:
  realmId: blue
  spaceId: sp1
  resources: {memoryMaxBytes: 67108864, pidsMax: 100}
YAML
out=$("$KUKE" apply -f "$T_TMP/limits.yaml"); rc=$?
t_eq apply-limits-exit 0 "$rc"
if grep -q hybrid <<<"$("$KUKE" doctor)"; then
  t_match apply-limits-warning '  Warning: memoryMaxBytes \(memory.max\) = 67108864: not enforced' "$out"
else
  t_eq apply-limits-written "67108864" "$(cat "$CGV2$KUKEON_CGROUP_ROOT/blue/sp1/limited/memory.max")"
fi
t_ok delete-limited "$KUKE" delete stack limited --realm blue --space sp1
t_fail cgroup-stack-removed test -d "$CGV2$KUKEON_CGROUP_ROOT/blue/sp1/limited"

# apply: the example's cells run busybox
t_load_busybox "$RP"
out=$("$KUKE" apply -f "$ex/shop.yaml"); rc=$?
t_eq apply-exit 0 "$rc"
t_eq apply-created 'Space "shop": created
Stack "web": created
Cell "frontend": created
Cell "worker": created' "$out"
out=$("$KUKE" apply -f "$ex/shop.yaml")
t_match apply-unchanged 'Cell "frontend": unchanged' "$out"
sed 's/tier: front/tier: edge/' "$ex/shop.yaml" > "$T_TMP/shop2.yaml"
out=$("$KUKE" apply -f "$T_TMP/shop2.yaml")
t_match apply-updated 'Cell "frontend": updated' "$out"
t_match apply-change-line '  - metadata.labels' "$out"
out=$("$KUKE" apply -f "$T_TMP/shop2.yaml" -o json)
t_ok apply-json python3 -c 'import json,sys; d=json.load(sys.stdin); assert [r["action"] for r in d["resources"]]==["unchanged"]*4' <<<"$out"
out=$("$KUKE" get cells -l tier=edge)
t_match selector-match '^frontend ' "$out"
t_fail selector-excludes grep -q '^worker ' <<<"$out"
out=$("$KUKE" get cells -l 'tier!=edge,tier')
t_match selector-neg '^worker ' "$out"
cat > "$T_TMP/breaking.yaml" <<'YAML'
apiVersion: v1beta1
kind: Realm
metadata: {name: blue}
spec: {namespace: other.example}
YAML
out=$("$KUKE" apply -f "$T_TMP/breaking.yaml" 2>&1); rc=$?
t_eq apply-breaking-exit 1 "$rc"
t_match apply-breaking 'has breaking changes: \[spec.namespace\]' "$out"
# A cell whose parents do not exist: apply creates them.
cat > "$T_TMP/newparents.yaml" <<'YAML'
kind: Cell
metadata: {name: lone}
spec:
  realmId: green
  spaceId: s
  stackId: t
  containers: [{id: a, image: busybox}]
YAML
t_load_busybox "$RP" green
t_ok apply-creates-parents "$KUKE" apply -f "$T_TMP/newparents.yaml"
t_ok parents-exist test -f "$RP/green/s/t/stack.yaml"
mkdir -p "$T_TMP/dir" && cp "$ex/shop.yaml" "$T_TMP/dir/a.yaml" && cp "$T_TMP/newparents.yaml" "$T_TMP/dir/b.yml"
t_ok apply-dir "$KUKE" apply -f "$T_TMP/dir"
t_ok apply-stdin sh -c "\"$KUKE\" apply -f - < \"$ex/shop.yaml\""

# Bad input: one line, exit 1, nothing changes.
bad() { # name, file contents, expected message regex
  local name=$1 body=$2 want=$3 before after out rc
  printf '%s\n' "$body" > "$T_TMP/bad.yaml"
  before=$(t_tree "$RP")
  out=$("$KUKE" apply -f "$T_TMP/bad.yaml" 2>&1 >/dev/null); rc=$?
  after=$(t_tree "$RP")
  t_eq "bad-$name-exit" 1 "$rc"
  t_eq "bad-$name-one-line" 1 "$(printf '%s\n' "$out" | wc -l)"
  t_match "bad-$name-message" "^Error: .*$want" "$out"
  t_eq "bad-$name-unchanged" "$before" "$after"
}
bad yaml 'kind: Realm
metadata: {name: [' 'invalid YAML'
bad apiversion 'apiVersion: v2
kind: Realm
metadata: {name: x}' 'unsupported apiVersion "v2"'
bad kind 'kind: Pod
metadata: {name: x}' 'unknown kind: Pod'
bad underscore 'kind: Realm
metadata: {name: a_b}' "bad.yaml:2: metadata.name: realm name is invalid: \"a_b\" contains disallowed character"
bad slash-space 'kind: Space
metadata: {name: a/b}
spec: {realmId: default}' "name is invalid: space name \"a/b\" contains disallowed character"
bad unknown-field 'kind: Realm
metadata: {name: ok}
spec:
  nmespace: x' 'bad.yaml:4: spec.nmespace: unknown field'
bad no-image 'kind: Cell
metadata: {name: c}
spec:
  realmId: default
  spaceId: default
  stackId: default
  containers:
  - id: x' 'bad.yaml:8: spec.containers\[0\].image: image is required'
bad two-roots 'kind: Cell
metadata: {name: c}
spec:
  realmId: default
  spaceId: default
  stackId: default
  containers:
  - {id: a, image: busybox, root: true}
  - {id: b, image: busybox, root: true}' 'only one container in a cell may have root: true: \[a b\]'
bad long-id "kind: Cell
metadata: {name: $(printf 'c%.0s' {1..40})}
spec:
  realmId: default
  spaceId: default
  stackId: default
  containers:
  - {id: $(printf 'x%.0s' {1..30}), image: busybox}" 'longer than 76 characters'
bad bad-policy 'kind: Cell
metadata: {name: c}
spec:
  realmId: default
  spaceId: default
  stackId: default
  containers:
  - {id: a, image: busybox, restartPolicy: sometimes}' 'unknown restart policy "sometimes"'
bad one-bad-of-two 'kind: Realm
metadata: {name: fine}
---
kind: Realm
metadata: {name: "-bad"}' 'realm name "-bad" is invalid'
bad type 'kind: Cell
metadata: {name: c}
spec:
  realmId: default
  spaceId: default
  stackId: default
  autoDelete: maybe
  containers: [{id: a, image: busybox}]' 'spec.autoDelete: expected true or false'
bad alias-bomb 'kind: Realm
metadata:
  name: ok
  labels: &a {x: y}
spec: *a' 'spec.x: unknown field'
out=$("$KUKE" apply -f "$T_TMP/nope.yaml" 2>&1); rc=$?
t_eq apply-missing-file "1 Error: failed to open file \"$T_TMP/nope.yaml\": No such file or directory" "$rc $out"

# CLI errors
err1() { local name=$1 want=$2; shift 2; local out rc; out=$("$@" 2>&1 >/dev/null); rc=$?
  t_eq "err-$name" "1" "$rc"; t_match "err-$name-msg" "^Error: $want" "$out"; }
err1 get-kind 'unknown resource kind "pods"' "$KUKE" get pods
err1 output 'invalid output format: xml \(supported: yaml, json, table, wide, name\)' "$KUKE" get realms -o xml
err1 flag 'unknown flag: --bogus' "$KUKE" get realms --bogus
err1 command 'unknown command "frobnicate" for "kuke"' "$KUKE" frobnicate
err1 get-notfound 'cell "nope" not found in realm "default", space "default", stack "default"' "$KUKE" get cell nope
err1 get-container-cell 'cell name is required \(--cell\)' "$KUKE" get container x
err1 selector-and-name '--selector cannot be combined with a resource name' "$KUKE" get realm x -l a=b
err1 selector-bad 'invalid selector clause' "$KUKE" get realms -l '=x'
# An existing realm is no error: spec 4.3's "already existed" (issue 20.6).
out=$("$KUKE" create realm blue 2>&1); rc=$?
t_match create-exists "^0 Realm \"blue\" \(namespace \"blue.kukeon.io\"\).*metadata: already existed" "$rc $(printf '%s' "$out" | tr '\n' ' ')"
err1 create-noparent 'realm "nosuch" not found' "$KUKE" create space s --realm nosuch
err1 delete-children 'resource has child resources: realm "blue" has 1 space\(s\). Use --cascade to delete them or --force to skip validation' "$KUKE" delete realm blue
err1 delete-notfound 'realm "nosuch" not found' "$KUKE" delete realm nosuch
err1 ssh-host 'ssh to ssh://a@b failed: ' env -u KUKEON_RUN_PATH KUKEON_SSH_COMMAND='ssh -F /dev/null' "$KUKE" get realms --host ssh://a@b
err1 no-daemon 'cannot reach kukeond at unix:///nonexistent/k.sock: No such file or directory \(is kukeond running\?' env -u KUKEON_RUN_PATH "$KUKE" get realms --host unix:///nonexistent/k.sock
err1 bad-suffix 'namespace suffix ".x" is invalid' env KUKEON_NAMESPACE_SUFFIX=.x "$KUKE" get realms
err1 client-config '.*cc.yaml:2: spec.hots: unknown field' env KUKE_CONFIGURATION="$T_TMP/cc.yaml" sh -c "printf 'kind: ClientConfiguration\nspec: {hots: x}\n' > $T_TMP/cc.yaml; \"$KUKE\" get realms"
# A missing configuration file, named or not, means the defaults (issue
# 19.8); one that cannot be read is an error.
out=$("$KUKE" --configuration "$T_TMP/none.yaml" get realms 2>&1)
t_match missing-config-flag-defaults '^blue ' "$out"
out=$(KUKE_CONFIGURATION="$T_TMP/none.yaml" "$KUKE" get realms 2>&1)
t_match missing-config-env-defaults '^blue ' "$out"
mkdir -p "$T_TMP/ccdir"
err1 unreadable-config "read configuration $T_TMP/ccdir: not a regular file" "$KUKE" --configuration "$T_TMP/ccdir" get realms
# the ClientConfiguration's runPath is used but does not promote to in-process
printf 'kind: ClientConfiguration\nspec:\n  runPath: %s\n' "$RP" > "$T_TMP/cc2.yaml"
err1 config-runpath-no-promotion 'cannot reach kukeond' env -u KUKEON_RUN_PATH KUKE_CONFIGURATION="$T_TMP/cc2.yaml" "$KUKE" get realms --host unix:///nonexistent/k.sock
out=$(env -u KUKEON_RUN_PATH KUKE_CONFIGURATION="$T_TMP/cc2.yaml" "$KUKE" get realms --no-daemon)
t_match config-runpath-used '^blue ' "$out"
out=$(env -u KUKEON_RUN_PATH KUKEON_NO_DAEMON=true KUKE_CONFIGURATION="$T_TMP/cc2.yaml" "$KUKE" get realms)
t_match no-daemon-env '^blue ' "$out"

# The command tree: global flags and a command's own flags before or after
# the command (their values skipped), -o name, --no-headers, did-you-mean,
# exit 1 on every error, names checked where the argument can be named.
out=$("$KUKE" --run-path "$RP" get images); rc=$?
t_eq tree-global-before-kind-exit 0 "$rc"
t_ok tree-command-flag-before python3 -c 'import json,sys; d=json.load(sys.stdin); assert isinstance(d,list) and len(d)>=2' <<<"$("$KUKE" -o json get realms)"
out=$("$KUKE" get --log-level debug realms -o name --run-path "$RP")
t_match get-name-realm '^realm/blue$' "$out"
t_fail get-name-no-header grep -q NAME <<<"$out"
t_match get-name-cells '^cell/c1$' "$("$KUKE" get cells --realm blue -o name)"
out=$("$KUKE" get realms --no-headers)
t_match get-no-headers-row '^blue +Ready' "$out"
t_fail get-no-headers-header grep -qE '^(NAME|-+ )' <<<"$out"
t_fail get-no-headers-wide grep -q NAMESPACE <<<"$("$KUKE" get realms -o wide --no-headers)"
before=$(t_tree "$RP")
err1 image-typo 'unknown command "lst" for "kuke image" \(did you mean "list"\?\)' "$KUKE" image lst
err1 image-bare-global '"kuke image" needs a command: load, pull, list, delete, prune' "$KUKE" --run-path "$RP" image
err1 command-typo 'unknown command "gte" for "kuke" \(did you mean "get"\?\)' "$KUKE" gte realms
err1 flag-typo 'unknown flag: --selctor \(did you mean --selector\?\)' "$KUKE" get cells --selctor a=b
err1 delete-no-kind 'unknown resource kind "blue" for "kuke delete" \(a name follows its kind: "kuke delete <kind> blue"\); one of: realm, space, stack, cell$' "$KUKE" delete blue
err1 delete-kind-typo 'unknown resource kind "cel" for "kuke delete" \(did you mean "cell"\?\); one of: realm, space, stack, cell$' "$KUKE" delete cel c1 --realm blue --space sp1 --stack st1
err1 create-bad-name 'argument NAME: name is invalid: cell name "a_b" contains disallowed character' "$KUKE" create cell a_b --image busybox
err1 create-bad-scope 'flag --realm: realm name is invalid: "a_b"' "$KUKE" create space s --realm a_b
err1 arity 'unexpected argument "x" for "kuke init": it takes no arguments' "$KUKE" init x
t_eq tree-errors-change-nothing "$before" "$(t_tree "$RP")"
t_match version-flag "^kuke version [^ ]+$" "$("$KUKE" --version)"
t_match kukeond-version-flag "^kukeond version [^ ]+$" "$("$KUKEOND" --version)"
t_ok help-topic sh -c "\"$KUKE\" help image list | grep -q 'kuke image list \[REF\]'"

# delete
out=$("$KUKE" delete cell c1 --realm blue --space sp1 --stack st1)
t_eq delete-cell 'Deleted cell "c1" from stack "st1"' "$out"
t_fail cell-dir-gone test -e "$RP/blue/sp1/st1/c1"
out=$("$KUKE" delete realm blue --cascade)
t_match delete-cascade 'Deleted realm "blue"' "$out"
t_fail realm-dir-gone test -e "$RP/blue"
[ -n "$CGV2" ] && t_fail realm-cgroup-gone test -d "$CGV2$KUKEON_CGROUP_ROOT/blue"
out=$("$KUKE" delete -f "$ex/shop.yaml")
t_eq delete-file 'Cell "frontend": deleted
Cell "worker": deleted
Stack "web": deleted
Space "shop": deleted' "$out"
out=$("$KUKE" delete -f "$ex/shop.yaml")
t_match delete-file-again 'Space "shop": not found' "$out"

# root is required in-process
if id nobody >/dev/null 2>&1; then
  out=$(setpriv --reuid=65534 --regid=65534 --clear-groups env HOME=/nonexistent KUKEON_RUN_PATH="$RP" "$KUKE" get realms 2>&1); rc=$?
  t_eq nonroot-exit 1 "$rc"
  t_match nonroot-msg 'command must run as root' "$out"
fi

# argv[0] dispatch
out=$("$BUILD/kukeon" 2>&1); rc=$?
t_eq argv0-other-exit 1 "$rc"
t_match argv0-other 'unknown entry command: kukeon \(run as "kuke" or "kukeond"' "$out"
t_match argv0-debug-mode '^Client: ' "$(KUKEON_DEBUG_MODE=kuke "$BUILD/kukeon" version --no-daemon)"
t_match kukeond-help 'kukeond serve' "$("$KUKEOND" --help)"
t_ok help-get sh -c "\"$KUKE\" get --help | grep -q 'Global Flags'"

# make install: one inode, three names
make -s -C "$KUKEON_SRC" BUILD="$BUILD" install DESTDIR="$T_TMP/inst" PREFIX=/usr >/dev/null 2>&1
inodes=$(stat -c %i "$T_TMP/inst/usr/bin/kukeon" "$T_TMP/inst/usr/bin/kuke" "$T_TMP/inst/usr/bin/kukeond" 2>/dev/null | sort -u | wc -l)
t_eq install-one-inode 1 "$inodes"
t_eq install-links 3 "$(stat -c %h "$T_TMP/inst/usr/bin/kukeon" 2>/dev/null)"
