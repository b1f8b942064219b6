package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vigilhq/vigil/client"
	"github.com/vigilhq/vigil/internal/stream"
	"github.com/vigilhq/vigil/internal/testenv"
	"github.com/vigilhq/vigil/stdio"
)

// cliStdin is d.CLI with stdin.
func (d *daemon) cliStdin(t *testing.T, stdin string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, d.binary, d.globalArgs(args...)...)
	cmd.Env = testEnv()
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("supervisor %q did not finish within a minute; stderr:\n%s", args, errb.String())
	}
	return out.String(), errb.String(), cmd.ProcessState.ExitCode()
}

// lineWatcher collects the lines a process prints.
type lineWatcher struct {
	mu    sync.Mutex
	lines []string
}

func watchLines(r io.Reader) *lineWatcher {
	w := &lineWatcher{}
	go func() {
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			w.mu.Lock()
			w.lines = append(w.lines, sc.Text())
			w.mu.Unlock()
		}
	}()
	return w
}

func (w *lineWatcher) has(line string) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, l := range w.lines {
		if l == line {
			return true
		}
	}
	return false
}

func (w *lineWatcher) first() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.lines) == 0 {
		return ""
	}
	return w.lines[0]
}

// startAttach runs `supervisor attach ID` in the background; it is
// interrupted when the test ends.
func (d *daemon) startAttach(t *testing.T, id string) (*exec.Cmd, *lineWatcher) {
	t.Helper()
	cmd := exec.Command(d.binary, d.globalArgs("attach", "--no-stdin", id)...)
	cmd.Env = testEnv()
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	return cmd, watchLines(out)
}

const numberedLoop = "i=0; while [ $i -lt 100000 ]; do echo line $i; i=$((i+1)); sleep 0.01; done"

func TestRunInteractiveEchoesStdin(t *testing.T) {
	rootfs := testenv.Rootfs(t)
	d := startDaemon(t, t.TempDir(), testenv.Namespace(t))
	out, errOut, code := d.cliStdin(t, "hello\nworld\n", "run", "-i", "--name", "cat", "--rootfs", rootfs, "--",
		"/bin/sh", "-c", "cat; echo done >&2; exit 3")
	if code != 3 || out != "hello\nworld\n" || errOut != "done\n" {
		t.Fatalf("run -i: exit %d, stdout %q, stderr %q; want 3, the input, done", code, out, errOut)
	}
	// The output is in the log, as for a detached container.
	logs, _, code := d.CLI(t, "logs", "cat")
	if code != 0 || logs != "hello\nworld\n" {
		t.Fatalf("logs: exit %d, %q", code, logs)
	}
	// An exited container cannot be attached to: a clear error.
	_, errOut, code = d.CLI(t, "attach", "cat")
	if code != 1 || !strings.Contains(errOut, "not running") {
		t.Fatalf("attach to an exited container: exit %d, %q", code, errOut)
	}
}

func TestAttachNonInteractiveRefused(t *testing.T) {
	rootfs := testenv.Rootfs(t)
	d := startDaemon(t, t.TempDir(), testenv.Namespace(t))
	if _, errOut, code := d.CLI(t, "run", "-d", "--name", "plain", "--rootfs", rootfs, "--", "sleep", "600"); code != 0 {
		t.Fatalf("run: %s", errOut)
	}
	t.Cleanup(func() { d.CLI(t, "rm", "-f", "plain") })
	_, errOut, code := d.CLI(t, "attach", "plain")
	if code != 1 || !strings.Contains(errOut, "not interactive") || !strings.Contains(errOut, "logs") {
		t.Fatalf("attach to a detached container: exit %d, %q", code, errOut)
	}
	_, errOut, code = d.CLI(t, "attach", "nosuch")
	if code != 1 || !strings.Contains(errOut, "no such container") {
		t.Fatalf("attach to a missing container: exit %d, %q", code, errOut)
	}
}

// lineNumber is N of "line N", or -1.
func lineNumber(l string) int {
	var n int
	if _, err := fmt.Sscanf(l, "line %d", &n); err != nil {
		return -1
	}
	return n
}

