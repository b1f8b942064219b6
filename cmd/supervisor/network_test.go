package main

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/containerd/errdefs"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/vigilhq/vigil/internal/testenv"
	"github.com/vigilhq/vigil/internal/testimage"
	"github.com/vigilhq/vigil/network"
)

// TestPublishedPortAfterKill9: busybox httpd run with -p answers on its
// host port from the host; after a restart of the container, and after a
// kill -9 of the daemon and a new daemon, it still does; rm -f leaves no
// lease, namespace, veth or rule.
func TestPublishedPortAfterKill9(t *testing.T) {
	rootfs := testenv.Rootfs(t)
	state, ns := t.TempDir(), testenv.Namespace(t)
	nets := testenv.Networks(t, state, ns)
	d1 := startDaemon(t, state, ns)
	port := testenv.FreeTCPPort(t)
	if _, errOut, code := d1.CLI(t, "run", "-d", "--name", "web", "--network", "bridge", "-p", fmt.Sprintf("127.0.0.1:%d:80", port),
		"--rootfs", rootfs, "--", "/bin/sh", "-c", `mkdir -p /tmp/www && echo "hello from $(hostname)" > /tmp/www/index.html && exec httpd -f -p 80 -h /tmp/www`); code != 0 {
		t.Fatalf("run: %s", errOut)
	}
	url := fmt.Sprintf("http://127.0.0.1:%d/", port)
	if got := testenv.HTTPGet(t, url); got != "hello from web\n" {
		t.Fatalf("GET %s: %q", url, got)
	}
	if _, errOut, code := d1.CLI(t, "restart", "web"); code != 0 {
		t.Fatalf("restart: %s", errOut)
	}
	testenv.HTTPGet(t, url)

	d1.Kill9()
	testenv.HTTPGet(t, url) // the container and its network do not depend on the daemon
	d2 := startDaemon(t, state, ns)
	st := inspect(t, d2, "web")
	if st.Status.String() != "running" || st.Net == nil || !st.Net.Up || len(st.Net.IPs) != 1 {
		t.Fatalf("after kill -9 and a new daemon: %s, net %+v", st.Status, st.Net)
	}
	testenv.HTTPGet(t, url)
	testenv.HTTPGet(t, "http://"+st.Net.IPs[0]+":80/") // its own address, on the test's own bridge

	// The port is taken: another container cannot publish it.
	_, errOut, code := d2.CLI(t, "create", "--name", "clash", "--network", "bridge", "-p", fmt.Sprintf("127.0.0.1:%d:80", port),
		"--rootfs", rootfs, "--", "true")
	if code == 0 || !strings.Contains(errOut, "already published by container \"web\"") {
		t.Fatalf("create with web's port: exit %d, %s", code, errOut)
	}
	if _, errOut, code := d2.CLI(t, "rm", "-f", "web"); code != 0 {
		t.Fatalf("rm: %s", errOut)
	}
	if f := testenv.Footprint(t, nets); f != (network.Footprint{}) {
		t.Fatalf("after rm -f: %+v, want nothing left", f)
	}
}

