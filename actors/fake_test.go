package actors

import (
	"context"
	"fmt"
	"sync"
	"syscall"

	"github.com/containerd/errdefs"

	"github.com/vigilhq/vigil/c8dbridge"
)

// fakeRuntime is an in-memory containerd for unit tests of the actors only.
// Hooks, when set, run before the default behaviour and may replace it.
type fakeRuntime struct {
	mu         sync.Mutex
	containers map[string]*fakeContainer
	nextPid    uint32
	signals    []syscall.Signal
	events     chan c8dbridge.Event

	down bool // Version fails: containerd is down
	// waitBreak, closed, ends every pending WaitTask with an Unavailable
	// error, as a containerd restart does.
	waitBreak chan struct{}
	onKill    func(id string, sig syscall.Signal) // may panic, to test restarts
	onStart   func(id string) error
	onStatus  func(id string) // may block, as a slow containerd call does
	owner     c8dbridge.Owner // of the namespace
}

func (f *fakeRuntime) ClaimNamespace(_ context.Context, o c8dbridge.Owner, takeOver bool) (c8dbridge.Owner, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	prev := f.owner
	switch {
	case o.Journal == "":
		return c8dbridge.Owner{}, fmt.Errorf("fake: claim without an identity: %w", errdefs.ErrInvalidArgument)
	case prev.Journal != "" && prev.Journal != o.Journal && !takeOver:
		return prev, fmt.Errorf("fake: %w: %s", c8dbridge.ErrNamespaceOwned, prev)
	}
	f.owner = o
	return prev, nil
}

type fakeContainer struct {
	task   c8dbridge.TaskStatus
	exited chan struct{} // closed when the task exits
}

var _ c8dbridge.Runtime = (*fakeRuntime)(nil)

func newFakeRuntime() *fakeRuntime {
	return &fakeRuntime{containers: map[string]*fakeContainer{}, nextPid: 1000, events: make(chan c8dbridge.Event, 100),
		waitBreak: make(chan struct{})}
}

func (f *fakeRuntime) CreateContainer(_ context.Context, spec c8dbridge.ContainerSpec) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.containers[spec.ID]; ok {
		return fmt.Errorf("fake: %q: %w", spec.ID, errdefs.ErrAlreadyExists)
	}
	f.containers[spec.ID] = &fakeContainer{}
	return nil
}

