#!/usr/bin/env bash
# Cells on their space's CNI network, through kuke in-process and through
# kukeond: two cells of a space get addresses of one /24 and reach each
# other by IP (busybox httpd + wget), another space gets another /24,
# `kuke get cell -o wide` shows the address, a hostNetwork cell has none; a
# restart of the cell re-attaches it without a second lease; kukeond
# SIGKILLed and started again keeps addresses and connectivity and adds
# nothing twice; delete leaves no veth, bridge, lease, cache file, plugin
# iptables rule or conflist; a missing plugin fails the start with one clear
# line and leaves nothing behind.  lib.sh runs this file in a network
# namespace of its own: that is the "host" here.
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
[ "$(id -u)" = 0 ] || { echo "skip - $T_NAME: needs root"; exit 0; }
for tool in runc iptables-save; do
  command -v "$tool" >/dev/null || { echo "skip - $T_NAME: $tool not installed"; exit 0; }
done
[ -x /bin/busybox ] || { echo "skip - $T_NAME: busybox-static not installed"; exit 0; }
PLUGINS=""
for d in /opt/cni/bin /usr/lib/cni; do [ -x "$d/bridge" ] && PLUGINS="${PLUGINS:+$PLUGINS:}$d"; done
[ -n "$PLUGINS" ] || { echo "skip - $T_NAME: CNI plugins not installed (containernetworking-plugins)"; exit 0; }
export CNI_PATH="$PLUGINS"

RP="$T_TMP/run"
CACHE="$T_TMP/cni/cache"   # the defaults under the runtime dir (the socket's directory)
LEASES="$T_TMP/cni/networks"
unset KUKEON_RUN_PATH
k() { "$KUKE" "$@"; }                          # through kukeond
kl() { KUKEON_RUN_PATH="$RP" "$KUKE" "$@"; }   # in-process

kl init >/dev/null
t_load_busybox "$RP"; t_eq image-loaded 0 $?

