package vigil_test

import (
	"errors"
	"testing"
	"time"

	"github.com/vigilhq/vigil"
	"github.com/vigilhq/vigil/actors/lifecycle"
)

// TestNamespaceTakenOverUnderARunningSupervisor: a supervisor whose
// namespace another journal took over (while it ran) learns it at its next
// reconcile, stops watching containerd, and refuses what needs containerd
// naming the owner; the containers stay as they are.
func TestNamespaceTakenOverUnderARunningSupervisor(t *testing.T) {
	e, p := newPrivateEnv(t)
	ctx := ctxT(t)
	first := e.open(t)
	defer first.Close()
	if _, err := first.Create(ctx, e.config("web", "sleep 600")); err != nil {
		t.Fatal(err)
	}
	before, err := first.Start(ctx, "web")
	if err != nil {
		t.Fatal(err)
	}

	// Another journal refuses the namespace, then takes it over.
	other := e.cfg
	other.StateDir = t.TempDir()
	if s, err := vigil.Open(ctx, other); !errors.Is(err, vigil.ErrNamespaceOwned) {
		if s != nil {
			s.Close()
		}
		t.Fatalf("a second journal opened the namespace: %v", err)
	}
	other.TakeOverNamespace = true
	second, err := vigil.Open(ctx, other)
	if err != nil {
		t.Fatal(err)
	}
	if list, err := second.List(ctx); err != nil || len(list) != 0 {
		t.Fatalf("the new owner lists %v (%v)", list, err)
	}
	second.Close()

	// containerd restarts: the first supervisor reconciles, and finds the
	// namespace no longer its own.
	p.Restart()
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, err := first.Stop(ctx, "web", time.Second)
		if errors.Is(err, vigil.ErrNamespaceOwned) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("stop after the take-over: %v", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if h, _ := first.Health(ctx); h.OwnerError == "" {
		t.Fatalf("health does not say the namespace is another's: %+v", h)
	}
	st, err := first.Inspect(ctx, "web")
	if err != nil || st.Status != lifecycle.StatusRunning || st.Pid != before.Pid {
		t.Fatalf("web after the take-over: %+v, %v", st, err)
	}
	if got := e.containersIn(t, p.Address); len(got) != 1 || got[0] != "web" {
		t.Fatalf("containerd has %v", got)
	}
}
