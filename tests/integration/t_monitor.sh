#!/usr/bin/env bash
# The per-container monitor (runtime/monitor.c) with the real runc: a
# terminal container driven through a pty (attach, resize, ^]^] detach),
# stdin through attach, exit codes and signals, a complete log of 100 MB,
# rotation, follow across rotation, and a monitor that outlives signals and
# the process that spawned it.
. "$(dirname "$0")/lib.sh"
command -v runc >/dev/null || { echo "skip - $T_NAME: runc not installed"; exit 0; }
H="$BUILD/tests/helpers/kk-monitor"
K="$BUILD/kukeon-monitor"
RUNC_ROOT="$T_TMP/runc"
R="runc --root $RUNC_ROOT"
P="kk-mon-$$"
rootfs="$T_TMP/rootfs"
mkdir -p "$rootfs/bin" "$rootfs/etc"
cp /bin/busybox "$rootfs/bin/" 2>/dev/null || { echo "skip - $T_NAME: busybox-static not installed"; exit 0; }
for a in sh echo cat sleep awk stty usleep; do ln -s busybox "$rootfs/bin/$a"; done
cat > "$T_TMP/cell.yaml" <<Y
kind: Cell
metadata: {name: c1}
spec:
  realmId: default
  spaceId: default
  stackId: default
  containers:
  - {id: a, root: true, image: busybox, command: /bin/true}
Y

