#!/usr/bin/env bash
# Cells on their space's CNI network, through kuke in-process and through
# kukeond: two cells of a space get addresses of one /24 and reach each
# other by IP (busybox httpd + wget), another space gets another /24,
# `kuke get cell -o wide` shows the address, a hostNetwork cell has none; a
# restart of the cell re-attaches it without a second lease; kukeond
# SIGKILLed and started again keeps addresses and connectivity and adds
# nothing twice; delete leaves no veth, bridge, lease, cache file, plugin
# iptables rule or conflist; a missing plugin fails the start with one clear
# line and leaves nothing behind.  Names: /etc/hostname, /etc/hosts (cells
# reach each other by name; rewritten in place as cells come and go) and
# resolv.conf; published ports (a manifest's and kuke run -p) answer on the
# host, a taken host port is refused; an egress policy with default deny
# drops what its allow rule does not name, and kukeond puts a damaged chain
# back.  lib.sh runs this file in a network namespace of its own: that is
# the "host" here; "outside" is one more namespace behind a veth pair.
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
[ "$(id -u)" = 0 ] || { echo "skip - $T_NAME: needs root"; exit 0; }
t_require runc iptables-save
t_require_busybox
t_require_cni

RP="$T_TMP/run"
CACHE="$T_TMP/cni/cache"   # the defaults under the runtime dir (the socket's directory)
LEASES="$T_TMP/cni/networks"
unset KUKEON_RUN_PATH
k() { "$KUKE" "$@"; }                          # through kukeond
kl() { KUKEON_RUN_PATH="$RP" "$KUKE" "$@"; }   # in-process

# An address of the host covering the whole pod subnet (podman's bridge
# holds all of 10.88.0.0/16): init fails with one line and leaves nothing.
ip addr add 10.88.0.1/16 dev lo
out=$(kl init 2>&1); rc=$?
t_eq full-subnet-init-fails 1 "$rc"
t_match full-subnet-one-line '^Error: .*no free subnet .*10\.88\.0\.0/16 .*KUKEON_POD_SUBNET_CIDR\)$' "$out"
t_eq full-subnet-one-line-only 1 "$(printf '%s\n' "$out" | wc -l)"
t_eq full-subnet-no-resource "" "$(ls "$RP" 2>/dev/null | grep -v '^run$')"
t_eq full-subnet-no-cgroup "" "$(ls -d /sys/fs/cgroup/"${KUKEON_CGROUP_ROOT#/}" /sys/fs/cgroup/*/"${KUKEON_CGROUP_ROOT#/}" 2>/dev/null)"
t_eq full-subnet-no-rules 0 "$(iptables-save 2>/dev/null | grep -ci kuke)"
ip addr del 10.88.0.1/16 dev lo

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
elif what == "webpid": print(next((c.get("pid", 0) for c in d["status"]["containers"] if c["name"] == "web"), 0))
else:
    root = d["spec"]["rootContainerId"]
    print(next((c.get("pid", 0) for c in d["status"]["containers"] if c["name"] == root), 0))' "${FIELD}"
}
webpid_of() { FIELD=webpid field "${K:-kl}" get cell "$1" --space "${2:-default}" -o json; }
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
veths() { ip -o link show type veth 2>/dev/null | grep -vc ': kkt-'; }
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
# One masquerade rule for the space, none per container (the bridge's ipMasq is off).
t_match masq-rule-of-space "^-A KUKEON-POSTROUTING -s $(net24 "$A1").0/24 ! -o k-[0-9a-f]{8} .*kukeon:default:default:masq.* -j MASQUERADE\$" \
  "$(iptables -t nat -S KUKEON-POSTROUTING 2>/dev/null)"
t_eq no-plugin-masquerade 0 "$(plugin_rules)"

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
# A start of a running cell finds its attachment (cache, CHECK): no second one.
t_ok start-running-cell k start cell a1
t_eq start-running-keeps-ip "$A1R" "$(ip_of a1)"
t_eq start-running-no-second-veth 3 "$(veths)"
t_eq start-running-no-second-lease 3 "$(leases)"
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

