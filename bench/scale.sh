#!/usr/bin/env bash
# Many idle cells on one host: CELLS cells (a pause root plus one `sleep`
# container each, PER_SPACE to a space: a space's network is one /24) are
# applied through kukeond; then the apply time, the daemon's RSS, the
# latency of `kuke get cells` and the CPU of an idle reconcile pass.
# Run as root from the repository after `make`:
#   CELLS=1000 [PER_SPACE=100] [GET_RUNS=50] [PASSES=10] [WINDOWS=5] bench/scale.sh [BUILD]
# Prints Markdown; docs/PERFORMANCE.md keeps the latest figures.
set -euo pipefail
# Cells get a CNI network: everything runs in a network namespace of its
# own, so their bridges, veths and iptables rules never reach the host.
if [ -z "${KK_BENCH_NETNS:-}" ]; then exec env KK_BENCH_NETNS=1 unshare --net -- bash "$0" "$@"; fi
ip link set lo up
BUILD=${1:-build}
case "$BUILD" in /*) ;; *) BUILD="$PWD/$BUILD" ;; esac
CELLS=${CELLS:-1000}
PER_SPACE=${PER_SPACE:-100}
GET_RUNS=${GET_RUNS:-50}
PASSES=${PASSES:-10}   # reconcile passes per CPU window
WINDOWS=${WINDOWS:-5}  # CPU windows (their median is reported)
PASS_INTERVAL=${PASS_INTERVAL:-2s}
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

start_daemon() { # reconcile interval
  "$BUILD/kukeond" serve --socket "$sock" --run-path "$tmp/run" --cgroup-root "$KUKEON_CGROUP_ROOT" \
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
cpu_ns() { cat /proc/"$DPID"/task/*/schedstat 2>/dev/null | awk '{s += $1} END {printf "%d\n", s}'; }
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
  "$BUILD/kuke" apply -f "$tmp/s$s.yaml" >/dev/null
  apply_ms+=("$(ms_since "$t0")")
  echo "applied space s$s: ${apply_ms[-1]} ms" >&2
done
apply_total=$(ms_since "$t_all")
running=$(pgrep -fc "^kukeon-monitor .*$rt/" || true)
rss1=$(kb VmRSS)

# `kuke get cells`: every cell of every space, through the daemon.
got=$("$BUILD/kuke" get cells | tail -n +2 | wc -l)
hyperfine -N --warmup 3 --runs "$GET_RUNS" --export-json "$tmp/get.json" \
  -n "kuke get cells ($CELLS cells)" "$BUILD/kuke get cells" >&2
rss2=$(kb VmRSS)

# Idle: the daemon's CPU over a minute at the default interval (30 s), then
# the CPU of one pass: a daemon with a short interval, WINDOWS windows of
# PASSES passes each, the CPU of the window over the passes logged in it.
c0=$(cpu_ns); p0=$(passes); sleep 60; c1=$(cpu_ns); p1=$(passes)
idle_60=$(( c1 - c0 )); idle_60_passes=$(( p1 - p0 ))
stop_daemon
start_daemon "$PASS_INTERVAL"
sleep 5 # the first pass adopts what ran while the daemon was down
per_pass=()
for w in $(seq "$WINDOWS"); do
  c0=$(cpu_ns); p0=$(passes)
  while [ $(( $(passes) - p0 )) -lt "$PASSES" ]; do sleep 0.2; done
  c1=$(cpu_ns); p1=$(passes)
  per_pass+=("$(( (c1 - c0) / (p1 - p0) ))")
  echo "window $w: $(( (c1 - c0) / 1000000 )) ms CPU over $(( p1 - p0 )) passes" >&2
done
rss3=$(kb VmRSS)

# Delete everything (timed: the bench's cleanup is the product's delete).
t0=$(date +%s%N)
for s in $(seq 0 $((nspaces - 1))); do "$BUILD/kuke" delete space "s$s" --cascade >/dev/null; done
delete_ms=$(ms_since "$t0")
left=$(pgrep -fc "^kukeon-monitor .*$rt/" || true)

python3 - "$tmp/get.json" "$CELLS" "$got" "$running" "$apply_total" "$delete_ms" "$rss0" "$rss1" "$rss2" "$rss3" \
  "$idle_60" "$idle_60_passes" "$left" "${apply_ms[*]}" "${per_pass[*]}" "$(cat /proc/loadavg)" <<'PY'
import json, statistics, sys
g = json.load(open(sys.argv[1]))["results"][0]
cells, got, running, apply_ms, delete_ms, r0, r1, r2, r3, idle, idle_passes, left = map(int, sys.argv[2:14])
applies = [int(x) for x in sys.argv[14].split()]
per_pass = [int(x) / 1e6 for x in sys.argv[15].split()]
med = statistics.median(per_pass)
print("| what | figure |")
print("| --- | --- |")
print(f"| cells applied (pause root + 1 sleep each) | {cells} ({got} listed, {running} monitors running) |")
print(f"| apply, total | {apply_ms / 1e3:.1f} s ({apply_ms / cells:.1f} ms a cell) |")
print(f"| apply per space of {cells // len(applies)}: first, median, last | {applies[0] / 1e3:.1f} s, "
      f"{statistics.median(applies) / 1e3:.1f} s, {applies[-1] / 1e3:.1f} s |")
print(f"| daemon VmRSS: empty, after apply, after get cells, after the passes | "
      f"{r0 / 1024:.1f} / {r1 / 1024:.1f} / {r2 / 1024:.1f} / {r3 / 1024:.1f} MiB |")
print(f"| `kuke get cells`: median, mean ± σ, min ({len(g['times'])} runs) | **{g['median'] * 1e3:.1f} ms**, "
      f"{g['mean'] * 1e3:.1f} ± {g['stddev'] * 1e3:.1f} ms, {g['min'] * 1e3:.1f} ms |")
print(f"| idle reconcile pass: CPU (median of {len(per_pass)} windows; all: {', '.join('%.1f' % p for p in per_pass)} ms) "
      f"| **{med:.1f} ms** = **{100 * med / 30000:.2f} %** of a core at the 30 s interval |")
print(f"| daemon CPU over 60 s idle, 30 s interval ({idle_passes} passes) | {idle / 1e6:.0f} ms = {100 * idle / 60e9:.2f} % of a core |")
print(f"| delete, total (`delete space --cascade` per space) | {delete_ms / 1e3:.1f} s; monitors left: {left} |")
print()
print(f"load average at the end: {' '.join(sys.argv[16].split()[:3])}")
PY
