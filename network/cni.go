package network

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	gocni "github.com/containerd/go-cni"
	"github.com/containernetworking/cni/libcni"
	types100 "github.com/containernetworking/cni/pkg/types/100"
)

// cniVersion is the CNI spec version of vigil's configurations, one that
// the plugins of Debian bookworm and later speak.
const cniVersion = "1.0.0"

// conflist is the CNI configuration of n: a bridge with host-local
// addresses (leases under the package's directory), masquerading, hairpin
// (a container reaches its own published port), then port mappings and
// firewall rules.
func (m *Manager) conflist(n Network) ([]byte, error) { return m.conflistOf(n, true) }

// conflistOf is conflist, without the portmap plugin unless withPorts: a
// container that publishes no port does not pay for it (two runs of a
// plugin and its iptables calls per start). Which one a container uses
// follows from its ports, which never change, so its DEL runs the plugins
// its ADD ran.
func (m *Manager) conflistOf(n Network, withPorts bool) ([]byte, error) {
	return m.conflistWith(n, withPorts, true)
}

// conflistWith is conflistOf, without the default route unless
// withRoute: a connected network's interface (eth1...) routes only its
// subnet, and the default route stays the main network's, as docker's.
func (m *Manager) conflistWith(n Network, withPorts, withRoute bool) ([]byte, error) {
	plugins := []map[string]any{
		{
			"type":        "bridge",
			"bridge":      n.Bridge,
			"isGateway":   true,
			"ipMasq":      true,
			"hairpinMode": true,
			"ipam": map[string]any{
				"type":    "host-local",
				"ranges":  [][]map[string]string{{{"subnet": n.Subnet, "gateway": n.Gateway}}},
				"routes":  []map[string]string{{"dst": "0.0.0.0/0"}},
				"dataDir": filepath.Join(m.cfg.Dir, "leases"),
			},
		},
		{"type": "portmap", "capabilities": map[string]bool{"portMappings": true}, "snat": true},
		{"type": "firewall", "backend": "iptables"},
	}
	if !withRoute {
		delete(plugins[0]["ipam"].(map[string]any), "routes")
	}
	if !withPorts {
		plugins = slices.Delete(plugins, 1, 2)
	}
	return json.MarshalIndent(map[string]any{"cniVersion": cniVersion, "name": n.CNIName, "plugins": plugins}, "", "\t")
}

// writeConf writes n's CNI configuration, for reading (the plugins are
// given it from memory).
func (m *Manager) writeConf(n Network) error {
	b, err := m.conflist(n)
	if err != nil {
		return err
	}
	if err := writeAtomic(m.confFile(n), b); err != nil {
		return fmt.Errorf("network: write CNI configuration of %q: %w", n.Name, err)
	}
	return nil
}

// cniCache holds one go-cni instance per network: the network's
// configuration and loopback.
type cniCache struct {
	mu sync.Mutex
	m  map[string]gocni.CNI
	// call serializes the ADDs and DELs. The plugins lock their own state
	// (host-local its leases, iptables its tables), so little is lost;
	// and go-cni's lock, in a build with the race detector, is a
	// deadlock detector that takes concurrent readers in different
	// goroutines for a recursive lock and ends the program.
	call sync.Mutex
}

func (c *cniCache) get(m *Manager, n Network, withPorts bool) (gocni.CNI, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	key := n.CNIName + map[bool]string{true: "", false: "/no-ports"}[withPorts]
	if x, ok := c.m[key]; ok {
		return x, nil
	}
	conf, err := m.conflistOf(n, withPorts)
	if err != nil {
		return nil, err
	}
	x, err := gocni.New(gocni.WithPluginDir(m.cfg.PluginDirs), gocni.WithInterfacePrefix("eth"),
		gocni.WithConfListBytes(conf), gocni.WithLoNetwork)
	if err != nil {
		return nil, fmt.Errorf("network: CNI configuration of %q: %w", n.Name, err)
	}
	if c.m == nil {
		c.m = map[string]gocni.CNI{}
	}
	c.m[key] = x
	return x, nil
}

func (c *cniCache) forget(name string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.m, name)
	delete(c.m, name+"/no-ports")
}

func portOpts(a Attachment) []gocni.NamespaceOpts {
	pm := make([]gocni.PortMapping, len(a.Ports))
	for i, p := range a.Ports {
		pm[i] = gocni.PortMapping{HostPort: int32(p.HostPort), ContainerPort: int32(p.ContainerPort), Protocol: p.Protocol, HostIP: p.HostIP}
	}
	return []gocni.NamespaceOpts{gocni.WithCapabilityPortMap(pm)}
}

