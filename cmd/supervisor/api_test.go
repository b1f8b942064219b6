package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/containerd/errdefs"

	"github.com/vigilhq/vigil"
	"github.com/vigilhq/vigil/actors"
	"github.com/vigilhq/vigil/actors/lifecycle"
	"github.com/vigilhq/vigil/api"
	"github.com/vigilhq/vigil/stdio"
)

// stub is a Backend for tests of the transport. Each method calls its
// function field when set, and records its call.
type stub struct {
	mu      sync.Mutex
	calls   []string
	create  func(lifecycle.Config) error
	inspect func(id string) (lifecycle.State, error)
	stop    func(id string, timeout time.Duration) (lifecycle.State, error)
	kill    func(id string, sig int) (lifecycle.State, error)
	wait    func(ctx context.Context, id string, cond actors.WaitCondition) (lifecycle.State, error)
	list    func() ([]lifecycle.State, error)
	logPath string
}

var _ Backend = (*stub)(nil)

// Events gives no event.
func (s *stub) Events(context.Context, vigil.EventFilter, func(vigil.Event) error) error { return nil }

// Health counts what list returns; containerd is always reachable.
func (s *stub) Health(ctx context.Context) (vigil.Health, error) {
	list, err := s.List(ctx)
	h := vigil.Health{ContainerdReachable: true, ContainerdVersion: "stub", Containers: len(list)}
	for _, st := range list {
		if st.Alive() {
			h.Running++
		}
	}
	return h, err
}

func (s *stub) record(format string, a ...any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = append(s.calls, fmt.Sprintf(format, a...))
}

func (s *stub) Calls() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.calls...)
}

func (s *stub) Create(_ context.Context, cfg lifecycle.Config) (*actor.PID, error) {
	s.record("create %s", cfg.ID)
	if s.create != nil {
		return nil, s.create(cfg)
	}
	return nil, nil
}

func (s *stub) Start(_ context.Context, id string) (lifecycle.State, error) {
	s.record("start %s", id)
	return lifecycle.State{ID: id, Status: lifecycle.StatusRunning, Pid: 42}, nil
}

func (s *stub) Pause(_ context.Context, id string) (lifecycle.State, error) {
	s.record("pause %s", id)
	return lifecycle.State{ID: id, Status: lifecycle.StatusRunning, Pid: 42, Paused: true}, nil
}

func (s *stub) Unpause(_ context.Context, id string) (lifecycle.State, error) {
	s.record("unpause %s", id)
	return lifecycle.State{ID: id, Status: lifecycle.StatusRunning, Pid: 42}, nil
}

func (s *stub) Stop(_ context.Context, id string, timeout time.Duration) (lifecycle.State, error) {
	s.record("stop %s %v", id, timeout)
	if s.stop != nil {
		return s.stop(id, timeout)
	}
	return lifecycle.State{ID: id, Status: lifecycle.StatusExited}, nil
}

func (s *stub) Kill(_ context.Context, id string, sig int) (lifecycle.State, error) {
	s.record("kill %s %d", id, sig)
	if s.kill != nil {
		return s.kill(id, sig)
	}
	return lifecycle.State{ID: id, Status: lifecycle.StatusRunning}, nil
}

func (s *stub) Remove(_ context.Context, id string, force bool) error {
	s.record("remove %s %v", id, force)
	return nil
}

func (s *stub) Inspect(_ context.Context, id string) (lifecycle.State, error) {
	s.record("inspect %s", id)
	if s.inspect != nil {
		return s.inspect(id)
	}
	return lifecycle.State{ID: id, Status: lifecycle.StatusCreated}, nil
}

func (s *stub) List(context.Context) ([]lifecycle.State, error) {
	s.record("list")
	if s.list != nil {
		return s.list()
	}
	return nil, nil
}

func (s *stub) Wait(ctx context.Context, id string, cond actors.WaitCondition) (lifecycle.State, error) {
	s.record("wait %s %v", id, cond)
	if s.wait != nil {
		return s.wait(ctx, id, cond)
	}
	return lifecycle.State{ID: id, Status: lifecycle.StatusExited, Exit: &lifecycle.Exit{Code: 3}}, nil
}

