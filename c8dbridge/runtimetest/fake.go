package runtimetest

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/containerd/errdefs"

	"github.com/vigilhq/vigil/c8dbridge"
)

// Fake is an in-memory containerd: the Runtime of the unit tests (of the
// actors, the engine and the facade) that need no containerd. It keeps the
// Runtime contract (Run; TestFakeContract), so what those tests show holds
// where the real client is used. Its tasks run nothing: a test makes one
// exit (Exit), changes it behind the supervisor's back (UpdateTask), or
// sends an event (Emit). Its execs run tiny built-in programs (Exec).
type Fake struct {
	// Events is what Subscribe gives; a test that runs no router drains
	// it.
	Events chan c8dbridge.Event
	// Hooks, when set before use, run before the default behaviour and
	// may replace it.
	OnKill   func(id string, sig syscall.Signal) // may panic, to test restarts
	OnStart  func(id string) error
	OnStatus func(id string) // may block, as a slow containerd call does
	// StatusErr, when it returns an error, makes TaskStatus fail with it
	// (containerd failing the query of a task whose shim just died).
	StatusErr func(id string) error

	mu         sync.Mutex
	containers map[string]*fakeContainer
	nextPid    uint32
	signals    []syscall.Signal
	down       bool // Version fails: containerd is down
	// waitBreak, closed, ends every pending WaitTask with an Unavailable
	// error, as a containerd restart does.
	waitBreak chan struct{}
	owner     c8dbridge.Owner // of the namespace

	exec fakeExecState // the live execs
	rec  fakeRecState  // the execs containerd knows, for exec recovery
}

func (f *Fake) ClaimNamespace(_ context.Context, o c8dbridge.Owner, takeOver bool) (c8dbridge.Owner, error) {
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

var _ c8dbridge.Runtime = (*Fake)(nil)

func NewFake() *Fake {
	return &Fake{containers: map[string]*fakeContainer{}, nextPid: 1000, Events: make(chan c8dbridge.Event, 100),
		waitBreak: make(chan struct{}), rec: fakeRecState{procs: map[string]*fakeRecProc{}}}
}

func (f *Fake) CreateContainer(_ context.Context, spec c8dbridge.ContainerSpec) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.containers[spec.ID]; ok {
		return fmt.Errorf("fake: %q: %w", spec.ID, errdefs.ErrAlreadyExists)
	}
	f.containers[spec.ID] = &fakeContainer{}
	return nil
}

