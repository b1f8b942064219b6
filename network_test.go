package vigil_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/containerd/errdefs"
	"github.com/vigilhq/vigil"
	"github.com/vigilhq/vigil/actors"
	"github.com/vigilhq/vigil/actors/lifecycle"
	"github.com/vigilhq/vigil/internal/testenv"
	"github.com/vigilhq/vigil/network"
)

// newNetEnv is newEnv for networking tests: it needs the CNI plugins, and
// releases what the test's containers hold on the host when it ends.
func newNetEnv(t *testing.T) (*env, *network.Manager) {
	t.Helper()
	testenv.CNI(t)
	e := newEnv(t)
	return e, testenv.Networks(t, e.cfg.StateDir, e.cfg.Namespace)
}

// httpdScript serves a page naming the container on port 80.
const httpdScript = `mkdir -p /tmp/www && echo "hello from $(hostname)" > /tmp/www/index.html && exec httpd -f -p 80 -h /tmp/www`

func run(t *testing.T, s *vigil.Supervisor, cfg lifecycle.Config) lifecycle.State {
	t.Helper()
	ctx := ctxT(t)
	if _, err := s.Create(ctx, cfg); err != nil {
		t.Fatalf("create %s: %v", cfg.ID, err)
	}
	st, err := s.Start(ctx, cfg.ID)
	if err != nil {
		t.Fatalf("start %s: %v", cfg.ID, err)
	}
	return st
}

// TestPublishedPortSurvivesRestarts: busybox httpd on the default bridge
// answers on its published host port, from the host, after a restart of
// the container and after the supervisor went away and came back; its
// removal leaves no lease, namespace, veth or rule.
func TestPublishedPortSurvivesRestarts(t *testing.T) {
	e, nets := newNetEnv(t)
	s := e.open(t)
	ctx := ctxT(t)
	port := testenv.FreeTCPPort(t)
	cfg := e.config("web", httpdScript)
	cfg.Network = lifecycle.NetworkBridge
	cfg.Ports = []lifecycle.PortMapping{{HostIP: "127.0.0.1", HostPort: port, ContainerPort: 80, Protocol: "tcp"}}
	st := run(t, s, cfg)
	if st.Net == nil || !st.Net.Up || len(st.Net.IPs) != 1 {
		t.Fatalf("state after start: net %+v, want one address", st.Net)
	}
	url := fmt.Sprintf("http://127.0.0.1:%d/", port)
	if body := testenv.HTTPGet(t, url); body != "hello from web\n" {
		t.Fatalf("GET %s: %q", url, body)
	}
	// The container's own address, on the test's own bridge, too.
	testenv.HTTPGet(t, "http://"+st.Net.IPs[0]+":80/")

	if _, err := s.Restart(ctx, "web", 5*time.Second); err != nil {
		t.Fatal(err)
	}
	testenv.HTTPGet(t, url)

	// The supervisor goes away (the CLI tests kill -9 the daemon) and
	// comes back: the running container keeps its network.
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	testenv.HTTPGet(t, url)
	s = e.open(t)
	defer s.Close()
	st, err := s.Inspect(ctx, "web")
	if err != nil || st.Status != lifecycle.StatusRunning || st.Net == nil || !st.Net.Up {
		t.Fatalf("after reopen: %v %+v", err, st)
	}
	testenv.HTTPGet(t, url)

	if err := s.Remove(ctx, "web", true); err != nil {
		t.Fatal(err)
	}
	if f := testenv.Footprint(t, nets); f != (network.Footprint{}) {
		t.Fatalf("after removal: %+v, want nothing left", f)
	}
}

// output runs a container to its end and returns its output.
func output(t *testing.T, s *vigil.Supervisor, e *env, cfg lifecycle.Config) string {
	t.Helper()
	ctx := ctxT(t)
	run(t, s, cfg)
	st, err := s.Wait(ctx, cfg.ID, actors.WaitNotRunning)
	if err != nil {
		t.Fatal(err)
	}
	out := logText(t, s.LogPath(cfg.ID))
	if st.Exit == nil || st.Exit.Code != 0 {
		t.Fatalf("%s exited %+v; output:\n%s", cfg.ID, st.Exit, out)
	}
	return out
}

