#!/usr/bin/env bash
# Cells that really run: a busybox image pushed to a real registry on
# 127.0.0.1 (Debian's docker-registry), pulled by kukeond into the realm,
# run under the real runc with a monitor per container.  Lifecycle, logs,
# attach, exit codes and signals, stop escalation, restart policies, the
# daemon killed and restarted while cells run, bad manifests, and nothing
# left behind.  Set KK_RT_IMAGE_ARCHIVE to an OCI archive to skip the
# registry (the VM lane does).
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
t_require runc umoci
t_require_busybox

RP="$T_TMP/run"
SOCK="$T_TMP/kukeond.sock"
RT="$T_TMP"                       # the runtime dir: the socket's directory
RUNC_ROOT="$RT/runc/default.kukeon.io"
export KUKEON_HOST="unix://$SOCK"
unset KUKEON_RUN_PATH
k() { "$KUKE" "$@"; }
kl() { KUKEON_RUN_PATH="$RP" "$KUKE" "$@"; }   # in-process


# ----------------------------------------------------------- the image
"$KUKEON_SRC/scripts/busybox-image" "$T_TMP/bb.tar" >/dev/null 2>&1 ||
  { echo "not ok - $T_NAME/image: scripts/busybox-image failed"; exit 0; }
LAYOUT="$T_TMP/layout"
mkdir -p "$LAYOUT" && tar -C "$LAYOUT" -xf "$T_TMP/bb.tar"

IMG=
if [ -z "${KK_RT_IMAGE_ARCHIVE:-}" ] && command -v docker-registry >/dev/null && command -v skopeo >/dev/null; then
  PORT=$(t_free_port)
  t_start_registry reg "$PORT"
  t_wait_http "http://127.0.0.1:$PORT/v2/"
  skopeo copy -q --dest-tls-verify=false "oci:$LAYOUT:latest" "docker://127.0.0.1:$PORT/busybox:latest" >/dev/null 2>&1
  t_eq registry-push 0 $?
  IMG="127.0.0.1:$PORT/busybox:latest"
  # The realm marks the local registry as plain HTTP.
  cat >"$T_TMP/realm.yaml" <<EOF
apiVersion: v1beta1
kind: Realm
metadata: {name: default}
spec: {insecureRegistries: ["127.0.0.1:$PORT"]}
EOF
else
  IMG="docker.io/library/busybox:latest"
  printf 'apiVersion: v1beta1\nkind: Realm\nmetadata: {name: default}\n' >"$T_TMP/realm.yaml"
fi

t_start_daemon "$RP" --reconcile-interval 500ms; t_eq daemon-start 0 $?
kl init >/dev/null
k apply -f "$T_TMP/realm.yaml" >/dev/null
if [ -z "${PORT:-}" ]; then
  kl image load -i "${KK_RT_IMAGE_ARCHIVE:-$T_TMP/bb.tar}" --realm default --name busybox >/dev/null
fi

cell() { t_cell "$@"; } # name, containers yaml
state() { k get cell "$1" -o json | python3 -c 'import json,sys; print(json.load(sys.stdin)["status"]["state"])'; }
cstat() { # cell container field
  k get container "$2" --cell "$1" -o json | python3 -c 'import json,sys; print(json.load(sys.stdin)["status"].get(sys.argv[1], ""))' "$3"
}
wait_for() { # seconds, command...: until the command succeeds
  local n=$(( $1 * 10 )); shift
  for _ in $(seq "$n"); do "$@" >/dev/null 2>&1 && return 0; sleep 0.1; done
  return 1
}

