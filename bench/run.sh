#!/usr/bin/env bash
# Containers that run: one-shot `kuke run --rm --image busybox -- true` vs
# `runc run` on a prepared bundle vs `podman run --rm --runtime runc`, in one
# hyperfine run; cell start latency (apply -> Ready); monitor memory; 200
# idle cells: daemon RSS and CPU.  Run as root from the repository after
# `make`:  RUNS=20 CELLS=200 [ROUNDS=5] bench/run.sh [BUILD]
# Prints Markdown; docs/PERFORMANCE.md keeps the latest figures.
set -euo pipefail
# Cells get a CNI network: everything runs in a network namespace of its
# own, so their bridges, veths and iptables rules never reach the host.
if [ -z "${KK_BENCH_NETNS:-}" ]; then exec env KK_BENCH_NETNS=1 unshare --net -- bash "$0" "$@"; fi
ip link set lo up
BUILD=${1:-build}
case "$BUILD" in /*) ;; *) BUILD="$PWD/$BUILD" ;; esac
RUNS=${RUNS:-20}
CELLS=${CELLS:-200}
src=$(cd "$(dirname "$0")/.." && pwd)
tmp=$(mktemp -d /tmp/kk-bench-run.XXXXXX)
# State that lives on tmpfs in production (/run/kukeon, /run/runc) lives on
# a tmpfs of its own here too (/run is not always one, in a container say);
# the run path (images, metadata, writable layers) stays on disk.
rt=$(mktemp -d /run/kk-bench-rt.XXXXXX)
mount -t tmpfs -o mode=0700 kk-bench-rt "$rt"
export KUKEON_CGROUP_ROOT="/kukeon-bench-$$"
export KUKEON_RUN_PATH="$tmp/run" KUKEON_RUNTIME_DIR="$rt/kukeon" HOME="$tmp"
sock="$rt/kukeon/kukeond.sock"
export KUKEON_HOST="unix://$sock"
DPID=
cleanup() {
  set +e
  for id in $(runc --root "$rt/kukeon/runc/default.kukeon.io" list -q 2>/dev/null); do
    runc --root "$rt/kukeon/runc/default.kukeon.io" delete -f "$id" >/dev/null 2>&1
  done
  for p in $(pgrep -f "^kukeon-monitor .*$rt/"); do kill -9 "$p"; done
  [ -n "$DPID" ] && kill -TERM "$DPID" 2>/dev/null && wait "$DPID" 2>/dev/null
  for m in $(awk -v t="$tmp/" -v r="$rt/" 'index($5, t) == 1 || index($5, r) == 1 {print $5}' /proc/self/mountinfo | sort -r); do
    umount -l "$m"
  done
  for d in /sys/fs/cgroup/"${KUKEON_CGROUP_ROOT#/}" /sys/fs/cgroup/*/"${KUKEON_CGROUP_ROOT#/}" \
    /sys/fs/cgroup/kk-bench-runc /sys/fs/cgroup/*/kk-bench-runc /sys/fs/cgroup/kk-bench-floor /sys/fs/cgroup/*/kk-bench-floor; do
    [ -d "$d" ] && find "$d" -depth -type d -exec rmdir {} \; 2>/dev/null
  done
  mountpoint -q "$rt" && umount "$rt"
  if command -v podman >/dev/null; then podman --root "$tmp/podman" --runroot "$tmp/podman-run" rmi -af >/dev/null 2>&1; fi
  rm -rf "$tmp" "$rt"
}
trap cleanup EXIT
trap 'exit 143' TERM; trap 'exit 130' INT; trap 'exit 129' HUP

"$src/scripts/busybox-image" "$tmp/bb.tar" >/dev/null
"$BUILD/kuke" init --no-daemon >/dev/null # the bench starts its own kukeond
"$BUILD/kuke" image load -i "$tmp/bb.tar" --name docker.io/library/busybox >/dev/null
mkdir -p "$rt/kukeon"
"$BUILD/kukeond" serve --socket "$sock" --run-path "$tmp/run" --cgroup-root "$KUKEON_CGROUP_ROOT" \
  --reconcile-interval 30s >"$tmp/d.log" 2>&1 &
DPID=$!
for _ in $(seq 100); do [ -S "$sock" ] && break; sleep 0.05; done
unset KUKEON_RUN_PATH # through the daemon from here on

