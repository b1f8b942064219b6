#!/usr/bin/env bash
# Usage: scripts/containerd.sh start|stop [--all]|status|address
#
# Runs a private containerd for vigil's development and integration tests,
# apart from any containerd of the machine. Everything lives under the run
# dir, $VIGIL_RUN_DIR (default /run/vigil-dev):
#
#   containerd.sock        gRPC socket (the ttrpc socket is containerd.sock.ttrpc)
#   containerd.pid         pid of the daemon started by this script
#   containerd.log         its output
#   root/ state/           containerd's --root and --state
#
#   start     start the daemon unless it already serves on the socket; wait up
#             to 20 s until it answers
#   stop      SIGTERM the daemon, SIGKILL after 10 s. Shims (and so the
#             containers they run) outlive it, as they would in production;
#             "stop --all" also kills the shims started by this daemon and
#             their containers
#   status    say whether it serves; exit 0 if it does, 1 if not
#   address   print the socket path, e.g. for VIGIL_CONTAINERD_ADDRESS
#
# Needs root. Works from any directory.
set -euo pipefail

repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
run_dir=${VIGIL_RUN_DIR:-/run/vigil-dev}
config=$repo_root/testdata/containerd/config.toml
sock=$run_dir/containerd.sock
pidfile=$run_dir/containerd.pid
logfile=$run_dir/containerd.log

usage() {
	sed -n '2,21s/^# \{0,1\}//p' "${BASH_SOURCE[0]}" >&2
	exit 2
}

serving() {
	[[ -S $sock ]] && timeout 5 ctr --address "$sock" version >/dev/null 2>&1
}

daemon_pid() {
	local pid
	[[ -f $pidfile ]] || return 1
	pid=$(<"$pidfile")
	[[ $pid =~ ^[0-9]+$ ]] || return 1
	# Make sure the pid is still our containerd, not a recycled pid.
	tr '\0' ' ' 2>/dev/null <"/proc/$pid/cmdline" | grep -q -- "--address $sock" || return 1
	echo "$pid"
}

# Pids of containerd-shim-runc-v2 processes that were started for this
# daemon: their command line names its socket with -address.
shim_pids() {
	local p cmdline
	for p in /proc/[0-9]*; do
		cmdline=$(tr '\0' ' ' 2>/dev/null <"$p/cmdline") || continue
		case $cmdline in
		*containerd-shim-runc-v2*"-address $sock "*) echo "${p#/proc/}" ;;
		esac
	done
}

# Pids of the direct children of pid $1: for a shim, the init processes of
# its containers (killing one ends its whole PID namespace) and the logging
# binaries.
children_of() {
	local p stat rest
	for p in /proc/[0-9]*; do
		{ stat=$(<"$p/stat"); } 2>/dev/null || continue
		rest=${stat##*) } # fields after "pid (comm) "
		read -r _ ppid _ <<<"$rest"
		[[ $ppid == "$1" ]] && echo "${p#/proc/}"
	done
}

start() {
	if serving; then
		echo "containerd already serving at $sock"
		return 0
	fi
	if [[ $(id -u) -ne 0 ]]; then
		echo "containerd.sh: start needs root" >&2
		exit 1
	fi
	command -v containerd >/dev/null || {
		echo "containerd.sh: containerd not found; run scripts/deps.sh" >&2
		exit 1
	}
	if pid=$(daemon_pid); then
		echo "containerd.sh: containerd (pid $pid) is running but does not answer at $sock; run \"$0 stop\" first" >&2
		exit 1
	fi
	mkdir -p "$run_dir/root" "$run_dir/state"
	chmod 0711 "$run_dir"
	# A socket left by a daemon that died keeps containerd from listening.
	rm -f "$sock" "$sock.ttrpc"

	setsid nohup containerd \
		--config "$config" \
		--root "$run_dir/root" \
		--state "$run_dir/state" \
		--address "$sock" \
		</dev/null >>"$logfile" 2>&1 &
	echo $! >"$pidfile"

	local i
	for ((i = 0; i < 40; i++)); do
		if serving; then
			echo "containerd started (pid $(<"$pidfile")), serving at $sock"
			return 0
		fi
		if ! kill -0 "$(<"$pidfile")" 2>/dev/null; then
			break
		fi
		sleep 0.5
	done
	echo "containerd.sh: containerd did not serve at $sock within 20 s; last lines of $logfile:" >&2
	tail -n 30 "$logfile" >&2
	exit 1
}

stop() {
	local all=false
	case ${1:-} in
	"") ;;
	--all) all=true ;;
	*) usage ;;
	esac

	local pid i
	if pid=$(daemon_pid); then
		kill -TERM "$pid" 2>/dev/null || true
		for ((i = 0; i < 20; i++)); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.5
		done
		if kill -0 "$pid" 2>/dev/null; then
			echo "containerd (pid $pid) ignored SIGTERM for 10 s; sending SIGKILL"
			kill -KILL "$pid" 2>/dev/null || true
		fi
		echo "containerd (pid $pid) stopped"
	else
		echo "containerd is not running (no live pid in $pidfile)"
	fi
	rm -f "$pidfile"

	if $all; then
		local shims
		mapfile -t shims < <(shim_pids)
		local shim kids
		for shim in "${shims[@]}"; do
			mapfile -t kids < <(children_of "$shim")
			echo "killing shim $shim of $sock and its children: ${kids[*]:-none}"
			# Children first: a container outlives a shim killed before it.
			if ((${#kids[@]} > 0)); then
				kill -KILL "${kids[@]}" 2>/dev/null || true
			fi
			kill -KILL "$shim" 2>/dev/null || true
		done
	fi
}

status() {
	if serving; then
		local pid
		pid=$(daemon_pid) || pid="unknown"
		echo "containerd serving at $sock (pid $pid)"
		return 0
	fi
	echo "containerd not serving at $sock"
	return 1
}

case ${1:-} in
start) start ;;
stop)
	shift
	stop "$@"
	;;
status) status ;;
address) echo "$sock" ;;
*) usage ;;
esac
