#!/usr/bin/env bash
# netns/ CNI with the real plugins (containernetworking-plugins), driven by
# tests/helpers/kk-net: subnet picking around the host's own networks, the
# space conflist, two cells on one bridge reaching each other, CHECK, DEL
# (twice, and after the cell died), and failures that leave no veth, lease
# or cache behind.  Everything happens inside a network namespace made for
# this test (and mount namespace, so nothing it mounts leaks): its bridge,
# veths and iptables rules vanish with it.  Cells are `unshare --net sleep`.
if [ -z "${KK_NET_INNER:-}" ]; then
  [ "$(id -u)" = 0 ] || { echo "skip - t_net_cni: needs root"; exit 0; }
  exec unshare --net --mount --propagation private env KK_NET_INNER=1 bash "$0" "$@"
fi
. "$(dirname "$0")/lib.sh"
N="$BUILD/tests/helpers/kk-net"
t_require_cni
PLUGINS=$CNI_PATH
command -v busybox >/dev/null || { echo "skip - $T_NAME: busybox not installed"; exit 0; }
export KK_NET_CNI_PATH="$PLUGINS" KK_NET_CNI_CACHE="$T_TMP/cache"
LEASES="$T_TMP/leases"
BR=kkt-br0
ip link set lo up

CELLS=()
t_cleanup_add 'for p in "${CELLS[@]}"; do kill -9 "$p"; done'
new_cell() { # prints the pid of a process in a fresh network namespace
  unshare --net sleep 600 >/dev/null 2>&1 &
  local pid=$! i
  for i in $(seq 50); do
    [ "$(readlink /proc/$pid/ns/net)" != "$(readlink /proc/self/ns/net)" ] && break
    sleep 0.02
  done
  echo "$pid"
}
in_cell() { local pid=$1; shift; nsenter --net=/proc/"$pid"/ns/net "$@"; }
veths() { ip -o link show type veth 2>/dev/null | grep -vc ': kkt-h'; }
leases() { ls "$LEASES/$1" 2>/dev/null | grep -E '^[0-9.]+$' | sort | tr '\n' ' '; }

# --- subnets: the host's own networks are skipped
# (a veth pair: the dummy module may not be there)
ip link add kkt-h0 type veth peer name kkt-h1
ip addr add 10.88.0.1/24 dev kkt-h0
ip link set kkt-h0 up
t_match host-cidrs-list-the-dummy '^10\.88\.0\.1/24$' "$("$N" host-cidrs)"
t_eq pick-without-host 10.88.0.0/24 "$("$N" pick 10.88.0.0/16)"
t_eq pick-skips-host-overlap 10.88.1.0/24 "$("$N" pick 10.88.0.0/16 --host)"
t_eq pick-skips-taken-and-host 10.88.2.0/24 "$("$N" pick 10.88.0.0/16 --host 10.88.1.0/24)"
ip route add 10.88.2.0/23 dev kkt-h0
t_eq pick-skips-host-route 10.88.4.0/24 "$("$N" pick 10.88.0.0/16 --host 10.88.1.0/24)"
out=$("$N" pick 10.88.0.0/23 --host 10.88.1.0/24 2>&1)
t_match pick-exhausted-mentions-host 'no free subnet available in parent CIDR: parent 10.88.0.0/23 exhausted at /24 .*overlap' "$out"
SUBNET=$("$N" pick 10.88.0.0/16 --host)

# --- the conflist
mkdir -p "$T_TMP/space"
t_eq conflist-written written "$("$N" write "$T_TMP/space" t-net $BR "$SUBNET" --lease-dir "$LEASES")"
t_eq conflist-unchanged unchanged "$("$N" write "$T_TMP/space" t-net $BR "$SUBNET" --lease-dir "$LEASES")"
t_eq conflist-mode 600 "$(stat -c %a "$T_TMP/space/network.conflist")"
t_eq conflist-parse "t-net $BR $SUBNET $LEASES -" "$("$N" parse "$T_TMP/space/network.conflist")"
t_fail conflist-long-bridge-refused "$N" write "$T_TMP/space" t-net k-0123456789abcdef "$SUBNET"
t_eq conflist-kept-after-refusal "t-net $BR $SUBNET $LEASES -" "$("$N" parse "$T_TMP/space/network.conflist")"
CONF="$T_TMP/space/network.conflist"

