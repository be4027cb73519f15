#!/usr/bin/env bash
# The default seccomp profile, no-new-privileges and the container's
# securityOpts, seen from inside containers run in-process by `kuke run`:
# a probe (tests/helpers/kk-probe.c) tries to leave the container's
# namespaces and to reach kernel keyrings and BPF; busybox, a dynamically
# linked program and a multi-threaded one still run; seccomp=unconfined,
# no-new-privileges=false and a docker-format profile file do what they say,
# and a bad profile file is refused by apply with nothing written.
. "$(dirname "$0")/lib.sh"
t_require runc umoci cc
t_require_busybox

export KUKEON_RUN_PATH="$T_TMP/run"
RP="$KUKEON_RUN_PATH"
IMG=docker.io/library/busybox:latest

# The probe, static and dynamic; built here when the build dir has none (a
# build from before the probe existed).
PROBE="$BUILD/tests/helpers/kk-probe"
PROBE_DYN="$BUILD/tests/helpers/kk-probe-dyn"
if [ ! -x "$PROBE" ] || [ ! -x "$PROBE_DYN" ]; then
  PROBE="$T_TMP/kk-probe" PROBE_DYN="$T_TMP/kk-probe-dyn"
  cc -O2 -D_GNU_SOURCE -static -pthread -o "$PROBE" "$KUKEON_SRC/tests/helpers/kk-probe.c" &&
    cc -O2 -D_GNU_SOURCE -pthread -o "$PROBE_DYN" "$KUKEON_SRC/tests/helpers/kk-probe.c" ||
    { echo "not ok - $T_NAME/probe: cannot build tests/helpers/kk-probe.c"; exit 0; }
fi

"$KUKE" init >/dev/null 2>&1
t_load_busybox "$RP" || { echo "not ok - $T_NAME/image: t_load_busybox failed"; exit 0; }

