#!/usr/bin/env bash
# `kuke get <kind>` (narrow table) and `-o name` come from a summary list,
# which travels as rows (ListResponse.rows), not YAML documents.  They must
# print what the documents say: the narrow table is the wide table's first
# columns (the wide one comes from documents), names are its first column,
# through kukeond and in-process alike, with a selector, without headers,
# and with labels, states, restarts and ages that are not the defaults.
. "$(dirname "$0")/lib.sh"
RP="$T_TMP/run"
export KUKEON_HOST="unix://$T_TMP/kukeond.sock"
unset KUKEON_RUN_PATH
kl() { KUKEON_RUN_PATH="$RP" "$KUKE" "$@"; }
k() { "$KUKE" "$@"; }

kl init >/dev/null; t_eq init 0 $?
kl create realm blue >/dev/null &&
  kl create space s1 --realm blue >/dev/null &&
  kl create stack t1 --realm blue --space s1 >/dev/null &&
  kl create cell c1 --realm blue --space s1 --stack t1 --image busybox >/dev/null &&
  kl create cell c2 --image busybox >/dev/null &&
  kl create cell c3 --image busybox >/dev/null
t_eq create 0 $?

# What create leaves is all alike: give the store labels, states, restarts
# and creation times of its own (before kukeond reads it).
python3 - "$RP" <<'PY'
import re, sys
rp = sys.argv[1]
def edit(path, *subs):
    s = open(path).read()
    for a, b in subs:
        s, n = re.subn(a, b, s, count=1, flags=re.M)
        assert n == 1, (path, a)
    open(path, "w").write(s)
cells = rp + "/default/default/default/"
edit(cells + "c2/cell.yaml", (r"^  name: c2$", "  name: c2\n  labels:\n    tier: front\n    app: shop"),
     (r"^  createdAt: .*$", "  createdAt: 2026-01-02T03:04:05Z"))
edit(cells + "c3/cell.yaml", (r"^  name: c3$", "  name: c3\n  labels:\n    tier: back"),
     (r"^  state: Stopped$", "  state: Failed"))
edit(cells + "c2/containers/main.yaml", (r"^  name: main$", "  name: main\n  labels:\n    tier: front"),
     (r"^  state: Pending$", "  state: Exited"), (r"^  restartCount: 0$", "  restartCount: 7"),
     (r"^  createdAt: .*$", "  createdAt: 2025-06-07T08:09:10Z"))
edit(rp + "/blue/realm.yaml", (r"^  name: blue$", "  name: blue\n  labels:\n    tier: front"))
PY
t_eq store-edited 0 $?

t_start_daemon "$RP"; t_eq start 0 $?

# The narrow table out of a wide one: each line up to the first wide-only
# column ($1, its header), trailing blanks dropped.
narrow_of() {
  python3 -c '
import sys
lines = sys.stdin.read().split("\n")
cut = lines[0].index("  " + sys.argv[1]) if lines and "  " + sys.argv[1] in lines[0] else None
for l in lines:
    if l:
        print(l[:cut].rstrip() if cut is not None else l)
' "$1"
}
names_of() { # $1 kind; stdin: a wide table with headers
  awk -v k="$1" 'NR > 2 {print k "/" $1}'
}
# Tables carry an AGE column: take the first of three reads that agree.
same() { # name, then the two commands separated by --
  local name=$1; shift
  local -a x=() y=()
  while [ "$1" != -- ]; do x+=("$1"); shift; done
  shift
  y=("$@")
  local a b
  for _ in 1 2 3; do
    a=$("${x[@]}" 2>&1); b=$("${y[@]}" 2>&1)
    [ "$a" == "$b" ] && break
  done
  t_eq "$name" "$a" "$b"
}
wide_narrow() { "$@" -o wide | narrow_of "$NEXT"; }
wide_names() { "$@" -o wide | names_of "$KIND"; }

declare -A first_wide=([realm]=NAMESPACE [space]=EGRESS [stack]=MEMORY [cell]=CONTAINERS [container]=IMAGE)
for KIND in realm space stack cell container; do
  NEXT=${first_wide[$KIND]}
  same "$KIND-table-daemon" k get "$KIND" -- wide_narrow k get "$KIND"
  same "$KIND-table-local" kl get "$KIND" -- wide_narrow kl get "$KIND"
  same "$KIND-table-parity" k get "$KIND" -- kl get "$KIND"
  same "$KIND-name-daemon" k get "$KIND" -o name -- wide_names k get "$KIND"
  same "$KIND-name-local" kl get "$KIND" -o name -- wide_names kl get "$KIND"
  same "$KIND-selector" k get "$KIND" -l tier=front -- wide_narrow k get "$KIND" -l tier=front
  same "$KIND-selector-name" k get "$KIND" -l tier -o name -- wide_names k get "$KIND" -l tier
  same "$KIND-no-headers" k get "$KIND" --no-headers -- eval "k get $KIND | tail -n +3"
done
NEXT=CONTAINERS KIND=cell same cell-scope k get cells --realm blue -- wide_narrow k get cells --realm blue
NEXT=IMAGE KIND=container same container-scope k get containers --cell c2 -- wide_narrow k get containers --cell c2

# What the edits put there shows (not the defaults a row might fall back to).
out=$(k get cells)
t_match cell-age '^c2 +default +default +default +[A-Za-z]+ +- +[0-9]+d$' "$out"
t_match cell-state-failed '^c3 +default +default +default +Failed ' "$out"
t_match container-restarts '^main +default +default +default +c2 +Exited +7 +[0-9]+d$' "$(k get containers)"
t_eq selector-labels "cell/c2" "$(k get cells -l tier=front,app=shop -o name)"
t_eq selector-none "No resources found." "$(k get cells -l tier=nowhere)"
t_eq selector-none-name "" "$(k get cells -l tier=nowhere -o name)"
t_eq empty-scope "No resources found." "$(k get cells --realm blue --stack nope 2>&1)"

kill "$DPID" && wait "$DPID" 2>/dev/null
