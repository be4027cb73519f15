#!/usr/bin/env bash
# The lifecycle verbs of issue 20 item 3, on runc, in-process and through
# kukeond alike: kuke stop honours --timeout and the cell's
# spec.stopTimeoutSeconds and names each container it had to SIGKILL (kill
# names what it killed); kuke restart goes by the cell's state (spec 4.13:
# Ready stopped and started, Stopped started, Degraded and Failed
# recreated, Pending refused); start/stop/restart -l fan out over the cells
# a selector matches and name each failure; kuke refresh rewrites only the
# statuses that observation changed; get container --cell of a missing cell
# is that cell's not-found.
. "$(dirname "$0")/lib.sh"
RP="$T_TMP/run"
unset KUKEON_RUN_PATH
local_kuke() { KUKEON_RUN_PATH="$RP" KUKEON_RUNTIME_DIR="$T_TMP" "$KUKE" "$@"; }
daemon_kuke() { "$KUKE" "$@"; }
CELLDIR="$RP/default/default/default"
stored_state() { sed -n 's/^  state: //p' "$CELLDIR/$1/cell.yaml"; }
# The pid of container $2 of cell $1 (0: none).
ctr_pid() { local p; p=$($K get container "$2" --cell "$1" -o json 2>/dev/null | jq -r '.status.pid // 0'); echo "${p:-0}"; }

local_kuke init >/dev/null || echo "not ok - $T_NAME/init"
t_load_busybox "$RP" || echo "not ok - $T_NAME/busybox-image"

# t_match over the whole text (newlines are characters of the pattern).
t_match_all() {
  if printf '%s' "$3" | python3 -c 'import re, sys; sys.exit(not re.search(sys.argv[1], sys.stdin.read()))' "$2"; then echo "ok - $T_NAME/$1"; else
    echo "not ok - $T_NAME/$1: /$2/ not in:"; printf '%s\n' "$3" | sed 's/^/    # /'; fi
}

# Cell $1 with labels mode=$2 and tier=$3; $4: extra spec lines; $5: containers.
cell_yaml() {
  cat >"$T_TMP/$1.yaml" <<EOF
apiVersion: v1beta1
kind: Cell
metadata:
  name: $1
  labels: {mode: $2, tier: $3}
spec:
  id: $1
  realmId: default
  spaceId: default
  stackId: default
$4
  containers:
$5
EOF
}
OBEYS='      image: docker.io/library/busybox:latest
      command: /bin/sh
      args: ["-c", "trap '"'"'exit 0'"'"' TERM; sleep 3600 & wait"]'
IGNORES='      image: docker.io/library/busybox:latest
      command: /bin/sh
      args: ["-c", "trap '"''"' TERM; sleep 3600 & wait"]'

