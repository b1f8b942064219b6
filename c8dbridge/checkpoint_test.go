package c8dbridge

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/containerd/errdefs"
)

func TestCriuReason(t *testing.T) {
	for _, tc := range []struct{ out, want string }{
		{"", ""},
		{"Looks good.\n", "Looks good."},
		{`Error (criu/util.c:642): exited, status=1
Error (criu/vdso.c:381): vdso: Unexpected rt vDSO area bounds
Error (criu/kerndat.c:1615): kerndat_vdso_fill_symtable failed when initializing kerndat.
Error (criu/crtools.c:260): Could not initialize kernel features detection.
`, "vdso: Unexpected rt vDSO area bounds; kerndat_vdso_fill_symtable failed when initializing kerndat; Could not initialize kernel features detection"},
		{"(00.002) Error (criu/cr-check.c:12): something broke\n", "something broke"},
		{"Warn: no error lines\nsecond line\n", "second line"},
	} {
		if got := criuReason(tc.out); got != tc.want {
			t.Errorf("criuReason(%q) = %q, want %q", tc.out, got, tc.want)
		}
	}
	if got := criuReason(strings.Repeat("Error (x.c:1): long reason\n", 100)); len([]rune(got)) > 400 || strings.Contains(got, "\n") {
		t.Errorf("criuReason of a long output: %d runes: %q", len([]rune(got)), got)
	}
}

// fakeCriu writes an executable script named criu into a new dir that
// prints out and exits with code, and returns its path.
func fakeCriu(t *testing.T, out string, code int) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "criu")
	script := "#!/bin/sh\ncat <<'EOF' >&2\n" + out + "\nEOF\nexit " + strconv.Itoa(code) + "\n"
	if err := os.WriteFile(path, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestCheckCriu(t *testing.T) {
	ctx := context.Background()
	err := checkCriu(ctx, filepath.Join(t.TempDir(), "no-criu-here"))
	if !errors.Is(err, ErrCriuUnusable) || !errdefs.IsNotImplemented(err) || !strings.Contains(err.Error(), "not installed") {
		t.Errorf("missing criu: %v", err)
	}
	err = checkCriu(ctx, fakeCriu(t, "Error (criu/vdso.c:1): vdso: bad bounds", 1))
	if !errors.Is(err, ErrCriuUnusable) || !strings.Contains(err.Error(), "criu is not usable on this host") ||
		!strings.HasSuffix(err.Error(), "check` failed: vdso: bad bounds") {
		t.Errorf("failing criu: %v", err)
	}
	if err := checkCriu(ctx, fakeCriu(t, "Looks good.", 0)); err != nil {
		t.Errorf("working criu: %v", err)
	}
}

// TestCheckpointBadInput: the checks that come before containerd or criu.
func TestCheckpointBadInput(t *testing.T) {
	c := &Client{cfg: Config{BundleRoot: t.TempDir()}}
	ctx := context.Background()
	if err := c.CheckpointTask(ctx, "../x", "/ckpt", false); !errdefs.IsInvalidArgument(err) {
		t.Errorf("bad ID: %v", err)
	}
	if err := c.CheckpointTask(ctx, "ok", "rel", false); !errdefs.IsInvalidArgument(err) {
		t.Errorf("relative dir: %v", err)
	}
	if _, err := c.ForceDeleteTask(ctx, "a/b"); !errdefs.IsInvalidArgument(err) {
		t.Errorf("force delete, bad ID: %v", err)
	}
	if err := checkRestore(Stdio{Checkpoint: "rel"}); !errdefs.IsInvalidArgument(err) {
		t.Errorf("restore from a relative dir: %v", err)
	}
	if err := checkRestore(Stdio{}); err != nil {
		t.Errorf("no restore: %v", err)
	}
}

// TestForceDeleteTaskPaused: a paused task is killed and deleted, with
// containerd's exit (SIGKILL: 137).
func TestForceDeleteTaskPaused(t *testing.T) {
	e := newEnv(t)
	e.create(t, "paused", "sleep", "600")
	e.start(t, "paused", Stdio{})
	if err := e.c.PauseTask(ctxT(t), "paused"); err != nil {
		t.Fatal(err)
	}
	st, err := e.c.ForceDeleteTask(ctxT(t), "paused")
	if err != nil {
		t.Fatal(err)
	}
	if st.State != TaskStopped || st.ExitCode != 128+uint32(syscall.SIGKILL) || st.ExitedAt.IsZero() {
		t.Errorf("force delete of a paused task: %+v, want stopped with 137 and a time", st)
	}
	if ts, err := e.c.TaskStatus(ctxT(t), "paused"); err != nil || ts.State != TaskAbsent {
		t.Errorf("after the force delete: %+v, %v; want no task", ts, err)
	}
	// No task: not an error.
	if st, err := e.c.ForceDeleteTask(ctxT(t), "paused"); err != nil || st.State != TaskAbsent {
		t.Errorf("force delete without a task: %+v, %v", st, err)
	}
}

// TestCheckpointTaskWithoutCriu: where criu cannot run, the checkpoint is
// refused before containerd is asked and the task runs on.
func TestCheckpointTaskWithoutCriu(t *testing.T) {
	e := newEnv(t)
	if CriuUsable() == nil {
		t.Skip("criu check passes on this host")
	}
	e.create(t, "cp", "sleep", "600")
	pid := e.start(t, "cp", Stdio{})
	err := e.c.CheckpointTask(ctxT(t), "cp", t.TempDir(), false)
	if !errors.Is(err, ErrCriuUnusable) || !errdefs.IsNotImplemented(err) {
		t.Fatalf("checkpoint without criu: %v, want ErrCriuUnusable", err)
	}
	if ts, err := e.c.TaskStatus(ctxT(t), "cp"); err != nil || ts.State != TaskRunning || ts.Pid != pid {
		t.Fatalf("after the refused checkpoint: %+v, %v", ts, err)
	}
	if _, err := e.c.StartTask(ctxT(t), "cp", Stdio{Checkpoint: t.TempDir()}); !errors.Is(err, ErrCriuUnusable) {
		t.Fatalf("restore without criu: %v, want ErrCriuUnusable", err)
	}
}
