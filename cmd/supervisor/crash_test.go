package main

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vigilhq/vigil/internal/testenv"
	"github.com/vigilhq/vigil/stdio"
)

// output reads a container's log straight from the state dir and returns
// the text it captured, in order.
func output(t *testing.T, stateDir, id string) string {
	t.Helper()
	var b strings.Builder
	err := stdio.Read(context.Background(), stdio.LogPath(filepath.Join(stateDir, "containers", id)),
		stdio.ReadOptions{}, func(e stdio.Entry) error {
			b.WriteString(e.Log)
			return nil
		})
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	return b.String()
}

func waitFor(t *testing.T, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// writerScript prints numbered lines as fast as it can, a bounded number
// of them (about 3 MiB) so that a failed test cannot fill the disk, then
// idles for a while.
const writerScript = `i=0; while [ $i -lt 300000 ]; do i=$((i+1)); echo "line $i"; done; sleep 120`

// lastLine returns the number of the last complete "line N" in the log at
// base.
func lastLine(t *testing.T, base string) int {
	t.Helper()
	n := 0
	err := stdio.Read(context.Background(), base, stdio.ReadOptions{Tail: 1}, func(e stdio.Entry) error {
		if v, err := strconv.Atoi(strings.TrimPrefix(strings.TrimSuffix(e.Log, "\n"), "line ")); err == nil && strings.HasSuffix(e.Log, "\n") {
			n = v
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func fileSize(path string) int64 {
	fi, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return fi.Size()
}

// TestKill9WhileWritingLosesNoLine kills the daemon with SIGKILL while a
// container prints numbered lines as fast as it can, lets it print 1 MiB
// more while no daemon runs, and starts a new daemon: the container still
// runs, and its log holds every line exactly once, in order.
func TestKill9WhileWritingLosesNoLine(t *testing.T) {
	rootfs := testenv.Rootfs(t)
	state, ns := t.TempDir(), testenv.Namespace(t)
	d1 := startDaemon(t, state, ns)
	const id = "writer"
	// One log file, never rotated: the test watches it grow.
	if _, errOut, code := d1.CLI(t, "run", "-d", "--name", id, "--rootfs", rootfs, "--log-opt", "max-size=100g", "--",
		"/bin/sh", "-c", writerScript); code != 0 {
		t.Fatalf("run: %s", errOut)
	}
	logFile := stdio.LogPath(filepath.Join(state, "containers", id)) + ".1"
	waitFor(t, "the first lines", 30*time.Second, func() bool { return fileSize(logFile) > 10000 })

	d1.Kill9()
	killedAt := lastLine(t, strings.TrimSuffix(logFile, ".1")) // the last line logged before the kill, or later
	// Each record carries more than its line, so 1 MiB of output makes
	// the file grow by more than 1 MiB; the exact count is checked below.
	grown := fileSize(logFile) + 1<<20
	waitFor(t, "1 MiB of output while the daemon is down", 2*time.Minute, func() bool {
		return fileSize(logFile) >= grown
	})

	d2 := startDaemon(t, state, ns)
	t.Cleanup(func() { d2.CLI(t, "rm", "-f", id) })
	if st := inspect(t, d2, id); st.Status.String() != "running" {
		t.Fatalf("after restart the container is %s, want running", st.Status)
	}
	ps, _, _ := d2.CLI(t, "ps")
	if !strings.Contains(ps, id) || !strings.Contains(ps, "running") {
		t.Fatalf("ps does not show %s running:\n%s", id, ps)
	}
	if _, errOut, code := d2.CLI(t, "stop", "-t", "1", id); code != 0 {
		t.Fatalf("stop: %s", errOut)
	}

	text := output(t, state, id)
	if !strings.HasSuffix(text, "\n") {
		// The last line may be cut by the kill; everything before it is whole.
		text = text[:strings.LastIndex(text, "\n")+1]
	}
	lines := strings.Split(strings.TrimSuffix(text, "\n"), "\n")
	after := 0 // bytes printed after the kill
	for i, l := range lines {
		if want := "line " + strconv.Itoa(i+1); l != want {
			t.Fatalf("log line %d is %q, want %q (lost, repeated or out of order)", i+1, l, want)
		}
		if i+1 > killedAt {
			after += len(l) + 1
		}
	}
	if after < 1<<20 {
		t.Fatalf("only %d bytes were printed after line %d, when the daemon was killed; want 1 MiB", after, killedAt)
	}
	t.Logf("%d lines, %d bytes after the kill, all present once and in order", len(lines), after)
}

// TestExitWhileDaemonDownIsRecorded: a container exits with code 7 while
// no daemon runs; the next daemon records the exit with containerd's exit
// time, not the time it found out.
func TestExitWhileDaemonDownIsRecorded(t *testing.T) {
	rootfs := testenv.Rootfs(t)
	state, ns := t.TempDir(), testenv.Namespace(t)
	d1 := startDaemon(t, state, ns)
	const id = "seven"
	if _, errOut, code := d1.CLI(t, "run", "-d", "--name", id, "--rootfs", rootfs, "--",
		"/bin/sh", "-c", "sleep 1; exit 7"); code != 0 {
		t.Fatalf("run: %s", errOut)
	}
	started := inspect(t, d1, id)
	if started.Status.String() != "running" {
		t.Fatalf("container is %s, want running", started.Status)
	}
	d1.Kill9()
	time.Sleep(2500 * time.Millisecond) // it exits about 1 s after its start
	restart := time.Now()

	d2 := startDaemon(t, state, ns)
	t.Cleanup(func() { d2.CLI(t, "rm", "-f", id) })
	st := inspect(t, d2, id)
	if st.Status.String() != "exited" || st.Exit == nil || st.Exit.Code != 7 {
		t.Fatalf("after restart: status %s, exit %+v; want exited with code 7", st.Status, st.Exit)
	}
	if d := st.Exit.At.Sub(started.StartedAt); d < 800*time.Millisecond || !st.Exit.At.Before(restart) {
		t.Fatalf("exit time %v: %v after the start and not before the restart at %v; want containerd's exit time",
			st.Exit.At, d, restart)
	}
	out, _, code := d2.CLI(t, "wait", id)
	if code != 0 || strings.TrimSpace(out) != "7" {
		t.Fatalf("wait printed %q (exit %d), want 7", out, code)
	}
	if st.Exit.Reason != "" {
		t.Fatalf("a real exit carries a reason: %q", st.Exit.Reason)
	}
}
