package c8dbridge

import (
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"syscall"

	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/containers"
	"github.com/containerd/containerd/v2/core/content"
	"github.com/containerd/containerd/v2/core/images"
	"github.com/containerd/containerd/v2/core/mount"
	"github.com/containerd/containerd/v2/core/snapshots"
	"github.com/containerd/errdefs"
	"github.com/containerd/platforms"
	"github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/identity"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// labelGCContent on a container makes containerd's garbage collector keep
// the content of the image it was created from (the target, and through
// its children labels the config and layers).
const labelGCContent = "containerd.io/gc.ref.content.vigil.image"

// validateImageSpec checks the image fields of a ContainerSpec.
func validateImageSpec(spec ContainerSpec) error {
	switch {
	case spec.Rootfs != "":
		return invalid(fmt.Errorf("a container has a rootfs or an image, not both"))
	case spec.Image == "":
		return invalid(fmt.Errorf("image digest %s without an image name", spec.ImageDigest))
	}
	if _, err := digest.Parse(spec.ImageDigest); err != nil {
		return invalid(fmt.Errorf("image %s: digest %q: %w", spec.Image, spec.ImageDigest, err))
	}
	return nil
}

// imageRoot prepares the snapshot of a container made from an image (key:
// the container's ID, parent: the image's unpacked layers, unpacking them
// first if needed) and builds its spec. The snapshot is held by a lease
// (an intent, see ReconcileImages) until the container holds it: ctx
// carries that lease. release ends it; with kept false it removes the
// snapshot too (the container was not created).
func (c *Client) imageRoot(ctx context.Context, spec ContainerSpec) (context.Context, *specs.Spec, []client.NewContainerOpts, func(bool), error) {
	if err := validateSpec(spec); err != nil {
		return nil, nil, nil, nil, err
	}
	sn, err := c.Snapshotter(ctx)
	if err != nil {
		return nil, nil, nil, nil, err
	}
	root, err := c.imageChain(ctx, spec)
	if err != nil {
		return nil, nil, nil, nil, err
	}
	ctx, done, err := c.intent(ctx, "create", spec.ID)
	if err != nil {
		return nil, nil, nil, nil, err
	}
	parent := root.chain
	ss := c.c.SnapshotService(sn)
	if err := c.unpacked(ctx, sn, spec, root); err != nil {
		done()
		return nil, nil, nil, nil, err
	}
	labels := snapshots.WithLabels(map[string]string{LabelManaged: "true"})
	// gofail: var c8dBeforeSnapshot struct{}
	// failpointCrash("c8dBeforeSnapshot")
	_, err = ss.Prepare(ctx, spec.ID, parent, labels)
	if errdefs.IsAlreadyExists(err) {
		if _, cerr := c.c.ContainerService().Get(ctx, spec.ID); cerr == nil {
			done()
			return nil, nil, nil, nil, fmt.Errorf("%w: container exists", errdefs.ErrAlreadyExists)
		}
		// Left by a create that did not finish: make it afresh.
		if err = ss.Remove(ctx, spec.ID); err == nil || errdefs.IsNotFound(err) {
			_, err = ss.Prepare(ctx, spec.ID, parent, labels)
		}
	}
	if err != nil {
		done()
		return nil, nil, nil, nil, fmt.Errorf("prepare snapshot: %w", err)
	}
	if u := spec.Host.Userns; u != nil {
		// The container's root is u.UID on the host: its snapshot (a copy
		// of its own, through the snapshotter) is chowned into the range.
		if err = chownSnapshot(ctx, ss, spec.ID, u.UID, u.Size); err != nil {
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), killTimeout)
			ss.Remove(rctx, spec.ID)
			cancel()
			done()
			return nil, nil, nil, nil, fmt.Errorf("the snapshot of a container with a user namespace: %w", err)
		}
	}
	release := func(kept bool) {
		if !kept {
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), killTimeout)
			ss.Remove(rctx, spec.ID)
			cancel()
		}
		done()
	}
	ctr := &containers.Container{ID: spec.ID, Snapshotter: sn, SnapshotKey: spec.ID, Image: spec.Image}
	s, err := specWith(ctx, c.c, ctr, spec)
	if err != nil {
		release(false)
		return nil, nil, nil, nil, err
	}
	opts := []client.NewContainerOpts{
		client.WithSnapshotter(sn),
		client.WithSnapshot(spec.ID),
		client.WithImageName(spec.Image),
	}
	return ctx, s, opts, release, nil
}

