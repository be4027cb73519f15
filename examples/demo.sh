#!/bin/sh
# Shows kukeon's hierarchy on the bundled example, in a throwaway run path
# (in-process: no daemon needed).  Run as root after `make install`.
set -eu
KUKE=${KUKE:-kuke}
here=$(cd "$(dirname "$0")" && pwd)
run=$(mktemp -d /tmp/kukeon-demo.XXXXXX)
trap 'rm -rf "$run"' EXIT
export KUKEON_RUN_PATH="$run" KUKEON_CGROUP_ROOT=/kukeon-demo
set -x
$KUKE init
$KUKE apply -f "$here/shop.yaml"
$KUKE get cells
$KUKE get containers --realm default --space shop -o wide
$KUKE get cell frontend --space shop --stack web -o yaml
