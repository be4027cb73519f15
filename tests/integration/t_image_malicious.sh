#!/usr/bin/env bash
# Malicious layers: containerd's TestBreakouts vectors (re-expressed as our
# own tar fixtures, built here with python3 tarfile) plus limits, devices,
# overlay attributes and digest lies.  Each case is a real OCI image
# (gzip layers, config diff IDs) loaded into a fresh store and unpacked
# through the normal path (kk_image_prepare).  Expected:
#   refuse:<needle>  exit 1, exactly one "Error: ..." line containing needle (or
#                    one of needle's comma-separated alternatives: which check
#                    of two fires first may depend on timing),
#                    no snapshot of the bad layer and no temp dir left
#   contain          unpacks; what it aimed at stays inside the snapshot
# and for every case: the sentinel tree outside is byte-for-byte unchanged
# and nothing named pwned* exists outside the snapshots.
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
command -v python3 >/dev/null || { echo "skip - $T_NAME: python3 not installed"; exit 0; }
TOOL="$BUILD/tests/helpers/kk-image-tool"
OUT="$T_TMP/outside"
mkdir -p "$OUT/dir" "$T_TMP/cases"
echo original >"$OUT/victim"
chmod 0644 "$OUT/victim"
echo keep >"$OUT/dir/file"
before=$(t_tree "$OUT")
# An absolute-path probe that must never appear on the host.
PROBE="/kk-breakout-$$"
t_cleanup_add "rm -rf $PROBE /etc/kk-breakout-$$"

python3 - "$T_TMP/cases" "$OUT" "$PROBE" <<'EOF'
import gzip, hashlib, io, json, os, sys, tarfile
root, OUT, PROBE = sys.argv[1], sys.argv[2], sys.argv[3]
UP = "../" * 12
def f(name, data=b"pwned\n", mode=0o644): return ("file", name, data, mode)
def d(name, mode=0o755): return ("dir", name, None, mode)
def s(name, target): return ("sym", name, target, 0o777)
def h(name, target, mode=0o644): return ("link", name, target, mode)
def dev(name, kind, major, minor): return (kind, name, (major, minor), 0o600)
def x(name, attrs): return ("xattr", name, attrs, 0o644)

