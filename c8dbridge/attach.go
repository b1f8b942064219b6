package c8dbridge

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"

	tasksapi "github.com/containerd/containerd/api/services/tasks/v1"
	"github.com/containerd/containerd/v2/pkg/cio"
)

// fifoCreator hands the shim the paths of an interactive task's FIFOs. It
// opens and copies nothing: the supervisor's stdio.Hub holds the other
// ends, for as long as the task runs and again after a supervisor restart,
// which containerd's own cio copiers (tied to this client) could not.
func fifoCreator(st Stdio) (cio.Creator, error) {
	for _, p := range []string{st.Stdin, st.Stdout, st.Stderr} {
		if p != "" && !filepath.IsAbs(p) {
			return nil, invalid(fmt.Errorf("FIFO path %q is not absolute", p))
		}
	}
	if !st.Tty && st.Stderr == "" {
		return nil, invalid(errors.New("an interactive task without a terminal needs a stderr FIFO"))
	}
	cfg := cio.Config{Terminal: st.Tty, Stdin: st.Stdin, Stdout: st.Stdout, Stderr: st.Stderr}
	return func(string) (cio.IO, error) { return pathsIO{cfg}, nil }, nil
}

// pathsIO is a cio.IO that only names the FIFOs.
type pathsIO struct{ cfg cio.Config }

func (p pathsIO) Config() cio.Config { return p.cfg }
func (pathsIO) Cancel()              {}
func (pathsIO) Wait()                {}
func (pathsIO) Close() error         { return nil }

// ResizeTask sets the terminal size of the task's init process. Errors:
// NotFound if there is no task; containerd's error for a task without a
// terminal.
func (c *Client) ResizeTask(ctx context.Context, id string, width, height uint32) error {
	const op = "resize task"
	if err := validateID(id); err != nil {
		return wrap(op, id, err)
	}
	_, err := c.c.TaskService().ResizePty(c.ns(ctx), &tasksapi.ResizePtyRequest{ContainerID: id, Width: width, Height: height})
	return wrap(op, id, err)
}

// CloseStdin closes the shim's end of the init process's stdin, so that the
// process reads end of file once no one else holds the stdin FIFO open.
// Errors: NotFound if there is no task.
func (c *Client) CloseStdin(ctx context.Context, id string) error {
	const op = "close stdin"
	if err := validateID(id); err != nil {
		return wrap(op, id, err)
	}
	_, err := c.c.TaskService().CloseIO(c.ns(ctx), &tasksapi.CloseIORequest{ContainerID: id, Stdin: true})
	return wrap(op, id, err)
}
