#!/usr/bin/env bash
# Issue #21.4: `kuke export cell|stack` writes Kubernetes YAML and `kuke
# apply -f` takes it back.  The demo stack (examples/shop.yaml) is exported;
# the YAML passes a Kubernetes schema validator (kubernetes-models' JSON
# schemas, offline); `podman kube play` of it runs the same workloads; the
# export applied again changes nothing, and applied after the cells are
# deleted makes the same cells; a Pod and a Deployment written for
# Kubernetes become cells that run; what kukeon cannot honour is refused
# and changes nothing.
# podman runs with its own storage, run and temp roots under the test's
# temp dir, in the test's network namespace, with --network none, and its
# pods are removed at the end.  Its pod sandbox is kukepause (podman would
# build one from catatonit, which Debian does not install with it).
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
t_require runc umoci python3
t_require_busybox
t_require_cni
export KUKEON_RUN_PATH="$T_TMP/run"
RP="$KUKEON_RUN_PATH"
k() { "$KUKE" "$@"; }
# Waits (10 s at most) until `kuke get cell $1 $2...` says Ready.
wait_ready() {
  local name=$1 i; shift
  for i in $(seq 50); do
    k get cell "$name" "$@" 2>/dev/null | grep -q ' Ready ' && return 0
    sleep 0.2
  done
  k get cell "$name" "$@"
  return 1
}
# Waits until the log of cell $1 container $2 (more flags after) has /$3/.
wait_log() {
  local cell=$1 ctr=$2 re=$3 i; shift 3
  for i in $(seq 50); do
    k log "$cell" --container "$ctr" "$@" 2>/dev/null | grep -Eq -- "$re" && return 0
    sleep 0.2
  done
  k log "$cell" --container "$ctr" "$@"
  return 1
}
# The spec and metadata of the shop's cells, status left out.
cell_specs() {
  k get cells --space shop -o json | python3 -c '
import json, sys
for d in json.load(sys.stdin):
    d.pop("status", None)
    print(json.dumps(d, sort_keys=True))'
}

k init >/dev/null 2>&1
t_load_busybox "$RP" || { echo "not ok - $T_NAME/image: cannot load busybox"; exit 0; }
k apply -f "$KUKEON_SRC/examples/shop.yaml" >/dev/null 2>&1
t_ok demo-frontend-ready wait_ready frontend --space shop --stack web
t_ok demo-worker-ready wait_ready worker --space shop --stack web

# ------------------------------------------------------------- export
k export stack web --space shop >"$T_TMP/shop.kube.yaml" 2>"$T_TMP/export.err"
t_eq export-exit 0 "$?"
Y=$(cat "$T_TMP/shop.kube.yaml")
t_eq export-pod-per-cell 2 "$(grep -c '^kind: Pod$' <<<"$Y")"
t_match export-placement '"kukeon.io/space": "shop"' "$Y"
t_match export-restart 'restartPolicy: OnFailure' "$Y"
t_match export-memory 'memory: "67108864"' "$Y"
t_match export-named-in-comment '^#   container job: restartMaxRetries: 3 \(annotation kukeon.io/job.restartMaxRetries\)$' "$Y"
t_match export-pids-in-comment '^#   container web: resources.pidsLimit: 64' "$Y"
t_eq export-cell-same-pod "$(k export cell worker --space shop --stack web)" \
  "$(awk '/^# kukeon cell default\/shop\/web\/worker$/{p=1; print "---"} p' "$T_TMP/shop.kube.yaml")"
out=$(k export stack nope 2>&1); rc=$?
t_eq export-unknown-stack "1 Error: stack \"nope\" not found in realm \"default\", space \"default\"" "$rc $out"
out=$(k export cell nope --space shop --stack web 2>&1); rc=$?
t_eq export-unknown-cell "1 Error: cell \"nope\" not found in realm \"default\", space \"shop\", stack \"web\"" "$rc $out"
t_fail export-needs-name k export cell
t_fail export-bad-name k export cell 'a_b'

# ------------------------------------------------- schema validation
# kubernetes-models carries the JSON schemas of Kubernetes' OpenAPI and
# validates with ajv: nothing is fetched at validation time.
# scripts/install-deps installs it (npm) into KUKEON_KUBE_SCHEMA_DIR; the
# test runs in a network namespace of its own and fetches nothing.
SCHEMA_DIR=${KUKEON_KUBE_SCHEMA_DIR:-/usr/local/lib/kukeon-tests/kube-schema}
VALIDATE=
if command -v node >/dev/null && [ -d "$SCHEMA_DIR/node_modules/kubernetes-models" ]; then
  cat >"$T_TMP/kk-validate.mjs" <<'EOF'
