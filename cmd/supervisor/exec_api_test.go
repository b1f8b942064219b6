package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/vigilhq/vigil"
	"github.com/vigilhq/vigil/actors/lifecycle"
	"github.com/vigilhq/vigil/api"
	"github.com/vigilhq/vigil/client"
)

// execStub is a stub that runs execs: each fails with err.
type execStub struct {
	*stub
	calls atomic.Int32
	err   error
}

func (s *execStub) Exec(context.Context, string, vigil.ExecConfig) (*vigil.Execution, error) {
	s.calls.Add(1)
	return nil, s.err
}

// clientOf is a client of the API served by srv.
func clientOf(srv *httptest.Server) *client.Client {
	addr := srv.Listener.Addr().String()
	var d net.Dialer
	return client.NewWithHTTPClient(&http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) { return d.DialContext(ctx, "tcp", addr) },
	}}, addr)
}

func TestExecRequestsCheckedBeforeTheUpgrade(t *testing.T) {
	running := func(id string) (lifecycle.State, error) {
		return lifecycle.State{ID: id, Status: lifecycle.StatusRunning, Pid: 7}, nil
	}
	b := &execStub{stub: &stub{inspect: running}, err: vigil.ErrCommandNotFound}
	srv := serve(t, b)
	for _, c := range []struct {
		path, body string
		status     int
		says       string
	}{
		{"/v1/containers/box/exec", `{"args": []}`, 400, "no command"},
		{"/v1/containers/box/exec", `{"args": ["sh"], "workdir": "tmp"}`, 400, "absolute"},
		{"/v1/containers/box/exec", `{"args": ["sh"], "env": ["NOEQUALS"]}`, 400, "KEY=VALUE"},
		{"/v1/containers/box/exec", `{"args": ["sh"], "bogus": 1}`, 400, "bogus"},
		{"/v1/containers/box/exec", `{"args": ["sh"]}`, 400, "Upgrade"},
		{"/v1/containers/box/exec", `{"args": ["sh"], "detach": true, "tty": true}`, 400, "detached"},
		{"/v1/containers/bad..id/exec", `{"args": ["sh"], "detach": true}`, 400, "bad..id"},
		{"/v1/containers/box/exec", `{"args": ["nosuch"], "detach": true}`, 400, "not found"},
	} {
		status, body, ct := call(t, srv, "POST", c.path, c.body)
		if msg := errorOf(t, body, ct); status != c.status || !strings.Contains(msg, c.says) {
			t.Errorf("POST %s %s: %d %q, want %d saying %q", c.path, c.body, status, msg, c.status, c.says)
		}
	}
	if n := b.calls.Load(); n != 1 {
		t.Fatalf("Exec called %d times, want once (the valid detached request)", n)
	}

	// A container that does not run is refused with 409, and the backend
	// is not asked to exec.
	for _, st := range []lifecycle.State{
		{ID: "box", Status: lifecycle.StatusCreated},
		{ID: "box", Status: lifecycle.StatusExited},
		{ID: "box", Status: lifecycle.StatusRunning, Paused: true},
	} {
		b := &execStub{stub: &stub{inspect: func(string) (lifecycle.State, error) { return st, nil }}}
		srv := serve(t, b)
		status, body, ct := call(t, srv, "POST", "/v1/containers/box/exec", `{"args": ["sh"], "detach": true}`)
		if msg := errorOf(t, body, ct); status != http.StatusConflict || !strings.Contains(msg, "cannot exec") {
			t.Errorf("exec in %s (paused %v): %d %q, want 409", st.Status, st.Paused, status, msg)
		}
		if b.calls.Load() != 0 {
			t.Errorf("exec in %s reached the backend", st.Status)
		}
	}

	// A backend without execs answers 501.
	status, body, ct := call(t, serve(t, &stub{inspect: running}), "POST", "/v1/containers/box/exec", `{"args": ["sh"]}`)
	if msg := errorOf(t, body, ct); status != http.StatusNotImplemented {
		t.Errorf("exec without an exec backend: %d %q, want 501", status, msg)
	}
}

// After the upgrade, an exec that cannot start ends the stream with an
// Exit frame: 127 for a program that is not there, 126 for one that cannot
// run, 125 otherwise.
func TestExecStartErrorsInTheExitFrame(t *testing.T) {
	running := func(id string) (lifecycle.State, error) {
		return lifecycle.State{ID: id, Status: lifecycle.StatusRunning, Pid: 7}, nil
	}
	for _, c := range []struct {
		err  error
		code int
	}{
		{fmt.Errorf("exec: %w: nosuch", vigil.ErrCommandNotFound), 127},
		{fmt.Errorf("exec: %w: /etc/passwd", vigil.ErrCommandNotExecutable), 126},
		{fmt.Errorf("exec: containerd went away"), 125},
	} {
		srv := serve(t, &execStub{stub: &stub{inspect: running}, err: c.err})
		var out, errb bytes.Buffer
		code, err := runExec(t.Context(), clientOf(srv), "box", api.ExecRequest{Args: []string{"sh"}, Stdin: true},
			strings.NewReader("input"), &out, &errb)
		if err != nil || code != c.code || !strings.Contains(errb.String(), c.err.Error()) {
			t.Errorf("%v: code %d, err %v, stderr %q; want code %d and the error on stderr", c.err, code, err, errb.String(), c.code)
		}
	}
}
