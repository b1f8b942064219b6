package network

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io/fs"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/containerd/errdefs"
	"github.com/vigilhq/vigil/internal/containerid"
)

// DefaultNetwork is the name of the network a container is attached to
// unless told otherwise; it always exists and cannot be removed.
const DefaultNetwork = "bridge"

// DefaultPluginDir is where Debian's containernetworking-plugins installs
// the CNI plugins.
const DefaultPluginDir = "/usr/lib/cni"

// autoPool is where subnets are picked when none is given: 10.224.0.0/11,
// in /24s, away from docker's (172.17.0.0/16 and up, 192.168.0.0/16) and
// podman's (10.88.0.0/16 and up) defaults.
var autoPool = netip.MustParsePrefix("10.224.0.0/11")

// Config configures a Manager.
type Config struct {
	// Dir is the package's directory, STATE/net. Required.
	Dir string
	// Prefix makes the CNI network names, and so the bridges, leases and
	// firewall chains, of one supervisor distinct from another's: the
	// containerd namespace.
	Prefix string
	// PluginDirs are searched for the CNI plugins; empty: DefaultPluginDir.
	PluginDirs []string
	// DefaultSubnet is the subnet of the default network when it is first
	// made; empty: one picked from 10.224.0.0/11 that no route of the host
	// and no other network of this supervisor overlaps.
	DefaultSubnet string
	// Log receives warnings; nil discards them.
	Log *slog.Logger
	// Clock stamps networks; nil is time.Now.
	Clock func() time.Time
}

// Network is a CNI bridge network of vigil's.
type Network struct {
	Name    string    `json:"name"`
	Subnet  string    `json:"subnet"`
	Gateway string    `json:"gateway"`
	Bridge  string    `json:"bridge"`  // the host's bridge interface
	CNIName string    `json:"cni"`     // the name in the CNI configuration
	Created time.Time `json:"created"` // zero for the default network
}

// Port is a published port: HostIP:HostPort/Protocol on the host to
// ContainerPort in the container.
type Port struct {
	HostIP        string `json:"host_ip,omitempty"`
	HostPort      int    `json:"host_port"`
	ContainerPort int    `json:"container_port"`
	Protocol      string `json:"protocol"`
}

// Attachment is what a container asks of its network.
type Attachment struct {
	ID          string   `json:"id"`
	Network     string   `json:"network,omitempty"` // a CNI network; "" with HostNetwork or none
	HostNetwork bool     `json:"host_network,omitempty"`
	Ports       []Port   `json:"ports,omitempty"`
	Hostname    string   `json:"hostname"`
	DNS         []string `json:"dns,omitempty"`
	ExtraHosts  []string `json:"extra_hosts,omitempty"`
	// Extra are the networks the container is connected to besides
	// Network, each an interface of its own in the same namespace.
	Extra []Extra `json:"extra,omitempty"`
}

// Extra is a connection of a container to a network besides its main one:
// the network and the container's interface on it (eth1, eth2...).
type Extra struct {
	Network string `json:"network"`
	IfName  string `json:"ifname"`
}

// Manager is the networks of one supervisor.
type Manager struct {
	cfg Config
	mu  sync.Mutex // networks, and the rewriting of hosts files
	cni cniCache
}

