package actors

import (
	"errors"
	"sync/atomic"
	"testing"

	"github.com/containerd/errdefs"

	"github.com/vigilhq/vigil/actors/lifecycle"
	"github.com/vigilhq/vigil/journal"
)

// TestActorEnforcesWhatTheFacadeChecks: a message sent straight to a
// container's PID meets the checks the facade makes before it sends one:
// containerd reachable (Deps.Available) and, for a Create, the host
// (Deps.PrepareCreate). A refused command journals nothing; Inspect and Wait
// need no containerd.
func TestActorEnforcesWhatTheFacadeChecks(t *testing.T) {
	var down atomic.Bool
	errDown := errdefs.ErrUnavailable.WithMessage("containerd unavailable")
	errHost := errors.New("rootfs is not a directory")
	h := newHarnessDeps(t, journal.NewMemory(), newFakeRuntime(), func(d *Deps) {
		d.Available = func() error {
			if down.Load() {
				return errDown
			}
			return nil
		}
		d.PrepareCreate = func(cfg lifecycle.Config) (lifecycle.Config, error) {
			if cfg.Rootfs == "/missing" {
				return cfg, errHost
			}
			cfg.Labels = map[string]string{"prepared": "yes"}
			return cfg, nil
		}
	})

	pid := h.spawn("c1", true)
	if _, err := h.cmd(pid, Create{Config: lifecycle.Config{ID: "c1", Rootfs: "/missing", Args: []string{"sleep"}}}); !errors.Is(err, errHost) {
		t.Fatalf("create with a missing rootfs: %v, want the host check's error", err)
	}
	// A refused create leaves no actor: the ID is free again.
	pid = h.spawn("c1", true)
	if _, err := h.cmd(pid, Create{Config: lifecycle.Config{ID: "c1", Rootfs: "/r"}}); !errors.Is(err, lifecycle.ErrInvalidArgument) {
		t.Fatalf("create without args: %v, want ErrInvalidArgument", err)
	}
	if got := h.replayed("c1"); got.Status != lifecycle.StatusNone {
		t.Fatalf("refused creates journaled %+v", got)
	}

	c2 := h.running("c2")
	// What PrepareCreate completed is what is journaled.
	if got := h.replayed("c2"); got.Config.Labels["prepared"] != "yes" {
		t.Fatalf("the journaled config is not the prepared one: %+v", got.Config)
	}
	down.Store(true)
	for _, msg := range []any{Start{}, Stop{}, Kill{Signal: 9}, Pause{}, Remove{Force: true}} {
		if _, err := h.cmd(c2, msg); !errors.Is(err, errDown) {
			t.Errorf("%T while containerd is down: %v, want its Unavailable error", msg, err)
		}
	}
	if r := h.ask(c2, Stats{}).(StatsReply); !errors.Is(r.Err, errDown) {
		t.Errorf("Stats while containerd is down: %v", r.Err)
	}
	if st, err := h.cmd(c2, Inspect{}); err != nil || st.Status != lifecycle.StatusRunning {
		t.Errorf("Inspect while containerd is down: %+v, %v", st, err)
	}
	if got := h.replayed("c2"); got.Status != lifecycle.StatusRunning || got.StopRequested {
		t.Errorf("refused commands changed the journal: %+v", got)
	}
	down.Store(false)
	if _, err := h.cmd(c2, Kill{Signal: 9}); err != nil {
		t.Errorf("kill once containerd is back: %v", err)
	}
}
