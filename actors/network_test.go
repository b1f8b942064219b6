package actors

import (
	"context"
	"errors"
	"slices"
	"testing"

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
