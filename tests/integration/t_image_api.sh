#!/usr/bin/env bash
# kuke image load / list / get / delete / prune / pull through kukeond (the
# kukeonv1 API) as root and as a member of the socket's group (uid 65533,
# supplementary group 65534), byte for byte the output of in-process runs.
# The member reaches the image store through the socket alone; the daemon
# reads only what the member opened itself (an archive it may not read is
# refused on the client side), never a directory, and keeps restricted
# peers out of the system realm's images.
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
t_require setpriv umoci
t_require_busybox

RP="$T_TMP/run"
SOCK="$T_TMP/kukeond.sock"
export KUKEON_HOST="unix://$SOCK"
unset KUKEON_RUN_PATH
chmod 0755 "$T_TMP"
GID=$T_MEMBER_GID
member() { t_member "$@"; }
local_kuke() { KUKEON_RUN_PATH="$RP" "$KUKE" "$@"; }

"$KUKEON_SRC/scripts/busybox-image" "$T_TMP/bb.tar" >/dev/null 2>&1 || { echo "not ok - $T_NAME/busybox-image"; exit 0; }
chmod 0644 "$T_TMP/bb.tar"
mkdir -p "$T_TMP/layout" && tar -C "$T_TMP/layout" -xf "$T_TMP/bb.tar"
BB=docker.io/library/busybox
local_kuke init >/dev/null
chmod 0700 "$RP"
t_start_daemon "$RP" --socket-gid "$GID" --reconcile-interval 0; t_eq start 0 $?

# ------------------------------------------------------------ root, parity
t_eq root-load "loaded 1 image(s) into realm \"default\" (namespace \"default.kukeon.io\"):
  - $BB:latest" "$("$KUKE" image load -i "$T_TMP/bb.tar" --name $BB 2>&1)"
t_eq root-load-parity "$(local_kuke image load -i "$T_TMP/bb.tar" --name $BB 2>&1)" \
  "$("$KUKE" image load -i "$T_TMP/bb.tar" --name $BB 2>&1)"
t_eq root-load-stdin-parity "$(local_kuke image load --realm r2 --name $BB - <"$T_TMP/bb.tar" 2>&1)" \
  "$("$KUKE" image load --realm r2 --name $BB - <"$T_TMP/bb.tar" 2>&1)"
parity() { # name, kuke args: through kukeond (root), in-process, member
  local name=$1; shift
  local a b c ra rb rc try
  for try in 1 2 3; do # AGE columns: a second boundary is not a divergence
    a=$("$KUKE" "$@" 2>&1); ra=$?
    b=$(local_kuke "$@" 2>&1); rb=$?
    c=$(member "$@" 2>&1); rc=$?
    [ "$ra $a" == "$rb $b" ] && [ "$ra $a" == "$rc $c" ] && break
  done
  t_eq "parity-$name" "$rb $b" "$ra $a"
  t_eq "parity-member-$name" "$rb $b" "$rc $c"
}
for o in table wide yaml json; do
  parity "list-$o" image list -o "$o"
  parity "get-images-$o" get images -o "$o"
done
parity list-realm image list --realm r2
parity get-one image list busybox -o json
parity get-image get image busybox --realm r2 -o yaml
parity not-found image list nope
parity bad-realm image list --realm Bad_Realm
parity bad-output image list -o xml
parity load-missing image load -i /nonexistent
parity load-garbage image load -i "$KUKEON_SRC/README.md"
parity delete-missing image delete nope
parity bad-platform image load --platform nope -i "$T_TMP/bb.tar"
t_eq root-delete 'deleted image "docker.io/library/busybox:latest" from realm "r2" (namespace "r2.kukeon.io")' \
  "$("$KUKE" image delete --realm r2 busybox 2>&1)"
