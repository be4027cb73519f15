#!/usr/bin/env bash
# Everything through the API: a client that holds nothing but a socket
# forwarded to kukeond's (bytes only, as a tunnel gives: no descriptors
# passed, none of the runtime dir visible — it runs as a member of the
# socket's group) sees the same logs, follows, attaches and runs as a
# client on kukeond's own socket.
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
t_require runc setpriv python3
t_require_busybox

RP="$T_TMP/run"
SOCK="$T_TMP/kukeond.sock"
FWD="$T_TMP/fwd.sock"
unset KUKEON_RUN_PATH
chmod 0755 "$T_TMP"
KUKEON_RUN_PATH="$RP" "$KUKE" init >/dev/null
t_load_busybox "$RP" || { echo "not ok - $T_NAME/image: busybox image"; exit 0; }
chmod 0700 "$RP"
t_start_daemon "$RP" --socket-gid "$T_MEMBER_GID" --reconcile-interval 0; t_eq daemon 0 $?
python3 "$KUKEON_SRC/tests/helpers/kk-fwd.py" "$FWD" "$SOCK" &
fwd_pid=$!
t_cleanup_add "kill $fwd_pid 2>/dev/null"
for _ in $(seq 100); do [ -S "$FWD" ] && break; sleep 0.05; done

# Every call bounded: a stream that never ends fails its check, not the lane.
# (The signal checks run kuke itself, under a watchdog: timeout(1) would send
# the signal to its whole process group.)
BOUND="timeout -k 5 60"
# signalled SIG OUT CMD...: CMD in the background (output to OUT) until it
# prints "armed", then SIG to its pid; RC its exit status.  A watchdog ends
# it after 60 s, should the signal not.
signalled() {
  local sig=$1 out=$2 pid wd _
  shift 2
  "$@" >"$out" 2>&1 &
  pid=$!
  (sleep 60; kill -9 "$pid" 2>/dev/null) &
  wd=$!
  for _ in $(seq 200); do grep -q armed "$out" && break; sleep 0.05; done
  kill -"$sig" "$pid"
  wait "$pid" 2>/dev/null
  RC=$?
  kill "$wd" 2>/dev/null
  wait "$wd" 2>/dev/null
}
# A member's kuke whose pid is kuke's own (t_as_member is a function: in the
# background it would be a subshell, and the signal would end that).
MEMBER=(setpriv --reuid=65533 --regid=65533 --groups=$T_MEMBER_GID env HOME=/nonexistent)
local_kuke() { env KUKEON_HOST="unix://$SOCK" $BOUND "$KUKE" "$@"; }
fwd_kuke() { t_as_member env KUKEON_HOST="unix://$FWD" $BOUND "$KUKE" "$@"; }
# Both ways, stdout and stderr apart: "<rc>|<stdout>|<stderr>".
both() { # name cmd...
  local name=$1; shift
  local lo le fo fe lrc frc
  lo=$(local_kuke "$@" 2>"$T_TMP/le"); lrc=$?
  fo=$(fwd_kuke "$@" 2>"$T_TMP/fe"); frc=$?
  t_eq "$name" "$lrc|$lo|$(cat "$T_TMP/le")" "$frc|$fo|$(cat "$T_TMP/fe")"
}

t_cell talk "    - id: main
      image: busybox
      command: /bin/sh
      args: [-c, 'for i in 1 2 3; do echo out\$i; echo err\$i >&2; done; exit 3']"
local_kuke apply -f "$T_TMP/talk.yaml" >/dev/null
for _ in $(seq 100); do
  local_kuke log talk 2>&1 | grep -q err3 && break; sleep 0.1
done
both log-same log talk
out=$(fwd_kuke log talk 2>/dev/null)
t_eq log-stdout-apart "out1
out2
out3" "$out"
both log-tail-same log talk --tail 1
both log-timestamps-same log talk --timestamps
both log-missing-cell-same log nosuch

# A follower sees the lines as they come and ends with the container.
t_cell slow "    - id: main
      image: busybox
      command: /bin/sh
      args: [-c, 'sleep 1; echo late; sleep 1; echo later']"
local_kuke apply -f "$T_TMP/slow.yaml" >/dev/null
out=$(timeout 30 env KUKEON_HOST="unix://$FWD" setpriv --reuid=65533 --regid=65533 --groups=$T_MEMBER_GID \
  env HOME=/nonexistent "$KUKE" log -f slow 2>&1); rc=$?
