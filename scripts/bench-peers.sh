#!/usr/bin/env bash
# Usage: scripts/bench-peers.sh [CONTAINERS] [ROUNDS]
#
# Runs /bin/true in the busybox rootfs through each engine's CLI, networking
# off, and prints each engine's figures and their ratios:
#
#   vigil-rm      supervisor run --rm (foreground: output, exit code, removal)
#   vigil-run+rm  supervisor run (foreground), then supervisor rm: two processes
#   vigil-image   supervisor run --rm of the same busybox as an image (a
#                 snapshot per container, as docker and podman use)
#   ctr           ctr run --rm --rootfs, on the same private containerd
#   docker        docker run --rm (its own dockerd, with its own containerd)
#   podman        podman run --rm
#
# For each: CONTAINERS (20) one after the other, and 2*CONTAINERS 8 at a
# time (seconds for all of them, the median of ROUNDS rounds, 3); the
# whole machine's CPU time per container (from /proc/stat over the
# sequential runs: everything the machine did, the engine's daemons
# included); and the memory of a running detached container: the PSS of the
# processes that 10 detached `sleep` containers added, the containers' own
# processes left out (shims, loggers, conmon; not the daemons).
#
# ROUNDS 0 measures the memory alone.
#
# With VIGIL_BEFORE=BINARY, an earlier build of the supervisor runs too, as
# vigil-before (run --rm), with a daemon of its own: the change between two
# versions measured under the same load.
#
# Runs as root with the private containerd of scripts/containerd.sh up.
# Every daemon is its own: vigil's on a socket and state dir of its own,
# dockerd with its own socket, data and exec roots and its own containerd,
# podman with its own root; the busybox rootfs is imported as an image into
# both. Everything is stopped by PID and removed at the end. docker and
# podman are skipped when not installed (Debian's docker.io and podman).
# The engines run in turn within each round, so all meet the same load.
set -euo pipefail

repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

# One container of one engine (used by xargs for the parallel runs).
one() {
	local engine=$1 id=$2
	case $engine in
	vigil-rm) $SV run --rm --network none --name "r$id" --rootfs "$ROOTFS" -- /bin/true >/dev/null ;;
	vigil-before) $SVB run --rm --network none --name "b$id" --rootfs "$ROOTFS" -- /bin/true >/dev/null ;;
	vigil-run+rm) $SV run --network none --name "s$id" --rootfs "$ROOTFS" -- /bin/true >/dev/null && $SV rm "s$id" >/dev/null ;;
	vigil-image) $SV run --rm --network none --pull never --name "i$id" vigil.local/bench/busybox:1 /bin/true >/dev/null ;;
	ctr) $CTR run --rm --rootfs "$ROOTFS" "c$id" /bin/true ;;
	docker) $DOCKER run --rm --network none vigil-busybox:bench /bin/true ;;
	podman) $PODMAN run --rm --network none --ulimit nofile=20000:20000 --ulimit nproc=32768:32768 vigil-busybox:bench /bin/true ;;
	esac
}
if [[ ${1:-} == __one ]]; then
	one "$2" "$3"
	exit
fi

cd "$repo_root"
n=${1:-20}
rounds=${2:-3}
par=8
detached=10

rootfs=$(bash testdata/mkrootfs.sh | tail -n 1)
address=$(bash scripts/containerd.sh address)
work=$(mktemp -d /tmp/vpeers.XXXXXX)
CGO_ENABLED=0 go build -trimpath -o "$work/supervisor" ./cmd/supervisor

export ROOTFS=$rootfs
export SV="$work/supervisor --containerd $address --namespace vigilpeers-v$$ --state-dir $work/state --socket $work/sock --log-level warn"
export SVB="${VIGIL_BEFORE:-} --containerd $address --namespace vigilpeers-b$$ --state-dir $work/state-b --socket $work/sock-b --log-level warn"
export CTR="ctr --address $address --namespace vigilpeers-c$$"
export DOCKER="/usr/bin/docker -H unix://$work/docker.sock"
[[ -x /usr/bin/docker ]] || DOCKER="docker -H unix://$work/docker.sock"
export PODMAN="podman --root $work/podman --runroot $work/podman-run --storage-driver vfs"

