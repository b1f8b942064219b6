package main

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/vigilhq/vigil/api"
	"github.com/vigilhq/vigil/internal/testenv"
	"github.com/vigilhq/vigil/internal/testimage"
)

// shopFile is a project of three services: a store that becomes healthy,
// an app that waits for it to be, and a web server publishing a port on
// loopback. REG and PORT are replaced by the test.
const shopFile = `
name: shop
services:
  store:
    image: REG/t/store:1
    command: ["sh", "-c", "sleep ${STORE_DELAY:-0}; touch /tmp/ready; exec sleep 1000"]
    healthcheck:
      test: ["CMD", "test", "-e", "/tmp/ready"]
      interval: 500ms
      retries: 3
    volumes: ["data:/data"]
    stop_grace_period: 1s
  app:
    image: REG/t/app:${APP_VERSION:-1}
    command: ["sh", "-c", "echo $$GREETING > /data/greeting; exec sleep 1000"]
    environment:
      GREETING: ${GREETING:-hello}
    volumes: ["data:/data"]
    depends_on:
      store: {condition: service_healthy}
    stop_grace_period: 1s
  web:
    image: REG/t/web:1
    command: ["sh", "-c", "mkdir -p /tmp/www && cat /etc/version > /tmp/www/index.html && exec httpd -f -p 80 -h /tmp/www"]
    ports: ["127.0.0.1:PORT:80"]
    depends_on: [app]
    labels:
      tier: front
volumes:
  data: {}
`

type shop struct {
	d          *daemon
	dir, file  string
	reg        *testimage.Registry
	port       int
	containers []string
}

func newShop(t *testing.T, d *daemon) *shop {
	t.Helper()
	reg := testimage.NewRegistry(t, "", "")
	for _, ref := range []string{"t/store:1", "t/app:1", "t/app:2", "t/web:1"} {
		reg.Push(t, ref, testimage.Image(t, testimage.Options{Config: v1.Config{Cmd: []string{"sh"}},
			Files: map[string]string{"etc/version": ref + "\n"}}))
	}
	s := &shop{d: d, dir: t.TempDir(), reg: reg, port: testenv.FreeTCPPort(t),
		containers: []string{"shop-app-1", "shop-store-1", "shop-web-1"}}
	s.file = filepath.Join(s.dir, "compose.yaml")
	s.write(t, shopFile, "")
	t.Cleanup(func() {
		for _, id := range s.containers {
			d.CLI(t, "rm", "-f", id)
		}
		d.CLI(t, "image", "prune")
	})
	return s
}

// write writes the Compose file (REG and PORT replaced) and its .env.
func (s *shop) write(t *testing.T, text, env string) {
	t.Helper()
	text = strings.ReplaceAll(strings.ReplaceAll(text, "REG", strings.TrimSuffix(s.reg.Ref(""), "/")), "PORT", strconv.Itoa(s.port))
	if err := os.WriteFile(s.file, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(s.dir, ".env"), []byte(env), 0o644); err != nil {
		t.Fatal(err)
	}
}

func (s *shop) apply(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	return s.d.CLI(t, append([]string{"apply", "-f", s.file}, args...)...)
}

// state is the project's containers as ps lists them (by label).
func (s *shop) state(t *testing.T) map[string]api.Container {
	t.Helper()
	out, errOut, code := s.d.CLI(t, "ps", "-a", "--json", "--filter", "label=com.docker.compose.project=shop")
	if code != 0 {
		t.Fatalf("ps: %s", errOut)
	}
	var sts []api.Container
	if err := json.Unmarshal([]byte(out), &sts); err != nil {
		t.Fatal(err)
	}
	m := map[string]api.Container{}
	for _, st := range sts {
		m[st.Config.Labels["com.docker.compose.service"]] = st
	}
	return m
}

func (s *shop) history(t *testing.T) []api.ProjectVersion {
	t.Helper()
	out, errOut, code := s.d.CLI(t, "apply", "--history", "--json", "-p", "shop")
	if code != 0 {
		t.Fatalf("apply --history: %s", errOut)
	}
	var vs []api.ProjectVersion
	if err := json.Unmarshal([]byte(out), &vs); err != nil {
		t.Fatal(err)
	}
	return vs
}

