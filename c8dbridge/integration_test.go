package c8dbridge

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/pkg/cio"
	"github.com/containerd/errdefs"

	"github.com/vigilhq/vigil/internal/testenv"
	"github.com/vigilhq/vigil/stdio"
)

// TestMain lets the test binary act as the logging binary: the shim runs
// "<test binary> logger <path>", as it would run the supervisor binary.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == stdio.LoggerCommand {
		os.Exit(stdio.RunLogger(os.Args[2:]))
	}
	os.Exit(m.Run())
}

// waitTimeout bounds every wait for containerd in these tests.
const waitTimeout = 30 * time.Second

type env struct {
	c      *Client
	rootfs string
	bundle string // BundleRoot
}

// newEnv dials the test containerd in a namespace of the test's own, with a
// fresh BundleRoot, and cleans up every container of that namespace (and
// the namespace) when the test ends.
func newEnv(t *testing.T) *env {
	t.Helper()
	addr := testenv.Containerd(t)
	rootfs := testenv.Rootfs(t)
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	e := &env{rootfs: rootfs, bundle: t.TempDir()}
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	e.c, err = Dial(ctx, Config{
		Address:      addr,
		Namespace:    testenv.Namespace(t),
		BundleRoot:   e.bundle,
		LoggerBinary: exe,
	})
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	t.Cleanup(func() { e.cleanup(t) })
	return e
}

func (e *env) cleanup(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	defer e.c.Close()
	ctx = e.c.ns(ctx)
	// All containers, labelled or not.
	list, err := e.c.c.Containers(ctx)
	if err != nil {
		t.Errorf("cleanup: list containers: %v", err)
		return
	}
	for _, ctr := range list {
		if err := e.c.DeleteContainer(ctx, ctr.ID()); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	}
	cleanupImages(ctx, t, e.c)
	if err := e.c.c.NamespaceService().Delete(ctx, e.c.cfg.Namespace); err != nil && !errdefs.IsNotFound(err) {
		t.Errorf("cleanup: delete namespace %s: %v", e.c.cfg.Namespace, err)
	}
}

func (e *env) spec(id string, args ...string) ContainerSpec {
	return ContainerSpec{ID: id, Rootfs: e.rootfs, Args: args, Labels: map[string]string{"test": "yes"}}
}

func (e *env) create(t *testing.T, id string, args ...string) {
	t.Helper()
	if err := e.c.CreateContainer(ctxT(t), e.spec(id, args...)); err != nil {
		t.Fatalf("CreateContainer(%s): %v", id, err)
	}
}

func (e *env) start(t *testing.T, id string, st Stdio) uint32 {
	t.Helper()
	pid, err := e.c.StartTask(ctxT(t), id, st)
	if err != nil {
		t.Fatalf("StartTask(%s): %v", id, err)
	}
	if pid == 0 {
		t.Fatalf("StartTask(%s) returned pid 0", id)
	}
	return pid
}

// ctxT is a context that ends with the test or after waitTimeout.
func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	t.Cleanup(cancel)
	return ctx
}

// subscribe starts a subscription that ends with the test.
func (e *env) subscribe(t *testing.T) <-chan Event {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	events, errs := e.c.Subscribe(ctx)
	t.Cleanup(func() {
		cancel()
		for range events {
		}
		if err := <-errs; !errors.Is(err, context.Canceled) {
			t.Errorf("subscription ended with %v, want context.Canceled", err)
		}
	})
	return events
}

// next returns the next event of container id for which match is true,
// failing the test after waitTimeout.
func next[E Event](t *testing.T, events <-chan Event, id string) E {
	t.Helper()
	timeout := time.After(waitTimeout)
	for {
		select {
		case ev, ok := <-events:
			if !ok {
				t.Fatalf("event stream closed while waiting for a %T of %s", *new(E), id)
			}
			if e, ok := ev.(E); ok && ev.ContainerID() == id {
				return e
			}
		case <-timeout:
			t.Fatalf("no %T of %s within %v", *new(E), id, waitTimeout)
		}
	}
}

