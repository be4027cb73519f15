#!/usr/bin/env bash
# kuke image pull against real registries (Debian's docker-registry) on
# 127.0.0.1: plain HTTP, TLS with a self-signed certificate, htpasswd basic
# auth, bearer tokens from a small token server, and a fault-injecting proxy
# (5xx, connection resets, stalls, corrupted bytes).  Fixtures come from
# umoci + skopeo (t_image_fixtures.sh).  Everything started here is stopped
# by pid at the end.
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
KK_FX_LIB=1 . "$here/t_image_fixtures.sh"

t_require docker-registry skopeo umoci openssl python3 curl

RUN="$T_TMP/run"
if "$KUKE" image --help >/dev/null 2>&1; then KI=("$KUKE" image); else KI=("$BUILD/tests/helpers/kk-image"); fi
ki() { "${KI[@]}" --run-path "$RUN" "$@"; }
TOOL="$BUILD/tests/helpers/kk-image-tool"


L="$T_TMP/layout"
fx_build "$L" || { echo "not ok - $T_NAME/fixtures"; exit 0; }

# ---------------------------------------------------------------- servers
P_PLAIN=$(t_free_port); P_TLS=$(t_free_port); P_BASIC=$(t_free_port); P_TOKEN=$(t_free_port); P_TOKSRV=$(t_free_port); P_PROXY=$(t_free_port)
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=127.0.0.1 -addext "subjectAltName=IP:127.0.0.1" \
  -keyout "$T_TMP/tls.key" -out "$T_TMP/tls.crt" >/dev/null 2>&1
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=kk-token-issuer \
  -keyout "$T_TMP/tok.key" -out "$T_TMP/tok.crt" >/dev/null 2>&1
python3 -c 'import crypt,sys; print("kuke:" + crypt.crypt("s3cret", crypt.mksalt(crypt.METHOD_BLOWFISH)).replace("$2b$","$2a$",1))' \
  >"$T_TMP/htpasswd" 2>/dev/null

t_start_registry plain "$P_PLAIN"
t_start_registry tls "$P_TLS" "  tls:
    certificate: $T_TMP/tls.crt
    key: $T_TMP/tls.key"
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

# Token server: anonymous callers may pull public/*, user kuke (s3cret) anything.
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
        u = urlparse(self.path); q = parse_qs(u.query)
        auth = self.headers.get("Authorization"); authed = False
        if auth:
            ok = auth.startswith("Basic ") and base64.b64decode(auth[6:]).decode() == "kuke:s3cret"
            if not ok:
                self.send_response(401); self.send_header("Content-Length", "0"); self.end_headers(); return
            authed = True
        access = []
        for scope in q.get("scope", []):
            typ, name, acts = scope.split(":")
            acts = acts.split(",")
            grant = acts if authed else ([a for a in acts if a == "pull"] if name.startswith("public/") else [])
            access.append({"type": typ, "name": name, "actions": grant})
        now = int(time.time())
        claims = {"iss": "kk-issuer", "sub": "kuke" if authed else "", "aud": q.get("service", [""])[0],
                  "exp": now + 300, "nbf": now - 10, "iat": now, "jti": os.urandom(8).hex(), "access": access}
        si = b64u(json.dumps({"typ": "JWT", "alg": "RS256", "x5c": [x5c]}).encode()) + "." + b64u(json.dumps(claims).encode())
        sig = subprocess.run(["openssl", "dgst", "-sha256", "-sign", key], input=si.encode(), capture_output=True, check=True).stdout
        tok = si + "." + b64u(sig)
        body = json.dumps({"token": tok, "expires_in": 300}).encode()
        with open(logf, "a") as f: f.write("token authed=%s scope=%s\n" % (authed, q.get("scope", [""])[0]))
        self.send_response(200); self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body))); self.end_headers(); self.wfile.write(body)
ThreadingHTTPServer(("127.0.0.1", port), H).serve_forever()
EOF
python3 "$T_TMP/tokend.py" "$P_TOKSRV" "$T_TMP/tok.key" "$T_TMP/tok.crt" "$T_TMP/tokend.log" >"$T_TMP/tokend.out" 2>&1 &
t_cleanup_add "kill $!"