cases = [
  # name, layers, expect, tool options
  ("SymlinkAbsolute",            [[s("dir", OUT), f("dir/pwned")]], "refuse:symlink", ""),
  ("SymlinkUpAndOut",            [[s("dir", UP + OUT[1:]), f("dir/pwned")]], "refuse:symlink", ""),
  ("SymlinkMultipleAbsolute",    [[s("d1", OUT), s("d1/d2", "/"), f("d1/d2/pwned")]], "refuse:symlink", ""),
  ("SymlinkMultipleRelative",    [[s("d1", UP), s("d1/d2", UP), f("d1/d2/pwned")]], "refuse:symlink", ""),
  ("SymlinkEmptyFile",           [[s("empty", "")]], "refuse:empty target", ""),
  ("SymlinkParentDirectory",     [[s("up", ".."), f("up/pwned")]], "refuse:symlink", ""),
  ("SymlinkEmptyFilename",       [[s("", "/")]], "refuse:empty name", ""),
  ("SymlinkParentRelative",      [[d("sub"), s("sub/up", UP), f("sub/up/pwned")]], "refuse:symlink", ""),
  ("SymlinkSlashEnded",          [[s("dir", OUT + "/"), f("dir/pwned")]], "refuse:symlink", ""),
  ("SymlinkOverrideDirectory",   [[d("foo"), s("foo", OUT), f("foo/pwned")]], "refuse:symlink", ""),
  ("SymlinkOverrideDirectoryRelative", [[d("foo"), s("foo", UP + OUT[1:]), f("foo/pwned")]], "refuse:symlink", ""),
  ("DirectoryOverrideSymlink",   [[s("foo", OUT), d("foo"), f("foo/pwned")]], "contain", ""),
  ("DirectoryOverrideSymlinkAndHardlink", [[s("foo", OUT), d("foo"), h("foo/victim", "foo/../../outside/victim")]], "refuse:\"..\"", ""),
  ("HardlinkRelative",           [[h("h", UP + "etc/passwd")]], "refuse:\"..\"", ""),
  ("HardlinkDownAndOut",         [[d("dir"), h("dir/h", "dir/" + UP + "etc/passwd")]], "refuse:\"..\"", ""),
  ("HardlinkAbsolute",           [[h("h", "/etc/passwd")]], "refuse:absolute path", ""),
  ("HardlinkRelativeLong",       [[h("h", UP * 4 + "etc/passwd")]], "refuse:\"..\"", ""),
  ("HardlinkRelativeUpAndOut",   [[d("a"), d("a/b"), h("a/b/h", "../../../outside/victim")]], "refuse:\"..\"", ""),
  ("HardlinkDirectRelative",     [[h("h", "..")]], "refuse:\"..\"", ""),
  ("HardlinkDirectAbsolute",     [[h("h", "/")]], "refuse:absolute path", ""),
  ("HardlinkSymlinkRelative",    [[s("sym", "../../outside/victim"), h("h", "sym", 0o777)]], "contain", ""),
  ("HardlinkSymlinkAbsolute",    [[s("sym", OUT + "/victim"), h("h", "sym", 0o777)]], "contain", ""),
  ("HardlinkSymlinkChmod",       [[s("sym", OUT + "/victim"), h("h", "sym", 0o4777)]], "contain", ""),
  ("HardlinkSymlinkBeforeCreateTarget", [[h("h", "sym"), s("sym", OUT + "/victim")]], "refuse:does not exist", ""),
  ("HardlinkThroughSymlinkDir",  [[s("lnk", OUT), h("h", "lnk/victim")]], "refuse:symlink", ""),
  ("WhiteoutRootParent",         [[f("../.wh.outside", b"")]], "refuse:\"..\"", ""),
  ("WhiteoutParent",             [[f("d/.wh...", b"")]], "refuse:invalid whiteout", ""),
  ("WhiteoutRoot",               [[f(".wh.", b"")]], "refuse:invalid whiteout", ""),
  ("WhiteoutCurrentDirectory",   [[f("d/.wh..", b"")]], "refuse:invalid whiteout", ""),
  ("WhiteoutSymlink",            [[s("lnk", OUT)], [f("lnk/.wh.victim", b"")]], "refuse:symlink in a lower layer", ""),
  ("WhiteoutSymlinkPath",        [[s("lnk", OUT + "/victim")], [f(".wh.lnk", b"")]], "contain", ""),
  ("WhiteoutDirectoryName",      [[d("d"), f("d/file", b"x")], [f(".wh.d", b"")]], "contain", ""),
  ("WhiteoutDeadSymlinkParent",  [[s("dead", "/nonexistent-kk-dir")], [f("dead/.wh.x", b"")]], "refuse:symlink in a lower layer", ""),
  ("WhiteoutRelativePath",       [[f("d/../.wh.victim", b"")]], "refuse:\"..\"", ""),
  ("LowerLayerSymlinkWrite",     [[s("etc", OUT)], [f("etc/pwned")]], "refuse:symlink in a lower layer", ""),
  ("LowerLayerSymlinkRelative",  [[s("etc", UP + OUT[1:])], [d("etc/sub"), f("etc/sub/pwned")]], "refuse:symlink in a lower layer", ""),
  ("LowerLayerSymlinkHardlink",  [[s("lnk", OUT)], [h("h", "lnk/victim")]], "refuse:symlink", ""),
  ("LowerLayerDirReplacedBySymlink", [[d("etc"), f("etc/x")], [s("etc", OUT), f("etc/pwned")]], "refuse:symlink in this layer", ""),
  ("AbsolutePath",               [[f(PROBE + "/pwned")]], "refuse:absolute path", ""),
  ("AbsoluteEtc",                [[f("/etc/kk-breakout-" + PROBE.split("-")[-1])]], "refuse:absolute path", ""),
  ("DotDotPath",                 [[f("a/../../pwned")]], "refuse:\"..\"", ""),
  ("LongName",                   [[f("d/" + "x" * 300)]], "refuse:longer than 255", ""),
  ("RootReplacedBySymlink",      [[s("./", OUT)]], "refuse:root of a layer", ""),
  ("FileOverNonDir",             [[f("f", b"x"), f("f/pwned")]], "refuse:not a directory", ""),
  ("OverlayRedirectXattr",       [[x("d", {"trusted.overlay.redirect": "/" + OUT[1:]})]], "refuse:overlay control attribute", ""),
  ("OverlayOpaqueXattr",         [[x("d", {"trusted.overlay.opaque": "y"})]], "refuse:overlay control attribute", ""),
  ("DeviceNotAllowed",           [[dev("dev/sda", "blk", 8, 0)]], "refuse:device nodes are not allowed", "--devices refuse"),
  ("CharDeviceNotAllowed",       [[dev("dev/mem", "chr", 1, 1)]], "refuse:device nodes are not allowed", "--devices refuse"),
  ("SetuidKeptAsImageSays",      [[f("bin/su", b"#!", 0o4755), f("bin/plain", b"#!", 0o755)]], "contain", ""),
  ("GzipBomb",                   [[f("bomb", b"\0" * (8 << 20))]], "refuse:out of bounds,expands to more than", "--max-bytes 1048576"),
  ("EntryFlood",                 [[f("f%d" % i, b"") for i in range(2000)]], "refuse:more than 1000 entries", "--max-entries 1000"),
  ("DiffIDLie",                  [[f("ok", b"fine")]], "refuse:diff ID mismatch", "lie"),
  ("TruncatedLayer",             [[f("big", os.urandom(200000))]], "refuse:decompress layer", "truncate"),
]

