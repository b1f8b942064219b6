package c8dbridge

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/containerd/errdefs"
)

// rootfsWithUsers makes a rootfs whose /etc/passwd and /etc/group list
// root and app (1000:1001).
func rootfsWithUsers(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "etc"), 0o755); err != nil {
		t.Fatal(err)
	}
	for name, body := range map[string]string{
		"passwd": "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1001:app:/home/app:/bin/sh\n",
		"group":  "root:x:0:\napp:x:1001:\nstaff:x:50:\n",
	} {
		if err := os.WriteFile(filepath.Join(root, "etc", name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

func TestSpecForResources(t *testing.T) {
	rootfs, src := rootfsWithUsers(t), t.TempDir()
	cpus := 0.5
	s, err := SpecFor(ContainerSpec{
		ID: "r", Rootfs: rootfs, Args: []string{"/bin/true"},
		Memory: 32 << 20, CPUs: &cpus, CPUShares: 512, PidsLimit: 20,
		User: "app", ReadOnly: true, Hostname: "box",
		Mounts: []Mount{{Source: src, Target: "/data", ReadOnly: true}, {Source: src, Target: "/rw"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	r := s.Linux.Resources
	switch {
	case r.Memory == nil || r.Memory.Limit == nil || *r.Memory.Limit != 32<<20:
		t.Errorf("memory %+v", r.Memory)
	case r.CPU == nil || r.CPU.Quota == nil || *r.CPU.Quota != 50000 || r.CPU.Period == nil || *r.CPU.Period != 100000:
		t.Errorf("cpu quota %+v", r.CPU)
	case r.CPU.Shares == nil || *r.CPU.Shares != 512:
		t.Errorf("cpu shares %+v", r.CPU)
	case r.Pids == nil || r.Pids.Limit == nil || *r.Pids.Limit != 20:
		t.Errorf("pids %+v", r.Pids)
	case s.Process.User.UID != 1000 || s.Process.User.GID != 1001:
		t.Errorf("user %+v, want 1000:1001 from /etc/passwd", s.Process.User)
	case !s.Root.Readonly:
		t.Error("rootfs not read-only")
	case s.Hostname != "box":
		t.Errorf("hostname %q", s.Hostname)
	}
	found := 0
	for _, m := range s.Mounts {
		switch m.Destination {
		case "/data":
			found++
			if m.Type != "bind" || m.Source != src || !slices.Contains(m.Options, "ro") || !slices.Contains(m.Options, "rbind") {
				t.Errorf("mount /data = %+v", m)
			}
		case "/rw":
			found++
			if !slices.Contains(m.Options, "rw") {
				t.Errorf("mount /rw = %+v", m)
			}
		}
	}
	if found != 2 {
		t.Errorf("bind mounts missing from %+v", s.Mounts)
	}

	// None set: no limits, root, writable.
	s, err = SpecFor(ContainerSpec{ID: "r", Rootfs: rootfs, Args: []string{"/bin/true"}})
	if err != nil {
		t.Fatal(err)
	}
	if r := s.Linux.Resources; r.Memory != nil || r.Pids != nil || (r.CPU != nil && r.CPU.Quota != nil) ||
		s.Process.User.UID != 0 || s.Root.Readonly {
		t.Errorf("defaults changed: %+v %+v", r, s.Process.User)
	}
}

func TestSpecForUsers(t *testing.T) {
	rootfs := rootfsWithUsers(t)
	tests := []struct {
		user     string
		uid, gid uint32
		bad      bool
	}{
		{user: "1000", uid: 1000, gid: 1001}, // gid from /etc/passwd
		{user: "4242", uid: 4242, gid: 0},    // not listed: gid 0
		{user: "7:8", uid: 7, gid: 8},
		{user: "app:staff", uid: 1000, gid: 50},
		{user: "ghost", bad: true},
		{user: "app:ghosts", bad: true},
	}
	for _, tt := range tests {
		s, err := SpecFor(ContainerSpec{ID: "u", Rootfs: rootfs, Args: []string{"/bin/true"}, User: tt.user})
		if tt.bad {
			if !errdefs.IsInvalidArgument(err) {
				t.Errorf("user %q: %v, want an InvalidArgument-class error", tt.user, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("user %q: %v", tt.user, err)
			continue
		}
		if u := s.Process.User; u.UID != tt.uid || u.GID != tt.gid {
			t.Errorf("user %q: %d:%d, want %d:%d", tt.user, u.UID, u.GID, tt.uid, tt.gid)
		}
	}
}

func TestSpecForMissingMountSource(t *testing.T) {
	_, err := SpecFor(ContainerSpec{ID: "m", Rootfs: t.TempDir(), Args: []string{"/bin/true"},
		Mounts: []Mount{{Source: "/nonexistent/vigil-mount-source", Target: "/data"}}})
	if !errdefs.IsInvalidArgument(err) {
		t.Fatalf("got %v, want an InvalidArgument-class error", err)
	}
}
