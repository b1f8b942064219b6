package vigil_test

import (
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/vigilhq/vigil"
	"github.com/vigilhq/vigil/actors/lifecycle"
	"github.com/vigilhq/vigil/c8dbridge"
)

func taskState(t *testing.T, e *env, id string) c8dbridge.TaskState {
	t.Helper()
	rt, err := c8dbridge.Dial(ctxT(t), c8dbridge.Config{Address: e.cfg.ContainerdAddress, Namespace: e.cfg.Namespace,
		BundleRoot: filepath.Join(e.cfg.StateDir, "containers")})
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close()
	st, err := rt.TaskStatus(ctxT(t), id)
	if err != nil {
		t.Fatal(err)
	}
	return st.State
}

func TestPauseUnpause(t *testing.T) {
	e := newEnv(t)
	s := e.open(t)
	defer s.Close()
	ctx := ctxT(t)
	if _, err := s.Create(ctx, e.config("p", "sleep 600")); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Pause(ctx, "p"); !errors.Is(err, vigil.ErrInvalidTransition) {
		t.Fatalf("pause of a created container: %v", err)
	}
	if _, err := s.Start(ctx, "p"); err != nil {
		t.Fatal(err)
	}
	st, err := s.Pause(ctx, "p")
	if err != nil || !st.Paused || st.Status != lifecycle.StatusRunning {
		t.Fatalf("pause: %+v %v", st, err)
	}
	if got := taskState(t, e, "p"); got != c8dbridge.TaskPaused {
		t.Fatalf("containerd says %s after pause", got)
	}
	// Bad input: pausing a paused container is refused and changes nothing.
	if _, err := s.Pause(ctx, "p"); !errors.Is(err, vigil.ErrInvalidTransition) {
		t.Fatalf("second pause: %v", err)
	}
	if st2, _ := s.Inspect(ctx, "p"); !st2.Paused || st2.Pid != st.Pid {
		t.Fatalf("a refused pause changed the state: %+v", st2)
	}
	// The pause is journaled: a new supervisor knows it.
	s.Close()
	s = e.open(t)
	defer s.Close()
	if st, _ := s.Inspect(ctx, "p"); !st.Paused {
		t.Fatalf("pause lost across a restart: %+v", st)
	}
	if st, err := s.Unpause(ctx, "p"); err != nil || st.Paused {
		t.Fatalf("unpause: %+v %v", st, err)
	}
	if got := taskState(t, e, "p"); got != c8dbridge.TaskRunning {
		t.Fatalf("containerd says %s after unpause", got)
	}
	if _, err := s.Unpause(ctx, "p"); !errors.Is(err, vigil.ErrInvalidTransition) {
		t.Fatalf("unpause of a running container: %v", err)
	}
	// Stop of a paused container delivers the signal.
	if _, err := s.Pause(ctx, "p"); err != nil {
		t.Fatal(err)
	}
	st, err = s.Stop(ctx, "p", time.Second)
	if err != nil || st.Status != lifecycle.StatusExited || st.Paused {
		t.Fatalf("stop of a paused container: %+v %v", st, err)
	}
	if err := s.Remove(ctx, "p", false); err != nil {
		t.Fatal(err)
	}
}

// A pause or unpause done behind vigil's back, by another containerd
// client, is recorded: from the event while vigil runs, by reconciliation
// when it did not.
func TestPauseBehindVigilsBack(t *testing.T) {
	e := newEnv(t)
	s := e.open(t)
	ctx := ctxT(t)
	if _, err := s.Create(ctx, e.config("q", "sleep 600")); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Start(ctx, "q"); err != nil {
		t.Fatal(err)
	}
	rt, err := c8dbridge.Dial(ctx, c8dbridge.Config{Address: e.cfg.ContainerdAddress, Namespace: e.cfg.Namespace,
		BundleRoot: filepath.Join(e.cfg.StateDir, "containers")})
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close()

	if err := rt.PauseTask(ctx, "q"); err != nil {
		t.Fatal(err)
	}
	eventuallyState(t, s, "q", 10*time.Second, func(st lifecycle.State) bool { return st.Paused })

	s.Close()
	if err := rt.UnpauseTask(ctx, "q"); err != nil { // while no supervisor runs
		t.Fatal(err)
	}
	s = e.open(t)
	defer s.Close()
	if st, _ := s.Inspect(ctx, "q"); st.Paused || st.Status != lifecycle.StatusRunning {
		t.Fatalf("a unpause while away was not reconciled: %+v", st)
	}
	s.Close()
	if err := rt.PauseTask(ctx, "q"); err != nil {
		t.Fatal(err)
	}
	s = e.open(t)
	defer s.Close()
	if st, _ := s.Inspect(ctx, "q"); !st.Paused {
		t.Fatalf("a pause while away was not reconciled: %+v", st)
	}
	if err := s.Remove(ctx, "q", true); err != nil {
		t.Fatal(err)
	}
}
