#!/usr/bin/env bash
# The socket group and the peer policy.  A member of the socket's group
# (uid 65533, supplementary group 65534) talks to kukeond through the socket
# alone: under the restricted policy (the default) it may run ordinary
# cells, read their logs and attach, but not bind / or take host
# namespaces, privileges or capabilities; under the trusted policy it can
# read /etc/shadow through a bind of / (root-equivalent, as documented);
# root is never restricted.
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
t_require runc setpriv
t_require_busybox

RP="$T_TMP/run"
SOCK="$T_TMP/kukeond.sock"
export KUKEON_HOST="unix://$SOCK"
unset KUKEON_RUN_PATH
chmod 0755 "$T_TMP"
GID=$T_MEMBER_GID
# A member of the socket's group: nothing but the socket reaches kukeon's
# files (the run path and the runtime dir stay root's).
member() { t_member "$@"; }

KUKEON_RUN_PATH="$RP" "$KUKE" init >/dev/null
t_load_busybox "$RP" || { echo "not ok - $T_NAME/image: busybox image"; exit 0; }
chmod 0700 "$RP"

cell() { # name, container yaml lines (indented 6)
  t_cell "$1" "    - id: main
      image: busybox
$2"
}

restart_daemon() {
  [ -n "$DPID" ] && kill -TERM "$DPID" 2>/dev/null && wait "$DPID" 2>/dev/null
  t_start_daemon "$RP" --socket-gid "$GID" --reconcile-interval 0 "$@"
}

# ------------------------------------------------------- restricted (default)
restart_daemon; t_eq start-restricted 0 $?

cell shadow "      command: /bin/cat
      args: [/host/etc/shadow]
      volumes:
        - {source: /, target: /host, readOnly: true}"
before=$(t_tree "$RP")
out=$(member apply -f "$T_TMP/shadow.yaml" 2>&1); rc=$?
t_eq restricted-bind-root-exit 1 "$rc"
t_match restricted-bind-root-msg '^Error: permission denied: container "main": volumes.source: host path / \(outside allowedHostPaths\)' "$out"
t_eq restricted-bind-root-one-line 1 "$(printf '%s\n' "$out" | wc -l)"
t_eq restricted-nothing-written "$before" "$(t_tree "$RP")"

# The system realm holds kukeond's own cell: a restricted member reads it
# and changes nothing in it (delete, purge, apply, cell operations).
sysref='realm \"kuke-system\" holds kukeond.s own cell'
before=$(t_tree "$RP")
out=$(member delete realm kuke-system --cascade 2>&1); rc=$?
t_match restricted-system-delete "^1 Error: permission denied: delete: $sysref" "$rc $out"
out=$(member purge realm kuke-system --cascade 2>&1); rc=$?
t_match restricted-system-purge "^1 Error: permission denied: purge: $sysref" "$rc $out"
out=$(member create stack extra --realm kuke-system --space kukeon 2>&1); rc=$?
t_match restricted-system-create "^1 Error: permission denied: create or apply: $sysref" "$rc $out"
out=$(member stop cell kukeond --realm kuke-system --space kukeon --stack kukeon 2>&1); rc=$?
t_match restricted-system-stop "^1 Error: permission denied: cell operation: $sysref" "$rc $out"
t_eq restricted-system-unchanged "$before" "$(t_tree "$RP")"
t_ok restricted-system-readable member get stacks --realm kuke-system

refused() { # name, container yaml lines, field in the message
  cell "$1" "$2"
  out=$(member apply -f "$T_TMP/$1.yaml" 2>&1); rc=$?
  t_match "restricted-$1" "^1 Error: permission denied: container \"main\": $3" "$rc $out"
}
refused privileged "      privileged: true" 'privileged: a privileged container'
refused hostnet "      hostNetwork: true" 'hostNetwork: a host namespace'
refused hostpid "      hostPID: true" 'hostPID: a host namespace'
refused capadd "      capabilities: {add: [CAP_SYS_ADMIN]}" 'capabilities.add: adding capabilities'
refused devices "      devices: [/dev/kmsg]" 'devices: a host device'
refused unconfined "      securityOpts: [seccomp=unconfined]" 'securityOpts: seccomp=unconfined'
refused nnp "      securityOpts: [no-new-privileges=false]" 'securityOpts: no-new-privileges=false'
refused profile "      securityOpts: [seccomp=/etc/shadow]" 'securityOpts: host path /etc/shadow'
t_eq restricted-nothing-written-after-all "$before" "$(t_tree "$RP")"

# kuke create goes through the same check.
out=$(member create cell c1 --image busybox 2>&1); rc=$?
t_eq member-create-plain "0" "$rc"
out=$(member delete cell c1 2>&1); t_eq member-delete 0 $?

