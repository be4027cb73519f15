#!/usr/bin/env bash
# VM lane self-test: proves the VM gives the suites what they rely on — unified cgroup2
# with cpu/memory/io/pids, memory.max OOM kills, pids.max, overlayfs, `runc run`,
# veth/bridge in fresh netns, iptables (nft) and the CNI bridge + portmap plugins.
# Runs only inside the VM (tests/vm/run selftest); on a host it prints a skip line.
# Every step that could block is bounded by timeout(1), so a broken kernel feature
# shows up as "not ok", not as the lane's 15-minute timeout.
# vm-timeout: 240
set -u
N=selftest
if [ "${KUKEON_IN_VM:-}" != 1 ]; then echo "skip - $N: only inside the VM lane (tests/vm/run selftest)"; exit 0; fi

T=$(mktemp -d /tmp/kk-vm-selftest.XXXXXX)
CG=/sys/fs/cgroup/kk-vm-selftest-$$
NS1=kkst-a-$$ NS2=kkst-b-$$
RUNC_ROOT=$T/runc
cleanup() {
  timeout -k 5 30 runc --root "$RUNC_ROOT" delete -f kkst-$$ >/dev/null 2>&1
  ip netns del "$NS1" 2>/dev/null; ip netns del "$NS2" 2>/dev/null
  umount "$T/ovl/merged" 2>/dev/null
  local d
  for d in "$CG"/*/ "$CG"; do
    [ -d "$d" ] || continue
    [ -e "$d/cgroup.kill" ] && echo 1 >"$d/cgroup.kill" 2>/dev/null
  done
  sleep 0.2
  for d in "$CG"/*/ "$CG"; do [ -d "$d" ] && rmdir "$d" 2>/dev/null; done
  rm -rf "$T"
}
trap cleanup EXIT

ok() { echo "ok - $N/$1"; }
nok() { local n=$1; shift; echo "not ok - $N/$n"; [ $# -gt 0 ] && printf '%s\n' "$@" | sed 's/^/    # /'; }
check() { local n=$1; shift; local out; if out=$("$@" 2>&1); then ok "$n"; else nok "$n" "$out"; fi; }
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN{printf "%.2f", b - a}'; }

# --- cgroup v2, unified, controllers
fstype=$(stat -f -c %T /sys/fs/cgroup)
[ "$fstype" = cgroup2fs ] && ok cgroup2-unified || nok cgroup2-unified "/sys/fs/cgroup is $fstype"
ctl=" $(cat /sys/fs/cgroup/cgroup.controllers) " sub=" $(cat /sys/fs/cgroup/cgroup.subtree_control) "
missing=
for c in cpu memory io pids; do
  case "$ctl" in *" $c "*) ;; *) missing="$missing $c(available)" ;; esac
  case "$sub" in *" $c "*) ;; *) missing="$missing $c(enabled)" ;; esac
done
[ -z "$missing" ] && ok controllers-cpu-memory-io-pids || nok controllers-cpu-memory-io-pids "missing:$missing" "controllers:$ctl" "subtree_control:$sub"

mkdir "$CG" && echo "+memory +pids +cpu +io" >"$CG/cgroup.subtree_control" &&
  ok cgroup-create || nok cgroup-create "cannot create $CG"

# --- memory.max = 8M, a process allocating more is OOM-killed
mkdir -p "$CG/oom"
echo 8M >"$CG/oom/memory.max"
echo 0 >"$CG/oom/memory.swap.max" 2>/dev/null
[ "$(cat "$CG/oom/memory.max")" = 8388608 ] && ok memory-max-readback || nok memory-max-readback "memory.max=$(cat "$CG/oom/memory.max")"
# The child moves itself into the cgroup, then awk doubles a string until killed.
{ timeout -k 5 120 sh -c 'echo $$ >"$1/cgroup.procs" && exec awk "BEGIN { s = \"x\"; for (;;) s = s s }"' sh "$CG/oom"; } >/dev/null 2>&1
st=$?
kills=$(awk '$1 == "oom_kill" {print $2}' "$CG/oom/memory.events")
if [ "$st" = 137 ] && [ "${kills:-0}" -gt 0 ]; then ok memory-oom-kill
else nok memory-oom-kill "exit status $st (want 137), memory.events: $(tr '\n' ' ' <"$CG/oom/memory.events")"; fi

# --- pids.max = 5: the 6th task cannot be forked
mkdir -p "$CG/pids"
echo 5 >"$CG/pids/pids.max"
# busybox sh: no fork retry loop (bash retries for ~30 s).  The shell plus 4 sleeps
# make 5 tasks; the 5th sleep is the 6th fork and must fail.
timeout -k 5 60 busybox sh -c 'echo $$ >"$1/cgroup.procs"; for i in 1 2 3 4 5 6 7 8; do sleep 30 >/dev/null 2>&1 & done' \
  sh "$CG/pids" >/dev/null 2>&1
