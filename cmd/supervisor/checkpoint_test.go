package main

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vigilhq/vigil/actors/lifecycle"
	"github.com/vigilhq/vigil/api"
	"github.com/vigilhq/vigil/c8dbridge"
	"github.com/vigilhq/vigil/client"
	"github.com/vigilhq/vigil/internal/testenv"
	"github.com/vigilhq/vigil/stdio"
)

const counterScript = `i=0; while true; do echo $i; i=$((i+1)); sleep 0.2; done`

// inspectOne returns the state of container id as `inspect` prints it.
func inspectOne(t *testing.T, d *daemon, id string) api.Container {
	t.Helper()
	out, errOut, code := d.CLI(t, "inspect", id)
	if code != 0 {
		t.Fatalf("inspect %s: exit %d: %s", id, code, errOut)
	}
	var sts []api.Container
	if err := json.Unmarshal([]byte(out), &sts); err != nil || len(sts) != 1 {
		t.Fatalf("inspect %s: %v\n%s", id, err, out)
	}
	return sts[0]
}

// runCounter runs a detached counter container and removes it when the
// test ends.
func runCounter(t *testing.T, d *daemon, id string, extra ...string) {
	t.Helper()
	args := append([]string{"run", "-d", "--name", id, "--rootfs", testenv.Rootfs(t)}, extra...)
	if _, errOut, code := d.CLI(t, append(args, "--", "/bin/sh", "-c", counterScript)...); code != 0 {
		t.Fatalf("run %s: exit %d: %s", id, code, errOut)
	}
	t.Cleanup(func() { d.CLI(t, "rm", "-f", id) })
}

// TestCheckpointCommandWithoutCriu: where criu cannot run, `checkpoint
// create` fails with criu's reason in one line (HTTP 501), and the
// container runs on unchanged: a later stop works.
func TestCheckpointCommandWithoutCriu(t *testing.T) {
	d := startDaemon(t, t.TempDir(), testenv.Namespace(t))
	if err := c8dbridge.CriuUsable(); err == nil {
		t.Skip("criu check passes on this host: TestCheckpointCommandRestore covers it")
	}
	runCounter(t, d, "nocriu")
	before := inspectOne(t, d, "nocriu")
	dir := filepath.Join(t.TempDir(), "cp")
	_, errOut, code := d.CLI(t, "checkpoint", "create", "nocriu", dir)
	if code != 1 || !strings.Contains(errOut, "criu is not usable on this host") || strings.Count(strings.TrimSpace(errOut), "\n") != 0 {
		t.Fatalf("checkpoint create without criu: exit %d, stderr %q; want one line saying criu is not usable", code, errOut)
	}
	_, errOut, code = d.CLI(t, "checkpoint", "create", "nocriu", "cp1")
	if code != 1 || !strings.Contains(errOut, "criu is not usable on this host") {
		t.Fatalf("checkpoint create NAME without criu: exit %d, stderr %q; want criu's refusal", code, errOut)
	}
	_, err := client.New(d.Socket).Checkpoint(context.Background(), "nocriu", api.CheckpointRequest{Dir: dir})
	var apiErr *api.StatusError
	if !errors.As(err, &apiErr) || apiErr.Status != http.StatusNotImplemented {
		t.Fatalf("POST checkpoint without criu: %v, want status 501", err)
	}
	_, errOut, code = d.CLI(t, "start", "--checkpoint", t.TempDir(), "nocriu")
	if code == 0 {
		t.Fatalf("start --checkpoint of a running container without criu succeeded")
	}
	after := inspectOne(t, d, "nocriu")
	if after.Status != lifecycle.StatusRunning || after.Pid != before.Pid || after.Checkpoint != nil || after.StopRequested || after.Error != "" {
		t.Fatalf("after the refused checkpoint: %+v; want it running as before (pid %d)", after, before.Pid)
	}
	if _, errOut, code := d.CLI(t, "stop", "-t", "1", "nocriu"); code != 0 {
		t.Fatalf("stop after the refused checkpoint: exit %d: %s", code, errOut)
	}
	if st := inspectOne(t, d, "nocriu"); st.Status != lifecycle.StatusExited {
		t.Fatalf("after stop: %+v", st)
	}
}

