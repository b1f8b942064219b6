package vigil_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/vigilhq/vigil"
	"github.com/vigilhq/vigil/actors"
	"github.com/vigilhq/vigil/actors/lifecycle"
)

// TestEventsSinceThenLive: a reader that connects late gets what it missed
// from the journal, then new events as they come, each exactly once and in
// order.
func TestEventsSinceThenLive(t *testing.T) {
	e := newEnv(t)
	s := e.open(t)
	defer s.Close()
	ctx := ctxT(t)
	start := time.Now()

	run := func(id, script string) {
		t.Helper()
		if _, err := s.Create(ctx, e.config(id, script)); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Start(ctx, id); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Wait(ctx, id, actors.WaitNotRunning); err != nil {
			t.Fatal(err)
		}
	}
	run("early", "exit 3") // before the reader connects

	var (
		mu  sync.Mutex
		got []vigil.Event
	)
	count := func(id, typ string) int {
		mu.Lock()
		defer mu.Unlock()
		n := 0
		for _, ev := range got {
			if ev.Container == id && (typ == "" || ev.Type == typ) {
				n++
			}
		}
		return n
	}
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		done <- s.Events(rctx, vigil.EventFilter{Since: start}, func(ev vigil.Event) error {
			mu.Lock()
			got = append(got, ev)
			mu.Unlock()
			return nil
		})
	}()
	waitUntil(t, "the early container's exit from the journal", func() bool { return count("early", "TaskExited") == 1 })

	run("late", "exit 4") // while the reader is connected
	waitUntil(t, "the late container's exit, live", func() bool { return count("late", "TaskExited") == 1 })
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}

	// Each container's events: seq 1, 2, 3... each once, in order, and
	// the same as the journal holds.
	mu.Lock()
	defer mu.Unlock()
	next := map[string]uint64{}
	for _, ev := range got {
		if ev.Seq != next[ev.Container]+1 {
			t.Fatalf("%s: event #%d (%s) after #%d: lost, repeated or out of order", ev.Container, ev.Seq, ev.Type, next[ev.Container])
		}
		next[ev.Container] = ev.Seq
	}
	for _, id := range []string{"early", "late"} {
		if next[id] < 5 {
			t.Errorf("%s: only %d events", id, next[id])
		}
		st, _ := s.Inspect(ctx, id)
		if st.Exit == nil {
			t.Fatalf("%s has no exit", id)
		}
	}

	// A bounded query of one type ends by itself.
	var exits []vigil.Event
	err := s.Events(ctx, vigil.EventFilter{Since: start, Until: time.Now(), Types: []string{"TaskExited"}},
		func(ev vigil.Event) error { exits = append(exits, ev); return nil })
	if err != nil || len(exits) != 2 || exits[0].Container != "early" || exits[1].Container != "late" {
		t.Fatalf("exits: %+v, %v", exits, err)
	}
	if x, ok := exits[1].Event.(lifecycle.TaskExited); !ok || x.Code != 4 {
		t.Fatalf("late exit: %#v", exits[1].Event)
	}
	for _, id := range []string{"early", "late"} {
		if err := s.Remove(ctx, id, false); err != nil {
			t.Error(err)
		}
	}
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