# What a member may do: run a cell, read its log (the monitor's directory is
# root's 0700: the daemon writes the log into the member's pipes), follow it,
# attach.
cell hello "      command: /bin/sh
      args: [-c, 'echo out-line; echo err-line >&2']"
t_ok member-apply-plain member apply -f "$T_TMP/hello.yaml"
for _ in $(seq 50); do
  [ "$(member get container main --cell hello -o json 2>/dev/null | python3 -c 'import json,sys; print(json.load(sys.stdin)["status"]["state"])' 2>/dev/null)" = Exited ] && break
  sleep 0.1
done
t_eq member-log-stdout "out-line" "$(member log hello 2>/dev/null)"
t_eq member-log-stderr "err-line" "$(member log hello 2>&1 >/dev/null)"
t_eq member-log-tail "err-line" "$(member log --tail 1 hello 2>&1)"
t_eq local-log-same "$(KUKEON_RUN_PATH="$RP" "$KUKE" log hello 2>&1)" "$(member log hello 2>&1)"

cell ticker "      command: /bin/sh
      args: [-c, 'for i in 1 2 3; do echo tick \$i; sleep 0.3; done']"
t_ok member-apply-ticker member apply -f "$T_TMP/ticker.yaml"
out=$(t_as_member timeout 20 "$KUKE" log -f ticker 2>&1); rc=$?
t_eq member-log-follow "0 tick 1 tick 2 tick 3" "$rc $(echo $out)"

cell echoer "      attachable: true
      command: /bin/sh
      args: [-c, 'read line; echo got \$line']"
t_ok member-apply-attachable member apply -f "$T_TMP/echoer.yaml"
out=$(echo ping | t_as_member timeout 20 "$KUKE" attach echoer 2>&1)
t_match member-attach 'got ping' "$out"

out=$(t_as_member timeout 30 "$KUKE" run --rm --image busybox -- sh -c 'echo via-run; exit 7' 2>&1); rc=$?
t_eq member-run-foreground "7 via-run" "$rc $(echo $out)"

# A follower that goes away ends the daemon's side at once: no thread left
# writing into a pipe nobody reads.
cell sleeper "      command: /bin/sh
      args: [-c, 'sleep 600']"
member apply -f "$T_TMP/sleeper.yaml" >/dev/null
(exec setpriv --reuid=65533 --regid=65533 --groups=$T_MEMBER_GID env HOME=/nonexistent "$KUKE" log -f sleeper >/dev/null 2>&1) &
fpid=$!
sleep 0.5
threads_following=$(ls /proc/$DPID/task | wc -l)
kill -TERM "$fpid"; wait "$fpid" 2>/dev/null
for _ in $(seq 40); do [ "$(ls /proc/$DPID/task | wc -l)" -lt "$threads_following" ] && break; sleep 0.05; done
t_eq follower-gone-thread-ends yes "$([ "$(ls /proc/$DPID/task | wc -l)" -lt "$threads_following" ] && echo yes)"
member delete cell sleeper >/dev/null

# Someone outside the group is refused at the door, also for logs.
chmod 0666 "$SOCK"
out=$(t_stranger log hello 2>&1); rc=$?
t_match stranger-refused "^1 Error: permission denied: kukeond serves root and members" "$rc $out"
chmod 0660 "$SOCK"

# A peer cannot pass more descriptors than a frame may carry, and the ones
# it passes are never used: a log goes back as stream frames on the
# connection, never into a file the peer handed over.
: >"$T_TMP/peer-file"
python3 - "$SOCK" "$T_TMP/peer-file" >"$T_TMP/fds.out" 2>&1 <<'PY'
import os, socket, struct, sys
def call(fds, payload=b""):
    s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1])
    frame = struct.pack(">I", len(payload)) + payload
    socket.send_fds(s, [frame], fds)
    hdr = s.recv(4)
    if len(hdr) < 4: return "closed"
    n = struct.unpack(">I", hdr)[0]; body = b""
    while len(body) < n: body += s.recv(n - len(body))
    return body
# Request{method: LOG(9), payload: LogRequest{cell: Ref{kind: cell, name: hello, realm/space/stack default}}}
def ld(tag, b): return bytes([tag << 3 | 2, len(b)]) + b
ref = ld(1, b"cell") + ld(2, b"default") + ld(3, b"default") + ld(4, b"default") + ld(6, b"hello")
req = bytes([8, 9]) + ld(2, ld(1, ref))
f = os.open(sys.argv[2], os.O_WRONLY)
print("file:", call([f], req))
many = [os.open("/dev/null", os.O_RDONLY) for _ in range(8)]
print("many:", call(many, req))
PY
t_match fds-file-answered "file: .*main" "$(cat "$T_TMP/fds.out")"
t_eq fds-file-unused 0 "$(stat -c %s "$T_TMP/peer-file")"
t_match fds-too-many-refused "many: .*more than 4 file descriptors" "$(cat "$T_TMP/fds.out")"
t_ok fds-daemon-still-serves "$KUKE" get cells
t_eq fds-no-leak "$(ls /proc/$DPID/fd | wc -l)" "$(sleep 0.2; ls /proc/$DPID/fd | wc -l)"

