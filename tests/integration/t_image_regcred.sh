#!/usr/bin/env bash
# Realm-scoped pulls against real registries (Debian's docker-registry on
# 127.0.0.1): spec.registryCredentials matched by host (basic auth and
# bearer tokens), an empty serverAddress matching any registry, a mismatched
# one not used; spec.insecureRegistries allowing plain HTTP; `kuke create
# registry-credential` in-process and through kukeond (upsert, unchanged,
# errors that change nothing); `kuke image load --from-docker`.  Everything
# started here is stopped by pid at the end.
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"

t_require docker-registry skopeo umoci openssl python3 curl

RUN="$T_TMP/run"
k() { "$KUKE" --run-path "$RUN" "$@"; }
lines() { printf '%s\n' "$1" | grep -c .; }

# ---------------------------------------------------------------- fixture
L="$T_TMP/layout"
W="$T_TMP/fx"
{
  umoci init --layout "$L" && umoci new --image "$L:small" && umoci unpack --image "$L:small" "$W" &&
    mkdir -p "$W/rootfs/bin" && cp /bin/busybox "$W/rootfs/bin/busybox" && ln -s busybox "$W/rootfs/bin/sh" &&
    umoci repack --image "$L:small" "$W" && umoci config --image "$L:small" --config.cmd /bin/sh
} >/dev/null 2>&1 || { echo "not ok - $T_NAME/fixture"; exit 0; }
rm -rf "$W"

# ---------------------------------------------------------------- servers
P_PLAIN=$(t_free_port); P_BASIC=$(t_free_port); P_TOKEN=$(t_free_port); P_TOKSRV=$(t_free_port)
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=kk-token-issuer \
  -keyout "$T_TMP/tok.key" -out "$T_TMP/tok.crt" >/dev/null 2>&1
python3 -c 'import crypt; print("kuke:" + crypt.crypt("s3cret", crypt.mksalt(crypt.METHOD_BLOWFISH)).replace("$2b$","$2a$",1))' \
  >"$T_TMP/htpasswd" 2>/dev/null
t_start_registry plain "$P_PLAIN"
t_start_registry basic "$P_BASIC" "auth:
  htpasswd:
    realm: kukeon-test
    path: $T_TMP/htpasswd"
t_start_registry token "$P_TOKEN" "auth:
  token:
    realm: http://127.0.0.1:$P_TOKSRV/token
    service: kk-registry
    issuer: kk-issuer
    rootcertbundle: $T_TMP/tok.crt"
# Token server: user kuke (s3cret) may pull anything; anonymous nothing.
cat >"$T_TMP/tokend.py" <<'EOF'
import base64, json, os, subprocess, sys, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlparse, parse_qs
port, key, crt, logf = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
der = subprocess.run(["openssl", "x509", "-in", crt, "-outform", "DER"], capture_output=True, check=True).stdout
x5c = base64.b64encode(der).decode()
def b64u(b): return base64.urlsafe_b64encode(b).rstrip(b"=").decode()
class H(BaseHTTPRequestHandler):
    def log_message(self, *a): pass
    def do_GET(self):
        q = parse_qs(urlparse(self.path).query)
        auth = self.headers.get("Authorization"); authed = False; user = "-"
        if auth:
            user = base64.b64decode(auth[6:]).decode().split(":")[0] if auth.startswith("Basic ") else "?"
            if not (auth.startswith("Basic ") and base64.b64decode(auth[6:]).decode() == "kuke:s3cret"):
                self.send_response(401); self.send_header("Content-Length", "0"); self.end_headers(); return
            authed = True
        access = []
        for scope in q.get("scope", []):
            typ, name, acts = scope.split(":")
            access.append({"type": typ, "name": name, "actions": acts.split(",") if authed else []})
        now = int(time.time())
        claims = {"iss": "kk-issuer", "sub": "kuke" if authed else "", "aud": q.get("service", [""])[0],
                  "exp": now + 300, "nbf": now - 10, "iat": now, "jti": os.urandom(8).hex(), "access": access}
        si = b64u(json.dumps({"typ": "JWT", "alg": "RS256", "x5c": [x5c]}).encode()) + "." + b64u(json.dumps(claims).encode())
        sig = subprocess.run(["openssl", "dgst", "-sha256", "-sign", key], input=si.encode(), capture_output=True, check=True).stdout
        body = json.dumps({"token": si + "." + b64u(sig), "expires_in": 300}).encode()
        with open(logf, "a") as f: f.write("token user=%s authed=%s\n" % (user, authed))
        self.send_response(200); self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body))); self.end_headers(); self.wfile.write(body)
