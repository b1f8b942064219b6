package actors

import (
	"context"
	"errors"
	"fmt"
	"syscall"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/containerd/errdefs"

	"github.com/vigilhq/vigil/actors/lifecycle"
	"github.com/vigilhq/vigil/c8dbridge"
)

// The effects of an update to another image (lifecycle/update.go): the
// new snapshot, the swap of the task, the grace timer and the release of
// the snapshot an update left. They need the runtime's
// c8dbridge.Updater; a runtime without it refuses updates.

// Updates (update.go).
type (
	// Update moves the running container to Config, the settings of
	// another image (with its Image and ImageDigest), keeping the old
	// snapshot until the new task has run for Grace. The reply comes
	// once the new task runs, or the update ended: the state says which
	// (State.Update, State.Error).
	Update struct {
		Config lifecycle.Config
		Grace  time.Duration
	}
	// Rollback goes back to the previous image: during an update's grace
	// period at once, after it by an update to the previous image with
	// Grace.
	Rollback struct{ Grace time.Duration }
)

// updateTimerFired is the grace timer of an update.
type updateTimerFired struct{}

// PrepareTimeout bounds the preparation of an update's snapshot, which
// may unpack the image's layers.
var PrepareTimeout = 5 * time.Minute

// errNoUpdates refuses an update on a runtime without c8dbridge.Updater.
var errNoUpdates = errdefs.ErrNotImplemented.WithMessage("actors: this runtime cannot update containers to another image")

func (c *container) updater() (c8dbridge.Updater, error) {
	if c.deps.Updater != nil {
		return c.deps.Updater, nil
	}
	up, ok := c.deps.Runtime.(c8dbridge.Updater)
	if !ok {
		return nil, errNoUpdates
	}
	return up, nil
}

// prepareSnapshot performs PrepareSnapshot.
func (c *container) prepareSnapshot(ctx actor.Context, e lifecycle.PrepareSnapshot) error {
	up, err := c.updater()
	if err == nil {
		// gofail: var actorBeforePrepareSnapshot struct{}
		// failpointCrash("actorBeforePrepareSnapshot")
		pctx, cancel := context.WithTimeout(context.Background(), max(c.deps.CallTimeout, PrepareTimeout))
		err = up.PrepareSnapshot(pctx, e.Key, e.Config)
		cancel()
	}
	if err != nil {
		err = fmt.Errorf("update container %q: %w", c.id, err)
		if ferr := c.handle(ctx, lifecycle.RecordSnapshotPrepareFailed{Err: err.Error(), At: c.deps.now()}); ferr != nil {
			return errors.Join(err, ferr)
		}
		return err
	}
	// gofail: var actorAfterPrepareSnapshot struct{}
	// failpointCrash("actorAfterPrepareSnapshot")
	return c.handle(ctx, lifecycle.RecordSnapshotPrepared{At: c.deps.now()})
}

