package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"sync"

	"github.com/containerd/errdefs"
	"github.com/vigilhq/vigil"
	"github.com/vigilhq/vigil/internal/containerid"
	"github.com/vigilhq/vigil/internal/stream"
)

// attacher is the part of the Backend that joins an interactive
// container's stdio. *vigil.Supervisor has it; a Backend without it
// answers 501.
type attacher interface {
	Attach(ctx context.Context, id string, opts vigil.AttachOptions) (*vigil.Attachment, error)
}

var _ attacher = (*vigil.Supervisor)(nil)

// attach serves POST /v1/containers/{id}/attach, upgraded to a stream (see
// internal/stream). Query: stdin=1 joins the container's stdin; stdin_once=1
// closes the container's stdin when the client sends StdinClose (run -i);
// start=1 starts the container once attached (it must be created or
// exited), so that no output is missed. Errors before the upgrade are JSON
// answers: 409 for a container that does not run or is not interactive.
// The stream ends with an Exit frame when the container's process exits;
// a client that closes the connection detaches and leaves it running.
func (s *server) attach(w http.ResponseWriter, r *http.Request) error {
	ab, ok := s.b.(attacher)
	if !ok {
		return errdefs.ErrNotImplemented.WithMessage("this daemon cannot attach")
	}
	id := r.PathValue("id")
	if err := containerid.Validate(id); err != nil {
		return err
	}
	if r.Header.Get("Upgrade") != stream.Protocol {
		return badRequest("attach streams: send the headers Connection: Upgrade and Upgrade: %s", stream.Protocol)
	}
	var q struct{ stdin, once, start bool }
	var err error
	if q.stdin, err = queryBool(r, "stdin"); err != nil {
		return err
	}
	if q.once, err = queryBool(r, "stdin_once"); err != nil {
		return err
	}
	if q.start, err = queryBool(r, "start"); err != nil {
		return err
	}

	// A stream slot before anything happens (Attach may start the
	// container).
	release, err := s.streams.take() // limits.go
	if err != nil {
		return err
	}
	defer release()

	out := &lateConn{ready: make(chan struct{})}
	opts := vigil.AttachOptions{Stdout: out.writer(stream.Stdout), Stderr: out.writer(stream.Stderr), Start: q.start}
	var stdinW *io.PipeWriter
	if q.stdin {
		var stdinR *io.PipeReader
		stdinR, stdinW = io.Pipe()
		opts.Stdin, opts.CloseStdin = stdinR, q.once
	}
	ctx := r.Context()
	log := s.log.With("container", id)
	at, err := ab.Attach(ctx, id, opts)
	if err != nil {
		if stdinW != nil {
			stdinW.CloseWithError(err)
		}
		out.set(nil)
		return err
	}
	conn, err := upgradeStream(w, r) // limits.go
	if err != nil {
		at.Detach()
		if stdinW != nil {
			stdinW.CloseWithError(err)
		}
		out.set(nil)
		return err
	}
	defer conn.Close()
	out.set(conn)

	// The client's frames: input, its end, terminal sizes. A connection
	// that ends otherwise is a detach.
	go func() {
		defer at.Detach()
		if stdinW != nil {
			defer stdinW.CloseWithError(vigil.ErrDetached)
		}
		readClientFrames(conn, stdinW, func(sz stream.Size) {
			if err := at.Resize(ctx, sz.Width, sz.Height); err != nil {
				log.Debug("attach: resize", "err", err)
			}
		}, log)
	}()

	code, err := at.Wait(ctx)
	es := stream.ExitStatus{Code: code}
	switch {
	case errors.Is(err, vigil.ErrDetached):
		return nil
	case errors.Is(context.Cause(ctx), errShutdown):
		es = stream.ExitStatus{Code: 125, Error: "the daemon is shutting down; the container keeps running: attach again once it is back"}
	case err != nil:
		log.Debug("attach ended", "err", err)
		es = stream.ExitStatus{Code: 125, Error: err.Error()}
	}
	sendExit(conn, es, log)
	return nil
}