// TestNetworkModes: none has only loopback, host sees the host's
// interfaces, and container:ID shares another container's namespace.
func TestNetworkModes(t *testing.T) {
	e, nets := newNetEnv(t)
	s := e.open(t)
	defer s.Close()

	cfg := e.config("isolated", "ip -o link | cut -d: -f2")
	cfg.Network = lifecycle.NetworkNone
	if out := strings.Fields(output(t, s, e, cfg)); len(out) != 1 || out[0] != "lo" {
		t.Errorf("none: links %q, want only lo", out)
	}

	hostLinks := func() map[string]bool {
		ls, err := net.Interfaces()
		if err != nil {
			t.Fatal(err)
		}
		m := map[string]bool{}
		for _, l := range ls {
			m[l.Name] = true
		}
		return m
	}
	before := hostLinks()
	cfg = e.config("onhost", "ip -o link | cut -d: -f2")
	cfg.Network = lifecycle.NetworkHost
	got := strings.Fields(output(t, s, e, cfg))
	after := hostLinks()
	for l := range before {
		if !after[l] || strings.HasPrefix(l, "veth") {
			continue // other containers' come and go meanwhile
		}
		found := false
		for _, g := range got {
			found = found || strings.SplitN(g, "@", 2)[0] == l
		}
		if !found {
			t.Errorf("host: the container does not see the host's %s (sees %q)", l, got)
		}
	}

	cfg = e.config("files", "cat /etc/resolv.conf /etc/hosts; hostname")
	cfg.Network = lifecycle.NetworkBridge
	cfg.DNS = []string{"192.0.2.53"}
	cfg.ExtraHosts = []string{"db:192.0.2.9"}
	out := output(t, s, e, cfg)
	for _, want := range []string{"nameserver 192.0.2.53\n", "192.0.2.9\tdb\n", "127.0.0.1\tlocalhost\n", "\tfiles\n", "\nfiles\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("--dns, --add-host, default hostname: output lacks %q:\n%s", want, out)
		}
	}

	web := e.config("web", httpdScript)
	web.Network = lifecycle.NetworkBridge
	run(t, s, web)
	cfg = e.config("sidecar", "wget -qO- http://127.0.0.1:80/")
	cfg.Network = "container:web"
	if out := output(t, s, e, cfg); out != "hello from web\n" {
		t.Errorf("container:web: 127.0.0.1:80 answered %q, want web's page", out)
	}
	for _, id := range []string{"isolated", "onhost", "files", "web", "sidecar"} {
		if err := s.Remove(ctxT(t), id, true); err != nil {
			t.Fatal(err)
		}
	}
	if f := testenv.Footprint(t, nets); f != (network.Footprint{}) {
		t.Fatalf("after removal: %+v, want nothing left", f)
	}
}

// TestNamesOnUserNetwork: two containers on a user-defined network reach
// each other by name.
func TestNamesOnUserNetwork(t *testing.T) {
	e, nets := newNetEnv(t)
	s := e.open(t)
	defer s.Close()
	ctx := ctxT(t)
	if _, err := s.CreateNetwork("backend", ""); err != nil {
		t.Fatal(err)
	}
	api := e.config("api", httpdScript)
	api.Network = "backend"
	run(t, s, api)
	cfg := e.config("client", "for i in 1 2 3 4 5 6 7 8 9 10; do wget -qO- http://api:80/ && exit 0; sleep 0.2; done; cat /etc/hosts; exit 1")
	cfg.Network = "backend"
	if out := output(t, s, e, cfg); out != "hello from api\n" {
		t.Errorf("client got %q from http://api/, want api's page", out)
	}
	info, err := s.InspectNetwork(ctx, "backend")
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := info.Containers["api"]; !ok || info.Containers["api"] == "" {
		t.Errorf("inspect: containers %v, want api with its address", info.Containers)
	}
	if err := s.RemoveNetwork(ctx, "backend"); !errdefs.IsFailedPrecondition(err) {
		t.Errorf("rm of a network in use: %v, want FailedPrecondition", err)
	}
	for _, id := range []string{"api", "client"} {
		if err := s.Remove(ctx, id, true); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.RemoveNetwork(ctx, "backend"); err != nil {
		t.Fatal(err)
	}
	if f := testenv.Footprint(t, nets); f != (network.Footprint{}) {
		t.Fatalf("after removal: %+v, want nothing left", f)
	}
}

// TestNetworkBadInput: each bad request is refused with a clear error and
// creates nothing.
func TestNetworkBadInput(t *testing.T) {
	e, nets := newNetEnv(t)
	s := e.open(t)
	defer s.Close()
	ctx := ctxT(t)

	busy, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	busyPort := busy.Addr().(*net.TCPAddr).Port
	def, err := s.InspectNetwork(ctx, network.DefaultNetwork)
	if err != nil {
		t.Fatal(err)
	}

	cases := []struct {
		name string
		set  func(*lifecycle.Config)
		want string
	}{
		{"host port in use", func(c *lifecycle.Config) {
			c.Ports = []lifecycle.PortMapping{{HostIP: "127.0.0.1", HostPort: busyPort, ContainerPort: 80, Protocol: "tcp"}}
		}, "in use"},
		{"port out of range", func(c *lifecycle.Config) {
			c.Ports = []lifecycle.PortMapping{{HostPort: 70000, ContainerPort: 80, Protocol: "tcp"}}
		}, "out of range"},
		{"unknown network", func(c *lifecycle.Config) { c.Network = "nosuch" }, "unknown network"},
		{"share a container that does not exist", func(c *lifecycle.Config) { c.Network = "container:ghost" }, "no such container"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := e.config("bad", "true")
			cfg.Network = lifecycle.NetworkBridge
			c.set(&cfg)
			_, err := s.Create(ctx, cfg)
			if !errors.Is(err, vigil.ErrInvalidArgument) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("create: %v, want ErrInvalidArgument saying %q", err, c.want)
			}
			if _, err := s.Inspect(ctx, "bad"); !errors.Is(err, vigil.ErrNotFound) {
				t.Fatalf("after a refused create: %v, want not found", err)
			}
		})
	}
	if _, err := s.CreateNetwork("clash", def.Subnet); !errdefs.IsInvalidArgument(err) || !strings.Contains(err.Error(), "overlaps") {
		t.Errorf("overlapping subnet: %v, want InvalidArgument naming the overlap", err)
	}
	if nets, _ := s.Networks(ctx); len(nets) != 1 {
		t.Errorf("networks after a refused create: %d, want only the default", len(nets))
	}
	if f := testenv.Footprint(t, nets); f != (network.Footprint{}) {
		t.Errorf("footprint %+v, want nothing", f)
	}
}

