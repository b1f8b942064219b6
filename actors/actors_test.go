package actors

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"reflect"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/vigilhq/vigil/actors/lifecycle"
	"github.com/vigilhq/vigil/c8dbridge"
	"github.com/vigilhq/vigil/journal"
	"github.com/vigilhq/vigil/journal/journaltest"
)

type harness struct {
	t       *testing.T
	system  *actor.ActorSystem
	sup     *actor.PID
	rt      *fakeRuntime
	journal journal.Store
	close   func()
}

func newHarness(t *testing.T, store journal.Store) *harness {
	return newHarnessWith(t, store, newFakeRuntime())
}

func newHarnessWith(t *testing.T, store journal.Store, rt *fakeRuntime) *harness {
	t.Helper()
	return newHarnessDeps(t, store, rt, nil)
}

// newHarnessDeps is newHarnessWith with set, when not nil, called on the
// actors' Deps before they are spawned.
func newHarnessDeps(t *testing.T, store journal.Store, rt *fakeRuntime, set func(*Deps)) *harness {
	t.Helper()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	h := &harness{t: t, rt: rt, journal: store}
	h.system = actor.NewActorSystem(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger { return log }))
	deps := &Deps{
		Runtime: h.rt, Journal: store, Clock: time.Now, Log: log,
		LogPath: func(id string) string { return "/nonexistent/" + id }, CallTimeout: time.Second,
	}
	if set != nil {
		set(deps)
	}
	var err error
	h.sup, err = h.system.Root.SpawnNamed(NewSupervisorProps(deps), "containers")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan struct{})
	r := &Router{Runtime: h.rt, Root: h.system.Root, Supervisor: h.sup, Log: log}
	go r.Run(ctx, ready)
	<-ready
	var once sync.Once
	h.close = func() { once.Do(func() { cancel(); h.system.Shutdown() }) }
	t.Cleanup(h.close)
	return h
}

func (h *harness) ask(pid *actor.PID, msg any) any {
	h.t.Helper()
	v, err := h.system.Root.RequestFuture(pid, msg, 5*time.Second).Result()
	if err != nil {
		h.t.Fatalf("%T: %v", msg, err)
	}
	return v
}

func (h *harness) cmd(pid *actor.PID, msg any) (lifecycle.State, error) {
	h.t.Helper()
	r := h.ask(pid, msg).(Reply)
	return r.State, r.Err
}

func (h *harness) spawn(id string, create bool) *actor.PID {
	h.t.Helper()
	r := h.ask(h.sup, Spawn{ID: id, Create: create}).(SpawnReply)
	if r.Err != nil {
		h.t.Fatal(r.Err)
	}
	return r.PID
}

func (h *harness) running(id string) *actor.PID {
	h.t.Helper()
	pid := h.spawn(id, true)
	if _, err := h.cmd(pid, Create{Config: lifecycle.Config{ID: id, Rootfs: "/r", Args: []string{"sleep"}}}); err != nil {
		h.t.Fatal(err)
	}
	s, err := h.cmd(pid, Start{})
	if err != nil || s.Status != lifecycle.StatusRunning {
		h.t.Fatalf("start: %v %+v", err, s)
	}
	return pid
}

