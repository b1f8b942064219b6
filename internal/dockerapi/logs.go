package dockerapi

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/containerd/errdefs"
	"github.com/moby/moby/api/types"

	"github.com/vigilhq/vigil"
	"github.com/vigilhq/vigil/actors/lifecycle"
	"github.com/vigilhq/vigil/stdio"
)

// The stream numbers of docker's multiplexed stream.
const (
	streamStdout = 1
	streamStderr = 2
)

// muxWriter writes docker's multiplexed stream: each write is one frame,
// an 8-byte header (the stream, three zero bytes, the length as a 32-bit
// big-endian number) and the payload. With raw set (a terminal), writes
// go through as they are. It is safe for concurrent use.
type muxWriter struct {
	mu    sync.Mutex
	w     io.Writer
	raw   bool
	flush func() error
}

// stream returns the writer of one stream.
func (m *muxWriter) stream(n byte) io.Writer {
	return writerFunc(func(p []byte) (int, error) { return m.write(n, p) })
}

// maxFrame is the largest payload one frame's 32-bit length can carry,
// as an int on every platform (int is 32 bits on linux/arm).
const maxFrame = int(math.MaxUint32 >> 1)

func (m *muxWriter) write(n byte, p []byte) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	written := 0
	for len(p) > 0 {
		chunk := p
		if uint64(len(chunk)) > math.MaxUint32 {
			chunk = chunk[:maxFrame]
		}
		if !m.raw {
			var hdr [8]byte
			hdr[0] = n
			binary.BigEndian.PutUint32(hdr[4:], uint32(len(chunk)))
			if _, err := m.w.Write(hdr[:]); err != nil {
				return written, err
			}
		}
		k, err := m.w.Write(chunk)
		written += k
		if err != nil {
			return written, err
		}
		p = p[len(chunk):]
	}
	if m.flush != nil {
		if err := m.flush(); err != nil {
			return written, err
		}
	}
	return written, nil
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

// parseUnixTime parses docker's time parameters: seconds since the epoch
// with an optional fraction ("1700000000.5"), or an RFC 3339 time.
func parseUnixTime(v string) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
		return t, nil
	}
	sec, frac, _ := strings.Cut(v, ".")
	s, err := strconv.ParseInt(sec, 10, 64)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q is not a time: want seconds since the epoch or RFC 3339", v)
	}
	var ns int64
	if frac != "" {
		frac = (frac + "000000000")[:9]
		if ns, err = strconv.ParseInt(frac, 10, 64); err != nil {
			return time.Time{}, fmt.Errorf("%q is not a time: want seconds since the epoch or RFC 3339", v)
		}
	}
	if s == 0 && ns == 0 {
		return time.Time{}, nil
	}
	return time.Unix(s, ns), nil
}

// containerLogs streams a container's log in docker's multiplexed format
// (raw for a container with a terminal): stdout, stderr, follow, tail,
// since, until, timestamps.
func (s *Server) containerLogs(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	st, err := s.inspect(ctx, r.PathValue("id"))
	if err != nil {
		return err
	}
	q := r.URL.Query()
	wantOut, wantErr := queryBool(r, "stdout"), queryBool(r, "stderr")
	if !wantOut && !wantErr {
		return badRequest("Bad parameters: you must choose at least one stream")
	}
	opts := stdio.ReadOptions{Follow: queryBool(r, "follow")}
	if v := q.Get("tail"); v != "" && v != "all" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return badRequest("tail=%q: want a number or all", v)
		}
		opts.Tail = n
		if n == 0 {
			opts.Tail = -1 // nothing of the past
		}
	}
	if opts.Since, err = parseUnixTime(q.Get("since")); err != nil {
		return badRequest("since: %v", err)
	}
	if opts.Until, err = parseUnixTime(q.Get("until")); err != nil {
		return badRequest("until: %v", err)
	}
	if opts.Tail < 0 {
		opts.Tail = 0
		if now := time.Now(); opts.Since.Before(now) {
			opts.Since = now
		}
	}
	timestamps := queryBool(r, "timestamps")
	opts.Done = s.exited(ctx, st.ID, st, false)

	if st.Config.Tty {
		w.Header().Set("Content-Type", types.MediaTypeRawStream)
	} else {
		w.Header().Set("Content-Type", types.MediaTypeMultiplexedStream)
	}
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	_ = rc.Flush()
	bw := bufio.NewWriter(w)
	mw := &muxWriter{w: bw, raw: st.Config.Tty}
	if opts.Follow {
		mw.flush = func() error {
			if err := bw.Flush(); err != nil {
				return err
			}
			return rc.Flush()
		}
	}
	err = s.copyLog(ctx, st.ID, opts, wantOut, wantErr, timestamps, mw)
	if err != nil && ctx.Err() == nil && !errors.Is(err, fs.ErrNotExist) {
		s.log.Error("docker logs", "container", st.ID, "err", err)
	}
	bw.Flush()
	_ = rc.Flush()
	return nil
}

