package dockerapi

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sync"

	"github.com/containerd/errdefs"
	"github.com/moby/moby/api/types"
	"github.com/moby/moby/api/types/container"

	"github.com/vigilhq/vigil"
)

// Exit codes of an exec that could not run, as docker's.
const (
	exitExecFailed        = 126
	exitExecNotExecutable = 126
	exitExecNotFound      = 127
)

// execEntry is one exec of docker's exec create: its configuration until
// its start, then its process.
type execEntry struct {
	id, container string
	req           container.ExecCreateRequest

	mu      sync.Mutex
	started bool
	exe     *vigil.Execution
	running bool
	code    *int
}

// execTable holds the execs created through docker's API, by exec ID. It
// is in memory only: vigil journals an exec's start and exit (as for its
// own API), not docker's two-step handle of it.
type execTable struct {
	mu sync.Mutex
	m  map[string]*execEntry
}

func (t *execTable) add(e *execEntry) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.m[e.id] = e
}

func (t *execTable) get(id string) (*execEntry, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	e, ok := t.m[id]
	if !ok {
		return nil, errdefs.ErrNotFound.WithMessage("No such exec instance: " + id)
	}
	return e, nil
}

// of lists the exec IDs of a container.
func (t *execTable) of(container string) []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	var ids []string
	for id, e := range t.m {
		if e.container == container {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return ids
}

// forget drops the execs of a removed container.
func (t *execTable) forget(container string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for id, e := range t.m {
		if e.container == container {
			delete(t.m, id)
		}
	}
}

func (s *Server) execCreate(w http.ResponseWriter, r *http.Request) error {
	var req container.ExecCreateRequest
	if err := decode(w, r, &req); err != nil {
		return err
	}
	if len(req.Cmd) == 0 || req.Cmd[0] == "" {
		return badRequest("No exec command specified")
	}
	if req.Privileged {
		return badRequest("privileged execs are not served")
	}
	st, err := s.inspect(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	if !st.Alive() {
		return errdefs.ErrConflict.WithMessage(fmt.Sprintf("container %s is not running", st.ID))
	}
	if st.Paused {
		return errdefs.ErrConflict.WithMessage(fmt.Sprintf("container %s is paused, unpause the container before exec", st.ID))
	}
	e := &execEntry{id: newID(), container: st.ID, req: req}
	s.execs.add(e)
	writeJSON(w, http.StatusCreated, container.ExecCreateResponse{ID: e.id})
	return nil
}

// execStart runs a created exec: detached (its stdio on /dev/null), or
// with its stdio over the hijacked connection, which ends once the
// process exited and its output was written.
func (s *Server) execStart(w http.ResponseWriter, r *http.Request) error {
	var req container.ExecStartRequest
	if err := decode(w, r, &req); err != nil {
		return err
	}
	e, err := s.execs.get(r.PathValue("id"))
	if err != nil {
		return err
	}
	e.mu.Lock()
	if e.started {
		e.mu.Unlock()
		return errdefs.ErrConflict.WithMessage("exec " + e.id + " has already been started")
	}
	e.started = true
	e.mu.Unlock()
	cr := e.req
	tty := cr.Tty || req.Tty
	cfg := vigil.ExecConfig{Args: cr.Cmd, Env: cr.Env, User: cr.User, Cwd: cr.WorkingDir, Tty: tty, Detach: req.Detach}
	size := cr.ConsoleSize
	if req.ConsoleSize != nil {
		size = req.ConsoleSize
	}
	if size != nil && tty {
		cfg.Height, cfg.Width = uint32(size[0]), uint32(size[1])
	}
	if req.Detach {
		exe, err := s.sup.Exec(r.Context(), e.container, cfg)
		if err != nil {
			s.failed(e, err)
			return err
		}
		s.started(e, exe)
		w.WriteHeader(http.StatusOK)
		return nil
	}

	ct := types.MediaTypeMultiplexedStream
	if tty {
		ct = types.MediaTypeRawStream
	}
	conn, br, err := hijack(w, r, ct)
	if err != nil {
		return err
	}
	defer conn.Close()
	mw := &muxWriter{w: conn, raw: tty}
	if cr.AttachStdout || cr.AttachStderr || tty {
		cfg.Stdout = mw.stream(streamStdout)
	}
	if cr.AttachStderr && !tty {
		cfg.Stderr = mw.stream(streamStderr)
	}
	var stdinR *io.PipeReader
	if cr.AttachStdin {
		var stdinW *io.PipeWriter
		stdinR, stdinW = io.Pipe()
		cfg.Stdin = stdinR
		go func() {
			_, err := io.Copy(stdinW, stdinOf(conn, br))
			stdinW.CloseWithError(err)
		}()
	}
	exe, err := s.sup.Exec(s.ctx, e.container, cfg)
	if err != nil {
		s.failed(e, err)
		if stdinR != nil {
			stdinR.CloseWithError(err)
		}
		fmt.Fprintf(mw.stream(streamStderr), "%v\n", err)
		return nil
	}
	s.started(e, exe)
	code, err := exe.Wait(s.ctx)
	if stdinR != nil {
		stdinR.Close()
	}
	if err != nil && !errors.Is(err, context.Canceled) {
		s.log.Warn("docker exec: the exit is not known", "container", e.container, "exec", exe.ID, "err", err)
	}
	e.mu.Lock()
	e.running, e.code = false, &code
	e.mu.Unlock()
	if cw, ok := conn.(interface{ CloseWrite() error }); ok {
		cw.CloseWrite()
	}
	return nil
}

// started records a running exec and, for a detached one, its exit when
// it comes.
func (s *Server) started(e *execEntry, exe *vigil.Execution) {
	e.mu.Lock()
	e.exe, e.running = exe, true
	e.mu.Unlock()
	go func() {
		code, err := exe.Wait(s.ctx)
		if err != nil && s.ctx.Err() != nil {
			return
		}
		e.mu.Lock()
		e.running, e.code = false, &code
		e.mu.Unlock()
	}()
}

// failed records an exec whose process could not run, with the code
// docker gives it.
func (s *Server) failed(e *execEntry, err error) {
	code := exitExecFailed
	switch {
	case errors.Is(err, vigil.ErrCommandNotFound):
		code = exitExecNotFound
	case errors.Is(err, vigil.ErrCommandNotExecutable):
		code = exitExecNotExecutable
	}
	e.mu.Lock()
	e.code = &code
	e.mu.Unlock()
}

func (s *Server) execResize(w http.ResponseWriter, r *http.Request) error {
	width, height, err := termSize(r)
	if err != nil {
		return err
	}
	e, err := s.execs.get(r.PathValue("id"))
	if err != nil {
		return err
	}
	e.mu.Lock()
	exe, running := e.exe, e.running
	e.mu.Unlock()
	if exe != nil && running && width > 0 && height > 0 {
		if err := exe.Resize(r.Context(), width, height); err != nil {
			s.log.Debug("docker exec resize", "exec", e.id, "err", err)
		}
	}
	w.WriteHeader(http.StatusOK)
	return nil
}

func (s *Server) execInspect(w http.ResponseWriter, r *http.Request) error {
	e, err := s.execs.get(r.PathValue("id"))
	if err != nil {
		return err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	res := container.ExecInspectResponse{
		ID:          e.id,
		Running:     e.running,
		ExitCode:    e.code,
		OpenStdin:   e.req.AttachStdin,
		OpenStdout:  e.req.AttachStdout,
		OpenStderr:  e.req.AttachStderr,
		ContainerID: e.container,
		ProcessConfig: &container.ExecProcessConfig{
			Tty: e.req.Tty, Entrypoint: e.req.Cmd[0], Arguments: e.req.Cmd[1:], User: e.req.User},
	}
	if e.exe != nil {
		res.Pid = int(e.exe.Pid)
	}
	writeJSON(w, http.StatusOK, res)
	return nil
}
