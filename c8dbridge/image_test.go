package c8dbridge

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/containerd/errdefs"
	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/vigilhq/vigil/internal/testimage"
)

// imageConfig is the config of the test images.
var imageConfig = v1.Config{
	Entrypoint:   []string{"/bin/sh", "-c"},
	Cmd:          []string{"echo hello"},
	Env:          []string{"PATH=/bin", "GREETING=hi"},
	WorkingDir:   "/tmp",
	User:         "nobody",
	StopSignal:   "SIGINT",
	Labels:       map[string]string{"app": "demo"},
	ExposedPorts: map[string]struct{}{"8080/tcp": {}},
	Healthcheck:  &v1.HealthConfig{Test: []string{"CMD", "true"}, Retries: 3},
}

// noImages checks that nothing is listed and no pull or load lease is left.
func noImages(t *testing.T, c *Client) {
	t.Helper()
	ctx := ctxImage(t)
	imgs, err := c.Images(ctx)
	if err != nil {
		t.Fatalf("Images: %v", err)
	}
	if len(imgs) != 0 {
		t.Errorf("images listed after a failure: %+v", imgs)
	}
	ls, err := c.c.LeasesService().List(c.ns(ctx))
	if err != nil {
		t.Fatal(err)
	}
	if len(ls) != 0 {
		t.Errorf("leases left after a failure: %+v", ls)
	}
}

func load(t *testing.T, c *Client, path string, o LoadOptions) ([]Image, error) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	return c.LoadImages(ctxImage(t), f, o)
}

func TestImageLoad(t *testing.T) {
	e := newEnv(t)
	dir := t.TempDir()
	img := testimage.Image(t, testimage.Options{Config: imageConfig})
	zimg := testimage.Image(t, testimage.Options{Zstd: true, Config: imageConfig, Files: map[string]string{"etc/z": "zstd"}})

	testimage.OCIArchive(t, filepath.Join(dir, "oci.tar"), "example.com/t/busybox:1", img, nil)
	testimage.OCIArchive(t, filepath.Join(dir, "zstd.tar"), "example.com/t/zstd:1", zimg, nil)
	testimage.DockerArchive(t, filepath.Join(dir, "docker.tar"), "t/dock:2", img)
	testimage.OCIArchive(t, filepath.Join(dir, "noname.tar"), "latest", zimg, nil)

	cases := []struct{ file, want string }{
		{"oci.tar", "example.com/t/busybox:1"},
		{"zstd.tar", "example.com/t/zstd:1"},
		{"docker.tar", "docker.io/t/dock:2"},
		{"noname.tar", "sha256:"},
	}
	for _, tc := range cases {
		var steps []Progress
		got, err := load(t, e.c, filepath.Join(dir, tc.file), LoadOptions{Progress: func(p Progress) { steps = append(steps, p) }})
		if err != nil {
			t.Fatalf("load %s: %v", tc.file, err)
		}
		if len(got) != 1 || !strings.HasPrefix(got[0].Name, tc.want) {
			t.Fatalf("load %s: got %+v, want one image named %s", tc.file, got, tc.want)
		}
		im := got[0]
		if !im.Unpacked || im.Platform != "linux/"+runtime.GOARCH || len(im.Layers) != 1 || im.Size == 0 {
			t.Errorf("load %s: %+v: want unpacked, linux/%s, one layer, a size", tc.file, im, runtime.GOARCH)
		}
		cfg := im.Config
		if !slices.Equal(cfg.Entrypoint, imageConfig.Entrypoint) || !slices.Equal(cfg.Cmd, imageConfig.Cmd) ||
			cfg.User != "nobody" || cfg.WorkingDir != "/tmp" || cfg.StopSignal != "SIGINT" ||
			cfg.Labels["app"] != "demo" || !slices.Equal(cfg.ExposedPorts, []string{"8080/tcp"}) ||
			cfg.Healthcheck == nil || cfg.Healthcheck.Retries != 3 {
			t.Errorf("load %s: config %+v does not match the image's", tc.file, cfg)
		}
		if len(steps) == 0 || steps[len(steps)-1].Status != "loaded" || steps[0].Kind != "blob" || steps[0].Status != "done" {
			t.Errorf("load %s: progress %+v, want a line per blob stored, ending with loaded", tc.file, steps)
		}
	}

	ctx := ctxImage(t)
	list, err := e.c.Images(ctx)
	if err != nil || len(list) != 4 {
		t.Fatalf("Images: %d images, %v; want 4", len(list), err)
	}
	// The same image under two names: a digest prefix names both, and
	// they agree.
	im, err := e.c.InspectImage(ctx, list[1].Digest[len("sha256:"):][:12], "")
	if err != nil {
		t.Fatalf("InspectImage by digest prefix: %v", err)
	}
	if im.Digest != list[1].Digest {
		t.Errorf("InspectImage by digest: %s, want %s", im.Digest, list[1].Digest)
	}
	if _, err := e.c.InspectImage(ctx, "t/dock:2", ""); err != nil {
		t.Errorf("InspectImage by familiar name: %v", err)
	}
	if _, err := e.c.InspectImage(ctx, "t/nothing", ""); !errdefs.IsNotFound(err) {
		t.Errorf("InspectImage of a missing image: %v, want NotFound", err)
	}
	if _, err := e.c.InspectImage(ctx, "a bad ref!", ""); !errdefs.IsInvalidArgument(err) {
		t.Errorf("InspectImage of a bad reference: %v, want InvalidArgument", err)
	}

	tagged, err := e.c.TagImage(ctx, "t/dock:2", "t/dock:latest")
	if err != nil || tagged.Name != "docker.io/t/dock:latest" || tagged.Digest != list[1].Digest && tagged.Digest != list[0].Digest {
		t.Fatalf("TagImage: %+v, %v", tagged, err)
	}
	if _, err := e.c.TagImage(ctx, "t/dock:2", "sha256:0123456789abcdef"); !errdefs.IsInvalidArgument(err) {
		t.Errorf("TagImage to a digest: %v, want InvalidArgument", err)
	}
	name, err := e.c.RemoveImage(ctx, "t/dock:latest", false)
	if err != nil || name != "docker.io/t/dock:latest" {
		t.Fatalf("RemoveImage: %q, %v", name, err)
	}
	if _, err := e.c.RemoveImage(ctx, "t/dock:latest", false); !errdefs.IsNotFound(err) {
		t.Errorf("RemoveImage twice: %v, want NotFound", err)
	}
	// The other name of the same content is still whole and unpacked.
	if im, err := e.c.InspectImage(ctx, "t/dock:2", ""); err != nil || !im.Unpacked {
		t.Errorf("after removing another name of it: %+v, %v", im, err)
	}
	pruned, err := e.c.PruneImages(ctx)
	if err != nil || len(pruned) != 4 {
		t.Fatalf("PruneImages: %v, %v; want 4 removed", pruned, err)
	}
	noImages(t, e.c)
}

