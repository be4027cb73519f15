#!/usr/bin/env bash
# kuke apply through kukeond, every row of the diff table (spec §10.2) on
# real runc: breaking changes refused with the spec's message and nothing
# changed; compatible ones applied in place (no process restarted); a
# changed non-root container (cell or Container document) is stopped,
# removed, recreated and started alone (its siblings and the root keep their
# pids); a breaking change of the root recreates the cell and says `root
# container recreated`; a root's env change is persisted and restarts
# nothing; the synthesized pause root is never a diff; an unchanged cell
# whose runtime was killed comes back and is `updated`; -o json|yaml give
# the result list; a cell's missing parents are created.  Defaults: a
# space's defaults.container (shallow) and kukeond's
# --default-memory-limit-bytes land in what is stored (`-o yaml`) and in
# the running process.
. "$(dirname "$0")/lib.sh"
[ "$(id -u)" = 0 ] || { echo "skip - $T_NAME: needs root"; exit 0; }
command -v runc >/dev/null || { echo "skip - $T_NAME: runc not installed"; exit 0; }
t_require_cni
RP="$T_TMP/run"
unset KUKEON_RUN_PATH
k() { "$KUKE" "$@"; }
kl() { KUKEON_RUN_PATH="$RP" "$KUKE" "$@"; }

kl init >/dev/null
t_load_busybox "$RP"; t_eq image-loaded 0 $?
# A limit that is not a byte size: one line, no daemon.
out=$("$KUKEOND" serve --socket "$T_TMP/bad.sock" --run-path "$RP" --default-memory-limit-bytes 12abc 2>&1); rc=$?
t_eq bad-default-memory "1 Error: --default-memory-limit-bytes: invalid quantity \"12abc\": unknown suffix (binary: Ki, Mi, Gi, Ti, Pi, Ei; decimal: k, M, G, T, P, E)" "$rc $out"
t_fail bad-default-memory-no-socket test -e "$T_TMP/bad.sock"
t_start_daemon "$RP" --reconcile-interval 0 --default-memory-limit-bytes 48Mi; t_eq daemon-start 0 $?

# "id=pid" of every container of cell $1 (default scope), sorted.
pids() {
  k get cell "$1" -o json | python3 -c '
import json, sys
d = json.load(sys.stdin)
print(" ".join(sorted("%s=%s" % (c["name"], c.get("pid", 0)) for c in d["status"].get("containers", []))))'
}
pid_of() { tr ' ' '\n' <<<"$(pids "$1")" | sed -n "s/^$2=//p"; }
alive() { [ -n "$1" ] && [ "$1" != 0 ] && kill -0 "$1" 2>/dev/null; }
# Apply $1 (a file), expecting exit $2; the output in $out.
apply() { out=$(k apply -f "$1" 2>&1); rc=$?; [ "$rc" = "$2" ]; }
# A running cell's processes are the ones before, and alive.
same_pids() { # name before
  local now; now=$(pids "$1")
  t_eq "$2" "$3" "$now"
  for p in $(tr ' ' '\n' <<<"$now" | sed 's/.*=//'); do alive "$p" || echo "not ok - $T_NAME/$2-alive ($p)"; done
}

# ------------------------------------------------------------- the cell
# A pause root (none named), two busybox containers.
cell_doc() { # labels app-env side-extra extra-containers
  cat >"$T_TMP/c.yaml" <<EOF
apiVersion: v1beta1
kind: Cell
metadata: {name: c, labels: {$1}}
spec:
  realmId: default
  spaceId: default
  stackId: default
  containers:
    - id: app
      image: docker.io/library/busybox
      command: sleep
      args: ["3600"]
      env: [$2]
    - id: side
      image: docker.io/library/busybox
      command: sleep
      args: ["3600"]
$3
$4
EOF
}
cell_doc "tier: a" "A=1" "" ""
apply "$T_TMP/c.yaml" 0; t_eq cell-created "0 Cell \"c\": created" "$rc $out"
P0=$(pids c)
t_match cell-running '^app=[1-9][0-9]* root=[1-9][0-9]* side=[1-9][0-9]*$' "$P0"
apply "$T_TMP/c.yaml" 0; t_eq cell-unchanged "0 Cell \"c\": unchanged" "$rc $out"
same_pids c pause-root-not-a-diff "$P0"