// Open opens the package's directory and makes sure the default network
// exists.
func Open(cfg Config) (*Manager, error) {
	if cfg.Dir == "" || !filepath.IsAbs(cfg.Dir) {
		return nil, fmt.Errorf("network: %w: directory %q must be an absolute path", errdefs.ErrInvalidArgument, cfg.Dir)
	}
	if cfg.Prefix == "" {
		cfg.Prefix = "vigil"
	}
	if len(cfg.PluginDirs) == 0 {
		cfg.PluginDirs = []string{DefaultPluginDir}
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	for _, d := range []string{"networks", "cni", "leases", "netns", "containers"} {
		if err := os.MkdirAll(filepath.Join(cfg.Dir, d), 0o700); err != nil {
			return nil, fmt.Errorf("network: %w", err)
		}
	}
	m := &Manager{cfg: cfg}
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, err := m.get(DefaultNetwork); errdefs.IsNotFound(err) {
		if _, err := m.create(DefaultNetwork, cfg.DefaultSubnet, time.Time{}); err != nil {
			return nil, fmt.Errorf("network: the default network: %w", err)
		}
	} else if err != nil {
		return nil, err
	}
	return m, nil
}

// Create makes the network name with subnet (CIDR; empty: one is picked).
// InvalidArgument for a bad name or subnet, or one that overlaps another
// network or a route of the host; AlreadyExists if the name is taken.
func (m *Manager) Create(name, subnet string) (Network, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.create(name, subnet, m.cfg.Clock().UTC())
}

func (m *Manager) create(name, subnet string, at time.Time) (Network, error) {
	if err := validName(name); err != nil {
		return Network{}, err
	}
	if _, err := m.get(name); err == nil {
		return Network{}, fmt.Errorf("network: %w: network %q exists", errdefs.ErrAlreadyExists, name)
	}
	taken, err := m.takenPrefixes()
	if err != nil {
		return Network{}, err
	}
	var p netip.Prefix
	if subnet != "" {
		p, err = netip.ParsePrefix(subnet)
		if err != nil || !p.Addr().Is4() || p.Bits() > 29 || p.Bits() < 8 {
			return Network{}, fmt.Errorf("network: %w: subnet %q: want an IPv4 CIDR from /8 to /29, e.g. 10.230.1.0/24", errdefs.ErrInvalidArgument, subnet)
		}
		p = p.Masked()
		for _, t := range taken {
			if t.p.Overlaps(p) {
				return Network{}, fmt.Errorf("network: %w: subnet %s overlaps %s of %s", errdefs.ErrInvalidArgument, p, t.p, t.what)
			}
		}
	} else if p, err = m.pick(name, taken); err != nil {
		return Network{}, err
	}
	n := Network{
		Name:    name,
		Subnet:  p.String(),
		Gateway: p.Addr().Next().String(),
		Bridge:  m.bridgeName(name),
		CNIName: m.cfg.Prefix + "-" + name,
		Created: at,
	}
	if err := m.writeConf(n); err != nil {
		return Network{}, err
	}
	b, _ := json.MarshalIndent(n, "", "\t")
	if err := writeAtomic(m.networkFile(name), b); err != nil {
		return Network{}, fmt.Errorf("network: save %q: %w", name, err)
	}
	return n, nil
}

// validName checks a network name: a container ID's syntax (it is a file
// name), and not the reserved modes.
func validName(name string) error {
	if err := containerid.Validate(name); err != nil {
		return fmt.Errorf("network: %w: network name %q: %w", errdefs.ErrInvalidArgument, name, err)
	}
	switch name {
	case "none", "host", "container":
		return fmt.Errorf("network: %w: %q is a network mode, not a network name", errdefs.ErrInvalidArgument, name)
	}
	return nil
}

type taken struct {
	p    netip.Prefix
	what string
}

// takenPrefixes are the subnets of this supervisor's networks and the
// IPv4 routes of the host (other bridges, docker's and podman's too).
func (m *Manager) takenPrefixes() ([]taken, error) {
	var out []taken
	nets, err := m.list()
	if err != nil {
		return nil, err
	}
	for _, n := range nets {
		if p, err := netip.ParsePrefix(n.Subnet); err == nil {
			out = append(out, taken{p, "network " + n.Name})
		}
	}
	routes, err := hostRoutes()
	if err != nil {
		m.cfg.Log.Warn("cannot read the host's routes; subnets are checked against vigil's networks only", "err", err)
	}
	return append(out, routes...), nil
}

// hostRoutes reads the IPv4 routes of the host, less the default route.
func hostRoutes() ([]taken, error) {
	f, err := os.Open("/proc/net/route")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []taken
	sc := bufio.NewScanner(f)
	sc.Scan() // header
	for sc.Scan() {
		fl := strings.Fields(sc.Text())
		if len(fl) < 8 {
			continue
		}
		dst, err1 := strconv.ParseUint(fl[1], 16, 32)
		mask, err2 := strconv.ParseUint(fl[7], 16, 32)
		if err1 != nil || err2 != nil || mask == 0 {
			continue
		}
		var d, mk [4]byte
		binary.LittleEndian.PutUint32(d[:], uint32(dst))
		binary.LittleEndian.PutUint32(mk[:], uint32(mask))
		ones, _ := net.IPMask(mk[:]).Size()
		out = append(out, taken{netip.PrefixFrom(netip.AddrFrom4(d), ones).Masked(), "a route of the host on " + fl[0]})
	}
	return out, sc.Err()
}

// pick chooses a free /24 of autoPool, starting at one derived from the
// prefix and name, so that supervisors and tests side by side rarely try
// the same one.
func (m *Manager) pick(name string, used []taken) (netip.Prefix, error) {
	const blocks = 1 << (24 - 11)
	start := hash32(m.cfg.Prefix+"/"+name) % blocks
	base := autoPool.Addr().As4()
	for i := range uint32(blocks) {
		k := (start + i) % blocks
		a := base
		a[1] += byte(k >> 8)
		a[2] = byte(k)
		p := netip.PrefixFrom(netip.AddrFrom4(a), 24)
		if !slices.ContainsFunc(used, func(t taken) bool { return t.p.Overlaps(p) }) {
			return p, nil
		}
	}
	return netip.Prefix{}, fmt.Errorf("network: %w: no free /24 left in %s; give --subnet", errdefs.ErrResourceExhausted, autoPool)
}

func hash32(s string) uint32 {
	h := fnv.New32a()
	h.Write([]byte(s))
	return h.Sum32()
}

// bridgeName is the host interface of a network: "vg" and 8 hex digits
// (interface names have at most 15 bytes).
func (m *Manager) bridgeName(name string) string {
	return fmt.Sprintf("vg%08x", hash32(m.cfg.Prefix+"/"+name))
}

// Get returns the network name; NotFound if there is none.
func (m *Manager) Get(name string) (Network, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.get(name)
}

func (m *Manager) get(name string) (Network, error) {
	if err := validName(name); err != nil {
		return Network{}, err
	}
	b, err := os.ReadFile(m.networkFile(name))
	if errors.Is(err, fs.ErrNotExist) {
		return Network{}, fmt.Errorf("network: %w: no network %q (see `supervisor network ls`)", errdefs.ErrNotFound, name)
	}
	if err != nil {
		return Network{}, fmt.Errorf("network: %w", err)
	}
	var n Network
	if err := json.Unmarshal(b, &n); err != nil {
		return Network{}, fmt.Errorf("network: %q: %w", name, err)
	}
	return n, nil
}

// List returns the networks, sorted by name.
func (m *Manager) List() ([]Network, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.list()
}

func (m *Manager) list() ([]Network, error) {
	ents, err := os.ReadDir(filepath.Join(m.cfg.Dir, "networks"))
	if err != nil {
		return nil, fmt.Errorf("network: %w", err)
	}
	var out []Network
	for _, e := range ents {
		name, ok := strings.CutSuffix(e.Name(), ".json")
		if !ok {
			continue
		}
		n, err := m.get(name)
		if err != nil {
			return nil, err
		}
		out = append(out, n)
	}
	return out, nil
}

// Members returns the IDs of the containers that hold an address on the
// network, with their addresses.
func (m *Manager) Members(name string) (map[string]string, error) {
	n, err := m.Get(name)
	if err != nil {
		return nil, err
	}
	return m.members(n)
}

// members reads host-local's leases of n: a file per address holding the
// container ID on its first line.
func (m *Manager) members(n Network) (map[string]string, error) {
	dir := filepath.Join(m.cfg.Dir, "leases", n.CNIName)
	ents, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return map[string]string{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("network: %w", err)
	}
	out := map[string]string{}
	for _, e := range ents {
		if _, err := netip.ParseAddr(e.Name()); err != nil {
			continue // last_reserved_ip.0, lock
		}
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			continue // released meanwhile
		}
		id, _, _ := strings.Cut(strings.TrimSpace(string(b)), "\n")
		out[strings.TrimSpace(id)] = e.Name()
	}
	return out, nil
}