// TestNoLeakAfterManyCycles: 200 create/start/exit/remove cycles on the
// default bridge with a published port leave no lease, namespace, veth or
// firewall rule behind.
func TestNoLeakAfterManyCycles(t *testing.T) {
	if testing.Short() {
		t.Skip("200 cycles; not with -short")
	}
	e, nets := newNetEnv(t)
	s := e.open(t)
	defer s.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	port := testenv.FreeTCPPort(t)
	for i := range 200 {
		id := fmt.Sprintf("c%d", i)
		cfg := e.config(id, "true")
		cfg.Network = lifecycle.NetworkBridge
		cfg.Ports = []lifecycle.PortMapping{{HostIP: "127.0.0.1", HostPort: port, ContainerPort: 80, Protocol: "tcp"}}
		if _, err := s.Create(ctx, cfg); err != nil {
			t.Fatalf("cycle %d: %v", i, err)
		}
		if _, err := s.Start(ctx, id); err != nil {
			t.Fatalf("cycle %d: %v", i, err)
		}
		if _, err := s.Wait(ctx, id, actors.WaitNotRunning); err != nil {
			t.Fatalf("cycle %d: %v", i, err)
		}
		if err := s.Remove(ctx, id, false); err != nil {
			t.Fatalf("cycle %d: %v", i, err)
		}
	}
	if f := testenv.Footprint(t, nets); f != (network.Footprint{}) {
		t.Fatalf("after 200 cycles: %+v, want nothing left", f)
	}
}

// TestNetworkAcrossContainerdRestartAndReboot: a published port keeps
// answering across a restart of containerd; after a host reboot (every
// task gone), the container that restarts by its policy is set up again
// and answers, and the one that does not restart has its address and port
// mappings released.
func TestNetworkAcrossContainerdRestartAndReboot(t *testing.T) {
	testenv.CNI(t)
	e, p := newPrivateEnv(t)
	nets := testenv.Networks(t, e.cfg.StateDir, e.cfg.Namespace)
	s := e.open(t)
	ctx := ctxT(t)
	ports := map[string]int{"always": testenv.FreeTCPPort(t), "no": testenv.FreeTCPPort(t)}
	for id, port := range ports {
		cfg := e.config(id, httpdScript)
		cfg.Network = lifecycle.NetworkBridge
		cfg.Ports = []lifecycle.PortMapping{{HostIP: "127.0.0.1", HostPort: port, ContainerPort: 80, Protocol: "tcp"}}
		cfg.Restart = lifecycle.RestartPolicy{Name: id}
		run(t, s, cfg)
		testenv.HTTPGet(t, fmt.Sprintf("http://127.0.0.1:%d/", port))
	}

	p.Restart()
	for _, port := range ports {
		testenv.HTTPGet(t, fmt.Sprintf("http://127.0.0.1:%d/", port))
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	p.Reboot()
	s = e.open(t)
	defer s.Close()
	st := eventuallyState(t, s, "always", 30*time.Second, func(st lifecycle.State) bool {
		return st.Status == lifecycle.StatusRunning && st.Starts == 2
	})
	if st.Net == nil || !st.Net.Up {
		t.Fatalf("always after the reboot: net %+v", st.Net)
	}
	if got := testenv.HTTPGet(t, fmt.Sprintf("http://127.0.0.1:%d/", ports["always"])); got != "hello from always\n" {
		t.Fatalf("always after the reboot answered %q", got)
	}
	st = eventuallyState(t, s, "no", 30*time.Second, func(st lifecycle.State) bool { return st.Net == nil })
	if st.Status != lifecycle.StatusExited {
		t.Fatalf("no after the reboot: %+v", st)
	}
	if f := testenv.Footprint(t, nets); f.Leases != 1 || f.Namespaces != 1 || f.Veths != 1 {
		t.Fatalf("after the reboot: %+v, want only the running container's", f)
	}
	for id := range ports {
		if err := s.Remove(ctx, id, true); err != nil {
			t.Fatal(err)
		}
	}
	if f := testenv.Footprint(t, nets); f != (network.Footprint{}) {
		t.Fatalf("after removal: %+v, want nothing left", f)
	}
}