# Cell labels: compatible, nothing restarts.
cell_doc "tier: b" "A=1" "" ""
apply "$T_TMP/c.yaml" 0; t_eq cell-labels "0 Cell \"c\": updated
  - metadata.labels" "$rc $out"
same_pids c cell-labels-in-place "$P0"

# A non-root container changed: it alone is recreated.
cell_doc "tier: b" "A=2" "" ""
apply "$T_TMP/c.yaml" 0; t_eq ctr-changed "0 Cell \"c\": updated
  - spec.containers[app].env" "$rc $out"
P1=$(pids c)
t_eq ctr-changed-root-kept "$(pid_of c root)" "$(sed -n 's/.*root=\([0-9]*\).*/\1/p' <<<"$P0")"
t_eq ctr-changed-side-kept "$(pid_of c side)" "$(sed -n 's/.*side=\([0-9]*\).*/\1/p' <<<"$P0")"
old_app=$(sed -n 's/^app=\([0-9]*\).*/\1/p' <<<"$P0")
t_fail ctr-changed-old-gone alive "$old_app"
new_app=$(pid_of c app)
t_ok ctr-changed-new-runs alive "$new_app"
t_match ctr-changed-new-env 'A=2' "$(tr '\0' '\n' </proc/"$new_app"/environ 2>/dev/null)"

# A non-root container added, then removed: the others keep running.
cell_doc "tier: b" "A=2" "" "    - {id: extra, image: docker.io/library/busybox, command: sleep, args: [\"3600\"]}"
apply "$T_TMP/c.yaml" 0; t_eq ctr-added "0 Cell \"c\": updated" "$rc $(head -1 <<<"$out")"
P2=$(pids c)
t_eq ctr-added-others-kept "$P1" "$(sed 's/ extra=[0-9]*//' <<<"$P2")"
extra=$(pid_of c extra)
t_ok ctr-added-runs alive "$extra"
cell_doc "tier: b" "A=2" "" ""
apply "$T_TMP/c.yaml" 0; t_eq ctr-removed "0 Cell \"c\": updated" "$rc $(head -1 <<<"$out")"
same_pids c ctr-removed-others-kept "$P1"
t_fail ctr-removed-gone alive "$extra"

# Breaking: a non-root container's host namespaces, nestedCgroupRuntime.
before=$(t_tree "$RP/default/default/default/c")
cell_doc "tier: b" "A=2" "      hostPID: true" ""
apply "$T_TMP/c.yaml" 1
t_eq breaking-hostpid "1 Cell \"c\": failed
  Error: cell \"c\" has breaking changes: [spec.containers[side].hostPID]. Delete the cell and recreate it with the new spec" "$rc $out"
cell_doc "tier: b" "A=2" "      hostNetwork: true" ""
apply "$T_TMP/c.yaml" 1; t_match breaking-hostnetwork 'breaking changes: \[spec.containers\[side\].hostNetwork\]' "$out"
cell_doc "tier: b" "A=2" "      hostCgroup: true" ""
apply "$T_TMP/c.yaml" 1; t_match breaking-hostcgroup 'breaking changes: \[spec.containers\[side\].hostCgroup\]' "$out"
cell_doc "tier: b" "A=2" "" ""
printf '  nestedCgroupRuntime: true\n' >>"$T_TMP/c.yaml"
apply "$T_TMP/c.yaml" 1; t_match breaking-nested 'breaking changes: \[spec.nestedCgroupRuntime\]' "$out"
t_eq breaking-nothing-written "$before" "$(t_tree "$RP/default/default/default/c")"
same_pids c breaking-nothing-restarted "$P1"

# A Container document: that container alone is recreated.
cat >"$T_TMP/ctr.yaml" <<'EOF'
apiVersion: v1beta1
kind: Container
metadata: {name: side}
spec:
  id: side
  realmId: default
  spaceId: default
  stackId: default
  cellId: c
  image: docker.io/library/busybox
  command: sleep
  args: ["3600"]
  env: [B=7]
EOF
apply "$T_TMP/ctr.yaml" 0; t_eq container-doc "0 Container \"side\": updated
  - spec.env" "$rc $out"
