package c8dbridge

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/containerd/containerd/v2/core/containers"
	"github.com/containerd/containerd/v2/core/snapshots"
	"github.com/containerd/errdefs"
	"github.com/containerd/platforms"
	"github.com/containerd/typeurl/v2"
	"github.com/opencontainers/go-digest"
)

// The update of a container made from an image to another image
// (lifecycle/update.go): the new version's snapshot is prepared beside the
// running one under the key ID@N, the container is moved to it while it
// has no live task, and the snapshot it left is removed once the update
// stands, or it is moved back.
//
// A snapshot that no containerd container references is collected by
// containerd's garbage collector. The snapshots of an update are not
// referenced by the container for a while (the new one until the swap,
// the old one after it), so they carry the label containerd.io/gc.root:
// they are removed only explicitly, by the update's release or by the
// container's removal, and reconciliation's snapshot rule removes one that
// a crash left and no state names.

// labelGCRoot keeps a snapshot from containerd's garbage collector.
const labelGCRoot = "containerd.io/gc.root"

// labelGCPrevious on a container makes containerd's garbage collector keep
// the content of the image it ran before its last swap.
const labelGCPrevious = "containerd.io/gc.ref.content.vigil.previous"

// snapshotKeyMark is the file of a bundle dir that names the snapshot the
// container runs on after an update moved it off the one keyed by its ID.
const snapshotKeyMark = "snapshot"

// Updater is what an update to another image needs of the runtime beside
// Runtime; Client has it. A runtime without it refuses updates.
type Updater interface {
	// PrepareSnapshot prepares the snapshot key (an update's, ID@N) on
	// the layers of spec's image (by its digest), unpacking them first if
	// needed, under a lease while it works. One that exists already is
	// kept (the key is the update's own).
	PrepareSnapshot(ctx context.Context, key string, spec ContainerSpec) error
	// SwapSnapshot moves the container spec.ID to the snapshot key with
	// spec as its settings (OCI spec, image, labels). The container must
	// have no live task (FailedPrecondition); a stopped one is deleted.
	// Moving it where it is already is no error.
	SwapSnapshot(ctx context.Context, spec ContainerSpec, key string) error
	// ContainerSnapshot is the key of the snapshot the container runs on
	// ("" for one made from a rootfs). NotFound if no container.
	ContainerSnapshot(ctx context.Context, id string) (string, error)
	// RemoveSnapshot removes the snapshot key, which no container may run
	// on; a missing one is no error.
	RemoveSnapshot(ctx context.Context, key string) error
	// ImageDefaults reads how the image of digest d (under name, another
	// name, or only as content) says to run it: what an update needs of
	// the image a container runs now. NotFound when its content is gone.
	ImageDefaults(ctx context.Context, name, d string) (ImageConfig, error)
}

var _ Updater = (*Client)(nil)

// validateSnapshotKey checks a snapshot key, a container ID or an
// update's ID@N, and returns the container's ID.
func validateSnapshotKey(key string) (string, error) {
	id, n, update := strings.Cut(key, "@")
	if err := validateID(id); err != nil {
		return "", err
	}
	if update {
		if v, err := strconv.Atoi(n); err != nil || v <= 0 || strconv.Itoa(v) != n {
			return "", invalid(fmt.Errorf("snapshot key %q: the update number %q is not a positive number", key, n))
		}
	}
	return id, nil
}

