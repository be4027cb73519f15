# Sourced by tests/integration/t_*.sh.  Gives each test file a temp run path,
# a unique cgroup root name and helpers that print "ok - " / "not ok - ".
set -u
: "${BUILD:?BUILD must point at the build dir}"
# Every test file runs in a network namespace of its own: the bridges,
# veths, leases and iptables rules its cells get land there and vanish with
# it; the host's network is never touched.  Root only (cells need root).
if [ -z "${KK_TEST_NETNS:-}" ] && [ "$(id -u)" = 0 ]; then
  exec unshare --net -- env KK_TEST_NETNS=1 bash "$0" "$@"
fi
[ -n "${KK_TEST_NETNS:-}" ] && ip link set lo up
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
# kuke init makes no kukeond cell: a test starts its own kukeond on the
# temp socket (t_system.sh unsets this to test the cell).
export KUKEON_INIT_NO_DAEMON=true
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
# Containers this test ran, also when a check failed half way: their runc
# state under the temp runtime dir, their monitors, the rootfs mounts.
t_rm_containers() {
  local r id p m
  for r in "$T_TMP"/runc/*; do
    [ -d "$r" ] || continue
    for id in $(runc --root "$r" list -q 2>/dev/null); do runc --root "$r" delete -f "$id" >/dev/null 2>&1; done
  done
  for p in $(pgrep -f "^kukeon-monitor .*$T_TMP/" 2>/dev/null); do kill -9 "$p" 2>/dev/null; done
  for m in $(awk -v t="$T_TMP/" 'index($5, t) == 1 {print $5}' /proc/self/mountinfo | sort -r); do umount -l "$m" 2>/dev/null; done
  return 0
}
t_cleanup() {
  local i
  for ((i = ${#T_CLEANUPS[@]} - 1; i >= 0; i--)); do eval "${T_CLEANUPS[$i]}" >/dev/null 2>&1 || true; done
  t_rm_containers
  t_rm_cgroup_root "$KUKEON_CGROUP_ROOT"
  rm -rf "$T_TMP"
}
trap t_cleanup EXIT
# A test killed by a signal cleans up too (bash runs the EXIT trap only on
# an exit, not on a fatal signal).
trap 'exit 143' TERM
trap 'exit 130' INT
trap 'exit 129' HUP

# The busybox image (scripts/busybox-image) as docker.io/library/busybox in
# realm default of run path $1, built once per test file.
# KUKEON_TEST_BUSYBOX_TAR: an archive scripts/busybox-image made once for
# every test (tests/run-lanes, tests/vm/run): umoci is five Go runs, a
# minute under TCG.
t_load_busybox() {
  if [ ! -f "$T_TMP/busybox.tar" ]; then
    if [ -r "${KUKEON_TEST_BUSYBOX_TAR:-}" ]; then
      cp "$KUKEON_TEST_BUSYBOX_TAR" "$T_TMP/busybox.tar" || return 1
    else
      "$KUKEON_SRC/scripts/busybox-image" "$T_TMP/busybox.tar" >/dev/null 2>&1 || return 1
    fi
  fi
  KUKEON_RUN_PATH="$1" "$KUKE" image load -i "$T_TMP/busybox.tar" --realm "${2:-default}" \
    --name docker.io/library/busybox >/dev/null
}

# A Cell "$1" in realm, space and stack default at $T_TMP/$1.yaml; $2 is
# what goes under `containers:` (list items indented 4).
t_cell() {
  cat >"$T_TMP/$1.yaml" <<EOF
apiVersion: v1beta1
kind: Cell
metadata: {name: $1}
spec:
  realmId: default
  spaceId: default
  stackId: default
  containers:
$2
EOF
  chmod 0644 "$T_TMP/$1.yaml"
}

# kuke as a member of the socket's group (uid 65533, supplementary group
# T_MEMBER_GID; start kukeond with --socket-gid $T_MEMBER_GID) and as a uid
# outside it, both against $T_TMP/kukeond.sock ($T_TMP must be 0755).
T_MEMBER_GID=65534
t_as_member() { setpriv --reuid=65533 --regid=65533 --groups=$T_MEMBER_GID env HOME=/nonexistent "$@"; }
t_member() { t_as_member env KUKEON_HOST="unix://$T_TMP/kukeond.sock" "$KUKE" "$@"; }
t_stranger() { setpriv --reuid=65532 --regid=65532 --clear-groups env HOME=/nonexistent KUKEON_HOST="unix://$T_TMP/kukeond.sock" "$KUKE" "$@"; }

# kukeond on $T_TMP/kukeond.sock with run path $1 and the test's cgroup
# root (more flags after $1); sets DPID, returns once it serves.
DPID=
# With T_DAEMON_AS_KIB set, under that address-space limit (ulimit -v); with
# T_DAEMON_WRAP, exec'd through that command (setsid: a session of its own).
t_start_daemon() {
  local rp=$1; shift
  (if [ -n "${T_DAEMON_AS_KIB:-}" ]; then ulimit -v "$T_DAEMON_AS_KIB" || exit 1; fi
   exec ${T_DAEMON_WRAP:-} "$KUKEOND" serve --socket "$T_TMP/kukeond.sock" --run-path "$rp" --cgroup-root "$KUKEON_CGROUP_ROOT" "$@") \
    >>"$T_TMP/kukeond.log" 2>&1 &
  DPID=$!
  t_cleanup_add "kill -9 $DPID 2>/dev/null"
  for _ in $(seq 100); do
    [ -S "$T_TMP/kukeond.sock" ] && [ "$(cat "$T_TMP/kukeond.pid" 2>/dev/null)" = "$DPID" ] && return 0
    sleep 0.05
  done
  return 1
}

# Registries for the tests: Debian's docker-registry on 127.0.0.1.
t_free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
t_wait_http() { # url
  local i
  for i in $(seq 1 100); do curl -ks -o /dev/null "$1" && return 0; sleep 0.1; done
  return 1
}
t_start_registry() { # name port [extra yaml under the top level]: storage in $T_TMP/<name>
  local name=$1 port=$2 extra=${3:-}
  mkdir -p "$T_TMP/$name/data"
  cat >"$T_TMP/$name/config.yml" <<EOF
version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $T_TMP/$name/data
  delete:
    enabled: true
http:
  addr: 127.0.0.1:$port
$extra
EOF
  docker-registry serve "$T_TMP/$name/config.yml" >"$T_TMP/$name/log" 2>&1 &
  t_cleanup_add "kill $!"
}

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

# t_require TOOL...: skips the whole file when one is not on PATH.
t_require() {
  local tool
  for tool in "$@"; do
    command -v "$tool" >/dev/null || { echo "skip - $T_NAME: $tool not installed"; exit 0; }
  done
}
# The busybox image is built from Debian's busybox-static.
t_require_busybox() { [ -x /bin/busybox ] || { echo "skip - $T_NAME: busybox-static not installed"; exit 0; }; }
# Cells that really run (real runc, the busybox image): skips without
# runc, umoci or busybox-static.
t_require_runtime() { t_require runc umoci; t_require_busybox; }
# t_doc CELL [CONTAINER] EXPR: a Python expression on the document d that
# `kuke get cell|container -o json` prints.
t_doc() {
  if [ $# = 3 ]; then "$KUKE" get container "$2" --cell "$1" -o json; else "$KUKE" get cell "$1" -o json; fi |
    python3 -c 'import json,sys; d=json.load(sys.stdin); print(eval(sys.argv[1]))' "${@: -1}"
}
t_state() { t_doc "$1" 'd["status"]["state"]'; }                  # of cell $1
t_state_is() { [ "$(t_state "$1")" = "$2" ]; }
t_cstatus() { t_doc "$1" "$2" "d['status'].get('$3', '')"; }      # cell container field
# t_wait SECONDS CMD...: until CMD succeeds (1 when it never did).
t_wait() {
  local n=$(($1 * 10)); shift
  for _ in $(seq "$n"); do "$@" >/dev/null 2>&1 && return 0; sleep 0.1; done
  return 1
}
t_memcg() { # the memory limit of pid $1's cgroup (v2 memory.max or v1 limit_in_bytes)
  local rel
  rel=$(awk -F: '$2=="" {print $3}' /proc/"$1"/cgroup)
  if [ -n "$rel" ] && [ -f "/sys/fs/cgroup/unified$rel/memory.max" ]; then cat "/sys/fs/cgroup/unified$rel/memory.max"; return; fi
  if [ -n "$rel" ] && [ -f "/sys/fs/cgroup$rel/memory.max" ]; then cat "/sys/fs/cgroup$rel/memory.max"; return; fi
  rel=$(awk -F: '$2 ~ /(^|,)memory(,|$)/ {print $3}' /proc/"$1"/cgroup)
  cat "/sys/fs/cgroup/memory$rel/memory.limit_in_bytes" 2>/dev/null
}
# A bound in tests of time (the issue's own bounds): KUKEON_TEST_SLOW, by
# default 2 under the sanitizers (two to three times slower), else 1.
T_SLOW=${KUKEON_TEST_SLOW:-1}
[ -n "${ASAN_OPTIONS:-}" ] && T_SLOW=${KUKEON_TEST_SLOW:-2}

# CNI_PATH: the plugin folders that have bridge (Debian's
# containernetworking-plugins installs to /usr/lib/cni); skips without one.
t_require_cni() {
  local d plugins=""
  for d in /opt/cni/bin /usr/lib/cni; do [ -x "$d/bridge" ] && plugins="${plugins:+$plugins:}$d"; done
  [ -n "$plugins" ] || { echo "skip - $T_NAME: CNI plugins not installed (containernetworking-plugins)"; exit 0; }
  export CNI_PATH="$plugins"
}