func (f *Fake) StartTask(_ context.Context, id string, _ c8dbridge.Stdio) (uint32, error) {
	if f.OnStart != nil {
		if err := f.OnStart(id); err != nil {
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

func (f *Fake) Kill(_ context.Context, id string, sig syscall.Signal) error {
	if f.OnKill != nil {
		f.OnKill(id, sig)
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
		f.Exit(id, 137)
	}
	return nil
}

// Exit makes the task of id exit with code and emits the exit event.
func (f *Fake) Exit(id string, code uint32) {
	f.mu.Lock()
	c := f.containers[id]
	c.task.State = c8dbridge.TaskStopped
	c.task.ExitCode = code
	pid := c.task.Pid
	close(c.exited)
	f.mu.Unlock()
	f.Events <- c8dbridge.TaskExited{Container: id, ProcessID: id, Pid: pid, ExitCode: code}
}

func (f *Fake) PauseTask(_ context.Context, id string) error {
	return f.setTask(id, c8dbridge.TaskRunning, c8dbridge.TaskPaused)
}

func (f *Fake) UnpauseTask(_ context.Context, id string) error {
	return f.setTask(id, c8dbridge.TaskPaused, c8dbridge.TaskRunning)
}

// Stats and Top answer for a running or paused task: one process, the
// task's pid, with the pid as its memory use.
func (f *Fake) Stats(_ context.Context, id string) (c8dbridge.Stats, error) {
	pid, err := f.LivePid(id)
	if err != nil {
		return c8dbridge.Stats{}, err
	}
	return c8dbridge.Stats{Cgroup: 2, MemoryUsage: uint64(pid), Pids: 1}, nil
}

func (f *Fake) Top(_ context.Context, id string) ([]c8dbridge.Process, error) {
	pid, err := f.LivePid(id)
	if err != nil {
		return nil, err
	}
	return []c8dbridge.Process{{Pid: pid, Args: []string{"fake"}}}, nil
}

func (f *Fake) LivePid(id string) (uint32, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c, ok := f.containers[id]
	if !ok || (c.task.State != c8dbridge.TaskRunning && c.task.State != c8dbridge.TaskPaused) {
		return 0, fmt.Errorf("fake: %q has no live task: %w", id, errdefs.ErrNotFound)
	}
	return c.task.Pid, nil
}

func (f *Fake) setTask(id string, from, to c8dbridge.TaskState) error {
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
func (f *Fake) WaitTask(ctx context.Context, id string) (c8dbridge.TaskStatus, error) {
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

func (f *Fake) Sent() []syscall.Signal {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]syscall.Signal(nil), f.signals...)
}

func (f *Fake) TaskStatus(_ context.Context, id string) (c8dbridge.TaskStatus, error) {
	if f.OnStatus != nil {
		f.OnStatus(id)
	}
	if f.StatusErr != nil {
		if err := f.StatusErr(id); err != nil {
			return c8dbridge.TaskStatus{}, err
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	c, ok := f.containers[id]
	if !ok {
		return c8dbridge.TaskStatus{}, fmt.Errorf("fake: %q: %w", id, errdefs.ErrNotFound)
	}
	return c.task, nil
}

func (f *Fake) DeleteTask(_ context.Context, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if c, ok := f.containers[id]; ok && c.task.State == c8dbridge.TaskStopped {
		c.task = c8dbridge.TaskStatus{}
	}
	return nil
}

func (f *Fake) DeleteContainer(_ context.Context, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.containers, id)
	return nil
}

func (f *Fake) TaskStatuses(context.Context) (map[string]c8dbridge.TaskStatus, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := map[string]c8dbridge.TaskStatus{}
	for id, c := range f.containers {
		out[id] = c.task
	}
	return out, nil
}

func (f *Fake) Containers(context.Context) ([]string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var ids []string
	for id := range f.containers {
		ids = append(ids, id)
	}
	return ids, nil
}

func (f *Fake) Subscribe(ctx context.Context) (<-chan c8dbridge.Event, <-chan error) {
	errs := make(chan error, 1)
	return f.Events, errs
}

func (f *Fake) Version(context.Context) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.down {
		return "", fmt.Errorf("fake: %w", errdefs.ErrUnavailable)
	}
	return "fake", nil
}

func (f *Fake) Close() error { return nil }

// ResizeTask and CloseStdin answer NotFound without a task, as containerd.
func (f *Fake) ResizeTask(_ context.Context, id string, _, _ uint32) error {
	return f.needTask(id)
}

func (f *Fake) CloseStdin(_ context.Context, id string) error { return f.needTask(id) }

func (f *Fake) needTask(id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if c, ok := f.containers[id]; !ok || c.task.State == c8dbridge.TaskAbsent {
		return fmt.Errorf("fake: %q: no task: %w", id, errdefs.ErrNotFound)
	}
	return nil
}

// fakeExecState counts the Fake's exec calls.
type fakeExecState struct {
	mu          sync.Mutex
	started     []c8dbridge.ExecSpec
	inFlight    int // Exec calls under way
	maxInFlight int
	startDelay  time.Duration // how long each Exec call takes
}

func (f *Fake) execState() *fakeExecState {
	return &f.exec
}

// Exec runs tiny built-in programs in a live task, chosen by Args[0]:
//
//	exit N     exits with code N at once
//	cat        copies stdin to stdout, exits 0 when stdin ends
//	sleep      runs until killed (137)
//	nosuch     cannot start: ErrCommandNotFound
func (f *Fake) Exec(ctx context.Context, id string, spec c8dbridge.ExecSpec, stdio c8dbridge.ExecStdio) (c8dbridge.ExecProcess, error) {
	st := f.execState()
	st.mu.Lock()
	st.inFlight++
	st.maxInFlight = max(st.maxInFlight, st.inFlight)
	delay := st.startDelay
	st.mu.Unlock()
	defer func() {
		st.mu.Lock()
		st.inFlight--
		st.mu.Unlock()
	}()
	time.Sleep(delay)

	if _, err := f.LivePid(id); err != nil {
		return nil, err
	}
	if len(spec.Args) == 0 {
		return nil, fmt.Errorf("fake: no args: %w", errdefs.ErrInvalidArgument)
	}
	p := &fakeExec{done: make(chan struct{}), kill: make(chan int, 1)}
	switch spec.Args[0] {
	case "nosuch":
		return nil, fmt.Errorf("fake: %w: %q", c8dbridge.ErrCommandNotFound, spec.Args[0])
	case "exit":
		code := 0
		if len(spec.Args) > 1 {
			code, _ = strconv.Atoi(spec.Args[1])
		}
		go p.finish(code)
	case "cat":
		go func() {
			if stdio.Stdin != nil && stdio.Stdout != nil {
				io.Copy(stdio.Stdout, stdio.Stdin)
			}
			p.finish(0)
		}()
	case "sleep":
		go func() { p.finish(<-p.kill) }()
	default:
		return nil, fmt.Errorf("fake: %w: unknown program %q", c8dbridge.ErrCommandNotFound, spec.Args[0])
	}
	f.mu.Lock()
	f.nextPid++
	p.pid = f.nextPid
	f.mu.Unlock()
	st.mu.Lock()
	st.started = append(st.started, spec)
	st.mu.Unlock()
	return p, nil
}

func (st *fakeExecState) stats() (started, maxInFlight int) {
	st.mu.Lock()
	defer st.mu.Unlock()
	return len(st.started), st.maxInFlight
}

type fakeExec struct {
	pid  uint32
	done chan struct{}
	kill chan int
	code uint32
}

func (p *fakeExec) finish(code int) {
	p.code = uint32(code)
	close(p.done)
}

func (p *fakeExec) Pid() uint32 { return p.pid }

func (p *fakeExec) Wait(ctx context.Context) (c8dbridge.TaskStatus, error) {
	select {
	case <-ctx.Done():
		return c8dbridge.TaskStatus{}, ctx.Err()
	case <-p.done:
		return c8dbridge.TaskStatus{State: c8dbridge.TaskStopped, ExitCode: p.code, ExitedAt: time.Unix(1, 0)}, nil
	}
}

func (p *fakeExec) Resize(context.Context, uint32, uint32) error {
	return nil // like containerd: a process without a terminal ignores it
}

func (p *fakeExec) Kill(_ context.Context, sig syscall.Signal) error {
	select {
	case p.kill <- 128 + int(sig):
	default:
	}
	return nil
}

// The fake's containerd side of exec recovery: the exec processes that
// containerd knows by ID, as a supervisor finds them after a restart. A
// test sets them with setExec; an ID it did not set is unknown (NotFound),
// and so are the fake's live execs (fake_exec_test.go), whose waits the
// actor holds.

type fakeRecState struct {
	mu      sync.Mutex
	procs   map[string]*fakeRecProc // by container ID + "/" + exec ID
	status  int                     // ExecStatus calls
	waits   int                     // WaitExec calls
	deleted []string                // exec IDs given to DeleteExec
}

// fakeRecProc is an exec process in the fake containerd: running until
// done is closed, then exited with code.
type fakeRecProc struct {
	pid  uint32
	done chan struct{}
	code uint32
	at   time.Time
}

func (f *Fake) recState() *fakeRecState {
	return &f.rec
}

// SetExec makes containerd know the exec execID of container id: running,
// or exited with code at at when exited.
func (f *Fake) SetExec(id, execID string, pid uint32, exited bool, code uint32, at time.Time) *fakeRecProc {
	st := f.recState()
	st.mu.Lock()
	defer st.mu.Unlock()
	p := &fakeRecProc{pid: pid, done: make(chan struct{}), code: code, at: at}
	if exited {
		close(p.done)
	}
	st.procs[id+"/"+execID] = p
	return p
}

// ExitExec makes the running exec execID of container id exit with code.
func (f *Fake) ExitExec(id, execID string, code uint32, at time.Time) {
	st := f.recState()
	st.mu.Lock()
	defer st.mu.Unlock()
	p := st.procs[id+"/"+execID]
	p.code, p.at = code, at
	close(p.done)
}

func (st *fakeRecState) counts() (status, waits int, deleted []string) {
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.status, st.waits, append([]string(nil), st.deleted...)
}

func (f *Fake) recProc(id, execID string) (*fakeRecProc, error) {
	st := f.recState()
	st.mu.Lock()
	defer st.mu.Unlock()
	p, ok := st.procs[id+"/"+execID]
	if !ok {
		return nil, fmt.Errorf("fake: exec %q in %q: %w", execID, id, errdefs.ErrNotFound)
	}
	return p, nil
}

func (f *Fake) ExecStatus(_ context.Context, id, execID string) (c8dbridge.TaskStatus, error) {
	f.recState().count(func(st *fakeRecState) { st.status++ })
	p, err := f.recProc(id, execID)
	if err != nil {
		return c8dbridge.TaskStatus{}, err
	}
	select {
	case <-p.done:
		return c8dbridge.TaskStatus{State: c8dbridge.TaskStopped, Pid: p.pid, ExitCode: p.code, ExitedAt: p.at}, nil
	default:
		return c8dbridge.TaskStatus{State: c8dbridge.TaskRunning, Pid: p.pid}, nil
	}
}

func (f *Fake) WaitExec(ctx context.Context, id, execID string) (c8dbridge.TaskStatus, error) {
	f.recState().count(func(st *fakeRecState) { st.waits++ })
	p, err := f.recProc(id, execID)
	if err != nil {
		return c8dbridge.TaskStatus{}, err
	}
	select {
	case <-ctx.Done():
		return c8dbridge.TaskStatus{}, ctx.Err()
	case <-p.done:
		return c8dbridge.TaskStatus{State: c8dbridge.TaskStopped, Pid: p.pid, ExitCode: p.code, ExitedAt: p.at}, nil
	}
}

func (f *Fake) DeleteExec(_ context.Context, id, execID string) error {
	st := f.recState()
	st.mu.Lock()
	defer st.mu.Unlock()
	st.deleted = append(st.deleted, execID)
	if p, ok := st.procs[id+"/"+execID]; ok {
		select {
		case <-p.done:
			delete(st.procs, id+"/"+execID)
		default:
			return fmt.Errorf("fake: exec %q runs: %w", execID, errdefs.ErrFailedPrecondition)
		}
	}
	return nil
}

func (st *fakeRecState) count(f func(*fakeRecState)) {
	st.mu.Lock()
	defer st.mu.Unlock()
	f(st)
}

// CheckpointTask of the fake: a running task is "checkpointed" (nothing is
// written) and, unless leaveRunning, exits with 137 as runc's does.
func (f *Fake) CheckpointTask(_ context.Context, id, dir string, leaveRunning bool) error {
	if _, err := f.LivePid(id); err != nil {
		return err
	}
	if !leaveRunning {
		f.Exit(id, 137)
	}
	return nil
}

// ForceDeleteTask of the fake: a live task is killed (137); the task is
// deleted and its exit returned.
func (f *Fake) ForceDeleteTask(_ context.Context, id string) (c8dbridge.TaskStatus, error) {
	if _, err := f.LivePid(id); err == nil {
		f.Exit(id, 137)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	c, ok := f.containers[id]
	if !ok {
		return c8dbridge.TaskStatus{}, fmt.Errorf("fake: %q: %w", id, errdefs.ErrNotFound)
	}
	st := c.task
	c.task = c8dbridge.TaskStatus{}
	if st.State != c8dbridge.TaskStopped {
		return c8dbridge.TaskStatus{State: c8dbridge.TaskAbsent}, nil
	}
	return st, nil
}

// Emit sends a containerd event to whoever subscribed.
func (f *Fake) Emit(e c8dbridge.Event) { f.Events <- e }

// SetDown makes Version fail with an Unavailable error (containerd is
// down), or answer again.
func (f *Fake) SetDown(down bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.down = down
}

// BreakWaits ends every pending and later WaitTask with an Unavailable
// error, as a containerd restart does.
func (f *Fake) BreakWaits() {
	f.mu.Lock()
	defer f.mu.Unlock()
	close(f.waitBreak)
}

// UpdateTask changes the task of container id as fn says, without an
// event: what happened behind the supervisor's back. It reports whether
// the container exists.
func (f *Fake) UpdateTask(id string, fn func(*c8dbridge.TaskStatus)) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	c, ok := f.containers[id]
	if ok {
		fn(&c.task)
	}
	return ok
}

// Has says whether the fake holds container id.
func (f *Fake) Has(id string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	_, ok := f.containers[id]
	return ok
}

// ExecStats says how many exec processes started, and how many Exec calls
// ran at once at most.
func (f *Fake) ExecStats() (started, maxInFlight int) { return f.execState().stats() }

// SetExecDelay makes each Exec call take d.
func (f *Fake) SetExecDelay(d time.Duration) {
	st := f.execState()
	st.mu.Lock()
	defer st.mu.Unlock()
	st.startDelay = d
}

// ExecRecoveryCalls counts the calls of exec recovery: ExecStatus,
// WaitExec, and the exec IDs given to DeleteExec.
func (f *Fake) ExecRecoveryCalls() (status, waits int, deleted []string) {
	return f.recState().counts()
}
