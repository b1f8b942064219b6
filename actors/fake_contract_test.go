package actors

import (
	"testing"

	"github.com/vigilhq/vigil/c8dbridge"
	"github.com/vigilhq/vigil/c8dbridge/runtimetest"
)

// TestFakeRuntimeContract runs the Runtime contract against the fake the
// actors' unit tests use: where the actors rely on containerd's behaviour,
// the fake behaves as c8dbridge's client does against the real daemon
// (c8dbridge's TestRuntimeContract).
func TestFakeRuntimeContract(t *testing.T) {
	runtimetest.Run(t, func(t *testing.T) runtimetest.Env {
		rt := newFakeRuntime()
		go func() { // nobody routes the fake's events here
			for range rt.events {
			}
		}()
		t.Cleanup(func() { close(rt.events) })
		return runtimetest.Env{
			Runtime: rt,
			Spec: func(id string) c8dbridge.ContainerSpec {
				return c8dbridge.ContainerSpec{ID: id, Rootfs: "/r", Args: []string{"sleep"}}
			},
			Stdio: func(string) c8dbridge.Stdio { return c8dbridge.Stdio{} },
		}
	})
}