# ------------------------------------------------------ a cell that runs
cell web "    - id: web
      image: $IMG
      command: /bin/sh
      args: [\"-c\", \"echo hello from \$KUKEON_CELL_NAME; readlink /proc/self/ns/net; exec sleep 600\"]
    - id: peer
      image: $IMG
      command: /bin/sh
      args: [\"-c\", \"readlink /proc/self/ns/net; exec sleep 600\"]"
out=$(k apply -f "$T_TMP/web.yaml" 2>&1)
t_eq apply-created 'Cell "web": created' "$out"
t_eq cell-ready Ready "$(state web)"
t_eq image-pulled-into-realm 1 "$(kl get images --realm default 2>/dev/null | grep -c busybox)"
wait_for 5 grep -q hello <(k log web --container web)
out=$(k log web --container web)
t_match log-prints '^hello from web$' "$out"
net_web=$(k log web --container web | grep '^net:')
net_peer=$(k log web --container peer | grep '^net:')
t_match netns-shared-a '^net:\[[0-9]+\]$' "$net_web"
t_eq netns-shared "$net_web" "$net_peer"
t_match netns-not-host '.' "$( [ "$net_web" != "$(readlink /proc/self/ns/net)" ] && echo differs)"
ids=$(runc --root "$RUNC_ROOT" list -q | sort | tr '\n' ' ')
t_eq runc-list "default_default_web_peer default_default_web_root default_default_web_web " "$ids"
out=$(k get containers --cell web -o wide)
t_match get-container-wide 'web +default +default +default +web +Ready +0 .* [0-9]+$' "$out"
# Through the daemon and in-process: the same answer.
t_eq parity-containers "$(k get containers -o yaml | grep -v 'updatedAt')" "$(kl get containers -o yaml | grep -v 'updatedAt')"

# --------------------------------------------- exit codes and signals
out=$(k run --image "$IMG" --rm -- sh -c 'echo out; exit 7' 2>&1); rc=$?
t_eq run-exit-code "7 out" "$rc $out"
out=$(kl run --image "$IMG" --rm -- sh -c 'echo in-process' 2>&1); rc=$?
t_eq run-in-process "0 in-process" "$rc $out"
# Output into a regular file (always "readable" to poll) or from a terminal
# that has input waiting: the follower still waits for the exit.
kl run --image "$IMG" --rm -- sh -c 'sleep 1; echo to-file; exit 5' >"$T_TMP/run.out" 2>&1; rc=$?
t_eq run-in-process-to-file "5 to-file" "$rc $(cat "$T_TMP/run.out")"
k run --image "$IMG" --rm -- sh -c 'sleep 1; echo via-daemon; exit 6' >"$T_TMP/run.out" 2>&1; rc=$?
t_eq run-daemon-to-file "6 via-daemon" "$rc $(cat "$T_TMP/run.out")"
k run -d --image "$IMG" --name sig -- sleep 600 >/dev/null
pid=$(cstat sig main pid)
t_match run-detached-pid '^[0-9]+$' "$pid"
kill -9 "$pid"
wait_for 5 sh -c "[ \"\$($KUKE get container main --cell sig -o json | python3 -c 'import json,sys; print(json.load(sys.stdin)[\"status\"][\"exitCode\"])')\" = 137 ]"
t_eq killed-exit-code 137 "$(cstat sig main exitCode)"
t_eq killed-signal SIGKILL "$(cstat sig main exitSignal)"
t_eq killed-state Error "$(cstat sig main state)"
k delete cell sig >/dev/null
t_eq run-rm-removed 0 "$(k get cells 2>/dev/null | grep -c '^busybox-')"
# The same name runs again at once; runc's record, the bundle and the
# writable layer go with each delete, without a runc exec.
out=""
for i in 1 2 3; do out="$out$(k run --rm --image "$IMG" --name again -- echo "$i" 2>&1) "; done
t_eq run-rm-same-name "1 2 3 " "$out"
t_eq run-rm-runc-gone "" "$(runc --root "$RUNC_ROOT" list -q | grep _again_)"
t_eq run-rm-bundle-gone "" "$(ls -a "$RT/bundles/default.kukeon.io" | grep again)"
t_eq run-rm-layer-gone "" "$(ls -a "$RP/containers/default.kukeon.io" | grep again)"

# An ended container stays in runc's list, "stopped", as long as kukeon
# keeps it Exited; a stop drops runc's record and the container's cgroup.
k run -d --image "$IMG" --name ended -- true >/dev/null
wait_for 5 sh -c "[ \"\$($KUKE get container main --cell ended -o json | python3 -c 'import json,sys; print(json.load(sys.stdin)[\"status\"][\"state\"])')\" = Exited ]"
t_eq ended-runc-stopped stopped "$(runc --root "$RUNC_ROOT" state default_default_ended_root 2>/dev/null | python3 -c 'import json,sys; print(json.load(sys.stdin)["status"])')"
t_match ended-cgroup-kept '^[1-9]' "$(find /sys/fs/cgroup -path "*${KUKEON_CGROUP_ROOT}/default/default/default/ended/default_default_ended_root" 2>/dev/null | wc -l)"
t_ok ended-stop "$KUKE" stop ended
t_eq ended-stop-runc-gone "" "$(runc --root "$RUNC_ROOT" list -q | grep _ended_)"
t_eq ended-stop-cgroup-gone "" "$(find /sys/fs/cgroup -path "*${KUKEON_CGROUP_ROOT}/default/default/default/ended/default_default_ended_root" 2>/dev/null)"
k delete cell ended >/dev/null
# Without a pid namespace of its own (hostPID), what the init left behind
# is killed once it ends (the monitor runs runc delete).
cell hostpid "    - id: main
      image: $IMG
      hostPID: true
      command: /bin/sh
      args: [\"-c\", \"sleep 600 & echo \$! >/leftover; sleep 0.5\"]"
k apply -f "$T_TMP/hostpid.yaml" >/dev/null
wait_for 5 sh -c "[ \"\$($KUKE get container main --cell hostpid -o json | python3 -c 'import json,sys; print(json.load(sys.stdin)[\"status\"][\"state\"])')\" = Exited ]"
left=$(cat "$RT/bundles/default.kukeon.io/default_default_hostpid_main/rootfs/leftover" 2>/dev/null)
wait_for 5 sh -c "! kill -0 '$left'"
t_match hostpid-leftover-killed '^[0-9]+ gone$' "$left $(kill -0 "$left" 2>/dev/null && echo alive || echo gone)"
t_eq hostpid-runc-gone "" "$(runc --root "$RUNC_ROOT" list -q | grep _hostpid_main)"
k delete cell hostpid >/dev/null

# ------------------------------------------------- stop escalates to KILL
# sh as PID 1 ignores SIGTERM: stop waits 5 s, then SIGKILLs.
t0=$(date +%s%N)
out=$(k stop web 2>&1)
dt=$(( ($(date +%s%N) - t0) / 1000000 ))
# The containers ignore SIGTERM: each is SIGKILLed after the 5 s, and said so.
t_eq stop "Stopped cell \"web\" from stack \"default\"
  - container \"peer\": still running 5s after SIGTERM, killed (SIGKILL)
  - container \"web\": still running 5s after SIGTERM, killed (SIGKILL)" "$out"
t_match stop-escalated "$( [ "$dt" -ge 4900 ] && [ "$dt" -lt 15000 ] && echo yes)" "yes"
t_eq stopped-state Stopped "$(state web)"
t_eq stopped-runc-empty "" "$(runc --root "$RUNC_ROOT" list -q | grep _web_)"
t_ok start "$KUKE" start cell web
t_eq restarted-ready Ready "$(state web)"
t_ok kill "$KUKE" kill web
t_eq killed-cell-state Stopped "$(state web)"
out=$(k apply -f "$T_TMP/web.yaml" 2>&1)
t_eq apply-restarts-killed 'Cell "web": updated' "$out"
t_eq apply-ready-again Ready "$(state web)"

# ------------------------------------------------------------- attach
cell att "    - id: echo
      image: $IMG
      attachable: true
      command: /bin/sh
      args: [\"-c\", \"read line; echo got \$line\"]"
k apply -f "$T_TMP/att.yaml" >/dev/null
out=$(echo ping | timeout 20 "$KUKE" attach att 2>&1)
t_match attach-pty 'got ping' "$out"

# ------------------------------------------------------ restart policies
policy_cell() { # name, policy fields, command
  cell "$1" "    - id: main
      image: $IMG
      command: /bin/sh
      args: [\"-c\", \"$3\"]
$2"
  k apply -f "$T_TMP/$1.yaml" >/dev/null
}
restarts() { cstat "$1" main restartCount; }
policy_cell pa "      restartPolicy: always
      restartBackoffSeconds: 0" "sleep 0.2; exit 0"
policy_cell pf "      restartPolicy: on-failure
      restartBackoffSeconds: 0
      restartMaxRetries: 2" "exit 1"
policy_cell pn "      restartPolicy: never" "exit 1"
wait_for 20 sh -c "[ \$($KUKE get container main --cell pa -o json | python3 -c 'import json,sys; print(json.load(sys.stdin)[\"status\"][\"restartCount\"])') -ge 3 ]"
t_match policy-always-restarts '^([3-9]|[1-9][0-9]+)$' "$(restarts pa)"
t_match policy-always-cell '^(Ready|Degraded)$' "$(state pa)"
wait_for 20 sh -c "[ \$($KUKE get container main --cell pf -o json | python3 -c 'import json,sys; print(json.load(sys.stdin)[\"status\"][\"restartCount\"])') -ge 2 ]"
sleep 2
t_eq policy-on-failure-capped 2 "$(restarts pf)"
t_eq policy-on-failure-exhausted Error "$(state pf)"
t_eq policy-never 0 "$(restarts pn)"
t_eq policy-never-state Error "$(cstat pn main state)"
t_eq policy-never-cell Error "$(state pn)"
for n in pa pf pn; do k delete cell $n >/dev/null; done

# -------------------------------------- the daemon dies, the cells do not
for n in d1 d2 d3; do
  cell $n "    - id: main
      image: $IMG
      command: /bin/sh
      args: [\"-c\", \"trap 'exit 0' TERM; while :; do sleep 0.1; done\"]"
  k apply -f "$T_TMP/$n.yaml" >/dev/null
done
pids=$(for n in d1 d2 d3; do cstat $n main pid; done | tr '\n' ' ')
kill -9 "$DPID"; wait "$DPID" 2>/dev/null
alive=0; for p in $pids; do kill -0 "$p" 2>/dev/null && alive=$((alive + 1)); done
t_eq daemon-killed-cells-run 3 "$alive"
# An exit while nobody watches: the monitor records it.
d2pid=$(echo $pids | cut -d' ' -f2)
kill -9 "$d2pid"; sleep 0.5
t_start_daemon "$RP" --reconcile-interval 500ms; t_eq daemon-restart 0 $?
sleep 1
t_eq adopted-d1 Ready "$(state d1)"
t_eq adopted-d3 Ready "$(state d3)"
t_eq learned-exit "Error 137 SIGKILL" "$(cstat d2 main state) $(cstat d2 main exitCode) $(cstat d2 main exitSignal)"
t_eq learned-exit-cell Error "$(state d2)"
t_ok adopted-stop "$KUKE" stop d1

# ------------------------------------------ a power cut, played by hand
# For three cells: their containers, mounts, bundles and runc records go,
# the run path stays.  An auto-delete cell's metadata, written without
# fsync, may come back torn: then it is gone, with what its container left.
# A plain cell is not running any more (Unknown, not the Ready it last
# recorded) and starts again on a fresh mount of its image; one whose
# policy says always comes back by itself.
k run -d --rm --image "$IMG" --name torn -- sleep 600 >/dev/null
t_eq ephemeral-marked yes "$([ -f "$RP/default/default/default/torn/.ephemeral" ] && echo yes)"
k run -d --image "$IMG" --name boot -- sleep 600 >/dev/null
cell back "    - id: main
      image: $IMG
      command: /bin/sleep
      args: [\"600\"]
      restartPolicy: always"
k apply -f "$T_TMP/back.yaml" >/dev/null
kill -9 "$DPID"; wait "$DPID" 2>/dev/null
for id in default_default_torn_root default_default_boot_root default_default_back_main default_default_back_root; do
  runc --root "$RUNC_ROOT" kill "$id" KILL
  wait_for 5 sh -c "! pgrep -f 'kukeon-monitor.*--id $id --bundle $T_TMP/' >/dev/null"
  runc --root "$RUNC_ROOT" delete "$id"
  if mountpoint -q "$RT/bundles/default.kukeon.io/$id/rootfs"; then umount "$RT/bundles/default.kukeon.io/$id/rootfs"; fi
  rm -rf "$RT/bundles/default.kukeon.io/$id"
done
: >"$RP/default/default/default/torn/cell.yaml"
t_start_daemon "$RP" --reconcile-interval 500ms; t_eq daemon-restart-torn 0 $?
wait_for 5 sh -c "[ \"\$($KUKE get cells | awk '\$1 == \"boot\" {print \$5}')\" = Unknown ]"
t_eq rebooted-unknown "Unknown -" "$(cstat boot main state) $(k get containers --cell boot -o wide | awk '$1 == "main" {print $NF}')"
t_ok rebooted-start "$KUKE" start cell boot
t_eq rebooted-ready Ready "$(cstat boot main state)"
t_eq rebooted-runs 1 "$(runc --root "$RUNC_ROOT" list -q | grep -c '^default_default_boot_root$')"
wait_for 10 sh -c "[ \"\$($KUKE get cells | awk '\$1 == \"back\" {print \$5}')\" = Ready ]"
t_eq rebooted-always-back "Ready 1" "$(state back) $(runc --root "$RUNC_ROOT" list -q | grep -c '^default_default_back_main$')"
t_eq rebooted-always-counted 1 "$(cstat back root restartCount)"
k delete cell boot >/dev/null
k delete cell back >/dev/null
wait_for 5 sh -c "[ ! -e '$RP/default/default/default/torn' ]"
out=$(k get cells 2>&1); rc=$?
t_eq torn-cell-gone "0 0" "$rc $(printf '%s\n' "$out" | grep -c '^torn ')"
t_eq torn-layer-gone "" "$(ls -A "$RP/containers/default.kukeon.io" | grep _torn_)"
t_eq torn-cgroup-gone "" "$(find /sys/fs/cgroup -path "*${KUKEON_CGROUP_ROOT}/default/default/default/torn" 2>/dev/null)"

# -------------------------------------------------------- bad manifests
bad() { # name, container yaml, expected message regex
  cell "$1" "$2"
  out=$(k apply -f "$T_TMP/$1.yaml" 2>&1); rc=$?
  t_match "bad-$1" "$3" "$rc $(echo "$out" | grep Error)"
  t_eq "bad-$1-no-cell" 1 "$(k get cell "$1" >/dev/null 2>&1; echo $?)"
  t_eq "bad-$1-no-bundle" "" "$(ls "$RT/bundles/default.kukeon.io" 2>/dev/null | grep "_$1_")"
}
bad noimage "    - {id: a, image: ${IMG%busybox:latest}nope/missing:latest, command: /bin/true}" '^1 .*Error: .*image .*nope/missing'
bad nocap "    - {id: a, image: $IMG, command: /bin/true, capabilities: {add: [NOT_A_CAP]}}" '^1 .*Error: .*NOT_A_CAP'
bad nouser "    - {id: a, image: $IMG, command: /bin/true, user: ghost}" '^1 .*Error: .*user "ghost" not found'
bad nobin "    - {id: a, image: $IMG, command: /no/such/binary}" '^1 .*Error: .*/no/such/binary'
cell named "    - {id: a, image: $IMG, command: /bin/sh, args: [\"-c\", \"id -u; id -g; sleep 600\"], user: kk}"
k apply -f "$T_TMP/named.yaml" >/dev/null
wait_for 5 sh -c "$KUKE log named | grep -q 4321"
t_eq user-by-name "1234 4321" "$(k log named | tr '\n' ' ' | sed 's/ $//')"

# ------------------------------------------------ nothing left behind
for n in web att d1 d2 d3 named; do k delete cell "$n" >/dev/null 2>&1; done
# Monitors of containers that had ended finish on their own (see above).
wait_for 5 sh -c "[ -z \"\$(runc --root '$RUNC_ROOT' list -q)\" ] && [ -z \"\$(find '$RT/bundles/default.kukeon.io' '$RP/containers/default.kukeon.io' -mindepth 1 -maxdepth 1 2>/dev/null)\" ] && ! pgrep -f 'kukeon-monitor.*$T_TMP'"
t_eq gone-runc "" "$(runc --root "$RUNC_ROOT" list -q)"
t_eq gone-bundles "" "$(ls -A "$RT/bundles/default.kukeon.io" 2>/dev/null)"
t_eq gone-mounts "" "$(awk -v t="$T_TMP" '$5 ~ "^"t {print $5}' /proc/self/mountinfo)"
t_eq gone-monitors "" "$(pgrep -f "kukeon-monitor.*$T_TMP")"
t_eq gone-upper "" "$(ls -A "$RP/containers/default.kukeon.io" 2>/dev/null)"
cgs=$(find /sys/fs/cgroup -path "*${KUKEON_CGROUP_ROOT}/default/default/default/*" -type d 2>/dev/null)
t_eq gone-cgroups "" "$cgs"
kill "$DPID"; wait "$DPID" 2>/dev/null
t_cleanup
