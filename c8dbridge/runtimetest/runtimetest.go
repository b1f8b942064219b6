// Package runtimetest is the contract of c8dbridge.Runtime and its fake.
// Run is one suite of tests that runs against the real client (package
// c8dbridge's TestRuntimeContract, against containerd and runc) and against
// Fake (TestFakeContract), the in-memory Runtime of the unit tests of the
// actors, the engine (engine.OpenWith) and the facade, so that the fake
// behaves as containerd does wherever they rely on it, and their tests on
// the fake mean something.
//
// It holds what every Runtime must do: the error classes of a missing or a
// duplicate container, a task's statuses from created to deleted, the exit
// of a killed task through WaitTask, pause and unpause. What only the real
// daemon shows (specs, mounts, users, criu, logs) stays in c8dbridge's own
// integration tests.
package runtimetest

import (
	"context"
	"errors"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/containerd/errdefs"

	"github.com/vigilhq/vigil/c8dbridge"
)

// Env is one runtime under test, made afresh for each test.
type Env struct {
	Runtime c8dbridge.Runtime
	// Spec is the spec of a container whose task runs until it is
	// killed.
	Spec func(id string) c8dbridge.ContainerSpec
	// Stdio is the stdio a task of the container id is started with.
	Stdio func(id string) c8dbridge.Stdio
}

// timeout bounds every call of the suite.
const timeout = 30 * time.Second

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	t.Cleanup(cancel)
	return ctx
}

// Run runs the contract against the runtimes that newEnv makes.
func Run(t *testing.T, newEnv func(t *testing.T) Env) {
	t.Run("MissingContainer", func(t *testing.T) { missing(t, newEnv(t)) })
	t.Run("CreateTwice", func(t *testing.T) { createTwice(t, newEnv(t)) })
	t.Run("TaskLife", func(t *testing.T) { taskLife(t, newEnv(t)) })
	t.Run("PauseUnpause", func(t *testing.T) { pauseUnpause(t, newEnv(t)) })
	t.Run("ClaimNamespace", func(t *testing.T) { claimNamespace(t, newEnv(t)) })
}

// claimNamespace: the first journal to claim the namespace owns it; its
// claim again changes nothing; another journal's is refused naming the
// owner (ErrNamespaceOwned), unless it takes the namespace over.
func claimNamespace(t *testing.T, e Env) {
	ctx, rt := ctxT(t), e.Runtime
	a := c8dbridge.Owner{Journal: "journal-a", StateDir: "/var/lib/a"}
	b := c8dbridge.Owner{Journal: "journal-b", StateDir: "/var/lib/b"}
	if prev, err := rt.ClaimNamespace(ctx, a, false); err != nil || prev != (c8dbridge.Owner{}) {
		t.Fatalf("first claim: %+v, %v", prev, err)
	}
	if prev, err := rt.ClaimNamespace(ctx, a, false); err != nil || prev != a {
		t.Fatalf("the owner's claim again: %+v, %v", prev, err)
	}
	prev, err := rt.ClaimNamespace(ctx, b, false)
	if !errors.Is(err, c8dbridge.ErrNamespaceOwned) || !errdefs.IsFailedPrecondition(err) || prev != a ||
		!strings.Contains(err.Error(), a.Journal) || !strings.Contains(err.Error(), a.StateDir) {
		t.Fatalf("another journal's claim: %+v, %v", prev, err)
	}
	if prev, err := rt.ClaimNamespace(ctx, b, true); err != nil || prev != a {
		t.Fatalf("take-over: %+v, %v", prev, err)
	}
	if _, err := rt.ClaimNamespace(ctx, a, false); !errors.Is(err, c8dbridge.ErrNamespaceOwned) {
		t.Fatalf("the previous owner's claim after the take-over: %v", err)
	}
	if _, err := rt.ClaimNamespace(ctx, c8dbridge.Owner{}, true); !errdefs.IsInvalidArgument(err) {
		t.Fatalf("a claim without an identity: %v", err)
	}
}

// missing: calls about a container that does not exist are NotFound,
// except the deletions, which have nothing to do.
func missing(t *testing.T, e Env) {
	ctx, rt := ctxT(t), e.Runtime
	const id = "ghost"
	if _, err := rt.StartTask(ctx, id, e.Stdio(id)); !errdefs.IsNotFound(err) {
		t.Errorf("StartTask: %v, want NotFound", err)
	}
	if err := rt.Kill(ctx, id, syscall.SIGTERM); !errdefs.IsNotFound(err) {
		t.Errorf("Kill: %v, want NotFound", err)
	}
	if _, err := rt.TaskStatus(ctx, id); !errdefs.IsNotFound(err) {
		t.Errorf("TaskStatus: %v, want NotFound", err)
	}
	if _, err := rt.WaitTask(ctx, id); !errdefs.IsNotFound(err) {
		t.Errorf("WaitTask: %v, want NotFound", err)
	}
	if err := rt.CloseStdin(ctx, id); !errdefs.IsNotFound(err) {
		t.Errorf("CloseStdin: %v, want NotFound", err)
	}
	if err := rt.DeleteTask(ctx, id); err != nil {
		t.Errorf("DeleteTask: %v, want nothing to do", err)
	}
	if err := rt.DeleteContainer(ctx, id); err != nil {
		t.Errorf("DeleteContainer: %v, want nothing to do", err)
	}
}

