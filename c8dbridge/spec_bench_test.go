package c8dbridge_test

import (
	"testing"

	"github.com/vigilhq/vigil/actors/lifecycle"
	"github.com/vigilhq/vigil/c8dbridge"
	"github.com/vigilhq/vigil/internal/testenv"
)

// BenchmarkSpecFor measures one OCI spec built from a container's
// configuration with vigil's default confinement (containerd's seccomp
// profile, a cgroup namespace): the work a create does once
// (docs/BENCHMARKS.md). No containerd is needed.
func BenchmarkSpecFor(b *testing.B) {
	rootfs := testenv.Rootfs(b)
	cfg := lifecycle.Config{ID: "bench", Rootfs: rootfs, Args: []string{"/bin/true"}}
	for b.Loop() {
		if _, err := c8dbridge.SpecFor(cfg); err != nil {
			b.Fatal(err)
		}
	}
}
