package actors

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/containerd/errdefs"
	"github.com/vigilhq/vigil/actors/lifecycle"
	"github.com/vigilhq/vigil/c8dbridge"
	"github.com/vigilhq/vigil/network"
)

// Networks is what the actors need of the containers' networks: package
// network's Manager. Setup and Release are idempotent.
type Networks interface {
	Get(name string) (network.Network, error)
	WriteFiles(a network.Attachment) error
	SetupAll(ctx context.Context, a network.Attachment) ([]string, map[string][]string, error)
	Release(ctx context.Context, a network.Attachment) error
	Connect(ctx context.Context, a network.Attachment, x network.Extra) ([]string, error)
	Disconnect(ctx context.Context, a network.Attachment, x network.Extra) error
	Forget(id string) error
	FilesOf(id string) (hosts, resolv string)
}

var _ Networks = (*network.Manager)(nil)

// errNoNetworks refuses a container on a CNI network when the supervisor
// was opened without networking (Deps.Networks nil).
var errNoNetworks = errors.New("actors: networking is not configured")

// AttachmentOf is what a container created from cfg asks of its network.
func AttachmentOf(cfg lifecycle.Config) network.Attachment {
	a := network.Attachment{ID: cfg.ID, Hostname: HostnameOf(cfg), DNS: cfg.DNS, ExtraHosts: cfg.ExtraHosts,
		HostNetwork: lifecycle.NetworkOf(cfg) == lifecycle.NetworkHost}
	if lifecycle.UsesCNI(cfg) {
		a.Network = lifecycle.NetworkOf(cfg)
	}
	for _, p := range cfg.Ports {
		a.Ports = append(a.Ports, network.Port{HostIP: p.HostIP, HostPort: p.HostPort, ContainerPort: p.ContainerPort, Protocol: p.Protocol})
	}
	return a
}

// attachmentOf is what the container asks of its networks now: AttachmentOf
// its configuration, with the connected networks attached in the current
// run (those of State.Net.Extra, being released included).
func (c *container) attachmentOf(cfg lifecycle.Config) network.Attachment {
	a := AttachmentOf(cfg)
	if c.state.Net != nil {
		for _, x := range c.state.Net.Extra {
			a.Extra = append(a.Extra, network.Extra{Network: x.Network, IfName: x.IfName})
		}
	}
	return a
}

// HostnameOf is the container's host name: the configured one, else its
// ID (as docker).
func HostnameOf(cfg lifecycle.Config) string {
	if cfg.Hostname != "" {
		return cfg.Hostname
	}
	return cfg.ID
}

// specOf is the containerd spec of cfg with its networking: the host name
// (the ID unless set) and its /etc/hosts and /etc/resolv.conf, written
// here so that they exist when the task is created. The network
// namespace follows from cfg.Network in c8dbridge. The spec is a copy of
// cfg that is not journaled.
func (c *container) specOf(cfg lifecycle.Config) (c8dbridge.ContainerSpec, error) {
	n := c.deps.Networks
	if n == nil {
		if lifecycle.UsesCNI(cfg) || lifecycle.NetworkOf(cfg) == lifecycle.NetworkHost {
			return cfg, fmt.Errorf("%w: container %q asks for network %q", errNoNetworks, cfg.ID, lifecycle.NetworkOf(cfg))
		}
		return cfg, nil
	}
	spec := cfg
	spec.Hostname = HostnameOf(cfg)
	if err := n.WriteFiles(c.attachmentOf(cfg)); err != nil {
		return spec, err
	}
	hosts, resolv := n.FilesOf(cfg.ID)
	spec.Mounts = slices.Clone(cfg.Mounts)
	for _, m := range []lifecycle.Mount{{Source: hosts, Target: "/etc/hosts"}, {Source: resolv, Target: "/etc/resolv.conf"}} {
		if !slices.ContainsFunc(cfg.Mounts, func(u lifecycle.Mount) bool { return filepath.Clean(u.Target) == m.Target }) {
			spec.Mounts = append(spec.Mounts, m) // a user's own mount of the file wins, as in docker
		}
	}
	return spec, nil
}

// setupNetwork performs SetupNetwork: the namespace and the CNI ADD, then
// (through RecordNetworkSetUp) the start of the task.
func (c *container) setupNetwork(ctx actor.Context, cctx context.Context, e lifecycle.SetupNetwork) error {
	var ips []string
	var extra map[string][]string
	err := errNoNetworks
	if c.deps.Networks != nil {
		// gofail: var networkBeforeAdd struct{}
		// failpointCrash("networkBeforeAdd")
		ips, extra, err = c.deps.Networks.SetupAll(cctx, c.attachmentOf(e.Config))
		// gofail: var networkAfterAdd struct{}
		// failpointCrash("networkAfterAdd")
	}
	if err != nil {
		err = fmt.Errorf("start container %q: %w", c.id, err)
		if ferr := c.handle(ctx, lifecycle.RecordNetworkSetupFailed{Err: err.Error(), At: c.deps.now()}); ferr != nil {
			return errors.Join(err, ferr)
		}
		return err
	}
	return c.handle(ctx, lifecycle.RecordNetworkSetUp{IPs: ips, Extra: extra, At: c.deps.now()})
}

