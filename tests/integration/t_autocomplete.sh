#!/usr/bin/env bash
# kuke autocomplete: the engine (commands, kinds, flags, values, names from
# kukeond scoped by the typed flags, nothing when the daemon is down) and
# the three scripts driven the way their shells drive them.
. "$(dirname "$0")/lib.sh"
RP="$T_TMP/run"
words() { "$KUKE" autocomplete --words -- "$@"; }
# The engine's whole answer: status, stdout and stderr.
answer() { local out err rc; out=$(words "$@" 2>"$T_TMP/err"); rc=$?; printf '%s|%s|%s' "$rc" "$(printf '%s' "$out" | tr '\n' ' ')" "$(cat "$T_TMP/err")"; }

t_eq commands-prefix "0|start stop status|" "$(answer st)"
t_eq kinds "0|realm space stack cell container image|" "$(answer get "")"
t_eq kind-alias "0|cell container|" "$(answer g c)"
t_eq flags "0|--realm --run-path|" "$(answer get cell --r)"
t_eq output-values "0|yaml|" "$(answer get cell -o y)"
t_eq file-flag "2||" "$(answer apply -f "")"
t_eq file-flag-global "2||" "$(answer --configuration "")"
t_eq down-silent "0||" "$(answer get realm "")"
t_eq down-cell-silent "0||" "$(answer start "")"
out=$("$KUKE" autocomplete tcsh 2>&1); rc=$?
t_eq bad-shell "1 Error: autocomplete takes one shell: bash, zsh or fish" "$rc $out"

t_start_daemon "$RP"; t_eq daemon 0 $?
KUKEON_RUN_PATH="$RP" "$KUKE" init >/dev/null
t_load_busybox "$RP"; t_eq busybox 0 $?
"$KUKE" create realm blue >/dev/null
"$KUKE" create space s1 --realm blue >/dev/null
"$KUKE" create stack t1 --realm blue --space s1 >/dev/null
"$KUKE" create cell c1 --realm blue --space s1 --stack t1 --image busybox >/dev/null
"$KUKE" create cell web --image busybox >/dev/null
"$KUKE" create cell worker --image busybox >/dev/null

t_eq realms "0|blue default kuke-system|" "$(answer get realm "")"
t_eq realm-flag "0|blue|" "$(answer get space --realm b)"
t_eq spaces-scoped "0|s1|" "$(answer get space --realm blue "")"
t_eq space-flag-scoped "0|s1|" "$(answer get cell --realm=blue --space "")"
t_eq flag-equals "0|--realm=blue|" "$(answer get space --realm=b)"
t_eq flag-equals-bool "0||" "$(answer get space --no-headers=t)"
t_eq cells-default "0|web worker|" "$(answer get cell "")"
t_eq cells-scoped "0|c1|" "$(answer delete cell --realm blue --space s1 --stack t1 "")"
t_eq cells-flags-first "0|c1|" "$(answer --realm blue --space s1 --stack t1 start "")"
t_eq cell-verb "0|worker|" "$(answer start wo)"
t_eq cell-word "0|web worker|" "$(answer log cell "")"
t_eq one-name-only "0||" "$(answer start web "")"
t_eq containers "0|root main|" "$(answer get container --cell web "")"
t_eq create-no-names "0||" "$(answer create realm "")"
t_eq host-flag "0||" "$(answer --host unix://$T_TMP/nope.sock get realm "")"
# A daemon that accepts and never answers costs the Tab a second, no more.
python3 -c 'import socket, sys, time
s = socket.socket(socket.AF_UNIX); s.bind(sys.argv[1]); s.listen(8); time.sleep(60)' "$T_TMP/mute.sock" &
MUTE=$!
t_cleanup_add "kill $MUTE"
for _ in $(seq 50); do [ -S "$T_TMP/mute.sock" ] && break; sleep 0.05; done
t0=$(date +%s%N)
got=$(answer --host "unix://$T_TMP/mute.sock" get realm "")
ms=$((($(date +%s%N) - t0) / 1000000))
t_eq mute-daemon-silent "0||" "$got"
t_eq mute-daemon-bounded "yes" "$([ "$ms" -lt 2500 ] && echo yes || echo "no: $ms ms")"

# The scripts, as each shell calls them.
export PATH="$BUILD:$PATH"
# bash's _kuke on LINE (the cursor at its end) with COMP_WORDS as bash
# splits it (at "=" too): COMPREPLY.
bash_complete() {
  bash -c 'source <(kuke autocomplete bash); COMP_LINE=$1; COMP_POINT=${#1}; shift
    COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); _kuke; echo "${COMPREPLY[*]}"' _ "$@"
}
t_eq bash-names "blue default kuke-system" "$(bash_complete "kuke get realm " kuke get realm "")"
t_eq bash-command "get" "$(bash_complete "kuke ge" kuke ge)"
t_eq bash-flag-value "blue" "$(bash_complete "kuke get space --realm=b" kuke get space --realm = b)"
t_eq bash-flag-value-empty "=blue =default =kuke-system" "$(bash_complete "kuke get space --realm=" kuke get space --realm =)"
mkdir "$T_TMP/files" && touch "$T_TMP/files/app.yaml"
t_eq bash-files "app.yaml" "$(cd "$T_TMP/files" && bash_complete "kuke apply -f a" kuke apply -f a)"
if command -v zsh >/dev/null; then
  t_ok zsh-syntax zsh -n <("$KUKE" autocomplete zsh)
  # compadd stands in for zsh's completion system: it prints what it is given.
  got=$(zsh -fc 'compdef() { :; }; compadd() { shift; print -l -- "$@"; }
    source <(kuke autocomplete zsh); words=(kuke get cell --realm blue --space s1 --stack t1 ""); CURRENT=10; _kuke')
  t_eq zsh-names "c1" "$got"
  got=$(zsh -fc 'compdef() { :; }; compadd() { shift; print -l -- "$@"; }
    source <(kuke autocomplete zsh); words=(kuke get space --realm=b); CURRENT=4; _kuke')
  t_eq zsh-flag-value "--realm=blue" "$got"
else
  echo "skip - $T_NAME/zsh: zsh not installed (scripts/install-deps)"
fi
if command -v fish >/dev/null; then
  got=$(fish --no-config -c 'kuke autocomplete fish | source; complete -C "kuke get realm "' | sort | tr '\n' ' ')
  t_eq fish-names "blue default kuke-system " "$got"
  got=$(fish --no-config -c 'kuke autocomplete fish | source; complete -C "kuke get cell --realm blue --space s1 --stack t1 "')
  t_eq fish-scoped "c1" "$got"
  got=$(fish --no-config -c 'kuke autocomplete fish | source; complete -C "kuke get space --realm=b"')
  t_eq fish-flag-value "--realm=blue" "$got"
  got=$(cd "$T_TMP/files" && fish --no-config -c 'kuke autocomplete fish | source; complete -C "kuke apply -f a"')
  t_eq fish-files "app.yaml" "$got"
else
  echo "skip - $T_NAME/fish: fish not installed (scripts/install-deps)"
fi

kill "$DPID"; wait "$DPID" 2>/dev/null
t_eq bash-daemon-down "" "$(bash_complete "kuke get realm " kuke get realm "" 2>&1)"
