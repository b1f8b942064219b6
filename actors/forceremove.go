package actors

import (
	"github.com/asynkron/protoactor-go/actor"

	"github.com/vigilhq/vigil/actors/lifecycle"
)

// exitGoneWithContainer records the exit of a run whose task went with its
// container (DeleteContainer killed and deleted it) when killForRemoval
// could not record it: the run's exit is journaled once, even when
// containerd could not tell its code.
func (c *container) exitGoneWithContainer(ctx actor.Context) error {
	pid := c.state.Pid
	if pid == 0 || (c.state.Exit != nil && c.state.Exit.Pid == pid) {
		return nil
	}
	now := c.deps.now()
	return c.handle(ctx, lifecycle.ObserveExit{Pid: pid, Code: 137, ExitedAt: now, At: now,
		Reason: "deleted with its container by a forced removal; its exit code is unknown"})
}
