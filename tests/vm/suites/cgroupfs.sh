#!/usr/bin/env bash
# cgroupfs on a real unified cgroup v2 kernel (the VM lane: tests/vm/run cgroupfs).
#   - the kukeon tree (realm/space/stack/cell) with cpu/io/memory/pids delegated at
#     every level, every level marked as kukeon's
#   - limits written at every level and read back from the kernel; rounding reported;
#     out-of-range values refused before writing; a kernel refusal named exactly
#   - a cell with memory.max 8 MiB: a process allocating more is OOM-killed and
#     memory.events shows it
#   - a cell with pids.max 5: the 6th task cannot be forked
#   - a space memory.max caps the sum of two cells (control run without the cap first)
#   - stats aggregated by the kernel; freeze/thaw; kill
#   - runc puts a container under a kukeon cell, with the container limits and the
#     cpu.shares -> cpu.weight conversion kukeon predicts
#   - foreign cgroups are refused; removal leaves no cgroup behind
# Uses tests/helpers/kk-cgtool (the cgroupfs API) until the CLI wires it.
set -u
here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/../../.." && pwd)
export BUILD=${BUILD:-$src/build}
N=cgroupfs-vm
if [ "$(stat -f -c %T /sys/fs/cgroup 2>/dev/null)" != cgroup2fs ]; then
  echo "skip - $N: needs a unified cgroup v2 host (run it with tests/vm/run cgroupfs)"
  exit 0
fi
if [ "$(id -u)" != 0 ]; then echo "skip - $N: needs root"; exit 0; fi
# shellcheck source=../../integration/lib.sh
. "$src/tests/integration/lib.sh"
T_NAME=$N

TOOL="$BUILD/tests/helpers/kk-cgtool"
R=$KUKEON_CGROUP_ROOT
M=/sys/fs/cgroup
C="$M$R"
T_FAILS=0
pass() { echo "ok - $T_NAME/$1"; }
fail() {
  local n=$1; shift
  echo "not ok - $T_NAME/$n"; T_FAILS=$((T_FAILS + 1))
  [ $# -gt 0 ] && printf '%s\n' "$@" | sed 's/^/    # /'
  return 0
}
for f in t_ok t_fail t_eq t_match; do # count failures for the exit status
  eval "_orig_$f() $(declare -f $f | sed 1d)"
  eval "$f() { local o; o=\$(_orig_$f \"\$@\"); printf '%s\n' \"\$o\"; case \$o in 'not ok'*) T_FAILS=\$((T_FAILS + 1));; esac; }"
done
cg() { "$TOOL" "$@"; }
BG=()
t_cleanup_add 'for p in "${BG[@]}"; do kill -9 "$p"; done; "$TOOL" remove / --kill'
if [ ! -x "$TOOL" ]; then fail tool "no $TOOL (make unit-bins)"; exit 1; fi
# Every cgroup on the machine before the test: compared at the end.
find "$M" -type d | sort >"$T_TMP/cgroups.before"

# wait_for FILE REGEX [SECONDS]
wait_for() {
  local i
  for ((i = 0; i < ${3:-60} * 10; i++)); do
    grep -Eq -- "$2" "$1" 2>/dev/null && return 0
    sleep 0.1
  done
  return 1
}
ctl_has_all() { # FILE: has cpu io memory pids
  local w=" $(cat "$1") " c
  for c in cpu io memory pids; do case "$w" in *" $c "*) ;; *) return 1 ;; esac; done
}

# ------------------------------------------------------------------ detection, doctor
out=$(cg detect)
t_match detect-unified '^mode: unified' "$out"
t_match detect-mount '(^|\n)mountpoint: /sys/fs/cgroup' "$out"
ctl=$(printf '%s\n' "$out" | sed -n 's/^controllers: //p')
miss=; for c in cpu io memory pids; do case " $ctl " in *" $c "*) ;; *) miss="$miss $c" ;; esac; done
[ -z "$miss" ] && pass detect-controllers || fail detect-controllers "missing:$miss" "$out"

out=$(cg doctor 2>&1); rc=$?
t_eq doctor-exit-0 0 "$rc"
if printf '%s\n' "$out" | grep -q '^FAIL'; then fail doctor-no-fail "$out"; else pass doctor-no-fail; fi
t_match doctor-mode-pass '^PASS +cgroups/mode +unified' "$out"
n=$(printf '%s\n' "$out" | grep -Ec '^PASS +cgroups/controller/(cpu|io|memory|pids) ')
t_eq doctor-controllers-pass 4 "$n"

