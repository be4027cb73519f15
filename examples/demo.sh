#!/bin/sh
# Shows kukeon's hierarchy on the bundled example, in a throwaway run path
# (in-process: no daemon needed).  Run as root after `make install`.
set -eu
KUKE=${KUKE:-kuke}
here=$(cd "$(dirname "$0")" && pwd)
run=$(mktemp -d /tmp/kukeon-demo.XXXXXX)
cleanup() {
  set +x
  # The demo's realms take their cgroups with them; then the run path goes.
  for r in default kuke-system; do $KUKE delete realm "$r" --cascade >/dev/null 2>&1 || true; done
  for d in /sys/fs/cgroup/kukeon-demo /sys/fs/cgroup/*/kukeon-demo; do
    [ -d "$d" ] && find "$d" -depth -type d -exec rmdir {} \; 2>/dev/null
  done
  rm -rf "$run"
}
trap cleanup EXIT
# In-process, with runc state and bundles in the throwaway directory too.
export KUKEON_RUN_PATH="$run" KUKEON_CGROUP_ROOT=/kukeon-demo KUKEON_RUNTIME_DIR="$run/rt"
"$here/../scripts/busybox-image" "$run/busybox.tar" >/dev/null
set -x
$KUKE init
$KUKE image load -i "$run/busybox.tar" --name docker.io/library/busybox
$KUKE apply -f "$here/shop.yaml"
$KUKE get cells
$KUKE get containers --realm default --space shop -o wide
runc --root "$run/rt/runc/default.kukeon.io" list
sleep 1
$KUKE log frontend --space shop --stack web --container logger
$KUKE log worker --space shop --stack web
$KUKE run --image busybox --rm -- sh -c 'echo hello from a one-shot cell; exit 3' || echo "exit status $?"
