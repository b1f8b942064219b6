#!/usr/bin/env bash
# Usage: testdata/mkimage.sh OUT.tar NAME [ROOTFS]
#
# Builds an OCI image-layout archive (tar) of one image, named NAME (a full
# reference, e.g. vigil.local/demo/busybox:1), whose one gzip layer is the
# busybox rootfs (default: the one testdata/mkrootfs.sh builds) and whose
# config runs /bin/sh with PATH set. Needs no network: tar, gzip and
# sha256sum only. `supervisor image load -i OUT.tar` loads it.
set -euo pipefail

repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
out=${1:?usage: mkimage.sh OUT.tar NAME [ROOTFS]}
name=${2:?usage: mkimage.sh OUT.tar NAME [ROOTFS]}
rootfs=${3:-$(bash "$repo_root/testdata/mkrootfs.sh" | tail -n 1)}

case $(uname -m) in
x86_64) arch=amd64 ;;
aarch64) arch=arm64 ;;
armv7l) arch=arm ;;
*) arch=$(uname -m) ;;
esac

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/oci/blobs/sha256"
blobs=$work/oci/blobs/sha256

# put FILE: moves FILE into the blobs by its digest; prints "DIGEST SIZE".
put() {
	local d s
	d=$(sha256sum "$1" | cut -d' ' -f1)
	s=$(stat -c %s "$1")
	mv "$1" "$blobs/$d"
	echo "$d $s"
}

# The layer: the rootfs's files, owned by root, with fixed times.
tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner --exclude=./.busybox.sha256 \
	-C "$rootfs" -cf "$work/layer.tar" .
diff_id=$(sha256sum "$work/layer.tar" | cut -d' ' -f1)
gzip -n -c "$work/layer.tar" >"$work/layer.tar.gz"
read -r layer_digest layer_size < <(put "$work/layer.tar.gz")

cat >"$work/config.json" <<JSON
{"architecture":"$arch","os":"linux","created":"1970-01-01T00:00:00Z",
 "config":{"Env":["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],"Cmd":["/bin/sh"],"WorkingDir":"/"},
 "rootfs":{"type":"layers","diff_ids":["sha256:$diff_id"]}}
JSON
read -r config_digest config_size < <(put "$work/config.json")

cat >"$work/manifest.json" <<JSON
{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",
 "config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:$config_digest","size":$config_size},
 "layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"sha256:$layer_digest","size":$layer_size}]}
JSON
read -r manifest_digest manifest_size < <(put "$work/manifest.json")

cat >"$work/oci/index.json" <<JSON
{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json",
 "manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:$manifest_digest","size":$manifest_size,
  "annotations":{"io.containerd.image.name":"$name","org.opencontainers.image.ref.name":"$name"}}]}
JSON
echo '{"imageLayoutVersion":"1.0.0"}' >"$work/oci/oci-layout"

tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -C "$work/oci" -cf "$out" oci-layout index.json blobs
echo "$out"