# ------------------------------------------------------------------ the tree
out=$(cg ensure realm/space/stack/cell-a) || fail ensure-cell-a "$out"
t_match ensure-created-top-down "created: $R $R/realm $R/realm/space $R/realm/space/stack $R/realm/space/stack/cell-a" "$out"
t_match ensure-subtree-controllers '^subtree: .*' "$out"
if printf '%s\n' "$out" | grep -q '^warning'; then fail ensure-no-warnings "$out"; else pass ensure-no-warnings; fi
cg ensure realm/space/stack/cell-b >/dev/null
bad=
for l in "" /realm /realm/space /realm/space/stack /realm/space/stack/cell-a; do
  ctl_has_all "$C$l/cgroup.subtree_control" || bad="$bad $R$l($(cat "$C$l/cgroup.subtree_control"))"
done
[ -z "$bad" ] && pass subtree-controllers-every-level || fail subtree-controllers-every-level "$bad"
bad=
for l in / realm realm/space realm/space/stack realm/space/stack/cell-a; do
  [ "$(cg exists "$l")" = owned ] || bad="$bad $l"
done
[ -z "$bad" ] && pass marker-every-level || fail marker-every-level "not marked:$bad"
out=$(cg ensure realm/space/stack/cell-a)
t_match ensure-idempotent '^created:$' "$out"

# ------------------------------------------------------------------ limits at every level
# level limits: memory_max memory_high cpu_weight cpu_quota cpu_period pids_max io_weight
declare -A LIM=(
  [realm]="1073741824 805306368 300 150000 100000 500 300"
  [realm/space]="536870912 402653184 200 100000 100000 200 200"
  [realm/space/stack]="268435456 201326592 150 75000 50000 100 150"
  [realm/space/stack/cell-a]="134217728 100663296 50 20000 100000 50 50"
)
for l in realm realm/space realm/space/stack realm/space/stack/cell-a; do
  read -r mm mh cw cq cp pm iw <<<"${LIM[$l]}"
  out=$(cg limits "$l" memory_max=$mm memory_high=$mh cpu_weight=$cw cpu_quota=$cq \
    cpu_period=$cp pids_max=$pm io_weight=$iw 2>&1); rc=$?
  [ "$rc" = 0 ] || fail "limits-apply/$l" "exit $rc" "$out"
  n=$(printf '%s\n' "$out" | grep -c ': applied')
  t_eq "limits-all-applied/$l" 6 "$n"
  want="$mm $mh $cw $cq $cp $pm default $iw"
  got="$(cat "$C/$l/memory.max") $(cat "$C/$l/memory.high") $(cat "$C/$l/cpu.weight") $(cat "$C/$l/cpu.max") $(cat "$C/$l/pids.max") $(head -n 1 "$C/$l/io.weight")"
  t_eq "limits-kernel-readback/$l" "$want" "$got"
  got=$(cg read-limits "$l" | tr '\n' ' ')
  t_eq "limits-read-limits/$l" "memory_max=$mm memory_high=$mh cpu_weight=$cw cpu_quota=$cq cpu_period=$cp pids_max=$pm io_weight=$iw " "$got"
