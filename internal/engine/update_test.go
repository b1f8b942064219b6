package engine

import (
	"slices"
	"testing"

	"github.com/vigilhq/vigil/actors/lifecycle"
)

// TestOrphanSnapshots: the snapshot rule keeps the snapshots a container
// owns (its own, those its state names during and after an update) and
// names the others.
func TestOrphanSnapshots(t *testing.T) {
	img := lifecycle.Config{Image: "app:1"}
	st := func(id string, status lifecycle.Status, f func(*lifecycle.State)) lifecycle.State {
		s := lifecycle.State{ID: id, Status: status, Config: img}
		if f != nil {
			f(&s)
		}
		return s
	}
	states := []lifecycle.State{
		st("plain", lifecycle.StatusRunning, nil),
		st("moved", lifecycle.StatusRunning, func(s *lifecycle.State) { s.Snapshot = "moved@2" }),
		st("grace", lifecycle.StatusRunning, func(s *lifecycle.State) {
			s.Snapshot = "grace@1"
			s.Update = &lifecycle.PendingUpdate{Phase: lifecycle.UpdateGrace,
				From: lifecycle.ImageVersion{Snapshot: "grace"}, To: lifecycle.ImageVersion{Snapshot: "grace@1"}}
		}),
		st("preparing", lifecycle.StatusRunning, func(s *lifecycle.State) {
			s.Update = &lifecycle.PendingUpdate{Phase: lifecycle.UpdatePreparing,
				From: lifecycle.ImageVersion{Snapshot: "preparing"}, To: lifecycle.ImageVersion{Snapshot: "preparing@3"}}
		}),
		st("release", lifecycle.StatusRunning, func(s *lifecycle.State) { s.Snapshot, s.ReleaseSnapshot = "release@1", "release" }),
		st("gone", lifecycle.StatusRemoved, func(s *lifecycle.State) { s.Snapshot = "gone@1" }),
		st("creating", lifecycle.StatusCreating, nil),
	}
	keys := []string{"plain", "moved@2", "moved@1", "grace", "grace@1", "preparing", "preparing@3",
		"release", "release@1", "gone@1", "gone", "creating", "other", "incontainerd", "incontainerd@1"}
	got := OrphanSnapshots(keys, []string{"plain", "moved", "incontainerd"}, states)
	slices.Sort(got)
	want := []string{"gone", "gone@1", "incontainerd@1", "moved@1", "other"}
	if !slices.Equal(got, want) {
		t.Fatalf("orphans %v, want %v", got, want)
	}
}