# The same rootfs for runc: umoci unpacks the image into a bundle whose
# config.json is runc's default (`runc spec`), run with no terminal.
mkdir -p "$tmp/layout" && tar -C "$tmp/layout" -xf "$tmp/bb.tar"
umoci unpack --image "$tmp/layout:latest" "$tmp/bundle" >/dev/null
(cd "$tmp/bundle" && rm -f config.json && runc spec && python3 - <<'PY'
import json
c = json.load(open("config.json"))
c["process"]["terminal"] = False
c["process"]["args"] = ["true"]
c["process"]["rlimits"] = [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}]
c["linux"]["cgroupsPath"] = "/kk-bench-runc/one"
json.dump(c, open("config.json", "w"))
PY
)
# The same container as kukeon runs it: the config.json kukeon writes
# (its seccomp profile, mounts, namespaces, a cgroup inside a cell's), on
# the same rootfs, under a cell cgroup that already exists.
"$BUILD/kuke" run -d --image busybox --name cfg -- true >/dev/null
mkdir -p "$tmp/kbundle"
sleep 0.5
python3 - "$rt/kukeon/bundles/default.kukeon.io/default_default_cfg_root/config.json" "$tmp" <<'PY'
import json, os, shutil, sys
c = json.load(open(sys.argv[1]))
tmp = sys.argv[2]
c["root"]["path"] = tmp + "/bundle/rootfs"
c["process"]["args"] = ["true"]
c["linux"]["cgroupsPath"] = "/kk-bench-runc/cell/ctr"
for m in c["mounts"]:
    if m["destination"] in ("/etc/hosts", "/etc/hostname", "/etc/resolv.conf"):
        copy = tmp + "/kbundle/" + m["destination"].rsplit("/", 1)[1]
        shutil.copy(m["source"], copy)
        m["source"] = copy
json.dump(c, open(tmp + "/kbundle/config.json", "w"))
c["linux"]["cgroupsPath"] = "/kk-bench-floor/cell/ctr"
os.makedirs(tmp + "/floor")
json.dump(c, open(tmp + "/floor/config.json", "w"))
PY
"$BUILD/kuke" delete cell cfg >/dev/null
# runc's share of kuke run: the two runc execs a container that outlives
# its CLI and daemon needs (run --detach, then delete), the container in a
# fresh cell cgroup as kukeon's is.  It runs from sh, so "sh alone" says
# what the script adds (sh and rmdir).
cat >"$tmp/floor.sh" <<SH
runc --root $rt/runc-root run --detach --bundle $tmp/floor bench-floor </dev/null >/dev/null 2>&1
runc --root $rt/runc-root delete --force bench-floor
rmdir /sys/fs/cgroup/kk-bench-floor/cell /sys/fs/cgroup/*/kk-bench-floor/cell 2>/dev/null
exit 0
SH
cat >"$tmp/sh.sh" <<SH
rmdir /sys/fs/cgroup/kk-bench-none /sys/fs/cgroup/*/kk-bench-none 2>/dev/null
exit 0
SH
cmds=(-n "runc run (prepared bundle)" "runc --root $rt/runc-root run --bundle $tmp/bundle bench-runc"
      -n "runc run (kukeon's config.json)" "runc --root $rt/runc-root run --bundle $tmp/kbundle bench-kcfg"
      -n "runc run --detach + runc delete (kukeon's config.json, fresh cell cgroup; sh script)" "sh $tmp/floor.sh"
      -n "sh alone (the script's own cost)" "sh $tmp/sh.sh"
      -n "kuke run --rm --image busybox -- true" "$BUILD/kuke run --rm --image busybox -- true")
if command -v podman >/dev/null; then
  P="podman --root $tmp/podman --runroot $tmp/podman-run --cgroup-manager cgroupfs --events-backend none"
  $P load -q -i "$tmp/bb.tar" >/dev/null 2>&1 && $P tag "$($P images -q | head -1)" localhost/busybox:latest
  cmds+=(-n "podman run --rm --runtime runc" "$P run --rm --runtime runc --network none --ulimit nofile=1024:1024 --ulimit nproc=4096:4096 localhost/busybox:latest true")
fi
# In rounds, every command in each: this machine's speed drifts over a
# minute, and one long block per command would charge the drift to whichever
# command ran in the slow part.  The rounds' samples are pooled.
# Each round times every command twice: back to back (what a script running
# one container after another sees: work a command leaves behind, such as
# the runc delete an ended container's monitor runs after kuke returned,
# overlaps the next run), and one-shot (50 ms of quiet before each run, for
# every command alike).
ROUNDS=${ROUNDS:-5}
per=$(( (RUNS + ROUNDS - 1) / ROUNDS ))
for r in $(seq "$ROUNDS"); do
  hyperfine -N --warmup 2 --runs "$per" --export-json "$tmp/b2b-$r.json" "${cmds[@]}" >&2
  hyperfine -N --warmup 2 --runs "$per" --prepare "sleep 0.05" --export-json "$tmp/one-$r.json" "${cmds[@]}" >&2
done
pool() {
  python3 - "$@" <<'PY'
import json, statistics, sys
pooled = {}
for f in sys.argv[2:]:
    for r in json.load(open(f))["results"]:
        pooled.setdefault(r["command"], []).extend(r["times"])
res = [{"command": c, "mean": statistics.mean(t), "stddev": statistics.stdev(t), "median": statistics.median(t),
        "times": t} for c, t in pooled.items()]
json.dump({"results": res}, open(sys.argv[1], "w"))
PY
}
pool "$tmp/run.json" "$tmp"/b2b-*.json
pool "$tmp/one.json" "$tmp"/one-*.json

