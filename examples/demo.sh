#!/bin/sh
# Shows kukeon's hierarchy on the bundled example, in a throwaway run path
# (in-process: no daemon needed).  Run as root after `make install`.
# The shop's cells get addresses on their space's network (a bridge, a /24)
# and the worker fetches the frontend's page by name.  Everything the demo
# adds to the host goes again at the end: cells, bridge, veths, leases,
# iptables rules, cgroups, and net.ipv4.ip_forward as it was.
set -eu
KUKE=${KUKE:-kuke}
here=$(cd "$(dirname "$0")" && pwd)
run=$(mktemp -d /tmp/kukeon-demo.XXXXXX)
forward=$(cat /proc/sys/net/ipv4/ip_forward)
# kukeon's two top-level chains stay while kukeon is installed; the demo
# removes them only when it was the one that made them.
had_chains=$( (iptables -S; iptables -t nat -S) 2>/dev/null | grep -c '^-N KUKEON-' || true)
cleanup() {
  set +x
  # The demo's realms take their cells, networks and cgroups with them;
  # then the run path (leases and the CNI cache live under it) goes.
  for r in default kuke-system; do $KUKE delete realm "$r" --cascade >/dev/null 2>&1 || true; done
  for d in /sys/fs/cgroup/kukeon-demo /sys/fs/cgroup/*/kukeon-demo; do
    [ -d "$d" ] && find "$d" -depth -type d -exec rmdir {} \; 2>/dev/null
  done
  if [ "$had_chains" = 0 ]; then
    for c in KUKEON-EGRESS KUKEON-FORWARD; do
      while iptables -D FORWARD -j "$c" 2>/dev/null; do :; done
      iptables -F "$c" 2>/dev/null && iptables -X "$c" 2>/dev/null
    done
    while iptables -t nat -D POSTROUTING -j KUKEON-POSTROUTING 2>/dev/null; do :; done
    iptables -t nat -F KUKEON-POSTROUTING 2>/dev/null && iptables -t nat -X KUKEON-POSTROUTING 2>/dev/null
  fi
  echo "$forward" >/proc/sys/net/ipv4/ip_forward
  rm -rf "$run"
}
trap cleanup EXIT
# In-process, with runc state, bundles, IPAM leases and the CNI cache in the
# throwaway directory too.
export KUKEON_RUN_PATH="$run" KUKEON_CGROUP_ROOT=/kukeon-demo KUKEON_RUNTIME_DIR="$run/rt"
"$here/../scripts/busybox-image" "$run/busybox.tar" >/dev/null
set -x
$KUKE init --no-daemon # the hierarchy only: everything below runs in-process
$KUKE image load -i "$run/busybox.tar" --name docker.io/library/busybox
$KUKE apply -f "$here/shop.yaml"
$KUKE get cells -o wide
$KUKE get containers --realm default --space shop -o wide
runc --root "$run/rt/runc/default.kukeon.io" list
# The worker asks http://frontend:8080/ (the frontend's name is in its
# /etc/hosts); wait for the answer in its log.
set +x
for _ in 1 2 3 4 5 6 7 8 9 10; do
  $KUKE log worker --space shop --stack web 2>/dev/null | grep -q '^hello from' && break
  sleep 1
done
set -x
runc --root "$run/rt/runc/default.kukeon.io" exec shop_web_worker_job cat /etc/hosts
$KUKE log worker --space shop --stack web
$KUKE log frontend --space shop --stack web --container logger
$KUKE run --image busybox --rm -- sh -c 'echo hello from a one-shot cell; exit 3' || echo "exit status $?"
