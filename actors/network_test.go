package actors

import (
	"context"
	"errors"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/containerd/errdefs"
	"github.com/vigilhq/vigil/journal"

	"github.com/vigilhq/vigil/actors/lifecycle"
	"github.com/vigilhq/vigil/c8dbridge"
	"github.com/vigilhq/vigil/network"
)

// fakeNetworks is a Networks for unit tests: it records the attachments
// whose files it was asked to write.
type fakeNetworks struct{ wrote []network.Attachment }

var _ Networks = (*fakeNetworks)(nil)

func (f *fakeNetworks) WriteFiles(a network.Attachment) error {
	f.wrote = append(f.wrote, a)
	return nil
}
func (f *fakeNetworks) SetupAll(context.Context, network.Attachment) ([]string, map[string][]string, error) {
	return []string{"10.224.0.2"}, nil, nil
}
func (f *fakeNetworks) Get(name string) (network.Network, error) {
	return network.Network{Name: name}, nil
}
func (f *fakeNetworks) Connect(context.Context, network.Attachment, network.Extra) ([]string, error) {
	return []string{"10.225.0.2"}, nil
}
func (f *fakeNetworks) Disconnect(context.Context, network.Attachment, network.Extra) error {
	return nil
}
func (f *fakeNetworks) Release(context.Context, network.Attachment) error { return nil }
func (f *fakeNetworks) Forget(string) error                               { return nil }
func (f *fakeNetworks) NetNSPath(id string) string                        { return "/state/net/netns/" + id }
func (f *fakeNetworks) FilesOf(id string) (string, string) {
	return "/state/net/containers/" + id + "/hosts", "/state/net/containers/" + id + "/resolv.conf"
}

func TestSpecOfNetwork(t *testing.T) {
	hasMount := func(s c8dbridge.ContainerSpec, src, dst string) bool {
		return slices.ContainsFunc(s.Mounts, func(m c8dbridge.Mount) bool { return m.Source == src && m.Target == dst })
	}
	cases := []struct {
		network string
		host    bool
	}{
		{"bridge", false},
		{"backend", false},
		{"none", false},
		{"", false},
		{"host", true},
		{"container:db", false},
	}
	for _, c := range cases {
		t.Run(c.network, func(t *testing.T) {
			f := &fakeNetworks{}
			ct := &container{id: "web", deps: &Deps{Networks: f}}
			cfg := lifecycle.Config{ID: "web", Rootfs: "/rootfs", Args: []string{"sh"}, Network: c.network,
				DNS: []string{"192.0.2.53"}, ExtraHosts: []string{"db:192.0.2.9"}}
			spec, err := ct.specOf(cfg)
			if err != nil {
				t.Fatal(err)
			}
			if spec.Network != c.network || spec.Hostname != "web" {
				t.Errorf("network %q, hostname %q; want %q, web", spec.Network, spec.Hostname, c.network)
			}
			if !hasMount(spec, "/state/net/containers/web/hosts", "/etc/hosts") || !hasMount(spec, "/state/net/containers/web/resolv.conf", "/etc/resolv.conf") {
				t.Errorf("mounts %+v lack /etc/hosts and /etc/resolv.conf", spec.Mounts)
			}
			if len(f.wrote) != 1 || f.wrote[0].HostNetwork != c.host || f.wrote[0].DNS[0] != "192.0.2.53" || f.wrote[0].ExtraHosts[0] != "db:192.0.2.9" {
				t.Errorf("files written for %+v", f.wrote)
			}
		})
	}

	// A user's mount of /etc/hosts wins.
	ct := &container{id: "web", deps: &Deps{Networks: &fakeNetworks{}}}
	cfg := lifecycle.Config{ID: "web", Rootfs: "/rootfs", Args: []string{"sh"}, Network: "bridge",
		Mounts: []lifecycle.Mount{{Source: "/srv/hosts", Target: "/etc/hosts"}}}
	spec, err := ct.specOf(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if hasMount(spec, "/state/net/containers/web/hosts", "/etc/hosts") || !hasMount(spec, "/srv/hosts", "/etc/hosts") {
		t.Errorf("mounts %+v: want the user's /etc/hosts only", spec.Mounts)
	}

	// Without networks, only none works.
	ct = &container{id: "web", deps: &Deps{}}
	if _, err := ct.specOf(cfg); !errors.Is(err, errNoNetworks) {
		t.Errorf("bridge without networks: %v, want errNoNetworks", err)
	}
	cfg.Network = ""
	if _, err := ct.specOf(cfg); err != nil {
		t.Errorf("none without networks: %v", err)
	}
}

// connNetworks is a fakeNetworks that knows two networks and records the
// connections and disconnections asked of it.
type connNetworks struct {
	fakeNetworks
	mu           sync.Mutex
	connected    []network.Extra
	disconnected []network.Extra
	attachments  []network.Attachment
}

func (f *connNetworks) Get(name string) (network.Network, error) {
	if name != "back" && name != "other" && name != "bridge" {
		return network.Network{}, errdefs.ErrNotFound.WithMessage("no network " + name)
	}
	return network.Network{Name: name}, nil
}

func (f *connNetworks) Connect(_ context.Context, a network.Attachment, x network.Extra) ([]string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.connected, f.attachments = append(f.connected, x), append(f.attachments, a)
	return []string{"10.225.0.2"}, nil
}

func (f *connNetworks) Disconnect(_ context.Context, a network.Attachment, x network.Extra) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.disconnected, f.attachments = append(f.disconnected, x), append(f.attachments, a)
	return nil
}