cur=$(cat "$CG/pids/pids.current")   # the shell is gone, its sleeps remain
maxev=$(awk '$1 == "max" {print $2}' "$CG/pids/pids.events")
if [ "$cur" = 4 ] && [ "${maxev:-0}" -gt 0 ]; then ok pids-max-stops-6th-fork
else nok pids-max-stops-6th-fork "pids.current=$cur (want 4 sleeps) pids.events max=$maxev"; fi
# Killed by pid, not through cgroup.kill: one CI run's guest hung for good
# right after that write on this cgroup at its pids.max.
for p in $(cat "$CG/pids/cgroup.procs"); do kill -9 "$p" 2>/dev/null; done
for _ in $(seq 50); do [ -s "$CG/pids/cgroup.procs" ] || break; sleep 0.1; done

# --- cpu.max and io.weight are writable
echo "50000 100000" >"$CG/cpu.max" 2>/dev/null; mkdir -p "$CG/cpu"
check cpu-max sh -c "echo '50000 100000' >'$CG/cpu/cpu.max' && grep -qx '50000 100000' '$CG/cpu/cpu.max'"
check io-weight sh -c "echo 'default 200' >'$CG/cpu/io.weight' && grep -q 'default 200' '$CG/cpu/io.weight'"

# --- overlayfs on tmpfs
mkdir -p "$T/ovl/lower" "$T/ovl/upper" "$T/ovl/work" "$T/ovl/merged"
echo lower >"$T/ovl/lower/f"
if mount -t overlay overlay -o "lowerdir=$T/ovl/lower,upperdir=$T/ovl/upper,workdir=$T/ovl/work" "$T/ovl/merged" 2>"$T/err"; then
  echo upper >"$T/ovl/merged/g"; rm "$T/ovl/merged/f"
  if [ -e "$T/ovl/upper/g" ] && [ -c "$T/ovl/upper/f" ] && [ -e "$T/ovl/lower/f" ]; then ok overlayfs
  else nok overlayfs "copy-up/whiteout not as expected"; fi
  umount "$T/ovl/merged"
else nok overlayfs "$(cat "$T/err")"; fi

# --- runc run of a busybox-static bundle with memory and pids limits
B=$T/bundle
mkdir -p "$B/rootfs/bin" "$B/rootfs/proc" "$B/rootfs/sys" "$B/rootfs/dev" "$B/rootfs/tmp"
cp /bin/busybox "$B/rootfs/bin/busybox"
(cd "$B" && runc spec) && jq '.process.terminal = false
  | .process.args = ["/bin/busybox", "sh", "-c", "echo hello-from-runc; cat /sys/fs/cgroup/memory.max /sys/fs/cgroup/pids.max"]
  | .linux.resources.memory = {"limit": 33554432} | .linux.resources.pids = {"limit": 16}
  | .linux.namespaces = ([.linux.namespaces[] | select(.type != "cgroup")] + [{"type": "cgroup"}])
  | .linux.cgroupsPath = "/kk-vm-selftest-'$$'/runc"' "$B/config.json" >"$B/c.json" && mv "$B/c.json" "$B/config.json"
t0=$(now)
out=$(timeout -k 5 120 runc --root "$RUNC_ROOT" run --bundle "$B" kkst-$$ 2>&1); st=$?
dt=$(since "$t0")
want=$'hello-from-runc\n33554432\n16'
if [ "$st" = 0 ] && [ "$out" = "$want" ]; then ok "runc-run-busybox # ${dt}s"
else nok runc-run-busybox "exit $st, output:" "$out"; fi