local_kuke image load --realm r2 --name $BB -i "$T_TMP/bb.tar" >/dev/null
t_eq root-delete-parity 'deleted image "docker.io/library/busybox:latest" from realm "r2" (namespace "r2.kukeon.io")' \
  "$(local_kuke image delete --realm r2 busybox 2>&1)"
parity prune image prune
t_eq layout-in-process "loaded 1 image(s) into realm \"r3\" (namespace \"r3.kukeon.io\"):
  - $BB:latest" "$(local_kuke image load --realm r3 --name $BB -i "$T_TMP/layout" 2>&1)"

# ------------------------------------------------------------ the member
t_eq member-load-stdin "loaded 1 image(s) into realm \"m1\" (namespace \"m1.kukeon.io\"):
  - $BB:latest" "$(member image load --realm m1 --name $BB - <"$T_TMP/bb.tar" 2>&1)"
t_eq member-load-file "loaded 1 image(s) into realm \"m2\" (namespace \"m2.kukeon.io\"):
  - $BB:latest" "$(member image load --realm m2 --name $BB -i "$T_TMP/bb.tar" 2>&1)"
t_match member-list-sees-it "^$BB:latest +m2 " "$(member get images)"
t_eq member-delete 'deleted image "docker.io/library/busybox:latest" from realm "m2" (namespace "m2.kukeon.io")' \
  "$(member image rm --realm m2 busybox 2>&1)"
t_match member-prune '^pruned realm "default" \(namespace "default.kukeon.io"\): removed' "$(member image prune 2>&1)"

# What the member cannot read, the daemon does not read for it.
cp "$T_TMP/bb.tar" "$T_TMP/secret.tar" && chmod 0600 "$T_TMP/secret.tar"
before=$(t_tree "$RP")
out=$(member image load --realm m3 --name $BB -i "$T_TMP/secret.tar" 2>&1); rc=$?
t_eq member-unreadable "1 Error: load $T_TMP/secret.tar: Permission denied" "$rc $out"
out=$(member image load --realm m3 --name $BB -i "$T_TMP/layout" 2>&1); rc=$?
t_eq member-layout-dir "1 Error: load $T_TMP/layout: an OCI layout directory is not sent to kukeond (it would read files under it as root); stream it as an archive: tar -C $T_TMP/layout -c . | kuke image load -i -" "$rc $out"
out=$(member image load --realm kuke-system --name $BB - <"$T_TMP/bb.tar" 2>&1); rc=$?
t_match member-system-realm '^1 Error: permission denied: image load: the images of realm "kuke-system" are not changed by peers other than root' "$rc $out"
t_eq member-system-realm-delete 1 "$(member image delete --realm kuke-system busybox >/dev/null 2>&1; echo $?)"
t_eq member-nothing-written "$before" "$(t_tree "$RP")"
# The way the message suggests, through a pipe.
out=$(tar -C "$T_TMP/layout" -c . | member image load --realm m3 --name $BB -i - 2>&1)
t_eq member-layout-as-tar "loaded 1 image(s) into realm \"m3\" (namespace \"m3.kukeon.io\"):
  - $BB:latest" "$out"
# Root through the daemon: a directory is not sent either.
t_match root-layout-dir-remote '^Error: load .*an OCI layout directory is not sent to kukeond' \
  "$("$KUKE" image load -i "$T_TMP/layout" 2>&1)"
# A member without the socket's group reaches nothing.
out=$(setpriv --reuid=65532 --regid=65532 --clear-groups env HOME=/nonexistent "$KUKE" image list 2>&1)
t_match stranger-refused 'permission denied' "$out"

# --from-docker: `docker save` runs on the client's side, as the member, and
# its pipe goes to the daemon (a stand-in docker that prints the archive).
mkdir -p "$T_TMP/bin" && chmod 0755 "$T_TMP/bin"
printf '#!/bin/sh\n[ "$1" = save ] && exec cat %s\nexit 1\n' "$T_TMP/bb.tar" >"$T_TMP/bin/docker"
chmod 0755 "$T_TMP/bin/docker"
out=$(setpriv --reuid=65533 --regid=65533 --groups=$GID env HOME=/nonexistent PATH="$T_TMP/bin:$PATH" \
  "$KUKE" image load --from-docker kk/anything --realm m5 --name $BB 2>&1)
