package lifecycle

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/containerd/errdefs"
)

// A container on a CNI network (its main network, Config.Network) may be
// connected to more networks while it exists (docker's network connect).
// Each is a second interface in the container's one network namespace:
// eth1, eth2... (the main network's is eth0). State.Networks is what is
// configured; State.Net.Extra is what is attached in the current run.
//
// For a running container the connection is a side effect (a CNI ADD into
// its namespace) journaled first as NetworkConnectRequested, whose outcome
// is NetworkConnected (the addresses); disconnecting is the intent
// NetworkDisconnectRequested, then the DEL, then NetworkDisconnected. A
// reconcile of a running container redoes a connection or a disconnection
// whose outcome a crash lost (both are idempotent). For a container that
// does not run, a connection is only recorded: the next start sets it up
// with the main network (NetworkSetupRequested attaches every configured
// network), and the release at the end of a run releases them all.

// ExtraNetwork is a network a container was connected to besides its main
// one, and the name of its interface in the container.
type ExtraNetwork struct {
	Network string `json:"network"`
	IfName  string `json:"ifname"`
}

// maxExtraNetworks bounds the networks a container may be connected to
// besides its main one.
const maxExtraNetworks = 16

// Connect connects the container to network, besides its main network.
type Connect struct {
	Network string
	At      time.Time
}

// Disconnect disconnects the container from network, one it was connected
// to with Connect (not its main network).
type Disconnect struct {
	Network string
	At      time.Time
}

// RecordNetworkConnected is the outcome of a successful ConnectNetwork.
type RecordNetworkConnected struct {
	Network string
	IPs     []string
	At      time.Time
}

// RecordNetworkConnectFailed is the outcome of a failed ConnectNetwork: the
// connection is given up (and what the ADD may have left released).
type RecordNetworkConnectFailed struct {
	Network string
	Err     string
	At      time.Time
}

// RecordNetworkDisconnected is the outcome of a successful DisconnectNetwork.
type RecordNetworkDisconnected struct {
	Network string
	At      time.Time
}

func (Connect) commandName() string                    { return "connect" }
func (Disconnect) commandName() string                 { return "disconnect" }
func (RecordNetworkConnected) commandName() string     { return "record-network-connected" }
func (RecordNetworkConnectFailed) commandName() string { return "record-network-connect-failed" }
func (RecordNetworkDisconnected) commandName() string  { return "record-network-disconnected" }

// NetworkConnectRequested records that the container is connected to
// Network with interface IfName; for a running container it is also the
// intent of the CNI ADD into its namespace.
type NetworkConnectRequested struct {
	Network string    `json:"network"`
	IfName  string    `json:"ifname"`
	At      time.Time `json:"at"`
}

// NetworkConnected records the outcome of that ADD: the addresses.
type NetworkConnected struct {
	Network string    `json:"network"`
	IPs     []string  `json:"ips,omitempty"`
	At      time.Time `json:"at"`
}

// NetworkDisconnectRequested records that the container is no longer
// connected to Network; when it is attached there, it is also the intent
// of the CNI DEL.
type NetworkDisconnectRequested struct {
	Network string    `json:"network"`
	At      time.Time `json:"at"`
}

// NetworkDisconnected records that the DEL happened.
type NetworkDisconnected struct {
	Network string    `json:"network"`
	At      time.Time `json:"at"`
}

func (NetworkConnectRequested) eventName() string    { return "NetworkConnectRequested" }
func (NetworkConnected) eventName() string           { return "NetworkConnected" }
func (NetworkDisconnectRequested) eventName() string { return "NetworkDisconnectRequested" }
func (NetworkDisconnected) eventName() string        { return "NetworkDisconnected" }

// ConnectNetwork attaches the running container to Network (CNI ADD into
// its namespace, interface IfName), first undoing what an interrupted
// earlier ADD may have left. Its outcome is fed back as
// RecordNetworkConnected or RecordNetworkConnectFailed.
type ConnectNetwork struct {
	Config Config
	Extra  ExtraNetwork
}

// DisconnectNetwork detaches the container from Network (CNI DEL); it is
// idempotent. Its outcome is fed back as RecordNetworkDisconnected; a
// failure leaves the intent journaled, and the next reconcile does it again.
type DisconnectNetwork struct {
	Config Config
	Extra  ExtraNetwork
}

