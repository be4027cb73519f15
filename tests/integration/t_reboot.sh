#!/usr/bin/env bash
# A reboot, played by hand: kukeond, every monitor and container of this
# test killed, the rootfs mounts gone, the runtime dir wiped, the cgroup
# tree removed, the space's bridge and firewall rules flushed (in the
# test's own network namespace); the run path stays.  The next kukeond's
# first pass brings back, with their cgroups, bundles, mounts and network,
# the cells whose policy says always (a root of its own, or the pause root
# under an always app); a cell without one is Unknown (no exit code to go
# by) and starts again when asked; one the operator stopped stays Stopped.
# Exits after the reboot are acted on at once again.
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
t_require_runtime
SLOW=$T_SLOW

RP="$T_TMP/run"
RT="$T_TMP/rt" # the runtime dir: what a reboot wipes (the socket stays beside it)
NS=default.kukeon.io
unset KUKEON_RUN_PATH
IMG=docker.io/library/busybox:latest
k() { "$KUKE" "$@"; }
kl() { KUKEON_RUN_PATH="$RP" KUKEON_RUNTIME_DIR="$RT" "$KUKE" "$@"; } # in-process
runs() { k log "$1" --container "$2" 2>/dev/null | grep -c '^run$'; }
runs_over() { [ "$(runs "$1" "$2")" -gt "$3" ]; }
alive() { local p; p=$(t_cstatus "$1" "$2" pid); [ -n "$p" ] && [ "$p" != 0 ] && kill -0 "$p" 2>/dev/null; }
# The runc state of this runtime dir (lib.sh's cleanup knows $T_TMP/runc only).
rt_containers_rm() {
  local r id
  for r in "$RT"/runc/*; do
    [ -d "$r" ] || continue
    for id in $(runc --root "$r" list -q 2>/dev/null); do runc --root "$r" delete -f "$id" >/dev/null 2>&1; done
  done
}
t_cleanup_add rt_containers_rm
daemon_up() { t_start_daemon "$RP" --runtime-dir "$RT" --reconcile-interval 60s; }

kl init >/dev/null
t_load_busybox "$RP" || echo "not ok - $T_NAME/busybox-image"
daemon_up; t_eq daemon-start 0 $?

app() { # cell policy-lines
  t_cell "$1" "    - id: app
      image: $IMG
      command: /bin/sh
      args: [\"-c\", \"echo run; exec sleep 600\"]
$2"
  k apply -f "$T_TMP/$1.yaml" >/dev/null || echo "not ok - $T_NAME/apply-$1"
}
app always "      restartPolicy: always
      restartBackoffSeconds: 1"
app plain ""
app onfail "      restartPolicy: on-failure"
app stopped "      restartPolicy: always"
t_cell own "    - id: app
      image: $IMG
      root: true
      command: /bin/sh
      args: [\"-c\", \"echo run; exec sleep 600\"]
      restartPolicy: always"
k apply -f "$T_TMP/own.yaml" >/dev/null || echo "not ok - $T_NAME/apply-own"
k stop cell stopped >/dev/null
for c in always plain onfail own; do t_wait 5 runs_over "$c" app 0; done
ip_before=$(t_doc always 'd["status"]["network"].get("ip", "")')
t_match ready-before "^Ready Ready Ready Ready Stopped 10\." \
  "$(for c in always plain onfail own stopped; do t_state $c; done | tr '\n' ' ')$ip_before"

# ---------------------------------------------------------- the reboot
{ kill -9 "$DPID"; wait "$DPID"; } 2>/dev/null
for p in $(pgrep -f "^kukeon-monitor .*$T_TMP/"); do kill -9 "$p"; done
rt_containers_rm
for m in $(awk -v t="$T_TMP/" 'index($5, t) == 1 {print $5}' /proc/self/mountinfo | sort -r); do umount -l "$m"; done
rm -rf "$RT"
t_wait 5 t_rm_cgroup_root "$KUKEON_CGROUP_ROOT"
t_rm_cgroup_root "$KUKEON_CGROUP_ROOT"
for b in $(ip -o link show type bridge | awk -F': ' '{print $2}'); do ip link del "$b"; done
for t in filter nat; do iptables -t $t -F; iptables -t $t -X; done 2>/dev/null
t_eq wiped "0 0 0" "$(find /sys/fs/cgroup -path "*${KUKEON_CGROUP_ROOT}" 2>/dev/null | wc -l) $(ip -o link show type bridge | wc -l) $(pgrep -fc "^kukeon-monitor .*$T_TMP/")"

# ------------------------------------------------------- the next boot
daemon_up; t_eq daemon-after-reboot 0 $?
t_wait $((15 * SLOW)) t_state_is always Ready
t_wait $((5 * SLOW)) t_state_is own Ready
t_eq always-back "Ready 1 yes" "$(t_state always) $(runs always app) $(alive always app && echo yes)"
t_eq own-root-back "Ready 1 yes" "$(t_state own) $(runs own app) $(alive own app && echo yes)"
t_eq always-counted 1 "$(t_cstatus always "$(t_doc always 'd["spec"]["rootContainerId"]')" restartCount)"
cg=$(find /sys/fs/cgroup -path "*${KUKEON_CGROUP_ROOT}/default/default/default/always" -type d 2>/dev/null | head -n 1)
t_eq always-cgroup yes "$([ -n "$cg" ] && echo yes)"
t_eq always-mount yes "$(mountpoint -q "$RT/bundles/$NS/default_default_always_app/rootfs" && echo yes)"
t_eq always-runc running "$(runc --root "$RT/runc/$NS" state default_default_always_app 2>/dev/null |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["status"])')"
ip_after=$(t_doc always 'd["status"]["network"].get("ip", "")')
t_match always-network "^10\..* 1$" "$ip_after $(ip -o link show type bridge | wc -l)"
# Its app reaches the bridge's address (the space's gateway) again.
gw=$(echo "$ip_after" | awk -F. '{print $1"."$2"."$3".1"}')
t_ok always-net-works runc --root "$RT/runc/$NS" exec default_default_always_app ping -c 1 -W 2 "$gw"

t_eq plain-unknown "Unknown Unknown no" "$(t_state plain) $(t_cstatus plain app state) $(alive plain app && echo yes || echo no)"
t_eq onfail-unknown "Unknown no" "$(t_state onfail) $(alive onfail app && echo yes || echo no)"
t_eq stopped-stays "Stopped no" "$(t_state stopped) $(alive stopped app && echo yes || echo no)"
t_ok plain-starts "$KUKE" start cell plain
t_eq plain-back "Ready 1" "$(t_state plain) $(runs plain app)"

# Exits after the reboot: acted on at once (the 60 s pass is far off).  The
# logs were in the runtime dir: the count starts again at the boot.
kill -9 "$(t_cstatus always app pid)"
t_wait $((5 * SLOW)) runs_over always app 1
t_eq exit-after-reboot-acted-on 2 "$(runs always app)"

# ------------------------------------------------------ nothing left behind
for c in always plain onfail own stopped; do k delete cell "$c" >/dev/null || echo "not ok - $T_NAME/delete-$c"; done
{ kill "$DPID"; wait "$DPID"; } 2>/dev/null
t_eq daemon-log-clean 0 "$(grep -c 'Sanitizer\|runtime error' "$T_TMP/kukeond.log")"
t_eq no-runc "" "$(runc --root "$RT/runc/$NS" list -q 2>/dev/null)"
t_eq no-mounts "" "$(awk -v t="$T_TMP/" 'index($5, t) == 1 {print $5}' /proc/self/mountinfo)"
