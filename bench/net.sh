#!/usr/bin/env bash
# What networking costs: apply -> Ready of a one-container cell on its
# space's CNI network vs the same cell with hostNetwork: true, and
# `kuke run --rm` (on the network) vs `podman run --rm` on podman's default
# network (CNI bridge 10.88.0.0/16, as installed) and with --network none,
# each group in one hyperfine run.  Run as root from the repository after
# `make`:  RUNS=30 bench/net.sh [BUILD]
# Prints Markdown; docs/PERFORMANCE.md keeps the latest figures.  ROUNDS
# (default 5): the cell-start pair runs in that many alternating rounds.
#
# Everything runs in a network and mount namespace of its own (the script
# re-executes itself under unshare): the bridges, veths, iptables rules and
# netns binds of both tools land there and vanish with it, and the host's
# network is never touched.  podman's fixed paths (/var/lib/cni for its
# leases and CNI cache, /run/netns) are tmpfs inside; where they do not
# exist on the host the outer script makes the empty mount points and
# removes them again.
set -euo pipefail
BUILD=${1:-build}
case "$BUILD" in /*) ;; *) BUILD="$PWD/$BUILD" ;; esac
RUNS=${RUNS:-30}
MOUNTS="/var/lib/cni /run/netns"
if [ -z "${KK_BENCH_NETNS:-}" ]; then
  [ "$(id -u)" = 0 ] || { echo "bench/net.sh: needs root" >&2; exit 1; }
  made=()
  for d in $MOUNTS; do [ -d "$d" ] || { mkdir "$d" && made+=("$d"); }; done
  rc=0
  KK_BENCH_NETNS=1 unshare --net --mount --propagation private -- bash "$0" "$BUILD" || rc=$?
  for d in "${made[@]}"; do rmdir "$d"; done
  exit "$rc"
fi

ip link set lo up
for d in $MOUNTS; do mount -t tmpfs -o mode=0755 kk-bench-net "$d"; done
src=$(cd "$(dirname "$0")/.." && pwd)
tmp=$(mktemp -d /tmp/kk-bench-net.XXXXXX)
# /run/kukeon is a tmpfs in production: the runtime state is on one here.
rt="$tmp/rt"
mkdir -p "$rt" && mount -t tmpfs -o mode=0700 kk-bench-net-rt "$rt"
export KUKEON_CGROUP_ROOT="/kukeon-bench-net-$$"
export KUKEON_RUN_PATH="$tmp/run" KUKEON_RUNTIME_DIR="$rt/kukeon" HOME="$tmp"
# podman's default network is 10.88.0.0/16, kukeon's default pod subnet
# too: kukeon's allocator would find every /24 taken by podman's bridge.
export KUKEON_POD_SUBNET_CIDR=10.89.0.0/16
sock="$rt/kukeon/kukeond.sock"
export KUKEON_HOST="unix://$sock"
P="podman --root $tmp/podman --runroot $rt/podman-run --tmpdir $rt/podman-tmp --cgroup-manager cgroupfs --events-backend none"
DPID=
cleanup() {
  set +e
  [ -n "$DPID" ] && "$BUILD/kuke" delete realm default --cascade >/dev/null 2>&1
  for id in $(runc --root "$rt/kukeon/runc/default.kukeon.io" list -q 2>/dev/null); do
    runc --root "$rt/kukeon/runc/default.kukeon.io" delete -f "$id" >/dev/null 2>&1
  done
  for p in $(pgrep -f "^kukeon-monitor .*$rt/"); do kill -9 "$p"; done
  [ -n "$DPID" ] && kill -TERM "$DPID" 2>/dev/null && wait "$DPID" 2>/dev/null
  if command -v podman >/dev/null; then $P rm -af >/dev/null 2>&1; $P rmi -af >/dev/null 2>&1; fi
  for m in $(awk -v t="$tmp/" 'index($5, t) == 1 {print $5}' /proc/self/mountinfo | sort -r); do umount -l "$m"; done
  for d in /sys/fs/cgroup/"${KUKEON_CGROUP_ROOT#/}" /sys/fs/cgroup/*/"${KUKEON_CGROUP_ROOT#/}" \
    /sys/fs/cgroup/kk-bench-podman /sys/fs/cgroup/*/kk-bench-podman; do
    [ -d "$d" ] && find "$d" -depth -type d -exec rmdir {} \; 2>/dev/null
  done
  mountpoint -q "$rt" && umount -l "$rt"
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 143' TERM; trap 'exit 130' INT; trap 'exit 129' HUP

"$src/scripts/busybox-image" "$tmp/bb.tar" >/dev/null
"$BUILD/kuke" init --no-daemon >/dev/null # the bench starts its own kukeond
"$BUILD/kuke" image load -i "$tmp/bb.tar" --name docker.io/library/busybox >/dev/null
"$BUILD/kukeond" serve --socket "$sock" --run-path "$tmp/run" --cgroup-root "$KUKEON_CGROUP_ROOT" \
  --reconcile-interval 30s >"$tmp/d.log" 2>&1 &
DPID=$!
for _ in $(seq 100); do [ -S "$sock" ] && break; sleep 0.05; done
unset KUKEON_RUN_PATH # through the daemon from here on

# Cell start: apply -> Ready (the apply returns when every container runs),
# the same cell on the network and with hostNetwork: true; the delete
# before each run (CNI DEL included) is not timed.
for n in net host; do
  hostnet=false; [ "$n" = host ] && hostnet=true
  cat >"$tmp/$n.yaml" <<EOF
apiVersion: v1beta1
kind: Cell
metadata: {name: lat-$n}
spec: {realmId: default, spaceId: default, stackId: default,
       containers: [{id: main, image: busybox, command: /bin/sleep, args: ["600"], hostNetwork: $hostnet}]}
EOF
done
"$BUILD/kuke" apply -f "$tmp/net.yaml" >/dev/null # the space's bridge exists from here on, as on a used host
# In ROUNDS alternating rounds (a slow minute of the machine then weighs
# on both commands alike), merged into one result per command.
ROUNDS=${ROUNDS:-5}
for r in $(seq "$ROUNDS"); do
  hyperfine -N --warmup 2 --runs $(((RUNS + ROUNDS - 1) / ROUNDS)) --export-json "$tmp/lat-$r.json" \
    --prepare "sh -c '$BUILD/kuke delete cell lat-net >/dev/null 2>&1 || true'" \
    --prepare "sh -c '$BUILD/kuke delete cell lat-host >/dev/null 2>&1 || true'" \
    -n "apply -> Ready, network" "$BUILD/kuke apply -f $tmp/net.yaml" \
    -n "apply -> Ready, hostNetwork" "$BUILD/kuke apply -f $tmp/host.yaml" >&2
done
python3 - "$tmp" "$ROUNDS" <<'PY'
import json, statistics, sys
tmp, rounds = sys.argv[1], int(sys.argv[2])
merged = {}
for r in range(1, rounds + 1):
    for res in json.load(open("%s/lat-%d.json" % (tmp, r)))["results"]:
        merged.setdefault(res["command"], []).extend(res["times"])
out = []
for cmd, t in merged.items():
    out.append({"command": cmd, "times": t, "mean": statistics.mean(t), "stddev": statistics.stdev(t),
                "median": statistics.median(t)})
json.dump({"results": out}, open(tmp + "/lat.json", "w"))
PY
"$BUILD/kuke" delete cell lat-net >/dev/null
"$BUILD/kuke" delete cell lat-host >/dev/null

# One-shot containers.
cmds=(-n "kuke run --rm (network)" "$BUILD/kuke run --rm --image busybox -- true")
if command -v podman >/dev/null; then
  $P load -q -i "$tmp/bb.tar" >/dev/null 2>&1 && $P tag "$($P images -q | head -1)" localhost/busybox:latest
  prun="$P run --rm --runtime runc --cgroup-parent /kk-bench-podman --ulimit nofile=1024:1024 --ulimit nproc=4096:4096"
  cmds+=(-n "podman run --rm (default network)" "$prun localhost/busybox:latest true"
         -n "podman run --rm --network none" "$prun --network none localhost/busybox:latest true")
fi
hyperfine -N --warmup 2 --runs "$RUNS" --export-json "$tmp/run.json" "${cmds[@]}" >&2

python3 - "$tmp/lat.json" "$tmp/run.json" <<'PY'
import json, sys
def load(p): return {r["command"]: r for r in json.load(open(p))["results"]}
def row(r): return "| %s | %.1f ms ± %.1f | %.1f ms | %d |" % (
    r["command"], r["mean"] * 1e3, r["stddev"] * 1e3, r["median"] * 1e3, len(r["times"]))
for path in sys.argv[1:]:
    print("| command | mean ± σ | median | runs |")
    print("| --- | --- | --- | --- |")
    for r in load(path).values(): print(row(r))
    print()
lat, run = load(sys.argv[1]), load(sys.argv[2])
net, host = lat["apply -> Ready, network"], lat["apply -> Ready, hostNetwork"]
print("- networking adds to cell start: %+.1f ms (mean), %+.1f ms (median); network / hostNetwork: %.2f×"
      % ((net["mean"] - host["mean"]) * 1e3, (net["median"] - host["median"]) * 1e3, net["mean"] / host["mean"]))
k = run["kuke run --rm (network)"]
for name in ("podman run --rm (default network)", "podman run --rm --network none"):
    if name in run:
        print("- %s / kuke run --rm (network): %.2f× (medians %.2f×)"
              % (name, run[name]["mean"] / k["mean"], run[name]["median"] / k["median"]))
PY
