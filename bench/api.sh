#!/usr/bin/env bash
# kukeond round trip vs in-process, and daemon memory.  Run as root from the
# repository after `make`:  bench/api.sh [BUILD]
# Prints a Markdown table; docs/PERFORMANCE.md keeps the latest figures.
set -euo pipefail
BUILD=${1:-build}
case "$BUILD" in /*) ;; *) BUILD="$PWD/$BUILD" ;; esac
tmp=$(mktemp -d /tmp/kk-bench-api.XXXXXX)
DPID=
cleanup() {
  [ -n "$DPID" ] && kill -TERM "$DPID" 2>/dev/null && wait "$DPID" 2>/dev/null
  local d
  for d in /sys/fs/cgroup/"${KUKEON_CGROUP_ROOT#/}" /sys/fs/cgroup/*/"${KUKEON_CGROUP_ROOT#/}"; do
    [ -d "$d" ] && find "$d" -depth -type d -exec rmdir {} \; 2>/dev/null
  done
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 143' TERM; trap 'exit 130' INT; trap 'exit 129' HUP
sock="$tmp/kukeond.sock"
# A cgroup root of its own, removed on exit: never the host's /kukeon.
export KUKEON_CGROUP_ROOT="/kukeon-bench-$$"
KUKEON_RUN_PATH="$tmp/run" "$BUILD/kuke" init --no-daemon >/dev/null
"$BUILD/kukeond" serve --socket "$sock" --run-path "$tmp/run" --cgroup-root "$KUKEON_CGROUP_ROOT" \
  --reconcile-interval 0 >"$tmp/d.log" 2>&1 &
DPID=$!
for _ in $(seq 100); do [ -S "$sock" ] && break; sleep 0.05; done
rss() { awk '/^VmRSS/{print $2}' "/proc/$DPID/status"; }
idle=$(rss)
export HOME="$tmp"
hyperfine -N --warmup 20 --runs 300 --export-json "$tmp/h.json" \
  -n "process start (kuke version --no-daemon)" "$BUILD/kuke version --no-daemon" \
  -n "kuke get realms (daemon)" "$BUILD/kuke --host unix://$sock get realms" \
  -n "kuke get realms (in-process)" "$BUILD/kuke --run-path $tmp/run get realms" >&2
"$BUILD/tests/helpers/kk-apiload" "$sock" 1 10000 >&2
after=$(rss)
"$BUILD/tests/helpers/kk-apiload" "$sock" 50 200 >&2
after2=$(rss)
"$BUILD/tests/helpers/kk-apiload" "$sock" 50 200 >&2
after3=$(rss)
python3 - "$tmp/h.json" "$idle" "$after" "$after2" "$after3" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))["results"]
m = {x["command"]: x for x in r}
base = r[0]["mean"] * 1000
print("| what | mean | ± | vs process start |")
print("|---|---|---|---|")
for x in r:
    print(f"| {x['command']} | {x['mean']*1000:.2f} ms | {x['stddev']*1000:.2f} | +{x['mean']*1000-base:.2f} ms |")
print()
print(f"daemon RSS: idle {int(sys.argv[2])/1024:.1f} MiB; after 10,000 requests on one connection {int(sys.argv[3])/1024:.1f} MiB; after 50 clients x 200 {int(sys.argv[4])/1024:.1f} MiB, and after 50 x 200 again {int(sys.argv[5])/1024:.1f} MiB")
PY
