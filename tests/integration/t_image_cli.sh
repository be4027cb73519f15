#!/usr/bin/env bash
# kuke image load / list / delete / prune: inputs (OCI layout dir, OCI
# archive, gzip'd OCI archive, docker-archive, stdin), the outputs of the
# spec (§4.18, §4.8 image table), and the store staying readable by skopeo
# and umoci.
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
KK_FX_LIB=1 . "$here/t_image_fixtures.sh"
t_require umoci skopeo python3
RUN="$T_TMP/run"
if "$KUKE" image --help >/dev/null 2>&1; then KI=("$KUKE" image); else KI=("$BUILD/tests/helpers/kk-image"); fi
ki() { "${KI[@]}" --run-path "$RUN" "$@"; }
L="$T_TMP/layout"
fx_build "$L" || { echo "not ok - $T_NAME/fixtures"; exit 0; }
skopeo copy -q "oci:$L:multi" "oci-archive:$T_TMP/oci.tar:docker.io/library/busybox:1" >/dev/null 2>&1
gzip -c "$T_TMP/oci.tar" >"$T_TMP/oci.tar.gz"
skopeo copy -q "oci:$L:small" "docker-archive:$T_TMP/docker.tar:example.com/small:1" >/dev/null 2>&1

t_eq empty-list 'No images found.' "$(ki list)"
t_eq load-archive 'loaded 1 image(s) into realm "default" (namespace "default.kukeon.io"):
  - docker.io/library/busybox:1' "$(ki load -i "$T_TMP/oci.tar")"
t_eq load-gzip-stdin 'loaded 1 image(s) into realm "r2" (namespace "r2.kukeon.io"):
  - docker.io/library/busybox:1' "$(ki load --realm r2 - <"$T_TMP/oci.tar.gz")"
t_eq load-docker-archive 'loaded 1 image(s) into realm "default" (namespace "default.kukeon.io"):
  - example.com/small:1' "$(ki load "$T_TMP/docker.tar")"
out=$(ki load --name example.com/fx -i "$L" 2>&1)
t_match load-layout-dir '^loaded 3 image\(s\) into realm "default"' "$out"
t_match load-layout-named '  - example.com/fx:multiarch' "$out"
t_match load-nothing '^loaded 0 images into realm "default" \(namespace "default.kukeon.io"\)' \
  "$(ki load --platform linux/s390x -i "$T_TMP/oci.tar" 2>/dev/null; ki load --platform linux/s390x --name x.io/y -i "$L" 2>/dev/null | head -1)"
t_match load-skips-platform 'skipped .*no manifest for linux/s390x' "$(ki load --platform linux/s390x --name x.io/y -i "$L" 2>&1 >/dev/null)"
t_match load-garbage 'Error: .*not a tar archive|Error: .*invalid archive' "$(echo garbage | ki load - 2>&1)"
t_match load-missing 'Error: load /nonexistent' "$(ki load /nonexistent 2>&1)"
t_match load-bad-realm 'Error: ' "$(ki load --realm Bad_Realm "$T_TMP/oci.tar" 2>&1)"

# list: the table of the spec
out=$(ki list)
t_match list-header '^NAME +REALM +SIZE +AGE$' "$(echo "$out" | head -1)"
t_match list-dashes '^-+  -+  -+  -+$' "$(echo "$out" | sed -n 2p)"
t_match list-row '^docker.io/library/busybox:1 +default +1\.0MiB +[0-9]+s$' "$out"
t_match list-all-realms '^docker.io/library/busybox:1 +r2 ' "$out"
t_eq list-realm-filter 0 "$(ki list --realm default | grep -c ' r2 ')"
out=$(ki list -o wide)
t_match wide-header '^NAME +REALM +SIZE +AGE +CREATED +DIGEST$' "$(echo "$out" | head -1)"
t_match wide-row ' [0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}Z +sha256:[0-9a-f]{64}$' "$out"
t_ok list-json sh -c "\"\${0}\" \"\$@\" list -o json | python3 -c 'import json,sys; v=json.load(sys.stdin); assert len(v)==6 and v[0][\"namespace\"] and v[0][\"digest\"].startswith(\"sha256:\")'" "${KI[@]}" --run-path "$RUN"
t_match list-yaml '^- name: ' "$(ki list -o yaml)"
t_match get-one-json '"name": "example.com/fx:multi"' "$(ki list example.com/fx:multi -o json)"
t_match get-one-labels '"org.kukeon.test": "multi"' "$(ki list example.com/fx:multi -o json)"
t_eq get-missing 'Error: image "docker.io/library/nope:latest" not found in realm "default"' "$(ki list nope 2>&1)"
t_match list-bad-output 'invalid output format' "$(ki list -o xml 2>&1)"

# The store is an OCI layout others can read.
NS="$RUN/images/default.kukeon.io"
t_ok skopeo-inspect skopeo inspect "oci:$NS:docker.io/library/busybox:1"
t_match umoci-ls 'example.com/fx:multi' "$(umoci ls --layout "$NS")"
t_ok umoci-unpack umoci unpack --image "$NS:example.com/fx:small" "$T_TMP/umoci-from-store"
t_ok blobs-link test "$(readlink "$NS/blobs")" = ../blobs
t_ok blobs-verified sh -c "cd $RUN/images/blobs/sha256 && for f in *; do echo \"\$f  \$f\"; done | sed 's/^\\([0-9a-f]*\\)  /\\1  /' | awk '{print \$1\"  \"\$2}' >/dev/null && for f in *; do [ \"\$(sha256sum \$f | cut -c1-64)\" = \"\$f\" ] || exit 1; done"

# delete / prune
t_eq delete 'deleted image "example.com/small:1" from realm "default" (namespace "default.kukeon.io")' "$(ki delete example.com/small:1)"
t_eq delete-missing 'Error: image "example.com/small:1" not found in realm "default"' "$(ki delete example.com/small:1 2>&1)"
t_ok delete-alias-rm ki rm --realm r2 busybox:1
t_eq delete-r2-left 'No images found.' "$(ki list --realm r2)"
t_match prune 'pruned realm "default" \(namespace "default.kukeon.io"\): removed [0-9]+ blob\(s\)' "$(ki prune)"
t_ok still-readable skopeo inspect "oci:$NS:docker.io/library/busybox:1"
t_match help-lists-subcommands 'pull +Pull an image' "$(ki --help)"
t_match unknown-sub 'unknown command "frob" for "kuke image"' "$(ki frob 2>&1)"
