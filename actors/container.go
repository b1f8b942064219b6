package actors

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"syscall"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/containerd/errdefs"

	"github.com/vigilhq/vigil/actors/lifecycle"
	"github.com/vigilhq/vigil/c8dbridge"
	"github.com/vigilhq/vigil/journal"
)

// ErrReplay wraps a journal that could not be replayed: the actor refuses
// every command rather than act on a state it does not know. Its class
// is DataLoss.
var ErrReplay = errdefs.ErrDataLoss.WithMessage("actors: journal replay failed")

// errTaskUnknown is containerd's answer when the task's shim did not tell
// its state in time: the task may well run, so nothing is decided on it.
var errTaskUnknown = errors.New("containerd reports the task's state as unknown (its shim did not answer); nothing is decided until it does")

type waiter struct {
	cond   WaitCondition
	sender *actor.PID
	exits  int // lifecycle exits seen when the wait began
}

// container is the actor of one container.
type container struct {
	id          string
	deps        *Deps
	incarnation int // 1 on first start, more after a panic restarted it

	state   lifecycle.State
	exits   int    // TaskExited events applied since the actor started
	broken  error  // replay failure
	lastSeq uint64 // the container's last journal record
	snapSeq uint64 // the last record its newest snapshot covers (snapshot.go)
	waiters []waiter
	timer   *time.Timer
	// restartTimer is the timer of the pending restart (State.NextRestart).
	restartTimer *time.Timer
	// updateTimer is the grace timer of an update (update.go).
	updateTimer *time.Timer

	// The exit watcher: a WaitTask call on containerd for the running
	// task, a second path for its exit besides the event stream (and the
	// faster one).
	watchPid    uint32
	watchCancel context.CancelFunc

	lastChange time.Time // when this actor last applied events (Deps.Clock)

	retry      *time.Timer // a pending self-reconcile, after an unknown outcome
	retryDelay time.Duration
	// leftoverRetries counts the starts of the current intent that state
	// of an earlier task refused (leftoverInTheWay).
	leftoverRetries int

	// execWaits are the execs whose exit a goroutine waits for, by exec
	// ID (exec.go).
	execWaits map[string]*execWaiter

	// health probes the running task of a container with a health check
	// (health.go).
	health healthChecker

	// io is the Hub of the current run of an interactive container, nil
	// for others (attach.go); pending are the clients of an Attach with
	// Start, while its start runs.
	io      *ioRun
	pending []*pendingAttach
}

func newContainerProps(id string, deps *Deps) *actor.Props {
	incarnations := 0
	return actor.PropsFromProducer(func() actor.Actor {
		incarnations++ // the producer runs on the actor's own goroutine
		return &container{id: id, deps: deps, incarnation: incarnations}
	}, actor.WithSupervisor(actor.NewOneForOneStrategy(10, time.Minute, actor.DefaultDecider)))
}

func (c *container) log() *slog.Logger { return c.deps.Log.With("container", c.id) }

