package c8dbridge

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/content"
	"github.com/containerd/containerd/v2/core/images"
	"github.com/containerd/containerd/v2/core/images/archive"
	"github.com/containerd/containerd/v2/core/leases"
	"github.com/containerd/errdefs"
	"github.com/containerd/platforms"
	"github.com/distribution/reference"
	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Image is an image of vigil's namespace, in vigil's words.
type Image struct {
	// Name is the image's reference, normalized as docker does
	// ("busybox" is docker.io/library/busybox:latest).
	Name string `json:"name"`
	// Digest is the digest of the image's target: its manifest, or the
	// index of a multi-platform image.
	Digest    string    `json:"digest"`
	MediaType string    `json:"media_type"`
	Created   time.Time `json:"created,omitzero"` // when the record was made in containerd
	// Size is the size of the content of the platform's image: manifest,
	// config and (compressed) layers.
	Size int64 `json:"size"`
	// Platform is the platform of the image's config (os/arch[/variant]).
	Platform string `json:"platform"`
	// Unpacked says whether the platform's layers are unpacked in the
	// snapshotter.
	Unpacked bool        `json:"unpacked"`
	Config   ImageConfig `json:"config"`
	// ManifestDigest is the digest of the platform's manifest: Digest
	// itself unless the image is a multi-platform index. A container is
	// made from it.
	ManifestDigest string `json:"manifest_digest"`
	// ConfigDigest is the digest of the image config (docker's image ID).
	ConfigDigest string `json:"config_digest"`
	// Layers are the digests of the layers as stored (compressed).
	Layers []string `json:"layers"`
	// Labels are containerd's labels of the image record.
	Labels map[string]string `json:"labels,omitempty"`
}

// ImageConfig is the part of an image's config that says how to run it,
// as docker reads it.
type ImageConfig struct {
	Entrypoint   []string          `json:"entrypoint,omitempty"`
	Cmd          []string          `json:"cmd,omitempty"`
	Env          []string          `json:"env,omitempty"`
	WorkingDir   string            `json:"working_dir,omitempty"`
	User         string            `json:"user,omitempty"`
	StopSignal   string            `json:"stop_signal,omitempty"`
	Labels       map[string]string `json:"labels,omitempty"`
	ExposedPorts []string          `json:"exposed_ports,omitempty"` // "80/tcp"
	Healthcheck  *Healthcheck      `json:"healthcheck,omitempty"`
	Created      time.Time         `json:"created,omitzero"` // the config's own date
}

// Healthcheck is docker's health check of an image config (durations in
// nanoseconds as docker writes them).
type Healthcheck struct {
	Test        []string      `json:"test,omitempty"`
	Interval    time.Duration `json:"interval,omitempty"`
	Timeout     time.Duration `json:"timeout,omitempty"`
	StartPeriod time.Duration `json:"start_period,omitempty"`
	Retries     int           `json:"retries,omitempty"`
}

// Progress is one step of a pull or load, for one piece of content (a
// layer, the config, the manifest) or for the image.
type Progress struct {
	// ID is the short digest of the content, or the image's name.
	ID string `json:"id"`
	// Kind is "layer", "config", "manifest", "index", "blob" (what a
	// load stored, before it knows which) or "image".
	Kind string `json:"kind"`
	// Status is "waiting", "downloading", "done" (content), "unpacking",
	// "unpacked", "pulled", "loaded" (image).
	Status  string `json:"status"`
	Current int64  `json:"current,omitempty"`
	Total   int64  `json:"total,omitempty"`
}

// Labels and snapshotters of vigil's images.
const (
	// LabelIntent marks a lease vigil made to hold the content of a pull or
	// load while it runs: its value is "pull" or "load" (see
	// ReconcileImages).
	LabelIntent = "io.vigil.intent"
	// LabelIntentRef is the reference a pull lease is for.
	LabelIntentRef = "io.vigil.ref"
	// intentExpiry is how long a pull or load lease holds its content when
	// nobody deletes it: containerd's garbage collector frees it then.
	intentExpiry = 24 * time.Hour

	snapshotterOverlay = "overlayfs"
	snapshotterNative  = "native"
)

// NormalizeRef parses an image reference as docker does and returns its
// full form ("busybox" -> "docker.io/library/busybox:latest"). A reference
// that does not parse is InvalidArgument.
func NormalizeRef(ref string) (string, error) {
	r, err := reference.ParseDockerRef(ref)
	if err != nil {
		return "", invalid(fmt.Errorf("image reference %q: %w", ref, err))
	}
	return r.String(), nil
}