// exec runs a command in a service's container and returns its output.
func (s *shop) exec(t *testing.T, service string, args ...string) string {
	t.Helper()
	out, errOut, code := s.d.CLI(t, append([]string{"exec", "shop-" + service + "-1"}, args...)...)
	if code != 0 {
		t.Fatalf("exec in %s: exit %d: %s", service, code, errOut)
	}
	return out
}

// checkVersion checks that the project runs what version v of shopFile
// says: every service running, the app's image and greeting, the web
// page on the published port.
func (s *shop) checkVersion(t *testing.T, app, greeting string) map[string]api.Container {
	t.Helper()
	st := s.state(t)
	if len(st) != 3 {
		t.Fatalf("the project has %d containers, want 3: %v", len(st), st)
	}
	for name, c := range st {
		if c.Status != api.StatusRunning {
			t.Fatalf("service %s: %s, want running", name, c.Status)
		}
	}
	if h := st["store"].Health; h == nil || h.Status != api.HealthHealthy {
		t.Fatalf("store's health: %+v, want healthy (app waits for it)", h)
	}
	if got := s.exec(t, "app", "cat", "/etc/version"); got != "t/app:"+app+"\n" {
		t.Fatalf("app's image: %q, want t/app:%s", got, app)
	}
	if got := s.exec(t, "store", "cat", "/data/greeting"); got != greeting+"\n" {
		t.Fatalf("greeting in the shared volume: %q, want %q", got, greeting)
	}
	if got := testenv.HTTPGet(t, fmt.Sprintf("http://127.0.0.1:%d/", s.port)); got != "t/web:1\n" {
		t.Fatalf("web: %q", got)
	}
	return st
}

