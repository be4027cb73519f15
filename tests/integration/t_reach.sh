#!/usr/bin/env bash
# Everything through the API: a client that holds nothing but a socket
# forwarded to kukeond's (bytes only, as a tunnel gives: no descriptors
# passed, none of the runtime dir visible — it runs as a member of the
# socket's group) sees the same logs, follows, attaches and runs as a
# client on kukeond's own socket.
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
for tool in runc setpriv python3; do
  command -v "$tool" >/dev/null || { echo "skip - $T_NAME: $tool not installed"; exit 0; }
done
[ -x /bin/busybox ] || { echo "skip - $T_NAME: busybox-static not installed"; exit 0; }

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

local_kuke() { env KUKEON_HOST="unix://$SOCK" "$KUKE" "$@"; }
fwd_kuke() { t_as_member env KUKEON_HOST="unix://$FWD" "$KUKE" "$@"; }
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
for c in talk slow tty forever; do local_kuke delete cell "$c" >/dev/null 2>&1; done
t_eq daemon-alive 0 "$(kill -0 "$DPID" 2>/dev/null; echo $?)"
