package actors

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/vigilhq/vigil/actors/lifecycle"
	"github.com/vigilhq/vigil/journal"
)

// JournalBound is the documented bound (ARCHITECTURE.md, "Compaction
// behind the snapshots") of the journal file of one container that
// restarts for ever, with the default snapshot interval and the journal compacted
// behind its snapshots (the daemon's default).
const JournalBound = 512 << 10

// TestRestartLoopKeepsTheJournalBounded restarts one container 10,000
// times through its restart policy (the fake runtime's task exits, the
// policy schedules the restart, the restart timer fires: the test fires it
// at once rather than wait for the delay) on a bbolt journal opened as the
// daemon opens it, and checks that the records kept stay at most about two
// snapshot intervals, that the file stays under JournalBound, and that an
// actor started afresh recovers the state of all 10,000 restarts.
func TestRestartLoopKeepsTheJournalBounded(t *testing.T) {
	const restarts = 10_000
	dir := t.TempDir()
	if fi, err := os.Stat("/dev/shm"); err == nil && fi.IsDir() {
		// The bound is about the file, not the disk: spare the fsyncs.
		if dir, err = os.MkdirTemp("/dev/shm", "vigil-journal-"); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.RemoveAll(dir) })
	}
	path := filepath.Join(dir, "journal.db")
	store, err := journal.Open(path, journal.Options{CompactLive: true})
	if err != nil {
		t.Fatal(err)
	}
	h := newHarness(t, store)
	// The delay is long: only the test fires the restart timer.
	pid := h.runningWith("c1", lifecycle.RestartPolicy{Name: lifecycle.RestartAlways, Delay: time.Hour, MaxDelay: time.Hour})
	maxRecords := 0
	for n := 1; n <= restarts; n++ {
		h.rt.Exit("c1", 1)
		if s, err := h.cmd(pid, Wait{Condition: WaitNotRunning}); err != nil || s.NextRestart == nil {
			t.Fatalf("restart %d: after the exit: %+v, %v; want a restart scheduled", n, s, err)
		}
		next := h.inspect(pid).NextRestart
		h.system.Root.Send(pid, restartTimerFired{attempt: next.Attempt, due: next.Due})
		for deadline := time.Now().Add(5 * time.Second); ; {
			s := h.inspect(pid) // after the timer's message in the mailbox
			if s.Status == lifecycle.StatusRunning && s.RestartCount == n {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("restart %d did not happen: %+v", n, s)
			}
			time.Sleep(time.Millisecond)
		}
		if n%50 == 0 {
			recs := count(t, store, "c1")
			maxRecords = max(maxRecords, recs)
			if limit := 2*DefaultSnapshotEvery + 8; recs > limit {
				t.Fatalf("after %d restarts the journal keeps %d records of the container, want at most %d", n, recs, limit)
			}
			fi, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			if fi.Size() > JournalBound {
				t.Fatalf("after %d restarts the journal file is %d bytes, want at most %d", n, fi.Size(), JournalBound)
			}
		}
	}
	h.close()
	fi, _ := os.Stat(path)
	t.Logf("%d restarts: at most %d records kept, file %d bytes", restarts, maxRecords, fi.Size())

	// A new actor recovers every restart from the snapshot, the base and
	// the records kept.
	h2 := newHarness(t, store)
	s := h2.inspect(h2.spawn("c1", false))
	if s.RestartCount != restarts {
		t.Errorf("recovered RestartCount %d, want %d", s.RestartCount, restarts)
	}
	h2.close()
	if err := store.Close(); err != nil {
		t.Fatal(err)
	}
	ro, err := journal.Open(path, journal.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	rep, err := ro.Verify(journal.VerifyOptions{Fold: func(state any, r journal.Record) (any, error) {
		s, _ := state.(lifecycle.State)
		return lifecycle.Apply(s, r.Event.(lifecycle.Event)), nil
	}})
	if err != nil || len(rep.Problems) != 0 || rep.Bases != 1 {
		t.Errorf("Verify: %+v, %v; want one base and no problems", rep, err)
	}
}