# --- two cells on the bridge
c1=$(new_cell)
c2=$(new_cell)
CELLS+=("$c1" "$c2")
a1=$("$N" add "$CONF" cell-1 "$c1" 2>&1)
a2=$("$N" add "$CONF" cell-2 "$c2" 2>&1)
t_eq add-cell-1 "10.88.1.2/24 10.88.1.2 10.88.1.1 eth0" "$a1"
t_eq add-cell-2 "10.88.1.3/24 10.88.1.3 10.88.1.1 eth0" "$a2"
t_match cell-1-has-address 'inet 10\.88\.1\.2/24' "$(in_cell "$c1" ip -4 addr show eth0)"
t_match cell-1-default-route 'default via 10\.88\.1\.1' "$(in_cell "$c1" ip route)"
t_ok ping-1-to-2 in_cell "$c1" busybox ping -c1 -W2 10.88.1.3
t_ok ping-2-to-1 in_cell "$c2" busybox ping -c1 -W2 10.88.1.2
t_ok ping-host-to-cell busybox ping -c1 -W2 10.88.1.2
t_ok check-cell-1 "$N" check "$CONF" cell-1 "$c1"
t_ok check-cell-2 "$N" check "$CONF" cell-2 "$c2"
t_eq cached-cell-1 "$a1" "$("$N" cached "$CONF" cell-1)"
t_eq leases-two "10.88.1.2 10.88.1.3 " "$(leases t-net)"
t_eq veths-two 2 "$(veths)"
# ipMasq is off: the space's one masquerade rule is kukeon's (netns/masq.c).
t_eq no-per-container-masquerade 0 "$(iptables-save 2>/dev/null | grep -c -- 'CNI-')"
# A repeated ADD (a restarted daemon) finds the attachment instead of a second one.
t_eq add-again-is-cached "$a1" "$("$N" add "$CONF" cell-1 "$c1" 2>&1)"
t_eq add-again-no-new-lease "10.88.1.2 10.88.1.3 " "$(leases t-net)"

# --- DEL
t_ok del-cell-1 "$N" del "$CONF" cell-1 "$c1"
t_eq del-removed-veth 1 "$(veths)"
t_eq del-released-lease "10.88.1.3 " "$(leases t-net)"
t_eq del-removed-cache "" "$(ls "$T_TMP/cache" | grep cell-1)"
t_fail del-cell-1-no-eth0 in_cell "$c1" ip link show eth0
t_ok del-again-is-fine "$N" del "$CONF" cell-1 "$c1"
t_fail check-after-del-fails "$N" check "$CONF" cell-1 "$c1"
# The cell's process died: its namespace (and veth) went with it; DEL
# still releases the lease and the cache.
kill -9 "$c2"
wait "$c2" 2>/dev/null
t_ok del-after-cell-died "$N" del "$CONF" cell-2 "$c2"
t_eq dead-cell-lease-released "" "$(leases t-net)"
t_eq dead-cell-masquerade-gone "" "$(iptables-save -t nat 2>/dev/null | grep -E 'cell-2|^:CNI-[0-9a-f]{24}')"
# The kernel tears a dead namespace down (and its veth with it) from a
# work queue, some time after its last process died: wait for it.
t_wait 10 eval '[ "$(veths)" = 0 ]'
t_eq no-veths-left 0 "$(veths)"
t_eq no-cache-left "" "$(ls "$T_TMP/cache")"