func (h *harness) replayed(id string) lifecycle.State {
	h.t.Helper()
	var s lifecycle.State
	if err := h.journal.Replay(id, func(r journal.Record) error {
		s = lifecycle.Apply(s, r.Event.(lifecycle.Event))
		return nil
	}); err != nil {
		h.t.Fatal(err)
	}
	return s
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestExitRecordedOnceAndJournaledBeforeReply(t *testing.T) {
	h := newHarness(t, journal.NewMemory())
	pid := h.running("c1")

	w := h.system.Root.RequestFuture(pid, Wait{Condition: WaitNotRunning}, 5*time.Second)
	s0, _ := h.cmd(pid, Inspect{})
	h.rt.Exit("c1", 7)
	// A dying shim may report the same exit again, with a fake 137.
	h.rt.Emit(c8dbridge.TaskExited{Container: "c1", ProcessID: "c1", Pid: s0.Pid, ExitCode: 137})
	v, err := w.Result()
	if err != nil {
		t.Fatal(err)
	}
	got := v.(Reply).State
	if got.Status != lifecycle.StatusExited || got.Exit.Code != 7 {
		t.Fatalf("after exit: %+v", got)
	}
	// Every state a reply reported is the journal's.
	if want := h.replayed("c1"); !reflect.DeepEqual(stripTimes(want), stripTimes(got)) {
		t.Fatalf("journal %+v\nreply   %+v", want, got)
	}
	s, _ := h.cmd(pid, Inspect{})
	exits := 0
	_ = h.journal.Replay("c1", func(r journal.Record) error {
		if _, ok := r.Event.(lifecycle.TaskExited); ok {
			exits++
		}
		return nil
	})
	if exits != 1 || s.Exit.Code != 7 {
		t.Fatalf("exit journaled %d times, state %+v", exits, s)
	}
}

func stripTimes(s lifecycle.State) lifecycle.State {
	s.CreatedAt, s.StartedAt = time.Time{}, time.Time{}
	if s.Exit != nil {
		e := *s.Exit
		e.At = time.Time{}
		s.Exit = &e
	}
	return s
}

func TestPanickingActorRestartsWithJournaledState(t *testing.T) {
	h := newHarness(t, journal.NewMemory())
	pid := h.running("c1")
	panicked := make(chan struct{})
	h.rt.OnKill = func(string, syscall.Signal) {
		h.rt.OnKill = nil
		close(panicked)
		panic("bug in an effect")
	}
	// The stop's intent is journaled, then the effect panics: the request
	// gets no reply, and the restarted actor rebuilds the state from the
	// journal, the stop included.
	f := h.system.Root.RequestFuture(pid, Stop{Timeout: time.Hour}, 300*time.Millisecond)
	<-panicked
	if _, err := f.Result(); err == nil {
		t.Fatal("a panicking request was answered")
	}
	s, err := h.cmd(pid, Inspect{})
	if err != nil {
		t.Fatal(err)
	}
	if s.Status != lifecycle.StatusRunning || !s.StopRequested || s.Pid == 0 {
		t.Fatalf("state after restart: %+v", s)
	}
	if want := h.replayed("c1"); !reflect.DeepEqual(want, s) {
		t.Fatalf("state after restart %+v\ndiffers from the journal %+v", s, want)
	}
	// And the actor still works.
	h.rt.Exit("c1", 143)
	s, _ = h.cmd(pid, Wait{Condition: WaitNotRunning})
	if s.Status != lifecycle.StatusExited || s.Exit.Code != 143 {
		t.Fatalf("after restart and exit: %+v", s)
	}
}

func TestJournalErrorFailsCommandAndChangesNothing(t *testing.T) {
	var failing atomic.Bool
	store := &journaltest.Faulty{Store: journal.NewMemory(), FailAppend: func(string, []any) error {
		if failing.Load() {
			return errors.New("disk full")
		}
		return nil
	}}
	h := newHarness(t, store)
	pid := h.running("c1")
	failing.Store(true)
	before, _ := h.cmd(pid, Inspect{})
	_, err := h.cmd(pid, Kill{Signal: 9})
	if err == nil {
		t.Fatal("kill succeeded although the journal failed")
	}
	after, _ := h.cmd(pid, Inspect{})
	if !reflect.DeepEqual(before, after) {
		t.Fatalf("state changed: %+v -> %+v", before, after)
	}
	if len(h.rt.Sent()) != 0 {
		t.Fatalf("signal sent before its intent was journaled: %v", h.rt.Sent())
	}
}

func TestStopEscalatesToSIGKILL(t *testing.T) {
	h := newHarness(t, journal.NewMemory())
	pid := h.running("c1")
	if _, err := h.cmd(pid, Stop{Timeout: 50 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "SIGKILL", func() bool {
		s := h.rt.Sent()
		return len(s) == 2 && s[0] == syscall.SIGTERM && s[1] == syscall.SIGKILL
	})
}

func TestRecoveryReconcilesExitWhileAway(t *testing.T) {
	store := journal.NewMemory()
	h := newHarness(t, store)
	h.running("c1")
	h.close()

	// The task exits while no supervisor runs.
	h.rt.UpdateTask("c1", func(task *c8dbridge.TaskStatus) {
		task.State, task.ExitCode, task.ExitedAt = c8dbridge.TaskStopped, 7, time.Unix(1700000000, 0).UTC()
	})

	h2 := newHarnessWith(t, store, h.rt)
	pid := h2.spawn("c1", false)
	s, err := h2.cmd(pid, Reconcile{})
	if err != nil {
		t.Fatal(err)
	}
	if s.Status != lifecycle.StatusExited || s.Exit.Code != 7 || !s.Exit.At.Equal(time.Unix(1700000000, 0)) {
		t.Fatalf("after reconcile: %+v %+v", s, s.Exit)
	}
	// Idempotent: a second reconcile journals nothing.
	n := count(t, store, "c1")
	if _, err := h2.cmd(pid, Reconcile{}); err != nil {
		t.Fatal(err)
	}
	if m := count(t, store, "c1"); m != n {
		t.Fatalf("second reconcile journaled %d records", m-n)
	}
}

// A kill journaled by a supervisor that died before it sent the signal is
// sent by the next one, once: the kill is delivered at least once and the
// container is not left running as "stopped by the user".
func TestKillLostInCrashIsSentAgain(t *testing.T) {
	store := journal.NewMemory()
	h := newHarness(t, store)
	h.running("c1")
	h.close()
	// What the dead supervisor journaled before calling containerd.
	if _, err := store.Append("c1", lifecycle.StopRequested{Signal: int(syscall.SIGHUP), At: time.Now()}); err != nil {
		t.Fatal(err)
	}

	h2 := newHarnessWith(t, store, h.rt)
	pid := h2.spawn("c1", false)
	s, err := h2.cmd(pid, Reconcile{})
	if err != nil {
		t.Fatal(err)
	}
	if got := h2.rt.Sent(); len(got) != 1 || got[0] != syscall.SIGHUP {
		t.Fatalf("signals sent at reconcile: %v, want [hangup]", got)
	}
	if s.PendingSignal != 0 || h2.replayed("c1").PendingSignal != 0 {
		t.Fatalf("pending signal after reconcile: state %d, journal %d", s.PendingSignal, h2.replayed("c1").PendingSignal)
	}
	if _, err := h2.cmd(pid, Reconcile{}); err != nil {
		t.Fatal(err)
	}
	if got := h2.rt.Sent(); len(got) != 1 {
		t.Fatalf("a second reconcile sent again: %v", got)
	}
}

// An exit that happens while the exit watcher has lost containerd, and
// whose event is lost too, is found by the actor's own reconcile.
func TestExitFoundAfterTheWatcherLostContainerd(t *testing.T) {
	h := newHarness(t, journal.NewMemory())
	pid := h.running("c1")
	h.rt.UpdateTask("c1", func(task *c8dbridge.TaskStatus) {
		task.State, task.ExitCode, task.ExitedAt = c8dbridge.TaskStopped, 5, time.Now()
	})
	h.rt.BreakWaits() // no exit event, no exit from the watcher
	eventually(t, "the exit recorded", func() bool {
		s, err := h.cmd(pid, Inspect{})
		return err == nil && s.Status == lifecycle.StatusExited && s.Exit != nil && s.Exit.Code == 5
	})
}

// A task whose shim was killed: the watcher ends, and containerd fails the
// task's query (the shim does not answer) before it has cleaned up and the
// task is gone. The actor asks again until containerd answers, and records
// the task's loss; it does not stay "running" with no task (the crash
// harness's cycle 374).
func TestTaskOfAKilledShimIsFoundGone(t *testing.T) {
	h := newHarness(t, journal.NewMemory())
	pid := h.running("c1")
	var fails atomic.Int32
	fails.Store(1)
	h.rt.UpdateTask("c1", func(ts *c8dbridge.TaskStatus) { *ts = c8dbridge.TaskStatus{State: c8dbridge.TaskAbsent} })
	h.rt.StatusErr = func(string) error {
		if fails.Add(-1) < 0 {
			fails.Store(0)
			return nil
		}
		return errors.New("ttrpc: closed")
	}
	h.rt.BreakWaits() // no exit event, no exit from the watcher
	eventually(t, "the task's loss recorded", func() bool {
		s, err := h.cmd(pid, Inspect{})
		return err == nil && s.Status == lifecycle.StatusExited && s.Exit != nil && s.Exit.Code == lifecycle.ExitCodeUnknown
	})
	if n := fails.Load(); n != 0 {
		t.Fatalf("%d failed queries left; want every one asked", n)
	}
}

func count(t *testing.T, store journal.Store, id string) int {
	n := 0
	if err := store.Replay(id, func(journal.Record) error { n++; return nil }); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestRemoveFreesTheID(t *testing.T) {
	h := newHarness(t, journal.NewMemory())
	pid := h.running("c1")
	if _, err := h.cmd(pid, Remove{}); err == nil {
		t.Fatal("removed a running container without force")
	}
	if _, err := h.cmd(pid, Remove{Force: true}); err != nil {
		t.Fatal(err)
	}
	r := h.ask(h.sup, Spawn{ID: "c1", Create: true}).(SpawnReply)
	if r.Err != nil {
		t.Fatalf("ID not free after removal: %v", r.Err)
	}
	if r2 := h.ask(h.sup, Spawn{ID: "c1", Create: true}).(SpawnReply); !errors.Is(r2.Err, ErrAlreadyExists) {
		t.Fatalf("second spawn: %v", r2.Err)
	}
	if r3 := h.ask(h.sup, Spawn{ID: "../x", Create: true}).(SpawnReply); r3.Err == nil {
		t.Fatal("spawned an actor for ../x")
	}
}

func TestWaitConditions(t *testing.T) {
	h := newHarness(t, journal.NewMemory())
	pid := h.running("c1")
	next := h.system.Root.RequestFuture(pid, Wait{Condition: WaitNextExit}, 5*time.Second)
	removed := h.system.Root.RequestFuture(pid, Wait{Condition: WaitRemoved}, 5*time.Second)
	h.rt.Exit("c1", 0)
	v, err := next.Result()
	if err != nil || v.(Reply).State.Status != lifecycle.StatusExited {
		t.Fatalf("next-exit: %v %+v", err, v)
	}
	if _, err := h.cmd(pid, Remove{}); err != nil {
		t.Fatal(err)
	}
	v, err = removed.Result()
	if err != nil || v.(Reply).State.Status != lifecycle.StatusRemoved {
		t.Fatalf("removed: %v %+v", err, v)
	}
}

func TestForceRemoveRecordsTheExit(t *testing.T) {
	h := newHarness(t, journal.NewMemory())
	pid := h.running("c1")
	s, _ := h.cmd(pid, Inspect{})
	if _, err := h.cmd(pid, Remove{Force: true}); err != nil {
		t.Fatal(err)
	}
	var types []string
	var exit lifecycle.TaskExited
	if err := h.journal.Replay("c1", func(r journal.Record) error {
		types = append(types, lifecycle.EventName(r.Event.(lifecycle.Event)))
		if x, ok := r.Event.(lifecycle.TaskExited); ok {
			exit = x
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	n := len(types)
	if n < 3 || types[n-3] != "RemoveRequested" || types[n-2] != "TaskExited" || types[n-1] != "ContainerRemoved" {
		t.Fatalf("journal ends with %v, want RemoveRequested, TaskExited, ContainerRemoved", types)
	}
	if exit.Pid != s.Pid || exit.Code != 137 {
		t.Fatalf("exit %+v, want pid %d code 137", exit, s.Pid)
	}
}