# ------------------------------------------------ names: /etc inside cells
# in_ctr PID CMD...: CMD in the mount, network and UTS namespaces of a
# container, under its root (its own busybox, its own /etc; -r: a runc
# without pivot_root, as in the VM lane, leaves the namespace's root elsewhere).
in_ctr() { local p=$1; shift; timeout 5 nsenter -t "$p" -r -w -m -n -u "$@"; }
by_name() { # from-cell to-name
  local i
  for i in $(seq 30); do
    in_ctr "$(webpid_of "$1")" /bin/busybox wget -q -O- "http://$2:8080/hostname" 2>/dev/null && return 0
    sleep 0.1
  done
  return 1
}
web n1 default; web n2 default
t_ok apply-n1 kl apply -f "$T_TMP/n1.yaml"
t_ok apply-n2 kl apply -f "$T_TMP/n2.yaml"
N1=$(ip_of n1); N2=$(ip_of n2)
t_eq n1-hostname n1 "$(in_ctr "$(webpid_of n1)" /bin/busybox cat /etc/hostname)"
t_eq n1-hosts "$(printf '127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::\tip6-localnet\nff00::\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n%s\tn1\n%s\tn2' "$N1" "$N2")" \
  "$(in_ctr "$(webpid_of n1)" /bin/busybox cat /etc/hosts)"
t_eq n1-to-n2-by-name n2 "$(by_name n1 n2)"
t_eq n2-to-n1-by-name n1 "$(by_name n2 n1)"
INODE=$(stat -c %i "$RP/default/default/default/n1/etc-hosts")
web n3 default
t_ok apply-n3 kl apply -f "$T_TMP/n3.yaml"
t_eq n1-reaches-new-n3-by-name n3 "$(by_name n1 n3)"
t_ok delete-n3 kl delete cell n3
t_eq n1-hosts-forgets-n3 0 "$(in_ctr "$(webpid_of n1)" /bin/busybox grep -c n3 /etc/hosts)"
t_eq hosts-rewritten-in-place "$INODE" "$(stat -c %i "$RP/default/default/default/n1/etc-hosts")"
resolv=$(in_ctr "$(webpid_of n1)" /bin/busybox cat /etc/resolv.conf)
t_match resolv-has-nameserver '^nameserver ' "$resolv"
t_eq resolv-no-loopback 0 "$(printf '%s\n' "$resolv" | grep -cE '^nameserver (127\.|::1)')"

# ------------------------------------------------------- published ports
# The test namespace is the host: a published port answers on its
# addresses (the bridge's gateway is one).
GW="$(net24 "$N1").1"
get_port() {
  local i
  for i in $(seq 30); do timeout 3 busybox wget -q -O- "http://$1/hostname" 2>/dev/null && return 0; sleep 0.1; done
  return 1
}
web p1 default '      ports: ["18080:8080"]'
t_ok apply-p1-publishing kl apply -f "$T_TMP/p1.yaml"
t_match conflist-has-portmap '"type": "portmap"' "$(cat "$RP/default/default/network.conflist")"
t_eq published-port-answers p1 "$(get_port "$GW:18080")"
web p2 default '      ports: ["18080:8080"]'
out=$(kl apply -f "$T_TMP/p2.yaml" 2>&1)
t_match same-host-port-refused 'host port 18080/tcp is already published by cell p1' "$out"
t_fail refused-cell-gone kl get cell p2
# The same refusal in a space the apply would have made: the space goes too.
web p5 newsp '      ports: ["18080:8080"]'
t_fail refused-in-new-space kl apply -f "$T_TMP/p5.yaml"
t_fail refused-new-space-gone kl get space newsp
t_eq refused-new-space-no-rules 0 "$(iptables-save 2>/dev/null | grep -c 'kukeon:default:newsp:')"
python3 -c 'import socket, time; s = socket.socket(); s.bind(("127.0.0.1", 18090)); s.listen(); time.sleep(120)' &
NCPID=$!
t_cleanup_add "kill $NCPID"
for _ in $(seq 400); do grep -q ":46AA 00000000:0000 0A" /proc/net/tcp && break; sleep 0.05; done  # 18090 listening
web p4 default '      ports: ["18090:8080"]'
out=$(kl apply -f "$T_TMP/p4.yaml" 2>&1)
t_match host-socket-port-refused 'host port 18090/tcp is already in use on the host' "$out"
kill "$NCPID" 2>/dev/null
t_ok run-publish kl run --image docker.io/library/busybox --name p3 -d -p 18081:8080 -- /bin/busybox httpd -f -p 8080 -h /etc
t_eq run-published-port-answers p3 "$(get_port "$GW:18081")"
# A new port list on a running cell: re-applied, the cell comes up again
# published on the new port only.
web p1 default '      ports: ["18082:8080"]'
t_ok reapply-p1-new-port kl apply -f "$T_TMP/p1.yaml"
t_eq new-port-answers p1 "$(get_port "$GW:18082")"
t_eq old-port-unpublished 0 "$(iptables-save -t nat 2>/dev/null | grep -c 'dport 18080')"
t_ok delete-p1 kl delete cell p1
t_ok delete-p3 kl delete cell p3
t_eq ports-gone 0 "$(iptables-save -t nat 2>/dev/null | grep -c 'dport 1808')"

