package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"

	"github.com/containerd/errdefs"
	"github.com/vigilhq/vigil"
	"github.com/vigilhq/vigil/api"
	"github.com/vigilhq/vigil/client"
	"github.com/vigilhq/vigil/internal/containerid"
	"github.com/vigilhq/vigil/internal/stream"
)

// Exit codes of exec besides the process's own, as docker's.
const (
	exitExecFailed        = 125 // the daemon or the command line failed
	exitExecNotExecutable = 126 // the program cannot be invoked
	exitExecNotFound      = 127 // the program is not there
)

// execBackend is the part of the supervisor that runs execs. It is not in
// Backend so that the transport's stubs need not implement it; a backend
// without it answers 501.
type execBackend interface {
	Exec(ctx context.Context, id string, cfg vigil.ExecConfig) (*vigil.Execution, error)
}

var _ execBackend = (*vigil.Supervisor)(nil)

// execCode is the exit code a client reports for an exec that could not
// run.
func execCode(err error) int {
	switch {
	case errors.Is(err, vigil.ErrCommandNotFound):
		return exitExecNotFound
	case errors.Is(err, vigil.ErrCommandNotExecutable):
		return exitExecNotExecutable
	}
	return exitExecFailed
}

// execCodeOf is execCode for an error answer of the daemon: its code
// says why the command could not run.
func execCodeOf(err error) int {
	var se *api.StatusError
	switch {
	case !errors.As(err, &se):
		return exitExecFailed
	case se.Code == api.CodeCommandNotFound:
		return exitExecNotFound
	case se.Code == api.CodeCommandNotExecutable:
		return exitExecNotExecutable
	}
	return exitExecFailed
}

// execProcess serves POST /v1/containers/{id}/exec. What can be checked
// before the process starts (the body, the container and its state) is
// answered as a JSON error; then the connection is upgraded to a stream
// (see package stream), and errors travel in its Exit frame.
func (s *server) execProcess(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	if err := containerid.Validate(id); err != nil {
		return err
	}
	eb, ok := s.b.(execBackend)
	if !ok {
		return errdefs.ErrNotImplemented.WithMessage("this daemon does not run execs")
	}
	var req api.ExecRequest
	if err := decodeBody(w, r, &req); err != nil {
		return err
	}
	for _, kv := range req.Env {
		if k, _, ok := strings.Cut(kv, "="); !ok || k == "" {
			return badRequest("env entry %q is not KEY=VALUE", kv)
		}
	}
	switch {
	case len(req.Args) == 0 || req.Args[0] == "":
		return badRequest("no command given: args must name the program to run")
	case req.Workdir != "" && !filepath.IsAbs(req.Workdir):
		return badRequest("workdir %q must be an absolute path", req.Workdir)
	case !req.Detach && r.Header.Get("Upgrade") != stream.Protocol:
		return badRequest("exec streams the process's stdio: send the header Upgrade: %s, or set detach", stream.Protocol)
	case req.Detach && (req.Stdin || req.Tty):
		return badRequest("a detached exec has no stdin and no terminal")
	}
	// Refuse a container that does not run before the upgrade, in the
	// actor's own words; the actor checks again when it starts the exec.
	st, err := s.b.Inspect(r.Context(), id)
	if err != nil {
		return err
	}
	if err := vigil.CheckExec(st, req.Args); err != nil {
		return err
	}
	cfg := vigil.ExecConfig{Args: req.Args, Env: req.Env, User: req.User, Cwd: req.Workdir,
		Tty: req.Tty, Width: req.Width, Height: req.Height, Detach: req.Detach}

	if req.Detach {
		e, err := eb.Exec(r.Context(), id, cfg)
		// The request's command cannot run: the answer's code tells the
		// client which way (see codeOf, execCodeOf).
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusCreated, api.ExecStarted{ID: e.ID, Pid: e.Pid})
		return nil
	}

	release, err := s.streams.take() // limits.go
	if err != nil {
		return err
	}
	defer release()
	conn, err := upgradeStream(w, r)
	if err != nil {
		return err
	}
	defer conn.Close()
	s.streamExec(r.Context(), conn, eb, id, req, cfg)
	return nil
}

