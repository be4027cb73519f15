#!/usr/bin/env bash
# netns/ egress policy (spec 7.5), published-port checks and the in-place
# /etc writer, through tests/helpers/kk-netpol.  Everything runs in a network
# and mount namespace of its own (this script re-executes itself under
# unshare): that namespace is the "host" and the router; a "cell" namespace
# hangs off a bridge k-t1pol (10.99.0.0/24), an "outside" namespace off a
# veth (192.0.2.0/24, documentation range).  The host's network, firewall
# and /etc are never touched.
set -u
if [ -z "${KK_NET_POLICY_INNER:-}" ]; then
  [ "$(id -u)" = 0 ] || { echo "skip - t_net_policy: needs root"; exit 0; }
  for tool in unshare nsenter ip iptables iptables-save iptables-restore busybox curl; do
    command -v "$tool" >/dev/null || { echo "skip - t_net_policy: $tool not installed"; exit 0; }
  done
  exec env KK_NET_POLICY_INNER=1 unshare --net --mount --propagation private -- bash "$0" "$@"
fi
. "$(dirname "$0")/lib.sh"
TOOL="$BUILD/tests/helpers/kk-netpol"
[ -x "$TOOL" ] || { echo "not ok - $T_NAME/tool no $TOOL (make unit-bins)"; exit 0; }
np() { "$TOOL" "$@"; }
PIDS=()
t_cleanup_add 'for p in "${PIDS[@]}"; do kill -9 "$p"; done'
ip link set lo up
sysctl -qw net.ipv4.ip_forward=1

# ------------------------------------------------------------ topology
unshare --net sleep 600 & C=$!; PIDS+=("$C"); disown
unshare --net sleep 600 & O=$!; PIDS+=("$O"); disown
in_c() { nsenter -t "$C" -n -- "$@"; }
in_o() { nsenter -t "$O" -n -- "$@"; }
ip link add k-t1pol type bridge
ip addr add 10.99.0.1/24 dev k-t1pol
ip link set k-t1pol up
ip link add vb0 type veth peer name vc0
ip link set vc0 netns "$C"
ip link set vb0 master k-t1pol up
in_c ip link set vc0 name eth0
in_c ip addr add 10.99.0.2/24 dev eth0
in_c ip link set eth0 up
in_c ip link set lo up
in_c ip route add default via 10.99.0.1
ip link add vo0 type veth peer name vo1
ip link set vo1 netns "$O"
ip addr add 192.0.2.1/24 dev vo0
ip link set vo0 up
in_o ip link set vo1 name eth0
in_o ip addr add 192.0.2.2/24 dev eth0
in_o ip addr add 192.0.2.3/24 dev eth0
in_o ip link set eth0 up
in_o ip link set lo up
in_o ip route add default via 192.0.2.1
mkdir -p "$T_TMP/www"
echo hello >"$T_TMP/www/ok.txt"
# (nsenter execs: $! is the server itself)
for port in 8080 8081; do nsenter -t "$O" -n -- busybox httpd -f -p "$port" -h "$T_TMP/www" & PIDS+=($!); disown; done
nsenter -t "$C" -n -- busybox httpd -f -p 9000 -h "$T_TMP/www" & PIDS+=($!); disown
# The egress rule's host name resolves through a private /etc/hosts.
printf '127.0.0.1\tlocalhost\n192.0.2.2\tegress-target.test\n' >"$T_TMP/hosts"
mount --bind "$T_TMP/hosts" /etc/hosts
# fetch FROM_NS URL: the body, or nothing within 2 s (curl: busybox 1.35's
# wget crashes on Debian 12)
fetch() { nsenter -t "$1" -n -- curl -s --max-time 2 "$2" 2>/dev/null; }
for _ in $(seq 50); do [ "$(fetch "$C" http://192.0.2.2:8080/ok.txt)" = hello ] && break; sleep 0.1; done
t_eq open-before-policy hello "$(fetch "$C" http://192.0.2.2:8081/ok.txt)"

