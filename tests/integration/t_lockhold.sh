#!/usr/bin/env bash
# A reconcile pass never holds the tree lock for long (issue 20.2: no lock
# across a stop).  A cell whose container ignores SIGTERM, with a 30 s stop
# timeout, is taken down and brought back by kukeond's supervisor twice:
# its root killed (the whole cell restarts: the stubborn container lost
# its namespaces) and then the stubborn container itself (its restart
# policy).  All the while `kuke get cells` through kukeond answers, each
# call within a generous bound (5 s, times KUKEON_TEST_SLOW), far below
# the 30 s a graceful stop under the lock would block it for.
. "$(dirname "$0")/lib.sh"
[ "$(id -u)" = 0 ] || { echo "skip - $T_NAME: needs root"; exit 0; }
t_require_runtime
t_require_cni
RP="$T_TMP/run"
unset KUKEON_RUN_PATH
k() { "$KUKE" "$@"; }
BOUND_MS=$((5000 * T_SLOW))

KUKEON_RUN_PATH="$RP" "$KUKE" init >/dev/null
t_load_busybox "$RP"; t_eq image-loaded 0 $?
t_start_daemon "$RP" --reconcile-interval 1s; t_eq daemon-start 0 $?

t_cell s "    - {id: w, image: docker.io/library/busybox, command: sh, args: [\"-c\", \"trap '' TERM; while :; do sleep 1; done\"], restartPolicy: always, restartBackoffSeconds: 1}"
sed -i 's/^spec:$/spec:\n  stopTimeoutSeconds: 30/' "$T_TMP/s.yaml"
t_ok apply k apply -f "$T_TMP/s.yaml"
t_eq stop-timeout 30 "$(t_doc s 'd["spec"]["stopTimeoutSeconds"]')"
root=$(t_doc s 'd["spec"]["rootContainerId"]')
pid_of() { t_doc s "[c.get('pid', 0) for c in d['status']['containers'] if c['name'] == '$1'][0]"; }
alive() { [ -n "$1" ] && [ "$1" != 0 ] && kill -0 "$1" 2>/dev/null; }
back() { # container old-pid: running again, as another process
  local p; p=$(pid_of "$1"); [ "$p" != "$2" ] && alive "$p"
}

# `kuke get cells` in a loop for $1 seconds; the slowest call's ms in
# $T_TMP/slowest, and a failed call fails the loop.
probe() {
  local end=$(($(date +%s) + $1)) slowest=0 t0 ms
  while [ "$(date +%s)" -lt "$end" ]; do
    t0=$(date +%s%N)
    k get cells >/dev/null 2>&1 || { echo "get cells failed" >"$T_TMP/slowest"; return 1; }
    ms=$((($(date +%s%N) - t0) / 1000000))
    [ "$ms" -gt "$slowest" ] && slowest=$ms
    sleep 0.05
  done
  echo "$slowest" >"$T_TMP/slowest"
}
# Kill container $1 of the cell, probing meanwhile until it is back.
supervised() { # name container
  local old; old=$(pid_of "$2")
  t_ok "$1-running" alive "$old"
  probe $((8 * T_SLOW)) &
  local probe_pid=$!
  t_cleanup_add "kill $probe_pid 2>/dev/null"
  sleep 0.5
  kill -9 "$old"
  t_ok "$1-back" t_wait $((6 * T_SLOW)) back "$2" "$old"
  wait "$probe_pid"; t_eq "$1-probe" 0 $?
  local slowest; slowest=$(cat "$T_TMP/slowest")
  if [[ "$slowest" =~ ^[0-9]+$ ]] && [ "$slowest" -lt "$BOUND_MS" ]; then
    echo "ok - $T_NAME/$1-answers-quickly # slowest get cells: $slowest ms"
  else
    echo "not ok - $T_NAME/$1-answers-quickly (slowest get cells: $slowest ms, bound $BOUND_MS ms)"
  fi
}

w0=$(pid_of w)
supervised root-killed "$root"
# The stubborn container went with its root and came back: SIGKILL, not a
# 30 s graceful stop.
t_ok root-killed-w-new back w "$w0"
supervised w-killed w
t_eq ready Ready "$(t_state s)"
t_match restarts-logged 'restarted cell s|restarted container' "$(cat "$T_TMP/kukeond.log")"

t_ok cleanup k kill cell s
t_ok cleanup-delete k delete cell s
kill "$DPID" 2>/dev/null; wait "$DPID" 2>/dev/null
