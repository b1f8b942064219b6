package main

import (
	"strings"
	"testing"

	"github.com/vigilhq/vigil/internal/testenv"
	"github.com/vigilhq/vigil/internal/testimage"
	"github.com/vigilhq/vigil/network"
)

// TestDockerNetworkConnect: docker network connect gives a running
// container an address on a second network, on which it reaches another
// container by name; bad input is refused and changes nothing;
// disconnect removes the address; a connection made while the container
// is stopped (vigil's own CLI) is attached at its start and kept across a
// restart and a kill -9 of the daemon; removal leaves no lease, namespace,
// veth or rule.
func TestDockerNetworkConnect(t *testing.T) {
	testenv.Rootfs(t)
	bin := newestDockerCLI()
	reg := testimage.NewRegistry(t, "", "")
	ref := reg.Push(t, "t/web:1", testWebImage(t))
	state, ns := t.TempDir(), testenv.Namespace(t)
	nets := testenv.Networks(t, state, ns)
	sock := shortSocket(t)
	d1 := startDockerDaemon(t, state, ns, sock)
	dc := newDockerCLI(t, bin, sock)
	t.Cleanup(func() { dc.run(t, "rm", "-f", "app", "peer", "loner"); d1.CLI(t, "image", "prune") })
	dc.must(t, "pull", ref)
	dc.must(t, "network", "create", "--subnet", "10.231.8.0/24", "front")
	dc.must(t, "network", "create", "--subnet", "10.231.9.0/24", "back")
	t.Cleanup(func() { dc.run(t, "network", "rm", "front", "back") })

	dc.must(t, "run", "-d", "--name", "app", "--network", "front", ref, "sleep", "1000")
	dc.must(t, "run", "-d", "--name", "peer", "--network", "back", ref) // httpd on 8080
	dc.must(t, "run", "-d", "--name", "loner", "--network", "none", ref, "sleep", "1000")
	networks := func(name string) string {
		t.Helper()
		return dc.must(t, "inspect", "--format", "{{range $k, $v := .NetworkSettings.Networks}}{{$k}}={{$v.IPAddress}} {{end}}", name)
	}
	before := networks("app")
	if !strings.HasPrefix(before, "front=10.231.8.") || strings.Contains(before, "back") {
		t.Fatalf("app's networks: %q", before)
	}

	// Bad input: a clear refusal, and nothing changed.
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"network", "connect", "nosuch", "app"}, "network nosuch not found"},
		{[]string{"network", "connect", "back", "nosuch"}, "nosuch"},
		{[]string{"network", "connect", "host", "app"}, "network mode"},
		{[]string{"network", "connect", "none", "app"}, "network mode"},
		{[]string{"network", "connect", "front", "app"}, "already connected"},
		{[]string{"network", "connect", "back", "loner"}, "only a container on a bridge or user-defined network"},
		{[]string{"network", "connect", "--alias", "web", "back", "app"}, "aliases are not served"},
		{[]string{"network", "disconnect", "front", "app"}, "main network"},
		{[]string{"network", "disconnect", "back", "app"}, "not connected"},
	} {
		if _, errOut, code := dc.run(t, c.args...); code == 0 || !strings.Contains(errOut, c.want) {
			t.Errorf("docker %s: exit %d, %q; want a refusal saying %q", strings.Join(c.args, " "), code, errOut, c.want)
		}
	}
	if got := networks("app"); got != before {
		t.Fatalf("app's networks after the refusals: %q, want %q", got, before)
	}
	if got := networks("loner"); got != "none= \n" {
		t.Errorf("loner's networks after the refusal: %q", got)
	}

	// Connect the running app to back: it reaches peer there by name.
	dc.must(t, "network", "connect", "back", "app")
	got := networks("app")
	if !strings.Contains(got, "back=10.231.9.") || !strings.Contains(got, "front=10.231.8.") {
		t.Fatalf("app's networks after connect: %q", got)
	}
	if out := dc.must(t, "exec", "app", "wget", "-q", "-O", "-", "http://peer:8080/"); out != "hello from vigil\n" {
		t.Fatalf("app GET peer on back: %q", out)
	}
	if out := dc.must(t, "exec", "app", "cat", "/proc/net/dev"); !strings.Contains(out, "eth0:") || !strings.Contains(out, "eth1:") {
		t.Errorf("app's interfaces after connect: %q, want eth0 and eth1", out)
	}
	if out := dc.must(t, "exec", "peer", "cat", "/etc/hosts"); !strings.Contains(out, "10.231.9.") || !strings.Contains(out, "\tapp\n") {
		t.Errorf("peer's /etc/hosts does not name app: %q", out)
	}
	if out := dc.must(t, "network", "inspect", "--format", "{{range $k, $v := .Containers}}{{$k}} {{end}}", "back"); out != "app peer \n" {
		t.Errorf("docker network inspect back: %q", out)
	}
	if _, errOut, code := dc.run(t, "network", "rm", "back"); code == 0 || !strings.Contains(errOut, "app") {
		t.Errorf("docker network rm of a network app is connected to: exit %d, %q", code, errOut)
	}

	// A restart keeps the connection.
	dc.must(t, "restart", "-t", "1", "app")
	if got := networks("app"); !strings.Contains(got, "back=10.231.9.") {
		t.Fatalf("app's networks after restart: %q", got)
	}
	dc.must(t, "exec", "app", "wget", "-q", "-O", "/dev/null", "http://peer:8080/")

	// Disconnect: the interface and the names are gone.
	dc.must(t, "network", "disconnect", "back", "app")
	if got := networks("app"); strings.Contains(got, "back") || !strings.HasPrefix(got, "front=10.231.8.") {
		t.Fatalf("app's networks after disconnect: %q", got)
	}
	if out := dc.must(t, "exec", "app", "cat", "/proc/net/dev"); !strings.Contains(out, "eth0:") || strings.Contains(out, "eth1:") {
		t.Errorf("app's interfaces after disconnect: %q, want eth0 only", out)
	}
	if out := dc.must(t, "exec", "peer", "cat", "/etc/hosts"); strings.Contains(out, "\tapp\n") {
		t.Errorf("peer's /etc/hosts still names app: %q", out)
	}
	if out := dc.must(t, "exec", "app", "cat", "/etc/hosts"); strings.Contains(out, "peer") || strings.Contains(out, "10.231.9.") {
		t.Errorf("app's /etc/hosts still names back's members: %q", out)
	}

	// Connected while stopped, with vigil's own CLI: attached at the start.
	dc.must(t, "stop", "-t", "1", "app")
	if out, errOut, code := d1.CLI(t, "network", "connect", "back", "app"); code != 0 || out != "app\n" {
		t.Fatalf("supervisor network connect back app: exit %d, %q, %q", code, out, errOut)
	}
	if st := inspect(t, d1, "app"); len(st.Networks) != 1 || st.Networks[0].Network != "back" || st.Networks[0].IfName != "eth1" || st.Net != nil {
		t.Fatalf("vigil inspect of the stopped app: networks %+v, net %+v", st.Networks, st.Net)
	}
	dc.must(t, "start", "app")
	if got := networks("app"); !strings.Contains(got, "back=10.231.9.") {
		t.Fatalf("app's networks after a start: %q", got)
	}
	dc.must(t, "exec", "app", "wget", "-q", "-O", "/dev/null", "http://peer:8080/")

	// kill -9 of the daemon: the container keeps its interfaces; the new
	// daemon sees them; removal releases everything.
	d1.Kill9()
	d2 := startDockerDaemon(t, state, ns, sock)
	st := inspect(t, d2, "app")
	if st.Net == nil || len(st.Net.Extra) != 1 || !st.Net.Extra[0].Up || len(st.Net.Extra[0].IPs) != 1 {
		t.Fatalf("after kill -9 and a new daemon: net %+v", st.Net)
	}
	dc.must(t, "exec", "app", "wget", "-q", "-O", "/dev/null", "http://peer:8080/")
	if _, errOut, code := d2.CLI(t, "network", "disconnect", "back", "app"); code != 0 {
		t.Fatalf("supervisor network disconnect: %s", errOut)
	}
	if st := inspect(t, d2, "app"); len(st.Networks) != 0 || len(st.Net.Extra) != 0 {
		t.Fatalf("after supervisor network disconnect: networks %+v, net %+v", st.Networks, st.Net)
	}
	dc.must(t, "network", "connect", "back", "app")
	dc.must(t, "rm", "-f", "app", "peer", "loner")
	if f := testenv.Footprint(t, nets); f != (network.Footprint{}) {
		t.Fatalf("after rm -f: %+v, want nothing left", f)
	}
	dc.must(t, "network", "rm", "front", "back")
}
