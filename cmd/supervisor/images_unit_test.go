package main

import (
	"bytes"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/containerd/errdefs"

	"github.com/vigilhq/vigil/api"
)

// A backend without images answers 501 on every image endpoint, and the
// request's own mistakes come first where they can be told.
func TestImageEndpointsWithoutImages(t *testing.T) {
	srv := serve(t, &stub{})
	for _, tc := range []struct{ method, path, body string }{
		{"GET", "/v1/images", ""},
		{"POST", "/v1/images/pull", `{"ref":"busybox"}`},
		{"POST", "/v1/images/load", "archive"},
		{"GET", "/v1/images/inspect?ref=busybox", ""},
		{"DELETE", "/v1/images?ref=busybox", ""},
		{"POST", "/v1/images/prune", ""},
		{"POST", "/v1/images/tag", `{"source":"a","target":"b"}`},
		{"POST", "/v1/containers", `{"id":"x","image":"busybox"}`},
	} {
		code, body, ct := call(t, srv, tc.method, tc.path, tc.body)
		if code != http.StatusNotImplemented || errorOf(t, body, ct) == "" {
			t.Errorf("%s %s: %d %q, want 501 with an error", tc.method, tc.path, code, body)
		}
	}
	for _, tc := range []struct{ method, path, body, want string }{
		{"POST", "/v1/images/pull", `{}`, "ref is required"},
		{"GET", "/v1/images/inspect", "", "ref is required"},
		{"DELETE", "/v1/images", "", "ref is required"},
		{"POST", "/v1/images/tag", `{"source":"a"}`, "source and target are required"},
	} {
		code, body, ct := call(t, srv, tc.method, tc.path, tc.body)
		if code != http.StatusBadRequest || !strings.Contains(errorOf(t, body, ct), tc.want) {
			t.Errorf("%s %s: %d %q, want 400 saying %q", tc.method, tc.path, code, body, tc.want)
		}
	}
}

func TestImageErrorStatus(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want int
	}{
		{fmt.Errorf("x: %w", errdefs.ErrNotFound), http.StatusNotFound},
		{fmt.Errorf("x: %w", errdefs.ErrFailedPrecondition), http.StatusConflict},
		{fmt.Errorf("x: %w", errdefs.ErrUnauthenticated), http.StatusUnauthorized},
		{fmt.Errorf("x: %w", errdefs.ErrPermissionDenied), http.StatusForbidden},
		{fmt.Errorf("x: %w", errdefs.ErrUnavailable), http.StatusServiceUnavailable},
		{fmt.Errorf("x: %w", errdefs.ErrInvalidArgument), http.StatusBadRequest},
		{errors.New("plain"), http.StatusInternalServerError},
	} {
		if got := statusOf(tc.err); got != tc.want {
			t.Errorf("%v: status %d, want %d", tc.err, got, tc.want)
		}
	}
}

// Not on a terminal: one line per change of a step's status, none for
// byte counts.
func TestProgressLines(t *testing.T) {
	var out bytes.Buffer
	pw := newProgressWriter(&out, false)
	for _, p := range []api.ImageProgress{
		{ID: "aaa", Kind: "layer", Status: "waiting", Total: 2000},
		{ID: "aaa", Kind: "layer", Status: "downloading", Current: 10, Total: 2000},
		{ID: "aaa", Kind: "layer", Status: "downloading", Current: 20, Total: 2000},
		{ID: "aaa", Kind: "layer", Status: "done", Current: 2000, Total: 2000},
		{ID: "app:1", Kind: "image", Status: "pulled"},
	} {
		pw.show(p)
	}
	want := "layer aaa: waiting (2kB)\nlayer aaa: downloading (2kB)\nlayer aaa: done (2kB)\nimage app:1: pulled\n"
	if out.String() != want {
		t.Errorf("progress:\n%s\nwant:\n%s", out.String(), want)
	}
	out.Reset()
	quiet := newProgressWriter(&out, true)
	quiet.show(api.ImageProgress{ID: "aaa", Kind: "layer", Status: "done"})
	if out.Len() != 0 {
		t.Errorf("-q printed %q", out.String())
	}
}