// Remove deletes the network name. users are the containers configured on
// it (the caller knows them); FailedPrecondition if there are any, or if
// any container still holds an address on it; InvalidArgument for the
// default network.
func (m *Manager) Remove(name string, users []string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	n, err := m.get(name)
	if err != nil {
		return err
	}
	if name == DefaultNetwork {
		return fmt.Errorf("network: %w: the default network %q cannot be removed", errdefs.ErrInvalidArgument, name)
	}
	if len(users) > 0 {
		return fmt.Errorf("network: %w: network %q is in use by %s; remove them first", errdefs.ErrFailedPrecondition, name, strings.Join(users, ", "))
	}
	if mem, err := m.members(n); err != nil {
		return err
	} else if len(mem) > 0 {
		return fmt.Errorf("network: %w: network %q still holds addresses of %d containers", errdefs.ErrFailedPrecondition, name, len(mem))
	}
	if err := deleteLink(n.Bridge); err != nil {
		m.cfg.Log.Warn("cannot delete the network's bridge", "network", name, "bridge", n.Bridge, "err", err)
	}
	m.cni.forget(n.CNIName)
	os.RemoveAll(filepath.Join(m.cfg.Dir, "leases", n.CNIName))
	os.Remove(m.confFile(n))
	if err := os.Remove(m.networkFile(name)); err != nil {
		return fmt.Errorf("network: remove %q: %w", name, err)
	}
	return nil
}

