package engine

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"sync"
	"time"

	"github.com/containerd/errdefs"

	"github.com/vigilhq/vigil/actors"
	"github.com/vigilhq/vigil/actors/lifecycle"
	"github.com/vigilhq/vigil/c8dbridge"
	"github.com/vigilhq/vigil/internal/containerid"
	"github.com/vigilhq/vigil/stdio"
)

// Interactive containers (created with Config.Interactive or Config.Tty)
// write to FIFOs in their bundle dir instead of the logging binary. The
// supervisor holds the other ends: one stdio.Hub per run copies the output
// into the container's log (the same format, so Logs works the same) and to
// the clients attached at the moment, and writes their input to the
// container's stdin. A Hub is opened before the task is created (ioRuntime)
// and, after the supervisor restarts, for every interactive container found
// running (reattach, after each reconcile). Output written while no
// supervisor reads waits in the FIFO: about 128 KiB (the FIFO's and the
// shim's pipe buffers), after which the container blocks on its output.
// Services meant to run unattended should not be interactive.
//
// The container's stdin stays open when a client detaches and when the
// supervisor stops: containerd's shim keeps a writer of its own until it is
// told to close it. Only an attachment with CloseStdin closes it, when its
// Stdin ends (docker's run -i, whose stdin is "once").

// ErrNotInteractive is returned by Attach for a container created without
// Interactive or Tty: its output goes to the logging binary; read it with
// Logs.
var ErrNotInteractive = fmt.Errorf("%w: the container is not interactive", ErrInvalidTransition)

// ErrDetached is returned by Attachment.Wait after Detach.
var ErrDetached = errors.New("vigil: detached")

// ioRun is the Hub of one run of an interactive container.
type ioRun struct {
	hub *stdio.Hub
	pid uint32 // 0 until the task started; under its slot's mu
}

// hubSlot is one interactive container's Hub and the clients waiting for
// its next run. Each container has a lock of its own: opening, replacing
// or joining one container's Hub never waits on another container, and no
// lock is shared between them. The container's actor opens the Hub in its
// StartTask effect (ioRuntime), so the Hub of a run belongs to the actor
// that starts it.
type hubSlot struct {
	mu      sync.Mutex
	run     *ioRun
	pending []*Attachment
}

// attachments holds the slots of the interactive containers, by ID.
type attachments struct {
	slots sync.Map // string -> *hubSlot
}

// slot is the slot of container id, made on first use.
func (a *attachments) slot(id string) *hubSlot {
	v, _ := a.slots.LoadOrStore(id, &hubSlot{})
	return v.(*hubSlot)
}

// ioRuntime is the Runtime the actors use: it opens a Hub before an
// interactive task is created, so that no output is missed, and hands it
// the clients waiting for that run.
type ioRuntime struct {
	c8dbridge.Runtime
	s *Supervisor
}

func (r ioRuntime) StartTask(ctx context.Context, id string, st c8dbridge.Stdio) (uint32, error) {
	if st.Stdout == "" {
		return r.Runtime.StartTask(ctx, id, st)
	}
	run, err := r.s.openRun(id, stdio.FIFOs{Stdin: st.Stdin, Stdout: st.Stdout, Stderr: st.Stderr, Terminal: st.Terminal}, st.LogPath, st.Log, true)
	if err != nil {
		return 0, fmt.Errorf("%w: %w", errdefs.ErrFailedPrecondition, err)
	}
	pid, err := r.Runtime.StartTask(ctx, id, st)
	if err == nil {
		sl := r.s.attach.slot(id)
		sl.mu.Lock()
		run.pid = pid
		sl.mu.Unlock()
	}
	// After a failure the Hub stays: the next start takes it over (the
	// actor creates a vanished container again and retries at once), and
	// a start whose outcome was unknown may have started the task, whose
	// output it then reads.
	return pid, err
}