pids=()
have_docker=0
have_podman=0
cleanup() {
	set +e
	if [[ -S $work/sock ]]; then
		$SV ps -a 2>/dev/null | awk 'NR > 1 {print $1}' | xargs -r $SV rm -f >/dev/null 2>&1
	fi
	for c in $($CTR task ls -q 2>/dev/null); do $CTR task kill -s 9 "$c"; done
	sleep 0.5
	for c in $($CTR task ls -q 2>/dev/null); do $CTR task delete -f "$c" >/dev/null; done
	$CTR container ls -q 2>/dev/null | xargs -r $CTR container delete >/dev/null 2>&1
	ctr --address "$address" namespace remove "vigilpeers-c$$" >/dev/null 2>&1
	((have_docker)) && $DOCKER ps -aq | xargs -r $DOCKER rm -f >/dev/null 2>&1
	((have_podman)) && $PODMAN rm -af >/dev/null 2>&1
	if [[ -S $work/sock-b ]]; then
		$SVB ps -a 2>/dev/null | awk 'NR > 1 {print $1}' | xargs -r $SVB rm -f >/dev/null 2>&1
	fi
	for pid in "${pids[@]}"; do
		kill "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
	done
	((have_podman)) && $PODMAN system reset --force >/dev/null 2>&1
	grep -o "$work/[^ ]*" /proc/self/mounts | sort -r | xargs -r -n 1 umount -l 2>/dev/null
	rm -rf "$work"
}
trap cleanup EXIT

$SV daemon 2>"$work/vigil.log" &
pids+=($!)
until $SV info >/dev/null 2>&1; do sleep 0.1; done
bash testdata/mkimage.sh "$work/busybox-image.tar" vigil.local/bench/busybox:1 "$rootfs"
$SV image load -q -i "$work/busybox-image.tar" >/dev/null
if [[ -n ${VIGIL_BEFORE:-} ]]; then
	$SVB daemon 2>"$work/vigil-before.log" &
	pids+=($!)
	until $SVB info >/dev/null 2>&1; do sleep 0.1; done
fi

if command -v dockerd >/dev/null && command -v docker >/dev/null; then
	# --bridge none: networking off, and no bridge or rules of its own.
	dockerd --host "unix://$work/docker.sock" --data-root "$work/docker" --exec-root "$work/docker-exec" \
		--pidfile "$work/docker.pid" --bridge none --iptables=false --storage-driver vfs >"$work/dockerd.log" 2>&1 &
	pids+=($!)
	for _ in $(seq 300); do $DOCKER info >/dev/null 2>&1 && break; sleep 0.1; done
	tar -C "$rootfs" -c . | $DOCKER import - vigil-busybox:bench >/dev/null
	have_docker=1
fi
if command -v podman >/dev/null; then
	tar -C "$rootfs" -c . | $PODMAN import - vigil-busybox:bench >/dev/null
	have_podman=1
fi

engines=(vigil-rm vigil-run+rm vigil-image)
[[ -n ${VIGIL_BEFORE:-} ]] && engines+=(vigil-before)
engines+=(ctr)
((have_docker)) && engines+=(docker)
((have_podman)) && engines+=(podman)

# busy prints the machine's busy CPU time so far, in clock ticks.
busy() { awk '/^cpu /{print $2+$3+$4+$7+$8+$9; exit}' /proc/stat; }
hz=$(getconf CLK_TCK)
now() { date +%s%N; }

declare -A seq_s=() par_s=() cpu=()
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg); $(nproc) CPUs; $n containers one at a time, $((2 * n)) $par at a time, $rounds rounds"
for r in $(seq "$rounds"); do
	for e in "${engines[@]}"; do
		b0=$(busy)
		t0=$(now)
		for i in $(seq "$n"); do one "$e" "$r-$i"; done
		t1=$(now)
		b1=$(busy)
		seq_s[$e]+="$(echo "($t1 - $t0) / 1000000000" | bc -l) "
		cpu[$e]+="$(echo "($b1 - $b0) / $hz / $n" | bc -l) "
		t0=$(now)
		seq $((2 * n)) | sed "s/^/p$r-/" | xargs -P "$par" -n 1 bash "$repo_root/scripts/bench-peers.sh" __one "$e"
		t1=$(now)
		par_s[$e]+="$(echo "($t1 - $t0) / 1000000000" | bc -l) "
		printf 'round %d %-13s sequential %6.2f s, %d at a time %6.2f s\n' "$r" "$e" \
			"$(echo "${seq_s[$e]}" | awk '{print $NF}')" "$par" "$(echo "${par_s[$e]}" | awk '{print $NF}')"
	done
done

