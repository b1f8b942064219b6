package actors

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/vigilhq/vigil/actors/lifecycle"
	"github.com/vigilhq/vigil/c8dbridge"
	"github.com/vigilhq/vigil/journal"
)

// unkillable is a containerd whose tasks ignore SIGKILL (a process stuck
// in the kernel): only a forced delete ends them.
type unkillable struct {
	*fakeRuntime
	mu      sync.Mutex
	forced  int
	signals []syscall.Signal
}

func (u *unkillable) Kill(_ context.Context, id string, sig syscall.Signal) error {
	if _, err := u.LivePid(id); err != nil {
		return err
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	u.signals = append(u.signals, sig)
	return nil
}

func (u *unkillable) ForceDeleteTask(ctx context.Context, id string) (c8dbridge.TaskStatus, error) {
	u.mu.Lock()
	u.forced++
	u.mu.Unlock()
	return u.fakeRuntime.ForceDeleteTask(ctx, id)
}

// newHarnessRuntime is newHarness with rt, which wraps h.rt, as the
// actors' and the router's containerd.
func newHarnessRuntime(t *testing.T, fake *fakeRuntime, rt c8dbridge.Runtime) *harness {
	t.Helper()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	h := &harness{t: t, rt: fake, journal: journal.NewMemory()}
	h.system = actor.NewActorSystem(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger { return log }))
	deps := &Deps{
		Runtime: rt, Journal: h.journal, Clock: time.Now, Log: log,
		LogPath: func(id string) string { return "/nonexistent/" + id }, CallTimeout: 5 * time.Second,
	}
	var err error
	if h.sup, err = h.system.Root.SpawnNamed(NewSupervisorProps(deps), "containers"); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan struct{})
	go (&Router{Runtime: rt, Root: h.system.Root, Supervisor: h.sup, Log: log}).Run(ctx, ready)
	<-ready
	var once sync.Once
	h.close = func() { once.Do(func() { cancel(); h.system.Shutdown() }) }
	t.Cleanup(h.close)
	return h
}

// TestForceRemoveOfUnkillableTaskIsBounded: a task that a SIGKILL does
// not end keeps rm -f waiting only killWait; then it is deleted forcibly,
// its exit is journaled once, and the container is removed.
func TestForceRemoveOfUnkillableTaskIsBounded(t *testing.T) {
	defer func(d time.Duration) { killWait = d }(killWait)
	killWait = 200 * time.Millisecond
	fake := newFakeRuntime()
	u := &unkillable{fakeRuntime: fake}
	h := newHarnessRuntime(t, fake, u)
	pid := h.running("stuck")
	s0, _ := h.cmd(pid, Inspect{})

	t0 := time.Now()
	if _, err := h.cmd(pid, Remove{Force: true}); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(t0); d > 3*time.Second {
		t.Errorf("rm -f took %v with killWait %v", d, killWait)
	}
	u.mu.Lock()
	forced, signals := u.forced, u.signals
	u.mu.Unlock()
	if forced != 1 || len(signals) != 1 || signals[0] != syscall.SIGKILL {
		t.Errorf("forced deletes %d, signals %v; want one SIGKILL, then one forced delete", forced, signals)
	}
	var exits []lifecycle.TaskExited
	var last lifecycle.Event
	if err := h.journal.Replay("stuck", func(r journal.Record) error {
		if x, ok := r.Event.(lifecycle.TaskExited); ok {
			exits = append(exits, x)
		}
		last = r.Event.(lifecycle.Event)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(exits) != 1 || exits[0].Pid != s0.Pid || exits[0].Code != 137 {
		t.Errorf("exits journaled: %+v, want one of pid %d with 137", exits, s0.Pid)
	}
	if _, ok := last.(lifecycle.ContainerRemoved); !ok {
		t.Errorf("last record %T, want ContainerRemoved", last)
	}
	if _, err := fake.TaskStatus(context.Background(), "stuck"); err == nil {
		t.Error("the container is still in containerd")
	}
}

// TestForceRemoveRecordsExitOfTaskGoneWithContainer: when neither the
// kill nor the forced delete can tell the exit (both fail), and the
// container's delete takes the task with it, the run's exit is still
// journaled once, with 137 and the reason.
func TestForceRemoveRecordsExitOfTaskGoneWithContainer(t *testing.T) {
	defer func(d time.Duration) { killWait = d }(killWait)
	killWait = 100 * time.Millisecond
	fake := newFakeRuntime()
	rt := &failingForce{unkillable: unkillable{fakeRuntime: fake}}
	h := newHarnessRuntime(t, fake, rt)
	pid := h.running("lost")
	s0, _ := h.cmd(pid, Inspect{})
	if _, err := h.cmd(pid, Remove{Force: true}); err != nil {
		t.Fatal(err)
	}
	var exits []lifecycle.TaskExited
	_ = h.journal.Replay("lost", func(r journal.Record) error {
		if x, ok := r.Event.(lifecycle.TaskExited); ok {
			exits = append(exits, x)
		}
		return nil
	})
	if len(exits) != 1 || exits[0].Pid != s0.Pid || exits[0].Code != 137 || exits[0].Reason == "" {
		t.Errorf("exits journaled: %+v, want one of pid %d, 137, with a reason", exits, s0.Pid)
	}
}

// failingForce is unkillable, and its forced delete fails too.
type failingForce struct{ unkillable }

func (f *failingForce) ForceDeleteTask(context.Context, string) (c8dbridge.TaskStatus, error) {
	return c8dbridge.TaskStatus{}, context.DeadlineExceeded
}
