package c8dbridge_test

import (
	"path/filepath"
	"testing"

	"github.com/vigilhq/vigil/c8dbridge"
	"github.com/vigilhq/vigil/c8dbridge/runtimetest"
	"github.com/vigilhq/vigil/stdio"
)

// TestRuntimeContract runs the Runtime contract against the real client,
// containerd and runc; the actors run the same suite against their fake.
func TestRuntimeContract(t *testing.T) {
	runtimetest.Run(t, func(t *testing.T) runtimetest.Env {
		c, rootfs, bundle := c8dbridge.NewTestClient(t)
		return runtimetest.Env{
			Runtime: c,
			Spec: func(id string) c8dbridge.ContainerSpec {
				return c8dbridge.ContainerSpec{ID: id, Rootfs: rootfs,
					Args: []string{"sh", "-c", "trap 'exit 0' TERM; while true; do sleep 1; done"}}
			},
			Stdio: func(id string) c8dbridge.Stdio {
				return c8dbridge.Stdio{LogPath: stdio.LogPath(filepath.Join(bundle, id))}
			},
		}
	})
}
