package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"reflect"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/containerd/errdefs"

	"github.com/vigilhq/vigil"
	"github.com/vigilhq/vigil/api"
	"github.com/vigilhq/vigil/internal/containerid"
	"github.com/vigilhq/vigil/stdio"
)

// Backend is what the HTTP API needs from the supervisor. *vigil.Supervisor
// satisfies it; unit tests of the transport use a stub. Its errors are
// vigil's: see statusOf for how they map to HTTP statuses.
type Backend interface {
	Create(ctx context.Context, cfg vigil.ContainerConfig) (*actor.PID, error)
	Run(ctx context.Context, cfg vigil.ContainerConfig) (vigil.State, error)
	Start(ctx context.Context, id string) (vigil.State, error)
	Pause(ctx context.Context, id string) (vigil.State, error)
	Unpause(ctx context.Context, id string) (vigil.State, error)
	Restart(ctx context.Context, id string, timeout time.Duration) (vigil.State, error)
	Stats(ctx context.Context, id string) (vigil.Stats, error)
	Top(ctx context.Context, id string) ([]vigil.Process, error)
	Stop(ctx context.Context, id string, timeout time.Duration) (vigil.State, error)
	Kill(ctx context.Context, id string, sig int) (vigil.State, error)
	Remove(ctx context.Context, id string, force bool) error
	Inspect(ctx context.Context, id string) (vigil.State, error)
	List(ctx context.Context) ([]vigil.State, error)
	Wait(ctx context.Context, id string, cond vigil.WaitCondition) (vigil.State, error)
	WaitAndRemove(ctx context.Context, id string) (vigil.State, error)
	LogPath(id string) string
	Health(ctx context.Context) (vigil.Health, error)
	Events(ctx context.Context, f vigil.EventFilter, fn func(vigil.Event) error) error
}

var _ Backend = (*vigil.Supervisor)(nil)

const (
	// maxBody is the largest request body accepted.
	maxBody = 1 << 20
	// waitRetry is the pause before a following log stream asks again,
	// after a wait for the container's exit failed (the actor restarted).
	waitRetry = 100 * time.Millisecond
	// contentNDJSON is the media type of a log stream.
	contentNDJSON = "application/x-ndjson"
)

// errShutdown ends the requests still running when the daemon stops.
var errShutdown = errdefs.ErrUnavailable.WithMessage("the daemon is shutting down")

// badRequest is an error in the request itself: InvalidArgument.
func badRequest(format string, a ...any) error {
	return errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf(format, a...))
}

// classedError is an error of the class err with the message msg, for a
// class that errdefs has no WithMessage for (api.ErrMethodNotAllowed).
type classedError struct {
	msg string
	err error
}

func (e *classedError) Error() string { return e.msg }
func (e *classedError) Unwrap() error { return e.err }

// codeOf is the code of an error answer: the exec sentinels' own codes,
// which tell a client the exit code (127, 126) to report, or else the
// class of err (api.CodeOf).
func codeOf(err error) api.Code {
	switch {
	case errors.Is(err, vigil.ErrCommandNotFound):
		return api.CodeCommandNotFound
	case errors.Is(err, vigil.ErrCommandNotExecutable):
		return api.CodeCommandNotExecutable
	}
	return api.CodeOf(err)
}

// errorBody is the body that answers err.
func errorBody(err error) api.Error { return api.Error{Message: err.Error(), Code: codeOf(err)} }

// statusOf maps an error to the HTTP status of its answer: its code's.
func statusOf(err error) int {
	if err == nil {
		return http.StatusOK
	}
	return codeOf(err).Status()
}

// serverInfo is what GET /v1/info tells besides the container counts.
type serverInfo struct {
	Namespace         string
	ContainerdAddress string
	StateDir          string
	Version           string
	// DefaultNetwork is the network of a create request that names none
	// (network.go); "" leaves it "none".
	DefaultNetwork string
}

// server is the HTTP API over a Backend.
type server struct {
	b       Backend
	info    serverInfo
	log     *slog.Logger
	mux     *http.ServeMux
	streams *streamSlots // limits.go
}

// route is one endpoint of the API.
type route struct {
	method, path string
	handle       func(s *server, w http.ResponseWriter, r *http.Request) error
}

