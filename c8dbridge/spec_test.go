package c8dbridge

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/containerd/containerd/v2/pkg/namespaces"
	"github.com/containerd/errdefs"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/vigilhq/vigil/internal/containerid"
)

const defaultPath = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

func TestSpecFor(t *testing.T) {
	rootfs := t.TempDir()
	s, err := SpecFor(ContainerSpec{
		ID:     "web-1",
		Rootfs: rootfs,
		Args:   []string{"/bin/sh", "-c", "echo hi"},
		Env:    []string{"A=1", "B=two=2"},
	})
	if err != nil {
		t.Fatalf("SpecFor: %v", err)
	}
	if s.Root == nil || s.Root.Path != rootfs {
		t.Errorf("root = %+v, want path %s", s.Root, rootfs)
	}
	if want := []string{"/bin/sh", "-c", "echo hi"}; !slices.Equal(s.Process.Args, want) {
		t.Errorf("args = %q, want %q", s.Process.Args, want)
	}
	if s.Process.Cwd != "/" {
		t.Errorf("cwd = %q, want /", s.Process.Cwd)
	}
	for _, kv := range []string{defaultPath, "A=1", "B=two=2"} {
		if !slices.Contains(s.Process.Env, kv) {
			t.Errorf("env %q lacks %q", s.Process.Env, kv)
		}
	}
	if s.Linux == nil || !strings.HasSuffix(s.Linux.CgroupsPath, "/web-1") {
		t.Errorf("cgroups path of %+v does not end in the ID", s.Linux)
	}
}

func TestSpecForKeepsUserPath(t *testing.T) {
	s, err := SpecFor(ContainerSpec{
		ID:     "c",
		Rootfs: t.TempDir(),
		Args:   []string{"app"},
		Env:    []string{"PATH=/opt/app/bin"},
		Cwd:    "/srv",
	})
	if err != nil {
		t.Fatalf("SpecFor: %v", err)
	}
	var paths []string
	for _, kv := range s.Process.Env {
		if strings.HasPrefix(kv, "PATH=") {
			paths = append(paths, kv)
		}
	}
	if want := []string{"PATH=/opt/app/bin"}; !slices.Equal(paths, want) {
		t.Errorf("PATH entries = %q, want %q", paths, want)
	}
	if s.Process.Cwd != "/srv" {
		t.Errorf("cwd = %q, want /srv", s.Process.Cwd)
	}
}

