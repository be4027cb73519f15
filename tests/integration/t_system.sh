#!/usr/bin/env bash
# The kukeond cell: kuke init brings kukeond up under runc as
# kuke-system/kukeon/kukeon/kukeond (a temp group for the socket), and
# kuke daemon start|stop|kill|restart|reset|recreate|logs manage it in-process
# while a workload cell keeps running; its rootfs mounts show on the host.
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
t_require runc setpriv groupadd groupdel
t_require_busybox

unset KUKEON_INIT_NO_DAEMON
export KUKEON_GROUP="kkt-grp-$$"
RP="$T_TMP/run"
SOCK="$T_TMP/kukeond.sock"
export KUKEON_RUN_PATH="$RP"
chmod 0755 "$T_TMP"
# Last added runs first: the daemon and the workload go, then the runtime
# dir's bind (init made it a shared mount), then the group.
t_cleanup_add "groupdel $KUKEON_GROUP"
t_cleanup_add "umount -l $T_TMP"
t_cleanup_add "'$KUKE' daemon reset --timeout 2s"
t_cleanup_add "'$KUKE' delete cell w1"
k() { timeout 90 "$KUKE" "$@" 2>&1; }
# Through the socket only (the daemon's view), as root.
kd() { env -u KUKEON_RUN_PATH timeout 60 "$KUKE" "$@" 2>&1; }
ready() { kd get cells --realm kuke-system | grep -Eq '^kukeond +kuke-system +kukeon +kukeon +Ready'; }

# ----------------------------------------------------------------- init
out=$(k daemon start); rc=$?
t_match start-uninitialised "^1 Error: kukeon host is not initialized: kukeond cell metadata is missing; run \`kuke init\` first" "$rc $out"
out=$(k daemon reset); rc=$?
t_match reset-uninitialised '^0 kukeond is already reset' "$rc $out"
printf 'kind: ServerConfiguration\nspec: [\n' >"$T_TMP/bad.yaml"
before=$(t_tree "$RP")
out=$(k init --server-configuration "$T_TMP/bad.yaml"); rc=$?
t_eq init-bad-config-exit 1 "$rc"
t_eq init-bad-config-one-line 1 "$(printf '%s\n' "$out" | wc -l)"
t_eq init-bad-config-unchanged "$before" "$(t_tree "$RP")"

printf 'kind: ServerConfiguration\nspec:\n  logLevel: debug\n  reconcileInterval: "0"\n' >"$T_TMP/kukeond.yaml"
export KUKEOND_CONFIGURATION="$T_TMP/kukeond.yaml"
out=$(k init); rc=$?
t_eq init-exit 0 "$rc"
t_match init-cell-created 'cell "kukeond": created \(image kukeon.internal/kukeond:' "$out"
t_match init-started 'cell containers: started' "$out"
t_match init-group "group \"$KUKEON_GROUP\": created \\(gid [0-9]+\\)" "$out"
t_match init-socket-perm "socket \"$SOCK\": chown root:$KUKEON_GROUP mode 0o0660" "$out"
t_match init-ready "^kukeond is ready \\(unix://$SOCK\\)\$" "$(printf '%s\n' "$out" | tail -1)"
t_ok cell-ready-via-socket ready
t_eq socket-mode "660 root $KUKEON_GROUP" "$(stat -c '%a %U %G' "$SOCK")"
t_match daemon-read-config 'level=debug' "$(k daemon logs)"
t_ok cell-config-arg grep -q -- "$T_TMP/kukeond.yaml" "$RP/kuke-system/kukeon/kukeon/kukeond/containers/kukeond.yaml"

out=$(k init); rc=$?
t_match init-again-running '^0 .*cell "kukeond": already existed.*cell containers: already running' "$rc $(printf '%s' "$out" | tr '\n' ' ')"
t_match init-again-group "group \"$KUKEON_GROUP\": already existed" "$out"

# reset of a run path without the cell leaves a live daemon's socket alone
# and creates nothing.
out=$(k --run-path "$T_TMP/nowhere" daemon reset); rc=$?
t_match reset-elsewhere '^0 kukeond is already reset' "$rc $out"
t_ok reset-elsewhere-socket-kept test -S "$SOCK"
t_ok reset-elsewhere-nothing-made test ! -e "$T_TMP/nowhere"

# -------------------------------------------------------- who is served
GID=$(getent group "$KUKEON_GROUP" | cut -d: -f3)
out=$(setpriv --reuid=65533 --regid=65533 --groups="$GID" env -u KUKEON_RUN_PATH HOME=/nonexistent "$KUKE" get cells --realm kuke-system 2>&1)
t_match member-served 'kukeond +kuke-system' "$out"
out=$(setpriv --reuid=65532 --regid=65532 --clear-groups env -u KUKEON_RUN_PATH HOME=/nonexistent "$KUKE" get cells --realm kuke-system 2>&1); rc=$?
t_match stranger-refused '^1 .*[Pp]ermission denied' "$rc $out"

