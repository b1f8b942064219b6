package engine

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/vigilhq/vigil/actors"
	"github.com/vigilhq/vigil/actors/lifecycle"
	"github.com/vigilhq/vigil/c8dbridge"
)

// ErrCriuUnusable is returned by Checkpoint and StartFromCheckpoint on a
// host where criu is missing or `criu check` fails; the message carries
// criu's reason. It is FailedPrecondition-class (errdefs), and nothing was
// journaled or changed.
var ErrCriuUnusable = c8dbridge.ErrCriuUnusable

// CheckpointOptions are the options of Checkpoint.
type CheckpointOptions struct {
	// LeaveRunning keeps the task running after the checkpoint. By
	// default it stops, as docker's does, and its exit counts as a user's
	// stop: no restart policy restarts it.
	LeaveRunning bool
}

// criuImage is a file that every criu checkpoint holds.
const criuImage = "inventory.img"

// Checkpoint writes a criu checkpoint of a container's running task into
// dir, an absolute path that is created if missing, through containerd's
// runc shim. Unless opts.LeaveRunning, the task stops after the
// checkpoint and Checkpoint waits for its exit, as Stop does; the state
// returned is then the exited one.
//
// The intent is journaled before containerd is asked; a checkpoint that
// fails is journaled as such and leaves the task running. Errors:
// ErrInvalidArgument for a bad dir, ErrInvalidTransition for a container
// that does not run, ErrCriuUnusable when criu cannot run on this host
// (checked first: then nothing is journaled).
func (s *Supervisor) Checkpoint(ctx context.Context, id, dir string, opts CheckpointOptions) (lifecycle.State, error) {
	if dir == "" || !filepath.IsAbs(dir) {
		return lifecycle.State{}, fmt.Errorf("%w: checkpoint directory %q must be an absolute path", ErrInvalidArgument, dir)
	}
	dir = filepath.Clean(dir)
	if err := checkTrustedDir(dir); err != nil { // trusteddir.go
		return lifecycle.State{}, err
	}
	pid, err := s.PID(ctx, id)
	if err != nil {
		return lifecycle.State{}, err
	}
	if err := s.needContainerd(); err != nil {
		return lifecycle.State{}, err
	}
	// Refuse a container that does not run before the directory is made
	// or criu is asked: the actor refuses it again if that changes.
	st, err := s.request(ctx, pid, actors.Inspect{})
	if err != nil {
		return lifecycle.State{}, err
	}
	if _, err := lifecycle.Decide(st, lifecycle.Checkpoint{Dir: dir}); err != nil {
		return st, err
	}
	made, err := makeCheckpointDir(dir)
	if err != nil {
		return st, err
	}
	if err = c8dbridge.CriuUsable(); err != nil {
		err = fmt.Errorf("checkpoint container %q: %w", id, err)
	} else {
		// criu may take longer than Config.RequestTimeout: wait as long as
		// the actor may (or ctx allows).
		msg := actors.Checkpoint{Dir: dir, LeaveRunning: opts.LeaveRunning}
		timeout := max(s.cfg.RequestTimeout, actors.CheckpointTimeout+time.Minute)
		if d, ok := ctx.Deadline(); ok {
			timeout = min(timeout, time.Until(d))
		}
		var v any
		v, err = s.await(ctx, pid, msg, timeout)
		st, err = reply(v, err, msg)
	}
	if err != nil {
		if made {
			os.Remove(dir) // only if still empty
		}
		return st, err
	}
	if opts.LeaveRunning {
		return st, nil
	}
	return s.Wait(ctx, id, actors.WaitNotRunning)
}

// makeCheckpointDir creates dir (and its parents) unless it exists, and
// reports whether it did.
func makeCheckpointDir(dir string) (bool, error) {
	fi, err := os.Stat(dir)
	switch {
	case err == nil && fi.IsDir():
		return false, nil
	case err == nil:
		return false, fmt.Errorf("%w: checkpoint directory %s exists and is not a directory", ErrInvalidArgument, dir)
	case !errors.Is(err, fs.ErrNotExist):
		return false, fmt.Errorf("%w: checkpoint directory %s: %v", ErrInvalidArgument, dir, err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return false, fmt.Errorf("%w: cannot create checkpoint directory %s: %v", ErrInvalidArgument, dir, err)
	}
	return true, nil
}

// StartFromCheckpoint starts a created or exited container's task
// restored from the criu checkpoint in dir (written by Checkpoint), as
// `docker start --checkpoint` does. Errors: ErrInvalidArgument when dir
// is not an absolute path to a checkpoint, ErrCriuUnusable when criu
// cannot run on this host (nothing is journaled then); a restore that
// containerd refuses is a failed start (exit code 128, as Start's).
func (s *Supervisor) StartFromCheckpoint(ctx context.Context, id, dir string) (lifecycle.State, error) {
	if dir == "" || !filepath.IsAbs(dir) {
		return lifecycle.State{}, fmt.Errorf("%w: checkpoint directory %q must be an absolute path", ErrInvalidArgument, dir)
	}
	dir = filepath.Clean(dir)
	if err := checkTrustedDir(dir); err != nil {
		return lifecycle.State{}, err
	}
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		return lifecycle.State{}, fmt.Errorf("%w: checkpoint directory %s does not exist or is not a directory", ErrInvalidArgument, dir)
	}
	if _, err := os.Stat(filepath.Join(dir, criuImage)); err != nil {
		return lifecycle.State{}, fmt.Errorf("%w: %s holds no checkpoint (no %s in it)", ErrInvalidArgument, dir, criuImage)
	}
	pid, err := s.PID(ctx, id)
	if err != nil {
		return lifecycle.State{}, err
	}
	if err := s.needContainerd(); err != nil {
		return lifecycle.State{}, err
	}
	if err := c8dbridge.CriuUsable(); err != nil {
		return lifecycle.State{}, fmt.Errorf("start container %q from a checkpoint: %w", id, err)
	}
	return s.request(ctx, pid, actors.StartFromCheckpoint{Dir: dir})
}
