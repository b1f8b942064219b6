package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"time"

	"github.com/containerd/errdefs"

	"github.com/vigilhq/vigil"
	"github.com/vigilhq/vigil/api"
)

// Updates of containers to another image, and their rollback.

// updateBackend is the part of the Backend that updates containers; a
// backend without it answers 501.
type updateBackend interface {
	Update(ctx context.Context, id string, o vigil.UpdateOptions) (vigil.State, error)
	Rollback(ctx context.Context, id string, grace time.Duration) (vigil.State, error)
}

var _ updateBackend = (*vigil.Supervisor)(nil)

func init() {
	routes = append(routes,
		route{"POST", "/v1/containers/{id}/update", (*server).update},
		route{"POST", "/v1/containers/{id}/rollback", (*server).rollback},
	)
}

func (s *server) updateBackend() (updateBackend, error) {
	ub, ok := s.b.(updateBackend)
	if !ok {
		return nil, errdefs.ErrNotImplemented.WithMessage("this daemon does not update containers")
	}
	return ub, nil
}

// graceOf parses a grace period: a Go duration, positive; "" is 0 (the
// default).
func graceOf(what, v string) (time.Duration, error) {
	if v == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		return 0, badRequest("%s: grace %q: want a positive duration such as 30s", what, v)
	}
	return d, nil
}

func (s *server) update(w http.ResponseWriter, r *http.Request) error {
	var req api.UpdateRequest
	if err := decodeBody(w, r, &req); err != nil {
		return err
	}
	if req.Image == "" {
		return badRequest("request body: image is required: the image to update the container to")
	}
	grace, err := graceOf("request body", req.Grace)
	if err != nil {
		return err
	}
	ub, err := s.updateBackend()
	if err != nil {
		return err
	}
	st, err := ub.Update(r.Context(), r.PathValue("id"), vigil.UpdateOptions{
		Image: req.Image, Grace: grace, Pull: req.Pull, Platform: req.Platform, Auth: authOf(req.Auth)})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, api.ContainerOf(st))
	return nil
}

func (s *server) rollback(w http.ResponseWriter, r *http.Request) error {
	grace, err := graceOf("query", r.URL.Query().Get("grace"))
	if err != nil {
		return err
	}
	ub, err := s.updateBackend()
	if err != nil {
		return err
	}
	st, err := ub.Rollback(r.Context(), r.PathValue("id"), grace)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, api.ContainerOf(st))
	return nil
}

var updateCommand = &command{
	name:     "update",
	synopsis: "--image REF [--grace DUR] [--pull P] [--platform P] [--registry-config FILE] ID",
	summary:  "update a running container to another image, atomically",
	details: `
Moves a running container made from an image to the image REF. The image is
pulled first (--pull missing, the default, pulls it only when it is not
stored); then the old task is stopped (its stop signal, SIGKILL after its stop
timeout), the container moves to a snapshot of the new image and its task
starts. The old snapshot is kept until the new task has run for the grace
period (--grace, default 10s): a new task that fails to start or exits before
then brings the old image back at once. A crash of the daemon at any point
ends, after its restart, with the old or the new image running, never neither
and never both.

The container keeps its own settings (resources, mounts, network, ports,
restart policy, env and labels it was given, a command given after the
image name); what the old image gave it (entrypoint and command, env, working
dir, user, labels, stop signal, exposed ports, health check) is the new
image's.

Refused, with nothing pulled or changed: a container that does not run (start
it first), that runs a --rootfs directory, or that is being updated.

Prints the container's ID once the new image runs; 'supervisor inspect ID'
shows the update (its phase, both images) and, once it stands, the previous
image.`,
	setup: func(fs *flag.FlagSet) runFunc {
		image := fs.String("image", "", "the image `REF` to update to (required)")
		grace := fs.Duration("grace", 0, "how long the new task must run before the update stands (default 10s)")
		pull := fs.String("pull", "missing", "pull the image: missing, always or never")
		platform := fs.String("platform", "", "the platform to pull from a multi-platform image (default the host's)")
		regConfig := fs.String("registry-config", "", "docker config `FILE` with registry credentials (see 'supervisor image -h')")
		return func(ctx context.Context, a *app, args []string) error {
			if len(args) != 1 {
				return usageErrorf("update takes one container ID")
			}
			if *image == "" {
				return usageErrorf("update needs --image REF")
			}
			if *grace < 0 {
				return usageErrorf("--grace %v is negative", *grace)
			}
			auth, err := registryAuth(a, *regConfig, *image)
			if err != nil {
				return err
			}
			req := api.UpdateRequest{Image: *image, Pull: *pull, Platform: *platform, Auth: auth}
			if *grace > 0 {
				req.Grace = grace.String()
			}
			st, err := a.client().Update(ctx, args[0], req)
			if err != nil {
				return err
			}
			return updateOutcome(a, st, "update")
		}
	},
}

// rollbackCommand has two forms: rollback ID brings back a container's
// image from before its last update; rollback --to VERSION applies an
// earlier version of a project again (projects.go).
var rollbackCommand = &command{
	name:     "rollback",
	synopsis: "[--grace DUR] ID | --to VERSION [-p NAME | -f FILE] [--dry-run] [--timeout D]",
	summary:  "bring back a container's image from before its last update, or a project's earlier version",
	details: `
rollback ID: during an update's grace period, stops the new image and starts
the old one again at once, on the snapshot that was kept. After the update
stood, updates the container back to its previous image (the container keeps
that image's content stored, even when its name is removed), with a grace
period of --grace (default 10s).

rollback --to VERSION: applies version VERSION of the project (see apply
--history) again, as its next version: the plan is printed, then carried out
as apply does.`,
	setup: func(fs *flag.FlagSet) runFunc {
		grace := fs.Duration("grace", 0, "the grace period of a rollback after the update stood (default 10s)")
		var project projectRollbackFlags // projects.go
		project.define(fs)
		return func(ctx context.Context, a *app, args []string) error {
			if *project.to != 0 {
				return project.run(ctx, a, args)
			}
			if len(args) != 1 {
				return usageErrorf("rollback takes one container ID, or --to VERSION for a project")
			}
			if *grace < 0 {
				return usageErrorf("--grace %v is negative", *grace)
			}
			g := ""
			if *grace > 0 {
				g = grace.String()
			}
			st, err := a.client().Rollback(ctx, args[0], g)
			if err != nil {
				return err
			}
			return updateOutcome(a, st, "rollback")
		}
	},
}

// errUpdateFailed is an update (or rollback) that ended without the new
// image running: the state says why.
var errUpdateFailed = errors.New("the update did not take effect")

// updateOutcome prints the ID of a container whose update (or rollback)
// took effect, and fails when it ended without: an update took effect
// when the new image runs in its grace period; a rollback when the
// container runs with no update under way (the old image back, during a
// grace period) or the previous image runs in its grace period.
func updateOutcome(a *app, st api.Container, verb string) error {
	inGrace := st.Update != nil && st.Update.Phase == "grace"
	ok := inGrace
	if verb == "rollback" && st.Update == nil && st.Status == api.StatusRunning {
		ok = true
	}
	if !ok {
		why := st.Error
		if why == "" {
			why = "it is " + st.Status.String()
		}
		return fmt.Errorf("%s of %s: %w: %s", verb, st.ID, errUpdateFailed, why)
	}
	fmt.Fprintln(a.stdout, st.ID)
	return nil
}
