package actors

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/vigilhq/vigil/actors/lifecycle"
	"github.com/vigilhq/vigil/c8dbridge"
	"github.com/vigilhq/vigil/journal"
)

// containerd reports a task's state as unknown when its shim does not
// answer in time (a frozen or overloaded shim). Reconciliation must not take
// that for a vanished task: it decides nothing, neither from the shared view
// nor from its own question, and records the real exit once the shim
// answers. (Found by the crash harness: a false exit 255 for a running
// task, whose real code was then lost.)
func TestReconcileDecidesNothingOnUnknownTask(t *testing.T) {
	store := journal.NewMemory()
	h := newHarness(t, store)
	h.running("c1")
	h.close()

	var pid uint32
	h.rt.UpdateTask("c1", func(task *c8dbridge.TaskStatus) {
		pid = task.Pid
		task.State = c8dbridge.TaskUnknown
	})

	h2 := newHarnessWith(t, store, h.rt)
	actor := h2.spawn("c1", false)
	n := count(t, store, "c1")
	for _, known := range []*Known{
		nil, // the actor asks containerd itself
		{Exists: true, Task: c8dbridge.TaskStatus{State: c8dbridge.TaskUnknown, Pid: pid}, Asked: time.Now()},
	} {
		s, err := h2.cmd(actor, Reconcile{Known: known})
		if !errors.Is(err, errTaskUnknown) {
			t.Errorf("reconcile (known %v): err %v, want errTaskUnknown", known != nil, err)
		}
		if s.Status != lifecycle.StatusRunning || s.Exit != nil {
			t.Fatalf("reconcile (known %v) decided on an unknown task: %s, exit %+v", known != nil, s.Status, s.Exit)
		}
	}
	if m := count(t, store, "c1"); m != n {
		t.Fatalf("reconcile journaled %d records on an unknown task", m-n)
	}

	// The shim answers again: the task had exited with 42.
	h2.rt.UpdateTask("c1", func(task *c8dbridge.TaskStatus) {
		task.State, task.ExitCode, task.ExitedAt = c8dbridge.TaskStopped, 42, time.Unix(1700000000, 0).UTC()
	})
	s, err := h2.cmd(actor, Reconcile{})
	if err != nil {
		t.Fatal(err)
	}
	if s.Status != lifecycle.StatusExited || s.Exit == nil || s.Exit.Code != 42 {
		t.Fatalf("after the shim answered: %s, exit %+v; want exited with 42", s.Status, s.Exit)
	}
}

func TestLeftoverDelay(t *testing.T) {
	var total time.Duration
	for n := 1; n <= maxLeftoverRetries; n++ {
		d := leftoverDelay(n)
		if d < time.Second || d > 8*time.Second {
			t.Fatalf("try %d: delay %v, want 1 s to 8 s", n, d)
		}
		total += d
	}
	if leftoverDelay(1) != time.Second || leftoverDelay(4) != 8*time.Second || total != 47*time.Second {
		t.Fatalf("delays %v, %v, total %v; want 1 s, 8 s, 47 s", leftoverDelay(1), leftoverDelay(4), total)
	}
}

// A start that leftover state refuses journals nothing and is tried again
// by the actor's own reconcile; once the state is gone the start is carried
// out. State that stays in the way makes a StartFailed after
// maxLeftoverRetries tries (docs/RELIABILITY.md, bug 3).
func TestLeftoverStartIsRetriedThenBounded(t *testing.T) {
	defer func(n int) { maxLeftoverRetries = n }(maxLeftoverRetries)
	maxLeftoverRetries = 2
	for _, clears := range []bool{true, false} {
		h := newHarness(t, journal.NewMemory())
		var mu sync.Mutex
		tries := 0
		h.rt.OnStart = func(string) error {
			mu.Lock()
			defer mu.Unlock()
			tries++
			if clears && tries > 1 {
				return nil
			}
			return fmt.Errorf("%w: task c1: already exists", c8dbridge.ErrLeftover)
		}
		pid := h.spawn("c1", true)
		if _, err := h.cmd(pid, Create{Config: lifecycle.Config{ID: "c1", Rootfs: "/r", Args: []string{"sleep"}}}); err != nil {
			t.Fatal(err)
		}
		s, err := h.cmd(pid, Start{})
		if !c8dbridge.IsLeftover(err) || s.Status != lifecycle.StatusStarting {
			t.Fatalf("clears %v: start: %v, %s; want a leftover error and still starting", clears, err, s.Status)
		}
		want := lifecycle.StatusRunning
		if !clears {
			want = lifecycle.StatusExited
		}
		eventually(t, "the start settled", func() bool {
			s, err := h.cmd(pid, Inspect{})
			return err == nil && s.Status == want
		})
		failed := 0
		h.journal.Replay("c1", func(r journal.Record) error {
			if _, ok := r.Event.(lifecycle.StartFailed); ok {
				failed++
			}
			return nil
		})
		mu.Lock()
		n := tries
		mu.Unlock()
		switch {
		case clears && (failed != 0 || n != 2):
			t.Errorf("cleared: %d StartFailed, %d tries; want 0 and 2", failed, n)
		case !clears && (failed != 1 || n != maxLeftoverRetries+1):
			t.Errorf("stays: %d StartFailed, %d tries; want 1 and %d", failed, n, maxLeftoverRetries+1)
		}
		h.close()
	}
}