// TestApplyChangeRollback: a project of three services is applied (the
// app only once the store is healthy), applied again (nothing changes),
// changed (the app's image and an env var: only the app is replaced),
// rolled back to its first version; ps filters and formats by its labels.
func TestApplyChangeRollback(t *testing.T) {
	state, ns := t.TempDir(), testenv.Namespace(t)
	testenv.Networks(t, state, ns)
	d := startDaemon(t, state, ns)
	s := newShop(t, d)

	out, errOut, code := s.apply(t, "--dry-run")
	if code != 0 || strings.Count(out, "create") != 3 || !strings.Contains(out, "shop-store-1") {
		t.Fatalf("apply --dry-run: exit %d: %s%s", code, out, errOut)
	}
	if st := s.state(t); len(st) != 0 {
		t.Fatalf("a dry run made containers: %v", st)
	}
	out, errOut, code = s.apply(t)
	if code != 0 || !strings.Contains(out, "converged to version 1") {
		t.Fatalf("apply: exit %d: %s%s", code, out, errOut)
	}
	v1 := s.checkVersion(t, "1", "hello")
	for _, probe := range v1["store"].Health.Log {
		if probe.ExitCode == 0 {
			if v1["app"].StartedAt.Before(probe.End) {
				t.Errorf("app started at %v, before the store's first good probe ended at %v", v1["app"].StartedAt, probe.End)
			}
			break
		}
	}
	if l := v1["web"].Config.Labels; l["com.docker.compose.project"] != "shop" || l["com.docker.compose.service"] != "web" || l["tier"] != "front" {
		t.Errorf("web's labels: %v", l)
	}

	// The same file again: nothing changes, no new version.
	out, errOut, code = s.apply(t)
	if code != 0 || strings.Count(out, "unchanged") != 3 || !strings.Contains(out, "version 1") {
		t.Fatalf("second apply: exit %d: %s%s", code, out, errOut)
	}
	for name, c := range s.state(t) {
		if c.Pid != v1[name].Pid || !c.CreatedAt.Equal(v1[name].CreatedAt) {
			t.Errorf("second apply touched %s", name)
		}
	}

	// ps by label, status and name, and with a template.
	out, _, _ = d.CLI(t, "ps", "--filter", "label=tier=front", "--format", "{{.Names}} {{.Label \"com.docker.compose.service\"}}")
	if out != "shop-web-1 web\n" {
		t.Errorf("ps --filter label=tier=front --format: %q", out)
	}
	out, _, _ = d.CLI(t, "ps", "--filter", "status=running", "--filter", "name=store", "--format", "table {{.ID}}\t{{.State}}")
	if lines := strings.Split(strings.TrimSpace(out), "\n"); len(lines) != 2 || !strings.HasPrefix(lines[0], "CONTAINER ID") ||
		strings.Join(strings.Fields(lines[1]), " ") != "shop-store-1 running" {
		t.Errorf("ps --filter status=running --filter name=store --format table: %q", out)
	}
	if out, _, _ = d.CLI(t, "ps", "--filter", "status=exited", "--format", "{{.ID}}"); out != "" {
		t.Errorf("ps --filter status=exited: %q, want none", out)
	}
	if _, errOut, code = d.CLI(t, "ps", "--filter", "colour=red"); code == 0 || !strings.Contains(errOut, "colour") {
		t.Errorf("ps with an unknown filter: exit %d, %s", code, errOut)
	}

	// Version 2: the app's image and the greeting change.
	s.write(t, shopFile, "APP_VERSION=2\nGREETING=bye\n")
	out, errOut, code = s.apply(t)
	if code != 0 || !strings.Contains(out, "converged to version 2") {
		t.Fatalf("apply of version 2: exit %d: %s%s", code, out, errOut)
	}
	if !regexpLine(out, "app", "replace") || !regexpLine(out, "store", "unchanged") || !regexpLine(out, "web", "unchanged") {
		t.Errorf("plan of version 2:\n%s", out)
	}
	v2 := s.checkVersion(t, "2", "bye")
	if v2["store"].Pid != v1["store"].Pid || v2["web"].Pid != v1["web"].Pid || v2["app"].Pid == v1["app"].Pid {
		t.Errorf("version 2 replaced more or less than the app")
	}

	// Rollback to version 1: a third version, the first's document.
	out, errOut, code = d.CLI(t, "rollback", "--to", "1", "-p", "shop")
	if code != 0 || !strings.Contains(out, "converged to version 3") || !regexpLine(out, "app", "replace") {
		t.Fatalf("rollback --to 1: exit %d: %s%s", code, out, errOut)
	}
	s.checkVersion(t, "1", "hello")
	vs := s.history(t)
	if len(vs) != 3 || vs[2].RollbackOf != 1 || vs[0].Status != "applied" || vs[2].Status != "applied" {
		t.Fatalf("history: %+v", vs)
	}
	out, _, _ = d.CLI(t, "apply", "--history", "-f", s.file)
	if !strings.Contains(out, "rollback to 1") || strings.Count(out, "applied") != 3 {
		t.Errorf("apply --history:\n%s", out)
	}

	// A service removed from the file is removed.
	s.write(t, shopFile[:strings.Index(shopFile, "  web:")]+"volumes:\n  data: {}\n", "")
	out, errOut, code = s.apply(t)
	if code != 0 || !regexpLine(out, "web", "remove") {
		t.Fatalf("apply without web: exit %d: %s%s", code, out, errOut)
	}
	if st := s.state(t); len(st) != 2 || st["web"].ID != "" {
		t.Errorf("after removing web: %v", st)
	}
}

// regexpLine says whether a plan line names the service and the action.
func regexpLine(out, service, action string) bool {
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) == 3 && f[0] == service && f[2] == action {
			return true
		}
	}
	return false
}

