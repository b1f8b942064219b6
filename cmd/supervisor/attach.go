package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

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
		return &requestError{Status: http.StatusNotImplemented, Msg: "this daemon cannot attach"}
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

	out := &lateConn{ready: make(chan struct{})}
	opts := vigil.AttachOptions{Stdout: out.writer(stream.Stdout), Stderr: out.writer(stream.Stderr), Start: q.start}
	var stdinW *io.PipeWriter
	if q.stdin {
		var stdinR *io.PipeReader
		stdinR, stdinW = io.Pipe()
		opts.Stdin, opts.CloseStdin = stdinR, q.once
	}
	ctx := r.Context()
	at, err := ab.Attach(ctx, id, opts)
	if err != nil {
		if stdinW != nil {
			stdinW.CloseWithError(err)
		}
		out.set(nil)
		return err
	}
	conn, err := stream.Upgrade(w, r)
	if err != nil {
		at.Detach()
		if stdinW != nil {
			stdinW.CloseWithError(err)
		}
		out.set(nil)
		return badRequest("%v", err)
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
		for {
			k, p, err := conn.ReadFrame()
			if err != nil {
				return
			}
			switch k {
			case stream.Stdin:
				if stdinW != nil {
					stdinW.Write(p)
				}
			case stream.StdinClose:
				if stdinW != nil {
					stdinW.Close() // end of file: closes the container's stdin with stdin_once
				}
			case stream.Resize:
				var sz stream.Size
				if err := json.Unmarshal(p, &sz); err != nil {
					s.log.Debug("attach: bad resize frame", "container", id, "err", err)
					continue
				}
				if err := at.Resize(ctx, sz.Width, sz.Height); err != nil {
					s.log.Debug("attach: resize", "container", id, "err", err)
				}
			}
		}
	}()

	code, err := at.Wait(ctx)
	es := stream.ExitStatus{Code: code}
	switch {
	case errors.Is(err, vigil.ErrDetached):
		return nil
	case errors.Is(context.Cause(ctx), errShutdown):
		es = stream.ExitStatus{Code: 125, Error: "the daemon is shutting down; the container keeps running: attach again once it is back"}
	case err != nil:
		s.log.Debug("attach ended", "container", id, "err", err)
		es = stream.ExitStatus{Code: 125, Error: err.Error()}
	}
	// A client that stopped reading would block this write for ever; the
	// deferred Close ends it.
	wrote := make(chan struct{})
	go func() {
		defer close(wrote)
		if conn.WriteJSON(stream.Exit, es) == nil {
			conn.CloseWrite()
		}
	}()
	select {
	case <-wrote:
	case <-time.After(exitWriteTimeout):
		s.log.Warn("attach: the client does not read; closing its stream", "container", id)
	}
	return nil
}

// exitWriteTimeout bounds the write of the Exit frame.
const exitWriteTimeout = 10 * time.Second

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

// attachStream asks the daemon to attach and returns the stream.
func (c *client) attachStream(ctx context.Context, id string, q url.Values) (*stream.Conn, error) {
	u := url.URL{Scheme: "http", Host: "vigil", Path: containerPath(id, "/attach"), RawQuery: q.Encode()}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), nil)
	if err != nil {
		return nil, err
	}
	stream.SetUpgrade(req)
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, c.connError(err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		defer resp.Body.Close()
		data, _ := io.ReadAll(io.LimitReader(resp.Body, maxBody))
		var e errorJSON
		if json.Unmarshal(data, &e) != nil || e.Error == "" {
			e.Error = fmt.Sprintf("the daemon answered %s", resp.Status)
		}
		return nil, &apiError{Status: resp.StatusCode, Msg: e.Error}
	}
	return stream.FromResponse(resp)
}

// detachKeys is the sequence that detaches a client reading a terminal:
// ctrl-p ctrl-q, as docker's.
var detachKeys = []byte{0x10, 0x11}