t_eq member-from-docker "loaded 1 image(s) into realm \"m5\" (namespace \"m5.kukeon.io\"):
  - $BB:latest" "$out"

# A client that leaves in the middle of a load frees the daemon's side at
# once, though the stream it reads is still open for writing elsewhere: the
# archive comes as frames on the connection, and the connection's thread and
# its upload thread end with it.
mkfifo "$T_TMP/fifo" && chmod 0666 "$T_TMP/fifo"
sleep 30 >"$T_TMP/fifo" & SP=$!
t_cleanup_add "kill $SP"
threads=$(ls /proc/"$DPID"/task | wc -l)
setpriv --reuid=65533 --regid=65533 --groups=$GID env HOME=/nonexistent "$KUKE" image load --realm m4 -i "$T_TMP/fifo" \
  >/dev/null 2>&1 & KP=$!
now=0
for _ in $(seq 50); do
  now=$(ls /proc/"$DPID"/task | wc -l); [ "$now" -ge $((threads + 2)) ] && break; sleep 0.1
done
t_eq load-upload-running yes "$([ "$now" -ge $((threads + 2)) ] && echo yes)"
kill "$KP"; wait "$KP" 2>/dev/null
for _ in $(seq 50); do
  now=$(ls /proc/"$DPID"/task | wc -l); [ "$now" -le "$threads" ] && break; sleep 0.1
done
t_eq load-client-left-released yes "$([ "$now" -le "$threads" ] && echo yes)"
kill "$SP" 2>/dev/null; wait "$SP" 2>/dev/null
t_ok daemon-still-serves member image list

# ------------------------------------------------------------ pull
if command -v docker-registry >/dev/null && command -v skopeo >/dev/null && command -v curl >/dev/null; then
  P=$(t_free_port)
  t_start_registry reg "$P"
  if t_wait_http "http://127.0.0.1:$P/v2/" &&
    skopeo copy -q --dest-tls-verify=false "oci-archive:$T_TMP/bb.tar:latest" "docker://127.0.0.1:$P/kk/busybox:1" >/dev/null 2>&1; then
    dg=$(skopeo inspect --tls-verify=false --format '{{.Digest}}' "docker://127.0.0.1:$P/kk/busybox:1" 2>/dev/null)
    want="pulled image \"127.0.0.1:$P/kk/busybox:1\" ($dg) into realm \"p1\" (namespace \"p1.kukeon.io\")"
    t_eq member-pull "$want" "$(member image pull --insecure --realm p1 "127.0.0.1:$P/kk/busybox:1" 2>&1)"
    t_eq root-pull "$want" "$("$KUKE" image pull --insecure --realm p1 "127.0.0.1:$P/kk/busybox:1" 2>&1)"
    t_eq pull-parity "$want" "$(local_kuke image pull --insecure --realm p1 "127.0.0.1:$P/kk/busybox:1" 2>&1)"
    t_match member-pull-listed "^127.0.0.1:$P/kk/busybox:1 +p1 " "$(member image list --realm p1)"
    t_match member-pull-plain-refused '^Error: ' "$(member image pull --realm p1 "127.0.0.1:$P/kk/busybox:1" 2>&1)"
    parity pull-missing image pull --insecure --realm p1 "127.0.0.1:$P/kk/nothing:1"
  else
    echo "not ok - $T_NAME/registry: could not start or push"
  fi
else
  echo "skip - $T_NAME/pull: docker-registry, skopeo or curl not installed"
fi
kill -TERM "$DPID" 2>/dev/null; wait "$DPID" 2>/dev/null