// TestCheckpointCommandBadInput: bad requests are refused with a clear
// error before anything happens.
func TestCheckpointCommandBadInput(t *testing.T) {
	d := startDaemon(t, t.TempDir(), testenv.Namespace(t))
	rootfs := testenv.Rootfs(t)
	if _, errOut, code := d.CLI(t, "run", "--name", "done", "--rootfs", rootfs, "--", "true"); code != 0 {
		t.Fatalf("run: exit %d: %s", code, errOut)
	}
	t.Cleanup(func() { d.CLI(t, "rm", "-f", "done") })
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(t.TempDir(), "missing")
	open := filepath.Join(t.TempDir(), "open")
	if err := os.Mkdir(open, 0o700); err != nil {
		t.Fatal(err)
	}
	os.Chmod(open, 0o777)
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"checkpoint", "create", "done", missing}, 1, `cannot checkpoint container "done": it is exited`},
		{[]string{"checkpoint", "create", "nosuch", missing}, 1, "nosuch"},
		{[]string{"checkpoint", "create", "../x", missing}, 1, "invalid container ID"},
		{[]string{"checkpoint", "create", "done"}, 2, "takes a container ID and a checkpoint name or directory"},
		{[]string{"checkpoint", "create", "done", ".."}, 1, "neither a name"},
		{[]string{"checkpoint", "create", "done", filepath.Join(open, "cp")}, 1, "writable by group or others"},
		{[]string{"start", "--checkpoint", open, "done"}, 1, "writable by group or others"},
		{[]string{"start", "--checkpoint", "never", "done"}, 1, "does not exist"},
		{[]string{"checkpoint", "remove", "done", missing}, 2, "unknown checkpoint subcommand"},
		{[]string{"checkpoint"}, 2, "needs a subcommand"},
		{[]string{"start", "--checkpoint", missing, "done"}, 1, "does not exist"},
		{[]string{"start", "--checkpoint", t.TempDir(), "done"}, 1, "holds no checkpoint"},
		{[]string{"start", "--checkpoint", missing, "done", "other"}, 2, "takes one container ID"},
	} {
		_, errOut, code := d.CLI(t, tc.args...)
		if code != tc.code || !strings.Contains(errOut, tc.want) {
			t.Errorf("%q: exit %d, stderr %q; want exit %d saying %q", tc.args, code, errOut, tc.code, tc.want)
		}
	}
	if _, err := os.Stat(missing); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a refused checkpoint made its dir: %v", err)
	}
	// Through the API, a relative or missing dir is a bad request.
	c := client.New(d.Socket)
	for _, req := range []api.CheckpointRequest{{Dir: "rel/dir"}, {}, {Name: "a/b"}, {Name: "cp", Dir: missing}, {Name: ".."}} {
		_, err := c.Checkpoint(context.Background(), "done", req)
		var apiErr *api.StatusError
		if !errors.As(err, &apiErr) || apiErr.Status != http.StatusBadRequest {
			t.Errorf("POST checkpoint %+v: %v, want 400", req, err)
		}
	}
	if st := inspectOne(t, d, "done"); st.Status != lifecycle.StatusExited || st.Error != "" {
		t.Errorf("after the bad requests: %+v", st)
	}
}

// TestCheckpointCommandRestore: `checkpoint create` stops the counter, and
// `start --checkpoint` brings it back counting from where it was.
func TestCheckpointCommandRestore(t *testing.T) {
	d := startDaemon(t, t.TempDir(), testenv.Namespace(t))
	if err := c8dbridge.CriuUsable(); err != nil {
		t.Skipf("criu check fails on this host: %s", strings.TrimPrefix(err.Error(), c8dbridge.ErrCriuUnusable.Error()+": "))
	}
	runCounter(t, d, "counter", "--restart", "always")
	logPath := stdio.LogPath(filepath.Join(d.StateDir, "containers", "counter"))
	numbers := func() []int {
		var out []int
		stdio.Read(context.Background(), logPath, stdio.ReadOptions{}, func(e stdio.Entry) error {
			if n, err := strconv.Atoi(strings.TrimSpace(e.Log)); err == nil {
				out = append(out, n)
			}
			return nil
		})
		return out
	}
	waitFor := func(n int) []int {
		deadline := time.Now().Add(20 * time.Second)
		for len(numbers()) < n {
			if time.Now().After(deadline) {
				t.Fatalf("the counter printed %v, want %d numbers", numbers(), n)
			}
			time.Sleep(100 * time.Millisecond)
		}
		return numbers()
	}
	waitFor(5)
	dir := filepath.Join(t.TempDir(), "cp")
	if out, errOut, code := d.CLI(t, "checkpoint", "create", "counter", dir); code != 0 || strings.TrimSpace(out) != dir {
		t.Fatalf("checkpoint create: exit %d, %q %s", code, out, errOut)
	}
	before := numbers()
	time.Sleep(time.Second)
	if st := inspectOne(t, d, "counter"); st.Status != lifecycle.StatusExited || st.NextRestart != nil {
		t.Fatalf("after the checkpoint: %+v; want exited, not restarting", st)
	}
	if _, errOut, code := d.CLI(t, "start", "--checkpoint", dir, "counter"); code != 0 {
		t.Fatalf("start --checkpoint: exit %d: %s", code, errOut)
	}
	got := waitFor(len(before) + 3)
	for i, n := range got[len(before):] {
		if want := before[len(before)-1] + 1 + i; n != want {
			t.Fatalf("restored counter printed %v after %v; want it to go on", got[len(before):], before)
		}
	}
}
