#!/usr/bin/env bash
# Usage: crashtest/example.sh ROOTFS
#
# An example of a harness for a service run by vigil (docs/HARNESS.md). It
# talks to a running `supervisor daemon` found through the usual settings
# (VIGIL_SOCKET, VIGIL_STATE_DIR, ...; SUPERVISOR names the binary), injects
# faults with `pause` and `kill -s`, waits for states with `wait
# --condition`, and checks the exact timeline with `events --json`.
# ROOTFS is a busybox root filesystem (testdata/mkrootfs.sh builds one).
set -euo pipefail

sup=${SUPERVISOR:-supervisor}
rootfs=${1:?usage: $0 ROOTFS}
svc=example-svc-$$
crashy=example-crashy-$$
since=$(date -u +%Y-%m-%dT%H:%M:%S.%NZ)

cleanup() { "$sup" rm -f "$svc" "$crashy" >/dev/null 2>&1 || true; }
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
timeline() { "$sup" events --json --since "$since" --until "$(date -u +%Y-%m-%dT%H:%M:%S.%NZ)" --container "$1"; }

# The service under test ends with code 3 on SIGTERM.
"$sup" run -d --name "$svc" --rootfs "$rootfs" --restart on-failure:3 \
	sh -c 'trap "echo stopping; exit 3" TERM; echo up; while :; do sleep 0.1; done' >/dev/null

# Fault 1: pause it, then unpause it.
"$sup" pause "$svc" >/dev/null
"$sup" inspect "$svc" | grep -q '"paused": true' || fail "$svc is not paused"
"$sup" unpause "$svc" >/dev/null

# Fault 2: SIGTERM, with a waiter for the next exit started first.
out=$(mktemp)
"$sup" wait --condition next-exit "$svc" >"$out" &
waiter=$!
sleep 0.2
"$sup" kill -s TERM "$svc" >/dev/null
wait "$waiter"
code=$(cat "$out"); rm -f "$out"
[[ $code == 3 ]] || fail "$svc exited with $code, want 3"

# The timeline: the pause and its end, the user's signal, the exit with its
# code; no restart after a user's stop, whatever the policy.
events=$(timeline "$svc")
for want in TaskPaused TaskResumed StopRequested '"code":3'; do
	grep -q "$want" <<<"$events" || fail "no $want in the timeline of $svc"
done
grep -q '"attempt":' <<<"$events" && fail "$svc was restarted after a user's stop"

# A program that fails on its own: on-failure:2 restarts it twice, no more.
"$sup" run -d --name "$crashy" --rootfs "$rootfs" --restart on-failure:2 --restart-delay 100ms \
	sh -c 'sleep 0.2; exit 1' >/dev/null
for _ in 1 2 3; do
	[[ $("$sup" wait --condition next-exit "$crashy") == 1 ]] || fail "$crashy did not exit with 1"
done
sleep 1 # a fourth start would come within the backoff
exits=$(timeline "$crashy" | grep -c '"type":"TaskExited"')
[[ $exits == 3 ]] || fail "$crashy exited $exits times, want 3 (one run and two restarts)"
"$sup" inspect "$crashy" | grep -q '"restart_count": 2' || fail "$crashy: restart_count is not 2"

echo "example harness: all checks passed"
