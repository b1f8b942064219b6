package lifecycle

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/vigilhq/vigil/internal/containerid"
)

// Network modes of Config.Network. Any other value names a user-defined
// network, or is "container:ID" (the network namespace of container ID).
//
// An empty Network is "none": a container journaled before networking
// existed had only loopback, and keeps it when it is created again from
// the journal. The CLI, as docker's, asks for "bridge" unless told.
const (
	NetworkBridge = "bridge" // the default network: a CNI bridge of vigil's
	NetworkNone   = "none"   // a namespace of its own with only loopback
	NetworkHost   = "host"   // the host's namespace
	// NetworkContainerPrefix starts "container:ID".
	NetworkContainerPrefix = "container:"
)

// NetworkOf is the network mode of cfg, with "" read as NetworkNone.
func NetworkOf(cfg Config) string {
	if cfg.Network == "" {
		return NetworkNone
	}
	return cfg.Network
}

// UsesCNI reports whether the container is attached to a CNI network (the
// default bridge or a user-defined one): it then has a network namespace
// of its own, set up before each start and released after each run.
func UsesCNI(cfg Config) bool {
	switch n := NetworkOf(cfg); {
	case n == NetworkNone, n == NetworkHost, strings.HasPrefix(n, NetworkContainerPrefix):
		return false
	}
	return true
}

// SharedWith is the ID of the container whose network namespace cfg joins
// ("container:ID"), or "".
func SharedWith(cfg Config) string {
	id, ok := strings.CutPrefix(NetworkOf(cfg), NetworkContainerPrefix)
	if !ok {
		return ""
	}
	return id
}

// PortMapping publishes ContainerPort/Protocol of a container on
// HostIP:HostPort of the host (docker's -p). HostIP empty means every
// address of the host.
type PortMapping struct {
	HostIP        string `json:"host_ip,omitempty"`
	HostPort      int    `json:"host_port"`
	ContainerPort int    `json:"container_port"`
	Protocol      string `json:"protocol"` // tcp or udp
}

func (p PortMapping) String() string {
	host := strconv.Itoa(p.HostPort)
	if p.HostIP != "" {
		host = netip.MustParseAddr(p.HostIP).String() + ":" + host
	}
	return fmt.Sprintf("%s:%d/%s", host, p.ContainerPort, p.Protocol)
}

// ParsePortMapping reads docker's -p syntax: [IP:]HOSTPORT:CONTAINERPORT[/tcp|udp].
func ParsePortMapping(s string) (PortMapping, error) {
	bad := func(why string) (PortMapping, error) {
		return PortMapping{}, fmt.Errorf("%w: port mapping %q: %s; want [IP:]HOSTPORT:CONTAINERPORT[/tcp|udp]", ErrInvalidArgument, s, why)
	}
	spec, proto, _ := strings.Cut(s, "/")
	if proto == "" {
		proto = "tcp"
	}
	p := PortMapping{Protocol: strings.ToLower(proto)}
	i := strings.LastIndex(spec, ":")
	if i < 0 {
		return bad("no host port")
	}
	host, cport := spec[:i], spec[i+1:]
	if j := strings.LastIndex(host, ":"); j >= 0 {
		p.HostIP = strings.Trim(host[:j], "[]")
		host = host[j+1:]
	}
	var err error
	if p.HostPort, err = strconv.Atoi(host); err != nil {
		return bad(fmt.Sprintf("host port %q is not a number", host))
	}
	if p.ContainerPort, err = strconv.Atoi(cport); err != nil {
		return bad(fmt.Sprintf("container port %q is not a number", cport))
	}
	if err := p.validate(); err != nil {
		return PortMapping{}, err
	}
	return p, nil
}

func (p PortMapping) validate() error {
	switch {
	case p.HostPort < 1 || p.HostPort > 65535:
		return fmt.Errorf("%w: host port %d out of range 1-65535", ErrInvalidArgument, p.HostPort)
	case p.ContainerPort < 1 || p.ContainerPort > 65535:
		return fmt.Errorf("%w: container port %d out of range 1-65535", ErrInvalidArgument, p.ContainerPort)
	case p.Protocol != "tcp" && p.Protocol != "udp":
		return fmt.Errorf("%w: protocol %q: want tcp or udp", ErrInvalidArgument, p.Protocol)
	}
	if p.HostIP != "" {
		a, err := netip.ParseAddr(p.HostIP)
		if err != nil || !a.Is4() {
			return fmt.Errorf("%w: host IP %q is not an IPv4 address", ErrInvalidArgument, p.HostIP)
		}
	}
	return nil
}

