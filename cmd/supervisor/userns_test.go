package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/vigilhq/vigil/internal/testimage"
)

// uidsOf is the Uid line of /proc/PID/status: real, effective, saved, fs.
func uidsOf(t *testing.T, pid int) []string {
	t.Helper()
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(data), "\n") {
		if f := strings.Fields(l); len(f) == 5 && f[0] == "Uid:" {
			return f[1:]
		}
	}
	t.Fatalf("no Uid line in /proc/%d/status", pid)
	return nil
}

// --userns-remap: inside, the container's user is root (id -u is 0); on
// the host, its process runs as the first UID of the range. A container
// made from an image owns its snapshot in the range: its root can write
// the image's files. A range at host UID 0 is refused.
func TestUsernsRemap(t *testing.T) {
	d, rootfs := setup(t)
	pruneAtEnd(t, d)
	runArgs := []string{"run", "-d", "--name", "remapped", "--userns-remap", "100000:65536", "--rootfs", rootfs, "--",
		"sh", "-c", "echo uid=$(id -u); exec sleep 1000"}
	if _, stderr, code := d.CLI(t, runArgs...); code != 0 {
		t.Fatalf("run --userns-remap: exit %d, %s", code, stderr)
	}
	t.Cleanup(func() { d.CLI(t, "rm", "-f", "remapped") })
	eventually(t, 10*time.Second, "the container's output", func() bool {
		out, _, _ := d.CLI(t, "logs", "remapped")
		return strings.Contains(out, "uid=")
	})
	if out, _, _ := d.CLI(t, "logs", "remapped"); out != "uid=0\n" {
		t.Errorf("id -u inside: %q, want uid=0", out)
	}
	st := inspect(t, d, "remapped")
	if got := uidsOf(t, int(st.Pid)); strings.Join(got, " ") != "100000 100000 100000 100000" {
		t.Errorf("the container's process on the host runs as %v, want 100000", got)
	}
	if st.Config.Host.Userns == nil || st.Config.Host.Userns.UID != 100000 || st.Config.Host.Userns.Size != 65536 {
		t.Errorf("inspect: userns %+v", st.Config.Host.Userns)
	}

	// An image: the snapshot is chowned into the range.
	cfg := v1.Config{Entrypoint: []string{"/bin/sh", "-c"}, Env: []string{"PATH=/bin"}}
	archive := filepath.Join(t.TempDir(), "img.tar")
	testimage.OCIArchive(t, archive, "example.com/t/userns:latest", testimage.Image(t, testimage.Options{Config: cfg}), nil)
	if _, stderr, code := d.CLI(t, "image", "load", "-q", "-i", archive); code != 0 {
		t.Fatalf("load: %s", stderr)
	}
	out, stderr, code := d.CLI(t, "run", "--name", "remapped-image", "--userns-remap", "200000", "example.com/t/userns",
		"id -u; echo x > /etc/written && cat /etc/written; ls -ln /etc/passwd")
	t.Cleanup(func() { d.CLI(t, "rm", "-f", "remapped-image") })
	if code != 0 || !strings.HasPrefix(out, "0\nx\n") || !strings.Contains(out, " 0 ") {
		t.Errorf("an image container with --userns-remap: exit %d, %q, %q; want uid 0, a file written, files owned by 0 inside", code, out, stderr)
	}

	_, stderr, code = d.CLI(t, "run", "-d", "--name", "bad", "--userns-remap", "0", "--rootfs", rootfs, "--", "true")
	if code == 0 || !strings.Contains(stderr, "unprivileged range") {
		t.Errorf("--userns-remap 0: exit %d, %q; want a refusal", code, stderr)
	}
}
