package engine

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/containerd/errdefs"
	"github.com/vigilhq/vigil/actors/lifecycle"
	"github.com/vigilhq/vigil/network"
)

// NetworkDir is the directory of package network under the state dir.
const NetworkDir = "net"

// openNetworks opens the networks of the supervisor (STATE/net), whose
// CNI names and bridges derive from the containerd namespace.
func (s *Supervisor) openNetworks() error {
	m, err := network.Open(network.Config{
		Dir:           filepath.Join(s.cfg.StateDir, NetworkDir),
		Prefix:        s.cfg.Namespace,
		PluginDirs:    s.cfg.CNIPluginDirs,
		DefaultSubnet: s.cfg.DefaultSubnet,
		Log:           s.log.With("component", "network"),
		Clock:         s.cfg.Clock,
	})
	if err != nil {
		return fmt.Errorf("vigil: %w", err)
	}
	s.networks = m
	return nil
}

// prepareCreate is the actors' PrepareCreate, the one check of a create
// that needs I/O: checkCreate, then -P's free host ports (PublishAll, the
// one place Config.PublishAll is resolved), then checkNetwork. It returns
// the configuration to journal.
func (s *Supervisor) prepareCreate(cfg lifecycle.Config) (lifecycle.Config, error) {
	if err := checkCreate(cfg); err != nil {
		return cfg, err
	}
	if cfg.PublishAll {
		cfg.Ports = slices.Clone(cfg.Ports)
		if err := publishAll(&cfg); err != nil {
			return cfg, err
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.RequestTimeout)
	defer cancel()
	return cfg, s.checkNetwork(ctx, cfg)
}

// checkNetwork checks, before a create is journaled, what needs I/O: the
// network exists, a shared container is on one, and no published host
// port is taken, by another container of this supervisor or by a process
// of the host. Each failure is an ErrInvalidArgument.
func (s *Supervisor) checkNetwork(ctx context.Context, cfg lifecycle.Config) error {
	n := lifecycle.NetworkOf(cfg)
	switch {
	case lifecycle.UsesCNI(cfg):
		if _, err := s.networks.Get(n); errdefs.IsNotFound(err) {
			return fmt.Errorf("%w: unknown network %q (see `supervisor network ls`)", ErrInvalidArgument, n)
		} else if err != nil {
			return err
		}
	case lifecycle.SharedWith(cfg) != "":
		other, err := s.Inspect(ctx, lifecycle.SharedWith(cfg))
		if errors.Is(err, ErrNotFound) {
			return fmt.Errorf("%w: network %q: no such container", ErrInvalidArgument, n)
		} else if err != nil {
			return err
		}
		if !lifecycle.UsesCNI(other.Config) {
			return fmt.Errorf("%w: network %q: container %q is on network %q; only a bridge or user-defined network's namespace can be shared",
				ErrInvalidArgument, n, other.ID, lifecycle.NetworkOf(other.Config))
		}
	}
	if len(cfg.Ports) == 0 {
		return nil
	}
	others, err := s.networks.Published(cfg.ID)
	if err != nil {
		return err
	}
	for _, p := range cfg.Ports {
		for id, ports := range others {
			if slices.ContainsFunc(ports, func(q network.Port) bool {
				return q.HostPort == p.HostPort && q.Protocol == p.Protocol && (q.HostIP == "" || p.HostIP == "" || q.HostIP == p.HostIP)
			}) {
				return fmt.Errorf("%w: host port %d/%s is already published by container %q", ErrInvalidArgument, p.HostPort, p.Protocol, id)
			}
		}
		if err := network.PortFree(network.Port{HostIP: p.HostIP, HostPort: p.HostPort, Protocol: p.Protocol}); err != nil {
			return fmt.Errorf("%w: %w", ErrInvalidArgument, err)
		}
	}
	return nil
}

// publishAll adds to cfg a mapping from a free host port for each of its
// exposed ports (docker's -P: "80/tcp", "53/udp", "8080") that cfg does
// not publish yet. The image's configuration supplies them; none is no
// error.
func publishAll(cfg *lifecycle.Config) error {
	exposed := cfg.ExposedPorts
	for _, e := range exposed {
		port, proto, _ := strings.Cut(e, "/")
		if proto == "" {
			proto = "tcp"
		}
		n, err := strconv.Atoi(port)
		if err != nil || n < 1 || n > 65535 {
			return fmt.Errorf("%w: exposed port %q: want PORT[/tcp|udp]", ErrInvalidArgument, e)
		}
		if slices.ContainsFunc(cfg.Ports, func(p lifecycle.PortMapping) bool { return p.ContainerPort == n && p.Protocol == proto }) {
			continue
		}
		host, err := network.FreePort(proto)
		if err != nil {
			return fmt.Errorf("vigil: pick a host port for %s: %w", e, err)
		}
		cfg.Ports = append(cfg.Ports, lifecycle.PortMapping{HostPort: host, ContainerPort: n, Protocol: proto})
	}
	return nil
}

// NetworkInfo is a network and the containers on it.
type NetworkInfo struct {
	network.Network
	// Containers are the containers configured on the network, with
	// their addresses when they hold one.
	Containers map[string]string `json:"containers"`
}

// CreateNetwork makes a user-defined network (a bridge of its own) with
// subnet (CIDR; empty: a free /24 of 10.224.0.0/11 is picked). Errors of
// package network's classes: InvalidArgument (a bad name, a bad subnet or
// one that overlaps another network or a route of the host),
// AlreadyExists.
func (s *Supervisor) CreateNetwork(name, subnet string) (network.Network, error) {
	return s.networks.Create(name, subnet)
}

// Networks lists the networks.
func (s *Supervisor) Networks(ctx context.Context) ([]NetworkInfo, error) {
	nets, err := s.networks.List()
	if err != nil {
		return nil, err
	}
	users, err := s.networkUsers(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]NetworkInfo, len(nets))
	for i, n := range nets {
		if out[i], err = s.networkInfo(n, users); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// InspectNetwork describes one network; NotFound-class if there is none.
func (s *Supervisor) InspectNetwork(ctx context.Context, name string) (NetworkInfo, error) {
	n, err := s.networks.Get(name)
	if err != nil {
		return NetworkInfo{}, err
	}
	users, err := s.networkUsers(ctx)
	if err != nil {
		return NetworkInfo{}, err
	}
	return s.networkInfo(n, users)
}

func (s *Supervisor) networkInfo(n network.Network, users map[string][]string) (NetworkInfo, error) {
	mem, err := s.networks.Members(n.Name)
	if err != nil {
		return NetworkInfo{}, err
	}
	info := NetworkInfo{Network: n, Containers: map[string]string{}}
	for _, id := range users[n.Name] {
		info.Containers[id] = mem[id]
	}
	return info, nil
}

// RemoveNetwork deletes a user-defined network; FailedPrecondition-class
// while a container is configured on it (remove those first), and
// InvalidArgument for the default network.
func (s *Supervisor) RemoveNetwork(ctx context.Context, name string) error {
	users, err := s.networkUsers(ctx)
	if err != nil {
		return err
	}
	return s.networks.Remove(name, users[name])
}

// networkUsers maps each network to the containers configured on it.
func (s *Supervisor) networkUsers(ctx context.Context) (map[string][]string, error) {
	states, err := s.List(ctx)
	if err != nil {
		return nil, err
	}
	out := map[string][]string{}
	for _, st := range states {
		if lifecycle.UsesCNI(st.Config) {
			n := lifecycle.NetworkOf(st.Config)
			out[n] = append(out[n], st.ID)
		}
		for _, x := range st.Networks { // connected besides
			out[x.Network] = append(out[x.Network], st.ID)
		}
	}
	return out, nil
}

// dropOrphanNetwork releases what an orphan container (removed by
// removeOrphans: its journal was lost) still holds on its network, from
// what it asked of it (the network package keeps that apart from the
// journal).
func (s *Supervisor) dropOrphanNetwork(ctx context.Context, id string) {
	if err := s.networks.Drop(ctx, id); err != nil {
		s.log.Error("cannot release the network of an orphan container", "container", id, "err", err)
	}
}