// ParseExtraHost reads docker's --add-host syntax, NAME:IP.
func ParseExtraHost(s string) (name, ip string, err error) {
	name, ip, ok := strings.Cut(s, ":")
	if !ok {
		return "", "", fmt.Errorf("%w: extra host %q: want NAME:IP", ErrInvalidArgument, s)
	}
	if err := validateHostname(name); err != nil {
		return "", "", fmt.Errorf("%w: extra host %q: bad name", ErrInvalidArgument, s)
	}
	if _, err := netip.ParseAddr(strings.Trim(ip, "[]")); err != nil {
		return "", "", fmt.Errorf("%w: extra host %q: %q is not an IP address", ErrInvalidArgument, s, ip)
	}
	return name, strings.Trim(ip, "[]"), nil
}

// validateNetwork checks the networking settings of cfg without I/O.
func validateNetwork(cfg Config) error {
	n := NetworkOf(cfg)
	if other := SharedWith(cfg); other != "" || n == NetworkContainerPrefix {
		if err := containerid.Validate(other); err != nil {
			return fmt.Errorf("%w: network %q: %w", ErrInvalidArgument, n, err)
		}
		if other == cfg.ID {
			return fmt.Errorf("%w: network %q: a container cannot share its own namespace", ErrInvalidArgument, n)
		}
	} else if err := ValidateNetworkName(n); err != nil {
		return err
	}
	if len(cfg.Ports) > 0 && !UsesCNI(cfg) {
		return fmt.Errorf("%w: ports are published only on a bridge or user-defined network, not on network %q", ErrInvalidArgument, n)
	}
	seen := map[string]bool{}
	for _, p := range cfg.Ports {
		if err := p.validate(); err != nil {
			return err
		}
		k := fmt.Sprintf("%d/%s", p.HostPort, p.Protocol)
		if seen[k] {
			return fmt.Errorf("%w: host port %s is published twice", ErrInvalidArgument, k)
		}
		seen[k] = true
	}
	for _, d := range cfg.DNS {
		if _, err := netip.ParseAddr(d); err != nil {
			return fmt.Errorf("%w: dns server %q is not an IP address", ErrInvalidArgument, d)
		}
	}
	for _, h := range cfg.ExtraHosts {
		if _, _, err := ParseExtraHost(h); err != nil {
			return err
		}
	}
	return nil
}

// ValidateNetworkName checks the name of a network: the syntax of a
// container ID (it becomes part of paths), and not "container:...".
func ValidateNetworkName(name string) error {
	if err := containerid.Validate(name); err != nil {
		return fmt.Errorf("%w: network name %q: %w", ErrInvalidArgument, name, err)
	}
	return nil
}

// NetAttachment is a container's attachment to a CNI network: present from
// the intent to set it up (a CNI ADD may have happened) until its release
// is recorded (the DEL happened).
type NetAttachment struct {
	Network string `json:"network"`
	// Up is set, and IPs known, once NetworkSetUp is journaled.
	Up  bool     `json:"up,omitempty"`
	IPs []string `json:"ips,omitempty"`
	// Releasing is set once the DEL is journaled as an intent.
	Releasing bool `json:"releasing,omitempty"`
	// IfName is the interface of a connected network (connect.go); ""
	// for the main network's (eth0).
	IfName string `json:"ifname,omitempty"`
	// Extra are the attachments to the networks the container is
	// connected to besides its main one (connect.go), in the same
	// namespace; they are released with it.
	Extra []NetAttachment `json:"extra,omitempty"`
}

// NetworkSetupRequested is the intent to create the container's network
// namespace and attach it to Network (a CNI ADD), journaled with the
// StartRequested it precedes. The task is started only after NetworkSetUp.
type NetworkSetupRequested struct {
	Network string    `json:"network"`
	At      time.Time `json:"at"`
}

// NetworkSetUp records the outcome of the ADD: the container's addresses.
type NetworkSetUp struct {
	IPs []string `json:"ips,omitempty"`
	// Extra are the addresses on the connected networks, by network.
	Extra map[string][]string `json:"extra,omitempty"`
	At    time.Time           `json:"at"`
}

// NetworkReleaseRequested is the intent to detach the container (a CNI
// DEL: its address, port mappings and firewall rules) and remove its
// network namespace, journaled once its run ended.
type NetworkReleaseRequested struct {
	At time.Time `json:"at"`
}

// NetworkReleased records that the DEL happened.
type NetworkReleased struct {
	At time.Time `json:"at"`
}

func (NetworkSetupRequested) eventName() string   { return "NetworkSetupRequested" }
func (NetworkSetUp) eventName() string            { return "NetworkSetUp" }
func (NetworkReleaseRequested) eventName() string { return "NetworkReleaseRequested" }
func (NetworkReleased) eventName() string         { return "NetworkReleased" }

// RecordNetworkSetUp is the outcome of a successful SetupNetwork effect.
type RecordNetworkSetUp struct {
	IPs   []string
	Extra map[string][]string // the addresses on the connected networks
	At    time.Time
}