# Registry passwords: root reads them, a restricted member reads
# "<redacted>", and a member's edit of the realm keeps the ones it did not see.
printf 's3cret\n' | "$KUKE" create registry-credential default --username alice --server reg.example:5000 --password-stdin >/dev/null
t_match root-reads-password 'password: s3cret' "$("$KUKE" get realm default -o yaml)"
out=$(member get realm default -o yaml 2>&1)
t_match member-reads-redacted 'password: <redacted>' "$out"
t_eq member-never-reads-password "" "$(grep -c s3cret <<<"$out" | grep -v '^0$')"
t_eq member-list-redacted "" "$(member get realms -o json | grep s3cret)"
printf 'other\n' | member create registry-credential default --username bob --server reg2.example --password-stdin >/dev/null
t_eq member-edit-keeps-password "alice:s3cret bob:other" "$("$KUKE" get realm default -o json | python3 -c 'import json,sys; print(" ".join(c["username"]+":"+c["password"] for c in json.load(sys.stdin)["spec"]["registryCredentials"]))')"

# Root is never restricted.
t_ok root-bind-root "$KUKE" apply -f "$T_TMP/shadow.yaml"
"$KUKE" delete cell shadow >/dev/null 2>&1

# --------------------------------------------------- allowed host paths
mkdir -p "$T_TMP/share/sub" && echo shared >"$T_TMP/share/sub/file"
ln -s / "$T_TMP/share/escape"
restart_daemon --allowed-host-paths "$T_TMP/share"; t_eq start-allowed 0 $?
cell inshare "      command: /bin/cat
      args: [/data/sub/file]
      volumes:
        - {source: $T_TMP/share/sub, target: /data/sub, readOnly: true}"
t_ok allowed-path-bind member apply -f "$T_TMP/inshare.yaml"
cell escape "      command: /bin/cat
      args: [/data/etc/shadow]
      volumes:
        - {source: $T_TMP/share/escape, target: /data, readOnly: true}"
out=$(member apply -f "$T_TMP/escape.yaml" 2>&1); rc=$?
t_match allowed-path-symlink-escape '^1 Error: permission denied: container "main": volumes.source: host path / \(outside allowedHostPaths\)' "$rc $out"
cell sibling "      command: /bin/true
      volumes:
        - {source: $T_TMP/shareX, target: /data}"
mkdir -p "$T_TMP/shareX"
out=$(member apply -f "$T_TMP/sibling.yaml" 2>&1); rc=$?
t_match allowed-path-prefix-is-a-directory "^1 Error: permission denied: .*host path $T_TMP/shareX" "$rc $out"
out=$("$KUKEOND" serve --socket "$T_TMP/other.sock" --run-path "$RP" --allowed-host-paths relative 2>&1); rc=$?
t_eq allowed-path-relative-refused '1 Error: --allowed-host-paths: allowed host path "relative" must be absolute' "$rc $out"
out=$("$KUKEOND" serve --socket "$T_TMP/other.sock" --run-path "$RP" --peer-policy lax 2>&1); rc=$?
t_eq bad-peer-policy '1 Error: invalid peer policy "lax" (supported: restricted, trusted)' "$rc $out"

# ---------------------------------------------------------------- trusted
restart_daemon --peer-policy trusted; t_eq start-trusted 0 $?
t_ok trusted-bind-root member apply -f "$T_TMP/shadow.yaml"
for _ in $(seq 50); do
  member log shadow 2>/dev/null | grep -q '^root:' && break
  sleep 0.1
done
t_match trusted-member-reads-shadow '^root:' "$(member log shadow 2>&1)"
member delete cell shadow >/dev/null 2>&1

# The policy comes from the ServerConfiguration file too.
kill -TERM "$DPID"; wait "$DPID" 2>/dev/null
printf 'apiVersion: v1beta1\nkind: ServerConfiguration\nspec:\n  peerPolicy: restricted\n  allowedHostPaths: [%s]\n' "$T_TMP/share" >"$T_TMP/kukeond.yaml"
t_start_daemon "$RP" --socket-gid "$GID" --reconcile-interval 0 --configuration "$T_TMP/kukeond.yaml"; t_eq start-config 0 $?
out=$(member apply -f "$T_TMP/shadow.yaml" 2>&1); rc=$?
t_match config-restricted '^1 Error: permission denied: container "main": volumes.source' "$rc $out"
"$KUKE" delete cell inshare >/dev/null 2>&1
t_ok config-allowed member apply -f "$T_TMP/inshare.yaml"
kill -TERM "$DPID"; wait "$DPID" 2>/dev/null
