package vigil_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/containerd/errdefs"

	"github.com/vigilhq/vigil"
	"github.com/vigilhq/vigil/actors/lifecycle"
	"github.com/vigilhq/vigil/c8dbridge"
)

// counterScript prints 0, 1, 2, ... one number a line, five a second.
const counterScript = `i=0; while true; do echo $i; i=$((i+1)); sleep 0.2; done`

// counted returns the numbers a counter container printed, in order.
func counted(t *testing.T, s *vigil.Supervisor, id string) []int {
	t.Helper()
	var out []int
	for _, l := range strings.Fields(logText(t, s.LogPath(id))) {
		n, err := strconv.Atoi(l)
		if err != nil {
			t.Fatalf("log of %s: %q is not a number", id, l)
		}
		out = append(out, n)
	}
	return out
}

// waitCount waits until the counter printed at least n numbers.
func waitCount(t *testing.T, s *vigil.Supervisor, id string, n int) []int {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		got := counted(t, s, id)
		if len(got) >= n {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s printed %v, want %d numbers at least", id, got, n)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// runningCounter creates and starts a counter container and removes it
// when the test ends.
func runningCounter(t *testing.T, e *env, s *vigil.Supervisor, id string) lifecycle.State {
	t.Helper()
	ctx := ctxT(t)
	if _, err := s.Create(ctx, e.config(id, counterScript)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dialRuntime(t, e).DeleteContainer(context.Background(), id) })
	st, err := s.Start(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// TestCheckpointRestore: a checkpoint stops the counter (a user's stop: no
// restart under "always"), and the task restored from it counts on from
// where it was.
func TestCheckpointRestore(t *testing.T) {
	e := newEnv(t)
	if err := c8dbridge.CriuUsable(); err != nil {
		t.Skipf("criu check fails on this host: %s", strings.TrimPrefix(err.Error(), vigil.ErrCriuUnusable.Error()+": "))
	}
	s := e.open(t)
	defer s.Close()
	ctx := ctxT(t)
	cfg := e.config("counter", counterScript)
	cfg.Restart = lifecycle.RestartPolicy{Name: lifecycle.RestartAlways}
	if _, err := s.Create(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dialRuntime(t, e).DeleteContainer(context.Background(), "counter") })
	if _, err := s.Start(ctx, "counter"); err != nil {
		t.Fatal(err)
	}
	waitCount(t, s, "counter", 5)

	dir := filepath.Join(t.TempDir(), "cp1")
	st, err := s.Checkpoint(ctx, "counter", dir, vigil.CheckpointOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if st.Status != lifecycle.StatusExited || !st.StopRequested || st.LastCheckpoint != dir {
		t.Fatalf("after the checkpoint: %+v", st)
	}
	if _, err := os.Stat(filepath.Join(dir, "inventory.img")); err != nil {
		t.Fatalf("no criu image in the checkpoint dir: %v", err)
	}
	before := counted(t, s, "counter")
	time.Sleep(time.Second) // a restart, if one came, would print meanwhile
	if st, _ := s.Inspect(ctx, "counter"); st.Status != lifecycle.StatusExited || st.NextRestart != nil {
		t.Fatalf("the checkpoint's exit was taken for a crash: %+v", st)
	}
	if after := counted(t, s, "counter"); len(after) != len(before) {
		t.Fatalf("the counter went on after its checkpoint: %v then %v", before, after)
	}

	st, err = s.StartFromCheckpoint(ctx, "counter", dir)
	if err != nil {
		t.Fatal(err)
	}
	if st.Status != lifecycle.StatusRunning || st.RestoredFrom != dir {
		t.Fatalf("after the restore: %+v", st)
	}
	got := waitCount(t, s, "counter", len(before)+3)
	last := before[len(before)-1]
	for i, n := range got[len(before):] {
		if n != last+1+i {
			t.Fatalf("restored counter printed %v after %v; want it to go on from %d", got[len(before):], before, last+1)
		}
	}
	if err := s.Remove(ctx, "counter", true); err != nil {
		t.Fatal(err)
	}
}

// TestCheckpointWithoutCriu: on a host where criu cannot run, checkpoint
// and restore fail with criu's reason, journal nothing, and the container
// runs on: a later stop works.
func TestCheckpointWithoutCriu(t *testing.T) {
	e := newEnv(t)
	criuErr := c8dbridge.CriuUsable()
	if criuErr == nil {
		t.Skip("criu check passes on this host: TestCheckpointRestore covers it")
	}
	s := e.open(t)
	ctx := ctxT(t)
	st0 := runningCounter(t, e, s, "nocriu")
	s.Close()
	n0 := journalLen(t, e.cfg.StateDir, "nocriu")
	s = e.open(t)
	defer s.Close()

	dir := filepath.Join(t.TempDir(), "cp")
	_, err := s.Checkpoint(ctx, "nocriu", dir, vigil.CheckpointOptions{})
	switch {
	case !errors.Is(err, vigil.ErrCriuUnusable) || !errdefs.IsNotImplemented(err):
		t.Fatalf("checkpoint without criu: %v, want ErrCriuUnusable (NotImplemented)", err)
	case !strings.Contains(err.Error(), "criu is not usable on this host") || strings.Contains(err.Error(), "\n"):
		t.Fatalf("checkpoint without criu: %q, want one line saying criu is not usable", err)
	case !strings.Contains(err.Error(), strings.TrimPrefix(criuErr.Error(), vigil.ErrCriuUnusable.Error()+": ")):
		t.Fatalf("checkpoint without criu: %q lacks criu's reason %q", err, criuErr)
	}
	t.Logf("checkpoint without criu: %v", err)
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the checkpoint dir was left behind: %v", err)
	}
	// By name, the same, and no directory is left under the state dir.
	if _, err := s.Checkpoint(ctx, "nocriu", "cp1", vigil.CheckpointOptions{}); !errors.Is(err, vigil.ErrCriuUnusable) {
		t.Fatalf("checkpoint by name without criu: %v, want ErrCriuUnusable", err)
	}
	byName, _ := s.CheckpointDir("nocriu", "cp1")
	if _, err := os.Stat(byName); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the checkpoint dir %s was left behind: %v", byName, err)
	}
	// A restore fails the same way, before anything happens.
	fake := t.TempDir()
	if err := os.WriteFile(filepath.Join(fake, "inventory.img"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := s.StartFromCheckpoint(ctx, "nocriu", fake); !errors.Is(err, vigil.ErrCriuUnusable) {
		t.Fatalf("start from a checkpoint without criu: %v, want ErrCriuUnusable", err)
	}
	st, err := s.Inspect(ctx, "nocriu")
	if err != nil || st.Status != lifecycle.StatusRunning || st.Pid != st0.Pid || st.Checkpoint != nil || st.StopRequested {
		t.Fatalf("after the refused checkpoint: %+v, %v; want it running as before (pid %d)", st, err, st0.Pid)
	}
	if got := taskState(t, e, "nocriu"); got != c8dbridge.TaskRunning {
		t.Fatalf("containerd's task is %s, want running", got)
	}
	s.Close()
	if n := journalLen(t, e.cfg.StateDir, "nocriu"); n != n0 {
		t.Fatalf("the refused checkpoint journaled %d records", n-n0)
	}
	s = e.open(t)
	defer s.Close()
	if st, err := s.Stop(ctx, "nocriu", time.Second); err != nil || st.Status != lifecycle.StatusExited {
		t.Fatalf("stop after the refused checkpoint: %+v, %v", st, err)
	}
}

// TestCheckpointBadInput: each bad request is refused with a clear error
// and changes nothing.
func TestCheckpointBadInput(t *testing.T) {
	e := newEnv(t)
	s := e.open(t)
	defer s.Close()
	ctx := ctxT(t)
	runningCounter(t, e, s, "bad")
	if _, err := s.Create(ctx, e.config("idle", "true")); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dialRuntime(t, e).DeleteContainer(context.Background(), "idle") })
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(t.TempDir(), "missing")
	// A directory others may write, and a link to a good one: criu would
	// write there, or a restore read what another user put there.
	open := filepath.Join(t.TempDir(), "open")
	if err := os.Mkdir(open, 0o700); err != nil {
		t.Fatal(err)
	}
	os.Chmod(open, 0o777)
	os.WriteFile(filepath.Join(open, "inventory.img"), nil, 0o600)
	good := t.TempDir()
	os.WriteFile(filepath.Join(good, "inventory.img"), nil, 0o600)
	link := filepath.Join(t.TempDir(), "link")
	if err := os.Symlink(good, link); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		call func() error
		want error
		text string
	}{
		{"relative dir", func() error {
			_, err := s.Checkpoint(ctx, "bad", "rel/cp", vigil.CheckpointOptions{})
			return err
		}, vigil.ErrInvalidArgument, "neither a name"},
		{"bad name", func() error {
			_, err := s.Checkpoint(ctx, "bad", "..", vigil.CheckpointOptions{})
			return err
		}, vigil.ErrInvalidArgument, "neither a name"},
		{"no name", func() error {
			_, err := s.Checkpoint(ctx, "bad", "", vigil.CheckpointOptions{})
			return err
		}, vigil.ErrInvalidArgument, "name or the absolute path"},
		{"dir others may write", func() error {
			_, err := s.Checkpoint(ctx, "bad", filepath.Join(open, "cp"), vigil.CheckpointOptions{})
			return err
		}, vigil.ErrInvalidArgument, "writable by group or others"},
		{"dir through a symbolic link", func() error {
			_, err := s.Checkpoint(ctx, "bad", filepath.Join(link, "cp"), vigil.CheckpointOptions{})
			return err
		}, vigil.ErrInvalidArgument, "is a symbolic link"},
		{"start from a dir others may write", func() error {
			_, err := s.StartFromCheckpoint(ctx, "idle", open)
			return err
		}, vigil.ErrInvalidArgument, "writable by group or others"},
		{"start from a dir through a symbolic link", func() error {
			_, err := s.StartFromCheckpoint(ctx, "idle", link)
			return err
		}, vigil.ErrInvalidArgument, "is a symbolic link"},
		{"start from a name never written", func() error {
			_, err := s.StartFromCheckpoint(ctx, "idle", "never")
			return err
		}, vigil.ErrInvalidArgument, "does not exist"},
		{"dir under a file", func() error {
			_, err := s.Checkpoint(ctx, "bad", filepath.Join(file, "cp"), vigil.CheckpointOptions{})
			return err
		}, vigil.ErrInvalidArgument, "checkpoint directory"},
		{"dir is a file", func() error {
			_, err := s.Checkpoint(ctx, "bad", file, vigil.CheckpointOptions{})
			return err
		}, vigil.ErrInvalidArgument, "is not a directory"},
		{"not running", func() error {
			_, err := s.Checkpoint(ctx, "idle", missing, vigil.CheckpointOptions{})
			return err
		}, vigil.ErrInvalidTransition, "it is created"},
		{"no such container", func() error {
			_, err := s.Checkpoint(ctx, "nosuch", missing, vigil.CheckpointOptions{})
			return err
		}, vigil.ErrNotFound, ""},
		{"invalid ID", func() error {
			_, err := s.Checkpoint(ctx, "../x", missing, vigil.CheckpointOptions{})
			return err
		}, vigil.ErrInvalidID, ""},
		{"start from a missing dir", func() error {
			_, err := s.StartFromCheckpoint(ctx, "idle", missing)
			return err
		}, vigil.ErrInvalidArgument, "does not exist"},
		{"start from a dir without a checkpoint", func() error {
			_, err := s.StartFromCheckpoint(ctx, "idle", t.TempDir())
			return err
		}, vigil.ErrInvalidArgument, "holds no checkpoint"},
		{"start from a relative dir", func() error {
			_, err := s.StartFromCheckpoint(ctx, "idle", "rel/cp")
			return err
		}, vigil.ErrInvalidArgument, "neither a name"},
	} {
		err := tc.call()
		if !errors.Is(err, tc.want) || !strings.Contains(fmtErr(err), tc.text) {
			t.Errorf("%s: %v, want %v saying %q", tc.name, err, tc.want, tc.text)
		}
	}
	if _, err := os.Stat(missing); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a refused checkpoint made its dir: %v", err)
	}
	if _, err := os.Stat(filepath.Join(open, "cp")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a refused checkpoint made its dir: %v", err)
	}
	// A name is a directory of the container's under the state dir.
	want := filepath.Join(e.cfg.StateDir, "containers", "bad", "checkpoints", "cp1")
	if dir, err := s.CheckpointDir("bad", "cp1"); err != nil || dir != want {
		t.Errorf("CheckpointDir(bad, cp1) = %q, %v; want %q", dir, err, want)
	}
	if dir, err := s.CheckpointDir("bad", good); err != nil || dir != good {
		t.Errorf("CheckpointDir(bad, %s) = %q, %v; want it as is", good, dir, err)
	}
	if st, _ := s.Inspect(ctx, "bad"); st.Status != lifecycle.StatusRunning || st.Error != "" {
		t.Errorf("after the bad requests: %+v", st)
	}
	if st, _ := s.Inspect(ctx, "idle"); st.Status != lifecycle.StatusCreated || st.Error != "" {
		t.Errorf("after the bad requests: %+v", st)
	}
}

func fmtErr(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
