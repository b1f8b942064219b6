package vigil_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vigilhq/vigil/actors/lifecycle"
	"github.com/vigilhq/vigil/c8dbridge"
)

// noStartFailed fails t if the journal of the closed supervisor at
// stateDir holds a StartFailed for id.
func noStartFailed(t *testing.T, stateDir, id string) {
	t.Helper()
	for _, ev := range journalEvents(t, stateDir, id) {
		if f, ok := ev.(lifecycle.StartFailed); ok {
			t.Fatalf("%s: StartFailed journaled: %s", id, f.Reason)
		}
	}
}

// The shim's state dir of a task, left by a creation a crash interrupted
// (containerd had not cleaned it up yet), makes the shim refuse the next
// task with "mkdir .../ID: file exists". That is no failure of the
// container: the start stays an intent and is carried out once the state
// is gone, with no StartFailed and no retry of the restart policy used up
// (docs/RELIABILITY.md, bug 3; the crash harness's cycle 133).
func TestStartWaitsOutLeftoverShimState(t *testing.T) {
	e, p := newPrivateEnv(t)
	s := e.open(t)
	ctx := ctxT(t)
	cfg := e.config("stale", "echo run; sleep 1000")
	cfg.Restart = lifecycle.RestartPolicy{Name: lifecycle.RestartOnFailure, MaxRetries: 2}
	if _, err := s.Create(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(p.RunDir, "state", "io.containerd.runtime.v2.task", e.cfg.Namespace, "stale")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	_, err := s.Start(ctx, "stale")
	if err == nil || !strings.Contains(err.Error(), "file exists") || !c8dbridge.IsLeftover(err) {
		t.Fatalf("start with the shim's old state dir in the way: %v; want a leftover-state error", err)
	}
	st, err := s.Inspect(ctx, "stale")
	if err != nil {
		t.Fatal(err)
	}
	if st.Status != lifecycle.StatusStarting || st.Exit != nil {
		t.Fatalf("after the refused start: %s, exit %+v; want still starting", st.Status, st.Exit)
	}
	// containerd (or here, the test) cleans the state up: the next
	// reconcile carries the start out.
	time.Sleep(1500 * time.Millisecond) // at least one retry meets the dir
	if err := os.Remove(dir); err != nil {
		t.Fatal(err)
	}
	st = eventuallyState(t, s, "stale", 30*time.Second, func(st lifecycle.State) bool { return st.Status == lifecycle.StatusRunning })
	if st.Starts != 1 || st.RestartCount != 0 {
		t.Fatalf("running after the retry: starts %d, restart_count %d; want 1 and 0", st.Starts, st.RestartCount)
	}
	if err := s.Remove(ctx, "stale", true); err != nil {
		t.Fatal(err)
	}
	s.Close()
	noStartFailed(t, e.cfg.StateDir, "stale")
}

// A task that containerd still holds for the container (here one started
// behind the supervisor's back) makes the task's creation fail with
// "already exists", and a running one cannot be cleared. The start is not
// recorded as failed: the next reconcile finds the task running and adopts
// it as the start's run (docs/RELIABILITY.md, bug 3; cycle 18).
func TestStartAdoptsTaskInTheWay(t *testing.T) {
	e := newEnv(t)
	s := e.open(t)
	defer s.Close()
	ctx := ctxT(t)
	cfg := e.config("inway", "sleep 1000")
	if _, err := s.Create(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	rt, err := c8dbridge.Dial(ctx, c8dbridge.Config{Address: e.cfg.ContainerdAddress, Namespace: e.cfg.Namespace,
		BundleRoot: filepath.Join(e.cfg.StateDir, "containers")})
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close()
	pid, err := rt.StartTask(ctx, "inway", c8dbridge.Stdio{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Start(ctx, "inway"); err != nil && !c8dbridge.IsLeftover(err) {
		t.Fatalf("start with a running task in the way: %v; want success or a leftover-state error", err)
	}
	st := eventuallyState(t, s, "inway", 30*time.Second, func(st lifecycle.State) bool { return st.Status != lifecycle.StatusStarting })
	if st.Status != lifecycle.StatusRunning || st.Pid != pid || st.Starts != 1 {
		t.Fatalf("after the start: %s pid %d starts %d (exit %+v); want running with the task in the way (pid %d), one start",
			st.Status, st.Pid, st.Starts, st.Exit, pid)
	}
	if err := s.Remove(ctx, "inway", true); err != nil {
		t.Fatal(err)
	}
	s.Close()
	noStartFailed(t, e.cfg.StateDir, "inway")
}
