package engine

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/containerd/errdefs"

	"github.com/vigilhq/vigil/actors/lifecycle"
	"github.com/vigilhq/vigil/c8dbridge"
)

// Images: the supervisor's side of c8dbridge's image operations. The
// content and snapshots live in containerd (vigil's namespace); vigil's
// journal holds nothing of an image that no container uses.

type (
	// Image is an image of vigil's namespace.
	Image = c8dbridge.Image
	// ImageConfig is how an image says to run it.
	ImageConfig = c8dbridge.ImageConfig
	// ImageProgress is one step of a pull or a load.
	ImageProgress = c8dbridge.Progress
	// RegistryAuth is a credential for one registry.
	RegistryAuth = c8dbridge.RegistryAuth
)

// PullOptions shape PullImage.
type PullOptions struct {
	// Platform to resolve from a multi-platform index ("linux/arm64");
	// "" is the host's.
	Platform string
	// Auth is the credential for the reference's registry, if any.
	Auth *RegistryAuth
	// Progress, when not nil, receives the steps of the pull.
	Progress func(ImageProgress)
}

// imageState makes the release of interrupted pulls and loads (see
// c8dbridge.Client.ReconcileImages) happen once, before this process's
// first pull or load.
type imageState struct {
	store      imageStore // the runtime's images; nil when it has none
	started    time.Time  // Open's start: older intent leases are an earlier process's
	mu         sync.Mutex
	reconciled bool
	sweeping   atomic.Bool // a reconcileSnapshots runs
}

// imageStore is what the engine needs of the runtime for images:
// c8dbridge.Client has it; a runtime without it (a test fake) refuses
// image requests with NotImplemented.
type imageStore interface {
	ReconcileImages(ctx context.Context, before time.Time) (int, error)
	Snapshots(ctx context.Context) ([]string, error)
	Containers(ctx context.Context) ([]string, error)
	RemoveSnapshot(ctx context.Context, id string) error
	PullImage(ctx context.Context, ref string, o c8dbridge.PullOptions) (c8dbridge.Image, error)
	LoadImages(ctx context.Context, r io.Reader, o c8dbridge.LoadOptions) ([]c8dbridge.Image, error)
	Images(ctx context.Context) ([]c8dbridge.Image, error)
	InspectImage(ctx context.Context, ref, platform string) (c8dbridge.Image, error)
	ResolveImage(ctx context.Context, ref, platform string) (c8dbridge.Image, error)
	RemoveImage(ctx context.Context, ref string, force bool) (string, error)
	PruneImages(ctx context.Context) ([]string, error)
	TagImage(ctx context.Context, src, target string) (c8dbridge.Image, error)
}

var _ imageStore = (*c8dbridge.Client)(nil)

// needImages refuses an image request when containerd is away or the
// runtime has no images.
func (s *Supervisor) needImages() error {
	if s.images.store == nil {
		return errdefs.ErrNotImplemented.WithMessage("vigil: this runtime has no images")
	}
	return s.needContainerd()
}

// imagesReady makes sure that what pulls, loads and creates of an earlier
// process left was released (see releaseIntents) before this process
// pulls or loads.
func (s *Supervisor) imagesReady(ctx context.Context) error {
	if err := s.needImages(); err != nil {
		return err
	}
	return s.releaseIntents(ctx)
}

// releaseIntents releases, once per process, the leases of the pulls,
// loads and creates of an earlier process that did not finish: containerd
// then collects their content and snapshots, which nothing else holds.
func (s *Supervisor) releaseIntents(ctx context.Context) error {
	s.images.mu.Lock()
	defer s.images.mu.Unlock()
	if s.images.reconciled {
		return nil
	}
	n, err := s.images.store.ReconcileImages(ctx, s.images.started)
	if err != nil {
		return err
	}
	if n > 0 {
		s.log.Warn("released the content and snapshots of pulls, loads and creates that did not finish", "leases", n)
	}
	s.images.reconciled = true
	return nil
}

// reconcileImages runs after every reconcile of the containers: the
// first time, it releases the intents of the earlier process (a single
// call when there are none); each time, it starts reconcileSnapshots in
// the background, once at a time and bounded, so that the router goes
// back to routing events at once, even when containerd goes away again.
func (s *Supervisor) reconcileImages(ctx context.Context) {
	if s.images.store == nil {
		return
	}
	if err := s.releaseIntents(ctx); err != nil {
		s.log.Error("reconcile: release the intents of an earlier process", "err", err)
	}
	if !s.images.sweeping.CompareAndSwap(false, true) {
		return // one runs; the next reconcile sweeps again
	}
	go func() {
		defer s.images.sweeping.Store(false)
		ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		s.reconcileSnapshots(ctx)
	}()
}