func (c *container) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *actor.Started:
		c.recover()
		if c.incarnation > 1 {
			c.log().Warn("container actor restarted after a panic; state rebuilt from the journal",
				"status", c.state.Status, "incarnation", c.incarnation)
			if err := c.reconcile(ctx, nil); err != nil {
				c.log().Error("reconcile after restart failed", "err", err)
			}
			c.afterCommand(ctx)
		}
	case *actor.Stopping:
		c.stopTimer()
		c.stopRestartTimer()
		c.stopUpdateTimer()
		c.stopRetry()
		c.stopWatch()
		c.stopExecWaits()
		c.stopHealth()
		c.closeIO() // attach.go
		for _, w := range c.waiters {
			ctx.Send(w.sender, Reply{State: c.state})
		}
		c.waiters = nil
	case *actor.Restarting:
		c.stopTimer()
		c.stopRestartTimer()
		c.stopUpdateTimer()
		c.stopRetry()
		c.stopWatch()
		c.stopExecWaits()
		c.stopHealth()
		c.closeIO() // the next instance opens it again when it reconciles
	case Create:
		c.respond(ctx, lifecycle.Create{Config: m.Config, Start: m.Start, Boot: c.deps.BootID, At: c.deps.now()})
	case Start:
		c.respond(ctx, lifecycle.Start{At: c.deps.now()})
	case StartFromCheckpoint:
		c.respond(ctx, lifecycle.Start{Checkpoint: m.Dir, At: c.deps.now()})
	case Checkpoint:
		c.respond(ctx, lifecycle.Checkpoint{Dir: m.Dir, LeaveRunning: m.LeaveRunning, At: c.deps.now()})
	case Stop:
		c.respond(ctx, lifecycle.Stop{Timeout: m.Timeout, At: c.deps.now()})
	case Kill:
		c.respond(ctx, lifecycle.Kill{Signal: m.Signal, At: c.deps.now()})
	case Remove:
		c.respond(ctx, lifecycle.Remove{Force: m.Force, At: c.deps.now()})
	case Update:
		c.respond(ctx, lifecycle.Update{Config: m.Config, Grace: m.Grace, At: c.deps.now()})
	case Rollback:
		c.respond(ctx, lifecycle.Rollback{Grace: m.Grace, At: c.deps.now()})
	case updateTimerFired:
		c.updateTimer = nil
		if err := c.handle(ctx, lifecycle.UpdateGraceTimeout{At: c.deps.now()}); err != nil {
			c.log().Warn("committing the update failed", "err", err)
		}
	case Connect:
		c.respond(ctx, lifecycle.Connect{Network: m.Network, At: c.deps.now()})
	case Disconnect:
		c.respond(ctx, lifecycle.Disconnect{Network: m.Network, At: c.deps.now()})
	case Pause:
		c.respond(ctx, lifecycle.Pause{At: c.deps.now()})
	case Unpause:
		c.respond(ctx, lifecycle.Unpause{At: c.deps.now()})
	case c8dbridge.TaskWasPaused:
		c.handle(ctx, lifecycle.RecordPaused{At: c.deps.now()})
	case c8dbridge.TaskWasUnpaused:
		c.handle(ctx, lifecycle.RecordUnpaused{At: c.deps.now()})
	case c8dbridge.TaskOOM:
		c.handle(ctx, lifecycle.ObserveOOM{At: c.deps.now()})
	case Inspect:
		ctx.Respond(Reply{State: c.state, Err: c.broken})
	case Stats:
		var r StatsReply
		if r.Err = c.readable(); r.Err == nil {
			cctx, cancel := c.callCtx()
			r.Stats, r.Err = c.deps.Runtime.Stats(cctx, c.id)
			cancel()
			r.Err = c.readErr("stats of", r.Err)
		}
		ctx.Respond(r)
	case Top:
		var r TopReply
		if r.Err = c.readable(); r.Err == nil {
			cctx, cancel := c.callCtx()
			r.Processes, r.Err = c.deps.Runtime.Top(cctx, c.id)
			cancel()
			r.Err = c.readErr("processes of", r.Err)
		}
		ctx.Respond(r)
	case Wait:
		c.wait(ctx, m)
	case Attach:
		ctx.Respond(c.attach(ctx, m)) // attach.go
	case Resize:
		ctx.Respond(Reply{State: c.state, Err: c.resize(m)})
	case CloseStdin:
		ctx.Respond(Reply{State: c.state, Err: c.closeStdin()})
	case Exec:
		c.exec(ctx, m) // exec.go
	case execExited:
		c.execEnded(ctx, m)
	case execRecovered:
		c.execRecoveredEnded(ctx, m)
	case healthTimerFired:
		c.probeDue(ctx, m) // health.go
	case probeDone:
		c.probeEnded(ctx, m)
	case Reconcile:
		err := c.reconcile(ctx, m.Known)
		c.afterCommand(ctx)
		ctx.Respond(Reply{State: c.state, Err: err})
	case watchEnded:
		if m.pid == c.watchPid {
			// The watcher lost containerd (it restarted, say) while the
			// task ran: the exit event may be lost with it and the
			// router's reconcile may be slow in coming (it reconciles
			// every container), so this actor asks containerd itself
			// soon; its reconcile arms a new watcher.
			c.stopWatch()
			if c.state.Status == lifecycle.StatusRunning && c.state.Pid == m.pid {
				c.armReconcile(ctx)
			}
		}
	case retryReconcile:
		c.retry = nil
		err := c.reconcile(ctx, nil)
		if err != nil {
			c.log().Debug("reconcile failed; retrying", "err", err)
			if errors.Is(err, journal.ErrNoSpace) {
				defer c.armReconcile(ctx) // until the disk has room again
			}
		}
		c.afterCommand(ctx)
		switch c.state.Status {
		case lifecycle.StatusCreating, lifecycle.StatusStarting, lifecycle.StatusRemoving:
			c.armReconcile(ctx)
		default:
			if c.retry == nil { // settled; a failed observe re-armed it
				c.retryDelay = 0
			}
		}
	case restartTimerFired:
		if err := c.handle(ctx, lifecycle.RestartTimeout{Attempt: m.attempt, Due: m.due, At: c.deps.now()}); err != nil {
			c.log().Warn("restart failed", "attempt", m.attempt, "err", err)
		}
	case stopTimerFired:
		c.handle(ctx, lifecycle.StopTimeout{Pid: m.pid, At: c.deps.now()})
	case c8dbridge.TaskExited:
		if m.ProcessID != "" && m.ProcessID != c.id {
			return // an exec process: not the task's init
		}
		if err := c.handle(ctx, lifecycle.ObserveExit{Pid: m.Pid, Code: int(m.ExitCode), ExitedAt: m.ExitedAt, At: c.deps.now()}); err != nil {
			// The exit could not be journaled (a full disk, most often):
			// those waiting for it (a stop) are told why rather than left
			// waiting, and a reconcile records it from containerd later.
			c.log().Warn("cannot record the task's exit; it is reconciled later", "err", err)
			c.failWaiters(ctx, fmt.Errorf("the task exited, but its exit cannot be journaled yet: %w", err))
			c.armReconcile(ctx)
		}
	case c8dbridge.Event:
		c.log().Debug("containerd event", "event", fmt.Sprintf("%T", m))
	}
}

