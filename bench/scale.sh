#!/usr/bin/env bash
# Many idle cells on one host: CELLS cells (a pause root plus one `sleep`
# container each, PER_SPACE to a space: a space's network is one /24) are
# applied through kukeond; then the apply time, the daemon's RSS, the
# latency of `kuke get cells` and the CPU of an idle reconcile pass.
# Run as root from the repository after `make`:
#   CELLS=1000 [PER_SPACE=100] [GET_RUNS=50] [PASSES=10] [WINDOWS=5] [HOOK=CMD] bench/scale.sh [BUILD [BASELINE]]
# With BASELINE (another build, e.g. of an earlier commit), the same cells
# are measured by a daemon and kuke of each build in turn, side by side.
# Prints Markdown; docs/PERFORMANCE.md keeps the latest figures.
set -euo pipefail
# Cells get a CNI network: everything runs in a network namespace of its
# own, so their bridges, veths and iptables rules never reach the host.
if [ -z "${KK_BENCH_NETNS:-}" ]; then exec env KK_BENCH_NETNS=1 unshare --net -- bash "$0" "$@"; fi
ip link set lo up
BUILD=${1:-build}
case "$BUILD" in /*) ;; *) BUILD="$PWD/$BUILD" ;; esac
BASELINE=${2:-}
case "$BASELINE" in /* | "") ;; *) BASELINE="$PWD/$BASELINE" ;; esac
CELLS=${CELLS:-1000}
PER_SPACE=${PER_SPACE:-100}
GET_RUNS=${GET_RUNS:-50}
PASSES=${PASSES:-10}   # reconcile passes per CPU window
WINDOWS=${WINDOWS:-5}  # CPU windows (their median is reported)
PASS_INTERVAL=${PASS_INTERVAL:-2s}
IDLE_S=${IDLE_S:-60}   # idle seconds at the default interval
src=$(cd "$(dirname "$0")/.." && pwd)
tmp=$(mktemp -d /tmp/kk-bench-scale.XXXXXX)
# Runtime state on a tmpfs of its own, as /run is in production; the run
# path (metadata, writable layers) on disk.
rt=$(mktemp -d /run/kk-bench-scale-rt.XXXXXX)
mount -t tmpfs -o mode=0700 kk-bench-scale-rt "$rt"
export KUKEON_CGROUP_ROOT="/kukeon-bench-scale-$$"
export KUKEON_RUN_PATH="$tmp/run" KUKEON_RUNTIME_DIR="$rt/kukeon" HOME="$tmp"
sock="$rt/kukeon/kukeond.sock"
export KUKEON_HOST="unix://$sock"
DPID=
stop_daemon() {
  [ -n "$DPID" ] && kill -TERM "$DPID" 2>/dev/null && wait "$DPID" 2>/dev/null
  DPID=
  return 0
}
# Everything the bench made, also when it failed half way: runc's records
# under the temp runtime dir, the monitors, the mounts, the cgroup tree.
cleanup() {
  set +e
  stop_daemon
  local r id p m d
  for r in "$rt"/kukeon/runc/*; do
    [ -d "$r" ] || continue
    for id in $(runc --root "$r" list -q 2>/dev/null); do runc --root "$r" delete -f "$id" >/dev/null 2>&1; done
  done
  for p in $(pgrep -f "^kukeon-monitor .*$rt/"); do kill -9 "$p"; done
  for m in $(awk -v t="$tmp/" -v r="$rt/" 'index($5, t) == 1 || index($5, r) == 1 {print $5}' /proc/self/mountinfo | sort -r); do
    umount -l "$m"
  done
  for d in /sys/fs/cgroup/"${KUKEON_CGROUP_ROOT#/}" /sys/fs/cgroup/*/"${KUKEON_CGROUP_ROOT#/}"; do
    [ -d "$d" ] && find "$d" -depth -type d -exec rmdir {} \; 2>/dev/null
  done
  mountpoint -q "$rt" && umount "$rt"
  rm -rf "$tmp" "$rt"
}
trap cleanup EXIT
trap 'exit 143' TERM; trap 'exit 130' INT; trap 'exit 129' HUP

