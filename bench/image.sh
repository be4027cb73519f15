#!/usr/bin/env bash
# Image benchmarks, side by side, in one run (hyperfine):
#   unpack  the same multi-layer image (busybox + /usr/share/{vim,perl,cmake})
#           kukeon (kk_image_prepare: every layer into its chain-ID snapshot,
#           digest and diff ID verified, published by rename; and with
#           --sync: one syncfs first) vs `umoci unpack` vs `tar -xzf` of the layer
#           blobs in order; on the disk (/tmp, ext4 here) and on a tmpfs
#   pull    from a local docker-registry on 127.0.0.1: `kuke image pull`
#           vs `skopeo copy docker://... oci:...`
# Prints a markdown summary (means, medians, ratios) for docs/PERFORMANCE.md.
# Needs root, hyperfine, umoci, skopeo, docker-registry.  BUILD=build default.
#   RUNS=10 bench/image.sh
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
BUILD=${BUILD:-$root/build}
case "$BUILD" in /*) ;; *) BUILD="$root/$BUILD" ;; esac
RUNS=${RUNS:-10}
TOOL="$BUILD/tests/helpers/kk-image-tool"
if "$BUILD/kuke" image --help >/dev/null 2>&1; then KI="$BUILD/kuke image"; else KI="$BUILD/tests/helpers/kk-image"; fi
for t in hyperfine umoci skopeo docker-registry python3 curl; do
  command -v "$t" >/dev/null || { echo "bench/image.sh: $t not installed" >&2; exit 1; }
done
W=$(mktemp -d /tmp/kk-bench-image.XXXXXX)
regpid=
cleanup() {
  [ -n "$regpid" ] && kill "$regpid" 2>/dev/null
  umount "$W/tmpfs" 2>/dev/null || true
  rm -rf "$W"
}
trap cleanup EXIT
trap 'exit 143' TERM; trap 'exit 130' INT; trap 'exit 129' HUP

KK_FX_LIB=1 . "$root/tests/integration/t_image_fixtures.sh"
echo "# building the image (busybox + /usr/share/{vim,perl,cmake-3.25})" >&2
fx_big "$W/L" big

layer_list() { # layout dir -> the layer blobs of tag big, bottom first
  python3 -c '
import json, os, sys
L = sys.argv[1]
idx = json.load(open(os.path.join(L, "index.json")))
m = [m for m in idx["manifests"] if m.get("annotations", {}).get("org.opencontainers.image.ref.name") == "big"][0]
man = json.load(open(os.path.join(L, "blobs", "sha256", m["digest"][7:])))
print(" ".join(os.path.join(L, "blobs", "sha256", l["digest"][7:]) for l in man["layers"]))' "$1"
}
layers=$(layer_list "$W/L")
compressed=$(du -cb $layers | tail -1 | cut -f1)
uncompressed=0
for l in $layers; do uncompressed=$((uncompressed + $(gzip -dc "$l" | wc -c))); done
files=$(for l in $layers; do tar -tzf "$l"; done | wc -l)

# One unpack comparison in directory $1 (label $2).  Outputs of earlier runs
# are moved aside, not deleted: on ext4, creating files within ~30 s of
# deleting thousands makes every create scan recently freed inodes
# (recently_deleted() in the inode allocator), which would measure the
# previous run's rm -rf instead of the unpacker.
unpack_bench() {
  local D=$1 label=$2 ls aside
  mkdir -p "$D/trash"
  cp -a "$W/L" "$D/L"
  ls=$(layer_list "$D/L")
  "$TOOL" --run-path "$D/run" --name example.com/bench load "$D/L" >/dev/null
  aside="mkdir -p $D/run/snapshots && mv $D/run/snapshots $D/trash/\$(date +%s%N); sync"
  echo "# unpack on $label: $((compressed >> 20)) MiB compressed, $((uncompressed >> 20)) MiB, $files entries" >&2
  hyperfine --runs "$RUNS" --warmup 1 --export-json "$W/unpack-$label.json" \
    --command-name kukeon --prepare "$aside" "$TOOL --run-path $D/run prepare example.com/bench:big" \
    --command-name kukeon-sync --prepare "$aside" "$TOOL --run-path $D/run --sync prepare example.com/bench:big" \
    --command-name umoci --prepare "mkdir -p $D/u && mv $D/u $D/trash/\$(date +%s%N); sync" \
    "umoci unpack --image $D/L:big $D/u" \
    --command-name tar --prepare "mkdir -p $D/t && mv $D/t $D/trash/\$(date +%s%N); mkdir $D/t; sync" \
    "for l in $ls; do tar -xzf \$l -C $D/t; done" >&2
  rm -rf "$D/trash" "$D/run" "$D/L" "$D/u" "$D/t"
}
unpack_bench "$W/disk" disk
mkdir -p "$W/tmpfs"
mount -t tmpfs -o size=8g kk-bench "$W/tmpfs"
unpack_bench "$W/tmpfs" tmpfs
umount "$W/tmpfs"

# Pull from a local registry.
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
mkdir -p "$W/reg" "$W/trash"
cat >"$W/reg/config.yml" <<YAML
version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $W/reg/data
http:
  addr: 127.0.0.1:$port
YAML
docker-registry serve "$W/reg/config.yml" >"$W/reg/log" 2>&1 &
regpid=$!
for _ in $(seq 1 100); do curl -s -o /dev/null "http://127.0.0.1:$port/v2/" && break; sleep 0.1; done
skopeo copy -q --dest-tls-verify=false "oci:$W/L:big" "docker://127.0.0.1:$port/bench/big:1"
echo "# pull: 127.0.0.1:$port/bench/big:1" >&2
hyperfine --runs "$RUNS" --warmup 1 --export-json "$W/pull.json" \
  --command-name kukeon --prepare "mkdir -p $W/prun && mv $W/prun $W/trash/\$(date +%s%N); sync" \
  "$KI --run-path $W/prun pull -q --insecure 127.0.0.1:$port/bench/big:1" \
  --command-name skopeo --prepare "mkdir -p $W/sk && mv $W/sk $W/trash/\$(date +%s%N); sync" \
  "skopeo copy -q --src-tls-verify=false docker://127.0.0.1:$port/bench/big:1 oci:$W/sk:big" >&2

python3 -c '
import json, sys
W, comp, unc, files = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
def load(n): return {r["command"]: r for r in json.load(open("%s/%s.json" % (W, n)))["results"]}
def ms(r): return "%.0f ± %.0f ms (median %.0f)" % (r["mean"] * 1000, r["stddev"] * 1000, r["median"] * 1000)
print("Image: 4 layers (busybox, /usr/share/vim, /usr/share/perl, /usr/share/cmake-3.25), "
      "%.1f MiB compressed (gzip), %.1f MiB unpacked, %d entries." % (comp / 2**20, unc / 2**20, files))
for fs in ("disk", "tmpfs"):
    u = load("unpack-" + fs)
    k = u["kukeon"]["mean"]
    print()
    print("| unpack (%s) | time | ÷ kukeon |" % fs)
    print("|---|---|---|")
    for n in ("kukeon", "kukeon-sync", "umoci", "tar"):
        print("| %s | %s | %.2f× |" % (n, ms(u[n]), u[n]["mean"] / k))
    print()
    print("- %s: umoci / kukeon = **%.2f×** (target ≥ 1.5×); kukeon / tar = **%.2f×** (target ≤ 1.3×); "
          "kukeon --sync / tar = %.2f×" % (fs, u["umoci"]["mean"] / k, k / u["tar"]["mean"],
                                            u["kukeon-sync"]["mean"] / u["tar"]["mean"]))
p = load("pull")
k = p["kukeon"]["mean"]
print()
print("| pull (local registry) | time | ÷ kukeon |")
print("|---|---|---|")
for n in ("kukeon", "skopeo"):
    print("| %s | %s | %.2f× |" % (n, ms(p[n]), p[n]["mean"] / k))
print()
print("- skopeo / kukeon = **%.2f×** (target > 1)" % (p["skopeo"]["mean"] / k))
' "$W" "$compressed" "$uncompressed" "$files"
