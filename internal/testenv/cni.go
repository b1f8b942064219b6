package testenv

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

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

// FreeTCPPort is a TCP port of 127.0.0.1 that nothing listens on now.
func FreeTCPPort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// HTTPGet fetches url until it answers 200 or 20 s are up, and returns the
// body. Tests fetch only from loopback or from their own containers.
func HTTPGet(t testing.TB, url string) string {
	t.Helper()
	client := &http.Client{Timeout: 2 * time.Second}
	var last error
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		resp, err := client.Get(url)
		if err != nil {
			last = err
			continue
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err == nil && resp.StatusCode == http.StatusOK {
			return string(b)
		}
		last = fmt.Errorf("status %s, %v", resp.Status, err)
	}
	t.Fatalf("GET %s: %v", url, last)
	return ""
}