// Run is Create, then Start, as the engine's.
func (s *stub) Run(ctx context.Context, cfg lifecycle.Config) (lifecycle.State, error) {
	if _, err := s.Create(ctx, cfg); err != nil {
		return lifecycle.State{}, err
	}
	return s.Start(ctx, cfg.ID)
}

// WaitAndRemove is Wait (not-running), then Remove, as the engine's.
func (s *stub) WaitAndRemove(ctx context.Context, id string) (lifecycle.State, error) {
	st, err := s.Wait(ctx, id, actors.WaitNotRunning)
	if err != nil {
		return st, err
	}
	return st, s.Remove(ctx, id, false)
}

func (s *stub) LogPath(string) string { return s.logPath }

// serve starts the API over b on an httptest server.
func serve(t *testing.T, b Backend) *httptest.Server {
	t.Helper()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	srv := httptest.NewServer(newServer(b, serverInfo{Namespace: "ns", Version: "test"}, log))
	t.Cleanup(srv.Close)
	return srv
}

// call makes a request and returns the status, the body and its Content-Type.
func call(t *testing.T, srv *httptest.Server, method, path, body string) (int, string, string) {
	t.Helper()
	req, err := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(data), resp.Header.Get("Content-Type")
}

// errorOf decodes an error answer, failing the test if it is not one.
func errorOf(t *testing.T, body, contentType string) string {
	t.Helper()
	if contentType != "application/json" {
		t.Errorf("Content-Type %q, want application/json", contentType)
	}
	var e api.Error
	if err := json.Unmarshal([]byte(body), &e); err != nil || e.Message == "" {
		t.Fatalf("answer %q is not a JSON error (%v)", body, err)
	}
	return e.Message
}

func TestStatusOf(t *testing.T) {
	wrap := func(err error) error { return fmt.Errorf("context: %w", err) }
	for _, tc := range []struct {
		name string
		err  error
		want int
	}{
		{"nil", nil, http.StatusOK},
		{"not found", wrap(vigil.ErrNotFound), http.StatusNotFound},
		{"already exists", wrap(vigil.ErrAlreadyExists), http.StatusConflict},
		{"invalid transition", wrap(vigil.ErrInvalidTransition), http.StatusConflict},
		{"containerd already exists", wrap(errdefs.ErrAlreadyExists), http.StatusConflict},
		{"invalid argument", wrap(vigil.ErrInvalidArgument), http.StatusBadRequest},
		{"invalid ID", wrap(vigil.ErrInvalidID), http.StatusBadRequest},
		{"invalid ID and argument", fmt.Errorf("%w: %w", vigil.ErrInvalidArgument, vigil.ErrInvalidID), http.StatusBadRequest},
		{"containerd invalid argument", wrap(errdefs.ErrInvalidArgument), http.StatusBadRequest},
		{"containerd unavailable", wrap(errdefs.ErrUnavailable), http.StatusServiceUnavailable},
		{"shutting down", wrap(errShutdown), http.StatusServiceUnavailable},
		{"timeout", wrap(vigil.ErrTimeout), http.StatusGatewayTimeout},
		{"containerd deadline", wrap(context.DeadlineExceeded), http.StatusGatewayTimeout},
		{"request error", badRequest("bad"), http.StatusBadRequest},
		{"method not allowed", wrap(&classedError{msg: "no", err: api.ErrMethodNotAllowed}), http.StatusMethodNotAllowed},
		{"failed precondition", wrap(errdefs.ErrFailedPrecondition), http.StatusConflict},
		{"conflict", wrap(errdefs.ErrConflict), http.StatusConflict},
		{"not implemented", wrap(vigil.ErrCriuUnusable), http.StatusNotImplemented},
		{"command not found", wrap(vigil.ErrCommandNotFound), http.StatusBadRequest},
		{"journal damaged", wrap(vigil.ErrJournalDamaged), http.StatusInternalServerError},
		{"outermost class wins", fmt.Errorf("%w: task gone: %w", vigil.ErrInvalidTransition, errdefs.ErrNotFound), http.StatusConflict},
		{"other", errors.New("disk on fire"), http.StatusInternalServerError},
		{"containerd not found", wrap(errdefs.ErrNotFound), http.StatusNotFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := statusOf(tc.err); got != tc.want {
				t.Errorf("statusOf(%v) = %d, want %d", tc.err, got, tc.want)
			}
		})
	}
}

