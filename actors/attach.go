package actors

import (
	"fmt"
	"path/filepath"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/containerd/errdefs"

	"github.com/vigilhq/vigil/actors/lifecycle"
	"github.com/vigilhq/vigil/c8dbridge"
	"github.com/vigilhq/vigil/stdio"
)

// Interactive containers (created with Config.Interactive or Config.Tty)
// write to FIFOs in their bundle dir instead of the logging binary. Their
// actor holds the other ends: one stdio.Hub per run copies the output into
// the container's log (the same format, so logs read the same) and to the
// clients attached at the moment, and writes their input to the
// container's stdin. The actor opens a run's Hub in its StartTask effect,
// before the task is created, and, after the supervisor restarts, when a
// reconcile finds an interactive container running (syncIO). Output
// written while no supervisor reads waits in the FIFO: about 128 KiB (the
// FIFO's and the shim's pipe buffers), after which the container blocks on
// its output. Services meant to run unattended should not be interactive.
//
// The container's stdin stays open when a client detaches and when the
// supervisor stops: containerd's shim keeps a writer of its own until it is
// told to close it (CloseStdin).

// ErrNotInteractive answers Attach for a container created without
// Interactive or Tty: its output goes to the logging binary.
var ErrNotInteractive = fmt.Errorf("%w: the container is not interactive", lifecycle.ErrInvalidTransition)

// endWait bounds how long a start waits for the output of the container's
// last run to end before it closes that run's Hub. Only this container's
// start waits.
const endWait = 2 * time.Second

// ioRun is the Hub of one run of an interactive container.
type ioRun struct {
	hub *stdio.Hub
	pid uint32 // 0 until the task started
}

// pendingAttach is a client of an Attach with Start, waiting for the run
// the start opens.
type pendingAttach struct {
	m   Attach
	run *ioRun
	sub *stdio.Sub
}

// stdioOf is where the task of a container created from cfg writes: the
// logging binary for a detached container; for an interactive one (-i,
// -t), the FIFOs in its bundle dir, next to its log, which its actor reads
// (see stdio.Hub). The log path is given in both cases: the Hub writes the
// same log.
func (c *container) stdioOf(cfg lifecycle.Config) c8dbridge.Stdio {
	st := c8dbridge.Stdio{LogPath: c.deps.LogPath(c.id), Log: LogRotation(cfg.Log, c.deps.LogDefaults)}
	if cfg.UsesFIFOs() {
		f := stdio.FIFOPaths(filepath.Dir(st.LogPath), cfg.Interactive, cfg.Tty)
		st.Stdin, st.Stdout, st.Stderr, st.Tty = f.Stdin, f.Stdout, f.Stderr, f.Tty
	}
	return st
}

// LogRotation is how the log of a container with options o is rotated:
// what o sets, the rest from defaults (nil: stdio.DefaultRotation).
func LogRotation(o lifecycle.LogOptions, defaults *stdio.Rotation) stdio.Rotation {
	r := stdio.DefaultRotation
	if defaults != nil {
		r = *defaults
	}
	if o.MaxSize > 0 {
		r.MaxSize = o.MaxSize
	}
	if o.MaxFile > 0 {
		r.MaxFiles = o.MaxFile
	}
	if o.Compress != nil {
		r.Compress = *o.Compress
	}
	return r
}

// openRun opens the Hub of the run a start is about to create, and joins
// the clients waiting for it. A Hub left from a start that failed before
// its task wrote anything is taken over; one of an earlier run is closed
// once its output ended (or after endWait).
func (c *container) openRun(st c8dbridge.Stdio) (*ioRun, error) {
	if old := c.io; old != nil {
		if old.pid == 0 && !ended(old.hub) {
			c.bindPending(old)
			return old, nil
		}
		// The last run's output ends when its task is deleted, which
		// comes before the next start; give its Hub the time to read the
		// rest.
		c.io = nil
		select {
		case <-old.hub.Done():
		case <-time.After(endWait):
			c.log().Warn("the output of the last run did not end; closing it for the new run")
		}
		old.hub.Close()
	}
	run, err := c.openHub(st)
	if err != nil {
		return nil, err
	}
	c.bindPending(run)
	return run, nil
}

// openHub opens a Hub on the FIFOs of st and makes it the current run's.
func (c *container) openHub(st c8dbridge.Stdio) (*ioRun, error) {
	log := c.log()
	hub, err := stdio.OpenHub(stdio.FIFOs{Stdin: st.Stdin, Stdout: st.Stdout, Stderr: st.Stderr, Tty: st.Tty},
		st.LogPath, st.Log, func(format string, args ...any) {
			log.Warn("interactive output: " + fmt.Sprintf(format, args...))
		})
	if err != nil {
		return nil, err
	}
	c.io = &ioRun{hub: hub}
	return c.io, nil
}