done
# memory.max is kept in pages: the report says so.
out=$(cg limits realm/space/stack/cell-b memory_max=10000001 2>&1); rc=$?
t_eq limits-rounding-exit 0 "$rc"
t_match limits-rounding-reported 'memoryMaxBytes \(memory.max\) = 10000001: adjusted to 9998336 \(.*page size' "$out"
t_eq limits-rounding-kernel 9998336 "$(cat "$C/realm/space/stack/cell-b/memory.max")"
# Out of range: refused before anything is written.
before=$(cat "$C/realm/space/stack/cell-b/cpu.weight" "$C/realm/space/stack/cell-b/memory.high")
out=$(cg limits realm/space/stack/cell-b memory_high=4096000 cpu_weight=0 2>&1); rc=$?
t_eq limits-invalid-exit 1 "$rc"
t_match limits-invalid-names-field 'cpuWeight: 0 is out of range 1\.\.10000' "$out"
t_eq limits-invalid-changes-nothing "$before" "$(cat "$C/realm/space/stack/cell-b/cpu.weight" "$C/realm/space/stack/cell-b/memory.high")"
# The kernel refuses pids.max beyond PID_MAX_LIMIT: reported with the setting and the reason.
out=$(cg limits realm/space/stack/cell-b pids_max=5000000 cpu_weight=77 2>&1); rc=$?
t_eq limits-kernel-refusal-exit 1 "$rc"
t_match limits-kernel-refusal-named 'pidsMax \(pids\.max\) = 5000000: the kernel refused it: Invalid argument' "$out"
t_match limits-kernel-refusal-others-applied 'cpuWeight \(cpu\.weight\) = 77: applied' "$out"
t_eq limits-kernel-refusal-kept max "$(cat "$C/realm/space/stack/cell-b/pids.max")"
cg limits realm/space/stack/cell-b memory_max=max >/dev/null
t_eq limits-max-resets max "$(cat "$C/realm/space/stack/cell-b/memory.max")"

out=$(cg container-check realm/space/stack/cell-a memory=33554432 shares=512 pids=16); rc=$?
t_eq container-limits-enforceable 0 "$rc"
t_match container-shares-weight 'cpuShares \(cpu\.weight\) = shares 512 -> weight 20: applied' "$out"

# ------------------------------------------------------------------ OOM in a cell
cg ensure realm/space/stack/cell-oom >/dev/null
cg limits realm/space/stack/cell-oom memory_max=8388608 >/dev/null
echo 0 >"$C/realm/space/stack/cell-oom/memory.swap.max" 2>/dev/null # no swap escape
out=$(cg exec realm/space/stack/cell-oom/job -- "$TOOL" alloc 64 2>&1); rc=$?
t_eq oom-killed-137 137 "$rc"
ev=$(cg events realm/space/stack/cell-oom)
k=$(printf '%s\n' "$ev" | sed -n 's/^oom_kill=//p')
[ "${k:-0}" -ge 1 ] && pass oom-memory-events || fail oom-memory-events "$ev"
last=$(printf '%s\n' "$out" | grep -c '^allocated')
[ "$last" -ge 1 ] && [ "$last" -lt 8 ] && pass "oom-before-8MiB ($last MiB)" || fail oom-before-8MiB "$out"
out=$(cg stats realm/space/stack/cell-oom)
t_match oom-stats '(^|\n)oom_kills=[1-9]' "$out"

# ------------------------------------------------------------------ pids.max 5
cg ensure realm/space/stack/cell-pids >/dev/null
cg limits realm/space/stack/cell-pids pids_max=5 >/dev/null
# The forker is task 1; forks 1..4 make tasks 2..5; fork 5 (the 6th task) must fail.
out=$(cg exec realm/space/stack/cell-pids/job -- "$TOOL" forks 10 2>&1); rc=$?
t_eq pids-exit-1 1 "$rc"
t_match pids-6th-task-refused 'fork 5 failed: Resource temporarily unavailable' "$out"
t_match pids-4-forks 'forked 4 of 10' "$out"
# Kernels before 6.12 count the event in the forking task's cgroup (the leaf),
# newer ones in the cgroup whose limit was hit (the cell).
maxev=$(cat "$C/realm/space/stack/cell-pids/pids.events" "$C/realm/space/stack/cell-pids/job/pids.events" |
  awk '$1 == "max" {n += $2} END {print n + 0}')
[ "$maxev" -ge 1 ] && pass pids-events-max || fail pids-events-max "pids.events max (cell + leaf) = $maxev"