t_eq container-doc-app-kept "$(pid_of c app)" "$new_app"
side=$(pid_of c side)
t_ok container-doc-side-runs alive "$side"
t_match container-doc-side-env 'B=7' "$(tr '\0' '\n' </proc/"$side"/environ 2>/dev/null)"
apply "$T_TMP/ctr.yaml" 0; t_eq container-doc-unchanged "0 Container \"side\": unchanged" "$rc $out"

# Unchanged spec, runtime killed: apply brings it back, `updated`.
k kill cell c >/dev/null
t_fail killed-down alive "$new_app"
apply "$T_TMP/ctr.yaml" 0
cell_doc "tier: b" "A=2" "      env: [B=7]" ""
apply "$T_TMP/c.yaml" 0; t_eq killed-restarted "0 Cell \"c\": updated" "$rc $out"
t_match killed-running '^app=[1-9][0-9]* root=[1-9][0-9]* side=[1-9][0-9]*$' "$(pids c)"
t_ok killed-app-alive alive "$(pid_of c app)"

# Every process of the cell SIGKILLed behind kukeon's back (no reconcile
# pass runs here): the same apply sees it dead and brings it back.
for id in $(runc --root "$T_TMP/runc/default.kukeon.io" list -q | grep '^default_default_c_'); do
  runc --root "$T_TMP/runc/default.kukeon.io" kill "$id" KILL
done
for _ in $(seq 50); do alive "$(pid_of c root)" || break; sleep 0.1; done
t_fail runc-killed-down alive "$(pid_of c root)"
apply "$T_TMP/c.yaml" 0; t_eq runc-killed-restarted "0 Cell \"c\": updated" "$rc $out"
t_match runc-killed-running '^app=[1-9][0-9]* root=[1-9][0-9]* side=[1-9][0-9]*$' "$(pids c)"
t_ok runc-killed-app-alive alive "$(pid_of c app)"

# ------------------------------------------------------ a root of its own
root_doc() { # root args, root env
  cat >"$T_TMP/r.yaml" <<EOF
apiVersion: v1beta1
kind: Cell
metadata: {name: r}
spec:
  realmId: default
  spaceId: default
  stackId: default
  rootContainerId: main
  containers:
    - {id: main, root: true, image: docker.io/library/busybox, command: sleep, args: ["$1"], env: [$2]}
    - {id: helper, image: docker.io/library/busybox, command: sleep, args: ["3600"]}
EOF
}
root_doc 3600 "X=1"
apply "$T_TMP/r.yaml" 0; t_eq root-created "0 Cell \"r\": created" "$rc $out"
R0=$(pids r)
# env of the root: persisted, in effect at the next start; nothing restarts.
root_doc 3600 "X=2"
apply "$T_TMP/r.yaml" 0; t_eq root-env "0 Cell \"r\": updated
  - spec.containers[main].env" "$rc $out"
same_pids r root-env-in-place "$R0"
t_match root-env-stored 'X=2' "$(k get cell r -o yaml)"
# args of the root: the cell is recreated.
root_doc 3601 "X=2"
apply "$T_TMP/r.yaml" 0; t_eq root-recreated "0 Cell \"r\": updated
  - spec.containers[main].args
  - root container recreated" "$rc $out"
R1=$(pids r)
t_match root-recreated-runs '^helper=[1-9][0-9]* main=[1-9][0-9]*$' "$R1"
for p in $(tr ' ' '\n' <<<"$R0" | sed 's/.*=//'); do
  alive "$p" && echo "not ok - $T_NAME/root-recreated-old-gone ($p)"
done
t_match root-recreated-env 'X=2' "$(tr '\0' '\n' </proc/"$(pid_of r main)"/environ 2>/dev/null)"
# A change that cannot start: the cell is left Failed and apply says so.
sed 's|{id: helper, image: docker.io/library/busybox, command: sleep|{id: helper, image: docker.io/library/busybox, command: /nope|' \
  "$T_TMP/r.yaml" >"$T_TMP/r-bad.yaml"
