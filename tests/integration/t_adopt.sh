#!/usr/bin/env bash
# Workloads outlive the daemon (issue 19.2).  kukeond runs in a cgroup of its
# own (as in the kukeond cell); three cells are started through it; then
# every process of the daemon's cgroup is killed the way runc kills a
# container (cgroup.kill on cgroup2, SIGKILL to each pid of cgroup.procs in
# every v1 hierarchy).  The containers and their monitors keep running, an
# exit during the gap is recorded, and the next daemon adopts all three.
# Then the same after a SIGKILL to the daemon's process group (its session),
# and the cells' deletes take their cgroups, monitors' leaf included, from
# every hierarchy.
. "$(dirname "$0")/lib.sh"
command -v runc >/dev/null || { echo "skip - $T_NAME: runc not installed"; exit 0; }
command -v findmnt >/dev/null || { echo "skip - $T_NAME: findmnt not installed"; exit 0; }
RP="$T_TMP/run"
SOCK="$T_TMP/kukeond.sock"
export KUKEON_HOST="unix://$SOCK"
unset KUKEON_RUN_PATH
local_kuke() { KUKEON_RUN_PATH="$RP" KUKEON_RUNTIME_DIR="$T_TMP" "$KUKE" "$@"; }
ROOT=${KUKEON_CGROUP_ROOT#/}
CELLS="a1 a2 a3"

# Every cgroup hierarchy of the host: the cgroup2 mount and each v1 one.
HIER=$(findmnt -n -l -t cgroup,cgroup2 -o TARGET)
# The daemon's cgroup, under the test's root, in every hierarchy (cpuset's
# cpus and mems copied down: an empty cpuset takes no process).  Made after
# `kuke init` created (and marked) the root in the cgroup2 tree.
daemon_cgroup() {
  local h d p f
  for h in $HIER; do
    p=$h
    for d in "$ROOT" "$ROOT/kkt-daemon"; do
      mkdir -p "$h/$d" || return 1
      for f in cpuset.cpus cpuset.mems; do
        [ -e "$h/$d/$f" ] && [ -z "$(tr -d ' \n' <"$h/$d/$f")" ] && cat "$p/$f" >"$h/$d/$f"
      done
      p=$h/$d
    done
  done
}
# kukeond in a session of its own (setsid: not a group leader here, so it
# execs in place and DPID stays the daemon's pid), moved into its cgroup
# before anything is asked of it.
daemon_up() {
  T_DAEMON_WRAP=setsid t_start_daemon "$RP" --reconcile-interval 0 || return 1
  for h in $HIER; do echo "$DPID" >"$h/$ROOT/kkt-daemon/cgroup.procs" || return 1; done
}
# What runc does to a container's cgroup on `kill --all`, or on a stop.
kill_daemon_cgroup() {
  local h p
  for h in $HIER; do
    if [ -e "$h/$ROOT/kkt-daemon/cgroup.kill" ]; then
      echo 1 >"$h/$ROOT/kkt-daemon/cgroup.kill"
    else
      for p in $(cat "$h/$ROOT/kkt-daemon/cgroup.procs"); do kill -9 "$p" 2>/dev/null; done
    fi
  done
  { wait "$DPID"; } 2>/dev/null
}
t_cleanup_add 'for h in $HIER; do for p in $(cat "$h/$ROOT/kkt-daemon/cgroup.procs" 2>/dev/null); do kill -9 $p; done; done'

bdir() { echo "$T_TMP"/bundles/*/*_"$1"_w; }
ctr_pid() { cat "$(bdir "$1")/pid"; }
mon_pid() { cat "$(bdir "$1")/monitor.pid"; }
alive() { [ -n "$1" ] && kill -0 "$1" 2>/dev/null && ! grep -qs '^State:.*zombie' "/proc/$1/status"; }
all_alive() { # what: ctr_pid or mon_pid; cells (default: all)
  local c what=$1; shift
  for c in ${*:-$CELLS}; do alive "$($what "$c")" || { echo "$c: $what $($what "$c") gone"; return 1; }; done
}
# The lines of /proc/<pid>/cgroup that do not end in the cell's monitor leaf.
outside_leaf() { grep -v ":$KUKEON_CGROUP_ROOT/default/default/default/$2/kukeon-monitors\$" "/proc/$1/cgroup"; }
wait_file() { local _; for _ in $(seq 100); do [ -e "$1" ] && return 0; sleep 0.1; done; return 1; }

local_kuke init >/dev/null || echo "not ok - $T_NAME/init"
t_load_busybox "$RP" || echo "not ok - $T_NAME/busybox-image"
t_ok daemon-cgroup daemon_cgroup
daemon_up; t_eq daemon-up 0 $?
for c in $CELLS; do
  code=0; [ "$c" = a3 ] && code=7
  t_cell "$c" "    - {id: w, image: docker.io/library/busybox:latest, command: /bin/sh, args: [-c, \"trap 'exit $code' TERM; sleep 3600 & wait\"]}"
  t_ok "apply-$c" "$KUKE" apply -f "$T_TMP/$c.yaml"
done
for c in $CELLS; do
  t_eq "monitor-in-leaf-$c" "" "$(outside_leaf "$(mon_pid "$c")" "$c")"
  t_fail "monitor-own-session-$c" test "$(ps -o sid= -p "$(mon_pid "$c")" | tr -d ' ')" = "$DPID"
done

# --- the daemon's cgroup killed: workloads stay, one exits in the gap ----
kill_daemon_cgroup 2>/dev/null
t_fail daemon-gone alive "$DPID"
t_ok containers-survive-cgroup-kill all_alive ctr_pid
t_ok monitors-survive-cgroup-kill all_alive mon_pid
kill -TERM "$(ctr_pid a3)"
t_ok exit-recorded-in-gap wait_file "$(bdir a3)/exit"
daemon_up; t_eq daemon-again 0 $?
out=$("$KUKE" get cells 2>&1)
t_match adopted-a1 '^a1 .* Ready ' "$out"
t_match adopted-a2 '^a2 .* Ready ' "$out"
t_match adopted-a3 '^a3 ' "$out"
out=$("$KUKE" get containers --cell a3 -o wide 2>&1)
t_match exit-of-gap-adopted '^w .* Error .* 7/' "$out"
t_ok still-running all_alive mon_pid a1 a2

# --- a SIGKILL to the daemon's process group / session -------------------
{ kill -KILL -- "-$DPID"; wait "$DPID"; } 2>/dev/null
t_ok monitors-survive-group-kill all_alive mon_pid a1 a2
daemon_up; t_eq daemon-third 0 $?
out=$("$KUKE" get cells 2>&1)
t_match adopted-again '^a1 .* Ready ' "$out"

# --- deletes take the cells' cgroups, monitors' leaf included ------------
# (and a cell whose container never started: its monitor left at once)
t_cell bad "    - {id: w, image: docker.io/library/busybox:latest, command: /nope}"
t_fail start-fails "$KUKE" apply -f "$T_TMP/bad.yaml"
"$KUKE" delete cell bad >/dev/null 2>&1
for c in $CELLS; do t_ok "delete-$c" "$KUKE" delete cell "$c"; done
left=$(for h in $HIER; do ls -d "$h/$ROOT"/default/default/default/{a?,bad} 2>/dev/null; done)
t_eq no-cell-cgroup-left "" "$left"
t_eq no-monitor-left "" "$(pgrep -f "^kukeon-monitor .*$T_TMP/")"
kill -TERM "$DPID"; wait "$DPID" 2>/dev/null