// FamiliarName is ref as docker shows it ("busybox:latest" for
// docker.io/library/busybox:latest); ref itself when it does not parse.
func FamiliarName(ref string) string {
	r, err := reference.ParseNormalizedNamed(ref)
	if err != nil {
		return ref
	}
	return reference.FamiliarString(r)
}

// imageOp wraps an error of an image operation.
func imageOp(op, ref string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("c8dbridge: %s %q: %w", op, ref, classifyRemote(classify(err)))
}

// platformMatcher parses a platform ("linux/arm64"); "" is the host's.
func platformMatcher(p string) (platforms.MatchComparer, error) {
	if p == "" {
		return platforms.Default(), nil
	}
	pl, err := platforms.Parse(p)
	if err != nil {
		return nil, invalid(fmt.Errorf("platform %q: %w", p, err))
	}
	return platforms.Only(pl), nil
}

// Snapshotter is the snapshotter vigil unpacks images into and makes
// container snapshots with: Config.Snapshotter when set, else overlayfs
// when containerd has it working, else native.
func (c *Client) Snapshotter(ctx context.Context) (string, error) {
	c.snapMu.Lock()
	defer c.snapMu.Unlock()
	if c.snapshotter != "" {
		return c.snapshotter, nil
	}
	if c.cfg.Snapshotter != "" {
		c.snapshotter = c.cfg.Snapshotter
		return c.snapshotter, nil
	}
	resp, err := c.c.IntrospectionService().Plugins(c.ns(ctx), "type==io.containerd.snapshotter.v1")
	if err != nil {
		return "", fmt.Errorf("c8dbridge: list snapshotters: %w", classify(err))
	}
	name := ""
	for _, p := range resp.GetPlugins() {
		if p.GetInitErr() != nil {
			continue
		}
		switch p.GetID() {
		case snapshotterOverlay:
			name = snapshotterOverlay
		case snapshotterNative:
			if name == "" {
				name = snapshotterNative
			}
		}
	}
	if name == "" {
		return "", fmt.Errorf("c8dbridge: %w: containerd has neither the overlayfs nor the native snapshotter", errdefs.ErrFailedPrecondition)
	}
	c.snapshotter = name
	return name, nil
}

// intent creates the lease that holds the content of one pull or load
// while it runs and returns ctx carrying it and the function that deletes
// it. The lease is the intent: it is in containerd's database before any
// content is written, so content of a pull that a crash interrupted stays
// held until ReconcileImages (or the expiry) releases it, and never longer.
func (c *Client) intent(ctx context.Context, kind, ref string) (context.Context, func(), error) {
	l, err := c.c.LeasesService().Create(ctx,
		leases.WithRandomID(),
		leases.WithExpiration(intentExpiry),
		leases.WithLabels(map[string]string{LabelIntent: kind, LabelIntentRef: ref}))
	if err != nil {
		return nil, nil, err
	}
	done := func() {
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), killTimeout)
		defer cancel()
		c.c.LeasesService().Delete(dctx, l)
	}
	return leases.WithLease(ctx, l.ID), done, nil
}

// ReconcileImages releases the leases of pulls, loads and creates that
// did not end (the supervisor died during them) and that were made before
// the time before (the start of this process: the leases of its own
// operations, which may be running, are left alone): their content and
// snapshots, which nothing else holds, are then freed by containerd's
// garbage collector. Returns how many it released.
func (c *Client) ReconcileImages(ctx context.Context, before time.Time) (int, error) {
	ctx = c.ns(ctx)
	ls, err := c.c.LeasesService().List(ctx, fmt.Sprintf("labels.%q", LabelIntent))
	if err != nil {
		return 0, fmt.Errorf("c8dbridge: list image leases: %w", classify(err))
	}
	n := 0
	for _, l := range ls {
		if _, ok := l.Labels[LabelIntent]; !ok || !l.CreatedAt.Before(before) {
			continue
		}
		if err := c.c.LeasesService().Delete(ctx, l); err != nil && !errdefs.IsNotFound(err) {
			return n, fmt.Errorf("c8dbridge: release lease %s: %w", l.ID, classify(err))
		}
		n++
	}
	return n, nil
}