# A DEL whose path now names another namespace (the root died and its pid
# was reused): the other namespace's eth0 is not touched.
c5=$(new_cell)
c6=$(new_cell)
CELLS+=("$c5" "$c6")
"$N" add "$CONF" cell-5 "$c5" >/dev/null
ip6=$("$N" add "$CONF" cell-6 "$c6" | cut -d' ' -f2)
t_ok del-through-reused-path "$N" del "$CONF" cell-5 /proc/"$c6"/ns/net
t_ok reused-path-eth0-kept in_cell "$c6" ip link show eth0
t_eq reused-path-lease-released "$ip6 " "$(leases t-net)"
kill -9 "$c5"
wait "$c5" 2>/dev/null
t_ok del-cell-6 "$N" del "$CONF" cell-6 "$c6"
t_wait 10 eval '[ "$(veths)" = 0 ]'   # c5's veth goes with its namespace
t_eq reused-path-nothing-left "0 0" "$(veths) $(leases t-net)$(iptables-save -t nat | grep -c 'id: \\"cell-[56]')"

# --- failures leave nothing behind
c3=$(new_cell)
c4=$(new_cell)
CELLS+=("$c3" "$c4")
# A range of one address: the second cell finds it taken.
jq '.plugins[0].ipam.ranges[0][0] += {"rangeStart":"10.88.1.9","rangeEnd":"10.88.1.9"}' "$CONF" >"$T_TMP/one.conflist"
t_ok add-one-address "$N" add "$T_TMP/one.conflist" cell-3 "$c3"
out=$("$N" add "$T_TMP/one.conflist" cell-4 "$c4" 2>&1)
t_match no-free-address-clear 'cni plugin "bridge" ADD: no free address left' "$out"
t_eq no-free-address-one-line 1 "$(printf '%s\n' "$out" | wc -l)"
t_eq no-free-address-no-veth 1 "$(veths)"
t_fail no-free-address-no-eth0 in_cell "$c4" ip link show eth0
t_eq no-free-address-no-cache "" "$(ls "$T_TMP/cache" | grep cell-4)"
t_ok del-one-address "$N" del "$T_TMP/one.conflist" cell-3 "$c3"
# A plugin after bridge fails: what bridge added is deleted again.
jq '.plugins += [{"type":"tuning","sysctl":{"net.kukeon.no_such_key":"1"}}]' "$CONF" >"$T_TMP/tuning.conflist"
out=$("$N" add "$T_TMP/tuning.conflist" cell-3 "$c3" 2>&1)
t_match later-plugin-fails 'cni plugin "tuning" ADD failed: ' "$out"
t_eq later-plugin-rolled-back-veth 0 "$(veths)"
t_eq later-plugin-rolled-back-lease "" "$(leases t-net)"
t_fail later-plugin-no-eth0 in_cell "$c3" ip link show eth0
t_eq later-plugin-no-cache "" "$(ls "$T_TMP/cache")"
# A missing plugin binary: named, with the package that installs it; nothing runs.
jq '.plugins += [{"type":"no-such-plugin"}]' "$CONF" >"$T_TMP/missing.conflist"
out=$("$N" add "$T_TMP/missing.conflist" cell-3 "$c3" 2>&1)
t_eq missing-plugin-message "kk-net: cni plugin \"no-such-plugin\" not found in $PLUGINS: install the standard CNI plugins (Debian: apt-get install containernetworking-plugins)" "$out"
t_eq missing-plugin-nothing-ran 0 "$(veths)"
# A bridge name Linux refuses (a conflist not written by kukeon).
jq '.plugins[0].bridge = "k-0123456789abcdef"' "$CONF" >"$T_TMP/long.conflist"
out=$("$N" add "$T_TMP/long.conflist" cell-3 "$c3" 2>&1)
t_match long-bridge-translated 'bridge name "k-0123456789abcdef" exceeds Linux IFNAMSIZ limit' "$out"
t_eq long-bridge-no-veth 0 "$(veths)"
t_eq long-bridge-no-lease "" "$(leases t-net)"

