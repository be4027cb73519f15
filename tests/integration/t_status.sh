#!/usr/bin/env bash
# kuke status: FAIL with a hint while no daemon answers (down, or hung:
# bounded by the reply deadline), OK on a healthy host (daemon up, init
# done, a cell running), the same verdict in --json, an orphan bundle as
# WARN, and a FAIL when kukeond and the in-process view of the run path
# differ (a daemon serving another run path).
. "$(dirname "$0")/lib.sh"
RP="$T_TMP/run"
SOCK="$T_TMP/kukeond.sock"
export KUKEON_HOST="unix://$SOCK"
unset KUKEON_RUN_PATH
# status reads the run path in-process and asks kukeond on the socket.
st() { KUKEON_RUN_PATH="${ST_RP:-$RP}" "$KUKE" status "$@"; }
json_ok() { python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["ok"], len(d["checks"]))'; }

# ------------------------------------------------------- no daemon, no init
out=$(st 2>&1); rc=$?
t_eq down-exit 1 "$rc"
t_match down-row '^FAIL  daemon/socket +cannot reach kukeond at unix://'"$SOCK" "$out"
t_match down-hint '↳ start the daemon: `sudo kuke init` brings it up' "$out"
t_match down-run-path "FAIL  state/run-path +$RP does not exist" "$out"
t_match down-parity-skipped 'WARN  parity/cells +not compared: kukeond did not answer' "$out"
t_match down-host-runc '^OK    host/runc +runc version' "$out"
t_match down-verdict '^Status: FAIL$' "$(printf '%s\n' "$out" | tail -1)"
t_match down-sections '^DAEMON$' "$(printf '%s\n' "$out" | head -1)"

# A socket that accepts and never answers: FAIL within the deadline.
python3 -c 'import socket,sys,time
s=socket.socket(socket.AF_UNIX); s.bind(sys.argv[1]); s.listen(4)
c=s.accept(); time.sleep(60)' "$T_TMP/hang.sock" &
HANG=$!
t_cleanup_add "kill $HANG 2>/dev/null"
for _ in $(seq 50); do [ -S "$T_TMP/hang.sock" ] && break; sleep 0.05; done
t0=$(date +%s)
out=$(KUKEON_HOST="unix://$T_TMP/hang.sock" st 2>&1); rc=$?
t_eq hung-exit 1 "$rc"
t_match hung-row 'FAIL  daemon/socket +kukeond at .*hang.sock did not answer within 3000 ms' "$out"
t_ok hung-bounded test $(($(date +%s) - t0)) -lt 15
kill "$HANG" 2>/dev/null; wait "$HANG" 2>/dev/null