// readable says whether the task can be read (Stats, Top): only a running
// task, paused or not, has a cgroup and processes.
func (c *container) readable() error {
	if c.broken != nil {
		return c.broken
	}
	if err := c.deps.available(); err != nil {
		return err
	}
	if c.state.Status != lifecycle.StatusRunning {
		return fmt.Errorf("%w: container %q is %s, not running", lifecycle.ErrInvalidTransition, c.id, c.state.Status)
	}
	return nil
}

// readErr words the error of a read of the task. A task that containerd
// no longer has has exited, and its exit is on its way to this actor.
func (c *container) readErr(what string, err error) error {
	switch {
	case err == nil:
		return nil
	case errdefs.IsNotFound(err):
		return fmt.Errorf("%w: container %q is not running (its task is gone): %w", lifecycle.ErrInvalidTransition, c.id, err)
	}
	return fmt.Errorf("%s container %q: %w", what, c.id, err)
}

// recover rebuilds the state from the journal.
func (c *container) recover() {
	s, err := c.replayJournal() // from the newest snapshot on
	if err != nil {
		c.broken = fmt.Errorf("%w: container %q: %w", ErrReplay, c.id, err)
		c.log().Error("cannot replay the journal; refusing commands", "err", err)
	}
	c.state = s
}

func (c *container) respond(ctx actor.Context, cmd lifecycle.Command) {
	cmd, err := c.admit(cmd)
	if err == nil {
		err = c.handle(ctx, cmd)
	}
	c.afterCommand(ctx)
	ctx.Respond(Reply{State: c.state, Err: err})
}

// admit checks what a user's command needs besides a fitting state, in
// this order: for a Create, its configuration (ValidateConfig) and what
// the host must hold (Deps.PrepareCreate, which may complete the
// configuration: the Create returned is the one to decide); for every
// command, that containerd can be reached (Deps.Available). These are the
// only checks of a command: the facade sends without checking first, so
// a message sent straight to the PID meets the same checks, with the same
// errors, and nothing is journaled when one fails. An actor whose journal
// could not be replayed refuses with that first: its state is unknown
// whether or not containerd answers.
func (c *container) admit(cmd lifecycle.Command) (lifecycle.Command, error) {
	if c.broken != nil {
		return cmd, c.broken
	}
	if cr, ok := cmd.(lifecycle.Create); ok {
		if err := lifecycle.ValidateConfig(cr.Config); err != nil {
			return cmd, err
		}
		if c.deps.PrepareCreate != nil {
			cfg, err := c.deps.PrepareCreate(cr.Config)
			if err != nil {
				return cmd, err
			}
			cr.Config = cfg
			cmd = cr
		}
	}
	switch cn := cmd.(type) {
	case lifecycle.Update, lifecycle.Rollback:
		if _, err := c.updater(); err != nil { // update.go
			return cmd, err
		}
	case lifecycle.Connect:
		if err := c.checkConnect(cn); err != nil { // network.go
			return cmd, err
		}
	}
	return cmd, c.deps.available()
}

