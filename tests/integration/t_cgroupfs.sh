#!/usr/bin/env bash
# cgroupfs on this host (hybrid on the project's machines; also runs on unified):
#   detection (never the tmpfs), the tree under a unique root with kukeon's marker,
#   process membership, limits reported as not enforced on hybrid (nothing written),
#   runc enforcing container limits through cgroup v1 with the container under a
#   kukeon cell, freeze/thaw/kill, refusals (populated, foreign, bad names/roots),
#   removal that leaves nothing behind — in the cgroup2 tree and in the v1 mirrors.
# Uses tests/helpers/kk-cgtool (the cgroupfs API) until the CLI wires it.
set -u
. "$(dirname "$0")/lib.sh"
TOOL="$BUILD/tests/helpers/kk-cgtool"
R=$KUKEON_CGROUP_ROOT
BG=()
# If a failure left cgroups kukeon refuses (e.g. made by runc without the marker):
# this test's unique root, empty directories only, in every hierarchy.
t_cleanup_add 'for d in /sys/fs/cgroup/*"$R" /sys/fs/cgroup/unified"$R"; do [ -d "$d" ] && find "$d" -depth -type d -exec rmdir {} +; done'
# (cleanups run last-added first: kukeon's own removal runs before the fallback)
t_cleanup_add 'for p in "${BG[@]}"; do kill -9 "$p"; done; "$TOOL" remove / --kill'
cg() { "$TOOL" "$@"; }
pass() { echo "ok - $T_NAME/$1"; }
fail() { local n=$1; shift; echo "not ok - $T_NAME/$n"; [ $# -gt 0 ] && printf '%s\n' "$@" | sed 's/^/    # /'; return 0; }
wait_for() { # FILE REGEX [SECONDS]
  local i
  for ((i = 0; i < ${3:-30} * 10; i++)); do grep -Eq -- "$2" "$1" 2>/dev/null && return 0; sleep 0.1; done
  return 1
}
if [ ! -x "$TOOL" ]; then fail tool "no $TOOL (make unit-bins)"; exit 0; fi

# ------------------------------------------------------------------ detection
out=$(cg detect)
mode=$(printf '%s\n' "$out" | sed -n 's/^mode: //p')
M=$(printf '%s\n' "$out" | sed -n 's/^mountpoint: //p')
C="$M$R"
base_fs=$(stat -f -c %T /sys/fs/cgroup)
case "$base_fs" in
  cgroup2fs) t_eq detect-mode unified "$mode"; t_eq detect-mount /sys/fs/cgroup "$M" ;;
  tmpfs)
    if [ "$(stat -f -c %T /sys/fs/cgroup/unified 2>/dev/null)" = cgroup2fs ]; then
      t_eq detect-mode hybrid "$mode"; t_eq detect-mount /sys/fs/cgroup/unified "$M"
    else
      t_eq detect-mode legacy "$mode"
      echo "skip - $T_NAME: legacy host, no cgroup2 tree to test"; exit 0
    fi ;;
  *) fail detect-mode "unexpected /sys/fs/cgroup type $base_fs: $out"; exit 0 ;;
esac
t_eq detect-mount-is-cgroup2 cgroup2fs "$(stat -f -c %T "$M")"
printf '1 2 3\n' >"$T_TMP/bad-mountinfo"
out=$(cg --mountinfo "$T_TMP/bad-mountinfo" detect 2>&1); rc=$?
t_eq detect-bad-mountinfo-exit 2 "$rc"
t_match detect-bad-mountinfo-message 'mountinfo line 1: malformed' "$out"

out=$(cg doctor 2>&1); rc=$?
t_eq doctor-exit-0 0 "$rc"
if [ "$mode" = hybrid ]; then
  t_match doctor-hybrid-warn '^WARN +cgroups/mode +hybrid' "$out"
  t_match doctor-says-not-enforced 'WARN +cgroups/not-enforced +.*memoryMaxBytes' "$out"
  t_match doctor-says-runc-enforces 'PASS +cgroups/enforced +.*container memoryLimitBytes' "$out"
fi

# ------------------------------------------------------------------ the tree
t_fail root-slash-refused cg --root / ensure r
t_fail root-relative-refused cg --root kukeon ensure r
t_fail name-interface-file-refused cg ensure r/memory.max
t_fail name-dotdot-refused cg ensure r/../x
t_fail name-absolute-rel-refused cg ensure /r
[ ! -e "$C" ] && pass refusals-create-nothing || fail refusals-create-nothing "$(ls "$C")"