ThreadingHTTPServer(("127.0.0.1", port), H).serve_forever()
EOF
python3 "$T_TMP/tokend.py" "$P_TOKSRV" "$T_TMP/tok.key" "$T_TMP/tok.crt" "$T_TMP/tokend.log" >"$T_TMP/tokend.out" 2>&1 &
t_cleanup_add "kill $!"
t_wait_http "http://127.0.0.1:$P_PLAIN/v2/" && t_wait_http "http://127.0.0.1:$P_BASIC/v2/" &&
  t_wait_http "http://127.0.0.1:$P_TOKEN/v2/" && t_wait_http "http://127.0.0.1:$P_TOKSRV/token" ||
  { echo "not ok - $T_NAME/servers: did not come up"; exit 0; }

push() { skopeo copy -q --dest-tls-verify=false "$@" >/dev/null 2>&1; }
PL=127.0.0.1:$P_PLAIN; BA=127.0.0.1:$P_BASIC; TK=127.0.0.1:$P_TOKEN
t_ok push sh -c "$(declare -f push); push oci:$L:small docker://$PL/fx/small:1 &&
  push --dest-creds kuke:s3cret oci:$L:small docker://$BA/fx/small:1 &&
  push --dest-creds kuke:s3cret oci:$L:small docker://$TK/private/small:1"

realm_yaml() { # name insecure-list
  printf 'apiVersion: v1beta1\nkind: Realm\nmetadata:\n  name: %s\nspec:\n  insecureRegistries: [%s]\n' "$1" "$2"
}
regcred() { # realm user password [flags...]
  local r=$1 u=$2 p=$3; shift 3
  printf '%s\n' "$p" | k create registry-credential "$r" --username "$u" --password-stdin "$@"
}
pulled() { printf 'pulled image "%s" ' "$1"; }

# ---------------------------------------------------------------- insecure registries
t_match apply-realms 'Realm "priv": created' \
  "$( { realm_yaml priv "\"$PL\", \"$BA\", \"$TK\""; echo ---; realm_yaml anyreg "\"$BA\", \"$TK\"";
        echo ---; realm_yaml mism "\"$BA\", \"$TK\""; echo ---; realm_yaml hostonly '"127.0.0.1"';
        printf -- '---\napiVersion: v1beta1\nkind: Realm\nmetadata: {name: secure}\n'; } | k apply -f - 2>&1)"
out=$(k image pull --realm secure "$PL/fx/small:1" 2>&1); rc=$?
t_eq plain-refused-rc 1 "$rc"
t_eq plain-refused-one-line 1 "$(lines "$out")"
t_match plain-refused 'Error: pull 127\.0\.0\.1:[0-9]+/fx/small:1: .*use --insecure' "$out"
t_eq plain-refused-nothing-stored 'No images found.' "$(k image list --realm secure 2>&1)"
t_match plain-listed-pulls "$(pulled "$PL/fx/small:1")" "$(k image pull --realm priv "$PL/fx/small:1" 2>&1)"
t_match plain-host-without-port "$(pulled "$PL/fx/small:1")" "$(k image pull --realm hostonly "$PL/fx/small:1" 2>&1)"
t_match plain-explicit-insecure "$(pulled "$PL/fx/small:1")" "$(k image pull --realm secure --insecure "$PL/fx/small:1" 2>&1)"
# An entry that is not host[:port] is refused (by apply's validation or, at the latest, by the pull).
t_match bad-insecure-entry-refused 'spec\.insecureRegistries.*"http://x/y"' \
  "$(realm_yaml badins '"http://x/y"' | k apply -f - 2>&1; k image pull --realm badins "$PL/fx/small:1" 2>&1)"

# ---------------------------------------------------------------- credentials: basic auth
out=$(k image pull --realm priv "$BA/fx/small:1" 2>&1); rc=$?
t_eq basic-no-creds-rc 1 "$rc"
t_eq basic-no-creds-one-line 1 "$(lines "$out")"
t_match basic-no-creds "Error: pull $BA/fx/small:1: registry $BA requires a login: no credentials for it" "$out"
t_match regcred-created "^Registry credential for $BA \\(user \"kuke\"\\) applied to realm \"priv\": updated\$" \
  "$(regcred priv kuke wrong --server "$BA" 2>&1)"
out=$(k image pull --realm priv "$BA/fx/small:1" 2>&1); rc=$?
t_eq basic-wrong-password-rc 1 "$rc"
t_eq basic-wrong-password-one-line 1 "$(lines "$out")"
t_match basic-wrong-password "Error: pull $BA/fx/small:1: .*access denied by $BA \\(HTTP 401\\)" "$out"
t_match regcred-updated "^Registry credential for $BA \\(user \"kuke\"\\) applied to realm \"priv\": updated\$" \
  "$(regcred priv kuke s3cret --server "$BA" 2>&1)"