func (ConnectNetwork) effectName() string    { return "connect-network" }
func (DisconnectNetwork) effectName() string { return "disconnect-network" }

// live reports whether the container's namespace is set up and its task
// runs: a connection is then attached at once.
func live(s State) bool {
	return s.Status == StatusRunning && s.Net != nil && s.Net.Up && !s.Net.Releasing
}

// ValidateConnectable checks, without I/O, that network can be connected to
// a container besides its main network: a network's name, not a mode.
func ValidateConnectable(network string) error {
	switch {
	case network == NetworkNone, network == NetworkHost, network == "container", strings.HasPrefix(network, NetworkContainerPrefix):
		return fmt.Errorf("%w: %q is a network mode, not a network; a container can be connected only to a bridge or user-defined network", ErrInvalidArgument, network)
	}
	return ValidateNetworkName(network)
}

// ConnectedTo reports whether the container is configured on network, as
// its main network or a connected one.
func ConnectedTo(s State, network string) bool {
	return NetworkOf(s.Config) == network || slices.ContainsFunc(s.Networks, func(x ExtraNetwork) bool { return x.Network == network })
}

// nextIfName is the first interface name ethN (N from 1) that neither a
// configured network nor an attachment still being released uses.
func nextIfName(s State) string {
	used := map[string]bool{}
	for _, x := range s.Networks {
		used[x.IfName] = true
	}
	if s.Net != nil {
		for _, x := range s.Net.Extra {
			used[x.IfName] = true
		}
	}
	for i := 1; ; i++ {
		if n := "eth" + strconv.Itoa(i); !used[n] {
			return n
		}
	}
}

func extraOf(s State, network string) (NetAttachment, bool) {
	if s.Net == nil {
		return NetAttachment{}, false
	}
	i := slices.IndexFunc(s.Net.Extra, func(x NetAttachment) bool { return x.Network == network })
	if i < 0 {
		return NetAttachment{}, false
	}
	return s.Net.Extra[i], true
}

// decideConnect decides Connect, Disconnect and the outcomes of their
// effects.
func decideConnect(s State, c Command) (Decision, error) {
	switch c := c.(type) {
	case Connect:
		if err := ValidateConnectable(c.Network); err != nil {
			return Decision{}, err
		}
		switch s.Status {
		case StatusCreated, StatusRunning, StatusExited:
		default:
			return refuse(s, "connect")
		}
		if !UsesCNI(s.Config) {
			return Decision{}, fmt.Errorf("%w: container %q is on network %q; only a container on a bridge or user-defined network can be connected to another", ErrInvalidTransition, s.ID, NetworkOf(s.Config))
		}
		if ConnectedTo(s, c.Network) {
			return Decision{}, fmt.Errorf("%w: container %q is already connected to network %q", errdefs.ErrAlreadyExists, s.ID, c.Network)
		}
		if _, releasing := extraOf(s, c.Network); releasing {
			return Decision{}, fmt.Errorf("%w: container %q is still being disconnected from network %q; try again", ErrInvalidTransition, s.ID, c.Network)
		}
		if len(s.Networks) >= maxExtraNetworks {
			return Decision{}, fmt.Errorf("%w: container %q is connected to %d networks besides its own, the most there can be", ErrInvalidArgument, s.ID, maxExtraNetworks)
		}
		x := ExtraNetwork{Network: c.Network, IfName: nextIfName(s)}
		d := Decision{Events: []Event{NetworkConnectRequested{Network: x.Network, IfName: x.IfName, At: c.At}}}
		if live(s) {
			d.Effects = []Effect{ConnectNetwork{Config: s.Config, Extra: x}}
		}
		return d, nil
	case Disconnect:
		if err := ValidateNetworkName(c.Network); err != nil {
			return Decision{}, err
		}
		switch s.Status {
		case StatusCreated, StatusRunning, StatusExited:
		default:
			return refuse(s, "disconnect")
		}
		if NetworkOf(s.Config) == c.Network {
			return Decision{}, fmt.Errorf("%w: network %q is the main network of container %q; only a network it was connected to can be disconnected", ErrInvalidArgument, c.Network, s.ID)
		}
		i := slices.IndexFunc(s.Networks, func(x ExtraNetwork) bool { return x.Network == c.Network })
		if i < 0 {
			return Decision{}, fmt.Errorf("%w: container %q is not connected to network %q", errdefs.ErrNotFound, s.ID, c.Network)
		}
		d := Decision{Events: []Event{NetworkDisconnectRequested{Network: c.Network, At: c.At}}}
		if _, ok := extraOf(s, c.Network); ok && s.Net != nil && !s.Net.Releasing {
			d.Effects = []Effect{DisconnectNetwork{Config: s.Config, Extra: s.Networks[i]}}
		}
		return d, nil
	case RecordNetworkConnected:
		x, ok := extraOf(s, c.Network)
		if !ok || x.Up || x.Releasing || !live(s) {
			return Decision{}, nil
		}
		return Decision{Events: []Event{NetworkConnected{Network: c.Network, IPs: c.IPs, At: c.At}}}, nil
	case RecordNetworkConnectFailed:
		x, ok := extraOf(s, c.Network)
		if !ok || x.Up || x.Releasing {
			return Decision{}, nil
		}
		d := Decision{Events: []Event{NetworkDisconnectRequested{Network: c.Network, At: c.At}}}
		if !s.Net.Releasing {
			d.Effects = []Effect{DisconnectNetwork{Config: s.Config, Extra: ExtraNetwork{Network: x.Network, IfName: x.IfName}}}
		}
		return d, nil
	case RecordNetworkDisconnected:
		x, ok := extraOf(s, c.Network)
		if !ok || !x.Releasing {
			return Decision{}, nil
		}
		return Decision{Events: []Event{NetworkDisconnected{Network: c.Network, At: c.At}}}, nil
	}
	return Decision{}, fmt.Errorf("%w: unknown command %T", ErrInvalidArgument, c)
}