def tar_bytes(entries):
    bio = io.BytesIO()
    t = tarfile.open(fileobj=bio, mode="w", format=tarfile.PAX_FORMAT)
    for kind, name, val, mode in entries:
        ti = tarfile.TarInfo(name)
        ti.mode = mode; ti.mtime = 1600000000
        if kind == "file":
            ti.size = len(val); t.addfile(ti, io.BytesIO(val)); continue
        if kind == "dir": ti.type = tarfile.DIRTYPE
        elif kind == "sym": ti.type = tarfile.SYMTYPE; ti.linkname = val
        elif kind == "link": ti.type = tarfile.LNKTYPE; ti.linkname = val
        elif kind in ("blk", "chr"):
            ti.type = tarfile.BLKTYPE if kind == "blk" else tarfile.CHRTYPE
            ti.devmajor, ti.devminor = val
        elif kind == "xattr":
            ti.type = tarfile.DIRTYPE
            ti.pax_headers = {"SCHILY.xattr." + k: v for k, v in val.items()}
        t.addfile(ti)
    t.close()
    return bio.getvalue()

def put(layout, data):
    hx = hashlib.sha256(data).hexdigest()
    with open(os.path.join(layout, "blobs", "sha256", hx), "wb") as fp: fp.write(data)
    return "sha256:" + hx, len(data)

listing = []
for name, layers, expect, opts in cases:
    layout = os.path.join(root, name)
    os.makedirs(os.path.join(layout, "blobs", "sha256"))
    with open(os.path.join(layout, "oci-layout"), "w") as fp: fp.write('{"imageLayoutVersion":"1.0.0"}')
    descs, diffs = [], []
    for entries in layers:
        raw = tar_bytes(entries)
        gz = gzip.compress(raw, 1)
        if opts == "truncate": gz = gz[: len(gz) // 2]
        diffs.append("sha256:" + hashlib.sha256(raw).hexdigest())
        dg, sz = put(layout, gz)
        descs.append({"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": dg, "size": sz})
    if opts == "lie": diffs[-1] = "sha256:" + "0" * 64
    cfg = json.dumps({"architecture": "amd64", "os": "linux", "config": {},
                      "rootfs": {"type": "layers", "diff_ids": diffs}}).encode()
    cd, cs = put(layout, cfg)
    man = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                      "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cd, "size": cs},
                      "layers": descs}).encode()
    md, ms = put(layout, man)
    with open(os.path.join(layout, "index.json"), "w") as fp:
        json.dump({"schemaVersion": 2, "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json",
                   "digest": md, "size": ms, "annotations": {"org.opencontainers.image.ref.name": "kukeon.internal/breakout:case"}}]}, fp)
    listing.append("%s|%s|%s|%d" % (name, expect, opts if opts.startswith("--") else "", len(layers)))