// reconcileSnapshots removes the snapshots of vigil's namespace that no
// container owns:
//   - a snapshot keyed by a container ID (made with the container) whose
//     ID is neither a container in containerd nor a container of vigil's
//     that is not removed;
//   - an update's snapshot, keyed ID@N, that no state of container ID
//     (not removed) names: as the snapshot it runs on, either side of
//     its update under way, or the snapshot it still has to release.
//
// The snapshots are listed before containerd's containers and vigil's
// containers: a create in flight has its actor and its journaled intent
// (creating) before its snapshot exists, and an update journals its new
// snapshot's key (UpdateRequested) before it prepares it, and clears a
// key only once the snapshot is removed, so neither is ever taken for an
// orphan; a create that failed or a container removed by a crash's
// reconcile leaves a snapshot that the next reconcile removes.
func (s *Supervisor) reconcileSnapshots(ctx context.Context) {
	keys, err := s.images.store.Snapshots(ctx)
	if err != nil || len(keys) == 0 {
		if err != nil {
			s.log.Error("reconcile: list snapshots", "err", err)
		}
		return
	}
	inContainerd, err := s.images.store.Containers(ctx)
	if err != nil {
		s.log.Error("reconcile: list containers", "err", err)
		return
	}
	states, err := s.List(ctx)
	if err != nil {
		s.log.Error("reconcile: list containers", "err", err)
		return
	}
	for _, key := range OrphanSnapshots(keys, inContainerd, states) {
		if err := s.images.store.RemoveSnapshot(ctx, key); err != nil {
			s.log.Error("cannot remove orphan snapshot", "snapshot", key, "err", err)
			continue
		}
		s.log.Warn("removed orphan snapshot: no container owns it", "snapshot", key)
	}
}

// OrphanSnapshots is the snapshot rule of reconcileSnapshots: which of
// keys (vigil's snapshots) no container owns, given the containers of
// containerd and vigil's states.
func OrphanSnapshots(keys, inContainerd []string, states []lifecycle.State) []string {
	known := map[string]bool{}
	named := map[string]bool{}
	for _, st := range states {
		if st.Status == lifecycle.StatusRemoved {
			continue
		}
		known[st.ID] = true
		for _, k := range SnapshotsOf(st) {
			named[k] = true
		}
	}
	var out []string
	for _, key := range keys {
		id, _, update := strings.Cut(key, "@")
		switch {
		case named[key]:
		case update:
			out = append(out, key)
		case slices.Contains(inContainerd, id) || known[id]:
		default:
			out = append(out, key)
		}
	}
	return out
}

// SnapshotsOf lists the snapshot keys a container's state names: the
// one it runs on, both sides of an update under way, and one an update
// left to release.
func SnapshotsOf(st lifecycle.State) []string {
	var keys []string
	if st.Config.Image != "" {
		keys = append(keys, st.SnapshotKey())
	}
	if u := st.Update; u != nil {
		keys = append(keys, u.From.Snapshot, u.To.Snapshot)
	}
	if st.ReleaseSnapshot != "" {
		keys = append(keys, st.ReleaseSnapshot)
	}
	return keys
}

// PullImage pulls ref from its registry (HTTPS; plain HTTP for
// Config.InsecureRegistries and loopback), unpacks it and records it. See
// c8dbridge.Client.PullImage for its errors.
func (s *Supervisor) PullImage(ctx context.Context, ref string, o PullOptions) (Image, error) {
	if err := s.imagesReady(ctx); err != nil {
		return Image{}, err
	}
	return s.images.store.PullImage(ctx, ref, c8dbridge.PullOptions{
		Platform: o.Platform, Auth: o.Auth, Insecure: s.cfg.InsecureRegistries, Progress: o.Progress,
	})
}

// LoadImages loads the images of an OCI or docker archive read from r,
// unpacking those of platform ("" the host's).
func (s *Supervisor) LoadImages(ctx context.Context, r io.Reader, platform string, progress func(ImageProgress)) ([]Image, error) {
	if err := s.imagesReady(ctx); err != nil {
		return nil, err
	}
	return s.images.store.LoadImages(ctx, r, c8dbridge.LoadOptions{Platform: platform, Progress: progress})
}

// Images lists the images, sorted by name.
func (s *Supervisor) Images(ctx context.Context) ([]Image, error) {
	if err := s.needImages(); err != nil {
		return nil, err
	}
	return s.images.store.Images(ctx)
}

// InspectImage describes the image ref (a name, or a digest or its
// prefix) for platform ("" the host's).
func (s *Supervisor) InspectImage(ctx context.Context, ref, platform string) (Image, error) {
	if err := s.needImages(); err != nil {
		return Image{}, err
	}
	return s.images.store.InspectImage(ctx, ref, platform)
}

// RemoveImage removes the image ref and returns its name; one that a
// container uses is refused unless force.
func (s *Supervisor) RemoveImage(ctx context.Context, ref string, force bool) (string, error) {
	if err := s.needImages(); err != nil {
		return "", err
	}
	return s.images.store.RemoveImage(ctx, ref, force)
}

