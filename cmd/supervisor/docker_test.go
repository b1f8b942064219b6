package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/vigilhq/vigil/internal/testenv"
	"github.com/vigilhq/vigil/internal/testimage"
)

// The docker CLIs the Docker API is tested with: Debian's docker.io
// (20.10, API 1.41), which scripts/deps.sh installs, and a current one
// (API 1.50), where installed.
var dockerCLIs = []string{debianDocker, "/usr/local/bin/docker"}

// debianDocker is the CLI of Debian's docker.io.
const debianDocker = "/usr/bin/docker"

// newestDockerCLI is the current CLI where installed, Debian's otherwise.
func newestDockerCLI() string {
	if _, err := os.Stat(dockerCLIs[len(dockerCLIs)-1]); err == nil {
		return dockerCLIs[len(dockerCLIs)-1]
	}
	return debianDocker
}

// dockerCLI is a docker client pointed at a daemon's --docker-socket.
type dockerCLI struct {
	bin, socket, config string
}

func newDockerCLI(t *testing.T, bin, socket string) dockerCLI {
	t.Helper()
	if bin == debianDocker {
		testenv.Program(t, bin, "install Debian's docker.io (scripts/deps.sh does)")
	} else if _, err := os.Stat(bin); err != nil {
		t.Skipf("the current docker CLI %s is not installed (%v); Debian's is tested", bin, err)
	}
	return dockerCLI{bin: bin, socket: socket, config: t.TempDir()}
}

func (c dockerCLI) env() []string {
	return append(testEnv(), "DOCKER_HOST=unix://"+c.socket, "DOCKER_CONFIG="+c.config, "DOCKER_CLI_HINTS=false")
}

// run runs the docker CLI with args and returns its output and exit
// status; it fails the test if the CLI takes more than a minute.
func (c dockerCLI) run(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	return c.runIn(t, "", args...)
}

// runIn is run with stdin as the CLI's input.
func (c dockerCLI) runIn(t *testing.T, stdin string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, c.bin, args...)
	cmd.Env = c.env()
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	var exitErr *exec.ExitError
	if err != nil && !errors.As(err, &exitErr) {
		t.Fatalf("docker %q: %v", args, err)
	}
	if ctx.Err() != nil {
		t.Fatalf("docker %q did not finish within a minute; stdout %q, stderr %q", args, out.String(), errb.String())
	}
	code = cmd.ProcessState.ExitCode()
	t.Logf("docker %s: exit %d", strings.Join(args, " "), code)
	return out.String(), errb.String(), code
}

// must runs the docker CLI and fails the test unless it exits 0.
func (c dockerCLI) must(t *testing.T, args ...string) string {
	t.Helper()
	out, errOut, code := c.run(t, args...)
	if code != 0 {
		t.Fatalf("docker %s: exit %d, stdout %q, stderr %q", strings.Join(args, " "), code, out, errOut)
	}
	return out
}

// startDockerDaemon starts a daemon that serves the Docker API on a socket
// of its own too, on the default bridge network.
func startDockerDaemon(t *testing.T, state, ns, dockerSocket string) *daemon {
	t.Helper()
	return startDaemonArgs(t, state, ns, "--docker-socket", dockerSocket, "--default-network", "bridge")
}

// testWebImage is the image the Docker API tests run: busybox with awk,
// grep, nc and httpd (what testcontainers' port check runs), and a page
// for httpd.
func testWebImage(t *testing.T) v1.Image {
	return testimage.Image(t, testimage.Options{
		Applets: []string{"awk", "grep", "nc", "httpd", "wget", "tty", "kill", "ps"},
		Files:   map[string]string{"www/index.html": "hello from vigil\n"},
		Config:  v1.Config{Cmd: []string{"sh", "-c", "echo ready; exec httpd -f -p 8080 -h /www"}, ExposedPorts: map[string]struct{}{"8080/tcp": {}}},
	})
}