// imageChain finds the image of spec (by its digest) and the chain ID of
// its layers, from the cache when it was seen before.
func (c *Client) imageChain(ctx context.Context, spec ContainerSpec) (rootInfo, error) {
	d := digest.Digest(spec.ImageDigest)
	if root, cached := c.images.root(d); cached {
		return root, nil
	}
	rec, err := c.imageByDigest(ctx, spec.Image, d)
	if err != nil {
		return rootInfo{}, err
	}
	diffs, err := client.NewImage(c.c, rec).RootFS(ctx)
	if err != nil {
		return rootInfo{}, fmt.Errorf("image %s: %w", FamiliarName(spec.Image), err)
	}
	root := rootInfo{target: rec.Target, chain: identity.ChainID(diffs).String()}
	c.images.rootIs(d, root)
	return root, nil
}

// unpacked unpacks the image of root into snapshotter sn unless the
// snapshot of its top layer exists (one call). ctx holds a lease.
func (c *Client) unpacked(ctx context.Context, sn string, spec ContainerSpec, root rootInfo) error {
	if _, err := c.c.SnapshotService(sn).Stat(ctx, root.chain); errdefs.IsNotFound(err) {
		// gofail: var c8dBeforeUnpack struct{}
		// failpointCrash("c8dBeforeUnpack")
		img := client.NewImage(c.c, images.Image{Name: spec.Image, Target: root.target})
		if err := img.Unpack(ctx, sn); err != nil {
			return fmt.Errorf("unpack image %s: %w", FamiliarName(spec.Image), err)
		}
	} else if err != nil {
		return fmt.Errorf("image %s: %w", FamiliarName(spec.Image), err)
	}
	return nil
}

// imageByDigest finds the image of digest d (a manifest, or an image's
// target): under name if that still names it, else under any name, else
// from the content itself (a manifest of a multi-platform index, or an
// image whose names all moved or were removed while a container holds
// its content). NotFound when the content is gone.
func (c *Client) imageByDigest(ctx context.Context, name string, d digest.Digest) (images.Image, error) {
	is := c.c.ImageService()
	if rec, err := is.Get(ctx, name); err == nil && rec.Target.Digest == d {
		return rec, nil
	}
	list, err := is.List(ctx, "target.digest=="+d.String())
	if err != nil {
		return images.Image{}, err
	}
	if len(list) > 0 {
		rec := list[0]
		rec.Name = name
		return rec, nil
	}
	cs := c.c.ContentStore()
	info, err := cs.Info(ctx, d)
	if err != nil {
		if errdefs.IsNotFound(err) {
			return images.Image{}, fmt.Errorf("%w: image %s with digest %s is no longer stored: pull or load it again",
				errdefs.ErrNotFound, FamiliarName(name), d)
		}
		return images.Image{}, err
	}
	desc := ocispec.Descriptor{Digest: d, Size: info.Size}
	b, err := content.ReadBlob(ctx, cs, desc)
	if err != nil {
		return images.Image{}, err
	}
	var probe struct {
		MediaType string            `json:"mediaType"`
		Manifests []json.RawMessage `json:"manifests"`
	}
	if err := json.Unmarshal(b, &probe); err != nil {
		return images.Image{}, fmt.Errorf("image %s: content %s: %w", name, d, err)
	}
	desc.MediaType = probe.MediaType
	if desc.MediaType == "" {
		desc.MediaType = ocispec.MediaTypeImageManifest
		if probe.Manifests != nil {
			desc.MediaType = ocispec.MediaTypeImageIndex
		}
	}
	return images.Image{Name: name, Target: desc}, nil
}

// snapshotMark is the file of a bundle dir that names the snapshotter of
// the container's snapshot (made from an image); a container without it
// has none.
const snapshotMark = "snapshotter"

// markSnapshot writes the snapshot mark into a container's bundle dir.
func (c *Client) markSnapshot(dir string) error {
	c.snapMu.Lock()
	sn := c.snapshotter // chosen by imageRoot before
	c.snapMu.Unlock()
	return os.WriteFile(filepath.Join(dir, snapshotMark), []byte(sn), 0o600)
}

// removeSnapshot removes the snapshot of container id from vigil's
// snapshotter, if it is there.
func (c *Client) removeSnapshot(ctx context.Context, id string) error {
	sn, err := c.Snapshotter(ctx)
	if err != nil {
		return err
	}
	return c.removeSnapshotIn(ctx, sn, id)
}

// removeSnapshotIn removes the snapshot of container id from snapshotter
// sn; one that is not there is no error.
func (c *Client) removeSnapshotIn(ctx context.Context, sn, id string) error {
	// gofail: var c8dBeforeRemoveSnapshot struct{}
	// failpointCrash("c8dBeforeRemoveSnapshot")
	err := c.c.SnapshotService(sn).Remove(ctx, id)
	if err = classify(err); err != nil && !errdefs.IsNotFound(err) {
		return fmt.Errorf("remove snapshot: %w", err)
	}
	return nil
}

