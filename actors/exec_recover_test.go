package actors

import (
	"context"
	"fmt"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/containerd/errdefs"

	"github.com/vigilhq/vigil/actors/lifecycle"
	"github.com/vigilhq/vigil/c8dbridge"
	"github.com/vigilhq/vigil/journal"
)

// exitsOf returns the journaled exits of execs by exec ID, failing the test
// if one is journaled twice.
func (h *harness) exitsOf(id string) map[string]lifecycle.ExecExited {
	h.t.Helper()
	_, exited := h.execEvents(id)
	out := map[string]lifecycle.ExecExited{}
	for _, e := range exited {
		if _, dup := out[e.ExecID]; dup {
			h.t.Fatalf("the exit of exec %s is journaled twice: %+v", e.ExecID, exited)
		}
		out[e.ExecID] = e
	}
	return out
}

// A supervisor that restarts finds three open execs in the journal: one
// exited while it was down, one still runs, one containerd no longer
// knows. Reconciliation journals each exit once, with containerd's code
// for the first two and 255 for the lost one, and removes them.
func TestExecsRecoveredAfterRestart(t *testing.T) {
	store, rt := journal.NewMemory(), newFakeRuntime()
	ctx := context.Background()
	// What the supervisor that stopped left: a running task with three
	// execs journaled as started.
	if err := rt.CreateContainer(ctx, c8dbridge.ContainerSpec{ID: "c1"}); err != nil {
		t.Fatal(err)
	}
	pid, err := rt.StartTask(ctx, "c1", c8dbridge.Stdio{})
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Now().Add(-time.Minute).UTC().Round(time.Second)
	if _, err := store.Append("c1",
		lifecycle.CreateRequested{Config: lifecycle.Config{ID: "c1", Rootfs: "/r", Args: []string{"sleep"}}, At: t0},
		lifecycle.ContainerCreated{At: t0}, lifecycle.StartRequested{At: t0}, lifecycle.TaskStarted{Pid: pid, At: t0},
		lifecycle.ExecStarted{ExecID: "done", Pid: 71, Args: []string{"sh", "-c", "exit 9"}, At: t0},
		lifecycle.ExecStarted{ExecID: "runs", Pid: 72, Args: []string{"sleep", "9"}, At: t0},
		lifecycle.ExecStarted{ExecID: "lost", Pid: 73, Args: []string{"true"}, At: t0},
	); err != nil {
		t.Fatal(err)
	}
	exitedAt := t0.Add(2 * time.Second)
	rt.SetExec("c1", "done", 71, true, 9, exitedAt)
	rt.SetExec("c1", "runs", 72, false, 0, time.Time{})

	h := newHarnessWith(t, store, rt)
	p := h.spawn("c1", false)
	s, err := h.cmd(p, Reconcile{})
	if err != nil {
		t.Fatal(err)
	}
	exits := h.exitsOf("c1")
	if e := exits["done"]; e.Code != 9 || !e.ExitedAt.Equal(exitedAt) || e.Reason != "" || e.Pid != 71 {
		t.Errorf("exit of the exec that ended while the supervisor was down: %+v, want code 9 at %v", e, exitedAt)
	}
	if e := exits["lost"]; e.Code != lifecycle.ExitCodeUnknown || e.Reason != lifecycle.ReasonExecLost {
		t.Errorf("exit of the lost exec: %+v, want 255 with the reason", e)
	}
	if _, ok := exits["runs"]; ok || len(s.Execs) != 1 || s.Execs[0].ID != "runs" {
		t.Fatalf("after reconcile: exits %+v, open %+v; want only \"runs\" open", exits, s.Execs)
	}
	if s.Status != lifecycle.StatusRunning || s.Pid != pid {
		t.Fatalf("the execs changed the container: %+v", s)
	}
	eventually(t, "the wait for the exec that runs", func() bool { _, w, _ := rt.ExecRecoveryCalls(); return w == 1 })

	// Reconciling again journals nothing and arms no second wait.
	if _, err := h.cmd(p, Reconcile{}); err != nil {
		t.Fatal(err)
	}
	if n := len(h.exitsOf("c1")); n != 2 {
		t.Fatalf("%d exits journaled after a second reconcile, want 2", n)
	}
	if _, w, _ := rt.ExecRecoveryCalls(); w != 1 {
		t.Fatalf("%d waits for the exec that runs, want 1", w)
	}

	// It exits later: its exit is journaled once, with its code.
	rt.ExitExec("c1", "runs", 4, time.Now())
	eventually(t, "the exit of the exec that ran on", func() bool {
		_, ok := h.exitsOf("c1")["runs"]
		return ok
	})
	if e := h.exitsOf("c1")["runs"]; e.Code != 4 || e.Reason != "" {
		t.Fatalf("exit of the exec that ran on: %+v, want code 4", e)
	}
	if _, err := h.cmd(p, Reconcile{}); err != nil {
		t.Fatal(err)
	}
	s, _ = h.cmd(p, Inspect{})
	if len(s.Execs) != 0 || len(h.exitsOf("c1")) != 3 {
		t.Fatalf("open execs %+v, exits %+v; want none open and three exits", s.Execs, h.exitsOf("c1"))
	}
	_, _, deleted := rt.ExecRecoveryCalls()
	for _, id := range []string{"done", "lost", "runs"} {
		if !slices.Contains(deleted, id) {
			t.Errorf("exec %s was not deleted from containerd (deleted: %v)", id, deleted)
		}
	}
	// The state rebuilt from the journal is the actor's.
	if got := h.replayed("c1"); len(got.Execs) != 0 || got.Pid != pid {
		t.Fatalf("replayed state: %+v", got)
	}
}

