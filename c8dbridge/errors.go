package c8dbridge

import (
	"errors"
	"fmt"
	"strings"

	"github.com/containerd/errdefs"
	"github.com/containerd/errdefs/pkg/errgrpc"
	"google.golang.org/grpc/status"

	"github.com/vigilhq/vigil/internal/containerid"
)

// IsGone reports whether err says that the container (or its task) does not
// exist in containerd. Reconciliation uses it to tell "containerd forgot
// this container" from "containerd could not be asked".
func IsGone(err error) bool {
	return errdefs.IsNotFound(err)
}

// IsTransient reports whether err says that containerd could not be reached
// or did not answer in time, so the same call may succeed later. A cancelled
// context is not transient: the caller gave up.
func IsTransient(err error) bool {
	return errdefs.IsUnavailable(err) || errdefs.IsDeadlineExceeded(err)
}

// ErrLeftover marks a start that failed on state left from before rather
// than on the container: a task containerd still holds (an exited one it
// could not delete, say while it restarted), or a shim's state dir still
// there (a task's creation interrupted a moment ago, and not yet cleaned
// up by containerd). Such a start may succeed once that state is cleaned
// up; it is no failure of the container's own.
//
// A shim that died while it created the task ("ttrpc: closed": it was
// killed) is marked too: containerd cleans up after it, the program never
// ran, and the start may succeed when tried again.
var ErrLeftover = errors.New("state left from an earlier task is in the way")

// IsLeftover reports whether err is a start refused by leftover state
// (ErrLeftover).
func IsLeftover(err error) bool { return errors.Is(err, ErrLeftover) }

// leftover marks err with ErrLeftover when it says that containerd, or the
// shim, found state of an earlier task of container id in the way: the
// AlreadyExists class (containerd still has a task), the shim's failure to
// make the task's state dir, which ends in ".../<id>: file exists", or a
// shim that died while it created the task ("ttrpc: closed"). The
// errors of the container's own start (runc's "OCI runtime create failed":
// a missing binary, a bad mount) are never marked.
func leftover(id string, err error) error {
	if err == nil || IsLeftover(err) {
		return err
	}
	msg := err.Error()
	if strings.Contains(msg, "OCI runtime") {
		return err
	}
	if errdefs.IsAlreadyExists(err) || strings.Contains(msg, "/"+id+": file exists") || strings.Contains(msg, "ttrpc: closed") {
		return fmt.Errorf("%w: %w", ErrLeftover, err)
	}
	return err
}

// wrapStart is wrap for the errors of a task's creation: it marks leftover
// state (leftover) after classifying, so that the mark survives.
func wrapStart(id string, err error) error {
	return fmt.Errorf("c8dbridge: start task %q: %w", id, leftover(id, classify(err)))
}

// classify gives err an errdefs class. A gRPC status that containerd's
// client passed through unconverted becomes its errdefs class (Unavailable
// for a connection that failed); errors that already carry a class, or none
// that gRPC knows, are returned unchanged so that their chain survives.
func classify(err error) error {
	if err == nil {
		return nil
	}
	if _, ok := status.FromError(err); ok {
		return errgrpc.ToNative(err)
	}
	return err
}

// wrap classifies err and prefixes it with the operation and container ID.
func wrap(op, id string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("c8dbridge: %s %q: %w", op, id, classify(err))
}

// validateID checks id with containerid.Validate and gives the error the
// InvalidArgument class as well.
func validateID(id string) error {
	if err := containerid.Validate(id); err != nil {
		return invalid(err)
	}
	return nil
}

// invalid marks err as an InvalidArgument-class error, keeping err's own
// chain (e.g. containerid.ErrInvalid) intact.
func invalid(err error) error {
	return fmt.Errorf("%w: %w", errdefs.ErrInvalidArgument, err)
}