func (m *Manager) networkFile(name string) string {
	return filepath.Join(m.cfg.Dir, "networks", name+".json")
}

func (m *Manager) confFile(n Network) string {
	return filepath.Join(m.cfg.Dir, "cni", n.Name+".conflist")
}

// NetNSDir is the directory of the network namespace files: container
// ID's is NetNSDir/ID (NetNSPath).
func (m *Manager) NetNSDir() string { return filepath.Join(m.cfg.Dir, "netns") }

// NetNSPath is the network namespace file of container id, which its OCI
// spec names; it exists while the container is set up.
func (m *Manager) NetNSPath(id string) string {
	return filepath.Join(m.NetNSDir(), id)
}

// FilesOf are the /etc/hosts and /etc/resolv.conf of container id.
func (m *Manager) FilesOf(id string) (hosts, resolv string) {
	d := filepath.Join(m.cfg.Dir, "containers", id)
	return filepath.Join(d, "hosts"), filepath.Join(d, "resolv.conf")
}

// WriteFiles saves a and writes the container's /etc/hosts and
// /etc/resolv.conf (the ones without addresses: Setup adds them), which
// the spec bind-mounts. It checks that a's network exists.
func (m *Manager) WriteFiles(a Attachment) error {
	if err := containerid.Validate(a.ID); err != nil {
		return fmt.Errorf("network: %w: %w", errdefs.ErrInvalidArgument, err)
	}
	if a.Network != "" {
		if _, err := m.Get(a.Network); err != nil {
			return err
		}
	}
	if err := m.saveAttachment(a); err != nil {
		return err
	}
	host, _ := os.ReadFile("/etc/resolv.conf")
	hostHosts, _ := os.ReadFile("/etc/hosts")
	hosts, resolv := m.FilesOf(a.ID)
	if err := writeInPlace(resolv, ResolvConf(string(host), a.DNS, a.HostNetwork)); err != nil {
		return err
	}
	return writeInPlace(hosts, Hosts(a, nil, nil, string(hostHosts)))
}

// saveAttachment saves what container a.ID asks of its networks.
func (m *Manager) saveAttachment(a Attachment) error {
	dir := filepath.Join(m.cfg.Dir, "containers", a.ID)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("network: %w", err)
	}
	b, _ := json.Marshal(a)
	if err := writeAtomic(filepath.Join(dir, "attachment.json"), b); err != nil {
		return fmt.Errorf("network: %w", err)
	}
	return nil
}

func (m *Manager) attachment(id string) (Attachment, error) {
	var a Attachment
	b, err := os.ReadFile(filepath.Join(m.cfg.Dir, "containers", id, "attachment.json"))
	if err != nil {
		return a, err
	}
	return a, json.Unmarshal(b, &a)
}

// Published lists the ports published by the containers of this
// supervisor other than except, by container ID.
func (m *Manager) Published(except string) (map[string][]Port, error) {
	ents, err := os.ReadDir(filepath.Join(m.cfg.Dir, "containers"))
	if err != nil {
		return nil, fmt.Errorf("network: %w", err)
	}
	out := map[string][]Port{}
	for _, e := range ents {
		if e.Name() == except {
			continue
		}
		if a, err := m.attachment(e.Name()); err == nil && len(a.Ports) > 0 {
			out[a.ID] = a.Ports
		}
	}
	return out, nil
}

