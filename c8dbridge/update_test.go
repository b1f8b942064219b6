package c8dbridge

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/containerd/containerd/v2/core/leases"
	"github.com/containerd/errdefs"
	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/vigilhq/vigil/internal/testimage"
)

func TestValidateSnapshotKey(t *testing.T) {
	for key, want := range map[string]string{"web": "web", "web@1": "web", "a.b-c@12": "a.b-c"} {
		if id, err := validateSnapshotKey(key); err != nil || id != want {
			t.Errorf("%q: %q, %v; want %q", key, id, err, want)
		}
	}
	for _, key := range []string{"", "@1", "web@", "web@0", "web@-1", "web@01", "web@1@2", "../x@1", "web@x"} {
		if _, err := validateSnapshotKey(key); !errdefs.IsInvalidArgument(err) {
			t.Errorf("%q: %v, want InvalidArgument", key, err)
		}
	}
}

// TestUpdateSnapshots: a container made from an image moves to a
// snapshot of another image (prepared beside its own, held from the
// garbage collector) and runs it; the snapshot it left can be removed,
// the one it runs on cannot; its removal removes the snapshot it runs on.
func TestUpdateSnapshots(t *testing.T) {
	e := newEnv(t)
	dir := t.TempDir()
	ctx := ctxImage(t)
	t.Cleanup(func() { cleanupImages(e.c.ns(context.Background()), t, e.c) })
	var imgs []Image
	for _, v := range []string{"1", "2"} {
		archive := filepath.Join(dir, v+".tar")
		testimage.OCIArchive(t, archive, "example.com/t/up:"+v, testimage.Image(t, testimage.Options{
			Config: v1.Config{Cmd: []string{"sh", "-c", "echo version " + v}}}), nil)
		got, err := load(t, e.c, archive, LoadOptions{})
		if err != nil {
			t.Fatal(err)
		}
		imgs = append(imgs, got[0])
	}
	spec := ContainerSpec{ID: "up", Args: []string{"sh", "-c", "echo version 1; exec sleep 100"}, Image: imgs[0].Name, ImageDigest: imgs[0].Digest}
	if err := e.c.CreateContainer(ctx, spec); err != nil {
		t.Fatal(err)
	}
	spec2 := spec
	spec2.Args, spec2.Image, spec2.ImageDigest = []string{"sh", "-c", "echo version 2"}, imgs[1].Name, imgs[1].Digest
	for _, bad := range []string{"up", "other@1", "up@0"} {
		if err := e.c.PrepareSnapshot(ctx, bad, spec2); !errdefs.IsInvalidArgument(err) {
			t.Errorf("PrepareSnapshot(%q): %v, want InvalidArgument", bad, err)
		}
	}
	if err := e.c.PrepareSnapshot(ctx, "up@1", spec2); err != nil {
		t.Fatalf("PrepareSnapshot: %v", err)
	}
	if err := e.c.PrepareSnapshot(ctx, "up@1", spec2); err != nil {
		t.Fatalf("PrepareSnapshot again: %v", err)
	}
	// The garbage collector keeps the new snapshot, which no container
	// holds yet (a lease deleted synchronously runs it).
	l, err := e.c.c.LeasesService().Create(e.c.ns(ctx), leases.WithRandomID())
	if err == nil {
		err = e.c.c.LeasesService().Delete(e.c.ns(ctx), l, leases.SynchronousDelete)
	}
	if err != nil {
		t.Fatal(err)
	}
	if keys, err := e.c.Snapshots(ctx); err != nil || !slices.Equal(sorted(keys), []string{"up", "up@1"}) {
		t.Fatalf("Snapshots: %v, %v; want both", keys, err)
	}

	log := filepath.Join(t.TempDir(), "log")
	e.start(t, "up", Stdio{LogPath: log})
	if err := e.c.SwapSnapshot(ctx, spec2, "up@1"); !errdefs.IsFailedPrecondition(err) {
		t.Fatalf("SwapSnapshot of a container whose task runs: %v, want FailedPrecondition", err)
	}
	if err := e.c.Kill(ctx, "up", syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if _, err := e.c.WaitTask(ctx, "up"); err != nil {
		t.Fatal(err)
	}
	if err := e.c.SwapSnapshot(ctx, spec2, "up@1"); err != nil {
		t.Fatalf("SwapSnapshot: %v", err)
	}
	if key, err := e.c.ContainerSnapshot(ctx, "up"); err != nil || key != "up@1" {
		t.Fatalf("ContainerSnapshot: %q, %v", key, err)
	}
	if sts, err := e.c.TaskStatuses(ctx); err != nil || sts["up"].Snapshot != "up@1" {
		t.Fatalf("TaskStatuses: %+v, %v", sts["up"], err)
	}
	e.start(t, "up", Stdio{LogPath: log})
	if _, err := e.c.WaitTask(ctx, "up"); err != nil {
		t.Fatal(err)
	}
	var out string
	for _, en := range readLog(t, log) {
		out += en.Log
	}
	if out != "version 1\nversion 2\n" {
		t.Fatalf("output %q: want the old image's run, then the new one's", out)
	}
	if err := e.c.RemoveSnapshot(ctx, "up@1"); !errdefs.IsFailedPrecondition(err) {
		t.Errorf("RemoveSnapshot of the snapshot the container runs on: %v, want FailedPrecondition", err)
	}
	// The old snapshot is held until it is released.
	if keys, _ := e.c.Snapshots(ctx); !slices.Equal(sorted(keys), []string{"up", "up@1"}) {
		t.Fatalf("Snapshots after the swap: %v; want both", keys)
	}
	if err := e.c.RemoveSnapshot(ctx, "up"); err != nil {
		t.Fatalf("RemoveSnapshot of the one it left: %v", err)
	}
	if err := e.c.RemoveSnapshot(ctx, "up"); err != nil {
		t.Errorf("RemoveSnapshot again: %v", err)
	}
	if b, err := os.ReadFile(filepath.Join(e.bundle, "up", "config.json")); err != nil || !strings.Contains(string(b), "version 2") {
		t.Errorf("the bundle's config.json is not the new spec: %v", err)
	}
	// The image it left stays stored while the container exists, its
	// name removed or not (for a rollback after the update stood).
	if _, err := e.c.RemoveImage(ctx, imgs[0].Name, true); err != nil {
		t.Fatal(err)
	}
	if l, err := e.c.c.LeasesService().Create(e.c.ns(ctx), leases.WithRandomID()); err == nil {
		e.c.c.LeasesService().Delete(e.c.ns(ctx), l, leases.SynchronousDelete)
	}
	if cfg, err := e.c.ImageDefaults(ctx, imgs[0].Name, imgs[0].Digest); err != nil || !slices.Equal(cfg.Cmd, []string{"sh", "-c", "echo version 1"}) {
		t.Errorf("ImageDefaults of the image left, its name removed: %+v, %v", cfg, err)
	}
	if err := e.c.DeleteContainer(ctx, "up"); err != nil {
		t.Fatal(err)
	}
	if keys, err := e.c.Snapshots(ctx); err != nil || len(keys) != 0 {
		t.Errorf("Snapshots after the delete: %v, %v; want none", keys, err)
	}
	if _, err := e.c.ContainerSnapshot(ctx, "up"); !errdefs.IsNotFound(err) {
		t.Errorf("ContainerSnapshot of a deleted container: %v, want NotFound", err)
	}
	cfg, err := e.c.ImageDefaults(ctx, imgs[1].Name, imgs[1].Digest)
	if err != nil || !slices.Equal(cfg.Cmd, []string{"sh", "-c", "echo version 2"}) {
		t.Errorf("ImageDefaults: %+v, %v", cfg, err)
	}
}

func sorted(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}
