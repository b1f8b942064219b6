package actors

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/vigilhq/vigil/actors/lifecycle"
	"github.com/vigilhq/vigil/journal"
)

// failingCheckpoint is a containerd whose checkpoints fail as criu's do.
type failingCheckpoint struct{ *fakeRuntime }

func (failingCheckpoint) CheckpointTask(context.Context, string, string, bool) error {
	return errors.New("criu dump failed")
}

func eventNames(t *testing.T, store journal.Store, id string) []string {
	t.Helper()
	var names []string
	if err := store.Replay(id, func(r journal.Record) error {
		names = append(names, lifecycle.EventName(r.Event.(lifecycle.Event)))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return names
}

// TestCheckpointJournalsIntentThenOutcome: the intent is journaled before
// containerd is asked, then the outcome; the exit that follows is a
// user's stop, recorded once.
func TestCheckpointJournalsIntentThenOutcome(t *testing.T) {
	h := newHarness(t, journal.NewMemory())
	pid := h.running("cp")
	w := h.system.Root.RequestFuture(pid, Wait{Condition: WaitNotRunning}, 5*time.Second)
	st, err := h.cmd(pid, Checkpoint{Dir: "/ckpt"})
	if err != nil || st.LastCheckpoint != "/ckpt" || !st.StopRequested {
		t.Fatalf("checkpoint: %+v, %v", st, err)
	}
	v, err := w.Result()
	if err != nil {
		t.Fatal(err)
	}
	if got := v.(Reply).State; got.Status != lifecycle.StatusExited || got.Exit == nil || got.Exit.Code != 137 {
		t.Fatalf("after the checkpoint's exit: %+v", got)
	}
	names := eventNames(t, h.journal, "cp")
	want := []string{"CheckpointRequested", "Checkpointed", "TaskExited"}
	if len(names) < 3 || !slices.Equal(names[len(names)-3:], want) {
		t.Fatalf("journal: %v, want it to end with %v", names, want)
	}
}

// TestCheckpointFailureKeepsTaskRunning: a failed checkpoint is journaled
// as such and the task runs on.
func TestCheckpointFailureKeepsTaskRunning(t *testing.T) {
	fake := newFakeRuntime()
	h := newHarnessRuntime(t, fake, failingCheckpoint{fake})
	pid := h.running("cp")
	s0, _ := h.cmd(pid, Inspect{})
	if _, err := h.cmd(pid, Checkpoint{Dir: "/ckpt", LeaveRunning: true}); err == nil {
		t.Fatal("a failed checkpoint reported success")
	}
	st, _ := h.cmd(pid, Inspect{})
	if st.Status != lifecycle.StatusRunning || st.Pid != s0.Pid || st.Checkpoint != nil || st.StopRequested || st.Error == "" {
		t.Fatalf("after a failed checkpoint: %+v", st)
	}
	if names := eventNames(t, h.journal, "cp"); names[len(names)-1] != "CheckpointFailed" {
		t.Fatalf("journal: %v, want it to end with CheckpointFailed", names)
	}
	if _, err := h.cmd(pid, Stop{}); err != nil {
		t.Fatalf("stop after a failed checkpoint: %v", err)
	}
}