func (f *fakeRuntime) StartTask(_ context.Context, id string, _ c8dbridge.Stdio) (uint32, error) {
	if f.onStart != nil {
		if err := f.onStart(id); err != nil {
			return 0, err
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	c, ok := f.containers[id]
	if !ok {
		return 0, fmt.Errorf("fake: %q: %w", id, errdefs.ErrNotFound)
	}
	f.nextPid++
	c.task = c8dbridge.TaskStatus{State: c8dbridge.TaskRunning, Pid: f.nextPid}
	c.exited = make(chan struct{})
	return f.nextPid, nil
}

func (f *fakeRuntime) Kill(_ context.Context, id string, sig syscall.Signal) error {
	if f.onKill != nil {
		f.onKill(id, sig)
	}
	f.mu.Lock()
	c, ok := f.containers[id]
	if !ok || c.task.State != c8dbridge.TaskRunning {
		f.mu.Unlock()
		return fmt.Errorf("fake: %q: %w", id, errdefs.ErrNotFound)
	}
	f.signals = append(f.signals, sig)
	f.mu.Unlock()
	if sig == syscall.SIGKILL { // like the kernel: no task survives it
		f.exit(id, 137)
	}
	return nil
}

// exit makes the task of id exit with code and emits the exit event.
func (f *fakeRuntime) exit(id string, code uint32) {
	f.mu.Lock()
	c := f.containers[id]
	c.task.State = c8dbridge.TaskStopped
	c.task.ExitCode = code
	pid := c.task.Pid
	close(c.exited)
	f.mu.Unlock()
	f.events <- c8dbridge.TaskExited{Container: id, ProcessID: id, Pid: pid, ExitCode: code}
}

func (f *fakeRuntime) PauseTask(_ context.Context, id string) error {
	return f.setTask(id, c8dbridge.TaskRunning, c8dbridge.TaskPaused)
}

func (f *fakeRuntime) UnpauseTask(_ context.Context, id string) error {
	return f.setTask(id, c8dbridge.TaskPaused, c8dbridge.TaskRunning)
}

// Stats and Top answer for a running or paused task: one process, the
// task's pid, with the pid as its memory use.
func (f *fakeRuntime) Stats(_ context.Context, id string) (c8dbridge.Stats, error) {
	pid, err := f.livePid(id)
	if err != nil {
		return c8dbridge.Stats{}, err
	}
	return c8dbridge.Stats{Cgroup: 2, MemoryUsage: uint64(pid), Pids: 1}, nil
}

func (f *fakeRuntime) Top(_ context.Context, id string) ([]c8dbridge.Process, error) {
	pid, err := f.livePid(id)
	if err != nil {
		return nil, err
	}
	return []c8dbridge.Process{{Pid: pid, Args: []string{"fake"}}}, nil
}

func (f *fakeRuntime) livePid(id string) (uint32, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c, ok := f.containers[id]
	if !ok || (c.task.State != c8dbridge.TaskRunning && c.task.State != c8dbridge.TaskPaused) {
		return 0, fmt.Errorf("fake: %q has no live task: %w", id, errdefs.ErrNotFound)
	}
	return c.task.Pid, nil
}

func (f *fakeRuntime) setTask(id string, from, to c8dbridge.TaskState) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	c, ok := f.containers[id]
	if !ok || c.task.State != from {
		return fmt.Errorf("fake: %q is not %s: %w", id, from, errdefs.ErrFailedPrecondition)
	}
	c.task.State = to
	return nil
}

// WaitTask returns when exit is called for the task, like containerd.
func (f *fakeRuntime) WaitTask(ctx context.Context, id string) (c8dbridge.TaskStatus, error) {
	f.mu.Lock()
	c, ok := f.containers[id]
	if !ok || c.exited == nil {
		f.mu.Unlock()
		return c8dbridge.TaskStatus{}, fmt.Errorf("fake: %q: %w", id, errdefs.ErrNotFound)
	}
	exited, broken := c.exited, f.waitBreak
	f.mu.Unlock()
	select {
	case <-ctx.Done():
		return c8dbridge.TaskStatus{}, ctx.Err()
	case <-broken:
		return c8dbridge.TaskStatus{}, fmt.Errorf("fake: wait %q: %w", id, errdefs.ErrUnavailable)
	case <-exited:
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return c.task, nil
}

func (f *fakeRuntime) sent() []syscall.Signal {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]syscall.Signal(nil), f.signals...)
}

func (f *fakeRuntime) TaskStatus(_ context.Context, id string) (c8dbridge.TaskStatus, error) {
	if f.onStatus != nil {
		f.onStatus(id)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	c, ok := f.containers[id]
	if !ok {
		return c8dbridge.TaskStatus{}, fmt.Errorf("fake: %q: %w", id, errdefs.ErrNotFound)
	}
	return c.task, nil
}

func (f *fakeRuntime) DeleteTask(_ context.Context, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if c, ok := f.containers[id]; ok && c.task.State == c8dbridge.TaskStopped {
		c.task = c8dbridge.TaskStatus{}
	}
	return nil
}

func (f *fakeRuntime) DeleteContainer(_ context.Context, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.containers, id)
	return nil
}

func (f *fakeRuntime) TaskStatuses(context.Context) (map[string]c8dbridge.TaskStatus, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := map[string]c8dbridge.TaskStatus{}
	for id, c := range f.containers {
		out[id] = c.task
	}
	return out, nil
}

func (f *fakeRuntime) Containers(context.Context) ([]string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var ids []string
	for id := range f.containers {
		ids = append(ids, id)
	}
	return ids, nil
}

func (f *fakeRuntime) Subscribe(ctx context.Context) (<-chan c8dbridge.Event, <-chan error) {
	errs := make(chan error, 1)
	return f.events, errs
}

func (f *fakeRuntime) Version(context.Context) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.down {
		return "", fmt.Errorf("fake: %w", errdefs.ErrUnavailable)
	}
	return "fake", nil
}

func (f *fakeRuntime) Close() error { return nil }

// ResizeTask and CloseStdin answer NotFound without a task, as containerd.
func (f *fakeRuntime) ResizeTask(_ context.Context, id string, _, _ uint32) error {
	return f.needTask(id)
}

func (f *fakeRuntime) CloseStdin(_ context.Context, id string) error { return f.needTask(id) }

func (f *fakeRuntime) needTask(id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if c, ok := f.containers[id]; !ok || c.task.State == c8dbridge.TaskAbsent {
		return fmt.Errorf("fake: %q: no task: %w", id, errdefs.ErrNotFound)
	}
	return nil
}
