#!/usr/bin/env bash
# Usage: scripts/test.sh [go test flags and packages]
#
# Runs all of vigil's tests, the integration tests against a real containerd
# and runc included, and (for the whole suite) cross-compiles the binary
# (scripts/crossbuild.sh). On a fresh machine it first installs what is missing
# (scripts/deps.sh), builds the busybox rootfs (testdata/mkrootfs.sh) and
# starts a private containerd (scripts/containerd.sh); a containerd it
# started is stopped again at the end, with the shims it started.
#
# Set VIGIL_REQUIRE_INTEGRATION=1 (CI does) to turn every skipped
# integration test into a failure, and VIGIL_TEST_RACE=0 to run without the
# race detector (make bench does).
set -euo pipefail

repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo_root"

bash scripts/deps.sh
rootfs=$(bash testdata/mkrootfs.sh | tail -n 1)

started=0
if ! bash scripts/containerd.sh status >/dev/null 2>&1; then
	bash scripts/containerd.sh start
	started=1
fi
cleanup() {
	if ((started)); then
		bash scripts/containerd.sh stop --all || true
	fi
}
trap cleanup EXIT

export VIGIL_CONTAINERD_ADDRESS
VIGIL_CONTAINERD_ADDRESS=$(bash scripts/containerd.sh address)
export VIGIL_ROOTFS=$rootfs

if (($# == 0)); then
	set -- ./...
fi
race=-race
if [[ ${VIGIL_TEST_RACE:-1} == 0 ]]; then
	race= # benchmarks: the race detector would distort the figures
fi
go test $race -count=1 -timeout 30m "$@"

# The whole suite also cross-compiles the binary for linux/amd64, arm64 and
# arm (v7), static without cgo, and prints their sizes (docs/BENCHMARKS.md).
if [[ "$*" == "./..." ]]; then
	cross=$(mktemp -d)
	bash scripts/crossbuild.sh "$cross"
	rm -rf "$cross"
fi

# The whole suite also runs a short crash harness (crashtest/, docs/RELIABILITY.md):
# VIGIL_CRASHTEST_CYCLES cycles of kill -9 and failpoints (0 leaves it out), and
# a kill -9 at every failpoint of an update to another image.
if [[ "$*" == "./..." ]] && ((${VIGIL_CRASHTEST_CYCLES:-30} > 0)); then
	go test -count=1 -timeout 20m -tags crashtest -v -run '^(TestCrash|TestCrashDuringUpdate)$' ./crashtest/ \
		-args -cycles="${VIGIL_CRASHTEST_CYCLES:-30}"
fi