func TestImageLoadBad(t *testing.T) {
	e := newEnv(t)
	dir := t.TempDir()
	// A layer of its own: containerd takes a blob it already has (another
	// test's, in another namespace) without reading it again.
	img := testimage.Image(t, testimage.Options{Random: 4096})
	good := filepath.Join(dir, "good.tar")
	testimage.OCIArchive(t, good, "example.com/t/bad:1", img, nil)
	data, err := os.ReadFile(good)
	if err != nil {
		t.Fatal(err)
	}
	// A blob whose bytes do not match its digest: flip one byte of the
	// layer, which is the biggest file (busybox) in the archive.
	mismatch := bytes.Clone(data)
	if i := bytes.Index(mismatch, []byte("\x1f\x8b\x08")); i > 0 {
		mismatch[i+2000] ^= 0xff
	} else {
		t.Fatal("no gzip layer in the archive")
	}
	foreign := filepath.Join(dir, "foreign.tar")
	testimage.OCIArchive(t, foreign, "example.com/t/foreign:1", nil,
		testimage.Index(t, testimage.Image(t, testimage.Options{Arch: "s390x"})))

	cases := []struct {
		name  string
		data  []byte
		class func(error) bool
	}{
		// First: a truncated archive may store the whole layer, which
		// containerd then takes as it is.
		{"digest mismatch", mismatch, func(err error) bool { return errdefs.IsFailedPrecondition(err) || errdefs.IsInvalidArgument(err) }},
		{"garbage", []byte(strings.Repeat("not a tar archive ", 100)), errdefs.IsInvalidArgument},
		{"truncated", data[:len(data)/2], errdefs.IsInvalidArgument},
		{"empty", nil, errdefs.IsInvalidArgument},
	}
	for _, tc := range cases {
		_, err := e.c.LoadImages(ctxImage(t), bytes.NewReader(tc.data), LoadOptions{})
		if err == nil || !tc.class(err) {
			t.Errorf("load %s: %v, want an error of its class", tc.name, err)
		}
		noImages(t, e.c)
	}
	if _, err := load(t, e.c, foreign, LoadOptions{}); !errdefs.IsNotFound(err) || !strings.Contains(err.Error(), "platform") {
		t.Errorf("load of an image of another platform: %v, want NotFound naming the platform", err)
	}
	noImages(t, e.c)
	// The same archive with that platform asked for loads.
	if got, err := load(t, e.c, foreign, LoadOptions{Platform: "linux/s390x"}); err != nil || got[0].Platform != "linux/s390x" {
		t.Errorf("load --platform linux/s390x: %+v, %v", got, err)
	}
	if _, err := load(t, e.c, good, LoadOptions{Platform: "not/a/plat/form"}); !errdefs.IsInvalidArgument(err) {
		t.Errorf("load with a bad platform: %v, want InvalidArgument", err)
	}
}

