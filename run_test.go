package vigil_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/vigilhq/vigil"
	"github.com/vigilhq/vigil/actors/lifecycle"
)

// Run creates and starts in one command: the create's outcome and the
// start's intent are one journal commit (their records carry the commit's
// time); WaitAndRemove answers the exit and removes the container in the
// same call.
func TestEmbeddedRunThenWaitAndRemove(t *testing.T) {
	e := newEnv(t)
	s := e.open(t)
	defer s.Close()
	ctx := ctxT(t)

	st, err := s.Run(ctx, e.config("job", "echo hi; exec sleep 0.3"))
	if err != nil {
		t.Fatal(err)
	}
	if st.Status != lifecycle.StatusRunning || st.Pid == 0 {
		t.Fatalf("after Run: %s, pid %d; want running", st.Status, st.Pid)
	}
	st, err = s.WaitAndRemove(ctx, "job")
	if err != nil || st.Exit == nil || st.Exit.Code != 0 {
		t.Fatalf("WaitAndRemove: %+v, %v", st.Exit, err)
	}
	if _, err := s.Inspect(ctx, "job"); !errors.Is(err, vigil.ErrNotFound) {
		t.Fatalf("inspect after WaitAndRemove: %v; want not found", err)
	}

	evctx, cancel := context.WithCancel(ctx)
	defer cancel()
	at := map[string]time.Time{}
	var order []string
	err = s.Events(evctx, vigil.EventFilter{Containers: []string{"job"}, Until: time.Now()}, func(ev vigil.Event) error {
		at[ev.Type] = ev.Time
		order = append(order, ev.Type)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"CreateRequested", "ContainerCreated", "StartRequested", "TaskLaunching", "TaskStarted", "TaskExited", "RemoveRequested", "ContainerRemoved"}
	if len(order) != len(want) {
		t.Fatalf("events %q, want %q", order, want)
	}
	for i := range want {
		if order[i] != want[i] {
			t.Fatalf("events %q, want %q", order, want)
		}
	}
	if !at["ContainerCreated"].Equal(at["StartRequested"]) {
		t.Errorf("ContainerCreated at %v and StartRequested at %v: want one commit", at["ContainerCreated"], at["StartRequested"])
	}
	if at["CreateRequested"].Equal(at["ContainerCreated"]) || at["StartRequested"].Equal(at["TaskStarted"]) {
		t.Errorf("an intent in the commit of its outcome: %v", at)
	}
}
