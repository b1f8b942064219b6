package network_test

import (
	"context"
	"os/exec"
	"testing"

	"github.com/vigilhq/vigil/internal/testenv"
	"github.com/vigilhq/vigil/network"
)

// BenchmarkSetupRelease is the cost of the network of one run of a
// container on the default bridge, without containerd: the namespace, the
// CNI ADD (bridge, host-local, portmap, firewall, loopback) and the DEL,
// with and without a published port.
func BenchmarkSetupRelease(b *testing.B) {
	dir := testenv.CNI(b)
	for _, bc := range []struct {
		name  string
		ports []network.Port
	}{
		{"no-port", nil},
		{"one-port", []network.Port{{HostIP: "127.0.0.1", HostPort: 18081, ContainerPort: 80, Protocol: "tcp"}}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			m, err := network.Open(network.Config{Dir: b.TempDir(), Prefix: testenv.Namespace(b), PluginDirs: []string{dir}})
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { m.ReleaseAll(context.Background()) })
			ctx := context.Background()
			a := network.Attachment{ID: "bench", Network: network.DefaultNetwork, Hostname: "bench", Ports: bc.ports}
			if _, err := m.Setup(ctx, a); err != nil { // the bridge is made once
				b.Fatal(err)
			}
			if err := m.Release(ctx, a); err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			for b.Loop() {
				if _, err := m.Setup(ctx, a); err != nil {
					b.Fatal(err)
				}
				if err := m.Release(ctx, a); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkIptables is one iptables call of the kind the plugins make,
// for scale.
func BenchmarkIptables(b *testing.B) {
	testenv.CNI(b)
	for b.Loop() {
		if out, err := exec.Command("iptables", "-w", "-t", "nat", "-S", "POSTROUTING").CombinedOutput(); err != nil {
			b.Fatalf("%v: %s", err, out)
		}
	}
}
