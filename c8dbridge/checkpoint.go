package c8dbridge

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"time"

	tasksapi "github.com/containerd/containerd/api/services/tasks/v1"
	"github.com/containerd/containerd/api/types/runc/options"
	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/errdefs"
	"github.com/containerd/typeurl/v2"
)

// ErrCriuUnusable is the error of a checkpoint or restore on a host where
// criu is missing or `criu check` fails. It is NotImplemented-class:
// nothing about the request is wrong, this host cannot do it.
var ErrCriuUnusable = errdefs.ErrNotImplemented.WithMessage("criu is not usable on this host")

// criuCheckTimeout bounds one run of `criu check`.
const criuCheckTimeout = 30 * time.Second

var criuOnce = sync.OnceValue(func() error { return checkCriu(context.Background(), "criu") })

// CriuUsable reports whether criu, found on PATH, can checkpoint and
// restore on this host: nil, or an error wrapping ErrCriuUnusable with
// criu's own reason in one line. `criu check` runs once per process; the
// answer is kept, since the kernel does not change under a running
// supervisor.
func CriuUsable() error { return criuOnce() }

// checkCriu runs `bin check`.
func checkCriu(ctx context.Context, bin string) error {
	path, err := exec.LookPath(bin)
	if err != nil {
		return fmt.Errorf("%w: %s is not installed (not found on PATH)", ErrCriuUnusable, bin)
	}
	ctx, cancel := context.WithTimeout(ctx, criuCheckTimeout)
	defer cancel()
	var out bytes.Buffer
	cmd := exec.CommandContext(ctx, path, "check")
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		reason := criuReason(out.String())
		if reason == "" {
			reason = err.Error()
		}
		return fmt.Errorf("%w: `%s check` failed: %s", ErrCriuUnusable, path, reason)
	}
	return nil
}

// criuErrorLine is one of criu's error lines: "Error (file.c:123): text".
var criuErrorLine = regexp.MustCompile(`^(?:\([0-9. ]+\) )?Error \([^)]*\): (.*)$`)

// criuReason makes one line of criu's output: its error messages, without
// their source positions and without the "exited, status" lines of the
// helpers it ran, joined by "; "; the last line of the output when it has
// no error line.
func criuReason(out string) string {
	var reasons, lines []string
	for _, l := range strings.Split(out, "\n") {
		l = strings.TrimSpace(l)
		if l == "" {
			continue
		}
		lines = append(lines, l)
		m := criuErrorLine.FindStringSubmatch(l)
		if m == nil || strings.HasPrefix(m[1], "exited, status=") {
			continue
		}
		reasons = append(reasons, strings.TrimSuffix(m[1], "."))
	}
	if len(reasons) == 0 {
		if len(lines) == 0 {
			return ""
		}
		reasons = lines[len(lines)-1:]
	}
	s := strings.Join(reasons, "; ")
	if r := []rune(s); len(r) > 400 {
		s = string(r[:399]) + "…"
	}
	return s
}

// CheckpointTask writes a criu checkpoint of the container's running task
// into dir (an absolute path; containerd's runc shim writes the images
// there itself), and stops the task after it unless leaveRunning: the
// task then exits as if killed, and its exit is reported as usual.
// Errors: InvalidArgument for a bad ID or dir; NotFound if there is no
// task; NotImplemented (ErrCriuUnusable) when criu cannot run here;
// the shim's error when criu fails.
func (c *Client) CheckpointTask(ctx context.Context, id, dir string, leaveRunning bool) error {
	const op = "checkpoint task"
	if err := validateID(id); err != nil {
		return wrap(op, id, err)
	}
	if !filepath.IsAbs(dir) {
		return wrap(op, id, invalid(fmt.Errorf("checkpoint directory %q is not an absolute path", dir)))
	}
	if err := CriuUsable(); err != nil {
		return wrap(op, id, err)
	}
	opts, err := typeurl.MarshalAnyToProto(&options.CheckpointOptions{Exit: !leaveRunning, ImagePath: dir})
	if err != nil {
		return wrap(op, id, err)
	}
	_, err = c.c.TaskService().Checkpoint(c.ns(ctx), &tasksapi.CheckpointTaskRequest{ContainerID: id, Options: opts})
	return wrap(op, id, err)
}

// restoreOpts are the task options of a start from st.Checkpoint: the
// runc shim restores the task from the criu images in that directory.
func restoreOpts(st Stdio) []client.NewTaskOpts {
	if st.Checkpoint == "" {
		return nil
	}
	return []client.NewTaskOpts{client.WithRestoreImagePath(st.Checkpoint)}
}

// checkRestore checks a Stdio.Checkpoint before a start uses it.
func checkRestore(st Stdio) error {
	switch {
	case st.Checkpoint == "":
		return nil
	case !filepath.IsAbs(st.Checkpoint):
		return invalid(fmt.Errorf("checkpoint directory %q is not an absolute path", st.Checkpoint))
	}
	return CriuUsable()
}

// ForceDeleteTask removes the container's task whatever its state, for a
// forced removal after a kill did not end it: a paused task is unpaused, every
// process gets SIGKILL, and containerd deletes the task (the shim's, or
// when the shim is dead, containerd's own cleanup). It returns the exit
// containerd reports (TaskStopped), or TaskAbsent when there was no task
// (not an error). The wait for the processes to die is bounded by ctx.
func (c *Client) ForceDeleteTask(ctx context.Context, id string) (TaskStatus, error) {
	const op = "force delete task"
	if err := validateID(id); err != nil {
		return TaskStatus{}, wrap(op, id, err)
	}
	ctx = c.ns(ctx)
	svc := c.c.TaskService()
	// Kill and unpause, errors ignored: each may fail because the task is
	// gone or not paused, and the delete below says what is left.
	svc.Kill(ctx, &tasksapi.KillRequest{ContainerID: id, Signal: 9, All: true})
	svc.Resume(ctx, &tasksapi.ResumeTaskRequest{ContainerID: id})
	r, err := svc.Delete(ctx, &tasksapi.DeleteTaskRequest{ContainerID: id})
	err = classify(err)
	if err == nil {
		return TaskStatus{State: TaskStopped, Pid: r.GetPid(), ExitCode: r.GetExitStatus(), ExitedAt: timeOf(r.GetExitedAt())}, nil
	}
	if errdefs.IsNotFound(err) {
		return TaskStatus{State: TaskAbsent}, nil
	}
	// The task still runs (its processes did not die yet) or the shim
	// does not answer: wait for the exit as long as ctx allows, then delete
	// with containerd's kill-and-wait, which also cleans up after a dead
	// shim.
	ctr, lerr := c.c.LoadContainer(ctx, id)
	if lerr != nil {
		if errdefs.IsNotFound(classify(lerr)) {
			return TaskStatus{State: TaskAbsent}, nil
		}
		return TaskStatus{}, wrap(op, id, errors.Join(err, lerr))
	}
	task, terr := ctr.Task(ctx, nil)
	if terr != nil {
		if errdefs.IsNotFound(classify(terr)) {
			return TaskStatus{State: TaskAbsent}, nil
		}
		return TaskStatus{}, wrap(op, id, errors.Join(err, terr))
	}
	st, derr := task.Delete(ctx, client.WithProcessKill)
	if derr != nil {
		if errdefs.IsNotFound(classify(derr)) {
			return TaskStatus{State: TaskAbsent}, nil
		}
		return TaskStatus{}, wrap(op, id, derr)
	}
	return TaskStatus{State: TaskStopped, Pid: task.Pid(), ExitCode: st.ExitCode(), ExitedAt: st.ExitTime()}, nil
}