start_daemon() { # reconcile interval [build]
  "${2:-$BUILD}/kukeond" serve --socket "$sock" --run-path "$tmp/run" --cgroup-root "$KUKEON_CGROUP_ROOT" \
    --reconcile-interval "$1" --log-level debug >>"$tmp/d.log" 2>&1 &
  DPID=$!
  for _ in $(seq 200); do
    [ -S "$sock" ] && [ "$(cat "$rt/kukeon/kukeond.pid" 2>/dev/null)" = "$DPID" ] && return 0
    sleep 0.05
  done
  echo "kukeond did not start:" >&2; cat "$tmp/d.log" >&2; return 1
}
kb() { awk -v k="$1" '$1 == k":" {print $2}' "/proc/$DPID/status"; }
# The daemon's CPU so far, in ns, all threads (schedstat: no 10 ms ticks).
cpu_ns() { cat /proc/"$DPID"/task/*/schedstat 2>/dev/null | awk '{s += $1} END {printf "%.0f\n", s}'; }
passes() { grep -c 'reconcile pass' "$tmp/d.log" || true; }
ms_since() { echo $(( ($(date +%s%N) - $1) / 1000000 )); }

"$src/scripts/busybox-image" "$tmp/bb.tar" >/dev/null
"$BUILD/kuke" init --no-daemon >/dev/null # the bench starts its own kukeond
"$BUILD/kuke" image load -i "$tmp/bb.tar" --name docker.io/library/busybox >/dev/null
mkdir -p "$rt/kukeon"
start_daemon 30s
unset KUKEON_RUN_PATH # through the daemon from here on
rss0=$(kb VmRSS)

# One manifest per space: the space, its stack, PER_SPACE cells.
nspaces=$(( (CELLS + PER_SPACE - 1) / PER_SPACE ))
for s in $(seq 0 $((nspaces - 1))); do
  {
    printf 'apiVersion: v1beta1\nkind: Space\nmetadata: {name: s%d}\nspec: {realmId: default}\n---\n' "$s"
    printf 'apiVersion: v1beta1\nkind: Stack\nmetadata: {name: default}\nspec: {id: default, realmId: default, spaceId: s%d}\n' "$s"
    for i in $(seq $((s * PER_SPACE)) $(( (s + 1) * PER_SPACE - 1 < CELLS - 1 ? (s + 1) * PER_SPACE - 1 : CELLS - 1 ))); do
      printf -- '---\napiVersion: v1beta1\nkind: Cell\nmetadata: {name: c%d}\nspec: {realmId: default, spaceId: s%d, stackId: default, containers: [{id: main, image: busybox, command: /bin/sleep, args: ["86400"]}]}\n' "$i" "$s"
    done
  } >"$tmp/s$s.yaml"
done
# Apply, one space at a time (each apply's time says whether cells get
# slower to add as the host fills).
apply_ms=()
t_all=$(date +%s%N)
for s in $(seq 0 $((nspaces - 1))); do
  t0=$(date +%s%N)
  if ! out=$("$BUILD/kuke" apply -f "$tmp/s$s.yaml" 2>&1); then
    printf 'apply of space s%s failed:\n%s\n' "$s" "$(tail -n 20 <<<"$out")" >&2
    exit 1
  fi
  apply_ms+=("$(ms_since "$t0")")
  echo "applied space s$s: ${apply_ms[-1]} ms" >&2
done
apply_total=$(ms_since "$t_all")
running=$(pgrep -fc "^kukeon-monitor .*$rt/" || true)
rss1=$(kb VmRSS)

# Measured by a daemon and kuke of one build (label $1, build dir $2);
# figures go to $tmp/m-$1.txt and $tmp/get-$1.json.
wait_pass() { local p=$1; while [ "$(passes)" -le "$p" ]; do sleep 0.2; done; }
measure() {
  local label=$1 b=$2 p c0 c1 p0 p1 w
  stop_daemon
  p=$(passes); start_daemon 30s "$b"; wait_pass "$p" # its first pass adopts the cells
  local r0; r0=$(kb VmRSS)
  # `kuke get cells`: every cell of every space, through the daemon.
  local got; got=$("$b/kuke" get cells | tail -n +3 | wc -l)
  hyperfine -N --warmup 3 --runs "$GET_RUNS" --export-json "$tmp/get-$label.json" \
    -n "kuke get cells ($CELLS cells, $label)" "$b/kuke get cells" >&2
  local r1; r1=$(kb VmRSS)
  # Idle: the daemon's CPU over IDLE_S seconds at the default interval.
  c0=$(cpu_ns); p0=$(passes); sleep "$IDLE_S"; c1=$(cpu_ns); p1=$(passes)
  local idle=$((c1 - c0)) idle_passes=$((p1 - p0))
  # One pass: a daemon with a short interval, WINDOWS windows of PASSES
  # passes, each window's CPU over the passes logged in it.
  stop_daemon
  p=$(passes); start_daemon "$PASS_INTERVAL" "$b"; wait_pass "$p"
  local per=()
  for w in $(seq "$WINDOWS"); do
    c0=$(cpu_ns); p0=$(passes)
    while [ $(( $(passes) - p0 )) -lt "$PASSES" ]; do sleep 0.2; done
    c1=$(cpu_ns); p1=$(passes)
    per+=("$(( (c1 - c0) / (p1 - p0) ))")
    echo "$label window $w: $(( (c1 - c0) / 1000000 )) ms CPU over $(( p1 - p0 )) passes" >&2
  done
  local r2; r2=$(kb VmRSS)
  printf 'idle_s=%s\ngot=%s\nrss_start=%s\nrss_get=%s\nrss_passes=%s\nidle=%s\nidle_passes=%s\nper_pass=%s\n' \
    "$IDLE_S" "$got" "$r0" "$r1" "$r2" "$idle" "$idle_passes" "${per[*]}" >"$tmp/m-$label.txt"
}
# HOOK: a command run here, with the cells up and the daemon ($DPID) of
# BUILD serving them through $KUKEON_HOST (e.g. a perf record of a get).
if [ -n "${HOOK:-}" ]; then DPID=$DPID KUKE="$BUILD/kuke" bash -c "$HOOK" >&2; fi
labels=(this)
measure this "$BUILD"
if [ -n "$BASELINE" ]; then
  labels+=(baseline)
  measure baseline "$BASELINE"
fi
stop_daemon
start_daemon 30s

# Delete everything (timed: the bench's cleanup is the product's delete).
t0=$(date +%s%N)
for s in $(seq 0 $((nspaces - 1))); do "$BUILD/kuke" delete space "s$s" --cascade >/dev/null; done
delete_ms=$(ms_since "$t0")
left=$(pgrep -fc "^kukeon-monitor .*$rt/" || true)

python3 - "$tmp" "$CELLS" "$running" "$apply_total" "$delete_ms" "$rss0" "$rss1" "$left" "${apply_ms[*]}" \
  "$(cat /proc/loadavg)" "${labels[@]}" <<'PY'
import json, statistics, sys
tmp = sys.argv[1]
cells, running, apply_ms, delete_ms, r0, r1, left = map(int, sys.argv[2:9])
applies = [int(x) for x in sys.argv[9].split()]
load = " ".join(sys.argv[10].split()[:3])
labels = sys.argv[11:]
m = {}
for l in labels:
    kv = dict(line.rstrip("\n").split("=", 1) for line in open(f"{tmp}/m-{l}.txt"))
    kv["get"] = json.load(open(f"{tmp}/get-{l}.json"))["results"][0]
    kv["per"] = [int(x) / 1e6 for x in kv["per_pass"].split()]
    m[l] = kv
print(f"- {cells} cells (pause root + 1 `sleep` each), {running} monitors running after the apply")
print(f"- apply, total: {apply_ms / 1e3:.1f} s ({apply_ms / cells:.1f} ms a cell); per space of {cells // len(applies)}: "
      f"first {applies[0] / 1e3:.1f} s, median {statistics.median(applies) / 1e3:.1f} s, last {applies[-1] / 1e3:.1f} s")
print(f"- daemon VmRSS: {r0 / 1024:.1f} MiB empty, {r1 / 1024:.1f} MiB right after the apply")
print(f"- delete (`kuke delete space --cascade` per space): {delete_ms / 1e3:.1f} s; monitors left: {left}")
print(f"- load average at the end: {load}")
print()
print("| what | " + " | ".join(labels) + " |")
print("| --- |" + " --- |" * len(labels))
def row(name, f):
    print(f"| {name} | " + " | ".join(f(m[l]) for l in labels) + " |")
row("cells listed", lambda x: x["got"])
row(f"`kuke get cells`: median (mean ± σ, min; {len(m[labels[0]]['get']['times'])} runs)",
    lambda x: f"**{x['get']['median'] * 1e3:.1f} ms** ({x['get']['mean'] * 1e3:.1f} ± {x['get']['stddev'] * 1e3:.1f}, {x['get']['min'] * 1e3:.1f})")
row("idle reconcile pass: CPU, median of the windows (each window's mean)",
    lambda x: f"**{statistics.median(x['per']):.0f} ms** ({', '.join('%.0f' % p for p in x['per'])})")
row("that pass every 30 s, as a share of one core", lambda x: f"**{100 * statistics.median(x['per']) / 30000:.2f} %**")
row("daemon CPU while idle at the 30 s interval", lambda x: f"{int(x['idle']) / 1e6:.0f} ms over {x['idle_s']} s, "
    f"{x['idle_passes']} pass(es): {100 * int(x['idle']) / (int(x['idle_s']) * 1e9):.2f} %")
row("daemon VmRSS: adopted, after the gets, after the passes",
    lambda x: f"{int(x['rss_start']) / 1024:.1f} / {int(x['rss_get']) / 1024:.1f} / {int(x['rss_passes']) / 1024:.1f} MiB")
PY