func TestCreateRejectsBadBodies(t *testing.T) {
	rootfs := t.TempDir()
	valid := func(extra string) string {
		return fmt.Sprintf(`{"id":"c1","rootfs":%q,"args":["true"]%s}`, rootfs, extra)
	}
	for _, tc := range []struct {
		name, body, want string
	}{
		{"empty", "", "empty"},
		{"blank", "  \n", "empty"},
		{"not an object", `["id"]`, "must be a JSON object"},
		{"null", `null`, "must be a JSON object"},
		{"bad JSON", `{"id": "c1",`, "not valid JSON"},
		{"syntax error", `{"id" "c1"}`, "not valid JSON"},
		{"unknown field", valid(`,"bogus":1`), `unknown field "bogus"`},
		{"wrong type", `{"id":"c1","args":"true"}`, `field "args" must be an array of strings`},
		{"trailing data", valid("") + ` {}`, "data after the JSON object"},
		{"too large", valid(`,"env":["X=` + strings.Repeat("x", maxBody) + `"]`), "larger than"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := &stub{}
			srv := serve(t, b)
			status, body, ct := call(t, srv, "POST", "/v1/containers", tc.body)
			if status != http.StatusBadRequest {
				t.Errorf("status %d, want 400; body %s", status, body)
			}
			if msg := errorOf(t, body, ct); !strings.Contains(msg, tc.want) {
				t.Errorf("error %q does not say %q", msg, tc.want)
			}
			if calls := b.Calls(); len(calls) > 0 {
				t.Errorf("the backend was called: %q", calls)
			}
		})
	}
}

// TestCreateInvalidConfig: a well-formed body whose configuration is
// invalid is the supervisor's to refuse (its container actor validates a
// create once, whichever route it came by); the daemon answers 400 with
// the supervisor's error, and starts nothing. The stub refuses as the
// supervisor does, with lifecycle.ValidateConfig.
func TestCreateInvalidConfig(t *testing.T) {
	rootfs := t.TempDir()
	for _, tc := range []struct {
		name, body, want string
	}{
		{"missing args", fmt.Sprintf(`{"id":"c1","rootfs":%q,"start":true}`, rootfs), "no command"},
		{"empty args", fmt.Sprintf(`{"id":"c1","rootfs":%q,"args":[]}`, rootfs), "no command"},
		{"missing id", fmt.Sprintf(`{"rootfs":%q,"args":["true"]}`, rootfs), "invalid container ID"},
		{"bad id", fmt.Sprintf(`{"id":"../x","rootfs":%q,"args":["true"]}`, rootfs), "invalid container ID"},
		{"relative rootfs", `{"id":"c1","rootfs":"rootfs","args":["true"]}`, "absolute"},
		{"relative cwd", fmt.Sprintf(`{"id":"c1","rootfs":%q,"args":["true"],"cwd":"tmp"}`, rootfs), "absolute"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := &stub{create: lifecycle.ValidateConfig}
			srv := serve(t, b)
			status, body, ct := call(t, srv, "POST", "/v1/containers", tc.body)
			if status != http.StatusBadRequest {
				t.Errorf("status %d, want 400; body %s", status, body)
			}
			if msg := errorOf(t, body, ct); !strings.Contains(msg, tc.want) {
				t.Errorf("error %q does not say %q", msg, tc.want)
			}
			if calls := b.Calls(); len(calls) != 1 || !strings.HasPrefix(calls[0], "create ") {
				t.Errorf("backend calls %q, want the create alone", calls)
			}
		})
	}
}

