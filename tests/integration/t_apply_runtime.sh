#!/usr/bin/env bash
# kuke apply in-process, on real runc: the result list of -o json|yaml has
# spec §4.7's details (a changed field, then what apply did about it); the
# ServerConfiguration's defaultMemoryLimitBytes (KUKEOND_CONFIGURATION, and
# KUKEOND_DEFAULT_MEMORY_LIMIT_BYTES over it) reaches every container as
# it does through kukeond; an unchanged cell left Degraded by the death of
# its root (its other container still runs) is started again and `updated`
# (spec §10.2: unchanged spec, dead runtime).
. "$(dirname "$0")/lib.sh"
[ "$(id -u)" = 0 ] || { echo "skip - $T_NAME: needs root"; exit 0; }
t_require_runtime
t_require_cni
RP="$T_TMP/run"
export KUKEON_RUN_PATH="$RP" # in-process
k() { "$KUKE" "$@"; }
cat >"$T_TMP/kukeond.yaml" <<'EOF'
apiVersion: v1beta1
kind: ServerConfiguration
spec: {defaultMemoryLimitBytes: 41943040}
EOF
export KUKEOND_CONFIGURATION="$T_TMP/kukeond.yaml"

k init >/dev/null
t_load_busybox "$RP"; t_eq image-loaded 0 $?
pid_of() { # cell container
  k get cell "$1" -o json | python3 -c '
import json, sys
d = json.load(sys.stdin)
print([c.get("pid", 0) for c in d["status"].get("containers", []) if c["name"] == sys.argv[1]][0])' "$2"
}
mem_of() { # cell container: stored limit
  k get cell "$1" -o json | python3 -c '
import json, sys
d = json.load(sys.stdin)
print([c.get("resources", {}).get("memoryLimitBytes", 0) for c in d["spec"]["containers"] if c["id"] == sys.argv[1]][0])' "$2"
}
alive() { [ -n "$1" ] && [ "$1" != 0 ] && kill -0 "$1" 2>/dev/null; }

# ------------------------------------------- default memory, in-process
doc() { # labels side-args
  t_cell c "    - {id: side, image: docker.io/library/busybox, command: sleep, args: [\"$2\"]}"
  sed -i "s/metadata: {name: c}/metadata: {name: c, labels: {$1}}/" "$T_TMP/c.yaml"
}
doc "a: b" 3600
t_ok apply-new k apply -f "$T_TMP/c.yaml"
t_eq default-memory-stored 41943040 "$(mem_of c side)"
t_eq default-memory-enforced 41943040 "$(t_memcg "$(pid_of c side)")"
# The environment over the file, as for kukeond.
t_cell e "    - {id: main, image: docker.io/library/busybox, command: sleep, args: [\"3600\"]}"
t_ok env-apply env KUKEOND_DEFAULT_MEMORY_LIMIT_BYTES=24Mi "$KUKE" apply -f "$T_TMP/e.yaml"
t_eq env-memory-stored 25165824 "$(mem_of e main)"
out=$(KUKEOND_DEFAULT_MEMORY_LIMIT_BYTES=12abc "$KUKE" get cells 2>&1); rc=$?
t_match env-memory-bad '^1 Error: KUKEOND_DEFAULT_MEMORY_LIMIT_BYTES: invalid quantity "12abc"' "$rc $out"
t_eq env-memory-bad-exit 1 "$rc"

# ----------------------------------------------------------- details
doc "a: c" 3601
out=$(k apply -f "$T_TMP/c.yaml" -o json); rc=$?
t_eq details-exit 0 "$rc"
t_ok details-json python3 -c '
import json, sys
r = json.loads(sys.argv[1])["resources"][0]
assert r["action"] == "updated", r
assert r["details"] == {
    "metadata.labels": "updated in place",
    "spec.containers[side].args": "container \"side\" stopped, removed, recreated and started",
}, r["details"]
assert sorted(r["changes"]) == sorted(r["details"]), r' "$out"
doc "a: c" 3602
out=$(k apply -f "$T_TMP/c.yaml" -o yaml)
t_eq details-yaml 'resources:
- index: 0
  kind: Cell
  name: "c"
  action: updated
  changes:
  - "spec.containers[side].args"
  details:
    "spec.containers[side].args": "container \"side\" stopped, removed, recreated and started"' "$out"
out=$(k apply -f "$T_TMP/c.yaml" -o json)
t_ok details-unchanged-none python3 -c '
import json, sys
r = json.loads(sys.argv[1])["resources"][0]
assert r["action"] == "unchanged" and "details" not in r and "changes" not in r, r' "$out"

# ------------------------------------ Degraded: the root died, side runs
root=$(k get cell c -o json | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["spec"]["rootContainerId"])')
rpid=$(pid_of c "$root"); side=$(pid_of c side)
t_ok root-running alive "$rpid"
kill -9 "$rpid"
t_wait 10 sh -c "! kill -0 $rpid"
t_ok side-survives alive "$side"
t_eq degraded Degraded "$(t_state c)"
out=$(k apply -f "$T_TMP/c.yaml" -o json); rc=$?
t_eq degraded-apply-exit 0 "$rc"
t_ok degraded-updated python3 -c '
import json, sys
r = json.loads(sys.argv[1])["resources"][0]
assert r["action"] == "updated", r
assert r["details"] == {"status.state": "was Degraded, its runtime dead: cell started again"}, r' "$out"
t_eq degraded-ready Ready "$(t_state c)"
t_ok degraded-root-back alive "$(pid_of c "$root")"
t_ok degraded-side-back alive "$(pid_of c side)"
# A Degraded cell whose root runs is the restart policies' (here one owed
# after a long backoff): apply leaves it.
t_cell g "    - {id: side, image: docker.io/library/busybox, command: sleep, args: [\"3600\"], restartPolicy: always, restartBackoffSeconds: 3600}"
t_ok g-apply k apply -f "$T_TMP/g.yaml"
groot=$(k get cell g -o json | python3 -c 'import json,sys; print(json.load(sys.stdin)["spec"]["rootContainerId"])')
side=$(pid_of g side); rpid=$(pid_of g "$groot")
t_ok g-root-running alive "$rpid"
kill -9 "$side"
t_wait 10 sh -c "! kill -0 $side"
t_eq side-dead-degraded Degraded "$(t_state g)"
out=$(k apply -f "$T_TMP/g.yaml"); rc=$?
t_eq root-up-unchanged "0 Cell \"g\": unchanged" "$rc $out"
t_eq root-up-same-root "$rpid" "$(pid_of g "$groot")"

t_ok cleanup-c k delete cell c
t_ok cleanup-e k delete cell e
t_ok cleanup-g k delete cell g