// LoadOptions shape LoadImages.
type LoadOptions struct {
	// Platform is unpacked ("" the host's); the archive's other platforms
	// are stored but not unpacked.
	Platform string
	// Progress, when not nil, receives the steps of the load.
	Progress func(Progress)
}

// LoadImages reads an image archive from r, an OCI image layout or a
// `docker save` archive (tar; its layers gzip, zstd or plain), stores its
// content, unpacks the platform's image and only then records the images
// under their names: the `io.containerd.image.name` annotation, a full
// reference in `org.opencontainers.image.ref.name`, or the RepoTags of a
// docker archive; an image without a name is recorded under its digest.
// Nothing is recorded when any step fails: the content written so far is
// held by the load's lease only, which is deleted. Errors:
// InvalidArgument for an archive that is not one, or names nothing;
// FailedPrecondition for a blob whose digest does not match; NotFound when
// no image of the archive has the platform.
func (c *Client) LoadImages(ctx context.Context, r io.Reader, o LoadOptions) ([]Image, error) {
	const op = "load images"
	ctx = c.ns(ctx)
	match, err := platformMatcher(o.Platform)
	if err != nil {
		return nil, imageOp(op, "archive", err)
	}
	sn, err := c.Snapshotter(ctx)
	if err != nil {
		return nil, err
	}
	ctx, done, err := c.intent(ctx, "load", "")
	if err != nil {
		return nil, imageOp(op, "archive", err)
	}
	defer done()

	cs := c.c.ContentStore()
	// gofail: var c8dLoadBeforeImport struct{}
	// failpointCrash("c8dLoadBeforeImport")
	index, err := archive.ImportIndex(ctx, reportingStore{Store: cs, fn: o.Progress}, r)
	if err != nil {
		return nil, imageOp(op, "archive", archiveError(err))
	}
	var recs []images.Image
	handler := images.HandlerFunc(func(ctx context.Context, desc ocispec.Descriptor) ([]ocispec.Descriptor, error) {
		if desc.Digest != index.Digest {
			return images.Children(ctx, cs, desc)
		}
		var idx ocispec.Index
		if err := readJSON(ctx, cs, desc, &idx); err != nil {
			return nil, err
		}
		for _, m := range idx.Manifests {
			if _, ok := m.Annotations[images.AnnotationManifestSubject]; ok {
				continue
			}
			recs = append(recs, images.Image{Name: archiveName(m), Target: m})
		}
		return idx.Manifests, nil
	})
	if err := images.WalkNotEmpty(ctx, images.SetChildrenLabels(cs, handler), index); err != nil {
		return nil, imageOp(op, "archive", archiveError(err))
	}
	if len(recs) == 0 {
		return nil, imageOp(op, "archive", invalid(errors.New("the archive holds no image")))
	}
	for _, rec := range recs {
		if _, err := images.Manifest(ctx, cs, rec.Target, match); errdefs.IsNotFound(err) {
			return nil, imageOp(op, rec.Name, platformError(err, o.Platform))
		} else if err != nil {
			return nil, imageOp(op, rec.Name, err)
		}
		// The importer stores a blob under the digest of its bytes: one
		// that does not match its name is missing under that name.
		_, _, _, missing, err := images.Check(ctx, cs, rec.Target, match)
		if err != nil {
			return nil, imageOp(op, rec.Name, err)
		}
		if len(missing) > 0 {
			return nil, imageOp(op, rec.Name, fmt.Errorf("%w: the archive lacks %d blob(s) of the image (%s), or their content does not match their digest",
				errdefs.ErrFailedPrecondition, len(missing), missing[0].Digest))
		}
		img := client.NewImageWithPlatform(c.c, rec, match)
		report(o.Progress, Progress{ID: FamiliarName(rec.Name), Kind: "image", Status: "unpacking"})
		// gofail: var c8dLoadBeforeUnpack struct{}
		// failpointCrash("c8dLoadBeforeUnpack")
		if err := img.Unpack(ctx, sn); err != nil {
			return nil, imageOp(op, rec.Name, err)
		}
		report(o.Progress, Progress{ID: FamiliarName(rec.Name), Kind: "image", Status: "unpacked"})
	}
	// gofail: var c8dLoadBeforeRecord struct{}
	// failpointCrash("c8dLoadBeforeRecord")
	out := make([]Image, 0, len(recs))
	for _, rec := range recs {
		saved, err := c.putImage(ctx, rec)
		if err != nil {
			return nil, imageOp(op, rec.Name, err)
		}
		im, err := c.describe(ctx, saved, match, sn)
		if err != nil {
			return nil, imageOp(op, rec.Name, err)
		}
		report(o.Progress, Progress{ID: FamiliarName(rec.Name), Kind: "image", Status: "loaded"})
		out = append(out, im)
	}
	return out, nil
}