// afterCommand tells the supervisor when the container no longer exists, so
// its actor is stopped and its ID is free. It runs before the reply, so the
// supervisor hears of it before anyone who heard the reply.
func (c *container) afterCommand(ctx actor.Context) {
	if c.state.Status == lifecycle.StatusNone || c.state.Status == lifecycle.StatusRemoved {
		ctx.Send(ctx.Parent(), childGone{id: c.id, pid: ctx.Self()})
	}
}

// handle runs one command through the order of the package doc: decide,
// append, apply, effects. It returns the error that refused or failed it.
func (c *container) handle(ctx actor.Context, cmd lifecycle.Command) error {
	if c.broken != nil {
		return c.broken
	}
	d, err := lifecycle.Decide(c.state, cmd)
	if err != nil {
		return err
	}
	if len(d.Events) > 0 {
		events := make([]any, len(d.Events))
		for i, e := range d.Events {
			events[i] = e
		}
		// A deliberately broken build (crashtest's -broken): act and reply
		// without journaling.
		// gofail: var actorSkipAppend struct{}
		// events = nil

		// gofail: var actorBeforeAppend struct{}
		// failpointCrash("actorBeforeAppend")
		recs, err := c.deps.Journal.Append(c.id, events...)
		if err != nil {
			return fmt.Errorf("actors: container %q: journal: %w", c.id, err)
		}
		// gofail: var actorAfterAppend struct{}
		// failpointCrash("actorAfterAppend")
		c.lastChange = c.deps.Clock()
		if c.deps.Published != nil {
			c.deps.Published(recs)
		}
		for _, e := range d.Events {
			c.state = lifecycle.Apply(c.state, e)
			switch x := e.(type) {
			case lifecycle.StartRequested, lifecycle.TaskStarted, lifecycle.StartFailed:
				c.leftoverRetries = 0 // a new intent, or this one settled
			case lifecycle.TaskExited:
				c.exits++
				c.log().Info("task exited", "pid", x.Pid, "code", x.Code, "reason", x.Reason)
			case lifecycle.RestartScheduled:
				c.log().Info("restart scheduled", "attempt", x.Attempt, "due", x.Due, "reason", x.Reason)
			case lifecycle.RestartCanceled:
				c.log().Info("restart canceled", "attempt", x.Attempt, "reason", x.Reason)
			case lifecycle.HostRebooted:
				c.log().Info("the host rebooted since the container was last seen", "previous_boot", x.PreviousBoot, "boot", x.Boot)
			}
		}
		c.journaled(recs) // snapshot, retirement (snapshot.go)
		if c.state.NextRestart == nil {
			c.stopRestartTimer() // canceled, replaced by a start, or done
		}
		c.syncWatch(ctx)
		c.syncHealth(ctx) // health.go
	}
	var first error
	for _, eff := range d.Effects {
		if err := c.perform(ctx, eff); err != nil && first == nil {
			first = err
		}
	}
	// Waiters hear of a change only after its effects: a waiter told of an
	// exit finds the task deleted, and so its log complete (the shim waits
	// for the logging binary to drain when the task is deleted).
	if len(d.Events) > 0 {
		c.notifyWaiters(ctx)
	}
	return first
}

func (c *container) callCtx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), c.deps.CallTimeout)
}