// Validates every document of a YAML stream against Kubernetes' schemas
// (ajv, kubernetes-models), and strictly, as kubectl's field validation
// does: a field the API's types do not declare (read from the models'
// type declarations) is an error too.
import fs from "node:fs";
import path from "node:path";
const M = process.env.KK_SCHEMA_MODULES;
const { default: yaml } = await import(path.join(M, "js-yaml/dist/js-yaml.mjs"));
const { Pod } = await import(path.join(M, "kubernetes-models/v1/Pod.js"));
const { Deployment } = await import(path.join(M, "kubernetes-models/apps/v1/Deployment.js"));
const kinds = {
  Pod: [Pod, "kubernetes-models/v1/Pod.d.ts"],
  Deployment: [Deployment, "kubernetes-models/apps/v1/Deployment.d.ts"],
};
const types = new Map();
// The fields of the interface a .d.ts declares (null: not an object type).
function typeOf(file) {
  if (types.has(file)) return types.get(file);
  const src = fs.readFileSync(file, "utf8").replace(/\/\*\*[\s\S]*?\*\//g, "");
  const imports = {};
  for (const m of src.matchAll(/import \{ (\w+) \} from "([^"]+)";/g)) imports[m[1]] = m[2];
  const body = src.match(/export interface I\w+(?: extends [\w, ]+)? \{([\s\S]*?)\n\}/);
  let fields = null;
  if (body) {
    fields = {};
    const lines = body[1].split("\n");
    for (let i = 0; i < lines.length; i++) {
      const m = lines[i].match(/^\s*"([^"]+)"\??: (.*?);?$/);
      if (!m) continue;
      if (m[2] === "{") while (!/^\s*\};$/.test(lines[i])) i++; // a map: any keys
      fields[m[1]] = m[2] === "{" ? "map" : m[2];
    }
  }
  const t = { fields, imports, dir: path.dirname(file) };
  types.set(file, t);
  return t;
}
function strict(v, file, at, errs) {
  const t = typeOf(file);
  if (!t.fields || v === null || typeof v !== "object" || Array.isArray(v)) return;
  for (const [k, x] of Object.entries(v)) {
    const type = t.fields[k];
    if (type === undefined) { errs.push(at + "." + k + ": unknown field"); continue; }
    const arr = type.match(/^Array<(\w+)>$/);
    const from = t.imports[arr ? arr[1] : type];
    if (!from) continue;
    const sub = from.startsWith(".") ? path.join(t.dir, from.replace(/\.js$/, ".d.ts")) : path.join(M, from + ".d.ts");
    if (arr) (x || []).forEach((item, i) => strict(item, sub, at + "." + k + "[" + i + "]", errs));
    else strict(x, sub, at + "." + k, errs);
  }
}
let bad = 0, n = 0;
for (const doc of yaml.loadAll(fs.readFileSync(process.argv[2], "utf8"))) {
  if (doc == null) continue;
  n++;
  const [Model, dts] = kinds[doc.kind] || [];
  const errs = [];
  if (!Model) errs.push("kind " + doc.kind + ": not checked here");
  else {
    try { new Model(doc).validate(); } catch (e) { errs.push(e.message); }
    strict(doc, path.join(M, dts), doc.kind, errs);
  }
  if (errs.length) { bad++; console.log(doc.metadata?.name + ": " + errs.join("; ")); }
}
console.log(n + " documents, " + bad + " invalid");
process.exit(bad || n === 0 ? 1 : 0);
EOF
  validate() { KK_SCHEMA_MODULES="$SCHEMA_DIR/node_modules" node "$T_TMP/kk-validate.mjs" "$1"; }
  t_ok schema-export-valid validate "$T_TMP/shop.kube.yaml"
  # The validator is a real one: a wrong type fails it.
  sed 's/memory: "67108864"/memory: [1]/' "$T_TMP/shop.kube.yaml" >"$T_TMP/broken.yaml"
  t_fail schema-catches-wrong-type validate "$T_TMP/broken.yaml"
  sed 's/^    imagePullPolicy: IfNotPresent$/&\n    imagePullPolicyy: Always/' "$T_TMP/shop.kube.yaml" >"$T_TMP/unknown.yaml"
  t_fail schema-catches-unknown-field validate "$T_TMP/unknown.yaml"
  VALIDATE=validate
