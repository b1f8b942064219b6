package network_test

import (
	"context"
	"errors"
	"os/exec"
	"strings"
	"testing"

	"github.com/containerd/errdefs"
	"github.com/vigilhq/vigil/internal/testenv"
	"github.com/vigilhq/vigil/network"
)

func open(t *testing.T) *network.Manager {
	t.Helper()
	dir := testenv.CNI(t)
	m, err := network.Open(network.Config{Dir: t.TempDir(), Prefix: testenv.Namespace(t), PluginDirs: []string{dir}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := m.ReleaseAll(context.Background()); err != nil {
			t.Logf("cleanup: %v", err)
		}
	})
	return m
}

func footprint(t *testing.T, m *network.Manager) network.Footprint {
	t.Helper()
	f, err := m.Footprint()
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// TestSetupRelease attaches a namespace with the real plugins, with a
// published port, and releases it: nothing is left.
func TestSetupRelease(t *testing.T) {
	m := open(t)
	ctx := context.Background()
	a := network.Attachment{ID: "web", Network: network.DefaultNetwork, Hostname: "web",
		Ports: []network.Port{{HostIP: "127.0.0.1", HostPort: 18080, ContainerPort: 80, Protocol: "tcp"}}}
	ips, err := m.Setup(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	if len(ips) != 1 {
		t.Fatalf("addresses %v, want one", ips)
	}
	out, err := exec.Command("nsenter", "--net="+m.NetNSPath("web"), "ip", "-o", "addr").CombinedOutput()
	if err != nil || !strings.Contains(string(out), ips[0]) || !strings.Contains(string(out), "eth0") {
		t.Fatalf("the namespace lacks eth0 with %s: %v\n%s", ips[0], err, out)
	}
	f := footprint(t, m)
	if f.Leases != 1 || f.Namespaces != 1 || f.Veths != 1 || f.Rules == 0 {
		t.Fatalf("footprint while attached %+v; want a lease, a namespace, a veth and rules", f)
	}
	// Setup again (an interrupted start tried again) leaves one of each.
	if _, err := m.Setup(ctx, a); err != nil {
		t.Fatal(err)
	}
	if g := footprint(t, m); g != f {
		t.Fatalf("footprint after a second setup %+v, want %+v", g, f)
	}
	for range 2 { // idempotent
		if err := m.Release(ctx, a); err != nil {
			t.Fatal(err)
		}
	}
	if f := footprint(t, m); f != (network.Footprint{}) {
		t.Fatalf("footprint after release %+v, want none", f)
	}
	if err := m.Forget("web"); err != nil {
		t.Fatal(err)
	}
}

func TestNetworkCreateRemove(t *testing.T) {
	m := open(t)
	n, err := m.Create("backend", "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Create("other", n.Subnet); !errdefs.IsInvalidArgument(err) || !strings.Contains(err.Error(), "overlaps") {
		t.Fatalf("overlapping subnet: %v, want an InvalidArgument error naming the overlap", err)
	}
	if _, err := m.Create("backend", ""); !errdefs.IsAlreadyExists(err) {
		t.Fatalf("same name: %v, want AlreadyExists", err)
	}
	if err := m.Remove("backend", []string{"web"}); !errdefs.IsFailedPrecondition(err) {
		t.Fatalf("remove in use: %v, want FailedPrecondition", err)
	}
	if err := m.Remove(network.DefaultNetwork, nil); err == nil {
		t.Fatal("the default network was removed")
	}
	if err := m.Remove("backend", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Get("backend"); !errors.Is(err, errdefs.ErrNotFound) {
		t.Fatalf("get after remove: %v, want NotFound", err)
	}
}

// TestNamesOnUserNetwork: members of a user-defined network find each
// other in their hosts files, and a released one is dropped from them.
func TestNamesOnUserNetwork(t *testing.T) {
	m := open(t)
	ctx := context.Background()
	if _, err := m.Create("backend", ""); err != nil {
		t.Fatal(err)
	}
	a := network.Attachment{ID: "a", Network: "backend", Hostname: "a"}
	b := network.Attachment{ID: "b", Network: "backend", Hostname: "b"}
	ipa, err := m.Setup(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	ipb, err := m.Setup(ctx, b)
	if err != nil {
		t.Fatal(err)
	}
	read := func(id string) string {
		hosts, _ := m.FilesOf(id)
		out, err := exec.Command("cat", hosts).Output()
		if err != nil {
			t.Fatal(err)
		}
		return string(out)
	}
	if h := read("a"); !strings.Contains(h, ipb[0]+"\tb\n") || !strings.Contains(h, ipa[0]+"\ta\n") {
		t.Errorf("hosts of a lacks b (%s) or itself:\n%s", ipb[0], h)
	}
	if h := read("b"); !strings.Contains(h, ipa[0]+"\ta\n") {
		t.Errorf("hosts of b lacks a (%s):\n%s", ipa[0], h)
	}
	if err := m.Release(ctx, b); err != nil {
		t.Fatal(err)
	}
	if h := read("a"); strings.Contains(h, "\tb\n") {
		t.Errorf("hosts of a still lists the released b:\n%s", h)
	}
	if err := m.Release(ctx, a); err != nil {
		t.Fatal(err)
	}
}

// TestDrop releases a container from its saved attachment alone, as for an
// orphan whose journal is lost.
func TestDrop(t *testing.T) {
	m := open(t)
	ctx := context.Background()
	if _, err := m.Setup(ctx, network.Attachment{ID: "orphan", Network: network.DefaultNetwork, Hostname: "orphan"}); err != nil {
		t.Fatal(err)
	}
	if f := footprint(t, m); f.Leases != 1 {
		t.Fatalf("footprint %+v, want a lease", f)
	}
	for range 2 {
		if err := m.Drop(ctx, "orphan"); err != nil {
			t.Fatal(err)
		}
	}
	if f := footprint(t, m); f != (network.Footprint{}) {
		t.Fatalf("after Drop: %+v, want nothing", f)
	}
}

// TestConnectDisconnect: a set-up container connected to a second network
// gets eth1 there (its default route stays eth0's), its peers there list
// it; a connection done twice (an interrupted one redone) holds one lease;
// a disconnection and a setup with the connection, then a release, leave
// nothing; a Drop from the saved attachment releases the connection too.
func TestConnectDisconnect(t *testing.T) {
	m := open(t)
	ctx := context.Background()
	if _, err := m.Create("backend", ""); err != nil {
		t.Fatal(err)
	}
	web := network.Attachment{ID: "web", Network: network.DefaultNetwork, Hostname: "web"}
	db := network.Attachment{ID: "db", Network: "backend", Hostname: "db"}
	if _, err := m.Setup(ctx, web); err != nil {
		t.Fatal(err)
	}
	ipdb, err := m.Setup(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	x := network.Extra{Network: "backend", IfName: "eth1"}
	web.Extra = []network.Extra{x}
	var ips []string
	for range 2 { // the second: a connection redone after a crash
		if ips, err = m.Connect(ctx, web, x); err != nil {
			t.Fatal(err)
		}
	}
	if len(ips) != 1 {
		t.Fatalf("addresses on backend %v, want one", ips)
	}
	out, err := exec.Command("nsenter", "--net="+m.NetNSPath("web"), "ip", "-o", "addr").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "eth1") || !strings.Contains(string(out), ips[0]) || !strings.Contains(string(out), "eth0") {
		t.Fatalf("the namespace lacks eth1 with %s: %v\n%s", ips[0], err, out)
	}
	if out, err := exec.Command("nsenter", "--net="+m.NetNSPath("web"), "ip", "route", "show", "default").CombinedOutput(); err != nil || !strings.Contains(string(out), "eth0") || strings.Contains(string(out), "eth1") {
		t.Fatalf("default route: %v\n%s", err, out)
	}
	if mem, err := m.Members("backend"); err != nil || len(mem) != 2 || mem["web"] != ips[0] {
		t.Fatalf("members of backend: %v %v", mem, err)
	}
	hostsOf := func(id string) string {
		hosts, _ := m.FilesOf(id)
		out, err := exec.Command("cat", hosts).Output()
		if err != nil {
			t.Fatal(err)
		}
		return string(out)
	}
	if h := hostsOf("db"); !strings.Contains(h, ips[0]+"\tweb\n") {
		t.Errorf("hosts of db lacks web:\n%s", h)
	}
	if h := hostsOf("web"); !strings.Contains(h, ipdb[0]+"\tdb\n") || !strings.Contains(h, ips[0]+"\tweb\n") {
		t.Errorf("hosts of web lacks db or its backend address:\n%s", h)
	}

	web.Extra = nil
	for range 2 { // idempotent
		if err := m.Disconnect(ctx, web, x); err != nil {
			t.Fatal(err)
		}
	}
	if f := footprint(t, m); f.Leases != 2 || f.Veths != 2 {
		t.Fatalf("footprint after the disconnection %+v; want web's and db's leases and veths", f)
	}
	if h := hostsOf("db"); strings.Contains(h, "\tweb\n") {
		t.Errorf("hosts of db still lists web:\n%s", h)
	}

	// A setup with the connection (a start), then a Drop (a lost journal).
	web.Extra = []network.Extra{x}
	main, extra, err := m.SetupAll(ctx, web)
	if err != nil || len(main) != 1 || len(extra["backend"]) != 1 {
		t.Fatalf("SetupAll: %v, %v, %v", main, extra, err)
	}
	if err := m.Drop(ctx, "web"); err != nil {
		t.Fatal(err)
	}
	if err := m.Release(ctx, db); err != nil {
		t.Fatal(err)
	}
	if f := footprint(t, m); f != (network.Footprint{}) {
		t.Fatalf("footprint after the releases %+v, want nothing", f)
	}
}