// TestNetworkCommands: network create, ls, inspect and rm, and their
// refusals.
func TestNetworkCommands(t *testing.T) {
	rootfs := testenv.Rootfs(t)
	state, ns := t.TempDir(), testenv.Namespace(t)
	nets := testenv.Networks(t, state, ns)
	d := startDaemon(t, state, ns)

	if out, errOut, code := d.CLI(t, "network", "create", "--subnet", "10.254.77.0/24", "backend"); code != 0 || strings.TrimSpace(out) != "backend" {
		t.Fatalf("network create: exit %d, %q, %s", code, out, errOut)
	}
	if _, errOut, code := d.CLI(t, "network", "create", "--subnet", "10.254.77.128/25", "clash"); code == 0 || !strings.Contains(errOut, "overlaps") {
		t.Fatalf("overlapping subnet: exit %d, %s", code, errOut)
	}
	if _, errOut, code := d.CLI(t, "run", "-d", "--name", "app", "--network", "nosuch", "--rootfs", rootfs, "--", "true"); code == 0 || !strings.Contains(errOut, "unknown network") {
		t.Fatalf("unknown network: exit %d, %s", code, errOut)
	}
	if _, errOut, code := d.CLI(t, "run", "-d", "--name", "app", "-p", "8080:99999", "--rootfs", rootfs, "--", "true"); code != 2 || !strings.Contains(errOut, "out of range") {
		t.Fatalf("port out of range: exit %d, %s", code, errOut)
	}
	if _, errOut, code := d.CLI(t, "run", "-d", "--name", "app", "--network", "backend", "--rootfs", rootfs, "--", "sleep", "60"); code != 0 {
		t.Fatalf("run on backend: %s", errOut)
	}
	out, _, _ := d.CLI(t, "network", "ls")
	if !strings.Contains(out, "backend") || !strings.Contains(out, "10.254.77.0/24") || !strings.Contains(out, "app") || !strings.Contains(out, "bridge") {
		t.Fatalf("network ls:\n%s", out)
	}
	out, _, _ = d.CLI(t, "network", "inspect", "backend")
	if !strings.Contains(out, `"app": "10.254.77.`) {
		t.Fatalf("network inspect: want app with its address:\n%s", out)
	}
	if _, errOut, code := d.CLI(t, "network", "inspect", "nosuch"); code == 0 || !strings.Contains(errOut, `no network "nosuch"`) {
		t.Fatalf("inspect of an unknown network: exit %d, %s", code, errOut)
	}
	if _, errOut, code := d.CLI(t, "network", "rm", "backend"); code == 0 || !strings.Contains(errOut, "in use by app") {
		t.Fatalf("rm of a network in use: exit %d, %s", code, errOut)
	}
	if _, errOut, code := d.CLI(t, "rm", "-f", "app"); code != 0 {
		t.Fatal(errOut)
	}
	if _, errOut, code := d.CLI(t, "network", "rm", "backend"); code != 0 {
		t.Fatalf("network rm: %s", errOut)
	}
	if out, _, _ := d.CLI(t, "network", "ls"); strings.Contains(out, "backend") {
		t.Fatalf("backend still listed:\n%s", out)
	}
	if f := testenv.Footprint(t, nets); f != (network.Footprint{}) {
		t.Fatalf("footprint %+v, want nothing left", f)
	}
}

// TestReadmeNetworking runs the networking lines of README.md as they are
// written, through the CLI: the test's rootfs for testdata/rootfs/busybox,
// a free port for 8080, and an HTTP client of its own for wget on the host.
func TestReadmeNetworking(t *testing.T) {
	rootfs := testenv.Rootfs(t)
	state, ns := t.TempDir(), testenv.Namespace(t)
	nets := testenv.Networks(t, state, ns)
	// The README's daemon: the default network is the bridge.
	d := startDaemonArgs(t, state, ns, "--default-network", "bridge")
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, block, ok := strings.Cut(string(readme), "Containers are on the default bridge")
	if ok {
		_, block, ok = strings.Cut(block, "```sh\n")
		block, _, _ = strings.Cut(block, "```")
	}
	if !ok || block == "" {
		t.Fatal("README.md has no networking example")
	}
	port := strconv.Itoa(testenv.FreeTCPPort(t))
	ran := 0
	for _, line := range strings.Split(block, "\n") {
		line, _, _ = strings.Cut(line, "#")
		line = strings.ReplaceAll(strings.ReplaceAll(line, "testdata/rootfs/busybox", rootfs), "8080", port)
		f := strings.Fields(line)
		switch {
		case len(f) == 0:
			continue
		case f[0] == "wget":
			if got := testenv.HTTPGet(t, f[len(f)-1]); strings.TrimSpace(got) == "" {
				t.Fatalf("%s: an empty page", line)
			}
		case f[0] == "supervisor":
			out, errOut, code := d.CLI(t, f[1:]...)
			if code != 0 {
				t.Fatalf("%s: exit %d: %s%s", line, code, out, errOut)
			}
			if strings.Contains(line, "http://api/") && strings.TrimSpace(out) == "" {
				t.Fatalf("%s: printed nothing, want the page of api", line)
			}
		default:
			t.Fatalf("README line %q: not a command this test runs", line)
		}
		ran++
	}
	if ran < 8 {
		t.Fatalf("ran %d README lines, want them all", ran)
	}
	if f := testenv.Footprint(t, nets); f != (network.Footprint{}) {
		t.Fatalf("after the README's rm: %+v, want nothing left", f)
	}
}

