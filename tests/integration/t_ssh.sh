#!/usr/bin/env bash
# kuke --host ssh://: an sshd of the test's own (Debian's openssh-server,
# unpacked by scripts/install-deps; a throwaway host key and client key) on
# 127.0.0.1 in the test's network namespace, in a mount namespace where its
# privilege-separation directory lives on a tmpfs.  The client runs the
# system's OpenSSH client; on the far side `kuke system dial-stdio` bridges
# to kukeond's socket.  get, apply, log -f, exec and run --rm go through it;
# each way of failing is one line.
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
SSHD_ROOT=${KUKEON_TEST_SSHD_ROOT:-/usr/local/lib/kukeon-tests/sshd}
t_require runc ssh ssh-keygen unshare
[ -x "$SSHD_ROOT/usr/sbin/sshd" ] || { echo "skip - $T_NAME: no sshd under $SSHD_ROOT (scripts/install-deps)"; exit 0; }
t_require_busybox

RP="$T_TMP/run"
SOCK="$T_TMP/kukeond.sock"
unset KUKEON_RUN_PATH
KUKEON_RUN_PATH="$RP" "$KUKE" init >/dev/null
t_load_busybox "$RP" || { echo "not ok - $T_NAME/image: busybox image"; exit 0; }
t_start_daemon "$RP" --reconcile-interval 0; t_eq daemon 0 $?

S="$T_TMP/ssh"
mkdir -p "$S"
ssh-keygen -q -t ed25519 -N '' -f "$S/host_key"
ssh-keygen -q -t ed25519 -N '' -f "$S/client_key"
ssh-keygen -q -t ed25519 -N '' -f "$S/stranger_key"
cp "$S/client_key.pub" "$S/authorized_keys"
PORT=$(t_free_port)
PORT2=$(t_free_port)
bindir=$(dirname "$KUKE")
cat >"$S/sshd_config" <<CFG
ListenAddress 127.0.0.1
Port $PORT
Port $PORT2
HostKey $S/host_key
PidFile $S/sshd.pid
AuthorizedKeysFile $S/authorized_keys
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
LogLevel ERROR
SetEnv PATH=$bindir:/usr/sbin:/usr/bin:/sbin:/bin
Match LocalPort $PORT2
  SetEnv PATH=/usr/bin:/bin