// reportingStore is a content store that reports each blob an import
// stores (a line per layer, config and manifest of the archive).
type reportingStore struct {
	content.Store
	fn func(Progress)
}

func (s reportingStore) Writer(ctx context.Context, opts ...content.WriterOpt) (content.Writer, error) {
	w, err := s.Store.Writer(ctx, opts...)
	if err != nil || s.fn == nil {
		return w, err
	}
	return &reportingWriter{Writer: w, fn: s.fn}, nil
}

// reportingWriter reports its blob once committed.
type reportingWriter struct {
	content.Writer
	fn func(Progress)
	n  int64
}

func (w *reportingWriter) Write(p []byte) (int, error) {
	n, err := w.Writer.Write(p)
	w.n += int64(n)
	return n, err
}

func (w *reportingWriter) Commit(ctx context.Context, size int64, expected digest.Digest, opts ...content.Opt) error {
	err := w.Writer.Commit(ctx, size, expected, opts...)
	if err == nil || errdefs.IsAlreadyExists(err) {
		d := expected
		if d == "" {
			d = w.Writer.Digest()
		}
		w.fn(Progress{ID: shortDigest(d), Kind: "blob", Status: "done", Current: w.n, Total: w.n})
	}
	return err
}

// archiveName is the name a manifest of an archive's index is recorded
// under (see LoadImages).
func archiveName(m ocispec.Descriptor) string {
	if n := m.Annotations[images.AnnotationImageName]; n != "" {
		if full, err := NormalizeRef(n); err == nil {
			return full
		}
		return n
	}
	if n := m.Annotations[ocispec.AnnotationRefName]; n != "" {
		// A full reference is a name; a bare tag ("latest") names nothing.
		if r, err := reference.ParseNormalizedNamed(n); err == nil && strings.ContainsAny(n, "/:") {
			return reference.TagNameOnly(r).String()
		}
	}
	return m.Digest.String()
}

// putImage creates the image record, or moves an existing one of that
// name to rec's target.
func (c *Client) putImage(ctx context.Context, rec images.Image) (images.Image, error) {
	is := c.c.ImageService()
	saved, err := is.Update(ctx, rec, "target")
	if errdefs.IsNotFound(err) {
		saved, err = is.Create(ctx, rec)
		if errdefs.IsAlreadyExists(err) {
			saved, err = is.Update(ctx, rec, "target")
		}
	}
	return saved, err
}

// archiveError classes the error of reading an archive: a tar or JSON that
// does not parse is the caller's bad input.
func archiveError(err error) error {
	if hasClass(err) {
		return err
	}
	return invalid(fmt.Errorf("not a complete OCI or docker image archive: %w", err))
}

// platformError says which platform was missing from an image.
func platformError(err error, platform string) error {
	if platform == "" {
		platform = platforms.DefaultString()
	}
	return fmt.Errorf("no image for platform %s: %w", platform, err)
}

func readJSON(ctx context.Context, p content.Provider, desc ocispec.Descriptor, v any) error {
	b, err := content.ReadBlob(ctx, p, desc)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return invalid(fmt.Errorf("%s %s: %w", desc.MediaType, desc.Digest, err))
	}
	return nil
}

func report(fn func(Progress), p Progress) {
	if fn != nil {
		fn(p)
	}
}