// createTwice: a second create of an ID is AlreadyExists; a created
// container has no task, and is listed.
func createTwice(t *testing.T, e Env) {
	ctx, rt := ctxT(t), e.Runtime
	const id = "twice"
	if err := rt.CreateContainer(ctx, e.Spec(id)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rt.DeleteContainer(context.Background(), id) })
	if err := rt.CreateContainer(ctx, e.Spec(id)); !errdefs.IsAlreadyExists(err) {
		t.Errorf("second CreateContainer: %v, want AlreadyExists", err)
	}
	if st, err := rt.TaskStatus(ctx, id); err != nil || st.State != c8dbridge.TaskAbsent {
		t.Errorf("TaskStatus of a created container: %+v, %v; want absent", st, err)
	}
	if err := rt.Kill(ctx, id, syscall.SIGTERM); !errdefs.IsNotFound(err) {
		t.Errorf("Kill without a task: %v, want NotFound", err)
	}
	ids, err := rt.Containers(ctx)
	if err != nil || !slices.Contains(ids, id) {
		t.Errorf("Containers: %q, %v; want %s listed", ids, err, id)
	}
	sts, err := rt.TaskStatuses(ctx)
	if st, ok := sts[id]; err != nil || !ok || st.State != c8dbridge.TaskAbsent {
		t.Errorf("TaskStatuses: %+v, %v; want %s without a task", sts, err, id)
	}
}

// taskLife: start, run, SIGKILL, the exit through WaitTask (137), delete
// the task, delete the container.
func taskLife(t *testing.T, e Env) {
	ctx, rt := ctxT(t), e.Runtime
	const id = "life"
	if err := rt.CreateContainer(ctx, e.Spec(id)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rt.DeleteContainer(context.Background(), id) })
	pid, err := rt.StartTask(ctx, id, e.Stdio(id))
	if err != nil || pid == 0 {
		t.Fatalf("StartTask: pid %d, %v", pid, err)
	}
	if st, err := rt.TaskStatus(ctx, id); err != nil || st.State != c8dbridge.TaskRunning || st.Pid != pid {
		t.Fatalf("TaskStatus after start: %+v, %v; want running with pid %d", st, err, pid)
	}
	if sts, err := rt.TaskStatuses(ctx); err != nil || sts[id].State != c8dbridge.TaskRunning {
		t.Errorf("TaskStatuses: %+v, %v; want %s running", sts, err, id)
	}
	waited := make(chan c8dbridge.TaskStatus, 1)
	go func() {
		st, err := rt.WaitTask(ctx, id)
		if err != nil {
			t.Errorf("WaitTask: %v", err)
		}
		waited <- st
	}()
	if err := rt.Kill(ctx, id, syscall.SIGKILL); err != nil {
		t.Fatalf("Kill: %v", err)
	}
	select {
	case st := <-waited:
		if st.State != c8dbridge.TaskStopped || st.ExitCode != 137 {
			t.Errorf("WaitTask: %+v, want stopped with 137", st)
		}
	case <-ctx.Done():
		t.Fatal("WaitTask did not return after SIGKILL")
	}
	if st, err := rt.TaskStatus(ctx, id); err != nil || st.State != c8dbridge.TaskStopped || st.ExitCode != 137 {
		t.Errorf("TaskStatus after the exit: %+v, %v; want stopped with 137", st, err)
	}
	if err := rt.DeleteTask(ctx, id); err != nil {
		t.Fatalf("DeleteTask: %v", err)
	}
	if st, err := rt.TaskStatus(ctx, id); err != nil || st.State != c8dbridge.TaskAbsent {
		t.Errorf("TaskStatus after DeleteTask: %+v, %v; want absent", st, err)
	}
	if err := rt.DeleteContainer(ctx, id); err != nil {
		t.Fatalf("DeleteContainer: %v", err)
	}
	if _, err := rt.TaskStatus(ctx, id); !errdefs.IsNotFound(err) {
		t.Errorf("TaskStatus after DeleteContainer: %v, want NotFound", err)
	}
	if ids, err := rt.Containers(ctx); err != nil || slices.Contains(ids, id) {
		t.Errorf("Containers after DeleteContainer: %q, %v", ids, err)
	}
}

// pauseUnpause: a paused task reports paused, then running again.
func pauseUnpause(t *testing.T, e Env) {
	ctx, rt := ctxT(t), e.Runtime
	const id = "paused"
	if err := rt.CreateContainer(ctx, e.Spec(id)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rt.DeleteContainer(context.Background(), id) })
	if _, err := rt.StartTask(ctx, id, e.Stdio(id)); err != nil {
		t.Fatal(err)
	}
	if err := rt.PauseTask(ctx, id); err != nil {
		t.Fatalf("PauseTask: %v", err)
	}
	if st, err := rt.TaskStatus(ctx, id); err != nil || st.State != c8dbridge.TaskPaused {
		t.Errorf("TaskStatus after PauseTask: %+v, %v; want paused", st, err)
	}
	if err := rt.UnpauseTask(ctx, id); err != nil {
		t.Fatalf("UnpauseTask: %v", err)
	}
	if st, err := rt.TaskStatus(ctx, id); err != nil || st.State != c8dbridge.TaskRunning {
		t.Errorf("TaskStatus after UnpauseTask: %+v, %v; want running", st, err)
	}
}
