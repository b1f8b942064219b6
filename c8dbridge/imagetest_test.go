package c8dbridge

import (
	"context"
	"testing"

	"github.com/containerd/containerd/v2/core/leases"
	"github.com/containerd/containerd/v2/core/snapshots"
)

// cleanupImages removes every image, lease and snapshot of the client's
// namespace (ctx carries it), so that the namespace can be deleted.
func cleanupImages(ctx context.Context, t *testing.T, c *Client) {
	t.Helper()
	ls, err := c.c.LeasesService().List(ctx)
	if err != nil {
		t.Errorf("cleanup: list leases: %v", err)
	}
	for _, l := range ls {
		if err := c.c.LeasesService().Delete(ctx, l); err != nil {
			t.Errorf("cleanup: delete lease %s: %v", l.ID, err)
		}
	}
	for _, sn := range []string{snapshotterOverlay, snapshotterNative} {
		keys := snapshotKeys(ctx, t, c, sn, true)
		for _, k := range keys {
			c.c.SnapshotService(sn).Remove(ctx, k)
		}
	}
	imgs, err := c.c.ImageService().List(ctx)
	if err != nil {
		t.Errorf("cleanup: list images: %v", err)
	}
	for _, img := range imgs {
		if err := c.c.ImageService().Delete(ctx, img.Name); err != nil {
			t.Errorf("cleanup: delete image %s: %v", img.Name, err)
		}
	}
	// A lease deleted synchronously runs the garbage collector: the
	// content and snapshots no image holds any more go with it.
	l, err := c.c.LeasesService().Create(ctx, leases.WithRandomID())
	if err == nil {
		err = c.c.LeasesService().Delete(ctx, l, leases.SynchronousDelete)
	}
	if err != nil {
		t.Errorf("cleanup: collect garbage: %v", err)
	}
}

// snapshotKeys lists the snapshots of sn in the namespace; with active only
// the active ones (a container's), which garbage collection keeps.
func snapshotKeys(ctx context.Context, t *testing.T, c *Client, sn string, active bool) []string {
	t.Helper()
	var keys []string
	err := c.c.SnapshotService(sn).Walk(ctx, func(_ context.Context, info snapshots.Info) error {
		if !active || info.Kind == snapshots.KindActive {
			keys = append(keys, info.Name)
		}
		return nil
	})
	if err != nil {
		t.Errorf("list snapshots of %s: %v", sn, err)
	}
	return keys
}