// streamExec runs an exec whose stdio travels over conn, and ends the
// stream with its exit.
func (s *server) streamExec(ctx context.Context, conn *stream.Conn, eb execBackend, id string, req api.ExecRequest, cfg vigil.ExecConfig) {
	log := s.log.With("container", id)
	var stdinR *io.PipeReader
	var stdinW *io.PipeWriter
	if req.Stdin {
		stdinR, stdinW = io.Pipe()
		cfg.Stdin = stdinR
	}
	cfg.Stdout = conn.Writer(stream.Stdout)
	if !req.Tty {
		cfg.Stderr = conn.Writer(stream.Stderr)
	}

	// A Resize frame waits for the process to run, so that the frames
	// after it (stdin the process may answer) reach it after the resize.
	var exe *vigil.Execution
	started := make(chan struct{}) // closed once exe is set, or the exec failed
	resize := func(sz stream.Size) {
		<-started
		if exe == nil {
			return
		}
		if err := exe.Resize(ctx, sz.Width, sz.Height); err != nil {
			log.Debug("exec resize failed", "exec", exe.ID, "err", err)
		}
	}

	// The frames from the client. The client's input ending (a
	// StdinClose frame, or the connection) ends the process's stdin,
	// whether or not the process runs yet: package c8dbridge closes its
	// stdin only once it started.
	go func() {
		readClientFrames(conn, stdinW, resize, log)
		if stdinW != nil {
			stdinW.Close()
		}
	}()

	e, err := eb.Exec(ctx, id, cfg)
	if err != nil {
		close(started)
		if stdinR != nil {
			stdinR.CloseWithError(err) // unblock the frame reader
		}
		sendExit(conn, stream.ExitStatus{Code: execCode(err), Error: err.Error()}, log)
		return
	}
	exe = e
	close(started)
	log.Debug("exec started", "exec", e.ID, "pid", e.Pid)

	code, err := e.Wait(ctx)
	if stdinR != nil {
		stdinR.Close() // the process is gone: nothing reads its stdin
	}
	exit := stream.ExitStatus{Code: code}
	if err != nil {
		if ctx.Err() != nil && errors.Is(context.Cause(ctx), errShutdown) {
			err = fmt.Errorf("%w: exec %s still runs in container %q", errShutdown, e.ID, id)
		}
		exit = stream.ExitStatus{Code: exitExecFailed, Error: err.Error()}
	}
	sendExit(conn, exit, log.With("exec", e.ID))
}

// The CLI.

// bothFlags is a boolean flag that sets two others.
type bothFlags [2]*bool

func (b bothFlags) String() string {
	if b[0] == nil {
		return "false"
	}
	return fmt.Sprint(*b[0] && *b[1])
}

func (b bothFlags) Set(v string) error {
	on := v == "true"
	if !on && v != "false" {
		return fmt.Errorf("want true or false, not %q", v)
	}
	*b[0], *b[1] = on, on
	return nil
}

func (bothFlags) IsBoolFlag() bool { return true }