// Images lists the images of the namespace, sorted by name, described for
// the host's platform.
func (c *Client) Images(ctx context.Context) ([]Image, error) {
	ctx = c.ns(ctx)
	list, err := c.c.ImageService().List(ctx)
	if err != nil {
		return nil, fmt.Errorf("c8dbridge: list images: %w", classify(err))
	}
	sn, err := c.Snapshotter(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]Image, 0, len(list))
	for _, rec := range list {
		im, err := c.describe(ctx, rec, platforms.Default(), sn)
		if err != nil {
			// An image whose content is incomplete is still listed, for
			// rm; describe fills what it can.
			im = Image{Name: rec.Name, Digest: rec.Target.Digest.String(), MediaType: rec.Target.MediaType, Created: rec.CreatedAt}
		}
		out = append(out, im)
	}
	slices.SortFunc(out, func(a, b Image) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

// findImage looks ref up: a name (normalized), or a digest or a prefix of
// at least 12 hex digits of an image's target or config digest. NotFound
// when nothing matches; InvalidArgument when a prefix matches several
// images or ref does not parse.
func (c *Client) findImage(ctx context.Context, ref string) (images.Image, error) {
	if hex, ok := digestPrefix(ref); ok {
		list, err := c.c.ImageService().List(ctx)
		if err != nil {
			return images.Image{}, err
		}
		var found []images.Image
		for _, rec := range list {
			if strings.HasPrefix(rec.Target.Digest.Encoded(), hex) || rec.Name == ref {
				found = append(found, rec)
				continue
			}
			if cfg, err := rec.Config(ctx, c.c.ContentStore(), platforms.Default()); err == nil && strings.HasPrefix(cfg.Digest.Encoded(), hex) {
				found = append(found, rec)
			}
		}
		switch {
		case len(found) == 1:
			return found[0], nil
		case len(found) > 1 && allSameTarget(found):
			return found[0], nil
		case len(found) > 1:
			return images.Image{}, invalid(fmt.Errorf("%q matches %d images", ref, len(found)))
		}
		return images.Image{}, fmt.Errorf("%w: no image %s", errdefs.ErrNotFound, ref)
	}
	name, err := NormalizeRef(ref)
	if err != nil {
		return images.Image{}, err
	}
	rec, err := c.c.ImageService().Get(ctx, name)
	if errdefs.IsNotFound(err) {
		return images.Image{}, fmt.Errorf("%w: no image %s", errdefs.ErrNotFound, FamiliarName(name))
	}
	return rec, err
}

func allSameTarget(recs []images.Image) bool {
	for _, r := range recs[1:] {
		if r.Target.Digest != recs[0].Target.Digest {
			return false
		}
	}
	return true
}

// digestPrefix reports whether ref is a digest ("sha256:...") or a hex
// prefix of one (12 digits at least), and returns its hex part.
func digestPrefix(ref string) (string, bool) {
	hex := strings.TrimPrefix(ref, "sha256:")
	if len(hex) < 12 || len(hex) > 64 {
		return "", false
	}
	for _, r := range hex {
		if !('0' <= r && r <= '9' || 'a' <= r && r <= 'f') {
			return "", false
		}
	}
	return hex, true
}

// InspectImage describes the image ref (see findImage) for platform ("" is
// the host's). Errors: NotFound; InvalidArgument for a bad reference or
// platform.
func (c *Client) InspectImage(ctx context.Context, ref, platform string) (Image, error) {
	sn, err := c.Snapshotter(ctx)
	if err != nil {
		return Image{}, err
	}
	return c.inspect(ctx, "inspect image", ref, platform, sn)
}

// ResolveImage is InspectImage without the check whether the image is
// unpacked (Unpacked is false): what creating a container needs, in fewer
// calls to containerd.
func (c *Client) ResolveImage(ctx context.Context, ref, platform string) (Image, error) {
	return c.inspect(ctx, "resolve image", ref, platform, "")
}

func (c *Client) inspect(ctx context.Context, op, ref, platform, sn string) (Image, error) {
	ctx = c.ns(ctx)
	match, err := platformMatcher(platform)
	if err != nil {
		return Image{}, imageOp(op, ref, err)
	}
	rec, err := c.findImage(ctx, ref)
	if err != nil {
		return Image{}, imageOp(op, ref, err)
	}
	key := rec.Target.Digest.String() + " " + platform
	if im, ok := c.images.description(key); ok && sn == "" {
		im.Name, im.Created, im.Labels = rec.Name, rec.CreatedAt, rec.Labels
		return im, nil
	}
	im, err := c.describe(ctx, rec, match, sn)
	if err != nil {
		if errdefs.IsNotFound(err) {
			err = platformError(err, platform)
		}
		return Image{}, imageOp(op, ref, err)
	}
	cached := im
	cached.Unpacked = false
	c.images.describedAs(key, cached)
	return im, nil
}

// imageCache keeps what was read from content, which its digest fixes for
// good: an image's description for a platform (without its name, dates
// and unpacked state), and its target descriptor and the chain ID of its
// layers for a create. It saves containerd round trips on every create
// from an image already seen.
type imageCache struct {
	mu        sync.Mutex
	described map[string]Image    // by target digest and platform
	roots     map[string]rootInfo // by target digest
}

// rootInfo is what a create needs of an image's content.
type rootInfo struct {
	target ocispec.Descriptor
	chain  string // the chain ID of its layers: the parent of a snapshot
}

func (ic *imageCache) description(key string) (Image, bool) {
	ic.mu.Lock()
	defer ic.mu.Unlock()
	im, ok := ic.described[key]
	return im, ok
}

func (ic *imageCache) describedAs(key string, im Image) {
	ic.mu.Lock()
	defer ic.mu.Unlock()
	if ic.described == nil {
		ic.described = map[string]Image{}
	}
	ic.described[key] = im
}

func (ic *imageCache) root(d digest.Digest) (rootInfo, bool) {
	ic.mu.Lock()
	defer ic.mu.Unlock()
	r, ok := ic.roots[d.String()]
	return r, ok
}

func (ic *imageCache) rootIs(d digest.Digest, r rootInfo) {
	ic.mu.Lock()
	defer ic.mu.Unlock()
	if ic.roots == nil {
		ic.roots = map[string]rootInfo{}
	}
	ic.roots[d.String()] = r
}

// describe reads an image's manifest and config for match, and whether it
// is unpacked in the snapshotter sn ("": not asked).
func (c *Client) describe(ctx context.Context, rec images.Image, match platforms.MatchComparer, sn string) (Image, error) {
	cs := c.c.ContentStore()
	im := Image{
		Name: rec.Name, Digest: rec.Target.Digest.String(), MediaType: rec.Target.MediaType,
		Created: rec.CreatedAt, Labels: rec.Labels,
	}
	mdesc, err := platformManifest(ctx, cs, rec.Target, match)
	if err != nil {
		return im, err
	}
	var m ocispec.Manifest
	if err := readJSON(ctx, cs, mdesc, &m); err != nil {
		return im, err
	}
	im.ManifestDigest = mdesc.Digest.String()
	im.ConfigDigest = m.Config.Digest.String()
	im.Size = m.Config.Size
	for _, l := range m.Layers {
		im.Layers = append(im.Layers, l.Digest.String())
		im.Size += l.Size
	}
	var cfg dockerConfig
	if err := readJSON(ctx, cs, m.Config, &cfg); err != nil {
		return im, err
	}
	im.Platform = platforms.Format(ocispec.Platform{OS: cfg.OS, Architecture: cfg.Architecture, Variant: cfg.Variant})
	im.Config = cfg.toConfig()
	if sn != "" {
		ok, err := client.NewImageWithPlatform(c.c, rec, match).IsUnpacked(ctx, sn)
		im.Unpacked = err == nil && ok
	}
	return im, nil
}

// platformManifest is the descriptor of target's manifest for match:
// target itself when it is a manifest, else the best match of the index
// (nested indexes followed). NotFound when the index has none.
func platformManifest(ctx context.Context, cs content.Provider, target ocispec.Descriptor, match platforms.MatchComparer) (ocispec.Descriptor, error) {
	for depth := 0; depth < 4; depth++ {
		if !images.IsIndexType(target.MediaType) {
			return target, nil
		}
		var idx ocispec.Index
		if err := readJSON(ctx, cs, target, &idx); err != nil {
			return ocispec.Descriptor{}, err
		}
		var found []ocispec.Descriptor
		for _, d := range idx.Manifests {
			if d.Platform == nil || match.Match(*d.Platform) || images.IsIndexType(d.MediaType) {
				found = append(found, d)
			}
		}
		if len(found) == 0 {
			return ocispec.Descriptor{}, fmt.Errorf("no match for platform in manifest: %w", errdefs.ErrNotFound)
		}
		slices.SortStableFunc(found, func(a, b ocispec.Descriptor) int {
			switch {
			case a.Platform == nil || b.Platform == nil:
				return 0
			case match.Less(*a.Platform, *b.Platform):
				return -1
			case match.Less(*b.Platform, *a.Platform):
				return 1
			}
			return 0
		})
		target = found[0]
	}
	return ocispec.Descriptor{}, invalid(errors.New("indexes nested too deep"))
}

// dockerConfig is the part of an image config (OCI's, plus docker's
// Healthcheck) that vigil reads.
type dockerConfig struct {
	Created      time.Time `json:"created"`
	OS           string    `json:"os"`
	Architecture string    `json:"architecture"`
	Variant      string    `json:"variant,omitempty"`
	Config       struct {
		Entrypoint   []string            `json:"Entrypoint"`
		Cmd          []string            `json:"Cmd"`
		Env          []string            `json:"Env"`
		WorkingDir   string              `json:"WorkingDir"`
		User         string              `json:"User"`
		StopSignal   string              `json:"StopSignal"`
		Labels       map[string]string   `json:"Labels"`
		ExposedPorts map[string]struct{} `json:"ExposedPorts"`
		Healthcheck  *struct {
			Test        []string      `json:"Test"`
			Interval    time.Duration `json:"Interval"`
			Timeout     time.Duration `json:"Timeout"`
			StartPeriod time.Duration `json:"StartPeriod"`
			Retries     int           `json:"Retries"`
		} `json:"Healthcheck"`
	} `json:"config"`
}

func (d dockerConfig) toConfig() ImageConfig {
	c := ImageConfig{
		Entrypoint: d.Config.Entrypoint, Cmd: d.Config.Cmd, Env: d.Config.Env,
		WorkingDir: d.Config.WorkingDir, User: d.Config.User, StopSignal: d.Config.StopSignal,
		Labels: d.Config.Labels, Created: d.Created,
	}
	for p := range d.Config.ExposedPorts {
		c.ExposedPorts = append(c.ExposedPorts, p)
	}
	slices.Sort(c.ExposedPorts)
	if h := d.Config.Healthcheck; h != nil {
		c.Healthcheck = &Healthcheck{Test: h.Test, Interval: h.Interval, Timeout: h.Timeout, StartPeriod: h.StartPeriod, Retries: h.Retries}
	}
	return c
}

// imageUsers maps each image name to the IDs of the containers of the
// namespace created from it (containerd's container record names it).
func (c *Client) imageUsers(ctx context.Context) (map[string][]string, error) {
	list, err := c.c.ContainerService().List(ctx)
	if err != nil {
		return nil, err
	}
	users := map[string][]string{}
	for _, r := range list {
		if r.Image != "" {
			users[r.Image] = append(users[r.Image], r.ID)
		}
	}
	return users, nil
}

// RemoveImage removes the image record ref (a name or digest, see
// InspectImage); the content no other image or container holds is freed
// before it returns. An image a container was created from is refused with
// FailedPrecondition unless force (the container keeps its snapshot). It
// returns the name removed. Errors: NotFound; InvalidArgument.
func (c *Client) RemoveImage(ctx context.Context, ref string, force bool) (string, error) {
	const op = "remove image"
	ctx = c.ns(ctx)
	rec, err := c.findImage(ctx, ref)
	if err != nil {
		return "", imageOp(op, ref, err)
	}
	if !force {
		users, err := c.imageUsers(ctx)
		if err != nil {
			return "", imageOp(op, ref, err)
		}
		if ids := users[rec.Name]; len(ids) > 0 {
			return "", imageOp(op, ref, fmt.Errorf("%w: image is used by container %s (stop and remove it, or force)",
				errdefs.ErrFailedPrecondition, strings.Join(ids, ", ")))
		}
	}
	// gofail: var c8dBeforeRemoveImage struct{}
	// failpointCrash("c8dBeforeRemoveImage")
	if err := c.c.ImageService().Delete(ctx, rec.Name, images.SynchronousDelete()); err != nil {
		return "", imageOp(op, ref, err)
	}
	return rec.Name, nil
}

// PruneImages removes every image no container of the namespace was
// created from, and returns their names.
func (c *Client) PruneImages(ctx context.Context) ([]string, error) {
	const op = "prune images"
	ctx = c.ns(ctx)
	users, err := c.imageUsers(ctx)
	if err != nil {
		return nil, imageOp(op, "", err)
	}
	list, err := c.c.ImageService().List(ctx)
	if err != nil {
		return nil, imageOp(op, "", err)
	}
	var unused []string
	for _, rec := range list {
		if len(users[rec.Name]) == 0 {
			unused = append(unused, rec.Name)
		}
	}
	slices.Sort(unused)
	var removed []string
	for i, name := range unused {
		var opts []images.DeleteOpt
		if i == len(unused)-1 {
			opts = append(opts, images.SynchronousDelete()) // one collection at the end
		}
		if err := c.c.ImageService().Delete(ctx, name, opts...); err != nil && !errdefs.IsNotFound(err) {
			return removed, imageOp(op, name, err)
		}
		removed = append(removed, name)
	}
	return removed, nil
}

// TagImage gives the image src the name target too (replacing the image of
// that name, if any) and returns it described. Errors: NotFound for src;
// InvalidArgument for a reference that does not parse.
func (c *Client) TagImage(ctx context.Context, src, target string) (Image, error) {
	const op = "tag image"
	ctx = c.ns(ctx)
	name, err := NormalizeRef(target)
	if err != nil {
		return Image{}, imageOp(op, src, err)
	}
	if _, ok := digestPrefix(target); ok || strings.Contains(name, "@") {
		return Image{}, imageOp(op, src, invalid(fmt.Errorf("target %q is a digest, not a name", target)))
	}
	rec, err := c.findImage(ctx, src)
	if err != nil {
		return Image{}, imageOp(op, src, err)
	}
	saved, err := c.putImage(ctx, images.Image{Name: name, Target: rec.Target, Labels: rec.Labels})
	if err != nil {
		return Image{}, imageOp(op, src, err)
	}
	sn, err := c.Snapshotter(ctx)
	if err != nil {
		return Image{}, err
	}
	return c.describe(ctx, saved, platforms.Default(), sn)
}

// progressTracker turns the descriptors a pull handles and containerd's
// ingest statuses into Progress reports, each change once.
type progressTracker struct {
	fn    func(Progress) // nil: only note what was seen
	kinds map[string]int // descriptors seen by kind
	mu    sync.Mutex
	seen  map[digest.Digest]*tracked
	ord   []digest.Digest
}

type tracked struct {
	kind string
	last Progress
}

func newTracker(fn func(Progress)) *progressTracker {
	return &progressTracker{fn: fn, seen: map[digest.Digest]*tracked{}, kinds: map[string]int{}}
}

func kindOf(mt string) string {
	switch {
	case images.IsLayerType(mt):
		return "layer"
	case images.IsConfigType(mt):
		return "config"
	case images.IsIndexType(mt):
		return "index"
	case images.IsManifestType(mt):
		return "manifest"
	}
	return "blob"
}

// add notes a descriptor the pull will fetch.
func (t *progressTracker) add(desc ocispec.Descriptor) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if _, ok := t.seen[desc.Digest]; ok {
		return
	}
	t.seen[desc.Digest] = &tracked{kind: kindOf(desc.MediaType)}
	t.kinds[kindOf(desc.MediaType)]++
	t.ord = append(t.ord, desc.Digest)
	t.set(desc.Digest, Progress{Status: "waiting", Total: desc.Size})
}