out=$(cg ensure r/s/t/c)
t_eq ensure-created "created: $R $R/r $R/r/s $R/r/s/t $R/r/s/t/c" "$(printf '%s\n' "$out" | head -n 1)"
[ -d "$C/r/s/t/c" ] && [ -e "$C/r/s/t/c/cgroup.procs" ] && pass tree-is-cgroup2 || fail tree-is-cgroup2 "$(ls "$C/r/s/t/c" 2>&1)"
if [ "$mode" = hybrid ]; then
  [ ! -e "/sys/fs/cgroup$R" ] && pass nothing-on-the-tmpfs || fail nothing-on-the-tmpfs "/sys/fs/cgroup$R exists"
fi
bad=
for l in / r r/s r/s/t r/s/t/c; do [ "$(cg exists "$l")" = owned ] || bad="$bad $l"; done
[ -z "$bad" ] && pass marker-every-level || fail marker-every-level "$bad"
t_eq ensure-idempotent "created:" "$(cg ensure r/s/t/c | head -n 1)"
t_eq children "c" "$(cg children r/s/t)"

# ------------------------------------------------------------------ membership
out=$(cg exec r/s/t/c/leaf -- cat /proc/self/cgroup)
t_match exec-membership "^0::$R/r/s/t/c/leaf\$" "$(printf '%s\n' "$out" | grep '^0::')"
cg exec r/s/t/c/leaf -- sleep 300 &
BG+=($!)
for i in $(seq 50); do [ -n "$(cg procs r/s/t/c/leaf)" ] && break; sleep 0.1; done
spid=$(cg procs r/s/t/c/leaf | head -n 1)
t_match procs-leaf '^[0-9]+$' "$spid"
t_match procs-recursive-from-realm "(^|\n)$spid(\n|\$)" "$(cg procs r -r)"
t_eq procs-not-recursive "" "$(cg procs r)"
t_eq populated-realm 1 "$(cg populated r)"
t_match pid-cgroup-file "0::$R/r/s/t/c/leaf" "$(cat "/proc/$spid/cgroup" 2>&1)"

# ------------------------------------------------------------------ limits
before=$(ls "$C/r/s")
out=$(cg limits r/s memory_max=67108864 cpu_weight=200 pids_max=50 2>&1); rc=$?
if [ "$mode" = hybrid ]; then
  t_eq limits-hybrid-warning-exit 3 "$rc"
  t_eq limits-hybrid-each-not-enforced 3 "$(printf '%s\n' "$out" | grep -c ': not enforced (hybrid cgroups')"
  t_eq limits-hybrid-writes-nothing "$before" "$(ls "$C/r/s")"
else
  t_eq limits-unified-exit 0 "$rc"
fi
out=$(cg limits r/s cpu_weight=0 2>&1); rc=$?
t_eq limits-invalid-exit 1 "$rc"
t_match limits-invalid-message 'spec.resources.cpuWeight: 0 is out of range 1\.\.10000' "$out"
out=$(cg container-check r/s/t/c memory=33554432 shares=512 pids=16); rc=$?
t_eq container-limits-enforced 0 "$rc"
[ "$mode" = hybrid ] && t_match container-limits-by-runc-v1 'memoryLimitBytes \(memory.limit_in_bytes\) = 33554432: applied \(runc writes it in the cgroup v1 memory hierarchy' "$out"

out=$(cg stats r)
t_match stats-cpu '(^|\n)cpu_usage_usec=[0-9]+' "$out"

# ------------------------------------------------------------------ freeze, kill
t_ok freeze cg freeze r/s/t/c
t_match frozen 'frozen 1' "$(cat "$C/r/s/t/c/cgroup.events")"
t_match sleeper-stopped '^State:.*(stopped|sleeping)' "$(grep ^State "/proc/$spid/status" 2>&1)"
t_ok thaw cg thaw r/s/t/c
t_match thawed 'frozen 0' "$(cat "$C/r/s/t/c/cgroup.events")"
t_fail remove-populated-refused cg remove r
[ -d "$C/r/s/t/c/leaf" ] && pass remove-refusal-changes-nothing || fail remove-refusal-changes-nothing
t_ok kill cg kill r/s/t/c
for i in $(seq 50); do [ "$(cg populated r)" = 0 ] && break; sleep 0.1; done
t_eq killed-unpopulated 0 "$(cg populated r)"
[ ! -e "/proc/$spid" ] || [ "$(awk '/^State/ {print $2}' "/proc/$spid/status" 2>/dev/null)" = Z ] &&
  pass sleeper-dead || fail sleeper-dead "$(cat "/proc/$spid/status" 2>&1 | head -3)"

