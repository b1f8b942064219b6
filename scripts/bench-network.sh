#!/usr/bin/env bash
# Usage: scripts/bench-network.sh [CONTAINERS] [ROUNDS]
#
# Measures create + start + exit + delete of /bin/true in the busybox rootfs,
# one container at a time, through each engine's CLI on its default bridge:
# vigil (`supervisor run --network bridge` then `supervisor rm`), docker
# (`docker run --rm`) and podman (`podman run --rm`), and vigil with
# `--network none`, in the same run: each round runs the engines in turn,
# one container each, CONTAINERS times (30), so that all meet the same load;
# ROUNDS rounds (3). It prints each engine's milliseconds per container.
#
# Runs as root with the private containerd of scripts/containerd.sh up.
# Every daemon is its own: vigil's on a socket and state dir of its own,
# dockerd with its own socket, data and exec roots (and its own containerd)
# on a bridge of its own (vgbdock0, 10.239.0.1/24, not docker0), podman
# with its own root; the busybox rootfs is imported as an image into both
# (no registry is used). Everything is stopped by PID and removed at the
# end. docker and podman are skipped when not installed (docker.io and
# podman from Debian).
set -euo pipefail

repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo_root"
n=${1:-30}
rounds=${2:-3}

rootfs=$(bash testdata/mkrootfs.sh | tail -n 1)
address=$(bash scripts/containerd.sh address)
work=$(mktemp -d /tmp/vbench.XXXXXX)
go build -o "$work/supervisor" ./cmd/supervisor

pids=()
sv=("$work/supervisor" --containerd "$address" --namespace "vigilbench-$$" --state-dir "$work/state" --socket "$work/sock" --log-level warn)
D=(/usr/bin/docker -H "unix://$work/docker.sock")
P=(podman --root "$work/podman" --runroot "$work/podman-run" --storage-driver vfs)
have_docker=0
have_podman=0
podman_bridge_made=0
[[ -e /sys/class/net/cni-podman0 ]] || podman_bridge_made=1

cleanup() {
	set +e
	if [[ -S $work/sock ]]; then
		"${sv[@]}" ps -a --format '{{.ID}}' 2>/dev/null | xargs -r "${sv[@]}" rm -f >/dev/null 2>&1
		bridge=$("${sv[@]}" network inspect bridge 2>/dev/null | sed -n 's/.*"bridge": "\(vg[0-9a-f]*\)".*/\1/p' | head -n 1)
	fi
	for pid in "${pids[@]}"; do
		kill "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
	done
	[[ -n ${bridge:-} ]] && ip link delete "$bridge" 2>/dev/null
	ip link delete vgbdock0 2>/dev/null
	# dockerd leaves its rules for its bridge behind; its own chains
	# (DOCKER, DOCKER-USER...) are left, as another dockerd may use them.
	for table in nat filter; do
		iptables-save -t "$table" | grep -E '^-A .*(vgbdock0|10\.239\.0\.0/24)' | sed 's/^-A //' |
			while read -r rule; do eval "iptables -w -t $table -D $rule"; done
	done
	((podman_bridge_made)) && ip link delete cni-podman0 2>/dev/null
	((have_podman)) && "${P[@]}" system reset --force >/dev/null 2>&1
	# dockerd leaves its overlay of mounts under its roots.
	grep -o "$work/[^ ]*" /proc/self/mounts | sort -r | xargs -r -n 1 umount -l 2>/dev/null
	rm -rf "$work"
}
trap cleanup EXIT

"${sv[@]}" daemon 2>"$work/vigil.log" &
pids+=($!)
until "${sv[@]}" info >/dev/null 2>&1; do sleep 0.1; done

if command -v dockerd >/dev/null && [[ -x /usr/bin/docker ]]; then
	ip link add vgbdock0 type bridge
	ip addr add 10.239.0.1/24 dev vgbdock0
	ip link set vgbdock0 up
	dockerd --host "unix://$work/docker.sock" --data-root "$work/docker" --exec-root "$work/docker-exec" \
		--pidfile "$work/docker.pid" --bridge vgbdock0 --storage-driver vfs >"$work/dockerd.log" 2>&1 &
	pids+=($!)
	for _ in $(seq 300); do "${D[@]}" info >/dev/null 2>&1 && break; sleep 0.1; done
	tar -C "$rootfs" -c . | "${D[@]}" import - vigil-busybox:bench >/dev/null
	have_docker=1
fi
if command -v podman >/dev/null; then
	tar -C "$rootfs" -c . | "${P[@]}" import - vigil-busybox:bench >/dev/null
	have_podman=1
fi

vigil_bridge() { "${sv[@]}" run --name "b$1" --network bridge --rootfs "$rootfs" -- /bin/true >/dev/null && "${sv[@]}" rm "b$1" >/dev/null; }
vigil_none() { "${sv[@]}" run --name "n$1" --network none --rootfs "$rootfs" -- /bin/true >/dev/null && "${sv[@]}" rm "n$1" >/dev/null; }
docker_bridge() { "${D[@]}" run --rm vigil-busybox:bench /bin/true; }
podman_bridge() {
	"${P[@]}" run --rm --ulimit nofile=20000:20000 --ulimit nproc=32768:32768 vigil-busybox:bench /bin/true
}

engines=(vigil_bridge)
((have_docker)) && engines+=(docker_bridge)
((have_podman)) && engines+=(podman_bridge)
engines+=(vigil_none)

# Each round runs the engines in turn, one container each, n times over, so
# that every engine meets the same load of the machine; it prints each
# engine's mean in milliseconds per container.
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg); $n containers per engine and round"
for r in $(seq "$rounds"); do
	declare -A total=()
	for i in $(seq "$n"); do
		for e in "${engines[@]}"; do
			start=$(date +%s%N)
			"$e" "$r-$i"
			total[$e]=$((${total[$e]:-0} + $(date +%s%N) - start))
		done
	done
	for e in "${engines[@]}"; do
		printf '%-14s round %d: %6.1f ms per container\n' "${e/_/-}" "$r" "$(echo "${total[$e]} / $n / 1000000" | bc -l)"
	done
	unset total
done
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