// TestApplyBadInput: an unsupported key, a cycle in depends_on, an
// unknown image and a port already taken are refused with an error that
// names the service, and nothing changes: the containers and the history
// are those of the last good version.
func TestApplyBadInput(t *testing.T) {
	state, ns := t.TempDir(), testenv.Namespace(t)
	testenv.Networks(t, state, ns)
	d := startDaemon(t, state, ns)
	s := newShop(t, d)
	if _, errOut, code := s.apply(t); code != 0 {
		t.Fatalf("apply: %s", errOut)
	}
	before := s.state(t)

	taken, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	takenPort := strconv.Itoa(taken.Addr().(*net.TCPAddr).Port)

	for _, tc := range []struct {
		name, file string
		want       []string
	}{
		{"unsupported key", strings.Replace(shopFile, "    labels:\n", "    privileged: true\n    labels:\n", 1),
			[]string{"services.web.privileged", "not supported"}},
		{"cycle", strings.Replace(shopFile, "    healthcheck:\n", "    depends_on: [web]\n    healthcheck:\n", 1),
			[]string{"cycle", "store", "web", "app"}},
		{"unknown image", strings.Replace(shopFile, "REG/t/web:1", "REG/t/nosuch:1", 1),
			[]string{`service "web"`, "nosuch"}},
		{"port taken", strings.Replace(shopFile, "127.0.0.1:PORT:80", "127.0.0.1:"+takenPort+":80", 1),
			[]string{`service "web"`, takenPort}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s.write(t, tc.file, "APP_VERSION=2\n") // and a change that would replace the app
			out, errOut, code := s.apply(t)
			if code == 0 {
				t.Fatalf("apply succeeded: %s", out)
			}
			t.Logf("refused: %s", errOut)
			for _, w := range tc.want {
				if !strings.Contains(errOut, w) {
					t.Errorf("error %q does not name %q", errOut, w)
				}
			}
			if strings.Contains(errOut, "panic") {
				t.Errorf("a panic: %s", errOut)
			}
			after := s.state(t)
			for name, c := range before {
				if a := after[name]; a.Pid != c.Pid || a.Status != c.Status || a.Config.Image != c.Config.Image {
					t.Errorf("service %s changed: %s %d %s", name, a.Status, a.Pid, a.Config.Image)
				}
			}
			if len(after) != len(before) {
				t.Errorf("%d containers, want %d", len(after), len(before))
			}
			if vs := s.history(t); len(vs) != 1 {
				t.Errorf("%d versions, want 1", len(vs))
			}
		})
	}
}

// TestApplyKill9: the daemon is killed with SIGKILL while an apply waits
// for the store to become healthy; a new daemon carries the apply on: the
// project ends as its last journaled version says.
func TestApplyKill9(t *testing.T) {
	state, ns := t.TempDir(), testenv.Namespace(t)
	testenv.Networks(t, state, ns)
	d1 := startDaemon(t, state, ns)
	s := newShop(t, d1)
	if _, errOut, code := s.apply(t); code != 0 {
		t.Fatalf("apply: %s", errOut)
	}
	// Version 2 replaces the store with one that takes 3 s to become
	// healthy, and the app after it.
	s.write(t, shopFile, "STORE_DELAY=3\nAPP_VERSION=2\nGREETING=bye\n")
	cmd := exec.Command(d1.binary, d1.globalArgs("apply", "-f", s.file)...)
	cmd.Env = testEnv()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		if vs := s.history(t); len(vs) == 2 && vs[1].Status == "applying" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("version 2 was never journaled")
		}
		time.Sleep(50 * time.Millisecond)
	}
	d1.Kill9()
	if err := cmd.Wait(); err == nil {
		t.Errorf("the apply's client succeeded although its daemon was killed")
	}

	d2 := startDaemon(t, state, ns)
	s.d = d2
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		vs := s.history(t)
		if vs[len(vs)-1].Status == "applied" {
			break
		}
		if vs[len(vs)-1].Status == "failed" || time.Now().After(deadline) {
			t.Fatalf("the interrupted apply did not converge: %+v\n%s", vs[len(vs)-1], d2.Log())
		}
	}
	s.checkVersion(t, "2", "bye")
	// And converged means converged: the same file changes nothing.
	out, errOut, code := s.apply(t)
	if code != 0 || strings.Count(out, "unchanged") != 3 {
		t.Fatalf("apply after the recovery: exit %d: %s%s", code, out, errOut)
	}
}