func TestTaskExitCodeAndLog(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	events := e.subscribe(t)
	const id = "exit7"
	e.create(t, id, "/bin/sh", "-c", "echo hello; echo oops >&2; exit 7")
	logPath := stdio.LogPath(filepath.Join(e.bundle, id))
	before := time.Now()
	pid := e.start(t, id, Stdio{LogPath: logPath})

	started := next[TaskStarted](t, events, id)
	if started.Pid != pid {
		t.Errorf("TaskStarted.Pid = %d, StartTask returned %d", started.Pid, pid)
	}
	exited := next[TaskExited](t, events, id)
	if exited.ExitCode != 7 || exited.ProcessID != id || exited.Pid != pid {
		t.Errorf("TaskExited = %+v, want code 7, process %s, pid %d", exited, id, pid)
	}
	if exited.ExitedAt.Before(before.Add(-time.Second)) || time.Since(exited.ExitedAt) > waitTimeout {
		t.Errorf("TaskExited.ExitedAt = %v, want a time after %v", exited.ExitedAt, before)
	}

	st, err := e.c.TaskStatus(ctxT(t), id)
	if err != nil {
		t.Fatalf("TaskStatus: %v", err)
	}
	if st.State != TaskStopped || st.ExitCode != 7 || !st.ExitedAt.Equal(exited.ExitedAt) || st.Pid != pid {
		t.Errorf("TaskStatus = %+v, want stopped, code 7, exited at %v, pid %d", st, exited.ExitedAt, pid)
	}

	// Deleting the task makes the shim wait for the logger to finish.
	if err := e.c.DeleteTask(ctxT(t), id); err != nil {
		t.Fatalf("DeleteTask: %v", err)
	}
	deleted := next[TaskDeleted](t, events, id)
	if deleted.ExitCode != 7 {
		t.Errorf("TaskDeleted = %+v, want code 7", deleted)
	}
	if st, err := e.c.TaskStatus(ctxT(t), id); err != nil || st.State != TaskAbsent {
		t.Errorf("TaskStatus after DeleteTask = %+v, %v; want absent", st, err)
	}

	got := readLog(t, logPath)
	want := map[string]string{"hello\n": stdio.Stdout, "oops\n": stdio.Stderr}
	for _, en := range got {
		if stream, ok := want[en.Log]; ok && stream == en.Stream {
			delete(want, en.Log)
		}
	}
	if len(want) > 0 {
		t.Errorf("log %s lacks %v; it has %+v", logPath, want, got)
	}
}

func readLog(t *testing.T, path string) []stdio.Entry {
	t.Helper()
	var entries []stdio.Entry
	err := stdio.Read(context.Background(), path, stdio.ReadOptions{OnMalformed: func(off int64, err error) {
		t.Errorf("log: %v", err)
	}}, func(en stdio.Entry) error {
		entries = append(entries, en)
		return nil
	})
	if err != nil {
		t.Fatalf("log: %v", err)
	}
	return entries
}

func TestKillSIGTERM(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	events := e.subscribe(t)
	const id = "sleeper"
	// The init process of a PID namespace gets only the signals it handles,
	// so the shell traps TERM and exits with a code that proves it got it.
	e.create(t, id, "/bin/sh", "-c", "trap 'exit 42' TERM; sleep 1000 & wait")
	pid := e.start(t, id, Stdio{})
	next[TaskStarted](t, events, id)

	st, err := e.c.TaskStatus(ctxT(t), id)
	if err != nil || st.State != TaskRunning || st.Pid != pid {
		t.Fatalf("TaskStatus = %+v, %v; want running with pid %d", st, err, pid)
	}
	if _, err := e.c.StartTask(ctxT(t), id, Stdio{}); !errdefs.IsAlreadyExists(err) {
		t.Errorf("StartTask of a running task: %v, want AlreadyExists", err)
	}
	if err := e.c.DeleteTask(ctxT(t), id); !errdefs.IsFailedPrecondition(err) {
		t.Errorf("DeleteTask of a running task: %v, want FailedPrecondition", err)
	}

	// A TERM that arrives before the trap is set is ignored (see above):
	// send it again until the task exits.
	var exited TaskExited
	deadline := time.After(waitTimeout)
resend:
	for {
		// NotFound: it exited since the last TERM; its event is on the way.
		if err := e.c.Kill(ctxT(t), id, syscall.SIGTERM); err != nil && !errdefs.IsNotFound(err) {
			t.Fatalf("Kill: %v", err)
		}
		tick := time.After(200 * time.Millisecond)
		for {
			select {
			case ev, ok := <-events:
				if !ok {
					t.Fatal("event stream closed while waiting for the exit")
				}
				if x, ok := ev.(TaskExited); ok && x.Container == id {
					exited = x
					break resend
				}
			case <-tick:
				continue resend
			case <-deadline:
				t.Fatalf("no exit of %s within %v of SIGTERM", id, waitTimeout)
			}
		}
	}
	if exited.ExitCode != 42 {
		t.Errorf("exit code after SIGTERM = %d, want 42 (the trap's)", exited.ExitCode)
	}
	if err := e.c.Kill(ctxT(t), id, syscall.SIGTERM); !errdefs.IsNotFound(err) {
		t.Errorf("Kill of an exited task: %v, want NotFound", err)
	}

	// A second StartTask replaces the stopped task.
	pid2 := e.start(t, id, Stdio{})
	if pid2 == pid {
		t.Errorf("restarted task has the old pid %d", pid)
	}
	if st, err := e.c.TaskStatus(ctxT(t), id); err != nil || st.State != TaskRunning || st.Pid != pid2 {
		t.Errorf("TaskStatus after restart = %+v, %v; want running with pid %d", st, err, pid2)
	}
}