// swapTask performs SwapTask: the task on another snapshot is stopped
// (the stop signal, then SIGKILL after the stop timeout) and deleted, the
// container moved to e.Snapshot and its task started. A task already
// running on e.Snapshot is reported as started.
func (c *container) swapTask(ctx actor.Context, e lifecycle.SwapTask) error {
	up, err := c.updater()
	if err != nil {
		return c.swapFailed(ctx, err)
	}
	cctx, cancel := c.callCtx()
	defer cancel()
	st, err := c.deps.Runtime.TaskStatus(cctx, c.id)
	if err != nil {
		return c.swapFailed(ctx, err)
	}
	key, err := up.ContainerSnapshot(cctx, c.id)
	if err != nil {
		return c.swapFailed(ctx, err)
	}
	live := st.State == c8dbridge.TaskRunning || st.State == c8dbridge.TaskPaused || st.State == c8dbridge.TaskCreated
	if key == e.Snapshot && (st.State == c8dbridge.TaskRunning || st.State == c8dbridge.TaskPaused) {
		return c.handle(ctx, lifecycle.RecordStarted{Pid: st.Pid, At: c.deps.now()})
	}
	if live && st.State != c8dbridge.TaskCreated {
		// gofail: var actorBeforeSwapStop struct{}
		// failpointCrash("actorBeforeSwapStop")
		if err := c.stopForSwap(e.Config); err != nil {
			return c.swapFailed(ctx, err)
		}
	}
	spec, err := c.specOf(e.Config) // network.go
	if err == nil {
		// gofail: var actorBeforeSwapSnapshot struct{}
		// failpointCrash("actorBeforeSwapSnapshot")
		sctx, scancel := c.callCtx()
		err = up.SwapSnapshot(sctx, spec, e.Snapshot)
		scancel()
	}
	if err != nil {
		return c.swapFailed(ctx, err)
	}
	// gofail: var actorAfterSwapSnapshot struct{}
	// failpointCrash("actorAfterSwapSnapshot")
	sctx, scancel := c.callCtx()
	defer scancel()
	stdio := c.stdioOf(e.Config) // attach.go
	var run *ioRun
	if stdio.Stdout != "" {
		// An interactive container's Hub first, as for any start.
		if run, err = c.openRun(stdio); err != nil {
			return c.swapFailed(ctx, fmt.Errorf("%w: %w", errdefs.ErrFailedPrecondition, err))
		}
	}
	pid, err := c.deps.Runtime.StartTask(sctx, c.id, stdio)
	if errdefs.IsAlreadyExists(err) {
		// A task is there that is not the image's failure (containerd
		// still tearing down the one replaced, or one a crash left
		// running): adopt it if it runs on the new snapshot, else try
		// again at a reconcile.
		st, serr := c.deps.Runtime.TaskStatus(sctx, c.id)
		key, kerr := up.ContainerSnapshot(sctx, c.id)
		if serr == nil && kerr == nil && key == e.Snapshot && (st.State == c8dbridge.TaskRunning || st.State == c8dbridge.TaskPaused) {
			return c.handle(ctx, lifecycle.RecordStarted{Pid: st.Pid, At: c.deps.now()})
		}
		c.log().Warn("the swapped task could not be created: containerd has a task; trying again", "err", err,
			"task", st.State.String(), "pid", st.Pid, "snapshot", key, "status_err", serr)
		return c.outcomeUnknown(ctx, fmt.Errorf("swap container %q to another image: %w", c.id, err))
	}
	if err != nil {
		return c.swapFailed(ctx, err)
	}
	if run != nil {
		run.pid = pid
	}
	// gofail: var actorAfterSwapStart struct{}
	// failpointCrash("actorAfterSwapStart")
	return c.handle(ctx, lifecycle.RecordStarted{Pid: pid, At: c.deps.now()})
}

// swapFailed feeds a failed swap back: one whose outcome is unknown
// (containerd did not answer) is reconciled later, when the swap is
// carried out again; any other fails the start of the swapped task.
func (c *container) swapFailed(ctx actor.Context, err error) error {
	err = fmt.Errorf("swap container %q to another image: %w", c.id, err)
	if c8dbridge.IsTransient(err) {
		return c.outcomeUnknown(ctx, err)
	}
	if ferr := c.handle(ctx, lifecycle.RecordStartFailed{Err: err.Error(), At: c.deps.now()}); ferr != nil {
		return errors.Join(err, ferr)
	}
	return err
}