// copyLog writes the entries of a container's log to mw.
func (s *Server) copyLog(ctx context.Context, id string, opts stdio.ReadOptions, wantOut, wantErr, timestamps bool, mw *muxWriter) error {
	opts.OnMalformed = func(off int64, err error) {
		s.log.Warn("skipped a damaged log record", "container", id, "offset", off, "err", err)
	}
	atLineStart := map[string]bool{"stdout": true, "stderr": true}
	return stdio.Read(ctx, s.sup.LogPath(id), opts, func(e stdio.Entry) error {
		n := byte(streamStdout)
		switch {
		case e.Stream == "stderr" && !wantErr, e.Stream != "stderr" && !wantOut:
			return nil
		case e.Stream == "stderr":
			n = streamStderr
		}
		line := e.Log
		if timestamps && atLineStart[e.Stream] {
			line = e.Time.UTC().Format(time.RFC3339Nano) + " " + line
		}
		atLineStart[e.Stream] = !e.Partial
		_, err := mw.write(n, []byte(line))
		return err
	})
}

// exited returns the Done channel of a log follow: closed once the
// container's output can grow no more, which the container's actor tells
// when it journals the exit (a wait, not a poll). With beforeStart, a
// container that does not run yet must first run (an attach before the
// start): the wait is then for its next exit.
func (s *Server) exited(ctx context.Context, id string, st0 vigil.State, beforeStart bool) <-chan struct{} {
	cond := vigil.WaitNotRunning
	if beforeStart && !st0.Alive() {
		cond = vigil.WaitNextExit
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ctx.Err() == nil {
			_, err := s.sup.Wait(ctx, id, cond)
			if err == nil || errors.Is(err, vigil.ErrNotFound) || ctx.Err() != nil {
				return
			}
			// The wait itself failed (an actor that restarted drops its
			// waiters): wait again, after a pause, while it may still run.
			if st, ierr := s.sup.Inspect(ctx, id); ierr != nil || (cond == vigil.WaitNotRunning && !st.Alive()) {
				return
			}
			t := time.NewTimer(100 * time.Millisecond)
			select {
			case <-ctx.Done():
			case <-t.C:
			}
			t.Stop()
		}
	}()
	return done
}

// hijack takes the connection of r over and answers the upgrade docker's
// clients ask for (101, Upgrade: tcp), or 200 to an older client that did
// not ask.
func hijack(w http.ResponseWriter, r *http.Request, contentType string) (net.Conn, *bufio.Reader, error) {
	h, ok := w.(http.Hijacker)
	if !ok {
		return nil, nil, errdefs.ErrNotImplemented.WithMessage("the connection cannot be taken over")
	}
	conn, brw, err := h.Hijack()
	if err != nil {
		return nil, nil, err
	}
	conn.SetDeadline(time.Time{})
	upgrade := strings.Contains(strings.ToLower(r.Header.Get("Connection")), "upgrade")
	var head string
	if upgrade {
		head = "HTTP/1.1 101 UPGRADED\r\nContent-Type: " + contentType + "\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n"
	} else {
		head = "HTTP/1.1 200 OK\r\nContent-Type: " + contentType + "\r\n"
	}
	if _, err := conn.Write([]byte(head + "\r\n")); err != nil {
		conn.Close()
		return nil, nil, err
	}
	return conn, brw.Reader, nil
}