# ------------------------------------------------------------------ runc under a cell
if command -v runc >/dev/null && [ -x /bin/busybox ] && command -v jq >/dev/null; then
  B=$T_TMP/bundle ID=kk-cgt-$$ RUNC_ROOT=$T_TMP/runc
  t_cleanup_add "runc --root '$RUNC_ROOT' delete -f $ID"
  mkdir -p "$B/rootfs/bin" "$B/rootfs/proc" "$B/rootfs/sys" "$B/rootfs/dev" "$B/rootfs/tmp"
  cp /bin/busybox "$B/rootfs/bin/busybox"
  (cd "$B" && runc spec) && jq --arg cgp "$R/r/s/t/c/ctr" '.process.terminal = false
    | .process.args = ["/bin/busybox", "sleep", "60"]
    | .linux.resources.memory = {"limit": 33554432} | .linux.resources.pids = {"limit": 16}
    | .linux.resources.cpu = {"shares": 512}
    | .linux.cgroupsPath = $cgp' "$B/config.json" >"$B/c.json" && mv "$B/c.json" "$B/config.json"
  if runc --root "$RUNC_ROOT" run -d --bundle "$B" "$ID" >"$T_TMP/runc.out" 2>&1 </dev/null; then
    cpid=$(runc --root "$RUNC_ROOT" state "$ID" | jq -r .pid)
    t_match runc-ctr-in-kukeon-cell "(^|\n)$cpid(\n|\$)" "$(cg procs r/s/t/c/ctr)"
    if [ "$mode" = hybrid ]; then
      t_eq runc-v1-memory-limit 33554432 "$(cat "/sys/fs/cgroup/memory$R/r/s/t/c/ctr/memory.limit_in_bytes" 2>&1)"
      t_eq runc-v1-pids-limit 16 "$(cat "/sys/fs/cgroup/pids$R/r/s/t/c/ctr/pids.max" 2>&1)"
      t_eq runc-v1-cpu-shares 512 "$(cat "/sys/fs/cgroup/cpu$R/r/s/t/c/ctr/cpu.shares" 2>&1)"
      out=$(cg stats r/s/t/c)
      t_match stats-v1-fallback '(^|\n)memory_current=[1-9]' "$out"
    fi
    t_fail remove-running-refused cg remove r/s/t/c
    t_ok remove-cell-kill cg remove r/s/t/c --kill
    runc --root "$RUNC_ROOT" delete -f "$ID" >/dev/null 2>&1
    [ ! -e "$C/r/s/t/c" ] && pass remove-cell-gone || fail remove-cell-gone
    if [ "$mode" = hybrid ]; then
      left=$(ls -d /sys/fs/cgroup/*"$R"/r/s/t/c 2>/dev/null)
      [ -z "$left" ] && pass v1-mirrors-of-cell-removed || fail v1-mirrors-of-cell-removed "$left"
    fi
  else
    fail runc-run "$(cat "$T_TMP/runc.out")"
  fi
else
  echo "skip - $T_NAME/runc: runc, busybox or jq missing"
fi

# ------------------------------------------------------------------ foreign, removal
cg ensure r/s/t/c >/dev/null
mkdir "$C/r/s/foreign"
out=$(cg remove r 2>&1); rc=$?
t_eq foreign-refused 2 "$rc"
t_match foreign-named "$C/r/s/foreign exists but was not created by kukeon" "$out"
[ -d "$C/r/s/t/c" ] && pass foreign-changes-nothing || fail foreign-changes-nothing
t_fail foreign-ensure-refused cg ensure r/s/foreign
rmdir "$C/r/s/foreign"
t_ok remove-root cg remove /
[ ! -e "$C" ] && pass remove-root-gone || fail remove-root-gone
left=$(find /sys/fs/cgroup -maxdepth 3 -name "${R#/}" 2>/dev/null)
[ -z "$left" ] && pass nothing-left-behind || fail nothing-left-behind "$left"
t_ok remove-missing-is-fine cg remove r
