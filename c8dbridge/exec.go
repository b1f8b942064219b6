package c8dbridge

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/containers"
	"github.com/containerd/containerd/v2/pkg/cio"
	"github.com/containerd/containerd/v2/pkg/oci"
	"github.com/containerd/errdefs"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// ExecSpec is a process to run in a container's running task, in vigil's
// words. What it leaves empty comes from the container's own process.
type ExecSpec struct {
	ExecID string   // validated like a container ID; unique within the task
	Args   []string // Args[0] is the program, looked up in the container's PATH
	Env    []string // KEY=VALUE, added to the container's env (a key given replaces it)
	User   string   // uid[:gid] or name[:group], looked up in the rootfs; "": the container's user
	Cwd    string   // absolute; "": the container's working directory
	Tty    bool     // allocate a terminal: stdout and stderr are one stream
	// Width and Height are the terminal's initial size; 0: containerd's
	// default.
	Width, Height uint32
}

// ExecStdio is where an exec process's stdio goes. A nil Stdin gives the
// process no stdin; nil Stdout and Stderr discard its output. With all three
// nil the process gets /dev/null.
type ExecStdio struct {
	Stdin          io.Reader
	Stdout, Stderr io.Writer
}

// ExecProcess is an exec process that started. Its FIFOs and its record in
// containerd are removed once it exited and its output was copied.
type ExecProcess interface {
	// Pid is the process's pid on the host.
	Pid() uint32
	// Wait blocks until the process exited and its output was copied, or
	// until ctx ends. The status is TaskStopped with ExitCode and ExitedAt;
	// an error says that the exit could not be learned (containerd went
	// away), and then the code is 255. Either way the process stays in
	// containerd, which keeps its exit (ExecStatus reads it), until
	// DeleteExec: the caller deletes it once the exit is recorded.
	Wait(ctx context.Context) (TaskStatus, error)
	// Resize sets the size of the process's terminal; a process without
	// one ignores it. An error once the process ended.
	Resize(ctx context.Context, width, height uint32) error
	// Kill sends sig to the process. NotFound once it is gone.
	Kill(ctx context.Context, sig syscall.Signal) error
}

// Sentinels of a command that an exec could not run, as the shell's exit
// codes 127 and 126 tell them apart. Test with errors.Is. Their class is
// InvalidArgument: the request named a program that cannot run.
var (
	ErrCommandNotFound      = errdefs.ErrInvalidArgument.WithMessage("c8dbridge: command not found")
	ErrCommandNotExecutable = errdefs.ErrInvalidArgument.WithMessage("c8dbridge: command cannot be invoked")
)

// execIODrain bounds how long an exec's output is copied after it exited: a
// child it left in the background may hold the pipes open forever.
const execIODrain = 10 * time.Second

// ExecDir is the directory of the FIFOs of exec execID in the bundle dir
// of a container.
func ExecDir(bundleDir, execID string) string {
	return filepath.Join(bundleDir, "exec", execID)
}

// Exec starts a process in the container's running task and returns once
// it runs. Its stdio goes through FIFOs in BundleRoot/ID/exec/EXECID, which
// this call creates and the process's end removes.
//
// When io.Stdin ends, the process's stdin is closed (containerd's CloseIO),
// also when it ended before the process started: the copy of stdin begins
// only once it runs, so the close cannot come too early and be lost.
//
// Errors: InvalidArgument for a bad ID, exec ID, args, env or cwd, or a user
// that is not in the rootfs; NotFound if there is no container or task;
// AlreadyExists if the exec ID is in use; ErrCommandNotFound and
// ErrCommandNotExecutable when the program cannot run.
func (c *Client) Exec(ctx context.Context, id string, spec ExecSpec, stdio ExecStdio) (ExecProcess, error) {
	const op = "exec in"
	if err := validateID(id); err != nil {
		return nil, wrap(op, id, err)
	}
	if err := validateExec(spec); err != nil {
		return nil, wrap(op, id, err)
	}
	ctx = c.ns(ctx)
	ctr, err := c.c.LoadContainer(ctx, id)
	if err != nil {
		return nil, wrap(op, id, err)
	}
	task, err := ctr.Task(ctx, nil)
	if err != nil {
		return nil, wrap(op, id, err)
	}
	s, err := ctr.Spec(ctx)
	if err != nil {
		return nil, wrap(op, id, err)
	}
	if spec.User != "" && s.Root != nil && !filepath.IsAbs(s.Root.Path) {
		// A container made from an image: its rootfs, as the task sees
		// it now, is the task's root.
		root := *s.Root
		root.Path = fmt.Sprintf("/proc/%d/root", task.Pid())
		cp := *s
		cp.Root = &root
		s = &cp
	}
	pspec, err := execProcessSpec(ctx, id, s, spec)
	if err != nil {
		return nil, wrap(op, id, err)
	}

	dir := ExecDir(c.bundleDir(id), spec.ExecID)
	dio, err := newExecIO(dir, spec.Tty, stdio)
	if err != nil {
		return nil, wrap(op, id, err)
	}
	p, err := task.Exec(ctx, spec.ExecID, pspec, func(string) (cio.IO, error) { return dio, nil })
	if err != nil {
		dio.Close() // containerd closes it only on some paths; Close is idempotent
		return nil, wrap(op, id, err)
	}
	// Ask for the exit before the start, so that it cannot be missed; the
	// wait outlives ctx, which only bounds this call.
	exitCh, err := p.Wait(c.ns(context.Background()))
	if err != nil {
		c.deleteExec(p, dio)
		return nil, wrap(op, id, err)
	}
	if err := p.Start(ctx); err != nil {
		c.deleteExec(p, dio)
		return nil, wrap(op, id, startError(err))
	}
	e := &execProcess{p: p, done: make(chan struct{})}
	go e.run(c, exitCh, dio, stdio)
	return e, nil
}