func TestDeleteContainer(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	const id = "doomed"
	e.create(t, id, "/bin/sleep", "1000")
	e.start(t, id, Stdio{LogPath: stdio.LogPath(filepath.Join(e.bundle, id))})
	dir := filepath.Join(e.bundle, id)
	if _, err := os.Stat(filepath.Join(dir, "config.json")); err != nil {
		t.Fatalf("bundle dir lacks config.json: %v", err)
	}

	if err := e.c.DeleteContainer(ctxT(t), id); err != nil {
		t.Fatalf("DeleteContainer: %v", err)
	}
	if _, err := e.c.TaskStatus(ctxT(t), id); !IsGone(err) {
		t.Errorf("TaskStatus after DeleteContainer: %v, want NotFound", err)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("bundle dir still there: %v", err)
	}
	if ids, err := e.c.Containers(ctxT(t)); err != nil || len(ids) != 0 {
		t.Errorf("Containers = %q, %v; want none", ids, err)
	}
	if err := e.c.DeleteContainer(ctxT(t), id); err != nil {
		t.Errorf("second DeleteContainer: %v, want nil", err)
	}

	// A bundle dir without a container is removed too.
	if err := os.MkdirAll(filepath.Join(e.bundle, "orphan"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := e.c.DeleteContainer(ctxT(t), "orphan"); err != nil {
		t.Fatalf("DeleteContainer(orphan): %v", err)
	}
	if _, err := os.Stat(filepath.Join(e.bundle, "orphan")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("orphan bundle dir still there: %v", err)
	}
}

func TestCreateAlreadyExists(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	const id = "twice"
	e.create(t, id, "/bin/true")
	config := filepath.Join(e.bundle, id, "config.json")
	first, err := os.ReadFile(config)
	if err != nil {
		t.Fatal(err)
	}
	err = e.c.CreateContainer(ctxT(t), e.spec(id, "/bin/false"))
	if !errdefs.IsAlreadyExists(err) {
		t.Fatalf("second CreateContainer: %v, want AlreadyExists", err)
	}
	if !strings.Contains(err.Error(), `c8dbridge: create container "twice"`) {
		t.Errorf("error %q lacks the operation and ID", err)
	}
	if second, err := os.ReadFile(config); err != nil || string(second) != string(first) {
		t.Errorf("the existing bundle's config.json was changed or removed (%v)", err)
	}

	// A container that containerd knows but whose bundle dir is gone is
	// still reported as existing, and the dir made for it is removed.
	if err := os.RemoveAll(filepath.Join(e.bundle, id)); err != nil {
		t.Fatal(err)
	}
	if err := e.c.CreateContainer(ctxT(t), e.spec(id, "/bin/true")); !errdefs.IsAlreadyExists(err) {
		t.Fatalf("CreateContainer without bundle dir: %v, want AlreadyExists", err)
	}
	if _, err := os.Stat(filepath.Join(e.bundle, id)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("bundle dir made for the refused create is still there (stat: %v)", err)
	}
}

func TestNotFound(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := ctxT(t)
	const missing = "missing"
	if _, err := e.c.StartTask(ctx, missing, Stdio{}); !IsGone(err) {
		t.Errorf("StartTask: %v, want NotFound", err)
	}
	if err := e.c.Kill(ctx, missing, syscall.SIGTERM); !IsGone(err) {
		t.Errorf("Kill: %v, want NotFound", err)
	}
	if _, err := e.c.TaskStatus(ctx, missing); !IsGone(err) {
		t.Errorf("TaskStatus: %v, want NotFound", err)
	}
	if err := e.c.DeleteTask(ctx, missing); err != nil {
		t.Errorf("DeleteTask: %v, want nil", err)
	}
	if err := e.c.DeleteContainer(ctx, missing); err != nil {
		t.Errorf("DeleteContainer: %v, want nil", err)
	}

	// A container without a task.
	const idle = "idle"
	e.create(t, idle, "/bin/true")
	if st, err := e.c.TaskStatus(ctx, idle); err != nil || st.State != TaskAbsent {
		t.Errorf("TaskStatus of a container without task = %+v, %v; want absent", st, err)
	}
	if err := e.c.Kill(ctx, idle, syscall.SIGTERM); !IsGone(err) {
		t.Errorf("Kill of a container without task: %v, want NotFound", err)
	}
	if err := e.c.DeleteTask(ctx, idle); err != nil {
		t.Errorf("DeleteTask of a container without task: %v, want nil", err)
	}
}

func TestContainersListsManaged(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.create(t, "b-managed", "/bin/true")
	e.create(t, "a-managed", "/bin/true")
	// One that vigil did not create.
	ctx := e.c.ns(ctxT(t))
	s, err := SpecFor(e.spec("foreign", "/bin/true"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.c.c.NewContainer(ctx, "foreign", client.WithSpec(s), client.WithRuntime(DefaultRuntime, nil)); err != nil {
		t.Fatalf("create unlabelled container: %v", err)
	}
	ids, err := e.c.Containers(ctx)
	if err != nil {
		t.Fatalf("Containers: %v", err)
	}
	if want := []string{"a-managed", "b-managed"}; !slices.Equal(ids, want) {
		t.Errorf("Containers = %q, want %q", ids, want)
	}
}

func TestSubscribeEnds(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx, cancel := context.WithCancel(context.Background())
	events, errs := e.c.Subscribe(ctx)
	cancel()
	select {
	case err := <-errs:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("error after cancel = %v, want context.Canceled", err)
		}
	case <-time.After(waitTimeout):
		t.Fatal("no error after the context was cancelled")
	}
	if _, open := <-events; open {
		t.Error("event channel still open after the error")
	}
	if _, open := <-errs; open {
		t.Error("error channel still open after its one error")
	}
}

// Events of another namespace must not reach a subscription: the same ID
// exits with 3 in namespace B first, then with 5 in namespace A; A's stream
// must report 5 as the first exit of that ID.
func TestSubscribeOnlyOwnNamespace(t *testing.T) {
	t.Parallel()
	a, b := newEnv(t), newEnv(t)
	eventsA, eventsB := a.subscribe(t), b.subscribe(t)
	const id = "same"
	b.create(t, id, "/bin/sh", "-c", "exit 3")
	b.start(t, id, Stdio{})
	if ev := next[TaskExited](t, eventsB, id); ev.ExitCode != 3 {
		t.Fatalf("exit in B = %+v, want code 3", ev)
	}
	a.create(t, id, "/bin/sh", "-c", "exit 5")
	a.start(t, id, Stdio{})
	if ev := next[TaskExited](t, eventsA, id); ev.ExitCode != 5 {
		t.Errorf("first exit seen in A = %+v, want code 5 (A's own)", ev)
	}
}

// A logging binary that exits without creating the log must not leave a
// task whose output goes nowhere.
func TestStartTaskLoggerFails(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.c.cfg.LoggerBinary = "/bin/true" // exits at once: the shim sees "ready"
	const id = "nolog"
	e.create(t, id, "/bin/sleep", "1000")
	logPath := stdio.LogPath(filepath.Join(e.bundle, id))
	_, err := e.c.StartTask(ctxT(t), id, Stdio{LogPath: logPath})
	if !errdefs.IsFailedPrecondition(err) || !strings.Contains(err.Error(), "/bin/true") {
		t.Fatalf("StartTask with a failing logger: %v, want FailedPrecondition naming the logger", err)
	}
	if st, err := e.c.TaskStatus(ctxT(t), id); err != nil || st.State != TaskAbsent {
		t.Errorf("TaskStatus after the failed start = %+v, %v; want absent (task deleted)", st, err)
	}

	e.c.cfg.LoggerBinary = "/nonexistent/vigil"
	if _, err := e.c.StartTask(ctxT(t), id, Stdio{LogPath: logPath}); err == nil {
		t.Fatal("StartTask with a missing logging binary succeeded")
	} else {
		t.Logf("missing logging binary: %v", err)
	}
	if st, err := e.c.TaskStatus(ctxT(t), id); err != nil || st.State != TaskAbsent {
		t.Errorf("TaskStatus after the failed start = %+v, %v; want absent", st, err)
	}
}

// A paused task is reported as paused, and DeleteContainer still gets rid of
// it: a paused process cannot die of SIGKILL until it is unpaused.
func TestPausedTask(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	events := e.subscribe(t)
	const id = "paused"
	e.create(t, id, "/bin/sleep", "1000")
	e.start(t, id, Stdio{})

	ctx := e.c.ns(ctxT(t))
	ctr, err := e.c.c.LoadContainer(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	task, err := ctr.Task(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := task.Pause(ctx); err != nil {
		t.Fatalf("pause: %v", err)
	}
	next[TaskWasPaused](t, events, id)
	if st, err := e.c.TaskStatus(ctx, id); err != nil || st.State != TaskPaused {
		t.Errorf("TaskStatus = %+v, %v; want paused", st, err)
	}

	if err := e.c.DeleteContainer(ctx, id); err != nil {
		t.Fatalf("DeleteContainer of a paused task: %v", err)
	}
	if exited := next[TaskExited](t, events, id); exited.ExitCode != 128+uint32(syscall.SIGKILL) {
		t.Errorf("exit after DeleteContainer = %+v, want code 137", exited)
	}
	if _, err := e.c.TaskStatus(ctx, id); !IsGone(err) {
		t.Errorf("TaskStatus after DeleteContainer: %v, want NotFound", err)
	}
}

// A task that was created but never started (a StartTask interrupted
// between the two steps) is replaced by StartTask and removed by
// DeleteContainer.
func TestCreatedTaskLeftOver(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := e.c.ns(ctxT(t))
	for _, id := range []string{"restart", "remove"} {
		e.create(t, id, "/bin/sleep", "1000")
		ctr, err := e.c.c.LoadContainer(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := ctr.NewTask(ctx, cio.NullIO); err != nil {
			t.Fatalf("create task: %v", err)
		}
		if st, err := e.c.TaskStatus(ctx, id); err != nil || st.State != TaskCreated {
			t.Fatalf("TaskStatus = %+v, %v; want created", st, err)
		}
	}

	pid := e.start(t, "restart", Stdio{})
	if st, err := e.c.TaskStatus(ctx, "restart"); err != nil || st.State != TaskRunning || st.Pid != pid {
		t.Errorf("TaskStatus after StartTask = %+v, %v; want running with pid %d", st, err, pid)
	}
	// A created, never started task is what an interrupted start leaves:
	// DeleteTask clears it.
	if err := e.c.DeleteTask(ctx, "remove"); err != nil {
		t.Errorf("DeleteTask of a created task: %v", err)
	}
	if st, err := e.c.TaskStatus(ctx, "remove"); err != nil || st.State != TaskAbsent {
		t.Errorf("TaskStatus after DeleteTask = %+v, %v; want absent", st, err)
	}
	if err := e.c.DeleteContainer(ctx, "remove"); err != nil {
		t.Fatalf("DeleteContainer with a created task: %v", err)
	}
	if _, err := e.c.TaskStatus(ctx, "remove"); !IsGone(err) {
		t.Errorf("TaskStatus after DeleteContainer: %v, want NotFound", err)
	}
}

func TestTaskStatusesReportsEveryContainer(t *testing.T) {
	e := newEnv(t)
	e.create(t, "runs", "/bin/sleep", "1000")
	pid := e.start(t, "runs", Stdio{})
	e.create(t, "exits", "/bin/sh", "-c", "exit 4")
	e.start(t, "exits", Stdio{})
	e.create(t, "idle", "/bin/true")
	ctx := ctxT(t)
	deadline := time.Now().Add(waitTimeout)
	for {
		all, err := e.c.TaskStatuses(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if all["exits"].State == TaskStopped || time.Now().After(deadline) {
			if len(all) != 3 {
				t.Fatalf("TaskStatuses = %+v, want 3 containers", all)
			}
			if r := all["runs"]; r.State != TaskRunning || r.Pid != pid {
				t.Errorf("runs: %+v, want running with pid %d", r, pid)
			}
			if x := all["exits"]; x.State != TaskStopped || x.ExitCode != 4 || x.ExitedAt.IsZero() {
				t.Errorf("exits: %+v, want stopped with code 4 and a time", x)
			}
			if i := all["idle"]; i.State != TaskAbsent {
				t.Errorf("idle: %+v, want absent", i)
			}
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
}
