package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"

	"github.com/containerd/errdefs"
	"github.com/vigilhq/vigil"
	"github.com/vigilhq/vigil/api"
)

// checkpointer is the part of the Backend that checkpoints and restores.
// It is not in Backend itself so that a backend without it (a test stub)
// answers 501 rather than failing to build.
type checkpointer interface {
	Checkpoint(ctx context.Context, id, dir string, opts vigil.CheckpointOptions) (vigil.State, error)
	StartFromCheckpoint(ctx context.Context, id, dir string) (vigil.State, error)
}

var _ checkpointer = (*vigil.Supervisor)(nil)

// checkpointer returns the backend's checkpointer, or the error that says
// it has none.
func (s *server) checkpointer() (checkpointer, error) {
	cp, ok := s.b.(checkpointer)
	if !ok {
		return nil, errdefs.ErrNotImplemented.WithMessage("this daemon cannot checkpoint or restore containers")
	}
	return cp, nil
}

func (s *server) checkpoint(w http.ResponseWriter, r *http.Request) error {
	var req api.CheckpointRequest
	if err := decodeBody(w, r, &req); err != nil {
		return err
	}
	dir := req.Dir
	switch {
	case req.Name != "" && req.Dir != "":
		return badRequest("request body: name and dir are exclusive: name a checkpoint (kept under the state dir) or give a directory")
	case req.Name != "":
		if strings.Contains(req.Name, "/") {
			return badRequest("request body: name %q: a checkpoint name has no '/'; give a directory in dir", req.Name)
		}
		dir = req.Name
	case req.Dir == "":
		return badRequest("request body: name or dir is required: the checkpoint's name, or the absolute path of its directory")
	case !filepath.IsAbs(req.Dir):
		return badRequest("request body: dir %q must be an absolute path", req.Dir)
	}
	cp, err := s.checkpointer()
	if err != nil {
		return err
	}
	st, err := cp.Checkpoint(r.Context(), r.PathValue("id"), dir, vigil.CheckpointOptions{LeaveRunning: req.LeaveRunning})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, api.ContainerOf(st))
	return nil
}

// start starts a container, restored from the checkpoint the query
// parameter checkpoint names (a name, or an absolute directory) when it
// is given.
func (s *server) start(w http.ResponseWriter, r *http.Request) error {
	id, dir := r.PathValue("id"), r.URL.Query().Get("checkpoint")
	var (
		st  vigil.State
		err error
	)
	if dir == "" {
		st, err = s.b.Start(r.Context(), id)
	} else {
		var cp checkpointer
		if cp, err = s.checkpointer(); err != nil {
			return err
		}
		st, err = cp.StartFromCheckpoint(r.Context(), id, dir)
	}
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, api.ContainerOf(st))
	return nil
}

// criuHelp is what checkpoint and start --checkpoint need of the host.
const criuHelp = `

Checkpoints are written and restored by criu through containerd's runc
shim: criu must be installed on the daemon's host and ` + "`criu check`" + ` must pass
there; otherwise the command fails with criu's reason and changes nothing.`

const checkpointSynopsis = "create [--leave-running] ID NAME|DIR"

var checkpointCommand = &command{
	name:     "checkpoint",
	synopsis: checkpointSynopsis,
	summary:  "write a criu checkpoint of a running container",
	details: `
checkpoint create writes a checkpoint of the container's running task and
prints its NAME or DIR. A NAME (no '/') keeps it under the daemon's state
dir, in containers/ID/checkpoints/NAME, removed with the container; a
DIR (with a '/'; a relative one is taken from the current directory) is
created if missing, and it and each of its parents must be owned by root
and not writable by group or others, with no symbolic link on the way
(criu writes the task's memory there, and a restore runs what it reads).
The task stops after the checkpoint, as docker's does, unless
--leave-running; that stop is a user's stop, so no restart policy
restarts it. 'supervisor start --checkpoint NAME|DIR ID' starts the task
again from the checkpoint.` + criuHelp,
	setup: func(*flag.FlagSet) runFunc { return runCheckpoint },
}

// checkpointArg is a checkpoint's NAME, or a DIR (with a '/') made
// absolute.
func checkpointArg(arg string) (api.CheckpointRequest, string, error) {
	if !strings.Contains(arg, "/") {
		return api.CheckpointRequest{Name: arg}, arg, nil
	}
	dir, err := filepath.Abs(arg)
	if err != nil {
		return api.CheckpointRequest{}, "", fmt.Errorf("checkpoint directory: %w", err)
	}
	return api.CheckpointRequest{Dir: dir}, dir, nil
}

func runCheckpoint(ctx context.Context, a *app, args []string) error {
	if len(args) == 0 {
		return usageErrorf("checkpoint needs a subcommand: create")
	}
	if args[0] != "create" {
		return usageErrorf("unknown checkpoint subcommand %q: want create", args[0])
	}
	fs := flag.NewFlagSet("checkpoint create", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	leave := fs.Bool("leave-running", false, "keep the task running after the checkpoint")
	if err := fs.Parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprintf(a.stdout, "Usage: supervisor [global flags] checkpoint %s\n\nFlags:\n", checkpointSynopsis)
			fs.SetOutput(a.stdout)
			fs.PrintDefaults()
			return nil
		}
		return usageErrorf("%v", err)
	}
	if fs.NArg() != 2 {
		return usageErrorf("checkpoint create takes a container ID and a checkpoint name or directory")
	}
	id := fs.Arg(0)
	if err := checkIDs([]string{id}); err != nil {
		return err
	}
	req, shown, err := checkpointArg(fs.Arg(1))
	if err != nil {
		return err
	}
	req.LeaveRunning = *leave
	if _, err := a.client().Checkpoint(ctx, id, req); err != nil {
		return fmt.Errorf("%s", errorFor(id, err))
	}
	fmt.Fprintln(a.stdout, shown)
	return nil
}

var startCommand = &command{
	name:     "start",
	synopsis: "[--checkpoint NAME|DIR] ID...",
	summary:  "start created or exited containers",
	details: `
With --checkpoint, start restores the task of one container from the
checkpoint NAME or DIR (written by 'supervisor checkpoint create', and
only from a directory as trusted as it requires) instead of starting it
afresh.` + criuHelp,
	setup: func(fs *flag.FlagSet) runFunc {
		checkpoint := fs.String("checkpoint", "", "restore from the checkpoint `NAME` (or DIR, with a '/')")
		return func(ctx context.Context, a *app, ids []string) error {
			c := a.client()
			if *checkpoint == "" {
				return a.forEachID(ids, func(id string) error {
					_, err := c.Start(ctx, id)
					return err
				})
			}
			if len(ids) != 1 {
				return usageErrorf("start --checkpoint takes one container ID")
			}
			req, _, err := checkpointArg(*checkpoint)
			if err != nil {
				return fmt.Errorf("--checkpoint: %w", err)
			}
			dir := req.Dir + req.Name
			return a.forEachID(ids, func(id string) error {
				_, err := c.StartFromCheckpoint(ctx, id, dir)
				return err
			})
		}
	},
}
