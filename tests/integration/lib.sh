# Sourced by tests/integration/t_*.sh.  Gives each test file a temp run path,
# a unique cgroup root name and helpers that print "ok - " / "not ok - ".
set -u
: "${BUILD:?BUILD must point at the build dir}"
KUKE="$BUILD/kuke"
KUKEOND="$BUILD/kukeond"
T_NAME=$(basename "$0" .sh)
T_TMP=$(mktemp -d "/tmp/kk-$T_NAME.XXXXXX")
export KUKEON_RUN_PATH_TEST="$T_TMP/run"
export HOME="$T_TMP/home"
mkdir -p "$HOME"
# Never the defaults: a unique cgroup root, a temp socket.
export KUKEON_CGROUP_ROOT="/kukeon-test-$$"
export KUKEOND_SOCKET="$T_TMP/kukeond.sock"
export KUKEON_HOST="unix://$T_TMP/kukeond.sock"
T_CLEANUPS=()
t_cleanup_add() { T_CLEANUPS+=("$*"); }
# Remove a cgroup tree (v2 and every v1 hierarchy), deepest first; only
# directories named by this test's unique root.
t_rm_cgroup_root() {
  local root=${1#/} d
  [ -n "$root" ] || return 0
  for d in /sys/fs/cgroup/"$root" /sys/fs/cgroup/*/"$root"; do
    [ -d "$d" ] && find "$d" -depth -type d -exec rmdir {} \; 2>/dev/null
  done
  return 0
}
t_cleanup() {
  local i
  for ((i = ${#T_CLEANUPS[@]} - 1; i >= 0; i--)); do eval "${T_CLEANUPS[$i]}" >/dev/null 2>&1 || true; done
  t_rm_cgroup_root "$KUKEON_CGROUP_ROOT"
  rm -rf "$T_TMP"
}
trap t_cleanup EXIT

# t_ok NAME CMD... : passes when CMD exits 0
t_ok() { local n=$1; shift; if out=$("$@" 2>&1); then echo "ok - $T_NAME/$n"; else echo "not ok - $T_NAME/$n"; printf '%s\n' "$out" | sed 's/^/    # /'; fi; }
# t_fail NAME CMD... : passes when CMD exits non-zero
t_fail() { local n=$1; shift; if out=$("$@" 2>&1); then echo "not ok - $T_NAME/$n (unexpected success)"; printf '%s\n' "$out" | sed 's/^/    # /'; else echo "ok - $T_NAME/$n"; fi; }
# t_eq NAME EXPECTED ACTUAL
t_eq() { if [ "$2" == "$3" ]; then echo "ok - $T_NAME/$1"; else echo "not ok - $T_NAME/$1"; diff <(printf '%s\n' "$2") <(printf '%s\n' "$3") | sed 's/^/    # /'; fi; }
# t_match NAME REGEX TEXT
t_match() { if printf '%s' "$3" | grep -Eq -- "$2"; then echo "ok - $T_NAME/$1"; else echo "not ok - $T_NAME/$1: /$2/ not in:"; printf '%s\n' "$3" | sed 's/^/    # /'; fi; }
# Listing of a tree (names, types, sizes, contents hash) to prove "unchanged".
t_tree() { (cd "$1" 2>/dev/null && find . -printf '%y %m %p\n' | sort && find . -type f -exec sha256sum {} + | sort -k2); }
