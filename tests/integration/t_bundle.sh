#!/usr/bin/env bash
# config.json built by runtime/bundle.c, run by the real runc.
. "$(dirname "$0")/lib.sh"
command -v runc >/dev/null || { echo "skip - $T_NAME: runc not installed"; exit 0; }
CG="/kukeon-test-bundle-$$"
RUNC_ROOT="$T_TMP/runc"
rootfs="$T_TMP/rootfs"
mkdir -p "$rootfs/bin" "$rootfs/etc"
cp /bin/busybox "$rootfs/bin/" 2>/dev/null || { echo "skip - $T_NAME: busybox-static not installed"; exit 0; }
for a in sh echo cat id ls sleep readlink grep; do ln -s busybox "$rootfs/bin/$a"; done
cleanup_cgroups() {
  local d
  for d in /sys/fs/cgroup/*/"${CG#/}" /sys/fs/cgroup/"${CG#/}"; do [ -d "$d" ] && find "$d" -depth -type d -exec rmdir {} \; ; done
}
t_cleanup_add cleanup_cgroups
t_cleanup_add "runc --root $RUNC_ROOT delete -f kk-bundle-root-$$"

cell() { # cell.yaml with one or two containers
  cat > "$T_TMP/cell.yaml" <<Y
kind: Cell
metadata: {name: c1}
spec:
  realmId: default
  spaceId: default
  stackId: default
  containers:
$1
Y
}
bundle() { # container-id bundle-dir
  mkdir -p "$2"
  "$BUILD/tests/helpers/kk-bundle" "$T_TMP/cell.yaml" "$1" "$rootfs" "$CG" > "$2/config.json"
}

cell '  - id: a
    root: true
    image: busybox
    command: /bin/sh
    args: ["-c", "echo cell=$KUKEON_CELL_NAME realm=$KUKEON_REALM foo=$FOO; cat /proc/self/status | grep CapEff; cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null || cat /sys/fs/cgroup/memory.max"]
    env: ["FOO=bar"]
    resources: {memoryLimitBytes: 33554432, pidsLimit: 20}'
t_ok config "bundle" a "$T_TMP/b1"
out=$(cd "$T_TMP/b1" && timeout 30 runc --root "$RUNC_ROOT" run "kk-bundle-a-$$" 2>&1); rc=$?
t_eq run-exit 0 "$rc"
t_match run-env 'cell=c1 realm=default foo=bar' "$out"
t_match run-default-caps 'CapEff:.*00000000a80425fb' "$out"
t_match run-memory-limit '^33554432$' "$out"

# A capability outside the bounding set is refused before runc sees it.
bound=$(awk '/^CapBnd/{print $2}' /proc/self/status)
if [ $(( 0x$bound >> 24 & 1 )) -eq 0 ]; then
  cell '  - {id: a, image: busybox, command: /bin/true, capabilities: {add: [SYS_RESOURCE]}}'
  out=$("$BUILD/tests/helpers/kk-bundle" "$T_TMP/cell.yaml" a "$rootfs" "$CG" 2>&1); rc=$?
  t_eq cap-outside-bound "1 Error: capability CAP_SYS_RESOURCE is not in this host's bounding set; it cannot be granted" "$rc $out"
fi
cell '  - {id: a, image: busybox, command: /bin/true, capabilities: {add: [NOT_A_CAP]}}'
t_fail cap-unknown "$BUILD/tests/helpers/kk-bundle" "$T_TMP/cell.yaml" a "$rootfs" "$CG"

# Seccomp: a denied syscall fails with EPERM (unshare from busybox; a user
# namespace needs no capability, so only the profile stops it).
cell '  - {id: a, image: busybox, command: /bin/sh, args: ["-c", "readlink /proc/self/ns/pid; unshare -U true 2>&1 || echo denied"]}'
ln -sf busybox "$rootfs/bin/unshare"
bundle a "$T_TMP/b2"
out=$(cd "$T_TMP/b2" && timeout 30 runc --root "$RUNC_ROOT" run "kk-bundle-b-$$" 2>&1)
t_match seccomp-denies-unshare 'denied|Operation not permitted' "$out"

# A second container joins the root's network namespace.
cell '  - {id: r, root: true, image: busybox, command: /bin/sleep, args: ["600"]}
  - {id: w, image: busybox, command: /bin/readlink, args: ["/proc/self/ns/net"]}'
bundle r "$T_TMP/root"
(cd "$T_TMP/root" && runc --root "$RUNC_ROOT" run -d "kk-bundle-root-$$" >/dev/null 2>&1 </dev/null)
rpid=$(runc --root "$RUNC_ROOT" state "kk-bundle-root-$$" 2>/dev/null | python3 -c 'import json,sys; print(json.load(sys.stdin)["pid"])')
t_match root-running '^[0-9]+$' "$rpid"
mkdir -p "$T_TMP/w"
"$BUILD/tests/helpers/kk-bundle" "$T_TMP/cell.yaml" w "$rootfs" "$CG" | python3 -c '
import json,sys
c=json.load(sys.stdin)
for n in c["linux"]["namespaces"]:
    if n["type"] in ("network","ipc","uts"): n["path"]="/proc/'"$rpid"'/ns/"+{"network":"net"}.get(n["type"],n["type"])
print(json.dumps(c))' > "$T_TMP/w/config.json"
out=$(cd "$T_TMP/w" && timeout 30 runc --root "$RUNC_ROOT" run "kk-bundle-w-$$" 2>&1)
t_eq shared-netns "$(readlink /proc/$rpid/ns/net)" "$out"
runc --root "$RUNC_ROOT" kill "kk-bundle-root-$$" KILL >/dev/null 2>&1; sleep 0.3
runc --root "$RUNC_ROOT" delete -f "kk-bundle-root-$$" >/dev/null 2>&1
t_eq runc-list-empty "" "$(runc --root "$RUNC_ROOT" list -q)"
