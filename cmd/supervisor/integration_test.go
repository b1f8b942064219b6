package main

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/containerd/errdefs"
	"github.com/vigilhq/vigil/api"
	"github.com/vigilhq/vigil/client"
	"github.com/vigilhq/vigil/internal/testenv"
	"github.com/vigilhq/vigil/stdio"
)

// loopScript prints numbered lines every 100 ms and exits with 143 on
// SIGTERM. (As PID 1 of its container, sh would ignore SIGTERM without a
// trap.)
const loopScript = `trap 'exit 143' TERM; i=0; while true; do i=$((i+1)); echo "line $i"; sleep 0.1; done`

// setup starts a daemon with a state dir and namespace of the test's own.
func setup(t *testing.T) (d *daemon, rootfs string) {
	t.Helper()
	rootfs = testenv.Rootfs(t)
	return startDaemon(t, t.TempDir(), testenv.Namespace(t)), rootfs
}

// runDetached runs sh -c script in a new container named id and removes it
// with rm -f when the test ends.
func runDetached(t *testing.T, d *daemon, rootfs, id, script string) {
	t.Helper()
	stdout, stderr, code := d.CLI(t, "run", "-d", "--name", id, "--rootfs", rootfs, "--", "sh", "-c", script)
	if code != 0 || stdout != id+"\n" {
		t.Fatalf("run -d %s: exit %d, stdout %q, stderr %q", id, code, stdout, stderr)
	}
	t.Cleanup(func() { d.CLI(t, "rm", "-f", id) })
}

// inspect returns a container's state, failing the test if there is none.
func inspect(t *testing.T, d *daemon, id string) api.Container {
	t.Helper()
	stdout, stderr, code := d.CLI(t, "inspect", id)
	if code != 0 {
		t.Fatalf("inspect %s: exit %d: %s", id, code, stderr)
	}
	var sts []api.Container
	if err := json.Unmarshal([]byte(stdout), &sts); err != nil || len(sts) != 1 {
		t.Fatalf("inspect %s printed %q (%v); want an array of one state", id, stdout, err)
	}
	return sts[0]
}

// eventually polls cond every 100 ms until it holds, failing the test
// after timeout.
func eventually(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, timeout)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// psRows returns the rows of ps (without the header), split into columns.
func psRows(t *testing.T, d *daemon, args ...string) [][]string {
	t.Helper()
	stdout, stderr, code := d.CLI(t, append([]string{"ps"}, args...)...)
	if code != 0 {
		t.Fatalf("ps %q: exit %d: %s", args, code, stderr)
	}
	lines := strings.Split(strings.TrimSuffix(stdout, "\n"), "\n")
	if !strings.HasPrefix(lines[0], "ID ") {
		t.Fatalf("ps printed %q; want a table", stdout)
	}
	var rows [][]string
	for _, l := range lines[1:] {
		rows = append(rows, columns.Split(l, -1))
	}
	return rows
}

// columns splits a table row into its columns.
var columns = regexp.MustCompile(`\s{2,}`)

