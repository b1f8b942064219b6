package main

import (
	"context"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/testcontainers/testcontainers-go"
	"github.com/testcontainers/testcontainers-go/wait"

	"github.com/vigilhq/vigil/internal/testenv"
	"github.com/vigilhq/vigil/internal/testimage"
)

// TestTestcontainers runs a container with testcontainers-go against the
// daemon's Docker API: an image from a registry, wait strategies on a log
// line and on a published port (testcontainers checks the port inside the
// container with an exec, and from the host), and its cleanup, which
// leaves nothing in vigil. Its reaper (Ryuk, a privileged container that
// needs the docker socket inside it) is disabled.
func TestTestcontainers(t *testing.T) {
	testenv.Rootfs(t)
	state, ns := t.TempDir(), testenv.Namespace(t)
	testenv.Networks(t, state, ns)
	sock := shortSocket(t)
	d := startDockerDaemon(t, state, ns, sock)
	t.Cleanup(func() { d.CLI(t, "image", "prune") })
	reg := testimage.NewRegistry(t, "", "")
	ref := reg.Push(t, "t/web:1", testWebImage(t))

	t.Setenv("DOCKER_HOST", "unix://"+sock)
	t.Setenv("TESTCONTAINERS_RYUK_DISABLED", "true")
	t.Setenv("DOCKER_CONFIG", t.TempDir())
	t.Setenv("HOME", t.TempDir()) // no ~/.testcontainers.properties of the machine's
	if _, err := os.Stat("/.dockerenv"); err == nil {
		// In a container, testcontainers takes the default network's
		// gateway for the host its ports are published on; the test
		// reaches them on loopback only.
		t.Setenv("TESTCONTAINERS_HOST_OVERRIDE", "127.0.0.1")
	}

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c, err := testcontainers.GenericContainer(ctx, testcontainers.GenericContainerRequest{
		ContainerRequest: testcontainers.ContainerRequest{
			Image:        ref,
			ExposedPorts: []string{"8080/tcp"},
			Labels:       map[string]string{"test": "testcontainers"},
			WaitingFor: wait.ForAll(
				wait.ForLog("ready").WithStartupTimeout(time.Minute),
				wait.ForListeningPort("8080/tcp").WithStartupTimeout(time.Minute),
			),
		},
		Started: true,
	})
	if err != nil {
		t.Fatalf("testcontainers: %v", err)
	}
	id := c.GetContainerID()
	port, err := c.MappedPort(ctx, "8080/tcp")
	if err != nil {
		t.Fatalf("mapped port: %v", err)
	}
	host, err := c.Host(ctx)
	if err != nil {
		t.Fatalf("host: %v", err)
	}
	if host != "localhost" && host != "127.0.0.1" {
		t.Fatalf("testcontainers' host is %q: the test only talks to loopback", host)
	}
	resp, err := http.Get("http://127.0.0.1:" + port.Port() + "/")
	if err != nil {
		t.Fatalf("GET the mapped port %s: %v", port, err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != "hello from vigil\n" {
		t.Errorf("GET the mapped port: %q", body)
	}
	logs, err := c.Logs(ctx)
	if err != nil {
		t.Fatalf("logs: %v", err)
	}
	b, _ := io.ReadAll(logs)
	logs.Close()
	if !strings.Contains(string(b), "ready\n") {
		t.Errorf("testcontainers' logs: %q", b)
	}
	code, out, err := c.Exec(ctx, []string{"sh", "-c", "echo from-exec; exit 3"})
	if err != nil || code != 3 {
		t.Errorf("exec: code %d, err %v", code, err)
	} else if b, _ := io.ReadAll(out); !strings.Contains(string(b), "from-exec") {
		t.Errorf("exec output: %q", b)
	}

	// The container is vigil's: its own API shows it, with the label.
	if st := inspect(t, d, id); st.Status.String() != "running" || st.Config.Labels["test"] != "testcontainers" {
		t.Errorf("vigil inspect %s: %s, labels %v", id, st.Status, st.Config.Labels)
	}
	if err := c.Terminate(ctx); err != nil {
		t.Fatalf("terminate: %v", err)
	}
	if _, _, code := d.CLI(t, "inspect", id); code == 0 {
		t.Errorf("vigil still has the container testcontainers terminated")
	}
}