// PruneImages removes the images no container uses and returns their
// names.
func (s *Supervisor) PruneImages(ctx context.Context) ([]string, error) {
	if err := s.needImages(); err != nil {
		return nil, err
	}
	return s.images.store.PruneImages(ctx)
}

// TagImage names the image src target too.
func (s *Supervisor) TagImage(ctx context.Context, src, target string) (Image, error) {
	if err := s.needImages(); err != nil {
		return Image{}, err
	}
	return s.images.store.TagImage(ctx, src, target)
}

// Pull policies of CreateFromImage (docker's --pull).
const (
	PullMissing = "missing" // pull when no image has the name (the default)
	PullAlways  = "always"  // pull every time
	PullNever   = "never"   // use what is stored, or fail
)

// ImageRunOptions say how CreateFromImage gets and applies its image.
type ImageRunOptions struct {
	// Image is the reference (or digest) to run.
	Image string
	// Entrypoint replaces the image's entrypoint when not nil (docker's
	// --entrypoint; [""] clears it).
	Entrypoint *[]string
	// Pull is PullMissing (when ""), PullAlways or PullNever.
	Pull string
	// Platform, Auth and Progress are those of a pull.
	Platform string
	Auth     *RegistryAuth
	Progress func(ImageProgress)
}

// CreateFromImage creates a container from an image: it pulls the image
// as o.Pull says, completes cfg from the image's config as docker does
// (lifecycle.ApplyImage: entrypoint and command, env, working dir, user,
// labels, stop signal; exposed ports and health check recorded) and
// creates it with its own snapshot of the image. The image's digest is
// journaled with the container, which keeps running that content after
// the name moves. cfg.Rootfs must be empty.
func (s *Supervisor) CreateFromImage(ctx context.Context, cfg lifecycle.Config, o ImageRunOptions) (*actor.PID, error) {
	cfg, err := s.configFromImage(ctx, cfg, o)
	if err != nil {
		return nil, err
	}
	return s.Create(ctx, cfg)
}

// configFromImage gets the image as o.Pull says and merges its config
// into cfg, as CreateFromImage creates the container.
func (s *Supervisor) configFromImage(ctx context.Context, cfg lifecycle.Config, o ImageRunOptions) (lifecycle.Config, error) {
	img, err := s.imageFor(ctx, o)
	if err != nil {
		return lifecycle.Config{}, err
	}
	// The platform's manifest: the container runs that, whatever the
	// index under the name becomes.
	defs, err := imageDefaults(img.Name, img.ManifestDigest, img.Config)
	if err != nil {
		return lifecycle.Config{}, err
	}
	cfg, err = lifecycle.ApplyImage(cfg, defs, o.Entrypoint)
	if err != nil {
		return lifecycle.Config{}, err
	}
	// cfg.PublishAll (-P) now covers the image's exposed ports too: the
	// actor resolves it when it admits the create.
	return cfg, nil
}

// imageDefaults is what an image's config says about running it, in the
// lifecycle's words.
func imageDefaults(name, digest string, c ImageConfig) (lifecycle.ImageDefaults, error) {
	defs := lifecycle.ImageDefaults{
		Name: name, Digest: digest,
		Entrypoint: c.Entrypoint, Cmd: c.Cmd, Env: c.Env,
		WorkingDir: c.WorkingDir, User: c.User, Labels: c.Labels,
		ExposedPorts: c.ExposedPorts,
	}
	if sig := c.StopSignal; sig != "" {
		n, err := c8dbridge.ParseSignal(sig)
		if err != nil {
			return defs, fmt.Errorf("vigil: image %s: stop signal: %w", name, err)
		}
		defs.StopSignal = int(n)
	}
	if h := c.Healthcheck; h != nil {
		defs.Healthcheck = &lifecycle.Healthcheck{Test: h.Test, Interval: h.Interval, Timeout: h.Timeout, StartPeriod: h.StartPeriod, Retries: h.Retries}
	}
	return defs, nil
}

// imageFor gets the image to run as o.Pull says.
func (s *Supervisor) imageFor(ctx context.Context, o ImageRunOptions) (Image, error) {
	if err := s.imagesReady(ctx); err != nil {
		return Image{}, err
	}
	pull := func() (Image, error) {
		return s.PullImage(ctx, o.Image, PullOptions{Platform: o.Platform, Auth: o.Auth, Progress: o.Progress})
	}
	switch o.Pull {
	case PullAlways:
		return pull()
	case PullMissing, "", PullNever:
	default:
		return Image{}, fmt.Errorf("vigil: %w: pull policy %q: use missing, always or never", ErrInvalidArgument, o.Pull)
	}
	img, err := s.images.store.ResolveImage(ctx, o.Image, o.Platform)
	if errdefs.IsNotFound(err) {
		if o.Pull == PullNever {
			return Image{}, fmt.Errorf("vigil: image %s is not stored and the pull policy is never: %w", o.Image, err)
		}
		return pull()
	}
	return img, err
}