# ------------------------------------------------------------------ a space caps two cells
cg ensure realm/capped/stack/c1 >/dev/null && cg ensure realm/capped/stack/c2 >/dev/null
for c in c1 c2; do echo 0 >"$C/realm/capped/stack/$c/memory.swap.max" 2>/dev/null; done
run_pair() { # -> "<c1 status> <c2 status>"; c1 holds 32 MiB, then c2 allocates 32 MiB
  local log=$T_TMP/hold.$1 st1 st2
  cg exec realm/capped/stack/c1/job -- "$TOOL" alloc 32 --hold >"$log" 2>&1 &
  local p=$!
  BG+=("$p")
  wait_for "$log" '^holding' 60 || { echo "c1-did-not-hold"; kill -9 $p; return; }
  cg exec realm/capped/stack/c2/job -- "$TOOL" alloc 32 >/dev/null 2>&1
  st2=$?
  if kill -0 "$p" 2>/dev/null; then st1=alive; cg kill realm/capped/stack/c1; fi
  wait "$p"; local w=$?
  [ "${st1:-}" = alive ] || st1=$w
  echo "$st1 $st2"
}
# Control: without a cap both fit (the VM has far more than 64 MiB).
out=$(run_pair nocap)
t_eq space-cap-control-both-fit "alive 0" "$out"
cg limits realm/capped memory_max=50331648 >/dev/null
echo 0 >"$C/realm/capped/memory.peak" 2>/dev/null # reset the peak (kernels >= 6.12); harmless otherwise
out=$(run_pair cap)
case "$out" in
  "137 0" | "alive 137" | "137 137") pass "space-cap-oom-kills-a-cell ($out)" ;;
  *) fail space-cap-oom-kills-a-cell "c1/c2 status: $out (want one of them 137)" ;;
esac
k=$(awk '$1 == "oom_kill" {print $2}' "$C/realm/capped/memory.events")
[ "${k:-0}" -ge 1 ] && pass space-cap-memory-events || fail space-cap-memory-events "$(cat "$C/realm/capped/memory.events")"
# No cell has a limit of its own: the space did it.
t_eq space-cap-cells-unlimited "max max" "$(cat "$C/realm/capped/stack/c1/memory.max") $(cat "$C/realm/capped/stack/c2/memory.max")"

# ------------------------------------------------------------------ stats, freeze, kill
log=$T_TMP/hold.stats
cg exec realm/capped/stack/c1/job -- "$TOOL" alloc 16 --hold >"$log" 2>&1 &
BG+=($!)
if wait_for "$log" '^holding' 60; then
  sc=$(cg stats realm/capped/stack/c1) ss=$(cg stats realm/capped) sr=$(cg stats realm)
  v() { printf '%s\n' "$1" | sed -n "s/^$2=//p"; }
  [ "$(v "$sc" memory_current)" -ge 16777216 ] && pass stats-cell-memory || fail stats-cell-memory "$sc"
  [ "$(v "$ss" memory_current)" -ge "$(v "$sc" memory_current)" ] && [ "$(v "$sr" memory_current)" -ge "$(v "$ss" memory_current)" ] &&
    pass stats-memory-aggregated || fail stats-memory-aggregated "cell: $sc" "space: $ss" "realm: $sr"
  [ "$(v "$sc" pids_current)" -ge 1 ] && [ "$(v "$sr" pids_current)" -ge "$(v "$sc" pids_current)" ] &&
    pass stats-pids || fail stats-pids "$sc" "$sr"
  [ "$(v "$sc" cpu_usage_usec)" -gt 0 ] && pass stats-cpu || fail stats-cpu "$sc"
  t_ok freeze cg freeze realm/capped/stack/c1
  t_match freeze-frozen 'frozen 1' "$(cat "$C/realm/capped/stack/c1/cgroup.events")"
  t_ok thaw cg thaw realm/capped/stack/c1
  t_match thaw-thawed 'frozen 0' "$(cat "$C/realm/capped/stack/c1/cgroup.events")"
  t_eq populated-1 1 "$(cg populated realm)"
  pids=$(cg procs realm -r | tr '\n' ' ')
  [ -n "$pids" ] && pass procs-recursive || fail procs-recursive "no pids under realm"
  # Removal refuses a populated subtree and changes nothing.
  t_fail remove-populated-refused cg remove realm/capped
  [ -d "$C/realm/capped/stack/c1/job" ] && pass remove-populated-changes-nothing || fail remove-populated-changes-nothing
  t_ok kill cg kill realm/capped/stack/c1
  sleep 0.3
  t_eq killed-unpopulated 0 "$(cg populated realm/capped)"
else
  fail stats-holder "$(cat "$log")"
fi