// openRun opens the Hub of a container's run and attaches the clients
// waiting for it. replace says that a new task starts: a Hub left from an
// earlier run is closed. Without replace, an existing Hub is kept.
func (s *Supervisor) openRun(id string, f stdio.FIFOs, logPath string, rot stdio.Rotation, replace bool) (*ioRun, error) {
	sl := s.attach.slot(id)
	sl.mu.Lock()
	old := sl.run
	if old != nil && (!replace || (old.pid == 0 && !ended(old.hub))) {
		// Kept, or taken over from a start that failed before its task
		// wrote anything.
		if replace {
			sl.bindPending(old)
		}
		sl.mu.Unlock()
		return old, nil
	}
	sl.run = nil
	sl.mu.Unlock()
	if old != nil {
		// The last run's output ends when its task is deleted, which comes
		// before the next start; give its Hub the time to read the rest.
		// Only this container's start waits for it.
		select {
		case <-old.hub.Done():
		case <-time.After(2 * time.Second):
			s.log.Warn("the output of the last run did not end; closing it for the new run", "container", id)
		}
		old.hub.Close()
	}

	sl.mu.Lock()
	defer sl.mu.Unlock()
	if cur := sl.run; cur != nil && !replace {
		return cur, nil // opened meanwhile
	}
	log := s.log.With("container", id)
	hub, err := stdio.OpenHub(f, logPath, rot, func(format string, args ...any) {
		log.Warn("interactive output: " + fmt.Sprintf(format, args...))
	})
	if err != nil {
		return nil, err
	}
	run := &ioRun{hub: hub}
	sl.run = run
	sl.bindPending(run)
	return run, nil
}

// bindPending joins the clients waiting for the next run to run. Called
// under sl.mu.
func (sl *hubSlot) bindPending(run *ioRun) {
	for _, at := range sl.pending {
		at.bind(run)
	}
	sl.pending = nil
}

// ended says whether the Hub's output ended.
func ended(h *stdio.Hub) bool {
	select {
	case <-h.Done():
		return true
	default:
		return false
	}
}

// fifosOf are the FIFOs of a container created from cfg.
func (s *Supervisor) fifosOf(cfg lifecycle.Config) stdio.FIFOs {
	return stdio.FIFOPaths(filepath.Join(s.bundleRoot(), cfg.ID), cfg.Interactive, cfg.Tty)
}

// reattach opens the Hub of every interactive container that runs and has
// none: after a supervisor restart, the FIFOs of its task are still there,
// held open by the shim, with the output written meanwhile.
// It takes the states the reconcile answered.
func (s *Supervisor) reattach(reconciled []result) {
	for _, r := range reconciled {
		st := r.state
		if r.err != nil || st.Status != lifecycle.StatusRunning || !st.Config.UsesFIFOs() {
			continue
		}
		if _, err := s.runOf(st); err != nil {
			s.log.Error("cannot reattach to an interactive container's output", "container", st.ID, "err", err)
		}
	}
}

// runOf is the Hub of a running interactive container, opened if needed.
func (s *Supervisor) runOf(st lifecycle.State) (*ioRun, error) {
	if err := containerid.Validate(st.ID); err != nil {
		return nil, err
	}
	sl := s.attach.slot(st.ID)
	sl.mu.Lock()
	run := sl.run
	sl.mu.Unlock()
	if run != nil {
		return run, nil
	}
	run, err := s.openRun(st.ID, s.fifosOf(st.Config), s.LogPath(st.ID), actors.LogRotation(st.Config.Log, s.cfg.LogRotation), false)
	if err != nil {
		return nil, err
	}
	sl.mu.Lock()
	if run.pid == 0 {
		run.pid = st.Pid
	}
	sl.mu.Unlock()
	s.log.Info("reattached to an interactive container's output", "container", st.ID, "pid", st.Pid)
	return run, nil
}

// closeAttachments stops copying the output of every interactive container
// (at Close). What they write next waits in their FIFOs for the next Open.
func (s *Supervisor) closeAttachments() {
	s.attach.slots.Range(func(_, v any) bool {
		sl := v.(*hubSlot)
		sl.mu.Lock()
		run := sl.run
		sl.run = nil
		sl.mu.Unlock()
		if run != nil {
			run.hub.Close()
		}
		return true
	})
}

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
	slot *hubSlot
	id   string
	tty  bool
	opts AttachOptions

	bound chan struct{} // closed once run and sub are set
	run   *ioRun
	sub   *stdio.Sub

	detachOnce sync.Once
	detached   chan struct{}
}

// bind joins the Attachment to a run. Called once, under its slot's mu.
func (at *Attachment) bind(run *ioRun) {
	at.run = run
	at.sub = run.hub.Attach(at.opts.Stdout, at.opts.Stderr)
	close(at.bound)
	if at.opts.Stdin != nil {
		go at.copyStdin()
	}
}