var routes = []route{
	{"GET", "/v1/info", (*server).getInfo},
	{"GET", "/v1/events", (*server).events},
	{"GET", "/v1/containers", (*server).list},
	{"POST", "/v1/containers", (*server).create},
	{"GET", "/v1/containers/{id}", (*server).inspect},
	{"DELETE", "/v1/containers/{id}", (*server).remove},
	{"POST", "/v1/containers/{id}/start", (*server).start},           // checkpoint.go
	{"POST", "/v1/containers/{id}/checkpoint", (*server).checkpoint}, // checkpoint.go
	{"POST", "/v1/containers/{id}/pause", stateCall(Backend.Pause)},
	{"POST", "/v1/containers/{id}/unpause", stateCall(Backend.Unpause)},
	{"POST", "/v1/containers/{id}/stop", (*server).stop},
	{"POST", "/v1/containers/{id}/restart", (*server).restart},
	{"POST", "/v1/containers/{id}/kill", (*server).kill},
	{"POST", "/v1/containers/{id}/wait", (*server).wait},
	{"GET", "/v1/containers/{id}/logs", (*server).logs},
	{"GET", "/v1/containers/{id}/stats", (*server).stats},
	{"GET", "/v1/containers/{id}/top", (*server).top},
	{"POST", "/v1/containers/{id}/attach", (*server).attach}, // attach.go
	{"POST", "/v1/containers/{id}/exec", (*server).execProcess},
}

// newServer returns the API's handler. Every answer, errors included, is
// JSON; a panic in a handler is logged and answered with 500.
func newServer(b Backend, info serverInfo, log *slog.Logger) *server {
	s := &server{b: b, info: info, log: log, mux: http.NewServeMux(), streams: newStreamSlots(maxStreams)}
	allowed := map[string][]string{}
	var paths []string
	for _, rt := range slices.Concat(routes, networkRoutes, projectRoutes) { // network.go, projects.go
		s.mux.Handle(rt.method+" "+rt.path, s.endpoint(rt.handle))
		if allowed[rt.path] == nil {
			paths = append(paths, rt.path)
		}
		allowed[rt.path] = append(allowed[rt.path], rt.method)
	}
	// A pattern with a method wins over the same pattern without one, so
	// these catch the other methods of each path.
	for _, p := range paths {
		allow := strings.Join(allowed[p], ", ")
		s.mux.Handle(p, s.endpoint(func(_ *server, w http.ResponseWriter, r *http.Request) error {
			w.Header().Set("Allow", allow)
			return &classedError{msg: fmt.Sprintf("method %s is not allowed on %s (allowed: %s)", r.Method, r.URL.Path, allow),
				err: api.ErrMethodNotAllowed}
		}))
	}
	s.mux.Handle("/", s.endpoint(func(_ *server, _ http.ResponseWriter, r *http.Request) error {
		return errdefs.ErrNotFound.WithMessage(fmt.Sprintf("no such endpoint: %s %s", r.Method, r.URL.Path))
	}))
	return s
}

// ServeHTTP serves one request, recovering from a panic.
func (s *server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rec := &recorder{ResponseWriter: w}
	start := time.Now()
	defer func() {
		if v := recover(); v != nil {
			if v == http.ErrAbortHandler {
				panic(v)
			}
			s.log.Error("panic while serving a request", "method", r.Method, "path", r.URL.Path,
				"panic", fmt.Sprint(v), "stack", string(debug.Stack()))
			if rec.status != 0 {
				panic(http.ErrAbortHandler) // the answer has begun: cut it short
			}
			writeJSON(rec, http.StatusInternalServerError, api.Error{
				Message: "internal error while serving the request; the daemon's log has the details", Code: api.CodeInternal})
		}
		s.log.Debug("request", "method", r.Method, "path", r.URL.Path, "query", r.URL.RawQuery,
			"status", rec.status, "duration", time.Since(start))
	}()
	s.mux.ServeHTTP(rec, r)
}

// endpoint turns a handler that returns an error into an http.Handler that
// answers the error as JSON.
func (s *server) endpoint(h func(*server, http.ResponseWriter, *http.Request) error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := h(s, w, r); err != nil {
			s.writeError(w, r, err)
		}
	})
}