func TestCreate(t *testing.T) {
	rootfs := t.TempDir()
	b := &stub{}
	srv := serve(t, b)
	body := fmt.Sprintf(`{"id":"c1","rootfs":%q,"args":["sh","-c","echo <&>"],"env":["A=1"],"labels":{"k":"v"},"start":true}`, rootfs)
	status, out, _ := call(t, srv, "POST", "/v1/containers", body)
	if status != http.StatusCreated {
		t.Fatalf("status %d, want 201: %s", status, out)
	}
	var st api.Container
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		t.Fatal(err)
	}
	if st.ID != "c1" || st.Status.String() != "running" || st.Pid != 42 {
		t.Errorf("answer %+v, want c1 running with pid 42", st)
	}
	if got, want := strings.Join(b.Calls(), "; "), "create c1; start c1"; got != want {
		t.Errorf("calls %q, want %q", got, want)
	}

	// Without start: created, and the state comes from Inspect.
	b2 := &stub{}
	srv2 := serve(t, b2)
	status, out, _ = call(t, srv2, "POST", "/v1/containers", strings.Replace(body, `"start":true`, `"start":false`, 1))
	if status != http.StatusCreated || !strings.Contains(out, `"status": "created"`) {
		t.Errorf("status %d, body %s; want 201 and a created container", status, out)
	}
	if got, want := strings.Join(b2.Calls(), "; "), "create c1; inspect c1"; got != want {
		t.Errorf("calls %q, want %q", got, want)
	}
}

func TestErrorsAnsweredWithTheirStatus(t *testing.T) {
	rootfs := t.TempDir()
	b := &stub{
		create: func(cfg lifecycle.Config) error {
			return fmt.Errorf("%w: the name %q is already in use", vigil.ErrAlreadyExists, cfg.ID)
		},
		inspect: func(id string) (lifecycle.State, error) {
			return lifecycle.State{}, fmt.Errorf("%w: %q", vigil.ErrNotFound, id)
		},
		kill: func(id string, _ int) (lifecycle.State, error) {
			return lifecycle.State{}, fmt.Errorf("%w: cannot kill container %q: it is exited", vigil.ErrInvalidTransition, id)
		},
		stop: func(string, time.Duration) (lifecycle.State, error) {
			return lifecycle.State{}, fmt.Errorf("c8dbridge: kill: %w", errdefs.ErrUnavailable)
		},
		list: func() ([]lifecycle.State, error) { return nil, fmt.Errorf("%w: List after 1m", vigil.ErrTimeout) },
	}
	srv := serve(t, b)
	for _, tc := range []struct {
		method, path, body string
		status             int
		want               string
	}{
		{"POST", "/v1/containers", fmt.Sprintf(`{"id":"c1","rootfs":%q,"args":["true"]}`, rootfs), 409, `"c1" is already in use`},
		{"GET", "/v1/containers/ghost", "", 404, `no such container: "ghost"`},
		{"GET", "/v1/containers/ghost/logs", "", 404, "no such container"},
		{"POST", "/v1/containers/c1/kill", "", 409, "it is exited"},
		{"POST", "/v1/containers/c1/stop", "", 503, "unavailable"},
		{"GET", "/v1/containers", "", 504, "timed out"},
		{"GET", "/v1/info", "", 504, "timed out"},
	} {
		status, body, ct := call(t, srv, tc.method, tc.path, tc.body)
		if status != tc.status {
			t.Errorf("%s %s: status %d, want %d (%s)", tc.method, tc.path, status, tc.status, body)
		}
		if msg := errorOf(t, body, ct); !strings.Contains(msg, tc.want) {
			t.Errorf("%s %s: error %q does not say %q", tc.method, tc.path, msg, tc.want)
		}
	}
}

func TestRouting(t *testing.T) {
	srv := serve(t, &stub{})
	for _, tc := range []struct {
		method, path string
		status       int
		allow        string
	}{
		{"GET", "/v1/nothing", 404, ""},
		{"GET", "/", 404, ""},
		{"GET", "/v2/containers", 404, ""},
		{"GET", "/v1/containers/c1/start", 405, "POST"},
		{"PUT", "/v1/containers", 405, "GET, POST"},
		{"POST", "/v1/containers/c1", 405, "GET, DELETE"},
		{"DELETE", "/v1/containers/c1/logs", 405, "GET"},
		{"POST", "/v1/info", 405, "GET"},
	} {
		req, _ := http.NewRequest(tc.method, srv.URL+tc.path, nil)
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.status {
			t.Errorf("%s %s: status %d, want %d", tc.method, tc.path, resp.StatusCode, tc.status)
		}
		if got := resp.Header.Get("Allow"); got != tc.allow {
			t.Errorf("%s %s: Allow %q, want %q", tc.method, tc.path, got, tc.allow)
		}
		errorOf(t, string(body), resp.Header.Get("Content-Type"))
	}
}

