package c8dbridge

import (
	"errors"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/pkg/cio"
	"github.com/containerd/errdefs"
)

// startOrphanExec starts exec execID in the running task of id as a
// supervisor that then died would leave it: nobody waits for it or deletes
// it.
func (e *env) startOrphanExec(t *testing.T, id, execID string, args ...string) client.Process {
	t.Helper()
	ctx := e.c.ns(ctxT(t))
	ctr, err := e.c.c.LoadContainer(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	task, err := ctr.Task(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	s, err := ctr.Spec(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ps := *s.Process
	ps.Args = args
	p, err := task.Exec(ctx, execID, &ps, cio.NullIO)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Start(ctx); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestExecRecoveryIntegration(t *testing.T) {
	e := newEnv(t)
	e.create(t, "box", "sh", "-c", "trap 'exit 0' TERM; while true; do sleep 1; done")
	e.start(t, "box", Stdio{})

	e.startOrphanExec(t, "box", "done", "sh", "-c", "exit 3")
	runs := e.startOrphanExec(t, "box", "runs", "sleep", "100")
	doneDir := ExecDir(e.c.bundleDir("box"), "done")
	if err := os.MkdirAll(doneDir, 0o700); err != nil { // as its FIFOs would leave it
		t.Fatal(err)
	}

	// The exec that ended keeps its exit in containerd until deleted.
	var st TaskStatus
	deadline := time.Now().Add(waitTimeout)
	for {
		var err error
		if st, err = e.c.ExecStatus(ctxT(t), "box", "done"); err != nil {
			t.Fatal(err)
		}
		if st.State == TaskStopped || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if st.State != TaskStopped || st.ExitCode != 3 || st.ExitedAt.IsZero() {
		t.Fatalf("status of the exec that ended: %+v, want stopped with code 3 and a time", st)
	}
	if w, err := e.c.WaitExec(ctxT(t), "box", "done"); err != nil || w.ExitCode != 3 || !w.ExitedAt.Equal(st.ExitedAt) {
		t.Fatalf("wait for the exec that ended: %+v %v, want %+v at once", w, err, st)
	}
	if st, err := e.c.ExecStatus(ctxT(t), "box", "runs"); err != nil || st.State != TaskRunning || st.Pid != runs.Pid() {
		t.Fatalf("status of the exec that runs: %+v %v, want running with pid %d", st, err, runs.Pid())
	}

	// Unknown processes, tasks and containers; bad IDs.
	for _, c := range [][2]string{{"box", "nosuch"}, {"nobox", "x"}} {
		if _, err := e.c.ExecStatus(ctxT(t), c[0], c[1]); !errdefs.IsNotFound(err) {
			t.Errorf("ExecStatus(%s, %s): %v, want NotFound", c[0], c[1], err)
		}
		if _, err := e.c.WaitExec(ctxT(t), c[0], c[1]); !errdefs.IsNotFound(err) {
			t.Errorf("WaitExec(%s, %s): %v, want NotFound", c[0], c[1], err)
		}
		if err := e.c.DeleteExec(ctxT(t), c[0], c[1]); err != nil {
			t.Errorf("DeleteExec(%s, %s): %v, want nil", c[0], c[1], err)
		}
	}
	for _, c := range [][2]string{{"box", "../x"}, {"../box", "x"}, {"box", ""}} {
		if _, err := e.c.ExecStatus(ctxT(t), c[0], c[1]); !errdefs.IsInvalidArgument(err) {
			t.Errorf("ExecStatus(%q, %q): %v, want InvalidArgument", c[0], c[1], err)
		}
		if err := e.c.DeleteExec(ctxT(t), c[0], c[1]); !errdefs.IsInvalidArgument(err) {
			t.Errorf("DeleteExec(%q, %q): %v, want InvalidArgument", c[0], c[1], err)
		}
	}

	// A process that runs is not deleted; one that exited is, with its dir.
	if err := e.c.DeleteExec(ctxT(t), "box", "runs"); err == nil {
		t.Fatal("DeleteExec of a running exec succeeded")
	}
	if err := e.c.DeleteExec(ctxT(t), "box", "done"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(doneDir); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the deleted exec's dir: %v, want it removed", err)
	}
	if _, err := e.c.ExecStatus(ctxT(t), "box", "done"); !errdefs.IsNotFound(err) {
		t.Fatalf("status of the deleted exec: %v, want NotFound", err)
	}

	// A wait for the exec that runs ends with its exit.
	waited := make(chan TaskStatus, 1)
	go func() {
		st, err := e.c.WaitExec(ctxT(t), "box", "runs")
		if err != nil {
			t.Error(err)
		}
		waited <- st
	}()
	time.Sleep(100 * time.Millisecond) // let the wait begin
	if err := runs.Kill(e.c.ns(ctxT(t)), syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	select {
	case st := <-waited:
		if st.State != TaskStopped || st.ExitCode != 137 {
			t.Fatalf("wait for the killed exec: %+v, want 137", st)
		}
	case <-time.After(waitTimeout):
		t.Fatal("the wait for the killed exec did not end")
	}
	if err := e.c.DeleteExec(ctxT(t), "box", "runs"); err != nil {
		t.Fatal(err)
	}
}