// reconcileConnections redoes, for a running container, the connections
// and disconnections whose outcome was not journaled.
func reconcileConnections(after State) []Effect {
	if !live(after) {
		return nil
	}
	var out []Effect
	for _, x := range after.Net.Extra {
		e := ExtraNetwork{Network: x.Network, IfName: x.IfName}
		switch {
		case x.Releasing:
			out = append(out, DisconnectNetwork{Config: after.Config, Extra: e})
		case !x.Up:
			out = append(out, ConnectNetwork{Config: after.Config, Extra: e})
		}
	}
	return out
}

// applyConnect applies the events of this file.
func applyConnect(s State, e Event) (State, bool) {
	withNet := func(f func(n *NetAttachment)) {
		if s.Net == nil {
			return
		}
		n := *s.Net
		n.Extra = slices.Clone(n.Extra)
		f(&n)
		s.Net = &n
	}
	switch e := e.(type) {
	case NetworkConnectRequested:
		s.Networks = append(slices.Clone(s.Networks), ExtraNetwork{Network: e.Network, IfName: e.IfName})
		if live(s) {
			withNet(func(n *NetAttachment) {
				n.Extra = append(n.Extra, NetAttachment{Network: e.Network, IfName: e.IfName})
			})
		}
	case NetworkConnected:
		withNet(func(n *NetAttachment) {
			for i := range n.Extra {
				if n.Extra[i].Network == e.Network {
					n.Extra[i].Up, n.Extra[i].IPs = true, e.IPs
				}
			}
		})
	case NetworkDisconnectRequested:
		s.Networks = slices.DeleteFunc(slices.Clone(s.Networks), func(x ExtraNetwork) bool { return x.Network == e.Network })
		withNet(func(n *NetAttachment) {
			for i := range n.Extra {
				if n.Extra[i].Network == e.Network {
					n.Extra[i].Releasing = true
				}
			}
		})
	case NetworkDisconnected:
		withNet(func(n *NetAttachment) {
			n.Extra = slices.DeleteFunc(n.Extra, func(x NetAttachment) bool { return x.Network == e.Network })
			if len(n.Extra) == 0 {
				n.Extra = nil
			}
		})
	default:
		return s, false
	}
	return s, true
}

// extrasOf are the networks of s's configuration as attachments about to
// be set up (NetworkSetupRequested).
func extrasOf(s State) []NetAttachment {
	var out []NetAttachment
	for _, x := range s.Networks {
		out = append(out, NetAttachment{Network: x.Network, IfName: x.IfName})
	}
	return out
}