func TestQueryParameters(t *testing.T) {
	b := &stub{}
	srv := serve(t, b)
	for _, tc := range []struct {
		method, path string
		status       int
		call         string // the backend call it makes, if any
	}{
		{"POST", "/v1/containers/c1/stop", 200, fmt.Sprintf("stop c1 %v", lifecycle.StopTimeoutFromConfig)}, // the container's own, or 10 s
		{"POST", "/v1/containers/c1/stop?timeout=0", 200, "stop c1 0s"},
		{"POST", "/v1/containers/c1/stop?timeout=3", 200, "stop c1 3s"},
		{"POST", "/v1/containers/c1/stop?timeout=-1", 400, ""},
		{"POST", "/v1/containers/c1/stop?timeout=soon", 400, ""},
		{"POST", "/v1/containers/c1/kill", 200, "kill c1 9"},
		{"POST", "/v1/containers/c1/kill?signal=TERM", 200, "kill c1 15"},
		{"POST", "/v1/containers/c1/kill?signal=SIGHUP", 200, "kill c1 1"},
		{"POST", "/v1/containers/c1/kill?signal=10", 200, "kill c1 10"},
		{"POST", "/v1/containers/c1/kill?signal=BOGUS", 400, ""},
		{"POST", "/v1/containers/c1/kill?signal=99", 400, ""},
		{"DELETE", "/v1/containers/c1", 204, "remove c1 false"},
		{"DELETE", "/v1/containers/c1?force=1", 204, "remove c1 true"},
		{"DELETE", "/v1/containers/c1?force=maybe", 400, ""},
		{"POST", "/v1/containers/c1/wait", 200, "wait c1 not-running"},
		{"POST", "/v1/containers/c1/wait?condition=next-exit", 200, "wait c1 next-exit"},
		{"POST", "/v1/containers/c1/wait?condition=removed", 200, "wait c1 removed"},
		{"POST", "/v1/containers/c1/wait?condition=soon", 400, ""},
		{"GET", "/v1/containers/c1/logs?tail=-2", 400, ""},
		{"GET", "/v1/containers/c1/logs?follow=perhaps", 400, ""},
	} {
		before := len(b.Calls())
		status, body, ct := call(t, srv, tc.method, tc.path, "")
		if status != tc.status {
			t.Errorf("%s %s: status %d, want %d (%s)", tc.method, tc.path, status, tc.status, body)
			continue
		}
		calls := b.Calls()[before:]
		if tc.status >= 400 {
			errorOf(t, body, ct)
			if len(calls) > 0 {
				t.Errorf("%s %s: refused, yet the backend was called: %q", tc.method, tc.path, calls)
			}
			continue
		}
		if len(calls) != 1 || calls[0] != tc.call {
			t.Errorf("%s %s: calls %q, want %q", tc.method, tc.path, calls, tc.call)
		}
	}
}

func TestPanicAnswered500(t *testing.T) {
	b := &stub{inspect: func(string) (lifecycle.State, error) { panic("boom") }}
	srv := serve(t, b)
	status, body, ct := call(t, srv, "GET", "/v1/containers/c1", "")
	if status != http.StatusInternalServerError {
		t.Errorf("status %d, want 500", status)
	}
	if msg := errorOf(t, body, ct); !strings.Contains(msg, "internal error") {
		t.Errorf("error %q", msg)
	}
	// The server still serves.
	if status, _, _ := call(t, srv, "GET", "/v1/info", ""); status != http.StatusOK {
		t.Errorf("after a panic, info answered %d", status)
	}
}

func TestWaitEndsWithTheClient(t *testing.T) {
	ended := make(chan error, 1)
	b := &stub{wait: func(ctx context.Context, _ string, _ actors.WaitCondition) (lifecycle.State, error) {
		<-ctx.Done()
		ended <- ctx.Err()
		return lifecycle.State{}, ctx.Err()
	}}
	srv := serve(t, b)
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "POST", srv.URL+"/v1/containers/c1/wait", nil)
	go func() {
		time.Sleep(100 * time.Millisecond)
		cancel()
	}()
	if resp, err := srv.Client().Do(req); err == nil {
		resp.Body.Close()
		t.Fatalf("the wait answered %s; want it to go on until the client gave up", resp.Status)
	}
	select {
	case err := <-ended:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("the wait's context ended with %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the wait went on after the client went away")
	}
}

