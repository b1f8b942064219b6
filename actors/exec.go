package actors

import (
	"context"
	"fmt"
	"syscall"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/containerd/errdefs"

	"github.com/vigilhq/vigil/actors/lifecycle"
	"github.com/vigilhq/vigil/c8dbridge"
)

// execReportTimeout bounds how long the goroutine that waited for an exec's
// exit waits for its actor to journal it before it tells the caller anyway.
const execReportTimeout = time.Minute

// exec starts an exec process. Starts of one container are serialized by
// its mailbox (containerd before 1.6.22 is very slow with concurrent exec
// starts in one task); the wait for the exit runs in a goroutine, which
// reports it back as execExited, so the actor is free meanwhile.
func (c *container) exec(ctx actor.Context, m Exec) {
	fail := func(err error) { ctx.Respond(ExecReply{Err: err}) }
	if c.broken != nil {
		fail(c.broken)
		return
	}
	if err := c.deps.available(); err != nil {
		fail(err)
		return
	}
	d, err := lifecycle.Decide(c.state, lifecycle.Exec{ExecID: m.Spec.ExecID, Args: m.Spec.Args, At: c.deps.now()})
	if err != nil {
		fail(err)
		return
	}
	var start lifecycle.StartExec
	for _, eff := range d.Effects {
		if e, ok := eff.(lifecycle.StartExec); ok {
			start = e
		}
	}
	if start.ExecID == "" {
		fail(fmt.Errorf("actors: container %q: the exec was decided without a start", c.id))
		return
	}

	cctx, cancel := c.callCtx()
	proc, err := c.deps.Runtime.Exec(cctx, c.id, m.Spec, m.Stdio)
	cancel()
	if err != nil {
		fail(err) // c8dbridge names the container
		return
	}
	pid := proc.Pid()
	log := c.log().With("exec", start.ExecID, "pid", pid)
	if err := c.handle(ctx, lifecycle.RecordExecStarted{ExecID: start.ExecID, Pid: pid, Args: start.Args, At: c.deps.now()}); err != nil {
		// Not journaled: the caller hears of a failure, so the process
		// must not go on unrecorded.
		log.Warn("cannot journal the exec's start; killing it", "err", err)
		kctx, cancel := c.callCtx()
		if kerr := proc.Kill(kctx, syscall.SIGKILL); kerr != nil {
			log.Warn("cannot kill the exec that was not journaled", "err", kerr)
		}
		cancel()
		go proc.Wait(context.Background()) // its end removes its FIFOs
		fail(err)
		return
	}
	log.Debug("exec started", "args", start.Args)
	c.execWaiting(start.ExecID, nil) // the goroutine below waits for it

	exited := make(chan ExecExit, 1)
	self, root := ctx.Self(), ctx.ActorSystem().Root
	go func() {
		st, err := proc.Wait(context.Background())
		// Journal the exit first, then tell the caller. An actor that is
		// gone (the container was removed) answers with a dead letter at
		// once; an actor that does not answer is not waited for forever.
		msg := execExited{execID: start.ExecID, pid: pid, status: st, err: err}
		_, _ = root.RequestFuture(self, msg, execReportTimeout).Result()
		exited <- ExecExit{Code: int(st.ExitCode), ExitedAt: st.ExitedAt, Err: err}
	}()
	ctx.Respond(ExecReply{Process: proc, Exited: exited})
}

// execEnded records the exit that the wait of a live exec saw and answers
// its waiter.
func (c *container) execEnded(ctx actor.Context, m execExited) {
	defer ctx.Respond(struct{}{})
	c.waitEnded(ctx, m)
}

// waitEnded journals the exit that a wait for an exec saw. A wait that
// failed (containerd went away) journals nothing: the exec stays open and
// a reconcile, armed here (or the one the router runs when containerd is
// back), asks containerd for it, and records an exec it no longer knows as
// lost.
func (c *container) waitEnded(ctx actor.Context, m execExited) {
	delete(c.execWaits, m.execID)
	if m.err != nil {
		c.log().Warn("lost the wait for an exec; its exit is reconciled with containerd", "exec", m.execID, "err", m.err)
		c.armReconcile(ctx)
		return
	}
	c.recordExecExit(ctx, lifecycle.RecordExecExited{ExecID: m.execID, Pid: m.pid, Code: int(m.status.ExitCode),
		ExitedAt: m.status.ExitedAt, At: c.deps.now()})
}

