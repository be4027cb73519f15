#!/usr/bin/env bash
# Two builds of kukeon side by side: `kuke run --rm --image busybox -- true`
# against a daemon of each, alternating single runs, so that whatever the
# machine does meanwhile falls on both alike.  Run as root from the
# repository:  bench/ab.sh BUILD_A BUILD_B [PAIRS] [QUIET_MS]
# QUIET_MS (default 0) of sleep before each run makes them one-shot runs.
# Prints the medians and means of each, and the median of the pairwise
# differences (A - B).
set -euo pipefail
# Cells get a CNI network: everything runs in a network namespace of its
# own, so their bridges, veths and iptables rules never reach the host.
if [ -z "${KK_BENCH_NETNS:-}" ]; then exec env KK_BENCH_NETNS=1 unshare --net -- bash "$0" "$@"; fi
ip link set lo up
A=$(cd "$1" && pwd) B=$(cd "$2" && pwd)
PAIRS=${3:-60}
QUIET_MS=${4:-0}
src=$(cd "$(dirname "$0")/.." && pwd)
tmp=$(mktemp -d /tmp/kk-bench-ab.XXXXXX)
rt=$(mktemp -d /run/kk-bench-ab-rt.XXXXXX)
mount -t tmpfs -o mode=0700 kk-bench-ab "$rt"
declare -A DPID=()
cleanup() {
  set +e
  for s in a b; do
    r="$rt/$s/runc/default.kukeon.io"
    for id in $(runc --root "$r" list -q 2>/dev/null); do runc --root "$r" delete -f "$id" >/dev/null 2>&1; done
  done
  for p in $(pgrep -f "^kukeon-monitor .*$rt/"); do kill -9 "$p"; done
  for s in "${!DPID[@]}"; do kill -TERM "${DPID[$s]}" 2>/dev/null && wait "${DPID[$s]}" 2>/dev/null; done
  for m in $(awk -v t="$tmp/" -v r="$rt/" 'index($5, t) == 1 || index($5, r) == 1 {print $5}' /proc/self/mountinfo | sort -r); do
    umount -l "$m"
  done
  for s in a b; do
    for d in /sys/fs/cgroup/kukeon-ab-$s-$$ /sys/fs/cgroup/*/kukeon-ab-$s-$$; do
      [ -d "$d" ] && find "$d" -depth -type d -exec rmdir {} \; 2>/dev/null
    done
  done
  mountpoint -q "$rt" && umount "$rt"
  rm -rf "$tmp" "$rt"
}
trap cleanup EXIT
trap 'exit 143' TERM; trap 'exit 130' INT; trap 'exit 129' HUP

"$src/scripts/busybox-image" "$tmp/bb.tar" >/dev/null
start() { # side build
  local s=$1 b=$2
  mkdir -p "$rt/$s"
  KUKEON_RUN_PATH="$tmp/$s" KUKEON_RUNTIME_DIR="$rt/$s" KUKEON_CGROUP_ROOT="/kukeon-ab-$s-$$" HOME="$tmp" \
    "$b/kuke" init --no-daemon >/dev/null
  KUKEON_RUN_PATH="$tmp/$s" KUKEON_RUNTIME_DIR="$rt/$s" KUKEON_CGROUP_ROOT="/kukeon-ab-$s-$$" HOME="$tmp" \
    "$b/kuke" image load -i "$tmp/bb.tar" --name docker.io/library/busybox >/dev/null
  "$b/kukeond" serve --socket "$rt/$s/kukeond.sock" --run-path "$tmp/$s" --cgroup-root "/kukeon-ab-$s-$$" \
    --reconcile-interval 30s >"$tmp/$s.log" 2>&1 &
  DPID[$s]=$!
  for _ in $(seq 100); do [ -S "$rt/$s/kukeond.sock" ] && break; sleep 0.05; done
}
start a "$A"
start b "$B"
run() { # side build
  KUKEON_HOST="unix://$rt/$1/kukeond.sock" HOME="$tmp" "$2/kuke" run --rm --image busybox -- true >/dev/null
}
quiet() { [ "$QUIET_MS" -gt 0 ] && sleep "$(printf '0.%03d' "$QUIET_MS")" || true; }
for _ in 1 2 3; do run a "$A"; run b "$B"; done
: >"$tmp/times"
for _ in $(seq "$PAIRS"); do
  quiet; t0=$EPOCHREALTIME; run a "$A"; t1=$EPOCHREALTIME
  quiet; t2=$EPOCHREALTIME; run b "$B"; t3=$EPOCHREALTIME
  echo "$t0 $t1 $t2 $t3" >>"$tmp/times"
done
python3 - "$tmp/times" "$A" "$B" "$QUIET_MS" <<'PY'
import statistics as S, sys
a, b = [], []
for line in open(sys.argv[1]):
    t0, t1, t2, t3 = map(float, line.split())
    a.append((t1 - t0) * 1e3)
    b.append((t3 - t2) * 1e3)
print("A %s: median %.2f ms, mean %.2f ms" % (sys.argv[2], S.median(a), S.mean(a)))
print("B %s: median %.2f ms, mean %.2f ms" % (sys.argv[3], S.median(b), S.mean(b)))
print("%d pairs, %s ms of quiet before each run; median of A - B: %+.2f ms"
      % (len(a), sys.argv[4], S.median([x - y for x, y in zip(a, b)])))
PY