func TestImagePull(t *testing.T) {
	e := newEnv(t)
	reg := testimage.NewRegistry(t, "", "")
	gz := testimage.Image(t, testimage.Options{Config: imageConfig})
	zs := testimage.Image(t, testimage.Options{Zstd: true, Files: map[string]string{"etc/z": "z"}})
	arm := testimage.Image(t, testimage.Options{Arch: "arm64", Files: map[string]string{"etc/arch": "arm64"}})
	host := testimage.Image(t, testimage.Options{Files: map[string]string{"etc/arch": runtime.GOARCH}})
	gzRef := reg.Push(t, "t/gzip:1", gz)
	zsRef := reg.Push(t, "t/zstd:1", zs)
	idxRef := reg.PushIndex(t, "t/multi:1", testimage.Index(t, host, arm))

	ctx := ctxImage(t)
	for _, ref := range []string{gzRef, zsRef} {
		var steps []Progress
		im, err := e.c.PullImage(ctx, ref, PullOptions{Progress: func(p Progress) { steps = append(steps, p) }})
		if err != nil {
			t.Fatalf("pull %s: %v", ref, err)
		}
		if im.Name != ref || !im.Unpacked || len(im.Layers) != 1 {
			t.Errorf("pull %s: %+v", ref, im)
		}
		layerDone := false
		for _, p := range steps {
			if p.Kind == "layer" && p.Status == "done" && p.Total > 0 {
				layerDone = true
			}
		}
		if !layerDone || steps[len(steps)-1].Status != "pulled" {
			t.Errorf("pull %s: progress %+v: want a layer done and the image pulled", ref, steps)
		}
	}
	hostDigest, _ := host.Digest()
	armDigest, _ := arm.Digest()
	im, err := e.c.PullImage(ctx, idxRef, PullOptions{})
	if err != nil {
		t.Fatalf("pull index: %v", err)
	}
	if im.Platform != "linux/"+runtime.GOARCH || !im.Unpacked {
		t.Errorf("pull index: %+v, want the host's platform", im)
	}
	if !slices.Contains(im.Layers, mustLayer(t, host)) {
		t.Errorf("pull index resolved the wrong manifest (host %s, arm %s): %+v", hostDigest, armDigest, im)
	}
	im, err = e.c.PullImage(ctx, idxRef, PullOptions{Platform: "linux/arm64"})
	if err != nil || im.Platform != "linux/arm64" || !slices.Contains(im.Layers, mustLayer(t, arm)) {
		t.Errorf("pull --platform linux/arm64: %+v, %v", im, err)
	}

	// Bad input: nothing is recorded, no lease stays.
	bad := []struct {
		name, ref, platform string
		class               func(error) bool
	}{
		{"unknown platform", reg.Ref("t/multi:1"), "linux/s390x", func(err error) bool {
			return errdefs.IsNotFound(err) && strings.Contains(err.Error(), "platform linux/s390x")
		}},
		{"missing tag", reg.Ref("t/gzip:nope"), "", errdefs.IsNotFound},
		{"missing repository", reg.Ref("t/none:1"), "", errdefs.IsNotFound},
		{"unparsable reference", "Not A Ref", "", errdefs.IsInvalidArgument},
		{"bad platform", reg.Ref("t/gzip:1"), "x/y/z/w", errdefs.IsInvalidArgument},
	}
	for _, tc := range bad {
		before, _ := e.c.Images(ctx)
		_, err := e.c.PullImage(ctx, tc.ref, PullOptions{Platform: tc.platform})
		if err == nil || !tc.class(err) {
			t.Errorf("pull, %s: %v, want an error of its class", tc.name, err)
		}
		after, _ := e.c.Images(ctx)
		if len(after) != len(before) {
			t.Errorf("pull, %s: images %d before, %d after", tc.name, len(before), len(after))
		}
	}
}

