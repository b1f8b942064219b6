package engine

import (
	"context"
	"fmt"
	"time"

	"github.com/containerd/errdefs"

	"github.com/vigilhq/vigil/actors"
	"github.com/vigilhq/vigil/actors/lifecycle"
	"github.com/vigilhq/vigil/c8dbridge"
	"github.com/vigilhq/vigil/internal/containerid"
)

// DefaultUpdateGrace is how long the new task of an update must run
// before the update stands and the old snapshot is released, when the
// caller names no grace period.
const DefaultUpdateGrace = 10 * time.Second

// UpdateOptions say how Update gets the new image.
type UpdateOptions struct {
	// Image is the reference (or digest) to update to.
	Image string
	// Grace is how long the new task must run before the update stands;
	// 0 is DefaultUpdateGrace.
	Grace time.Duration
	// Pull is PullMissing (when ""), PullAlways or PullNever.
	Pull string
	// Platform, Auth and Progress are those of a pull.
	Platform string
	Auth     *RegistryAuth
	Progress func(ImageProgress)
}

// updateWait bounds the wait for the actor's answer to an update: the
// preparation of the snapshot, the stop of the old task and the start of
// the new one (and, when it fails, the swap back).
func (s *Supervisor) updateWait() time.Duration {
	return max(s.cfg.RequestTimeout, actors.PrepareTimeout+2*time.Minute)
}

// Update moves a running container made from an image to another image
// (lifecycle/update.go): the image is pulled first (o.Pull), before
// anything of the container changes; then the container's actor prepares
// a snapshot of the new image, stops the old task, moves the container to
// the new snapshot and starts it. The old snapshot is kept until the new
// task has run for o.Grace; a new task that fails to start or exits
// before then brings the old image back. It returns once the new task
// runs (State.Update in its grace period) or the update ended (State.Error
// says why). The container's own settings are kept and the image's are
// the new image's (lifecycle.UpdateConfig). A container that does not
// run, runs a rootfs or is being updated is refused with
// ErrInvalidTransition before anything is pulled.
func (s *Supervisor) Update(ctx context.Context, id string, o UpdateOptions) (lifecycle.State, error) {
	if err := containerid.Validate(id); err != nil {
		return lifecycle.State{}, err
	}
	if o.Image == "" {
		return lifecycle.State{}, fmt.Errorf("vigil: %w: update container %q: no image given", ErrInvalidArgument, id)
	}
	grace := o.Grace
	if grace == 0 {
		grace = DefaultUpdateGrace
	}
	if grace < 0 {
		return lifecycle.State{}, fmt.Errorf("vigil: %w: update grace period %v is negative", ErrInvalidArgument, grace)
	}
	up, err := s.updater()
	if err != nil {
		return lifecycle.State{}, err
	}
	cur, err := s.Inspect(ctx, id)
	if err != nil {
		return lifecycle.State{}, err
	}
	if err := lifecycle.CanUpdate(cur); err != nil {
		return cur, err
	}
	img, err := s.imageFor(ctx, ImageRunOptions{Image: o.Image, Pull: o.Pull, Platform: o.Platform, Auth: o.Auth, Progress: o.Progress})
	if err != nil {
		return cur, err
	}
	defs, err := imageDefaults(img.Name, img.ManifestDigest, img.Config)
	if err != nil {
		return cur, err
	}
	var old lifecycle.ImageDefaults
	if oc, err := up.ImageDefaults(ctx, cur.Config.Image, cur.Config.ImageDigest); err == nil {
		if old, err = imageDefaults(cur.Config.Image, cur.Config.ImageDigest, oc); err != nil {
			old = lifecycle.ImageDefaults{}
		}
	} else {
		s.log.Warn("update: the config of the image the container runs is not stored; its settings are all kept",
			"container", id, "image", cur.Config.Image, "err", err)
	}
	cfg, err := lifecycle.UpdateConfig(cur.Config, old, defs)
	if err != nil {
		return cur, err
	}
	st, err := s.sendUpdate(ctx, id, actors.Update{Config: cfg, Grace: grace})
	if err != nil && st.Update == nil && st.Status == lifecycle.StatusRunning && st.Config.ImageDigest == cur.Config.ImageDigest {
		err = fmt.Errorf("vigil: the update of container %q to %s was rolled back, its old image runs again: %w", id, img.Name, err)
	}
	return st, err
}

// Rollback brings back the image a container ran before its last update:
// during the update's grace period at once (the old snapshot is still
// there), after it by an update to the previous image's settings (the
// container keeps that image's content stored while it exists, even when
// its name is removed), whose grace period is grace (0:
// DefaultUpdateGrace). A container with no previous image is refused with
// ErrInvalidTransition.
func (s *Supervisor) Rollback(ctx context.Context, id string, grace time.Duration) (lifecycle.State, error) {
	if err := containerid.Validate(id); err != nil {
		return lifecycle.State{}, err
	}
	if grace == 0 {
		grace = DefaultUpdateGrace
	}
	if grace < 0 {
		return lifecycle.State{}, fmt.Errorf("vigil: %w: rollback grace period %v is negative", ErrInvalidArgument, grace)
	}
	if _, err := s.updater(); err != nil {
		return lifecycle.State{}, err
	}
	return s.sendUpdate(ctx, id, actors.Rollback{Grace: grace})
}

func (s *Supervisor) sendUpdate(ctx context.Context, id string, msg any) (lifecycle.State, error) {
	pid, err := s.PID(ctx, id)
	if err != nil {
		return lifecycle.State{}, err
	}
	timeout := s.updateWait()
	if d, ok := ctx.Deadline(); ok {
		timeout = min(timeout, time.Until(d))
	}
	res, err := s.await(ctx, pid, msg, timeout)
	return reply(res, err, msg)
}

// updater is the runtime's side of updates.
func (s *Supervisor) updater() (c8dbridge.Updater, error) {
	if err := s.needImages(); err != nil {
		return nil, err
	}
	up, ok := s.images.store.(c8dbridge.Updater)
	if !ok {
		return nil, errdefs.ErrNotImplemented.WithMessage("vigil: this runtime cannot update containers to another image")
	}
	return up, nil
}
