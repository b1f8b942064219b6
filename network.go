package vigil

import (
	"context"

	"github.com/vigilhq/vigil/internal/engine"
	"github.com/vigilhq/vigil/network"
)

// NetworkDir is the directory of the networks under Config.StateDir.
const NetworkDir = engine.NetworkDir

type (
	// Network is a network of vigil's: the default bridge or a
	// user-defined one.
	Network = network.Network
	// NetworkInfo is a network and the containers on it.
	NetworkInfo = engine.NetworkInfo
)

// CreateNetwork makes a user-defined network with subnet (CIDR; empty: a
// free /24 of 10.224.0.0/11). Errors: InvalidArgument (a bad name or
// subnet, one that overlaps another network or a route of the host),
// AlreadyExists.
func (s *Supervisor) CreateNetwork(name, subnet string) (Network, error) {
	return s.e.CreateNetwork(name, subnet)
}

// Networks lists the networks.
func (s *Supervisor) Networks(ctx context.Context) ([]NetworkInfo, error) { return s.e.Networks(ctx) }

// InspectNetwork describes one network; NotFound if there is none.
func (s *Supervisor) InspectNetwork(ctx context.Context, name string) (NetworkInfo, error) {
	return s.e.InspectNetwork(ctx, name)
}

// RemoveNetwork deletes a user-defined network; FailedPrecondition while a
// container is on it, InvalidArgument for the default network.
func (s *Supervisor) RemoveNetwork(ctx context.Context, name string) error {
	return s.e.RemoveNetwork(ctx, name)
}