// TestReadmeCompose runs the Compose example of README.md as it is
// written: its file, then its commands through the CLI (the demo's image
// built by testdata/mkimage.sh, a free port for 8081, an HTTP client of the
// test's own for wget).
func TestReadmeCompose(t *testing.T) {
	state, ns := t.TempDir(), testenv.Namespace(t)
	testenv.Networks(t, state, ns)
	d := startDaemon(t, state, ns)
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(readme), "## Desired state from Compose files")
	var file, block string
	if ok {
		_, file, ok = strings.Cut(section, "```yaml\n")
		file, section, _ = strings.Cut(file, "```")
		_, block, _ = strings.Cut(section, "```sh\n")
		block, _, _ = strings.Cut(block, "```")
	}
	if !ok || file == "" || block == "" {
		t.Fatal("README.md has no Compose example")
	}
	dir := t.TempDir()
	archive := filepath.Join(dir, "demo.tar")
	// The demo's image, as make demo builds it.
	if out, err := exec.Command("bash", "../../testdata/mkimage.sh", archive, "vigil.local/demo/busybox:1", testenv.Rootfs(t)).CombinedOutput(); err != nil {
		t.Fatalf("mkimage.sh: %v\n%s", err, out)
	}
	if _, errOut, code := d.CLI(t, "image", "load", "-i", archive); code != 0 {
		t.Fatalf("image load: %s", errOut)
	}
	port := strconv.Itoa(testenv.FreeTCPPort(t))
	if err := os.WriteFile(filepath.Join(dir, "shop.yaml"), []byte(strings.ReplaceAll(file, "8081", port)), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for _, id := range []string{"shop-store-1", "shop-app-1", "shop-web-1"} {
			d.CLI(t, "rm", "-f", id)
		}
		d.CLI(t, "image", "prune")
	})
	ran := 0
	var outputs []string
	for _, line := range strings.Split(block, "\n") {
		line, _, _ = strings.Cut(line, "  #")
		line = strings.ReplaceAll(line, "8081", port)
		f, err := shellFields(line)
		if err != nil {
			t.Fatalf("%s: %v", line, err)
		}
		var env []string
		for len(f) > 0 && strings.Contains(f[0], "=") && !strings.HasPrefix(f[0], "-") {
			env, f = append(env, f[0]), f[1:]
		}
		switch {
		case len(f) == 0:
			continue
		case f[0] == "wget":
			if got := testenv.HTTPGet(t, f[len(f)-1]); strings.TrimSpace(got) == "" {
				t.Fatalf("%s: %q", line, got)
			}
		case f[0] == "supervisor":
			cmd := exec.Command(d.binary, d.globalArgs(f[1:]...)...)
			cmd.Env, cmd.Dir = append(testEnv(), env...), dir
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("%s: %v: %s", line, err, out)
			}
			outputs = append(outputs, string(out))
		default:
			t.Fatalf("README line %q: not a command this test runs", line)
		}
		ran++
	}
	if ran != 8 {
		t.Fatalf("ran %d README lines, want 8", ran)
	}
	if !regexpLine(outputs[0], "web", "create") || !regexpLine(outputs[2], "app", "unchanged") ||
		!regexpLine(outputs[3], "app", "replace") || !regexpLine(outputs[3], "store", "unchanged") {
		t.Errorf("the plans:\n%s", strings.Join(outputs, "\n"))
	}
	if got := outputs[len(outputs)-1]; got != "shop-app-1 running\nshop-store-1 running (healthy)\nshop-web-1 running\n" {
		t.Errorf("ps --format: %q", got)
	}
}

// shellFields splits a command line as sh would, for the quotes the
// README uses: words, 'single' and "double" quoted parts.
func shellFields(line string) ([]string, error) {
	var out []string
	var cur strings.Builder
	in, quote := false, rune(0)
	for _, r := range line {
		switch {
		case quote != 0 && r == quote:
			quote = 0
		case quote != 0:
			cur.WriteRune(r)
		case r == '\'' || r == '"':
			quote, in = r, true
		case r == ' ' || r == '\t':
			if in {
				out, in = append(out, cur.String()), false
				cur.Reset()
			}
		default:
			cur.WriteRune(r)
			in = true
		}
	}
	if quote != 0 {
		return nil, fmt.Errorf("unterminated quote")
	}
	if in {
		out = append(out, cur.String())
	}
	return out, nil
}