// perform carries out one effect and feeds its outcome back as a command.
func (c *container) perform(ctx actor.Context, eff lifecycle.Effect) error {
	cctx, cancel := c.callCtx()
	defer cancel()
	switch e := eff.(type) {
	case lifecycle.CreateContainer:
		spec, err := c.specOf(e.Config) // network.go
		if err == nil {
			err = c.deps.Runtime.CreateContainer(cctx, spec)
		}
		if err != nil {
			err = fmt.Errorf("create container %q: %w", c.id, err)
			if c8dbridge.IsTransient(err) {
				return c.outcomeUnknown(ctx, err)
			}
			if ferr := c.handle(ctx, lifecycle.RecordCreateFailed{Err: err.Error(), At: c.deps.now()}); ferr != nil {
				return errors.Join(err, ferr)
			}
			return err
		}
		return c.handle(ctx, lifecycle.RecordCreated{Start: e.Start, At: c.deps.now()})
	case lifecycle.StartTask:
		// gofail: var actorBeforeStartTask struct{}
		// failpointCrash("actorBeforeStartTask")
		stdio := c.stdioOf(e.Config) // attach.go
		stdio.Checkpoint = e.Checkpoint
		var run *ioRun
		if stdio.Stdout != "" {
			// The Hub first, so that no output is missed. After a failed
			// start it stays: the next start takes it over, and a start
			// whose outcome was unknown may have started the task, whose
			// output it then reads.
			var err error
			if run, err = c.openRun(stdio); err != nil {
				return c.startFailed(ctx, fmt.Errorf("start container %q: %w: %w", c.id, errdefs.ErrFailedPrecondition, err))
			}
		}
		launched := false
		stdio.Launching = func(pid uint32) error {
			// The task exists and may run from now on: journal its pid
			// first, so that it is never started again unrecorded.
			if err := c.handle(ctx, lifecycle.RecordLaunching{Pid: pid, At: c.deps.now()}); err != nil {
				return err
			}
			launched = true
			return nil
		}
		pid, err := c.deps.Runtime.StartTask(cctx, c.id, stdio)
		if errdefs.IsNotFound(err) {
			// The containerd container vanished (a host reboot wipes it):
			// create it again from the journaled config.
			c.log().Warn("container missing from containerd; creating it again from the journal")
			var spec c8dbridge.ContainerSpec
			if spec, err = c.specOf(e.Config); err == nil {
				err = c.deps.Runtime.CreateContainer(cctx, spec)
			}
			if err == nil {
				pid, err = c.deps.Runtime.StartTask(cctx, c.id, stdio)
			}
		}
		if err != nil {
			err = fmt.Errorf("start container %q: %w", c.id, err)
			switch {
			case launched:
				// A task that was created may have run: reconciliation
				// records what became of it.
				return c.outcomeUnknown(ctx, err)
			case !c8dbridge.IsTransient(err) && c8dbridge.IsLeftover(err) && c.leftoverRetries < maxLeftoverRetries:
				return c.leftoverInTheWay(ctx, err)
			}
			return c.startFailed(ctx, err) // unknown outcome if containerd did not answer, else the container's own failure
		}
		if run != nil {
			run.pid = pid
		}
		return c.handle(ctx, lifecycle.RecordStarted{Pid: pid, At: c.deps.now()})
	case lifecycle.SignalTask:
		err := c.deps.Runtime.Kill(cctx, c.id, syscall.Signal(e.Signal))
		if errdefs.IsNotFound(err) {
			return nil // the task is already gone; its exit is recorded when observed
		}
		if err != nil {
			return fmt.Errorf("signal container %q: %w", c.id, err)
		}
		return c.handle(ctx, lifecycle.RecordSignalSent{Signal: e.Signal, At: c.deps.now()})
	case lifecycle.ArmStopTimer:
		c.stopTimer()
		self, root, pid := ctx.Self(), ctx.ActorSystem().Root, e.Pid
		c.timer = time.AfterFunc(e.After, func() { root.Send(self, stopTimerFired{pid: pid}) })
		return nil
	case lifecycle.ArmRestartTimer:
		c.stopRestartTimer()
		self, root := ctx.Self(), ctx.ActorSystem().Root
		msg := restartTimerFired{attempt: e.Attempt, due: e.Due}
		c.restartTimer = time.AfterFunc(e.After, func() { root.Send(self, msg) })
		return nil
	case lifecycle.CheckpointTask:
		return c.checkpointTask(ctx, cctx, e) // checkpoint.go
	case lifecycle.PauseTask:
		if err := c.deps.Runtime.PauseTask(cctx, c.id); err != nil {
			return fmt.Errorf("pause container %q: %w", c.id, err)
		}
		return c.handle(ctx, lifecycle.RecordPaused{At: c.deps.now()})
	case lifecycle.UnpauseTask:
		if err := c.deps.Runtime.UnpauseTask(cctx, c.id); err != nil {
			return fmt.Errorf("unpause container %q: %w", c.id, err)
		}
		return c.handle(ctx, lifecycle.RecordUnpaused{At: c.deps.now()})
	case lifecycle.DeleteExec:
		c.deleteExec(cctx, e) // exec.go
		return nil
	case lifecycle.DeleteTask:
		if err := c.deps.Runtime.DeleteTask(cctx, c.id); err != nil {
			c.log().Warn("cannot delete the exited task; will retry at the next reconcile", "err", err)
		}
		return nil
	case lifecycle.DeleteContainer:
		c.stopTimer()
		if err := c.killForRemoval(ctx, cctx); err != nil {
			c.log().Warn("cannot record the exit of the task a forced removal kills", "err", err)
		}
		dctx, dcancel := c.callCtx() // the kill may have used up cctx
		defer dcancel()
		if err := c.deps.Runtime.DeleteContainer(dctx, c.id); err != nil {
			err = fmt.Errorf("remove container %q: %w", c.id, err)
			if c8dbridge.IsTransient(err) {
				return c.outcomeUnknown(ctx, err)
			}
			return err
		}
		if err := c.exitGoneWithContainer(ctx); err != nil { // forceremove.go
			return err
		}
		if err := c.forgetNetwork(dctx); err != nil { // network.go
			return err
		}
		return c.handle(ctx, lifecycle.RecordRemoved{At: c.deps.now()})
	case lifecycle.PrepareSnapshot:
		return c.prepareSnapshot(ctx, e) // update.go
	case lifecycle.SwapTask:
		return c.swapTask(ctx, e)
	case lifecycle.ArmUpdateTimer:
		c.armUpdateTimer(ctx, e)
		return nil
	case lifecycle.ReleaseSnapshot:
		return c.releaseSnapshot(ctx, e)
	case lifecycle.SetupNetwork:
		return c.setupNetwork(ctx, cctx, e) // network.go
	case lifecycle.ReleaseNetwork:
		return c.releaseNetwork(ctx, cctx, e)
	case lifecycle.ConnectNetwork:
		return c.connectNetwork(ctx, cctx, e)
	case lifecycle.DisconnectNetwork:
		return c.disconnectNetwork(ctx, cctx, e)
	}
	return fmt.Errorf("actors: unknown effect %T", eff)
}