with open(os.path.join(root, "cases.txt"), "w") as fp: fp.write("\n".join(listing) + "\n")
EOF

n=0
while IFS="|" read -r name expect opts nlayers; do
  n=$((n + 1))
  run="$T_TMP/run-$name"
  if ! "$TOOL" --run-path "$run" load "$T_TMP/cases/$name" >/dev/null 2>"$T_TMP/load.err"; then
    echo "not ok - $T_NAME/$name: load failed: $(cat "$T_TMP/load.err")"
    continue
  fi
  # shellcheck disable=SC2086
  "$TOOL" --run-path "$run" $opts prepare kukeon.internal/breakout:case >"$T_TMP/out" 2>"$T_TMP/err"
  rc=$?
  why=""
  snaps=$(find "$run/snapshots" -mindepth 1 -maxdepth 1 ! -name .leases | wc -l)
  tmps=$(find "$run/snapshots" -mindepth 1 -maxdepth 1 -name '.tmp-*' | wc -l)
  case "$expect" in
    refuse:*)
      needle=${expect#refuse:}
      [ "$rc" -ne 0 ] || why="unpacked, should have been refused"
      [ -z "$why" ] && [ "$(wc -l <"$T_TMP/err")" -eq 1 ] || why="${why:-not exactly one error line: $(tr '\n' '|' <"$T_TMP/err")}"
      if [ -z "$why" ]; then
        found=
        IFS=, read -r -a alts <<<"$needle"
        for alt in "${alts[@]}"; do grep -qF -- "$alt" "$T_TMP/err" && grep -q '^Error: ' "$T_TMP/err" && found=1; done
        [ -n "$found" ] || why="error lacks \"$needle\": $(cat "$T_TMP/err")"
      fi
      [ -z "$why" ] && [ "$snaps" -ne $((nlayers - 1)) ] && why="partial snapshot left ($snaps snapshots for $nlayers layers)"
      ;;
    contain)
      [ "$rc" -eq 0 ] || why="refused: $(cat "$T_TMP/err")"
      [ -z "$why" ] && [ "$snaps" -ne "$nlayers" ] && why="$snaps snapshots for $nlayers layers"
      ;;
  esac
  [ -z "$why" ] && [ "$tmps" -ne 0 ] && why="temporary snapshot left"
  [ -z "$why" ] && [ "$(t_tree "$OUT")" != "$before" ] && why="the outside changed"
  [ -z "$why" ] && [ -n "$(find "$T_TMP" -name 'pwned*' ! -path '*/snapshots/*' 2>/dev/null)" ] && why="pwned file outside the snapshots"
  [ -z "$why" ] && { [ -e "$PROBE" ] || [ -e "/etc/kk-breakout-$$" ]; } && why="wrote to the host root"
  if [ -z "$why" ]; then
    echo "ok - $T_NAME/$name"
  else
    echo "not ok - $T_NAME/$name: $why"
  fi
done <"$T_TMP/cases/cases.txt"

# Specific outcomes of the contained cases.
sn() { find "$T_TMP/run-$1/snapshots" -mindepth 2 -maxdepth 2 -name rootfs | head -n "${2:-1}" | tail -n 1; }
last() { # the top layer's snapshot rootfs of a two-layer case (the one with a parent)
  local m
  m=$(grep -l '"parent": "sha256' "$T_TMP/run-$1"/snapshots/*/meta.json | head -n 1)
  echo "$(dirname "$m")/rootfs"
}
t_ok contained-dir-over-symlink test -f "$(sn DirectoryOverrideSymlink)/foo/pwned" -a ! -L "$(sn DirectoryOverrideSymlink)/foo"
t_eq contained-hardlink-to-symlink "$OUT/victim" "$(readlink "$(sn HardlinkSymlinkChmod)/h")"
t_eq victim-mode-untouched 644 "$(stat -c %a "$OUT/victim")"
t_eq setuid-kept 4755 "$(stat -c %a "$(sn SetuidKeptAsImageSays)/bin/su")"
t_eq whiteout-of-symlink-is-device 'character special file 0:0' "$(stat -c '%F %t:%T' "$(last WhiteoutSymlinkPath)/lnk")"
t_ok cases-count test "$n" -ge 30