// stdinOf is the client's input on a hijacked connection: what the server
// buffered first, then the connection. A client's half-close ends it.
func stdinOf(conn net.Conn, br *bufio.Reader) io.Reader {
	if br.Buffered() > 0 {
		return io.MultiReader(br, conn)
	}
	return conn
}

// containerAttach joins a container's output (and input) over a hijacked
// connection, as docker's run and attach do before or after the start. A
// container created with -i or -t is joined through vigil's Attach (its
// Hub); an attach to one that does not run yet waits for the client's
// start, which it then carries out with Attach's Start option (joined
// before the task runs). Another container's output is followed in its
// log from now on until its next run ends.
func (s *Server) containerAttach(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	st, err := s.inspect(ctx, r.PathValue("id"))
	if err != nil {
		return err
	}
	if !queryBool(r, "stream") && !queryBool(r, "logs") {
		return badRequest("attach needs stream=1 or logs=1")
	}
	wantIn, wantOut, wantErr := queryBool(r, "stdin"), queryBool(r, "stdout"), queryBool(r, "stderr")
	ct := types.MediaTypeMultiplexedStream
	if st.Config.Tty {
		ct = types.MediaTypeRawStream
	}
	if wantIn && !st.Config.Interactive {
		wantIn = false // docker ignores stdin of a container without -i
	}
	if st.Config.UsesFIFOs() && !st.Alive() && st.Status != lifecycle.StatusCreated && st.Status != lifecycle.StatusExited {
		return errdefs.ErrConflict.WithMessage(fmt.Sprintf("container %s is %s", st.ID, st.Status))
	}
	since := time.Now()
	conn, br, err := hijack(w, r, ct)
	if err != nil {
		return err
	}
	defer conn.Close()
	release := s.rm.attached(st.ID)
	defer release()
	mw := &muxWriter{w: conn, raw: st.Config.Tty}
	var out, errw io.Writer
	if wantOut {
		out = mw.stream(streamStdout)
	}
	if wantErr {
		errw = mw.stream(streamStderr)
	}
	if queryBool(r, "logs") {
		_ = s.copyLog(ctx, st.ID, stdio.ReadOptions{}, wantOut, wantErr, false, mw)
		since = time.Now()
	}
	if !queryBool(r, "stream") {
		return nil
	}

	if !st.Config.UsesFIFOs() {
		// Follow the log from now on until the run ends. The client's
		// input is read (and dropped) only to notice it went away.
		fctx, cancel := context.WithCancel(ctx)
		defer cancel()
		go func() {
			io.Copy(io.Discard, stdinOf(conn, br))
			// A half-close is no hang-up: docker's clients close their
			// side when they have no input.
		}()
		opts := stdio.ReadOptions{Follow: true, Since: since, Done: s.exited(fctx, st.ID, st, true)}
		err := s.copyLog(fctx, st.ID, opts, wantOut, wantErr, false, mw)
		if err != nil && fctx.Err() == nil && !errors.Is(err, fs.ErrNotExist) {
			s.log.Warn("docker attach: follow the log", "container", st.ID, "err", err)
		}
		if cw, ok := conn.(interface{ CloseWrite() error }); ok {
			cw.CloseWrite()
		}
		return nil
	}

	opts := vigil.AttachOptions{Stdout: out, Stderr: errw}
	if wantIn {
		opts.Stdin = stdinOf(conn, br)
		opts.CloseStdin = true
	}
	if opts.Stdout == nil {
		opts.Stdout = io.Discard
	}
	if cur, err := s.sup.Inspect(ctx, st.ID); err == nil && !cur.Alive() {
		// Before the start (docker's run): the client's start joins this
		// client to the task's stdio before the task runs, so that not a
		// byte is missed.
		reply, ok := s.starts.wait(s.ctx, st.ID)
		if !ok {
			return nil
		}
		opts.Start = true
		at, err := s.sup.Attach(s.ctx, st.ID, opts)
		reply <- err
		if err != nil {
			return nil
		}
		s.serveAttachment(ctx, conn, st.ID, at)
		return nil
	}
	at, err := s.sup.Attach(s.ctx, st.ID, opts)
	if err != nil {
		fmt.Fprintf(mw.stream(streamStderr), "Error: %v\n", err)
		return nil
	}
	s.serveAttachment(ctx, conn, st.ID, at)
	return nil
}

