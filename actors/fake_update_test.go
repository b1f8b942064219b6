package actors

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/containerd/errdefs"

	"github.com/vigilhq/vigil/actors/lifecycle"
	"github.com/vigilhq/vigil/c8dbridge"
	"github.com/vigilhq/vigil/journal"
)

// fakeUpdater is the snapshots of the fake containerd, for unit tests of
// the actors' updates only: which exist, and which one each container is
// on (its ID until a swap).
type fakeUpdater struct {
	rt    *fakeRuntime
	mu    sync.Mutex
	snaps map[string]bool
	on    map[string]string
}

var _ c8dbridge.Updater = (*fakeUpdater)(nil)

func newFakeUpdater(rt *fakeRuntime) *fakeUpdater {
	return &fakeUpdater{rt: rt, snaps: map[string]bool{}, on: map[string]string{}}
}

func (u *fakeUpdater) PrepareSnapshot(_ context.Context, key string, _ c8dbridge.ContainerSpec) error {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.snaps[key] = true
	return nil
}

func (u *fakeUpdater) SwapSnapshot(ctx context.Context, spec c8dbridge.ContainerSpec, key string) error {
	st, err := u.rt.TaskStatus(ctx, spec.ID)
	if err != nil {
		return err
	}
	if st.State == c8dbridge.TaskRunning || st.State == c8dbridge.TaskPaused {
		return fmt.Errorf("fake: task runs: %w", errdefs.ErrFailedPrecondition)
	}
	u.rt.DeleteTask(ctx, spec.ID)
	u.mu.Lock()
	defer u.mu.Unlock()
	if !u.snaps[key] {
		return fmt.Errorf("fake: snapshot %s: %w", key, errdefs.ErrNotFound)
	}
	u.on[spec.ID] = key
	return nil
}

func (u *fakeUpdater) key(id string) string {
	if k, ok := u.on[id]; ok {
		return k
	}
	return id
}

