package actors

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

// The fake's exec processes run tiny built-in programs, chosen by Args[0]:
//
//	exit N     exits with code N at once
//	cat        copies stdin to stdout, exits 0 when stdin ends
//	sleep      runs until killed (137)
//	nosuch     cannot start: ErrCommandNotFound
//
// The state lives beside fakeRuntime (whose file is shared) in fakeExecs.

type fakeExecState struct {
	mu          sync.Mutex
	started     []c8dbridge.ExecSpec
	inFlight    int // Exec calls under way
	maxInFlight int
	startDelay  time.Duration // how long each Exec call takes
}

var fakeExecs sync.Map // *fakeRuntime -> *fakeExecState

func (f *fakeRuntime) execState() *fakeExecState {
	v, _ := fakeExecs.LoadOrStore(f, &fakeExecState{})
	return v.(*fakeExecState)
}

func (f *fakeRuntime) Exec(ctx context.Context, id string, spec c8dbridge.ExecSpec, stdio c8dbridge.ExecStdio) (c8dbridge.ExecProcess, error) {
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

	if _, err := f.livePid(id); err != nil {
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