func (s *server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	if r.Context().Err() != nil && errors.Is(err, r.Context().Err()) {
		if errors.Is(context.Cause(r.Context()), errShutdown) {
			err = fmt.Errorf("%w: %s %s did not finish", errShutdown, r.Method, r.URL.Path)
		} else {
			s.log.Debug("client went away", "method", r.Method, "path", r.URL.Path)
			return
		}
	}
	status := statusOf(err)
	if status >= 500 {
		s.log.Error("request failed", "method", r.Method, "path", r.URL.Path, "status", status, "err", err)
	}
	if rec, ok := w.(*recorder); ok && rec.status != 0 {
		return // too late for an error answer
	}
	writeJSON(w, status, errorBody(err))
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	body, err := marshalJSON(v, "  ")
	if err != nil {
		status = http.StatusInternalServerError
		body, _ = marshalJSON(api.Error{Message: "encode the answer: " + err.Error(), Code: api.CodeInternal}, "  ")
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(body)
}

// marshalJSON encodes v as indented JSON followed by a newline, leaving
// characters such as '<' and '&' as they are.
func marshalJSON(v any, indent string) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", indent)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// recorder remembers the status of an answer.
type recorder struct {
	http.ResponseWriter
	status int // 0 until the header is written
}

func (r *recorder) WriteHeader(status int) {
	if r.status == 0 {
		r.status = status
	}
	r.ResponseWriter.WriteHeader(status)
}

func (r *recorder) Write(p []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return r.ResponseWriter.Write(p)
}

// Unwrap lets http.ResponseController reach the Flusher underneath.
func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// decodeBody decodes the JSON object in r's body into v, refusing unknown
// fields, trailing data and bodies larger than maxBody.
func decodeBody(w http.ResponseWriter, r *http.Request, v any) error {
	// A body trickled in slowly must not hold a connection for ever.
	rc := http.NewResponseController(w)
	_ = rc.SetReadDeadline(time.Now().Add(bodyTimeout))
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err == nil {
		// (Kept after an error: the server would wait for the rest of
		// the body before it answers.)
		_ = rc.SetReadDeadline(time.Time{})
	}
	var tooLarge *http.MaxBytesError
	var timeout net.Error
	if errors.As(err, &tooLarge) {
		return badRequest("request body is larger than %d bytes (1 MiB)", tooLarge.Limit)
	}
	if errors.As(err, &timeout) && timeout.Timeout() {
		w.Header().Set("Connection", "close")
		return badRequest("the request body did not arrive within %v", bodyTimeout)
	}
	if err != nil {
		return badRequest("read the request body: %v", err)
	}
	data = bytes.TrimSpace(data)
	if len(data) == 0 {
		return badRequest("request body is empty: expected a JSON object")
	}
	if data[0] != '{' {
		return badRequest("request body must be a JSON object")
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var syntax *json.SyntaxError
		var typ *json.UnmarshalTypeError
		switch {
		case errors.As(err, &syntax):
			return badRequest("request body is not valid JSON: %v (at byte %d)", err, syntax.Offset)
		case errors.As(err, &typ) && typ.Field != "":
			return badRequest("request body: field %q must be %s, not %s", jsonField(typ.Field), jsonKind(typ.Type.String()), typ.Value)
		case errors.Is(err, io.ErrUnexpectedEOF):
			return badRequest("request body is not valid JSON: it ends too early")
		}
		return badRequest("request body: %s", strings.TrimPrefix(err.Error(), "json: "))
	}
	if dec.InputOffset() != int64(len(data)) {
		return badRequest("request body has data after the JSON object")
	}
	if err := checkBody(data, reflect.TypeOf(v)); err != nil { // decode.go
		return badRequest("request body: %v", err)
	}
	return nil
}

// jsonField is the JSON path of a request field as encoding/json names
// it, without the Go names of embedded structs (api.CreateRequest's
// "Config."): JSON names are lower case.
func jsonField(path string) string {
	parts := strings.Split(path, ".")
	out := parts[:0]
	for _, p := range parts {
		if p != "" && unicode.IsUpper(rune(p[0])) {
			continue
		}
		out = append(out, p)
	}
	return strings.Join(out, ".")
}

// jsonKind names a Go type of a request field in JSON's words.
func jsonKind(goType string) string {
	switch goType {
	case "string":
		return "a string"
	case "bool":
		return "true or false"
	case "[]string":
		return "an array of strings"
	case "map[string]string":
		return "an object whose values are strings"
	}
	return goType
}

// Query parameters.

func queryBool(r *http.Request, name string) (bool, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return false, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, badRequest("query parameter %s=%q: use 1, true, 0 or false", name, v)
	}
	return b, nil
}