// lateConn holds output that comes between Attach and the upgrade until
// the stream exists (or fails).
type lateConn struct {
	ready chan struct{}
	once  sync.Once
	conn  *stream.Conn
}

func (l *lateConn) set(c *stream.Conn) {
	l.once.Do(func() {
		l.conn = c
		close(l.ready)
	})
}

func (l *lateConn) writer(k stream.Kind) io.Writer {
	return writerFunc(func(p []byte) (int, error) {
		<-l.ready
		if l.conn == nil {
			return 0, errors.New("attach: no stream")
		}
		return l.conn.Writer(k).Write(p)
	})
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

// attachIO is how the CLI joins a container's stdio.
type attachIO struct {
	stdin     bool // send our stdin
	tty       bool // the container has a terminal
	stdinOnce bool // our end of file closes the container's stdin
	start     bool
}

// runAttached attaches to container id and copies between the stream and
// the terminal until the container exits (its exit code is returned as an
// exitCode error), the user detaches (ctrl-p ctrl-q on a terminal), or the
// connection ends. With a terminal on both sides, the local one is put in
// raw mode and its size is sent at start and on every SIGWINCH.
func (a *app) runAttached(ctx context.Context, id string, o attachIO) error {
	q := url.Values{}
	if o.stdin {
		q.Set("stdin", "1")
		if o.stdinOnce {
			q.Set("stdin_once", "1")
		}
	}
	if o.start {
		q.Set("start", "1")
	}
	conn, err := a.client().Attach(ctx, id, q)
	if err != nil {
		return err
	}
	defer conn.Close()

	var term *terminal
	if o.tty {
		term = openTerminal(o.stdin)
	}
	sc := stdioClient{stdout: a.stdout, stderr: a.stderr, term: term, detach: true}
	if o.stdin {
		sc.stdin = os.Stdin
	}
	sess, err := sc.start(conn)
	if err != nil {
		return fmt.Errorf("terminal: %w", err)
	}
	defer sess.stop()
	es, err := sess.wait()
	switch {
	case errors.Is(err, errDetachedByKeys):
		// The keys are read only in raw mode: restore it, and end the
		// line they left.
		sess.stop()
		fmt.Fprint(a.stderr, "\r\n")
		fmt.Fprintf(a.stderr, "supervisor: detached from %s; it keeps running\n", id)
		return nil
	case errors.Is(err, errBadExit):
		return err
	case err != nil && ctx.Err() != nil:
		return ctx.Err()
	case err != nil:
		return fmt.Errorf("the connection to the daemon ended before container %q exited (the container keeps running; attach again): %w", id, err)
	case es.Error != "":
		return fmt.Errorf("container %q: %s", id, es.Error)
	case es.Code != 0:
		return exitCode(es.Code)
	}
	return nil
}

var attachCommand = &command{
	name:     "attach",
	synopsis: "[--no-stdin] ID",
	summary:  "join a running interactive container's input and output",
	details: `
attach joins a container created with -i or -t: its output from now on
(what it wrote before is in logs), and, with -i, your input goes to its
stdin. With -t the container's terminal size follows yours, and when your
input goes to it from a terminal, that terminal is put in raw mode. Leave
with ctrl-p ctrl-q (in raw mode) or by interrupting attach: the container keeps running, and its stdin stays open
for the next attach. When the container exits, attach exits with its exit
code. A container created without -i or -t has no attachable stdio: read
its output with 'supervisor logs -f'.`,
	setup: func(fs *flag.FlagSet) runFunc {
		noStdin := fs.Bool("no-stdin", false, "do not send input")
		return func(ctx context.Context, a *app, args []string) error {
			if len(args) != 1 {
				return usageErrorf("want one container ID")
			}
			if err := checkIDs(args); err != nil {
				return err
			}
			st, err := a.client().Inspect(ctx, args[0])
			if err != nil {
				return err
			}
			return a.runAttached(ctx, args[0], attachIO{stdin: st.Config.Interactive && !*noStdin, tty: st.Config.Tty})
		}
	},
}