# cell NAME CONTAINER-FIELDS: one container "main" with the probes bound in.
cell() {
  t_cell "$1" "    - id: main
      image: $IMG
      volumes:
        - {source: \"$PROBE\", target: /kk-probe, readOnly: true}
        - {source: \"$PROBE_DYN\", target: /kk-probe-dyn, readOnly: true}
$2"
}
run() { timeout 120 "$KUKE" run -f "$T_TMP/$1.yaml" --rm 2>&1; }
line() { printf '%s\n' "$2" | grep -F "$1" | tr -s '\t' ' '; }

# ------------------------------------------------------------- defaults
cell probe '      command: /kk-probe'
out=$(run probe)
t_eq default-unshare-newuser 'unshare(CLONE_NEWUSER): EPERM' "$(line 'unshare(' "$out")"
t_eq default-clone-newuser 'clone(CLONE_NEWUSER): EPERM' "$(line 'clone(CLONE_NEWUSER)' "$out")"
t_eq default-clone-newns 'clone(CLONE_NEWNS): EPERM' "$(line 'clone(CLONE_NEWNS)' "$out")"
t_eq default-clone3-enosys 'clone3(CLONE_NEWUSER): ENOSYS' "$(line 'clone3(' "$out")"
t_eq default-mount 'mount(tmpfs): EPERM' "$(line 'mount(' "$out")"
t_eq default-keyctl 'keyctl(GET_KEYRING_ID): EPERM' "$(line 'keyctl(' "$out")"
t_eq default-bpf 'bpf(MAP_CREATE): EPERM' "$(line 'bpf(' "$out")"
t_eq default-fork 'fork: ok' "$(line 'fork:' "$out")"
t_eq default-no-new-privs 'NoNewPrivs: 1' "$(line 'NoNewPrivs:' "$out")"
t_eq default-seccomp-filter 'Seccomp: 2' "$(line 'Seccomp:' "$out")"

# What must still run: busybox applets and a pipeline, a static and a
# dynamically linked multi-threaded program (glibc tries clone3 first and
# falls back to clone on ENOSYS), a dynamic program of the host; and
# runc's masked and read-only /proc paths.
libs=""
for d in /lib /lib64; do
  [ -d "$d" ] && libs="$libs
        - {source: $d, target: $d, readOnly: true}"
done
cell apps "        - {source: /usr/bin/env, target: /usr/bin/env, readOnly: true}$libs
      command: /bin/sh
      args:
        - -c
        - |
          echo hello | grep -c hello; ls / | grep -q bin && echo ls-ok; sleep 0.1 & wait && echo bg-ok
          /kk-probe threads; /kk-probe-dyn threads; /usr/bin/env -i KK=dynamic /usr/bin/env
          for f in /proc/kcore /proc/keys /proc/timer_list; do [ -e \$f ] && { [ -c \$f ] && echo masked \$f || echo unmasked \$f; }; done
          awk '\$5 == \"/proc/sys\" {print \"proc-sys \" substr(\$6, 1, 2)}' /proc/self/mountinfo"
out=$(run apps)
t_eq busybox-pipeline 1 "$(printf '%s\n' "$out" | head -n 1)"
t_match busybox-ls '^ls-ok$' "$out"
t_match busybox-background '^bg-ok$' "$out"
t_eq threads-static 'threads: ok 8' "$(printf '%s\n' "$out" | grep -m1 '^threads:')"
t_eq threads-dynamic 'threads: ok 8' "$(printf '%s\n' "$out" | grep '^threads:' | sed -n 2p)"
t_match dynamic-host-program '^KK=dynamic$' "$out"
t_match masked-proc-files '^masked /proc/' "$out"
t_eq masked-proc-files-all "" "$(printf '%s\n' "$out" | grep unmasked)"
t_match readonly-proc-sys '^proc-sys ro$' "$out"

# The x86 ABI (int 0x80 from a 64-bit process) is not named by the default
# profile of an amd64 image: the first such syscall kills the process
# (SIGSYS, 159), so nothing walks around the allow-list through it.
if [ "$(uname -m)" = x86_64 ]; then
  cell int80 '      command: /kk-probe
      args: [int80]'
  out=$(run int80); rc=$?
  t_eq x86-abi-killed "159" "$rc"
  t_eq x86-abi-no-output "" "$(printf '%s\n' "$out" | grep int80)"
  cell int80u '      command: /kk-probe
      args: [int80]
      securityOpts: ["seccomp=unconfined"]'
  t_match x86-abi-unconfined '^int80 getpid: ok$' "$(run int80u)"
fi

# -------------------------------------------------------------- opt-outs
cell optout '      command: /kk-probe
      securityOpts: ["seccomp=unconfined", "no-new-privileges=false"]'
out=$(run optout)
# Whether a process without CAP_SYS_ADMIN may make a user namespace at all
# is the kernel's call (Debian's unprivileged_userns_clone, max_user_namespaces):
# where it may not, seccomp has nothing left to allow.
if setpriv --reuid=65534 --regid=65534 --clear-groups unshare -U true 2>/dev/null; then USERNS=ok; else USERNS=; fi
userns_eq() { # name expected actual
  if [ -n "$USERNS" ]; then t_eq "$@"; else echo "skip - $T_NAME/$1: this kernel refuses user namespaces without CAP_SYS_ADMIN"; fi
}
userns_eq unconfined-unshare-newuser 'unshare(CLONE_NEWUSER): ok' "$(line 'unshare(' "$out")"
t_eq unconfined-no-filter 'Seccomp: 0' "$(line 'Seccomp:' "$out")"
t_eq no-new-privileges-false 'NoNewPrivs: 0' "$(line 'NoNewPrivs:' "$out")"

# ------------------------------------------------- a docker-format profile
# Everything allowed but keyctl (ENOSYS); unshare EINVAL unless the
# container has CAP_SYS_ADMIN (it has not); bpf ENODEV only with
# CAP_SYS_ADMIN (so the kernel's own EPERM shows).
cat >"$T_TMP/custom.json" <<'EOF'
{
  "defaultAction": "SCMP_ACT_ALLOW",
  "archMap": [
    {"architecture": "SCMP_ARCH_X86_64", "subArchitectures": ["SCMP_ARCH_X86", "SCMP_ARCH_X32"]},
    {"architecture": "SCMP_ARCH_AARCH64", "subArchitectures": ["SCMP_ARCH_ARM"]}
  ],
  "syscalls": [
    {"names": ["keyctl"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38, "comment": "no keyrings"},
    {"names": ["unshare"], "action": "SCMP_ACT_ERRNO", "errnoRet": 22, "excludes": {"caps": ["CAP_SYS_ADMIN"]}},
    {"names": ["bpf"], "action": "SCMP_ACT_ERRNO", "errnoRet": 19, "includes": {"caps": ["CAP_SYS_ADMIN"]}}
  ]
}
EOF
cell custom "      command: /kk-probe
      securityOpts: [\"seccomp=$T_TMP/custom.json\"]"
out=$(run custom)
t_eq custom-keyctl 'keyctl(GET_KEYRING_ID): ENOSYS' "$(line 'keyctl(' "$out")"
t_eq custom-excludes-caps 'unshare(CLONE_NEWUSER): EINVAL' "$(line 'unshare(' "$out")"
t_eq custom-includes-caps 'bpf(MAP_CREATE): EPERM' "$(line 'bpf(' "$out")"
userns_eq custom-clone-allowed 'clone(CLONE_NEWUSER): ok' "$(line 'clone(CLONE_NEWUSER)' "$out")"
t_eq custom-no-new-privs 'NoNewPrivs: 1' "$(line 'NoNewPrivs:' "$out")"

# ---------------------------------------- bad profiles: refused at apply
bad() { # name, profile text (or - for no file), expected message regex
  local name=$1 body=$2 want=$3 before after out rc
  rm -f "$T_TMP/bad.json"
  [ "$body" = - ] || printf '%s\n' "$body" >"$T_TMP/bad.json"
  cell badcell "      command: /kk-probe
      securityOpts: [\"seccomp=$T_TMP/bad.json\"]"
  before=$(t_tree "$RP")
  out=$("$KUKE" apply -f "$T_TMP/badcell.yaml" 2>&1 >/dev/null); rc=$?
  after=$(t_tree "$RP")
  t_eq "bad-$name-exit" 1 "$rc"
  t_eq "bad-$name-one-line" 1 "$(printf '%s\n' "$out" | wc -l)"
  t_match "bad-$name-message" "$want" "$out"
  t_eq "bad-$name-nothing-written" "$before" "$after"
}
bad json '{"defaultAction": "SCMP_ACT_ERRNO",' "seccomp profile $T_TMP/bad.json: line [0-9]+ column [0-9]+"
bad action '{"defaultAction": "SCMP_ACT_NOPE"}' "bad.json: defaultAction: unknown action \"SCMP_ACT_NOPE\""
bad syscall '{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["read", "kk_no_such_call"], "action": "SCMP_ACT_ALLOW"}]}' \
  'bad.json: syscalls\[0\]\.names\[1\]: unknown syscall "kk_no_such_call"'
bad arch '{"defaultAction": "SCMP_ACT_ERRNO", "architectures": ["SCMP_ARCH_VAX"]}' \
  'bad.json: architectures\[0\]: unknown architecture "SCMP_ARCH_VAX"'
bad op '{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_SOMETIMES"}]}]}' \
  'bad.json: syscalls\[0\]\.args\[0\]: op must be one of'
bad field '{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW", "errnoret": 1}]}' \
  'bad.json: syscalls\[0\]\.errnoret: unknown field'
bad missing - "seccomp profile $T_TMP/bad.json: No such file or directory"