# ---------------------------------------------- a workload through kukeond
t_load_busybox "$RP" || { echo "not ok - $T_NAME/image: busybox image"; exit 0; }
t_cell w1 "    - id: main
      image: busybox
      command: /bin/sleep
      args: ['600']"
t_ok workload-apply kd apply -f "$T_TMP/w1.yaml"
wpid() { runc --root "$T_TMP/runc/default.kukeon.io" state default_default_w1_main 2>/dev/null | sed -n 's/.*"pid": \([0-9]*\).*/\1/p'; }
W=$(wpid)
t_match workload-pid '^[0-9]+$' "$W"
# Its monitor left the daemon's cell for the workload's own cgroup.
MON=$(cat "$T_TMP/bundles/default.kukeon.io/default_default_w1_main/monitor.pid" 2>/dev/null)
t_match workload-monitor-pid '^[0-9]+$' "$MON"
t_match monitor-in-its-cell "/default/default/default/w1/kukeon-monitors\$" "$(grep '^0::' /proc/"${MON:-0}"/cgroup 2>/dev/null)"
# The daemon mounted the workload's rootfs in its own mount namespace: the
# host sees it (shared propagation of the runtime dir).
t_match workload-rootfs-on-host "$T_TMP/bundles/default.kukeon.io/default_default_w1_main/rootfs" "$(cut -d' ' -f5 /proc/self/mountinfo)"
kept() { # name: the workload's init still runs, and the daemon sees it Ready
  t_ok "$1-workload-alive" kill -0 "$W"
  t_match "$1-workload-ready" '^w1 .*Ready' "$(kd get cells)"
}

# --------------------------------------------------------- daemon verbs
out=$(k daemon start); rc=$?
t_eq start-running "0 kukeond is already running (cell \"kukeond\" in realm \"kuke-system\")" "$rc $out"
out=$(k daemon stop --timeout 5s); rc=$?
t_eq stop "0 kukeond stopped (cell \"kukeond\" in realm \"kuke-system\")" "$rc $out"
t_fail stopped-socket-dead kd get cells --realm kuke-system
out=$(k daemon stop); rc=$?
t_eq stop-again "0 kukeond is already stopped (cell \"kukeond\" in realm \"kuke-system\")" "$rc $out"
t_match stopped-state '^kukeond .*Stopped' "$(k get cells --realm kuke-system)"
t_ok stopped-workload-alive kill -0 "$W"
t_ok stopped-monitor-alive kill -0 "${MON:-0}"
out=$(k daemon start); rc=$?
t_eq start "0 kukeond started (cell \"kukeond\" in realm \"kuke-system\")" "$rc $out"
t_ok start-ready ready
kept start

# Three cells through kuke daemon kill and start: all three kept running
# (their monitors are not the daemon's), one ends in the gap, and the
# daemon that comes back adopts them and finds that exit recorded.
for n in w2 w3; do
  t_cell $n "    - id: main
      image: busybox
      command: /bin/sleep
      args: ['600']"
  t_ok "three-apply-$n" kd apply -f "$T_TMP/$n.yaml"
done
W3=$(runc --root "$T_TMP/runc/default.kukeon.io" state default_default_w3_main 2>/dev/null | sed -n 's/.*"pid": \([0-9]*\).*/\1/p')
out=$(k daemon kill); rc=$?
t_eq kill "0 kukeond killed (cell \"kukeond\" in realm \"kuke-system\")" "$rc $out"
t_fail killed-socket-dead kd get cells --realm kuke-system
t_ok three-killed-workload-alive kill -0 "$W"
t_ok three-killed-monitor-alive kill -0 "${MON:-0}"
kill -9 "${W3:-0}" # w3 ends while no daemon runs
out=$(k daemon start); rc=$?
t_eq three-start "0 kukeond started (cell \"kukeond\" in realm \"kuke-system\")" "$rc $out"
t_ok three-start-ready ready
cells=$(kd get cells)
t_match three-w1-adopted '^w1 .*Ready' "$cells"
t_match three-w2-adopted '^w2 .*Ready' "$cells"
t_match three-w3-exit-recorded '^main .* w3 +Error .* 137/SIGKILL ' "$(kd get containers --realm default -o wide)"
out=$(k daemon kill); rc=$?
t_eq kill-again "0 kukeond killed (cell \"kukeond\" in realm \"kuke-system\")" "$rc $out"
out=$(k daemon restart --timeout 5s); rc=$?
t_eq restart "0 kukeond restarted (cell \"kukeond\" in realm \"kuke-system\")" "$rc $out"
kept restart

