#!/usr/bin/env bash
# Oracle: the rootfs kukeon builds for each fixture equals `umoci unpack`'s,
# entry by entry (type, mode, uid/gid, size, content hash, link target,
# device numbers, xattrs).  Checked for the overlay mount and for the copy
# fallback, for images loaded from an OCI layout, an OCI archive and a
# docker-archive (uncompressed layers).
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
KK_FX_LIB=1 . "$here/t_image_fixtures.sh"
t_require umoci skopeo python3
TOOL="$BUILD/tests/helpers/kk-image-tool"
RUN="$T_TMP/run"
L="$T_TMP/layout"
fx_build "$L" || { echo "not ok - $T_NAME/fixtures"; exit 0; }
fx_big "$L" big || { echo "not ok - $T_NAME/fixtures-big"; exit 0; }
skopeo copy -q "oci:$L:multi" "oci-archive:$T_TMP/multi-oci.tar:example.com/oracle/multi:archive" >/dev/null 2>&1
skopeo copy -q "oci:$L:multi" "docker-archive:$T_TMP/multi-docker.tar:example.com/oracle/multi:docker" >/dev/null 2>&1

cat >"$T_TMP/treecmp.py" <<'EOF'
import hashlib, os, stat, sys
def walk(root):
    out = {}
    for dp, dns, fns in os.walk(root):
        names = dns + fns + ([""] if dp == root else [])
        for n in names:
            p = os.path.join(dp, n) if n else dp
            rel = os.path.relpath(p, root)
            st = os.lstat(p)
            t = stat.S_IFMT(st.st_mode)
            e = {"type": t, "mode": oct(stat.S_IMODE(st.st_mode)), "uid": st.st_uid, "gid": st.st_gid}
            if stat.S_ISREG(t):
                e["size"] = st.st_size
                h = hashlib.sha256()
                with open(p, "rb") as f:
                    for b in iter(lambda: f.read(1 << 20), b""): h.update(b)
                e["sha256"] = h.hexdigest()
            if stat.S_ISLNK(t): e["target"] = os.readlink(p)
            if stat.S_ISCHR(t) or stat.S_ISBLK(t): e["rdev"] = (os.major(st.st_rdev), os.minor(st.st_rdev))
            try:
                xs = {x: os.getxattr(p, x, follow_symlinks=False) for x in os.listxattr(p, follow_symlinks=False)
                      if not x.startswith("trusted.overlay.")}
            except OSError:
                xs = {}
            if xs: e["xattrs"] = xs
            out[rel] = e
    return out
a, b = walk(sys.argv[1]), walk(sys.argv[2])
bad = [k for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)]
for k in bad[:10]:
    print("DIFF %s\n  umoci:  %s\n  kukeon: %s" % (k, a.get(k), b.get(k)))
print("%d entries compared, %d differ" % (len(set(a) | set(b)), len(bad)))
sys.exit(1 if bad else 0)
EOF

"$TOOL" --run-path "$RUN" --name example.com/oracle load "$L" >/dev/null 2>"$T_TMP/load.err" ||
  echo "not ok - $T_NAME/load-layout: $(cat "$T_TMP/load.err")"
"$TOOL" --run-path "$RUN" load "$T_TMP/multi-oci.tar" >/dev/null 2>&1 || echo "not ok - $T_NAME/load-oci-archive"
"$TOOL" --run-path "$RUN" load "$T_TMP/multi-docker.tar" >/dev/null 2>&1 || echo "not ok - $T_NAME/load-docker-archive"

check() { # name ref umoci-tag
  local name=$1 ref=$2 tag=$3 m="$T_TMP/m-$1" c="$T_TMP/c-$1" u="$T_TMP/umoci-$3"
  [ -d "$u" ] || umoci unpack --image "$L:$tag" "$u" >/dev/null 2>&1 || { echo "not ok - $T_NAME/$name: umoci unpack failed"; return; }
  local mode
  mode=$("$TOOL" --run-path "$RUN" mount "$ref" "$m" "$T_TMP/up-$name" "$T_TMP/wk-$name" 2>&1)
  t_eq "$name-mode" overlay "$mode"
  t_cleanup_add "umount -l $m"
  t_ok "$name-overlay" python3 "$T_TMP/treecmp.py" "$u/rootfs" "$m"
  t_ok "$name-unmount" "$TOOL" --run-path "$RUN" unmount "$m"
  t_eq "$name-copy-mode" copy "$("$TOOL" --run-path "$RUN" --copy mount "$ref" "$c" 2>&1)"
  t_ok "$name-copy" python3 "$T_TMP/treecmp.py" "$u/rootfs" "$c"
  t_ok "$name-copy-undo" "$TOOL" --run-path "$RUN" unmount "$c"
}
check multi example.com/oracle:multi multi
check small example.com/oracle:small small
check multiarch example.com/oracle:multiarch small
check big example.com/oracle:big big
check oci-archive example.com/oracle/multi:archive multi
check docker-archive example.com/oracle/multi:docker multi
# The container's writes land in its upper dir only.
m="$T_TMP/m-write"
"$TOOL" --run-path "$RUN" mount example.com/oracle:multi "$m" "$T_TMP/up-write" "$T_TMP/wk-write" >/dev/null
t_cleanup_add "umount -l $m"
echo changed >"$m/etc/hostname"
rm -f "$m/bin/true"
t_eq upper-has-write changed "$(cat "$T_TMP/up-write/etc/hostname")"
t_eq upper-has-whiteout 'character special file' "$(stat -c %F "$T_TMP/up-write/bin/true")"
t_eq snapshots-untouched 0 "$(grep -rl changed "$RUN"/snapshots/*/rootfs/etc/hostname 2>/dev/null | wc -l)"
t_ok write-unmount "$TOOL" --run-path "$RUN" unmount "$m"