var execCommand = &command{
	name:     "exec",
	synopsis: "[-i] [-t] [-d] [-e K=V]... [-u USER] [-w DIR] CONTAINER CMD [ARG...]",
	summary:  "run a command in a running container",
	details: `
exec runs CMD in the container's running task and exits with its exit code:
126 if it cannot be invoked, 127 if it is not found, 125 if the daemon or
the command line failed. The container's environment, user and working
directory apply unless -e, -u and -w say otherwise.

With -i, this program's stdin is copied to the command, and when it ends
the command's stdin is closed. With -t the command gets a terminal whose
size follows this one's; with -i too and a terminal as stdin, that is put
in raw mode until exec ends (SIGTERM, SIGHUP or SIGINT end exec then, with
125, so that the terminal is restored).
With -d the command runs in the background and exec prints nothing.`,
	setup: func(fs *flag.FlagSet) runFunc {
		interactive := fs.Bool("i", false, "keep stdin open: copy it to the command")
		tty := fs.Bool("t", false, "allocate a terminal")
		detach := fs.Bool("d", false, "detach: run the command in the background")
		// Go's flags do not combine, so -it, docker's habit, is a flag of
		// its own.
		fs.Var(bothFlags{interactive, tty}, "it", "same as -i -t")
		var env listFlag
		fs.Var(&env, "e", "environment variable `K=V`; a bare `K` passes this program's K (repeatable)")
		user := fs.String("u", "", "run as `USER` (uid[:gid] or name[:group]; default: the container's user)")
		workdir := fs.String("w", "", "working directory `DIR` inside the container (absolute; default: the container's)")
		return func(ctx context.Context, a *app, args []string) error {
			fail := func(format string, v ...any) error {
				fmt.Fprintf(a.stderr, "supervisor exec: %s\n", fmt.Sprintf(format, v...))
				return exitCode(exitExecFailed)
			}
			if len(args) > 1 && args[1] == "--" {
				args = append(args[:1:1], args[2:]...) // exec web -- CMD
			}
			if len(args) < 2 {
				return fail("want a container and a command, e.g. exec web sh -c 'echo hi'")
			}
			id := args[0]
			if err := containerid.Validate(id); err != nil {
				return fail("%v", err)
			}
			if *detach && (*interactive || *tty) {
				return fail("-d cannot be combined with -i or -t")
			}
			req := api.ExecRequest{Args: args[1:], User: *user, Workdir: *workdir, Tty: *tty, Stdin: *interactive, Detach: *detach}
			for _, e := range env {
				if strings.Contains(e, "=") {
					req.Env = append(req.Env, e)
				} else if v, ok := lookupEnv(a, e); ok {
					req.Env = append(req.Env, e+"="+v)
				}
			}
			code, err := runExec(ctx, a.client(), id, req, os.Stdin, a.stdout, a.stderr)
			if err != nil {
				fail("%s", errorFor(id, err))
				return exitCode(execCodeOf(err))
			}
			return exitCode(code)
		}
	},
}

// exec runs req in container id through the daemon. Detached, it returns
// once the command runs; otherwise it streams stdin (with req.Stdin) and
// the command's output, and returns its exit code. A code
// other than 0 with a nil error may also be 126 or 127 (the command could
// not run), after a message on stderr.
func runExec(ctx context.Context, c *client.Client, id string, req api.ExecRequest, stdin io.Reader, stdout, stderr io.Writer) (int, error) {
	if req.Detach {
		_, err := c.ExecDetached(ctx, id, req)
		return 0, err
	}

	// A terminal on both sides: raw mode, and the size follows ours.
	var term *terminal
	if req.Tty {
		term = openTerminal(req.Stdin)
		if term != nil {
			req.Width, req.Height = term.size()
		}
	}
	conn, err := c.Exec(ctx, id, req)
	if err != nil {
		return 0, err
	}
	defer conn.Close()

	sc := stdioClient{stdout: stdout, stderr: stderr, term: term}
	if req.Stdin {
		sc.stdin = stdin
	}
	sess, err := sc.start(conn)
	if err != nil {
		return 0, err
	}
	defer sess.stop()
	st, err := sess.wait()
	if err != nil {
		if errors.Is(err, io.EOF) {
			err = errors.New("the daemon ended the stream without the command's exit")
		}
		return 0, fmt.Errorf("exec: %w", err)
	}
	if st.Error != "" {
		sess.stop() // the terminal as it was, for the message
		fmt.Fprintf(stderr, "supervisor exec: %s\n", errorFor(id, errors.New(st.Error)))
		if st.Code == 0 {
			st.Code = exitExecFailed
		}
	}
	return st.Code, nil
}