// queryCount parses a non-negative integer; def when absent.
func queryCount(r *http.Request, name string, def int) (int, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		return 0, badRequest("query parameter %s=%q: want a whole number, 0 or more", name, v)
	}
	return n, nil
}

// Handlers.

func (s *server) getInfo(w http.ResponseWriter, r *http.Request) error {
	h, err := s.b.Health(r.Context())
	if err != nil {
		return err
	}
	info := api.Info{
		Namespace:         s.info.Namespace,
		ContainerdAddress: s.info.ContainerdAddress,
		StateDir:          s.info.StateDir,
		Version:           s.info.Version,
		Containers:        h.Containers,
		Running:           h.Running,
		Health:            api.Health(h),
	}
	writeJSON(w, http.StatusOK, info)
	return nil
}

func (s *server) list(w http.ResponseWriter, r *http.Request) error {
	var states []vigil.State
	var err error
	if filters := r.URL.Query()["filter"]; len(filters) > 0 {
		f, ferr := vigil.ParseContainerFilters(filters)
		if ferr != nil {
			return ferr
		}
		pb, perr := s.projectBackend() // projects.go
		if perr != nil {
			return perr
		}
		states, err = pb.ListFiltered(r.Context(), f)
	} else {
		states, err = s.b.List(r.Context())
	}
	if err != nil {
		return err
	}
	out := make([]api.Container, len(states))
	for i, st := range states {
		out[i] = api.ContainerOf(st)
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *server) create(w http.ResponseWriter, r *http.Request) error {
	var req api.CreateRequest
	if err := decodeBody(w, r, &req); err != nil {
		return err
	}
	s.networkConfig(&req.Config) // network.go
	cfg := req.Config
	ctx := r.Context()
	// The supervisor checks the configuration, once, when its actor
	// admits the create.
	if cfg.Image == "" && req.Start {
		st, err := s.b.Run(ctx, cfg)
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusCreated, api.ContainerOf(st))
		return nil
	}
	if cfg.Image != "" {
		if err := s.createFromImage(ctx, req); err != nil { // images.go
			return err
		}
	} else if _, err := s.b.Create(ctx, cfg); err != nil {
		return err
	}
	var st vigil.State
	var err error
	if req.Start {
		st, err = s.b.Start(ctx, cfg.ID)
		if err != nil {
			return fmt.Errorf("container %q was created but did not start: %w", cfg.ID, err)
		}
	} else if st, err = s.b.Inspect(ctx, cfg.ID); err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, api.ContainerOf(st))
	return nil
}

func (s *server) inspect(w http.ResponseWriter, r *http.Request) error {
	st, err := s.b.Inspect(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, api.ContainerOf(st))
	return nil
}

func (s *server) remove(w http.ResponseWriter, r *http.Request) error {
	force, err := queryBool(r, "force")
	if err != nil {
		return err
	}
	if err := s.b.Remove(r.Context(), r.PathValue("id"), force); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// stateCall is the handler of an endpoint that calls fn on the container
// of the path and answers with its state.
func stateCall(fn func(Backend, context.Context, string) (vigil.State, error)) func(*server, http.ResponseWriter, *http.Request) error {
	return func(s *server, w http.ResponseWriter, r *http.Request) error {
		st, err := fn(s.b, r.Context(), r.PathValue("id"))
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, api.ContainerOf(st))
		return nil
	}
}

// stopTimeout is the timeout query parameter of stop and restart; absent,
// the container's config says (vigil.StopTimeoutFromConfig).
func stopTimeout(r *http.Request) (time.Duration, error) {
	if !r.URL.Query().Has("timeout") {
		return vigil.StopTimeoutFromConfig, nil
	}
	secs, err := queryCount(r, "timeout", 0)
	return time.Duration(secs) * time.Second, err
}

func (s *server) stop(w http.ResponseWriter, r *http.Request) error {
	timeout, err := stopTimeout(r)
	if err != nil {
		return err
	}
	st, err := s.b.Stop(r.Context(), r.PathValue("id"), timeout)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, api.ContainerOf(st))
	return nil
}

