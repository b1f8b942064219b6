package dockerapi

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/mount"
	"github.com/moby/moby/api/types/network"

	"github.com/vigilhq/vigil"
	"github.com/vigilhq/vigil/actors/lifecycle"
)

// The Docker API's own logic, without containerd: the integration tests
// are in cmd/supervisor (docker_test.go, dockerapi_test.go,
// testcontainers_test.go).

func TestVersionLess(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want bool
	}{
		{"1.40", "1.41", true}, {"1.41", "1.40", false}, {"1.9", "1.10", true}, {"1.57", "1.57", false}, {"2.0", "1.99", false},
	} {
		if got := versionLess(tc.a, tc.b); got != tc.want {
			t.Errorf("versionLess(%s, %s) = %v", tc.a, tc.b, got)
		}
	}
}

// TestVersionAndNotServed: a versioned path outside the range served is
// refused before it is routed; any endpoint not served is a 501 naming
// it, whatever its version prefix.
func TestVersionAndNotServed(t *testing.T) {
	s := New(context.Background(), nil, Options{Version: "test"})
	for _, tc := range []struct {
		method, path string
		status       int
		want         string
	}{
		{"GET", "/v1.39/containers/json", 400, "too old"},
		{"GET", "/v1.58/containers/json", 400, "too new"},
		{"POST", "/v1.41/build", 501, "does not serve POST /build"},
		{"POST", "/v1.41/networks/bridge/prune", 501, "does not serve POST /networks/bridge/prune"},
		{"PUT", "/v1.50/containers/x/archive", 501, "does not serve PUT /containers/x/archive"},
		{"GET", "/v1.41/_ping", 200, "OK"},
		{"HEAD", "/_ping", 200, ""},
		{"GET", "/volumes", 200, `"Volumes":[]`},
		{"GET", "/volumes/data", 404, "no such volume"},
	} {
		rec := httptest.NewRecorder()
		s.ServeHTTP(rec, httptest.NewRequest(tc.method, tc.path, nil))
		if rec.Code != tc.status || !strings.Contains(rec.Body.String(), tc.want) {
			t.Errorf("%s %s: %d %q, want %d and %q", tc.method, tc.path, rec.Code, rec.Body.String(), tc.status, tc.want)
		}
		if rec.Header().Get("Api-Version") != APIVersion {
			t.Errorf("%s %s: Api-Version %q", tc.method, tc.path, rec.Header().Get("Api-Version"))
		}
	}
}

// TestBadBodies: a create body that is not JSON, or larger than 1 MiB, is
// a 400 in docker's error shape, before anything is asked of vigil.
func TestBadBodies(t *testing.T) {
	s := New(context.Background(), nil, Options{Version: "test"})
	for _, body := range []string{"{", `{"Image": 5}`, `{"Image":"` + strings.Repeat("a", 2<<20) + `"}`} {
		rec := httptest.NewRecorder()
		s.ServeHTTP(rec, httptest.NewRequest("POST", "/v1.41/containers/create", strings.NewReader(body)))
		if rec.Code != 400 || !strings.HasPrefix(rec.Body.String(), `{"message":`) {
			t.Errorf("create with a body of %d bytes: %d %.200q", len(body), rec.Code, rec.Body.String())
		}
	}
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, httptest.NewRequest("POST", "/containers/create?name=a/b", strings.NewReader(`{"Image":"x"}`)))
	if rec.Code != 400 || !strings.Contains(rec.Body.String(), "Invalid container name") {
		t.Errorf("create with a bad name: %d %q", rec.Code, rec.Body.String())
	}
}

// TestMuxWriter: the frames written are what moby's stdcopy reads back.
func TestMuxWriter(t *testing.T) {
	var buf bytes.Buffer
	m := &muxWriter{w: &buf}
	m.stream(streamStdout).Write([]byte("out 1\n"))
	m.stream(streamStderr).Write([]byte("err\n"))
	m.stream(streamStdout).Write([]byte(strings.Repeat("x", 70000)))
	var out, errb bytes.Buffer
	if _, err := stdcopy.StdCopy(&out, &errb, &buf); err != nil {
		t.Fatal(err)
	}
	if out.String() != "out 1\n"+strings.Repeat("x", 70000) || errb.String() != "err\n" {
		t.Errorf("stdout %d bytes, stderr %q", out.Len(), errb.String())
	}
	buf.Reset()
	raw := &muxWriter{w: &buf, raw: true}
	raw.stream(streamStderr).Write([]byte("tty\n"))
	if buf.String() != "tty\n" {
		t.Errorf("raw stream: %q", buf.String())
	}
}