t_match regcred-unchanged "^Registry credential for $BA \\(user \"kuke\"\\) applied to realm \"priv\": unchanged\$" \
  "$(regcred priv kuke s3cret --server "$BA" 2>&1)"
t_match regcred-alias-registry-cred 'applied to realm "priv": unchanged' "$(printf 's3cret' | k create registry-cred priv --username kuke --password-stdin --server "$BA" 2>&1)"
y=$(k get realm priv -o yaml)
t_eq regcred-upsert-one-entry 1 "$(grep -c "serverAddress: \"\\?$BA\"\\?" <<<"$y")"
t_match regcred-keeps-insecure "insecureRegistries:" "$y"
t_match basic-realm-creds "$(pulled "$BA/fx/small:1")" "$(k image pull --realm priv "$BA/fx/small:1" 2>&1)"
# Command-line credentials win over the realm's.
t_match basic-cli-creds-win 'access denied' "$(echo nope | k image pull --realm priv -u kuke --password-stdin "$BA/fx/small:1" 2>&1)"

# ---------------------------------------------------------------- credentials: bearer tokens
out=$(k image pull --realm priv "$TK/private/small:1" 2>&1)
t_match token-anonymous-denied "Error: pull $TK/private/small:1: .*access denied" "$out"
t_ok regcred-token regcred priv kuke s3cret --server "$TK"
t_match token-realm-creds "$(pulled "$TK/private/small:1")" "$(k image pull --realm priv "$TK/private/small:1" 2>&1)"
t_match token-server-saw-user 'token user=kuke authed=True' "$(cat "$T_TMP/tokend.log")"

# ---------------------------------------------------------------- matching by host
# A credential for another registry is not sent.
t_ok mism-regcred regcred mism kuke s3cret --server "$TK"
t_match mism-not-used "registry $BA requires a login: no credentials for it" "$(k image pull --realm mism "$BA/fx/small:1" 2>&1)"
t_match mism-used-for-its-host "$(pulled "$TK/private/small:1")" "$(k image pull --realm mism "$TK/private/small:1" 2>&1)"
# An empty serverAddress matches the registry of whatever is pulled (--from-file this time).
printf 's3cret\n' >"$T_TMP/pw"
t_match empty-server-created '^Registry credential for \(default: image reference\) \(user "kuke"\) applied to realm "anyreg": updated$' \
  "$(k create regcred anyreg --username kuke --from-file "$T_TMP/pw" 2>&1)"
t_match empty-server-basic "$(pulled "$BA/fx/small:1")" "$(k image pull --realm anyreg "$BA/fx/small:1" 2>&1)"
t_match empty-server-token "$(pulled "$TK/private/small:1")" "$(k image pull --realm anyreg "$TK/private/small:1" 2>&1)"
# An exact serverAddress wins over the empty one.
t_ok exact-wins-setup regcred mism nobody wrong
t_match exact-wins "$(pulled "$TK/private/small:1")" "$(k image pull --realm mism "$TK/private/small:1" 2>&1)"
t_match empty-fallback-used 'access denied' "$(k image pull --realm mism "$BA/fx/small:1" 2>&1)"

# ---------------------------------------------------------------- create registry-credential: errors
before=$(t_tree "$RUN/priv")
err1() { # name regex cmd...
  local n=$1 re=$2; shift 2
  local o rc
  o=$("$@" 2>&1); rc=$?
  t_eq "$n-rc" 1 "$rc"
  t_eq "$n-one-line" 1 "$(lines "$o")"
  t_match "$n" "$re" "$o"
}
err1 err-unknown-realm '^Error: realm "nope" not found$' regcred nope kuke s3cret --server "$BA"
err1 err-both-sources '^Error: only one of --password-stdin or --from-file may be specified$' \
  regcred priv kuke s3cret --from-file "$T_TMP/pw"
err1 err-no-source '^Error: exactly one of --password-stdin or --from-file is required$' \
  k create regcred priv --username kuke
err1 err-empty-password '^Error: registry password is empty \(--password-stdin\)$' regcred priv kuke ''
: >"$T_TMP/empty"
err1 err-empty-file '^Error: registry password is empty \(--from-file\)$' \
  k create regcred priv --username kuke --from-file "$T_TMP/empty"
err1 err-missing-file '^Error: read --from-file "/nonexistent/pw": ' \
  k create regcred priv --username kuke --from-file /nonexistent/pw