# --- plugins that misbehave: an error object, a hang, a flood
mkdir -p "$T_TMP/fake"
cat >"$T_TMP/fake/errobj" <<'EOF'
#!/bin/sh
cat >/dev/null
printf '%s\n' '{"cniVersion":"0.4.0","code":11,"msg":"cannot do it","details":"because\nreasons"}'
exit 1
EOF
cat >"$T_TMP/fake/hang" <<'EOF'
#!/bin/sh
sleep 300 &
echo $! >"$(dirname "$0")/hang.child"
sleep 300
EOF
cat >"$T_TMP/fake/flood" <<'EOF'
#!/bin/sh
exec cat /dev/zero
EOF
chmod +x "$T_TMP/fake/"*
for t in errobj hang flood; do
  printf '{"cniVersion":"0.4.0","name":"t-fake","plugins":[{"type":"%s"}]}\n' $t >"$T_TMP/$t.conflist"
done
export KK_NET_CNI_PATH="$T_TMP/fake:$PLUGINS"
out=$("$N" add "$T_TMP/errobj.conflist" cell-3 "$c3" 2>&1)
t_eq error-object-one-line 'kk-net: cni plugin "errobj" ADD failed: cannot do it: because reasons' "$out"
start=$(date +%s%N)
out=$(KK_NET_CNI_TIMEOUT_MS=300 "$N" add "$T_TMP/hang.conflist" cell-3 "$c3" 2>&1)
took=$((($(date +%s%N) - start) / 1000000))
t_match hang-deadline 'cni plugin "hang" ADD: did not finish within 300 ms' "$out"
t_ok hang-killed-fast test "$took" -lt 5000
gone() { ! kill -0 "$1" 2>/dev/null || grep -q '^State:.*Z' /proc/"$1"/status; }
t_ok hang-child-killed gone "$(cat "$T_TMP/fake/hang.child")"
out=$("$N" add "$T_TMP/flood.conflist" cell-3 "$c3" 2>&1)
t_match flood-bounded 'cni plugin "flood" ADD: wrote more than 1048576 bytes on stdout' "$out"

# --- portmap: rules while attached, none after DEL
export KK_NET_CNI_PATH="$PLUGINS"
"$N" write "$T_TMP/space" t-net $BR "$SUBNET" --lease-dir "$LEASES" --portmap >/dev/null
t_eq portmap-parse "t-net $BR $SUBNET $LEASES portmap" "$("$N" parse "$CONF")"
t_ok portmap-add "$N" add "$CONF" cell-3 "$c3" '{"portMappings":[{"hostPort":18080,"containerPort":80,"protocol":"tcp"}]}'
t_match portmap-rule 'dport 18080' "$(iptables-save 2>/dev/null)"
t_ok portmap-check "$N" check "$CONF" cell-3 "$c3" '{"portMappings":[{"hostPort":18080,"containerPort":80,"protocol":"tcp"}]}'
t_ok portmap-del "$N" del "$CONF" cell-3 "$c3" '{"portMappings":[{"hostPort":18080,"containerPort":80,"protocol":"tcp"}]}'
t_eq portmap-rule-gone "" "$(iptables-save 2>/dev/null | grep 'dport 18080')"
t_eq end-no-veth 0 "$(veths)"
t_eq end-no-lease "" "$(leases t-net)"
t_eq end-no-cache "" "$(ls "$T_TMP/cache")"
t_eq end-no-cni-rules "" "$(iptables-save 2>/dev/null | grep -E '^-A .*CNI-[0-9a-f]{24}' | grep -v -- '-A CNI-')"
t_eq end-no-cni-chains "" "$(iptables-save 2>/dev/null | grep -E '^:CNI-([0-9a-f]{24}|DN-)')"