// serveAttachment delivers an Attachment's output until it ends.
func (s *Server) serveAttachment(ctx context.Context, conn net.Conn, id string, at *vigil.Attachment) {
	defer at.Detach()
	s.attachments.add(id, at)
	defer s.attachments.remove(id, at)
	if _, err := at.Wait(ctx); err != nil && !errors.Is(err, vigil.ErrDetached) && ctx.Err() == nil {
		s.log.Debug("docker attach ended", "container", id, "err", err)
	}
	if cw, ok := conn.(interface{ CloseWrite() error }); ok {
		cw.CloseWrite()
	}
}

// pendingStarts are the attaches (docker's run) that wait for the
// client's start, by container: the start is carried out by the first of
// them, through vigil's Attach with its Start option.
type pendingStarts struct {
	mu sync.Mutex
	m  map[string][]chan chan error
}

// wait registers an attach to id and waits for the start: it returns the
// channel to answer the start with, or false when ctx ended first.
func (p *pendingStarts) wait(ctx context.Context, id string) (chan<- error, bool) {
	c := make(chan chan error, 1)
	p.mu.Lock()
	if p.m == nil {
		p.m = map[string][]chan chan error{}
	}
	p.m[id] = append(p.m[id], c)
	p.mu.Unlock()
	select {
	case reply := <-c:
		return reply, true
	case <-ctx.Done():
		p.mu.Lock()
		defer p.mu.Unlock()
		for i, x := range p.m[id] {
			if x == c {
				p.m[id] = append(p.m[id][:i:i], p.m[id][i+1:]...)
			}
		}
		return nil, false
	}
}

// take returns the first attach waiting for id's start, if any.
func (p *pendingStarts) take(id string) (chan chan error, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	l := p.m[id]
	if len(l) == 0 {
		return nil, false
	}
	p.m[id] = l[1:]
	if len(p.m[id]) == 0 {
		delete(p.m, id)
	}
	return l[0], true
}

// attachments are the Attachments of docker clients, by container, for
// the resizes of their terminal.
type attachments struct {
	mu sync.Mutex
	m  map[string][]*vigil.Attachment
}

func (a *attachments) add(id string, at *vigil.Attachment) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.m == nil {
		a.m = map[string][]*vigil.Attachment{}
	}
	a.m[id] = append(a.m[id], at)
}

func (a *attachments) remove(id string, at *vigil.Attachment) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for i, x := range a.m[id] {
		if x == at {
			a.m[id] = append(a.m[id][:i:i], a.m[id][i+1:]...)
			break
		}
	}
	if len(a.m[id]) == 0 {
		delete(a.m, id)
	}
}

func (a *attachments) any(id string) *vigil.Attachment {
	a.mu.Lock()
	defer a.mu.Unlock()
	if l := a.m[id]; len(l) > 0 {
		return l[0]
	}
	return nil
}

// termSize parses the h and w query parameters of a resize.
func termSize(r *http.Request) (uint32, uint32, error) {
	h, err1 := strconv.ParseUint(r.URL.Query().Get("h"), 10, 32)
	wd, err2 := strconv.ParseUint(r.URL.Query().Get("w"), 10, 32)
	if err1 != nil || err2 != nil {
		return 0, 0, badRequest("resize: h and w must be numbers")
	}
	return uint32(wd), uint32(h), nil
}

// containerResize sets the size of a container's terminal. Before the
// container runs there is no terminal yet: the resize is then dropped, as
// docker's clients send one again once they attached.
func (s *Server) containerResize(w http.ResponseWriter, r *http.Request) error {
	width, height, err := termSize(r)
	if err != nil {
		return err
	}
	st, err := s.inspect(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	if !st.Config.Tty {
		return badRequest("container %s has no terminal", st.ID)
	}
	if at := s.attachments.any(st.ID); at != nil && st.Alive() && width > 0 && height > 0 {
		if err := at.Resize(r.Context(), width, height); err != nil {
			s.log.Debug("docker resize", "container", st.ID, "err", err)
		}
	}
	w.WriteHeader(http.StatusOK)
	return nil
}
