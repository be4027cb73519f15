#!/usr/bin/env bash
# kukeond's log is logfmt: every line parses (quoted, escaped values), the
# fields come first as time, level, prog, msg, and at debug there is one
# line per API request (method, peer uid/pid, outcome, duration).
. "$(dirname "$0")/lib.sh"
RP="$T_TMP/run"
LOG="$T_TMP/kukeond.log"
export KUKEON_HOST="unix://$T_TMP/kukeond.sock"
unset KUKEON_RUN_PATH

t_start_daemon "$RP" --log-level debug --reconcile-interval 0; t_eq start 0 $?
t_ok version "$KUKE" version
t_ok init "$KUKE" init
t_ok get-realms "$KUKE" get realms
# A name with a quote, a space and an '=' comes back in the error field.
t_fail bad-name "$KUKE" get cell 'we "ird"=name'
# A request the daemon cannot decode.
python3 - "$T_TMP/kukeond.sock" <<'PY'
import socket, struct, sys
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); s.settimeout(5)
s.sendall(struct.pack(">I", 1) + b"\xff"); s.recv(4096)
PY
kill -TERM "$DPID"; wait "$DPID"; t_eq stop 0 $?

# The grammar: key=value pairs split by one space; a value is bare (no
# space, '=', '"', '\' or control byte) or quoted with \" \\ \n \r \t \uXXXX.
out=$(python3 - "$LOG" <<'PY'
import re, sys
key = r'[^\s="\x00-\x1f\x7f]+'
val = r'(?:[^\s="\\\x00-\x1f\x7f]+|"(?:[^"\\\x00-\x1f\x7f]|\\["\\nrt]|\\u[0-9a-f]{4})*")'
line = re.compile(r'^time=\S+ level=(debug|info|warn|error) prog=kukeond msg=%s(?: %s=%s)*$' % (val, key, val))
bad = [l for l in open(sys.argv[1], encoding="utf-8").read().splitlines() if not line.match(l)]
print("bad=%d" % len(bad))
for l in bad[:3]: print(l)
PY
)
t_eq every-line-logfmt "bad=0" "$out"
t_match serving-fields '^time=[^ ]+ level=info prog=kukeond msg="kukeond serving" version=[^ ]+ socket=[^ ]+ run_path=[^ ]+ pid=[0-9]+$' "$(cat "$LOG")"
t_match request-ok "msg=request method=list uid=0 pid=[0-9]+ outcome=ok duration_ms=[0-9]+\\.[0-9]{3}$" "$(cat "$LOG")"
t_match request-ping "msg=request method=ping uid=0 pid=[0-9]+ outcome=ok " "$(cat "$LOG")"
t_match request-error-escaped 'msg=request method=get uid=0 pid=[0-9]+ outcome=error kind=invalid error="cell name \\"we \\"ird\\"=name\\" is invalid' "$(cat "$LOG")"
t_match request-malformed 'msg=request method=malformed uid=0 pid=[0-9]+ outcome=error kind=invalid error="malformed request frame"' "$(cat "$LOG")"
t_match signal-field 'msg="shutting down" signal=SIGTERM$' "$(cat "$LOG")"
t_match stopped 'msg="kukeond stopped"$' "$(cat "$LOG")"
