package c8dbridge

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/containerd/errdefs"
)

// execRun runs spec in container id to its end and returns its exit code
// and output.
func (e *env) execRun(t *testing.T, id string, spec ExecSpec, stdin io.Reader) (uint32, string, string) {
	t.Helper()
	var out, errb strings.Builder
	p, err := e.c.Exec(ctxT(t), id, spec, ExecStdio{Stdin: stdin, Stdout: &out, Stderr: &errb})
	if err != nil {
		t.Fatalf("Exec(%v): %v", spec.Args, err)
	}
	st, err := p.Wait(ctxT(t))
	if err != nil {
		t.Fatalf("Exec(%v): wait: %v", spec.Args, err)
	}
	if st.State != TaskStopped {
		t.Fatalf("Exec(%v): wait gave %v", spec.Args, st)
	}
	return st.ExitCode, out.String(), errb.String()
}

func TestExecIntegration(t *testing.T) {
	e := newEnv(t)
	e.create(t, "box", "sh", "-c", "trap 'exit 0' TERM; while true; do sleep 1; done")
	e.start(t, "box", Stdio{})
	execDir := filepath.Join(e.bundle, "box", "exec")

	code, out, errOut := e.execRun(t, "box", ExecSpec{ExecID: "e1", Args: []string{"sh", "-c", "echo out; echo err >&2; exit 4"}}, nil)
	if code != 4 || out != "out\n" || errOut != "err\n" {
		t.Fatalf("exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	// A stdin that ended before the start: its close still reaches cat.
	if code, out, _ := e.execRun(t, "box", ExecSpec{ExecID: "e2", Args: []string{"cat"}}, strings.NewReader("")); code != 0 || out != "" {
		t.Fatalf("cat of no input: exit %d, stdout %q", code, out)
	}
	in := strings.Repeat("x", 200<<10) // more than a pipe holds
	if code, out, _ := e.execRun(t, "box", ExecSpec{ExecID: "e3", Args: []string{"cat"}}, strings.NewReader(in)); code != 0 || out != in {
		t.Fatalf("cat: exit %d, %d bytes of %d", code, len(out), len(in))
	}
	if entries, err := os.ReadDir(execDir); err != nil || len(entries) != 0 {
		t.Fatalf("exec dirs left: %v %v", entries, err)
	}

	// A running exec: its ID is taken, and it can be killed.
	p, err := e.c.Exec(ctxT(t), "box", ExecSpec{ExecID: "long", Args: []string{"sleep", "100"}}, ExecStdio{Stdout: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(execDir, "long", "stdout")); err != nil {
		t.Fatalf("the running exec's FIFO: %v", err)
	}
	if _, err := e.c.Exec(ctxT(t), "box", ExecSpec{ExecID: "long", Args: []string{"true"}}, ExecStdio{Stdout: io.Discard}); !errdefs.IsAlreadyExists(err) {
		t.Fatalf("a second exec with the same ID: %v, want AlreadyExists", err)
	}
	if err := p.Kill(ctxT(t), syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if st, err := p.Wait(ctxT(t)); err != nil || st.ExitCode != 137 {
		t.Fatalf("killed exec: %+v %v", st, err)
	}
	if _, err := os.Stat(filepath.Join(execDir, "long")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the ended exec's dir: %v, want it removed", err)
	}

	// Programs that cannot run, and bad requests.
	if _, err := e.c.Exec(ctxT(t), "box", ExecSpec{ExecID: "e4", Args: []string{"no-such-program"}}, ExecStdio{}); !errors.Is(err, ErrCommandNotFound) {
		t.Fatalf("missing program: %v, want ErrCommandNotFound", err)
	}
	if _, err := e.c.Exec(ctxT(t), "box", ExecSpec{ExecID: "e5", Args: []string{"/etc/passwd"}}, ExecStdio{}); !errors.Is(err, ErrCommandNotExecutable) {
		t.Fatalf("file that is not executable: %v, want ErrCommandNotExecutable", err)
	}
	if _, err := e.c.Exec(ctxT(t), "box", ExecSpec{ExecID: "e6", Args: []string{"true"}, User: "nosuchuser"}, ExecStdio{}); !errdefs.IsInvalidArgument(err) {
		t.Fatalf("unknown user: %v, want InvalidArgument", err)
	}
	if _, err := e.c.Exec(ctxT(t), "../box", ExecSpec{ExecID: "e7", Args: []string{"true"}}, ExecStdio{}); !errdefs.IsInvalidArgument(err) {
		t.Fatalf("bad container ID: %v, want InvalidArgument", err)
	}
	e.create(t, "idle", "true")
	if _, err := e.c.Exec(ctxT(t), "idle", ExecSpec{ExecID: "e8", Args: []string{"true"}}, ExecStdio{}); !errdefs.IsNotFound(err) {
		t.Fatalf("exec in a container without a task: %v, want NotFound", err)
	}
	if entries, err := os.ReadDir(execDir); err != nil || len(entries) != 0 {
		t.Fatalf("exec dirs left after failed execs: %v %v", entries, err)
	}
}
