package actors

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/vigilhq/vigil/actors/lifecycle"
	"github.com/vigilhq/vigil/c8dbridge"
)

// CheckpointTimeout bounds the wait for containerd to write a checkpoint:
// criu dumps all the task's memory, which takes longer than other calls
// (Deps.CallTimeout). The actor handles nothing else meanwhile.
const CheckpointTimeout = 5 * time.Minute

// checkpointTask performs a CheckpointTask effect and feeds its outcome
// back. A call whose outcome is unknown (containerd went away) leaves the
// intent pending for reconciliation: it sees whether the task still runs.
func (c *container) checkpointTask(ctx actor.Context, cctx context.Context, e lifecycle.CheckpointTask) error {
	cctx, cancel := context.WithTimeout(context.WithoutCancel(cctx), max(c.deps.CallTimeout, CheckpointTimeout))
	defer cancel()
	err := c.deps.Runtime.CheckpointTask(cctx, c.id, e.Dir, e.LeaveRunning)
	if err == nil {
		c.log().Info("checkpoint written", "dir", e.Dir, "leave_running", e.LeaveRunning)
		return c.handle(ctx, lifecycle.RecordCheckpointed{At: c.deps.now()})
	}
	err = fmt.Errorf("checkpoint container %q into %s: %w", c.id, e.Dir, err)
	if c8dbridge.IsTransient(err) {
		return c.outcomeUnknown(ctx, err)
	}
	if ferr := c.handle(ctx, lifecycle.RecordCheckpointFailed{Err: err.Error(), At: c.deps.now()}); ferr != nil {
		return errors.Join(err, ferr)
	}
	return err
}