// TestDockerCLI drives the daemon's Docker API with the docker CLI: pull
// from a registry, load an archive, run --rm, run -d -p, ps, logs -f,
// exec (with a terminal, under script), inspect, stop, wait, events
// --since, rm -f; a container made through either API shows in both.
func TestDockerCLI(t *testing.T) {
	testenv.Rootfs(t)
	img := testWebImage(t)
	reg := testimage.NewRegistry(t, "", "")
	ref := reg.Push(t, "t/web:1", img)
	archive := filepath.Join(t.TempDir(), "app.tar")
	testimage.DockerArchive(t, archive, "example.com/t/app:1", img)

	for _, bin := range dockerCLIs {
		t.Run(filepath.Base(filepath.Dir(filepath.Dir(bin)))+"-"+filepath.Base(bin), func(t *testing.T) {
			state, ns := t.TempDir(), testenv.Namespace(t)
			testenv.Networks(t, state, ns)
			sock := shortSocket(t)
			d := startDockerDaemon(t, state, ns, sock)
			dc := newDockerCLI(t, bin, sock)
			t.Cleanup(func() { d.CLI(t, "image", "prune") })
			testDockerCLI(t, d, dc, ref, archive)
		})
	}
}

func testDockerCLI(t *testing.T, d *daemon, dc dockerCLI, ref, archive string) {
	start := time.Now()
	if got := dc.must(t, "version", "--format", "{{.Server.APIVersion}}"); got != "1.57\n" {
		t.Errorf("docker version: server API %q, want 1.57", got)
	}
	fi, err := os.Stat(dc.socket)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("the Docker API's socket: %v, mode %v; want 0600", err, fi.Mode().Perm())
	}

	// pull, with its progress; load.
	if out := dc.must(t, "pull", ref); !strings.Contains(out, "Downloaded newer image for "+ref) {
		t.Errorf("docker pull: %q", out)
	}
	if out := dc.must(t, "load", "-i", archive); !strings.Contains(out, "Loaded image: example.com/t/app:1") {
		t.Errorf("docker load: %q", out)
	}
	if out := dc.must(t, "images", "--format", "{{.Repository}}:{{.Tag}}"); !strings.Contains(out, ref+"\n") || !strings.Contains(out, "example.com/t/app:1\n") {
		t.Errorf("docker images: %q", out)
	}

	if out := dc.must(t, "image", "inspect", "--format", "{{.Os}}/{{.Architecture}} {{index .RepoTags 0}} {{index .Config.Cmd 0}}", ref); out != "linux/"+runtime.GOARCH+" "+ref+" sh\n" {
		t.Errorf("docker image inspect: %q", out)
	}

	// run --rm in the foreground: the output, the exit code, and the
	// container gone.
	out, errOut, code := dc.run(t, "run", "--rm", "--name", "once", ref, "sh", "-c", "echo hello; echo oops >&2; exit 3")
	if code != 3 || out != "hello\n" || errOut != "oops\n" {
		t.Errorf("docker run --rm: exit %d, stdout %q, stderr %q; want 3, hello, oops", code, out, errOut)
	}
	if _, errOut, code := dc.run(t, "inspect", "once"); code == 0 || !strings.Contains(errOut, "No such") {
		t.Errorf("inspect after run --rm: exit %d, %q; want no such container", code, errOut)
	}
	// run -i: the client's input is the container's stdin, closed at its end.
	out, errOut, code = dc.runIn(t, "line one\nline two\n", "run", "-i", "--rm", ref, "sh", "-c", "cat; echo eof")
	if code != 0 || out != "line one\nline two\neof\n" {
		t.Errorf("docker run -i --rm with input: exit %d, stdout %q, stderr %q", code, out, errOut)
	}

	// run -d -p on loopback; ps shows it and its port; the page answers.
	port := testenv.FreeTCPPort(t)
	id := strings.TrimSpace(dc.must(t, "run", "-d", "--name", "web", "-p", fmt.Sprintf("127.0.0.1:%d:8080", port), "--label", "app=web", ref))
	if id != "web" {
		t.Errorf("run -d printed %q, want the container's ID, web", id)
	}
	t.Cleanup(func() { dc.run(t, "rm", "-f", "web") })
	if got := testenv.HTTPGet(t, fmt.Sprintf("http://127.0.0.1:%d/", port)); got != "hello from vigil\n" {
		t.Errorf("GET the published port: %q", got)
	}
	out = dc.must(t, "ps", "--format", "{{.Names}} {{.Status}} {{.Ports}}")
	if !strings.Contains(out, "web Up") || !strings.Contains(out, fmt.Sprintf("127.0.0.1:%d->8080/tcp", port)) {
		t.Errorf("docker ps: %q", out)
	}
	if out := dc.must(t, "ps", "--filter", "label=app=web", "-q"); strings.TrimSpace(out) != "web" {
		t.Errorf("docker ps --filter label=app=web: %q", out)
	}
	if out := dc.must(t, "ps", "--filter", "label=app=other", "-q"); out != "" {
		t.Errorf("docker ps --filter label=app=other: %q", out)
	}
	if out := dc.must(t, "inspect", "--format", "{{.State.Status}} {{.State.Running}} {{.Config.Image}} {{.Name}}", "web"); out != "running true "+ref+" /web\n" {
		t.Errorf("docker inspect: %q", out)
	}
	// The same container through vigil's own API.
	if st := inspect(t, d, "web"); st.Status.String() != "running" || st.Config.Labels["app"] != "web" {
		t.Errorf("vigil inspect of web: %s, labels %v", st.Status, st.Config.Labels)
	}

	// exec: the exit code; with a terminal under script.
	if _, _, code := dc.run(t, "exec", "web", "sh", "-c", "exit 7"); code != 7 {
		t.Errorf("docker exec ... exit 7: exit %d", code)
	}
	if out := dc.must(t, "exec", "web", "cat", "/www/index.html"); out != "hello from vigil\n" {
		t.Errorf("docker exec cat: %q", out)
	}
	if _, err := exec.LookPath("script"); err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		cmd := exec.CommandContext(ctx, "script", "-qec", dc.bin+" exec -it web sh -c 'tty; echo in-exec; exit 5'", "/dev/null")
		cmd.Env = dc.env()
		cmd.Stdin = strings.NewReader("")
		b, _ := cmd.CombinedOutput()
		cancel()
		if !strings.Contains(string(b), "/dev/pts/") || !strings.Contains(string(b), "in-exec") || cmd.ProcessState.ExitCode() != 5 {
			t.Errorf("docker exec -it under script: exit %d, %q; want a /dev/pts terminal, in-exec, 5", cmd.ProcessState.ExitCode(), b)
		}
	} else {
		t.Errorf("script (bsdutils) is not installed: docker exec -it needs a terminal")
	}

	// logs -f follows to the end of a container's output.
	dc.must(t, "run", "-d", "--name", "lines", ref, "sh", "-c", "for i in 1 2 3; do echo line $i; sleep 0.3; done; exit 4")
	t.Cleanup(func() { dc.run(t, "rm", "-f", "lines") })
	if out := dc.must(t, "logs", "-f", "lines"); out != "line 1\nline 2\nline 3\n" {
		t.Errorf("docker logs -f: %q", out)
	}
	if out := dc.must(t, "wait", "lines"); out != "4\n" {
		t.Errorf("docker wait: %q, want 4", out)
	}
	if out := dc.must(t, "logs", "--tail", "1", "lines"); out != "line 3\n" {
		t.Errorf("docker logs --tail 1: %q", out)
	}
	out = dc.must(t, "logs", "-t", "lines")
	if first, _, _ := strings.Cut(out, " "); !strings.HasPrefix(first, time.Now().UTC().Format("2006-01-02T")) || !strings.Contains(out, " line 2\n") {
		t.Errorf("docker logs -t: %q", out)
	}
	if out := dc.must(t, "ps", "-a", "--filter", "status=exited", "--format", "{{.Names}} {{.Status}}"); !strings.Contains(out, "lines Exited (4)") {
		t.Errorf("docker ps -a --filter status=exited: %q", out)
	}

	// stop: the exit of SIGTERM's default action... httpd as pid 1 ignores
	// SIGTERM, so stop -t 1 ends with SIGKILL: 137.
	if out := dc.must(t, "stop", "-t", "1", "web"); out != "web\n" {
		t.Errorf("docker stop: %q", out)
	}
	if out := dc.must(t, "inspect", "--format", "{{.State.Status}} {{.State.ExitCode}}", "web"); out != "exited 137\n" {
		t.Errorf("docker inspect after stop: %q", out)
	}

	// A container made through vigil's API shows in docker's.
	if _, errOut, code := d.CLI(t, "run", "-d", "--name", "native", ref, "sleep", "1000"); code != 0 {
		t.Fatalf("supervisor run: %s", errOut)
	}
	if out := dc.must(t, "ps", "--format", "{{.Names}}"); !strings.Contains(out, "native\n") {
		t.Errorf("docker ps does not show the container made with vigil's API: %q", out)
	}
	if out := dc.must(t, "rm", "-f", "native"); out != "native\n" {
		t.Errorf("docker rm -f: %q", out)
	}
	if _, _, code := d.CLI(t, "inspect", "native"); code == 0 {
		t.Errorf("vigil still has the container docker rm -f removed")
	}

	// events --since: the history of what happened above.
	out = dc.must(t, "events", "--since", strconv.FormatInt(start.Unix(), 10), "--until", strconv.FormatInt(time.Now().Add(time.Second).Unix(), 10),
		"--filter", "container=lines", "--format", "{{json .}}")
	var got []string
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var m struct {
			Type, Action string
			Actor        struct {
				ID         string
				Attributes map[string]string
			}
		}
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("docker events: line %q: %v", line, err)
		}
		if m.Type != "container" || m.Actor.ID != "lines" {
			t.Errorf("docker events --filter container=lines: %q", line)
		}
		got = append(got, m.Action+" "+m.Actor.Attributes["exitCode"])
	}
	if want := []string{"create ", "start ", "die 4"}; !slices.Equal(got, want) {
		t.Errorf("docker events --since --filter container=lines: %q, want %q", got, want)
	}
}

