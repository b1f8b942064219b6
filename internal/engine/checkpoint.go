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
	"github.com/vigilhq/vigil/internal/containerid"
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
// dir, a name (STATE/containers/ID/checkpoints/NAME) or an absolute path
// (see CheckpointDir), created if missing, through containerd's runc
// shim. Unless opts.LeaveRunning, the task stops after the
// checkpoint and Checkpoint waits for its exit, as Stop does; the state
// returned is then the exited one.
//
// The intent is journaled before containerd is asked; a checkpoint that
// fails is journaled as such and leaves the task running. Errors:
// ErrInvalidArgument for a bad dir, ErrInvalidTransition for a container
// that does not run, ErrCriuUnusable when criu cannot run on this host
// (checked first: then nothing is journaled).
func (s *Supervisor) Checkpoint(ctx context.Context, id, dir string, opts CheckpointOptions) (lifecycle.State, error) {
	dir, err := s.CheckpointDir(id, dir)
	if err != nil {
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

// CheckpointsDir is the directory, under a container's bundle dir in
// Config.StateDir, that holds its checkpoints by name. It goes with the
// container: removing the container removes them.
const CheckpointsDir = "checkpoints"

// CheckpointDir resolves where the checkpoint dir of container id is: a
// name (a container ID's syntax: letters, digits, '_', '.', '-') is
// STATE/containers/ID/checkpoints/NAME, the default place; an absolute
// path is the directory the user named. Either must be trusted: it and
// every existing parent, looked at without following symbolic links, is
// a directory owned by the daemon's user (root) that group and others
// cannot write (a parent with the sticky bit aside), since criu writes a
// task's memory there and a restore runs what it reads from there.
// Anything else (a relative path, a name that is not one) is
// ErrInvalidArgument, as is an untrusted directory.
func (s *Supervisor) CheckpointDir(id, dir string) (string, error) {
	if err := containerid.Validate(id); err != nil {
		return "", err
	}
	switch {
	case dir == "":
		return "", fmt.Errorf("%w: a checkpoint name or the absolute path of a checkpoint directory is required", ErrInvalidArgument)
	case filepath.IsAbs(dir):
		dir = filepath.Clean(dir)
	case containerid.Validate(dir) != nil:
		return "", fmt.Errorf("%w: checkpoint %q is neither a name (letters, digits, '_', '.', '-') nor an absolute path", ErrInvalidArgument, dir)
	default:
		dir = filepath.Join(s.bundleRoot(), id, CheckpointsDir, dir)
	}
	if err := checkTrustedDir(dir); err != nil { // trusteddir.go
		return "", err
	}
	return dir, nil
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
// restored from the criu checkpoint in dir (written by Checkpoint; a name
// or an absolute path, see CheckpointDir), as `docker start --checkpoint`
// does. Errors: ErrInvalidArgument when dir is not a checkpoint's name or
// the absolute path of a trusted directory holding one, ErrCriuUnusable when criu
// cannot run on this host (nothing is journaled then); a restore that
// containerd refuses is a failed start (exit code 128, as Start's).
func (s *Supervisor) StartFromCheckpoint(ctx context.Context, id, dir string) (lifecycle.State, error) {
	dir, err := s.CheckpointDir(id, dir)
	if err != nil {
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
