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

// Connect connects container id to network besides its main one (docker's
// network connect): a running container gets an interface on it (eth1,
// eth2...) at once, another at its next start; it is released with the
// main network at the end of each run. InvalidArgument for an unknown
// network or a network mode (none, host, container:ID); AlreadyExists when
// the container is on it; FailedPrecondition for a container on none, host
// or another's namespace.
func (s *Supervisor) Connect(ctx context.Context, id, network string) (State, error) {
	return s.e.Connect(ctx, id, network)
}

// Disconnect disconnects container id from a network it was connected to
// with Connect. NotFound when it is not connected to it; InvalidArgument
// for its main network.
func (s *Supervisor) Disconnect(ctx context.Context, id, network string) (State, error) {
	return s.e.Disconnect(ctx, id, network)
}
