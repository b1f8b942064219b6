package c8dbridge

import (
	"fmt"

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
