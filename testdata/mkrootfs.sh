#!/usr/bin/env bash
# Usage: testdata/mkrootfs.sh [DEST]
#
# Builds the minimal busybox root filesystem that vigil's integration tests
# run containers from, at DEST (default testdata/rootfs/busybox under the
# repository root; a relative DEST is taken from the current directory).
# It needs the statically linked /bin/busybox of Debian's busybox-static
# package (scripts/deps.sh installs it).
#
# The rootfs is rebuilt only when it is missing or /bin/busybox changed, so
# running the script again is cheap. Prints the rootfs path.
set -euo pipefail

repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
dest=${1:-$repo_root/testdata/rootfs/busybox}
busybox=/bin/busybox

if [[ ! -x $busybox ]]; then
	echo "mkrootfs: $busybox not found; install busybox-static (scripts/deps.sh)" >&2
	exit 1
fi
if [[ $($busybox --list 2>/dev/null | wc -l) -lt 10 ]]; then
	echo "mkrootfs: $busybox does not list its applets; is it busybox-static?" >&2
	exit 1
fi

mkdir -p "$dest"
dest=$(cd "$dest" && pwd)
stamp=$dest/.busybox.sha256
want=$(sha256sum "$busybox" | cut -d' ' -f1)

if [[ -f $stamp && $(<"$stamp") == "$want" && -x $dest/bin/busybox ]]; then
	echo "$dest"
	exit 0
fi
# DEST is replaced whole below: never do that to a directory this script did
# not make.
if [[ ! -f $stamp && -n $(ls -A "$dest") ]]; then
	echo "mkrootfs: $dest is not empty and was not made by this script; choose another DEST" >&2
	exit 1
fi

# Build next to DEST and swap it in, so a failed build never leaves half a
# rootfs behind and a rebuild drops applets that busybox no longer has.
tmp=$(mktemp -d "$dest.tmp.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

for d in bin sbin dev proc sys etc root var run; do
	mkdir -p "$tmp/$d"
done
install -d -m 1777 "$tmp/tmp"
chmod 0700 "$tmp/root"

cp "$busybox" "$tmp/bin/busybox"
chmod 0755 "$tmp/bin/busybox"
# busybox --list prints bare applet names; they all live in bin/ here, which
# is on the default PATH, so sbin/ stays empty.
while read -r applet; do
	[[ $applet == busybox || -z $applet ]] && continue
	ln -sf busybox "$tmp/bin/$applet"
done < <("$busybox" --list)

cat >"$tmp/etc/passwd" <<'PASSWD'
root:x:0:0:root:/root:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
PASSWD
cat >"$tmp/etc/group" <<'GROUP'
root:x:0:
nogroup:x:65534:
GROUP
echo vigil-test >"$tmp/etc/hostname"
echo "$want" >"$tmp/.busybox.sha256"

rm -rf "$dest"
mv "$tmp" "$dest"
chmod 0755 "$dest"
trap - EXIT
echo "$dest"