func TestSpecForInvalid(t *testing.T) {
	rootfs := t.TempDir()
	file := filepath.Join(rootfs, "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	good := ContainerSpec{ID: "ok", Rootfs: rootfs, Args: []string{"/bin/true"}}
	for _, tc := range []struct {
		name   string
		modify func(*ContainerSpec)
		want   string // in the error message
	}{
		{"empty ID", func(s *ContainerSpec) { s.ID = "" }, "invalid container ID"},
		{"dot-dot ID", func(s *ContainerSpec) { s.ID = "../x" }, "invalid container ID"},
		{"slash ID", func(s *ContainerSpec) { s.ID = "a/b" }, "invalid container ID"},
		{"no rootfs", func(s *ContainerSpec) { s.Rootfs = "" }, "rootfs not set"},
		{"relative rootfs", func(s *ContainerSpec) { s.Rootfs = "rootfs" }, "not an absolute path"},
		{"missing rootfs", func(s *ContainerSpec) { s.Rootfs = filepath.Join(rootfs, "nope") }, "no such file"},
		{"rootfs is a file", func(s *ContainerSpec) { s.Rootfs = file }, "not a directory"},
		{"no args", func(s *ContainerSpec) { s.Args = nil }, "Args is empty"},
		{"empty program", func(s *ContainerSpec) { s.Args = []string{""} }, "Args is empty"},
		{"relative cwd", func(s *ContainerSpec) { s.Cwd = "srv" }, "not an absolute path"},
		{"env without =", func(s *ContainerSpec) { s.Env = []string{"PATH"} }, "KEY=VALUE"},
		{"env without key", func(s *ContainerSpec) { s.Env = []string{"=x"} }, "KEY=VALUE"},
		{"reserved label", func(s *ContainerSpec) { s.Labels = map[string]string{LabelManaged: "no"} }, LabelManaged},
	} {
		t.Run(tc.name, func(t *testing.T) {
			spec := good
			tc.modify(&spec)
			_, err := SpecFor(spec)
			if !errdefs.IsInvalidArgument(err) {
				t.Fatalf("SpecFor error = %v, want an InvalidArgument-class error", err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not mention %q", err, tc.want)
			}
		})
	}
	if _, err := SpecFor(good); err != nil {
		t.Fatalf("SpecFor(good) = %v", err)
	}
}

// A bad ID must be refused before it is joined into any path: neither a
// bundle dir nor anything around BundleRoot may be created or removed. The
// Client has no connection, so reaching containerd would panic.
func TestBadIDTouchesNoPath(t *testing.T) {
	parent := t.TempDir()
	root := filepath.Join(parent, "state", "bundles")
	sentinel := filepath.Join(parent, "state", "keep")
	if err := os.MkdirAll(filepath.Dir(sentinel), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(sentinel, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	c := &Client{cfg: Config{Namespace: "vigil", BundleRoot: root, LoggerBinary: "/bin/true", Runtime: DefaultRuntime}}
	ctx := context.Background()
	rootfs := t.TempDir()

	for _, id := range []string{"..", "../x", "a/b", "/abs", ".", ""} {
		t.Run(id, func(t *testing.T) {
			checks := map[string]error{
				"CreateContainer": c.CreateContainer(ctx, ContainerSpec{ID: id, Rootfs: rootfs, Args: []string{"/bin/true"}}),
				"DeleteContainer": c.DeleteContainer(ctx, id),
				"DeleteTask":      c.DeleteTask(ctx, id),
				"Kill":            c.Kill(ctx, id, 9),
			}
			_, checks["StartTask"] = c.StartTask(ctx, id, Stdio{})
			_, checks["TaskStatus"] = c.TaskStatus(ctx, id)
			for name, err := range checks {
				if !errdefs.IsInvalidArgument(err) || !errors.Is(err, containerid.ErrInvalid) {
					t.Errorf("%s(%q) = %v, want InvalidArgument wrapping containerid.ErrInvalid", name, id, err)
				}
			}
			if _, err := os.Stat(root); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("bundle root was created (stat: %v)", err)
			}
			if _, err := os.Stat(sentinel); err != nil {
				t.Errorf("file beside the bundle root is gone: %v", err)
			}
			entries, _ := os.ReadDir(parent)
			if len(entries) != 1 {
				t.Errorf("entries beside state/: %v", entries)
			}
		})
	}
}

// TestSpecNetwork: a container on a CNI network joins its namespace file,
// container:OTHER joins OTHER's, the host network drops the namespace, and
// none (or no namespace dir) gets a new one.
func TestSpecNetwork(t *testing.T) {
	rootfs := t.TempDir()
	netns := func(s *specs.Spec) (specs.LinuxNamespace, bool) {
		for _, ns := range s.Linux.Namespaces {
			if ns.Type == specs.NetworkNamespace {
				return ns, true
			}
		}
		return specs.LinuxNamespace{}, false
	}
	cases := []struct {
		network, dir string
		want         bool
		wantPath     string
	}{
		{"", "/state/net/netns", true, ""},
		{"none", "/state/net/netns", true, ""},
		{"bridge", "/state/net/netns", true, "/state/net/netns/web"},
		{"backend", "/state/net/netns", true, "/state/net/netns/web"},
		{"container:db", "/state/net/netns", true, "/state/net/netns/db"},
		{"bridge", "", true, ""},
		{"host", "/state/net/netns", false, ""},
	}
	for _, c := range cases {
		t.Run(c.network+" "+c.dir, func(t *testing.T) {
			spec := ContainerSpec{ID: "web", Rootfs: rootfs, Args: []string{"/bin/sh"}, Network: c.network}
			ctx := namespaces.WithNamespace(context.Background(), specNamespace)
			s, err := specFor(ctx, spec)
			if err == nil {
				err = applyNetwork(ctx, s, spec, c.dir)
			}
			if err != nil {
				t.Fatal(err)
			}
			ns, ok := netns(s)
			if ok != c.want || ns.Path != c.wantPath {
				t.Errorf("network namespace %+v (present %v), want present %v with path %q", ns, ok, c.want, c.wantPath)
			}
		})
	}
}