cleanup_monitors() {
  local id f pid
  for id in $($R list -q 2>/dev/null); do $R kill "$id" KILL; done
  sleep 0.5
  for id in $($R list -q 2>/dev/null); do $R delete -f "$id"; done
  # Monitors leave on their own once their container is gone; any left
  # (this test started them) are ended by pid.
  sleep 1.2
  for f in "$T_TMP"/*/monitor.pid; do
    [ -e "$f" ] || continue
    pid=$(cat "$f")
    grep -qs kukeon-monitor "/proc/$pid/comm" && kill -KILL "$pid"
  done
  [ -n "${holder:-}" ] && kill -KILL "$holder"
  return 0
}
t_cleanup_add cleanup_monitors

# bundle NAME TERMINAL(0|1) ARGS-JSON: config.json from runtime/bundle.c, with
# the command and process.terminal replaced.
bundle() {
  mkdir -p "$T_TMP/b-$1" "$T_TMP/m-$1"
  "$BUILD/tests/helpers/kk-bundle" "$T_TMP/cell.yaml" a "$rootfs" "$KUKEON_CGROUP_ROOT" | python3 -c '
import json, sys
c = json.load(sys.stdin)
c["process"]["terminal"] = sys.argv[1] == "1"
c["process"]["args"] = json.loads(sys.argv[2])
print(json.dumps(c))' "$2" "$3" > "$T_TMP/b-$1/config.json"
}
# spawn NAME [LOG-MAX] [--stdin]: run the container under its monitor.
spawn() {
  local n=$1; shift
  "$H" spawn "$K" "$RUNC_ROOT" "$T_TMP/b-$n" "$P-$n" "$T_TMP/m-$n" "$@"
}
mon() { cat "$T_TMP/m-$1/monitor.pid"; }
wait_exit() { # NAME [SECONDS]
  local i
  for ((i = 0; i < ${2:-30} * 10; i++)); do [ -e "$T_TMP/m-$1/exit" ] && return 0; sleep 0.1; done
  return 1
}
state() { $R state "$P-$1" 2>/dev/null | python3 -c 'import json,sys; print(json.load(sys.stdin)["status"])'; }
alive() { [ -n "$1" ] && grep -qs kukeon-monitor "/proc/$1/comm" && ! grep -qs '^State:.*zombie' "/proc/$1/status"; }
# Sockets the monitor holds (its listener and the attach clients).
sockets() { ls -l "/proc/$1/fd" 2>/dev/null | grep -c 'socket:'; }
# Wait until the monitor holds more sockets than $2 (an attach client got in).
wait_client() {
  local i
  for ((i = 0; i < 100; i++)); do [ "$(sockets "$1")" -gt "$2" ] && return 0; sleep 0.05; done
  return 1
}

# --- terminal container: attach through a pty, resize, detach, again -----
bundle tty 1 '["/bin/sh"]'
t_match tty-create '^[0-9]+$' "$(spawn tty 2>&1)"
t_eq tty-running-at-once running "$(state tty)"
t_eq tty-no-console-socket-left "" "$(ls "$T_TMP/m-tty" | grep console)"
t_ok tty-attach-echo-resize-detach timeout 30 "$H" ttytest "$T_TMP/m-tty" 'echo hi$((1+1))\n' 'hi2' 'stty size\n' '33 101'
t_eq tty-running-after-detach running "$(state tty)"
t_ok tty-attach-again timeout 30 "$H" ttytest "$T_TMP/m-tty" 'echo again$((2+3))\n' 'again5'
t_match tty-logged-as-stdout 'stdout F hi2' "$(cat "$T_TMP/m-tty/log")"
t_match tty-log-read '^again5' "$("$H" log "$T_TMP/m-tty" | tr -d '\r')"
$R kill "$P-tty" KILL
wait_exit tty
t_eq tty-sigkill-recorded "137 SIGKILL" "$("$H" exit "$T_TMP/m-tty")"
t_eq attach-socket-gone-after-exit "" "$(ls "$T_TMP/m-tty" | grep -x attach)"
out=$("$H" attach "$T_TMP/m-tty" </dev/null 2>&1); rc=$?
t_eq attach-ended-container-refused "1" "$rc"
t_match attach-ended-container-says-so 'not running' "$out"

# A create that fails says runc's reason and leaves no container behind.
bundle bad 0 '["/nope"]'
out=$(spawn bad 2>&1); rc=$?
t_eq create-fails "1" "$rc"
t_match create-fails-with-runc-reason 'no such file or directory' "$out"
t_eq create-fails-leaves-nothing "" "$($R list -q | grep -x "$P-bad")"

# --- stdin pipe through attach; stdout and stderr apart; exit code -------
bundle in 0 '["/bin/sh","-c","cat; echo done >&2; exit 3"]'
spawn in 0 --stdin >/dev/null
m=$(mon in); n0=$(sockets "$m")
printf 'abc\ndef' | timeout 30 "$H" attach "$T_TMP/m-in" > "$T_TMP/in.out" 2> "$T_TMP/in.err" &
apid=$!
wait_client "$m" "$n0"
wait $apid
t_eq stdin-attach-stdout "$(printf 'abc\ndef')" "$(cat "$T_TMP/in.out")"
t_eq stdin-attach-stderr "$(printf 'done\nattach: ended')" "$(cat "$T_TMP/in.err")"
wait_exit in
t_eq exit-code-3 "3 " "$("$H" exit "$T_TMP/m-in")"
t_eq log-stdout "$(printf 'abc\ndef')" "$("$H" log "$T_TMP/m-in" 2>/dev/null)"
t_eq log-stderr "done" "$("$H" log "$T_TMP/m-in" 2>&1 >/dev/null)"

# Without --stdin the container's stdin is /dev/null: cat ends at once.
bundle noin 0 '["/bin/cat"]'
spawn noin >/dev/null
wait_exit noin 10
t_eq no-stdin-is-dev-null "0 " "$("$H" exit "$T_TMP/m-noin")"

# --- 100 MB of output, every line in the log ------------------------------
gen='BEGIN{p=sprintf("%091d",0); for(i=1;i<=N;i++) printf "%08d %s\n", i, p}'
bundle big 0 "$(python3 -c 'import json,sys; print(json.dumps(["/bin/awk","-v","N=1000000",sys.argv[1]]))' "$gen")"
spawn big 268435456 >/dev/null
wait_exit big 120
t_eq big-exit "0 " "$("$H" exit "$T_TMP/m-big")"
"$H" log "$T_TMP/m-big" > "$T_TMP/big.out"
t_eq big-lines 1000000 "$(wc -l < "$T_TMP/big.out")"
t_ok big-complete cmp "$T_TMP/big.out" <(busybox awk -v N=1000000 "$gen")
t_eq big-not-rotated "" "$(ls "$T_TMP/m-big" | grep -x log.1)"
rm -f "$T_TMP/big.out" "$T_TMP/m-big/log"

# --- an attach client that does not read neither stalls the container nor
# costs the log a line (the monitor drops it past 1 MiB of backlog) --------
bundle slow 0 "$(python3 -c 'import json,sys; print(json.dumps(["/bin/sh","-c","usleep 500000; exec awk -v N=200000 \"$0\"",sys.argv[1]]))' "$gen")"
spawn slow 268435456 >/dev/null
m=$(mon slow); n0=$(sockets "$m")
( timeout 30 "$H" attach "$T_TMP/m-slow" </dev/null 2>/dev/null | { sleep 8; cat >/dev/null; } ) &
spid=$!
wait_client "$m" "$n0"
t_ok slow-attach-does-not-stall wait_exit slow 6
t_eq slow-attach-log-complete 200000 "$("$H" log "$T_TMP/m-slow" | wc -l)"
wait $spid

# --- rotation at a small cap: one generation, the newest lines complete ----
bundle rot 0 "$(python3 -c 'import json,sys; print(json.dumps(["/bin/awk","-v","N=2000",sys.argv[1]]))' "$gen")"
spawn rot 65536 >/dev/null
wait_exit rot 30
s0=$(stat -c %s "$T_TMP/m-rot/log"); s1=$(stat -c %s "$T_TMP/m-rot/log.1" 2>/dev/null || echo none)
t_match rot-sizes-capped '^[0-9]+ [0-9]+$' "$s0 $s1"
[ "$s1" != none ] && t_eq rot-under-cap "yes" "$([ "$s0" -le 65536 ] && [ "$s1" -le 65536 ] && echo yes)"
"$H" log "$T_TMP/m-rot" > "$T_TMP/rot.out"
t_eq rot-last-line 2000 "$(tail -n 1 "$T_TMP/rot.out" | cut -c1-8 | sed 's/^0*//')"
t_eq rot-contiguous ok "$(awk 'NR==1{p=$1; next} $1!=p+1{print "gap at " $1; exit} {p=$1} END{if (NR>0) print "ok"}' "$T_TMP/rot.out" | tail -n 1)"
t_match rot-kept-more-than-one-file '^[4-9][0-9][0-9]|^1[0-9][0-9][0-9]' "$(wc -l < "$T_TMP/rot.out")"

# --- follow across rotation: a follower sees every line -------------------
bundle fol 0 '["/bin/sh","-c","usleep 500000; i=1; while [ $i -le 3000 ]; do echo \"line $i abcdefghijklmnopqrstuvwxyz\"; [ $((i % 100)) = 0 ] && usleep 20000; i=$((i+1)); done"]'
spawn fol 16384 >/dev/null
timeout 60 "$H" log "$T_TMP/m-fol" -f > "$T_TMP/fol.out" &
fpid=$!
wait $fpid
t_eq follow-ended-with-container 0 "$?"
t_ok follow-every-line cmp "$T_TMP/fol.out" <(for ((i = 1; i <= 3000; i++)); do echo "line $i abcdefghijklmnopqrstuvwxyz"; done)
t_match follow-rotated-meanwhile '^[0-9]+$' "$(stat -c %s "$T_TMP/m-fol/log.1" 2>&1)"

# --- the monitor outlives signals and the process that spawned it ---------
bundle surv 0 '["/bin/sleep","600"]'
bash -c '"$@"; exec sleep 300' spawner "$H" spawn "$K" "$RUNC_ROOT" "$T_TMP/b-surv" "$P-surv" "$T_TMP/m-surv" >/dev/null &
holder=$!
for ((i = 0; i < 100; i++)); do [ -e "$T_TMP/m-surv/pid" ] && [ "$(state surv)" = running ] && break; sleep 0.1; done
m=$(mon surv)
t_eq monitor-not-child-of-spawner yes "$([ "$(awk '/^PPid/{print $2}' "/proc/$m/status")" != "$holder" ] && echo yes)"
kill -KILL "$holder"; wait "$holder" 2>/dev/null; holder=
kill -TERM "$m"; kill -HUP "$m"; kill -INT "$m"; kill -QUIT "$m"
sleep 0.5
t_ok monitor-survives-signals-and-spawner alive "$m"
t_eq container-still-running running "$(state surv)"
# The monitor's whole resident set (a static program: no shared library
# pages to discount).
rss=$(awk '/^VmRSS:/{print $2}' "/proc/$m/status")
echo "# monitor memory (kB): VmRSS $rss $(awk '/^(Pss|Anonymous):/{printf "%s %s ", $1, $2}' "/proc/$m/smaps_rollup")"
if ldd "$K" 2>/dev/null | grep -q libasan; then
  echo "skip - $T_NAME/monitor-rss-under-1MiB: sanitizer build"
else
  t_eq monitor-rss-under-1MiB yes "$([ "$rss" -lt 1024 ] && echo yes)"
fi
# (SIGTERM would not do: the pid namespace's init ignores what it has no
# handler for.)
$R kill "$P-surv" KILL
wait_exit surv 10
t_eq exit-after-survival "137 SIGKILL" "$("$H" exit "$T_TMP/m-surv")"
sleep 0.3
t_fail monitor-gone-after-exit alive "$m"