// Setup creates the network namespace of a and attaches it to a.Network
// (CNI ADD, with its port mappings), after undoing whatever an earlier
// setup that was interrupted left; it returns the container's addresses.
// The hosts files of the network's members are rewritten.
func (m *Manager) Setup(ctx context.Context, a Attachment) ([]string, error) {
	ips, _, err := m.SetupAll(ctx, a)
	return ips, err
}

// SetupAll is Setup, which also attaches the container to the networks of
// a.Extra (an interface of its own on each); it returns the addresses on
// a.Network and those on each of a.Extra's, by network.
func (m *Manager) SetupAll(ctx context.Context, a Attachment) ([]string, map[string][]string, error) {
	n, err := m.Get(a.Network)
	if err != nil {
		return nil, nil, err
	}
	if err := m.WriteFiles(a); err != nil {
		return nil, nil, err
	}
	if m.mayHold(n, a.ID) {
		if err := m.release(ctx, n, a); err != nil {
			return nil, nil, fmt.Errorf("network: undo an earlier setup of %q: %w", a.ID, err)
		}
	}
	path := m.NetNSPath(a.ID)
	if err := newNetNS(path); err != nil {
		return nil, nil, err
	}
	ips, err := m.add(ctx, n, a, path)
	var extra map[string][]string
	var nets []Network
	for _, x := range a.Extra {
		if err != nil {
			break
		}
		var xn Network
		if xn, err = m.Get(x.Network); err != nil {
			break
		}
		nets = append(nets, xn)
		var xips []string
		if xips, err = m.addExtra(ctx, xn, a.ID, x.IfName, path); err == nil {
			if extra == nil {
				extra = map[string][]string{}
			}
			extra[x.Network] = xips
		}
	}
	if err != nil {
		if rerr := m.release(context.WithoutCancel(ctx), n, a); rerr != nil {
			m.cfg.Log.Warn("cannot undo a failed network setup; the next setup or release does", "container", a.ID, "err", rerr)
		}
		return nil, nil, err
	}
	m.refreshHosts(n, a)
	for _, xn := range nets {
		m.refreshHosts(xn, a)
	}
	return ips, extra, nil
}

// Connect connects the container of a, whose namespace is set up, to x,
// one of a.Extra (CNI ADD of interface x.IfName, after undoing what an
// interrupted earlier ADD may have left); it returns the addresses. The
// hosts files of the network's members are rewritten.
func (m *Manager) Connect(ctx context.Context, a Attachment, x Extra) ([]string, error) {
	if err := containerid.Validate(a.ID); err != nil {
		return nil, fmt.Errorf("network: %w: %w", errdefs.ErrInvalidArgument, err)
	}
	n, err := m.Get(x.Network)
	if err != nil {
		return nil, err
	}
	path := m.NetNSPath(a.ID)
	if !isNetNS(path) {
		return nil, fmt.Errorf("network: %w: container %q has no network namespace", errdefs.ErrFailedPrecondition, a.ID)
	}
	if err := m.saveAttachment(a); err != nil { // first: a lost journal's Drop releases it
		return nil, err
	}
	if err := m.delExtra(ctx, n, a.ID, x.IfName, path); err != nil {
		return nil, fmt.Errorf("network: undo an earlier connection of %q: %w", a.ID, err)
	}
	ips, err := m.addExtra(ctx, n, a.ID, x.IfName, path)
	if err != nil {
		if rerr := m.delExtra(context.WithoutCancel(ctx), n, a.ID, x.IfName, path); rerr != nil {
			m.cfg.Log.Warn("cannot undo a failed connection; the next release does", "container", a.ID, "network", n.Name, "err", rerr)
		}
		return nil, err
	}
	m.refreshHosts(n, a)
	return ips, nil
}

