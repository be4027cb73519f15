#!/usr/bin/env bash
# Cells that run, on a real unified cgroup v2 kernel (tests/vm/run runtime):
# the busybox image loaded in-process, a cell with two containers sharing
# the root's network namespace, the container memory limit enforced (an
# allocation past it is OOM-killed: 137/SIGKILL), the pids limit enforced (a
# fork past it fails), and delete leaves no mount, cgroup, bundle or process.
set -u
here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/../../.." && pwd)
export BUILD=${BUILD:-$src/build}
export KUKEON_SRC=$src
N=runtime-vm
if [ "$(stat -f -c %T /sys/fs/cgroup 2>/dev/null)" != cgroup2fs ]; then
  echo "skip - $N: needs a unified cgroup v2 host (run it with tests/vm/run runtime)"
  exit 0
fi
if [ "$(id -u)" != 0 ]; then echo "skip - $N: needs root"; exit 0; fi
command -v runc >/dev/null || { echo "skip - $N: runc not installed"; exit 0; }
# shellcheck source=../../integration/lib.sh
. "$src/tests/integration/lib.sh"
T_NAME=$N
RP="$T_TMP/run"
export KUKEON_RUN_PATH="$RP" KUKEON_RUNTIME_DIR="$T_TMP/rt"
k() { "$KUKE" "$@"; }
k init >/dev/null
t_load_busybox "$RP"; t_eq image-loaded 0 $?

cat >"$T_TMP/c.yaml" <<'EOF'
apiVersion: v1beta1
kind: Cell
metadata: {name: lim}
spec:
  realmId: default
  spaceId: default
  stackId: default
  containers:
    - id: mem
      image: busybox
      command: /bin/sh
      args: ["-c", "readlink /proc/self/ns/net; cat /sys/fs/cgroup/memory.max; x=$(head -c 200000000 /dev/zero | tr '\\0' a); echo survived"]
      resources: {memoryLimitBytes: 33554432}
    - id: pids
      image: busybox
      command: /bin/sh
      args: ["-c", "readlink /proc/self/ns/net; cat /sys/fs/cgroup/pids.max; for i in 1 2 3 4 5 6 7 8; do sleep 30 & done 2>&1; echo forks done; exec sleep 600"]
      resources: {pidsLimit: 5}
EOF
out=$(k apply -f "$T_TMP/c.yaml" 2>&1)
t_eq apply 'Cell "lim": created' "$out"
for _ in $(seq 300); do
  [ "$(k get container mem --cell lim -o json 2>/dev/null | grep -c '"exitCode": 137')" = 1 ] && break
  sleep 0.2
done
mem=$(k get container mem --cell lim -o yaml)
t_match memory-oom-killed 'exitCode: 137' "$mem"
t_match memory-oom-signal 'exitSignal: SIGKILL' "$mem"
log=$(k log lim --container mem)
t_match memory-max-in-container '^33554432$' "$log"
t_fail memory-not-survived grep -q survived <<<"$log"
for _ in $(seq 300); do k log lim --container pids 2>/dev/null | grep -q 'forks done' && break; sleep 0.2; done
plog=$(k log lim --container pids 2>&1)
t_match pids-max-in-container '^5$' "$plog"
t_match pids-fork-refused "can't fork|Resource temporarily unavailable" "$plog"
t_eq netns-shared "$(k log lim --container mem | grep '^net:')" "$(k log lim --container pids | grep '^net:')"
t_ok delete k delete cell lim
t_eq gone-bundles "" "$(ls "$T_TMP/rt/bundles/default.kukeon.io" 2>/dev/null)"
t_eq gone-mounts "" "$(awk -v t="$T_TMP/" 'index($5, t) == 1 {print $5}' /proc/self/mountinfo)"
t_eq gone-runc "" "$(runc --root "$T_TMP/rt/runc/default.kukeon.io" list -q 2>/dev/null)"
t_eq gone-cell-cgroup "" "$(ls -d /sys/fs/cgroup"$KUKEON_CGROUP_ROOT"/default/default/default/lim 2>/dev/null)"
t_eq gone-monitors "" "$(pgrep -f "^kukeon-monitor .*$T_TMP/")"