func TestParseUnixTime(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want time.Time
		bad  bool
	}{
		{"", time.Time{}, false},
		{"0", time.Time{}, false},
		{"1700000000", time.Unix(1700000000, 0), false},
		{"1700000000.5", time.Unix(1700000000, 5e8), false},
		{"1700000000.000000001", time.Unix(1700000000, 1), false},
		{"2024-05-01T12:00:00Z", time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC), false},
		{"yesterday", time.Time{}, true},
	} {
		got, err := parseUnixTime(tc.in)
		if (err != nil) != tc.bad || !got.Equal(tc.want) {
			t.Errorf("parseUnixTime(%q) = %v, %v", tc.in, got, err)
		}
	}
}

func TestParseFilters(t *testing.T) {
	r := httptest.NewRequest("GET", `/containers/json?filters={"label":["a=b"],"status":{"exited":true}}`, nil)
	f, err := parseFilters(r, listFilters)
	if err != nil || len(f["label"]) != 1 || f["label"][0] != "a=b" || len(f["status"]) != 1 || f["status"][0] != "exited" {
		t.Errorf("filters: %v, %v", f, err)
	}
	r = httptest.NewRequest("GET", `/containers/json?filters={"volume":["x"]}`, nil)
	if _, err := parseFilters(r, listFilters); err == nil || !strings.Contains(err.Error(), "invalid filter 'volume'") {
		t.Errorf("an unknown filter: %v", err)
	}
	if !matchLabels(map[string]string{"a": "b", "c": ""}, []string{"a=b", "c"}) || matchLabels(map[string]string{"a": "x"}, []string{"a=b"}) {
		t.Error("matchLabels")
	}
}

