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
export KUKEON_RUN_PATH="$run" KUKEON_CGROUP_ROOT=/kukeon-demo
set -x
$KUKE init
$KUKE apply -f "$here/shop.yaml"
$KUKE get cells
$KUKE get containers --realm default --space shop -o wide
$KUKE get cell frontend --space shop --stack web -o yaml