// validateExec checks what Exec needs before it asks containerd.
func validateExec(spec ExecSpec) error {
	if err := validateID(spec.ExecID); err != nil {
		return fmt.Errorf("exec ID: %w", err)
	}
	if err := ValidateProcess(spec.Args, spec.Cwd, spec.Env); err != nil {
		return invalid(err)
	}
	return nil
}

// execProcessSpec is the container's process with what spec sets changed;
// the user is looked up in s's rootfs (an absolute path: a container made
// from an image is looked up in its task's root) as the container's own
// user is.
func execProcessSpec(ctx context.Context, id string, s *oci.Spec, spec ExecSpec) (*specs.Process, error) {
	if s.Process == nil {
		return nil, fmt.Errorf("%w: the container's spec has no process", errdefs.ErrFailedPrecondition)
	}
	p := *s.Process
	p.Env = slices.Clone(p.Env)
	p.Args = slices.Clone(spec.Args)
	p.Terminal = spec.Tty
	p.ConsoleSize = nil
	if spec.Tty && spec.Width > 0 && spec.Height > 0 {
		p.ConsoleSize = &specs.Box{Width: uint(spec.Width), Height: uint(spec.Height)}
	}
	if spec.Cwd != "" {
		p.Cwd = spec.Cwd
	}
	tmp := *s // the helpers write to the copy's process only
	tmp.Process = &p
	opts := []oci.SpecOpts{oci.WithEnv(spec.Env)}
	if spec.User != "" {
		opts = append(opts, withUser(spec.User)) // users.go
	}
	if err := oci.ApplyOpts(ctx, nil, &containers.Container{ID: id}, &tmp, opts...); err != nil {
		if spec.User != "" && (errors.Is(err, oci.ErrNoUsersFound) || errors.Is(err, oci.ErrNoGroupsFound) ||
			errors.Is(err, fs.ErrNotExist)) {
			return nil, invalid(fmt.Errorf("user %q is not in the rootfs's /etc/passwd or /etc/group: %w", spec.User, err))
		}
		return nil, invalid(fmt.Errorf("exec process spec: %w", err))
	}
	return tmp.Process, nil
}

// newExecIO creates the FIFOs of an exec in dir and opens the daemon's ends.
// Closing the result removes dir.
func newExecIO(dir string, tty bool, stdio ExecStdio) (cio.IO, error) {
	if stdio.Stdin == nil && stdio.Stdout == nil && stdio.Stderr == nil {
		return cio.NullIO("")
	}
	if err := os.MkdirAll(filepath.Dir(dir), 0o700); err != nil {
		return nil, err
	}
	if err := os.Mkdir(dir, 0o700); err != nil {
		if errors.Is(err, fs.ErrExist) {
			err = fmt.Errorf("%w: exec dir %s exists", errdefs.ErrAlreadyExists, dir)
		}
		return nil, err
	}
	cfg := cio.Config{Terminal: tty, Stdout: filepath.Join(dir, "stdout")}
	if stdio.Stdin != nil {
		cfg.Stdin = filepath.Join(dir, "stdin")
	}
	if !tty {
		cfg.Stderr = filepath.Join(dir, "stderr")
	}
	fifos := cio.NewFIFOSet(cfg, func() error { return os.RemoveAll(dir) })
	// The FIFOs open in the background (each end waits for the shim's);
	// the context only ends with the IO (Cancel, by Close).
	dio, err := cio.NewDirectIO(context.Background(), fifos)
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	return dio, nil
}

