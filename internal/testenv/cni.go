package testenv

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/vigilhq/vigil/network"
)

// CNIPluginDir is where Debian's containernetworking-plugins installs the
// CNI plugins.
const CNIPluginDir = "/usr/lib/cni"

// CNI returns the directory of the CNI plugins that networking tests run
// (bridge, host-local, portmap, firewall, loopback). It skips (or fails)
// the test if they or iptables are missing, or it does not run as root.
func CNI(t testing.TB) string {
	t.Helper()
	if uid := os.Geteuid(); uid != 0 {
		unavailable(t, fmt.Sprintf("networking tests need root (running as uid %d)", uid))
	}
	for _, p := range []string{"bridge", "host-local", "portmap", "firewall", "loopback"} {
		if _, err := os.Stat(filepath.Join(CNIPluginDir, p)); err != nil {
			unavailable(t, fmt.Sprintf("CNI plugin %s missing (%v); install containernetworking-plugins (scripts/deps.sh)", p, err))
		}
	}
	if _, err := exec.LookPath("iptables"); err != nil {
		unavailable(t, "iptables is missing; install it (scripts/deps.sh)")
	}
	return CNIPluginDir
}

// Networks opens the networks of a supervisor whose state dir is
// stateDir and whose containerd namespace is ns (vigil's STATE/net), and
// releases, when the test ends (after its supervisors, whose cleanups run
// first when they were registered later), whatever networking its
// containers still hold: namespaces, addresses, rules, bridges. A test
// that fails half way leaks nothing either.
func Networks(t testing.TB, stateDir, ns string) *network.Manager {
	t.Helper()
	CNI(t)
	m, err := network.Open(network.Config{Dir: filepath.Join(stateDir, "net"), Prefix: ns})
	if err != nil {
		t.Fatalf("testenv: networks: %v", err)
	}
	t.Cleanup(func() {
		if err := m.ReleaseAll(context.Background()); err != nil {
			t.Logf("testenv: releasing the test's networks: %v", err)
		}
	})
	return m
}

// Footprint is m.Footprint, failing the test on an error.
func Footprint(t testing.TB, m *network.Manager) network.Footprint {
	t.Helper()
	f, err := m.Footprint()
	if err != nil {
		t.Fatalf("testenv: network footprint: %v", err)
	}
	return f
}