// startFailed records a start that failed, or leaves one whose outcome is
// unknown to a later reconcile.
func (c *container) startFailed(ctx actor.Context, err error) error {
	if c8dbridge.IsTransient(err) {
		return c.outcomeUnknown(ctx, err)
	}
	if ferr := c.handle(ctx, lifecycle.RecordStartFailed{Err: err.Error(), At: c.deps.now()}); ferr != nil {
		return errors.Join(err, ferr)
	}
	return err
}

// syncWatch keeps one exit watcher on the running task, and none when no
// task runs.
func (c *container) syncWatch(ctx actor.Context) {
	if c.state.Status != lifecycle.StatusRunning {
		c.stopWatch()
		return
	}
	if c.watchCancel != nil && c.watchPid == c.state.Pid {
		return
	}
	c.stopWatch()
	wctx, cancel := context.WithCancel(context.Background())
	c.watchCancel, c.watchPid = cancel, c.state.Pid
	self, root, pid, id, rt := ctx.Self(), ctx.ActorSystem().Root, c.state.Pid, c.id, c.deps.Runtime
	log := c.log()
	go func() {
		st, err := rt.WaitTask(wctx, id)
		if err != nil {
			if wctx.Err() == nil {
				log.Debug("exit watcher ended; the event stream and reconciliation remain", "err", err)
			}
			root.Send(self, watchEnded{pid: pid})
			return
		}
		root.Send(self, c8dbridge.TaskExited{Container: id, ProcessID: id, Pid: pid, ExitCode: st.ExitCode, ExitedAt: st.ExitedAt})
	}()
}

func (c *container) stopWatch() {
	if c.watchCancel != nil {
		c.watchCancel()
		c.watchCancel, c.watchPid = nil, 0
	}
}

// killWait bounds the wait for the exit of a task that a forced removal
// killed; then the task is deleted forcibly, in as long again at most.
var killWait = 10 * time.Second

// killForRemoval kills the task that a forced removal ends, waits for its
// exit and records it, so that the run's exit is journaled like any other
// (with containerd's code and time) before the container goes. A task that
// does not exit in time, or whose shim does not answer (it was killed), is
// deleted forcibly, and its exit recorded with the code containerd reports
// for it, or 137 (what SIGKILL gives) with the reason when it reports none.
func (c *container) killForRemoval(ctx actor.Context, cctx context.Context) error {
	pid := c.state.Pid
	if pid == 0 || (c.state.Exit != nil && c.state.Exit.Pid == pid) {
		return nil // no task ran, or its exit is recorded
	}
	bg := context.WithoutCancel(cctx) // each step has its own bound
	kerr := c.deps.Runtime.Kill(cctx, c.id, syscall.SIGKILL)
	// A paused task gets SIGKILL only once unpaused; it may have been paused
	// behind vigil's back, so unpause whatever the state says (an error says
	// it was not paused).
	_ = c.deps.Runtime.UnpauseTask(cctx, c.id)
	err := kerr
	if kerr == nil || errdefs.IsNotFound(kerr) {
		wctx, cancel := context.WithTimeout(bg, killWait)
		st, werr := c.deps.Runtime.WaitTask(wctx, c.id)
		cancel()
		if werr == nil {
			return c.handle(ctx, lifecycle.ObserveExit{Pid: pid, Code: int(st.ExitCode), ExitedAt: st.ExitedAt, At: c.deps.now()})
		}
		err = werr
	}
	c.log().Warn("the killed task did not report its exit; deleting it forcibly", "pid", pid, "err", err)
	fctx, cancel := context.WithTimeout(bg, killWait)
	st, ferr := c.deps.Runtime.ForceDeleteTask(fctx, c.id)
	cancel()
	if ferr != nil {
		return fmt.Errorf("kill container %q: %w; force delete: %w", c.id, err, ferr)
	}
	now := c.deps.now()
	exit := lifecycle.ObserveExit{Pid: pid, Code: int(st.ExitCode), ExitedAt: st.ExitedAt, At: now}
	if st.State != c8dbridge.TaskStopped || st.ExitedAt.IsZero() {
		exit.Code, exit.ExitedAt = 137, now
		exit.Reason = "killed by a forced removal; containerd reported no exit (" + err.Error() + ")"
	}
	return c.handle(ctx, exit)
}

