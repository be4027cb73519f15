#!/usr/bin/env bash
# Image fixtures made with umoci, skopeo and python3 tarfile from
# busybox-static.  Sourced by the other t_image*.sh files (with
# KK_FX_LIB=1: functions only); run directly it builds them all and checks
# them with skopeo and umoci.
#
#   fx_build DIR        OCI layout DIR with tags:
#     multi      3 layers: base tree (symlinks, hardlinks, setuid, sticky,
#                fifo, device, xattrs, long and UTF-8 names, sparse file),
#                an umoci diff (whiteouts, dir->file, symlink->file, chmod),
#                a hand-made layer (opaque dir, explicit whiteout, whiteout
#                then re-created dir, hardlink into a lower layer, implicit
#                parent)
#     small      1 layer busybox
#     multiarch  an index: linux/amd64 (= small) and linux/arm64
#   fx_big DIR TAG      a multi-layer image of tens of MiB (benchmarks)

fx_rootfs_base() { # $1 = rootfs dir (empty)
  local r=$1
  mkdir -p "$r"/{bin,etc,usr/bin,usr/share/doc/deep/er,var/tmp,var/empty,data,opq/sub,gone/x,redo,dev}
  cp /bin/busybox "$r/bin/busybox"
  chmod 0755 "$r/bin/busybox"
  ln -s busybox "$r/bin/sh"
  ln -s busybox "$r/bin/ls"
  ln -s /bin/busybox "$r/bin/cat"
  ln "$r/bin/busybox" "$r/bin/true"
  printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534::/:/bin/false\n' >"$r/etc/passwd"
  printf 'root:x:0:\n' >"$r/etc/group"
  echo base >"$r/etc/hostname"
  echo secret >"$r/etc/secret"
  chmod 0600 "$r/etc/secret"
  chown 1000:1000 "$r/etc/secret"
  printf '#!/bin/sh\necho su\n' >"$r/usr/bin/su-like"
  chmod 4755 "$r/usr/bin/su-like"
  printf 'sg\n' >"$r/usr/bin/sg-like"
  chmod 2711 "$r/usr/bin/sg-like"
  chmod 1777 "$r/var/tmp"
  chmod 0555 "$r/var/empty"
  chown 33:33 "$r/var/empty"
  local i
  for i in a b c d e f; do echo "doc $i" >"$r/usr/share/doc/$i.txt"; done
  echo deep >"$r/usr/share/doc/deep/er/file"
  chmod 0750 "$r/usr/share/doc"
  chown 5:6 "$r/usr/share/doc"
  echo x >"$r/data/xattr-file"
  python3 -c "import os,sys; os.setxattr(sys.argv[1], 'user.kukeon', b'yes'); os.setxattr(sys.argv[1], 'trusted.kk', b'1')" "$r/data/xattr-file"
  mkfifo "$r/data/fifo"
  mknod "$r/dev/null" c 1 3
  chmod 0666 "$r/dev/null"
  head -c 5000 /bin/busybox >"$r/data/sparse"
  truncate -s 3M "$r/data/sparse"
  echo long >"$r/data/$(printf 'l%.0s' $(seq 1 120))"
  mkdir -p "$r/data/$(printf 'd%.0s' $(seq 1 90))/$(printf 'e%.0s' $(seq 1 90))"
  echo deep >"$r/data/$(printf 'd%.0s' $(seq 1 90))/$(printf 'e%.0s' $(seq 1 90))/f"
  echo utf >"$r/data/ñame-ü"
  echo todelete >"$r/data/todelete"
  echo a >"$r/opq/a"
  echo b >"$r/opq/b"
  echo c >"$r/opq/sub/c"
  echo g >"$r/gone/x/g"
  echo old >"$r/redo/old"
  touch -d '2001-02-03 04:05:06' "$r/etc/hostname" "$r/usr/share/doc/a.txt"
}

# The hand-made third layer (python3 tarfile): ordering matters.
fx_layer3() { # $1 = output tar
  python3 - "$1" <<'EOF'
import io, sys, tarfile, time
out = tarfile.open(sys.argv[1], "w", format=tarfile.PAX_FORMAT)
def add(name, type=tarfile.REGTYPE, data=b"", mode=0o644, linkname="", uid=0, gid=0):
    ti = tarfile.TarInfo(name)
    ti.type = type
    ti.mode = mode
    ti.uid, ti.gid = uid, gid
    ti.mtime = 1600000000
    ti.linkname = linkname
    if type == tarfile.REGTYPE:
        ti.size = len(data)
        out.addfile(ti, io.BytesIO(data))
    else:
        out.addfile(ti)
add("opq/", tarfile.DIRTYPE, mode=0o755)
add("opq/.wh..wh..opq")
add("opq/new", data=b"new\n")
add("data/.wh.sparse")
add("data/true-link", tarfile.LNKTYPE, linkname="bin/busybox", mode=0o755)
add(".wh.redo")
add("redo/", tarfile.DIRTYPE, mode=0o700, uid=7, gid=8)
add("redo/new", data=b"new\n")
add("usr/share/doc/implicit.txt", data=b"implicit parent\n")
add("etc/motd", data=b"layer three\n", mode=0o640, uid=0, gid=42)
out.close()
EOF
}

