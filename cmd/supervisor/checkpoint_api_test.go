package main

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/vigilhq/vigil"
	"github.com/vigilhq/vigil/actors/lifecycle"
)

// cpStub is a stub that checkpoints and restores, failing with err.
type cpStub struct {
	*stub
	err error
}

func (s *cpStub) Checkpoint(_ context.Context, id, dir string, opts vigil.CheckpointOptions) (lifecycle.State, error) {
	s.record("checkpoint %s %s leave=%v", id, dir, opts.LeaveRunning)
	return lifecycle.State{ID: id, Status: lifecycle.StatusExited, LastCheckpoint: dir}, s.err
}

func (s *cpStub) StartFromCheckpoint(_ context.Context, id, dir string) (lifecycle.State, error) {
	s.record("start %s from %s", id, dir)
	return lifecycle.State{ID: id, Status: lifecycle.StatusRunning, RestoredFrom: dir}, s.err
}

func TestCheckpointEndpoint(t *testing.T) {
	b := &cpStub{stub: &stub{}}
	srv := serve(t, b)
	for _, tc := range []struct {
		method, path, body string
		status             int
		call, text         string
	}{
		{"POST", "/v1/containers/web/checkpoint", `{"dir": "/cp/1", "leave_running": true}`, 200, "checkpoint web /cp/1 leave=true", `"last_checkpoint": "/cp/1"`},
		{"POST", "/v1/containers/web/checkpoint", `{"dir": "/cp/2"}`, 200, "checkpoint web /cp/2 leave=false", ""},
		{"POST", "/v1/containers/web/checkpoint", `{}`, 400, "", "dir is required"},
		{"POST", "/v1/containers/web/checkpoint", `{"dir": "/cp", "exit": true}`, 400, "", "unknown field"},
		{"POST", "/v1/containers/web/checkpoint", ``, 400, "", "request body is empty"},
		{"GET", "/v1/containers/web/checkpoint", ``, 405, "", "not allowed"},
		{"POST", "/v1/containers/web/start?checkpoint=/cp/1", ``, 200, "start web from /cp/1", `"restored_from": "/cp/1"`},
		{"POST", "/v1/containers/web/start", ``, 200, "start web", ""},
	} {
		b.mu.Lock()
		b.calls = nil
		b.mu.Unlock()
		status, body, _ := call(t, srv, tc.method, tc.path, tc.body)
		b.mu.Lock()
		calls := slices.Clone(b.calls)
		b.mu.Unlock()
		if status != tc.status || !strings.Contains(body, tc.text) {
			t.Errorf("%s %s %s: %d %s; want %d with %q", tc.method, tc.path, tc.body, status, body, tc.status, tc.text)
		}
		if want := []string{tc.call}; tc.call != "" && !slices.Equal(calls, want) || tc.call == "" && len(calls) != 0 {
			t.Errorf("%s %s %s: calls %q, want %q", tc.method, tc.path, tc.body, calls, tc.call)
		}
	}
}

// TestCheckpointEndpointErrors: criu that cannot run is 501; a backend
// that cannot checkpoint at all is 501 too; other errors keep their status.
func TestCheckpointEndpointErrors(t *testing.T) {
	criu := fmt.Errorf("checkpoint container %q: %w: `criu check` failed: no vdso", "web", vigil.ErrCriuUnusable)
	for _, tc := range []struct {
		b      Backend
		path   string
		status int
		text   string
	}{
		{&cpStub{stub: &stub{}, err: criu}, "/v1/containers/web/checkpoint", http.StatusNotImplemented, "criu is not usable on this host"},
		{&cpStub{stub: &stub{}, err: criu}, "/v1/containers/web/start?checkpoint=/cp", http.StatusNotImplemented, "no vdso"},
		{&cpStub{stub: &stub{}, err: fmt.Errorf("%w: it is exited", vigil.ErrInvalidTransition)}, "/v1/containers/web/checkpoint", http.StatusConflict, "it is exited"},
		{&stub{}, "/v1/containers/web/checkpoint", http.StatusNotImplemented, "cannot checkpoint"},
		{&stub{}, "/v1/containers/web/start?checkpoint=/cp", http.StatusNotImplemented, "cannot checkpoint"},
	} {
		srv := serve(t, tc.b)
		status, body, ct := call(t, srv, "POST", tc.path, `{"dir": "/cp"}`)
		if status != tc.status || !strings.Contains(errorOf(t, body, ct), tc.text) {
			t.Errorf("POST %s with %T: %d %s; want %d with %q", tc.path, tc.b, status, body, tc.status, tc.text)
		}
	}
}