// The exit of the task closes the exec that runs in it, in the same
// append; the exec's own exit, reported by its wait afterwards, is not
// journaled again, and its caller still hears of it.
func TestTaskExitClosesLiveExecOnce(t *testing.T) {
	h := newHarness(t, journal.NewMemory())
	pid := h.running("c1")
	r := h.exec(pid, Exec{Spec: c8dbridge.ExecSpec{ExecID: "e1", Args: []string{"sleep"}}})
	if r.Err != nil {
		t.Fatal(r.Err)
	}
	if s, _ := h.cmd(pid, Inspect{}); len(s.Execs) != 1 || s.Execs[0].ID != "e1" || s.Execs[0].Pid != r.Process.Pid() {
		t.Fatalf("open execs %+v, want e1", s.Execs)
	}
	h.rt.Exit("c1", 0)
	if s, _ := h.cmd(pid, Wait{Condition: WaitNotRunning}); s.Status != lifecycle.StatusExited || len(s.Execs) != 0 {
		t.Fatalf("after the task's exit: %s, open execs %+v", s.Status, s.Execs)
	}
	e := h.exitsOf("c1")["e1"]
	if e.Code != lifecycle.ExitCodeExecKilled || e.Reason != lifecycle.ReasonTaskExited || e.Pid != r.Process.Pid() {
		t.Fatalf("exit of e1: %+v, want 137 with the reason", e)
	}
	r.Process.Kill(t.Context(), 9) // the fake's exec does not die with its task
	if x := waitExit(t, r); x.Code != 137 || x.Err != nil {
		t.Fatalf("the caller heard %+v", x)
	}
	if _, err := h.cmd(pid, Inspect{}); err != nil { // the actor handled the report
		t.Fatal(err)
	}
	if n := len(h.exitsOf("c1")); n != 1 {
		t.Fatalf("%d exec exits journaled, want 1", n)
	}
	if _, _, deleted := h.rt.ExecRecoveryCalls(); !slices.Contains(deleted, "e1") {
		t.Fatalf("e1 was not deleted from containerd: %v", deleted)
	}
}

// lostWait is a containerd whose exec waits break (as when containerd
// goes away): the exit is learned later, from reconciliation.
type lostWait struct{ *fakeRuntime }

type lostWaitProc struct{ pid uint32 }

func (l *lostWait) Exec(context.Context, string, c8dbridge.ExecSpec, c8dbridge.ExecStdio) (c8dbridge.ExecProcess, error) {
	return lostWaitProc{pid: 555}, nil
}

func (p lostWaitProc) Pid() uint32 { return p.pid }
func (lostWaitProc) Wait(context.Context) (c8dbridge.TaskStatus, error) {
	return c8dbridge.TaskStatus{State: c8dbridge.TaskStopped, ExitCode: 255},
		fmt.Errorf("fake: wait for exec: %w", errdefs.ErrUnavailable)
}
func (lostWaitProc) Resize(context.Context, uint32, uint32) error { return nil }
func (lostWaitProc) Kill(context.Context, syscall.Signal) error   { return nil }

// A wait that breaks journals no exit: the exec stays open, and the
// reconcile the actor arms journals the exit containerd kept.
func TestLostExecWaitIsReconciled(t *testing.T) {
	fake := newFakeRuntime()
	h := newHarnessRuntime(t, fake, &lostWait{fake})
	pid := h.running("c1")
	fake.SetExec("c1", "e1", 555, true, 6, time.Now())
	r := h.exec(pid, Exec{Spec: c8dbridge.ExecSpec{ExecID: "e1", Args: []string{"true"}}})
	if r.Err != nil {
		t.Fatal(r.Err)
	}
	if x := waitExit(t, r); x.Err == nil {
		t.Fatalf("the caller heard %+v, want the wait's error", x)
	}
	if exits := h.exitsOf("c1"); len(exits) != 0 {
		t.Fatalf("a broken wait journaled %+v", exits)
	}
	if s, _ := h.cmd(pid, Inspect{}); len(s.Execs) != 1 {
		t.Fatalf("open execs %+v, want e1", s.Execs)
	}
	eventually(t, "the reconciled exit", func() bool { _, ok := h.exitsOf("c1")["e1"]; return ok })
	if e := h.exitsOf("c1")["e1"]; e.Code != 6 || e.Reason != "" || e.Pid != 555 {
		t.Fatalf("exit %+v, want containerd's code 6", e)
	}
}