func mustLayer(t *testing.T, img v1.Image) string {
	t.Helper()
	ls, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	d, err := ls[0].Digest()
	if err != nil {
		t.Fatal(err)
	}
	return d.String()
}

func TestImagePullAuth(t *testing.T) {
	e := newEnv(t)
	reg := testimage.NewRegistry(t, "alice", "s3cret")
	ref := reg.Push(t, "t/private:1", testimage.Image(t, testimage.Options{}))
	ctx := ctxImage(t)

	if _, err := e.c.PullImage(ctx, ref, PullOptions{}); !errdefs.IsUnauthorized(err) {
		t.Errorf("pull without credentials: %v, want Unauthenticated", err)
	}
	if _, err := e.c.PullImage(ctx, ref, PullOptions{Auth: &RegistryAuth{Username: "alice", Password: "wrong"}}); !errdefs.IsUnauthorized(err) {
		t.Errorf("pull with a wrong password: %v, want Unauthenticated", err)
	}
	noImages(t, e.c)

	cfg := filepath.Join(t.TempDir(), "config.json")
	if err := os.WriteFile(cfg, []byte(reg.DockerConfig()), 0o600); err != nil {
		t.Fatal(err)
	}
	auth, err := RegistryAuthFor(cfg, ref)
	if err != nil || auth == nil || auth.Username != "alice" || auth.Password != "s3cret" {
		t.Fatalf("RegistryAuthFor: %+v, %v", auth, err)
	}
	if im, err := e.c.PullImage(ctx, ref, PullOptions{Auth: auth}); err != nil || !im.Unpacked {
		t.Fatalf("pull with the config's credentials: %+v, %v", im, err)
	}
}

func TestImagePullBroken(t *testing.T) {
	e := newEnv(t)
	reg := testimage.NewRegistry(t, "", "")
	ref := reg.Push(t, "t/big:1", testimage.Image(t, testimage.Options{Random: 4 << 20}))
	ctx := ctxImage(t)

	reg.CutBlobs.Store(true)
	if _, err := e.c.PullImage(ctx, ref, PullOptions{}); err == nil || !errdefs.IsUnavailable(err) {
		t.Errorf("pull from a registry that breaks off: %v, want Unavailable", err)
	}
	noImages(t, e.c)
	reg.CutBlobs.Store(false)

	// Another image: the cut pull left a partial download of the first,
	// which the next pull of it resumes.
	ref2 := reg.Push(t, "t/big:2", testimage.Image(t, testimage.Options{Random: 1 << 20}))
	reg.CorruptBlobs.Store(true)
	if _, err := e.c.PullImage(ctx, ref2, PullOptions{}); err == nil || !errdefs.IsFailedPrecondition(err) && !errdefs.IsInvalidArgument(err) {
		t.Errorf("pull of a blob whose digest does not match: %v, want FailedPrecondition", err)
	}
	noImages(t, e.c)
	reg.CorruptBlobs.Store(false)

	reg.Close()
	if _, err := e.c.PullImage(ctx, ref, PullOptions{}); !errdefs.IsUnavailable(err) {
		t.Errorf("pull from a registry that is gone: %v, want Unavailable", err)
	}
	noImages(t, e.c)
}

func TestReconcileImages(t *testing.T) {
	e := newEnv(t)
	ctx := e.c.ns(ctxImage(t))
	// A pull that a crash ended leaves its lease: the intent.
	if _, _, err := e.c.intent(ctx, "pull", "example.com/t/x:1"); err != nil {
		t.Fatal(err)
	}
	// Leases of this process (made after its start) are left alone.
	if n, err := e.c.ReconcileImages(ctx, time.Now().Add(-time.Hour)); err != nil || n != 0 {
		t.Fatalf("ReconcileImages of a lease newer than the start: %d, %v; want 0 released", n, err)
	}
	n, err := e.c.ReconcileImages(ctx, time.Now().Add(time.Second))
	if err != nil || n != 1 {
		t.Fatalf("ReconcileImages: %d, %v; want 1 released", n, err)
	}
	if n, err := e.c.ReconcileImages(ctx, time.Now().Add(time.Second)); err != nil || n != 0 {
		t.Errorf("ReconcileImages again: %d, %v; want 0", n, err)
	}
}

