package vigil_test

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vigilhq/vigil"
	"github.com/vigilhq/vigil/actors/lifecycle"
)

// syncBuffer is an output sink that a test may read while it is written.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// waitFor waits until the buffer holds want.
func (b *syncBuffer) waitFor(t *testing.T, want string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(b.String(), want) {
		if time.Now().After(deadline) {
			t.Fatalf("no %q in the output after 20s; got %q", want, b.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// checkNumbered checks that text holds the lines "line 0" to "line n-1" (at
// least), each once and in order, and nothing else.
func checkNumbered(t *testing.T, text string, n int) {
	t.Helper()
	lines := strings.Split(strings.TrimSuffix(text, "\n"), "\n")
	if len(lines) < n {
		t.Fatalf("%d lines, want at least %d: %q", len(lines), n, text)
	}
	for i, l := range lines {
		if want := fmt.Sprintf("line %d", i); l != want {
			t.Fatalf("line %d is %q, want %q (lost, repeated or out of order); all: %q", i, l, want, text)
		}
	}
}

func TestAttachStdinEcho(t *testing.T) {
	e := newEnv(t)
	s := e.open(t)
	defer s.Close()
	ctx := ctxT(t)
	cfg := e.config("cat", "cat")
	cfg.Interactive = true
	if _, err := s.Create(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	var out, errOut syncBuffer
	at, err := s.Attach(ctx, "cat", vigil.AttachOptions{
		Stdin: strings.NewReader("hello\nworld\n"), CloseStdin: true,
		Stdout: &out, Stderr: &errOut, Start: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	code, err := at.Wait(ctx)
	if err != nil || code != 0 {
		t.Fatalf("wait: code %d, %v", code, err)
	}
	if got := out.String(); got != "hello\nworld\n" {
		t.Fatalf("stdout %q", got)
	}
	if got := logText(t, s.LogPath("cat")); got != "hello\nworld\n" {
		t.Fatalf("log %q", got)
	}
	// The container exited: attaching again is refused, with a reason.
	_, err = s.Attach(ctx, "cat", vigil.AttachOptions{Stdout: &out})
	if !errors.Is(err, vigil.ErrInvalidTransition) || !strings.Contains(err.Error(), "not running") {
		t.Fatalf("attach to an exited container: %v", err)
	}
}

func TestAttachStderrAndExitCode(t *testing.T) {
	e := newEnv(t)
	s := e.open(t)
	defer s.Close()
	ctx := ctxT(t)
	cfg := e.config("err", "echo out; echo oops >&2; exit 3")
	cfg.Interactive = true
	if _, err := s.Create(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	var out, errOut syncBuffer
	at, err := s.Attach(ctx, "err", vigil.AttachOptions{Stdout: &out, Stderr: &errOut, Start: true})
	if err != nil {
		t.Fatal(err)
	}
	if code, err := at.Wait(ctx); err != nil || code != 3 {
		t.Fatalf("wait: code %d, %v", code, err)
	}
	if out.String() != "out\n" || errOut.String() != "oops\n" {
		t.Fatalf("stdout %q, stderr %q", out.String(), errOut.String())
	}
}

func TestAttachNotInteractive(t *testing.T) {
	e := newEnv(t)
	s := e.open(t)
	defer s.Close()
	ctx := ctxT(t)
	if _, err := s.Create(ctx, e.config("plain", "sleep 600")); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Remove(ctxT(t), "plain", true) })
	if _, err := s.Start(ctx, "plain"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Attach(ctx, "plain", vigil.AttachOptions{}); !errors.Is(err, vigil.ErrNotInteractive) {
		t.Fatalf("attach to a detached container: %v", err)
	}
	if _, err := s.Attach(ctx, "../x", vigil.AttachOptions{}); !errors.Is(err, vigil.ErrInvalidID) {
		t.Fatalf("attach with a bad ID: %v", err)
	}
	if _, err := s.Attach(ctx, "nosuch", vigil.AttachOptions{}); !errors.Is(err, vigil.ErrNotFound) {
		t.Fatalf("attach to a missing container: %v", err)
	}
}

func TestAttachTty(t *testing.T) {
	e := newEnv(t)
	s := e.open(t)
	defer s.Close()
	ctx := ctxT(t)
	cfg := e.config("tty", "while true; do if [ -t 1 ]; then echo tty-yes; fi; stty size; sleep 0.2; done")
	cfg.Tty, cfg.Interactive = true, true
	if _, err := s.Create(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Remove(ctxT(t), "tty", true) })
	var out syncBuffer
	at, err := s.Attach(ctx, "tty", vigil.AttachOptions{Stdout: &out, Start: true})
	if err != nil {
		t.Fatal(err)
	}
	defer at.Detach()
	out.waitFor(t, "tty-yes\r\n") // a terminal turns \n into \r\n
	if err := at.Resize(ctx, 123, 45); err != nil {
		t.Fatal(err)
	}
	out.waitFor(t, "45 123")
	if err := at.Resize(ctx, 0, 10); !errors.Is(err, vigil.ErrInvalidArgument) {
		t.Fatalf("resize to 0 columns: %v", err)
	}
}

// The key property: a supervisor restart loses no output of an interactive
// container. Lines written while no supervisor runs wait in the FIFO and
// come, in order, to the log and to a client attached after the restart.
func TestAttachAcrossSupervisorRestart(t *testing.T) {
	e := newEnv(t)
	s := e.open(t)
	ctx := ctxT(t)
	cfg := e.config("loop", "i=0; while [ $i -lt 100000 ]; do echo line $i; i=$((i+1)); sleep 0.02; done")
	cfg.Interactive = true
	if _, err := s.Create(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		s2 := e.open(t)
		s2.Remove(ctxT(t), "loop", true)
		s2.Close()
	})
	if _, err := s.Start(ctx, "loop"); err != nil {
		t.Fatal(err)
	}
	var before syncBuffer
	at, err := s.Attach(ctx, "loop", vigil.AttachOptions{Stdout: &before})
	if err != nil {
		t.Fatal(err)
	}
	before.waitFor(t, "line 20\n")
	at.Detach()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second) // about 50 lines while nobody reads

	s = e.open(t)
	var after syncBuffer
	at, err = s.Attach(ctx, "loop", vigil.AttachOptions{Stdout: &after})
	if err != nil {
		t.Fatal(err)
	}
	after.waitFor(t, "line 90\n")
	at.Detach()
	if _, err := s.Stop(ctx, "loop", time.Second); err != nil {
		t.Fatal(err)
	}
	s.Close()
	checkNumbered(t, logText(t, s.LogPath("loop")), 90)
}

// The stdin of an interactive container stays open when a client's input
// ends without CloseStdin, and across a supervisor restart.
func TestAttachStdinStaysOpen(t *testing.T) {
	e := newEnv(t)
	s := e.open(t)
	ctx := ctxT(t)
	cfg := e.config("keep", "cat")
	cfg.Interactive = true
	if _, err := s.Create(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		s2 := e.open(t)
		s2.Remove(ctxT(t), "keep", true)
		s2.Close()
	})
	if _, err := s.Start(ctx, "keep"); err != nil {
		t.Fatal(err)
	}
	say := func(s *vigil.Supervisor, word string) {
		t.Helper()
		var out syncBuffer
		at, err := s.Attach(ctx, "keep", vigil.AttachOptions{Stdin: strings.NewReader(word + "\n"), Stdout: &out})
		if err != nil {
			t.Fatal(err)
		}
		out.waitFor(t, word+"\n")
		at.Detach()
	}
	say(s, "one")
	say(s, "two")
	s.Close()
	s = e.open(t)
	defer s.Close()
	say(s, "three")
	if st, err := s.Inspect(ctx, "keep"); err != nil || st.Status.String() != "running" {
		t.Fatalf("cat ended: %+v %v", st, err)
	}
	// Bad input: a container without a terminal cannot be resized.
	at, err := s.Attach(ctx, "keep", vigil.AttachOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer at.Detach()
	if err := at.Resize(ctx, 80, 24); !errors.Is(err, vigil.ErrInvalidArgument) {
		t.Fatalf("resize without a terminal: %v", err)
	}
}

// With a restart policy, the attachment ends with the exit of the run it
// joined, not a later one.
func TestAttachEndsWithItsRun(t *testing.T) {
	e := newEnv(t)
	s := e.open(t)
	defer s.Close()
	ctx := ctxT(t)
	cfg := e.config("again", "echo run; exit 4")
	cfg.Interactive = true
	cfg.Restart = lifecycle.RestartPolicy{Name: lifecycle.RestartOnFailure, MaxRetries: 2, Delay: 50 * time.Millisecond}
	if _, err := s.Create(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	var out syncBuffer
	at, err := s.Attach(ctx, "again", vigil.AttachOptions{Stdout: &out, Start: true})
	if err != nil {
		t.Fatal(err)
	}
	if code, err := at.Wait(ctx); err != nil || code != 4 {
		t.Fatalf("wait: %d %v", code, err)
	}
	if out.String() != "run\n" {
		t.Fatalf("output %q: want the one run's", out.String())
	}
	// The restarts write to the same log.
	st, err := s.Wait(ctx, "again", 0)
	for i := 0; err == nil && (st.NextRestart != nil || st.Status.String() != "exited") && i < 100; i++ {
		time.Sleep(100 * time.Millisecond)
		st, err = s.Inspect(ctx, "again")
	}
	if err != nil || st.RestartCount != 2 {
		t.Fatalf("after the restarts: %+v %v", st, err)
	}
	if got := logText(t, s.LogPath("again")); got != "run\nrun\nrun\n" {
		t.Fatalf("log %q", got)
	}
}

// A start that fails is answered with its error; nothing hangs.
func TestAttachStartFails(t *testing.T) {
	e := newEnv(t)
	s := e.open(t)
	defer s.Close()
	ctx := ctxT(t)
	cfg := lifecycle.Config{ID: "broken", Rootfs: e.rootfs, Args: []string{"/no/such/program"}, Interactive: true}
	if _, err := s.Create(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	var out syncBuffer
	if _, err := s.Attach(ctx, "broken", vigil.AttachOptions{Stdout: &out, Start: true}); err == nil {
		t.Fatal("attach with the start of a missing program succeeded")
	}
	st, err := s.Inspect(ctx, "broken")
	if err != nil || st.Status != lifecycle.StatusExited {
		t.Fatalf("after the failed start: %+v %v", st, err)
	}
	// Running already: a second start is refused before anything.
	cfg = e.config("twice", "sleep 600")
	cfg.Interactive = true
	if _, err := s.Create(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Remove(ctxT(t), "twice", true) })
	at, err := s.Attach(ctx, "twice", vigil.AttachOptions{Start: true})
	if err != nil {
		t.Fatal(err)
	}
	defer at.Detach()
	if _, err := s.Attach(ctx, "twice", vigil.AttachOptions{Start: true}); !errors.Is(err, vigil.ErrInvalidTransition) {
		t.Fatalf("attach with start of a running container: %v", err)
	}
}