t_eq follow-forwarded "0|late
later" "$rc|$out"

# kuke run in the foreground: output and exit code, through the tunnel.
out=$(timeout 60 env KUKEON_HOST="unix://$FWD" "$KUKE" run --image busybox --rm -- /bin/sh -c 'echo ran; echo oops >&2; exit 7' 2>"$T_TMP/run.err"); rc=$?
t_eq run-forwarded "7|ran|oops" "$rc|$out|$(grep -v '^$' "$T_TMP/run.err" | tail -n 1)"

# attach to a terminal container: input in, output back, Ctrl-D ends cat.
t_cell tty "    - id: main
      image: busybox
      attachable: true
      command: /bin/cat"
local_kuke apply -f "$T_TMP/tty.yaml" >/dev/null
sleep 0.5
out=$(printf 'hello-through-tunnel\n\004' | timeout 20 env KUKEON_HOST="unix://$FWD" setpriv --reuid=65533 \
  --regid=65533 --groups=$T_MEMBER_GID env HOME=/nonexistent "$KUKE" attach tty 2>&1); rc=$?
t_match attach-forwarded "hello-through-tunnel" "$out"
t_eq attach-forwarded-exit 0 "$rc"

# A follower that leaves ends its stream in kukeond (no thread left behind).
t_cell forever "    - id: main
      image: busybox
      command: /bin/sh
      args: [-c, 'while :; do echo tick; sleep 0.2; done']"
local_kuke apply -f "$T_TMP/forever.yaml" >/dev/null
threads=$(ls /proc/$DPID/task | wc -l)
(exec env KUKEON_HOST="unix://$FWD" "$KUKE" log -f forever >/dev/null 2>&1) &
fpid=$!
sleep 1
kill -TERM "$fpid"; wait "$fpid" 2>/dev/null
for _ in $(seq 60); do [ "$(ls /proc/$DPID/task | wc -l)" -le "$threads" ] && break; sleep 0.05; done
t_eq follower-left-thread-ends yes "$([ "$(ls /proc/$DPID/task | wc -l)" -le "$threads" ] && echo yes)"
# The other commands are plain requests: through the tunnel they print what
# they print on kukeond's own socket.
same() { # name cmd... (live usage figures left out: they move between two calls)
  local name=$1; shift
  local lo fo lrc frc
  lo=$(local_kuke "$@" 2>&1 | grep -Ev 'Current|Usage'); lrc=${PIPESTATUS[0]}
  fo=$(env KUKEON_HOST="unix://$FWD" $BOUND "$KUKE" "$@" 2>&1 | grep -Ev 'Current|Usage'); frc=${PIPESTATUS[0]}
  t_eq "$name" "$lrc|$lo" "$frc|$fo"
}
same get-realms-yaml get realms -o yaml
same get-spaces get spaces
same get-stacks get stacks
same get-cells-yaml get cells -o yaml
same get-cell-missing get cell nosuch
same get-containers get containers --cell talk
same export-cell export cell talk
sed 's/talk/talk2/' "$T_TMP/talk.yaml" >"$T_TMP/talk2.yaml"
out=$(env KUKEON_HOST="unix://$FWD" $BOUND "$KUKE" apply -f "$T_TMP/talk2.yaml" 2>&1); rc=$?
t_match apply-forwarded '^0 .*talk2' "$rc $(tr '\n' ' ' <<<"$out")"
same apply-again apply -f "$T_TMP/talk2.yaml"
out=$(env KUKEON_HOST="unix://$FWD" $BOUND "$KUKE" delete cell talk2 2>&1); rc=$?
t_match delete-forwarded '^0 ' "$rc $out"
t_eq delete-forwarded-gone "" "$(local_kuke get cells 2>/dev/null | awk '$1 == "talk2"')"

# image load: the archive goes as frames after the request, no descriptor.
out=$(env KUKEON_HOST="unix://$FWD" $BOUND "$KUKE" image load -i "$T_TMP/busybox.tar" --realm fwdimg \
  --name docker.io/library/busybox 2>&1); rc=$?
