package actors

import (
	"errors"
	"reflect"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vigilhq/vigil/actors/lifecycle"
	"github.com/vigilhq/vigil/journal"
	"github.com/vigilhq/vigil/journal/journaltest"
)

// countingStore counts the records and snapshots Recover hands out.
type countingStore struct {
	journal.Store
	records, snapshots atomic.Int64
}

func (s *countingStore) Recover(c string, snap func(journal.Snapshot) error, fn func(journal.Record) error) error {
	return s.Store.Recover(c, func(sn journal.Snapshot) error {
		s.snapshots.Add(1)
		return snap(sn)
	}, func(r journal.Record) error {
		s.records.Add(1)
		return fn(r)
	})
}

// cycle lets the running task of id exit and starts it again, journaling
// three records: TaskExited, StartRequested, TaskStarted.
func (h *harness) cycle(id string) {
	h.t.Helper()
	pid := h.spawn(id, false)
	h.rt.Exit(id, 3)
	if s, err := h.cmd(pid, Wait{Condition: WaitNotRunning}); err != nil || s.Status != lifecycle.StatusExited {
		h.t.Fatalf("wait for the exit: %+v, %v", s, err)
	}
	if s, err := h.cmd(pid, Start{}); err != nil || s.Status != lifecycle.StatusRunning {
		h.t.Fatalf("start again: %+v, %v", s, err)
	}
}

// TestRecoveryFromSnapshot runs a container through more records than
// DefaultSnapshotEvery and checks that a snapshot was saved, that an actor
// started afresh replays only the records after it, and that the state it
// rebuilds is the one a replay of every record gives: snapshots lose
// nothing of lifecycle.State.
func TestRecoveryFromSnapshot(t *testing.T) {
	store := journal.NewMemory()
	h := newHarness(t, store)
	// A config with every part set, and a restart policy that schedules a
	// restart (an hour away) after each exit, so that the snapshots carry
	// a pending restart and its history too.
	pid := h.spawn("c1", true)
	cfg := lifecycle.Config{ID: "c1", Rootfs: "/r", Args: []string{"sleep", "1"}, Env: []string{"A=1"}, Cwd: "/tmp",
		Labels:  map[string]string{"team": "infra"},
		Restart: lifecycle.RestartPolicy{Name: lifecycle.RestartOnFailure, Delay: time.Hour, MaxDelay: 2 * time.Hour, Jitter: 0.25}}
	if _, err := h.cmd(pid, Create{Config: cfg}); err != nil {
		t.Fatal(err)
	}
	if _, err := h.cmd(pid, Start{}); err != nil {
		t.Fatal(err)
	}
	for range DefaultSnapshotEvery/3 + 5 {
		h.cycle("c1")
	}
	h.close()
	full := h.replayed("c1")
	total := count(t, store, "c1")

	got := journaltest.RecoverAll(t, store, "c1")
	if got.Snapshot == nil {
		t.Fatalf("no snapshot after %d records", total)
	}
	if got.Snapshot.Seq < DefaultSnapshotEvery || got.Snapshot.Seq > uint64(total) {
		t.Errorf("the snapshot covers record %d of %d, want at least %d", got.Snapshot.Seq, total, DefaultSnapshotEvery)
	}
	folded := got.Snapshot.State.(lifecycle.State)
	for _, r := range got.Records {
		folded = lifecycle.Apply(folded, r.Event.(lifecycle.Event))
	}
	if !reflect.DeepEqual(folded, full) {
		t.Fatalf("snapshot and tail give\n%+v\nthe replay of every record gives\n%+v", folded, full)
	}

	counting := &countingStore{Store: store}
	h2 := newHarness(t, counting)
	s, err := h2.cmd(h2.spawn("c1", false), Inspect{})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(s, full) {
		t.Errorf("recovered state\n%+v\ndiffers from the replay of every record\n%+v", s, full)
	}
	if n := counting.records.Load(); counting.snapshots.Load() != 1 || n >= DefaultSnapshotEvery || n != int64(total)-int64(got.Snapshot.Seq) {
		t.Errorf("recovery read %d snapshots and %d of %d records, want 1 snapshot and the %d records after it",
			counting.snapshots.Load(), n, total, total-int(got.Snapshot.Seq))
	}
}

// TestSnapshotFailureIsNotACommandFailure has every snapshot fail: the
// commands succeed, and recovery replays every record.
func TestSnapshotFailureIsNotACommandFailure(t *testing.T) {
	var tried atomic.Int64
	store := &journaltest.Faulty{Store: journal.NewMemory(), FailSnapshot: func(string, uint64) error {
		tried.Add(1)
		return errors.New("no space for snapshots")
	}}
	h := newHarness(t, store)
	h.running("c1")
	for range DefaultSnapshotEvery/3 + 2 {
		h.cycle("c1")
	}
	if tried.Load() < 2 {
		t.Errorf("%d snapshots tried, want one after each append past %d records", tried.Load(), DefaultSnapshotEvery)
	}
	h.close()
	if got := journaltest.RecoverAll(t, store, "c1"); got.Snapshot != nil || len(got.Records) != count(t, store, "c1") {
		t.Errorf("recovery after failed snapshots: %+v", got.Snapshot)
	}
}

// TestRemovedContainerIsRetired removes containers from a journal that
// keeps the history of one removed container: the older one's history is
// deleted, the newer one's kept.
func TestRemovedContainerIsRetired(t *testing.T) {
	store := journal.NewMemoryWithOptions(journal.Options{Retention: journal.Retention{KeepCount: 1}})
	h := newHarness(t, store)
	for _, id := range []string{"old", "new", "live"} {
		h.running(id)
	}
	for _, id := range []string{"old", "new"} {
		if _, err := h.cmd(h.spawn(id, false), Remove{Force: true}); err != nil {
			t.Fatal(err)
		}
	}
	names, err := store.Containers()
	if err != nil || !reflect.DeepEqual(names, []string{"live", "new"}) {
		t.Fatalf("Containers() = %q, %v; want live and new (the one removed container kept)", names, err)
	}
	if s := h.replayed("new"); s.Status != lifecycle.StatusRemoved {
		t.Errorf("the kept history of new ends in %v, want removed", s.Status)
	}
	// The ID of the deleted history is free and starts afresh.
	pid := h.running("old")
	if s, err := h.cmd(pid, Inspect{}); err != nil || s.Starts != 1 {
		t.Errorf("old created again: %+v, %v; want a first start", s, err)
	}
}
