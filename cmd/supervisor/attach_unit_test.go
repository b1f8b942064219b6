package main

import (
	"bytes"
	"net/http"
	"strings"
	"testing"
)

func TestScanDetach(t *testing.T) {
	const p, q = "\x10", "\x11"
	for _, tc := range []struct {
		name    string
		reads   []string
		send    string
		detach  bool
		matched int
	}{
		{"plain input", []string{"ls -l\r"}, "ls -l\r", false, 0},
		{"the sequence", []string{"ab" + p + q + "cd"}, "ab", true, 0},
		{"split across reads", []string{"a" + p, q}, "a", true, 0},
		{"ctrl-p alone is sent", []string{p + "x"}, p + "x", false, 0},
		{"ctrl-p ctrl-p ctrl-q", []string{p + p + q}, p, true, 0},
		{"held at the end of a read", []string{"x" + p}, "x", false, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var sent bytes.Buffer
			matched, hit := 0, false
			for _, r := range tc.reads {
				var out []byte
				out, matched, hit = scanDetach([]byte(r), matched)
				sent.Write(out)
				if hit {
					break
				}
			}
			if sent.String() != tc.send || hit != tc.detach || matched != tc.matched {
				t.Fatalf("sent %q, detach %v, matched %d; want %q, %v, %d", sent.String(), hit, matched, tc.send, tc.detach, tc.matched)
			}
		})
	}
}

// Errors before the upgrade are JSON answers.
func TestAttachEndpointErrors(t *testing.T) {
	srv := serve(t, &stub{})
	code, body, ct := call(t, srv, "POST", "/v1/containers/web/attach", "")
	if code != http.StatusNotImplemented || !strings.Contains(errorOf(t, body, ct), "cannot attach") {
		t.Fatalf("attach on a backend without it: %d %s", code, body)
	}
	code, body, ct = call(t, srv, "GET", "/v1/containers/web/attach", "")
	if code != http.StatusMethodNotAllowed {
		t.Fatalf("GET attach: %d %s", code, errorOf(t, body, ct))
	}
}
