#!/bin/sh
# kukeon on the bundled example, from `kuke init` to `kuke uninstall`, in a
# throwaway run path.  Run as root after `make install`.
# init brings kukeond up as the kukeond cell of the system realm; the shop
# is applied through it; its cells get addresses on their space's network
# (a bridge, a /24) and the worker fetches the frontend's page by name;
# `kuke status` checks the daemon, the host, the state and that the daemon
# and an in-process reader see the same; `kuke uninstall -y` takes
# everything away again (cells, daemon, bridge, veths, leases, iptables
# rules, cgroups, the run path).  The demo's group and unit folder are its
# own (KUKEON_GROUP, KUKEON_SYSTEMD_UNIT_DIR), and net.ipv4.ip_forward goes
# back as it was.
set -eu
KUKE=${KUKE:-kuke}
here=$(cd "$(dirname "$0")" && pwd)
# uninstall removes kukeon's firewall chains, which every kukeon of a host
# shares: not on a host where kukeon is in use.
if [ -S /run/kukeon/kukeond.sock ] || { iptables -S; iptables -t nat -S; } 2>/dev/null | grep -q '^-N KUKEON-'; then
  echo "demo: kukeon is in use on this host (its socket or firewall chains exist); run the demo on another" >&2
  exit 1
fi
run=$(mktemp -d /tmp/kukeon-demo.XXXXXX)
forward=$(cat /proc/sys/net/ipv4/ip_forward)
export KUKEON_RUN_PATH="$run/state" KUKEON_CGROUP_ROOT=/kukeon-demo KUKEON_RUNTIME_DIR="$run/rt"
export KUKEON_GROUP=kukeon-demo KUKEON_SYSTEMD_UNIT_DIR="$run/units"
export KUKEON_HOST="unix://$run/state/kukeond.sock"
uninstalled=
cleanup() {
  set +x
  [ -n "$uninstalled" ] || $KUKE uninstall -y >/dev/null 2>&1 || true
  echo "$forward" >/proc/sys/net/ipv4/ip_forward
  rm -rf "$run"
}
trap cleanup EXIT
kd() { env -u KUKEON_RUN_PATH "$KUKE" "$@"; } # through kukeond's socket
"$here/../scripts/busybox-image" "$run/busybox.tar" >/dev/null
set -x
$KUKE init
kd get cells --realm kuke-system
kd image load -i "$run/busybox.tar" --name docker.io/library/busybox
kd apply -f "$here/shop.yaml"
kd get cells -o wide
kd get containers --realm default --space shop -o wide
runc --root "$run/rt/runc/default.kukeon.io" list
# The worker asks http://frontend:8080/ (the frontend's name is in its
# /etc/hosts); wait for the answer in its log.
set +x
for _ in 1 2 3 4 5 6 7 8 9 10; do
  kd log worker --space shop --stack web 2>/dev/null | grep -q '^hello from' && break
  sleep 1
done
set -x
runc --root "$run/rt/runc/default.kukeon.io" exec shop_web_worker_job cat /etc/hosts
kd log worker --space shop --stack web
kd log frontend --space shop --stack web --container logger
kd run --image busybox --rm -- sh -c 'echo hello from a one-shot cell; exit 3' || echo "exit status $?"
$KUKE status
$KUKE uninstall -y
uninstalled=1
