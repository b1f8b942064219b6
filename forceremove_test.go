package vigil_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/containerd/errdefs"

	"github.com/vigilhq/vigil"
	"github.com/vigilhq/vigil/actors/lifecycle"
	"github.com/vigilhq/vigil/c8dbridge"
)

// dialRuntime connects to the containerd of e, in its namespace, to look
// at what vigil left there.
func dialRuntime(t *testing.T, e *env) *c8dbridge.Client {
	t.Helper()
	rt, err := c8dbridge.Dial(ctxT(t), c8dbridge.Config{Address: e.cfg.ContainerdAddress, Namespace: e.cfg.Namespace,
		BundleRoot: filepath.Join(e.cfg.StateDir, "containers")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rt.Close() })
	return rt
}

// checkGone checks that containerd has nothing left of id, nor of any
// other container of the test's namespace.
func checkGone(t *testing.T, e *env, id string) {
	t.Helper()
	rt := dialRuntime(t, e)
	if _, err := rt.TaskStatus(ctxT(t), id); !errdefs.IsNotFound(err) {
		t.Errorf("containerd still has %s after rm -f: %v", id, err)
	}
	left, err := rt.TaskStatuses(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	if len(left) != 0 {
		t.Errorf("left in the namespace after rm -f: %v", left)
	}
}

// checkProcessGone checks that the host process pid is gone (or a zombie
// about to be reaped) within a few seconds: rm -f leaves nothing running.
func checkProcessGone(t *testing.T, pid uint32) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			return // gone
		}
		// The state follows the command in parentheses: "pid (comm) S ...".
		if f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:])); len(f) > 0 && f[0] == "Z" {
			return
		}
		if time.Now().After(deadline) {
			t.Errorf("process %d still runs after rm -f: %s", pid, b)
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// forceRemove removes id with force, in bounded time, and checks that
// exactly one exit of the run with pid was journaled.
func forceRemove(t *testing.T, e *env, s *vigil.Supervisor, id string, pid uint32) lifecycle.TaskExited {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
	defer cancel()
	t0 := time.Now()
	if err := s.Remove(ctx, id, true); err != nil {
		t.Fatalf("rm -f %s after %v: %v", id, time.Since(t0), err)
	}
	t.Logf("rm -f %s took %v", id, time.Since(t0))
	if st, err := s.Inspect(ctx, id); !errdefs.IsNotFound(err) && err == nil {
		t.Errorf("inspect after rm -f: %+v, want not found", st)
	}
	checkGone(t, e, id)
	checkProcessGone(t, pid)
	s.Close()
	exits := exitsJournaled(t, e.cfg.StateDir)[id]
	if len(exits) != 1 || exits[0].Pid != pid {
		t.Fatalf("exits journaled for %s: %+v, want exactly one, of pid %d", id, exits, pid)
	}
	return exits[0]
}

// TestForceRemovePaused: rm -f of a paused container kills it,
// journals its exit once and leaves nothing in containerd.
func TestForceRemovePaused(t *testing.T) {
	e := newEnv(t)
	s := e.open(t)
	defer s.Close()
	ctx := ctxT(t)
	if _, err := s.Create(ctx, e.config("paused", "sleep 600")); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dialRuntime(t, e).DeleteContainer(context.Background(), "paused") })
	st, err := s.Start(ctx, "paused")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Pause(ctx, "paused"); err != nil {
		t.Fatal(err)
	}
	if got := taskState(t, e, "paused"); got != c8dbridge.TaskPaused {
		t.Fatalf("task is %s after pause, want paused", got)
	}
	x := forceRemove(t, e, s, "paused", st.Pid)
	if x.Code != 137 {
		t.Errorf("exit journaled: %+v, want code 137", x)
	}
}

// TestForceRemovePausedBehindVigilsBack: a task paused by another client
// (vigil's state says running, not paused) is removed all the same.
func TestForceRemovePausedBehindVigilsBack(t *testing.T) {
	e := newEnv(t)
	s := e.open(t)
	defer s.Close()
	ctx := ctxT(t)
	if _, err := s.Create(ctx, e.config("sly", "sleep 600")); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dialRuntime(t, e).DeleteContainer(context.Background(), "sly") })
	st, err := s.Start(ctx, "sly")
	if err != nil {
		t.Fatal(err)
	}
	s.Close() // so that no event tells vigil of the pause
	if err := dialRuntime(t, e).PauseTask(ctx, "sly"); err != nil {
		t.Fatal(err)
	}
	s = e.open(t)
	defer s.Close()
	forceRemove(t, e, s, "sly", st.Pid)
}

// TestForceRemoveKilledShim: rm -f of a container whose shim was killed
// removes it and journals the run's exit once.
func TestForceRemoveKilledShim(t *testing.T) {
	for _, paused := range []bool{false, true} {
		name := map[bool]string{false: "running", true: "paused"}[paused]
		t.Run(name, func(t *testing.T) {
			e, p := newPrivateEnv(t)
			s := e.open(t)
			defer s.Close()
			ctx := ctxT(t)
			id := "shimless"
			if _, err := s.Create(ctx, e.config(id, "sleep 600")); err != nil {
				t.Fatal(err)
			}
			st, err := s.Start(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			if paused {
				if _, err := s.Pause(ctx, id); err != nil {
					t.Fatal(err)
				}
			}
			if !p.KillShim(e.cfg.Namespace, id) {
				t.Fatal("no shim found for the container")
			}
			forceRemove(t, e, s, id, st.Pid)
		})
	}
}