// Disconnect detaches the container of a from x (CNI DEL of its
// interface); it is idempotent. a.Extra no longer holds x.
func (m *Manager) Disconnect(ctx context.Context, a Attachment, x Extra) error {
	if err := containerid.Validate(a.ID); err != nil {
		return fmt.Errorf("network: %w: %w", errdefs.ErrInvalidArgument, err)
	}
	n, err := m.Get(x.Network)
	if err != nil {
		return err
	}
	path := m.NetNSPath(a.ID)
	if !isNetNS(path) {
		path = ""
	}
	if err := m.delExtra(ctx, n, a.ID, x.IfName, path); err != nil {
		return err
	}
	if err := m.saveAttachment(a); err != nil {
		return err
	}
	m.refreshHosts(n, a)
	return nil
}

// cniCacheDir is where libcni keeps the result of each ADD, for its DEL
// (its default, which go-cni does not change).
const cniCacheDir = "/var/lib/cni/results"

// mayHold reports whether an earlier setup of container id on n may have
// left something: its namespace file, libcni's cached result of an ADD,
// or an address lease. A setup that finds none skips the undoing DEL,
// the most expensive part of a start after the ADD.
func (m *Manager) mayHold(n Network, id string) bool {
	if _, err := os.Lstat(m.NetNSPath(id)); err == nil {
		return true
	}
	if ents, err := os.ReadDir(cniCacheDir); err == nil {
		prefix := n.CNIName + "-" + id + "-"
		for _, e := range ents {
			if strings.HasPrefix(e.Name(), prefix) {
				return true
			}
		}
	}
	mem, err := m.members(n)
	if err != nil {
		return true
	}
	_, ok := mem[id]
	return ok
}

// Release detaches the container (CNI DEL: its address, port mappings and
// firewall rules) and removes its network namespace. It is idempotent; a
// namespace lost with a host reboot is no error.
func (m *Manager) Release(ctx context.Context, a Attachment) error {
	n, err := m.Get(a.Network)
	if err != nil {
		return err
	}
	if err := m.release(ctx, n, a); err != nil {
		return err
	}
	m.refreshHosts(n, Attachment{})
	for _, x := range a.Extra {
		if xn, err := m.Get(x.Network); err == nil {
			m.refreshHosts(xn, Attachment{})
		}
	}
	return nil
}

func (m *Manager) release(ctx context.Context, n Network, a Attachment) error {
	path := m.NetNSPath(a.ID)
	ns := path
	if !isNetNS(path) {
		ns = "" // gone with a reboot, or never made: the plugins release what they can without it
	}
	for _, x := range a.Extra {
		xn, err := m.Get(x.Network)
		if errdefs.IsNotFound(err) {
			continue // removed: it held nothing (a network is removed only when no container holds an address on it)
		} else if err != nil {
			return err
		}
		if err := m.delExtra(ctx, xn, a.ID, x.IfName, ns); err != nil {
			return err
		}
	}
	if err := m.del(ctx, n, a, ns); err != nil {
		return err
	}
	return removeNetNS(path)
}

// Forget removes what WriteFiles wrote, once the container is removed
// (its network released).
func (m *Manager) Forget(id string) error {
	if err := containerid.Validate(id); err != nil {
		return fmt.Errorf("network: %w: %w", errdefs.ErrInvalidArgument, err)
	}
	if err := removeNetNS(m.NetNSPath(id)); err != nil {
		return err
	}
	return os.RemoveAll(filepath.Join(m.cfg.Dir, "containers", id))
}