// RecordNetworkSetupFailed is the outcome of a failed SetupNetwork effect.
type RecordNetworkSetupFailed struct {
	Err string
	At  time.Time
}

// RecordNetworkReleased is the outcome of a successful ReleaseNetwork effect.
type RecordNetworkReleased struct{ At time.Time }

func (RecordNetworkSetUp) commandName() string       { return "record-network-set-up" }
func (RecordNetworkSetupFailed) commandName() string { return "record-network-setup-failed" }
func (RecordNetworkReleased) commandName() string    { return "record-network-released" }

// SetupNetwork creates the container's network namespace and attaches it
// (CNI ADD with its port mappings), first undoing what an interrupted
// earlier setup may have left (it is idempotent). Its outcome is fed back
// as RecordNetworkSetUp, which then asks for the StartTask it carries, or
// RecordNetworkSetupFailed.
type SetupNetwork struct {
	Config     Config
	Checkpoint string
}

// ReleaseNetwork detaches the container (CNI DEL) and removes its network
// namespace; it is idempotent. Its outcome is fed back as
// RecordNetworkReleased; a failure leaves the intent journaled, and the
// next reconcile (or setup) does it again.
type ReleaseNetwork struct{ Config Config }

func (SetupNetwork) effectName() string   { return "setup-network" }
func (ReleaseNetwork) effectName() string { return "release-network" }

// decideNetwork decides the outcomes of the network effects.
func decideNetwork(s State, c Command) (Decision, error) {
	switch c := c.(type) {
	case RecordNetworkSetUp:
		if s.Status != StatusStarting || s.Net == nil || s.Net.Releasing || s.Net.Up {
			return Decision{}, nil
		}
		return Decision{
			Events:  []Event{NetworkSetUp{IPs: c.IPs, Extra: c.Extra, At: c.At}},
			Effects: []Effect{StartTask{Config: s.Config, Checkpoint: s.RestoredFrom}},
		}, nil
	case RecordNetworkSetupFailed:
		if s.Status != StatusStarting || s.Net == nil || s.Net.Up {
			return Decision{}, nil
		}
		return withRestart(s, Decision{Events: []Event{StartFailed{Reason: "network: " + c.Err, At: c.At}}}, c.At), nil
	case RecordNetworkReleased:
		if s.Net == nil || !s.Net.Releasing {
			return Decision{}, nil
		}
		return Decision{Events: []Event{NetworkReleased{At: c.At}}}, nil
	}
	return Decision{}, fmt.Errorf("%w: unknown command %T", ErrInvalidArgument, c)
}

// withNetwork adds networking to a decision: a StartTask of a container on
// a CNI network becomes the intent NetworkSetupRequested and the effect
// SetupNetwork (the task starts once the setup is journaled); a decision
// that ends the run of an attached container journals the intent to
// release it and asks for the release; and a reconcile of an exited
// container whose release was journaled but not done asks for it again.
func withNetwork(s State, c Command, d Decision) Decision {
	if _, ok := c.(RecordNetworkSetUp); ok {
		return d // its StartTask comes after the setup
	}
	for i, eff := range d.Effects {
		st, ok := eff.(StartTask)
		if !ok || !UsesCNI(st.Config) {
			continue
		}
		at := commandTime(c)
		d.Events = append(d.Events, NetworkSetupRequested{Network: NetworkOf(st.Config), At: at})
		d.Effects = append(append(append([]Effect{}, d.Effects[:i]...), SetupNetwork{Config: st.Config, Checkpoint: st.Checkpoint}), d.Effects[i+1:]...)
		return d
	}
	after := Replay(s, d.Events)
	if _, ok := c.(Reconcile); ok {
		d.Effects = append(d.Effects, reconcileConnections(after)...) // connect.go
	}
	if after.Net == nil || after.Status != StatusExited {
		return d
	}
	if !after.Net.Releasing {
		d.Events = append(d.Events, NetworkReleaseRequested{At: commandTime(c)})
		d.Effects = append(d.Effects, ReleaseNetwork{Config: after.Config})
	} else if _, ok := c.(Reconcile); ok {
		d.Effects = append(d.Effects, ReleaseNetwork{Config: after.Config})
	}
	return d
}

// commandTime is the time a command carries.
func commandTime(c Command) time.Time {
	switch c := c.(type) {
	case Start:
		return c.At
	case RecordCreated:
		return c.At
	case RestartTimeout:
		return c.At
	case Reconcile:
		return c.At
	case ObserveExit:
		return c.At
	case RecordStartFailed:
		return c.At
	case RecordNetworkSetupFailed:
		return c.At
	case Remove:
		return c.At
	case RecordNetworkConnectFailed:
		return c.At
	case Checkpoint:
		return c.At
	case RecordCheckpointed:
		return c.At
	case RecordCheckpointFailed:
		return c.At
	}
	return time.Time{}
}