# --- veth + bridge in fresh network namespaces, traffic across
if ip netns add "$NS1" && ip netns add "$NS2" &&
  ip -n "$NS1" link add kkbr0 type bridge &&
  ip -n "$NS1" link add kkv0 type veth peer name kkv1 netns "$NS2" &&
  ip -n "$NS1" link set kkv0 master kkbr0 &&
  ip -n "$NS1" addr add 10.99.0.1/24 dev kkbr0 &&
  ip -n "$NS2" addr add 10.99.0.2/24 dev kkv1 &&
  ip -n "$NS1" link set kkbr0 up && ip -n "$NS1" link set kkv0 up &&
  ip -n "$NS2" link set kkv1 up && ip -n "$NS1" link set lo up && ip -n "$NS2" link set lo up 2>"$T/err"; then
  ip -n "$NS1" -o link show master kkbr0 | grep -q kkv0 && ok veth-bridge-netns || nok veth-bridge-netns "kkv0 not enslaved"
  # busybox nc: listen in NS1, connect from NS2 across the veth/bridge.
  ip netns exec "$NS1" busybox nc -l -p 7777 >"$T/nc.out" 2>/dev/null &
  ncpid=$!
  got=
  for i in 1 2 3 4 5 6 7 8 9 10; do
    sleep 0.3
    echo hello-over-bridge | ip netns exec "$NS2" busybox nc -w 2 10.99.0.1 7777 2>/dev/null && break
  done
  sleep 0.2; kill "$ncpid" 2>/dev/null   # never wait forever for a listener nobody reached
  wait "$ncpid" 2>/dev/null
  got=$(cat "$T/nc.out")
  [ "$got" = hello-over-bridge ] && ok tcp-over-veth-bridge || nok tcp-over-veth-bridge "got '$got'"
else nok veth-bridge-netns "$(cat "$T/err")"; fi

# --- iptables (nft backend) nat table in a netns
check iptables-nat ip netns exec "$NS1" sh -c 'iptables -t nat -N KKST && iptables -t nat -A KKST -p tcp -m comment --comment kk -m multiport --dports 80,81 -j MASQUERADE && iptables -t nat -S KKST'

# --- CNI bridge (ipMasq, host-local) + portmap, ADD and DEL, inside NS1 as the "host"
CNI=${CNI_PATH:-/usr/lib/cni}
if [ -x "$CNI/bridge" ] && [ -x "$CNI/portmap" ]; then
  ip netns add "$NS2-c" 2>/dev/null
  conf='{"cniVersion":"1.0.0","name":"kkst","type":"bridge","bridge":"kkcni0","isGateway":true,"ipMasq":true,
    "ipam":{"type":"host-local","ranges":[[{"subnet":"10.98.0.0/24"}]],"dataDir":"'$T'/ipam"}}'
  res=$(echo "$conf" | timeout -k 5 120 ip netns exec "$NS1" env CNI_COMMAND=ADD CNI_CONTAINERID=kkst$$ \
    CNI_NETNS=/run/netns/$NS2-c CNI_IFNAME=eth0 CNI_PATH="$CNI" "$CNI/bridge" 2>&1)
  if printf '%s' "$res" | jq -e '.ips[0].address' >/dev/null 2>&1; then
    ok "cni-bridge-add # $(printf '%s' "$res" | jq -r '.ips[0].address')"
    pm=$(jq -n --argjson prev "$res" '{cniVersion:"1.0.0",name:"kkst",type:"portmap",
      runtimeConfig:{portMappings:[{hostPort:18080,containerPort:80,protocol:"tcp"}]},
      capabilities:{portMappings:true}, prevResult:$prev}')
    check cni-portmap-add sh -c "echo '$pm' | timeout -k 5 120 ip netns exec $NS1 env CNI_COMMAND=ADD CNI_CONTAINERID=kkst$$ CNI_NETNS=/run/netns/$NS2-c CNI_IFNAME=eth0 CNI_PATH=$CNI $CNI/portmap && ip netns exec $NS1 iptables -t nat -S | grep -q 18080"
    check cni-portmap-del sh -c "echo '$pm' | timeout -k 5 120 ip netns exec $NS1 env CNI_COMMAND=DEL CNI_CONTAINERID=kkst$$ CNI_NETNS=/run/netns/$NS2-c CNI_IFNAME=eth0 CNI_PATH=$CNI $CNI/portmap"
    check cni-bridge-del sh -c "echo '$conf' | timeout -k 5 120 ip netns exec $NS1 env CNI_COMMAND=DEL CNI_CONTAINERID=kkst$$ CNI_NETNS=/run/netns/$NS2-c CNI_IFNAME=eth0 CNI_PATH=$CNI $CNI/bridge"
  else
    nok cni-bridge-add "$res"
  fi
  ip netns del "$NS2-c" 2>/dev/null
else
  echo "skip - $N/cni: no bridge/portmap plugin in $CNI"
fi

# --- writable paths
check tmp-writable sh -c 'f=$(mktemp /tmp/x.XXXXXX) && rm "$f"'
check var-lib-cni-writable sh -c 'touch /var/lib/cni/.kk && rm /var/lib/cni/.kk'
[ "$(stat -f -c %T /tmp)" = tmpfs ] && ok tmp-is-tmpfs || nok tmp-is-tmpfs "/tmp is $(stat -f -c %T /tmp)"

# --- nothing left behind
cleanup; trap - EXIT
[ ! -e "$CG" ] && ok cgroups-removed || nok cgroups-removed "$CG still there"
exit 0