# A cell serving its /etc (so /hostname is its name) over HTTP on 8080.
web() { # name space [extra container yaml]
  t_cell "$1" "    - id: web
      image: docker.io/library/busybox
      command: /bin/busybox
      args: [\"httpd\", \"-f\", \"-p\", \"8080\", \"-h\", \"/etc\"]
${3:-}"
  sed -i "s/^  spaceId: default$/  spaceId: $2/" "$T_TMP/$1.yaml"
}
field() { # cell jsonpath-ish: ip | rootpid | state
  "$@" 2>/dev/null | python3 -c '
import json, sys
d = json.load(sys.stdin); what = sys.argv[1]
if what == "ip": print(d["status"].get("network", {}).get("ip", ""))
elif what == "state": print(d["status"]["state"])
else:
    root = d["spec"]["rootContainerId"]
    print(next((c.get("pid", 0) for c in d["status"]["containers"] if c["name"] == root), 0))' "${FIELD}"
}
ip_of() { FIELD=ip field "${K:-kl}" get cell "$1" --space "${2:-default}" -o json; }
pid_of() { FIELD=rootpid field "${K:-kl}" get cell "$1" --space "${2:-default}" -o json; }
state_of() { FIELD=state field "${K:-kl}" get cell "$1" --space "${2:-default}" -o json; }
net24() { echo "${1%.*}"; }
# GET /hostname of ip from inside the network namespace of pid (busybox
# 1.35's wget -T crashes: timeout bounds it instead).
fetch_from() { # pid ip
  local i
  for i in $(seq 30); do
    timeout 3 nsenter --net=/proc/"$1"/ns/net busybox wget -q -O- "http://$2:8080/hostname" 2>/dev/null && return 0
    sleep 0.1
  done
  return 1
}
veths() { ip -o link show type veth 2>/dev/null | wc -l; }
nbridges() { ip -o link show type bridge 2>/dev/null | wc -l; }
leases() { ls "$LEASES"/*/ 2>/dev/null | grep -cE '^[0-9.]+$'; }
caches() { ls "$CACHE" 2>/dev/null | wc -l; }
plugin_rules() { iptables-save 2>/dev/null | grep -c 'CNI-'; }

# --------------------------------------------- in-process: one space, two cells
web a1 default; web a2 default
t_ok apply-a1 kl apply -f "$T_TMP/a1.yaml"
t_ok apply-a2 kl apply -f "$T_TMP/a2.yaml"
A1=$(ip_of a1); A2=$(ip_of a2)
t_match a1-has-ip '^10\.88\.[0-9]+\.[0-9]+$' "$A1"
t_match a2-has-ip '^10\.88\.[0-9]+\.[0-9]+$' "$A2"
t_eq same-space-same-24 "$(net24 "$A1")" "$(net24 "$A2")"
t_match conflist-subnet "\"subnet\": \"$(net24 "$A1").0/24\"" "$(cat "$RP/default/default/network.conflist")"
t_eq network-json "{\"version\":\"v1\",\"subnetCIDR\":\"$(net24 "$A1").0/24\"}" "$(cat "$RP/default/default/network.json")"
t_eq a1-to-a2-by-ip a2 "$(fetch_from "$(pid_of a1)" "$A2")"
t_eq a2-to-a1-by-ip a1 "$(fetch_from "$(pid_of a2)" "$A1")"
t_match wide-shows-ip "^a1 .* $A1 " "$(kl get cell a1 -o wide)"
t_match wide-ip-header ' BRIDGE +IP ' "$(kl get cell -o wide)"
t_match yaml-shows-ip "ip: $A1" "$(kl get cell a1 -o yaml)"

# ------------------------------------------------ another space, another /24
printf 'apiVersion: v1beta1\nkind: Space\nmetadata: {name: other}\nspec: {realmId: default}\n' >"$T_TMP/other.yaml"
t_ok create-space-other kl apply -f "$T_TMP/other.yaml"
web b1 other
t_ok apply-b1 kl apply -f "$T_TMP/b1.yaml"
B1=$(ip_of b1 other)
t_match b1-has-ip '^10\.88\.[0-9]+\.[0-9]+$' "$B1"
[ "$(net24 "$B1")" != "$(net24 "$A1")" ]; t_eq other-space-other-24 0 $?
t_eq two-bridges 2 "$(nbridges)"

# ------------------------------------------------------- hostNetwork: none
web h1 default '      hostNetwork: true'
sed -i 's/"8080"/"8099"/' "$T_TMP/h1.yaml"
t_ok apply-hostnet kl apply -f "$T_TMP/h1.yaml"
t_eq hostnet-no-ip "" "$(ip_of h1)"
t_match hostnet-wide-dash '^h1 .* - +- ' "$(kl get cell h1 -o wide)"
t_eq veths-three 3 "$(veths)"
t_eq leases-three 3 "$(leases)"
t_eq caches-three 3 "$(caches)"

# ------------------------------------------- restart: DEL, then ADD again
t_ok restart-a1 kl restart cell a1
A1R=$(ip_of a1)
t_match restarted-a1-has-ip '^10\.88\.' "$A1R"
t_eq restart-keeps-one-lease 3 "$(leases)"
t_eq restart-keeps-veths 3 "$(veths)"
t_eq a2-to-restarted-a1 a1 "$(fetch_from "$(pid_of a2)" "$A1R")"
t_ok stop-a2 kl stop cell a2
t_eq stop-releases-lease 2 "$(leases)"
t_eq stop-removes-veth 2 "$(veths)"
t_eq stopped-no-ip "" "$(ip_of a2)"
t_ok start-a2 kl start cell a2
A2=$(ip_of a2)
t_eq started-a2-reachable a2 "$(fetch_from "$(pid_of a1)" "$A2")"

# -------------------------------- kukeond: SIGKILL and back, nothing twice
t_start_daemon "$RP" --reconcile-interval 300ms; t_eq daemon-start 0 $?
K=k
t_eq daemon-sees-a1-ip "$A1R" "$(ip_of a1)"
kill -9 "$DPID"; wait "$DPID" 2>/dev/null
t_start_daemon "$RP" --reconcile-interval 300ms; t_eq daemon-restart 0 $?
sleep 1 # a few reconcile passes
t_eq ip-kept-a1 "$A1R" "$(ip_of a1)"
t_eq ip-kept-a2 "$A2" "$(ip_of a2)"
t_eq no-second-veth 3 "$(veths)"
t_eq no-second-lease 3 "$(leases)"
t_eq still-reachable a2 "$(fetch_from "$(pid_of a1)" "$A2")"
web a3 default
t_ok daemon-apply-a3 k apply -f "$T_TMP/a3.yaml"
A3=$(ip_of a3)
t_eq daemon-cell-same-24 "$(net24 "$A1R")" "$(net24 "$A3")"
t_eq daemon-cell-reachable a3 "$(fetch_from "$(pid_of a1)" "$A3")"
# The root dies on its own; the restart policy-free cell is stopped, then
# deleted: DEL with the namespace gone releases its lease.
kill -9 "$(pid_of a3)"
sleep 0.5
t_ok delete-dead-a3 k delete cell a3
t_eq dead-root-lease-released 3 "$(leases)"
t_eq dead-root-cache-removed 3 "$(caches)"

# ------------------------------------------------ delete leaves nothing
t_ok delete-b1 k delete cell b1 --space other
t_ok delete-space-other k delete space other --cascade
t_eq other-bridge-gone 1 "$(nbridges)"
t_eq other-folder-gone "" "$(ls "$RP/default/other" 2>/dev/null)"
t_eq other-leases-gone "" "$(ls -d "$LEASES/default-other" 2>/dev/null)"
t_ok delete-realm k delete realm default --cascade
t_eq no-veth 0 "$(veths)"
t_eq no-bridge 0 "$(nbridges)"
t_eq no-lease-dir "" "$(ls "$LEASES" 2>/dev/null | grep '^default-')"
t_eq no-cache-file 0 "$(caches)"
t_eq no-plugin-rules 0 "$(plugin_rules)"
t_eq no-conflist "" "$(find "$RP/default" -name network.conflist 2>/dev/null)"

# ------------------------------- a missing plugin: one line, nothing left
kill -9 "$DPID"; wait "$DPID" 2>/dev/null
K=kl
kl init >/dev/null
web m1 default
mkdir -p "$T_TMP/no-plugins"
out=$(CNI_PATH="$T_TMP/no-plugins" kl apply -f "$T_TMP/m1.yaml" 2>&1)
t_match missing-plugin-clear-line 'cni plugin "bridge" not found in .*no-plugins: install the standard CNI plugins' "$out"
t_fail missing-plugin-new-cell-gone kl get cell m1
missing_plugin_left_nothing() { # label
  t_eq "$1-no-veth" 0 "$(veths)"
  t_eq "$1-no-lease" 0 "$(leases)"
  t_eq "$1-no-cache" 0 "$(caches)"
  t_eq "$1-no-plugin-rules" 0 "$(plugin_rules)"
  t_eq "$1-nothing-runs" 0 "$(runc --root "$T_TMP/runc/default.kukeon.io" list 2>/dev/null | grep m1 | grep -c running)"
}
missing_plugin_left_nothing missing-plugin-apply
# A cell that exists: its start fails (Failed, the reason says why).
t_ok apply-m1 kl apply -f "$T_TMP/m1.yaml"
t_ok stop-m1 kl stop cell m1
out=$(CNI_PATH="$T_TMP/no-plugins" kl start cell m1 2>&1)
t_eq missing-plugin-one-line 1 "$(printf '%s\n' "$out" | wc -l)"
t_match missing-plugin-start-says 'network of cell "m1": cni plugin "bridge" not found' "$out"
t_eq missing-plugin-failed Failed "$(state_of m1)"
missing_plugin_left_nothing missing-plugin-start
t_ok missing-plugin-then-start kl start cell m1
t_match missing-plugin-then-ip '^10\.88\.' "$(ip_of m1)"
t_ok delete-m1 kl delete cell m1
t_eq end-no-veth 0 "$(veths)"