// PrepareSnapshot prepares an update's snapshot; see Updater.
func (c *Client) PrepareSnapshot(ctx context.Context, key string, spec ContainerSpec) error {
	const op = "prepare snapshot"
	id, err := validateSnapshotKey(key)
	if err != nil {
		return wrap(op, key, err)
	}
	if id != spec.ID || key == id {
		return wrap(op, key, invalid(fmt.Errorf("an update's snapshot of container %s is keyed %s@N", spec.ID, spec.ID)))
	}
	if err := validateSpec(spec); err != nil {
		return wrap(op, key, err)
	}
	if spec.Image == "" {
		return wrap(op, key, invalid(fmt.Errorf("container %s: an update needs an image", spec.ID)))
	}
	ctx = c.ns(ctx)
	sn, err := c.Snapshotter(ctx)
	if err != nil {
		return wrap(op, key, err)
	}
	root, err := c.imageChain(ctx, spec)
	if err != nil {
		return wrap(op, key, err)
	}
	ctx, done, err := c.intent(ctx, "update", key)
	if err != nil {
		return wrap(op, key, err)
	}
	defer done()
	if err := c.unpacked(ctx, sn, spec, root); err != nil {
		return wrap(op, key, err)
	}
	labels := snapshots.WithLabels(map[string]string{
		LabelManaged: "true",
		labelGCRoot:  time.Now().UTC().Format(time.RFC3339),
	})
	// gofail: var c8dBeforeUpdateSnapshot struct{}
	// failpointCrash("c8dBeforeUpdateSnapshot")
	_, err = c.c.SnapshotService(sn).Prepare(ctx, key, root.chain, labels)
	if err != nil && !errdefs.IsAlreadyExists(err) {
		return wrap(op, key, fmt.Errorf("prepare snapshot: %w", err))
	}
	// gofail: var c8dAfterUpdateSnapshot struct{}
	// failpointCrash("c8dAfterUpdateSnapshot")
	return nil
}

// SwapSnapshot moves a container to another snapshot; see Updater.
func (c *Client) SwapSnapshot(ctx context.Context, spec ContainerSpec, key string) error {
	const op = "swap snapshot"
	id, err := validateSnapshotKey(key)
	if err != nil {
		return wrap(op, key, err)
	}
	if id != spec.ID {
		return wrap(op, key, invalid(fmt.Errorf("snapshot %s is not one of container %s", key, spec.ID)))
	}
	if err := validateSpec(spec); err != nil {
		return wrap(op, spec.ID, err)
	}
	if spec.Image == "" {
		return wrap(op, spec.ID, invalid(fmt.Errorf("container %s: an update needs an image", spec.ID)))
	}
	ctx = c.ns(ctx)
	ctr, err := c.c.LoadContainer(ctx, spec.ID)
	if err != nil {
		return wrap(op, spec.ID, err)
	}
	if err := c.clearOldTask(ctx, ctr); err != nil {
		if errdefs.IsAlreadyExists(err) {
			err = fmt.Errorf("%w: %w", errdefs.ErrFailedPrecondition, err)
		}
		return wrap(op, spec.ID, err)
	}
	rec, err := c.c.ContainerService().Get(ctx, spec.ID)
	if err != nil {
		return wrap(op, spec.ID, err)
	}
	if rec.SnapshotKey == "" {
		return wrap(op, spec.ID, fmt.Errorf("%w: container %s runs a rootfs, not an image", errdefs.ErrFailedPrecondition, spec.ID))
	}
	ss := c.c.SnapshotService(rec.Snapshotter)
	if _, err := ss.Stat(ctx, key); err != nil {
		return wrap(op, spec.ID, fmt.Errorf("snapshot %s: %w", key, err))
	}
	if rec.SnapshotKey != key {
		// The snapshot it leaves is no longer held by the container: keep
		// it from the garbage collector until it is released.
		info := snapshots.Info{Name: rec.SnapshotKey, Labels: map[string]string{labelGCRoot: time.Now().UTC().Format(time.RFC3339)}}
		if _, err := ss.Update(ctx, info, "labels."+labelGCRoot); err != nil && !errdefs.IsNotFound(err) {
			return wrap(op, spec.ID, fmt.Errorf("hold snapshot %s: %w", rec.SnapshotKey, err))
		}
	}
	s, err := specWith(ctx, c.c, &containers.Container{ID: spec.ID, Snapshotter: rec.Snapshotter, SnapshotKey: key, Image: spec.Image}, spec)
	if err == nil {
		err = applyNetwork(ctx, s, spec, c.cfg.NetNSDir)
	}
	if err != nil {
		return wrap(op, spec.ID, err)
	}
	s.Process.Terminal = spec.Tty
	config, err := json.MarshalIndent(s, "", "\t")
	if err != nil {
		return wrap(op, spec.ID, err)
	}
	dir := c.bundleDir(spec.ID)
	if err := writeFileAtomic(filepath.Join(dir, "config.json"), config); err != nil {
		return wrap(op, spec.ID, err)
	}
	// The mark first: a removal after a crash here removes both keys.
	if err := writeFileAtomic(filepath.Join(dir, snapshotKeyMark), []byte(key)); err != nil {
		return wrap(op, spec.ID, err)
	}
	anySpec, err := typeurl.MarshalAnyToProto(s)
	if err != nil {
		return wrap(op, spec.ID, err)
	}
	prev := rec.Labels[labelGCContent]
	rec.Spec = anySpec
	rec.SnapshotKey = key
	rec.Image = spec.Image
	rec.Labels = c.containerLabels(spec, dir)
	if prev != "" && prev != spec.ImageDigest {
		// The image it leaves stays stored while the container exists,
		// for a rollback after the update stood.
		rec.Labels[labelGCPrevious] = prev
	}
	if owner := rec.Labels[LabelOwner]; owner == "" {
		delete(rec.Labels, LabelOwner)
	}
	// gofail: var c8dBeforeSwapSnapshot struct{}
	// failpointCrash("c8dBeforeSwapSnapshot")
	if _, err := c.c.ContainerService().Update(ctx, rec, "spec", "snapshotkey", "image", "labels"); err != nil {
		return wrap(op, spec.ID, err)
	}
	// gofail: var c8dAfterSwapSnapshot struct{}
	// failpointCrash("c8dAfterSwapSnapshot")
	return nil
}