// errDetachedByKeys ends an attached session that the user left with
// detachKeys.
var errDetachedByKeys = errors.New("detached")

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
	conn, err := a.client().attachStream(ctx, id, q)
	if err != nil {
		return err
	}
	defer conn.Close()

	in := os.Stdin
	fd := int(in.Fd())
	raw := false
	if o.tty && isTerminalFd(fd) {
		restore, err := makeRaw(fd)
		if err != nil {
			return fmt.Errorf("terminal: %w", err)
		}
		raw = true
		defer restore()
		// Signals that would kill us while raw must restore the terminal.
		sigs := make(chan os.Signal, 1)
		signal.Notify(sigs, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGINT)
		defer signal.Stop(sigs)
		go func() {
			if _, ok := <-sigs; ok {
				conn.Close()
			}
		}()
		winch := make(chan os.Signal, 1)
		signal.Notify(winch, syscall.SIGWINCH)
		defer signal.Stop(winch)
		sendSize := func() {
			if ws, err := unix.IoctlGetWinsize(fd, unix.TIOCGWINSZ); err == nil && ws.Col > 0 && ws.Row > 0 {
				conn.WriteJSON(stream.Resize, stream.Size{Width: uint32(ws.Col), Height: uint32(ws.Row)})
			}
		}
		sendSize()
		go func() {
			for range winch {
				sendSize()
			}
		}()
	}

	detached := make(chan struct{})
	if o.stdin {
		go func() {
			buf := make([]byte, 32<<10)
			matched := 0 // bytes of detachKeys seen at the end of the input
			for {
				n, err := in.Read(buf)
				p := buf[:n]
				if raw && n > 0 {
					var hit bool
					p, matched, hit = scanDetach(p, matched)
					if hit {
						if len(p) > 0 {
							conn.WriteFrame(stream.Stdin, p)
						}
						close(detached)
						conn.Close()
						return
					}
				}
				if len(p) > 0 {
					if conn.WriteFrame(stream.Stdin, p) != nil {
						return
					}
				}
				if err != nil {
					conn.WriteFrame(stream.StdinClose, nil)
					return
				}
			}
		}()
	}

	for {
		k, p, err := conn.ReadFrame()
		if err != nil {
			select {
			case <-detached:
				if raw {
					fmt.Fprint(a.stderr, "\r\n")
				}
				fmt.Fprintf(a.stderr, "supervisor: detached from %s; it keeps running\n", id)
				return nil
			default:
			}
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return fmt.Errorf("the connection to the daemon ended before container %q exited (the container keeps running; attach again): %w", id, err)
		}
		switch k {
		case stream.Stdout:
			a.stdout.Write(p)
		case stream.Stderr:
			a.stderr.Write(p)
		case stream.Exit:
			var es stream.ExitStatus
			if err := json.Unmarshal(p, &es); err != nil {
				return fmt.Errorf("bad exit frame from the daemon: %w", err)
			}
			if es.Error != "" {
				return fmt.Errorf("container %q: %s", id, es.Error)
			}
			if es.Code != 0 {
				return exitCode(es.Code)
			}
			return nil
		}
	}
}

// scanDetach looks for detachKeys in p, matched bytes of it having ended
// the previous read. It returns the input to send (held back bytes that
// turned out not to be the sequence included), the new match count, and
// whether the sequence is complete.
func scanDetach(p []byte, matched int) (send []byte, m int, hit bool) {
	for _, b := range p {
		switch {
		case b == detachKeys[matched]:
			matched++
			if matched == len(detachKeys) {
				return send, 0, true
			}
		default:
			send = append(send, detachKeys[:matched]...)
			matched = 0
			if b == detachKeys[0] {
				matched = 1
				continue
			}
			send = append(send, b)
		}
	}
	return send, matched, false
}

func isTerminalFd(fd int) bool {
	_, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	return err == nil
}

// makeRaw puts the terminal in raw mode (as cfmakeraw) and returns what
// restores it.
func makeRaw(fd int) (func(), error) {
	old, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	if err != nil {
		return nil, err
	}
	t := *old
	t.Iflag &^= unix.IGNBRK | unix.BRKINT | unix.PARMRK | unix.ISTRIP | unix.INLCR | unix.IGNCR | unix.ICRNL | unix.IXON
	t.Oflag &^= unix.OPOST
	t.Lflag &^= unix.ECHO | unix.ECHONL | unix.ICANON | unix.ISIG | unix.IEXTEN
	t.Cflag &^= unix.CSIZE | unix.PARENB
	t.Cflag |= unix.CS8
	t.Cc[unix.VMIN], t.Cc[unix.VTIME] = 1, 0
	if err := unix.IoctlSetTermios(fd, unix.TCSETS, &t); err != nil {
		return nil, err
	}
	return func() { unix.IoctlSetTermios(fd, unix.TCSETS, old) }, nil
}

var attachCommand = &command{
	name:     "attach",
	synopsis: "[--no-stdin] ID",
	summary:  "join a running interactive container's input and output",
	details: `
attach joins a container created with -i or -t: its output from now on
(what it wrote before is in logs), and, with -i, your input goes to its
stdin. With -t and a terminal, your terminal is put in raw mode and its
size follows yours. Leave with ctrl-p ctrl-q (on a terminal) or by
interrupting attach: the container keeps running, and its stdin stays open
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
			st, err := a.client().inspect(ctx, args[0])
			if err != nil {
				return err
			}
			return a.runAttached(ctx, args[0], attachIO{stdin: st.Config.Interactive && !*noStdin, tty: st.Config.Tty})
		}
	},
}
