package main

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/containerd/errdefs"
	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/vigilhq/vigil/api"
	"github.com/vigilhq/vigil/internal/testimage"
)

// A table of bad requests against the real daemon: each is answered 4xx
// with a message that says what is wrong, and nothing is journaled.
func TestHostileRequests(t *testing.T) {
	d, rootfs := setup(t)
	start := time.Now()
	ok := `"rootfs":"` + rootfs + `","args":["true"]`
	long := strings.Repeat("x", 200<<10)
	for _, c := range []struct {
		name, method, path, body, want string
	}{
		{"duplicate key", "POST", "/v1/containers", `{"id":"a","id":"b",` + ok + `}`, `"id" is given twice`},
		{"case-variant key", "POST", "/v1/containers", `{"ID":"a",` + ok + `}`, `spelled "id"`},
		{"two case variants", "POST", "/v1/containers", `{"id":"a","Id":"b",` + ok + `}`, `same field given twice`},
		{"duplicate nested key", "POST", "/v1/containers", `{"id":"a",` + ok + `,"log":{"max_file":3,"max_file":1}}`, `"log.max_file" is given twice`},
		{"duplicate label", "POST", "/v1/containers", `{"id":"a",` + ok + `,"labels":{"k":"1","k":"2"}}`, `"labels.k" is given twice`},
		{"NUL in an argument", "POST", "/v1/containers", `{"id":"a","rootfs":"` + rootfs + `","args":["tr\u0000ue"]}`, "NUL byte"},
		{"NUL in a label", "POST", "/v1/containers", `{"id":"a",` + ok + `,"labels":{"k":"v\u0000"}}`, "NUL byte"},
		{"NUL in the rootfs", "POST", "/v1/containers", `{"id":"a","rootfs":"/x\u0000y","args":["true"]}`, "NUL byte"},
		{"env without =", "POST", "/v1/containers", `{"id":"a",` + ok + `,"env":["FOO"]}`, "not KEY=VALUE"},
		{"env without a key", "POST", "/v1/containers", `{"id":"a",` + ok + `,"env":["=x"]}`, "not KEY=VALUE"},
		{"argument beyond the kernel's limit", "POST", "/v1/containers", `{"id":"a","rootfs":"` + rootfs + `","args":["echo","` + long + `"]}`, "the kernel takes at most"},
		{"body beyond 1 MiB", "POST", "/v1/containers", `{"id":"a",` + ok + `,"env":["A=` + strings.Repeat("y", 1<<20) + `"]}`, "larger than"},
		{"unknown field", "POST", "/v1/containers", `{"id":"a",` + ok + `,"privileged":true}`, `unknown field "privileged"`},
		{"not JSON", "POST", "/v1/containers", `{"id":`, "not valid JSON"},
		{"not an object", "POST", "/v1/containers", `["a"]`, "must be a JSON object"},
		{"trailing data", "POST", "/v1/containers", `{"id":"a",` + ok + `} {}`, "after the JSON object"},
		{"bad ID", "POST", "/v1/containers", `{"id":"../etc",` + ok + `}`, "ID"},
		{"relative rootfs", "POST", "/v1/containers", `{"id":"a","rootfs":"rel","args":["true"]}`, "absolute"},
		{"bad log option", "POST", "/v1/containers", `{"id":"a",` + ok + `,"log":{"max_file":-1}}`, "max-file -1"},
		{"unknown capability", "POST", "/v1/containers", `{"id":"a",` + ok + `,"host":{"cap_add":["NOPE"]}}`, `capability "NOPE"`},
		{"host sysctl", "POST", "/v1/containers", `{"id":"a",` + ok + `,"host":{"sysctls":{"kernel.hostname":"x"}}}`, "namespaced"},
		{"bad log time", "GET", "/v1/containers/a/logs?since=yesterday", ``, "since"},
		{"bad stop timeout", "POST", "/v1/containers/a/stop?timeout=-3", ``, "timeout"},
	} {
		status, msg := raw(t, d, c.method, c.path, c.body)
		if status < 400 || status >= 500 || !strings.Contains(msg, c.want) {
			t.Errorf("%s: status %d, %q; want 4xx saying %q", c.name, status, msg, c.want)
		}
	}
	// Nothing was journaled: no container, and no event since the start.
	if rows := psRows(t, d, "-a"); len(rows) != 0 {
		t.Errorf("ps -a after the bad requests: %q", rows)
	}
	q := url.Values{"since": {start.Add(-time.Second).Format(time.RFC3339Nano)}, "until": {time.Now().Format(time.RFC3339Nano)}}
	if status, body := raw(t, d, "GET", "/v1/events?"+q.Encode(), ""); status != 200 || body != "" {
		t.Errorf("events since the start: status %d, %q; want none", status, body)
	}
}