// ContainerSnapshot is the key of the container's snapshot; see Updater.
func (c *Client) ContainerSnapshot(ctx context.Context, id string) (string, error) {
	const op = "container snapshot"
	if err := validateID(id); err != nil {
		return "", wrap(op, id, err)
	}
	rec, err := c.c.ContainerService().Get(c.ns(ctx), id)
	if err != nil {
		return "", wrap(op, id, err)
	}
	return rec.SnapshotKey, nil
}

// ImageDefaults reads the config of the image of digest d; see Updater.
func (c *Client) ImageDefaults(ctx context.Context, name, d string) (ImageConfig, error) {
	const op = "image config"
	dg, err := digest.Parse(d)
	if err != nil {
		return ImageConfig{}, wrap(op, name, invalid(err))
	}
	ctx = c.ns(ctx)
	rec, err := c.imageByDigest(ctx, name, dg)
	if err != nil {
		return ImageConfig{}, wrap(op, name, err)
	}
	im, err := c.describe(ctx, rec, platforms.Default(), "")
	if err != nil {
		return ImageConfig{}, wrap(op, name, err)
	}
	return im.Config, nil
}

// snapshotKeyOf is the key of the snapshot container id runs on, as its
// bundle dir says (its ID when no update moved it).
func (c *Client) snapshotKeyOf(id string) string {
	b, err := os.ReadFile(filepath.Join(c.bundleDir(id), snapshotKeyMark))
	if err != nil {
		return id
	}
	key := string(b)
	if kid, err := validateSnapshotKey(key); err != nil || kid != id {
		return id
	}
	return key
}

// writeFileAtomic replaces the file at path with b: a crash leaves the
// old file or the new one.
func writeFileAtomic(path string, b []byte) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return err
	}
	f, err := os.Open(tmp)
	if err == nil {
		err = f.Sync()
		f.Close()
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
	}
	return err
}
