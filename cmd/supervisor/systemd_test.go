package main

import (
	"context"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vigilhq/vigil"
	"github.com/vigilhq/vigil/internal/testenv"
)

// notifySocket listens on a unixgram socket as systemd does, points
// NOTIFY_SOCKET at it, and returns a channel of the messages it receives.
func notifySocket(t *testing.T) <-chan string {
	t.Helper()
	path := shortSocket(t)
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	t.Setenv("NOTIFY_SOCKET", path)
	msgs := make(chan string, 1024)
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := conn.Read(buf)
			if err != nil {
				return
			}
			msgs <- string(buf[:n])
		}
	}()
	return msgs
}

// await returns the first message containing want within d, or fails.
func await(t *testing.T, msgs <-chan string, want string, d time.Duration) string {
	t.Helper()
	deadline := time.After(d)
	for {
		select {
		case m := <-msgs:
			if strings.Contains(m, want) {
				return m
			}
		case <-deadline:
			t.Fatalf("no %q on the notify socket within %v", want, d)
		}
	}
}

// keepAlives counts the WATCHDOG=1 messages received during d.
func keepAlives(msgs <-chan string, d time.Duration) (n int, others []string) {
	deadline := time.After(d)
	for {
		select {
		case m := <-msgs:
			if strings.Contains(m, "WATCHDOG=1") {
				n++
			} else {
				others = append(others, m)
			}
		case <-deadline:
			return n, others
		}
	}
}

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type tWriter struct{ t *testing.T }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// A supervisor actor that hangs (its ping does not answer) stops the
// keep-alives, and the STATUS says why; once it answers, they resume.
func TestWatchdogStopsWhileActorHangs(t *testing.T) {
	msgs := notifySocket(t)
	var hang atomic.Bool
	ping := func(ctx context.Context) error {
		if hang.Load() {
			<-ctx.Done()
			return ctx.Err()
		}
		return nil
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go watchdog(ctx, 100*time.Millisecond, ping, notifier{testLogger(t)})
	if n, _ := keepAlives(msgs, 500*time.Millisecond); n < 3 {
		t.Fatalf("%d keep-alives in 500ms with an interval of 100ms", n)
	}
	hang.Store(true)
	_, first := keepAlives(msgs, 150*time.Millisecond) // one may be under way
	n, others := keepAlives(msgs, 600*time.Millisecond)
	others = append(first, others...)
	if n != 0 {
		t.Fatalf("%d keep-alives while the actor hangs", n)
	}
	if len(others) == 0 || !strings.Contains(strings.Join(others, "\n"), "STATUS=the supervisor actor does not answer") {
		t.Fatalf("no STATUS about the hang: %q", others)
	}
	hang.Store(false)
	if n, _ := keepAlives(msgs, 500*time.Millisecond); n < 2 {
		t.Fatalf("%d keep-alives after the actor answers again", n)
	}
}

// With a real supervisor: keep-alives while its actor answers, none once
// it is gone.
func TestWatchdogFollowsSupervisorActor(t *testing.T) {
	msgs := notifySocket(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	sup, err := vigil.Open(ctx, vigil.Config{ContainerdAddress: testenv.Containerd(t), Namespace: testenv.Namespace(t),
		StateDir: t.TempDir(), Logger: testLogger(t), LoggerBinary: buildBinary(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer sup.Close()
	wctx, stop := context.WithCancel(context.Background())
	defer stop()
	go watchdog(wctx, 200*time.Millisecond, sup.Ping, notifier{testLogger(t)})
	if n, _ := keepAlives(msgs, time.Second); n < 3 {
		t.Fatalf("%d keep-alives in 1s with an interval of 200ms", n)
	}
	if err := sup.Close(); err != nil {
		t.Fatal(err)
	}
	keepAlives(msgs, 150*time.Millisecond)
	if n, _ := keepAlives(msgs, time.Second); n != 0 {
		t.Fatalf("%d keep-alives after the supervisor actor stopped", n)
	}
}

// The daemon as systemd runs it: READY=1 with a STATUS once it serves,
// WATCHDOG=1 at half of WATCHDOG_USEC, STOPPING=1 on SIGTERM.
func TestDaemonNotifiesSystemd(t *testing.T) {
	msgs := notifySocket(t)
	t.Setenv("WATCHDOG_USEC", "400000")
	d := startDaemon(t, t.TempDir(), testenv.Namespace(t))
	ready := await(t, msgs, "READY=1", 10*time.Second)
	if !strings.Contains(ready, "STATUS=serving on "+d.Socket) {
		t.Fatalf("READY without a STATUS: %q", ready)
	}
	if n, _ := keepAlives(msgs, time.Second); n < 2 {
		t.Fatalf("%d keep-alives in 1s with WATCHDOG_USEC=400000", n)
	}
	d.Stop()
	await(t, msgs, "STOPPING=1", 5*time.Second)
}

// The unit file of contrib/systemd: the settings the notify support and
// the containers' survival depend on, and systemd-analyze's check where it
// is installed.
func TestSystemdUnit(t *testing.T) {
	unit, err := os.ReadFile("../../contrib/systemd/vigil.service")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Type=notify", "WatchdogSec=", "KillMode=process", "NotifyAccess=main",
		"ExecStart=/usr/local/bin/supervisor daemon", "Restart=always"} {
		if !strings.Contains(string(unit), "\n"+want) {
			t.Errorf("the unit lacks %s", want)
		}
	}
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Log("systemd-analyze is not installed; the unit is not verified by systemd")
		return
	}
	bin := buildBinary(t)
	dir := t.TempDir()
	local := strings.ReplaceAll(string(unit), "/usr/local/bin/supervisor", bin)
	path := filepath.Join(dir, "vigil.service")
	if err := os.WriteFile(path, []byte(local), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(analyze, "verify", path).CombinedOutput()
	// Without a running systemd, verify may complain about the units this
	// one refers to; only complaints about this unit count.
	for line := range strings.Lines(string(out)) {
		if strings.Contains(line, "vigil.service:") {
			t.Errorf("systemd-analyze verify: %s", line)
		}
	}
	if err != nil {
		t.Logf("systemd-analyze verify: %v\n%s", err, out)
	}
}