want=$(local_kuke image load -i "$T_TMP/busybox.tar" --realm localimg --name docker.io/library/busybox 2>&1)
t_eq image-load-forwarded "0|${want//localimg/fwdimg}" "$rc|$out"
out=$(head -c 100000 "$T_TMP/busybox.tar" | env KUKEON_HOST="unix://$FWD" $BOUND "$KUKE" image load -i - --realm fwdimg 2>&1); rc=$?
t_match image-load-truncated-refused '^1 Error: ' "$rc $out"
t_eq image-load-truncated-one-line 1 "$(printf '%s\n' "$out" | wc -l)"
t_match image-load-then-served '^docker.io/library/busybox' "$(env KUKEON_HOST="unix://$FWD" $BOUND "$KUKE" image list --realm fwdimg 2>&1 | tail -n 1)"

# ------------------------------------------------------------------ exec
# The same command through kukeond's socket, the forwarded one and
# in-process (an explicit run path): output apart, exit code passed on.
# Sleeps this run alone starts (other tests may run beside it).
SLEEP_A=$((100000 + $$)) SLEEP_B=$((200000 + $$))
inproc_kuke() { env KUKEON_RUN_PATH="$RP" $BOUND "$KUKE" "$@"; }
three() { # name cmd... : local, forwarded (a member) and in-process agree; sets GOT
  local name=$1; shift
  local lo fo io lrc frc irc
  lo=$(local_kuke "$@" 2>"$T_TMP/le" </dev/null); lrc=$?
  fo=$(fwd_kuke "$@" 2>"$T_TMP/fe" </dev/null); frc=$?
  io=$(inproc_kuke "$@" 2>"$T_TMP/ie" </dev/null); irc=$?
  t_eq "$name-forwarded" "$lrc|$lo|$(cat "$T_TMP/le")" "$frc|$fo|$(cat "$T_TMP/fe")"
  t_eq "$name-in-process" "$lrc|$lo|$(cat "$T_TMP/le")" "$irc|$io|$(cat "$T_TMP/ie")"
  GOT="$lrc|$lo|$(cat "$T_TMP/le")"
}
three exec-streams exec forever -- /bin/sh -c 'echo out; echo err >&2; exit 5'
t_eq exec-streams "5|out|err" "$GOT"
three exec-env exec forever -e KK_A=one -e KK_B=two -- /bin/sh -c 'echo $KK_A-$KK_B-$PATH'
t_match exec-env '^0\|one-two-/' "$GOT"
three exec-user-name exec forever -u kk -- /bin/sh -c 'id -u; id -g'
t_eq exec-user-name "0|1234
4321|" "$GOT"
three exec-user-ids exec forever -u 77:88 -- /bin/sh -c 'echo $(id -u):$(id -g)'
t_eq exec-user-ids "0|77:88|" "$GOT"
three exec-workdir exec forever -w /tmp -- /bin/pwd
t_eq exec-workdir "0|/tmp|" "$GOT"
# In the container's cgroup, with its capabilities.
out=$(local_kuke exec forever -- /bin/sh -c 'cat /proc/self/cgroup; grep CapEff /proc/self/status' 2>&1)
want=$(local_kuke exec forever -- /bin/sh -c 'cat /proc/1/cgroup; grep CapEff /proc/1/status' 2>&1)
t_eq exec-cgroup-caps-of-container "$want" "$out"
local_kuke exec forever -- /bin/sleep "$SLEEP_A" >/dev/null 2>&1 &
kpid=$!
hp=
for _ in $(seq 100); do hp=$(pgrep -f "^/bin/sleep $SLEEP_A\$") && break; sleep 0.05; done
t_match exec-in-cell-cgroup-seen-from-host "$KUKEON_CGROUP_ROOT/.*forever" "$(cat /proc/$hp/cgroup 2>&1)"
kill -INT "$kpid"; wait "$kpid" 2>/dev/null
# Input with -i, a terminal with -t.
out=$(printf 'line-in\n' | fwd_kuke exec -i forever -- /bin/cat 2>&1); rc=$?
t_eq exec-stdin "0|line-in" "$rc|$out"
out=$(printf 'line-in\n' | fwd_kuke exec forever -- /bin/cat 2>&1); rc=$?
t_eq exec-no-stdin-without-i "0|" "$rc|$out"
out=$(fwd_kuke exec -t forever -- /bin/sh -c 'test -t 0 && test -t 1 && echo on-a-tty' </dev/null 2>&1); rc=$?
t_eq exec-tty "0|on-a-tty" "$rc|$(tr -d '\r' <<<"$out")"
out=$(printf 'typed\n\004' | fwd_kuke exec -it forever -- /bin/cat 2>&1); rc=$?
t_match exec-tty-input "typed" "$out"
t_eq exec-tty-input-exit 0 "$rc"
# Signals sent to kuke exec reach the command (sig-proxy), also forwarded.
signalled TERM "$T_TMP/sig.out" "${MEMBER[@]}" KUKEON_HOST="unix://$FWD" "$KUKE" exec forever -- /bin/sh -c \
  'trap "exit 42" TERM; echo armed; sleep 30 & wait'