apply "$T_TMP/r-bad.yaml" 1
t_match start-fails-said 'Error: cell reconciled to Failed state: cell "r": .* — inspect with `kuke get cell r -o yaml` and `kuke log`$' "$out"
t_match start-fails-failed '^r +default +default +default +Failed ' "$(k get cell r)"
apply "$T_TMP/r.yaml" 0; t_eq start-fails-fixed "0 Cell \"r\": updated" "$rc $(head -1 <<<"$out")"
t_match start-fails-fixed-runs '^helper=[1-9][0-9]* main=[1-9][0-9]*$' "$(pids r)"
t_ok start-fails-fixed-alive alive "$(pid_of r helper)"

# -------------------------------------------------- realm, space, stack
cat >"$T_TMP/tree.yaml" <<'EOF'
apiVersion: v1beta1
kind: Realm
metadata: {name: blue, labels: {a: "1"}}
spec: {namespace: blue.kukeon.io}
---
apiVersion: v1beta1
kind: Space
metadata: {name: s, labels: {a: "1"}}
spec: {realmId: blue}
---
apiVersion: v1beta1
kind: Stack
metadata: {name: t, labels: {a: "1"}}
spec: {realmId: blue, spaceId: s}
EOF
apply "$T_TMP/tree.yaml" 0; t_eq tree-created "0 Realm \"blue\": created
Space \"s\": created
Stack \"t\": created" "$rc $out"
sed -i 's/a: "1"/a: "2"/' "$T_TMP/tree.yaml"
apply "$T_TMP/tree.yaml" 0; t_eq tree-labels "0 Realm \"blue\": updated
  - metadata.labels
Space \"s\": updated
  - metadata.labels
Stack \"t\": updated
  - metadata.labels" "$rc $out"
cat >"$T_TMP/realm2.yaml" <<'EOF'
apiVersion: v1beta1
kind: Realm
metadata: {name: blue, labels: {a: "2"}}
spec:
  namespace: blue.kukeon.io
  registryCredentials: [{username: u, password: p, serverAddress: registry.example}]
EOF
apply "$T_TMP/realm2.yaml" 0; t_eq realm-regcred "0 Realm \"blue\": updated
  - spec.registryCredentials" "$rc $out"
sed -i 's/namespace: blue.kukeon.io/namespace: other.example/' "$T_TMP/realm2.yaml"
before=$(t_tree "$RP/blue")
apply "$T_TMP/realm2.yaml" 1; t_eq realm-namespace "1 Realm \"blue\": failed
  Error: realm \"blue\" has breaking changes: [spec.namespace]. Delete the realm and recreate it with the new spec" "$rc $out"
t_eq realm-namespace-nothing-written "$before" "$(t_tree "$RP/blue")"
cat >"$T_TMP/space2.yaml" <<'EOF'
apiVersion: v1beta1
kind: Space
metadata: {name: s, labels: {a: "2"}}
spec:
  realmId: blue
  network:
    egress:
      default: deny
      allow: [{cidr: 192.0.2.0/24, ports: [443]}]
  defaults:
    container:
      user: "1234"
      readOnlyRootFilesystem: true
      resources: {pidsLimit: 77}
EOF
apply "$T_TMP/space2.yaml" 0; t_eq space-egress-defaults "0 Space \"s\": updated
  - spec.network.egress.default
  - spec.network.egress.allow
  - spec.defaults.container.user
  - spec.defaults.container.readOnlyRootFilesystem
  - spec.defaults.container.resources.pidsLimit" "$rc $out"
t_match space-egress-shown '^s +blue +.*deny' "$(k get space s --realm blue -o wide)"
sed -i "s|  realmId: blue|  realmId: blue\n  cniConfigPath: $T_TMP/elsewhere.conflist|" "$T_TMP/space2.yaml"
apply "$T_TMP/space2.yaml" 1; t_match space-cni-breaking 'space "s" has breaking changes: \[spec.cniConfigPath\]. Delete the space and recreate it with the new spec' "$out"

# -------------------------------------------------------------- defaults
# Cells of space s inherit its defaults.container (shallow: a field the
# container sets is its own) and kukeond's default memory limit.
cat >"$T_TMP/d.yaml" <<'EOF'
apiVersion: v1beta1
kind: Cell
metadata: {name: d}
spec:
  realmId: blue
  spaceId: s
  stackId: t
  containers:
    - {id: plain, image: docker.io/library/busybox, command: sleep, args: ["3600"]}
    - id: own
      image: docker.io/library/busybox
      command: sleep
      args: ["3600"]
      user: "4321"
      resources: {memoryLimitBytes: 33554432}
