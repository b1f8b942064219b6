package vigil_test

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vigilhq/vigil"
)

// execOut runs an exec to its end and returns its exit code and output.
func execOut(t *testing.T, s *vigil.Supervisor, id string, cfg vigil.ExecConfig) (int, string, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out, errb strings.Builder
	cfg.Stdout, cfg.Stderr = &out, &errb
	e, err := s.Exec(ctx, id, cfg)
	if err != nil {
		t.Fatalf("exec %q: %v", cfg.Args, err)
	}
	code, err := e.Wait(ctx)
	if err != nil {
		t.Fatalf("exec %q: wait: %v", cfg.Args, err)
	}
	return code, out.String(), errb.String()
}

func TestEmbeddedExec(t *testing.T) {
	e := newEnv(t)
	s := e.open(t)
	defer s.Close()
	ctx := ctxT(t)
	if _, err := s.Create(ctx, e.config("box", `trap 'exit 0' TERM; while true; do sleep 1; done`)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Remove(context.Background(), "box", true) })
	if _, err := s.Start(ctx, "box"); err != nil {
		t.Fatal(err)
	}

	if code, out, errOut := execOut(t, s, "box", vigil.ExecConfig{Args: []string{"sh", "-c", "echo out; echo err >&2; exit 3"}}); code != 3 || out != "out\n" || errOut != "err\n" {
		t.Fatalf("exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	// Input that ended before the process started still closes its stdin.
	if code, out, _ := execOut(t, s, "box", vigil.ExecConfig{Args: []string{"cat"}, Stdin: strings.NewReader("")}); code != 0 || out != "" {
		t.Fatalf("cat of empty input: exit %d, stdout %q", code, out)
	}
	// Input that ends while the process runs.
	pr, pw := io.Pipe()
	var out strings.Builder
	x, err := s.Exec(ctx, "box", vigil.ExecConfig{Args: []string{"cat"}, Stdin: pr, Stdout: &out})
	if err != nil {
		t.Fatal(err)
	}
	pw.Write([]byte("late\n"))
	pw.Close()
	if code, err := x.Wait(ctx); code != 0 || err != nil || out.String() != "late\n" {
		t.Fatalf("cat: exit %d (%v), stdout %q", code, err, out.String())
	}

	// A terminal whose size is set at start and changed later.
	pr, pw = io.Pipe()
	var tty syncBuffer
	x, err = s.Exec(ctx, "box", vigil.ExecConfig{Args: []string{"sh", "-c", "stty size; read l; stty size"},
		Tty: true, Width: 80, Height: 24, Stdin: pr, Stdout: &tty})
	if err != nil {
		t.Fatal(err)
	}
	// Resize once the first size is printed (a process slow to start
	// would otherwise see the new size at once).
	tty.waitFor(t, "24 80")
	if err := x.Resize(ctx, 132, 50); err != nil {
		t.Fatal(err)
	}
	// Stdin closes only after the exit: the end of a terminal's input
	// hangs the terminal up (SIGHUP), as with docker exec -t.
	pw.Write([]byte("\n"))
	code, err := x.Wait(ctx)
	pw.Close()
	if code != 0 || err != nil || !strings.Contains(tty.String(), "24 80") || !strings.Contains(tty.String(), "50 132") {
		t.Fatalf("tty: exit %d (%v), output %q", code, err, tty.String())
	}

	// Kill, and a detached exec.
	x, err = s.Exec(ctx, "box", vigil.ExecConfig{Args: []string{"sleep", "100"}, Detach: true})
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-x.Done():
		t.Fatal("sleep 100 ended at once")
	case <-time.After(100 * time.Millisecond):
	}
	if err := x.Kill(ctx, 9); err != nil {
		t.Fatal(err)
	}
	if code, err := x.Wait(ctx); code != 137 || err != nil {
		t.Fatalf("killed exec: exit %d (%v), want 137", code, err)
	}

	if _, err := s.Exec(ctx, "box", vigil.ExecConfig{Args: []string{"no-such-program"}}); !errors.Is(err, vigil.ErrCommandNotFound) {
		t.Fatalf("exec of a missing program: %v, want ErrCommandNotFound", err)
	}
	if _, err := s.Exec(ctx, "box", vigil.ExecConfig{Args: []string{"true"}, Cwd: "relative"}); !errors.Is(err, vigil.ErrInvalidArgument) {
		t.Fatalf("relative cwd: %v, want ErrInvalidArgument", err)
	}
	if _, err := s.Exec(ctx, "../box", vigil.ExecConfig{Args: []string{"true"}}); !errors.Is(err, vigil.ErrInvalidID) {
		t.Fatalf("bad container ID: %v, want ErrInvalidID", err)
	}
	entries, err := os.ReadDir(filepath.Join(e.cfg.StateDir, "containers", "box", "exec"))
	if err != nil || len(entries) != 0 {
		t.Fatalf("exec dirs left behind: %v %v", entries, err)
	}

	// Not running: refused, and nothing changes.
	if _, err := s.Stop(ctx, "box", 5*time.Second); err != nil {
		t.Fatal(err)
	}
	before, _ := s.Inspect(ctx, "box")
	if _, err := s.Exec(ctx, "box", vigil.ExecConfig{Args: []string{"true"}}); !errors.Is(err, vigil.ErrInvalidTransition) {
		t.Fatalf("exec in a stopped container: %v, want ErrInvalidTransition", err)
	}
	if after, _ := s.Inspect(ctx, "box"); after.Status != before.Status || after.Exit.Code != before.Exit.Code {
		t.Fatalf("a refused exec changed the container: %+v -> %+v", before, after)
	}
}
