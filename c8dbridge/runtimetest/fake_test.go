package runtimetest

import (
	"testing"

	"github.com/vigilhq/vigil/c8dbridge"
)

// TestFakeContract runs the Runtime contract against the Fake: where the
// actors, the engine and the facade rely on containerd's behaviour, the
// Fake behaves as c8dbridge's client does against the real daemon
// (c8dbridge's TestRuntimeContract runs the same suite).
func TestFakeContract(t *testing.T) {
	Run(t, func(t *testing.T) Env {
		rt := NewFake()
		go func() { // nobody routes the fake's events here
			for range rt.Events {
			}
		}()
		t.Cleanup(func() { close(rt.Events) })
		return Env{
			Runtime: rt,
			Spec: func(id string) c8dbridge.ContainerSpec {
				return c8dbridge.ContainerSpec{ID: id, Rootfs: "/r", Args: []string{"sleep"}}
			},
			Stdio: func(string) c8dbridge.Stdio { return c8dbridge.Stdio{} },
		}
	})
}