// ctxImage is a context that ends with the test or after two minutes: the
// image tests do many calls under one context, on a machine that may be
// busy.
func ctxImage(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func TestCreateFromImage(t *testing.T) {
	e := newEnv(t)
	dir := t.TempDir()
	archive := filepath.Join(dir, "a.tar")
	testimage.OCIArchive(t, archive, "example.com/t/run:1", testimage.Image(t, testimage.Options{
		Random: 1024, Files: map[string]string{"etc/motd": "from the image\n"}}), nil)
	got, err := load(t, e.c, archive, LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := ctxImage(t)
	im := got[0]
	spec := ContainerSpec{ID: "img1", Args: []string{"/bin/sh", "-c", "cat /etc/motd; id -u; pwd"}, Cwd: "/tmp", User: "nobody",
		Image: im.Name, ImageDigest: im.Digest}
	if err := e.c.CreateContainer(ctx, spec); err != nil {
		t.Fatalf("CreateContainer from an image: %v", err)
	}
	if keys, err := e.c.Snapshots(ctx); err != nil || !slices.Equal(keys, []string{"img1"}) {
		t.Fatalf("Snapshots: %v, %v; want the container's", keys, err)
	}
	if sn, err := os.ReadFile(filepath.Join(e.bundle, "img1", snapshotMark)); err != nil || len(sn) == 0 {
		t.Errorf("the bundle dir does not name the snapshotter: %q, %v", sn, err)
	}
	if err := e.c.CreateContainer(ctx, spec); !errdefs.IsAlreadyExists(err) {
		t.Errorf("second create: %v, want AlreadyExists", err)
	}
	if err := e.c.RemoveSnapshot(ctx, "img1"); !errdefs.IsFailedPrecondition(err) {
		t.Errorf("RemoveSnapshot of a used snapshot: %v, want FailedPrecondition", err)
	}

	// The name moves to another image and the first one's record goes:
	// the container keeps its content, and a new container of the old
	// digest can still be made.
	other := filepath.Join(dir, "b.tar")
	testimage.OCIArchive(t, other, "example.com/t/run:1", testimage.Image(t, testimage.Options{Random: 1024}), nil)
	if _, err := load(t, e.c, other, LoadOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.c.RemoveImage(ctx, "example.com/t/run:1", false); !errdefs.IsFailedPrecondition(err) {
		t.Errorf("RemoveImage of a used image: %v, want FailedPrecondition", err)
	}
	if _, err := e.c.RemoveImage(ctx, "example.com/t/run:1", true); err != nil {
		t.Fatalf("RemoveImage -f: %v", err)
	}
	spec2 := spec
	spec2.ID = "img2"
	// A client of its own: it knows the image only from containerd.
	fresh, err := Dial(ctx, e.c.cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer fresh.Close()
	if err := fresh.CreateContainer(ctx, spec2); err != nil {
		t.Fatalf("create from a digest whose name moved and was removed: %v", err)
	}

	log := filepath.Join(t.TempDir(), "log")
	e.start(t, "img1", Stdio{LogPath: log})
	st, err := e.c.WaitTask(ctx, "img1")
	if err != nil || st.ExitCode != 0 {
		t.Fatalf("WaitTask: %+v, %v", st, err)
	}
	var data string
	for _, en := range readLog(t, log) {
		data += en.Log
	}
	for _, want := range []string{"from the image", "65534", "/tmp"} {
		if !strings.Contains(data, want) {
			t.Errorf("output %q lacks %q", data, want)
		}
	}
	for _, id := range []string{"img1", "img2"} {
		if err := e.c.DeleteContainer(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	if keys, err := e.c.Snapshots(ctx); err != nil || len(keys) != 0 {
		t.Errorf("Snapshots after the deletes: %v, %v; want none", keys, err)
	}
	if err := e.c.DeleteContainer(ctx, "img1"); err != nil {
		t.Errorf("delete again: %v", err)
	}
	bad := spec
	bad.ID, bad.ImageDigest = "img3", "sha256:"+strings.Repeat("0", 64)
	if err := e.c.CreateContainer(ctx, bad); !errdefs.IsNotFound(err) {
		t.Errorf("create from a digest that is not stored: %v, want NotFound", err)
	}
	if keys, _ := e.c.Snapshots(ctx); len(keys) != 0 {
		t.Errorf("a failed create left snapshots %v", keys)
	}
}