t_eq exec-sigterm-forwarded 42 "$RC"
signalled INT "$T_TMP/int.out" env KUKEON_HOST="unix://$SOCK" "$KUKE" exec forever -- /bin/sh -c \
  'echo armed; exec sleep 30'
t_eq exec-sigint-forwarded 130 "$RC"
# A client that dies leaves nothing running: the command is hung up.
signalled KILL "$T_TMP/gone.out" "${MEMBER[@]}" KUKEON_HOST="unix://$FWD" "$KUKE" exec forever -- /bin/sh -c \
  "echo armed; exec sleep $SLEEP_B"
gone=no
for _ in $(seq 200); do pgrep -f "sleep $SLEEP_B\$" >/dev/null || { gone=yes; break; }; sleep 0.05; done
t_eq exec-client-killed-command-gone yes "$gone"
# Errors: one line, non-zero.
out=$(fwd_kuke exec talk -- /bin/true 2>&1); rc=$?
t_match exec-stopped-refused '^1 Error: container "main" of cell "talk" is not running$' "$rc $out"
out=$(fwd_kuke exec nosuch -- /bin/true 2>&1); rc=$?
t_match exec-missing-cell '^1 Error: .*nosuch' "$rc $out"
out=$(fwd_kuke exec forever 2>&1); rc=$?
t_match exec-no-command '^1 Error: (exec needs a cell and a command|missing argument for "kuke exec")' "$rc $out"
out=$(fwd_kuke exec forever -u nosuchuser -- /bin/true 2>&1); rc=$?
t_match exec-unknown-user '^1 Error: .*nosuchuser' "$rc $out"
out=$(local_kuke exec forever -- /nonexistent 2>&1); rc=$?
t_match exec-missing-binary-fails "^[1-9][0-9]* " "$rc $out"
t_eq exec-daemon-threads-back yes "$([ "$(ls /proc/$DPID/task | wc -l)" -le "$threads" ] && echo yes)"

for c in talk slow tty forever; do local_kuke delete cell "$c" >/dev/null 2>&1; done
t_eq daemon-alive 0 "$(kill -0 "$DPID" 2>/dev/null; echo $?)"

# kuke run forwards SIGINT and SIGTERM to its container (docker's sig-proxy):
# the container decides, kuke run exits with its code.
for how in local fwd inproc; do
  case $how in
    local) pre=(env KUKEON_HOST="unix://$SOCK") ;;
    fwd) pre=(env KUKEON_HOST="unix://$FWD") ;;
    inproc) pre=(env KUKEON_RUN_PATH="$RP") ;;
  esac
  signalled INT "$T_TMP/sig-$how.out" "${pre[@]}" "$KUKE" run --image busybox --rm --name "sig-$how" -- /bin/sh -c \
    'trap "echo got-term; exit 43" TERM; trap "echo got-int; exit 44" INT; echo armed; while :; do sleep 0.1; done'
  t_eq "run-sigint-to-container-$how" "44|got-int" "$RC|$(grep got- "$T_TMP/sig-$how.out")"
  t_eq "run-rm-after-signal-$how" "" "$(local_kuke get cells 2>/dev/null | awk -v n="sig-$how" '$1 == n')"
done
signalled TERM "$T_TMP/sig-term.out" "${pre[@]}" "$KUKE" run --image busybox --rm --name sig-term -- /bin/sh -c \
  'trap "exit 43" TERM; echo armed; while :; do sleep 0.1; done'
t_eq run-sigterm-to-container 43 "$RC"
