#!/usr/bin/env bash
# Usage: scripts/deps.sh
#
# Installs, as root, what vigil's integration tests need and is missing:
# containerd (with containerd-shim-runc-v2 and ctr), runc, tini (the init of
# run --init), busybox-static, containernetworking-plugins and iptables,
# Debian's docker CLI (docker.io, for the Docker API's tests),
# plus criu if it can be had (checkpoint tests are optional). It checks each
# command first and runs apt-get update only when something is missing, so a
# machine that has everything is left untouched. Go itself is not installed
# here; the script says so when it is missing.
set -euo pipefail

export DEBIAN_FRONTEND=noninteractive

# command -> Debian package
required=(
	"containerd:containerd"
	"containerd-shim-runc-v2:containerd"
	"ctr:containerd"
	"runc:runc"
	"tini-static:tini"
)
optional=(
	"criu:criu"
)

missing_pkgs() {
	local entry cmd pkg
	for entry in "$@"; do
		cmd=${entry%%:*}
		pkg=${entry#*:}
		if ! command -v "$cmd" >/dev/null 2>&1; then
			echo "$pkg"
		fi
	done | sort -u
}

mapfile -t need < <(missing_pkgs "${required[@]}")
# The test rootfs needs the statically linked busybox (a dynamically linked
# one cannot run inside it), so the package is checked, not the command.
if ! dpkg-query -W -f='${Status}' busybox-static 2>/dev/null | grep -q 'install ok installed'; then
	need+=(busybox-static)
fi
# Networking (--network, -p) runs the CNI plugins of Debian's
# containernetworking-plugins from /usr/lib/cni; the bridge and portmap
# plugins need iptables.
if [[ ! -x /usr/lib/cni/bridge ]]; then
	need+=(containernetworking-plugins)
fi
if ! command -v iptables >/dev/null 2>&1; then
	need+=(iptables)
fi
# The Docker API's tests drive it with Debian's docker CLI (package
# docker.io; its daemon is not started: the tests use vigil's socket).
if [[ ! -x /usr/bin/docker ]]; then
	need+=(docker.io)
fi
mapfile -t want < <(missing_pkgs "${optional[@]}")

if ((${#need[@]} + ${#want[@]} > 0)); then
	if [[ $(id -u) -ne 0 ]]; then
		echo "deps: missing packages: ${need[*]} ${want[*]}; run this script as root" >&2
		exit 1
	fi
	echo "deps: installing: ${need[*]} ${want[*]}"
	apt-get update -q
	if ((${#need[@]} > 0)); then
		apt-get install -y -q --no-install-recommends "${need[@]}"
	fi
	if ((${#want[@]} > 0)); then
		apt-get install -y -q --no-install-recommends "${want[@]}" ||
			echo "deps: optional packages not installed: ${want[*]} (checkpoint tests will skip)" >&2
	fi
else
	echo "deps: containerd, runc, tini, busybox-static, the CNI plugins, iptables, docker.io and criu are installed"
fi

if ! command -v go >/dev/null 2>&1; then
	echo "deps: Go is not installed (or not on PATH); install the Go toolchain named in go.mod" >&2
	exit 1
fi
echo "deps: $(go version)"
