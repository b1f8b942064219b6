#!/usr/bin/env bash
# Usage: scripts/demo.sh start|stop
#
# start: installs what is missing, builds bin/supervisor and the busybox
#        rootfs, starts a private containerd (scripts/containerd.sh), starts
#        `supervisor daemon` on the default socket (/run/vigil/vigil.sock)
#        and state dir (/var/lib/vigil), builds a busybox image archive
#        (testdata/mkimage.sh, no network) and loads it, runs a demo service
#        "web" from that image that prints a numbered line every second,
#        and shows it.
# stop:  removes the demo service and stops the daemon and the containerd.
#
# Needs root. Works from any directory.
set -euo pipefail

repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo_root"
bin=$repo_root/bin/supervisor
run_dir=/run/vigil
pidfile=$run_dir/daemon.pid
logfile=$run_dir/daemon.log
demo_image=vigil.local/demo/busybox:1

daemon_up() { "$bin" info >/dev/null 2>&1; }

start() {
	bash scripts/deps.sh
	local rootfs address
	rootfs=$(bash testdata/mkrootfs.sh | tail -n 1)
	bash scripts/containerd.sh start
	address=$(bash scripts/containerd.sh address)
	go build -o "$bin" ./cmd/supervisor
	mkdir -p "$run_dir"
	if ! daemon_up; then
		echo "demo: starting the supervisor daemon (log: $logfile)"
		setsid nohup "$bin" --containerd "$address" --log-format json daemon >"$logfile" 2>&1 &
		echo $! >"$pidfile"
		for _ in $(seq 100); do
			daemon_up && break
			sleep 0.2
		done
		daemon_up || { tail -n 20 "$logfile" >&2; echo "demo: the daemon did not come up" >&2; exit 1; }
	fi
	bash testdata/mkimage.sh "$run_dir/demo-image.tar" "$demo_image" "$rootfs" >/dev/null
	"$bin" image load -q -i "$run_dir/demo-image.tar"
	if ! "$bin" inspect web >/dev/null 2>&1; then
		"$bin" run -d --name web --pull never "$demo_image" \
			/bin/sh -c 'i=0; while :; do i=$((i+1)); echo "line $i"; sleep 1; done'
	fi
	"$bin" ps
	sleep 3
	echo "--- supervisor logs --tail 3 web"
	"$bin" logs --tail 3 web
	cat <<MSG

The demo runs. Try, with bin/ on your PATH (export PATH=\$PWD/bin:\$PATH):
  supervisor ps
  supervisor image ls
  supervisor logs -f web
  supervisor stop -t 5 web
  supervisor rm web
Stop everything with: make demo-stop
MSG
}

stop() {
	if daemon_up; then
		"$bin" rm -f web >/dev/null 2>&1 || true
	fi
	if [[ -f $pidfile ]]; then
		kill -TERM "$(<"$pidfile")" 2>/dev/null || true
		rm -f "$pidfile"
	fi
	bash scripts/containerd.sh stop --all
}

case ${1:-} in
start) start ;;
stop) stop ;;
*) sed -n '2,10s/^# \{0,1\}//p' "${BASH_SOURCE[0]}" >&2; exit 2 ;;
esac
