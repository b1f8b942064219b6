package vigil_test

import (
	"context"
	"errors"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vigilhq/vigil"
	"github.com/vigilhq/vigil/actors/lifecycle"
	"github.com/vigilhq/vigil/c8dbridge"
	"github.com/vigilhq/vigil/stdio"
)

// hostCgroup is the cgroup version containerd's shim reads on this host.
func hostCgroup() int {
	if _, err := os.Stat("/sys/fs/cgroup/cgroup.controllers"); err == nil {
		return 2
	}
	return 1
}

func TestStatsAndTop(t *testing.T) {
	e := newEnv(t)
	s := e.open(t)
	defer s.Close()
	ctx := ctxT(t)
	if _, err := s.Create(ctx, e.config("st", "exec sleep 600")); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Stats(ctx, "st"); !errors.Is(err, vigil.ErrInvalidTransition) {
		t.Fatalf("stats of a created container: %v", err)
	}
	st, err := s.Start(ctx, "st")
	if err != nil {
		t.Fatal(err)
	}
	// Reading journals nothing: the journal is read with the supervisor
	// closed, before and after a supervisor that only reads.
	s.Close()
	before := journalLen(t, e.cfg.StateDir, "st")
	s = e.open(t)
	for range 3 {
		if _, err := s.Stats(ctx, "st"); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Top(ctx, "st"); err != nil {
			t.Fatal(err)
		}
	}
	s.Close()
	if got := journalLen(t, e.cfg.StateDir, "st"); got != before {
		t.Fatalf("stats and top changed the journal from %d to %d records", before, got)
	}
	s = e.open(t)
	defer s.Close()

	stats, err := s.Stats(ctx, "st")
	if err != nil {
		t.Fatal(err)
	}
	if stats.MemoryUsage == 0 || stats.Pids < 1 || stats.Read.IsZero() || stats.Cgroup != hostCgroup() {
		t.Fatalf("stats of a running container: %+v (host cgroup v%d)", stats, hostCgroup())
	}
	procs, err := s.Top(ctx, "st")
	if err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(procs, func(p c8dbridge.Process) bool { return p.Pid == st.Pid })
	if i < 0 || strings.Join(procs[i].Args, " ") != "sleep 600" || procs[i].State == "" {
		t.Fatalf("top: %+v; want pid %d running sleep 600", procs, st.Pid)
	}
	// A paused container still has its cgroup and processes.
	if _, err := s.Pause(ctx, "st"); err != nil {
		t.Fatal(err)
	}
	if stats, err := s.Stats(ctx, "st"); err != nil || stats.Pids < 1 {
		t.Fatalf("stats of a paused container: %+v %v", stats, err)
	}
	if _, err := s.Unpause(ctx, "st"); err != nil {
		t.Fatal(err)
	}

	if _, err := s.Stop(ctx, "st", time.Second); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Stats(ctx, "st"); !errors.Is(err, vigil.ErrInvalidTransition) || !strings.Contains(err.Error(), "not running") {
		t.Fatalf("stats of a stopped container: %v", err)
	}
	if _, err := s.Top(ctx, "st"); !errors.Is(err, vigil.ErrInvalidTransition) {
		t.Fatalf("top of a stopped container: %v", err)
	}
	if _, err := s.Stats(ctx, "nosuch"); !errors.Is(err, vigil.ErrNotFound) {
		t.Fatalf("stats of no container: %v", err)
	}
}

func TestRestart(t *testing.T) {
	e := newEnv(t)
	s := e.open(t)
	defer s.Close()
	ctx := ctxT(t)
	// A shell that exits on SIGTERM once it has said that its trap is set.
	if _, err := s.Create(ctx, e.config("rs", "trap 'exit 0' TERM; echo trapped; while :; do sleep 0.1; done")); err != nil {
		t.Fatal(err)
	}
	// A created container is only started.
	first, err := s.Restart(ctx, "rs", 5*time.Second)
	if err != nil || first.Status != lifecycle.StatusRunning || first.Pid == 0 {
		t.Fatalf("restart of a created container: %+v %v", first, err)
	}
	// A SIGTERM sent before the trap is set would end the shell otherwise.
	waitLogged(t, s.LogPath("rs"), "trapped\n")
	start := time.Now()
	second, err := s.Restart(ctx, "rs", 5*time.Second)
	if err != nil || second.Status != lifecycle.StatusRunning || second.Pid == first.Pid {
		t.Fatalf("restart: %+v %v; want running with a pid other than %d", second, err, first.Pid)
	}
	if took := time.Since(start); took > 4*time.Second {
		t.Errorf("restart took %v; the container exits on SIGTERM at once", took)
	}
	if second.Exit == nil || second.Exit.Code != 0 {
		t.Errorf("the exit before the restart: %+v; want code 0 (SIGTERM trapped)", second.Exit)
	}
	if got := taskState(t, e, "rs"); got != c8dbridge.TaskRunning {
		t.Fatalf("containerd says %s after restart", got)
	}

	// A container that ignores SIGTERM (the init of a PID namespace has no
	// default action for it) is killed after the timeout.
	if _, err := s.Create(ctx, e.config("deaf", "exec sleep 600")); err != nil {
		t.Fatal(err)
	}
	old, err := s.Start(ctx, "deaf")
	if err != nil {
		t.Fatal(err)
	}
	start = time.Now()
	st, err := s.Restart(ctx, "deaf", time.Second)
	took := time.Since(start)
	if err != nil || st.Status != lifecycle.StatusRunning || st.Pid == old.Pid {
		t.Fatalf("restart of a container that ignores SIGTERM: %+v %v", st, err)
	}
	if st.Exit == nil || st.Exit.Code != 137 || took < time.Second {
		t.Fatalf("exit %+v after %v; want SIGKILL (137) after the 1s timeout", st.Exit, took)
	}
	for _, id := range []string{"rs", "deaf"} {
		if err := s.Remove(ctx, id, true); err != nil {
			t.Fatal(err)
		}
	}
}

// waitLogged waits until the log at path has text, which a container
// prints once it is ready for what the test does next.
func waitLogged(t *testing.T, path, text string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		var b strings.Builder
		err := stdio.Read(context.Background(), path, stdio.ReadOptions{}, func(e stdio.Entry) error {
			b.WriteString(e.Log)
			return nil
		})
		if err == nil && strings.Contains(b.String(), text) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%q not in the log %s after 20 s (last read: %q, %v)", text, path, b.String(), err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
