package main

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/vigilhq/vigil/api"
	"github.com/vigilhq/vigil/c8dbridge"
	"github.com/vigilhq/vigil/internal/testimage"
)

// pruneAtEnd removes the daemon's images when the test ends.
func pruneAtEnd(t *testing.T, d *daemon) {
	t.Cleanup(func() { d.CLI(t, "image", "prune") })
}

func TestImageCommands(t *testing.T) {
	t.Parallel()
	d, _ := setup(t)
	pruneAtEnd(t, d)
	dir := t.TempDir()
	img := testimage.Image(t, testimage.Options{Config: v1.Config{Cmd: []string{"echo", "hi"}, User: "nobody", WorkingDir: "/tmp"}})
	archive := filepath.Join(dir, "app.tar")
	testimage.OCIArchive(t, archive, "example.com/t/app:1", img, nil)

	stdout, stderr, code := d.CLI(t, "image", "load", "-i", archive)
	if code != 0 || !strings.Contains(stdout, "Loaded image: example.com/t/app:1") || !strings.Contains(stdout, "image example.com/t/app:1: unpacked") {
		t.Fatalf("image load: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	// The API as docs/API.md shows it: the archive as the body, NDJSON
	// back, the result last.
	data, err := os.ReadFile(archive)
	if err != nil {
		t.Fatal(err)
	}
	status, body := raw(t, d, http.MethodPost, "/v1/images/load", string(data))
	lines := strings.Split(strings.TrimSpace(body), "\n")
	var last api.ImageLine
	if status != http.StatusOK || json.Unmarshal([]byte(lines[len(lines)-1]), &last) != nil ||
		len(last.Images) != 1 || last.Images[0].Name != "example.com/t/app:1" || len(lines) < 2 {
		t.Errorf("POST /v1/images/load: %d %q", status, body)
	}

	reg := testimage.NewRegistry(t, "bob", "pw")
	ref := reg.Push(t, "t/private:2", testimage.Image(t, testimage.Options{Zstd: true}))
	_, stderr, code = d.CLI(t, "image", "pull", "--registry-config", filepath.Join(dir, "none.json"), ref)
	if code != 1 || !strings.Contains(stderr, "credentials") {
		t.Errorf("pull without credentials: exit %d, stderr %q; want 1 and a word on credentials", code, stderr)
	}
	cfg := filepath.Join(dir, "config.json")
	if err := os.WriteFile(cfg, []byte(reg.DockerConfig()), 0o600); err != nil {
		t.Fatal(err)
	}
	stdout, stderr, code = d.CLI(t, "image", "pull", "--registry-config", cfg, ref)
	if code != 0 || !strings.Contains(stdout, "Pulled "+ref) || !strings.Contains(stdout, ": done") {
		t.Fatalf("image pull: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	for _, line := range strings.Split(strings.TrimSpace(stdout), "\n") {
		if strings.Contains(line, "\x1b") {
			t.Errorf("progress not on a terminal drew a bar: %q", line)
		}
	}

	stdout, _, code = d.CLI(t, "image", "ls", "-q")
	if code != 0 || stdout != "example.com/t/app:1\n"+strings.TrimPrefix(ref, "")+"\n" && stdout != ref+"\nexample.com/t/app:1\n" {
		t.Errorf("image ls -q: exit %d, %q", code, stdout)
	}
	stdout, _, code = d.CLI(t, "image", "ls")
	if code != 0 || !strings.HasPrefix(stdout, "NAME") || !strings.Contains(stdout, "example.com/t/app:1") {
		t.Errorf("image ls: exit %d, %q", code, stdout)
	}

	stdout, stderr, code = d.CLI(t, "image", "inspect", "example.com/t/app:1")
	var imgs []api.Image
	if code != 0 || json.Unmarshal([]byte(stdout), &imgs) != nil || len(imgs) != 1 {
		t.Fatalf("image inspect: exit %d, %q, %q", code, stdout, stderr)
	}
	if c := imgs[0].Config; c.User != "nobody" || c.WorkingDir != "/tmp" || strings.Join(c.Cmd, " ") != "echo hi" || !imgs[0].Unpacked {
		t.Errorf("image inspect: %+v", imgs[0])
	}
	digest := imgs[0].Digest

	stdout, stderr, code = d.CLI(t, "image", "tag", digest[len("sha256:"):][:12], "example.com/t/app:stable")
	if code != 0 || !strings.Contains(stdout, "Tagged example.com/t/app:stable") {
		t.Errorf("image tag: exit %d, %q, %q", code, stdout, stderr)
	}
	stdout, stderr, code = d.CLI(t, "image", "rm", "example.com/t/app:stable", "example.com/t/nothing:1")
	if code != 1 || !strings.Contains(stdout, "Removed example.com/t/app:stable") || !strings.Contains(stderr, "no image") {
		t.Errorf("image rm of one present and one missing image: exit %d, %q, %q", code, stdout, stderr)
	}

	// Bad input: a clear error, nothing listed.
	garbage := filepath.Join(dir, "garbage.tar")
	if err := os.WriteFile(garbage, []byte(strings.Repeat("garbage", 1000)), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"image", "load", "-i", garbage},
		{"image", "pull", "Bad Ref!"},
		{"image", "pull", reg.Ref("t/private:missing")},
		{"image", "inspect", "example.com/t/nothing:1"},
	} {
		_, stderr, code := d.CLI(t, args...)
		if code != 1 || stderr == "" || strings.Contains(stderr, "panic") {
			t.Errorf("%v: exit %d, stderr %q; want 1 and an error", args, code, stderr)
		}
	}
	if status, _ := raw(t, d, http.MethodGet, "/v1/images/inspect?ref=example.com/t/nothing:1", ""); status != http.StatusNotFound {
		t.Errorf("GET of a missing image: %d, want 404", status)
	}
	if status, _ := raw(t, d, http.MethodPost, "/v1/images/pull", `{"ref":"Bad Ref!"}`); status != http.StatusBadRequest {
		t.Errorf("pull of a bad reference: %d, want 400", status)
	}
	stdout, _, _ = d.CLI(t, "image", "ls", "-q")
	if n := strings.Count(stdout, "\n"); n != 2 {
		t.Errorf("after the bad input: %d images listed, want 2:\n%s", n, stdout)
	}
	stdout, stderr, code = d.CLI(t, "image", "prune")
	if code != 0 || !strings.Contains(stdout, "2 image(s) removed") {
		t.Errorf("image prune: exit %d, %q, %q", code, stdout, stderr)
	}
}

func TestRunImage(t *testing.T) {
	t.Parallel()
	d, _ := setup(t)
	pruneAtEnd(t, d)
	dir := t.TempDir()
	cfg := v1.Config{
		Entrypoint: []string{"/bin/sh", "-c"}, Cmd: []string{"echo $GREETING from $(pwd) as $(id -u); cat /etc/version"},
		Env: []string{"PATH=/bin", "GREETING=hi"}, WorkingDir: "/tmp", User: "nobody", StopSignal: "SIGINT",
		Labels: map[string]string{"app": "demo"}, ExposedPorts: map[string]struct{}{"8080/tcp": {}},
	}
	v1a, v2a := filepath.Join(dir, "v1.tar"), filepath.Join(dir, "v2.tar")
	testimage.OCIArchive(t, v1a, "example.com/t/app:latest", testimage.Image(t, testimage.Options{Config: cfg, Files: map[string]string{"etc/version": "v1\n"}}), nil)
	testimage.OCIArchive(t, v2a, "example.com/t/app:latest", testimage.Image(t, testimage.Options{Config: cfg, Files: map[string]string{"etc/version": "v2\n"}}), nil)
	if _, stderr, code := d.CLI(t, "image", "load", "-q", "-i", v1a); code != 0 {
		t.Fatalf("load: %s", stderr)
	}

	run := func(args ...string) string {
		t.Helper()
		stdout, stderr, code := d.CLI(t, append([]string{"run"}, args...)...)
		if code != 0 {
			t.Fatalf("run %v: exit %d, %q, %q", args, code, stdout, stderr)
		}
		return stdout
	}
	if out := run("--name", "a", "example.com/t/app"); out != "hi from /tmp as 65534\nv1\n" {
		t.Errorf("run IMAGE: %q", out)
	}
	if out := run("--name", "b", "-e", "GREETING=yo", "-w", "/", "--user", "0", "example.com/t/app"); out != "yo from / as 0\nv1\n" {
		t.Errorf("run -e -w --user IMAGE: %q", out)
	}
	if out := run("--name", "c", "--entrypoint", "/bin/echo", "example.com/t/app", "a", "b"); out != "a b\n" {
		t.Errorf("run --entrypoint IMAGE CMD: %q", out)
	}
	st := inspect(t, d, "a")
	if st.Config.Image != "example.com/t/app:latest" || !strings.HasPrefix(st.Config.ImageDigest, "sha256:") ||
		st.Config.StopSignal != 2 || st.Config.Labels["app"] != "demo" || strings.Join(st.Config.ExposedPorts, ",") != "8080/tcp" {
		t.Errorf("inspect a: %+v", st.Config)
	}

	// The image's stop signal.
	stdout, stderr, code := d.CLI(t, "run", "-d", "--name", "svc", "example.com/t/app", "trap 'exit 7' INT; while true; do sleep 0.1; done")
	if code != 0 {
		t.Fatalf("run -d: %q, %q", stdout, stderr)
	}
	if _, stderr, code := d.CLI(t, "stop", "-t", "20", "svc"); code != 0 {
		t.Fatalf("stop: %s", stderr)
	}
	if st := inspect(t, d, "svc"); st.Exit == nil || st.Exit.Code != 7 {
		t.Errorf("stop of a container whose image says SIGINT: exit %+v, want 7", st.Exit)
	}

	_, stderr, code = d.CLI(t, "image", "rm", "example.com/t/app")
	if code != 1 || !strings.Contains(stderr, "used by container") {
		t.Errorf("image rm of a used image: exit %d, %q", code, stderr)
	}
	// The name moves: a is started again and runs v1, a new container v2.
	if _, stderr, code := d.CLI(t, "image", "load", "-q", "-i", v2a); code != 0 {
		t.Fatalf("load v2: %s", stderr)
	}
	if out := run("--name", "new", "example.com/t/app"); !strings.HasSuffix(out, "v2\n") {
		t.Errorf("run after the name moved: %q, want v2", out)
	}
	if _, stderr, code := d.CLI(t, "start", "a"); code != 0 {
		t.Fatalf("start a: %s", stderr)
	}
	d.CLI(t, "wait", "a")
	if stdout, _, _ := d.CLI(t, "logs", "a"); strings.Count(stdout, "v1\n") != 2 || strings.Contains(stdout, "v2") {
		t.Errorf("a started after its image's name moved: logs %q, want v1 twice", stdout)
	}

	for _, args := range [][]string{
		{"run", "--pull", "never", "example.com/t/absent:1"},
		{"run", "--pull", "sometimes", "example.com/t/app"},
		{"run", "Bad Ref!"},
		{"run", "--entrypoint", "", "example.com/t/app"},
	} {
		_, stderr, code := d.CLI(t, args...)
		if code == 0 || stderr == "" {
			t.Errorf("%v: exit %d, stderr %q; want an error", args, code, stderr)
		}
	}

	// --pull missing pulls from a registry.
	reg := testimage.NewRegistry(t, "", "")
	ref := reg.Push(t, "t/remote:1", testimage.Image(t, testimage.Options{Config: cfg, Files: map[string]string{"etc/version": "remote\n"}}))
	if out := run("--name", "r", ref); !strings.HasSuffix(out, "remote\n") {
		t.Errorf("run of an image not yet pulled: %q", out)
	}
	// A multi-platform image: the host's platform, or the one asked for
	// (the test images run the host's busybox whatever they say).
	host := testimage.Image(t, testimage.Options{Config: cfg, Files: map[string]string{"etc/version": "host\n"}})
	arm := testimage.Image(t, testimage.Options{Config: cfg, Arch: "arm64", Files: map[string]string{"etc/version": "arm64\n"}})
	if runtime.GOARCH == "arm64" {
		arm = testimage.Image(t, testimage.Options{Config: cfg, Arch: "amd64", Files: map[string]string{"etc/version": "arm64\n"}})
	}
	other := "linux/arm64"
	if runtime.GOARCH == "arm64" {
		other = "linux/amd64"
	}
	multi := reg.PushIndex(t, "t/multi:1", testimage.Index(t, host, arm))
	if out := run("--name", "m1", multi); !strings.HasSuffix(out, "host\n") {
		t.Errorf("run of a multi-platform image: %q, want the host's", out)
	}
	if out := run("--name", "m2", "--platform", other, "--pull", "always", multi); !strings.HasSuffix(out, "arm64\n") {
		t.Errorf("run --platform %s: %q", other, out)
	}
	for _, id := range []string{"a", "b", "c", "svc", "new", "r", "m1", "m2"} {
		if _, stderr, code := d.CLI(t, "rm", "-f", id); code != 0 {
			t.Errorf("rm %s: %s", id, stderr)
		}
	}
}

// TestReadmeImages runs the image examples of the README (and what make
// demo does): an archive built by testdata/mkimage.sh, loaded and run.
func TestReadmeImages(t *testing.T) {
	t.Parallel()
	d, rootfs := setup(t)
	pruneAtEnd(t, d)
	archive := filepath.Join(t.TempDir(), "app.tar")
	out, err := exec.Command("bash", "../../testdata/mkimage.sh", archive, "vigil.local/demo/app:1", rootfs).CombinedOutput()
	if err != nil {
		t.Fatalf("mkimage.sh: %v\n%s", err, out)
	}
	archive2 := filepath.Join(t.TempDir(), "app2.tar")
	out, err = exec.Command("bash", "../../testdata/mkimage.sh", archive2, "vigil.local/demo/app:2", rootfs).CombinedOutput()
	if err != nil {
		t.Fatalf("mkimage.sh: %v\n%s", err, out)
	}
	steps := []struct {
		args []string
		want string
	}{
		{[]string{"image", "load", "-i", archive}, "Loaded image: vigil.local/demo/app:1"},
		// The update of the README's appliance section.
		{[]string{"image", "load", "-i", archive2}, "Loaded image: vigil.local/demo/app:2"},
		{[]string{"run", "-d", "--name", "svc", "vigil.local/demo/app:1", "/bin/sh", "-c", "echo started; sleep 1000"}, "svc\n"},
		{[]string{"update", "--image", "vigil.local/demo/app:2", "--grace", "30s", "svc"}, "svc\n"},
		{[]string{"inspect", "svc"}, `"to_image": "vigil.local/demo/app:2"`},
		{[]string{"rollback", "svc"}, "svc\n"},
		{[]string{"inspect", "svc"}, `"image": "vigil.local/demo/app:1"`},
		{[]string{"logs", "svc"}, "started\n"},
		{[]string{"rm", "-f", "svc"}, "svc"},
		{[]string{"image", "inspect", "vigil.local/demo/app:1"}, `"cmd": [`},
		{[]string{"image", "tag", "vigil.local/demo/app:1", "vigil.local/demo/app:stable"}, "Tagged vigil.local/demo/app:stable"},
		{[]string{"run", "-d", "--name", "app", "--pull", "never", "--entrypoint", "/bin/echo", "vigil.local/demo/app:stable", "hello"}, "app\n"},
		{[]string{"wait", "app"}, "0\n"},
		{[]string{"logs", "app"}, "hello\n"},
		{[]string{"run", "--name", "web2", "vigil.local/demo/app:1", "/bin/sh", "-c", "echo line 1"}, "line 1\n"},
		{[]string{"run", "--name", "plain", "--rootfs", rootfs, "--", "sh", "-c", "echo from a rootfs"}, "from a rootfs\n"},
		{[]string{"image", "rm", "-f", "vigil.local/demo/app:1"}, "Removed"},
		{[]string{"rm", "app", "web2", "plain"}, ""},
		{[]string{"image", "prune"}, "2 image(s) removed"},
	}
	for _, s := range steps {
		stdout, stderr, code := d.CLI(t, s.args...)
		if code != 0 || !strings.Contains(stdout, s.want) {
			t.Fatalf("%v: exit %d, stdout %q, stderr %q; want %q", s.args, code, stdout, stderr, s.want)
		}
	}
}

// TestKillDuringPull: kill -9 of the daemon while a pull downloads, then a
// restart: no image is listed, the pull's lease is released, and the pull
// succeeds when done again.
func TestKillDuringPull(t *testing.T) {
	t.Parallel()
	d, _ := setup(t)
	pruneAtEnd(t, d)
	reg := testimage.NewRegistry(t, "", "")
	ref := reg.Push(t, "t/big:1", testimage.Image(t, testimage.Options{Random: 8 << 20}))
	reg.StallBlobs.Store(true)

	pulled := make(chan int, 1)
	go func() {
		_, _, code := d.CLI(t, "image", "pull", ref)
		pulled <- code
	}()
	eventually(t, 30*time.Second, "the pull downloads a blob", func() bool { return reg.BlobGets.Load() > 0 })
	d.Kill9()
	if code := <-pulled; code == 0 {
		t.Fatal("the pull succeeded although its daemon was killed")
	}
	reg.StallBlobs.Store(false)

	d2 := startDaemonAt(t, d.Socket, d.StateDir, d.Namespace)
	if stdout, _, code := d2.CLI(t, "image", "ls", "-q"); code != 0 || stdout != "" {
		t.Errorf("after the crash: image ls -q exit %d, %q; want nothing listed", code, stdout)
	}
	c8d, err := c8dbridge.New(c8dbridge.Config{Address: d2.Address, Namespace: d2.Namespace, BundleRoot: filepath.Join(d2.StateDir, "containers")})
	if err != nil {
		t.Fatal(err)
	}
	defer c8d.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// The daemon released the interrupted pull's lease at its first
	// reconcile: none is left.
	if n, err := c8d.ReconcileImages(ctx, time.Now()); err != nil || n != 0 {
		t.Errorf("leases of interrupted pulls after the restart: %d, %v; want 0", n, err)
	}
	if stdout, stderr, code := d2.CLI(t, "image", "pull", "-q", ref); code != 0 || !strings.Contains(stdout, "Pulled") {
		t.Fatalf("pull after the restart: exit %d, %q, %q", code, stdout, stderr)
	}
	if bad, err := c8d.IncompleteImages(ctx); err != nil || len(bad) != 0 {
		t.Errorf("incomplete images: %v, %v", bad, err)
	}
}