# Cell start latency: apply -> Ready (the apply returns when every
# container runs).
cat >"$tmp/cell.yaml" <<'EOF'
apiVersion: v1beta1
kind: Cell
metadata: {name: lat}
spec: {realmId: default, spaceId: default, stackId: default,
       containers: [{id: main, image: busybox, command: /bin/sleep, args: ["600"]}]}
EOF
hyperfine -N --warmup 2 --runs "$RUNS" --export-json "$tmp/lat.json" \
  --prepare "sh -c '$BUILD/kuke delete cell lat >/dev/null 2>&1 || true'" -n "apply -> Ready (pause root + 1 container)" \
  "$BUILD/kuke apply -f $tmp/cell.yaml" >&2

# Idle cells: daemon RSS/CPU, monitor memory.
kb() { awk -v k="$1" '$1 == k":" {print $2}' "$2"; }
d0=$(kb VmRSS /proc/$DPID/status)
t_apply=0 ticks0=0 ticks1=0
if [ "$CELLS" -gt 0 ]; then # CELLS=0: the one-shot and start figures only
  for i in $(seq "$CELLS"); do
    printf 'apiVersion: v1beta1\nkind: Cell\nmetadata: {name: idle%d}\nspec: {realmId: default, spaceId: default, stackId: default, containers: [{id: main, image: busybox, command: /bin/sleep, args: ["3600"]}]}\n---\n' "$i"
  done >"$tmp/idle.yaml"
  t0=$(date +%s%N)
  "$BUILD/kuke" apply -f "$tmp/idle.yaml" >/dev/null
  t_apply=$(( ($(date +%s%N) - t0) / 1000000 ))
  ticks0=$(awk '{print $14 + $15}' /proc/$DPID/stat)
  sleep 60
  ticks1=$(awk '{print $14 + $15}' /proc/$DPID/stat)
fi
d1=$(kb VmRSS /proc/$DPID/status)
mons=$(pgrep -f "^kukeon-monitor .*$rt/" | head -20)
rss_sum=0 pss_sum=0 anon_sum=0 n=0
for p in $mons; do
  rss_sum=$((rss_sum + $(kb VmRSS /proc/$p/status)))
  anon_sum=$((anon_sum + $(kb RssAnon /proc/$p/status)))
  pss_sum=$((pss_sum + $(kb Pss /proc/$p/smaps_rollup)))
  n=$((n + 1))
done
python3 - "$tmp/run.json" "$tmp/one.json" "$tmp/lat.json" "$d0" "$d1" "$ticks0" "$ticks1" "$rss_sum" "$anon_sum" \
  "$pss_sum" "$n" "$t_apply" "$CELLS" "$(getconf CLK_TCK)" <<'PY'
import json, sys
lat = json.load(open(sys.argv[3]))["results"][0]
d0, d1, t0, t1, rss, anon, pss, n, tapply, cells, hz = map(int, sys.argv[4:])
def ms(r): return "%.1f ms ± %.1f" % (r["mean"] * 1e3, r["stddev"] * 1e3)
KUKE = "kuke run --rm --image busybox -- true"
FLOOR = "runc run --detach + runc delete (kukeon's config.json, fresh cell cgroup; sh script)"
for path, title in ((sys.argv[1], "back to back"), (sys.argv[2], "one-shot (50 ms of quiet before each run)")):
    run = json.load(open(path))["results"]
    m = {r["command"]: r for r in run}
    print("%s:\n" % title)
    print("| command | mean ± σ | median | runs |")
    print("| --- | --- | --- | --- |")
    for r in run:
        print("| %s | %s | %.1f ms | %d |" % (r["command"], ms(r), r["median"] * 1e3, len(r["times"])))
    k, km = m[KUKE]["mean"], m[KUKE]["median"]
    rc, rk = m["runc run (prepared bundle)"], m["runc run (kukeon's config.json)"]
    print()
    print("- kuke run / runc run: %.2f× (%.2f× against runc on kukeon's config.json); medians: %.2f× and %.2f×"
          % (k / rc["mean"], k / rk["mean"], km / rc["median"], km / rk["median"]))
    fl, sh = m[FLOOR]["mean"], m["sh alone (the script's own cost)"]["mean"]
    print("- runc's share, (floor script - sh alone) / runc run: %.2f×; kuke run beyond it: %.1f ms"
          % ((fl - sh) / rc["mean"], (k - (fl - sh)) * 1e3))
    if "podman run --rm --runtime runc" in m:
        print("- podman run / kuke run: %.2f×" % (m["podman run --rm --runtime runc"]["mean"] / k))
    print()
print("- cell start, apply -> Ready: %s" % ms(lat))
if cells:
    print("- %d idle cells applied in %.1f s; daemon VmRSS %.1f MiB before, %.1f MiB with them; daemon CPU over 60 s idle: %.2f%%"
          % (cells, tapply / 1e3, d0 / 1024, d1 / 1024, 100.0 * (t1 - t0) / hz / 60))
if n:
    print("- monitor per container (mean of %d): VmRSS %.0f KiB, RssAnon %.0f KiB, Pss %.0f KiB" % (n, rss / n, anon / n, pss / n))
PY