// outcomeUnknown handles a containerd call that failed without saying
// whether it took effect (containerd went away or did not answer in time).
// The state stays at its journaled intent (creating, starting, removing):
// recording a failure could be false, and a container that runs while the
// journal says it failed is worse than one that is briefly "starting".
// A reconcile settles it: the router's after containerd comes back, or the
// actor's own, retried with a growing delay.
func (c *container) outcomeUnknown(ctx actor.Context, err error) error {
	c.log().Warn("containerd did not answer; the outcome is reconciled later", "err", err)
	c.armReconcile(ctx)
	return fmt.Errorf("%w (the outcome is unknown until containerd answers; it is reconciled then)", err)
}

// maxLeftoverRetries bounds the starts of one intent that state left from
// an earlier task (c8dbridge.ErrLeftover) may refuse before the start is
// recorded as failed: with leftoverDelay's delays, about 50 s.
var maxLeftoverRetries = 8

// leftoverDelay is the wait before the next try of a start that leftover
// state refused for the n-th time: 1 s doubling to 8 s. containerd cleans
// up after a dead shim within seconds; a longer wait would only keep the
// container "starting" once it has.
func leftoverDelay(n int) time.Duration {
	return min(time.Second<<min(max(n-1, 0), 3), 8*time.Second)
}

// leftoverInTheWay handles a start that state left from an earlier task
// refused (c8dbridge.IsLeftover): an old task containerd could not delete,
// a shim's state dir not yet cleaned up. That is no failure of the
// container, so nothing is journaled: the start's intent stays open and a
// reconcile carries it out again soon, after it has looked at the task in
// the way (a stopped task of the run before is deleted first, a running one
// adopted). Only when the state stays in the way for maxLeftoverRetries
// tries is the start recorded as failed.
func (c *container) leftoverInTheWay(ctx actor.Context, err error) error {
	c.leftoverRetries++
	c.log().Warn("state of an earlier task is in the way of the start; the start is tried again at the next reconcile",
		"try", c.leftoverRetries, "of", maxLeftoverRetries, "err", err)
	c.stopRetry()
	c.retryDelay = leftoverDelay(c.leftoverRetries)
	self, root := ctx.Self(), ctx.ActorSystem().Root
	c.retry = time.AfterFunc(c.retryDelay, func() { root.Send(self, retryReconcile{}) })
	return fmt.Errorf("%w (the start is tried again at the next reconcile)", err)
}

// armReconcile schedules a reconcile of this container, with a delay that
// doubles from 1 s to 30 s while the state stays an intent.
func (c *container) armReconcile(ctx actor.Context) {
	if c.retry != nil {
		return
	}
	c.retryDelay = min(max(2*c.retryDelay, time.Second), 30*time.Second)
	self, root := ctx.Self(), ctx.ActorSystem().Root
	c.retry = time.AfterFunc(c.retryDelay, func() { root.Send(self, retryReconcile{}) })
}

func (c *container) stopRetry() {
	if c.retry != nil {
		c.retry.Stop()
		c.retry = nil
	}
}

func (c *container) stopRestartTimer() {
	if c.restartTimer != nil {
		c.restartTimer.Stop()
		c.restartTimer = nil
	}
}

func (c *container) stopTimer() {
	if c.timer != nil {
		c.timer.Stop()
		c.timer = nil
	}
}