# ------------------------------------------------------------ the rules
iptables -P FORWARD DROP # the admission chain must carry replies and ingress
CH=$(np render r s1 k-t1pol deny | awk 'NR == 1 {print $2}')
t_match chain-name '^KUKE-EGR-[0-9a-f]{8}$' "$CH"
t_ok forward np forward
t_ok ensure-deny np ensure r s1 k-t1pol deny host=egress-target.test:8080
save() { iptables-save -t filter | grep -v '^#' | sed 's/ \[[0-9]*:[0-9]*\]$//'; }
want="*filter
:INPUT ACCEPT
:FORWARD DROP
:OUTPUT ACCEPT
:$CH -
:KUKEON-EGRESS -
:KUKEON-FORWARD -
-A FORWARD -j KUKEON-EGRESS
-A FORWARD -j KUKEON-FORWARD
-A $CH -m conntrack --ctstate RELATED,ESTABLISHED -m comment --comment \"kukeon:r:s1:established\" -j ACCEPT
-A $CH -d 192.0.2.2/32 -p tcp -m tcp --dport 8080 -m comment --comment \"kukeon:r:s1:allow[0]:host=egress-target.test\" -j ACCEPT
-A $CH -m comment --comment \"kukeon:r:s1:default\" -j DROP
-A KUKEON-EGRESS -i k-t1pol -m comment --comment \"kukeon:r:s1:dispatch\" -j $CH
-A KUKEON-FORWARD -m conntrack --ctstate RELATED,ESTABLISHED -m comment --comment \"kukeon-forward:established\" -j ACCEPT
-A KUKEON-FORWARD ! -i k-+ -o k-+ -m comment --comment \"kukeon-forward:ingress\" -j ACCEPT
COMMIT"
t_eq ruleset "$want" "$(save)"

# ------------------------------------------------------------ traffic
t_eq allowed-host-port hello "$(fetch "$C" http://192.0.2.2:8080/ok.txt)"
t_eq denied-other-port "" "$(fetch "$C" http://192.0.2.2:8081/ok.txt)"
t_eq denied-other-ip "" "$(fetch "$C" http://192.0.2.3:8080/ok.txt)"
t_eq ingress-admitted hello "$(fetch "$O" http://10.99.0.2:9000/ok.txt)"

# Twice is a no-op: same rules, counters kept (so nothing was rewritten).
before=$(iptables-save -c -t filter | grep -v '^#')
t_ok ensure-again np ensure r s1 k-t1pol deny host=egress-target.test:8080
t_ok forward-again np forward
t_eq idempotent "$before" "$(iptables-save -c -t filter | grep -v '^#')"
t_match drops-counted '^\[[1-9][0-9]*:[0-9]+\] .*kukeon:r:s1:default" -j DROP' "$before"

# A policy change rewrites the chain in place.
t_ok ensure-allow np ensure r s1 k-t1pol allow
t_eq allow-default hello "$(fetch "$C" http://192.0.2.2:8081/ok.txt)"
t_ok ensure-cidr np ensure r s1 k-t1pol deny cidr=192.0.2.3/32
t_eq cidr-any-port hello "$(fetch "$C" http://192.0.2.3:8081/ok.txt)"
t_eq cidr-only "" "$(fetch "$C" http://192.0.2.2:8080/ok.txt)"
t_eq one-dispatch 1 "$(iptables -S KUKEON-EGRESS | grep -c 'kukeon:r:s1:dispatch')"
# A second space beside it; the bridge of s1 renamed keeps one dispatch rule.
t_ok ensure-second np ensure r s2 k-t2pol allow
t_ok ensure-rebridge np ensure r s1 k-t1new deny cidr=192.0.2.3/32
t_eq rebridged "-A KUKEON-EGRESS -i k-t1new -m comment --comment \"kukeon:r:s1:dispatch\" -j $CH" \
  "$(iptables -S KUKEON-EGRESS | grep 'kukeon:r:s1:')"
t_ok ensure-back np ensure r s1 k-t1pol deny cidr=192.0.2.3/32

# Fail-closed while rewritten: a cell knocking on a denied port all along
# never gets through while the deny chain is rewritten again and again.
nsenter -t "$C" -n -- bash -c 'for i in $(seq 400); do
  curl -s --max-time 0.05 http://192.0.2.2:8081/ok.txt; done' >"$T_TMP/knock" 2>/dev/null &