// syncIO opens the Hub of an interactive container found running without
// one: after a supervisor restart the FIFOs of its task are still there,
// held open by the shim, with the output written meanwhile.
func (c *container) syncIO() {
	if c.io != nil || c.state.Status != lifecycle.StatusRunning || !c.state.Config.UsesFIFOs() {
		return
	}
	if _, err := c.runOfTask(); err != nil {
		c.log().Error("cannot reattach to an interactive container's output", "err", err)
	}
}

// runOfTask is the Hub of the running task, opened if needed.
func (c *container) runOfTask() (*ioRun, error) {
	if c.io != nil {
		return c.io, nil
	}
	run, err := c.openHub(c.stdioOf(c.state.Config))
	if err != nil {
		return nil, err
	}
	run.pid = c.state.Pid
	c.log().Info("reattached to an interactive container's output", "pid", c.state.Pid)
	return run, nil
}

// closeIO stops copying the container's output (the actor stops). What
// the task writes next waits in its FIFOs for the next actor.
func (c *container) closeIO() {
	if c.io != nil {
		c.io.hub.Close()
		c.io = nil
	}
}

// bindPending joins the clients waiting for the next run to run.
func (c *container) bindPending(run *ioRun) {
	for _, p := range c.pending {
		if p.sub == nil {
			p.run, p.sub = run, run.hub.Attach(p.m.Stdout, p.m.Stderr)
		}
	}
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

// attach answers Attach.
func (c *container) attach(ctx actor.Context, m Attach) AttachReply {
	if c.broken != nil {
		return AttachReply{Err: c.broken}
	}
	cfg := c.state.Config
	if c.state.Status == lifecycle.StatusNone || c.state.Status == lifecycle.StatusRemoved {
		return AttachReply{Err: fmt.Errorf("%w: %q", ErrNotFound, c.id)}
	}
	if !cfg.UsesFIFOs() {
		return AttachReply{Err: fmt.Errorf("attach to container %q: %w (created without -i or -t): read its output with logs", c.id, ErrNotInteractive)}
	}
	if m.Stdin && !cfg.Interactive {
		return AttachReply{Err: fmt.Errorf("attach to container %q: %w: its stdin is not open (created without -i)", c.id, lifecycle.ErrInvalidArgument)}
	}
	if !m.Start {
		if c.state.Status != lifecycle.StatusRunning {
			return AttachReply{Err: fmt.Errorf("attach to container %q: %w: it is %s, not running (start it with attach's start option, or read its output with logs)",
				c.id, lifecycle.ErrInvalidTransition, c.state.Status)}
		}
		if err := c.deps.available(); err != nil {
			return AttachReply{Err: err}
		}
		run, err := c.runOfTask()
		if err != nil {
			return AttachReply{Err: fmt.Errorf("attach to container %q: %w", c.id, err)}
		}
		return AttachReply{Hub: run.hub, Sub: run.hub.Attach(m.Stdout, m.Stderr), Pid: run.pid, Tty: cfg.Tty}
	}
	// Join the run the start creates: its Hub takes this client before
	// the task exists.
	p := &pendingAttach{m: m}
	c.pending = append(c.pending, p)
	cmd, err := c.admit(lifecycle.Start{At: c.deps.now()})
	if err == nil {
		err = c.handle(ctx, cmd)
	}
	c.afterCommand(ctx)
	c.pending = nil
	switch {
	case err != nil:
		if p.sub != nil {
			p.sub.Detach()
		}
		return AttachReply{Err: err}
	case p.sub == nil:
		// The start did not go through a Hub (its outcome is unknown):
		// say so rather than wait.
		return AttachReply{Err: fmt.Errorf("attach to container %q: %w: the start did not create a task", c.id, lifecycle.ErrInvalidTransition)}
	}
	return AttachReply{Hub: p.run.hub, Sub: p.sub, Pid: p.run.pid, Tty: cfg.Tty}
}

// resize answers Resize.
func (c *container) resize(m Resize) error {
	if c.broken != nil {
		return c.broken
	}
	if !c.state.Config.Tty {
		return fmt.Errorf("resize container %q: %w: it has no terminal (created without -t)", c.id, lifecycle.ErrInvalidArgument)
	}
	if m.Width == 0 || m.Height == 0 {
		return fmt.Errorf("resize container %q: %w: size %dx%d", c.id, lifecycle.ErrInvalidArgument, m.Width, m.Height)
	}
	if err := c.deps.available(); err != nil {
		return err
	}
	cctx, cancel := c.callCtx()
	defer cancel()
	return c.deps.Runtime.ResizeTask(cctx, c.id, m.Width, m.Height)
}

// closeStdin answers CloseStdin.
func (c *container) closeStdin() error {
	cctx, cancel := c.callCtx()
	defer cancel()
	if err := c.deps.Runtime.CloseStdin(cctx, c.id); err != nil && !errdefs.IsNotFound(err) {
		return fmt.Errorf("close the stdin of container %q: %w", c.id, err)
	}
	return nil
}
