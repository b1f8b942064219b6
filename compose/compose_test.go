package compose

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func write(t *testing.T, dir, name, text string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

const threeServices = `
name: shop
services:
  store:
    image: busybox:store
    command: ["sh", "-c", "touch /ready; exec sleep 1000"]
    environment:
      LEVEL: ${LEVEL:-info}
    env_file: store.env
    volumes: ["data:/data", "./conf:/conf:ro"]
    healthcheck:
      test: ["CMD", "test", "-e", "/ready"]
      interval: 1s
      retries: 3
    deploy:
      resources:
        limits: {memory: 64M, cpus: "0.5", pids: 100}
    stop_signal: SIGINT
    stop_grace_period: 3s
    ulimits:
      nofile: {soft: 1024, hard: 2048}
    tmpfs: ["/run:size=1m"]
    init: true
    cap_drop: [NET_RAW]
    labels: {tier: data}
    restart: always
  app:
    image: busybox:app
    depends_on:
      store: {condition: service_healthy}
    networks: [back]
  web:
    image: busybox:web
    ports: ["127.0.0.1:18080:80"]
    depends_on: [app]
    user: "1000"
    working_dir: /srv
    read_only: true
  debug:
    image: busybox
    profiles: [debug]
    pid: host
networks:
  back: {}
volumes:
  data: {}
`

func TestLoadMapsTheSubset(t *testing.T) {
	dir := t.TempDir()
	f := write(t, dir, "compose.yaml", threeServices)
	write(t, dir, "store.env", "FROM_FILE=1\n")
	p, err := Load(context.Background(), LoadOptions{Files: []string{f}, Env: []string{"LEVEL=debug"}})
	if err != nil {
		t.Fatal(err)
	}
	if p.Name != "shop" || len(p.Services) != 3 {
		t.Fatalf("project %q with %d services, want shop with 3 (debug's profile is off)", p.Name, len(p.Services))
	}
	store, _ := p.Service("store")
	c := store.Config
	if c.ID != "shop-store-1" || c.Image != "busybox:store" || strings.Join(c.Env, " ") != "FROM_FILE=1 LEVEL=debug" {
		t.Errorf("store: id %q image %q env %q", c.ID, c.Image, c.Env)
	}
	if c.Memory != 64<<20 || c.CPUs == nil || *c.CPUs != 0.5 || c.PidsLimit != 100 {
		t.Errorf("store limits: %d %v %d", c.Memory, c.CPUs, c.PidsLimit)
	}
	if c.Healthcheck == nil || c.Healthcheck.Interval != time.Second || c.Healthcheck.Retries != 3 {
		t.Errorf("store healthcheck: %+v", c.Healthcheck)
	}
	if c.Host.StopSignal != 2 || c.Host.StopTimeout == nil || *c.Host.StopTimeout != 3*time.Second || !c.Host.Init {
		t.Errorf("store stop: %+v", c.Host)
	}
	if len(c.Host.Ulimits) != 1 || c.Host.Ulimits[0].Soft != 1024 || c.Host.Ulimits[0].Hard != 2048 {
		t.Errorf("ulimits %+v", c.Host.Ulimits)
	}
	if len(store.VolumeMounts) != 1 || store.VolumeMounts[0].Volume != "shop_data" {
		t.Errorf("volume mounts %+v", store.VolumeMounts)
	}
	if len(c.Mounts) != 1 || c.Mounts[0].Source != filepath.Join(dir, "conf") || !c.Mounts[0].ReadOnly {
		t.Errorf("mounts %+v", c.Mounts)
	}
	if c.Restart.Name != "always" || c.Labels["tier"] != "data" || c.Network != "shop_default" {
		t.Errorf("restart %q labels %v network %q", c.Restart.Name, c.Labels, c.Network)
	}
	app, _ := p.Service("app")
	if app.Config.Network != "shop_back" || len(app.DependsOn) != 1 || app.DependsOn[0].Condition != ConditionHealthy {
		t.Errorf("app: network %q deps %+v", app.Config.Network, app.DependsOn)
	}
	web, _ := p.Service("web")
	if len(web.Config.Ports) != 1 || web.Config.Ports[0].String() != "127.0.0.1:18080:80/tcp" || !web.Config.ReadOnly {
		t.Errorf("web: %+v", web.Config)
	}
	order, err := p.Order()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, s := range order {
		names = append(names, s.Name)
	}
	if got := strings.Join(names, ","); got != "store,app,web" {
		t.Errorf("order %s, want store,app,web", got)
	}

	// The debug profile brings in a service with a key vigil refuses.
	_, err = Load(context.Background(), LoadOptions{Files: []string{f}, Profiles: []string{"debug"}})
	if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "services.debug.pid") {
		t.Errorf("debug profile: %v, want services.debug.pid refused", err)
	}
}

func TestLoadRefuses(t *testing.T) {
	for _, tc := range []struct{ name, file, want string }{
		{"unsupported service key", "services:\n  web:\n    image: busybox\n    privileged: true\n", "services.web.privileged"},
		{"unsupported nested key", "services:\n  web:\n    image: busybox\n    deploy:\n      replicas: 2\n", "services.web.deploy.replicas"},
		{"unsupported top key", "services:\n  web:\n    image: busybox\nsecrets:\n  s:\n    file: ./x\n", "secrets"},
		{"cycle", "services:\n  a:\n    image: busybox\n    depends_on: [b]\n  b:\n    image: busybox\n    depends_on: [a]\n", "cycle"},
		{"two networks", "services:\n  a:\n    image: busybox\n    networks: [x, y]\nnetworks:\n  x: {}\n  y: {}\n", `service "a"`},
		{"build", "services:\n  a:\n    build: .\n", "services.a.build"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			f := write(t, dir, "compose.yaml", "name: bad\n"+tc.file)
			_, err := Load(context.Background(), LoadOptions{Files: []string{f}})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Load: %v, want an error naming %q", err, tc.want)
			}
		})
	}
}

func TestPlan(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "store.env", "")
	f := write(t, dir, "compose.yaml", threeServices)
	p, err := Load(context.Background(), LoadOptions{Files: []string{f}, Env: []string{}})
	if err != nil {
		t.Fatal(err)
	}
	store, _ := p.Service("store")
	app, _ := p.Service("app")
	cur := []Current{
		{Service: "store", ID: store.Config.ID, Hash: store.Hash()},
		{Service: "app", ID: app.Config.ID, Hash: "old"},
		{Service: "gone", ID: "shop-gone-1", Hash: "x"},
	}
	steps, err := Plan(p, cur)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, s := range steps {
		got = append(got, s.Service+":"+s.Action)
	}
	if want := "gone:remove,store:unchanged,app:replace,web:create"; strings.Join(got, ",") != want {
		t.Errorf("plan %s, want %s", strings.Join(got, ","), want)
	}
	// A cycle made through the API (not the loader) is refused too.
	bad := p
	bad.Services = append([]Service(nil), p.Services...)
	for i := range bad.Services {
		if bad.Services[i].Name == "store" {
			bad.Services[i].DependsOn = []Dependency{{Service: "web", Condition: ConditionStarted}}
		}
	}
	if err := bad.Validate(); !errors.Is(err, ErrCycle) || !strings.Contains(err.Error(), "store") {
		t.Errorf("Validate of a cycle: %v", err)
	}
}