# Everything below, once with each way of reaching the controller.
verbs() {
  local m=$1 out rc t0 t1 p0 p1 x="$T_TMP/x-$1"
  mkdir -p "$x"
  printf '#!/bin/sh\n[ -e /x/fail ] && exit 3\nexec sleep 3600\n' >"$x/run.sh"
  chmod 0755 "$x" "$x/run.sh"
  cell_yaml "$m-term" "$m" web "  stopTimeoutSeconds: 2" "    - id: a
$OBEYS
    - id: b
$IGNORES"
  cell_yaml "$m-web" "$m" web "" "    - id: a
$OBEYS"
  cell_yaml "$m-db" "$m" db "" "    - id: a
$OBEYS"
  cell_yaml "$m-fix" "$m" ops "" "    - id: a
      image: docker.io/library/busybox:latest
      command: /x/run.sh
      volumes: [{source: $x, target: /x}]
    - id: b
$OBEYS"
  for c in term web db fix; do
    $K apply -f "$T_TMP/$m-$c.yaml" >/dev/null || echo "not ok - $T_NAME/$m/apply-$c"
  done

  # ---------------------------------------------- stop: timeouts, SIGKILLs named
  t0=$(date +%s%N)
  out=$($K stop "$m-term" 2>&1)
  t1=$(date +%s%N)
  t_match_all "$m/stop-cell-timeout-names-killed" "^Stopped cell \"$m-term\" from stack \"default\"
  - container \"b\": still running 2s after SIGTERM, killed \(SIGKILL\)$" "$out"
  t_ok "$m/stop-waited-the-cell-timeout" test $(((t1 - t0) / 1000000)) -ge 2000
  t_eq "$m/stopped" Stopped "$(stored_state "$m-term")"
  $K start "$m-term" >/dev/null
  out=$($K stop "$m-term" --timeout 1s 2>&1)
  t_match "$m/stop-flag-timeout" "container \"b\": still running 1s after SIGTERM, killed" "$out"
  t_fail "$m/stop-obeyed-term-not-named" grep -q 'container "a"' <<<"$out"
  before=$(t_tree "$CELLDIR/$m-term")
  out=$($K stop "$m-term" --timeout 0 2>&1); rc=$?
  t_match "$m/stop-bad-timeout" "invalid --timeout \"0\"" "$out"
  t_eq "$m/stop-bad-timeout-exit-changes-nothing" "1 same" "$rc $([ "$before" = "$(t_tree "$CELLDIR/$m-term")" ] && echo same)"
  # The cell's timeout is changed in place (nothing restarts), and bounded.
  $K start "$m-term" >/dev/null
  p0=$(ctr_pid "$m-term" b)
  sed -i 's/^  stopTimeoutSeconds: 2$/  stopTimeoutSeconds: 1/' "$T_TMP/$m-term.yaml"
  t_eq "$m/apply-stop-timeout-in-place" "Cell \"$m-term\": updated
  - spec.stopTimeoutSeconds $p0" "$($K apply -f "$T_TMP/$m-term.yaml" 2>&1) $(ctr_pid "$m-term" b)"
  t_match "$m/stop-new-cell-timeout" "container \"b\": still running 1s after SIGTERM" "$($K stop "$m-term" 2>&1)"
  sed 's/^  stopTimeoutSeconds: 1$/  stopTimeoutSeconds: 3601/' "$T_TMP/$m-term.yaml" >"$T_TMP/$m-bad.yaml"
  t_match "$m/stop-timeout-bounded" "spec.stopTimeoutSeconds: must be between 0 and 3600" "$($K apply -f "$T_TMP/$m-bad.yaml" 2>&1)"
  sed -i 's/^  stopTimeoutSeconds: 1$/  stopTimeoutSeconds: 2/' "$T_TMP/$m-term.yaml"
  $K apply -f "$T_TMP/$m-term.yaml" >/dev/null
  $K start "$m-term" >/dev/null
  out=$($K kill "$m-term" 2>&1)
  t_match_all "$m/kill-names-killed" "^Killed cell \"$m-term\" from stack \"default\"
(  - container \"[a-z]+\": killed \(SIGKILL\)
?){3}$" "$out"

  # ------------------------------------------------------ restart by state
  p0=$(ctr_pid "$m-web" a)
  out=$($K restart "$m-web" 2>&1)
  p1=$(ctr_pid "$m-web" a)
  t_eq "$m/restart-ready" "Restarted cell \"$m-web\" from stack \"default\"" "$out"
  t_ok "$m/restart-ready-new-process" test "$p0" -gt 0 -a "$p1" -gt 0 -a "$p0" != "$p1"
  t_eq "$m/restart-ready-state" Ready "$(stored_state "$m-web")"
  out=$($K restart "$m-term" 2>&1) # killed above: Stopped
  t_eq "$m/restart-stopped" "Restarted cell \"$m-term\" from stack \"default\"" "$out"
  t_eq "$m/restart-stopped-state" Ready "$(stored_state "$m-term")"
  # Degraded: a exits 3 while b runs; recreated once the cause is gone.
  touch "$x/fail"
  $K restart "$m-fix" >/dev/null
  for _ in $(seq 200); do [ "$($K get cell "$m-fix" -o json | jq -r .status.state)" = Degraded ] && break; sleep 0.1; done
  rm -f "$x/fail"
  out=$($K restart "$m-fix" 2>&1)
  t_eq "$m/restart-degraded-recreates" "Restarted cell \"$m-fix\" from stack \"default\"
  - recreated from its spec (it was Degraded)" "$out"
  t_eq "$m/restart-degraded-state" Ready "$(stored_state "$m-fix")"
  # Failed: a start that could not run a; recreated once it can.
  $K stop "$m-fix" >/dev/null
  mv "$x/run.sh" "$x/run.off"
  t_fail "$m/start-fails" $K start "$m-fix"
  t_eq "$m/failed" Failed "$(stored_state "$m-fix")"
  mv "$x/run.off" "$x/run.sh"
  out=$($K restart "$m-fix" 2>&1)
  t_eq "$m/restart-failed-recreates" "Restarted cell \"$m-fix\" from stack \"default\"
  - recreated from its spec (it was Failed)" "$out"
  t_eq "$m/restart-failed-state" Ready "$(stored_state "$m-fix")"
  # Pending (a cell whose creation never got to start it): refused.
  cell_yaml "$m-pend" "$m" ops "" "    - id: a
$OBEYS"
  $K apply -f "$T_TMP/$m-pend.yaml" >/dev/null && $K stop "$m-pend" >/dev/null
  sed -i 's/^  state: Stopped$/  state: Pending/' "$CELLDIR/$m-pend/cell.yaml"
  out=$($K restart "$m-pend" 2>&1); rc=$?
  t_eq "$m/restart-pending-refused" "1 Error: cell \"$m-pend\" exists in Pending state; delete it with \`kuke delete cell $m-pend\` before restarting" "$rc $out"
  t_eq "$m/restart-pending-unchanged" Pending "$(stored_state "$m-pend")"
  out=$($K restart "$m-none" 2>&1)
  t_match "$m/restart-missing" "cell \"$m-none\" not found" "$out"

  # ------------------------------------------------------------- selectors
  out=$($K stop -l "mode=$m,tier=web" 2>&1)
  t_eq "$m/stop-selector" "Stopped cell \"$m-term\" from stack \"default\"
  - container \"b\": still running 2s after SIGTERM, killed (SIGKILL)
Stopped cell \"$m-web\" from stack \"default\"" "$out"
  t_eq "$m/stop-selector-states" "Stopped Stopped Ready" \
    "$(stored_state "$m-term") $(stored_state "$m-web") $(stored_state "$m-db")"
  out=$($K start -l "mode=$m,tier=web" 2>&1)
  t_eq "$m/start-selector" "Started cell \"$m-term\" from stack \"default\"
Started cell \"$m-web\" from stack \"default\"" "$out"
  t_eq "$m/start-selector-states" "Ready Ready" "$(stored_state "$m-term") $(stored_state "$m-web")"
  t_eq "$m/selector-no-match" "No cells matched the selector." "$($K restart -l "mode=$m,tier=nothing" 2>&1)"
  before=$(t_tree "$CELLDIR")
  out=$($K stop -l 'tier=web,a b' 2>&1); rc=$?
  t_eq "$m/selector-bad" "1 Error: invalid selector clause \"a b\": expected k=v, k==v, k!=v, k or !k" "$rc $out"
  t_fail "$m/selector-and-name" $K stop "$m-web" -l tier=web
  t_eq "$m/selector-bad-changes-nothing" "$before" "$(t_tree "$CELLDIR")"
  p0=$(ctr_pid "$m-db" a)
  out=$($K restart -l "mode=$m" --timeout 1s 2>&1); rc=$?
  t_eq "$m/restart-selector-exit" 1 "$rc"
  t_match "$m/restart-selector-each" "Restarted cell \"$m-db\".*Restarted cell \"$m-fix\".*Restarted cell \"$m-term\".*Restarted cell \"$m-web\"" "$(tr '\n' ' ' <<<"$out")"
  t_match "$m/restart-selector-names-failure" "^Error: restart failed for 1 of 5 cells: cell \"$m-pend\": cell \"$m-pend\" exists in Pending state" "$(grep '^Error' <<<"$out")"
  t_ok "$m/restart-selector-restarted" test "$(ctr_pid "$m-db" a)" != "$p0"

  # ------------------------------------------- get container --cell missing
  out=$($K get container a --cell "$m-nope" 2>&1); rc=$?
  t_eq "$m/get-container-missing-cell" "1 Error: cell \"$m-nope\" not found in realm \"default\", space \"default\", stack \"default\"" "$rc $out"
  out=$($K get containers --cell "$m-nope" 2>&1); rc=$?
  t_eq "$m/list-containers-missing-cell" "1 Error: cell \"$m-nope\" not found in realm \"*\", space \"*\", stack \"*\"" "$rc $out"
  out=$($K get container zz --cell "$m-web" 2>&1); rc=$?
  t_match "$m/get-container-missing-container" "^Error: container \"zz\" not found" "$out"
  t_eq "$m/list-containers-of-cell" "a root" "$($K get containers --cell "$m-web" -o name | sed 's|container/||' | sort | tr '\n' ' ' | sed 's/ $//')"
}