// Snapshots lists the keys of the active snapshots of the namespace that
// vigil made for containers (labelled LabelManaged) in its snapshotter.
func (c *Client) Snapshots(ctx context.Context) ([]string, error) {
	ctx = c.ns(ctx)
	sn, err := c.Snapshotter(ctx)
	if err != nil {
		return nil, err
	}
	var keys []string
	err = c.c.SnapshotService(sn).Walk(ctx, func(_ context.Context, info snapshots.Info) error {
		if info.Kind == snapshots.KindActive && info.Labels[LabelManaged] == "true" {
			keys = append(keys, info.Name)
		}
		return nil
	}, fmt.Sprintf("labels.%q==%q", LabelManaged, "true"))
	if err != nil {
		return nil, fmt.Errorf("c8dbridge: list snapshots: %w", classify(err))
	}
	return keys, nil
}

// RemoveSnapshot removes the snapshot key (vigil's), if any: a
// container's ID, or an update's key ID@N (update.go); for snapshots that
// no container owns (see Snapshots) and those an update left behind. A
// snapshot that its container still runs on is refused with
// FailedPrecondition.
func (c *Client) RemoveSnapshot(ctx context.Context, key string) error {
	const op = "remove snapshot"
	id, err := validateSnapshotKey(key)
	if err != nil {
		return wrap(op, key, err)
	}
	ctx = c.ns(ctx)
	if rec, err := c.c.ContainerService().Get(ctx, id); err == nil {
		if rec.SnapshotKey == key || (rec.SnapshotKey == "" && key == id) {
			return wrap(op, key, fmt.Errorf("%w: container %s uses it", errdefs.ErrFailedPrecondition, id))
		}
	} else if !errdefs.IsNotFound(err) {
		return wrap(op, key, err)
	}
	return wrap(op, key, c.removeSnapshot(ctx, key))
}

// ImageContainers lists the IDs, sorted, of vigil's containers in the
// namespace that were created from an image (their snapshot is theirs).
func (c *Client) ImageContainers(ctx context.Context) ([]string, error) {
	list, err := c.c.ContainerService().List(c.ns(ctx), fmt.Sprintf("labels.%q==%q", LabelManaged, "true"))
	if err != nil {
		return nil, fmt.Errorf("c8dbridge: list containers: %w", classify(err))
	}
	var ids []string
	for _, r := range list {
		if r.Image != "" && r.SnapshotKey != "" {
			ids = append(ids, r.ID)
		}
	}
	slices.Sort(ids)
	return ids, nil
}

// IncompleteImages lists the images of the namespace whose content for the
// host's platform is not all stored (none should be: an image is recorded
// only once its content is complete), each with what is missing.
func (c *Client) IncompleteImages(ctx context.Context) ([]string, error) {
	ctx = c.ns(ctx)
	list, err := c.c.ImageService().List(ctx)
	if err != nil {
		return nil, fmt.Errorf("c8dbridge: list images: %w", classify(err))
	}
	var bad []string
	for _, rec := range list {
		_, _, _, missing, err := images.Check(ctx, c.c.ContentStore(), rec.Target, platforms.Default())
		switch {
		case err != nil:
			bad = append(bad, fmt.Sprintf("%s: %v", rec.Name, err))
		case len(missing) > 0:
			bad = append(bad, fmt.Sprintf("%s: %d blob(s) missing, e.g. %s", rec.Name, len(missing), missing[0].Digest))
		}
	}
	return bad, nil
}

// chownSnapshot shifts the owners of every file of the snapshot key into
// the range of a user namespace: ID n becomes base+n (IDs beyond the
// range keep the range's last). On overlayfs each file is copied up into
// the container's own layer; the image's layers are not touched.
func chownSnapshot(ctx context.Context, ss snapshots.Snapshotter, key string, base, size uint32) error {
	mounts, err := ss.Mounts(ctx, key)
	if err != nil {
		return err
	}
	shift := func(id uint32) int {
		return int(base + min(id, size-1))
	}
	return mount.WithTempMount(ctx, mounts, func(root string) error {
		return filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			info, err := d.Info()
			if err != nil {
				return err
			}
			st, ok := info.Sys().(*syscall.Stat_t)
			if !ok {
				return nil
			}
			if err := os.Lchown(path, shift(st.Uid), shift(st.Gid)); err != nil {
				return err
			}
			// chown clears setuid and setgid bits: put them back.
			if m := info.Mode(); d.Type()&fs.ModeSymlink == 0 && m&(fs.ModeSetuid|fs.ModeSetgid) != 0 {
				return os.Chmod(path, m)
			}
			return nil
		})
	})
}