func (u *fakeUpdater) ContainerSnapshot(ctx context.Context, id string) (string, error) {
	if _, err := u.rt.TaskStatus(ctx, id); err != nil {
		return "", err
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.key(id), nil
}

func (u *fakeUpdater) RemoveSnapshot(ctx context.Context, key string) error {
	ids, err := u.rt.Containers(ctx)
	if err != nil {
		return err
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	for _, id := range ids {
		if u.key(id) == key {
			return fmt.Errorf("fake: snapshot %s in use: %w", key, errdefs.ErrFailedPrecondition)
		}
	}
	delete(u.snaps, key)
	return nil
}

func (u *fakeUpdater) ImageDefaults(context.Context, string, string) (c8dbridge.ImageConfig, error) {
	return c8dbridge.ImageConfig{}, nil
}

func (u *fakeUpdater) keys() []string {
	u.mu.Lock()
	defer u.mu.Unlock()
	var ks []string
	for k := range u.snaps {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

// updHarness is an actor harness whose fake containerd has snapshots;
// "a" runs image "old".
func updHarness(t *testing.T) (*harness, *fakeUpdater, lifecycle.Config) {
	rt := newFakeRuntime()
	up := newFakeUpdater(rt)
	h := newHarnessDeps(t, journal.NewMemory(), rt, func(d *Deps) { d.Updater = up })
	stop := 20 * time.Millisecond
	cfg := lifecycle.Config{ID: "a", Image: "old", ImageDigest: "sha256:old", Args: []string{"sleep"},
		Host: lifecycle.HostConfig{StopTimeout: &stop}}
	pid := h.spawn("a", true)
	if _, err := h.cmd(pid, Create{Config: cfg}); err != nil {
		t.Fatal(err)
	}
	up.mu.Lock()
	up.snaps["a"] = true
	up.mu.Unlock()
	if s, err := h.cmd(pid, Start{}); err != nil || s.Status != lifecycle.StatusRunning {
		t.Fatalf("start: %v %+v", err, s)
	}
	return h, up, cfg
}

func newImage(cfg lifecycle.Config, image string) lifecycle.Config {
	cfg.Image, cfg.ImageDigest = image, "sha256:"+image
	return cfg
}

func eventTypes(t *testing.T, store journal.Store, id string) []string {
	t.Helper()
	var out []string
	if err := store.Replay(id, func(r journal.Record) error {
		out = append(out, fmt.Sprintf("%T", r.Event))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestActorUpdateCommits: the actor prepares the new snapshot, stops the
// old task, swaps and starts the new one, answers in the grace period,
// commits when its timer fires and releases the old snapshot.
func TestActorUpdateCommits(t *testing.T) {
	h, up, cfg := updHarness(t)
	pid := h.spawn("a", false)
	before, _ := h.cmd(pid, Inspect{})
	s, err := h.cmd(pid, Update{Config: newImage(cfg, "new"), Grace: 50 * time.Millisecond})
	if err != nil || s.Update == nil || s.Update.Phase != lifecycle.UpdateGrace || s.Pid == before.Pid || s.Status != lifecycle.StatusRunning {
		t.Fatalf("update: %v %+v", err, s)
	}
	eventually(t, "the commit and the release", func() bool {
		s, _ = h.cmd(pid, Inspect{})
		return s.Update == nil && s.ReleaseSnapshot == "" && s.Previous != nil
	})
	if s.Config.Image != "new" || s.Previous.Config.Image != "old" || s.Snapshot != "a@1" {
		t.Fatalf("after the commit: %+v", s)
	}
	if got := up.keys(); !slices.Equal(got, []string{"a@1"}) {
		t.Fatalf("snapshots %v, want the new one only", got)
	}
	if !slices.Contains(h.rt.Sent(), 15) {
		t.Errorf("the old task got no SIGTERM: %v", h.rt.Sent())
	}
	if got := h.replayed("a"); got.Snapshot != "a@1" || got.Update != nil || got.ReleaseSnapshot != "" {
		t.Errorf("the journal's state: %+v", got)
	}
}

// TestActorUpdateRollsBackAFailedStart: a new image whose task cannot
// start brings the old one back, and its snapshot is released; the reply
// is the start's error.
func TestActorUpdateRollsBackAFailedStart(t *testing.T) {
	h, up, cfg := updHarness(t)
	h.rt.OnStart = func(id string) error {
		if k, _ := up.ContainerSnapshot(context.Background(), id); k == "a@1" {
			return fmt.Errorf("fake: exec failed: %w", errdefs.ErrInvalidArgument)
		}
		return nil
	}
	pid := h.spawn("a", false)
	s, err := h.cmd(pid, Update{Config: newImage(cfg, "new"), Grace: time.Hour})
	if err == nil || s.Update != nil || s.Status != lifecycle.StatusRunning || s.Config.Image != "old" {
		t.Fatalf("update to an image that cannot start: %v %+v", err, s)
	}
	if got := up.keys(); !slices.Equal(got, []string{"a"}) {
		t.Fatalf("snapshots %v, want the old one only", got)
	}
	want := []string{"UpdateRequested", "UpdateSwapped", "StartFailed", "UpdateRolledBack", "TaskStarted", "UpdateAborted", "SnapshotReleased"}
	got := eventTypes(t, h.journal, "a")
	var tail []string
	for _, e := range got[len(got)-len(want):] {
		tail = append(tail, e[len("lifecycle."):])
	}
	if !slices.Equal(tail, want) {
		t.Fatalf("journal %v, want it to end with %v", got, want)
	}
}

// TestActorRollbackDuringGrace: a user's rollback during the grace period
// stops the new task and starts the old one on its snapshot.
func TestActorRollbackDuringGrace(t *testing.T) {
	h, up, cfg := updHarness(t)
	pid := h.spawn("a", false)
	if _, err := h.cmd(pid, Update{Config: newImage(cfg, "new"), Grace: time.Hour}); err != nil {
		t.Fatal(err)
	}
	s, err := h.cmd(pid, Rollback{})
	if err != nil || s.Update != nil || s.Config.Image != "old" || s.Status != lifecycle.StatusRunning || s.Snapshot != "" {
		t.Fatalf("rollback: %v %+v", err, s)
	}
	if got := up.keys(); !slices.Equal(got, []string{"a"}) {
		t.Fatalf("snapshots %v, want the old one only", got)
	}
}

// TestActorUpdateWithoutUpdater: a runtime that cannot update refuses an
// update with NotImplemented and journals nothing.
func TestActorUpdateWithoutUpdater(t *testing.T) {
	h := newHarness(t, journal.NewMemory())
	pid := h.running("a")
	n := count(t, h.journal, "a")
	_, err := h.cmd(pid, Update{Config: lifecycle.Config{ID: "a", Image: "x", ImageDigest: "sha256:x", Args: []string{"sleep"}}, Grace: time.Second})
	if !errdefs.IsNotImplemented(err) || count(t, h.journal, "a") != n {
		t.Fatalf("update without an updater: %v; records %d, were %d", err, count(t, h.journal, "a"), n)
	}
}
