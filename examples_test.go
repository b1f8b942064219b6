package vigil_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vigilhq/vigil/internal/testenv"
)

// TestExampleProgram builds examples/embed, a module of its own that
// requires vigil by its module path (replaced by this checkout), as a new
// user's program would, and runs it against the real containerd: its
// container's output reaches the log through the program itself, run by
// the shim as the logger (vigil.RunLoggerIfInvoked).
func TestExampleProgram(t *testing.T) {
	t.Parallel()
	addr, rootfs, ns := testenv.Containerd(t), testenv.Rootfs(t), testenv.Namespace(t)
	bin := filepath.Join(t.TempDir(), "embed")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Dir = filepath.Join("examples", "embed")
	// -mod=mod: vigil's requirements may have moved on since the example's
	// go.sum was written; the build follows them as a user's would.
	build.Env = append(os.Environ(), "GOFLAGS=-mod=mod")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build examples/embed: %v\n%s", err, out)
	}
	run := exec.Command(bin, "-containerd", addr, "-rootfs", rootfs, "-namespace", ns, "-state", t.TempDir())
	out, err := run.CombinedOutput()
	if err != nil {
		t.Fatalf("examples/embed: %v\n%s", err, out)
	}
	for _, want := range []string{"stdout: hello from the container\n", "status: exited exit code: 3\n"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("examples/embed printed %q; want it to contain %q", out, want)
		}
	}
}