// TestDockerCLIKill9: the daemon is killed with SIGKILL in the middle of a
// docker CLI session (a wait and a logs -f under way); a container exits
// while no daemon runs. After a new daemon starts on the same sockets, the
// CLI sees the same containers and their exit codes, the one that exited
// meanwhile included.
func TestDockerCLIKill9(t *testing.T) {
	testenv.Rootfs(t)
	bin := dockerCLIs[0]
	reg := testimage.NewRegistry(t, "", "")
	ref := reg.Push(t, "t/web:1", testWebImage(t))
	state, ns := t.TempDir(), testenv.Namespace(t)
	testenv.Networks(t, state, ns)
	sock := shortSocket(t)
	d1 := startDockerDaemon(t, state, ns, sock)
	dc := newDockerCLI(t, bin, sock)
	t.Cleanup(func() { dc.run(t, "rm", "-f", "sleeper", "quick", "late") })

	dc.must(t, "pull", ref)
	dc.must(t, "run", "-d", "--name", "sleeper", ref, "sh", "-c", "echo started; exec sleep 1000")
	dc.must(t, "run", "-d", "--name", "quick", ref, "sh", "-c", "exit 5")
	if out := dc.must(t, "wait", "quick"); out != "5\n" {
		t.Fatalf("docker wait quick: %q", out)
	}
	dc.must(t, "run", "-d", "--name", "late", ref, "sh", "-c", "sleep 3; exit 6")

	// A session under way: a wait and a followed log.
	var sessions []*exec.Cmd
	for _, args := range [][]string{{"wait", "late"}, {"logs", "-f", "sleeper"}} {
		cmd := exec.Command(dc.bin, args...)
		cmd.Env = dc.env()
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		sessions = append(sessions, cmd)
	}
	time.Sleep(500 * time.Millisecond)
	d1.Kill9()
	for _, cmd := range sessions {
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case err := <-done:
			if err == nil {
				t.Errorf("docker %v ended with success though the daemon was killed", cmd.Args[1:])
			}
		case <-time.After(30 * time.Second):
			cmd.Process.Kill()
			t.Errorf("docker %v did not notice the daemon's death within 30 s", cmd.Args[1:])
		}
	}
	time.Sleep(3 * time.Second) // late exits while no daemon runs

	d2 := startDockerDaemon(t, state, ns, sock)
	out := dc.must(t, "ps", "-a", "--format", "{{.Names}} {{.Status}}")
	for _, want := range []string{"sleeper Up", "quick Exited (5)", "late Exited (6)"} {
		if !strings.Contains(out, want) {
			t.Errorf("docker ps -a after kill -9 and a new daemon: %q, want %q", out, want)
		}
	}
	if out := dc.must(t, "inspect", "--format", "{{.State.ExitCode}}", "late", "quick"); out != "6\n5\n" {
		t.Errorf("docker inspect exit codes: %q, want 6 and 5", out)
	}
	if out := dc.must(t, "wait", "late"); out != "6\n" {
		t.Errorf("docker wait late after the restart: %q", out)
	}
	if out := dc.must(t, "logs", "sleeper"); out != "started\n" {
		t.Errorf("docker logs sleeper: %q", out)
	}
	if st := inspect(t, d2, "late"); st.Exit == nil || st.Exit.Code != 6 {
		t.Errorf("vigil inspect late: %+v", st.Exit)
	}
}