fx_build() { # $1 = layout dir
  local L=$1 w
  w=$(mktemp -d /tmp/kk-fx.XXXXXX)
  umoci init --layout "$L" >/dev/null
  umoci new --image "$L:multi" >/dev/null
  umoci unpack --image "$L:multi" "$w/b" >/dev/null
  fx_rootfs_base "$w/b/rootfs"
  umoci repack --image "$L:multi" "$w/b" >/dev/null
  rm -rf "$w/b"
  umoci unpack --image "$L:multi" "$w/b" >/dev/null
  local r="$w/b/rootfs"
  rm -f "$r/data/todelete"
  rm -rf "$r/gone"
  echo layer2 >"$r/etc/hostname"
  chmod 0600 "$r/etc/passwd"
  mkdir -p "$r/newdir"
  echo new >"$r/newdir/file"
  rm "$r/bin/ls"
  echo 'not a link any more' >"$r/bin/ls"
  rmdir "$r/var/empty"
  echo 'was a dir' >"$r/var/empty"
  chown 12:34 "$r/etc/group"
  umoci repack --image "$L:multi" "$w/b" >/dev/null
  fx_layer3 "$w/l3.tar"
  umoci raw add-layer --image "$L:multi" "$w/l3.tar" >/dev/null
  umoci config --image "$L:multi" --config.entrypoint /bin/sh --config.cmd -c --config.cmd 'echo hi' \
    --config.env FOO=bar --config.workingdir /data --config.label org.kukeon.test=multi >/dev/null
  # small: busybox only
  umoci new --image "$L:small" >/dev/null
  rm -rf "$w/b"
  umoci unpack --image "$L:small" "$w/b" >/dev/null
  mkdir -p "$w/b/rootfs/bin"
  cp /bin/busybox "$w/b/rootfs/bin/busybox"
  ln -s busybox "$w/b/rootfs/bin/sh"
  umoci repack --image "$L:small" "$w/b" >/dev/null
  umoci config --image "$L:small" --config.cmd /bin/sh >/dev/null
  fx_multiarch "$L"
  rm -rf "$w"
}

# An index with linux/amd64 (= small) and linux/arm64 (same layers, a
# config that says arm64), tagged multiarch.
fx_multiarch() {
  python3 - "$1" <<'EOF'
import hashlib, json, os, sys
L = sys.argv[1]
def blob(d):
    return open(os.path.join(L, "blobs", "sha256", d.split(":")[1]), "rb").read()
def put(data):
    h = hashlib.sha256(data).hexdigest()
    open(os.path.join(L, "blobs", "sha256", h), "wb").write(data)
    return "sha256:" + h, len(data)
idx = json.load(open(os.path.join(L, "index.json")))
small = [m for m in idx["manifests"] if m.get("annotations", {}).get("org.opencontainers.image.ref.name") == "small"][0]
man = json.loads(blob(small["digest"]))
cfg = json.loads(blob(man["config"]["digest"]))
cfg["architecture"] = "arm64"
cfg["variant"] = "v8"
cd, cs = put(json.dumps(cfg).encode())
man2 = dict(man)
man2["config"] = dict(man["config"], digest=cd, size=cs)
md, ms = put(json.dumps(man2).encode())
index = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": [
    {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": md, "size": ms,
     "platform": {"architecture": "arm64", "os": "linux", "variant": "v8"}},
    {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": small["digest"], "size": small["size"],
     "platform": {"architecture": "amd64", "os": "linux"}},
]}
xd, xs = put(json.dumps(index).encode())
idx["manifests"].append({"mediaType": "application/vnd.oci.image.index.v1+json", "digest": xd, "size": xs,
                         "annotations": {"org.opencontainers.image.ref.name": "multiarch"}})
json.dump(idx, open(os.path.join(L, "index.json"), "w"))
EOF
}

fx_big() { # $1 = layout dir, $2 = tag: busybox + three layers of /usr/share (~80 MiB)
  local L=$1 T=$2 w d
  w=$(mktemp -d /tmp/kk-fxbig.XXXXXX)
  [ -e "$L/oci-layout" ] || umoci init --layout "$L" >/dev/null
  umoci new --image "$L:$T" >/dev/null
  for d in "" vim perl cmake-3.25; do
    rm -rf "$w/b"
    umoci unpack --image "$L:$T" "$w/b" >/dev/null
    if [ -z "$d" ]; then
      mkdir -p "$w/b/rootfs/bin"
      cp /bin/busybox "$w/b/rootfs/bin/"
    else
      mkdir -p "$w/b/rootfs/usr/share"
      cp -a "/usr/share/$d" "$w/b/rootfs/usr/share/"
    fi
    umoci repack --image "$L:$T" "$w/b" >/dev/null
  done
  rm -rf "$w"
}

if [ -z "${KK_FX_LIB:-}" ]; then
  here=$(cd "$(dirname "$0")" && pwd)
  . "$here/lib.sh"
  L="$T_TMP/layout"
  t_ok build fx_build "$L"
  t_match tags '^multi$' "$(umoci ls --layout "$L")"
  t_ok skopeo-inspect-multi skopeo inspect "oci:$L:multi"
  t_ok skopeo-inspect-multiarch skopeo inspect --raw "oci:$L:multiarch"
  t_eq multi-layers 3 "$(skopeo inspect "oci:$L:multi" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["Layers"]))')"
fi