CFG
# Port 2 is a host without kukeon (kuke is not on its PATH).  sshd's
# privilege-separation user and directory exist only in its mount namespace.
cp /etc/passwd "$S/passwd"
echo 'sshd:x:65530:65534:kukeon test sshd:/run/sshd:/usr/sbin/nologin' >>"$S/passwd"
(exec unshare --mount -- sh -c 'mount -t tmpfs -o mode=0755 kk-sshd /run && mkdir -m 0755 /run/sshd &&
  mount --bind "$3" /etc/passwd &&
  exec env LD_LIBRARY_PATH="$1/usr/lib/x86_64-linux-gnu:$1/lib/x86_64-linux-gnu" "$1/usr/sbin/sshd" -D -e -f "$2"' \
  sh "$SSHD_ROOT" "$S/sshd_config" "$S/passwd") >"$S/sshd.log" 2>&1 &
sshd_pid=$!
t_cleanup_add "kill $sshd_pid 2>/dev/null"
for _ in $(seq 100); do [ -s "$S/sshd.pid" ] && break; sleep 0.05; done
t_eq sshd-up yes "$([ -s "$S/sshd.pid" ] && echo yes)" || true
[ -s "$S/sshd.pid" ] || sed 's/^/    # sshd: /' "$S/sshd.log"
{ printf '[127.0.0.1]:%s ' "$PORT"; cut -d' ' -f1,2 "$S/host_key.pub"
  printf '[127.0.0.1]:%s ' "$PORT2"; cut -d' ' -f1,2 "$S/host_key.pub"; } >"$S/known_hosts"
cat >"$S/ssh_config" <<CFG
Host *
  IdentityFile $S/client_key
  IdentitiesOnly yes
  UserKnownHostsFile $S/known_hosts
  GlobalKnownHostsFile /dev/null
  StrictHostKeyChecking yes
  LogLevel ERROR
CFG
export KUKEON_SSH_COMMAND="ssh -F $S/ssh_config"
H="ssh://root@127.0.0.1:$PORT$SOCK"
# Every call bounded: a stream that never ends fails its check, not the lane.
rk() { env KUKEON_HOST="$H" timeout -k 5 60 "$KUKE" "$@"; }
lk() { env KUKEON_HOST="unix://$SOCK" timeout -k 5 60 "$KUKE" "$@"; }

out=$(rk get realms 2>&1); rc=$?
t_eq get-realms "0|$(lk get realms 2>&1)" "$rc|$out"
t_cell hello "    - id: main
      image: busybox
      command: /bin/sh
      args: [-c, 'echo hello-over-ssh; echo to-stderr >&2; sleep 1; echo done; sleep 600']"
out=$(rk apply -f "$T_TMP/hello.yaml" 2>&1); rc=$?
t_match apply "^0 .*created" "$rc $(tr '\n' ' ' <<<"$out")"
t_eq get-cell "$(lk get cell hello 2>&1 | awk 'NR>1 {print $1}')" "$(rk get cell hello 2>&1 | awk 'NR>1 {print $1}')"
for _ in $(seq 100); do lk log hello 2>/dev/null | grep -q done && break; sleep 0.1; done
out=$(rk log hello 2>"$T_TMP/err"); rc=$?
t_eq log "0|hello-over-ssh
done|to-stderr" "$rc|$out|$(cat "$T_TMP/err")"
t_cell ends "    - id: main
      image: busybox
      command: /bin/sh
      args: [-c, 'sleep 1; echo first; sleep 1; echo second']"
lk apply -f "$T_TMP/ends.yaml" >/dev/null
out=$(timeout 30 env KUKEON_HOST="$H" "$KUKE" log -f ends 2>&1); rc=$?
t_eq log-follow "0|first
second" "$rc|$out"
out=$(rk exec hello -- /bin/sh -c 'echo in-$(hostname); exit 9' 2>&1); rc=$?
t_eq exec "9|in-hello" "$rc|$out"
out=$(printf 'typed-over-ssh\n' | rk exec -i hello -- /bin/cat 2>&1); rc=$?
t_eq exec-stdin "0|typed-over-ssh" "$rc|$out"
out=$(timeout 60 env KUKEON_HOST="$H" "$KUKE" run --image busybox --rm --name sshrun -- /bin/sh -c 'echo ran-over-ssh; exit 4' 2>/dev/null); rc=$?
t_eq run-rm "4|ran-over-ssh" "$rc|$out"
t_eq run-rm-deleted "" "$(lk get cells 2>/dev/null | awk '$1 == "sshrun"')"

out=$(rk image load -i "$T_TMP/busybox.tar" --realm sshimg --name docker.io/library/busybox 2>&1); rc=$?
t_match image-load "^0 loaded 1 image\(s\) into realm \"sshimg\"" "$rc $out"

# Completion names come through ssh too.
t_eq autocomplete-names "hello" "$(env KUKEON_HOST="$H" timeout -k 5 30 "$KUKE" autocomplete --words -- get cell "" 2>&1 | grep -x hello)"

# Each failure is one line, exit 1.
one_line() { # name regex cmd...
  local name=$1 re=$2; shift 2
  local out rc
  out=$(timeout -k 5 60 "$@" 2>&1); rc=$?
  t_match "$name" "^1 Error: $re" "$rc $out"
  t_eq "$name-one-line" 1 "$(printf '%s\n' "$out" | wc -l)"
}
one_line no-ssh-client "cannot reach ssh://.*not found on PATH" \
  env KUKEON_SSH_COMMAND=/nonexistent/ssh KUKEON_HOST="$H" "$KUKE" get realms
sed "s|$S/client_key|$S/stranger_key|" "$S/ssh_config" >"$S/stranger_config"
one_line auth-failed "ssh to ssh://.* failed: .*Permission denied" \
  env KUKEON_SSH_COMMAND="ssh -F $S/stranger_config" KUKEON_HOST="$H" "$KUKE" get realms
one_line no-kukeon-there "no kukeon on ssh://.*dial-stdio. was not found there" \
  env KUKEON_HOST="ssh://root@127.0.0.1:$PORT2$SOCK" "$KUKE" get realms
one_line daemon-down "ssh://.*: cannot reach kukeond at unix://$T_TMP/nowhere.sock" \
  env KUKEON_HOST="ssh://root@127.0.0.1:$PORT$T_TMP/nowhere.sock" "$KUKE" get realms
one_line bad-url "invalid kukeon host \"ssh://-oProxyCommand=x\"" \
  env KUKEON_HOST="ssh://-oProxyCommand=x" "$KUKE" get realms
one_line bad-path "invalid kukeon host" env KUKEON_HOST="ssh://root@127.0.0.1:$PORT/tmp/a;b" "$KUKE" get realms

lk delete cell hello >/dev/null 2>&1; lk delete cell ends >/dev/null 2>&1
t_eq no-ssh-left "" "$(pgrep -f "ssh -F $S/" || true)"