out=$(k daemon recreate); rc=$?
t_eq recreate "0 kukeond is ready (unix://$SOCK)" "$rc $out"
t_ok recreate-ready ready
kept recreate

# Drift: another image tag recreates the cell, and back.
out=$(k init --kukeond-image kukeon.internal/kukeond:t-drift); rc=$?
t_match init-drift "^0 .*cell \"kukeond\": recreated \\(image drift: kukeon.internal/kukeond:[^ ]+ → kukeon.internal/kukeond:t-drift\\)" "$rc $(printf '%s' "$out" | tr '\n' ' ')"
before=$(t_tree "$RP")
out=$(k init --kukeond-image docker.io/library/busybox); rc=$?
t_match init-image-refused '^1 Error: invalid kukeond image' "$rc $out"
t_eq init-image-refused-unchanged "$before" "$(t_tree "$RP")"
out=$(k init); rc=$?
t_match init-drift-back "^0 .*recreated \\(image drift: kukeon.internal/kukeond:t-drift → " "$rc $(printf '%s' "$out" | tr '\n' ' ')"
kept drift

# ----------------------------------------------------------------- reset
out=$(k daemon reset --timeout 5s); rc=$?
t_match reset "^0 removed cell \"kukeond\" \\(realm \"kuke-system\"\\)" "$rc $out"
t_ok reset-no-socket test ! -e "$SOCK"
t_ok reset-no-pidfile test ! -e "$T_TMP/kukeond.pid"
t_ok reset-no-cell test ! -d "$RP/kuke-system/kukeon/kukeon/kukeond"
t_eq reset-no-cgroup "" "$(ls -d /sys/fs/cgroup$KUKEON_CGROUP_ROOT/kuke-system/kukeon/kukeon/kukeond /sys/fs/cgroup/*$KUKEON_CGROUP_ROOT/kuke-system/kukeon/kukeon/kukeond 2>/dev/null)"
t_ok reset-system-realm-kept test -f "$RP/kuke-system/realm.yaml"
out=$(k daemon reset); rc=$?
t_match reset-again '^0 kukeond is already reset' "$rc $out"
out=$(k daemon start); rc=$?
t_match start-after-reset '^1 Error: .*run `kuke init` first' "$rc $out"
t_ok reset-workload-alive kill -0 "$W"

out=$(k init); rc=$?
t_match init-after-reset '^0 .*cell "kukeond": created' "$rc $(printf '%s' "$out" | tr '\n' ' ')"
out=$(k daemon reset --purge-system); rc=$?
t_match purge-system "^0 .*removed realm \"kuke-system\"" "$rc $(printf '%s' "$out" | tr '\n' ' ')"
t_ok purge-system-realm-gone test ! -e "$RP/kuke-system"
t_ok purge-user-realm-kept test -f "$RP/default/default/default/w1/cell.yaml"
t_ok purge-workload-alive kill -0 "$W"

# ------------------------------------- --run-path: <run-path>/kukeond.sock
RP2="$T_TMP/run2"
out=$(env -u KUKEOND_SOCKET -u KUKEON_RUN_PATH timeout 90 "$KUKE" --run-path "$RP2" init 2>&1); rc=$?
t_match run-path-socket "^0 .*kukeond is ready \\(unix://$RP2/kukeond.sock\\)" "$rc $(printf '%s' "$out" | tr '\n' ' ')"
t_ok run-path-socket-answers env -u KUKEON_RUN_PATH "$KUKE" --host "unix://$RP2/kukeond.sock" get realms
out=$(env -u KUKEOND_SOCKET -u KUKEON_RUN_PATH "$KUKE" --run-path "$RP2" daemon reset 2>&1); rc=$?
t_match run-path-reset "^0 removed cell" "$rc $out"

# ------------------------------------------------------- the systemd unit
# Rendered into a temp prefix, read and verified; never enabled here.
UNIT="$T_TMP/inst/lib/systemd/system/kukeond.service"
t_ok unit-install make -s -C "$KUKEON_SRC" install-unit PREFIX="$T_TMP/inst"
unit=$(cat "$UNIT" 2>/dev/null)
t_match unit-exec-start "^ExecStart=$T_TMP/inst/bin/kuke daemon start\$" "$unit"
t_match unit-exec-stop "^ExecStop=$T_TMP/inst/bin/kuke daemon stop\$" "$unit"
t_match unit-oneshot '^Type=oneshot$' "$unit"
t_match unit-remain '^RemainAfterExit=yes$' "$unit"
t_match unit-killmode '^KillMode=process$' "$unit"
t_match unit-install-target '^WantedBy=multi-user.target$' "$unit"
if command -v systemd-analyze >/dev/null; then
  mkdir -p "$T_TMP/inst/bin" && ln -sf "$KUKE" "$T_TMP/inst/bin/kuke"
  t_ok unit-verify systemd-analyze verify "$UNIT"
fi