// TestDockerCLIMore: the rest of what the docker CLI does here: networks
// (create, ls, inspect, a container on one, rm), pause and unpause, top,
// stats --no-stream, restart, kill -s, run -it (attach with a terminal,
// under script), rmi.
func TestDockerCLIMore(t *testing.T) {
	testenv.Rootfs(t)
	bin := newestDockerCLI()
	reg := testimage.NewRegistry(t, "", "")
	ref := reg.Push(t, "t/web:1", testWebImage(t))
	state, ns := t.TempDir(), testenv.Namespace(t)
	testenv.Networks(t, state, ns)
	sock := shortSocket(t)
	d := startDockerDaemon(t, state, ns, sock)
	dc := newDockerCLI(t, bin, sock)
	t.Cleanup(func() { d.CLI(t, "image", "prune") })
	dc.must(t, "pull", ref)

	// Networks.
	if out := dc.must(t, "network", "create", "--subnet", "10.231.7.0/24", "backend"); strings.TrimSpace(out) != "backend" {
		t.Errorf("docker network create: %q", out)
	}
	t.Cleanup(func() { dc.run(t, "network", "rm", "backend") })
	if out := dc.must(t, "network", "ls", "--format", "{{.Name}} {{.Driver}}"); !strings.Contains(out, "backend bridge\n") || !strings.Contains(out, "bridge bridge\n") || !strings.Contains(out, "host host\n") {
		t.Errorf("docker network ls: %q", out)
	}
	dc.must(t, "run", "-d", "--name", "app", "--network", "backend", ref, "sleep", "1000")
	t.Cleanup(func() { dc.run(t, "rm", "-f", "app") })
	if out := dc.must(t, "network", "inspect", "--format", "{{range .IPAM.Config}}{{.Subnet}}{{end}} {{range $k, $v := .Containers}}{{$k}}={{$v.IPv4Address}}{{end}}", "backend"); !strings.HasPrefix(out, "10.231.7.0/24 app=10.231.7.") {
		t.Errorf("docker network inspect backend: %q", out)
	}
	if out := dc.must(t, "inspect", "--format", "{{range $k, $v := .NetworkSettings.Networks}}{{$k}} {{$v.IPAddress}}{{end}}", "app"); !strings.HasPrefix(out, "backend 10.231.7.") {
		t.Errorf("docker inspect app's networks: %q", out)
	}
	if _, errOut, code := dc.run(t, "network", "rm", "backend"); code == 0 {
		t.Errorf("docker network rm of a network in use: exit 0")
	} else if !strings.Contains(errOut, "app") && !strings.Contains(errOut, "in use") {
		t.Logf("docker network rm of a network in use: %s", errOut)
	}

	// exec -d: the process runs on after the CLI returned.
	dc.must(t, "exec", "-d", "app", "sh", "-c", "sleep 0.3; echo detached > /tmp/done")
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		out, _, code := dc.run(t, "exec", "app", "cat", "/tmp/done")
		if code == 0 && out == "detached\n" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("docker exec -d: its process did not write within 20 s: %q", out)
		}
	}

	// top, stats, pause, unpause.
	if out := dc.must(t, "top", "app"); !strings.Contains(out, "PID") || !strings.Contains(out, "sleep 1000") {
		t.Errorf("docker top: %q", out)
	}
	if out := dc.must(t, "stats", "--no-stream", "--format", "{{.Name}} {{.PIDs}}", "app"); out != "app 1\n" {
		t.Errorf("docker stats --no-stream: %q", out)
	}
	dc.must(t, "pause", "app")
	if out := dc.must(t, "inspect", "--format", "{{.State.Status}} {{.State.Paused}}", "app"); out != "paused true\n" {
		t.Errorf("inspect after pause: %q", out)
	}
	if _, _, code := dc.run(t, "exec", "app", "true"); code == 0 {
		t.Errorf("docker exec in a paused container: exit 0")
	}
	dc.must(t, "unpause", "app")
	if out := dc.must(t, "ps", "--filter", "status=running", "--format", "{{.Names}}"); out != "app\n" {
		t.Errorf("docker ps --filter status=running after unpause: %q", out)
	}

	// restart, kill -s.
	dc.must(t, "restart", "-t", "1", "app")
	if out := dc.must(t, "inspect", "--format", "{{.State.Status}}", "app"); out != "running\n" {
		t.Errorf("after restart: %q", out)
	}
	dc.must(t, "kill", "-s", "TERM", "app") // sleep as pid 1 ignores TERM
	dc.must(t, "kill", "app")
	if out := dc.must(t, "wait", "app"); out != "137\n" {
		t.Errorf("docker wait after kill: %q, want 137", out)
	}
	dc.must(t, "rm", "app")
	if out := dc.must(t, "network", "rm", "backend"); strings.TrimSpace(out) != "backend" {
		t.Errorf("docker network rm: %q", out)
	}

	// A health check from docker's flags.
	dc.must(t, "run", "-d", "--name", "hc", "--health-cmd", "test -d /www", "--health-interval", "1s", ref, "sleep", "1000")
	t.Cleanup(func() { dc.run(t, "rm", "-f", "hc") })
	deadline := time.Now().Add(30 * time.Second)
	for {
		out := dc.must(t, "inspect", "--format", "{{.State.Health.Status}}", "hc")
		if out == "healthy\n" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the health check did not say healthy within 30 s: %q", out)
		}
		time.Sleep(500 * time.Millisecond)
	}
	if out := dc.must(t, "ps", "--filter", "name=hc", "--format", "{{.Status}}"); !strings.HasSuffix(out, "(healthy)\n") {
		t.Errorf("docker ps of a healthy container: %q", out)
	}
	dc.must(t, "rm", "-f", "hc")

	// run -it: docker attaches with a terminal before the start.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	cmd := exec.CommandContext(ctx, "script", "-qec", dc.bin+" run -it --rm --name tty "+ref+" sh -c 'tty; echo in-run; exit 2'", "/dev/null")
	cmd.Env = dc.env()
	cmd.Stdin = strings.NewReader("")
	b, err := cmd.CombinedOutput()
	cancel()
	if err != nil && cmd.ProcessState == nil {
		t.Fatalf("script: %v", err)
	}
	if !strings.Contains(string(b), "/dev/pts/") || !strings.Contains(string(b), "in-run") || cmd.ProcessState.ExitCode() != 2 {
		t.Errorf("docker run -it under script: exit %d, %q; want a terminal, in-run, 2", cmd.ProcessState.ExitCode(), b)
	}
	if _, _, code := dc.run(t, "container", "inspect", "tty"); code == 0 {
		t.Errorf("run -it --rm left the container")
	}

	// rmi.
	out := dc.must(t, "rmi", ref)
	if !strings.Contains(out, "Untagged: "+ref) || !strings.Contains(out, "Deleted: sha256:") {
		t.Errorf("docker rmi: %q", out)
	}
	if out := dc.must(t, "images", "-q"); out != "" {
		t.Errorf("docker images after rmi: %q", out)
	}
}