// writeRecords appends log records to the file at path, as the logger does.
func writeRecords(t *testing.T, path string, records ...stdio.Entry) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, e := range records {
		line, _ := json.Marshal(e)
		if _, err := f.Write(append(line, '\n')); err != nil {
			t.Fatal(err)
		}
	}
}

func entry(stream, log string) stdio.Entry {
	return stdio.Entry{Time: time.Now().UTC(), Stream: stream, Log: log}
}

// readStream reads a log stream's records.
func readStream(t *testing.T, r io.Reader) []stdio.Entry {
	t.Helper()
	var out []stdio.Entry
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		var e stdio.Entry
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatalf("stream line %q: %v", sc.Text(), err)
		}
		out = append(out, e)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func logsOf(entries []stdio.Entry) string {
	var b strings.Builder
	for _, e := range entries {
		fmt.Fprintf(&b, "%s:%s", e.Stream, e.Log)
	}
	return b.String()
}

// The log in these tests is one file of format 1 (what supervisors before
// rotation wrote), which is still read.
func TestLogs(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, stdio.LogFileName)
	one, two, three := entry("stdout", "one\n"), entry("stderr", "two\n"), entry("stdout", "three\n")
	one.Time, two.Time, three.Time = time.Unix(100, 0), time.Unix(200, 0), time.Unix(300, 0)
	writeRecords(t, path, one, two, three)
	b := &stub{logPath: stdio.LogPath(dir)}
	srv := serve(t, b)

	for _, tc := range []struct{ query, want string }{
		{"", "stdout:one\nstderr:two\nstdout:three\n"},
		{"?tail=all", "stdout:one\nstderr:two\nstdout:three\n"},
		{"?tail=2", "stderr:two\nstdout:three\n"},
		{"?tail=1&follow=0", "stdout:three\n"},
		{"?since=200", "stderr:two\nstdout:three\n"},
		{"?until=1970-01-01T00:03:20Z", "stdout:one\nstderr:two\n"},
		{"?since=150&until=250", "stderr:two\n"},
	} {
		resp, err := srv.Client().Get(srv.URL + "/v1/containers/c1/logs" + tc.query)
		if err != nil {
			t.Fatal(err)
		}
		if ct := resp.Header.Get("Content-Type"); ct != contentNDJSON {
			t.Errorf("Content-Type %q, want %q", ct, contentNDJSON)
		}
		got := logsOf(readStream(t, resp.Body))
		resp.Body.Close()
		if got != tc.want {
			t.Errorf("logs%s = %q, want %q", tc.query, got, tc.want)
		}
	}

	if status, body, _ := call(t, srv, "GET", "/v1/containers/c1/logs?since=yesterday", ""); status != http.StatusBadRequest || !strings.Contains(body, "since") {
		t.Errorf("logs?since=yesterday: status %d, body %q; want 400 naming since", status, body)
	}

	// A container that never ran has no log: an empty stream.
	b.logPath = stdio.LogPath(t.TempDir())
	status, body, _ := call(t, srv, "GET", "/v1/containers/c1/logs", "")
	if status != http.StatusOK || body != "" {
		t.Errorf("logs of a container without a log: status %d, body %q; want 200 and nothing", status, body)
	}
}