// TestNetworkErrStatus: the network errors' classes give their statuses.
func TestNetworkErrStatus(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want int
	}{
		{fmt.Errorf("network: %w: no network %q", errdefs.ErrNotFound, "x"), http.StatusNotFound},
		{fmt.Errorf("network: %w: in use", errdefs.ErrFailedPrecondition), http.StatusConflict},
		{fmt.Errorf("network: %w: bad subnet", errdefs.ErrInvalidArgument), http.StatusBadRequest},
		{fmt.Errorf("network: %w: taken", errdefs.ErrAlreadyExists), http.StatusConflict},
	} {
		if got := statusOf(tc.err); got != tc.want {
			t.Errorf("status of %v: %d, want %d", tc.err, got, tc.want)
		}
	}
}

// TestRunImagePublishAll: -P publishes the exposed ports of the image a
// container is made from, and the page is served on the port it picked.
func TestRunImagePublishAll(t *testing.T) {
	state, ns := t.TempDir(), testenv.Namespace(t)
	nets := testenv.Networks(t, state, ns)
	d := startDaemonArgs(t, state, ns, "--default-network", "bridge")
	pruneAtEnd(t, d)
	archive := filepath.Join(t.TempDir(), "web.tar")
	img := testimage.Image(t, testimage.Options{
		Config: v1.Config{
			Entrypoint:   []string{"/bin/busybox", "httpd", "-f", "-p", "80", "-h", "/www"},
			ExposedPorts: map[string]struct{}{"80/tcp": {}},
		},
		Files: map[string]string{"www/index.html": "served from the image\n"},
	})
	testimage.OCIArchive(t, archive, "example.com/t/web:1", img, nil)
	if _, stderr, code := d.CLI(t, "image", "load", "-q", "-i", archive); code != 0 {
		t.Fatalf("load: %s", stderr)
	}
	if out, stderr, code := d.CLI(t, "run", "-d", "-P", "--name", "pw", "example.com/t/web:1"); code != 0 {
		t.Fatalf("run -d -P: exit %d, %q, %q", code, out, stderr)
	}
	st := inspect(t, d, "pw")
	if len(st.Config.Ports) != 1 || st.Config.Ports[0].ContainerPort != 80 || st.Config.Ports[0].Protocol != "tcp" || st.Config.Ports[0].HostPort == 0 {
		t.Fatalf("ports of a -P container from an image exposing 80/tcp: %+v", st.Config.Ports)
	}
	url := fmt.Sprintf("http://127.0.0.1:%d/", st.Config.Ports[0].HostPort)
	if body := testenv.HTTPGet(t, url); body != "served from the image\n" {
		t.Fatalf("GET %s: %q", url, body)
	}
	if _, stderr, code := d.CLI(t, "rm", "-f", "pw"); code != 0 {
		t.Fatalf("rm -f: %s", stderr)
	}
	if f := testenv.Footprint(t, nets); f != (network.Footprint{}) {
		t.Fatalf("after rm: %+v, want nothing left", f)
	}
}
