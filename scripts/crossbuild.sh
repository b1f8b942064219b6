#!/usr/bin/env bash
# Usage: scripts/crossbuild.sh [OUTDIR]
#
# Builds the one binary for the boxes vigil runs on: linux/amd64,
# linux/arm64 and linux/arm (GOARM=7), static and without cgo, stripped
# (-s -w) and with -trimpath, into OUTDIR (default bin/cross), checks that
# each is a static executable of its architecture, and prints a table of
# their sizes (docs/BENCHMARKS.md records it). make test runs it.
set -euo pipefail

repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo_root"
out=${1:-bin/cross}
mkdir -p "$out"

# ELF e_machine of each target: x86-64 62, AArch64 183, ARM 40.
declare -A machine=([amd64]=62 [arm64]=183 [arm]=40)
rows=()
for arch in amd64 arm64 arm; do
	bin=$out/supervisor-linux-$arch
	CGO_ENABLED=0 GOOS=linux GOARCH=$arch GOARM=7 go build -trimpath -ldflags='-s -w' -o "$bin" ./cmd/supervisor
	# Static: no program interpreter (PT_INTERP, program header type 3).
	# Checked with Go's own ELF reader, so no binutils are needed.
	go run ./scripts/elfcheck "$bin" "${machine[$arch]}"
	size=$(stat -c %s "$bin")
	rows+=("| linux/$arch$([[ $arch == arm ]] && echo ' (GOARM=7)') | $size | $(awk -v s="$size" 'BEGIN{printf "%.1f", s/1048576}') |")
done
echo "| target | bytes | MiB |"
echo "|---|---|---|"
printf '%s\n' "${rows[@]}"