EOF
t_load_busybox "$RP" blue
apply "$T_TMP/d.yaml" 0; t_eq defaults-created "0 Cell \"d\": created" "$rc $out"
json=$(k get cell d --realm blue --space s --stack t -o json)
eff() { python3 -c '
import json, sys
d = json.loads(sys.argv[1]); c = {x["id"]: x for x in d["spec"]["containers"]}[sys.argv[2]]
r = c.get("resources", {})
print(c.get("user", ""), c.get("readOnlyRootFilesystem", False), r.get("memoryLimitBytes", 0), r.get("pidsLimit", 0))' "$json" "$1"; }
t_eq defaults-plain "1234 True 50331648 77" "$(eff plain)"
t_eq defaults-own "4321 True 33554432 0" "$(eff own)"
t_eq defaults-pause-root " False 50331648 0" "$(eff root)"
t_match defaults-yaml 'user: "?1234"?' "$(k get cell d --realm blue --space s --stack t -o yaml)"
dpid() { k get cell d --realm blue --space s --stack t -o json | python3 -c '
import json, sys
print({c["name"]: c.get("pid", 0) for c in json.load(sys.stdin)["status"]["containers"]}[sys.argv[1]])' "$1"; }
plain=$(dpid plain); own=$(dpid own)
t_match defaults-plain-uid '^Uid:\s+1234\s' "$(cat /proc/"$plain"/status 2>/dev/null)"
t_match defaults-own-uid '^Uid:\s+4321\s' "$(cat /proc/"$own"/status 2>/dev/null)"
t_ok defaults-plain-readonly sh -c "! nsenter -t $plain -m touch /x 2>/dev/null"
t_eq defaults-plain-memory 50331648 "$(t_memcg "$plain")"
t_eq defaults-own-memory 33554432 "$(t_memcg "$own")"
apply "$T_TMP/d.yaml" 0; t_eq defaults-reapply-unchanged "0 Cell \"d\": unchanged" "$rc $out"
# kuke create cell (and so kuke run) gets them too.
t_ok defaults-create k create cell m --realm blue --space s --stack t --image docker.io/library/busybox
json=$(k get cell m --realm blue --space s --stack t -o json)
t_eq defaults-create-main "1234 True 50331648 77" "$(eff main)"

# ------------------------------------------------ -o json|yaml, parents
cat >"$T_TMP/p.yaml" <<'EOF'
apiVersion: v1beta1
kind: Cell
metadata: {name: lone}
spec:
  realmId: green
  spaceId: gs
  stackId: gt
  containers: [{id: a, image: docker.io/library/busybox, command: sleep, args: ["3600"]}]
---
apiVersion: v1beta1
kind: Realm
metadata: {name: blue}
spec: {namespace: changed.example}
EOF
t_load_busybox "$RP" green 2>/dev/null || true
out=$(k apply -f "$T_TMP/p.yaml" -o json); rc=$?
t_eq json-exit 1 "$rc"
t_ok json-list python3 -c '
import json, sys
r = json.loads(sys.argv[1])["resources"]
assert [(x["index"], x["kind"], x["name"], x["action"]) for x in r] == [(1, "Realm", "blue", "failed"), (0, "Cell", "lone", "created")], r
assert "breaking changes" in r[0]["error"] and "error" not in r[1], r' "$out"
t_ok parents-created test -f "$RP/green/gs/gt/stack.yaml"
t_ok parents-cell-runs alive "$(k get cell lone --realm green --space gs --stack gt -o json | python3 -c 'import json,sys; print(json.load(sys.stdin)["status"]["containers"][0].get("pid", 0))')"
out=$(k apply -f "$T_TMP/c.yaml" -o yaml); rc=$?
t_eq yaml-list "0 resources:
- index: 0
  kind: Cell
  name: \"c\"
  action: unchanged" "$rc $out"

t_ok cleanup-c k delete cell c
t_ok cleanup-r k delete cell r
t_ok cleanup-d k delete cell d --realm blue --space s --stack t
t_ok cleanup-m k delete cell m --realm blue --space s --stack t
t_ok cleanup-lone k delete cell lone --realm green --space gs --stack gt
kill "$DPID" 2>/dev/null; wait "$DPID" 2>/dev/null