// startError classifies runc's words for a program that cannot run.
func startError(err error) error {
	msg := err.Error()
	switch {
	case strings.Contains(msg, "chdir to cwd"):
		return fmt.Errorf("%w: %w", ErrCommandNotExecutable, err)
	case strings.Contains(msg, "executable file not found"), strings.Contains(msg, "no such file or directory"):
		return fmt.Errorf("%w: %w", ErrCommandNotFound, err)
	case strings.Contains(msg, "permission denied"), strings.Contains(msg, "exec format error"),
		strings.Contains(msg, "is a directory"):
		return fmt.Errorf("%w: %w", ErrCommandNotExecutable, err)
	}
	return err
}

// deleteExec removes an exec process that did not start, and its FIFOs.
func (c *Client) deleteExec(p client.Process, pio cio.IO) {
	ctx, cancel := context.WithTimeout(context.Background(), killTimeout)
	defer cancel()
	p.Delete(c.ns(ctx), client.WithProcessKill)
	pio.Cancel()
	pio.Close()
}

// execProcess is a started exec process.
type execProcess struct {
	p    client.Process
	done chan struct{} // closed once status and err are set
	st   TaskStatus
	err  error
}

func (e *execProcess) Pid() uint32 { return e.p.Pid() }

func (e *execProcess) Wait(ctx context.Context) (TaskStatus, error) {
	select {
	case <-ctx.Done():
		return TaskStatus{}, ctx.Err()
	case <-e.done:
		return e.st, e.err
	}
}

func (e *execProcess) Resize(ctx context.Context, width, height uint32) error {
	if err := e.p.Resize(ctx, width, height); err != nil {
		return fmt.Errorf("c8dbridge: resize exec %q: %w", e.p.ID(), classify(err))
	}
	return nil
}

func (e *execProcess) Kill(ctx context.Context, sig syscall.Signal) error {
	if err := e.p.Kill(ctx, sig); err != nil {
		return fmt.Errorf("c8dbridge: kill exec %q: %w", e.p.ID(), classify(err))
	}
	return nil
}

// run copies the process's stdio until it exited, then deletes it and its
// FIFOs and reports the exit.
func (e *execProcess) run(c *Client, exitCh <-chan client.ExitStatus, pio cio.IO, stdio ExecStdio) {
	dio, _ := pio.(*cio.DirectIO)
	var out sync.WaitGroup
	if dio != nil {
		if dio.Stdin != nil {
			go e.copyStdin(c, dio.Stdin, stdio.Stdin)
		}
		copyOut := func(w io.Writer, r io.Reader) {
			defer out.Done()
			if w == nil {
				w = io.Discard
			}
			buf := make([]byte, 32<<10)
			for {
				n, err := r.Read(buf)
				if n > 0 {
					if _, werr := w.Write(buf[:n]); werr != nil {
						w = io.Discard // the reader went away: keep draining
					}
				}
				if err != nil {
					return
				}
			}
		}
		if dio.Stdout != nil {
			out.Add(1)
			go copyOut(stdio.Stdout, dio.Stdout)
		}
		if dio.Stderr != nil {
			out.Add(1)
			go copyOut(stdio.Stderr, dio.Stderr)
		}
	}

	es := <-exitCh
	code, at, err := es.Result()
	e.st = TaskStatus{State: TaskStopped, ExitCode: code, ExitedAt: at}
	if err != nil {
		e.err = fmt.Errorf("c8dbridge: wait for exec %q: %w", e.p.ID(), classify(err))
		e.st.ExitCode = 255
	}

	drained := make(chan struct{})
	go func() { out.Wait(); close(drained) }()
	select {
	case <-drained:
	case <-time.After(execIODrain):
	}
	// The process stays in containerd, which keeps its exit, until the
	// caller has recorded that exit and calls DeleteExec: a crash in
	// between leaves the exit for ExecStatus to find.
	pio.Cancel()
	pio.Close() // closes the FIFOs, which ends the copies, and removes the dir
	close(e.done)
}

// copyStdin copies the caller's stdin to the process and, when it ends,
// closes the process's stdin. It runs only once the process started.
func (e *execProcess) copyStdin(c *Client, w io.WriteCloser, r io.Reader) {
	buf := make([]byte, 32<<10)
	for {
		n, err := r.Read(buf)
		if n > 0 {
			if _, werr := w.Write(buf[:n]); werr != nil {
				break // the process is gone or closed its stdin
			}
		}
		if err != nil {
			break
		}
	}
	w.Close()
	select {
	case <-e.done:
		return // deleted: nothing to close
	default:
	}
	ctx, cancel := context.WithTimeout(context.Background(), killTimeout)
	defer cancel()
	e.p.CloseIO(c.ns(ctx), client.WithStdinCloser)
}