// TestConfigOf: the create body's fields that are honoured land in
// vigil's configuration; those that cannot be are refused, not dropped.
func TestConfigOf(t *testing.T) {
	s := &Server{opts: Options{DefaultNetwork: "bridge"}}
	stop := 7
	pids := int64(50)
	init := true
	req := container.CreateRequest{
		Config: &container.Config{Image: "busybox", Cmd: []string{"sh"}, Entrypoint: []string{}, Env: []string{"A=1"},
			WorkingDir: "/tmp", User: "nobody", Labels: map[string]string{"k": "v"}, Hostname: "h", Tty: true, OpenStdin: true,
			StopSignal: "SIGINT", StopTimeout: &stop,
			Healthcheck:  &container.HealthConfig{Test: []string{"CMD", "true"}, Interval: time.Second, Retries: 2},
			ExposedPorts: network.PortSet{network.MustParsePort("80/tcp"): {}}},
		HostConfig: &container.HostConfig{
			Binds:         []string{"/src:/dst:ro"},
			PortBindings:  network.PortMap{network.MustParsePort("80/tcp"): {{HostIP: netip.MustParseAddr("127.0.0.1"), HostPort: "8080"}}},
			RestartPolicy: container.RestartPolicy{Name: "on-failure", MaximumRetryCount: 3},
			AutoRemove:    true, ReadonlyRootfs: true, Privileged: false, CapAdd: []string{"NET_ADMIN"},
			Tmpfs:     map[string]string{"/run": "size=1m"},
			DNS:       []netip.Addr{netip.MustParseAddr("9.9.9.9")},
			Init:      &init,
			Resources: container.Resources{Memory: 1 << 20, NanoCPUs: 5e8, CPUShares: 512, PidsLimit: &pids},
		},
	}
	cfg, o, err := s.configOf("web", req)
	if err != nil {
		t.Fatal(err)
	}
	want := vigil.ContainerConfig{ID: "web", Args: []string{"sh"}, Env: []string{"A=1"}, Cwd: "/tmp", User: "nobody",
		Labels: map[string]string{"k": "v"}, Hostname: "h", Tty: true, Interactive: true}
	if cfg.ID != want.ID || cfg.Cwd != want.Cwd || cfg.User != want.User || !cfg.Tty || !cfg.Interactive || cfg.Hostname != "h" ||
		cfg.Labels["k"] != "v" || cfg.Env[0] != "A=1" || cfg.Args[0] != "sh" {
		t.Errorf("config: %+v", cfg)
	}
	if o.Image != "busybox" || o.Pull != vigil.PullNever || o.Entrypoint == nil || len(*o.Entrypoint) != 1 || (*o.Entrypoint)[0] != "" {
		t.Errorf("image options: %+v", o)
	}
	if cfg.Host.StopSignal != 2 || cfg.Host.StopTimeout == nil || *cfg.Host.StopTimeout != 7*time.Second || !cfg.Host.AutoRemove || !cfg.Host.Init {
		t.Errorf("host: %+v", cfg.Host)
	}
	if h := cfg.Healthcheck; h == nil || h.Test[1] != "true" || h.Interval != time.Second || h.Retries != 2 {
		t.Errorf("health check: %+v", h)
	}
	if len(cfg.Mounts) != 1 || cfg.Mounts[0] != (lifecycle.Mount{Source: "/src", Target: "/dst", ReadOnly: true}) {
		t.Errorf("mounts: %+v", cfg.Mounts)
	}
	if len(cfg.Ports) != 1 || cfg.Ports[0] != (lifecycle.PortMapping{HostIP: "127.0.0.1", HostPort: 8080, ContainerPort: 80, Protocol: "tcp"}) {
		t.Errorf("ports: %+v", cfg.Ports)
	}
	if cfg.Restart.Name != "on-failure" || cfg.Restart.MaxRetries != 3 || !cfg.ReadOnly || cfg.Memory != 1<<20 || cfg.CPUs == nil || *cfg.CPUs != 0.5 ||
		cfg.CPUShares != 512 || cfg.PidsLimit != 50 || cfg.Network != "bridge" || cfg.DNS[0] != "9.9.9.9" ||
		len(cfg.Host.Tmpfs) != 1 || cfg.Host.Tmpfs[0].Path != "/run" || cfg.ExposedPorts[0] != "80/tcp" || cfg.Host.CapAdd[0] != "NET_ADMIN" {
		t.Errorf("config: %+v", cfg)
	}

	// An empty host port: a free one, picked as -P picks them.
	free := req
	fh := *req.HostConfig
	fh.PortBindings = network.PortMap{network.MustParsePort("9000/udp"): {{}}}
	free.HostConfig = &fh
	if cfg, _, err := s.configOf("web", free); err != nil || !cfg.PublishAll || len(cfg.Ports) != 0 || !slices.Contains(cfg.ExposedPorts, "9000/udp") {
		t.Errorf("a binding without a host port: %+v, %v", cfg, err)
	}

	for name, mutate := range map[string]func(*container.CreateRequest){
		"no image":     func(r *container.CreateRequest) { r.Config.Image = "" },
		"named volume": func(r *container.CreateRequest) { r.HostConfig.Binds = []string{"data:/data"} },
		"volume mount": func(r *container.CreateRequest) {
			r.HostConfig.Mounts = append(r.HostConfig.Mounts, mountOfType("volume"))
		},
		"port range": func(r *container.CreateRequest) {
			r.HostConfig.PortBindings[network.MustParsePort("80/tcp")][0].HostPort = "8000-8010"
		},
		"volumes from":  func(r *container.CreateRequest) { r.HostConfig.VolumesFrom = []string{"other"} },
		"links":         func(r *container.CreateRequest) { r.HostConfig.Links = []string{"db:db"} },
		"pid mode":      func(r *container.CreateRequest) { r.HostConfig.PidMode = "host" },
		"anon volumes":  func(r *container.CreateRequest) { r.Config.Volumes = map[string]struct{}{"/data": {}} },
		"bad stop sig":  func(r *container.CreateRequest) { r.Config.StopSignal = "SIGNOPE" },
		"other runtime": func(r *container.CreateRequest) { r.HostConfig.Runtime = "kata" },
	} {
		r := req
		c, h := *req.Config, *req.HostConfig
		h.PortBindings = network.PortMap{network.MustParsePort("80/tcp"): {{HostPort: "8080"}}}
		r.Config, r.HostConfig = &c, &h
		mutate(&r)
		if _, _, err := s.configOf("web", r); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestStatusText(t *testing.T) {
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		st   vigil.State
		want string
	}{
		{vigil.State{Status: lifecycle.StatusCreated}, "Created"},
		{vigil.State{Status: lifecycle.StatusRunning, StartedAt: now.Add(-3 * time.Minute)}, "Up 3 minutes"},
		{vigil.State{Status: lifecycle.StatusRunning, Paused: true, StartedAt: now.Add(-2 * time.Second)}, "Up 2 seconds (Paused)"},
		{vigil.State{Status: lifecycle.StatusExited, Exit: &lifecycle.Exit{Code: 137, At: now.Add(-5 * time.Second)}}, "Exited (137) 5 seconds ago"},
	} {
		if got := statusText(tc.st, now); got != tc.want {
			t.Errorf("statusText(%s) = %q, want %q", tc.st.Status, got, tc.want)
		}
	}
}

func mountOfType(typ string) mount.Mount {
	return mount.Mount{Type: mount.Type(typ), Source: "data", Target: "/data"}
}

var _ http.Handler = (*Server)(nil)