func (s *server) restart(w http.ResponseWriter, r *http.Request) error {
	timeout, err := stopTimeout(r)
	if err != nil {
		return err
	}
	st, err := s.b.Restart(r.Context(), r.PathValue("id"), timeout)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, api.ContainerOf(st))
	return nil
}

// statsOf is one sample of GET /v1/containers/{id}/stats.
func statsOf(id string, st vigil.Stats) api.Stats {
	return api.Stats{ID: id, Read: st.Read, Cgroup: st.Cgroup, CPUUsageNanos: st.CPUUsageNanos,
		MemoryUsage: st.MemoryUsage, MemoryLimit: st.MemoryLimit, Pids: st.Pids, PidsLimit: st.PidsLimit,
		BlkioRead: st.BlkioRead, BlkioWrite: st.BlkioWrite}
}

// statsInterval is the time between two samples of a stats stream.
var statsInterval = time.Second

// stats answers one sample of a container's resource usage, or with
// stream=1 a JSON line every statsInterval until the client goes or the
// container no longer runs. An error after the stream began is sent as a
// last line {"error": "..."}.
func (s *server) stats(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	id := r.PathValue("id")
	stream, err := queryBool(r, "stream")
	if err != nil {
		return err
	}
	st, err := s.b.Stats(ctx, id)
	if err != nil {
		return err
	}
	if !stream {
		writeJSON(w, http.StatusOK, statsOf(id, st))
		return nil
	}
	w.Header().Set("Content-Type", contentNDJSON)
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	tick := time.NewTicker(statsInterval)
	defer tick.Stop()
	for {
		line, err := json.Marshal(statsOf(id, st))
		if err != nil {
			return err
		}
		if _, err := w.Write(append(line, '\n')); err != nil {
			return nil // the client is gone
		}
		if rc.Flush() != nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
		st, err = s.b.Stats(ctx, id)
		switch {
		case ctx.Err() != nil:
			return nil
		case errors.Is(err, vigil.ErrInvalidTransition), errors.Is(err, vigil.ErrNotFound):
			return nil // it no longer runs, or is gone: the stream ends
		case err != nil:
			s.log.Error("stats", "container", id, "err", err)
			line, _ := json.Marshal(errorBody(err))
			w.Write(append(line, '\n'))
			_ = rc.Flush()
			return nil
		}
	}
}

func (s *server) top(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	ps, err := s.b.Top(r.Context(), id)
	if err != nil {
		return err
	}
	top := api.Top{ID: id, Processes: make([]api.Process, len(ps))}
	for i, p := range ps {
		top.Processes[i] = api.Process{Pid: p.Pid, ExecID: p.ExecID, Args: p.Args, Comm: p.Comm, State: p.State}
	}
	writeJSON(w, http.StatusOK, top)
	return nil
}

func (s *server) kill(w http.ResponseWriter, r *http.Request) error {
	name := r.URL.Query().Get("signal")
	if name == "" {
		name = "KILL"
	}
	sig, err := vigil.ParseSignal(name)
	if err != nil {
		return err
	}
	st, err := s.b.Kill(r.Context(), r.PathValue("id"), int(sig))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, api.ContainerOf(st))
	return nil
}

func (s *server) wait(w http.ResponseWriter, r *http.Request) error {
	v := r.URL.Query().Get("condition")
	cond, ok := vigil.ParseWaitCondition(v)
	if !ok {
		return badRequest("query parameter condition=%q: use not-running, next-exit or removed", v)
	}
	remove, err := queryBool(r, "remove")
	if err != nil {
		return err
	}
	var st vigil.State
	switch {
	case remove && cond != vigil.WaitNotRunning:
		return badRequest("query parameter remove: only with condition=not-running")
	case remove:
		st, err = s.b.WaitAndRemove(r.Context(), r.PathValue("id"))
	default:
		st, err = s.b.Wait(r.Context(), r.PathValue("id"), cond)
	}
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, api.ContainerOf(st))
	return nil
}