// bundles lists the container directories under the state dir.
func bundles(t *testing.T, d *daemon) []string {
	t.Helper()
	entries, err := os.ReadDir(filepath.Join(d.StateDir, "containers"))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

// raw sends a request straight to the daemon's socket.
func raw(t *testing.T, d *daemon, method, path, body string) (status int, msg string) {
	t.Helper()
	status, msg, _ = rawCode(t, d, method, path, body)
	return status, msg
}

// rawCode is raw that returns the code of an error answer too; it fails
// the test if an error answer has none.
func rawCode(t *testing.T, d *daemon, method, path, body string) (status int, msg string, code api.Code) {
	t.Helper()
	req, err := http.NewRequest(method, "http://vigil"+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := client.New(d.Socket).HTTPClient().Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 400 {
		var e api.Error
		if err := json.Unmarshal(data, &e); err != nil || e.Message == "" || e.Code == "" ||
			resp.Header.Get("Content-Type") != "application/json" {
			t.Errorf("%s %s: status %d with %q, %q; want a JSON error with a code", method, path, resp.StatusCode,
				resp.Header.Get("Content-Type"), data)
		}
		return resp.StatusCode, e.Message, e.Code
	}
	return resp.StatusCode, string(data), ""
}

// Test 1: run -d, logs, ps, stop, inspect, rm.
func TestLifecycle(t *testing.T) {
	t.Parallel()
	d, rootfs := setup(t)
	const id = "loop"
	runDetached(t, d, rootfs, id, loopScript)

	var logs string
	eventually(t, 10*time.Second, "three lines in the log", func() bool {
		stdout, _, code := d.CLI(t, "logs", id)
		logs = stdout
		return code == 0 && strings.Contains(stdout, "line 3\n")
	})
	if !strings.HasPrefix(logs, "line 1\nline 2\nline 3\n") {
		t.Errorf("logs %q; want numbered lines from 1", logs)
	}
	if stdout, _, _ := d.CLI(t, "logs", "--tail", "1", id); !oneLine.MatchString(stdout) {
		t.Errorf("logs --tail 1: %q; want one numbered line", stdout)
	}

	st := inspect(t, d, id)
	rows := psRows(t, d)
	if len(rows) != 1 || rows[0][0] != id || rows[0][1] != "running" || rows[0][2] != strconv.Itoa(int(st.Pid)) {
		t.Errorf("ps rows %q; want %s running with pid %d", rows, id, st.Pid)
	}

	start := time.Now()
	if _, stderr, code := d.CLI(t, "stop", "-t", "5", id); code != 0 {
		t.Fatalf("stop: exit %d: %s", code, stderr)
	}
	if took := time.Since(start); took > 4*time.Second {
		t.Errorf("stop took %v; the container exits on SIGTERM at once", took)
	}
	st = inspect(t, d, id)
	if st.Status.String() != "exited" || st.Exit == nil || st.Exit.Code != 143 || st.Exit.At.IsZero() || st.Exit.At.Before(st.StartedAt) {
		t.Errorf("after stop: status %q, exit %+v; want exited with code 143 and an exit time", st.Status, st.Exit)
	}
	if rows := psRows(t, d); len(rows) != 0 {
		t.Errorf("ps lists %q; want no running container", rows)
	}
	if rows := psRows(t, d, "-a"); len(rows) != 1 || rows[0][1] != "exited (143)" {
		t.Errorf("ps -a rows %q; want %s exited (143)", rows, id)
	}

	bundle := filepath.Join(d.StateDir, "containers", id)
	if !stdio.HasLog(stdio.LogPath(bundle)) {
		t.Errorf("the log before rm: no file at %s", stdio.LogPath(bundle))
	}
	if stdout, stderr, code := d.CLI(t, "rm", id); code != 0 || stdout != id+"\n" {
		t.Fatalf("rm: exit %d, stdout %q: %s", code, stdout, stderr)
	}
	if _, stderr, code := d.CLI(t, "inspect", id); code != 1 || !strings.Contains(stderr, "no such container") {
		t.Errorf("inspect after rm: exit %d, stderr %q; want 1 and no such container", code, stderr)
	}
	if status, _ := raw(t, d, "GET", "/v1/containers/"+id, ""); status != http.StatusNotFound {
		t.Errorf("GET after rm: status %d, want 404", status)
	}
	if _, err := os.Stat(bundle); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("bundle dir after rm: %v; want it gone", err)
	}
	if rows := psRows(t, d, "-a"); len(rows) != 0 {
		t.Errorf("ps -a after rm: %q", rows)
	}
	// containerd no longer has it: the name can be used again.
	if stdout, stderr, code := d.CLI(t, "create", "--name", id, "--rootfs", rootfs, "--", "true"); code != 0 || stdout != id+"\n" {
		t.Errorf("create with the removed name: exit %d: %s", code, stderr)
	}
	if rows := psRows(t, d, "-a"); len(rows) != 1 || rows[0][1] != "created" {
		t.Errorf("ps -a after create: %q; want one created container", rows)
	}
}

// oneLine is one line of loopScript's output.
var oneLine = regexp.MustCompile(`^line \d+\n$`)

// Test 2: run without -d passes on the output and the exit code.
func TestRunAttached(t *testing.T) {
	t.Parallel()
	d, rootfs := setup(t)
	t.Cleanup(func() { d.CLI(t, "rm", "-f", "attached") })
	stdout, stderr, code := d.CLI(t, "run", "--name", "attached", "--rootfs", rootfs, "--",
		"sh", "-c", "echo hi; echo oops >&2; exit 3")
	if stdout != "hi\n" || stderr != "oops\n" || code != 3 {
		t.Errorf("run: stdout %q, stderr %q, exit %d; want hi, oops and 3", stdout, stderr, code)
	}
	// And with -e, -w and a random ID.
	stdout, stderr, code = d.CLI(t, "run", "--rootfs", rootfs, "-e", "GREETING=hello", "-w", "/tmp", "--",
		"sh", "-c", `echo "$GREETING from $(pwd)"`)
	if stdout != "hello from /tmp\n" || code != 0 {
		t.Errorf("run with -e and -w: stdout %q, stderr %q, exit %d", stdout, stderr, code)
	}
	var ids []string
	for _, row := range psRows(t, d, "-a") {
		ids = append(ids, row[0])
		if row[0] != "attached" {
			t.Cleanup(func() { d.CLI(t, "rm", "-f", row[0]) })
		}
	}
	if len(ids) != 2 {
		t.Errorf("ps -a lists %q; want attached and one random ID", ids)
	}
}

// Test 3: bad input is refused with a clear message and creates nothing.
func TestBadInput(t *testing.T) {
	t.Parallel()
	d, rootfs := setup(t)

	t.Run("invalid IDs", func(t *testing.T) {
		for _, id := range []string{"../x", "a/b", "", strings.Repeat("a", 200)} {
			_, stderr, code := d.CLI(t, "run", "-d", "--name", id, "--rootfs", rootfs, "--", "true")
			if code == 0 || !strings.Contains(stderr, "invalid container ID") {
				t.Errorf("run --name %q: exit %d, stderr %q; want an invalid ID error", id, code, stderr)
			}
			// The daemon refuses them too.
			body, _ := json.Marshal(api.CreateRequest{Config: api.Config{ID: id, Rootfs: rootfs, Args: []string{"true"}}})
			if status, msg := raw(t, d, "POST", "/v1/containers", string(body)); status != http.StatusBadRequest ||
				!strings.Contains(msg, "invalid container ID") {
				t.Errorf("POST id %q: status %d, error %q; want 400 and an invalid ID", id, status, msg)
			}
		}
		if rows := psRows(t, d, "-a"); len(rows) != 0 {
			t.Errorf("ps -a lists %q; want nothing", rows)
		}
		if b := bundles(t, d); len(b) != 0 {
			t.Errorf("directories under the state dir: %q; want none", b)
		}
	})

	// The container the subtests below must leave untouched.
	runDetached(t, d, rootfs, "first", loopScript)

	t.Run("ID in use", func(t *testing.T) {
		before := inspect(t, d, "first")
		_, stderr, code := d.CLI(t, "run", "-d", "--name", "first", "--rootfs", rootfs, "--", "true")
		if code != 1 || !strings.Contains(stderr, `"first" is already in use`) {
			t.Errorf("run with a name in use: exit %d, stderr %q", code, stderr)
		}
		after := inspect(t, d, "first")
		if after.Status.String() != "running" || after.Pid != before.Pid || after.Starts != 1 || !after.CreatedAt.Equal(before.CreatedAt) {
			t.Errorf("the first container changed: before %+v, after %+v", before, after)
		}
	})

	t.Run("missing rootfs", func(t *testing.T) {
		missing := filepath.Join(t.TempDir(), "nothing")
		_, stderr, code := d.CLI(t, "run", "-d", "--name", "norootfs", "--rootfs", missing, "--", "true")
		if code != 1 || !strings.Contains(stderr, "rootfs") || !strings.Contains(stderr, "not a directory") {
			t.Errorf("run with a missing rootfs: exit %d, stderr %q", code, stderr)
		}
		if _, stderr, code := d.CLI(t, "inspect", "norootfs"); code != 1 || !strings.Contains(stderr, "no such container") {
			t.Errorf("inspect norootfs: exit %d, stderr %q", code, stderr)
		}
		if b := bundles(t, d); strings.Join(b, " ") != "first" {
			t.Errorf("directories under the state dir: %q; want only first", b)
		}
	})

	t.Run("unknown container", func(t *testing.T) {
		for _, args := range [][]string{
			{"start", "ghost"}, {"stop", "ghost"}, {"kill", "ghost"}, {"rm", "ghost"}, {"rm", "-f", "ghost"},
			{"inspect", "ghost"}, {"logs", "ghost"}, {"logs", "-f", "ghost"}, {"wait", "ghost"},
		} {
			_, stderr, code := d.CLI(t, args...)
			if code != 1 || !strings.Contains(stderr, `no such container: "ghost"`) {
				t.Errorf("%q: exit %d, stderr %q; want 1 and no such container", args, code, stderr)
			}
		}
	})

	t.Run("malformed requests", func(t *testing.T) {
		for _, tc := range []struct {
			method, path, body string
			status             int
			code               api.Code
			want               string
		}{
			{"POST", "/v1/containers", `{"id":`, 400, api.CodeInvalidArgument, "not valid JSON"},
			{"POST", "/v1/containers", `{"id":"m1","rootfs":"` + rootfs + `","args":["true"],"privileged":true}`, 400, api.CodeInvalidArgument, `unknown field "privileged"`},
			{"POST", "/v1/containers", `{"id":"m1","rootfs":"` + rootfs + `"}`, 400, api.CodeInvalidArgument, "no command"},
			{"POST", "/v1/containers", `{"id":"m1","env":["` + strings.Repeat("x", 2<<20) + `"]}`, 400, api.CodeInvalidArgument, "larger than"},
			{"POST", "/v1/containers", `{"id":"first","rootfs":"` + rootfs + `","args":["true"]}`, 409, api.CodeAlreadyExists, "already in use"},
			{"PUT", "/v1/containers", `{}`, 405, api.CodeMethodNotAllowed, "not allowed"},
			{"GET", "/v1/containers/first/start", "", 405, api.CodeMethodNotAllowed, "not allowed"},
			{"GET", "/v1/bogus", "", 404, api.CodeNotFound, "no such endpoint"},
			{"GET", "/v1/containers/nosuch", "", 404, api.CodeNotFound, "no such container"},
			{"POST", "/v1/containers/first/kill?signal=NOPE", "", 400, api.CodeInvalidArgument, "unknown signal"},
			{"POST", "/v1/containers/first/unpause", "", 409, api.CodeFailedPrecondition, "not paused"},
		} {
			status, msg, code := rawCode(t, d, tc.method, tc.path, tc.body)
			if status != tc.status || code != tc.code || !strings.Contains(msg, tc.want) {
				t.Errorf("%s %s: status %d, code %q, error %q; want %d, %q and %q", tc.method, tc.path, status, code, msg,
					tc.status, tc.code, tc.want)
			}
		}
		// The client gives them back as errors of their class.
		c := client.New(d.Socket)
		if _, err := c.Inspect(t.Context(), "nosuch"); !errdefs.IsNotFound(err) {
			t.Errorf("client: inspect nosuch: %v, want a NotFound-class error", err)
		}
		_, err := c.Create(t.Context(), api.CreateRequest{Config: api.Config{ID: "first", Rootfs: rootfs, Args: []string{"true"}}})
		if !errdefs.IsAlreadyExists(err) {
			t.Errorf("client: create first again: %v, want an AlreadyExists-class error", err)
		}
		if _, err := c.Unpause(t.Context(), "first"); !errdefs.IsFailedPrecondition(err) {
			t.Errorf("client: unpause a running container: %v, want a FailedPrecondition-class error", err)
		}
		if _, stderr, code := d.CLI(t, "info"); code != 0 {
			t.Errorf("info after malformed requests: exit %d: %s", code, stderr)
		}
		if b := bundles(t, d); strings.Join(b, " ") != "first" {
			t.Errorf("directories under the state dir: %q; want only first", b)
		}
	})
}

// Test 4: kill with a signal, a bad signal, and wait.
func TestKillAndWait(t *testing.T) {
	t.Parallel()
	d, rootfs := setup(t)
	const id = "target"
	runDetached(t, d, rootfs, id, loopScript)
	// The trap is set once the first line is out.
	eventually(t, 10*time.Second, "the first line", func() bool {
		stdout, _, _ := d.CLI(t, "logs", id)
		return strings.Contains(stdout, "line 1\n")
	})

	if _, stderr, code := d.CLI(t, "kill", "-s", "BOGUS", id); code != 1 || !strings.Contains(stderr, `"BOGUS"`) ||
		!strings.Contains(stderr, "unknown signal") {
		t.Errorf("kill -s BOGUS: exit %d, stderr %q; want 1 and unknown signal", code, stderr)
	}
	if st := inspect(t, d, id); st.Status.String() != "running" {
		t.Fatalf("after a bad kill the container is %s", st.Status)
	}
	if _, stderr, code := d.CLI(t, "wait", "--condition", "later", id); code != 1 || !strings.Contains(stderr, "condition") {
		t.Errorf("wait --condition later: exit %d, stderr %q", code, stderr)
	}

	// wait blocks until the kill below ends the container.
	waitOut := make(chan string, 1)
	go func() {
		stdout, stderr, code := d.CLI(t, "wait", id)
		if code != 0 {
			t.Errorf("wait: exit %d: %s", code, stderr)
		}
		waitOut <- stdout
	}()
	time.Sleep(300 * time.Millisecond)
	if _, stderr, code := d.CLI(t, "kill", "-s", "TERM", id); code != 0 {
		t.Fatalf("kill -s TERM: exit %d: %s", code, stderr)
	}
	select {
	case out := <-waitOut:
		if out != "143\n" {
			t.Errorf("wait printed %q, want 143", out)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("wait did not return after the container exited")
	}
	if stdout, _, code := d.CLI(t, "wait", id, id); stdout != "143\n143\n" || code != 0 {
		t.Errorf("wait on an exited container: %q, exit %d; want 143 twice", stdout, code)
	}
	if _, stderr, code := d.CLI(t, "kill", id); code != 1 || !strings.Contains(stderr, "exited") {
		t.Errorf("kill an exited container: exit %d, stderr %q", code, stderr)
	}
}

// Test 5: SIGTERM to the daemon leaves the containers running, and the next
// daemon adopts them.
func TestDaemonStopLeavesContainersRunning(t *testing.T) {
	t.Parallel()
	rootfs := testenv.Rootfs(t)
	stateDir, ns := t.TempDir(), testenv.Namespace(t)
	d1 := startDaemon(t, stateDir, ns)
	const id = "survivor"
	if _, stderr, code := d1.CLI(t, "run", "-d", "--name", id, "--rootfs", rootfs, "--", "sh", "-c", loopScript); code != 0 {
		t.Fatalf("run: exit %d: %s", code, stderr)
	}
	pid := inspect(t, d1, id).Pid

	d1.Stop()
	if code := d1.Cmd.ProcessState.ExitCode(); code != 0 {
		t.Errorf("the daemon exited with %d on SIGTERM, want 0:\n%s", code, d1.Stderr.String())
	}
	if !strings.Contains(d1.Stderr.String(), `"msg":"serving"`) {
		t.Errorf("the daemon never logged that it served:\n%s", d1.Stderr.String())
	}
	if _, err := os.Stat(d1.Socket); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the socket after shutdown: %v; want it removed", err)
	}
	if err := syscall.Kill(int(pid), 0); err != nil {
		t.Errorf("the container's process %d after the daemon stopped: %v", pid, err)
	}
	if _, stderr, code := d1.CLI(t, "ps"); code != 1 || !strings.Contains(stderr, "cannot reach the vigil daemon") {
		t.Errorf("ps without a daemon: exit %d, stderr %q", code, stderr)
	}

	d2 := startDaemon(t, stateDir, ns)
	t.Cleanup(func() { d2.CLI(t, "rm", "-f", id) }) // runs before d2 stops
	rows := psRows(t, d2)
	if len(rows) != 1 || rows[0][0] != id || rows[0][1] != "running" || rows[0][2] != strconv.Itoa(int(pid)) {
		t.Errorf("ps after the restart: %q; want %s running with pid %d", rows, id, pid)
	}
	// The new daemon controls it.
	if _, stderr, code := d2.CLI(t, "rm", "-f", id); code != 0 {
		t.Fatalf("rm -f: exit %d: %s", code, stderr)
	}
	eventually(t, 10*time.Second, "the container's process gone", func() bool {
		return syscall.Kill(int(pid), 0) != nil
	})
}

// The socket: its mode, a second daemon refused, a stale one replaced.
func TestDaemonSocket(t *testing.T) {
	t.Parallel()
	stateDir, ns := t.TempDir(), testenv.Namespace(t)
	d := startDaemon(t, stateDir, ns)
	if fi, err := os.Stat(d.Socket); err != nil || fi.Mode().Perm() != 0o600 || fi.Mode().Type() != os.ModeSocket {
		t.Errorf("socket %v, %v; want a socket with mode 0600", fi, err)
	}

	// A second daemon on the same socket is refused, and the first one
	// still serves.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	second := exec.CommandContext(ctx, d.binary, "--containerd", d.Address, "--namespace", ns,
		"--state-dir", t.TempDir(), "--socket", d.Socket, "daemon")
	second.Env = testEnv()
	out, err := second.CombinedOutput()
	if code := second.ProcessState.ExitCode(); code != 1 || !strings.Contains(string(out), "already serving at "+d.Socket) {
		t.Errorf("second daemon: exit %d (%v), output %q; want 1 and already serving", code, err, out)
	}
	if _, stderr, code := d.CLI(t, "info"); code != 0 {
		t.Errorf("info after a second daemon was refused: exit %d: %s", code, stderr)
	}

	// After a crash the socket file stays; the next daemon replaces it.
	d.Kill9()
	if _, err := os.Stat(d.Socket); err != nil {
		t.Fatalf("socket after SIGKILL: %v; want it left behind", err)
	}
	d2 := startDaemonAt(t, d.Socket, stateDir, ns)
	if !strings.Contains(d2.Log(), "removed a stale socket") {
		t.Errorf("the daemon did not say it replaced the stale socket:\n%s", d2.Log())
	}

	// A file that is not a socket is never removed.
	notSocket := filepath.Join(filepath.Dir(d.Socket), "file")
	os.WriteFile(notSocket, []byte("keep me"), 0o600)
	third := exec.CommandContext(ctx, d.binary, "--containerd", d.Address, "--state-dir", t.TempDir(), "--socket", notSocket, "daemon")
	third.Env = testEnv()
	out, _ = third.CombinedOutput()
	if data, err := os.ReadFile(notSocket); err != nil || string(data) != "keep me" || !strings.Contains(string(out), "not a socket") {
		t.Errorf("daemon on a regular file: output %q; file %q, %v", out, data, err)
	}

	// Socket modes that let others write, and directories where someone
	// else could swap the socket, are refused before anything is opened.
	base, err := os.MkdirTemp("", "vgs")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(base)
	open := filepath.Join(base, "open")
	os.Mkdir(open, 0o700)
	os.Chmod(open, 0o777)
	os.Symlink(filepath.Dir(d.Socket), filepath.Join(base, "link"))
	for _, c := range []struct{ socket, mode, want string }{
		{filepath.Join(base, "s1"), "0666", "lets every user write"},
		{filepath.Join(open, "sock"), "0600", "group or others could replace"},
		{filepath.Join(base, "link", "sock"), "0600", "not a directory"},
	} {
		cmd := exec.CommandContext(ctx, d.binary, "--containerd", d.Address, "--state-dir", t.TempDir(), "--socket", c.socket, "daemon", "--socket-mode", c.mode)
		cmd.Env = testEnv()
		out, _ := cmd.CombinedOutput()
		if cmd.ProcessState.ExitCode() == 0 || !strings.Contains(string(out), c.want) {
			t.Errorf("daemon on %s with mode %s: exit %d, %q; want a refusal saying %q", c.socket, c.mode, cmd.ProcessState.ExitCode(), out, c.want)
		}
	}
}
