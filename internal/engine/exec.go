package engine

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"syscall"

	"github.com/vigilhq/vigil/actors"
	"github.com/vigilhq/vigil/c8dbridge"
)

// Errors of an exec whose program cannot run, as a shell's exit codes 127
// and 126 tell them apart. Test with errors.Is.
var (
	ErrCommandNotFound      = c8dbridge.ErrCommandNotFound
	ErrCommandNotExecutable = c8dbridge.ErrCommandNotExecutable
)

// ExecConfig is a process to run in a running container, as docker exec
// runs one. What it leaves empty is the container's: its user, its working
// directory, its environment (Env adds to it, a key given replaces it).
type ExecConfig struct {
	Args []string // Args[0] is the program, looked up in the container's PATH
	Env  []string // KEY=VALUE
	User string   // uid[:gid] or name[:group], looked up in the rootfs
	Cwd  string   // absolute
	// Tty gives the process a terminal: its stdout and stderr are then
	// one stream, written to Stdout. Width and Height are its size at
	// start (0: containerd's default); Execution.Resize changes it.
	Tty           bool
	Width, Height uint32
	// Stdin, when not nil, is copied to the process's stdin; when it
	// ends, the process's stdin is closed (also if it ended before the
	// process started). Nil: the process has no stdin.
	Stdin io.Reader
	// Stdout and Stderr receive the process's output; nil discards it.
	Stdout, Stderr io.Writer
	// Detach runs the process with its stdio on /dev/null; Stdin, Stdout
	// and Stderr are ignored. Its exit is journaled all the same.
	Detach bool
}

// Execution is an exec process that started.
type Execution struct {
	ID  string // the exec ID, unique in the container
	Pid uint32 // the process's pid on the host

	proc c8dbridge.ExecProcess
	done chan struct{} // closed once exit is set
	exit actors.ExecExit
}

// Wait waits until the process exited, its output was copied and its exit
// was journaled, or until ctx ends, and returns its exit code. An error
// other than ctx's says that the exit could not be learned (containerd went
// away); the code is then 255.
func (e *Execution) Wait(ctx context.Context) (int, error) {
	select {
	case <-ctx.Done():
		return 0, ctx.Err()
	case <-e.done:
		return e.exit.Code, e.exit.Err
	}
}

// Done is closed once the process exited and Wait returns at once.
func (e *Execution) Done() <-chan struct{} { return e.done }

// Resize sets the size of the process's terminal, in characters; a process
// without one ignores it. It fails once the process ended.
func (e *Execution) Resize(ctx context.Context, width, height uint32) error {
	return e.proc.Resize(ctx, width, height)
}

// Kill sends signal sig (a Linux signal number) to the process.
func (e *Execution) Kill(ctx context.Context, sig int) error {
	if sig <= 0 || sig > 64 {
		return fmt.Errorf("%w: signal %d is out of range 1-64", ErrInvalidArgument, sig)
	}
	return e.proc.Kill(ctx, syscall.Signal(sig))
}

// Exec starts cfg's process in container id's running task and returns once
// it runs and its start is journaled (ExecStarted; ExecExited follows its
// exit). Its stdio goes through FIFOs in the container's directory,
// STATE/containers/ID/exec/EXECID, removed when it ends.
//
// A container that is not running, or is paused, gives
// ErrInvalidTransition and nothing changes; a program that cannot run gives
// ErrCommandNotFound or ErrCommandNotExecutable. Execs of one container
// start one at a time; they run and are waited for concurrently.
func (s *Supervisor) Exec(ctx context.Context, id string, cfg ExecConfig) (*Execution, error) {
	// The same check as c8dbridge's, here so that a bad request is an
	// ErrInvalidArgument before the actor is asked.
	if err := c8dbridge.ValidateProcess(cfg.Args, cfg.Cwd, cfg.Env); err != nil {
		return nil, fmt.Errorf("%w: exec in container %q: %w", ErrInvalidArgument, id, err)
	}
	pid, err := s.PID(ctx, id)
	if err != nil {
		return nil, err
	}
	if err := s.needContainerd(); err != nil {
		return nil, err
	}
	msg := actors.Exec{Spec: c8dbridge.ExecSpec{
		ExecID: newExecID(),
		Args:   cfg.Args,
		Env:    cfg.Env,
		User:   cfg.User,
		Cwd:    cfg.Cwd,
		Tty:    cfg.Tty,
		Width:  cfg.Width,
		Height: cfg.Height,
	}}
	if !cfg.Detach {
		msg.Stdio = c8dbridge.ExecStdio{Stdin: cfg.Stdin, Stdout: cfg.Stdout, Stderr: cfg.Stderr}
	}
	res, err := s.ask(ctx, pid, msg)
	if err != nil {
		return nil, err
	}
	r, ok := res.(actors.ExecReply)
	if !ok {
		return nil, fmt.Errorf("vigil: unexpected answer %T to exec", res)
	}
	if r.Err != nil {
		return nil, r.Err
	}
	e := &Execution{ID: msg.Spec.ExecID, Pid: r.Process.Pid(), proc: r.Process, done: make(chan struct{})}
	go func() {
		e.exit = <-r.Exited
		close(e.done)
	}()
	return e, nil
}

// newExecID returns 16 random hex digits.
func newExecID() string {
	var b [8]byte
	rand.Read(b[:]) // never fails
	return hex.EncodeToString(b[:])
}
