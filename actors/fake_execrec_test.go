package actors

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/containerd/errdefs"

	"github.com/vigilhq/vigil/c8dbridge"
)

// The fake's containerd side of exec recovery: the exec processes that
// containerd knows by ID, as a supervisor finds them after a restart. A
// test sets them with setExec; an ID it did not set is unknown (NotFound),
// and so are the fake's live execs (fake_exec_test.go), whose waits the
// actor holds. The state lives beside fakeRuntime in fakeRecs.

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

var fakeRecs sync.Map // *fakeRuntime -> *fakeRecState

func (f *fakeRuntime) recState() *fakeRecState {
	v, _ := fakeRecs.LoadOrStore(f, &fakeRecState{procs: map[string]*fakeRecProc{}})
	return v.(*fakeRecState)
}

// setExec makes containerd know the exec execID of container id: running,
// or exited with code at at when exited.
func (f *fakeRuntime) setExec(id, execID string, pid uint32, exited bool, code uint32, at time.Time) *fakeRecProc {
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

// exitExec makes the running exec execID of container id exit with code.
func (f *fakeRuntime) exitExec(id, execID string, code uint32, at time.Time) {
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

func (f *fakeRuntime) recProc(id, execID string) (*fakeRecProc, error) {
	st := f.recState()
	st.mu.Lock()
	defer st.mu.Unlock()
	p, ok := st.procs[id+"/"+execID]
	if !ok {
		return nil, fmt.Errorf("fake: exec %q in %q: %w", execID, id, errdefs.ErrNotFound)
	}
	return p, nil
}

func (f *fakeRuntime) ExecStatus(_ context.Context, id, execID string) (c8dbridge.TaskStatus, error) {
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

func (f *fakeRuntime) WaitExec(ctx context.Context, id, execID string) (c8dbridge.TaskStatus, error) {
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

func (f *fakeRuntime) DeleteExec(_ context.Context, id, execID string) error {
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
