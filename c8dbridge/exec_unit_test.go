package c8dbridge

import (
	"context"
	"errors"
	"reflect"
	"testing"

	"github.com/containerd/errdefs"
)

func TestStartErrorClassifiesRuncsWords(t *testing.T) {
	for _, c := range []struct {
		msg  string
		want error
	}{
		{`OCI runtime exec failed: exec failed: unable to start container process: exec: "nosuch": executable file not found in $PATH: unknown`, ErrCommandNotFound},
		{`exec: "/bin/nosuch": stat /bin/nosuch: no such file or directory: unknown`, ErrCommandNotFound},
		{`exec: "/etc/passwd": permission denied: unknown`, ErrCommandNotExecutable},
		{`chdir to cwd ("/nosuch") set in config.json failed: no such file or directory: unknown`, ErrCommandNotExecutable},
		{`connection refused`, nil},
	} {
		err := startError(errors.New(c.msg))
		for _, s := range []error{ErrCommandNotFound, ErrCommandNotExecutable} {
			if got := errors.Is(err, s); got != (s == c.want) {
				t.Errorf("startError(%q): errors.Is(%v) = %v", c.msg, s, got)
			}
		}
	}
}

func TestValidateExec(t *testing.T) {
	for _, spec := range []ExecSpec{
		{ExecID: "", Args: []string{"sh"}},
		{ExecID: "../x", Args: []string{"sh"}},
		{ExecID: "e1"},
		{ExecID: "e1", Args: []string{""}},
		{ExecID: "e1", Args: []string{"sh"}, Cwd: "tmp"},
		{ExecID: "e1", Args: []string{"sh"}, Env: []string{"NOEQUALS"}},
		{ExecID: "e1", Args: []string{"sh"}, Env: []string{"=v"}},
	} {
		if err := validateExec(spec); !errdefs.IsInvalidArgument(err) {
			t.Errorf("validateExec(%+v) = %v, want InvalidArgument", spec, err)
		}
	}
	if err := validateExec(ExecSpec{ExecID: "e1", Args: []string{"sh"}, Cwd: "/tmp", Env: []string{"A=b"}}); err != nil {
		t.Fatal(err)
	}
}

// The exec's process is the container's with what the spec sets changed,
// and the container's spec is left as it was.
func TestExecProcessSpec(t *testing.T) {
	s, err := SpecFor(ContainerSpec{ID: "c", Rootfs: t.TempDir(), Args: []string{"sleep", "1"}, Env: []string{"KEEP=1", "FOO=old"}, Cwd: "/srv"})
	if err != nil {
		t.Fatal(err)
	}
	orig := *s.Process
	origEnv := append([]string(nil), s.Process.Env...)

	p, err := execProcessSpec(context.Background(), "c", s, ExecSpec{ExecID: "e", Args: []string{"sh"}, Env: []string{"FOO=new"},
		Tty: true, Width: 80, Height: 24})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(p.Args, []string{"sh"}) || !p.Terminal || p.Cwd != "/srv" ||
		p.ConsoleSize == nil || p.ConsoleSize.Width != 80 || p.ConsoleSize.Height != 24 {
		t.Fatalf("exec process %+v", p)
	}
	env := map[string]bool{}
	for _, kv := range p.Env {
		env[kv] = true
	}
	if !env["KEEP=1"] || !env["FOO=new"] || env["FOO=old"] {
		t.Fatalf("exec env %q", p.Env)
	}
	if !reflect.DeepEqual(s.Process.Env, origEnv) || !reflect.DeepEqual(s.Process.Args, orig.Args) || s.Process.Terminal {
		t.Fatalf("the container's spec changed: %+v", s.Process)
	}

	p, err = execProcessSpec(context.Background(), "c", s, ExecSpec{ExecID: "e", Args: []string{"id"}, Cwd: "/tmp"})
	if err != nil || p.Cwd != "/tmp" || p.Terminal || p.ConsoleSize != nil {
		t.Fatalf("exec process %+v, %v", p, err)
	}
	// A user that the rootfs does not list.
	if _, err := execProcessSpec(context.Background(), "c", s, ExecSpec{ExecID: "e", Args: []string{"id"}, User: "nobody"}); !errdefs.IsInvalidArgument(err) {
		t.Fatalf("unknown user: %v, want InvalidArgument", err)
	}
}