// releaseNetwork performs ReleaseNetwork: the CNI DEL and the removal of
// the namespace. A failure is logged; the intent stays journaled and the
// next reconcile tries again.
func (c *container) releaseNetwork(ctx actor.Context, cctx context.Context, e lifecycle.ReleaseNetwork) error {
	if c.deps.Networks == nil {
		return errNoNetworks
	}
	// gofail: var networkBeforeDel struct{}
	// failpointCrash("networkBeforeDel")
	if err := c.deps.Networks.Release(cctx, c.attachmentOf(e.Config)); err != nil {
		c.log().Warn("cannot release the network; will retry at the next reconcile", "err", err)
		return nil
	}
	// gofail: var networkAfterDel struct{}
	// failpointCrash("networkAfterDel")
	return c.handle(ctx, lifecycle.RecordNetworkReleased{At: c.deps.now()})
}

// forgetNetwork releases the network of a container being removed (its
// task is gone) and deletes its files.
func (c *container) forgetNetwork(cctx context.Context) error {
	n := c.deps.Networks
	if n == nil {
		return nil
	}
	if c.state.Net != nil {
		// gofail: var networkBeforeRemoveDel struct{}
		// failpointCrash("networkBeforeRemoveDel")
		if err := n.Release(cctx, c.attachmentOf(c.state.Config)); err != nil {
			return fmt.Errorf("remove container %q: release its network: %w", c.id, err)
		}
	}
	return n.Forget(c.id)
}

// checkConnect checks what a Connect needs of the host: networking, and
// the network. A network that does not exist is an InvalidArgument, as at
// create.
func (c *container) checkConnect(cn lifecycle.Connect) error {
	if c.deps.Networks == nil {
		return errNoNetworks
	}
	if err := lifecycle.ValidateConnectable(cn.Network); err != nil {
		return err
	}
	if _, err := c.deps.Networks.Get(cn.Network); errdefs.IsNotFound(err) {
		return fmt.Errorf("%w: unknown network %q (see `supervisor network ls`)", lifecycle.ErrInvalidArgument, cn.Network)
	} else if err != nil {
		return err
	}
	return nil
}

// connectNetwork performs ConnectNetwork: the CNI ADD of a second (third...)
// interface into the running container's namespace. A failure is fed back
// as RecordNetworkConnectFailed, which gives the connection up.
func (c *container) connectNetwork(ctx actor.Context, cctx context.Context, e lifecycle.ConnectNetwork) error {
	var ips []string
	err := errNoNetworks
	if c.deps.Networks != nil {
		// gofail: var networkBeforeConnect struct{}
		// failpointCrash("networkBeforeConnect")
		ips, err = c.deps.Networks.Connect(cctx, c.attachmentOf(e.Config), network.Extra{Network: e.Extra.Network, IfName: e.Extra.IfName})
		// gofail: var networkAfterConnect struct{}
		// failpointCrash("networkAfterConnect")
	}
	if err != nil {
		err = fmt.Errorf("connect container %q to network %q: %w", c.id, e.Extra.Network, err)
		if ferr := c.handle(ctx, lifecycle.RecordNetworkConnectFailed{Network: e.Extra.Network, Err: err.Error(), At: c.deps.now()}); ferr != nil {
			return errors.Join(err, ferr)
		}
		return err
	}
	return c.handle(ctx, lifecycle.RecordNetworkConnected{Network: e.Extra.Network, IPs: ips, At: c.deps.now()})
}

// disconnectNetwork performs DisconnectNetwork: the CNI DEL of the
// interface. A failure is logged and returned; the intent stays journaled
// and the next reconcile tries again.
func (c *container) disconnectNetwork(ctx actor.Context, cctx context.Context, e lifecycle.DisconnectNetwork) error {
	if c.deps.Networks == nil {
		return errNoNetworks
	}
	a := c.attachmentOf(e.Config)
	a.Extra = slices.DeleteFunc(a.Extra, func(x network.Extra) bool { return x.Network == e.Extra.Network })
	// gofail: var networkBeforeDisconnect struct{}
	// failpointCrash("networkBeforeDisconnect")
	if err := c.deps.Networks.Disconnect(cctx, a, network.Extra{Network: e.Extra.Network, IfName: e.Extra.IfName}); err != nil {
		c.log().Warn("cannot disconnect a network; will retry at the next reconcile", "network", e.Extra.Network, "err", err)
		return fmt.Errorf("disconnect container %q from network %q: %w", c.id, e.Extra.Network, err)
	}
	return c.handle(ctx, lifecycle.RecordNetworkDisconnected{Network: e.Extra.Network, At: c.deps.now()})
}