// logs streams a container's log records as JSON lines. With follow=1 it
// goes on while the container runs, and ends once it no longer does and
// the log is drained. An error after the stream began is sent as a last
// line {"error": "..."}.
func (s *server) logs(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	id := r.PathValue("id")
	follow, err := queryBool(r, "follow")
	if err != nil {
		return err
	}
	tail := 0
	if v := r.URL.Query().Get("tail"); v != "all" {
		if tail, err = queryCount(r, "tail", 0); err != nil {
			return err
		}
	}
	var since, until time.Time
	for name, t := range map[string]*time.Time{"since": &since, "until": &until} {
		if v := r.URL.Query().Get(name); v != "" {
			if *t, err = parseLogTime(v, time.Now()); err != nil {
				return badRequest("query parameter %s: %v", name, err)
			}
		}
	}
	// Inspect validates the ID before it becomes part of a path.
	if _, err := s.b.Inspect(ctx, id); err != nil {
		return err
	}

	opts := stdio.ReadOptions{Follow: follow, Tail: tail, Since: since, Until: until}
	if follow {
		opts.Done = s.notRunning(ctx, id)
	}
	opts.OnMalformed = func(off int64, err error) {
		s.log.Warn("skipped a damaged log record", "container", id, "offset", off, "err", err)
	}
	w.Header().Set("Content-Type", contentNDJSON)
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	if follow {
		_ = rc.Flush() // the client sees the answer begin before any output
	}
	bw := bufio.NewWriter(w)
	err = stdio.Read(ctx, s.b.LogPath(id), opts, func(e stdio.Entry) error {
		line, err := json.Marshal(e)
		if err != nil {
			return err
		}
		bw.Write(line)
		if err := bw.WriteByte('\n'); err != nil {
			return err // the client is gone
		}
		if follow {
			if err := bw.Flush(); err != nil {
				return err
			}
			return rc.Flush()
		}
		return nil
	})
	if errors.Is(err, fs.ErrNotExist) && !follow {
		err = nil // never started: no log yet
	}
	if err != nil && ctx.Err() == nil {
		s.log.Error("read log", "container", id, "err", err)
		line, _ := json.Marshal(errorBody(err))
		bw.Write(append(line, '\n'))
	}
	if err := bw.Flush(); err != nil {
		return nil // the client is gone: nothing to tell it
	}
	_ = rc.Flush()
	return nil
}

// notRunning returns the Done channel of a log stream: closed once the
// container no longer runs. The container's actor answers the wait when it
// has journaled the exit (and deleted the task, so the logger has written
// its last line), or at once when the container does not run.
func (s *server) notRunning(ctx context.Context, id string) <-chan struct{} {
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ctx.Err() == nil {
			_, err := s.b.Wait(ctx, id, vigil.WaitNotRunning)
			if err == nil || errors.Is(err, vigil.ErrNotFound) || ctx.Err() != nil {
				return
			}
			// The wait itself failed (an actor that restarted drops its
			// waiters): ask whether it still runs, and wait again if so.
			if st, ierr := s.b.Inspect(ctx, id); ierr != nil || !st.Alive() {
				return
			}
			s.log.Debug("log stream: wait for the exit failed; waiting again", "container", id, "err", err)
			t := time.NewTimer(waitRetry)
			select {
			case <-ctx.Done():
			case <-t.C:
			}
			t.Stop()
		}
	}()
	return done
}

// events streams the journaled events that match the query as NDJSON:
// those already journaled first, then each new one, until the client goes
// or until passes.
func (s *server) events(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	var f vigil.EventFilter
	for _, p := range []struct {
		name string
		t    *time.Time
	}{{"since", &f.Since}, {"until", &f.Until}} {
		if v := q.Get(p.name); v != "" {
			t, err := parseTime(v, time.Now())
			if err != nil {
				return badRequest("query parameter %s: %v", p.name, err)
			}
			*p.t = t
		}
	}
	f.Containers, f.Types = q["container"], q["type"]
	for _, id := range f.Containers {
		if err := containerid.Validate(id); err != nil {
			return badRequest("query parameter container: %v", err)
		}
	}
	w.Header().Set("Content-Type", contentNDJSON)
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	_ = rc.Flush()
	enc := json.NewEncoder(w)
	err := s.b.Events(r.Context(), f, func(e vigil.Event) error {
		body, err := json.Marshal(e.Event)
		if err != nil {
			return err
		}
		line := api.Event{Container: e.Container, Seq: e.Seq, Time: e.Time, Type: e.Type, Event: body}
		if err := enc.Encode(line); err != nil {
			return err // the client is gone
		}
		return rc.Flush()
	})
	if err != nil && r.Context().Err() == nil {
		s.log.Error("events stream", "err", err)
		_ = enc.Encode(errorBody(err))
	}
	return nil
}