knock=$!
for i in $(seq 15); do
  np ensure r s1 k-t1pol deny cidr=192.0.2.3/32 cidr=198.51.100.$i/32 && np ensure r s1 k-t1pol deny cidr=192.0.2.3/32
done
kill "$knock" 2>/dev/null; wait "$knock" 2>/dev/null
t_eq never-open-while-rewritten "" "$(cat "$T_TMP/knock")"
# What someone else changed is put back by the next ensure (the reconcile pass).
good=$(save)
iptables -I "$CH" 1 -j ACCEPT
iptables -D KUKEON-EGRESS -i k-t1pol -m comment --comment "kukeon:r:s1:dispatch" -j "$CH"
iptables -D FORWARD -j KUKEON-EGRESS
t_ok heal np ensure r s1 k-t1pol deny cidr=192.0.2.3/32
t_eq healed "$good" "$(save)"
t_eq denied-after-heal "" "$(fetch "$C" http://192.0.2.2:8081/ok.txt)"

# ------------------------------------------------------------ removal
out=$(np remove r s1)
t_match remove-reports-drops '^dropped [1-9][0-9]*$' "$out"
t_eq removed-space 0 "$(iptables-save | grep -c -e "$CH" -e 'kukeon:r:s1:')"
t_eq other-space-kept 1 "$(iptables -S KUKEON-EGRESS | grep -c 'kukeon:r:s2:dispatch')"
# Fail-closed: without the chain FORWARD's policy (DROP here) decides.
t_eq fail-closed "" "$(fetch "$C" http://192.0.2.3:8081/ok.txt)"
t_ok remove-again np remove r s1

# ------------------------------------------------------------ masquerade
nat() { iptables -t nat -S | grep -i kuke; }
t_ok masq-s1 np masq r s1 k-t1pol 10.88.7.0/24
t_ok masq-s2 np masq r s2 k-t2pol 10.88.8.0/24
t_eq masq-rules "-N KUKEON-POSTROUTING
-A POSTROUTING -j KUKEON-POSTROUTING
-A KUKEON-POSTROUTING -s 10.88.7.0/24 ! -o k-t1pol -m comment --comment \"kukeon:r:s1:masq\" -j MASQUERADE
-A KUKEON-POSTROUTING -s 10.88.8.0/24 ! -o k-t2pol -m comment --comment \"kukeon:r:s2:masq\" -j MASQUERADE" "$(nat)"
before=$(iptables-save -c -t nat | grep -v '^#')
t_ok masq-again np masq r s1 k-t1pol 10.88.7.0/24
t_eq masq-idempotent "$before" "$(iptables-save -c -t nat | grep -v '^#')"
t_ok masq-new-subnet np masq r s1 k-t1pol 10.88.9.0/24
t_eq masq-stale-replaced 1 "$(nat | grep -c 'kukeon:r:s1:masq')"
t_match masq-new-rule '10\.88\.9\.0/24' "$(nat | grep 'kukeon:r:s1:masq')"
t_fail masq-bad-subnet np masq r s3 k-t3pol 10.88.9.300/24
t_fail masq-bad-name np masq r 's 3' k-t3pol 10.88.10.0/24
t_eq masq-refusals-change-nothing 0 "$(nat | grep -c 'r:s3')"
t_ok unmasq-s1 np unmasq r s1
t_eq unmasq-leaves-other "-A KUKEON-POSTROUTING -s 10.88.8.0/24 ! -o k-t2pol -m comment --comment \"kukeon:r:s2:masq\" -j MASQUERADE" \
  "$(nat | grep -- '-A KUKEON-POSTROUTING')"

t_ok purge np purge
t_eq nothing-left 0 "$(iptables-save | grep -ci kuke)"

