#!/usr/bin/env bash
# Issue #17's fixes below the CLI, driven through kuke (in-process, and
# through kukeond for the JSON list): `get -o yaml|json | apply -f -`
# re-applies a list and changes nothing; byte sizes as quantities (64Mi,
# 1G); config.json's reverse-domain annotations; `image load` of an
# archive named only by a tag; `attach` to a container that is not
# attachable.
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
t_require runc umoci python3
t_require_busybox
export KUKEON_RUN_PATH="$T_TMP/run"
RP="$KUKEON_RUN_PATH"
RUNC_ROOT="$T_TMP/runc/default.kukeon.io"
k() { "$KUKE" "$@"; }
json() { python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"; }

k init >/dev/null 2>&1
t_load_busybox "$RP" || { echo "not ok - $T_NAME/image: cannot load busybox"; exit 0; }
IMG=docker.io/library/busybox:latest

# --------------------------------------------- image load: a bare tag
# scripts/busybox-image names its image only "latest" (umoci's tag).
before=$(t_tree "$RP/images")
out=$(k image load -i "$T_TMP/busybox.tar" 2>&1); rc=$?
t_eq load-bare-tag-exit 1 "$rc"
t_eq load-bare-tag-says-so 'Error: load images: the archive names its image only by the tag "latest": give it a name with --name (for example --name example.com/app)' "$out"
t_eq load-bare-tag-unchanged "$before" "$(t_tree "$RP/images")"
t_fail load-bare-tag-no-guess sh -c "\"$KUKE\" image list | grep -q library/latest"
t_match load-bare-tag-named '^  - example.com/app:latest$' "$(k image load -i "$T_TMP/busybox.tar" --name example.com/app 2>&1)"
# A layout directory, and a docker-archive whose RepoTags is only a tag.
mkdir -p "$T_TMP/layout" && tar -C "$T_TMP/layout" -xf "$T_TMP/busybox.tar"
out=$(k image load -i "$T_TMP/layout" 2>&1); rc=$?
t_match load-bare-tag-layout '^1 Error: load .*only by the tag "latest": give it a name with --name' "$rc $out"
python3 - "$T_TMP/layout" "$T_TMP/docker.tar" <<'EOF'
import io, json, os, sys, tarfile
lay, out = sys.argv[1], sys.argv[2]
blob = lambda d: open(os.path.join(lay, "blobs", "sha256", d.split(":")[1]), "rb").read()
idx = json.load(open(os.path.join(lay, "index.json")))
man = json.loads(blob(idx["manifests"][0]["digest"]))
cfg = man["config"]["digest"].split(":")[1] + ".json"
layers = [l["digest"].split(":")[1] + "/layer.tar" for l in man["layers"]]
with tarfile.open(out, "w") as t:
    def add(name, data):
        ti = tarfile.TarInfo(name); ti.size = len(data); t.addfile(ti, io.BytesIO(data))
    add(cfg, blob(man["config"]["digest"]))
    for l, name in zip(man["layers"], layers):
        add(name, blob(l["digest"]))
    add("manifest.json", json.dumps([{"Config": cfg, "RepoTags": ["v2"], "Layers": layers}]).encode())
EOF
out=$(k image load -i "$T_TMP/docker.tar" 2>&1); rc=$?
t_match load-bare-repotag '^1 Error: .*only by the tag "v2": give it a name with --name' "$rc $out"
t_match load-bare-repotag-named '^  - example.com/app:v2$' "$(k image load -i "$T_TMP/docker.tar" --name example.com/app 2>&1)"

# ------------------------------------------------------ quantities
t_cell q1 "  - id: main
    image: $IMG
    command: /bin/sleep
    args: [\"600\"]
    resources: {memoryLimitBytes: 64Mi}
    tmpfs: [{path: /scratch, sizeBytes: 1Mi}]"
t_cell q2 "  - id: main
    image: $IMG
    command: /bin/sleep
    args: [\"600\"]
    resources: {memoryLimitBytes: \"1G\"}
    volumes: [{kind: tmpfs, target: /cache, sizeBytes: 0.5Ki}]"
out=$({ cat "$T_TMP/q1.yaml"; echo ---; cat "$T_TMP/q2.yaml"; } | k apply -f - 2>&1)
t_eq apply-quantities $'Cell "q1": created\nCell "q2": created' "$out"
y=$(k get cell q1 -o yaml)
t_match quantity-stored-as-bytes 'memoryLimitBytes: 67108864$' "$y"
t_match quantity-tmpfs-bytes 'sizeBytes: 1048576$' "$y"
t_eq quantity-decimal 1000000000 "$(k get cell q2 -o json | json 'd["spec"]["containers"][1]["resources"]["memoryLimitBytes"]')"
CFG="$T_TMP/bundles/default.kukeon.io/default_default_q1_main/config.json"
t_eq quantity-in-config-json 67108864 "$(json 'd["linux"]["resources"]["memory"]["limit"]' <"$CFG")"
t_match quantity-tmpfs-in-config-json 'size=1048576' "$(json '[m["options"] for m in d["mounts"] if m["destination"]=="/scratch"]' <"$CFG")"
t_match quantity-volume-in-config-json 'size=512' \
  "$(json '[m["options"] for m in d["mounts"] if m["destination"]=="/cache"]' <"$T_TMP/bundles/default.kukeon.io/default_default_q2_main/config.json")"
# Refused with the field and the line; nothing changes.
before=$(t_tree "$RP")
bad() { # name, resources line -> "rc output"
  t_cell "$1" "  - id: main
    image: $IMG
    resources: {memoryLimitBytes: $2}"
  out=$(k apply -f "$T_TMP/$1.yaml" 2>&1); echo "$? $out"
}
t_eq quantity-fraction "1 Error: $T_TMP/qa.yaml:11: spec.containers[0].resources.memoryLimitBytes: invalid quantity \"1.5\": not a whole number of bytes" "$(bad qa 1.5)"
t_match quantity-suffix '^1 Error: .*qb.yaml:11: spec.containers\[0\].resources.memoryLimitBytes: invalid quantity "64MB": unknown suffix' "$(bad qb 64MB)"
t_match quantity-negative '^1 Error: .*qc.yaml:11: .*invalid quantity "-1Mi": must not be negative' "$(bad qc -1Mi)"
t_match quantity-overflow '^1 Error: .*qd.yaml:11: .*invalid quantity "8Ei": more than 9223372036854775807 bytes' "$(bad qd 8Ei)"
t_eq quantity-refused-unchanged "$before" "$(t_tree "$RP")"
# The flag takes the same quantities: kuke run -m (docker's --memory).
out=$(k run --image "$IMG" --name qm -d -m 32Mi -- /bin/sleep 600 2>&1)
t_eq run-memory-flag 33554432 \
  "$(json 'd["linux"]["resources"]["memory"]["limit"]' <"$T_TMP/bundles/default.kukeon.io/default_default_qm_root/config.json")"
out=$(k run --image "$IMG" --name qn -m 1.5 -- true 2>&1); rc=$?
t_eq run-memory-flag-bad "1 Error: flag --memory: invalid quantity \"1.5\": not a whole number of bytes" "$rc $out"
k delete cell qm >/dev/null 2>&1
t_eq run-memory-flag-bad-unchanged "$before" "$(t_tree "$RP")"

# ----------------------------------------------------- annotations
want='{"io.kukeon.cell": "q1", "io.kukeon.container": "main", "io.kukeon.container-type": "container", "io.kukeon.realm": "default", "io.kukeon.space": "default", "io.kukeon.stack": "default"}'
t_eq annotations-config-json "$want" "$(json 'json.dumps(d["annotations"], sort_keys=True)' <"$CFG")"
t_eq annotations-runc-state "$want" \
  "$(runc --root "$RUNC_ROOT" state default_default_q1_main | json 'json.dumps(d["annotations"], sort_keys=True)')"
t_eq annotations-root-type root \
  "$(runc --root "$RUNC_ROOT" state default_default_q1_root | json 'd["annotations"]["io.kukeon.container-type"]')"

# ------------------------------------------- get | apply round trip
# What identifies a run: a restart would change the pids and start times.
runs() { k get cells -o json | json '" ".join("%s/%s:%s@%s" % (c["metadata"]["name"], s["name"], s.get("pid"), s.get("startTime")) for c in d for s in c["status"]["containers"])'; }
r0=$(runs)
t_match runs-running 'q1/main:[1-9][0-9]*@' "$r0"
spec0=$(k get cells -o json | json 'json.dumps([c["spec"] for c in d], sort_keys=True)')
k get cells -o yaml >"$T_TMP/cells.yaml"
t_match yaml-list-shape '^- apiVersion: v1beta1$' "$(head -1 "$T_TMP/cells.yaml")"
out=$(k apply -f - <"$T_TMP/cells.yaml" 2>&1); rc=$?
t_eq yaml-list-apply "0 "$'Cell "q1": unchanged\nCell "q2": unchanged' "$rc $out"
t_eq yaml-list-no-restart "$r0" "$(runs)"
out=$(k get cells -o yaml | k apply -f - 2>&1)
t_eq yaml-list-pipe $'Cell "q1": unchanged\nCell "q2": unchanged' "$out"
# Through kukeond: the daemon reads the list.
t_start_daemon "$RP"; t_eq daemon-start 0 $?
(unset KUKEON_RUN_PATH; k get cells -o json) >"$T_TMP/cells.json"
out=$(unset KUKEON_RUN_PATH; k apply -f - <"$T_TMP/cells.json" 2>&1); rc=$?
t_eq json-list-apply-daemon "0 "$'Cell "q1": unchanged\nCell "q2": unchanged' "$rc $out"
out=$(unset KUKEON_RUN_PATH; k get cells -o json | k apply -f - 2>&1)
t_eq json-list-pipe-daemon $'Cell "q1": unchanged\nCell "q2": unchanged' "$out"
kill "$DPID"; wait "$DPID" 2>/dev/null
t_eq json-list-no-restart "$r0" "$(runs)"
# Every kind, and a kubectl-style List.
for kind in realms spaces stacks containers; do
  out=$(k get $kind -o yaml | k apply -f - 2>&1); rc=$?
  t_eq "yaml-list-$kind" "0 0" "$rc $(grep -vc ': unchanged$' <<<"$out")"
done
python3 -c 'import json,sys; print(json.dumps({"apiVersion": "v1", "kind": "List", "items": json.load(sys.stdin)}))' \
  <"$T_TMP/cells.json" >"$T_TMP/list.json"
t_eq kind-list-apply $'Cell "q1": unchanged\nCell "q2": unchanged' "$(k apply -f "$T_TMP/list.json" 2>&1)"
t_eq round-trip-spec-unchanged "$spec0" "$(k get cells -o json | json 'json.dumps([c["spec"] for c in d], sort_keys=True)')"
t_eq round-trip-no-restart "$r0" "$(runs)"
# A changed item in a list is applied; a bad one rejects the whole list.
sed '0,/- "600"/s//- "601"/' "$T_TMP/cells.yaml" >"$T_TMP/changed.yaml"
out=$(k apply -f "$T_TMP/changed.yaml" 2>&1)
t_eq list-change-applied $'Cell "q1": updated\n  - spec.containers[main].args\nCell "q2": unchanged' "$out"
before=$(t_tree "$RP")
printf -- '- kind: Cell\n  metadata: {name: q3}\n  spec: {containers: [{id: a, image: %s}]}\n- kind: Cell\n  metadata: {name: q4, bogus: 1}\n' "$IMG" >"$T_TMP/badlist.yaml"
out=$(k apply -f "$T_TMP/badlist.yaml" 2>&1); rc=$?
t_eq list-bad-item "1 Error: $T_TMP/badlist.yaml:5: metadata.bogus: unknown field" "$rc $out"
printf -- '- - kind: Realm\n    metadata: {name: x}\n' >"$T_TMP/nested.yaml"
out=$(k apply -f "$T_TMP/nested.yaml" 2>&1); rc=$?
t_eq list-nested "1 Error: $T_TMP/nested.yaml:1: a list inside a list: list items must be documents" "$rc $out"
t_eq list-refused-unchanged "$before" "$(t_tree "$RP")"

# ------------------------------------------------------------ attach
out=$(timeout 10 "$KUKE" attach q2 </dev/null 2>&1); rc=$?
t_eq attach-not-attachable "1 Error: container \"main\" of cell \"q2\" is not attachable (attachable: false): follow its output with kuke log -f" "$rc $out"
out=$(timeout 10 "$KUKE" attach q2 --container root </dev/null 2>&1); rc=$?
t_match attach-not-attachable-root '^1 Error: container "root" of cell "q2" is not attachable' "$rc $out"
t_eq attach-refusal-no-restart "$(tr ' ' '\n' <<<"$r0" | grep '^q2/')" "$(runs | tr ' ' '\n' | grep '^q2/')"

# A list re-creates what is gone (its old status is not carried over) and
# leaves the rest alone.
t_match delete-q2 '^Deleted cell "q2"' "$(k delete cell q2 2>&1)"
r1=$(runs)
out=$(k apply -f "$T_TMP/changed.yaml" 2>&1)
t_eq list-recreates $'Cell "q1": unchanged\nCell "q2": created' "$out"
t_eq list-recreates-q1-untouched "$(tr ' ' '\n' <<<"$r1" | grep '^q1/')" "$(runs | tr ' ' '\n' | grep '^q1/')"
t_match list-recreated-runs 'q2/main:[1-9][0-9]*@' "$(runs)"
t_eq list-recreated-ready Ready "$(k get cell q2 -o json | json 'd["status"]["state"]')"
for c in q1 q2; do k delete cell $c >/dev/null 2>&1; done