// add runs the CNI ADD of a in the namespace at path.
func (m *Manager) add(ctx context.Context, n Network, a Attachment, path string) ([]string, error) {
	x, err := m.cni.get(m, n, len(a.Ports) > 0)
	if err != nil {
		return nil, err
	}
	m.cni.call.Lock()
	res, err := x.Setup(ctx, a.ID, path, portOpts(a)...)
	m.cni.call.Unlock()
	if err != nil {
		return nil, fmt.Errorf("network: attach %q to %q: %w", a.ID, n.Name, err)
	}
	var ips []string
	for name, iface := range res.Interfaces {
		if name == "lo" || iface.Sandbox == "" {
			continue
		}
		for _, c := range iface.IPConfigs {
			ips = append(ips, c.IP.String())
		}
	}
	return ips, nil
}

// del runs the CNI DEL of a; path "" when its namespace is gone.
func (m *Manager) del(ctx context.Context, n Network, a Attachment, path string) error {
	x, err := m.cni.get(m, n, len(a.Ports) > 0)
	if err != nil {
		return err
	}
	m.cni.call.Lock()
	err = x.Remove(ctx, a.ID, path, portOpts(a)...)
	m.cni.call.Unlock()
	if err != nil {
		return fmt.Errorf("network: detach %q from %q: %w", a.ID, n.Name, err)
	}
	return nil
}

// deleteLink deletes a network interface of the host; a missing one is no
// error.
func deleteLink(name string) error {
	if _, err := os.Stat(filepath.Join("/sys/class/net", name)); os.IsNotExist(err) {
		return nil
	}
	out, err := exec.Command("ip", "link", "delete", name).CombinedOutput()
	if err != nil {
		return fmt.Errorf("ip link delete %s: %w: %s", name, err, strings.TrimSpace(string(out)))
	}
	return nil
}

// addExtra runs the CNI ADD of a's connection to n (a second interface,
// ifName, in the namespace at path, without port mappings). go-cni names
// its interfaces by the index of a network in one configuration, so a
// connection made while the container runs goes through libcni itself.
func (m *Manager) addExtra(ctx context.Context, n Network, id, ifName, path string) ([]string, error) {
	list, rt, err := m.extraConf(n, id, ifName, path)
	if err != nil {
		return nil, err
	}
	m.cni.call.Lock()
	res, err := libcni.NewCNIConfig(m.cfg.PluginDirs, nil).AddNetworkList(ctx, list, rt)
	m.cni.call.Unlock()
	if err != nil {
		return nil, fmt.Errorf("network: connect %q to %q: %w", id, n.Name, err)
	}
	r, err := types100.NewResultFromResult(res)
	if err != nil {
		return nil, fmt.Errorf("network: connect %q to %q: %w", id, n.Name, err)
	}
	var ips []string
	for _, c := range r.IPs {
		if c.Interface != nil && *c.Interface >= 0 && *c.Interface < len(r.Interfaces) && r.Interfaces[*c.Interface].Sandbox == "" {
			continue // the host's end
		}
		ips = append(ips, c.Address.IP.String())
	}
	return ips, nil
}

// delExtra runs the CNI DEL of a's connection to n; path "" when the
// namespace is gone. It is idempotent.
func (m *Manager) delExtra(ctx context.Context, n Network, id, ifName, path string) error {
	list, rt, err := m.extraConf(n, id, ifName, path)
	if err != nil {
		return err
	}
	m.cni.call.Lock()
	err = libcni.NewCNIConfig(m.cfg.PluginDirs, nil).DelNetworkList(ctx, list, rt)
	m.cni.call.Unlock()
	if err != nil && !(path == "" && strings.Contains(err.Error(), "no such file or directory")) && !strings.Contains(err.Error(), "not found") {
		return fmt.Errorf("network: disconnect %q from %q: %w", id, n.Name, err)
	}
	return nil
}

func (m *Manager) extraConf(n Network, id, ifName, path string) (*libcni.NetworkConfigList, *libcni.RuntimeConf, error) {
	b, err := m.conflistWith(n, false, false)
	if err != nil {
		return nil, nil, err
	}
	list, err := libcni.ConfListFromBytes(b)
	if err != nil {
		return nil, nil, fmt.Errorf("network: CNI configuration of %q: %w", n.Name, err)
	}
	return list, &libcni.RuntimeConf{ContainerID: id, NetNS: path, IfName: ifName}, nil
}