// TestConnectThroughTheActor: a connection of a running container is
// journaled, attached (with the container's other connections in its
// attachment) and answered with its address; an unknown network is refused
// before anything is journaled; a connection whose outcome a crash lost is
// made again by the reconcile; a disconnection detaches it.
func TestConnectThroughTheActor(t *testing.T) {
	store := journal.NewMemory()
	nets := &connNetworks{}
	withNets := func(d *Deps) { d.Networks = nets }
	h := newHarnessDeps(t, store, newFakeRuntime(), withNets)
	pid := h.spawn("web", true)
	if _, err := h.cmd(pid, Create{Config: lifecycle.Config{ID: "web", Rootfs: "/r", Args: []string{"sleep"}, Network: "bridge"}}); err != nil {
		t.Fatal(err)
	}
	if s, err := h.cmd(pid, Start{}); err != nil || s.Status != lifecycle.StatusRunning {
		t.Fatalf("start: %v %+v", err, s)
	}
	s, err := h.cmd(pid, Connect{Network: "back"})
	if err != nil || len(s.Net.Extra) != 1 || !s.Net.Extra[0].Up || s.Net.Extra[0].IPs[0] != "10.225.0.2" || s.Net.Extra[0].IfName != "eth1" {
		t.Fatalf("connect: %v, net %+v", err, s.Net)
	}
	if got := h.replayed("web"); !reflect.DeepEqual(stripTimes(got).Net, stripTimes(s).Net) || len(got.Networks) != 1 {
		t.Fatalf("journal %+v, state %+v", got.Net, s.Net)
	}
	if len(nets.attachments) != 1 || len(nets.attachments[0].Extra) != 1 || nets.attachments[0].Extra[0] != (network.Extra{Network: "back", IfName: "eth1"}) {
		t.Fatalf("attachments connected: %+v", nets.attachments)
	}
	n := count(t, store, "web")
	if _, err := h.cmd(pid, Connect{Network: "nosuch"}); !errors.Is(err, lifecycle.ErrInvalidArgument) || !strings.Contains(err.Error(), "unknown network") {
		t.Fatalf("connect to an unknown network: %v", err)
	}
	if count(t, store, "web") != n {
		t.Fatal("a refused connect was journaled")
	}

	// What a supervisor that crashed before the ADD journaled.
	h.close()
	if _, err := store.Append("web", lifecycle.NetworkConnectRequested{Network: "other", IfName: "eth2", At: time.Now()}); err != nil {
		t.Fatal(err)
	}
	h2 := newHarnessDeps(t, store, h.rt, withNets)
	pid = h2.spawn("web", false)
	if s, err = h2.cmd(pid, Reconcile{}); err != nil {
		t.Fatal(err)
	}
	if len(nets.connected) != 2 || nets.connected[1] != (network.Extra{Network: "other", IfName: "eth2"}) || len(s.Net.Extra) != 2 || !s.Net.Extra[1].Up {
		t.Fatalf("after the reconcile: connected %+v, net %+v", nets.connected, s.Net)
	}
	if s, err = h2.cmd(pid, Disconnect{Network: "back"}); err != nil || len(s.Net.Extra) != 1 || s.Net.Extra[0].Network != "other" || len(s.Networks) != 1 {
		t.Fatalf("disconnect: %v, net %+v, networks %+v", err, s.Net, s.Networks)
	}
	last := nets.attachments[len(nets.attachments)-1]
	if len(nets.disconnected) != 1 || nets.disconnected[0].Network != "back" || len(last.Extra) != 1 || last.Extra[0].Network != "other" {
		t.Fatalf("disconnected %+v, attachment saved %+v", nets.disconnected, last)
	}
}