func (c *container) recordExecExit(ctx actor.Context, cmd lifecycle.RecordExecExited) {
	_, open := c.state.OpenExec(cmd.ExecID)
	if err := c.handle(ctx, cmd); err != nil {
		c.log().Warn("cannot journal the exit of an exec", "exec", cmd.ExecID, "err", err)
	} else if open {
		c.log().Debug("exec exited", "exec", cmd.ExecID, "pid", cmd.Pid, "code", cmd.Code, "reason", cmd.Reason)
	}
}

// Recovery of execs (ARCHITECTURE.md, "Crash consistency"). After every
// reconcile of the task, each open exec that no goroutine of this actor
// waits for is looked up in containerd: one that exited has its exit
// journaled with containerd's code and time; one that runs gets a waiter,
// as the live path has; one that containerd no longer knows is journaled
// with 255 and lifecycle.ReasonExecLost. The same exit reported twice (by
// a waiter and by reconciliation) is recorded once: Decide ignores an
// exec that is not open.

// execWaiter is a goroutine that waits for an exec's exit. cancel is nil
// for the live path's, which ends with the process.
type execWaiter struct{ cancel context.CancelFunc }

// execRecovered reports the end of a wait that reconciliation armed.
type execRecovered execExited

func (c *container) execWaiting(execID string, cancel context.CancelFunc) {
	if c.execWaits == nil {
		c.execWaits = map[string]*execWaiter{}
	}
	c.execWaits[execID] = &execWaiter{cancel: cancel}
}

// stopExecWaits ends the waits that reconciliation armed; the actor stops.
func (c *container) stopExecWaits() {
	for id, w := range c.execWaits {
		if w.cancel != nil {
			w.cancel()
		}
		delete(c.execWaits, id)
	}
}

// reconcileExecs settles the open execs with containerd. It returns the
// first error; an exec whose status containerd did not give stays open
// for the next reconcile.
func (c *container) reconcileExecs(ctx actor.Context) error {
	var first error
	for _, x := range c.state.Execs { // handle replaces the slice; this one stays
		if _, ok := c.execWaits[x.ID]; ok {
			continue
		}
		cctx, cancel := c.callCtx()
		st, err := c.deps.Runtime.ExecStatus(cctx, c.id, x.ID)
		cancel()
		now := c.deps.now()
		switch {
		case errdefs.IsNotFound(err):
			c.log().Warn("an exec is gone from containerd; its exit code is unknown", "exec", x.ID, "pid", x.Pid)
			c.recordExecExit(ctx, lifecycle.RecordExecExited{ExecID: x.ID, Pid: x.Pid, Code: lifecycle.ExitCodeUnknown,
				ExitedAt: now, Reason: lifecycle.ReasonExecLost, At: now})
		case err != nil:
			if first == nil {
				first = fmt.Errorf("actors: container %q: status of exec %q: %w", c.id, x.ID, err)
			}
		case st.State == c8dbridge.TaskStopped:
			c.recordExecExit(ctx, lifecycle.RecordExecExited{ExecID: x.ID, Pid: x.Pid, Code: int(st.ExitCode),
				ExitedAt: st.ExitedAt, At: now})
		default:
			c.waitExec(ctx, x)
		}
	}
	return first
}

// waitExec arms a goroutine that waits for the exit of exec x, which runs,
// and reports it as execRecovered.
func (c *container) waitExec(ctx actor.Context, x lifecycle.OpenExec) {
	wctx, cancel := context.WithCancel(context.Background())
	c.execWaiting(x.ID, cancel)
	self, root, rt, id := ctx.Self(), ctx.ActorSystem().Root, c.deps.Runtime, c.id
	c.log().Debug("waiting again for an exec that runs", "exec", x.ID, "pid", x.Pid)
	go func() {
		st, err := rt.WaitExec(wctx, id, x.ID)
		if wctx.Err() != nil {
			return // the actor stopped
		}
		root.Send(self, execRecovered{execID: x.ID, pid: x.Pid, status: st, err: err})
	}()
}

// execRecoveredEnded records the exit that a wait armed at reconcile saw.
func (c *container) execRecoveredEnded(ctx actor.Context, m execRecovered) {
	c.waitEnded(ctx, execExited(m))
}

// deleteExec removes an exec whose exit is journaled from containerd,
// with its FIFO dir. A failure changes nothing: the process goes with
// its task.
func (c *container) deleteExec(cctx context.Context, e lifecycle.DeleteExec) {
	if err := c.deps.Runtime.DeleteExec(cctx, c.id, e.ExecID); err != nil {
		c.log().Warn("cannot delete an exec that exited", "exec", e.ExecID, "err", err)
	}
}
