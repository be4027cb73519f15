#!/usr/bin/env bash
# kuke uninstall: (1) at the question, end of input (or "no") aborts with
# "Aborted.", a non-zero exit and nothing changed; (2) -y on a host with
# the kukeond cell, a workload and a networked cell in a second space
# leaves nothing of kukeon (daemon, monitors, mounts, cgroups in every
# hierarchy, veths, bridges, iptables rules, runtime dir, run path, group,
# systemd unit) but the binaries; (3) a second run says there is nothing
# and exits 0; (4) a realm that cannot be purged keeps the run path, the
# runtime dir, the group and the unit and exits non-zero; a kukeond that
# is not the cell's but serves the socket is stopped as well.
# Temp run path, runtime dir, socket, cgroup root, group and unit dir only
# (KUKEON_SYSTEMD_UNIT_DIR: systemctl is never run).
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
[ "$(id -u)" = 0 ] || { echo "skip - $T_NAME: needs root"; exit 0; }
t_require runc iptables-save setpriv groupadd groupdel
t_require_busybox
t_require_cni

unset KUKEON_INIT_NO_DAEMON
export KUKEON_GROUP="kkt-grp-$$"
RP="$T_TMP/run"
RT="$T_TMP/rt"
UNITS="$T_TMP/units"
CG=${KUKEON_CGROUP_ROOT#/}
export KUKEON_RUN_PATH="$RP" KUKEON_RUNTIME_DIR="$RT" KUKEON_SYSTEMD_UNIT_DIR="$UNITS"
export KUKEOND_SOCKET="$RT/kukeond.sock" KUKEON_HOST="unix://$RT/kukeond.sock"
chmod 0755 "$T_TMP"
STUCK="$RP/default/stuck"
# Last added runs first: an immutable file, the daemon and the workloads,
# the runtime dir's bind (init makes it a shared mount), then the group.
t_cleanup_add "getent group $KUKEON_GROUP && groupdel $KUKEON_GROUP"
t_cleanup_add "umount -l $RT"
t_cleanup_add "'$KUKE' daemon reset --timeout 2s"
t_cleanup_add "'$KUKE' purge realm default --cascade --no-daemon"
t_cleanup_add "chattr -i $STUCK"
k() { timeout 120 "$KUKE" "$@" 2>&1; }
kd() { env -u KUKEON_RUN_PATH timeout 60 "$KUKE" "$@" 2>&1; }   # through the socket
install_unit() {
  mkdir -p "$UNITS" && sed 's|@BINDIR@|/usr/local/bin|g' "$KUKEON_SRC/packaging/kukeond.service.in" >"$UNITS/kukeond.service"
}
dirs_of() { find "$RP" "$RT" -maxdepth 4 -type d 2>/dev/null | sort; }
mounts_under_tmp() { awk -v t="$T_TMP/" 'index($5, t) == 1' /proc/self/mountinfo | wc -l; }
cgroup_dirs() { ls -d /sys/fs/cgroup/"$CG" /sys/fs/cgroup/*/"$CG" 2>/dev/null | wc -l; }
links() { ip -o link show | grep -vc ': lo:'; }
kuke_rules() { iptables-save 2>/dev/null | grep -ci kuke; }
monitors() { pgrep -f "^kukeon-monitor .*$T_TMP/" | wc -l; }
daemons() { pgrep -f "kukeond.*serve.*$RT/kukeond.sock" | wc -l; }

# ----------------------------------------------- a host with three cells
install_unit
out=$(k init); rc=$?
t_eq init-exit 0 "$rc"
t_match init-ready '^kukeond is ready' "$(printf '%s\n' "$out" | tail -1)"
t_load_busybox "$RP" || { echo "not ok - $T_NAME/image: busybox image"; exit 0; }
cell() { # name space
  t_cell "$1" "    - id: main
      image: docker.io/library/busybox
      command: /bin/sleep
      args: ['600']"
  sed -i "s/^  spaceId: default$/  spaceId: $2/" "$T_TMP/$1.yaml"
}
cell w1 default
cell n1 sp2
t_ok apply-w1 kd apply -f "$T_TMP/w1.yaml"
t_ok space-sp2 kd create space sp2
t_ok stack-sp2 kd create stack default --space sp2
t_ok apply-n1 kd apply -f "$T_TMP/n1.yaml"
wpid() { runc --root "$RT/runc/default.kukeon.io" state "$1" 2>/dev/null | sed -n 's/.*"pid": \([0-9]*\).*/\1/p'; }
W=$(wpid default_default_w1_main)
N=$(wpid sp2_default_n1_main)
t_match workload-pid '^[0-9]+$' "$W"
t_match networked-pid '^[0-9]+$' "$N"
t_eq has-links-and-rules "yes yes" "$([ "$(links)" -gt 0 ] && echo yes) $([ "$(kuke_rules)" -gt 0 ] && echo yes)"

# ---------------------------------------- (1) the question: no answer, no
before=$(dirs_of)
out=$(setpriv --reuid=65532 --regid=65532 --clear-groups env HOME=/nonexistent "$KUKE" uninstall -y 2>&1); rc=$?
t_match not-root '^1 Error: command must run as root: `kuke uninstall`' "$rc $out"
t_eq not-root-one-line 1 "$(printf '%s\n' "$out" | wc -l)"
printf 'kind: ServerConfiguration\nspec: [\n' >"$T_TMP/bad.yaml"
out=$("$KUKE" uninstall -y --server-configuration "$T_TMP/bad.yaml" 2>&1); rc=$?
t_eq bad-config-exit 1 "$rc"
t_eq bad-config-one-line 1 "$(printf '%s\n' "$out" | wc -l)"
out=$("$KUKE" uninstall </dev/null 2>&1); rc=$?
t_eq eof-exit 1 "$rc"
t_match eof-asks 'Are you sure\? \(yes/no\)' "$out"
t_match eof-lists-realm 'realm "default" \(namespace "default.kukeon.io"\)' "$out"
t_match eof-lists-system 'realm "kuke-system"' "$out"
t_match eof-lists-run-path "run path $RP\$" "$out"
t_match eof-lists-group "group \"$KUKEON_GROUP\"" "$out"
t_match eof-lists-unit "systemd unit $UNITS/kukeond.service" "$out"
t_eq eof-aborted "Aborted." "$(printf '%s\n' "$out" | tail -1)"
out=$(echo no | "$KUKE" uninstall 2>&1); rc=$?
t_match no-aborted '^1 .*Aborted\.$' "$rc $(printf '%s\n' "$out" | tail -1)"
t_eq aborted-unchanged "$before" "$(dirs_of)"
t_ok aborted-daemon-answers kd get cells --realm kuke-system
t_ok aborted-workloads-run kill -0 "$W" "$N"
t_ok aborted-group-kept getent group "$KUKEON_GROUP"
t_ok aborted-unit-kept test -f "$UNITS/kukeond.service"

# ---------------------------------------------------------- (2) uninstall -y
out=$(k uninstall -y); rc=$?
[ -n "${T_SHOW:-}" ] && printf '%s\n' "$out" >&2
t_eq uninstall-exit 0 "$rc"
t_match uninstall-default-purged 'realm "default" \(namespace "default.kukeon.io"\): purged' "$out"
t_match uninstall-system-purged 'realm "kuke-system" \(namespace "kuke-system.kukeon.io"\): purged' "$out"
t_match uninstall-done 'kukeon is uninstalled' "$out"
t_eq no-daemon 0 "$(daemons)"
t_fail no-socket test -e "$RT/kukeond.sock"
t_fail workload-gone kill -0 "$W"
t_fail networked-gone kill -0 "$N"
t_eq no-monitors 0 "$(monitors)"
t_eq no-mounts 0 "$(mounts_under_tmp)"
t_eq no-cgroups 0 "$(cgroup_dirs)"
t_eq no-links 0 "$(links)"
t_eq no-kuke-rules 0 "$(kuke_rules)"
t_fail run-path-gone test -e "$RP"
t_fail runtime-dir-gone test -e "$RT"
t_fail group-gone getent group "$KUKEON_GROUP"
t_fail unit-gone test -e "$UNITS/kukeond.service"
t_ok binaries-kept test -x "$KUKE" -a -x "$KUKEOND" -a -x "$BUILD/kukeon"

# ------------------------------------------------ (3) nothing left to remove
out=$("$KUKE" uninstall </dev/null 2>&1); rc=$?
t_match again-nothing '^0 Nothing to uninstall' "$rc $out"
t_fail again-no-run-path test -e "$RP"
t_fail again-no-runtime-dir test -e "$RT"

# ------------------------------------------- (4) a realm that cannot go
out=$(KUKEON_INIT_NO_DAEMON=true k init); rc=$?
t_eq stuck-init-exit 0 "$rc"
groupadd --system "$KUKEON_GROUP"
install_unit
mkdir -p "$STUCK" && touch "$STUCK/file"
if chattr +i "$STUCK" 2>/dev/null; then
  out=$(k uninstall -y); rc=$?
  [ -n "${T_SHOW:-}" ] && printf '%s\n' "$out" >&2
  t_eq stuck-exit 1 "$rc"
  t_match stuck-realm-failed 'realm "default" \(namespace "default.kukeon.io"\): FAILED' "$out"
  t_match stuck-run-path-skipped "run path $RP: skipped \\(realm purge failed\\)" "$out"
  t_match stuck-error 'uninstall incomplete: 1 realm\(s\) could not be purged' "$out"
  t_ok stuck-run-path-kept test -d "$RP"
  t_ok stuck-group-kept getent group "$KUKEON_GROUP"
  t_ok stuck-unit-kept test -f "$UNITS/kukeond.service"
  chattr -i "$STUCK"
  # A kukeond started by hand (not the cell) on the run path is stopped too.
  t_start_daemon "$RP" || echo "not ok - $T_NAME/hand-daemon-start"
  out=$(KUKEOND_SOCKET="$T_TMP/kukeond.sock" k uninstall -y); rc=$?
  t_eq unstuck-exit 0 "$rc"
  t_match hand-daemon-stopped "kukeond \\(pid $DPID, not the kukeond cell\\) stopped" "$out"
  t_fail hand-daemon-gone kill -0 "$DPID"
  t_fail hand-daemon-socket-gone test -e "$T_TMP/kukeond.sock"
  t_fail unstuck-run-path-gone test -e "$RP"
  t_fail unstuck-group-gone getent group "$KUKEON_GROUP"
else
  echo "ok - $T_NAME/stuck # skip: chattr +i not supported on $T_TMP"
fi
t_eq end-no-cgroups 0 "$(cgroup_dirs)"
t_eq end-no-mounts 0 "$(mounts_under_tmp)"