# Fault-injecting proxy in front of the plain registry.  The mode file says
# what to do with blob GETs: pass, flaky (500, then half a body and a reset,
# then pass), corrupt (one byte flipped), stall (half a body, then silence).
cat >"$T_TMP/proxy.py" <<'EOF'
import http.client, sys, time, threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
port, up, modef, logf = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
seen = {}; lock = threading.Lock()
class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *a): pass
    def do_GET(self):
        mode = open(modef).read().strip()
        rng = self.headers.get("Range")
        blob = "/blobs/" in self.path
        with lock:
            n = seen.get(self.path, 0); seen[self.path] = n + 1
            with open(logf, "a") as f: f.write("%s %s range=%s mode=%s n=%d\n" % (self.command, self.path, rng or "-", mode, n))
        if blob and mode == "flaky" and n == 0:
            self.send_response(500); self.send_header("Content-Length", "0"); self.end_headers(); return
        c = http.client.HTTPConnection("127.0.0.1", up)
        hdrs = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")}
        c.request("GET", self.path, headers=hdrs)
        r = c.getresponse()
        body = r.read()
        self.send_response(r.status)
        for k, v in r.getheaders():
            if k.lower() not in ("connection", "transfer-encoding", "content-length"):
                self.send_header(k, v)
        if blob and r.status in (200, 206) and mode == "corrupt" and body:
            body = bytes([body[0] ^ 1]) + body[1:]
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        if blob and r.status in (200, 206) and len(body) > 1024 and ((mode == "flaky" and n == 1) or mode == "stall"):
            self.wfile.write(body[: len(body) // 2]); self.wfile.flush()
            if mode == "stall":
                time.sleep(120)
            self.close_connection = True
            return
        self.wfile.write(body)
    do_HEAD = do_GET
ThreadingHTTPServer(("127.0.0.1", port), H).serve_forever()
EOF
echo pass >"$T_TMP/proxy.mode"
python3 "$T_TMP/proxy.py" "$P_PROXY" "$P_PLAIN" "$T_TMP/proxy.mode" "$T_TMP/proxy.log" >"$T_TMP/proxy.out" 2>&1 &
t_cleanup_add "kill $!"

t_wait_http "http://127.0.0.1:$P_PLAIN/v2/" && t_wait_http "https://127.0.0.1:$P_TLS/v2/" &&
  t_wait_http "http://127.0.0.1:$P_BASIC/v2/" && t_wait_http "http://127.0.0.1:$P_TOKEN/v2/" &&
  t_wait_http "http://127.0.0.1:$P_TOKSRV/token" && t_wait_http "http://127.0.0.1:$P_PROXY/v2/" ||
  { echo "not ok - $T_NAME/servers: did not come up"; exit 0; }

push() { skopeo copy -q --all --dest-tls-verify=false "$@" >/dev/null 2>&1; }
t_ok push-plain sh -c "$(declare -f push); push oci:$L:multi docker://127.0.0.1:$P_PLAIN/fx/multi:1 &&
  push oci:$L:multiarch docker://127.0.0.1:$P_PLAIN/fx/multiarch:1 && push oci:$L:small docker://127.0.0.1:$P_PLAIN/fx/small:1"
t_ok push-tls sh -c "$(declare -f push); push oci:$L:small docker://127.0.0.1:$P_TLS/fx/small:1"
t_ok push-basic sh -c "$(declare -f push); push --dest-creds kuke:s3cret oci:$L:small docker://127.0.0.1:$P_BASIC/fx/small:1"
t_ok push-token sh -c "$(declare -f push); push --dest-creds kuke:s3cret oci:$L:small docker://127.0.0.1:$P_TOKEN/public/small:1 &&
  push --dest-creds kuke:s3cret oci:$L:small docker://127.0.0.1:$P_TOKEN/private/small:1"

# ---------------------------------------------------------------- plain
R=127.0.0.1:$P_PLAIN
out=$(ki pull "$R/fx/multi:1" 2>&1)
t_match plain-needs-insecure 'use --insecure' "$out"
out=$(ki pull --insecure "$R/fx/multi:1" 2>&1)
t_match plain-pull "pulled image \"$R/fx/multi:1\" \\(sha256:[0-9a-f]{64}\\) into realm \"default\" \\(namespace \"default.kukeon.io\"\\)" "$out"
t_match plain-listed "^$R/fx/multi:1 +default " "$(ki list)"
t_ok plain-skopeo-reads-store skopeo inspect "oci:$RUN/images/default.kukeon.io:$R/fx/multi:1"
t_eq plain-config 'entrypoint /bin/sh' "$("$TOOL" --run-path "$RUN" config "$R/fx/multi:1" | grep ^entrypoint)"
t_ok plain-prepare "$TOOL" --run-path "$RUN" prepare "$R/fx/multi:1"
# Again: nothing is fetched twice (blobs are there).
: >"$T_TMP/proxy.log"
t_ok plain-repull ki pull --insecure "$R/fx/multi:1"
# By digest; a wrong digest is refused.
dg=$(skopeo inspect --tls-verify=false "docker://$R/fx/multi:1" | python3 -c 'import json,sys; print(json.load(sys.stdin)["Digest"])')
t_match by-digest "pulled image \"$R/fx/multi@$dg\"" "$(ki pull --insecure "$R/fx/multi@$dg" 2>&1)"
t_match wrong-digest 'not found|hashes to' "$(ki pull --insecure "$R/fx/multi@sha256:$(printf '0%.0s' $(seq 1 64))" 2>&1)"
t_match missing-repo 'manifest: not found in' "$(ki pull --insecure "$R/fx/nothing:1" 2>&1)"

# ---------------------------------------------------------------- index
t_match index-host "pulled image \"$R/fx/multiarch:1\"" "$(ki pull --insecure "$R/fx/multiarch:1" 2>&1)"
t_match index-host-platform 'platform linux/amd64' "$("$TOOL" --run-path "$RUN" config "$R/fx/multiarch:1")"
t_ok index-arm64 ki pull --insecure --platform linux/arm64 --realm arm "$R/fx/multiarch:1"
t_match index-arm64-platform 'platform linux/arm64/v8' "$("$TOOL" --run-path "$RUN" --ns arm.kukeon.io config "$R/fx/multiarch:1")"
t_match index-no-platform 'no manifest for linux/s390x \(available: linux/arm64/v8, linux/amd64\)' \
  "$(ki pull --insecure --platform linux/s390x "$R/fx/multiarch:1" 2>&1)"
t_match index-digest-is-index "$(skopeo inspect --raw --tls-verify=false "docker://$R/fx/multiarch:1" | sha256sum | cut -c1-64)" \
  "$(ki list -o wide | grep multiarch | head -1)"

# ---------------------------------------------------------------- TLS
T=127.0.0.1:$P_TLS
t_match tls-verify-fails 'SSL|certificate' "$(ki pull "$T/fx/small:1" 2>&1)"
t_match tls-insecure "pulled image \"$T/fx/small:1\"" "$(ki pull --insecure "$T/fx/small:1" 2>&1)"

# ---------------------------------------------------------------- basic auth
B=127.0.0.1:$P_BASIC
t_match basic-no-creds 'requires a login' "$(ki pull --insecure "$B/fx/small:1" 2>&1)"
t_match basic-bad-creds 'access denied|authentication' "$(echo wrong | ki pull --insecure -u kuke --password-stdin "$B/fx/small:1" 2>&1)"
t_match basic-ok "pulled image \"$B/fx/small:1\"" "$(echo s3cret | ki pull --insecure -u kuke --password-stdin "$B/fx/small:1" 2>&1)"

# ---------------------------------------------------------------- bearer tokens
K=127.0.0.1:$P_TOKEN
t_match token-anonymous "pulled image \"$K/public/small:1\"" "$(ki pull --insecure "$K/public/small:1" 2>&1)"
t_match token-anonymous-private 'access denied' "$(ki pull --insecure "$K/private/small:1" 2>&1)"
t_match token-bad-creds 'authentication failed' "$(echo nope | ki pull --insecure -u kuke --password-stdin "$K/private/small:1" 2>&1)"
t_match token-creds "pulled image \"$K/private/small:1\"" "$(echo s3cret | ki pull --insecure -u kuke --password-stdin --realm auth "$K/private/small:1" 2>&1)"
t_match token-server-saw-scope 'authed=True scope=repository:private/small:pull' "$(cat "$T_TMP/tokend.log")"

# ---------------------------------------------------------------- faults
X=127.0.0.1:$P_PROXY
fresh() { rm -rf "$RUN"; }
fresh
echo flaky >"$T_TMP/proxy.mode"
: >"$T_TMP/proxy.log"
t_match flaky-pull-succeeds "pulled image \"$X/fx/multi:1\"" "$(ki pull --insecure "$X/fx/multi:1" 2>&1)"
t_match flaky-saw-range 'blobs/sha256:[0-9a-f]+ range=bytes=[0-9]+- mode=flaky n=2' "$(cat "$T_TMP/proxy.log")"
t_ok flaky-content-verified "$TOOL" --run-path "$RUN" prepare "$X/fx/multi:1"

fresh
echo corrupt >"$T_TMP/proxy.mode"
out=$(ki pull --insecure "$X/fx/small:1" 2>&1)
t_match corrupt-refused 'digest mismatch' "$out"
t_eq corrupt-not-listed 'No images found.' "$(ki list)"
t_eq corrupt-no-layer-blob 0 "$(find "$RUN/images/blobs/sha256" -type f -size +100k | wc -l)"

# A pull killed mid-blob leaves no blob and no image; the next one resumes.
fresh
echo stall >"$T_TMP/proxy.mode"
: >"$T_TMP/proxy.log"
"${KI[@]}" --run-path "$RUN" pull --insecure "$X/fx/small:1" >/dev/null 2>&1 &
pullpid=$!
for i in $(seq 1 100); do ls "$RUN"/images/ingest/*.partial >/dev/null 2>&1 && [ -s "$(ls "$RUN"/images/ingest/*.partial | head -1)" ] && break; sleep 0.1; done
sleep 0.3
kill -9 "$pullpid" 2>/dev/null
wait "$pullpid" 2>/dev/null
t_eq crash-partial-kept 1 "$(ls "$RUN"/images/ingest/ | grep -c '\.partial$')"
t_eq crash-no-image 'No images found.' "$(ki list)"
t_eq crash-no-big-blob 0 "$(find "$RUN/images/blobs/sha256" -type f -size +100k | wc -l)"
echo pass >"$T_TMP/proxy.mode"
: >"$T_TMP/proxy.log"
t_match resume-pull "pulled image \"$X/fx/small:1\"" "$(ki pull --insecure "$X/fx/small:1" 2>&1)"
t_match resume-used-range 'blobs/sha256:[0-9a-f]+ range=bytes=[1-9][0-9]*- mode=pass' "$(cat "$T_TMP/proxy.log")"
t_eq resume-ingest-empty '' "$(ls "$RUN/images/ingest/")"
t_ok resume-content-verified "$TOOL" --run-path "$RUN" prepare "$X/fx/small:1"
# An abandoned partial is what prune removes.
echo stall >"$T_TMP/proxy.mode"
"${KI[@]}" --run-path "$RUN" pull --insecure "$X/fx/multi:1" >/dev/null 2>&1 &
pullpid=$!
for i in $(seq 1 100); do ls "$RUN"/images/ingest/*.partial >/dev/null 2>&1 && break; sleep 0.1; done
sleep 0.3
kill -9 "$pullpid" 2>/dev/null
wait "$pullpid" 2>/dev/null
t_match prune-removes-partials 'pruned realm "default"' "$(ki prune 2>&1)"
t_eq prune-ingest-empty '' "$(ls "$RUN/images/ingest/")"
t_eq prune-keeps-image 1 "$(ki list | grep -c "$X/fx/small:1")"