# ------------------------------------------- healthy: init, daemon, a cell
KUKEON_RUN_PATH="$RP" "$KUKE" init >/dev/null
# No reconcile pass while the test plants leftovers (it would sweep some).
t_start_daemon "$RP" --reconcile-interval 0; t_eq daemon-start 0 $?
t_load_busybox "$RP"
t_cell web "    - id: web
      image: docker.io/library/busybox
      command: /bin/sleep
      args: [\"600\"]"
t_ok apply-cell "$KUKE" apply -f "$T_TMP/web.yaml"
out=$(st 2>&1); rc=$?
t_eq healthy-exit 0 "$rc"
t_match healthy-verdict '^Status: OK$' "$(printf '%s\n' "$out" | tail -1)"
t_match healthy-socket '^(OK|WARN) +daemon/socket +unix://.* answered in [0-9]+ ms, version ' "$out"
t_match healthy-orphans '^OK    state/orphans +none' "$out"
t_match healthy-parity-cells '^OK    parity/cells +kukeond and in-process list the same 1$' "$out"
t_match healthy-parity-realms '^OK    parity/realms +kukeond and in-process list the same 2$' "$out"
t_match healthy-parity-images '^OK    parity/images +kukeond and in-process list the same 1$' "$out"
t_match healthy-storage '^OK    storage/default.kukeon.io +1 images, [0-9]+ blobs \([0-9.]+[KMG]?i?B\), [0-9]+ snapshots' "$out"
t_match healthy-storage-total '^OK    storage/total +[0-9]+ blobs .*[1-9][0-9]* rootfs leases' "$out"
t_match healthy-sections "$(printf 'DAEMON\nHOST\nSTATE\nSTORAGE\nPARITY')" "$(printf '%s\n' "$out" | grep -E '^[A-Z]+$' | tr '\n' ' ' | sed 's/ $//' | tr ' ' '\n')"
# --json: one object that parses, the same verdict and exit status.
js=$(st --json 2>/dev/null); rc=$?
t_eq json-exit 0 "$rc"
t_ok json-parses python3 -m json.tool <<<"$js"
t_match json-ok '^True [0-9]+$' "$(json_ok <<<"$js")"
t_match json-storage '"blobsBytes": [1-9]' "$js"
# --verbose: a detail row per cgroup check.
out=$(st --verbose 2>/dev/null)
t_match verbose-cgroup-rows '^OK +host/cgroups/mount +cgroup2 mounted' "$out"

# ----------------------------------------------- an orphan bundle is a WARN
GHOST="$T_TMP/bundles/default.kukeon.io/default_default_ghost_main"
mkdir -p "$GHOST"
out=$(st 2>&1); rc=$?
t_eq orphan-exit 0 "$rc"
t_match orphan-row "^WARN  state/orphans +1 left without a resource: bundle $GHOST\$" "$out"
t_match orphan-hint '↳ left by a crash or an interrupted delete' "$out"
t_match orphan-json '^True ' "$(st --json 2>/dev/null | json_ok)"
# Its runc record, its writable layer, a space directory never written.
mkdir -p "$T_TMP/runc/default.kukeon.io/default_default_ghost_main" "$RP/containers/default.kukeon.io/default_default_ghost_main" "$RP/default/ghost"
out=$(st --verbose 2>/dev/null); rc=$?
t_eq orphans-exit 0 "$rc"
t_match orphans-count '^WARN  state/orphans +4 left without a resource: ' "$out"
t_match orphans-runc "^WARN +state/orphan +runc $T_TMP/runc/default.kukeon.io/default_default_ghost_main\$" "$out"
t_match orphans-layer "^WARN +state/orphan +snapshot $RP/containers/default.kukeon.io/default_default_ghost_main\$" "$out"
t_match orphans-resource "^WARN +state/orphan +resource $RP/default/ghost\$" "$out"
t_ok orphans-kept test -d "$RP/default/ghost" -a -d "$GHOST"
rmdir "$GHOST" "$T_TMP/runc/default.kukeon.io/default_default_ghost_main" "$RP/containers/default.kukeon.io/default_default_ghost_main" "$RP/default/ghost"

# ---------------------------- views diverge: kukeond serves another run path
# The in-process side reads a run path holding realm "default" only.
OTHER="$T_TMP/other"
mkdir -p "$OTHER/default"
cp "$RP/default/realm.yaml" "$OTHER/default/"
out=$(ST_RP="$OTHER" st 2>&1); rc=$?
t_eq diverge-exit 1 "$rc"
t_match diverge-realms '^FAIL  parity/realms +2 from kukeond, 1 in-process; only from kukeond: kuke-system Ready; only in-process: -$' "$out"
t_match diverge-cells '^FAIL  parity/cells +1 from kukeond, 0 in-process; only from kukeond: default/default/default/web ' "$out"
t_match diverge-hint "↳ kukeond serves another run path than $OTHER" "$out"
t_match diverge-verdict '^Status: FAIL$' "$(printf '%s\n' "$out" | tail -1)"
js=$(ST_RP="$OTHER" st --json 2>/dev/null); rc=$?
t_eq diverge-json-exit 1 "$rc"
t_match diverge-json '^False ' "$(json_ok <<<"$js")"

# --------------------------------------------------------- the daemon goes
"$KUKE" delete cell web >/dev/null 2>&1
kill "$DPID"; wait "$DPID" 2>/dev/null
out=$(st 2>&1); rc=$?
t_eq stopped-exit 1 "$rc"
t_match stopped-row '^FAIL  daemon/socket ' "$out"
t_match stopped-state '^OK    state/run-path ' "$out"
t_match stopped-json '^False ' "$(st --json 2>/dev/null | json_ok)"