// TestReadmeDocker runs the Docker API lines of README.md as they are
// written: the docker CLI on the daemon's --docker-socket (a socket of the
// test's own for /run/vigil/docker.sock), the README's archive made by the
// test, a free port for 8081.
func TestReadmeDocker(t *testing.T) {
	testenv.Rootfs(t)
	state, ns := t.TempDir(), testenv.Namespace(t)
	testenv.Networks(t, state, ns)
	sock := shortSocket(t)
	d := startDockerDaemon(t, state, ns, sock)
	t.Cleanup(func() { d.CLI(t, "image", "prune") })
	archive := filepath.Join(t.TempDir(), "app.tar")
	testimage.OCIArchive(t, archive, "vigil.local/demo/app:1", testimage.Image(t, testimage.Options{Applets: []string{"httpd"}}), nil)
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, block, ok := strings.Cut(string(readme), "drive vigil unchanged")
	if ok {
		_, block, ok = strings.Cut(block, "```sh\n")
		block, _, _ = strings.Cut(block, "```")
	}
	if !ok || block == "" {
		t.Fatal("README.md has no Docker API example")
	}
	var dc dockerCLI
	port := strconv.Itoa(testenv.FreeTCPPort(t))
	ran := 0
	for _, line := range strings.Split(block, "\n") {
		line, _, _ = strings.Cut(line, "#")
		line = strings.ReplaceAll(strings.ReplaceAll(line, "/tmp/app.tar", archive), "8081", port)
		f := strings.Fields(line)
		switch {
		case len(f) == 0:
			continue
		case f[0] == "export" && strings.HasPrefix(f[1], "DOCKER_HOST=unix:///run/vigil/docker.sock"):
			dc = newDockerCLI(t, dockerCLIs[0], sock)
		case f[0] == "docker":
			out := dc.must(t, f[1:]...)
			switch f[1] {
			case "run":
				if f[2] == "--rm" && out != "hello from docker\n" {
					t.Errorf("%s: %q", line, out)
				}
				if f[2] == "-d" && !strings.Contains(testenv.HTTPGet(t, "http://127.0.0.1:"+port+"/passwd"), "root:x:0:0") {
					t.Errorf("%s: the published port does not serve /etc", line)
				}
			case "exec":
				if !strings.Contains(out, "root:x:0:0") {
					t.Errorf("%s: %q", line, out)
				}
			}
		case f[0] == "supervisor":
			out, errOut, code := d.CLI(t, f[1:]...)
			if code != 0 || !strings.Contains(out, "webd") {
				t.Fatalf("%s: exit %d: %s%s", line, code, out, errOut)
			}
		default:
			t.Fatalf("README line %q: not a command this test runs", line)
		}
		ran++
	}
	if ran < 8 {
		t.Fatalf("ran %d README lines, want them all", ran)
	}
}