func TestLogsFollow(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, stdio.LogFileName)
	writeRecords(t, path, entry("stdout", "one\n"))
	exited := make(chan struct{}) // the actor journaled the exit
	b := &stub{logPath: stdio.LogPath(dir), inspect: func(id string) (lifecycle.State, error) {
		return lifecycle.State{ID: id, Status: lifecycle.StatusRunning}, nil
	}, wait: func(ctx context.Context, id string, cond actors.WaitCondition) (lifecycle.State, error) {
		select {
		case <-exited:
			return lifecycle.State{ID: id, Status: lifecycle.StatusExited}, nil
		case <-ctx.Done():
			return lifecycle.State{}, ctx.Err()
		}
	}}
	srv := serve(t, b)
	resp, err := srv.Client().Get(srv.URL + "/v1/containers/c1/logs?follow=1")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	next := func() string {
		t.Helper()
		if !sc.Scan() {
			t.Fatalf("the stream ended early: %v", sc.Err())
		}
		var e stdio.Entry
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatal(err)
		}
		return e.Log
	}
	if got := next(); got != "one\n" {
		t.Fatalf("first record %q", got)
	}
	// A record written while the stream runs arrives.
	writeRecords(t, path, entry("stdout", "two\n"))
	if got := next(); got != "two\n" {
		t.Fatalf("second record %q", got)
	}
	// The container exits after writing its last line: the stream
	// delivers it and ends.
	writeRecords(t, path, entry("stderr", "last\n"))
	close(exited)
	if got := next(); got != "last\n" {
		t.Fatalf("last record %q", got)
	}
	done := make(chan bool)
	go func() { done <- sc.Scan() }()
	select {
	case more := <-done:
		if more {
			t.Errorf("unexpected record after the last: %s", sc.Text())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the stream did not end after the container exited")
	}
	// One inspect to find the container and one wait for its exit: the
	// stream learns of the exit when it is journaled, not by asking again.
	if got := b.Calls(); !slices.Equal(got, []string{"inspect c1", "wait c1 not-running"}) {
		t.Errorf("backend calls %q; want one inspect and one wait", got)
	}
}

func TestInfo(t *testing.T) {
	b := &stub{list: func() ([]lifecycle.State, error) {
		return []lifecycle.State{
			{ID: "a", Status: lifecycle.StatusRunning},
			{ID: "b", Status: lifecycle.StatusExited},
		}, nil
	}}
	srv := serve(t, b)
	status, body, _ := call(t, srv, "GET", "/v1/info", "")
	var info api.Info
	if err := json.Unmarshal([]byte(body), &info); err != nil || status != 200 {
		t.Fatalf("status %d, body %s: %v", status, body, err)
	}
	if info.Namespace != "ns" || info.Version != "test" || info.Containers != 2 || info.Running != 1 {
		t.Errorf("info %+v", info)
	}
}

// FuzzHandler sends arbitrary requests: the API must answer each without
// a server error, and every error as JSON.
func FuzzHandler(f *testing.F) {
	f.Add("POST", "/v1/containers", `{"id":"c1","rootfs":"/","args":["true"],"start":true}`)
	f.Add("POST", "/v1/containers", `{"id":"c1","rootfs":"/","args":["true"],"labels":{"a":1}}`)
	f.Add("POST", "/v1/containers", `{"id":"c1"`)
	f.Add("GET", "/v1/containers/c1/logs?tail=3&follow=0", "")
	f.Add("POST", "/v1/containers/c1/kill?signal=%00", "")
	f.Add("POST", "/v1/containers/c1/stop?timeout=99999999999999999999", "")
	f.Add("DELETE", "/v1/containers/..%2F..%2Fetc?force=true", "")
	f.Add("PATCH", "/v1/containers/c1/wait?condition=removed", "{}")
	f.Add("GET", "//v1//info", "")
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	f.Fuzz(func(t *testing.T, method, target, body string) {
		if !strings.HasPrefix(target, "/") {
			return
		}
		req, err := http.NewRequest(method, "http://vigil"+target, strings.NewReader(body))
		if err != nil {
			return // not a request a client could send
		}
		b := &stub{logPath: stdio.LogPath(t.TempDir())}
		rec := httptest.NewRecorder()
		newServer(b, serverInfo{}, log).ServeHTTP(rec, req)
		if rec.Code >= 500 {
			t.Errorf("%s %s %q: status %d: %s", method, target, body, rec.Code, rec.Body)
		}
		if rec.Code >= 400 {
			var e api.Error
			if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil || e.Message == "" {
				t.Errorf("%s %s: status %d with a body that is not a JSON error: %q", method, target, rec.Code, rec.Body)
			}
		}
	})
}