// refreshHosts rewrites the hosts file of every member of network n, so
// that each lists its own addresses and its peers on every user-defined
// network it is on (its main one and those it is connected to). The
// default network gives no names, as docker's; there only a's own file
// gets its address.
func (m *Manager) refreshHosts(n Network, a Attachment) {
	m.mu.Lock()
	defer m.mu.Unlock()
	mem, err := m.members(n)
	if err != nil {
		m.cfg.Log.Warn("cannot list the network's members; hosts files not rewritten", "network", n.Name, "err", err)
		return
	}
	cache := map[string]map[string]string{n.Name: mem}
	membersOf := func(name string) map[string]string {
		if mm, ok := cache[name]; ok {
			return mm
		}
		mm := map[string]string{}
		if nn, err := m.get(name); err == nil {
			if got, err := m.members(nn); err == nil {
				mm = got
			}
		}
		cache[name] = mm
		return mm
	}
	write := func(id string) {
		att, err := m.attachment(id)
		if err != nil {
			return // not one of this supervisor's, or removed meanwhile
		}
		var own []string
		var peers []Host
		nets := []string{att.Network}
		for _, x := range att.Extra {
			nets = append(nets, x.Network)
		}
		for _, name := range nets {
			if name == "" {
				continue
			}
			mm := membersOf(name)
			if ip, ok := mm[id]; ok {
				own = append(own, ip)
			} else {
				continue // not attached there now
			}
			if name == DefaultNetwork {
				continue
			}
			for pid, ip := range mm {
				if pid != id {
					peers = append(peers, Host{IP: ip, Names: []string{pid}})
				}
			}
		}
		slices.SortFunc(peers, func(x, y Host) int { return strings.Compare(x.Names[0]+" "+x.IP, y.Names[0]+" "+y.IP) })
		hosts, _ := m.FilesOf(id)
		if err := writeInPlace(hosts, Hosts(att, own, peers, "")); err != nil {
			m.cfg.Log.Warn("cannot rewrite a hosts file", "container", id, "err", err)
		}
	}
	if n.Name == DefaultNetwork {
		if _, ok := mem[a.ID]; ok {
			write(a.ID)
		}
		return
	}
	for id := range mem {
		write(id)
	}
	if _, ok := mem[a.ID]; !ok && a.ID != "" {
		write(a.ID) // disconnected: its own file loses the network's peers
	}
}

// PortFree reports an error when p's host port cannot be bound now (some
// process of the host holds it): an InvalidArgument-class error naming it.
func PortFree(p Port) error {
	addr := net.JoinHostPort(p.HostIP, strconv.Itoa(p.HostPort))
	var err error
	if p.Protocol == "udp" {
		var c net.PacketConn
		if c, err = net.ListenPacket("udp4", addr); err == nil {
			c.Close()
		}
	} else {
		var l net.Listener
		if l, err = net.Listen("tcp4", addr); err == nil {
			l.Close()
		}
	}
	if err != nil {
		return fmt.Errorf("network: %w: host port %s/%s is in use: %w", errdefs.ErrInvalidArgument, addr, p.Protocol, err)
	}
	return nil
}

// FreePort asks the kernel for a free host port for protocol (for -P).
func FreePort(protocol string) (int, error) {
	if protocol == "udp" {
		c, err := net.ListenPacket("udp4", ":0")
		if err != nil {
			return 0, err
		}
		defer c.Close()
		return c.LocalAddr().(*net.UDPAddr).Port, nil
	}
	l, err := net.Listen("tcp4", ":0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// writeAtomic writes a file through a temporary one and a rename, synced.
func writeAtomic(path string, b []byte) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	_, err = f.Write(b)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
	}
	return err
}

// writeInPlace rewrites a file keeping its inode: a bind mount of it into
// a running container sees the new content.
func writeInPlace(path, content string) error {
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		return fmt.Errorf("network: %w", err)
	}
	return nil
}

// ReleaseAll releases and forgets every container this Manager has files
// of, and deletes the bridges of its networks: what a test does after its
// supervisor is gone, so that a failed test leaks nothing either.
func (m *Manager) ReleaseAll(ctx context.Context) error {
	ents, err := os.ReadDir(filepath.Join(m.cfg.Dir, "containers"))
	if err != nil {
		return fmt.Errorf("network: %w", err)
	}
	var errs []error
	for _, e := range ents {
		errs = append(errs, m.Drop(ctx, e.Name()))
	}
	nets, err := m.List()
	errs = append(errs, err)
	for _, n := range nets {
		errs = append(errs, deleteLink(n.Bridge))
	}
	return errors.Join(errs...)
}

// Drop releases container id from what it asked of its network (saved by
// WriteFiles), and forgets it: for a container whose journal is lost. A
// container this Manager has no files of is no error.
func (m *Manager) Drop(ctx context.Context, id string) error {
	if err := containerid.Validate(id); err != nil {
		return fmt.Errorf("network: %w: %w", errdefs.ErrInvalidArgument, err)
	}
	a, err := m.attachment(id)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("network: %q: %w", id, err)
	}
	if a.Network != "" {
		if err := m.Release(ctx, a); err != nil {
			return err
		}
	}
	return m.Forget(id)
}
