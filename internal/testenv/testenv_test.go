package testenv

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
)

// recorder is a testing.TB whose Skip and Fatal record the message and end
// the calling goroutine, as the real ones do.
type recorder struct {
	testing.TB
	skipped, failed string
}

func (r *recorder) Helper() {}
func (r *recorder) Skip(args ...any) {
	r.skipped = fmt.Sprint(args...)
	runtime.Goexit()
}
func (r *recorder) Fatalf(format string, args ...any) {
	r.failed = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

// run calls f with a recorder in a goroutine of its own, so that a skip or
// failure ends only that goroutine.
func run(t *testing.T, f func(testing.TB)) *recorder {
	r := &recorder{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		f(r)
	}()
	<-done
	return r
}

func TestContainerdUnavailable(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "no.sock")
	for _, tc := range []struct {
		name, addr, require string
		wantSkip, wantFail  bool
	}{
		{name: "unset", addr: "", wantSkip: true},
		{name: "no socket", addr: missing, wantSkip: true},
		{name: "unset required", addr: "", require: "1", wantFail: true},
		{name: "no socket required", addr: missing, require: "1", wantFail: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv(EnvAddress, tc.addr)
			t.Setenv(EnvRequire, tc.require)
			var got string
			r := run(t, func(tb testing.TB) { got = Containerd(tb) })
			if got != "" {
				t.Fatalf("Containerd returned %q, want a skip or failure", got)
			}
			msg := r.skipped + r.failed
			if tc.wantSkip && r.skipped == "" || tc.wantFail && r.failed == "" {
				t.Fatalf("skipped %q, failed %q; want skip=%v fail=%v", r.skipped, r.failed, tc.wantSkip, tc.wantFail)
			}
			if !strings.Contains(msg, "containerd") {
				t.Errorf("reason %q does not mention containerd", msg)
			}
			if tc.wantFail && !strings.Contains(msg, "integration tests required") {
				t.Errorf("failure %q does not say integration tests are required", msg)
			}
		})
	}
}

func TestRootfsMissing(t *testing.T) {
	t.Setenv(EnvRootfs, t.TempDir())
	t.Setenv(EnvRequire, "")
	r := run(t, func(tb testing.TB) { Rootfs(tb) })
	if !strings.Contains(r.skipped, "testdata/mkrootfs.sh") {
		t.Fatalf("skip reason %q does not say to run testdata/mkrootfs.sh", r.skipped)
	}
}

func TestRootfsPresent(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "bin", "busybox"), nil, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv(EnvRootfs, dir)
	if got := Rootfs(t); got != dir {
		t.Fatalf("Rootfs = %q, want %q", got, dir)
	}
}

// validNamespace is containerd's rule for namespace names.
var validNamespace = regexp.MustCompile(`^[A-Za-z0-9]+(?:[._-][A-Za-z0-9]+)*$`)

func TestNamespace(t *testing.T) {
	for _, name := range []string{
		"simple",
		"With_Upper/and spaces/#01",
		strings.Repeat("very-long-name/", 10),
		"---",
	} {
		t.Run(name, func(t *testing.T) {
			a, b := Namespace(t), Namespace(t)
			for _, ns := range []string{a, b} {
				if !validNamespace.MatchString(ns) || len(ns) > 76 {
					t.Errorf("Namespace = %q (%d characters): not a valid containerd namespace", ns, len(ns))
				}
				if !strings.HasPrefix(ns, "vigiltest-") {
					t.Errorf("Namespace = %q, want prefix vigiltest-", ns)
				}
			}
			if a == b {
				t.Errorf("two calls gave the same namespace %q", a)
			}
		})
	}
}

func TestSanitize(t *testing.T) {
	for in, want := range map[string]string{
		"TestFoo":         "testfoo",
		"TestFoo/sub_one": "testfoo-sub-one",
		"a//b":            "a-b",
		"/x/":             "x",
		"":                "",
	} {
		if got := sanitize(in); got != want {
			t.Errorf("sanitize(%q) = %q, want %q", in, got, want)
		}
	}
}