// Attach joins a running interactive container's stdio (or, with
// opts.Start, starts it once joined). Errors: ErrInvalidID, ErrNotFound;
// ErrNotInteractive (an ErrInvalidTransition) for a container created
// without Interactive or Tty; ErrInvalidTransition when it does not run
// (or, with Start, cannot be started); ErrInvalidArgument for Stdin when
// the container's stdin is not open.
func (s *Supervisor) Attach(ctx context.Context, id string, opts AttachOptions) (*Attachment, error) {
	st, err := s.Inspect(ctx, id)
	if err != nil {
		return nil, err
	}
	if !st.Config.UsesFIFOs() {
		return nil, fmt.Errorf("attach to container %q: %w (created without -i or -t): read its output with logs", id, ErrNotInteractive)
	}
	if opts.Stdin != nil && !st.Config.Interactive {
		return nil, fmt.Errorf("attach to container %q: %w: its stdin is not open (created without -i)", id, ErrInvalidArgument)
	}
	sl := s.attach.slot(id)
	at := &Attachment{s: s, slot: sl, id: id, tty: st.Config.Tty, opts: opts, bound: make(chan struct{}), detached: make(chan struct{})}
	if !opts.Start {
		if st.Status != lifecycle.StatusRunning {
			return nil, fmt.Errorf("attach to container %q: %w: it is %s, not running (start it with attach's start option, or read its output with logs)",
				id, ErrInvalidTransition, st.Status)
		}
		if err := s.needContainerd(); err != nil {
			return nil, err
		}
		run, err := s.runOf(st)
		if err != nil {
			return nil, fmt.Errorf("attach to container %q: %w", id, err)
		}
		sl.mu.Lock()
		at.bind(run)
		sl.mu.Unlock()
		return at, nil
	}
	// Wait for the run the start creates: its Hub takes this client
	// before the task exists.
	sl.mu.Lock()
	sl.pending = append(sl.pending, at)
	sl.mu.Unlock()
	if _, err := s.Start(ctx, id); err != nil {
		s.unpend(at)
		at.Detach()
		return nil, err
	}
	select {
	case <-at.bound:
	default:
		// The start did not go through a Hub (it was refused, or its
		// outcome is unknown): say so rather than wait.
		s.unpend(at)
		at.Detach()
		return nil, fmt.Errorf("attach to container %q: %w: the start did not create a task", id, ErrInvalidTransition)
	}
	return at, nil
}

// unpend drops an Attachment that still waits for a run.
func (s *Supervisor) unpend(at *Attachment) {
	at.slot.mu.Lock()
	defer at.slot.mu.Unlock()
	for i, x := range at.slot.pending {
		if x == at {
			at.slot.pending = append(at.slot.pending[:i:i], at.slot.pending[i+1:]...)
			break
		}
	}
}

// copyStdin copies the client's input to the container's stdin.
func (at *Attachment) copyStdin() {
	buf := make([]byte, 32<<10)
	for {
		n, err := at.opts.Stdin.Read(buf)
		if n > 0 {
			if _, werr := at.run.hub.WriteStdin(buf[:n]); werr != nil {
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

// closeStdin closes the container's stdin: the Hub's writer and the shim's.
func (at *Attachment) closeStdin() {
	at.run.hub.CloseStdin()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := at.s.runtime.CloseStdin(ctx, at.id); err != nil && !errdefs.IsNotFound(err) {
		at.s.log.Warn("attach: cannot close the container's stdin", "container", at.id, "err", err)
	}
}

// Resize sets the size of the container's terminal. ErrInvalidArgument for
// a container without one (created without Tty).
func (at *Attachment) Resize(ctx context.Context, width, height uint32) error {
	if !at.tty {
		return fmt.Errorf("resize container %q: %w: it has no terminal (created without -t)", at.id, ErrInvalidArgument)
	}
	if width == 0 || height == 0 {
		return fmt.Errorf("resize container %q: %w: size %dx%d", at.id, ErrInvalidArgument, width, height)
	}
	return at.s.runtime.ResizeTask(ctx, at.id, width, height)
}

// Detach leaves the container running and stops delivering its output.
func (at *Attachment) Detach() {
	at.detachOnce.Do(func() {
		close(at.detached)
		select {
		case <-at.bound:
			at.sub.Detach()
		default:
		}
	})
}

// Wait returns the exit code of the container's process once its output
// ended and was all written to Stdout and Stderr, and the exit is
// journaled. It returns ErrDetached after Detach, the writer's error if
// output could not be delivered, and ctx's error when ctx ends first.
func (at *Attachment) Wait(ctx context.Context) (int, error) {
	select {
	case <-at.bound:
	case <-at.detached:
		return 0, ErrDetached
	case <-ctx.Done():
		return 0, ctx.Err()
	}
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
	at.slot.mu.Lock()
	pid := at.run.pid
	at.slot.mu.Unlock()
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