# The memory of detached containers: start them, then sum the PSS of the
# per-container processes that appeared: shims, vigil's loggers, podman's
# conmon (not the containers' own processes, not the daemons; the machine
# may run other work meanwhile, which is left out this way).
pss_of_new() {
	local before=$1 pid comm kb kind
	declare -A by=([shim]=0 [logger]=0 [conmon]=0)
	for pid in $(ls /proc | grep -E '^[0-9]+$'); do
		grep -qx "$pid" "$before" && continue
		comm=$(cat "/proc/$pid/comm" 2>/dev/null) || continue
		# Only this run's: the machine may run other engines' containers
		# meanwhile. vigil's and ctr's shims name their namespace; docker's
		# and podman's processes, and vigil's loggers, paths under $work
		# (the loggers' URL-encoded).
		tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qE -- "$work/|${work//\//%2F}%2F|-namespace vigilpeers-[vc]$$ " || continue
		case $comm in
		containerd-shim*) kind=shim ;;
		conmon) kind=conmon ;;
		supervisor)
			tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q ' logger ' || continue
			kind=logger
			;;
		*) continue ;;
		esac
		kb=$(awk '/^Pss:/{print $2}' "/proc/$pid/smaps_rollup" 2>/dev/null) || continue
		by[$kind]=$((${by[$kind]} + ${kb:-0}))
	done
	echo "$((by[shim] + by[logger] + by[conmon])) ${by[shim]} ${by[logger]} ${by[conmon]}"
}
declare -A mem=()
mengines=(vigil ctr)
((have_docker)) && mengines+=(docker)
((have_podman)) && mengines+=(podman)
for e in "${mengines[@]}"; do
	ls /proc | grep -E '^[0-9]+$' >"$work/before"
	for i in $(seq "$detached"); do
		case $e in
		vigil) $SV run -d --network none --name "d$i" --rootfs "$rootfs" -- /bin/sleep 600 >/dev/null ;;
		ctr) $CTR run -d --rootfs "$rootfs" "d$i" /bin/sleep 600 ;;
		docker) $DOCKER run -d --network none vigil-busybox:bench /bin/sleep 600 >/dev/null ;;
		podman) $PODMAN run -d --network none --ulimit nofile=20000:20000 --ulimit nproc=32768:32768 vigil-busybox:bench /bin/sleep 600 >/dev/null ;;
		esac
	done
	sleep 2
	read -r all shim logger conmon < <(pss_of_new "$work/before")
	mem[$e]=$(echo "$all / $detached / 1024" | bc -l)
	printf '%-7s %d detached: PSS per container %.2f MiB (shim %.2f, logger %.2f, conmon %.2f)\n' "$e" "$detached" \
		"${mem[$e]}" "$(echo "$shim / $detached / 1024" | bc -l)" "$(echo "$logger / $detached / 1024" | bc -l)" \
		"$(echo "$conmon / $detached / 1024" | bc -l)"
	case $e in
	vigil) for i in $(seq "$detached"); do $SV rm -f "d$i" >/dev/null; done ;;
	ctr)
		for i in $(seq "$detached"); do $CTR task kill -s 9 "d$i"; done
		sleep 1
		for i in $(seq "$detached"); do $CTR task delete "d$i" >/dev/null; $CTR container delete "d$i"; done
		;;
	docker) $DOCKER ps -q | xargs -r $DOCKER rm -f >/dev/null ;;
	podman) $PODMAN rm -af -t 0 >/dev/null ;;
	esac
done

median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
echo
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
((rounds > 0)) || exit 0 # the memory alone
printf '%-13s %12s %14s %16s %14s\n' engine "seq s ($n)" "$par-way s ($((2 * n)))" "CPU s/container" "PSS MiB/cont."
declare -A ms=() mp=() mc=()
for e in "${engines[@]}"; do
	ms[$e]=$(echo "${seq_s[$e]}" | median)
	mp[$e]=$(echo "${par_s[$e]}" | median)
	mc[$e]=$(echo "${cpu[$e]}" | median)
	m=${mem[$e]:-${mem[vigil]}}
	[[ $e == vigil-before ]] && m=nan # its loggers are not measured
	printf '%-13s %12.2f %14.2f %16.3f %14.2f\n' "$e" "${ms[$e]}" "${mp[$e]}" "${mc[$e]}" "$m"
done
echo
ratio() { echo "$1 / $2" | bc -l; }
for v in vigil-rm vigil-run+rm vigil-image ${VIGIL_BEFORE:+vigil-before}; do
	printf '%s / ctr: sequential %.2f, %d at a time %.2f, CPU %.2f\n' "$v" \
		"$(ratio "${ms[$v]}" "${ms[ctr]}")" "$par" "$(ratio "${mp[$v]}" "${mp[ctr]}")" "$(ratio "${mc[$v]}" "${mc[ctr]}")"
	for p in docker podman; do
		[[ -n ${ms[$p]:-} ]] || continue
		printf '%s throughput / %s: sequential %.2f, %d at a time %.2f\n' "$v" "$p" \
			"$(ratio "${ms[$p]}" "${ms[$v]}")" "$par" "$(ratio "${mp[$p]}" "${mp[$v]}")"
	done
done