else
  echo "skip - $T_NAME/schema: node or $SCHEMA_DIR/node_modules/kubernetes-models missing (scripts/install-deps)"
fi

# ------------------------------------------- every mapped field
# A cell using every field the export maps or annotates: valid, and back
# unchanged.
mkdir -p "$T_TMP/data"
t_cell full "    - id: main
      image: docker.io/library/busybox:latest
      command: /bin/sleep
      args: [\"3600\"]
      workingDir: /tmp
      env: [\"A=1\"]
      ports: [\"127.0.0.1:18080:80\", \"18081:81/udp\"]
      volumes:
        - {source: $T_TMP/data, target: /data, readOnly: true}
        - {kind: tmpfs, target: /scratch, sizeBytes: 1048576}
      tmpfs: [{path: /run/x, sizeBytes: 65536}]
      user: \"1000:1000\"
      readOnlyRootFilesystem: true
      capabilities: {drop: [ALL], add: [CAP_NET_BIND_SERVICE]}
      securityOpts: [\"seccomp=unconfined\"]
      resources: {memoryLimitBytes: 33554432, cpuShares: 512, pidsLimit: 32}
      restartPolicy: on-failure
      restartMaxRetries: 2"
k apply -f "$T_TMP/full.yaml" >/dev/null 2>&1
k export cell full >"$T_TMP/full.kube.yaml" 2>&1
[ -z "$VALIDATE" ] || t_ok schema-every-field-valid validate "$T_TMP/full.kube.yaml"
t_eq roundtrip-every-field-unchanged 'Cell "full": unchanged' "$(k apply -f "$T_TMP/full.kube.yaml" 2>&1)"
k delete cell full >/dev/null 2>&1

# --------------------------------------------------------- round trip
t_eq roundtrip-apply-unchanged $'Cell "frontend": unchanged\nCell "worker": unchanged' \
  "$(k apply -f "$T_TMP/shop.kube.yaml" 2>&1)"
before=$(cell_specs)
k delete cell frontend --space shop --stack web >/dev/null 2>&1
k delete cell worker --space shop --stack web >/dev/null 2>&1
t_eq roundtrip-apply-created $'Cell "frontend": created\nCell "worker": created' \
  "$(k apply -f "$T_TMP/shop.kube.yaml" 2>&1)"
t_eq roundtrip-same-cells "$before" "$(cell_specs)"
t_eq roundtrip-same-export "$Y" "$(k export stack web --space shop)"
t_ok roundtrip-runs wait_log worker job '^working$' --space shop --stack web

# ------------------------------------------------- Kubernetes -> cell
cat >"$T_TMP/pod.yaml" <<'EOF'
apiVersion: v1
kind: Pod
metadata:
  name: kpod
  namespace: default
  labels: {run: kpod}
spec:
  dnsPolicy: ClusterFirst
  restartPolicy: Always
  containers:
  - name: main
    image: docker.io/library/busybox:latest
    imagePullPolicy: IfNotPresent
    command: ["/bin/sh", "-c"]
    args: ["echo imported $GREETING; exec sleep 3600"]
    env: [{name: GREETING, value: hello}]
    resources: {limits: {memory: 32Mi}}
    terminationMessagePath: /dev/termination-log
EOF
[ -z "$VALIDATE" ] || t_ok schema-pod-input-valid validate "$T_TMP/pod.yaml"
t_eq import-pod-created 'Cell "kpod": created' "$(k apply -f "$T_TMP/pod.yaml" 2>&1)"
t_ok import-pod-ready wait_ready kpod
t_ok import-pod-runs wait_log kpod main '^imported hello$'
t_eq import-pod-memory '33554432' "$(k get container main --cell kpod -o json | python3 -c 'import json,sys; print(json.load(sys.stdin)["spec"]["resources"]["memoryLimitBytes"])')"
cat >"$T_TMP/deploy.yaml" <<'EOF'
apiVersion: apps/v1
kind: Deployment
metadata: {name: kdep}
spec:
  replicas: 1
  selector: {matchLabels: {app: kdep}}
  template:
    metadata: {labels: {app: kdep}}
    spec:
      containers:
      - name: app
        image: docker.io/library/busybox:latest
        command: [/bin/sh, -c, "echo deployed; exec sleep 3600"]
EOF
[ -z "$VALIDATE" ] || t_ok schema-deployment-input-valid validate "$T_TMP/deploy.yaml"
t_eq import-deployment-created 'Cell "kdep": created' "$(k apply -f "$T_TMP/deploy.yaml" 2>&1)"
t_ok import-deployment-runs wait_log kdep app '^deployed$'
before=$(t_tree "$RP")
sed 's/replicas: 1/replicas: 3/' "$T_TMP/deploy.yaml" >"$T_TMP/deploy3.yaml"
out=$(k apply -f "$T_TMP/deploy3.yaml" 2>&1); rc=$?
t_eq import-replicas-refused "1 Error: $T_TMP/deploy3.yaml:5: spec.replicas: 3 replicas: a Deployment becomes one cell (replicas 1)" "$rc $out"
sed 's/^    terminationMessagePath.*/    livenessProbe: {exec: {command: [true]}}/' "$T_TMP/pod.yaml" >"$T_TMP/probe.yaml"
out=$(k apply -f "$T_TMP/probe.yaml" 2>&1); rc=$?
t_eq import-unsupported-refused "1 Error: $T_TMP/probe.yaml:18: spec.containers[0]: livenessProbe: not supported by kukeon (a cell has no equivalent)" "$rc $out"
t_eq import-refused-changes-nothing "$before" "$(t_tree "$RP")"

# ------------------------------------------------- through kukeond
# The daemon parses what apply sends and lists what export reads: the same
# as in-process.
kd() { env -u KUKEON_RUN_PATH "$KUKE" "$@"; }
if t_start_daemon "$RP"; then
  t_eq daemon-export-same "$Y" "$(kd export stack web --space shop 2>&1)"
  t_eq daemon-apply-unchanged $'Cell "frontend": unchanged\nCell "worker": unchanged' \
    "$(kd apply -f "$T_TMP/shop.kube.yaml" 2>&1)"
  out=$(kd apply -f "$T_TMP/probe.yaml" 2>&1); rc=$?
  t_match daemon-import-refused '^1 Error: .*probe.yaml:18: spec.containers\[0\]: livenessProbe: not supported' "$rc $out"
  kill "$DPID" 2>/dev/null
  wait "$DPID" 2>/dev/null
else
  echo "not ok - $T_NAME/daemon-start"
fi

# ------------------------------------------------- podman kube play
if command -v podman >/dev/null; then
  P="$T_TMP/podman"
  mkdir -p "$P/pause"
  cat >"$P/containers.conf" <<EOF
[containers]
default_ulimits = ["nofile=1024:1024", "nproc=4096:4096"]
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "none"
infra_image = "localhost/kk-pause:latest"
EOF
  pm() { CONTAINERS_CONF="$P/containers.conf" podman --root "$P/root" --runroot "$P/runroot" --tmpdir "$P/tmp" "$@"; }
  t_cleanup_add "pm kube down '$T_TMP/shop.kube.yaml'; pm pod rm -f -a; pm rm -f -a"
  cp "$BUILD/kukepause" "$P/pause/pause"
  pm load -i "$T_TMP/busybox.tar" >/dev/null 2>&1 && pm tag localhost/latest:latest docker.io/library/busybox:latest &&
    tar -C "$P/pause" -c pause | pm import --change 'CMD ["/pause"]' - localhost/kk-pause:latest >/dev/null 2>&1
  t_eq podman-images 0 "$?"
  out=$(pm kube play --network none "$T_TMP/shop.kube.yaml" 2>&1)
  t_eq podman-kube-play "0" "$?$(grep -i error <<<"$out")"
  pm_log() { # container regex: waits for the regex in its log
    local i
    for i in $(seq 50); do pm logs "$1" 2>/dev/null | grep -Eq -- "$2" && return 0; sleep 0.2; done
    pm logs "$1"; return 1
  }
  running=$(pm ps --format '{{.Names}}' | grep -v infra | sort | tr '\n' ' ')
  t_eq podman-same-containers "frontend-logger frontend-web worker-job " "$running"
  t_ok podman-worker-works pm_log worker-job '^working$'
  t_ok podman-logger-logs pm_log frontend-logger ' [0-9]{4}$'
  t_match podman-web-serves '^hello from frontend$' "$(pm exec frontend-web wget -qO- http://127.0.0.1:8080/ 2>&1)"
  t_match podman-limits-kept '^67108864$' "$(pm inspect frontend-web --format '{{.HostConfig.Memory}}' 2>&1)"
  pm kube down "$T_TMP/shop.kube.yaml" >/dev/null 2>&1
  t_eq podman-down "" "$(pm ps -a -q)"
else
  echo "skip - $T_NAME/podman: podman not installed"
fi