# ------------------------------------------------------------ egress
# "Outside" is another namespace behind a veth pair, 192.0.2.0/24, with
# httpd on 192.0.2.2:8080 and :8081.
unshare --net sleep 600 >/dev/null 2>&1 &
OUT=$!
t_cleanup_add "kill -9 $OUT"
for _ in $(seq 50); do [ "$(readlink /proc/$OUT/ns/net)" != "$(readlink /proc/self/ns/net)" ] && break; sleep 0.02; done
ip link add kkt-out type veth peer name kkt-in netns "$OUT"
ip addr add 192.0.2.1/24 dev kkt-out
ip link set kkt-out up
nsenter --net=/proc/"$OUT"/ns/net sh -c 'ip link set lo up; ip addr add 192.0.2.2/24 dev kkt-in; ip link set kkt-in up'
mkdir -p "$T_TMP/www"
echo outside >"$T_TMP/www/hostname"
for port in 8080 8081; do
  nsenter --net=/proc/"$OUT"/ns/net busybox httpd -f -p "192.0.2.2:$port" -h "$T_TMP/www" &
  t_cleanup_add "kill $!"
done
out_from() { # cell port [space]: GET from inside the cell's namespace
  timeout 3 nsenter --net=/proc/"$(pid_of "$1" "${3:-default}")"/ns/net busybox wget -q -O- "http://192.0.2.2:$2/hostname" 2>/dev/null
}
# The outside has no route back to the pod subnet: an answer means the
# space's masquerade rule rewrote the source.
t_eq no-policy-reaches-outside outside "$(out_from n1 8081)"
printf '%s\n' 'apiVersion: v1beta1' 'kind: Space' 'metadata: {name: fw}' 'spec:' '  realmId: default' '  network:' \
  '    egress:' '      default: deny' '      allow:' '        - cidr: 192.0.2.2/32' '          ports: [8080]' >"$T_TMP/fw.yaml"
t_ok create-space-fw kl apply -f "$T_TMP/fw.yaml"
t_match egress-wide '^fw .*deny' "$(kl get space fw -o wide)"
web f1 fw
t_ok apply-f1 kl apply -f "$T_TMP/f1.yaml"
t_eq allow-rule-opens-its-port outside "$(out_from f1 8080 fw)"
t_eq deny-blocks-other-port "" "$(out_from f1 8081 fw)"
t_eq other-space-unaffected outside "$(out_from n1 8081)"
CHAIN=$(iptables -S KUKEON-EGRESS 2>/dev/null | grep 'kukeon:default:fw:dispatch' | grep -o 'KUKE-EGR-[0-9a-f]*')
t_match egress-chain-exists '^KUKE-EGR-' "$CHAIN"
# Damaged: kukeond's first reconcile pass puts it back.
[ -n "$CHAIN" ] && iptables -F "$CHAIN"
t_start_daemon "$RP" --reconcile-interval 300ms
t_eq daemon-start-egress 0 $?
K=k
sleep 1
t_eq egress-reasserted "" "$(out_from f1 8081 fw)"
t_eq egress-reasserted-allow outside "$(out_from f1 8080 fw)"
t_ok delete-space-fw k delete space fw --cascade
t_eq egress-chain-removed 0 "$(iptables-save 2>/dev/null | grep -c "${CHAIN:-none}")"
t_ok delete-realm-end k delete realm default --cascade
t_eq end-no-veth-2 0 "$(veths)"
t_eq end-no-egress-rule-of-realm 0 "$(iptables-save 2>/dev/null | grep -c 'kukeon:default:')"
