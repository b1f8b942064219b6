package c8dbridge

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/containerd/containerd/v2/pkg/oci"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// A hostile rootfs: /etc/passwd a FIFO nobody writes, a link out of the
// rootfs, or huge. Each lookup fails at once with a clear error; none
// blocks or reads the host's files.
func TestUserLookupHostileRootfs(t *testing.T) {
	host := t.TempDir()
	os.WriteFile(filepath.Join(host, "passwd"), []byte("hostuser:x:4242:4242::/:/bin/sh\n"), 0o644)
	for _, tt := range []struct {
		name  string
		setup func(etc string) error
		user  string
		want  string // in the error; "" for success
		uid   uint32
	}{
		{"regular", func(etc string) error {
			return os.WriteFile(filepath.Join(etc, "passwd"), []byte("web:x:1000:1001::/:/bin/sh\n"), 0o644)
		}, "web", "", 1000},
		{"FIFO", func(etc string) error { return syscall.Mkfifo(filepath.Join(etc, "passwd"), 0o644) }, "web", "not a regular file", 0},
		{"link out of the rootfs", func(etc string) error {
			return os.Symlink(filepath.Join(host, "passwd"), filepath.Join(etc, "passwd"))
		}, "hostuser", "passwd", 0},
		{"huge", func(etc string) error {
			return os.WriteFile(filepath.Join(etc, "passwd"), []byte(strings.Repeat("#\n", userFileLimit)), 0o644)
		}, "web", "larger than", 0},
		{"missing", func(string) error { return nil }, "web", "is not in the rootfs", 0},
		{"numeric without files", func(string) error { return nil }, "7:8", "", 7},
	} {
		t.Run(tt.name, func(t *testing.T) {
			rootfs := t.TempDir()
			etc := filepath.Join(rootfs, "etc")
			os.Mkdir(etc, 0o755)
			if err := tt.setup(etc); err != nil {
				t.Fatal(err)
			}
			s := &specs.Spec{Root: &specs.Root{Path: rootfs}, Process: &specs.Process{}}
			start := time.Now()
			err := oci.ApplyOpts(context.Background(), nil, nil, s, withUser(tt.user))
			if took := time.Since(start); took > time.Second {
				t.Errorf("lookup took %v", took)
			}
			switch {
			case tt.want == "" && (err != nil || s.Process.User.UID != tt.uid):
				t.Errorf("user %q: %v, uid %d; want uid %d", tt.user, err, s.Process.User.UID, tt.uid)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want) || !errors.Is(err, ErrUserLookup)):
				t.Errorf("user %q: %v; want an ErrUserLookup saying %q", tt.user, err, tt.want)
			}
		})
	}
}