// FuzzDecodeBody feeds any body to the request decoding of the API:
// never a panic, and either a decoded request or a 400.
func FuzzDecodeBody(f *testing.F) {
	for _, s := range []string{
		`{"id":"a","rootfs":"/r","args":["true"]}`, `{"id":"a","id":"b"}`, `{"ID":1}`, `{"labels":{"k":"v","K":"w"}}`,
		`{"args":["a\u0000"]}`, `{"restart":"always"}`, `{"restart":{"name":"on-failure","Name":"x"}}`,
		`{"host":{"devices":[{"host":"/dev/null","HOST":"x"}]}}`, `[`, `{"log":{"max_size":1e400}}`, `{}{}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		for _, v := range []any{&api.CreateRequest{}, &api.ExecRequest{}} {
			r := httptest.NewRequest(http.MethodPost, "/v1/containers", strings.NewReader(string(body)))
			err := decodeBody(httptest.NewRecorder(), r, v)
			if err == nil {
				continue
			}
			if !errdefs.IsInvalidArgument(err) || err.Error() == "" {
				t.Fatalf("%s: %q: %v (%T); want a 400 with a message", reflect.TypeOf(v), body, err, err)
			}
		}
	})
}

// A container replaces its /etc/passwd with a FIFO that nobody writes:
// exec -u NAME answers an error at once instead of hanging the
// container's actor, and ps keeps working.
func TestExecUserWithFIFOPasswd(t *testing.T) {
	d, shared := setup(t)
	// A rootfs of the test's own, which the container may change.
	rootfs := filepath.Join(t.TempDir(), "rootfs")
	if out, err := exec.Command("cp", "-a", shared, rootfs).CombinedOutput(); err != nil {
		t.Fatalf("copy the rootfs: %v: %s", err, out)
	}
	runDetached(t, d, rootfs, "fifo", "rm -f /etc/passwd; mkfifo /etc/passwd; echo ready; exec sleep 1000")
	eventually(t, 10*time.Second, "the FIFO in place", func() bool {
		out, _, _ := d.CLI(t, "logs", "fifo")
		return strings.Contains(out, "ready")
	})
	start := time.Now()
	_, stderr, code := d.CLI(t, "exec", "-u", "nobody", "fifo", "true")
	if took := time.Since(start); code == 0 || !strings.Contains(stderr, "not a regular file") || took > 10*time.Second {
		t.Errorf("exec -u nobody: exit %d after %v, %q; want a refusal naming the FIFO, at once", code, took, stderr)
	}
	if rows := psRows(t, d); len(rows) != 1 || rows[0][0] != "fifo" {
		t.Errorf("ps after the exec: %q", rows)
	}
	// (Any exec now blocks in runc, which reads the container's
	// /etc/passwd from inside; containerd's deadline ends it. That is the
	// container's own doing, and it holds no actor.)
	if st := inspect(t, d, "fifo"); st.Status.String() != "running" {
		t.Errorf("inspect after the exec: %s", st.Status)
	}
}

// The same with a container made from an image: an image whose /etc/passwd
// is a FIFO makes `run -u NAME` fail with an error at once (the snapshot is
// mounted and read by vigil, with a deadline, refusing anything but a
// regular file), and a running image container that replaces its own
// /etc/passwd with a FIFO makes `exec -u NAME` fail the same way; ps keeps
// working through both.
func TestImageUserWithFIFOPasswd(t *testing.T) {
	d, _ := setup(t)
	pruneAtEnd(t, d)
	dir := t.TempDir()
	cfg := v1.Config{Entrypoint: []string{"/bin/sh", "-c"}, Cmd: []string{"true"}, Env: []string{"PATH=/bin"}}
	fifo, plain := filepath.Join(dir, "fifo.tar"), filepath.Join(dir, "plain.tar")
	testimage.OCIArchive(t, fifo, "example.com/t/fifo-passwd:latest", testimage.Image(t, testimage.Options{Config: cfg, FIFOPasswd: true}), nil)
	testimage.OCIArchive(t, plain, "example.com/t/plain:latest", testimage.Image(t, testimage.Options{Config: cfg}), nil)
	for _, a := range []string{fifo, plain} {
		if _, stderr, code := d.CLI(t, "image", "load", "-q", "-i", a); code != 0 {
			t.Fatalf("load %s: %s", a, stderr)
		}
	}

	start := time.Now()
	_, stderr, code := d.CLI(t, "run", "-d", "--name", "hostile", "-u", "nobody", "example.com/t/fifo-passwd")
	if took := time.Since(start); code == 0 || !strings.Contains(stderr, "not a regular file") || took > 10*time.Second {
		t.Errorf("run -u nobody with a FIFO /etc/passwd in the image: exit %d after %v, %q; want a refusal naming the FIFO, at once", code, took, stderr)
	}
	if _, stderr, code := d.CLI(t, "ps", "-a"); code != 0 {
		t.Errorf("ps after the run: %s", stderr)
	}

	if _, stderr, code := d.CLI(t, "run", "-d", "--name", "turns", "example.com/t/plain",
		"rm -f /etc/passwd; mkfifo /etc/passwd; echo ready; exec sleep 1000"); code != 0 {
		t.Fatalf("run: %s", stderr)
	}
	t.Cleanup(func() { d.CLI(t, "rm", "-f", "turns") })
	eventually(t, 10*time.Second, "the FIFO in place", func() bool {
		out, _, _ := d.CLI(t, "logs", "turns")
		return strings.Contains(out, "ready")
	})
	start = time.Now()
	_, stderr, code = d.CLI(t, "exec", "-u", "nobody", "turns", "true")
	if took := time.Since(start); code == 0 || !strings.Contains(stderr, "not a regular file") || took > 10*time.Second {
		t.Errorf("exec -u nobody in an image container with a FIFO /etc/passwd: exit %d after %v, %q; want a refusal naming the FIFO, at once", code, took, stderr)
	}
	if rows := psRows(t, d); len(rows) != 1 || rows[0][0] != "turns" {
		t.Errorf("ps after the exec: %q", rows)
	}
	// (Any exec now blocks in runc, as in TestExecUserWithFIFOPasswd.)
}