// stopForSwap stops the task a swap replaces: its stop signal, SIGKILL
// after the container's stop timeout, and its deletion once it exited.
func (c *container) stopForSwap(cfg lifecycle.Config) error {
	running := cfg
	if u := c.state.Update; u != nil {
		running = u.From.Config // swapping: the old image's task runs
		if u.Phase == lifecycle.UpdateReverting {
			running = u.To.Config
		}
	}
	timeout := lifecycle.DefaultStopTimeout
	if t := running.Host.StopTimeout; t != nil {
		timeout = *t
	}
	sig := syscall.Signal(lifecycle.SIGTERM)
	if running.StopSignal != 0 {
		sig = syscall.Signal(running.StopSignal)
	}
	bg := context.Background()
	kctx, cancel := context.WithTimeout(bg, c.deps.CallTimeout)
	err := c.deps.Runtime.Kill(kctx, c.id, sig)
	_ = c.deps.Runtime.UnpauseTask(kctx, c.id) // a frozen task gets its signal once thawed
	cancel()
	if err != nil && !errdefs.IsNotFound(err) {
		return err
	}
	if err == nil {
		wctx, wcancel := context.WithTimeout(bg, timeout)
		_, werr := c.deps.Runtime.WaitTask(wctx, c.id)
		wcancel()
		if werr != nil && !errdefs.IsNotFound(werr) {
			kctx, cancel := context.WithTimeout(bg, c.deps.CallTimeout)
			kerr := c.deps.Runtime.Kill(kctx, c.id, syscall.SIGKILL)
			cancel()
			if kerr != nil && !errdefs.IsNotFound(kerr) {
				return kerr
			}
			wctx, wcancel := context.WithTimeout(bg, killWait)
			_, werr = c.deps.Runtime.WaitTask(wctx, c.id)
			wcancel()
			if werr != nil && !errdefs.IsNotFound(werr) {
				return fmt.Errorf("the task it replaces did not exit after SIGKILL: %w", werr)
			}
		}
	}
	dctx, dcancel := context.WithTimeout(bg, c.deps.CallTimeout)
	defer dcancel()
	return c.deps.Runtime.DeleteTask(dctx, c.id)
}

// armUpdateTimer performs ArmUpdateTimer.
func (c *container) armUpdateTimer(ctx actor.Context, e lifecycle.ArmUpdateTimer) {
	c.stopUpdateTimer()
	self, root := ctx.Self(), ctx.ActorSystem().Root
	c.updateTimer = time.AfterFunc(e.After, func() { root.Send(self, updateTimerFired{}) })
}

func (c *container) stopUpdateTimer() {
	if c.updateTimer != nil {
		c.updateTimer.Stop()
		c.updateTimer = nil
	}
}

// releaseSnapshot performs ReleaseSnapshot; one that fails is tried again
// at the next reconcile.
func (c *container) releaseSnapshot(ctx actor.Context, e lifecycle.ReleaseSnapshot) error {
	up, err := c.updater()
	if err != nil {
		return err
	}
	cctx, cancel := c.callCtx()
	defer cancel()
	// gofail: var actorBeforeReleaseSnapshot struct{}
	// failpointCrash("actorBeforeReleaseSnapshot")
	if err := up.RemoveSnapshot(cctx, e.Key); err != nil {
		c.log().Warn("cannot release the snapshot an update left; will retry at the next reconcile", "snapshot", e.Key, "err", err)
		return nil
	}
	// gofail: var actorAfterReleaseSnapshot struct{}
	// failpointCrash("actorAfterReleaseSnapshot")
	return c.handle(ctx, lifecycle.RecordSnapshotReleased{Key: e.Key, At: c.deps.now()})
}

// observedSnapshot adds the container's snapshot key to o during an
// update, which its recovery needs.
func (c *container) observedSnapshot(o lifecycle.Observation) (lifecycle.Observation, error) {
	if c.state.Update == nil || !o.ContainerExists || o.Snapshot != "" {
		return o, nil
	}
	up, err := c.updater()
	if err != nil {
		return o, nil
	}
	cctx, cancel := c.callCtx()
	defer cancel()
	key, err := up.ContainerSnapshot(cctx, c.id)
	if errdefs.IsNotFound(err) {
		return lifecycle.Observation{}, nil
	}
	if err != nil {
		return o, fmt.Errorf("actors: observe container %q: %w", c.id, err)
	}
	o.Snapshot = key
	return o, nil
}