# ------------------------------------------------------------------ runc under a cell
B=$T_TMP/bundle
ID=kk-cgvm-$$
RUNC_ROOT=$T_TMP/runc
t_cleanup_add "runc --root '$RUNC_ROOT' delete -f $ID"
mkdir -p "$B/rootfs/bin" "$B/rootfs/proc" "$B/rootfs/sys" "$B/rootfs/dev" "$B/rootfs/tmp"
cp /bin/busybox "$B/rootfs/bin/busybox"
rv=$(runc --version | sed -n 's/^runc version \([0-9]*\)\.\([0-9]*\).*/\1 \2/p')
formula=linear
read -r maj min <<<"$rv"
{ [ "${maj:-1}" -gt 1 ] || [ "${min:-0}" -ge 4 ]; } && formula=quadratic # runc >= 1.4
want_w=$(cg shares 512 $formula)
(cd "$B" && runc spec) && jq --arg cgp "$R/realm/space/stack/cell-a/ctr" '.process.terminal = false
  | .process.args = ["/bin/busybox", "sh", "-c", "cat /sys/fs/cgroup/memory.max /sys/fs/cgroup/pids.max /sys/fs/cgroup/cpu.weight; exec /bin/busybox sleep 60"]
  | .linux.resources.memory = {"limit": 33554432} | .linux.resources.pids = {"limit": 16}
  | .linux.resources.cpu = {"shares": 512}
  | .linux.cgroupsPath = $cgp' "$B/config.json" >"$B/c.json" && mv "$B/c.json" "$B/config.json"
if runc --root "$RUNC_ROOT" run -d --bundle "$B" "$ID" >"$T_TMP/runc.out" 2>&1 </dev/null; then
  wait_for "$T_TMP/runc.out" '^[0-9]+$' 20
  sleep 0.5
  got=$(grep -E '^[0-9]+|^max' "$T_TMP/runc.out" | tr '\n' ' ')
  t_eq runc-container-limits "33554432 16 $want_w " "$got"
  t_eq runc-ctr-under-cell 33554432 "$(cat "$C/realm/space/stack/cell-a/ctr/memory.max" 2>&1)"
  t_eq runc-cpu-weight-as-predicted "$want_w" "$(cat "$C/realm/space/stack/cell-a/ctr/cpu.weight" 2>&1)"
  t_eq runc-cell-populated 1 "$(cg populated realm/space/stack/cell-a)"
  # Deleting the cell with its container still running: refused, then with kill.
  t_fail remove-cell-running-refused cg remove realm/space/stack/cell-a
  t_ok remove-cell-kill cg remove realm/space/stack/cell-a --kill
  [ ! -e "$C/realm/space/stack/cell-a" ] && pass remove-cell-gone || fail remove-cell-gone "$(ls "$C/realm/space/stack/cell-a" 2>&1)"
  runc --root "$RUNC_ROOT" delete -f "$ID" >/dev/null 2>&1
else
  fail runc-run "$(cat "$T_TMP/runc.out")"
fi

# ------------------------------------------------------------------ heal, foreign, removal
out=$(cg ensure realm/space/stack/cell-a)
t_eq heal-recreates-missing "created: $R/realm/space/stack/cell-a" "$(printf '%s\n' "$out" | head -n 1)"
ctl_has_all "$C/realm/space/stack/cell-a/cgroup.subtree_control" && pass heal-controllers || fail heal-controllers
mkdir "$C/realm/foreign"
out=$(cg remove realm 2>&1); rc=$?
t_eq foreign-remove-refused 2 "$rc"
t_match foreign-named "cgroup $C/realm/foreign exists but was not created by kukeon" "$out"
[ -d "$C/realm/space/stack/cell-a" ] && pass foreign-refusal-changes-nothing || fail foreign-refusal-changes-nothing
t_fail foreign-ensure-refused cg ensure realm/foreign
t_fail foreign-limits-refused cg limits realm/foreign memory_max=1000000
rmdir "$C/realm/foreign"
t_ok remove-realm cg remove realm --kill
[ ! -e "$C/realm" ] && pass remove-realm-gone || fail remove-realm-gone
t_ok remove-root cg remove /
[ ! -e "$C" ] && pass remove-root-gone || fail remove-root-gone
find "$M" -type d | sort >"$T_TMP/cgroups.after"
if diff "$T_TMP/cgroups.before" "$T_TMP/cgroups.after" >"$T_TMP/cgroups.diff"; then
  pass nothing-left-behind
else
  fail nothing-left-behind "$(cat "$T_TMP/cgroups.diff")"
fi
[ "$T_FAILS" -eq 0 ]