// set reports p for d if it differs from the last report; t.mu is held.
func (t *progressTracker) set(d digest.Digest, p Progress) {
	tr := t.seen[d]
	p.ID = shortDigest(d)
	p.Kind = tr.kind
	if p == tr.last {
		return
	}
	if tr.last.Status == "done" {
		return // final
	}
	tr.last = p
	if t.fn != nil && (tr.kind == "layer" || p.Status != "downloading") {
		t.fn(p)
	}
}

// platformMissing reports whether the pull found an index but no
// manifest in it: the platform was not there.
func (t *progressTracker) platformMissing() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.kinds["index"] > 0 && t.kinds["manifest"] == 0
}

// poll reports the state of every noted descriptor from the content
// store's ingests and blobs.
func (t *progressTracker) poll(ctx context.Context, cs content.Store, final bool) {
	st, err := cs.ListStatuses(ctx)
	if err != nil {
		return
	}
	active := map[digest.Digest]content.Status{}
	for _, s := range st {
		if i := strings.LastIndex(s.Ref, "sha256:"); i >= 0 {
			active[digest.Digest(s.Ref[i:])] = s
		}
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, d := range t.ord {
		tr := t.seen[d]
		if s, ok := active[d]; ok {
			t.set(d, Progress{Status: "downloading", Current: s.Offset, Total: s.Total})
			continue
		}
		if tr.last.Status == "downloading" || final {
			if _, err := cs.Info(ctx, d); err == nil {
				t.set(d, Progress{Status: "done", Current: tr.last.Total, Total: tr.last.Total})
			}
		}
	}
}

func shortDigest(d digest.Digest) string {
	e := d.Encoded()
	if len(e) > 12 {
		e = e[:12]
	}
	return e
}
