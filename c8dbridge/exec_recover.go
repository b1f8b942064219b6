package c8dbridge

import (
	"context"
	"fmt"
	"os"

	tasksapi "github.com/containerd/containerd/api/services/tasks/v1"
	"github.com/containerd/errdefs"
)

// Recovery of exec processes: a supervisor that restarted (or saw
// containerd come back) asks containerd, by exec ID, about the execs whose
// exit it has not journaled. The shim keeps an exec that exited, with its
// exit status, until it is deleted, so an exit that happened while nobody
// watched is still known; these calls only read it, and DeleteExec removes
// it once the exit is journaled.

// validateExecIDs checks the container and exec IDs before they reach
// containerd or a path.
func validateExecIDs(id, execID string) error {
	if err := validateID(id); err != nil {
		return err
	}
	if err := validateID(execID); err != nil {
		return fmt.Errorf("exec ID: %w", err)
	}
	return nil
}

// ExecStatus reports the exec process execID of the container's task:
// TaskRunning (TaskPaused with a paused task) with its pid, or TaskStopped
// with its exit code and time. NotFound when containerd no longer has the
// container, its task or the process.
func (c *Client) ExecStatus(ctx context.Context, id, execID string) (TaskStatus, error) {
	const op = "exec status in"
	if err := validateExecIDs(id, execID); err != nil {
		return TaskStatus{}, wrap(op, id, err)
	}
	r, err := c.c.TaskService().Get(c.ns(ctx), &tasksapi.GetRequest{ContainerID: id, ExecID: execID})
	if err != nil {
		return TaskStatus{}, wrap(op, id, fmt.Errorf("exec %q: %w", execID, classify(err)))
	}
	p := r.GetProcess()
	ts := TaskStatus{State: taskState(p.GetStatus()), Pid: p.GetPid()}
	if ts.State == TaskStopped {
		ts.ExitCode = p.GetExitStatus()
		ts.ExitedAt = timeOf(p.GetExitedAt())
	}
	return ts, nil
}

// WaitExec blocks until the exec process execID exits (at once if it has)
// or ctx ends, and returns its exit as TaskStopped with ExitCode and
// ExitedAt. It deletes nothing. NotFound when containerd no longer has the
// container, its task or the process.
func (c *Client) WaitExec(ctx context.Context, id, execID string) (TaskStatus, error) {
	const op = "wait for exec in"
	if err := validateExecIDs(id, execID); err != nil {
		return TaskStatus{}, wrap(op, id, err)
	}
	r, err := c.c.TaskService().Wait(c.ns(ctx), &tasksapi.WaitRequest{ContainerID: id, ExecID: execID})
	if err != nil {
		return TaskStatus{}, wrap(op, id, fmt.Errorf("exec %q: %w", execID, classify(err)))
	}
	return TaskStatus{State: TaskStopped, ExitCode: r.GetExitStatus(), ExitedAt: timeOf(r.GetExitedAt())}, nil
}

// DeleteExec deletes the exec process execID, which exited, from
// containerd and removes its FIFO dir (ExecDir). A process, task or
// container that containerd no longer has is not an error; a process that
// still runs is refused with containerd's error, and its dir is kept.
func (c *Client) DeleteExec(ctx context.Context, id, execID string) error {
	const op = "delete exec in"
	// Both IDs go into a path that is removed: check them first.
	if err := validateExecIDs(id, execID); err != nil {
		return wrap(op, id, err)
	}
	_, err := c.c.TaskService().DeleteProcess(c.ns(ctx), &tasksapi.DeleteProcessRequest{ContainerID: id, ExecID: execID})
	if err = classify(err); err != nil && !errdefs.IsNotFound(err) {
		return wrap(op, id, fmt.Errorf("exec %q: %w", execID, err))
	}
	if err := os.RemoveAll(ExecDir(c.bundleDir(id), execID)); err != nil {
		return wrap(op, id, err)
	}
	return nil
}