func TestPauseAndUnpauseRoutes(t *testing.T) {
	b := &stub{}
	srv := serve(t, b)
	for _, tc := range []struct {
		path   string
		paused bool
		call   string
	}{
		{"/v1/containers/c1/pause", true, "pause c1"},
		{"/v1/containers/c1/unpause", false, "unpause c1"},
	} {
		status, body, _ := call(t, srv, "POST", tc.path, "")
		var st api.Container
		if err := json.Unmarshal([]byte(body), &st); err != nil || status != 200 || st.Paused != tc.paused {
			t.Errorf("POST %s: %d %s (%v)", tc.path, status, body, err)
		}
		if calls := b.Calls(); len(calls) == 0 || calls[len(calls)-1] != tc.call {
			t.Errorf("POST %s called %v, want %q last", tc.path, calls, tc.call)
		}
	}
	if status, _, _ := call(t, srv, "GET", "/v1/containers/c1/pause", ""); status != http.StatusMethodNotAllowed {
		t.Errorf("GET pause: %d", status)
	}
}

// TestErrorAnswers: every class of docs/API.md's table of errors is
// answered with its status and its code, and the client gets back an
// error of the same class.
func TestErrorAnswers(t *testing.T) {
	for _, tc := range []struct {
		err    error
		status int
		code   api.Code
		is     func(error) bool
	}{
		{fmt.Errorf("inspect: %w", vigil.ErrInvalidID), http.StatusBadRequest, api.CodeInvalidArgument, errdefs.IsInvalidArgument},
		{fmt.Errorf("exec: %w: nope", vigil.ErrCommandNotFound), http.StatusBadRequest, api.CodeCommandNotFound, errdefs.IsInvalidArgument},
		{fmt.Errorf("exec: %w: /etc", vigil.ErrCommandNotExecutable), http.StatusBadRequest, api.CodeCommandNotExecutable, errdefs.IsInvalidArgument},
		{fmt.Errorf("%w: \"web\"", vigil.ErrNotFound), http.StatusNotFound, api.CodeNotFound, errdefs.IsNotFound},
		{fmt.Errorf("%w: the name is in use", vigil.ErrAlreadyExists), http.StatusConflict, api.CodeAlreadyExists, errdefs.IsAlreadyExists},
		{fmt.Errorf("%w: it runs", vigil.ErrInvalidTransition), http.StatusConflict, api.CodeFailedPrecondition, errdefs.IsFailedPrecondition},
		{fmt.Errorf("containerd: %w", errdefs.ErrConflict), http.StatusConflict, api.CodeConflict, errdefs.IsConflict},
		{fmt.Errorf("%w: web at 3", vigil.ErrJournalDamaged), http.StatusInternalServerError, api.CodeDataLoss, errdefs.IsDataLoss},
		{errors.New("disk on fire"), http.StatusInternalServerError, api.CodeUnknown, errdefs.IsUnknown},
		{fmt.Errorf("%w: no criu", vigil.ErrCriuUnusable), http.StatusNotImplemented, api.CodeNotImplemented, errdefs.IsNotImplemented},
		{fmt.Errorf("%w: containerd is down", errdefs.ErrUnavailable), http.StatusServiceUnavailable, api.CodeUnavailable, errdefs.IsUnavailable},
		{fmt.Errorf("%w: Inspect", vigil.ErrTimeout), http.StatusGatewayTimeout, api.CodeDeadlineExceeded, errdefs.IsDeadlineExceeded},
	} {
		t.Run(string(tc.code), func(t *testing.T) {
			b := &stub{inspect: func(string) (lifecycle.State, error) { return lifecycle.State{}, tc.err }}
			srv := serve(t, b)
			resp, err := http.Get(srv.URL + "/v1/containers/web")
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var e api.Error
			if err := json.NewDecoder(resp.Body).Decode(&e); err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != tc.status || e.Code != tc.code || e.Message != tc.err.Error() {
				t.Fatalf("answer %d %+v; want %d, code %q, message %q", resp.StatusCode, e, tc.status, tc.code, tc.err)
			}
			_, err = clientOf(srv).Inspect(t.Context(), "web")
			var se *api.StatusError
			if !errors.As(err, &se) || se.Code != tc.code || !tc.is(err) {
				t.Errorf("client: %#v, want code %q and its class", err, tc.code)
			}
		})
	}
}