// observe asks containerd about the container.
func (c *container) observe() (lifecycle.Observation, error) {
	cctx, cancel := c.callCtx()
	defer cancel()
	st, err := c.deps.Runtime.TaskStatus(cctx, c.id)
	if errdefs.IsNotFound(err) {
		return lifecycle.Observation{}, nil
	}
	if err != nil {
		return lifecycle.Observation{}, fmt.Errorf("actors: observe container %q: %w", c.id, err)
	}
	if st.State == c8dbridge.TaskUnknown {
		return lifecycle.Observation{}, fmt.Errorf("actors: observe container %q: %w", c.id, errTaskUnknown)
	}
	return observation(true, st), nil
}

// observation is containerd's view in the lifecycle's words.
func observation(exists bool, st c8dbridge.TaskStatus) lifecycle.Observation {
	if !exists {
		return lifecycle.Observation{}
	}
	o := lifecycle.Observation{ContainerExists: true, Pid: st.Pid, Snapshot: st.Snapshot}
	switch st.State {
	case c8dbridge.TaskCreated:
		o.Task = lifecycle.TaskCreated
	case c8dbridge.TaskRunning:
		o.Task = lifecycle.TaskRunning
	case c8dbridge.TaskPaused:
		o.Task = lifecycle.TaskPhasePaused
	case c8dbridge.TaskStopped:
		o.Task = lifecycle.TaskStopped
		o.ExitCode = int(st.ExitCode)
		o.ExitedAt = st.ExitedAt
	default:
		o.Task = lifecycle.TaskAbsent
	}
	return o
}

func (c *container) reconcile(ctx actor.Context, known *Known) error {
	if c.broken != nil {
		return c.broken
	}
	if c.state.Status == lifecycle.StatusNone || c.state.Status == lifecycle.StatusRemoved {
		return nil
	}
	var o lifecycle.Observation
	if known != nil && c.lastChange.Before(known.Asked) && known.Task.State != c8dbridge.TaskUnknown {
		o = observation(known.Exists, known.Task)
	} else {
		var err error
		if o, err = c.observe(); err != nil {
			// Until the shim answers (errTaskUnknown), or containerd does:
			// a task whose shim was just killed makes containerd fail
			// the query until it has cleaned up after the shim, and
			// nothing else may come to ask again (the exit watcher
			// ended, the router reconciles only after containerd comes
			// back). Without this, the container stays "running" for
			// good with its task gone.
			c.armReconcile(ctx)
			return err
		}
	}
	o, err := c.observedSnapshot(o) // update.go
	if err != nil {
		return err
	}
	before := c.state.Status
	// gofail: var actorBeforeReconcile struct{}
	// failpointCrash("actorBeforeReconcile")
	err = c.handle(ctx, lifecycle.Reconcile{Observed: o, Boot: c.deps.BootID, At: c.deps.now()})
	c.syncWatch(ctx) // adopt a running task, or re-arm a watcher that ended
	c.syncHealth(ctx)
	c.syncIO() // attach.go
	if xerr := c.reconcileExecs(ctx); err == nil {
		err = xerr // exec.go
	}
	if c.state.Status != before {
		c.log().Info("reconciled with containerd", "was", before, "now", c.state.Status)
	}
	return err
}

func (c *container) wait(ctx actor.Context, m Wait) {
	w := waiter{cond: m.Condition, sender: ctx.Sender(), exits: c.exits}
	if w.sender == nil {
		return
	}
	if c.broken != nil || c.satisfied(w) {
		ctx.Respond(Reply{State: c.state, Err: c.broken})
		return
	}
	c.waiters = append(c.waiters, w)
}

func (c *container) satisfied(w waiter) bool {
	gone := c.state.Status == lifecycle.StatusNone || c.state.Status == lifecycle.StatusRemoved
	switch w.cond {
	case WaitNotRunning:
		return !c.state.Alive()
	case WaitNextExit:
		return c.exits > w.exits || gone
	case WaitRemoved:
		return gone
	case WaitHealthy:
		return gone || c.healthSettled()
	}
	return true
}

// failWaiters answers every waiter with err.
func (c *container) failWaiters(ctx actor.Context, err error) {
	for _, w := range c.waiters {
		ctx.Send(w.sender, Reply{State: c.state, Err: err})
	}
	c.waiters = nil
}

func (c *container) notifyWaiters(ctx actor.Context) {
	kept := c.waiters[:0]
	for _, w := range c.waiters {
		if c.satisfied(w) {
			ctx.Send(w.sender, Reply{State: c.state})
		} else {
			kept = append(kept, w)
		}
	}
	c.waiters = kept
}