K=local_kuke
verbs l

# ------------------------------------------------- refresh (in-process only:
# a daemon may see the exit first and write the status itself)
out=$(local_kuke refresh 2>&1)
t_match_all refresh-format "^Refreshed metadata status:
  Realms: 2 \(default, kuke-system\)
  Spaces: 2 \(default, kukeon\)
  Stacks: 2 \(default, kukeon\)
  Cells: 5 \(l-db, l-fix, l-pend, l-term, l-web\)
  Containers: 12 \([a-z]+(, [a-z]+){4}, \.\.\.\)

Updated:
  \(none\)

Errors:
  \(none\)$" "$out"
K=local_kuke
pid=$(ctr_pid l-web a)
kill -9 "$pid"
# Until its monitor recorded the exit (what refresh reads).
for _ in $(seq 200); do [ -e "$T_TMP/bundles/default.kukeon.io/default_default_l-web_a/exit" ] && break; sleep 0.1; done
t_eq refresh-stale-before Ready "$(stored_state l-web)"
out=$(local_kuke refresh 2>&1)
t_match_all refresh-updated "Updated:
  cell default/default/default/l-web \(Ready -> [A-Za-z]+\)

Errors:
  \(none\)$" "$out"
t_ok refresh-wrote-status test "$(stored_state l-web)" != Ready
t_match_all refresh-again-nothing "Updated:
  \(none\)" "$(local_kuke refresh 2>&1)"

# --------------------------------------------------------- through kukeond
t_start_daemon "$RP" --reconcile-interval 0 || echo "not ok - $T_NAME/daemon"
K=daemon_kuke
verbs d
t_match_all daemon-refresh "^Refreshed metadata status:
  Realms: 2 \(default, kuke-system\)
(.|
)*  Cells: 10 \(d-db, d-fix, d-pend, d-term, d-web, \.\.\.\)" "$(daemon_kuke refresh 2>&1)"
t_match daemon-refresh-help "Observe every resource again" "$(daemon_kuke refresh --help 2>&1)"

for c in l-db l-fix l-pend l-term l-web d-db d-fix d-pend d-term d-web; do
  daemon_kuke delete cell "$c" >/dev/null 2>&1 || echo "not ok - $T_NAME/delete-$c"
done
{ kill "$DPID"; wait "$DPID"; } 2>/dev/null