err1 err-no-username '^Error: --username is required$' regcred priv '' s3cret
err1 err-no-realm '^Error: realm name is required' k create regcred --username kuke --password-stdin
t_eq err-nothing-changed "$before" "$(t_tree "$RUN/priv")"
t_match help-regcred 'create registry-credential REALM --username U' "$(k create registry-credential --help)"
t_match help-create-mentions 'registry-credential' "$(k create --help)"

# ---------------------------------------------------------------- through kukeond
SOCK="$T_TMP/kukeond.sock"
"$KUKEOND" serve --socket "$SOCK" --run-path "$RUN" --cgroup-root "$KUKEON_CGROUP_ROOT" >"$T_TMP/kukeond.log" 2>&1 &
DPID=$!
t_cleanup_add "kill $DPID"
for _ in $(seq 100); do [ -S "$SOCK" ] && break; sleep 0.05; done
t_match daemon-regcred "^Registry credential for $PL \\(user \"u1\"\\) applied to realm \"secure\": updated\$" \
  "$(echo pw1 | KUKEON_HOST="unix://$SOCK" "$KUKE" create regcred secure --username u1 --password-stdin --server "$PL" 2>&1)"
t_match daemon-regcred-unchanged 'applied to realm "secure": unchanged' \
  "$(echo pw1 | KUKEON_HOST="unix://$SOCK" "$KUKE" create regcred secure --username u1 --password-stdin --server "$PL" 2>&1)"
t_match daemon-regcred-stored "username: u1" "$(k get realm secure -o yaml)"
kill "$DPID" 2>/dev/null; wait "$DPID" 2>/dev/null

# ---------------------------------------------------------------- image load --from-docker
NODOCKER="$T_TMP/nodocker"
mkdir -p "$NODOCKER"
out=$(PATH="$NODOCKER" "$KUKE" --run-path "$RUN" image load --from-docker busybox 2>&1); rc=$?
t_eq from-docker-missing-rc 1 "$rc"
t_eq from-docker-missing 'Error: --from-docker needs the docker CLI and a running engine; use `docker save busybox | kuke image load -`' "$out"
# A docker CLI without an engine (what a kukeon host with docker-cli has).
FAKE="$T_TMP/fakedocker"
mkdir -p "$FAKE"
printf '#!/bin/sh\necho "$@" >>%s/docker.args\necho "Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?" >&2\nexit 1\n' \
  "$T_TMP" >"$FAKE/docker"
chmod +x "$FAKE/docker"
out=$(PATH="$FAKE:$PATH" "$KUKE" --run-path "$RUN" image load --from-docker busybox 2>&1); rc=$?
t_eq from-docker-no-engine-rc 1 "$rc"
t_eq from-docker-no-engine 'Error: docker save busybox failed (exit 1): Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?; --from-docker needs the docker CLI and a running engine; use `docker save busybox | kuke image load -`' "$out"
t_eq from-docker-args 'save busybox' "$(cat "$T_TMP/docker.args")"
# A working one: `docker save` output (a docker-archive) is piped into the loader.
skopeo copy -q "oci:$L:small" "docker-archive:$T_TMP/saved.tar:fx/fromdocker:1" >/dev/null 2>&1
printf '#!/bin/sh\n[ "$1" = save ] && [ "$2" = fx/fromdocker:1 ] || exit 3\nexec cat %s\n' "$T_TMP/saved.tar" >"$FAKE/docker"
out=$(PATH="$FAKE:$PATH" "$KUKE" --run-path "$RUN" image load --from-docker fx/fromdocker:1 --realm priv 2>&1)
t_eq from-docker-loads "loaded 1 image(s) into realm \"priv\" (namespace \"priv.kukeon.io\"):
  - docker.io/fx/fromdocker:1" "$out"
t_match from-docker-listed '^docker.io/fx/fromdocker:1 +priv ' "$(k image list --realm priv)"
printf '#!/bin/sh\nprintf "not a tar archive at all"\n' >"$FAKE/docker"
t_match from-docker-garbage '^Error: load images: ' "$(PATH="$FAKE:$PATH" "$KUKE" --run-path "$RUN" image load --from-docker x 2>&1)"
t_match from-docker-and-archive '^Error: --from-docker and an archive \(x.tar\) are mutually exclusive$' \
  "$(k image load --from-docker busybox x.tar 2>&1)"
t_match from-docker-and-input '^Error: --from-docker and an archive \(-\) are mutually exclusive$' \
  "$(k image load --from-docker busybox -i - 2>&1)"
t_match help-from-docker 'from-docker' "$(k image load --help)"
