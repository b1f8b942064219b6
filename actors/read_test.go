package actors

import (
	"errors"
	"testing"

	"github.com/vigilhq/vigil/actors/lifecycle"
	"github.com/vigilhq/vigil/c8dbridge"
	"github.com/vigilhq/vigil/journal"
)

// Stats and Top answer for a running task, refuse one that does not run,
// and journal nothing.
func TestStatsAndTopOnlyRead(t *testing.T) {
	store := journal.NewMemory()
	h := newHarness(t, store)
	pid := h.running("r")
	st, _ := h.cmd(pid, Inspect{})
	before := count(t, store, "r")

	sr := h.ask(pid, Stats{}).(StatsReply)
	if sr.Err != nil || sr.Stats.Pids != 1 || sr.Stats.MemoryUsage != uint64(st.Pid) {
		t.Fatalf("stats: %+v", sr)
	}
	tr := h.ask(pid, Top{}).(TopReply)
	if tr.Err != nil || len(tr.Processes) != 1 || tr.Processes[0].Pid != st.Pid {
		t.Fatalf("top: %+v", tr)
	}
	if got := count(t, store, "r"); got != before {
		t.Fatalf("stats and top journaled: %d records, then %d", before, got)
	}

	// The task vanished behind the actor's back: not running, not a 500.
	h.rt.UpdateTask("r", func(task *c8dbridge.TaskStatus) { task.State = c8dbridge.TaskAbsent })
	if sr := h.ask(pid, Stats{}).(StatsReply); !errors.Is(sr.Err, lifecycle.ErrInvalidTransition) {
		t.Fatalf("stats of a vanished task: %v", sr.Err)
	}

	created := h.spawn("c", true)
	if _, err := h.cmd(created, Create{Config: lifecycle.Config{ID: "c", Rootfs: "/r", Args: []string{"sleep"}}}); err != nil {
		t.Fatal(err)
	}
	if sr := h.ask(created, Stats{}).(StatsReply); !errors.Is(sr.Err, lifecycle.ErrInvalidTransition) {
		t.Fatalf("stats of a created container: %v", sr.Err)
	}
	if tr := h.ask(created, Top{}).(TopReply); !errors.Is(tr.Err, lifecycle.ErrInvalidTransition) {
		t.Fatalf("top of a created container: %v", tr.Err)
	}
}
