package actors

import (
	"errors"
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