# ------------------------------------------------------------ refusals
out=$(KK_IPTABLES=kk-no-iptables np forward 2>&1); rc=$?
t_eq missing-iptables-rc 3 "$rc"
t_match missing-iptables-warns 'warning: iptables not found' "$out"
t_fail bad-host np ensure r s1 k-t1pol deny 'host=a_b'
t_eq bad-host-changes-nothing 0 "$(iptables-save | grep -ci kuke)"
out=$(np ensure r s1 k-t1pol deny host=nowhere.invalid 2>&1)
t_match unresolvable-host 'egress host nowhere.invalid' "$out"
t_eq unresolvable-changes-nothing 0 "$(iptables-save | grep -ci kuke)"

# ------------------------------------------------------------ legacy backend
if command -v iptables-legacy >/dev/null && iptables-legacy -S >/dev/null 2>&1; then
  export KK_IPTABLES=iptables-legacy
  iptables -P FORWARD ACCEPT # both backends' hooks see the packets: legacy decides now
  iptables-legacy -P FORWARD DROP
  t_cleanup_add 'iptables-legacy -P FORWARD ACCEPT; iptables-legacy-save | grep -qi kuke && KK_IPTABLES=iptables-legacy "$TOOL" purge'
  t_ok legacy-ensure np ensure r s1 k-t1pol deny host=egress-target.test:8080
  t_ok legacy-forward np forward
  t_eq legacy-ruleset "$want" "$(iptables-legacy-save -t filter | grep -v '^#' | sed 's/ \[[0-9]*:[0-9]*\]$//')"
  before=$(iptables-legacy-save -c -t filter | grep -v '^#')
  t_ok legacy-ensure-again np ensure r s1 k-t1pol deny host=egress-target.test:8080
  t_eq legacy-idempotent "$before" "$(iptables-legacy-save -c -t filter | grep -v '^#')"
  t_eq legacy-traffic hello "$(fetch "$C" http://192.0.2.2:8080/ok.txt)"
  t_ok legacy-purge np purge
  t_eq legacy-nothing-left 0 "$(iptables-legacy-save | grep -ci kuke)"
  unset KK_IPTABLES
else
  echo "ok - $T_NAME/legacy # skip: no iptables-legacy"
fi

# ------------------------------------------------------------ published ports
busybox nc -l -p 8088 >/dev/null 2>&1 & PIDS+=($!); disown
for _ in $(seq 50); do grep -q ':1F98 00000000:0000 0A' /proc/net/tcp && break; sleep 0.1; done
out=$(np ports-check 8088:80 2>&1)
t_eq port-in-use "kk-netpol: host port 8088/tcp is already in use on the host" "$out"
t_ok port-udp-free np ports-check 8088:80/udp
out=$(np ports-check 8089:80 taken web 0.0.0.0:8089:81 2>&1)
t_eq port-published "kk-netpol: host port 8089/tcp is already published by cell web" "$out"
t_eq port-json '[{"hostPort":8089,"containerPort":80,"protocol":"tcp","hostIP":"127.0.0.1"}]' \
  "$(np ports-check 127.0.0.1:8089:80 taken db 192.0.2.1:8089:80)"
out=$(np ports-check 80 2>&1)
t_match port-random-refused 'a host port is required' "$out"

# ------------------------------------------------------------ /etc files
printf 'old text, longer than the new one\n' >"$T_TMP/etc-hosts"
touch "$T_TMP/target"
mount --bind "$T_TMP/etc-hosts" "$T_TMP/target"
ino=$(stat -c %i "$T_TMP/etc-hosts")
hosts=$(np hosts web 10.99.0.2 db=10.99.0.3 web=10.99.0.2 new=)
t_ok write-in-place np write "$T_TMP/etc-hosts" "$hosts"
t_eq bind-mount-sees-it "$hosts" "$(cat "$T_TMP/target")"
t_eq inode-kept "$ino" "$(stat -c %i "$T_TMP/etc-hosts")"
t_eq hosts-lines 8 "$(grep -c . "$T_TMP/target")"
printf 'nameserver 127.0.0.53\nsearch lan\n' >"$T_TMP/resolv.conf"
t_eq resolv-fallback "$(printf 'search lan\nnameserver 1.1.1.1\nnameserver 8.8.8.8')" \
  "$(np resolv "$T_TMP/resolv.conf" "$T_TMP/none")"
umount "$T_TMP/target"
