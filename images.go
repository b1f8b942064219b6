package vigil

import (
	"context"
	"io"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/vigilhq/vigil/c8dbridge"
	"github.com/vigilhq/vigil/internal/engine"
)

// Images: load, pull, list, inspect, remove, prune and tag the images of
// the supervisor's namespace, and create containers from them (each with
// a snapshot of its own).

// The types of the image methods, defined by the engine.
type (
	// Image is an image of the supervisor's namespace.
	Image = engine.Image
	// ImageConfig is how an image says to run it.
	ImageConfig = engine.ImageConfig
	// ImageProgress is one step of a pull or a load.
	ImageProgress = engine.ImageProgress
	// RegistryAuth is a credential for one registry.
	RegistryAuth = engine.RegistryAuth
	// PullOptions shape PullImage.
	PullOptions = engine.PullOptions
	// ImageRunOptions say how CreateFromImage gets and applies its image.
	ImageRunOptions = engine.ImageRunOptions
)

// The pull policies of ImageRunOptions.Pull (docker's --pull).
const (
	PullMissing = engine.PullMissing
	PullAlways  = engine.PullAlways
	PullNever   = engine.PullNever
)

// PullImage pulls ref from its registry (HTTPS; plain HTTP for
// Config.InsecureRegistries and loopback), unpacks and records it.
func (s *Supervisor) PullImage(ctx context.Context, ref string, o PullOptions) (Image, error) {
	return s.e.PullImage(ctx, ref, o)
}

// LoadImages loads the images of an OCI or docker archive read from r,
// unpacking those of platform ("" the host's).
func (s *Supervisor) LoadImages(ctx context.Context, r io.Reader, platform string, progress func(ImageProgress)) ([]Image, error) {
	return s.e.LoadImages(ctx, r, platform, progress)
}

// Images lists the images, sorted by name.
func (s *Supervisor) Images(ctx context.Context) ([]Image, error) { return s.e.Images(ctx) }

// InspectImage describes the image ref (a name, or a digest or its
// prefix) for platform ("" the host's).
func (s *Supervisor) InspectImage(ctx context.Context, ref, platform string) (Image, error) {
	return s.e.InspectImage(ctx, ref, platform)
}

// RemoveImage removes the image ref and returns its name; one that a
// container was created from is refused unless force.
func (s *Supervisor) RemoveImage(ctx context.Context, ref string, force bool) (string, error) {
	return s.e.RemoveImage(ctx, ref, force)
}

// PruneImages removes the images no container was created from and
// returns their names.
func (s *Supervisor) PruneImages(ctx context.Context) ([]string, error) { return s.e.PruneImages(ctx) }

// TagImage names the image src target too.
func (s *Supervisor) TagImage(ctx context.Context, src, target string) (Image, error) {
	return s.e.TagImage(ctx, src, target)
}

// CreateFromImage creates a container from an image: pulled as o.Pull
// says, its config merged into cfg as docker merges it, a snapshot of its
// own; the image's name and manifest digest are journaled with it.
func (s *Supervisor) CreateFromImage(ctx context.Context, cfg ContainerConfig, o ImageRunOptions) (*actor.PID, error) {
	return s.e.CreateFromImage(ctx, cfg, o)
}

// NormalizeRef parses an image reference as docker does and returns its
// full form ("busybox" is docker.io/library/busybox:latest). Errors:
// InvalidArgument.
func NormalizeRef(ref string) (string, error) { return c8dbridge.NormalizeRef(ref) }

// FamiliarName is ref as docker shows it ("busybox:latest").
func FamiliarName(ref string) string { return c8dbridge.FamiliarName(ref) }

// RegistryAuthFor reads the docker config file at path and returns the
// credential it holds for ref's registry, or nil. Errors: InvalidArgument.
func RegistryAuthFor(path, ref string) (*RegistryAuth, error) {
	return c8dbridge.RegistryAuthFor(path, ref)
}

// UpdateOptions say how Update gets the new image: its reference, the
// grace period, the pull policy and a pull's options.
type UpdateOptions = engine.UpdateOptions

// DefaultUpdateGrace is the grace period of an update that names none.
const DefaultUpdateGrace = engine.DefaultUpdateGrace

// Update moves a running container made from an image to another image,
// atomically: the image is pulled first, then the old task is stopped
// and the new one started on a snapshot of its own; the old snapshot is
// kept until the new task has run for the grace period, and a new task
// that fails to start or exits before then brings the old image back.
// After a crash at any point, recovery ends with the old or the new image
// running, never neither and never both (ARCHITECTURE.md, "Updates to
// another image").
func (s *Supervisor) Update(ctx context.Context, id string, o UpdateOptions) (State, error) {
	return s.e.Update(ctx, id, o)
}

// Rollback brings back the image a container ran before its last update:
// at once during the update's grace period, after it by an update to the
// previous image with the grace period grace (0: DefaultUpdateGrace).
func (s *Supervisor) Rollback(ctx context.Context, id string, grace time.Duration) (State, error) {
	return s.e.Rollback(ctx, id, grace)
}
