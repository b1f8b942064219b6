package engine

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/vigilhq/vigil/actors"
	"github.com/vigilhq/vigil/stdio"
)

// Interactive containers (created with Config.Interactive or Config.Tty)
// write to FIFOs that their container actor reads: the actor owns each
// run's stdio.Hub (actors' attach.go), so no lock is shared between
// containers and no actor waits on another container's I/O. Attach asks
// the actor to join a client to the Hub; the client's input is copied on
// a goroutine of the Attachment.

// ErrNotInteractive is returned by Attach for a container created without
// Interactive or Tty: its output goes to the logging binary; read it with
// Logs.
var ErrNotInteractive = actors.ErrNotInteractive

// ErrDetached is returned by Attachment.Wait after Detach.
var ErrDetached = errors.New("vigil: detached")

// AttachOptions says which of a container's stdio an Attachment joins.
type AttachOptions struct {
	// Stdin, when not nil, is copied to the container's stdin (it must have
	// been created Interactive). The copy runs on a goroutine of its own
	// until Stdin returns an error or end of file, even after Detach.
	Stdin io.Reader
	// CloseStdin closes the container's stdin when Stdin reaches end of
	// file (io.EOF; another error leaves it open), for every client
	// (docker's run -i). Without it the container's stdin stays open for
	// the next client.
	CloseStdin bool
	// Stdout and Stderr receive the output written from now on; with a
	// terminal, all of it goes to Stdout. Nil discards that stream. A
	// writer that falls far behind (1,024 writes) is detached: output never
	// waits for a client.
	Stdout, Stderr io.Writer
	// Start starts the container (created or exited) once attached, so
	// that not a byte of its output is missed. Without Start, the container
	// must be running.
	Start bool
}

// Attachment is a client joined to an interactive container's stdio.
type Attachment struct {
	s    *Supervisor
	pid  *actor.PID // the container's actor
	id   string
	tty  bool
	opts AttachOptions

	hub     *stdio.Hub // the run's, for the client's input
	sub     *stdio.Sub
	taskPid uint32 // the run's task

	detachOnce sync.Once
	detached   chan struct{}
}

// Attach joins a running interactive container's stdio (or, with
// opts.Start, starts it once joined). The container's actor checks and
// joins (actors.Attach), so a client never waits on another container.
// Errors: ErrInvalidID, ErrNotFound; ErrNotInteractive (an
// ErrInvalidTransition) for a container created without Interactive or
// Tty; ErrInvalidTransition when it does not run (or, with Start, cannot
// be started); ErrInvalidArgument for Stdin when the container's stdin is
// not open.
func (s *Supervisor) Attach(ctx context.Context, id string, opts AttachOptions) (*Attachment, error) {
	pid, err := s.PID(ctx, id)
	if err != nil {
		return nil, err
	}
	res, err := s.ask(ctx, pid, actors.Attach{Stdout: opts.Stdout, Stderr: opts.Stderr, Stdin: opts.Stdin != nil, Start: opts.Start})
	if err != nil {
		return nil, err
	}
	r, ok := res.(actors.AttachReply)
	if !ok {
		return nil, fmt.Errorf("vigil: unexpected answer %T to attach", res)
	}
	if r.Err != nil {
		return nil, r.Err
	}
	at := &Attachment{s: s, pid: pid, id: id, tty: r.Tty, opts: opts, hub: r.Hub, sub: r.Sub, taskPid: r.Pid, detached: make(chan struct{})}
	if opts.Stdin != nil {
		go at.copyStdin()
	}
	return at, nil
}

// copyStdin copies the client's input to the container's stdin.
func (at *Attachment) copyStdin() {
	buf := make([]byte, 32<<10)
	for {
		n, err := at.opts.Stdin.Read(buf)
		if n > 0 {
			if _, werr := at.hub.WriteStdin(buf[:n]); werr != nil {
				at.s.log.Debug("attach: write to the container's stdin", "container", at.id, "err", werr)
				return
			}
		}
		if err != nil {
			// Only the end of the input closes the container's stdin; a
			// client that went away (another error) leaves it open.
			if at.opts.CloseStdin && errors.Is(err, io.EOF) {
				at.closeStdin()
			}
			return
		}
	}
}

// closeStdin closes the container's stdin: the Hub's writer, then the
// shim's (through the container's actor).
func (at *Attachment) closeStdin() {
	at.hub.CloseStdin()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := at.s.request(ctx, at.pid, actors.CloseStdin{}); err != nil && !errors.Is(err, ErrNotFound) {
		at.s.log.Warn("attach: cannot close the container's stdin", "container", at.id, "err", err)
	}
}

// Resize sets the size of the container's terminal (actors.Resize).
// ErrInvalidArgument for a container without one (created without Tty).
func (at *Attachment) Resize(ctx context.Context, width, height uint32) error {
	_, err := at.s.request(ctx, at.pid, actors.Resize{Width: width, Height: height})
	return err
}

// Detach leaves the container running and stops delivering its output.
func (at *Attachment) Detach() {
	at.detachOnce.Do(func() {
		close(at.detached)
		at.sub.Detach()
	})
}

// Wait returns the exit code of the container's process once its output
// ended and was all written to Stdout and Stderr, and the exit is
// journaled. It returns ErrDetached after Detach, the writer's error if
// output could not be delivered, and ctx's error when ctx ends first.
func (at *Attachment) Wait(ctx context.Context) (int, error) {
	select {
	case <-at.sub.Done():
	case <-at.detached:
		return 0, ErrDetached
	case <-ctx.Done():
		return 0, ctx.Err()
	}
	select {
	case <-at.detached:
		return 0, ErrDetached
	default:
	}
	if err := at.sub.Err(); err != nil {
		return 0, err
	}
	pid := at.taskPid
	// The output ends when the task's processes closed it; the exit is
	// journaled when containerd reports it, shortly before or after: the
	// actor's Wait answers once it is. A restart policy may have started
	// the next run meanwhile: the exit wanted is the one of this run's pid
	// (State.Exit keeps the last exit until the next one). Each turn waits
	// on the actor; nothing polls.
	for range 3 {
		st, err := at.s.Inspect(ctx, at.id)
		if err != nil {
			return 0, err
		}
		if st.Exit != nil && (st.Exit.Pid == pid || pid == 0 && !st.Alive()) {
			return st.Exit.Code, nil
		}
		if !st.Alive() {
			break
		}
		if _, err := at.s.Wait(ctx, at.id, actors.WaitNotRunning); err != nil {
			return 0, err
		}
	}
	return 0, fmt.Errorf("attach to container %q: the exit of pid %d is not recorded: a later run's exit replaced it", at.id, pid)
}

// Tty says whether the container has a terminal.
func (at *Attachment) Tty() bool { return at.tty }
