package client_test

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"

	"github.com/containerd/errdefs"

	"github.com/vigilhq/vigil/api"
	"github.com/vigilhq/vigil/client"
)

// serveUnix serves h on a unix socket and returns a client of it.
func serveUnix(t *testing.T, h http.Handler) *client.Client {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "api.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(h)
	srv.Listener = l
	srv.Start()
	t.Cleanup(srv.Close)
	return client.New(sock)
}

// TestErrorClasses: an error answer comes back as an error of its class,
// whose code and message are the daemon's.
func TestErrorClasses(t *testing.T) {
	for _, tc := range []struct {
		code   api.Code
		is     func(error) bool
		status int
	}{
		{api.CodeNotFound, errdefs.IsNotFound, http.StatusNotFound},
		{api.CodeAlreadyExists, errdefs.IsAlreadyExists, http.StatusConflict},
		{api.CodeFailedPrecondition, errdefs.IsFailedPrecondition, http.StatusConflict},
		{api.CodeInvalidArgument, errdefs.IsInvalidArgument, http.StatusBadRequest},
		{api.CodeUnavailable, errdefs.IsUnavailable, http.StatusServiceUnavailable},
		{api.CodeNotImplemented, errdefs.IsNotImplemented, http.StatusNotImplemented},
	} {
		t.Run(string(tc.code), func(t *testing.T) {
			c := serveUnix(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(tc.code.Status())
				json.NewEncoder(w).Encode(api.Error{Message: "the daemon's words", Code: tc.code})
			}))
			_, err := c.Inspect(context.Background(), "web")
			var se *api.StatusError
			if !errors.As(err, &se) || se.Code != tc.code || se.Status != tc.status || err.Error() != "the daemon's words" {
				t.Fatalf("Inspect: %#v", err)
			}
			if !tc.is(err) {
				t.Errorf("%v is not of class %s", err, tc.code)
			}
		})
	}
}

// TestErrorWithoutCode: an answer that is not vigil's (no JSON, no code)
// is classed by its status.
func TestErrorWithoutCode(t *testing.T) {
	c := serveUnix(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "gone fishing", http.StatusServiceUnavailable)
	}))
	err := c.Remove(context.Background(), "web", true)
	if !errdefs.IsUnavailable(err) {
		t.Fatalf("Remove: %v, want an Unavailable-class error", err)
	}
}

// TestNoDaemon: a socket nobody listens on gives an Unavailable-class
// error that says what to check.
func TestNoDaemon(t *testing.T) {
	c := client.New(filepath.Join(t.TempDir(), "none.sock"))
	_, err := c.List(context.Background())
	if !errdefs.IsUnavailable(err) {
		t.Fatalf("List: %v, want an Unavailable-class error", err)
	}
}

// TestStreamErrorLine: a stream that ends with an error line gives an
// error of the line's class.
func TestStreamErrorLine(t *testing.T) {
	c := serveUnix(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		enc := json.NewEncoder(w)
		enc.Encode(api.LogEntry{Stream: api.StreamStdout, Log: "hi\n"})
		enc.Encode(api.Error{Message: "too slow", Code: api.CodeResourceExhausted})
	}))
	var got []string
	err := c.Logs(context.Background(), "web", false, 0, func(e api.LogEntry) error {
		got = append(got, e.Log)
		return nil
	})
	if !errdefs.IsResourceExhausted(err) || len(got) != 1 || got[0] != "hi\n" {
		t.Fatalf("Logs: %v after %q", err, got)
	}
}