// The key property: an interactive container's output survives a crash of
// the daemon. After kill -9 and a new daemon on the same state dir, a new
// attach sees new output, and the log holds every line written before,
// during and after the outage, each once, in order.
func TestAttachAfterDaemonKill9(t *testing.T) {
	rootfs := testenv.Rootfs(t)
	state, ns := t.TempDir(), testenv.Namespace(t)
	d1 := startDaemon(t, state, ns)
	const id = "loop"
	if _, errOut, code := d1.CLI(t, "run", "-d", "-i", "--name", id, "--rootfs", rootfs, "--",
		"/bin/sh", "-c", numberedLoop); code != 0 {
		t.Fatalf("run: %s", errOut)
	}
	_, w1 := d1.startAttach(t, id)
	waitFor(t, "attach to show line 30", 30*time.Second, func() bool { return w1.has("line 30") })

	d1.Kill9()
	atKill := strings.Count(output(t, state, id), "\n")
	time.Sleep(time.Second) // about 100 lines that wait in the FIFO

	d2 := startDaemon(t, state, ns)
	t.Cleanup(func() { d2.CLI(t, "rm", "-f", id) })
	logFile := stdio.LogPath(filepath.Join(state, "containers", id))
	// The new daemon reads the FIFO on its own, before anyone attaches.
	waitFor(t, "the new daemon to log the lines written while none ran", 30*time.Second, func() bool {
		return strings.Count(output(t, state, id), "\n") > atKill+30
	})
	n := strings.Count(output(t, state, id), "\n")
	_, w2 := d2.startAttach(t, id)
	waitFor(t, "a new attach to show new output", 30*time.Second, func() bool { return lineNumber(w2.first()) >= 0 })
	if first := lineNumber(w2.first()); first < n-5 {
		t.Fatalf("after the restart, attach began at %q, but the log had %d lines before it", w2.first(), n)
	}
	want := fmt.Sprintf("line %d", lineNumber(w2.first())+50)
	waitFor(t, "attach to show "+want, 30*time.Second, func() bool { return w2.has(want) })
	if _, errOut, code := d2.CLI(t, "stop", "-t", "1", id); code != 0 {
		t.Fatalf("stop: %s", errOut)
	}

	text := output(t, state, id)
	lines := strings.Split(strings.TrimSuffix(text, "\n"), "\n")
	for i, l := range lines {
		if want := fmt.Sprintf("line %d", i); l != want {
			t.Fatalf("log line %d of %s is %q, want %q (lost, repeated or out of order)", i, logFile, l, want)
		}
	}
	if len(lines) < lineNumber(want) {
		t.Fatalf("the log has %d lines; attach saw %q", len(lines), want)
	}
}

func TestAttachSeesNewOutputAndDetaches(t *testing.T) {
	rootfs := testenv.Rootfs(t)
	state := t.TempDir()
	d := startDaemon(t, state, testenv.Namespace(t))
	const id = "talk"
	if _, errOut, code := d.CLI(t, "run", "-d", "-i", "--name", id, "--rootfs", rootfs, "--",
		"/bin/sh", "-c", numberedLoop); code != 0 {
		t.Fatalf("run: %s", errOut)
	}
	t.Cleanup(func() { d.CLI(t, "rm", "-f", id) })
	cmd, w := d.startAttach(t, id)
	waitFor(t, "attach to show output", 30*time.Second, func() bool { return lineNumber(w.first()) >= 0 })
	want := fmt.Sprintf("line %d", lineNumber(w.first())+20)
	waitFor(t, "attach to show "+want, 30*time.Second, func() bool { return w.has(want) })
	// The client goes away: the container keeps running.
	cmd.Process.Kill()
	cmd.Wait()
	time.Sleep(200 * time.Millisecond)
	if st := inspect(t, d, id); st.Status.String() != "running" {
		t.Fatalf("after the client went away the container is %s", st.Status)
	}
}

func TestRunTtyResize(t *testing.T) {
	rootfs := testenv.Rootfs(t)
	d := startDaemon(t, t.TempDir(), testenv.Namespace(t))
	const id = "term"
	if _, errOut, code := d.CLI(t, "create", "-t", "--name", id, "--rootfs", rootfs, "--",
		"/bin/sh", "-c", "while true; do [ -t 1 ] && echo tty; stty size; sleep 0.2; done"); code != 0 {
		t.Fatalf("create: %s", errOut)
	}
	t.Cleanup(func() { d.CLI(t, "rm", "-f", id) })
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn, err := client.New(d.Socket).Attach(ctx, id, url.Values{"start": {"1"}})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := conn.WriteJSON(stream.Resize, stream.Size{Width: 111, Height: 33}); err != nil {
		t.Fatal(err)
	}
	var got strings.Builder
	for !strings.Contains(got.String(), "33 111\r\n") {
		k, p, err := conn.ReadFrame()
		if err != nil {
			t.Fatalf("read: %v; got %q", err, got.String())
		}
		if k != stream.Stdout {
			t.Fatalf("%s frame from a terminal: %q", k, p)
		}
		got.Write(p)
		if got.Len() > 1<<20 {
			t.Fatalf("no resized terminal in 1 MiB of output: %q", got.String()[:200])
		}
	}
	if !strings.Contains(got.String(), "tty\r\n") {
		t.Fatalf("the container has no terminal: %q", got.String())
	}
	// The stream ends with the exit code when the container exits.
	if _, errOut, code := d.CLI(t, "kill", id); code != 0 {
		t.Fatalf("kill: %s", errOut)
	}
	for i := 0; ; i++ {
		k, p, err := conn.ReadFrame()
		if err != nil {
			t.Fatalf("no exit frame: %v", err)
		}
		if k == stream.Exit {
			var es stream.ExitStatus
			if err := json.Unmarshal(p, &es); err != nil || es.Code != 137 {
				t.Fatalf("exit frame %s: %v", p, err)
			}
			break
		}
		if i > 100000 {
			t.Fatal("no exit frame")
		}
	}
}
