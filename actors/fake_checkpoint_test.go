package actors

import (
	"context"
	"fmt"

	"github.com/containerd/errdefs"

	"github.com/vigilhq/vigil/c8dbridge"
)

// CheckpointTask of the fake: a running task is "checkpointed" (nothing is
// written) and, unless leaveRunning, exits with 137 as runc's does.
func (f *fakeRuntime) CheckpointTask(_ context.Context, id, dir string, leaveRunning bool) error {
	if _, err := f.livePid(id); err != nil {
		return err
	}
	if !leaveRunning {
		f.exit(id, 137)
	}
	return nil
}

// ForceDeleteTask of the fake: a live task is killed (137); the task is
// deleted and its exit returned.
func (f *fakeRuntime) ForceDeleteTask(_ context.Context, id string) (c8dbridge.TaskStatus, error) {
	if _, err := f.livePid(id); err == nil {
		f.exit(id, 137)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	c, ok := f.containers[id]
	if !ok {
		return c8dbridge.TaskStatus{}, fmt.Errorf("fake: %q: %w", id, errdefs.ErrNotFound)
	}
	st := c.task
	c.task = c8dbridge.TaskStatus{}
	if st.State != c8dbridge.TaskStopped {
		return c8dbridge.TaskStatus{State: c8dbridge.TaskAbsent}, nil
	}
	return st, nil
}
